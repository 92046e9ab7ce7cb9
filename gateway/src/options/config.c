/* SPDX-License-Identifier: MIT */
/* tunplug — the YAML config file (see config.h). libyaml builds the node
 * tree (with line marks); we walk it against the option table's keys
 * (options.h), whose depth is bounded (a mapping is entered only as a
 * section some key names), so anchors and aliases (even cyclic ones)
 * cannot make us loop. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "options/config.h"
#include "dispatch/rules.h"

struct tp_config_str {
	struct tp_config_str *next;
	char s[];
};

/* One walk: the config, the options, the document, the error buffer. */
struct walk {
	struct tp_config *c;
	struct tp_options *o;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

/* Config keys outside the option table: "handlers" (per-handler options,
 * no command-line form). Every other key is an option's yaml_key
 * (options.h), or a section holding some ("tun" for "tun.mtu"). */
static const char handlers_key[] = "handlers";

static const char *const rule_keys[] = {"proto",  "dst",   "src",     "port",
                                        "domain", "sniff", "handler", NULL};

static int fail(struct walk *w, unsigned long line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* "tunplug: FILE:LINE: " + the message, on one line. */
static int fail(struct walk *w, unsigned long line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!w->err || !w->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tp_errf(w->err, w->errlen, "tunplug: %s:%lu: %s", w->c->name ? w->c->name : "?", line, msg);
	/* one line, whatever a value held (block scalars, "\n" escapes) */
	for (char *p = w->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -EINVAL;
}

static unsigned long line_of(const yaml_node_t *n)
{
	return (unsigned long)n->start_mark.line + 1;
}

static const char *type_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* An owned copy of s[0..len) with a NUL, freed by tp_config_free. */
static const char *keep(struct tp_config *c, const char *s, size_t len)
{
	struct tp_config_str *str = malloc(sizeof(*str) + len + 1);

	if (!str)
		return NULL;
	memcpy(str->s, s, len);
	str->s[len] = '\0';
	str->next = c->strs;
	c->strs = str;
	return str->s;
}

/* An empty value ("key:" or "key: ~"): plain null scalar. */
static bool is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	        !strcmp(v, "NULL"));
}

/* The scalar n as an owned string; path names the key in messages. */
static int scalar(struct walk *w, const yaml_node_t *n, const char *path, const char **out)
{
	*out = ""; /* set on every path (the callers use it only on success) */
	if (n->type != YAML_SCALAR_NODE)
		return fail(w, line_of(n), "key \"%s\": expected a scalar, not %s", path,
		            type_name(n));
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length))
		return fail(w, line_of(n), "key \"%s\": the value contains a NUL character", path);
	*out = keep(w->c, (const char *)n->data.scalar.value, n->data.scalar.length);
	if (!*out) {
		fail(w, line_of(n), "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* A mapping (or an empty value); type error otherwise. */
static int want_mapping(struct walk *w, const yaml_node_t *n, const char *path, bool *empty)
{
	*empty = is_null(n);
	if (*empty || n->type == YAML_MAPPING_NODE)
		return 0;
	return fail(w, line_of(n), "key \"%s\": expected a mapping, not %s", path, type_name(n));
}

static int want_list(struct walk *w, const yaml_node_t *n, const char *path, bool *empty)
{
	*empty = is_null(n);
	if (*empty || n->type == YAML_SEQUENCE_NODE)
		return 0;
	return fail(w, line_of(n), "key \"%s\": expected a list, not %s", path, type_name(n));
}

/* Key i of mapping m: a scalar without NUL, not seen before in m. */
static int map_key(struct walk *w, const yaml_node_t *m, const yaml_node_pair_t *p, const char *in,
                   const yaml_node_t **k, const yaml_node_t **v)
{
	*k = yaml_document_get_node(w->doc, p->key);
	*v = yaml_document_get_node(w->doc, p->value);
	if (!*k || !*v)
		return fail(w, line_of(m), "bad YAML: a mapping entry without key or value");
	if ((*k)->type != YAML_SCALAR_NODE ||
	    memchr((*k)->data.scalar.value, '\0', (*k)->data.scalar.length))
		return fail(w, line_of(*k), "a key in \"%s\" is %s, not a name", in, type_name(*k));
	for (const yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
		const yaml_node_t *qk = yaml_document_get_node(w->doc, q->key);
		if (qk && qk->type == YAML_SCALAR_NODE &&
		    qk->data.scalar.length == (*k)->data.scalar.length &&
		    !memcmp(qk->data.scalar.value, (*k)->data.scalar.value, qk->data.scalar.length))
			return fail(w, line_of(*k),
			            "duplicate key \"%s\" in \"%s\" (first at line %lu)",
			            (const char *)(*k)->data.scalar.value, in, line_of(qk));
	}
	return 0;
}

/* What setting option d from the file's node n means beyond *o: the
 * lines tp_config_check names. */
static void noted(struct walk *w, const yaml_node_t *n, const struct tp_optdef *d, const char *val)
{
	if ((d->flags & TP_OPTF_NETCFG) && !w->c->netcfg_line) {
		w->c->netcfg_line = line_of(n);
		w->c->netcfg_key = d->yaml_key;
	}
	if (d->flags & TP_OPTF_TUN_FD)
		w->c->tun_fd_line = line_of(n);
	if (d->flags & TP_OPTF_HANDLER) {
		w->c->handler = val;
		w->c->handler_line = line_of(n);
	}
}

/* Remember that the file gave d the value val at n's line. */
static int record(struct walk *w, const yaml_node_t *n, const struct tp_optdef *d, const char *val)
{
	struct tp_config *c = w->c;

	if (c->n_vals == c->cap_vals) {
		size_t cap = c->cap_vals ? 2 * c->cap_vals : 16;
		struct tp_config_val *v = realloc(c->vals, cap * sizeof(*v));

		if (!v) {
			fail(w, line_of(n), "out of memory");
			return -ENOMEM;
		}
		c->vals = v;
		c->cap_vals = cap;
	}
	c->vals[c->n_vals++] = (struct tp_config_val){d, val, line_of(n)};
	return 0;
}

/* Option d's value from the file (the command line's checks; the message
 * names the key). */
static int set_opt(struct walk *w, const yaml_node_t *n, const char *path,
                   const struct tp_optdef *d, const char *value)
{
	char why[320];

	if (tp_optdef_apply(w->o, d, value, why, sizeof(why)))
		return fail(w, line_of(n), "key \"%s\": %s", path, why);
	noted(w, n, d, value);
	return record(w, n, d, value);
}

/* Flag d from "true" or "false" (the opposite for a TP_OPTF_KEY_NOT key):
 * only the table's flags have a boolean key, each its own field. */
static int set_bool(struct walk *w, const yaml_node_t *n, const char *path,
                    const struct tp_optdef *d)
{
	const char *v;
	bool on;
	int ret = scalar(w, n, path, &v);

	if (ret)
		return ret;
	if (!strcmp(v, "true"))
		on = true;
	else if (!strcmp(v, "false"))
		on = false;
	else
		return fail(w, line_of(n), "key \"%s\": \"%s\" is not true or false", path, v);
	if (d->flags & TP_OPTF_KEY_NOT)
		on = !on;
	tp_optdef_set_flag(w->o, d, on);
	if (on)
		noted(w, n, d, NULL);
	return record(w, n, d, v);
}

static int do_rules(struct walk *w, const yaml_node_t *n)
{
	bool empty;
	int ret = want_list(w, n, "rules", &empty);

	if (ret || empty)
		return ret;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		const yaml_node_t *rn = yaml_document_get_node(w->doc, *it);
		struct tp_rule *r;
		char in[32], path[64], why[256];
		bool has_handler = false;

		if (!rn)
			continue;
		snprintf(in, sizeof(in), "rules[%zu]", w->c->n_rules);
		if (rn->type != YAML_MAPPING_NODE)
			return fail(w, line_of(rn), "key \"%s\": expected a mapping, not %s", in,
			            type_name(rn));
		if (w->c->n_rules == w->c->rule_line_cap) {
			size_t cap = w->c->rule_line_cap ? 2 * w->c->rule_line_cap : 16;
			unsigned long *l = tp_options_arena_alloc(cap * sizeof(*l));

			if (!l) {
				fail(w, line_of(rn), "out of memory");
				return -ENOMEM;
			}
			if (w->c->n_rules)
				memcpy(l, w->c->rule_line, w->c->n_rules * sizeof(*l));
			tp_options_arena_free(w->c->rule_line);
			w->c->rule_line = l;
			w->c->rule_line_cap = cap;
		}
		r = tp_options_add_rule(w->o);
		if (!r)
			return fail(w, line_of(rn),
			            "key \"%s\": at most %d rules (or out of memory)", in,
			            TP_OPT_MAX_RULES);
		w->o->n_rules--; /* counted once the rule is complete */
		tp_rule_init(r);
		for (yaml_node_pair_t *p = rn->data.mapping.pairs.start;
		     p < rn->data.mapping.pairs.top; p++) {
			const yaml_node_t *k, *v;
			const char *kname, *val;
			size_t j;

			ret = map_key(w, rn, p, in, &k, &v);
			if (ret)
				return ret;
			kname = (const char *)k->data.scalar.value;
			for (j = 0; rule_keys[j] && strcmp(rule_keys[j], kname); j++)
				;
			if (!rule_keys[j])
				return fail(w, line_of(k),
				            "unknown key \"%s\" in \"%s\" (proto, dst, src, port, "
				            "domain, sniff, handler)",
				            kname, in);
			snprintf(path, sizeof(path), "%s.%s", in, kname);
			ret = scalar(w, v, path, &val);
			if (ret)
				return ret;
			ret = tp_rule_set(r, kname, val, why, sizeof(why));
			if (ret)
				return fail(w, line_of(v), "key \"%s\": %s", path, why);
			has_handler |= !strcmp(kname, "handler");
		}
		if (!has_handler)
			return fail(w, line_of(rn), "key \"%s\": handler missing", in);
		w->c->rule_line[w->c->n_rules++] = line_of(rn);
		w->o->n_rules++;
	}
	return 0;
}

static int do_handlers(struct walk *w, const yaml_node_t *n)
{
	bool empty;
	int ret = want_mapping(w, n, "handlers", &empty);

	if (ret || empty)
		return ret;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k, *v;
		struct tp_config_handler *h;
		char path[300], name[32];
		const char *spec = NULL;
		size_t cap;

		ret = map_key(w, n, p, "handlers", &k, &v);
		if (ret)
			return ret;
		if (w->c->n_handlers == TP_CONFIG_MAX_HANDLERS)
			return fail(w, line_of(k), "key \"handlers\": at most %d entries",
			            TP_CONFIG_MAX_HANDLERS);
		ret = scalar(w, k, "handlers", &spec);
		if (ret)
			return ret;
		if (!tp_handler_spec_split(spec, name, sizeof(name)))
			return fail(w, line_of(k),
			            "key \"handlers\": \"%s\" is not a handler spec (NAME or "
			            "NAME://TARGET)",
			            spec);
		snprintf(path, sizeof(path), "handlers[%s]", spec);
		ret = want_mapping(w, v, path, &empty);
		if (ret)
			return ret;
		h = &w->c->handlers[w->c->n_handlers++];
		h->spec = spec;
		h->line = line_of(k);
		if (empty)
			continue;
		cap = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
		if (cap > TP_CONFIG_MAX_OPTS)
			return fail(w, line_of(v), "key \"%s\": at most %d options", path,
			            TP_CONFIG_MAX_OPTS);
		h->opts = calloc(cap ? cap : 1, sizeof(*h->opts));
		if (!h->opts) {
			fail(w, line_of(v), "out of memory");
			return -ENOMEM;
		}
		for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
		     q < v->data.mapping.pairs.top; q++) {
			const yaml_node_t *ok, *ov;
			char opath[400];

			ret = map_key(w, v, q, path, &ok, &ov);
			if (ret)
				return ret;
			ret = scalar(w, ok, path, &h->opts[h->n_opts].key);
			if (ret)
				return ret;
			snprintf(opath, sizeof(opath), "%s.%s", path, h->opts[h->n_opts].key);
			ret = scalar(w, ov, opath, &h->opts[h->n_opts].value);
			if (ret)
				return ret;
			h->n_opts++;
		}
	}
	return 0;
}

static int do_map(struct walk *w, const yaml_node_t *n, const char *in);

/* Is path a section: the first part of some option's "path.key"? */
static bool is_section(const char *path)
{
	size_t len = strlen(path);

	for (const struct tp_optdef *d = tp_optdef_next(NULL); d; d = tp_optdef_next(d))
		if (d->yaml_key && !strncmp(d->yaml_key, path, len) && d->yaml_key[len] == '.')
			return true;
	return false;
}

/* The value v of key path: option d's (NULL for none), a section's or
 * both (a flag whose section is given as a mapping: it is set, then the
 * section's keys). */
static int do_value(struct walk *w, const struct tp_optdef *d, bool section, const yaml_node_t *v,
                    const char *path)
{
	const char *val = NULL;
	bool empty;
	int ret;

	if (section && (!d || v->type == YAML_MAPPING_NODE)) {
		if (d) {
			tp_optdef_set_flag(w->o, d, true);
			noted(w, v, d, NULL);
			ret = record(w, v, d, "true");
			if (ret)
				return ret;
		} else {
			ret = want_mapping(w, v, path, &empty);
			if (ret || empty)
				return ret;
		}
		return do_map(w, v, path);
	}
	if (d->flags & TP_OPTF_KEY_RULES)
		return do_rules(w, v);
	switch (d->arg) {
	case TP_ARG_NONE:
		return set_bool(w, v, path, d);
	case TP_ARG_ONE:
		ret = scalar(w, v, path, &val);
		return ret ? ret : set_opt(w, v, path, d, val);
	case TP_ARG_LIST:
		ret = want_list(w, v, path, &empty);
		if (ret || empty)
			return ret;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			const yaml_node_t *item = yaml_document_get_node(w->doc, *it);
			if (!item)
				continue;
			ret = scalar(w, item, path, &val);
			if (!ret)
				ret = set_opt(w, item, path, d, val);
			if (ret)
				return ret;
		}
		return 0;
	}
	return -EINVAL;
}

/* A mapping of keys; in = its path ("" at the top). */
static int do_map(struct walk *w, const yaml_node_t *n, const char *in)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k, *v;
		const struct tp_optdef *d = NULL;
		const char *kname;
		char path[96];
		bool section = false;
		int len, ret;

		ret = map_key(w, n, p, *in ? in : "the top level", &k, &v);
		if (ret)
			return ret;
		kname = (const char *)k->data.scalar.value;
		len = snprintf(path, sizeof(path), "%s%s%s", in, *in ? "." : "", kname);
		if (!*in && !strcmp(kname, handlers_key)) {
			ret = do_handlers(w, v);
			if (ret)
				return ret;
			continue;
		}
		/* a key with a '.' is no key: "tun.mtu" is tun: {mtu: ...} */
		if (len > 0 && (size_t)len < sizeof(path) && !strchr(kname, '.')) {
			d = tp_optdef_by_key(path);
			section = is_section(path);
		}
		if (!d && !section) {
			if (*in)
				return fail(w, line_of(k), "unknown key \"%s\" in \"%s\"", kname,
				            in);
			return fail(w, line_of(k), "unknown key \"%s\"", kname);
		}
		ret = do_value(w, d, section, v, path);
		if (ret)
			return ret;
	}
	return 0;
}

/* libyaml's complaint, with the line. */
static int yaml_fail(struct walk *w, const yaml_parser_t *p, const char *buf, size_t len)
{
	unsigned long line = (unsigned long)p->problem_mark.line + 1;

	if (p->error == YAML_MEMORY_ERROR) {
		fail(w, line, "out of memory");
		return -ENOMEM;
	}
	if (p->error == YAML_READER_ERROR) {
		/* marks are not kept for reader errors: count the lines */
		line = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++)
			line += buf[i] == '\n';
		return fail(w, line, "bad YAML: %s", p->problem ? p->problem : "unreadable");
	}
	if (p->context)
		return fail(w, line, "bad YAML: %s (%s at line %lu)",
		            p->problem ? p->problem : "syntax error", p->context,
		            (unsigned long)p->context_mark.line + 1);
	return fail(w, line, "bad YAML: %s", p->problem ? p->problem : "syntax error");
}

int tp_config_parse(struct tp_config *c, struct tp_options *o, const char *name, const char *buf,
                    size_t len, char *err, size_t errlen)
{
	struct walk w = {.c = c, .o = o, .err = err, .errlen = errlen};
	yaml_parser_t parser;
	yaml_document_t doc, more;
	const yaml_node_t *root;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	if (err && errlen)
		err[0] = '\0';
	c->name = strdup(name ? name : "config");
	if (!c->name || !yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "tunplug: %s: out of memory", name ? name : "config");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = yaml_fail(&w, &parser, buf, len);
		yaml_parser_delete(&parser);
		return ret;
	}
	w.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root && !is_null(root)) {
		if (root->type != YAML_MAPPING_NODE)
			ret = fail(&w, line_of(root), "the top level must be a mapping, not %s",
			           type_name(root));
		else
			ret = do_map(&w, root, "");
	}
	/* a second document is a mistake (a stray "---") */
	if (!ret) {
		if (!yaml_parser_load(&parser, &more)) {
			ret = yaml_fail(&w, &parser, buf, len);
		} else {
			const yaml_node_t *r2 = yaml_document_get_root_node(&more);
			if (r2)
				ret = fail(&w, line_of(r2),
				           "a second YAML document (one is expected)");
			yaml_document_delete(&more);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}

int tp_config_load(struct tp_config *c, struct tp_options *o, const char *path, char *err,
                   size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;
	int ret, e;

	memset(c, 0, sizeof(*c));
	if (!f) {
		e = errno;
		snprintf(err, errlen, "tunplug: %s: %s", path, strerror(e));
		return -e;
	}
	buf = malloc(TP_CONFIG_MAX_SIZE + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "tunplug: %s: out of memory", path);
		return -ENOMEM;
	}
	n = fread(buf, 1, TP_CONFIG_MAX_SIZE + 1, f);
	e = ferror(f) ? errno : 0;
	fclose(f);
	if (e || n > TP_CONFIG_MAX_SIZE) {
		free(buf);
		if (e)
			snprintf(err, errlen, "tunplug: %s: %s", path, strerror(e));
		else
			snprintf(err, errlen, "tunplug: %s: larger than %u bytes", path,
			         TP_CONFIG_MAX_SIZE);
		return e ? -e : -EFBIG;
	}
	ret = tp_config_parse(c, o, path, buf, n, err, errlen);
	free(buf);
	return ret;
}

int tp_config_check(const struct tp_config *c, const struct tp_options *o, size_t extra_plugins,
                    char *err, size_t errlen)
{
	struct walk w = {.c = (struct tp_config *)c, .o = NULL, .err = err, .errlen = errlen};
	char why[256];

	if (c->tun_fd_line && c->netcfg_line)
		return fail(&w, c->netcfg_line,
		            "key \"%s\": cannot be combined with tun.fd (line %lu; no netlink "
		            "setup on an adopted fd)",
		            c->netcfg_key, c->tun_fd_line);
	if (o->n_plugins || extra_plugins)
		return 0; /* plugin names are known once the gateway loaded them */
	if (c->handler && tp_options_check_handler(c->handler, why, sizeof(why)))
		return fail(&w, c->handler_line, "key \"handler\": %s", why);
	for (size_t i = 0; i < c->n_rules && i < o->n_rules; i++)
		if (tp_options_check_handler(o->rules[i].handler, why, sizeof(why)))
			return fail(&w, c->rule_line[i], "key \"rules[%zu].handler\": %s", i, why);
	for (size_t i = 0; i < c->n_handlers; i++)
		if (tp_options_check_handler(c->handlers[i].spec, why, sizeof(why)))
			return fail(&w, c->handlers[i].line, "key \"handlers\": %s", why);
	return 0;
}

int tp_config_load_all(struct tp_config *c, struct tp_options *o, const char *path, int argc,
                       char **argv, size_t extra_plugins, char *err, size_t errlen)
{
	int ret;

	tp_options_defaults(o);
	ret = tp_config_load(c, o, path, err, errlen);
	if (!ret)
		ret = tp_config_check(c, o, extra_plugins, err, errlen);
	if (!ret && argc > 0)
		ret = tp_options_parse_over(o, argc, argv, err, errlen);
	o->config = c;
	o->config_path = path;
	o->argc = argc;
	o->argv = argv;
	return ret;
}

/* The i-th value the file gave d (from 0), or NULL; *line its line. */
static const struct tp_config_val *nth_val(const struct tp_config *c, const struct tp_optdef *d,
                                           size_t i)
{
	for (size_t k = 0; k < c->n_vals; k++)
		if (c->vals[k].d == d && i-- == 0)
			return &c->vals[k];
	return NULL;
}

int tp_config_diff(const struct tp_config *old, const struct tp_config *new_c, char *err,
                   size_t errlen)
{
	struct walk w = {.c = (struct tp_config *)new_c, .err = err, .errlen = errlen};
	struct walk wo = {.c = (struct tp_config *)old, .err = err, .errlen = errlen};

	for (const struct tp_optdef *d = tp_optdef_next(NULL); d; d = tp_optdef_next(d)) {
		if (!d->yaml_key || (d->flags & TP_OPTF_RELOAD))
			continue;
		for (size_t i = 0;; i++) {
			const struct tp_config_val *a = nth_val(old, d, i),
			                           *b = nth_val(new_c, d, i);

			if (!a && !b)
				break;
			if (a && b && !strcmp(a->val, b->val))
				continue;
			if (b)
				fail(&w, b->line,
				     "key \"%s\" cannot change at run time (\"%s\" -> \"%s\"): "
				     "restart tunplug to apply it",
				     d->yaml_key, a ? a->val : "(not set)", b->val);
			else
				fail(&wo, a->line,
				     "key \"%s\" cannot change at run time (\"%s\" of the running "
				     "file is gone from the new one): restart tunplug to apply it",
				     d->yaml_key, a->val);
			return -EPERM;
		}
	}
	return 0;
}

const struct tp_handler_opt *tp_config_handler_opts(const struct tp_config *c, const char *spec,
                                                    size_t *n)
{
	*n = 0;
	if (!c || !spec)
		return NULL;
	for (size_t i = 0; i < c->n_handlers; i++)
		if (!strcmp(c->handlers[i].spec, spec)) {
			*n = c->handlers[i].n_opts;
			return c->handlers[i].n_opts ? c->handlers[i].opts : NULL;
		}
	return NULL;
}

void tp_config_free(struct tp_config *c)
{
	while (c->strs) {
		struct tp_config_str *s = c->strs;
		c->strs = s->next;
		free(s);
	}
	for (size_t i = 0; i < c->n_handlers; i++)
		free(c->handlers[i].opts);
	free(c->vals);
	free(c->name);
	memset(c, 0, sizeof(*c));
}
