/* SPDX-License-Identifier: MIT */
/* tunplug — IP packet checksums and validation. Pure code: no I/O, no
 * allocation; every read is bounds-checked against the caller's length. */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "tunplug/packet.h"

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v)); /* any alignment, no aliasing UB */
	return v;
}

/* 64-bit one's-complement add: the carry out of bit 63 wraps to bit 0. */
static inline uint64_t add64(uint64_t acc, uint64_t v)
{
	acc += v;
	return acc + (acc < v);
}

/*
 * The sum is computed over native-order 64-bit words and folded to 16 bits;
 * one's-complement addition commutes with byte swapping (RFC 1071 2(B)), so
 * on a little-endian host a final 16-bit swap gives the sum of big-endian
 * words. Word boundaries are counted from buf, so alignment does not matter.
 * Returns sum plus the buffer's sum, folded to 32 bits (never overflows).
 */
uint32_t tp_csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t acc = 0, a1 = 0;

	while (len >= 32) {
		acc = add64(acc, ld64(p));
		a1 = add64(a1, ld64(p + 8));
		acc = add64(acc, ld64(p + 16));
		a1 = add64(a1, ld64(p + 24));
		p += 32;
		len -= 32;
	}
	acc = add64(acc, a1);
	while (len >= 8) {
		acc = add64(acc, ld64(p));
		p += 8;
		len -= 8;
	}
	if (len) {
		/* 1..7 trailing bytes, zero padded: the pad byte of an odd
		 * length is the low-order byte of a big-endian word. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* the padded word as ld64 would load it, built from fixed-size
		 * pieces (a header's 4-byte address or 1-byte payload costs no
		 * variable-length memcpy call): byte i goes to bits 8i.. */
		uint64_t t = 0;
		unsigned sh = 0;

		if (len & 4) {
			uint32_t v;
			memcpy(&v, p, 4);
			t = v;
			p += 4;
			sh = 32;
		}
		if (len & 2) {
			uint16_t v;
			memcpy(&v, p, 2);
			t |= (uint64_t)v << sh;
			p += 2;
			sh += 16;
		}
		if (len & 1)
			t |= (uint64_t)p[0] << sh;
		acc = add64(acc, t);
#else
		uint8_t tail[8] = {0};
		memcpy(tail, p, len);
		acc = add64(acc, ld64(tail));
#endif
	}
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffu) + (acc >> 16);
	acc = (acc & 0xffffu) + (acc >> 16); /* <= 0xffff */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	acc = ((acc & 0xffu) << 8) | (acc >> 8);
#endif
	acc += sum;
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

/* An IPv4 header's checksum is right: its ihl bytes (a multiple of 4)
 * sum to 0xffff. 32-bit words in host order, folded (byte-order
 * independent, RFC 1071); inline, as every packet read pays it. */
static bool ip4_hdr_sum_ok(const uint8_t *b, size_t ihl)
{
	uint64_t a = 0;

	for (size_t i = 0; i < ihl; i += 4) {
		uint32_t v;

		memcpy(&v, b + i, 4);
		a += v;
	}
	a = (a & 0xffffffffu) + (a >> 32);
	a = (a & 0xffffu) + (a >> 16);
	a = (a & 0xffffu) + (a >> 16);
	a = (a & 0xffffu) + (a >> 16);
	return a == 0xffff;
}

/* Pure: no buffers. */
uint16_t tp_csum_finish(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* src and dst are borrowed for the call only. */
uint32_t tp_csum_pseudo(int family, const void *src, const void *dst, uint8_t proto,
                        uint32_t l4_len)
{
	size_t alen = family == AF_INET ? 4 : 16;
	uint32_t sum = tp_csum_add(0, src, alen);
	sum = tp_csum_add(sum, dst, alen);
	uint64_t acc = (uint64_t)sum + proto + (l4_len >> 16) + (l4_len & 0xffff);
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

static const char *const drop_names[TP_DROP__COUNT] = {
        [TP_DROP_NONE] = "none",
        [TP_DROP_TRUNCATED] = "truncated",
        [TP_DROP_VERSION] = "version",
        [TP_DROP_HDR_LEN] = "hdr_len",
        [TP_DROP_TOTAL_LEN] = "total_len",
        [TP_DROP_IP_CSUM] = "ip_csum",
        [TP_DROP_IP_OPTIONS] = "ip_options",
        [TP_DROP_FRAGMENT] = "fragment",
        [TP_DROP_IPV6_EXTHDR] = "ipv6_exthdr",
        [TP_DROP_PROTO] = "proto",
        [TP_DROP_L4_TRUNCATED] = "l4_truncated",
        [TP_DROP_L4_CSUM] = "l4_csum",
        [TP_DROP_BAD_ADDR] = "bad_addr",
        [TP_DROP_UNSUPPORTED] = "unsupported",
        [TP_DROP_NO_MEMORY] = "no_memory",
        [TP_DROP_VNET_HDR] = "vnet_hdr",
        [TP_DROP_GSO] = "gso",
        [TP_DROP_TCP_OPTIONS] = "tcp_options",
};

/* Returns a static string (never NULL, never to be freed). */
const char *tp_drop_name(enum tp_drop reason)
{
	if ((unsigned)reason >= TP_DROP__COUNT)
		return "unknown";
	return drop_names[reason];
}

/* Sources no host may use: 0.0.0.0, loopback 127/8, multicast 224/4 and the
 * limited broadcast 255.255.255.255. */
static bool bad_src4(const uint8_t *a)
{
	static const uint8_t zero[4], bcast[4] = {255, 255, 255, 255};

	return a[0] == 127 || (a[0] & 0xf0) == 224 || memcmp(a, zero, 4) == 0 ||
	       memcmp(a, bcast, 4) == 0;
}

static bool bad_src6(const uint8_t *a)
{
	static const uint8_t zero[15];
	if (a[0] == 0xff) /* multicast */
		return true;
	return memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1); /* :: and ::1 */
}

/* The TCP option list o[0..n) is well formed (packet.h says what that
 * means). Kind and length byte are read only after checking they are inside
 * the list: a kind byte at the very end has no length, which is exactly
 * what lwIP 2.1.3's tcp_parseopt read past (patch 0007 fixes lwIP too). */
static bool tcp_options_ok(const uint8_t *o, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t kind = o[i];
		size_t len;

		if (kind == 0) /* EOL */
			return true;
		if (kind == 1) { /* NOP */
			i++;
			continue;
		}
		if (n - i < 2)
			return false; /* no room for the length byte */
		len = o[i + 1];
		if (len < 2 || len > n - i)
			return false;
		switch (kind) {
		case 2: /* MSS */
			if (len != 4)
				return false;
			break;
		case 3: /* window scale */
			if (len != 3)
				return false;
			break;
		case 4: /* SACK permitted */
			if (len != 2)
				return false;
			break;
		case 5: /* SACK: 1..4 blocks of 8 bytes */
			if (len < 10 || (len - 2) % 8 != 0)
				return false;
			break;
		case 8: /* timestamps */
			if (len != 10)
				return false;
			break;
		default:
			break;
		}
		i += len;
	}
	return true;
}

/* Validate the L4 header at o->l4_off (o->l4_len bytes, all inside b) and
 * fill ports, flags, seq/ack and data_off. */
static enum tp_drop parse_l4(const uint8_t *b, struct tp_pkt *o, unsigned flags)
{
	size_t off = o->l4_off, l4 = o->l4_len;
	uint32_t sum;

	switch (o->proto) {
	case IPPROTO_TCP: {
		if (l4 < 20)
			return TP_DROP_L4_TRUNCATED;
		size_t doff = (size_t)(b[off + 12] >> 4) * 4;
		if (doff < 20 || doff > l4)
			return TP_DROP_L4_TRUNCATED;
		o->sport = rd16(b + off);
		o->dport = rd16(b + off + 2);
		o->seq = rd32(b + off + 4);
		o->ack = rd32(b + off + 8);
		o->tcp_flags = b[off + 13];
		o->data_off = (uint16_t)(off + doff);
		/* structural, so before the checksum: the reason is the same
		 * with and without TP_PKT_VERIFY_CSUM */
		if (!tcp_options_ok(b + off + 20, doff - 20))
			return TP_DROP_TCP_OPTIONS;
		break;
	}
	case IPPROTO_UDP:
		if (l4 < 8)
			return TP_DROP_L4_TRUNCATED;
		if (rd16(b + off + 4) != l4)
			return TP_DROP_L4_TRUNCATED;
		o->sport = rd16(b + off);
		o->dport = rd16(b + off + 2);
		o->data_off = (uint16_t)(off + 8);
		/* RFC 8200 8.1: a zero UDP checksum over IPv6 is invalid, so
		 * this is checked even without TP_PKT_VERIFY_CSUM. */
		if (o->family == AF_INET6 && rd16(b + off + 6) == 0)
			return TP_DROP_L4_CSUM;
		if (o->family == AF_INET && rd16(b + off + 6) == 0)
			return TP_DROP_NONE; /* IPv4: no checksum sent */
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (l4 < 8)
			return TP_DROP_L4_TRUNCATED;
		o->data_off = o->len;
		break;
	default:
		return TP_DROP_PROTO;
	}
	if (!(flags & TP_PKT_VERIFY_CSUM))
		return TP_DROP_NONE;
	/* ICMPv4 sums only its own bytes; TCP, UDP and ICMPv6 add the pseudo-header. */
	sum = o->proto == IPPROTO_ICMP
	              ? 0
	              : tp_csum_pseudo(o->family, o->src, o->dst, o->proto, (uint32_t)l4);
	if (tp_csum_finish(tp_csum_add(sum, b + off, l4)) != 0)
		return TP_DROP_L4_CSUM;
	return TP_DROP_NONE;
}

/*
 * b is borrowed; on TP_DROP_NONE, o->src and o->dst point into b and are
 * valid as long as the caller keeps b. Checks run in header order, so the
 * first problem found is the reason reported. *o is zeroed first; after a
 * drop its contents are unspecified.
 */
enum tp_drop tp_pkt_parse(const uint8_t *b, size_t len, unsigned flags, struct tp_pkt *o)
{
	memset(o, 0, sizeof(*o));
	if (len < 1)
		return TP_DROP_TRUNCATED;
	switch (b[0] >> 4) {
	case 4: {
		if (len < 20)
			return TP_DROP_TRUNCATED;
		size_t ihl = (size_t)(b[0] & 0x0f) * 4;
		if (ihl < 20 || ihl > len)
			return TP_DROP_HDR_LEN;
		size_t tot = rd16(b + 2);
		if (tot < ihl || tot > len)
			return TP_DROP_TOTAL_LEN;
		if (!ip4_hdr_sum_ok(b, ihl))
			return TP_DROP_IP_CSUM;
		if (ihl > 20)
			return TP_DROP_IP_OPTIONS;
		if (rd16(b + 6) & 0x3fff) /* MF or fragment offset */
			return TP_DROP_FRAGMENT;
		o->family = AF_INET;
		o->proto = b[9];
		o->len = (uint16_t)tot;
		o->l4_off = (uint16_t)ihl;
		o->l4_len = (uint16_t)(tot - ihl);
		o->src = b + 12;
		o->dst = b + 16;
		if (bad_src4(o->src))
			return TP_DROP_BAD_ADDR;
		break;
	}
	case 6: {
		if (len < 40)
			return TP_DROP_TRUNCATED;
		size_t plen = rd16(b + 4);
		if (plen + 40 > len)
			return TP_DROP_TOTAL_LEN;
		uint8_t nh = b[6];
		switch (nh) {
		case IPPROTO_TCP:
		case IPPROTO_UDP:
		case IPPROTO_ICMPV6:
			break;
		case 44: /* fragment */
			return TP_DROP_FRAGMENT;
		case 0:   /* hop-by-hop */
		case 43:  /* routing */
		case 60:  /* destination options */
		case 51:  /* AH */
		case 50:  /* ESP */
		case 135: /* mobility */
		case 139: /* HIP */
		case 140: /* shim6 */
			return TP_DROP_IPV6_EXTHDR;
		default:
			return TP_DROP_PROTO;
		}
		/* struct tp_pkt.len is 16 bits: payloads over 65495 bytes
		 * cannot come through a tun (MTU <= 65535) anyway. */
		if (plen + 40 > 65535)
			return TP_DROP_TOTAL_LEN;
		o->family = AF_INET6;
		o->proto = nh;
		o->len = (uint16_t)(plen + 40);
		o->l4_off = 40;
		o->l4_len = (uint16_t)plen;
		o->src = b + 8;
		o->dst = b + 24;
		if (bad_src6(o->src))
			return TP_DROP_BAD_ADDR;
		break;
	}
	default:
		return TP_DROP_VERSION;
	}
	if (o->proto != IPPROTO_TCP && o->proto != IPPROTO_UDP && o->proto != IPPROTO_ICMP &&
	    o->proto != IPPROTO_ICMPV6)
		return TP_DROP_PROTO;
	if ((o->proto == IPPROTO_ICMP && o->family != AF_INET) ||
	    (o->proto == IPPROTO_ICMPV6 && o->family != AF_INET6))
		return TP_DROP_PROTO;
	return parse_l4(b, o, flags);
}

/* pkt and out are the caller's; nothing is kept. */
size_t tp_icmp_unreach(uint8_t *out, size_t cap, const uint8_t *pkt, size_t len,
                       enum tp_unreach why)
{
	static const uint8_t code4[] = {[TP_UNREACH_NET] = 0,
	                                [TP_UNREACH_HOST] = 1,
	                                [TP_UNREACH_PORT] = 3,
	                                [TP_UNREACH_PROHIBITED] = 13};
	static const uint8_t code6[] = {[TP_UNREACH_NET] = 0,
	                                [TP_UNREACH_HOST] = 3,
	                                [TP_UNREACH_PORT] = 4,
	                                [TP_UNREACH_PROHIBITED] = 1};
	size_t hl, need, quote, max, tot;

	if ((unsigned)why > TP_UNREACH_PROHIBITED || len < 1)
		return 0;
	if (pkt[0] >> 4 == 4) {
		size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
		if (ihl < 20 || len < ihl + 8)
			return 0;
		hl = 20;
		max = 576;
		need = ihl + 8;
	} else if (pkt[0] >> 4 == 6) {
		if (len < 48)
			return 0;
		hl = 40;
		max = 1280;
		need = 48;
	} else {
		return 0;
	}
	if (cap < max)
		max = cap;
	if (max < hl + 8 + need)
		return 0;
	quote = len < max - hl - 8 ? len : max - hl - 8;
	tot = hl + 8 + quote;
	memset(out, 0, hl + 8);
	memcpy(out + hl + 8, pkt, quote);
	if (hl == 20) {
		out[0] = 0x45;
		wr16(out + 2, (uint16_t)tot);
		out[8] = 64;
		out[9] = IPPROTO_ICMP;
		memcpy(out + 12, pkt + 16, 4); /* from the packet's destination */
		memcpy(out + 16, pkt + 12, 4); /* to its source */
		wr16(out + 10, tp_csum_finish(tp_csum_add(0, out, 20)));
		out[20] = 3;
		out[21] = code4[why];
		wr16(out + 22, tp_csum_finish(tp_csum_add(0, out + 20, tot - 20)));
	} else {
		out[0] = 0x60;
		wr16(out + 4, (uint16_t)(tot - 40));
		out[6] = IPPROTO_ICMPV6;
		out[7] = 64;
		memcpy(out + 8, pkt + 24, 16);
		memcpy(out + 24, pkt + 8, 16);
		out[40] = 1;
		out[41] = code6[why];
		wr16(out + 42, tp_csum_finish(tp_csum_add(tp_csum_pseudo(AF_INET6, out + 8,
		                                                         out + 24, IPPROTO_ICMPV6,
		                                                         (uint32_t)(tot - 40)),
		                                          out + 40, tot - 40)));
	}
	return tot;
}
