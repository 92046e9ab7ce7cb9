/* SPDX-License-Identifier: MIT */
/* tunplug — the direct handler: connect to the flow's original destination
 * from the gateway host and relay both ways.
 *
 * The client's SYN is held (TP_PENDING) until the upstream connect has
 * succeeded, failed, or timed out, so the client sees the truth: a refused
 * port gets a RST, an unreachable host or network the matching ICMP
 * unreachable, a silent one silence (upconn.h). UDP: one connected socket
 * per flow (udpconn.h).
 *
 * A flow to a fake-IP address (tp_flow_info.name_source TP_NAME_FAKE_IP)
 * is never connected to that address: its name is looked up without
 * blocking (uv_getaddrinfo) and the connect goes to the real address, the
 * client's family first, with the SYN still held; a UDP flow looks its
 * name up once and sends every datagram to that address. A name that
 * cannot be resolved refuses the flow with ICMP host unreachable (counters
 * direct.names_resolved / direct.names_unresolved, and
 * direct.udp_names_*). A sniffed name changes nothing here: the flow's
 * address is real. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "builtin.h"
#include "names.h"
#include "udpconn.h"
#include "upconn.h"

/* One instance. */
struct direct {
	const struct tp_host *host;
	struct tp_udpconn_inst udp;
};

static int direct_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	struct direct *d = calloc(1, sizeof(*d));

	(void)args;
	if (!d)
		return -ENOMEM;
	d->host = host;
	if (tp_udpconn_inst_init(&d->udp, host, "direct")) {
		free(d);
		return -ENOMEM;
	}
	*state = d;
	return 0;
}

static int direct_tcp_accept(void *state, struct tp_flow *f)
{
	struct direct *d = state;
	const struct tp_flow_info *fi = d->host->flow_info(f);
	struct tp_upconn_req req = {
	        .who = "direct",
	        .to = (const struct sockaddr *)&fi->dst,
	        .counter = "direct",
	};
	int err;

	if (fi->name_source == TP_NAME_FAKE_IP) {
		/* the address is the pool's: connect to the name's */
		req.name = tp_flow_name(fi, &err);
		if (err) {
			d->host->counter_add(d->host, "direct.names_unresolved", 1);
			return err;
		}
	}
	return tp_upconn_start(d->host, f, &req, NULL);
}

/* UDP: one connected socket per flow to the original destination
 * (udpconn.h). */
static int direct_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	struct direct *d = state;
	const struct tp_flow_info *fi = d->host->flow_info(f);

	const char *name = NULL;
	int err;

	if (fi->name_source == TP_NAME_FAKE_IP) {
		name = tp_flow_name(fi, &err);
		if (err) {
			d->host->counter_add(d->host, "direct.udp_names_unresolved", 1);
			return err;
		}
	}
	return tp_udpconn_datagram(&d->udp, f, (const struct sockaddr *)&fi->dst, name, "direct",
	                           buf, len);
}

static void direct_flow_close(void *state, struct tp_flow *f, int err)
{
	struct direct *d = state;

	(void)err;
	if (d->host->flow_info(f)->proto == IPPROTO_UDP)
		tp_udpconn_flow_close(&d->udp, f);
	else
		tp_upconn_flow_close(d->host, f); /* nothing once spliced */
}

static void direct_fini(void *state)
{
	struct direct *d = state;

	tp_udpconn_inst_fini(&d->udp);
	free(d);
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
