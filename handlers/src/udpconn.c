/* SPDX-License-Identifier: MIT */
/* tunplug — a UDP flow through a connected socket of its own (see
 * udpconn.h). */
#include <errno.h>
#include <stdlib.h>

#define UDPCONN_RCVBUF (4 << 20)
#include <string.h>

#include "udpconn.h"

struct udpconn {
	struct tp_udpconn_inst *ui; /* the handler instance's */
	struct tp_flow *flow;       /* NULL once flow_close ran */
	uv_udp_t udp;
	size_t queued; /* bytes in uv_udp_send */
};

struct send_req {
	uv_udp_send_t req;
	struct udpconn *u;
	size_t len;
	char data[];
};

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Every socket of an instance reads into the instance's one buffer: all run
 * on the loop thread and each datagram is consumed within on_recv (passed
 * on with udp_send, which copies), so the buffer is free again before the
 * next read. A closing socket reads no more, so fini may free it. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct udpconn *u = h->data;

	(void)suggested;
	*buf = uv_buf_init(u->ui->rxbuf, TP_UDPCONN_RXBUF);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
	struct udpconn *u = h->data;
	const struct tp_host *host = u->ui->host;

	if (!u->flow)
		return;
	if (nread < 0) {
		/* an ICMP error for the connected address (ECONNREFUSED,
		 * EHOSTUNREACH, ...): tell the client the same way */
		host->flow_unreachable(u->flow, (int)nread);
		return;
	}
	if (nread == 0 && !addr)
		return; /* nothing more to read */
	if (flags & UV_UDP_PARTIAL)
		return; /* cannot be: the buffer holds any datagram */
	host->udp_send(u->flow, buf->base, (size_t)nread);
}

static void on_sent(uv_udp_send_t *req, int status)
{
	struct send_req *r = (struct send_req *)req;

	(void)status; /* a lost datagram is UDP's normal failure */
	r->u->queued -= r->len;
	free(r);
}

/* Open the flow's socket: protect, connect, read. 0 or -errno. */
static int udp_open(struct tp_udpconn_inst *ui, struct tp_flow *f, const struct sockaddr *to,
                    struct udpconn **out)
{
	const struct tp_host *host = ui->host;
	struct udpconn *u = calloc(1, sizeof(*u));
	uv_os_fd_t fd;
	int ret;

	if (!u)
		return -ENOMEM;
	u->ui = ui;
	ret = uv_udp_init_ex(host->loop, &u->udp, to->sa_family);
	if (ret) {
		free(u);
		return ret;
	}
	u->udp.data = u;
	ret = uv_fileno((uv_handle_t *)&u->udp, &fd);
	if (!ret)
		ret = host->protect(host, fd, to->sa_family);
	if (!ret) {
		/* replies arrive in bursts faster than one loop iteration drains
		 * them; the 208 KiB default dropped a third of a 20 MB download
		 * (e2e_iperf_udp). The kernel caps it at net.core.rmem_max. */
		int rcv = UDPCONN_RCVBUF;
		(void)uv_recv_buffer_size((uv_handle_t *)&u->udp, &rcv);
		ret = uv_udp_connect(&u->udp, to);
	}
	if (!ret)
		ret = uv_udp_recv_start(&u->udp, on_alloc, on_recv);
	if (ret) {
		uv_close((uv_handle_t *)&u->udp, on_closed);
		return ret;
	}
	u->flow = f;
	host->flow_set_data(f, u);
	*out = u;
	return 0;
}

int tp_udpconn_inst_init(struct tp_udpconn_inst *ui, const struct tp_host *host)
{
	ui->host = host;
	ui->rxbuf = malloc(TP_UDPCONN_RXBUF);
	return ui->rxbuf ? 0 : -ENOMEM;
}

void tp_udpconn_inst_fini(struct tp_udpconn_inst *ui)
{
	free(ui->rxbuf);
	ui->rxbuf = NULL;
}

int tp_udpconn_datagram(struct tp_udpconn_inst *ui, struct tp_flow *f, const struct sockaddr *to,
                        const char *who, const void *buf, size_t len)
{
	const struct tp_host *host = ui->host;
	struct udpconn *u = host->flow_get_data(f);
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	struct send_req *r;
	int ret;

	if (!u) {
		ret = udp_open(ui, f, to, &u);
		if (ret) {
			host->log(host, TP_LOG_DEBUG, "%s: udp socket: %s", who, uv_strerror(ret));
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
			return TP_OK; /* e.g. EMSGSIZE: this datagram is lost, the flow goes on */
	}
	if (u->queued + len > TP_UDPCONN_QUEUE_MAX)
		return TP_OK; /* dropped: the upstream socket is congested */
	r = malloc(sizeof(*r) + len);
	if (!r)
		return TP_OK;
	memcpy(r->data, buf, len);
	r->u = u;
	r->len = len;
	b = uv_buf_init(r->data, (unsigned)len);
	if (uv_udp_send(&r->req, &u->udp, &b, 1, NULL, on_sent) != 0) {
		free(r);
		return TP_OK;
	}
	u->queued += len;
	return TP_OK;
}

void tp_udpconn_flow_close(struct tp_udpconn_inst *ui, struct tp_flow *f)
{
	const struct tp_host *host = ui->host;
	struct udpconn *u = host->flow_get_data(f);

	if (!u)
		return;
	u->flow = NULL;
	host->flow_set_data(f, NULL);
	uv_close((uv_handle_t *)&u->udp, on_closed); /* pending sends: UV_ECANCELED */
}
