/* SPDX-License-Identifier: MIT */
/* tunplug — command-line parsing with getopt_long into struct tp_options.
 *
 * Pure: nothing here prints or touches the system. Each error names the
 * option and the rejected value so the user can fix it in one go. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "tunplug/builtin.h"

enum {
	OPT_TUN_NAME = 256,
	OPT_TUN_FD,
	OPT_ADDRESS,
	OPT_ROUTE,
	OPT_MTU,
	OPT_HANDLER,
	OPT_BIND_IF,
	OPT_FWMARK,
	OPT_MAX_FLOWS,
	OPT_CONNECT_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_FLOW_BUFFER,
	OPT_ALLOW_LOOPBACK,
	OPT_LOG_LEVEL,
	OPT_NO_OFFLOAD,
	OPT_CHECK_CONFIG,
	OPT_UDP_TIMEOUT,
	OPT_UDP_DNS_TIMEOUT,
	OPT_MAX_UDP_FLOWS,
	OPT_ICMP,
	OPT_RULE,
	OPT_DNS_UPSTREAM,
	OPT_PLUGIN,
	OPT_USER,
	OPT_AUTO_ROUTE,
	OPT_ROUTE_TABLE,
	OPT_EXCLUDE,
	OPT_INCLUDE_UID,
	OPT_EXCLUDE_UID,
	OPT_QUEUES,
};

static const struct option long_opts[] = {
        {"tun-name", required_argument, NULL, OPT_TUN_NAME},
        {"tun-fd", required_argument, NULL, OPT_TUN_FD},
        {"address", required_argument, NULL, OPT_ADDRESS},
        {"route", required_argument, NULL, OPT_ROUTE},
        {"mtu", required_argument, NULL, OPT_MTU},
        {"handler", required_argument, NULL, OPT_HANDLER},
        {"bind-interface", required_argument, NULL, OPT_BIND_IF},
        {"fwmark", required_argument, NULL, OPT_FWMARK},
        {"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
        {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"flow-buffer", required_argument, NULL, OPT_FLOW_BUFFER},
        {"allow-loopback", no_argument, NULL, OPT_ALLOW_LOOPBACK},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"no-offload", no_argument, NULL, OPT_NO_OFFLOAD},
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK_CONFIG},
        {"udp-timeout", required_argument, NULL, OPT_UDP_TIMEOUT},
        {"udp-dns-timeout", required_argument, NULL, OPT_UDP_DNS_TIMEOUT},
        {"max-udp-flows", required_argument, NULL, OPT_MAX_UDP_FLOWS},
        {"icmp", required_argument, NULL, OPT_ICMP},
        {"rule", required_argument, NULL, OPT_RULE},
        {"dns-upstream", required_argument, NULL, OPT_DNS_UPSTREAM},
        {"plugin", required_argument, NULL, OPT_PLUGIN},
        {"user", required_argument, NULL, OPT_USER},
        {"auto-route", no_argument, NULL, OPT_AUTO_ROUTE},
        {"route-table", required_argument, NULL, OPT_ROUTE_TABLE},
        {"exclude", required_argument, NULL, OPT_EXCLUDE},
        {"include-uid", required_argument, NULL, OPT_INCLUDE_UID},
        {"exclude-uid", required_argument, NULL, OPT_EXCLUDE_UID},
        {"queues", required_argument, NULL, OPT_QUEUES},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
};

/* Handlers the binary has built in; kept here so parsing stays pure. */
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const icmp_names[] = {"reply", "drop"};

#define FLOW_BUFFER_MAX (64u << 20)

static const char usage_text[] =
        "Usage: tunplug [OPTION]...\n"
        "Terminate TCP and UDP flows routed into a TUN device in userspace and hand\n"
        "each one to a handler (by default: connect to the original destination).\n"
        "\n"
        "TUN device and network setup:\n"
        "  --tun-name NAME        TUN device to create or attach to (default tunplug0)\n"
        "  --tun-fd FD            adopt an already-open TUN fd instead; no netlink\n"
        "                         setup (cannot be combined with --address, --route, --mtu)\n"
        "  --address CIDR         add an address to the TUN device (repeatable, IPv4/IPv6)\n"
        "  --route CIDR           route a prefix into the TUN device (repeatable)\n"
        "  --mtu N                device and stack MTU, 576..65535 (default 1500)\n"
        "  --auto-route           capture everything: default routes (IPv4, IPv6) into\n"
        "                         the TUN device in their own table and policy rules\n"
        "                         sending all but the gateway's own marked sockets\n"
        "                         there (implies --fwmark 0x7470 unless given);\n"
        "                         stale rules of a killed run are removed at start\n"
        "  --route-table N        --auto-route's table, 1..4294967295 except 253-255\n"
        "                         (default 0x7470)\n"
        "  --exclude CIDR         with --auto-route: keep these destinations on the main\n"
        "                         table (repeatable)\n"
        "  --include-uid A[-B]    with --auto-route: capture only these local users\n"
        "                         (repeatable; forwarded traffic counts as uid 0)\n"
        "  --exclude-uid A[-B]    with --auto-route: never capture these users\n"
        "  --queues N|auto        multi-queue tun served by N worker processes, 1..64\n"
        "                         (auto = online CPUs; default 1: one process, no\n"
        "                         workers); each worker has its own stack and loop,\n"
        "                         the kernel keeps each flow on one queue\n"
        "  --no-offload           plain tun: no virtio_net_hdr, no TSO/USO super-packets\n"
        "                         in, no coalesced writes out (default: offloads on\n"
        "                         when the kernel grants them)\n"
        "\n"
        "Flows:\n"
        "  --handler SPEC         default handler: direct | echo | NAME://TARGET\n"
        "                         (default direct)\n"
        "  --rule RULE            send matching flows to a handler (repeatable, first\n"
        "                         match wins, DECLINED passes on):\n"
        "                         [proto=tcp|udp,][dst=CIDR,][src=CIDR,][port=N[-M],]handler=SPEC\n"
        "  --plugin PATH          load a handler plugin (shared object; repeatable);\n"
        "                         its name is then usable as a handler spec\n"
        "  --dns-upstream ADDR:PORT  answer UDP port 53 with the dns handler, forwarding\n"
        "                         to this resolver (repeatable; [ADDR6]:PORT for IPv6)\n"
        "  --max-flows N          concurrent TCP flows, 1..1000000 (default 4096)\n"
        "  --connect-timeout SEC  upstream connect timeout, 1..3600 (default 10)\n"
        "  --idle-timeout SEC     close flows idle this long, 0 = never (default 300)\n"
        "  --flow-buffer BYTES    per-flow relay read size cap, >= 4096 (default 262144)\n"
        "  --udp-timeout SEC      close UDP flows idle this long, 1..86400 (default 60)\n"
        "  --udp-dns-timeout SEC  the same for UDP flows to port 53 (default 10)\n"
        "  --max-udp-flows N      UDP flows at once, 1..1000000 (default 65536); when\n"
        "                         full, the longest idle flow is evicted\n"
        "  --icmp reply|drop      answer ping (echo requests) to any captured address\n"
        "                         from the gateway itself, or drop them (default reply)\n"
        "  --allow-loopback       allow destinations in loopback, unspecified and the\n"
        "                         gateway's own addresses (refused by default)\n"
        "\n"
        "Outbound sockets (loop protection):\n"
        "  --bind-interface IF    bind upstream sockets to IF (SO_BINDTODEVICE)\n"
        "  --fwmark N             mark upstream sockets (SO_MARK), decimal or 0x hex\n"
        "\n"
        "Privileges:\n"
        "  --user NAME            after the tun, netlink and handlers are set up, run\n"
        "                         as NAME, keeping only CAP_NET_ADMIN (when --fwmark\n"
        "                         is used) and CAP_NET_RAW (--bind-interface)\n"
        "\n"
        "Other:\n"
        "  --log-level LEVEL      error | warn | info | debug (default info)\n"
        "  -c, --config FILE      read options from a YAML file first; the command\n"
        "                         line overrides it (repeatable options are added\n"
        "                         after the file's); see README, Configuration file\n"
        "  --check-config         validate the file and the command line, print\n"
        "                         \"config ok\" and exit 0 (or the error, exit 2)\n"
        "  -h, --help             show this text and exit\n"
        "  -V, --version          show the version and exit\n"
        "\n"
        "Signals: SIGINT/SIGTERM stop (undoing the network setup) and print counters;\n"
        "SIGUSR1 prints the counters and keeps running.\n";

const char *tp_options_usage(void)
{
	return usage_text;
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
	o->connect_timeout_s = 10;
	o->idle_timeout_s = 300;
	o->flow_buffer = 262144;
	o->udp_timeout_s = 60;
	o->udp_dns_timeout_s = 10;
	o->max_udp_flows = 65536;
	o->log_level = TP_LOG_INFO;
	o->route_table = TP_AUTOROUTE_TABLE;
}

#define fail tp_errf

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

static int parse_num(const char *opt, const char *val, bool hex_ok, uint64_t min, uint64_t max,
                     uint64_t *out, char *err, size_t errlen)
{
	if (parse_u64(val, hex_ok, min, max, out))
		return 0;
	return fail(err, errlen, "tunplug: --%s: \"%s\" is not a number in %llu..%llu", opt, val,
	            (unsigned long long)min, (unsigned long long)max);
}

/* A handler spec "name" or "name://target" whose name is built in. */
static int check_spec(const char *opt, const char *spec, char *err, size_t errlen)
{
	char name[32], list[160] = "";

	if (tp_handler_spec_split(spec, name, sizeof(name)) && tp_handler_builtin(name))
		return 0;
	for (unsigned i = 0; tp_handler_builtin_name(i); i++) {
		if (i)
			strncat(list, "|", sizeof(list) - strlen(list) - 1);
		strncat(list, tp_handler_builtin_name(i), sizeof(list) - strlen(list) - 1);
	}
	return fail(err, errlen, "tunplug: --%s: \"%s\" is not a handler (%s)", opt, spec, list);
}

/* "1.2.3.4:53" or "[fd00::1]:53". */
static int check_hostport(const char *opt, const char *s, char *err, size_t errlen)
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
	return fail(err, errlen, "tunplug: --%s: \"%s\" is not ADDR:PORT or [ADDR6]:PORT", opt, s);
}

static int pick(const char *opt, const char *val, const char *const *names, size_t n, int *idx,
                char *err, size_t errlen)
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
	return fail(err, errlen, "tunplug: --%s: \"%s\" is not one of %s", opt, val, list);
}

static int parse_ifname(const char *opt, const char *val, char *err, size_t errlen)
{
	size_t len = strlen(val);

	if (len == 0 || len >= IFNAMSIZ || strchr(val, '/') || strpbrk(val, " \t\n:") ||
	    strcmp(val, ".") == 0 || strcmp(val, "..") == 0)
		return fail(err, errlen,
		            "tunplug: --%s: \"%s\" is not a valid interface name (1..%d "
		            "characters, no '/', ':' or spaces)",
		            opt, val, IFNAMSIZ - 1);
	return 0;
}

/* "A" or "A-B" (A <= B <= TP_UID_MAX) appended to list. */
static int parse_uids(const char *opt, const char *val, struct tp_uid_range *list, size_t *n,
                      char *err, size_t errlen)
{
	char lo[16];
	const char *dash = strchr(val, '-');
	uint64_t a, b;
	size_t k = dash ? (size_t)(dash - val) : strlen(val);

	if (*n >= TP_OPT_MAX_UIDS)
		return fail(err, errlen, "tunplug: --%s: \"%s\": at most %d ranges", opt, val,
		            TP_OPT_MAX_UIDS);
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
	return fail(err, errlen,
	            "tunplug: --%s: \"%s\" is not a uid or uid range A-B (0..%u, A <= B)", opt, val,
	            TP_UID_MAX);
}

static int parse_cidr(const char *opt, const char *val, struct tp_cidr *list, size_t *n, size_t cap,
                      char *err, size_t errlen)
{
	if (*n >= cap)
		return fail(err, errlen, "tunplug: --%s: \"%s\": at most %zu allowed", opt, val,
		            cap);
	if (tp_cidr_parse(val, &list[*n]) != 0)
		return fail(err, errlen,
		            "tunplug: --%s: \"%s\" is not an IPv4 or IPv6 address/prefix", opt,
		            val);
	(*n)++;
	return 0;
}

/* final: also the checks of the whole set (handler names, --tun-fd). */
static int parse_args(struct tp_options *o, int argc, char **argv, char *err, size_t errlen,
                      bool final)
{
	bool netcfg_opt = false;
	const char *netcfg_name = NULL;
	uint64_t v;
	int idx;
	char rbuf[256];
	int ret = 0;
	int c;

	if (err && errlen)
		err[0] = '\0';
	optind = 0; /* glibc: full re-initialisation, so repeated calls work */
	opterr = 0; /* we format every message ourselves */

	while ((c = getopt_long(argc, argv, ":hVc:", long_opts, NULL)) != -1) {
		const char *a = optarg;

		switch (c) {
		case OPT_TUN_NAME:
			ret = parse_ifname("tun-name", a, err, errlen);
			o->tun_name = a;
			break;
		case OPT_TUN_FD:
			ret = parse_num("tun-fd", a, false, 0, INT_MAX, &v, err, errlen);
			o->tun_fd = (int)v;
			break;
		case OPT_QUEUES:
			if (!strcmp(a, "auto")) {
				o->queues = 0;
				break;
			}
			if (!parse_u64(a, false, 1, TP_OPT_MAX_QUEUES, &v)) {
				ret = fail(err, errlen,
				           "tunplug: --queues: \"%s\" is not auto or a number in "
				           "1..%d",
				           a, TP_OPT_MAX_QUEUES);
				break;
			}
			o->queues = (unsigned)v;
			break;
		case OPT_ADDRESS:
			ret = parse_cidr("address", a, o->addrs, &o->n_addrs, TP_OPT_MAX_ADDRS, err,
			                 errlen);
			netcfg_opt = true;
			netcfg_name = netcfg_name ? netcfg_name : "--address";
			break;
		case OPT_ROUTE:
			ret = parse_cidr("route", a, o->routes, &o->n_routes, TP_OPT_MAX_ROUTES,
			                 err, errlen);
			netcfg_opt = true;
			netcfg_name = netcfg_name ? netcfg_name : "--route";
			break;
		case OPT_MTU:
			ret = parse_num("mtu", a, false, 576, 65535, &v, err, errlen);
			o->mtu = (unsigned)v;
			o->mtu_set = true;
			netcfg_opt = true;
			netcfg_name = netcfg_name ? netcfg_name : "--mtu";
			break;
		case OPT_HANDLER:
			o->handler = a; /* checked once the plugins are known */
			break;
		case OPT_AUTO_ROUTE:
			o->auto_route = true;
			netcfg_opt = true;
			netcfg_name = netcfg_name ? netcfg_name : "--auto-route";
			break;
		case OPT_ROUTE_TABLE:
			ret = parse_num("route-table", a, true, 1, UINT32_MAX, &v, err, errlen);
			if (!ret && v >= 253 && v <= 255)
				ret = fail(err, errlen,
				           "tunplug: --route-table: \"%s\" is a reserved table "
				           "(default/main/local)",
				           a);
			o->route_table = (uint32_t)v;
			break;
		case OPT_EXCLUDE:
			ret = parse_cidr("exclude", a, o->excludes, &o->n_excludes,
			                 TP_OPT_MAX_EXCLUDES, err, errlen);
			break;
		case OPT_INCLUDE_UID:
			ret = parse_uids("include-uid", a, o->include_uids, &o->n_include_uids, err,
			                 errlen);
			break;
		case OPT_EXCLUDE_UID:
			ret = parse_uids("exclude-uid", a, o->exclude_uids, &o->n_exclude_uids, err,
			                 errlen);
			break;
		case OPT_USER:
			if (!a[0]) {
				ret = fail(err, errlen, "tunplug: --user: empty user name");
				break;
			}
			o->user = a;
			break;
		case OPT_PLUGIN:
			if (o->n_plugins == TP_OPT_MAX_PLUGINS) {
				ret = fail(err, errlen, "tunplug: --plugin: at most %d",
				           TP_OPT_MAX_PLUGINS);
				break;
			}
			o->plugins[o->n_plugins++] = a;
			break;
		case OPT_RULE:
			if (o->n_rules == TP_OPT_MAX_RULES) {
				ret = fail(err, errlen, "tunplug: --rule: at most %d rules",
				           TP_OPT_MAX_RULES);
				break;
			}
			ret = tp_rule_parse(a, &o->rules[o->n_rules], rbuf, sizeof(rbuf));
			if (ret) {
				ret = fail(err, errlen, "tunplug: --rule: %s", rbuf);
				break;
			}
			o->n_rules++;
			break;
		case OPT_DNS_UPSTREAM:
			if (o->n_dns == TP_OPT_MAX_DNS) {
				ret = fail(err, errlen, "tunplug: --dns-upstream: at most %d",
				           TP_OPT_MAX_DNS);
				break;
			}
			ret = check_hostport("dns-upstream", a, err, errlen);
			o->dns_upstreams[o->n_dns++] = a;
			break;
		case OPT_BIND_IF:
			ret = parse_ifname("bind-interface", a, err, errlen);
			o->bind_interface = a;
			break;
		case OPT_FWMARK:
			if (!parse_u64(a, true, 0, UINT32_MAX, &v)) {
				ret = fail(err, errlen,
				           "tunplug: --fwmark: \"%s\" is not a number in "
				           "0..4294967295 (decimal or 0x hex)",
				           a);
				break;
			}
			o->fwmark = (uint32_t)v;
			o->fwmark_set = true;
			break;
		case OPT_MAX_FLOWS:
			ret = parse_num("max-flows", a, false, 1, 1000000, &v, err, errlen);
			o->max_flows = (unsigned)v;
			break;
		case OPT_CONNECT_TIMEOUT:
			ret = parse_num("connect-timeout", a, false, 1, 3600, &v, err, errlen);
			o->connect_timeout_s = (unsigned)v;
			break;
		case OPT_IDLE_TIMEOUT:
			ret = parse_num("idle-timeout", a, false, 0, 604800, &v, err, errlen);
			o->idle_timeout_s = (unsigned)v;
			break;
		case OPT_FLOW_BUFFER:
			ret = parse_num("flow-buffer", a, false, 4096, FLOW_BUFFER_MAX, &v, err,
			                errlen);
			o->flow_buffer = (size_t)v;
			break;
		case OPT_UDP_TIMEOUT:
			ret = parse_num("udp-timeout", a, false, 1, 86400, &v, err, errlen);
			o->udp_timeout_s = (unsigned)v;
			break;
		case OPT_UDP_DNS_TIMEOUT:
			ret = parse_num("udp-dns-timeout", a, false, 1, 86400, &v, err, errlen);
			o->udp_dns_timeout_s = (unsigned)v;
			break;
		case OPT_MAX_UDP_FLOWS:
			ret = parse_num("max-udp-flows", a, false, 1, 1000000, &v, err, errlen);
			o->max_udp_flows = (unsigned)v;
			break;
		case OPT_ICMP:
			ret = pick("icmp", a, icmp_names, 2, &idx, err, errlen);
			o->icmp_drop = idx == 1;
			break;
		case OPT_ALLOW_LOOPBACK:
			o->allow_loopback = true;
			break;
		case OPT_NO_OFFLOAD:
			o->no_offload = true;
			break;
		case OPT_LOG_LEVEL:
			ret = pick("log-level", a, level_names,
			           sizeof(level_names) / sizeof(level_names[0]), &idx, err, errlen);
			o->log_level = idx;
			break;
		case 'c':
			o->config_path = a;
			break;
		case OPT_CHECK_CONFIG:
			o->check_config = true;
			break;
		case 'h':
			o->help = true;
			break;
		case 'V':
			o->version = true;
			break;
		case ':':
			ret = fail(err, errlen, "tunplug: %s needs a value; try 'tunplug --help'",
			           argv[optind - 1]);
			break;
		case '?':
		default:
			if (optopt >= OPT_TUN_NAME || optopt == 'h' || optopt == 'V')
				ret = fail(err, errlen, "tunplug: %s does not take a value",
				           argv[optind - 1]);
			else if (optopt && optopt < 256)
				ret = fail(err, errlen,
				           "tunplug: unknown option \"-%c\"; try 'tunplug --help'",
				           optopt);
			else
				ret = fail(err, errlen,
				           "tunplug: unknown option \"%s\"; try 'tunplug --help'",
				           argv[optind - 1]);
			break;
		}
		if (ret)
			return ret;
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
		ret = check_spec("handler", o->handler, err, errlen);
		for (size_t i = 0; !ret && i < o->n_rules; i++)
			ret = check_spec("rule", o->rules[i].handler, err, errlen);
		if (ret)
			return ret;
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
	if (o->tun_fd >= 0 && netcfg_opt)
		return fail(err, errlen,
		            "tunplug: --tun-fd cannot be combined with %s (no netlink setup on an "
		            "adopted fd)",
		            netcfg_name);
	if (o->tun_fd >= 0 && (o->n_addrs || o->n_routes || o->mtu_set || o->auto_route))
		return fail(err, errlen,
		            "tunplug: the tun fd (--tun-fd or tun.fd) cannot be combined with "
		            "addresses, routes, an mtu or auto-route, one of them from the config "
		            "file (no netlink setup on an adopted fd)");
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
	char arg[64], msg[320];
	char *argv[] = {"tunplug", arg, (char *)value, NULL};
	size_t plen;
	int ret;

	if (snprintf(arg, sizeof(arg), "--%s", name) >= (int)sizeof(arg))
		return -ENOENT;
	for (const struct option *lo = long_opts;; lo++) {
		if (!lo->name)
			return -ENOENT;
		if (!strcmp(lo->name, name)) {
			if ((lo->has_arg == required_argument) != (value != NULL))
				return fail(err, errlen, "%s",
				            value ? "takes no value" : "needs a value");
			break;
		}
	}
	/* the value is its own argv element, so optarg (and what *o keeps) is
	 * value itself */
	ret = parse_args(o, value ? 3 : 2, argv, msg, sizeof(msg), false);
	if (!ret)
		return 0;
	plen = strlen("tunplug: ") + strlen(arg) + 2;
	if (!strncmp(msg, "tunplug: ", 9) && !strncmp(msg + 9, arg, strlen(arg)) &&
	    !strncmp(msg + plen - 2, ": ", 2))
		return fail(err, errlen, "%s", msg + plen);
	return fail(err, errlen, "%s", strncmp(msg, "tunplug: ", 9) ? msg : msg + 9);
}

int tp_options_check_handler(const char *spec, char *err, size_t errlen)
{
	char msg[320];
	size_t plen = strlen("tunplug: --handler: ");

	if (check_spec("handler", spec, msg, sizeof(msg)) == 0)
		return 0;
	return fail(err, errlen, "%s", strlen(msg) > plen ? msg + plen : msg);
}
