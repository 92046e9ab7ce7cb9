/* SPDX-License-Identifier: MIT */
/* tunplug — virtio_net_hdr parse/emit, GSO split and the whole-TCP
 * decision (read path) and GRO coalescing (write path). Pure code over
 * caller buffers: no I/O. The only allocation is the GRO batch (tp_gro_new,
 * and its arena growing in tp_gro_add). The rules, and why:
 * docs/tun-offload.md ("Whole TCP super-packets", "GSO on read", "GRO on
 * write").
 *
 * Everything multi-byte in a packet is big-endian and read/written byte by
 * byte (no alignment assumptions); the vnet header is little-endian (tun's
 * byte order on a little-endian host unless TUNSETVNETBE says otherwise). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tunplug/offload.h"

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint16_t rdle16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline void wrle16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* The folded, NOT complemented sum: what the L4 checksum field of a
 * NEEDS_CSUM (CHECKSUM_PARTIAL) packet holds. */
static inline uint16_t csum_fold(uint32_t sum)
{
	return (uint16_t)~tp_csum_finish(sum);
}

#define TCP_FIN 0x01u
#define TCP_SYN 0x02u
#define TCP_RST 0x04u
#define TCP_PSH 0x08u
#define TCP_ACK 0x10u
#define TCP_URG 0x20u
#define TCP_CWR 0x80u

/* ---- virtio_net_hdr ---- */

/* buf is borrowed for the call; h is filled. */
int tp_vnet_parse(const uint8_t *buf, size_t len, struct tp_vnet_hdr *h)
{
	if (len < TP_VNET_HDR_LEN)
		return -EINVAL;
	h->flags = buf[0];
	h->gso_type = buf[1];
	h->hdr_len = rdle16(buf + 2);
	h->gso_size = rdle16(buf + 4);
	h->csum_start = rdle16(buf + 6);
	h->csum_offset = rdle16(buf + 8);
	return 0;
}

/* Writes exactly TP_VNET_HDR_LEN bytes at buf. */
void tp_vnet_emit(uint8_t *buf, const struct tp_vnet_hdr *h)
{
	buf[0] = h->flags;
	buf[1] = h->gso_type;
	wrle16(buf + 2, h->hdr_len);
	wrle16(buf + 4, h->gso_size);
	wrle16(buf + 6, h->csum_start);
	wrle16(buf + 8, h->csum_offset);
}

/* ---- GSO split (read path) ---- */

/* The IP and L4 header geometry of a super-packet. */
struct gso_geom {
	int family;
	uint8_t proto;
	uint16_t iphl; /* IP header length (no options/ext headers accepted for v6) */
	uint16_t hlen; /* iphl + L4 header length */
	size_t len;    /* IP length from the header (<= the buffer) */
};

/* Validate the IP header of pkt[0..len) for splitting. 0 or a drop reason. */
static enum tp_drop gso_parse_ip(const uint8_t *pkt, size_t len, struct gso_geom *g)
{
	if (len < 20)
		return TP_DROP_TRUNCATED;
	switch (pkt[0] >> 4) {
	case 4: {
		size_t tot;
		g->family = AF_INET;
		g->iphl = (uint16_t)((pkt[0] & 0x0f) * 4);
		if (g->iphl < 20 || g->iphl > len)
			return TP_DROP_HDR_LEN;
		tot = rd16(pkt + 2);
		if (tot < g->iphl || tot > len)
			return TP_DROP_TOTAL_LEN;
		if (tp_csum_finish(tp_csum_add(0, pkt, g->iphl)) != 0)
			return TP_DROP_IP_CSUM;
		if (rd16(pkt + 6) & 0x3fff) /* MF or a fragment offset */
			return TP_DROP_FRAGMENT;
		g->proto = pkt[9];
		g->len = tot;
		return TP_DROP_NONE;
	}
	case 6: {
		size_t plen;
		g->family = AF_INET6;
		if (len < 40)
			return TP_DROP_TRUNCATED;
		g->iphl = 40;
		plen = rd16(pkt + 4);
		if (plen == 0 || 40 + plen > len) /* 0: a jumbogram, never from tun */
			return TP_DROP_TOTAL_LEN;
		g->proto = pkt[6];
		g->len = 40 + plen;
		if (g->proto == 44)
			return TP_DROP_FRAGMENT;
		if (g->proto != IPPROTO_TCP && g->proto != IPPROTO_UDP)
			return g->proto == 0 || g->proto == 43 || g->proto == 60 ||
			                       g->proto == 51 || g->proto == 50 || g->proto == 135
			               ? TP_DROP_IPV6_EXTHDR
			               : TP_DROP_PROTO;
		return TP_DROP_NONE;
	}
	default:
		return TP_DROP_VERSION;
	}
}

/* Checksum of one finished segment (TCP or UDP), written into its field. */
static void seg_fill_csum(uint8_t *seg, const struct gso_geom *g, size_t seglen)
{
	const uint8_t *src = g->family == AF_INET ? seg + 12 : seg + 8;
	const uint8_t *dst = g->family == AF_INET ? seg + 16 : seg + 24;
	size_t l4len = seglen - g->iphl;
	uint8_t *field = seg + g->iphl + (g->proto == IPPROTO_TCP ? 16 : 6);
	uint32_t sum = tp_csum_pseudo(g->family, src, dst, g->proto, (uint32_t)l4len);
	uint16_t c;

	wr16(field, 0);
	c = tp_csum_finish(tp_csum_add(sum, seg + g->iphl, l4len));
	if (g->proto == IPPROTO_UDP && c == 0)
		c = 0xffff; /* RFC 768: 0 means "no checksum" */
	wr16(field, c);
}

/* A single packet with NEEDS_CSUM: the field holds the pseudo-header sum;
 * sum from csum_start to the end and store the complement. */
static void complete_partial(uint8_t *pkt, size_t len, const struct tp_vnet_hdr *h, uint8_t proto)
{
	uint8_t *field = pkt + h->csum_start + h->csum_offset;
	uint16_t c = tp_csum_finish(tp_csum_add(0, pkt + h->csum_start, len - h->csum_start));

	if (proto == IPPROTO_UDP && c == 0)
		c = 0xffff;
	wr16(field, c);
}

/* pkt is borrowed; segments are written into out (owned by the caller) and
 * described in segs[0..return). Never reads outside pkt[0..len) nor writes
 * outside out[0..cap) and segs[0..max). */
int tp_gso_split(const uint8_t *pkt, size_t len, const struct tp_vnet_hdr *h, unsigned flags,
                 uint8_t *out, size_t cap, struct tp_seg *segs, int max, enum tp_drop *why)
{
	struct gso_geom g;
	enum tp_drop d;
	uint8_t type = h->gso_type & (uint8_t)~TP_GSO_ECN;
	bool needs_csum = h->flags & TP_VNET_F_NEEDS_CSUM;
	size_t payload, mss, nseg, total, off = 0;
	uint16_t id0 = 0;
	uint32_t seq0 = 0;

	*why = TP_DROP_VNET_HDR;
	if (type != TP_GSO_NONE && type != TP_GSO_TCPV4 && type != TP_GSO_TCPV6 &&
	    type != TP_GSO_UDP_L4)
		return -1; /* includes legacy UFO (3) */
	if (type != TP_GSO_NONE && (h->gso_size == 0 || h->gso_size == 0xffff))
		return -1;
	if (h->gso_type & TP_GSO_ECN) {
		/* never requested (no TUN_F_TSO_ECN), so never legitimate */
		*why = TP_DROP_GSO;
		return -1;
	}
	if (needs_csum && ((size_t)h->csum_start + h->csum_offset + 2 > len))
		return -1;
	if (max < 1)
		goto too_many;

	if (type == TP_GSO_NONE) {
		if (len > cap || len > 0xffff)
			goto too_many;
		memcpy(out, pkt, len);
		if (needs_csum && (flags & TP_SPLIT_FILL_CSUM)) {
			/* the protocol decides the "0 means none" rule */
			d = gso_parse_ip(pkt, len, &g);
			complete_partial(out, len, h, d == TP_DROP_NONE ? g.proto : 0);
		}
		segs[0].data = out;
		segs[0].len = (uint16_t)len;
		*why = TP_DROP_NONE;
		return 1;
	}

	d = gso_parse_ip(pkt, len, &g);
	if (d != TP_DROP_NONE) {
		*why = d;
		return -1;
	}
	len = g.len;
	*why = TP_DROP_GSO;
	if ((type == TP_GSO_TCPV4 && g.family != AF_INET) ||
	    (type == TP_GSO_TCPV6 && g.family != AF_INET6) ||
	    (type == TP_GSO_UDP_L4) != (g.proto == IPPROTO_UDP) ||
	    (type != TP_GSO_UDP_L4 && g.proto != IPPROTO_TCP))
		return -1;
	*why = TP_DROP_VNET_HDR;
	if (needs_csum &&
	    (h->csum_start != g.iphl || h->csum_offset != (g.proto == IPPROTO_TCP ? 16 : 6)))
		return -1;
	*why = TP_DROP_L4_TRUNCATED;
	if (g.proto == IPPROTO_TCP) {
		size_t thl;
		if ((size_t)g.iphl + 20 > len)
			return -1;
		thl = (size_t)(pkt[g.iphl + 12] >> 4) * 4;
		if (thl < 20 || g.iphl + thl > len)
			return -1;
		g.hlen = (uint16_t)(g.iphl + thl);
		seq0 = rd32(pkt + g.iphl + 4);
	} else {
		if ((size_t)g.iphl + 8 > len)
			return -1;
		g.hlen = (uint16_t)(g.iphl + 8);
	}
	if (g.family == AF_INET)
		id0 = rd16(pkt + 4);

	payload = len - g.hlen;
	mss = h->gso_size;
	nseg = payload ? (payload + mss - 1) / mss : 1;
	total = nseg * g.hlen + payload;
	*why = TP_DROP_TOTAL_LEN;
	if (g.hlen + (payload < mss ? payload : mss) > 0xffff)
		return -1; /* a segment IP length cannot hold */
	*why = TP_DROP_GSO;
	if (nseg > (size_t)max || total > cap)
		return -1;

	for (size_t i = 0; i < nseg; i++) {
		size_t p0 = i * mss;
		size_t plen = payload - p0 < mss ? payload - p0 : mss;
		size_t seglen = g.hlen + plen;
		uint8_t *s = out + off;

		memcpy(s, pkt, g.hlen);
		memcpy(s + g.hlen, pkt + g.hlen + p0, plen);
		if (g.family == AF_INET) {
			wr16(s + 2, (uint16_t)seglen);
			wr16(s + 4, (uint16_t)(id0 + i));
			wr16(s + 10, 0);
			wr16(s + 10, tp_csum_finish(tp_csum_add(0, s, g.iphl)));
		} else {
			wr16(s + 4, (uint16_t)(seglen - 40));
		}
		if (g.proto == IPPROTO_TCP) {
			uint8_t *th = s + g.iphl;
			wr32(th + 4, seq0 + (uint32_t)p0);
			if (i + 1 < nseg)
				th[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
			if (i > 0)
				th[13] &= (uint8_t)~TCP_CWR;
		} else {
			wr16(s + g.iphl + 4, (uint16_t)(8 + plen));
		}
		if (flags & TP_SPLIT_FILL_CSUM)
			seg_fill_csum(s, &g, seglen);
		segs[i].data = s;
		segs[i].len = (uint16_t)seglen;
		off += seglen;
	}
	*why = TP_DROP_NONE;
	return (int)nseg;

too_many:
	*why = TP_DROP_GSO;
	return -1;
}

/* ---- TCP super-packets fed whole (read path) ---- */

static const char *const whole_names[TP_WHOLE__COUNT] = {
        [TP_WHOLE] = "whole",
        [TP_WHOLE_NOT_TCP] = "not_tcp",
        [TP_WHOLE_INVALID] = "invalid",
        [TP_WHOLE_ECN] = "ecn",
        [TP_WHOLE_UNVERIFIED] = "unverified",
        [TP_WHOLE_TOO_LONG] = "too_long",
        [TP_WHOLE_IP_OPTIONS] = "ip_options",
        [TP_WHOLE_TCP_FLAGS] = "tcp_flags",
};

/* A static string; never NULL. */
const char *tp_whole_name(enum tp_whole w)
{
	return (unsigned)w < TP_WHOLE__COUNT ? whole_names[w] : "?";
}

/* pkt and h are borrowed for the call; *w is written only on TP_WHOLE. The
 * header checks are tp_gso_split's, in its order, so that whatever it would
 * drop is INVALID here and still reaches it (and its drop reason). */
enum tp_whole tp_gso_whole(const uint8_t *pkt, size_t len, const struct tp_vnet_hdr *h,
                           struct tp_whole_pkt *w)
{
	uint8_t type = h->gso_type & (uint8_t)~TP_GSO_ECN;
	bool needs_csum = h->flags & TP_VNET_F_NEEDS_CSUM;
	struct gso_geom g;
	size_t thl, payload;
	uint8_t fl;

	if (type != TP_GSO_TCPV4 && type != TP_GSO_TCPV6)
		return TP_WHOLE_NOT_TCP;
	if (h->gso_size == 0 || h->gso_size == 0xffff)
		return TP_WHOLE_INVALID;
	if (h->gso_type & TP_GSO_ECN)
		return TP_WHOLE_ECN;
	if (needs_csum && (size_t)h->csum_start + h->csum_offset + 2 > len)
		return TP_WHOLE_INVALID;
	if (gso_parse_ip(pkt, len, &g) != TP_DROP_NONE || g.proto != IPPROTO_TCP ||
	    g.family != (type == TP_GSO_TCPV4 ? AF_INET : AF_INET6))
		return TP_WHOLE_INVALID;
	if (needs_csum && (h->csum_start != g.iphl || h->csum_offset != 16))
		return TP_WHOLE_INVALID;
	if ((size_t)g.iphl + 20 > g.len)
		return TP_WHOLE_INVALID;
	thl = (size_t)(pkt[g.iphl + 12] >> 4) * 4;
	if (thl < 20 || g.iphl + thl > g.len)
		return TP_WHOLE_INVALID;
	fl = pkt[g.iphl + 13];
	if (fl & TCP_CWR)
		return TP_WHOLE_ECN;
	if (!(h->flags & (TP_VNET_F_NEEDS_CSUM | TP_VNET_F_DATA_VALID)))
		return TP_WHOLE_UNVERIFIED;
	if (g.len > 0xffff)
		return TP_WHOLE_TOO_LONG;
	if (g.iphl != (g.family == AF_INET ? 20 : 40))
		return TP_WHOLE_IP_OPTIONS;
	if (fl & (TCP_SYN | TCP_RST | TCP_URG))
		return TP_WHOLE_TCP_FLAGS;
	payload = g.len - g.iphl - thl;
	w->len = (uint16_t)g.len;
	w->hlen = (uint16_t)(g.iphl + thl);
	w->segs = payload ? (uint32_t)((payload + h->gso_size - 1) / h->gso_size) : 1;
	return TP_WHOLE;
}

/* ---- GRO coalescing (write path) ---- */

#define GRO_MAX_SEGS 128 /* members per merged item (iovec budget) */
#define GRO_MAX_LEN 65535

/* One packet of the batch, parsed at flush time. */
struct gro_pkt {
	uint32_t off; /* into the arena */
	uint16_t len;
	uint8_t family; /* 0: not TCP/UDP over plain IPv4/IPv6, never merged */
	uint8_t proto;
	uint8_t iphl;
	uint8_t hlen; /* iphl + L4 header */
	uint8_t cand; /* TP_GRO_TCP / TP_GRO_UDP when it may be merged */
	uint8_t tcpflags;
	uint32_t seq, ack;
	int32_t next; /* next member of the same item, -1 */
	uint16_t tso; /* a super-segment's gso_size (tp_gro_add_tso), 0 */
};

/* One write: a packet, or a run of packets of one flow merged. */
struct gro_item {
	uint32_t head, last;
	uint16_t nsegs;
	uint16_t gso_size;
	uint32_t len;      /* IP length of the merged packet */
	uint32_t next_seq; /* TCP: sequence number an appended segment must have */
	uint8_t kind;      /* TP_GRO_TCP / TP_GRO_UDP / 0 */
	bool closed;       /* PSH or a short segment seen: nothing more appends */
	uint8_t psh;
};

struct gro_slot {
	uint32_t gen;
	uint32_t item;
};

struct tp_gro {
	size_t max;
	size_t n;
	uint8_t *arena;
	size_t arena_len, arena_cap;
	struct gro_pkt *pkts;
	struct gro_item *items;
	struct gro_slot *table;
	size_t table_mask;
	uint32_t gen;
	struct iovec *iov; /* 2 + GRO_MAX_SEGS */
	bool tcp_partial;  /* TCP packets carry the pseudo-header sum only */
};

/* Returns a batch owned by the caller (tp_gro_free), or NULL. */
struct tp_gro *tp_gro_new(size_t max_pkts)
{
	struct tp_gro *g;
	size_t tsize = 16;

	if (max_pkts == 0 || max_pkts > (1u << 20))
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	while (tsize < 2 * max_pkts)
		tsize <<= 1;
	g->max = max_pkts;
	g->arena_cap = max_pkts * 1600;
	g->arena = malloc(g->arena_cap);
	g->pkts = calloc(max_pkts, sizeof(*g->pkts));
	g->items = calloc(max_pkts, sizeof(*g->items));
	g->table = calloc(tsize, sizeof(*g->table));
	g->iov = calloc(2 + GRO_MAX_SEGS, sizeof(*g->iov));
	g->table_mask = tsize - 1;
	if (!g->arena || !g->pkts || !g->items || !g->table || !g->iov) {
		tp_gro_free(g);
		return NULL;
	}
	return g;
}

/* Frees g and every packet still in it. NULL is fine. */
void tp_gro_free(struct tp_gro *g)
{
	if (!g)
		return;
	free(g->arena);
	free(g->pkts);
	free(g->items);
	free(g->table);
	free(g->iov);
	free(g);
}

/* pkt is copied; the caller keeps ownership. */
int tp_gro_add(struct tp_gro *g, const void *pkt, size_t len)
{
	if (len < 20 || len > GRO_MAX_LEN)
		return -EINVAL;
	if (g->n == g->max)
		return -ENOSPC;
	if (g->arena_len + len > g->arena_cap) {
		size_t cap = g->arena_cap * 2;
		uint8_t *a;
		while (cap < g->arena_len + len)
			cap *= 2;
		a = realloc(g->arena, cap);
		if (!a)
			return -ENOMEM;
		g->arena = a;
		g->arena_cap = cap;
	}
	memcpy(g->arena + g->arena_len, pkt, len);
	g->pkts[g->n].off = (uint32_t)g->arena_len;
	g->pkts[g->n].len = (uint16_t)len;
	g->pkts[g->n].tso = 0;
	g->arena_len += len;
	g->n++;
	return 0;
}

/* pkt is copied; the caller keeps ownership. */
int tp_gro_add_tso(struct tp_gro *g, const void *pkt, size_t len, uint16_t gso_size)
{
	int r;

	if (gso_size == 0)
		return -EINVAL;
	r = tp_gro_add(g, pkt, len);
	if (r == 0)
		g->pkts[g->n - 1].tso = gso_size;
	return r;
}

size_t tp_gro_count(const struct tp_gro *g)
{
	return g->n;
}

/* Parse p for flow identity and GRO candidacy (docs/tun-offload.md,
 * "GRO on write"). */
static void gro_classify(const uint8_t *b, struct gro_pkt *p, unsigned kinds)
{
	size_t len = p->len;

	p->family = 0;
	p->cand = 0;
	p->next = -1;
	if ((b[0] >> 4) == 4) {
		size_t ihl = (size_t)(b[0] & 0x0f) * 4;
		if (ihl < 20 || ihl > len || rd16(b + 2) != len || (rd16(b + 6) & 0x3fff))
			return;
		p->family = AF_INET;
		p->iphl = (uint8_t)ihl;
		p->proto = b[9];
	} else if ((b[0] >> 4) == 6 && len >= 40) {
		if ((size_t)rd16(b + 4) + 40 != len)
			return;
		p->family = AF_INET6;
		p->iphl = 40;
		p->proto = b[6];
	} else {
		return;
	}
	if ((p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP) || (size_t)p->iphl + 8 > len) {
		p->family = 0; /* no ports to key it by */
		return;
	}
	/* a flow from here on; whether it may be merged is stricter */
	if (p->iphl != (p->family == AF_INET ? 20 : 40))
		return; /* IPv4 options */
	if (p->proto == IPPROTO_TCP) {
		size_t thl;
		if ((size_t)p->iphl + 20 > len)
			return;
		thl = (size_t)(b[p->iphl + 12] >> 4) * 4;
		if (thl < 20 || p->iphl + thl > len)
			return;
		p->hlen = (uint8_t)(p->iphl + thl);
		p->tcpflags = b[p->iphl + 13];
		p->seq = rd32(b + p->iphl + 4);
		p->ack = rd32(b + p->iphl + 8);
		if ((kinds & TP_GRO_TCP) && !p->tso &&
		    (p->tcpflags == TCP_ACK || p->tcpflags == (TCP_ACK | TCP_PSH)) && len > p->hlen)
			p->cand = TP_GRO_TCP;
	} else {
		p->hlen = (uint8_t)(p->iphl + 8);
		if ((kinds & TP_GRO_UDP) && !p->tso && rd16(b + p->iphl + 4) == len - p->iphl &&
		    len > p->hlen)
			p->cand = TP_GRO_UDP;
	}
}

/* Same 5-tuple (addresses, ports, protocol, family). */
static bool gro_same_flow(const uint8_t *a, const struct gro_pkt *pa, const uint8_t *b,
                          const struct gro_pkt *pb)
{
	if (pa->family != pb->family || pa->proto != pb->proto)
		return false;
	if (pa->family == AF_INET) {
		if (memcmp(a + 12, b + 12, 8) != 0)
			return false;
	} else if (memcmp(a + 8, b + 8, 32) != 0) {
		return false;
	}
	return memcmp(a + pa->iphl, b + pb->iphl, 4) == 0;
}

static uint32_t gro_hash(const uint8_t *b, const struct gro_pkt *p)
{
	uint32_t h = 2166136261u ^ p->proto;
	size_t n = p->family == AF_INET ? 8 : 32;
	const uint8_t *a = b + (p->family == AF_INET ? 12 : 8);

	for (size_t i = 0; i < n; i++)
		h = (h ^ a[i]) * 16777619u;
	for (size_t i = 0; i < 4; i++)
		h = (h ^ b[p->iphl + i]) * 16777619u;
	return h ^ (h >> 15);
}

/* May packet p (of the same flow) be appended to item it whose head is hd? */
static bool gro_can_append(const struct tp_gro *g, const struct gro_item *it,
                           const struct gro_pkt *p)
{
	const struct gro_pkt *hp = &g->pkts[it->head];
	const uint8_t *h = g->arena + hp->off, *b = g->arena + p->off;
	size_t plen = (size_t)p->len - p->hlen;

	if (!it->kind || it->kind != p->cand || it->closed || it->nsegs >= GRO_MAX_SEGS)
		return false;
	if (it->kind == TP_GRO_UDP && it->nsegs >= TP_GRO_UDP_MAX_SEGS)
		return false;
	if (plen > it->gso_size || it->len + plen > GRO_MAX_LEN)
		return false;
	/* IP header fields that the merged packet's single header carries:
	 * v4 TOS, DF/reserved flags, TTL (the ID is regenerated on split);
	 * v6 version, traffic class, flow label, hop limit. */
	if (p->family == AF_INET) {
		if (h[1] != b[1] || (h[6] & 0xe0) != (b[6] & 0xe0) || h[8] != b[8])
			return false;
	} else if (memcmp(h, b, 4) != 0 || h[7] != b[7]) {
		return false;
	}
	if (it->kind == TP_GRO_TCP) {
		const uint8_t *ht = h + hp->iphl, *bt = b + p->iphl;
		if (p->hlen != hp->hlen || p->ack != hp->ack || p->seq != it->next_seq)
			return false;
		/* data offset byte (reserved/AE bits), window, urgent pointer
		 * and every option byte (timestamps) */
		if (ht[12] != bt[12] || memcmp(ht + 14, bt + 14, 2) != 0 ||
		    memcmp(ht + 18, bt + 18, 2) != 0 ||
		    memcmp(ht + 20, bt + 20, (size_t)hp->hlen - hp->iphl - 20) != 0)
			return false;
	}
	return true;
}

/* Write item it merged: the head's headers patched in a copy (the arena
 * keeps the originals for an EINVAL re-send), then every member's payload. */
static int gro_write_merged(struct tp_gro *g, const struct gro_item *it, tp_gro_write_fn write,
                            void *ctx)
{
	const struct gro_pkt *hp = &g->pkts[it->head];
	const uint8_t *h = g->arena + hp->off;
	uint8_t vh[TP_VNET_HDR_LEN], hdr[120];
	struct tp_vnet_hdr v = {0};
	uint32_t sum;
	int n = 0;

	memcpy(hdr, h, hp->hlen);
	if (hp->family == AF_INET) {
		wr16(hdr + 2, (uint16_t)it->len);
		wr16(hdr + 10, 0);
		wr16(hdr + 10, tp_csum_finish(tp_csum_add(0, hdr, 20)));
		sum = tp_csum_pseudo(AF_INET, hdr + 12, hdr + 16, hp->proto, it->len - 20);
	} else {
		wr16(hdr + 4, (uint16_t)(it->len - 40));
		sum = tp_csum_pseudo(AF_INET6, hdr + 8, hdr + 24, hp->proto, it->len - 40);
	}
	if (it->kind == TP_GRO_TCP) {
		hdr[hp->iphl + 13] |= it->psh;
		wr16(hdr + hp->iphl + 16, csum_fold(sum));
		v.gso_type = hp->family == AF_INET ? TP_GSO_TCPV4 : TP_GSO_TCPV6;
		v.csum_offset = 16;
	} else {
		wr16(hdr + hp->iphl + 4, (uint16_t)(it->len - hp->iphl));
		wr16(hdr + hp->iphl + 6, csum_fold(sum));
		v.gso_type = TP_GSO_UDP_L4;
		v.csum_offset = 6;
	}
	v.flags = TP_VNET_F_NEEDS_CSUM;
	v.hdr_len = hp->hlen;
	v.gso_size = it->gso_size;
	v.csum_start = hp->iphl;
	tp_vnet_emit(vh, &v);

	g->iov[n++] = (struct iovec){vh, sizeof(vh)};
	g->iov[n++] = (struct iovec){hdr, hp->hlen};
	for (int32_t i = (int32_t)it->head; i >= 0; i = g->pkts[i].next) {
		const struct gro_pkt *p = &g->pkts[i];
		g->iov[n++] = (struct iovec){g->arena + p->off + p->hlen, (size_t)p->len - p->hlen};
	}
	return write(ctx, g->iov, n, it->nsegs, it->kind);
}

/* Offset of the TCP header of a packet whose TCP checksum field holds the
 * pseudo-header sum only (tcp_partial), or 0 if it is no such packet. */
static size_t partial_tcp_off(const struct tp_gro *g, const uint8_t *b, size_t len)
{
	size_t iphl;

	if (!g->tcp_partial)
		return 0;
	if ((b[0] >> 4) == 4 && b[9] == IPPROTO_TCP && !(rd16(b + 6) & 0x3fff))
		iphl = (size_t)(b[0] & 0x0f) * 4;
	else if ((b[0] >> 4) == 6 && len >= 40 && b[6] == IPPROTO_TCP)
		iphl = 40;
	else
		return 0;
	return iphl >= 20 && iphl + 20 <= len ? iphl : 0;
}

static int gro_write_one(struct tp_gro *g, const struct gro_pkt *p, tp_gro_write_fn write,
                         void *ctx)
{
	static const uint8_t zero[TP_VNET_HDR_LEN];
	const uint8_t *b = g->arena + p->off;
	uint8_t vh[TP_VNET_HDR_LEN];
	struct iovec iov[2] = {{(void *)zero, sizeof(zero)}, {(void *)b, p->len}};
	size_t iphl = partial_tcp_off(g, b, p->len);

	if (iphl) {
		/* the kernel completes (or, delivering locally, trusts) it */
		struct tp_vnet_hdr v = {
		        .flags = TP_VNET_F_NEEDS_CSUM,
		        .hdr_len = (uint16_t)(iphl + (size_t)(b[iphl + 12] >> 4) * 4),
		        .csum_start = (uint16_t)iphl,
		        .csum_offset = 16,
		};
		if (v.hdr_len > p->len)
			v.hdr_len = (uint16_t)(iphl + 20);
		tp_vnet_emit(vh, &v);
		iov[0].iov_base = vh;
	}
	return write(ctx, iov, 2, 1, 0);
}

/* See offload.h. */
void tp_gro_set_tcp_partial(struct tp_gro *g, bool on)
{
	g->tcp_partial = on;
}

/* Coalesces and writes everything in g, then empties it. write/ctx are
 * borrowed for the call. */
int tp_gro_flush(struct tp_gro *g, unsigned kinds, tp_gro_write_fn write, void *ctx,
                 unsigned *refused)
{
	size_t nitems = 0, barrier = 0;
	int writes = 0, err = 0;
	unsigned off_kinds = 0;

	if (++g->gen == 0) { /* wrapped: stale stamps could match again */
		memset(g->table, 0, (g->table_mask + 1) * sizeof(*g->table));
		g->gen = 1;
	}
	for (size_t i = 0; i < g->n; i++) {
		struct gro_pkt *p = &g->pkts[i];
		const uint8_t *b = g->arena + p->off;
		struct gro_item *it = NULL;
		struct gro_slot *slot = NULL;

		gro_classify(b, p, kinds);
		if (p->family) {
			size_t s = gro_hash(b, p) & g->table_mask;
			/* linear probing; the table is >= 2x the batch */
			for (;; s = (s + 1) & g->table_mask) {
				slot = &g->table[s];
				if (slot->gen != g->gen)
					break;
				const struct gro_pkt *hp = &g->pkts[g->items[slot->item].head];
				if (gro_same_flow(g->arena + hp->off, hp, b, p)) {
					it = &g->items[slot->item];
					break;
				}
			}
		}
		if (!p->family) /* e.g. a fragment: nothing before it may grow */
			barrier = nitems + 1;
		if (it && (size_t)(it - g->items) >= barrier && p->cand &&
		    gro_can_append(g, it, p)) {
			size_t plen = (size_t)p->len - p->hlen;
			g->pkts[it->last].next = (int32_t)i;
			it->last = (uint32_t)i;
			it->nsegs++;
			it->len += (uint32_t)plen;
			it->next_seq = p->seq + (uint32_t)plen;
			if (plen < it->gso_size)
				it->closed = true;
			if (p->cand == TP_GRO_TCP && (p->tcpflags & TCP_PSH)) {
				it->psh = TCP_PSH;
				it->closed = true;
			}
			continue;
		}
		/* a new item, which becomes its flow's latest (order within a
		 * flow is the order of the items) */
		it = &g->items[nitems];
		*it = (struct gro_item){.head = (uint32_t)i, .last = (uint32_t)i, .nsegs = 1};
		it->kind = p->cand;
		if (p->cand) {
			it->gso_size = (uint16_t)(p->len - p->hlen);
			it->len = p->len;
			it->next_seq = p->seq + it->gso_size;
			it->closed = p->cand == TP_GRO_TCP && (p->tcpflags & TCP_PSH);
		}
		if (slot) {
			slot->gen = g->gen;
			slot->item = (uint32_t)nitems;
		}
		nitems++;
	}

	for (size_t k = 0; k < nitems; k++) {
		const struct gro_item *it = &g->items[k];
		int r;

		if (it->nsegs > 1 && !(off_kinds & it->kind)) {
			r = gro_write_merged(g, it, write, ctx);
			writes++;
			if (r != -EINVAL) {
				if (r < 0 && !err)
					err = r;
				continue;
			}
			off_kinds |= it->kind;
			if (refused)
				*refused |= it->kind;
		}
		for (int32_t i = (int32_t)it->head; i >= 0; i = g->pkts[i].next) {
			const struct gro_pkt *p = &g->pkts[i];
			if (p->tso) {
				unsigned ref = 0;
				r = tp_tso_write(g->arena + p->off, p->len, p->tso,
				                 (kinds & TP_GRO_TSO) && !(off_kinds & TP_GRO_TSO),
				                 write, ctx, &ref, &writes);
				off_kinds |= ref;
				if (refused)
					*refused |= ref;
				if (r < 0 && !err)
					err = r;
				continue;
			}
			r = gro_write_one(g, p, write, ctx);
			writes++;
			if (r < 0 && !err)
				err = r;
		}
	}
	g->n = 0;
	g->arena_len = 0;
	return err ? err : writes;
}

/* ---- TCP super-segments from the stack (write path) ---- */

/* pkt is borrowed; write/ctx for the call. Splitting allocates its
 * segments' buffer (only when a TSO write is not possible). */
int tp_tso_write(const uint8_t *pkt, size_t len, uint16_t gso_size, bool try_tso,
                 tp_gro_write_fn write, void *ctx, unsigned *refused, int *writes)
{
	static const uint8_t zero[TP_VNET_HDR_LEN];
	struct gso_geom geo;
	struct tp_vnet_hdr v = {0};
	uint8_t vh[TP_VNET_HDR_LEN];
	struct iovec iov[2];
	struct tp_seg *segs = NULL;
	uint8_t *out = NULL;
	enum tp_drop why;
	size_t thl, payload, nseg, cap, given = len;
	int k, r, err = 0;

	iov[0] = (struct iovec){(void *)zero, sizeof(zero)};
	iov[1] = (struct iovec){(void *)pkt, len};
	if (gso_size == 0 || gso_parse_ip(pkt, len, &geo) != TP_DROP_NONE ||
	    geo.proto != IPPROTO_TCP || geo.iphl != (geo.family == AF_INET ? 20 : 40) ||
	    (size_t)geo.iphl + 20 > geo.len)
		goto plain;
	thl = (size_t)(pkt[geo.iphl + 12] >> 4) * 4;
	if (thl < 20 || geo.iphl + thl > geo.len)
		goto plain;
	len = geo.len;
	iov[1].iov_len = len;
	geo.hlen = (uint16_t)(geo.iphl + thl);
	payload = len - geo.hlen;
	nseg = payload ? (payload + gso_size - 1) / gso_size : 1;
	v.flags = TP_VNET_F_NEEDS_CSUM;
	v.gso_type = geo.family == AF_INET ? TP_GSO_TCPV4 : TP_GSO_TCPV6;
	v.hdr_len = geo.hlen;
	v.gso_size = gso_size;
	v.csum_start = geo.iphl;
	v.csum_offset = 16;
	if (try_tso && nseg > 1) {
		tp_vnet_emit(vh, &v);
		iov[0].iov_base = vh;
		r = write(ctx, iov, 2, (unsigned)nseg, TP_GRO_TSO);
		(*writes)++;
		if (r != -EINVAL)
			return r < 0 ? r : 0;
		*refused |= TP_GRO_TSO;
		iov[0].iov_base = (void *)zero;
	}
	/* one wire segment at a time, complete checksums */
	cap = nseg * geo.hlen + payload;
	out = malloc(cap);
	segs = calloc(nseg, sizeof(*segs));
	k = out && segs ? tp_gso_split(pkt, len, &v, TP_SPLIT_FILL_CSUM, out, cap, segs, (int)nseg,
	                               &why)
	                : -1;
	if (k < 0) {
		free(out);
		free(segs);
		goto plain; /* no memory, or unsplittable: as it is */
	}
	for (int i = 0; i < k; i++) {
		iov[1] = (struct iovec){segs[i].data, segs[i].len};
		r = write(ctx, iov, 2, 1, 0);
		(*writes)++;
		if (r < 0 && !err)
			err = r;
	}
	free(out);
	free(segs);
	return err;

plain: /* not a super-segment after all: as it is */
	iov[0] = (struct iovec){(void *)zero, sizeof(zero)};
	iov[1] = (struct iovec){(void *)pkt, given};
	r = write(ctx, iov, 2, 1, 0);
	(*writes)++;
	return r < 0 ? r : 0;
}
