/* SPDX-License-Identifier: MIT */
/* tunplug — UDP flows and ICMP errors.
 *
 * Whole datagrams come straight from stack.c (tp__udp_input, after
 * tp_pkt_parse validated them: no copy, no lwIP); fragmented ones go
 * through lwIP's reassembly and arrive through patch 0004's hook
 * (tp_lwip_udp_input). Datagrams are grouped into flows by 5-tuple in a
 * hash table; each flow sits on one of two LRU lists (DNS port 53, and
 * everything else) so that the head of each list is the next to expire and
 * the longest idle when the table is full. Replies go out through one
 * unbound lwIP UDP PCB whose local port is set per send; lwIP fragments them
 * to the MTU. ICMP unreachables quote a copy of the flow's first datagram
 * headers; they and those for refused TCP SYNs (stack.c) share one rate
 * limit here. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lwip/inet_chksum.h"
#include "tunplug/packet.h"
#include "lwip/ip.h"
#include "lwip/pbuf.h"
#include "lwip/udp.h"

#include "stack_priv.h"

#define QUOTE_MAX 64 /* bytes of the first datagram quoted in ICMP errors */
#define UDP_DEFAULT_MAX 65536u
#define UDP_DEFAULT_IDLE_MS 60000u
#define UDP_DEFAULT_DNS_IDLE_MS 10000u
#define ICMP_RATE_PER_S 1000u /* token bucket, like Linux's icmp_msgs_per_sec */
#define ICMP_BURST 50u

struct lru {
	struct tp_udp_flow *head, *tail;
	uint32_t idle_ms;
};

struct tp_udp_flow {
	struct tp_udp_flow *hnext;
	struct tp_udp_flow *prev, *next; /* LRU */
	struct lru *lru;
	uint32_t hash;
	uint32_t last_ms;
	struct tp_endpoint src, dst;
	const struct tp_udp_events *ev;
	void *ud;
	uint8_t quote_len;
	uint8_t quote[QUOTE_MAX];
};

bool tp__udp_from_frag;

static struct {
	struct tp_udp_flow **buckets;
	uint32_t nbuckets;
	uint32_t seed;
	size_t n, max;
	struct lru dns, other;
	struct udp_pcb *pcb; /* replies; never bound, so never in lwIP's demux */
	uint32_t tokens, tok_ms;
	uint16_t ip_id; /* IPv4 ID of the replies send_fast builds */
	uint8_t buf[65536];
	uint8_t obuf[65536]; /* send_fast's packet (not buf: a reply may echo it) */
} U;

/* ---- table ---- */
/* Seeded, over 32-bit words of the addresses (one multiply per word, not
 * per byte: every datagram pays it) and the ports. */
static uint32_t tuple_hash(const struct tp_endpoint *s, const struct tp_endpoint *d)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ U.seed;
	size_t alen = s->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < alen; i += 4) {
		uint32_t a, b;

		memcpy(&a, s->addr + i, 4);
		memcpy(&b, d->addr + i, 4);
		h = (h ^ a) * 0xff51afd7ed558ccdull;
		h = (h ^ b) * 0xff51afd7ed558ccdull;
	}
	h = (h ^ ((uint32_t)s->port << 16 | d->port)) * 0xc4ceb9fe1a85ec53ull;
	return (uint32_t)(h ^ (h >> 32));
}

static bool ep_eq(const struct tp_endpoint *a, const struct tp_endpoint *b)
{
	if (a->family != b->family || a->port != b->port)
		return false;
	/* constant sizes: compiled inline, not a libc call per lookup */
	return a->family == AF_INET ? memcmp(a->addr, b->addr, 4) == 0
	                            : memcmp(a->addr, b->addr, 16) == 0;
}

static void lru_unlink(struct tp_udp_flow *f)
{
	struct lru *l = f->lru;
	if (f->prev)
		f->prev->next = f->next;
	else
		l->head = f->next;
	if (f->next)
		f->next->prev = f->prev;
	else
		l->tail = f->prev;
	f->prev = f->next = NULL;
}

static void lru_append(struct tp_udp_flow *f)
{
	struct lru *l = f->lru;
	f->prev = l->tail;
	f->next = NULL;
	if (l->tail)
		l->tail->next = f;
	else
		l->head = f;
	l->tail = f;
}

static void touch(struct tp_udp_flow *f)
{
	f->last_ms = tp__now();
	if (!f->prev && f->lru->head != f)
		return; /* not linked yet: a send from inside udp_new */
	if (f->lru->tail != f) {
		lru_unlink(f);
		lru_append(f);
	}
}

/* Unlink and free; then tell the owner. */
static void flow_finish(struct tp_udp_flow *f, int err)
{
	struct tp_udp_flow **pp = &U.buckets[f->hash & (U.nbuckets - 1)];
	const struct tp_udp_events *ev = f->ev;
	void *ud = f->ud;
	struct tp_stack_stats *st = tp__stats();

	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	lru_unlink(f);
	U.n--;
	st->udp_flows_closed++;
	st->udp_flows_now--;
	if (err == -ETIMEDOUT)
		st->udp_flows_idle++;
	else if (err == -ENOSPC)
		st->udp_flows_evicted++;
	if (ev && ev->closed)
		ev->closed(f, ud, err); /* unlinked already: the owner cannot reach it */
	free(f);
}

/* ---- ICMP errors ---- */
static bool icmp_allowed(void)
{
	uint32_t now = tp__now();
	uint64_t add = (uint64_t)(now - U.tok_ms) * ICMP_RATE_PER_S / 1000; /* no 32-bit wrap */

	if (add) {
		U.tokens = add >= ICMP_BURST - U.tokens ? ICMP_BURST : U.tokens + (uint32_t)add;
		U.tok_ms = now;
	}
	if (!U.tokens) {
		tp__stats()->icmp_unreach_limited++;
		return false;
	}
	U.tokens--;
	return true;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* pkt is borrowed for the call. */
bool tp__send_unreach(const uint8_t *pkt, size_t len, enum tp_unreach why)
{
	uint8_t out[TP_ICMP_UNREACH_MAX];
	size_t n;

	if (!icmp_allowed())
		return false;
	n = tp_icmp_unreach(out, sizeof(out), pkt, len, why);
	if (!n)
		return false;
	tp__stats()->icmp_unreach_sent++;
	tp__emit_raw(out, n);
	return true;
}

/* Destination unreachable from f->dst to f->src quoting the first datagram:
 * -ECONNREFUSED port, -EHOSTUNREACH host, -ENETUNREACH net, else
 * administratively prohibited. */
static void send_unreachable(const struct tp_udp_flow *f, int err)
{
	enum tp_unreach why = err == -ECONNREFUSED   ? TP_UNREACH_PORT
	                      : err == -EHOSTUNREACH ? TP_UNREACH_HOST
	                      : err == -ENETUNREACH  ? TP_UNREACH_NET
	                                             : TP_UNREACH_PROHIBITED;

	tp__send_unreach(f->quote, f->quote_len, why);
}

/* The IP + UDP headers (+ payload start) of the first datagram, rebuilt
 * from what lwIP parsed: ICMP errors quote them so the client's kernel can
 * match the error to its socket. */
static void make_quote(struct tp_udp_flow *f, const uint8_t *udp, size_t udp_len)
{
	uint8_t *q = f->quote;
	size_t iphl = f->src.family == AF_INET ? 20 : 40;
	size_t more = QUOTE_MAX - iphl;
	size_t take = udp_len < more ? udp_len : more;

	memset(q, 0, QUOTE_MAX);
	if (f->src.family == AF_INET) {
		q[0] = 0x45;
		wr16(q + 2, (uint16_t)(20 + udp_len));
		q[8] = 64;
		q[9] = IPPROTO_UDP;
		memcpy(q + 12, f->src.addr, 4);
		memcpy(q + 16, f->dst.addr, 4);
		wr16(q + 10, tp_csum_finish(tp_csum_add(0, q, 20)));
	} else {
		q[0] = 0x60;
		wr16(q + 4, (uint16_t)udp_len);
		q[6] = IPPROTO_UDP;
		q[7] = 64;
		memcpy(q + 8, f->src.addr, 16);
		memcpy(q + 24, f->dst.addr, 16);
	}
	memcpy(q + iphl, udp, take);
	f->quote_len = (uint8_t)(iphl + take);
}

/* ---- input (patch 0004's hook) ---- */
static void ep_from_ip(struct tp_endpoint *e, const ip_addr_t *ip, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->port = port;
	if (IP_IS_V4(ip)) {
		e->family = AF_INET;
		memcpy(e->addr, &ip_2_ip4(ip)->addr, 4);
	} else {
		e->family = AF_INET6;
		memcpy(e->addr, ip_2_ip6(ip)->addr, 16);
	}
}

static bool is_multicast_or_broadcast(const struct tp_endpoint *d)
{
	static const uint8_t bcast[4] = {255, 255, 255, 255};
	if (d->family == AF_INET)
		return (d->addr[0] & 0xf0) == 224 || !memcmp(d->addr, bcast, 4);
	return d->addr[0] == 0xff;
}

static struct tp_udp_flow *flow_new(const struct tp_endpoint *s, const struct tp_endpoint *d,
                                    uint32_t h, const uint8_t *udp, size_t udp_len)
{
	struct tp_stack_stats *st = tp__stats();
	const struct tp_stack_cfg *cfg = tp__cfg();
	struct tp_udp_flow *f;
	int r;

	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->src = *s;
	f->dst = *d;
	f->hash = h;
	f->lru = d->port == 53 ? &U.dns : &U.other;
	make_quote(f, udp, udp_len);
	r = cfg->udp_new ? cfg->udp_new(cfg->ctx, f) : -ECONNREFUSED;
	if (r < 0) {
		st->udp_flows_refused++;
		send_unreachable(f, r);
		free(f);
		return NULL;
	}
	if (U.n >= U.max) {
		/* evict the longest idle flow (the older of the two LRU heads);
		 * only for a flow the owner took: a refused one must not cost
		 * anyone their flow */
		struct tp_udp_flow *a = U.dns.head, *b = U.other.head, *v;
		uint32_t now = tp__now();
		v = !a ? b : !b ? a : (now - a->last_ms >= now - b->last_ms ? a : b);
		if (v)
			flow_finish(v, -ENOSPC);
	}
	f->hnext = U.buckets[h & (U.nbuckets - 1)];
	U.buckets[h & (U.nbuckets - 1)] = f;
	f->last_ms = tp__now();
	lru_append(f);
	U.n++;
	st->udp_flows_opened++;
	st->udp_flows_now++;
	return f;
}

/* One datagram from the client: s -> d (ports set), udp[0..udp_len) the UDP
 * header and payload, already validated (lengths, checksum). Borrowed for
 * the call. */
static void udp_in(const struct tp_endpoint *s, const struct tp_endpoint *d, const uint8_t *udp,
                   size_t udp_len)
{
	struct tp_stack_stats *st = tp__stats();
	struct tp_udp_flow *f;
	size_t len = udp_len - 8;
	uint32_t h;

	if (!s->port || !d->port) {
		st->drops[TP_DROP_BAD_ADDR]++;
		return;
	}
	if (is_multicast_or_broadcast(d)) {
		st->drops[TP_DROP_UNSUPPORTED]++; /* mDNS, SSDP...: not a flow to relay */
		return;
	}
	h = tuple_hash(s, d);
	for (f = U.buckets[h & (U.nbuckets - 1)]; f; f = f->hnext)
		if (f->hash == h && ep_eq(&f->src, s) && ep_eq(&f->dst, d))
			break;
	if (!f) {
		if (tp__dst_forbidden(d)) {
			struct tp_udp_flow tmp = {.src = *s, .dst = *d};
			make_quote(&tmp, udp, udp_len);
			st->udp_flows_refused++;
			send_unreachable(&tmp, -EACCES);
			return;
		}
		f = flow_new(s, d, h, udp, udp_len);
		if (!f)
			return;
	} else {
		touch(f);
	}
	st->udp_dgrams_in++;
	st->udp_bytes_in += len;
	if (f->ev && f->ev->datagram)
		f->ev->datagram(f, f->ud, udp + 8, len); /* may close f */
}

/* The fast path for a whole datagram (stack.c, after tp_pkt_parse): no
 * copy, no lwIP. */
void tp__udp_input(const struct tp_pkt *pk, const uint8_t *buf)
{
	struct tp_endpoint s = {.family = pk->family, .port = pk->sport};
	struct tp_endpoint d = {.family = pk->family, .port = pk->dport};
	size_t alen = pk->family == AF_INET ? 4 : 16;

	memcpy(s.addr, pk->src, alen);
	memcpy(d.addr, pk->dst, alen);
	udp_in(&s, &d, buf + pk->l4_off, pk->l4_len);
}

/* Patch 0004's hook: datagrams lwIP reassembled from fragments (whole ones
 * take tp__udp_input). p->payload is the UDP header; ip_current_*_addr()
 * are valid. Always takes ownership of p (returns 1). */
int tp_lwip_udp_input(struct pbuf *p, struct netif *inp)
{
	struct tp_stack_stats *st = tp__stats();
	struct tp_endpoint s, d;
	const uint8_t *udp;
	uint8_t hdr[8];
	uint16_t ulen;

	(void)inp;
	if (tp__udp_from_frag)
		st->udp_reassembled++;
	pbuf_copy_partial(p, hdr, 8, 0);
	ulen = (uint16_t)(hdr[4] << 8 | hdr[5]);
	if (ulen != p->tot_len) {
		st->drops[TP_DROP_L4_TRUNCATED]++;
		goto out;
	}
	if (ip_current_is_v6() && !hdr[6] && !hdr[7]) {
		st->drops[TP_DROP_L4_CSUM]++;
		goto out;
	}
	if ((hdr[6] || hdr[7]) &&
	    ip_chksum_pseudo(p, IP_PROTO_UDP, p->tot_len, ip_current_src_addr(),
	                     ip_current_dest_addr()) != 0) {
		st->drops[TP_DROP_L4_CSUM]++;
		goto out;
	}
	ep_from_ip(&s, ip_current_src_addr(), (uint16_t)(hdr[0] << 8 | hdr[1]));
	ep_from_ip(&d, ip_current_dest_addr(), (uint16_t)(hdr[2] << 8 | hdr[3]));
	if (p->len >= p->tot_len) {
		udp = p->payload;
	} else {
		pbuf_copy_partial(p, U.buf, p->tot_len, 0);
		udp = U.buf;
	}
	udp_in(&s, &d, udp, p->tot_len);
out:
	pbuf_free(p);
	return 1;
}

/* ---- timers ---- */
static uint32_t lru_expire(struct lru *l, uint32_t now)
{
	while (l->head && now - l->head->last_ms >= l->idle_ms)
		flow_finish(l->head, -ETIMEDOUT);
	if (!l->head)
		return UINT32_MAX;
	return l->idle_ms - (now - l->head->last_ms);
}

uint32_t tp__udp_poll(void)
{
	uint32_t now = tp__now(), a, b;
	if (!U.buckets)
		return UINT32_MAX;
	a = lru_expire(&U.dns, now);
	b = lru_expire(&U.other, now);
	return a < b ? a : b;
}

/* ---- lifecycle ---- */
int tp__udp_init(void)
{
	const struct tp_stack_cfg *cfg = tp__cfg();

	memset(&U, 0, sizeof(U));
	U.max = cfg->max_udp_flows ? cfg->max_udp_flows : UDP_DEFAULT_MAX;
	U.dns.idle_ms = cfg->udp_dns_idle_ms ? cfg->udp_dns_idle_ms : UDP_DEFAULT_DNS_IDLE_MS;
	U.other.idle_ms = cfg->udp_idle_ms ? cfg->udp_idle_ms : UDP_DEFAULT_IDLE_MS;
	U.nbuckets = 64;
	while (U.nbuckets < U.max && U.nbuckets < (1u << 20))
		U.nbuckets <<= 1;
	U.buckets = calloc(U.nbuckets, sizeof(struct tp_udp_flow *));
	if (!U.buckets)
		return -ENOMEM;
	U.seed = (uint32_t)random();
	U.tokens = ICMP_BURST;
	U.tok_ms = tp__now();
	U.pcb = udp_new_ip_type(IPADDR_TYPE_ANY);
	if (!U.pcb) {
		free(U.buckets);
		U.buckets = NULL;
		return -ENOMEM;
	}
	U.pcb->ttl = 64;
	return 0;
}

void tp__udp_shutdown(void)
{
	if (!U.buckets)
		return;
	while (U.dns.head)
		flow_finish(U.dns.head, -ECONNABORTED);
	while (U.other.head)
		flow_finish(U.other.head, -ECONNABORTED);
	free(U.buckets);
	U.buckets = NULL;
	if (U.pcb) {
		udp_remove(U.pcb);
		U.pcb = NULL;
	}
}

/* ---- flow API ---- */
const struct tp_endpoint *tp_udp_flow_src(const struct tp_udp_flow *f)
{
	return &f->src;
}

const struct tp_endpoint *tp_udp_flow_dst(const struct tp_udp_flow *f)
{
	return &f->dst;
}

/* ev is borrowed for the flow's lifetime; ud is the owner's. */
void tp_udp_flow_set_events(struct tp_udp_flow *f, const struct tp_udp_events *ev, void *ud)
{
	f->ev = ev;
	f->ud = ud;
}

/* The header checksum of the 20-byte IPv4 header at b (field zeroed),
 * written into it: 32-bit words summed in host order, folded, stored in
 * host order (RFC 1071's byte-order independence); no call for 20 bytes. */
static void ip4_hdr_csum(uint8_t *b)
{
	uint64_t a = 0;
	uint16_t c;

	for (int i = 0; i < 20; i += 4) {
		uint32_t v;

		memcpy(&v, b + i, 4);
		a += v;
	}
	a = (a & 0xffffffffu) + (a >> 32);
	a = (a & 0xffffu) + (a >> 16);
	a = (a & 0xffffu) + (a >> 16);
	a = (a & 0xffffu) + (a >> 16);
	c = (uint16_t)~a;
	memcpy(b + 10, &c, 2);
}

/* A reply that fits the MTU, built here: IPv4 (no options, DF clear, TTL
 * 64, its own ID sequence) or IPv6 (hop limit 64) and UDP with its full
 * checksum, the same packet lwIP's udp_sendto_if_src builds, without the
 * pbuf, the routing and the per-field byte swaps (half the gateway's own
 * instructions of a 1-byte request/response went there). Larger replies
 * go through lwIP, which fragments them. Returns 0 (handed to the output
 * callback; its failure is counted as lwIP's would be) or -EMSGSIZE when
 * it does not fit. */
static int send_fast(const struct tp_endpoint *from, const struct tp_endpoint *to, const void *buf,
                     size_t len)
{
	struct netif *nif = tp__netif();
	uint8_t *b = U.obuf;
	size_t iphl = from->family == AF_INET ? 20 : 40;
	size_t ulen = 8 + len, tot = iphl + ulen;
	unsigned mtu = from->family == AF_INET ? nif->mtu : nif->mtu6;
	uint8_t *u = b + iphl;
	uint32_t sum;
	uint16_t c;

	if (tot > mtu || tot > sizeof(U.obuf))
		return -EMSGSIZE;
	if (from->family == AF_INET) {
		b[0] = 0x45;
		b[1] = 0;
		wr16(b + 2, (uint16_t)tot);
		wr16(b + 4, U.ip_id++);
		wr16(b + 6, 0);
		b[8] = 64;
		b[9] = IPPROTO_UDP;
		wr16(b + 10, 0);
		memcpy(b + 12, from->addr, 4);
		memcpy(b + 16, to->addr, 4);
		ip4_hdr_csum(b);
	} else {
		b[0] = 0x60;
		b[1] = b[2] = b[3] = 0;
		wr16(b + 4, (uint16_t)ulen);
		b[6] = IPPROTO_UDP;
		b[7] = 64;
		memcpy(b + 8, from->addr, 16);
		memcpy(b + 24, to->addr, 16);
	}
	wr16(u, from->port);
	wr16(u + 2, to->port);
	wr16(u + 4, (uint16_t)ulen);
	wr16(u + 6, 0);
	memcpy(u + 8, buf, len);
	/* the addresses sit right before the UDP header (IPv4 12..19, IPv6
	 * 8..39): one sum over them, the header and the payload, plus the
	 * pseudo-header's protocol and length (ulen < 65536, so IPv6's 32-bit
	 * length has a zero upper half) */
	sum = IPPROTO_UDP + (uint32_t)ulen;
	c = tp_csum_finish(from->family == AF_INET ? tp_csum_add(sum, b + 12, 8 + ulen)
	                                           : tp_csum_add(sum, b + 8, 32 + ulen));
	wr16(u + 6, c ? c : 0xffff); /* RFC 768: 0 means "no checksum" */
	tp__emit_raw(b, tot);
	return 0;
}

/* buf is borrowed for the call. */
int tp_udp_flow_send_from(struct tp_udp_flow *f, const struct tp_endpoint *from, const void *buf,
                          size_t len)
{
	struct tp_stack_stats *st = tp__stats();
	ip_addr_t src, dst;
	struct pbuf *p;
	err_t e;

	if (from->family != f->src.family || !from->port)
		return -EINVAL;
	/* IPv6: 65535 - 40 - 8, as lwIP's pbuf tot_len (u16) includes the
	 * IPv6 header; beyond it ip6_output failed with ERR_BUF (-EIO) */
	if (len > (from->family == AF_INET ? 65507u : 65487u))
		return -EMSGSIZE;
	if (send_fast(from, &f->src, buf, len) == 0)
		goto sent;
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	if (!p) {
		st->udp_send_errors++;
		return -ENOMEM;
	}
	memcpy(p->payload, buf, len);
	tp__ep_to_ip(from, &src);
	tp__ep_to_ip(&f->src, &dst);
	U.pcb->local_port = from->port;
	e = udp_sendto_if_src(U.pcb, p, &dst, f->src.port, tp__netif(), &src);
	U.pcb->local_port = 0;
	pbuf_free(p);
	if (e != ERR_OK) {
		st->udp_send_errors++;
		return e == ERR_MEM ? -ENOMEM : -EIO;
	}
sent:
	st->udp_dgrams_out++;
	st->udp_bytes_out += len;
	touch(f);
	return 0;
}

int tp_udp_flow_send(struct tp_udp_flow *f, const void *buf, size_t len)
{
	return tp_udp_flow_send_from(f, &f->dst, buf, len);
}

void tp_udp_flow_unreachable(struct tp_udp_flow *f, int err)
{
	send_unreachable(f, err);
}

void tp_udp_flow_close(struct tp_udp_flow *f)
{
	flow_finish(f, 0);
}
