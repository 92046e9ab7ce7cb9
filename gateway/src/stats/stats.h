/* SPDX-License-Identifier: MIT */
/* tunplug — the gateway's counters and the summary printed at exit and on
 * SIGUSR1. A leaf: every room bumps its own part of struct tp_stats (given
 * to it at init) and this room only reads them. */
#ifndef TUNPLUG_GW_STATS_H
#define TUNPLUG_GW_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunplug/offload.h"
#include "tunplug/packet.h"
#include "tunplug/stack.h"

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
	TP_REFUSE_PROHIBITED, /* -EACCES, -EPERM: a policy said no */
	TP_REFUSE_OTHER,
	TP_REFUSE_UNMAPPED, /* a fake-IP pool address without a name (names/) */
	TP_REFUSE__COUNT
};

/* The tun read loop's bound: reads per readable event (loop/tunio.c). */
#define TP_TUN_READ_BOUND 256

/* The tun side (loop/tunio.c). */
struct tp_tun_counters {
	uint64_t tun_reads;
	uint64_t tun_read_errors;
	/* the read loop: readable events handled, and those that ended at
	 * its bound (TP_TUN_READ_BOUND reads) rather than at EAGAIN, i.e.
	 * with packets possibly still queued */
	uint64_t read_events;
	uint64_t read_bound_hits;
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
	/* TCP super-segments from the stack (lwIP patch 0012) written with a
	 * TSO header, the wire segments they stand for, and TSO writes the
	 * kernel refused (then split and TSO off for the run) */
	uint64_t tso_out, tso_out_segs;
	uint64_t tso_einval;
	uint64_t acks_thinned; /* pure ACKs superseded within one super-packet */
	/* TCP super-packets (TCPV4/TCPV6): fed to the stack as one segment
	 * each, or split, counted by tp_gso_whole's reason (enum tp_whole;
	 * [TP_WHOLE] and [TP_WHOLE_NOT_TCP] stay 0). gso_in counts both, and
	 * gso_in_segs the wire segments either stands for. */
	uint64_t gso_whole;
	uint64_t gso_split[TP_WHOLE__COUNT];
	/* packets dropped before the stack saw them (vnet header invalid, GSO
	 * split impossible, or the inner packet's reason); added to the
	 * stack's own drop counters in the summary */
	uint64_t drops[TP_DROP__COUNT];
};

/* The flow side (relay/, udp/, netcfg/). */
struct tp_flow_counters {
	uint64_t flows_seen;     /* SYNs and first datagrams dispatched */
	uint64_t flows_accepted; /* handler said yes (handshake completed) */
	uint64_t flows_refused[TP_REFUSE__COUNT];
	uint64_t flows_closed;     /* accepted flows that finished */
	uint64_t flows_closed_err; /* ... with an error (RST, timeout, abort) */
	uint64_t flows_idle;       /* closed by the idle timeout */
	uint64_t upstream_errors;  /* relay aborted by an upstream error */
	uint64_t bytes_up;         /* client -> upstream/handler */
	uint64_t bytes_down;       /* upstream/handler -> client */
	uint64_t protect_errors;
	uint64_t protect_calls;    /* outbound sockets that went through protect() */
	uint64_t mem_trims;        /* heap trims after drains (shell/memtrim.h) */
	uint64_t flows_ctl_closed; /* reset by an operator (tunplug ctl close) */
	/* sniffing (relay/sniff.c): flows whose name was found, by where;
	 * flows sniffed without a name (another protocol, or none in it);
	 * the deadline passed first; malformed or beyond the parsers' bounds;
	 * not sniffed for want of room (QUIC holds, memory). A flow counts
	 * once. Sniffed TCP flows refused after their handshake: reset. */
	uint64_t sniff_tls, sniff_http, sniff_quic;
	uint64_t sniff_none, sniff_timeout, sniff_malformed, sniff_skipped;
	uint64_t sniff_reset;
};

/* Names (names/): fake-IP DNS. */
struct tp_names_counters {
	uint64_t answers;   /* pool addresses handed to the dns handler */
	uint64_t evictions; /* ... that evicted the least recently used mapping */
	uint64_t named;     /* flows to a pool address that got its name */
	uint64_t unmapped;  /* flows to a pool address without a mapping: refused */
};

struct tp_stats {
	struct tp_tun_counters tun;
	struct tp_flow_counters flows;
	struct tp_names_counters names;
};

/* A named handler counter (host->counter_add), as the summary shows it. */
struct tp_counter {
	char name[48];
	uint64_t value;
};

/* What the summary shows besides the counters; everything borrowed. */
struct tp_summary {
	const char *label;                 /* "worker K: " or "" */
	double uptime_s;                   /* since start-up */
	const char *tun_name;              /* "tp0" */
	const char *handler;               /* the default handler's spec, redacted */
	const char *offload_desc;          /* "csum tso4 tso6 uso" or "off (why)" */
	unsigned gro_kinds;                /* TP_GRO_* still on */
	const struct tp_counter *counters; /* handler counters */
	size_t n_counters;
	/* the tun device's own view, read from the kernel when the summary
	 * is printed (netcfg): its transmit queue length and the packets it
	 * dropped because that queue was full (we did not read fast enough);
	 * has_link false: not known (shown as "-") */
	bool has_link;
	unsigned txqueuelen;
	uint64_t tx_dropped;
	bool fake_ip; /* print the names counters */
};

/* The refusal kind of a handler's or upstream's -errno. */
enum tp_refuse tp_refuse_reason(int err);

/* A refusal reason's short name ("connrefused"), a refused SYN's answer
 * ("rst"); "?" out of range. Static strings. */
const char *tp_refuse_name(enum tp_refuse r);
const char *tp_syn_answer_name(int answer);

/* The summary to stderr. ss may be NULL (the stack never started). */
void tp_stats_print_summary(const struct tp_stats *st, const struct tp_stack_stats *ss,
                            const struct tp_summary *sum);

#endif
