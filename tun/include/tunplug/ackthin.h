/* SPDX-License-Identifier: MIT */
/* tunplug — ACK thinning (pure packet code, no I/O).
 *
 * While the segments of one GSO super-packet go into the stack, it answers
 * each with a pure ACK. Holding those and sending only the newest one per
 * flow gives the client's kernel one cumulative ACK per super-packet, as its
 * own GRO receive path would produce. A pure ACK of the same flow that
 * acknowledges more than the held one replaces it; anything else (another
 * flow, a duplicate ACK, a packet with data or flags) first releases the
 * held ACK, so the order of every flow's packets is kept. */
#ifndef TUNPLUG_ACKTHIN_H
#define TUNPLUG_ACKTHIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TP_ACK_HOLD_MAX 128 /* longest pure ACK held (IPv6 + TCP options) */

/* At most one held pure ACK. Zero-initialise; owned by the caller. */
struct tp_ack_hold {
	size_t len; /* 0 = none held */
	uint8_t pkt[TP_ACK_HOLD_MAX];
	uint64_t thinned; /* ACKs superseded (dropped) so far */
};

/* Sends a released packet on; its return value is passed through. */
typedef int (*tp_ack_emit_fn)(void *ctx, const void *pkt, size_t len);

/* Offset of the TCP header if pkt is a pure ACK (flags exactly ACK, no
 * payload; IPv4 without options, IPv6 without extension headers), else 0. */
size_t tp_pure_ack_tcp(const uint8_t *pkt, size_t len);

/* Offer one outgoing packet. Returns true if h took it (held, or it
 * superseded the held one); false if the caller must send it itself, in
 * which case the held ACK (if any) has already gone to emit. pkt is
 * borrowed for the call. */
bool tp_ack_thin(struct tp_ack_hold *h, const void *pkt, size_t len, tp_ack_emit_fn emit,
                 void *ctx);

/* Send the held ACK (if any) to emit and hold nothing. */
void tp_ack_release(struct tp_ack_hold *h, tp_ack_emit_fn emit, void *ctx);

#endif
