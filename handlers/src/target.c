/* SPDX-License-Identifier: MIT */
/* tunplug — handler spec targets (see target.h). No I/O. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "target.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into out (outlen bytes, NUL terminated). A decoded
 * NUL is refused (it could not be passed on as a C string). */
static bool pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int h, l;
			if (i + 2 >= n)
				return false;
			h = hexval(s[i + 1]);
			l = hexval(s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return false;
			c = (char)(h << 4 | l);
			i += 2;
		}
		if (o + 1 >= outlen)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return true;
}

static int parse_userinfo(const char *text, const char *at, unsigned flags, struct tp_target *t,
                          char *err, size_t errlen)
{
	const char *sep = memchr(text, ':', (size_t)(at - text));
	size_t ulen = sep ? (size_t)(sep - text) : (size_t)(at - text);

	if (!(flags & TP_TARGET_USERINFO))
		return tp_errf(err, errlen, "no user@ part allowed here");
	if ((flags & TP_TARGET_PASS) && !sep)
		return tp_errf(err, errlen, "credentials must be user:pass@");
	if (!ulen || !pct_decode(text, ulen, t->user, sizeof(t->user)))
		return tp_errf(err, errlen, "bad or empty user name");
	if (sep && (!pct_decode(sep + 1, (size_t)(at - sep - 1), t->pass, sizeof(t->pass)) ||
	            ((flags & TP_TARGET_PASS) && !t->pass[0])))
		return tp_errf(err, errlen, "bad or empty password (percent-encoding?)");
	t->has_auth = true;
	return 0;
}

int tp_target_parse(const char *text, unsigned flags, uint16_t default_port, struct tp_target *t,
                    char *err, size_t errlen)
{
	const char *at = strrchr(text, '@');
	const char *hp = at ? at + 1 : text;
	const char *end = hp + strlen(hp);
	const char *colon = NULL, *host = hp, *hend;
	unsigned long port = 0;
	int ret;

	memset(t, 0, sizeof(*t));
	if (at && (ret = parse_userinfo(text, at, flags, t, err, errlen)))
		return ret;
	if ((flags & TP_TARGET_SLASH) && end > hp && end[-1] == '/')
		end--;
	if (*hp == '[') {
		hend = memchr(hp, ']', (size_t)(end - hp));
		if (!hend || (hend + 1 < end && hend[1] != ':'))
			return tp_errf(err, errlen, "\"%s\": want [IPv6]:PORT", hp);
		host = hp + 1;
		if (hend + 1 < end)
			colon = hend + 1;
	} else {
		for (const char *p = hp; p < end; p++) {
			if (*p != ':')
				continue;
			if (colon)
				return tp_errf(err, errlen,
				               "\"%s\": an IPv6 address needs [brackets]", hp);
			colon = p;
		}
		hend = colon ? colon : end;
	}
	if (!colon && !default_port)
		return tp_errf(err, errlen, "\"%s\": want HOST:PORT", hp);
	if (hend == host || (size_t)(hend - host) >= sizeof(t->host))
		return tp_errf(err, errlen, "\"%s\": empty or too long host", hp);
	memcpy(t->host, host, (size_t)(hend - host));
	t->host[hend - host] = '\0';
	if (!colon) {
		t->port = default_port;
		return 0;
	}
	if (colon + 1 == end || end - colon - 1 > 5)
		return tp_errf(err, errlen, "\"%s\": bad port", hp);
	for (const char *p = colon + 1; p < end; p++) {
		if (*p < '0' || *p > '9')
			return tp_errf(err, errlen, "\"%s\": bad port", hp);
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port < 1 || port > 65535)
		return tp_errf(err, errlen, "\"%s\": port out of range 1..65535", hp);
	t->port = (uint16_t)port;
	return 0;
}
