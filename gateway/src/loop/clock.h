/* SPDX-License-Identifier: MIT */
/* tunplug — lwIP's clock follows the loop's. */
#ifndef TUNPLUG_GW_CLOCK_H
#define TUNPLUG_GW_CLOCK_H

#include <stdint.h>
#include <uv.h>

#include "tunplug/stack.h"

/* Keep lwIP's clock in step with the loop; call before any tp_stack_* /
 * tp_tcp_flow_* / tp_udp_flow_* call made from a libuv callback. */
static inline void tp_clock_sync(uv_loop_t *loop)
{
	tp_stack_set_now((uint32_t)uv_now(loop));
}

#endif
