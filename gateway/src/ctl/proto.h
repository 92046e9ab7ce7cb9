/* SPDX-License-Identifier: MIT */
/* tunplug — the control socket's line protocol (pure: no I/O). Shared by
 * the server (ctl.c), the --queues master's merge and the `tunplug ctl`
 * command (client.c).
 *
 * A request is one line of at most TP_CTL_LINE_MAX bytes ending in '\n':
 *     flows [dst=CIDR] [handler=NAME]
 *     stats
 *     close ID
 * The answer is "ok\n", then lines, then "end\n" (or "error TEXT\n"
 * alone), then the server closes the connection. Lines:
 *     flow ID PROTO SRC DST NAME HANDLER STATE UP DOWN AGE_MS IDLE_MS
 *     stat NAME LABELS VALUE        (LABELS: k=v[,k=v...] or "-")
 *     closed ID
 * Fields are separated by one space and never contain one: text fields
 * are escaped (tp_ctl_escape), an empty one is "-". */
#ifndef TUNPLUG_GW_CTL_PROTO_H
#define TUNPLUG_GW_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tunplug/addr.h"

#define TP_CTL_LINE_MAX 4096
/* an escaped field: every byte may become \xHH */
#define TP_CTL_ESC_MAX(n) (4 * (n) + 1)

enum tp_ctl_verb { TP_CTL_FLOWS = 1, TP_CTL_STATS, TP_CTL_CLOSE };

struct tp_ctl_req {
	enum tp_ctl_verb verb;
	bool has_dst;
	struct tp_cidr dst;
	char handler[64]; /* flows: "" = any */
	/* close: the id as given ("17", or "2-17" with --queues: worker 2) */
	unsigned worker; /* 0: no worker part */
	uint64_t seq;
};

/* Parse one request line (len bytes, without the '\n'; a '\r' before it
 * is ignored). 0, or -EINVAL with the reason in err (no newline). */
int tp_ctl_parse_request(const char *line, size_t len, struct tp_ctl_req *r, char *err,
                         size_t errlen);

/* A flow id: "17" (worker 0) or "2-17". 0 or -EINVAL. */
int tp_ctl_parse_id(const char *s, unsigned *worker, uint64_t *seq);

/* in (NUL-terminated) escaped into out (at most outlen bytes, always
 * NUL-terminated, truncated at a whole escape): bytes 0x21..0x7e other than
 * '\\', ',' and '=' are kept, others become \xHH; "" becomes "-" and "-"
 * becomes "\x2d". Returns out. */
char *tp_ctl_escape(const char *in, char *out, size_t outlen);
/* The reverse ("-" gives ""); out gets at most outlen - 1 bytes and a NUL.
 * Returns the length, or -EINVAL for a broken escape. */
int tp_ctl_unescape(const char *in, char *out, size_t outlen);

/* One flow as the protocol carries it (text fields unescaped). */
struct tp_ctl_row {
	char id[32];
	char proto[8];
	char src[64], dst[64];
	char name[256];
	char handler[64];
	char state[16];
	uint64_t up, down, age_ms, idle_ms;
};

/* The "flow ..." line of r (with '\n') into buf; returns its length, or 0
 * when it does not fit. */
size_t tp_ctl_row_format(const struct tp_ctl_row *r, char *buf, size_t len);
/* Parse a "flow ..." line (without '\n'). 0 or -EINVAL. */
int tp_ctl_row_parse(const char *line, struct tp_ctl_row *r);

/* Does a flow match the request's filters? family/addr: its destination;
 * handler_label: its instance ("socks5#2" or "direct"), handler_name: its
 * handler's name ("socks5"); --handler matches either. */
bool tp_ctl_match(const struct tp_ctl_req *q, int family, const void *addr,
                  const char *handler_label, const char *handler_name);

/* `tunplug ctl`'s output of rows (documented in README, keep stable). */
void tp_ctl_print_rows_text(FILE *out, const struct tp_ctl_row *rows, size_t n);
void tp_ctl_print_rows_json(FILE *out, const struct tp_ctl_row *rows, size_t n);

/* A JSON string (with quotes) of s: control bytes and bytes >= 0x80 as
 * \u00XX, so the output is JSON whatever s holds. */
void tp_ctl_json_str(FILE *out, const char *s);

#endif
