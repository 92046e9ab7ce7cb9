/* SPDX-License-Identifier: MIT */
/* tunplug — dispatch of new flows (see dispatch.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dispatch/dispatch.h"

int tp_dispatch_configure(struct tp_dispatch *d, struct tp_registry *reg, const char *default_spec,
                          const char *const *dns, size_t n_dns, const struct tp_rule *rules,
                          size_t n_rules)
{
	int k;

	memset(d, 0, sizeof(*d));
	d->reg = reg;
	k = tp_registry_get(reg, default_spec);
	if (k < 0)
		return k;
	if (n_dns) {
		struct tp_rule *r = &d->rules[d->n_rules++];
		size_t n = (size_t)snprintf(d->dns_target, sizeof(d->dns_target), "dns://");

		for (size_t i = 0; i < n_dns && n < sizeof(d->dns_target); i++)
			n += (size_t)snprintf(d->dns_target + n, sizeof(d->dns_target) - n, "%s%s",
			                      i ? "," : "", dns[i]);
		memset(r, 0, sizeof(*r));
		r->proto = IPPROTO_UDP;
		r->port_lo = r->port_hi = 53;
		if (n >= sizeof(r->handler)) {
			fprintf(stderr, "tunplug: --dns-upstream: the list is too long\n");
			return -E2BIG;
		}
		memcpy(r->handler, d->dns_target, n + 1);
	}
	for (size_t i = 0; i < n_rules && d->n_rules < TP_MAX_RULES; i++)
		d->rules[d->n_rules++] = rules[i];
	for (size_t i = 0; i < d->n_rules; i++) {
		k = tp_registry_get(reg, d->rules[i].handler);
		if (k < 0)
			return k;
		d->rules[i].inst = (unsigned)k;
	}
	return 0;
}

void tp_dispatch_replace(struct tp_dispatch *d, struct tp_dispatch *next)
{
	*d = *next;
	memset(next, 0, sizeof(*next));
}

int tp_dispatch_offer(const struct tp_dispatch *d, struct tp_flow *f,
                      const struct tp_flow_info *info, const void *buf, size_t len,
                      struct tp_hinst **owner)
{
	const struct sockaddr *src = (const struct sockaddr *)&info->src;
	const struct sockaddr *dst = (const struct sockaddr *)&info->dst;

	for (size_t i = 0; i <= d->n_rules; i++) {
		struct tp_hinst *hi;
		int r;

		if (i < d->n_rules) {
			if (!tp_rule_match(&d->rules[i], info->proto, src, dst))
				continue;
			hi = tp_registry_at(d->reg, d->rules[i].inst);
		} else {
			hi = tp_registry_at(d->reg, 0);
		}
		if (!hi)
			continue;
		*owner = hi;
		if (info->proto == IPPROTO_TCP)
			r = hi->h->tcp_accept ? hi->h->tcp_accept(hi->state, f) : TP_DECLINED;
		else if (hi->h->udp_datagram)
			r = hi->h->udp_datagram(hi->state, f, buf, len);
		else
			r = TP_DECLINED;
		if (r != TP_DECLINED)
			return r;
		*owner = NULL;
	}
	return TP_DECLINED;
}

bool tp_dispatch_wants_sniff(const struct tp_dispatch *d, const struct tp_flow_info *info)
{
	for (size_t i = 0; i < d->n_rules; i++)
		if (d->rules[i].sniff &&
		    tp_rule_match(&d->rules[i], info->proto, (const struct sockaddr *)&info->src,
		                  (const struct sockaddr *)&info->dst))
			return true;
	return false;
}
