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

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint32_t tp_csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t acc = sum;

	/* 32-bit big-endian words into a 64-bit accumulator: carries cannot
	 * overflow for any buffer shorter than 2^32 words. */
	while (len >= 4) {
		acc += rd32(p);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		acc += rd16(p);
		p += 2;
		len -= 2;
	}
	if (len)
		acc += (uint32_t)p[0] << 8;
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	/* fold to 32 bits keeping the one's-complement value */
	return (uint32_t)acc;
}

uint16_t tp_csum_finish(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

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
	[TP_DROP_VERSION] = "ip_version",
	[TP_DROP_HDR_LEN] = "ip_header_length",
	[TP_DROP_TOTAL_LEN] = "ip_total_length",
	[TP_DROP_IP_CSUM] = "ip_checksum",
	[TP_DROP_IP_OPTIONS] = "ip_options",
	[TP_DROP_FRAGMENT] = "fragment",
	[TP_DROP_IPV6_EXTHDR] = "ipv6_extension_header",
	[TP_DROP_PROTO] = "protocol",
	[TP_DROP_L4_TRUNCATED] = "l4_truncated",
	[TP_DROP_L4_CSUM] = "l4_checksum",
	[TP_DROP_BAD_ADDR] = "bad_source_address",
	[TP_DROP_UNSUPPORTED] = "unsupported",
	[TP_DROP_NO_MEMORY] = "no_memory",
};

const char *tp_drop_name(enum tp_drop reason)
{
	if ((unsigned)reason >= TP_DROP__COUNT)
		return "unknown";
	return drop_names[reason];
}

static bool bad_src4(const uint8_t *a)
{
	return a[0] == 127 || a[0] == 0 || a[0] >= 224; /* loopback, "this net", multicast, class E, broadcast */
}

static bool bad_src6(const uint8_t *a)
{
	static const uint8_t zero[15];
	if (a[0] == 0xff) /* multicast */
		return true;
	return memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1); /* :: and ::1 */
}

/* Validate the L4 header and fill ports/flags; off = L4 offset, len = IP length. */
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
		if (o->family == AF_INET6 && rd16(b + off + 6) == 0)
			return TP_DROP_L4_CSUM; /* RFC 8200: mandatory over IPv6 */
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
	sum = o->proto == IPPROTO_ICMP ? 0 : tp_csum_pseudo(o->family, o->src, o->dst, o->proto, (uint32_t)l4);
	if (tp_csum_finish(tp_csum_add(sum, b + off, l4)) != 0)
		return TP_DROP_L4_CSUM;
	return TP_DROP_NONE;
}

enum tp_drop tp_pkt_parse(const uint8_t *b, size_t len, unsigned flags, struct tp_pkt *o)
{
	memset(o, 0, sizeof(*o));
	if (len < 1)
		return TP_DROP_TRUNCATED;
	if (len > 65535 + 40)
		return TP_DROP_TOTAL_LEN;
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
		if (tp_csum_finish(tp_csum_add(0, b, ihl)) != 0)
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
		o->family = AF_INET6;
		o->proto = nh;
		o->len = (uint16_t)(plen + 40 > 65535 ? 65535 : plen + 40);
		if (plen + 40 > 65535)
			return TP_DROP_TOTAL_LEN; /* jumbo-sized: nothing here carries it */
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
