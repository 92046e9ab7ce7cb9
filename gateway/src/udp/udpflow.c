/* SPDX-License-Identifier: MIT */
/* tunplug — UDP flow services (see udpflow.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop/clock.h"
#include "relay/flow.h"
#include "udp/udpflow.h"

static int host_udp_send(struct tp_flow *f, const void *buf, size_t len)
{
	int r;

	if (!f->udp)
		return -EPIPE;
	tp_clock_sync(f->rel->loop);
	r = tp_udp_flow_send(f->udp, buf, len);
	if (!r) {
		f->bytes_down += len;
		f->rel->st->bytes_down += len;
		tp_flow_touch(f);
	}
	return r;
}

static int host_udp_send_from(struct tp_flow *f, const struct sockaddr *from, const void *buf,
                              size_t len)
{
	struct tp_endpoint e = {0};
	int r;

	if (!f->udp)
		return -EPIPE;
	if (from->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)from;
		e.family = AF_INET;
		memcpy(e.addr, &s4->sin_addr, 4);
		e.port = ntohs(s4->sin_port);
	} else if (from->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)from;
		e.family = AF_INET6;
		memcpy(e.addr, &s6->sin6_addr, 16);
		e.port = ntohs(s6->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	tp_clock_sync(f->rel->loop);
	r = tp_udp_flow_send_from(f->udp, &e, buf, len);
	if (!r) {
		f->bytes_down += len;
		f->rel->st->bytes_down += len;
		tp_flow_touch(f);
	}
	return r;
}

static void host_flow_unreachable(struct tp_flow *f, int err)
{
	if (f->udp) {
		tp_clock_sync(f->rel->loop);
		tp_udp_flow_unreachable(f->udp, err);
	}
}

/* One datagram to the flow's handler; the first one goes through
 * dispatch. */
static void udp_offer(struct tp_flow *f, const void *buf, size_t len, bool first)
{
	struct tp_relay *rel = f->rel;
	int r;

	if (f->handler_closed || !f->udp)
		return;
	tp_flow_touch(f);
	f->bytes_up += len;
	rel->st->bytes_up += len;
	tp_flow_ref(f);
	if (first && tp_flow_name_fake_ip(f)) {
		/* a pool address without a name: ICMP administratively
		 * prohibited (a host unreachable is a soft error that a
		 * client's UDP socket never hears of) */
		rel->st->flows_refused[TP_REFUSE_UNMAPPED]++;
		f->why = "fake-ip address without a name";
		f->close_err = -EACCES;
		f->refused = true;
		tp_udp_flow_unreachable(f->udp, -EACCES);
		tp_udp_flow_close(f->udp);
		tp_flow_unref(f);
		return;
	}
	if (first) {
		r = tp_dispatch_offer(rel->dsp, f, &f->info, buf, len, &f->hi);
		if (f->hi)
			tp_hinst_ref(f->hi); /* the instance lives as long as its flows */
	} else
		r = f->hi->h->udp_datagram(f->hi->state, f, buf, len);
	if (f->udp && (r < 0 || (first && r == TP_DECLINED))) {
		int err = r < 0 ? r : -ECONNREFUSED;
		if (first)
			rel->st->flows_refused[r == TP_DECLINED ? TP_REFUSE_DECLINED
			                                        : tp_refuse_reason(err)]++;
		f->why = "refused by the handler";
		f->close_err = err; /* the handler's flow_close gets it */
		f->refused = first;
		tp_udp_flow_unreachable(f->udp, err);
		tp_udp_flow_close(f->udp);
	} else if (first && f->udp) {
		rel->st->flows_accepted++;
	}
	tp_flow_unref(f);
}

/* ---- QUIC sniffing: the first datagrams are held until the Initial's
 * SNI is known (or not), then delivered unchanged, in order ---- */

/* The wait is over: name the flow, deliver what was held, then cur. */
static void quic_finish(struct tp_flow *f, enum tp_sniff_res r, const char *name, const void *cur,
                        size_t cur_len)
{
	struct tp_sniff_wait *w = f->sniff;
	uint8_t *held[TP_SNIFF_HOLD];
	size_t held_len[TP_SNIFF_HOLD];
	unsigned n = 0;

	tp_flow_ref(f);
	if (w) {
		n = w->n_held;
		for (unsigned i = 0; i < n; i++) {
			held[i] = w->held[i].buf;
			held_len[i] = w->held[i].len;
		}
		w->n_held = 0; /* ours now */
		tp_sniff_wait_end(f);
	}
	tp_sniff_count(f, r, TP_NAME_SNIFF_QUIC);
	if (r == TP_SNIFF_FOUND && tp_flow_set_name(f, name, strlen(name), TP_NAME_SNIFF_QUIC))
		f->rel->st->sniff_skipped++;
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		char fs[TP_FLOW_STRLEN];

		tp_log(TP_LOG_DEBUG, "sniff: udp %s: quic %s%s%s (%u held)",
		       tp_flow_str(f, fs, sizeof(fs)),
		       r == TP_SNIFF_NEED_MORE ? "timeout" : tp_sniff_res_str(r),
		       f->info.name ? " name=" : "", f->info.name ? f->info.name : "", n);
	}
	for (unsigned i = 0; i < n; i++) {
		udp_offer(f, held[i], held_len[i], i == 0);
		free(held[i]);
	}
	if (cur)
		udp_offer(f, cur, cur_len, n == 0);
	tp_flow_unref(f);
}

static void quic_expire(struct tp_flow *f)
{
	quic_finish(f, TP_SNIFF_NEED_MORE, NULL, NULL, 0);
}

/* Feed a datagram of a waiting flow to the sniffer; hold it or finish. */
static void quic_feed(struct tp_flow *f, const void *buf, size_t len)
{
	struct tp_sniff_wait *w = f->sniff;
	char name[TP_SNIFF_NAME_BUF];
	enum tp_sniff_res r = tp_quic_sniff_datagram(w->quic, buf, len, name);
	uint8_t *copy;

	if (r == TP_SNIFF_NEED_MORE) {
		if (w->n_held < TP_SNIFF_HOLD && (copy = malloc(len ? len : 1)) != NULL) {
			memcpy(copy, buf, len);
			w->held[w->n_held].buf = copy;
			w->held[w->n_held].len = len;
			w->n_held++;
			return;
		}
		r = TP_SNIFF_MALFORMED; /* more than we hold */
	}
	quic_finish(f, r, name, buf, len);
}

/* The first datagram of a flow to sniff: true if it is taken care of. */
static bool quic_begin(struct tp_flow *f, const void *buf, size_t len)
{
	struct tp_relay *rel = f->rel;
	struct tp_quic_sniff *q;

	if (rel->sniff_quic_live >= TP_SNIFF_QUIC_LIVE_MAX) {
		rel->st->sniff_skipped++;
		return false;
	}
	q = malloc(sizeof(*q));
	if (!q || tp_sniff_wait_begin(f, quic_expire) != 0) {
		free(q);
		rel->st->sniff_skipped++;
		return false;
	}
	tp_quic_sniff_init(q);
	f->sniff->quic = q;
	rel->sniff_quic_live++;
	quic_feed(f, buf, len);
	return true;
}

static void ev_udp_datagram(struct tp_udp_flow *uf, void *ud, const void *buf, size_t len)
{
	struct tp_flow *f = ud;
	bool first = f->udp_first;

	(void)uf;
	f->udp_first = false;
	if (f->handler_closed)
		return;
	if (f->sniff) {
		tp_flow_touch(f);
		quic_feed(f, buf, len);
		return;
	}
	if (first && tp_sniff_wanted(f)) {
		tp_flow_touch(f);
		if (quic_begin(f, buf, len))
			return;
	}
	udp_offer(f, buf, len, first);
}

static void ev_udp_closed(struct tp_udp_flow *uf, void *ud, int err)
{
	struct tp_flow *f = ud;
	struct tp_relay *rel = f->rel;

	(void)uf;
	tp_sniff_wait_end(f); /* held datagrams go with the flow */
	f->udp = NULL;
	f->phase = PH_GONE;
	if (!f->refused) {
		rel->st->flows_closed++;
		if (err && err != -ETIMEDOUT && err != -ENOSPC)
			rel->st->flows_closed_err++;
	}
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		char fs[TP_FLOW_STRLEN];

		tp_log(TP_LOG_DEBUG, "udp flow closed: %s (%s), %llu bytes up, %llu down",
		       tp_flow_str(f, fs, sizeof(fs)),
		       err == -ETIMEDOUT ? "idle"
		       : err             ? strerror(-err)
		       : f->why          ? f->why
		                         : "closed",
		       (unsigned long long)f->bytes_up, (unsigned long long)f->bytes_down);
	}
	tp_flow_finish(f, err ? err : f->close_err);
}

static const struct tp_udp_events udp_events = {
        .datagram = ev_udp_datagram,
        .closed = ev_udp_closed,
};

int tp_udpflow_new(void *ctx, struct tp_udp_flow *uf)
{
	struct tp_relay *rel = ctx;
	struct tp_flow *f;

	f = tp_flow_new(rel, IPPROTO_UDP, tp_udp_flow_src(uf), tp_udp_flow_dst(uf), PH_OPEN);
	if (!f)
		return -ENOMEM;
	f->udp = uf;
	f->udp_first = true;
	tp_udp_flow_set_events(uf, &udp_events, f);
	return 0;
}

void tp_udpflow_host_services(struct tp_host *h)
{
	h->udp_send = host_udp_send;
	h->udp_send_from = host_udp_send_from;
	h->flow_unreachable = host_flow_unreachable;
}
