/* SPDX-License-Identifier: MIT */
/* tunplug — unit test of the flow rules (gateway/src/rules.c): parse errors
 * name the offending key; matching by proto, dst, src, port range, IPv4 vs
 * IPv6; handler spec splitting. One TP_TEST case per group (tests/harness.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "dispatch/rules.h"

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
