/* SPDX-License-Identifier: MIT */
/* tunplug — unit test of handlers/src/httpmsg.c (the HTTP CONNECT handler's
 * pure parts): base64 (RFC 4648 vectors), the CONNECT request for IPv4/IPv6
 * with and without credentials, the byte-exact head reader's "how much may I
 * read" rule, response head parsing (Content-Length, chunked), how much of a
 * refusal's body to read, and the status + body -> errno mapping. The
 * proxy target is parsed by target.c (tests/unit/test_target.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "httpmsg.h"

TP_TEST(base64)
{
	static const struct {
		const char *in, *out;
	} v[] = {
	        {"", ""},
	        {"f", "Zg=="},
	        {"fo", "Zm8="},
	        {"foo", "Zm9v"},
	        {"foob", "Zm9vYg=="},
	        {"fooba", "Zm9vYmE="},
	        {"foobar", "Zm9vYmFy"},
	        {"user:pass", "dXNlcjpwYXNz"},
	        {"Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="},
	};
	char out[64];
	unsigned char bin[3] = {0xff, 0xfe, 0x00};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = tp_base64_encode(v[i].in, strlen(v[i].in), out, sizeof(out));
		CHECK(n == strlen(v[i].out) && !strcmp(out, v[i].out), "base64(%s) = %s, want %s",
		      v[i].in, out, v[i].out);
	}
	CHECK(tp_base64_encode(bin, 3, out, sizeof(out)) == 4 && !strcmp(out, "//4A"), "binary: %s",
	      out);
	/* exactly enough room: 8 chars + NUL */
	CHECK(tp_base64_encode("foobar", 6, out, 9) == 8, "fits in 9");
	CHECK(tp_base64_encode("foobar", 6, out, 8) == 0 && out[0] == '\0', "8 is too small");
	CHECK(tp_base64_encode("f", 1, out, 4) == 0, "4 is too small for 1 byte");
	OK("base64: RFC 4648 vectors, binary input, output size limits");
}

TP_TEST(request)
{
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(80)};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
	struct sockaddr sa = {.sa_family = AF_UNIX};
	char buf[512];
	int n;

	inet_pton(AF_INET, "198.19.1.1", &s4.sin_addr);
	inet_pton(AF_INET6, "fd00:19::1", &s6.sin6_addr);
	n = tp_http_connect_request(buf, sizeof(buf), (struct sockaddr *)&s4, NULL, NULL, NULL);
	CHECK(n > 0 && (size_t)n == strlen(buf) &&
	              !strcmp(buf, "CONNECT 198.19.1.1:80 HTTP/1.1\r\nHost: 198.19.1.1:80\r\n\r\n"),
	      "v4: %s", buf);
	n = tp_http_connect_request(buf, sizeof(buf), (struct sockaddr *)&s6, NULL, "user", "pass");
	CHECK(n > 0 && !strcmp(buf, "CONNECT [fd00:19::1]:443 HTTP/1.1\r\n"
	                            "Host: [fd00:19::1]:443\r\n"
	                            "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n"),
	      "v6 with auth: %s", buf);
	n = tp_http_connect_request(buf, sizeof(buf), (struct sockaddr *)&s4, NULL, "u", "");
	CHECK(n > 0 && strstr(buf, "Basic dTo=\r\n"), "empty password: %s", buf);
	CHECK(tp_http_connect_request(buf, 40, (struct sockaddr *)&s4, NULL, NULL, NULL) == -ENOSPC,
	      "too small");
	CHECK(tp_http_connect_request(buf, sizeof(buf), &sa, NULL, NULL, NULL) == -EAFNOSUPPORT,
	      "AF_UNIX");
	OK("CONNECT request: v4, [v6]:port, Basic credentials, too small, bad family");
}

TP_TEST(request_name)
{
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(443)};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(8443)};
	char buf[1024], name[260], want[700];
	int n;

	inet_pton(AF_INET, "198.18.0.7", &s4.sin_addr);
	inet_pton(AF_INET6, "fc00:18::7", &s6.sin6_addr);
	n = tp_http_connect_request(buf, sizeof(buf), (struct sockaddr *)&s4, "www.example.com",
	                            NULL, NULL);
	CHECK(n > 0 && (size_t)n == strlen(buf) &&
	              !strcmp(buf, "CONNECT www.example.com:443 HTTP/1.1\r\n"
	                           "Host: www.example.com:443\r\n\r\n"),
	      "by name, v4 flow: %s", buf);
	n = tp_http_connect_request(buf, sizeof(buf), (struct sockaddr *)&s6, "a.example", "u",
	                            "p");
	CHECK(n > 0 && !strcmp(buf, "CONNECT a.example:8443 HTTP/1.1\r\nHost: a.example:8443\r\n"
	                            "Proxy-Authorization: Basic dTpw\r\n\r\n"),
	      "by name, v6 flow (no brackets), with auth: %s", buf);

	for (size_t i = 0; i < 253; i++)
		name[i] = (i % 64 == 63) ? '.' : 'x';
	name[253] = '\0';
	n = tp_http_connect_request(buf, sizeof(buf), (struct sockaddr *)&s4, name, NULL, NULL);
	snprintf(want, sizeof(want), "CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n", name, name);
	CHECK(n > 0 && !strcmp(buf, want), "253-character name");
	name[253] = 'x';
	name[254] = '\0';
	CHECK_EQ(
	        tp_http_connect_request(buf, sizeof(buf), (struct sockaddr *)&s4, name, NULL, NULL),
	        -EINVAL, "254 characters");

	static const char *const bad[] = {"evil.com:80 HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET ",
	                                  "a b",
	                                  "a\nb",
	                                  "user@host",
	                                  "host:1",
	                                  "[::1]",
	                                  "",
	                                  "a..b",
	                                  "a/b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(tp_http_connect_request(buf, sizeof(buf), (struct sockaddr *)&s4, bad[i],
		                                 NULL, NULL),
		         -EINVAL, "bad name refused");
	CHECK_EQ(tp_http_connect_request(buf, 60, (struct sockaddr *)&s4, "www.example.com", NULL,
	                                 NULL),
	         -ENOSPC, "by name, too small");
	OK("CONNECT name:port: v4 and v6 flows, 253 characters, injection and bad names refused");
}

TP_TEST(head_want)
{
	static const struct {
		const char *s;
		size_t want;
	} v[] = {
	        {"", 4},      {"H", 4},       {"HTTP/1.1 200 OK", 4}, {"x\r", 3},
	        {"x\r\n", 2}, {"x\r\n\r", 1}, {"x\r\n\r\n", 0},       {"\r\n\r\n", 0},
	        {"x\r\r", 3}, {"x\n", 4},     {"x\r\nH", 4},          {"\r\n\r\nx", 4},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK(tp_http_head_want(v[i].s, strlen(v[i].s)) == v[i].want, "#%zu: %zu, want %zu",
		      i, tp_http_head_want(v[i].s, strlen(v[i].s)), v[i].want);

	/* Feed a head plus tunnel bytes, reading exactly what head_want
	 * allows each time: the reader stops on the blank line. */
	const char *stream = "HTTP/1.1 200 Connection established\r\nProxy-agent: x\r\n\r\n"
	                     "SSH-2.0-tunnel bytes\r\n\r\n";
	size_t head = strstr(stream, "\r\n\r\n") + 4 - stream, have = 0, w;
	while ((w = tp_http_head_want(stream, have)) != 0)
		have += w;
	CHECK(have == head, "stopped at %zu, head ends at %zu", have, head);
	OK("head reader: never reads past the blank line");
}

TP_TEST(parse_head)
{
	struct tp_http_resp r;
	const char *h;

	h = "HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n";
	CHECK(tp_http_parse_head(h, strlen(h), &r) == 0 && r.status == 200 && r.minor == 0 &&
	              !strcmp(r.reason, "Connection established"),
	      "tinyproxy 200: %d '%s'", r.status, r.reason);
	h = "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic "
	    "realm=\"x\"\r\nContent-Length: 0\r\n\r\n";
	CHECK(tp_http_parse_head(h, strlen(h), &r) == 0 && r.status == 407, "407");
	h = "HTTP/1.1 200\r\n\r\n";
	CHECK(tp_http_parse_head(h, strlen(h), &r) == 0 && r.status == 200 && !r.reason[0],
	      "no reason phrase");
	h = "HTTP/1.1 503 Service Unavailable\r\nX-A: 1\r\n folded\r\n\r\n";
	CHECK(tp_http_parse_head(h, strlen(h), &r) == 0 && r.status == 503, "obs-fold");
	OK("response head: tinyproxy's 200, 407 with headers, no reason, folded header");

	static const char *bad[] = {
	        "HTTP/1.1 200 OK\r\n",                    /* no blank line */
	        "HTTP/2.0 200 OK\r\n\r\n",                /* not HTTP/1.x */
	        "HTTP/1.1 20 OK\r\n\r\n",                 /* two digits */
	        "HTTP/1.1 099 OK\r\n\r\n",                /* below 100 */
	        "HTTP/1.1 2000 OK\r\n\r\n",               /* four digits */
	        "http/1.1 200 OK\r\n\r\n",                /* lower case */
	        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",     /* header without ':' */
	        "HTTP/1.1 200 OK\r\n: empty\r\n\r\n",     /* empty name */
	        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", /* space in name */
	        "HTTP/1.1 200 OK\nX: y\r\n\r\n",          /* bare LF */
	        "HTTP/1.1 200 O\x01K\r\n\r\n",            /* control char */
	        "SSH-2.0-OpenSSH\r\n\r\n",
	        "\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(tp_http_parse_head(bad[i], strlen(bad[i]), &r) == -EBADMSG, "#%zu accepted",
		      i);
	OK("response head: malformed ones refused");
}

TP_TEST(body_length)
{
	struct tp_http_resp r;
	const char *h;

	h = "HTTP/1.1 500 Unable to connect\r\nServer: tinyproxy/1.11.1\r\nContent-Type: "
	    "text/html\r\nConnection: close\r\n\r\n";
	CHECK(tp_http_parse_head(h, strlen(h), &r) == 0 && r.content_length == -1 && !r.chunked,
	      "tinyproxy's 500: no length (%lld), not chunked", r.content_length);
	h = "HTTP/1.1 503 Service Unavailable\r\ncontent-LENGTH:  3367 \r\n\r\n";
	CHECK(tp_http_parse_head(h, strlen(h), &r) == 0 && r.content_length == 3367,
	      "Content-Length in any case, blanks around: %lld", r.content_length);
	h = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n";
	CHECK(tp_http_parse_head(h, strlen(h), &r) == 0 && r.content_length == 7,
	      "repeated, equal");
	h = "HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n";
	CHECK(tp_http_parse_head(h, strlen(h), &r) == 0 && r.chunked && r.content_length == -1,
	      "chunked last");
	h = "HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
	CHECK(tp_http_parse_head(h, strlen(h), &r) == 0 && !r.chunked, "chunked not last");
	h = "HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: xchunked\r\n\r\n";
	CHECK(tp_http_parse_head(h, strlen(h), &r) == 0 && !r.chunked, "xchunked");
	static const char *bad[] = {
	        "HTTP/1.1 502 x\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n",
	        "HTTP/1.1 502 x\r\nContent-Length: -1\r\n\r\n",
	        "HTTP/1.1 502 x\r\nContent-Length: 1 2\r\n\r\n",
	        "HTTP/1.1 502 x\r\nContent-Length:\r\n\r\n",
	        "HTTP/1.1 502 x\r\nContent-Length: 99999999999999999999\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(tp_http_parse_head(bad[i], strlen(bad[i]), &r) == -EBADMSG,
		      "bad length #%zu accepted", i);
	OK("head: Content-Length (any case, repeated equal, bad ones refused), chunked");

	memset(&r, 0, sizeof(r));
	r.content_length = 10;
	CHECK_EQ(tp_http_body_want(&r, "", 0, 4096), 10, "length 10, nothing yet");
	CHECK_EQ(tp_http_body_want(&r, "abcd", 4, 4096), 6, "length 10, 4 came");
	CHECK_EQ(tp_http_body_want(&r, "abcdefghij", 10, 4096), 0, "length 10, all came");
	r.content_length = 0;
	CHECK_EQ(tp_http_body_want(&r, "", 0, 4096), 0, "length 0");
	r.content_length = 100000;
	CHECK_EQ(tp_http_body_want(&r, "ab", 2, 4096), 4094, "beyond max: max");
	r.content_length = -1;
	CHECK_EQ(tp_http_body_want(&r, "abc", 3, 4096), 4093, "no length: to the end, at most max");
	CHECK_EQ(tp_http_body_want(&r, "abc", 3, 3), 0, "no length: max reached");
	r.chunked = true;
#define WANT(body) tp_http_body_want(&r, (body), strlen(body), 4096)
	CHECK_EQ(WANT("5\r\nhello\r\n"), 4096 - 10, "chunked, going on");
	CHECK_EQ(WANT("5\r\nhello\r\n0\r\n\r\n"), 0, "chunked, last chunk");
	CHECK_EQ(WANT("0\r\n\r\n"), 0, "chunked, empty");
	CHECK_EQ(WANT("5\r\nhello\r\n0\r\nX-T: 1\r\n"), 4096 - 21, "chunked, trailer not ended");
	CHECK_EQ(WANT("5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), 0, "chunked, trailer ended");
	CHECK_EQ(WANT("10\r\n0123456789abcdef\r\n"), 4096 - 22,
	         "chunk size 10 is not the last chunk");
	CHECK_EQ(WANT("5\r\nhel0\r\n"), 4096 - 9, "0 CRLF inside a chunk, not after a CRLF");
#undef WANT
	OK("body: to Content-Length, to the last chunk and trailers, else to the end; at most "
	   "max");
}

TP_TEST(status)
{
	CHECK_EQ(tp_http_answer_errno(200, NULL, 0), 0, "200");
	CHECK_EQ(tp_http_answer_errno(204, NULL, 0), 0, "204");
	CHECK_EQ(tp_http_answer_errno(407, NULL, 0), -ECONNRESET, "407");
	CHECK_EQ(tp_http_answer_errno(401, NULL, 0), -ECONNRESET,
	         "401 (tinyproxy, bad credentials)");
	CHECK_EQ(tp_http_answer_errno(403, NULL, 0), -EACCES, "403");
	CHECK_EQ(tp_http_answer_errno(405, NULL, 0), -EACCES, "405");
	CHECK_EQ(tp_http_answer_errno(400, "Connection refused", 18), -EACCES,
	         "400: the body does not count");
	CHECK_EQ(tp_http_answer_errno(502, NULL, 0), -EHOSTUNREACH, "502");
	CHECK_EQ(tp_http_answer_errno(503, NULL, 0), -EHOSTUNREACH, "503");
	CHECK_EQ(tp_http_answer_errno(504, NULL, 0), -ETIMEDOUT, "504");
	CHECK_EQ(tp_http_answer_errno(500, NULL, 0), -EHOSTUNREACH, "500");
	CHECK_EQ(tp_http_answer_errno(301, NULL, 0), -ECONNRESET, "301");
	CHECK_EQ(tp_http_answer_errno(100, NULL, 0), -ECONNRESET, "100");
	OK("status without a body -> errno");

	static const struct {
		int status;
		const char *body;
		int err;
	} k[] = {
	        {500, "<p>Tinyproxy was unable to connect.</p><p>Connection refused</p>",
	         -ECONNREFUSED},
	        {500, "<p>NO ROUTE TO HOST</p>", -EHOSTUNREACH},
	        {502, "host is unreachable", -EHOSTUNREACH},
	        {502, "<p>Network is unreachable</p>", -ENETUNREACH},
	        {500, "connect: Connection timed out", -ETIMEDOUT},
	        {502, "Permission denied", -EACCES},
	        {503, "The system returned: (111) Connection refused", -ECONNREFUSED},
	        {504, "(113) No route to host", -EHOSTUNREACH},
	        {504, "the gateway gave up", -ETIMEDOUT},
	        {500, "Unable to connect", -EHOSTUNREACH},
	        /* the first reason named wins */
	        {502, "timed out, then: Connection refused", -ETIMEDOUT},
	        {502, "Connection refused (it timed out before)", -ECONNREFUSED},
	};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		CHECK_EQ(tp_http_answer_errno(k[i].status, k[i].body, strlen(k[i].body)), k[i].err,
		         k[i].body);
	CHECK_EQ(tp_http_body_errno("x\0Connection refused", 20), -ECONNREFUSED,
	         "a NUL before the reason");
	CHECK_EQ(tp_http_body_errno("Connection refuse", 17), 0, "cut short");
	CHECK_EQ(tp_http_body_errno(NULL, 0), 0, "no body");
	OK("5xx with a body: the reason it names (errno texts, any case, the first one), else "
	   "by status");
}
