/* SPDX-License-Identifier: MIT */
/* tunplug — addresses and CIDR prefixes (pure code, no I/O). */
#ifndef TUNPLUG_ADDR_H
#define TUNPLUG_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An IPv4 or IPv6 address with a prefix length. family is AF_INET or AF_INET6;
 * addr holds 4 or 16 bytes in network order (the rest zero). */
struct tp_cidr {
	int family;
	uint8_t addr[16];
	uint8_t prefix;
};

/* Parse "198.18.0.1/15", "fd00::1/64", or a bare address (prefix = 32/128).
 * Returns 0 or -EINVAL. Host bits are kept (an interface address needs them). */
int tp_cidr_parse(const char *s, struct tp_cidr *out);

/* Format as "addr/prefix" into buf (at least 50 bytes). Returns buf. */
char *tp_cidr_format(const struct tp_cidr *c, char *buf, size_t len);

/* True when addr (4 or 16 bytes, of family) lies inside c. */
bool tp_cidr_contains(const struct tp_cidr *c, int family, const void *addr);

#endif
