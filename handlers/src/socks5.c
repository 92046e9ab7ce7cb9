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
 * flow_decide with the errno the proxy's answer maps to (s5_rep_errno), so
 * the client hears what the proxy heard: a RST for a refused connection,
 * ICMP unreachable for an unreachable network or host, silence for a
 * timeout, ICMP prohibited for a ruleset or general failure; trouble with
 * the proxy itself (refused, closed, malformed, bad credentials) is a RST.
 * The whole negotiation is bounded by host->connect_timeout_ms (silence).
 *
 * UDP: per flow, a control connection doing UDP ASSOCIATE (kept open for the
 * flow's life; its end ends the flow) and a connected, protect()ed UDP socket
 * to the relay address of the reply (the proxy's own address when the reply
 * says 0.0.0.0 / ::). Datagrams carry the RFC 1928 UDP header; those that
 * arrive before the association is up are queued (bounded) and sent then.
 *
 * Names: when the flow has a name (fake-IP DNS or sniffing; struct
 * tp_flow_info.name), CONNECT asks for it with ATYP DOMAIN and the flow's
 * port, so the proxy resolves it (remote DNS), and the flow's UDP datagrams
 * carry ATYP DOMAIN headers too; replies to such a flow reach the client
 * from its original destination whatever address the proxy reports (the
 * client knows only that one). A name unfit to send (tp_name_valid) goes by
 * IP instead, unless the IP is a fake-IP pool address: then the flow is
 * refused with ICMP host unreachable (counter socks5.name_refused).
 *
 * The connection to the proxy (TCP, and the UDP control connection) is a
 * tp_upconn (upconn.h): this file only speaks the protocol over it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "builtin.h"
#include "names.h"
#include "socks5msg.h"
#include "tunplug/text.h"
#include "upconn.h"

#define UDP_QUEUE_MAX (256u * 1024u) /* bytes in flight or waiting, per flow */
#define UDP_PENDING_MAX 64u          /* datagrams waiting for the association */
#define UDP_RXBUF 65536u             /* any datagram from the relay fits */

/* One instance (one proxy). */
struct s5_inst {
	const struct tp_host *host;
	uint8_t *rxbuf; /* UDP_RXBUF bytes: what every relay socket reads into */
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

/* A connection's own data (tp_upconn_data). */
struct s5_conn {
	struct s5_udp *u; /* UDP: the association this connection controls */
	enum s5_state st;
	/* the flow's destination for messages: "name:port" or the address */
	char dst[TP_NAME_MAX + TP_SOCKADDR_STRLEN + 4];
};

struct udp_pending {
	struct udp_pending *next;
	size_t len;
	uint8_t data[];
};

struct s5_udp {
	struct tp_flow *flow;
	struct s5_inst *inst;
	struct tp_upconn *ctl; /* NULL once detached */
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

/* ---- UDP association lifetime ---- */

static void udp_handle_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Forget the flow: close the control connection and the relay socket, drop
 * the queue; u is freed (now, or when its socket has closed). */
static void udp_end(struct s5_udp *u)
{
	const struct tp_host *host = u->inst->host;
	struct tp_upconn *c = u->ctl;
	struct udp_pending *p, *next;

	if (c) {
		u->ctl = NULL;
		tp_upconn_cancel(c);
	}
	for (p = u->qhead; p; p = next) {
		next = p->next;
		free(p);
	}
	u->qhead = NULL;
	u->qtail = &u->qhead;
	if (u->flow) {
		host->flow_set_data(u->flow, NULL);
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
	const struct tp_host *host = u->inst->host;
	struct tp_flow *f = u->flow;

	udp_end(u); /* may free u */
	if (!f)
		return;
	if (err)
		host->flow_unreachable(f, err);
	host->flow_close(f, false); /* our flow_close finds no data: nothing to do */
}

/* ---- the negotiation ---- */

static int s5_fail(const struct s5_inst *inst, int level, int err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Log why (prefixed with the proxy) and return err, which refuses the flow. */
static int s5_fail(const struct s5_inst *inst, int level, int err, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	inst->host->log(inst->host, level, "socks5 proxy %s: %s", inst->label, msg);
	return err;
}

/* Send the next message and expect its answer. */
static int conn_next(struct tp_upconn *c, const struct s5_inst *inst, enum s5_state st,
                     const uint8_t *buf, size_t len)
{
	struct s5_conn *s = tp_upconn_data(c);
	int ret = tp_upconn_send(c, buf, len);

	s->st = st;
	if (ret)
		return s5_fail(inst, TP_LOG_WARN, -ECONNRESET, "write: %s", uv_strerror(ret));
	return TP_UPCONN_MORE;
}

static int send_request(struct tp_upconn *c, const struct s5_inst *inst)
{
	const struct tp_flow_info *fi = inst->host->flow_info(tp_upconn_flow(c));
	const struct s5_conn *s = tp_upconn_data(c);
	uint8_t req[S5_REQUEST_MAX];
	struct sockaddr_storage any;
	const char *name;
	int n;

	if (s->u) {
		/* We do not know our UDP source yet: 0.0.0.0:0 / [::]:0. */
		memset(&any, 0, sizeof(any));
		any.ss_family = inst->proxy.ss_family;
		n = s5_build_request(req, S5_CMD_UDP_ASSOCIATE, (struct sockaddr *)&any);
	} else if ((name = tp_flow_name(fi, &n)) != NULL) {
		/* ATYP DOMAIN: the proxy resolves the name */
		n = s5_build_request_name(req, S5_CMD_CONNECT, name,
		                          tp_sockaddr_port((const struct sockaddr *)&fi->dst));
	} else {
		n = s5_build_request(req, S5_CMD_CONNECT, (const struct sockaddr *)&fi->dst);
	}
	if (n < 0)
		return s5_fail(inst, TP_LOG_WARN, -ECONNRESET, "cannot build the request: %s",
		               strerror(-n));
	return conn_next(c, inst, ST_REPLY, req, (size_t)n);
}

static int udp_ready(struct s5_conn *s, const struct s5_reply *r);

/* The CONNECT / UDP ASSOCIATE reply is complete in in[0..len). */
static int on_reply(struct tp_upconn *c, const struct s5_inst *inst, const uint8_t *in, size_t len)
{
	struct s5_conn *s = tp_upconn_data(c);
	struct s5_reply r;

	if (s5_parse_reply(in, len, &r) < 0)
		return s5_fail(inst, TP_LOG_WARN, -ECONNRESET, "malformed reply to %s",
		               s->u ? "UDP ASSOCIATE" : "CONNECT");
	if (r.rep != S5_REP_OK) {
		int err = s5_rep_errno(r.rep);
		/* the destination's verdict is routine; anything else is the proxy's trouble */
		int level = (err == -ECONNRESET || err == -EIO) ? TP_LOG_WARN : TP_LOG_INFO;

		if (s->u)
			return s5_fail(inst, level, err, "UDP ASSOCIATE for %s: %s (reply %u)",
			               s->dst, s5_rep_str(r.rep), r.rep);
		return s5_fail(inst, level, err, "CONNECT %s: %s (reply %u)", s->dst,
		               s5_rep_str(r.rep), r.rep);
	}
	if (s->u)
		return udp_ready(s, &r);
	/* Nothing beyond the reply has been read: the stream starts with
	 * payload. */
	inst->host->log(inst->host, TP_LOG_DEBUG, "socks5 proxy %s: CONNECT %s: connected",
	                inst->label, s->dst);
	return TP_UPCONN_DONE;
}

static int conn_connected(struct tp_upconn *c, void *ud)
{
	const struct s5_inst *inst = ud;
	uint8_t greet[4];

	return conn_next(c, inst, ST_METHOD, greet, s5_build_greeting(greet, inst->spec.has_auth));
}

/* What the current message still lacks: read exactly that, never more. */
static size_t conn_want(struct tp_upconn *c, void *ud, const char *buf, size_t len)
{
	const struct s5_conn *s = tp_upconn_data(c);
	int m;

	(void)ud;
	switch (s->st) {
	case ST_METHOD:
	case ST_AUTH:
		return 2 - len;
	case ST_REPLY:
		/* the first bytes, then the rest of the address and the port */
		m = s5_reply_size((const uint8_t *)buf, len);
		return m < 0 || (size_t)m <= len ? 0 : (size_t)m - len;
	default:
		return 0;
	}
}

/* A message of the negotiation is complete in buf[0..len). */
static int conn_answer(struct tp_upconn *c, void *ud, const char *buf, size_t len)
{
	const struct s5_inst *inst = ud;
	const struct s5_conn *s = tp_upconn_data(c);
	const uint8_t *in = (const uint8_t *)buf;
	uint8_t auth[S5_AUTH_MAX];
	int m, ret;

	switch (s->st) {
	case ST_METHOD:
		m = s5_parse_method(in);
		if (m < 0)
			return s5_fail(inst, TP_LOG_WARN, -ECONNRESET,
			               "not a SOCKS5 server (version %u)", in[0]);
		if (m == S5_METHOD_NONE)
			return send_request(c, inst);
		if (m == S5_METHOD_USERPASS && inst->spec.has_auth) {
			ret = s5_build_auth(auth, inst->spec.user, inst->spec.pass);
			if (ret < 0)
				return s5_fail(inst, TP_LOG_WARN, -ECONNRESET, "bad credentials");
			return conn_next(c, inst, ST_AUTH, auth, (size_t)ret);
		}
		if (m == S5_METHOD_NOACCEPT)
			return s5_fail(inst, TP_LOG_WARN, -ECONNRESET,
			               "no acceptable authentication method%s",
			               inst->spec.has_auth ? "" : " (credentials needed?)");
		return s5_fail(inst, TP_LOG_WARN, -ECONNRESET,
		               "the proxy chose method %u, which we did not offer", m);
	case ST_AUTH:
		ret = s5_parse_auth_reply(in);
		if (ret == -EACCES)
			return s5_fail(inst, TP_LOG_WARN, -ECONNRESET,
			               "authentication failed (user \"%s\")", inst->spec.user);
		if (ret < 0)
			return s5_fail(inst, TP_LOG_WARN, -ECONNRESET,
			               "bad authentication reply (version %u)", in[0]);
		return send_request(c, inst);
	case ST_REPLY:
		if (s5_reply_size(in, len) < 0)
			return s5_fail(inst, TP_LOG_WARN, -ECONNRESET,
			               "malformed reply (version %u, address type %u)", in[0],
			               in[3]);
		return on_reply(c, inst, in, len);
	default:
		return -ECONNRESET;
	}
}

static int conn_error(struct tp_upconn *c, void *ud, enum tp_upconn_event ev, int status)
{
	const struct s5_inst *inst = ud;
	const struct s5_conn *s = tp_upconn_data(c);
	static const char *const what[] = {[ST_CONNECT] = "connect",
	                                   [ST_METHOD] = "method negotiation",
	                                   [ST_AUTH] = "authentication",
	                                   [ST_REPLY] = "request",
	                                   [ST_CONTROL] = "control"};

	switch (ev) {
	case TP_UPCONN_CONNECT:
		return s5_fail(inst, TP_LOG_WARN, -ECONNREFUSED, "connect: %s",
		               uv_strerror(status));
	case TP_UPCONN_SEND:
		return s5_fail(inst, TP_LOG_WARN, -ECONNRESET, "write: %s", uv_strerror(status));
	case TP_UPCONN_RECV:
		if (s->st == ST_CONTROL) {
			inst->host->log(inst->host, TP_LOG_DEBUG,
			                "socks5 proxy %s: UDP association for %s ended: %s",
			                inst->label, s->dst,
			                status == UV_EOF ? "closed by the proxy"
			                                 : uv_strerror(status));
			return 0;
		}
		return s5_fail(inst, TP_LOG_WARN, -ECONNRESET, "%s during the negotiation",
		               status == UV_EOF ? "connection closed" : uv_strerror(status));
	case TP_UPCONN_TIMEOUT:
	default:
		return s5_fail(inst, TP_LOG_WARN, -ETIMEDOUT,
		               "%s %s: no answer within %llu ms (%s)",
		               s->u ? "UDP ASSOCIATE for" : "CONNECT", s->dst,
		               (unsigned long long)inst->host->connect_timeout_ms, what[s->st]);
	}
}

/* UDP: the association failed, or its control connection ended. */
static void conn_end(struct tp_upconn *c, void *ud, int err)
{
	struct s5_conn *s = tp_upconn_data(c);

	(void)ud;
	udp_fail(s->u, err);
}

static const struct tp_upconn_proto tcp_proto = {
        .answer_max = S5_REPLY_MAX,
        .on_connect = conn_connected,
        .want = conn_want,
        .on_answer = conn_answer,
        .on_error = conn_error,
};

static const struct tp_upconn_proto udp_proto = {
        .answer_max = S5_REPLY_MAX,
        .on_connect = conn_connected,
        .want = conn_want,
        .on_answer = conn_answer,
        .on_error = conn_error,
        .on_end = conn_end,
};

/* A connection to the proxy for f (u: for a UDP association, else TCP):
 * TP_PENDING (*out set when not NULL) or -errno. */
static int conn_start(struct s5_inst *inst, struct tp_flow *f, struct s5_udp *u,
                      struct tp_upconn **out)
{
	struct s5_conn s = {.u = u, .st = ST_CONNECT};
	struct tp_upconn_req req = {
	        .who = inst->label,
	        .to = (const struct sockaddr *)&inst->proxy,
	        .to_is_proxy = true,
	        .proto = u ? &udp_proto : &tcp_proto,
	        .ud = inst,
	        .data = &s,
	        .data_size = sizeof(s),
	};

	const struct tp_flow_info *fi = inst->host->flow_info(f);
	const char *name;
	int err;

	name = tp_flow_name(fi, &err);
	if (err) {
		/* a fake-IP flow without a name we can send: never ask for the
		 * pool address itself */
		inst->host->counter_add(inst->host, "socks5.name_refused", 1);
		inst->host->log(
		        inst->host, TP_LOG_INFO,
		        "socks5 proxy %s: refused a flow to a fake IP without a usable name",
		        inst->label);
		return err;
	}
	if (name)
		snprintf(s.dst, sizeof(s.dst), "%s:%u", name,
		         tp_sockaddr_port((const struct sockaddr *)&fi->dst));
	else
		tp_sockaddr_str((const struct sockaddr *)&fi->dst, s.dst, sizeof(s.dst));
	return tp_upconn_start(inst->host, f, &req, out);
}

/* ---- TCP ---- */

static int s5_tcp_accept(void *state, struct tp_flow *f)
{
	return conn_start(state, f, NULL, NULL);
}

/* ---- UDP ---- */

/* Every relay socket of an instance reads into the instance's one buffer:
 * all run on the loop thread and each datagram is consumed within udp_recv
 * (unwrapped and passed on with udp_send, which copies), so the buffer is
 * free again before the next read. A closing socket reads no more, so fini
 * may free it. */
static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct s5_udp *u = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)u->inst->rxbuf, UDP_RXBUF);
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
	const struct tp_host *host = u->inst->host;
	const struct tp_flow_info *fi;
	struct sockaddr_storage from;
	size_t off = 0;
	int ret;

	(void)addr;
	if (!u->flow || nread <= 0 || (flags & UV_UDP_PARTIAL))
		return; /* an ICMP error from the relay, or nothing: UDP loses datagrams */
	ret = s5_udp_unwrap((const uint8_t *)buf->base, (size_t)nread, &from, &off);
	if (ret < 0) {
		host->log(host, TP_LOG_DEBUG,
		          "socks5 proxy %s: dropped a %s datagram from the relay", u->inst->label,
		          ret == -EOPNOTSUPP ? "fragmented" : "malformed");
		return;
	}
	fi = host->flow_info(u->flow);
	/* a flow by name: the client knows only its destination's address */
	if (ret == 1 || fi->name || same_addr(&from, &fi->dst))
		host->udp_send(u->flow, buf->base + off, (size_t)nread - off);
	else if (from.ss_family == fi->dst.ss_family)
		host->udp_send_from(u->flow, (const struct sockaddr *)&from, buf->base + off,
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
	int ret;
	const struct tp_flow_info *fi = u->inst->host->flow_info(u->flow);
	uint8_t hdr[S5_UDP_HDR_MAX];
	struct udp_send_req *r;
	uv_buf_t b[2];
	const char *name = tp_flow_name(fi, &ret); /* checked when the flow began */
	int hl = name ? s5_udp_header_name(hdr, name,
	                                   tp_sockaddr_port((const struct sockaddr *)&fi->dst))
	              : s5_udp_header(hdr, (const struct sockaddr *)&fi->dst);

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
static int udp_ready(struct s5_conn *s, const struct s5_reply *r)
{
	struct s5_udp *u = s->u;
	const struct s5_inst *inst = u->inst;
	const struct tp_host *host = inst->host;
	struct udp_pending *p, *next;
	char relay[TP_SOCKADDR_STRLEN];
	uv_os_fd_t fd;
	int ret;

	if (r->port == 0)
		return s5_fail(inst, TP_LOG_WARN, -ECONNRESET, "UDP ASSOCIATE for %s: relay port 0",
		               s->dst);
	if (addr_unspecified(&r->bnd)) {
		u->relay = inst->proxy;
		if (u->relay.ss_family == AF_INET)
			((struct sockaddr_in *)&u->relay)->sin_port = htons(r->port);
		else
			((struct sockaddr_in6 *)&u->relay)->sin6_port = htons(r->port);
	} else {
		u->relay = r->bnd;
	}
	tp_sockaddr_str((const struct sockaddr *)&u->relay, relay, sizeof(relay));

	ret = uv_udp_init_ex(host->loop, &u->udp, u->relay.ss_family);
	if (ret)
		return s5_fail(inst, TP_LOG_WARN, -ECONNRESET, "UDP socket: %s", uv_strerror(ret));
	u->udp.data = u;
	u->udp_live = true;
	ret = uv_fileno((uv_handle_t *)&u->udp, &fd);
	if (!ret)
		ret = host->protect(host, fd, u->relay.ss_family);
	if (!ret)
		ret = uv_udp_connect(&u->udp, (const struct sockaddr *)&u->relay);
	if (!ret)
		ret = uv_udp_recv_start(&u->udp, udp_alloc, udp_recv);
	if (ret)
		return s5_fail(inst, TP_LOG_WARN, -ECONNRESET, "UDP relay %s: %s", relay,
		               uv_strerror(ret));

	/* the control connection now only tells us when the association ends
	 * (TP_UPCONN_DONE in keep mode: its timer stops) */
	s->st = ST_CONTROL;
	u->ready = true;
	host->log(host, TP_LOG_DEBUG, "socks5 proxy %s: UDP association for %s via relay %s",
	          inst->label, s->dst, relay);
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
	return TP_UPCONN_DONE;
}

static int s5_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	struct s5_inst *inst = state;
	struct s5_udp *u = inst->host->flow_get_data(f);
	struct udp_pending *p;
	int ret;

	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u)
			return -ENOMEM;
		u->inst = inst;
		u->flow = f;
		u->qtail = &u->qhead;
		ret = conn_start(inst, f, u, &u->ctl);
		if (ret < 0) {
			free(u);
			return ret;
		}
		inst->host->flow_set_data(f, u);
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

static int s5_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	struct s5_inst *inst;
	char err[256], addr[TP_SOCKADDR_STRLEN];
	struct in6_addr probe;
	const char *why;
	int ret;

	inst = calloc(1, sizeof(*inst));
	if (!inst)
		return -ENOMEM;
	inst->host = host;
	ret = s5_spec_parse(args->target, &inst->spec, err, sizeof(err));
	if (ret) {
		host->log(host, TP_LOG_ERROR, "%s", err);
		goto fail;
	}
	ret = tp_upconn_resolve(inst->spec.host, inst->spec.port, &inst->proxy, &why);
	if (ret) {
		host->log(host, TP_LOG_ERROR, "socks5: cannot resolve proxy \"%s\": %s",
		          inst->spec.host, why);
		goto fail;
	}
	inst->rxbuf = malloc(UDP_RXBUF);
	if (!inst->rxbuf) {
		ret = -ENOMEM;
		goto fail;
	}
	/* label: the address, or the name and what it resolved to; never the
	 * credentials */
	tp_sockaddr_str((const struct sockaddr *)&inst->proxy, addr, sizeof(addr));
	if (inet_pton(AF_INET, inst->spec.host, &probe) == 1 ||
	    inet_pton(AF_INET6, inst->spec.host, &probe) == 1)
		snprintf(inst->label, sizeof(inst->label), "%s", addr);
	else
		snprintf(inst->label, sizeof(inst->label), "%s:%u (%s)", inst->spec.host,
		         inst->spec.port, addr);
	host->log(host, TP_LOG_INFO, "socks5: proxy %s%s", inst->label,
	          inst->spec.has_auth ? " with username/password" : "");
	*state = inst;
	return 0;
fail:
	free(inst);
	return ret;
}

static void s5_flow_close(void *state, struct tp_flow *f, int err)
{
	struct s5_inst *inst = state;
	struct s5_udp *u;

	(void)err;
	if (inst->host->flow_info(f)->proto != IPPROTO_UDP) {
		tp_upconn_flow_close(inst->host, f); /* nothing once spliced or failed */
		return;
	}
	u = inst->host->flow_get_data(f);
	if (u)
		udp_end(u);
}

static void s5_fini(void *state)
{
	struct s5_inst *inst = state;

	free(inst->rxbuf);
	free(inst);
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
