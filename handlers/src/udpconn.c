/* SPDX-License-Identifier: MIT */
/* tunplug — a UDP flow through a connected socket of its own, with batched
 * sends and receives (see udpconn.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "names.h"
#include "tunplug/text.h"
#include "udpconn.h"

#define RX_SLOT 65536           /* any datagram fits (IPv6: 65527 bytes of payload) */
#define RX_CALLS 8              /* recvmmsg calls per socket and readable event */
#define TX_BYTES (512u * 1024u) /* datagram bytes held per loop iteration */
#define TX_MAX 1024             /* datagrams held per loop iteration */
#define TX_MSGS 256             /* messages per sendmmsg */
/* one UDP_SEGMENT send: at most 64 datagrams (UDP_MAX_SEGMENTS of every
 * kernel since 4.18) and one IP datagram's worth of payload (65507) */
#define GSO_SEGS 64
#define GSO_BYTES 65000u
#define BUF_STEP1 (1u << 20) /* the first growth step of a socket buffer */
#define ERR_SPINS 16         /* POLLERR without a pending error, in a row, before giving up */
#define IDLE_FLUSHES 64      /* loop hooks with nothing to flush, in a row, before they stop */

enum {
	C_SEND_CALLS,
	C_SENT,
	C_GSO_SENDS,
	C_GSO_SEGS,
	C_SEND_LOST,
	C_BACKLOGGED,
	C_RECV_CALLS,
	C_RECEIVED,
	C_RCVBUF_DROPS,
	C_BUF_GROWN,
	C_NAMES_RESOLVED,
	C_NAMES_UNRESOLVED,
	C__COUNT
};

static const char *const counter_names[C__COUNT] = {
        "udp_send_calls",   "udp_sent",       "udp_gso_sends",      "udp_gso_segs",
        "udp_send_lost",    "udp_backlogged", "udp_recv_calls",     "udp_received",
        "udp_rcvbuf_drops", "udp_buf_grown",  "udp_names_resolved", "udp_names_unresolved",
};

/* A datagram waiting for its socket to become writable (copied). */
struct qd {
	struct qd *next;
	size_t len;
	char data[];
};

struct udpconn {
	struct udpconn_shared *sh;
	struct tp_flow *flow; /* NULL once flow_close ran */
	uv_poll_t poll;
	int fd;
	int events; /* what poll watches: UV_READABLE, | UV_WRITABLE with a backlog */
	int hdr;    /* IP + UDP header bytes on the wire */
	/* this loop iteration's datagrams: a chain through sh->ent, -1 = none */
	int32_t head, tail;
	struct udpconn *dirty_next;
	bool dirty;
	bool refused; /* ECONNREFUSED on a send: closing */
	bool no_gso;  /* the kernel refused UDP_SEGMENT here, or no MTU known */
	uint8_t rcv_step, snd_step;
	unsigned mtu;   /* path MTU for UDP_SEGMENT; 0 = not asked yet */
	uint32_t drops; /* the kernel's drop count (SO_RXQ_OVFL) last seen */
	unsigned err_spins;
	size_t grown; /* buffer bytes asked for beyond the defaults */
	struct qd *q_head, *q_tail;
	size_t queued; /* bytes in the backlog */
	/* by name: the lookup (datagrams wait in the backlog; no socket yet) */
	bool resolving;
	bool poll_live; /* fd and poll set up (else fd is -1) */
	uv_getaddrinfo_t gai;
	char *name;                 /* ours, while resolving */
	struct sockaddr_storage to; /* port and preferred family */
	const char *who;
};

/* A datagram of this iteration in sh->tx. */
struct txent {
	uint32_t off, len;
	int32_t next; /* u's next datagram, -1 */
};

union ctl_tx {
	char buf[CMSG_SPACE(sizeof(uint16_t))];
	struct cmsghdr align;
};

union ctl_rx {
	char buf[CMSG_SPACE(sizeof(uint32_t))];
	struct cmsghdr align;
};

/* What the flows of one instance share. Heap: its loop handles close after
 * the instance is gone (freed when both closed). */
struct udpconn_shared {
	const struct tp_host *host; /* NULL after fini */
	uv_prepare_t prepare;
	uv_check_t check;
	int handles_open;
	bool armed;   /* check and prepare started */
	bool pending; /* something to send or count since the last flush */
	bool flushing;
	unsigned idle_flushes; /* flush calls in a row with nothing pending */
	bool no_force;         /* SO_*BUFFORCE refused: not privileged */
	/* this loop iteration's datagrams, in arrival order */
	char *tx;
	size_t txlen;
	unsigned nent;
	struct txent ent[TX_MAX];
	struct udpconn *dirty_head, *dirty_tail;
	/* sendmmsg scratch */
	struct mmsghdr msgs[TX_MSGS];
	int32_t msg_next[TX_MSGS]; /* entry after message i's last, -1 */
	unsigned msg_n[TX_MSGS];   /* datagrams in message i */
	struct iovec iov[TX_MAX];
	union ctl_tx ctl[TX_MSGS];
	/* receive slots */
	char *rx;
	struct mmsghdr rmsgs[TP_UDPCONN_RX_VLEN];
	struct iovec riov[TP_UDPCONN_RX_VLEN];
	union ctl_rx rctl[TP_UDPCONN_RX_VLEN];
	uint64_t c[C__COUNT];     /* not handed to counter_add yet */
	uint32_t cmask;           /* bit i: c[i] is not 0 */
	char cname[C__COUNT][48]; /* "NAME.udp_sent" */
	size_t grown;             /* buffer growth of all flows */
};

/* ---- counters, the loop hooks ---- */

/* Counter i grows by n (handed to counter_add at the next flush). */
static void count(struct udpconn_shared *sh, int i, uint64_t n)
{
	sh->c[i] += n;
	sh->cmask |= 1u << i;
}

/* Only the counters that moved: a flush with one datagram need not look
 * at all of them. */
static void counters_push(struct udpconn_shared *sh)
{
	if (!sh->host)
		return;
	while (sh->cmask) {
		int i = __builtin_ctz(sh->cmask);

		sh->cmask &= sh->cmask - 1;
		if (!sh->c[i])
			continue;
		sh->host->counter_add(sh->host, sh->cname[i], sh->c[i]);
		sh->c[i] = 0;
	}
}

static void flush_all(struct udpconn_shared *sh);

static void on_check(uv_check_t *c)
{
	flush_all(c->data);
}

static void on_prepare(uv_prepare_t *p)
{
	flush_all(p->data);
}

/* Something to send or count: flush at the end of this iteration. The
 * handles stay started while traffic goes on (starting and stopping them
 * for every datagram of a request/response flow cost more than a flush
 * with nothing to do); flush_all stops them after IDLE_FLUSHES idle calls. */
static void arm(struct udpconn_shared *sh)
{
	sh->pending = true;
	sh->idle_flushes = 0;
	if (sh->armed)
		return;
	sh->armed = true;
	uv_check_start(&sh->check, on_check);
	uv_prepare_start(&sh->prepare, on_prepare);
}

static void shared_free(struct udpconn_shared *sh)
{
	free(sh->tx);
	free(sh->rx);
	free(sh);
}

static void on_shared_closed(uv_handle_t *h)
{
	struct udpconn_shared *sh = h->data;

	if (--sh->handles_open == 0 && !sh->host)
		shared_free(sh);
}

static struct udpconn_shared *shared_new(struct tp_udpconn_inst *ui)
{
	struct udpconn_shared *sh = calloc(1, sizeof(*sh));

	if (!sh)
		return NULL;
	sh->host = ui->host;
	for (int i = 0; i < C__COUNT; i++)
		snprintf(sh->cname[i], sizeof(sh->cname[i]), "%s.%s", ui->name, counter_names[i]);
	sh->tx = malloc(TX_BYTES);
	sh->rx = malloc((size_t)TP_UDPCONN_RX_VLEN * RX_SLOT); /* pages touched as used */
	if (!sh->tx || !sh->rx) {
		shared_free(sh);
		return NULL;
	}
	for (unsigned i = 0; i < TP_UDPCONN_RX_VLEN; i++) {
		struct msghdr *mh = &sh->rmsgs[i].msg_hdr;

		sh->riov[i].iov_base = sh->rx + (size_t)i * RX_SLOT;
		sh->riov[i].iov_len = RX_SLOT;
		mh->msg_iov = &sh->riov[i];
		mh->msg_iovlen = 1;
		mh->msg_control = sh->rctl[i].buf;
		mh->msg_controllen = sizeof(sh->rctl[i].buf);
	}
	uv_prepare_init(ui->host->loop, &sh->prepare);
	uv_check_init(ui->host->loop, &sh->check);
	sh->prepare.data = sh;
	sh->check.data = sh;
	/* they may stay started while nothing is pending (see arm): they
	 * must not keep the loop alive on their own, e.g. at shut-down */
	uv_unref((uv_handle_t *)&sh->prepare);
	uv_unref((uv_handle_t *)&sh->check);
	sh->handles_open = 2;
	return sh;
}

/* ---- socket buffers ---- */

/* Grow u's receive (rcv) or send buffer one step within the budget. */
static void buf_grow(struct udpconn *u, bool rcv)
{
	struct udpconn_shared *sh = u->sh;
	uint8_t *step = rcv ? &u->rcv_step : &u->snd_step;
	size_t had = *step == 0 ? 0 : BUF_STEP1;
	size_t want = *step == 0 ? BUF_STEP1 : TP_UDPCONN_BUF_MAX;
	int v = (int)want;
	int r = -1;

	if (*step >= 2 || sh->grown + want - had > TP_UDPCONN_BUF_BUDGET)
		return;
	if (!sh->no_force) {
		r = setsockopt(u->fd, SOL_SOCKET, rcv ? SO_RCVBUFFORCE : SO_SNDBUFFORCE, &v,
		               sizeof(v));
		if (r != 0 && errno == EPERM)
			sh->no_force = true;
	}
	if (r != 0 && setsockopt(u->fd, SOL_SOCKET, rcv ? SO_RCVBUF : SO_SNDBUF, &v, sizeof(v)))
		return;
	sh->grown += want - had;
	u->grown += want - had;
	(*step)++;
	count(sh, C_BUF_GROWN, 1);
}

/* ---- sending ---- */

/* Copy one datagram into u's backlog (lost beyond the limit). */
static void backlog_add(struct udpconn *u, const void *buf, size_t len)
{
	struct qd *q;

	if (u->queued + len > TP_UDPCONN_QUEUE_MAX || !(q = malloc(sizeof(*q) + len))) {
		count(u->sh, C_SEND_LOST, 1);
		return;
	}
	memcpy(q->data, buf, len);
	q->len = len;
	q->next = NULL;
	if (u->q_tail)
		u->q_tail->next = q;
	else
		u->q_head = q;
	u->q_tail = q;
	u->queued += len;
	count(u->sh, C_BACKLOGGED, 1);
}

static void backlog_free(struct udpconn *u)
{
	while (u->q_head) {
		struct qd *q = u->q_head;

		u->q_head = q->next;
		free(q);
	}
	u->q_tail = NULL;
	u->queued = 0;
}

static void on_poll(uv_poll_t *p, int status, int events);

static void watch(struct udpconn *u, int events)
{
	if (u->events == events)
		return;
	u->events = events;
	uv_poll_start(&u->poll, events, on_poll);
}

/* The client's flow drew a port unreachable: tell it, close the flow. */
static void refuse(struct udpconn *u)
{
	const struct tp_host *host = u->sh->host;

	if (u->refused || !u->flow)
		return;
	u->refused = true;
	host->flow_unreachable(u->flow, -ECONNREFUSED);
	host->flow_close(u->flow, false); /* flow_close follows, from the loop */
}

static bool gso_fits(struct udpconn *u, uint32_t len)
{
	if (u->no_gso || len == 0)
		return false;
	if (!u->mtu) {
		int mtu = 0;
		socklen_t sl = sizeof(mtu);
		int r = u->hdr == 28 ? getsockopt(u->fd, IPPROTO_IP, IP_MTU, &mtu, &sl)
		                     : getsockopt(u->fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &sl);

		if (r != 0 || mtu <= u->hdr) {
			u->no_gso = true;
			return false;
		}
		u->mtu = (unsigned)mtu;
	}
	return len + (unsigned)u->hdr <= u->mtu;
}

/* Messages for u's datagrams from entry i on: runs of equal sizes as one
 * UDP_SEGMENT message (the last of a run may be shorter), others alone.
 * Returns the number of messages (>= 1). */
static unsigned build_msgs(struct udpconn_shared *sh, struct udpconn *u, int32_t i)
{
	unsigned nmsg = 0, niov = 0;

	while (i >= 0 && nmsg < TX_MSGS) {
		struct msghdr *mh = &sh->msgs[nmsg].msg_hdr;
		uint32_t seg = sh->ent[i].len, total = 0;
		int32_t nx = sh->ent[i].next;
		unsigned n = 0;
		/* only a run of two or more asks for the path MTU (once) */
		bool gso = nx >= 0 && sh->ent[nx].len <= seg && sh->ent[nx].len > 0 &&
		           gso_fits(u, seg);

		memset(mh, 0, sizeof(*mh));
		mh->msg_iov = &sh->iov[niov];
		do {
			sh->iov[niov].iov_base = sh->tx + sh->ent[i].off;
			sh->iov[niov].iov_len = sh->ent[i].len;
			niov++;
			n++;
			total += sh->ent[i].len;
			if (sh->ent[i].len < seg) {
				i = sh->ent[i].next; /* a shorter one ends the run */
				break;
			}
			i = sh->ent[i].next;
		} while (gso && i >= 0 && n < GSO_SEGS && sh->ent[i].len <= seg &&
		         sh->ent[i].len > 0 && total + sh->ent[i].len <= GSO_BYTES);
		mh->msg_iovlen = n;
		if (n > 1) {
			struct cmsghdr *cm;

			mh->msg_control = sh->ctl[nmsg].buf;
			mh->msg_controllen = sizeof(sh->ctl[nmsg].buf);
			cm = CMSG_FIRSTHDR(mh);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			*(uint16_t *)(void *)CMSG_DATA(cm) = (uint16_t)seg;
		}
		sh->msg_n[nmsg] = n;
		sh->msg_next[nmsg] = i;
		nmsg++;
	}
	return nmsg;
}

/* Send u's datagrams of this iteration, in order. */
static void flush_conn(struct udpconn_shared *sh, struct udpconn *u)
{
	int32_t i = u->head;

	u->head = u->tail = -1;
	while (i >= 0 && u->flow && !u->refused && !u->q_head) {
		unsigned nmsg = build_msgs(sh, u, i);
		int r;

		r = sendmmsg(u->fd, sh->msgs, nmsg, 0);
		if (r >= 0 || errno != EINTR)
			count(sh, C_SEND_CALLS, 1);
		if (r > 0) {
			for (int m = 0; m < r; m++) {
				count(sh, C_SENT, sh->msg_n[m]);
				if (sh->msg_n[m] > 1) {
					count(sh, C_GSO_SENDS, 1);
					count(sh, C_GSO_SEGS, sh->msg_n[m]);
				}
			}
			i = sh->msg_next[r - 1];
			continue; /* a partial send: the next call starts at the failed one */
		}
		/* the first message failed */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			buf_grow(u, false);
			break; /* the rest waits for POLLOUT */
		}
		if (errno == ECONNREFUSED) {
			refuse(u);
			break;
		}
		if (sh->msg_n[0] > 1) {
			/* UDP_SEGMENT refused (EIO: no checksum offload on the
			 * route, EINVAL: MTU, ...): single datagrams from now */
			u->no_gso = true;
			continue;
		}
		count(sh, C_SEND_LOST, 1); /* EMSGSIZE, EPERM, ...: this one is lost */
		i = sh->msg_next[0];
	}
	if (i < 0)
		return;
	if (u->flow && !u->refused) {
		for (; i >= 0; i = sh->ent[i].next)
			backlog_add(u, sh->tx + sh->ent[i].off, sh->ent[i].len);
		if (u->q_head)
			watch(u, UV_READABLE | UV_WRITABLE);
		return;
	}
	for (; i >= 0; i = sh->ent[i].next)
		count(sh, C_SEND_LOST, 1); /* refused or closed meanwhile */
}

/* Send every flow's datagrams of this iteration and push the counters. */
static void flush_all(struct udpconn_shared *sh)
{
	if (sh->flushing)
		return;
	if (!sh->pending) {
		if (sh->armed && ++sh->idle_flushes >= IDLE_FLUSHES) {
			sh->armed = false;
			uv_check_stop(&sh->check);
			uv_prepare_stop(&sh->prepare);
		}
		return;
	}
	sh->pending = false;
	sh->flushing = true;
	while (sh->dirty_head) {
		struct udpconn *u = sh->dirty_head;

		sh->dirty_head = u->dirty_next;
		u->dirty_next = NULL;
		u->dirty = false;
		flush_conn(sh, u);
	}
	sh->dirty_tail = NULL;
	sh->nent = 0;
	sh->txlen = 0;
	sh->flushing = false;
	counters_push(sh);
}

/* The socket is writable again: send the backlog, in order. */
static void drain_backlog(struct udpconn *u)
{
	struct udpconn_shared *sh = u->sh;

	while (u->q_head && u->flow && !u->refused) {
		struct qd *q = u->q_head;
		unsigned n = 0;
		int r;

		for (; q && n < TX_MSGS; q = q->next, n++) {
			struct msghdr *mh = &sh->msgs[n].msg_hdr;

			memset(mh, 0, sizeof(*mh));
			sh->iov[n].iov_base = q->data;
			sh->iov[n].iov_len = q->len;
			mh->msg_iov = &sh->iov[n];
			mh->msg_iovlen = 1;
		}
		r = sendmmsg(u->fd, sh->msgs, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		count(sh, C_SEND_CALLS, 1);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
				break;
			if (errno == ECONNREFUSED) {
				refuse(u);
				break;
			}
			r = 1; /* this one is lost */
			count(sh, C_SEND_LOST, 1);
		} else {
			count(sh, C_SENT, (uint64_t)r);
		}
		while (r-- > 0) {
			q = u->q_head;
			u->q_head = q->next;
			u->queued -= q->len;
			free(q);
		}
		if (!u->q_head)
			u->q_tail = NULL;
	}
	if (u->refused)
		backlog_free(u);
	if (!u->q_head)
		watch(u, UV_READABLE);
	arm(sh); /* the counters */
}

/* ---- receiving ---- */

/* After a recvmmsg that returned n >= 0 and its datagrams were read: the
 * slots it may have written to (the first n, and the next one, in case a
 * failing datagram got that far) get their control buffer length back. */
static void rx_rearm(struct udpconn_shared *sh, int n)
{
	unsigned end = (unsigned)n + 1;

	if (end > TP_UDPCONN_RX_VLEN)
		end = TP_UDPCONN_RX_VLEN;
	for (unsigned i = 0; i < end; i++)
		sh->rmsgs[i].msg_hdr.msg_controllen = sizeof(sh->rctl[i].buf);
}

/* Read what is there, in batches, and pass each datagram to the client. */
static void recv_some(struct udpconn *u)
{
	struct udpconn_shared *sh = u->sh;
	const struct tp_host *host = sh->host;
	bool grow = false;

	for (int call = 0; call < RX_CALLS && u->flow; call++) {
		int n;

		/* the slots were set up once (shared_new); a call changes only
		 * the control length (and the output fields) of the messages
		 * it filled, which rx_rearm restores once they are read */
		n = recvmmsg(u->fd, sh->rmsgs, TP_UDPCONN_RX_VLEN, MSG_DONTWAIT, NULL);
		if (n < 0 && errno == EINTR) {
			call--;
			continue;
		}
		count(sh, C_RECV_CALLS, 1);
		if (n < 0) {
			/* an ICMP error for the connected address
			 * (ECONNREFUSED, EHOSTUNREACH, ...): tell the client
			 * the same way */
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				host->flow_unreachable(u->flow, -errno);
			break;
		}
		u->err_spins = 0;
		for (int i = 0; i < n && u->flow; i++) {
			struct msghdr *mh = &sh->rmsgs[i].msg_hdr;
			struct cmsghdr *cm;

			for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
				uint32_t d;

				if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SO_RXQ_OVFL)
					continue;
				memcpy(&d, CMSG_DATA(cm), sizeof(d));
				if (d != u->drops) {
					count(sh, C_RCVBUF_DROPS, (uint32_t)(d - u->drops));
					u->drops = d;
					grow = true;
				}
			}
			host->udp_send(u->flow, sh->riov[i].iov_base, sh->rmsgs[i].msg_len);
		}
		rx_rearm(sh, n);
		count(sh, C_RECEIVED, (uint64_t)n);
		if (n < TP_UDPCONN_RX_VLEN)
			break; /* drained */
		grow = true;
	}
	if (grow && u->flow)
		buf_grow(u, true);
	arm(sh); /* the counters */
}

/* libuv stops a poll handle on POLLERR (and says UV_EBADF): a connected UDP
 * socket reports an ICMP error that way. Take the error, pass it on, poll
 * again. */
static void poll_error(struct udpconn *u)
{
	int err = 0;
	socklen_t sl = sizeof(err);
	int events = u->events;

	if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0) {
		u->sh->host->log(u->sh->host, TP_LOG_DEBUG, "udp socket: poll: %s",
		                 strerror(errno));
		return; /* stays stopped: the idle timeout ends the flow */
	}
	if (err)
		u->sh->host->flow_unreachable(u->flow, -err);
	else if (++u->err_spins > ERR_SPINS)
		return; /* POLLERR with nothing to take: give up on reading */
	u->events = 0;
	watch(u, events);
	if (events & UV_READABLE)
		recv_some(u);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct udpconn *u = p->data;

	if (!u->flow)
		return;
	if (status < 0) {
		poll_error(u);
		return;
	}
	if (events & UV_WRITABLE)
		drain_backlog(u);
	if ((events & UV_READABLE) && u->flow)
		recv_some(u);
}

/* ---- open and close ---- */

static void on_closed(uv_handle_t *h)
{
	struct udpconn *u = h->data;

	close(u->fd);
	free(u);
}

/* -errno of the call that just failed (never 0). */
static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* A flow's state, without a socket yet, in f's data slot; NULL when out of
 * memory. */
static struct udpconn *udp_new(struct tp_udpconn_inst *ui, struct tp_flow *f)
{
	struct udpconn *u;

	if (!ui->sh && !(ui->sh = shared_new(ui)))
		return NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->sh = ui->sh;
	u->head = u->tail = -1;
	u->fd = -1;
	u->flow = f;
	ui->host->flow_set_data(f, u);
	return u;
}

/* Open u's socket for `to`: protect, connect, poll. 0 or -errno (then u
 * has no socket). */
static int udp_sock(struct udpconn *u, const struct sockaddr *to)
{
	const struct tp_host *host = u->sh->host;
	socklen_t tolen =
	        to->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int one = 1;
	int ret;

	u->hdr = to->sa_family == AF_INET ? 28 : 48;
	u->fd = socket(to->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (u->fd < 0)
		return neg_errno();
	ret = host->protect(host, u->fd, to->sa_family);
	/* the kernel's count of datagrams dropped at a full receive buffer,
	 * with every datagram read: the signal to grow it */
	if (!ret)
		(void)setsockopt(u->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (!ret && connect(u->fd, to, tolen) != 0)
		ret = neg_errno();
	if (!ret)
		ret = uv_poll_init_socket(host->loop, &u->poll, u->fd);
	if (ret) {
		close(u->fd);
		u->fd = -1;
		return ret;
	}
	u->poll.data = u;
	u->poll_live = true;
	watch(u, UV_READABLE);
	return 0;
}

/* Open the flow's socket: protect, connect, poll. Returns it, or NULL with
 * -errno in *err. */
static struct udpconn *udp_open(struct tp_udpconn_inst *ui, struct tp_flow *f,
                                const struct sockaddr *to, int *err)
{
	struct udpconn *u;

	*err = -ENOMEM;
	u = udp_new(ui, f);
	if (!u)
		return NULL;
	*err = udp_sock(u, to);
	if (*err) {
		ui->host->flow_set_data(f, NULL);
		free(u);
		return NULL;
	}
	return u;
}

/* The lookup of a flow's name ended: connect its socket and send what
 * waited, or refuse the flow. */
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct udpconn *u = req->data;
	struct udpconn_shared *sh = u->sh;
	struct sockaddr_storage to;
	char addr[TP_SOCKADDR_STRLEN];
	int ret = -ENOENT;

	u->resolving = false;
	if (!u->flow) {
		/* closed meanwhile (cancelled, or too late to cancel): u is
		 * ours alone; the instance may be gone */
		uv_freeaddrinfo(res);
		free(u->name);
		free(u);
		return;
	}
	if (status == 0)
		ret = tp_name_pick(res, u->to.ss_family,
		                   tp_sockaddr_port((struct sockaddr *)&u->to), &to);
	uv_freeaddrinfo(res);
	count(sh, ret ? C_NAMES_UNRESOLVED : C_NAMES_RESOLVED, 1);
	arm(sh); /* the counters */
	if (ret) {
		sh->host->log(sh->host, TP_LOG_DEBUG, "%s: cannot resolve %s: %s", u->who, u->name,
		              status ? uv_strerror(status) : "no IPv4 or IPv6 address");
		ret = -EHOSTUNREACH;
	} else {
		tp_sockaddr_str((const struct sockaddr *)&to, addr, sizeof(addr));
		sh->host->log(sh->host, TP_LOG_DEBUG, "%s: %s is %s", u->who, u->name, addr);
		ret = udp_sock(u, (const struct sockaddr *)&to);
		if (ret)
			sh->host->log(sh->host, TP_LOG_DEBUG, "%s: udp socket: %s", u->who,
			              strerror(-ret));
	}
	free(u->name);
	u->name = NULL;
	if (ret) {
		backlog_free(u);
		u->refused = true;
		sh->host->flow_unreachable(u->flow, ret == -ENOENT ? -ENETUNREACH : ret);
		sh->host->flow_close(u->flow, false); /* flow_close follows, from the loop */
		return;
	}
	if (u->q_head)
		watch(u, UV_READABLE | UV_WRITABLE); /* what waited goes out, in order */
}

/* A flow by name: its state and the lookup; datagrams wait until it ends.
 * NULL with -errno in *err when nothing could be started. */
static struct udpconn *udp_open_name(struct tp_udpconn_inst *ui, struct tp_flow *f,
                                     const struct sockaddr *to, const char *name, const char *who,
                                     int *err)
{
	socklen_t tolen =
	        to->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	struct addrinfo hints;
	struct udpconn *u;

	*err = -ENOMEM;
	u = udp_new(ui, f);
	if (!u)
		return NULL;
	memcpy(&u->to, to, tolen);
	u->who = who;
	u->name = strdup(name);
	tp_name_hints(&hints);
	u->gai.data = u;
	if (!u->name ||
	    (*err = uv_getaddrinfo(ui->host->loop, &u->gai, on_resolved, u->name, NULL, &hints))) {
		ui->host->flow_set_data(f, NULL);
		free(u->name);
		free(u);
		return NULL;
	}
	u->resolving = true;
	return u;
}

int tp_udpconn_inst_init(struct tp_udpconn_inst *ui, const struct tp_host *host, const char *name)
{
	ui->host = host;
	ui->name = name;
	ui->sh = NULL;
	return 0;
}

void tp_udpconn_inst_fini(struct tp_udpconn_inst *ui)
{
	struct udpconn_shared *sh = ui->sh;

	if (!sh)
		return;
	flush_all(sh); /* counters; no flow is left to send for */
	sh->host = NULL;
	uv_close((uv_handle_t *)&sh->check, on_shared_closed);
	uv_close((uv_handle_t *)&sh->prepare, on_shared_closed);
	ui->sh = NULL;
}

int tp_udpconn_datagram(struct tp_udpconn_inst *ui, struct tp_flow *f, const struct sockaddr *to,
                        const char *name, const char *who, const void *buf, size_t len)
{
	const struct tp_host *host = ui->host;
	struct udpconn *u = host->flow_get_data(f);
	struct udpconn_shared *sh;
	struct txent *e;
	int ret;

	if (!u) {
		u = name ? udp_open_name(ui, f, to, name, who, &ret) : udp_open(ui, f, to, &ret);
		if (!u) {
			host->log(host, TP_LOG_DEBUG, "%s: udp socket: %s", who, strerror(-ret));
			return ret == -ENOENT ? -ENETUNREACH : ret;
		}
	}
	sh = u->sh;
	if (u->refused)
		return TP_OK; /* closing: flow_close follows */
	if (u->resolving) {
		backlog_add(u, buf, len); /* sent once the name's address is known */
		arm(sh);
		return TP_OK;
	}
	if (sh->nent == TX_MAX || sh->txlen + len > TX_BYTES) {
		flush_all(sh);
		if (u->refused)
			return TP_OK;
	}
	if (u->q_head || sh->flushing || len > TX_BYTES) {
		/* behind a backlog: wait in it, in order (a flush in progress
		 * or a datagram larger than the batch cannot happen: tunplug
		 * hands datagrams of at most 64 KiB, from the poll phase) */
		backlog_add(u, buf, len);
		if (u->q_head)
			watch(u, UV_READABLE | UV_WRITABLE);
		arm(sh);
		return TP_OK;
	}
	e = &sh->ent[sh->nent];
	e->off = (uint32_t)sh->txlen;
	e->len = (uint32_t)len;
	e->next = -1;
	memcpy(sh->tx + sh->txlen, buf, len);
	sh->txlen += len;
	if (u->tail >= 0)
		sh->ent[u->tail].next = (int32_t)sh->nent;
	else
		u->head = (int32_t)sh->nent;
	u->tail = (int32_t)sh->nent;
	sh->nent++;
	if (!u->dirty) {
		u->dirty = true;
		if (sh->dirty_tail)
			sh->dirty_tail->dirty_next = u;
		else
			sh->dirty_head = u;
		sh->dirty_tail = u;
	}
	arm(sh);
	return TP_OK;
}

void tp_udpconn_flow_close(struct tp_udpconn_inst *ui, struct tp_flow *f)
{
	const struct tp_host *host = ui->host;
	struct udpconn *u = host->flow_get_data(f);
	struct udpconn_shared *sh;

	if (!u)
		return;
	sh = u->sh;
	u->flow = NULL;
	host->flow_set_data(f, NULL);
	/* out of this iteration's batch: its datagrams are dropped */
	u->head = u->tail = -1;
	if (u->dirty) {
		struct udpconn **pp = &sh->dirty_head, *prev = NULL;

		while (*pp != u) {
			prev = *pp;
			pp = &(*pp)->dirty_next;
		}
		*pp = u->dirty_next;
		if (sh->dirty_tail == u)
			sh->dirty_tail = prev;
		u->dirty = false;
	}
	backlog_free(u);
	sh->grown -= u->grown;
	if (u->resolving) {
		/* queued: on_resolved runs with UV_ECANCELED; running: it
		 * finishes later. Either way it finds no flow and frees u. */
		(void)uv_cancel((uv_req_t *)&u->gai);
		return;
	}
	if (!u->poll_live) {
		free(u); /* its lookup failed: it never had a socket */
		return;
	}
	uv_close((uv_handle_t *)&u->poll, on_closed);
}
