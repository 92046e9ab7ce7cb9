/* SPDX-License-Identifier: MIT */
/* tp_pkt_parse: good TCP/UDP/ICMP packets over IPv4 and IPv6, then every
 * drop reason by breaking one thing at a time in a correct packet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "pktbuild.h"
#include "tunplug/packet.h"

#define V TP_PKT_VERIFY_CSUM

static uint8_t pkt[70000];

/* Parse a heap copy of exactly len bytes, so ASan catches any overread. */
static enum tp_drop parse(const uint8_t *b, size_t len, unsigned flags, struct tp_pkt *o)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum tp_drop r;
	struct tp_pkt tmp;

	memcpy(copy, b, len);
	r = tp_pkt_parse(copy, len, flags, o ? o : &tmp);
	if (o && r == TP_DROP_NONE) {
		/* repoint into the caller's buffer before freeing the copy */
		o->src = b + (o->src - copy);
		o->dst = b + (o->dst - copy);
	}
	free(copy);
	return r;
}

/* One expectation: parse with flags must give want. */
#define EXPECT(b, len, flags, want, ...)                                                          \
	do {                                                                                      \
		enum tp_drop got_ = parse((b), (len), (flags), NULL);                             \
		CHECK(got_ == (want), "got %s, want %s", tp_drop_name(got_), tp_drop_name(want)); \
		OK(__VA_ARGS__);                                                                  \
	} while (0)

TP_TEST(names)
{
	for (int i = 0; i < TP_DROP__COUNT; i++) {
		const char *n = tp_drop_name((enum tp_drop)i);
		CHECK(n && *n && strcmp(n, "unknown") != 0, "name of %d", i);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(n, tp_drop_name((enum tp_drop)j)) != 0, "%s used twice", n);
	}
	CHECK(strcmp(tp_drop_name(TP_DROP__COUNT), "unknown") == 0, "out of range");
	CHECK(strcmp(tp_drop_name((enum tp_drop) - 1), "unknown") == 0, "negative");
	CHECK(strcmp(tp_drop_name(TP_DROP_IP_CSUM), "ip_csum") == 0, "ip_csum");
	CHECK(strcmp(tp_drop_name(TP_DROP_TRUNCATED), "truncated") == 0, "truncated");
	CHECK(strcmp(tp_drop_name(TP_DROP_TCP_OPTIONS), "tcp_options") == 0, "tcp_options");
	OK("names: every drop reason has a distinct name; out of range -> unknown");
}

TP_TEST(good)
{
	static const struct {
		int family;
		uint8_t proto;
		const char *what;
	} t[] = {
	        {AF_INET, IPPROTO_TCP, "ipv4 tcp"},   {AF_INET, IPPROTO_UDP, "ipv4 udp"},
	        {AF_INET, IPPROTO_ICMP, "ipv4 icmp"}, {AF_INET6, IPPROTO_TCP, "ipv6 tcp"},
	        {AF_INET6, IPPROTO_UDP, "ipv6 udp"},  {AF_INET6, IPPROTO_ICMPV6, "ipv6 icmpv6"},
	};
	static const size_t payloads[] = {0, 1, 2, 3, 100, 1379, 1432};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (size_t k = 0; k < sizeof(payloads) / sizeof(payloads[0]); k++) {
			size_t pl = payloads[k];
			size_t len = pb_build(pkt, t[i].family, t[i].proto, pl, 0x12);
			size_t ipl = t[i].family == AF_INET ? 20 : 40;
			size_t l4h = t[i].proto == IPPROTO_TCP ? 20 : 8;
			struct tp_pkt p;

			CHECK_EQ(parse(pkt, len, V, &p), TP_DROP_NONE, t[i].what);
			CHECK_EQ(p.family, t[i].family, "family");
			CHECK_EQ(p.proto, t[i].proto, "proto");
			CHECK_EQ(p.len, len, "len");
			CHECK_EQ(p.l4_off, ipl, "l4_off");
			CHECK_EQ(p.l4_len, len - ipl, "l4_len");
			CHECK(p.src == pkt + (t[i].family == AF_INET ? 12 : 8), "src pointer");
			CHECK(p.dst == pkt + (t[i].family == AF_INET ? 16 : 24), "dst pointer");
			if (t[i].proto == IPPROTO_TCP) {
				CHECK_EQ(p.data_off, ipl + l4h, "tcp data_off");
				CHECK_EQ(p.sport, 40000, "sport");
				CHECK_EQ(p.dport, 443, "dport");
				CHECK_EQ(p.seq, 0x01020304, "seq");
				CHECK_EQ(p.ack, 0x0a0b0c0d, "ack");
				CHECK_EQ(p.tcp_flags, 0x12, "flags");
			} else if (t[i].proto == IPPROTO_UDP) {
				CHECK_EQ(p.data_off, ipl + 8, "udp data_off");
				CHECK_EQ(p.sport, 5353, "sport");
				CHECK_EQ(p.dport, 53, "dport");
				CHECK_EQ(p.tcp_flags, 0, "no flags");
				CHECK_EQ(p.seq | p.ack, 0, "no seq/ack");
			} else {
				CHECK_EQ(p.data_off, len, "icmp data_off == len");
				CHECK_EQ(p.sport | p.dport, 0, "icmp ports 0");
			}
			CHECK_EQ(parse(pkt, len, 0, NULL), TP_DROP_NONE, "without VERIFY_CSUM");
		}
		OK("parse: good %s (payload 0..1432, every field checked) -> none", t[i].what);
	}

	/* trailing bytes after the IP total length are ignored */
	{
		size_t len = pb_build(pkt, AF_INET, IPPROTO_TCP, 10, 0x10);
		struct tp_pkt p;
		memset(pkt + len, 0xee, 30);
		CHECK_EQ(parse(pkt, len + 30, V, &p), TP_DROP_NONE, "v4 padding");
		CHECK_EQ(p.len, len, "len excludes padding");
		len = pb_build(pkt, AF_INET6, IPPROTO_UDP, 10, 0);
		memset(pkt + len, 0xee, 30);
		CHECK_EQ(parse(pkt, len + 30, V, &p), TP_DROP_NONE, "v6 padding");
		CHECK_EQ(p.len, len, "len excludes padding");
	}
	OK("parse: bytes past the IP total length are ignored (v4 and v6)");

	/* TCP options: data offset 8 */
	{
		size_t len = pb_build(pkt, AF_INET6, IPPROTO_TCP, 12, 0x02);
		struct tp_pkt p;
		pkt[40 + 12] = 8 << 4; /* 12 payload bytes become options: */
		memcpy(pkt + 60, "\x01\x01\x08\x0a\x00\x00\x10\x00\x00\x00\x20\x00", 12);
		pb_fix_l4(pkt); /* NOP NOP timestamps */
		CHECK_EQ(parse(pkt, len, V, &p), TP_DROP_NONE, "tcp options");
		CHECK_EQ(p.data_off, 40 + 32, "data_off after options");
		pkt[40 + 12] = 15 << 4; /* 60 > 32 bytes of TCP */
		pb_fix_l4(pkt);
		CHECK_EQ(parse(pkt, len, V, NULL), TP_DROP_L4_TRUNCATED, "tcp offset 15");
	}
	OK("parse: ipv6 tcp with 12 bytes of options -> data_off 72; offset 15 beyond -> "
	   "l4_truncated");

	/* IPv4 UDP without a checksum (0) is accepted even when verifying */
	{
		size_t len = pb_build(pkt, AF_INET, IPPROTO_UDP, 33, 0);
		pb_put16(pkt + 20 + 6, 0);
		EXPECT(pkt, len, V, TP_DROP_NONE,
		       "parse: ipv4 udp checksum 0 (not present) -> none");
	}
	/* unaligned buffer */
	{
		static uint8_t raw[2000];
		for (int off = 1; off < 8; off++) {
			size_t len = pb_build(raw + off, AF_INET, IPPROTO_TCP, 1001, 0x18);
			struct tp_pkt p;
			CHECK_EQ(tp_pkt_parse(raw + off, len, V, &p), TP_DROP_NONE, "unaligned");
			CHECK_EQ(p.seq, 0x01020304, "seq");
		}
		OK("parse: packets at odd buffer offsets 1..7 -> none");
	}
	/* any destination is fine (the gateway terminates everything) */
	{
		size_t len = pb_build(pkt, AF_INET, IPPROTO_UDP, 8, 0);
		memcpy(pkt + 16, (uint8_t[4]){224, 0, 0, 251}, 4);
		pb_fix_ip(pkt);
		pb_fix_l4(pkt);
		EXPECT(pkt, len, V, TP_DROP_NONE,
		       "parse: multicast destination is not a source problem -> none");
	}
}

TP_TEST(ip_drops)
{
	size_t len;
	struct tp_pkt p;

	EXPECT(pkt, 0, V, TP_DROP_TRUNCATED, "parse: empty buffer -> truncated");
	len = pb_build(pkt, AF_INET, IPPROTO_TCP, 0, 2);
	EXPECT(pkt, 19, V, TP_DROP_TRUNCATED, "parse: 19-byte ipv4 -> truncated");
	len = pb_build(pkt, AF_INET6, IPPROTO_TCP, 0, 2);
	EXPECT(pkt, 39, V, TP_DROP_TRUNCATED, "parse: 39-byte ipv6 -> truncated");

	len = pb_build(pkt, AF_INET, IPPROTO_TCP, 0, 2);
	pkt[0] = 0x55;
	EXPECT(pkt, len, V, TP_DROP_VERSION, "parse: version 5 -> version");
	pkt[0] = 0x05;
	EXPECT(pkt, len, V, TP_DROP_VERSION, "parse: version 0 -> version");
	EXPECT(pkt, 1, V, TP_DROP_VERSION, "parse: one byte, version 0 -> version");

	len = pb_build(pkt, AF_INET, IPPROTO_TCP, 0, 2);
	pkt[0] = 0x44;
	pb_fix_ip(pkt);
	EXPECT(pkt, len, V, TP_DROP_HDR_LEN, "parse: ipv4 IHL 4 -> hdr_len");
	pkt[0] = 0x40;
	EXPECT(pkt, len, V, TP_DROP_HDR_LEN, "parse: ipv4 IHL 0 -> hdr_len");
	pkt[0] = 0x4f; /* 60 bytes of header in a 40-byte packet */
	EXPECT(pkt, len, V, TP_DROP_HDR_LEN, "parse: ipv4 IHL 15 beyond the packet -> hdr_len");

	len = pb_build(pkt, AF_INET, IPPROTO_TCP, 0, 2);
	pb_put16(pkt + 2, (uint16_t)(len + 1));
	pb_fix_ip(pkt);
	EXPECT(pkt, len, V, TP_DROP_TOTAL_LEN,
	       "parse: ipv4 total length beyond the buffer -> total_len");
	pb_put16(pkt + 2, 19);
	pb_fix_ip(pkt);
	EXPECT(pkt, len, V, TP_DROP_TOTAL_LEN, "parse: ipv4 total length < IHL*4 -> total_len");
	len = pb_build(pkt, AF_INET6, IPPROTO_UDP, 4, 0);
	pb_put16(pkt + 4, (uint16_t)(len - 40 + 1));
	EXPECT(pkt, len, V, TP_DROP_TOTAL_LEN,
	       "parse: ipv6 payload length beyond the buffer -> total_len");
	memset(pkt + len, 0, sizeof(pkt) - len);
	pb_put16(pkt + 4, 65535);
	EXPECT(pkt, 40 + 65535, V, TP_DROP_TOTAL_LEN,
	       "parse: ipv6 payload 65535 (len does not fit 16 bits) -> total_len");

	len = pb_build(pkt, AF_INET, IPPROTO_TCP, 0, 2);
	pkt[8] ^= 1; /* TTL, header checksum left stale */
	EXPECT(pkt, len, V, TP_DROP_IP_CSUM, "parse: ipv4 header checksum wrong -> ip_csum");
	EXPECT(pkt, len, 0, TP_DROP_IP_CSUM,
	       "parse: ipv4 header checksum is checked without VERIFY_CSUM");

	/* IHL 6: four NOP option bytes between header and TCP */
	len = pb_build(pkt + 4, AF_INET, IPPROTO_TCP, 0, 2) + 4;
	memmove(pkt, pkt + 4, 20);
	memset(pkt + 20, 1, 4);
	pkt[0] = 0x46;
	pb_put16(pkt + 2, (uint16_t)len);
	pb_fix_ip(pkt);
	pb_fix_l4(pkt);
	EXPECT(pkt, len, V, TP_DROP_IP_OPTIONS, "parse: ipv4 with options -> ip_options");

	len = pb_build(pkt, AF_INET, IPPROTO_UDP, 8, 0);
	pb_put16(pkt + 6, 0x2000); /* MF */
	pb_fix_ip(pkt);
	EXPECT(pkt, len, V, TP_DROP_FRAGMENT, "parse: ipv4 more-fragments -> fragment");
	pb_put16(pkt + 6, 0x0001); /* offset 8 */
	pb_fix_ip(pkt);
	EXPECT(pkt, len, V, TP_DROP_FRAGMENT, "parse: ipv4 fragment offset != 0 -> fragment");
	pb_put16(pkt + 6, 0x4000); /* DF only is fine */
	pb_fix_ip(pkt);
	EXPECT(pkt, len, V, TP_DROP_NONE, "parse: ipv4 DF alone -> none");
	pb_put16(pkt + 6, 0x8000); /* reserved bit: not a fragment */
	pb_fix_ip(pkt);
	EXPECT(pkt, len, V, TP_DROP_NONE, "parse: ipv4 reserved flag alone -> none");
	len = pb_build(pkt, AF_INET6, IPPROTO_UDP, 8, 0);
	pkt[6] = 44;
	EXPECT(pkt, len, V, TP_DROP_FRAGMENT, "parse: ipv6 fragment header -> fragment");

	{
		static const uint8_t ext[] = {0, 43, 60, 51, 50, 135, 139, 140};
		for (size_t i = 0; i < sizeof(ext); i++) {
			len = pb_build(pkt, AF_INET6, IPPROTO_TCP, 8, 2);
			pkt[6] = ext[i];
			EXPECT(pkt, len, V, TP_DROP_IPV6_EXTHDR,
			       "parse: ipv6 next header %u -> ipv6_exthdr", ext[i]);
		}
	}

	len = pb_build(pkt, AF_INET, IPPROTO_UDP, 8, 0);
	pkt[9] = 47; /* GRE */
	pb_fix_ip(pkt);
	EXPECT(pkt, len, V, TP_DROP_PROTO, "parse: ipv4 protocol 47 -> proto");
	pkt[9] = IPPROTO_ICMPV6;
	pb_fix_ip(pkt);
	EXPECT(pkt, len, V, TP_DROP_PROTO, "parse: ICMPv6 inside ipv4 -> proto");
	len = pb_build(pkt, AF_INET6, IPPROTO_UDP, 8, 0);
	pkt[6] = 59; /* no next header */
	EXPECT(pkt, len, V, TP_DROP_PROTO, "parse: ipv6 next header 59 -> proto");
	pkt[6] = IPPROTO_ICMP;
	EXPECT(pkt, len, V, TP_DROP_PROTO, "parse: ICMPv4 inside ipv6 -> proto");
	pkt[6] = 132; /* SCTP */
	EXPECT(pkt, len, V, TP_DROP_PROTO, "parse: ipv6 SCTP -> proto");

	{
		static const uint8_t bad4[][4] = {
		        {127, 0, 0, 1},       {127, 255, 1, 2},     {224, 0, 0, 1},
		        {239, 255, 255, 250}, {255, 255, 255, 255}, {0, 0, 0, 0},
		};
		for (size_t i = 0; i < sizeof(bad4) / sizeof(bad4[0]); i++) {
			len = pb_build(pkt, AF_INET, IPPROTO_TCP, 0, 2);
			memcpy(pkt + 12, bad4[i], 4);
			pb_fix_ip(pkt);
			pb_fix_l4(pkt);
			EXPECT(pkt, len, V, TP_DROP_BAD_ADDR,
			       "parse: ipv4 source %u.%u.%u.%u -> bad_addr", bad4[i][0], bad4[i][1],
			       bad4[i][2], bad4[i][3]);
		}
		static const uint8_t bad6[][16] = {
		        {0xff, 0x02, [15] = 1},
		        {0xff, 0x0e, [15] = 0x42},
		        {0},
		        {[15] = 1},
		};
		static const char *const names6[] = {"ff02::1", "ff0e::42", "::", "::1"};
		for (size_t i = 0; i < sizeof(bad6) / sizeof(bad6[0]); i++) {
			len = pb_build(pkt, AF_INET6, IPPROTO_TCP, 0, 2);
			memcpy(pkt + 8, bad6[i], 16);
			pb_fix_l4(pkt);
			EXPECT(pkt, len, V, TP_DROP_BAD_ADDR, "parse: ipv6 source %s -> bad_addr",
			       names6[i]);
		}
		len = pb_build(pkt, AF_INET6, IPPROTO_TCP, 0, 2);
		memcpy(pkt + 8, (uint8_t[16]){[15] = 2}, 16); /* ::2 is odd but not banned */
		pb_fix_l4(pkt);
		EXPECT(pkt, len, V, TP_DROP_NONE, "parse: ipv6 source ::2 -> none");
	}
	(void)p;
}

TP_TEST(l4_drops)
{
	size_t len;
	static const int fams[] = {AF_INET, AF_INET6};

	for (int f = 0; f < 2; f++) {
		int fam = fams[f];
		const char *v = fam == AF_INET ? "ipv4" : "ipv6";
		size_t ipl = fam == AF_INET ? 20 : 40;
		uint8_t icmp = fam == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;

		/* shrink the IP length so only 19 bytes of TCP remain */
		len = pb_build(pkt, fam, IPPROTO_TCP, 0, 2);
		len = ipl + 19;
		if (fam == AF_INET)
			pb_put16(pkt + 2, (uint16_t)len);
		else
			pb_put16(pkt + 4, 19);
		pb_fix_ip(pkt);
		EXPECT(pkt, len, V, TP_DROP_L4_TRUNCATED,
		       "parse: %s tcp header 19 bytes -> l4_truncated", v);

		len = pb_build(pkt, fam, IPPROTO_TCP, 40, 2);
		pkt[ipl + 12] = 4 << 4;
		pb_fix_l4(pkt);
		EXPECT(pkt, len, V, TP_DROP_L4_TRUNCATED,
		       "parse: %s tcp data offset 4 -> l4_truncated", v);
		pkt[ipl + 12] = 0;
		pb_fix_l4(pkt);
		EXPECT(pkt, len, V, TP_DROP_L4_TRUNCATED,
		       "parse: %s tcp data offset 0 -> l4_truncated", v);
		len = pb_build(pkt, fam, IPPROTO_TCP, 20, 2);
		pkt[ipl + 12] = 11 << 4; /* 44 > 40 */
		pb_fix_l4(pkt);
		EXPECT(pkt, len, V, TP_DROP_L4_TRUNCATED,
		       "parse: %s tcp data offset past the packet -> l4_truncated", v);
		pkt[ipl + 12] = 10 << 4;       /* exactly 40: all options, no data */
		memset(pkt + ipl + 20, 1, 20); /* NOPs */
		pb_fix_l4(pkt);
		EXPECT(pkt, len, V, TP_DROP_NONE,
		       "parse: %s tcp data offset == segment length -> none", v);

		len = pb_build(pkt, fam, IPPROTO_UDP, 20, 0);
		pb_put16(pkt + ipl + 4, 27);
		pb_fix_l4(pkt);
		EXPECT(pkt, len, V, TP_DROP_L4_TRUNCATED,
		       "parse: %s udp length < IP payload -> l4_truncated", v);
		pb_put16(pkt + ipl + 4, 29);
		pb_fix_l4(pkt);
		EXPECT(pkt, len, V, TP_DROP_L4_TRUNCATED,
		       "parse: %s udp length > IP payload -> l4_truncated", v);
		len = pb_build(pkt, fam, IPPROTO_UDP, 0, 0);
		len = ipl + 7;
		if (fam == AF_INET)
			pb_put16(pkt + 2, (uint16_t)len);
		else
			pb_put16(pkt + 4, 7);
		pb_put16(pkt + ipl + 4, 7);
		pb_fix_ip(pkt);
		EXPECT(pkt, len, V, TP_DROP_L4_TRUNCATED, "parse: %s udp 7 bytes -> l4_truncated",
		       v);

		len = pb_build(pkt, fam, icmp, 0, 0);
		len = ipl + 7;
		if (fam == AF_INET)
			pb_put16(pkt + 2, (uint16_t)len);
		else
			pb_put16(pkt + 4, 7);
		pb_fix_ip(pkt);
		EXPECT(pkt, len, V, TP_DROP_L4_TRUNCATED, "parse: %s icmp 7 bytes -> l4_truncated",
		       v);

		/* checksums: wrong only matters with VERIFY_CSUM */
		len = pb_build(pkt, fam, IPPROTO_TCP, 99, 0x18);
		pkt[len - 1] ^= 0x40;
		EXPECT(pkt, len, V, TP_DROP_L4_CSUM, "parse: %s tcp payload corrupted -> l4_csum",
		       v);
		EXPECT(pkt, len, 0, TP_DROP_NONE,
		       "parse: %s tcp payload corrupted, no VERIFY_CSUM -> none", v);
		len = pb_build(pkt, fam, IPPROTO_TCP, 99, 0x18);
		pkt[ipl - 1] ^= 1; /* last byte of dst: only the pseudo-header sees it */
		pb_fix_ip(pkt);
		EXPECT(pkt, len, V, TP_DROP_L4_CSUM,
		       "parse: %s tcp pseudo-header (dst) changed -> l4_csum", v);
		len = pb_build(pkt, fam, IPPROTO_UDP, 64, 0);
		pkt[ipl + 8] ^= 0xff;
		EXPECT(pkt, len, V, TP_DROP_L4_CSUM, "parse: %s udp payload corrupted -> l4_csum",
		       v);
		EXPECT(pkt, len, 0, TP_DROP_NONE,
		       "parse: %s udp payload corrupted, no VERIFY_CSUM -> none", v);
		len = pb_build(pkt, fam, icmp, 56, 0);
		pkt[ipl + 4] ^= 1;
		EXPECT(pkt, len, V, TP_DROP_L4_CSUM, "parse: %s icmp id corrupted -> l4_csum", v);
		EXPECT(pkt, len, 0, TP_DROP_NONE,
		       "parse: %s icmp id corrupted, no VERIFY_CSUM -> none", v);
	}

	/* IPv6 UDP checksum 0 is invalid (RFC 8200), with or without VERIFY */
	len = pb_build(pkt, AF_INET6, IPPROTO_UDP, 12, 0);
	pb_put16(pkt + 40 + 6, 0);
	EXPECT(pkt, len, V, TP_DROP_L4_CSUM, "parse: ipv6 udp checksum 0 -> l4_csum");
	EXPECT(pkt, len, 0, TP_DROP_L4_CSUM,
	       "parse: ipv6 udp checksum 0 without VERIFY_CSUM -> l4_csum");

	/* ICMPv6 includes the pseudo-header, ICMPv4 does not: a checksum over
	 * the message alone is wrong for v6 and right for v4 */
	{
		uint64_t s;
		len = pb_build(pkt, AF_INET6, IPPROTO_ICMPV6, 20, 0);
		pb_put16(pkt + 40 + 2, 0);
		s = pb_sum(0, pkt + 40, len - 40);
		pb_put16(pkt + 40 + 2, pb_fold(s));
		EXPECT(pkt, len, V, TP_DROP_L4_CSUM,
		       "parse: icmpv6 checksum without pseudo-header -> l4_csum");
		len = pb_build(pkt, AF_INET, IPPROTO_ICMP, 20, 0);
		pb_put16(pkt + 20 + 2, 0);
		s = pb_sum(0, pkt + 8 + 4, 8); /* v4 src+dst */
		s += IPPROTO_ICMP + (len - 20);
		s = pb_sum(s, pkt + 20, len - 20);
		pb_put16(pkt + 20 + 2, pb_fold(s));
		EXPECT(pkt, len, V, TP_DROP_L4_CSUM,
		       "parse: icmpv4 checksum with a pseudo-header -> l4_csum");
	}
}

/* A TCP packet (SYN, no payload) of family fam whose options are the n
 * bytes of opt (n a multiple of 4, at most 40), checksums correct; returns
 * its length. */
static size_t tcp_opts(int fam, const void *opt, size_t n, uint8_t flags)
{
	size_t ipl = fam == AF_INET ? 20 : 40;
	size_t len = pb_build(pkt, fam, IPPROTO_TCP, n, flags);

	pkt[ipl + 12] = (uint8_t)((20 + n) / 4 << 4);
	memcpy(pkt + ipl + 20, opt, n);
	pb_fix_l4(pkt);
	return len;
}

/* Option lists (hex, as on the wire): accepted ones, then malformed ones. */
static const struct {
	const char *hex, *what;
} good_opts[] = {
        {"020405b40402080a0000100000000000010303 07", "Linux SYN: MSS SACKP TS NOP WS"},
        {"0101080a00001000000020 00", "NOP NOP timestamps"},
        {"0101050a0000000100000002", "NOP NOP SACK, one block"},
        {"0101052200000001000000020000000300000004000000050000000600000007 00000008",
         "NOP NOP SACK, four blocks (34 bytes)"},
        {"01010101", "four NOPs"},
        {"00000000", "EOL"},
        {"0100ffff", "NOP, EOL, then anything (padding is not parsed)"},
        {"02040218", "MSS filling the list exactly"},
        {"fe04abcd", "experimental kind 254, length 4"},
        {"1e020101", "unknown kind 30, length 2, NOP NOP"},
        {"220a00112233445566770000", "fast open cookie (kind 34, length 10), EOL"},
        {"0101010101010101010101010101010101010101010101010101010101010101 0101010101010101",
         "40 NOPs"},
};
static const struct {
	const char *hex, *what;
} bad_opts[] = {
        {"01010102", "MSS kind as the last byte (the reported lwIP over-read)"},
        {"010101fe", "unknown kind as the last byte"},
        {"01010103", "window scale kind as the last byte"},
        {"01010104", "SACK permitted kind as the last byte"},
        {"01010105", "SACK kind as the last byte"},
        {"01010108", "timestamps kind as the last byte"},
        {"1e000101", "length 0"},
        {"1e010101", "length 1"},
        {"01011e08", "length 8 past a 4-byte list"},
        {"020405b4080a0000", "timestamps of length 10 in the last 4 bytes"},
        {"02030501", "MSS length 3"},
        {"0205 05b4 00 010101", "MSS length 5"},
        {"03040700", "window scale length 4"},
        {"03020101", "window scale length 2"},
        {"04030001", "SACK permitted length 3"},
        {"01010408", "SACK permitted length 8 (past the end)"},
        {"0808000000010000000201 01", "timestamps length 8"},
        {"0101 080b 0000000100000002 00 0000 00", "timestamps length 11"},
        {"05020101", "SACK length 2 (no block)"},
        {"0101050c000000010000000200000000", "SACK length 12 (not 2 + 8n)"},
        {"0101 0509 0000000100000002 00 00", "SACK length 9"},
        {"0204ffff01010102", "a valid MSS, then an MSS kind as the last byte"},
};

/* hex (spaces ignored) -> at most max bytes into o; returns the count. */
static size_t unhex(const char *h, uint8_t *o, size_t max)
{
	size_t n = 0;
	int hi = -1;

	for (; *h; h++) {
		int v;
		if (*h == ' ')
			continue;
		v = *h <= '9' ? *h - '0' : (*h | 0x20) - 'a' + 10;
		if (hi < 0) {
			hi = v;
		} else {
			if (n < max)
				o[n] = (uint8_t)(hi << 4 | v);
			n++;
			hi = -1;
		}
	}
	return n;
}

TP_TEST(tcp_options)
{
	static const int fams[] = {AF_INET, AF_INET6};
	uint8_t opt[64];
	size_t n, len;

	for (int f = 0; f < 2; f++) {
		const char *v = fams[f] == AF_INET ? "ipv4" : "ipv6";
		size_t ipl = fams[f] == AF_INET ? 20 : 40;

		for (size_t i = 0; i < sizeof(good_opts) / sizeof(good_opts[0]); i++) {
			struct tp_pkt p;
			n = unhex(good_opts[i].hex, opt, sizeof(opt));
			CHECK(n % 4 == 0 && n <= 40, "table: %s is %zu bytes", good_opts[i].what,
			      n);
			len = tcp_opts(fams[f], opt, n, 0x02);
			CHECK_EQ(parse(pkt, len, V, &p), TP_DROP_NONE, good_opts[i].what);
			CHECK_EQ(p.data_off, ipl + 20 + n, "data_off after the options");
			OK("parse: %s tcp options %s -> none", v, good_opts[i].what);
		}
		for (size_t i = 0; i < sizeof(bad_opts) / sizeof(bad_opts[0]); i++) {
			n = unhex(bad_opts[i].hex, opt, sizeof(opt));
			while (n % 4) /* pad with EOL: the fault comes first */
				opt[n++] = 0;
			len = tcp_opts(fams[f], opt, n, 0x02);
			EXPECT(pkt, len, V, TP_DROP_TCP_OPTIONS,
			       "parse: %s SYN options %s -> tcp_options", v, bad_opts[i].what);
			EXPECT(pkt, len, 0, TP_DROP_TCP_OPTIONS,
			       "parse: %s SYN options %s, no VERIFY_CSUM -> tcp_options", v,
			       bad_opts[i].what);
			pkt[ipl + 13] = 0x10; /* an ACK, checksum now wrong too: still structural */
			EXPECT(pkt, len, V, TP_DROP_TCP_OPTIONS,
			       "parse: %s ACK options %s, bad checksum -> tcp_options", v,
			       bad_opts[i].what);
		}

		/* every kind but EOL and NOP, as the last byte of the list */
		for (int k = 2; k < 256; k++) {
			uint8_t o4[4] = {1, 1, 1, (uint8_t)k};
			len = tcp_opts(fams[f], o4, 4, 0x02);
			CHECK_EQ(parse(pkt, len, V, NULL), TP_DROP_TCP_OPTIONS, "kind at the end");
		}
		OK("parse: %s every kind 2..255 as the last option byte -> tcp_options", v);

		/* NOP NOP, kind k with length l, then EOL padding to 8 bytes:
		 * fine iff 2 <= l <= 6 and the known kinds have their length */
		{
			int accepted = 0;
			for (int k = 2; k < 256; k++) {
				for (int l = 0; l < 256; l++) {
					uint8_t o8[8] = {1, 1, (uint8_t)k, (uint8_t)l, 0, 0, 0, 0};
					int want_len = k == 2   ? 4
					               : k == 3 ? 3
					               : k == 4 ? 2
					               : k == 8 ? 10
					                        : 0;
					bool ok = l >= 2 && l <= 6 &&
					          (!want_len || l == want_len) && k != 5;
					enum tp_drop r;
					len = tcp_opts(fams[f], o8, 8, 0x02);
					r = parse(pkt, len, V, NULL);
					CHECK(r == (ok ? TP_DROP_NONE : TP_DROP_TCP_OPTIONS),
					      "%s kind %d length %d: %s", v, k, l, tp_drop_name(r));
					accepted += ok;
				}
			}
			OK("parse: %s every kind 2..255 x length 0..255 in an 8-byte list: %d "
			   "accepted, the rest tcp_options",
			   v, accepted);
		}
	}
	/* the options cannot hide behind another drop reason's check order */
	len = tcp_opts(AF_INET6, "\x01\x01\x01\x02", 4, 0x02);
	memcpy(pkt + 8, (uint8_t[16]){[15] = 1}, 16); /* source ::1 */
	EXPECT(pkt, len, V, TP_DROP_BAD_ADDR, "parse: ipv6 ::1 source checked before tcp options");
}

/* Every truncation of every good packet must be dropped, and every single
 * byte flip must either parse or be dropped without reading past the end
 * (ASan watches the exact-size copies made by parse()). */
TP_TEST(sweep)
{
	static const int fams[] = {AF_INET, AF_INET6};
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP};
	int accepted = 0, n = 0;

	for (int f = 0; f < 2; f++) {
		for (int q = 0; q < 3; q++) {
			uint8_t proto = protos[q] == IPPROTO_ICMP && fams[f] == AF_INET6
			                        ? IPPROTO_ICMPV6
			                        : protos[q];
			size_t len = pb_build(pkt, fams[f], proto, 37, 0x10);
			for (size_t cut = 0; cut < len; cut++) {
				CHECK(parse(pkt, cut, V, NULL) != TP_DROP_NONE,
				      "cut at %zu accepted", cut);
				CHECK(parse(pkt, cut, 0, NULL) != TP_DROP_NONE,
				      "cut at %zu accepted", cut);
			}
			for (size_t i = 0; i < len; i++) {
				for (int bit = 0; bit < 8; bit++) {
					struct tp_pkt p;
					pkt[i] ^= (uint8_t)(1 << bit);
					if (parse(pkt, len, 0, &p) == TP_DROP_NONE) {
						accepted++;
						CHECK(p.l4_off + p.l4_len == p.len &&
						              p.len <= len && p.data_off <= p.len,
						      "offsets out of range after flipping byte "
						      "%zu bit %d",
						      i, bit);
					}
					n++;
					pkt[i] ^= (uint8_t)(1 << bit);
				}
			}
		}
	}
	OK("parse: every truncation of 6 good packets dropped; %d single-bit flips parsed safely "
	   "(%d accepted without csum check)",
	   n, accepted);
}

/* ---- tp_icmp_unreach ---- */

/* The ICMP error in e[0..n) answers the packet q[0..qlen): addresses
 * swapped, type/code, both checksums (the naive sum of pktbuild.h), the
 * quote byte for byte. */
static void check_unreach(const uint8_t *e, size_t n, const uint8_t *q, size_t qlen, int family,
                          uint8_t type, uint8_t code, const char *what)
{
	size_t hl = family == AF_INET ? 20 : 40, alen = family == AF_INET ? 4 : 16;
	const uint8_t *qsrc = q + (family == AF_INET ? 12 : 8), *qdst = qsrc + alen;
	uint64_t sum;
	struct tp_pkt pk;

	CHECK(n == hl + 8 + qlen, "%s: length %zu, want %zu", what, n, hl + 8 + qlen);
	if (n != hl + 8 + qlen)
		return;
	if (family == AF_INET) {
		CHECK(e[0] == 0x45 && e[9] == IPPROTO_ICMP && e[8] == 64, "%s: IPv4 header", what);
		CHECK(pb_get16(e + 2) == n, "%s: total length %u", what, pb_get16(e + 2));
		CHECK(pb_fold(pb_sum(0, e, 20)) == 0, "%s: IPv4 header checksum", what);
		CHECK(!memcmp(e + 12, qdst, 4) && !memcmp(e + 16, qsrc, 4), "%s: addresses", what);
		sum = 0;
	} else {
		CHECK(e[0] == 0x60 && e[6] == IPPROTO_ICMPV6 && e[7] == 64, "%s: IPv6 header",
		      what);
		CHECK(pb_get16(e + 4) == n - 40, "%s: payload length %u", what, pb_get16(e + 4));
		CHECK(!memcmp(e + 8, qdst, 16) && !memcmp(e + 24, qsrc, 16), "%s: addresses", what);
		sum = pb_sum(0, e + 8, 32) + IPPROTO_ICMPV6 + (n - 40);
	}
	CHECK(e[hl] == type && e[hl + 1] == code, "%s: type %u code %u, want %u/%u", what, e[hl],
	      e[hl + 1], type, code);
	CHECK(pb_fold(pb_sum(sum, e + hl, n - hl)) == 0, "%s: ICMP checksum", what);
	CHECK(!memcmp(e + hl + 4, "\0\0\0\0", 4), "%s: unused field zero", what);
	CHECK(!memcmp(e + hl + 8, q, qlen), "%s: quote differs", what);
	/* and the parser that guards the tun agrees it is a valid packet */
	CHECK(parse(e, n, V, &pk) == TP_DROP_NONE && pk.proto == e[family == AF_INET ? 9 : 6],
	      "%s: tp_pkt_parse refuses it", what);
}

TP_TEST(icmp_unreach_syn)
{
	static const struct {
		enum tp_unreach why;
		uint8_t code4, code6;
		const char *name;
	} k[] = {
	        {TP_UNREACH_NET, 0, 0, "net"},
	        {TP_UNREACH_HOST, 1, 3, "host"},
	        {TP_UNREACH_PORT, 3, 4, "port"},
	        {TP_UNREACH_PROHIBITED, 13, 1, "prohibited"},
	};
	uint8_t syn[200], e[TP_ICMP_UNREACH_MAX];

	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		/* a SYN with MSS, SACK-permitted, timestamps and window scale, as
		 * Linux sends it: data offset 10 */
		size_t hl = fam ? 40 : 20, len = pb_build(syn, family, IPPROTO_TCP, 20, 0x02);
		syn[hl + 12] = 10 << 4;
		memcpy(syn + hl + 20,
		       "\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x01\x02\x03\0\0\0\0\x01\x03\x03\x07",
		       20);
		pb_fix_l4(syn);
		CHECK(parse(syn, len, V, NULL) == TP_DROP_NONE, "the SYN itself is valid");
		for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
			char what[64];
			size_t n;

			snprintf(what, sizeof(what), "%s %s", fam ? "ipv6" : "ipv4", k[i].name);
			memset(e, 0xa5, sizeof(e));
			n = tp_icmp_unreach(e, sizeof(e), syn, len, k[i].why);
			check_unreach(e, n, syn, len, family, fam ? 1 : 3,
			              fam ? k[i].code6 : k[i].code4, what);
		}
	}
	OK("ICMP/ICMPv6 unreachable for a SYN: from its destination to its source, net/host/"
	   "port/prohibited codes, the whole SYN quoted, both checksums right");
}

TP_TEST(icmp_unreach_bounds)
{
	static uint8_t big[2000], e[TP_ICMP_UNREACH_MAX + 100];
	size_t len, n;

	/* IPv4: at most 576 bytes in all; IPv6: at most 1280 */
	len = pb_build(big, AF_INET, IPPROTO_UDP, 1400, 0);
	n = tp_icmp_unreach(e, sizeof(e), big, len, TP_UNREACH_PORT);
	check_unreach(e, n, big, 576 - 28, AF_INET, 3, 3, "ipv4 1428-byte datagram");
	len = pb_build(big, AF_INET6, IPPROTO_UDP, 1900, 0);
	n = tp_icmp_unreach(e, sizeof(e), big, len, TP_UNREACH_HOST);
	check_unreach(e, n, big, 1280 - 48, AF_INET6, 1, 3, "ipv6 1948-byte datagram");
	OK("quote cut at 576 (IPv4) and 1280 (IPv6) bytes in all");

	/* cap smaller than that: cut at cap; too small for header + 8: nothing */
	n = tp_icmp_unreach(e, 100, big, len, TP_UNREACH_NET);
	check_unreach(e, n, big, 100 - 48, AF_INET6, 1, 0, "ipv6 cap 100");
	CHECK(tp_icmp_unreach(e, 40 + 8 + 47, big, len, TP_UNREACH_NET) == 0, "cap 95 < 96");
	CHECK(tp_icmp_unreach(e, 40 + 8 + 48, big, len, TP_UNREACH_NET) == 96, "cap 96");
	OK("a small cap cuts the quote, and refuses below header + 8 quoted bytes");

	/* a cut quote (the total length says more) is fine down to header + 8 */
	len = pb_build(big, AF_INET, IPPROTO_TCP, 100, 0x02);
	n = tp_icmp_unreach(e, sizeof(e), big, 28, TP_UNREACH_PROHIBITED);
	check_unreach(e, n, big, 28, AF_INET, 3, 13, "ipv4 header + 8 bytes");
	CHECK(tp_icmp_unreach(e, sizeof(e), big, 27, TP_UNREACH_HOST) == 0, "27 bytes: too short");
	big[0] = 0x46; /* IHL 6: 24 bytes of header, so 32 are needed */
	CHECK(tp_icmp_unreach(e, sizeof(e), big, 31, TP_UNREACH_HOST) == 0, "IHL 6, 31 bytes");
	CHECK(tp_icmp_unreach(e, sizeof(e), big, 32, TP_UNREACH_HOST) == 20 + 8 + 32,
	      "IHL 6, 32 bytes");
	big[0] = 0x44;
	CHECK(tp_icmp_unreach(e, sizeof(e), big, len, TP_UNREACH_HOST) == 0, "IHL 4");
	big[0] = 0x55;
	CHECK(tp_icmp_unreach(e, sizeof(e), big, len, TP_UNREACH_HOST) == 0, "version 5");
	big[0] = 0x45;
	CHECK(tp_icmp_unreach(e, sizeof(e), big, len, (enum tp_unreach)4) == 0, "unknown kind");
	CHECK(tp_icmp_unreach(e, sizeof(e), big, 0, TP_UNREACH_HOST) == 0, "empty");
	(void)pb_build(big, AF_INET6, IPPROTO_TCP, 0, 0x02);
	CHECK(tp_icmp_unreach(e, sizeof(e), big, 47, TP_UNREACH_HOST) == 0, "ipv6, 47 bytes");
	CHECK(tp_icmp_unreach(e, sizeof(e), big, 48, TP_UNREACH_HOST) == 96, "ipv6, 48 bytes");
	OK("quotes shorter than the header + 8 bytes, bad IHL or version, unknown kind -> 0");
}
