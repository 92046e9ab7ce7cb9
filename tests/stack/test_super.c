/* SPDX-License-Identifier: MIT */
/* TCP super-packets into the stack, whole or split (a property test).
 *
 * A client byte stream is cut into TSO super-packets as Linux hands them to
 * a vnet tun (NEEDS_CSUM, partial TCP checksum, gso_size 1448 with
 * timestamps) and fed to the stack the way gateway/src/loop/tunio.c does:
 * whole (tp_gso_whole, one segment) or split (tp_gso_split, MSS segments).
 * A script loses a super-packet and retransmits it (whole or split), sends
 * ahead of a hole, overlaps data already received, overruns a window the
 * owner does not open, and ends with a FIN. Each script runs once per way
 * of feeding it; after every step (and a timer run that flushes delayed
 * ACKs) the bytes delivered, the last ACK number and the window it
 * advertised must be the same for every way. Fed whole, an in-order
 * super-packet is acknowledged at once by one ACK, before any timer runs
 * (lwIP patch 0011), and ACKs are never more than split feeding sends. */
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

#define FIN 0x01
#define SYN 0x02
#define PSH 0x08
#define ACK 0x10

#define MSS 1460 /* the client's MSS option; lwIP's own is 1460 (v4) or 1440 (v6) at MTU 1500 */
#define STREAM_MAX (2u * 1024 * 1024)
#define SEG_MAX 256

/* ---- the client's bytes ---- */
static uint8_t pat(uint32_t off)
{
	uint32_t x = off * 2654435761u;
	return (uint8_t)(x >> 24 ^ off);
}

/* ---- what the stack emits ---- */
static struct {
	int n;         /* TCP packets emitted (this run) */
	int n_step;    /* ... since the step began */
	int acks_step; /* ... that acknowledge something new */
	uint32_t ack;  /* last acknowledgement number */
	uint16_t wnd;  /* and the raw window field of that packet */
	uint32_t iss;  /* our SYN-ACK's sequence number */
	bool got_synack;
	bool bad;
} em;

static int cap_output(void *ctx, const void *buf, size_t len)
{
	struct tp_pkt pk;
	const uint8_t *b = buf;

	(void)ctx;
	if (tp_pkt_parse(buf, len, TP_PKT_VERIFY_CSUM, &pk) != TP_DROP_NONE ||
	    pk.proto != IPPROTO_TCP) {
		em.bad = true;
		return 0;
	}
	if (pk.tcp_flags & SYN) {
		em.iss = pk.seq;
		em.got_synack = true;
	}
	if (pk.data_off != pk.len)
		em.bad = true; /* the owner never sends: no data expected */
	if (em.n && pk.ack != em.ack)
		em.acks_step++;
	em.n++;
	em.n_step++;
	em.ack = pk.ack;
	em.wnd = (uint16_t)(b[pk.l4_off + 14] << 8 | b[pk.l4_off + 15]);
	return 0;
}

/* ---- the owner: accepts, consumes when told, checks every byte ---- */
static struct tp_tcp_flow *flow;
static uint32_t consumed; /* stream bytes taken from the flow */
static bool eof_seen, bad_bytes;

static void ev_noop(struct tp_tcp_flow *f, void *ud)
{
	(void)f;
	(void)ud;
}

static void ev_eof(struct tp_tcp_flow *f, void *ud)
{
	(void)f;
	(void)ud;
	eof_seen = true;
}

static void ev_closed(struct tp_tcp_flow *f, void *ud, int err)
{
	(void)ud;
	(void)err;
	if (f == flow)
		flow = NULL;
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
	flow = f;
	tp_tcp_flow_set_events(f, &events, NULL);
	tp_tcp_flow_accept(f);
}

/* Take everything queued, comparing it with the stream, in ONE consume (so
 * the window opens by the same amount at once whatever the pbufs). */
static void consume_all(void)
{
	static struct iovec iov[1024];
	size_t k = 0;
	int n;

	if (!flow)
		return;
	n = tp_tcp_flow_peek(flow, iov, 1024);
	for (int i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len; j++)
			if (p[j] != pat(consumed + (uint32_t)(k + j)))
				bad_bytes = true;
		k += iov[i].iov_len;
	}
	if (k != tp_tcp_flow_queued(flow))
		bad_bytes = true; /* more pbufs than iovecs */
	tp_tcp_flow_consume(flow, k);
	consumed += (uint32_t)k;
}

/* ---- the client ---- */
struct client {
	int family;
	uint8_t src[16], dst[16];
	uint32_t isn; /* stream offset 0 is seq isn + 1 */
};

static uint32_t now;
static void advance(uint32_t ms)
{
	for (uint32_t t = 0; t < ms; t += 50) {
		now += 50;
		tp_stack_set_now(now);
		tp_stack_poll();
	}
}

/* The IP/TCP headers (options: opt[0..optlen)) of a client packet carrying
 * dlen payload bytes; the TCP checksum field holds the pseudo-header sum
 * (NEEDS_CSUM, as the kernel hands a TSO packet over). Returns the header
 * length; the payload goes right after it. */
static size_t headers(uint8_t *b, const struct client *c, uint8_t flags, uint32_t seq, uint32_t ack,
                      const uint8_t *opt, size_t optlen, size_t dlen)
{
	size_t ipl = c->family == AF_INET ? 20 : 40, thl = 20 + optlen, tot = ipl + thl + dlen;
	uint8_t *t = b + ipl;

	memset(b, 0, ipl + thl);
	if (c->family == AF_INET) {
		b[0] = 0x45;
		b[2] = (uint8_t)(tot >> 8);
		b[3] = (uint8_t)tot;
		b[6] = 0x40;
		b[8] = 64;
		b[9] = IPPROTO_TCP;
		memcpy(b + 12, c->src, 4);
		memcpy(b + 16, c->dst, 4);
		uint16_t s = tp_csum_finish(tp_csum_add(0, b, 20));
		b[10] = (uint8_t)(s >> 8);
		b[11] = (uint8_t)s;
	} else {
		b[0] = 0x60;
		b[4] = (uint8_t)((tot - 40) >> 8);
		b[5] = (uint8_t)(tot - 40);
		b[6] = IPPROTO_TCP;
		b[7] = 64;
		memcpy(b + 8, c->src, 16);
		memcpy(b + 24, c->dst, 16);
	}
	t[0] = 0xa0; /* port 41000 -> 5001 */
	t[1] = 0x28;
	t[2] = 0x13;
	t[3] = 0x89;
	uint32_t s = htonl(seq), a = htonl(ack);
	memcpy(t + 4, &s, 4);
	memcpy(t + 8, &a, 4);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = flags;
	t[14] = 0x01; /* window 502 << 7 */
	t[15] = 0xf6;
	if (optlen)
		memcpy(t + 20, opt, optlen);
	uint16_t ps = (uint16_t)~tp_csum_finish(tp_csum_pseudo(
	        c->family, c->family == AF_INET ? b + 12 : b + 8,
	        c->family == AF_INET ? b + 16 : b + 24, IPPROTO_TCP, (uint32_t)(thl + dlen)));
	t[16] = (uint8_t)(ps >> 8);
	t[17] = (uint8_t)ps;
	return ipl + thl;
}

static const uint8_t ts_opt[12] = {1, 1, 8, 10, 0x80, 0, 0, 0xf1, 0, 0, 0, 0};

/* H_LENT: whole, read (copied here) into the stack's lent buffer after a
 * vnet header's room, as tunio reads: lwIP takes it without a copy */
enum how { H_WHOLE, H_SPLIT, H_LENT };
static const char *const how_name[] = {"whole", "split", "whole, lent buffer"};
static uint32_t gso; /* the client's wire payload per segment (make_script) */

static uint8_t pkt[70000], segbuf[SEG_MAX * 200 + 70000];
static struct tp_seg segs[SEG_MAX];

/* Feed one packet in pkt[0..len) as tunio does with a NEEDS_CSUM header. */
static void feed(size_t len, enum how how)
{
	struct tp_vnet_hdr h = {
	        .flags = TP_VNET_F_NEEDS_CSUM,
	        .gso_type = (pkt[0] >> 4) == 4 ? TP_GSO_TCPV4 : TP_GSO_TCPV6,
	        .gso_size = (uint16_t)gso,
	        .csum_start = (pkt[0] >> 4) == 4 ? 20 : 40,
	        .csum_offset = 16,
	};
	struct tp_whole_pkt w;
	enum tp_drop why;
	enum tp_whole r;
	int k;

	if (how == H_WHOLE || how == H_LENT) {
		uint8_t *in = pkt;
		size_t cap = 0;

		if (how == H_LENT) {
			in = tp_stack_rxbuf(&cap);
			CHECK(in && cap >= TP_VNET_HDR_LEN + len, "a lent buffer (%zu bytes)", cap);
			if (!in || cap < TP_VNET_HDR_LEN + len)
				return;
			in += TP_VNET_HDR_LEN;
			memcpy(in, pkt, len);
		}
		r = tp_gso_whole(in, len, &h, &w);
		CHECK(r == TP_WHOLE, "tp_gso_whole: %s", tp_whole_name(r));
		if (r == TP_WHOLE)
			CHECK_EQ(tp_stack_input_flags(in, w.len, TP_STACK_IN_CSUM_OK), TP_DROP_NONE,
			         "whole segment taken");
		return;
	}
	k = tp_gso_split(pkt, len, &h, 0, segbuf, sizeof(segbuf), segs, SEG_MAX, &why);
	CHECK(k >= 1, "tp_gso_split: %s", tp_drop_name(why));
	for (int i = 0; i < k; i++)
		CHECK_EQ(tp_stack_input_flags(segs[i].data, segs[i].len, TP_STACK_IN_CSUM_OK),
		         TP_DROP_NONE, "segment taken");
}

/* ---- the script ---- */
enum op { SEND, CONSUME, END };
struct step {
	enum op op;
	uint32_t off, len;  /* SEND: stream bytes [off, off + len) */
	uint8_t flags;      /* extra TCP flags (FIN) */
	bool retx;          /* a retransmission: fed the run's retx way */
	bool fresh_inorder; /* starts at the receiver's next byte, window open */
};

/* What one step leaves behind, compared across runs. */
struct after {
	uint32_t ack; /* relative to the client's isn */
	uint16_t wnd;
	uint32_t delivered;
	int acks;
	int immediate; /* packets emitted before the timers ran */
};

#define MAXSTEPS 96

/* The wire payload of the client's segments, as Linux sends them: the MSS
 * both sides agree on (1460 for IPv4, 1440 for IPv6 at MTU 1500) less the
 * 12-byte timestamp option; a super-packet is 45 of them. */
static struct step script[MAXSTEPS];

static void make_script(int family)
{
	const uint32_t sup = 45 * (gso = family == AF_INET ? 1448 : 1428);
	const uint32_t d = sup + 30000 + gso; /* where the lost one starts */
	const uint32_t g = d + 2 * sup + 20000, h = g + sup - 12088, x = h + 40000;
	const uint32_t A = UINT32_MAX; /* from the acknowledged byte on */
	const struct step s[] = {
	        /* in order: a super-packet, an odd one, a single MSS */
	        {SEND, 0, sup, 0, false, true},
	        {SEND, sup, 30000, 0, false, true},
	        {SEND, sup + 30000, gso, 0, false, true},
	        {CONSUME, 0, 0, 0, false, false},
	        /* the next one (D) is lost: two go ahead of the hole */
	        {SEND, d + sup, sup, 0, false, false},
	        {SEND, d + 2 * sup, 20000, 0, false, false},
	        /* D retransmitted: fills the hole, the queued data follows */
	        {SEND, d, sup, 0, true, true},
	        {CONSUME, 0, 0, 0, false, false},
	        /* G, then H overlapping G's last 12088 bytes (left edge trimmed) */
	        {SEND, g, sup, 0, false, true},
	        {SEND, h, 40000, 0, false, false},
	        {CONSUME, 0, 0, 0, false, false},
	        /* (the owner stops reading: filled in below) */
	        {CONSUME, 0, 0, 0, false, false},
	        /* the client resends what was not acknowledged */
	        {SEND, A, sup, 0, true, true},
	        {SEND, A, sup, 0, true, true},
	        {CONSUME, 0, 0, 0, false, false},
	        /* the rest in order, the last one with FIN */
	        {SEND, A, sup, 0, false, true},
	        {SEND, A, 12345, FIN, false, true},
	        {CONSUME, 0, 0, 0, false, false},
	        {END, 0, 0, 0, false, false},
	};
	/* the owner stops reading: super-packets until the window is full,
	 * one past its right edge, one wholly outside */
	const uint32_t nfill = TP_STACK_TCP_WND / sup; /* whole ones inside */
	size_t k = 0, head = 11;                       /* steps before the gap */

	memcpy(script, s, head * sizeof(s[0]));
	k = head;
	for (uint32_t i = 0; i < nfill + 2 && k < MAXSTEPS - 16; i++)
		script[k++] = (struct step){SEND, x + i * sup, sup, 0, false, i < nfill};
	memcpy(&script[k], &s[head], sizeof(s) - head * sizeof(s[0]));
}

static uint64_t lent_zero_copy; /* rx_zero_copy after the H_LENT run */

/* Run the script once: `fresh` is how new data is fed, `retx` how
 * retransmissions are. Fills after[] (one per step); returns the count. */
static int run(int family, enum how fresh, enum how retx, struct after *after)
{
	static struct tp_cidr own;
	struct client c = {.family = family, .isn = 7000000};
	struct tp_stack_cfg cfg = {
	        .mtu = 1500,
	        .max_flows = 4,
	        .own = &own,
	        .n_own = 1,
	        .output = cap_output,
	        .tcp_syn = on_syn,
	};
	static const uint8_t syn_opt[20] = {
	        2, 4, MSS >> 8, MSS & 0xff, 1,    3, 3, 7, /* MSS, WS 7 */
	        1, 1, 8,        10,         0x80, 0, 0, 0xf1, 0, 0, 0, 0};
	uint32_t ack_rel, hi = 0; /* hi: highest stream byte sent + 1 */
	size_t hl, len;
	int ns = 0;

	memset(&em, 0, sizeof(em));
	flow = NULL;
	consumed = 0;
	eof_seen = bad_bytes = false;
	if (family == AF_INET) {
		inet_pton(AF_INET, "198.18.0.1", c.src);
		inet_pton(AF_INET, "198.19.1.1", c.dst);
	} else {
		inet_pton(AF_INET6, "fd00:18::1", c.src);
		inet_pton(AF_INET6, "fd00:19::1", c.dst);
	}
	tp_stack_set_now(now);
	CHECK_EQ(tp_stack_init(&cfg), 0, "tp_stack_init");

	/* handshake (whole SYN: a plain packet) */
	len = headers(pkt, &c, SYN, c.isn, 0, syn_opt, sizeof(syn_opt), 0);
	CHECK_EQ(tp_stack_input_flags(pkt, len, TP_STACK_IN_CSUM_OK), TP_DROP_NONE, "SYN");
	CHECK(em.got_synack && flow, "SYN-ACK and a flow");
	len = headers(pkt, &c, ACK, c.isn + 1, em.iss + 1, ts_opt, sizeof(ts_opt), 0);
	CHECK_EQ(tp_stack_input_flags(pkt, len, TP_STACK_IN_CSUM_OK), TP_DROP_NONE, "ACK");
	CHECK(flow && tp_tcp_flow_state(flow) == TP_TCP_OPEN, "open");
	if (!flow) {
		tp_stack_shutdown();
		return 0;
	}

	for (const struct step *s = script; s->op != END; s++) {
		struct after *a = &after[ns++];

		em.n_step = em.acks_step = 0;
		if (s->op == CONSUME) {
			consume_all();
		} else {
			uint32_t off = s->off;
			ack_rel = em.ack - (c.isn + 1);
			if (off == UINT32_MAX)
				off = ack_rel; /* resend / go on from the acknowledged byte */
			hl = headers(pkt, &c, ACK | PSH | s->flags, c.isn + 1 + off, em.iss + 1,
			             ts_opt, sizeof(ts_opt), s->len);
			for (uint32_t i = 0; i < s->len; i++)
				pkt[hl + i] = pat(off + i);
			if (s->fresh_inorder)
				CHECK_EQ(off, ack_rel,
				         "script: an in-order step starts at the ACK");
			feed(hl + s->len, s->retx ? retx : fresh);
			if (off + s->len > hi)
				hi = off + s->len;
		}
		a->immediate = em.n_step;
		advance(300); /* delayed ACKs out */
		a->ack = em.ack - (c.isn + 1);
		a->wnd = em.wnd;
		a->delivered = consumed + (uint32_t)(flow ? tp_tcp_flow_queued(flow) : 0);
		a->acks = em.acks_step;
	}
	CHECK(!em.bad, "every emitted packet is a checksummed TCP packet without data");
	CHECK(!bad_bytes, "the owner read the stream's bytes, in order");
	CHECK(eof_seen, "FIN delivered");
	CHECK_EQ(consumed, hi, "the whole stream delivered");
	CHECK_EQ(em.ack - (c.isn + 1), hi + 1, "FIN acknowledged");
	if (fresh == H_LENT)
		lent_zero_copy = tp_stack_stats()->rx_zero_copy;
	if (flow)
		tp_tcp_flow_close(flow, true);
	tp_stack_shutdown();
	CHECK_EQ(tp_stack_mem_in_use(), 0, "lwIP pools back to zero");
	return ns;
}

static void property(int family)
{
	static struct after res[5][MAXSTEPS];
	static const enum how ways[5][2] = {{H_SPLIT, H_SPLIT},
	                                    {H_WHOLE, H_WHOLE},
	                                    {H_WHOLE, H_SPLIT},
	                                    {H_SPLIT, H_WHOLE},
	                                    {H_LENT, H_LENT}};
	const char *fam = family == AF_INET ? "v4" : "v6";
	int n[5];

	make_script(family);
	for (int w = 0; w < 5; w++)
		n[w] = run(family, ways[w][0], ways[w][1], res[w]);
	CHECK(n[0] > 20, "script ran (%d steps)", n[0]);
	CHECK(lent_zero_copy > 10, "lent buffer: %llu segments taken without a copy",
	      (unsigned long long)lent_zero_copy);
	for (int w = 1; w < 5; w++) {
		CHECK_EQ(n[w], n[0], "steps");
		for (int i = 0; i < n[0] && i < n[w]; i++) {
			const struct after *x = &res[0][i], *y = &res[w][i];
			CHECK(x->ack == y->ack && x->wnd == y->wnd && x->delivered == y->delivered,
			      "%s step %d: split/split ack %u wnd %u delivered %u, %s/%s ack %u "
			      "wnd %u delivered %u",
			      fam, i, x->ack, x->wnd, x->delivered, how_name[ways[w][0]],
			      how_name[ways[w][1]], y->ack, y->wnd, y->delivered);
		}
	}
	OK("%s: whole, split and mixed feeding (retransmissions the other way) leave the same "
	   "ACK, window and bytes after each of %d steps",
	   fam, n[0]);

	/* whole: every in-order super-packet into an open window is ACKed
	 * at once, by one ACK; never more ACKs than split feeding */
	int acks_whole = 0, acks_split = 0;
	for (int i = 0; i < n[1]; i++) {
		const struct step *s = &script[i];
		acks_whole += res[1][i].acks;
		acks_split += res[0][i].acks;
		if (s->op == SEND && s->fresh_inorder && s->len > gso) {
			CHECK(res[1][i].immediate == 1 && res[1][i].acks == 1,
			      "%s step %d (%u bytes in order): %d packets before any timer, %d "
			      "new ACKs",
			      fam, i, s->len, res[1][i].immediate, res[1][i].acks);
		}
		CHECK(res[1][i].acks <= res[0][i].acks, "%s step %d: whole %d ACKs, split %d", fam,
		      i, res[1][i].acks, res[0][i].acks);
	}
	OK("%s: fed whole, each in-order super-packet is ACKed at once by one ACK (%d new ACKs "
	   "in all, split %d)",
	   fam, acks_whole, acks_split);
}

TP_TEST(whole_vs_split_v4)
{
	property(AF_INET);
}

TP_TEST(whole_vs_split_v6)
{
	property(AF_INET6);
}

/* Connect a client (MSS 1460, window scaling, no timestamps) to a fresh
 * stack; returns with `flow` open. */
static void open_plain(struct client *c)
{
	static struct tp_cidr own;
	struct tp_stack_cfg cfg = {.mtu = 1500,
	                           .max_flows = 4,
	                           .own = &own,
	                           .n_own = 1,
	                           .output = cap_output,
	                           .tcp_syn = on_syn};
	static const uint8_t syn_opt[8] = {2, 4, MSS >> 8, MSS & 0xff, 1, 3, 3, 7};
	size_t len;

	memset(&em, 0, sizeof(em));
	flow = NULL;
	consumed = 0;
	bad_bytes = false;
	tp_stack_set_now(now);
	CHECK_EQ(tp_stack_init(&cfg), 0, "tp_stack_init");
	len = headers(pkt, c, SYN, c->isn, 0, syn_opt, sizeof(syn_opt), 0);
	tp_stack_input_flags(pkt, len, TP_STACK_IN_CSUM_OK);
	len = headers(pkt, c, ACK, c->isn + 1, em.iss + 1, NULL, 0, 0);
	tp_stack_input_flags(pkt, len, TP_STACK_IN_CSUM_OK);
	CHECK(flow != NULL, "open");
}

static void close_plain(void)
{
	if (flow)
		tp_tcp_flow_close(flow, true);
	tp_stack_shutdown();
	CHECK_EQ(tp_stack_mem_in_use(), 0, "lwIP pools back to zero");
}

/* An IPv4 segment of 65535 bytes, the most a pbuf holds, goes in whole and
 * is ACKed at once. */
TP_TEST(largest_segment)
{
	struct client c = {.family = AF_INET, .isn = 100};
	const uint32_t n = 65535 - 40;
	size_t hl, mem0;

	inet_pton(AF_INET, "198.18.0.1", c.src);
	inet_pton(AF_INET, "198.19.1.1", c.dst);
	open_plain(&c);
	mem0 = tp_stack_mem_in_use();
	hl = headers(pkt, &c, ACK, c.isn + 1, em.iss + 1, NULL, 0, n);
	for (uint32_t i = 0; i < n; i++)
		pkt[hl + i] = pat(i);
	em.n_step = 0;
	CHECK_EQ(tp_stack_input_flags(pkt, 65535, TP_STACK_IN_CSUM_OK), TP_DROP_NONE,
	         "65535 bytes taken");
	CHECK_EQ(em.n_step, 1, "ACKed at once");
	CHECK_EQ(em.ack, c.isn + 1 + n, "all of it acknowledged");
	CHECK(tp_stack_mem_in_use() >= mem0 + n, "held while queued: %zu", tp_stack_mem_in_use());
	consume_all();
	CHECK(consumed == n && !bad_bytes, "delivered intact (%u)", consumed);
	CHECK_EQ(tp_stack_mem_in_use(), mem0, "memory in use back to before once consumed");
	/* again: the kept buffer is reused, and counted the same way */
	hl = headers(pkt, &c, ACK, c.isn + 1 + n, em.iss + 1, NULL, 0, n);
	for (uint32_t i = 0; i < n; i++)
		pkt[hl + i] = pat(n + i);
	CHECK_EQ(tp_stack_input_flags(pkt, 65535, TP_STACK_IN_CSUM_OK), TP_DROP_NONE,
	         "a second one taken");
	CHECK_EQ(em.ack, c.isn + 1 + 2 * n, "and acknowledged");
	consume_all();
	CHECK(consumed == 2 * n && !bad_bytes, "delivered intact (%u)", consumed);
	CHECK_EQ(tp_stack_mem_in_use(), mem0, "memory in use back to before");
	close_plain();
	OK("a 65535-byte IPv4 segment is taken whole and ACKed at once, twice");
}

/* An IPv6 UDP fragment whose payload length says 65500 (65540 bytes in
 * all, which a read buffer can hold) is longer than any pbuf: refused and
 * counted, never truncated into a short pbuf (before: a 4-byte pbuf and a
 * 65540-byte copy into it). */
TP_TEST(oversize_fragment)
{
	static uint8_t b[65540];
	struct client c = {.family = AF_INET6, .isn = 100};
	uint64_t before;

	inet_pton(AF_INET6, "fd00:18::1", c.src);
	inet_pton(AF_INET6, "fd00:19::1", c.dst);
	open_plain(&c);
	memset(b, 0x5a, sizeof(b));
	b[0] = 0x60;
	b[4] = 0xff; /* payload length 65500 */
	b[5] = 0xdc;
	b[6] = 44; /* fragment header */
	b[7] = 64;
	memcpy(b + 8, c.src, 16);
	memcpy(b + 24, c.dst, 16);
	b[40] = IPPROTO_UDP;
	b[41] = 0;
	b[42] = 0x00; /* offset 8 (in 8-byte units: 1), last fragment */
	b[43] = 0x08;
	memset(b + 44, 0x12, 4); /* identification */
	before = tp_stack_stats()->drops[TP_DROP_TOTAL_LEN];
	em.n_step = 0;
	CHECK_EQ(tp_stack_input_flags(b, sizeof(b), 0), TP_DROP_TOTAL_LEN, "65540 bytes refused");
	CHECK_EQ(tp_stack_stats()->drops[TP_DROP_TOTAL_LEN], before + 1, "counted");
	CHECK_EQ(em.n_step, 0, "nothing answered");
	close_plain();
	OK("an IPv6 fragment of 65540 bytes is refused as total_len, not truncated");
}
