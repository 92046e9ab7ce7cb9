/* SPDX-License-Identifier: MIT */
/* The socks5 handler's pure message code (handlers/src/socks5msg.c): spec
 * parsing, greeting/auth/request building, method/auth/reply parsing with
 * every reply code, every ATYP and every truncation, UDP header wrap/unwrap. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "socks5msg.h"

static struct sockaddr_storage sa4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	inet_pton(AF_INET, ip, &a->sin_addr);
	return ss;
}

static struct sockaddr_storage sa6(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &a->sin6_addr);
	return ss;
}

TP_TEST(spec)
{
	static const struct {
		const char *in;
		int ok;
		const char *host;
		unsigned port;
		const char *user, *pass;
	} t[] = {
	        {"198.18.0.2:1080", 1, "198.18.0.2", 1080, NULL, NULL},
	        {"198.18.0.2", 1, "198.18.0.2", 1080, NULL, NULL},
	        {"198.18.0.2:1080/", 1, "198.18.0.2", 1080, NULL, NULL},
	        {"[fd00:18::2]:1081", 1, "fd00:18::2", 1081, NULL, NULL},
	        {"[fd00:18::2]", 1, "fd00:18::2", 1080, NULL, NULL},
	        {"proxy.example:9050", 1, "proxy.example", 9050, NULL, NULL},
	        {"alice:s3cret@198.18.0.2:1080", 1, "198.18.0.2", 1080, "alice", "s3cret"},
	        {"al%40ice:p%3Aw@d@[::1]:1", 1, "::1", 1, "al@ice", "p:w@d"},
	        {"u:p:q@h:2", 1, "h", 2, "u", "p:q"},
	        {"", 0, NULL, 0, NULL, NULL},
	        {"h:0", 0, NULL, 0, NULL, NULL},
	        {"h:65536", 0, NULL, 0, NULL, NULL},
	        {"h:12a", 0, NULL, 0, NULL, NULL},
	        {"h:", 0, NULL, 0, NULL, NULL},
	        {":1080", 0, NULL, 0, NULL, NULL},
	        {"fd00::1:1080", 0, NULL, 0, NULL, NULL},
	        {"[fd00::1", 0, NULL, 0, NULL, NULL},
	        {"[]:1", 0, NULL, 0, NULL, NULL},
	        {"[::1]x", 0, NULL, 0, NULL, NULL},
	        {"user@h:1", 0, NULL, 0, NULL, NULL},
	        {":p@h:1", 0, NULL, 0, NULL, NULL},
	        {"u:@h:1", 0, NULL, 0, NULL, NULL},
	        {"u%4:p@h:1", 0, NULL, 0, NULL, NULL},
	        {"u%00:p@h:1", 0, NULL, 0, NULL, NULL},
	        {"u%zz:p@h:1", 0, NULL, 0, NULL, NULL},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct tp_target s;
		char err[200] = "";
		int r = s5_spec_parse(t[i].in, &s, err, sizeof(err));

		if (!t[i].ok) {
			CHECK(r == -EINVAL, "\"%s\" should fail, got %d", t[i].in, r);
			CHECK(err[0], "\"%s\": no message", t[i].in);
			continue;
		}
		CHECK(r == 0, "\"%s\": %d %s", t[i].in, r, err);
		if (r)
			continue;
		CHECK(!strcmp(s.host, t[i].host), "\"%s\": host %s", t[i].in, s.host);
		CHECK_EQ(s.port, t[i].port, t[i].in);
		CHECK_EQ(s.has_auth, t[i].user != NULL, t[i].in);
		if (t[i].user) {
			CHECK(!strcmp(s.user, t[i].user), "\"%s\": user %s", t[i].in, s.user);
			CHECK(!strcmp(s.pass, t[i].pass), "\"%s\": pass %s", t[i].in, s.pass);
		}
	}
	{
		/* 255-byte user fits, 256 does not */
		char in[700], u[257];
		struct tp_target s;

		memset(u, 'u', 255);
		u[255] = '\0';
		snprintf(in, sizeof(in), "%s:p@h:1", u);
		CHECK(s5_spec_parse(in, &s, NULL, 0) == 0, "255-byte user");
		CHECK_EQ(strlen(s.user), 255, "user length");
		memset(u, 'u', 256);
		u[256] = '\0';
		snprintf(in, sizeof(in), "%s:p@h:1", u);
		CHECK(s5_spec_parse(in, &s, NULL, 0) == -EINVAL, "256-byte user");
	}
	OK("spec: addresses, [IPv6], names, default port, credentials with %%XX, bad specs");
}

TP_TEST(greeting_auth)
{
	uint8_t b[S5_AUTH_MAX];
	static const uint8_t g0[] = {5, 1, 0}, g1[] = {5, 2, 0, 2};
	int n;

	CHECK_EQ(s5_build_greeting(b, false), 3, "no-auth greeting length");
	CHECK(!memcmp(b, g0, 3), "no-auth greeting bytes");
	CHECK_EQ(s5_build_greeting(b, true), 4, "auth greeting length");
	CHECK(!memcmp(b, g1, 4), "auth greeting bytes");

	CHECK_EQ(s5_parse_method((const uint8_t[]){5, 0}), S5_METHOD_NONE, "method none");
	CHECK_EQ(s5_parse_method((const uint8_t[]){5, 2}), S5_METHOD_USERPASS, "method userpass");
	CHECK_EQ(s5_parse_method((const uint8_t[]){5, 0xff}), S5_METHOD_NOACCEPT, "no acceptable");
	CHECK_EQ(s5_parse_method((const uint8_t[]){4, 0}), -EPROTO, "SOCKS4 answer");
	CHECK_EQ(s5_parse_method((const uint8_t[]){'H', 'T'}), -EPROTO, "HTTP answer");
	OK("greeting: methods offered; method choice parsed, bad version rejected");

	n = s5_build_auth(b, "alice", "pw");
	CHECK_EQ(n, 3 + 5 + 2, "auth length");
	CHECK(b[0] == 1 && b[1] == 5 && !memcmp(b + 2, "alice", 5) && b[7] == 2 &&
	              !memcmp(b + 8, "pw", 2),
	      "auth bytes");
	CHECK_EQ(s5_build_auth(b, "", "pw"), -EINVAL, "empty user");
	CHECK_EQ(s5_build_auth(b, "u", ""), -EINVAL, "empty pass");
	{
		char big[300];
		memset(big, 'x', 255);
		big[255] = '\0';
		CHECK_EQ(s5_build_auth(b, big, big), 3 + 255 + 255, "255/255 credentials");
		CHECK(b[1] == 255 && b[257] == 255, "length bytes");
		big[255] = 'x';
		big[256] = '\0';
		CHECK_EQ(s5_build_auth(b, big, "p"), -EINVAL, "256-byte user");
		CHECK_EQ(s5_build_auth(b, "u", big), -EINVAL, "256-byte pass");
	}
	CHECK_EQ(s5_parse_auth_reply((const uint8_t[]){1, 0}), 0, "auth ok");
	CHECK_EQ(s5_parse_auth_reply((const uint8_t[]){1, 1}), -EACCES, "auth failed");
	CHECK_EQ(s5_parse_auth_reply((const uint8_t[]){1, 0xff}), -EACCES, "auth failed 0xff");
	CHECK_EQ(s5_parse_auth_reply((const uint8_t[]){5, 0}), -EPROTO, "auth bad version");
	OK("RFC 1929: request bytes and limits; status ok / failed / bad version");
}

TP_TEST(request)
{
	uint8_t b[S5_REQUEST_MAX];
	struct sockaddr_storage a = sa4("198.19.1.1", 80);
	struct sockaddr_storage u = {.ss_family = AF_UNIX};
	static const uint8_t w4[] = {5, 1, 0, 1, 198, 19, 1, 1, 0, 80};
	static const uint8_t w6[] = {5, 3, 0, 4, 0xfd, 0, 0, 0x19, 0, 0,    0,
	                             0, 0, 0, 0, 0,    0, 0, 0,    1, 0x1f, 0x90};

	CHECK_EQ(s5_build_request(b, S5_CMD_CONNECT, (struct sockaddr *)&a), 10, "v4 length");
	CHECK(!memcmp(b, w4, sizeof(w4)), "v4 CONNECT bytes");
	a = sa6("fd00:19::1", 8080);
	CHECK_EQ(s5_build_request(b, S5_CMD_UDP_ASSOCIATE, (struct sockaddr *)&a), 22, "v6 length");
	CHECK(!memcmp(b, w6, sizeof(w6)), "v6 UDP ASSOCIATE bytes");
	CHECK_EQ(s5_build_request(b, S5_CMD_CONNECT, (struct sockaddr *)&u), -EAFNOSUPPORT,
	         "AF_UNIX");
	OK("request: CONNECT IPv4, UDP ASSOCIATE IPv6 byte for byte; other families refused");
}

/* Every truncation of a good reply is -EAGAIN and reply_size says how much
 * to read next without ever asking past the end. */
static void check_truncations(const uint8_t *r, size_t n, const char *what)
{
	struct s5_reply p;

	for (size_t len = 0; len < n; len++) {
		int sz = s5_reply_size(r, len);
		CHECK(sz > (int)len && sz <= (int)n, "%s: size %d with %zu of %zu bytes", what, sz,
		      len, n);
		CHECK(s5_parse_reply(r, len, &p) == -EAGAIN, "%s: truncated to %zu parsed", what,
		      len);
	}
	CHECK_EQ(s5_reply_size(r, n), n, what);
	/* reading in the pieces reply_size gives reaches exactly n */
	{
		size_t have = 0;
		int steps = 0;
		while (steps++ < 4) {
			int sz = s5_reply_size(r, have);
			if (sz <= (int)have)
				break;
			have = (size_t)sz;
		}
		CHECK_EQ(have, n, "pieces");
		CHECK(steps <= 3, "%s: %d pieces", what, steps);
	}
}

TP_TEST(reply)
{
	struct s5_reply p;
	char ip[INET6_ADDRSTRLEN];
	/* trailing bytes are payload and must not be consumed */
	uint8_t r4[] = {5, 0, 0, 1, 198, 18, 0, 2, 0x04, 0x38, 0xAA, 0xBB};
	uint8_t r6[] = {5, 0, 0, 4, 0xfd, 0, 0, 0x18, 0, 0,  0,   0,
	                0, 0, 0, 0, 0,    0, 0, 2,    0, 53, 0xCC};
	uint8_t rd[4 + 1 + 11 + 2 + 1] = {5, 0, 0, 3, 11};
	uint8_t r0[] = {5, 0, 0, 3, 0, 0x12, 0x34};

	memcpy(rd + 5, "example.org", 11);
	rd[16] = 0x01;
	rd[17] = 0xbb;
	rd[18] = 0xDD;

	CHECK_EQ(s5_parse_reply(r4, sizeof(r4), &p), 10, "v4 size");
	CHECK(p.rep == 0 && p.atyp == S5_ATYP_IPV4 && p.port == 1080 && p.bnd.ss_family == AF_INET,
	      "v4 fields");
	inet_ntop(AF_INET, &((struct sockaddr_in *)&p.bnd)->sin_addr, ip, sizeof(ip));
	CHECK(!strcmp(ip, "198.18.0.2") && ntohs(((struct sockaddr_in *)&p.bnd)->sin_port) == 1080,
	      "v4 bnd %s", ip);
	check_truncations(r4, 10, "v4");

	CHECK_EQ(s5_parse_reply(r6, sizeof(r6), &p), 22, "v6 size");
	CHECK(p.atyp == S5_ATYP_IPV6 && p.port == 53 && p.bnd.ss_family == AF_INET6, "v6 fields");
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&p.bnd)->sin6_addr, ip, sizeof(ip));
	CHECK(!strcmp(ip, "fd00:18::2"), "v6 bnd %s", ip);
	check_truncations(r6, 22, "v6");

	CHECK_EQ(s5_parse_reply(rd, sizeof(rd), &p), 18, "domain size");
	CHECK(p.atyp == S5_ATYP_DOMAIN && p.port == 443 && p.bnd.ss_family == AF_UNSPEC &&
	              !strcmp(p.domain, "example.org"),
	      "domain fields: %s %u", p.domain, p.port);
	check_truncations(rd, 18, "domain");

	CHECK_EQ(s5_parse_reply(r0, sizeof(r0), &p), 7, "empty domain size");
	CHECK(p.domain[0] == '\0' && p.port == 0x1234, "empty domain");
	check_truncations(r0, 7, "empty domain");
	{
		uint8_t big[4 + 1 + 255 + 2];
		big[0] = 5;
		big[1] = 0;
		big[2] = 0;
		big[3] = 3;
		big[4] = 255;
		memset(big + 5, 'a', 255);
		big[260] = 0;
		big[261] = 1;
		CHECK_EQ(s5_parse_reply(big, sizeof(big), &p), S5_REPLY_MAX, "255-byte domain");
		CHECK_EQ(strlen(p.domain), 255, "255-byte domain length");
		check_truncations(big, sizeof(big), "255-byte domain");
	}
	OK("reply: BND of ATYP IPv4, IPv6, domain (0 and 255 bytes); payload after it untouched; "
	   "every truncation asks for more, in at most 2 reads");

	{
		uint8_t bad[10] = {4, 0, 0, 1, 1, 2, 3, 4, 0, 1};
		CHECK_EQ(s5_reply_size(bad, 10), -EPROTO, "version 4");
		CHECK_EQ(s5_parse_reply(bad, 10, &p), -EPROTO, "version 4 parse");
		bad[0] = 5;
		for (unsigned at = 0; at < 256; at++) {
			bad[3] = (uint8_t)at;
			if (at == 1 || at == 3 || at == 4)
				continue;
			CHECK_EQ(s5_reply_size(bad, 10), -EPROTO, "unknown ATYP");
			CHECK_EQ(s5_parse_reply(bad, 10, &p), -EPROTO, "unknown ATYP parse");
		}
		CHECK_EQ(s5_reply_size(bad, 4), S5_REPLY_MIN, "4 bytes: read up to 5 first");
	}
	OK("reply: bad version and every unknown ATYP rejected");

	{
		static const struct {
			uint8_t rep;
			int err;
		} m[] = {
		        {0, 0},
		        {1, -EIO},
		        {2, -EACCES},
		        {3, -ENETUNREACH},
		        {4, -EHOSTUNREACH},
		        {5, -ECONNREFUSED},
		        {6, -ETIMEDOUT},
		        {7, -ECONNRESET},
		        {8, -ECONNRESET},
		        {9, -ECONNRESET},
		        {0xff, -ECONNRESET},
		};
		for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
			r4[1] = m[i].rep;
			CHECK_EQ(s5_parse_reply(r4, sizeof(r4), &p), 10, "size with a reply code");
			CHECK_EQ(p.rep, m[i].rep, "rep");
			CHECK_EQ(s5_rep_errno(p.rep), m[i].err, "errno of a reply code");
			CHECK(s5_rep_str(p.rep) && *s5_rep_str(p.rep), "description");
		}
		CHECK(!strcmp(s5_rep_str(5), "connection refused"), "rep 5 text");
		CHECK(!strcmp(s5_rep_str(200), "unknown reply code"), "unknown text");
	}
	OK("reply codes 0..9 and 255: errno mapping and descriptions");
}

TP_TEST(udp)
{
	uint8_t hdr[S5_UDP_HDR_MAX], pkt[64];
	struct sockaddr_storage a = sa4("198.19.1.1", 7400), from;
	struct sockaddr_storage u = {.ss_family = AF_UNIX};
	size_t off = 99;
	int n;

	n = s5_udp_header(hdr, (struct sockaddr *)&a);
	CHECK_EQ(n, 10, "v4 header length");
	CHECK(!memcmp(hdr, (const uint8_t[]){0, 0, 0, 1, 198, 19, 1, 1, 0x1c, 0xe8}, 10),
	      "v4 header bytes");
	memcpy(pkt, hdr, 10);
	memcpy(pkt + 10, "hello", 5);
	CHECK_EQ(s5_udp_unwrap(pkt, 15, &from, &off), 0, "v4 unwrap");
	CHECK_EQ(off, 10, "v4 payload offset");
	CHECK(from.ss_family == AF_INET && ((struct sockaddr_in *)&from)->sin_port == htons(7400) &&
	              ((struct sockaddr_in *)&from)->sin_addr.s_addr ==
	                      ((struct sockaddr_in *)&a)->sin_addr.s_addr,
	      "v4 from");
	CHECK_EQ(s5_udp_unwrap(pkt, 10, &from, &off), 0, "empty payload is fine");
	CHECK_EQ(off, 10, "empty payload offset");
	for (size_t len = 0; len < 10; len++)
		CHECK_EQ(s5_udp_unwrap(pkt, len, &from, &off), -EPROTO, "truncated v4 header");

	a = sa6("fd00:19::1", 53);
	n = s5_udp_header(hdr, (struct sockaddr *)&a);
	CHECK_EQ(n, 22, "v6 header length");
	memcpy(pkt, hdr, 22);
	pkt[22] = 'x';
	CHECK_EQ(s5_udp_unwrap(pkt, 23, &from, &off), 0, "v6 unwrap");
	CHECK(off == 22 && from.ss_family == AF_INET6 &&
	              ((struct sockaddr_in6 *)&from)->sin6_port == htons(53) &&
	              !memcmp(&((struct sockaddr_in6 *)&from)->sin6_addr,
	                      &((struct sockaddr_in6 *)&a)->sin6_addr, 16),
	      "v6 from");
	for (size_t len = 0; len < 22; len++)
		CHECK_EQ(s5_udp_unwrap(pkt, len, &from, &off), -EPROTO, "truncated v6 header");

	pkt[2] = 1;
	CHECK_EQ(s5_udp_unwrap(pkt, 23, &from, &off), -EOPNOTSUPP, "FRAG 1 dropped");
	pkt[2] = 0x81;
	CHECK_EQ(s5_udp_unwrap(pkt, 23, &from, &off), -EOPNOTSUPP, "FRAG 0x81 dropped");
	pkt[2] = 0;
	pkt[0] = 1;
	CHECK_EQ(s5_udp_unwrap(pkt, 23, &from, &off), -EPROTO, "RSV != 0");
	pkt[0] = 0;
	pkt[3] = 2;
	CHECK_EQ(s5_udp_unwrap(pkt, 23, &from, &off), -EPROTO, "ATYP 2");

	{
		uint8_t d[] = {0, 0, 0, 3, 3, 'a', '.', 'b', 0, 53, 'p', 'l'};
		CHECK_EQ(s5_udp_unwrap(d, sizeof(d), &from, &off), 1, "domain source");
		CHECK(off == 10 && from.ss_family == AF_UNSPEC, "domain payload offset");
		for (size_t len = 0; len < 10; len++)
			CHECK_EQ(s5_udp_unwrap(d, len, &from, &off), -EPROTO, "truncated domain");
	}
	CHECK_EQ(s5_udp_header(hdr, (struct sockaddr *)&u), -EAFNOSUPPORT, "AF_UNIX header");
	OK("UDP header: wrap IPv4/IPv6 byte for byte; unwrap IPv4, IPv6, domain; FRAG != 0, bad "
	   "RSV/ATYP and every truncation dropped");
}

/* A name of len characters: labels of up to 63 'a'..'z' separated by
 * dots, never ending with a dot. */
static void long_name(char *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (i % 64 == 63) ? '.' : (char)('a' + i % 26);
	if (len && out[len - 1] == '.')
		out[len - 1] = 'z';
	out[len] = '\0';
}

TP_TEST(request_name)
{
	uint8_t b[S5_REQUEST_MAX + 1], hdr[S5_UDP_HDR_MAX + 1], pkt[S5_UDP_HDR_MAX + 8];
	struct sockaddr_storage from;
	char name[300];
	size_t off = 0;
	int n;

	n = s5_build_request_name(b, S5_CMD_CONNECT, "www.example.com", 443);
	CHECK_EQ(n, 3 + 1 + 1 + 15 + 2, "CONNECT by name: length");
	CHECK(n == 22 && !memcmp(b, "\x05\x01\x00\x03\x0fwww.example.com\x01\xbb", 22),
	      "CONNECT by name: VER CMD RSV ATYP=3 LEN name PORT");
	n = s5_build_request_name(b, S5_CMD_UDP_ASSOCIATE, "a", 53);
	CHECK(n == 8 && !memcmp(b,
	                        "\x05\x03\x00\x03\x01"
	                        "a\x00\x35",
	                        8),
	      "UDP ASSOCIATE by name");

	/* the longest name: 253 characters, length byte 253, fits S5_REQUEST_MAX */
	long_name(name, 253);
	memset(b, 0xee, sizeof(b));
	n = s5_build_request_name(b, S5_CMD_CONNECT, name, 65535);
	CHECK_EQ(n, 3 + 1 + 1 + 253 + 2, "253-character name: length");
	CHECK(n > 0 && (size_t)n <= S5_REQUEST_MAX, "fits S5_REQUEST_MAX");
	CHECK(b[4] == 253 && !memcmp(b + 5, name, 253) && b[258] == 0xff && b[259] == 0xff,
	      "253-character name: bytes");
	CHECK_EQ(b[S5_REQUEST_MAX], 0xee, "nothing written past S5_REQUEST_MAX");
	long_name(name, 254);
	CHECK_EQ(s5_build_request_name(b, S5_CMD_CONNECT, name, 80), -EINVAL, "254 characters");

	static const char *const bad[] = {
	        "",    "exa mple.com", "example.com\r\nX: y", "a..b",
	        ".a",  "a.",           "user@host",           "host:80",
	        "a/b", "a%20b",        "\xc3\xa9.fr",         "tab\there",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(s5_build_request_name(b, S5_CMD_CONNECT, bad[i], 80), -EINVAL,
		         "bad name refused in a request");
		CHECK_EQ(s5_udp_header_name(hdr, bad[i], 80), -EINVAL,
		         "bad name refused in a UDP header");
	}
	CHECK_EQ(s5_build_request_name(b, S5_CMD_CONNECT, NULL, 80), -EINVAL, "NULL name");
	OK("requests with ATYP DOMAIN: bytes, 253 characters fit, 254 and bad characters refused");

	n = s5_udp_header_name(hdr, "dns.example", 53);
	CHECK(n == 3 + 1 + 1 + 11 + 2 && !memcmp(hdr,
	                                         "\x00\x00\x00\x03\x0b"
	                                         "dns.example\x00\x35",
	                                         18),
	      "UDP header by name: bytes");
	/* what the proxy would see is what s5_udp_unwrap reads back */
	memcpy(pkt, hdr, (size_t)n);
	memcpy(pkt + n, "q", 1);
	CHECK_EQ(s5_udp_unwrap(pkt, (size_t)n + 1, &from, &off), 1, "unwrap: ATYP DOMAIN");
	CHECK(off == (size_t)n && from.ss_family == AF_UNSPEC, "unwrap: payload after the name");
	long_name(name, 253);
	n = s5_udp_header_name(hdr, name, 1);
	CHECK(n == 3 + 1 + 1 + 253 + 2 && (size_t)n <= S5_UDP_HDR_MAX && hdr[4] == 253,
	      "UDP header with a 253-character name fits S5_UDP_HDR_MAX");
	OK("UDP headers with ATYP DOMAIN: bytes, round trip, 253 characters");
}
