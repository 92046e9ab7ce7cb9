/* SPDX-License-Identifier: MIT */
/* tunplug — a held upstream TCP connect with an optional protocol phase
 * (see upconn.h).
 *
 * Lifetime: a struct tp_upconn lives until every reference is gone: the
 * flow link (until the flow is decided or closed), the socket handle while
 * it is ours (until its close callback), the timer (until its close
 * callback), the connect request and each write request (until their
 * callbacks, which libuv always runs, with UV_ECANCELED after uv_close).
 * Callbacks without a request of their own (timer, read) take a temporary
 * reference while they work.
 *
 * Byte-exact answers: the read buffer handed to libuv is never larger than
 * what proto->want says the current answer may still take, so the read
 * that completes it stops right at its end and the tunnel's first bytes
 * stay in the socket for the splice. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "names.h"
#include "tunplug/text.h"
#include "upconn.h"

struct tp_upconn {
	const struct tp_host *host;
	struct tp_flow *flow; /* NULL once the host no longer expects us */
	uv_tcp_t *tcp;        /* heap; ours until handed to flow_splice */
	uv_timer_t timer;
	uv_connect_t creq;
	uv_getaddrinfo_t gai; /* by name: the lookup */
	unsigned refs;
	bool resolving;  /* gai is pending (its callback holds a ref) */
	bool timer_live; /* initialised and not yet closing */
	bool to_is_proxy;
	bool keep;        /* keep mode: proto->on_end */
	bool established; /* keep mode: the exchange is over */
	const char *who;
	char *name;                 /* by name: ours (freed with c) */
	const char *counter;        /* by name: the counters' prefix */
	struct sockaddr_storage to; /* by name: port and preferred family */
	const struct tp_upconn_proto *proto;
	void *ud;
	char *ans; /* proto->answer_max bytes after data */
	size_t ans_len;
	max_align_t data[];
};

struct send_req {
	uv_write_t req;
	struct tp_upconn *c;
	char data[];
};

static void conn_unref(struct tp_upconn *c)
{
	if (--c->refs == 0) {
		free(c->name);
		free(c);
	}
}

static void on_timer_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void on_tcp_closed(uv_handle_t *h)
{
	struct tp_upconn *c = h->data;

	free(h);
	conn_unref(c);
}

/* Close whatever handles are still ours; each close callback drops its ref. */
static void conn_teardown(struct tp_upconn *c)
{
	if (c->resolving)
		/* queued: its callback runs with UV_ECANCELED; running: it
		 * finishes and finds no flow. Either way it drops its ref. */
		(void)uv_cancel((uv_req_t *)&c->gai);
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
static void conn_detach(struct tp_upconn *c)
{
	struct tp_flow *f = c->flow;

	if (!f)
		return;
	c->flow = NULL;
	if (!c->keep)
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

/* Log a failure (the handler's on_error, or ours) and say what it means. */
static int conn_error(struct tp_upconn *c, enum tp_upconn_event ev, int status)
{
	const struct tp_host *host = c->host;
	int level = c->to_is_proxy ? TP_LOG_WARN : TP_LOG_DEBUG;

	if (c->proto && c->proto->on_error)
		return c->proto->on_error(c, c->ud, ev, status);
	switch (ev) {
	case TP_UPCONN_CONNECT:
		if (c->to_is_proxy) {
			host->log(host, TP_LOG_WARN, "%s: cannot connect: %s", c->who,
			          uv_strerror(status));
			return -ECONNREFUSED;
		}
		host->log(host, TP_LOG_DEBUG, "%s: connect failed: %s", c->who,
		          uv_strerror(status));
		break;
	case TP_UPCONN_SEND:
		host->log(host, level, "%s: send failed: %s", c->who, uv_strerror(status));
		break;
	case TP_UPCONN_RECV:
		if (c->established) {
			host->log(host, TP_LOG_DEBUG, "%s: connection ended: %s", c->who,
			          status == UV_EOF ? "end of stream" : uv_strerror(status));
			return 0;
		}
		host->log(host, level, "%s: connection closed before an answer: %s", c->who,
		          status == UV_EOF ? "end of stream" : uv_strerror(status));
		break;
	case TP_UPCONN_TIMEOUT:
		host->log(host, level, "%s: no %s within %llu ms", c->who,
		          c->proto ? "connection and answer" : "connection",
		          (unsigned long long)host->connect_timeout_ms);
		return -ETIMEDOUT;
	}
	return map_error(status);
}

/* Refuse the flow (keep mode: tell the handler). The caller holds a
 * reference. */
static void conn_fail(struct tp_upconn *c, int err)
{
	struct tp_flow *f = c->flow;

	if (!f)
		return;
	conn_detach(c);
	conn_teardown(c);
	if (c->keep)
		c->proto->on_end(c, c->ud, err);
	else
		c->host->flow_decide(f, err); /* the host calls flow_close later: slot empty */
}

/* Accept the flow and hand the socket over (keep mode: keep it). The
 * caller holds a reference. */
static void conn_succeed(struct tp_upconn *c)
{
	struct tp_flow *f = c->flow;
	uv_tcp_t *tcp = c->tcp;

	if (!f || !tcp)
		return;
	if (c->keep) {
		c->established = true;
		uv_timer_stop(&c->timer);
		return;
	}
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

/* How much the answer may still take: 0 when it is complete. */
static size_t answer_want(struct tp_upconn *c)
{
	return c->proto->want(c, c->ud, c->ans, c->ans_len);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tp_upconn *c = h->data;
	size_t want;

	(void)suggested;
	if (c->established) {
		/* keep mode: what the connection sends now is dropped; the
		 * answer buffer is no longer needed, so it takes it */
		*buf = uv_buf_init(c->ans, (unsigned)c->proto->answer_max);
		return;
	}
	want = answer_want(c);
	if (want > c->proto->answer_max - c->ans_len)
		want = c->proto->answer_max - c->ans_len;
	*buf = uv_buf_init(c->ans + c->ans_len, (unsigned)want);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tp_upconn *c = s->data;
	int r;

	(void)buf;
	if (!c->flow || nread == 0)
		return;
	c->refs++;
	if (nread < 0) {
		r = 0;
		if (nread == UV_EOF && !c->established && c->proto->on_eof)
			r = c->proto->on_eof(c, c->ud, c->ans, c->ans_len);
		conn_fail(c, r < 0 ? r : conn_error(c, TP_UPCONN_RECV, (int)nread));
		goto out;
	}
	if (c->established)
		goto out; /* keep mode: nothing to say */
	c->ans_len += (size_t)nread;
	if (answer_want(c) && c->ans_len < c->proto->answer_max)
		goto out;
	r = c->proto->on_answer(c, c->ud, c->ans, c->ans_len);
	c->ans_len = 0;
	if (r < 0)
		conn_fail(c, r);
	else if (r == TP_UPCONN_DONE)
		conn_succeed(c);
out:
	conn_unref(c);
}

static void on_write(uv_write_t *req, int status)
{
	struct send_req *r = (struct send_req *)req;
	struct tp_upconn *c = r->c;

	free(r);
	if (c->flow && status < 0 && status != UV_ECANCELED)
		conn_fail(c, conn_error(c, TP_UPCONN_SEND, status));
	conn_unref(c); /* the request's ref */
}

int tp_upconn_send(struct tp_upconn *c, const void *buf, size_t len)
{
	struct send_req *r = malloc(sizeof(*r) + len);
	uv_buf_t b;
	int ret;

	if (!r)
		return UV_ENOMEM;
	memcpy(r->data, buf, len);
	r->c = c;
	b = uv_buf_init(r->data, (unsigned)len);
	ret = uv_write(&r->req, (uv_stream_t *)c->tcp, &b, 1, on_write);
	if (ret) {
		free(r);
		return ret;
	}
	c->refs++;
	return 0;
}

static void on_connect(uv_connect_t *req, int status)
{
	struct tp_upconn *c = req->data;
	int ret = 0;

	if (!c->flow || status == UV_ECANCELED) {
		conn_unref(c); /* the request's ref; teardown is under way */
		return;
	}
	if (status < 0) {
		conn_fail(c, conn_error(c, TP_UPCONN_CONNECT, status));
		goto out;
	}
	if (!c->proto) {
		conn_succeed(c);
		goto out;
	}
	if (c->proto->on_connect)
		ret = c->proto->on_connect(c, c->ud);
	if (ret < 0) {
		conn_fail(c, ret);
	} else if (c->flow) {
		ret = uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read);
		if (ret)
			conn_fail(c, conn_error(c, TP_UPCONN_RECV, ret));
	}
out:
	conn_unref(c); /* the request's ref */
}

static void on_timeout(uv_timer_t *t)
{
	struct tp_upconn *c = t->data;

	if (!c->flow)
		return;
	c->refs++;
	conn_fail(c, conn_error(c, TP_UPCONN_TIMEOUT, 0));
	conn_unref(c);
}

/* Open a protected socket for `to` and start connecting (c's tcp handle
 * and the connect request take their refs). 0 or -errno; a socket that
 * could not be handed to a handle is closed here. */
static int conn_connect(struct tp_upconn *c, const struct sockaddr_storage *to)
{
	const struct tp_host *host = c->host;
	int family = to->ss_family;
	int fd, ret;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = host->protect(host, fd, family);
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
	c->creq.data = c;
	ret = uv_tcp_connect(&c->creq, c->tcp, (const struct sockaddr *)to, on_connect);
	if (ret)
		goto out;
	c->refs++;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Count a lookup's outcome as "<counter>.names_(un)resolved". */
static void count_lookup(const struct tp_upconn *c, bool ok)
{
	char name[80];

	snprintf(name, sizeof(name), "%s.names_%s", c->counter ? c->counter : "upconn",
	         ok ? "resolved" : "unresolved");
	c->host->counter_add(c->host, name, 1);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct tp_upconn *c = req->data;
	const struct tp_host *host = c->host;
	char addr[TP_SOCKADDR_STRLEN];
	struct sockaddr_storage to;
	int ret = -ENOENT;

	c->resolving = false;
	if (!c->flow || status == UV_ECANCELED)
		goto out; /* decided or closed meanwhile: teardown is under way */
	if (status == 0)
		ret = tp_name_pick(res, c->to.ss_family,
		                   tp_sockaddr_port((struct sockaddr *)&c->to), &to);
	count_lookup(c, ret == 0);
	if (ret) {
		host->log(host, TP_LOG_DEBUG, "%s: cannot resolve %s: %s", c->who, c->name,
		          status ? uv_strerror(status) : "no IPv4 or IPv6 address");
		conn_fail(c, -EHOSTUNREACH);
		goto out;
	}
	tp_sockaddr_str((const struct sockaddr *)&to, addr, sizeof(addr));
	host->log(host, TP_LOG_DEBUG, "%s: %s is %s", c->who, c->name, addr);
	ret = conn_connect(c, &to);
	if (ret)
		conn_fail(c, conn_error(c, TP_UPCONN_CONNECT, ret));
out:
	uv_freeaddrinfo(res);
	conn_unref(c); /* the lookup's ref */
}

int tp_upconn_start(const struct tp_host *host, struct tp_flow *f, const struct tp_upconn_req *r,
                    struct tp_upconn **out)
{
	int family = r->to->sa_family;
	socklen_t tolen =
	        family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	size_t dsize = (r->data_size + sizeof(max_align_t) - 1) / sizeof(max_align_t);
	struct addrinfo hints;
	struct tp_upconn *c;
	int ret;

	c = calloc(1, sizeof(*c) + dsize * sizeof(max_align_t) +
	                      (r->proto ? r->proto->answer_max : 0));
	if (!c)
		return -ENOMEM;
	memcpy(&c->to, r->to, tolen);
	c->refs = 1; /* ours while setting up; becomes the flow link */
	c->host = host;
	c->who = r->who;
	c->counter = r->counter;
	c->to_is_proxy = r->to_is_proxy;
	c->proto = r->proto;
	c->keep = r->proto && r->proto->on_end;
	c->ud = r->ud;
	c->ans = (char *)(c->data + dsize);
	if (r->data_size)
		memcpy(c->data, r->data, r->data_size);

	ret = uv_timer_init(host->loop, &c->timer);
	if (ret)
		goto out;
	c->timer.data = c;
	c->timer_live = true;
	c->refs++;

	if (r->name) {
		c->name = strdup(r->name);
		if (!c->name) {
			ret = -ENOMEM;
			goto out;
		}
		tp_name_hints(&hints);
		c->gai.data = c;
		ret = uv_getaddrinfo(host->loop, &c->gai, on_resolved, c->name, NULL, &hints);
		if (ret)
			goto out;
		c->resolving = true;
		c->refs++;
	} else {
		ret = conn_connect(c, &c->to);
		if (ret)
			goto out;
	}
	uv_timer_start(&c->timer, on_timeout, host->connect_timeout_ms, 0);

	c->flow = f;
	if (!c->keep)
		host->flow_set_data(f, c);
	if (out)
		*out = c;
	return TP_PENDING;

out:
	ret = conn_error(c, TP_UPCONN_CONNECT, ret);
	conn_teardown(c);
	conn_unref(c); /* the setup ref */
	return ret;
}

struct tp_flow *tp_upconn_flow(const struct tp_upconn *c)
{
	return c->flow;
}

void *tp_upconn_data(struct tp_upconn *c)
{
	return c->data;
}

void tp_upconn_cancel(struct tp_upconn *c)
{
	c->refs++;
	conn_detach(c);
	conn_teardown(c);
	conn_unref(c);
}

void tp_upconn_flow_close(const struct tp_host *host, struct tp_flow *f)
{
	struct tp_upconn *c = host->flow_get_data(f);

	if (c)
		tp_upconn_cancel(c); /* else decided already: nothing of ours is left */
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
