/* SPDX-License-Identifier: MIT */
/* tunplug — running the gateway: a short list of rooms, each set up by its
 * own init and undone by its own close, in reverse (gw_fini copes with a
 * half-built gateway), plus the signals.
 *
 *   registry   handler tables (built in, plugins) and instances
 *   dispatch   rules -> instances
 *   names      the fake-IP pool (shared with the other workers)
 *   loop glue  the tun on the loop, lwIP's timers (loop/tunio)
 *   netcfg     link, addresses, routes, --auto-route; protect()
 *   relay      flows: the held handshake, splice relay, handler I/O
 *   udp        UDP flow services
 *   stats      counters and the summary
 *   memtrim    the heap given back to the kernel after large drains
 *   notify     readiness and status for systemd (sd_notify)
 *   ctl        the control socket and the metrics page
 * This file only wires them: it owns no packet or flow logic. A SIGHUP
 * reload is triggered here (gw_reload): the options room reads and checks
 * the file, the registry and dispatch build the new set and swap. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "dispatch/dispatch.h"
#include "shell/gateway.h"
#include "shell/memtrim.h"
#include "log.h"
#include "loop/clock.h"
#include "loop/tunio.h"
#include "names/names.h"
#include "netcfg/netcfg.h"
#include "notify/notify.h"
#include "options/config.h"
#include "registry/registry.h"
#include "relay/relay.h"
#include "stats/stats.h"
#include "tunplug/builtin.h"
#include "tunplug/stack.h"
#include "udp/udpflow.h"

enum { SIG_INT, SIG_TERM, SIG_QUIT, SIG_USR1, SIG_HUP, SIG__COUNT };

struct tp_gw {
	uv_loop_t loop;
	bool loop_up;
	const struct tp_options *opt;
	struct tp_embed *embed; /* NULL for the tunplug program */
	uint64_t start_ms;

	struct tp_stats stats;
	struct tp_registry reg;
	struct tp_dispatch dsp;
	struct tp_names names;
	bool names_up;
	struct tp_tunio tio;
	struct tp_netcfg net;
	struct tp_relay rel;
	bool stack_up;
	struct tp_memtrim trim; /* memory back to the kernel after drains */
	uv_timer_t trim_timer;
	struct tp_ctl ctl; /* control socket, metrics */

	uv_signal_t sig[SIG__COUNT];
	unsigned stop_signals; /* SIGINT/SIGTERM seen */
	bool stopping;

	struct tp_notify ntf;    /* systemd (not for workers, not embedded) */
	uv_timer_t status_timer; /* STATUS= (or a worker's report) every 5 s */
	/* the latest reload's options and file: the rules and instances copy
	 * what they need, kept anyway until the next reload replaces them */
	struct gw_reload *reloaded;
	unsigned reloads, reloads_refused;
};

/* What one SIGHUP reload builds. */
struct gw_reload {
	struct tp_options opt;
	struct tp_config cfg;
	struct tp_dispatch dsp;
};

static struct tp_gw gw_main;
static const struct tp_gw_worker *gw_worker; /* --queues: this process is a worker */
static struct tp_fakepool *gw_fakepool;      /* --queues: the master's pool */

void tp_gateway_set_worker(const struct tp_gw_worker *w)
{
	gw_worker = w;
}

void tp_gateway_set_fakepool(struct tp_fakepool *p)
{
	gw_fakepool = p;
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
	        .fake_ip = tp_names_fake_ip(&gw->names),
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

/* ---- status: systemd's STATUS=, a worker's report to its master ---- */

static void flow_counts(struct tp_gw *gw, struct tp_notify_counts *c)
{
	const struct tp_stack_stats *ss = tp_stack_stats();

	memset(c, 0, sizeof(*c));
	if (ss && gw->stack_up) {
		c->tcp_now = ss->tcp_flows_now;
		c->udp_now = ss->udp_flows_now;
	}
	c->seen = gw->stats.flows.flows_seen;
	c->accepted = gw->stats.flows.flows_accepted;
	for (int i = 0; i < TP_REFUSE__COUNT; i++)
		c->refused += gw->stats.flows.flows_refused[i];
	c->bytes_up = gw->stats.flows.bytes_up;
	c->bytes_down = gw->stats.flows.bytes_down;
}

static const char *status_text(struct tp_gw *gw, char *buf, size_t len)
{
	struct tp_notify_counts c;

	flow_counts(gw, &c);
	return tp_notify_status_text(&c, buf, len);
}

static void on_status_timer(uv_timer_t *t)
{
	struct tp_gw *gw = t->data;
	char text[256];

	if (gw->stopping)
		return;
	if (gw_worker && gw_worker->status) {
		struct tp_notify_counts c;

		flow_counts(gw, &c);
		gw_worker->status(&gw->stats, c.tcp_now, c.udp_now);
		return;
	}
	tp_notify_status(&gw->ntf, status_text(gw, text, sizeof(text)));
}

/* Only when someone listens: systemd, or the master of a worker. */
static int status_start(struct tp_gw *gw)
{
	int ret;

	if (!gw->ntf.on && !(gw_worker && gw_worker->status))
		return 0;
	ret = uv_timer_init(&gw->loop, &gw->status_timer);
	if (ret)
		return ret;
	gw->status_timer.data = gw;
	ret = uv_timer_start(&gw->status_timer, on_status_timer, TP_NOTIFY_STATUS_MS,
	                     TP_NOTIFY_STATUS_MS);
	uv_unref((uv_handle_t *)&gw->status_timer);
	return ret;
}

/* ---- SIGHUP: reload rules and handlers from the config file ---- */

/* Build the new set beside the running one and swap, or refuse (the reason
 * in err) and keep the running one. */
static int reload_apply(struct tp_gw *gw, struct gw_reload *nx, char *err, size_t errlen)
{
	const struct tp_options *o = gw->opt;
	int ret;

	ret = tp_config_load_all(&nx->cfg, &nx->opt, o->config_path, o->argc, o->argv, o->n_plugins,
	                         err, errlen);
	if (!ret && o->config)
		ret = tp_config_diff(o->config, &nx->cfg, err, errlen);
	if (ret)
		return ret;
	gw->reg.last_err[0] = '\0';
	ret = tp_registry_stage(&gw->reg, &nx->cfg);
	if (ret) {
		snprintf(err, errlen, "tunplug: a reload is already under way");
		return ret;
	}
	ret = tp_dispatch_configure(&nx->dsp, &gw->reg, nx->opt.handler, nx->opt.dns_upstreams,
	                            nx->opt.n_dns, nx->opt.rules, nx->opt.n_rules);
	if (!ret)
		ret = tp_registry_start_staged(&gw->reg);
	if (ret)
		snprintf(err, errlen, "tunplug: %s: %s", o->config_path,
		         gw->reg.last_err[0] ? gw->reg.last_err : strerror(-ret));
	if (ret) {
		tp_registry_abort(&gw->reg);
		tp_dispatch_close(&nx->dsp);
		return ret;
	}
	tp_registry_commit(&gw->reg);
	tp_dispatch_replace(&gw->dsp, &nx->dsp);
	{
		bool sniff_rules = false;

		for (size_t i = 0; i < nx->opt.n_rules; i++)
			sniff_rules |= nx->opt.rules[i].sniff;
		tp_relay_sniff_rules(&gw->rel, sniff_rules);
	}
	tp_log_set_level(nx->opt.log_level);
	return 0;
}

static void gw_reload(struct tp_gw *gw)
{
	struct gw_reload *nx;
	char err[640], text[256];
	int ret;

	if (!gw->opt->config_path) {
		/* nothing to re-read: the command line cannot have changed */
		tp_log(TP_LOG_INFO, "SIGHUP: no --config file to reload: ignored");
		if (gw_worker && gw_worker->reloaded)
			gw_worker->reloaded(true);
		return;
	}
	tp_notify_reloading(&gw->ntf);
	nx = calloc(1, sizeof(*nx));
	if (!nx) {
		snprintf(err, sizeof(err), "out of memory");
		ret = -ENOMEM;
	} else {
		ret = reload_apply(gw, nx, err, sizeof(err));
	}
	if (ret) {
		gw->reloads_refused++;
		tp_log(TP_LOG_ERROR,
		       "SIGHUP: reload refused, the running rules and handlers stay: %s",
		       strncmp(err, "tunplug: ", 9) ? err : err + 9);
		if (nx)
			tp_config_free(&nx->cfg);
		free(nx);
	} else {
		gw->reloads++;
		tp_log(TP_LOG_INFO,
		       "SIGHUP: reloaded %s (set %u): %zu rules, %zu handler instances for new "
		       "flows; "
		       "%zu older instances still serve open flows",
		       gw->opt->config_path, gw->reg.gen, gw->dsp.n_rules, gw->reg.n_hinst,
		       tp_registry_retired(&gw->reg));
		if (gw->reloaded)
			tp_config_free(&gw->reloaded->cfg);
		free(gw->reloaded);
		gw->reloaded = nx;
	}
	if (gw_worker && gw_worker->reloaded)
		gw_worker->reloaded(ret == 0);
	tp_notify_ready(&gw->ntf, status_text(gw, text, sizeof(text)));
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
	tp_notify_stopping(&gw->ntf);
	tp_ctl_stop(&gw->ctl); /* before the relay: it holds flow cursors */
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
	if (gw->status_timer.data && !uv_is_closing((uv_handle_t *)&gw->status_timer))
		uv_close((uv_handle_t *)&gw->status_timer, NULL);
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
	if (signum == SIGHUP) {
		if (gw->stopping)
			tp_log(TP_LOG_INFO, "SIGHUP: stopping: no reload");
		else
			gw_reload(gw);
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
	if (tp_names_fake_ip(&gw->names)) {
		services.fake_ip_addr = tp_names_host_fake_ip;
		services.fake_ip_ttl = gw->names.ttl;
	}
	tp_registry_set_names(&gw->reg, &gw->names);
	tp_relay_host_services(&services);
	tp_udpflow_host_services(&services);
	return tp_registry_start(&gw->reg, &services, &gw->net);
}

/* ctl's view of the tun device's own counters (netcfg) */
static int ctl_link(void *ud, uint64_t *txqlen, uint64_t *tx_dropped)
{
	struct tp_gw *gw = ud;
	struct tp_nl_link l;
	int ret = tp_netcfg_tun_link(&gw->net, tp_tunio_tun(&gw->tio)->ifindex, &l);

	if (ret)
		return ret;
	if (!l.has_txqlen || !l.has_stats)
		return -ENODATA;
	*txqlen = l.txqlen;
	*tx_dropped = l.tx_dropped;
	return 0;
}

/* The control socket (a worker: the master's channel instead) and the
 * metrics page. An embedding program has none unless it asks. */
static int ctl_start(struct tp_gw *gw)
{
	const struct tp_options *o = gw->opt;
	struct tp_ctl_source src = {
	        .rel = &gw->rel,
	        .st = &gw->stats,
	        .stack_stats = tp_stack_stats,
	        .reg = &gw->reg,
	        .worker = gw_worker ? gw_worker->index : 0,
	        /* a worker's queue is one of several: the master has these */
	        .link = gw_worker ? NULL : ctl_link,
	        .link_ud = gw,
	};
	struct timespec now;
	int ret;

	if (!gw_worker && clock_gettime(CLOCK_REALTIME, &now) == 0)
		src.start_time = (double)now.tv_sec;

	tp_ctl_init(&gw->ctl, &gw->loop, &src);
	if (gw_worker)
		return gw_worker->ctl_fd >= 0 ? tp_ctl_worker_channel(&gw->ctl, gw_worker->ctl_fd)
		                              : 0;
	ret = tp_ctl_listen(&gw->ctl,
	                    o->control  ? o->control
	                    : gw->embed ? "none"
	                                : NULL,
	                    tp_tunio_tun(&gw->tio)->name);
	if (!ret)
		ret = tp_ctl_metrics_listen(&gw->ctl, o->metrics);
	return ret;
}

static int signals_start(struct tp_gw *gw)
{
	static const int signums[SIG__COUNT] = {[SIG_INT] = SIGINT,
	                                        [SIG_TERM] = SIGTERM,
	                                        [SIG_QUIT] = SIGQUIT,
	                                        [SIG_USR1] = SIGUSR1,
	                                        [SIG_HUP] = SIGHUP};
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
	/* systemd talks to the tunplug program's main process only */
	if (!embed && !gw_worker)
		tp_notify_init(&gw->ntf);
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
	if (!ret) {
		ret = tp_names_init(&gw->names, o, gw_fakepool, &gw->stats.names);
		gw->names_up = true;
	}
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
	if (!ret) {
		bool rules = false;

		for (size_t i = 0; i < o->n_rules; i++)
			rules |= o->rules[i].sniff;
		/* always: a reload may bring rules with sniff=1 */
		ret = tp_relay_sniff_init(&gw->rel, &o->sniff, rules);
	}
	if (ret) {
		fprintf(stderr, "tunplug: out of memory\n");
		return ret;
	}
	tp_relay_set_names(&gw->rel, &gw->names);
	ret = stack_start(gw);
	if (!ret)
		ret = handlers_start(gw);
	if (ret)
		return ret;

	ret = ctl_start(gw);
	if (ret)
		return ret;
	ret = tp_tunio_start(&gw->tio, on_tick, gw);
	if (!ret)
		ret = tp_relay_start(&gw->rel);
	if (!ret)
		ret = trim_start(gw);
	if (!ret)
		ret = status_start(gw);
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
	if (gw->reloaded)
		tp_config_free(&gw->reloaded->cfg);
	free(gw->reloaded);
	gw->reloaded = NULL;
	tp_notify_close(&gw->ntf);
	tp_ctl_close(&gw->ctl);
	tp_dispatch_close(&gw->dsp);
	if (gw->names_up)
		tp_names_close(&gw->names);
	gw->names_up = false;
	return ret;
}

/* random() seeds the stack's flow hash tables and is lwIP's LWIP_RAND:
 * without this every run (and every worker) would use the same default
 * sequence, and a client could aim at one hash bucket. */
static void seed_random(void)
{
	unsigned int s;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
		s = (unsigned int)time(NULL) ^ (unsigned int)getpid() ^ (unsigned int)clock();
	srandom(s);
}

static int gateway_run(const struct tp_options *opt, struct tp_embed *embed)
{
	struct tp_gw *gw = &gw_main;
	const struct tp_hinst *hi0;
	char red[300];
	int ret;

	seed_random();
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
	/* the tun, its addresses and routes, the handlers: all up */
	tp_notify_ready(&gw->ntf, status_text(gw, red, sizeof(red)));
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
