/* SPDX-License-Identifier: MIT */
/* tunplug — the gateway object: loop, tun, netlink, stack, handler, host.
 * Private to gateway/ (and its tests). */
#ifndef TUNPLUG_GW_GATEWAY_H
#define TUNPLUG_GW_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "options.h"
#include "tunplug/handler.h"
#include "rules.h"

#define TP_MAX_HINST 32
#define TP_MAX_RULES 64
#define TP_MAX_HCOUNTERS 64

/* One configured handler instance. */
struct tp_embed;
struct tp_gw;

struct tp_hinst {
	const struct tp_handler *h;
	void *state;
	struct tp_handler_args args;
	char name[32];
	bool up; /* init succeeded; fini due */
	/* its host services (tp_host_inst_init): host.host_data = this */
	struct tp_host host;
	struct tp_gw *gw;
};
#include "tunplug/netlink.h"
#include "tunplug/offload.h"
#include "tunplug/stack.h"
#include "tunplug/tun.h"

/* Why a flow was refused, for the summary. */
enum tp_refuse {
	TP_REFUSE_CONNREFUSED,
	TP_REFUSE_TIMEDOUT,
	TP_REFUSE_HOSTUNREACH,
	TP_REFUSE_NETUNREACH,
	TP_REFUSE_CONNRESET,
	TP_REFUSE_DECLINED,
	TP_REFUSE_SHUTDOWN,
	TP_REFUSE_NOMEM,
	TP_REFUSE_OTHER,
	TP_REFUSE__COUNT
};

struct tp_gw_stats {
	uint64_t flows_seen;     /* SYNs dispatched to the handler */
	uint64_t flows_accepted; /* handler said yes (handshake completed) */
	uint64_t flows_refused[TP_REFUSE__COUNT];
	uint64_t flows_closed;     /* accepted flows that finished */
	uint64_t flows_closed_err; /* ... with an error (RST, timeout, abort) */
	uint64_t flows_idle;       /* closed by the idle timeout */
	uint64_t upstream_errors;  /* relay aborted by an upstream error */
	uint64_t bytes_up;         /* client -> upstream/handler */
	uint64_t bytes_down;       /* upstream/handler -> client */
	uint64_t tun_reads;
	uint64_t tun_read_errors;
	uint64_t tun_writes;     /* write/writev calls that succeeded */
	uint64_t out_drops_full; /* packets lost to tun write EAGAIN/ENOBUFS */
	uint64_t out_errors;     /* other tun write errors */
	/* offloads (vnet): super-packets read (gso_type != NONE) and the
	 * segments they were split into; coalesced writes (nsegs > 1) and the
	 * packets merged into them; coalesced writes the kernel refused with
	 * EINVAL (their packets were re-sent one by one) */
	uint64_t gso_in, gso_in_segs;
	uint64_t gro_out, gro_out_segs;
	uint64_t gro_einval;
	uint64_t acks_thinned; /* pure ACKs superseded within one super-packet */
	/* packets dropped before the stack saw them (vnet header invalid, GSO
	 * split impossible, or the inner packet's reason); added to the
	 * stack's own drop counters in the summary */
	uint64_t drops[TP_DROP__COUNT];
	uint64_t protect_errors;
	uint64_t protect_calls; /* outbound sockets that went through protect() */
};

struct tp_flow;

struct tp_gw {
	uv_loop_t loop;
	const struct tp_options *opt;
	struct tp_tun tun;
	struct tp_nl *nl;
	unsigned mtu;

	uv_poll_t tun_poll;
	uv_check_t flush_check; /* writes the coalescing batch once per iteration */
	uv_timer_t stack_timer;
	uv_timer_t idle_timer;
	uv_signal_t sig_int, sig_term, sig_usr1;
	unsigned handles_live; /* uv handles above that are initialised */

	struct tp_host host;
	/* handler instances: [0] the default (--handler), then one per
	 * distinct spec in the rules; rules[i].inst indexes this */
	struct tp_hinst hinst[TP_MAX_HINST];
	size_t n_hinst;
	struct tp_rule rules[TP_MAX_RULES];
	size_t n_rules;
	char dns_target[256]; /* --dns-upstream list as a "dns://A,B" spec */
	struct tp_plugin {
		const struct tp_handler *h;
		void *dl;
	} plugins[16];
	size_t n_plugins;
	bool dropped, keep_admin; /* --user took effect; CAP_NET_ADMIN kept */
	struct tp_embed *embed;   /* NULL for the tunplug program */
	struct {
		char name[48];
		uint64_t value;
	} hcounters[TP_MAX_HCOUNTERS]; /* host->counter_add */
	size_t n_hcounters;
	bool stack_up;
	bool stopping;

	struct tp_flow *flows;    /* every live host flow (intrusive list) */
	struct tp_flow *deferred; /* flows whose handler flow_close is queued */
	unsigned api_depth;       /* > 0 while inside a host->* call */
	uv_idle_t defer_idle;     /* runs the queued flow_close calls */
	uint8_t *rxbuf;           /* one tun read: [vnet header] packet up to 64 KiB */
	uint8_t *segbuf;          /* segments of one split super-packet */
	struct tp_seg *segs;
	struct tp_gro *gro;    /* vnet: this iteration's output packets */
	unsigned gro_kinds;    /* TP_GRO_* still enabled */
	char offload_desc[96]; /* "csum tso4 tso6 uso" or "off (why)" */
	/* while the segments of one super-packet go into the stack, lwIP's
	 * pure ACKs for them are held here and only the newest one is sent */
	bool ack_hold;
	size_t ack_len; /* 0 = none held */
	uint8_t ack_pkt[128];
	uint8_t *dlbuf; /* shared upstream read buffer (see host.c) */
	size_t dlbuf_len;
	uint64_t start_ms;

	struct tp_gw_stats st;
};

/* host.c: fill gw->host, the template of every instance's host. */
void tp_host_init(struct tp_gw *gw);
/* host.c: give hi (an instance of gw) its own host, after tp_host_init. */
void tp_host_inst_init(struct tp_gw *gw, struct tp_hinst *hi);
/* host.c: the stack's tcp_syn callback (ctx = gw). */
void tp_host_tcp_syn(void *ctx, struct tp_tcp_flow *tf);
/* host.c: refuse pending flows, then abort every flow through
 * tp_stack_shutdown(); upstream handles are closed (asynchronously). */
void tp_host_shutdown_flows(struct tp_gw *gw);
/* host.c: the stack's udp_new callback (ctx = gw). */
int tp_host_udp_new(void *ctx, struct tp_udp_flow *uf);
/* host.c: abort open flows idle for longer than idle_ms (now in loop ms). */
void tp_host_sweep_idle(struct tp_gw *gw, uint64_t now, uint64_t idle_ms);
/* host.c: run queued handler flow_close calls (never from a host->* call). */
void tp_host_run_deferred(struct tp_gw *gw);
void tp_host_defer_cb(uv_idle_t *idle);
/* host.c: number of host flows still allocated. */
size_t tp_host_flow_count(const struct tp_gw *gw);

/* gateway.c: keep lwIP's clock in step with the loop; call before any
 * tp_stack_* / tp_tcp_flow_* call made from a libuv callback. */
void tp_gw_clock(struct tp_gw *gw);

/* gateway.c: run the gateway until a stop signal. Returns the exit status
 * (0 clean stop, 1 start-up failure). opt is borrowed for the whole run. */
int tp_gateway_run(const struct tp_options *opt);

/* Embedding (embed.c): what the library adds to a gateway run. */
struct tp_embed {
	int (*protect)(int fd, int family, void *ud);
	void *protect_ud;
	uv_async_t stop_async; /* initialised by the gateway's loop */
	/* thread handoff, written under mu (embed.c owns it) */
	void (*snapshot)(struct tp_embed *e, const struct tp_gw *gw);
	void (*loop_ready)(struct tp_embed *e); /* stop_async may be sent now */
	void (*loop_done)(struct tp_embed *e);  /* ... and no longer */
};
/* Run the gateway for an embedding program: no signal handlers, stop via
 * e->stop_async, counters via e->snapshot. Returns 0 or -errno. */
int tp_gateway_run_embedded(const struct tp_options *opt, struct tp_embed *e);

#endif
