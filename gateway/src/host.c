/* SPDX-License-Identifier: MIT */
/* tunplug — the host side of the handler ABI: struct tp_host over the stack
 * API, dispatch of new flows, and the splice relay.
 *
 * Lifetime of a struct tp_flow: it is reference counted. References are
 *   - "alive": from the SYN until the stack flow is gone (closed event or
 *     reject) and the handler's flow_close has run;
 *   - one per outstanding libuv request (upstream write, shutdown);
 *   - one for the upstream handle until its close callback;
 *   - a temporary one around every call out of the host (handler callbacks
 *     and tp_tcp_flow_* calls that may fire `closed` synchronously).
 * The memory goes when the count reaches zero, so a `closed` event that
 * arrives while a uv_write is outstanding never frees what the write
 * callback will touch.
 *
 * Zero-copy upload: the uv_write buffers point into the stack's queue
 * (tp_tcp_flow_peek). They stay valid until tp_tcp_flow_consume, which we
 * call only in the write callback. If the stack flow goes away first, the
 * upstream handle is closed at once: uv_close stops all I/O on it
 * synchronously, so libuv never reads those buffers again. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gateway.h"
#include "log.h"

#define PEEK_IOV 16
#define DOWN_CHUNK_MAX 65536u

enum flow_phase { PH_PENDING, PH_ACCEPTED, PH_OPEN, PH_GONE };
enum flow_mode { MODE_NONE, MODE_IO, MODE_SPLICE };

struct tp_flow {
	struct tp_flow *prev, *next; /* gw->flows */
	struct tp_gw *gw;
	struct tp_tcp_flow *tcp; /* NULL once the stack flow is gone */
	struct tp_udp_flow *udp; /* UDP flows: NULL once the stack flow is gone */
	struct tp_hinst *hi;     /* the handler instance that took the flow */
	bool udp_first;          /* the first datagram is being dispatched */
	struct tp_flow_info info;
	void *hdata; /* the handler's slot */
	unsigned refs;
	uint8_t phase, mode;
	bool handler_closed;        /* handler->flow_close has run (or is queued) */
	int close_err;              /* for a queued flow_close */
	struct tp_flow *defer_next; /* gw->deferred */
	const char *why;            /* our reason when we end the flow */
	uint64_t last_active;       /* loop ms */
	uint64_t bytes_up, bytes_down;

	/* MODE_IO */
	const struct tp_flow_io *io;
	void *io_ud;
	bool io_paused, io_delivering, io_eof, io_eof_delivered, io_want_writable, io_shut;

	/* MODE_SPLICE */
	uv_stream_t *up; /* heap handle, owned; NULL after its close cb */
	bool up_closing;
	bool writing; /* one uv_write outstanding */
	size_t wlen;
	uv_write_t wreq;
	uv_buf_t wbufs[PEEK_IOV];
	uv_shutdown_t sreq;
	bool client_eof;           /* client FIN seen */
	bool shut_sent, shut_done; /* upstream write side shut down */
	bool reading;
	bool up_eof;   /* upstream sent EOF */
	bool down_fin; /* FIN queued toward the client */
	uint8_t *rest; /* upstream bytes the client's buffer refused */
	size_t rest_off, rest_len;
};

/* ---- small helpers ---- */

static uint64_t now_ms(const struct tp_gw *gw)
{
	return uv_now(&((struct tp_gw *)gw)->loop);
}

static void flow_ref(struct tp_flow *f)
{
	f->refs++;
}

static void flow_unref(struct tp_flow *f)
{
	struct tp_gw *gw = f->gw;

	if (--f->refs)
		return;
	if (f->prev)
		f->prev->next = f->next;
	else
		gw->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	free(f->rest);
	free(f);
}

static void touch(struct tp_flow *f)
{
	f->last_active = now_ms(f->gw);
}

static void endpoint_to_sockaddr(const struct tp_endpoint *e, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (e->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, e->addr, 16);
		s6->sin6_port = htons(e->port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, e->addr, 4);
		s4->sin_port = htons(e->port);
	}
}

static const char *fmt_sockaddr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s4->sin_port));
	}
	return buf;
}

static enum tp_refuse refuse_reason(int err)
{
	switch (err) {
	case -ECONNREFUSED:
		return TP_REFUSE_CONNREFUSED;
	case -ETIMEDOUT:
		return TP_REFUSE_TIMEDOUT;
	case -EHOSTUNREACH:
		return TP_REFUSE_HOSTUNREACH;
	case -ENETUNREACH:
		return TP_REFUSE_NETUNREACH;
	case -ECONNRESET:
		return TP_REFUSE_CONNRESET;
	case -ECONNABORTED:
		return TP_REFUSE_SHUTDOWN;
	case -ENOMEM:
		return TP_REFUSE_NOMEM;
	default:
		return TP_REFUSE_OTHER;
	}
}

/* Call the handler's flow_close once, then drop the "alive" reference.
 *
 * Never from inside a host->* call the handler made (gw->api_depth > 0): the
 * handler may still use f when that call returns (direct calls flow_splice
 * right after flow_decide, and tp_tcp_flow_accept can fire `closed`). Such
 * closes are queued and run from the loop (tp_host_run_deferred). */
static void flow_finish(struct tp_flow *f, int err)
{
	struct tp_gw *gw = f->gw;

	if (f->handler_closed)
		return;
	f->handler_closed = true;
	if (gw->api_depth) {
		f->close_err = err;
		f->defer_next = gw->deferred;
		gw->deferred = f;
		if (!gw->stopping && !uv_is_active((uv_handle_t *)&gw->defer_idle))
			uv_idle_start(&gw->defer_idle, tp_host_defer_cb);
		return;
	}
	if (f->hi)
		f->hi->h->flow_close(f->hi->state, f, err);
	flow_unref(f);
}

void tp_host_run_deferred(struct tp_gw *gw)
{
	struct tp_flow *f;

	while ((f = gw->deferred) != NULL) {
		gw->deferred = f->defer_next;
		f->defer_next = NULL;
		if (f->hi)
			f->hi->h->flow_close(f->hi->state, f, f->close_err);
		flow_unref(f);
	}
}

void tp_host_defer_cb(uv_idle_t *idle)
{
	struct tp_gw *gw = idle->data;

	uv_idle_stop(idle);
	tp_host_run_deferred(gw);
}

/* ---- upstream handle ---- */

static void on_up_closed(uv_handle_t *h)
{
	struct tp_flow *f = h->data;

	if (f->up == (uv_stream_t *)h)
		f->up = NULL;
	free(h);
	flow_unref(f);
}

static void close_upstream(struct tp_flow *f, bool reset)
{
	uv_stream_t *up = f->up;

	if (!up || f->up_closing)
		return;
	f->up_closing = true;
	f->reading = false;
	/* uv_close stops reading and writing at once; pending write and
	 * shutdown requests complete later with UV_ECANCELED. */
	if (reset && up->type == UV_TCP && !f->shut_sent &&
	    uv_tcp_close_reset((uv_tcp_t *)up, on_up_closed) == 0)
		return;
	uv_close((uv_handle_t *)up, on_up_closed);
}

/* ---- the stack's events ---- */

static void ev_closed(struct tp_tcp_flow *tf, void *ud, int err)
{
	struct tp_flow *f = ud;
	struct tp_gw *gw = f->gw;

	(void)tf;
	flow_ref(f);
	f->tcp = NULL;
	f->phase = PH_GONE;
	gw->st.flows_closed++;
	if (err)
		gw->st.flows_closed_err++;
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		char s[64], d[64];

		tp_log(TP_LOG_DEBUG, "flow close: %s -> %s up=%llu down=%llu reason=%s",
		       fmt_sockaddr(&f->info.src, s, sizeof(s)),
		       fmt_sockaddr(&f->info.dst, d, sizeof(d)), (unsigned long long)f->bytes_up,
		       (unsigned long long)f->bytes_down,
		       f->why ? f->why
		       : err  ? strerror(-err)
		              : "closed");
	}
	/* The client is gone (or we closed it): the upstream goes too. */
	close_upstream(f, err != 0);
	flow_finish(f, err);
	flow_unref(f);
}

/* End the flow with a RST to the client (and the upstream). */
static void flow_abort(struct tp_flow *f, const char *why)
{
	if (!f->why)
		f->why = why;
	if (f->tcp)
		tp_tcp_flow_close(f->tcp, true); /* `closed` fires at once */
	close_upstream(f, true);
}

/* Both directions are finished: close cleanly. */
static void splice_maybe_finish(struct tp_flow *f)
{
	if (!f->tcp || !f->client_eof || !f->shut_done || f->writing || !f->down_fin ||
	    f->rest_len || tp_tcp_flow_queued(f->tcp))
		return;
	close_upstream(f, false);
	tp_tcp_flow_close(f->tcp, false);
}

static void on_up_written(uv_write_t *req, int status);
static void pump_down(struct tp_flow *f);
static void on_up_shutdown(uv_shutdown_t *req, int status);
static void on_up_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Client -> upstream: write what the stack holds, one write at a time; when
 * the client has finished and everything is written, shut the upstream. */
static void pump_up(struct tp_flow *f)
{
	struct iovec iov[PEEK_IOV];
	size_t total = 0;
	int n, r;

	if (!f->tcp || !f->up || f->up_closing || f->writing || f->shut_sent)
		return;
	n = tp_tcp_flow_peek(f->tcp, iov, PEEK_IOV);
	if (n > 0) {
		for (int i = 0; i < n; i++) {
			f->wbufs[i] = uv_buf_init(iov[i].iov_base, (unsigned)iov[i].iov_len);
			total += iov[i].iov_len;
		}
		f->wreq.data = f;
		r = uv_write(&f->wreq, f->up, f->wbufs, (unsigned)n, on_up_written);
		if (r < 0) {
			f->gw->st.upstream_errors++;
			flow_abort(f, "upstream write failed");
			return;
		}
		f->writing = true;
		f->wlen = total;
		flow_ref(f);
		return;
	}
	if (f->client_eof) {
		f->sreq.data = f;
		r = uv_shutdown(&f->sreq, f->up, on_up_shutdown);
		if (r < 0) {
			f->gw->st.upstream_errors++;
			flow_abort(f, "upstream shutdown failed");
			return;
		}
		f->shut_sent = true;
		flow_ref(f);
	}
}

static void on_up_written(uv_write_t *req, int status)
{
	struct tp_flow *f = req->data;

	f->writing = false;
	if (status == UV_ECANCELED || !f->tcp) {
		flow_unref(f);
		return;
	}
	tp_gw_clock(f->gw);
	if (status < 0) {
		tp_log(TP_LOG_DEBUG, "upstream write: %s", uv_strerror(status));
		f->gw->st.upstream_errors++;
		flow_abort(f, "upstream write error");
		flow_unref(f);
		return;
	}
	/* The upstream took the bytes: only now open the client's window. */
	tp_tcp_flow_consume(f->tcp, f->wlen);
	f->bytes_up += f->wlen;
	f->gw->st.bytes_up += f->wlen;
	f->wlen = 0;
	touch(f);
	pump_up(f);
	if (f->up_eof && !f->down_fin)
		pump_down(f);
	splice_maybe_finish(f);
	flow_unref(f);
}

static void on_up_shutdown(uv_shutdown_t *req, int status)
{
	struct tp_flow *f = req->data;

	f->shut_done = true;
	if (status != UV_ECANCELED && f->tcp) {
		tp_gw_clock(f->gw);
		if (status < 0) {
			f->gw->st.upstream_errors++;
			flow_abort(f, "upstream shutdown error");
		} else {
			splice_maybe_finish(f);
		}
	}
	flow_unref(f);
}

/* Upstream -> client: flush the leftover first, then read only as much as
 * the client's send buffer can take now. */
static void pump_down(struct tp_flow *f)
{
	long n;
	int r;

	if (!f->tcp || !f->up || f->up_closing || f->phase != PH_OPEN)
		return;
	if (f->rest_len) {
		n = tp_tcp_flow_send(f->tcp, f->rest + f->rest_off, f->rest_len, false);
		if (n < 0) {
			flow_abort(f, "client send failed");
			return;
		}
		f->rest_off += (size_t)n;
		f->rest_len -= (size_t)n;
		f->bytes_down += (uint64_t)n;
		f->gw->st.bytes_down += (uint64_t)n;
		if (f->rest_len)
			return; /* wait for writable */
		free(f->rest);
		f->rest = NULL;
		f->rest_off = 0;
	}
	if (f->up_eof) {
		/* Both FINs exchanged makes lwIP end the flow and the stack drop
		 * its queue: after the client's FIN, send ours only once its
		 * data is all upstream. */
		if (f->client_eof && (f->writing || tp_tcp_flow_queued(f->tcp)))
			return;
		if (!f->down_fin) {
			f->down_fin = true;
			tp_tcp_flow_shutdown(f->tcp);
			splice_maybe_finish(f);
		}
		return;
	}
	if (!f->reading && tp_tcp_flow_send_space(f->tcp) > 0) {
		r = uv_read_start(f->up, on_up_alloc, on_up_read);
		if (r < 0) {
			f->gw->st.upstream_errors++;
			flow_abort(f, "upstream read failed");
			return;
		}
		f->reading = true;
	}
}

/* The read buffer is shared by all flows: libuv calls alloc and read back to
 * back for one stream, and on_up_read hands the bytes to the stack (which
 * copies them) before returning, so no two reads ever overlap in it. */
static void on_up_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tp_flow *f = h->data;
	struct tp_gw *gw = f->gw;
	size_t cap = 0;

	(void)suggested;
	if (f->tcp && !f->rest_len) {
		cap = tp_tcp_flow_send_space(f->tcp);
		if (cap > gw->dlbuf_len)
			cap = gw->dlbuf_len;
	}
	/* len 0 makes libuv report UV_ENOBUFS: we stop and wait for writable. */
	*buf = uv_buf_init((char *)gw->dlbuf, (unsigned)cap);
}

/* Linux reports a RST that arrives behind queued data as a plain EOF once
 * the data is read; the pending socket error still tells them apart. */
static bool upstream_reset(uv_stream_t *s)
{
	uv_os_fd_t fd;
	int err = 0;
	socklen_t len = sizeof(err);

	if (uv_fileno((uv_handle_t *)s, &fd) != 0)
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return false;
	return err != 0;
}

static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tp_flow *f = s->data;
	long n;

	if (nread == 0 || !f->tcp)
		return;
	flow_ref(f);
	tp_gw_clock(f->gw);
	if (nread == UV_ENOBUFS) {
		uv_read_stop(s);
		f->reading = false;
		goto out;
	}
	if (nread == UV_EOF && upstream_reset(s)) {
		f->gw->st.upstream_errors++;
		flow_abort(f, "upstream reset");
		goto out;
	}
	if (nread == UV_EOF) {
		uv_read_stop(s);
		f->reading = false;
		f->up_eof = true;
		pump_down(f); /* FIN to the client once the leftover is out */
		goto out;
	}
	if (nread < 0) {
		tp_log(TP_LOG_DEBUG, "upstream read: %s", uv_strerror((int)nread));
		f->gw->st.upstream_errors++;
		flow_abort(f, nread == UV_ECONNRESET ? "upstream reset" : "upstream error");
		goto out;
	}
	touch(f);
	n = tp_tcp_flow_send(f->tcp, buf->base, (size_t)nread, false);
	if (n < 0) {
		flow_abort(f, "client send failed");
		goto out;
	}
	f->bytes_down += (uint64_t)n;
	f->gw->st.bytes_down += (uint64_t)n;
	if (n < nread) {
		/* Bounded by the read size (at most dlbuf_len). */
		f->rest_len = (size_t)(nread - n);
		f->rest_off = 0;
		f->rest = malloc(f->rest_len);
		if (!f->rest) {
			f->rest_len = 0;
			flow_abort(f, "out of memory");
			goto out;
		}
		memcpy(f->rest, buf->base + n, f->rest_len);
	}
	if (f->rest_len || tp_tcp_flow_send_space(f->tcp) == 0) {
		uv_read_stop(s);
		f->reading = false;
	}
out:
	flow_unref(f);
}

/* ---- do-it-yourself I/O (MODE_IO) ---- */

static void io_maybe_finish(struct tp_flow *f)
{
	if (f->tcp && f->io_eof_delivered && f->io_shut && !tp_tcp_flow_queued(f->tcp))
		tp_tcp_flow_close(f->tcp, false);
}

/* Hand queued client bytes to the handler until it pauses or the queue is
 * empty; then, after a FIN, report end of stream once. */
static void io_deliver(struct tp_flow *f)
{
	struct iovec iov[PEEK_IOV];
	int n;

	if (f->io_delivering || f->mode != MODE_IO || f->phase != PH_OPEN)
		return;
	flow_ref(f);
	f->io_delivering = true;
	while (f->tcp && !f->io_paused) {
		size_t taken = 0;
		bool short_take = false;

		n = tp_tcp_flow_peek(f->tcp, iov, PEEK_IOV);
		if (n <= 0)
			break;
		/* Peeked pointers stay valid until consume: consume once per batch. */
		for (int i = 0; i < n && f->tcp; i++) {
			size_t c = f->io->on_data(f, f->io_ud, iov[i].iov_base, iov[i].iov_len);

			if (c > iov[i].iov_len)
				c = iov[i].iov_len;
			taken += c;
			if (c < iov[i].iov_len) {
				short_take = true;
				break;
			}
		}
		if (!f->tcp)
			break;
		if (taken) {
			tp_tcp_flow_consume(f->tcp, taken);
			f->bytes_up += taken;
			f->gw->st.bytes_up += taken;
			touch(f);
		}
		if (short_take)
			f->io_paused = true;
	}
	if (f->tcp && !f->io_paused && f->io_eof && !f->io_eof_delivered &&
	    !tp_tcp_flow_queued(f->tcp)) {
		f->io_eof_delivered = true;
		f->io->on_data(f, f->io_ud, NULL, 0);
		io_maybe_finish(f);
	}
	f->io_delivering = false;
	flow_unref(f);
}

/* ---- remaining stack events ---- */

static void ev_established(struct tp_tcp_flow *tf, void *ud)
{
	struct tp_flow *f = ud;

	(void)tf;
	flow_ref(f);
	f->phase = PH_OPEN;
	touch(f);
	if (f->mode == MODE_SPLICE) {
		pump_up(f);
		pump_down(f);
	} else if (f->mode == MODE_IO) {
		io_deliver(f);
		if (f->tcp && f->io_want_writable) {
			f->io_want_writable = false;
			f->io->on_writable(f, f->io_ud);
		}
	}
	flow_unref(f);
}

static void ev_readable(struct tp_tcp_flow *tf, void *ud)
{
	struct tp_flow *f = ud;

	(void)tf;
	flow_ref(f);
	if (f->phase == PH_ACCEPTED)
		f->phase = PH_OPEN; /* data implies the handshake is done */
	touch(f);
	if (f->mode == MODE_SPLICE)
		pump_up(f);
	else if (f->mode == MODE_IO)
		io_deliver(f);
	flow_unref(f);
}

static void ev_eof(struct tp_tcp_flow *tf, void *ud)
{
	struct tp_flow *f = ud;

	(void)tf;
	flow_ref(f);
	if (f->phase == PH_ACCEPTED)
		f->phase = PH_OPEN;
	touch(f);
	if (f->mode == MODE_SPLICE) {
		f->client_eof = true;
		pump_up(f);
	} else if (f->mode == MODE_IO) {
		f->io_eof = true;
		io_deliver(f);
	} else {
		f->client_eof = true;
	}
	flow_unref(f);
}

static void ev_writable(struct tp_tcp_flow *tf, void *ud)
{
	struct tp_flow *f = ud;

	(void)tf;
	flow_ref(f);
	if (f->phase == PH_ACCEPTED)
		f->phase = PH_OPEN;
	if (f->mode == MODE_SPLICE) {
		pump_down(f);
	} else if (f->mode == MODE_IO && f->io_want_writable) {
		f->io_want_writable = false;
		f->io->on_writable(f, f->io_ud);
	}
	flow_unref(f);
}

static const struct tp_tcp_events flow_events = {
        .established = ev_established,
        .readable = ev_readable,
        .eof = ev_eof,
        .writable = ev_writable,
        .closed = ev_closed,
};

/* ---- host services (struct tp_host) ---- */

static void flow_reject(struct tp_flow *f, int err, enum tp_refuse why)
{
	struct tp_gw *gw = f->gw;

	if (!f->tcp || f->phase != PH_PENDING)
		return;
	gw->st.flows_refused[why]++;
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		char s[64], d[64];

		tp_log(TP_LOG_DEBUG, "flow refused: %s -> %s: %s",
		       fmt_sockaddr(&f->info.src, s, sizeof(s)),
		       fmt_sockaddr(&f->info.dst, d, sizeof(d)),
		       why == TP_REFUSE_DECLINED ? "declined" : strerror(-err));
	}
	/* Frees the stack flow at once; `closed` is not called for it. */
	tp_tcp_flow_reject(f->tcp, err);
	f->tcp = NULL;
	f->phase = PH_GONE;
	flow_finish(f, err);
}

static void flow_accept(struct tp_flow *f)
{
	if (!f->tcp || f->phase != PH_PENDING)
		return;
	f->gw->st.flows_accepted++;
	f->phase = PH_ACCEPTED;
	touch(f);
	tp_tcp_flow_accept(f->tcp);
}

static const struct tp_flow_info *host_flow_info(const struct tp_flow *f)
{
	return &f->info;
}

static void host_flow_decide(struct tp_flow *f, int err)
{
	struct tp_gw *gw = f->gw;

	gw->api_depth++;
	flow_ref(f);
	tp_gw_clock(f->gw);
	if (err == 0) {
		flow_accept(f);
	} else {
		if (err > 0)
			err = -ECONNREFUSED;
		flow_reject(f, err, refuse_reason(err));
	}
	flow_unref(f);
	gw->api_depth--;
}

static int host_flow_splice(struct tp_flow *f, uv_stream_t *stream)
{
	struct tp_gw *gw = f->gw;
	int ret = 0;

	gw->api_depth++;
	flow_ref(f);
	/* We own the stream from here, whatever happens. */
	stream->data = f;
	if (f->up || f->mode != MODE_NONE) {
		/* A second splice or a splice after read_start is a handler bug;
		 * the stream still must be closed and freed. */
		flow_ref(f);
		uv_close((uv_handle_t *)stream, on_up_closed);
		ret = -EBUSY;
		goto out;
	}
	f->up = stream;
	flow_ref(f); /* the upstream handle's reference */
	f->mode = MODE_SPLICE;
	if (!f->tcp) {
		close_upstream(f, true);
		ret = -EPIPE;
		goto out;
	}
	tp_gw_clock(f->gw);
	if (f->phase == PH_OPEN) {
		pump_up(f);
		pump_down(f);
	}
out:
	flow_unref(f);
	gw->api_depth--;
	return ret;
}

static void host_flow_read_start(struct tp_flow *f, const struct tp_flow_io *io, void *ud)
{
	struct tp_gw *gw = f->gw;

	if (f->mode == MODE_SPLICE)
		return;
	f->mode = MODE_IO;
	f->io = io;
	f->io_ud = ud;
	if (f->client_eof)
		f->io_eof = true;
	gw->api_depth++;
	if (f->phase == PH_OPEN)
		io_deliver(f);
	gw->api_depth--;
}

static void host_flow_resume(struct tp_flow *f)
{
	if (f->mode != MODE_IO)
		return;
	f->io_paused = false;
	/* From inside on_data the outer io_deliver loop simply goes on. */
	if (!f->io_delivering) {
		struct tp_gw *gw = f->gw;

		gw->api_depth++;
		io_deliver(f);
		gw->api_depth--;
	}
}

static long host_flow_write(struct tp_flow *f, const void *buf, size_t len)
{
	struct tp_gw *gw = f->gw;
	long n;

	if (!f->tcp || f->io_shut)
		return -EPIPE;
	if (f->phase != PH_OPEN) {
		f->io_want_writable = true;
		return 0;
	}
	gw->api_depth++;
	n = tp_tcp_flow_send(f->tcp, buf, len, false);
	gw->api_depth--;
	if (n < 0)
		return n;
	if ((size_t)n < len)
		f->io_want_writable = true;
	f->bytes_down += (uint64_t)n;
	f->gw->st.bytes_down += (uint64_t)n;
	if (n)
		touch(f);
	return n;
}

static void host_flow_shutdown(struct tp_flow *f)
{
	struct tp_gw *gw = f->gw;

	if (!f->tcp || f->io_shut)
		return;
	gw->api_depth++;
	flow_ref(f);
	f->io_shut = true;
	tp_tcp_flow_shutdown(f->tcp);
	io_maybe_finish(f);
	flow_unref(f);
	gw->api_depth--;
}

static void host_flow_close(struct tp_flow *f, bool abort)
{
	struct tp_gw *gw = f->gw;

	gw->api_depth++;
	flow_ref(f);
	tp_gw_clock(f->gw);
	if (f->phase == PH_PENDING) {
		flow_reject(f, abort ? -ECONNRESET : -ECONNREFUSED,
		            abort ? TP_REFUSE_CONNRESET : TP_REFUSE_CONNREFUSED);
	} else if (f->tcp) {
		if (!f->why)
			f->why = abort ? "handler abort" : "handler close";
		tp_tcp_flow_close(f->tcp, abort);
		if (abort)
			close_upstream(f, true);
	} else if (f->udp) {
		tp_udp_flow_close(f->udp); /* `closed` fires at once (flow_close queued) */
	}
	flow_unref(f);
	gw->api_depth--;
}

/* ---- dispatch ---- */

/* Offer the new flow f to the handler of each matching rule in order, then
 * to the default handler; the first answer other than TP_DECLINED wins and
 * that instance owns the flow (f->hi). For UDP, buf/len is the first
 * datagram. Returns the winning answer, or TP_DECLINED. */
static int dispatch(struct tp_flow *f, const void *buf, size_t len)
{
	struct tp_gw *gw = f->gw;
	const struct sockaddr *src = (const struct sockaddr *)&f->info.src;
	const struct sockaddr *dst = (const struct sockaddr *)&f->info.dst;

	for (size_t i = 0; i <= gw->n_rules; i++) {
		struct tp_hinst *hi;
		int r;

		if (i < gw->n_rules) {
			if (!tp_rule_match(&gw->rules[i], f->info.proto, src, dst))
				continue;
			hi = &gw->hinst[gw->rules[i].inst];
		} else {
			hi = &gw->hinst[0];
		}
		f->hi = hi;
		if (f->info.proto == IPPROTO_TCP)
			r = hi->h->tcp_accept(hi->state, f);
		else if (hi->h->udp_datagram)
			r = hi->h->udp_datagram(hi->state, f, buf, len);
		else
			r = TP_DECLINED;
		if (r != TP_DECLINED)
			return r;
		f->hi = NULL;
	}
	return TP_DECLINED;
}

/* ---- UDP ---- */

static int host_udp_send(struct tp_flow *f, const void *buf, size_t len)
{
	int r;

	if (!f->udp)
		return -EPIPE;
	tp_gw_clock(f->gw);
	r = tp_udp_flow_send(f->udp, buf, len);
	if (!r) {
		f->bytes_down += len;
		f->gw->st.bytes_down += len;
		touch(f);
	}
	return r;
}

static int host_udp_send_from(struct tp_flow *f, const struct sockaddr *from, const void *buf,
                              size_t len)
{
	struct tp_endpoint e = {0};
	int r;

	if (!f->udp)
		return -EPIPE;
	if (from->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)from;
		e.family = AF_INET;
		memcpy(e.addr, &s4->sin_addr, 4);
		e.port = ntohs(s4->sin_port);
	} else if (from->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)from;
		e.family = AF_INET6;
		memcpy(e.addr, &s6->sin6_addr, 16);
		e.port = ntohs(s6->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	tp_gw_clock(f->gw);
	r = tp_udp_flow_send_from(f->udp, &e, buf, len);
	if (!r) {
		f->bytes_down += len;
		f->gw->st.bytes_down += len;
		touch(f);
	}
	return r;
}

static void host_flow_unreachable(struct tp_flow *f, int err)
{
	if (f->udp) {
		tp_gw_clock(f->gw);
		tp_udp_flow_unreachable(f->udp, err);
	}
}

static void ev_udp_datagram(struct tp_udp_flow *uf, void *ud, const void *buf, size_t len)
{
	struct tp_flow *f = ud;
	struct tp_gw *gw = f->gw;
	bool first = f->udp_first;
	int r;

	(void)uf;
	f->udp_first = false;
	if (f->handler_closed)
		return;
	touch(f);
	f->bytes_up += len;
	gw->st.bytes_up += len;
	flow_ref(f);
	if (first)
		r = dispatch(f, buf, len);
	else
		r = f->hi->h->udp_datagram(f->hi->state, f, buf, len);
	if (f->udp && (r < 0 || (first && r == TP_DECLINED))) {
		int err = r < 0 ? r : -ECONNREFUSED;
		if (first)
			gw->st.flows_refused[r == TP_DECLINED ? TP_REFUSE_DECLINED
			                                      : refuse_reason(err)]++;
		f->why = "refused by the handler";
		tp_udp_flow_unreachable(f->udp, err);
		tp_udp_flow_close(f->udp);
	} else if (first && f->udp) {
		gw->st.flows_accepted++;
	}
	flow_unref(f);
}

static void ev_udp_closed(struct tp_udp_flow *uf, void *ud, int err)
{
	struct tp_flow *f = ud;
	struct tp_gw *gw = f->gw;

	(void)uf;
	f->udp = NULL;
	f->phase = PH_GONE;
	gw->st.flows_closed++;
	if (err && err != -ETIMEDOUT && err != -ENOSPC)
		gw->st.flows_closed_err++;
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		char s[64], d[64];

		tp_log(TP_LOG_DEBUG, "udp flow closed: %s -> %s (%s), %llu bytes up, %llu down",
		       fmt_sockaddr(&f->info.src, s, sizeof(s)),
		       fmt_sockaddr(&f->info.dst, d, sizeof(d)),
		       err == -ETIMEDOUT ? "idle"
		       : err             ? strerror(-err)
		       : f->why          ? f->why
		                         : "closed",
		       (unsigned long long)f->bytes_up, (unsigned long long)f->bytes_down);
	}
	flow_finish(f, err);
}

static const struct tp_udp_events udp_events = {
        .datagram = ev_udp_datagram,
        .closed = ev_udp_closed,
};

int tp_host_udp_new(void *ctx, struct tp_udp_flow *uf)
{
	struct tp_gw *gw = ctx;
	struct tp_flow *f;

	gw->st.flows_seen++;
	f = calloc(1, sizeof(*f));
	if (!f) {
		gw->st.flows_refused[TP_REFUSE_NOMEM]++;
		return -ENOMEM;
	}
	f->gw = gw;
	f->udp = uf;
	f->udp_first = true;
	f->refs = 1; /* alive */
	f->phase = PH_OPEN;
	f->info.proto = IPPROTO_UDP;
	endpoint_to_sockaddr(tp_udp_flow_src(uf), &f->info.src);
	endpoint_to_sockaddr(tp_udp_flow_dst(uf), &f->info.dst);
	f->next = gw->flows;
	if (gw->flows)
		gw->flows->prev = f;
	gw->flows = f;
	touch(f);
	tp_udp_flow_set_events(uf, &udp_events, f);
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		char s[64], d[64];

		tp_log(TP_LOG_DEBUG, "udp flow open: %s -> %s",
		       fmt_sockaddr(&f->info.src, s, sizeof(s)),
		       fmt_sockaddr(&f->info.dst, d, sizeof(d)));
	}
	return 0;
}

/* ABI 2.0 shim: each instance's struct tp_host (host_data = its struct
 * tp_hinst) is a copy of gw->host; these find the instance through it. */
static struct tp_hinst *host_inst(const struct tp_host *host)
{
	return host->host_data;
}

static void host_log(const struct tp_host *host, int level, const char *fmt, ...)
{
	va_list ap;

	(void)host;
	va_start(ap, fmt);
	tp_logv(level, fmt, ap);
	va_end(ap);
}

static int host_protect(const struct tp_host *host, int fd, int family)
{
	struct tp_gw *gw = host_inst(host)->gw;
	const struct tp_options *o = gw->opt;
	const char *what = NULL;
	int ret = 0;

	gw->st.protect_calls++;
	if (o->fwmark_set) {
		int mark = (int)o->fwmark;

		if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
			ret = -errno;
			what = "SO_MARK";
			goto out;
		}
	}
	if (o->bind_interface) {
		if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o->bind_interface,
		               (socklen_t)strlen(o->bind_interface)) < 0) {
			ret = -errno;
			what = "SO_BINDTODEVICE";
			goto out;
		}
	}
	if (gw->embed && gw->embed->protect) {
		ret = gw->embed->protect(fd, family, gw->embed->protect_ud);
		if (ret > 0)
			ret = -ret;
		if (ret)
			what = "the embedding program's protect()";
	}
out:
	if (ret) {
		/* Logged once: it fails the same way for every flow. */
		if (gw->st.protect_errors++ == 0)
			tp_log(TP_LOG_ERROR, "protect: %s: %s", what, strerror(-ret));
	}
	return ret;
}

static void *host_flow_get_data(const struct tp_flow *f)
{
	return f->hdata;
}

static void host_flow_set_data(struct tp_flow *f, void *data)
{
	f->hdata = data;
}

/* key is borrowed; the value lives as long as the instance's args. */
static const char *host_opt_get(const struct tp_host *host, const char *key)
{
	const struct tp_handler_args *args = &host_inst(host)->args;

	for (size_t i = 0; args && i < args->n_opts; i++)
		if (args->opts[i].key && !strcmp(args->opts[i].key, key))
			return args->opts[i].value;
	return NULL;
}

/* name is copied. The table is still the gateway's, shared by every
 * instance (the summary prints one list). */
static void host_counter_add(const struct tp_host *host, const char *name, uint64_t delta)
{
	struct tp_gw *gw = host_inst(host)->gw;
	size_t i;

	for (i = 0; i < gw->n_hcounters; i++)
		if (!strcmp(gw->hcounters[i].name, name))
			break;
	if (i == gw->n_hcounters) {
		if (i == TP_MAX_HCOUNTERS - 1)
			name = "other";
		else
			gw->n_hcounters++;
		snprintf(gw->hcounters[i].name, sizeof(gw->hcounters[i].name), "%s", name);
	}
	gw->hcounters[i].value += delta;
}

void tp_host_init(struct tp_gw *gw)
{
	struct tp_host *h = &gw->host;

	memset(h, 0, sizeof(*h));
	h->abi_version = TP_HANDLER_ABI;
	h->struct_size = sizeof(*h);
	h->loop = &gw->loop;
	h->log = host_log;
	h->flow_info = host_flow_info;
	h->flow_decide = host_flow_decide;
	h->flow_splice = host_flow_splice;
	h->flow_read_start = host_flow_read_start;
	h->flow_resume = host_flow_resume;
	h->flow_write = host_flow_write;
	h->flow_shutdown = host_flow_shutdown;
	h->flow_close = host_flow_close;
	h->protect = host_protect;
	h->flow_get_data = host_flow_get_data;
	h->flow_set_data = host_flow_set_data;
	h->connect_timeout_ms = (uint64_t)gw->opt->connect_timeout_s * 1000u;
	h->udp_send = host_udp_send;
	h->udp_send_from = host_udp_send_from;
	h->flow_unreachable = host_flow_unreachable;
	h->opt_get = host_opt_get;
	h->counter_add = host_counter_add;
}

/* hi's own host: a copy of gw->host whose host_data is hi. */
void tp_host_inst_init(struct tp_gw *gw, struct tp_hinst *hi)
{
	hi->gw = gw;
	hi->host = gw->host;
	hi->host.host_data = hi;
}

/* ---- dispatch ---- */

void tp_host_tcp_syn(void *ctx, struct tp_tcp_flow *tf)
{
	struct tp_gw *gw = ctx;
	struct tp_flow *f;
	int r;

	gw->st.flows_seen++;
	f = calloc(1, sizeof(*f));
	if (!f) {
		gw->st.flows_refused[TP_REFUSE_NOMEM]++;
		tp_tcp_flow_reject(tf, -ECONNRESET);
		return;
	}
	f->gw = gw;
	f->tcp = tf;
	f->refs = 1; /* alive */
	f->phase = PH_PENDING;
	f->info.proto = IPPROTO_TCP;
	endpoint_to_sockaddr(tp_tcp_flow_src(tf), &f->info.src);
	endpoint_to_sockaddr(tp_tcp_flow_dst(tf), &f->info.dst);
	f->next = gw->flows;
	if (gw->flows)
		gw->flows->prev = f;
	gw->flows = f;
	touch(f);
	tp_tcp_flow_set_events(tf, &flow_events, f);
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		char s[64], d[64];

		tp_log(TP_LOG_DEBUG, "flow open: %s -> %s",
		       fmt_sockaddr(&f->info.src, s, sizeof(s)),
		       fmt_sockaddr(&f->info.dst, d, sizeof(d)));
	}

	flow_ref(f);
	r = dispatch(f, NULL, 0);
	if (r == TP_OK)
		flow_accept(f); /* no-op if the handler already decided */
	else if (r == TP_DECLINED)
		flow_reject(f, -ECONNREFUSED, TP_REFUSE_DECLINED);
	else if (r != TP_PENDING)
		flow_reject(f, r < 0 ? r : -ECONNREFUSED, refuse_reason(r < 0 ? r : -ECONNREFUSED));
	flow_unref(f);
}

void tp_host_shutdown_flows(struct tp_gw *gw)
{
	struct tp_flow *f, *next;

	/* Pending flows first: the stack does not report them as closed. */
	for (f = gw->flows; f; f = next) {
		flow_ref(f);
		if (f->phase == PH_PENDING && f->tcp)
			flow_reject(f, -ECONNRESET, TP_REFUSE_SHUTDOWN);
		next = f->next;
		flow_unref(f);
	}
	if (gw->stack_up) {
		tp_stack_shutdown(); /* `closed` (-ECONNABORTED) for every other flow */
		gw->stack_up = false;
	}
	/* Anything the stack did not report (should be none) is finished here. */
	for (f = gw->flows; f; f = next) {
		flow_ref(f);
		if (f->tcp) {
			f->tcp = NULL;
			f->phase = PH_GONE;
			close_upstream(f, true);
			flow_finish(f, -ECONNABORTED);
		}
		next = f->next;
		flow_unref(f);
	}
	tp_host_run_deferred(gw);
}

void tp_host_sweep_idle(struct tp_gw *gw, uint64_t now, uint64_t idle_ms)
{
	struct tp_flow *f, *next;

	for (f = gw->flows; f; f = next) {
		flow_ref(f);
		if (f->tcp && f->phase == PH_OPEN && now - f->last_active >= idle_ms) {
			gw->st.flows_idle++;
			flow_abort(f, "idle timeout");
		}
		next = f->next;
		flow_unref(f);
	}
}

size_t tp_host_flow_count(const struct tp_gw *gw)
{
	size_t n = 0;

	for (const struct tp_flow *f = gw->flows; f; f = f->next)
		n++;
	return n;
}
