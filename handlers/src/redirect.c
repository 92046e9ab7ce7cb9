/* SPDX-License-Identifier: MIT */
/* tunplug — the redirect handler: redirect://HOST:PORT sends every flow to
 * one fixed address instead of its original destination.
 *
 *   --handler redirect://198.19.1.1:8080
 *   --rule dst=10.9.0.0/16,handler=redirect://[fd00::5]:53
 *
 * TCP: like direct, the client's SYN is held until the connect to the fixed
 * address succeeded (then the flow is spliced to it) or failed: the client
 * hears what the connect heard (a RST, ICMP unreachable, or nothing after
 * --connect-timeout; upconn.h).
 * UDP: one connected socket per flow to the fixed address, as direct does;
 * replies reach the client from the flow's original destination, ICMP
 * errors from the fixed address become ICMP errors toward the client.
 * HOST may be a name: it is resolved once at start-up. The fixed address
 * may be of the other family than a flow's. A flow's name (fake-IP DNS or
 * sniffing) changes nothing here: the fixed address is where every flow
 * goes, so there is nothing to look up per flow. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "builtin.h"
#include "target.h"
#include "udpconn.h"
#include "upconn.h"

struct redirect {
	const struct tp_host *host;
	struct tp_udpconn_inst udp;
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
		host->log(host, TP_LOG_ERROR, "redirect: %s (want redirect://HOST:PORT)", err);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	ret = tp_upconn_resolve(t.host, t.port, &r->to, &why);
	if (ret) {
		host->log(host, TP_LOG_ERROR, "redirect: %s: %s", t.host, why);
		free(r);
		return ret;
	}
	if (tp_udpconn_inst_init(&r->udp, host, "redirect")) {
		free(r);
		return -ENOMEM;
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

	return tp_upconn_start(r->host, f, &req, NULL);
}

/* UDP: one connected socket per flow to the fixed address (udpconn.h). */
static int redirect_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	struct redirect *r = state;

	return tp_udpconn_datagram(&r->udp, f, (const struct sockaddr *)&r->to, NULL, r->who, buf,
	                           len);
}

static void redirect_flow_close(void *state, struct tp_flow *f, int err)
{
	struct redirect *r = state;

	(void)err;
	if (r->host->flow_info(f)->proto == IPPROTO_UDP)
		tp_udpconn_flow_close(&r->udp, f);
	else
		tp_upconn_flow_close(r->host, f);
}

static void redirect_fini(void *state)
{
	struct redirect *r = state;

	tp_udpconn_inst_fini(&r->udp);
	free(r);
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
