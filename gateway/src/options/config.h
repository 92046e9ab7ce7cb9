/* SPDX-License-Identifier: MIT */
/* tunplug — the YAML config file (-c FILE), parsed with libyaml into the
 * same struct tp_options as the command line, plus the per-handler options.
 *
 * Pure apart from tp_config_load() reading the file: tp_config_parse()
 * takes a buffer (tests, fuzzing). The keys are the option table's
 * (tp_optdef.yaml_key in options.h, "tun.mtu" written as tun: {mtu: ...})
 * plus "handlers"; every value is validated exactly as the command-line
 * option it stands for (tp_optdef_apply). Errors are one line:
 *   tunplug: FILE:LINE: key "tun.mtu": "abc" is not a number in 576..65535
 *   tunplug: FILE:LINE: unknown key "mtuu" in "tun"
 *   tunplug: FILE:LINE: bad YAML: PROBLEM (CONTEXT)
 * The schema is in README.md (Configuration file). */
#ifndef TUNPLUG_GW_CONFIG_H
#define TUNPLUG_GW_CONFIG_H

#include <stddef.h>

#include "options/options.h"
#include "tunplug/handler.h"

#define TP_CONFIG_MAX_HANDLERS 32 /* entries under "handlers:" */
#define TP_CONFIG_MAX_OPTS 64     /* options of one handler */
#define TP_CONFIG_MAX_SIZE (1u << 20)

/* The options of one handler instance ("handlers:" entry). */
struct tp_config_handler {
	const char *spec; /* as written, matched exactly against handler specs */
	unsigned long line;
	struct tp_handler_opt *opts;
	size_t n_opts;
};

/* One value the file gave an option (tp_config_diff compares them). */
struct tp_config_val {
	const struct tp_optdef *d; /* the option (static) */
	const char *val;           /* as written ("true"/"false" for a flag) */
	unsigned long line;
};

struct tp_config {
	char *name;                 /* the file name, for messages */
	struct tp_config_str *strs; /* every string the options point to */
	struct tp_config_handler handlers[TP_CONFIG_MAX_HANDLERS];
	size_t n_handlers;
	/* where the file named handlers and the tun fd (tp_config_check) */
	const char *handler; /* the file's "handler:" (NULL = not set) */
	unsigned long handler_line;
	size_t n_rules;           /* the file's rules are o->rules[0..n_rules) */
	unsigned long *rule_line; /* n_rules of them, from the rule arena */
	size_t rule_line_cap;
	unsigned long tun_fd_line; /* 0 = tun.fd not set */
	unsigned long netcfg_line; /* first of tun.addresses/routes/mtu */
	const char *netcfg_key;
	/* every option value in the file, in order (lists: one per item) */
	struct tp_config_val *vals;
	size_t n_vals, cap_vals;
};

/* Parse the YAML text buf[0..len) (named name in messages) into *o, on top
 * of what *o holds (normally tp_options_defaults()): scalars replace,
 * lists append. *c is initialised here and owns every string *o then
 * points to: call tp_config_free(c) (also after an error) only when *o is
 * no longer used. Returns 0, or -EINVAL (-ENOMEM) with a one-line message
 * in err. Handler names are not checked yet: tp_config_check(). */
int tp_config_parse(struct tp_config *c, struct tp_options *o, const char *name, const char *buf,
                    size_t len, char *err, size_t errlen);

/* The same for the file at path (at most TP_CONFIG_MAX_SIZE bytes). */
int tp_config_load(struct tp_config *c, struct tp_options *o, const char *path, char *err,
                   size_t errlen);

/* The checks that need the whole file: the file's handler specs (handler,
 * rules, handlers) name built-in handlers, unless plugins are loaded (by
 * the file or, extra_plugins > 0, the command line; the gateway checks the
 * names then), and tun.fd is not combined with addresses, routes or mtu.
 * 0 or -EINVAL with a message naming the file and line. */
int tp_config_check(const struct tp_config *c, const struct tp_options *o, size_t extra_plugins,
                    char *err, size_t errlen);

/* The whole load, as main does it and a SIGHUP reload does it again:
 * defaults, the file at path (tp_config_load), tp_config_check (with
 * extra_plugins from the command line or the running set), then the command
 * line argv[0..argc) on top (tp_options_parse_over; none when argc is 0);
 * o->config = c. Returns 0 or -errno with a one-line message in err; call
 * tp_config_free(c) in any case once *o is no longer used. */
int tp_config_load_all(struct tp_config *c, struct tp_options *o, const char *path, int argc,
                       char **argv, size_t extra_plugins, char *err, size_t errlen);

/* Can the running file old be replaced by new without a restart (pure)?
 * Every option without TP_OPTF_RELOAD (options.h) must have the same
 * values in both, as written (an added "mtu: 1500" is a change). 0, or
 * -EPERM with a one-line message naming the first such key, its line and
 * both values (a value the new file lacks: the running file's line):
 *   tunplug: FILE:LINE: key "tun.mtu" cannot change at run time ("1500" ->
 *   "9000"): restart tunplug to apply it */
int tp_config_diff(const struct tp_config *old, const struct tp_config *new_c, char *err,
                   size_t errlen);

/* The options the file gives the handler instance spec ("handlers:"
 * entry whose key is exactly spec); *n = their number. NULL (and *n = 0)
 * for none or c == NULL. Valid until tp_config_free. */
const struct tp_handler_opt *tp_config_handler_opts(const struct tp_config *c, const char *spec,
                                                    size_t *n);

void tp_config_free(struct tp_config *c);

#endif
