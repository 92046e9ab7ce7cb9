/* SPDX-License-Identifier: MIT */
/* tunplug — dispatch of new flows (see dispatch.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/dispatch.h"

#define NIL UINT32_MAX
#define MAX_LABELS 128 /* a 253-byte name has at most 127 */

/* FNV-1a of s[0..len). */
static uint32_t dom_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h;
}

/* The first rule whose domain is s[0..len) (lower case), or NIL. */
static uint32_t dom_find(const struct tp_dispatch *d, const char *s, size_t len)
{
	uint32_t h = dom_hash(s, len);

	if (!d->dom)
		return NIL;
	for (size_t i = h & d->dom_mask;; i = (i + 1) & d->dom_mask) {
		const struct tp_dom_slot *sl = &d->dom[i];

		if (sl->first == NIL)
			return NIL;
		if (sl->hash == h) {
			const char *dn = d->rules[sl->first].domain;

			if (!strncmp(dn, s, len) && dn[len] == '\0')
				return sl->first;
		}
	}
}

/* The index: rules without a domain in d->plain, the others by domain,
 * each domain's rules linked in order through dom_next. */
static int index_rules(struct tp_dispatch *d)
{
	size_t n_dom = 0, slots = 16;
	uint32_t *last;

	d->plain = malloc((d->n_rules ? d->n_rules : 1) * sizeof(*d->plain));
	d->dom_next = malloc((d->n_rules ? d->n_rules : 1) * sizeof(*d->dom_next));
	if (!d->plain || !d->dom_next)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_rules; i++)
		n_dom += d->rules[i].domain[0] != '\0';
	if (!n_dom) {
		for (size_t i = 0; i < d->n_rules; i++)
			d->plain[d->n_plain++] = (uint32_t)i;
		return 0;
	}
	while (slots < 2 * n_dom)
		slots *= 2;
	d->dom = malloc(slots * sizeof(*d->dom));
	last = malloc(slots * sizeof(*last)); /* per slot: its domain's last rule */
	if (!d->dom || !last) {
		free(last);
		return -ENOMEM;
	}
	for (size_t i = 0; i < slots; i++)
		d->dom[i] = (struct tp_dom_slot){0, NIL};
	d->dom_mask = slots - 1;
	for (size_t i = 0; i < d->n_rules; i++) {
		const char *dn = d->rules[i].domain;
		size_t len = strlen(dn), k;
		uint32_t h;

		d->dom_next[i] = NIL;
		if (!len) {
			d->plain[d->n_plain++] = (uint32_t)i;
			continue;
		}
		h = dom_hash(dn, len);
		for (k = h & d->dom_mask; d->dom[k].first != NIL; k = (k + 1) & d->dom_mask)
			if (d->dom[k].hash == h && !strcmp(d->rules[d->dom[k].first].domain, dn))
				break;
		if (d->dom[k].first == NIL) {
			d->dom[k] = (struct tp_dom_slot){h, (uint32_t)i};
		} else {
			d->dom_next[last[k]] = (uint32_t)i;
		}
		last[k] = (uint32_t)i;
	}
	free(last);
	return 0;
}

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
	if (n_rules >= NIL - 1) {
		fprintf(stderr, "tunplug: too many rules\n");
		return -E2BIG;
	}
	d->rules = calloc(n_rules + 1, sizeof(*d->rules));
	if (!d->rules) {
		fprintf(stderr, "tunplug: out of memory for %zu rules\n", n_rules);
		return -ENOMEM;
	}
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
	if (n_rules)
		memcpy(d->rules + d->n_rules, rules, n_rules * sizeof(*rules));
	d->n_rules += n_rules;
	for (size_t i = 0; i < d->n_rules; i++) {
		k = tp_registry_get(reg, d->rules[i].handler);
		if (k < 0)
			return k;
		d->rules[i].inst = (unsigned)k;
	}
	if (index_rules(d)) {
		fprintf(stderr, "tunplug: out of memory for the rules' index\n");
		return -ENOMEM;
	}
	return 0;
}

void tp_dispatch_replace(struct tp_dispatch *d, struct tp_dispatch *next)
{
	tp_dispatch_close(d);
	*d = *next;
	memset(next, 0, sizeof(*next));
}

void tp_dispatch_close(struct tp_dispatch *d)
{
	free(d->rules);
	free(d->plain);
	free(d->dom);
	free(d->dom_next);
	d->rules = NULL;
	d->plain = d->dom_next = NULL;
	d->dom = NULL;
	d->n_rules = d->n_plain = 0;
}

/* The next rule in order: the smallest of the next plain rule and the
 * heads of the matched domains' lists (advanced past it). NIL at the end. */
static uint32_t next_rule(const struct tp_dispatch *d, size_t *pi, uint32_t *heads, size_t nh)
{
	uint32_t best = *pi < d->n_plain ? d->plain[*pi] : NIL;
	size_t bk = nh;

	for (size_t k = 0; k < nh; k++)
		if (heads[k] < best) {
			best = heads[k];
			bk = k;
		}
	if (best == NIL)
		return NIL;
	if (bk < nh)
		heads[bk] = d->dom_next[best];
	else
		(*pi)++;
	return best;
}

int tp_dispatch_offer(const struct tp_dispatch *d, struct tp_flow *f,
                      const struct tp_flow_info *info, const void *buf, size_t len,
                      struct tp_hinst **owner)
{
	const struct sockaddr *src = (const struct sockaddr *)&info->src;
	const struct sockaddr *dst = (const struct sockaddr *)&info->dst;
	uint32_t heads[MAX_LABELS];
	size_t nh = 0, pi = 0;

	/* the domain rules for each suffix of the name */
	if (info->name && d->dom) {
		char nm[TP_RULE_DOMAIN_MAX + 2];
		size_t nl = strnlen(info->name, sizeof(nm));

		/* lower case, no trailing dot (as the host's names are) */
		if (nl == sizeof(nm))
			nl = 0;
		for (size_t i = 0; i < nl; i++) {
			char c = info->name[i];

			nm[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		}
		if (nl && nm[nl - 1] == '.')
			nl--;
		for (size_t at = 0; at < nl && nh < MAX_LABELS;) {
			uint32_t first = dom_find(d, nm + at, nl - at);
			const char *dot;

			if (first != NIL)
				heads[nh++] = first;
			dot = memchr(nm + at, '.', nl - at);
			if (!dot)
				break;
			at = (size_t)(dot - nm) + 1;
		}
	}
	for (;;) {
		uint32_t i = next_rule(d, &pi, heads, nh);
		struct tp_hinst *hi;
		int r;

		if (i != NIL) {
			if (!tp_rule_match(&d->rules[i], info->proto, src, dst))
				continue;
			hi = tp_registry_at(d->reg, d->rules[i].inst);
		} else {
			hi = tp_registry_at(d->reg, 0);
		}
		if (hi) {
			*owner = hi;
			if (info->proto == IPPROTO_TCP)
				r = hi->h->tcp_accept ? hi->h->tcp_accept(hi->state, f)
				                      : TP_DECLINED;
			else if (hi->h->udp_datagram)
				r = hi->h->udp_datagram(hi->state, f, buf, len);
			else
				r = TP_DECLINED;
			if (r != TP_DECLINED)
				return r;
			*owner = NULL;
		}
		if (i == NIL)
			return TP_DECLINED;
	}
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
