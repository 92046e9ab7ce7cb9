/* SPDX-License-Identifier: MIT */
/* tunplug — dispatch: which handler instance gets a new flow. The rules in
 * order (their handlers may decline), then the default handler. */
#ifndef TUNPLUG_GW_DISPATCH_H
#define TUNPLUG_GW_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "registry/registry.h"
#include "dispatch/rules.h"

#define TP_MAX_RULES 64

struct tp_dispatch {
	struct tp_registry *reg; /* borrowed */
	struct tp_rule rules[TP_MAX_RULES];
	size_t n_rules;
	char dns_target[256]; /* --dns-upstream list as a "dns://A,B" spec */
};

/* Instances and rules, registered in reg (everything borrowed for d's
 * life): instance 0 = default_spec (--handler); a non-empty dns list
 * (--dns-upstream "ADDR:PORT"s) adds "dns://UP1,UP2" and a first rule
 * proto=udp,port=53 for it; then the rules (--rule). Returns 0 or -errno
 * after a message on stderr. */
int tp_dispatch_configure(struct tp_dispatch *d, struct tp_registry *reg, const char *default_spec,
                          const char *const *dns, size_t n_dns, const struct tp_rule *rules,
                          size_t n_rules);

/* A SIGHUP reload: d takes the rules of next (configured against the
 * registry while it staged the new set, which is committed now); next is
 * left empty. The relay keeps pointing at d. */
void tp_dispatch_replace(struct tp_dispatch *d, struct tp_dispatch *next);

/* Offer the new flow f (described by info) to the handler of each matching
 * rule in order, then to the default handler; the first answer other than
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
