/* SPDX-License-Identifier: MIT */
/* tunplug — --auto-route: routes and policy rules that send everything but
 * the gateway's own (marked) sockets into the tun; see autoroute.h. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netcfg/autoroute.h"
#include "log.h"

static int cmp_range(const void *a, const void *b)
{
	const struct tp_uid_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* in and out are the caller's; out needs n + 1 entries. */
size_t tp_ar_uid_complement(const struct tp_uid_range *in, size_t n, struct tp_uid_range *out,
                            size_t cap)
{
	struct tp_uid_range s[TP_OPT_MAX_UIDS];
	uint64_t next = 0; /* the lowest uid not yet covered or emitted */
	size_t k = 0;

	if (n > TP_OPT_MAX_UIDS || cap < n + 1)
		return 0;
	memcpy(s, in, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_range);
	for (size_t i = 0; i < n; i++) {
		if (s[i].lo > next)
			out[k++] = (struct tp_uid_range){(uint32_t)next, s[i].lo - 1};
		if ((uint64_t)s[i].hi + 1 > next)
			next = (uint64_t)s[i].hi + 1;
	}
	if (next <= TP_UID_MAX)
		out[k++] = (struct tp_uid_range){(uint32_t)next, TP_UID_MAX};
	return k;
}

static struct tp_nl_rule base_rule(int family, uint32_t prio, uint32_t table)
{
	struct tp_nl_rule r;

	memset(&r, 0, sizeof(r));
	r.family = (uint8_t)family;
	r.protocol = TP_NL_PROTO;
	r.priority = prio;
	r.table = table;
	r.suppress_prefixlen = -1;
	return r;
}

/* o is borrowed; out is the caller's. */
size_t tp_ar_plan(const struct tp_options *o, int family, struct tp_nl_rule *out, size_t cap)
{
	struct tp_uid_range comp[TP_OPT_MAX_UIDS + 1];
	size_t n = 0, nc = 0;
	struct tp_nl_rule r;

#define ADD(rule)                  \
	do {                       \
		if (n == cap)      \
			return 0;  \
		out[n++] = (rule); \
	} while (0)
	for (size_t i = 0; i < o->n_excludes; i++) {
		if (o->excludes[i].family != family)
			continue;
		r = base_rule(family, TP_AR_PRIO_EXCLUDE, RT_TABLE_MAIN);
		r.has_dst = true;
		r.dst = o->excludes[i];
		ADD(r);
	}
	for (size_t i = 0; i < o->n_exclude_uids; i++) {
		r = base_rule(family, TP_AR_PRIO_UID, RT_TABLE_MAIN);
		r.has_uid = true;
		r.uid_lo = o->exclude_uids[i].lo;
		r.uid_hi = o->exclude_uids[i].hi;
		ADD(r);
	}
	if (o->n_include_uids)
		nc = tp_ar_uid_complement(o->include_uids, o->n_include_uids, comp,
		                          sizeof(comp) / sizeof(comp[0]));
	for (size_t i = 0; i < nc; i++) {
		r = base_rule(family, TP_AR_PRIO_UID, RT_TABLE_MAIN);
		r.has_uid = true;
		r.uid_lo = comp[i].lo;
		r.uid_hi = comp[i].hi;
		ADD(r);
	}
	r = base_rule(family, TP_AR_PRIO_SUPPRESS, RT_TABLE_MAIN);
	r.suppress_prefixlen = 0;
	ADD(r);
	r = base_rule(family, TP_AR_PRIO_CAPTURE, o->route_table);
	r.invert = true;
	r.has_fwmark = true;
	r.fwmark = o->fwmark;
	r.fwmask = 0xffffffffu;
	ADD(r);
#undef ADD
	return n;
}

/* One family: default route into the tun in table T, then the rules, the
 * capturing one last. -EAFNOSUPPORT from the route: no such family here. */
static int setup_family(struct tp_nl *nl, int ifindex, const struct tp_options *o, int family,
                        size_t *nrules)
{
	struct tp_nl_rule rules[TP_AR_MAX_RULES];
	struct tp_cidr def;
	size_t n;
	int ret;

	memset(&def, 0, sizeof(def));
	def.family = family;
	ret = tp_nl_route_add_proto(nl, ifindex, &def, o->route_table, TP_NL_PROTO);
	if (ret)
		return ret;
	n = tp_ar_plan(o, family, rules, TP_AR_MAX_RULES);
	if (!n)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		ret = tp_nl_rule_add(nl, &rules[i]);
		if (ret)
			return ret;
	}
	*nrules += n;
	return 0;
}

/* The non-negative decimal number a /proc file holds, or -1 (unreadable,
 * not a number, out of range). */
static int read_int(const char *path)
{
	FILE *f = fopen(path, "re");
	char buf[32], *end;
	long v = -1;

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f)) {
		errno = 0;
		v = strtol(buf, &end, 10);
		if (errno || end == buf || (*end && *end != '\n') || v < 0 || v > INT_MAX)
			v = -1;
	}
	fclose(f);
	return (int)v;
}

/* Strict reverse-path filtering (rp_filter 1, effective value max(all,
 * dev)) drops the replies to the gateway's own connections: their reverse
 * lookup is unmarked and so points into the tun. Warn per interface. */
static void warn_rp_filter(int ifindex)
{
	char path[320], tun[IF_NAMESIZE] = "";
	struct dirent *d;
	DIR *dir = opendir("/proc/sys/net/ipv4/conf");
	int all = read_int("/proc/sys/net/ipv4/conf/all/rp_filter");

	if (!dir)
		return;
	if_indextoname((unsigned)ifindex, tun);
	while ((d = readdir(dir))) {
		int v;

		if (d->d_name[0] == '.' || !strcmp(d->d_name, "all") ||
		    !strcmp(d->d_name, "default") || !strcmp(d->d_name, "lo") ||
		    !strcmp(d->d_name, tun))
			continue;
		snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", d->d_name);
		v = read_int(path);
		if ((v > all ? v : all) == 1)
			tp_log(TP_LOG_WARN,
			       "auto-route: %s has strict reverse-path filtering (rp_filter 1): "
			       "replies to the gateway's own connections through it will be "
			       "dropped; use loose mode: sysctl net.ipv4.conf.all.rp_filter=2 "
			       "net.ipv4.conf.%s.rp_filter=2",
			       d->d_name, d->d_name);
	}
	closedir(dir);
}

int tp_autoroute_setup(struct tp_nl *nl, int ifindex, const struct tp_options *o)
{
	unsigned stale_rules = 0, stale_routes = 0;
	size_t nrules = 0;
	int ret, v6;

	ret = tp_nl_purge(nl, TP_NL_PROTO, TP_NL_PRIO_LO, TP_NL_PRIO_HI, &stale_rules,
	                  &stale_routes);
	if (ret) {
		fprintf(stderr, "tunplug: auto-route: removing stale rules: %s: %s\n",
		        tp_nl_last_op(nl), strerror(-ret));
		return ret;
	}
	if (stale_rules || stale_routes)
		tp_log(TP_LOG_WARN,
		       "auto-route: removed %u stale rules and %u stale routes left by an earlier "
		       "run",
		       stale_rules, stale_routes);
	ret = setup_family(nl, ifindex, o, AF_INET, &nrules);
	if (ret) {
		fprintf(stderr, "tunplug: auto-route: %s: %s\n", tp_nl_last_op(nl), strerror(-ret));
		return ret;
	}
	v6 = setup_family(nl, ifindex, o, AF_INET6, &nrules);
	if (v6 == -EAFNOSUPPORT) {
		tp_log(TP_LOG_WARN, "auto-route: no IPv6 in this kernel: IPv4 only");
	} else if (v6) {
		fprintf(stderr, "tunplug: auto-route: %s: %s\n", tp_nl_last_op(nl), strerror(-v6));
		return v6;
	}
	warn_rp_filter(ifindex);
	tp_log(TP_LOG_INFO,
	       "auto-route: default route%s in table %u, %zu rules (pref %u..%u, proto %u); "
	       "sockets marked 0x%x bypass it",
	       v6 ? " (IPv4)" : "s (IPv4, IPv6)", o->route_table, nrules, TP_AR_PRIO_EXCLUDE,
	       TP_AR_PRIO_CAPTURE, TP_NL_PROTO, o->fwmark);
	return 0;
}
