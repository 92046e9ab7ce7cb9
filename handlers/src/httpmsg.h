/* SPDX-License-Identifier: MIT */
/* tunplug — private: the pure parts of the HTTP CONNECT handler (no I/O):
 * base64, the CONNECT request, the proxy's response head.
 * Unit-tested by tests/unit/test_httpmsg.c. */
#ifndef TUNPLUG_HANDLERS_HTTPMSG_H
#define TUNPLUG_HANDLERS_HTTPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The largest response head (status line + headers + blank line) we accept
 * from a proxy. */
#define TP_HTTP_HEAD_MAX 8192

/* Standard base64 (RFC 4648, with padding) of in[0..len) into out, NUL
 * terminated. Returns the length written (without the NUL), or 0 if out
 * (outlen bytes) is too small; an empty input gives "" and 0. */
size_t tp_base64_encode(const void *in, size_t len, char *out, size_t outlen);

/* Build "CONNECT host:port HTTP/1.1" with a Host header and, when user is
 * not NULL, "Proxy-Authorization: Basic base64(user:pass)". dst is the
 * flow's original destination (AF_INET or AF_INET6; IPv6 is written as
 * [addr]:port). Returns the length (no NUL counted), -ENOSPC if buf is too
 * small, -EAFNOSUPPORT for another family. */
int tp_http_connect_request(char *buf, size_t cap, const struct sockaddr *dst, const char *user,
                            const char *pass);

/* How many more bytes may be read after buf[0..len) without reading past
 * the "\r\n\r\n" that ends a response head: 0 when buf already ends with it,
 * else 1..4 (so that every following byte belongs to the tunnel). */
size_t tp_http_head_want(const char *buf, size_t len);

/* A parsed response head. */
struct tp_http_resp {
	int status;       /* 100..999 */
	int minor;        /* HTTP/1.minor */
	char reason[128]; /* reason phrase, truncated, printable ASCII only */
};

/* Parse a complete head buf[0..len) that ends with "\r\n\r\n": the status
 * line "HTTP/1.x NNN reason" and header lines "name: value" (only their
 * syntax is checked). Returns 0, or -EBADMSG. */
int tp_http_parse_head(const char *buf, size_t len, struct tp_http_resp *r);

/* What a CONNECT answer means for the client's flow: 0 for 2xx (tunnel up),
 * else the -errno to refuse the flow with: 407 and 401 (tinyproxy 1.11
 * answers bad credentials with 401) -> -ECONNRESET (proxy authentication),
 * 403/405 -> -ECONNREFUSED, 502/503 -> -EHOSTUNREACH, 504 -> -ETIMEDOUT,
 * anything else -> -ECONNREFUSED. */
int tp_http_status_errno(int status);

#endif
