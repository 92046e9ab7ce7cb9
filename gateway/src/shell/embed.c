/* SPDX-License-Identifier: MIT */
/* tunplug — the embedding API (tunplug/tunplug.h) over the gateway.
 *
 * Threads: tunplug_run runs the gateway's loop on the caller's thread.
 * tunplug_stop may come from any thread: under the mutex it records the
 * request and, only while the loop is up and only once, wakes it with
 * uv_async_send (the async handle exists exactly between loop_ready and
 * loop_done, which take the same mutex). Counters cross threads as a
 * snapshot under the mutex, refreshed by the loop on every stack timer tick
 * (<= 250 ms) and once more at the end. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shell/gateway.h"
#include "log.h"
#include "options/options.h"
#include "tunplug/stack.h"
#include "tunplug/tunplug.h"

#define MAX_ARGS 256

struct tunplug {
	struct tp_embed e; /* first: the gateway hands &e back to us */
	struct tp_options opt;
	char **argv; /* owned copies: opt's strings point into them */
	int argc;
	atomic_int state; /* 0 new, 1 starting, 2 loop up, 3 finished */
	pthread_mutex_t mu;
	bool stop_requested, stop_sent; /* under mu */
	struct tunplug_counters snap;
};

static atomic_flag running = ATOMIC_FLAG_INIT; /* one gateway per process */

static void snapshot(struct tp_embed *e, const struct tp_stats *st, uint64_t uptime_ms)
{
	struct tunplug *t = (struct tunplug *)e;
	const struct tp_stack_stats *ss = tp_stack_stats();
	const struct tp_flow_counters *fc = &st->flows;
	struct tunplug_counters c = {0};

	c.packets_in = ss ? ss->pkts_in : 0;
	c.packets_out = ss ? ss->pkts_out : 0;
	c.bytes_up = fc->bytes_up;
	c.bytes_down = fc->bytes_down;
	c.flows_seen = fc->flows_seen;
	c.flows_accepted = fc->flows_accepted;
	for (int i = 0; i < TP_REFUSE__COUNT; i++)
		c.flows_refused += fc->flows_refused[i];
	c.flows_closed = fc->flows_closed;
	c.tcp_flows_now = ss ? ss->tcp_flows_now : 0;
	c.udp_flows_now = ss ? ss->udp_flows_now : 0;
	for (int i = 0; i < TP_DROP__COUNT; i++)
		c.drops += st->tun.drops[i] + (ss ? ss->drops[i] : 0);
	c.protect_calls = fc->protect_calls;
	c.uptime_ms = uptime_ms;
	pthread_mutex_lock(&t->mu);
	t->snap = c;
	pthread_mutex_unlock(&t->mu);
}

static void loop_ready(struct tp_embed *e)
{
	struct tunplug *t = (struct tunplug *)e;

	pthread_mutex_lock(&t->mu);
	atomic_store(&t->state, 2);
	if (t->stop_requested && !t->stop_sent) {
		t->stop_sent = true;
		uv_async_send(&t->e.stop_async);
	}
	pthread_mutex_unlock(&t->mu);
}

static void loop_done(struct tp_embed *e)
{
	struct tunplug *t = (struct tunplug *)e;

	pthread_mutex_lock(&t->mu);
	atomic_store(&t->state, 3);
	pthread_mutex_unlock(&t->mu);
}

/* argv strings are copied; the new instance is the caller's. */
tunplug *tunplug_new(int argc, const char *const *argv, char *err, size_t errlen)
{
	struct tunplug *t;

	if (argc < 0 || argc > MAX_ARGS) {
		snprintf(err, errlen, "tunplug: too many arguments");
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		goto nomem;
	t->argv = calloc((size_t)argc + 2, sizeof(char *));
	if (!t->argv)
		goto nomem;
	t->argv[0] = strdup("tunplug");
	if (!t->argv[0])
		goto nomem;
	for (int i = 0; i < argc; i++) {
		t->argv[i + 1] = strdup(argv[i]);
		if (!t->argv[i + 1])
			goto nomem;
	}
	t->argc = argc + 1;
	if (tp_options_parse(&t->opt, t->argc, t->argv, err, errlen) != 0)
		goto fail;
	if (t->opt.help || t->opt.version) {
		snprintf(err, errlen, "tunplug: --help/--version make no sense here");
		goto fail;
	}
	pthread_mutex_init(&t->mu, NULL);
	t->e.snapshot = snapshot;
	t->e.loop_ready = loop_ready;
	t->e.loop_done = loop_done;
	tp_log_set_level(t->opt.log_level);
	return t;
nomem:
	snprintf(err, errlen, "tunplug: out of memory");
fail:
	if (t && t->argv) {
		for (int i = 0; i <= argc; i++)
			free(t->argv[i]);
		free(t->argv);
	}
	free(t);
	return NULL;
}

tunplug *tunplug_new_args(const char *args, char *err, size_t errlen)
{
	char *copy = strdup(args ? args : ""), *save = NULL, *tok;
	const char *v[MAX_ARGS];
	int n = 0;
	tunplug *t;

	if (!copy) {
		snprintf(err, errlen, "tunplug: out of memory");
		return NULL;
	}
	for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		if (n == MAX_ARGS) {
			snprintf(err, errlen, "tunplug: too many arguments");
			free(copy);
			return NULL;
		}
		v[n++] = tok;
	}
	t = tunplug_new(n, v, err, errlen);
	free(copy);
	return t;
}

void tunplug_set_protect(tunplug *t, tunplug_protect_fn fn, void *user_data)
{
	t->e.protect = fn;
	t->e.protect_ud = user_data;
}

int tunplug_run(tunplug *t)
{
	int expected = 0, ret;

	if (!atomic_compare_exchange_strong(&t->state, &expected, 1))
		return -EALREADY;
	if (atomic_flag_test_and_set(&running)) {
		atomic_store(&t->state, 0);
		return -EBUSY;
	}
	ret = tp_gateway_run_embedded(&t->opt, &t->e);
	atomic_store(&t->state, 3);
	atomic_flag_clear(&running);
	return ret;
}

void tunplug_stop(tunplug *t)
{
	pthread_mutex_lock(&t->mu);
	t->stop_requested = true;
	if (atomic_load(&t->state) == 2 && !t->stop_sent) {
		t->stop_sent = true;
		uv_async_send(&t->e.stop_async);
	}
	pthread_mutex_unlock(&t->mu);
}

int tunplug_counters(tunplug *t, struct tunplug_counters *out)
{
	pthread_mutex_lock(&t->mu);
	*out = t->snap;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

void tunplug_free(tunplug *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->argc; i++)
		free(t->argv[i]);
	free(t->argv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
