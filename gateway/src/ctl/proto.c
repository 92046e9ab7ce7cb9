/* SPDX-License-Identifier: MIT */
/* tunplug — the control socket's line protocol (see proto.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl/proto.h"
#include "tunplug/text.h"

#define fail tp_errf

/* strict decimal u64, the whole of s */
static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

int tp_ctl_parse_id(const char *s, unsigned *worker, uint64_t *seq)
{
	const char *dash = strchr(s, '-');
	char w[12];
	uint64_t wv = 0;

	if (dash) {
		if (dash == s || (size_t)(dash - s) >= sizeof(w))
			return -EINVAL;
		memcpy(w, s, (size_t)(dash - s));
		w[dash - s] = '\0';
		if (!parse_u64(w, &wv) || wv == 0 || wv > 1000000)
			return -EINVAL;
		s = dash + 1;
	}
	if (!parse_u64(s, seq) || *seq == 0)
		return -EINVAL;
	*worker = (unsigned)wv;
	return 0;
}

int tp_ctl_parse_request(const char *line, size_t len, struct tp_ctl_req *r, char *err,
                         size_t errlen)
{
	char buf[TP_CTL_LINE_MAX + 1], *tok, *save = NULL;
	int ntok = 0;

	memset(r, 0, sizeof(*r));
	if (len && line[len - 1] == '\r')
		len--;
	if (len > TP_CTL_LINE_MAX)
		return fail(err, errlen, "request longer than %d bytes", TP_CTL_LINE_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
			return fail(err, errlen, "request with a control or non-ASCII byte");
	memcpy(buf, line, len);
	buf[len] = '\0';
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save), ntok++) {
		if (ntok == 0) {
			if (!strcmp(tok, "flows"))
				r->verb = TP_CTL_FLOWS;
			else if (!strcmp(tok, "stats"))
				r->verb = TP_CTL_STATS;
			else if (!strcmp(tok, "close"))
				r->verb = TP_CTL_CLOSE;
			else
				return fail(err, errlen,
				            "unknown request \"%.32s\" (flows, stats, close ID)",
				            tok);
			continue;
		}
		if (r->verb == TP_CTL_CLOSE) {
			if (ntok > 1)
				return fail(err, errlen, "close takes one ID");
			if (tp_ctl_parse_id(tok, &r->worker, &r->seq))
				return fail(err, errlen, "\"%.32s\" is not a flow id (N or K-N)",
				            tok);
		} else if (r->verb == TP_CTL_FLOWS && !strncmp(tok, "dst=", 4)) {
			if (r->has_dst || tp_cidr_parse(tok + 4, &r->dst))
				return fail(err, errlen, "\"%.64s\": one dst=CIDR", tok);
			r->has_dst = true;
		} else if (r->verb == TP_CTL_FLOWS && !strncmp(tok, "handler=", 8)) {
			if (r->handler[0] || !tok[8] || strlen(tok + 8) >= sizeof(r->handler))
				return fail(err, errlen,
				            "\"%.64s\": one handler=NAME (1..%zu bytes)", tok,
				            sizeof(r->handler) - 1);
			strcpy(r->handler, tok + 8);
		} else {
			return fail(err, errlen, "unexpected \"%.32s\"", tok);
		}
	}
	if (!r->verb)
		return fail(err, errlen, "empty request (flows, stats, close ID)");
	if (r->verb == TP_CTL_CLOSE && !r->seq)
		return fail(err, errlen, "close needs a flow id");
	return 0;
}

static bool esc_keep(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '\\' && c != ',' && c != '=';
}

char *tp_ctl_escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	if (!outlen)
		return out;
	if (!in[0] || !strcmp(in, "-")) {
		snprintf(out, outlen, "%s", in[0] ? "\\x2d" : "-");
		return out;
	}
	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;

		if (esc_keep(c)) {
			if (o + 1 >= outlen)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= outlen)
				break;
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tp_ctl_unescape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	if (!outlen)
		return -EINVAL;
	if (!strcmp(in, "-")) {
		out[0] = '\0';
		return 0;
	}
	for (; *in; in++) {
		char c = *in;

		if (c == '\\') {
			int h, l;

			if (in[1] != 'x' || (h = hexval(in[2])) < 0 || (l = hexval(in[3])) < 0)
				return -EINVAL;
			c = (char)(h * 16 + l);
			in += 3;
		}
		if (o + 1 >= outlen)
			break;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

size_t tp_ctl_row_format(const struct tp_ctl_row *r, char *buf, size_t len)
{
	char name[TP_CTL_ESC_MAX(sizeof(r->name))], h[TP_CTL_ESC_MAX(sizeof(r->handler))];
	int n;

	n = snprintf(buf, len,
	             "flow %s %s %s %s %s %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
	             r->id, r->proto, r->src, r->dst, tp_ctl_escape(r->name, name, sizeof(name)),
	             tp_ctl_escape(r->handler, h, sizeof(h)), r->state, r->up, r->down, r->age_ms,
	             r->idle_ms);
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/* the next space-separated field of *p into out (bounded); false if none */
static bool field(const char **p, char *out, size_t outlen)
{
	const char *s = *p, *e;

	if (!*s)
		return false;
	e = strchr(s, ' ');
	if (!e)
		e = s + strlen(s);
	if (e == s || (size_t)(e - s) >= outlen)
		return false;
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	*p = *e ? e + 1 : e;
	return true;
}

int tp_ctl_row_parse(const char *line, struct tp_ctl_row *r)
{
	char tag[8], esc[TP_CTL_ESC_MAX(256)], num[4][24];
	const char *p = line;

	memset(r, 0, sizeof(*r));
	if (!field(&p, tag, sizeof(tag)) || strcmp(tag, "flow") ||
	    !field(&p, r->id, sizeof(r->id)) || !field(&p, r->proto, sizeof(r->proto)) ||
	    !field(&p, r->src, sizeof(r->src)) || !field(&p, r->dst, sizeof(r->dst)))
		return -EINVAL;
	if (!field(&p, esc, sizeof(esc)) || tp_ctl_unescape(esc, r->name, sizeof(r->name)) < 0)
		return -EINVAL;
	if (!field(&p, esc, sizeof(esc)) ||
	    tp_ctl_unescape(esc, r->handler, sizeof(r->handler)) < 0)
		return -EINVAL;
	if (!field(&p, r->state, sizeof(r->state)))
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		if (!field(&p, num[i], sizeof(num[i])))
			return -EINVAL;
	if (*p || !parse_u64(num[0], &r->up) || !parse_u64(num[1], &r->down) ||
	    !parse_u64(num[2], &r->age_ms) || !parse_u64(num[3], &r->idle_ms))
		return -EINVAL;
	return 0;
}

bool tp_ctl_match(const struct tp_ctl_req *q, int family, const void *addr,
                  const char *handler_label, const char *handler_name)
{
	if (q->has_dst && !tp_cidr_contains(&q->dst, family, addr))
		return false;
	if (q->handler[0] && strcmp(q->handler, handler_label ? handler_label : "") &&
	    strcmp(q->handler, handler_name ? handler_name : ""))
		return false;
	return true;
}

static void secs(char *buf, size_t len, uint64_t ms)
{
	snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "s", ms / 1000u, ms % 1000u / 100u);
}

void tp_ctl_print_rows_text(FILE *out, const struct tp_ctl_row *rows, size_t n)
{
	fprintf(out, "%-10s %-5s %-24s %-24s %-20s %-12s %-11s %12s %12s %9s %9s\n", "ID", "PROTO",
	        "CLIENT", "DESTINATION", "NAME", "HANDLER", "STATE", "UP", "DOWN", "AGE", "IDLE");
	for (size_t i = 0; i < n; i++) {
		const struct tp_ctl_row *r = &rows[i];
		char name[TP_CTL_ESC_MAX(sizeof(r->name))], h[TP_CTL_ESC_MAX(sizeof(r->handler))];
		char age[32], idle[32];

		secs(age, sizeof(age), r->age_ms);
		secs(idle, sizeof(idle), r->idle_ms);
		fprintf(out,
		        "%-10s %-5s %-24s %-24s %-20s %-12s %-11s %12" PRIu64 " %12" PRIu64
		        " %9s %9s\n",
		        r->id, r->proto, r->src, r->dst, tp_ctl_escape(r->name, name, sizeof(name)),
		        tp_ctl_escape(r->handler, h, sizeof(h)), r->state, r->up, r->down, age,
		        idle);
	}
}

void tp_ctl_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

void tp_ctl_print_rows_json(FILE *out, const struct tp_ctl_row *rows, size_t n)
{
	fputs("{\"flows\": [", out);
	for (size_t i = 0; i < n; i++) {
		const struct tp_ctl_row *r = &rows[i];

		fputs(i ? ",\n  {" : "\n  {", out);
		fputs("\"id\": ", out);
		tp_ctl_json_str(out, r->id);
		fputs(", \"proto\": ", out);
		tp_ctl_json_str(out, r->proto);
		fputs(", \"client\": ", out);
		tp_ctl_json_str(out, r->src);
		fputs(", \"destination\": ", out);
		tp_ctl_json_str(out, r->dst);
		fputs(", \"name\": ", out);
		if (r->name[0])
			tp_ctl_json_str(out, r->name);
		else
			fputs("null", out);
		fputs(", \"handler\": ", out);
		tp_ctl_json_str(out, r->handler);
		fputs(", \"state\": ", out);
		tp_ctl_json_str(out, r->state);
		fprintf(out,
		        ", \"bytes_up\": %" PRIu64 ", \"bytes_down\": %" PRIu64
		        ", \"age_ms\": %" PRIu64 ", \"idle_ms\": %" PRIu64 "}",
		        r->up, r->down, r->age_ms, r->idle_ms);
	}
	fputs(n ? "\n]}\n" : "]}\n", out);
}
