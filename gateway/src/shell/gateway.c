/* SPDX-License-Identifier: MIT */
/* tunplug — running the gateway: a short list of rooms, each set up by its
 * own init and undone by its own close, in reverse (gw_fini copes with a
 * half-built gateway), plus the signals.
 *
 *   registry   handler tables (built in, plugins) and instances
 *   dispatch   rules -> instances
 *   loop glue  the tun on the loop, lwIP's timers (loop/tunio)
 *   netcfg     link, addresses, routes, --auto-route; protect()
 *   relay      flows: the held handshake, splice relay, handler I/O
 *   udp        UDP flow services
 *   stats      counters and the summary
 *   memtrim    the heap given back to the kernel after large drains
 * This file only wires them: it owns no packet or flow logic. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch/dispatch.h"
#include "shell/gateway.h"
#include "shell/memtrim.h"
#include "log.h"
#include "loop/clock.h"
#include "loop/tunio.h"
#include "netcfg/netcfg.h"
#include "registry/registry.h"
#include "relay/relay.h"
#include "stats/stats.h"
#include "tunplug/builtin.h"
#include "tunplug/stack.h"
#include "udp/udpflow.h"

enum { SIG_INT, SIG_TERM, SIG_QUIT, SIG_USR1, SIG__COUNT };

struct tp_gw {
	uv_loop_t loop;
	bool loop_up;
	const struct tp_options *opt;
	struct tp_embed *embed; /* NULL for the tunplug program */
	uint64_t start_ms;

	struct tp_stats stats;
	struct tp_registry reg;
	struct tp_dispatch dsp;
	struct tp_tunio tio;
	struct tp_netcfg net;
	struct tp_relay rel;
	bool stack_up;
	struct tp_memtrim trim; /* memory back to the kernel after drains */
	uv_timer_t trim_timer;

	uv_signal_t sig[SIG__COUNT];
	unsigned stop_signals; /* SIGINT/SIGTERM seen */
	bool stopping;
};

static struct tp_gw gw_main;
static const struct tp_gw_worker *gw_worker; /* --queues: this process is a worker */

void tp_gateway_set_worker(const struct tp_gw_worker *w)
{
	gw_worker = w;
}

static uint64_t uptime_ms(struct tp_gw *gw)
{
	return uv_now(&gw->loop) - gw->start_ms;
}

/* ---- the stack's callbacks (ctx = gw), to the rooms that handle them ---- */

static int stack_output(void *ctx, const void *buf, size_t len)
{
	struct tp_gw *gw = ctx;

	return tp_tunio_output(&gw->tio, buf, len);
}

static int stack_output_gso(void *ctx, const void *buf, size_t len, unsigned gso_size)
{
	struct tp_gw *gw = ctx;

	return tp_tunio_output_gso(&gw->tio, buf, len, gso_size);
}

static void stack_tcp_syn(void *ctx, struct tp_tcp_flow *tf)
{
	struct tp_gw *gw = ctx;

	tp_relay_tcp_syn(&gw->rel, tf);
}

static int stack_udp_new(void *ctx, struct tp_udp_flow *uf)
{
	struct tp_gw *gw = ctx;

	return tp_udpflow_new(&gw->rel, uf);
}

/* ---- summary ---- */

static void print_summary(struct tp_gw *gw, bool final)
{
	struct tp_counter hc[TP_MAX_HCOUNTERS];
	const struct tp_hinst *hi0 = tp_registry_at(&gw->reg, 0);
	char red[300];
	struct tp_summary sum = {
	        .label = gw_worker ? gw_worker->label : "",
	        .uptime_s = (double)uptime_ms(gw) / 1000.0,
	        .tun_name = tp_tunio_tun(&gw->tio)->name,
	        .handler = hi0 ? tp_handler_spec_redact(hi0->args.spec, red, sizeof(red)) : "-",
	        .offload_desc = tp_tunio_offload_desc(&gw->tio),
	        .gro_kinds = tp_tunio_gro_kinds(&gw->tio),
	        .counters = hc,
	};

	sum.n_counters = tp_registry_counters(&gw->reg, hc, TP_MAX_HCOUNTERS);
	/* a worker's queue is one of several on the device: the master prints
	 * the device's counters with the total */
	if (!gw_worker) {
		struct tp_nl_link l;

		sum.has_link =
		        tp_netcfg_tun_link(&gw->net, tp_tunio_tun(&gw->tio)->ifindex, &l) == 0 &&
		        l.has_txqlen && l.has_stats;
		sum.txqueuelen = l.txqlen;
		sum.tx_dropped = l.tx_dropped;
	}
	tp_stats_print_summary(&gw->stats, tp_stack_stats(), &sum);
	if (gw_worker && gw_worker->summary)
		gw_worker->summary(&gw->stats, final);
}

static void on_tick(void *ud)
{
	struct tp_gw *gw = ud;

	if (gw->embed)
		gw->embed->snapshot(gw->embed, &gw->stats, uptime_ms(gw));
}

/* ---- memory: trim the heap after large drains (shell/memtrim.h) ---- */

static void on_trim_timer(uv_timer_t *t)
{
	struct tp_gw *gw = t->data;
	const struct tp_stack_stats *ss = tp_stack_stats();
	uint64_t flows = tp_relay_flow_count(&gw->rel), peak = gw->trim.peak, t0;

	if (ss)
		flows += ss->tcp_flows_now + ss->udp_flows_now;
	if (!tp_memtrim_due(&gw->trim, flows, uv_now(&gw->loop)))
		return;
	if (flows > peak)
		peak = flows;
	t0 = uv_hrtime();
	gw->stats.flows.mem_trims++;
	tp_log(TP_LOG_DEBUG,
	       "memory: %llu flows after a peak of %llu: heap trimmed (%s) in %.1f ms",
	       (unsigned long long)flows, (unsigned long long)peak,
	       tp_memtrim_release() ? "pages released" : "nothing to release",
	       (double)(uv_hrtime() - t0) / 1e6);
}

static int trim_start(struct tp_gw *gw)
{
	int ret;

	tp_memtrim_init(&gw->trim);
	tp_memtrim_keep_top(TP_MEMTRIM_KEEP_TOP);
	ret = uv_timer_init(&gw->loop, &gw->trim_timer);
	if (ret)
		return ret;
	gw->trim_timer.data = gw;
	ret = uv_timer_start(&gw->trim_timer, on_trim_timer, TP_MEMTRIM_CHECK_MS,
	                     TP_MEMTRIM_CHECK_MS);
	/* it never keeps the loop alive by itself */
	uv_unref((uv_handle_t *)&gw->trim_timer);
	return ret;
}

/* ---- stop ---- */

/* Close every flow and our loop handles; uv_run returns once the upstream
 * handles have finished closing too. The signal handles stay (unreferenced)
 * until the network configuration is undone: a signal now must not find
 * the default action (death) in place. */
static void gw_stop(struct tp_gw *gw)
{
	if (gw->stopping)
		return;
	gw->stopping = true;
	if (gw->stack_up)
		tp_clock_sync(&gw->loop);
	tp_relay_refuse_pending(&gw->rel);
	if (gw->stack_up) {
		tp_stack_shutdown(); /* `closed` (-ECONNABORTED) for every other flow */
		gw->stack_up = false;
	}
	tp_relay_stop(&gw->rel);
	tp_tunio_stop(&gw->tio); /* the RSTs and FINs of the shutdown go out first */
	if (gw->trim_timer.data && !uv_is_closing((uv_handle_t *)&gw->trim_timer))
		uv_close((uv_handle_t *)&gw->trim_timer, NULL);
	for (int i = 0; i < SIG__COUNT; i++)
		if (gw->sig[i].data)
			uv_unref((uv_handle_t *)&gw->sig[i]);
	if (gw->embed && gw->embed->stop_async.data &&
	    !uv_is_closing((uv_handle_t *)&gw->embed->stop_async))
		uv_close((uv_handle_t *)&gw->embed->stop_async, NULL);
}

static void on_embed_stop(uv_async_t *a)
{
	struct tp_gw *gw = a->data;

	tp_log(TP_LOG_INFO, "stop requested: stopping");
	gw_stop(gw);
}

/* A third stop signal or SIGQUIT: no more waiting for flows. The network
 * configuration is still undone (it takes milliseconds); then exit. */
static void gw_force_stop(struct tp_gw *gw, int signum) __attribute__((noreturn));
static void gw_force_stop(struct tp_gw *gw, int signum)
{
	tp_log(TP_LOG_WARN, "%s: forced stop: not waiting for flows", strsignal(signum));
	if (tp_netcfg_undo_needs_tun_closed(&gw->net))
		tp_tunio_close(&gw->tio);
	tp_netcfg_undo(&gw->net);
	_exit(1);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct tp_gw *gw = s->data;

	if (signum == SIGUSR1) {
		print_summary(gw, false);
		return;
	}
	if (signum == SIGQUIT)
		gw_force_stop(gw, signum);
	if (++gw->stop_signals >= 3)
		gw_force_stop(gw, signum);
	if (gw->stopping) {
		tp_log(TP_LOG_INFO,
		       "%s: already stopping (the routes and addresses are removed at the end; "
		       "SIGQUIT or a third signal forces the stop)",
		       strsignal(signum));
		return;
	}
	tp_log(TP_LOG_INFO, "%s: stopping", strsignal(signum));
	gw_stop(gw);
}

/* Called once the network configuration is undone. Closing the last
 * handle of a signal gives it back its default action (death), and a stop
 * signal that arrives in the last milliseconds (the second of a Ctrl-C and
 * a wrapper's SIGTERM) would end the process with 143 after a clean stop:
 * the stop signals are blocked first, and discarded at exit. */
static void close_signals(struct tp_gw *gw)
{
	sigset_t stop;

	if (gw->sig[SIG_INT].data) {
		sigemptyset(&stop);
		sigaddset(&stop, SIGINT);
		sigaddset(&stop, SIGTERM);
		sigaddset(&stop, SIGQUIT);
		pthread_sigmask(SIG_BLOCK, &stop, NULL);
	}
	for (int i = 0; i < SIG__COUNT; i++)
		if (gw->sig[i].data && !uv_is_closing((uv_handle_t *)&gw->sig[i]))
			uv_close((uv_handle_t *)&gw->sig[i], NULL);
}

/* ---- start-up ---- */

static int stack_start(struct tp_gw *gw)
{
	const struct tp_options *o = gw->opt;
	struct tp_stack_cfg cfg;
	int ret;

	memset(&cfg, 0, sizeof(cfg));
	cfg.mtu = tp_tunio_mtu(&gw->tio);
	cfg.max_flows = o->max_flows;
	cfg.max_pending = o->max_pending;
	cfg.max_pending_per_source = o->max_pending_per_source;
	cfg.allow_loopback = o->allow_loopback;
	cfg.own = o->addrs;
	cfg.n_own = o->n_addrs;
	cfg.output = stack_output;
	/* with a batch, every TCP packet leaves with a vnet header: NEEDS_CSUM
	 * and the pseudo-header sum, so nobody sums the payload */
	cfg.tcp_csum_partial = tp_tunio_tcp_csum_partial(&gw->tio);
	/* TCP super-segments out (lwIP patch 0012), written with a TSO header */
	if (tp_tunio_tcp_tso(&gw->tio))
		cfg.output_gso = stack_output_gso;
	cfg.tcp_syn = stack_tcp_syn;
	cfg.udp_new = stack_udp_new;
	cfg.max_udp_flows = o->max_udp_flows;
	cfg.udp_idle_ms = o->udp_timeout_s * 1000u;
	cfg.udp_dns_idle_ms = o->udp_dns_timeout_s * 1000u;
	cfg.icmp_drop = o->icmp_drop;
	cfg.ctx = gw;
	tp_clock_sync(&gw->loop);
	ret = tp_stack_init(&cfg);
	if (ret) {
		fprintf(stderr, "tunplug: stack: init: %s\n", strerror(-ret));
		return ret;
	}
	gw->stack_up = true;
	return 0;
}

/* Every handler instance gets its own struct tp_host: the flow and UDP
 * services here, the rest from the registry; protect's context is netcfg. */
static int handlers_start(struct tp_gw *gw)
{
	struct tp_host services;

	memset(&services, 0, sizeof(services));
	services.loop = &gw->loop;
	services.connect_timeout_ms = (uint64_t)gw->opt->connect_timeout_s * 1000u;
	services.protect = tp_netcfg_host_protect;
	tp_relay_host_services(&services);
	tp_udpflow_host_services(&services);
	return tp_registry_start(&gw->reg, &services, &gw->net);
}

static int signals_start(struct tp_gw *gw)
{
	static const int signums[SIG__COUNT] = {[SIG_INT] = SIGINT,
	                                        [SIG_TERM] = SIGTERM,
	                                        [SIG_QUIT] = SIGQUIT,
	                                        [SIG_USR1] = SIGUSR1};
	int ret;

	if (gw->embed) {
		/* an embedding program owns the signals; it stops us with this */
		ret = uv_async_init(&gw->loop, &gw->embed->stop_async, on_embed_stop);
		if (ret)
			return ret;
		gw->embed->stop_async.data = gw;
		return 0;
	}
	for (int i = 0; i < SIG__COUNT; i++) {
		ret = uv_signal_init(&gw->loop, &gw->sig[i]);
		if (ret)
			return ret;
		gw->sig[i].data = gw;
		ret = uv_signal_start(&gw->sig[i], on_signal, signums[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static int gw_init(struct tp_gw *gw, const struct tp_options *o, struct tp_embed *embed)
{
	int ret;

	memset(gw, 0, sizeof(*gw));
	gw->embed = embed;
	gw->opt = o;
	tp_tunio_init(&gw->tio);
	tp_registry_init(&gw->reg, o->config);
	tp_netcfg_init(&gw->net, o, &gw->stats.flows);
	if (embed) {
		tp_netcfg_set_protect(&gw->net, embed->protect, embed->protect_ud);
	}

	ret = tp_registry_load_plugins(&gw->reg, o->plugins, o->n_plugins);
	if (!ret)
		ret = tp_dispatch_configure(&gw->dsp, &gw->reg, o->handler, o->dns_upstreams,
		                            o->n_dns, o->rules, o->n_rules);
	if (ret)
		return ret;
	ret = uv_loop_init(&gw->loop);
	if (ret) {
		fprintf(stderr, "tunplug: event loop: %s\n", uv_strerror(ret));
		return ret;
	}
	gw->loop_up = true;
	gw->start_ms = uv_now(&gw->loop);

	ret = tp_tunio_open(&gw->tio, &gw->loop, &gw->stats.tun, o);
	if (!ret && o->tun_fd < 0)
		ret = tp_netcfg_open(&gw->net, tp_tunio_tun(&gw->tio)->ifindex);
	if (ret)
		return ret;
	ret = tp_relay_init(&gw->rel, &gw->loop, &gw->stats.flows, &gw->dsp, o->flow_buffer,
	                    o->idle_timeout_s);
	if (ret) {
		fprintf(stderr, "tunplug: out of memory\n");
		return ret;
	}
	ret = stack_start(gw);
	if (!ret)
		ret = handlers_start(gw);
	if (ret)
		return ret;

	ret = tp_tunio_start(&gw->tio, on_tick, gw);
	if (!ret)
		ret = tp_relay_start(&gw->rel);
	if (!ret)
		ret = trim_start(gw);
	if (!ret)
		ret = signals_start(gw);
	if (ret) {
		fprintf(stderr, "tunplug: event loop setup: %s\n", uv_strerror(ret));
		return ret;
	}
	return 0;
}

/* Undo gw_init (and a run), in reverse; copes with a half-built gateway. */
static int gw_fini(struct tp_gw *gw)
{
	int ret;

	if (gw->loop_up) {
		gw_stop(gw);
		/* Let every close callback (ours, upstream sockets, handler
		 * timers) run. */
		uv_run(&gw->loop, UV_RUN_DEFAULT);
		tp_relay_run_deferred(&gw->rel);
		tp_registry_stop(&gw->reg);
		uv_run(&gw->loop, UV_RUN_DEFAULT);
	}
	/* no plugin code may run any more: every handler is finished */
	tp_registry_close(&gw->reg);
	if (tp_netcfg_undo_needs_tun_closed(&gw->net))
		tp_tunio_close(&gw->tio);
	ret = tp_netcfg_undo(&gw->net);
	tp_tunio_close(&gw->tio);
	if (gw->loop_up) {
		size_t n = tp_relay_flow_count(&gw->rel);

		if (n)
			tp_log(TP_LOG_WARN, "%zu flows still allocated at exit", n);
		close_signals(gw);
		uv_run(&gw->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&gw->loop) == UV_EBUSY)
			tp_log(TP_LOG_WARN, "event loop still has open handles at exit");
		gw->loop_up = false;
	}
	tp_relay_close(&gw->rel);
	return ret;
}

static int gateway_run(const struct tp_options *opt, struct tp_embed *embed)
{
	struct tp_gw *gw = &gw_main;
	const struct tp_hinst *hi0;
	char red[300];
	int ret;

	ret = gw_init(gw, opt, embed);
	if (!ret)
		ret = tp_netcfg_drop_privileges(&gw->net);
	if (ret) {
		gw_fini(gw);
		return ret < 0 ? ret : -EINVAL;
	}
	if (gw_worker && gw_worker->ready)
		gw_worker->ready(&gw->stats);
	hi0 = tp_registry_at(&gw->reg, 0);
	tp_log(TP_LOG_INFO, "ready tun=%s mtu=%u handler=%s%s", tp_tunio_tun(&gw->tio)->name,
	       tp_tunio_mtu(&gw->tio), tp_handler_spec_redact(hi0->args.spec, red, sizeof(red)),
	       tp_tunio_tun(&gw->tio)->adopted ? " (adopted fd)" : "");
	if (embed)
		embed->loop_ready(embed);
	uv_run(&gw->loop, UV_RUN_DEFAULT);
	if (embed)
		embed->loop_done(embed);
	/* Every flow is closed by now; the counters are final. */
	print_summary(gw, true);
	if (embed)
		embed->snapshot(embed, &gw->stats, uptime_ms(gw));
	return gw_fini(gw);
}

int tp_gateway_run(const struct tp_options *opt)
{
	return gateway_run(opt, NULL) ? 1 : 0;
}

int tp_gateway_run_embedded(const struct tp_options *opt, struct tp_embed *e)
{
	return gateway_run(opt, e);
}
