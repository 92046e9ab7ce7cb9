/* SPDX-License-Identifier: MIT */
/* tunplug — command-line options (pure parsing, no I/O). */
#ifndef TUNPLUG_GW_OPTIONS_H
#define TUNPLUG_GW_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"
#include "tunplug/handler.h" /* enum tp_log_level */
#include "tunplug/addr.h"

#define TP_OPT_MAX_ADDRS 16
#define TP_OPT_MAX_ROUTES 64
#define TP_OPT_MAX_RULES 48
#define TP_OPT_MAX_DNS 8
#define TP_OPT_MAX_PLUGINS 16
#define TP_OPT_MAX_EXCLUDES 64
#define TP_OPT_MAX_UIDS 16
/* --auto-route defaults: routing table and (without --fwmark) socket mark */
#define TP_AUTOROUTE_TABLE 0x7470u
#define TP_AUTOROUTE_MARK 0x7470u
#define TP_OPT_MAX_QUEUES 64
#define TP_UID_MAX 4294967294u /* (uid_t)-1 is not a uid */

struct tp_uid_range {
	uint32_t lo, hi; /* inclusive */
};

/* Log levels: enum tp_log_level of handler.h. */

struct tp_config;

struct tp_options {
	const char *tun_name; /* points into argv or a literal */
	int tun_fd;           /* -1 = open tun_name ourselves */
	/* --queues: worker processes on a multi-queue tun (master.c);
	 * 1 = the single process (default), 0 = auto (online CPUs) */
	unsigned queues;
	struct tp_cidr addrs[TP_OPT_MAX_ADDRS];
	size_t n_addrs;
	struct tp_cidr routes[TP_OPT_MAX_ROUTES];
	size_t n_routes;
	unsigned mtu;
	bool mtu_set;
	const char *handler; /* default handler spec; points into argv or a literal */
	struct tp_rule rules[TP_OPT_MAX_RULES];
	size_t n_rules;
	const char *dns_upstreams[TP_OPT_MAX_DNS]; /* "ADDR:PORT", point into argv */
	size_t n_dns;
	const char *plugins[TP_OPT_MAX_PLUGINS]; /* shared objects to load, point into argv */
	size_t n_plugins;
	const char *user;           /* --user: drop to this user after set-up */
	const char *bind_interface; /* NULL = none */
	uint32_t fwmark;
	bool fwmark_set;
	/* --auto-route: capture everything (policy rules, see autoroute.h);
	 * it sets fwmark to TP_AUTOROUTE_MARK when --fwmark is not given */
	bool auto_route;
	uint32_t route_table; /* --route-table, default TP_AUTOROUTE_TABLE */
	struct tp_cidr excludes[TP_OPT_MAX_EXCLUDES]; /* --exclude */
	size_t n_excludes;
	struct tp_uid_range include_uids[TP_OPT_MAX_UIDS]; /* --include-uid */
	size_t n_include_uids;
	struct tp_uid_range exclude_uids[TP_OPT_MAX_UIDS]; /* --exclude-uid */
	size_t n_exclude_uids;
	unsigned max_flows;
	unsigned connect_timeout_s;
	unsigned idle_timeout_s; /* 0 = no idle timeout */
	size_t flow_buffer;
	unsigned udp_timeout_s;     /* UDP flow idle timeout */
	unsigned udp_dns_timeout_s; /* ... for flows to port 53 */
	unsigned max_udp_flows;     /* beyond it the longest idle is evicted */
	bool icmp_drop;             /* --icmp drop: do not answer echo requests */
	bool allow_loopback;
	bool no_offload; /* plain tun, no virtio_net_hdr */
	int log_level;   /* enum tp_log_level */
	/* -c/--config FILE (NULL = none); --check-config: validate only */
	const char *config_path;
	bool check_config;
	/* per-handler options from the config file (tp_config_handler_opts);
	 * NULL = none. Set by main after loading the file. */
	const struct tp_config *config;
	bool help;
	bool version;
};

/* Fill *o with the defaults. */
void tp_options_defaults(struct tp_options *o);

/* Parse argv into *o (defaults first). Returns 0, or -EINVAL with a
 * one-line message (naming the option and the value, no newline) in
 * err[0..errlen). Strings in *o borrow argv, which must outlive *o.
 * Resets getopt's state, so it may be called repeatedly. */
int tp_options_parse(struct tp_options *o, int argc, char **argv, char *err, size_t errlen);

/* Like tp_options_parse without the checks of the whole set (handler
 * names, option combinations): each option's own syntax and range only.
 * For finding -c FILE, --help and --version before the file is read. */
int tp_options_scan(struct tp_options *o, int argc, char **argv, char *err, size_t errlen);

/* The same on top of *o as it is (filled from a config file): a single
 * option replaces the value, repeatable ones (--address, --route, --rule,
 * --dns-upstream, --plugin) are appended after what *o has. */
int tp_options_parse_over(struct tp_options *o, int argc, char **argv, char *err, size_t errlen);

/* Set one option, named as its long form without "--" ("mtu",
 * "no-offload"), from value (NULL for a flag) on top of *o, validated as on
 * the command line; value is borrowed (*o may keep it). Returns 0, -ENOENT
 * for no such option, or -EINVAL with the reason (the value and what it
 * should be; no "tunplug: --name: " prefix, no newline) in err. The checks
 * of the whole set (handler names, --tun-fd) are not made. */
int tp_options_set(struct tp_options *o, const char *name, const char *value, char *err,
                   size_t errlen);

/* Is spec ("name" or "name://target") a built-in handler? 0, or -EINVAL
 * with the reason (no prefix, no newline) in err. */
int tp_options_check_handler(const char *spec, char *err, size_t errlen);

/* The --help text (static storage; never free it). */
const char *tp_options_usage(void);

#endif
