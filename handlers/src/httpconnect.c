/* SPDX-License-Identifier: MIT */
/* tunplug — the http handler: TCP flows through an HTTP proxy with CONNECT.
 *
 *   --handler http://198.18.0.2:3128
 *   --handler http://user:secret@proxy.example:8080   (Basic authentication;
 *                                        percent-encode ':' '@' '%' in them)
 *
 * For every TCP flow, the client's SYN is held while tunplug connects to
 * the proxy and sends
 *   CONNECT <original destination>:<port> HTTP/1.1   ([v6]:port for IPv6)
 *   Host: <the same>
 *   Proxy-Authorization: Basic <base64(user:pass)>   (when given)
 * The answer's head is read byte-exactly up to its blank line (whatever
 * follows belongs to the tunnel and is relayed to the client). A 2xx answer
 * accepts the flow and splices it to the proxy connection; anything else
 * refuses it with what the answer means (tp_http_answer_errno), so the
 * client hears what the proxy heard:
 *   5xx: the body is read (up to 4 KiB, to its length, its last chunk or
 *   the connection's end) for the reason a proxy may give there, such as
 *   tinyproxy's {error} template variable or squid's "(111) Connection
 *   refused": refused -> RST, no route / network unreachable -> ICMP
 *   unreachable, timed out -> silence; without one, 504 -> silence and
 *   other 5xx -> ICMP host unreachable;
 *   403, 405 and other 4xx (the proxy's policy) -> ICMP prohibited;
 *   407 or 401 (authentication required or failed: a warning says which;
 *   tinyproxy 1.11 answers bad credentials with 401), a malformed or
 *   > 8 KiB head, the proxy closing early or refusing the connection -> RST;
 *   no answer within --connect-timeout -> silence.
 * A flow with a name (fake-IP DNS or sniffing; struct tp_flow_info.name)
 * asks for it instead: CONNECT example.com:443 and Host: example.com:443,
 * so the proxy resolves it. A name unfit to send (tp_name_valid) goes by
 * IP, unless the IP is a fake-IP pool address: then the flow is refused
 * with ICMP host unreachable (counter http.name_refused).
 * UDP cannot go through CONNECT: udp_datagram answers TP_DECLINED, so a
 * later rule or the default handler gets the flow (or ICMP port
 * unreachable if there is none). The proxy's name is resolved once at
 * start-up. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "builtin.h"
#include "httpmsg.h"
#include "names.h"
#include "target.h"
#include "tunplug/text.h"
#include "upconn.h"

struct httpc {
	const struct tp_host *host;
	struct sockaddr_storage proxy;
	struct tp_target t;
	char who[300]; /* "http proxy HOST:PORT" (no credentials) */
};

static int httpc_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	struct httpc *h;
	const char *why;
	char err[200];
	int ret;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	if (tp_target_parse(args->target, TP_TARGET_USERINFO, 0, &h->t, err, sizeof(err))) {
		/* err quotes the target, which may hold a password: not logged */
		host->log(host, TP_LOG_ERROR,
		          "http: bad proxy address (want http://[USER:PASS@]HOST:PORT)");
		free(h);
		return -EINVAL;
	}
	ret = tp_upconn_resolve(h->t.host, h->t.port, &h->proxy, &why);
	if (ret) {
		host->log(host, TP_LOG_ERROR, "http: proxy %s: %s", h->t.host, why);
		free(h);
		return ret;
	}
	h->host = host;
	snprintf(h->who, sizeof(h->who),
	         h->proxy.ss_family == AF_INET6 ? "http proxy [%s]:%u" : "http proxy %s:%u",
	         h->t.host, h->t.port);
	*state = h;
	return 0;
}

/* One connection's progress: the answer's head, then (for a refusal
 * whose reason may be in it) its body. */
struct httpc_conn {
	bool body;                /* reading the body of ... */
	struct tp_http_resp resp; /* ... this answer */
};

/* The protocol phase: CONNECT, then the answer's head. */
static int httpc_on_connect(struct tp_upconn *c, void *ud)
{
	struct httpc *h = ud;
	const struct tp_flow_info *fi = h->host->flow_info(tp_upconn_flow(c));
	const char *name;
	char buf[1700];
	int n;

	name = tp_flow_name(fi, &n); /* a refusal (n < 0) was returned by tcp_accept */
	n = tp_http_connect_request(buf, sizeof(buf), (const struct sockaddr *)&fi->dst, name,
	                            h->t.has_auth ? h->t.user : NULL, h->t.pass);
	return n < 0 ? n : tp_upconn_send(c, buf, (size_t)n);
}

static size_t httpc_want(struct tp_upconn *c, void *ud, const char *buf, size_t len)
{
	const struct httpc_conn *hc = tp_upconn_data(c);

	(void)ud;
	if (hc->body)
		return tp_http_body_want(&hc->resp, buf, len, TP_HTTP_BODY_MAX);
	return tp_http_head_want(buf, len);
}

/* The refusal of answer r with body[0..len) (maybe cut short) to c's
 * CONNECT: logged, and the -errno the flow is refused with. */
static int httpc_refused(const struct httpc *h, struct tp_upconn *c, const struct tp_http_resp *r,
                         const char *body, size_t len)
{
	int err = tp_http_answer_errno(r->status, body, len);
	const struct tp_flow_info *fi = h->host->flow_info(tp_upconn_flow(c));
	char dst[TP_NAME_MAX + TP_SOCKADDR_STRLEN + 4];
	const char *name;

	if (r->status == 407 || r->status == 401) {
		h->host->log(h->host, TP_LOG_WARN, "%s: authentication %s (%d %s)", h->who,
		             h->t.has_auth ? "failed" : "required", r->status, r->reason);
	} else {
		name = tp_flow_name(fi, &err);
		if (name)
			snprintf(dst, sizeof(dst), "%s:%u", name,
			         tp_sockaddr_port((const struct sockaddr *)&fi->dst));
		else
			tp_sockaddr_str((const struct sockaddr *)&fi->dst, dst, sizeof(dst));
		err = tp_http_answer_errno(r->status, body, len);
		h->host->log(h->host, TP_LOG_DEBUG, "%s: CONNECT %s refused: %d %s (%s)", h->who,
		             dst, r->status, r->reason, strerror(-err));
	}
	return err;
}

static int httpc_on_answer(struct tp_upconn *c, void *ud, const char *buf, size_t len)
{
	struct httpc *h = ud;
	struct httpc_conn *hc = tp_upconn_data(c);
	struct tp_http_resp *r = &hc->resp;

	if (hc->body)
		return httpc_refused(h, c, r, buf, len);
	if (tp_http_head_want(buf, len)) {
		h->host->log(h->host, TP_LOG_WARN, "%s: answer head larger than %u bytes", h->who,
		             (unsigned)TP_HTTP_HEAD_MAX);
		return -ECONNRESET;
	}
	if (tp_http_parse_head(buf, len, r)) {
		h->host->log(h->host, TP_LOG_WARN, "%s: malformed answer to CONNECT", h->who);
		return -ECONNRESET;
	}
	if (r->status >= 200 && r->status <= 299)
		return TP_UPCONN_DONE;
	/* a proxy that could not connect may say why in the body: read it
	 * (nothing of a tunnel follows a refusal) */
	if (r->status >= 500 && r->status <= 599 && tp_http_body_want(r, "", 0, TP_HTTP_BODY_MAX)) {
		hc->body = true;
		return TP_UPCONN_MORE;
	}
	return httpc_refused(h, c, r, NULL, 0);
}

/* The body of a refusal ends where the connection does. */
static int httpc_on_eof(struct tp_upconn *c, void *ud, const char *buf, size_t len)
{
	const struct httpc_conn *hc = tp_upconn_data(c);

	return hc->body ? httpc_refused(ud, c, &hc->resp, buf, len) : 0;
}

static const struct tp_upconn_proto httpc_proto = {
        .answer_max = TP_HTTP_HEAD_MAX,
        .on_connect = httpc_on_connect,
        .want = httpc_want,
        .on_answer = httpc_on_answer,
        .on_eof = httpc_on_eof,
};

static int httpc_tcp_accept(void *state, struct tp_flow *f)
{
	struct httpc *h = state;
	struct httpc_conn hc = {.body = false};
	struct tp_upconn_req req = {
	        .who = h->who,
	        .to = (const struct sockaddr *)&h->proxy,
	        .to_is_proxy = true,
	        .proto = &httpc_proto,
	        .ud = h,
	        .data = &hc,
	        .data_size = sizeof(hc),
	};
	int err;

	(void)tp_flow_name(h->host->flow_info(f), &err);
	if (err) {
		/* a fake-IP flow without a name we can send: never ask the proxy
		 * for the pool address itself */
		h->host->counter_add(h->host, "http.name_refused", 1);
		h->host->log(h->host, TP_LOG_INFO,
		             "%s: refused a flow to a fake IP without a usable name", h->who);
		return err;
	}
	return tp_upconn_start(h->host, f, &req, NULL);
}

static int httpc_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	(void)state;
	(void)f;
	(void)buf;
	(void)len;
	return TP_DECLINED; /* CONNECT carries TCP only */
}

static void httpc_flow_close(void *state, struct tp_flow *f, int err)
{
	struct httpc *h = state;

	(void)err;
	tp_upconn_flow_close(h->host, f); /* only TCP flows are ever ours */
}

static void httpc_fini(void *state)
{
	struct httpc *h = state;

	memset(h->t.pass, 0, sizeof(h->t.pass));
	free(h);
}

const struct tp_handler tp__handler_http = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = "http",
        .init = httpc_init,
        .tcp_accept = httpc_tcp_accept,
        .flow_close = httpc_flow_close,
        .fini = httpc_fini,
        .udp_datagram = httpc_udp_datagram,
};
