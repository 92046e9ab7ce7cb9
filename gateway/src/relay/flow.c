/* SPDX-License-Identifier: MIT */
/* tunplug — the flow core: construction, references and the handler's
 * flow_close (queued while inside a host call). See flow.h. */
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
	f->id = ++rel->last_id;
	f->born = now_ms(rel);
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
	tp_flow_idle_unlink(f);
	if (f->prev)
		f->prev->next = f->next;
	else
		rel->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	free(f->rest);
	free((char *)f->info.name);
	if (f->hi)
		tp_hinst_unref(f->hi); /* a reload's old instance may go now */
	free(f);
}

int tp_flow_set_name(struct tp_flow *f, const char *name, size_t len, int source)
{
	char *copy;

	if (!len || len > 253 || source == TP_NAME_NONE)
		return -EINVAL;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		copy[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	copy[len] = '\0';
	free((char *)f->info.name);
	f->info.name = copy;
	f->info.name_source = source;
	return 0;
}

int tp_flow_name_fake_ip(struct tp_flow *f)
{
	char name[TP_FAKE_NAME_MAX + 1];
	int len;

	if (!f->rel->names)
		return 0;
	len = tp_names_for_dst(f->rel->names, (const struct sockaddr *)&f->info.dst, name,
	                       sizeof(name), now_ms(f->rel));
	if (len < 0)
		return -ENOENT;
	/* out of memory: the flow goes on by address (to the pool address:
	 * refuse it as unmapped rather than connect there) */
	if (len > 0 && tp_flow_set_name(f, name, (size_t)len, TP_NAME_FAKE_IP))
		return -ENOENT;
	return 0;
}

void tp_flow_idle_unlink(struct tp_flow *f)
{
	struct tp_relay *rel = f->rel;

	if (!f->idle_listed)
		return;
	if (f->idle_prev)
		f->idle_prev->idle_next = f->idle_next;
	else
		rel->idle_head = f->idle_next;
	if (f->idle_next)
		f->idle_next->idle_prev = f->idle_prev;
	else
		rel->idle_tail = f->idle_prev;
	f->idle_prev = f->idle_next = NULL;
	f->idle_listed = false;
}

/* The idle list stays ordered by last_active: every flow joins it at the
 * tail with last_active = the loop's now, which never goes back. */
void tp_flow_touch(struct tp_flow *f)
{
	struct tp_relay *rel = f->rel;

	f->last_active = now_ms(rel);
	tp_flow_idle_unlink(f);
	if (!f->tcp || f->phase != PH_OPEN)
		return;
	f->idle_prev = rel->idle_tail;
	if (rel->idle_tail)
		rel->idle_tail->idle_next = f;
	else
		rel->idle_head = f;
	rel->idle_tail = f;
	f->idle_listed = true;
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
