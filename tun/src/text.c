/* SPDX-License-Identifier: MIT */
/* tunplug — small text helpers (see text.h). No I/O. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>

#include "tunplug/text.h"

char *tp_sockaddr_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, a, sizeof(a));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, a, sizeof(a));
	if (len)
		snprintf(buf, len, "%s", a);
	return buf;
}

char *tp_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!len)
		return buf;
	tp_sockaddr_addr_str(sa, a, sizeof(a));
	if (sa && sa->sa_family == AF_INET)
		snprintf(buf, len, "%s:%u", a, ntohs(((const struct sockaddr_in *)sa)->sin_port));
	else if (sa && sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", a,
		         ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	else
		snprintf(buf, len, "?");
	return buf;
}

int tp_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}
