/* SPDX-License-Identifier: MIT */
/* tunplug — do-it-yourself I/O: the handler reads and writes a TCP flow
 * itself (host->flow_read_start, flow_write, flow_resume, flow_shutdown). */
#include <errno.h>

#include "relay/flow.h"

static void io_maybe_finish(struct tp_flow *f)
{
	if (f->tcp && f->io_eof_delivered && f->io_shut && !tp_tcp_flow_queued(f->tcp))
		tp_tcp_flow_close(f->tcp, false);
}

/* Hand queued client bytes to the handler until it pauses or the queue is
 * empty; then, after a FIN, report end of stream once. */
void tp_io_deliver(struct tp_flow *f)
{
	struct iovec iov[TP_PEEK_IOV];
	int n;

	if (f->io_delivering || f->mode != MODE_IO || f->phase != PH_OPEN)
		return;
	tp_flow_ref(f);
	f->io_delivering = true;
	while (f->tcp && !f->io_paused) {
		size_t taken = 0;
		bool short_take = false;

		n = tp_tcp_flow_peek(f->tcp, iov, TP_PEEK_IOV);
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
			f->rel->st->bytes_up += taken;
			tp_flow_touch(f);
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
	tp_flow_unref(f);
}

/* io and ud are borrowed until flow_close. */
void tp_io_start(struct tp_flow *f, const struct tp_flow_io *io, void *ud)
{
	if (f->mode == MODE_SPLICE)
		return;
	f->mode = MODE_IO;
	f->io = io;
	f->io_ud = ud;
	if (f->client_eof)
		f->io_eof = true;
	if (f->phase == PH_OPEN)
		tp_io_deliver(f);
}

void tp_io_resume(struct tp_flow *f)
{
	if (f->mode != MODE_IO)
		return;
	f->io_paused = false;
	/* From inside on_data the outer tp_io_deliver loop simply goes on. */
	if (!f->io_delivering)
		tp_io_deliver(f);
}

/* buf is borrowed for the call (the stack copies). */
long tp_io_write(struct tp_flow *f, const void *buf, size_t len)
{
	long n;

	if (!f->tcp || f->io_shut)
		return -EPIPE;
	if (f->phase != PH_OPEN) {
		f->io_want_writable = true;
		return 0;
	}
	n = tp_tcp_flow_send(f->tcp, buf, len, false);
	if (n < 0)
		return n;
	if ((size_t)n < len)
		f->io_want_writable = true;
	f->bytes_down += (uint64_t)n;
	f->rel->st->bytes_down += (uint64_t)n;
	if (n)
		tp_flow_touch(f);
	return n;
}

void tp_io_shutdown(struct tp_flow *f)
{
	if (!f->tcp || f->io_shut)
		return;
	f->io_shut = true;
	tp_tcp_flow_shutdown(f->tcp);
	io_maybe_finish(f);
}
