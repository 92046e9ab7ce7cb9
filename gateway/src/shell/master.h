/* SPDX-License-Identifier: MIT */
/* tunplug — --queues N: the master process and its workers (master.c), and
 * how main starts them. Private to gateway/. */
#ifndef TUNPLUG_GW_MASTER_H
#define TUNPLUG_GW_MASTER_H

#include "options/options.h"

/* master.c: the number of workers --queues asks for (auto: online CPUs,
 * at most TP_OPT_MAX_QUEUES). 1 = run the single process. */
unsigned tp_master_queues(const struct tp_options *opt);

/* master.c: run --queues n (n > 1) until SIGTERM/SIGINT: the tun with n
 * queues and the netlink set-up here, one forked gateway per queue.
 * Returns the exit status (0 clean stop, 1 start-up failure). */
int tp_master_run(const struct tp_options *opt, unsigned n);

#endif
