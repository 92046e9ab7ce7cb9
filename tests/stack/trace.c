/* SPDX-License-Identifier: MIT */
/* Stack tests: scripted packet and clock traces through lwIP itself.
 *
 * `trace_* --dump NAME` runs scenario NAME against the lwIP it was linked
 * with (the raw API, a fake clock, a netif that records every segment) and
 * prints the trace: every segment lwIP emitted, every segment the scripted
 * client sent and every callback the application got, with the time and
 * the connection, grouped by (time, connection) in the order they happened.
 * The same source is built against lwIP with all of tunplug's patches,
 * without patch 0009 (timer lists), and without 0008 and 0009 (stock
 * demultiplexing and timers); test_trace.c runs all three and requires
 * identical traces. Visiting order across connections within one tick is
 * the one thing the patches change, hence the grouping.
 *
 * The client is a small reactive TCP: it completes handshakes, acknowledges
 * in-order data (or ignores segments, as a scenario says), answers
 * keepalives, and sends what the script tells it to. The application
 * accepts every connection and reads, refuses, holds, echoes, writes and
 * closes as the scenario says. Both use per-connection random numbers
 * only, so the order lwIP visits connections in cannot change their
 * decisions. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include "wire.h"

#ifndef LWIP_TUNPLUG_TCP_HASH
#define LWIP_TUNPLUG_TCP_HASH 0
#endif

extern uint32_t tp_lwip_now_ms; /* stack/port/sys_arch.c: lwIP's clock */
/* lwipopts.h's out-of-order hooks (patch 0010), which stack.c provides in
 * the gateway: here the per-connection bounds alone, no gateway-wide share,
 * the same for all three builds. */
unsigned tp_lwip_ooseq_pbufs_limit(const struct tcp_pcb *pcb)
{
	(void)pcb;
	return TCP_OOSEQ_MAX_PBUFS;
}

unsigned long tp_lwip_ooseq_bytes_limit(const struct tcp_pcb *pcb)
{
	(void)pcb;
	return TCP_OOSEQ_MAX_BYTES;
}

void tp_lwip_ooseq_drop(const struct tcp_pcb *pcb, unsigned long segs, unsigned long bytes)
{
	(void)pcb;
	(void)segs;
	(void)bytes;
}

/* The ISN hook (stack.c keys it per run): here a fixed function of the
 * ports, the same in the three builds, so their traces can be compared. */
unsigned int tp_lwip_tcp_isn(const void *local_ip, unsigned short local_port, const void *remote_ip,
                             unsigned short remote_port)
{
	(void)local_ip;
	(void)remote_ip;
	return 6510u + ((unsigned int)local_port << 16 | remote_port);
}

static uint32_t now;

/* ---- the trace ---- */
struct event {
	uint32_t t;
	int conn;
	unsigned seq; /* order of occurrence */
	char text[112];
};
static struct event *ev;
static size_t nev, cap_ev;

static void logf_(int conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(int conn, const char *fmt, ...)
{
	va_list ap;

	if (nev == cap_ev) {
		cap_ev = cap_ev ? 2 * cap_ev : 4096;
		ev = realloc(ev, cap_ev * sizeof(*ev));
		if (!ev) {
			fprintf(stderr, "trace: out of memory\n");
			exit(2);
		}
	}
	ev[nev].t = now;
	ev[nev].conn = conn;
	ev[nev].seq = (unsigned)nev;
	va_start(ap, fmt);
	vsnprintf(ev[nev].text, sizeof(ev[nev].text), fmt, ap);
	va_end(ap);
	nev++;
}

static int ev_cmp(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->conn != y->conn)
		return x->conn < y->conn ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- connections: the client's and the application's side ---- */
enum cl_state { CL_NONE, CL_SYN_SENT, CL_OPEN, CL_GONE };
enum ack_mode { ACK_ALL, ACK_NONE, ACK_LOSSY };
enum app_recv { RECV_EAGER, RECV_HOLD, RECV_REFUSE };

struct conn {
	int id;
	struct tw_peer p;
	uint32_t rng;
	/* client */
	enum cl_state cl;
	enum ack_mode ack;
	unsigned loss_pct;  /* ACK_LOSSY: segments ignored (as if lost), in % */
	bool no_handshake;  /* never ACK the SYN-ACK */
	bool fin_on_fin;    /* answer the server's FIN with ours */
	uint32_t ack_after; /* ACK_NONE until this time, then ACK_ALL (0: never) */
	bool not_reading;   /* its application does not read: the window fills */
	uint32_t rbuf;      /* ... bytes unread; the window is p.wnd_cap - rbuf */
	uint16_t wnd_cap;   /* its receive buffer (0: p.wnd as set) */
	/* application */
	struct tcp_pcb *pcb;
	enum app_recv recv;
	int refuse_left;   /* RECV_REFUSE: refuse this many deliveries */
	uint32_t unread;   /* RECV_HOLD: delivered, not yet tcp_recved */
	uint32_t to_send;  /* bytes still to write */
	bool echo;         /* write back what arrives */
	bool close_on_eof; /* tcp_close when the client's FIN arrives */
	bool nagle;        /* leave Nagle on */
	bool keepalive;    /* SOF_KEEPALIVE, keep_idle 10 s */
	u8_t poll_iv;      /* tcp_poll interval (0: none) */
	unsigned polls;
	/* segments lwIP sent it in this round (indexes into tw_out) */
	int inbox[64];
	int ninbox;
};

#define MAXCONN 64
static struct conn conns[MAXCONN];
static int nconn;

static uint32_t rnd(struct conn *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 17;
	c->rng ^= c->rng << 5;
	return c->rng;
}

static struct conn *conn_new(int family)
{
	struct conn *c = &conns[nconn];
	char src[64], dst[64];

	memset(c, 0, sizeof(*c));
	c->id = nconn;
	if (family == AF_INET) {
		snprintf(src, sizeof(src), "198.18.0.%d", nconn + 1);
		snprintf(dst, sizeof(dst), "198.19.%d.1", nconn % 5);
	} else {
		snprintf(src, sizeof(src), "fd00:18::%x", nconn + 1);
		snprintf(dst, sizeof(dst), "fd00:19::%x", nconn % 5 + 1);
	}
	tw_peer_init(&c->p, family, src, dst, (uint16_t)(20000 + nconn), 80,
	             0x10000000u * (uint32_t)(nconn % 15) + 1000u);
	c->rng = 0x9e3779b9u * (uint32_t)(nconn + 1);
	nconn++;
	return c;
}

static struct conn *conn_by_port(uint16_t client_port)
{
	int i = client_port - 20000;
	return i >= 0 && i < nconn ? &conns[i] : NULL;
}

/* ---- the application (lwIP raw API callbacks) ---- */
static const uint8_t payload[4096] = {0};

static void app_pump(struct conn *c)
{
	bool wrote = false;

	while (c->pcb && c->to_send && tcp_sndbuf(c->pcb) > 0) {
		u16_t n = (u16_t)LWIP_MIN(LWIP_MIN(c->to_send, tcp_sndbuf(c->pcb)), 1000u);
		err_t e = tcp_write(c->pcb, payload, n, TCP_WRITE_FLAG_COPY);
		if (e != ERR_OK) {
			logf_(c->id, "app write err %d", e);
			break;
		}
		c->to_send -= n;
		wrote = true;
	}
	if (wrote)
		tcp_output(c->pcb);
}

static err_t app_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct conn *c = arg;

	(void)err;
	if (!p) {
		logf_(c->id, "app eof");
		if (c->close_on_eof) {
			logf_(c->id, "app close");
			tcp_close(pcb);
			c->pcb = NULL;
		}
		return ERR_OK;
	}
	if (c->recv == RECV_REFUSE && c->refuse_left > 0) {
		c->refuse_left--;
		logf_(c->id, "app refuse %u", p->tot_len);
		return ERR_MEM;
	}
	logf_(c->id, "app recv %u", p->tot_len);
	if (c->recv == RECV_HOLD)
		c->unread += p->tot_len;
	else
		tcp_recved(pcb, p->tot_len);
	if (c->echo)
		c->to_send += p->tot_len;
	pbuf_free(p);
	app_pump(c);
	return ERR_OK;
}

static err_t app_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct conn *c = arg;

	(void)pcb;
	logf_(c->id, "app sent %u", len);
	app_pump(c);
	return ERR_OK;
}

static void app_err(void *arg, err_t err)
{
	struct conn *c = arg;

	logf_(c->id, "app err %d", err);
	c->pcb = NULL;
}

static err_t app_poll(void *arg, struct tcp_pcb *pcb)
{
	struct conn *c = arg;

	(void)pcb;
	c->polls++;
	logf_(c->id, "app poll %u", c->polls);
	if (c->polls % 3 == 0) { /* every third poll writes a little */
		c->to_send += 10;
		app_pump(c);
	}
	return ERR_OK;
}

static err_t app_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct conn *c;

	(void)arg;
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	c = conn_by_port(pcb->remote_port);
	if (!c) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	c->pcb = pcb;
	logf_(c->id, "app accept");
	tcp_arg(pcb, c);
	tcp_recv(pcb, app_recv);
	tcp_sent(pcb, app_sent);
	tcp_err(pcb, app_err);
	if (!c->nagle)
		tcp_nagle_disable(pcb);
	if (c->keepalive) {
		ip_set_option(pcb, SOF_KEEPALIVE);
		pcb->keep_idle = 10000;
	}
	if (c->poll_iv)
		tcp_poll(pcb, app_poll, c->poll_iv);
	app_pump(c);
	return ERR_OK;
}

static void app_close(struct conn *c)
{
	if (!c->pcb)
		return;
	logf_(c->id, "app close");
	tcp_close(c->pcb);
	c->pcb = NULL;
}

static void app_abort(struct conn *c)
{
	if (!c->pcb)
		return;
	logf_(c->id, "app abort");
	tcp_abort(c->pcb);
	c->pcb = NULL;
}

static void app_shutdown_tx(struct conn *c)
{
	if (!c->pcb)
		return;
	logf_(c->id, "app shutdown tx");
	tcp_shutdown(c->pcb, 0, 1);
}

static void app_read_held(struct conn *c)
{
	if (!c->pcb || !c->unread)
		return;
	logf_(c->id, "app recved %u", c->unread);
	while (c->unread) {
		u16_t n = (u16_t)LWIP_MIN(c->unread, 0xffffu);
		tcp_recved(c->pcb, n);
		c->unread -= n;
	}
}

static void app_write(struct conn *c, uint32_t n)
{
	c->to_send += n;
	app_pump(c);
}

/* ---- lwIP: the netif and the clock ---- */
static struct netif nif;
static bool lwip_ok = true;

static void tcp_checksum(uint8_t *b, size_t len)
{
	struct tp_pkt pk;
	uint32_t sum;

	if (tp_pkt_parse(b, len, 0, &pk) != TP_DROP_NONE || pk.proto != IPPROTO_TCP)
		return;
	b[pk.l4_off + 16] = b[pk.l4_off + 17] = 0;
	sum = tp_csum_pseudo(pk.family, pk.src, pk.dst, IPPROTO_TCP, pk.l4_len);
	uint16_t c = tp_csum_finish(tp_csum_add(sum, b + pk.l4_off, pk.l4_len));
	b[pk.l4_off + 16] = (uint8_t)(c >> 8);
	b[pk.l4_off + 17] = (uint8_t)c;
}

static err_t emit(struct pbuf *p)
{
	uint8_t b[2048];

	if (p->tot_len > sizeof(b)) {
		logf_(-1, "oversized segment %u", p->tot_len);
		return ERR_OK;
	}
	pbuf_copy_partial(p, b, p->tot_len, 0);
	tcp_checksum(b, p->tot_len);
	tw_capture(NULL, b, p->tot_len);
	return ERR_OK;
}

static err_t out4(struct netif *n, struct pbuf *p, const ip4_addr_t *a)
{
	(void)n;
	(void)a;
	return emit(p);
}

static err_t out6(struct netif *n, struct pbuf *p, const ip6_addr_t *a)
{
	(void)n;
	(void)a;
	return emit(p);
}

static err_t nif_init(struct netif *n)
{
	n->name[0] = 't';
	n->name[1] = 'r';
	n->mtu = 1500;
	n->mtu6 = 1500;
	n->output = out4;
	n->output_ip6 = out6;
	n->flags = 0;
	return ERR_OK;
}

/* lwIP patch 0012's hook: the traces never set a PCB's gso_max, so no
 * segment is ever a super-segment. */
void tp_lwip_tcp_gso(struct pbuf *p, unsigned short gso_size)
{
	(void)p;
	(void)gso_size;
	abort();
}

/* lwipopts.h routes UDP datagrams to the stack's hook; the traces send
 * none, so any that came would be dropped here. */
int tp_lwip_udp_input(struct pbuf *p, struct netif *inp)
{
	(void)inp;
	pbuf_free(p);
	return 1;
}

static enum tp_drop inject(const void *buf, size_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);

	if (!p) {
		logf_(-1, "pbuf_alloc failed");
		return TP_DROP_NO_MEMORY;
	}
	memcpy(p->payload, buf, len);
	if (nif.input(p, &nif) != ERR_OK)
		pbuf_free(p);
	return TP_DROP_NONE;
}

static void lwip_up(void)
{
	ip4_addr_t a, m, g;
	struct tcp_pcb *l;

	srandom(1);
	tp_lwip_now_ms = now = 1000000;
	lwip_init();
	IP4_ADDR(&a, 0, 0, 0, 1);
	IP4_ADDR(&m, 255, 255, 255, 255);
	IP4_ADDR(&g, 0, 0, 0, 0);
	netif_add(&nif, &a, &m, &g, NULL, nif_init, ip_input);
	netif_set_default(&nif);
	netif_set_up(&nif);
	netif_set_link_up(&nif);
#if LWIP_TUNPLUG_TCP_HASH
	tcp_hash_resize(64, 0x5eed);
#endif
	l = tcp_new_ip_type(IPADDR_TYPE_ANY);
	tcp_bind(l, IP_ANY_TYPE, 1);
	l = tcp_listen(l);
	tcp_accept(l, app_accept);
	tw_inject = inject;
}

/* ---- the client ---- */
static const char *flag_str(uint8_t f)
{
	static char s[8];
	int k = 0;

	if (f & TW_SYN)
		s[k++] = 'S';
	if (f & TW_FIN)
		s[k++] = 'F';
	if (f & TW_RST)
		s[k++] = 'R';
	if (f & TW_PSH)
		s[k++] = 'P';
	if (f & TW_ACK)
		s[k++] = 'A';
	s[k] = 0;
	return s;
}

static void cl_send(struct conn *c, uint8_t flags, size_t len)
{
	if (c->p.timestamps)
		c->p.ts_val = 0x80000101u + now;
	logf_(c->id, "in %s seq=%u ack=%u wnd=%u len=%zu", flag_str(flags), c->p.seq,
	      (flags & TW_ACK) ? c->p.ack : 0, c->p.wnd, len);
	tw_send(&c->p, flags, payload, len);
}

static void cl_connect(struct conn *c)
{
	c->cl = CL_SYN_SENT;
	cl_send(c, TW_SYN, 0);
}

static void cl_data(struct conn *c, size_t len)
{
	cl_send(c, TW_ACK | TW_PSH, len);
}

/* A segment `ahead` bytes beyond the next one (leaving a gap). */
static void cl_data_ahead(struct conn *c, uint32_t ahead, size_t len)
{
	uint32_t seq = c->p.seq;

	c->p.seq += ahead;
	cl_send(c, TW_ACK | TW_PSH, len);
	c->p.seq = seq;
}

static void cl_fin(struct conn *c)
{
	cl_send(c, TW_ACK | TW_FIN, 0);
}

static void cl_rst(struct conn *c)
{
	cl_send(c, TW_RST | TW_ACK, 0);
	c->cl = CL_GONE;
}

static void cl_window(struct conn *c, uint16_t wnd)
{
	c->p.wnd = wnd;
	cl_send(c, TW_ACK, 0);
}

/* The client's application stops reading: its buffer of cap bytes fills
 * and the window it advertises shrinks to 0. */
static void cl_stop_reading(struct conn *c, uint16_t cap)
{
	c->not_reading = true;
	c->wnd_cap = cap;
	c->rbuf = 0;
}

/* ... reads everything and goes on reading (a window update). */
static void cl_read(struct conn *c)
{
	c->not_reading = false;
	c->p.wnd = c->wnd_cap;
	cl_send(c, TW_ACK, 0);
}

static bool cl_acks_now(struct conn *c)
{
	if (c->ack == ACK_NONE)
		return c->ack_after && now >= c->ack_after;
	if (c->ack == ACK_LOSSY)
		return rnd(c) % 100 >= c->loss_pct;
	return true;
}

/* The client's reaction to one segment lwIP sent it (buf, len). */
static void cl_input(struct conn *c, const uint8_t *buf, size_t blen)
{
	struct tp_pkt pk;
	uint32_t len;

	if (tp_pkt_parse(buf, blen, TP_PKT_VERIFY_CSUM, &pk) != TP_DROP_NONE)
		return;
	len = (uint32_t)(pk.len - pk.data_off);
	if (c->cl == CL_GONE || c->cl == CL_NONE)
		return;
	if (pk.tcp_flags & TW_RST) {
		c->cl = CL_GONE;
		return;
	}
	if ((pk.tcp_flags & (TW_SYN | TW_ACK)) == (TW_SYN | TW_ACK)) {
		if (c->no_handshake)
			return;
		tw_take_pkt(&c->p, buf, blen, c->cl == CL_SYN_SENT);
		c->cl = CL_OPEN;
		cl_send(c, TW_ACK, 0);
		return;
	}
	if (len == 0 && !(pk.tcp_flags & TW_FIN)) {
		/* a pure ACK; a keepalive probe (one below what we acked) is answered */
		if (pk.seq == c->p.ack - 1 && c->ack != ACK_NONE) {
			tw_take_pkt(&c->p, buf, blen, false);
			cl_send(c, TW_ACK, 0);
		}
		return;
	}
	if (!cl_acks_now(c))
		return; /* as if lost */
	if (pk.seq == c->p.ack) {
		bool fin = (pk.tcp_flags & TW_FIN) != 0;
		uint32_t space = c->p.wnd;
		if (c->not_reading)
			space = c->wnd_cap - c->rbuf;
		if (len <= space) {
			tw_take_pkt(&c->p, buf, blen, true);
		} else { /* only what fits its buffer */
			tw_take_pkt(&c->p, buf, blen, false);
			c->p.ack += space;
			len = space;
			fin = false;
		}
		if (c->not_reading) {
			c->rbuf += len;
			c->p.wnd = (uint16_t)(c->wnd_cap - c->rbuf);
		}
		cl_send(c, TW_ACK, 0);
		if (fin && c->fin_on_fin)
			cl_fin(c);
		return;
	}
	tw_take_pkt(&c->p, buf, blen, false);
	cl_send(c, TW_ACK, 0); /* duplicate ACK */
}

#if LWIP_TUNPLUG_TCP_HASH
static void check_lwip(void)
{
	const char *e = tcp_tunplug_check();

	if (e && lwip_ok) {
		logf_(-1, "lwIP inconsistent: %s", e);
		lwip_ok = false;
	}
}
#else
static void check_lwip(void)
{
}
#endif

/* Deliver what lwIP sent to the clients (connection after connection)
 * until nothing new comes out. */
static void settle(void)
{
	static struct tw_out round[TW_MAXOUT];
	static int inbox[TW_MAXOUT];
	int n;

	for (int r = 0; r < 100000 && tw_nout; r++) {
		n = tw_nout;
		memcpy(round, tw_out, (size_t)n * sizeof(round[0]));
		tw_clear();
		for (int i = 0; i < n; i++) {
			struct tp_pkt pk;
			struct conn *c;
			uint32_t tsv, tse;

			inbox[i] = -1;
			if (tp_pkt_parse(round[i].buf, round[i].len, TP_PKT_VERIFY_CSUM, &pk) !=
			            TP_DROP_NONE ||
			    pk.proto != IPPROTO_TCP) {
				logf_(-1, "bad or non-TCP output");
				continue;
			}
			c = conn_by_port(pk.dport);
			tw_ts_of(round[i].buf, &pk, &tsv, &tse);
			logf_(c ? c->id : -1, "out %s seq=%u ack=%u wnd=%u len=%u ts=%u/%u",
			      flag_str(pk.tcp_flags), pk.seq, (pk.tcp_flags & TW_ACK) ? pk.ack : 0,
			      (unsigned)(round[i].buf[pk.l4_off + 14] << 8 |
			                 round[i].buf[pk.l4_off + 15]),
			      (unsigned)(pk.len - pk.data_off), tsv, tse);
			inbox[i] = c ? c->id : -1;
		}
		for (int k = 0; k < nconn; k++)
			for (int i = 0; i < n; i++)
				if (inbox[i] == k)
					cl_input(&conns[k], round[i].buf, round[i].len);
	}
	if (tw_dropped)
		logf_(-1, "%ld segments not captured", tw_dropped);
	check_lwip();
}

/* Move the clock to t in 50 ms steps, running lwIP's timers. */
static void run_until(uint32_t t)
{
	settle();
	while (now < t) {
		now += 50;
		tp_lwip_now_ms = now;
		sys_check_timeouts();
		settle();
	}
}

static void run_for(uint32_t ms)
{
	run_until(now + ms);
}

/* Every connection made so far connects, then the handshakes settle. */
static void connect_all(void)
{
	for (int k = 0; k < nconn; k++)
		if (conns[k].cl == CL_NONE) {
			cl_connect(&conns[k]);
			settle();
		}
	run_for(100);
}

/* ---- the scenarios ---- */

/* Delayed ACKs: single segments at different offsets from the 250 ms fast
 * tick are acknowledged by the tick; every second segment at once; a reply
 * written in the receive callback carries the ACK. */
static void sc_delayed_ack(void)
{
	for (int k = 0; k < 8; k++)
		conn_new(k % 2 ? AF_INET6 : AF_INET)->p.timestamps = k % 3 == 0;
	conns[6].echo = true;
	connect_all();
	for (int round = 0; round < 6; round++) {
		for (int k = 0; k < 5; k++) {
			cl_data(&conns[k], 100);
			settle();
			run_for(60);
		}
		cl_data(&conns[5], 1000);
		settle();
		cl_data(&conns[5], 1000);
		settle();
		cl_data(&conns[6], 10);
		settle();
		run_for(310 + 70 * (uint32_t)round);
	}
	run_for(2000);
}

/* Retransmission: data nobody acknowledges is retransmitted with back-off
 * until TCP_MAXRTX, then the connection is dropped; a client that starts
 * acknowledging after a few retransmissions recovers; an unanswered
 * SYN-ACK is retransmitted until the connection is dropped; a lossy
 * client gets fast retransmits and timeouts. */
static void sc_rto(void)
{
	struct conn *c;

	c = conn_new(AF_INET);
	c->ack = ACK_NONE;
	c = conn_new(AF_INET6);
	c->ack = ACK_NONE;
	c->ack_after = now + 20000;
	c = conn_new(AF_INET);
	c->no_handshake = true;
	c = conn_new(AF_INET6);
	c->ack = ACK_LOSSY;
	c->loss_pct = 30;
	c = conn_new(AF_INET);
	c->ack = ACK_LOSSY;
	c->loss_pct = 10;
	c->p.timestamps = true;
	connect_all();
	app_write(&conns[0], 3000);
	app_write(&conns[1], 3000);
	settle();
	for (int i = 0; i < 40; i++) {
		app_write(&conns[3], 2500);
		app_write(&conns[4], 4000);
		settle();
		run_for(700);
	}
	run_for(50u * 60u * 1000u); /* 50 minutes: past TCP_MAXRTX back-offs */
}

/* Persist: a zero window stops the sender, which probes with back-off;
 * the window opens later. A window smaller than the queued segment makes
 * the probe split it. A client that never answers the probes is dropped
 * after TCP_MAXRTX probes. */
static void sc_persist(void)
{
	struct conn *c;

	for (int k = 0; k < 4; k++)
		c = conn_new(k % 2 ? AF_INET6 : AF_INET);
	conns[1].p.wnd = 500; /* smaller than a segment from the start */
	conns[3].p.timestamps = true;
	connect_all();
	cl_stop_reading(&conns[0], 4000);
	cl_stop_reading(&conns[2], 3000);
	cl_stop_reading(&conns[3], 8000);
	for (int k = 0; k < 4; k++)
		app_write(&conns[k], 20000);
	run_for(2000);
	conns[2].ack = ACK_NONE; /* its window is closed; silent from now on */
	run_for(30000);
	cl_read(&conns[0]);
	run_for(5000);
	cl_read(&conns[3]);
	run_for(20u * 60u * 1000u);
	(void)c;
}

/* Closing states and their timeouts: FIN-WAIT-2 after a full close
 * (20 s), FIN-WAIT-2 after a half-close (no timeout; a timeout once the
 * application closes the rest), LAST-ACK with our
 * FIN never acknowledged, CLOSING (simultaneous close), FIN-WAIT-1 with
 * unacknowledged data, SYN-RCVD (handshake never completed). */
static void sc_close_states(void)
{
	for (int k = 0; k < 8; k++)
		conn_new(k % 2 ? AF_INET6 : AF_INET);
	conns[6].no_handshake = true;
	connect_all();
	/* 0: we close, the client acks our FIN and never sends its own */
	app_close(&conns[0]);
	/* 1: half-close; the client sends data and its FIN a minute later */
	app_shutdown_tx(&conns[1]);
	/* 2: the client closes, we close, our FIN is never acknowledged */
	conns[2].close_on_eof = true;
	cl_fin(&conns[2]);
	conns[2].ack = ACK_NONE;
	/* 3: both close at once; the client never acks our FIN */
	conns[3].ack = ACK_NONE;
	app_close(&conns[3]);
	cl_fin(&conns[3]);
	/* 4: data in flight when we close; the client goes silent */
	conns[4].ack = ACK_NONE;
	app_write(&conns[4], 3000);
	app_close(&conns[4]);
	/* 5: we close, the client acks and closes ten seconds later */
	app_close(&conns[5]);
	/* 7: half-close, idle in FIN-WAIT-2, then a full close 5 s later
	 * (from then on FIN-WAIT-2 times out) */
	app_shutdown_tx(&conns[7]);
	settle();
	run_for(5000);
	app_close(&conns[7]);
	run_for(5000);
	cl_fin(&conns[5]);
	run_for(50000);
	cl_data(&conns[1], 100);
	cl_fin(&conns[1]);
	run_for(30u * 60u * 1000u);
}

/* TIME-WAIT: entered when the client's FIN comes after our close; ends
 * after 2 MSL, which a FIN received in TIME-WAIT restarts. A connection
 * the application closed long before the client's FIN enters TIME-WAIT
 * already old (its timer runs from the last activity), so TIME-WAITs end
 * out of the order they began. Segments probe whether each is still
 * there (TIME-WAIT acks them; without it the listener answers RST). */
static void sc_time_wait(void)
{
	uint32_t t0, fin_at[8], fin_sent[8] = {0};

	for (int k = 0; k < 8; k++)
		conn_new(k % 2 ? AF_INET6 : AF_INET);
	conns[7].p.timestamps = true;
	connect_all();
	t0 = now;
	/* last activity, then our close: connection 7 first, 0 last */
	for (int k = 7; k >= 0; k--) {
		cl_data(&conns[k], 1);
		settle();
		app_close(&conns[k]);
		run_for(250);
	}
	/* the clients' FINs: connection 0 first, 7 last, so the oldest
	 * connections enter TIME-WAIT last */
	for (int k = 0; k < 8; k++)
		fin_at[k] = t0 + 2500 + 300 * (uint32_t)k;
	while (now < t0 + 14000) {
		for (int k = 0; k < 8; k++) {
			struct conn *c = &conns[k];
			if (!fin_sent[k]) {
				if (now >= fin_at[k]) {
					cl_fin(c);
					fin_sent[k] = now;
				}
				continue;
			}
			if (k == 1 && now == fin_sent[1] + 1500)
				cl_send(c, TW_ACK | TW_FIN, 0); /* FIN again: restarts TIME-WAIT */
			else if (k == 2 && now == fin_sent[2] + 1000)
				cl_send(c, TW_SYN, 0); /* SYN in TIME-WAIT */
			else if (k != 5)
				cl_data(c, 1); /* probe: acked in TIME-WAIT, RST after */
		}
		settle();
		run_for(250);
	}
}

/* Out-of-sequence data is dropped after TCP_OOSEQ_TIMEOUT RTOs without
 * activity; connections fill the gap at different times after it. */
static void sc_ooseq(void)
{
	for (int k = 0; k < 8; k++)
		conn_new(k % 2 ? AF_INET6 : AF_INET);
	connect_all();
	for (int k = 0; k < 8; k++)
		cl_data_ahead(&conns[k], 500, 300);
	settle();
	for (int k = 0; k < 8; k++) {
		run_for(3000);
		cl_data(&conns[k], 500);
	}
	run_for(30000);
}

/* The application's own timers: data it refuses is offered again by the
 * fast timer; poll callbacks; keepalive probes (answered, and not); held
 * data closing the window, then read. */
static void sc_app(void)
{
	struct conn *c;

	c = conn_new(AF_INET);
	c->recv = RECV_REFUSE;
	c->refuse_left = 5;
	c = conn_new(AF_INET6);
	c->poll_iv = 2;
	c = conn_new(AF_INET);
	c->keepalive = true;
	c = conn_new(AF_INET6);
	c->keepalive = true;
	c->ack = ACK_NONE;
	c = conn_new(AF_INET);
	c->recv = RECV_HOLD;
	c = conn_new(AF_INET);
	c->nagle = true;
	connect_all();
	cl_data(&conns[0], 200);
	for (int i = 0; i < 80; i++) {
		cl_data(&conns[4], 1400);
		settle();
		if (i % 10 == 0) {
			app_write(&conns[5], 10);
			app_write(&conns[5], 10);
		}
		run_for(100);
	}
	run_for(20000);
	app_read_held(&conns[4]);
	run_for(20u * 60u * 1000u);
}

/* Churn: connections open, move data both ways through a lossy client,
 * hold and read, close from either side, reset and abort, with random
 * pauses; decided by per-connection random numbers. */
static void sc_churn(void)
{
	enum { N = 40 };

	for (int k = 0; k < N; k++) {
		struct conn *c = conn_new(k % 2 ? AF_INET6 : AF_INET);
		c->p.timestamps = k % 4 == 1;
		c->ack = k % 5 == 0 ? ACK_LOSSY : ACK_ALL;
		c->loss_pct = 15;
		c->echo = k % 3 == 0;
		c->recv = k % 7 == 3 ? RECV_HOLD : RECV_EAGER;
		c->fin_on_fin = k % 2 == 0;
		c->close_on_eof = k % 3 != 2;
	}
	for (int step = 0; step < 3000; step++) {
		for (int k = 0; k < N; k++) {
			struct conn *c = &conns[k];
			uint32_t r = rnd(c) % 1000;

			if (c->cl == CL_NONE) {
				if (r < 20)
					cl_connect(c);
				continue;
			}
			if (c->cl != CL_OPEN)
				continue;
			if (r < 60)
				cl_data(c, 1 + rnd(c) % 1400);
			else if (r < 90)
				app_write(c, 1 + rnd(c) % 8000);
			else if (r < 95)
				app_read_held(c);
			else if (r < 97)
				cl_window(c, (uint16_t)(rnd(c) % 2 ? 0 : 65535));
			else if (r < 99)
				cl_fin(c);
			else if (r < 1000 && r >= 998)
				app_close(c);
			else if (r == 997)
				cl_rst(c);
			else if (r == 996)
				app_abort(c);
			else if (r == 995)
				cl_data_ahead(c, 700, 100);
		}
		settle();
		run_for(50);
	}
	run_for(10u * 60u * 1000u);
}

static const struct {
	const char *name;
	void (*run)(void);
} scenarios[] = {
        {"delayed_ack", sc_delayed_ack},
        {"rto", sc_rto},
        {"persist", sc_persist},
        {"close_states", sc_close_states},
        {"time_wait", sc_time_wait},
        {"ooseq", sc_ooseq},
        {"app", sc_app},
        {"churn", sc_churn},
};

int main(int argc, char **argv)
{
	size_t i;

	if (argc != 3 || strcmp(argv[1], "--dump") != 0) {
		fprintf(stderr, "usage: %s --dump SCENARIO\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (!strcmp(scenarios[i].name, argv[2]))
			break;
	if (i == sizeof(scenarios) / sizeof(scenarios[0])) {
		fprintf(stderr, "%s: no scenario %s\n", argv[0], argv[2]);
		return 2;
	}
	lwip_up();
	scenarios[i].run();
	settle();
	qsort(ev, nev, sizeof(*ev), ev_cmp);
	for (size_t k = 0; k < nev; k++)
		printf("%u %d %s\n", ev[k].t, ev[k].conn, ev[k].text);
	return lwip_ok ? 0 : 3;
}
