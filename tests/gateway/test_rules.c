/* SPDX-License-Identifier: MIT */
/* tunplug — unit test of the flow rules (gateway/src/rules.c): parse errors
 * name the offending key; matching by proto, dst, src, port range, IPv4 vs
 * IPv6; handler spec splitting. One TP_TEST case per group (tests/harness.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "dispatch/dispatch.h"
#include "dispatch/rules.h"
#include "options/config.h"
#include "options/options.h"
#include "registry/registry.h"

static struct sockaddr_storage sa(const char *addr, unsigned port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			fprintf(stderr, "bad test address %s\n", addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			fprintf(stderr, "bad test address %s\n", addr);
	}
	return ss;
}

/* Does rule text match (proto, src:sport -> dst:dport)? -1 if it does not parse. */
static int m(const char *text, int proto, const char *src, unsigned sport, const char *dst,
             unsigned dport)
{
	struct tp_rule r;
	char err[512];
	struct sockaddr_storage s = sa(src, sport), d = sa(dst, dport);

	if (tp_rule_parse(text, &r, err, sizeof(err))) {
		fprintf(stderr, "rule \"%s\" does not parse: %s\n", text, err);
		return -1;
	}
	return tp_rule_match(&r, proto, (struct sockaddr *)&s, (struct sockaddr *)&d);
}

TP_TEST(parse_ok)
{
	struct tp_rule r;
	char err[512] = "";

	CHECK(tp_rule_parse("proto=tcp,dst=198.19.0.0/16,port=80-443,src=10.0.0.0/8,handler="
	                    "socks5://u:p@h:1080",
	                    &r, err, sizeof(err)) == 0,
	      "%s", err);
	CHECK(r.proto == IPPROTO_TCP && r.has_dst && r.has_src && r.port_lo == 80 &&
	              r.port_hi == 443 && !strcmp(r.handler, "socks5://u:p@h:1080"),
	      "fields");
	CHECK(tp_rule_parse("handler=direct", &r, err, sizeof(err)) == 0, "%s", err);
	CHECK(r.proto == 0 && !r.has_dst && !r.has_src && r.port_lo == 1 && r.port_hi == 65535 &&
	              !strcmp(r.handler, "direct"),
	      "defaults: any proto, any address, ports 1-65535");
	CHECK(tp_rule_parse("port=53,handler=dns://1.1.1.1:53,8.8.8.8:53", &r, err, sizeof(err)) ==
	                      0 &&
	              r.port_lo == 53 && r.port_hi == 53 &&
	              !strcmp(r.handler, "dns://1.1.1.1:53,8.8.8.8:53"),
	      "single port; handler takes the rest of the text, commas included: %s", r.handler);
	CHECK(tp_rule_parse("proto=udp,handler=reject", &r, err, sizeof(err)) == 0 &&
	              r.proto == IPPROTO_UDP,
	      "udp");
	CHECK(tp_rule_parse("proto=any,dst=fd00::/8,handler=echo", &r, err, sizeof(err)) == 0 &&
	              r.proto == 0 && r.has_dst,
	      "any + v6");
	CHECK(!r.sniff, "sniff off by default");
	CHECK(tp_rule_parse("port=443,sniff=1,handler=direct", &r, err, sizeof(err)) == 0 &&
	              r.sniff,
	      "sniff=1: %s", err);
	CHECK(tp_rule_parse("sniff=false,handler=direct", &r, err, sizeof(err)) == 0 && !r.sniff,
	      "sniff=false: %s", err);
	OK("parse: every key, defaults, handler spec with commas");
}

TP_TEST(parse_errors)
{
	static const struct {
		const char *text;
		const char *want[2]; /* substrings of the message */
	} v[] = {
	        {"colour=red,handler=direct", {"unknown key", "colour"}},
	        {"dst=198.19.0.0/33,handler=direct", {"dst", "198.19.0.0/33"}},
	        {"dst=not-an-address,handler=direct", {"dst", "not-an-address"}},
	        {"src=10.0.0.0/8x,handler=direct", {"src", "10.0.0.0/8x"}},
	        {"src=fd00::/129,handler=direct", {"src", "fd00::/129"}},
	        {"port=0,handler=direct", {"port", "\"0\""}},
	        {"port=65536,handler=direct", {"port", "65536"}},
	        {"port=http,handler=direct", {"port", "http"}},
	        {"port=443-80,handler=direct", {"port", "443-80"}},
	        {"port=80-,handler=direct", {"port", "80-"}},
	        {"port=,handler=direct", {"port", NULL}},
	        {"proto=icmp,handler=direct", {"proto", "icmp"}},
	        {"proto=tcp,dst=198.19.0.0/16", {"handler", "missing"}},
	        {"proto=tcp", {"handler", "missing"}},
	        {"handler=", {"handler", NULL}},
	        {"tcp,handler=direct", {"unknown key", "tcp"}},
	        {"sniff=yes,handler=direct", {"sniff", "yes"}},
	        {"domain=,handler=direct", {"domain", "not a domain"}},
	        {"domain=a..b,handler=direct", {"domain", "a..b"}},
	        {"domain=.example.com,handler=direct", {"domain", ".example.com"}},
	        {"domain=*.example.com,handler=direct", {"domain", "*.example.com"}},
	        {"domain=ex ample.com,handler=direct", {"domain", "ex ample"}},
	};
	struct tp_rule r;
	char err[512];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int ret;

		err[0] = '\0';
		ret = tp_rule_parse(v[i].text, &r, err, sizeof(err));
		CHECK(ret == -EINVAL, "\"%s\": returned %d", v[i].text, ret);
		for (int k = 0; k < 2; k++)
			CHECK(!v[i].want[k] || strstr(err, v[i].want[k]),
			      "\"%s\": message \"%s\" lacks \"%s\"", v[i].text, err, v[i].want[k]);
		CHECK(!strchr(err, '\n'), "\"%s\": message has a newline", v[i].text);
	}
	OK("parse errors: unknown key, bad CIDR, bad port, reversed range, bad proto, "
	   "missing handler; each message names the key");
}

enum { T = IPPROTO_TCP, U = IPPROTO_UDP };

TP_TEST(match_proto)
{
	CHECK(m("proto=tcp,handler=x", T, "10.0.0.1", 1000, "198.19.1.1", 80) == 1, "tcp/tcp");
	CHECK(m("proto=tcp,handler=x", U, "10.0.0.1", 1000, "198.19.1.1", 80) == 0, "tcp/udp");
	CHECK(m("proto=udp,handler=x", U, "10.0.0.1", 1000, "198.19.1.1", 53) == 1, "udp/udp");
	CHECK(m("proto=udp,handler=x", T, "10.0.0.1", 1000, "198.19.1.1", 53) == 0, "udp/tcp");
	CHECK(m("proto=any,handler=x", U, "10.0.0.1", 1000, "198.19.1.1", 53) == 1, "any/udp");
	CHECK(m("handler=x", T, "10.0.0.1", 1000, "fd00::1", 1) == 1, "no keys: everything");
	OK("match: proto");
}

TP_TEST(match_dst)
{
	CHECK(m("dst=198.19.42.0/24,handler=x", T, "10.0.0.1", 1, "198.19.42.7", 80) == 1, "in");
	CHECK(m("dst=198.19.42.0/24,handler=x", T, "10.0.0.1", 1, "198.19.43.7", 80) == 0,
	      "next /24");
	CHECK(m("dst=198.19.42.0/24,handler=x", T, "10.0.0.1", 1, "198.19.42.255", 80) == 1,
	      "last address");
	CHECK(m("dst=198.19.42.7,handler=x", T, "10.0.0.1", 1, "198.19.42.7", 80) == 1,
	      "bare address = /32");
	CHECK(m("dst=198.19.42.7,handler=x", T, "10.0.0.1", 1, "198.19.42.8", 80) == 0,
	      "bare address, other");
	CHECK(m("dst=0.0.0.0/0,handler=x", T, "10.0.0.1", 1, "1.2.3.4", 80) == 1, "v4 /0");
	CHECK(m("dst=198.19.42.0/23,handler=x", T, "10.0.0.1", 1, "198.19.43.1", 80) == 1,
	      "/23 covers .43");
	CHECK(m("dst=198.19.42.0/24,handler=x", T, "198.19.42.1", 1, "10.0.0.1", 80) == 0,
	      "dst rule looks at the destination only");
	OK("match: dst prefix (in, out, edge, /32, /0, /23)");
}

TP_TEST(match_src)
{
	CHECK(m("src=10.0.0.0/8,handler=x", T, "10.200.0.1", 1, "198.19.1.1", 80) == 1, "src in");
	CHECK(m("src=10.0.0.0/8,handler=x", T, "11.0.0.1", 1, "198.19.1.1", 80) == 0, "src out");
	CHECK(m("src=10.0.0.0/8,dst=198.19.0.0/16,handler=x", T, "10.0.0.1", 1, "198.20.0.1", 80) ==
	              0,
	      "src ok, dst out: both must match");
	OK("match: src prefix, src and dst together");
}

/* ports: destination port only */
TP_TEST(match_ports)
{
	CHECK(m("port=7000-7999,handler=x", U, "10.0.0.1", 5000, "198.19.1.1", 7000) == 1, "lo");
	CHECK(m("port=7000-7999,handler=x", U, "10.0.0.1", 5000, "198.19.1.1", 7999) == 1, "hi");
	CHECK(m("port=7000-7999,handler=x", U, "10.0.0.1", 5000, "198.19.1.1", 6999) == 0, "below");
	CHECK(m("port=7000-7999,handler=x", U, "10.0.0.1", 5000, "198.19.1.1", 8000) == 0, "above");
	CHECK(m("port=7000-7999,handler=x", U, "10.0.0.1", 7500, "198.19.1.1", 53) == 0,
	      "the source port does not count");
	CHECK(m("port=53,handler=x", U, "10.0.0.1", 5000, "198.19.1.1", 53) == 1, "single");
	CHECK(m("port=53,handler=x", U, "10.0.0.1", 5000, "198.19.1.1", 54) == 0, "single, other");
	CHECK(m("port=1-65535,handler=x", T, "10.0.0.1", 5000, "198.19.1.1", 65535) == 1, "full");
	OK("match: destination port range (edges, outside, source port ignored)");
}

TP_TEST(match_families)
{
	CHECK(m("dst=fd00:19::/64,handler=x", T, "fd00:18::1", 1, "fd00:19::1", 80) == 1, "v6 in");
	CHECK(m("dst=fd00:19::/64,handler=x", T, "fd00:18::1", 1, "fd00:19:0:1::1", 80) == 0,
	      "v6 out");
	CHECK(m("dst=fd00:19::/64,handler=x", T, "10.0.0.1", 1, "198.19.1.1", 80) == 0,
	      "v6 rule, v4 flow");
	CHECK(m("dst=198.19.0.0/16,handler=x", T, "fd00:18::1", 1, "fd00:19::1", 80) == 0,
	      "v4 rule, v6 flow");
	CHECK(m("dst=0.0.0.0/0,handler=x", T, "fd00:18::1", 1, "fd00:19::1", 80) == 0,
	      "v4 /0 does not cover IPv6");
	CHECK(m("dst=::/0,handler=x", T, "10.0.0.1", 1, "198.19.1.1", 80) == 0,
	      "v6 /0 does not cover IPv4");
	CHECK(m("dst=::/0,handler=x", T, "fd00:18::1", 1, "2001:db8::1", 80) == 1, "v6 /0");
	CHECK(m("src=fd00:18::/64,handler=x", U, "fd00:18::5", 1, "fd00:19::1", 53) == 1, "v6 src");
	CHECK(m("src=198.18.0.0/24,handler=x", U, "fd00:18::5", 1, "fd00:19::1", 53) == 0,
	      "v4 src, v6 flow");
	CHECK(m("dst=fd00:19::/64,port=443,proto=udp,handler=x", U, "fd00:18::1", 1, "fd00:19::9",
	        443) == 1,
	      "v6 + port + proto");
	OK("match: IPv4 vs IPv6 (prefixes never cross families)");
}

/* a flow of an unknown family never matches */
TP_TEST(match_unknown_family)
{
	struct tp_rule r;
	struct sockaddr_storage s = sa("10.0.0.1", 1), d;
	char err[256];

	memset(&d, 0, sizeof(d));
	d.ss_family = AF_UNIX;
	CHECK(tp_rule_parse("handler=x", &r, err, sizeof(err)) == 0, "%s", err);
	CHECK(!tp_rule_match(&r, T, (struct sockaddr *)&s, (struct sockaddr *)&d), "AF_UNIX");
	OK("match: unknown address family never matches");
}

TP_TEST(spec_split)
{
	char name[32];
	const char *t;

	t = tp_handler_spec_split("direct", name, sizeof(name));
	CHECK(t && !strcmp(name, "direct") && !strcmp(t, ""), "plain name");
	t = tp_handler_spec_split("http://u:p@198.18.0.2:8888", name, sizeof(name));
	CHECK(t && !strcmp(name, "http") && !strcmp(t, "u:p@198.18.0.2:8888"), "with target");
	t = tp_handler_spec_split("reject://drop", name, sizeof(name));
	CHECK(t && !strcmp(name, "reject") && !strcmp(t, "drop"), "reject://drop");
	CHECK(!tp_handler_spec_split("://x", name, sizeof(name)), "empty name");
	CHECK(!tp_handler_spec_split("averyveryverylongnamethatdoesnotfit://x", name, 8),
	      "too long");
	OK("handler spec split");
}

/* ---- domain rules ---- */

TP_TEST(domain_match)
{
	struct tp_rule r;
	char err[512] = "", out[300];
	struct sockaddr_storage s = sa("10.0.0.1", 1000), d = sa("198.18.0.5", 443);
	const struct sockaddr *src = (struct sockaddr *)&s, *dst = (struct sockaddr *)&d;

	CHECK(!tp_domain_match("example.com", "badexample.com"), "not across a label");
	CHECK(tp_domain_match("example.com", "example.com"), "exact");
	CHECK(tp_domain_match("example.com", "a.example.com"), "suffix");
	CHECK(tp_domain_match("example.com", "x.y.a.example.com"), "deep suffix");
	CHECK(!tp_domain_match("a.example.com", "example.com"), "the parent is not below");
	CHECK(tp_domain_match("example.com", "A.Example.COM"), "any case");
	CHECK(tp_domain_match("example.com", "a.example.com."), "trailing dot");
	CHECK(!tp_domain_match("example.com", "example.com.evil"), "not a prefix match");
	CHECK(!tp_domain_match("example.com", ""), "empty name");
	CHECK(!tp_domain_match("com", "example.co"), "shorter");
	OK("label boundary, exact and suffix, case, trailing dot");

	CHECK_EQ(tp_domain_normalize("Example.COM.", 12, out, sizeof(out)), 11, "normalize");
	CHECK(!strcmp(out, "example.com"), "lower case, trailing dot dropped: %s", out);
	memset(out, 'a', 64);
	CHECK_EQ(tp_domain_normalize(out, 64, out + 100, 100), 0, "a 64-byte label");
	CHECK_EQ(tp_domain_normalize(".", 1, out, sizeof(out)), 0, "the root");
	OK("normalize: case, trailing dot, label length, root");

	CHECK(!tp_rule_parse("domain=Example.com.,port=443,handler=direct", &r, err, sizeof(err)),
	      "%s", err);
	CHECK(!strcmp(r.domain, "example.com"), "rule domain %s", r.domain);
	CHECK(tp_rule_match_flow(&r, T, src, dst, "www.example.com"), "named flow matches");
	CHECK(!tp_rule_match_flow(&r, T, src, dst, NULL), "a flow without a name never");
	CHECK(!tp_rule_match_flow(&r, T, src, dst, "www.example.org"), "another name");
	d = sa("198.18.0.5", 80);
	CHECK(!tp_rule_match_flow(&r, T, src, dst, "www.example.com"), "port still counts");
	CHECK(!tp_rule_parse("port=80,handler=direct", &r, err, sizeof(err)), "%s", err);
	CHECK(tp_rule_match_flow(&r, T, src, dst, NULL), "a rule without domain: names no matter");
	OK("rules: domain with the other keys; unnamed flows never match a domain rule");
}

/* A handler that records the order it is offered flows in and declines
 * each, so one offer walks every matching rule. */
static int offered[64], n_offered;

static int rec_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	(void)host;
	*state = (void *)(intptr_t)atoi(args->target);
	return 0;
}

static int rec_accept(void *state, struct tp_flow *f)
{
	(void)f;
	if (n_offered < 64)
		offered[n_offered++] = (int)(intptr_t)state;
	return TP_DECLINED;
}

static void rec_close(void *state, struct tp_flow *f, int err)
{
	(void)state, (void)f, (void)err;
}

static void rec_fini(void *state)
{
	(void)state;
}

static const struct tp_handler rec_handler = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = "rec",
        .init = rec_init,
        .tcp_accept = rec_accept,
        .flow_close = rec_close,
        .fini = rec_fini,
};

static void log_noop(const struct tp_host *h, int level, const char *fmt, ...)
{
	(void)h, (void)level, (void)fmt;
}

/* The handler numbers offered a TCP flow to dst:port named name, as
 * "1,5,999" in out. */
static const char *offer(const struct tp_dispatch *d, const char *dst, unsigned port,
                         const char *name, char *out, size_t cap)
{
	struct tp_flow_info info;
	struct tp_hinst *owner = NULL;
	size_t n = 0;

	memset(&info, 0, sizeof(info));
	info.proto = IPPROTO_TCP;
	info.src = sa("10.0.0.1", 1000);
	info.dst = sa(dst, port);
	info.name = name;
	info.name_source = name ? TP_NAME_FAKE_IP : TP_NAME_NONE;
	n_offered = 0;
	tp_dispatch_offer(d, NULL, &info, NULL, 0, &owner);
	out[0] = '\0';
	for (int i = 0; i < n_offered && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%d", i ? "," : "", offered[i]);
	return out;
}

TP_TEST(dispatch_order)
{
	static const char *const rules[] = {
	        "dst=198.19.0.0/16,handler=rec://1",
	        "domain=example.com,handler=rec://2",
	        "port=443,handler=rec://3",
	        "domain=a.example.com,port=443,handler=rec://4",
	        "domain=b.example.org,handler=rec://5",
	        "domain=example.com,port=80,handler=rec://6",
	        "domain=com,handler=rec://7",
	};
	struct tp_registry reg;
	struct tp_dispatch d;
	struct tp_options o;
	struct tp_host services;
	char err[512], got[256];
	int ret;

	tp_options_defaults(&o);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		ret = tp_options_set(&o, "rule", rules[i], err, sizeof(err));
		CHECK(!ret, "rule %zu: %s", i, err);
	}
	tp_registry_init(&reg, NULL);
	CHECK_EQ(tp_registry_add_table(&reg, &rec_handler), 0, "add rec");
	ret = tp_dispatch_configure(&d, &reg, "rec://999", NULL, 0, o.rules, o.n_rules);
	CHECK_EQ(ret, 0, "configure");
	memset(&services, 0, sizeof(services));
	services.log = log_noop;
	CHECK_EQ(tp_registry_start(&reg, &services, NULL), 0, "start");
	if (ret)
		return;
	CHECK(!strcmp(offer(&d, "198.18.0.1", 443, "a.example.com", got, sizeof(got)),
	              "2,3,4,7,999"),
	      "a.example.com:443 -> %s", got);
	CHECK(!strcmp(offer(&d, "198.19.0.1", 80, "x.example.com", got, sizeof(got)),
	              "1,2,6,7,999"),
	      "x.example.com:80 in 198.19/16 -> %s", got);
	CHECK(!strcmp(offer(&d, "198.18.0.1", 443, "b.example.org", got, sizeof(got)), "3,5,999"),
	      "b.example.org:443 -> %s", got);
	CHECK(!strcmp(offer(&d, "198.18.0.1", 443, "badexample.com", got, sizeof(got)), "3,7,999"),
	      "badexample.com:443 -> %s", got);
	CHECK(!strcmp(offer(&d, "198.18.0.1", 443, NULL, got, sizeof(got)), "3,999"),
	      "no name -> %s", got);
	CHECK(!strcmp(offer(&d, "198.18.0.1", 22, "A.EXAMPLE.COM.", got, sizeof(got)), "2,7,999"),
	      "upper case with a trailing dot:22 -> %s", got);
	OK("first match order kept across address, port and domain rules; suffixes on label "
	   "boundaries; unnamed flows skip domain rules");
	tp_registry_stop(&reg);
	tp_registry_close(&reg);
	tp_dispatch_close(&d);
}

TP_TEST(domain_config)
{
	static const char yaml[] = "rules:\n"
	                           "  - {domain: a.example.com, handler: direct}\n"
	                           "  - {domain: b.example.org, proto: tcp, handler: echo}\n";
	static const char bad[] = "rules:\n"
	                          "  - {port: 80, handler: direct}\n"
	                          "  - domain: bad..name\n"
	                          "    handler: direct\n";
	struct tp_config c;
	struct tp_options o;
	char err[512];
	char *argv[] = {"tunplug", "--rule", "domain=x..y,handler=direct", NULL};

	tp_options_defaults(&o);
	CHECK(!tp_config_parse(&c, &o, "r.yaml", yaml, sizeof(yaml) - 1, err, sizeof(err)), "%s",
	      err);
	CHECK(o.n_rules == 2 && !strcmp(o.rules[0].domain, "a.example.com") &&
	              !strcmp(o.rules[1].domain, "b.example.org") && o.rules[1].proto == T,
	      "two domain rules from YAML");
	tp_config_free(&c);
	tp_options_defaults(&o);
	CHECK(tp_config_parse(&c, &o, "r.yaml", bad, sizeof(bad) - 1, err, sizeof(err)) &&
	              strstr(err, "r.yaml:3:") && strstr(err, "rules[1].domain") &&
	              strstr(err, "bad..name"),
	      "bad domain names the key and line: %s", err);
	tp_config_free(&c);
	CHECK(tp_options_parse(&o, 3, argv, err, sizeof(err)) && strstr(err, "--rule") &&
	              strstr(err, "domain") && strstr(err, "x..y"),
	      "CLI: %s", err);
	OK("domain= in YAML and on the command line; errors name key, value and line");
}

TP_TEST(many_rules)
{
	struct tp_options o;
	char err[512], rule[128];
	struct tp_registry reg;
	struct tp_dispatch d;
	struct tp_flow_info info;
	struct tp_hinst *owner = NULL;
	struct tp_host services;
	int ret;

	tp_options_defaults(&o);
	for (int i = 0; i < 10000; i++) {
		snprintf(rule, sizeof(rule), "domain=host%d.example.net,handler=rec://%d", i,
		         i % 20);
		if (tp_options_set(&o, "rule", rule, err, sizeof(err))) {
			CHECK(0, "rule %d: %s", i, err);
			break;
		}
	}
	CHECK_EQ(o.n_rules, 10000, "10000 rules parsed");
	tp_registry_init(&reg, NULL);
	tp_registry_add_table(&reg, &rec_handler);
	ret = tp_dispatch_configure(&d, &reg, "rec://999", NULL, 0, o.rules, o.n_rules);
	CHECK_EQ(ret, 0, "configure");
	memset(&services, 0, sizeof(services));
	services.log = log_noop;
	CHECK_EQ(tp_registry_start(&reg, &services, NULL), 0, "start");
	memset(&info, 0, sizeof(info));
	info.proto = IPPROTO_TCP;
	info.src = sa("10.0.0.1", 1000);
	info.dst = sa("198.18.0.1", 443);
	info.name = "www.host9876.example.net";
	n_offered = 0;
	tp_dispatch_offer(&d, NULL, &info, NULL, 0, &owner);
	CHECK(n_offered == 2 && offered[0] == 9876 % 20 && offered[1] == 999,
	      "rule 9876 then the default: %d offers", n_offered);
	OK("10000 domain rules: above the old limit of 64, the right one found");
	tp_registry_stop(&reg);
	tp_registry_close(&reg);
	tp_dispatch_close(&d);
}
