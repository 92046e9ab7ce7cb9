/* SPDX-License-Identifier: MIT */
/* tunplug — SOCKS5 messages (see socks5msg.h). No I/O. */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "socks5msg.h"

static int spec_fail(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int spec_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

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

/* Copy s[0..n) into out (cap bytes) decoding %XX; false if it does not fit,
 * an escape is bad, or the result is empty or holds a NUL. */
static bool unescape(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return false;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			c = hi * 16 + lo;
			if (c == 0)
				return false;
			i += 2;
		}
		if (o + 1 >= cap)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return o > 0;
}

int s5_spec_parse(const char *target, struct s5_spec *s, char *err, size_t errlen)
{
	const char *at, *hp, *colon, *end;
	unsigned long port = 1080;

	memset(s, 0, sizeof(*s));
	if (!target || !*target)
		return spec_fail(err, errlen,
		                 "socks5: no proxy given (socks5://[user:pass@]host:port)");
	at = strrchr(target, '@');
	hp = target;
	if (at) {
		const char *sep = memchr(target, ':', (size_t)(at - target));

		if (!sep)
			return spec_fail(err, errlen, "socks5: credentials must be user:pass@");
		if (!unescape(target, (size_t)(sep - target), s->user, sizeof(s->user)) ||
		    !unescape(sep + 1, (size_t)(at - sep - 1), s->pass, sizeof(s->pass)))
			return spec_fail(err, errlen,
			                 "socks5: user and password must be 1..255 bytes (%%XX "
			                 "escapes allowed)");
		s->auth = true;
		hp = at + 1;
	}
	end = hp + strlen(hp);
	if (end > hp && end[-1] == '/')
		end--; /* "socks5://host:port/" */
	if (*hp == '[') {
		const char *rb = memchr(hp, ']', (size_t)(end - hp));

		if (!rb || rb == hp + 1)
			return spec_fail(err, errlen, "socks5: bad [IPv6] address in \"%s\"",
			                 target);
		if ((size_t)(rb - hp - 1) >= sizeof(s->host))
			return spec_fail(err, errlen, "socks5: host too long");
		memcpy(s->host, hp + 1, (size_t)(rb - hp - 1));
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon && *colon != ':')
			return spec_fail(err, errlen, "socks5: junk after ] in \"%s\"", target);
	} else {
		colon = NULL;
		for (const char *p = hp; p < end; p++)
			if (*p == ':') {
				if (colon)
					return spec_fail(
					        err, errlen,
					        "socks5: write an IPv6 proxy as [address]:port");
				colon = p;
			}
		size_t hl = (size_t)((colon ? colon : end) - hp);
		if (!hl || hl >= sizeof(s->host))
			return spec_fail(err, errlen, "socks5: empty or too long host in \"%s\"",
			                 target);
		memcpy(s->host, hp, hl);
	}
	if (colon) {
		const char *p = colon + 1;

		port = 0;
		if (p == end || end - p > 5)
			return spec_fail(err, errlen, "socks5: bad port in \"%s\"", target);
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return spec_fail(err, errlen, "socks5: bad port in \"%s\"", target);
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port < 1 || port > 65535)
			return spec_fail(err, errlen, "socks5: port out of range in \"%s\"",
			                 target);
	}
	s->port = (uint16_t)port;
	return 0;
}

size_t s5_build_greeting(uint8_t *buf, bool auth)
{
	buf[0] = S5_VER;
	if (auth) {
		buf[1] = 2;
		buf[2] = S5_METHOD_NONE;
		buf[3] = S5_METHOD_USERPASS;
		return 4;
	}
	buf[1] = 1;
	buf[2] = S5_METHOD_NONE;
	return 3;
}

int s5_parse_method(const uint8_t *buf)
{
	if (buf[0] != S5_VER)
		return -EPROTO;
	return buf[1];
}

int s5_build_auth(uint8_t *buf, const char *user, const char *pass)
{
	size_t ul = strlen(user), pl = strlen(pass);

	if (!ul || ul > 255 || !pl || pl > 255)
		return -EINVAL;
	buf[0] = S5_AUTH_VER;
	buf[1] = (uint8_t)ul;
	memcpy(buf + 2, user, ul);
	buf[2 + ul] = (uint8_t)pl;
	memcpy(buf + 3 + ul, pass, pl);
	return (int)(3 + ul + pl);
}

int s5_parse_auth_reply(const uint8_t *buf)
{
	if (buf[0] != S5_AUTH_VER)
		return -EPROTO;
	return buf[1] == 0 ? 0 : -EACCES;
}

/* ATYP, address, port at p; the bytes written, or -EAFNOSUPPORT. */
static int put_addr(uint8_t *p, const struct sockaddr *addr)
{
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
		p[0] = S5_ATYP_IPV4;
		memcpy(p + 1, &a->sin_addr, 4);
		memcpy(p + 5, &a->sin_port, 2);
		return 7;
	}
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
		p[0] = S5_ATYP_IPV6;
		memcpy(p + 1, &a->sin6_addr, 16);
		memcpy(p + 17, &a->sin6_port, 2);
		return 19;
	}
	return -EAFNOSUPPORT;
}

int s5_build_request(uint8_t *buf, uint8_t cmd, const struct sockaddr *addr)
{
	int n;

	buf[0] = S5_VER;
	buf[1] = cmd;
	buf[2] = 0;
	n = put_addr(buf + 3, addr);
	return n < 0 ? n : 3 + n;
}

/* Size of ATYP + address + port given the ATYP byte and the byte after it;
 * -EPROTO for an unknown ATYP. */
static int addr_size(uint8_t atyp, uint8_t next)
{
	switch (atyp) {
	case S5_ATYP_IPV4:
		return 1 + 4 + 2;
	case S5_ATYP_IPV6:
		return 1 + 16 + 2;
	case S5_ATYP_DOMAIN:
		return 1 + 1 + next + 2;
	default:
		return -EPROTO;
	}
}

/* Decode ATYP+address+port at p (all of it present: n bytes). */
static int get_addr(const uint8_t *p, size_t n, struct sockaddr_storage *ss, char *domain,
                    size_t domcap, uint16_t *port)
{
	int need;

	if (n < 2)
		return -EAGAIN;
	need = addr_size(p[0], p[1]);
	if (need < 0)
		return need;
	if (n < (size_t)need)
		return -EAGAIN;
	memset(ss, 0, sizeof(*ss));
	*port = (uint16_t)(p[need - 2] << 8 | p[need - 1]);
	if (p[0] == S5_ATYP_IPV4) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		memcpy(&a->sin_addr, p + 1, 4);
		a->sin_port = htons(*port);
	} else if (p[0] == S5_ATYP_IPV6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, p + 1, 16);
		a->sin6_port = htons(*port);
	} else {
		size_t dl = p[1];
		ss->ss_family = AF_UNSPEC;
		if (domain && domcap) {
			if (dl >= domcap)
				dl = domcap - 1;
			memcpy(domain, p + 2, dl);
			domain[dl] = '\0';
		}
	}
	return need;
}

int s5_reply_size(const uint8_t *buf, size_t len)
{
	int n;

	if (len < S5_REPLY_MIN)
		return S5_REPLY_MIN;
	if (buf[0] != S5_VER)
		return -EPROTO;
	n = addr_size(buf[3], buf[4]);
	return n < 0 ? n : 3 + n;
}

int s5_parse_reply(const uint8_t *buf, size_t len, struct s5_reply *r)
{
	int n = s5_reply_size(buf, len);

	if (n < 0)
		return n;
	if (len < (size_t)n)
		return -EAGAIN;
	memset(r, 0, sizeof(*r));
	r->rep = buf[1];
	r->atyp = buf[3];
	n = get_addr(buf + 3, len - 3, &r->bnd, r->domain, sizeof(r->domain), &r->port);
	return n < 0 ? n : 3 + n;
}

int s5_rep_errno(uint8_t rep)
{
	switch (rep) {
	case S5_REP_OK:
		return 0;
	case S5_REP_REFUSED:
		return -ECONNREFUSED;
	case S5_REP_NET_UNREACH:
		return -ENETUNREACH;
	case S5_REP_HOST_UNREACH:
		return -EHOSTUNREACH;
	case S5_REP_TTL_EXPIRED:
		return -ETIMEDOUT;
	default:
		return -ECONNRESET;
	}
}

const char *s5_rep_str(uint8_t rep)
{
	static const char *const s[] = {
	        "succeeded",
	        "general SOCKS server failure",
	        "connection not allowed by ruleset",
	        "network unreachable",
	        "host unreachable",
	        "connection refused",
	        "TTL expired",
	        "command not supported",
	        "address type not supported",
	};

	return rep < sizeof(s) / sizeof(s[0]) ? s[rep] : "unknown reply code";
}

int s5_udp_header(uint8_t *hdr, const struct sockaddr *dst)
{
	int n;

	hdr[0] = 0;
	hdr[1] = 0;
	hdr[2] = 0; /* FRAG: standalone datagram */
	n = put_addr(hdr + 3, dst);
	return n < 0 ? n : 3 + n;
}

int s5_udp_unwrap(const uint8_t *buf, size_t len, struct sockaddr_storage *from, size_t *off)
{
	uint16_t port;
	int n;

	if (len < 4 + 1)
		return -EPROTO;
	if (buf[0] != 0 || buf[1] != 0)
		return -EPROTO;
	if (buf[2] != 0)
		return -EOPNOTSUPP; /* a fragment: we never ask for reassembly */
	n = get_addr(buf + 3, len - 3, from, NULL, 0, &port);
	if (n == -EAGAIN)
		return -EPROTO;
	if (n < 0)
		return n;
	*off = 3 + (size_t)n;
	return from->ss_family == AF_UNSPEC ? 1 : 0;
}
