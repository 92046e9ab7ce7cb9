/* SPDX-License-Identifier: MIT */
/* tunplug — the stack: lwIP behind the tun, TCP flows with held SYNs.
 *
 * Input: every packet is validated by tp_pkt_parse (lengths, IP options,
 * the TCP option layout, fragments, checksums) and counted/dropped there, so lwIP only ever sees
 * well-formed packets. A new client SYN does not reach lwIP at first: it
 * becomes a PENDING flow (a copy of the SYN is kept, retransmissions are
 * absorbed) until the owner decides. Accept re-injects the SYN into lwIP,
 * whose catch-all listener (patches 0001/0002) answers SYN-ACK; reject
 * answers as the reason says (refuse_syn: RST, ICMP unreachable quoting the
 * held SYN, or silence). The flow table is hashed on the 4-tuple.
 *
 * Client data stays in the pbufs lwIP delivered (no copy) until the owner
 * consumes it; only then does the client's window reopen (tcp_recved).
 *
 * Half-open flows (SYN held, or SYN-ACK not yet answered) are counted per
 * client source (/32, IPv6 /64) in a hash of their own, so each SYN is
 * admitted or dropped in O(1): see syn_admit(). Out-of-order data is
 * bounded per flow and for the gateway through lwIP's limit macros: see
 * tp_lwip_ooseq_pbufs_limit(). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lwip/init.h"
#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/ip.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include "stack_priv.h"
#include "tunplug/stack.h"

#if defined(__SANITIZE_ADDRESS__)
#define TP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TP_ASAN 1
#endif
#endif
#ifdef TP_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define TCP_F_FIN 0x01
#define TCP_F_SYN 0x02
#define TCP_F_RST 0x04
#define TCP_F_ACK 0x10

/* Defaults of the half-open bounds and of the gateway's out-of-order bound. */
#define PENDING_PER_SOURCE_DEFAULT 256
#define OOSEQ_PBUFS_DEFAULT 32768
#define OOSEQ_BYTES_DEFAULT (32u * 1024 * 1024)
/* Out-of-order data a flow may always keep, whatever the others hold. */
#define OOSEQ_FLOOR_PBUFS 8
#define OOSEQ_FLOOR_BYTES (16u * 1024)

struct tp_tcp_flow;

/* A large input segment's pbuf (see lwip_input): a custom pbuf over a
 * buffer that is kept for the next one when freed. */
#define BIGBUF_MIN 8192 /* shorter segments: an ordinary PBUF_RAM pbuf */
#define BIGBUF_DATA TP_STACK_RXBUF_LEN
#define BIGBUF_KEEP 16 /* buffers kept while unused: 1 MiB */
struct bigbuf {
	struct pbuf_custom pc; /* first: lwIP frees &pc.pbuf */
	struct bigbuf *next;   /* while kept */
	uint8_t data[BIGBUF_DATA];
};

/* A client source (/32, or the /64 of an IPv6 address) that has half-open
 * flows; freed when it has none. */
struct tp_src {
	struct tp_src *hnext;                /* S.src_buckets chain */
	struct tp_src *lprev, *lnext;        /* S.level[count] list */
	struct tp_tcp_flow *oldest, *newest; /* its half-open flows, in SYN order */
	uint32_t hash;
	unsigned count;
	int family;
	uint8_t key[8];
};

struct tp_tcp_flow {
	struct tp_tcp_flow *hnext;         /* hash chain */
	struct tp_tcp_flow *dnext;         /* deferred-accept list */
	struct tp_src *src_ent;            /* while half-open: its source */
	struct tp_tcp_flow *sprev, *snext; /* ... and its place in the source's list */
	uint32_t hash;
	enum tp_tcp_state state;
	struct tp_endpoint src, dst;
	struct tcp_pcb *pcb; /* NULL while PENDING and once lwIP dropped it */
	uint8_t *syn;        /* held SYN (PENDING/ACCEPTING before injection) */
	uint16_t syn_len;
	uint32_t syn_seq;
	const struct tp_tcp_events *ev;
	void *ud;
	struct pbuf *rx_head, *rx_tail; /* single (unchained) pbufs, in order */
	size_t rx_bytes;
	bool eof;     /* client FIN seen */
	bool shut_wr; /* our FIN requested */
};

static struct {
	bool lwip_ready;
	bool up;
	struct tp_stack_cfg cfg;
	struct tp_cidr *own;
	struct tp_stack_stats st;
	struct netif netif;
	struct tcp_pcb *listener;
	struct tp_tcp_flow **buckets;
	uint32_t nbuckets; /* power of two */
	uint32_t seed;
	uint64_t isn_key[2]; /* tp_lwip_tcp_isn's secret, drawn at init */
	size_t nflows;
	int in_lwip;                  /* depth of calls into lwIP input/timers */
	struct tp_tcp_flow *deferred; /* accepted while inside lwIP */
	struct tcp_pcb *cb_pcb;       /* pcb whose callback is running */
	bool cb_aborted;              /* ... and that pcb was aborted by the owner */
	bool muted;                   /* shutting down: lwIP's output is discarded */
	uint32_t frag_drop_base;      /* lwIP's reassembly drop counters at init */
	/* half-open flows: sources hashed on their prefix; level[n] lists the
	 * sources with n half-open flows, max_level the highest non-empty */
	struct tp_src **src_buckets;
	uint32_t src_nbuckets; /* power of two */
	struct tp_src **level;
	unsigned max_level;
	unsigned max_pending, per_source;
	size_t npending, nsources;
	uint32_t ooseq_max_pbufs, ooseq_max_bytes;
	struct bigbuf *bigbuf_free; /* large input buffers kept for reuse */
	struct bigbuf *lent;        /* the reader's buffer (tp_stack_rxbuf) */
	unsigned bigbuf_kept, bigbuf_used;
	uint8_t outbuf[65536 + 64];
	bool tcp_gso;      /* new flows build super-segments (cfg.output_gso set) */
	uint16_t gso_size; /* lwIP patch 0012's hook: wire payload of the segment leaving */
} S;

/* ---- consistency (test builds) ---- */
#ifdef TP_STACK_CHECK
/* Built with TP_STACK_CHECK (the stack tests): whenever a call leaves lwIP,
 * its PCB lists, hash table and timer lists must agree (lwIP's
 * tcp_tunplug_check walks them all); a disagreement aborts. */
static void lwip_check(const char *where)
{
	const char *e;

	if (S.in_lwip)
		return; /* inside lwIP (an owner callback): checked on the way out */
	e = tcp_tunplug_check();
	for (struct tcp_pcb *pcb = tcp_active_pcbs; !e && pcb; pcb = pcb->next)
		e = tcp_tunplug_check_sendq(pcb); /* patch 0012 */
	if (e) {
		fprintf(stderr, "tunplug: lwIP inconsistent after %s: %s\n", where, e);
		abort();
	}
}
#define LWIP_CHECK(where) lwip_check(where)
#else
#define LWIP_CHECK(where) ((void)0)
#endif

/* ---- clock (read by sys_now() in stack/port/sys_arch.c) ---- */
extern uint32_t tp_lwip_now_ms;

void tp_stack_set_now(uint32_t now_ms)
{
	tp_lwip_now_ms = now_ms;
}

const struct tp_stack_stats *tp_stack_stats(void)
{
	S.st.tcp_flows_now = S.nflows;
	S.st.tcp_pending_now = S.npending;
	S.st.tcp_pending_sources_now = S.nsources;
	S.st.ooseq_pbufs_now = tcp_ooseq_pbufs_total;
	S.st.ooseq_bytes_now = tcp_ooseq_bytes_total;
	S.st.udp_frag_dropped =
	        (uint32_t)(lwip_stats.ip_frag.drop + lwip_stats.ip6_frag.drop - S.frag_drop_base);
	return &S.st;
}

size_t tp_stack_mem_in_use(void)
{
	/* With MEMP_MEM_MALLOC pool elements come from the heap too, so heap
	 * bytes = pbufs etc. + pool elements; count pool elements once. */
	size_t n = S.nflows, pool_bytes = 0;
	for (int i = 0; i < MEMP_MAX; i++) {
		size_t used = memp_pools[i]->stats->used;
		pool_bytes += used * LWIP_MEM_ALIGN_SIZE(memp_pools[i]->size);
		if (i != MEMP_SYS_TIMEOUT) /* lwIP's own cyclic timers live forever */
			n += used;
	}
	size_t heap = lwip_stats.mem.used + (size_t)S.bigbuf_used * sizeof(struct bigbuf);
	return n + (heap > pool_bytes ? heap - pool_bytes : 0);
}

/* ---- endpoints and the flow table ---- */
void tp__ep_to_ip(const struct tp_endpoint *e, ip_addr_t *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (e->family == AF_INET) {
		IP_SET_TYPE_VAL(*ip, IPADDR_TYPE_V4);
		memcpy(&ip_2_ip4(ip)->addr, e->addr, 4);
	} else {
		IP_SET_TYPE_VAL(*ip, IPADDR_TYPE_V6);
		memcpy(ip_2_ip6(ip)->addr, e->addr, 16);
	}
}

static uint32_t tuple_hash(const struct tp_endpoint *s, const struct tp_endpoint *d)
{
	/* FNV-1a over the tuple, seeded per run so clients cannot aim at a bucket. */
	uint32_t h = 2166136261u ^ S.seed;
	size_t alen = s->family == AF_INET ? 4 : 16;
	const uint8_t *parts[2] = {s->addr, d->addr};
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < alen; i++)
			h = (h ^ parts[k][i]) * 16777619u;
	uint32_t ports = ((uint32_t)s->port << 16) | d->port;
	for (int i = 0; i < 4; i++)
		h = (h ^ ((ports >> (8 * i)) & 0xff)) * 16777619u;
	return h ^ (h >> 15);
}

static bool ep_eq(const struct tp_endpoint *a, const struct tp_endpoint *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

static struct tp_tcp_flow *flow_find(const struct tp_endpoint *s, const struct tp_endpoint *d,
                                     uint32_t h)
{
	for (struct tp_tcp_flow *f = S.buckets[h & (S.nbuckets - 1)]; f; f = f->hnext)
		if (f->hash == h && ep_eq(&f->src, s) && ep_eq(&f->dst, d))
			return f;
	return NULL;
}

/* ---- half-open flows per source ---- */
static size_t src_keylen(int family)
{
	return family == AF_INET ? 4 : 8; /* a /32, or an IPv6 /64 */
}

static uint32_t src_hash(const struct tp_endpoint *e)
{
	uint32_t h = (2166136261u ^ S.seed ^ (uint32_t)e->family) * 16777619u;
	for (size_t i = 0; i < src_keylen(e->family); i++)
		h = (h ^ e->addr[i]) * 16777619u;
	return h ^ (h >> 15);
}

static struct tp_src *src_find(const struct tp_endpoint *e, uint32_t h)
{
	for (struct tp_src *x = S.src_buckets[h & (S.src_nbuckets - 1)]; x; x = x->hnext)
		if (x->hash == h && x->family == e->family &&
		    !memcmp(x->key, e->addr, src_keylen(e->family)))
			return x;
	return NULL;
}

/* Forget source x once it has no half-open flow. */
static void src_free_if_empty(struct tp_src *x)
{
	if (x->count)
		return;
	struct tp_src **pp = &S.src_buckets[x->hash & (S.src_nbuckets - 1)];
	while (*pp != x)
		pp = &(*pp)->hnext;
	*pp = x->hnext;
	free(x);
	S.nsources--;
}

static void level_unlink(struct tp_src *x)
{
	if (x->lprev)
		x->lprev->lnext = x->lnext;
	else
		S.level[x->count] = x->lnext;
	if (x->lnext)
		x->lnext->lprev = x->lprev;
	x->lprev = x->lnext = NULL;
}

static void level_push(struct tp_src *x)
{
	x->lprev = NULL;
	x->lnext = S.level[x->count];
	if (x->lnext)
		x->lnext->lprev = x;
	S.level[x->count] = x;
	if (x->count > S.max_level)
		S.max_level = x->count;
}

/* f becomes half-open, the newest of source x (x->count < S.per_source). */
static void halfopen_add(struct tp_tcp_flow *f, struct tp_src *x)
{
	f->src_ent = x;
	f->snext = NULL;
	f->sprev = x->newest;
	if (x->newest)
		x->newest->snext = f;
	else
		x->oldest = f;
	x->newest = f;
	if (x->count)
		level_unlink(x);
	x->count++;
	level_push(x);
	S.npending++;
}

/* f is no longer half-open (established, or gone); O(1) but for the
 * source's hash chain when its last half-open flow goes. */
static void halfopen_del(struct tp_tcp_flow *f)
{
	struct tp_src *x = f->src_ent;

	if (!x)
		return;
	f->src_ent = NULL;
	if (f->sprev)
		f->sprev->snext = f->snext;
	else
		x->oldest = f->snext;
	if (f->snext)
		f->snext->sprev = f->sprev;
	else
		x->newest = f->sprev;
	f->sprev = f->snext = NULL;
	level_unlink(x);
	x->count--;
	if (x->count)
		level_push(x);
	else
		src_free_if_empty(x);
	while (S.max_level && !S.level[S.max_level])
		S.max_level--;
	S.npending--;
}

static void flow_unlink(struct tp_tcp_flow *f)
{
	struct tp_tcp_flow **pp = &S.buckets[f->hash & (S.nbuckets - 1)];
	halfopen_del(f);
	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	for (pp = &S.deferred; *pp; pp = &(*pp)->dnext) {
		if (*pp == f) {
			*pp = f->dnext;
			break;
		}
	}
}

static void rx_free(struct tp_tcp_flow *f)
{
	struct pbuf *p = f->rx_head;
	while (p) {
		struct pbuf *n = p->next;
		p->next = NULL;
		pbuf_free(p);
		p = n;
	}
	f->rx_head = f->rx_tail = NULL;
	f->rx_bytes = 0;
}

/* Forget a flow entirely (pcb already detached or gone). */
static void flow_free(struct tp_tcp_flow *f)
{
	flow_unlink(f);
	rx_free(f);
	free(f->syn);
	free(f);
	S.nflows--;
	S.st.tcp_flows_closed++;
}

static void pcb_detach(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
}

/* Deliver `closed` and free. */
static void flow_finish(struct tp_tcp_flow *f, int err)
{
	const struct tp_tcp_events *ev = f->ev;
	void *ud = f->ud;

	/* unlinked first, so the owner cannot reach it; freed after the call,
	 * so the pointer it gets is still a valid one */
	flow_unlink(f);
	if (ev && ev->closed)
		ev->closed(f, ud, err);
	rx_free(f);
	free(f->syn);
	free(f);
	S.nflows--;
	S.st.tcp_flows_closed++;
}

/* ---- shared with udp.c ---- */
struct tp_stack_stats *tp__stats(void)
{
	return &S.st;
}

const struct tp_stack_cfg *tp__cfg(void)
{
	return &S.cfg;
}

struct netif *tp__netif(void)
{
	return &S.netif;
}

uint32_t tp__now(void)
{
	return tp_lwip_now_ms;
}

void tp_stack_set_tcp_gso(bool on)
{
	S.tcp_gso = on && S.cfg.output_gso && S.cfg.tcp_csum_partial;
}

void tp__emit_raw(const void *buf, size_t len)
{
	S.st.pkts_out++;
	S.st.bytes_out += len;
	if (S.cfg.output(S.cfg.ctx, buf, len) < 0)
		S.st.output_errors++;
}

/* ---- output ---- */
/* lwIP leaves TCP checksums to us (CHECKSUM_GEN_TCP 0): fill the field of
 * the TCP packet at buf, either with the pseudo-header sum only (the tun's
 * vnet header then says NEEDS_CSUM and the kernel never computes it for
 * local delivery) or with the complete checksum (tp_csum_add: 64-bit words,
 * several times faster than lwIP's generic sum it replaces). */
static void tcp_csum(uint8_t *b, size_t len)
{
	size_t iphl;
	int family;
	uint32_t sum;
	uint8_t *field;

	if (len >= 40 && (b[0] >> 4) == 4 && b[9] == IPPROTO_TCP &&
	    !(((b[6] << 8) | b[7]) & 0x3fff)) {
		family = AF_INET;
		iphl = (size_t)(b[0] & 0x0f) * 4;
	} else if (len >= 60 && (b[0] >> 4) == 6 && b[6] == IPPROTO_TCP) {
		family = AF_INET6;
		iphl = 40;
	} else {
		return;
	}
	if (iphl + 20 > len)
		return;
	field = b + iphl + 16;
	field[0] = field[1] = 0;
	sum = tp_csum_pseudo(family, family == AF_INET ? b + 12 : b + 8,
	                     family == AF_INET ? b + 16 : b + 24, IPPROTO_TCP,
	                     (uint32_t)(len - iphl));
	if (S.cfg.tcp_csum_partial) {
		uint16_t folded = (uint16_t)~tp_csum_finish(sum);
		field[0] = (uint8_t)(folded >> 8);
		field[1] = (uint8_t)folded;
	} else {
		uint16_t c = tp_csum_finish(tp_csum_add(sum, b + iphl, len - iphl));
		field[0] = (uint8_t)(c >> 8);
		field[1] = (uint8_t)c;
	}
}

/* lwIP patch 0012's hook (lwipopts.h): the segment about to leave is a
 * super-segment of gso_size bytes of data per wire segment. */
void tp_lwip_tcp_gso(struct pbuf *p, uint16_t gso_size)
{
	(void)p;
	S.gso_size = gso_size;
}

static err_t emit(struct pbuf *p)
{
	uint8_t *buf = p->payload;
	size_t len = p->tot_len;
	unsigned gso = 0;
	int r;

	if (S.muted)
		return ERR_OK;
	if (p->next) {
		if (len > sizeof(S.outbuf)) {
			S.st.output_errors++;
			return ERR_OK;
		}
		pbuf_copy_partial(p, S.outbuf, (u16_t)len, 0);
		buf = S.outbuf;
	}
	/* the field is rewritten (zeroed by lwIP) on every (re)transmission */
	tcp_csum(buf, len);
	if ((p->flags & PBUF_FLAG_TCP_GSO) && S.gso_size) {
		gso = S.gso_size;
		S.gso_size = 0;
	}
	S.st.pkts_out++;
	S.st.bytes_out += len;
	if (gso && S.cfg.output_gso) {
		S.st.tcp_gso_out++;
		S.st.tcp_gso_out_bytes += len;
		r = S.cfg.output_gso(S.cfg.ctx, buf, len, gso);
	} else {
		r = S.cfg.output(S.cfg.ctx, buf, len);
	}
	if (r < 0)
		S.st.output_errors++;
	/* A lost packet is retransmitted by lwIP; never report an error up. */
	return ERR_OK;
}

static err_t netif_out4(struct netif *n, struct pbuf *p, const ip4_addr_t *dst)
{
	(void)n;
	(void)dst;
	return emit(p);
}

static err_t netif_out6(struct netif *n, struct pbuf *p, const ip6_addr_t *dst)
{
	(void)n;
	(void)dst;
	return emit(p);
}

static err_t netif_init_cb(struct netif *n)
{
	n->name[0] = 't';
	n->name[1] = 'p';
	n->mtu = (u16_t)S.cfg.mtu;
	n->mtu6 = (u16_t)S.cfg.mtu;
	n->output = netif_out4;
	n->output_ip6 = netif_out6;
	n->flags = 0;
	return ERR_OK;
}

/* ---- lwIP callbacks ---- */
static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err);
static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len);
static void on_err(void *arg, err_t err);

static void pcb_attach(struct tp_tcp_flow *f, struct tcp_pcb *pcb)
{
	f->pcb = pcb;
	tcp_arg(pcb, f);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_nagle_disable(pcb); /* the relay writes whole reads; PSH/MORE decide */
	/* lwIP patch 0012: segments of up to 64 KiB that the tun segments
	 * (TSO); the cap leaves room for headers in a u16 IP length */
	pcb->gso_max = S.tcp_gso ? 65535 - 40 - 60 : 0;
}

static int lwip_err_to_errno(err_t err)
{
	switch (err) {
	case ERR_RST:
		return -ECONNRESET;
	case ERR_ABRT:
		return -ECONNABORTED;
	case ERR_CLSD:
		return 0;
	case ERR_TIMEOUT:
		return -ETIMEDOUT;
	case ERR_MEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static void on_err(void *arg, err_t err)
{
	struct tp_tcp_flow *f = arg;
	if (!f)
		return;
	f->pcb = NULL; /* lwIP already freed it */
	flow_finish(f, lwip_err_to_errno(err));
}

/* Run an owner callback for pcb; returns ERR_ABRT if the owner aborted it. */
#define RUN_CB(pcb_, call)                             \
	do {                                           \
		struct tcp_pcb *saved_pcb_ = S.cb_pcb; \
		bool saved_ab_ = S.cb_aborted;         \
		S.cb_pcb = (pcb_);                     \
		S.cb_aborted = false;                  \
		call;                                  \
		bool ab_ = S.cb_aborted;               \
		S.cb_pcb = saved_pcb_;                 \
		S.cb_aborted = saved_ab_;              \
		if (ab_)                               \
			return ERR_ABRT;               \
	} while (0)

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct tp_tcp_flow *f = arg;
	if (err != ERR_OK || pcb == NULL) {
		S.st.lwip_mem_err++;
		return ERR_VAL;
	}
	if (!f) { /* not one of ours (cannot happen: SYNs are held) */
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	f->state = TP_TCP_OPEN;
	halfopen_del(f); /* the handshake is complete */
	if (f->ev && f->ev->established)
		RUN_CB(pcb, f->ev->established(f, f->ud));
	return ERR_OK;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct tp_tcp_flow *f = arg;
	(void)err;
	if (!f) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	if (!p) {
		f->eof = true;
		if (pcb->state == TIME_WAIT || pcb->state == CLOSING) {
			/* Our FIN went first, and this is the client's: both
			 * directions are done. lwIP finishes the connection on
			 * its own and frees the pcb after TIME-WAIT without any
			 * callback, so the flow lets go of it now (its queued
			 * bytes stay readable; closed(0) comes with the owner's
			 * close). Kept, the pointer would dangle once the owner
			 * took longer than TIME-WAIT to consume and close. */
			pcb_detach(pcb);
			f->pcb = NULL;
		}
		if (f->ev && f->ev->eof)
			RUN_CB(pcb, f->ev->eof(f, f->ud));
		return ERR_OK;
	}
	/* Unchain: each pbuf becomes its own queue entry, so the queue may
	 * exceed the 16-bit tot_len of one chain. */
	while (p) {
		struct pbuf *n = p->next;
		p->next = NULL;
		p->tot_len = p->len;
		if (p->len == 0) {
			pbuf_free(p);
		} else {
			if (f->rx_tail)
				f->rx_tail->next = p;
			else
				f->rx_head = p;
			f->rx_tail = p;
			f->rx_bytes += p->len;
		}
		p = n;
	}
	if (f->ev && f->ev->readable)
		RUN_CB(pcb, f->ev->readable(f, f->ud));
	return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct tp_tcp_flow *f = arg;
	(void)len;
	if (f && f->ev && f->ev->writable && tp_tcp_flow_send_space(f) > 0)
		RUN_CB(pcb, f->ev->writable(f, f->ud));
	return ERR_OK;
}

/* ---- out-of-order data (lwIP's limit macros and drop hook: lwipopts.h) ----
 * What one flow may hold on its out-of-order queue, decided when a segment
 * arrives out of order (lwIP then frees what is past it, highest sequence
 * numbers first). Its own bound (TCP_OOSEQ_MAX_*), unless the queues of all
 * flows together reach the gateway's: then what the others leave, but at
 * least its fair share of the gateway's bound (gw_max / queues) and never
 * less than a small floor. So a flow that floods the gateway's budget is cut
 * back at its next segment once others need room, and a newcomer is never
 * starved; the total can pass the bound only by what flows below their fair
 * share hold. Every count is kept by lwIP (patch 0010): O(1) here. */
static uint32_t ooseq_limit(uint32_t own_max, uint32_t gw_max, uint32_t total, uint32_t mine,
                            uint32_t floor)
{
	uint32_t others = total - mine;
	uint32_t room = gw_max > others ? gw_max - others : 0;
	uint32_t queues = tcp_ooseq_pcbs + (mine ? 0 : 1);
	uint32_t share = gw_max / queues;
	uint32_t lim = room > share ? room : share;

	if (lim < floor)
		lim = floor;
	return lim < own_max ? lim : own_max;
}

unsigned tp_lwip_ooseq_pbufs_limit(const struct tcp_pcb *pcb)
{
	return ooseq_limit(TCP_OOSEQ_MAX_PBUFS, S.ooseq_max_pbufs, tcp_ooseq_pbufs_total,
	                   pcb->ooseq_pbufs, OOSEQ_FLOOR_PBUFS);
}

unsigned long tp_lwip_ooseq_bytes_limit(const struct tcp_pcb *pcb)
{
	return ooseq_limit(TCP_OOSEQ_MAX_BYTES, S.ooseq_max_bytes, tcp_ooseq_bytes_total,
	                   pcb->ooseq_bytes, OOSEQ_FLOOR_BYTES);
}

void tp_lwip_ooseq_drop(const struct tcp_pcb *pcb, unsigned long segs, unsigned long bytes)
{
	(void)pcb;
	S.st.ooseq_drop_segs += segs;
	S.st.ooseq_drop_bytes += bytes;
}

/* 64-bit finaliser (a bijection that spreads every input bit). */
static uint64_t isn_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint64_t isn_addr(uint64_t h, const ip_addr_t *a)
{
	if (IP_IS_V6(a)) {
		for (int i = 0; i < 4; i++)
			h = isn_mix(h ^ ip_2_ip6(a)->addr[i]);
		return h;
	}
	return isn_mix(h ^ ip_2_ip4(a)->addr);
}

unsigned int tp_lwip_tcp_isn(const void *local_ip, unsigned short local_port, const void *remote_ip,
                             unsigned short remote_port)
{
	uint64_t h = S.isn_key[0];

	h = isn_addr(h, local_ip);
	h = isn_addr(h, remote_ip);
	h = isn_mix(h ^ ((uint64_t)local_port << 16 | remote_port) ^ S.isn_key[1]);
	/* plus a clock of 4 us per step, as RFC 6528's M */
	return (unsigned int)h + tp_lwip_now_ms * 250u;
}

/* ---- feeding lwIP ---- */
static void run_deferred(void);

/* Free a large input buffer (partly or wholly poisoned under ASan). */
static void bigbuf_free(struct bigbuf *b)
{
#ifdef TP_ASAN
	ASAN_UNPOISON_MEMORY_REGION(b->data, sizeof(b->data));
#endif
	free(b);
}

/* lwIP freed a large input segment's pbuf: keep its buffer for the next. */
static void bigbuf_release(struct pbuf *p)
{
	struct bigbuf *b = (struct bigbuf *)(void *)p;

	S.bigbuf_used--;
	if (!S.up || S.bigbuf_kept >= BIGBUF_KEEP) {
		bigbuf_free(b);
		return;
	}
#ifdef TP_ASAN
	/* a kept buffer is not in use: any access to it is a bug */
	ASAN_POISON_MEMORY_REGION(b->data, sizeof(b->data));
#endif
	b->next = S.bigbuf_free;
	S.bigbuf_free = b;
	S.bigbuf_kept++;
}

/* A kept large buffer, or a new one (NULL: out of memory). */
static struct bigbuf *bigbuf_take(void)
{
	struct bigbuf *b = S.bigbuf_free;

	if (b) {
		S.bigbuf_free = b->next;
		S.bigbuf_kept--;
		return b;
	}
	return malloc(sizeof(*b));
}

uint8_t *tp_stack_rxbuf(size_t *cap)
{
	if (!S.up)
		return NULL;
	if (!S.lent) {
		S.lent = bigbuf_take();
		if (!S.lent)
			return NULL;
#ifdef TP_ASAN
		/* the reader's: the kernel writes it, tun/ parses it */
		ASAN_UNPOISON_MEMORY_REGION(S.lent->data, sizeof(S.lent->data));
#endif
	}
	*cap = sizeof(S.lent->data);
	return S.lent->data;
}

/* A pbuf holding a copy of buf[0..len) (len <= 0xffff), or NULL. A large TCP
 * segment (a whole super-packet) gets a kept buffer: allocated and
 * freed for each super-packet, 64 KiB would grow and shrink the heap every
 * time (glibc trims a free top chunk over 128 KiB), and the page faults and
 * brk calls cost about a tenth of the gateway's CPU on an upload. */
static struct pbuf *input_pbuf(const void *buf, size_t len, bool tcp)
{
	struct bigbuf *b;
	struct pbuf *p;

	if (len < BIGBUF_MIN || !tcp) {
		p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
		if (!p)
			return NULL;
		memcpy(p->payload, buf, len);
#ifdef TP_ASAN
		/* pbuf_alloc rounds the payload up to MEM_ALIGNMENT (8): poison
		 * the round-up, so that lwIP reading past the end of a packet is
		 * reported whatever its length (a one-byte over-read of a 44-byte
		 * IPv4 SYN otherwise lands in the padding and goes unseen). */
		ASAN_POISON_MEMORY_REGION((uint8_t *)p->payload + len,
		                          LWIP_MEM_ALIGN_SIZE(len) - len);
#endif
		return p;
	}
	b = S.lent;
	if (b && (const uint8_t *)buf >= b->data &&
	    (const uint8_t *)buf + len <= b->data + sizeof(b->data)) {
		/* read into the lent buffer: lwIP takes it as it is, no copy;
		 * the next tp_stack_rxbuf lends another */
		size_t off = (size_t)((const uint8_t *)buf - b->data);
		size_t room = sizeof(b->data) - off;

		S.lent = NULL;
#ifdef TP_ASAN
		ASAN_POISON_MEMORY_REGION(b->data, off);
		ASAN_POISON_MEMORY_REGION(b->data + off + len, room - len);
#endif
		b->pc.custom_free_function = bigbuf_release;
		S.bigbuf_used++;
		S.st.rx_zero_copy++;
		return pbuf_alloced_custom(PBUF_RAW, (u16_t)len, PBUF_REF, &b->pc,
		                           (uint8_t *)b->data + off,
		                           (u16_t)(room > 0xffff ? 0xffff : room));
	}
	b = bigbuf_take();
	if (!b)
		return NULL;
#ifdef TP_ASAN
	/* in use: the packet's bytes; past them, as for pbuf_alloc's round-up */
	ASAN_UNPOISON_MEMORY_REGION(b->data, len);
	ASAN_POISON_MEMORY_REGION(b->data + len, sizeof(b->data) - len);
#endif
	memcpy(b->data, buf, len);
	b->pc.custom_free_function = bigbuf_release;
	S.bigbuf_used++;
	/* the buffer is larger than a pbuf can say (u16): 0xffff >= len */
	return pbuf_alloced_custom(PBUF_RAW, (u16_t)len, PBUF_REF, &b->pc, b->data, 0xffff);
}

/* One IP packet buf[0..len) into lwIP as one pbuf: a segment of any size a
 * pbuf holds (a whole TCP super-packet too; the receive window still bounds
 * what TCP takes of it); tcp: it is a TCP segment. Returns TP_DROP_NONE, or
 * the reason it could not go in (the caller counts it). */
static enum tp_drop lwip_input(const void *buf, size_t len, bool tcp)
{
	struct pbuf *p;

	if (len > 0xffff) /* pbuf lengths are 16 bits: never truncate */
		return TP_DROP_TOTAL_LEN;
	p = input_pbuf(buf, len, tcp);
	if (!p)
		return TP_DROP_NO_MEMORY;
	S.in_lwip++;
	if (S.netif.input(p, &S.netif) != ERR_OK)
		pbuf_free(p);
	S.in_lwip--;
	if (tcp_ooseq_pbufs_total > S.st.ooseq_pbufs_peak)
		S.st.ooseq_pbufs_peak = tcp_ooseq_pbufs_total;
	if (tcp_ooseq_bytes_total > S.st.ooseq_bytes_peak)
		S.st.ooseq_bytes_peak = tcp_ooseq_bytes_total;
	if (!S.in_lwip)
		run_deferred();
	LWIP_CHECK("input");
	return TP_DROP_NONE;
}

/* lwIP's connection (active, else TIME-WAIT) for the flow's tuple: one
 * hash lookup (lwIP patch 0008). */
static struct tcp_pcb *pcb_of(const struct tp_tcp_flow *f)
{
	ip_addr_t l, r;

	tp__ep_to_ip(&f->dst, &l);
	tp__ep_to_ip(&f->src, &r);
	return tcp_pcb_lookup(&l, f->dst.port, &r, f->src.port, NETIF_NO_INDEX);
}

/* Abort lwIP connections left over with this tuple (detached after an
 * earlier close, e.g. in TIME-WAIT) so the new SYN starts afresh. */
static void kill_stale(const struct tp_tcp_flow *f)
{
	struct tcp_pcb *pcb;

	while ((pcb = pcb_of(f)) != NULL && pcb->callback_arg == NULL)
		tcp_abort(pcb);
}

static void inject_syn(struct tp_tcp_flow *f)
{
	uint8_t *syn = f->syn;
	f->syn = NULL;
	kill_stale(f);
	enum tp_drop r = lwip_input(syn, f->syn_len, true);
	if (r != TP_DROP_NONE)
		S.st.drops[r]++;
	free(syn);
	/* The listener made a new pcb for the tuple (unless out of memory). */
	struct tcp_pcb *pcb = pcb_of(f);
	if (pcb && pcb->state == SYN_RCVD && pcb->callback_arg == NULL) {
		pcb_attach(f, pcb);
		LWIP_CHECK("SYN injection");
		return;
	}
	S.st.lwip_mem_err++;
	flow_finish(f, -ENOMEM);
	LWIP_CHECK("SYN injection");
}

static void run_deferred(void)
{
	while (S.deferred) {
		struct tp_tcp_flow *f = S.deferred;
		S.deferred = f->dnext;
		inject_syn(f);
	}
}

/* ---- SYN handling ---- */
static void send_rst_for(const struct tp_endpoint *src, const struct tp_endpoint *dst, uint32_t seq)
{
	ip_addr_t l, r;
	tp__ep_to_ip(dst, &l);
	tp__ep_to_ip(src, &r);
	S.in_lwip++;
	tcp_rst(NULL, 0, seq + 1, &l, &r, dst->port, src->port);
	S.in_lwip--;
}

enum tp_syn_answer tp_syn_answer_of(int err)
{
	switch (err) {
	case -ECONNREFUSED:
	case -ECONNRESET:
		return TP_SYN_RST;
	case -ENETUNREACH:
	case -ENETDOWN:
		return TP_SYN_NET_UNREACH;
	case -EHOSTUNREACH:
	case -EHOSTDOWN:
		return TP_SYN_HOST_UNREACH;
	case -ETIMEDOUT:
		return TP_SYN_SILENT;
	default:
		return TP_SYN_PROHIBITED;
	}
}

/* Answer the refused SYN syn[0..len) from s (sequence number seq) to d as
 * tp_syn_answer_of(err) says; counted. syn is borrowed for the call. */
static void refuse_syn(const struct tp_endpoint *s, const struct tp_endpoint *d, const uint8_t *syn,
                       size_t len, uint32_t seq, int err)
{
	enum tp_syn_answer a = tp_syn_answer_of(err);

	S.st.syn_answered[a]++;
	switch (a) {
	case TP_SYN_RST:
		send_rst_for(s, d, seq);
		break;
	case TP_SYN_SILENT:
		break;
	default:
		tp__send_unreach(syn, len,
		                 a == TP_SYN_NET_UNREACH    ? TP_UNREACH_NET
		                 : a == TP_SYN_HOST_UNREACH ? TP_UNREACH_HOST
		                                            : TP_UNREACH_PROHIBITED);
		break;
	}
}

static bool addr_unspecified(int family, const uint8_t *a)
{
	static const uint8_t zero[16];
	/* constant sizes: inline compares, not a libc call per packet */
	return family == AF_INET ? !memcmp(a, zero, 4) : !memcmp(a, zero, 16);
}

bool tp__dst_forbidden(const struct tp_endpoint *d)
{
	static const uint8_t zero[16], v6lo[16] = {[15] = 1};
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
	if (S.cfg.allow_loopback)
		return false;
	if (d->family == AF_INET) {
		if (d->addr[0] == 127 || memcmp(d->addr, zero, 4) == 0)
			return true;
	} else {
		if (!memcmp(d->addr, zero, 16) || !memcmp(d->addr, v6lo, 16))
			return true;
		if (!memcmp(d->addr, mapped, 12) &&
		    (d->addr[12] == 127 || !memcmp(d->addr + 12, zero, 4)))
			return true;
	}
	for (size_t i = 0; i < S.cfg.n_own; i++) {
		const struct tp_cidr *c = &S.own[i];
		if (c->family == d->family &&
		    !memcmp(c->addr, d->addr, d->family == AF_INET ? 4 : 16))
			return true;
	}
	return false;
}

/* A RST from the client for a flow still PENDING (its SYN held): the
 * client gave up (connect timeout, Ctrl-C). Accepted only with the sequence
 * number right after the SYN (RFC 793 for a RST in SYN-RECEIVED: in
 * window; here the window is that one number), so a blind RST cannot cancel
 * someone's connection. The owner gets closed(-ECONNRESET) and stops its
 * own work (e.g. the upstream connect). Returns true when consumed. */
static bool rst_pending(const struct tp_pkt *pk)
{
	struct tp_endpoint s = {.family = pk->family, .port = pk->sport};
	struct tp_endpoint d = {.family = pk->family, .port = pk->dport};
	size_t alen = pk->family == AF_INET ? 4 : 16;
	struct tp_tcp_flow *f;

	memcpy(s.addr, pk->src, alen);
	memcpy(d.addr, pk->dst, alen);
	f = flow_find(&s, &d, tuple_hash(&s, &d));
	if (!f || f->state != TP_TCP_PENDING || pk->seq != f->syn_seq + 1)
		return false;
	S.st.syn_client_reset++;
	flow_finish(f, -ECONNRESET);
	return true;
}

/* Make a half-open flow go for a newer SYN: silently if its SYN is still
 * held (the client retransmits it and may get in later), with a RST if lwIP
 * already answered SYN-ACK. The owner gets closed(-ENOSPC). */
static void flow_evict(struct tp_tcp_flow *f)
{
	struct tcp_pcb *pcb = f->pcb;

	S.st.syn_evicted++;
	if (pcb) {
		f->pcb = NULL;
		pcb_detach(pcb);
		tcp_abort(pcb);
	}
	flow_finish(f, -ENOSPC);
}

/* May a SYN from source s become a half-open flow? O(1). The policy (see
 * README, "Fair SYN handling"):
 *  - its source already has per_source half-open flows: the SYN is dropped
 *    silently (the newest goes, as a kernel SYN queue without cookies does:
 *    a storm cannot churn its way through its own slots, so it cannot make
 *    more upstream connects than per_source at a time);
 *  - all max_pending are taken: if some source holds at least two more
 *    half-open flows than s, its oldest one is evicted to make room (a few
 *    heavy sources cannot lock out a light one); otherwise the SYN is
 *    dropped silently (no churn among equals, e.g. random spoofed sources).
 * Returns the source entry to count the new flow in, or NULL (dropped). */
static struct tp_src *syn_admit(const struct tp_endpoint *s)
{
	uint32_t h = src_hash(s);
	struct tp_src *x = src_find(s, h);
	unsigned have = x ? x->count : 0;

	if (have >= S.per_source) {
		S.st.syn_drop_source++;
		return NULL;
	}
	if (S.npending >= S.max_pending) {
		if (S.max_level < have + 2) {
			S.st.syn_drop_pending++;
			return NULL;
		}
		flow_evict(S.level[S.max_level]->oldest);
		x = src_find(s, h); /* the owner's closed() ran: look again */
	}
	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x) {
			S.st.drops[TP_DROP_NO_MEMORY]++;
			return NULL;
		}
		x->hash = h;
		x->family = s->family;
		memcpy(x->key, s->addr, src_keylen(s->family));
		x->hnext = S.src_buckets[h & (S.src_nbuckets - 1)];
		S.src_buckets[h & (S.src_nbuckets - 1)] = x;
		S.nsources++;
	}
	return x;
}

/* Returns true when the SYN was consumed here. */
static bool syn_in(const uint8_t *buf, const struct tp_pkt *pk)
{
	struct tp_endpoint s = {.family = pk->family, .port = pk->sport};
	struct tp_endpoint d = {.family = pk->family, .port = pk->dport};
	size_t alen = pk->family == AF_INET ? 4 : 16;
	memcpy(s.addr, pk->src, alen);
	memcpy(d.addr, pk->dst, alen);
	uint32_t h = tuple_hash(&s, &d);
	struct tp_tcp_flow *f = flow_find(&s, &d, h);
	if (f) {
		if (f->state == TP_TCP_PENDING || (f->state == TP_TCP_ACCEPTING && f->syn)) {
			S.st.syn_absorbed++;
			return true;
		}
		return false; /* lwIP owns the handshake now: let it see the retransmit */
	}
	if (tp__dst_forbidden(&d)) {
		S.st.syn_loopback++;
		refuse_syn(&s, &d, buf, pk->len, pk->seq, -EACCES);
		return true;
	}
	if (S.nflows >= S.cfg.max_flows) {
		S.st.syn_limit++;
		refuse_syn(&s, &d, buf, pk->len, pk->seq, -EACCES);
		return true;
	}
	struct tp_src *x = syn_admit(&s);
	if (!x)
		return true;
	f = calloc(1, sizeof(*f));
	uint8_t *copy = malloc(pk->len);
	if (!f || !copy) {
		free(f);
		free(copy);
		src_free_if_empty(x);
		S.st.drops[TP_DROP_NO_MEMORY]++;
		return true;
	}
	memcpy(copy, buf, pk->len);
	f->syn = copy;
	f->syn_len = pk->len;
	f->syn_seq = pk->seq;
	f->src = s;
	f->dst = d;
	f->hash = h;
	f->state = TP_TCP_PENDING;
	f->hnext = S.buckets[h & (S.nbuckets - 1)];
	S.buckets[h & (S.nbuckets - 1)] = f;
	halfopen_add(f, x);
	S.nflows++;
	S.st.syn_held++;
	S.st.tcp_flows_opened++;
	S.cfg.tcp_syn(S.cfg.ctx, f);
	return true;
}

static bool v6_mapped(const uint8_t *a)
{
	static const uint8_t pfx[12] = {[10] = 0xff, [11] = 0xff};
	return !memcmp(a, pfx, 12);
}

/* Addresses lwIP would drop silently (or trip over): checked first so they
 * are counted. */
static enum tp_drop addr_check(int family, uint8_t proto, const uint8_t *src, const uint8_t *dst)
{
	static const uint8_t zero[16], bcast[4] = {255, 255, 255, 255};

	if (family == AF_INET) {
		if (src[0] == 127 || (src[0] & 0xf0) == 224 || !memcmp(src, zero, 4) ||
		    !memcmp(src, bcast, 4))
			return TP_DROP_BAD_ADDR;
		if ((dst[0] & 0xf0) == 224 || !memcmp(dst, bcast, 4))
			return TP_DROP_UNSUPPORTED; /* multicast/broadcast: not a flow to relay */
	} else {
		if (src[0] == 0xff || (!memcmp(src, zero, 15) && src[15] <= 1) || v6_mapped(src))
			return TP_DROP_BAD_ADDR;
		/* IPv4 on the IPv6 wire: lwIP's UDP/ICMPv6 drop it silently
		 * (TCP to it is refused like loopback, or relayed if allowed) */
		if (proto != IPPROTO_TCP && v6_mapped(dst))
			return TP_DROP_BAD_ADDR;
		if (dst[0] == 0xff)
			return TP_DROP_UNSUPPORTED;
	}
	return TP_DROP_NONE;
}

/* A fragment of a UDP datagram (IPv4, or IPv6 with a fragment header
 * right after the fixed header) goes into lwIP's reassembly, which hands
 * the whole datagram to udp.c. Returns TP_DROP_NONE when it was passed on,
 * TP_DROP_FRAGMENT for fragments of anything else (dropped, as before), or
 * another reason. tp_pkt_parse checked the IP header and lengths before it
 * stopped at the fragment. */
static enum tp_drop udp_fragment(const uint8_t *b, size_t len)
{
	size_t ip_len, frag_len;
	bool more;
	enum tp_drop r;

	if ((b[0] >> 4) == 4) {
		if (b[9] != IPPROTO_UDP || b[0] != 0x45)
			return TP_DROP_FRAGMENT;
		ip_len = (size_t)(b[2] << 8 | b[3]);
		frag_len = ip_len - 20;
		more = b[6] & 0x20;
		r = addr_check(AF_INET, IPPROTO_UDP, b + 12, b + 16);
	} else {
		if (len < 48 || b[6] != 44 || b[40] != IPPROTO_UDP)
			return TP_DROP_FRAGMENT;
		ip_len = 40 + (size_t)(b[4] << 8 | b[5]);
		if (ip_len < 48)
			return TP_DROP_FRAGMENT;
		frag_len = ip_len - 48;
		more = b[43] & 1;
		r = addr_check(AF_INET6, IPPROTO_UDP, b + 8, b + 24);
	}
	if (r != TP_DROP_NONE)
		return r;
	/* all but the last fragment carry a multiple of 8 bytes (RFC 791,
	 * RFC 8200); lwIP would answer a parameter problem from no address */
	if ((more && frag_len % 8) || frag_len == 0)
		return TP_DROP_FRAGMENT;
	S.st.udp_frag_in++;
	tp__udp_from_frag = true;
	r = lwip_input(b, ip_len, false);
	tp__udp_from_frag = false;
	return r;
}

enum tp_drop tp_stack_input(const void *buf, size_t len)
{
	return tp_stack_input_flags(buf, len, 0);
}

enum tp_drop tp_stack_input_flags(const void *buf, size_t len, unsigned flags)
{
	struct tp_pkt pk;
	enum tp_drop r;

	S.st.pkts_in++;
	S.st.bytes_in += len;
	if (!S.up) {
		r = TP_DROP_UNSUPPORTED;
		goto drop;
	}
	r = tp_pkt_parse(buf, len, (flags & TP_STACK_IN_CSUM_OK) ? 0 : TP_PKT_VERIFY_CSUM, &pk);
	if (r == TP_DROP_FRAGMENT) {
		r = udp_fragment(buf, len);
		if (r == TP_DROP_NONE)
			return r;
	}
	if (r != TP_DROP_NONE)
		goto drop;
	/* Nothing can answer from 0.0.0.0 or :: (lwIP would have no source). */
	if (addr_unspecified(pk.family, pk.dst)) {
		r = TP_DROP_BAD_ADDR;
		goto drop;
	}
	r = addr_check(pk.family, pk.proto, pk.src, pk.dst);
	if (r != TP_DROP_NONE)
		goto drop;
	switch (pk.proto) {
	case IPPROTO_TCP:
		if ((pk.tcp_flags & (TCP_F_SYN | TCP_F_ACK | TCP_F_RST)) == TCP_F_SYN &&
		    syn_in(buf, &pk))
			return TP_DROP_NONE;
		if ((pk.tcp_flags & (TCP_F_SYN | TCP_F_RST)) == TCP_F_RST && rst_pending(&pk))
			return TP_DROP_NONE;
		break;
	case IPPROTO_UDP: /* whole datagrams: straight to udp.c (fragments: lwIP first) */
		tp__udp_input(&pk, buf);
		return TP_DROP_NONE;
	case IPPROTO_ICMP: /* echo requests only: lwIP answers them (from the pinged address) */
	case IPPROTO_ICMPV6:
		if (((const uint8_t *)buf)[pk.l4_off] != (pk.proto == IPPROTO_ICMP ? 8 : 128)) {
			r = TP_DROP_UNSUPPORTED;
			goto drop;
		}
		S.st.icmp_echo_in++;
		if (S.cfg.icmp_drop) {
			S.st.icmp_echo_dropped++;
			return TP_DROP_NONE; /* configured, not malformed: counted apart */
		}
		break;
	default:
		r = TP_DROP_UNSUPPORTED;
		goto drop;
	}
	r = lwip_input(buf, pk.len, pk.proto == IPPROTO_TCP);
	if (r == TP_DROP_NONE)
		return r;
drop:
	S.st.drops[r]++;
	return r;
}

uint32_t tp_stack_poll(void)
{
	uint32_t a, b;

	S.in_lwip++;
	sys_check_timeouts();
	S.in_lwip--;
	if (!S.in_lwip)
		run_deferred();
	LWIP_CHECK("timers");
	a = sys_timeouts_sleeptime();
	b = tp__udp_poll();
	return a < b ? a : b;
}

/* ---- lifecycle ---- */
int tp_stack_init(const struct tp_stack_cfg *cfg)
{
	int err = 0;
	if (S.up)
		return -EBUSY;
	if (!cfg || !cfg->output || !cfg->tcp_syn || cfg->mtu < 576 || cfg->mtu > 65535 ||
	    cfg->max_flows == 0)
		return -EINVAL;
	memset(&S.st, 0, sizeof(S.st));
	S.frag_drop_base = lwip_stats.ip_frag.drop + lwip_stats.ip6_frag.drop;
	S.cfg = *cfg;
	S.own = NULL;
	if (cfg->n_own) {
		S.own = calloc(cfg->n_own, sizeof(*S.own));
		if (!S.own) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(S.own, cfg->own, cfg->n_own * sizeof(*S.own));
	}
	S.cfg.own = S.own;
	S.tcp_gso = cfg->output_gso && cfg->tcp_csum_partial;
	S.gso_size = 0;
	S.nbuckets = 64;
	while (S.nbuckets < cfg->max_flows && S.nbuckets < (1u << 20))
		S.nbuckets <<= 1;
	S.buckets = calloc(S.nbuckets, sizeof(struct tp_tcp_flow *));
	S.max_pending = cfg->max_pending ? cfg->max_pending : cfg->max_flows / 4;
	if (S.max_pending == 0)
		S.max_pending = 1;
	if (S.max_pending > cfg->max_flows)
		S.max_pending = cfg->max_flows;
	S.per_source = cfg->max_pending_per_source ? cfg->max_pending_per_source
	                                           : PENDING_PER_SOURCE_DEFAULT;
	if (S.per_source > S.max_pending)
		S.per_source = S.max_pending;
	S.src_nbuckets = 64;
	while (S.src_nbuckets < S.max_pending && S.src_nbuckets < (1u << 20))
		S.src_nbuckets <<= 1;
	S.src_buckets = calloc(S.src_nbuckets, sizeof(struct tp_src *));
	S.level = calloc((size_t)S.per_source + 1, sizeof(struct tp_src *));
	S.max_level = 0;
	S.npending = S.nsources = 0;
	S.ooseq_max_pbufs = cfg->ooseq_max_pbufs ? cfg->ooseq_max_pbufs : OOSEQ_PBUFS_DEFAULT;
	S.ooseq_max_bytes = !cfg->ooseq_max_bytes               ? OOSEQ_BYTES_DEFAULT
	                    : cfg->ooseq_max_bytes > UINT32_MAX ? UINT32_MAX
	                                                        : (uint32_t)cfg->ooseq_max_bytes;
	if (!S.buckets || !S.src_buckets || !S.level) {
		err = -ENOMEM;
		goto out;
	}
	S.seed = (uint32_t)random();
	S.isn_key[0] = (uint64_t)random() << 33 ^ (uint64_t)random() << 11 ^ (uint64_t)random();
	S.isn_key[1] = (uint64_t)random() << 33 ^ (uint64_t)random() << 11 ^ (uint64_t)random();
	if (!S.lwip_ready) {
		lwip_init();
		S.lwip_ready = true;
	}
	/* lwIP's own 4-tuple table (patch 0008): as many buckets as ours */
	if (tcp_hash_resize(S.nbuckets, (uint32_t)random()) != ERR_OK) {
		err = -ENOMEM;
		goto out;
	}

	ip4_addr_t a, m, g;
	IP4_ADDR(&a, 0, 0, 0, 1); /* any non-zero address: ip4_route wants one */
	IP4_ADDR(&m, 255, 255, 255, 255);
	IP4_ADDR(&g, 0, 0, 0, 0);
	if (!netif_add(&S.netif, &a, &m, &g, NULL, netif_init_cb, ip_input)) {
		err = -ENODEV;
		goto out;
	}
	netif_set_default(&S.netif);
	netif_set_up(&S.netif);
	netif_set_link_up(&S.netif);

	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (!pcb) {
		err = -ENOMEM;
		goto out_netif;
	}
	if (tcp_bind(pcb, IP_ANY_TYPE, 1) != ERR_OK) {
		tcp_abort(pcb);
		err = -EADDRINUSE;
		goto out_netif;
	}
	S.listener = tcp_listen(pcb); /* frees pcb on success */
	if (!S.listener) {
		tcp_abort(pcb);
		err = -ENOMEM;
		goto out_netif;
	}
	tcp_arg(S.listener, NULL);
	tcp_accept(S.listener, on_accept);
	err = tp__udp_init();
	if (err) {
		tcp_close(S.listener);
		S.listener = NULL;
		goto out_netif;
	}
	S.up = true;
	return 0;
out_netif:
	netif_remove(&S.netif);
out:
	tcp_hash_resize(0, 0);
	free(S.buckets);
	S.buckets = NULL;
	free(S.src_buckets);
	S.src_buckets = NULL;
	free(S.level);
	S.level = NULL;
	free(S.own);
	S.own = NULL;
	return err;
}

void tp_stack_shutdown(void)
{
	if (!S.up)
		return;
	S.deferred = NULL;
	for (uint32_t b = 0; b < S.nbuckets; b++) {
		while (S.buckets[b]) {
			struct tp_tcp_flow *f = S.buckets[b];
			if (f->pcb) {
				struct tcp_pcb *pcb = f->pcb;
				f->pcb = NULL;
				pcb_detach(pcb);
				tcp_abort(pcb); /* RST to the client */
			} else if (f->state == TP_TCP_PENDING || f->syn) {
				send_rst_for(&f->src, &f->dst, f->syn_seq);
			}
			flow_finish(f, -ECONNABORTED);
		}
	}
	tp__udp_shutdown();
	/* Fragments still waiting for reassembly: age them out now (each timer
	 * tick ages every entry by one; their ICMP time-exceeded is muted). */
	S.muted = true;
	for (int i = 0; i <= IP_REASS_MAXAGE; i++)
		ip_reass_tmr();
	for (int i = 0; i <= IPV6_REASS_MAXAGE; i++)
		ip6_reass_tmr();
	S.muted = false;
	/* Connections the owner already closed, still finishing in lwIP. */
	while (tcp_active_pcbs)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
	if (S.listener) {
		tcp_close(S.listener);
		S.listener = NULL;
	}
	netif_remove(&S.netif);
	memset(&S.netif, 0, sizeof(S.netif));
	tcp_hash_resize(0, 0); /* back to lwIP's built-in table: cannot fail */
	free(S.buckets);
	S.buckets = NULL;
	S.nbuckets = 0;
	/* every flow is gone, and with it every source entry */
	free(S.src_buckets);
	S.src_buckets = NULL;
	free(S.level);
	S.level = NULL;
	free(S.own);
	S.own = NULL;
	S.up = false;
	if (S.lent)
		bigbuf_free(S.lent);
	S.lent = NULL;
	while (S.bigbuf_free) {
		struct bigbuf *b = S.bigbuf_free;
		S.bigbuf_free = b->next;
		bigbuf_free(b);
	}
	S.bigbuf_kept = 0;
	LWIP_CHECK("shutdown");
}

/* ---- flow API ---- */
const struct tp_endpoint *tp_tcp_flow_src(const struct tp_tcp_flow *f)
{
	return &f->src;
}

const struct tp_endpoint *tp_tcp_flow_dst(const struct tp_tcp_flow *f)
{
	return &f->dst;
}

enum tp_tcp_state tp_tcp_flow_state(const struct tp_tcp_flow *f)
{
	return f->state;
}

void tp_tcp_flow_set_events(struct tp_tcp_flow *f, const struct tp_tcp_events *ev, void *ud)
{
	f->ev = ev;
	f->ud = ud;
}

void tp_tcp_flow_accept(struct tp_tcp_flow *f)
{
	if (f->state != TP_TCP_PENDING)
		return;
	f->state = TP_TCP_ACCEPTING;
	if (S.in_lwip) { /* never re-enter lwIP's input */
		f->dnext = S.deferred;
		S.deferred = f;
		return;
	}
	inject_syn(f);
}

void tp_tcp_flow_reject(struct tp_tcp_flow *f, int err)
{
	if (f->state != TP_TCP_PENDING)
		return;
	S.st.syn_refused++;
	refuse_syn(&f->src, &f->dst, f->syn, f->syn_len, f->syn_seq, err);
	flow_free(f);
}

int tp_tcp_flow_peek(struct tp_tcp_flow *f, struct iovec *iov, int n)
{
	int i = 0;
	for (struct pbuf *p = f->rx_head; p && i < n; p = p->next, i++) {
		iov[i].iov_base = p->payload;
		iov[i].iov_len = p->len;
	}
	return i;
}

size_t tp_tcp_flow_queued(const struct tp_tcp_flow *f)
{
	return f->rx_bytes;
}

void tp_tcp_flow_consume(struct tp_tcp_flow *f, size_t n)
{
	if (n > f->rx_bytes)
		n = f->rx_bytes;
	size_t left = n;
	while (left && f->rx_head) {
		struct pbuf *p = f->rx_head;
		if (p->len <= left) {
			left -= p->len;
			f->rx_head = p->next;
			if (!f->rx_head)
				f->rx_tail = NULL;
			p->next = NULL;
			pbuf_free(p);
		} else {
			pbuf_remove_header(p, left);
			left = 0;
		}
	}
	f->rx_bytes -= n;
	if (f->pcb) {
		while (n) {
			u16_t k = n > 0xffff ? 0xffff : (u16_t)n;
			tcp_recved(f->pcb, k);
			n -= k;
		}
	}
	LWIP_CHECK("consume");
}

size_t tp_tcp_flow_send_space(const struct tp_tcp_flow *f)
{
	if (!f->pcb || f->shut_wr)
		return 0;
	if (tcp_sndqueuelen(f->pcb) + 4 >= TCP_SND_QUEUELEN)
		return 0;
	return tcp_sndbuf(f->pcb);
}

size_t tp_tcp_flow_send_unit(const struct tp_tcp_flow *f, size_t *wire_out)
{
	const struct tcp_pcb *pcb = f->pcb;
	u32_t optlen, wire, cap, k;

	*wire_out = 0;
	if (!pcb || pcb->mss == 0)
		return 0;
	optlen = LWIP_TCP_OPT_LENGTH((pcb->flags & TF_TIMESTAMP) ? TF_SEG_OPTS_TS : 0);
	if (pcb->mss <= optlen)
		return 0;
	wire = (u32_t)(pcb->mss - optlen);
	*wire_out = wire;
	if (pcb->gso_max == 0)
		return wire;
	/* as tcp_write sizes a super-segment (lwIP patch 0012) */
	cap = LWIP_MIN((u32_t)pcb->gso_max, 0xffffUL - 40 - 60);
	cap = LWIP_MIN(cap, pcb->snd_wnd_max / 2);
	k = cap / wire;
	return k > 1 ? (size_t)k * wire : wire;
}

_Static_assert(TCP_SND_BUF == TP_STACK_TCP_SNDBUF, "stack.h's TP_STACK_TCP_SNDBUF");
_Static_assert(TCP_WND == TP_STACK_TCP_WND, "stack.h's TP_STACK_TCP_WND");

size_t tp_tcp_flow_unacked(const struct tp_tcp_flow *f)
{
	if (!f->pcb)
		return 0;
	/* snd_buf, not tcp_sndbuf(): that one is clamped to 64 KiB */
	return (size_t)TCP_SND_BUF - f->pcb->snd_buf;
}

long tp_tcp_flow_send(struct tp_tcp_flow *f, const void *buf, size_t len, bool more)
{
	if (!f->pcb || f->shut_wr)
		return -EPIPE;
	size_t done = 0;
	while (done < len) {
		size_t space = tp_tcp_flow_send_space(f);
		size_t n = len - done;
		if (n > space)
			n = space;
		if (n == 0)
			break;
		bool last = done + n == len;
		u8_t fl = TCP_WRITE_FLAG_COPY | ((more || !last) ? TCP_WRITE_FLAG_MORE : 0);
		if (tcp_write(f->pcb, (const uint8_t *)buf + done, (u16_t)n, fl) != ERR_OK)
			break;
		done += n;
	}
	if (done)
		tcp_output(f->pcb);
	LWIP_CHECK("send");
	return (long)done;
}

void tp_tcp_flow_shutdown(struct tp_tcp_flow *f)
{
	if (!f->pcb || f->shut_wr)
		return;
	f->shut_wr = true;
	tcp_shutdown(f->pcb, 0, 1);
	tcp_output(f->pcb);
	LWIP_CHECK("shutdown of the send side");
}

void tp_tcp_flow_close(struct tp_tcp_flow *f, bool abort)
{
	if (f->state == TP_TCP_PENDING) {
		S.st.syn_refused++;
		refuse_syn(&f->src, &f->dst, f->syn, f->syn_len, f->syn_seq, -ECONNRESET);
		flow_finish(f, -ECONNABORTED);
		return;
	}
	struct tcp_pcb *pcb = f->pcb;
	if (!pcb && f->syn) /* accepted, SYN not yet re-injected */
		send_rst_for(&f->src, &f->dst, f->syn_seq);
	if (pcb) {
		f->pcb = NULL;
		pcb_detach(pcb);
		/* Unread client data means the close cannot be clean (as a kernel
		 * socket closed with unread data answers RST). */
		if (!abort && f->rx_bytes == 0 && tcp_close(pcb) == ERR_OK) {
			/* lwIP finishes the close on its own (FIN, TIME-WAIT). */
		} else {
			if (pcb == S.cb_pcb)
				S.cb_aborted = true;
			tcp_abort(pcb);
			abort = true;
		}
	}
	flow_finish(f, abort ? -ECONNABORTED : 0);
	LWIP_CHECK("close");
}
