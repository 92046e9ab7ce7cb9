/* SPDX-License-Identifier: MIT */
/* tunplug — the dns handler: a forwarder for the client's UDP DNS queries.
 *
 * Spec "dns://ADDR:PORT,[ADDR6]:PORT,..." (what --dns-upstream builds). Every
 * datagram of a flow is one query, whatever its destination address: it is
 * validated (dnsmsg.c), then sent over UDP to an upstream from a fresh
 * socket (protect()ed, kernel-chosen random source port, the client's ID
 * kept). A try lasts DNS_TRY_MS; a failed try (timeout, ICMP error, send
 * error) moves to the next upstream, at most DNS_TRIES tries in all. Only an
 * answer with the query's ID and question is accepted; anything else on the
 * socket is ignored. An answer with TC=1 is fetched again over TCP from the
 * same upstream (2-byte length prefix). The answer goes back to the client
 * on the same flow; when every try failed the client gets SERVFAIL built
 * from its query (or, if only the TCP fetch failed, the truncated answer,
 * which is a valid one). Malformed queries get FORMERR when their header is
 * readable, and are dropped otherwise (responses are never answered).
 *
 * Fake-IP (the host's fake_ip_addr, --fake-ip): a QUERY for A or AAAA in
 * class IN of a plain host name is answered here, with the name's address
 * from the gateway's pool and the host's fake_ip_ttl; a family without a
 * pool gets NODATA (so the client never learns a real address that would
 * bypass the pool). Every other query is forwarded as above.
 *
 * Tries start at the upstream that answered last. At most DNS_MAX_INFLIGHT
 * queries per flow are outstanding; beyond that the client gets SERVFAIL.
 *
 * Lifetime: a struct dns_query has a reference for being live (linked into
 * its flow; dropped when it finishes or the flow closes), one for its timer
 * handle and one per socket (struct dns_sock) until that socket is freed. A
 * socket has a reference for its handle (until the close callback) and one
 * per request in flight (libuv runs every request's callback, with
 * UV_ECANCELED after uv_close). Callbacks of a query that is no longer live
 * (q->df == NULL) or of a socket that is no longer the query's current one
 * do nothing but drop references, so nothing touches a closed flow. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "builtin.h"
#include "dnsmsg.h"
#include "tunplug/text.h"

#define DNS_MAX_UP 16
#define DNS_TRY_MS 2000u     /* per UDP try */
#define DNS_TCP_MS 3000u     /* for the TCP fetch after TC=1 */
#define DNS_TRIES 3u         /* UDP tries per query, over the upstreams in turn */
#define DNS_MAX_INFLIGHT 64u /* outstanding queries per flow */
#define DNS_TCP_MAX (2 + 65535)
#define DNS_RXBUF 65536u /* any UDP answer fits */

struct dns_flow;

struct dns_state {
	const struct tp_host *host;
	uint8_t *rxbuf; /* DNS_RXBUF bytes: what every UDP socket reads into */
	struct sockaddr_storage up[DNS_MAX_UP];
	char up_str[DNS_MAX_UP][TP_SOCKADDR_STRLEN];
	size_t n_up;
	size_t preferred; /* the upstream that answered last */
	struct dns_flow *flows;
	struct {
		uint64_t queries, answered, tcp, servfail, tc_passed, formerr, dropped, overflow,
		        timeouts, mismatched, fake, fake_nodata;
	} n;
};

struct dns_query;

struct dns_flow {
	struct tp_flow *flow;
	struct dns_state *st;
	struct dns_flow *prev, *next; /* in st->flows */
	struct dns_query *queries;
	unsigned n_queries;
};

/* One socket of a try: UDP, or TCP for the fetch after TC=1. */
struct dns_sock {
	union {
		uv_handle_t h;
		uv_udp_t udp;
		uv_tcp_t tcp;
	} u;
	struct dns_query *q;
	unsigned refs;
	uv_udp_send_t sreq;
	uv_connect_t creq;
	uv_write_t wreq;
	uint8_t lenpfx[2];
	uint8_t *rbuf; /* TCP: length prefix + answer */
	size_t rlen;
};

struct dns_query {
	struct dns_flow *df; /* NULL once finished or the flow closed */
	struct dns_state *st;
	struct dns_query *prev, *next; /* in df->queries */
	unsigned refs;
	struct dnsmsg_query q;
	uint8_t *msg;
	size_t len;
	unsigned tries;
	size_t up; /* upstream of the current try */
	uint64_t t0;
	uv_timer_t timer;
	bool timer_live;
	struct dns_sock *udp, *tcp; /* the current try's sockets */
	uint8_t *tc_answer;         /* a matching truncated UDP answer */
	size_t tc_len;
	int last_err; /* why the last try failed (libuv code), 0 = mismatch */
};

static void start_try(struct dns_query *q);
static bool fake_answer(struct dns_state *st, struct tp_flow *f, const struct dnsmsg_query *dq);

/* ---- references ---- */

static void query_unref(struct dns_query *q)
{
	if (--q->refs)
		return;
	free(q->msg);
	free(q->tc_answer);
	free(q);
}

static void sock_unref(struct dns_sock *s)
{
	struct dns_query *q = s->q;

	if (--s->refs)
		return;
	free(s->rbuf);
	free(s);
	query_unref(q);
}

static void sock_closed(uv_handle_t *h)
{
	sock_unref(h->data);
}

static void timer_closed(uv_handle_t *h)
{
	query_unref(h->data);
}

/* Close a socket the query no longer uses; its callbacks become no-ops. */
static void sock_drop(struct dns_sock **sp)
{
	struct dns_sock *s = *sp;

	if (!s)
		return;
	*sp = NULL;
	uv_close(&s->u.h, sock_closed);
}

/* A socket with an uninitialised handle: the caller inits it, then sets refs. */
static struct dns_sock *sock_new(struct dns_query *q)
{
	struct dns_sock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->q = q;
	q->refs++;
	return s;
}

/* Free a socket whose handle init failed. */
static void sock_free_uninit(struct dns_sock *s)
{
	struct dns_query *q = s->q;

	free(s);
	query_unref(q);
}

/* ---- finishing ---- */

static void query_log(struct dns_query *q, const char *via, const void *ans, size_t len,
                      const char *why)
{
	struct dns_state *st = q->st;
	char name[1024], tb[16], rb[16];
	uint64_t ms = uv_now(st->host->loop) - q->t0;

	dnsmsg_name_str(q->q.qname, q->q.qname_len, name, sizeof(name));
	if (why)
		st->host->log(st->host, TP_LOG_DEBUG,
		              "dns: %s %s -> %s after %u tries (%s) in %llu ms", name,
		              dnsmsg_type_str(q->q.qtype, tb, sizeof(tb)),
		              dnsmsg_rcode_str(dnsmsg_rcode(ans, len), rb, sizeof(rb)), q->tries,
		              why, (unsigned long long)ms);
	else
		st->host->log(st->host, TP_LOG_DEBUG,
		              "dns: %s %s via %s %s -> %s%s (%zu bytes) in %llu ms", name,
		              dnsmsg_type_str(q->q.qtype, tb, sizeof(tb)), st->up_str[q->up], via,
		              dnsmsg_rcode_str(dnsmsg_rcode(ans, len), rb, sizeof(rb)),
		              dnsmsg_truncated(ans, len) ? " TC" : "", len, (unsigned long long)ms);
}

/* Unlink a live query from its flow and close its handles. */
static void query_finish(struct dns_query *q)
{
	struct dns_flow *df = q->df;

	if (!df)
		return;
	if (q->prev)
		q->prev->next = q->next;
	else
		df->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
	df->n_queries--;
	q->df = NULL;
	sock_drop(&q->udp);
	sock_drop(&q->tcp);
	if (q->timer_live) {
		q->timer_live = false;
		uv_close((uv_handle_t *)&q->timer, timer_closed);
	}
	query_unref(q); /* the live reference */
}

static void reply_servfail(struct dns_state *st, struct tp_flow *f, const struct dnsmsg_query *dq)
{
	uint8_t out[DNSMSG_HDR_LEN + DNSMSG_NAME_MAX + 4];
	size_t n = dnsmsg_build_servfail(dq, out, sizeof(out));

	st->n.servfail++;
	if (n)
		st->host->udp_send(f, out, n);
}

/* Every try failed: the truncated answer if there is one, else SERVFAIL. */
static void query_fail(struct dns_query *q)
{
	struct dns_state *st = q->st;
	char why[64];

	if (q->last_err == UV_ETIMEDOUT)
		snprintf(why, sizeof(why), "timed out");
	else if (q->last_err)
		snprintf(why, sizeof(why), "%s", uv_strerror(q->last_err));
	else
		snprintf(why, sizeof(why), "answer did not match the query");
	if (q->tc_answer && st->host->udp_send(q->df->flow, q->tc_answer, q->tc_len) == 0) {
		st->n.tc_passed++;
		query_log(q, "udp", q->tc_answer, q->tc_len, why);
	} else {
		uint8_t out[DNSMSG_HDR_LEN + DNSMSG_NAME_MAX + 4];
		size_t n = dnsmsg_build_servfail(&q->q, out, sizeof(out));

		reply_servfail(st, q->df->flow, &q->q);
		query_log(q, "", out, n, why);
	}
	query_finish(q);
}

static void query_answer(struct dns_query *q, const void *ans, size_t len, const char *via)
{
	struct dns_state *st = q->st;

	st->preferred = q->up;
	if (st->host->udp_send(q->df->flow, ans, len) != 0) {
		/* e.g. a TCP answer too large for a datagram */
		q->last_err = UV_EMSGSIZE;
		query_fail(q);
		return;
	}
	st->n.answered++;
	query_log(q, via, ans, len, NULL);
	query_finish(q);
}

/* The current try failed: close its sockets, go on with the next. */
static void try_failed(struct dns_query *q, int err)
{
	if (!q->df)
		return;
	q->last_err = err;
	if (err == UV_ETIMEDOUT)
		q->st->n.timeouts++;
	sock_drop(&q->udp);
	sock_drop(&q->tcp);
	uv_timer_stop(&q->timer);
	start_try(q);
}

static void on_timeout(uv_timer_t *t)
{
	struct dns_query *q = t->data;

	try_failed(q, UV_ETIMEDOUT);
}

/* ---- TCP, after a truncated UDP answer ---- */

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct dns_sock *s = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)s->rbuf + s->rlen, (unsigned)(DNS_TCP_MAX - s->rlen));
}

static void tcp_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct dns_sock *s = h->data;
	struct dns_query *q = s->q;
	size_t need;

	(void)buf;
	if (!q->df || s != q->tcp || nread == 0)
		return;
	if (nread < 0) {
		try_failed(q, nread == UV_EOF ? UV_ECONNRESET : (int)nread);
		return;
	}
	s->rlen += (size_t)nread;
	if (s->rlen < 2)
		return;
	need = 2 + (((size_t)s->rbuf[0] << 8) | s->rbuf[1]);
	if (s->rlen < need)
		return;
	if (!dnsmsg_match_answer(&q->q, s->rbuf + 2, need - 2)) {
		q->st->n.mismatched++;
		try_failed(q, 0);
		return;
	}
	q->st->n.tcp++;
	query_answer(q, s->rbuf + 2, need - 2, "tcp");
}

static void tcp_written(uv_write_t *req, int status)
{
	struct dns_sock *s = req->data;
	struct dns_query *q = s->q;

	if (status < 0 && status != UV_ECANCELED && q->df && s == q->tcp)
		try_failed(q, status);
	sock_unref(s);
}

static void tcp_connected(uv_connect_t *req, int status)
{
	struct dns_sock *s = req->data;
	struct dns_query *q = s->q;
	uv_buf_t b[2];
	int ret;

	if (status == UV_ECANCELED || !q->df || s != q->tcp) {
		sock_unref(s);
		return;
	}
	if (status < 0) {
		try_failed(q, status);
		sock_unref(s);
		return;
	}
	s->lenpfx[0] = (uint8_t)(q->len >> 8);
	s->lenpfx[1] = (uint8_t)q->len;
	b[0] = uv_buf_init((char *)s->lenpfx, 2);
	b[1] = uv_buf_init((char *)q->msg, (unsigned)q->len);
	s->wreq.data = s;
	ret = uv_write(&s->wreq, (uv_stream_t *)&s->u.tcp, b, 2, tcp_written);
	if (!ret) {
		s->refs++;
		ret = uv_read_start((uv_stream_t *)&s->u.tcp, tcp_alloc, tcp_read);
	}
	if (ret)
		try_failed(q, ret);
	sock_unref(s);
}

/* Open the TCP fetch to the current upstream. 0 or a libuv error. */
static int tcp_open(struct dns_query *q)
{
	const struct sockaddr_storage *up = &q->st->up[q->up];
	struct dns_sock *s = sock_new(q);
	int fd, ret;

	if (!s)
		return UV_ENOMEM;
	s->rbuf = malloc(DNS_TCP_MAX);
	if (!s->rbuf || uv_tcp_init(q->st->host->loop, &s->u.tcp) != 0) {
		free(s->rbuf);
		sock_free_uninit(s);
		return UV_ENOMEM;
	}
	s->u.h.data = s;
	s->refs = 1;
	q->tcp = s;
	fd = socket(up->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno; /* the caller's try_failed closes q->tcp */
	ret = q->st->host->protect(q->st->host, fd, up->ss_family);
	if (!ret)
		ret = uv_tcp_open(&s->u.tcp, fd);
	if (ret) {
		close(fd);
		return ret;
	}
	uv_tcp_nodelay(&s->u.tcp, 1);
	s->creq.data = s;
	ret = uv_tcp_connect(&s->creq, &s->u.tcp, (const struct sockaddr *)up, tcp_connected);
	if (ret)
		return ret;
	s->refs++;
	uv_timer_start(&q->timer, on_timeout, DNS_TCP_MS, 0);
	return 0;
}

/* ---- UDP ---- */

/* Every UDP socket of an instance reads into the instance's one buffer: all
 * run on the loop thread and each datagram is consumed within udp_recv (a
 * truncated answer kept for later is copied), so the buffer is free again
 * before the next read. A closing socket reads no more, so fini may free
 * it. */
static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct dns_sock *s = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)s->q->st->rxbuf, DNS_RXBUF);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags)
{
	struct dns_sock *s = h->data;
	struct dns_query *q = s->q;
	const uint8_t *ans = (const uint8_t *)buf->base;
	size_t len = nread > 0 ? (size_t)nread : 0;
	int ret;

	(void)addr;
	if (!q->df || s != q->udp)
		return;
	if (nread < 0) {
		try_failed(q, (int)nread); /* an ICMP error: refused, unreachable */
		return;
	}
	if (nread == 0 || (flags & UV_UDP_PARTIAL))
		return;
	if (!dnsmsg_match_answer(&q->q, ans, len)) {
		/* stale or forged: keep waiting for the real one */
		q->st->n.mismatched++;
		q->st->host->log(q->st->host, TP_LOG_DEBUG,
		                 "dns: ignored a %zu-byte datagram from %s that does not "
		                 "answer the query",
		                 len, q->st->up_str[q->up]);
		return;
	}
	if (!dnsmsg_truncated(ans, len)) {
		query_answer(q, ans, len, "udp");
		return;
	}
	/* TC=1: keep it as a last resort, fetch the whole answer over TCP */
	free(q->tc_answer);
	q->tc_answer = malloc(len);
	if (q->tc_answer) {
		memcpy(q->tc_answer, ans, len);
		q->tc_len = len;
	}
	sock_drop(&q->udp);
	uv_timer_stop(&q->timer);
	ret = tcp_open(q);
	if (ret)
		try_failed(q, ret);
}

static void udp_sent(uv_udp_send_t *req, int status)
{
	struct dns_sock *s = req->data;
	struct dns_query *q = s->q;

	if (status < 0 && status != UV_ECANCELED && q->df && s == q->udp)
		try_failed(q, status);
	sock_unref(s);
}

/* A fresh UDP socket to the current upstream, the query sent. */
static int udp_open(struct dns_query *q)
{
	const struct sockaddr_storage *up = &q->st->up[q->up];
	struct dns_sock *s = sock_new(q);
	uv_buf_t b = uv_buf_init((char *)q->msg, (unsigned)q->len);
	uv_os_fd_t fd;
	int ret;

	if (!s)
		return UV_ENOMEM;
	ret = uv_udp_init_ex(q->st->host->loop, &s->u.udp, up->ss_family);
	if (ret) {
		sock_free_uninit(s);
		return ret;
	}
	s->u.h.data = s;
	s->refs = 1;
	q->udp = s;
	ret = uv_fileno(&s->u.h, &fd);
	if (!ret)
		ret = q->st->host->protect(q->st->host, fd, up->ss_family);
	if (!ret)
		ret = uv_udp_connect(&s->u.udp, (const struct sockaddr *)up);
	if (!ret)
		ret = uv_udp_recv_start(&s->u.udp, udp_alloc, udp_recv);
	if (ret)
		return ret;
	s->sreq.data = s;
	ret = uv_udp_send(&s->sreq, &s->u.udp, &b, 1, NULL, udp_sent);
	if (ret)
		return ret;
	s->refs++;
	return 0;
}

/* The next try, or the end: a try that cannot even start counts as failed. */
static void start_try(struct dns_query *q)
{
	struct dns_state *st = q->st;
	int ret;

	while (q->df) {
		if (q->tries >= DNS_TRIES) {
			query_fail(q);
			return;
		}
		q->up = (st->preferred + q->tries) % st->n_up;
		q->tries++;
		ret = udp_open(q);
		if (!ret) {
			uv_timer_start(&q->timer, on_timeout, DNS_TRY_MS, 0);
			return;
		}
		st->host->log(st->host, TP_LOG_DEBUG, "dns: cannot query %s: %s", st->up_str[q->up],
		              uv_strerror(ret));
		q->last_err = ret;
		sock_drop(&q->udp);
	}
}

/* ---- the handler ---- */

static int dns_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	struct dns_state *st = calloc(1, sizeof(*st));
	char bad[256];
	int n;

	if (!st)
		return -ENOMEM;
	st->host = host;
	st->rxbuf = malloc(DNS_RXBUF);
	if (!st->rxbuf) {
		free(st);
		return -ENOMEM;
	}
	n = dnsmsg_parse_upstreams(args->target, st->up, DNS_MAX_UP, bad, sizeof(bad));
	if (n < 1) {
		host->log(host, TP_LOG_ERROR,
		          "dns: \"%s\": bad upstream \"%s\" (want a comma-separated list of "
		          "ADDR:PORT or [ADDR6]:PORT, at most %d)",
		          args->spec ? args->spec : "", bad, DNS_MAX_UP);
		free(st->rxbuf);
		free(st);
		return -EINVAL;
	}
	st->n_up = (size_t)n;
	for (size_t i = 0; i < st->n_up; i++)
		tp_sockaddr_str((const struct sockaddr *)&st->up[i], st->up_str[i],
		                sizeof(st->up_str[i]));
	host->log(host, TP_LOG_INFO,
	          "dns: %zu upstream(s), first %s; %u tries of %u ms, TCP after TC", st->n_up,
	          st->up_str[0], DNS_TRIES, DNS_TRY_MS);
	*state = st;
	return 0;
}

static struct dns_flow *flow_get(struct dns_state *st, struct tp_flow *f)
{
	struct dns_flow *df = st->host->flow_get_data(f);

	if (df)
		return df;
	df = calloc(1, sizeof(*df));
	if (!df)
		return NULL;
	df->flow = f;
	df->st = st;
	df->next = st->flows;
	if (st->flows)
		st->flows->prev = df;
	st->flows = df;
	st->host->flow_set_data(f, df);
	return df;
}

static int dns_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	struct dns_state *st = state;
	struct dns_flow *df = flow_get(st, f);
	struct dnsmsg_query dq;
	struct dns_query *q;
	int r;

	if (!df)
		return -ENOMEM;
	st->n.queries++;
	r = dnsmsg_parse_query(buf, len, &dq);
	if (r == DNSMSG_DROP) {
		st->n.dropped++;
		return TP_OK;
	}
	if (r == DNSMSG_FORMERR) {
		uint8_t out[DNSMSG_HDR_LEN];
		size_t n = dnsmsg_build_formerr(buf, len, out, sizeof(out));

		st->n.formerr++;
		st->host->log(st->host, TP_LOG_DEBUG, "dns: malformed %zu-byte query: FORMERR",
		              len);
		if (n)
			st->host->udp_send(f, out, n);
		return TP_OK;
	}
	if (fake_answer(st, f, &dq))
		return TP_OK;
	if (df->n_queries >= DNS_MAX_INFLIGHT) {
		st->n.overflow++;
		reply_servfail(st, f, &dq);
		return TP_OK;
	}
	q = calloc(1, sizeof(*q));
	if (!q || !(q->msg = malloc(len))) {
		free(q);
		reply_servfail(st, f, &dq);
		return TP_OK;
	}
	memcpy(q->msg, buf, len);
	q->len = len;
	q->q = dq;
	q->st = st;
	q->refs = 1; /* live */
	q->t0 = uv_now(st->host->loop);
	if (uv_timer_init(st->host->loop, &q->timer) != 0) {
		query_unref(q);
		reply_servfail(st, f, &dq);
		return TP_OK;
	}
	q->timer.data = q;
	q->timer_live = true;
	q->refs++;
	q->df = df;
	q->next = df->queries;
	if (df->queries)
		df->queries->prev = q;
	df->queries = q;
	df->n_queries++;
	start_try(q);
	return TP_OK;
}

/* Has the host the fake-IP service (a 2.1 host with --fake-ip)? */
static bool fake_ip_on(const struct tp_host *h)
{
	return h->struct_size >= offsetof(struct tp_host, fake_ip_ttl) + sizeof(h->fake_ip_ttl) &&
	       h->fake_ip_addr;
}

static int host_addr(void *ctx, int family, const char *name, size_t len, void *addr)
{
	const struct tp_host *h = ctx;

	return h->fake_ip_addr(h, family, name, len, addr);
}

/* Answer an A/AAAA query from the pool. false: not ours, forward it. */
static bool fake_answer(struct dns_state *st, struct tp_flow *f, const struct dnsmsg_query *dq)
{
	const struct tp_host *h = st->host;
	uint8_t out[DNSMSG_HDR_LEN + DNSMSG_NAME_MAX + 4 + 12 + 16];
	char name[DNSMSG_NAME_MAX + 1], tb[16], as[64] = "NODATA";
	size_t n;
	int rc;

	if (!fake_ip_on(h))
		return false;
	n = dnsmsg_fake_answer(dq, host_addr, (void *)h, h->fake_ip_ttl, name, out, sizeof(out),
	                       &rc);
	if (!n)
		return false;
	if (rc == 0) {
		st->n.fake++;
		/* the answer's last bytes are the address */
		inet_ntop(dq->qtype == 1 ? AF_INET : AF_INET6, out + n - (dq->qtype == 1 ? 4 : 16),
		          as, sizeof(as));
	} else {
		st->n.fake_nodata++;
	}
	h->udp_send(f, out, n);
	h->log(h, TP_LOG_DEBUG, "dns: %s %s -> %s (fake-ip)", name,
	       dnsmsg_type_str(dq->qtype, tb, sizeof(tb)), as);
	return true;
}

static void flow_drop(struct dns_state *st, struct dns_flow *df)
{
	while (df->queries)
		query_finish(df->queries);
	if (df->prev)
		df->prev->next = df->next;
	else
		st->flows = df->next;
	if (df->next)
		df->next->prev = df->prev;
	st->host->flow_set_data(df->flow, NULL);
	free(df);
}

static void dns_flow_close(void *state, struct tp_flow *f, int err)
{
	struct dns_state *st = state;
	struct dns_flow *df = st->host->flow_get_data(f);

	(void)err;
	if (df)
		flow_drop(st, df);
}

static void dns_fini(void *state)
{
	struct dns_state *st = state;

	if (!st)
		return;
	/* the host closes every flow first; this is only a safety net */
	while (st->flows)
		flow_drop(st, st->flows);
	{
		char fake[96] = "";

		if (fake_ip_on(st->host))
			snprintf(fake, sizeof(fake), ", fake-ip answers %llu (nodata %llu)",
			         (unsigned long long)st->n.fake,
			         (unsigned long long)st->n.fake_nodata);
		st->host->log(
		        st->host, TP_LOG_INFO,
		        "dns: queries %llu, answered %llu (via tcp %llu), servfail %llu "
		        "(over the %u-per-flow limit %llu), truncated passed on %llu, formerr "
		        "%llu, dropped %llu, try timeouts %llu, mismatched answers %llu%s",
		        (unsigned long long)st->n.queries, (unsigned long long)st->n.answered,
		        (unsigned long long)st->n.tcp, (unsigned long long)st->n.servfail,
		        DNS_MAX_INFLIGHT, (unsigned long long)st->n.overflow,
		        (unsigned long long)st->n.tc_passed, (unsigned long long)st->n.formerr,
		        (unsigned long long)st->n.dropped, (unsigned long long)st->n.timeouts,
		        (unsigned long long)st->n.mismatched, fake);
	}
	free(st->rxbuf);
	free(st);
}

const struct tp_handler tp__handler_dns = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = "dns",
        .init = dns_init,
        .flow_close = dns_flow_close,
        .fini = dns_fini,
        .udp_datagram = dns_udp_datagram,
};
