/* SPDX-License-Identifier: MIT */
/* tunplug — table test of the command-line parser (gateway/src/options.c):
 * accepted and refused command lines, every option of the table through
 * getopt, --help and the README's Options section. One TP_TEST case per
 * group (tests/harness.h); each item is one CHECK followed by its OK line.
 * The README case reads the path from $TP_README (set by ctest). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "options/options.h"

#define MAX_ARGS 16

struct cli_case {
	const char *name;
	const char *args[MAX_ARGS]; /* argv[1..], NULL-terminated */
	int want_ret;               /* 0 or -EINVAL */
	const char *want_err[3];    /* substrings the message must contain */
	/* For successful cases: returns NULL or what is wrong. */
	const char *(*check)(const struct tp_options *o);
};

static const char *check_defaults(const struct tp_options *o)
{
	if (strcmp(o->tun_name, "tunplug0"))
		return "tun_name";
	if (o->tun_fd != -1)
		return "tun_fd";
	if (o->n_addrs || o->n_routes)
		return "addrs/routes";
	if (o->mtu != 1500 || o->mtu_set)
		return "mtu";
	if (strcmp(o->handler, "direct"))
		return "handler";
	if (o->bind_interface || o->fwmark_set)
		return "protect";
	if (o->max_flows != 4096)
		return "max_flows";
	if (o->connect_timeout_s != 130)
		return "connect_timeout";
	if (o->idle_timeout_s != 300)
		return "idle_timeout";
	if (o->flow_buffer != 1048576)
		return "flow_buffer";
	if (o->allow_loopback)
		return "allow_loopback";
	if (o->log_level != TP_LOG_INFO)
		return "log_level";
	if (o->queues != 1)
		return "queues";
	if (o->help || o->version)
		return "help/version";
	return NULL;
}

static const char *check_all(const struct tp_options *o)
{
	static const uint8_t a4[4] = {198, 19, 255, 1};

	if (strcmp(o->tun_name, "t0"))
		return "tun_name";
	if (o->n_addrs != 2 || o->addrs[0].family != AF_INET || o->addrs[0].prefix != 32 ||
	    memcmp(o->addrs[0].addr, a4, 4) || o->addrs[1].family != AF_INET6 ||
	    o->addrs[1].prefix != 64)
		return "addrs";
	if (o->n_routes != 3 || o->routes[0].prefix != 16 || o->routes[1].prefix != 8 ||
	    o->routes[2].family != AF_INET6 || o->routes[2].prefix != 48)
		return "routes";
	if (o->mtu != 9000 || !o->mtu_set)
		return "mtu";
	if (strcmp(o->handler, "echo"))
		return "handler";
	if (!o->bind_interface || strcmp(o->bind_interface, "eth0"))
		return "bind_interface";
	if (!o->fwmark_set || o->fwmark != 0x1234)
		return "fwmark";
	if (o->max_flows != 1000000)
		return "max_flows";
	if (o->connect_timeout_s != 3)
		return "connect_timeout";
	if (o->idle_timeout_s != 0)
		return "idle_timeout";
	if (o->flow_buffer != 4096)
		return "flow_buffer";
	if (!o->allow_loopback)
		return "allow_loopback";
	if (o->log_level != TP_LOG_DEBUG)
		return "log_level";
	return NULL;
}

static const char *check_tun_fd(const struct tp_options *o)
{
	return o->tun_fd == 3 ? NULL : "tun_fd";
}

static const char *check_queues_2(const struct tp_options *o)
{
	return o->queues == 2 ? NULL : "queues";
}

static const char *check_queues_64(const struct tp_options *o)
{
	return o->queues == 64 ? NULL : "queues";
}

static const char *check_queues_auto(const struct tp_options *o)
{
	return o->queues == 0 ? NULL : "queues (auto = 0)";
}

static const char *check_queues_1_tun_fd(const struct tp_options *o)
{
	return o->queues == 1 && o->tun_fd == 3 ? NULL : "queues/tun_fd";
}

static const char *check_fwmark_dec(const struct tp_options *o)
{
	return o->fwmark_set && o->fwmark == 4294967295u ? NULL : "fwmark";
}

static const char *check_help(const struct tp_options *o)
{
	return o->help ? NULL : "help";
}

static const char *check_version(const struct tp_options *o)
{
	return o->version ? NULL : "version";
}

static const char *check_level_error(const struct tp_options *o)
{
	return o->log_level == TP_LOG_ERROR ? NULL : "log_level";
}

static const char *check_equals_form(const struct tp_options *o)
{
	return o->mtu == 576 && o->idle_timeout_s == 604800 ? NULL : "mtu/idle";
}

static const char *check_config_path(const struct tp_options *o)
{
	if (!o->config_path || strcmp(o->config_path, "/etc/tp.yaml"))
		return "config_path";
	return o->check_config ? "check_config set" : NULL;
}

static const char *check_check_config(const struct tp_options *o)
{
	if (!o->config_path || strcmp(o->config_path, "/etc/tp.yaml"))
		return "config_path";
	return o->check_config ? NULL : "check_config";
}

static const struct cli_case accepted[] = {
        {"defaults", {NULL}, 0, {0}, check_defaults},
        {"help", {"--help", NULL}, 0, {0}, check_help},
        {"short help", {"-h", NULL}, 0, {0}, check_help},
        {"version", {"--version", NULL}, 0, {0}, check_version},
        {"tun-fd alone", {"--tun-fd", "3", "--handler", "echo", NULL}, 0, {0}, check_tun_fd},
        {"fwmark decimal max", {"--fwmark", "4294967295", NULL}, 0, {0}, check_fwmark_dec},
        {"log-level error", {"--log-level", "error", NULL}, 0, {0}, check_level_error},
        {"--opt=value form",
         {"--mtu=576", "--idle-timeout=604800", NULL},
         0,
         {0},
         check_equals_form},
        {"-c FILE", {"-c", "/etc/tp.yaml", NULL}, 0, {0}, check_config_path},
        {"--config=FILE", {"--config=/etc/tp.yaml", NULL}, 0, {0}, check_config_path},
        {"--check-config --config FILE",
         {"--check-config", "--config", "/etc/tp.yaml", NULL},
         0,
         {0},
         check_check_config},
};

/* refused: the message names the option and the value */
static const struct cli_case bad_values[] = {
        {"-c needs a value", {"-c", NULL}, -EINVAL, {"-c", "needs a value"}, NULL},
        {"check-config takes no value",
         {"--check-config=yes", NULL},
         -EINVAL,
         {"--check-config"},
         NULL},
        {"mtu not a number",
         {"--mtu", "abc", NULL},
         -EINVAL,
         {"--mtu", "\"abc\"", "576..65535"},
         NULL},
        {"mtu too small", {"--mtu", "575", NULL}, -EINVAL, {"--mtu", "575"}, NULL},
        {"mtu too big", {"--mtu", "65536", NULL}, -EINVAL, {"--mtu", "65536"}, NULL},
        {"mtu negative", {"--mtu", "-1500", NULL}, -EINVAL, {"--mtu", "-1500"}, NULL},
        {"mtu trailing junk", {"--mtu", "1500x", NULL}, -EINVAL, {"--mtu", "1500x"}, NULL},
        {"mtu empty", {"--mtu=", NULL}, -EINVAL, {"--mtu", "\"\""}, NULL},
        {"mtu leading space", {"--mtu", " 1500", NULL}, -EINVAL, {"--mtu"}, NULL},
        {"tun-fd negative", {"--tun-fd", "-1", NULL}, -EINVAL, {"--tun-fd", "-1"}, NULL},
        {"tun-fd junk", {"--tun-fd", "x", NULL}, -EINVAL, {"--tun-fd", "\"x\""}, NULL},
        {"tun-name too long",
         {"--tun-name", "abcdefghijklmnop", NULL},
         -EINVAL,
         {"--tun-name", "abcdefghijklmnop"},
         NULL},
        {"tun-name empty", {"--tun-name", "", NULL}, -EINVAL, {"--tun-name"}, NULL},
        {"tun-name slash", {"--tun-name", "a/b", NULL}, -EINVAL, {"--tun-name", "a/b"}, NULL},
        {"address bad",
         {"--address", "300.1.2.3/33", NULL},
         -EINVAL,
         {"--address", "300.1.2.3/33"},
         NULL},
        {"address junk", {"--address", "hello", NULL}, -EINVAL, {"--address", "hello"}, NULL},
        {"route bad prefix",
         {"--route", "10.0.0.0/40", NULL},
         -EINVAL,
         {"--route", "10.0.0.0/40"},
         NULL},
        {"route v6 bad", {"--route", "fd00::/129", NULL}, -EINVAL, {"--route", "fd00::/129"}, NULL},
        {"route missing value", {"--route", NULL}, -EINVAL, {"--route", "value"}, NULL},
        {"handler unknown",
         {"--handler", "socks9", NULL},
         -EINVAL,
         {"--handler", "socks9", "direct"},
         NULL},
        {"bind-interface too long",
         {"--bind-interface", "0123456789abcdef", NULL},
         -EINVAL,
         {"--bind-interface"},
         NULL},
        {"fwmark too big",
         {"--fwmark", "4294967296", NULL},
         -EINVAL,
         {"--fwmark", "4294967296"},
         NULL},
        {"fwmark bad hex", {"--fwmark", "0xzz", NULL}, -EINVAL, {"--fwmark", "0xzz"}, NULL},
        {"fwmark octal-looking junk", {"--fwmark", "12ab", NULL}, -EINVAL, {"--fwmark"}, NULL},
        {"max-flows zero", {"--max-flows", "0", NULL}, -EINVAL, {"--max-flows", "\"0\""}, NULL},
        {"max-flows too many",
         {"--max-flows", "1000001", NULL},
         -EINVAL,
         {"--max-flows", "1000001"},
         NULL},
        {"connect-timeout zero",
         {"--connect-timeout", "0", NULL},
         -EINVAL,
         {"--connect-timeout"},
         NULL},
        {"connect-timeout junk",
         {"--connect-timeout", "10s", NULL},
         -EINVAL,
         {"--connect-timeout", "10s"},
         NULL},
        {"idle-timeout junk",
         {"--idle-timeout", "forever", NULL},
         -EINVAL,
         {"--idle-timeout", "forever"},
         NULL},
        {"flow-buffer too small",
         {"--flow-buffer", "4095", NULL},
         -EINVAL,
         {"--flow-buffer", "4095"},
         NULL},
        {"flow-buffer above lwIP's send buffer (it could never be held)",
         {"--flow-buffer", "1048577", NULL},
         -EINVAL,
         {"--flow-buffer", "1048577", "1048576"},
         NULL},
        {"flow-buffer overflow",
         {"--flow-buffer", "99999999999999999999999", NULL},
         -EINVAL,
         {"--flow-buffer"},
         NULL},
        {"log-level unknown",
         {"--log-level", "loud", NULL},
         -EINVAL,
         {"--log-level", "loud", "debug"},
         NULL},
        {"unknown long option",
         {"--no-such-option", NULL},
         -EINVAL,
         {"--no-such-option", "--help"},
         NULL},
        {"unknown short option", {"-z", NULL}, -EINVAL, {"-z", "--help"}, NULL},
        {"stray argument", {"extra", NULL}, -EINVAL, {"extra"}, NULL},
        {"allow-loopback takes no value",
         {"--allow-loopback=yes", NULL},
         -EINVAL,
         {"--allow-loopback"},
         NULL},
};

/* conflicts: an adopted fd gets no netlink setup */
static const struct cli_case tun_fd_conflicts[] = {
        {"tun-fd with route",
         {"--tun-fd", "3", "--route", "10.0.0.0/8", NULL},
         -EINVAL,
         {"--tun-fd", "--route"},
         NULL},
        {"route then tun-fd",
         {"--route", "10.0.0.0/8", "--tun-fd", "3", NULL},
         -EINVAL,
         {"--tun-fd", "--route"},
         NULL},
        {"tun-fd with address",
         {"--tun-fd", "3", "--address", "10.0.0.1/32", NULL},
         -EINVAL,
         {"--tun-fd", "--address"},
         NULL},
        {"tun-fd with mtu",
         {"--tun-fd", "3", "--mtu", "1400", NULL},
         -EINVAL,
         {"--tun-fd", "--mtu"},
         NULL},
        {"tun-fd with txqueuelen",
         {"--tun-fd", "3", "--txqueuelen", "20000", NULL},
         -EINVAL,
         {"--tun-fd", "--txqueuelen"},
         NULL},
};

/* --txqueuelen: given, or derived from --max-flows (4 per flow, within
 * 1000..100000) */
static unsigned want_qlen;

static const char *check_txqueuelen(const struct tp_options *o)
{
	return tp_options_txqueuelen(o) == want_qlen ? NULL : "tp_options_txqueuelen";
}

static const struct {
	unsigned want;
	struct cli_case c;
} txqueuelen_cases[] = {
        {16384, {"default: 4 x --max-flows 4096", {NULL}, 0, {0}, check_txqueuelen}},
        {1000,
         {"--max-flows 100: the floor", {"--max-flows", "100", NULL}, 0, {0}, check_txqueuelen}},
        {60000, {"--max-flows 15000", {"--max-flows", "15000", NULL}, 0, {0}, check_txqueuelen}},
        {100000,
         {"--max-flows 30000: 120000 capped",
          {"--max-flows", "30000", NULL},
          0,
          {0},
          check_txqueuelen}},
        {100000,
         {"--max-flows 1000000: the ceiling",
          {"--max-flows", "1000000", NULL},
          0,
          {0},
          check_txqueuelen}},
        {16,
         {"--txqueuelen 16 wins over --max-flows",
          {"--max-flows", "1000000", "--txqueuelen", "16", NULL},
          0,
          {0},
          check_txqueuelen}},
        {1000000,
         {"--txqueuelen 1000000", {"--txqueuelen", "1000000", NULL}, 0, {0}, check_txqueuelen}},
        {0,
         {"--txqueuelen 15",
          {"--txqueuelen", "15", NULL},
          -EINVAL,
          {"--txqueuelen", "\"15\"", "16..1000000"},
          NULL}},
        {0,
         {"--txqueuelen 1000001",
          {"--txqueuelen", "1000001", NULL},
          -EINVAL,
          {"--txqueuelen", "1000001"},
          NULL}},
        {0, {"--txqueuelen 0", {"--txqueuelen", "0", NULL}, -EINVAL, {"--txqueuelen", "0"}, NULL}},
};

/* --queues: accepted values and refused ones */
static const struct cli_case queues[] = {
        {"queues 2", {"--queues", "2", NULL}, 0, {0}, check_queues_2},
        {"queues max", {"--queues=64", NULL}, 0, {0}, check_queues_64},
        {"queues auto", {"--queues", "auto", NULL}, 0, {0}, check_queues_auto},
        {"queues 1 with tun-fd",
         {"--queues", "1", "--tun-fd", "3", NULL},
         0,
         {0},
         check_queues_1_tun_fd},
        {"queues 0", {"--queues", "0", NULL}, -EINVAL, {"--queues", "\"0\"", "1..64"}, NULL},
        {"queues 65", {"--queues", "65", NULL}, -EINVAL, {"--queues", "\"65\"", "auto"}, NULL},
        {"queues x", {"--queues", "x", NULL}, -EINVAL, {"--queues", "\"x\""}, NULL},
        {"queues empty", {"--queues=", NULL}, -EINVAL, {"--queues"}, NULL},
        {"queues negative", {"--queues", "-2", NULL}, -EINVAL, {"--queues", "\"-2\""}, NULL},
        {"queues Auto (case)", {"--queues", "AUTO", NULL}, -EINVAL, {"--queues"}, NULL},
        {"queues needs a value", {"--queues", NULL}, -EINVAL, {"--queues", "needs a value"}, NULL},
        {"queues 2 with tun-fd",
         {"--tun-fd", "3", "--queues", "2", NULL},
         -EINVAL,
         {"--queues", "adopted tun fd"},
         NULL},
        {"queues auto with tun-fd",
         {"--queues", "auto", "--tun-fd", "3", NULL},
         -EINVAL,
         {"--queues auto", "adopted tun fd"},
         NULL},
};

/* The "every option" case is split: getopt has a fixed argv size here. */
static const char *const all_args[] = {
        "--tun-name",
        "t0",
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
        "--mtu",
        "9000",
        "--handler",
        "echo",
        "--bind-interface",
        "eth0",
        "--fwmark",
        "0x1234",
        "--max-flows",
        "1000000",
        "--connect-timeout",
        "3",
        "--idle-timeout",
        "0",
        "--flow-buffer",
        "4096",
        "--allow-loopback",
        "--log-level",
        "debug",
        NULL,
};

static int run(const char *const *args, struct tp_options *o, char *err, size_t errlen)
{
	/* static: the parsed options point into argv, as they do into main's */
	static char *argv[64];
	static char store[64][64];
	int argc = 0;

	argv[argc++] = "tunplug";
	for (int i = 0; args[i]; i++) {
		snprintf(store[argc], sizeof(store[argc]), "%s", args[i]);
		argv[argc] = store[argc];
		argc++;
	}
	argv[argc] = NULL;
	err[0] = '\0';
	return tp_options_parse(o, argc, argv, err, errlen);
}

/* Each entry of t[0..n-1]: its return value, then its check (accepted) or
 * its message, "tunplug: " and every want_err substring (refused). */
static void run_table(const struct cli_case *t, size_t n)
{
	static struct tp_options o;
	char err[256];

	for (size_t i = 0; i < n; i++) {
		const struct cli_case *c = &t[i];
		const char *why = NULL;
		int ret = run(c->args, &o, err, sizeof(err));

		if (ret != c->want_ret) {
			why = "unexpected return value";
		} else if (ret == 0 && c->check) {
			why = c->check(&o);
		} else if (ret != 0) {
			if (strncmp(err, "tunplug: ", 9) != 0)
				why = "message does not start with \"tunplug: \"";
			for (int k = 0; !why && k < 3 && c->want_err[k]; k++)
				if (!strstr(err, c->want_err[k]))
					why = c->want_err[k];
		}
		CHECK(!why, "%s: %s (ret %d, message \"%s\")", c->name, why, ret, err);
		OK("%s%s%s", c->name, ret ? " -> " : "", ret ? err : "");
	}
}

#define N_OF(t) (sizeof(t) / sizeof((t)[0]))

TP_TEST(accepted)
{
	run_table(accepted, N_OF(accepted));
}

TP_TEST(bad_values)
{
	run_table(bad_values, N_OF(bad_values));
}

TP_TEST(tun_fd_conflicts)
{
	run_table(tun_fd_conflicts, N_OF(tun_fd_conflicts));
}

TP_TEST(queues)
{
	run_table(queues, N_OF(queues));
}

TP_TEST(txqueuelen)
{
	for (size_t i = 0; i < N_OF(txqueuelen_cases); i++) {
		want_qlen = txqueuelen_cases[i].want;
		run_table(&txqueuelen_cases[i].c, 1);
	}
}

/* Every option at once; then a repeated parse starts from the defaults
 * again (no state leaks). */
TP_TEST(all_options_then_defaults)
{
	static struct tp_options o;
	char err[256];
	const char *why;
	int ret = run(all_args, &o, err, sizeof(err));

	why = ret ? "parse failed" : check_all(&o);
	CHECK(!why, "all options: %s (ret %d, \"%s\")", why, ret, err);
	OK("all options at once");

	ret = run((const char *const[]){NULL}, &o, err, sizeof(err));
	why = ret ? "parse failed" : check_defaults(&o);
	CHECK(!why, "re-parse resets to defaults: %s (ret %d, \"%s\")", why, ret, err);
	OK("re-parse resets to defaults");
}

/* Too many --address: bounded, with a message. */
TP_TEST(too_many_addresses)
{
	static struct tp_options o;
	const char *many[2 * TP_OPT_MAX_ADDRS + 4];
	char err[256];
	int k = 0, ret;

	for (int j = 0; j <= TP_OPT_MAX_ADDRS; j++) {
		many[k++] = "--address";
		many[k++] = "10.0.0.1/32";
	}
	many[k] = NULL;
	ret = run(many, &o, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "--address"), "too many --address (ret %d, \"%s\")",
	      ret, err);
	OK("too many --address -> %s", err);
}

/* ---- the option table: every entry is checked, so getopt, --help, the
 * config keys (test_config.c) and the README cannot drift apart ---- */

/* One item of the option-table cases: a CHECK that why is NULL, then its
 * OK line. */
static void report(const char *name, const char *why, const char *detail)
{
	CHECK(!why, "%s: %s%s%s", name, why, detail ? " -- " : "", detail ? detail : "");
	OK("%s", name);
}

static size_t n_optdefs(void)
{
	size_t k = 0;

	for (const struct tp_optdef *d = tp_optdef_next(NULL); d; d = tp_optdef_next(d))
		k++;
	return k;
}

/* The table is well formed: unique names, short forms and keys; a flag
 * has a bool and nothing to parse; a value has a parser, a metavar and an
 * example; every entry has help; a key is an option or a section, not
 * both unless the option is a flag (auto-route). */
TP_TEST(option_table)
{
	char name[128];

	if (n_optdefs() < 30)
		report("option table", "fewer than 30 options", NULL);
	for (const struct tp_optdef *d = tp_optdef_next(NULL); d; d = tp_optdef_next(d)) {
		const char *why = NULL;
		size_t klen = d->yaml_key ? strlen(d->yaml_key) : 0;

		for (const struct tp_optdef *e = tp_optdef_next(NULL); e != d && !why;
		     e = tp_optdef_next(e)) {
			if (!strcmp(e->name, d->name))
				why = "name used twice";
			else if (d->short_name && e->short_name == d->short_name)
				why = "short form used twice";
			else if (d->yaml_key && e->yaml_key && !strcmp(e->yaml_key, d->yaml_key))
				why = "config key used twice";
		}
		if (why)
			;
		else if (!d->name[0] ||
		         strspn(d->name, "abcdefghijklmnopqrstuvwxyz-") != strlen(d->name))
			why = "name is not lower case and '-'";
		else if (tp_optdef_find(d->name) != d)
			why = "tp_optdef_find does not find it";
		else if (d->yaml_key && tp_optdef_by_key(d->yaml_key) != d)
			why = "tp_optdef_by_key does not find it";
		else if (!d->help || !d->help[0])
			why = "no help";
		else if (d->arg == TP_ARG_NONE && (d->set || d->metavar || d->example))
			why = "a flag with a parser, metavar or example";
		else if (d->arg != TP_ARG_NONE && (!d->set || !d->metavar || !d->example))
			why = "a value option without parser, metavar or example";
		else if ((d->flags & TP_OPTF_KEY_NOT) && d->arg != TP_ARG_NONE)
			why = "TP_OPTF_KEY_NOT on a value option";
		else if ((d->flags & TP_OPTF_KEY_RULES) && d->arg != TP_ARG_LIST)
			why = "TP_OPTF_KEY_RULES on an option that is not a list";
		else if (d->yaml_key && d->arg != TP_ARG_NONE) {
			for (const struct tp_optdef *e = tp_optdef_next(NULL); e && !why;
			     e = tp_optdef_next(e))
				if (e->yaml_key && !strncmp(e->yaml_key, d->yaml_key, klen) &&
				    e->yaml_key[klen] == '.')
					why = "config key is also a section";
		}
		snprintf(name, sizeof(name), "table: --%s well formed", d->name);
		report(name, why, NULL);
	}
}

/* argv of "tunplug" and args[] (static: the options point into it). */
static int argv_of(const char *const *args, char **argv)
{
	static char store[8][128];
	int argc = 0;

	argv[argc++] = "tunplug";
	for (int i = 0; args[i]; i++) {
		snprintf(store[argc], sizeof(store[argc]), "%s", args[i]);
		argv[argc] = store[argc];
		argc++;
	}
	argv[argc] = NULL;
	return argc;
}

/* a and b hold the same options (their rules compared by content: each
 * parse has its own rule array). */
static bool same_options(const struct tp_options *a, const struct tp_options *b)
{
	static struct tp_options x, y;

	if (a->n_rules != b->n_rules ||
	    (a->n_rules && memcmp(a->rules, b->rules, a->n_rules * sizeof(*a->rules))))
		return false;
	x = *a;
	y = *b;
	x.rules = y.rules = NULL;
	x.cap_rules = y.cap_rules = 0;
	return !memcmp(&x, &y, sizeof(x));
}

/* Every option, as getopt sees it: --name VALUE (or --name for a flag),
 * --name=VALUE and -X VALUE are accepted and change *o from the defaults;
 * a value option without its value and a flag with one are refused with
 * a message naming the option. */
TP_TEST(every_option)
{
	static struct tp_options o, def;
	static char *argv[8];
	char err[512], opt[64], eq[192], sh[3], name[160];

	tp_options_defaults(&def);
	for (const struct tp_optdef *d = tp_optdef_next(NULL); d; d = tp_optdef_next(d)) {
		const char *why = NULL;
		int ret;

		snprintf(opt, sizeof(opt), "--%s", d->name);
		ret = tp_options_scan(&o,
		                      argv_of((const char *const[]){opt, d->example, NULL}, argv),
		                      argv, err, sizeof(err));
		if (ret)
			why = "refused";
		else if (!memcmp(&o, &def, sizeof(o)))
			why = "no effect on the options";
		if (!why && d->arg != TP_ARG_NONE) {
			static struct tp_options o2;

			snprintf(eq, sizeof(eq), "--%s=%s", d->name, d->example);
			ret = tp_options_scan(&o2, argv_of((const char *const[]){eq, NULL}, argv),
			                      argv, err, sizeof(err));
			if (ret)
				why = "--name=VALUE refused";
			ret = tp_options_scan(&o2, argv_of((const char *const[]){opt, NULL}, argv),
			                      argv, err, sizeof(err));
			if (!why &&
			    (ret != -EINVAL || !strstr(err, opt) || !strstr(err, "needs a value")))
				why = "missing value not refused with \"needs a value\"";
		} else if (!why) {
			snprintf(eq, sizeof(eq), "--%s=x", d->name);
			ret = tp_options_scan(&o, argv_of((const char *const[]){eq, NULL}, argv),
			                      argv, err, sizeof(err));
			if (ret != -EINVAL || !strstr(err, eq) ||
			    !strstr(err, "does not take a value"))
				why = "--flag=x not refused with \"does not take a value\"";
		}
		if (!why && d->short_name) {
			snprintf(sh, sizeof(sh), "-%c", d->short_name);
			ret = tp_options_scan(
			        &o, argv_of((const char *const[]){sh, d->example, NULL}, argv),
			        argv, err, sizeof(err));
			if (ret || !memcmp(&o, &def, sizeof(o)))
				why = "short form refused or without effect";
		}
		/* tp_options_set (the config file's way in) agrees */
		if (!why) {
			static struct tp_options o3;

			tp_options_scan(&o,
			                argv_of((const char *const[]){opt, d->example, NULL}, argv),
			                argv, err, sizeof(err));
			tp_options_defaults(&o3);
			/* the same string: the options keep the pointer */
			ret = tp_options_set(&o3, d->name, argv[2], err, sizeof(err));
			if (ret || !same_options(&o, &o3))
				why = "tp_options_set differs from the command line";
		}
		snprintf(name, sizeof(name), "getopt accepts --%s%s%s", d->name,
		         d->example ? " " : "", d->example ? d->example : "");
		report(name, why, why ? err : NULL);
	}
}

/* --help lists every option with its metavar at the start of a line,
 * followed by each line of its help, under its group; the text is whole. */
TP_TEST(usage_text)
{
	const char *u = tp_options_usage();
	const char *tail = "reload (see README, systemd).\n";
	char want[256], name[128];

	for (const struct tp_optdef *d = tp_optdef_next(NULL); d; d = tp_optdef_next(d)) {
		const char *why = NULL, *at, *line = d->help;
		char sh[8] = "";

		if (d->short_name)
			snprintf(sh, sizeof(sh), "-%c, ", d->short_name);
		snprintf(want, sizeof(want), "\n  %s--%s%s%s  ", sh, d->name, d->metavar ? " " : "",
		         d->metavar ? d->metavar : "");
		at = strstr(u, want);
		if (!at)
			why = "no line \"  --name METAVAR  \"";
		/* its help, line by line, right after it */
		for (at = at ? at + strlen(want) : NULL; at && !why;) {
			const char *nl = strchr(line, '\n');
			size_t len = nl ? (size_t)(nl - line) : strlen(line);

			at += strspn(at, " ");
			if (strncmp(at, line, len) || at[len] != '\n')
				why = "its help text does not follow it";
			if (!nl)
				break;
			at += len + 1;
			line = nl + 1;
		}
		if (!why && d->group) {
			snprintf(want, sizeof(want), "\n\n%s:\n", d->group);
			if (!strstr(u, want))
				why = "no group heading";
		}
		snprintf(name, sizeof(name), "usage mentions --%s", d->name);
		report(name, why, NULL);
	}
	report("usage text complete (ends with the signals)",
	       strlen(u) > strlen(tail) && !strcmp(u + strlen(u) - strlen(tail), tail)
	               ? NULL
	               : "truncated",
	       NULL);
}

/* README.md's Options section has every option ("`--name", "`-X") and
 * every config key ("`tun.mtu"), and names no option that does not exist.
 * The path is $TP_README (tests/gateway/CMakeLists.txt sets it). */
TP_TEST(readme_options)
{
	static char text[1 << 17];
	const char *path = getenv("TP_README");
	FILE *f;
	size_t len;
	char *sec, *end, want[128], name[160], label[320];

	CHECK(path && path[0],
	      "TP_README is not set: run through ctest, or set TP_README=path/to/README.md");
	if (!path || !path[0])
		return;
	f = fopen(path, "r");
	CHECK(f, "TP_README=%s: cannot open: %s", path, strerror(errno));
	if (!f)
		return;
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	sec = strstr(text, "\n## Options\n");
	if (!sec) {
		report("README has an Options section", "not found", path);
		return;
	}
	end = strstr(sec + 1, "\n## ");
	if (end)
		*end = '\0';
	for (const struct tp_optdef *d = tp_optdef_next(NULL); d; d = tp_optdef_next(d)) {
		const char *why = NULL;

		snprintf(want, sizeof(want), "`--%s", d->name);
		if (!strstr(sec, want))
			why = "option missing";
		snprintf(want, sizeof(want), "`-%c", d->short_name);
		if (!why && d->short_name && !strstr(sec, want))
			why = "short form missing";
		snprintf(want, sizeof(want), "`%s", d->yaml_key ? d->yaml_key : "");
		if (!why && d->yaml_key && !strstr(sec, want))
			why = "config key missing";
		snprintf(name, sizeof(name), "README Options: --%s%s%s", d->name,
		         d->yaml_key ? ", " : "", d->yaml_key ? d->yaml_key : "");
		report(name, why, NULL);
	}
	/* each row's config key belongs to that row's option */
	for (char *row = strstr(sec, "\n| `-"); row; row = strstr(row + 1, "\n| `-")) {
		char *opt = strstr(row, "`--"), *col = strstr(row + 3, " | ");
		size_t k = opt ? strspn(opt + 3, "abcdefghijklmnopqrstuvwxyz-") : 0;
		const struct tp_optdef *d;
		const char *why = NULL;

		snprintf(want, sizeof(want), "%.*s", (int)k, opt ? opt + 3 : "");
		d = tp_optdef_find(want);
		if (!col || col[3] != '`')
			continue; /* no config key in this row */
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(col + 4, "`: "), col + 4);
		if (!d || !d->yaml_key || strcmp(d->yaml_key, name))
			why = "not the option's config key";
		snprintf(name + strlen(name), sizeof(name) - strlen(name), " is the key of --%s",
		         want);
		snprintf(label, sizeof(label), "README Options: %s", name);
		report(label, why, NULL);
	}
	for (char *p = strstr(sec, "`--"); p; p = strstr(p + 1, "`--")) {
		size_t k = strspn(p + 3, "abcdefghijklmnopqrstuvwxyz-");

		snprintf(want, sizeof(want), "%.*s", (int)k, p + 3);
		CHECK(tp_optdef_find(want), "README Options names --%s: no such option", want);
	}
}
