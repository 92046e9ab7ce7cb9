/* SPDX-License-Identifier: MIT */
/* tunplug — the handler registry: built-in handlers and plugins by name,
 * and the configured handler instances, each with its own struct tp_host,
 * options and counters.
 *
 * Instances and reloads (SIGHUP): an instance is a heap object with a
 * reference count: one reference while it is in the registry's current
 * set, one per flow that took it (tp_hinst_ref/unref, the relay's). A
 * reload builds a new set beside the current one (tp_registry_stage, then
 * tp_registry_get for each spec, tp_registry_start_staged), then swaps
 * (tp_registry_commit): new flows get the new instances; the old ones are
 * retired and keep serving their flows; each is fini'd and freed from the
 * loop (never from inside a callback) when its last flow lets go. A set
 * that fails to start is dropped (tp_registry_abort) and the current one
 * stays. Every instance owns copies of its spec and options, so the config
 * it came from may be freed after the swap. */
#ifndef TUNPLUG_GW_REGISTRY_H
#define TUNPLUG_GW_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "stats/stats.h"
#include "tunplug/handler.h"

#define TP_MAX_HINST 32
#define TP_MAX_PLUGINS 16
#define TP_MAX_HCOUNTERS 64

struct tp_config;
struct tp_registry;

/* One configured handler instance. */
struct tp_hinst {
	const struct tp_handler *h;
	void *state;
	struct tp_handler_args args;
	char name[32];
	bool up;             /* init succeeded; fini due */
	struct tp_host host; /* this instance's services; host.host_data = this */
	void *owner;         /* the host's context for flow-less services */
	void *names;         /* the names room, for fake_ip_addr (NULL: none) */
	struct tp_counter counters[TP_MAX_HCOUNTERS]; /* host->counter_add */
	size_t n_counters;
	/* ---- lifetime (registry.c) ---- */
	struct tp_registry *reg;
	unsigned refs;                   /* the set's (current or staged) + one per flow */
	bool retired;                    /* replaced by a reload: fini and free at refs 0 */
	struct tp_hinst *next;           /* on reg's retired or dead list */
	unsigned gen;                    /* the set it was made for (0: start-up) */
	char *spec_buf;                  /* args.spec and args.target point into it */
	struct tp_handler_opt *opts_buf; /* args.opts, strings in one block */
	size_t counter_hint;             /* where counter_add looks first: after the last hit */
};

struct tp_registry {
	/* the current set: [0] the default (--handler), then one per distinct
	 * spec (the rules'), in the order tp_registry_get made them */
	struct tp_hinst *hinst[TP_MAX_HINST];
	size_t n_hinst;
	/* a reload's set while it is built (tp_registry_stage..commit/abort) */
	struct tp_hinst *staged[TP_MAX_HINST];
	size_t n_staged;
	bool staging;
	unsigned gen;             /* sets committed so far */
	struct tp_hinst *retired; /* replaced instances still used by flows */
	struct tp_hinst *dead;    /* retired, last flow gone: fini due */
	size_t n_retired;
	/* for starting a reload's instances: tp_registry_start's */
	struct tp_host services;
	void *owner;
	bool started;
	uv_idle_t reaper; /* finis the dead from the loop (data NULL: not up) */
	/* counters of instances already freed, summed by name */
	struct tp_counter gone[TP_MAX_HCOUNTERS];
	size_t n_gone;
	struct tp_plugin {
		const struct tp_handler *h;
		void *dl; /* NULL: added with tp_registry_add_table */
	} plugins[TP_MAX_PLUGINS];
	size_t n_plugins;
	const struct tp_config *config;        /* per-handler options; borrowed */
	const struct tp_config *config_before; /* while staging: the one to go back to */
	char last_err[320]; /* the last refusal of get or start (also on stderr) */
	void *names;        /* given to every instance (tp_hinst_names) */
};

/* Start empty; config (may be NULL) is borrowed for r's life. */
void tp_registry_init(struct tp_registry *r, const struct tp_config *config);

/* dlopen each plugin (paths borrowed); refuses one named like a built-in.
 * Returns 0 or -errno after a message on stderr. */
int tp_registry_load_plugins(struct tp_registry *r, const char *const *paths, size_t n);

/* Register a handler table that is not a plugin file (the relay tests'
 * handler): usable as a spec by its name, like a plugin's. h is borrowed
 * for r's life. Returns 0, or -errno after a message on stderr (-ENOSPC,
 * -EEXIST for a built-in's name, or tp_handler_check's refusal). */
int tp_registry_add_table(struct tp_registry *r, const struct tp_handler *h);

/* The instance for spec (copied), in the current set, or while staging in
 * the staged set: an existing one with the same spec, or a new one (not
 * yet started) with the per-handler options of the config in force (also
 * copied). Returns its index, or -errno after a message. */
int tp_registry_get(struct tp_registry *r, const char *spec);

/* Instance i (< n_hinst) of the current set, or NULL. Borrowed: valid
 * while it is current, or while a flow holds a reference. */
struct tp_hinst *tp_registry_at(struct tp_registry *r, size_t i);

/* A flow took (ref) or let go of (unref) hi. At the last unref of a
 * retired instance its fini is queued to the loop. */
void tp_hinst_ref(struct tp_hinst *hi);
void tp_hinst_unref(struct tp_hinst *hi);

/* Reload, step 1: start an empty staged set; the following
 * tp_registry_get calls fill it, with handler options from config
 * (borrowed until commit or abort; then for r's life or the next stage).
 * Only after tp_registry_start. Returns 0, or -EBUSY while staging. */
int tp_registry_stage(struct tp_registry *r, const struct tp_config *config);

/* Reload, step 2: init the staged instances (tp_registry_start's
 * services). Returns 0, or -errno after a message: then call abort. */
int tp_registry_start_staged(struct tp_registry *r);

/* Reload, step 3: the staged set becomes current; the old instances are
 * retired (fini'd once their last flow has gone; at once for those with
 * none, from the loop). */
void tp_registry_commit(struct tp_registry *r);

/* Drop the staged set (fini those started, free them); the config in
 * force before tp_registry_stage is back. */
void tp_registry_abort(struct tp_registry *r);

/* Instances retired by reloads and still serving flows. */
size_t tp_registry_retired(const struct tp_registry *r);

/* init every instance in order with its own copy of services (flow
 * services, loop, connect timeout; log, opt_get and counter_add are the
 * registry's); owner is what tp_hinst_owner() returns for that host.
 * Returns 0 or -errno after a message (instances already up stay up). */
int tp_registry_start(struct tp_registry *r, const struct tp_host *services, void *owner);

/* fini every instance that is up (retired ones first, then the current
 * set, last first) and close the reaper (a loop handle). */
void tp_registry_stop(struct tp_registry *r);

/* Free every instance and dlclose the plugins: no handler code may run
 * after this. */
void tp_registry_close(struct tp_registry *r);

/* The names room every instance's fake_ip_addr reaches (borrowed; set
 * before tp_registry_start), and an instance's view of it. */
void tp_registry_set_names(struct tp_registry *r, void *names);
void *tp_hinst_names(const struct tp_host *host);

/* The owner given to tp_registry_start for an instance's host. */
void *tp_hinst_owner(const struct tp_host *host);

/* The handler counters of every instance (current, retired and freed),
 * summed by name, into out (up to cap). Returns how many. */
size_t tp_registry_counters(const struct tp_registry *r, struct tp_counter *out, size_t cap);

#endif
