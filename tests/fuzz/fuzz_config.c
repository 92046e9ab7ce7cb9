/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the YAML config parser (gateway/src/config.c) on
 * arbitrary bytes. Invariants: no crash, leak or undefined behaviour
 * (ASan/UBSan, anchors and aliases included); an accepted file leaves
 * options within their bounds with NUL-terminated strings, and its
 * per-handler options can be looked up; a rejected one gives a one-line
 * message "tunplug: fuzz.yaml:LINE: ..." (or "...: out of memory"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options/config.h"
#include "options/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t touch(const char *s)
{
	return s ? strlen(s) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tp_options o;
	struct tp_config c;
	char err[512];
	size_t sum = 0;
	int ret;

	tp_options_defaults(&o);
	ret = tp_config_parse(&c, &o, "fuzz.yaml", (const char *)data, size, err, sizeof(err));
	if (ret == 0) {
		if (err[0])
			abort(); /* success leaves no message */
		if (o.n_addrs > TP_OPT_MAX_ADDRS || o.n_routes > TP_OPT_MAX_ROUTES ||
		    o.n_rules > TP_OPT_MAX_RULES || o.n_dns > TP_OPT_MAX_DNS ||
		    o.n_plugins > TP_OPT_MAX_PLUGINS || c.n_rules != o.n_rules ||
		    c.n_handlers > TP_CONFIG_MAX_HANDLERS)
			abort();
		if (o.mtu < 576 || o.mtu > 65535 || o.max_flows < 1)
			abort();
		sum += touch(o.tun_name) + touch(o.handler) + touch(o.bind_interface);
		for (size_t i = 0; i < o.n_dns; i++)
			sum += touch(o.dns_upstreams[i]);
		for (size_t i = 0; i < o.n_plugins; i++)
			sum += touch(o.plugins[i]);
		for (size_t i = 0; i < o.n_rules; i++) {
			if (!o.rules[i].handler[0] || o.rules[i].port_lo > o.rules[i].port_hi)
				abort();
			sum += touch(o.rules[i].handler);
		}
		for (size_t i = 0; i < c.n_handlers; i++) {
			size_t n;
			const struct tp_handler_opt *opt =
			        tp_config_handler_opts(&c, c.handlers[i].spec, &n);
			/* the first entry with this spec answers (keys are unique) */
			if (n != c.handlers[i].n_opts || (n && !opt))
				abort();
			for (size_t k = 0; k < n; k++)
				sum += touch(opt[k].key) + touch(opt[k].value);
		}
		ret = tp_config_check(&c, &o, 0, err, sizeof(err));
	}
	if (ret) {
		if (strncmp(err, "tunplug: fuzz.yaml:", 19) || strchr(err, '\n') ||
		    strlen(err) >= sizeof(err))
			abort();
	}
	tp_config_free(&c);
	tp_options_arena_reset(); /* the rules of this input */
	return (int)(sum & 0);    /* sum keeps the reads */
}
