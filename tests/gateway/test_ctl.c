/* SPDX-License-Identifier: MIT */
/* tunplug — the pure parts of the control socket and the metrics page
 * (gateway/src/ctl/proto.c, metrics.c): request parsing, ids, escaping,
 * flow rows, filters, the text and JSON output of `tunplug ctl`, samples,
 * the Prometheus renderer's escaping, the HTTP request head. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl/metrics.h"
#include "ctl/proto.h"
#include "harness.h"

/* a rendered page, "" when nothing was */
#define PAGE(b) ((b).p ? (b).p : "")

static int parse(const char *line, struct tp_ctl_req *r, char *err)
{
	return tp_ctl_parse_request(line, strlen(line), r, err, 160);
}

TP_TEST(requests)
{
	struct tp_ctl_req r;
	char err[160], big[TP_CTL_LINE_MAX + 10];
	static const char *const bad[] = {
	        "",
	        "   ",
	        "flow",
	        "FLOWS",
	        "flows dst=",
	        "flows dst=300.1.1.1/8",
	        "flows x=1",
	        "flows handler=",
	        "stats now",
	        "close",
	        "close 0",
	        "close x",
	        "close 1-",
	        "close -5",
	        "close 1 2",
	        "close 0-3",
	        "flows dst=10.0.0.0/8 dst=10.0.0.0/8",
	        "flows\x01",
	        "stats\xff",
	        "close 99999999999999999999999",
	};

	CHECK_EQ(parse("flows", &r, err), 0, "flows");
	CHECK(r.verb == TP_CTL_FLOWS && !r.has_dst && !r.handler[0], "flows: no filter");
	CHECK_EQ(parse("flows dst=198.19.0.0/16 handler=socks5#2\r", &r, err), 0, "filters");
	CHECK(r.has_dst && r.dst.family == AF_INET && r.dst.prefix == 16, "dst");
	CHECK(!strcmp(r.handler, "socks5#2"), "handler %s", r.handler);
	CHECK_EQ(parse("flows  handler=direct   dst=fd00::/8", &r, err), 0, "spaces, v6");
	CHECK(r.dst.family == AF_INET6, "v6 dst");
	CHECK_EQ(parse("stats", &r, err), 0, "stats");
	CHECK(r.verb == TP_CTL_STATS, "stats verb");
	CHECK_EQ(parse("close 17", &r, err), 0, "close 17");
	CHECK(r.verb == TP_CTL_CLOSE && r.worker == 0 && r.seq == 17, "close 17: %u %llu", r.worker,
	      (unsigned long long)r.seq);
	CHECK_EQ(parse("close 2-5", &r, err), 0, "close 2-5");
	CHECK(r.worker == 2 && r.seq == 5, "close 2-5");
	OK("good requests");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(parse(bad[i], &r, err) == -EINVAL && err[0], "\"%s\" accepted", bad[i]);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(tp_ctl_parse_request(big, strlen(big), &r, err, sizeof(err)) == -EINVAL &&
	              strstr(err, "longer"),
	      "long line: %s", err);
	OK("bad requests refused with a reason");
}

TP_TEST(escape)
{
	static const char *const cases[] = {
	        "", "-", "a b", "x\\y", "k=v,w", "\n\t\x7f\xff", "example.com", "--", "\\x41"};
	char esc[TP_CTL_ESC_MAX(64)], back[64];

	CHECK(!strcmp(tp_ctl_escape("", esc, sizeof(esc)), "-"), "\"\" -> %s", esc);
	CHECK(!strcmp(tp_ctl_escape("-", esc, sizeof(esc)), "\\x2d"), "- -> %s", esc);
	CHECK(!strcmp(tp_ctl_escape("a b=c", esc, sizeof(esc)), "a\\x20b\\x3dc"), "%s", esc);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tp_ctl_escape(cases[i], esc, sizeof(esc));
		CHECK(!strpbrk(esc, " ,=\n"), "escaped %s has a separator", esc);
		CHECK(tp_ctl_unescape(esc, back, sizeof(back)) >= 0 && !strcmp(back, cases[i]),
		      "round trip of case %zu: %s", i, back);
	}
	/* truncation keeps whole escapes */
	tp_ctl_escape("\x01\x02\x03", esc, 10);
	CHECK(!strcmp(esc, "\\x01\\x02"), "truncated: %s", esc);
	CHECK(tp_ctl_unescape("\\x4", back, sizeof(back)) == -EINVAL, "broken escape");
	CHECK(tp_ctl_unescape("\\q00", back, sizeof(back)) == -EINVAL, "unknown escape");
	OK("escape and unescape");
}

static struct tp_ctl_row sample_row(void)
{
	struct tp_ctl_row r;

	memset(&r, 0, sizeof(r));
	strcpy(r.id, "2-17");
	strcpy(r.proto, "tcp");
	strcpy(r.src, "198.18.0.1:40000");
	strcpy(r.dst, "[fd00:19::1]:443");
	strcpy(r.name, "we\"ird name\n");
	strcpy(r.handler, "socks5#1");
	strcpy(r.state, "half-closed");
	r.up = 123;
	r.down = 18446744073709551615ull;
	r.age_ms = 61234;
	r.idle_ms = 5;
	return r;
}

TP_TEST(rows)
{
	struct tp_ctl_row r = sample_row(), p;
	char line[2048];
	size_t n = tp_ctl_row_format(&r, line, sizeof(line));

	CHECK(n > 0 && line[n - 1] == '\n', "formatted");
	line[n - 1] = '\0';
	CHECK(!strcmp(line, "flow 2-17 tcp 198.18.0.1:40000 [fd00:19::1]:443 we\"ird\\x20name\\x0a "
	                    "socks5#1 half-closed 123 18446744073709551615 61234 5"),
	      "line: %s", line);
	CHECK_EQ(tp_ctl_row_parse(line, &p), 0, "parsed");
	CHECK(!memcmp(&p, &r, sizeof(p)), "round trip");
	strcpy(r.name, "");
	tp_ctl_row_format(&r, line, sizeof(line));
	line[strlen(line) - 1] = '\0';
	CHECK(strstr(line, " - socks5#1 ") != NULL, "empty name is -: %s", line);
	CHECK(tp_ctl_row_parse(line, &p) == 0 && !p.name[0], "empty name back");
	CHECK(tp_ctl_row_format(&r, line, 20) == 0, "too small a buffer");
	CHECK(tp_ctl_row_parse("flow 1 tcp a b - direct open 1 2 3", &p) == -EINVAL, "short");
	CHECK(tp_ctl_row_parse("flow 1 tcp a b - direct open 1 2 3 x", &p) == -EINVAL, "nan");
	CHECK(tp_ctl_row_parse("flow 1 tcp a b - direct open 1 2 3 4 5", &p) == -EINVAL, "long");
	CHECK(tp_ctl_row_parse("stat x - 1", &p) == -EINVAL, "not a flow");
	OK("flow rows: format, parse, refuse");
}

TP_TEST(filters)
{
	struct tp_ctl_req q;
	char err[160];
	uint8_t a4[4], b4[4], a6[16];

	inet_pton(AF_INET, "198.19.1.1", a4);
	inet_pton(AF_INET, "10.1.1.1", b4);
	inet_pton(AF_INET6, "fd00:19::1", a6);
	parse("flows", &q, err);
	CHECK(tp_ctl_match(&q, AF_INET, a4, "direct", "direct"), "no filter matches");
	parse("flows dst=198.19.0.0/16", &q, err);
	CHECK(tp_ctl_match(&q, AF_INET, a4, "direct", "direct"), "in the prefix");
	CHECK(!tp_ctl_match(&q, AF_INET, b4, "direct", "direct"), "outside");
	CHECK(!tp_ctl_match(&q, AF_INET6, a6, "direct", "direct"), "other family");
	parse("flows handler=socks5", &q, err);
	CHECK(tp_ctl_match(&q, AF_INET, a4, "socks5#2", "socks5"), "by handler name");
	CHECK(!tp_ctl_match(&q, AF_INET, a4, "direct", "direct"), "other handler");
	parse("flows handler=socks5#2 dst=fd00::/8", &q, err);
	CHECK(tp_ctl_match(&q, AF_INET6, a6, "socks5#2", "socks5"), "instance and dst");
	CHECK(!tp_ctl_match(&q, AF_INET6, a6, "socks5#1", "socks5"), "other instance");
	CHECK(!tp_ctl_match(&q, AF_INET, a4, "socks5#2", "socks5"), "dst fails");
	OK("dst and handler filters");
}

/* what f printed */
static char *printed(void (*fn)(FILE *, const struct tp_ctl_row *, size_t),
                     const struct tp_ctl_row *rows, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fn(f, rows, n);
	fclose(f);
	return buf;
}

TP_TEST(output)
{
	struct tp_ctl_row rows[2] = {sample_row(), sample_row()};
	char *t;

	strcpy(rows[1].name, "");
	strcpy(rows[1].id, "2-18");
	t = printed(tp_ctl_print_rows_text, rows, 2);
	CHECK(!strncmp(t, "ID ", 3) && strstr(t, "DESTINATION") && strstr(t, "IDLE\n"),
	      "header: %s", t);
	CHECK(strstr(t, "\n2-17 ") && strstr(t, " [fd00:19::1]:443 ") &&
	              strstr(t, " we\"ird\\x20name\\x0a ") && strstr(t, " 61.2s "),
	      "row: %s", t);
	CHECK(strstr(t, "\n2-18 ") != NULL, "second row");
	free(t);
	t = printed(tp_ctl_print_rows_json, rows, 2);
	CHECK(!strncmp(t, "{\"flows\": [", 11), "json head: %s", t);
	CHECK(strstr(t, "\"name\": \"we\\\"ird name\\u000a\"") != NULL, "json escape: %s", t);
	CHECK(strstr(t, "\"name\": null") != NULL, "json null name");
	CHECK(strstr(t, "\"bytes_down\": 18446744073709551615") != NULL, "json number");
	CHECK(strstr(t, "},\n  {") != NULL && !strcmp(t + strlen(t) - 4, "\n]}\n"), "json list");
	free(t);
	t = printed(tp_ctl_print_rows_json, rows, 0);
	CHECK(!strcmp(t, "{\"flows\": []}\n"), "empty json: %s", t);
	free(t);
	OK("text and JSON output");
}

TP_TEST(samples)
{
	struct tp_samples s = {0};
	struct tp_buf b = {0};
	struct tp_stats st;

	CHECK_EQ(tp_samples_add(&s, "no_such", "", 1), -ENOENT, "unknown name");
	CHECK_EQ(tp_samples_add(&s, "flows_seen", "", 3), 0, "add");
	CHECK_EQ(tp_samples_add(&s, "flows_seen", "", 4), 0, "add again");
	CHECK(s.n == 1 && s.v[0].value == 7, "summed: %zu %llu", s.n,
	      (unsigned long long)s.v[0].value);
	CHECK_EQ(tp_samples_addl(&s, "flows_open", 2, "handler", "a b", "state", "open", NULL), 0,
	         "labels");
	CHECK(!strcmp(s.v[1].labels, "handler=a\\x20b,state=open"), "labels %s", s.v[1].labels);
	tp_samples_wire(&s, &b);
	CHECK(b.p && !strcmp(b.p,
	                     "stat flows_seen - 7\nstat flows_open handler=a\\x20b,state=open 2\n"),
	      "wire: %s", b.p);
	tp_samples_free(&s);
	/* the master sums its workers' lines */
	CHECK_EQ(tp_samples_parse_line(&s, "stat flows_seen - 7"), 0, "parse");
	CHECK_EQ(tp_samples_parse_line(&s, "stat flows_seen - 5"), 0, "parse 2");
	CHECK_EQ(tp_samples_parse_line(&s, "stat flows_open handler=a\\x20b,state=open 2"), 0,
	         "parse labels");
	CHECK(s.n == 2 && s.v[0].value == 12, "summed %llu", (unsigned long long)s.v[0].value);
	CHECK(tp_samples_parse_line(&s, "stat flows_seen - x") < 0, "bad value");
	CHECK(tp_samples_parse_line(&s, "stat flows_seen -") < 0, "no value");
	CHECK(tp_samples_parse_line(&s, "stat bogus - 1") == -ENOENT, "bad name");
	CHECK(tp_samples_parse_line(&s, "flow 1") < 0, "not a stat");
	tp_samples_free(&s);
	tp_buf_free(&b);
	memset(&st, 0, sizeof(st));
	st.flows.bytes_up = 42;
	st.flows.flows_refused[TP_REFUSE_CONNREFUSED] = 3;
	tp_samples_collect(&s, &st, NULL);
	CHECK(s.n > 60, "collected %zu", s.n);
	tp_samples_prometheus(&s, &b);
	CHECK(b.p && strstr(PAGE(b), "# HELP tunplug_bytes_up_total ") &&
	              strstr(b.p,
	                     "# TYPE tunplug_bytes_up_total counter\ntunplug_bytes_up_total 42\n"),
	      "counter with HELP/TYPE");
	CHECK(strstr(PAGE(b), "tunplug_flows_refused_total{reason=\"connrefused\"} 3\n") != NULL,
	      "labelled counter");
	CHECK(strstr(PAGE(b), "# TYPE tunplug_tcp_flows gauge\ntunplug_tcp_flows 0\n") != NULL,
	      "gauge without _total");
	CHECK(strstr(PAGE(b), "# TYPE tunplug_drops_total counter") ==
	              strstr(PAGE(b), "# TYPE tunplug_drops"),
	      "one TYPE line per family");
	tp_samples_free(&s);
	tp_buf_free(&b);
	OK("samples: sums, wire lines, collection, families");
}

TP_TEST(prometheus_escaping)
{
	struct tp_samples s = {0};
	struct tp_buf b = {0};

	tp_samples_addl(&s, "handler_events", 5, "handler", "my\"plug\\in\n", "counter",
	                "caf\xc3\xa9\x01", NULL);
	tp_samples_prometheus(&s, &b);
	CHECK(b.p && strstr(PAGE(b), "tunplug_handler_events_total{handler=\"my\\\"plug\\\\in\\n\","
	                             "counter=\"caf???\"} 5\n"),
	      "escaped: %s", b.p ? b.p : "");
	CHECK(strstr(PAGE(b), "# HELP tunplug_handler_events_total ") == PAGE(b), "HELP first");
	tp_samples_free(&s);
	tp_buf_free(&b);
	tp_samples_prometheus(&s, &b);
	CHECK(b.len == 0, "no samples, no page");
	tp_buf_free(&b);
	OK("label values escaped for the exposition format");
}

static int head(const char *req, char *m, char *p)
{
	return tp_http_head(req, strlen(req), m, 16, p, 64);
}

TP_TEST(http)
{
	char m[16], p[64];

	CHECK_EQ(head("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", m, p), 0, "complete");
	CHECK(!strcmp(m, "GET") && !strcmp(p, "/metrics"), "%s %s", m, p);
	CHECK_EQ(head("GET /metrics?name[]=x HTTP/1.0\n\n", m, p), 0, "query, bare LF");
	CHECK(!strcmp(p, "/metrics"), "query removed: %s", p);
	CHECK_EQ(head("GET /metrics HTTP/1.1\r\nHost: x\r\n", m, p), -EAGAIN, "incomplete");
	CHECK_EQ(head("GET /metr", m, p), -EAGAIN, "no line yet");
	CHECK_EQ(head("\x16\x03\x01\x02\x05\n", m, p), -EINVAL, "TLS hello");
	CHECK_EQ(head("\x16\x03", m, p), -EINVAL, "garbage refused before a newline");
	CHECK_EQ(head("get /metrics HTTP/1.1\r\n\r\n", m, p), -EINVAL, "lower-case method");
	CHECK_EQ(head("GET metrics HTTP/1.1\r\n\r\n", m, p), -EINVAL, "no slash");
	CHECK_EQ(head("GET /metrics SPDY/3\r\n\r\n", m, p), -EINVAL, "not HTTP/1");
	CHECK_EQ(head("VERYLONGMETHODNAMEX / HTTP/1.1\r\n\r\n", m, p), -EINVAL, "long method");
	CHECK_EQ(tp_http_route("GET", "/metrics"), 200, "GET /metrics");
	CHECK_EQ(tp_http_route("POST", "/metrics"), 405, "POST");
	CHECK_EQ(tp_http_route("HEAD", "/metrics"), 405, "HEAD");
	CHECK_EQ(tp_http_route("GET", "/"), 404, "other path");
	CHECK_EQ(tp_http_route("GET", "/metrics/"), 404, "trailing slash");
	OK("HTTP request heads and routes");
}
