/* SPDX-License-Identifier: MIT */
/* tunplug — the relay's own life: set-up, the idle sweep, the stop (see
 * relay.h). */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "loop/clock.h"
#include "relay/flow.h"

/* ---- the idle sweep ---- */

/* Abort open TCP flows idle for longer than idle_ms. A cheap sweep instead
 * of a timer per flow: flows close between idle and idle + interval. The
 * idle list is ordered by last activity, so the sweep looks only at the
 * flows that are due (and at the first one that is not). */
static void on_idle_timer(uv_timer_t *t)
{
	struct tp_relay *rel = t->data;
	uint64_t now = uv_now(rel->loop);
	struct tp_flow *f;

	tp_clock_sync(rel->loop);
	while ((f = rel->idle_head) != NULL && now - f->last_active >= rel->idle_ms) {
		tp_flow_idle_unlink(f);
		if (!f->tcp || f->phase != PH_OPEN)
			continue; /* ended since its last activity */
		tp_flow_ref(f);
		rel->st->flows_idle++;
		tp_flow_abort(f, "idle timeout");
		tp_flow_unref(f);
	}
}

/* ---- the relay's life ---- */

int tp_relay_init(struct tp_relay *rel, uv_loop_t *loop, struct tp_flow_counters *st,
                  const struct tp_dispatch *dsp, size_t flow_buffer, unsigned idle_s)
{
	memset(rel, 0, sizeof(*rel));
	rel->loop = loop;
	rel->st = st;
	rel->dsp = dsp;
	rel->flow_buffer = flow_buffer;
	rel->idle_ms = (uint64_t)idle_s * 1000u;
	/* one read never exceeds what a flow may hold, nor 64 KiB */
	rel->dlbuf_len = flow_buffer < 65536 ? flow_buffer : 65536;
	rel->dlbuf = malloc(rel->dlbuf_len);
	if (!rel->dlbuf)
		return -ENOMEM;
	uv_idle_init(loop, &rel->defer_idle);
	rel->defer_idle.data = rel;
	rel->handles_live++;
	uv_timer_init(loop, &rel->idle_timer);
	rel->idle_timer.data = rel;
	rel->handles_live++;
	uv_timer_init(loop, &rel->sniff_timer);
	rel->sniff_timer.data = rel;
	rel->handles_live++;
	return 0;
}

void tp_relay_set_names(struct tp_relay *rel, struct tp_names *names)
{
	rel->names = names;
}

int tp_relay_start(struct tp_relay *rel)
{
	uint64_t iv = rel->idle_ms / 4u;

	if (!rel->idle_ms)
		return 0;
	iv = iv < 250 ? 250 : iv > 10000 ? 10000 : iv;
	return uv_timer_start(&rel->idle_timer, on_idle_timer, iv, iv);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct tp_relay *rel = h->data;

	rel->handles_live--;
}

void tp_relay_stop(struct tp_relay *rel)
{
	struct tp_flow *f, *next;

	/* Anything the stack did not report (should be none) is finished here. */
	for (f = rel->flows; f; f = next) {
		tp_flow_ref(f);
		tp_sniff_wait_end(f);
		if (f->tcp) {
			f->tcp = NULL;
			f->phase = PH_GONE;
			tp_splice_close_upstream(f, true);
			tp_flow_finish(f, -ECONNABORTED);
		}
		next = f->next;
		tp_flow_unref(f);
	}
	tp_relay_run_deferred(rel);
	rel->stopping = true;
	if (rel->defer_idle.data && !uv_is_closing((uv_handle_t *)&rel->defer_idle))
		uv_close((uv_handle_t *)&rel->defer_idle, on_handle_closed);
	if (rel->idle_timer.data && !uv_is_closing((uv_handle_t *)&rel->idle_timer))
		uv_close((uv_handle_t *)&rel->idle_timer, on_handle_closed);
	if (rel->sniff_timer.data && !uv_is_closing((uv_handle_t *)&rel->sniff_timer))
		uv_close((uv_handle_t *)&rel->sniff_timer, on_handle_closed);
}

size_t tp_relay_flow_count(const struct tp_relay *rel)
{
	size_t n = 0;

	for (const struct tp_flow *f = rel->flows; f; f = f->next)
		n++;
	return n;
}

void tp_relay_close(struct tp_relay *rel)
{
	free(rel->dlbuf);
	rel->dlbuf = NULL;
	free(rel->sniff_buf);
	rel->sniff_buf = NULL;
}

/* ---- read-only views (relay.h) ---- */

const char *tp_flow_state_name(enum tp_flow_state s)
{
	static const char *const names[TP_FLOW_STATE__COUNT] = {
	        [TP_FLOW_PENDING] = "pending",
	        [TP_FLOW_ACCEPTED] = "accepted",
	        [TP_FLOW_OPEN] = "open",
	        [TP_FLOW_HALF_CLOSED] = "half-closed",
	};

	return (unsigned)s < TP_FLOW_STATE__COUNT ? names[s] : "?";
}

/* A flow the operator still sees: not ended, the stack flow still there. */
static bool flow_live(const struct tp_flow *f)
{
	return f->phase != PH_GONE && !f->handler_closed && (f->tcp || f->udp);
}

static enum tp_flow_state flow_state(const struct tp_flow *f)
{
	if (f->phase == PH_PENDING)
		return TP_FLOW_PENDING;
	if (f->phase == PH_ACCEPTED)
		return TP_FLOW_ACCEPTED;
	if (f->tcp && (f->client_eof || f->up_eof || f->io_eof || f->io_shut))
		return TP_FLOW_HALF_CLOSED;
	return TP_FLOW_OPEN;
}

void tp_relay_cursor_begin(struct tp_relay *rel, struct tp_relay_cursor *c)
{
	c->rel = rel;
	c->at = rel->flows;
	if (c->at)
		tp_flow_ref(c->at);
}

bool tp_relay_cursor_next(struct tp_relay_cursor *c, struct tp_flow_view *v)
{
	struct tp_flow *f;

	while ((f = c->at) != NULL) {
		uint64_t now = uv_now(c->rel->loop);
		bool live = flow_live(f);

		c->at = f->next;
		if (c->at)
			tp_flow_ref(c->at);
		if (live) {
			memset(v, 0, sizeof(*v));
			v->id = f->id;
			v->proto = f->info.proto;
			v->src = f->info.src;
			v->dst = f->info.dst;
			if (f->info.name)
				snprintf(v->name, sizeof(v->name), "%s", f->info.name);
			v->hi = f->hi;
			v->state = flow_state(f);
			v->bytes_up = f->bytes_up;
			v->bytes_down = f->bytes_down;
			v->age_ms = now > f->born ? now - f->born : 0;
			v->idle_ms = now > f->last_active ? now - f->last_active : 0;
		}
		tp_flow_unref(f); /* may free f: nothing of it is used after this */
		if (live)
			return true;
	}
	return false;
}

void tp_relay_cursor_end(struct tp_relay_cursor *c)
{
	if (c->at)
		tp_flow_unref(c->at);
	c->at = NULL;
}

int tp_relay_close_flow(struct tp_relay *rel, uint64_t id)
{
	struct tp_flow *f;

	for (f = rel->flows; f; f = f->next)
		if (f->id == id && flow_live(f))
			break;
	if (!f)
		return -ENOENT;
	tp_clock_sync(rel->loop);
	tp_flow_ref(f);
	rel->st->flows_ctl_closed++;
	if (f->phase == PH_PENDING && f->tcp) {
		tp_tcp_reject(f, -ECONNRESET, TP_REFUSE_CONNRESET);
	} else if (f->tcp) {
		tp_flow_abort(f, "closed by ctl");
	} else if (f->udp) {
		tp_udp_flow_close(f->udp); /* `closed` fires at once */
	}
	tp_flow_unref(f);
	return 0;
}
