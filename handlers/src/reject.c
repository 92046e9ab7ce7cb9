/* SPDX-License-Identifier: MIT */
/* tunplug — the reject handler: refuse every flow it is given, as a
 * firewall's policy would.
 *
 *   reject        TCP: ICMP administratively prohibited for the SYN
 *                 (-EACCES: the client's connect() fails with EHOSTUNREACH,
 *                 over IPv6 EACCES); UDP: the same ICMP for the flow's
 *                 first datagram.
 *   reject://drop nothing at all: the SYN is left unanswered (-ETIMEDOUT;
 *                 each retransmission is dropped again, so the client times
 *                 out), UDP datagrams are taken and silently dropped (the
 *                 flow stays in the table until it is idle, so no ICMP is
 *                 ever sent for it).
 * Typical use: --rule proto=udp,port=443,handler=reject (block QUIC). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"

/* One instance. */
struct reject {
	const struct tp_host *host;
	bool drop; /* reject://drop: leave SYNs unanswered, take UDP datagrams and drop them */
};

static int reject_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	struct reject *r;
	bool drop = !strcmp(args->target, "drop");

	if (!drop && strcmp(args->target, "")) {
		host->log(host, TP_LOG_ERROR,
		          "reject: unknown option \"%s\" (want reject or reject://drop)",
		          args->target);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->host = host;
	r->drop = drop;
	*state = r;
	return 0;
}

static int reject_tcp_accept(void *state, struct tp_flow *f)
{
	const struct reject *r = state;

	(void)f;
	return r->drop ? -ETIMEDOUT : -EACCES;
}

static int reject_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	const struct reject *r = state;

	(void)f;
	(void)buf;
	(void)len;
	return r->drop ? TP_OK : -EACCES;
}

static void reject_flow_close(void *state, struct tp_flow *f, int err)
{
	(void)state;
	(void)f;
	(void)err;
}

static void reject_fini(void *state)
{
	free(state);
}

const struct tp_handler tp__handler_reject = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = "reject",
        .init = reject_init,
        .tcp_accept = reject_tcp_accept,
        .flow_close = reject_flow_close,
        .fini = reject_fini,
        .udp_datagram = reject_udp_datagram,
};
