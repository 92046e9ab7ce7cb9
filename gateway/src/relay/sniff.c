/* SPDX-License-Identifier: MIT */
/* tunplug — sniffing in the relay: flows that wait for their first client
 * bytes before dispatch, so that rules and handlers see the destination's
 * name (TLS SNI, HTTP Host; QUIC in udp/udpflow.c).
 *
 * A sniffed TCP flow completes its handshake at once (the client sends
 * nothing before it), unlike every other flow, whose SYN is held until the
 * handler decides. Its first bytes are peeked, never consumed: they stay
 * in the stack's queue and reach the upstream unchanged once a handler
 * splices (or reads) the flow. The wait ends at the first of: a name, a
 * definite "no name", the client's FIN, a full buffer, or the deadline
 * (--sniff-timeout, for server-first protocols); then the flow is
 * dispatched with or without its name. A handler that refuses it then can
 * only reset it.
 *
 * All waiting flows share one deadline length, so the wait list is in
 * deadline order and one timer (for its head) serves them all. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop/clock.h"
#include "relay/flow.h"

/* A TCP flow's first bytes we look at: a ClientHello within the TLS
 * parser's bound plus its record headers. */
#define SNIFF_TCP_MAX (TP_SNIFF_TLS_MAX + 1024)
#define SNIFF_IOV 256

/* ---- the wait list ---- */

static void on_sniff_timer(uv_timer_t *t);

static void rearm(struct tp_relay *rel)
{
	struct tp_sniff_wait *w = rel->sniff_head;
	uint64_t now = uv_now(rel->loop);

	if (!w) {
		uv_timer_stop(&rel->sniff_timer);
		return;
	}
	uv_timer_start(&rel->sniff_timer, on_sniff_timer, w->deadline > now ? w->deadline - now : 0,
	               0);
}

static void on_sniff_timer(uv_timer_t *t)
{
	struct tp_relay *rel = t->data;
	uint64_t now = uv_now(rel->loop);
	struct tp_sniff_wait *w;

	tp_clock_sync(rel->loop);
	while ((w = rel->sniff_head) != NULL && w->deadline <= now) {
		struct tp_flow *f = w->f;

		tp_flow_ref(f);
		w->expire(f); /* ends the wait (tp_sniff_wait_end) */
		tp_flow_unref(f);
	}
	rearm(rel);
}

int tp_sniff_wait_begin(struct tp_flow *f, void (*expire)(struct tp_flow *f))
{
	struct tp_relay *rel = f->rel;
	struct tp_sniff_wait *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->f = f;
	w->expire = expire;
	w->deadline = uv_now(rel->loop) + rel->sniff->timeout_ms;
	w->prev = rel->sniff_tail;
	if (rel->sniff_tail)
		rel->sniff_tail->next = w;
	else
		rel->sniff_head = w;
	rel->sniff_tail = w;
	f->sniff = w;
	tp_flow_ref(f); /* the wait's */
	if (w == rel->sniff_head)
		rearm(rel);
	return 0;
}

void tp_sniff_wait_end(struct tp_flow *f)
{
	struct tp_sniff_wait *w = f->sniff;
	struct tp_relay *rel = f->rel;

	if (!w)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		rel->sniff_head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		rel->sniff_tail = w->prev;
	for (unsigned i = 0; i < w->n_held; i++)
		free(w->held[i].buf);
	if (w->quic) {
		free(w->quic);
		rel->sniff_quic_live--;
	}
	f->sniff = NULL;
	free(w);
	tp_flow_unref(f); /* the wait's */
}

void tp_sniff_count(struct tp_flow *f, enum tp_sniff_res r, int source)
{
	struct tp_flow_counters *st = f->rel->st;

	switch (r) {
	case TP_SNIFF_FOUND:
		if (source == TP_NAME_SNIFF_TLS)
			st->sniff_tls++;
		else if (source == TP_NAME_SNIFF_HTTP)
			st->sniff_http++;
		else
			st->sniff_quic++;
		break;
	case TP_SNIFF_NEED_MORE:
		st->sniff_timeout++;
		break;
	case TP_SNIFF_MALFORMED:
		st->sniff_malformed++;
		break;
	default:
		st->sniff_none++;
		break;
	}
}

bool tp_sniff_wanted(const struct tp_flow *f)
{
	const struct tp_relay *rel = f->rel;
	uint16_t port;

	if (!rel->sniff || f->info.name)
		return false; /* a fake-IP flow has its name already */
	port = ntohs(f->info.dst.ss_family == AF_INET6
	                     ? ((const struct sockaddr_in6 *)&f->info.dst)->sin6_port
	                     : ((const struct sockaddr_in *)&f->info.dst)->sin_port);
	if (rel->sniff->on) {
		if (f->info.proto == IPPROTO_TCP && tp_sniff_port(rel->sniff, port))
			return true;
		if (f->info.proto == IPPROTO_UDP && rel->sniff->quic && port == 443)
			return true;
	}
	return rel->sniff_rules && tp_dispatch_wants_sniff(rel->dsp, &f->info);
}

/* ---- TCP ---- */

/* The wait is over: name f (if found), count, dispatch. */
static void tcp_done(struct tp_flow *f, enum tp_sniff_res r, const char *name, int source)
{
	tp_sniff_wait_end(f);
	tp_sniff_count(f, r, source);
	if (r == TP_SNIFF_FOUND && tp_flow_set_name(f, name, strlen(name), source) != 0)
		f->rel->st->sniff_skipped++; /* out of memory: by address */
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		char fs[TP_FLOW_STRLEN];

		tp_log(TP_LOG_DEBUG, "sniff: %s: %s%s%s", tp_flow_str(f, fs, sizeof(fs)),
		       r == TP_SNIFF_NEED_MORE ? "timeout" : tp_sniff_res_str(r),
		       f->info.name ? " name=" : "", f->info.name ? f->info.name : "");
	}
	if (!f->tcp)
		return;
	tp_tcp_dispatch(f);
}

static void tcp_expire(struct tp_flow *f)
{
	tcp_done(f, TP_SNIFF_NEED_MORE, NULL, TP_NAME_NONE);
}

void tp_sniff_tcp_start(struct tp_flow *f)
{
	if (tp_sniff_wait_begin(f, tcp_expire) != 0) {
		f->rel->st->sniff_skipped++;
		tp_tcp_dispatch(f);
		return;
	}
	/* the handshake now: the client sends nothing before it */
	f->phase = PH_ACCEPTED;
	tp_flow_touch(f);
	tp_tcp_flow_accept(f->tcp);
}

/* New bytes (or the client's FIN) on a flow that waits: try the parsers
 * on everything queued so far. */
void tp_sniff_tcp_input(struct tp_flow *f)
{
	struct tp_relay *rel = f->rel;
	struct iovec iov[SNIFF_IOV];
	char name[TP_SNIFF_NAME_BUF];
	size_t len = 0, queued;
	enum tp_sniff_res r;
	int n, source = TP_NAME_SNIFF_TLS;

	if (!f->sniff || !f->tcp)
		return;
	queued = tp_tcp_flow_queued(f->tcp);
	n = tp_tcp_flow_peek(f->tcp, iov, SNIFF_IOV);
	for (int i = 0; i < n && len < SNIFF_TCP_MAX; i++) {
		size_t k =
		        iov[i].iov_len < SNIFF_TCP_MAX - len ? iov[i].iov_len : SNIFF_TCP_MAX - len;

		memcpy(rel->sniff_buf + len, iov[i].iov_base, k);
		len += k;
	}
	if (len == 0 && !f->client_eof)
		return;
	r = tp_sniff_tls(rel->sniff_buf, len, name);
	if (r == TP_SNIFF_NOT_PROTO) {
		source = TP_NAME_SNIFF_HTTP;
		r = tp_sniff_http(rel->sniff_buf, len, name);
	}
	if (r == TP_SNIFF_NEED_MORE) {
		/* the stream ends before its name, or the name lies beyond what
		 * we look at: give up */
		if (!f->client_eof && len < SNIFF_TCP_MAX && len == queued)
			return;
		r = TP_SNIFF_MALFORMED;
	}
	tcp_done(f, r, name, source);
}

/* ---- the relay's part ---- */

int tp_relay_sniff_init(struct tp_relay *rel, const struct tp_sniff_cfg *cfg, bool rules)
{
	rel->sniff_buf = malloc(SNIFF_TCP_MAX);
	if (!rel->sniff_buf)
		return -ENOMEM;
	rel->sniff = cfg;
	rel->sniff_rules = rules;
	return 0;
}

void tp_relay_sniff_rules(struct tp_relay *rel, bool rules)
{
	rel->sniff_rules = rules;
}
