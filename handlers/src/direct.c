/* SPDX-License-Identifier: MIT */
/* tunplug — the direct handler: connect to the flow's original destination
 * from the gateway host and relay both ways.
 *
 * The client's SYN is held (TP_PENDING) until the upstream connect has
 * succeeded, failed, or timed out, so the client sees the truth: a refused
 * port gets a RST, a silent one times out.
 *
 * Lifetime: a struct direct_conn lives until every reference is gone: the
 * flow link (until flow_close or hand-over), the timer handle (until its
 * close callback), the connect request (until its callback, which libuv
 * always runs, with UV_ECANCELED after uv_close) and the socket handle while
 * it is still ours (until its close callback). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "builtin.h"
#include "udpconn.h"

struct direct_conn {
	struct tp_flow *flow; /* NULL once the host no longer expects us */
	uv_tcp_t *tcp;        /* heap; ours until handed to flow_splice */
	uv_timer_t timer;
	uv_connect_t req;
	unsigned refs;
	bool timer_live; /* initialised and not yet closing */
};

static const struct tp_host *direct_host;

static void conn_unref(struct direct_conn *c)
{
	if (--c->refs == 0)
		free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void on_tcp_closed(uv_handle_t *h)
{
	struct direct_conn *c = h->data;

	free(h);
	conn_unref(c);
}

/* Close whatever handles are still ours; each close callback drops its ref. */
static void conn_teardown(struct direct_conn *c)
{
	if (c->timer_live) {
		c->timer_live = false;
		uv_close((uv_handle_t *)&c->timer, on_timer_closed);
	}
	if (c->tcp) {
		/* Cancels a pending connect: on_connect then runs with UV_ECANCELED. */
		uv_close((uv_handle_t *)c->tcp, on_tcp_closed);
		c->tcp = NULL;
	}
}

/* Drop the link between the flow and c (the flow's data slot and our ref). */
static void conn_detach(struct direct_conn *c)
{
	struct tp_flow *f = c->flow;

	if (!f)
		return;
	c->flow = NULL;
	direct_host->flow_set_data(f, NULL);
	conn_unref(c);
}

static int map_connect_error(int status)
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
		return -ENETUNREACH;
	case UV_ECONNRESET:
		return -ECONNRESET;
	case UV_EADDRNOTAVAIL:
	case UV_ENETDOWN:
		return -ENETUNREACH;
	default:
		/* On Linux libuv's codes are -errno; anything else is a refusal. */
		if (status < 0 && status > -4000)
			return status;
		return -ECONNREFUSED;
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	struct direct_conn *c = req->data;
	struct tp_flow *f = c->flow;
	uv_tcp_t *tcp;

	if (!f || status == UV_ECANCELED) {
		/* The flow went away first; teardown is already under way. */
		conn_unref(c); /* the request's ref */
		return;
	}
	uv_timer_stop(&c->timer);
	if (status < 0) {
		direct_host->log(3, "direct: connect failed: %s", uv_strerror(status));
		/* The host rejects the flow and calls direct_flow_close(), which
		 * tears c down; the request's ref keeps c alive until we return. */
		direct_host->flow_decide(f, map_connect_error(status));
		conn_unref(c);
		return;
	}

	/* Hand the socket over: from here the host owns and frees it. */
	tcp = c->tcp;
	c->tcp = NULL;
	conn_unref(c); /* the socket handle's ref */
	conn_detach(c);
	conn_teardown(c); /* closes the timer */
	direct_host->flow_decide(f, 0);
	/* flow_splice owns the stream even when it fails (it closes it and
	 * closes the flow), so there is nothing to undo here. */
	(void)direct_host->flow_splice(f, (uv_stream_t *)tcp);
	conn_unref(c); /* the request's ref */
}

static void on_timeout(uv_timer_t *t)
{
	struct direct_conn *c = t->data;
	struct tp_flow *f = c->flow;

	if (!f)
		return;
	direct_host->log(3, "direct: connect timed out after %llu ms",
	                 (unsigned long long)direct_host->connect_timeout_ms);
	c->refs++;
	direct_host->flow_decide(f, -ETIMEDOUT); /* -> direct_flow_close */
	conn_unref(c);
}

static int direct_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	(void)args;
	direct_host = host;
	*state = NULL;
	return 0;
}

static int direct_tcp_accept(void *state, struct tp_flow *f)
{
	const struct tp_flow_info *fi = direct_host->flow_info(f);
	int family = fi->dst.ss_family;
	struct direct_conn *c;
	int fd = -1;
	int ret;

	(void)state;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->refs = 1; /* ours while setting up; becomes the flow link */

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = direct_host->protect(fd, family);
	if (ret)
		goto out;

	c->tcp = malloc(sizeof(*c->tcp));
	if (!c->tcp) {
		ret = -ENOMEM;
		goto out;
	}
	ret = uv_tcp_init(direct_host->loop, c->tcp);
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

	ret = uv_timer_init(direct_host->loop, &c->timer);
	if (ret)
		goto out;
	c->timer.data = c;
	c->timer_live = true;
	c->refs++;

	c->req.data = c;
	ret = uv_tcp_connect(&c->req, c->tcp, (const struct sockaddr *)&fi->dst, on_connect);
	if (ret)
		goto out;
	c->refs++;
	uv_timer_start(&c->timer, on_timeout, direct_host->connect_timeout_ms, 0);

	c->flow = f;
	direct_host->flow_set_data(f, c);
	return TP_PENDING;

out:
	if (fd >= 0)
		close(fd);
	conn_teardown(c);
	conn_unref(c); /* the setup ref */
	return map_connect_error(ret);
}

/* UDP: one connected socket per flow to the original destination
 * (udpconn.h). */
static int direct_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	const struct tp_flow_info *fi = direct_host->flow_info(f);

	(void)state;
	return tp_udpconn_datagram(direct_host, f, (const struct sockaddr *)&fi->dst, "direct", buf,
	                           len);
}

static void direct_flow_close(void *state, struct tp_flow *f, int err)
{
	struct direct_conn *c = direct_host->flow_get_data(f);

	(void)state;
	(void)err;
	if (direct_host->flow_info(f)->proto == IPPROTO_UDP) {
		tp_udpconn_flow_close(direct_host, f);
		return;
	}
	if (!c)
		return; /* already spliced: the host owns everything */
	c->refs++;
	conn_detach(c);
	conn_teardown(c);
	conn_unref(c);
}

static void direct_fini(void *state)
{
	(void)state;
	direct_host = NULL;
}

const struct tp_handler tp__handler_direct = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = "direct",
        .init = direct_init,
        .tcp_accept = direct_tcp_accept,
        .flow_close = direct_flow_close,
        .fini = direct_fini,
        .udp_datagram = direct_udp_datagram,
};
