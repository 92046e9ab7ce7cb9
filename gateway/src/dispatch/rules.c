/* SPDX-License-Identifier: MIT */
/* tunplug — flow rules (see rules.h). No I/O. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/rules.h"

static bool parse_port(const char *s, const char *end, uint16_t *out)
{
	unsigned long v = 0;

	if (s == end || end - s > 5)
		return false;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

size_t tp_domain_normalize(const char *d, size_t len, char *out, size_t cap)
{
	size_t label = 0;

	if (len && d[len - 1] == '.')
		len--;
	if (!len || len > TP_RULE_DOMAIN_MAX || len + 1 > cap)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = d[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '.') {
			if (!label)
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		           c == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
		out[i] = c;
	}
	out[len] = '\0';
	return len;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool tp_domain_match(const char *domain, const char *name)
{
	size_t dl = strlen(domain), nl = strlen(name);

	if (nl && name[nl - 1] == '.')
		nl--;
	if (!dl || nl < dl)
		return false;
	for (size_t i = 0; i < dl; i++)
		if (lower(name[nl - dl + i]) != domain[i])
			return false;
	return nl == dl || name[nl - dl - 1] == '.';
}

/* One key of a rule; val is borrowed. */
int tp_rule_set(struct tp_rule *r, const char *key, const char *val, char *err, size_t errlen)
{
	size_t vlen = strlen(val);

	if (!strcmp(key, "handler")) {
		if (!vlen || vlen >= sizeof(r->handler))
			return tp_errf(err, errlen, "empty or too long");
		memcpy(r->handler, val, vlen + 1);
	} else if (!strcmp(key, "proto")) {
		if (!strcmp(val, "tcp"))
			r->proto = IPPROTO_TCP;
		else if (!strcmp(val, "udp"))
			r->proto = IPPROTO_UDP;
		else if (!strcmp(val, "any"))
			r->proto = 0;
		else
			return tp_errf(err, errlen, "\"%s\" is not tcp|udp|any", val);
	} else if (!strcmp(key, "dst") || !strcmp(key, "src")) {
		bool dst = key[0] == 'd';
		if (tp_cidr_parse(val, dst ? &r->dst : &r->src) != 0)
			return tp_errf(err, errlen, "\"%s\" is not an address/prefix", val);
		if (dst)
			r->has_dst = true;
		else
			r->has_src = true;
	} else if (!strcmp(key, "sniff")) {
		if (!strcmp(val, "1") || !strcmp(val, "true"))
			r->sniff = true;
		else if (!strcmp(val, "0") || !strcmp(val, "false"))
			r->sniff = false;
		else
			return tp_errf(err, errlen, "\"%s\" is not 0|1|false|true", val);
	} else if (!strcmp(key, "domain")) {
		if (!tp_domain_normalize(val, vlen, r->domain, sizeof(r->domain)))
			return tp_errf(err, errlen,
			               "\"%s\" is not a domain name (labels of letters, digits, "
			               "'-', '_', at most 253 bytes)",
			               val);
	} else if (!strcmp(key, "port")) {
		const char *dash = strchr(val, '-');
		const char *vend = val + vlen;
		if (!parse_port(val, dash ? dash : vend, &r->port_lo) ||
		    !parse_port(dash ? dash + 1 : val, vend, &r->port_hi) ||
		    r->port_lo > r->port_hi)
			return tp_errf(err, errlen, "\"%s\" is not N or N-M within 1..65535", val);
	} else {
		return -ENOENT;
	}
	return 0;
}

void tp_rule_init(struct tp_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->port_lo = 1;
	r->port_hi = 65535;
}

/* text is borrowed. */
int tp_rule_parse(const char *text, struct tp_rule *r, char *err, size_t errlen)
{
	const char *p = text;
	char key[16], val[512], why[192];
	int ret;

	tp_rule_init(r);
	while (*p) {
		const char *eq = strchr(p, '='), *end;
		size_t klen, vlen;

		if (!eq)
			return tp_errf(err, errlen, "rule \"%s\": \"%s\" is not key=value", text,
			               p);
		klen = (size_t)(eq - p);
		if (klen == 7 && !strncmp(p, "handler", 7)) {
			/* the rest of the text: a spec may contain anything */
			end = eq + 1 + strlen(eq + 1);
		} else {
			end = strchr(eq + 1, ',');
			if (!end)
				end = eq + 1 + strlen(eq + 1);
		}
		vlen = (size_t)(end - eq - 1);
		if (vlen >= sizeof(val))
			return tp_errf(err, errlen, "rule \"%s\": value of %.*s too long", text,
			               (int)klen, p);
		memcpy(val, eq + 1, vlen);
		val[vlen] = '\0';
		if (klen >= sizeof(key) || klen == 0)
			ret = -ENOENT;
		else {
			memcpy(key, p, klen);
			key[klen] = '\0';
			ret = tp_rule_set(r, key, val, why, sizeof(why));
		}
		if (ret == -ENOENT)
			return tp_errf(err, errlen,
			               "rule \"%s\": unknown key \"%.*s\" (proto, dst, src, port, "
			               "domain, sniff, handler)",
			               text, (int)klen, p);
		if (ret)
			return tp_errf(err, errlen, "rule \"%s\": %s: %s", text, key, why);
		if (!strcmp(key, "handler"))
			return 0;
		p = *end ? end + 1 : end;
	}
	return tp_errf(err, errlen, "rule \"%s\": handler=... missing (it comes last)", text);
}

static bool addr_of(const struct sockaddr *sa, int *family, const void **addr, uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		*family = AF_INET;
		*addr = &s4->sin_addr;
		*port = ntohs(s4->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		*family = AF_INET6;
		*addr = &s6->sin6_addr;
		*port = ntohs(s6->sin6_port);
		return true;
	}
	return false;
}

bool tp_rule_match(const struct tp_rule *r, int proto, const struct sockaddr *src,
                   const struct sockaddr *dst)
{
	int fs, fd;
	const void *as, *ad;
	uint16_t ps, pd;

	if (r->proto && r->proto != proto)
		return false;
	if (!addr_of(src, &fs, &as, &ps) || !addr_of(dst, &fd, &ad, &pd))
		return false;
	if (pd < r->port_lo || pd > r->port_hi)
		return false;
	if (r->has_dst && !tp_cidr_contains(&r->dst, fd, ad))
		return false;
	if (r->has_src && !tp_cidr_contains(&r->src, fs, as))
		return false;
	return true;
}

bool tp_rule_match_flow(const struct tp_rule *r, int proto, const struct sockaddr *src,
                        const struct sockaddr *dst, const char *name)
{
	if (r->domain[0] && (!name || !tp_domain_match(r->domain, name)))
		return false;
	return tp_rule_match(r, proto, src, dst);
}

/* spec is borrowed; the return points into it. */
const char *tp_handler_spec_split(const char *spec, char *name, size_t nlen)
{
	const char *sep = strstr(spec, "://");
	size_t n = sep ? (size_t)(sep - spec) : strlen(spec);

	if (n == 0 || n >= nlen)
		return NULL;
	memcpy(name, spec, n);
	name[n] = '\0';
	return sep ? sep + 3 : spec + n;
}

/* spec is borrowed; out gets spec with any "user:password@" replaced by
 * "***@", for logs. Returns out. */
const char *tp_handler_spec_redact(const char *spec, char *out, size_t len)
{
	const char *sep = strstr(spec, "://");
	const char *at = sep ? strchr(sep + 3, '@') : NULL;
	const char *slash = sep ? strchr(sep + 3, '/') : NULL;

	if (!at || (slash && slash < at))
		snprintf(out, len, "%s", spec);
	else
		snprintf(out, len, "%.*s***%s", (int)(sep + 3 - spec), spec, at);
	return out;
}
