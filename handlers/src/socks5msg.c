/* SPDX-License-Identifier: MIT */
/* tunplug — SOCKS5 messages (see socks5msg.h). No I/O. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "names.h"
#include "socks5msg.h"

int s5_spec_parse(const char *target, struct tp_target *s, char *err, size_t errlen)
{
	char msg[256];

	if (!target || !*target) {
		memset(s, 0, sizeof(*s));
		return tp_errf(err, errlen,
		               "socks5: no proxy given (socks5://[user:pass@]host:port)");
	}
	if (tp_target_parse(target, TP_TARGET_USERINFO | TP_TARGET_PASS | TP_TARGET_SLASH, 1080, s,
	                    msg, sizeof(msg)))
		return tp_errf(err, errlen, "socks5: %s", msg);
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

/* ATYP domain, name, port at p; the bytes written, or -EINVAL. */
static int put_name(uint8_t *p, const char *name, uint16_t port)
{
	size_t len;

	if (!tp_name_valid(name))
		return -EINVAL;
	len = strlen(name); /* at most TP_NAME_MAX: fits the length byte */
	p[0] = S5_ATYP_DOMAIN;
	p[1] = (uint8_t)len;
	memcpy(p + 2, name, len);
	p[2 + len] = (uint8_t)(port >> 8);
	p[3 + len] = (uint8_t)port;
	return (int)(4 + len);
}

int s5_build_request_name(uint8_t *buf, uint8_t cmd, const char *name, uint16_t port)
{
	int n;

	buf[0] = S5_VER;
	buf[1] = cmd;
	buf[2] = 0;
	n = put_name(buf + 3, name, port);
	return n < 0 ? n : 3 + n;
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
	case S5_REP_NOT_ALLOWED:
		return -EACCES;
	case S5_REP_FAILURE:
		return -EIO;
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

int s5_udp_header_name(uint8_t *hdr, const char *name, uint16_t port)
{
	int n;

	hdr[0] = 0;
	hdr[1] = 0;
	hdr[2] = 0;
	n = put_name(hdr + 3, name, port);
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
