/* SPDX-License-Identifier: MIT */
/* tunplug — what stack.c and udp.c share inside stack/ (not public). */
#ifndef TUNPLUG_STACK_PRIV_H
#define TUNPLUG_STACK_PRIV_H

#include "lwip/netif.h"
#include "tunplug/stack.h"

/* stack.c */
struct tp_stack_stats *tp__stats(void);
const struct tp_stack_cfg *tp__cfg(void);
struct netif *tp__netif(void);
/* Loopback, unspecified or one of the tun's own addresses (unless
 * allow_loopback). */
bool tp__dst_forbidden(const struct tp_endpoint *d);
/* One finished IP packet to the tun (counted like lwIP's output). */
void tp__emit_raw(const void *buf, size_t len);
uint32_t tp__now(void);
/* An endpoint's address as an lwIP address. */
void tp__ep_to_ip(const struct tp_endpoint *e, ip_addr_t *ip);

/* udp.c */
int tp__udp_init(void);
void tp__udp_shutdown(void);
/* A whole, validated UDP datagram from the tun (no lwIP). */
void tp__udp_input(const struct tp_pkt *pk, const uint8_t *buf);
/* Send the ICMP destination unreachable of kind why answering pkt[0..len)
 * (tp_icmp_unreach), within the ICMP rate limit (1000/s, bursts of 50, as
 * Linux's icmp_msgs_per_sec): returns false when the limit or a quote too
 * short kept it from going out (the limit counts icmp_unreach_limited). */
bool tp__send_unreach(const uint8_t *pkt, size_t len, enum tp_unreach why);
/* Idle expiry; returns ms until the next flow may expire (UINT32_MAX: none). */
uint32_t tp__udp_poll(void);
/* While true, datagrams delivered by lwIP come from its reassembly: their
 * UDP checksum has not been verified yet. */
extern bool tp__udp_from_frag;

#endif
