/* SPDX-License-Identifier: MIT */
/* tunplug — loop glue: the tun fd and lwIP's timers on libuv (see tunio.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "loop/clock.h"
#include "loop/tunio.h"
#include "tunplug/stack.h"

/* reads per readable event: then the loop goes on (upstream sockets, the
 * batches' flushes) and comes back if more is queued; the summary counts
 * events that ended here rather than at EAGAIN */
#define TUN_BATCH TP_TUN_READ_BOUND
/* one read: vnet header + a packet (or GSO super-packet) of up to 64 KiB;
 * a shorter buffer would silently truncate a super-packet */
#define TUN_BUF (TP_VNET_HDR_LEN + 65535 + 64)
/* segments of one super-packet: 64 KiB of payload in MSS-sized pieces, each
 * with its own copy of the headers; Linux's MSS floor is 48 bytes
 * (tcp_min_snd_mss), i.e. at most 1366 segments of <= 48 + 120 bytes */
#define SEG_MAX 1400
#define SEG_BUF (SEG_MAX * 168)
#define GRO_BATCH 1024         /* output packets held per loop iteration */
#define STACK_TIMER_CAP_MS 250 /* never sleep longer than this on lwIP timers */

const struct tp_tun *tp_tunio_tun(const struct tp_tunio *t)
{
	return &t->tun;
}

unsigned tp_tunio_mtu(const struct tp_tunio *t)
{
	return t->mtu;
}

const char *tp_tunio_offload_desc(const struct tp_tunio *t)
{
	return t->offload_desc;
}

unsigned tp_tunio_gro_kinds(const struct tp_tunio *t)
{
	return t->gro_kinds;
}

bool tp_tunio_tcp_csum_partial(const struct tp_tunio *t)
{
	return t->gro != NULL;
}

bool tp_tunio_tcp_tso(const struct tp_tunio *t)
{
	return t->gro != NULL && (t->gro_kinds & TP_GRO_TSO);
}

/* ---- packets out ---- */

/* One write to the tun: a bare packet (no vnet) or [vnet header | packet]
 * as iovecs. nsegs = packets in it (for the drop count). Returns 0 or -errno. */
static int tun_writev(struct tp_tunio *t, const struct iovec *iov, int iovcnt, unsigned nsegs)
{
	ssize_t n;

	do
		n = iovcnt == 1 ? write(t->tun.fd, iov[0].iov_base, iov[0].iov_len)
		                : writev(t->tun.fd, iov, iovcnt);
	while (n < 0 && errno == EINTR);
	if (n >= 0) {
		t->st->tun_writes++;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
		t->st->out_drops_full += nsegs;
		return -errno;
	}
	if (errno == EINVAL && nsegs > 1) {
		/* a coalesced write the kernel refused: tp_gro_flush re-sends
		 * the members one by one and reports the kind as refused */
		t->st->gro_einval++;
		return -EINVAL;
	}
	if (t->st->out_errors++ == 0)
		tp_log(TP_LOG_WARN, "tun write: %s", strerror(errno));
	return -errno;
}

/* tp_gro_flush's write callback. */
static int gro_write(void *ctx, const struct iovec *iov, int iovcnt, unsigned nsegs, unsigned kind)
{
	struct tp_tunio *t = ctx;
	int r;

	r = tun_writev(t, iov, iovcnt, nsegs ? nsegs : 1);
	if (r == 0 && kind == TP_GRO_TSO) {
		t->st->tso_out++;
		t->st->tso_out_segs += nsegs;
	} else if (r == 0 && nsegs > 1) {
		t->st->gro_out++;
		t->st->gro_out_segs += nsegs;
	}
	return r;
}

/* The kernel said EINVAL to a TSO write: super-segments are split here from
 * now on, and new flows send MSS-sized segments. */
static void tso_refused(struct tp_tunio *t)
{
	t->gro_kinds &= ~TP_GRO_TSO;
	t->st->tso_einval++;
	tp_stack_set_tcp_gso(false);
	tp_log(TP_LOG_WARN, "offload: the kernel refused a TCP super-segment write (EINVAL): "
	                    "super-segments split before writing, new flows send MSS-sized "
	                    "segments");
}

static int gro_enqueue(void *ctx, const void *buf, size_t len);

void tp_tunio_flush(struct tp_tunio *t)
{
	unsigned refused = 0;

	if (!t->gro)
		return;
	if (t->ack.len) {
		/* the held ACK is the newest packet: last into the batch */
		tp_ack_release(&t->ack, gro_enqueue, t);
		t->st->acks_thinned = t->ack.thinned;
	}
	if (tp_gro_count(t->gro) == 0)
		return;
	tp_gro_flush(t->gro, t->gro_kinds, gro_write, t, &refused);
	refused &= t->gro_kinds;
	if (refused & TP_GRO_TSO) {
		tso_refused(t);
		refused &= ~TP_GRO_TSO;
	}
	if (refused) {
		t->gro_kinds &= ~refused;
		tp_log(TP_LOG_WARN,
		       "offload: the kernel refused a coalesced %s write (EINVAL): %s coalescing "
		       "off for this run, packets re-sent one by one",
		       refused & TP_GRO_TCP ? "TCP" : "UDP", refused & TP_GRO_TCP ? "TCP" : "UDP");
		if (refused == (TP_GRO_TCP | TP_GRO_UDP))
			tp_log(TP_LOG_WARN, "offload: UDP coalescing off too");
	}
}

static void on_flush_check(uv_check_t *c)
{
	tp_tunio_flush(c->data);
}

/* Into this iteration's batch (flushed first when it is full). */
static int gro_enqueue(void *ctx, const void *buf, size_t len)
{
	struct tp_tunio *t = ctx;
	int r = tp_gro_add(t->gro, buf, len);

	if (r == -ENOSPC) {
		tp_tunio_flush(t);
		r = tp_gro_add(t->gro, buf, len);
	}
	return r;
}

/* A TCP super-segment from the stack (lwIP patch 0012): written at once
 * with a TSO header (or split: tp_tso_write), straight from the stack's
 * buffer, not copied into the batch; what the batch holds is written first,
 * so the order within each flow stays. */
int tp_tunio_output_gso(void *ctx, const void *buf, size_t len, unsigned gso_size)
{
	struct tp_tunio *t = ctx;
	unsigned refused = 0;
	int r, writes = 0;

	if (gso_size == 0 || gso_size > 0xffff)
		return -EINVAL;
	if (!t->tun.vnet)
		return -EINVAL; /* the stack only sends them to a vnet tun */
	if (t->gro)
		tp_tunio_flush(t); /* the held ACK and the batch: keep the order */
	r = tp_tso_write(buf, len, (uint16_t)gso_size, t->gro_kinds & TP_GRO_TSO, gro_write, t,
	                 &refused, &writes);
	if (refused & t->gro_kinds & TP_GRO_TSO)
		tso_refused(t);
	return r;
}

/* With a vnet header, into this iteration's batch (written by
 * on_flush_check, or now when the batch is full); without, straight to the
 * tun. */
int tp_tunio_output(void *ctx, const void *buf, size_t len)
{
	static const uint8_t zero_hdr[TP_VNET_HDR_LEN];
	struct tp_tunio *t = ctx;
	struct iovec iov[2];

	if (t->gro && !t->stopping) {
		if (tp_ack_thin(&t->ack, buf, len, gro_enqueue, t))
			return 0;
		return gro_enqueue(t, buf, len);
	}
	if (t->tun.vnet) {
		iov[0].iov_base = (void *)zero_hdr;
		iov[0].iov_len = TP_VNET_HDR_LEN;
		iov[1].iov_base = (void *)buf;
		iov[1].iov_len = len;
		return tun_writev(t, iov, 2, 1);
	}
	iov[0].iov_base = (void *)buf;
	iov[0].iov_len = len;
	return tun_writev(t, iov, 1, 1);
}

/* ---- lwIP timers ---- */

static void on_stack_timer(uv_timer_t *timer);

static void arm_stack_timer(struct tp_tunio *t, uint32_t next_ms)
{
	if (t->stopping)
		return;
	if (next_ms > STACK_TIMER_CAP_MS)
		next_ms = STACK_TIMER_CAP_MS;
	/* due no later already: keep it (an early tick only polls; a restart
	 * per tun read was a heap removal and insertion each time) */
	if (uv_is_active((uv_handle_t *)&t->stack_timer) &&
	    uv_timer_get_due_in(&t->stack_timer) <= next_ms)
		return;
	uv_timer_start(&t->stack_timer, on_stack_timer, next_ms, 0);
}

static void on_stack_timer(uv_timer_t *timer)
{
	struct tp_tunio *t = timer->data;

	tp_clock_sync(t->loop);
	arm_stack_timer(t, tp_stack_poll());
	if (t->on_tick)
		t->on_tick(t->tick_ud);
}

/* ---- packets in ---- */

/* One read of n bytes in buf into the stack: bare, or a vnet header
 * and a packet that may be a GSO super-packet: a TCP one goes in whole when
 * tp_gso_whole allows it (one segment, one ACK from lwIP: patch 0011), any
 * other is split into segments. */
static void tun_input(struct tp_tunio *t, const uint8_t *buf, size_t n)
{
	const uint8_t *pkt = buf + TP_VNET_HDR_LEN;
	struct tp_vnet_hdr h;
	struct tp_whole_pkt w;
	enum tp_whole how;
	enum tp_drop why = TP_DROP_NONE;
	unsigned in_flags, split_flags = 0;
	size_t len;
	int k;

	if (!t->tun.vnet) {
		tp_stack_input(buf, n);
		return;
	}
	if (tp_vnet_parse(buf, n, &h) != 0) {
		t->st->drops[TP_DROP_VNET_HDR]++;
		return;
	}
	len = n - TP_VNET_HDR_LEN;
	/* NEEDS_CSUM: the local kernel left a partial sum; DATA_VALID: it
	 * verified the checksum. flags 0 (forwarded, unverified): verify. */
	in_flags =
	        (h.flags & (TP_VNET_F_NEEDS_CSUM | TP_VNET_F_DATA_VALID)) ? TP_STACK_IN_CSUM_OK : 0;
	if (h.gso_type == TP_GSO_NONE && (!(h.flags & TP_VNET_F_NEEDS_CSUM) ||
	                                  (size_t)h.csum_start + h.csum_offset + 2 <= len)) {
		/* a whole packet: nothing to split, and a partial checksum
		 * (NEEDS_CSUM, within the packet) need not be completed, the
		 * stack does not verify it (CSUM_OK) */
		tp_stack_input_flags(pkt, len, in_flags);
		return;
	}
	if (h.gso_type != TP_GSO_NONE) {
		how = tp_gso_whole(pkt, len, &h, &w);
		if (how == TP_WHOLE) {
			/* NEEDS_CSUM or DATA_VALID, so in_flags is CSUM_OK */
			t->st->gso_in++;
			t->st->gso_in_segs += w.segs;
			t->st->gso_whole++;
			tp_stack_input_flags(pkt, w.len, in_flags);
			return;
		}
		if (how != TP_WHOLE_NOT_TCP)
			t->st->gso_split[how]++;
	}
	/* a super-packet nobody vouches for (not seen from Linux): fill the
	 * checksums so the stack can verify them */
	if (h.gso_type != TP_GSO_NONE && !in_flags)
		split_flags = TP_SPLIT_FILL_CSUM;
	k = tp_gso_split(pkt, len, &h, split_flags, t->segbuf, SEG_BUF, t->segs, SEG_MAX, &why);
	if (k < 0) {
		if (why <= TP_DROP_NONE || why >= TP_DROP__COUNT)
			why = TP_DROP_GSO;
		t->st->drops[why]++;
		return;
	}
	if (h.gso_type != TP_GSO_NONE) {
		t->st->gso_in++;
		t->st->gso_in_segs += (uint64_t)k;
	}
	for (int i = 0; i < k; i++)
		tp_stack_input_flags(t->segs[i].data, t->segs[i].len, in_flags);
}

static void on_tun_readable(uv_poll_t *p, int status, int events)
{
	struct tp_tunio *t = p->data;
	uint8_t *buf;
	size_t cap;
	ssize_t n;
	int i;

	(void)events;
	if (status < 0) {
		tp_log(TP_LOG_ERROR, "tun poll: %s", uv_strerror(status));
		uv_poll_stop(p);
		return;
	}
	tp_clock_sync(t->loop);
	t->st->read_events++;
	for (i = 0; i < TUN_BATCH; i++) {
		/* the stack's buffer: a large TCP segment read into it goes to
		 * lwIP as it is (no copy); ours if it has none to lend */
		buf = tp_stack_rxbuf(&cap);
		if (!buf || cap < TUN_BUF) {
			buf = t->rxbuf;
			cap = TUN_BUF;
		}
		n = read(t->tun.fd, buf, cap);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    t->st->tun_read_errors++ == 0)
				tp_log(TP_LOG_WARN, "tun read: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		t->st->tun_reads++;
		tun_input(t, buf, (size_t)n);
	}
	if (i == TUN_BATCH)
		t->st->read_bound_hits++;
	arm_stack_timer(t, tp_stack_poll());
}

/* ---- set-up ---- */

/* What the tun gave us: the coalescing batch and kinds, the log line. */
static int offload_setup(struct tp_tunio *t, bool no_offload)
{
	const struct tp_tun *tun = &t->tun;
	char *d = t->offload_desc;
	size_t dl = sizeof(t->offload_desc);

	t->gro_kinds = 0;
	if (tun->vnet) {
		/* TCP coalescing needs only the header (writes are parsed
		 * whatever TUNSETOFFLOAD said); UDP_L4 needs a >= 6.2 kernel,
		 * which USO being granted shows */
		t->gro_kinds = TP_GRO_TCP | TP_GRO_TSO;
		if ((tun->offloads & (TP_TUN_F_USO4 | TP_TUN_F_USO6)) ==
		    (TP_TUN_F_USO4 | TP_TUN_F_USO6))
			t->gro_kinds |= TP_GRO_UDP;
		if (no_offload)
			t->gro_kinds = 0; /* adopted vnet fd: headers stay, zero */
		if (t->gro_kinds) {
			t->gro = tp_gro_new(GRO_BATCH);
			if (!t->gro) {
				fprintf(stderr, "tunplug: out of memory\n");
				return -ENOMEM;
			}
			/* every TCP packet leaves with a vnet header: NEEDS_CSUM
			 * and the pseudo-header sum, so nobody sums the payload */
			tp_gro_set_tcp_partial(t->gro, true);
		}
	}
	if (tun->vnet && tun->offloads)
		snprintf(d, dl, "%s%s%s%s%s", tun->offloads & TP_TUN_F_CSUM ? "csum" : "",
		         tun->offloads & TP_TUN_F_TSO4 ? " tso4" : "",
		         tun->offloads & TP_TUN_F_TSO6 ? " tso6" : "",
		         tun->offloads & TP_TUN_F_USO4 ? " uso" : "",
		         tun->adopted ? " (adopted fd)" : "");
	else if (no_offload)
		snprintf(d, dl, "off (--no-offload%s)",
		         tun->vnet ? "; adopted fd keeps all-zero vnet headers" : "");
	else if (tun->vnet)
		snprintf(d, dl,
		         "off (adopted fd with vnet header: TUNSETOFFLOAD refused: %s; "
		         "coalesced writes only)",
		         strerror(-tun->offload_err));
	else if (tun->adopted)
		snprintf(d, dl, "off (adopted fd without IFF_VNET_HDR)");
	else
		snprintf(d, dl, "off (%s refused: %s)",
		         tun->offload_err == 0 ? "?" : "IFF_VNET_HDR/TUNSETOFFLOAD",
		         strerror(-tun->offload_err));
	tp_log(TP_LOG_INFO, "offload: %s", d);
	return 0;
}

void tp_tunio_init(struct tp_tunio *t)
{
	memset(t, 0, sizeof(*t));
	t->tun.fd = -1;
}

int tp_tunio_open(struct tp_tunio *t, uv_loop_t *loop, struct tp_tun_counters *st,
                  const struct tp_options *o)
{
	unsigned flags = o->no_offload ? TP_TUN_NO_OFFLOAD : 0;
	int ret;

	tp_tunio_init(t);
	t->loop = loop;
	t->st = st;
	t->tun.fd = -1;
	t->rxbuf = malloc(TUN_BUF);
	t->segbuf = malloc(SEG_BUF);
	t->segs = calloc(SEG_MAX, sizeof(*t->segs));
	if (!t->rxbuf || !t->segbuf || !t->segs) {
		fprintf(stderr, "tunplug: out of memory\n");
		return -ENOMEM;
	}
	if (o->tun_fd >= 0) {
		ret = tp_tun_adopt_flags(o->tun_fd, flags, &t->tun);
		if (ret) {
			fprintf(stderr, "tunplug: tun: adopt fd %d: %s\n", o->tun_fd,
			        strerror(-ret));
			t->tun.fd = -1;
			return ret;
		}
		t->mtu = t->tun.mtu ? t->tun.mtu : 1500;
	} else {
		ret = tp_tun_open_flags(o->tun_name, flags, &t->tun);
		if (ret) {
			fprintf(stderr, "tunplug: tun: open %s: %s\n", o->tun_name, strerror(-ret));
			t->tun.fd = -1;
			return ret;
		}
		t->mtu = o->mtu;
	}
	return offload_setup(t, o->no_offload);
}

int tp_tunio_start(struct tp_tunio *t, void (*on_tick)(void *ud), void *ud)
{
	int ret;

	t->on_tick = on_tick;
	t->tick_ud = ud;
	ret = uv_poll_init(t->loop, &t->poll, t->tun.fd);
	if (ret)
		return ret;
	t->poll.data = t;
	t->handles_live++;
	uv_check_init(t->loop, &t->flush_check);
	t->flush_check.data = t;
	t->handles_live++;
	uv_timer_init(t->loop, &t->stack_timer);
	t->stack_timer.data = t;
	t->handles_live++;
	ret = uv_poll_start(&t->poll, UV_READABLE, on_tun_readable);
	if (!ret && t->gro)
		ret = uv_check_start(&t->flush_check, on_flush_check);
	if (ret)
		return ret;
	arm_stack_timer(t, 0);
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	struct tp_tunio *t = h->data;

	t->handles_live--;
}

static void close_handle(uv_handle_t *h)
{
	if (h->data && !uv_is_closing(h))
		uv_close(h, on_closed);
}

void tp_tunio_stop(struct tp_tunio *t)
{
	if (t->stopping)
		return;
	tp_tunio_flush(t); /* the RSTs and FINs of the shutdown */
	t->stopping = true;
	close_handle((uv_handle_t *)&t->flush_check);
	close_handle((uv_handle_t *)&t->poll);
	close_handle((uv_handle_t *)&t->stack_timer);
}

void tp_tunio_close(struct tp_tunio *t)
{
	if (t->tun.fd >= 0)
		tp_tun_close(&t->tun);
	t->tun.fd = -1;
	free(t->rxbuf);
	free(t->segbuf);
	free(t->segs);
	if (t->gro)
		tp_gro_free(t->gro);
	t->rxbuf = t->segbuf = NULL;
	t->segs = NULL;
	t->gro = NULL;
}
