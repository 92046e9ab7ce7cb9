/* SPDX-License-Identifier: MIT */
/* tunplug — the event loop glue: tun fd and lwIP timers on libuv, netlink
 * policy, signals, the counter summary.
 *
 * Start-up is a list (tun, netlink, stack, handler, loop handles); a failure
 * at any step undoes the steps before it, in reverse, in gw_fini(). */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "config.h"
#include "autoroute.h"
#include "gateway.h"
#include "master.h"
#include "plugin.h"
#include "privdrop.h"
#include "log.h"
#include "tunplug/builtin.h"

#define TUN_BATCH 256 /* reads per readable event */
/* one read: vnet header + a packet (or GSO super-packet) of up to 64 KiB;
 * a shorter buffer would silently truncate (doc A.5) */
#define TUN_BUF (TP_VNET_HDR_LEN + 65535 + 64)
/* segments of one super-packet: 64 KiB of payload in MSS-sized pieces, each
 * with its own copy of the headers; Linux's MSS floor is 48 bytes
 * (tcp_min_snd_mss), i.e. at most 1366 segments of <= 48 + 120 bytes */
#define SEG_MAX 1400
#define SEG_BUF (SEG_MAX * 168)
#define GRO_BATCH 1024         /* output packets held per loop iteration */
#define STACK_TIMER_CAP_MS 250 /* never sleep longer than this on lwIP timers */

static struct tp_gw gw_main;
static const struct tp_gw_worker *gw_worker; /* --queues: this process is a worker */

void tp_gateway_set_worker(const struct tp_gw_worker *w)
{
	gw_worker = w;
}

void tp_gw_clock(struct tp_gw *gw)
{
	tp_stack_set_now((uint32_t)uv_now(&gw->loop));
}

/* ---- packets out ---- */

/* One write to the tun: a bare packet (no vnet) or [vnet header | packet]
 * as iovecs. nsegs = packets in it (for the drop count). Returns 0 or -errno. */
static int tun_writev(struct tp_gw *gw, const struct iovec *iov, int iovcnt, unsigned nsegs)
{
	ssize_t n;

	do
		n = iovcnt == 1 ? write(gw->tun.fd, iov[0].iov_base, iov[0].iov_len)
		                : writev(gw->tun.fd, iov, iovcnt);
	while (n < 0 && errno == EINTR);
	if (n >= 0) {
		gw->st.tun_writes++;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
		gw->st.out_drops_full += nsegs;
		return -errno;
	}
	if (errno == EINVAL && nsegs > 1) {
		/* a coalesced write the kernel refused: tp_gro_flush re-sends
		 * the members one by one and reports the kind as refused */
		gw->st.gro_einval++;
		return -EINVAL;
	}
	if (gw->st.out_errors++ == 0)
		tp_log(TP_LOG_WARN, "tun write: %s", strerror(errno));
	return -errno;
}

/* tp_gro_flush's write callback. */
static int gro_write(void *ctx, const struct iovec *iov, int iovcnt, unsigned nsegs, unsigned kind)
{
	struct tp_gw *gw = ctx;
	int r;

	(void)kind;
	r = tun_writev(gw, iov, iovcnt, nsegs ? nsegs : 1);
	if (r == 0 && nsegs > 1) {
		gw->st.gro_out++;
		gw->st.gro_out_segs += nsegs;
	}
	return r;
}

/* Write out whatever the stack emitted since the last flush, coalesced. */
static void gro_flush(struct tp_gw *gw)
{
	unsigned refused = 0;

	if (!gw->gro || tp_gro_count(gw->gro) == 0)
		return;
	tp_gro_flush(gw->gro, gw->gro_kinds, gro_write, gw, &refused);
	refused &= gw->gro_kinds;
	if (refused) {
		gw->gro_kinds &= ~refused;
		tp_log(TP_LOG_WARN,
		       "offload: the kernel refused a coalesced %s write (EINVAL): %s coalescing "
		       "off for this run, packets re-sent one by one",
		       refused & TP_GRO_TCP ? "TCP" : "UDP", refused & TP_GRO_TCP ? "TCP" : "UDP");
		if (refused == (TP_GRO_TCP | TP_GRO_UDP))
			tp_log(TP_LOG_WARN, "offload: UDP coalescing off too");
	}
}

static void on_flush_check(uv_check_t *c)
{
	gro_flush(c->data);
}

/* Offset of the TCP header if pkt is a pure ACK (flags exactly ACK, no
 * payload; IPv4 without options, IPv6 without extension headers), else 0. */
static size_t pure_ack_tcp(const uint8_t *p, size_t len)
{
	size_t ip;

	if (len >= 40 && (p[0] >> 4) == 4 && (p[0] & 0x0f) == 5 && p[9] == 6)
		ip = 20;
	else if (len >= 60 && (p[0] >> 4) == 6 && p[6] == 6)
		ip = 40;
	else
		return 0;
	if (ip + (size_t)(p[ip + 12] >> 4) * 4 != len || p[ip + 13] != 0x10)
		return 0;
	return ip;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Same TCP flow: version, addresses and ports equal (both pure ACKs). */
static bool same_flow(const uint8_t *a, const uint8_t *b, size_t ip)
{
	if ((a[0] >> 4) != (b[0] >> 4))
		return false;
	if (ip == 20)
		return memcmp(a + 12, b + 12, 8) == 0 && memcmp(a + 20, b + 20, 4) == 0;
	return memcmp(a + 8, b + 8, 32) == 0 && memcmp(a + 40, b + 40, 4) == 0;
}

static int gro_enqueue(struct tp_gw *gw, const void *buf, size_t len)
{
	int r = tp_gro_add(gw->gro, buf, len);

	if (r == -ENOSPC) {
		gro_flush(gw);
		r = tp_gro_add(gw->gro, buf, len);
	}
	return r;
}

/* Send the held ACK (if any) into the batch. */
static void ack_release(struct tp_gw *gw)
{
	if (gw->ack_len) {
		gro_enqueue(gw, gw->ack_pkt, gw->ack_len);
		gw->ack_len = 0;
	}
}

/* While one super-packet's segments are fed to lwIP (ack_hold), a pure ACK
 * that acknowledges more than the held one of the same flow replaces it:
 * the client's kernel gets one cumulative ACK per super-packet, as its own
 * GRO receive path would produce. Duplicate ACKs (same ack number) are all
 * sent. Returns true if pkt was taken. */
static bool ack_thin(struct tp_gw *gw, const uint8_t *pkt, size_t len)
{
	size_t ip = pure_ack_tcp(pkt, len);

	if (!ip || len > sizeof(gw->ack_pkt)) {
		ack_release(gw); /* keep the flow's order */
		return false;
	}
	if (gw->ack_len) {
		if (gw->ack_len == len && same_flow(pkt, gw->ack_pkt, ip) &&
		    (int32_t)(get32(pkt + ip + 8) - get32(gw->ack_pkt + ip + 8)) > 0)
			gw->st.acks_thinned++;
		else
			ack_release(gw);
	}
	memcpy(gw->ack_pkt, pkt, len);
	gw->ack_len = len;
	return true;
}

/* The stack's output: with a vnet header, into this iteration's batch
 * (written by on_flush_check, or now when the batch is full); without,
 * straight to the tun. */
static int tun_output(void *ctx, const void *buf, size_t len)
{
	static const uint8_t zero_hdr[TP_VNET_HDR_LEN];
	struct tp_gw *gw = ctx;
	struct iovec iov[2];

	if (gw->gro && !gw->stopping) {
		if (gw->ack_hold && ack_thin(gw, buf, len))
			return 0;
		return gro_enqueue(gw, buf, len);
	}
	if (gw->tun.vnet) {
		iov[0].iov_base = (void *)zero_hdr;
		iov[0].iov_len = TP_VNET_HDR_LEN;
		iov[1].iov_base = (void *)buf;
		iov[1].iov_len = len;
		return tun_writev(gw, iov, 2, 1);
	}
	iov[0].iov_base = (void *)buf;
	iov[0].iov_len = len;
	return tun_writev(gw, iov, 1, 1);
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
	if (gw->embed)
		gw->embed->snapshot(gw->embed, gw);
}

/* ---- packets in ---- */

/* One read of n bytes in gw->rxbuf into the stack: bare, or a vnet header
 * and a packet that may be a GSO super-packet (split into segments). */
static void tun_input(struct tp_gw *gw, size_t n)
{
	const uint8_t *pkt = gw->rxbuf + TP_VNET_HDR_LEN;
	struct tp_vnet_hdr h;
	enum tp_drop why = TP_DROP_NONE;
	unsigned in_flags, split_flags = 0;
	size_t len;
	int k;

	if (!gw->tun.vnet) {
		tp_stack_input(gw->rxbuf, n);
		return;
	}
	if (tp_vnet_parse(gw->rxbuf, n, &h) != 0) {
		gw->st.drops[TP_DROP_VNET_HDR]++;
		return;
	}
	len = n - TP_VNET_HDR_LEN;
	/* NEEDS_CSUM: the local kernel left a partial sum; DATA_VALID: it
	 * verified the checksum. flags 0 (forwarded, unverified): verify. */
	in_flags =
	        (h.flags & (TP_VNET_F_NEEDS_CSUM | TP_VNET_F_DATA_VALID)) ? TP_STACK_IN_CSUM_OK : 0;
	if (h.gso_type == TP_GSO_NONE && !(h.flags & TP_VNET_F_NEEDS_CSUM)) {
		/* a whole packet with nothing to check in the header */
		tp_stack_input_flags(pkt, len, in_flags);
		return;
	}
	/* a super-packet nobody vouches for (not seen from Linux): fill the
	 * checksums so the stack can verify them */
	if (h.gso_type != TP_GSO_NONE && !in_flags)
		split_flags = TP_SPLIT_FILL_CSUM;
	k = tp_gso_split(pkt, len, &h, split_flags, gw->segbuf, SEG_BUF, gw->segs, SEG_MAX, &why);
	if (k < 0) {
		if (why <= TP_DROP_NONE || why >= TP_DROP__COUNT)
			why = TP_DROP_GSO;
		gw->st.drops[why]++;
		return;
	}
	if (h.gso_type != TP_GSO_NONE) {
		gw->st.gso_in++;
		gw->st.gso_in_segs += (uint64_t)k;
	}
	gw->ack_hold = k > 1 && gw->gro;
	for (int i = 0; i < k; i++)
		tp_stack_input_flags(gw->segs[i].data, gw->segs[i].len, in_flags);
	if (gw->ack_hold) {
		gw->ack_hold = false;
		ack_release(gw);
	}
}

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
		tun_input(gw, (size_t)n);
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

/* a / b with two decimals, "-" when b is 0 */
static const char *ratio(char *buf, size_t len, uint64_t a, uint64_t b)
{
	if (!b)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f", (double)a / (double)b);
	return buf;
}

static void print_summary(struct tp_gw *gw)
{
	char r_in[32], r_out[32], red[300];
	const struct tp_stack_stats *ss = tp_stack_stats();
	const struct tp_gw_stats *st = &gw->st;
	unsigned long long refused = 0;
	char line[1024];
	size_t off;
	const char *lb = gw_worker ? gw_worker->label : ""; /* "worker K: " */

	for (int i = 0; i < TP_REFUSE__COUNT; i++)
		refused += st->flows_refused[i];
	fprintf(stderr, "tunplug: %ssummary: uptime %.1f s, tun %s, handler %s\n", lb,
	        (double)(uv_now(&gw->loop) - gw->start_ms) / 1000.0, gw->tun.name,
	        gw->n_hinst ? tp_handler_spec_redact(gw->hinst[0].args.spec, red, sizeof(red))
	                    : "-");
	if (ss) {
		fprintf(stderr,
		        "tunplug: %s  packets in %llu (%llu bytes), out %llu (%llu bytes), output "
		        "errors %llu, tun full drops %llu\n",
		        lb, (unsigned long long)ss->pkts_in, (unsigned long long)ss->bytes_in,
		        (unsigned long long)ss->pkts_out, (unsigned long long)ss->bytes_out,
		        (unsigned long long)ss->output_errors,
		        (unsigned long long)st->out_drops_full);
		off = (size_t)snprintf(line, sizeof(line), "tunplug: %s  drops:", lb);
		for (int i = 1; i < TP_DROP__COUNT && off < sizeof(line); i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s %llu",
			                        tp_drop_name((enum tp_drop)i),
			                        (unsigned long long)(ss->drops[i] + st->drops[i]));
		fprintf(stderr, "%s\n", line);
		fprintf(stderr,
		        "tunplug: %s  syn: held %llu, absorbed %llu, rst (limit %llu, refused "
		        "%llu, loopback %llu), reset by the client while held %llu\n",
		        lb, (unsigned long long)ss->syn_held, (unsigned long long)ss->syn_absorbed,
		        (unsigned long long)ss->syn_rst_limit,
		        (unsigned long long)ss->syn_rst_refused,
		        (unsigned long long)ss->syn_rst_loopback,
		        (unsigned long long)ss->syn_client_reset);
		fprintf(stderr,
		        "tunplug: %s  stack tcp flows: opened %llu, closed %llu, now %llu; lwip "
		        "mem errors %llu\n",
		        lb, (unsigned long long)ss->tcp_flows_opened,
		        (unsigned long long)ss->tcp_flows_closed,
		        (unsigned long long)ss->tcp_flows_now,
		        (unsigned long long)ss->lwip_mem_err);
		fprintf(stderr,
		        "tunplug: %s  stack udp flows: opened %llu, closed %llu (idle %llu, "
		        "evicted %llu), refused %llu, now %llu; datagrams in %llu (%llu bytes), "
		        "out %llu (%llu bytes), send errors %llu; fragments in %llu, reassembled "
		        "%llu, refused by reassembly %llu\n",
		        lb, (unsigned long long)ss->udp_flows_opened,
		        (unsigned long long)ss->udp_flows_closed,
		        (unsigned long long)ss->udp_flows_idle,
		        (unsigned long long)ss->udp_flows_evicted,
		        (unsigned long long)ss->udp_flows_refused,
		        (unsigned long long)ss->udp_flows_now,
		        (unsigned long long)ss->udp_dgrams_in, (unsigned long long)ss->udp_bytes_in,
		        (unsigned long long)ss->udp_dgrams_out,
		        (unsigned long long)ss->udp_bytes_out,
		        (unsigned long long)ss->udp_send_errors,
		        (unsigned long long)ss->udp_frag_in,
		        (unsigned long long)ss->udp_reassembled,
		        (unsigned long long)ss->udp_frag_dropped);
		fprintf(stderr,
		        "tunplug: %s  icmp: echo requests %llu (dropped by --icmp drop %llu); "
		        "unreachables sent %llu, rate limited %llu\n",
		        lb, (unsigned long long)ss->icmp_echo_in,
		        (unsigned long long)ss->icmp_echo_dropped,
		        (unsigned long long)ss->icmp_unreach_sent,
		        (unsigned long long)ss->icmp_unreach_limited);
	}
	fprintf(stderr,
	        "tunplug: %s  tun: reads %llu, writes %llu, read errors %llu, write errors %llu; "
	        "offload %s\n",
	        lb, (unsigned long long)st->tun_reads, (unsigned long long)st->tun_writes,
	        (unsigned long long)st->tun_read_errors, (unsigned long long)st->out_errors,
	        gw->offload_desc);
	fprintf(stderr,
	        "tunplug: %s  super-packets in %llu (%llu segments, %s per super-packet), out %llu "
	        "(%llu segments, %s per super-packet); gro EINVAL fallbacks %llu, gro on:%s%s; "
	        "acks thinned %llu\n",
	        lb, (unsigned long long)st->gso_in, (unsigned long long)st->gso_in_segs,
	        ratio(r_in, sizeof(r_in), st->gso_in_segs, st->gso_in),
	        (unsigned long long)st->gro_out, (unsigned long long)st->gro_out_segs,
	        ratio(r_out, sizeof(r_out), st->gro_out_segs, st->gro_out),
	        (unsigned long long)st->gro_einval, gw->gro_kinds & TP_GRO_TCP ? " tcp" : "",
	        gw->gro_kinds & TP_GRO_UDP ? " udp" : (gw->gro_kinds ? "" : " none"),
	        (unsigned long long)st->acks_thinned);
	fprintf(stderr,
	        "tunplug: %s  flows: seen %llu, accepted %llu, refused %llu, closed %llu (with "
	        "error %llu, idle %llu), upstream errors %llu\n",
	        lb, (unsigned long long)st->flows_seen, (unsigned long long)st->flows_accepted,
	        refused, (unsigned long long)st->flows_closed,
	        (unsigned long long)st->flows_closed_err, (unsigned long long)st->flows_idle,
	        (unsigned long long)st->upstream_errors);
	off = (size_t)snprintf(line, sizeof(line), "tunplug: %s  refused by reason:", lb);
	for (int i = 0; i < TP_REFUSE__COUNT && off < sizeof(line); i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, " %s %llu", refuse_names[i],
		                        (unsigned long long)st->flows_refused[i]);
	fprintf(stderr, "%s\n", line);
	fprintf(stderr, "tunplug: %s  bytes up %llu, down %llu; protect calls %llu, errors %llu\n",
	        lb, (unsigned long long)st->bytes_up, (unsigned long long)st->bytes_down,
	        (unsigned long long)st->protect_calls, (unsigned long long)st->protect_errors);
	if (gw->n_hcounters) {
		off = (size_t)snprintf(line, sizeof(line), "tunplug: %s  handler counters:", lb);
		for (size_t i = 0; i < gw->n_hcounters && off < sizeof(line); i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s %llu",
			                        gw->hcounters[i].name,
			                        (unsigned long long)gw->hcounters[i].value);
		fprintf(stderr, "%s\n", line);
	}
	if (gw_worker && gw_worker->summary)
		gw_worker->summary(gw);
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
	gro_flush(gw); /* the RSTs and FINs of the shutdown */
	gw->stopping = true;
	close_handle(gw, (uv_handle_t *)&gw->flush_check);
	close_handle(gw, (uv_handle_t *)&gw->defer_idle);
	close_handle(gw, (uv_handle_t *)&gw->tun_poll);
	close_handle(gw, (uv_handle_t *)&gw->stack_timer);
	close_handle(gw, (uv_handle_t *)&gw->idle_timer);
	close_handle(gw, (uv_handle_t *)&gw->sig_int);
	close_handle(gw, (uv_handle_t *)&gw->sig_term);
	close_handle(gw, (uv_handle_t *)&gw->sig_usr1);
	if (gw->embed)
		close_handle(gw, (uv_handle_t *)&gw->embed->stop_async);
}

static void on_embed_stop(uv_async_t *a)
{
	struct tp_gw *gw = a->data;

	tp_log(TP_LOG_INFO, "stop requested: stopping");
	gw_stop(gw);
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

/* Also the --queues master's (master.h). */
int tp_gw_netlink_setup(struct tp_nl **nl, int ifindex, const struct tp_options *o)
{
	int ret;

	ret = tp_nl_open(nl);
	if (ret) {
		fprintf(stderr, "tunplug: netlink: open: %s\n", strerror(-ret));
		*nl = NULL;
		return ret;
	}
	ret = tp_nl_link_up(*nl, ifindex, o->mtu);
	for (size_t i = 0; !ret && i < o->n_addrs; i++)
		ret = tp_nl_addr_add(*nl, ifindex, &o->addrs[i]);
	for (size_t i = 0; !ret && i < o->n_routes; i++)
		ret = tp_nl_route_add(*nl, ifindex, &o->routes[i], 0);
	if (ret)
		fprintf(stderr, "tunplug: netlink: %s: %s\n", tp_nl_last_op(*nl), strerror(-ret));
	/* rules and routes go into the same journal: tp_nl_undo in gw_fini */
	else if (o->auto_route)
		ret = tp_autoroute_setup(*nl, ifindex, o);
	return ret;
}

/* The instance for spec: an existing one with the same spec, or a new one.
 * Returns its index, or -errno after a message. */
static int hinst_get(struct tp_gw *gw, const char *spec)
{
	struct tp_hinst *hi;
	const char *target;
	int ret;

	for (size_t i = 0; i < gw->n_hinst; i++)
		if (!strcmp(gw->hinst[i].args.spec, spec))
			return (int)i;
	if (gw->n_hinst == TP_MAX_HINST) {
		fprintf(stderr, "tunplug: at most %d distinct handlers\n", TP_MAX_HINST);
		return -ENOSPC;
	}
	hi = &gw->hinst[gw->n_hinst];
	target = tp_handler_spec_split(spec, hi->name, sizeof(hi->name));
	hi->h = target ? tp_handler_builtin(hi->name) : NULL;
	for (size_t i = 0; target && !hi->h && i < gw->n_plugins; i++)
		if (!strcmp(gw->plugins[i].h->name, hi->name))
			hi->h = gw->plugins[i].h;
	if (!hi->h) {
		fprintf(stderr, "tunplug: handler \"%s\": no such handler (built in: ", spec);
		for (unsigned i = 0; tp_handler_builtin_name(i); i++)
			fprintf(stderr, "%s%s", i ? ", " : "", tp_handler_builtin_name(i));
		for (size_t i = 0; i < gw->n_plugins; i++)
			fprintf(stderr, "%s%s", i ? ", " : "; plugins: ", gw->plugins[i].h->name);
		fprintf(stderr, ")\n");
		return -ENOENT;
	}
	ret = tp_handler_check(hi->h, "handler");
	if (ret)
		return ret;
	hi->args.spec = spec;
	hi->args.target = target;
	hi->args.opts = tp_config_handler_opts(gw->opt->config, spec, &hi->args.n_opts);
	return (int)gw->n_hinst++;
}

/* Instances and rules from the options: [0] = --handler; --dns-upstream
 * adds "dns://UP1,UP2" and a first rule proto=udp,port=53 for it. */
static int handlers_configure(struct tp_gw *gw, const struct tp_options *o)
{
	int k;

	for (size_t i = 0; i < o->n_plugins; i++) {
		struct tp_plugin *pl = &gw->plugins[gw->n_plugins];
		k = tp_plugin_load(o->plugins[i], &pl->h, &pl->dl);
		if (k)
			return k;
		if (tp_handler_builtin(pl->h->name)) {
			fprintf(stderr,
			        "tunplug: --plugin %s: \"%s\" is the name of a built-in handler\n",
			        o->plugins[i], pl->h->name);
			dlclose(pl->dl);
			return -EEXIST;
		}
		gw->n_plugins++;
		tp_log(TP_LOG_INFO, "plugin %s: handler \"%s\" (ABI %u.%u)", o->plugins[i],
		       pl->h->name, pl->h->abi_version >> 16, pl->h->abi_version & 0xffff);
	}
	k = hinst_get(gw, o->handler);

	if (k < 0)
		return k;
	if (o->n_dns) {
		struct tp_rule *r = &gw->rules[gw->n_rules++];
		size_t n = (size_t)snprintf(gw->dns_target, sizeof(gw->dns_target), "dns://");
		for (size_t i = 0; i < o->n_dns && n < sizeof(gw->dns_target); i++)
			n += (size_t)snprintf(gw->dns_target + n, sizeof(gw->dns_target) - n,
			                      "%s%s", i ? "," : "", o->dns_upstreams[i]);
		memset(r, 0, sizeof(*r));
		r->proto = IPPROTO_UDP;
		r->port_lo = r->port_hi = 53;
		if (n >= sizeof(r->handler)) {
			fprintf(stderr, "tunplug: --dns-upstream: the list is too long\n");
			return -E2BIG;
		}
		memcpy(r->handler, gw->dns_target, n + 1);
	}
	for (size_t i = 0; i < o->n_rules && gw->n_rules < TP_MAX_RULES; i++)
		gw->rules[gw->n_rules++] = o->rules[i];
	for (size_t i = 0; i < gw->n_rules; i++) {
		k = hinst_get(gw, gw->rules[i].handler);
		if (k < 0)
			return k;
		gw->rules[i].inst = (unsigned)k;
	}
	return 0;
}

/* What the tun gave us: the coalescing batch and kinds, the log line. */
static int offload_setup(struct tp_gw *gw)
{
	const struct tp_tun *t = &gw->tun;
	char *d = gw->offload_desc;
	size_t dl = sizeof(gw->offload_desc);

	gw->gro_kinds = 0;
	if (t->vnet) {
		/* TCP coalescing needs only the header (writes are parsed
		 * whatever TUNSETOFFLOAD said); UDP_L4 needs a >= 6.2 kernel,
		 * which USO being granted shows */
		gw->gro_kinds = TP_GRO_TCP;
		if ((t->offloads & (TP_TUN_F_USO4 | TP_TUN_F_USO6)) ==
		    (TP_TUN_F_USO4 | TP_TUN_F_USO6))
			gw->gro_kinds |= TP_GRO_UDP;
		if (gw->opt->no_offload)
			gw->gro_kinds = 0; /* adopted vnet fd: headers stay, zero */
		if (gw->gro_kinds) {
			gw->gro = tp_gro_new(GRO_BATCH);
			if (!gw->gro) {
				fprintf(stderr, "tunplug: out of memory\n");
				return -ENOMEM;
			}
		}
	}
	if (t->vnet && t->offloads)
		snprintf(d, dl, "%s%s%s%s%s", t->offloads & TP_TUN_F_CSUM ? "csum" : "",
		         t->offloads & TP_TUN_F_TSO4 ? " tso4" : "",
		         t->offloads & TP_TUN_F_TSO6 ? " tso6" : "",
		         t->offloads & TP_TUN_F_USO4 ? " uso" : "",
		         t->adopted ? " (adopted fd)" : "");
	else if (gw->opt->no_offload)
		snprintf(d, dl, "off (--no-offload%s)",
		         t->vnet ? "; adopted fd keeps all-zero vnet headers" : "");
	else if (t->vnet)
		snprintf(d, dl,
		         "off (adopted fd with vnet header: TUNSETOFFLOAD refused: %s; "
		         "coalesced writes only)",
		         strerror(-t->offload_err));
	else if (t->adopted)
		snprintf(d, dl, "off (adopted fd without IFF_VNET_HDR)");
	else
		snprintf(d, dl, "off (%s refused: %s)",
		         t->offload_err == 0 ? "?" : "IFF_VNET_HDR/TUNSETOFFLOAD",
		         strerror(-t->offload_err));
	tp_log(TP_LOG_INFO, "offload: %s", d);
	return 0;
}

static int gw_init(struct tp_gw *gw, const struct tp_options *o)
{
	struct tp_stack_cfg cfg;
	struct tp_embed *embed = gw->embed; /* survives the reset */
	int ret;

	memset(gw, 0, sizeof(*gw));
	gw->embed = embed;
	gw->opt = o;
	gw->tun.fd = -1;

	ret = handlers_configure(gw, o);
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
	gw->segbuf = malloc(SEG_BUF);
	gw->segs = calloc(SEG_MAX, sizeof(*gw->segs));
	if (!gw->rxbuf || !gw->dlbuf || !gw->segbuf || !gw->segs) {
		fprintf(stderr, "tunplug: out of memory\n");
		return -ENOMEM;
	}

	if (o->tun_fd >= 0) {
		ret = tp_tun_adopt_flags(o->tun_fd, o->no_offload ? TP_TUN_NO_OFFLOAD : 0,
		                         &gw->tun);
		if (ret) {
			fprintf(stderr, "tunplug: tun: adopt fd %d: %s\n", o->tun_fd,
			        strerror(-ret));
			gw->tun.fd = -1;
			return ret;
		}
		gw->mtu = gw->tun.mtu ? gw->tun.mtu : 1500;
	} else {
		ret = tp_tun_open_flags(o->tun_name, o->no_offload ? TP_TUN_NO_OFFLOAD : 0,
		                        &gw->tun);
		if (ret) {
			fprintf(stderr, "tunplug: tun: open %s: %s\n", o->tun_name, strerror(-ret));
			gw->tun.fd = -1;
			return ret;
		}
		gw->mtu = o->mtu;
		ret = tp_gw_netlink_setup(&gw->nl, gw->tun.ifindex, o);
		if (ret)
			return ret;
	}

	ret = offload_setup(gw);
	if (ret)
		return ret;

	memset(&cfg, 0, sizeof(cfg));
	cfg.mtu = gw->mtu;
	cfg.max_flows = o->max_flows;
	cfg.allow_loopback = o->allow_loopback;
	cfg.own = o->addrs;
	cfg.n_own = o->n_addrs;
	cfg.output = tun_output;
	/* with a batch, every TCP packet leaves with a vnet header: NEEDS_CSUM
	 * and the pseudo-header sum, so nobody sums the payload */
	cfg.tcp_csum_partial = gw->gro != NULL;
	if (gw->gro)
		tp_gro_set_tcp_partial(gw->gro, true);
	cfg.tcp_syn = tp_host_tcp_syn;
	cfg.udp_new = tp_host_udp_new;
	cfg.max_udp_flows = o->max_udp_flows;
	cfg.udp_idle_ms = o->udp_timeout_s * 1000u;
	cfg.udp_dns_idle_ms = o->udp_dns_timeout_s * 1000u;
	cfg.icmp_drop = o->icmp_drop;
	cfg.ctx = gw;
	tp_gw_clock(gw);
	ret = tp_stack_init(&cfg);
	if (ret) {
		fprintf(stderr, "tunplug: stack: init: %s\n", strerror(-ret));
		return ret;
	}
	gw->stack_up = true;

	tp_host_init(gw);
	for (size_t i = 0; i < gw->n_hinst; i++) {
		struct tp_hinst *hi = &gw->hinst[i];
		char red[300];
		tp_host_inst_init(gw, hi);
		ret = hi->h->init(&hi->host, &hi->args, &hi->state);
		if (ret) {
			fprintf(stderr, "tunplug: handler %s: init: %s\n",
			        tp_handler_spec_redact(hi->args.spec, red, sizeof(red)),
			        strerror(-ret));
			return ret;
		}
		hi->up = true;
	}

	/* Loop handles: data = gw marks them initialised for close_handle(). */
	ret = uv_poll_init(&gw->loop, &gw->tun_poll, gw->tun.fd);
	if (ret)
		goto uv_fail;
	gw->tun_poll.data = gw;
	gw->handles_live++;
	uv_check_init(&gw->loop, &gw->flush_check);
	gw->flush_check.data = gw;
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

	if (gw->embed) {
		/* an embedding program owns the signals; it stops us with this */
		ret = uv_async_init(&gw->loop, &gw->embed->stop_async, on_embed_stop);
		if (ret)
			goto uv_fail;
		gw->embed->stop_async.data = gw;
		gw->handles_live++;
	}
	ret = uv_poll_start(&gw->tun_poll, UV_READABLE, on_tun_readable);
	if (!ret && gw->gro)
		ret = uv_check_start(&gw->flush_check, on_flush_check);
	if (!ret && !gw->embed)
		ret = uv_signal_start(&gw->sig_int, on_signal, SIGINT);
	if (!ret && !gw->embed)
		ret = uv_signal_start(&gw->sig_term, on_signal, SIGTERM);
	if (!ret && !gw->embed)
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
	if (gw->n_hinst && gw->hinst[0].up) {
		tp_host_run_deferred(gw);
		for (size_t i = gw->n_hinst; i-- > 0;) {
			struct tp_hinst *hi = &gw->hinst[i];
			if (hi->up) {
				hi->h->fini(hi->state);
				hi->up = false;
			}
		}
		uv_run(&gw->loop, UV_RUN_DEFAULT);
	}
	/* no plugin code may run any more: every handler is finished */
	while (gw->n_plugins)
		dlclose(gw->plugins[--gw->n_plugins].dl);
	if (gw->nl && gw->dropped && !gw->keep_admin) {
		/* no CAP_NET_ADMIN left: closing our (non-persistent) tun
		 * removes the device and, with it, its addresses and routes */
		tp_tun_close(&gw->tun);
		tp_nl_close(gw->nl);
		gw->nl = NULL;
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
	free(gw->segbuf);
	free(gw->segs);
	if (gw->gro)
		tp_gro_free(gw->gro);
	gw->rxbuf = gw->dlbuf = gw->segbuf = NULL;
	gw->segs = NULL;
	gw->gro = NULL;
	return ret;
}

static int gateway_run(const struct tp_options *opt, struct tp_embed *embed)
{
	struct tp_gw *gw = &gw_main;
	char red[300];
	int ret;

	gw->embed = embed; /* gw_init keeps it */
	ret = gw_init(gw, opt);
	if (ret) {
		gw_fini(gw);
		return ret < 0 ? ret : -EINVAL;
	}
	if (opt->user) {
		/* SO_MARK needs CAP_NET_ADMIN, SO_BINDTODEVICE CAP_NET_RAW; the
		 * addresses and routes on our own tun go away with the device. */
		gw->keep_admin = opt->fwmark_set;
		ret = tp_privdrop(opt->user, gw->keep_admin, opt->bind_interface != NULL);
		if (ret) {
			gw_fini(gw);
			return ret;
		}
		gw->dropped = true;
		tp_log(TP_LOG_INFO, "running as %s (uid %u)%s%s", opt->user, (unsigned)getuid(),
		       gw->keep_admin ? ", keeping CAP_NET_ADMIN" : "",
		       opt->bind_interface ? ", keeping CAP_NET_RAW" : "");
	}
	if (gw_worker && gw_worker->ready)
		gw_worker->ready(gw);
	tp_log(TP_LOG_INFO, "ready tun=%s mtu=%u handler=%s%s", gw->tun.name, gw->mtu,
	       tp_handler_spec_redact(gw->hinst[0].args.spec, red, sizeof(red)),
	       gw->tun.adopted ? " (adopted fd)" : "");
	if (embed)
		embed->loop_ready(embed);
	uv_run(&gw->loop, UV_RUN_DEFAULT);
	if (embed)
		embed->loop_done(embed);
	/* Every flow is closed by now; the counters are final. */
	print_summary(gw);
	if (embed)
		embed->snapshot(embed, gw);
	ret = gw_fini(gw);
	gw->embed = NULL;
	return ret;
}

int tp_gateway_run(const struct tp_options *opt)
{
	return gateway_run(opt, NULL) ? 1 : 0;
}

int tp_gateway_run_embedded(const struct tp_options *opt, struct tp_embed *e)
{
	return gateway_run(opt, e);
}
