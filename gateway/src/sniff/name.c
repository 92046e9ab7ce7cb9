/* SPDX-License-Identifier: MIT */
/* tunplug — sniffing: name validation, the options, result names (see
 * sniff.h). No I/O. */
#include <errno.h>
#include <string.h>

#include "sniff/sniff.h"

enum tp_sniff_res tp_sniff_name(const uint8_t *in, size_t len, char *out)
{
	size_t label = 0;
	bool digits_dots = true;

	if (len && in[len - 1] == '.')
		len--;
	if (len == 0 || len > TP_SNIFF_NAME_MAX)
		return TP_SNIFF_MALFORMED;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (c == '.') {
			if (label == 0)
				return TP_SNIFF_MALFORMED;
			label = 0;
			continue;
		}
		if (++label > 63)
			return TP_SNIFF_MALFORMED;
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		           c == '_'))
			return TP_SNIFF_MALFORMED;
		if (c < '0' || c > '9')
			digits_dots = false;
	}
	if (label == 0)
		return TP_SNIFF_MALFORMED;
	if (digits_dots)
		return TP_SNIFF_NO_NAME; /* 192.0.2.1: an address, not a name */
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[len] = '\0';
	return TP_SNIFF_FOUND;
}

void tp_sniff_cfg_init(struct tp_sniff_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->timeout_ms = TP_SNIFF_TIMEOUT_MS;
	c->quic = true;
	c->ports[80 / 8] |= (uint8_t)(1u << (80 % 8));
	c->ports[443 / 8] |= (uint8_t)(1u << (443 % 8));
}

static bool port_num(const char *s, const char *end, unsigned *out)
{
	unsigned v = 0;

	if (s == end || end - s > 5)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*out = v;
	return true;
}

/* s is borrowed. */
int tp_sniff_cfg_ports(struct tp_sniff_cfg *c, const char *s)
{
	uint8_t ports[sizeof(c->ports)];

	memset(ports, 0, sizeof(ports));
	while (*s) {
		const char *end = strchr(s, ',');
		const char *dash;
		unsigned lo, hi;

		if (!end)
			end = s + strlen(s);
		dash = memchr(s, '-', (size_t)(end - s));
		if (!port_num(s, dash ? dash : end, &lo) ||
		    !port_num(dash ? dash + 1 : s, end, &hi) || lo > hi)
			return -EINVAL;
		for (unsigned p = lo; p <= hi; p++)
			ports[p / 8] |= (uint8_t)(1u << (p % 8));
		if (!*end)
			break;
		s = end + 1;
		if (!*s)
			return -EINVAL; /* a trailing comma */
	}
	if (!*s)
		return -EINVAL; /* empty */
	memcpy(c->ports, ports, sizeof(ports));
	return 0;
}

const char *tp_sniff_res_str(enum tp_sniff_res r)
{
	switch (r) {
	case TP_SNIFF_FOUND:
		return "found";
	case TP_SNIFF_NEED_MORE:
		return "need-more";
	case TP_SNIFF_NO_NAME:
		return "no-name";
	case TP_SNIFF_NOT_PROTO:
		return "not-proto";
	case TP_SNIFF_MALFORMED:
		return "malformed";
	}
	return "?";
}
