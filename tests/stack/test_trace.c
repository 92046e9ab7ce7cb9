/* SPDX-License-Identifier: MIT */
/* Stack tests: lwIP with tunplug's hash demultiplexing (patch 0008) and
 * timer lists (patch 0009) behaves as stock lwIP. Each case runs one
 * scripted packet and clock trace (trace.c) through three builds of lwIP
 * and requires the same trace from all of them, line for line: stock
 * (neither patch), 0008 alone, and tunplug's own (both). The case also
 * checks that the trace contains what the scenario is about, so a
 * scenario that stopped exercising its timer would fail too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

struct trace {
	char *text;
	size_t len;
	int status;
};

static struct trace run(const char *bin, const char *scenario)
{
	struct trace t = {NULL, 0, -1};
	char cmd[4096];
	size_t cap = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "'%s' --dump %s", bin, scenario);
	f = popen(cmd, "r");
	if (!f)
		return t;
	for (;;) {
		if (t.len + 65536 > cap) {
			cap = cap ? 2 * cap : 1 << 20;
			char *n = realloc(t.text, cap);
			if (!n)
				break;
			t.text = n;
		}
		size_t r = fread(t.text + t.len, 1, cap - t.len - 1, f);
		if (r == 0)
			break;
		t.len += r;
	}
	if (t.text)
		t.text[t.len] = 0;
	t.status = pclose(f);
	return t;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

/* Line number (from 1) of the first difference, 0 if equal; prints both. */
static size_t first_diff(const char *a, const char *b, const char *name_b)
{
	size_t line = 1;
	const char *la = a, *lb = b;

	while (*la || *lb) {
		const char *ea = strchr(la, '\n'), *eb = strchr(lb, '\n');
		size_t na = ea ? (size_t)(ea - la) : strlen(la);
		size_t nb = eb ? (size_t)(eb - lb) : strlen(lb);
		if (na != nb || memcmp(la, lb, na) != 0) {
			fprintf(stderr, "line %zu:\n  stock:  %.*s\n  %-7s %.*s\n", line, (int)na,
			        la, name_b, (int)nb, lb);
			return line;
		}
		if (!ea || !eb)
			return (ea || eb) ? line + 1 : 0;
		la = ea + 1;
		lb = eb + 1;
		line++;
	}
	return 0;
}

static void compare(const char *scenario, const char *const *markers)
{
	struct trace st = run(TRACE_STOCK, scenario);
	struct trace nl = run(TRACE_NOLISTS, scenario);
	struct trace nw = run(TRACE_NEW, scenario);

	CHECK(st.text && st.status == 0, "%s: stock lwIP trace (status %d)", scenario, st.status);
	CHECK(nl.text && nl.status == 0,
	      "%s: lwIP with 0008: trace (status %d; 3: lists "
	      "inconsistent)",
	      scenario, nl.status);
	CHECK(nw.text && nw.status == 0,
	      "%s: lwIP with 0008+0009: trace (status %d; 3: lists "
	      "inconsistent)",
	      scenario, nw.status);
	if (st.text && nl.text && nw.text) {
		size_t n = count_lines(st.text);
		CHECK(n > 50, "%s: the trace has %zu lines", scenario, n);
		for (const char *const *m = markers; *m; m++)
			CHECK(strstr(st.text, *m) != NULL, "%s: the trace shows \"%s\"", scenario,
			      *m);
		CHECK(first_diff(st.text, nl.text, "0008:") == 0,
		      "%s: lwIP with patch 0008 differs from stock lwIP", scenario);
		CHECK(first_diff(st.text, nw.text, "0009:") == 0,
		      "%s: lwIP with patches 0008+0009 differs from stock lwIP", scenario);
		OK("%s: %zu events, identical in stock lwIP, with 0008, with 0008+0009", scenario,
		   n);
	}
	free(st.text);
	free(nl.text);
	free(nw.text);
}

/* Delayed ACK by the fast timer, at once for every second segment,
 * piggybacked on a reply. */
TP_TEST(delayed_ack)
{
	static const char *const m[] = {"app recv 100", "app recv 10", NULL};
	compare("delayed_ack", m);
}

/* RTO back-off to TCP_MAXRTX (connection dropped), late ACKs, unanswered
 * SYN-ACK, lossy clients. */
TP_TEST(rto)
{
	static const char *const m[] = {"app err -13", "app sent", NULL};
	compare("rto", m);
}

/* Zero window: persist probes with back-off, window opening, split to a
 * small window, silent client dropped. */
TP_TEST(persist)
{
	static const char *const m[] = {"len=1 ", "wnd=0 ", "app err -13", NULL};
	compare("persist", m);
}

/* FIN-WAIT-2 timeout, half-close, LAST-ACK, CLOSING, FIN-WAIT-1 with data,
 * SYN-RCVD timeout. */
TP_TEST(close_states)
{
	static const char *const m[] = {"app eof", "app close", "app err -13", NULL};
	compare("close_states", m);
}

/* TIME-WAIT: expiry (out of start order), restart by a FIN, SYN in it. */
TP_TEST(time_wait)
{
	static const char *const m[] = {"out RA", "in FA", "in S ", NULL};
	compare("time_wait", m);
}

/* Out-of-sequence data kept, then dropped after TCP_OOSEQ_TIMEOUT RTOs. */
TP_TEST(ooseq)
{
	static const char *const m[] = {"app recv 800", "app recv 500", NULL};
	compare("ooseq", m);
}

/* Refused data retried by the fast timer, poll, keepalive (answered and
 * not), a held window, Nagle. */
TP_TEST(app)
{
	static const char *const m[] = {"app refuse", "app poll", "app recved", NULL};
	compare("app", m);
}

/* Random churn of 40 connections. */
TP_TEST(churn)
{
	static const char *const m[] = {"app accept", "app err", "app eof", NULL};
	compare("churn", m);
}
