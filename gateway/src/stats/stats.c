/* SPDX-License-Identifier: MIT */
/* tunplug — the counters' summary (see stats.h). */
#include <errno.h>
#include <stdio.h>

#include "stats/stats.h"
#include "tunplug/offload.h"

enum tp_refuse tp_refuse_reason(int err)
{
	switch (err) {
	case -ECONNREFUSED:
		return TP_REFUSE_CONNREFUSED;
	case -ETIMEDOUT:
		return TP_REFUSE_TIMEDOUT;
	case -EHOSTUNREACH:
	case -EHOSTDOWN:
		return TP_REFUSE_HOSTUNREACH;
	case -ENETUNREACH:
	case -ENETDOWN:
		return TP_REFUSE_NETUNREACH;
	case -ECONNRESET:
		return TP_REFUSE_CONNRESET;
	case -ECONNABORTED:
		return TP_REFUSE_SHUTDOWN;
	case -ENOMEM:
		return TP_REFUSE_NOMEM;
	case -EACCES:
	case -EPERM:
		return TP_REFUSE_PROHIBITED;
	default:
		return TP_REFUSE_OTHER;
	}
}

static const char *const refuse_names[TP_REFUSE__COUNT] = {
        [TP_REFUSE_CONNREFUSED] = "connrefused", [TP_REFUSE_TIMEDOUT] = "timedout",
        [TP_REFUSE_HOSTUNREACH] = "hostunreach", [TP_REFUSE_NETUNREACH] = "netunreach",
        [TP_REFUSE_CONNRESET] = "connreset",     [TP_REFUSE_DECLINED] = "declined",
        [TP_REFUSE_SHUTDOWN] = "shutdown",       [TP_REFUSE_NOMEM] = "nomem",
        [TP_REFUSE_PROHIBITED] = "prohibited",   [TP_REFUSE_OTHER] = "other",
        [TP_REFUSE_UNMAPPED] = "fake-unmapped",
};

static const char *const syn_answer_names[TP_SYN_ANSWER__COUNT] = {
        [TP_SYN_RST] = "rst",
        [TP_SYN_NET_UNREACH] = "net-unreach",
        [TP_SYN_HOST_UNREACH] = "host-unreach",
        [TP_SYN_PROHIBITED] = "prohibited",
        [TP_SYN_SILENT] = "silent",
};

const char *tp_refuse_name(enum tp_refuse r)
{
	return (unsigned)r < TP_REFUSE__COUNT ? refuse_names[r] : "?";
}

const char *tp_syn_answer_name(int answer)
{
	return answer >= 0 && answer < TP_SYN_ANSWER__COUNT ? syn_answer_names[answer] : "?";
}

/* a / b with two decimals, "-" when b is 0 */
static const char *ratio(char *buf, size_t len, uint64_t a, uint64_t b)
{
	if (!b)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f", (double)a / (double)b);
	return buf;
}

void tp_stats_print_summary(const struct tp_stats *all, const struct tp_stack_stats *ss,
                            const struct tp_summary *sum)
{
	char r_in[32], r_out[32];
	const struct tp_tun_counters *tc = &all->tun;
	const struct tp_flow_counters *st = &all->flows;
	unsigned long long refused = 0;
	uint64_t split;
	char line[1024];
	size_t off;
	const char *lb = sum->label ? sum->label : ""; /* "worker K: " */

	for (int i = 0; i < TP_REFUSE__COUNT; i++)
		refused += st->flows_refused[i];
	fprintf(stderr, "tunplug: %ssummary: uptime %.1f s, tun %s, handler %s\n", lb,
	        sum->uptime_s, sum->tun_name ? sum->tun_name : "-",
	        sum->handler ? sum->handler : "-");
	if (ss) {
		fprintf(stderr,
		        "tunplug: %s  packets in %llu (%llu bytes), out %llu (%llu bytes), output "
		        "errors %llu, tun full drops %llu\n",
		        lb, (unsigned long long)ss->pkts_in, (unsigned long long)ss->bytes_in,
		        (unsigned long long)ss->pkts_out, (unsigned long long)ss->bytes_out,
		        (unsigned long long)ss->output_errors,
		        (unsigned long long)tc->out_drops_full);
		off = (size_t)snprintf(line, sizeof(line), "tunplug: %s  drops:", lb);
		for (int i = 1; i < TP_DROP__COUNT && off < sizeof(line); i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s %llu",
			                        tp_drop_name((enum tp_drop)i),
			                        (unsigned long long)(ss->drops[i] + tc->drops[i]));
		fprintf(stderr, "%s\n", line);
		fprintf(stderr,
		        "tunplug: %s  syn: held %llu, absorbed %llu, reset by the client while "
		        "held %llu; refused: by the handler %llu, max-flows %llu, loopback %llu; "
		        "half-open now %llu from %llu sources, dropped (source full %llu, pending "
		        "full %llu), evicted %llu\n",
		        lb, (unsigned long long)ss->syn_held, (unsigned long long)ss->syn_absorbed,
		        (unsigned long long)ss->syn_client_reset,
		        (unsigned long long)ss->syn_refused, (unsigned long long)ss->syn_limit,
		        (unsigned long long)ss->syn_loopback,
		        (unsigned long long)ss->tcp_pending_now,
		        (unsigned long long)ss->tcp_pending_sources_now,
		        (unsigned long long)ss->syn_drop_source,
		        (unsigned long long)ss->syn_drop_pending,
		        (unsigned long long)ss->syn_evicted);
		off = (size_t)snprintf(line, sizeof(line),
		                       "tunplug: %s  refused syn answered:", lb);
		for (int i = 0; i < TP_SYN_ANSWER__COUNT && off < sizeof(line); i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s %llu",
			                        syn_answer_names[i],
			                        (unsigned long long)ss->syn_answered[i]);
		fprintf(stderr, "%s\n", line);
		fprintf(stderr,
		        "tunplug: %s  stack tcp flows: opened %llu, closed %llu, now %llu; lwip "
		        "mem errors %llu\n",
		        lb, (unsigned long long)ss->tcp_flows_opened,
		        (unsigned long long)ss->tcp_flows_closed,
		        (unsigned long long)ss->tcp_flows_now,
		        (unsigned long long)ss->lwip_mem_err);
		fprintf(stderr,
		        "tunplug: %s  stack tcp out-of-order data: held %llu segments (%llu "
		        "bytes), peak %llu (%llu bytes), dropped past the bounds %llu (%llu "
		        "bytes)\n",
		        lb, (unsigned long long)ss->ooseq_pbufs_now,
		        (unsigned long long)ss->ooseq_bytes_now,
		        (unsigned long long)ss->ooseq_pbufs_peak,
		        (unsigned long long)ss->ooseq_bytes_peak,
		        (unsigned long long)ss->ooseq_drop_segs,
		        (unsigned long long)ss->ooseq_drop_bytes);
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
	if (sum->has_link) {
		snprintf(r_in, sizeof(r_in), "%u", sum->txqueuelen);
		snprintf(r_out, sizeof(r_out), "%llu", (unsigned long long)sum->tx_dropped);
	} else {
		snprintf(r_in, sizeof(r_in), "-");
		snprintf(r_out, sizeof(r_out), "-");
	}
	fprintf(stderr,
	        "tunplug: %s  tun: reads %llu, writes %llu, read errors %llu, write errors %llu; "
	        "txqueuelen %s, tx_dropped %s; offload %s\n",
	        lb, (unsigned long long)tc->tun_reads, (unsigned long long)tc->tun_writes,
	        (unsigned long long)tc->tun_read_errors, (unsigned long long)tc->out_errors, r_in,
	        r_out, sum->offload_desc ? sum->offload_desc : "-");
	fprintf(stderr,
	        "tunplug: %s  tun read loop: %llu readable events, %s reads per event, %llu ended "
	        "at the bound of %u reads\n",
	        lb, (unsigned long long)tc->read_events,
	        ratio(r_in, sizeof(r_in), tc->tun_reads, tc->read_events),
	        (unsigned long long)tc->read_bound_hits, TP_TUN_READ_BOUND);
	fprintf(stderr,
	        "tunplug: %s  super-packets in %llu (%llu segments, %s per super-packet), out %llu "
	        "(%llu segments, %s per super-packet); gro EINVAL fallbacks %llu, gro on:%s%s; "
	        "acks thinned %llu\n",
	        lb, (unsigned long long)tc->gso_in, (unsigned long long)tc->gso_in_segs,
	        ratio(r_in, sizeof(r_in), tc->gso_in_segs, tc->gso_in),
	        (unsigned long long)tc->gro_out, (unsigned long long)tc->gro_out_segs,
	        ratio(r_out, sizeof(r_out), tc->gro_out_segs, tc->gro_out),
	        (unsigned long long)tc->gro_einval, sum->gro_kinds & TP_GRO_TCP ? " tcp" : "",
	        sum->gro_kinds & TP_GRO_UDP ? " udp" : (sum->gro_kinds ? "" : " none"),
	        (unsigned long long)tc->acks_thinned);
	fprintf(stderr,
	        "tunplug: %s  tcp super-segments out: %llu from the stack, %llu TSO writes (%llu "
	        "segments, %s per write), TSO EINVAL %llu, tso %s\n",
	        lb, ss ? (unsigned long long)ss->tcp_gso_out : 0ULL,
	        (unsigned long long)tc->tso_out, (unsigned long long)tc->tso_out_segs,
	        ratio(r_out, sizeof(r_out), tc->tso_out_segs, tc->tso_out),
	        (unsigned long long)tc->tso_einval, sum->gro_kinds & TP_GRO_TSO ? "on" : "off");
	split = 0;
	off = (size_t)snprintf(line, sizeof(line), "tunplug: %s  tcp super-packets in: whole %llu",
	                       lb, (unsigned long long)tc->gso_whole);
	for (int i = TP_WHOLE_NOT_TCP + 1; i < TP_WHOLE__COUNT; i++)
		split += tc->gso_split[i];
	if (off < sizeof(line))
		off += (size_t)snprintf(line + off, sizeof(line) - off, ", split %llu (",
		                        (unsigned long long)split);
	for (int i = TP_WHOLE_NOT_TCP + 1; i < TP_WHOLE__COUNT && off < sizeof(line); i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s %llu",
		                        i == TP_WHOLE_NOT_TCP + 1 ? "" : ", ",
		                        tp_whole_name((enum tp_whole)i),
		                        (unsigned long long)tc->gso_split[i]);
	fprintf(stderr, "%s); read in place (no copy) %llu\n", line,
	        ss ? (unsigned long long)ss->rx_zero_copy : 0ULL);
	fprintf(stderr,
	        "tunplug: %s  flows: seen %llu, accepted %llu, refused %llu, closed %llu (with "
	        "error %llu, idle %llu), upstream errors %llu, reset by ctl %llu\n",
	        lb, (unsigned long long)st->flows_seen, (unsigned long long)st->flows_accepted,
	        refused, (unsigned long long)st->flows_closed,
	        (unsigned long long)st->flows_closed_err, (unsigned long long)st->flows_idle,
	        (unsigned long long)st->upstream_errors, (unsigned long long)st->flows_ctl_closed);
	off = (size_t)snprintf(line, sizeof(line), "tunplug: %s  refused by reason:", lb);
	for (int i = 0; i < TP_REFUSE__COUNT && off < sizeof(line); i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, " %s %llu", refuse_names[i],
		                        (unsigned long long)st->flows_refused[i]);
	fprintf(stderr, "%s\n", line);
	fprintf(stderr,
	        "tunplug: %s  bytes up %llu, down %llu; protect calls %llu, errors %llu; memory "
	        "trims %llu\n",
	        lb, (unsigned long long)st->bytes_up, (unsigned long long)st->bytes_down,
	        (unsigned long long)st->protect_calls, (unsigned long long)st->protect_errors,
	        (unsigned long long)st->mem_trims);
	if (st->sniff_tls + st->sniff_http + st->sniff_quic + st->sniff_none + st->sniff_timeout +
	    st->sniff_malformed + st->sniff_skipped)
		fprintf(stderr,
		        "tunplug: %s  sniffed names: tls %llu, http %llu, quic %llu; no name %llu, "
		        "timeout %llu, malformed %llu, skipped %llu; reset after the handshake "
		        "%llu\n",
		        lb, (unsigned long long)st->sniff_tls, (unsigned long long)st->sniff_http,
		        (unsigned long long)st->sniff_quic, (unsigned long long)st->sniff_none,
		        (unsigned long long)st->sniff_timeout,
		        (unsigned long long)st->sniff_malformed,
		        (unsigned long long)st->sniff_skipped, (unsigned long long)st->sniff_reset);
	if (sum->fake_ip)
		fprintf(stderr,
		        "tunplug: %s  fake-ip: answers %llu, evictions %llu, flows named %llu, "
		        "unmapped refused %llu\n",
		        lb, (unsigned long long)all->names.answers,
		        (unsigned long long)all->names.evictions,
		        (unsigned long long)all->names.named,
		        (unsigned long long)all->names.unmapped);
	if (sum->n_counters) {
		off = (size_t)snprintf(line, sizeof(line), "tunplug: %s  handler counters:", lb);
		for (size_t i = 0; i < sum->n_counters && off < sizeof(line); i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s %llu",
			                        sum->counters[i].name,
			                        (unsigned long long)sum->counters[i].value);
		fprintf(stderr, "%s\n", line);
	}
}
