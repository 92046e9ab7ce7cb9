/* SPDX-License-Identifier: MIT */
/* tunplug tests — build IPv4/IPv6 TCP/UDP/ICMP packets with correct
 * checksums (header only, shared by unit tests and the fuzz seed generator).
 *
 * The checksum here is a deliberately naive per-16-bit-word loop, so packet
 * tests do not depend on the optimised routine they are checking. */
#ifndef TP_TEST_PKTBUILD_H
#define TP_TEST_PKTBUILD_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t pb_src4[4] = {10, 0, 0, 2};
static const uint8_t pb_dst4[4] = {93, 184, 216, 34};
static const uint8_t pb_src6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
static const uint8_t pb_dst6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

static inline void pb_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void pb_put32(uint8_t *p, uint32_t v)
{
	pb_put16(p, (uint16_t)(v >> 16));
	pb_put16(p + 2, (uint16_t)v);
}

static inline uint16_t pb_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* RFC 1071 the slow way: big-endian 16-bit words into a 64-bit sum. */
static inline uint64_t pb_sum(uint64_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint64_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint64_t)p[len - 1] << 8;
	return sum;
}

static inline uint16_t pb_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Where a packet's L4 header is, from its own header fields. Returns the
 * L4 offset, or 0 for anything that is not plain v4/v6. */
static inline size_t pb_l4(const uint8_t *b, int *family, uint8_t *proto, size_t *l4len)
{
	if ((b[0] >> 4) == 4) {
		size_t ihl = (size_t)(b[0] & 15) * 4;
		*family = AF_INET;
		*proto = b[9];
		*l4len = pb_get16(b + 2) - ihl;
		return ihl;
	}
	if ((b[0] >> 4) == 6) {
		*family = AF_INET6;
		*proto = b[6];
		*l4len = pb_get16(b + 4);
		return 40;
	}
	return 0;
}

/* Recompute the IPv4 header checksum from the header as it is now. */
static inline void pb_fix_ip(uint8_t *b)
{
	size_t ihl = (size_t)(b[0] & 15) * 4;

	if ((b[0] >> 4) != 4)
		return;
	pb_put16(b + 10, 0);
	pb_put16(b + 10, pb_fold(pb_sum(0, b, ihl)));
}

/* Recompute the TCP/UDP/ICMP checksum from the headers as they are now. */
static inline void pb_fix_l4(uint8_t *b)
{
	int family;
	uint8_t proto;
	size_t l4len, off = pb_l4(b, &family, &proto, &l4len), coff;
	uint64_t sum = 0;
	uint16_t c;

	if (!off)
		return;
	switch (proto) {
	case IPPROTO_TCP:
		coff = 16;
		break;
	case IPPROTO_UDP:
		coff = 6;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		coff = 2;
		break;
	default:
		return;
	}
	pb_put16(b + off + coff, 0);
	if (proto != IPPROTO_ICMP) {
		size_t alen = family == AF_INET ? 4 : 16;
		sum = pb_sum(0, b + (family == AF_INET ? 12 : 8), 2 * alen);
		sum += proto + (l4len >> 16) + (l4len & 0xffff);
	}
	c = pb_fold(pb_sum(sum, b + off, l4len));
	if (proto == IPPROTO_UDP && c == 0)
		c = 0xffff;
	pb_put16(b + off + coff, c);
}

/*
 * Build a packet into buf (room for 60 + 40 + payload bytes): family
 * AF_INET/AF_INET6, proto TCP/UDP/ICMP(v6), payload bytes of a fixed
 * pattern. TCP: ports 40000->443, seq 0x01020304, ack 0x0a0b0c0d, flags
 * tcp_flags, no options. UDP: 5353->53. ICMP: echo request. Returns length.
 */
static inline size_t pb_build(uint8_t *buf, int family, uint8_t proto, size_t payload,
                              uint8_t tcp_flags)
{
	size_t ipl = family == AF_INET ? 20 : 40;
	size_t l4h = proto == IPPROTO_TCP ? 20 : 8;
	size_t tot = ipl + l4h + payload, i;
	uint8_t *l4 = buf + ipl;

	memset(buf, 0, ipl + l4h);
	if (family == AF_INET) {
		buf[0] = 0x45;
		pb_put16(buf + 2, (uint16_t)tot);
		pb_put16(buf + 4, 0x1234);
		pb_put16(buf + 6, 0x4000); /* DF */
		buf[8] = 64;
		buf[9] = proto;
		memcpy(buf + 12, pb_src4, 4);
		memcpy(buf + 16, pb_dst4, 4);
	} else {
		buf[0] = 0x60;
		pb_put16(buf + 4, (uint16_t)(tot - 40));
		buf[6] = proto;
		buf[7] = 64;
		memcpy(buf + 8, pb_src6, 16);
		memcpy(buf + 24, pb_dst6, 16);
	}
	switch (proto) {
	case IPPROTO_TCP:
		pb_put16(l4, 40000);
		pb_put16(l4 + 2, 443);
		pb_put32(l4 + 4, 0x01020304);
		pb_put32(l4 + 8, 0x0a0b0c0d);
		l4[12] = 5 << 4;
		l4[13] = tcp_flags;
		pb_put16(l4 + 14, 65535);
		break;
	case IPPROTO_UDP:
		pb_put16(l4, 5353);
		pb_put16(l4 + 2, 53);
		pb_put16(l4 + 4, (uint16_t)(l4h + payload));
		break;
	default: /* ICMP / ICMPv6 echo request */
		l4[0] = family == AF_INET ? 8 : 128;
		pb_put16(l4 + 4, 0x4242);
		pb_put16(l4 + 6, 7);
		break;
	}
	for (i = 0; i < payload; i++)
		l4[l4h + i] = (uint8_t)(i * 7 + 3);
	pb_fix_ip(buf);
	pb_fix_l4(buf);
	return tot;
}

#endif
