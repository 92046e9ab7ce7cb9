/* SPDX-License-Identifier: MIT */
/* tunplug — the userspace TCP/IP stack (lwIP, NO_SYS=1) behind the tun.
 *
 * stack/ knows nothing of libuv or file descriptors: packets go in with
 * tp_stack_input(), packets come out through tp_stack_cfg.output, time comes
 * from tp_stack_set_now(), and timers run from tp_stack_poll(). One stack per
 * process (lwIP has global state); everything runs on one thread.
 *
 * TCP flows: every SYN to any address/port becomes a tp_tcp_flow in state
 * PENDING and is reported through tp_stack_cfg.tcp_syn. The client's SYN is
 * held (retransmissions are absorbed) until the owner calls
 * tp_tcp_flow_accept() (the handshake then completes) or
 * tp_tcp_flow_reject(), whose err says what the client is told: a RST, an
 * ICMP destination unreachable, or nothing at all (tp_syn_answer_of).
 *
 * Half-open flows (PENDING, and ACCEPTING until the client's ACK) are
 * bounded apart from established ones: max_pending in all, and
 * max_pending_per_source per client address (/32, or /64 for IPv6). A SYN
 * beyond a bound is dropped silently (counted; the client retries), except
 * that a source holding fewer half-open flows than the heaviest one (by at
 * least two) evicts that source's oldest one instead: see syn_admit() in
 * stack.c. */
#ifndef TUNPLUG_STACK_H
#define TUNPLUG_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "tunplug/addr.h"
#include "tunplug/packet.h"

struct tp_tcp_flow;
struct tp_udp_flow;

/* Endpoint of a flow: family AF_INET/AF_INET6, address in network order,
 * port in host order. */
struct tp_endpoint {
	int family;
	uint8_t addr[16];
	uint16_t port;
};

/* Events of one TCP flow, delivered to its owner (set with
 * tp_tcp_flow_set_events). All are optional except on_closed. */
struct tp_tcp_events {
	/* Handshake completed (after tp_tcp_flow_accept and the client's ACK). */
	void (*established)(struct tp_tcp_flow *f, void *ud);
	/* New bytes from the client are queued: see tp_tcp_flow_peek(). */
	void (*readable)(struct tp_tcp_flow *f, void *ud);
	/* The client sent FIN; no more data after what is queued. */
	void (*eof)(struct tp_tcp_flow *f, void *ud);
	/* Send space became available (the client ACKed data). */
	void (*writable)(struct tp_tcp_flow *f, void *ud);
	/* The flow is gone (reset, aborted, closed both ways, timed out, or
	 * stack shutdown). `err` is 0 after a clean close, else -ECONNRESET,
	 * -ETIMEDOUT, -ECONNABORTED, -ENOMEM. The flow pointer is invalid after
	 * return; do not call any tp_tcp_flow_* from here. It fires exactly
	 * once per flow that was accepted; for PENDING flows only from
	 * tp_stack_shutdown (-ECONNABORTED) and when the client resets its
	 * held SYN (-ECONNRESET: it gave up waiting); for PENDING and
	 * ACCEPTING flows also when evicted to make room for another client's
	 * SYN (-ENOSPC; an ACCEPTING one gets a RST). It can fire synchronously from inside
	 * tp_tcp_flow_close() (always), tp_tcp_flow_accept() (when lwIP could
	 * not take the SYN), tp_stack_input(), tp_stack_poll() and
	 * tp_stack_shutdown(). */
	void (*closed)(struct tp_tcp_flow *f, void *ud, int err);
};

enum tp_tcp_state { TP_TCP_PENDING, TP_TCP_ACCEPTING, TP_TCP_OPEN };

/* How a refused SYN is answered, so that the client's connect() fails as it
 * would have without the gateway (Linux client errno in brackets). Stable
 * order: counters are indexed by it. */
enum tp_syn_answer {
	TP_SYN_RST,          /* RST|ACK: the port is closed (ECONNREFUSED) */
	TP_SYN_NET_UNREACH,  /* ICMP net unreachable (ENETUNREACH) */
	TP_SYN_HOST_UNREACH, /* ICMP host / ICMPv6 address unreachable (EHOSTUNREACH) */
	TP_SYN_PROHIBITED,   /* ICMP administratively prohibited (EHOSTUNREACH; IPv6 EACCES) */
	TP_SYN_SILENT,       /* nothing: the client retries, then times out (ETIMEDOUT) */
	TP_SYN_ANSWER__COUNT
};

/* The answer for a refusal with -errno err (pure):
 *   -ECONNREFUSED, -ECONNRESET          RST (the upstream refused or reset)
 *   -ENETUNREACH, -ENETDOWN             ICMP net unreachable
 *   -EHOSTUNREACH, -EHOSTDOWN           ICMP host unreachable
 *   -ETIMEDOUT                          silence
 *   anything else (-EACCES, -EPERM ...) ICMP administratively prohibited
 * ICMP errors share the UDP errors' rate limit; one that is limited leaves
 * the SYN unanswered (counted as icmp_unreach_limited). */
enum tp_syn_answer tp_syn_answer_of(int err);

struct tp_stack_stats {
	uint64_t pkts_in, pkts_out, bytes_in, bytes_out;
	uint64_t drops[TP_DROP__COUNT];
	uint64_t syn_held, syn_absorbed;
	uint64_t syn_limit;        /* SYNs refused: max_flows reached (prohibited) */
	uint64_t syn_loopback;     /* SYNs refused: loopback or own destination (prohibited) */
	uint64_t syn_refused;      /* held SYNs the owner refused (tp_tcp_flow_reject/close) */
	uint64_t syn_client_reset; /* PENDING flows the client reset (gave up) */
	/* half-open flows (SYN held, or SYN-ACK not yet answered) */
	uint64_t tcp_pending_now, tcp_pending_sources_now;
	uint64_t syn_drop_source;  /* SYN dropped: its source had max_pending_per_source */
	uint64_t syn_drop_pending; /* SYN dropped: max_pending reached, nothing to evict */
	uint64_t syn_evicted;      /* half-open flows evicted for a lighter source's SYN */
	/* out-of-order TCP data (lwIP's ooseq queues of every flow) */
	uint64_t ooseq_pbufs_now, ooseq_bytes_now, ooseq_pbufs_peak, ooseq_bytes_peak;
	uint64_t ooseq_drop_segs, ooseq_drop_bytes; /* freed past a bound (patch 0010) */
	/* how every refused SYN was answered (the three above; not the RSTs
	 * of tp_stack_shutdown) */
	uint64_t syn_answered[TP_SYN_ANSWER__COUNT];
	uint64_t tcp_flows_opened, tcp_flows_closed, tcp_flows_now;
	uint64_t output_errors;
	uint64_t lwip_mem_err;
	/* UDP */
	uint64_t udp_flows_opened, udp_flows_closed, udp_flows_now;
	uint64_t udp_flows_idle, udp_flows_evicted, udp_flows_refused;
	uint64_t udp_dgrams_in, udp_dgrams_out, udp_bytes_in, udp_bytes_out;
	uint64_t udp_frag_in;      /* fragments passed to lwIP's reassembly */
	uint64_t udp_reassembled;  /* datagrams that came out of it */
	uint64_t udp_frag_dropped; /* fragments lwIP's reassembly refused (overlap, duplicate,
	                            * inconsistent) or freed incomplete (timeout; patch 0006) */
	uint64_t udp_send_errors;
	/* ICMP */
	uint64_t icmp_echo_in, icmp_echo_dropped; /* requests; dropped by --icmp drop */
	uint64_t icmp_unreach_sent, icmp_unreach_limited;
	/* TCP super-segments given to output_gso (lwIP patch 0012): count and
	 * IP bytes (also in pkts_out/bytes_out) */
	uint64_t tcp_gso_out, tcp_gso_out_bytes;
	/* large TCP segments taken from the reader's buffer without a copy
	 * (tp_stack_rxbuf) */
	uint64_t rx_zero_copy;
};

/* Events of one UDP flow, delivered to its owner (tp_udp_flow_set_events). */
struct tp_udp_events {
	/* One datagram from the client: its payload, valid during the call. */
	void (*datagram)(struct tp_udp_flow *f, void *ud, const void *buf, size_t len);
	/* The flow is gone: err 0 (tp_udp_flow_close), -ETIMEDOUT (idle),
	 * -ENOSPC (evicted to make room: the table was full), -ECONNABORTED
	 * (stack shutdown). f is invalid after return; do not call any
	 * tp_udp_flow_* from here. Fires exactly once per accepted flow, also
	 * synchronously from inside tp_udp_flow_close(). */
	void (*closed)(struct tp_udp_flow *f, void *ud, int err);
};

struct tp_stack_cfg {
	unsigned mtu;       /* of the tun; lwIP's netif MTU */
	unsigned max_flows; /* TCP flows (PENDING..OPEN) at once; beyond -> prohibited, counted */
	/* Half-open TCP flows (PENDING, ACCEPTING) at once: 0 = max_flows / 4
	 * (at least 1); never more than max_flows. */
	unsigned max_pending;
	/* ... from one client address (/32, IPv6 /64): 0 = 256; never more
	 * than max_pending. */
	unsigned max_pending_per_source;
	/* Out-of-order TCP data held by all flows together (each flow has its
	 * own bound in lwipopts.h): segments, 0 = 32768; payload bytes, 0 =
	 * 32 MiB. Reached, a flow keeps at most its fair share (see
	 * tp_lwip_ooseq_pbufs_limit in stack.c). */
	unsigned ooseq_max_pbufs;
	size_t ooseq_max_bytes;
	bool allow_loopback; /* else SYNs to 127/8, ::1, 0.0.0.0, ::, own addresses -> prohibited */
	const struct tp_cidr *own; /* the tun's own addresses (refused like loopback) */
	size_t n_own;
	/* Emit one IP packet into the tun. buf is valid only during the call.
	 * Return 0 or -errno (counted as output_errors; the packet is lost). */
	int (*output)(void *ctx, const void *buf, size_t len);
	/* A new TCP flow is waiting for a decision (state PENDING). The owner
	 * must eventually call accept or reject exactly once. */
	void (*tcp_syn)(void *ctx, struct tp_tcp_flow *f);
	/* UDP: a datagram of a new 5-tuple arrived. Return 0 to take the flow
	 * (set its events here; the datagram is then delivered through
	 * events.datagram), or -errno to refuse it: the client gets an ICMP
	 * unreachable (see tp_udp_flow_unreachable) and no flow is kept. NULL:
	 * every UDP datagram is refused with port unreachable. */
	int (*udp_new)(void *ctx, struct tp_udp_flow *f);
	unsigned max_udp_flows;   /* 0 = 65536; when full, the longest-idle flow is evicted */
	uint32_t udp_idle_ms;     /* 0 = 60000 */
	uint32_t udp_dns_idle_ms; /* flows to port 53; 0 = 10000 */
	bool icmp_drop;           /* drop echo requests instead of answering them */
	/* TCP packets given to output carry only the pseudo-header sum in
	 * their checksum field (for a vnet tun that writes them with
	 * NEEDS_CSUM); false: complete checksums. */
	bool tcp_csum_partial;
	void *ctx;
	/* TCP flows send super-segments (lwIP patch 0012): up to 64 KiB of data
	 * in one IP packet, which output_gso gets with gso_size = the data per
	 * wire segment (the client's MSS less the TCP options sent); the tun
	 * writes it with a TSO vnet header (TCPV4/TCPV6) and the kernel
	 * segments it. Partial checksums: only with tcp_csum_partial. NULL: TCP
	 * segments never exceed the MSS (everything goes through output).
	 * Return 0 or -errno, as output. */
	int (*output_gso)(void *ctx, const void *buf, size_t len, unsigned gso_size);
};

/* Initialise lwIP and the tun netif. Only one stack may exist.
 * Returns 0 or -errno. */
int tp_stack_init(const struct tp_stack_cfg *cfg);
/* Abort every flow (closed events fire with -ECONNABORTED), free lwIP state.
 * After it, every lwIP pool is back to zero. */
void tp_stack_shutdown(void);

/* Set the clock (milliseconds, any epoch, monotonic). Call before input and poll. */
void tp_stack_set_now(uint32_t now_ms);
/* Feed one packet read from the tun (copied; buf stays the caller's). A TCP
 * segment may be larger than the MSS (a TSO super-packet fed whole, up to an
 * IP length of 65535): TCP takes what its receive window allows and ACKs at
 * once (lwIP patch 0011). Returns TP_DROP_NONE or the reason it was dropped
 * (already counted). */
enum tp_drop tp_stack_input(const void *buf, size_t len);
/* The same with flags: TP_STACK_IN_CSUM_OK = the kernel vouches for the
 * TCP/UDP checksum (vnet NEEDS_CSUM or DATA_VALID; the field may hold only a
 * partial sum), so it is not verified. */
#define TP_STACK_IN_CSUM_OK 0x1u
enum tp_drop tp_stack_input_flags(const void *buf, size_t len, unsigned flags);
/* A buffer of *cap (TP_STACK_RXBUF_LEN) bytes to read the next packet into,
 * owned by the stack and lent to the caller until the next input call that
 * is given a pointer into it: a large TCP segment read there goes to lwIP
 * without a copy (the stack keeps the buffer and lends another next time);
 * anything else is copied as usual and the same buffer is lent again. The
 * caller keeps no pointer into it past that input call. NULL if the stack
 * is down or out of memory (then read into a buffer of your own). */
#define TP_STACK_RXBUF_LEN (65535 + 128) /* a vnet header + a 64 KiB packet */
uint8_t *tp_stack_rxbuf(size_t *cap);
/* Whether flows accepted from now on send super-segments (cfg.output_gso
 * given; on by default then). Flows already open keep what they had: the
 * owner of output_gso must still take their super-segments (split them if
 * the tun refuses TSO writes). */
void tp_stack_set_tcp_gso(bool on);
/* Run due lwIP timers. Returns milliseconds until the next one is due
 * (UINT32_MAX if none). */
uint32_t tp_stack_poll(void);

const struct tp_stack_stats *tp_stack_stats(void);
/* Sum of used entries over every lwIP memory pool + heap allocations.
 * 0 when nothing is alive; tests assert on it. */
size_t tp_stack_mem_in_use(void);

/* ---- TCP flows ---- */
/* Original client (src) and destination (dst) of the flow. */
const struct tp_endpoint *tp_tcp_flow_src(const struct tp_tcp_flow *f);
const struct tp_endpoint *tp_tcp_flow_dst(const struct tp_tcp_flow *f);
enum tp_tcp_state tp_tcp_flow_state(const struct tp_tcp_flow *f);
void tp_tcp_flow_set_events(struct tp_tcp_flow *f, const struct tp_tcp_events *ev, void *ud);

/* PENDING -> ACCEPTING: complete the handshake. */
void tp_tcp_flow_accept(struct tp_tcp_flow *f);
/* PENDING only: refuse the held SYN with -errno err, answered as
 * tp_syn_answer_of(err) says: a RST, an ICMP unreachable quoting the SYN
 * (from the original destination), or nothing (-ETIMEDOUT: the client's
 * next retransmission then starts a new flow, as each SYN does on the
 * kernel path). The flow is freed at once; `closed` is NOT called. */
void tp_tcp_flow_reject(struct tp_tcp_flow *f, int err);

/* Client -> owner data. Fill up to n iovecs with queued bytes (in order);
 * returns the iovec count. Pointers stay valid until tp_tcp_flow_consume. */
int tp_tcp_flow_peek(struct tp_tcp_flow *f, struct iovec *iov, int n);
/* Bytes queued for the owner. */
size_t tp_tcp_flow_queued(const struct tp_tcp_flow *f);
/* Drop the first n queued bytes and open the client's window by n. */
void tp_tcp_flow_consume(struct tp_tcp_flow *f, size_t n);

/* Owner -> client. Bytes that can be sent now (0 = wait for writable). */
size_t tp_tcp_flow_send_space(const struct tp_tcp_flow *f);
/* Bytes handed to tp_tcp_flow_send that the client has not acknowledged
 * yet (queued or in flight); at most TP_STACK_TCP_SNDBUF. */
#define TP_STACK_TCP_SNDBUF (1024u * 1024u) /* lwIP's TCP_SND_BUF (lwipopts.h) */
#define TP_STACK_TCP_WND (1024u * 1024u)    /* lwIP's TCP_WND: a flow's receive window */
size_t tp_tcp_flow_unacked(const struct tp_tcp_flow *f);
/* The data one segment of this flow holds at most now: a super-segment of
 * whole wire segments (lwIP patch 0012: 45 x 1448 = 65160 bytes at MSS 1460
 * with timestamps), or one wire segment's payload; *wire = the payload of
 * one wire segment (1448). Each write is sent at once, so a write that is
 * not a multiple of them leaves a short tail segment, written to the tun on
 * its own (a 65535-byte write went out as 65160 + 375). 0 (and *wire 0) if
 * the flow has no connection. */
size_t tp_tcp_flow_send_unit(const struct tp_tcp_flow *f, size_t *wire);
/* Copy up to len bytes into the send buffer; returns bytes taken (maybe 0),
 * or -EPIPE after shutdown. more=true: more data follows (no PSH). */
long tp_tcp_flow_send(struct tp_tcp_flow *f, const void *buf, size_t len, bool more);
/* Send FIN after queued data (half-close toward the client). If the client
 * already sent its FIN, lwIP completes the close by itself once the client
 * ACKs ours, and `closed(0)` then discards whatever is still queued from the
 * client: consume everything before calling this after `eof`. If the
 * client's FIN comes after this instead, the flow stays until the owner
 * closes it (its queued bytes readable, however long that takes; lwIP sees
 * the connection through TIME-WAIT on its own). */
void tp_tcp_flow_shutdown(struct tp_tcp_flow *f);
/* Close: clean (lwIP sends what is queued, then FIN, and finishes the close
 * on its own) or abort (RST). A clean close with unread client data becomes
 * an abort. A PENDING flow's SYN is answered with a RST. `closed` fires
 * before this returns (err 0 or -ECONNABORTED). */
void tp_tcp_flow_close(struct tp_tcp_flow *f, bool abort);

/* ---- UDP flows ----
 * A flow is a 5-tuple (client address/port -> original destination
 * address/port); datagrams of any size (reassembled by lwIP when the client
 * fragments them). Replies are sent with the original destination as their
 * source, or from any address (full cone) with tp_udp_flow_send_from. */
const struct tp_endpoint *tp_udp_flow_src(const struct tp_udp_flow *f);
const struct tp_endpoint *tp_udp_flow_dst(const struct tp_udp_flow *f);
void tp_udp_flow_set_events(struct tp_udp_flow *f, const struct tp_udp_events *ev, void *ud);
/* Send one datagram (buf borrowed for the call) to the client from the
 * flow's destination. Larger than the MTU: IPv4 and IPv6 fragments.
 * Counts as activity for the idle timeout. Returns 0 or -errno (-EMSGSIZE
 * beyond 65507 bytes, -ENOMEM). */
int tp_udp_flow_send(struct tp_udp_flow *f, const void *buf, size_t len);
/* The same from another address/port (same family as the flow). */
int tp_udp_flow_send_from(struct tp_udp_flow *f, const struct tp_endpoint *from, const void *buf,
                          size_t len);
/* Tell the client the destination cannot be reached: ICMP / ICMPv6
 * destination unreachable quoting the flow's first datagram, from the
 * original destination; err -ECONNREFUSED = port unreachable, -EHOSTUNREACH
 * = host, -ENETUNREACH = network, anything else = administratively
 * prohibited. Rate limited (counted when suppressed). The flow stays. */
void tp_udp_flow_unreachable(struct tp_udp_flow *f, int err);
/* Close the flow; `closed(0)` fires before this returns. */
void tp_udp_flow_close(struct tp_udp_flow *f);

#endif
