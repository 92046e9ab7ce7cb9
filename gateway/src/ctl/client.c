/* SPDX-License-Identifier: MIT */
/* tunplug — `tunplug ctl`: the control socket's client (see ctl.h for the
 * server, proto.h for the protocol). One request, the answer printed as
 * text or JSON. Exit status 0, 1 (no gateway, an error answer, a broken
 * answer), 2 (usage). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/client.h"
#include "ctl/ctl.h"
#include "ctl/metrics.h"
#include "ctl/proto.h"

#define CLIENT_TIMEOUT_MS 30000

static const char usage[] =
        "Usage: tunplug ctl [--control PATH | --tun-name NAME] [--json] COMMAND\n"
        "Ask a running tunplug over its control socket (default\n" TP_CTL_DEFAULT_DIR
        "/NAME.sock, NAME the tun, default tunplug0).\n"
        "Commands:\n"
        "  flows [--dst CIDR] [--handler NAME]   the live flows\n"
        "  stats                                 the counters\n"
        "  close ID                              reset one flow (RST to the client)\n";

static int bad(const char *what)
{
	fprintf(stderr, "tunplug ctl: %s\n%s", what, usage);
	return 2;
}

struct answer {
	char *p;
	size_t len, cap;
};

/* connect, send line, read to EOF (bounded in time) */
static int ask(const char *path, const char *line, struct answer *a)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timespec t0, t;
	int fd, r = 0;
	size_t off = 0, len = strlen(line);

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "tunplug ctl: %s: path too long\n", path);
		return 1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "tunplug ctl: %s: %s (is tunplug running with this --control?)\n",
		        path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	while (off < len) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "tunplug ctl: %s: send: %s\n", path, strerror(errno));
			close(fd);
			return 1;
		}
		off += (size_t)n;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		long el;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= CLIENT_TIMEOUT_MS || poll(&pf, 1, (int)(CLIENT_TIMEOUT_MS - el)) == 0) {
			fprintf(stderr, "tunplug ctl: %s: no complete answer within %d s\n", path,
			        CLIENT_TIMEOUT_MS / 1000);
			r = 1;
			break;
		}
		if (a->cap - a->len < 65536) {
			size_t cap = a->cap ? 2 * a->cap : 131072;
			char *p = realloc(a->p, cap);

			if (!p) {
				fprintf(stderr, "tunplug ctl: out of memory\n");
				r = 1;
				break;
			}
			a->p = p;
			a->cap = cap;
		}
		n = read(fd, a->p + a->len, a->cap - a->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "tunplug ctl: %s: read: %s\n", path, strerror(errno));
			r = 1;
			break;
		}
		if (n == 0)
			break;
		a->len += (size_t)n;
	}
	close(fd);
	if (a->p)
		a->p[a->len] = '\0';
	return r;
}

static int print_answer(struct answer *a, enum tp_ctl_verb verb, bool json)
{
	struct tp_ctl_row *rows = NULL;
	size_t n = 0, cap = 0;
	struct tp_samples s = {0};
	bool ok = false, end = false;
	char *save = NULL, *line;
	int ret = 1;

	for (line = a->p ? strtok_r(a->p, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!ok) {
			if (!strncmp(line, "error ", 6)) {
				fprintf(stderr, "tunplug ctl: %s\n", line + 6);
				goto out;
			}
			if (strcmp(line, "ok"))
				break;
			ok = true;
			continue;
		}
		if (!strcmp(line, "end")) {
			end = true;
			break;
		}
		if (verb == TP_CTL_FLOWS) {
			if (n == cap) {
				size_t nc = cap ? 2 * cap : 256;
				struct tp_ctl_row *v = realloc(rows, nc * sizeof(*v));

				if (!v)
					goto out;
				rows = v;
				cap = nc;
			}
			if (tp_ctl_row_parse(line, &rows[n]) == 0)
				n++;
		} else if (verb == TP_CTL_STATS) {
			tp_samples_parse_line(&s, line);
		} else if (!strncmp(line, "closed ", 7)) {
			printf("closed %s\n", line + 7);
		}
	}
	if (!ok || !end) {
		fprintf(stderr, "tunplug ctl: %s answer from the gateway\n",
		        ok ? "incomplete" : "no valid");
		goto out;
	}
	if (verb == TP_CTL_FLOWS) {
		if (json)
			tp_ctl_print_rows_json(stdout, rows, n);
		else
			tp_ctl_print_rows_text(stdout, rows, n);
	} else if (verb == TP_CTL_STATS) {
		struct tp_buf b = {0};

		if (json)
			fputs("{\"stats\": {", stdout);
		for (size_t i = 0; i < s.n; i++) {
			b.len = 0;
			tp_sample_text(&s.v[i], &b);
			if (b.nomem || !b.len)
				continue;
			b.p[--b.len] = '\0'; /* the newline */
			if (json) {
				char *sp = strrchr(b.p, ' ');

				*sp = '\0';
				fputs(i ? ",\n  " : "\n  ", stdout);
				tp_ctl_json_str(stdout, b.p);
				printf(": %s", sp + 1);
			} else {
				puts(b.p);
			}
		}
		if (json)
			fputs(s.n ? "\n}}\n" : "}}\n", stdout);
		tp_buf_free(&b);
	}
	ret = fflush(stdout) ? 1 : 0;
out:
	free(rows);
	tp_samples_free(&s);
	return ret;
}

int tp_ctl_main(int argc, char **argv)
{
	const char *path = NULL, *tun = "tunplug0", *dst = NULL, *handler = NULL, *id = NULL;
	char pbuf[128], line[TP_CTL_LINE_MAX + 2], err[160];
	enum tp_ctl_verb verb = 0;
	struct tp_ctl_req req;
	struct answer a = {0};
	bool json = false;
	int ret;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		bool more = i + 1 < argc;

		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(o, "--json")) {
			json = true;
		} else if (!strcmp(o, "--control") && more) {
			path = argv[++i];
		} else if ((!strcmp(o, "--tun-name") || !strcmp(o, "-t")) && more) {
			tun = argv[++i];
		} else if (!strcmp(o, "--dst") && more) {
			dst = argv[++i];
		} else if (!strcmp(o, "--handler") && more) {
			handler = argv[++i];
		} else if (o[0] == '-') {
			return bad("unknown option or missing value");
		} else if (!verb) {
			if (!strcmp(o, "flows"))
				verb = TP_CTL_FLOWS;
			else if (!strcmp(o, "stats"))
				verb = TP_CTL_STATS;
			else if (!strcmp(o, "close"))
				verb = TP_CTL_CLOSE;
			else
				return bad("unknown command");
		} else if (verb == TP_CTL_CLOSE && !id) {
			id = o;
		} else {
			return bad("unexpected argument");
		}
	}
	if (!verb)
		return bad("no command");
	if ((dst || handler) && verb != TP_CTL_FLOWS)
		return bad("--dst and --handler go with flows");
	if (verb == TP_CTL_CLOSE && !id)
		return bad("close needs a flow id");
	if (path && !strcmp(path, "none"))
		return bad("--control none: no socket to ask");
	if (!path) {
		snprintf(pbuf, sizeof(pbuf), "%s/%s.sock", TP_CTL_DEFAULT_DIR, tun);
		path = pbuf;
	}
	snprintf(line, sizeof(line), "%s%s%s%s%s%s%s",
	         verb == TP_CTL_FLOWS   ? "flows"
	         : verb == TP_CTL_STATS ? "stats"
	                                : "close",
	         id ? " " : "", id ? id : "", dst ? " dst=" : "", dst ? dst : "",
	         handler ? " handler=" : "", handler ? handler : "");
	/* checked here too, so a bad value is a usage error, not a gateway's */
	if (tp_ctl_parse_request(line, strlen(line), &req, err, sizeof(err)))
		return bad(err);
	strcat(line, "\n");
	ret = ask(path, line, &a);
	if (!ret)
		ret = print_answer(&a, verb, json);
	free(a.p);
	return ret;
}
