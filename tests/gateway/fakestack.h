/* SPDX-License-Identifier: MIT */
/* tunplug tests — a fake of the stack's flow API (tunplug/stack.h) for the
 * relay tests: no lwIP, no packets. It implements every tp_tcp_flow_*,
 * tp_udp_flow_* and tp_stack_set_now the relay calls, with the same
 * contract as stack/src/stack.c, and lets the test play the client and the
 * stack's event source:
 *
 *   - a TCP flow's client -> owner queue is a list of chunks the test fills
 *     (fake_tcp_client_send): peek hands out pointers into them, consume
 *     poisons and frees them, so a relay that reads what it consumed sends
 *     garbage (and ASan sees a use after free);
 *   - owner -> client bytes go to a sink (every byte kept, in order) with a
 *     send space the test sets, an unacked count that grows with every send
 *     and that only fake_tcp_ack lowers (with its high-water mark), and a
 *     one-shot short send (lwIP taking less than the space it reported);
 *   - accept, reject, shutdown and close are recorded; `closed` fires
 *     synchronously inside tp_tcp_flow_close (err 0, or -ECONNABORTED for
 *     an abort, a PENDING flow or unread client bytes) as in stack.c, and
 *     never for a rejected flow;
 *   - the test fires established, readable, eof, writable and closed
 *     (client RST, timeout) the way the stack does.
 * A flow the stack would have freed (closed fired, or rejected) is kept for
 * the test to inspect, marked gone; any flow call on it counts as misuse
 * (fake_misuse()), as does one made from inside its `closed` event.
 * Flows are the fake's (fake_free_all frees them). One thread. */
#ifndef TP_TEST_FAKESTACK_H
#define TP_TEST_FAKESTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunplug/stack.h"

struct fake_chunk;

struct tp_tcp_flow {
	struct tp_tcp_flow *all_next; /* every fake flow, for fake_free_all */
	struct tp_endpoint src, dst;
	enum tp_tcp_state state;
	const struct tp_tcp_events *ev;
	void *ud;
	bool gone; /* closed fired or rejected: the stack would have freed it */

	/* client -> owner */
	struct fake_chunk *rx_head, *rx_tail;
	size_t rx_bytes;  /* queued */
	size_t client_in; /* every byte the client sent */
	size_t consumed;  /* every byte the owner consumed */
	bool client_fin;

	/* owner -> client */
	size_t space;      /* send space now (the test sets it; sends use it up) */
	size_t short_send; /* > 0: the next send takes at most this many bytes */
	size_t unacked, max_unacked;
	uint8_t *sent; /* every byte the owner sent, in order */
	size_t sent_len, sent_cap;
	bool shut_wr; /* FIN queued toward the client */

	/* what the owner did */
	unsigned accepts, rejects, shutdowns, closes;
	int reject_err;
	bool close_abort;  /* the close became an abort (RST) */
	bool closed_fired; /* `closed` was delivered */
	int closed_err;
};

struct tp_udp_flow {
	struct tp_udp_flow *all_next;
	struct tp_endpoint src, dst;
	const struct tp_udp_events *ev;
	void *ud;
	bool gone;
	unsigned sends;    /* datagrams to the client (send and send_from) */
	size_t sent_bytes; /* their payload */
	uint8_t last[2048];
	size_t last_len;
	bool last_from_set; /* the last one came through send_from */
	struct tp_endpoint last_from;
	unsigned unreachables;
	int unreach_err;
	unsigned closes;
	bool closed_fired;
	int closed_err;
};

/* A new PENDING TCP flow src:sport -> dst:dport (IPv4 or IPv6 text) with
 * send space `space`; owned by the fake. The test then hands it to the
 * relay as the stack would (tp_relay_tcp_syn). NULL on a bad address. */
struct tp_tcp_flow *fake_tcp_new(const char *src, uint16_t sport, const char *dst, uint16_t dport,
                                 size_t space);
/* The handshake completed (after accept): state OPEN, `established`. */
void fake_tcp_established(struct tp_tcp_flow *tf);
/* The client sent len bytes (copied, queued in chunks of at most seg
 * bytes; seg 0 = one chunk): `readable`. */
void fake_tcp_client_send(struct tp_tcp_flow *tf, const void *buf, size_t len, size_t seg);
/* The client sent FIN: `eof`. */
void fake_tcp_client_fin(struct tp_tcp_flow *tf);
/* The client acknowledged n bytes (at most what is unacked): the send space
 * grows by n; `writable` when there is space and no FIN was queued (as
 * lwIP's sent callback). */
void fake_tcp_ack(struct tp_tcp_flow *tf, size_t n);
/* Set the send space; fire `writable` if it is > 0 and writable is true. */
void fake_tcp_set_space(struct tp_tcp_flow *tf, size_t space, bool writable);
/* The flow went away under the owner (client RST, timeout): `closed` with
 * err (-ECONNRESET, -ETIMEDOUT, ...), then gone. */
void fake_tcp_reset(struct tp_tcp_flow *tf, int err);

/* A new UDP flow; the test hands it to the relay (tp_udpflow_new) and then
 * delivers its first datagram (fake_udp_datagram), as the stack does. */
struct tp_udp_flow *fake_udp_new(const char *src, uint16_t sport, const char *dst, uint16_t dport);
/* One datagram from the client (buf borrowed for the call): `datagram`. */
void fake_udp_datagram(struct tp_udp_flow *uf, const void *buf, size_t len);
/* The stack ends the flow (idle timeout, eviction, shutdown): `closed`. */
void fake_udp_expire(struct tp_udp_flow *uf, int err);

/* Flow calls on a gone flow (or from inside its `closed`) so far; each is
 * also printed to stderr. */
unsigned fake_misuse(void);
/* The last tp_stack_set_now value, and how many calls. */
uint32_t fake_now(void);
unsigned fake_now_calls(void);
/* Free every flow and reset the counters (between cases). */
void fake_free_all(void);

#endif
