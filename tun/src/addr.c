/* SPDX-License-Identifier: MIT */
/* tunplug — addresses and CIDR prefixes. Pure code. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tunplug/addr.h"

/* s is borrowed; *out is caller-owned and zeroed first. Only the exact forms
 * "addr" and "addr/digits" are accepted: no spaces, signs or trailing text
 * (inet_pton itself refuses leading spaces and, for IPv4, short forms). */
int tp_cidr_parse(const char *s, struct tp_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	size_t alen;
	long prefix = -1;

	if (!s || !*s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0)
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -EINVAL;
	int max = out->family == AF_INET ? 32 : 128;
	if (slash) {
		const char *p = slash + 1;
		char *end;
		if (*p < '0' || *p > '9' || strlen(p) > 3)
			return -EINVAL;
		prefix = strtol(p, &end, 10);
		if (*end != '\0' || prefix > max)
			return -EINVAL;
	}
	out->prefix = (uint8_t)(prefix < 0 ? max : prefix);
	return 0;
}

/* c is borrowed; writes at most len bytes into the caller's buf. */
char *tp_cidr_format(const struct tp_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	inet_ntop(c->family == AF_INET6 ? AF_INET6 : AF_INET, c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefix);
	return buf;
}

/* c and addr are borrowed. A prefix beyond the family's width counts as the
 * full width, so a malformed struct never makes this read past addr. */
bool tp_cidr_contains(const struct tp_cidr *c, int family, const void *addr)
{
	const uint8_t *a = addr;
	unsigned bits = c->prefix, i = 0;
	unsigned max = family == AF_INET ? 32 : 128;

	if (c->family != family || (family != AF_INET && family != AF_INET6))
		return false;
	if (bits > max)
		bits = max;
	for (; bits >= 8; bits -= 8, i++)
		if (a[i] != c->addr[i])
			return false;
	if (bits) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits));
		if ((a[i] & mask) != (c->addr[i] & mask))
			return false;
	}
	return true;
}
