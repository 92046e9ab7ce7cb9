/* SPDX-License-Identifier: MIT */
/* tunplug — command-line parsing with getopt_long into struct tp_options,
 * driven by one option table (optdefs[]) that also gives the --help text
 * and the config file's keys (config.c).
 *
 * Pure: nothing here prints or touches the system. Each error names the
 * option and the rejected value so the user can fix it in one go. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "names/fakepool.h"
#include "options/options.h"
#include "tunplug/stack.h"
#include "tunplug/builtin.h"

#define fail tp_errf

/* getopt's value for the option at index i of optdefs[] without a short
 * form (those use their letter). */
#define OPT_VAL_BASE 256

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const icmp_names[] = {"reply", "drop"};

/* --flow-buffer bounds what the relay holds for a flow toward its client,
 * which lives in lwIP's send buffer: more than that can never be held. */
#define FLOW_BUFFER_MAX TP_STACK_TCP_SNDBUF

/* Strict unsigned parse: digits only (or 0x + hex digits when hex_ok),
 * no sign, no spaces, no trailing text, no overflow, within [min, max]. */
static bool parse_u64(const char *s, bool hex_ok, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int base = 10;

	if (hex_ok && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (base == 10 ? (*s < '0' || *s > '9')
	               : !((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
	                   (*s >= 'A' && *s <= 'F')))
		return false;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* val as a number in d's range. */
static int num(const struct tp_optdef *d, const char *val, bool hex_ok, uint64_t *out, char *err,
               size_t errlen)
{
	if (parse_u64(val, hex_ok, d->min, d->max, out))
		return 0;
	return fail(err, errlen, "\"%s\" is not a number in %llu..%llu", val,
	            (unsigned long long)d->min, (unsigned long long)d->max);
}

/* The member of *o at d->field, as a T. */
#define FIELD(o, d, T) ((T *)(void *)((char *)(o) + (d)->field))

/* ---- generic setters (by field and range) ---- */

/* An unsigned member, d->min..d->max. */
static int set_uint(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                    size_t errlen)
{
	uint64_t v = 0;
	int ret = num(d, val, false, &v, err, errlen);

	if (!ret)
		*FIELD(o, d, unsigned) = (unsigned)v;
	return ret;
}

/* A string member, kept as given. */
static int set_str(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                   size_t errlen)
{
	*FIELD(o, d, const char *) = val;
	return 0;
}

/* A string member that names a network interface. */
static int set_ifname(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                      size_t errlen)
{
	size_t len = strlen(val);

	if (len == 0 || len >= IFNAMSIZ || strchr(val, '/') || strpbrk(val, " \t\n:") ||
	    strcmp(val, ".") == 0 || strcmp(val, "..") == 0)
		return fail(err, errlen,
		            "\"%s\" is not a valid interface name (1..%d characters, no '/', ':' "
		            "or spaces)",
		            val, IFNAMSIZ - 1);
	*FIELD(o, d, const char *) = val;
	return 0;
}

/* ---- helpers of the option-specific setters ---- */

/* val's index in names[0..n) into *idx. */
static int pick(const char *val, const char *const *names, size_t n, int *idx, char *err,
                size_t errlen)
{
	char list[128] = "";

	for (size_t i = 0; i < n; i++) {
		if (strcmp(val, names[i]) == 0) {
			*idx = (int)i;
			return 0;
		}
		if (i)
			strncat(list, "|", sizeof(list) - strlen(list) - 1);
		strncat(list, names[i], sizeof(list) - strlen(list) - 1);
	}
	return fail(err, errlen, "\"%s\" is not one of %s", val, list);
}

/* A handler spec "name" or "name://target" whose name is built in. */
static int check_spec(const char *spec, char *err, size_t errlen)
{
	char name[32], list[160] = "";

	if (tp_handler_spec_split(spec, name, sizeof(name)) && tp_handler_builtin(name))
		return 0;
	for (unsigned i = 0; tp_handler_builtin_name(i); i++) {
		if (i)
			strncat(list, "|", sizeof(list) - strlen(list) - 1);
		strncat(list, tp_handler_builtin_name(i), sizeof(list) - strlen(list) - 1);
	}
	return fail(err, errlen, "\"%s\" is not a handler (%s)", spec, list);
}

/* "1.2.3.4:53" or "[fd00::1]:53". */
static int check_hostport(const char *s, char *err, size_t errlen)
{
	char host[64];
	const char *colon;
	struct tp_cidr c;
	char *end;
	unsigned long port;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			goto bad;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	if (tp_cidr_parse(host, &c) != 0 || strchr(host, '/'))
		goto bad;
	port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 1 || port > 65535)
		goto bad;
	return 0;
bad:
	return fail(err, errlen, "\"%s\" is not ADDR:PORT or [ADDR6]:PORT", s);
}

/* "A" or "A-B" (A <= B <= TP_UID_MAX) appended to list. */
static int add_uids(const char *val, struct tp_uid_range *list, size_t *n, char *err, size_t errlen)
{
	char lo[16];
	const char *dash = strchr(val, '-');
	uint64_t a, b;
	size_t k = dash ? (size_t)(dash - val) : strlen(val);

	if (*n >= TP_OPT_MAX_UIDS)
		return fail(err, errlen, "\"%s\": at most %d ranges", val, TP_OPT_MAX_UIDS);
	if (k == 0 || k >= sizeof(lo))
		goto bad;
	memcpy(lo, val, k);
	lo[k] = '\0';
	if (!parse_u64(lo, false, 0, TP_UID_MAX, &a))
		goto bad;
	b = a;
	if (dash && !parse_u64(dash + 1, false, 0, TP_UID_MAX, &b))
		goto bad;
	if (b < a)
		goto bad;
	list[*n].lo = (uint32_t)a;
	list[*n].hi = (uint32_t)b;
	(*n)++;
	return 0;
bad:
	return fail(err, errlen, "\"%s\" is not a uid or uid range A-B (0..%u, A <= B)", val,
	            TP_UID_MAX);
}

static int add_cidr(const char *val, struct tp_cidr *list, size_t *n, size_t cap, char *err,
                    size_t errlen)
{
	if (*n >= cap)
		return fail(err, errlen, "\"%s\": at most %zu allowed", val, cap);
	if (tp_cidr_parse(val, &list[*n]) != 0)
		return fail(err, errlen, "\"%s\" is not an IPv4 or IPv6 address/prefix", val);
	(*n)++;
	return 0;
}

/* ---- option-specific setters ---- */

static int set_tun_fd(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                      size_t errlen)
{
	uint64_t v = 0;
	int ret = num(d, val, false, &v, err, errlen);

	if (!ret)
		o->tun_fd = (int)v;
	return ret;
}

static int set_queues(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                      size_t errlen)
{
	uint64_t v = 0;

	if (!strcmp(val, "auto")) {
		o->queues = 0;
		return 0;
	}
	if (!parse_u64(val, false, d->min, d->max, &v))
		return fail(err, errlen, "\"%s\" is not auto or a number in %llu..%llu", val,
		            (unsigned long long)d->min, (unsigned long long)d->max);
	o->queues = (unsigned)v;
	return 0;
}

static int set_address(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                       size_t errlen)
{
	return add_cidr(val, o->addrs, &o->n_addrs, TP_OPT_MAX_ADDRS, err, errlen);
}

static int set_route(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                     size_t errlen)
{
	return add_cidr(val, o->routes, &o->n_routes, TP_OPT_MAX_ROUTES, err, errlen);
}

static int set_mtu(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                   size_t errlen)
{
	int ret = set_uint(o, d, val, err, errlen);

	if (!ret)
		o->mtu_set = true;
	return ret;
}

static int set_route_table(struct tp_options *o, const struct tp_optdef *d, const char *val,
                           char *err, size_t errlen)
{
	uint64_t v = 0;
	int ret = num(d, val, true, &v, err, errlen);

	if (ret)
		return ret;
	if (v >= 253 && v <= 255)
		return fail(err, errlen, "\"%s\" is a reserved table (default/main/local)", val);
	o->route_table = (uint32_t)v;
	return 0;
}

static int set_exclude(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                       size_t errlen)
{
	return add_cidr(val, o->excludes, &o->n_excludes, TP_OPT_MAX_EXCLUDES, err, errlen);
}

static int set_include_uid(struct tp_options *o, const struct tp_optdef *d, const char *val,
                           char *err, size_t errlen)
{
	return add_uids(val, o->include_uids, &o->n_include_uids, err, errlen);
}

static int set_exclude_uid(struct tp_options *o, const struct tp_optdef *d, const char *val,
                           char *err, size_t errlen)
{
	return add_uids(val, o->exclude_uids, &o->n_exclude_uids, err, errlen);
}

/* ---- the rule arena (see options.h) ---- */

struct arena_block {
	struct arena_block *prev, *next;
	max_align_t data[];
};

static struct arena_block *arena;

void *tp_options_arena_alloc(size_t size)
{
	struct arena_block *b = malloc(sizeof(*b) + size);

	if (!b)
		return NULL;
	b->prev = NULL;
	b->next = arena;
	if (arena)
		arena->prev = b;
	arena = b;
	return b->data;
}

void tp_options_arena_free(void *p)
{
	struct arena_block *b;

	if (!p)
		return;
	b = (struct arena_block *)(void *)((char *)p - offsetof(struct arena_block, data));
	if (b->prev)
		b->prev->next = b->next;
	else
		arena = b->next;
	if (b->next)
		b->next->prev = b->prev;
	free(b);
}

void tp_options_arena_reset(void)
{
	while (arena) {
		struct arena_block *b = arena;

		arena = b->next;
		free(b);
	}
}

struct tp_rule *tp_options_add_rule(struct tp_options *o)
{
	if (o->n_rules >= TP_OPT_MAX_RULES)
		return NULL;
	if (o->n_rules == o->cap_rules) {
		size_t cap = o->cap_rules ? 2 * o->cap_rules : 16;
		struct tp_rule *r;

		if (cap > TP_OPT_MAX_RULES)
			cap = TP_OPT_MAX_RULES;
		r = tp_options_arena_alloc(cap * sizeof(*r));
		if (!r)
			return NULL;
		if (o->n_rules)
			memcpy(r, o->rules, o->n_rules * sizeof(*r));
		tp_options_arena_free(o->rules);
		o->rules = r;
		o->cap_rules = cap;
	}
	return &o->rules[o->n_rules++];
}

static int set_rule(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                    size_t errlen)
{
	struct tp_rule *r = tp_options_add_rule(o);

	if (!r)
		return fail(err, errlen, "at most %d rules (or out of memory)", TP_OPT_MAX_RULES);
	if (tp_rule_parse(val, r, err, errlen)) {
		o->n_rules--;
		return -EINVAL;
	}
	return 0;
}

static int set_plugin(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                      size_t errlen)
{
	if (o->n_plugins == TP_OPT_MAX_PLUGINS)
		return fail(err, errlen, "at most %d", TP_OPT_MAX_PLUGINS);
	o->plugins[o->n_plugins++] = val;
	return 0;
}

static int set_dns_upstream(struct tp_options *o, const struct tp_optdef *d, const char *val,
                            char *err, size_t errlen)
{
	if (o->n_dns == TP_OPT_MAX_DNS)
		return fail(err, errlen, "at most %d", TP_OPT_MAX_DNS);
	if (check_hostport(val, err, errlen))
		return -EINVAL;
	o->dns_upstreams[o->n_dns++] = val;
	return 0;
}

/* A pool of its own family, large enough, the network part only. */
static int set_fake_ip(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                       size_t errlen)
{
	struct tp_cidr c;

	if (tp_cidr_parse(val, &c) != 0 || !strchr(val, '/'))
		return fail(err, errlen, "\"%s\" is not an IPv4 or IPv6 prefix (CIDR)", val);
	for (size_t i = 0; i < o->n_fake_ips; i++)
		if (o->fake_ips[i].family == c.family)
			return fail(err, errlen, "\"%s\": at most one IPv%c pool", val,
			            c.family == AF_INET ? '4' : '6');
	if (!tp_fakepool_usable(&c))
		return fail(err, errlen, "\"%s\" is too small for a pool (at most /%d)", val,
		            c.family == AF_INET ? 30 : 127);
	o->fake_ips[o->n_fake_ips++] = c;
	return 0;
}

static int set_flow_buffer(struct tp_options *o, const struct tp_optdef *d, const char *val,
                           char *err, size_t errlen)
{
	uint64_t v = 0;
	int ret = num(d, val, false, &v, err, errlen);

	if (!ret)
		o->flow_buffer = (size_t)v;
	return ret;
}

static int set_icmp(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                    size_t errlen)
{
	int idx = 0;
	int ret = pick(val, icmp_names, sizeof(icmp_names) / sizeof(icmp_names[0]), &idx, err,
	               errlen);

	if (!ret)
		o->icmp_drop = idx == 1;
	return ret;
}

static int set_fwmark(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                      size_t errlen)
{
	uint64_t v = 0;

	if (!parse_u64(val, true, d->min, d->max, &v))
		return fail(err, errlen, "\"%s\" is not a number in %llu..%llu (decimal or 0x hex)",
		            val, (unsigned long long)d->min, (unsigned long long)d->max);
	o->fwmark = (uint32_t)v;
	o->fwmark_set = true;
	return 0;
}

static int set_user(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                    size_t errlen)
{
	if (!val[0])
		return fail(err, errlen, "empty user name");
	o->user = val;
	return 0;
}

static int set_sniff_ports(struct tp_options *o, const struct tp_optdef *d, const char *val,
                           char *err, size_t errlen)
{
	if (tp_sniff_cfg_ports(&o->sniff, val))
		return fail(err, errlen,
		            "\"%s\" is not a list of ports or ranges (80,443,8000-8080)", val);
	return 0;
}

static int set_control(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                       size_t errlen)
{
	if (strcmp(val, "none") && (val[0] != '/' || strlen(val) >= 108))
		return fail(err, errlen, "\"%s\" is not none or an absolute path (< 108 bytes)",
		            val);
	o->control = val;
	return 0;
}

static int set_metrics(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                       size_t errlen)
{
	if (check_hostport(val, err, errlen))
		return -EINVAL;
	o->metrics = val;
	return 0;
}

static int set_log_level(struct tp_options *o, const struct tp_optdef *d, const char *val,
                         char *err, size_t errlen)
{
	int idx = 0;
	int ret = pick(val, level_names, sizeof(level_names) / sizeof(level_names[0]), &idx, err,
	               errlen);

	if (!ret)
		o->log_level = idx;
	return ret;
}

/* ---- the table ---- */

#define OFF(member) offsetof(struct tp_options, member)

static const struct tp_optdef optdefs[] = {
        {.name = "tun-name",
         .arg = TP_ARG_ONE,
         .yaml_key = "tun.name",
         .group = "TUN device and network setup",
         .metavar = "NAME",
         .help = "TUN device to create or attach to (default tunplug0)",
         .example = "tp1",
         .set = set_ifname,
         .field = OFF(tun_name)},
        {.name = "tun-fd",
         .arg = TP_ARG_ONE,
         .yaml_key = "tun.fd",
         .flags = TP_OPTF_TUN_FD,
         .metavar = "FD",
         .help = "adopt an already-open TUN fd instead; no netlink\n"
                 "setup (cannot be combined with --address, --route, --mtu)",
         .example = "3",
         .set = set_tun_fd,
         .min = 0,
         .max = INT_MAX},
        {.name = "address",
         .arg = TP_ARG_LIST,
         .yaml_key = "tun.addresses",
         .flags = TP_OPTF_NETCFG,
         .metavar = "CIDR",
         .help = "add an address to the TUN device (repeatable, IPv4/IPv6)",
         .example = "198.19.255.1/32",
         .set = set_address},
        {.name = "route",
         .arg = TP_ARG_LIST,
         .yaml_key = "tun.routes",
         .flags = TP_OPTF_NETCFG,
         .metavar = "CIDR",
         .help = "route a prefix into the TUN device (repeatable)",
         .example = "fd00:19::/48",
         .set = set_route},
        {.name = "mtu",
         .arg = TP_ARG_ONE,
         .yaml_key = "tun.mtu",
         .flags = TP_OPTF_NETCFG,
         .metavar = "N",
         .help = "device and stack MTU, 576..65535 (default 1500)",
         .example = "9000",
         .set = set_mtu,
         .field = OFF(mtu),
         .min = 576,
         .max = 65535},
        {.name = "txqueuelen",
         .arg = TP_ARG_ONE,
         .yaml_key = "tun.txqueuelen",
         .flags = TP_OPTF_NETCFG,
         .metavar = "N",
         .help = "the tun's transmit queue: packets the kernel holds\n"
                 "for us to read, 16..1000000 (default 4 per\n"
                 "--max-flows, within 1000..100000)",
         .example = "20000",
         .set = set_uint,
         .field = OFF(txqueuelen),
         .min = 16,
         .max = 1000000},
        {.name = "auto-route",
         .arg = TP_ARG_NONE,
         .yaml_key = "auto-route", /* also the section of the next four */
         .flags = TP_OPTF_NETCFG,
         .help = "capture everything: default routes (IPv4, IPv6) into\n"
                 "the TUN device in their own table and policy rules\n"
                 "sending all but the gateway's own marked sockets\n"
                 "there (implies --fwmark 0x7470 unless given);\n"
                 "stale rules of a killed run are removed at start",
         .field = OFF(auto_route)},
        {.name = "route-table",
         .arg = TP_ARG_ONE,
         .yaml_key = "auto-route.table",
         .metavar = "N",
         .help = "--auto-route's table, 1..4294967295 except 253-255\n"
                 "(default 0x7470)",
         .example = "0x100",
         .set = set_route_table,
         .min = 1,
         .max = UINT32_MAX},
        {.name = "exclude",
         .arg = TP_ARG_LIST,
         .yaml_key = "auto-route.exclude",
         .metavar = "CIDR",
         .help = "with --auto-route: keep these destinations on the main\n"
                 "table (repeatable)",
         .example = "192.168.0.0/16",
         .set = set_exclude},
        {.name = "include-uid",
         .arg = TP_ARG_LIST,
         .yaml_key = "auto-route.include-uid",
         .metavar = "A[-B]",
         .help = "with --auto-route: capture only these local users\n"
                 "(repeatable; forwarded traffic counts as uid 0)",
         .example = "1000-1999",
         .set = set_include_uid},
        {.name = "exclude-uid",
         .arg = TP_ARG_LIST,
         .yaml_key = "auto-route.exclude-uid",
         .metavar = "A[-B]",
         .help = "with --auto-route: never capture these users",
         .example = "0",
         .set = set_exclude_uid},
        {.name = "queues",
         .arg = TP_ARG_ONE,
         .yaml_key = "tun.queues",
         .metavar = "N|auto",
         .help = "multi-queue tun served by N worker processes, 1..64\n"
                 "(auto = online CPUs; default 1: one process, no\n"
                 "workers); each worker has its own stack and loop,\n"
                 "the kernel keeps each flow on one queue",
         .example = "auto",
         .set = set_queues,
         .min = 1,
         .max = TP_OPT_MAX_QUEUES},
        {.name = "no-offload",
         .arg = TP_ARG_NONE,
         .yaml_key = "tun.offload",
         .flags = TP_OPTF_KEY_NOT,
         .help = "plain tun: no virtio_net_hdr, no TSO/USO super-packets\n"
                 "in, no coalesced writes out (default: offloads on\n"
                 "when the kernel grants them)",
         .field = OFF(no_offload)},

        {.name = "handler",
         .arg = TP_ARG_ONE,
         .yaml_key = "handler",
         .flags = TP_OPTF_HANDLER | TP_OPTF_RELOAD,
         .group = "Flows",
         .metavar = "SPEC",
         .help = "default handler: direct | echo | NAME://TARGET\n"
                 "(default direct)",
         .example = "echo",
         .set = set_str, /* checked once the plugins are known */
         .field = OFF(handler)},
        {.name = "rule",
         .arg = TP_ARG_LIST,
         .yaml_key = "rules",
         .flags = TP_OPTF_KEY_RULES | TP_OPTF_RELOAD,
         .metavar = "RULE",
         .help = "send matching flows to a handler (repeatable, first\n"
                 "match wins, DECLINED passes on):\n"
                 "[proto=tcp|udp,][dst=CIDR,][src=CIDR,][port=N[-M],]\n"
                 "[domain=NAME,][sniff=1,]handler=SPEC\n"
                 "(domain: NAME and below; sniff=1: sniff the name first)",
         .example = "proto=tcp,dst=198.19.0.0/16,port=80-443,handler=echo",
         .set = set_rule},
        {.name = "plugin",
         .arg = TP_ARG_LIST,
         .yaml_key = "plugins",
         .metavar = "PATH",
         .help = "load a handler plugin (shared object; repeatable);\n"
                 "its name is then usable as a handler spec",
         .example = "/usr/lib/tunplug/upper.so",
         .set = set_plugin},
        {.name = "dns-upstream",
         .arg = TP_ARG_LIST,
         .yaml_key = "dns.upstreams",
         .flags = TP_OPTF_RELOAD,
         .metavar = "ADDR:PORT",
         .help = "answer UDP port 53 with the dns handler, forwarding\n"
                 "to this resolver (repeatable; [ADDR6]:PORT for IPv6)",
         .example = "[fd00::53]:53",
         .set = set_dns_upstream},
        {.name = "fake-ip",
         .arg = TP_ARG_LIST,
         .yaml_key = "dns.fake-ip",
         .metavar = "CIDR",
         .help = "answer A/AAAA queries (with --dns-upstream) with\n"
                 "addresses of this pool; a flow to one carries the\n"
                 "name (repeatable: one IPv4, one IPv6 pool; see\n"
                 "README, Names)",
         .example = "198.18.0.0/16",
         .set = set_fake_ip},
        {.name = "fake-ip-ttl",
         .arg = TP_ARG_ONE,
         .yaml_key = "dns.fake-ip-ttl",
         .metavar = "SEC",
         .help = "TTL of the pool addresses in answers, 1..86400\n"
                 "(default 10)",
         .example = "60",
         .set = set_uint,
         .field = OFF(fake_ip_ttl),
         .min = 1,
         .max = 86400},
        {.name = "fake-ip-max",
         .arg = TP_ARG_ONE,
         .yaml_key = "dns.fake-ip-max",
         .metavar = "N",
         .help = "names mapped per pool at most, 1..4194304 (default\n"
                 "65536); beyond, the least recently used is evicted",
         .example = "1000",
         .set = set_uint,
         .field = OFF(fake_ip_max),
         .min = 1,
         .max = TP_FAKE_MAX_ENTRIES},
        {.name = "max-flows",
         .arg = TP_ARG_ONE,
         .yaml_key = "flows.max",
         .metavar = "N",
         .help = "concurrent TCP flows, 1..1000000 (default 4096)",
         .example = "1000000",
         .set = set_uint,
         .field = OFF(max_flows),
         .min = 1,
         .max = 1000000},
        {.name = "max-pending",
         .arg = TP_ARG_ONE,
         .yaml_key = "flows.max-pending",
         .metavar = "N",
         .help = "half-open TCP flows (SYN held or SYN-ACK unanswered),\n"
                 "1..1000000 (default: a quarter of --max-flows);\n"
                 "beyond, SYNs are dropped (see README)",
         .example = "500",
         .set = set_uint,
         .field = OFF(max_pending),
         .min = 1,
         .max = 1000000},
        {.name = "max-pending-per-source",
         .arg = TP_ARG_ONE,
         .yaml_key = "flows.max-pending-per-source",
         .metavar = "N",
         .help = "half-open TCP flows per client address (/32, IPv6\n"
                 "/64), 1..1000000 (default 256, at most --max-pending)",
         .example = "16",
         .set = set_uint,
         .field = OFF(max_pending_per_source),
         .min = 1,
         .max = 1000000},
        {.name = "connect-timeout",
         .arg = TP_ARG_ONE,
         .yaml_key = "flows.connect-timeout",
         .metavar = "SEC",
         .help = "upstream connect timeout, 1..3600 (default 130: a Linux client's whole SYN "
                 "schedule)",
         .example = "3",
         .set = set_uint,
         .field = OFF(connect_timeout_s),
         .min = 1,
         .max = 3600},
        {.name = "idle-timeout",
         .arg = TP_ARG_ONE,
         .yaml_key = "flows.idle-timeout",
         .metavar = "SEC",
         .help = "close flows idle this long, 0 = never (default 300)",
         .example = "0",
         .set = set_uint,
         .field = OFF(idle_timeout_s),
         .min = 0,
         .max = 604800},
        {.name = "flow-buffer",
         .arg = TP_ARG_ONE,
         .yaml_key = "flows.buffer",
         .metavar = "BYTES",
         .help = "bytes held per flow toward its client, 4096..1048576 (default 1048576)",
         .example = "4096",
         .set = set_flow_buffer,
         .min = 4096,
         .max = FLOW_BUFFER_MAX},
        {.name = "udp-timeout",
         .arg = TP_ARG_ONE,
         .yaml_key = "udp.timeout",
         .metavar = "SEC",
         .help = "close UDP flows idle this long, 1..86400 (default 60)",
         .example = "61",
         .set = set_uint,
         .field = OFF(udp_timeout_s),
         .min = 1,
         .max = 86400},
        {.name = "udp-dns-timeout",
         .arg = TP_ARG_ONE,
         .yaml_key = "udp.dns-timeout",
         .metavar = "SEC",
         .help = "the same for UDP flows to port 53 (default 10)",
         .example = "11",
         .set = set_uint,
         .field = OFF(udp_dns_timeout_s),
         .min = 1,
         .max = 86400},
        {.name = "max-udp-flows",
         .arg = TP_ARG_ONE,
         .yaml_key = "udp.max-flows",
         .metavar = "N",
         .help = "UDP flows at once, 1..1000000 (default 65536); when\n"
                 "full, the longest idle flow is evicted",
         .example = "1000",
         .set = set_uint,
         .field = OFF(max_udp_flows),
         .min = 1,
         .max = 1000000},
        {.name = "icmp",
         .arg = TP_ARG_ONE,
         .yaml_key = "icmp",
         .metavar = "reply|drop",
         .help = "answer ping (echo requests) to any captured address\n"
                 "from the gateway itself, or drop them (default reply)",
         .example = "drop",
         .set = set_icmp},
        {.name = "allow-loopback",
         .arg = TP_ARG_NONE,
         .yaml_key = "flows.allow-loopback",
         .help = "allow destinations in loopback, unspecified and the\n"
                 "gateway's own addresses (refused by default)",
         .field = OFF(allow_loopback)},
        {.name = "sniff",
         .arg = TP_ARG_NONE,
         .yaml_key = "sniff", /* also the section of the next two */
         .help = "learn the destination's name before dispatch: the TLS\n"
                 "SNI or HTTP Host of TCP flows to --sniff-ports (their\n"
                 "handshake completes first), the QUIC Initial's SNI of\n"
                 "UDP to port 443 (see README, Sniffing)",
         .field = OFF(sniff.on)},
        {.name = "sniff-ports",
         .arg = TP_ARG_ONE,
         .yaml_key = "sniff.ports",
         .metavar = "LIST",
         .help = "TCP ports sniffed with --sniff (default 80,443)",
         .example = "80,443,8000-8080",
         .set = set_sniff_ports},
        {.name = "sniff-timeout",
         .arg = TP_ARG_ONE,
         .yaml_key = "sniff.timeout",
         .metavar = "MS",
         .help = "wait this long for a sniffed flow's first bytes,\n"
                 "10..10000 ms (default 300); then dispatch by address",
         .example = "500",
         .set = set_uint,
         .field = OFF(sniff.timeout_ms),
         .min = 10,
         .max = 10000},

        {.name = "bind-interface",
         .arg = TP_ARG_ONE,
         .yaml_key = "outbound.bind-interface",
         .group = "Outbound sockets (loop protection)",
         .metavar = "IF",
         .help = "bind upstream sockets to IF (SO_BINDTODEVICE)",
         .example = "eth0",
         .set = set_ifname,
         .field = OFF(bind_interface)},
        {.name = "fwmark",
         .arg = TP_ARG_ONE,
         .yaml_key = "outbound.fwmark",
         .metavar = "N",
         .help = "mark upstream sockets (SO_MARK), decimal or 0x hex",
         .example = "0x1234",
         .set = set_fwmark,
         .min = 0,
         .max = UINT32_MAX},

        {.name = "user",
         .arg = TP_ARG_ONE,
         .yaml_key = "user",
         .group = "Privileges",
         .metavar = "NAME",
         .help = "after the tun, netlink and handlers are set up, run\n"
                 "as NAME, keeping only CAP_NET_ADMIN (when --fwmark\n"
                 "is used) and CAP_NET_RAW (--bind-interface)",
         .example = "nobody",
         .set = set_user},

        {.name = "control",
         .arg = TP_ARG_ONE,
         .yaml_key = "control",
         .group = "Control socket and metrics",
         .metavar = "PATH|none",
         .help = "the control socket for 'tunplug ctl' (default\n"
                 "/run/tunplug/TUN-NAME.sock, mode 0600; none: off)",
         .example = "/run/tp/ctl.sock",
         .set = set_control},
        {.name = "metrics",
         .arg = TP_ARG_ONE,
         .yaml_key = "metrics",
         .metavar = "ADDR:PORT",
         .help = "serve Prometheus metrics on http://ADDR:PORT/metrics\n"
                 "(default off)",
         .example = "127.0.0.1:9477",
         .set = set_metrics},

        {.name = "log-level",
         .arg = TP_ARG_ONE,
         .yaml_key = "log-level",
         .flags = TP_OPTF_RELOAD,
         .group = "Other",
         .metavar = "LEVEL",
         .help = "error | warn | info | debug (default info)",
         .example = "debug",
         .set = set_log_level},
        {.name = "config",
         .short_name = 'c',
         .arg = TP_ARG_ONE,
         .metavar = "FILE",
         .help = "read options from a YAML file first; the command\n"
                 "line overrides it (repeatable options are added\n"
                 "after the file's); see README, Configuration file",
         .example = "/etc/tunplug.yaml",
         .set = set_str,
         .field = OFF(config_path)},
        {.name = "check-config",
         .arg = TP_ARG_NONE,
         .help = "validate the file and the command line, print\n"
                 "\"config ok\" and exit 0 (or the error, exit 2)",
         .field = OFF(check_config)},
        {.name = "help",
         .short_name = 'h',
         .arg = TP_ARG_NONE,
         .help = "show this text and exit",
         .field = OFF(help)},
        {.name = "version",
         .short_name = 'V',
         .arg = TP_ARG_NONE,
         .help = "show the version and exit",
         .field = OFF(version)},
};

#define N_OPTDEFS (sizeof(optdefs) / sizeof(optdefs[0]))

const struct tp_optdef *tp_optdef_next(const struct tp_optdef *d)
{
	if (!d)
		return optdefs;
	return d + 1 < optdefs + N_OPTDEFS ? d + 1 : NULL;
}

const struct tp_optdef *tp_optdef_find(const char *name)
{
	for (size_t i = 0; i < N_OPTDEFS; i++)
		if (!strcmp(optdefs[i].name, name))
			return &optdefs[i];
	return NULL;
}

const struct tp_optdef *tp_optdef_by_key(const char *key)
{
	for (size_t i = 0; i < N_OPTDEFS; i++)
		if (optdefs[i].yaml_key && !strcmp(optdefs[i].yaml_key, key))
			return &optdefs[i];
	return NULL;
}

void tp_optdef_set_flag(struct tp_options *o, const struct tp_optdef *d, bool on)
{
	*FIELD(o, d, bool) = on;
}

int tp_optdef_apply(struct tp_options *o, const struct tp_optdef *d, const char *val, char *err,
                    size_t errlen)
{
	if (d->arg == TP_ARG_NONE) {
		if (val)
			return fail(err, errlen, "takes no value");
		tp_optdef_set_flag(o, d, true);
		return 0;
	}
	if (!val)
		return fail(err, errlen, "needs a value");
	return d->set(o, d, val, err, errlen);
}

/* ---- the --help text ---- */

static const char usage_head[] =
        "Usage: tunplug [OPTION]...\n"
        "       tunplug ctl [--control PATH] flows|stats|close ID  (tunplug ctl --help)\n"
        "Terminate TCP and UDP flows routed into a TUN device in userspace and hand\n"
        "each one to a handler (by default: connect to the original destination).\n";

static const char usage_tail[] =
        "\n"
        "Signals: SIGINT/SIGTERM stop (undoing the network setup) and print counters;\n"
        "SIGUSR1 prints the counters and keeps running; SIGHUP re-reads the --config\n"
        "file: rules, handler, handlers, dns.upstreams and log-level change for new\n"
        "flows (open flows keep their handler), any other changed key refuses the\n"
        "reload (see README, systemd).\n";

/* The column where the explanations start. */
#define USAGE_COL 25

/* printf at buf[*n], at most up to buf[cap - 1] (then it stays full). */
static void put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(buf + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n = *n + (size_t)k < cap ? *n + (size_t)k : cap - 1;
}

const char *tp_options_usage(void)
{
	static char text[8192];
	size_t n = 0;

	if (text[0])
		return text;
	put(text, sizeof(text), &n, "%s", usage_head);
	for (size_t i = 0; i < N_OPTDEFS; i++) {
		const struct tp_optdef *d = &optdefs[i];
		char form[64] = "";
		const char *line = d->help;

		if (d->group)
			put(text, sizeof(text), &n, "\n%s:\n", d->group);
		if (d->short_name)
			snprintf(form, sizeof(form), "-%c, ", d->short_name);
		snprintf(form + strlen(form), sizeof(form) - strlen(form), "--%s%s%s", d->name,
		         d->metavar ? " " : "", d->metavar ? d->metavar : "");
		/* the option, then its lines from USAGE_COL (after a long
		 * option: two spaces on) */
		put(text, sizeof(text), &n, "  %-*s  ", USAGE_COL - 4, form);
		for (;;) {
			const char *nl = strchr(line, '\n');
			int len = nl ? (int)(nl - line) : (int)strlen(line);

			put(text, sizeof(text), &n, "%.*s\n", len, line);
			if (!nl)
				break;
			line = nl + 1;
			put(text, sizeof(text), &n, "%*s", USAGE_COL, "");
		}
	}
	put(text, sizeof(text), &n, "%s", usage_tail);
	return text;
}

unsigned tp_options_txqueuelen(const struct tp_options *o)
{
	uint64_t n = (uint64_t)o->max_flows * TP_TXQLEN_PER_FLOW;

	if (o->txqueuelen)
		return o->txqueuelen;
	return n < TP_TXQLEN_MIN ? TP_TXQLEN_MIN : n > TP_TXQLEN_MAX ? TP_TXQLEN_MAX : (unsigned)n;
}

void tp_options_defaults(struct tp_options *o)
{
	memset(o, 0, sizeof(*o));
	o->tun_name = "tunplug0";
	o->tun_fd = -1;
	o->queues = 1;
	o->mtu = 1500;
	o->handler = "direct";
	o->max_flows = 4096;
	o->max_pending = 0; /* a quarter of max_flows (the stack decides) */
	o->max_pending_per_source = 256;
	o->connect_timeout_s = 130;
	o->idle_timeout_s = 300;
	o->flow_buffer = 1048576;
	o->udp_timeout_s = 60;
	o->udp_dns_timeout_s = 10;
	o->max_udp_flows = 65536;
	o->log_level = TP_LOG_INFO;
	o->route_table = TP_AUTOROUTE_TABLE;
	tp_sniff_cfg_init(&o->sniff);
	o->fake_ip_ttl = 10;
	o->fake_ip_max = 65536;
}

/* getopt's value of the table entry d, and back. */
static int opt_val(const struct tp_optdef *d)
{
	return d->short_name ? d->short_name : OPT_VAL_BASE + (int)(d - optdefs);
}

static const struct tp_optdef *opt_of_val(int c)
{
	if (c >= OPT_VAL_BASE && (size_t)(c - OPT_VAL_BASE) < N_OPTDEFS)
		return &optdefs[c - OPT_VAL_BASE];
	for (size_t i = 0; c > 0 && i < N_OPTDEFS; i++)
		if (optdefs[i].short_name == c)
			return &optdefs[i];
	return NULL;
}

/* final: also the checks of the whole set (handler names, --tun-fd). */
static int parse_args(struct tp_options *o, int argc, char **argv, char *err, size_t errlen,
                      bool final)
{
	struct option long_opts[N_OPTDEFS + 1];
	char short_opts[2 + 2 * N_OPTDEFS + 1], why[512];
	const char *netcfg_name = NULL;
	size_t ns = 0;
	int ret = 0;
	int c;

	if (err && errlen)
		err[0] = '\0';
	/* getopt's view of the table: ":" (we report missing values) and
	 * the short forms ("c:" for a value) */
	short_opts[ns++] = ':';
	for (size_t i = 0; i < N_OPTDEFS; i++) {
		const struct tp_optdef *d = &optdefs[i];

		long_opts[i] = (struct option){
		        d->name, d->arg == TP_ARG_NONE ? no_argument : required_argument, NULL,
		        opt_val(d)};
		if (d->short_name) {
			short_opts[ns++] = (char)d->short_name;
			if (d->arg != TP_ARG_NONE)
				short_opts[ns++] = ':';
		}
	}
	long_opts[N_OPTDEFS] = (struct option){NULL, 0, NULL, 0};
	short_opts[ns] = '\0';
	optind = 0; /* glibc: full re-initialisation, so repeated calls work */
	opterr = 0; /* we format every message ourselves */

	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		const struct tp_optdef *d = opt_of_val(c);

		if (c == ':')
			return fail(err, errlen, "tunplug: %s needs a value; try 'tunplug --help'",
			            argv[optind - 1]);
		if (!d) {
			/* '?': optopt is the option's value when it was given
			 * one it does not take, the letter of an unknown -X, or
			 * 0 for an unknown --name */
			if (opt_of_val(optopt))
				return fail(err, errlen, "tunplug: %s does not take a value",
				            argv[optind - 1]);
			if (optopt > 0 && optopt < OPT_VAL_BASE)
				return fail(err, errlen,
				            "tunplug: unknown option \"-%c\"; try 'tunplug --help'",
				            optopt);
			return fail(err, errlen,
			            "tunplug: unknown option \"%s\"; try 'tunplug --help'",
			            argv[optind - 1]);
		}
		ret = tp_optdef_apply(o, d, d->arg == TP_ARG_NONE ? NULL : optarg, why,
		                      sizeof(why));
		if (ret)
			return fail(err, errlen, "tunplug: --%s: %s", d->name, why);
		if ((d->flags & TP_OPTF_NETCFG) && !netcfg_name)
			netcfg_name = d->name;
	}
	if (optind < argc)
		return fail(err, errlen,
		            "tunplug: unexpected argument \"%s\"; try 'tunplug --help'",
		            argv[optind]);
	if (o->help || o->version || !final)
		return 0;
	/* Handler names: built-ins are known now; names a --plugin may
	 * provide are checked by the gateway once it loaded them. */
	if (!o->n_plugins) {
		if (check_spec(o->handler, why, sizeof(why)))
			return fail(err, errlen, "tunplug: --handler: %s", why);
		for (size_t i = 0; i < o->n_rules; i++)
			if (check_spec(o->rules[i].handler, why, sizeof(why)))
				return fail(err, errlen, "tunplug: --rule: %s", why);
	}
	if (o->n_fake_ips && !o->n_dns)
		return fail(err, errlen,
		            "tunplug: --fake-ip needs --dns-upstream (other query types are "
		            "forwarded there)");
	for (size_t i = 0; i < o->n_fake_ips; i++)
		for (size_t j = 0; j < o->n_addrs; j++)
			if (tp_cidr_contains(&o->fake_ips[i], o->addrs[j].family,
			                     o->addrs[j].addr)) {
				char a[64], b[64];
				return fail(err, errlen,
				            "tunplug: --fake-ip %s contains the tun's address %s",
				            tp_cidr_format(&o->fake_ips[i], a, sizeof(a)),
				            tp_cidr_format(&o->addrs[j], b, sizeof(b)));
			}
	if (!o->auto_route && (o->n_excludes || o->n_include_uids || o->n_exclude_uids ||
	                       o->route_table != TP_AUTOROUTE_TABLE))
		return fail(err, errlen, "tunplug: %s needs --auto-route",
		            o->n_excludes       ? "--exclude"
		            : o->n_include_uids ? "--include-uid"
		            : o->n_exclude_uids ? "--exclude-uid"
		                                : "--route-table");
	if (o->auto_route && o->fwmark_set && o->fwmark == 0)
		return fail(err, errlen,
		            "tunplug: --auto-route needs a non-zero --fwmark (unmarked sockets are "
		            "the ones it captures)");
	if (o->auto_route && !o->fwmark_set) {
		o->fwmark = TP_AUTOROUTE_MARK;
		o->fwmark_set = true;
	}
	if (o->auto_route && o->tun_fd >= 0)
		return fail(err, errlen,
		            "tunplug: --auto-route cannot be combined with an adopted tun fd (no "
		            "netlink setup on it)");
	if (o->tun_fd >= 0 && o->queues != 1)
		return fail(err, errlen,
		            "tunplug: --queues %s cannot be combined with an adopted tun fd (the "
		            "queues are opened by tunplug itself)",
		            o->queues ? "N > 1" : "auto");
	if (o->tun_fd >= 0 && netcfg_name)
		return fail(err, errlen,
		            "tunplug: --tun-fd cannot be combined with --%s (no netlink setup on "
		            "an adopted fd)",
		            netcfg_name);
	if (o->tun_fd >= 0 &&
	    (o->n_addrs || o->n_routes || o->mtu_set || o->txqueuelen || o->auto_route))
		return fail(err, errlen,
		            "tunplug: the tun fd (--tun-fd or tun.fd) cannot be combined with "
		            "addresses, routes, an mtu, a txqueuelen or auto-route, one of them "
		            "from the config file (no netlink setup on an adopted fd)");
	return 0;
}

int tp_options_parse(struct tp_options *o, int argc, char **argv, char *err, size_t errlen)
{
	tp_options_defaults(o);
	return parse_args(o, argc, argv, err, errlen, true);
}

int tp_options_scan(struct tp_options *o, int argc, char **argv, char *err, size_t errlen)
{
	tp_options_defaults(o);
	return parse_args(o, argc, argv, err, errlen, false);
}

int tp_options_parse_over(struct tp_options *o, int argc, char **argv, char *err, size_t errlen)
{
	return parse_args(o, argc, argv, err, errlen, true);
}

int tp_options_set(struct tp_options *o, const char *name, const char *value, char *err,
                   size_t errlen)
{
	const struct tp_optdef *d = tp_optdef_find(name);

	if (!d)
		return -ENOENT;
	return tp_optdef_apply(o, d, value, err, errlen);
}

int tp_options_check_handler(const char *spec, char *err, size_t errlen)
{
	return check_spec(spec, err, errlen);
}
