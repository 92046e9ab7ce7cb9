/* SPDX-License-Identifier: MIT */
/* tunplug — the control socket and the metrics page on the loop (see
 * ctl.h; the protocol in proto.h, the samples in metrics.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/metrics.h"
#include "ctl/proto.h"
#include "log.h"
#include "registry/registry.h"
#include "relay/relay.h"
#include "tunplug/text.h"

enum { K_CTL, K_HTTP, K_INT };
static const char *const kind_names[] = {"control", "metrics", "internal"};

/* a master's answer from workers is read while the client's output holds
 * less than this */
#define OUT_HIGH (64u * 1024u)
#define SUB_LINE 2048

struct sub;

struct ctl_conn {
	struct ctl_conn *prev, *next;
	struct tp_ctl *ctl;
	int kind;
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} u;
	uv_timer_t timer;
	unsigned handles; /* open handles of this conn (stream, timer); freed at 0 */
	bool closing;
	char in[TP_CTL_LINE_MAX + 2];
	size_t in_len;
	bool got_request;
	struct tp_ctl_req req;
	char line[TP_CTL_LINE_MAX + 2]; /* the request line, for the workers */
	struct tp_buf out;              /* to write next */
	struct tp_buf wbuf;             /* being written */
	bool writing;
	uv_write_t wreq;
	bool finished; /* everything is in out: close once written */
	/* a single process or worker: the flow list being written */
	struct tp_relay_cursor cur;
	bool cursor_on;
	/* the master: the worker being asked, the next one, the sum */
	struct sub *sub;
	unsigned next_worker;
	struct tp_samples sum;
};

/* The master's connection to one worker for one request. */
struct sub {
	struct ctl_conn *c; /* NULL once the client's conn is gone */
	uv_pipe_t pipe;
	uv_write_t wreq;
	char req[TP_CTL_LINE_MAX + 4];
	char in[SUB_LINE];
	size_t len;
	bool paused, eof, closing;
};

static void conn_close(struct ctl_conn *c);
static void pump(struct ctl_conn *c);

/* ---- connections ---- */

static void conn_free(struct ctl_conn *c)
{
	struct tp_ctl *ctl = c->ctl;

	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->n_conns[c->kind]--;
	tp_buf_free(&c->out);
	tp_buf_free(&c->wbuf);
	tp_samples_free(&c->sum);
	free(c);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct ctl_conn *c = h->data;

	if (--c->handles == 0)
		conn_free(c);
}

static void sub_closed(uv_handle_t *h)
{
	free(h->data);
}

static void sub_drop(struct sub *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	if (s->c)
		s->c->sub = NULL;
	s->c = NULL;
	uv_close((uv_handle_t *)&s->pipe, sub_closed);
}

static void conn_close(struct ctl_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->cursor_on) {
		tp_relay_cursor_end(&c->cur);
		c->cursor_on = false;
	}
	sub_drop(c->sub);
	uv_close(&c->u.h, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
	struct ctl_conn *c = t->data;

	tp_log(TP_LOG_DEBUG, "ctl: %s client: %s: closed", kind_names[c->kind],
	       c->got_request ? "no write progress" : "no request in time");
	conn_close(c);
}

static void arm(struct ctl_conn *c, uint64_t ms)
{
	uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void on_written(uv_write_t *req, int status)
{
	struct ctl_conn *c = req->data;

	c->writing = false;
	c->wbuf.len = 0;
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	arm(c, TP_CTL_STALL_MS);
	pump(c);
}

/* Flows of this process: the next chunk of rows into c->out. */
static void fill_flows(struct ctl_conn *c);
static void sub_resume(struct sub *s);

/* fill_flows found no row in its share of flows: go on next loop turn */
static void on_more(uv_timer_t *t)
{
	struct ctl_conn *c = t->data;

	arm(c, TP_CTL_STALL_MS);
	pump(c);
}

static void pump(struct ctl_conn *c)
{
	uv_buf_t b;
	struct tp_buf t;

	if (c->closing || c->writing)
		return;
	if (!c->out.len && c->cursor_on) {
		fill_flows(c);
		if (!c->out.len && c->cursor_on) {
			uv_timer_start(&c->timer, on_more, 0, 0);
			return;
		}
	}
	if (c->sub && c->sub->paused && c->out.len < OUT_HIGH)
		sub_resume(c->sub);
	if (c->out.nomem) {
		conn_close(c);
		return;
	}
	if (!c->out.len) {
		if (c->finished)
			conn_close(c);
		return;
	}
	t = c->wbuf; /* swap: out is written, the old write buffer is reused */
	c->wbuf = c->out;
	c->out = t;
	c->out.len = 0;
	b = uv_buf_init(c->wbuf.p, (unsigned)c->wbuf.len);
	c->wreq.data = c;
	if (uv_write(&c->wreq, &c->u.s, &b, 1, on_written) < 0) {
		conn_close(c);
		return;
	}
	c->writing = true;
}

/* ---- answers from this process ---- */

/* "direct", or "socks5#2" when several instances share the name */
static void hinst_label(const struct tp_registry *reg, const struct tp_hinst *hi, char *buf,
                        size_t len)
{
	unsigned same = 0;
	size_t idx = 0;
	bool current = false;

	if (!hi) {
		snprintf(buf, len, "-");
		return;
	}
	for (size_t i = 0; reg && i < reg->n_hinst; i++) {
		if (reg->hinst[i] == hi) {
			idx = i;
			current = true;
		}
		same += !strcmp(reg->hinst[i]->name, hi->name);
	}
	if (!current) /* an instance a SIGHUP reload replaced, still serving */
		snprintf(buf, len, "%s(old)", hi->name);
	else if (same > 1)
		snprintf(buf, len, "%s#%zu", hi->name, idx);
	else
		snprintf(buf, len, "%s", hi->name);
}

static void view_row(const struct tp_ctl *ctl, const struct tp_flow_view *v, struct tp_ctl_row *r)
{
	memset(r, 0, sizeof(*r));
	if (ctl->src.worker)
		snprintf(r->id, sizeof(r->id), "%u-%" PRIu64, ctl->src.worker, v->id);
	else
		snprintf(r->id, sizeof(r->id), "%" PRIu64, v->id);
	snprintf(r->proto, sizeof(r->proto), "%s", v->proto == IPPROTO_UDP ? "udp" : "tcp");
	tp_sockaddr_str((const struct sockaddr *)&v->src, r->src, sizeof(r->src));
	tp_sockaddr_str((const struct sockaddr *)&v->dst, r->dst, sizeof(r->dst));
	snprintf(r->name, sizeof(r->name), "%s", v->name);
	hinst_label(ctl->src.reg, v->hi, r->handler, sizeof(r->handler));
	snprintf(r->state, sizeof(r->state), "%s", tp_flow_state_name(v->state));
	r->up = v->bytes_up;
	r->down = v->bytes_down;
	r->age_ms = v->age_ms;
	r->idle_ms = v->idle_ms;
}

static const void *view_dst_addr(const struct tp_flow_view *v)
{
	if (v->dst.ss_family == AF_INET6)
		return &((const struct sockaddr_in6 *)&v->dst)->sin6_addr;
	return &((const struct sockaddr_in *)&v->dst)->sin_addr;
}

static void fill_flows(struct ctl_conn *c)
{
	struct tp_flow_view v;
	struct tp_ctl_row r;
	char line[TP_CTL_ESC_MAX(256) + 512];
	unsigned rows = 0, seen = 0;

	/* at most TP_CTL_CHUNK rows, and TP_CTL_SCAN flows looked at, per turn */
	while (rows < TP_CTL_CHUNK && seen++ < TP_CTL_SCAN) {
		if (!tp_relay_cursor_next(&c->cur, &v)) {
			tp_relay_cursor_end(&c->cur);
			c->cursor_on = false;
			tp_buf_printf(&c->out, "end\n");
			c->finished = true;
			return;
		}
		view_row(c->ctl, &v, &r);
		if (!tp_ctl_match(&c->req, v.dst.ss_family, view_dst_addr(&v), r.handler,
		                  v.hi ? v.hi->name : ""))
			continue;
		if (tp_ctl_row_format(&r, line, sizeof(line))) {
			tp_buf_printf(&c->out, "%s", line);
			rows++;
		}
	}
}

/* What only the process that owns the device adds: the tun's kernel
 * counters and the start time. */
static void collect_device(struct tp_ctl *ctl, struct tp_samples *s)
{
	uint64_t txq, drop;

	if (ctl->src.link && ctl->src.link(ctl->src.link_ud, &txq, &drop) == 0) {
		tp_samples_add(s, "tun_txqueuelen", "", txq);
		tp_samples_add(s, "tun_tx_dropped", "", drop);
	}
	if (ctl->src.start_time > 0)
		tp_samples_add(s, "start_time_seconds", "", (uint64_t)ctl->src.start_time);
}

/* Counters, handler counters and the flows by handler and state. */
static void collect_local(struct tp_ctl *ctl, struct tp_samples *s)
{
	const struct tp_registry *reg = ctl->src.reg;
	struct tp_relay_cursor cur;
	struct tp_flow_view v;
	char label[64];

	tp_samples_collect(s, ctl->src.st, ctl->src.stack_stats ? ctl->src.stack_stats() : NULL);
	collect_device(ctl, s);
	for (size_t i = 0; reg && i < reg->n_hinst; i++) {
		const struct tp_hinst *hi = reg->hinst[i];

		hinst_label(reg, hi, label, sizeof(label));
		for (size_t k = 0; k < hi->n_counters; k++)
			tp_samples_addl(s, "handler_events", hi->counters[k].value, "handler",
			                label, "counter", hi->counters[k].name, NULL);
	}
	if (!ctl->src.rel)
		return;
	/* synchronous, but only counting: no formatting, no allocation */
	tp_relay_cursor_begin(ctl->src.rel, &cur);
	while (tp_relay_cursor_next(&cur, &v)) {
		hinst_label(reg, v.hi, label, sizeof(label));
		tp_samples_addl(s, "flows_open", 1, "handler", label, "proto",
		                v.proto == IPPROTO_UDP ? "udp" : "tcp", "state",
		                tp_flow_state_name(v.state), NULL);
	}
	tp_relay_cursor_end(&cur);
}

static void answer_error(struct ctl_conn *c, const char *msg)
{
	tp_buf_printf(&c->out, "error %s\n", msg);
	c->finished = true;
	pump(c);
}

static void answer_local(struct ctl_conn *c)
{
	struct tp_ctl *ctl = c->ctl;

	switch (c->req.verb) {
	case TP_CTL_FLOWS:
		tp_buf_printf(&c->out, "ok\n");
		tp_relay_cursor_begin(ctl->src.rel, &c->cur);
		c->cursor_on = true;
		break;
	case TP_CTL_STATS: {
		struct tp_samples s = {0};

		collect_local(ctl, &s);
		tp_buf_printf(&c->out, "ok\n");
		tp_samples_wire(&s, &c->out);
		tp_buf_printf(&c->out, "end\n");
		tp_samples_free(&s);
		c->finished = true;
		break;
	}
	case TP_CTL_CLOSE:
		if (c->req.worker != ctl->src.worker ||
		    tp_relay_close_flow(ctl->src.rel, c->req.seq) < 0) {
			answer_error(c, "no such flow");
			return;
		}
		tp_log(TP_LOG_INFO, "ctl: flow %" PRIu64 " reset on request", c->req.seq);
		if (ctl->src.worker)
			tp_buf_printf(&c->out, "ok\nclosed %u-%" PRIu64 "\nend\n", ctl->src.worker,
			              c->req.seq);
		else
			tp_buf_printf(&c->out, "ok\nclosed %" PRIu64 "\nend\n", c->req.seq);
		c->finished = true;
		break;
	}
	pump(c);
}

/* ---- the master: asking the workers ---- */

static void ask_next_worker(struct ctl_conn *c);

static void master_finish(struct ctl_conn *c)
{
	if (c->ctl->src.n_workers && (c->kind == K_HTTP || c->req.verb == TP_CTL_STATS))
		collect_device(c->ctl, &c->sum);
	if (c->kind == K_HTTP) {
		struct tp_buf page = {0};

		tp_samples_prometheus(&c->sum, &page);
		if (page.nomem) {
			tp_buf_free(&page);
			conn_close(c);
			return;
		}
		tp_buf_printf(&c->out,
		              "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
		              "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		              page.len);
		tp_buf_printf(&c->out, "%.*s", (int)page.len, page.p ? page.p : "");
		tp_buf_free(&page);
	} else if (c->req.verb == TP_CTL_STATS) {
		tp_samples_wire(&c->sum, &c->out);
		tp_buf_printf(&c->out, "end\n");
	} else if (c->req.verb == TP_CTL_FLOWS) {
		tp_buf_printf(&c->out, "end\n");
	} else if (!c->out.len) {
		/* close: the worker's own answer is forwarded as it is; none came */
		tp_buf_printf(&c->out, "error no answer from worker %u\n", c->req.worker);
	}
	c->finished = true;
	pump(c);
}

static void sub_line(struct sub *s, const char *line)
{
	struct ctl_conn *c = s->c;

	if (c->kind != K_HTTP && c->req.verb == TP_CTL_CLOSE) {
		tp_buf_printf(&c->out, "%s\n", line); /* the worker's answer as it is */
		return;
	}
	if (!strcmp(line, "ok") || !strcmp(line, "end"))
		return;
	if (!strncmp(line, "error", 5)) {
		tp_log(TP_LOG_DEBUG, "ctl: worker %u: %s", c->next_worker - 1, line);
		return;
	}
	if (c->kind == K_HTTP || c->req.verb == TP_CTL_STATS)
		tp_samples_parse_line(&c->sum, line);
	else if (!strncmp(line, "flow ", 5))
		tp_buf_printf(&c->out, "%s\n", line);
}

static void sub_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct sub *s = h->data;

	*buf = uv_buf_init(s->in + s->len, (unsigned)(sizeof(s->in) - s->len));
}

static void sub_done(struct sub *s)
{
	struct ctl_conn *c = s->c;

	sub_drop(s);
	if (c && !c->closing)
		ask_next_worker(c);
}

static void sub_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct sub *s = st->data;
	char *nl, *start;

	if (s->closing || !s->c)
		return;
	if (n < 0) {
		sub_done(s);
		return;
	}
	s->len += (size_t)n;
	start = s->in;
	while ((nl = memchr(start, '\n', s->len - (size_t)(start - s->in))) != NULL) {
		*nl = '\0';
		sub_line(s, start);
		start = nl + 1;
	}
	s->len -= (size_t)(start - s->in);
	memmove(s->in, start, s->len);
	if (s->len == sizeof(s->in)) { /* a line longer than any we send */
		sub_done(s);
		return;
	}
	if (s->c->out.len >= OUT_HIGH) {
		uv_read_stop(st);
		s->paused = true;
	}
	pump(s->c);
}

static void sub_resume(struct sub *s)
{
	s->paused = false;
	if (uv_read_start((uv_stream_t *)&s->pipe, sub_alloc, sub_read) < 0)
		sub_done(s);
}

static void sub_written(uv_write_t *req, int status)
{
	struct sub *s = req->data;

	if (status < 0 && !s->closing)
		sub_done(s);
}

/* A fresh connection to worker k: one end of a socketpair passed over its
 * channel (SCM_RIGHTS). Returns the other end, or -errno. */
static int worker_connect(struct tp_ctl *ctl, unsigned k)
{
	int chan = ctl->src.worker_fds[k - 1], sp[2], err;
	char byte = 'R';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	ssize_t r;

	if (chan < 0)
		return -ENOTCONN;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
		return -errno;
	memset(&u, 0, sizeof(u));
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &sp[1], sizeof(int));
	do
		r = sendmsg(chan, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	err = r < 0 ? -errno : 0;
	close(sp[1]);
	if (err) {
		close(sp[0]);
		return err;
	}
	return sp[0];
}

static void ask_next_worker(struct ctl_conn *c)
{
	struct tp_ctl *ctl = c->ctl;

	while (c->next_worker <= ctl->src.n_workers) {
		unsigned k = c->next_worker++;
		struct sub *s;
		uv_buf_t b;
		int fd;

		if (c->kind != K_HTTP && c->req.verb == TP_CTL_CLOSE && k != c->req.worker)
			continue;
		fd = worker_connect(ctl, k);
		if (fd < 0) {
			tp_log(TP_LOG_DEBUG, "ctl: worker %u: %s", k, strerror(-fd));
			continue;
		}
		s = calloc(1, sizeof(*s));
		if (!s || uv_pipe_init(ctl->loop, &s->pipe, 0) < 0) {
			free(s);
			close(fd);
			continue;
		}
		s->pipe.data = s;
		if (uv_pipe_open(&s->pipe, fd) < 0) {
			close(fd);
			s->c = NULL;
			s->closing = true;
			uv_close((uv_handle_t *)&s->pipe, sub_closed);
			continue;
		}
		s->c = c;
		c->sub = s;
		snprintf(s->req, sizeof(s->req), "%s\n", c->kind == K_HTTP ? "stats" : c->line);
		b = uv_buf_init(s->req, (unsigned)strlen(s->req));
		s->wreq.data = s;
		if (uv_write(&s->wreq, (uv_stream_t *)&s->pipe, &b, 1, sub_written) < 0 ||
		    uv_read_start((uv_stream_t *)&s->pipe, sub_alloc, sub_read) < 0) {
			sub_drop(s);
			continue;
		}
		return;
	}
	master_finish(c);
}

static void answer_master(struct ctl_conn *c)
{
	c->next_worker = 1;
	if (c->kind == K_CTL && c->req.verb == TP_CTL_CLOSE) {
		if (c->req.worker < 1 || c->req.worker > c->ctl->src.n_workers) {
			answer_error(c, "no such flow (ids are K-N with --queues)");
			return;
		}
	} else if (c->kind == K_CTL) {
		tp_buf_printf(&c->out, "ok\n");
	}
	ask_next_worker(c);
}

/* ---- requests ---- */

static void http_simple(struct ctl_conn *c, int status, const char *reason, const char *extra)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, reason);

	tp_buf_printf(&c->out,
	              "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s"
	              "Connection: close\r\n\r\n%s",
	              status, reason, n, extra, body);
	c->finished = true;
	pump(c);
}

static void on_http(struct ctl_conn *c)
{
	char method[16], path[256];
	int r = tp_http_head(c->in, c->in_len, method, sizeof(method), path, sizeof(path));

	if (r == -EAGAIN && c->in_len < TP_CTL_LINE_MAX)
		return;
	uv_read_stop(&c->u.s);
	c->got_request = true;
	arm(c, TP_CTL_STALL_MS);
	if (r == -EAGAIN) {
		http_simple(c, 431, "Request Header Fields Too Large", "");
		return;
	}
	if (r < 0) {
		http_simple(c, 400, "Bad Request", "");
		return;
	}
	switch (tp_http_route(method, path)) {
	case 404:
		http_simple(c, 404, "Not Found", "");
		return;
	case 405:
		http_simple(c, 405, "Method Not Allowed", "Allow: GET\r\n");
		return;
	}
	if (c->ctl->src.n_workers) {
		answer_master(c);
		return;
	}
	collect_local(c->ctl, &c->sum);
	master_finish(c); /* renders c->sum */
}

static void on_ctl_request(struct ctl_conn *c, size_t len)
{
	char err[160];

	uv_read_stop(&c->u.s);
	c->got_request = true;
	arm(c, TP_CTL_STALL_MS);
	if (tp_ctl_parse_request(c->in, len, &c->req, err, sizeof(err))) {
		answer_error(c, err);
		return;
	}
	memcpy(c->line, c->in, len);
	c->line[len] = '\0';
	if (len && c->line[len - 1] == '\r')
		c->line[len - 1] = '\0';
	if (c->ctl->src.n_workers)
		answer_master(c);
	else
		answer_local(c);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ctl_conn *c = h->data;
	size_t room = TP_CTL_LINE_MAX + 1 - c->in_len;

	*buf = uv_buf_init(c->in + c->in_len, (unsigned)room);
}

static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct ctl_conn *c = st->data;
	char *nl;

	if (c->closing || c->got_request)
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (c->kind == K_HTTP) {
		c->in_len += (size_t)n;
		c->in[c->in_len] = '\0';
		on_http(c);
		return;
	}
	nl = memchr(c->in + c->in_len, '\n', (size_t)n);
	c->in_len += (size_t)n;
	if (nl) {
		on_ctl_request(c, (size_t)(nl - c->in));
		return;
	}
	if (c->in_len > TP_CTL_LINE_MAX) {
		uv_read_stop(st);
		c->got_request = true;
		arm(c, TP_CTL_STALL_MS);
		answer_error(c, "request longer than 4096 bytes");
	}
}

/* A new connection of kind on c's loop, its stream initialised by init. */
static struct ctl_conn *conn_new(struct tp_ctl *ctl, int kind)
{
	struct ctl_conn *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return NULL;
	c->ctl = ctl;
	c->kind = kind;
	r = kind == K_HTTP ? uv_tcp_init(ctl->loop, &c->u.tcp)
	                   : uv_pipe_init(ctl->loop, &c->u.pipe, 0);
	if (r < 0) {
		free(c);
		return NULL;
	}
	uv_timer_init(ctl->loop, &c->timer);
	c->u.h.data = c;
	c->timer.data = c;
	c->handles = 2;
	c->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = c;
	ctl->conns = c;
	ctl->n_conns[kind]++;
	return c;
}

static void conn_start(struct ctl_conn *c)
{
	unsigned limit = c->kind == K_INT ? 4 * TP_CTL_MAX_CLIENTS : TP_CTL_MAX_CLIENTS;

	if (c->ctl->n_conns[c->kind] > limit || c->ctl->stopping) {
		tp_log(TP_LOG_DEBUG, "ctl: %s: more than %u clients: closed at once",
		       kind_names[c->kind], limit);
		conn_close(c);
		return;
	}
	arm(c, TP_CTL_REQUEST_MS);
	if (uv_read_start(&c->u.s, conn_alloc, conn_read) < 0)
		conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct tp_ctl *ctl = server->data;
	int kind = server == (uv_stream_t *)&ctl->msock ? K_HTTP : K_CTL;
	struct ctl_conn *c;

	if (status < 0)
		return;
	c = conn_new(ctl, kind);
	if (!c)
		return; /* the pending connection stays in the backlog */
	if (uv_accept(server, &c->u.s) < 0) {
		conn_close(c);
		return;
	}
	conn_start(c);
}

/* A worker: the master's byte with a connection attached. */
static void chan_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char sink[64];

	*buf = uv_buf_init(sink, sizeof(sink));
}

static void chan_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct tp_ctl *ctl = st->data;

	if (n < 0) {
		if (n != UV_EOF)
			tp_log(TP_LOG_DEBUG, "ctl: channel from the master: %s",
			       uv_strerror((int)n));
		uv_read_stop(st);
		return;
	}
	while (uv_pipe_pending_count(&ctl->chan) > 0) {
		struct ctl_conn *c;

		if (uv_pipe_pending_type(&ctl->chan) != UV_NAMED_PIPE ||
		    !(c = conn_new(ctl, K_INT))) {
			/* take it off the queue and drop it */
			uv_pipe_t tmp;

			if (uv_pipe_init(ctl->loop, &tmp, 0) == 0) {
				uv_accept(st, (uv_stream_t *)&tmp);
				uv_close((uv_handle_t *)&tmp, NULL);
			}
			continue;
		}
		if (uv_accept(st, &c->u.s) < 0) {
			conn_close(c);
			continue;
		}
		conn_start(c);
	}
}

/* ---- set-up ---- */

void tp_ctl_init(struct tp_ctl *c, uv_loop_t *loop, const struct tp_ctl_source *src)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->src = *src;
}

/* Is a gateway listening on path? 1 yes, 0 no (stale), -errno other. */
static int probe(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	r = r == 0 ? 1 : errno == ECONNREFUSED ? 0 : -errno;
	close(fd);
	return r;
}

static int listen_at(struct tp_ctl *c, const char *path, const char *tun_name);

int tp_ctl_listen(struct tp_ctl *c, const char *path, const char *tun_name)
{
	int r = listen_at(c, path, tun_name);

	/* the default path is a convenience: a read-only /run (a unit with
	 * ProtectSystem=strict and no RuntimeDirectory=) must not stop the
	 * gateway */
	if (r && !path) {
		tp_log(TP_LOG_WARN,
		       "no control socket at the default path %s: running without one "
		       "(--control PATH names another)",
		       c->path);
		if (c->own_path)
			unlink(c->path);
		c->own_path = false;
		c->path[0] = '\0';
		return 0;
	}
	return r;
}

static int listen_at(struct tp_ctl *c, const char *path, const char *tun_name)
{
	char dir[sizeof(c->path)], *slash;
	bool dflt = !path;
	struct stat sb;
	mode_t old;
	int r;

	if (path && !strcmp(path, "none"))
		return 0;
	if (dflt)
		r = snprintf(c->path, sizeof(c->path), "%s/%s.sock", TP_CTL_DEFAULT_DIR, tun_name);
	else
		r = snprintf(c->path, sizeof(c->path), "%s", path);
	if (r < 0 || (size_t)r >= sizeof(c->path)) {
		fprintf(stderr, "tunplug: --control: path longer than %zu bytes\n",
		        sizeof(c->path) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(dir, sizeof(dir), "%s", c->path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			fprintf(stderr, "tunplug: control socket: mkdir %s: %s\n", dir,
			        strerror(-r));
			return r;
		}
	}
	if (lstat(c->path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			fprintf(stderr, "tunplug: control socket %s: exists and is not a socket\n",
			        c->path);
			return -EEXIST;
		}
		r = probe(c->path);
		if (r == 1) {
			if (dflt) {
				tp_log(TP_LOG_WARN,
				       "control socket %s: another tunplug listens there (one "
				       "with the same tun name in another network namespace?): "
				       "running without one (--control PATH names another)",
				       c->path);
				c->path[0] = '\0';
				return 0;
			}
			fprintf(stderr,
			        "tunplug: control socket %s: a running tunplug listens there "
			        "(--control PATH or --control none)\n",
			        c->path);
			return -EADDRINUSE;
		}
		/* stale: nobody listens (or not ours to ask): replace it */
		if (unlink(c->path) < 0 && errno != ENOENT) {
			r = -errno;
			fprintf(stderr, "tunplug: control socket %s: remove the stale one: %s\n",
			        c->path, strerror(-r));
			return r;
		}
	}
	r = uv_pipe_init(c->loop, &c->lsock, 0);
	if (r < 0)
		return r;
	c->lsock.data = c;
	c->lsock_up = true;
	old = umask(0177); /* the socket is born 0600 */
	r = uv_pipe_bind(&c->lsock, c->path);
	umask(old);
	if (!r)
		c->own_path = true;
	if (!r)
		r = uv_listen((uv_stream_t *)&c->lsock, 64, on_connection);
	if (r < 0) {
		fprintf(stderr, "tunplug: control socket %s: %s\n", c->path, uv_strerror(r));
		return r;
	}
	chmod(c->path, 0600);
	tp_log(TP_LOG_INFO, "control socket %s", c->path);
	return 0;
}

int tp_ctl_metrics_listen(struct tp_ctl *c, const char *addr)
{
	char host[64];
	const char *colon;
	struct sockaddr_storage ss;
	unsigned long lport;
	char *end;
	int r, port;

	if (!addr)
		return 0;
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - addr - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, addr + 1, (size_t)(rb - addr - 1));
		host[rb - addr - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || (size_t)(colon - addr) >= sizeof(host))
			return -EINVAL;
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = '\0';
	}
	errno = 0;
	lport = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || lport < 1 || lport > 65535)
		return -EINVAL;
	port = (int)lport;
	r = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)
	                      : uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
	if (!r)
		r = uv_tcp_init(c->loop, &c->msock);
	if (r < 0) {
		fprintf(stderr, "tunplug: --metrics %s: %s\n", addr, uv_strerror(r));
		return r;
	}
	c->msock.data = c;
	c->msock_up = true;
	r = uv_tcp_bind(&c->msock, (struct sockaddr *)&ss, 0);
	if (!r)
		r = uv_listen((uv_stream_t *)&c->msock, 64, on_connection);
	if (r < 0) {
		fprintf(stderr, "tunplug: --metrics %s: %s\n", addr, uv_strerror(r));
		return r;
	}
	tp_log(TP_LOG_INFO, "metrics on http://%s/metrics", addr);
	return 0;
}

int tp_ctl_worker_channel(struct tp_ctl *c, int fd)
{
	int r = uv_pipe_init(c->loop, &c->chan, 1);

	if (r < 0)
		return r;
	c->chan.data = c;
	c->chan_up = true;
	r = uv_pipe_open(&c->chan, fd);
	if (!r)
		r = uv_read_start((uv_stream_t *)&c->chan, chan_alloc, chan_read);
	return r;
}

void tp_ctl_stop(struct tp_ctl *c)
{
	struct ctl_conn *k;

	c->stopping = true;
	for (k = c->conns; k; k = k->next)
		conn_close(k);
	if (c->lsock_up && !uv_is_closing((uv_handle_t *)&c->lsock))
		uv_close((uv_handle_t *)&c->lsock, NULL);
	if (c->msock_up && !uv_is_closing((uv_handle_t *)&c->msock))
		uv_close((uv_handle_t *)&c->msock, NULL);
	if (c->chan_up && !uv_is_closing((uv_handle_t *)&c->chan))
		uv_close((uv_handle_t *)&c->chan, NULL);
}

void tp_ctl_close(struct tp_ctl *c)
{
	if (c->own_path && c->path[0] && unlink(c->path) < 0 && errno != ENOENT)
		tp_log(TP_LOG_DEBUG, "control socket %s: unlink: %s", c->path, strerror(errno));
	c->own_path = false;
}
