/* SPDX-License-Identifier: MIT */
/* tunplug — names: what the gateway knows about destinations' DNS names.
 * Today the fake-IP pool (--fake-ip, fakepool.h): this room owns it (or
 * borrows the one the --queues master mapped before forking), gives the
 * dns handler its pool addresses (the host service fake_ip_addr of
 * handler.h) and tells the relay the name of a flow's pool destination.
 * Counters in struct tp_names_counters (stats.h); an unmapped pool address
 * is logged once per address, at most TP_NAMES_LOG_PER_S lines a second. */
#ifndef TUNPLUG_GW_NAMES_H
#define TUNPLUG_GW_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "names/fakepool.h"
#include "options/options.h"
#include "stats/stats.h"
#include "tunplug/handler.h"

#define TP_NAMES_LOGGED 64 /* unmapped addresses remembered as logged */
#define TP_NAMES_LOG_PER_S 5

struct tp_names {
	struct tp_fakepool *pool;     /* NULL: fake-IP off */
	bool own;                     /* we mapped it (unmap at close) */
	uint32_t ttl;                 /* seconds, for the DNS answers */
	struct tp_names_counters *st; /* borrowed */
	/* unmapped addresses already logged (a ring) and the rate limit */
	struct {
		int family;
		uint8_t addr[16];
	} logged[TP_NAMES_LOGGED];
	unsigned n_logged, next_logged;
	uint64_t log_second;
	unsigned log_count;
};

/* The shared pool for o's --fake-ip pools (NULL in *out when there are
 * none): for the --queues master, before it forks. Returns 0 or -errno
 * after a message on stderr. */
int tp_names_pool_create(const struct tp_options *o, struct tp_fakepool **out);

/* Set up n (the caller's): with shared (from tp_names_pool_create in the
 * master; borrowed) or, when shared is NULL, a pool of its own made from
 * o. st is borrowed for n's life. Returns 0 or -errno after a message. */
int tp_names_init(struct tp_names *n, const struct tp_options *o, struct tp_fakepool *shared,
                  struct tp_names_counters *st);

/* Unmap what n mapped itself. */
void tp_names_close(struct tp_names *n);

/* Is fake-IP on? */
bool tp_names_fake_ip(const struct tp_names *n);

/* A new flow's destination dst (borrowed): its name into name (cap >
 * TP_FAKE_NAME_MAX). Returns the name's length (> 0), 0 when dst is no
 * pool address, or -ENOENT for a pool address without a mapping (counted
 * and logged here: the caller refuses the flow). now_ms: the loop's time,
 * for the log's rate limit. */
int tp_names_for_dst(struct tp_names *n, const struct sockaddr *dst, char *name, size_t cap,
                     uint64_t now_ms);

/* The host service fake_ip_addr (handler.h): the context is the
 * instance's tp_hinst_names(). */
int tp_names_host_fake_ip(const struct tp_host *host, int family, const char *name, size_t len,
                          void *addr);

#endif
