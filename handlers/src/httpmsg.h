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
 * [addr]:port); when name is not NULL (the flow's name, borrowed), host is
 * name and only dst's port is used. Returns the length (no NUL counted),
 * -ENOSPC if buf is too small, -EAFNOSUPPORT for another family, -EINVAL
 * for a name tp_name_valid (names.h) refuses. */
int tp_http_connect_request(char *buf, size_t cap, const struct sockaddr *dst, const char *name,
                            const char *user, const char *pass);

/* How many more bytes may be read after buf[0..len) without reading past
 * the "\r\n\r\n" that ends a response head: 0 when buf already ends with it,
 * else 1..4 (so that every following byte belongs to the tunnel). */
size_t tp_http_head_want(const char *buf, size_t len);

/* A parsed response head. */
struct tp_http_resp {
	int status;               /* 100..999 */
	int minor;                /* HTTP/1.minor */
	char reason[128];         /* reason phrase, truncated, printable ASCII only */
	long long content_length; /* Content-Length, or -1 when there is none */
	bool chunked;             /* Transfer-Encoding's last coding is chunked */
};

/* Parse a complete head buf[0..len) that ends with "\r\n\r\n": the status
 * line "HTTP/1.x NNN reason" and header lines "name: value" (only their
 * syntax is checked, and the values of Content-Length, which must be
 * decimal digits and agree when repeated, and Transfer-Encoding). Returns 0,
 * or -EBADMSG. */
int tp_http_parse_head(const char *buf, size_t len, struct tp_http_resp *r);

/* The most of a refusal's body that is read to find its reason. */
#define TP_HTTP_BODY_MAX 4096

/* How many more bytes the body of answer r may take after body[0..len),
 * reading at most max bytes of it: 0 once it is complete (Content-Length
 * bytes; with chunked coding, the last chunk and trailers) or max bytes
 * came, else max - len (a body without either ends where the connection
 * does). Reading past a body is harmless here: only refusals' bodies are
 * read, and no tunnel follows them. */
size_t tp_http_body_want(const struct tp_http_resp *r, const char *body, size_t len, size_t max);

/* What a CONNECT answer with status and body[0..len) (may be NULL, 0) means
 * for the client's flow: 0 for 2xx (tunnel up), else the -errno to refuse
 * it with (handler.h says what the client then hears):
 *   401, 407 (authentication; tinyproxy 1.11 answers bad credentials
 *            with 401)                                    -ECONNRESET (RST)
 *   other 4xx (403 forbidden, 405 ...: the proxy's policy) -EACCES
 *   5xx whose body names the reason (an errno text such as tinyproxy's
 *       {error} or squid's "(111) Connection refused")   that reason
 *   504 (gateway timeout)                                 -ETIMEDOUT
 *   other 5xx (the proxy could not reach the destination) -EHOSTUNREACH
 *   1xx, 3xx (not an answer to CONNECT)                   -ECONNRESET */
int tp_http_answer_errno(int status, const char *body, size_t len);

/* The reason a refusal's body names: the first of "Connection refused"
 * (-ECONNREFUSED), "No route to host", "Host is unreachable"
 * (-EHOSTUNREACH), "Network is unreachable" (-ENETUNREACH), "timed out"
 * (-ETIMEDOUT), "Permission denied" (-EACCES) in body[0..len), any case;
 * 0 when none is there. */
int tp_http_body_errno(const char *body, size_t len);

#endif
