/* SPDX-License-Identifier: MIT */
/* tunplug — the handler registry (see registry.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "options/config.h"
#include "log.h"
#include "registry/plugin.h"
#include "registry/registry.h"
#include "tunplug/builtin.h"

void tp_registry_init(struct tp_registry *r, const struct tp_config *config)
{
	memset(r, 0, sizeof(*r));
	r->config = config;
}

int tp_registry_load_plugins(struct tp_registry *r, const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tp_plugin *pl = &r->plugins[r->n_plugins];
		int k;

		if (r->n_plugins == TP_MAX_PLUGINS) {
			fprintf(stderr, "tunplug: at most %d plugins\n", TP_MAX_PLUGINS);
			return -ENOSPC;
		}
		k = tp_plugin_load(paths[i], &pl->h, &pl->dl);
		if (k)
			return k;
		if (tp_handler_builtin(pl->h->name)) {
			fprintf(stderr,
			        "tunplug: --plugin %s: \"%s\" is the name of a built-in handler\n",
			        paths[i], pl->h->name);
			dlclose(pl->dl);
			return -EEXIST;
		}
		r->n_plugins++;
		tp_log(TP_LOG_INFO, "plugin %s: handler \"%s\" (ABI %u.%u)", paths[i], pl->h->name,
		       pl->h->abi_version >> 16, pl->h->abi_version & 0xffff);
	}
	return 0;
}

int tp_registry_add_table(struct tp_registry *r, const struct tp_handler *h)
{
	int ret;

	if (r->n_plugins == TP_MAX_PLUGINS) {
		fprintf(stderr, "tunplug: at most %d plugins\n", TP_MAX_PLUGINS);
		return -ENOSPC;
	}
	ret = tp_handler_check(h, "handler");
	if (ret)
		return ret;
	if (tp_handler_builtin(h->name)) {
		fprintf(stderr, "tunplug: handler \"%s\" is the name of a built-in handler\n",
		        h->name);
		return -EEXIST;
	}
	r->plugins[r->n_plugins].h = h;
	r->plugins[r->n_plugins].dl = NULL;
	r->n_plugins++;
	return 0;
}

int tp_registry_get(struct tp_registry *r, const char *spec)
{
	struct tp_hinst *hi;
	const char *target;
	int ret;

	for (size_t i = 0; i < r->n_hinst; i++)
		if (!strcmp(r->hinst[i].args.spec, spec))
			return (int)i;
	if (r->n_hinst == TP_MAX_HINST) {
		fprintf(stderr, "tunplug: at most %d distinct handlers\n", TP_MAX_HINST);
		return -ENOSPC;
	}
	hi = &r->hinst[r->n_hinst];
	target = tp_handler_spec_split(spec, hi->name, sizeof(hi->name));
	hi->h = target ? tp_handler_builtin(hi->name) : NULL;
	for (size_t i = 0; target && !hi->h && i < r->n_plugins; i++)
		if (!strcmp(r->plugins[i].h->name, hi->name))
			hi->h = r->plugins[i].h;
	if (!hi->h) {
		fprintf(stderr, "tunplug: handler \"%s\": no such handler (built in: ", spec);
		for (unsigned i = 0; tp_handler_builtin_name(i); i++)
			fprintf(stderr, "%s%s", i ? ", " : "", tp_handler_builtin_name(i));
		for (size_t i = 0; i < r->n_plugins; i++)
			fprintf(stderr, "%s%s", i ? ", " : "; plugins: ", r->plugins[i].h->name);
		fprintf(stderr, ")\n");
		return -ENOENT;
	}
	ret = tp_handler_check(hi->h, "handler");
	if (ret)
		return ret;
	hi->args.spec = spec;
	hi->args.target = target;
	hi->args.opts = tp_config_handler_opts(r->config, spec, &hi->args.n_opts);
	return (int)r->n_hinst++;
}

struct tp_hinst *tp_registry_at(struct tp_registry *r, size_t i)
{
	return i < r->n_hinst ? &r->hinst[i] : NULL;
}

/* ---- the instance's own host services ---- */

static struct tp_hinst *hinst_of(const struct tp_host *host)
{
	return host->host_data;
}

void *tp_hinst_owner(const struct tp_host *host)
{
	return hinst_of(host)->owner;
}

static void hinst_log(const struct tp_host *host, int level, const char *fmt, ...)
{
	va_list ap;

	(void)host;
	va_start(ap, fmt);
	tp_logv(level, fmt, ap);
	va_end(ap);
}

/* The string lives as long as the instance's args. */
static const char *hinst_opt_get(const struct tp_host *host, const char *key)
{
	const struct tp_handler_args *args = &hinst_of(host)->args;

	for (size_t i = 0; key && i < args->n_opts; i++)
		if (args->opts[i].key && !strcmp(args->opts[i].key, key))
			return args->opts[i].value;
	return NULL;
}

/* name is copied. */
static void hinst_counter_add(const struct tp_host *host, const char *name, uint64_t delta)
{
	struct tp_hinst *hi = hinst_of(host);
	size_t i = hi->counter_hint;

	/* handlers add their counters in the same order every time: the one
	 * after the last hit is usually the one (one strcmp, not a scan) */
	if (i >= hi->n_counters || strcmp(hi->counters[i].name, name) != 0)
		for (i = 0; i < hi->n_counters; i++)
			if (!strcmp(hi->counters[i].name, name))
				break;
	if (i == hi->n_counters) {
		if (i == TP_MAX_HCOUNTERS - 1)
			name = "other";
		else
			hi->n_counters++;
		snprintf(hi->counters[i].name, sizeof(hi->counters[i].name), "%s", name);
	}
	hi->counters[i].value += delta;
	hi->counter_hint = i + 1;
}

int tp_registry_start(struct tp_registry *r, const struct tp_host *services, void *owner)
{
	for (size_t i = 0; i < r->n_hinst; i++) {
		struct tp_hinst *hi = &r->hinst[i];
		char red[300];
		int ret;

		hi->host = *services;
		hi->host.abi_version = TP_HANDLER_ABI;
		hi->host.struct_size = sizeof(hi->host);
		hi->host.host_data = hi;
		hi->host.log = hinst_log;
		hi->host.opt_get = hinst_opt_get;
		hi->host.counter_add = hinst_counter_add;
		hi->owner = owner;
		ret = hi->h->init(&hi->host, &hi->args, &hi->state);
		if (ret) {
			fprintf(stderr, "tunplug: handler %s: init: %s\n",
			        tp_handler_spec_redact(hi->args.spec, red, sizeof(red)),
			        strerror(ret < 0 ? -ret : ret));
			return ret < 0 ? ret : -EINVAL;
		}
		hi->up = true;
	}
	return 0;
}

void tp_registry_stop(struct tp_registry *r)
{
	for (size_t i = r->n_hinst; i-- > 0;) {
		struct tp_hinst *hi = &r->hinst[i];

		if (hi->up) {
			hi->h->fini(hi->state);
			hi->up = false;
		}
	}
}

void tp_registry_close(struct tp_registry *r)
{
	while (r->n_plugins) {
		struct tp_plugin *pl = &r->plugins[--r->n_plugins];

		if (pl->dl)
			dlclose(pl->dl);
	}
}

size_t tp_registry_counters(const struct tp_registry *r, struct tp_counter *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_hinst; i++) {
		const struct tp_hinst *hi = &r->hinst[i];

		for (size_t c = 0; c < hi->n_counters; c++) {
			size_t k;

			for (k = 0; k < n; k++)
				if (!strcmp(out[k].name, hi->counters[c].name))
					break;
			if (k == n) {
				if (n == cap)
					continue;
				out[n++] = hi->counters[c];
			} else {
				out[k].value += hi->counters[c].value;
			}
		}
	}
	return n;
}
