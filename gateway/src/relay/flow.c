/* SPDX-License-Identifier: MIT */
/* tunplug — the flow core: construction, references, the handler's
 * flow_close (queued while inside a host call), the idle sweep and the
 * relay's own life (see relay.h, flow.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop/clock.h"
#include "relay/flow.h"
#include "tunplug/text.h"

static uint64_t now_ms(const struct tp_relay *rel)
{
	return uv_now(rel->loop);
}

static void endpoint_to_sockaddr(const struct tp_endpoint *e, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (e->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, e->addr, 16);
		s6->sin6_port = htons(e->port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, e->addr, 4);
		s4->sin_port = htons(e->port);
	}
}

const char *tp_flow_str(const struct tp_flow *f, char *buf, size_t len)
{
	char s[TP_SOCKADDR_STRLEN], d[TP_SOCKADDR_STRLEN];

	snprintf(buf, len, "%s -> %s",
	         tp_sockaddr_str((const struct sockaddr *)&f->info.src, s, sizeof(s)),
	         tp_sockaddr_str((const struct sockaddr *)&f->info.dst, d, sizeof(d)));
	return buf;
}

struct tp_flow *tp_flow_new(struct tp_relay *rel, int proto, const struct tp_endpoint *src,
                            const struct tp_endpoint *dst, enum tp_flow_phase phase)
{
	struct tp_flow *f;

	rel->st->flows_seen++;
	f = calloc(1, sizeof(*f));
	if (!f) {
		rel->st->flows_refused[TP_REFUSE_NOMEM]++;
		return NULL;
	}
	f->rel = rel;
	f->refs = 1; /* alive */
	f->phase = (uint8_t)phase;
	f->info.proto = proto;
	endpoint_to_sockaddr(src, &f->info.src);
	endpoint_to_sockaddr(dst, &f->info.dst);
	f->next = rel->flows;
	if (rel->flows)
		rel->flows->prev = f;
	rel->flows = f;
	tp_flow_touch(f);
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		char fs[TP_FLOW_STRLEN];

		tp_log(TP_LOG_DEBUG, "%sflow open: %s", proto == IPPROTO_UDP ? "udp " : "",
		       tp_flow_str(f, fs, sizeof(fs)));
	}
	return f;
}

void tp_flow_ref(struct tp_flow *f)
{
	f->refs++;
}

void tp_flow_unref(struct tp_flow *f)
{
	struct tp_relay *rel = f->rel;

	if (--f->refs)
		return;
	if (f->prev)
		f->prev->next = f->next;
	else
		rel->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	free(f->rest);
	free(f);
}

void tp_flow_touch(struct tp_flow *f)
{
	f->last_active = now_ms(f->rel);
}

void tp_flow_api_enter(struct tp_flow *f)
{
	f->rel->api_depth++;
}

void tp_flow_api_leave(struct tp_flow *f)
{
	f->rel->api_depth--;
}

static void defer_cb(uv_idle_t *idle)
{
	struct tp_relay *rel = idle->data;

	uv_idle_stop(idle);
	tp_relay_run_deferred(rel);
}

/* Never from inside a host->* call the handler made (api_depth > 0): the
 * handler may still use f when that call returns (direct calls flow_splice
 * right after flow_decide, and tp_tcp_flow_accept can fire `closed`). Such
 * closes are queued and run from the loop (tp_relay_run_deferred). */
void tp_flow_finish(struct tp_flow *f, int err)
{
	struct tp_relay *rel = f->rel;

	if (f->handler_closed)
		return;
	f->handler_closed = true;
	if (rel->api_depth) {
		f->close_err = err;
		f->defer_next = rel->deferred;
		rel->deferred = f;
		if (!rel->stopping && rel->defer_idle.data &&
		    !uv_is_active((uv_handle_t *)&rel->defer_idle))
			uv_idle_start(&rel->defer_idle, defer_cb);
		return;
	}
	if (f->hi)
		f->hi->h->flow_close(f->hi->state, f, err);
	tp_flow_unref(f);
}

void tp_relay_run_deferred(struct tp_relay *rel)
{
	struct tp_flow *f;

	while ((f = rel->deferred) != NULL) {
		rel->deferred = f->defer_next;
		f->defer_next = NULL;
		if (f->hi)
			f->hi->h->flow_close(f->hi->state, f, f->close_err);
		tp_flow_unref(f);
	}
}

/* ---- the idle sweep ---- */

/* Abort open TCP flows idle for longer than idle_ms. A cheap sweep instead
 * of a timer per flow: flows close between idle and idle + interval. */
static void on_idle_timer(uv_timer_t *t)
{
	struct tp_relay *rel = t->data;
	uint64_t now = now_ms(rel);
	struct tp_flow *f, *next;

	tp_clock_sync(rel->loop);
	for (f = rel->flows; f; f = next) {
		tp_flow_ref(f);
		if (f->tcp && f->phase == PH_OPEN && now - f->last_active >= rel->idle_ms) {
			rel->st->flows_idle++;
			tp_flow_abort(f, "idle timeout");
		}
		next = f->next;
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
	return 0;
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
}
