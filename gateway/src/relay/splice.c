/* SPDX-License-Identifier: MIT */
/* tunplug — the splice relay: a TCP flow and the handler's upstream stream,
 * both ways, with backpressure and half-close.
 *
 * Zero-copy upload: the uv_write buffers point into the stack's queue
 * (tp_tcp_flow_peek). They stay valid until tp_tcp_flow_consume, which we
 * call only in the write callback. If the stack flow goes away first, the
 * upstream handle is closed at once: uv_close stops all I/O on it
 * synchronously, so libuv never reads those buffers again.
 *
 * Download: reads are sized to what the flow may still hold toward its
 * client: the stack's free send buffer, and --flow-buffer minus what the
 * client has not acknowledged yet (plus any leftover). So a client that
 * reads slowly never makes the gateway hold more than --flow-buffer bytes
 * for it. (Upload is bounded by the stack's receive window: client bytes
 * are consumed only once the upstream took them.) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "loop/clock.h"
#include "relay/flow.h"

/* ---- upstream handle ---- */

static void on_up_closed(uv_handle_t *h)
{
	struct tp_flow *f = h->data;

	if (f->up == (uv_stream_t *)h)
		f->up = NULL;
	free(h);
	tp_flow_unref(f);
}

void tp_splice_close_upstream(struct tp_flow *f, bool reset)
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

void tp_flow_abort(struct tp_flow *f, const char *why)
{
	if (!f->why)
		f->why = why;
	if (f->tcp)
		tp_tcp_flow_close(f->tcp, true); /* `closed` fires at once */
	tp_splice_close_upstream(f, true);
}

/* Both directions are finished: close cleanly. */
static void splice_maybe_finish(struct tp_flow *f)
{
	if (!f->tcp || !f->client_eof || !f->shut_done || f->writing || !f->down_fin ||
	    f->rest_len || tp_tcp_flow_queued(f->tcp))
		return;
	tp_splice_close_upstream(f, false);
	tp_tcp_flow_close(f->tcp, false);
}

static void on_up_written(uv_write_t *req, int status);
static void on_up_shutdown(uv_shutdown_t *req, int status);
static void on_up_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Client -> upstream: write what the stack holds, one write at a time; when
 * the client has finished and everything is written, shut the upstream. */
void tp_splice_pump_up(struct tp_flow *f)
{
	struct iovec iov[TP_PEEK_IOV];
	size_t total = 0;
	int n, r;

	if (!f->tcp || !f->up || f->up_closing || f->writing || f->shut_sent)
		return;
	n = tp_tcp_flow_peek(f->tcp, iov, TP_PEEK_IOV);
	if (n > 0) {
		for (int i = 0; i < n; i++) {
			f->wbufs[i] = uv_buf_init(iov[i].iov_base, (unsigned)iov[i].iov_len);
			total += iov[i].iov_len;
		}
		f->wreq.data = f;
		r = uv_write(&f->wreq, f->up, f->wbufs, (unsigned)n, on_up_written);
		if (r < 0) {
			f->rel->st->upstream_errors++;
			tp_flow_abort(f, "upstream write failed");
			return;
		}
		f->writing = true;
		f->wlen = total;
		tp_flow_ref(f);
		return;
	}
	if (f->client_eof) {
		f->sreq.data = f;
		r = uv_shutdown(&f->sreq, f->up, on_up_shutdown);
		if (r < 0) {
			f->rel->st->upstream_errors++;
			tp_flow_abort(f, "upstream shutdown failed");
			return;
		}
		f->shut_sent = true;
		tp_flow_ref(f);
	}
}

static void on_up_written(uv_write_t *req, int status)
{
	struct tp_flow *f = req->data;

	f->writing = false;
	if (status == UV_ECANCELED || !f->tcp) {
		tp_flow_unref(f);
		return;
	}
	tp_clock_sync(f->rel->loop);
	if (status < 0) {
		tp_log(TP_LOG_DEBUG, "upstream write: %s", uv_strerror(status));
		f->rel->st->upstream_errors++;
		tp_flow_abort(f, "upstream write error");
		tp_flow_unref(f);
		return;
	}
	/* The upstream took the bytes: only now open the client's window. */
	tp_tcp_flow_consume(f->tcp, f->wlen);
	f->bytes_up += f->wlen;
	f->rel->st->bytes_up += f->wlen;
	f->wlen = 0;
	tp_flow_touch(f);
	tp_splice_pump_up(f);
	if (f->up_eof && !f->down_fin)
		tp_splice_pump_down(f);
	splice_maybe_finish(f);
	tp_flow_unref(f);
}

static void on_up_shutdown(uv_shutdown_t *req, int status)
{
	struct tp_flow *f = req->data;

	f->shut_done = true;
	if (status != UV_ECANCELED && f->tcp) {
		tp_clock_sync(f->rel->loop);
		if (status < 0) {
			f->rel->st->upstream_errors++;
			tp_flow_abort(f, "upstream shutdown error");
		} else {
			splice_maybe_finish(f);
		}
	}
	tp_flow_unref(f);
}

/* Bytes the flow may still take from its upstream now: the stack's free
 * send buffer, within --flow-buffer of what the client has not ACKed. */
static size_t down_room(const struct tp_flow *f)
{
	size_t space, held;

	if (!f->tcp || f->rest_len)
		return 0;
	space = tp_tcp_flow_send_space(f->tcp);
	held = tp_tcp_flow_unacked(f->tcp);
	if (held >= f->rel->flow_buffer)
		return 0;
	if (space > f->rel->flow_buffer - held)
		space = f->rel->flow_buffer - held;
	return space;
}

/* Upstream -> client: flush the leftover first, then read only as much as
 * the client's side can take now. */
void tp_splice_pump_down(struct tp_flow *f)
{
	long n;
	int r;

	if (!f->tcp || !f->up || f->up_closing || f->phase != PH_OPEN)
		return;
	if (f->rest_len) {
		n = tp_tcp_flow_send(f->tcp, f->rest + f->rest_off, f->rest_len, false);
		if (n < 0) {
			tp_flow_abort(f, "client send failed");
			return;
		}
		f->rest_off += (size_t)n;
		f->rest_len -= (size_t)n;
		f->bytes_down += (uint64_t)n;
		f->rel->st->bytes_down += (uint64_t)n;
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
	if (!f->reading && down_room(f) > 0) {
		r = uv_read_start(f->up, on_up_alloc, on_up_read);
		if (r < 0) {
			f->rel->st->upstream_errors++;
			tp_flow_abort(f, "upstream read failed");
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
	struct tp_relay *rel = f->rel;
	size_t cap = down_room(f);

	size_t wire = 0, unit = f->tcp ? tp_tcp_flow_send_unit(f->tcp, &wire) : 0;

	(void)suggested;
	if (cap > rel->dlbuf_len)
		cap = rel->dlbuf_len;
	/* whole segments: a full read becomes whole super-segments (or whole
	 * wire segments), not those and a short tail written on its own */
	if (unit && cap > unit)
		cap -= cap % unit;
	else if (wire && cap > wire)
		cap -= cap % wire;
	/* len 0 makes libuv report UV_ENOBUFS: we stop and wait for writable. */
	*buf = uv_buf_init((char *)rel->dlbuf, (unsigned)cap);
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
	tp_flow_ref(f);
	tp_clock_sync(f->rel->loop);
	if (nread == UV_ENOBUFS) {
		uv_read_stop(s);
		f->reading = false;
		goto out;
	}
	if (nread == UV_EOF && upstream_reset(s)) {
		f->rel->st->upstream_errors++;
		tp_flow_abort(f, "upstream reset");
		goto out;
	}
	if (nread == UV_EOF) {
		uv_read_stop(s);
		f->reading = false;
		f->up_eof = true;
		tp_splice_pump_down(f); /* FIN to the client once the leftover is out */
		goto out;
	}
	if (nread < 0) {
		tp_log(TP_LOG_DEBUG, "upstream read: %s", uv_strerror((int)nread));
		f->rel->st->upstream_errors++;
		tp_flow_abort(f, nread == UV_ECONNRESET ? "upstream reset" : "upstream error");
		goto out;
	}
	tp_flow_touch(f);
	n = tp_tcp_flow_send(f->tcp, buf->base, (size_t)nread, false);
	if (n < 0) {
		tp_flow_abort(f, "client send failed");
		goto out;
	}
	f->bytes_down += (uint64_t)n;
	f->rel->st->bytes_down += (uint64_t)n;
	if (n < nread) {
		/* Bounded by the read size (at most dlbuf_len). */
		f->rest_len = (size_t)(nread - n);
		f->rest_off = 0;
		f->rest = malloc(f->rest_len);
		if (!f->rest) {
			f->rest_len = 0;
			tp_flow_abort(f, "out of memory");
			goto out;
		}
		memcpy(f->rest, buf->base + n, f->rest_len);
	}
	if (down_room(f) == 0) {
		uv_read_stop(s);
		f->reading = false;
	}
out:
	tp_flow_unref(f);
}

/* The host owns stream from here, whatever happens. */
int tp_splice_start(struct tp_flow *f, uv_stream_t *stream)
{
	stream->data = f;
	if (f->up || f->mode != MODE_NONE) {
		/* A second splice or a splice after read_start is a handler bug;
		 * the stream still must be closed and freed. */
		tp_flow_ref(f);
		uv_close((uv_handle_t *)stream, on_up_closed);
		return -EBUSY;
	}
	f->up = stream;
	tp_flow_ref(f); /* the upstream handle's reference */
	f->mode = MODE_SPLICE;
	if (!f->tcp) {
		tp_splice_close_upstream(f, true);
		return -EPIPE;
	}
	tp_clock_sync(f->rel->loop);
	if (f->phase == PH_OPEN) {
		tp_splice_pump_up(f);
		tp_splice_pump_down(f);
	}
	return 0;
}
