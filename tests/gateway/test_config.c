/* SPDX-License-Identifier: MIT */
/* tunplug — test of the YAML config file (gateway/src/config.c): a full file
 * gives the same struct tp_options as the equivalent command line; the
 * command line overrides the file (lists appended); per-handler options;
 * and every error names the file, the line and the key. One TP_TEST case
 * per group (tests/harness.h); each item is one CHECK followed by its OK
 * line. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "options/config.h"
#include "options/options.h"

#define N_OF(t) (sizeof(t) / sizeof((t)[0]))

/* One item: a CHECK that why is NULL, then its OK line (with the detail,
 * the message of the parser, when there is one). */
static void report(const char *name, const char *why, const char *detail)
{
	CHECK(!why, "%s: %s%s%s", name, why, detail ? " -- " : "", detail ? detail : "");
	OK("%s%s%s", name, detail ? " -> " : "", detail ? detail : "");
}

/* argv for tp_options_parse*: static, the options point into it; argv
 * has ARGV_MAX entries */
#define ARGV_MAX 96
static int argv_of(const char *const *args, char **argv)
{
	static char store[ARGV_MAX][128];
	int argc = 0;

	argv[argc++] = "tunplug";
	for (int i = 0; args[i]; i++) {
		CHECK(argc + 1 < ARGV_MAX, "argv_of: more than %d arguments", ARGV_MAX - 2);
		if (argc + 1 >= ARGV_MAX)
			break;
		snprintf(store[argc], sizeof(store[argc]), "%s", args[i]);
		argv[argc] = store[argc];
		argc++;
	}
	argv[argc] = NULL;
	return argc;
}

static int parse_text(struct tp_config *c, struct tp_options *o, const char *text, char *err,
                      size_t errlen)
{
	tp_options_defaults(o);
	return tp_config_parse(c, o, "test.yaml", text, strlen(text), err, errlen);
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* NULL if *a and *b hold the same options (strings by content). */
static const char *options_diff(const struct tp_options *a, const struct tp_options *b)
{
	static struct tp_options x, y;

	if (!str_eq(a->tun_name, b->tun_name))
		return "tun_name";
	if (!str_eq(a->handler, b->handler))
		return "handler";
	if (!str_eq(a->bind_interface, b->bind_interface))
		return "bind_interface";
	if (!str_eq(a->user, b->user))
		return "user";
	if (!str_eq(a->control, b->control))
		return "control";
	if (!str_eq(a->metrics, b->metrics))
		return "metrics";
	if (a->n_dns != b->n_dns)
		return "n_dns";
	for (size_t i = 0; i < a->n_dns; i++)
		if (!str_eq(a->dns_upstreams[i], b->dns_upstreams[i]))
			return "dns_upstreams";
	if (a->n_plugins != b->n_plugins)
		return "n_plugins";
	for (size_t i = 0; i < a->n_plugins; i++)
		if (!str_eq(a->plugins[i], b->plugins[i]))
			return "plugins";
	/* everything else byte for byte, with the string pointers blanked */
	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	x.tun_name = y.tun_name = NULL;
	x.handler = y.handler = NULL;
	x.bind_interface = y.bind_interface = NULL;
	x.user = y.user = NULL;
	x.control = y.control = NULL;
	x.metrics = y.metrics = NULL;
	memset(x.dns_upstreams, 0, sizeof(x.dns_upstreams));
	memset(y.dns_upstreams, 0, sizeof(y.dns_upstreams));
	memset(x.plugins, 0, sizeof(x.plugins));
	memset(y.plugins, 0, sizeof(y.plugins));
	x.config_path = y.config_path = NULL;
	x.check_config = y.check_config = false;
	x.config = y.config = NULL;
	if (memcmp(x.addrs, y.addrs, sizeof(x.addrs)) || x.n_addrs != y.n_addrs)
		return "addrs";
	if (memcmp(x.routes, y.routes, sizeof(x.routes)) || x.n_routes != y.n_routes)
		return "routes";
	if (x.n_rules != y.n_rules ||
	    (x.n_rules && memcmp(x.rules, y.rules, x.n_rules * sizeof(*x.rules))))
		return "rules";
	x.rules = y.rules = NULL; /* different arrays with the same rules */
	x.cap_rules = y.cap_rules = 0;
	if (x.mtu != y.mtu || x.mtu_set != y.mtu_set)
		return "mtu";
	if (x.no_offload != y.no_offload || x.allow_loopback != y.allow_loopback)
		return "flags";
	if (memcmp(&x, &y, sizeof(x)))
		return "another field";
	return NULL;
}

static const char full_yaml[] =
        "# every key of the schema\n"
        "tun:\n"
        "  name: t0\n"
        "  mtu: 9000\n"
        "  txqueuelen: 20000\n"
        "  addresses: [198.19.255.1/32, \"fd00:19::1/64\"]\n"
        "  routes:\n"
        "    - 198.19.0.0/16\n"
        "    - 10.0.0.0/8\n"
        "    - fd00:19::/48\n"
        "  offload: false\n"
        "handler: echo\n"
        "rules:\n"
        "  - {proto: tcp, dst: 198.19.0.0/16, port: 80-443, src: 10.0.0.0/8, handler: direct}\n"
        "  - proto: udp\n"
        "    port: 53\n"
        "    handler: \"echo\"\n"
        "handlers:\n"
        "  echo: {greeting: hello, \"spaced key\": \"a value: with colon\"}\n"
        "  direct:\n"
        "dns: {upstreams: [\"1.1.1.1:53\", \"[fd00::53]:53\"]}\n"
        "flows:\n"
        "  max: 1000000\n"
        "  max-pending: 500\n"
        "  max-pending-per-source: 16\n"
        "  connect-timeout: 3\n"
        "  idle-timeout: 0\n"
        "  buffer: 4096\n"
        "  allow-loopback: true\n"
        "udp: {timeout: 61, dns-timeout: 11, max-flows: 1000}\n"
        "icmp: drop\n"
        "outbound: {bind-interface: eth0, fwmark: 0x1234}\n"
        "auto-route:\n"
        "  table: 0x100\n"
        "  exclude: [192.168.0.0/16, \"fd00::/8\"]\n"
        "  include-uid: [1000-1999]\n"
        "  exclude-uid: [0, 1500]\n"
        "log-level: debug\n";

static const char *const full_args[] = {
        "--tun-name",
        "t0",
        "--mtu",
        "9000",
        "--txqueuelen",
        "20000",
        "--address",
        "198.19.255.1/32",
        "--address",
        "fd00:19::1/64",
        "--route",
        "198.19.0.0/16",
        "--route",
        "10.0.0.0/8",
        "--route",
        "fd00:19::/48",
        "--no-offload",
        "--handler",
        "echo",
        "--rule",
        "proto=tcp,dst=198.19.0.0/16,port=80-443,src=10.0.0.0/8,handler=direct",
        "--rule",
        "proto=udp,port=53,handler=echo",
        "--dns-upstream",
        "1.1.1.1:53",
        "--dns-upstream",
        "[fd00::53]:53",
        "--max-flows",
        "1000000",
        "--max-pending",
        "500",
        "--max-pending-per-source",
        "16",
        "--connect-timeout",
        "3",
        "--idle-timeout",
        "0",
        "--flow-buffer",
        "4096",
        "--allow-loopback",
        "--udp-timeout",
        "61",
        "--udp-dns-timeout",
        "11",
        "--max-udp-flows",
        "1000",
        "--icmp",
        "drop",
        "--bind-interface",
        "eth0",
        "--fwmark",
        "0x1234",
        "--log-level",
        "debug",
        "--auto-route",
        "--route-table",
        "0x100",
        "--exclude",
        "192.168.0.0/16",
        "--exclude",
        "fd00::/8",
        "--include-uid",
        "1000-1999",
        "--exclude-uid",
        "0",
        "--exclude-uid",
        "1500",
        NULL,
};

TP_TEST(full_file)
{
	static struct tp_options fo, co;
	static struct tp_config c;
	static char *argv[ARGV_MAX];
	char err[512];
	const char *why = NULL;
	int ret;

	ret = parse_text(&c, &fo, full_yaml, err, sizeof(err));
	if (!ret)
		ret = tp_config_check(&c, &fo, 0, err, sizeof(err));
	if (ret) {
		report("full file parses", "error", err);
		tp_config_free(&c);
		return;
	}
	report("full file parses", NULL, NULL);
	ret = tp_options_parse(&co, argv_of(full_args, argv), argv, err, sizeof(err));
	if (ret)
		why = "the equivalent command line failed";
	else
		why = options_diff(&fo, &co);
	report("full file == equivalent command line", why, ret ? err : NULL);

	/* per-handler options */
	{
		size_t k = 99;
		const struct tp_handler_opt *opt = tp_config_handler_opts(&c, "echo", &k);

		why = NULL;
		if (!opt || k != 2)
			why = "echo: expected 2 options";
		else if (strcmp(opt[0].key, "greeting") || strcmp(opt[0].value, "hello") ||
		         strcmp(opt[1].key, "spaced key") ||
		         strcmp(opt[1].value, "a value: with colon"))
			why = "echo: wrong key/value";
		else if (tp_config_handler_opts(&c, "direct", &k) || k != 0)
			why = "direct: empty entry should give no options";
		else if (tp_config_handler_opts(&c, "socks5://x:1", &k) || k != 0)
			why = "unknown spec should give none";
		else if (tp_config_handler_opts(NULL, "echo", &k) || k != 0)
			why = "NULL config should give none";
		report("per-handler options", why, NULL);
	}
	tp_config_free(&c);
}

/* CLI over file: scalars replaced, lists appended after the file's. */
TP_TEST(cli_overrides_file)
{
	static struct tp_options o;
	static struct tp_config c;
	static char *argv[ARGV_MAX];
	static const char *const args[] = {
	        "--mtu",       "1400",         "--handler",        "direct",
	        "--route",     "192.0.2.0/24", "--rule",           "port=22,handler=echo",
	        "--log-level", "warn",         "--allow-loopback", NULL};
	char err[512];
	const char *why = NULL;
	int ret;

	ret = parse_text(&c, &o, full_yaml, err, sizeof(err));
	if (!ret)
		ret = tp_options_parse_over(&o, argv_of(args, argv), argv, err, sizeof(err));
	if (ret)
		why = "parse failed";
	else if (o.mtu != 1400 || !o.mtu_set)
		why = "mtu not overridden";
	else if (strcmp(o.handler, "direct"))
		why = "handler not overridden";
	else if (o.log_level != TP_LOG_WARN)
		why = "log-level not overridden";
	else if (o.n_routes != 4 || o.routes[0].prefix != 16 || o.routes[3].prefix != 24)
		why = "routes: CLI not appended after the file's three";
	else if (o.n_rules != 3 || o.rules[2].port_lo != 22 || strcmp(o.rules[2].handler, "echo") ||
	         o.rules[0].port_lo != 80)
		why = "rules: CLI not appended after the file's two";
	else if (strcmp(o.tun_name, "t0") || o.max_flows != 1000000 || !o.icmp_drop)
		why = "file values not kept";
	report("command line overrides the file", why, ret ? err : NULL);
	tp_config_free(&c);
}

struct bad_case {
	const char *name;
	const char *yaml;
	unsigned line;
	const char *want[3]; /* substrings of the message */
};

/* bad YAML: libyaml's problem with the line */
static const struct bad_case bad_yaml[] = {
        {"bad YAML: unclosed flow mapping",
         "log-level: info\ntun: {mtu: 1500\nflows: {max: 1}\n",
         3,
         {"bad YAML", "did not find expected"}},
        {"bad YAML: tab indentation",
         "tun:\n\tmtu: 1500\n",
         2,
         {"bad YAML", "cannot start any token"}},
        {"bad YAML: bad indentation",
         "tun:\n  mtu: 1500\n name: x\n",
         3,
         {"bad YAML", "did not find expected key"}},
        {"bad YAML: undefined alias", "tun: *nothing\n", 1, {"bad YAML", "undefined alias"}},
        {"bad YAML: invalid UTF-8", "log-level: info\nicmp: \"\xff\"\n", 2, {"bad YAML"}},
        {"second document", "log-level: info\n---\nicmp: drop\n", 3, {"second YAML document"}},
        {"top level a list", "- a\n- b\n", 1, {"top level", "a list"}},
};

/* unknown keys at each level */
static const struct bad_case unknown_keys[] = {
        {"unknown key: top", "log-level: info\nmtu: 1500\n", 2, {"unknown key \"mtu\""}},
        {"unknown key: tun",
         "tun:\n  name: tp0\n  mtuu: 1500\n",
         3,
         {"unknown key \"mtuu\"", "\"tun\""}},
        {"unknown key: flows", "flows: {maxx: 1}\n", 1, {"unknown key \"maxx\"", "\"flows\""}},
        {"unknown key: udp", "udp:\n  timeout: 5\n  ttl: 1\n", 3, {"unknown key \"ttl\"", "udp"}},
        {"unknown key: dns",
         "dns: {upstream: [\"1.1.1.1:53\"]}\n",
         1,
         {"unknown key \"upstream\""}},
        {"unknown key: outbound",
         "outbound:\n  mark: 7\n",
         2,
         {"unknown key \"mark\"", "outbound"}},
        {"unknown key: rule",
         "rules:\n  - handler: direct\n    dport: 80\n",
         3,
         {"unknown key \"dport\"", "rules[0]"}},
};

/* bad values, each validated like the option it stands for */
static const struct bad_case bad_values[] = {
        {"bad number: mtu",
         "tun:\n  name: tp0\n  mtu: abc\n",
         3,
         {"key \"tun.mtu\"", "\"abc\" is not a number in 576..65535"}},
        {"bad number: mtu too big", "tun: {mtu: 70000}\n", 1, {"tun.mtu", "70000"}},
        {"bad number: negative timeout",
         "flows: {idle-timeout: -1}\n",
         1,
         {"flows.idle-timeout", "-1"}},
        {"bad number: empty", "udp:\n  max-flows:\n", 2, {"udp.max-flows", "\"\""}},
        {"bad number: fwmark", "outbound: {fwmark: 0xzz}\n", 1, {"outbound.fwmark", "0xzz"}},
        {"bad CIDR: address",
         "tun:\n  addresses:\n    - 10.0.0.1/24\n    - 300.1.2.3/8\n",
         4,
         {"key \"tun.addresses\"", "300.1.2.3/8", "address/prefix"}},
        {"bad CIDR: route", "tun: {routes: [10.0.0.0/40]}\n", 1, {"tun.routes", "10.0.0.0/40"}},
        {"bad CIDR: rule dst",
         "rules:\n  - handler: direct\n  - dst: 10.0.0.0/33\n    handler: direct\n",
         3,
         {"key \"rules[1].dst\"", "10.0.0.0/33"}},
        {"bad port: rule",
         "rules:\n  - {port: 443-80, handler: direct}\n",
         2,
         {"key \"rules[0].port\"", "443-80", "1..65535"}},
        {"bad port: zero",
         "rules:\n  - {port: 0, handler: direct}\n",
         2,
         {"rules[0].port", "\"0\""}},
        {"bad proto", "rules:\n  - {proto: sctp, handler: echo}\n", 2, {"rules[0].proto", "sctp"}},
        {"rule without handler", "rules:\n  - {port: 80}\n", 2, {"rules[0]", "handler missing"}},
        {"bad dns upstream",
         "dns:\n  upstreams: [\"1.1.1.1\"]\n",
         2,
         {"dns.upstreams", "ADDR:PORT"}},
        {"bad interface name",
         "outbound: {bind-interface: \"a/b\"}\n",
         1,
         {"outbound.bind-interface", "interface name"}},
        {"bad tun name", "tun: {name: abcdefghijklmnopq}\n", 1, {"tun.name", "abcdefghijklmnopq"}},
        {"bad log level", "log-level: loud\n", 1, {"key \"log-level\"", "loud", "debug"}},
        {"bad icmp", "icmp: maybe\n", 1, {"key \"icmp\"", "maybe", "reply|drop"}},
        {"bad bool", "tun:\n  offload: yes\n", 2, {"tun.offload", "not true or false"}},
        {"bad handler spec key",
         "handlers:\n  \"://x\": {a: b}\n",
         2,
         {"key \"handlers\"", "://x", "spec"}},
        {"bad bool: auto-route", "auto-route: maybe\n", 1, {"key \"auto-route\"", "true or false"}},
        {"unknown key: auto-route",
         "auto-route:\n  tabel: 5\n",
         2,
         {"unknown key \"tabel\"", "\"auto-route\""}},
        {"reserved table",
         "auto-route: {table: 254}\n",
         1,
         {"auto-route.table", "254", "reserved"}},
        {"bad uid range",
         "auto-route:\n  exclude-uid: [5-1]\n",
         2,
         {"auto-route.exclude-uid", "5-1"}},
        {"bad CIDR: auto-route exclude",
         "auto-route: {exclude: [x]}\n",
         1,
         {"auto-route.exclude", "\"x\""}},
};

/* wrong types: list vs scalar vs mapping */
static const struct bad_case wrong_types[] = {
        {"type: list for a scalar",
         "tun:\n  mtu: [1500]\n",
         2,
         {"tun.mtu", "expected a scalar", "a list"}},
        {"type: scalar for a list",
         "tun:\n  addresses: 10.0.0.1/8\n",
         2,
         {"tun.addresses", "expected a list", "a scalar"}},
        {"type: scalar for a section", "flows: 5\n", 1, {"key \"flows\"", "expected a mapping"}},
        {"type: list for a section",
         "udp: [1, 2]\n",
         1,
         {"key \"udp\"", "expected a mapping", "a list"}},
        {"type: mapping in a list",
         "dns:\n  upstreams:\n    - {a: b}\n",
         3,
         {"dns.upstreams", "a mapping"}},
        {"type: rules a mapping",
         "rules: {handler: direct}\n",
         1,
         {"key \"rules\"", "expected a list"}},
        {"type: rule a scalar",
         "rules:\n  - proto=tcp,handler=direct\n",
         2,
         {"rules[0]", "expected a mapping", "a scalar"}},
        {"type: rule value a list",
         "rules:\n  - {handler: [direct]}\n",
         2,
         {"rules[0].handler", "a list"}},
        {"type: handler options a list",
         "handlers:\n  echo: [a, b]\n",
         2,
         {"handlers[echo]", "expected a mapping"}},
        {"type: handler option value a mapping",
         "handlers:\n  echo:\n    a: {b: c}\n",
         3,
         {"handlers[echo].a", "expected a scalar"}},
        {"type: handler a list", "handler: [direct]\n", 1, {"key \"handler\"", "a list"}},
        {"type: mapping key", "tun:\n  [a]: 1\n", 2, {"a key in \"tun\"", "a list"}},
};

/* duplicate keys at each level */
static const struct bad_case duplicate_keys[] = {
        {"duplicate key: top",
         "log-level: info\nicmp: drop\nlog-level: debug\n",
         3,
         {"duplicate key \"log-level\"", "line 1"}},
        {"duplicate key: tun",
         "tun:\n  mtu: 1500\n  mtu: 1400\n",
         3,
         {"duplicate key \"mtu\"", "\"tun\"", "line 2"}},
        {"duplicate key: rule",
         "rules:\n  - handler: direct\n    port: 80\n    port: 81\n",
         4,
         {"duplicate key \"port\"", "rules[0]"}},
        {"duplicate key: handlers",
         "handlers:\n  echo: {}\n  echo: {a: b}\n",
         3,
         {"duplicate key \"echo\"", "handlers"}},
        {"duplicate key: handler options",
         "handlers:\n  echo:\n    a: 1\n    a: 2\n",
         4,
         {"duplicate key \"a\"", "handlers[echo]"}},
};

/* limits */
static const struct bad_case limits[] = {
        {"too many rules", NULL, 0, {"at most 65536 rules"}},
};

/* Each entry of t[0..n-1] is refused with -EINVAL and a one-line message
 * "tunplug: test.yaml:LINE: " with every want substring. */
static void run_bad(const struct bad_case *t, size_t n)
{
	static struct tp_options o;
	static struct tp_config c;
	static char many[(TP_OPT_MAX_RULES + 2) * 40];
	char err[512], prefix[64], name[128];

	for (size_t i = 0; i < n; i++) {
		const struct bad_case *b = &t[i];
		const char *text = b->yaml, *why = NULL;
		unsigned line = b->line;
		int ret;

		if (!text) { /* too many rules: TP_OPT_MAX_RULES + 1 */
			size_t off = (size_t)snprintf(many, sizeof(many), "rules:\n");
			for (int k = 0; k <= TP_OPT_MAX_RULES; k++)
				off += (size_t)snprintf(many + off, sizeof(many) - off,
				                        "  - {port: %d, handler: direct}\n",
				                        k % 65535 + 1);
			text = many;
			line = TP_OPT_MAX_RULES + 2;
		}
		ret = parse_text(&c, &o, text, err, sizeof(err));
		snprintf(prefix, sizeof(prefix), "tunplug: test.yaml:%u: ", line);
		if (ret != -EINVAL)
			why = "not rejected with -EINVAL";
		else if (strncmp(err, prefix, strlen(prefix)))
			why = "message does not start with tunplug: test.yaml:LINE:";
		for (int k = 0; !why && k < 3 && b->want[k]; k++)
			if (!strstr(err, b->want[k]))
				why = b->want[k];
		if (!why && strchr(err, '\n'))
			why = "message has a newline";
		snprintf(name, sizeof(name), "error: %s", b->name);
		report(name, why, err);
		tp_config_free(&c);
	}
}

TP_TEST(error_bad_yaml)
{
	run_bad(bad_yaml, N_OF(bad_yaml));
}

TP_TEST(error_unknown_keys)
{
	run_bad(unknown_keys, N_OF(unknown_keys));
}

TP_TEST(error_bad_values)
{
	run_bad(bad_values, N_OF(bad_values));
}

TP_TEST(error_wrong_types)
{
	run_bad(wrong_types, N_OF(wrong_types));
}

TP_TEST(error_duplicate_keys)
{
	run_bad(duplicate_keys, N_OF(duplicate_keys));
}

TP_TEST(error_limits)
{
	run_bad(limits, N_OF(limits));
}

/* Checks that need the whole file (tp_config_check). */
TP_TEST(whole_file_checks)
{
	static const struct {
		const char *name, *yaml;
		size_t plugins;
		const char *want; /* NULL: must pass */
	} cases[] = {
	        {"unknown default handler", "log-level: info\nhandler: nope\n", 0,
	         "tunplug: test.yaml:2: key \"handler\": \"nope\" is not a handler"},
	        {"unknown rule handler",
	         "rules:\n  - handler: direct\n  - {port: 80, handler: \"nope://x\"}\n", 0,
	         "tunplug: test.yaml:3: key \"rules[1].handler\": \"nope://x\" is not a handler"},
	        {"unknown handler in handlers", "handlers:\n  echo: {}\n  nope: {a: b}\n", 0,
	         "tunplug: test.yaml:3: key \"handlers\": \"nope\" is not a handler"},
	        {"plugin handler with plugins in the file",
	         "plugins: [/x/upper.so]\nhandler: upper\n", 0, NULL},
	        {"plugin handler with plugins on the command line", "handler: upper\n", 1, NULL},
	        {"tun.fd with routes", "tun:\n  fd: 3\n  routes: [10.0.0.0/8]\n", 0,
	         "tunplug: test.yaml:3: key \"tun.routes\": cannot be combined with tun.fd"},
	        {"tun.fd with mtu", "tun: {mtu: 1400, fd: 3}\n", 0,
	         "tunplug: test.yaml:1: key \"tun.mtu\": cannot be combined with tun.fd"},
	        {"tun.fd with txqueuelen", "tun: {txqueuelen: 20000, fd: 3}\n", 0,
	         "tunplug: test.yaml:1: key \"tun.txqueuelen\": cannot be combined with tun.fd"},
	        {"tun.fd alone", "tun: {fd: 3}\n", 0, NULL},
	        {"tun.fd with auto-route", "auto-route: true\ntun: {fd: 3}\n", 0,
	         "tunplug: test.yaml:1: key \"auto-route\": cannot be combined with tun.fd"},
	        {"auto-route: false", "auto-route: false\n", 0, NULL},
	        {"empty file", "", 0, NULL},
	        {"only a comment", "# nothing\n", 0, NULL},
	        {"empty sections", "tun:\nflows: ~\nrules: []\nhandlers: {}\n", 0, NULL},
	};
	static struct tp_options o;
	static struct tp_config c;
	char err[512], name[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		int ret = parse_text(&c, &o, cases[i].yaml, err, sizeof(err));

		if (!ret)
			ret = tp_config_check(&c, &o, cases[i].plugins, err, sizeof(err));
		if (cases[i].want && !ret)
			why = "accepted";
		else if (cases[i].want && strncmp(err, cases[i].want, strlen(cases[i].want)))
			why = cases[i].want;
		else if (!cases[i].want && ret)
			why = "rejected";
		snprintf(name, sizeof(name), "check: %s", cases[i].name);
		report(name, why, ret ? err : NULL);
		tp_config_free(&c);
	}
}

/* Whole file + command line as main does it; --tun-fd across the two. */
TP_TEST(tun_fd_across_file_and_cli)
{
	static struct tp_options o;
	static struct tp_config c;
	static char *argv[ARGV_MAX];
	static const char *const args[] = {"--tun-fd", "3", NULL};
	char err[512];
	int ret = parse_text(&c, &o, "tun:\n  routes: [10.0.0.0/8]\n", err, sizeof(err));

	if (!ret)
		ret = tp_options_parse_over(&o, argv_of(args, argv), argv, err, sizeof(err));
	report("--tun-fd on the command line with tun.routes in the file",
	       ret == -EINVAL && strstr(err, "tun fd") && strstr(err, "config file")
	               ? NULL
	               : "not rejected",
	       err);
	tp_config_free(&c);
}

/* tp_config_load: a real file, and a missing one. */
TP_TEST(load_file)
{
	static struct tp_options o;
	static struct tp_config c;
	char path[] = "/tmp/tp-test-config-XXXXXX";
	char err[512];
	const char *why = NULL;
	int fd = mkstemp(path), ret;

	if (fd < 0 || write(fd, "tun: {mtu: 1280}\nicmp: [x]\n", 27) != 27) {
		report("load a file", "cannot write a temporary file", NULL);
		return;
	}
	close(fd);
	tp_options_defaults(&o);
	ret = tp_config_load(&c, &o, path, err, sizeof(err));
	if (ret != -EINVAL || strncmp(err, "tunplug: ", 9) || !strstr(err, path) ||
	    !strstr(err, ":2: key \"icmp\""))
		why = "error does not name the file, line 2 and icmp";
	tp_config_free(&c);
	unlink(path);
	report("load a file (message names it)", why, err);

	tp_options_defaults(&o);
	ret = tp_config_load(&c, &o, "/nonexistent/tunplug.yaml", err, sizeof(err));
	report("load a missing file",
	       ret == -ENOENT && strstr(err, "/nonexistent/tunplug.yaml") ? NULL : "not -ENOENT",
	       err);
	tp_config_free(&c);
}

/* ---- every option of the table with a config key (options.h) ---- */

/* The YAML for key ("tun.queues" nests as tun: {queues: ...}) = value. */
static void yaml_of(char *out, size_t len, const char *key, const char *value)
{
	size_t off = 0;
	int depth = 0;

	for (const char *p = key;; depth++) {
		const char *dot = strchr(p, '.');
		int k = dot ? (int)(dot - p) : (int)strlen(p);

		off += (size_t)snprintf(out + off, len - off, "%*s%.*s:%s", 2 * depth, "", k, p,
		                        dot ? "\n" : " ");
		if (!dot)
			break;
		p = dot + 1;
	}
	snprintf(out + off, len - off, "%s\n", value);
}

/* An option's example as the file writes it: "VALUE", ["VALUE"], or
 * for rules [{k: "v", ...}] from --rule's k=v,k=v. */
static void value_of(char *out, size_t len, const struct tp_optdef *d)
{
	size_t off = 0;

	if (d->flags & TP_OPTF_KEY_RULES) {
		const char *p = d->example;

		off += (size_t)snprintf(out, len, "[{");
		while (*p) {
			size_t k = strcspn(p, "="), v;

			v = strcspn(p + k + 1, ",");
			off += (size_t)snprintf(out + off, len - off, "%s%.*s: \"%.*s\"",
			                        p == d->example ? "" : ", ", (int)k, p, (int)v,
			                        p + k + 1);
			p += k + 1 + v;
			p += *p == ',';
		}
		snprintf(out + off, len - off, "}]");
	} else if (d->arg == TP_ARG_LIST) {
		snprintf(out, len, "[\"%s\"]", d->example);
	} else {
		snprintf(out, len, "\"%s\"", d->example);
	}
}

/* Parse text as a file (*fo) and args as a command line without the checks
 * of the whole set (*co); NULL if they agree, else what differs. */
static const char *file_vs_cli(const char *text, const char *const *args, char *err, size_t errlen)
{
	static struct tp_options fo, co;
	static struct tp_config c;
	static char *argv[ARGV_MAX];
	const char *why = NULL;

	if (parse_text(&c, &fo, text, err, errlen))
		why = "the file is refused";
	else if (tp_options_scan(&co, argv_of(args, argv), argv, err, errlen))
		why = "the command line is refused";
	else
		why = options_diff(&fo, &co);
	tp_config_free(&c);
	return why;
}

/* Each option with a config key: the key with the option's example value
 * gives what the command line gives. A key inside a flag's section (the
 * auto-route mapping) also sets that flag. */
TP_TEST(every_key)
{
	char text[512], value[256], opt[64], name[320], err[512];

	for (const struct tp_optdef *d = tp_optdef_next(NULL); d; d = tp_optdef_next(d)) {
		const char *args[8], *why;
		const char *dot = d->yaml_key ? strrchr(d->yaml_key, '.') : NULL;
		int k = 0;

		if (!d->yaml_key || d->arg == TP_ARG_NONE)
			continue;
		if (dot) {
			char sect[64];
			const struct tp_optdef *s;

			snprintf(sect, sizeof(sect), "%.*s", (int)(dot - d->yaml_key), d->yaml_key);
			s = tp_optdef_by_key(sect);
			if (s && s->arg == TP_ARG_NONE) {
				static char flag[64];

				snprintf(flag, sizeof(flag), "--%s", s->name);
				args[k++] = flag;
			}
		}
		snprintf(opt, sizeof(opt), "--%s", d->name);
		args[k++] = opt;
		args[k++] = d->example;
		args[k] = NULL;
		value_of(value, sizeof(value), d);
		yaml_of(text, sizeof(text), d->yaml_key, value);
		snprintf(name, sizeof(name), "key %s: %s == --%s %s", d->yaml_key, value, d->name,
		         d->example);
		why = file_vs_cli(text, args, err, sizeof(err));
		report(name, why, err[0] ? err : NULL);
	}
}

/* Each flag with a config key: "true" and "false" give what the command
 * line's flag and its absence give (the opposite for tun.offload), and
 * nothing else: a boolean key sets its own field only. */
TP_TEST(every_flag_key)
{
	char text[256], opt[64], name[320], err[512];

	for (const struct tp_optdef *d = tp_optdef_next(NULL); d; d = tp_optdef_next(d)) {
		if (!d->yaml_key || d->arg != TP_ARG_NONE)
			continue;
		snprintf(opt, sizeof(opt), "--%s", d->name);
		for (int on = 0; on < 2; on++) {
			const char *const with[] = {opt, NULL}, *const without[] = {NULL};
			const char *why;
			bool set = on != !!(d->flags & TP_OPTF_KEY_NOT);

			yaml_of(text, sizeof(text), d->yaml_key, on ? "true" : "false");
			snprintf(name, sizeof(name), "flag key %s: %s == %s%s", d->yaml_key,
			         on ? "true" : "false", set ? "" : "no ", opt);
			why = file_vs_cli(text, set ? with : without, err, sizeof(err));
			report(name, why, err[0] ? err : NULL);
		}
	}
}

/* The options without a config key have none: "name: VALUE" is an
 * unknown key at the top level. */
TP_TEST(no_key)
{
	static struct tp_options o;
	static struct tp_config c;
	char text[160], name[160], err[512];

	for (const struct tp_optdef *d = tp_optdef_next(NULL); d; d = tp_optdef_next(d)) {
		const char *why = NULL;

		if (d->yaml_key)
			continue;
		snprintf(text, sizeof(text), "%s: %s\n", d->name, d->example ? d->example : "true");
		if (parse_text(&c, &o, text, err, sizeof(err)) != -EINVAL ||
		    !strstr(err, "unknown key"))
			why = "accepted";
		snprintf(name, sizeof(name), "--%s has no config key", d->name);
		report(name, why, err);
		tp_config_free(&c);
	}
}

/* The defect of the old key table: a boolean key it did not name set
 * allow_loopback. Each boolean key now sets its own field and nothing
 * else: the result is the defaults with that one bool changed. */
TP_TEST(bool_own_field)
{
	static struct tp_options o, want;
	static struct tp_config c;
	static const struct {
		const char *yaml;
		size_t off; /* the bool that must become true */
	} cases[] = {
	        {"tun: {offload: false}\n", offsetof(struct tp_options, no_offload)},
	        {"auto-route: true\n", offsetof(struct tp_options, auto_route)},
	        {"auto-route: {}\n", offsetof(struct tp_options, auto_route)},
	        {"flows: {allow-loopback: true}\n", offsetof(struct tp_options, allow_loopback)},
	};
	char err[512], name[160];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;

		tp_options_defaults(&want);
		*(bool *)(void *)((char *)&want + cases[i].off) = true;
		if (parse_text(&c, &o, cases[i].yaml, err, sizeof(err)))
			why = "refused";
		else
			why = options_diff(&o, &want);
		snprintf(name, sizeof(name), "bool key sets its own field only: %.*s",
		         (int)strcspn(cases[i].yaml, "\n"), cases[i].yaml);
		report(name, why, why ? err : NULL);
		tp_config_free(&c);
	}
}
