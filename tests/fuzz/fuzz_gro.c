/* SPDX-License-Identifier: MIT */
/* libFuzzer target: tp_gro_add / tp_gro_flush on arbitrary packet sequences.
 *
 * Input: one control byte, then packets as a 2-byte big-endian length and
 * that many bytes (the last one may be short: it takes what is left), at
 * most MAX_PKTS. Control byte: bit 0 TP_GRO_TCP, bit 1 TP_GRO_UDP, bit 2
 * the write callback answers -EINVAL to every merged write (as a kernel
 * without the offload would), bits 3-5 the batch capacity (-ENOSPC: flush,
 * then add again, as a caller does), bit 6 TP_GRO_TSO, bit 7: every packet
 * is preceded by a 2-byte big-endian gso_size: non-zero adds it with
 * tp_gro_add_tso (a TCP super-segment of the stack, lwIP patch 0012).
 *
 * Invariants (abort on violation), checked per write and per flush:
 *  - iov[0] is the TP_VNET_HDR_LEN-byte header; at most 65535 packet bytes;
 *  - nsegs == 1: kind 0, an all-zero header, iov[1] is an added packet
 *    unchanged;
 *  - nsegs > 1: kind is an enabled one not refused before; the header
 *    parses (NEEDS_CSUM, TCPV4/TCPV6/UDP_L4 matching kind and family, at
 *    most 64 UDP datagrams); the completed partial checksum verifies;
 *    tp_gso_split (no FILL) of the packet gives exactly nsegs segments, and
 *    with FILL each segment is an added packet but for the IPv4 ID, IPv4
 *    checksum and L4 checksum;
 *  - every added packet is written exactly once by a successful write
 *    (EINVAL'd merged writes are not counted: their members come again one
 *    by one), and packets of one 5-tuple keep their order;
 *  - a super-segment (tp_gro_add_tso) goes out as one write with kind
 *    TP_GRO_TSO (when on and not refused): NEEDS_CSUM, TCPV4/TCPV6 by
 *    family, its gso_size, csum_start at the TCP header, offset 16, nsegs =
 *    ceil(payload / gso_size), the packet's bytes unchanged (up to its IP
 *    length); or, TSO off or refused, as the segments tp_gso_split with
 *    FILL makes of it, one write each in order with an all-zero header; or
 *    unchanged when it is no TCP super-segment;
 *  - flush returns the number of writes, *refused names the EINVAL'd kinds,
 *    and the batch is empty afterwards. */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tunplug/offload.h"
#include "tunplug/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PKTS 256
#define MAX_LEN 65535

struct inpkt {
	const uint8_t *b;
	size_t len;
	uint16_t tso; /* gso_size given to tp_gro_add_tso, 0 */
	bool used;
};

struct ctx {
	struct inpkt pkts[MAX_PKTS];
	size_t first, n;         /* the current batch: pkts[first..n) */
	int order[MAX_PKTS];     /* input index per packet written, in write order */
	size_t nwritten;         /* packets written by successful writes (this batch) */
	unsigned kinds;          /* enabled for this flush */
	unsigned refused;        /* kinds EINVAL'd during this flush */
	bool einval;             /* answer -EINVAL to merged writes */
	int calls;               /* write calls during this flush */
	uint8_t buf[MAX_LEN];    /* the written packet, contiguous */
	uint8_t segbuf[1 << 17]; /* its segments: up to 128 headers + 64 KiB */
	struct tp_seg segs[TP_GRO_UDP_MAX_SEGS * 2 + 1];
	/* a super-segment being written as segments: its input index, its
	 * pieces (tp_gso_split with FILL) and how many came so far */
	int piece_of;
	int npieces, pieces_seen;
	uint8_t *piecebuf; /* 65535 + 65535 * 120 headers, allocated once */
	struct tp_seg *pieces;
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Index of the unused batch packet equal to s[0..len), exactly or (masked)
 * but for IPv4 ID/header checksum and the TCP/UDP checksum; -1 if none. */
static int match(struct ctx *c, const uint8_t *s, size_t len, bool masked)
{
	for (size_t i = c->first; i < c->n; i++) {
		const uint8_t *p = c->pkts[i].b;
		size_t l4, cs;
		if (c->pkts[i].used || c->pkts[i].len != len)
			continue;
		if (memcmp(p, s, len) == 0)
			return (int)i;
		if (!masked)
			continue;
		/* merged members are plain v4 (IHL 5) or v6, TCP or UDP */
		l4 = (s[0] >> 4) == 4 ? 20 : 40;
		cs = l4 + (s[l4 == 20 ? 9 : 6] == IPPROTO_TCP ? 16 : 6);
		if (len < cs + 2)
			continue;
		if (l4 == 20 ? memcmp(p, s, 4) != 0 || memcmp(p + 6, s + 6, 4) != 0 ||
		                       memcmp(p + 12, s + 12, cs - 12) != 0
		             : memcmp(p, s, cs) != 0)
			continue;
		if (memcmp(p + cs + 2, s + cs + 2, len - cs - 2) == 0)
			return (int)i;
	}
	return -1;
}

static void take(struct ctx *c, int i)
{
	if (i < 0 || c->nwritten >= MAX_PKTS)
		abort(); /* written but never added, or added once and written twice */
	c->pkts[i].used = true;
	c->order[c->nwritten++] = i;
}

static void check_merged(struct ctx *c, size_t len, unsigned nsegs, unsigned kind,
                         const struct tp_vnet_hdr *h)
{
	const uint8_t *b = c->buf;
	bool v4 = (b[0] >> 4) == 4;
	struct tp_vnet_hdr none = {.flags = TP_VNET_F_NEEDS_CSUM,
	                           .csum_start = h->csum_start,
	                           .csum_offset = h->csum_offset};
	enum tp_drop why, d;
	struct tp_pkt pp;
	int r;

	if (kind != TP_GRO_TCP && kind != TP_GRO_UDP)
		abort();
	if (!(c->kinds & kind) || (c->refused & kind))
		abort(); /* merged a kind that is off */
	if (h->flags != TP_VNET_F_NEEDS_CSUM || h->gso_type != (kind == TP_GRO_UDP ? TP_GSO_UDP_L4
	                                                        : v4               ? TP_GSO_TCPV4
	                                                                           : TP_GSO_TCPV6))
		abort();
	if (kind == TP_GRO_UDP && nsegs > TP_GRO_UDP_MAX_SEGS)
		abort();
	if (h->csum_start != (v4 ? 20 : 40) || h->csum_offset != (kind == TP_GRO_TCP ? 16 : 6))
		abort();

	/* the partial checksum, completed as the kernel would, verifies
	 * (sources and TCP option lists tp_pkt_parse refuses by policy
	 * cannot be checked so) */
	r = tp_gso_split(b, len, &none, TP_SPLIT_FILL_CSUM, c->segbuf, sizeof(c->segbuf), c->segs,
	                 1, &why);
	if (r != 1 || c->segs[0].len != len)
		abort();
	d = tp_pkt_parse(c->segbuf, len, 0, &pp);
	if (d != TP_DROP_BAD_ADDR && d != TP_DROP_TCP_OPTIONS &&
	    tp_pkt_parse(c->segbuf, len, TP_PKT_VERIFY_CSUM, &pp) != TP_DROP_NONE)
		abort();

	/* the kernel's split gives back exactly the members */
	r = tp_gso_split(b, len, h, 0, c->segbuf, sizeof(c->segbuf), c->segs,
	                 (int)(sizeof(c->segs) / sizeof(c->segs[0])), &why);
	if (r < 0 || (unsigned)r != nsegs)
		abort();
	r = tp_gso_split(b, len, h, TP_SPLIT_FILL_CSUM, c->segbuf, sizeof(c->segbuf), c->segs,
	                 (int)(sizeof(c->segs) / sizeof(c->segs[0])), &why);
	if (r < 0 || (unsigned)r != nsegs)
		abort();
	/* masked only: checksums and IDs are regenerated, so an exact match
	 * could pick a later duplicate (earliest first keeps flow order) */
	for (int i = 0; i < r; i++)
		take(c, match(c, c->segs[i].data, c->segs[i].len, true));
}

static bool tso_hdr_len(const uint8_t *b, size_t len, size_t *iphl, size_t *hlen, size_t *iplen)
{
	if (len < 40)
		return false;
	if ((b[0] >> 4) == 4 && (b[0] & 15) == 5 && b[9] == IPPROTO_TCP) {
		*iphl = 20;
		*iplen = rd16(b + 2);
	} else if ((b[0] >> 4) == 6 && len >= 60 && b[6] == IPPROTO_TCP) {
		*iphl = 40;
		*iplen = 40 + (size_t)rd16(b + 4);
	} else {
		return false;
	}
	*hlen = *iphl + (size_t)(b[*iphl + 12] >> 4) * 4;
	return *iplen <= len && *hlen >= *iphl + 20 && *hlen <= *iplen;
}

/* A TSO write: the unused super-segment it is, unchanged. */
static void check_tso(struct ctx *c, size_t len, unsigned nsegs, const struct tp_vnet_hdr *h)
{
	const uint8_t *b = c->buf;
	size_t iphl, hlen, iplen;

	if (!(c->kinds & TP_GRO_TSO) || (c->refused & TP_GRO_TSO))
		abort();
	if (!tso_hdr_len(b, len, &iphl, &hlen, &iplen) || iplen != len)
		abort();
	if (h->flags != TP_VNET_F_NEEDS_CSUM ||
	    h->gso_type != (iphl == 20 ? TP_GSO_TCPV4 : TP_GSO_TCPV6) || h->csum_start != iphl ||
	    h->csum_offset != 16 || h->hdr_len != hlen || h->gso_size == 0)
		abort();
	if (nsegs != (len - hlen + h->gso_size - 1) / h->gso_size || nsegs < 2)
		abort();
	for (size_t i = c->first; i < c->n; i++) {
		const struct inpkt *p = &c->pkts[i];
		if (!p->used && p->tso == h->gso_size && p->len >= len &&
		    memcmp(p->b, b, len) == 0) {
			take(c, (int)i);
			return;
		}
	}
	abort(); /* no such super-segment added */
}

/* A plain write that is no added packet: the next segment of a
 * super-segment written in pieces. */
static void check_piece(struct ctx *c, size_t len)
{
	if (c->piece_of < 0) {
		/* the first piece: of the earliest unused super-segment whose
		 * split starts with it (pieces of one come back to back) */
		for (size_t i = c->first; i < c->n && c->piece_of < 0; i++) {
			const struct inpkt *p = &c->pkts[i];
			struct tp_vnet_hdr h = {.flags = TP_VNET_F_NEEDS_CSUM, .csum_offset = 16};
			size_t iphl, hlen, iplen;
			enum tp_drop why;
			int k;
			if (p->used || !p->tso || !tso_hdr_len(p->b, p->len, &iphl, &hlen, &iplen))
				continue;
			h.gso_type = iphl == 20 ? TP_GSO_TCPV4 : TP_GSO_TCPV6;
			h.gso_size = p->tso;
			h.csum_start = (uint16_t)iphl;
			k = tp_gso_split(p->b, p->len, &h, TP_SPLIT_FILL_CSUM, c->piecebuf,
			                 65535 + 65535 * 120, c->pieces, 65535, &why);
			if (k < 1 || c->pieces[0].len != len ||
			    memcmp(c->pieces[0].data, c->buf, len))
				continue;
			c->piece_of = (int)i;
			c->npieces = k;
			c->pieces_seen = 0;
		}
		if (c->piece_of < 0)
			abort(); /* written but never added */
	}
	if (c->pieces[c->pieces_seen].len != len ||
	    memcmp(c->pieces[c->pieces_seen].data, c->buf, len) != 0)
		abort(); /* not the next piece */
	if (++c->pieces_seen == c->npieces) {
		take(c, c->piece_of);
		c->piece_of = -1;
	}
}

static int write_cb(void *vctx, const struct iovec *iov, int iovcnt, unsigned nsegs, unsigned kind)
{
	static const uint8_t zero[TP_VNET_HDR_LEN];
	struct ctx *c = vctx;
	struct tp_vnet_hdr h;
	size_t len = 0;

	c->calls++;
	if (iovcnt < 2 || iov[0].iov_len != TP_VNET_HDR_LEN || nsegs < 1)
		abort();
	for (int i = 1; i < iovcnt; i++) {
		if (iov[i].iov_len > MAX_LEN - len)
			abort();
		memcpy(c->buf + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (tp_vnet_parse(iov[0].iov_base, iov[0].iov_len, &h) != 0)
		abort();
	if (nsegs == 1) {
		int i;
		if (kind != 0 || iovcnt != 2 || memcmp(iov[0].iov_base, zero, sizeof(zero)) != 0)
			abort();
		i = c->piece_of < 0 ? match(c, c->buf, len, false) : -1;
		if (i >= 0)
			take(c, i);
		else
			check_piece(c, len);
		return 0;
	}
	if (c->piece_of >= 0)
		abort(); /* a super-segment's pieces interrupted */
	if (c->einval) {
		if (kind != TP_GRO_TCP && kind != TP_GRO_UDP && kind != TP_GRO_TSO)
			abort();
		if (c->refused & kind)
			abort(); /* merged again after EINVAL */
		c->refused |= kind;
		return -EINVAL;
	}
	if (kind == TP_GRO_TSO)
		check_tso(c, len, nsegs, &h);
	else
		check_merged(c, len, nsegs, kind, &h);
	return 0;
}

/* The 5-tuple of a packet tp_pkt_parse accepts as TCP/UDP, else false. */
static bool flow_key(const struct inpkt *p, uint8_t key[37])
{
	struct tp_pkt pp;
	size_t alen;

	if (tp_pkt_parse(p->b, p->len, 0, &pp) != TP_DROP_NONE ||
	    (pp.proto != IPPROTO_TCP && pp.proto != IPPROTO_UDP))
		return false;
	alen = pp.family == AF_INET ? 4 : 16;
	memset(key, 0, 37);
	key[0] = pp.proto;
	memcpy(key + 1, pp.src, alen);
	memcpy(key + 17, pp.dst, alen);
	memcpy(key + 33, p->b + pp.l4_off, 4);
	return true;
}

static void flush(struct tp_gro *g, struct ctx *c, unsigned *kinds)
{
	unsigned refused = 0;
	uint8_t ka[37], kb[37];
	int r;

	c->kinds = *kinds;
	c->refused = 0;
	c->calls = 0;
	c->nwritten = 0;
	c->piece_of = -1;
	r = tp_gro_flush(g, *kinds, write_cb, c, &refused);
	if (r != c->calls || refused != c->refused || tp_gro_count(g) != 0 || c->piece_of >= 0)
		abort();
	/* nothing lost, nothing duplicated */
	if (c->nwritten != c->n - c->first)
		abort();
	for (size_t i = c->first; i < c->n; i++)
		if (!c->pkts[i].used)
			abort();
	/* order within a 5-tuple */
	for (size_t i = 0; i < c->nwritten; i++) {
		if (!flow_key(&c->pkts[c->order[i]], ka))
			continue;
		for (size_t j = i + 1; j < c->nwritten; j++)
			if (c->order[j] < c->order[i] && flow_key(&c->pkts[c->order[j]], kb) &&
			    memcmp(ka, kb, sizeof(ka)) == 0)
				abort();
	}
	*kinds &= ~refused; /* what the gateway does */
	c->first = c->n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[8] = {1, 2, 3, 5, 8, 32, 64, MAX_PKTS};
	static struct ctx c;
	struct tp_gro *g;
	unsigned kinds;
	size_t off = 1;

	if (size < 1)
		return 0;
	bool tso_in = data[0] & 0x80;

	kinds = data[0] & (TP_GRO_TCP | TP_GRO_UDP);
	if (data[0] & 0x40)
		kinds |= TP_GRO_TSO;
	c.einval = data[0] & 4;
	if (!c.piecebuf) {
		c.piecebuf = malloc(65535 + 65535 * 120);
		c.pieces = malloc(65535 * sizeof(*c.pieces));
		if (!c.piecebuf || !c.pieces)
			abort();
	}
	c.first = c.n = 0;
	g = tp_gro_new(caps[(data[0] >> 3) & 7]);
	if (!g)
		abort();
	while (off < size && c.n < MAX_PKTS) {
		struct inpkt *p = &c.pkts[c.n];
		uint16_t tso = 0;
		size_t len;
		int r;

		if (tso_in) {
			if (size - off < 2)
				break;
			tso = rd16(data + off);
			off += 2;
		}
		len = size - off >= 2 ? rd16(data + off) : 0;
		off += 2;
		if (off > size)
			break;
		if (len > size - off)
			len = size - off;
		*p = (struct inpkt){data + off, len, tso, false};
		off += len;
		r = tso ? tp_gro_add_tso(g, p->b, p->len, tso) : tp_gro_add(g, p->b, p->len);
		if (r == -ENOSPC) {
			if (tp_gro_count(g) == 0)
				abort();
			flush(g, &c, &kinds);
			r = tso ? tp_gro_add_tso(g, p->b, p->len, tso)
			        : tp_gro_add(g, p->b, p->len);
		}
		if (len < 20) {
			if (r != -EINVAL)
				abort();
			continue;
		}
		if (r != 0)
			abort();
		c.n++;
		if (tp_gro_count(g) != c.n - c.first)
			abort();
	}
	flush(g, &c, &kinds);
	tp_gro_free(g);
	return 0;
}
