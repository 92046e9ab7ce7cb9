/* SPDX-License-Identifier: MIT */
/* tunplug — the counters as named samples, for `tunplug ctl stats` and the
 * Prometheus page (pure: no I/O, no loop).
 *
 * Every sample has a name from one catalogue (tp_metric_defs: name, kind,
 * help) and labels in the control protocol's form "k=v,k=v" (values
 * escaped with tp_ctl_escape) or "". The Prometheus name is "tunplug_" +
 * name, plus "_total" for a counter. A set of samples adds equal (name,
 * labels) together, which is how the --queues master sums its workers. */
#ifndef TUNPLUG_GW_CTL_METRICS_H
#define TUNPLUG_GW_CTL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/stats.h"
#include "tunplug/stack.h"

enum tp_metric_kind { TP_METRIC_COUNTER, TP_METRIC_GAUGE };

struct tp_metric_def {
	const char *name; /* "flows_seen" */
	enum tp_metric_kind kind;
	const char *help;
};

/* The catalogue, in the order the page shows it; NULL past the end. */
const struct tp_metric_def *tp_metric_def_at(size_t i);
/* Its index by name, or -1. */
int tp_metric_find(const char *name);

struct tp_sample {
	unsigned def; /* index in the catalogue */
	char labels[160];
	uint64_t value;
};

/* A growable set (the caller's; zero-initialised is empty). */
struct tp_samples {
	struct tp_sample *v;
	size_t n, cap;
	bool nomem; /* a sample was lost to malloc */
};

/* Add value to the sample (name, labels) (created at 0). -ENOENT for a
 * name not in the catalogue, -EINVAL for labels too long, -ENOMEM. */
int tp_samples_add(struct tp_samples *s, const char *name, const char *labels, uint64_t value);
/* Labels built from pairs: k1, v1 (unescaped), k2, v2 ..., NULL. */
int tp_samples_addl(struct tp_samples *s, const char *name, uint64_t value, ...);
/* Free what s holds; s is empty again. */
void tp_samples_free(struct tp_samples *s);

/* The gateway's counters (st; ss may be NULL; both borrowed for the call)
 * added to s. */
void tp_samples_collect(struct tp_samples *s, const struct tp_stats *st,
                        const struct tp_stack_stats *ss);

/* A growable text buffer (the caller's; zero-initialised is empty). */
struct tp_buf {
	char *p;
	size_t len, cap;
	bool nomem;
};
/* Append to b (grown as needed; b->nomem once an allocation failed, and
 * nothing more is added). */
void tp_buf_printf(struct tp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free what b holds; b is empty again. */
void tp_buf_free(struct tp_buf *b);

/* The samples as "stat NAME LABELS VALUE\n" lines (the protocol's). */
void tp_samples_wire(const struct tp_samples *s, struct tp_buf *out);
/* Parse one "stat ..." line (without '\n') into s. 0 or -EINVAL/-ENOENT. */
int tp_samples_parse_line(struct tp_samples *s, const char *line);

/* The Prometheus text exposition format 0.0.4: HELP and TYPE for every
 * family with samples, the families in catalogue order. Label values are
 * unescaped, then escaped as the format wants (\\, \", \n); other control
 * bytes and bytes >= 0x80 become '?'. */
void tp_samples_prometheus(const struct tp_samples *s, struct tp_buf *out);

/* `tunplug ctl stats`'s text line for a sample: "name{k=v,...} value". */
void tp_sample_text(const struct tp_sample *sm, struct tp_buf *out);

/* ---- the HTTP side of --metrics (pure) ---- */

/* Parse an HTTP/1.x request head in buf[0..len): 0 once "\r\n\r\n" (or
 * "\n\n") is in, with the method and the path (query removed) copied out;
 * -EAGAIN: not complete yet; -EINVAL: not a request line. */
int tp_http_head(const char *buf, size_t len, char *method, size_t mlen, char *path, size_t plen);
/* The status for a request: 200 for GET /metrics, 405 for another method
 * on /metrics, 404 for any other path. */
int tp_http_route(const char *method, const char *path);

#endif
