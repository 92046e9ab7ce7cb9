/* SPDX-License-Identifier: MIT */
/* tunplug — --queues N: the master process and its workers (master.c), and
 * the few hooks of gateway.c they use. Private to gateway/. */
#ifndef TUNPLUG_GW_MASTER_H
#define TUNPLUG_GW_MASTER_H

#include "gateway.h"

/* What a worker process adds to a gateway run (NULL: the single process). */
struct tp_gw_worker {
	const char *label;                 /* "worker 1: ", before every summary line */
	void (*ready)(struct tp_gw *gw);   /* start-up (and --user) done */
	void (*summary)(struct tp_gw *gw); /* after each summary; gw->stopping: the last */
};

/* gateway.c: set before tp_gateway_run; w is borrowed for the run. */
void tp_gateway_set_worker(const struct tp_gw_worker *w);

/* gateway.c: the netlink set-up of a tun tunplug opened (link up + mtu,
 * addresses, routes, --auto-route), journalled in *nl for tp_nl_undo. On
 * failure (after a message) *nl holds what was done so far, or NULL. */
int tp_gw_netlink_setup(struct tp_nl **nl, int ifindex, const struct tp_options *o);

/* master.c: the number of workers --queues asks for (auto: online CPUs,
 * at most TP_OPT_MAX_QUEUES). 1 = run the single process. */
unsigned tp_master_queues(const struct tp_options *opt);

/* master.c: run --queues n (n > 1) until SIGTERM/SIGINT: the tun with n
 * queues and the netlink set-up here, one forked gateway per queue.
 * Returns the exit status (0 clean stop, 1 start-up failure). */
int tp_master_run(const struct tp_options *opt, unsigned n);

#endif
