/* SPDX-License-Identifier: MIT */
/* tunplug — the handler registry (see registry.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* An instance of the handler named by spec, with owned copies of spec and
 * of the config's options for it; NULL after a message. */
static struct tp_hinst *hinst_new(struct tp_registry *r, const char *spec)
{
	const struct tp_handler_opt *opts;
	struct tp_hinst *hi = calloc(1, sizeof(*hi));
	const char *target;
	size_t n_opts, len;

	if (!hi || !(hi->spec_buf = strdup(spec))) {
		fprintf(stderr, "tunplug: handler \"%s\": out of memory\n", spec);
		free(hi);
		return NULL;
	}
	target = tp_handler_spec_split(hi->spec_buf, hi->name, sizeof(hi->name));
	hi->h = target ? tp_handler_builtin(hi->name) : NULL;
	for (size_t i = 0; target && !hi->h && i < r->n_plugins; i++)
		if (!strcmp(r->plugins[i].h->name, hi->name))
			hi->h = r->plugins[i].h;
	if (!hi->h) {
		snprintf(r->last_err, sizeof(r->last_err), "handler \"%s\": no such handler", spec);
		fprintf(stderr, "tunplug: handler \"%s\": no such handler (built in: ", spec);
		for (unsigned i = 0; tp_handler_builtin_name(i); i++)
			fprintf(stderr, "%s%s", i ? ", " : "", tp_handler_builtin_name(i));
		for (size_t i = 0; i < r->n_plugins; i++)
			fprintf(stderr, "%s%s", i ? ", " : "; plugins: ", r->plugins[i].h->name);
		fprintf(stderr, ")\n");
		goto fail;
	}
	if (tp_handler_check(hi->h, "handler"))
		goto fail;
	hi->args.spec = hi->spec_buf;
	hi->args.target = target;
	opts = tp_config_handler_opts(r->config, spec, &n_opts);
	/* the options and their strings in one block */
	len = n_opts * sizeof(*opts);
	for (size_t i = 0; i < n_opts; i++)
		len += strlen(opts[i].key) + strlen(opts[i].value) + 2;
	if (n_opts) {
		char *p;

		hi->opts_buf = malloc(len);
		if (!hi->opts_buf) {
			fprintf(stderr, "tunplug: handler \"%s\": out of memory\n", spec);
			goto fail;
		}
		p = (char *)(hi->opts_buf + n_opts);
		for (size_t i = 0; i < n_opts; i++) {
			size_t kl = strlen(opts[i].key) + 1, vl = strlen(opts[i].value) + 1;

			memcpy(p, opts[i].key, kl);
			hi->opts_buf[i].key = p;
			p += kl;
			memcpy(p, opts[i].value, vl);
			hi->opts_buf[i].value = p;
			p += vl;
		}
	}
	hi->args.opts = hi->opts_buf;
	hi->args.n_opts = n_opts;
	hi->reg = r;
	hi->refs = 1; /* the set's */
	hi->gen = r->staging ? r->gen + 1 : r->gen;
	return hi;
fail:
	free(hi->spec_buf);
	free(hi);
	return NULL;
}

static void hinst_free(struct tp_hinst *hi)
{
	free(hi->opts_buf);
	free(hi->spec_buf);
	free(hi);
}

int tp_registry_get(struct tp_registry *r, const char *spec)
{
	struct tp_hinst **set = r->staging ? r->staged : r->hinst;
	size_t *n = r->staging ? &r->n_staged : &r->n_hinst;
	struct tp_hinst *hi;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp(set[i]->args.spec, spec))
			return (int)i;
	if (*n == TP_MAX_HINST) {
		fprintf(stderr, "tunplug: at most %d distinct handlers\n", TP_MAX_HINST);
		return -ENOSPC;
	}
	hi = hinst_new(r, spec);
	if (!hi)
		return -ENOENT;
	set[*n] = hi;
	return (int)(*n)++;
}

struct tp_hinst *tp_registry_at(struct tp_registry *r, size_t i)
{
	return i < r->n_hinst ? r->hinst[i] : NULL;
}

/* ---- the instance's own host services ---- */

static struct tp_hinst *hinst_of(const struct tp_host *host)
{
	return host->host_data;
}

void tp_registry_set_names(struct tp_registry *r, void *names)
{
	r->names = names;
}

void *tp_hinst_names(const struct tp_host *host)
{
	return hinst_of(host)->names;
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

/* init hi with its own copy of r's services. */
static int hinst_start(struct tp_registry *r, struct tp_hinst *hi)
{
	char red[300];
	int ret;

	hi->host = r->services;
	hi->host.abi_version = TP_HANDLER_ABI;
	hi->host.struct_size = sizeof(hi->host);
	hi->host.host_data = hi;
	hi->host.log = hinst_log;
	hi->host.opt_get = hinst_opt_get;
	hi->host.counter_add = hinst_counter_add;
	hi->owner = r->owner;
	hi->names = r->names;
	ret = hi->h->init(&hi->host, &hi->args, &hi->state);
	if (ret) {
		snprintf(r->last_err, sizeof(r->last_err), "handler %s: init: %s",
		         tp_handler_spec_redact(hi->args.spec, red, sizeof(red)),
		         strerror(ret < 0 ? -ret : ret));
		fprintf(stderr, "tunplug: %s\n", r->last_err);
		return ret < 0 ? ret : -EINVAL;
	}
	hi->up = true;
	return 0;
}

static void hinst_stop(struct tp_hinst *hi)
{
	if (hi->up) {
		hi->h->fini(hi->state);
		hi->up = false;
	}
}

/* hi's counters into r->gone, then hi is freed. */
static void hinst_bury(struct tp_registry *r, struct tp_hinst *hi)
{
	for (size_t c = 0; c < hi->n_counters; c++) {
		size_t k;

		for (k = 0; k < r->n_gone; k++)
			if (!strcmp(r->gone[k].name, hi->counters[c].name))
				break;
		if (k == r->n_gone) {
			if (k == TP_MAX_HCOUNTERS)
				continue;
			r->gone[r->n_gone++] = hi->counters[c];
		} else {
			r->gone[k].value += hi->counters[c].value;
		}
	}
	hinst_free(hi);
}

/* The loop's turn: fini and free the retired instances no flow uses. */
static void reaper_cb(uv_idle_t *idle)
{
	struct tp_registry *r = idle->data;

	uv_idle_stop(idle);
	while (r->dead) {
		struct tp_hinst *hi = r->dead;
		char red[300];

		r->dead = hi->next;
		tp_log(TP_LOG_INFO, "reload: handler %s of set %u: last flow closed, finished",
		       tp_handler_spec_redact(hi->args.spec, red, sizeof(red)), hi->gen);
		hinst_stop(hi);
		hinst_bury(r, hi);
	}
}

int tp_registry_start(struct tp_registry *r, const struct tp_host *services, void *owner)
{
	r->services = *services;
	r->owner = owner;
	r->started = true;
	if (services->loop && !r->reaper.data) {
		int ret = uv_idle_init(services->loop, &r->reaper);

		if (ret) {
			fprintf(stderr, "tunplug: handler registry: %s\n", uv_strerror(ret));
			return ret;
		}
		r->reaper.data = r;
	}
	for (size_t i = 0; i < r->n_hinst; i++) {
		int ret = hinst_start(r, r->hinst[i]);

		if (ret)
			return ret;
	}
	return 0;
}

void tp_hinst_ref(struct tp_hinst *hi)
{
	hi->refs++;
}

void tp_hinst_unref(struct tp_hinst *hi)
{
	struct tp_registry *r = hi->reg;
	struct tp_hinst **pp;

	if (--hi->refs || !hi->retired)
		return;
	/* off the retired list, onto the dead one, fini'd from the loop */
	for (pp = &r->retired; *pp && *pp != hi; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = hi->next;
	r->n_retired--;
	hi->next = r->dead;
	r->dead = hi;
	if (r->reaper.data && !uv_is_closing((uv_handle_t *)&r->reaper))
		uv_idle_start(&r->reaper, reaper_cb);
}

int tp_registry_stage(struct tp_registry *r, const struct tp_config *config)
{
	if (r->staging)
		return -EBUSY;
	r->staging = true;
	r->n_staged = 0;
	r->config_before = r->config;
	r->config = config;
	return 0;
}

int tp_registry_start_staged(struct tp_registry *r)
{
	for (size_t i = 0; i < r->n_staged; i++) {
		int ret = hinst_start(r, r->staged[i]);

		if (ret)
			return ret;
	}
	return 0;
}

void tp_registry_abort(struct tp_registry *r)
{
	for (size_t i = r->n_staged; i-- > 0;) {
		hinst_stop(r->staged[i]);
		hinst_free(r->staged[i]);
	}
	r->n_staged = 0;
	r->config = r->config_before;
	r->config_before = NULL;
	r->staging = false;
}

size_t tp_registry_retired(const struct tp_registry *r)
{
	return r->n_retired;
}

void tp_registry_commit(struct tp_registry *r)
{
	for (size_t i = 0; i < r->n_hinst; i++) {
		struct tp_hinst *hi = r->hinst[i];

		hi->retired = true;
		hi->next = r->retired;
		r->retired = hi;
		r->n_retired++;
		tp_hinst_unref(hi); /* the set's reference */
	}
	memcpy(r->hinst, r->staged, sizeof(r->hinst));
	r->n_hinst = r->n_staged;
	r->n_staged = 0;
	r->config_before = NULL;
	r->staging = false;
	r->gen++;
}

void tp_registry_stop(struct tp_registry *r)
{
	if (r->staging)
		tp_registry_abort(r);
	if (r->reaper.data && uv_is_active((uv_handle_t *)&r->reaper))
		uv_idle_stop(&r->reaper);
	for (struct tp_hinst *hi = r->dead; hi; hi = hi->next)
		hinst_stop(hi);
	for (struct tp_hinst *hi = r->retired; hi; hi = hi->next)
		hinst_stop(hi);
	for (size_t i = r->n_hinst; i-- > 0;)
		hinst_stop(r->hinst[i]);
	if (r->reaper.data && !uv_is_closing((uv_handle_t *)&r->reaper))
		uv_close((uv_handle_t *)&r->reaper, NULL);
}

void tp_registry_close(struct tp_registry *r)
{
	if (r->staging)
		tp_registry_abort(r);
	while (r->dead) {
		struct tp_hinst *hi = r->dead;

		r->dead = hi->next;
		hinst_stop(hi);
		hinst_free(hi);
	}
	while (r->retired) {
		struct tp_hinst *hi = r->retired;

		r->retired = hi->next;
		hinst_stop(hi);
		hinst_free(hi);
	}
	r->n_retired = 0;
	while (r->n_hinst) {
		struct tp_hinst *hi = r->hinst[--r->n_hinst];

		hinst_stop(hi);
		hinst_free(hi);
	}
	while (r->n_plugins) {
		struct tp_plugin *pl = &r->plugins[--r->n_plugins];

		if (pl->dl)
			dlclose(pl->dl);
	}
}

/* hi's counters added into out[0..*n) by name (up to cap). */
static void counters_add(struct tp_counter *out, size_t *n, size_t cap, const struct tp_counter *c,
                         size_t nc)
{
	for (size_t i = 0; i < nc; i++) {
		size_t k;

		for (k = 0; k < *n; k++)
			if (!strcmp(out[k].name, c[i].name))
				break;
		if (k == *n) {
			if (*n == cap)
				continue;
			out[(*n)++] = c[i];
		} else {
			out[k].value += c[i].value;
		}
	}
}

size_t tp_registry_counters(const struct tp_registry *r, struct tp_counter *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_hinst; i++)
		counters_add(out, &n, cap, r->hinst[i]->counters, r->hinst[i]->n_counters);
	for (const struct tp_hinst *hi = r->retired; hi; hi = hi->next)
		counters_add(out, &n, cap, hi->counters, hi->n_counters);
	for (const struct tp_hinst *hi = r->dead; hi; hi = hi->next)
		counters_add(out, &n, cap, hi->counters, hi->n_counters);
	counters_add(out, &n, cap, r->gone, r->n_gone);
	return n;
}
