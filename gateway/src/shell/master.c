/* SPDX-License-Identifier: MIT */
/* tunplug — --queues N: one master process, N worker processes.
 *
 * Why processes: lwIP keeps its state in globals (one stack per process),
 * and a multi-queue tun (docs/tun-offload.md, "Multi-queue") lets
 * the kernel spread flows over N fds of one device: each flow's packets
 * arrive on one queue (a symmetric flow hash; replies written on a queue pin
 * the flow to it), so each queue can have a stack of its own.
 *
 * The master (this file; no lwIP, no handler code, libuv only for the
 * control socket, see below):
 *  - opens the tun with IFF_MULTI_QUEUE and N fds (tp_tun_open_mq: each fd
 *    with the same vnet/offload set-up as the single-queue open), does the
 *    netlink set-up once (tp_netcfg_setup: link, mtu, addresses, routes,
 *    --auto-route), then forks one worker per queue;
 *  - keeps every queue fd open itself, so a dead worker's queue stays
 *    attached (the number of queues, and with it the kernel's steering of
 *    the other workers' flows, does not change; packets for that queue wait
 *    in its ring for the replacement, which answers the dead worker's flows
 *    with RST since its stack does not know them);
 *  - waits in poll() on a signalfd (SIGINT, SIGTERM, SIGUSR1, SIGCHLD, all
 *    blocked) and one pipe per worker;
 *  - restarts a worker that ends while the master is not stopping — killed,
 *    crashed, or exited (even with status 0: a queue without a worker would
 *    swallow its flows), logged with the status or signal; at most 5
 *    restarts per slot in 10 s, then it gives up on that slot, logs it and
 *    closes the slot's queue fd (the kernel detaches the queue and steers
 *    its flows to the others; flows of the other workers whose steering
 *    entry expired may move too and be reset). No slot left: stop, exit 1.
 *    A worker of the first generation that fails before it is ready is a
 *    start-up failure: everything is stopped, exit 1 (as without --queues);
 *  - logs "ready" once every worker is ready;
 *  - SIGTERM/SIGINT: sends the same signal to every worker, waits for them
 *    (SIGKILL after 10 s), prints the total (with the device's txqueuelen
 *    and tx_dropped, which the workers' summaries leave out), removes the netlink state
 *    (tp_nl_undo; the master keeps root for it), closes the queues (the
 *    device goes away), exits 0;
 *  - SIGUSR1: sends SIGUSR1 to every worker (each prints its summary) and,
 *    once all answered (or after 2 s), prints the total;
 *  - SIGHUP: reads and checks the --config file itself (the same load and
 *    the same non-reloadable-key check as a single process); refused there,
 *    nothing is forwarded. Else SIGHUP goes to every worker, each reloads
 *    its own rules and handler instances and answers RELOAD_OK or
 *    RELOAD_FAIL; once all answered (or after 10 s) the master logs the
 *    outcome. A worker that refuses (a handler's init failed there) keeps
 *    its old set while the others run the new one: the master says which,
 *    and a later SIGHUP tries again. Workers started after an applied
 *    reload get the new options;
 *  - systemd (notify/): the master is the service's main process: READY=1
 *    once every worker is ready, STATUS= with the totals of the workers'
 *    5-second reports, RELOADING=1 ... READY=1 around a SIGHUP round,
 *    STOPPING=1. Workers drop $NOTIFY_SOCKET (tp_notify_disown).
 *
 * A worker (worker_main, in the forked child) closes what is not its own
 * (the other queues, the pipes' other ends, the signalfd, the netlink
 * socket) and runs the ordinary gateway (tp_gateway_run) on its queue fd as
 * if adopted with --tun-fd: no netlink of its own, its own lwIP and libuv
 * loop, its own handler instances; --user drops privileges in each worker
 * after its start-up (the master stays root). Its log lines and summary
 * lines carry "worker K: " (tp_log_set_prefix, tp_gateway_set_worker). The
 * signals stay blocked until the gateway's own handlers are installed
 * (the ready hook), so an early SIGTERM is not lost or fatal. The worker
 * asks for SIGTERM when the master dies (PR_SET_PDEATHSIG, set again after
 * --user, which clears it).
 *
 * Counters: a worker writes one fixed binary record (struct mq_rec, <
 * PIPE_BUF so each write is atomic; the pipe is non-blocking, a full pipe
 * drops the record rather than stalls the loop) to its pipe: READY once
 * started, REPORT after each SIGUSR1 summary, FINAL after its exit summary.
 * The total is the sum over the slots of the current worker's latest record
 * plus what earlier workers of the slot reported (a killed worker's counters
 * only as of its last record: they are then said to be partial).
 *
 * The control socket and the metrics page (ctl/ctl.h) are the master's: its
 * own libuv loop, used for nothing else, is polled with the rest
 * (uv_backend_fd, run with UV_RUN_NOWAIT after each wake-up). Each worker
 * has a socketpair to the master (its "channel"); for every request the
 * master passes the worker a fresh connection over it and asks the same
 * question, then streams the flows through or sums the counters.
 *
 * --queues 1 (the default, or auto on one CPU) never comes here: main runs
 * the single process exactly as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "log.h"
#include "shell/gateway.h"
#include "shell/master.h"
#include "names/names.h"
#include "netcfg/netcfg.h"
#include "notify/notify.h"
#include "options/config.h"
#include "tunplug/tun.h"
#include "dispatch/rules.h"

#define MQ_MAGIC 0x74706d71u /* "tpmq" */
#define RESTART_MAX 5
#define RESTART_WINDOW_MS 10000u
#define STOP_GRACE_MS 10000u
#define USR1_WAIT_MS 2000u
#define RELOAD_WAIT_MS 10000u

enum { MQ_READY = 1, MQ_REPORT, MQ_FINAL, MQ_STATUS, MQ_RELOAD_OK, MQ_RELOAD_FAIL };
/* C_TCP_NOW, C_UDP_NOW: open flows (not summed over a slot's workers) */
enum {
	C_PKTS_IN,
	C_PKTS_OUT,
	C_SEEN,
	C_ACCEPTED,
	C_REFUSED,
	C_UP,
	C_DOWN,
	C_TCP_NOW,
	C_UDP_NOW,
	C__COUNT
};

struct mq_rec {
	uint32_t magic;
	uint32_t kind; /* MQ_* */
	uint64_t c[C__COUNT];
};
_Static_assert(sizeof(struct mq_rec) <= 512, "one atomic pipe write");

struct slot {
	unsigned k;      /* 1-based, as in the logs */
	struct tp_tun q; /* this slot's queue; fd -1 once given up */
	pid_t pid;       /* the running worker, 0 = none */
	int rd;          /* read end of its pipe, -1 = none */
	unsigned char rbuf[sizeof(struct mq_rec)];
	size_t rlen;
	bool ready;     /* the current worker sent READY */
	bool final;     /* ... and FINAL */
	bool usr1_wait; /* a SIGUSR1 report is due */
	bool hup_wait;  /* a reload answer is due */
	bool given_up;
	uint64_t cur[C__COUNT];  /* the current worker's latest counters */
	uint64_t past[C__COUNT]; /* earlier workers of this slot */
	uint64_t restart_ms[RESTART_MAX];
	unsigned restarts;
	int ctl; /* the master's end of the worker's control channel, -1 = none */
};

static struct master {
	const struct tp_options *opt;
	unsigned n;
	struct slot *slots;
	struct tp_nl *nl;
	struct tp_fakepool *pool; /* --fake-ip: shared with every worker */
	int sfd;
	sigset_t oldmask; /* the mask before the master blocked its signals */
	pid_t pid;
	bool all_ready;
	bool stopping;
	unsigned stop_signals; /* SIGINT/SIGTERM seen */
	bool killed;           /* stragglers got SIGKILL */
	uint64_t stop_deadline;
	uint64_t usr1_deadline; /* 0: no SIGUSR1 round open */
	uint64_t hup_deadline;  /* 0: no SIGHUP round open */
	unsigned hup_ok, hup_fail;
	struct mreload *hup_next; /* the options of the open round */
	struct mreload *cur;      /* the last applied reload's (M.opt) */
	struct tp_notify ntf;
	uint64_t status_ms; /* the last STATUS= sent */
	unsigned partial;   /* workers that died without a FINAL record */
	bool started;       /* a worker was forked */
	struct pollfd *pf;  /* the signalfd, then the pipes */
	struct slot **ps;   /* pf[i]'s slot (NULL: the signalfd) */
	int status;
	uv_loop_t loop; /* the control socket's and the metrics page's */
	bool loop_up;
	struct tp_ctl ctl;
	int *ctl_fds; /* slot i's channel at [i] (the ctl source's worker_fds) */
} M;

/* A reload's options and the file they point into. */
struct mreload {
	struct tp_options opt;
	struct tp_config cfg;
};

static void mreload_free(struct mreload *r)
{
	if (r) {
		tp_config_free(&r->cfg);
		free(r);
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

unsigned tp_master_queues(const struct tp_options *opt)
{
	long n;

	if (opt->queues)
		return opt->queues;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > TP_OPT_MAX_QUEUES ? TP_OPT_MAX_QUEUES : (unsigned)n;
}

/* ---- the worker side (in the child) ---- */

static int w_fd = -1; /* write end of this worker's pipe */
static char w_label[24];

/* In the child: close the fds of the master's control loop (listening
 * sockets, clients), which the worker must not hold open. */
static void w_close_ctl_fd(uv_handle_t *h, void *arg)
{
	uv_os_fd_t fd;

	if (uv_fileno(h, &fd) == 0 && fd >= 0)
		close(fd);
}

static void w_send(unsigned kind, const struct tp_stats *st)
{
	const struct tp_stack_stats *ss = tp_stack_stats();
	struct mq_rec r;
	ssize_t n;

	memset(&r, 0, sizeof(r));
	r.magic = MQ_MAGIC;
	r.kind = kind;
	if (ss) {
		r.c[C_PKTS_IN] = ss->pkts_in;
		r.c[C_PKTS_OUT] = ss->pkts_out;
	}
	r.c[C_SEEN] = st->flows.flows_seen;
	r.c[C_ACCEPTED] = st->flows.flows_accepted;
	for (int i = 0; i < TP_REFUSE__COUNT; i++)
		r.c[C_REFUSED] += st->flows.flows_refused[i];
	r.c[C_UP] = st->flows.bytes_up;
	r.c[C_DOWN] = st->flows.bytes_down;
	if (ss) {
		r.c[C_TCP_NOW] = ss->tcp_flows_now;
		r.c[C_UDP_NOW] = ss->udp_flows_now;
	}
	do
		n = write(w_fd, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	/* EAGAIN (master not reading) or EPIPE (master gone): the record is
	 * lost, the worker goes on */
}

static void w_ready(const struct tp_stats *st)
{
	/* --user changed the credentials, which clears the death signal */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != M.pid)
		kill(getpid(), SIGTERM); /* master already gone: stop once running */
	w_send(MQ_READY, st);
	/* the gateway's signal handlers are in place: let them have them */
	sigprocmask(SIG_SETMASK, &M.oldmask, NULL);
}

static void w_summary(const struct tp_stats *st, bool final)
{
	w_send(final ? MQ_FINAL : MQ_REPORT, st);
}

static void w_status(const struct tp_stats *st, uint64_t tcp_now, uint64_t udp_now)
{
	(void)tcp_now;
	(void)udp_now; /* w_send reads them from the stack, as the others */
	w_send(MQ_STATUS, st);
}

static const struct tp_stats *w_stats; /* for w_reloaded's record */

static void w_ready_st(const struct tp_stats *st)
{
	w_stats = st;
	w_ready(st);
}

static void w_reloaded(bool ok)
{
	if (w_stats)
		w_send(ok ? MQ_RELOAD_OK : MQ_RELOAD_FAIL, w_stats);
}

static void worker_main(struct slot *s, int wfd, int cfd) __attribute__((noreturn));
static void worker_main(struct slot *s, int wfd, int cfd)
{
	static struct tp_gw_worker w = {w_label,    w_ready_st, w_summary, w_status,
	                                w_reloaded, 0,          -1};
	static struct tp_options wopt;
	int ret;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != M.pid)
		_exit(1);
	tp_notify_disown(); /* the master is the service's main process */
	M.ntf.on = false;
	close(M.sfd);
	for (unsigned i = 0; i < M.n; i++) {
		struct slot *t = &M.slots[i];

		if (t->rd >= 0)
			close(t->rd);
		if (t->ctl >= 0)
			close(t->ctl);
		if (t != s)
			tp_tun_close(&t->q);
	}
	if (M.nl)
		tp_nl_close(M.nl); /* closes the socket; the journal is the master's */
	M.nl = NULL;
	if (M.loop_up) {
		uv_walk(&M.loop, w_close_ctl_fd, NULL);
		close(uv_backend_fd(&M.loop));
	}
	w_fd = wfd;
	w.index = s->k;
	w.ctl_fd = cfd;
	snprintf(w_label, sizeof(w_label), "worker %u: ", s->k);
	tp_log_set_prefix(w_label);
	wopt = *M.opt;
	wopt.tun_fd = s->q.fd; /* adopted: no netlink, mtu from the device */
	wopt.queues = 1;
	tp_gateway_set_worker(&w);
	tp_gateway_set_fakepool(M.pool); /* mapped before the fork: shared */
	ret = tp_gateway_run(&wopt);
	close(w_fd);
	exit(ret);
}

/* ---- the master side ---- */

static void slot_ctl_close(struct slot *s)
{
	if (s->ctl >= 0)
		close(s->ctl);
	s->ctl = -1;
	M.ctl_fds[s->k - 1] = -1;
}

static int start_worker(struct slot *s)
{
	int p[2], c[2] = {-1, -1}, err;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		err = errno;
		tp_log(TP_LOG_ERROR, "worker %u: pipe: %s", s->k, strerror(err));
		return -err;
	}
	/* the control channel: without one the worker runs, unasked */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c) < 0) {
		tp_log(TP_LOG_WARN, "worker %u: control channel: %s", s->k, strerror(errno));
		c[0] = c[1] = -1;
	} else {
		fcntl(c[0], F_SETFL, O_NONBLOCK);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(p[0]);
		close(p[1]);
		if (c[0] >= 0) {
			close(c[0]);
			close(c[1]);
		}
		tp_log(TP_LOG_ERROR, "worker %u: fork: %s", s->k, strerror(err));
		return -err;
	}
	if (pid == 0) {
		close(p[0]);
		if (c[0] >= 0)
			close(c[0]);
		worker_main(s, p[1], c[1]);
	}
	close(p[1]);
	if (c[1] >= 0)
		close(c[1]);
	slot_ctl_close(s);
	s->ctl = c[0];
	M.ctl_fds[s->k - 1] = c[0];
	s->pid = pid;
	s->rd = p[0];
	M.started = true;
	s->rlen = 0;
	s->ready = s->final = s->usr1_wait = false;
	memset(s->cur, 0, sizeof(s->cur));
	return 0;
}

static unsigned live_workers(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < M.n; i++)
		n += M.slots[i].pid != 0;
	return n;
}

static void begin_stop(int sig)
{
	if (M.stopping)
		return;
	M.stopping = true;
	tp_notify_stopping(&M.ntf);
	M.hup_deadline = 0;
	M.stop_deadline = now_ms() + STOP_GRACE_MS;
	M.usr1_deadline = 0;
	for (unsigned i = 0; i < M.n; i++)
		if (M.slots[i].pid)
			kill(M.slots[i].pid, sig);
}

static void print_total(const char *when)
{
	uint64_t t[C__COUNT] = {0};
	unsigned restarts = 0;
	char note[96] = "", dev[96] = "";
	struct tp_nl_link l;

	for (unsigned i = 0; i < M.n; i++) {
		for (int c = 0; c < C__COUNT; c++)
			t[c] += M.slots[i].past[c] + M.slots[i].cur[c];
		restarts += M.slots[i].restarts;
	}
	if (M.partial)
		snprintf(note, sizeof(note),
		         " (partial: %u worker%s killed: counted as of %s last report)", M.partial,
		         M.partial == 1 ? "" : "s", M.partial == 1 ? "its" : "their");
	/* the device's own counters cover every queue: read them here, once */
	if (M.nl && tp_netcfg_read_link(M.nl, M.slots[0].q.ifindex, &l) == 0 && l.has_txqlen &&
	    l.has_stats)
		snprintf(dev, sizeof(dev), "; tun txqueuelen %u, tx_dropped %llu", l.txqlen,
		         (unsigned long long)l.tx_dropped);
	fprintf(stderr,
	        "tunplug: total%s: %u queues, %u restart%s: packets in %llu, out %llu; flows "
	        "seen %llu, accepted %llu, refused %llu; bytes up %llu, down %llu%s%s\n",
	        when, M.n, restarts, restarts == 1 ? "" : "s", (unsigned long long)t[C_PKTS_IN],
	        (unsigned long long)t[C_PKTS_OUT], (unsigned long long)t[C_SEEN],
	        (unsigned long long)t[C_ACCEPTED], (unsigned long long)t[C_REFUSED],
	        (unsigned long long)t[C_UP], (unsigned long long)t[C_DOWN], dev, note);
}

/* The workers' totals as STATUS= text. */
static const char *status_text(char *buf, size_t len)
{
	struct tp_notify_counts c;

	memset(&c, 0, sizeof(c));
	for (unsigned i = 0; i < M.n; i++) {
		const struct slot *s = &M.slots[i];

		c.seen += s->past[C_SEEN] + s->cur[C_SEEN];
		c.accepted += s->past[C_ACCEPTED] + s->cur[C_ACCEPTED];
		c.refused += s->past[C_REFUSED] + s->cur[C_REFUSED];
		c.bytes_up += s->past[C_UP] + s->cur[C_UP];
		c.bytes_down += s->past[C_DOWN] + s->cur[C_DOWN];
		if (s->pid) {
			c.tcp_now += s->cur[C_TCP_NOW];
			c.udp_now += s->cur[C_UDP_NOW];
		}
		c.workers_ready += s->pid && s->ready;
	}
	c.workers = M.n;
	return tp_notify_status_text(&c, buf, len);
}

/* STATUS= after the workers' reports, at most once a second. */
static void send_status(void)
{
	char text[256];
	uint64_t now = now_ms();

	if (!M.ntf.on || !M.all_ready || M.stopping || M.hup_deadline || now - M.status_ms < 1000)
		return;
	M.status_ms = now;
	tp_notify_status(&M.ntf, status_text(text, sizeof(text)));
}

static void check_ready(void)
{
	char pids[256], red[300];
	size_t off = 0;

	if (M.all_ready || M.stopping)
		return;
	for (unsigned i = 0; i < M.n; i++)
		if (!M.slots[i].given_up && !M.slots[i].ready)
			return;
	M.all_ready = true;
	pids[0] = '\0';
	for (unsigned i = 0; i < M.n && off < sizeof(pids); i++)
		off += (size_t)snprintf(pids + off, sizeof(pids) - off, "%s%d", i ? " " : "",
		                        (int)M.slots[i].pid);
	tp_log(TP_LOG_INFO, "ready tun=%s mtu=%u handler=%s queues=%u (worker pids %s)",
	       M.slots[0].q.name, M.opt->mtu,
	       tp_handler_spec_redact(M.opt->handler, red, sizeof(red)), M.n, pids);
	M.status_ms = now_ms();
	tp_notify_ready(&M.ntf, status_text(red, sizeof(red)));
}

static void on_record(struct slot *s, const struct mq_rec *r)
{
	if (r->magic != MQ_MAGIC)
		return;
	memcpy(s->cur, r->c, sizeof(s->cur));
	if (r->kind == MQ_READY) {
		s->ready = true;
		check_ready();
	} else if (r->kind == MQ_REPORT) {
		s->usr1_wait = false;
	} else if (r->kind == MQ_FINAL) {
		s->final = true;
		s->usr1_wait = false;
	} else if (r->kind == MQ_STATUS) {
		send_status();
	} else if ((r->kind == MQ_RELOAD_OK || r->kind == MQ_RELOAD_FAIL) && s->hup_wait) {
		s->hup_wait = false;
		if (r->kind == MQ_RELOAD_OK) {
			M.hup_ok++;
		} else {
			M.hup_fail++;
			tp_log(TP_LOG_WARN,
			       "SIGHUP: worker %u (pid %d) refused the reload and keeps its old "
			       "rules and handlers (its reason is logged above)",
			       s->k, (int)s->pid);
		}
	}
}

static void read_records(struct slot *s)
{
	while (s->rd >= 0) {
		ssize_t n = read(s->rd, s->rbuf + s->rlen, sizeof(s->rbuf) - s->rlen);

		if (n > 0) {
			s->rlen += (size_t)n;
			if (s->rlen == sizeof(s->rbuf)) {
				struct mq_rec r;

				memcpy(&r, s->rbuf, sizeof(r));
				s->rlen = 0;
				on_record(s, &r);
			}
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else { /* EOF: the worker is gone */
			close(s->rd);
			s->rd = -1;
		}
	}
}

static void describe(int st, char *buf, size_t len)
{
	if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(st),
		         strsignal(WTERMSIG(st)), WCOREDUMP(st) ? ", core dumped" : "");
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
}

static void restart(struct slot *s, pid_t old, const char *how)
{
	uint64_t now = now_ms();
	unsigned recent = 0;

	for (int i = 0; i < RESTART_MAX; i++)
		recent += s->restart_ms[i] && now - s->restart_ms[i] < RESTART_WINDOW_MS;
	if (recent < RESTART_MAX) {
		s->restart_ms[s->restarts % RESTART_MAX] = now;
		s->restarts++;
		if (start_worker(s) == 0) {
			tp_log(TP_LOG_WARN, "worker %u (pid %d) %s; restarted as pid %d", s->k,
			       (int)old, how, (int)s->pid);
			return;
		}
		tp_log(TP_LOG_ERROR,
		       "worker %u (pid %d) %s; no new worker: giving up on queue %u (closed: its "
		       "flows go to the other queues)",
		       s->k, (int)old, how, s->k);
	} else {
		tp_log(TP_LOG_ERROR,
		       "worker %u (pid %d) %s; %u restarts in the last %u s: giving up on queue %u "
		       "(closed: its flows go to the other queues)",
		       s->k, (int)old, how, recent, RESTART_WINDOW_MS / 1000u, s->k);
	}
	s->given_up = true;
	tp_tun_close(&s->q);
	for (unsigned i = 0; i < M.n; i++)
		if (!M.slots[i].given_up)
			return;
	tp_log(TP_LOG_ERROR, "no worker left: stopping");
	M.status = 1;
	begin_stop(SIGTERM);
}

static struct slot *slot_of(pid_t pid)
{
	for (unsigned i = 0; i < M.n; i++)
		if (M.slots[i].pid == pid)
			return &M.slots[i];
	return NULL;
}

static void reap(void)
{
	char how[96];
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct slot *s = slot_of(pid);
		bool was_ready;

		if (!s)
			continue;
		read_records(s); /* its last records, up to EOF */
		if (s->rd >= 0) {
			close(s->rd);
			s->rd = -1;
		}
		describe(st, how, sizeof(how));
		slot_ctl_close(s);
		s->pid = 0;
		s->usr1_wait = false;
		was_ready = s->ready;
		if (!s->final && was_ready)
			M.partial++;
		for (int c = 0; c < C_TCP_NOW; c++)
			s->past[c] += s->cur[c];
		memset(s->cur, 0, sizeof(s->cur));
		s->hup_wait = false;
		if (M.stopping) {
			tp_log(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? TP_LOG_INFO : TP_LOG_WARN,
			       "worker %u (pid %d) %s", s->k, (int)pid, how);
		} else if (!was_ready && !s->restarts && !M.all_ready) {
			tp_log(TP_LOG_ERROR, "worker %u (pid %d) %s during start-up: stopping",
			       s->k, (int)pid, how);
			M.status = 1;
			begin_stop(SIGTERM);
		} else {
			restart(s, pid, how);
		}
	}
}

static void usr1_round(void)
{
	if (M.stopping)
		return;
	for (unsigned i = 0; i < M.n; i++) {
		struct slot *s = &M.slots[i];

		if (s->pid && kill(s->pid, SIGUSR1) == 0)
			s->usr1_wait = true;
	}
	M.usr1_deadline = now_ms() + USR1_WAIT_MS;
}

static void usr1_check(void)
{
	unsigned waiting = 0;

	if (!M.usr1_deadline)
		return;
	for (unsigned i = 0; i < M.n; i++)
		waiting += M.slots[i].usr1_wait;
	if (waiting && now_ms() < M.usr1_deadline)
		return;
	if (waiting)
		tp_log(TP_LOG_WARN, "SIGUSR1: %u worker%s did not report within %u ms", waiting,
		       waiting == 1 ? "" : "s", USR1_WAIT_MS);
	for (unsigned i = 0; i < M.n; i++)
		M.slots[i].usr1_wait = false;
	M.usr1_deadline = 0;
	print_total(" (SIGUSR1)");
}

/* SIGHUP: check the file here, then let every worker reload. */
static void hup_round(void)
{
	struct mreload *nx;
	char err[640], text[256];
	int ret;

	if (M.stopping)
		return;
	if (!M.opt->config_path) {
		tp_log(TP_LOG_INFO, "SIGHUP: no --config file to reload: ignored");
		return;
	}
	if (M.hup_deadline) {
		tp_log(TP_LOG_WARN, "SIGHUP: a reload is under way: this one is ignored");
		return;
	}
	tp_notify_reloading(&M.ntf);
	nx = calloc(1, sizeof(*nx));
	if (!nx) {
		snprintf(err, sizeof(err), "out of memory");
		ret = -ENOMEM;
	} else {
		ret = tp_config_load_all(&nx->cfg, &nx->opt, M.opt->config_path, M.opt->argc,
		                         M.opt->argv, M.opt->n_plugins, err, sizeof(err));
		if (!ret && M.opt->config)
			ret = tp_config_diff(M.opt->config, &nx->cfg, err, sizeof(err));
	}
	if (ret) {
		tp_log(TP_LOG_ERROR,
		       "SIGHUP: reload refused, the running rules and handlers stay: %s",
		       strncmp(err, "tunplug: ", 9) ? err : err + 9);
		mreload_free(nx);
		tp_notify_ready(&M.ntf, status_text(text, sizeof(text)));
		return;
	}
	M.hup_next = nx;
	M.hup_ok = M.hup_fail = 0;
	for (unsigned i = 0; i < M.n; i++) {
		struct slot *s = &M.slots[i];

		if (s->pid && s->ready && kill(s->pid, SIGHUP) == 0)
			s->hup_wait = true;
	}
	M.hup_deadline = now_ms() + RELOAD_WAIT_MS;
}

static void hup_check(void)
{
	unsigned waiting = 0;
	char text[256];

	if (!M.hup_deadline)
		return;
	for (unsigned i = 0; i < M.n; i++)
		waiting += M.slots[i].hup_wait;
	if (waiting && now_ms() < M.hup_deadline)
		return;
	for (unsigned i = 0; i < M.n; i++)
		M.slots[i].hup_wait = false;
	M.hup_deadline = 0;
	if (M.hup_ok) {
		/* workers started from now on get the new options */
		mreload_free(M.cur);
		M.cur = M.hup_next;
		M.opt = &M.cur->opt;
		tp_log_set_level(M.opt->log_level);
	} else {
		mreload_free(M.hup_next);
	}
	M.hup_next = NULL;
	if (!M.hup_fail && !waiting)
		tp_log(TP_LOG_INFO, "SIGHUP: reloaded %s in all %u workers", M.opt->config_path,
		       M.hup_ok);
	else
		tp_log(TP_LOG_WARN,
		       "SIGHUP: reload of %s: %u worker%s applied it, %u refused, %u did not "
		       "answer within %u s (those keep their old rules and handlers)",
		       M.opt->config_path, M.hup_ok, M.hup_ok == 1 ? "" : "s", M.hup_fail, waiting,
		       RELOAD_WAIT_MS / 1000u);
	M.status_ms = now_ms();
	tp_notify_ready(&M.ntf, status_text(text, sizeof(text)));
}

static void on_signals(void)
{
	struct signalfd_siginfo si;

	while (read(M.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;

		if (sig == SIGCHLD)
			continue; /* reap() runs after every wake-up */
		if (sig == SIGUSR1) {
			usr1_round();
		} else if (sig == SIGHUP) {
			hup_round();
		} else if (sig == SIGQUIT || ++M.stop_signals >= 3) {
			/* forced: the workers undo their part at once and exit */
			tp_log(TP_LOG_WARN, "%s: forcing %u worker%s to stop", strsignal(sig),
			       live_workers(), live_workers() == 1 ? "" : "s");
			if (!M.stopping)
				begin_stop(SIGQUIT);
			else
				for (unsigned i = 0; i < M.n; i++)
					if (M.slots[i].pid)
						kill(M.slots[i].pid, SIGQUIT);
		} else if (!M.stopping) {
			tp_log(TP_LOG_INFO, "%s: stopping %u worker%s", strsignal(sig),
			       live_workers(), live_workers() == 1 ? "" : "s");
			begin_stop(sig);
		}
	}
}

static int poll_timeout(void)
{
	uint64_t now = now_ms(), next = UINT64_MAX;

	if (M.usr1_deadline)
		next = M.usr1_deadline;
	if (M.hup_deadline && M.hup_deadline < next)
		next = M.hup_deadline;
	if (M.stopping && !M.killed && M.stop_deadline < next)
		next = M.stop_deadline;
	if (M.loop_up) {
		int t = uv_backend_timeout(&M.loop);

		if (t >= 0 && now + (uint64_t)t < next)
			next = now + (uint64_t)t;
	}
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

static void run_loop(void)
{
	struct pollfd *pf = M.pf;
	struct slot **ps = M.ps;

	for (;;) {
		nfds_t n = 0;

		reap();
		if (M.stopping && !live_workers())
			break;
		usr1_check();
		hup_check();
		if (M.stopping && !M.killed && now_ms() >= M.stop_deadline) {
			for (unsigned i = 0; i < M.n; i++)
				if (M.slots[i].pid) {
					tp_log(TP_LOG_WARN,
					       "worker %u (pid %d) still running %u s after the "
					       "stop "
					       "signal: SIGKILL",
					       M.slots[i].k, (int)M.slots[i].pid,
					       STOP_GRACE_MS / 1000u);
					kill(M.slots[i].pid, SIGKILL);
				}
			M.killed = true;
		}
		nfds_t uv_at = (nfds_t)-1;

		pf[n].fd = M.sfd;
		pf[n].events = POLLIN;
		ps[n++] = NULL;
		if (M.loop_up) {
			uv_at = n;
			pf[n].fd = uv_backend_fd(&M.loop);
			pf[n].events = POLLIN;
			ps[n++] = NULL;
		}
		for (unsigned i = 0; i < M.n; i++)
			if (M.slots[i].rd >= 0) {
				pf[n].fd = M.slots[i].rd;
				pf[n].events = POLLIN;
				ps[n++] = &M.slots[i];
			}
		if (poll(pf, n, poll_timeout()) < 0 && errno != EINTR) {
			tp_log(TP_LOG_ERROR, "poll: %s", strerror(errno));
			sleep(1);
			continue;
		}
		if (M.loop_up)
			uv_run(&M.loop, UV_RUN_NOWAIT);
		for (nfds_t i = 0; i < n; i++) {
			if (!pf[i].revents || i == uv_at)
				continue;
			if (ps[i])
				read_records(ps[i]);
			else
				on_signals();
		}
	}
}

/* ctl's view of the device's own counters (all queues) */
static int ctl_link(void *ud, uint64_t *txqlen, uint64_t *tx_dropped)
{
	struct tp_nl_link l;
	int ret;

	if (!M.nl)
		return -ENODEV;
	ret = tp_netcfg_read_link(M.nl, M.slots[0].q.ifindex, &l);
	if (ret)
		return ret;
	if (!l.has_txqlen || !l.has_stats)
		return -ENODATA;
	*txqlen = l.txqlen;
	*tx_dropped = l.tx_dropped;
	return 0;
}

/* The control socket and the metrics page on the master's own loop. */
static int ctl_start(const char *tun_name)
{
	struct tp_ctl_source src = {.worker_fds = M.ctl_fds, .n_workers = M.n, .link = ctl_link};
	struct timespec now;
	int ret = uv_loop_init(&M.loop);

	if (clock_gettime(CLOCK_REALTIME, &now) == 0)
		src.start_time = (double)now.tv_sec;

	if (ret) {
		fprintf(stderr, "tunplug: event loop: %s\n", uv_strerror(ret));
		return ret;
	}
	M.loop_up = true;
	tp_ctl_init(&M.ctl, &M.loop, &src);
	ret = tp_ctl_listen(&M.ctl, M.opt->control, tun_name);
	if (!ret)
		ret = tp_ctl_metrics_listen(&M.ctl, M.opt->metrics);
	return ret;
}

static void ctl_stop(void)
{
	if (!M.loop_up)
		return;
	tp_ctl_stop(&M.ctl);
	uv_run(&M.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&M.loop) == UV_EBUSY)
		tp_log(TP_LOG_WARN, "control loop still has open handles at exit");
	tp_ctl_close(&M.ctl);
	M.loop_up = false;
}

int tp_master_run(const struct tp_options *opt, unsigned n)
{
	struct tp_tun *q = NULL;
	sigset_t set;
	int ret;

	memset(&M, 0, sizeof(M));
	M.opt = opt;
	tp_notify_init(&M.ntf);
	M.n = n;
	M.pid = getpid();
	M.sfd = -1;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &M.oldmask);
	M.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	M.slots = calloc(n, sizeof(*M.slots));
	q = calloc(n, sizeof(*q));
	M.pf = calloc(n + 2, sizeof(*M.pf));
	M.ps = calloc(n + 2, sizeof(struct slot *));
	M.ctl_fds = calloc(n, sizeof(int));
	for (unsigned i = 0; M.slots && i < n; i++) {
		M.slots[i].k = i + 1;
		M.slots[i].q.fd = -1;
		M.slots[i].rd = -1;
		M.slots[i].ctl = -1;
		if (M.ctl_fds)
			M.ctl_fds[i] = -1;
	}
	if (M.sfd < 0 || !M.slots || !q || !M.pf || !M.ps || !M.ctl_fds) {
		fprintf(stderr, "tunplug: %s\n", M.sfd < 0 ? "signalfd failed" : "out of memory");
		ret = 1;
		goto out;
	}
	ret = tp_tun_open_mq(opt->tun_name, opt->no_offload ? TP_TUN_NO_OFFLOAD : 0, n, q);
	if (ret) {
		fprintf(stderr, "tunplug: tun: open %s with %u queues: %s\n", opt->tun_name, n,
		        strerror(-ret));
		ret = 1;
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		M.slots[i].q = q[i];
	tp_log(TP_LOG_INFO, "tun %s: %u queues (IFF_MULTI_QUEUE)%s", q[0].name, n,
	       q[0].vnet ? ", vnet header" : "");
	ret = tp_netcfg_setup(&M.nl, q[0].ifindex, opt) ? 1 : 0;
	if (!ret && tp_names_pool_create(opt, &M.pool))
		ret = 1;
	if (!ret)
		ret = ctl_start(q[0].name) ? 1 : 0;
	for (unsigned i = 0; !ret && i < n; i++)
		if (start_worker(&M.slots[i])) {
			M.status = 1;
			begin_stop(SIGTERM);
			break;
		}
	if (!ret)
		run_loop();
	ctl_stop();
	if (!ret && M.started)
		print_total("");
	if (!ret)
		ret = M.status;
	if (M.nl) {
		int r = tp_nl_undo(M.nl);

		if (r) {
			fprintf(stderr, "tunplug: netlink: undo %s: %s\n", tp_nl_last_op(M.nl),
			        strerror(-r));
			ret = 1;
		}
		tp_nl_close(M.nl);
		M.nl = NULL;
	}
out:
	for (unsigned i = 0; M.slots && i < n; i++)
		tp_tun_close(&M.slots[i].q);
	if (M.sfd >= 0)
		close(M.sfd);
	tp_fakepool_unmap(M.pool);
	M.pool = NULL;
	sigprocmask(SIG_SETMASK, &M.oldmask, NULL);
	ctl_stop();
	for (unsigned i = 0; M.slots && i < n; i++)
		if (M.slots[i].ctl >= 0)
			close(M.slots[i].ctl);
	free(M.slots);
	free(M.ctl_fds);
	M.ctl_fds = NULL;
	free(M.pf);
	free(M.ps);
	free(q);
	M.slots = NULL;
	mreload_free(M.hup_next);
	mreload_free(M.cur);
	M.hup_next = M.cur = NULL;
	M.opt = opt;
	tp_notify_close(&M.ntf);
	return ret;
}
