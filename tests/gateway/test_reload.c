/* SPDX-License-Identifier: MIT */
/* tunplug — test of the pure part of a SIGHUP reload: tp_config_diff
 * (gateway/src/options/config.c) accepts a new file that changes only the
 * reloadable keys (rules, handler, handlers, dns.upstreams, log-level) and
 * refuses one that changes any other key, naming the key, its line and
 * both values. Each item parses two YAML texts and compares them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "options/config.h"
#include "options/options.h"

static const char base[] = "tun:\n"
                           "  name: tp9\n"
                           "  mtu: 1500\n"
                           "  addresses: [198.19.255.1/32, fd00:19:ffff::1/128]\n"
                           "  routes: [198.19.0.0/16]\n"
                           "handler: direct\n"
                           "rules:\n"
                           "  - {proto: tcp, port: 5001, handler: direct}\n"
                           "dns:\n"
                           "  upstreams: [\"198.18.0.2:53\"]\n"
                           "handlers:\n"
                           "  \"socks5://198.18.0.2:1080\": {udp: \"off\"}\n"
                           "log-level: info\n"
                           "outbound:\n"
                           "  fwmark: 0x7\n";

/* The diff of base -> text: its return value, the message in err. */
static int diff(const char *old_text, const char *text, char *err, size_t errlen)
{
	struct tp_config a, b;
	struct tp_options oa, ob;
	char perr[512];
	int ret;

	err[0] = '\0';
	tp_options_defaults(&oa);
	tp_options_defaults(&ob);
	ret = tp_config_parse(&a, &oa, "old.yaml", old_text, strlen(old_text), perr, sizeof(perr));
	CHECK_EQ(ret, 0, "the old text parses");
	if (ret)
		fprintf(stderr, "  %s\n", perr);
	ret = tp_config_parse(&b, &ob, "new.yaml", text, strlen(text), perr, sizeof(perr));
	CHECK_EQ(ret, 0, "the new text parses");
	if (ret)
		fprintf(stderr, "  %s\n", perr);
	ret = tp_config_diff(&a, &b, err, errlen);
	tp_config_free(&a);
	tp_config_free(&b);
	return ret;
}

/* base with the line starting with from replaced by to ("" = removed). */
static const char *edit(const char *from, const char *to)
{
	static char out[2048];
	const char *at = strstr(base, from), *eol;

	CHECK(at != NULL, "base has no line \"%s\"", from);
	if (!at)
		return base;
	eol = strchr(at, '\n');
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - base), base, to, eol + 1);
	return out;
}

TP_TEST(reloadable_changes_accepted)
{
	static const struct {
		const char *what, *from, *to;
	} cases[] = {
	        {"the same file", "log-level: info", "log-level: info\n"},
	        {"a rule's handler", "  - {proto: tcp, port: 5001, handler: direct}",
	         "  - {proto: tcp, port: 5001, handler: reject}\n"},
	        {"a rule added", "  - {proto: tcp, port: 5001, handler: direct}",
	         "  - {proto: tcp, port: 5001, handler: direct}\n  - {dst: 198.19.2.0/24, "
	         "handler: echo}\n"},
	        {"the default handler", "handler: direct", "handler: echo\n"},
	        {"a handler's options", "  \"socks5://198.18.0.2:1080\": {udp: \"off\"}",
	         "  \"socks5://198.18.0.2:1080\": {udp: \"on\"}\n"},
	        {"the dns upstreams", "  upstreams: [\"198.18.0.2:53\"]",
	         "  upstreams: [\"198.18.0.2:53\", \"[fd00:18::2]:53\"]\n"},
	        {"the log level", "log-level: info", "log-level: debug\n"},
	};
	char err[640];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = diff(base, edit(cases[i].from, cases[i].to), err, sizeof(err));

		CHECK_EQ(ret, 0, cases[i].what);
		if (ret)
			fprintf(stderr, "  %s\n", err);
		OK("reloadable: %s", cases[i].what);
	}
}

TP_TEST(other_changes_refused)
{
	static const struct {
		const char *what, *from, *to, *want;
	} cases[] = {
	        {"mtu changed", "  mtu: 1500", "  mtu: 9000\n",
	         "new.yaml:3: key \"tun.mtu\" cannot change at run time (\"1500\" -> \"9000\")"},
	        {"mtu removed", "  mtu: 1500", "",
	         "old.yaml:3: key \"tun.mtu\" cannot change at run time (\"1500\" of the running "
	         "file is gone from the new one)"},
	        {"tun name", "  name: tp9", "  name: tp8\n", "key \"tun.name\""},
	        {"an address removed", "  addresses: [198.19.255.1/32, fd00:19:ffff::1/128]",
	         "  addresses: [198.19.255.1/32]\n",
	         "old.yaml:4: key \"tun.addresses\" cannot change at run time "
	         "(\"fd00:19:ffff::1/128\" of the running file is gone"},
	        {"a route added", "  routes: [198.19.0.0/16]",
	         "  routes: [198.19.0.0/16, 198.20.0.0/16]\n",
	         "new.yaml:5: key \"tun.routes\" cannot change at run time (\"(not set)\" -> "
	         "\"198.20.0.0/16\")"},
	        {"queues set", "  name: tp9", "  name: tp9\n  queues: 2\n",
	         "new.yaml:3: key \"tun.queues\" cannot change at run time (\"(not set)\" -> "
	         "\"2\")"},
	        {"fwmark", "  fwmark: 0x7", "  fwmark: 0x8\n", "key \"outbound.fwmark\""},
	        {"user added", "log-level: info", "log-level: info\nuser: nobody\n",
	         "new.yaml:14: key \"user\" cannot change at run time (\"(not set)\" -> "
	         "\"nobody\")"},
	        {"a flag", "log-level: info", "log-level: info\nauto-route: true\n",
	         "key \"auto-route\" cannot change at run time (\"(not set)\" -> \"true\")"},
	        {"plugins", "log-level: info", "log-level: info\nplugins: [/x/up.so]\n",
	         "key \"plugins\""},
	        {"max flows", "log-level: info", "log-level: info\nflows:\n  max: 100\n",
	         "key \"flows.max\""},
	};
	char err[640];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *text = edit(cases[i].from, cases[i].to);
		int ret;

		ret = diff(base, text, err, sizeof(err));
		CHECK_EQ(ret, -EPERM, cases[i].what);
		CHECK(strstr(err, cases[i].want) != NULL, "%s: message \"%s\" lacks \"%s\"",
		      cases[i].what, err, cases[i].want);
		CHECK(strstr(err, "restart tunplug") != NULL, "%s: no advice in \"%s\"",
		      cases[i].what, err);
		OK("refused: %s -> %s", cases[i].what, err);
	}
}

/* tun.offload is a flag written as its opposite (no-offload): what the file
 * says is compared, true -> false is a change. */
TP_TEST(flags_compared_as_written)
{
	char err[640];
	int ret = diff("tun:\n  offload: true\n", "tun:\n  offload: false\n", err, sizeof(err));

	CHECK_EQ(ret, -EPERM, "offload true -> false");
	CHECK(strstr(err, "new.yaml:2: key \"tun.offload\"") != NULL, "message: %s", err);
	OK("refused: tun.offload true -> false -> %s", err);
	ret = diff("auto-route:\n  table: 100\n", "auto-route:\n  table: 100\n", err, sizeof(err));
	CHECK_EQ(ret, 0, "auto-route as a section, unchanged");
	OK("auto-route given as a section, unchanged: accepted");
	ret = diff("auto-route:\n  table: 100\n", "auto-route:\n  table: 101\n", err, sizeof(err));
	CHECK(ret == -EPERM && strstr(err, "key \"auto-route.table\""), "table changed: %d %s", ret,
	      err);
	OK("refused: auto-route.table -> %s", err);
}

/* Every option of the table is either reloadable or compared: the
 * reloadable ones are exactly the four the README lists. */
TP_TEST(reloadable_set)
{
	static const char *const want[] = {"handler", "rules", "dns.upstreams", "log-level"};
	size_t n = 0;

	for (const struct tp_optdef *d = tp_optdef_next(NULL); d; d = tp_optdef_next(d)) {
		bool listed = false;

		if (!(d->flags & TP_OPTF_RELOAD))
			continue;
		n++;
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			listed |= d->yaml_key && !strcmp(d->yaml_key, want[i]);
		CHECK(listed, "--%s is reloadable but not in the documented set", d->name);
	}
	CHECK_EQ(n, sizeof(want) / sizeof(want[0]), "reloadable options");
	OK("reloadable keys: handler, rules, dns.upstreams, log-level (and handlers)");
}
