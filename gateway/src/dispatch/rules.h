/* SPDX-License-Identifier: MIT */
/* tunplug — flow rules: which handler instance gets a flow (pure code).
 *
 * A rule is written as comma-separated key=value pairs, handler last:
 *   proto=tcp,dst=198.19.0.0/16,port=80-443,src=10.0.0.0/8,handler=socks5://h:1080
 *   domain=example.com,port=443,handler=direct
 * Every key but handler is optional (proto: tcp|udp|any; sniff: 0|1). Rules are tried in
 * order; the first match wins; a handler that answers TP_DECLINED passes the
 * flow on to the next matching rule, then to the default handler.
 *
 * domain=NAME matches a flow whose name (tp_flow_info.name: fake-IP or
 * sniffed) is NAME or ends in ".NAME" (on a label boundary: example.com
 * matches a.example.com, not badexample.com); case and a trailing dot do
 * not matter. A flow without a name never matches a domain rule. */
#ifndef TUNPLUG_GW_RULES_H
#define TUNPLUG_GW_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tunplug/addr.h"

#define TP_RULE_DOMAIN_MAX 253

struct tp_rule {
	int proto; /* 0 = any, IPPROTO_TCP, IPPROTO_UDP */
	bool has_dst, has_src;
	struct tp_cidr dst, src; /* network bits only matter */
	uint16_t port_lo, port_hi;
	char domain[TP_RULE_DOMAIN_MAX + 1]; /* "" = any; lower case, no trailing dot */
	char handler[256];                   /* the handler spec ("direct", "socks5://...") */
	unsigned inst; /* index of its handler instance (set by the gateway) */
	/* sniff=1: flows this rule could match are sniffed for their name
	 * before dispatch (relay/sniff.c) */
	bool sniff;
};

/* tp_errf (tunplug/text.h): the error convention of options, rules and
 * config parsing. */
#include "tunplug/text.h"

/* Parse text into *r. Returns 0, or -EINVAL with a message naming the key
 * (no newline) in err. */
int tp_rule_parse(const char *text, struct tp_rule *r, char *err, size_t errlen);

/* A rule that matches everything (port 1..65535) and has no handler yet. */
void tp_rule_init(struct tp_rule *r);

/* Set one key (proto, dst, src, port, sniff, handler) of *r from val, as in the
 * text form. Returns 0, -ENOENT for an unknown key, or -EINVAL with the
 * reason (the value and what it should be, no key, no newline) in err. */
int tp_rule_set(struct tp_rule *r, const char *key, const char *val, char *err, size_t errlen);

/* Does flow (proto, src, dst) match r's proto, addresses and ports? r's
 * domain is not looked at (dispatch finds domain rules by name; see
 * tp_rule_match_flow). Pure. */
bool tp_rule_match(const struct tp_rule *r, int proto, const struct sockaddr *src,
                   const struct sockaddr *dst);

/* The whole rule: tp_rule_match and, for a domain rule, the flow's name
 * (NULL = none: no match). Pure. */
bool tp_rule_match_flow(const struct tp_rule *r, int proto, const struct sockaddr *src,
                        const struct sockaddr *dst, const char *name);

/* Is name (any case, an optional trailing dot; borrowed) domain or below
 * it, on a label boundary? domain as tp_rule's (lower case, no trailing
 * dot). Pure. */
bool tp_domain_match(const char *domain, const char *name);

/* domain[0..len) as a rule's domain into out (lower case, the trailing
 * dot dropped; labels of letters, digits, '-', '_', 1..63 bytes; at most
 * TP_RULE_DOMAIN_MAX). Returns its length, or 0 when it is not a name. */
size_t tp_domain_normalize(const char *domain, size_t len, char *out, size_t cap);

/* Split a handler spec "name://target" or "name": copies the name into
 * name[0..nlen) and returns a pointer to the target inside spec ("" if
 * none), or NULL if the name does not fit or is empty. */
const char *tp_handler_spec_split(const char *spec, char *name, size_t nlen);

/* spec with "user:password@" replaced by "***@" (for logs) in out. */
const char *tp_handler_spec_redact(const char *spec, char *out, size_t len);

#endif
