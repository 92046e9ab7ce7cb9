/* SPDX-License-Identifier: MIT */
/* tunplug — a flow's destination name (see names.h). No I/O. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "names.h"

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool tp_name_valid(const char *name)
{
	size_t len = 0, label = 0;

	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++) {
		if (++len > TP_NAME_MAX)
			return false;
		if (*p == '.') {
			if (label == 0)
				return false; /* leading dot or ".." */
			label = 0;
			continue;
		}
		if (!name_char(*p) || ++label > 63)
			return false;
	}
	return label > 0; /* no trailing dot */
}

const char *tp_flow_name(const struct tp_flow_info *fi, int *err)
{
	*err = 0;
	if (fi->name && tp_name_valid(fi->name))
		return fi->name;
	if (fi->name_source == TP_NAME_FAKE_IP)
		*err = -EHOSTUNREACH;
	return NULL;
}

int tp_name_pick(const struct addrinfo *res, int family, uint16_t port,
                 struct sockaddr_storage *out)
{
	const struct addrinfo *pick = NULL;

	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (ai->ai_addrlen > sizeof(*out) ||
		    ai->ai_addrlen < (ai->ai_family == AF_INET ? sizeof(struct sockaddr_in)
		                                               : sizeof(struct sockaddr_in6)))
			continue;
		if (ai->ai_family == family) {
			pick = ai;
			break;
		}
		if (!pick)
			pick = ai;
	}
	if (!pick)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	memcpy(out, pick->ai_addr, pick->ai_addrlen);
	if (out->ss_family == AF_INET)
		((struct sockaddr_in *)out)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)out)->sin6_port = htons(port);
	return 0;
}

void tp_name_hints(struct addrinfo *hints)
{
	memset(hints, 0, sizeof(*hints));
	hints->ai_family = AF_UNSPEC;
	hints->ai_socktype = SOCK_STREAM;
	hints->ai_protocol = IPPROTO_TCP;
}

uint16_t tp_sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}
