/* SPDX-License-Identifier: MIT */
/* tunplug — lwIP platform functions for NO_SYS=1 on Linux. Compiled into the
 * lwip library itself so it links without stack/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lwip/arch.h"
#include "lwip/sys.h"

/* lwIP's clock, in ms: whatever the owner set last (tp_stack_set_now), so
 * the gateway can use uv_now() and tests a fake clock. */
uint32_t tp_lwip_now_ms;

u32_t sys_now(void)
{
	return tp_lwip_now_ms;
}

void tp_lwip_assert_failed(const char *msg, const char *file, int line)
{
	fprintf(stderr, "tunplug: lwIP assertion failed: %s (%s:%d)\n", msg, file, line);
	fflush(stderr);
	abort();
}
