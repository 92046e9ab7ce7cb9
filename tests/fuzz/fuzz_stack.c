/* SPDX-License-Identifier: MIT */
/* libFuzzer target: whole TCP packets into the real stack, through
 * tp_stack_input (tp_pkt_parse, the held-SYN table, lwIP) and straight into
 * lwIP's IP input, with an owner that holds, accepts (at once, later, or
 * deferred from inside an lwIP callback) and rejects SYNs, reads, writes,
 * half-closes and closes, and a fake clock that runs lwIP's timers. Input
 * format: fuzz_stack.h. The stack is brought up for every input and shut
 * down after it, so pools never fill.
 *
 * Invariants (abort on violation):
 *  - nothing is read outside a packet: each input packet is an exact-size
 *    heap block, and (ASan builds) the alignment padding lwIP's pbufs have
 *    after the packet is poisoned, here for direct input and in stack.c;
 *  - a segment built here with a malformed option layout (checked by a
 *    reference walker written apart from tp_pkt_parse's) is dropped as
 *    tcp_options; a well-formed one with a spoiled checksum as l4_csum;
 *    any other is taken (TP_DROP_NONE); the tcp_options counter equals the
 *    number of such drops;
 *  - every packet the stack emits parses (checksums verified unless partial
 *    checksums were asked for; a RST from a refused loopback address is
 *    fine);
 *  - the bytes the owner reads are contiguous in sequence space, as the
 *    client sent them (payload byte = low byte of its sequence number),
 *    unless an FS_RAW packet may have forged some or the client put SYN on
 *    a later segment (lwIP counts that SYN after the segment's data, as a
 *    FIN, where the client's sequence numbers put it before);
 *  - after tp_stack_shutdown every lwIP pool and the heap are back to zero.
 * FUZZ_STACK_TRACE=1 in the environment prints what each input did. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"
#include "tunplug/offload.h"
#include "lwip/pbuf.h"

#include "fuzz_stack.h"
#include "tunplug/packet.h"
#include "tunplug/stack.h"

#if defined(__SANITIZE_ADDRESS__)
#define FS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FS_ASAN 1
#endif
#endif
#ifdef FS_ASAN
#include <sanitizer/asan_interface.h>
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NPEERS 4
#define NSLOTS 8
#define MAX_PKT 1600

struct peer {
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t isn;     /* of the current connection */
	uint32_t snd_nxt; /* next sequence number the client sends */
	uint32_t rcv_nxt; /* after the last byte/SYN/FIN seen from the gateway */
	uint16_t nconn;
};

struct slot {
	struct tp_tcp_flow *f;
	int peer;        /* -1: not one of the peers' tuples */
	bool rx_started; /* a byte was read: rx_next is known */
	bool unchecked;  /* its client sent SYN on a later segment: bytes not checked */
	uint8_t rx_next; /* low byte of the next byte's sequence number */
};

static struct {
	const uint8_t *in;
	size_t len, pos;
	unsigned policy;
	bool partial;
	bool tso;
	bool forged;                        /* an FS_RAW packet ran: data may not be the peers' */
	uint32_t cur_seq;                   /* seq of the segment being input (for tcp_syn) */
	uint64_t opt_drops;                 /* tcp_options returned by tp_stack_input */
	unsigned n_est, n_closed, n_direct; /* for FUZZ_STACK_TRACE */
	int trace;                          /* FUZZ_STACK_TRACE: 1 per input, 2 per op */
	size_t bytes_read;
	struct peer peers[NPEERS];
	struct slot slots[NSLOTS];
	uint8_t sendbuf[65535];
} G;

static uint32_t now = 1000;

static uint8_t u8(void)
{
	return G.pos < G.len ? G.in[G.pos++] : 0;
}

static uint16_t u16(void)
{
	uint16_t v = (uint16_t)(u8() << 8);
	return (uint16_t)(v | u8());
}

static uint32_t u32(void)
{
	uint32_t v = (uint32_t)u16() << 16;
	return v | u16();
}

static bool seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* ---- the reference option walker (RFC 9293 3.1, RFC 2018, RFC 7323) ---- */
static bool ref_options_ok(const uint8_t *o, size_t n)
{
	static const uint8_t exact[256] = {[2] = 4, [3] = 3, [4] = 2, [8] = 10};
	size_t i = 0;

	while (i < n && o[i] != 0) {
		size_t len;

		if (o[i] == 1) {
			i += 1;
			continue;
		}
		if (i + 1 == n)
			return false;
		len = o[i + 1];
		if (len < 2 || i + len > n)
			return false;
		if (exact[o[i]] && len != exact[o[i]])
			return false;
		if (o[i] == 5 && (len < 10 || (len - 2) % 8))
			return false;
		i += len;
	}
	return true;
}

/* ---- the owner ---- */
static int slot_of(const struct tp_tcp_flow *f)
{
	for (int i = 0; i < NSLOTS; i++)
		if (G.slots[i].f == f)
			return i;
	return -1;
}

static void accept_pending_deferred(void)
{
	for (int i = 0; i < NSLOTS; i++)
		if (G.slots[i].f && tp_tcp_flow_state(G.slots[i].f) == TP_TCP_PENDING)
			tp_tcp_flow_accept(G.slots[i].f); /* inside lwIP: deferred */
}

static void ev_cb(struct tp_tcp_flow *f, void *ud)
{
	(void)f;
	(void)ud;
	if (G.policy == FS_HOLD_DEFER)
		accept_pending_deferred();
}

static void ev_established(struct tp_tcp_flow *f, void *ud)
{
	G.n_est++;
	ev_cb(f, ud);
}

static void ev_closed(struct tp_tcp_flow *f, void *ud, int err)
{
	int s = slot_of(f);

	(void)ud;
	G.n_closed++;
	if (G.trace > 1)
		fprintf(stderr, "  closed slot %d err %d\n", s, err);
	if (s < 0 || err > 0)
		abort(); /* closed for a flow the owner never had, or a bad err */
	G.slots[s].f = NULL;
}

static const struct tp_tcp_events events = {
        .established = ev_established,
        .readable = ev_cb,
        .eof = ev_cb,
        .writable = ev_cb,
        .closed = ev_closed,
};

static bool ep_is(const struct tp_endpoint *e, const uint8_t *addr, uint16_t port, int family)
{
	return e->family == family && e->port == port &&
	       !memcmp(e->addr, addr, family == AF_INET ? 4 : 16);
}

static void on_syn(void *ctx, struct tp_tcp_flow *f)
{
	int s = slot_of(NULL);

	(void)ctx;
	if (tp_tcp_flow_state(f) != TP_TCP_PENDING)
		abort();
	if (s < 0) { /* no room for more: refuse */
		tp_tcp_flow_reject(f, -ECONNREFUSED);
		return;
	}
	G.slots[s].f = f;
	G.slots[s].peer = -1;
	for (int p = 0; p < NPEERS; p++) {
		struct peer *pe = &G.peers[p];
		if (ep_is(tp_tcp_flow_src(f), pe->src, pe->sport, pe->family) &&
		    ep_is(tp_tcp_flow_dst(f), pe->dst, pe->dport, pe->family)) {
			G.slots[s].peer = p;
			G.slots[s].rx_started = false;
			G.slots[s].unchecked = false;
		}
	}
	tp_tcp_flow_set_events(f, &events, NULL);
	if (G.policy == FS_ACCEPT_NOW) {
		tp_tcp_flow_accept(f);
	} else if (G.policy == FS_REJECT_NOW) {
		G.slots[s].f = NULL;
		tp_tcp_flow_reject(f, -ECONNREFUSED);
	}
}

/* ---- what the stack emits ---- */
static int on_output(void *ctx, const void *buf, size_t len);

/* A TCP super-segment (lwIP patch 0012): more data than gso_size, at most
 * 65535 bytes, a TCP packet the kernel's TSO would split; its segments then
 * go through on_output. */
static int on_output_gso(void *ctx, const void *buf, size_t len, unsigned gso_size)
{
	static uint8_t segbuf[65535 + 1400 * 120];
	static struct tp_seg segs[1400];
	const uint8_t *b = buf;
	size_t iphl = (b[0] >> 4) == 4 ? 20 : 40, thl;
	struct tp_vnet_hdr h = {
	        .flags = TP_VNET_F_NEEDS_CSUM,
	        .gso_type = iphl == 20 ? TP_GSO_TCPV4 : TP_GSO_TCPV6,
	        .gso_size = (uint16_t)gso_size,
	        .csum_start = (uint16_t)iphl,
	        .csum_offset = 16,
	};
	enum tp_drop why;
	int k;

	if (!G.tso || gso_size == 0 || gso_size > 0xffff || len > 65535 || len < iphl + 20)
		abort();
	thl = (size_t)(b[iphl + 12] >> 4) * 4;
	if (len < iphl + thl || len - iphl - thl <= gso_size)
		abort(); /* no more than one wire segment's worth */
	k = tp_gso_split(buf, len, &h, 0, segbuf, sizeof(segbuf), segs, 1400, &why);
	if (k < 2)
		abort(); /* the kernel would refuse it */
	for (int i = 0; i < k; i++)
		on_output(ctx, segs[i].data, segs[i].len);
	return 0;
}

static int on_output(void *ctx, const void *buf, size_t len)
{
	struct tp_pkt pk;
	enum tp_drop r;

	(void)ctx;
	r = tp_pkt_parse(buf, len, G.partial ? 0 : TP_PKT_VERIFY_CSUM, &pk);
	if (r == TP_DROP_BAD_ADDR)
		return 0; /* a RST from a loopback destination it refused */
	if (r != TP_DROP_NONE) {
		fprintf(stderr,
		        "fuzz_stack: emitted a packet that does not parse (%s):", tp_drop_name(r));
		for (size_t i = 0; i < len && i < 80; i++)
			fprintf(stderr, " %02x", ((const uint8_t *)buf)[i]);
		fprintf(stderr, "\n");
		abort();
	}
	if (pk.proto != IPPROTO_TCP)
		return 0;
	for (int p = 0; p < NPEERS; p++) {
		struct peer *pe = &G.peers[p];
		size_t alen = pe->family == AF_INET ? 4 : 16;
		uint32_t end;

		if (pk.family != pe->family || pk.sport != pe->dport || pk.dport != pe->sport ||
		    memcmp(pk.src, pe->dst, alen) || memcmp(pk.dst, pe->src, alen))
			continue;
		end = pk.seq + (uint32_t)(pk.len - pk.data_off) + !!(pk.tcp_flags & 0x02) +
		      !!(pk.tcp_flags & 0x01);
		if ((pk.tcp_flags & 0x02) || seq_after(end, pe->rcv_nxt))
			pe->rcv_nxt = end;
	}
	return 0;
}

/* ---- input ---- */
/* Straight into lwIP, as stack.c's lwip_input does but without
 * tp_pkt_parse or the held-SYN table in front. */
static void direct_input(const uint8_t *b, size_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);

	G.n_direct++;
	if (!p)
		return;
	memcpy(p->payload, b, len);
#ifdef FS_ASAN
	ASAN_POISON_MEMORY_REGION((uint8_t *)p->payload + len, LWIP_MEM_ALIGN_SIZE(len) - len);
#endif
	if (netif_default->input(p, netif_default) != ERR_OK)
		pbuf_free(p);
}

/* tp_stack_input_flags on an exact-size heap copy. */
static enum tp_drop stack_input(const uint8_t *b, size_t len, unsigned flags)
{
	uint8_t *c = malloc(len ? len : 1);
	enum tp_drop r;

	if (!c)
		abort();
	memcpy(c, b, len);
	r = tp_stack_input_flags(c, len, flags);
	free(c);
	if ((unsigned)r >= TP_DROP__COUNT)
		abort();
	if (r == TP_DROP_TCP_OPTIONS)
		G.opt_drops++;
	return r;
}

/* Options as the input gives them: n, then (n % 11) * 4 bytes. */
static size_t read_options(uint8_t *o)
{
	size_t n = (size_t)(u8() % 11) * 4;

	for (size_t i = 0; i < n; i++)
		o[i] = u8();
	return n;
}

/* Build and send one segment of peer pe. */
static void send_seg(struct peer *pe, uint8_t flags, uint8_t mode, uint32_t seq, uint32_t ack,
                     uint16_t win, const uint8_t *opt, size_t optlen, size_t paylen)
{
	static uint8_t b[MAX_PKT];
	size_t ipl = pe->family == AF_INET ? 20 : 40, thl = 20 + optlen;
	size_t tot = ipl + thl + paylen;
	uint8_t *t = b + ipl;
	uint32_t sum;
	enum tp_drop r;

	memset(b, 0, ipl + thl);
	if (pe->family == AF_INET) {
		b[0] = 0x45;
		b[2] = (uint8_t)(tot >> 8);
		b[3] = (uint8_t)tot;
		b[6] = 0x40;
		b[8] = 64;
		b[9] = IPPROTO_TCP;
		memcpy(b + 12, pe->src, 4);
		memcpy(b + 16, pe->dst, 4);
		uint16_t c = tp_csum_finish(tp_csum_add(0, b, 20));
		b[10] = (uint8_t)(c >> 8);
		b[11] = (uint8_t)c;
	} else {
		b[0] = 0x60;
		b[4] = (uint8_t)((thl + paylen) >> 8);
		b[5] = (uint8_t)(thl + paylen);
		b[6] = IPPROTO_TCP;
		b[7] = 64;
		memcpy(b + 8, pe->src, 16);
		memcpy(b + 24, pe->dst, 16);
	}
	t[0] = (uint8_t)(pe->sport >> 8);
	t[1] = (uint8_t)pe->sport;
	t[2] = (uint8_t)(pe->dport >> 8);
	t[3] = (uint8_t)pe->dport;
	for (int i = 0; i < 4; i++) {
		t[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		t[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	t[12] = (uint8_t)(thl / 4 << 4);
	t[13] = flags;
	t[14] = (uint8_t)(win >> 8);
	t[15] = (uint8_t)win;
	memcpy(t + 20, opt, optlen);
	for (size_t i = 0; i < paylen; i++)
		t[thl + i] = (uint8_t)(seq + i); /* the byte's sequence number */
	sum = tp_csum_pseudo(pe->family, pe->src, pe->dst, IPPROTO_TCP, (uint32_t)(thl + paylen));
	uint16_t c = tp_csum_finish(tp_csum_add(sum, t, thl + paylen));
	if (mode & FS_M_BAD_CSUM)
		c ^= 0x0101; /* never congruent to c modulo 0xffff */
	t[16] = (uint8_t)(c >> 8);
	t[17] = (uint8_t)c;

	G.cur_seq = seq;
	if (G.trace > 1)
		fprintf(stderr,
		        "  peer %u:%u flags %#x mode %#x seq %u ack %u win %u opts %zu data %zu\n",
		        (unsigned)pe->family, (unsigned)pe->sport, flags, mode, seq, ack, win,
		        optlen, paylen);
	if (mode & FS_M_DIRECT) {
		direct_input(b, tot);
		return;
	}
	r = stack_input(b, tot, (mode & FS_M_CSUM_OK) ? TP_STACK_IN_CSUM_OK : 0);
	if (!ref_options_ok(opt, optlen)) {
		if (r != TP_DROP_TCP_OPTIONS)
			abort(); /* a malformed option layout got through */
	} else if ((mode & (FS_M_BAD_CSUM | FS_M_CSUM_OK)) == FS_M_BAD_CSUM) {
		if (r != TP_DROP_L4_CSUM)
			abort();
	} else if (r != TP_DROP_NONE) {
		abort(); /* a well-formed segment refused */
	}
}

static void op_syn(int p)
{
	struct peer *pe = &G.peers[p];
	uint8_t opt[40], mode;
	size_t n;

	pe->isn = u32();
	mode = u8();
	n = read_options(opt);
	pe->nconn++;
	pe->sport = (uint16_t)(40000 + p * 1000 + pe->nconn % 1000);
	pe->snd_nxt = pe->isn + 1;
	pe->rcv_nxt = 0;
	send_seg(pe, 0x02, mode, pe->isn, 0, 65535, opt, n, 0);
}

static void op_seg(int p)
{
	struct peer *pe = &G.peers[p];
	uint8_t flags = u8(), mode = u8(), opt[40];
	uint32_t seq, ack;
	uint16_t win;
	size_t n, paylen;

	seq = (mode & FS_M_SEQ_RAW) ? u32() : pe->snd_nxt + (uint32_t)(int32_t)(int16_t)u16();
	ack = (mode & FS_M_ACK_RAW) ? u32() : pe->rcv_nxt + (uint32_t)(int32_t)(int16_t)u16();
	win = u16();
	n = read_options(opt);
	paylen = u8();
	send_seg(pe, flags, mode, seq, ack, win, opt, n, paylen);
	if (flags & 0x02) /* lwIP puts a SYN after the data, as a FIN */
		for (int i = 0; i < NSLOTS; i++)
			if (G.slots[i].f && G.slots[i].peer == p)
				G.slots[i].unchecked = true;
	if (seq == pe->snd_nxt && !(flags & 0x04))
		pe->snd_nxt += (uint32_t)paylen + !!(flags & 0x02) + !!(flags & 0x01);
}

static void op_raw(unsigned a)
{
	size_t n = u16(), left = G.len - G.pos;

	if (n > left)
		n = left;
	G.forged = true;
	G.cur_seq = 0;
	stack_input(G.in + G.pos, n, (a & 1) ? TP_STACK_IN_CSUM_OK : 0);
	G.pos += n;
}

/* Read what is queued (up to max bytes; 0 = all), checking the bytes. */
static void op_consume(struct slot *s, size_t max)
{
	struct iovec iov[64];
	size_t want = tp_tcp_flow_queued(s->f), done = 0;
	bool check = s->peer >= 0 && !G.forged && !s->unchecked;
	int n;

	if (max && want > max)
		want = max;
	n = tp_tcp_flow_peek(s->f, iov, 64);
	for (int i = 0; i < n && done < want; i++) {
		const uint8_t *d = iov[i].iov_base;
		size_t k = iov[i].iov_len < want - done ? iov[i].iov_len : want - done;

		for (size_t j = 0; check && j < k; j++) {
			uint8_t off = (uint8_t)(done + j);
			if (!s->rx_started) { /* the first byte read sets the start */
				s->rx_next = (uint8_t)(d[j] - off);
				s->rx_started = true;
			} else if (d[j] != (uint8_t)(s->rx_next + off)) {
				abort(); /* a gap, a repeat or a reordering */
			}
		}
		done += k;
	}
	tp_tcp_flow_consume(s->f, done);
	s->rx_next = (uint8_t)(s->rx_next + done);
	G.bytes_read += done;
}

static void advance(uint32_t ms)
{
	for (uint32_t t = 0; t < ms; t += 50) {
		now += ms - t < 50 ? ms - t : 50;
		tp_stack_set_now(now);
		tp_stack_poll();
	}
}

static void run_op(void)
{
	uint8_t b = u8();
	unsigned op = (b & 0x0f) % FS_OP__COUNT, a = b >> 4;
	struct slot *s = &G.slots[a & 7];

	if (G.trace > 1)
		fprintf(stderr, "op %u arg %u (slot %u: %s)\n", op, a, a & 7,
		        !s->f                                       ? "empty"
		        : tp_tcp_flow_state(s->f) == TP_TCP_PENDING ? "pending"
		                                                    : "accepting/open");
	switch (op) {
	case FS_SYN:
		op_syn((int)(a & 3));
		break;
	case FS_SEG:
		op_seg((int)(a & 3));
		break;
	case FS_RAW:
		op_raw(a);
		break;
	case FS_ACCEPT:
		if (s->f)
			tp_tcp_flow_accept(s->f);
		break;
	case FS_REJECT:
		if (s->f && tp_tcp_flow_state(s->f) == TP_TCP_PENDING) {
			struct tp_tcp_flow *f = s->f;
			s->f = NULL; /* freed without closed */
			tp_tcp_flow_reject(f, -ECONNREFUSED);
		}
		break;
	case FS_TIME:
		advance(((uint32_t)u8() + 1) * 40);
		break;
	case FS_CONSUME: {
		size_t max = (size_t)u8() * 64;
		if (s->f)
			op_consume(s, max);
		break;
	}
	case FS_SEND: {
		size_t n = u16();
		if (s->f) {
			long w = tp_tcp_flow_send(s->f, G.sendbuf, n, (a & 8) != 0);
			if (w > (long)n)
				abort();
		}
		break;
	}
	case FS_SHUTDOWN:
		if (s->f)
			tp_tcp_flow_shutdown(s->f);
		break;
	case FS_CLOSE:
		if (s->f)
			tp_tcp_flow_close(s->f, (a & 8) != 0); /* closed clears the slot */
		break;
	case FS_POLL:
		tp_stack_set_now(now);
		tp_stack_poll();
		break;
	default:
		break;
	}
}

static void peers_init(void)
{
	for (int p = 0; p < NPEERS; p++) {
		struct peer *pe = &G.peers[p];
		memset(pe, 0, sizeof(*pe));
		pe->family = (p & 1) ? AF_INET6 : AF_INET;
		if (pe->family == AF_INET) {
			inet_pton(AF_INET, "198.18.0.1", pe->src);
			memcpy(pe->dst, (uint8_t[4]){198, 19, 1, (uint8_t)(1 + p)}, 4);
		} else {
			inet_pton(AF_INET6, "fd00:18::1", pe->src);
			inet_pton(AF_INET6, "fd00:19::1", pe->dst);
			pe->dst[15] = (uint8_t)(1 + p);
		}
		pe->dport = (uint16_t)(80 + p);
		pe->sport = (uint16_t)(40000 + p * 1000);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tp_stack_cfg cfg;
	uint8_t c;

	memset(&G.slots, 0, sizeof(G.slots));
	G.in = data;
	G.len = size;
	G.pos = 0;
	G.forged = false;
	G.opt_drops = 0;
	G.n_est = G.n_closed = G.n_direct = 0;
	G.trace = getenv("FUZZ_STACK_TRACE") ? atoi(getenv("FUZZ_STACK_TRACE")) : 0;
	G.bytes_read = 0;
	c = u8();
	G.policy = c & 3;
	G.partial = (c & FS_CSUM_PARTIAL) != 0;
	G.tso = G.partial && (c & FS_TSO);
	if (!G.sendbuf[1])
		for (size_t i = 0; i < sizeof(G.sendbuf); i++)
			G.sendbuf[i] = (uint8_t)(i * 7 + 1);
	peers_init();

	memset(&cfg, 0, sizeof(cfg));
	cfg.mtu = 1500;
	cfg.max_flows = 1u + (c >> 4);
	cfg.output = on_output;
	cfg.tcp_syn = on_syn;
	cfg.tcp_csum_partial = G.partial;
	if (G.tso)
		cfg.output_gso = on_output_gso;
	tp_stack_set_now(now);
	if (tp_stack_init(&cfg) != 0)
		abort();
	while (G.pos < G.len) {
		run_op();
		/* send queues consistent (patch 0012's checker) */
		for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
			if (tcp_tunplug_check_sendq(pcb)) {
				fprintf(stderr, "fuzz_stack: %s\n", tcp_tunplug_check_sendq(pcb));
				abort();
			}
	}
	if (tp_stack_stats()->drops[TP_DROP_TCP_OPTIONS] != G.opt_drops)
		abort(); /* every tcp_options drop counted, once */
	if (G.trace) {
		const struct tp_stack_stats *st = tp_stack_stats();
		fprintf(stderr,
		        "fuzz_stack: held %llu, opened %llu, established %u, closed %u, bytes read "
		        "%zu, packets out %llu, direct in %u, drops tcp_options %llu l4_csum %llu, "
		        "syn refused: max-flows %llu handler %llu, client resets %llu\n",
		        (unsigned long long)st->syn_held, (unsigned long long)st->tcp_flows_opened,
		        G.n_est, G.n_closed, G.bytes_read, (unsigned long long)st->pkts_out,
		        G.n_direct, (unsigned long long)st->drops[TP_DROP_TCP_OPTIONS],
		        (unsigned long long)st->drops[TP_DROP_L4_CSUM],
		        (unsigned long long)st->syn_limit, (unsigned long long)st->syn_refused,
		        (unsigned long long)st->syn_client_reset);
	}
	tp_stack_shutdown();
	for (int i = 0; i < NSLOTS; i++)
		if (G.slots[i].f)
			abort(); /* shutdown closed every flow the owner had */
	if (tp_stack_mem_in_use() != 0)
		abort(); /* lwIP pools or heap not back to zero */
	return 0;
}
