/* SPDX-License-Identifier: MIT */
/* Stack tests: the client's side of TCP on the wire. Builds the segments a
 * client sends (IPv4 or IPv6, valid checksums) and keeps what the stack
 * emits, so a test can drive flows through tp_stack_input() and read the
 * answers. Used by test_flows.c and trace.c. */
#ifndef TP_TEST_WIRE_H
#define TP_TEST_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunplug/packet.h"

#define TW_FIN 0x01
#define TW_SYN 0x02
#define TW_RST 0x04
#define TW_PSH 0x08
#define TW_ACK 0x10

/* One client connection: its tuple and where its byte stream stands. */
struct tw_peer {
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq;    /* next sequence number the client sends */
	uint32_t ack;    /* what the client acknowledges */
	uint16_t wnd;    /* window it advertises (unscaled: no wscale option) */
	bool timestamps; /* its SYN offers timestamps; every segment carries one */
	uint32_t ts_val; /* the client's timestamp clock */
	uint32_t ts_ecr; /* last timestamp seen from the stack */
};

/* src/dst are address strings of family; isn is the client's first seq. */
void tw_peer_init(struct tw_peer *p, int family, const char *src, const char *dst, uint16_t sport,
                  uint16_t dport, uint32_t isn);

/* Build one segment of p into b (room for 2048 bytes): flags, p->seq,
 * p->ack, p->wnd, dlen payload bytes. A SYN carries MSS 1460 (and the
 * timestamp option when p->timestamps). Returns the packet length. */
size_t tw_build(uint8_t *b, const struct tw_peer *p, uint8_t flags, const void *data, size_t dlen);

/* Where tw_send feeds packets: tp_stack_input, or lwIP directly (set by
 * the test before the first tw_send). */
extern enum tp_drop (*tw_inject)(const void *buf, size_t len);
/* Build, feed to tw_inject and advance p->seq by what the segment
 * occupies. Returns the verdict of tw_inject. */
enum tp_drop tw_send(struct tw_peer *p, uint8_t flags, const void *data, size_t dlen);

/* ---- what the stack emitted (the output callback is tw_capture) ---- */
#define TW_MAXOUT 4096
struct tw_out {
	uint8_t buf[2048];
	size_t len;
};
extern struct tw_out tw_out[TW_MAXOUT];
extern int tw_nout;     /* packets kept (oldest first) since tw_clear() */
extern long tw_dropped; /* packets not kept: more than TW_MAXOUT, or too long */

int tw_capture(void *ctx, const void *buf, size_t len);
void tw_clear(void);
/* Parse kept packet i (TCP checksums verified); false if it is not a valid
 * packet. */
bool tw_parse(int i, struct tp_pkt *pk);
/* Index of the last kept TCP packet to peer p (from its dst, to its src),
 * with all of the flags in `want` set; -1 if none. */
int tw_last_to(const struct tw_peer *p, uint8_t want);
/* Payload bytes of kept TCP packet i. */
size_t tw_payload_len(int i);
/* The stack's TCP segment i as seen by the client p: take its
 * timestamp (for ts_ecr) and, when ack_it, acknowledge everything it
 * carries (p->ack = seq + payload + SYN/FIN). */
void tw_take(struct tw_peer *p, int i, bool ack_it);
/* The same for a segment in buf (not kept). */
void tw_take_pkt(struct tw_peer *p, const uint8_t *buf, size_t len, bool ack_it);
/* The timestamp option of a parsed TCP segment: value and echo (0, 0 if
 * it has none). */
void tw_ts_of(const uint8_t *buf, const struct tp_pkt *pk, uint32_t *val, uint32_t *ecr);

#endif
