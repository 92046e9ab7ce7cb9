/* SPDX-License-Identifier: MIT */
/* tunplug — the socks5 handler: relay flows through a SOCKS5 proxy
 * (RFC 1928; username/password auth, RFC 1929).
 *
 *   --handler socks5://[user:pass@]host:port     (host: IPv4, [IPv6] or a name
 *                                                resolved once at start-up)
 *
 * TCP: the client's SYN is held (TP_PENDING) while we connect to the proxy
 * (a protect()ed socket), negotiate the method, authenticate, and send
 * CONNECT for the flow's original destination. Every reply is read in exact
 * pieces (the read buffer is never larger than what the current message
 * still lacks), so the first payload byte after the CONNECT reply stays in
 * the socket for the host. Success: flow_decide(0) + flow_splice. Failure:
 * the client gets a RST with the errno the proxy's answer maps to. The whole
 * negotiation is bounded by host->connect_timeout_ms.
 *
 * UDP: per flow, a control connection doing UDP ASSOCIATE (kept open for the
 * flow's life; its end ends the flow) and a connected, protect()ed UDP socket
 * to the relay address of the reply (the proxy's own address when the reply
 * says 0.0.0.0 / ::). Datagrams carry the RFC 1928 UDP header; those that
 * arrive before the association is up are queued (bounded) and sent then.
 *
 * Lifetime (TCP, and the UDP control connection): a struct s5_conn lives until
 * every reference is gone: the flow link, the timer (until its close
 * callback), the connect request and each write request (until their
 * callbacks, which libuv always runs), and the socket handle while it is
 * still ours (until its close callback). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "builtin.h"
#include "socks5msg.h"

#define UDP_QUEUE_MAX (256u * 1024u) /* bytes in flight or waiting, per flow */
#define UDP_PENDING_MAX 64u          /* datagrams waiting for the association */

struct s5_inst {
	struct sockaddr_storage proxy;
	char label[336]; /* host:port as given (never the credentials) */
	struct tp_target spec;
};

enum s5_state {
	ST_CONNECT, /* TCP connect to the proxy */
	ST_METHOD,  /* greeting sent, waiting for the method choice */
	ST_AUTH,    /* RFC 1929 request sent */
	ST_REPLY,   /* CONNECT / UDP ASSOCIATE sent */
	ST_CONTROL, /* UDP: association up; the connection only signals its end */
};

struct s5_udp;

struct s5_conn {
	struct s5_inst *inst;
	struct tp_flow *flow; /* NULL once the host no longer expects us */
	struct s5_udp *u;     /* UDP: the association this connection controls */
	uv_tcp_t *tcp;        /* heap; ours until handed to flow_splice */
	uv_timer_t timer;
	uv_connect_t creq;
	uv_write_t wreq[3]; /* one per message: greeting, auth, request */
	unsigned refs;
	bool timer_live;
	enum s5_state st;
	size_t have, need;
	uint8_t in[S5_REPLY_MAX];
	uint8_t out_greet[4];
	uint8_t out_auth[S5_AUTH_MAX];
	uint8_t out_req[S5_REQUEST_MAX];
	char dst[64]; /* the flow's destination, for messages */
};

struct udp_pending {
	struct udp_pending *next;
	size_t len;
	uint8_t data[];
};

struct s5_udp {
	struct tp_flow *flow;
	struct s5_inst *inst;
	struct s5_conn *ctl; /* NULL once detached */
	uv_udp_t udp;
	bool udp_live; /* initialised; freed in its close callback */
	bool ready;
	struct sockaddr_storage relay;
	struct udp_pending *qhead, **qtail;
	size_t qcount;
	size_t queued; /* bytes waiting here or in uv_udp_send */
};

struct udp_send_req {
	uv_udp_send_t req;
	struct s5_udp *u;
	size_t len;
	uint8_t data[];
};

static const struct tp_host *s5_host;
static uint8_t udp_rxbuf[65536]; /* one loop thread; consumed in the callback */
static char ctl_scratch[64];     /* whatever a control connection sends */

static void fmt_addr(const struct sockaddr *sa, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(out, cap, "%s:%u", ip, ntohs(a->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(out, cap, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		snprintf(out, cap, "?");
	}
}

/* ---- connection lifetime ---- */

static void conn_unref(struct s5_conn *c)
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
	struct s5_conn *c = h->data;

	free(h);
	conn_unref(c);
}

/* Close whatever handles are still ours; each close callback drops its ref. */
static void conn_teardown(struct s5_conn *c)
{
	if (c->timer_live) {
		c->timer_live = false;
		uv_close((uv_handle_t *)&c->timer, on_timer_closed);
	}
	if (c->tcp) {
		/* Cancels a pending connect or write: their callbacks then run
		 * with UV_ECANCELED. */
		uv_close((uv_handle_t *)c->tcp, on_tcp_closed);
		c->tcp = NULL;
	}
}

/* Drop the link between the flow and c (TCP: the flow's data slot too). */
static void conn_detach(struct s5_conn *c)
{
	struct tp_flow *f = c->flow;

	if (!f)
		return;
	c->flow = NULL;
	if (!c->u)
		s5_host->flow_set_data(f, NULL);
	c->u = NULL;
	conn_unref(c);
}

/* ---- UDP association lifetime ---- */

static void udp_handle_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Forget the flow: close the control connection and the relay socket, drop
 * the queue; u is freed (now, or when its socket has closed). */
static void udp_end(struct s5_udp *u)
{
	struct s5_conn *c = u->ctl;
	struct udp_pending *p, *next;

	if (c) {
		u->ctl = NULL;
		c->refs++;
		conn_detach(c);
		conn_teardown(c);
		conn_unref(c);
	}
	for (p = u->qhead; p; p = next) {
		next = p->next;
		free(p);
	}
	u->qhead = NULL;
	u->qtail = &u->qhead;
	if (u->flow) {
		s5_host->flow_set_data(u->flow, NULL);
		u->flow = NULL;
	}
	if (u->udp_live)
		uv_close((uv_handle_t *)&u->udp, udp_handle_closed); /* sends: UV_ECANCELED */
	else
		free(u);
}

/* The association failed or its control connection ended: close the flow
 * (err != 0: tell the client with ICMP unreachable first). */
static void udp_fail(struct s5_udp *u, int err)
{
	struct tp_flow *f = u->flow;

	udp_end(u);
	if (!f)
		return;
	if (err)
		s5_host->flow_unreachable(f, err);
	s5_host->flow_close(f, false); /* our flow_close finds no data: nothing to do */
}

/* ---- failures ---- */

static void conn_fail(struct s5_conn *c, int level, int err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Log why (prefixed with the proxy), then refuse the flow with err. */
static void conn_fail(struct s5_conn *c, int level, int err, const char *fmt, ...)
{
	struct tp_flow *f = c->flow;
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!f)
		return;
	s5_host->log(level, "socks5 proxy %s: %s", c->inst->label, msg);
	c->refs++;
	if (c->u) {
		udp_fail(c->u, err); /* detaches and tears c down */
	} else {
		conn_detach(c);
		conn_teardown(c);
		/* The host rejects the flow (RST) and calls our flow_close
		 * later, which finds nothing left. */
		s5_host->flow_decide(f, err);
	}
	conn_unref(c);
}

/* ---- the negotiation ---- */

static void on_written(uv_write_t *req, int status)
{
	struct s5_conn *c = req->data;

	if (status < 0 && status != UV_ECANCELED && c->flow)
		conn_fail(c, 1, -ECONNRESET, "write: %s", uv_strerror(status));
	conn_unref(c); /* the request's ref */
}

static int conn_write(struct s5_conn *c, unsigned which, uint8_t *buf, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int ret;

	c->wreq[which].data = c;
	ret = uv_write(&c->wreq[which], (uv_stream_t *)c->tcp, &b, 1, on_written);
	if (ret == 0)
		c->refs++;
	return ret;
}

/* Send the next message and expect `need` bytes of answer. */
static void conn_next(struct s5_conn *c, enum s5_state st, unsigned which, uint8_t *buf, size_t len,
                      size_t need)
{
	int ret;

	c->st = st;
	c->have = 0;
	c->need = need;
	ret = conn_write(c, which, buf, len);
	if (ret)
		conn_fail(c, 1, -ECONNRESET, "write: %s", uv_strerror(ret));
}

static void send_request(struct s5_conn *c)
{
	const struct tp_flow_info *fi = s5_host->flow_info(c->flow);
	struct sockaddr_storage any;
	int n;

	if (c->u) {
		/* We do not know our UDP source yet: 0.0.0.0:0 / [::]:0. */
		memset(&any, 0, sizeof(any));
		any.ss_family = c->inst->proxy.ss_family;
		n = s5_build_request(c->out_req, S5_CMD_UDP_ASSOCIATE, (struct sockaddr *)&any);
	} else {
		n = s5_build_request(c->out_req, S5_CMD_CONNECT, (const struct sockaddr *)&fi->dst);
	}
	if (n < 0) {
		conn_fail(c, 1, -ECONNRESET, "cannot build the request: %s", strerror(-n));
		return;
	}
	conn_next(c, ST_REPLY, 2, c->out_req, (size_t)n, S5_REPLY_MIN);
}

static void udp_ready(struct s5_conn *c, const struct s5_reply *r);

/* The CONNECT / UDP ASSOCIATE reply is complete in c->in. */
static void on_reply(struct s5_conn *c)
{
	struct s5_reply r;
	struct tp_flow *f = c->flow;
	uv_tcp_t *tcp;
	int n = s5_parse_reply(c->in, c->have, &r);

	if (n < 0) {
		conn_fail(c, 1, -ECONNRESET, "malformed reply to %s",
		          c->u ? "UDP ASSOCIATE" : "CONNECT");
		return;
	}
	if (r.rep != S5_REP_OK) {
		int err = s5_rep_errno(r.rep);
		/* the destination's verdict is routine; anything else is the proxy's trouble */
		int level = (err == -ECONNRESET) ? 1 : 2;

		if (c->u)
			conn_fail(c, level, err, "UDP ASSOCIATE for %s: %s (reply %u)", c->dst,
			          s5_rep_str(r.rep), r.rep);
		else
			conn_fail(c, level, err, "CONNECT %s: %s (reply %u)", c->dst,
			          s5_rep_str(r.rep), r.rep);
		return;
	}
	if (c->u) {
		udp_ready(c, &r);
		return;
	}

	/* Hand the socket over: from here the host owns and frees it. Nothing
	 * beyond the reply has been read, so the stream starts with payload. */
	uv_read_stop((uv_stream_t *)c->tcp);
	s5_host->log(3, "socks5 proxy %s: CONNECT %s: connected", c->inst->label, c->dst);
	tcp = c->tcp;
	c->tcp = NULL;
	c->refs++;
	conn_unref(c); /* the socket handle's ref */
	conn_detach(c);
	conn_teardown(c); /* closes the timer */
	s5_host->flow_decide(f, 0);
	/* flow_splice owns the stream even when it fails. */
	(void)s5_host->flow_splice(f, (uv_stream_t *)tcp);
	conn_unref(c);
}

/* A message of the negotiation is complete in c->in[0..have). */
static void on_message(struct s5_conn *c)
{
	int m, ret;

	switch (c->st) {
	case ST_METHOD:
		m = s5_parse_method(c->in);
		if (m < 0) {
			conn_fail(c, 1, -ECONNRESET, "not a SOCKS5 server (version %u)", c->in[0]);
		} else if (m == S5_METHOD_NONE) {
			send_request(c);
		} else if (m == S5_METHOD_USERPASS && c->inst->spec.has_auth) {
			ret = s5_build_auth(c->out_auth, c->inst->spec.user, c->inst->spec.pass);
			if (ret < 0)
				conn_fail(c, 1, -ECONNRESET, "bad credentials");
			else
				conn_next(c, ST_AUTH, 1, c->out_auth, (size_t)ret, 2);
		} else if (m == S5_METHOD_NOACCEPT) {
			conn_fail(c, 1, -ECONNRESET, "no acceptable authentication method%s",
			          c->inst->spec.has_auth ? "" : " (credentials needed?)");
		} else {
			conn_fail(c, 1, -ECONNRESET,
			          "the proxy chose method %u, which we did not offer", m);
		}
		break;
	case ST_AUTH:
		ret = s5_parse_auth_reply(c->in);
		if (ret == -EACCES)
			conn_fail(c, 1, -ECONNRESET, "authentication failed (user \"%s\")",
			          c->inst->spec.user);
		else if (ret < 0)
			conn_fail(c, 1, -ECONNRESET, "bad authentication reply (version %u)",
			          c->in[0]);
		else
			send_request(c);
		break;
	case ST_REPLY:
		m = s5_reply_size(c->in, c->have);
		if (m < 0) {
			conn_fail(c, 1, -ECONNRESET,
			          "malformed reply (version %u, address type %u)", c->in[0],
			          c->in[3]);
		} else if ((size_t)m > c->have) {
			c->need = (size_t)m; /* the rest of the address, then the port */
		} else {
			on_reply(c);
		}
		break;
	default:
		break;
	}
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct s5_conn *c = h->data;

	(void)suggested;
	if (c->st == ST_CONTROL) {
		*buf = uv_buf_init(ctl_scratch, sizeof(ctl_scratch));
		return;
	}
	/* exactly what the current message still lacks, never more */
	*buf = uv_buf_init((char *)c->in + c->have, (unsigned)(c->need - c->have));
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct s5_conn *c = s->data;

	(void)buf;
	if (!c->flow || nread == 0)
		return;
	if (c->st == ST_CONTROL) {
		if (nread < 0 && c->u) {
			s5_host->log(3, "socks5 proxy %s: UDP association for %s ended: %s",
			             c->inst->label, c->dst,
			             nread == UV_EOF ? "closed by the proxy"
			                             : uv_strerror((int)nread));
			udp_fail(c->u, 0);
		}
		return; /* data on the control connection means nothing */
	}
	if (nread < 0) {
		conn_fail(c, 1, -ECONNRESET, "%s during the negotiation",
		          nread == UV_EOF ? "connection closed" : uv_strerror((int)nread));
		return;
	}
	c->have += (size_t)nread;
	if (c->have < c->need)
		return;
	c->refs++;
	on_message(c);
	conn_unref(c);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct s5_conn *c = req->data;
	size_t n;
	int ret;

	if (!c->flow || status == UV_ECANCELED) {
		conn_unref(c); /* the request's ref */
		return;
	}
	if (status < 0) {
		conn_fail(c, 1, -ECONNREFUSED, "connect: %s", uv_strerror(status));
		conn_unref(c);
		return;
	}
	ret = uv_read_start((uv_stream_t *)c->tcp, conn_alloc, conn_read);
	if (ret) {
		conn_fail(c, 1, -ECONNRESET, "read: %s", uv_strerror(ret));
		conn_unref(c);
		return;
	}
	n = s5_build_greeting(c->out_greet, c->inst->spec.has_auth);
	conn_next(c, ST_METHOD, 0, c->out_greet, n, 2);
	conn_unref(c);
}

static void on_timeout(uv_timer_t *t)
{
	struct s5_conn *c = t->data;
	static const char *const what[] = {[ST_CONNECT] = "connect",
	                                   [ST_METHOD] = "method negotiation",
	                                   [ST_AUTH] = "authentication",
	                                   [ST_REPLY] = "request",
	                                   [ST_CONTROL] = "control"};

	conn_fail(c, 1, -ETIMEDOUT, "%s %s: no answer within %llu ms (%s)",
	          c->u ? "UDP ASSOCIATE for" : "CONNECT", c->dst,
	          (unsigned long long)s5_host->connect_timeout_ms, what[c->st]);
}

/* A connection to the proxy for f (c->u set by the caller for UDP). The
 * returned c holds the flow link; 0 or -errno (c freed). */
static int conn_start(struct s5_inst *inst, struct tp_flow *f, struct s5_udp *u,
                      struct s5_conn **out)
{
	int family = inst->proxy.ss_family;
	struct s5_conn *c;
	int fd = -1;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->refs = 1; /* ours while setting up; becomes the flow link */
	c->inst = inst;
	c->u = u;
	c->st = ST_CONNECT;
	fmt_addr((const struct sockaddr *)&s5_host->flow_info(f)->dst, c->dst, sizeof(c->dst));

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = s5_host->protect(fd, family);
	if (ret)
		goto out;
	c->tcp = malloc(sizeof(*c->tcp));
	if (!c->tcp) {
		ret = -ENOMEM;
		goto out;
	}
	ret = uv_tcp_init(s5_host->loop, c->tcp);
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

	ret = uv_timer_init(s5_host->loop, &c->timer);
	if (ret)
		goto out;
	c->timer.data = c;
	c->timer_live = true;
	c->refs++;

	c->creq.data = c;
	ret = uv_tcp_connect(&c->creq, c->tcp, (const struct sockaddr *)&inst->proxy, on_connect);
	if (ret)
		goto out;
	c->refs++;
	uv_timer_start(&c->timer, on_timeout, s5_host->connect_timeout_ms, 0);
	c->flow = f;
	*out = c;
	return 0;

out:
	if (fd >= 0)
		close(fd);
	s5_host->log(1, "socks5 proxy %s: connect: %s", inst->label, strerror(-ret));
	c->u = NULL;
	conn_teardown(c);
	conn_unref(c); /* the setup ref */
	return ret;
}

/* ---- TCP ---- */

static int s5_tcp_accept(void *state, struct tp_flow *f)
{
	struct s5_conn *c;
	int ret = conn_start(state, f, NULL, &c);

	if (ret)
		return ret == -ENOMEM ? ret : -ECONNREFUSED;
	s5_host->flow_set_data(f, c);
	return TP_PENDING;
}

/* ---- UDP ---- */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init((char *)udp_rxbuf, sizeof(udp_rxbuf));
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

/* A datagram from the relay: unwrap and pass it to the client. */
static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags)
{
	struct s5_udp *u = h->data;
	const struct tp_flow_info *fi;
	struct sockaddr_storage from;
	size_t off = 0;
	int ret;

	(void)addr;
	if (!u->flow || nread <= 0 || (flags & UV_UDP_PARTIAL))
		return; /* an ICMP error from the relay, or nothing: UDP loses datagrams */
	ret = s5_udp_unwrap((const uint8_t *)buf->base, (size_t)nread, &from, &off);
	if (ret < 0) {
		s5_host->log(3, "socks5 proxy %s: dropped a %s datagram from the relay",
		             u->inst->label, ret == -EOPNOTSUPP ? "fragmented" : "malformed");
		return;
	}
	fi = s5_host->flow_info(u->flow);
	if (ret == 1 || same_addr(&from, &fi->dst))
		s5_host->udp_send(u->flow, buf->base + off, (size_t)nread - off);
	else if (from.ss_family == fi->dst.ss_family)
		s5_host->udp_send_from(u->flow, (const struct sockaddr *)&from, buf->base + off,
		                       (size_t)nread - off);
	/* else: a reply from the other family cannot reach this client */
}

static void udp_sent(uv_udp_send_t *req, int status)
{
	struct udp_send_req *r = (struct udp_send_req *)req;

	(void)status; /* a lost datagram is UDP's normal failure */
	r->u->queued -= r->len;
	free(r);
}

/* Wrap and send one datagram to the relay (u->ready). */
static void udp_relay(struct s5_udp *u, const void *buf, size_t len)
{
	const struct tp_flow_info *fi = s5_host->flow_info(u->flow);
	uint8_t hdr[S5_UDP_HDR_MAX];
	struct udp_send_req *r;
	uv_buf_t b[2];
	int hl = s5_udp_header(hdr, (const struct sockaddr *)&fi->dst);
	int ret;

	if (hl < 0)
		return;
	b[0] = uv_buf_init((char *)hdr, (unsigned)hl);
	b[1] = uv_buf_init((char *)buf, (unsigned)len);
	if (u->queued == 0) {
		ret = uv_udp_try_send(&u->udp, b, 2, NULL);
		if (ret >= 0 || (ret != UV_EAGAIN && ret != UV_ENOBUFS))
			return; /* sent, or lost (e.g. EMSGSIZE) */
	}
	if (u->queued + len > UDP_QUEUE_MAX)
		return; /* dropped: the path to the relay is congested */
	r = malloc(sizeof(*r) + (size_t)hl + len);
	if (!r)
		return;
	memcpy(r->data, hdr, (size_t)hl);
	memcpy(r->data + hl, buf, len);
	r->u = u;
	r->len = (size_t)hl + len;
	b[0] = uv_buf_init((char *)r->data, (unsigned)r->len);
	if (uv_udp_send(&r->req, &u->udp, b, 1, NULL, udp_sent) != 0) {
		free(r);
		return;
	}
	u->queued += r->len;
}

static bool addr_unspecified(const struct sockaddr_storage *ss)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (ss->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, &any6, sizeof(any6));
	return true; /* a name: use the proxy's address */
}

/* UDP ASSOCIATE succeeded: open the relay socket, send what waited. */
static void udp_ready(struct s5_conn *c, const struct s5_reply *r)
{
	struct s5_udp *u = c->u;
	struct udp_pending *p, *next;
	char relay[64];
	uv_os_fd_t fd;
	int ret;

	if (r->port == 0) {
		conn_fail(c, 1, -ECONNRESET, "UDP ASSOCIATE for %s: relay port 0", c->dst);
		return;
	}
	if (addr_unspecified(&r->bnd)) {
		u->relay = c->inst->proxy;
		if (u->relay.ss_family == AF_INET)
			((struct sockaddr_in *)&u->relay)->sin_port = htons(r->port);
		else
			((struct sockaddr_in6 *)&u->relay)->sin6_port = htons(r->port);
	} else {
		u->relay = r->bnd;
	}
	fmt_addr((const struct sockaddr *)&u->relay, relay, sizeof(relay));

	ret = uv_udp_init_ex(s5_host->loop, &u->udp, u->relay.ss_family);
	if (ret) {
		conn_fail(c, 1, -ECONNRESET, "UDP socket: %s", uv_strerror(ret));
		return;
	}
	u->udp.data = u;
	u->udp_live = true;
	ret = uv_fileno((uv_handle_t *)&u->udp, &fd);
	if (!ret)
		ret = s5_host->protect(fd, u->relay.ss_family);
	if (!ret)
		ret = uv_udp_connect(&u->udp, (const struct sockaddr *)&u->relay);
	if (!ret)
		ret = uv_udp_recv_start(&u->udp, udp_alloc, udp_recv);
	if (ret) {
		conn_fail(c, 1, -ECONNRESET, "UDP relay %s: %s", relay, uv_strerror(ret));
		return;
	}

	/* the control connection now only tells us when the association ends */
	c->st = ST_CONTROL;
	if (c->timer_live)
		uv_timer_stop(&c->timer);
	u->ready = true;
	s5_host->log(3, "socks5 proxy %s: UDP association for %s via relay %s", c->inst->label,
	             c->dst, relay);
	for (p = u->qhead; p; p = next) {
		next = p->next;
		u->queued -= p->len;
		if (u->flow)
			udp_relay(u, p->data, p->len);
		free(p);
	}
	u->qhead = NULL;
	u->qtail = &u->qhead;
	u->qcount = 0;
}

static int s5_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	struct s5_udp *u = s5_host->flow_get_data(f);
	struct udp_pending *p;
	int ret;

	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u)
			return -ENOMEM;
		u->inst = state;
		u->flow = f;
		u->qtail = &u->qhead;
		ret = conn_start(state, f, u, &u->ctl);
		if (ret) {
			free(u);
			return ret == -ENOMEM ? ret : -ECONNREFUSED;
		}
		s5_host->flow_set_data(f, u);
	}
	if (u->ready) {
		udp_relay(u, buf, len);
		return TP_OK;
	}
	if (u->qcount >= UDP_PENDING_MAX || u->queued + len > UDP_QUEUE_MAX)
		return TP_OK; /* dropped while the association is being set up */
	p = malloc(sizeof(*p) + len);
	if (!p)
		return TP_OK;
	p->next = NULL;
	p->len = len;
	memcpy(p->data, buf, len);
	*u->qtail = p;
	u->qtail = &p->next;
	u->qcount++;
	u->queued += len;
	return TP_OK;
}

/* ---- instance ---- */

static int resolve(const struct tp_target *s, struct sockaddr_storage *out)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
	struct addrinfo hints, *res = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s->host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(s->port);
		return 0;
	}
	if (inet_pton(AF_INET6, s->host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(s->port);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	ret = getaddrinfo(s->host, NULL, &hints, &res);
	if (ret || !res) {
		s5_host->log(0, "socks5: cannot resolve proxy \"%s\": %s", s->host,
		             ret ? gai_strerror(ret) : "no address");
		return -ENOENT;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	if (out->ss_family == AF_INET)
		a4->sin_port = htons(s->port);
	else
		a6->sin6_port = htons(s->port);
	freeaddrinfo(res);
	return 0;
}

static int s5_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	struct s5_inst *inst;
	char err[256], addr[64];
	struct in6_addr probe;
	int ret;

	s5_host = host;
	inst = calloc(1, sizeof(*inst));
	if (!inst)
		return -ENOMEM;
	ret = s5_spec_parse(args->target, &inst->spec, err, sizeof(err));
	if (ret) {
		host->log(0, "%s", err);
		free(inst);
		return ret;
	}
	ret = resolve(&inst->spec, &inst->proxy);
	if (ret) {
		free(inst);
		return ret;
	}
	/* label: the address, or the name and what it resolved to; never the
	 * credentials */
	fmt_addr((const struct sockaddr *)&inst->proxy, addr, sizeof(addr));
	if (inet_pton(AF_INET, inst->spec.host, &probe) == 1 ||
	    inet_pton(AF_INET6, inst->spec.host, &probe) == 1)
		snprintf(inst->label, sizeof(inst->label), "%s", addr);
	else
		snprintf(inst->label, sizeof(inst->label), "%s:%u (%s)", inst->spec.host,
		         inst->spec.port, addr);
	host->log(2, "socks5: proxy %s%s", inst->label,
	          inst->spec.has_auth ? " with username/password" : "");
	*state = inst;
	return 0;
}

static void s5_flow_close(void *state, struct tp_flow *f, int err)
{
	void *d = s5_host->flow_get_data(f);
	struct s5_conn *c;

	(void)state;
	(void)err;
	if (!d)
		return; /* spliced, or already failed: nothing of ours is left */
	if (s5_host->flow_info(f)->proto == IPPROTO_UDP) {
		udp_end(d);
		return;
	}
	c = d;
	c->refs++;
	conn_detach(c);
	conn_teardown(c);
	conn_unref(c);
}

static void s5_fini(void *state)
{
	free(state);
}

const struct tp_handler tp__handler_socks5 = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = "socks5",
        .init = s5_init,
        .tcp_accept = s5_tcp_accept,
        .flow_close = s5_flow_close,
        .fini = s5_fini,
        .udp_datagram = s5_udp_datagram,
};
