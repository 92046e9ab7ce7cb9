/* SPDX-License-Identifier: MIT */
/* tunplug — the pure parts of the HTTP CONNECT handler (see httpmsg.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "httpmsg.h"
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

int tp_http_connect_request(char *buf, size_t cap, const struct sockaddr *dst, const char *user,
                            const char *pass)
{
	char hostport[TP_SOCKADDR_STRLEN];
	char cred[520], b64[700];
	int n;

	/* "1.2.3.4:80", "[fd00::1]:80" */
	if (dst->sa_family != AF_INET && dst->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	tp_sockaddr_str(dst, hostport, sizeof(hostport));
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

int tp_http_parse_head(const char *buf, size_t len, struct tp_http_resp *r)
{
	const char *p = buf, *end = buf + len, *eol;
	size_t rl = 0;

	memset(r, 0, sizeof(*r));
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
		const char *colon;

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
		p = eol + 2;
	}
	return p == end - 2 ? 0 : -EBADMSG;
}

int tp_http_status_errno(int status)
{
	if (status >= 200 && status <= 299)
		return 0;
	switch (status) {
	case 401: /* tinyproxy 1.11 answers a CONNECT with bad credentials so */
	case 407:
		return -ECONNRESET;
	case 403:
	case 405:
		return -ECONNREFUSED;
	case 502:
	case 503:
		return -EHOSTUNREACH;
	case 504:
		return -ETIMEDOUT;
	default:
		return -ECONNREFUSED;
	}
}
