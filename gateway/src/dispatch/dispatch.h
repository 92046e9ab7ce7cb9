/* SPDX-License-Identifier: MIT */
/* tunplug — dispatch: which handler instance gets a new flow. The rules in
 * order (their handlers may decline), then the default handler.
 *
 * Domain rules are many (lists of thousands), so they are not tried one by
 * one: a hash table maps each rule domain to its rules (in rule order). A
 * named flow looks up each suffix of its name on a label boundary
 * (a.example.com, example.com, com), at most 127 lookups; the rules found
 * are merged in rule order with the rules that have no domain, so the
 * first match still wins across kinds. A flow without a name only walks
 * the rules without a domain. */
#ifndef TUNPLUG_GW_DISPATCH_H
#define TUNPLUG_GW_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"
#include "dispatch/rules.h"

/* One domain of the index: its hash and its first rule. */
struct tp_dom_slot {
	uint32_t hash;
	uint32_t first; /* UINT32_MAX: empty slot */
};

struct tp_dispatch {
	struct tp_registry *reg; /* borrowed */
	struct tp_rule *rules;   /* owned: a copy, n_rules of them */
	size_t n_rules;
	uint32_t *plain; /* the rules without a domain, in order (n_plain) */
	size_t n_plain;
	struct tp_dom_slot *dom; /* open addressing, dom_mask + 1 slots */
	size_t dom_mask;
	uint32_t *dom_next;   /* per rule: the next rule of its domain, or UINT32_MAX */
	char dns_target[256]; /* --dns-upstream list as a "dns://A,B" spec */
};

/* Instances and rules, registered in reg (everything borrowed for d's
 * life): instance 0 = default_spec (--handler); a non-empty dns list
 * (--dns-upstream "ADDR:PORT"s) adds "dns://UP1,UP2" and a first rule
 * proto=udp,port=53 for it; then the rules (--rule), copied, with their
 * domain index. Returns 0 or -errno after a message on stderr; call
 * tp_dispatch_close either way. */
int tp_dispatch_configure(struct tp_dispatch *d, struct tp_registry *reg, const char *default_spec,
                          const char *const *dns, size_t n_dns, const struct tp_rule *rules,
                          size_t n_rules);

/* A SIGHUP reload: d takes the rules of next (configured against the
 * registry while it staged the new set, which is committed now); d's old
 * rules are freed and next is left empty. The relay keeps pointing at d. */
void tp_dispatch_replace(struct tp_dispatch *d, struct tp_dispatch *next);
/* Free what tp_dispatch_configure allocated (d may be zeroed). */
void tp_dispatch_close(struct tp_dispatch *d);

/* Offer the new flow f (described by info) to the handler of each matching
 * rule in order (info->name for domain rules), then to the default handler; the first answer other than
 * TP_DECLINED wins. *owner is set to each instance before it is asked (a
 * handler may decide the flow from inside its callback) and to NULL again
 * when it declines. For UDP, buf/len is the first datagram. Returns the
 * winning answer, or TP_DECLINED. Everything is borrowed. */
int tp_dispatch_offer(const struct tp_dispatch *d, struct tp_flow *f,
                      const struct tp_flow_info *info, const void *buf, size_t len,
                      struct tp_hinst **owner);

/* Is the new flow (info; no name yet) one a rule with sniff=1 matches?
 * Then its name is sniffed before tp_dispatch_offer. Borrowed. */
bool tp_dispatch_wants_sniff(const struct tp_dispatch *d, const struct tp_flow_info *info);

#endif
