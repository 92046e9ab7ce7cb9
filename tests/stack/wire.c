/* SPDX-License-Identifier: MIT */
/* Stack tests: the client's side of TCP on the wire (see wire.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "wire.h"

enum tp_drop (*tw_inject)(const void *buf, size_t len);
struct tw_out tw_out[TW_MAXOUT];
int tw_nout;
long tw_dropped;

void tw_peer_init(struct tw_peer *p, int family, const char *src, const char *dst, uint16_t sport,
                  uint16_t dport, uint32_t isn)
{
	memset(p, 0, sizeof(*p));
	p->family = family;
	inet_pton(family, src, p->src);
	inet_pton(family, dst, p->dst);
	p->sport = sport;
	p->dport = dport;
	p->seq = isn;
	p->wnd = 65535;
	p->ts_val = 0x80000101u; /* last wire byte >= 0x80: lwIP patch 0003 */
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	uint32_t n = htonl(v);
	memcpy(b, &n, 4);
}

size_t tw_build(uint8_t *b, const struct tw_peer *p, uint8_t flags, const void *data, size_t dlen)
{
	size_t ipl = p->family == AF_INET ? 20 : 40;
	size_t thl = 20 + ((flags & TW_SYN) ? 4 : 0) + (p->timestamps ? 12 : 0);
	size_t tot = ipl + thl + dlen;
	uint8_t *t = b + ipl, *o;

	memset(b, 0, ipl + thl);
	if (p->family == AF_INET) {
		b[0] = 0x45;
		put16(b + 2, (uint16_t)tot);
		b[6] = 0x40; /* DF */
		b[8] = 64;
		b[9] = IPPROTO_TCP;
		memcpy(b + 12, p->src, 4);
		memcpy(b + 16, p->dst, 4);
		put16(b + 10, tp_csum_finish(tp_csum_add(0, b, 20)));
	} else {
		b[0] = 0x60;
		put16(b + 4, (uint16_t)(thl + dlen));
		b[6] = IPPROTO_TCP;
		b[7] = 64;
		memcpy(b + 8, p->src, 16);
		memcpy(b + 24, p->dst, 16);
	}
	put16(t, p->sport);
	put16(t + 2, p->dport);
	put32(t + 4, p->seq);
	put32(t + 8, (flags & TW_ACK) ? p->ack : 0);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = flags;
	put16(t + 14, p->wnd);
	o = t + 20;
	if (flags & TW_SYN) {
		o[0] = 2;
		o[1] = 4;
		put16(o + 2, 1460);
		o += 4;
	}
	if (p->timestamps) {
		o[0] = 1;
		o[1] = 1;
		o[2] = 8;
		o[3] = 10;
		put32(o + 4, p->ts_val);
		put32(o + 8, (flags & TW_ACK) ? p->ts_ecr : 0);
	}
	if (dlen)
		memcpy(t + thl, data, dlen);
	uint32_t sum =
	        tp_csum_pseudo(p->family, p->src, p->dst, IPPROTO_TCP, (uint32_t)(thl + dlen));
	put16(t + 16, tp_csum_finish(tp_csum_add(sum, t, thl + dlen)));
	return tot;
}

enum tp_drop tw_send(struct tw_peer *p, uint8_t flags, const void *data, size_t dlen)
{
	uint8_t b[2048];
	size_t n = tw_build(b, p, flags, data, dlen);
	enum tp_drop r = tw_inject(b, n);

	p->seq += (uint32_t)dlen + ((flags & (TW_SYN | TW_FIN)) ? 1 : 0);
	return r;
}

int tw_capture(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	if (tw_nout >= TW_MAXOUT || len > sizeof(tw_out[0].buf)) {
		tw_dropped++;
		return 0;
	}
	memcpy(tw_out[tw_nout].buf, buf, len);
	tw_out[tw_nout].len = len;
	tw_nout++;
	return 0;
}

void tw_clear(void)
{
	tw_nout = 0;
	tw_dropped = 0;
}

bool tw_parse(int i, struct tp_pkt *pk)
{
	memset(pk, 0, sizeof(*pk));
	if (i < 0 || i >= tw_nout)
		return false;
	return tp_pkt_parse(tw_out[i].buf, tw_out[i].len, TP_PKT_VERIFY_CSUM, pk) == TP_DROP_NONE;
}

int tw_last_to(const struct tw_peer *p, uint8_t want)
{
	size_t alen = p->family == AF_INET ? 4 : 16;
	struct tp_pkt pk;

	for (int i = tw_nout - 1; i >= 0; i--) {
		if (!tw_parse(i, &pk) || pk.proto != IPPROTO_TCP || pk.family != p->family)
			continue;
		if (pk.dport == p->sport && pk.sport == p->dport && !memcmp(pk.dst, p->src, alen) &&
		    !memcmp(pk.src, p->dst, alen) && (pk.tcp_flags & want) == want)
			return i;
	}
	return -1;
}

size_t tw_payload_len(int i)
{
	struct tp_pkt pk;

	if (!tw_parse(i, &pk))
		return 0;
	return (size_t)(pk.len - pk.data_off);
}

void tw_ts_of(const uint8_t *buf, const struct tp_pkt *pk, uint32_t *val, uint32_t *ecr)
{
	const uint8_t *o = buf + pk->l4_off + 20;
	size_t olen = (size_t)(pk->data_off - pk->l4_off - 20);

	*val = *ecr = 0;
	for (size_t k = 0; k < olen;) {
		if (o[k] == 0)
			break;
		if (o[k] == 1) {
			k++;
			continue;
		}
		if (k + 1 >= olen || o[k + 1] < 2 || k + o[k + 1] > olen)
			break;
		if (o[k] == 8 && o[k + 1] == 10) {
			uint32_t v;
			memcpy(&v, o + k + 2, 4);
			*val = ntohl(v);
			memcpy(&v, o + k + 6, 4);
			*ecr = ntohl(v);
			return;
		}
		k += o[k + 1];
	}
}

void tw_take_pkt(struct tw_peer *p, const uint8_t *buf, size_t len, bool ack_it)
{
	struct tp_pkt pk;
	uint32_t val, ecr;

	if (tp_pkt_parse(buf, len, TP_PKT_VERIFY_CSUM, &pk) != TP_DROP_NONE)
		return;
	tw_ts_of(buf, &pk, &val, &ecr);
	if (p->timestamps)
		p->ts_ecr = val;
	if (ack_it)
		p->ack = pk.seq + (uint32_t)(pk.len - pk.data_off) +
		         ((pk.tcp_flags & (TW_SYN | TW_FIN)) ? 1 : 0);
}

void tw_take(struct tw_peer *p, int i, bool ack_it)
{
	if (i >= 0 && i < tw_nout)
		tw_take_pkt(p, tw_out[i].buf, tw_out[i].len, ack_it);
}
