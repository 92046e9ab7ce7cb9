/* SPDX-License-Identifier: MIT */
/* tunplug — UDP flow services: a stack UDP flow becomes a struct tp_flow
 * (the relay's flow core), its first datagram goes to dispatch, later ones
 * to the owning handler; the handler answers through udp_send/_from and
 * flow_unreachable. */
#ifndef TUNPLUG_GW_UDPFLOW_H
#define TUNPLUG_GW_UDPFLOW_H

#include "relay/relay.h"
#include "tunplug/handler.h"
#include "tunplug/stack.h"

/* The stack's udp_new callback (ctx = the relay). Returns 0 or -ENOMEM. */
int tp_udpflow_new(void *ctx, struct tp_udp_flow *uf);

/* Fill the UDP services of a struct tp_host (udp_send, udp_send_from,
 * flow_unreachable). */
void tp_udpflow_host_services(struct tp_host *h);

#endif
