/* SPDX-License-Identifier: MIT */
/* tunplug — UDP flow services (see udpflow.h). */
#include <errno.h>
#include <netinet/in.h>
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

static void ev_udp_datagram(struct tp_udp_flow *uf, void *ud, const void *buf, size_t len)
{
	struct tp_flow *f = ud;
	struct tp_relay *rel = f->rel;
	bool first = f->udp_first;
	int r;

	(void)uf;
	f->udp_first = false;
	if (f->handler_closed)
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
	if (first)
		r = tp_dispatch_offer(rel->dsp, f, &f->info, buf, len, &f->hi);
	else
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

static void ev_udp_closed(struct tp_udp_flow *uf, void *ud, int err)
{
	struct tp_flow *f = ud;
	struct tp_relay *rel = f->rel;

	(void)uf;
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
