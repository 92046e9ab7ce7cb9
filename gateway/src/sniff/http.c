/* SPDX-License-Identifier: MIT */
/* tunplug — sniffing: the Host of an HTTP/1.x request (RFC 9112 3, RFC
 * 9110 7.2). Pure (see sniff.h). Lines may end in CRLF or a bare LF. */
#include <string.h>

#include "sniff/sniff.h"

#define METHOD_MAX 24

static bool tchar(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The Host value [v, v + n), whitespace trimmed: drop a port, judge. */
static enum tp_sniff_res host_value(const uint8_t *v, size_t n, char *name)
{
	size_t i;

	if (n == 0)
		return TP_SNIFF_MALFORMED;
	if (v[0] == '[') {
		/* an IPv6 (or future) literal: an address, no name */
		const uint8_t *rb = memchr(v, ']', n);
		size_t k;

		if (!rb || rb == v + 1)
			return TP_SNIFF_MALFORMED;
		for (const uint8_t *p = v + 1; p < rb; p++)
			if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
			      (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.' || *p == '%' ||
			      *p == 'v' || *p == '-' || *p == '_' || *p == '~'))
				return TP_SNIFF_MALFORMED;
		k = (size_t)(rb + 1 - v);
		if (k == n)
			return TP_SNIFF_NO_NAME;
		if (v[k] != ':')
			return TP_SNIFF_MALFORMED;
		v += k;
		n -= k;
		for (i = 1; i < n; i++)
			if (v[i] < '0' || v[i] > '9')
				return TP_SNIFF_MALFORMED;
		return n - 1 <= 5 ? TP_SNIFF_NO_NAME : TP_SNIFF_MALFORMED;
	}
	for (i = n; i > 0 && v[i - 1] >= '0' && v[i - 1] <= '9'; i--)
		;
	if (i > 0 && v[i - 1] == ':') {
		if (n - i > 5)
			return TP_SNIFF_MALFORMED;
		n = i - 1; /* ":" with or without digits: the port goes */
	}
	if (memchr(v, ':', n))
		return TP_SNIFF_MALFORMED; /* a bare IPv6 address or junk */
	return tp_sniff_name(v, n, name);
}

static bool ci_eq(const uint8_t *a, size_t n, const char *lower)
{
	if (strlen(lower) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = a[i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		if (c != (uint8_t)lower[i])
			return false;
	}
	return true;
}

enum tp_sniff_res tp_sniff_http(const uint8_t *buf, size_t len, char *name)
{
	static const char ver[] = "HTTP/1.";
	size_t i = 0, k, line;
	bool truncated = len > TP_SNIFF_HTTP_MAX;

	if (truncated)
		len = TP_SNIFF_HTTP_MAX;
	/* method: a token, then one space */
	for (; i < len && buf[i] != ' '; i++)
		if (!tchar(buf[i]) || i >= METHOD_MAX)
			return TP_SNIFF_NOT_PROTO;
	if (i == len)
		return TP_SNIFF_NEED_MORE;
	if (i == 0)
		return TP_SNIFF_NOT_PROTO;
	i++;
	/* request-target: visible characters, then one space */
	k = i;
	for (; i < len && buf[i] != ' '; i++)
		if (buf[i] <= 0x20 || buf[i] >= 0x7f)
			return TP_SNIFF_NOT_PROTO;
	if (i == len)
		goto more;
	if (i == k)
		return TP_SNIFF_NOT_PROTO;
	i++;
	/* HTTP-version: HTTP/1.x, then the line's end */
	for (k = 0; k < sizeof(ver) - 1; k++, i++) {
		if (i == len)
			goto more;
		if (buf[i] != (uint8_t)ver[k])
			return TP_SNIFF_NOT_PROTO;
	}
	if (i == len)
		goto more;
	if (buf[i] < '0' || buf[i] > '9')
		return TP_SNIFF_NOT_PROTO;
	i++;
	if (i < len && buf[i] == '\r')
		i++;
	if (i == len)
		goto more;
	if (buf[i] != '\n')
		return TP_SNIFF_NOT_PROTO;
	i++;
	/* header fields up to the empty line */
	for (;;) {
		const uint8_t *nl, *colon, *v, *ve;
		size_t end;

		if (i == len)
			goto more;
		nl = memchr(buf + i, '\n', len - i);
		if (!nl)
			goto more;
		end = (size_t)(nl - buf);
		line = end;
		if (line > i && buf[line - 1] == '\r')
			line--;
		if (line == i)
			return TP_SNIFF_NO_NAME; /* the head ended without Host */
		if (buf[i] == ' ' || buf[i] == '\t')
			return TP_SNIFF_MALFORMED; /* obsolete line folding */
		colon = memchr(buf + i, ':', line - i);
		if (!colon || colon == buf + i)
			return TP_SNIFF_MALFORMED;
		for (const uint8_t *p = buf + i; p < colon; p++)
			if (!tchar(*p))
				return TP_SNIFF_MALFORMED;
		if (ci_eq(buf + i, (size_t)(colon - buf - i), "host")) {
			v = colon + 1;
			ve = buf + line;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			return host_value(v, (size_t)(ve - v), name);
		}
		i = end + 1;
	}
more:
	return truncated || len == TP_SNIFF_HTTP_MAX ? TP_SNIFF_MALFORMED : TP_SNIFF_NEED_MORE;
}
