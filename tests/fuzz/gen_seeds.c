/* SPDX-License-Identifier: MIT */
/* Writes the seed corpora of the fuzz targets (committed under corpus/):
 *   gen_seeds <corpus/packet> <corpus/netlink> <corpus/gso> <corpus/gro> \
 *             <corpus/stack>
 * Packets come from the unit tests' builder (correct checksums), netlink
 * replies and requests from tp_nl_build_* and hand-made NLMSG_ERRORs, GSO
 * seeds are a virtio_net_hdr + a super-packet (fuzz_gso.c), GRO seeds a
 * control byte + length-prefixed packets (fuzz_gro.c), stack seeds scripts
 * of connections (fuzz_stack.h). Every seed stays under
 * the 4096-byte -max_len of the ctest runs. Run it again after changing a
 * builder; the output is deterministic. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>

#include "../unit/pktbuild.h"
#include "fuzz_stack.h"
#include "tunplug/netlink.h"
#include "tunplug/offload.h"

static int failed;

static void put(const char *dir, const char *name, const void *a, size_t alen, const void *b,
                size_t blen)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen)) {
		perror(path);
		failed = 1;
	}
	if (f)
		fclose(f);
}

static void packets(const char *dir)
{
	static uint8_t p[2048];
	size_t n;

	n = pb_build(p, AF_INET, IPPROTO_TCP, 0, 0x02);
	put(dir, "v4-tcp-syn", p, n, NULL, 0);
	n = pb_build(p, AF_INET, IPPROTO_TCP, 200, 0x18);
	put(dir, "v4-tcp-data", p, n, NULL, 0);
	n = pb_build(p, AF_INET, IPPROTO_UDP, 31, 0);
	put(dir, "v4-udp", p, n, NULL, 0);
	n = pb_build(p, AF_INET, IPPROTO_ICMP, 56, 0);
	put(dir, "v4-icmp-echo", p, n, NULL, 0);
	n = pb_build(p, AF_INET6, IPPROTO_TCP, 0, 0x12);
	put(dir, "v6-tcp-synack", p, n, NULL, 0);
	n = pb_build(p, AF_INET6, IPPROTO_UDP, 100, 0);
	put(dir, "v6-udp", p, n, NULL, 0);
	n = pb_build(p, AF_INET6, IPPROTO_ICMPV6, 56, 0);
	put(dir, "v6-icmpv6-echo", p, n, NULL, 0);
	n = pb_build(p, AF_INET6, IPPROTO_TCP, 12, 0x02); /* 12 bytes of options */
	p[40 + 12] = 8 << 4;
	memcpy(p + 60, "\x01\x01\x08\x0a\x80\x00\x01\x00\x00\x00\x00\x00", 12);
	pb_fix_l4(p); /* NOP NOP timestamps */
	put(dir, "v6-tcp-options", p, n, NULL, 0);
	for (int f = 0; f < 2; f++) { /* options 01 01 01 02: dropped (tcp_options) */
		size_t ipl = f ? 40 : 20;
		n = pb_build(p, f ? AF_INET6 : AF_INET, IPPROTO_TCP, 4, 0x02);
		p[ipl + 12] = 6 << 4;
		memcpy(p + ipl + 20, "\x01\x01\x01\x02", 4);
		pb_fix_l4(p);
		put(dir, f ? "v6-tcp-syn-opts-01010102" : "v4-tcp-syn-opts-01010102", p, n, NULL,
		    0);
	}
	n = pb_build(p + 4, AF_INET, IPPROTO_UDP, 8, 0) + 4; /* IHL 6 */
	memmove(p, p + 4, 20);
	memset(p + 20, 1, 4);
	p[0] = 0x46;
	pb_put16(p + 2, (uint16_t)n);
	pb_fix_ip(p);
	pb_fix_l4(p);
	put(dir, "v4-options", p, n, NULL, 0);
	n = pb_build(p, AF_INET, IPPROTO_UDP, 40, 0);
	pb_put16(p + 6, 0x2000);
	pb_fix_ip(p);
	put(dir, "v4-fragment", p, n, NULL, 0);
	n = pb_build(p, AF_INET6, IPPROTO_TCP, 8, 0x10);
	p[6] = 0; /* hop-by-hop */
	put(dir, "v6-hopbyhop", p, n, NULL, 0);
	n = pb_build(p, AF_INET, IPPROTO_TCP, 30, 0x11);
	memset(p + n, 0, 14); /* padding after the total length */
	put(dir, "v4-tcp-padded", p, n + 14, NULL, 0);
}

/* NLMSG_ERROR for seq into b; returns its length. */
static size_t err_msg(void *b, uint32_t seq, int error)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b);
	struct nlmsgerr *e;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = seq;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = error;
	e->msg.nlmsg_len = 40;
	e->msg.nlmsg_type = RTM_NEWROUTE;
	e->msg.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	e->msg.nlmsg_seq = seq;
	return nlh->nlmsg_len;
}

static void netlink(const char *dir)
{
	static _Alignas(struct nlmsghdr) char b[2048];
	uint32_t seq = 0x1234;
	struct tp_cidr c;
	struct nlmsghdr *nlh;
	size_t n;
	int len;

	n = err_msg(b, seq, 0);
	put(dir, "ack", &seq, 4, b, n);
	n = err_msg(b, seq, -EEXIST);
	put(dir, "error-eexist", &seq, 4, b, n);
	n = err_msg(b, seq - 1, -ENODEV);
	n += err_msg(b + n, seq, 0);
	put(dir, "stale-then-ack", &seq, 4, b, n);
	n = err_msg(b, seq + 7, 0);
	put(dir, "other-seq", &seq, 4, b, n);
	n = err_msg(b, seq, 0);
	put(dir, "ack-truncated", &seq, 4, b, n - 3);
	nlh = mnl_nlmsg_put_header(b);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI;
	nlh->nlmsg_seq = seq;
	mnl_nlmsg_put_extra_header(nlh, 4);
	put(dir, "done", &seq, 4, b, nlh->nlmsg_len);

	tp_cidr_parse("198.18.0.1/15", &c);
	len = tp_nl_build_addr(b, sizeof(b), RTM_NEWADDR, seq, 7, &c);
	put(dir, "newaddr-v4", &seq, 4, b, (size_t)len);
	tp_cidr_parse("fd00::1/64", &c);
	len = tp_nl_build_addr(b, sizeof(b), RTM_NEWADDR, seq, 7, &c);
	put(dir, "newaddr-v6", &seq, 4, b, (size_t)len);
	tp_cidr_parse("198.19.0.0/16", &c);
	len = tp_nl_build_route(b, sizeof(b), RTM_NEWROUTE, seq, 7, &c, 0);
	put(dir, "newroute-v4", &seq, 4, b, (size_t)len);
	len = tp_nl_build_link(b, sizeof(b), seq, 7, 1400, 1);
	/* a request followed by its ack, as a nested-attribute-free dump */
	n = (size_t)len + err_msg(b + len, seq, 0);
	put(dir, "newlink-then-ack", &seq, 4, b, n);
	/* a route with a nested RTA_MULTIPATH-like attribute */
	len = tp_nl_build_route(b, sizeof(b), RTM_NEWROUTE, seq, 7, &c, 100);
	nlh = (void *)b;
	{
		struct nlattr *nest = mnl_attr_nest_start(nlh, RTA_MULTIPATH);
		mnl_attr_put_u32(nlh, RTA_OIF, 9);
		mnl_attr_nest_end(nlh, nest);
	}
	put(dir, "newroute-nested", &seq, 4, b, nlh->nlmsg_len);

	/* --auto-route: rules as tp_nl_build_rule makes them and a dump of
	 * two rules and a tagged route closed by NLMSG_DONE */
	{
		struct tp_nl_rule r;

		memset(&r, 0, sizeof(r));
		r.family = AF_INET;
		r.priority = 29803;
		r.table = 0x7470;
		r.protocol = TP_NL_PROTO;
		r.invert = true;
		r.has_fwmark = true;
		r.fwmark = 0x7470;
		r.suppress_prefixlen = -1;
		len = tp_nl_build_rule(b, sizeof(b), RTM_NEWRULE, seq, &r);
		put(dir, "rule-not-fwmark", &seq, 4, b, (size_t)len);
		n = (size_t)len;
		memset(&r, 0, sizeof(r));
		r.family = AF_INET6;
		r.priority = 29801;
		r.table = RT_TABLE_MAIN;
		r.protocol = TP_NL_PROTO;
		r.has_uid = true;
		r.uid_lo = 1000;
		r.uid_hi = 1999;
		r.has_dst = true;
		tp_cidr_parse("2001:db8::/32", &r.dst);
		r.suppress_prefixlen = 0;
		len = tp_nl_build_rule(b + n, sizeof(b) - n, RTM_NEWRULE, seq, &r);
		put(dir, "rule-v6-uid-dst", &seq, 4, b + n, (size_t)len);
		n += (size_t)len;
		tp_cidr_parse("::/0", &c);
		len = tp_nl_build_route_proto(b + n, sizeof(b) - n, RTM_NEWROUTE, seq, 7, &c,
		                              0x7470, TP_NL_PROTO);
		n += (size_t)len;
		nlh = mnl_nlmsg_put_header(b + n);
		nlh->nlmsg_type = NLMSG_DONE;
		nlh->nlmsg_flags = NLM_F_MULTI;
		nlh->nlmsg_seq = seq;
		mnl_nlmsg_put_extra_header(nlh, 4);
		n += nlh->nlmsg_len;
		put(dir, "dump-rules-route-done", &seq, 4, b, n);
	}
	/* the reply to RTM_GETLINK: mtu, txqueuelen and IFLA_STATS64 (last:
	 * libmnl leaves attribute padding as it was in b) */
	{
		struct rtnl_link_stats64 st;
		struct ifinfomsg *ifi;

		memset(&st, 0, sizeof(st));
		st.tx_packets = 10000;
		st.tx_dropped = 9500;
		nlh = mnl_nlmsg_put_header(b);
		nlh->nlmsg_type = RTM_NEWLINK;
		nlh->nlmsg_seq = seq;
		ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
		ifi->ifi_index = 7;
		mnl_attr_put_strz(nlh, IFLA_IFNAME, "tp0");
		mnl_attr_put_u32(nlh, IFLA_TXQLEN, 500);
		mnl_attr_put_u32(nlh, IFLA_MTU, 1500);
		mnl_attr_put(nlh, IFLA_STATS64, sizeof(st), &st);
		put(dir, "newlink-stats64", &seq, 4, b, nlh->nlmsg_len);
	}
}

/* ---- GSO: 10-byte vnet header (0x80 in its flags: FILL_CSUM) + packet ---- */

#define FILL 0x80

/* Turn the complete TCP/UDP checksum of b into the partial one tun hands
 * over with NEEDS_CSUM: the folded pseudo-header sum, not complemented. */
static void make_partial(uint8_t *b)
{
	int family;
	uint8_t proto;
	size_t l4len, off = pb_l4(b, &family, &proto, &l4len);
	size_t alen = family == AF_INET ? 4 : 16;
	uint64_t sum = pb_sum(0, b + (family == AF_INET ? 12 : 8), 2 * alen);

	sum += proto + (l4len >> 16) + (l4len & 0xffff);
	pb_put16(b + off + (proto == IPPROTO_TCP ? 16 : 6), (uint16_t)~pb_fold(sum));
}

static void put_gso(const char *dir, const char *name, uint8_t flags, uint8_t type,
                    uint16_t gso_size, const uint8_t *p, size_t n)
{
	uint8_t vh[TP_VNET_HDR_LEN];
	int family;
	uint8_t proto;
	size_t l4len, off = pb_l4(p, &family, &proto, &l4len);
	struct tp_vnet_hdr h = {.flags = flags, .gso_type = type, .gso_size = gso_size};

	if (flags & TP_VNET_F_NEEDS_CSUM) {
		h.csum_start = (uint16_t)off;
		h.csum_offset = proto == IPPROTO_TCP ? 16 : 6;
	}
	h.hdr_len = (uint16_t)(off + (proto == IPPROTO_TCP ? (p[off + 12] >> 4) * 4 : 8));
	tp_vnet_emit(vh, &h);
	put(dir, name, vh, sizeof(vh), p, n);
}

static void gso(const char *dir)
{
	static uint8_t p[8192];
	const uint8_t nc = TP_VNET_F_NEEDS_CSUM;
	size_t n;

	n = pb_build(p, AF_INET, IPPROTO_TCP, 3000, 0x18);
	make_partial(p);
	put_gso(dir, "tso4-fill", nc | FILL, TP_GSO_TCPV4, 1000, p, n);
	n = pb_build(p, AF_INET, IPPROTO_TCP, 4000, 0x80 | 0x18 | 0x01); /* CWR PSH FIN */
	make_partial(p);
	put_gso(dir, "tso4-cwr-psh-fin", nc, TP_GSO_TCPV4, 1448, p, n);
	n = pb_build(p, AF_INET6, IPPROTO_TCP, 3500, 0x10);
	make_partial(p);
	put_gso(dir, "tso6-fill", nc | FILL, TP_GSO_TCPV6, 1200, p, n);
	n = pb_build(p, AF_INET6, IPPROTO_TCP, 12 + 2000, 0x18); /* timestamps */
	p[40 + 12] = 8 << 4;
	memcpy(p + 60, "\x01\x01\x08\x0a\x00\x00\x10\x00\x00\x00\x20\x00", 12);
	make_partial(p);
	put_gso(dir, "tso6-timestamps", nc | FILL, TP_GSO_TCPV6, 500, p, n);
	/* whole TCP super-packets (tp_gso_whole) and the reasons to split */
	n = pb_build(p, AF_INET, IPPROTO_TCP, 3900, 0x18);
	put_gso(dir, "tso4-data-valid", TP_VNET_F_DATA_VALID, TP_GSO_TCPV4, 1448, p, n);
	put_gso(dir, "tso4-unverified", 0, TP_GSO_TCPV4, 1448, p, n);
	n = pb_build(p, AF_INET6, IPPROTO_TCP, 2500, 0x02); /* SYN */
	make_partial(p);
	put_gso(dir, "tso6-syn", nc, TP_GSO_TCPV6, 1000, p, n);
	n = pb_build(p, AF_INET, IPPROTO_TCP, 4 + 2000, 0x10); /* options 01 01 01 02 */
	p[20 + 12] = 6 << 4;
	memcpy(p + 40, "\x01\x01\x01\x02", 4);
	make_partial(p);
	put_gso(dir, "tso4-bad-tcp-options-fill", nc | FILL, TP_GSO_TCPV4, 500, p, n);
	n = pb_build(p, AF_INET, IPPROTO_UDP, 3000, 0);
	make_partial(p);
	put_gso(dir, "uso4-fill", nc | FILL, TP_GSO_UDP_L4, 1200, p, n);
	n = pb_build(p, AF_INET6, IPPROTO_UDP, 2500, 0);
	make_partial(p);
	put_gso(dir, "uso6", nc, TP_GSO_UDP_L4, 1000, p, n);
	n = pb_build(p, AF_INET6, IPPROTO_UDP, 2500, 0);
	make_partial(p);
	put_gso(dir, "uso6-fill", nc | FILL, TP_GSO_UDP_L4, 1000, p, n);
	n = pb_build(p, AF_INET, IPPROTO_TCP, 300, 0x18);
	make_partial(p);
	put_gso(dir, "none-csum-tcp4-fill", nc | FILL, TP_GSO_NONE, 0, p, n);
	n = pb_build(p, AF_INET6, IPPROTO_UDP, 200, 0);
	make_partial(p);
	put_gso(dir, "none-csum-udp6", nc, TP_GSO_NONE, 0, p, n);
	n = pb_build(p, AF_INET, IPPROTO_UDP, 100, 0);
	put_gso(dir, "none-plain-udp4", 0, TP_GSO_NONE, 0, p, n);
	n = pb_build(p + 4, AF_INET, IPPROTO_TCP, 2000, 0x10) + 4; /* IPv4 options */
	memmove(p, p + 4, 20);
	memset(p + 20, 1, 4); /* NOPs */
	p[0] = 0x46;
	pb_put16(p + 2, (uint16_t)n);
	pb_fix_ip(p);
	make_partial(p);
	put_gso(dir, "tso4-ipopts-fill", nc | FILL, TP_GSO_TCPV4, 700, p, n);
	n = pb_build(p, AF_INET, IPPROTO_TCP, 3000, 0x10);
	make_partial(p);
	put_gso(dir, "bad-too-many-segs", nc | FILL, TP_GSO_TCPV4, 40, p, n);
	put_gso(dir, "bad-gso-size-0", nc, TP_GSO_TCPV4, 0, p, n);
	put_gso(dir, "bad-ecn", nc, TP_GSO_TCPV4 | TP_GSO_ECN, 1000, p, n);
	put_gso(dir, "bad-type-family", nc, TP_GSO_TCPV6, 1000, p, n);
	n = pb_build(p, AF_INET, IPPROTO_UDP, 3000, 0);
	put_gso(dir, "bad-ufo", nc, TP_GSO_UDP, 1000, p, n);
	{
		uint8_t vh[TP_VNET_HDR_LEN];
		struct tp_vnet_hdr h = {.flags = nc,
		                        .gso_type = TP_GSO_UDP_L4,
		                        .hdr_len = 28,
		                        .gso_size = 1000,
		                        .csum_start = 20,
		                        .csum_offset = 16};
		tp_vnet_emit(vh, &h); /* the TCP offset on a UDP packet */
		put(dir, "bad-csum-offset", vh, sizeof(vh), p, n);
	}
}

/* ---- GRO: control byte (fuzz_gro.c) + packets with 2-byte lengths ---- */

#define C_TCP 0x01
#define C_UDP 0x02
#define C_EINVAL 0x04
#define C_CAP(i) ((i) << 3) /* batch capacity index: 1 2 3 5 8 32 64 256 */
#define C_TSO 0x40          /* TP_GRO_TSO on */
#define C_TSOIN 0x80        /* a 2-byte gso_size before every packet (gro_gso) */

static uint8_t gro_buf[16384];
static size_t gro_len;

static void gro_start(uint8_t ctl)
{
	gro_buf[0] = ctl;
	gro_len = 1;
}

static void gro_pkt(const uint8_t *p, size_t n)
{
	if (gro_len + 2 + n > sizeof(gro_buf)) {
		fprintf(stderr, "gen_seeds: GRO seed over %zu bytes\n", sizeof(gro_buf));
		failed = 1;
		return;
	}
	pb_put16(gro_buf + gro_len, (uint16_t)n);
	memcpy(gro_buf + gro_len + 2, p, n);
	gro_len += 2 + n;
}

/* With C_TSOIN: the gso_size of the next packet (0: a plain one). */
static void gro_gso(uint16_t gso_size)
{
	if (gro_len + 2 > sizeof(gro_buf)) {
		failed = 1;
		return;
	}
	pb_put16(gro_buf + gro_len, gso_size);
	gro_len += 2;
}

/* A TCP segment of flow sport with sequence number seq. */
static void gro_tcp(int family, uint16_t sport, uint32_t seq, size_t payload, uint8_t flags)
{
	static uint8_t p[8192];
	size_t n = pb_build(p, family, IPPROTO_TCP, payload, flags);
	size_t off = family == AF_INET ? 20 : 40;

	pb_put16(p + off, sport);
	pb_put32(p + off + 4, seq);
	pb_fix_l4(p);
	gro_pkt(p, n);
}

static void gro_udp(int family, uint16_t sport, size_t payload)
{
	static uint8_t p[8192];
	size_t n = pb_build(p, family, IPPROTO_UDP, payload, 0);

	pb_put16(p + (family == AF_INET ? 20 : 40), sport);
	pb_fix_l4(p);
	gro_pkt(p, n);
}

/* A run of n contiguous TCP segments of mss bytes (the last last_len), PSH
 * on the last. */
static void gro_tcp_run(int family, uint16_t sport, uint32_t seq, int n, size_t mss,
                        size_t last_len)
{
	for (int i = 0; i < n; i++)
		gro_tcp(family, sport, seq + (uint32_t)(i * mss), i == n - 1 ? last_len : mss,
		        i == n - 1 ? 0x18 : 0x10);
}

static void gro(const char *dir)
{
	static uint8_t p[2048];
	size_t n;

	gro_start(C_TCP | C_UDP | C_CAP(7));
	gro_tcp_run(AF_INET, 40000, 1000, 5, 200, 200);
	put(dir, "tcp4-run", gro_buf, gro_len, NULL, 0);
	gro_start(C_TCP | C_CAP(7));
	gro_tcp_run(AF_INET6, 40000, 0xfffffff0u, 6, 150, 80); /* seq wraps */
	put(dir, "tcp6-run-short-last", gro_buf, gro_len, NULL, 0);
	gro_start(C_TCP | C_UDP | C_CAP(7));
	for (int i = 0; i < 4; i++) {
		gro_tcp(AF_INET, 40000, 1000 + (uint32_t)i * 100, 100, 0x10);
		gro_tcp(AF_INET, 40001, 5000 + (uint32_t)i * 120, 120, 0x10);
		gro_udp(AF_INET6, 5353, 90);
	}
	put(dir, "interleaved-flows", gro_buf, gro_len, NULL, 0);
	gro_start(C_UDP | C_CAP(7));
	for (int i = 0; i < 8; i++)
		gro_udp(AF_INET, 5353, i == 7 ? 40 : 100);
	put(dir, "udp4-run", gro_buf, gro_len, NULL, 0);
	gro_start(C_TCP | C_UDP | C_CAP(7));
	for (int i = 0; i < 5; i++)
		gro_udp(AF_INET6, 5353, 120);
	gro_udp(AF_INET6, 5353, 200); /* longer: starts a new item */
	put(dir, "udp6-run", gro_buf, gro_len, NULL, 0);
	gro_start(C_TCP | C_UDP | C_EINVAL | C_CAP(7));
	gro_tcp_run(AF_INET, 40000, 1000, 4, 200, 200);
	gro_udp(AF_INET, 5353, 100);
	gro_udp(AF_INET, 5353, 100);
	gro_tcp_run(AF_INET6, 40002, 1, 3, 100, 50);
	put(dir, "einval-both", gro_buf, gro_len, NULL, 0);
	gro_start(C_TCP | C_CAP(7));
	gro_tcp(AF_INET, 40000, 1000, 100, 0x10);
	gro_tcp(AF_INET, 40000, 1100, 100, 0x10);
	gro_tcp(AF_INET, 40000, 1300, 100, 0x10); /* a gap */
	gro_tcp(AF_INET, 40000, 1400, 0, 0x02);   /* SYN */
	gro_tcp(AF_INET, 40000, 1400, 100, 0x10);
	gro_tcp(AF_INET, 40000, 1500, 100, 0x11); /* FIN */
	put(dir, "tcp4-gap-syn-fin", gro_buf, gro_len, NULL, 0);
	gro_start(C_TCP | C_UDP | C_CAP(7));
	gro_tcp(AF_INET, 40000, 1000, 100, 0x10);
	n = pb_build(p, AF_INET, IPPROTO_UDP, 64, 0);
	pb_put16(p + 6, 0x2000 | 0x4000); /* MF: a fragment, a barrier */
	pb_fix_ip(p);
	gro_pkt(p, n);
	gro_tcp(AF_INET, 40000, 1100, 100, 0x10);
	gro_tcp(AF_INET, 40000, 1200, 100, 0x10);
	put(dir, "tcp4-fragment-barrier", gro_buf, gro_len, NULL, 0);
	gro_start(C_TCP | C_CAP(2));
	gro_tcp_run(AF_INET, 40000, 1000, 8, 100, 100);
	put(dir, "tcp4-small-batch", gro_buf, gro_len, NULL, 0);
	gro_start(C_CAP(7));
	gro_tcp_run(AF_INET, 40000, 1000, 4, 100, 100);
	gro_udp(AF_INET, 5353, 100);
	gro_udp(AF_INET, 5353, 100);
	put(dir, "kinds-off", gro_buf, gro_len, NULL, 0);
	gro_start(C_TCP | C_CAP(7));
	for (int i = 0; i < 4; i++) {
		n = pb_build(p, AF_INET6, IPPROTO_TCP, 12 + 100, 0x10);
		p[40 + 12] = 8 << 4;
		memcpy(p + 60, "\x01\x01\x08\x0a\x00\x00\x10\x00\x00\x00\x20\x00", 12);
		p[60 + 7] = i < 2 ? 0 : 1; /* TSval changes after two */
		pb_put32(p + 44, 1000 + (uint32_t)i * 100);
		pb_fix_l4(p);
		gro_pkt(p, n);
	}
	put(dir, "tcp6-timestamps", gro_buf, gro_len, NULL, 0);
	gro_start(C_TCP | C_UDP | C_CAP(7));
	gro_pkt((const uint8_t *)"\x45\x00\x00\x14", 4); /* too short */
	memset(p, 0, 40);
	p[0] = 0x70; /* version 7 */
	gro_pkt(p, 40);
	gro_tcp(AF_INET, 40000, 1000, 100, 0x10);
	n = pb_build(p, AF_INET, IPPROTO_TCP, 100, 0x10);
	memset(p + n, 0, 6); /* padded: total length < packet */
	gro_pkt(p, n + 6);
	put(dir, "junk", gro_buf, gro_len, NULL, 0);

	/* TCP super-segments of the stack (tp_gro_add_tso, lwIP patch 0012):
	 * between plain segments of their flow, v4 and v6, TSO on (one write),
	 * off (split), refused (EINVAL, then split), and shapes that are no
	 * super-segment (UDP, one segment's worth) */
	gro_start(C_TCP | C_TSO | C_TSOIN | C_CAP(7));
	gro_gso(0);
	gro_tcp(AF_INET, 40000, 1000, 1000, 0x10);
	gro_gso(1000);
	gro_tcp(AF_INET, 40000, 2000, 2500, 0x18);
	gro_gso(0);
	gro_tcp(AF_INET, 40000, 4500, 1000, 0x10);
	gro_gso(0);
	gro_tcp(AF_INET, 40000, 5500, 1000, 0x10);
	put(dir, "tso4", gro_buf, gro_len, NULL, 0);
	gro_start(C_TCP | C_TSO | C_TSOIN | C_EINVAL | C_CAP(7));
	gro_gso(1428);
	gro_tcp(AF_INET6, 40000, 1, 3000, 0x10);
	gro_gso(700);
	gro_tcp(AF_INET6, 40000, 3001, 700 * 2, 0x11); /* FIN on the last piece */
	put(dir, "tso6-einval", gro_buf, gro_len, NULL, 0);
	gro_start(C_TCP | C_TSOIN | C_CAP(1));
	gro_gso(1448);
	gro_tcp(AF_INET, 40000, 1, 3000, 0x18);
	gro_gso(0);
	gro_udp(AF_INET, 5353, 100);
	gro_gso(1000);
	gro_udp(AF_INET, 5353, 2000); /* no TCP: written as it is */
	gro_gso(1448);
	gro_tcp(AF_INET6, 40000, 1, 1000, 0x10); /* one segment's worth */
	put(dir, "tso-off-shapes", gro_buf, gro_len, NULL, 0);
}

/* ---- stack: scripts of fuzz_stack.h ---- */

static uint8_t sb[4096];
static size_t sb_len;

static void sb_u8(unsigned v)
{
	if (sb_len >= sizeof(sb)) {
		fprintf(stderr, "gen_seeds: stack seed over %zu bytes\n", sizeof(sb));
		failed = 1;
		return;
	}
	sb[sb_len++] = (uint8_t)v;
}

static void sb_u16(unsigned v)
{
	sb_u8(v >> 8);
	sb_u8(v & 0xff);
}

static void sb_start(unsigned cfg)
{
	sb_len = 0;
	sb_u8(cfg);
}

static void sb_opts(const char *o, size_t n) /* n a multiple of 4, <= 40 */
{
	sb_u8((unsigned)(n / 4));
	for (size_t i = 0; i < n; i++)
		sb_u8((uint8_t)o[i]);
}

/* Linux's SYN options: MSS 1460, SACK permitted, timestamps, NOP, wscale 7 */
#define LINUX_SYN "\x02\x04\x05\xb4\x04\x02\x08\x0a\x80\x00\x00\xf1\x00\x00\x00\x00\x01\x03\x03\x07"
#define NOP_TS "\x01\x01\x08\x0a\x80\x00\x01\x00\x00\x00\x00\x00"
/* the reported crash: three NOPs, then an MSS kind with no length byte */
#define CRASH "\x01\x01\x01\x02"

static void sb_syn(int peer, uint32_t isn, unsigned mode, const char *o, size_t n)
{
	sb_u8(FS_OP(FS_SYN, peer));
	sb_u16(isn >> 16);
	sb_u16(isn & 0xffff);
	sb_u8(mode);
	sb_opts(o, n);
}

/* A segment at the peer's next seq acking the gateway's last (deltas 0). */
static void sb_seg(int peer, unsigned flags, unsigned mode, const char *o, size_t n,
                   unsigned paylen)
{
	sb_u8(FS_OP(FS_SEG, peer));
	sb_u8(flags);
	sb_u8(mode);
	sb_u16(0);
	sb_u16(0);
	sb_u16(65535);
	sb_opts(o, n);
	sb_u8(paylen);
}

static void sb_op(unsigned op, unsigned arg)
{
	sb_u8(FS_OP(op, arg));
}

static void sb_time(unsigned ms)
{
	sb_op(FS_TIME, 0);
	sb_u8(ms / 40 - 1);
}

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

/* Handshake of peer p (held, then accepted in slot s), data both ways, the
 * client's FIN, the gateway's FIN, TIME-WAIT. */
static void sb_conversation(int p, int s, const char *synopts, size_t n)
{
	sb_syn(p, 0x10000000u * (unsigned)(p + 1), 0, synopts, n);
	sb_op(FS_ACCEPT, (unsigned)s);
	sb_seg(p, F_ACK, 0, NOP_TS, 12, 0);
	sb_seg(p, F_ACK | F_PSH, 0, NOP_TS, 12, 200);
	sb_op(FS_CONSUME, (unsigned)s);
	sb_u8(0);
	sb_op(FS_SEND, (unsigned)s);
	sb_u16(3000);
	sb_seg(p, F_ACK, 0, NOP_TS, 12, 0);
	sb_seg(p, F_ACK | F_FIN, 0, NOP_TS, 12, 10);
	sb_op(FS_CONSUME, (unsigned)s);
	sb_u8(0);
	sb_op(FS_SHUTDOWN, (unsigned)s);
	sb_seg(p, F_ACK, 0, NOP_TS, 12, 0);
	sb_time(5000);
}

/* A segment of peer p acking ack_delta from the gateway's last byte
 * (negative: an ACK inside what it sent), window wnd. */
static void sb_ack(int p, int ack_delta, unsigned wnd)
{
	sb_u8(FS_OP(FS_SEG, p));
	sb_u8(F_ACK);
	sb_u8(0);
	sb_u16(0);
	sb_u16((unsigned)ack_delta & 0xffff);
	sb_u16(wnd);
	sb_opts(NOP_TS, 12);
	sb_u8(0);
}

/* Super-segments out (patch 0012): 60000 bytes acknowledged in the middle,
 * duplicate ACKs (fast retransmit of one wire segment), an RTO, a window
 * smaller than a super-segment, a zero window (persist), FIN. */
static void sb_tso(int p)
{
	sb_syn(p, 0x20000000u, 0, LINUX_SYN, 20);
	sb_seg(p, F_ACK, 0, NOP_TS, 12, 0);
	sb_op(FS_SEND, 0);
	sb_u16(60000);
	sb_ack(p, -30001, 65535);
	sb_ack(p, -30001, 65535);
	sb_ack(p, -30001, 65535);
	sb_ack(p, -30001, 65535);
	sb_time(1200);
	sb_ack(p, -1000, 65535);
	sb_seg(p, F_ACK, 0, NOP_TS, 12, 0);
	sb_op(FS_SEND, 8); /* slot 0, more follows */
	sb_u16(60000);
	sb_ack(p, -60000, 100); /* 100 << 7 = 12800 bytes of window */
	sb_ack(p, -50000, 0);
	sb_time(3000);
	sb_seg(p, F_ACK, 0, NOP_TS, 12, 0);
	sb_op(FS_SHUTDOWN, 0);
	sb_seg(p, F_ACK, 0, NOP_TS, 12, 0);
	sb_time(2000);
}

static void stack(const char *dir)
{
	static const char *const bad[] = {CRASH, "\x01\x01\x01\xfe", "\x01\x01\x1e\x08",
	                                  "\x01\x01\x22\x01", "\x03\x04\x07\x00"};

	sb_start(FS_HOLD | 3 << 4);
	sb_conversation(0, 0, LINUX_SYN, 20);
	put(dir, "held-accept-v4", sb, sb_len, NULL, 0);
	sb_start(FS_ACCEPT_NOW | FS_CSUM_PARTIAL | FS_TSO | 3 << 4);
	sb_tso(0);
	put(dir, "tso-partial-acks-v4", sb, sb_len, NULL, 0);
	sb_start(FS_ACCEPT_NOW | FS_CSUM_PARTIAL | FS_TSO | 3 << 4);
	sb_tso(1);
	put(dir, "tso-partial-acks-v6", sb, sb_len, NULL, 0);
	sb_start(FS_HOLD | 3 << 4);
	sb_conversation(1, 0, LINUX_SYN, 20);
	put(dir, "held-accept-v6", sb, sb_len, NULL, 0);
	sb_start(FS_HOLD | FS_CSUM_PARTIAL | 3 << 4);
	sb_conversation(0, 0, "\x02\x04\x05\xb4", 4);
	sb_conversation(3, 0, LINUX_SYN, 20); /* slot 0 again: the first one closed */
	put(dir, "two-conversations-partial-csum", sb, sb_len, NULL, 0);

	/* accepted inside tcp_syn, then the client resets */
	sb_start(FS_ACCEPT_NOW | 3 << 4);
	sb_syn(1, 0xfffffff0u, 0, LINUX_SYN, 20);
	sb_seg(1, F_ACK, 0, NOP_TS, 12, 0);
	sb_seg(1, F_ACK | F_PSH, 0, NOP_TS, 12, 40); /* seq wraps */
	sb_seg(1, F_RST, 0, NULL, 0, 0);
	sb_time(400);
	put(dir, "accept-now-v6-rst", sb, sb_len, NULL, 0);

	/* refused inside tcp_syn; refused later; the client gives up while held */
	sb_start(FS_REJECT_NOW | 3 << 4);
	sb_syn(0, 1000, 0, LINUX_SYN, 20);
	put(dir, "reject-now-v4", sb, sb_len, NULL, 0);
	sb_start(FS_HOLD | 3 << 4);
	sb_syn(2, 1000, 0, LINUX_SYN, 20);
	sb_syn(3, 2000, 0, LINUX_SYN, 20);
	sb_op(FS_REJECT, 0);
	sb_seg(3, F_RST, 0, NULL, 0, 0); /* seq = isn + 1: cancels the held SYN */
	put(dir, "held-reject-and-client-reset", sb, sb_len, NULL, 0);

	/* one flow open; a second SYN held and accepted from inside the first
	 * flow's readable callback (deferred until lwIP returns) */
	sb_start(FS_HOLD_DEFER | 3 << 4);
	sb_syn(0, 5000, 0, LINUX_SYN, 20);
	sb_op(FS_ACCEPT, 0);
	sb_seg(0, F_ACK, 0, NOP_TS, 12, 0);
	sb_syn(1, 7000, 0, LINUX_SYN, 20);
	sb_seg(0, F_ACK | F_PSH, 0, NOP_TS, 12, 50);
	sb_seg(1, F_ACK, 0, NOP_TS, 12, 0);
	sb_seg(1, F_ACK | F_PSH, 0, NOP_TS, 12, 60);
	sb_op(FS_CONSUME, 1);
	sb_u8(0);
	sb_op(FS_CLOSE, 1);
	sb_op(FS_CLOSE, 0 | 8);
	put(dir, "deferred-accept", sb, sb_len, NULL, 0);

	/* max_flows 1: the second SYN gets a RST */
	sb_start(FS_HOLD | 0 << 4);
	sb_syn(0, 1, 0, LINUX_SYN, 20);
	sb_syn(1, 2, 0, LINUX_SYN, 20);
	put(dir, "max-flows-1", sb, sb_len, NULL, 0);

	/* the crafted-options SYN (v4, v6): dropped by tp_pkt_parse; then the
	 * same straight into lwIP (the listener's tcp_parseopt); then through
	 * the real path again with the checksum vouched for */
	for (int p = 0; p < 2; p++) {
		char name[64];
		sb_start(FS_HOLD | 3 << 4);
		sb_syn(p, 0x01020304, 0, CRASH, 4);
		sb_op(FS_ACCEPT, 0);
		sb_syn(p, 0x01020304, FS_M_DIRECT, CRASH, 4);
		sb_syn(p, 0x01020304, FS_M_CSUM_OK, CRASH, 4);
		sb_time(400);
		snprintf(name, sizeof(name), "crash-syn-01010102-v%d", p ? 6 : 4);
		put(dir, name, sb, sb_len, NULL, 0);
	}
	/* every malformed layout of the e2e test, both ways, on SYNs and on
	 * segments of an established flow (tcp_process parses them too) */
	sb_start(FS_HOLD | 3 << 4);
	sb_syn(1, 9000, 0, LINUX_SYN, 20);
	sb_op(FS_ACCEPT, 0);
	sb_seg(1, F_ACK, 0, NOP_TS, 12, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sb_seg(1, F_ACK | F_PSH, 0, bad[i], 4, 20);
		sb_seg(1, F_ACK | F_PSH, FS_M_DIRECT, bad[i], 4, 20);
		sb_syn(0, 100 + (uint32_t)i, FS_M_DIRECT, bad[i], 4);
	}
	sb_op(FS_CONSUME, 0);
	sb_u8(0);
	sb_seg(1, F_ACK | F_FIN, FS_M_DIRECT, CRASH, 4, 0);
	sb_time(1000);
	put(dir, "malformed-both-ways", sb, sb_len, NULL, 0);

	/* a whole IPv6 SYN as raw bytes (FS_RAW), options 01 01 01 02 */
	{
		static uint8_t p[128];
		size_t n = pb_build(p, AF_INET6, IPPROTO_TCP, 4, 0x02);
		p[40 + 12] = 6 << 4;
		memcpy(p + 60, CRASH, 4);
		pb_fix_l4(p);
		sb_start(FS_HOLD | 3 << 4);
		sb_op(FS_RAW, 0);
		sb_u16((unsigned)n);
		for (size_t i = 0; i < n; i++)
			sb_u8(p[i]);
		put(dir, "raw-v6-syn-01010102", sb, sb_len, NULL, 0);
	}
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: gen_seeds <packet corpus dir> <netlink corpus dir> "
		                "<gso corpus dir> <gro corpus dir> <stack corpus dir>\n");
		return 2;
	}
	packets(argv[1]);
	netlink(argv[2]);
	gso(argv[3]);
	gro(argv[4]);
	stack(argv[5]);
	return failed;
}
