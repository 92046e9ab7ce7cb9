/* SPDX-License-Identifier: MIT */
/* tunplug — the counters as named samples and the Prometheus page (see
 * metrics.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/metrics.h"
#include "ctl/proto.h"
#include "tunplug/offload.h"
#include "tunplug/packet.h"

#define C TP_METRIC_COUNTER
#define G TP_METRIC_GAUGE

static const struct tp_metric_def defs[] = {
        /* the stack */
        {"packets_in", C, "Packets read from the tun and given to the stack."},
        {"packets_out", C, "Packets the stack wrote toward the tun."},
        {"packet_bytes_in", C, "Bytes of the packets in."},
        {"packet_bytes_out", C, "Bytes of the packets out."},
        {"output_errors", C, "Packets the stack could not output."},
        {"drops", C, "Packets dropped before or in the stack, by reason."},
        {"syn_held", C, "TCP SYNs held while a handler decides."},
        {"syn_absorbed", C, "Retransmitted SYNs absorbed by a held flow."},
        {"syn_client_reset", C, "Held flows the client reset."},
        {"syn_refused", C, "Held SYNs refused by their handler."},
        {"syn_limit", C, "SYNs refused because --max-flows was reached."},
        {"syn_loopback", C, "SYNs refused: loopback or own destination."},
        {"syn_drop_source", C, "SYNs dropped: the source had --max-pending-per-source."},
        {"syn_drop_pending", C, "SYNs dropped: --max-pending reached."},
        {"syn_evicted", C, "Half-open flows evicted for another source's SYN."},
        {"syn_answered", C, "Refused SYNs by the answer the client got."},
        {"tcp_pending", G, "Half-open TCP flows now."},
        {"tcp_pending_sources", G, "Sources with half-open TCP flows now."},
        {"tcp_flows_opened", C, "TCP flows opened by the stack."},
        {"tcp_flows_closed", C, "TCP flows closed by the stack."},
        {"tcp_flows", G, "TCP flows in the stack now."},
        {"lwip_mem_errors", C, "lwIP memory errors."},
        {"ooseq_segments", G, "Out-of-order TCP segments held now."},
        {"ooseq_bytes", G, "Bytes of out-of-order TCP segments held now."},
        {"ooseq_drop_segments", C, "Out-of-order segments dropped past the bounds."},
        {"ooseq_drop_bytes", C, "Bytes of out-of-order segments dropped past the bounds."},
        {"udp_flows_opened", C, "UDP flows opened."},
        {"udp_flows_closed", C, "UDP flows closed."},
        {"udp_flows_idle", C, "UDP flows closed by their idle timeout."},
        {"udp_flows_evicted", C, "UDP flows evicted by --max-udp-flows."},
        {"udp_flows_refused", C, "UDP flows refused."},
        {"udp_flows", G, "UDP flows now."},
        {"udp_datagrams_in", C, "UDP datagrams from clients."},
        {"udp_bytes_in", C, "UDP payload bytes from clients."},
        {"udp_datagrams_out", C, "UDP datagrams to clients."},
        {"udp_bytes_out", C, "UDP payload bytes to clients."},
        {"udp_send_errors", C, "UDP datagrams that could not be sent to a client."},
        {"udp_fragments_in", C, "IP fragments given to reassembly."},
        {"udp_reassembled", C, "Datagrams reassembled from fragments."},
        {"udp_fragments_dropped", C, "Fragments reassembly refused."},
        {"icmp_echo_requests", C, "ICMP echo requests to captured addresses."},
        {"icmp_echo_dropped", C, "Echo requests dropped (--icmp drop)."},
        {"icmp_unreach_sent", C, "ICMP unreachables sent."},
        {"icmp_unreach_limited", C, "ICMP unreachables not sent (rate limit)."},
        /* the tun */
        {"tun_reads", C, "read() calls on the tun that returned a packet."},
        {"tun_read_errors", C, "Failed reads on the tun."},
        {"tun_read_events", C, "Readable events of the tun."},
        {"tun_read_bound_hits", C, "Readable events that ended at the read bound."},
        {"tun_writes", C, "Successful writes to the tun."},
        {"tun_full_drops", C, "Packets lost to a full tun (EAGAIN/ENOBUFS)."},
        {"tun_write_errors", C, "Other tun write errors."},
        {"super_packets_in", C, "Super-packets (GSO) read from the tun."},
        {"super_packet_segments_in", C, "Segments the super-packets in stood for."},
        {"super_packets_out", C, "Coalesced super-packets written to the tun."},
        {"super_packet_segments_out", C, "Packets merged into the super-packets out."},
        {"gro_einval", C, "Coalesced writes the kernel refused (re-sent one by one)."},
        {"tso_writes", C, "TCP super-segments of the stack written with a TSO header."},
        {"tso_write_segments", C, "Wire segments the TSO writes stood for."},
        {"tso_einval", C, "TSO writes the kernel refused (split; TSO off for the run)."},
        {"acks_thinned", C, "Pure ACKs superseded within one super-packet."},
        {"tun_txqueuelen", G, "The tun device's transmit queue length (packets)."},
        {"tun_tx_dropped", C, "Packets the kernel dropped: the tun's queue was full."},
        {"tcp_super_packets_whole", C, "TCP super-packets fed to the stack whole."},
        {"tcp_super_packets_split", C, "TCP super-packets split, by reason."},
        /* flows */
        {"flows_seen", C, "Flows dispatched (SYNs and first datagrams)."},
        {"flows_accepted", C, "Flows a handler accepted."},
        {"flows_refused", C, "Flows refused, by reason."},
        {"flows_closed", C, "Accepted flows that finished."},
        {"flows_closed_error", C, "Accepted flows that finished with an error."},
        {"flows_idle", C, "Flows closed by the idle timeout."},
        {"flows_ctl_closed", C, "Flows reset by tunplug ctl close."},
        {"upstream_errors", C, "Relays aborted by an upstream error."},
        {"bytes_up", C, "Bytes client to upstream."},
        {"bytes_down", C, "Bytes upstream to client."},
        {"protect_calls", C, "Outbound sockets through protect()."},
        {"protect_errors", C, "protect() failures."},
        {"mem_trims", C, "Heap trims after drains."},
        {"sniffed_names", C, "Flows whose name sniffing found, by protocol."},
        {"sniff_misses", C, "Sniffed flows without a name, by outcome."},
        {"sniff_resets", C, "Sniffed TCP flows refused after their handshake (reset)."},
        {"fake_ip_answers", C, "Fake-IP pool addresses handed to the dns handler."},
        {"fake_ip_evictions", C, "Fake-IP answers that evicted the least recently used name."},
        {"fake_ip_flows_named", C, "Flows to a fake-IP address that got its name."},
        {"fake_ip_unmapped", C, "Flows to a fake-IP address without a name: refused."},
        {"flows_open", G, "Live flows by handler instance, protocol and state."},
        {"handler_events", C, "Handler counters (counter_add) by handler instance."},
        {"start_time_seconds", G, "Start time of the gateway, seconds since the epoch."},
};

#undef C
#undef G

#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

const struct tp_metric_def *tp_metric_def_at(size_t i)
{
	return i < N_DEFS ? &defs[i] : NULL;
}

int tp_metric_find(const char *name)
{
	for (size_t i = 0; i < N_DEFS; i++)
		if (!strcmp(defs[i].name, name))
			return (int)i;
	return -1;
}

int tp_samples_add(struct tp_samples *s, const char *name, const char *labels, uint64_t value)
{
	int d = tp_metric_find(name);
	struct tp_sample *sm;

	if (d < 0)
		return -ENOENT;
	if (strlen(labels) >= sizeof(sm->labels))
		return -EINVAL;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].def == (unsigned)d && !strcmp(s->v[i].labels, labels)) {
			s->v[i].value += value;
			return 0;
		}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 128;
		struct tp_sample *v = realloc(s->v, cap * sizeof(*v));

		if (!v) {
			s->nomem = true;
			return -ENOMEM;
		}
		s->v = v;
		s->cap = cap;
	}
	sm = &s->v[s->n++];
	sm->def = (unsigned)d;
	snprintf(sm->labels, sizeof(sm->labels), "%s", labels);
	sm->value = value;
	return 0;
}

int tp_samples_addl(struct tp_samples *s, const char *name, uint64_t value, ...)
{
	char labels[sizeof(((struct tp_sample *)0)->labels)], esc[TP_CTL_ESC_MAX(64)];
	size_t off = 0;
	const char *k;
	va_list ap;

	labels[0] = '\0';
	va_start(ap, value);
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		int n = snprintf(labels + off, sizeof(labels) - off, "%s%s=%s", off ? "," : "", k,
		                 tp_ctl_escape(v, esc, sizeof(esc)));

		if (n < 0 || (size_t)n >= sizeof(labels) - off) {
			va_end(ap);
			return -EINVAL;
		}
		off += (size_t)n;
	}
	va_end(ap);
	return tp_samples_add(s, name, labels, value);
}

void tp_samples_free(struct tp_samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void tp_samples_collect(struct tp_samples *s, const struct tp_stats *all,
                        const struct tp_stack_stats *ss)
{
	const struct tp_tun_counters *tc = &all->tun;
	const struct tp_flow_counters *fc = &all->flows;
	static const struct tp_stack_stats zero;

	if (!ss)
		ss = &zero;
#define ADD(name, v) tp_samples_add(s, name, "", (uint64_t)(v))
	ADD("packets_in", ss->pkts_in);
	ADD("packets_out", ss->pkts_out);
	ADD("packet_bytes_in", ss->bytes_in);
	ADD("packet_bytes_out", ss->bytes_out);
	ADD("output_errors", ss->output_errors);
	for (int i = 1; i < TP_DROP__COUNT; i++)
		tp_samples_addl(s, "drops", ss->drops[i] + tc->drops[i], "reason",
		                tp_drop_name((enum tp_drop)i), NULL);
	ADD("syn_held", ss->syn_held);
	ADD("syn_absorbed", ss->syn_absorbed);
	ADD("syn_client_reset", ss->syn_client_reset);
	ADD("syn_refused", ss->syn_refused);
	ADD("syn_limit", ss->syn_limit);
	ADD("syn_loopback", ss->syn_loopback);
	ADD("syn_drop_source", ss->syn_drop_source);
	ADD("syn_drop_pending", ss->syn_drop_pending);
	ADD("syn_evicted", ss->syn_evicted);
	for (int i = 0; i < TP_SYN_ANSWER__COUNT; i++)
		tp_samples_addl(s, "syn_answered", ss->syn_answered[i], "answer",
		                tp_syn_answer_name(i), NULL);
	ADD("tcp_pending", ss->tcp_pending_now);
	ADD("tcp_pending_sources", ss->tcp_pending_sources_now);
	ADD("tcp_flows_opened", ss->tcp_flows_opened);
	ADD("tcp_flows_closed", ss->tcp_flows_closed);
	ADD("tcp_flows", ss->tcp_flows_now);
	ADD("lwip_mem_errors", ss->lwip_mem_err);
	ADD("ooseq_segments", ss->ooseq_pbufs_now);
	ADD("ooseq_bytes", ss->ooseq_bytes_now);
	ADD("ooseq_drop_segments", ss->ooseq_drop_segs);
	ADD("ooseq_drop_bytes", ss->ooseq_drop_bytes);
	ADD("udp_flows_opened", ss->udp_flows_opened);
	ADD("udp_flows_closed", ss->udp_flows_closed);
	ADD("udp_flows_idle", ss->udp_flows_idle);
	ADD("udp_flows_evicted", ss->udp_flows_evicted);
	ADD("udp_flows_refused", ss->udp_flows_refused);
	ADD("udp_flows", ss->udp_flows_now);
	ADD("udp_datagrams_in", ss->udp_dgrams_in);
	ADD("udp_bytes_in", ss->udp_bytes_in);
	ADD("udp_datagrams_out", ss->udp_dgrams_out);
	ADD("udp_bytes_out", ss->udp_bytes_out);
	ADD("udp_send_errors", ss->udp_send_errors);
	ADD("udp_fragments_in", ss->udp_frag_in);
	ADD("udp_reassembled", ss->udp_reassembled);
	ADD("udp_fragments_dropped", ss->udp_frag_dropped);
	ADD("icmp_echo_requests", ss->icmp_echo_in);
	ADD("icmp_echo_dropped", ss->icmp_echo_dropped);
	ADD("icmp_unreach_sent", ss->icmp_unreach_sent);
	ADD("icmp_unreach_limited", ss->icmp_unreach_limited);

	ADD("tun_reads", tc->tun_reads);
	ADD("tun_read_errors", tc->tun_read_errors);
	ADD("tun_read_events", tc->read_events);
	ADD("tun_read_bound_hits", tc->read_bound_hits);
	ADD("tun_writes", tc->tun_writes);
	ADD("tun_full_drops", tc->out_drops_full);
	ADD("tun_write_errors", tc->out_errors);
	ADD("super_packets_in", tc->gso_in);
	ADD("super_packet_segments_in", tc->gso_in_segs);
	ADD("super_packets_out", tc->gro_out);
	ADD("super_packet_segments_out", tc->gro_out_segs);
	ADD("gro_einval", tc->gro_einval);
	ADD("tso_writes", tc->tso_out);
	ADD("tso_write_segments", tc->tso_out_segs);
	ADD("tso_einval", tc->tso_einval);
	ADD("acks_thinned", tc->acks_thinned);
	ADD("tcp_super_packets_whole", tc->gso_whole);
	for (int i = TP_WHOLE_NOT_TCP + 1; i < TP_WHOLE__COUNT; i++)
		tp_samples_addl(s, "tcp_super_packets_split", tc->gso_split[i], "reason",
		                tp_whole_name((enum tp_whole)i), NULL);

	ADD("flows_seen", fc->flows_seen);
	ADD("flows_accepted", fc->flows_accepted);
	for (int i = 0; i < TP_REFUSE__COUNT; i++)
		tp_samples_addl(s, "flows_refused", fc->flows_refused[i], "reason",
		                tp_refuse_name((enum tp_refuse)i), NULL);
	ADD("flows_closed", fc->flows_closed);
	ADD("flows_closed_error", fc->flows_closed_err);
	ADD("flows_idle", fc->flows_idle);
	ADD("flows_ctl_closed", fc->flows_ctl_closed);
	ADD("upstream_errors", fc->upstream_errors);
	ADD("bytes_up", fc->bytes_up);
	ADD("bytes_down", fc->bytes_down);
	ADD("protect_calls", fc->protect_calls);
	ADD("protect_errors", fc->protect_errors);
	ADD("mem_trims", fc->mem_trims);
	tp_samples_addl(s, "sniffed_names", fc->sniff_tls, "protocol", "tls", NULL);
	tp_samples_addl(s, "sniffed_names", fc->sniff_http, "protocol", "http", NULL);
	tp_samples_addl(s, "sniffed_names", fc->sniff_quic, "protocol", "quic", NULL);
	tp_samples_addl(s, "sniff_misses", fc->sniff_none, "outcome", "no_name", NULL);
	tp_samples_addl(s, "sniff_misses", fc->sniff_timeout, "outcome", "timeout", NULL);
	tp_samples_addl(s, "sniff_misses", fc->sniff_malformed, "outcome", "malformed", NULL);
	tp_samples_addl(s, "sniff_misses", fc->sniff_skipped, "outcome", "skipped", NULL);
	ADD("sniff_resets", fc->sniff_reset);
	ADD("fake_ip_answers", all->names.answers);
	ADD("fake_ip_evictions", all->names.evictions);
	ADD("fake_ip_flows_named", all->names.named);
	ADD("fake_ip_unmapped", all->names.unmapped);
#undef ADD
}

void tp_buf_printf(struct tp_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->nomem)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->nomem = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->nomem = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void tp_buf_free(struct tp_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void tp_samples_wire(const struct tp_samples *s, struct tp_buf *out)
{
	for (size_t i = 0; i < s->n; i++)
		tp_buf_printf(out, "stat %s %s %" PRIu64 "\n", defs[s->v[i].def].name,
		              s->v[i].labels[0] ? s->v[i].labels : "-", s->v[i].value);
}

int tp_samples_parse_line(struct tp_samples *s, const char *line)
{
	char name[64], labels[sizeof(((struct tp_sample *)0)->labels)], val[24];
	unsigned long long v;
	char *end;

	if (strncmp(line, "stat ", 5))
		return -EINVAL;
	if (sscanf(line + 5, "%63s %159s %23s", name, labels, val) != 3)
		return -EINVAL;
	if (val[0] < '0' || val[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno || *end)
		return -EINVAL;
	return tp_samples_add(s, name, strcmp(labels, "-") ? labels : "", v);
}

/* Walk the pairs of a wire label string: fn(key, unescaped value). */
static void each_label(const char *labels,
                       void (*fn)(void *ud, const char *k, const char *v, bool first), void *ud)
{
	char buf[sizeof(((struct tp_sample *)0)->labels)], *save = NULL, *pair;
	bool first = true;

	snprintf(buf, sizeof(buf), "%s", labels);
	for (pair = strtok_r(buf, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(pair, '='), val[sizeof(buf)];

		if (!eq)
			continue;
		*eq = '\0';
		if (tp_ctl_unescape(eq + 1, val, sizeof(val)) < 0)
			snprintf(val, sizeof(val), "?");
		fn(ud, pair, val, first);
		first = false;
	}
}

static void prom_label(void *ud, const char *k, const char *v, bool first)
{
	struct tp_buf *out = ud;

	tp_buf_printf(out, "%s%s=\"", first ? "" : ",", k);
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '\\')
			tp_buf_printf(out, "\\\\");
		else if (c == '"')
			tp_buf_printf(out, "\\\"");
		else if (c == '\n')
			tp_buf_printf(out, "\\n");
		else if (c < 0x20 || c >= 0x7f)
			tp_buf_printf(out, "?");
		else
			tp_buf_printf(out, "%c", c);
	}
	tp_buf_printf(out, "\"");
}

void tp_samples_prometheus(const struct tp_samples *s, struct tp_buf *out)
{
	for (size_t d = 0; d < N_DEFS; d++) {
		bool head = false;
		const char *suffix = defs[d].kind == TP_METRIC_COUNTER ? "_total" : "";

		for (size_t i = 0; i < s->n; i++) {
			const struct tp_sample *sm = &s->v[i];

			if (sm->def != d)
				continue;
			if (!head) {
				tp_buf_printf(
				        out, "# HELP tunplug_%s%s %s\n# TYPE tunplug_%s%s %s\n",
				        defs[d].name, suffix, defs[d].help, defs[d].name, suffix,
				        defs[d].kind == TP_METRIC_COUNTER ? "counter" : "gauge");
				head = true;
			}
			tp_buf_printf(out, "tunplug_%s%s", defs[d].name, suffix);
			if (sm->labels[0]) {
				tp_buf_printf(out, "{");
				each_label(sm->labels, prom_label, out);
				tp_buf_printf(out, "}");
			}
			tp_buf_printf(out, " %" PRIu64 "\n", sm->value);
		}
	}
}

static void text_label(void *ud, const char *k, const char *v, bool first)
{
	struct tp_buf *out = ud;
	char esc[TP_CTL_ESC_MAX(160)];

	tp_buf_printf(out, "%s%s=%s", first ? "" : ",", k, tp_ctl_escape(v, esc, sizeof(esc)));
}

void tp_sample_text(const struct tp_sample *sm, struct tp_buf *out)
{
	tp_buf_printf(out, "%s", defs[sm->def].name);
	if (sm->labels[0]) {
		tp_buf_printf(out, "{");
		each_label(sm->labels, text_label, out);
		tp_buf_printf(out, "}");
	}
	tp_buf_printf(out, " %" PRIu64 "\n", sm->value);
}

int tp_http_head(const char *buf, size_t len, char *method, size_t mlen, char *path, size_t plen)
{
	const char *end = NULL, *sp1, *sp2, *eol, *q;

	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n') {
			end = buf + i;
			break;
		}
		if (i + 3 < len && !memcmp(buf + i, "\r\n\r\n", 4)) {
			end = buf + i;
			break;
		}
	}
	/* the method is checked as it arrives (garbage is refused at once) */
	for (size_t i = 0; i < len && buf[i] != ' '; i++)
		if (buf[i] < 'A' || buf[i] > 'Z' || i + 1 >= mlen)
			return -EINVAL;
	eol = memchr(buf, '\n', len);
	/* a request line is checked as soon as it is in */
	if (!eol && !end)
		return -EAGAIN;
	sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	if (!sp1 || sp1 == buf || (size_t)(sp1 - buf) >= mlen)
		return -EINVAL;
	for (const char *p = buf; p < sp1; p++)
		if (*p < 'A' || *p > 'Z')
			return -EINVAL;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1 || sp1[1] != '/' || strncmp(sp2 + 1, "HTTP/1.", 7))
		return -EINVAL;
	if (!end)
		return -EAGAIN;
	memcpy(method, buf, (size_t)(sp1 - buf));
	method[sp1 - buf] = '\0';
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	if (!q)
		q = sp2;
	if ((size_t)(q - sp1 - 1) >= plen)
		return -EINVAL;
	memcpy(path, sp1 + 1, (size_t)(q - sp1 - 1));
	path[q - sp1 - 1] = '\0';
	return 0;
}

int tp_http_route(const char *method, const char *path)
{
	if (strcmp(path, "/metrics"))
		return 404;
	return strcmp(method, "GET") ? 405 : 200;
}
