/* SPDX-License-Identifier: MIT */
/* tunplug — the redirect handler: redirect://HOST:PORT sends every flow to
 * one fixed address instead of its original destination.
 *
 *   --handler redirect://198.19.1.1:8080
 *   --rule dst=10.9.0.0/16,handler=redirect://[fd00::5]:53
 *
 * TCP: like direct, the client's SYN is held until the connect to the fixed
 * address succeeded (then the flow is spliced to it), was refused (the
 * client gets a RST) or timed out (--connect-timeout).
 * UDP: one connected socket per flow to the fixed address, as direct does;
 * replies reach the client from the flow's original destination, ICMP
 * errors from the fixed address become ICMP errors toward the client.
 * HOST may be a name: it is resolved once at start-up. The fixed address
 * may be of the other family than a flow's. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "builtin.h"
#include "httpmsg.h"
#include "target.h"
#include "upconn.h"

struct redirect {
	const struct tp_host *host;
	struct sockaddr_storage to;
	char who[300]; /* "redirect HOST:PORT" for logs */
};

static int redirect_init(const struct tp_host *host, const struct tp_handler_args *args,
                         void **state)
{
	struct tp_target t;
	struct redirect *r;
	const char *why;
	char err[200];
	int ret;

	if (tp_target_parse(args->target, 0, 0, &t, err, sizeof(err))) {
		host->log(0, "redirect: %s (want redirect://HOST:PORT)", err);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	ret = tp_upconn_resolve(t.host, t.port, &r->to, &why);
	if (ret) {
		host->log(0, "redirect: %s: %s", t.host, why);
		free(r);
		return ret;
	}
	r->host = host;
	snprintf(r->who, sizeof(r->who), "redirect %s", args->target);
	*state = r;
	return 0;
}

static int redirect_tcp_accept(void *state, struct tp_flow *f)
{
	struct redirect *r = state;
	struct tp_upconn_req req = {
	        .who = r->who,
	        .to = (const struct sockaddr *)&r->to,
	};

	return tp_upconn_start(r->host, f, &req);
}

/* ---- UDP: one connected socket per flow (see direct.c) ---- */
#define UDP_QUEUE_MAX (256u * 1024u)

struct redirect_udp {
	const struct tp_host *host;
	struct tp_flow *flow; /* NULL once flow_close ran */
	uv_udp_t udp;
	size_t queued;
};

struct udp_send_req {
	uv_udp_send_t req;
	struct redirect_udp *u;
	size_t len;
	char data[];
};

static char udp_rxbuf[65536]; /* one loop thread; each datagram is consumed in its callback */

static void udp_closed(uv_handle_t *h)
{
	free(h->data);
}

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(udp_rxbuf, sizeof(udp_rxbuf));
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags)
{
	struct redirect_udp *u = h->data;

	if (!u->flow)
		return;
	if (nread < 0) {
		/* an ICMP error from the fixed address: the same toward the client */
		u->host->flow_unreachable(u->flow, (int)nread);
		return;
	}
	if (nread == 0 && !addr)
		return;
	if (flags & UV_UDP_PARTIAL)
		return;
	u->host->udp_send(u->flow, buf->base, (size_t)nread);
}

static void udp_sent(uv_udp_send_t *req, int status)
{
	struct udp_send_req *sr = (struct udp_send_req *)req;

	(void)status;
	sr->u->queued -= sr->len;
	free(sr);
}

static int udp_open(struct redirect *r, struct tp_flow *f, struct redirect_udp **out)
{
	struct redirect_udp *u = calloc(1, sizeof(*u));
	int family = r->to.ss_family;
	uv_os_fd_t fd;
	int ret;

	if (!u)
		return -ENOMEM;
	u->host = r->host;
	ret = uv_udp_init_ex(r->host->loop, &u->udp, (unsigned)family);
	if (ret) {
		free(u);
		return ret;
	}
	u->udp.data = u;
	ret = uv_fileno((uv_handle_t *)&u->udp, &fd);
	if (!ret)
		ret = r->host->protect(fd, family);
	if (!ret)
		ret = uv_udp_connect(&u->udp, (const struct sockaddr *)&r->to);
	if (!ret)
		ret = uv_udp_recv_start(&u->udp, udp_alloc, udp_recv);
	if (ret) {
		uv_close((uv_handle_t *)&u->udp, udp_closed);
		return ret;
	}
	u->flow = f;
	r->host->flow_set_data(f, u);
	*out = u;
	return 0;
}

static int redirect_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	struct redirect *r = state;
	struct redirect_udp *u = r->host->flow_get_data(f);
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	struct udp_send_req *sr;
	int ret;

	if (!u) {
		ret = udp_open(r, f, &u);
		if (ret) {
			r->host->log(3, "%s: udp socket: %s", r->who, uv_strerror(ret));
			return ret == UV_ENOENT ? -ENETUNREACH : ret;
		}
	}
	if (u->queued == 0) {
		ret = uv_udp_try_send(&u->udp, &b, 1, NULL);
		if (ret >= 0)
			return TP_OK;
		if (ret == UV_ECONNREFUSED)
			return -ECONNREFUSED; /* an earlier datagram drew port unreachable */
		if (ret != UV_EAGAIN && ret != UV_ENOBUFS)
			return TP_OK; /* this datagram is lost, the flow goes on */
	}
	if (u->queued + len > UDP_QUEUE_MAX)
		return TP_OK; /* dropped: the upstream socket is congested */
	sr = malloc(sizeof(*sr) + len);
	if (!sr)
		return TP_OK;
	memcpy(sr->data, buf, len);
	sr->u = u;
	sr->len = len;
	b = uv_buf_init(sr->data, (unsigned)len);
	if (uv_udp_send(&sr->req, &u->udp, &b, 1, NULL, udp_sent) != 0) {
		free(sr);
		return TP_OK;
	}
	u->queued += len;
	return TP_OK;
}

static void redirect_flow_close(void *state, struct tp_flow *f, int err)
{
	struct redirect *r = state;

	(void)err;
	if (r->host->flow_info(f)->proto == IPPROTO_UDP) {
		struct redirect_udp *u = r->host->flow_get_data(f);

		if (!u)
			return;
		u->flow = NULL;
		r->host->flow_set_data(f, NULL);
		uv_close((uv_handle_t *)&u->udp, udp_closed); /* pending sends: UV_ECANCELED */
		return;
	}
	tp_upconn_flow_close(r->host, f);
}

static void redirect_fini(void *state)
{
	free(state);
}

const struct tp_handler tp__handler_redirect = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = "redirect",
        .init = redirect_init,
        .tcp_accept = redirect_tcp_accept,
        .flow_close = redirect_flow_close,
        .fini = redirect_fini,
        .udp_datagram = redirect_udp_datagram,
};
