/* SPDX-License-Identifier: MIT */
/* tunplug — a held upstream TCP connect with an optional request/answer-head
 * handshake (see upconn.h).
 *
 * Lifetime (as in direct.c): a struct upconn lives until every reference is
 * gone: the flow link (until the flow is decided or closed), the socket
 * handle while it is ours (until its close callback), the timer (until its
 * close callback), the connect request and the write request (until their
 * callbacks, which libuv always runs, with UV_ECANCELED after uv_close).
 * Callbacks without a request of their own (timer, read) take a temporary
 * reference while they work.
 *
 * Byte-exact head: the read buffer handed to libuv is never larger than
 * the number of bytes that could still belong to the head (at most 4: the
 * longest suffix of what we have that starts "\r\n\r\n" tells how many are
 * missing), so the read that completes the head stops right at its end and
 * the tunnel's first bytes stay in the socket for the splice. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpmsg.h"
#include "upconn.h"

struct upconn {
	const struct tp_host *host;
	struct tp_flow *flow; /* NULL once the host no longer expects us */
	uv_tcp_t *tcp;        /* heap; ours until handed to flow_splice */
	uv_timer_t timer;
	uv_connect_t creq;
	uv_write_t wreq;
	unsigned refs;
	bool timer_live; /* initialised and not yet closing */
	bool to_is_proxy;
	const char *who;
	char *send;
	size_t send_len;
	int (*on_head)(void *ud, const char *buf, size_t len);
	void *ud;
	size_t head_len;
	char head[]; /* TP_UPCONN_HEAD_MAX bytes when on_head is set */
};

static void conn_unref(struct upconn *c)
{
	if (--c->refs == 0) {
		free(c->send);
		free(c);
	}
}

static void on_timer_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void on_tcp_closed(uv_handle_t *h)
{
	struct upconn *c = h->data;

	free(h);
	conn_unref(c);
}

/* Close whatever handles are still ours; each close callback drops its ref. */
static void conn_teardown(struct upconn *c)
{
	if (c->timer_live) {
		c->timer_live = false;
		uv_close((uv_handle_t *)&c->timer, on_timer_closed);
	}
	if (c->tcp) {
		/* cancels a pending connect or write: their callbacks run with
		 * UV_ECANCELED and drop their refs */
		uv_close((uv_handle_t *)c->tcp, on_tcp_closed);
		c->tcp = NULL;
	}
}

/* Drop the link between the flow and c (the data slot and its ref). */
static void conn_detach(struct upconn *c)
{
	struct tp_flow *f = c->flow;

	if (!f)
		return;
	c->flow = NULL;
	c->host->flow_set_data(f, NULL);
	conn_unref(c);
}

static int map_error(int status)
{
	switch (status) {
	case UV_ECONNREFUSED:
		return -ECONNREFUSED;
	case UV_ETIMEDOUT:
	case UV_ECANCELED:
		return -ETIMEDOUT;
	case UV_EHOSTUNREACH:
		return -EHOSTUNREACH;
	case UV_ENETUNREACH:
	case UV_EADDRNOTAVAIL:
	case UV_ENETDOWN:
		return -ENETUNREACH;
	case UV_ECONNRESET:
	case UV_EOF:
	case UV_EPIPE:
		return -ECONNRESET;
	default:
		if (status < 0 && status > -4000)
			return status; /* libuv's codes are -errno on Linux */
		return -ECONNREFUSED;
	}
}

/* Refuse the flow. The caller holds a reference. */
static void conn_fail(struct upconn *c, int err)
{
	struct tp_flow *f = c->flow;

	if (!f)
		return;
	conn_detach(c);
	conn_teardown(c);
	c->host->flow_decide(f, err); /* the host calls flow_close later: slot empty */
}

/* Accept the flow and hand the socket over. The caller holds a reference. */
static void conn_succeed(struct upconn *c)
{
	struct tp_flow *f = c->flow;
	uv_tcp_t *tcp = c->tcp;

	if (!f || !tcp)
		return;
	uv_read_stop((uv_stream_t *)tcp);
	/* from here the host owns and frees the socket (a write request
	 * still in flight keeps its own ref on c and finishes on it) */
	c->tcp = NULL;
	conn_unref(c); /* the socket handle's ref */
	conn_detach(c);
	conn_teardown(c); /* the timer */
	c->host->flow_decide(f, 0);
	/* flow_splice owns the stream even when it fails */
	(void)c->host->flow_splice(f, (uv_stream_t *)tcp);
}

static size_t head_want(const struct upconn *c)
{
	size_t want = tp_http_head_want(c->head, c->head_len);

	if (want > TP_UPCONN_HEAD_MAX - c->head_len)
		want = TP_UPCONN_HEAD_MAX - c->head_len;
	return want;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct upconn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->head + c->head_len, (unsigned)head_want(c));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct upconn *c = s->data;
	int r;

	(void)buf;
	if (!c->flow || nread == 0)
		return;
	c->refs++;
	if (nread < 0) {
		c->host->log(c->to_is_proxy ? 1 : 3, "%s: connection closed before an answer: %s",
		             c->who, nread == UV_EOF ? "end of stream" : uv_strerror((int)nread));
		conn_fail(c, map_error((int)nread));
		goto out;
	}
	c->head_len += (size_t)nread;
	if (c->head_len >= 4 && !memcmp(c->head + c->head_len - 4, "\r\n\r\n", 4)) {
		uv_read_stop(s);
		r = c->on_head(c->ud, c->head, c->head_len);
		if (r)
			conn_fail(c, r);
		else
			conn_succeed(c);
	} else if (c->head_len >= TP_UPCONN_HEAD_MAX) {
		c->host->log(1, "%s: answer head larger than %u bytes", c->who,
		             (unsigned)TP_UPCONN_HEAD_MAX);
		conn_fail(c, -ECONNRESET);
	}
out:
	conn_unref(c);
}

static void on_write(uv_write_t *req, int status)
{
	struct upconn *c = req->data;

	if (c->flow && status < 0 && status != UV_ECANCELED) {
		c->host->log(c->to_is_proxy ? 1 : 3, "%s: send failed: %s", c->who,
		             uv_strerror(status));
		conn_fail(c, map_error(status));
	}
	conn_unref(c); /* the request's ref */
}

static void on_connect(uv_connect_t *req, int status)
{
	struct upconn *c = req->data;
	int ret;

	if (!c->flow || status == UV_ECANCELED) {
		conn_unref(c); /* the request's ref; teardown is under way */
		return;
	}
	if (status < 0) {
		if (c->to_is_proxy) {
			c->host->log(1, "%s: cannot connect: %s", c->who, uv_strerror(status));
			conn_fail(c, -ECONNREFUSED);
		} else {
			c->host->log(3, "%s: connect failed: %s", c->who, uv_strerror(status));
			conn_fail(c, map_error(status));
		}
		goto out;
	}
	if (c->send_len) {
		uv_buf_t b = uv_buf_init(c->send, (unsigned)c->send_len);

		c->wreq.data = c;
		ret = uv_write(&c->wreq, (uv_stream_t *)c->tcp, &b, 1, on_write);
		if (ret) {
			conn_fail(c, map_error(ret));
			goto out;
		}
		c->refs++;
	}
	if (c->on_head) {
		ret = uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read);
		if (ret)
			conn_fail(c, map_error(ret));
	} else {
		conn_succeed(c);
	}
out:
	conn_unref(c); /* the request's ref */
}

static void on_timeout(uv_timer_t *t)
{
	struct upconn *c = t->data;

	if (!c->flow)
		return;
	c->host->log(c->to_is_proxy ? 1 : 3, "%s: no %s within %llu ms", c->who,
	             c->on_head ? "connection and answer" : "connection",
	             (unsigned long long)c->host->connect_timeout_ms);
	c->refs++;
	conn_fail(c, -ETIMEDOUT);
	conn_unref(c);
}

int tp_upconn_start(const struct tp_host *host, struct tp_flow *f, const struct tp_upconn_req *r)
{
	int family = r->to->sa_family;
	socklen_t tolen =
	        family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	struct sockaddr_storage to;
	struct upconn *c;
	int fd = -1;
	int ret;

	memset(&to, 0, sizeof(to));
	memcpy(&to, r->to, tolen);
	c = calloc(1, sizeof(*c) + (r->on_head ? TP_UPCONN_HEAD_MAX : 0));
	if (!c)
		return -ENOMEM;
	c->refs = 1; /* ours while setting up; becomes the flow link */
	c->host = host;
	c->who = r->who;
	c->to_is_proxy = r->to_is_proxy;
	c->on_head = r->on_head;
	c->ud = r->ud;
	if (r->send && r->send_len) {
		c->send = malloc(r->send_len);
		if (!c->send) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(c->send, r->send, r->send_len);
		c->send_len = r->send_len;
	}

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = host->protect(fd, family);
	if (ret)
		goto out;
	c->tcp = malloc(sizeof(*c->tcp));
	if (!c->tcp) {
		ret = -ENOMEM;
		goto out;
	}
	ret = uv_tcp_init(host->loop, c->tcp);
	if (ret) {
		free(c->tcp);
		c->tcp = NULL;
		goto out;
	}
	c->tcp->data = c;
	c->refs++;
	ret = uv_tcp_open(c->tcp, fd);
	if (ret)
		goto out;
	fd = -1; /* the handle owns it */
	uv_tcp_nodelay(c->tcp, 1);

	ret = uv_timer_init(host->loop, &c->timer);
	if (ret)
		goto out;
	c->timer.data = c;
	c->timer_live = true;
	c->refs++;

	c->creq.data = c;
	ret = uv_tcp_connect(&c->creq, c->tcp, (const struct sockaddr *)&to, on_connect);
	if (ret)
		goto out;
	c->refs++;
	uv_timer_start(&c->timer, on_timeout, host->connect_timeout_ms, 0);

	c->flow = f;
	host->flow_set_data(f, c);
	return TP_PENDING;

out:
	if (fd >= 0)
		close(fd);
	if (r->to_is_proxy)
		host->log(1, "%s: cannot connect: %s", r->who, uv_strerror(ret));
	conn_teardown(c);
	conn_unref(c); /* the setup ref */
	return r->to_is_proxy ? -ECONNREFUSED : map_error(ret);
}

void tp_upconn_flow_close(const struct tp_host *host, struct tp_flow *f)
{
	struct upconn *c = host->flow_get_data(f);

	if (!c)
		return; /* decided already: nothing of ours is left */
	c->refs++;
	conn_detach(c);
	conn_teardown(c);
	conn_unref(c);
}

int tp_upconn_resolve(const char *host, unsigned port, struct sockaddr_storage *out,
                      const char **why)
{
	struct addrinfo hints, *res = NULL;
	char serv[8];
	int ret;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	snprintf(serv, sizeof(serv), "%u", port);
	ret = getaddrinfo(host, serv, &hints, &res);
	if (ret == EAI_NONAME || ret == EAI_FAMILY) {
		/* AI_ADDRCONFIG hides literals of a family with no address yet */
		hints.ai_flags = AI_NUMERICSERV;
		ret = getaddrinfo(host, serv, &hints, &res);
	}
	if (ret) {
		*why = gai_strerror(ret);
		return -ENOENT;
	}
	if (res->ai_addrlen > sizeof(*out)) {
		freeaddrinfo(res);
		*why = "address too long";
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	*why = NULL;
	return 0;
}
