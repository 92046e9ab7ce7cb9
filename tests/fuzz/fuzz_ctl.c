/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the parsers of the control socket and the metrics page
 * (gateway/src/ctl/proto.c, metrics.c), which read what a local client or
 * anyone reaching --metrics sends, and what a --queues master reads from
 * its workers. The input goes to each: a request line, an HTTP request
 * head, a flow row, a stat line (then rendered for Prometheus), an
 * unescape. Invariants: nothing is read or written outside the buffers
 * (ASan); an accepted request has a verb, a close an id > 0; an accepted
 * HTTP head has a method of A-Z only and a path starting with '/'; an
 * accepted flow row formats back to a line that parses to the same row;
 * an unescaped field escapes back to a field that unescapes the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/metrics.h"
#include "ctl/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the same row, field by field (a name may hold a NUL: strings compare up
 * to it, as everything that reads them does) */
static int same(const struct tp_ctl_row *a, const struct tp_ctl_row *b)
{
	return !strcmp(a->id, b->id) && !strcmp(a->proto, b->proto) && !strcmp(a->src, b->src) &&
	       !strcmp(a->dst, b->dst) && !strcmp(a->name, b->name) &&
	       !strcmp(a->handler, b->handler) && !strcmp(a->state, b->state) && a->up == b->up &&
	       a->down == b->down && a->age_ms == b->age_ms && a->idle_ms == b->idle_ms;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[160], m[16], p[256], line[8192];
	struct tp_ctl_req r;
	struct tp_ctl_row row, again;
	struct tp_samples sm = {0};
	struct tp_buf b = {0};
	const char *nl;
	size_t n;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	nl = memchr(s, '\n', size);
	n = nl ? (size_t)(nl - s) : size;
	if (tp_ctl_parse_request(s, n, &r, err, sizeof(err)) == 0) {
		if (r.verb < TP_CTL_FLOWS || r.verb > TP_CTL_CLOSE)
			abort();
		if (r.verb == TP_CTL_CLOSE && r.seq == 0)
			abort();
	}
	if (tp_http_head(s, size, m, sizeof(m), p, sizeof(p)) == 0) {
		for (const char *c = m; *c; c++)
			if (*c < 'A' || *c > 'Z')
				abort();
		if (p[0] != '/')
			abort();
		tp_http_route(m, p);
	}
	if (tp_ctl_row_parse(s, &row) == 0) {
		size_t k = tp_ctl_row_format(&row, line, sizeof(line));

		if (!k)
			abort();
		line[k - 1] = '\0';
		if (tp_ctl_row_parse(line, &again) || !same(&row, &again))
			abort();
	}
	if (tp_samples_parse_line(&sm, s) == 0) {
		tp_samples_prometheus(&sm, &b);
		tp_samples_wire(&sm, &b);
	}
	if (strlen(s) < 1024) {
		char u[1024], e[TP_CTL_ESC_MAX(1024)], u2[1024];

		if (tp_ctl_unescape(s, u, sizeof(u)) >= 0) {
			tp_ctl_escape(u, e, sizeof(e));
			if (tp_ctl_unescape(e, u2, sizeof(u2)) < 0 || strcmp(u, u2))
				abort();
		}
	}
	tp_samples_free(&sm);
	tp_buf_free(&b);
	free(s);
	return 0;
}
