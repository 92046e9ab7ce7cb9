/* SPDX-License-Identifier: MIT */
/* tunplug — the handler registry: built-in handlers and plugins by name,
 * and the configured handler instances, each with its own struct tp_host,
 * options and counters. */
#ifndef TUNPLUG_GW_REGISTRY_H
#define TUNPLUG_GW_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "stats/stats.h"
#include "tunplug/handler.h"

#define TP_MAX_HINST 32
#define TP_MAX_PLUGINS 16
#define TP_MAX_HCOUNTERS 64

struct tp_config;

/* One configured handler instance. */
struct tp_hinst {
	const struct tp_handler *h;
	void *state;
	struct tp_handler_args args;
	char name[32];
	bool up;             /* init succeeded; fini due */
	struct tp_host host; /* this instance's services; host.host_data = this */
	void *owner;         /* the host's context for flow-less services */
	struct tp_counter counters[TP_MAX_HCOUNTERS]; /* host->counter_add */
	size_t n_counters;
	size_t counter_hint; /* where counter_add looks first: after the last hit */
};

struct tp_registry {
	/* [0] the default (--handler), then one per distinct spec */
	struct tp_hinst hinst[TP_MAX_HINST];
	size_t n_hinst;
	struct tp_plugin {
		const struct tp_handler *h;
		void *dl; /* NULL: added with tp_registry_add_table */
	} plugins[TP_MAX_PLUGINS];
	size_t n_plugins;
	const struct tp_config *config; /* per-handler options; borrowed */
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

/* The instance for spec (borrowed for r's life): an existing one with the
 * same spec, or a new one. Returns its index, or -errno after a message. */
int tp_registry_get(struct tp_registry *r, const char *spec);

/* Instance i (< n_hinst), or NULL. */
struct tp_hinst *tp_registry_at(struct tp_registry *r, size_t i);

/* init every instance in order with its own copy of services (flow
 * services, loop, connect timeout; log, opt_get and counter_add are the
 * registry's); owner is what tp_hinst_owner() returns for that host.
 * Returns 0 or -errno after a message (instances already up stay up). */
int tp_registry_start(struct tp_registry *r, const struct tp_host *services, void *owner);

/* fini every instance that is up, last first. */
void tp_registry_stop(struct tp_registry *r);

/* dlclose the plugins: no handler code may run after this. */
void tp_registry_close(struct tp_registry *r);

/* The owner given to tp_registry_start for an instance's host. */
void *tp_hinst_owner(const struct tp_host *host);

/* The handler counters of every instance, summed by name, into out (up to
 * cap). Returns how many. */
size_t tp_registry_counters(const struct tp_registry *r, struct tp_counter *out, size_t cap);

#endif
