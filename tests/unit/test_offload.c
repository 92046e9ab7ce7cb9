/* SPDX-License-Identifier: MIT */
/* tun/src/offload.c: virtio_net_hdr parse/emit, GSO split (read path) and
 * GRO coalescing (write path), against packets built independently with the
 * naive checksums of pktbuild.h. Every expected packet is built from scratch
 * and compared byte for byte. Ends with a seeded property test: coalesce
 * random flows, then parse + split the merged writes -> the originals. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "pktbuild.h"
#include "tunplug/offload.h"
#include "tunplug/packet.h"

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10
#define URG 0x20
#define ECE 0x40
#define CWR 0x80

/* ---- packet builder ---- */

struct spec {
	int family;
	uint8_t proto;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win, urp;
	uint16_t id;
	uint16_t frag; /* IPv4 flags + fragment offset field */
	uint8_t ttl, tos;
	uint32_t flow; /* IPv6 flow label */
	const uint8_t *opt;
	size_t optlen; /* TCP option bytes, multiple of 4 */
	size_t ipopt;  /* IPv4 option bytes (NOPs), multiple of 4 */
	const uint8_t *pay;
	size_t plen;
};

static uint8_t pat[140000]; /* payload source: pseudo-random bytes */
static uint8_t tmp[70000];

static const uint8_t ts_opt[12] = {1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78};

static struct spec spec_tcp(int family, size_t plen)
{
	struct spec s = {.family = family,
	                 .proto = IPPROTO_TCP,
	                 .sport = 40000,
	                 .dport = 443,
	                 .seq = 0x01020304,
	                 .ack = 0x0a0b0c0d,
	                 .flags = ACK,
	                 .win = 501,
	                 .id = 0x1234,
	                 .frag = 0x4000,
	                 .ttl = 64,
	                 .pay = pat,
	                 .plen = plen};
	return s;
}

static struct spec spec_udp(int family, size_t plen)
{
	struct spec s = spec_tcp(family, plen);
	s.proto = IPPROTO_UDP;
	s.sport = 5353;
	s.dport = 53;
	return s;
}

/* The packet of s with complete, valid checksums. Returns its length. */
static size_t build(uint8_t *buf, const struct spec *s)
{
	size_t ipl = s->family == AF_INET ? 20 + s->ipopt : 40;
	size_t l4h = s->proto == IPPROTO_TCP ? 20 + s->optlen : 8;
	size_t tot = ipl + l4h + s->plen;
	uint8_t *l4 = buf + ipl;

	memset(buf, 0, ipl + l4h);
	if (s->family == AF_INET) {
		buf[0] = (uint8_t)(0x40 | ipl / 4);
		buf[1] = s->tos;
		pb_put16(buf + 2, (uint16_t)tot);
		pb_put16(buf + 4, s->id);
		pb_put16(buf + 6, s->frag);
		buf[8] = s->ttl;
		buf[9] = s->proto;
		memcpy(buf + 12, pb_src4, 4);
		memcpy(buf + 16, pb_dst4, 4);
		memset(buf + 20, 1, s->ipopt);
	} else {
		buf[0] = (uint8_t)(0x60 | s->tos >> 4);
		buf[1] = (uint8_t)(s->tos << 4 | ((s->flow >> 16) & 0xf));
		pb_put16(buf + 2, (uint16_t)s->flow);
		pb_put16(buf + 4, (uint16_t)(tot - 40));
		buf[6] = s->proto;
		buf[7] = s->ttl;
		memcpy(buf + 8, pb_src6, 16);
		memcpy(buf + 24, pb_dst6, 16);
	}
	pb_put16(l4, s->sport);
	pb_put16(l4 + 2, s->dport);
	if (s->proto == IPPROTO_TCP) {
		pb_put32(l4 + 4, s->seq);
		pb_put32(l4 + 8, s->ack);
		l4[12] = (uint8_t)(l4h / 4 << 4);
		l4[13] = s->flags;
		pb_put16(l4 + 14, s->win);
		pb_put16(l4 + 18, s->urp);
		if (s->optlen)
			memcpy(l4 + 20, s->opt, s->optlen);
	} else {
		pb_put16(l4 + 4, (uint16_t)(8 + s->plen));
	}
	if (s->plen)
		memcpy(l4 + l4h, s->pay, s->plen);
	pb_fix_ip(buf);
	pb_fix_l4(buf);
	return tot;
}

/* Insert an 8-byte hop-by-hop header (PadN) before the L4 header of an
 * IPv6 packet; the L4 checksum stays valid. Returns the new length. */
static size_t add_hbh(uint8_t *buf, size_t len)
{
	memmove(buf + 48, buf + 40, len - 40);
	buf[40] = buf[6];
	buf[41] = 0;
	buf[42] = 1; /* PadN, 4 bytes */
	buf[43] = 4;
	memset(buf + 44, 0, 4);
	buf[6] = 0;
	pb_put16(buf + 4, (uint16_t)(len + 8 - 40));
	return len + 8;
}

static size_t iphdr_len(const uint8_t *p)
{
	return (p[0] >> 4) == 4 ? (size_t)(p[0] & 15) * 4 : 40;
}

/* IP + L4 header length of a plain TCP/UDP packet. */
static size_t hdr_len(const uint8_t *p)
{
	size_t ipl = iphdr_len(p);
	uint8_t proto = (p[0] >> 4) == 4 ? p[9] : p[6];

	return ipl + (proto == IPPROTO_TCP ? (size_t)(p[ipl + 12] >> 4) * 4 : 8);
}

/* Folded, NOT complemented pseudo-header sum for an L4 length. */
static uint16_t pseudo_fold(const uint8_t *p, size_t l4len)
{
	bool v4 = (p[0] >> 4) == 4;
	uint8_t proto = v4 ? p[9] : p[6];
	uint64_t sum = pb_sum(0, p + (v4 ? 12 : 8), v4 ? 8 : 32);

	sum += proto + (l4len >> 16) + (l4len & 0xffff);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static size_t csum_field(const uint8_t *p)
{
	uint8_t proto = (p[0] >> 4) == 4 ? p[9] : p[6];
	return iphdr_len(p) + (proto == IPPROTO_TCP ? 16 : 6);
}

/* Change the first two payload bytes of a complete UDP packet so that its
 * computed checksum is 0 (stored as 0xFFFF). */
static void force_udp_zero(uint8_t *p, size_t len)
{
	size_t ipl = iphdr_len(p), l4len = len - ipl;
	uint64_t sum;
	uint16_t s;

	pb_put16(p + ipl + 8, 0);
	pb_put16(p + ipl + 6, 0);
	sum = pseudo_fold(p, l4len);
	sum = pb_sum(sum, p + ipl, l4len);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	s = (uint16_t)sum;
	pb_put16(p + ipl + 8, (uint16_t)(0xffff - s));
	pb_fix_l4(p);
}

/* Index of the first differing byte, or -1. */
static long diff_at(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return (long)i;
	return -1;
}

#define CHECK_BYTES(got, glen, want, wlen, what)                                               \
	do {                                                                                   \
		CHECK_EQ((glen), (wlen), what " length");                                      \
		if ((size_t)(glen) == (size_t)(wlen)) {                                        \
			long d_ = diff_at((got), (want), (wlen));                              \
			CHECK(d_ < 0, "%s: first difference at byte %ld (got %02x want %02x)", \
			      what, d_, d_ < 0 ? 0 : (got)[d_], d_ < 0 ? 0 : (want)[d_]);      \
		}                                                                              \
	} while (0)

/* ---- PRNG ---- */

#define RNG_SEED 0x9e3779b97f4a7c15ull
static uint64_t rng_state = RNG_SEED;

static uint32_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

/* Uniform-ish in [lo, hi]. */
static uint32_t rnd_in(uint32_t lo, uint32_t hi)
{
	return lo + rnd() % (hi - lo + 1);
}

/* ---- vnet header ---- */

TP_TEST(vnet)
{
	struct tp_vnet_hdr h = {.flags = TP_VNET_F_NEEDS_CSUM,
	                        .gso_type = TP_GSO_TCPV6,
	                        .hdr_len = 0x1234,
	                        .gso_size = 0x05b4,
	                        .csum_start = 0x0028,
	                        .csum_offset = 0x0010},
	                   p;
	static const uint8_t want[TP_VNET_HDR_LEN] = {0x01, 0x04, 0x34, 0x12, 0xb4,
	                                              0x05, 0x28, 0x00, 0x10, 0x00};
	uint8_t buf[TP_VNET_HDR_LEN + 2];
	uint8_t *heap;

	memset(buf, 0xee, sizeof(buf));
	tp_vnet_emit(buf, &h);
	CHECK(memcmp(buf, want, TP_VNET_HDR_LEN) == 0, "emit: little-endian layout");
	CHECK(buf[10] == 0xee && buf[11] == 0xee, "emit wrote past 10 bytes");
	memset(&p, 0xaa, sizeof(p));
	CHECK_EQ(tp_vnet_parse(buf, TP_VNET_HDR_LEN, &p), 0, "parse 10 bytes");
	CHECK_EQ(p.flags, h.flags, "flags");
	CHECK_EQ(p.gso_type, h.gso_type, "gso_type");
	CHECK_EQ(p.hdr_len, h.hdr_len, "hdr_len");
	CHECK_EQ(p.gso_size, h.gso_size, "gso_size");
	CHECK_EQ(p.csum_start, h.csum_start, "csum_start");
	CHECK_EQ(p.csum_offset, h.csum_offset, "csum_offset");
	OK("vnet: emit writes exactly 10 little-endian bytes; parse gives the fields back");

	for (int i = 0; i < 200; i++) {
		uint8_t b2[TP_VNET_HDR_LEN];
		struct tp_vnet_hdr r = {(uint8_t)rnd(),  (uint8_t)rnd(),  (uint16_t)rnd(),
		                        (uint16_t)rnd(), (uint16_t)rnd(), (uint16_t)rnd()};
		tp_vnet_emit(b2, &r);
		heap = malloc(TP_VNET_HDR_LEN); /* exact size: ASan sees any overread */
		memcpy(heap, b2, TP_VNET_HDR_LEN);
		CHECK_EQ(tp_vnet_parse(heap, TP_VNET_HDR_LEN, &p), 0, "parse");
		CHECK(memcmp(&p, &r, sizeof(p)) == 0, "round trip %d", i);
		free(heap);
	}
	OK("vnet: 200 random headers round-trip emit -> parse");

	for (size_t n = 0; n < TP_VNET_HDR_LEN; n++)
		CHECK_EQ(tp_vnet_parse(buf, n, &p), -EINVAL, "short parse");
	OK("vnet: parse of 0..9 bytes -> -EINVAL");
}

/* ---- GSO split ---- */

static struct split_res {
	uint8_t *out;
	struct tp_seg segs[300];
	int n;
	enum tp_drop why;
} sr;

/* Split a heap copy of exactly len bytes into a heap buffer of exactly cap
 * bytes, so ASan catches reads or writes outside. Results in sr. */
static int split(const uint8_t *pkt, size_t len, const struct tp_vnet_hdr *h, unsigned flags,
                 size_t cap, int max)
{
	uint8_t *in = malloc(len ? len : 1);

	free(sr.out);
	sr.out = malloc(cap ? cap : 1);
	memcpy(in, pkt, len);
	memset(sr.segs, 0, sizeof(sr.segs));
	sr.why = (enum tp_drop) - 1;
	sr.n = tp_gso_split(in, len, h, flags, sr.out, cap, sr.segs, max, &sr.why);
	free(in);
	return sr.n;
}

/* A kernel-style super-packet of s: NEEDS_CSUM, the partial (pseudo-header
 * sum over the whole length) in the checksum field, hdr_len a lie. */
static size_t build_super(uint8_t *buf, const struct spec *s, uint8_t type, uint16_t gso,
                          struct tp_vnet_hdr *vh)
{
	size_t len = build(buf, s), ipl = iphdr_len(buf);

	pb_put16(buf + csum_field(buf), pseudo_fold(buf, len - ipl));
	*vh = (struct tp_vnet_hdr){.flags = TP_VNET_F_NEEDS_CSUM,
	                           .gso_type = type,
	                           .hdr_len = (uint16_t)len, /* like the FORWARD path */
	                           .gso_size = gso,
	                           .csum_start = (uint16_t)ipl,
	                           .csum_offset = s->proto == IPPROTO_TCP ? 16 : 6};
	return len;
}

/* Segment i of super-packet s split at mss, built from scratch. */
static size_t expected_seg(uint8_t *buf, const struct spec *s, size_t mss, size_t i, size_t n)
{
	struct spec e = *s;

	e.pay = s->pay + i * mss;
	e.plen = i + 1 < n ? mss : s->plen - i * mss;
	e.id = (uint16_t)(s->id + i);
	if (s->proto == IPPROTO_TCP) {
		e.seq = s->seq + (uint32_t)(i * mss);
		if (i + 1 < n)
			e.flags &= (uint8_t) ~(FIN | PSH);
		if (i > 0)
			e.flags &= (uint8_t)~CWR;
	}
	return build(buf, &e);
}

/* Split super-packet s (type, mss) and compare every segment with the one
 * built from scratch; with FILL_CSUM byte for byte and tp_pkt_parse-valid,
 * without it every byte but the L4 checksum. */
static void check_split(const struct spec *s, uint8_t type, size_t mss, const char *what)
{
	static uint8_t sup[70000], want[70000];
	struct tp_vnet_hdr vh;
	size_t len = build_super(sup, s, type, (uint16_t)mss, &vh);
	size_t n = s->plen ? (s->plen + mss - 1) / mss : 1, hl = hdr_len(sup), off = 0;

	for (int fill = 1; fill >= 0; fill--) {
		int r = split(sup, len, &vh, fill ? TP_SPLIT_FILL_CSUM : 0, n * hl + s->plen,
		              (int)n);
		CHECK_EQ(r, (int)n, what);
		CHECK_EQ(sr.why, TP_DROP_NONE, "why");
		if (r != (int)n)
			return;
		off = 0;
		for (size_t i = 0; i < n; i++) {
			size_t wl = expected_seg(want, s, mss, i, n);
			struct tp_pkt pp;
			CHECK(sr.segs[i].data == sr.out + off, "%s: segment %zu not back to back",
			      what, i);
			off += sr.segs[i].len;
			if (fill) {
				CHECK_BYTES(sr.segs[i].data, sr.segs[i].len, want, wl, "segment");
				/* tp_pkt_parse refuses IPv4 options: fix a copy without them */
				if (s->ipopt) {
					uint8_t *c = tmp;
					size_t o = s->ipopt;
					memcpy(c, sr.segs[i].data, 20);
					memcpy(c + 20, sr.segs[i].data + 20 + o,
					       sr.segs[i].len - 20 - o);
					c[0] = 0x45;
					pb_put16(c + 2, (uint16_t)(sr.segs[i].len - o));
					pb_fix_ip(c);
					CHECK_EQ(tp_pkt_parse(c, sr.segs[i].len - o,
					                      TP_PKT_VERIFY_CSUM, &pp),
					         TP_DROP_NONE,
					         "segment (options removed) parses with full "
					         "checksum");
				} else {
					CHECK_EQ(tp_pkt_parse(sr.segs[i].data, sr.segs[i].len,
					                      TP_PKT_VERIFY_CSUM, &pp),
					         TP_DROP_NONE, "segment parses with full checksum");
				}
				CHECK_EQ(pb_fold(pb_sum(0, sr.segs[i].data,
				                        iphdr_len(sr.segs[i].data))) &
				                 (s->family == AF_INET ? 0xffff : 0),
				         0, "ipv4 header checksum");
				if (s->proto == IPPROTO_TCP) {
					CHECK_EQ(pp.seq, s->seq + (uint32_t)(i * mss), "seq");
					CHECK_EQ(!!(pp.tcp_flags & (FIN | PSH)),
					         i + 1 == n && (s->flags & (FIN | PSH)), "FIN/PSH");
					CHECK_EQ(!!(pp.tcp_flags & CWR), i == 0 && (s->flags & CWR),
					         "CWR");
				}
			} else {
				size_t cf = csum_field(want);
				CHECK_EQ(sr.segs[i].len, wl, "length without FILL_CSUM");
				if (sr.segs[i].len == wl) {
					CHECK(memcmp(sr.segs[i].data, want, cf) == 0 &&
					              memcmp(sr.segs[i].data + cf + 2,
					                     want + cf + 2, wl - cf - 2) == 0,
					      "%s: segment %zu differs outside the checksum", what,
					      i);
				}
			}
		}
	}
}

TP_TEST(split_tcp)
{
	static const int fams[] = {AF_INET, AF_INET6};

	for (int f = 0; f < 2; f++) {
		int fam = fams[f];
		const char *v = fam == AF_INET ? "v4" : "v6";
		uint8_t type = fam == AF_INET ? TP_GSO_TCPV4 : TP_GSO_TCPV6;
		struct spec s = spec_tcp(fam, 3 * 1448 + 100);

		s.flags = CWR | ACK | PSH | FIN;
		check_split(&s, type, 1448, "tcp 3*mss+100");
		OK("split: TCP%s 3*1448+100 -> 4 segments: seq +mss, ID first+i, lengths, "
		   "FIN/PSH last only, CWR first only, byte-exact with full checksums",
		   v);

		s = spec_tcp(fam, 5 * 536);
		s.flags = ACK | PSH | ECE;
		s.opt = ts_opt;
		s.optlen = sizeof(ts_opt);
		s.id = 0xfffe;
		s.seq = 0xfffff000;
		check_split(&s, type, 536, "tcp 5*mss with options");
		OK("split: TCP%s 5*536 with timestamps, seq and IPv4 ID wrapping -> 5 segments", v);

		s = spec_tcp(fam, 700);
		s.flags = ACK | PSH;
		check_split(&s, type, 1000, "tcp payload < mss");
		s.plen = 1000;
		check_split(&s, type, 1000, "tcp payload == mss");
		s.plen = 1;
		check_split(&s, type, 1, "tcp mss 1");
		s.plen = 64;
		check_split(&s, type, 1, "tcp 64 segments of 1 byte");
		OK("split: TCP%s payload < mss and == mss -> 1 segment; mss 1 -> 1 byte each", v);
	}
	/* IPv4 with options: csum_start is the real header length */
	{
		struct spec s = spec_tcp(AF_INET, 2 * 1000 + 1);
		s.ipopt = 8;
		check_split(&s, TP_GSO_TCPV4, 1000, "tcp with ipv4 options");
		OK("split: TCPv4 with 8 bytes of IP options -> 3 segments, options copied");
	}
	/* no NEEDS_CSUM (e.g. DATA_VALID only): still split and filled */
	{
		struct spec s = spec_tcp(AF_INET6, 3000);
		struct tp_vnet_hdr vh;
		static uint8_t want[2000];
		size_t len = build(tmp, &s), wl;
		vh = (struct tp_vnet_hdr){
		        .flags = TP_VNET_F_DATA_VALID, .gso_type = TP_GSO_TCPV6, .gso_size = 1400};
		CHECK_EQ(split(tmp, len, &vh, TP_SPLIT_FILL_CSUM, 70000, 64), 3, "no NEEDS_CSUM");
		wl = expected_seg(want, &s, 1400, 2, 3);
		CHECK_BYTES(sr.segs[2].data, sr.segs[2].len, want, wl, "last segment");
		OK("split: TCPv6 without NEEDS_CSUM (DATA_VALID) -> split and filled");
	}
	/* trailing bytes past the IP length are not payload */
	{
		struct spec s = spec_tcp(AF_INET, 2500);
		struct tp_vnet_hdr vh;
		static uint8_t want[2000];
		size_t len = build_super(tmp, &s, TP_GSO_TCPV4, 1000, &vh), wl;
		memset(tmp + len, 0xee, 7);
		CHECK_EQ(split(tmp, len + 7, &vh, TP_SPLIT_FILL_CSUM, 70000, 64), 3, "padded");
		wl = expected_seg(want, &s, 1000, 2, 3);
		CHECK_BYTES(sr.segs[2].data, sr.segs[2].len, want, wl, "last segment");
		OK("split: bytes past the IPv4 total length are ignored");
	}
}

TP_TEST(split_udp)
{
	static const int fams[] = {AF_INET, AF_INET6};

	for (int f = 0; f < 2; f++) {
		int fam = fams[f];
		const char *v = fam == AF_INET ? "v4" : "v6";
		struct spec s = spec_udp(fam, 4 * 1200 + 77);

		check_split(&s, TP_GSO_UDP_L4, 1200, "udp 4*1200+77");
		OK("split: UDP_L4 %s 4*1200+77 -> 5 datagrams: UDP length, ID first+i, all but "
		   "last exactly gso_size, byte-exact with full checksums",
		   v);
		s.plen = 3 * 1000;
		check_split(&s, TP_GSO_UDP_L4, 1000, "udp 3*1000");
		s.plen = 128 * 8;
		check_split(&s, TP_GSO_UDP_L4, 8, "udp 128*8");
		OK("split: UDP_L4 %s exact multiples (3*1000, 128*8)", v);
	}
	/* a datagram whose checksum computes to 0 must carry 0xFFFF */
	for (int f = 0; f < 2; f++) {
		int fam = fams[f];
		static uint8_t one[2000], buf[5000];
		struct spec d = spec_udp(fam, 500), s;
		size_t dl, ipl;
		struct tp_vnet_hdr vh;

		memcpy(buf, pat, sizeof(buf));
		d.pay = buf + 1000; /* the second datagram of the super-packet */
		dl = build(one, &d);
		force_udp_zero(one, dl);
		ipl = iphdr_len(one);
		CHECK_EQ(pb_get16(one + ipl + 6), 0xffff, "constructed 0 checksum");
		memcpy(buf + 1000, one + ipl + 8, 2);
		s = spec_udp(fam, 1500);
		s.pay = buf;
		s.id = (uint16_t)(d.id - 1);
		dl = build_super(tmp, &s, TP_GSO_UDP_L4, 1000, &vh);
		CHECK_EQ(split(tmp, dl, &vh, TP_SPLIT_FILL_CSUM, 70000, 8), 2, "split");
		if (sr.n == 2) {
			CHECK_EQ(pb_get16(sr.segs[1].data + ipl + 6), 0xffff, "0 sent as 0xffff");
			CHECK_BYTES(sr.segs[1].data, sr.segs[1].len, one, 8 + ipl + 500 + 0,
			            "datagram");
		}
		OK("split: UDP_L4 %s datagram whose checksum computes to 0 -> 0xFFFF",
		   fam == AF_INET ? "v4" : "v6");
	}
}

TP_TEST(split_none)
{
	static const struct {
		int fam;
		uint8_t proto;
		const char *what;
	} t[] = {{AF_INET, IPPROTO_TCP, "tcp4"},
	         {AF_INET6, IPPROTO_TCP, "tcp6"},
	         {AF_INET, IPPROTO_UDP, "udp4"},
	         {AF_INET6, IPPROTO_UDP, "udp6"}};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct spec s = t[i].proto == IPPROTO_TCP ? spec_tcp(t[i].fam, 1001)
		                                          : spec_udp(t[i].fam, 1001);
		static uint8_t full[2000], part[2000];
		struct tp_vnet_hdr vh;
		size_t len = build(full, &s);

		build_super(part, &s, TP_GSO_NONE, 0, &vh);
		CHECK_EQ(split(part, len, &vh, TP_SPLIT_FILL_CSUM, len, 1), 1, t[i].what);
		if (sr.n == 1) {
			CHECK(sr.segs[0].data == sr.out, "into out");
			CHECK_BYTES(sr.segs[0].data, sr.segs[0].len, full, len, "completed");
		}
		CHECK_EQ(split(part, len, &vh, 0, len, 1), 1, "without FILL_CSUM");
		if (sr.n == 1)
			CHECK_BYTES(sr.segs[0].data, sr.segs[0].len, part, len, "left partial");
		vh.flags = TP_VNET_F_DATA_VALID;
		CHECK_EQ(split(full, len, &vh, TP_SPLIT_FILL_CSUM, len, 1), 1, "DATA_VALID");
		if (sr.n == 1)
			CHECK_BYTES(sr.segs[0].data, sr.segs[0].len, full, len, "copied");
		vh.flags = 0;
		CHECK_EQ(split(full, len, &vh, TP_SPLIT_FILL_CSUM, len, 1), 1, "flags 0");
		if (sr.n == 1)
			CHECK_BYTES(sr.segs[0].data, sr.segs[0].len, full, len, "copied");
		OK("split: NONE %s with NEEDS_CSUM: partial completed to a valid checksum "
		   "with FILL_CSUM, left without; without NEEDS_CSUM copied unchanged",
		   t[i].what);
	}
	for (int f = 0; f < 2; f++) {
		int fam = f ? AF_INET6 : AF_INET;
		struct spec s = spec_udp(fam, 300);
		static uint8_t full[2000], part[2000];
		struct tp_vnet_hdr vh;
		size_t len = build(full, &s);

		force_udp_zero(full, len);
		memcpy(part, full, len);
		pb_put16(part + csum_field(part), pseudo_fold(part, len - iphdr_len(part)));
		vh = (struct tp_vnet_hdr){.flags = TP_VNET_F_NEEDS_CSUM,
		                          .csum_start = (uint16_t)iphdr_len(part),
		                          .csum_offset = 6};
		CHECK_EQ(split(part, len, &vh, TP_SPLIT_FILL_CSUM, len, 1), 1, "udp zero");
		if (sr.n == 1)
			CHECK_EQ(pb_get16(sr.segs[0].data + csum_field(part)), 0xffff, "0xffff");
		OK("split: NONE UDP %s whose checksum computes to 0 -> 0xFFFF", f ? "v6" : "v4");
	}
}

/* One drop expectation on a copy of pkt with header h. */
static void expect_drop(const uint8_t *pkt, size_t len, const struct tp_vnet_hdr *h, size_t cap,
                        int max, enum tp_drop want, const char *what)
{
	int r = split(pkt, len, h, TP_SPLIT_FILL_CSUM, cap, max);

	CHECK_EQ(r, -1, what);
	CHECK(sr.why == want, "%s: why %s, want %s", what, tp_drop_name(sr.why),
	      tp_drop_name(want));
	OK("split drop: %s -> %s", what, tp_drop_name(want));
}

TP_TEST(split_drops)
{
	static uint8_t p4[70000], p6[70000], u4[70000], q[70000];
	struct spec s4 = spec_tcp(AF_INET, 3000), s6 = spec_tcp(AF_INET6, 3000);
	struct spec su = spec_udp(AF_INET, 3000);
	struct tp_vnet_hdr h4, h6, hu, h;
	size_t l4 = build_super(p4, &s4, TP_GSO_TCPV4, 1000, &h4);
	size_t l6 = build_super(p6, &s6, TP_GSO_TCPV6, 1000, &h6);
	size_t lu = build_super(u4, &su, TP_GSO_UDP_L4, 1000, &hu), len;
	const size_t big = 70000;

	/* controls: the unmodified packets split */
	CHECK_EQ(split(p4, l4, &h4, TP_SPLIT_FILL_CSUM, big, 64), 3, "tcp4 control");
	CHECK_EQ(split(p6, l6, &h6, TP_SPLIT_FILL_CSUM, big, 64), 3, "tcp6 control");
	CHECK_EQ(split(u4, lu, &hu, TP_SPLIT_FILL_CSUM, big, 64), 3, "udp4 control");
	OK("split drop controls: the unmodified super-packets split into 3");

	static const uint8_t bad_types[] = {2, 3, 6, 7, 0x10, 0x41};
	for (size_t i = 0; i < sizeof(bad_types); i++) {
		char what[64];
		h = h4;
		h.gso_type = bad_types[i];
		snprintf(what, sizeof(what), "gso_type %u", bad_types[i]);
		expect_drop(p4, l4, &h, big, 64, TP_DROP_VNET_HDR, what);
	}
	h = h4;
	h.gso_size = 0;
	expect_drop(p4, l4, &h, big, 64, TP_DROP_VNET_HDR, "TCPV4 gso_size 0");
	h = hu;
	h.gso_size = 0;
	expect_drop(u4, lu, &h, big, 64, TP_DROP_VNET_HDR, "UDP_L4 gso_size 0");
	h = h4;
	h.gso_size = 0xffff;
	expect_drop(p4, l4, &h, big, 64, TP_DROP_VNET_HDR, "gso_size 0xffff (GSO_BY_FRAGS)");
	h = h4;
	h.csum_start = (uint16_t)l4;
	expect_drop(p4, l4, &h, big, 64, TP_DROP_VNET_HDR, "csum_start at the end");
	h = h4;
	h.csum_start = (uint16_t)(l4 - 17);
	expect_drop(p4, l4, &h, big, 64, TP_DROP_VNET_HDR, "csum_start+16+2 one past the end");
	h = h4;
	h.csum_offset = 0xfff0;
	expect_drop(p4, l4, &h, big, 64, TP_DROP_VNET_HDR, "csum_offset beyond the packet");
	h = hu;
	h.gso_type = TP_GSO_NONE;
	h.csum_start = 0xffff;
	expect_drop(u4, lu, &h, big, 64, TP_DROP_VNET_HDR, "NONE with csum_start beyond");
	h = h4;
	h.csum_offset = 6;
	expect_drop(p4, l4, &h, big, 64, TP_DROP_VNET_HDR, "TCPV4 csum_offset 6");
	h = h6;
	h.csum_offset = 6;
	expect_drop(p6, l6, &h, big, 64, TP_DROP_VNET_HDR, "TCPV6 csum_offset 6");
	h = hu;
	h.csum_offset = 16;
	expect_drop(u4, lu, &h, big, 64, TP_DROP_VNET_HDR, "UDP_L4 csum_offset 16");
	h = h4;
	h.csum_start = 10;
	expect_drop(p4, l4, &h, big, 64, TP_DROP_VNET_HDR, "TCPV4 csum_start 10");

	h = h4;
	h.gso_type = TP_GSO_TCPV4;
	h6.gso_type = TP_GSO_TCPV4;
	expect_drop(p6, l6, &h6, big, 64, TP_DROP_GSO, "TCPV4 type on an IPv6 packet");
	h6.gso_type = TP_GSO_TCPV6;
	h = h4;
	h.gso_type = TP_GSO_TCPV6;
	expect_drop(p4, l4, &h, big, 64, TP_DROP_GSO, "TCPV6 type on an IPv4 packet");
	h = h4;
	h.gso_type = TP_GSO_UDP_L4;
	h.csum_offset = 6;
	expect_drop(p4, l4, &h, big, 64, TP_DROP_GSO, "UDP_L4 on a TCP packet");
	h = hu;
	h.gso_type = TP_GSO_TCPV4;
	h.csum_offset = 16;
	expect_drop(u4, lu, &h, big, 64, TP_DROP_GSO, "TCPV4 on a UDP packet");
	len = pb_build(q, AF_INET, IPPROTO_ICMP, 3000, 0);
	h = (struct tp_vnet_hdr){.gso_type = TP_GSO_TCPV4, .gso_size = 1000};
	expect_drop(q, len, &h, big, 64, TP_DROP_GSO, "TCPV4 on an ICMPv4 packet");
	h.gso_type = TP_GSO_UDP_L4;
	expect_drop(q, len, &h, big, 64, TP_DROP_GSO, "UDP_L4 on an ICMPv4 packet");
	h = h4;
	h.gso_type |= TP_GSO_ECN;
	expect_drop(p4, l4, &h, big, 64, TP_DROP_GSO, "TCPV4|ECN");
	h = h6;
	h.gso_type |= TP_GSO_ECN;
	expect_drop(p6, l6, &h, big, 64, TP_DROP_GSO, "TCPV6|ECN");

	/* segment budget: 3 segments of 1040 bytes */
	expect_drop(p4, l4, &h4, big, 2, TP_DROP_GSO, "3 segments, max 2");
	expect_drop(p4, l4, &h4, 3 * 40 + 3000 - 1, 64, TP_DROP_GSO, "cap one byte short");
	expect_drop(u4, lu, &hu, big, 2, TP_DROP_GSO, "3 UDP datagrams, max 2");
	expect_drop(p4, l4, &h4, big, 0, TP_DROP_GSO, "max 0");
	CHECK_EQ(split(p4, l4, &h4, TP_SPLIT_FILL_CSUM, 3 * 40 + 3000, 3), 3, "exact budget");
	OK("split: exactly max segments and exactly cap bytes -> fits");

	/* truncated L4 headers (no NEEDS_CSUM, so the offsets pass) */
	len = build(q, &s4);
	pb_put16(q + 2, 32); /* 12 bytes of TCP header */
	pb_fix_ip(q);
	h = (struct tp_vnet_hdr){.gso_type = TP_GSO_TCPV4, .gso_size = 1000};
	expect_drop(q, 32, &h, big, 64, TP_DROP_L4_TRUNCATED, "TCPV4 with a 12-byte TCP header");
	len = build(q, &s4);
	q[20 + 12] = 0xf0; /* data offset 60 in a 30-byte L4 */
	pb_put16(q + 2, 50);
	pb_fix_ip(q);
	h = h4;
	expect_drop(q, 50, &h, big, 64, TP_DROP_L4_TRUNCATED, "TCP data offset beyond the packet");
	len = build(q, &s4);
	q[20 + 12] = 0x40; /* data offset 16 < 20 */
	expect_drop(q, len, &h, big, 64, TP_DROP_L4_TRUNCATED, "TCP data offset 4 words");
	len = build(q, &su);
	pb_put16(q + 2, 24);
	pb_fix_ip(q);
	h = (struct tp_vnet_hdr){.gso_type = TP_GSO_UDP_L4, .gso_size = 1000};
	expect_drop(q, 24, &h, big, 64, TP_DROP_L4_TRUNCATED, "UDP_L4 with a 4-byte UDP header");

	/* IPv6 extension headers and fragments */
	len = add_hbh(memcpy(q, p6, l6), l6);
	h = h6;
	h.csum_start = 48;
	expect_drop(q, len, &h, big, 64, TP_DROP_IPV6_EXTHDR, "TCPV6 behind a hop-by-hop header");
	q[6] = 60;
	expect_drop(q, len, &h, big, 64, TP_DROP_IPV6_EXTHDR, "TCPV6 behind a dest-opts header");
	q[6] = 44;
	expect_drop(q, len, &h, big, 64, TP_DROP_FRAGMENT, "TCPV6 behind a fragment header");
	memcpy(q, p4, l4);
	pb_put16(q + 6, 0x2000);
	pb_fix_ip(q);
	expect_drop(q, l4, &h4, big, 64, TP_DROP_FRAGMENT, "TCPV4 with MF");
	pb_put16(q + 6, 0x0010);
	pb_fix_ip(q);
	expect_drop(q, l4, &h4, big, 64, TP_DROP_FRAGMENT, "TCPV4 with a fragment offset");

	/* broken IP headers give their tp_pkt_parse-style reasons */
	memcpy(q, p4, l4);
	q[8]--;
	expect_drop(q, l4, &h4, big, 64, TP_DROP_IP_CSUM, "TCPV4 with a bad IPv4 header checksum");
	memcpy(q, p4, l4);
	expect_drop(q, l4 - 1, &h4, big, 64, TP_DROP_TOTAL_LEN, "TCPV4 one byte short");
	expect_drop(q, 19, &h4, big, 64, TP_DROP_VNET_HDR, "TCPV4 19 bytes (csum beyond)");
	h = (struct tp_vnet_hdr){.gso_type = TP_GSO_TCPV4, .gso_size = 1000};
	expect_drop(q, 19, &h, big, 64, TP_DROP_TRUNCATED, "TCPV4 19 bytes, no NEEDS_CSUM");
	q[0] = 0x55;
	expect_drop(q, l4, &h, big, 64, TP_DROP_VERSION, "TCPV4 on version 5");
}

/* ---- TCP super-packets fed whole ---- */

/* tp_gso_whole on a heap copy of exactly len bytes (ASan sees reads past
 * it); checks that it changed neither the packet nor, unless it returned
 * TP_WHOLE, *w. */
static enum tp_whole whole(const uint8_t *pkt, size_t len, const struct tp_vnet_hdr *h,
                           struct tp_whole_pkt *w)
{
	uint8_t *in = malloc(len ? len : 1);
	struct tp_whole_pkt mark;
	enum tp_whole r;

	memcpy(in, pkt, len);
	memset(w, 0xa5, sizeof(*w));
	mark = *w;
	r = tp_gso_whole(in, len, h, w);
	CHECK(len == 0 || memcmp(in, pkt, len) == 0, "tp_gso_whole changed the packet");
	if (r != TP_WHOLE)
		CHECK(memcmp(w, &mark, sizeof(mark)) == 0, "*w written for %s", tp_whole_name(r));
	free(in);
	return r;
}

/* Super-packet s (type, gso) goes whole: the segment is the input's first
 * IP-length bytes, untouched; it stands for the segments the splitter makes,
 * whose payloads together are the whole's; the stack's parser takes it. */
static void check_whole(const struct spec *s, uint8_t type, uint16_t gso, uint8_t vflags,
                        size_t trailer, const char *what)
{
	static uint8_t sup[70100];
	struct tp_vnet_hdr vh;
	struct tp_whole_pkt w;
	struct tp_pkt pp;
	size_t len = build_super(sup, s, type, gso, &vh), hl = hdr_len(sup);
	size_t n = s->plen ? (s->plen + gso - 1) / gso : 1, done = 0;
	enum tp_whole r;

	vh.flags = vflags;
	memset(sup + len, 0xee, trailer);
	r = whole(sup, len + trailer, &vh, &w);
	CHECK(r == TP_WHOLE, "%s: %s", what, tp_whole_name(r));
	if (r != TP_WHOLE)
		return;
	CHECK_EQ(w.len, len, "whole length (trailer not included)");
	CHECK_EQ(w.hlen, hl, "header length");
	CHECK_EQ(w.segs, n, "wire segments");
	CHECK_EQ(tp_pkt_parse(sup, w.len, 0, &pp), TP_DROP_NONE, "the stack's parser takes it");
	CHECK_EQ(pp.len, len, "parsed length");
	CHECK_EQ(pp.seq, s->seq, "seq");
	CHECK_EQ(pp.tcp_flags, s->flags, "flags kept (FIN/PSH too)");
	CHECK_EQ(split(sup, len + trailer, &vh, 0, n * hl + s->plen, (int)n), (int)n,
	         "the splitter makes the same number of segments");
	for (int i = 0; i < sr.n && i < (int)n; i++) {
		size_t pl = sr.segs[i].len - hl;
		CHECK(memcmp(sr.segs[i].data + hl, sup + hl + done, pl) == 0,
		      "%s: segment %d's payload is the whole's at %zu", what, i, done);
		done += pl;
	}
	CHECK_EQ(done, s->plen, "split payload = whole payload");
	OK("whole: %s (%zu bytes, %u wire segments)", what, len, (unsigned)n);
}

TP_TEST(whole_tcp)
{
	static const int fams[] = {AF_INET, AF_INET6};

	for (int f = 0; f < 2; f++) {
		int fam = fams[f];
		uint8_t type = fam == AF_INET ? TP_GSO_TCPV4 : TP_GSO_TCPV6;
		size_t iph = fam == AF_INET ? 20 : 40;
		const char *v = fam == AF_INET ? "v4" : "v6";
		struct spec s = spec_tcp(fam, 0);
		char what[96];

		s.opt = ts_opt;
		s.optlen = sizeof(ts_opt);
		static const size_t plens[] = {0, 1, 1448, 1449, 3000, 45 * 1448};
		for (size_t i = 0; i < sizeof(plens) / sizeof(plens[0]); i++) {
			s.plen = plens[i];
			snprintf(what, sizeof(what), "%s NEEDS_CSUM, payload %zu, gso 1448", v,
			         s.plen);
			check_whole(&s, type, 1448, TP_VNET_F_NEEDS_CSUM, 0, what);
		}
		/* the largest: IP length 65535 */
		s.plen = 65535 - iph - 20 - sizeof(ts_opt);
		snprintf(what, sizeof(what), "%s IP length 65535", v);
		check_whole(&s, type, 1448, TP_VNET_F_NEEDS_CSUM, 0, what);
		s.plen = 5000;
		s.flags = ACK | PSH | FIN;
		snprintf(what, sizeof(what), "%s ACK|PSH|FIN, DATA_VALID", v);
		check_whole(&s, type, 1000, TP_VNET_F_DATA_VALID, 0, what);
		s.flags = ACK | ECE;
		snprintf(what, sizeof(what), "%s ECE, 64 bytes after the IP length", v);
		check_whole(&s, type, 700, TP_VNET_F_NEEDS_CSUM, 64, what);
		s.flags = ACK;
		s.optlen = 0;
		snprintf(what, sizeof(what), "%s no options, gso 48 (Linux's MSS floor)", v);
		check_whole(&s, type, 48, TP_VNET_F_NEEDS_CSUM, 0, what);
	}
}

/* One expectation: tp_gso_whole says want; INVALID and the GSO ECN bit must
 * be what tp_gso_split drops, the other reasons what it splits. */
static void expect_whole(const uint8_t *pkt, size_t len, const struct tp_vnet_hdr *h,
                         enum tp_whole want, const char *what)
{
	struct tp_whole_pkt w;
	enum tp_whole r = whole(pkt, len, h, &w);
	bool drop = want == TP_WHOLE_INVALID || (h->gso_type & TP_GSO_ECN);

	CHECK(r == want, "%s: %s, want %s", what, tp_whole_name(r), tp_whole_name(want));
	if (want != TP_WHOLE_NOT_TCP) {
		int k = split(pkt, len, h, 0, 300000, 300);
		CHECK(drop ? k == -1 : k >= 1, "%s: split gives %d (%s)", what, k,
		      tp_drop_name(sr.why));
	}
	OK("whole: %s -> %s%s", what, tp_whole_name(r),
	   want == TP_WHOLE_NOT_TCP ? ""
	   : drop                   ? " (split drops it)"
	                            : " (split)");
}

TP_TEST(whole_split_reasons)
{
	static uint8_t p4[70000], p6[70000], u4[70000], q[70100];
	struct spec s4 = spec_tcp(AF_INET, 3000), s6 = spec_tcp(AF_INET6, 3000);
	struct spec su = spec_udp(AF_INET, 3000), s;
	struct tp_vnet_hdr h4, h6, hu, h;
	size_t l4 = build_super(p4, &s4, TP_GSO_TCPV4, 1000, &h4);
	size_t l6 = build_super(p6, &s6, TP_GSO_TCPV6, 1000, &h6);
	size_t lu = build_super(u4, &su, TP_GSO_UDP_L4, 1000, &hu), len;

	expect_whole(p4, l4, &h4, TP_WHOLE, "control: TCPV4");
	expect_whole(p6, l6, &h6, TP_WHOLE, "control: TCPV6");

	/* not TCP super-packets */
	expect_whole(u4, lu, &hu, TP_WHOLE_NOT_TCP, "UDP_L4");
	static const uint8_t others[] = {TP_GSO_NONE, 2, TP_GSO_UDP, 6, 7, 0x10, 0x41};
	for (size_t i = 0; i < sizeof(others); i++) {
		char what[48];
		h = h4;
		h.gso_type = others[i];
		snprintf(what, sizeof(what), "gso_type %#x on TCP", others[i]);
		expect_whole(p4, l4, &h, TP_WHOLE_NOT_TCP, what);
	}

	/* what the splitter drops */
	h = h4;
	h.gso_size = 0;
	expect_whole(p4, l4, &h, TP_WHOLE_INVALID, "gso_size 0");
	h.gso_size = 0xffff;
	expect_whole(p4, l4, &h, TP_WHOLE_INVALID, "gso_size 0xffff");
	h = h4;
	h.csum_start = (uint16_t)(l4 - 17);
	expect_whole(p4, l4, &h, TP_WHOLE_INVALID, "csum field one past the end");
	h = h4;
	h.csum_offset = 6;
	expect_whole(p4, l4, &h, TP_WHOLE_INVALID, "csum_offset 6");
	h = h4;
	h.csum_start = 10;
	expect_whole(p4, l4, &h, TP_WHOLE_INVALID, "csum_start 10");
	h = h6;
	h.gso_type = TP_GSO_TCPV4;
	expect_whole(p6, l6, &h, TP_WHOLE_INVALID, "TCPV4 on IPv6");
	h = h4;
	h.gso_type = TP_GSO_TCPV6;
	expect_whole(p4, l4, &h, TP_WHOLE_INVALID, "TCPV6 on IPv4");
	h = hu;
	h.gso_type = TP_GSO_TCPV4;
	h.csum_offset = 16;
	expect_whole(u4, lu, &h, TP_WHOLE_INVALID, "TCPV4 on UDP");
	memcpy(q, p4, l4);
	q[8]--;
	expect_whole(q, l4, &h4, TP_WHOLE_INVALID, "bad IPv4 header checksum");
	memcpy(q, p4, l4);
	pb_put16(q + 6, 0x2000);
	pb_fix_ip(q);
	expect_whole(q, l4, &h4, TP_WHOLE_INVALID, "IPv4 MF");
	expect_whole(p4, l4 - 1, &h4, TP_WHOLE_INVALID, "one byte short of the IP length");
	len = add_hbh(memcpy(q, p6, l6), l6);
	h = h6;
	h.csum_start = 48;
	expect_whole(q, len, &h, TP_WHOLE_INVALID, "IPv6 hop-by-hop header");
	memcpy(q, p4, l4);
	q[20 + 12] = 0x40;
	expect_whole(q, l4, &h4, TP_WHOLE_INVALID, "TCP data offset 4 words");
	memcpy(q, p4, l4);
	q[20 + 12] = 0xf0;
	pb_put16(q + 2, 50);
	pb_fix_ip(q);
	expect_whole(q, 50, &h4, TP_WHOLE_INVALID, "TCP data offset beyond the IP length");
	h = (struct tp_vnet_hdr){.gso_type = TP_GSO_TCPV4, .gso_size = 1000};
	memcpy(q, p4, l4);
	pb_put16(q + 2, 32);
	pb_fix_ip(q);
	expect_whole(q, 32, &h, TP_WHOLE_INVALID, "12-byte TCP header");

	/* ECN */
	h = h4;
	h.gso_type |= TP_GSO_ECN;
	expect_whole(p4, l4, &h, TP_WHOLE_ECN, "TCPV4|ECN");
	h = h6;
	h.gso_type |= TP_GSO_ECN;
	expect_whole(p6, l6, &h, TP_WHOLE_ECN, "TCPV6|ECN");
	s = s4;
	s.flags = ACK | CWR;
	len = build_super(q, &s, TP_GSO_TCPV4, 1000, &h);
	expect_whole(q, len, &h, TP_WHOLE_ECN, "CWR (only the first segment keeps it)");

	/* nobody vouches for the checksum */
	h = h4;
	h.flags = 0;
	h.csum_start = h.csum_offset = 0;
	expect_whole(p4, l4, &h, TP_WHOLE_UNVERIFIED, "flags 0 (TCPV4)");
	h = h6;
	h.flags = 0;
	expect_whole(p6, l6, &h, TP_WHOLE_UNVERIFIED, "flags 0 (TCPV6)");

	/* IPv6 payload over 65495: 65540 bytes, more than a u16 IP length */
	s = spec_tcp(AF_INET6, 65500 - 20);
	len = build_super(q, &s, TP_GSO_TCPV6, 1440, &h);
	CHECK_EQ(len, 65540, "IPv6 packet of 65540 bytes");
	expect_whole(q, len, &h, TP_WHOLE_TOO_LONG, "IPv6 of 65540 bytes");

	/* IPv4 options */
	s = s4;
	s.ipopt = 8;
	len = build_super(q, &s, TP_GSO_TCPV4, 1000, &h);
	expect_whole(q, len, &h, TP_WHOLE_IP_OPTIONS, "IPv4 with 8 bytes of options");

	/* flags that mean something per segment */
	static const uint8_t fl[] = {SYN, SYN | ACK, RST | ACK, URG | ACK};
	for (size_t i = 0; i < sizeof(fl); i++) {
		char what[48];
		s = s6;
		s.flags = fl[i];
		s.urp = fl[i] & URG ? 10 : 0;
		len = build_super(q, &s, TP_GSO_TCPV6, 1000, &h);
		snprintf(what, sizeof(what), "TCP flags %#x", fl[i]);
		expect_whole(q, len, &h, TP_WHOLE_TCP_FLAGS, what);
	}

	/* names */
	CHECK(strcmp(tp_whole_name(TP_WHOLE), "whole") == 0 &&
	              strcmp(tp_whole_name(TP_WHOLE_TCP_FLAGS), "tcp_flags") == 0 &&
	              strcmp(tp_whole_name(TP_WHOLE__COUNT), "?") == 0 &&
	              strcmp(tp_whole_name((enum tp_whole) - 1), "?") == 0,
	      "names");
	for (int i = 0; i < TP_WHOLE__COUNT; i++)
		CHECK(strcmp(tp_whole_name((enum tp_whole)i), "?") != 0, "name of %d", i);
	OK("whole: every reason has a name");
}

/* ---- GRO ---- */

#define BMAX 600

struct batch {
	uint8_t *p[BMAX];
	size_t len[BMAX];
	int n;
};

static int badd_raw(struct batch *b, const uint8_t *pkt, size_t len)
{
	b->p[b->n] = malloc(len);
	memcpy(b->p[b->n], pkt, len);
	b->len[b->n] = len;
	return b->n++;
}

static int badd(struct batch *b, const struct spec *s)
{
	return badd_raw(b, tmp, build(tmp, s));
}

static void bfree(struct batch *b)
{
	for (int i = 0; i < b->n; i++)
		free(b->p[i]);
	b->n = 0;
}

#define RMAX 700

struct wrec {
	uint8_t *data;
	size_t len;
	uint8_t vraw[TP_VNET_HDR_LEN];
	struct tp_vnet_hdr v;
	unsigned nsegs, kind;
	int ret;
};

static struct recorder {
	struct wrec w[RMAX];
	int n;
	bool refuse; /* -EINVAL for merged writes */
	int bad;     /* malformed iov calls */
} rec;

static void rec_reset(struct recorder *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->w[i].data);
	r->n = 0;
	r->bad = 0;
}

static int rec_write(void *ctx, const struct iovec *iov, int iovcnt, unsigned nsegs, unsigned kind)
{
	struct recorder *r = ctx;
	struct wrec *w;
	size_t tot = 0, off = 0;

	if (r->n >= RMAX || iovcnt < 2 || iov[0].iov_len != TP_VNET_HDR_LEN) {
		r->bad++;
		return -EIO;
	}
	for (int i = 1; i < iovcnt; i++)
		tot += iov[i].iov_len;
	w = &r->w[r->n++];
	w->data = malloc(tot ? tot : 1);
	for (int i = 1; i < iovcnt; i++) {
		memcpy(w->data + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	w->len = tot;
	memcpy(w->vraw, iov[0].iov_base, TP_VNET_HDR_LEN);
	tp_vnet_parse(w->vraw, TP_VNET_HDR_LEN, &w->v);
	w->nsegs = nsegs;
	w->kind = kind;
	w->ret = r->refuse && kind ? -EINVAL : 0;
	return w->ret;
}

/* Add the batch to g, flush it into rec. Returns flush's result. */
static int run_on(struct tp_gro *g, struct batch *b, unsigned kinds, unsigned *refused)
{
	int r;

	rec_reset(&rec);
	for (int i = 0; i < b->n; i++)
		CHECK_EQ(tp_gro_add(g, b->p[i], b->len[i]), 0, "tp_gro_add");
	CHECK_EQ(tp_gro_count(g), b->n, "count");
	r = tp_gro_flush(g, kinds, rec_write, &rec, refused);
	CHECK_EQ(tp_gro_count(g), 0, "empty after flush");
	CHECK_EQ(rec.bad, 0, "well-formed write calls");
	return r;
}

static int run(struct batch *b, unsigned kinds)
{
	struct tp_gro *g = tp_gro_new(BMAX);
	unsigned refused = 0;
	int r = run_on(g, b, kinds, &refused);

	CHECK_EQ(refused, 0, "nothing refused");
	tp_gro_free(g);
	return r;
}

/* The merged packet of members idx[0..n) built from scratch. */
static size_t make_merged(uint8_t *out, const struct batch *b, const int *idx, int n)
{
	const uint8_t *h = b->p[idx[0]];
	size_t hl = hdr_len(h), ipl = iphdr_len(h), tot = hl;
	bool tcp = ((h[0] >> 4) == 4 ? h[9] : h[6]) == IPPROTO_TCP;

	memcpy(out, h, hl);
	for (int i = 0; i < n; i++) {
		memcpy(out + tot, b->p[idx[i]] + hl, b->len[idx[i]] - hl);
		tot += b->len[idx[i]] - hl;
	}
	if ((h[0] >> 4) == 4) {
		pb_put16(out + 2, (uint16_t)tot);
		pb_fix_ip(out);
	} else {
		pb_put16(out + 4, (uint16_t)(tot - 40));
	}
	if (tcp)
		out[ipl + 13] |= b->p[idx[n - 1]][ipl + 13] & PSH;
	else
		pb_put16(out + ipl + 4, (uint16_t)(tot - ipl));
	pb_put16(out + csum_field(out), pseudo_fold(out, tot - ipl));
	return tot;
}

static void expect_single(const struct wrec *w, const uint8_t *p, size_t len)
{
	static const uint8_t zero[TP_VNET_HDR_LEN];

	CHECK_EQ(w->nsegs, 1, "single: nsegs");
	CHECK_EQ(w->kind, 0, "single: kind");
	CHECK(memcmp(w->vraw, zero, TP_VNET_HDR_LEN) == 0, "single: all-zero vnet header");
	CHECK_BYTES(w->data, w->len, p, len, "single packet unchanged");
}

static void expect_merged(const struct wrec *w, const struct batch *b, const int *idx, int n)
{
	static uint8_t want[70000];
	const uint8_t *h = b->p[idx[0]];
	size_t wl = make_merged(want, b, idx, n), ipl = iphdr_len(h), hl = hdr_len(h);
	bool tcp = ((h[0] >> 4) == 4 ? h[9] : h[6]) == IPPROTO_TCP;

	CHECK_EQ(w->nsegs, n, "merged: nsegs");
	CHECK_EQ(w->kind, tcp ? TP_GRO_TCP : TP_GRO_UDP, "merged: kind");
	CHECK_EQ(w->v.flags, TP_VNET_F_NEEDS_CSUM, "merged: flags");
	CHECK_EQ(w->v.gso_type,
	         !tcp ? TP_GSO_UDP_L4 : ((h[0] >> 4) == 4 ? TP_GSO_TCPV4 : TP_GSO_TCPV6),
	         "merged: gso_type");
	CHECK_EQ(w->v.hdr_len, hl, "merged: hdr_len");
	CHECK_EQ(w->v.gso_size, b->len[idx[0]] - hl, "merged: gso_size = first payload");
	CHECK_EQ(w->v.csum_start, ipl, "merged: csum_start");
	CHECK_EQ(w->v.csum_offset, tcp ? 16 : 6, "merged: csum_offset");
	CHECK_BYTES(w->data, w->len, want, wl, "merged packet");
}

/* Expect the writes described by layout: groups of batch indices separated
 * by '|', members by ',', in write order; e.g. "0,1,2|3". */
static void expect_writes(const struct batch *b, const char *layout)
{
	int idx[BMAX], n = 0, w = 0;
	const char *s = layout;

	for (;;) {
		char *end;
		idx[n++] = (int)strtol(s, &end, 10);
		s = end;
		if (*s == ',') {
			s++;
			continue;
		}
		if (w >= rec.n) {
			CHECK(0, "layout %s: only %d writes", layout, rec.n);
			return;
		}
		if (n == 1)
			expect_single(&rec.w[w], b->p[idx[0]], b->len[idx[0]]);
		else
			expect_merged(&rec.w[w], b, idx, n);
		w++;
		n = 0;
		if (!*s)
			break;
		s++; /* '|' */
	}
	CHECK(rec.n == w, "layout %s: %d writes, want %d", layout, rec.n, w);
}

/* n contiguous segments of plen bytes each from s (seq/ID advanced). */
static void add_run(struct batch *b, struct spec *s, int n, size_t plen)
{
	for (int i = 0; i < n; i++) {
		s->plen = plen;
		badd(b, s);
		s->seq += (uint32_t)plen;
		s->pay += plen;
		s->id++;
	}
}

TP_TEST(gro_tcp)
{
	static const int fams[] = {AF_INET, AF_INET6};
	struct batch b = {0};

	for (int f = 0; f < 2; f++) {
		int fam = fams[f];
		const char *v = fam == AF_INET ? "v4" : "v6";
		struct spec s = spec_tcp(fam, 0), t;
		int r;

		add_run(&b, &s, 3, 1448);
		r = run(&b, TP_GRO_TCP);
		CHECK_EQ(r, 1, "one write");
		expect_writes(&b, "0,1,2");
		bfree(&b);
		OK("gro: TCP%s 3 contiguous ACK segments -> one write: NEEDS_CSUM, gso_type, "
		   "gso_size, hdr_len, csum_start/offset, pseudo-header sum over the merged length",
		   v);

		s = spec_tcp(fam, 0);
		s.opt = ts_opt;
		s.optlen = sizeof(ts_opt);
		add_run(&b, &s, 4, 1000);
		add_run(&b, &s, 1, 10); /* short last */
		run(&b, TP_GRO_TCP | TP_GRO_UDP);
		expect_writes(&b, "0,1,2,3,4");
		bfree(&b);
		OK("gro: TCP%s with timestamps, 4x1000 + a short last -> merged, hdr_len 32+ip", v);

		s = spec_tcp(fam, 0);
		s.seq = 0xffffff00;
		add_run(&b, &s, 3, 200);
		run(&b, TP_GRO_TCP);
		expect_writes(&b, "0,1,2");
		bfree(&b);
		OK("gro: TCP%s sequence numbers wrapping 2^32 still contiguous -> merged", v);

		/* PSH on the last one is merged and the merged header has it */
		s = spec_tcp(fam, 0);
		add_run(&b, &s, 2, 500);
		s.flags = ACK | PSH;
		add_run(&b, &s, 1, 500);
		s.flags = ACK;
		add_run(&b, &s, 1, 500);
		run(&b, TP_GRO_TCP);
		expect_writes(&b, "0,1,2|3");
		CHECK(rec.n >= 1 && (rec.w[0].data[(fam == AF_INET ? 20 : 40) + 13] & PSH),
		      "merged has PSH");
		bfree(&b);
		OK("gro: TCP%s PSH on the last segment merged, merged header has PSH, the next "
		   "segment starts a new write",
		   v);

		/* one change at a time on the second of two segments */
		static const struct {
			int what;
			const char *name;
		} cases[] = {
		        {0, "seq gap"},
		        {1, "ACK change"},
		        {2, "SYN"},
		        {3, "FIN"},
		        {4, "RST"},
		        {5, "URG"},
		        {6, "window change"},
		        {7, "options bytes differ"},
		        {8, "TTL/hop limit"},
		        {9, "TOS/traffic class"},
		        {10, "larger than first"},
		        {11, "no payload (pure ACK)"},
		        {12, "ECE"},
		        {13, "urgent pointer"},
		        {14, "port change"},
		        {15, "IPv6 flow label"},
		};
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			s = spec_tcp(fam, 0);
			s.opt = ts_opt;
			s.optlen = sizeof(ts_opt);
			add_run(&b, &s, 1, 700);
			t = s;
			t.plen = 700;
			switch (cases[c].what) {
			case 0:
				t.seq++;
				break;
			case 1:
				t.ack++;
				break;
			case 2:
				t.flags |= SYN;
				break;
			case 3:
				t.flags |= FIN;
				break;
			case 4:
				t.flags |= RST;
				break;
			case 5:
				t.flags |= URG;
				break;
			case 6:
				t.win++;
				break;
			case 7: {
				static uint8_t o2[12];
				memcpy(o2, ts_opt, 12);
				o2[7]++;
				t.opt = o2;
				break;
			}
			case 8:
				t.ttl--;
				break;
			case 9:
				t.tos = 0x10;
				break;
			case 10:
				t.plen = 701;
				break;
			case 11:
				t.plen = 0;
				break;
			case 12:
				t.flags |= ECE;
				break;
			case 13:
				t.urp = 1;
				break;
			case 14:
				t.sport++;
				break;
			case 15:
				t.flow = fam == AF_INET6 ? 0x12345 : 0;
				break;
			}
			if (cases[c].what == 15 && fam == AF_INET)
				t.frag = 0; /* v4: a DF change instead */
			badd(&b, &t);
			run(&b, TP_GRO_TCP);
			expect_writes(&b, "0|1");
			bfree(&b);
			OK("gro: TCP%s no merge: %s%s", v, cases[c].name,
			   cases[c].what == 15 && fam == AF_INET ? " (v4: DF cleared)" : "");
		}

		/* flags on the first one */
		static const uint8_t first_flags[] = {ACK | PSH, ACK | FIN, SYN | ACK, ACK | URG,
		                                      ACK | CWR};
		for (size_t c = 0; c < sizeof(first_flags); c++) {
			s = spec_tcp(fam, 0);
			s.flags = first_flags[c];
			add_run(&b, &s, 1, 700);
			s.flags = ACK;
			add_run(&b, &s, 1, 700);
			run(&b, TP_GRO_TCP);
			expect_writes(&b, "0|1");
			bfree(&b);
		}
		OK("gro: TCP%s no merge after a first segment with PSH, FIN, SYN, URG or CWR", v);

		/* a segment after a short one */
		s = spec_tcp(fam, 0);
		add_run(&b, &s, 2, 1000);
		add_run(&b, &s, 1, 999);
		add_run(&b, &s, 2, 999);
		run(&b, TP_GRO_TCP);
		expect_writes(&b, "0,1,2|3,4");
		bfree(&b);
		OK("gro: TCP%s nothing appended after a short segment (2x1000+999 | 2x999)", v);

		/* kinds without TP_GRO_TCP */
		s = spec_tcp(fam, 0);
		add_run(&b, &s, 3, 1000);
		run(&b, TP_GRO_UDP);
		expect_writes(&b, "0|1|2");
		run(&b, 0);
		expect_writes(&b, "0|1|2");
		bfree(&b);
		OK("gro: TCP%s with kinds UDP or 0 -> three unmerged writes, all-zero headers", v);

		/* 64 KiB limit */
		{
			size_t hl = fam == AF_INET ? 40 : 60, n = (65535 - hl) / 1460;
			char lay[1024];
			size_t o = 0;
			s = spec_tcp(fam, 0);
			add_run(&b, &s, (int)n + 1, 1460);
			for (size_t i = 0; i < n; i++)
				o += (size_t)snprintf(lay + o, sizeof(lay) - o, "%s%zu",
				                      i ? "," : "", i);
			snprintf(lay + o, sizeof(lay) - o, "|%zu", n);
			run(&b, TP_GRO_TCP);
			expect_writes(&b, lay);
			bfree(&b);
			OK("gro: TCP%s %zu x 1460 fit in 65535, segment %zu starts a new write", v,
			   n, n + 1);

			s = spec_tcp(fam, 0);
			add_run(&b, &s, 1, (65535 - hl + 1) / 2);
			add_run(&b, &s, 1, (65535 - hl) / 2);
			run(&b, TP_GRO_TCP);
			expect_writes(&b, "0,1");
			CHECK(rec.n == 1 && rec.w[0].len == 65535, "merged length %zu",
			      rec.n ? rec.w[0].len : 0);
			bfree(&b);
			s = spec_tcp(fam, 0);
			add_run(&b, &s, 2, (65535 - hl + 1) / 2 + 1);
			run(&b, TP_GRO_TCP);
			expect_writes(&b, "0|1");
			bfree(&b);
			OK("gro: TCP%s merged IP length up to 65535 merges; one byte more does not",
			   v);
		}

		/* 128 one-byte segments (member limit) */
		s = spec_tcp(fam, 0);
		add_run(&b, &s, 130, 1);
		run(&b, TP_GRO_TCP);
		CHECK(rec.n >= 2 && rec.w[0].nsegs + rec.w[1].nsegs == 130 && rec.w[0].nsegs >= 64,
		      "130 tiny segments in %d writes", rec.n);
		{
			unsigned tot = 0;
			for (int i = 0; i < rec.n; i++)
				tot += rec.w[i].nsegs;
			CHECK_EQ(tot, 130, "every segment written once");
		}
		bfree(&b);
		OK("gro: TCP%s 130 one-byte segments -> >= 64 per write, all delivered", v);
	}

	/* IPv4 with options */
	{
		struct spec s = spec_tcp(AF_INET, 0);
		s.ipopt = 4;
		add_run(&b, &s, 3, 500);
		run(&b, TP_GRO_TCP);
		expect_writes(&b, "0|1|2");
		bfree(&b);
		OK("gro: TCPv4 with IP options -> never merged");
	}
	/* IPv4 fragments (MF, or an offset) are never merged */
	{
		struct spec s = spec_tcp(AF_INET, 0);
		s.frag = 0x2000; /* MF */
		add_run(&b, &s, 3, 500);
		run(&b, TP_GRO_TCP);
		expect_writes(&b, "0|1|2");
		bfree(&b);
		s = spec_udp(AF_INET, 0);
		s.frag = 0x0020; /* offset 256 */
		add_run(&b, &s, 3, 500);
		run(&b, TP_GRO_UDP);
		expect_writes(&b, "0|1|2");
		bfree(&b);
		OK("gro: IPv4 fragments (TCP with MF, UDP with an offset) -> never merged");
	}
	/* IPv4 TOS with ECN bits, v6 traffic class: equal values merge */
	{
		struct spec s = spec_tcp(AF_INET, 0);
		s.tos = 0xb8;
		add_run(&b, &s, 2, 500);
		s = spec_tcp(AF_INET6, 0);
		s.tos = 0xb8;
		s.flow = 0xabcde;
		s.ttl = 1;
		add_run(&b, &s, 2, 500);
		run(&b, TP_GRO_TCP);
		expect_writes(&b, "0,1|2,3");
		bfree(&b);
		OK("gro: equal non-zero TOS / traffic class, flow label, hop limit 1 -> merged");
	}
	/* IPv4 ID is not compared (random IDs still merge; regenerated on split) */
	{
		struct spec s = spec_tcp(AF_INET, 0);
		add_run(&b, &s, 1, 500);
		s.id = 7;
		add_run(&b, &s, 1, 500);
		run(&b, TP_GRO_TCP);
		expect_writes(&b, "0,1");
		bfree(&b);
		OK("gro: TCPv4 non-consecutive IP IDs still merge (ID is not compared)");
	}
	/* IPv6 extension header */
	{
		struct spec s = spec_tcp(AF_INET6, 0);
		for (int i = 0; i < 3; i++) {
			s.plen = 500;
			size_t len = build(tmp, &s);
			badd_raw(&b, tmp, add_hbh(tmp, len));
			s.seq += 500;
			s.pay += 500;
		}
		run(&b, TP_GRO_TCP);
		expect_writes(&b, "0|1|2");
		bfree(&b);
		OK("gro: TCPv6 behind a hop-by-hop header -> never merged");
	}
	/* IP length field not equal to the buffer length (trailing padding) */
	{
		struct spec s = spec_tcp(AF_INET, 500);
		size_t len = build(tmp, &s);
		memset(tmp + len, 0, 4);
		badd_raw(&b, tmp, len + 4);
		s.seq += 500;
		badd(&b, &s);
		run(&b, TP_GRO_TCP);
		expect_writes(&b, "0|1");
		bfree(&b);
		OK("gro: IPv4 buffer longer than the total length -> not merged, sent as is");
	}
}

TP_TEST(gro_flows)
{
	struct batch b = {0};
	struct spec x = spec_tcp(AF_INET, 0), y = spec_tcp(AF_INET, 0), z = spec_tcp(AF_INET6, 0);
	struct spec u = spec_udp(AF_INET6, 0);

	y.sport = 40001;
	y.seq = 77;
	y.pay = pat + 30000;
	z.pay = pat + 60000;
	u.pay = pat + 90000;
	for (int i = 0; i < 3; i++) {
		add_run(&b, &x, 1, 1000); /* 0 4 8 */
		add_run(&b, &y, 1, 900);  /* 1 5 9 */
		add_run(&b, &z, 1, 800);  /* 2 6 10 */
		add_run(&b, &u, 1, 700);  /* 3 7 11 */
	}
	run(&b, TP_GRO_TCP | TP_GRO_UDP);
	expect_writes(&b, "0,4,8|1,5,9|2,6,10|3,7,11");
	bfree(&b);
	OK("gro: four interleaved flows (tcp4 x2, tcp6, udp6) -> each merged, in order of first "
	   "packet");

	/* order within a flow: a non-candidate of the flow ends the item */
	x = spec_tcp(AF_INET, 0);
	y = spec_tcp(AF_INET, 0);
	y.sport = 40001;
	add_run(&b, &x, 2, 1000); /* 0 1 */
	add_run(&b, &y, 1, 1000); /* 2 */
	{
		struct spec a = x; /* 3: a pure ACK of flow x */
		a.plen = 0;
		badd(&b, &a);
	}
	add_run(&b, &x, 2, 1000); /* 4 5 */
	add_run(&b, &y, 1, 1000); /* 6 */
	run(&b, TP_GRO_TCP);
	expect_writes(&b, "0,1|2,6|3|4,5");
	bfree(&b);
	OK("gro: a pure ACK of a flow between its segments -> runs before and after it stay "
	   "separate and in order; the other flow still merges");

	/* a non-TCP/UDP packet (ICMP) is a barrier for everything before it */
	x = spec_tcp(AF_INET, 0);
	add_run(&b, &x, 2, 1000); /* 0 1 */
	{
		size_t len = pb_build(tmp, AF_INET, IPPROTO_ICMP, 20, 0);
		badd_raw(&b, tmp, len); /* 2 */
	}
	add_run(&b, &x, 2, 1000); /* 3 4 */
	run(&b, TP_GRO_TCP);
	expect_writes(&b, "0,1|2|3,4");
	bfree(&b);
	OK("gro: an ICMP packet between a flow's segments -> nothing crosses it");

	/* ACK changes within a flow: new item, order kept */
	x = spec_tcp(AF_INET6, 0);
	add_run(&b, &x, 2, 600);
	x.ack += 1000;
	add_run(&b, &x, 2, 600);
	run(&b, TP_GRO_TCP);
	expect_writes(&b, "0,1|2,3");
	bfree(&b);
	OK("gro: TCPv6 ACK advancing mid-batch -> two merged writes in order");

	/* many flows (hash table probing) */
	{
		char lay[4096];
		size_t o = 0;
		struct spec fl[100];
		for (int f = 0; f < 100; f++) {
			fl[f] = spec_tcp(f & 1 ? AF_INET6 : AF_INET, 0);
			fl[f].sport = (uint16_t)(1000 + f);
			fl[f].pay = pat + (size_t)f * 100;
		}
		for (int r = 0; r < 3; r++)
			for (int f = 0; f < 100; f++)
				add_run(&b, &fl[f], 1, 100);
		for (int f = 0; f < 100; f++)
			o += (size_t)snprintf(lay + o, sizeof(lay) - o, "%s%d,%d,%d", f ? "|" : "",
			                      f, f + 100, f + 200);
		run(&b, TP_GRO_TCP);
		expect_writes(&b, lay);
		bfree(&b);
		OK("gro: 100 interleaved flows x 3 segments -> 100 merged writes in order");
	}
}

TP_TEST(gro_udp)
{
	static const int fams[] = {AF_INET, AF_INET6};
	struct batch b = {0};

	for (int f = 0; f < 2; f++) {
		int fam = fams[f];
		const char *v = fam == AF_INET ? "v4" : "v6";
		struct spec s = spec_udp(fam, 0);

		add_run(&b, &s, 4, 1200);
		CHECK_EQ(run(&b, TP_GRO_UDP), 1, "one write");
		expect_writes(&b, "0,1,2,3");
		bfree(&b);
		OK("gro: UDP%s 4 equal datagrams -> one UDP_L4 write, csum_offset 6, UDP length = "
		   "merged, pseudo-header sum",
		   v);

		s = spec_udp(fam, 0);
		add_run(&b, &s, 3, 1200);
		add_run(&b, &s, 1, 1);
		add_run(&b, &s, 1, 1200);
		run(&b, TP_GRO_UDP | TP_GRO_TCP);
		expect_writes(&b, "0,1,2,3|4");
		bfree(&b);
		OK("gro: UDP%s a shorter last datagram merges and ends the run", v);

		s = spec_udp(fam, 0);
		add_run(&b, &s, 2, 1000);
		add_run(&b, &s, 2, 1001);
		run(&b, TP_GRO_UDP);
		expect_writes(&b, "0,1|2,3");
		bfree(&b);
		OK("gro: UDP%s a longer datagram does not merge (starts its own run)", v);

		s = spec_udp(fam, 0);
		add_run(&b, &s, 130, 100);
		run(&b, TP_GRO_UDP);
		{
			char lay[2048];
			size_t o = 0;
			for (int i = 0; i < 130; i++)
				o += (size_t)snprintf(
				        lay + o, sizeof(lay) - o, "%s%d",
				        i == 0 ? "" : (i % TP_GRO_UDP_MAX_SEGS ? "," : "|"), i);
			expect_writes(&b, lay);
		}
		bfree(&b);
		OK("gro: UDP%s 130 datagrams -> 64 + 64 + 2 (TP_GRO_UDP_MAX_SEGS)", v);

		s = spec_udp(fam, 0);
		add_run(&b, &s, 65, 100);
		run(&b, TP_GRO_UDP);
		{
			char lay[1024];
			size_t o = 0;
			for (int i = 0; i < 64; i++)
				o += (size_t)snprintf(lay + o, sizeof(lay) - o, "%s%d",
				                      i ? "," : "", i);
			snprintf(lay + o, sizeof(lay) - o, "|64");
			expect_writes(&b, lay);
		}
		bfree(&b);
		OK("gro: UDP%s 65 datagrams -> 64 merged + 1 unmerged", v);

		s = spec_udp(fam, 0);
		add_run(&b, &s, 3, 1000);
		run(&b, TP_GRO_TCP);
		expect_writes(&b, "0|1|2");
		bfree(&b);
		OK("gro: UDP%s with kinds TCP only -> unmerged", v);

		/* header differences */
		for (int c = 0; c < 4; c++) {
			struct spec t;
			s = spec_udp(fam, 0);
			add_run(&b, &s, 1, 500);
			t = s;
			t.plen = 500;
			if (c == 0)
				t.ttl++;
			else if (c == 1)
				t.tos = 4;
			else if (c == 2)
				t.dport++;
			else
				t.plen = 0;
			badd(&b, &t);
			run(&b, TP_GRO_UDP);
			expect_writes(&b, "0|1");
			bfree(&b);
		}
		OK("gro: UDP%s no merge on TTL, TOS, port change or an empty datagram", v);

		/* UDP datagram whose UDP length disagrees with the IP length */
		s = spec_udp(fam, 0);
		add_run(&b, &s, 1, 500);
		{
			size_t len = build(tmp, &s), ipl = iphdr_len(tmp);
			pb_put16(tmp + ipl + 4, 400 + 8);
			pb_fix_l4(tmp);
			badd_raw(&b, tmp, len);
		}
		run(&b, TP_GRO_UDP);
		expect_writes(&b, "0|1");
		bfree(&b);
		OK("gro: UDP%s datagram with UDP length != IP payload -> not merged", v);
	}
	/* IPv4 UDP checksum 0 (none): merged gets the pseudo sum */
	{
		struct spec s = spec_udp(AF_INET, 0);
		for (int i = 0; i < 2; i++) {
			s.plen = 300;
			size_t len = build(tmp, &s);
			pb_put16(tmp + 26, 0);
			badd_raw(&b, tmp, len);
			s.pay += 300;
		}
		run(&b, TP_GRO_UDP);
		expect_writes(&b, "0,1");
		bfree(&b);
		OK("gro: UDPv4 datagrams without a checksum (0) merge; merged carries the pseudo "
		   "sum");
	}
}

TP_TEST(gro_einval)
{
	struct batch b = {0};
	struct spec x = spec_tcp(AF_INET, 0), y = spec_tcp(AF_INET6, 0), u = spec_udp(AF_INET, 0);
	struct tp_gro *g = tp_gro_new(64);
	unsigned refused = 0;
	int r;

	add_run(&b, &x, 3, 1000); /* 0 1 2 */
	add_run(&b, &u, 2, 500);  /* 3 4 */
	add_run(&b, &y, 2, 800);  /* 5 6 */
	rec.refuse = true;
	r = run_on(g, &b, TP_GRO_TCP | TP_GRO_UDP, &refused);
	rec.refuse = false;
	CHECK_EQ(refused, TP_GRO_TCP | TP_GRO_UDP, "refused kinds");
	/* merged(TCP) refused, 0 1 2; merged(UDP) refused, 3 4; TCP off: 5 6 */
	CHECK_EQ(rec.n, 9, "write calls");
	CHECK_EQ(r, 9, "flush counts every write made, the refused ones too");
	if (rec.n == 9) {
		int k = 0;
		CHECK(rec.w[0].kind == TP_GRO_TCP && rec.w[0].ret == -EINVAL, "TCP tried");
		CHECK(rec.w[4].kind == TP_GRO_UDP && rec.w[4].ret == -EINVAL, "UDP tried");
		for (int i = 0; i < 9; i++) {
			if (rec.w[i].ret)
				continue;
			CHECK(k < 7, "too many delivered");
			if (k < 7)
				expect_single(&rec.w[i], b.p[k], b.len[k]);
			k++;
		}
		CHECK_EQ(k, 7, "all 7 packets delivered");
	}
	OK("gro: merged writes refused with EINVAL -> members re-sent one by one unchanged, "
	   "*refused = TCP|UDP, later TCP items not retried merged, nothing lost");

	/* refused accumulates (OR), other kinds untouched */
	refused = 0;
	bfree(&b);
	add_run(&b, &x, 2, 1000);
	rec.refuse = true;
	r = run_on(g, &b, TP_GRO_TCP | TP_GRO_UDP, &refused);
	rec.refuse = false;
	CHECK_EQ(refused, TP_GRO_TCP, "only TCP refused");
	CHECK_EQ(rec.n, 3, "1 refused + 2");
	if (rec.n == 3) {
		expect_single(&rec.w[1], b.p[0], b.len[0]);
		expect_single(&rec.w[2], b.p[1], b.len[1]);
	}
	/* refused may be NULL */
	rec.refuse = true;
	rec_reset(&rec);
	for (int i = 0; i < b.n; i++)
		tp_gro_add(g, b.p[i], b.len[i]);
	r = tp_gro_flush(g, TP_GRO_TCP, rec_write, &rec, NULL);
	rec.refuse = false;
	CHECK_EQ(rec.n, 3, "NULL refused: still re-sent");
	bfree(&b);
	OK("gro: EINVAL with only TCP merged -> *refused == TCP; NULL refused pointer is fine");

	/* the batch is reusable after flushes and the same g keeps merging */
	add_run(&b, &x, 2, 1000);
	run_on(g, &b, TP_GRO_TCP, &refused);
	expect_writes(&b, "0,1");
	bfree(&b);
	OK("gro: the same batch merges again after an EINVAL flush (kill-switch is the caller's)");
	tp_gro_free(g);
}

static int fail_write(void *ctx, const struct iovec *iov, int iovcnt, unsigned nsegs, unsigned kind)
{
	int *calls = ctx;
	(*calls)++;
	return *calls == 2 ? -EAGAIN : (*calls == 3 ? -EIO : 0);
}

/* tcp_partial: TCP packets whose checksum field holds only the
 * pseudo-header sum go out with NEEDS_CSUM whether merged or not; UDP and
 * ICMP keep an all-zero header. Completing the partial sum as the kernel
 * would gives the packet's real checksum. */
TP_TEST(gro_partial)
{
	struct batch b = {0};
	struct tp_gro *g = tp_gro_new(BMAX);
	unsigned refused = 0;

	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		struct spec s = spec_tcp(family, 300);
		struct spec u = spec_udp(family, 50);
		uint16_t full[3];

		for (int i = 0; i < 3; i++) { /* 300, then a seq gap: 3 single packets */
			int k = badd(&b, &s);
			size_t f = csum_field(b.p[k]);
			full[i] = (uint16_t)(b.p[k][f] << 8 | b.p[k][f + 1]);
			/* what the stack hands over with tcp_csum_partial */
			uint16_t ps = pseudo_fold(b.p[k], b.len[k] - iphdr_len(b.p[k]));
			b.p[k][f] = (uint8_t)(ps >> 8);
			b.p[k][f + 1] = (uint8_t)ps;
			s.seq += 1000;
		}
		badd(&b, &u);
		tp_gro_set_tcp_partial(g, true);
		run_on(g, &b, TP_GRO_TCP | TP_GRO_UDP, &refused);
		CHECK_EQ(rec.n, 4, "four single writes");
		for (int i = 0; i < 3; i++) {
			struct wrec *w = &rec.w[i];
			size_t ip = iphdr_len(w->data), f = csum_field(w->data);
			CHECK(w->v.flags == TP_VNET_F_NEEDS_CSUM && w->v.gso_type == TP_GSO_NONE &&
			              w->v.csum_start == ip && w->v.csum_offset == 16 &&
			              w->v.hdr_len == hdr_len(w->data),
			      "unmerged partial TCP packet %d gets a NEEDS_CSUM header", i);
			/* complete it like the kernel: sum from csum_start over the field */
			uint16_t c = tp_csum_finish(tp_csum_add(0, w->data + ip, w->len - ip));
			CHECK_EQ(c, full[i], "completed sum equals the real checksum");
			CHECK_EQ(w->data[f] << 8 | w->data[f + 1],
			         pseudo_fold(w->data, w->len - ip), "field untouched");
		}
		CHECK(rec.w[3].v.flags == 0 && rec.w[3].v.gso_type == 0, "UDP keeps a zero header");
		bfree(&b);
	}
	tp_gro_free(g);
	OK("gro: tcp_partial: single TCP packets written with NEEDS_CSUM (IPv4, IPv6), the "
	   "completed sum is the real checksum; UDP unchanged");
}

TP_TEST(gro_api)
{
	struct tp_gro *g = tp_gro_new(4);
	struct spec s = spec_tcp(AF_INET, 100);
	size_t len = build(tmp, &s);
	int calls = 0;

	CHECK(g != NULL, "new");
	for (int i = 0; i < 4; i++)
		CHECK_EQ(tp_gro_add(g, tmp, len), 0, "add");
	CHECK_EQ(tp_gro_add(g, tmp, len), -ENOSPC, "full");
	CHECK_EQ(tp_gro_count(g), 4, "count");
	CHECK_EQ(tp_gro_add(g, tmp, 19), -EINVAL, "19 bytes");
	CHECK_EQ(tp_gro_add(g, tmp, 0), -EINVAL, "0 bytes");
	OK("gro: tp_gro_add -> -ENOSPC when full, -EINVAL for < 20 bytes");

	/* identical packets (same seq) never merge; errors: first one returned,
	 * the rest still written */
	CHECK_EQ(tp_gro_flush(g, TP_GRO_TCP, fail_write, &calls, NULL), -EAGAIN, "first error");
	CHECK_EQ(calls, 4, "all four written despite errors");
	CHECK_EQ(tp_gro_count(g), 0, "emptied");
	CHECK_EQ(tp_gro_add(g, tmp, len), 0, "add after flush");
	OK("gro: flush returns the first error (not EINVAL), still writes the rest, empties");
	tp_gro_free(g);
	tp_gro_free(NULL);

	CHECK(tp_gro_new(0) == NULL, "new(0)");
	g = tp_gro_new(1);
	CHECK(g != NULL, "new(1)");
	CHECK_EQ(tp_gro_add(g, tmp, len), 0, "add");
	CHECK_EQ(tp_gro_add(g, tmp, len), -ENOSPC, "full at 1");
	calls = 0;
	CHECK_EQ(tp_gro_flush(g, TP_GRO_TCP, fail_write, &calls, NULL), 1, "1 write");
	tp_gro_free(g);
	/* arena growth: 6 packets of 9048 bytes in a batch sized for 1600 each */
	g = tp_gro_new(8);
	{
		struct batch b = {0};
		struct spec j = spec_udp(AF_INET6, 0);
		unsigned refused = 0;
		add_run(&b, &j, 6, 9000);
		run_on(g, &b, TP_GRO_UDP, &refused);
		expect_writes(&b, "0,1,2,3,4,5");
		bfree(&b);
	}
	tp_gro_free(g);
	OK("gro: new(0) -> NULL, new(1) holds one packet, the arena grows for jumbo packets");

	/* an error other than EINVAL on a merged write: returned, members not
	 * re-sent, the rest of the batch still written */
	{
		struct batch b = {0};
		struct spec x = spec_tcp(AF_INET, 0), y = spec_tcp(AF_INET, 0);
		y.sport = 9;
		add_run(&b, &x, 2, 1000);
		add_run(&b, &y, 2, 1000);
		g = tp_gro_new(8);
		for (int i = 0; i < b.n; i++)
			tp_gro_add(g, b.p[i], b.len[i]);
		calls = 1; /* the first write is call 2: -EAGAIN */
		CHECK_EQ(tp_gro_flush(g, TP_GRO_TCP, fail_write, &calls, NULL), -EAGAIN,
		         "merged write error returned");
		CHECK_EQ(calls, 3, "two merged writes, no re-send");
		tp_gro_free(g);
		bfree(&b);
		OK("gro: -EAGAIN on a merged write -> returned, members not re-sent, next item "
		   "still written");
	}

	/* empty flush */
	g = tp_gro_new(4);
	rec_reset(&rec);
	CHECK_EQ(tp_gro_flush(g, TP_GRO_TCP, rec_write, &rec, NULL), 0, "empty flush");
	CHECK_EQ(rec.n, 0, "no writes");
	tp_gro_free(g);
	OK("gro: flushing an empty batch writes nothing and returns 0");
}

/* ---- property: coalesce then split gives the originals back ---- */

TP_TEST(property)
{
	static uint8_t out[300000];
	static struct tp_seg segs[300];
	struct tp_gro *g = tp_gro_new(BMAX);
	struct batch b = {0};
	unsigned long merged = 0, singles = 0;
	const uint64_t seed = 0x5eed0ff10adull;
	int iters = 2000;

	rng_state = seed;
	for (int it = 0; it < iters; it++) {
		int nflows = (int)rnd_in(1, 3), first[3] = {-1, -1, -1};
		int left[3], K[3], fidx[3][130], n = 0;
		struct spec sp[3];
		bool udp = rnd() & 1;
		unsigned refused = 0;
		size_t mss[3];

		for (int f = 0; f < nflows; f++) {
			int fam = rnd() & 1 ? AF_INET6 : AF_INET;
			size_t hl, kmax;
			sp[f] = udp ? spec_udp(fam, 0) : spec_tcp(fam, 0);
			sp[f].sport = (uint16_t)(1000 + f);
			sp[f].seq = rnd();
			sp[f].ack = rnd();
			sp[f].id = (uint16_t)rnd();
			sp[f].win = (uint16_t)rnd();
			sp[f].ttl = (uint8_t)rnd_in(1, 255);
			sp[f].tos = (uint8_t)rnd();
			sp[f].flow = rnd() & 0xfffff;
			sp[f].frag = rnd() & 1 ? 0x4000 : 0;
			if (!udp && (rnd() & 1)) {
				sp[f].opt = pat + rnd_in(0, 1000);
				sp[f].optlen = 4 * rnd_in(1, 10);
			}
			hl = (fam == AF_INET ? 20 : 40) + (udp ? 8 : 20 + sp[f].optlen);
			mss[f] = rnd() % 8 ? rnd_in(1, 1460) : rnd_in(1461, 16000);
			kmax = (65535 - hl) / mss[f];
			if (kmax > (udp ? 64 : 128))
				kmax = udp ? 64 : 128;
			K[f] = (int)rnd_in(1, (uint32_t)kmax);
			left[f] = K[f];
			sp[f].pay = pat + rnd_in(0, 65536);
		}
		/* interleave, per-flow order kept */
		for (;;) {
			int avail = 0, pick, f;
			for (f = 0; f < nflows; f++)
				avail += left[f] > 0;
			if (!avail)
				break;
			pick = (int)rnd_in(0, (uint32_t)avail - 1);
			for (f = 0; f < nflows; f++)
				if (left[f] > 0 && pick-- == 0)
					break;
			{
				int i = K[f] - left[f];
				bool last = left[f] == 1;
				struct spec e = sp[f];
				size_t pl = last ? rnd_in(1, (uint32_t)mss[f]) : mss[f];
				e.plen = pl;
				if (!udp && last && (rnd() & 1))
					e.flags |= PSH;
				if (first[f] < 0)
					first[f] = n;
				fidx[f][i] = badd(&b, &e);
				n++;
				sp[f].seq += (uint32_t)pl;
				sp[f].pay += pl;
				sp[f].id++;
				left[f]--;
			}
		}
		run_on(g, &b, TP_GRO_TCP | TP_GRO_UDP, &refused);
		CHECK_EQ(refused, 0, "refused");
		CHECK(rec.n == nflows, "iteration %d: %d writes for %d flows", it, rec.n, nflows);
		if (rec.n != nflows) {
			bfree(&b);
			continue;
		}
		for (int w = 0; w < nflows; w++) {
			/* writes come in the order of each flow's first packet */
			int f = 0;
			struct tp_vnet_hdr v;
			enum tp_drop why;
			int r;
			{
				int rank[3] = {0, 0, 0};
				for (int a = 0; a < nflows; a++)
					for (int c = 0; c < nflows; c++)
						rank[a] += first[c] < first[a];
				for (int a = 0; a < nflows; a++)
					if (rank[a] == w)
						f = a;
			}
			if (K[f] == 1) {
				expect_single(&rec.w[w], b.p[fidx[f][0]], b.len[fidx[f][0]]);
				singles++;
				continue;
			}
			CHECK_EQ(rec.w[w].nsegs, K[f], "nsegs");
			CHECK_EQ(tp_vnet_parse(rec.w[w].vraw, TP_VNET_HDR_LEN, &v), 0,
			         "vnet parse");
			r = tp_gso_split(rec.w[w].data, rec.w[w].len, &v, TP_SPLIT_FILL_CSUM, out,
			                 sizeof(out), segs, 300, &why);
			CHECK(r == K[f], "iteration %d flow %d: split gave %d (%s), want %d", it, f,
			      r, tp_drop_name(why), K[f]);
			for (int i = 0; i < K[f] && i < r; i++) {
				int pi = fidx[f][i];
				CHECK_BYTES(segs[i].data, segs[i].len, b.p[pi], b.len[pi],
				            "split segment == original");
			}
			merged++;
		}
		bfree(&b);
		if (tp_test_failures())
			break;
	}
	tp_gro_free(g);
	OK("property: %d iterations (seed %#llx) of 1-3 interleaved random TCP or UDP flows "
	   "(v4/v6, random mss, options, IDs, seq wrap, PSH on last): coalesce -> vnet parse "
	   "-> split(FILL_CSUM) == originals byte for byte (%lu merged, %lu single)",
	   iters, (unsigned long long)seed, merged, singles);
}

/* Every case starts from the same payload bytes and random state. */
static void setup(void)
{
	rng_state = RNG_SEED;
	for (size_t i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)rnd();
}

static void teardown(void)
{
	rec_reset(&rec);
	rec.refuse = false;
	free(sr.out);
	sr.out = NULL;
}

TP_TEST_FIXTURE(setup, teardown);
