/* SPDX-License-Identifier: MIT */
/* tunplug — running the gateway: the composition of its rooms (loop glue,
 * handler registry, dispatch, relay, UDP services, stats, network
 * configuration) for the tunplug program, a --queues worker, or an
 * embedding program. Private to gateway/ (and its tests). */
#ifndef TUNPLUG_GW_GATEWAY_H
#define TUNPLUG_GW_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "options/options.h"
#include "stats/stats.h"

/* What a --queues worker process adds to a gateway run (master.c). */
struct tp_gw_worker {
	const char *label; /* "worker 1: ", before every summary line */
	/* start-up (and --user) done */
	void (*ready)(const struct tp_stats *st);
	/* after each summary; final: the last one, at exit */
	void (*summary)(const struct tp_stats *st, bool final);
	/* every TP_NOTIFY_STATUS_MS: the counters and the open flows */
	void (*status)(const struct tp_stats *st, uint64_t tcp_now, uint64_t udp_now);
	/* a SIGHUP reload was applied (ok) or refused */
	void (*reloaded)(bool ok);
	unsigned index; /* K, 1-based: flow ids "K-N" on the control socket */
	int ctl_fd;     /* the master's control channel (ctl.h), -1 = none */
};

/* Set before tp_gateway_run; w is borrowed for the run (NULL: none). */
void tp_gateway_set_worker(const struct tp_gw_worker *w);

struct tp_fakepool;
/* --queues: the fake-IP pool the master mapped before forking (borrowed
 * for the run; NULL: the run maps its own when --fake-ip is given). */
void tp_gateway_set_fakepool(struct tp_fakepool *p);

/* Run the gateway until a stop signal. Returns the exit status (0 clean
 * stop, 1 start-up failure or a forced stop). opt is borrowed for the whole
 * run.
 *
 * Signals: the first SIGINT or SIGTERM starts a graceful stop (pending
 * flows refused, open ones reset, then the routes, rules and addresses
 * tunplug added are removed). Further SIGINT/SIGTERM during it are logged
 * and change nothing, so a Ctrl-C in a terminal (which reaches every
 * process of the group) and a SIGTERM right after it still end cleanly. A
 * third one, or SIGQUIT, forces the stop: flows are not waited for, the
 * network configuration is undone at once and the process exits with
 * status 1. SIGUSR1 prints the summary. SIGHUP re-reads the --config file
 * (rules and handlers for new flows; see README, systemd) or is logged
 * and ignored without one. */
int tp_gateway_run(const struct tp_options *opt);

/* Embedding (embed.c): what the library adds to a gateway run. */
struct tp_embed {
	int (*protect)(int fd, int family, void *ud);
	void *protect_ud;
	uv_async_t stop_async; /* initialised by the gateway's loop */
	/* thread handoff, written under a mutex (embed.c owns it) */
	void (*snapshot)(struct tp_embed *e, const struct tp_stats *st, uint64_t uptime_ms);
	void (*loop_ready)(struct tp_embed *e); /* stop_async may be sent now */
	void (*loop_done)(struct tp_embed *e);  /* ... and no longer */
};

/* Run the gateway for an embedding program: no signal handlers, stop via
 * e->stop_async, counters via e->snapshot. Returns 0 or -errno. */
int tp_gateway_run_embedded(const struct tp_options *opt, struct tp_embed *e);

#endif
