/* SPDX-License-Identifier: MIT */
/* tunplug — TCP flows: the SYN goes to dispatch, the handler's decision
 * completes or refuses the held handshake, and the stack's events drive the
 * splice relay or the handler's own I/O. Also the flow services of struct
 * tp_host that are not about moving bytes. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "log.h"
#include "loop/clock.h"
#include "relay/flow.h"

/* ---- the stack's events ---- */

static void ev_closed(struct tp_tcp_flow *tf, void *ud, int err)
{
	struct tp_flow *f = ud;
	struct tp_relay *rel = f->rel;

	(void)tf;
	tp_flow_ref(f);
	if (f->sniff) {
		/* gone while its first bytes were awaited: never dispatched, so
		 * (like a reset held SYN) a refusal */
		tp_sniff_wait_end(f);
		f->refused = true;
		rel->st->flows_refused[tp_refuse_reason(err ? err : -ECONNRESET)]++;
	}
	/* -ENOSPC: the stack evicted the half-open flow for another client's
	 * SYN (--max-pending); the handler's connect is abandoned below */
	if (err == -ENOSPC && !f->why)
		f->why = "evicted: --max-pending reached";
	f->tcp = NULL;
	if (f->phase == PH_PENDING) {
		/* the client reset its held SYN: never accepted, so a refusal */
		rel->st->flows_refused[tp_refuse_reason(err ? err : -ECONNRESET)]++;
	} else if (f->refused) {
		/* a sniffed flow its handler refused (counted then) */
	} else {
		rel->st->flows_closed++;
		if (err)
			rel->st->flows_closed_err++;
	}
	f->phase = PH_GONE;
	tp_flow_idle_unlink(f);
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		char fs[TP_FLOW_STRLEN];

		tp_log(TP_LOG_DEBUG, "flow close: %s up=%llu down=%llu reason=%s",
		       tp_flow_str(f, fs, sizeof(fs)), (unsigned long long)f->bytes_up,
		       (unsigned long long)f->bytes_down,
		       f->why ? f->why
		       : err  ? strerror(-err)
		              : "closed");
	}
	/* The client is gone (or we closed it): the upstream goes too. */
	tp_splice_close_upstream(f, err != 0);
	tp_flow_finish(f, err);
	tp_flow_unref(f);
}

static void ev_established(struct tp_tcp_flow *tf, void *ud)
{
	struct tp_flow *f = ud;

	(void)tf;
	tp_flow_ref(f);
	f->phase = PH_OPEN;
	tp_flow_touch(f);
	if (f->mode == MODE_SPLICE) {
		tp_splice_pump_up(f);
		tp_splice_pump_down(f);
	} else if (f->mode == MODE_IO) {
		tp_io_deliver(f);
		if (f->tcp && f->io_want_writable) {
			f->io_want_writable = false;
			f->io->on_writable(f, f->io_ud);
		}
	}
	tp_flow_unref(f);
}

static void ev_readable(struct tp_tcp_flow *tf, void *ud)
{
	struct tp_flow *f = ud;

	(void)tf;
	tp_flow_ref(f);
	if (f->phase == PH_ACCEPTED)
		f->phase = PH_OPEN; /* data implies the handshake is done */
	tp_flow_touch(f);
	if (f->sniff)
		tp_sniff_tcp_input(f);
	else if (f->mode == MODE_SPLICE)
		tp_splice_pump_up(f);
	else if (f->mode == MODE_IO)
		tp_io_deliver(f);
	tp_flow_unref(f);
}

static void ev_eof(struct tp_tcp_flow *tf, void *ud)
{
	struct tp_flow *f = ud;

	(void)tf;
	tp_flow_ref(f);
	if (f->phase == PH_ACCEPTED)
		f->phase = PH_OPEN;
	tp_flow_touch(f);
	if (f->mode == MODE_SPLICE) {
		f->client_eof = true;
		tp_splice_pump_up(f);
	} else if (f->mode == MODE_IO) {
		f->io_eof = true;
		tp_io_deliver(f);
	} else {
		f->client_eof = true;
		tp_sniff_tcp_input(f); /* a flow that waits: it ends here */
	}
	tp_flow_unref(f);
}

static void ev_writable(struct tp_tcp_flow *tf, void *ud)
{
	struct tp_flow *f = ud;

	(void)tf;
	tp_flow_ref(f);
	if (f->phase == PH_ACCEPTED) {
		f->phase = PH_OPEN;
		tp_flow_touch(f); /* open now: on the idle list */
	}
	if (f->mode == MODE_SPLICE) {
		tp_splice_pump_down(f);
	} else if (f->mode == MODE_IO && f->io_want_writable) {
		f->io_want_writable = false;
		f->io->on_writable(f, f->io_ud);
	}
	tp_flow_unref(f);
}

static const struct tp_tcp_events flow_events = {
        .established = ev_established,
        .readable = ev_readable,
        .eof = ev_eof,
        .writable = ev_writable,
        .closed = ev_closed,
};

/* ---- the held handshake ---- */

void tp_tcp_reject(struct tp_flow *f, int err, enum tp_refuse why)
{
	if (f->await_decision && f->tcp) {
		/* sniffed: the handshake is done, so only a RST can say no */
		f->await_decision = false;
		f->refused = true;
		f->rel->st->flows_refused[why]++;
		f->rel->st->sniff_reset++;
		if (tp_log_enabled(TP_LOG_DEBUG)) {
			char fs[TP_FLOW_STRLEN];

			tp_log(TP_LOG_DEBUG, "flow refused after sniffing (reset): %s: %s",
			       tp_flow_str(f, fs, sizeof(fs)),
			       why == TP_REFUSE_DECLINED ? "declined" : strerror(-err));
		}
		tp_flow_abort(f, "refused after sniffing");
		return;
	}
	if (!f->tcp || f->phase != PH_PENDING)
		return;
	f->rel->st->flows_refused[why]++;
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		char fs[TP_FLOW_STRLEN];

		tp_log(TP_LOG_DEBUG, "flow refused: %s: %s", tp_flow_str(f, fs, sizeof(fs)),
		       why == TP_REFUSE_DECLINED ? "declined" : strerror(-err));
	}
	/* Frees the stack flow at once; `closed` is not called for it. */
	tp_tcp_flow_reject(f->tcp, err);
	f->tcp = NULL;
	f->phase = PH_GONE;
	tp_flow_finish(f, err);
}

static void flow_accept(struct tp_flow *f)
{
	if (f->await_decision) {
		/* sniffed: the handshake is done already */
		f->await_decision = false;
		if (f->tcp)
			f->rel->st->flows_accepted++;
		return;
	}
	if (!f->tcp || f->phase != PH_PENDING)
		return;
	f->rel->st->flows_accepted++;
	f->phase = PH_ACCEPTED;
	tp_flow_touch(f);
	tp_tcp_flow_accept(f->tcp);
}

void tp_relay_tcp_syn(void *ctx, struct tp_tcp_flow *tf)
{
	struct tp_relay *rel = ctx;
	struct tp_flow *f;

	f = tp_flow_new(rel, IPPROTO_TCP, tp_tcp_flow_src(tf), tp_tcp_flow_dst(tf), PH_PENDING);
	if (!f) {
		tp_tcp_flow_reject(tf, -ECONNRESET);
		return;
	}
	f->tcp = tf;
	tp_tcp_flow_set_events(tf, &flow_events, f);

	tp_flow_ref(f);
	if (tp_flow_name_fake_ip(f)) {
		/* a pool address without a name: RST, never a connection to it */
		tp_tcp_reject(f, -ECONNREFUSED, TP_REFUSE_UNMAPPED);
		tp_flow_unref(f);
		return;
	}
	if (tp_sniff_wanted(f))
		tp_sniff_tcp_start(f); /* dispatched once the name is known */
	else
		tp_tcp_dispatch(f);
	tp_flow_unref(f);
}

void tp_tcp_dispatch(struct tp_flow *f)
{
	int r;

	tp_flow_ref(f);
	if (f->phase != PH_PENDING)
		f->await_decision = true; /* sniffed: accepted already */
	r = tp_dispatch_offer(f->rel->dsp, f, &f->info, NULL, 0, &f->hi);
	if (f->hi)
		tp_hinst_ref(f->hi); /* the instance lives as long as its flows */
	if (r == TP_OK)
		flow_accept(f); /* no-op if the handler already decided */
	else if (r == TP_DECLINED)
		tp_tcp_reject(f, -ECONNREFUSED, TP_REFUSE_DECLINED);
	else if (r != TP_PENDING)
		tp_tcp_reject(f, r < 0 ? r : -ECONNREFUSED,
		              tp_refuse_reason(r < 0 ? r : -ECONNREFUSED));
	tp_flow_unref(f);
}

void tp_relay_refuse_pending(struct tp_relay *rel)
{
	struct tp_flow *f, *next;

	for (f = rel->flows; f; f = next) {
		tp_flow_ref(f);
		if (f->phase == PH_PENDING && f->tcp)
			tp_tcp_reject(f, -ECONNRESET, TP_REFUSE_SHUTDOWN);
		next = f->next;
		tp_flow_unref(f);
	}
}

/* ---- host services (struct tp_host) ---- */

static const struct tp_flow_info *host_flow_info(const struct tp_flow *f)
{
	return &f->info;
}

static void host_flow_decide(struct tp_flow *f, int err)
{
	tp_flow_api_enter(f);
	tp_flow_ref(f);
	tp_clock_sync(f->rel->loop);
	if (err == 0) {
		flow_accept(f);
	} else {
		if (err > 0)
			err = -ECONNREFUSED;
		tp_tcp_reject(f, err, tp_refuse_reason(err));
	}
	tp_flow_unref(f);
	tp_flow_api_leave(f);
}

static void host_flow_close(struct tp_flow *f, bool abort)
{
	tp_flow_api_enter(f);
	tp_flow_ref(f);
	tp_clock_sync(f->rel->loop);
	if (f->phase == PH_PENDING || f->await_decision) {
		tp_tcp_reject(f, abort ? -ECONNRESET : -ECONNREFUSED,
		              abort ? TP_REFUSE_CONNRESET : TP_REFUSE_CONNREFUSED);
	} else if (f->tcp) {
		if (!f->why)
			f->why = abort ? "handler abort" : "handler close";
		tp_tcp_flow_close(f->tcp, abort);
		if (abort)
			tp_splice_close_upstream(f, true);
	} else if (f->udp) {
		tp_udp_flow_close(f->udp); /* `closed` fires at once (flow_close queued) */
	}
	tp_flow_unref(f);
	tp_flow_api_leave(f);
}

static int host_flow_splice(struct tp_flow *f, uv_stream_t *stream)
{
	int ret;

	tp_flow_api_enter(f);
	tp_flow_ref(f);
	ret = tp_splice_start(f, stream);
	tp_flow_unref(f);
	tp_flow_api_leave(f);
	return ret;
}

static void host_flow_read_start(struct tp_flow *f, const struct tp_flow_io *io, void *ud)
{
	tp_flow_api_enter(f);
	tp_io_start(f, io, ud);
	tp_flow_api_leave(f);
}

static void host_flow_resume(struct tp_flow *f)
{
	tp_flow_api_enter(f);
	tp_io_resume(f);
	tp_flow_api_leave(f);
}

static long host_flow_write(struct tp_flow *f, const void *buf, size_t len)
{
	long n;

	tp_flow_api_enter(f);
	n = tp_io_write(f, buf, len);
	tp_flow_api_leave(f);
	return n;
}

static void host_flow_shutdown(struct tp_flow *f)
{
	tp_flow_api_enter(f);
	tp_flow_ref(f);
	tp_io_shutdown(f);
	tp_flow_unref(f);
	tp_flow_api_leave(f);
}

static void *host_flow_get_data(const struct tp_flow *f)
{
	return f->hdata;
}

static void host_flow_set_data(struct tp_flow *f, void *data)
{
	f->hdata = data;
}

void tp_relay_host_services(struct tp_host *h)
{
	h->flow_info = host_flow_info;
	h->flow_decide = host_flow_decide;
	h->flow_splice = host_flow_splice;
	h->flow_read_start = host_flow_read_start;
	h->flow_resume = host_flow_resume;
	h->flow_write = host_flow_write;
	h->flow_shutdown = host_flow_shutdown;
	h->flow_close = host_flow_close;
	h->flow_get_data = host_flow_get_data;
	h->flow_set_data = host_flow_set_data;
}
