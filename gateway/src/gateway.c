/* SPDX-License-Identifier: MIT */
/* tunplug — the event loop glue: tun fd and lwIP timers on libuv, netlink
 * policy, signals, the counter summary.
 *
 * Start-up is a list (tun, netlink, stack, handler, loop handles); a failure
 * at any step undoes the steps before it, in reverse, in gw_fini(). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway.h"
#include "log.h"
#include "tunplug/builtin.h"

#define TUN_BATCH 256          /* packets per readable event */
#define TUN_BUF 65536          /* one packet, MTU at most 65535 */
#define STACK_TIMER_CAP_MS 250 /* never sleep longer than this on lwIP timers */

static struct tp_gw gw_main;

void tp_gw_clock(struct tp_gw *gw)
{
	tp_stack_set_now((uint32_t)uv_now(&gw->loop));
}

/* ---- packets out ---- */

static int tun_output(void *ctx, const void *buf, size_t len)
{
	struct tp_gw *gw = ctx;
	ssize_t n;

	do
		n = write(gw->tun.fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
		gw->st.out_drops_full++;
		return -errno;
	}
	if (gw->st.out_errors++ == 0)
		tp_log(TP_LOG_WARN, "tun write: %s", strerror(errno));
	return -errno;
}

/* ---- lwIP timers ---- */

static void on_stack_timer(uv_timer_t *t);

static void arm_stack_timer(struct tp_gw *gw, uint32_t next_ms)
{
	if (gw->stopping)
		return;
	if (next_ms > STACK_TIMER_CAP_MS)
		next_ms = STACK_TIMER_CAP_MS;
	uv_timer_start(&gw->stack_timer, on_stack_timer, next_ms, 0);
}

static void on_stack_timer(uv_timer_t *t)
{
	struct tp_gw *gw = t->data;

	tp_gw_clock(gw);
	arm_stack_timer(gw, tp_stack_poll());
}

/* ---- packets in ---- */

static void on_tun_readable(uv_poll_t *p, int status, int events)
{
	struct tp_gw *gw = p->data;
	ssize_t n;

	(void)events;
	if (status < 0) {
		tp_log(TP_LOG_ERROR, "tun poll: %s", uv_strerror(status));
		uv_poll_stop(p);
		return;
	}
	tp_gw_clock(gw);
	for (int i = 0; i < TUN_BATCH; i++) {
		n = read(gw->tun.fd, gw->rxbuf, TUN_BUF);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    gw->st.tun_read_errors++ == 0)
				tp_log(TP_LOG_WARN, "tun read: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		gw->st.tun_reads++;
		tp_stack_input(gw->rxbuf, (size_t)n);
	}
	arm_stack_timer(gw, tp_stack_poll());
}

/* ---- idle timeout ---- */

static void on_idle_timer(uv_timer_t *t)
{
	struct tp_gw *gw = t->data;

	tp_gw_clock(gw);
	tp_host_sweep_idle(gw, uv_now(&gw->loop), (uint64_t)gw->opt->idle_timeout_s * 1000u);
}

/* ---- summary ---- */

static const char *const refuse_names[TP_REFUSE__COUNT] = {
        [TP_REFUSE_CONNREFUSED] = "connrefused",
        [TP_REFUSE_TIMEDOUT] = "timedout",
        [TP_REFUSE_HOSTUNREACH] = "hostunreach",
        [TP_REFUSE_NETUNREACH] = "netunreach",
        [TP_REFUSE_CONNRESET] = "connreset",
        [TP_REFUSE_DECLINED] = "declined",
        [TP_REFUSE_SHUTDOWN] = "shutdown",
        [TP_REFUSE_NOMEM] = "nomem",
        [TP_REFUSE_OTHER] = "other",
};

static void print_summary(struct tp_gw *gw)
{
	const struct tp_stack_stats *ss = tp_stack_stats();
	const struct tp_gw_stats *st = &gw->st;
	unsigned long long refused = 0;
	char line[1024];
	size_t off;

	for (int i = 0; i < TP_REFUSE__COUNT; i++)
		refused += st->flows_refused[i];
	fprintf(stderr, "tunplug: summary: uptime %.1f s, tun %s, handler %s\n",
	        (double)(uv_now(&gw->loop) - gw->start_ms) / 1000.0, gw->tun.name,
	        gw->handler ? gw->handler->name : "-");
	if (ss) {
		fprintf(stderr,
		        "tunplug:   packets in %llu (%llu bytes), out %llu (%llu bytes), output "
		        "errors %llu, tun full drops %llu\n",
		        (unsigned long long)ss->pkts_in, (unsigned long long)ss->bytes_in,
		        (unsigned long long)ss->pkts_out, (unsigned long long)ss->bytes_out,
		        (unsigned long long)ss->output_errors,
		        (unsigned long long)st->out_drops_full);
		off = (size_t)snprintf(line, sizeof(line), "tunplug:   drops:");
		for (int i = 1; i < TP_DROP__COUNT && off < sizeof(line); i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s %llu",
			                        tp_drop_name((enum tp_drop)i),
			                        (unsigned long long)ss->drops[i]);
		fprintf(stderr, "%s\n", line);
		fprintf(stderr,
		        "tunplug:   syn: held %llu, absorbed %llu, rst (limit %llu, refused %llu, "
		        "loopback %llu)\n",
		        (unsigned long long)ss->syn_held, (unsigned long long)ss->syn_absorbed,
		        (unsigned long long)ss->syn_rst_limit,
		        (unsigned long long)ss->syn_rst_refused,
		        (unsigned long long)ss->syn_rst_loopback);
		fprintf(stderr,
		        "tunplug:   stack tcp flows: opened %llu, closed %llu, now %llu; lwip mem "
		        "errors %llu\n",
		        (unsigned long long)ss->tcp_flows_opened,
		        (unsigned long long)ss->tcp_flows_closed,
		        (unsigned long long)ss->tcp_flows_now,
		        (unsigned long long)ss->lwip_mem_err);
	}
	fprintf(stderr,
	        "tunplug:   flows: seen %llu, accepted %llu, refused %llu, closed %llu (with error "
	        "%llu, idle %llu), upstream errors %llu\n",
	        (unsigned long long)st->flows_seen, (unsigned long long)st->flows_accepted, refused,
	        (unsigned long long)st->flows_closed, (unsigned long long)st->flows_closed_err,
	        (unsigned long long)st->flows_idle, (unsigned long long)st->upstream_errors);
	off = (size_t)snprintf(line, sizeof(line), "tunplug:   refused by reason:");
	for (int i = 0; i < TP_REFUSE__COUNT && off < sizeof(line); i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, " %s %llu", refuse_names[i],
		                        (unsigned long long)st->flows_refused[i]);
	fprintf(stderr, "%s\n", line);
	fprintf(stderr, "tunplug:   bytes up %llu, down %llu; protect errors %llu\n",
	        (unsigned long long)st->bytes_up, (unsigned long long)st->bytes_down,
	        (unsigned long long)st->protect_errors);
}

/* ---- stop ---- */

static void on_handle_closed(uv_handle_t *h)
{
	struct tp_gw *gw = h->loop->data;

	gw->handles_live--;
}

static void close_handle(struct tp_gw *gw, uv_handle_t *h)
{
	if (h->loop == &gw->loop && h->data == gw && !uv_is_closing(h))
		uv_close(h, on_handle_closed);
}

/* Close every flow and our loop handles; uv_run returns once the upstream
 * handles have finished closing too. */
static void gw_stop(struct tp_gw *gw)
{
	if (gw->stopping)
		return;
	if (gw->stack_up)
		tp_gw_clock(gw);
	tp_host_shutdown_flows(gw);
	gw->stopping = true;
	close_handle(gw, (uv_handle_t *)&gw->defer_idle);
	close_handle(gw, (uv_handle_t *)&gw->tun_poll);
	close_handle(gw, (uv_handle_t *)&gw->stack_timer);
	close_handle(gw, (uv_handle_t *)&gw->idle_timer);
	close_handle(gw, (uv_handle_t *)&gw->sig_int);
	close_handle(gw, (uv_handle_t *)&gw->sig_term);
	close_handle(gw, (uv_handle_t *)&gw->sig_usr1);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct tp_gw *gw = s->data;

	if (signum == SIGUSR1) {
		print_summary(gw);
		return;
	}
	tp_log(TP_LOG_INFO, "%s: stopping", strsignal(signum));
	gw_stop(gw);
}

/* ---- start-up ---- */

static int netlink_setup(struct tp_gw *gw)
{
	const struct tp_options *o = gw->opt;
	int ret;

	ret = tp_nl_open(&gw->nl);
	if (ret) {
		fprintf(stderr, "tunplug: netlink: open: %s\n", strerror(-ret));
		gw->nl = NULL;
		return ret;
	}
	ret = tp_nl_link_up(gw->nl, gw->tun.ifindex, o->mtu);
	for (size_t i = 0; !ret && i < o->n_addrs; i++)
		ret = tp_nl_addr_add(gw->nl, gw->tun.ifindex, &o->addrs[i]);
	for (size_t i = 0; !ret && i < o->n_routes; i++)
		ret = tp_nl_route_add(gw->nl, gw->tun.ifindex, &o->routes[i], 0);
	if (ret)
		fprintf(stderr, "tunplug: netlink: %s: %s\n", tp_nl_last_op(gw->nl),
		        strerror(-ret));
	return ret;
}

static int handler_check(const struct tp_handler *h)
{
	if ((h->abi_version >> 16) != TP_HANDLER_ABI_MAJOR) {
		fprintf(stderr, "tunplug: handler %s: ABI major %u, this gateway speaks %u\n",
		        h->name, h->abi_version >> 16, TP_HANDLER_ABI_MAJOR);
		return -EPROTO;
	}
	if (h->struct_size < sizeof(struct tp_handler)) {
		fprintf(stderr, "tunplug: handler %s: table is %u bytes, at least %zu expected\n",
		        h->name, h->struct_size, sizeof(struct tp_handler));
		return -EPROTO;
	}
	return 0;
}

static int gw_init(struct tp_gw *gw, const struct tp_options *o)
{
	struct tp_stack_cfg cfg;
	int ret;

	memset(gw, 0, sizeof(*gw));
	gw->opt = o;
	gw->tun.fd = -1;

	gw->handler = tp_handler_builtin(o->handler);
	if (!gw->handler) {
		fprintf(stderr, "tunplug: --handler: \"%s\" is not a built-in handler\n",
		        o->handler);
		return -ENOENT;
	}
	ret = handler_check(gw->handler);
	if (ret)
		return ret;

	ret = uv_loop_init(&gw->loop);
	if (ret) {
		fprintf(stderr, "tunplug: event loop: %s\n", uv_strerror(ret));
		return ret;
	}
	gw->loop.data = gw;
	gw->start_ms = uv_now(&gw->loop);

	gw->rxbuf = malloc(TUN_BUF);
	gw->dlbuf_len = o->flow_buffer < 65536 ? o->flow_buffer : 65536;
	gw->dlbuf = malloc(gw->dlbuf_len);
	if (!gw->rxbuf || !gw->dlbuf) {
		fprintf(stderr, "tunplug: out of memory\n");
		return -ENOMEM;
	}

	if (o->tun_fd >= 0) {
		ret = tp_tun_adopt(o->tun_fd, &gw->tun);
		if (ret) {
			fprintf(stderr, "tunplug: tun: adopt fd %d: %s\n", o->tun_fd,
			        strerror(-ret));
			gw->tun.fd = -1;
			return ret;
		}
		gw->mtu = gw->tun.mtu ? gw->tun.mtu : 1500;
	} else {
		ret = tp_tun_open(o->tun_name, &gw->tun);
		if (ret) {
			fprintf(stderr, "tunplug: tun: open %s: %s\n", o->tun_name, strerror(-ret));
			gw->tun.fd = -1;
			return ret;
		}
		gw->mtu = o->mtu;
		ret = netlink_setup(gw);
		if (ret)
			return ret;
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.mtu = gw->mtu;
	cfg.max_flows = o->max_flows;
	cfg.allow_loopback = o->allow_loopback;
	cfg.own = o->addrs;
	cfg.n_own = o->n_addrs;
	cfg.output = tun_output;
	cfg.tcp_syn = tp_host_tcp_syn;
	cfg.ctx = gw;
	tp_gw_clock(gw);
	ret = tp_stack_init(&cfg);
	if (ret) {
		fprintf(stderr, "tunplug: stack: init: %s\n", strerror(-ret));
		return ret;
	}
	gw->stack_up = true;

	tp_host_init(gw);
	ret = gw->handler->init(&gw->host, &gw->hstate);
	if (ret) {
		fprintf(stderr, "tunplug: handler %s: init: %s\n", gw->handler->name,
		        strerror(-ret));
		return ret;
	}
	gw->handler_up = true;

	/* Loop handles: data = gw marks them initialised for close_handle(). */
	ret = uv_poll_init(&gw->loop, &gw->tun_poll, gw->tun.fd);
	if (ret)
		goto uv_fail;
	gw->tun_poll.data = gw;
	gw->handles_live++;
	uv_idle_init(&gw->loop, &gw->defer_idle);
	gw->defer_idle.data = gw;
	gw->handles_live++;
	uv_timer_init(&gw->loop, &gw->stack_timer);
	gw->stack_timer.data = gw;
	gw->handles_live++;
	uv_timer_init(&gw->loop, &gw->idle_timer);
	gw->idle_timer.data = gw;
	gw->handles_live++;
	uv_signal_init(&gw->loop, &gw->sig_int);
	gw->sig_int.data = gw;
	gw->handles_live++;
	uv_signal_init(&gw->loop, &gw->sig_term);
	gw->sig_term.data = gw;
	gw->handles_live++;
	uv_signal_init(&gw->loop, &gw->sig_usr1);
	gw->sig_usr1.data = gw;
	gw->handles_live++;

	ret = uv_poll_start(&gw->tun_poll, UV_READABLE, on_tun_readable);
	if (!ret)
		ret = uv_signal_start(&gw->sig_int, on_signal, SIGINT);
	if (!ret)
		ret = uv_signal_start(&gw->sig_term, on_signal, SIGTERM);
	if (!ret)
		ret = uv_signal_start(&gw->sig_usr1, on_signal, SIGUSR1);
	if (ret)
		goto uv_fail;
	arm_stack_timer(gw, 0);
	if (o->idle_timeout_s) {
		/* A cheap sweep instead of a timer per flow: flows close between
		 * idle and idle + interval. */
		uint64_t iv = (uint64_t)o->idle_timeout_s * 1000u / 4u;

		iv = iv < 250 ? 250 : iv > 10000 ? 10000 : iv;
		uv_timer_start(&gw->idle_timer, on_idle_timer, iv, iv);
	}
	return 0;

uv_fail:
	fprintf(stderr, "tunplug: event loop setup: %s\n", uv_strerror(ret));
	return ret;
}

/* Undo gw_init (and a run), in reverse; copes with a half-built gateway. */
static int gw_fini(struct tp_gw *gw)
{
	int ret = 0;

	if (gw->loop.data == gw) {
		gw_stop(gw);
		/* Let every close callback (ours, upstream sockets, handler
		 * timers) run. */
		uv_run(&gw->loop, UV_RUN_DEFAULT);
	}
	if (gw->handler_up) {
		tp_host_run_deferred(gw);
		gw->handler->fini(gw->hstate);
		gw->handler_up = false;
		uv_run(&gw->loop, UV_RUN_DEFAULT);
	}
	if (gw->nl) {
		int r = tp_nl_undo(gw->nl);

		if (r) {
			fprintf(stderr, "tunplug: netlink: undo %s: %s\n", tp_nl_last_op(gw->nl),
			        strerror(-r));
			ret = r;
		}
		tp_nl_close(gw->nl);
		gw->nl = NULL;
	}
	if (gw->tun.fd >= 0)
		tp_tun_close(&gw->tun);
	if (gw->loop.data == gw) {
		if (tp_host_flow_count(gw))
			tp_log(TP_LOG_WARN, "%zu flows still allocated at exit",
			       tp_host_flow_count(gw));
		if (uv_loop_close(&gw->loop) == UV_EBUSY)
			tp_log(TP_LOG_WARN, "event loop still has open handles at exit");
		gw->loop.data = NULL;
	}
	free(gw->rxbuf);
	free(gw->dlbuf);
	gw->rxbuf = gw->dlbuf = NULL;
	return ret;
}

int tp_gateway_run(const struct tp_options *opt)
{
	struct tp_gw *gw = &gw_main;
	int ret;

	ret = gw_init(gw, opt);
	if (ret) {
		gw_fini(gw);
		return 1;
	}
	tp_log(TP_LOG_INFO, "ready tun=%s mtu=%u handler=%s%s", gw->tun.name, gw->mtu,
	       gw->handler->name, gw->tun.adopted ? " (adopted fd)" : "");
	uv_run(&gw->loop, UV_RUN_DEFAULT);
	/* Every flow is closed by now; the counters are final. */
	print_summary(gw);
	return gw_fini(gw) ? 1 : 0;
}
