/* SPDX-License-Identifier: MIT */
/* tunplug — command-line options (pure parsing, no I/O). */
#ifndef TUNPLUG_GW_OPTIONS_H
#define TUNPLUG_GW_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispatch/rules.h"
#include "sniff/sniff.h"
#include "tunplug/handler.h" /* enum tp_log_level */
#include "tunplug/addr.h"

#define TP_OPT_MAX_ADDRS 16
#define TP_OPT_MAX_ROUTES 64
#define TP_OPT_MAX_RULES 65536 /* domain lists run into thousands */
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
	/* --txqueuelen: the tun's transmit queue (packets waiting for our
	 * read()), set through netlink on a tun tunplug opened; 0 = derived
	 * from max_flows (tp_options_txqueuelen) */
	unsigned txqueuelen;
	const char *handler; /* default handler spec; points into argv or a literal */
	/* --rule: rules[0..n_rules), room for cap_rules; from the rule arena
	 * (tp_options_add_rule), shared by copies of the struct */
	struct tp_rule *rules;
	size_t n_rules, cap_rules;
	const char *dns_upstreams[TP_OPT_MAX_DNS]; /* "ADDR:PORT", point into argv */
	size_t n_dns;
	/* --fake-ip: at most one IPv4 and one IPv6 pool (names/) */
	struct tp_cidr fake_ips[2];
	size_t n_fake_ips;
	unsigned fake_ip_ttl;                    /* --fake-ip-ttl: seconds in the answers */
	unsigned fake_ip_max;                    /* --fake-ip-max: mappings per pool at most */
	const char *plugins[TP_OPT_MAX_PLUGINS]; /* shared objects to load, point into argv */
	size_t n_plugins;
	const char *user; /* --user: drop to this user after set-up */
	/* --control: the control socket's path, "none", or NULL (the default
	 * under /run/tunplug/); --metrics: "ADDR:PORT" or NULL (off) */
	const char *control;
	const char *metrics;
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
	unsigned max_pending;            /* half-open TCP flows; 0 = max_flows / 4 */
	unsigned max_pending_per_source; /* ... per client /32 or /64 */
	unsigned connect_timeout_s;
	unsigned idle_timeout_s; /* 0 = no idle timeout */
	size_t flow_buffer;
	unsigned udp_timeout_s;     /* UDP flow idle timeout */
	unsigned udp_dns_timeout_s; /* ... for flows to port 53 */
	unsigned max_udp_flows;     /* beyond it the longest idle is evicted */
	bool icmp_drop;             /* --icmp drop: do not answer echo requests */
	bool allow_loopback;
	/* --sniff, --sniff-ports, --sniff-timeout (sniff.on, .ports, .timeout_ms) */
	struct tp_sniff_cfg sniff;
	bool no_offload; /* plain tun, no virtio_net_hdr */
	int log_level;   /* enum tp_log_level */
	/* -c/--config FILE (NULL = none); --check-config: validate only */
	const char *config_path;
	bool check_config;
	/* the command line (main's argv, borrowed), applied again over the
	 * file at a SIGHUP reload; argc 0 = none */
	int argc;
	char **argv;
	/* per-handler options from the config file (tp_config_handler_opts);
	 * NULL = none. Set by main after loading the file. */
	const struct tp_config *config;
	bool help;
	bool version;
};

/* ---- The option table -------------------------------------------------
 * One entry per option drives getopt (long and short forms), the --help
 * text, the config file's keys (config.c), --check-config and the tests.
 * Adding an option is one entry plus, for an option with a value, its
 * set function (or one of the generic ones, by field and range). */

enum tp_optarg {
	TP_ARG_NONE, /* a flag: --name sets a bool (config file: key: true|false) */
	TP_ARG_ONE,  /* --name VALUE; given again, the last one counts */
	TP_ARG_LIST  /* --name VALUE, repeatable, each one added (config file: a list) */
};

/* tp_optdef.flags */
#define TP_OPTF_NETCFG 0x01u    /* netlink setup of the tun: not with an adopted fd */
#define TP_OPTF_TUN_FD 0x02u    /* the adopted tun fd itself */
#define TP_OPTF_HANDLER 0x04u   /* a handler spec, checked once plugins are known */
#define TP_OPTF_KEY_NOT 0x08u   /* flag whose config key says the opposite (tun.offload) */
#define TP_OPTF_KEY_RULES 0x10u /* config list items are mappings of tp_rule_set's keys */
#define TP_OPTF_RELOAD 0x20u    /* SIGHUP re-reads it from the config file (new flows) */

struct tp_optdef;

/* Parse val (never NULL) into *o, the value of option d. 0, or -EINVAL
 * with the reason (the value and what it should be; no "tunplug: --name: "
 * prefix, no newline) in err. val is borrowed: *o may keep it. */
typedef int tp_optset_fn(struct tp_options *o, const struct tp_optdef *d, const char *val,
                         char *err, size_t errlen);

struct tp_optdef {
	const char *name;     /* the long form without "--" ("mtu") */
	int short_name;       /* 'c' for -c, or 0 */
	enum tp_optarg arg;   /* a flag, a value or a repeatable value */
	const char *yaml_key; /* config key, "section.key" in a section; NULL = none */
	unsigned flags;       /* TP_OPTF_* */
	const char *group;    /* non-NULL: --help starts this group here */
	const char *metavar;  /* the value in --help ("N", "CIDR"); NULL for a flag */
	const char *help;     /* the --help text, lines separated by '\n' */
	const char *example;  /* a valid value, not the default (tests); NULL for a flag */
	tp_optset_fn *set;    /* the value's parser; NULL for a flag */
	size_t field;         /* offsetof the member: a flag's bool, the generic setters' */
	uint64_t min, max;    /* a number's range (the setters that take one) */
};

/* Iterate the table: d == NULL gives the first entry, the last gives NULL.
 * The entries are static and in --help order. */
const struct tp_optdef *tp_optdef_next(const struct tp_optdef *d);

/* The option named name (long form, no "--"), or NULL. */
const struct tp_optdef *tp_optdef_find(const char *name);

/* The option whose config key is key ("tun.mtu"), or NULL. */
const struct tp_optdef *tp_optdef_by_key(const char *key);

/* Apply option d to *o as the command line does: a flag is set (val must
 * be NULL), a value is parsed (val must not be NULL). 0 or -EINVAL with
 * the reason in err, as tp_optset_fn. val is borrowed: *o may keep it. */
int tp_optdef_apply(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                    size_t errlen);

/* Set or clear flag d (arg TP_ARG_NONE) of *o; the config file's false. */
void tp_optdef_set_flag(struct tp_options *o, const struct tp_optdef *d, bool on);

/* --txqueuelen's default: TP_TXQLEN_PER_FLOW packets per allowed flow
 * (a segment and an ACK from every flow at once, twice over: while the
 * gateway takes longer than the clients' 200 ms retransmission timer to
 * work through a burst, their retransmissions queue up too), within
 * TP_TXQLEN_MIN..TP_TXQLEN_MAX (see README, Bursts and the tun queue). */
#define TP_TXQLEN_PER_FLOW 4u
#define TP_TXQLEN_MIN 1000u
#define TP_TXQLEN_MAX 100000u

/* The txqueuelen to set: --txqueuelen, or max(TP_TXQLEN_MIN,
 * min(max_flows * TP_TXQLEN_PER_FLOW, TP_TXQLEN_MAX)). */
unsigned tp_options_txqueuelen(const struct tp_options *o);

/* ---- Rules: a process-wide arena ----
 * Rules can be many thousands (domain lists), so struct tp_options holds a
 * pointer, not an array; the struct is copied by value (workers, tests)
 * and has no free function, so the arrays come from an arena that lives
 * until exit (an array dropped by tp_options_defaults stays there too: the
 * program parses its command line twice). Tests and fuzzers that parse
 * again and again call tp_options_arena_reset() when no options are in
 * use. */

/* A new rule at the end of o->rules (its contents undefined), growing the
 * array in the arena (the old array is freed: a copy of *o made before
 * must not be used after); NULL when o already has TP_OPT_MAX_RULES or out
 * of memory. */
struct tp_rule *tp_options_add_rule(struct tp_options *o);

/* size bytes (aligned for any type) from the arena, or NULL; and back to
 * it (p from tp_options_arena_alloc, or NULL). */
void *tp_options_arena_alloc(size_t size);
void tp_options_arena_free(void *p);

/* Free the whole arena: every struct tp_options and tp_config rules
 * array is invalid afterwards. */
void tp_options_arena_reset(void);

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

/* tp_optdef_apply by name: set one option, named as its long form without
 * "--" ("mtu", "no-offload"), from value (NULL for a flag) on top of *o,
 * validated as on the command line; value is borrowed (*o may keep it).
 * Returns 0, -ENOENT
 * for no such option, or -EINVAL with the reason (the value and what it
 * should be; no "tunplug: --name: " prefix, no newline) in err. The checks
 * of the whole set (handler names, --tun-fd) are not made. */
int tp_options_set(struct tp_options *o, const char *name, const char *value, char *err,
                   size_t errlen);

/* Is spec ("name" or "name://target") a built-in handler? 0, or -EINVAL
 * with the reason (no prefix, no newline) in err. */
int tp_options_check_handler(const char *spec, char *err, size_t errlen);

/* The --help text, made from the option table on the first call (static
 * storage; never free it; not for concurrent first calls). */
const char *tp_options_usage(void);

#endif
