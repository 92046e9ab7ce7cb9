/* SPDX-License-Identifier: MIT */
/* bench/domainrules — what dispatch costs per new flow with many domain
 * rules (gateway/src/dispatch/dispatch.c), against no rules at all. Pure
 * CPU: tp_dispatch_offer on a prepared flow info, in a loop, with a handler
 * that takes every flow at once (so the time is the rule walk). Run by
 * hand: build/bench/bench_domainrules [ITERATIONS]. Prints ns per dispatch
 * for each case. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch/dispatch.h"
#include "options/options.h"
#include "registry/registry.h"

static int take_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	(void)host, (void)args;
	*state = NULL;
	return 0;
}

static int take_accept(void *state, struct tp_flow *f)
{
	(void)state, (void)f;
	return TP_OK;
}

static void take_close(void *state, struct tp_flow *f, int err)
{
	(void)state, (void)f, (void)err;
}

static void take_fini(void *state)
{
	(void)state;
}

static const struct tp_handler take = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = "take",
        .init = take_init,
        .tcp_accept = take_accept,
        .flow_close = take_close,
        .fini = take_fini,
};

static void log_noop(const struct tp_host *h, int level, const char *fmt, ...)
{
	(void)h, (void)level, (void)fmt;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static struct tp_registry reg;
static struct tp_dispatch dsp;

/* rules: n domain rules "domain=hostI.example.net", after `plain` address
 * rules that never match (dst=10.I.0.0/16). */
static int setup(int n, int plain)
{
	struct tp_options o;
	struct tp_host services;
	char err[512], rule[128];

	tp_options_defaults(&o);
	for (int i = 0; i < plain; i++) {
		snprintf(rule, sizeof(rule), "dst=10.%d.0.0/16,handler=take://p", i % 256);
		if (tp_options_set(&o, "rule", rule, err, sizeof(err)))
			return -1;
	}
	for (int i = 0; i < n; i++) {
		snprintf(rule, sizeof(rule), "domain=host%d.example.net,handler=take://%d", i,
		         i % 8);
		if (tp_options_set(&o, "rule", rule, err, sizeof(err)))
			return -1;
	}
	tp_registry_init(&reg, NULL);
	if (tp_registry_add_table(&reg, &take) ||
	    tp_dispatch_configure(&dsp, &reg, "take://default", NULL, 0, o.rules, o.n_rules))
		return -1;
	memset(&services, 0, sizeof(services));
	services.log = log_noop;
	return tp_registry_start(&reg, &services, NULL);
}

static void teardown(void)
{
	tp_registry_stop(&reg);
	tp_registry_close(&reg);
	tp_dispatch_close(&dsp);
	tp_options_arena_reset();
}

static void run(const char *what, const char *name, long iters)
{
	struct tp_flow_info info;
	struct sockaddr_in *s = (struct sockaddr_in *)&info.src;
	struct sockaddr_in *d = (struct sockaddr_in *)&info.dst;
	struct tp_hinst *owner = NULL;
	double t0, t1;
	long hits = 0;

	memset(&info, 0, sizeof(info));
	info.proto = IPPROTO_TCP;
	s->sin_family = d->sin_family = AF_INET;
	s->sin_addr.s_addr = htonl(0x0a000001);
	s->sin_port = htons(40000);
	d->sin_addr.s_addr = htonl(0xc6120001);
	d->sin_port = htons(443);
	info.name = name;
	info.name_source = name ? TP_NAME_FAKE_IP : TP_NAME_NONE;
	t0 = now_ns();
	for (long i = 0; i < iters; i++)
		hits += tp_dispatch_offer(&dsp, NULL, &info, NULL, 0, &owner) == TP_OK;
	t1 = now_ns();
	printf("%-58s %8.1f ns/dispatch (%ld flows, owner %s)\n", what, (t1 - t0) / (double)iters,
	       hits, owner ? owner->args.spec : "-");
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 2000000;

	if (iters <= 0)
		iters = 2000000;
	if (setup(0, 0))
		return 1;
	run("0 rules, flow without a name", NULL, iters);
	run("0 rules, named flow (www.host9876.example.net)", "www.host9876.example.net", iters);
	teardown();
	if (setup(10000, 0))
		return 1;
	run("10000 domain rules, flow without a name", NULL, iters);
	run("10000 domain rules, name matches rule 9876", "www.host9876.example.net", iters);
	run("10000 domain rules, name matches rule 0", "host0.example.net", iters);
	run("10000 domain rules, name matches none (5 labels)", "a.b.c.example.org", iters);
	teardown();
	if (setup(10000, 64))
		return 1;
	run("64 address rules (no match) + 10000 domain, match 9876", "www.host9876.example.net",
	    iters);
	run("64 address rules (no match) + 10000 domain, no name", NULL, iters);
	teardown();
	return 0;
}
