/* SPDX-License-Identifier: MIT */
/* tunplug — struct tp_flow and the flow core, shared by the relay's parts
 * (tcp.c, splice.c, io.c) and the UDP flow services (udp/). Not for other
 * rooms: they see struct tp_flow only through relay.h and handler.h.
 *
 * Lifetime of a struct tp_flow: it is reference counted. References are
 *   - "alive": from the SYN (or first datagram) until the stack flow is gone
 *     (closed event or reject) and the handler's flow_close has run;
 *   - one per outstanding libuv request (upstream write, shutdown);
 *   - one for the upstream handle until its close callback;
 *   - a temporary one around every call out of the relay (handler callbacks
 *     and tp_tcp_flow_* calls that may fire `closed` synchronously).
 * The memory goes when the count reaches zero, so a `closed` event that
 * arrives while a uv_write is outstanding never frees what the write
 * callback will touch. */
#ifndef TUNPLUG_GW_FLOW_H
#define TUNPLUG_GW_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "registry/registry.h"
#include "relay/relay.h"
#include "tunplug/handler.h"
#include "tunplug/stack.h"
#include "sniff/sniff.h"

#define TP_PEEK_IOV 16

enum tp_flow_phase { PH_PENDING, PH_ACCEPTED, PH_OPEN, PH_GONE };
enum tp_flow_mode { MODE_NONE, MODE_IO, MODE_SPLICE };

struct tp_flow {
	/* ---- core (flow.c) ---- */
	struct tp_flow *prev, *next; /* rel->flows */
	struct tp_relay *rel;
	struct tp_tcp_flow *tcp; /* NULL once the stack flow is gone */
	struct tp_udp_flow *udp; /* UDP flows: NULL once the stack flow is gone */
	struct tp_hinst *hi;     /* the handler instance that took the flow */
	struct tp_flow_info info;
	void *hdata; /* the handler's slot */
	unsigned refs;
	uint8_t phase, mode;
	bool handler_closed;        /* handler->flow_close has run (or is queued) */
	bool udp_first;             /* UDP: the first datagram is being dispatched */
	int close_err;              /* for a queued flow_close; UDP: the refusal's */
	bool refused;               /* never accepted: counted as refused, not closed */
	struct tp_flow *defer_next; /* rel->deferred */
	const char *why;            /* our reason when we end the flow */
	uint64_t last_active;       /* loop ms */
	uint64_t bytes_up, bytes_down;
	/* open TCP flows only: rel's idle list, by last_active */
	struct tp_flow *idle_prev, *idle_next;
	bool idle_listed;
	uint64_t id;   /* unique in this relay, from 1 (relay.h: the flow views) */
	uint64_t born; /* loop ms at tp_flow_new */

	/* ---- MODE_IO (io.c) ---- */
	const struct tp_flow_io *io;
	void *io_ud;
	bool io_paused, io_delivering, io_eof, io_eof_delivered, io_want_writable, io_shut;

	/* ---- MODE_SPLICE (splice.c) ---- */
	uv_stream_t *up; /* heap handle, owned; NULL after its close cb */
	bool up_closing;
	bool writing; /* one uv_write outstanding */
	size_t wlen;
	uv_write_t wreq;
	uv_buf_t wbufs[TP_PEEK_IOV];
	uv_shutdown_t sreq;
	bool client_eof;           /* client FIN seen */
	bool shut_sent, shut_done; /* upstream write side shut down */
	bool reading;
	bool up_eof;   /* upstream sent EOF */
	bool down_fin; /* FIN queued toward the client */
	uint8_t *rest; /* upstream bytes the client's buffer refused */
	size_t rest_off, rest_len;

	/* ---- sniffing (sniff.c) ---- */
	struct tp_sniff_wait *sniff; /* while the first bytes are awaited; else NULL */
	/* a sniffed TCP flow, its handshake done, was offered to the handlers
	 * and none has decided yet: a refusal now is a RST */
	bool await_decision;
};

/* ---- sniff.c: flows whose name is sniffed before dispatch ---- */

#define TP_SNIFF_HOLD 4 /* UDP: datagrams held at most while sniffing */
/* UDP flows holding datagrams at once (about 9.5 KiB each); beyond, new
 * ones go by address (counted as skipped) */
#define TP_SNIFF_QUIC_LIVE_MAX 256

/* A flow waiting for its first bytes, on rel's list by deadline (the
 * deadline is the same for all, so the list is in arrival order). */
struct tp_sniff_wait {
	struct tp_sniff_wait *prev, *next;
	struct tp_flow *f;
	uint64_t deadline; /* loop ms */
	/* the deadline passed: the owner gives up (and frees nothing: the
	 * wait is unlinked and freed by tp_sniff_wait_end) */
	void (*expire)(struct tp_flow *f);
	/* UDP: the QUIC state and the datagrams held meanwhile */
	struct tp_quic_sniff *quic;
	unsigned n_held;
	struct {
		uint8_t *buf;
		size_t len;
	} held[TP_SNIFF_HOLD];
};

/* Put f on the wait list with rel's sniff timeout; expire is called when
 * it passes. 0 or -ENOMEM. */
int tp_sniff_wait_begin(struct tp_flow *f, void (*expire)(struct tp_flow *f));
/* Off the list; the wait (and held datagrams, QUIC state) freed. */
void tp_sniff_wait_end(struct tp_flow *f);
/* Count one sniff outcome (found: by the name source). */
void tp_sniff_count(struct tp_flow *f, enum tp_sniff_res r, int source);
/* Does f's first packet call for sniffing (--sniff and its port, or a
 * rule with sniff=1)? */
bool tp_sniff_wanted(const struct tp_flow *f);
/* TCP: start (accept the handshake now), new bytes or EOF, the end. */
void tp_sniff_tcp_start(struct tp_flow *f);
void tp_sniff_tcp_input(struct tp_flow *f);

/* ---- flow.c: the core ---- */

/* A new flow with the "alive" reference, linked into rel's list, phase as
 * given; src/dst are copied into info. NULL when out of memory (counted as
 * a refusal). */
struct tp_flow *tp_flow_new(struct tp_relay *rel, int proto, const struct tp_endpoint *src,
                            const struct tp_endpoint *dst, enum tp_flow_phase phase);
void tp_flow_ref(struct tp_flow *f);
void tp_flow_unref(struct tp_flow *f);
/* Activity: last_active = now; an open TCP flow moves to the tail of
 * rel's idle list (any other flow leaves it). */
void tp_flow_touch(struct tp_flow *f);
/* Off rel's idle list (if on it). */
void tp_flow_idle_unlink(struct tp_flow *f);
/* Call the handler's flow_close once (queued while inside a host->* call),
 * then drop the "alive" reference. */
void tp_flow_finish(struct tp_flow *f, int err);
/* Around every host service a handler calls: closes are queued meanwhile. */
void tp_flow_api_enter(struct tp_flow *f);
void tp_flow_api_leave(struct tp_flow *f);
/* Give f the name (len bytes, no NUL needed; at most 253) of its
 * destination and where it came from (enum tp_name_source, not NONE): a
 * lower-cased copy owned by f, freed with it, replacing any earlier name.
 * Returns 0, -EINVAL (empty, too long, TP_NAME_NONE) or -ENOMEM; f keeps
 * its old name on error. */
int tp_flow_set_name(struct tp_flow *f, const char *name, size_t len, int source);
/* A new flow whose destination is a fake-IP pool address gets the name
 * mapped to it (TP_NAME_FAKE_IP). Returns 0 (named, or not a pool
 * address), or -ENOENT for a pool address with no mapping (counted and
 * logged by names/): the caller refuses the flow, which must never reach
 * the fake address itself. */
int tp_flow_name_fake_ip(struct tp_flow *f);
/* "198.18.0.1:80 -> 198.19.0.1:80" for debug logs. */
const char *tp_flow_str(const struct tp_flow *f, char *buf, size_t len);
#define TP_FLOW_STRLEN (2 * 64 + 8)

/* ---- tcp.c ---- */
/* Refuse a pending flow (RST to the client) and finish it; a sniffed flow
 * awaiting its handler's decision is reset instead. */
void tp_tcp_reject(struct tp_flow *f, int err, enum tp_refuse why);
/* Offer f to the handlers (dispatch) and act on the answer. */
void tp_tcp_dispatch(struct tp_flow *f);

/* ---- splice.c ---- */
void tp_splice_pump_up(struct tp_flow *f);
void tp_splice_pump_down(struct tp_flow *f);
/* Close the upstream handle (with a RST if reset and it is TCP). */
void tp_splice_close_upstream(struct tp_flow *f, bool reset);
/* End the flow with a RST to the client (and the upstream). */
void tp_flow_abort(struct tp_flow *f, const char *why);
int tp_splice_start(struct tp_flow *f, uv_stream_t *stream);

/* ---- io.c ---- */
void tp_io_deliver(struct tp_flow *f);
void tp_io_start(struct tp_flow *f, const struct tp_flow_io *io, void *ud);
void tp_io_resume(struct tp_flow *f);
long tp_io_write(struct tp_flow *f, const void *buf, size_t len);
void tp_io_shutdown(struct tp_flow *f);

#endif
