/* SPDX-License-Identifier: MIT */
/* TCP super-segments out of the stack (lwIP patch 0012): a property test.
 *
 * The owner sends a byte stream to a client; the stack either hands every
 * TCP packet to cfg.output (1-MSS segments, as with --no-offload) or gives
 * super-segments of up to 64 KiB to cfg.output_gso. Between the stack and
 * the client sits a network that segments a super-segment as the kernel
 * does (tp_gso_split at gso_size), loses and reorders wire segments by a
 * fixed rule, and a client that acknowledges like a receiver: every
 * in-order segment (or every second, or first half then all), a duplicate
 * ACK for anything out of order, and a window of what its application has
 * not read yet (window scaling 7, timestamps on). A fake clock runs the
 * retransmission, persist and delayed-ACK timers.
 *
 * Each scenario runs the same script once per mode. Both must deliver the
 * stream's bytes exactly, its FIN last, and close cleanly; every packet the
 * stack sends must carry the stream's bytes at its sequence number, never
 * reach past the right edge the client advertised (a one-byte window probe
 * excepted), and a super-segment must carry gso_size = MSS minus the TCP
 * options it holds (1448 over IPv4, 1428 over IPv6, with timestamps), more
 * data than one wire segment and at most 65535 bytes. Where both modes must
 * behave the same on the wire (exact scenarios) the client sees the same
 * wire segments (sequence, length, flags but PSH, ACK, window, timestamps)
 * in the same order in both modes, so loss and reordering hit the same
 * segments; with odd partial ACKs and zero windows the two modes
 * legitimately cut retransmissions and probes differently and only the
 * properties above are compared. The send queue checker (patch 0012,
 * tcp_tunplug_check_sendq) runs after every call into the stack. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tunplug/offload.h"
#include "tunplug/packet.h"
#include "tunplug/stack.h"

#include "harness.h"
#include "lwip/priv/tcp_priv.h" /* tcp_ticks, tcp_active_pcbs */

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10

#define WSCALE 7
#define MAXWIRE (1u << 18) /* wire segments kept per run for the comparison */
#define MAXQ 8192          /* wire segments in flight */
#define MAXOOO 64

static uint8_t pat(uint32_t off)
{
	uint32_t x = off * 2654435761u;
	return (uint8_t)(x >> 24 ^ off ^ 0x5a);
}

static uint32_t mix(uint32_t k, uint32_t salt)
{
	k ^= salt * 0x9e3779b9u;
	k ^= k >> 16;
	k *= 0x85ebca6bu;
	k ^= k >> 13;
	k *= 0xc2b2ae35u;
	return k ^ (k >> 16);
}

/* ---- a scenario ---- */
struct scen {
	const char *name;
	int family;
	uint32_t stream;   /* bytes the owner sends, then FIN */
	uint32_t wchunk;   /* bytes per tp_tcp_flow_send */
	uint32_t rbuf;     /* the client's receive buffer (its window) */
	uint32_t read_max; /* bytes its application reads per idle tick (0: all, always) */
	unsigned loss;     /* per mille of data wire segments lost */
	unsigned reorder;  /* per mille delivered after the next one */
	unsigned burst;    /* lose every data segment from the burst-th to +40 (0: none) */
	int ack_every;     /* 1: every in-order segment, 2: every second */
	bool ack_half;     /* first acknowledge half of an in-order segment (odd) */
	bool exact;        /* the wire must be the same in both modes */
	bool more;         /* writes say more follows (TCP_OVERSIZE room) */
};

/* one wire segment seen by the client (compared across modes) */
struct wseg {
	uint32_t seq, len, ack, tsval;
	uint16_t wnd;
	uint8_t flags;
};

struct qseg {
	uint32_t seq, len, tsval;
	uint8_t flags;
};

static struct {
	const struct scen *sc;
	bool gso_mode;
	/* client */
	uint8_t src[16], dst[16];
	uint32_t isn, iss; /* client ISN; the stack's SYN-ACK seq */
	bool synack, established;
	uint32_t rcv_nxt;  /* relative to iss + 1 */
	uint32_t app_read; /* bytes its application took */
	uint32_t right;    /* highest right edge advertised, relative */
	uint32_t ts_recent, ts_clock;
	uint32_t ooo[MAXOOO][2];
	int nooo;
	bool fin_got, fin_sent, rst;
	uint32_t fin_seq;
	int unacked_segs; /* in-order segments not yet acknowledged (ack_every 2) */
	/* network */
	struct qseg q[MAXQ];
	unsigned qh, qt;
	uint32_t nwire; /* data wire segments transmitted (the loss rule's index) */
	/* what was seen */
	struct wseg *wire;
	uint32_t nseen;
	uint32_t super_out, super_bytes, max_super, plain_out;
	/* most bytes the stack still held after an ACK that covered them
	 * (not credited to the send buffer): a segment acknowledged in part */
	long max_held;
	uint32_t bad;
	char why[200];
	/* owner */
	struct tp_tcp_flow *flow;
	uint32_t written;
	bool shut, closed, eof;
	int close_err;
	uint32_t now, base; /* the clock; where this run started */
	/* tp_tcp_flow_send_unit once open: a super-segment's data, a wire
	 * segment's */
	uint32_t unit;
	size_t unit_wire;
} R;

/* lwIP's timers run on absolute times and keep running between runs: each
 * run starts later, on a whole second, so that both modes see the timers
 * in the same phase (the slow timer is every second 250 ms tick). */
static uint32_t clock_next = 1000;

static void failf(const char *fmt, uint32_t a, uint32_t b)
{
	if (R.bad++ == 0)
		snprintf(R.why, sizeof(R.why), fmt, a, b);
}

/* ---- the client's packets (full checksums) ---- */
static size_t client_pkt(uint8_t *b, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t wnd)
{
	int fam = R.sc->family;
	size_t ipl = fam == AF_INET ? 20 : 40;
	size_t optl = (flags & SYN) ? 20 : 12, thl = 20 + optl, tot = ipl + thl;
	uint8_t *t = b + ipl, *o = t + 20;
	uint32_t v;

	memset(b, 0, tot);
	if (fam == AF_INET) {
		b[0] = 0x45;
		b[2] = (uint8_t)(tot >> 8);
		b[3] = (uint8_t)tot;
		b[6] = 0x40;
		b[8] = 64;
		b[9] = IPPROTO_TCP;
		memcpy(b + 12, R.src, 4);
		memcpy(b + 16, R.dst, 4);
		uint16_t s = tp_csum_finish(tp_csum_add(0, b, 20));
		b[10] = (uint8_t)(s >> 8);
		b[11] = (uint8_t)s;
	} else {
		b[0] = 0x60;
		b[4] = (uint8_t)((tot - 40) >> 8);
		b[5] = (uint8_t)(tot - 40);
		b[6] = IPPROTO_TCP;
		b[7] = 64;
		memcpy(b + 8, R.src, 16);
		memcpy(b + 24, R.dst, 16);
	}
	t[0] = 0x9c; /* 40000 -> 5001 */
	t[1] = 0x40;
	t[2] = 0x13;
	t[3] = 0x89;
	v = htonl(seq);
	memcpy(t + 4, &v, 4);
	v = htonl(ack);
	memcpy(t + 8, &v, 4);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = flags;
	t[14] = (uint8_t)(wnd >> 8);
	t[15] = (uint8_t)wnd;
	if (flags & SYN) {
		static const uint8_t syn_opt[8] = {2, 4, 1460 >> 8, 1460 & 0xff, 1, 3, 3, WSCALE};
		memcpy(o, syn_opt, 8);
		o += 8;
	}
	o[0] = 1;
	o[1] = 1;
	o[2] = 8;
	o[3] = 10;
	v = htonl(R.ts_clock);
	memcpy(o + 4, &v, 4);
	v = htonl((flags & ACK) ? R.ts_recent : 0);
	memcpy(o + 8, &v, 4);
	uint32_t sum = tp_csum_pseudo(fam, fam == AF_INET ? b + 12 : b + 8,
	                              fam == AF_INET ? b + 16 : b + 24, IPPROTO_TCP, (uint32_t)thl);
	uint16_t c = tp_csum_finish(tp_csum_add(sum, t, thl));
	t[16] = (uint8_t)(c >> 8);
	t[17] = (uint8_t)c;
	return tot;
}

static uint32_t window(void)
{
	uint32_t unread = R.rcv_nxt - R.app_read;
	uint32_t w = unread >= R.sc->rbuf ? 0 : R.sc->rbuf - unread;
	return w >> WSCALE > 0xffff ? 0xffff : w >> WSCALE;
}

/* The client acknowledges `ack` (relative) with its current window. */
static void client_ack(uint32_t ack_rel, uint8_t extra)
{
	uint8_t b[128];
	uint32_t w = window();
	uint32_t right = ack_rel + (w << WSCALE);
	size_t n;

	if ((int32_t)(right - R.right) > 0)
		R.right = right;
	n = client_pkt(b, (uint8_t)(ACK | extra),
	               R.isn + 1 + (R.fin_sent && !(extra & FIN) ? 1 : 0), R.iss + 1 + ack_rel,
	               (uint16_t)w);
	if (extra & FIN)
		R.fin_sent = true;
	tp_stack_input(b, n);
	if (R.flow && tcp_active_pcbs && ack_rel <= R.written) {
		/* the one connection's PCB: lwIP's whole send buffer (its
		 * tcp_sndbuf() is clamped to 64 KiB) */
		long held = (long)(TCP_SND_BUF - tcp_active_pcbs->snd_buf) -
		            (long)(R.written - ack_rel);
		if (held > R.max_held)
			R.max_held = held;
	}
}

/* ---- the network: what the stack emits ---- */
static void check_wire(const uint8_t *b, size_t len, bool from_super)
{
	struct tp_pkt pk;
	uint32_t val = 0, rel, plen;
	enum tp_drop d = tp_pkt_parse(b, len, TP_PKT_VERIFY_CSUM, &pk);

	if (d != TP_DROP_NONE || pk.proto != IPPROTO_TCP) {
		failf("an emitted packet does not parse (%u) or is no TCP (%u)", d, pk.proto);
		return;
	}
	/* timestamp: NOP NOP TS */
	if (pk.data_off - pk.l4_off >= 32 && b[pk.l4_off + 22] == 8)
		val = (uint32_t)b[pk.l4_off + 24] << 24 | (uint32_t)b[pk.l4_off + 25] << 16 |
		      (uint32_t)b[pk.l4_off + 26] << 8 | b[pk.l4_off + 27];
	if (pk.tcp_flags & SYN) {
		R.iss = pk.seq;
		R.synack = true;
		R.ts_recent = val;
		return;
	}
	if (pk.tcp_flags & RST) {
		R.rst = true;
		return;
	}
	plen = (uint32_t)(pk.len - pk.data_off);
	rel = pk.seq - (R.iss + 1);
	for (uint32_t i = 0; i < plen; i++)
		if (b[pk.data_off + i] != pat(rel + i)) {
			failf("byte %u of the stream is wrong (segment at %u)", rel + i, rel);
			return;
		}
	if (plen > 0 && rel + plen > R.sc->stream)
		failf("data past the stream's end (%u + %u)", rel, plen);
	if ((pk.tcp_flags & FIN) && rel + plen != R.sc->stream)
		failf("FIN at %u, the stream ends at %u", rel + plen, R.sc->stream);
	/* the window: never past the right edge the client advertised (a
	 * one-byte zero-window probe excepted) */
	if (plen > 1 && (int32_t)(rel + plen - R.right) > 0)
		failf("a segment ends at %u, past the client's right edge %u", rel + plen, R.right);
	if (!from_super && plen > (R.sc->family == AF_INET ? 1448u : 1428u))
		failf("a plain segment carries %u bytes (> one wire segment)", plen, 0);
	if (R.qt - R.qh >= MAXQ) {
		failf("network queue full", 0, 0);
		return;
	}
	R.q[R.qt++ % MAXQ] =
	        (struct qseg){.seq = rel, .len = plen, .tsval = val, .flags = pk.tcp_flags};
	if (R.nseen < MAXWIRE)
		R.wire[R.nseen] =
		        (struct wseg){.seq = rel,
		                      .len = plen,
		                      .ack = pk.ack,
		                      .tsval = val - R.base,
		                      .wnd = (uint16_t)(b[pk.l4_off + 14] << 8 | b[pk.l4_off + 15]),
		                      .flags = (uint8_t)(pk.tcp_flags & ~PSH)};
	R.nseen++;
}

/* The checksum field holds the pseudo-header sum (tcp_csum_partial): the
 * kernel completes it; so does tp_gso_split here. */
static uint8_t segbuf[70000 + 512 * 120];
static struct tp_seg segs[512];

static int out_plain(void *ctx, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	struct tp_vnet_hdr h = {.flags = TP_VNET_F_NEEDS_CSUM, .csum_offset = 16};
	enum tp_drop why;
	int k;

	(void)ctx;
	R.plain_out++;
	h.csum_start = (b[0] >> 4) == 4 ? (uint16_t)((b[0] & 15) * 4) : 40;
	k = tp_gso_split(buf, len, &h, TP_SPLIT_FILL_CSUM, segbuf, sizeof(segbuf), segs, 512, &why);
	if (k != 1) {
		failf("a plain packet does not complete (%d, %u)", (uint32_t)k, why);
		return 0;
	}
	check_wire(segs[0].data, segs[0].len, false);
	return 0;
}

static int out_gso(void *ctx, const void *buf, size_t len, unsigned gso_size)
{
	const uint8_t *b = buf;
	int fam = (b[0] >> 4) == 4 ? AF_INET : AF_INET6;
	size_t iphl = fam == AF_INET ? 20 : 40, thl, plen;
	unsigned want;
	struct tp_vnet_hdr h = {
	        .flags = TP_VNET_F_NEEDS_CSUM,
	        .gso_type = fam == AF_INET ? TP_GSO_TCPV4 : TP_GSO_TCPV6,
	        .csum_start = (uint16_t)iphl,
	        .csum_offset = 16,
	        .gso_size = (uint16_t)gso_size,
	};
	enum tp_drop why;
	int k;

	(void)ctx;
	if (!R.gso_mode) {
		failf("output_gso called in 1-MSS mode", 0, 0);
		return 0;
	}
	if (len > 65535 || len < iphl + 20) {
		failf("a super-segment of %u bytes", (uint32_t)len, 0);
		return 0;
	}
	thl = (size_t)(b[iphl + 12] >> 4) * 4;
	plen = len - iphl - thl;
	/* the MSS both sides agree on, less the options this segment holds */
	want = (fam == AF_INET ? 1460u : 1440u) - (unsigned)(thl - 20);
	if (gso_size != want)
		failf("gso_size %u, want %u (MSS less the options)", gso_size, want);
	if (plen <= gso_size)
		failf("a super-segment of %u bytes carries no more than gso_size %u",
		      (uint32_t)plen, gso_size);
	R.super_out++;
	R.super_bytes += (uint32_t)plen;
	if (plen > R.max_super)
		R.max_super = (uint32_t)plen;
	k = tp_gso_split(buf, len, &h, TP_SPLIT_FILL_CSUM, segbuf, sizeof(segbuf), segs, 512, &why);
	if (k < 2) {
		failf("the kernel would refuse a super-segment (%d, %u)", (uint32_t)k, why);
		return 0;
	}
	for (int i = 0; i < k; i++)
		check_wire(segs[i].data, segs[i].len, true);
	return 0;
}

/* ---- the owner ---- */
static void ev_noop(struct tp_tcp_flow *f, void *ud)
{
	(void)f;
	(void)ud;
}

static void ev_closed(struct tp_tcp_flow *f, void *ud, int err)
{
	(void)ud;
	if (f == R.flow) {
		R.flow = NULL;
		R.closed = true;
		R.close_err = err;
	}
}

static void ev_eof(struct tp_tcp_flow *f, void *ud)
{
	(void)f;
	(void)ud;
	R.eof = true;
}

static const struct tp_tcp_events events = {
        .established = ev_noop,
        .readable = ev_noop,
        .eof = ev_eof,
        .writable = ev_noop,
        .closed = ev_closed,
};

static void on_syn(void *ctx, struct tp_tcp_flow *f)
{
	(void)ctx;
	R.flow = f;
	tp_tcp_flow_set_events(f, &events, NULL);
	tp_tcp_flow_accept(f);
}

static void owner_write(void)
{
	static uint8_t chunk[70000];

	if (R.flow && !R.unit)
		R.unit = (uint32_t)tp_tcp_flow_send_unit(R.flow, &R.unit_wire);
	while (R.flow && R.written < R.sc->stream) {
		uint32_t n = R.sc->stream - R.written;
		long w;
		if (n > R.sc->wchunk)
			n = R.sc->wchunk;
		for (uint32_t i = 0; i < n; i++)
			chunk[i] = pat(R.written + i);
		w = tp_tcp_flow_send(R.flow, chunk, n, R.sc->more);
		if (w <= 0)
			break;
		R.written += (uint32_t)w;
	}
	if (R.flow && R.written == R.sc->stream && !R.shut) {
		R.shut = true;
		tp_tcp_flow_shutdown(R.flow);
	}
}

/* ---- the client receiving ---- */
static void ooo_add(uint32_t s, uint32_t e)
{
	if (R.nooo < MAXOOO) {
		R.ooo[R.nooo][0] = s;
		R.ooo[R.nooo][1] = e;
		R.nooo++;
	}
}

static void ooo_pull(void)
{
	bool moved = true;

	while (moved) {
		moved = false;
		for (int i = 0; i < R.nooo; i++) {
			if ((int32_t)(R.ooo[i][0] - R.rcv_nxt) <= 0) {
				if ((int32_t)(R.ooo[i][1] - R.rcv_nxt) > 0)
					R.rcv_nxt = R.ooo[i][1];
				R.ooo[i][0] = R.ooo[--R.nooo][0];
				R.ooo[i][1] = R.ooo[R.nooo][1];
				moved = true;
				break;
			}
		}
	}
}

/* The FIN at `end` (the stream's end): taken and acknowledged at once. */
static void take_fin(uint32_t end)
{
	R.fin_got = true;
	R.fin_seq = end;
	R.rcv_nxt = end + 1;
	client_ack(R.rcv_nxt, 0);
	R.unacked_segs = 0;
}

static void client_rx(const struct qseg *s)
{
	uint32_t end = s->seq + s->len;
	bool fin = s->flags & FIN;

	if (!(s->flags & ACK) && !fin)
		return;
	R.ts_recent = s->tsval;
	if (s->len == 0 && !fin)
		return; /* a pure ACK */
	if (s->seq == R.rcv_nxt) {
		/* in order (at most the window: the stack must respect it) */
		if (R.sc->ack_half && s->len > 3)
			client_ack(R.rcv_nxt + s->len / 2 + 1, 0);
		R.rcv_nxt = end;
		ooo_pull();
		if (fin && !R.fin_got && R.rcv_nxt == end) {
			take_fin(end);
			return;
		}
		if (++R.unacked_segs >= R.sc->ack_every || R.nooo > 0) {
			client_ack(R.rcv_nxt, 0);
			R.unacked_segs = 0;
		}
		return;
	}
	if ((int32_t)(s->seq - R.rcv_nxt) > 0) {
		ooo_add(s->seq, end);     /* a FIN out of order is resent later */
		client_ack(R.rcv_nxt, 0); /* duplicate ACK */
		R.unacked_segs = 0;
		return;
	}
	if (fin && !R.fin_got && end == R.rcv_nxt) {
		/* what we have already (it came out of order before) and the
		 * FIN: a receiver trims the old front and takes the FIN */
		take_fin(end);
		return;
	}
	/* old data (a retransmission of what we have, or a probe) */
	client_ack(R.rcv_nxt, 0);
	R.unacked_segs = 0;
}

/* Deliver everything in flight (and what the ACKs make the stack send). */
static void deliver(void)
{
	while (R.qh != R.qt) {
		struct qseg s = R.q[R.qh++ % MAXQ];
		if (s.len > 0) {
			uint32_t k = R.nwire++;
			bool lose = mix(k, 1) % 1000 < R.sc->loss ||
			            (R.sc->burst && k >= R.sc->burst && k < R.sc->burst + 40);
			if (lose)
				continue;
			if (R.qh != R.qt && mix(k, 2) % 1000 < R.sc->reorder) {
				struct qseg nx = R.q[R.qh % MAXQ];
				R.q[R.qh % MAXQ] = s; /* s goes after the next one */
				s = nx;
				/* the next one is consumed now; s stays queued */
				R.nwire++;
			}
		}
		client_rx(&s);
	}
	if (R.unacked_segs) {
		client_ack(R.rcv_nxt, 0); /* the delayed ACK, at the end of a burst */
		R.unacked_segs = 0;
	}
}

/* The client's application reads; the window update goes out if it opened. */
static void app_read(void)
{
	uint32_t avail = R.rcv_nxt - R.app_read - (R.fin_got ? 1 : 0);
	uint32_t w0 = window(), n = avail;

	if (R.sc->read_max && n > R.sc->read_max)
		n = R.sc->read_max;
	R.app_read += n;
	if (window() != w0 && R.established)
		client_ack(R.rcv_nxt, 0);
}

/* One run: returns the wire segments seen (R.wire, R.nseen). */
static void run(const struct scen *sc, bool gso_mode)
{
	static struct tp_cidr own;
	struct tp_stack_cfg cfg = {
	        .mtu = 1500,
	        .max_flows = 4,
	        .own = &own,
	        .n_own = 1,
	        .output = out_plain,
	        .tcp_syn = on_syn,
	        .tcp_csum_partial = true,
	};
	uint8_t b[128];
	size_t n;
	struct wseg *keep = R.wire;
	int idle;

	memset(&R, 0, sizeof(R));
	R.wire = keep;
	R.sc = sc;
	R.gso_mode = gso_mode;
	R.isn = 123456789;
	R.ts_clock = 0x80000101u;
	R.now = R.base = clock_next;
	if (gso_mode)
		cfg.output_gso = out_gso;
	if (sc->family == AF_INET) {
		inet_pton(AF_INET, "198.18.0.1", R.src);
		inet_pton(AF_INET, "198.19.1.1", R.dst);
	} else {
		inet_pton(AF_INET6, "fd00:18::1", R.src);
		inet_pton(AF_INET6, "fd00:19::1", R.dst);
	}
	tp_stack_set_now(R.now);
	CHECK_EQ(tp_stack_init(&cfg), 0, "tp_stack_init");
	n = client_pkt(b, SYN, R.isn, 0, 0xffff);
	tp_stack_input(b, n);
	CHECK(R.synack && R.flow, "SYN-ACK and a flow");
	R.qh = R.qt = 0;
	if (!R.flow) {
		tp_stack_shutdown();
		clock_next = (R.now / 1000 + 2) * 1000;
		return;
	}
	R.established = true;
	client_ack(0, 0);
	/* start right after a slow timer tick: lwIP's timers run on absolute
	 * times and count ticks across runs, so this puts both runs in the
	 * same phase (timestamps are compared relative to this point) */
	for (uint32_t t0 = tcp_ticks; tcp_ticks == t0;) {
		R.now += 50;
		R.ts_clock += 50;
		tp_stack_set_now(R.now);
		tp_stack_poll();
	}
	R.base = R.now;
	for (idle = 0; idle < 4000 && !(R.closed && R.qh == R.qt); idle++) {
		owner_write();
		deliver();
		app_read();
		deliver();
		if (R.fin_got && !R.fin_sent && R.app_read + 1 == R.rcv_nxt)
			client_ack(R.rcv_nxt, FIN); /* the client closes too */
		if (R.eof && R.flow)
			tp_tcp_flow_close(R.flow, false); /* both FINs: the owner lets go */
		if (R.qh == R.qt) {
			R.now += 50;
			R.ts_clock += 50;
			tp_stack_set_now(R.now);
			tp_stack_poll();
		}
		if (R.bad)
			break;
	}
	CHECK(!R.bad, "%s %s: %s", sc->name, gso_mode ? "gso" : "1-mss", R.why);
	CHECK(R.fin_got && R.fin_seq == sc->stream, "%s %s: FIN after the whole stream (at %u)",
	      sc->name, gso_mode ? "gso" : "1-mss", R.fin_seq);
	CHECK(R.rcv_nxt == sc->stream + 1, "%s %s: every byte in order (%u of %u)", sc->name,
	      gso_mode ? "gso" : "1-mss", R.rcv_nxt, sc->stream);
	CHECK(R.closed && R.close_err == 0, "%s %s: closed cleanly (%d, err %d) after %d ticks",
	      sc->name, gso_mode ? "gso" : "1-mss", R.closed, R.close_err, idle);
	CHECK(!R.rst, "%s: no RST", sc->name);
	if (gso_mode) {
		CHECK(R.super_out > 0, "%s: super-segments sent (%u)", sc->name, R.super_out);
		/* a partly acknowledged super-segment is trimmed at once (to 4 bytes) */
		CHECK(R.max_held <= 4, "%s: acknowledged bytes still held: up to %ld", sc->name,
		      R.max_held);
		/* the relay sizes its reads by it: it must be what lwIP builds
		 * (all of it when nothing is lost: loss keeps cwnd below it) */
		if (sc->rbuf >= 2 * 65536 && sc->wchunk >= 65536) {
			CHECK(R.unit_wire && R.unit % R.unit_wire == 0 && R.max_super <= R.unit,
			      "%s: send unit %u (wire %zu): whole wire segments, no super-segment "
			      "larger (%u)",
			      sc->name, R.unit, R.unit_wire, R.max_super);
			if (!sc->loss && !sc->burst)
				CHECK(R.max_super == R.unit,
				      "%s: send unit %u is the largest super-segment sent (%u)",
				      sc->name, R.unit, R.max_super);
		}
	} else
		CHECK(R.super_out == 0, "%s: none in 1-MSS mode", sc->name);
	if (R.flow)
		tp_tcp_flow_close(R.flow, true);
	tp_stack_shutdown();
	CHECK_EQ(tp_stack_mem_in_use(), 0, "lwIP pools back to zero");
	clock_next = (R.now / 1000 + 2) * 1000;
}

#define MIB (1024u * 1024u)

static void property(const struct scen *sc)
{
	static struct wseg *a, *bw;
	uint32_t na, nb, first = UINT32_MAX;
	long held1;

	if (!a) {
		a = calloc(MAXWIRE, sizeof(*a));
		bw = calloc(MAXWIRE, sizeof(*bw));
	}
	if (!a || !bw) {
		CHECK(false, "out of memory");
		return;
	}
	if (clock_next == 1000) {
		/* lwIP measures no RTT while its tick counter is 0 (0 means "not
		 * measuring"), and that counter only runs with a connection: one
		 * small transfer first, so both runs measure alike */
		const struct scen warm = {"warm-up", AF_INET, 100000, 65536, MIB,   0,    0,
		                          0,         0,       1,      false, false, false};
		R.wire = a;
		run(&warm, false);
	}
	R.wire = a;
	run(sc, false);
	na = R.nseen;
	held1 = R.max_held;
	R.wire = bw;
	run(sc, true);
	nb = R.nseen;
	OK("%s: 1-MSS: %u wire segments; GSO: %u wire segments from %u super-segments "
	   "(%u bytes, largest %u) and %u plain packets",
	   sc->name, na, nb, R.super_out, R.super_bytes, R.max_super, R.plain_out);
	OK("%s: acknowledged bytes held at most: 1-MSS %ld, GSO %ld", sc->name, held1, R.max_held);
	if (sc->ack_half)
		CHECK(held1 > 4, "%s: the 1-MSS run saw ACKs inside segments (%ld)", sc->name,
		      held1);
	if (!sc->exact)
		return;
	CHECK(na < MAXWIRE && nb < MAXWIRE, "trace fits");
	for (uint32_t i = 0; i < na && i < nb && first == UINT32_MAX; i++)
		if (a[i].seq != bw[i].seq || a[i].len != bw[i].len || a[i].ack != bw[i].ack ||
		    a[i].tsval != bw[i].tsval || a[i].wnd != bw[i].wnd || a[i].flags != bw[i].flags)
			first = i;
	if (first == UINT32_MAX && na != nb)
		first = na < nb ? na : nb;
	CHECK(first == UINT32_MAX,
	      "%s: the wire differs at segment %u of %u/%u: 1-MSS seq %u len %u ack %u wnd %u "
	      "flags %#x ts %u, GSO seq %u len %u ack %u wnd %u flags %#x ts %u",
	      sc->name, first, na, nb, first < na ? a[first].seq : 0, first < na ? a[first].len : 0,
	      first < na ? a[first].ack : 0, first < na ? a[first].wnd : 0,
	      first < na ? a[first].flags : 0, first < na ? a[first].tsval : 0,
	      first < nb ? bw[first].seq : 0, first < nb ? bw[first].len : 0,
	      first < nb ? bw[first].ack : 0, first < nb ? bw[first].wnd : 0,
	      first < nb ? bw[first].flags : 0, first < nb ? bw[first].tsval : 0);
	OK("%s: the same wire segments in both modes", sc->name);
}

/* In order, no loss, a large window: the same wire. */
TP_TEST(clean_v4)
{
	const struct scen s = {"clean_v4", AF_INET, 4 * MIB, 65536, MIB,  0,    0,
	                       0,          0,       1,       false, true, false};
	property(&s);
}

TP_TEST(clean_v6)
{
	const struct scen s = {"clean_v6", AF_INET6, 4 * MIB, 65536, MIB,  0,    0,
	                       0,          0,        1,       false, true, false};
	property(&s);
}

/* Odd write sizes, ACK every second segment. */
TP_TEST(odd_writes)
{
	const struct scen s = {"odd_writes", AF_INET, 3 * MIB + 777, 10007, MIB, 0, 0, 0, 0, 2,
	                       false,        true,    false};
	property(&s);
}

/* 1 % loss and 1 % reordering: fast retransmits of one wire segment, RTOs;
 * the same wire in both modes. */
TP_TEST(loss_reorder_v4)
{
	const struct scen s = {"loss_reorder_v4",
	                       AF_INET,
	                       4 * MIB,
	                       65536,
	                       MIB,
	                       0,
	                       10,
	                       10,
	                       0,
	                       1,
	                       false,
	                       true,
	                       false};
	property(&s);
}

TP_TEST(loss_reorder_v6)
{
	const struct scen s = {"loss_reorder_v6",
	                       AF_INET6,
	                       4 * MIB,
	                       65536,
	                       MIB,
	                       0,
	                       10,
	                       10,
	                       0,
	                       2,
	                       false,
	                       true,
	                       false};
	property(&s);
}

/* 40 wire segments in a row lost: recovery by RTO (cwnd one MSS, then slow
 * start through split-to-fit). */
TP_TEST(burst_loss)
{
	const struct scen s = {"burst_loss", AF_INET, 2 * MIB, 65536, MIB,  0, 0, 0,
	                       300,          1,       false,   true,  false};
	property(&s);
}

/* ACKs in the middle of segments (odd byte counts): super-segments are
 * front-trimmed; with loss, retransmissions start at the trimmed front. */
TP_TEST(partial_acks)
{
	const struct scen s = {"partial_acks", AF_INET, 3 * MIB, 65536, MIB, 0, 10, 5, 0, 1,
	                       true,           false,   false};
	property(&s);
}

/* A window smaller than a super-segment and a slow reader: split-to-fit,
 * zero windows, persist probes, window updates; with loss. */
TP_TEST(small_window)
{
	const struct scen s = {"small_window", AF_INET, MIB,  65536, 20000, 7000, 10, 10, 0, 1,
	                       false,          false,   false};
	property(&s);
}

TP_TEST(small_window_v6)
{
	const struct scen s = {"small_window_v6",
	                       AF_INET6,
	                       MIB / 2,
	                       30000,
	                       45000,
	                       3000,
	                       0,
	                       0,
	                       0,
	                       2,
	                       false,
	                       false,
	                       false};
	property(&s);
}

/* Writes that announce more (lwIP keeps spare room after the last segment,
 * TCP_OVERSIZE) with partial ACKs and loss: a trimmed or split last segment
 * keeps its spare room consistent (lwIP asserts on it). */
TP_TEST(more_writes)
{
	const struct scen s = {"more_writes", AF_INET, 2 * MIB + 333, 3001, MIB, 0, 10, 10, 0, 1,
	                       true,          false,   true};
	property(&s);
}

TP_TEST(more_writes_small_window)
{
	const struct scen s = {"more_writes_small_window",
	                       AF_INET6,
	                       MIB,
	                       7777,
	                       30000,
	                       5000,
	                       10,
	                       0,
	                       0,
	                       2,
	                       true,
	                       false,
	                       true};
	property(&s);
}
