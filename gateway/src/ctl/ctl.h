/* SPDX-License-Identifier: MIT */
/* tunplug — the operator's interfaces on the libuv loop: the control
 * socket (a unix socket, the line protocol of proto.h; `tunplug ctl` is
 * its client, client.c) and the Prometheus page (--metrics ADDR:PORT, GET
 * /metrics only).
 *
 * Three roles:
 *  - a single process: answers from its own relay, counters and registry;
 *  - a --queues worker: no socket of its own; the master passes it one
 *    connection per request (a unix socket fd over a socketpair, the
 *    "channel"), answered like a client's, flow ids "K-N" (K = worker);
 *  - the --queues master: owns the socket and the page; each request is
 *    asked of every worker in turn over a fresh connection through its
 *    channel; flows are streamed through, counters summed.
 *
 * Limits: TP_CTL_MAX_CLIENTS connections per listener (more are closed at
 * once), a request line (or HTTP head) of at most TP_CTL_LINE_MAX bytes,
 * TP_CTL_REQUEST_MS to send it and TP_CTL_STALL_MS without write progress;
 * a flow list is written in chunks of at most TP_CTL_CHUNK rows (and
 * TP_CTL_SCAN flows looked at, for a filter that matches few), one chunk
 * per write completion or loop turn, so a slow reader holds no more than
 * one chunk and a list of 100k flows never holds the loop for long. The
 * metrics page's flows_open gauge is one pass over the flows per scrape
 * (counting only). */
#ifndef TUNPLUG_GW_CTL_H
#define TUNPLUG_GW_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "stats/stats.h"
#include "tunplug/stack.h"

#define TP_CTL_MAX_CLIENTS 16
#define TP_CTL_REQUEST_MS 5000u
#define TP_CTL_STALL_MS 30000u
#define TP_CTL_CHUNK 256
#define TP_CTL_SCAN 4096
#define TP_CTL_DEFAULT_DIR "/run/tunplug"

struct tp_relay;
struct tp_registry;
struct ctl_conn;

/* Where the answers come from (all borrowed for the server's life). */
struct tp_ctl_source {
	struct tp_relay *rel;      /* NULL: the master (answers from the workers) */
	const struct tp_stats *st; /* NULL in the master */
	const struct tp_stack_stats *(*stack_stats)(void); /* may be NULL */
	const struct tp_registry *reg;                     /* NULL in the master */
	unsigned worker;       /* this worker's K (ids "K-N"); 0: none */
	const int *worker_fds; /* master: channel fd of worker k at [k - 1], -1 = none */
	unsigned n_workers;    /* master: how many */
	/* the tun device's own counters, read from the kernel when asked (the
	 * process that owns the device: not a worker); NULL: none. 0 or
	 * -errno. */
	int (*link)(void *ud, uint64_t *txqueuelen, uint64_t *tx_dropped);
	void *link_ud;
	double start_time; /* unix time of the start (not a worker): a gauge */
};

struct tp_ctl {
	uv_loop_t *loop;
	struct tp_ctl_source src;
	uv_pipe_t lsock; /* the control socket */
	bool lsock_up;
	char path[108];
	bool own_path;  /* unlink at close */
	uv_tcp_t msock; /* the metrics listener */
	bool msock_up;
	uv_pipe_t chan; /* a worker's channel from the master */
	bool chan_up;
	struct ctl_conn *conns;
	unsigned n_conns[3]; /* by kind: control, http, internal */
	bool stopping;
};

/* Set up c (the caller's) on loop; src is copied. Nothing listens yet. */
void tp_ctl_init(struct tp_ctl *c, uv_loop_t *loop, const struct tp_ctl_source *src);

/* Listen on the control socket path (NULL: the default for tun_name,
 * TP_CTL_DEFAULT_DIR/<tun_name>.sock; "none": nothing). Its directory is
 * created (0700) when missing; the socket is 0600. A stale socket file
 * (nobody listening) is replaced; one a live gateway listens on is an
 * error for an explicit path (-EADDRINUSE, message on stderr); for the
 * default path it and every other failure (a read-only /run) are a
 * warning: no control socket, 0. 0 or -errno. */
int tp_ctl_listen(struct tp_ctl *c, const char *path, const char *tun_name);

/* Serve GET /metrics on addr ("198.18.0.1:9100", "[::1]:9100"). 0 or
 * -errno after a message on stderr. */
int tp_ctl_metrics_listen(struct tp_ctl *c, const char *addr);

/* A worker: serve the master's requests arriving over channel fd (taken:
 * closed by tp_ctl_stop). 0 or a libuv error. */
int tp_ctl_worker_channel(struct tp_ctl *c, int fd);

/* Close every handle and connection (asynchronously: run the loop after);
 * releases the relay cursors, so it comes before the relay stops. */
void tp_ctl_stop(struct tp_ctl *c);

/* After the loop ran down: remove the socket file (if ours). */
void tp_ctl_close(struct tp_ctl *c);

#endif
