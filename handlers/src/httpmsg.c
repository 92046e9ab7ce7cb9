/* SPDX-License-Identifier: MIT */
/* tunplug — the pure parts of the HTTP CONNECT handler (see httpmsg.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "httpmsg.h"
#include "names.h"
#include "tunplug/text.h"

size_t tp_base64_encode(const void *in, size_t len, char *out, size_t outlen)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = in;
	size_t need = (len + 2) / 3 * 4, o = 0;

	if (!outlen || need >= outlen) {
		if (outlen)
			out[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		size_t n = len - i;

		if (n > 1)
			v |= (unsigned)p[i + 1] << 8;
		if (n > 2)
			v |= p[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = n > 1 ? tab[(v >> 6) & 63] : '=';
		out[o++] = n > 2 ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

int tp_http_connect_request(char *buf, size_t cap, const struct sockaddr *dst, const char *name,
                            const char *user, const char *pass)
{
	char hostport[TP_NAME_MAX + 8 > TP_SOCKADDR_STRLEN ? TP_NAME_MAX + 8 : TP_SOCKADDR_STRLEN];
	char cred[520], b64[700];
	int n;

	/* "1.2.3.4:80", "[fd00::1]:80" */
	if (dst->sa_family != AF_INET && dst->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (name) {
		/* "example.com:443": checked, so nothing can end the line early */
		if (!tp_name_valid(name))
			return -EINVAL;
		snprintf(hostport, sizeof(hostport), "%s:%u", name, tp_sockaddr_port(dst));
	} else {
		tp_sockaddr_str(dst, hostport, sizeof(hostport));
	}
	b64[0] = '\0';
	if (user) {
		n = snprintf(cred, sizeof(cred), "%s:%s", user, pass ? pass : "");
		if (n < 0 || (size_t)n >= sizeof(cred) ||
		    !tp_base64_encode(cred, (size_t)n, b64, sizeof(b64)))
			return -ENOSPC;
	}
	n = snprintf(buf, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n", hostport, hostport,
	             user ? "Proxy-Authorization: Basic " : "", b64, user ? "\r\n" : "");
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

size_t tp_http_head_want(const char *buf, size_t len)
{
	static const char term[] = "\r\n\r\n";

	/* the longest suffix of buf that is a prefix of the terminator */
	for (size_t k = len < 4 ? len : 4; k > 0; k--)
		if (!memcmp(buf + len - k, term, k))
			return 4 - k;
	return 4;
}

/* Case-insensitive: does [p, end) start with the lower-case word w? */
static bool starts_ci(const char *p, const char *end, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(end - p) < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (tolower((unsigned char)p[i]) != w[i])
			return false;
	return true;
}

/* Content-Length's value [p, eol): 1*DIGIT with optional blanks around. */
static long long parse_length(const char *p, const char *eol)
{
	long long v = 0;
	const char *d;

	while (p < eol && (*p == ' ' || *p == '\t'))
		p++;
	d = p;
	while (p < eol && *p >= '0' && *p <= '9') {
		if (v > 100000000000000LL)
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	if (p == d)
		return -1;
	while (p < eol && (*p == ' ' || *p == '\t'))
		p++;
	return p == eol ? v : -1;
}

/* Transfer-Encoding's value [p, eol): is its last coding "chunked"? */
static bool last_is_chunked(const char *p, const char *eol)
{
	const char *q = eol;

	while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
		q--;
	return q - p >= 7 && starts_ci(q - 7, q, "chunked") &&
	       (q - 7 == p || q[-8] == ',' || q[-8] == ' ' || q[-8] == '\t');
}

int tp_http_parse_head(const char *buf, size_t len, struct tp_http_resp *r)
{
	const char *p = buf, *end = buf + len, *eol;
	size_t rl = 0;

	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	if (len < 4 || memcmp(end - 4, "\r\n\r\n", 4))
		return -EBADMSG;
	/* HTTP/1.x SP 3DIGIT [SP reason] CRLF */
	if (len < 16 || memcmp(p, "HTTP/1.", 7) || p[7] < '0' || p[7] > '9' || p[8] != ' ')
		return -EBADMSG;
	r->minor = p[7] - '0';
	p += 9;
	for (int i = 0; i < 3; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EBADMSG;
		r->status = r->status * 10 + (p[i] - '0');
	}
	if (r->status < 100)
		return -EBADMSG;
	p += 3;
	eol = memchr(p, '\r', (size_t)(end - p));
	if (!eol || eol[1] != '\n')
		return -EBADMSG;
	if (p < eol) {
		if (*p != ' ')
			return -EBADMSG;
		for (p++; p < eol; p++) {
			if ((unsigned char)*p < 0x20 && *p != '\t')
				return -EBADMSG;
			if (rl + 1 < sizeof(r->reason))
				r->reason[rl++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
		}
	}
	r->reason[rl] = '\0';
	p = eol + 2;
	/* header lines up to the empty one */
	while (p < end - 2) {
		const char *colon = NULL;

		eol = memchr(p, '\r', (size_t)(end - p));
		if (!eol || eol[1] != '\n' || eol == p)
			return -EBADMSG;
		if (*p == ' ' || *p == '\t') {
			/* obsolete line folding: a continuation of the previous value */
		} else {
			colon = memchr(p, ':', (size_t)(eol - p));
			if (!colon || colon == p)
				return -EBADMSG;
			for (const char *q = p; q < colon; q++)
				if ((unsigned char)*q <= 0x20 || *q == 0x7f)
					return -EBADMSG;
		}
		for (const char *q = p; q < eol; q++)
			if (*q == '\n' || *q == '\0')
				return -EBADMSG;
		if (colon && colon - p == 14 && starts_ci(p, colon, "content-length")) {
			long long v = parse_length(colon + 1, eol);

			if (v < 0 || (r->content_length >= 0 && r->content_length != v))
				return -EBADMSG;
			r->content_length = v;
		} else if (colon && colon - p == 17 && starts_ci(p, colon, "transfer-encoding")) {
			r->chunked = last_is_chunked(colon + 1, eol);
		}
		p = eol + 2;
	}
	return p == end - 2 ? 0 : -EBADMSG;
}

/* Where the lower-case word w first occurs in [p, p + len), any case, or NULL. */
static const char *find_ci(const char *p, size_t len, const char *w)
{
	size_t n = strlen(w);

	for (size_t i = 0; i + n <= len; i++)
		if (starts_ci(p + i, p + len, w))
			return p + i;
	return NULL;
}

size_t tp_http_body_want(const struct tp_http_resp *r, const char *body, size_t len, size_t max)
{
	const char *m;

	if (len >= max)
		return 0;
	if (r->content_length >= 0) {
		size_t want = (unsigned long long)r->content_length < max
		                      ? (size_t)r->content_length
		                      : max;
		return want > len ? want - len : 0;
	}
	if (r->chunked) {
		/* the last chunk ("0" CRLF, at the start or after a CRLF), then
		 * trailer lines up to an empty one */
		for (m = body; (m = find_ci(m, len - (size_t)(m - body), "0\r\n")) != NULL; m++) {
			const char *t = m + 3, *end = body + len;

			if (m != body && (m - body < 2 || memcmp(m - 2, "\r\n", 2)))
				continue;
			if (starts_ci(t, end, "\r\n") || find_ci(t, (size_t)(end - t), "\r\n\r\n"))
				return 0;
		}
	}
	return max - len;
}

int tp_http_body_errno(const char *body, size_t len)
{
	static const struct {
		const char *text; /* lower case */
		int err;
	} k[] = {
	        {"connection refused", -ECONNREFUSED},
	        {"no route to host", -EHOSTUNREACH},
	        {"host is unreachable", -EHOSTUNREACH},
	        {"network is unreachable", -ENETUNREACH},
	        {"timed out", -ETIMEDOUT},
	        {"permission denied", -EACCES},
	};
	const char *first = NULL;
	int err = 0;

	if (!body)
		return 0;
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		const char *at = find_ci(body, len, k[i].text);

		if (at && (!first || at < first)) {
			first = at;
			err = k[i].err;
		}
	}
	return err;
}

int tp_http_answer_errno(int status, const char *body, size_t len)
{
	int err;

	if (status >= 200 && status <= 299)
		return 0;
	if (status == 401 || status == 407)
		return -ECONNRESET;
	if (status >= 400 && status <= 499)
		return -EACCES;
	if (status >= 500 && status <= 599) {
		err = tp_http_body_errno(body, len);
		if (err)
			return err;
		return status == 504 ? -ETIMEDOUT : -EHOSTUNREACH;
	}
	return -ECONNRESET;
}
