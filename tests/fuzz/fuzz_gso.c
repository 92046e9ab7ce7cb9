/* SPDX-License-Identifier: MIT */
/* libFuzzer target: tp_vnet_parse + tp_gso_split + tp_gso_whole on arbitrary
 * bytes.
 *
 * Input: a 10-byte virtio_net_hdr, then the IP packet. Bit 0x80 of the
 * header's flags byte (ignored by the kernel's virtio_net_hdr and by
 * tp_gso_split) selects TP_SPLIT_FILL_CSUM and is cleared before the split,
 * so the header the splitter sees is one tun could hand over.
 *
 * Invariants (abort on violation): nothing is read outside the input or
 * written outside the output buffer / segment array (ASan: both are heap
 * blocks of exactly their size); a drop is -1 with a reason; otherwise the
 * segments lie back to back from the start of the output buffer, and:
 *  - NONE: one segment, a copy of the input (but the checksum field when a
 *    NEEDS_CSUM partial checksum is completed);
 *  - TCPV4/TCPV6/UDP_L4: ceil(payload / gso_size) segments of >= 20 bytes,
 *    each = the input's headers with only length, IPv4 ID/checksum, TCP seq
 *    and flags (FIN/PSH last only, CWR first only), UDP length and the L4
 *    checksum changed; their payloads concatenated = the input's payload;
 *    with FILL each segment verifies (tp_pkt_parse TP_PKT_VERIFY_CSUM).
 * tp_gso_whole on the same header and packet (whole TCP super-packets):
 *  - not TCPV4/TCPV6 <=> NOT_TCP; *w written only for TP_WHOLE;
 *  - INVALID, or the GSO ECN bit => the splitter drops the packet;
 *  - TP_WHOLE => a plain IPv4 (no options) / IPv6 TCP packet of the type's
 *    family, as long as its own IP length (<= 65535, <= the input), with
 *    NEEDS_CSUM or DATA_VALID and neither SYN, RST, URG nor CWR, whose
 *    header length and segment count (ceil(payload / gso_size)) are right,
 *    which the stack's parser takes (no checksum check: the kernel vouched)
 *    or drops only by policy (source address, malformed TCP options, as it
 *    drops each of the split segments), and which the splitter cuts into
 *    exactly that many segments (or drops for lack of room: TP_DROP_GSO). */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tunplug/offload.h"
#include "tunplug/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEGS 64
#define OUT_CAP 70000
#define FILL_BIT 0x80

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 1071 the slow way (independent of tp_csum_add). */
static uint64_t naive_sum(uint64_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint64_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint64_t)p[len - 1] << 8;
	return sum;
}

static uint16_t naive_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* L4 checksum of a segment with IP header length iphl, verified by hand
 * (pseudo-header included): true if it sums to zero. */
static bool l4_csum_ok(const uint8_t *s, size_t len, size_t iphl, int family, uint8_t proto)
{
	size_t l4 = len - iphl;
	uint64_t sum;

	if (family == AF_INET)
		sum = naive_sum(0, s + 12, 8);
	else
		sum = naive_sum(0, s + 8, 32);
	sum += proto + (l4 >> 16) + (l4 & 0xffff);
	return naive_fold(naive_sum(sum, s + iphl, l4)) == 0;
}

static uint8_t *out;
static struct tp_seg *segs;

static void check_none(const uint8_t *pkt, size_t plen, const struct tp_vnet_hdr *h, unsigned flags,
                       int r)
{
	size_t f = (size_t)h->csum_start + h->csum_offset;

	if (r != 1 || segs[0].data != out || segs[0].len != plen)
		abort();
	if ((h->flags & TP_VNET_F_NEEDS_CSUM) && (flags & TP_SPLIT_FILL_CSUM)) {
		/* only the 2-byte field may differ */
		if (f + 2 > plen || memcmp(out, pkt, f) != 0 ||
		    memcmp(out + f + 2, pkt + f + 2, plen - f - 2) != 0)
			abort();
	} else if (plen && memcmp(out, pkt, plen) != 0) {
		abort();
	}
}

/* The geometry of the input as this target reads it, independently of
 * offload.c (only called after tp_gso_split accepted the packet). */
struct geom {
	int family;
	uint8_t proto;
	size_t iphl, hlen, iplen, payload;
};

static void input_geom(const uint8_t *pkt, size_t plen, struct geom *g)
{
	if ((pkt[0] >> 4) == 4) {
		g->family = AF_INET;
		g->iphl = (size_t)(pkt[0] & 15) * 4;
		g->iplen = rd16(pkt + 2);
		g->proto = pkt[9];
	} else {
		g->family = AF_INET6;
		g->iphl = 40;
		g->iplen = 40 + (size_t)rd16(pkt + 4);
		g->proto = pkt[6];
	}
	if (g->iplen > plen)
		abort(); /* accepted a length beyond the buffer */
	if (g->proto == IPPROTO_TCP)
		g->hlen = g->iphl + (size_t)(pkt[g->iphl + 12] >> 4) * 4;
	else if (g->proto == IPPROTO_UDP)
		g->hlen = g->iphl + 8;
	else
		abort(); /* split something that is neither TCP nor UDP */
	if (g->hlen > g->iplen)
		abort();
	g->payload = g->iplen - g->hlen;
}

/* Zero the fields tp_gso_split may change in a copy of headers hdr[0..hlen). */
static void mask_mutable(uint8_t *hdr, const struct geom *g)
{
	uint8_t *l4 = hdr + g->iphl;

	if (g->family == AF_INET) {
		memset(hdr + 2, 0, 4); /* total length, ID */
		memset(hdr + 10, 0, 2);
	} else {
		memset(hdr + 4, 0, 2);
	}
	if (g->proto == IPPROTO_TCP) {
		memset(l4 + 4, 0, 4);     /* seq */
		l4[13] &= (uint8_t)~0x89; /* FIN, PSH, CWR */
		memset(l4 + 16, 0, 2);
	} else {
		memset(l4 + 4, 0, 4); /* length, checksum */
	}
}

static void check_gso(const uint8_t *pkt, size_t plen, const struct tp_vnet_hdr *h, unsigned flags,
                      int r)
{
	struct geom g;
	uint8_t a[120], b[120];
	size_t mss = h->gso_size, want, done = 0;

	input_geom(pkt, plen, &g);
	if ((h->gso_type == TP_GSO_UDP_L4) != (g.proto == IPPROTO_UDP))
		abort();
	if (h->gso_type == TP_GSO_TCPV4 && g.family != AF_INET)
		abort();
	if (h->gso_type == TP_GSO_TCPV6 && g.family != AF_INET6)
		abort();
	want = g.payload ? (g.payload + mss - 1) / mss : 1;
	if ((size_t)r != want)
		abort();
	memcpy(a, pkt, g.hlen);
	mask_mutable(a, &g);
	for (int i = 0; i < r; i++) {
		const uint8_t *s = segs[i].data, *l4 = s + g.iphl;
		size_t len = segs[i].len, seg_pl = len - g.hlen;
		bool last = i == r - 1;
		struct tp_pkt pp;
		enum tp_drop d;

		if (len < 20 || len < g.hlen)
			abort();
		if (seg_pl != (last ? g.payload - done : mss))
			abort();
		if (memcmp(s + g.hlen, pkt + g.hlen + done, seg_pl) != 0)
			abort();
		memcpy(b, s, g.hlen);
		mask_mutable(b, &g);
		if (memcmp(a, b, g.hlen) != 0)
			abort();
		if (g.family == AF_INET) {
			if (rd16(s + 2) != len || rd16(s + 4) != (uint16_t)(rd16(pkt + 4) + i) ||
			    naive_fold(naive_sum(0, s, g.iphl)) != 0)
				abort();
		} else if (rd16(s + 4) + 40u != len) {
			abort();
		}
		if (g.proto == IPPROTO_TCP) {
			uint8_t fl = pkt[g.iphl + 13];
			if (rd32(l4 + 4) != (uint32_t)(rd32(pkt + g.iphl + 4) + done))
				abort();
			if (!last)
				fl &= (uint8_t)~0x09;
			if (i > 0)
				fl &= (uint8_t)~0x80;
			if (l4[13] != fl)
				abort();
		} else if (rd16(l4 + 4) != len - g.iphl) {
			abort();
		}
		done += seg_pl;
		if (!(flags & TP_SPLIT_FILL_CSUM)) {
			/* the L4 checksum field is the input's */
			size_t c = g.iphl + (g.proto == IPPROTO_TCP ? 16 : 6);
			if (memcmp(s + c, pkt + c, 2) != 0)
				abort();
			continue;
		}
		d = tp_pkt_parse(s, len, TP_PKT_VERIFY_CSUM, &pp);
		/* tp_gso_split accepts (as the kernel does) what tp_pkt_parse
		 * then drops by policy: IPv4 options, sources no host may use
		 * and malformed TCP option lists. Those still must carry a
		 * correct checksum, checked by hand; anything else must
		 * verify. */
		if (d == TP_DROP_IP_OPTIONS || d == TP_DROP_BAD_ADDR || d == TP_DROP_TCP_OPTIONS) {
			if (!l4_csum_ok(s, len, g.iphl, g.family, g.proto))
				abort();
		} else if (d != TP_DROP_NONE) {
			abort();
		}
	}
	if (done != g.payload)
		abort();
}

/* The tp_gso_whole verdict r (w filled when TP_WHOLE) against the input
 * and the split's result (k segments or -1 with why). */
static void check_whole(const uint8_t *pkt, size_t plen, const struct tp_vnet_hdr *h,
                        enum tp_whole r, const struct tp_whole_pkt *w, int k, enum tp_drop why)
{
	uint8_t type = h->gso_type & (uint8_t)~TP_GSO_ECN;
	bool tcp_type = type == TP_GSO_TCPV4 || type == TP_GSO_TCPV6;
	struct tp_pkt pp;
	struct geom g;
	enum tp_drop d;
	size_t want;
	uint8_t fl;

	if ((unsigned)r >= TP_WHOLE__COUNT || (r == TP_WHOLE_NOT_TCP) == tcp_type)
		abort();
	if (r == TP_WHOLE_INVALID || (r != TP_WHOLE_NOT_TCP && (h->gso_type & TP_GSO_ECN))) {
		if (k != -1)
			abort(); /* whole refused what the splitter takes */
		return;
	}
	if (r != TP_WHOLE)
		return;
	if (!(h->flags & (TP_VNET_F_NEEDS_CSUM | TP_VNET_F_DATA_VALID)))
		abort();
	if (w->len > plen || w->len < 40)
		abort();
	if (type == TP_GSO_TCPV4) {
		if (pkt[0] != 0x45 || pkt[9] != IPPROTO_TCP || rd16(pkt + 2) != w->len)
			abort();
	} else if ((pkt[0] >> 4) != 6 || pkt[6] != IPPROTO_TCP || 40u + rd16(pkt + 4) != w->len) {
		abort();
	}
	input_geom(pkt, plen, &g);
	fl = pkt[g.iphl + 13];
	if ((fl & 0xa6) || g.hlen != w->hlen || g.iplen != w->len) /* CWR URG RST SYN */
		abort();
	want = g.payload ? (g.payload + h->gso_size - 1) / h->gso_size : 1;
	if (w->segs != want)
		abort();
	d = tp_pkt_parse(pkt, w->len, 0, &pp);
	if ((d != TP_DROP_NONE && d != TP_DROP_BAD_ADDR && d != TP_DROP_TCP_OPTIONS) ||
	    (d == TP_DROP_NONE && (pp.len != w->len || pp.proto != IPPROTO_TCP)))
		abort();
	if (k >= 0 ? (size_t)k != want : why != TP_DROP_GSO)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tp_vnet_hdr h;
	struct tp_whole_pkt w, wmark;
	enum tp_whole wr;
	enum tp_drop why = TP_DROP__COUNT;
	unsigned flags;
	size_t off = 0;
	int r;

	if (!out) {
		out = malloc(OUT_CAP);
		segs = malloc(MAX_SEGS * sizeof(*segs));
		if (!out || !segs)
			abort();
	}
	r = tp_vnet_parse(data, size, &h);
	if (size < TP_VNET_HDR_LEN) {
		if (r == 0)
			abort();
		return 0;
	}
	if (r != 0 || h.flags != data[0] || h.gso_type != data[1] ||
	    h.gso_size != (data[4] | data[5] << 8))
		abort();
	flags = h.flags & FILL_BIT ? TP_SPLIT_FILL_CSUM : 0;
	h.flags &= (uint8_t)~FILL_BIT;
	{
		/* emit is parse's inverse */
		uint8_t e[TP_VNET_HDR_LEN];
		struct tp_vnet_hdr h2;
		tp_vnet_emit(e, &h);
		tp_vnet_parse(e, sizeof(e), &h2);
		if (memcmp(&h, &h2, sizeof(h)) != 0 || memcmp(e + 1, data + 1, 9) != 0)
			abort();
	}
	data += TP_VNET_HDR_LEN;
	size -= TP_VNET_HDR_LEN;

	memset(&w, 0xa5, sizeof(w));
	wmark = w;
	wr = tp_gso_whole(data, size, &h, &w);
	if (wr != TP_WHOLE && memcmp(&w, &wmark, sizeof(w)) != 0)
		abort();
	r = tp_gso_split(data, size, &h, flags, out, OUT_CAP, segs, MAX_SEGS, &why);
	check_whole(data, size, &h, wr, &w, r, why);
	if (r < 0) {
		if (r != -1 || why == TP_DROP_NONE || (unsigned)why >= TP_DROP__COUNT)
			abort();
		return 0;
	}
	if (why != TP_DROP_NONE || r < 1 || r > MAX_SEGS)
		abort();
	for (int i = 0; i < r; i++) {
		if (segs[i].data != out + off)
			abort();
		off += segs[i].len;
		if (off > OUT_CAP)
			abort();
	}
	if (h.gso_type == TP_GSO_NONE)
		check_none(data, size, &h, flags, r);
	else
		check_gso(data, size, &h, flags, r);
	return 0;
}
