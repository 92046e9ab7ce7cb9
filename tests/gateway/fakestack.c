/* SPDX-License-Identifier: MIT */
/* tunplug tests — the fake stack flow API (see fakestack.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakestack.h"

struct fake_chunk {
	struct fake_chunk *next;
	size_t len, off;
	uint8_t data[];
};

static struct {
	struct tp_tcp_flow *tcp; /* every TCP flow (all_next) */
	struct tp_udp_flow *udp;
	unsigned misuse;
	uint32_t now;
	unsigned now_calls;
} fs;

static void misuse(const char *fn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void misuse(const char *fn, const char *fmt, ...)
{
	va_list ap;

	fs.misuse++;
	fprintf(stderr, "fakestack: misuse: %s: ", fn);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Is tf usable by the owner now? Counts a misuse if not. */
static bool tcp_ok(const struct tp_tcp_flow *tf, const char *fn)
{
	if (!tf) {
		misuse(fn, "NULL flow");
		return false;
	}
	if (tf->gone) {
		misuse(fn, "flow %p is gone (closed or rejected)", (const void *)tf);
		return false;
	}
	return true;
}

static bool udp_ok(const struct tp_udp_flow *uf, const char *fn)
{
	if (!uf) {
		misuse(fn, "NULL flow");
		return false;
	}
	if (uf->gone) {
		misuse(fn, "udp flow %p is gone", (const void *)uf);
		return false;
	}
	return true;
}

static int endpoint(struct tp_endpoint *e, const char *addr, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->port = port;
	if (inet_pton(AF_INET, addr, e->addr) == 1) {
		e->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, e->addr) == 1) {
		e->family = AF_INET6;
		return 0;
	}
	fprintf(stderr, "fakestack: bad address %s\n", addr);
	return -EINVAL;
}

static void rx_free(struct tp_tcp_flow *tf)
{
	struct fake_chunk *c, *next;

	for (c = tf->rx_head; c; c = next) {
		next = c->next;
		memset(c->data, 0xdd, c->len);
		free(c);
	}
	tf->rx_head = tf->rx_tail = NULL;
	tf->rx_bytes = 0;
}

/* Deliver `closed` once and mark the flow gone (the stack frees it). */
static void tcp_finish(struct tp_tcp_flow *tf, int err)
{
	tf->gone = true; /* from here, any call from the owner is misuse */
	tf->closed_fired = true;
	tf->closed_err = err;
	if (tf->ev && tf->ev->closed)
		tf->ev->closed(tf, tf->ud, err);
	rx_free(tf); /* after the event, as stack.c */
}

/* ---- the stack's API (tunplug/stack.h), as the relay uses it ---- */

void tp_stack_set_now(uint32_t now_ms)
{
	fs.now = now_ms;
	fs.now_calls++;
}

const struct tp_endpoint *tp_tcp_flow_src(const struct tp_tcp_flow *f)
{
	tcp_ok(f, __func__);
	return &f->src;
}

const struct tp_endpoint *tp_tcp_flow_dst(const struct tp_tcp_flow *f)
{
	tcp_ok(f, __func__);
	return &f->dst;
}

enum tp_tcp_state tp_tcp_flow_state(const struct tp_tcp_flow *f)
{
	tcp_ok(f, __func__);
	return f->state;
}

void tp_tcp_flow_set_events(struct tp_tcp_flow *f, const struct tp_tcp_events *ev, void *ud)
{
	if (!tcp_ok(f, __func__))
		return;
	f->ev = ev;
	f->ud = ud;
}

void tp_tcp_flow_accept(struct tp_tcp_flow *f)
{
	if (!tcp_ok(f, __func__))
		return;
	f->accepts++;
	if (f->state == TP_TCP_PENDING)
		f->state = TP_TCP_ACCEPTING;
}

void tp_tcp_flow_reject(struct tp_tcp_flow *f, int err)
{
	if (!tcp_ok(f, __func__))
		return;
	f->rejects++;
	if (f->state != TP_TCP_PENDING) {
		misuse(__func__, "flow is not PENDING");
		return;
	}
	f->reject_err = err;
	f->gone = true; /* freed at once; `closed` is not called */
	rx_free(f);
}

int tp_tcp_flow_peek(struct tp_tcp_flow *f, struct iovec *iov, int n)
{
	int i = 0;

	if (!tcp_ok(f, __func__))
		return 0;
	for (struct fake_chunk *c = f->rx_head; c && i < n; c = c->next, i++) {
		iov[i].iov_base = c->data + c->off;
		iov[i].iov_len = c->len - c->off;
	}
	return i;
}

size_t tp_tcp_flow_queued(const struct tp_tcp_flow *f)
{
	if (!tcp_ok(f, __func__))
		return 0;
	return f->rx_bytes;
}

void tp_tcp_flow_consume(struct tp_tcp_flow *f, size_t n)
{
	if (!tcp_ok(f, __func__))
		return;
	if (n > f->rx_bytes) {
		misuse(__func__, "%zu bytes, only %zu queued", n, f->rx_bytes);
		n = f->rx_bytes;
	}
	f->rx_bytes -= n;
	f->consumed += n;
	while (n) {
		struct fake_chunk *c = f->rx_head;
		size_t k = c->len - c->off;

		if (k > n) {
			memset(c->data + c->off, 0xdd, n); /* a stale pointer sees garbage */
			c->off += n;
			break;
		}
		n -= k;
		f->rx_head = c->next;
		if (!f->rx_head)
			f->rx_tail = NULL;
		memset(c->data, 0xdd, c->len);
		free(c);
	}
}

size_t tp_tcp_flow_send_space(const struct tp_tcp_flow *f)
{
	if (!tcp_ok(f, __func__))
		return 0;
	if (f->state == TP_TCP_PENDING || f->shut_wr)
		return 0;
	return f->space;
}

size_t tp_tcp_flow_send_unit(const struct tp_tcp_flow *f, size_t *wire)
{
	*wire = 0;
	if (!tcp_ok(f, __func__))
		return 0;
	return 0; /* no segment size: reads are not rounded */
}

size_t tp_tcp_flow_unacked(const struct tp_tcp_flow *f)
{
	if (!tcp_ok(f, __func__))
		return 0;
	return f->unacked;
}

long tp_tcp_flow_send(struct tp_tcp_flow *f, const void *buf, size_t len, bool more)
{
	size_t n;

	(void)more;
	if (!tcp_ok(f, __func__))
		return -EPIPE;
	if (f->state == TP_TCP_PENDING || f->shut_wr)
		return -EPIPE;
	n = len < f->space ? len : f->space;
	if (f->short_send) {
		if (n > f->short_send)
			n = f->short_send;
		f->short_send = 0;
	}
	if (f->sent_len + n > f->sent_cap) {
		size_t cap = f->sent_cap ? f->sent_cap : 4096;
		uint8_t *p;

		while (cap < f->sent_len + n)
			cap *= 2;
		p = realloc(f->sent, cap);
		if (!p)
			return -ENOMEM;
		f->sent = p;
		f->sent_cap = cap;
	}
	memcpy(f->sent + f->sent_len, buf, n);
	f->sent_len += n;
	f->space -= n;
	f->unacked += n;
	if (f->unacked > f->max_unacked)
		f->max_unacked = f->unacked;
	return (long)n;
}

void tp_tcp_flow_shutdown(struct tp_tcp_flow *f)
{
	if (!tcp_ok(f, __func__))
		return;
	f->shutdowns++;
	f->shut_wr = true;
}

void tp_tcp_flow_close(struct tp_tcp_flow *f, bool abort)
{
	if (!tcp_ok(f, __func__))
		return;
	f->closes++;
	/* as stack.c: a PENDING flow gets a RST; unread client data makes a
	 * clean close an abort */
	if (f->state == TP_TCP_PENDING || f->rx_bytes)
		abort = true;
	f->close_abort = abort;
	tcp_finish(f, abort ? -ECONNABORTED : 0);
}

const struct tp_endpoint *tp_udp_flow_src(const struct tp_udp_flow *f)
{
	udp_ok(f, __func__);
	return &f->src;
}

const struct tp_endpoint *tp_udp_flow_dst(const struct tp_udp_flow *f)
{
	udp_ok(f, __func__);
	return &f->dst;
}

void tp_udp_flow_set_events(struct tp_udp_flow *f, const struct tp_udp_events *ev, void *ud)
{
	if (!udp_ok(f, __func__))
		return;
	f->ev = ev;
	f->ud = ud;
}

static int udp_record(struct tp_udp_flow *f, const void *buf, size_t len)
{
	if (len > 65507)
		return -EMSGSIZE;
	f->sends++;
	f->sent_bytes += len;
	f->last_len = len < sizeof(f->last) ? len : sizeof(f->last);
	memcpy(f->last, buf, f->last_len);
	return 0;
}

int tp_udp_flow_send(struct tp_udp_flow *f, const void *buf, size_t len)
{
	if (!udp_ok(f, __func__))
		return -EPIPE;
	f->last_from_set = false;
	return udp_record(f, buf, len);
}

int tp_udp_flow_send_from(struct tp_udp_flow *f, const struct tp_endpoint *from, const void *buf,
                          size_t len)
{
	if (!udp_ok(f, __func__))
		return -EPIPE;
	f->last_from_set = true;
	f->last_from = *from;
	return udp_record(f, buf, len);
}

void tp_udp_flow_unreachable(struct tp_udp_flow *f, int err)
{
	if (!udp_ok(f, __func__))
		return;
	f->unreachables++;
	f->unreach_err = err;
}

static void udp_finish(struct tp_udp_flow *f, int err)
{
	f->gone = true;
	f->closed_fired = true;
	f->closed_err = err;
	if (f->ev && f->ev->closed)
		f->ev->closed(f, f->ud, err);
}

void tp_udp_flow_close(struct tp_udp_flow *f)
{
	if (!udp_ok(f, __func__))
		return;
	f->closes++;
	udp_finish(f, 0);
}

/* ---- the test's side ---- */

struct tp_tcp_flow *fake_tcp_new(const char *src, uint16_t sport, const char *dst, uint16_t dport,
                                 size_t space)
{
	struct tp_tcp_flow *tf = calloc(1, sizeof(*tf));

	if (!tf)
		return NULL;
	if (endpoint(&tf->src, src, sport) || endpoint(&tf->dst, dst, dport)) {
		free(tf);
		return NULL;
	}
	tf->state = TP_TCP_PENDING;
	tf->space = space;
	tf->all_next = fs.tcp;
	fs.tcp = tf;
	return tf;
}

void fake_tcp_established(struct tp_tcp_flow *tf)
{
	if (tf->gone || tf->state != TP_TCP_ACCEPTING) {
		misuse(__func__, "the test: flow not accepted (or gone)");
		return;
	}
	tf->state = TP_TCP_OPEN;
	if (tf->ev && tf->ev->established)
		tf->ev->established(tf, tf->ud);
}

void fake_tcp_client_send(struct tp_tcp_flow *tf, const void *buf, size_t len, size_t seg)
{
	const uint8_t *p = buf;

	if (tf->gone || tf->client_fin) {
		misuse(__func__, "the test: client data on a gone or finished flow");
		return;
	}
	if (!seg)
		seg = len;
	while (len) {
		size_t k = len < seg ? len : seg;
		struct fake_chunk *c = malloc(sizeof(*c) + k);

		if (!c)
			abort();
		c->next = NULL;
		c->len = k;
		c->off = 0;
		memcpy(c->data, p, k);
		if (tf->rx_tail)
			tf->rx_tail->next = c;
		else
			tf->rx_head = c;
		tf->rx_tail = c;
		tf->rx_bytes += k;
		tf->client_in += k;
		p += k;
		len -= k;
	}
	if (tf->ev && tf->ev->readable)
		tf->ev->readable(tf, tf->ud);
}

void fake_tcp_client_fin(struct tp_tcp_flow *tf)
{
	if (tf->gone || tf->client_fin) {
		misuse(__func__, "the test: FIN on a gone or finished flow");
		return;
	}
	tf->client_fin = true;
	if (tf->ev && tf->ev->eof)
		tf->ev->eof(tf, tf->ud);
}

void fake_tcp_ack(struct tp_tcp_flow *tf, size_t n)
{
	if (tf->gone)
		return;
	if (n > tf->unacked)
		n = tf->unacked;
	tf->unacked -= n;
	tf->space += n;
	if (tf->ev && tf->ev->writable && tp_tcp_flow_send_space(tf) > 0)
		tf->ev->writable(tf, tf->ud);
}

void fake_tcp_set_space(struct tp_tcp_flow *tf, size_t space, bool writable)
{
	if (tf->gone)
		return;
	tf->space = space;
	if (writable && tf->ev && tf->ev->writable && tp_tcp_flow_send_space(tf) > 0)
		tf->ev->writable(tf, tf->ud);
}

void fake_tcp_reset(struct tp_tcp_flow *tf, int err)
{
	if (tf->gone) {
		misuse(__func__, "the test: reset of a gone flow");
		return;
	}
	tcp_finish(tf, err);
}

struct tp_udp_flow *fake_udp_new(const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	struct tp_udp_flow *uf = calloc(1, sizeof(*uf));

	if (!uf)
		return NULL;
	if (endpoint(&uf->src, src, sport) || endpoint(&uf->dst, dst, dport)) {
		free(uf);
		return NULL;
	}
	uf->all_next = fs.udp;
	fs.udp = uf;
	return uf;
}

void fake_udp_datagram(struct tp_udp_flow *uf, const void *buf, size_t len)
{
	if (uf->gone) {
		misuse(__func__, "the test: datagram on a gone flow");
		return;
	}
	if (uf->ev && uf->ev->datagram)
		uf->ev->datagram(uf, uf->ud, buf, len);
}

void fake_udp_expire(struct tp_udp_flow *uf, int err)
{
	if (uf->gone) {
		misuse(__func__, "the test: expiry of a gone flow");
		return;
	}
	udp_finish(uf, err);
}

unsigned fake_misuse(void)
{
	return fs.misuse;
}

uint32_t fake_now(void)
{
	return fs.now;
}

unsigned fake_now_calls(void)
{
	return fs.now_calls;
}

void fake_free_all(void)
{
	while (fs.tcp) {
		struct tp_tcp_flow *tf = fs.tcp;

		fs.tcp = tf->all_next;
		rx_free(tf);
		free(tf->sent);
		free(tf);
	}
	while (fs.udp) {
		struct tp_udp_flow *uf = fs.udp;

		fs.udp = uf->all_next;
		free(uf);
	}
	memset(&fs, 0, sizeof(fs));
}
