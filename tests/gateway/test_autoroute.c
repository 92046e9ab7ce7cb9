/* SPDX-License-Identifier: MIT */
/* tunplug — --auto-route without the kernel: its options (gateway/src/
 * options.c) and the rule plan (gateway/src/autoroute.c): order,
 * priorities, the include-uid complement. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "netcfg/autoroute.h"
#include "options/options.h"

static struct tp_options opt;
static char err[256];

/* Parse argv[1..] (NULL-terminated); returns tp_options_parse's result. */
static int parse(const char *const *args)
{
	static char store[32][64];
	static char *argv[34];
	int argc = 0;

	argv[argc++] = "tunplug";
	for (int i = 0; args[i] && argc < 33; i++) {
		snprintf(store[argc], sizeof(store[argc]), "%s", args[i]);
		argv[argc] = store[argc];
		argc++;
	}
	argv[argc] = NULL;
	err[0] = '\0';
	return tp_options_parse(&opt, argc, argv, err, sizeof(err));
}

#define PARSE(...) parse((const char *const[]){__VA_ARGS__, NULL})

TP_TEST(options_defaults)
{
	CHECK_EQ(PARSE("--auto-route"), 0, "--auto-route");
	CHECK(opt.auto_route && opt.fwmark_set && opt.fwmark == TP_AUTOROUTE_MARK &&
	              opt.route_table == TP_AUTOROUTE_TABLE,
	      "defaults: mark 0x%x table %u", opt.fwmark, opt.route_table);
	OK("--auto-route alone: fwmark 0x7470 implied, table 0x7470");
}

TP_TEST(options_all)
{
	CHECK_EQ(PARSE("--auto-route", "--fwmark", "0x7", "--route-table", "100", "--exclude",
	               "192.0.2.1", "--exclude", "2001:db8::/32", "--include-uid", "1000-1999",
	               "--exclude-uid", "0", "--exclude-uid", "5-7"),
	         0, "everything");
	CHECK(opt.fwmark == 7 && opt.route_table == 100 && opt.n_excludes == 2 &&
	              opt.excludes[0].prefix == 32 && opt.excludes[1].family == AF_INET6 &&
	              opt.n_include_uids == 1 && opt.include_uids[0].lo == 1000 &&
	              opt.include_uids[0].hi == 1999 && opt.n_exclude_uids == 2 &&
	              opt.exclude_uids[0].lo == 0 && opt.exclude_uids[0].hi == 0 &&
	              opt.exclude_uids[1].lo == 5 && opt.exclude_uids[1].hi == 7,
	      "fields");
	OK("--fwmark 0x7 --route-table 100 --exclude x2 --include-uid 1000-1999 --exclude-uid "
	   "0 and 5-7");
}

TP_TEST(options_max)
{
	CHECK_EQ(
	        PARSE("--auto-route", "--route-table", "0xffffffff", "--exclude-uid", "4294967294"),
	        0, "max");
	CHECK(opt.route_table == 0xffffffffu && opt.exclude_uids[0].hi == 4294967294u, "max");
	OK("--route-table 0xffffffff, --exclude-uid 4294967294 accepted");
}

TP_TEST(options_refused)
{
	static const struct {
		const char *args[6];
		const char *want;
	} bad[] = {
	        {{"--exclude", "10.0.0.0/8"}, "--exclude needs --auto-route"},
	        {{"--include-uid", "1"}, "--include-uid needs --auto-route"},
	        {{"--exclude-uid", "1"}, "--exclude-uid needs --auto-route"},
	        {{"--route-table", "100"}, "--route-table needs --auto-route"},
	        {{"--auto-route", "--route-table", "254"}, "reserved"},
	        {{"--auto-route", "--route-table", "0"}, "--route-table"},
	        {{"--auto-route", "--fwmark", "0"}, "non-zero --fwmark"},
	        {{"--auto-route", "--tun-fd", "3"}, "--auto-route"},
	        {{"--auto-route", "--exclude-uid", "7-5"}, "\"7-5\""},
	        {{"--auto-route", "--exclude-uid", "4294967295"}, "4294967295"},
	        {{"--auto-route", "--exclude-uid", "-5"}, "\"-5\""},
	        {{"--auto-route", "--exclude-uid", "5-"}, "\"5-\""},
	        {{"--auto-route", "--include-uid", "a"}, "\"a\""},
	        {{"--auto-route", "--exclude", "10.0.0.0/33"}, "--exclude"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(parse(bad[i].args), -EINVAL, bad[i].want);
		CHECK(strstr(err, bad[i].want) != NULL, "message '%s' lacks '%s'", err,
		      bad[i].want);
	}
	OK("refused with a message: --exclude/--include-uid/--exclude-uid/--route-table without "
	   "--auto-route, table 254 and 0, --fwmark 0, --tun-fd, uid ranges 7-5, 4294967295, "
	   "-5, 5-, a, prefix /33");
}

TP_TEST(options_fwmark_alone)
{
	CHECK_EQ(PARSE("--fwmark", "0"), 0, "--fwmark 0 without --auto-route");
	CHECK_EQ(PARSE("--route-table", "0x7470"), 0, "the default table needs nothing");
	OK("--fwmark 0 alone is fine (no auto-route)");
}

TP_TEST(complement)
{
	struct tp_uid_range in[3], out[4];
	size_t n;

	in[0] = (struct tp_uid_range){1000, 1999};
	n = tp_ar_uid_complement(in, 1, out, 4);
	CHECK(n == 2 && out[0].lo == 0 && out[0].hi == 999 && out[1].lo == 2000 &&
	              out[1].hi == TP_UID_MAX,
	      "one range: %zu", n);
	/* unsorted, overlapping, touching 0 and the top */
	in[0] = (struct tp_uid_range){500, 600};
	in[1] = (struct tp_uid_range){0, 10};
	in[2] = (struct tp_uid_range){550, TP_UID_MAX};
	n = tp_ar_uid_complement(in, 3, out, 4);
	CHECK(n == 1 && out[0].lo == 11 && out[0].hi == 499, "three: %zu", n);
	in[0] = (struct tp_uid_range){0, TP_UID_MAX};
	CHECK_EQ(tp_ar_uid_complement(in, 1, out, 4), 0, "everything included");
	in[0] = (struct tp_uid_range){5, 5};
	in[1] = (struct tp_uid_range){6, 6};
	n = tp_ar_uid_complement(in, 2, out, 4);
	CHECK(n == 2 && out[0].hi == 4 && out[1].lo == 7, "adjacent: %zu", n);
	CHECK_EQ(tp_ar_uid_complement(in, 2, out, 2), 0, "cap too small");
	OK("uid complement: 1000-1999 -> 0-999, 2000-max; unsorted/overlapping; all; adjacent; "
	   "cap");
}

TP_TEST(plan_default)
{
	struct tp_nl_rule r[TP_AR_MAX_RULES];
	size_t n;

	CHECK_EQ(PARSE("--auto-route"), 0, "parse");
	n = tp_ar_plan(&opt, AF_INET, r, TP_AR_MAX_RULES);
	CHECK_EQ(n, 2, "two rules");
	if (n == 2) {
		CHECK(r[0].priority == TP_AR_PRIO_SUPPRESS && r[0].table == RT_TABLE_MAIN &&
		              r[0].suppress_prefixlen == 0 && !r[0].invert && !r[0].has_fwmark,
		      "suppress first");
		CHECK(r[1].priority == TP_AR_PRIO_CAPTURE && r[1].table == TP_AUTOROUTE_TABLE &&
		              r[1].invert && r[1].has_fwmark && r[1].fwmark == TP_AUTOROUTE_MARK &&
		              r[1].fwmask == 0xffffffffu && r[1].suppress_prefixlen == -1,
		      "capture last");
		CHECK(r[0].protocol == TP_NL_PROTO && r[1].protocol == TP_NL_PROTO &&
		              r[0].family == AF_INET,
		      "tagged");
		CHECK(r[0].priority < r[1].priority && r[1].priority <= TP_NL_PRIO_HI &&
		              r[0].priority >= TP_NL_PRIO_LO,
		      "in the window, suppress before capture (as wg-quick)");
	}
	OK("plan: 'lookup main suppress_prefixlength 0' then 'not fwmark 0x7470 lookup 29808', "
	   "tagged, inside the priority window");
}

TP_TEST(plan_excludes)
{
	struct tp_nl_rule r[TP_AR_MAX_RULES];
	size_t n;

	CHECK_EQ(PARSE("--auto-route", "--exclude", "192.0.2.0/24", "--exclude", "2001:db8::1",
	               "--exclude", "198.51.100.7", "--include-uid", "1000", "--exclude-uid", "33"),
	         0, "parse");
	n = tp_ar_plan(&opt, AF_INET, r, TP_AR_MAX_RULES);
	/* 2 excludes, 1 exclude-uid, 2 complement ranges, suppress, capture */
	CHECK_EQ(n, 7, "v4 rules");
	if (n == 7) {
		CHECK(r[0].has_dst && r[0].dst.prefix == 24 && r[0].table == RT_TABLE_MAIN &&
		              r[0].priority == TP_AR_PRIO_EXCLUDE,
		      "exclude 1");
		CHECK(r[1].has_dst && r[1].dst.prefix == 32 && r[1].priority == TP_AR_PRIO_EXCLUDE,
		      "exclude 2 (v6 one skipped)");
		CHECK(r[2].has_uid && r[2].uid_lo == 33 && r[2].uid_hi == 33 &&
		              r[2].priority == TP_AR_PRIO_UID && r[2].table == RT_TABLE_MAIN,
		      "exclude-uid");
		CHECK(r[3].has_uid && r[3].uid_lo == 0 && r[3].uid_hi == 999 && r[4].has_uid &&
		              r[4].uid_lo == 1001 && r[4].uid_hi == TP_UID_MAX,
		      "include-uid complement");
		CHECK(r[5].priority == TP_AR_PRIO_SUPPRESS && r[6].priority == TP_AR_PRIO_CAPTURE,
		      "suppress, capture");
		CHECK(TP_AR_PRIO_EXCLUDE < TP_AR_PRIO_SUPPRESS &&
		              TP_AR_PRIO_UID < TP_AR_PRIO_SUPPRESS,
		      "excludes before the others");
	}
	n = tp_ar_plan(&opt, AF_INET6, r, TP_AR_MAX_RULES);
	CHECK_EQ(n, 6, "v6 rules");
	if (n == 6)
		CHECK(r[0].family == AF_INET6 && r[0].has_dst && r[0].dst.prefix == 128 &&
		              r[1].has_uid,
		      "v6 exclude then uids");
	CHECK_EQ(tp_ar_plan(&opt, AF_INET, r, 3), 0, "cap too small");
	OK("plan: excludes (own family only), exclude-uid, include-uid complement, suppress, "
	   "capture; cap too small -> 0");
}
