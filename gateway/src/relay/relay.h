/* SPDX-License-Identifier: MIT */
/* tunplug — the relay: every flow's life on the host side of the handler
 * ABI. It owns struct tp_flow (reference counted, see flow.h), hands new
 * TCP flows to dispatch, and moves bytes between the stack and the handler:
 * the splice relay (an upstream stream of the handler's) or the handler's
 * own I/O. UDP flows use the same flow core (udp/). */
#ifndef TUNPLUG_GW_RELAY_H
#define TUNPLUG_GW_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dispatch/dispatch.h"
#include "sniff/sniff.h"
#include "names/names.h"
#include "stats/stats.h"
#include "tunplug/handler.h"
#include "tunplug/stack.h"

struct tp_flow;
struct tp_hinst;

struct tp_relay {
	uv_loop_t *loop;               /* borrowed */
	struct tp_flow_counters *st;   /* borrowed */
	const struct tp_dispatch *dsp; /* borrowed */
	struct tp_names *names;        /* borrowed; NULL = no names */
	struct tp_flow *flows;         /* every live flow (intrusive list) */
	struct tp_flow *deferred;      /* flows whose handler flow_close is queued */
	/* open TCP flows by last activity, least recent first (the idle sweep
	 * looks only at the head) */
	struct tp_flow *idle_head, *idle_tail;
	unsigned api_depth; /* > 0 while inside a host->* call */
	bool stopping;
	uv_idle_t defer_idle;  /* runs the queued flow_close calls */
	uv_timer_t idle_timer; /* the idle sweep */
	unsigned handles_live;
	uint64_t idle_ms; /* 0 = no idle timeout */
	/* upstream -> client: one read buffer for all flows (reads never
	 * overlap, see splice.c) and the per-flow bound of bytes held toward
	 * the client */
	uint8_t *dlbuf;
	size_t dlbuf_len;
	size_t flow_buffer;
	/* sniffing (relay/sniff.c); sniff NULL: off */
	const struct tp_sniff_cfg *sniff; /* borrowed */
	bool sniff_rules;                 /* some rule has sniff=1 */
	uv_timer_t sniff_timer;           /* the head of the wait list's deadline */
	struct tp_sniff_wait *sniff_head, *sniff_tail;
	unsigned sniff_quic_live; /* UDP flows holding datagrams now */
	uint8_t *sniff_buf;       /* a TCP flow's first bytes, made contiguous */
	uint64_t last_id;         /* the id of the newest flow (ids start at 1) */
};

/* Set up r (the caller's); everything given is borrowed for r's life.
 * flow_buffer: bytes held for one flow toward its client (--flow-buffer);
 * idle_s: the TCP idle timeout (0 = none). Returns 0 or -errno (-ENOMEM). */
int tp_relay_init(struct tp_relay *r, uv_loop_t *loop, struct tp_flow_counters *st,
                  const struct tp_dispatch *dsp, size_t flow_buffer, unsigned idle_s);

/* Sniff flows' names before dispatch (--sniff, rules with sniff=1): cfg
 * (borrowed for r's life) gives the ports and the deadline; rules: some
 * rule has sniff=1. After tp_relay_init. 0 or -ENOMEM. */
int tp_relay_sniff_init(struct tp_relay *r, const struct tp_sniff_cfg *cfg, bool rules);
/* After a reload: does some rule of the new set have sniff=1? */
void tp_relay_sniff_rules(struct tp_relay *r, bool rules);
/* Give new flows to a fake-IP pool address their names (names borrowed
 * for r's life; NULL = none). */
void tp_relay_set_names(struct tp_relay *r, struct tp_names *names);

/* Start the idle sweep (if any). Returns 0 or a libuv error. */
int tp_relay_start(struct tp_relay *r);

/* The stack's tcp_syn callback (ctx = the relay). */
void tp_relay_tcp_syn(void *ctx, struct tp_tcp_flow *tf);

/* Shutdown, step 1: refuse every pending flow (the stack does not report
 * them as closed). Then the caller shuts the stack down (`closed` for every
 * other flow), then step 2. */
void tp_relay_refuse_pending(struct tp_relay *r);
/* Shutdown, step 2: finish what the stack did not report, run queued
 * handler flow_close calls, close the loop handles (asynchronously). */
void tp_relay_stop(struct tp_relay *r);

/* Run queued handler flow_close calls (never from a host->* call). */
void tp_relay_run_deferred(struct tp_relay *r);

/* Number of flows still allocated. */
size_t tp_relay_flow_count(const struct tp_relay *r);

/* ---- read-only views of the live flows (for ctl/) ----
 * A cursor walks rel->flows; between calls it holds a reference on the next
 * flow, so it may be kept across loop iterations while flows come and go
 * (flows that arrive meanwhile are not seen: new flows join at the head).
 * Flows that have ended (their handler's flow_close ran) are skipped. */

/* A flow's state as the operator sees it. */
enum tp_flow_state {
	TP_FLOW_PENDING,     /* SYN held: the handler has not decided yet */
	TP_FLOW_ACCEPTED,    /* handler said yes; the client's handshake is not done */
	TP_FLOW_OPEN,        /* data may flow both ways */
	TP_FLOW_HALF_CLOSED, /* TCP: one side has sent its FIN */
	TP_FLOW_STATE__COUNT
};

/* "pending", "accepted", "open", "half-closed". */
const char *tp_flow_state_name(enum tp_flow_state s);

/* One flow, copied out (nothing in it points into the flow). */
struct tp_flow_view {
	uint64_t id;
	int proto; /* IPPROTO_TCP or IPPROTO_UDP */
	struct sockaddr_storage src, dst;
	char name[254];            /* info.name, "" when none */
	const struct tp_hinst *hi; /* the handler instance, NULL before one took it;
	                                borrowed from the registry */
	enum tp_flow_state state;
	uint64_t bytes_up, bytes_down;
	uint64_t age_ms, idle_ms; /* since tp_flow_new and since the last activity */
};

struct tp_relay_cursor {
	struct tp_relay *rel;
	struct tp_flow *at; /* the next flow to look at, referenced; NULL at the end */
};

/* Start c at the newest flow of r. The caller owns c and must end it with
 * tp_relay_cursor_end before r stops. */
void tp_relay_cursor_begin(struct tp_relay *r, struct tp_relay_cursor *c);
/* Copy the next live flow into *v and step on. false at the end. */
bool tp_relay_cursor_next(struct tp_relay_cursor *c, struct tp_flow_view *v);
/* Drop the cursor's reference (idempotent). */
void tp_relay_cursor_end(struct tp_relay_cursor *c);

/* Reset flow id (an operator's request): TCP gets a RST to the client and
 * the upstream closed, a pending TCP flow is refused with a RST, a UDP flow
 * is closed; counted in flows_ctl_closed. Returns 0 or -ENOENT (no live
 * flow with that id). */
int tp_relay_close_flow(struct tp_relay *r, uint64_t id);

/* Free what tp_relay_init allocated (after the loop has run down). */
void tp_relay_close(struct tp_relay *r);

/* Fill the flow services of a struct tp_host (flow_info, flow_decide,
 * flow_splice, the do-it-yourself I/O calls, flow_close, flow data). */
void tp_relay_host_services(struct tp_host *h);

#endif
