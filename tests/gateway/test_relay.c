/* SPDX-License-Identifier: MIT */
/* tunplug — tests of the relay itself (gateway/src/relay/, udp/): the host
 * side of the handler ABI driven with a fake stack (fakestack.h) and a real
 * libuv loop, no root, no lwIP, no tun.
 *
 * The pieces are the gateway's own: the registry (with the test handler
 * table below added by tp_registry_add_table), dispatch, the relay and the
 * UDP flow services, wired as gateway.c wires them. The test plays the
 * stack (it hands flows to tp_relay_tcp_syn / tp_udpflow_new and fires
 * their events), the client (bytes, FIN, ACKs, RST) and the handler (its
 * callbacks record what happens; the test calls the host services as a
 * handler would). Upstreams are real sockets: one end of a
 * socketpair(AF_UNIX) in a malloc'd uv_pipe_t spliced to the flow, the
 * other end read and written by the test with plain syscalls (a "peer").
 * The loop only ever runs with UV_RUN_NOWAIT, a bounded number of times.
 *
 * After every case (the fixture's teardown): no flow is left allocated,
 * the handler's flow_close ran exactly once for every flow it took and
 * never from inside a host->* call, the relay made no call on a flow the
 * stack had freed, and the loop closes with no handle left. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "dispatch/dispatch.h"
#include "fakestack.h"
#include "relayenv.h"
#include "udp/udpflow.h"
#include "harness.h"
#include "log.h"
#include "quicinit.h"
#include "registry/registry.h"
#include "relay/relay.h"
#include "stats/stats.h"

#define TEST_HANDLER "relaytest"
#define SPIN_MAX RELAY_SPIN_MAX /* loop iterations a wait may take */

/* ---- the test's end of an upstream socket ---- */

struct peer {
	int fd;      /* -1: none */
	uint8_t *in; /* every byte read */
	size_t in_len, in_cap;
	bool eof;  /* read returned 0 */
	int error; /* errno of a failed read (ECONNRESET) */
};

static void peer_init(struct peer *p, int fd)
{
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	if (fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Read what is there, at most max bytes. Returns bytes read. */
static size_t peer_pull(struct peer *p, size_t max)
{
	size_t got = 0;

	while (p->fd >= 0 && !p->eof && !p->error && got < max) {
		size_t want = max - got < 65536 ? max - got : 65536;
		ssize_t n;

		if (p->in_len + want > p->in_cap) {
			size_t cap = p->in_cap ? p->in_cap : 65536;
			uint8_t *b;

			while (cap < p->in_len + want)
				cap *= 2;
			b = realloc(p->in, cap);
			if (!b)
				abort();
			p->in = b;
			p->in_cap = cap;
		}
		n = read(p->fd, p->in + p->in_len, want);
		if (n > 0) {
			p->in_len += (size_t)n;
			got += (size_t)n;
		} else if (n == 0) {
			p->eof = true;
		} else if (errno != EAGAIN && errno != EINTR) {
			p->error = errno;
		} else {
			break;
		}
	}
	return got;
}

/* Write what the socket takes now. Returns bytes written. */
static size_t peer_push(struct peer *p, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(p->fd, buf + done, len - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return done;
}

static void peer_close(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->in);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

/* Bytes waiting to be read on fd (any socket, also the relay's end). */
static size_t inq(int fd)
{
	int n = 0;

	if (ioctl(fd, FIONREAD, &n) != 0)
		return (size_t)-1;
	return (size_t)n;
}

/* Test data: byte i of stream `seed`. */
static uint8_t pat(size_t i, unsigned seed)
{
	return (uint8_t)((i * 131u + seed * 29u) ^ (i >> 9));
}

static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *b = malloc(len ? len : 1);

	if (!b)
		abort();
	for (size_t i = 0; i < len; i++)
		b[i] = pat(i, seed);
	return b;
}

/* Index of the first byte of got[0..len) that is not stream seed's, or len. */
static size_t mismatch(const uint8_t *got, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (got[i] != pat(i, seed))
			return i;
	return len;
}

/* ---- the test handler ---- */

enum th_mode {
	TH_SPLICE, /* tcp_accept: a socketpair upstream, flow_splice, TP_OK */
	TH_CONNECT, /* tcp_accept: connect a pipe to th.path, TP_PENDING; decide + splice on connect */
	TH_IO,      /* tcp_accept: flow_read_start, TP_OK */
	TH_PENDING, /* tcp_accept: TP_PENDING; the test decides as the handler */
	TH_REFUSE,  /* tcp_accept: -ECONNREFUSED */
	TH_DECLINE, /* tcp_accept: TP_DECLINED */
};

/* One flow the handler took (tcp_accept/first datagram answered other than
 * TP_DECLINED); found again through host->flow_get_data. */
struct th_flow {
	struct tp_flow *f;
	unsigned closes;        /* flow_close calls */
	unsigned close_in_host; /* ... made from inside a host->* call */
	int close_err;
	struct peer peer; /* the upstream's other end (TH_SPLICE; TH_CONNECT: the test's) */
	int relay_fd;     /* the relay's end of the upstream, -1 */
	/* TH_CONNECT */
	uv_pipe_t *conn; /* connecting, not yet spliced */
	uv_connect_t creq;
	bool conn_cb, conn_closed;
	int conn_status;
	/* TH_IO */
	size_t budget; /* on_data takes at most this many more bytes (SIZE_MAX: all) */
	uint8_t *got;
	size_t got_len, got_cap;
	unsigned eofs;      /* on_data(NULL, 0) */
	unsigned writable;  /* on_writable calls */
	const uint8_t *out; /* what on_writable writes (borrowed) */
	size_t out_len, out_off;
	/* UDP */
	unsigned dgrams;
};

#define TH_MAX_FLOWS 16

static struct {
	const struct tp_host *host;
	unsigned inits, finis;
	enum th_mode mode;
	int sndbuf;          /* TH_SPLICE: SO_SNDBUF of the relay's end (0: default) */
	const char *path;    /* TH_CONNECT: a listening unix socket */
	unsigned host_depth; /* > 0 while "the handler" is inside a host->* call */
	struct th_flow flows[TH_MAX_FLOWS];
	size_t n;
	unsigned stray_closes; /* flow_close for a flow the handler never took */
	/* udp_datagram's answers, in order (then TP_OK) */
	int udp_answer[8];
	size_t n_udp_answers, udp_calls;
} th;

static struct th_flow *th_new(struct tp_flow *f)
{
	struct th_flow *r;

	if (th.n == TH_MAX_FLOWS)
		return NULL;
	r = &th.flows[th.n++];
	memset(r, 0, sizeof(*r));
	r->f = f;
	r->peer.fd = -1;
	r->relay_fd = -1;
	r->budget = SIZE_MAX;
	th.host->flow_set_data(f, r);
	return r;
}

static struct th_flow *th_of(const struct tp_flow *f)
{
	return th.host->flow_get_data(f);
}

/* The host services, called as the handler would, counted as "inside". */
static void th_decide(struct tp_flow *f, int err)
{
	th.host_depth++;
	th.host->flow_decide(f, err);
	th.host_depth--;
}

static int th_splice(struct tp_flow *f, uv_stream_t *s)
{
	int r;

	th.host_depth++;
	r = th.host->flow_splice(f, s);
	th.host_depth--;
	return r;
}

static void th_close(struct tp_flow *f, bool abort)
{
	th.host_depth++;
	th.host->flow_close(f, abort);
	th.host_depth--;
}

static void th_resume(struct tp_flow *f)
{
	th.host_depth++;
	th.host->flow_resume(f);
	th.host_depth--;
}

static long th_write(struct tp_flow *f, const void *buf, size_t len)
{
	long n;

	th.host_depth++;
	n = th.host->flow_write(f, buf, len);
	th.host_depth--;
	return n;
}

static void th_shutdown(struct tp_flow *f)
{
	th.host_depth++;
	th.host->flow_shutdown(f);
	th.host_depth--;
}

static int th_udp_send(struct tp_flow *f, const void *buf, size_t len)
{
	int r;

	th.host_depth++;
	r = th.host->udp_send(f, buf, len);
	th.host_depth--;
	return r;
}

static int th_udp_send_from(struct tp_flow *f, const struct sockaddr *from, const void *buf,
                            size_t len)
{
	int r;

	th.host_depth++;
	r = th.host->udp_send_from(f, from, buf, len);
	th.host_depth--;
	return r;
}

/* do-it-yourself I/O */
static size_t th_on_data(struct tp_flow *f, void *ud, const void *buf, size_t len)
{
	struct th_flow *r = ud;
	size_t take = len < r->budget ? len : r->budget;

	(void)f;
	if (!len) {
		r->eofs++;
		return 0;
	}
	if (r->got_len + take > r->got_cap) {
		size_t cap = r->got_cap ? r->got_cap : 4096;
		uint8_t *b;

		while (cap < r->got_len + take)
			cap *= 2;
		b = realloc(r->got, cap);
		if (!b)
			abort();
		r->got = b;
		r->got_cap = cap;
	}
	memcpy(r->got + r->got_len, buf, take);
	r->got_len += take;
	if (r->budget != SIZE_MAX)
		r->budget -= take;
	return take;
}

static void th_on_writable(struct tp_flow *f, void *ud)
{
	struct th_flow *r = ud;

	r->writable++;
	if (r->out_off < r->out_len) {
		long n = th_write(f, r->out + r->out_off, r->out_len - r->out_off);

		if (n > 0)
			r->out_off += (size_t)n;
	}
}

static const struct tp_flow_io th_io = {
        .on_data = th_on_data,
        .on_writable = th_on_writable,
};

/* A socketpair upstream: [0] in a malloc'd uv_pipe_t (the relay's), [1]
 * the peer's. */
static uv_stream_t *th_upstream(struct th_flow *r)
{
	int sv[2];
	uv_pipe_t *p;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return NULL;
	if (th.sndbuf)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &th.sndbuf, sizeof(th.sndbuf));
	p = malloc(sizeof(*p));
	if (!p || uv_pipe_init(th.host->loop, p, 0) != 0) {
		free(p);
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	uv_pipe_open(p, sv[0]);
	r->relay_fd = sv[0];
	peer_init(&r->peer, sv[1]);
	return (uv_stream_t *)p;
}

static void th_conn_closed(uv_handle_t *h)
{
	struct th_flow *r = h->data;

	r->conn_closed = true;
	free(h);
}

static void th_on_connect(uv_connect_t *req, int status)
{
	struct th_flow *r = req->data;
	uv_pipe_t *p = r->conn;

	r->conn_cb = true;
	r->conn_status = status;
	if (status == UV_ECANCELED)
		return; /* flow_close came first and closed the pipe */
	if (status < 0) {
		th_decide(r->f, status);
		return; /* the pipe goes in flow_close */
	}
	r->conn = NULL;
	uv_fileno((uv_handle_t *)p, &r->relay_fd);
	th_decide(r->f, 0);
	th_splice(r->f, (uv_stream_t *)p);
}

static int th_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	(void)args;
	th.host = host;
	th.inits++;
	*state = &th;
	return 0;
}

static void th_fini(void *state)
{
	(void)state;
	th.finis++;
}

static int th_tcp_accept(void *state, struct tp_flow *f)
{
	struct th_flow *r;
	uv_stream_t *up;

	(void)state;
	if (th.mode == TH_DECLINE)
		return TP_DECLINED;
	r = th_new(f);
	if (!r)
		return -ENOMEM;
	switch (th.mode) {
	case TH_SPLICE:
		up = th_upstream(r);
		if (!up)
			return -ENOMEM;
		return th_splice(f, up) ? -EIO : TP_OK;
	case TH_CONNECT:
		r->conn = malloc(sizeof(*r->conn));
		if (!r->conn || uv_pipe_init(th.host->loop, r->conn, 0) != 0) {
			free(r->conn);
			r->conn = NULL;
			return -ENOMEM;
		}
		r->conn->data = r;
		r->creq.data = r;
		uv_pipe_connect(&r->creq, r->conn, th.path, th_on_connect);
		return TP_PENDING;
	case TH_IO:
		th.host_depth++;
		th.host->flow_read_start(f, &th_io, r);
		th.host_depth--;
		return TP_OK;
	case TH_REFUSE:
		return -ECONNREFUSED;
	default:
		return TP_PENDING;
	}
}

static void th_flow_close(void *state, struct tp_flow *f, int err)
{
	struct th_flow *r = th_of(f);

	(void)state;
	if (!r) {
		th.stray_closes++;
		return;
	}
	r->closes++;
	r->close_err = err;
	if (th.host_depth)
		r->close_in_host++;
	if (r->conn) {
		uv_close((uv_handle_t *)r->conn, th_conn_closed);
		r->conn = NULL;
	}
}

static int th_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	struct th_flow *r = th_of(f);
	int answer = th.udp_calls < th.n_udp_answers ? th.udp_answer[th.udp_calls] : TP_OK;

	(void)state;
	(void)buf;
	(void)len;
	th.udp_calls++;
	if (!r && answer != TP_DECLINED)
		r = th_new(f);
	if (r)
		r->dgrams++;
	return answer;
}

static const struct tp_handler th_table = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = TEST_HANDLER,
        .init = th_init,
        .tcp_accept = th_tcp_accept,
        .flow_close = th_flow_close,
        .fini = th_fini,
        .udp_datagram = th_udp_datagram,
};

/* ---- the gateway's rooms around the relay, as gateway.c wires them ---- */

static struct {
	struct relay_env r;
	int lfd; /* TH_CONNECT's listening socket, -1 */
	char dir[64], path[96];
} env;

static void spin(int n)
{
	relay_env_spin(&env.r, n);
}

/* Run the loop until cond holds (at most RELAY_SPIN_MAX iterations). */
#define SPIN_UNTIL(cond) RELAY_SPIN_UNTIL(&env.r, cond)

static bool env_up(size_t flow_buffer)
{
	int ret;

	relay_env_init(&env.r);
	ret = tp_registry_add_table(&env.r.reg, &th_table);
	CHECK_EQ(ret, 0, "tp_registry_add_table");
	if (ret || !relay_env_up(&env.r, TEST_HANDLER, flow_buffer, NULL))
		return false;
	CHECK_EQ(th.inits, 1, "handler init calls");
	return true;
}

static int listen_unix(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	snprintf(env.dir, sizeof(env.dir), "/tmp/tp-relaytest-XXXXXX");
	if (!mkdtemp(env.dir))
		return -1;
	snprintf(env.path, sizeof(env.path), "%s/up", env.dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", env.path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 8) != 0) {
		close(fd);
		return -1;
	}
	env.lfd = fd;
	th.path = env.path;
	return fd;
}

static void setup(void)
{
	memset(&th, 0, sizeof(th));
	memset(&env, 0, sizeof(env));
	env.lfd = -1;
	signal(SIGPIPE, SIG_IGN);       /* as tunplug: a write to a closed socket is EPIPE */
	tp_log_set_level(TP_LOG_DEBUG); /* the debug paths (flow strings) run too */
}

/* The checks every case ends with, then everything undone. */
static void teardown(void)
{
	bool up = env.r.up;

	if (up) {
		spin(20);
		CHECK_EQ(tp_relay_flow_count(&env.r.rel), 0, "flows still allocated at the end");
		for (size_t i = 0; i < th.n; i++) {
			CHECK(th.flows[i].closes == 1, "flow %zu: handler flow_close ran %u times",
			      i, th.flows[i].closes);
			CHECK(th.flows[i].close_in_host == 0,
			      "flow %zu: flow_close from inside a host->* call", i);
		}
		CHECK_EQ(th.stray_closes, 0, "flow_close for a flow the handler never took");
	}
	/* as gw_stop and gw_fini: whatever a failed case left */
	relay_env_down(&env.r);
	if (up)
		CHECK_EQ(th.finis, 1, "handler fini calls");
	for (size_t i = 0; i < th.n; i++) {
		peer_close(&th.flows[i].peer);
		free(th.flows[i].got);
	}
	if (env.lfd >= 0) {
		close(env.lfd);
		unlink(env.path);
		rmdir(env.dir);
	}
	memset(&th, 0, sizeof(th));
}

TP_TEST_FIXTURE(setup, teardown);

/* A TCP flow handed to the relay as the stack would (SYN): ports differ per
 * call. */
static struct tp_tcp_flow *syn(size_t space)
{
	static uint16_t port = 40000;
	struct tp_tcp_flow *tf = fake_tcp_new("198.18.0.1", port++, "198.19.0.1", 80, space);

	if (tf)
		tp_relay_tcp_syn(&env.r.rel, tf);
	return tf;
}

/* The last flow the handler took. */
static struct th_flow *last_flow(void)
{
	return th.n ? &th.flows[th.n - 1] : NULL;
}

/* A spliced, established flow (TH_SPLICE) with send space `space`. */
static struct th_flow *spliced(struct tp_tcp_flow **tfp, size_t space)
{
	struct tp_tcp_flow *tf;
	struct th_flow *r;

	th.mode = TH_SPLICE;
	tf = syn(space);
	r = last_flow();
	CHECK(tf && r && r->peer.fd >= 0, "the handler spliced a socketpair");
	if (!tf || !r)
		return NULL;
	CHECK_EQ(tf->accepts, 1, "TP_OK accepted the flow");
	fake_tcp_established(tf);
	*tfp = tf;
	return r;
}

/* End a flow the case is done with: the handler aborts it. */
static void abort_flow(struct th_flow *r)
{
	if (r->closes)
		return;
	th_close(r->f, true);
	SPIN_UNTIL(r->closes);
}

/* ---- cases ---- */

/* Client -> upstream: the relay writes straight from the stack's queue and
 * consumes (opens the client's window) only once the upstream took the
 * bytes; with a peer that does not read, the queue stays in the stack. */
TP_TEST(splice_upload_backpressure)
{
	const size_t total = 256 * 1024;
	uint8_t *data = pattern(total, 1);
	struct tp_tcp_flow *tf;
	struct th_flow *r;
	bool held = true;

	th.sndbuf = 4096; /* few bytes in flight in the socketpair */
	if (!env_up(262144))
		goto out;
	r = spliced(&tf, 1 << 20);
	if (!r)
		goto out;
	fake_tcp_client_send(tf, data, total, 1460);
	CHECK_EQ(tf->consumed, 0, "consumed before any upstream write completed");
	spin(100);
	CHECK(tf->consumed < total && tf->rx_bytes == total - tf->consumed,
	      "peer not reading: %zu of %zu consumed, %zu queued", tf->consumed, total,
	      tf->rx_bytes);
	CHECK(tf->consumed <= r->peer.in_len + inq(r->peer.fd),
	      "consumed %zu, only %zu reached the upstream", tf->consumed, inq(r->peer.fd));
	OK("a peer that does not read holds the bytes in the stack's queue");

	for (int i = 0; i < 100000 && r->peer.in_len < total; i++) {
		peer_pull(&r->peer, 3000);
		spin(1);
		if (tf->consumed > r->peer.in_len + inq(r->peer.fd))
			held = false;
	}
	CHECK(held, "bytes were consumed from the stack before the upstream took them");
	CHECK_EQ(r->peer.in_len, total, "bytes at the upstream");
	CHECK_EQ(mismatch(r->peer.in, r->peer.in_len, 1), r->peer.in_len,
	         "first wrong byte at the upstream");
	CHECK_EQ(tf->consumed, total, "consumed");
	CHECK_EQ(tf->rx_bytes, 0, "still queued");
	CHECK_EQ(env.r.st.bytes_up, total, "bytes_up counter");
	OK("reading at the peer moves every byte, in order, consumed only behind it");
	abort_flow(r);
out:
	free(data);
}

/* Upstream -> client: the relay reads from the upstream only as much as
 * the client's send space takes; at 0 it stops reading (the bytes stay in
 * the upstream socket) and `writable` resumes it. */
TP_TEST(splice_download_backpressure)
{
	const size_t total = 10000;
	uint8_t *data = pattern(total, 2);
	struct tp_tcp_flow *tf;
	struct th_flow *r;
	bool stepped = true;

	if (!env_up(262144))
		goto out;
	r = spliced(&tf, 0);
	if (!r)
		goto out;
	CHECK_EQ(peer_push(&r->peer, data, total), total, "peer wrote");
	spin(50);
	CHECK_EQ(tf->sent_len, 0, "sent with no send space");
	CHECK_EQ(inq(r->relay_fd), total, "left unread in the upstream socket");
	OK("no send space: nothing read from the upstream");

	fake_tcp_set_space(tf, 1000, true);
	spin(50);
	CHECK_EQ(tf->sent_len, 1000, "sent after writable with 1000 bytes of space");
	CHECK_EQ(inq(r->relay_fd), total - 1000, "left in the upstream socket");
	for (int k = 2; k <= 10; k++) {
		fake_tcp_ack(tf, 1000);
		spin(50);
		if (tf->sent_len != (size_t)k * 1000 || inq(r->relay_fd) != total - tf->sent_len)
			stepped = false;
	}
	CHECK(stepped, "each ACK of 1000 moved exactly 1000 bytes (now %zu sent)", tf->sent_len);
	CHECK_EQ(tf->sent_len, total, "sent");
	CHECK_EQ(mismatch(tf->sent, tf->sent_len, 2), tf->sent_len, "first wrong byte sent");
	CHECK_EQ(env.r.st.bytes_down, total, "bytes_down counter");
	OK("every writable reads only what fits, in order");
	abort_flow(r);
out:
	free(data);
}

/* The stack takes fewer bytes than the space it reported (lwIP's queue
 * limit): the leftover is kept, sent first on `writable`, and nothing more
 * is read from the upstream meanwhile. */
TP_TEST(splice_download_rest)
{
	const size_t total = 10000;
	uint8_t *data = pattern(total, 3);
	struct tp_tcp_flow *tf;
	struct th_flow *r;

	if (!env_up(262144))
		goto out;
	r = spliced(&tf, 0);
	if (!r)
		goto out;
	tf->short_send = 1000;
	fake_tcp_set_space(tf, 4000, true);
	CHECK_EQ(peer_push(&r->peer, data, total), total, "peer wrote");
	spin(50);
	CHECK_EQ(tf->sent_len, 1000, "sent by the short send");
	CHECK_EQ(inq(r->relay_fd), total - 4000, "left in the upstream socket (4000 read)");
	OK("a short send keeps 3000 bytes and stops reading");

	fake_tcp_set_space(tf, 1000, true);
	spin(50);
	CHECK_EQ(tf->sent_len, 2000, "sent after writable with 1000 bytes of space");
	CHECK_EQ(inq(r->relay_fd), total - 4000, "read while a leftover was pending");
	fake_tcp_set_space(tf, 2500, true);
	spin(50);
	CHECK_EQ(tf->sent_len, 4500, "sent: the leftover's 2000, then 500 read anew");
	CHECK_EQ(inq(r->relay_fd), total - 4500, "left in the upstream socket");
	OK("the leftover goes first, in pieces, then reading resumes");

	for (int i = 0; i < 20 && tf->sent_len < total; i++) {
		fake_tcp_ack(tf, tf->unacked);
		spin(20);
	}
	CHECK_EQ(tf->sent_len, total, "sent");
	CHECK_EQ(mismatch(tf->sent, tf->sent_len, 3), tf->sent_len, "first wrong byte sent");
	CHECK_EQ(env.r.st.bytes_down, total, "bytes_down counter");
	OK("every byte reaches the client once, in order");
	abort_flow(r);
out:
	free(data);
}

/* Move `total` upstream bytes to a client that ACKs only when the relay
 * has stopped, in steps of `ack`; returns the bytes sent. */
static size_t drain_acking(struct tp_tcp_flow *tf, struct th_flow *r, const uint8_t *data,
                           size_t total, size_t *pushed, size_t ack)
{
	size_t last = (size_t)-1;

	for (int i = 0; i < 100000 && tf->sent_len < total; i++) {
		*pushed += peer_push(&r->peer, data + *pushed, total - *pushed);
		spin(2);
		if (tf->sent_len == last)
			fake_tcp_ack(tf, ack); /* stalled: the client ACKs some */
		last = tf->sent_len;
	}
	return tf->sent_len;
}

/* --flow-buffer N: a client that does not ACK never has more than N bytes
 * outstanding toward it, whatever the stack's send space; ACKs resume the
 * relay. Here N = 4096, below the relay's 64 KiB read buffer. */
TP_TEST(flow_buffer_small)
{
	const size_t n = 4096, total = 65536;
	uint8_t *data = pattern(total, 4);
	struct tp_tcp_flow *tf;
	struct th_flow *r;
	size_t pushed = 0;

	if (!env_up(n))
		goto out;
	r = spliced(&tf, 1 << 20);
	if (!r)
		goto out;
	pushed = peer_push(&r->peer, data, total);
	spin(100);
	CHECK_EQ(tf->sent_len, n, "sent to a client that has not ACKed");
	CHECK_EQ(tf->unacked, n, "unacked");
	CHECK_EQ(inq(r->relay_fd), pushed - n, "left in the upstream socket");
	OK("the relay stops at --flow-buffer with 1 MiB of send space");

	fake_tcp_ack(tf, 1000);
	spin(50);
	CHECK_EQ(tf->sent_len, n + 1000, "sent after an ACK of 1000");
	CHECK_EQ(tf->unacked, n, "unacked");
	drain_acking(tf, r, data, total, &pushed, 1500);
	CHECK_EQ(tf->sent_len, total, "sent");
	CHECK(tf->max_unacked <= n, "%zu bytes unacked at one point, --flow-buffer %zu",
	      tf->max_unacked, n);
	CHECK_EQ(mismatch(tf->sent, tf->sent_len, 4), tf->sent_len, "first wrong byte sent");
	OK("ACKs resume it; never more than %zu bytes unacked", n);
	abort_flow(r);
out:
	free(data);
}

/* The same with N = 160 KiB, above the 64 KiB read buffer: the bound is N
 * (the relay fills it exactly), not the read buffer, not the send space. */
TP_TEST(flow_buffer_large)
{
	const size_t n = 160 * 1024, total = 512 * 1024;
	uint8_t *data = pattern(total, 5);
	struct tp_tcp_flow *tf;
	struct th_flow *r;
	size_t pushed = 0, last = (size_t)-1;

	if (!env_up(n))
		goto out;
	r = spliced(&tf, 1 << 20);
	if (!r)
		goto out;
	/* feed the upstream until the relay stops taking */
	for (int i = 0; i < 100000 && tf->sent_len != last; i++) {
		last = tf->sent_len;
		pushed += peer_push(&r->peer, data + pushed, total - pushed);
		spin(5);
	}
	CHECK_EQ(tf->unacked, n, "unacked when the relay stopped");
	CHECK(pushed > n, "the peer had more to give (%zu pushed)", pushed);
	OK("the relay stops at --flow-buffer = 160 KiB exactly");

	drain_acking(tf, r, data, total, &pushed, 48 * 1024);
	CHECK_EQ(tf->sent_len, total, "sent");
	CHECK(tf->max_unacked <= n, "%zu bytes unacked at one point, --flow-buffer %zu",
	      tf->max_unacked, n);
	CHECK_EQ(mismatch(tf->sent, tf->sent_len, 5), tf->sent_len, "first wrong byte sent");
	OK("ACKs resume it; never more than %zu bytes unacked", n);
	abort_flow(r);
out:
	free(data);
}

/* The flow ended cleanly on both sides: the stack's close without RST or
 * error, the handler's flow_close once with 0, nothing left allocated. */
static void check_clean_close(const struct tp_tcp_flow *tf, const struct th_flow *r)
{
	CHECK(tf->closed_fired && !tf->close_abort && tf->closed_err == 0,
	      "clean close (closed %d, abort %d, err %d)", tf->closed_fired, tf->close_abort,
	      tf->closed_err);
	SPIN_UNTIL(r->closes);
	CHECK_EQ(r->closes, 1, "handler flow_close");
	CHECK_EQ(r->close_err, 0, "flow_close err");
	CHECK_EQ(tp_relay_flow_count(&env.r.rel), 0, "flows allocated");
}

/* Client FIN first: its bytes reach the upstream, then the upstream's write
 * side is shut; the upstream answers and ends; the client gets every byte,
 * then FIN, and the flow closes cleanly. */
TP_TEST(halfclose_client_first)
{
	const size_t up = 20000, down = 30000;
	uint8_t *a = pattern(up, 6), *b = pattern(down, 7);
	struct tp_tcp_flow *tf;
	struct th_flow *r;

	if (!env_up(262144))
		goto out;
	r = spliced(&tf, 1 << 20);
	if (!r)
		goto out;
	fake_tcp_client_send(tf, a, up, 1460);
	fake_tcp_client_fin(tf);
	for (int i = 0; i < SPIN_MAX && !r->peer.eof; i++) {
		spin(1);
		peer_pull(&r->peer, SIZE_MAX);
	}
	CHECK(r->peer.eof, "the upstream saw the client's FIN");
	CHECK_EQ(r->peer.in_len, up, "bytes at the upstream before its EOF");
	CHECK_EQ(mismatch(r->peer.in, r->peer.in_len, 6), r->peer.in_len, "first wrong byte");
	CHECK(!tf->closes && !tf->shut_wr && !r->closes, "flow still open toward the client");
	OK("client FIN: bytes, then the upstream's EOF; the other way stays open");

	CHECK_EQ(peer_push(&r->peer, b, down), down, "peer wrote");
	shutdown(r->peer.fd, SHUT_WR);
	SPIN_UNTIL(tf->closed_fired);
	CHECK_EQ(tf->sent_len, down, "bytes to the client");
	CHECK_EQ(mismatch(tf->sent, tf->sent_len, 7), tf->sent_len, "first wrong byte sent");
	CHECK_EQ(tf->shutdowns, 1, "FIN toward the client");
	check_clean_close(tf, r);
	CHECK_EQ(env.r.st.flows_closed, 1, "flows_closed");
	CHECK_EQ(env.r.st.flows_closed_err, 0, "flows_closed_err");
	OK("upstream EOF then: every byte, FIN, clean close, flow freed");
out:
	free(a);
	free(b);
}

/* Upstream EOF first: the client gets its bytes and FIN while it can still
 * send; its later bytes and FIN reach the upstream; then a clean close. */
TP_TEST(halfclose_upstream_first)
{
	const size_t up = 20000, down = 30000;
	uint8_t *a = pattern(up, 8), *b = pattern(down, 9);
	struct tp_tcp_flow *tf;
	struct th_flow *r;

	if (!env_up(262144))
		goto out;
	r = spliced(&tf, 1 << 20);
	if (!r)
		goto out;
	CHECK_EQ(peer_push(&r->peer, b, down), down, "peer wrote");
	shutdown(r->peer.fd, SHUT_WR);
	SPIN_UNTIL(tf->shut_wr);
	CHECK_EQ(tf->sent_len, down, "bytes to the client before FIN");
	CHECK_EQ(mismatch(tf->sent, tf->sent_len, 9), tf->sent_len, "first wrong byte sent");
	CHECK_EQ(tf->shutdowns, 1, "FIN toward the client");
	CHECK(!tf->closes && !r->closes, "flow still open from the client");
	OK("upstream EOF: bytes, then FIN to the client; the other way stays open");

	fake_tcp_client_send(tf, a, up, 1460);
	fake_tcp_client_fin(tf);
	for (int i = 0; i < SPIN_MAX && !(r->peer.eof && tf->closed_fired); i++) {
		spin(1);
		peer_pull(&r->peer, SIZE_MAX);
	}
	CHECK_EQ(r->peer.in_len, up, "bytes at the upstream");
	CHECK_EQ(mismatch(r->peer.in, r->peer.in_len, 8), r->peer.in_len, "first wrong byte");
	CHECK(r->peer.eof, "the upstream saw EOF");
	check_clean_close(tf, r);
	OK("client FIN then: every byte upstream, EOF, clean close, flow freed");
out:
	free(a);
	free(b);
}

/* A handler that splices only after the handshake (as after a proxy's
 * reply): the client's bytes and FIN that arrived meanwhile wait in the
 * stack and go upstream once spliced. */
TP_TEST(splice_after_data)
{
	const size_t up = 5000;
	uint8_t *a = pattern(up, 13);
	struct tp_tcp_flow *tf;
	struct th_flow *r;
	uv_stream_t *s;

	if (!env_up(262144))
		goto out;
	th.mode = TH_PENDING;
	tf = syn(1 << 20);
	r = last_flow();
	if (!tf || !r)
		goto out;
	th_decide(r->f, 0);
	CHECK_EQ(tf->accepts, 1, "flow_decide(0) accepted the flow");
	fake_tcp_established(tf);
	fake_tcp_client_send(tf, a, up, 1460);
	fake_tcp_client_fin(tf);
	spin(10);
	CHECK_EQ(tf->rx_bytes, up, "waiting in the stack before the splice");
	s = th_upstream(r);
	CHECK(s && th_splice(r->f, s) == 0, "flow_splice");
	for (int i = 0; i < SPIN_MAX && !r->peer.eof; i++) {
		spin(1);
		peer_pull(&r->peer, SIZE_MAX);
	}
	CHECK(r->peer.eof && r->peer.in_len == up, "upstream got %zu bytes%s", r->peer.in_len,
	      r->peer.eof ? " and EOF" : "");
	CHECK_EQ(mismatch(r->peer.in, r->peer.in_len, 13), r->peer.in_len, "first wrong byte");
	OK("bytes and FIN from before the splice reach the upstream");

	CHECK_EQ(peer_push(&r->peer, (const uint8_t *)"bye", 3), 3, "peer wrote");
	shutdown(r->peer.fd, SHUT_WR);
	SPIN_UNTIL(r->closes);
	CHECK(tf->sent_len == 3 && !memcmp(tf->sent, "bye", 3), "reply to the client");
	CHECK(tf->closed_fired && !tf->close_abort, "clean close");
	CHECK_EQ(r->close_err, 0, "flow_close err");
	OK("then the reply, FIN and a clean close");
out:
	free(a);
}

/* The client resets its held SYN while the handler connects upstream
 * (TP_PENDING): flow_close comes once, with the error; the handler closes
 * its connecting upstream (its connect is cancelled); the stack flow gets
 * no accept or reject. A second flow whose connect completes is decided,
 * spliced and relayed, then reset by the client. */
TP_TEST(rst_pending_connect)
{
	struct tp_tcp_flow *tf;
	struct th_flow *r;
	struct peer p;
	int fd;

	if (!env_up(262144))
		return;
	CHECK(listen_unix() >= 0, "listening unix socket: %s", strerror(errno));
	if (env.lfd < 0)
		return;
	th.mode = TH_CONNECT;
	tf = syn(1 << 20);
	r = last_flow();
	CHECK(tf && r && r->conn, "the handler connects");
	if (!tf || !r)
		return;
	CHECK(tf->accepts == 0 && tf->rejects == 0, "undecided while connecting");
	fake_tcp_reset(tf, -ECONNRESET);
	CHECK_EQ(r->closes, 1, "handler flow_close after the client's RST");
	CHECK_EQ(r->close_err, -ECONNRESET, "flow_close err");
	CHECK_EQ(env.r.st.flows_refused[TP_REFUSE_CONNRESET], 1, "counted as refused: connreset");
	CHECK_EQ(env.r.st.flows_closed, 0, "not counted as closed (never accepted)");
	SPIN_UNTIL(r->conn_cb && r->conn_closed);
	CHECK(r->conn_cb && r->conn_status == UV_ECANCELED, "connect callback: %s",
	      r->conn_cb ? uv_err_name(r->conn_status) : "never");
	CHECK(r->conn_closed, "the handler's upstream handle closed");
	CHECK(tf->accepts == 0 && tf->rejects == 0, "accept %u reject %u after the RST",
	      tf->accepts, tf->rejects);
	fd = accept(env.lfd, NULL, NULL);
	peer_init(&p, fd);
	for (int i = 0; i < SPIN_MAX && fd >= 0 && !p.eof && !p.error; i++)
		peer_pull(&p, SIZE_MAX);
	CHECK(fd >= 0 && (p.eof || p.error) && p.in_len == 0, "the upstream saw its end");
	peer_close(&p);
	CHECK_EQ(tp_relay_flow_count(&env.r.rel), 0, "flows allocated");
	OK("RST during a pending connect: flow_close(-ECONNRESET) once, upstream closed");

	tf = syn(1 << 20);
	r = last_flow();
	if (!tf || !r)
		return;
	SPIN_UNTIL(r->conn_cb);
	CHECK_EQ(r->conn_status, 0, "connect status");
	CHECK_EQ(tf->accepts, 1, "flow_decide(0) accepted the flow");
	fd = accept(env.lfd, NULL, NULL);
	peer_init(&r->peer, fd);
	fake_tcp_established(tf);
	fake_tcp_client_send(tf, "hello", 5, 0);
	CHECK_EQ(peer_push(&r->peer, (const uint8_t *)"world", 5), 5, "peer wrote");
	for (int i = 0; i < SPIN_MAX && (r->peer.in_len < 5 || tf->sent_len < 5); i++) {
		spin(1);
		peer_pull(&r->peer, SIZE_MAX);
	}
	CHECK(r->peer.in_len == 5 && !memcmp(r->peer.in, "hello", 5), "client bytes upstream");
	CHECK(tf->sent_len == 5 && !memcmp(tf->sent, "world", 5), "upstream bytes to the client");
	fake_tcp_reset(tf, -ECONNRESET);
	for (int i = 0; i < SPIN_MAX && !r->peer.eof && !r->peer.error; i++) {
		spin(1);
		peer_pull(&r->peer, SIZE_MAX);
	}
	CHECK(r->peer.eof || r->peer.error, "the upstream was closed after the client's RST");
	SPIN_UNTIL(r->closes);
	CHECK_EQ(r->close_err, -ECONNRESET, "flow_close err");
	CHECK_EQ(env.r.st.flows_accepted, 1, "flows_accepted");
	OK("a completed connect: decided, spliced, relayed; a RST closes the upstream");
}

/* A RST from the client while an upstream write is outstanding: the
 * upstream is closed at once, the write completes as cancelled and the flow
 * is freed only after it. */
TP_TEST(splice_reset_while_writing)
{
	const size_t total = 256 * 1024;
	uint8_t *data = pattern(total, 10);
	struct tp_tcp_flow *tf;
	struct th_flow *r;

	th.sndbuf = 4096;
	if (!env_up(262144))
		goto out;
	r = spliced(&tf, 1 << 20);
	if (!r)
		goto out;
	fake_tcp_client_send(tf, data, total, 1460);
	spin(20);
	CHECK(tf->consumed < total, "a write is outstanding (%zu consumed)", tf->consumed);
	fake_tcp_reset(tf, -ECONNRESET);
	CHECK_EQ(r->closes, 1, "handler flow_close after the RST");
	CHECK_EQ(r->close_err, -ECONNRESET, "flow_close err");
	for (int i = 0; i < SPIN_MAX && !r->peer.eof && !r->peer.error; i++) {
		spin(1);
		peer_pull(&r->peer, SIZE_MAX);
	}
	CHECK(r->peer.eof || r->peer.error, "the upstream was closed");
	CHECK(r->peer.in_len < total, "the upstream got %zu bytes of %zu", r->peer.in_len, total);
	SPIN_UNTIL(tp_relay_flow_count(&env.r.rel) == 0);
	CHECK_EQ(tp_relay_flow_count(&env.r.rel), 0, "flows allocated");
	CHECK_EQ(env.r.st.flows_closed_err, 1, "flows_closed_err");
	OK("RST with a write outstanding: upstream closed, flow freed after the write");
out:
	free(data);
}

/* The handler's flow_close is never called from inside a host->* call:
 * closes a host call causes are queued and run from the loop, once per
 * flow, for every way a host call can end a flow. */
TP_TEST(flow_close_queued)
{
	struct tp_tcp_flow *tf;
	struct tp_udp_flow *uf;
	struct th_flow *r;
	uv_stream_t *up;

	if (!env_up(262144))
		return;
	th.mode = TH_PENDING;

	/* a pending flow refused with flow_decide */
	tf = syn(1 << 20);
	r = last_flow();
	if (!tf || !r)
		return;
	th_decide(r->f, -ECONNREFUSED);
	CHECK(tf->rejects == 1 && tf->reject_err == -ECONNREFUSED, "rejected (%d)", tf->reject_err);
	CHECK_EQ(r->closes, 0, "flow_close before the loop ran");
	spin(1);
	CHECK_EQ(r->closes, 1, "flow_close from the loop");
	CHECK_EQ(r->close_err, -ECONNREFUSED, "flow_close err");
	CHECK_EQ(env.r.st.flows_refused[TP_REFUSE_CONNREFUSED], 1, "refused: connection refused");
	OK("flow_decide(-ECONNREFUSED): flow_close queued, then once");

	/* a pending flow closed by the handler, twice */
	tf = syn(1 << 20);
	r = last_flow();
	if (!tf || !r)
		return;
	th_close(r->f, true);
	th_close(r->f, false);
	CHECK(tf->rejects == 1 && tf->reject_err == -ECONNRESET, "rejected (%d)", tf->reject_err);
	CHECK_EQ(r->closes, 0, "flow_close before the loop ran");
	spin(1);
	CHECK_EQ(r->closes, 1, "flow_close from the loop");
	OK("flow_close(abort) twice on a pending flow: one reject, one flow_close");

	/* an open, spliced flow closed cleanly by the handler */
	tf = syn(1 << 20);
	r = last_flow();
	if (!tf || !r)
		return;
	th_decide(r->f, 0);
	up = th_upstream(r);
	CHECK(up && th_splice(r->f, up) == 0, "flow_splice");
	fake_tcp_established(tf);
	th_close(r->f, false);
	CHECK(tf->closed_fired && tf->closed_err == 0, "closed(0) inside flow_close");
	CHECK_EQ(r->closes, 0, "flow_close before the loop ran");
	spin(1);
	CHECK_EQ(r->closes, 1, "flow_close from the loop");
	CHECK_EQ(r->close_err, 0, "flow_close err");
	OK("flow_close on an open flow: closed fires inside, flow_close from the loop");

	/* an open flow aborted by the handler */
	tf = syn(1 << 20);
	r = last_flow();
	if (!tf || !r)
		return;
	th_decide(r->f, 0);
	fake_tcp_established(tf);
	th_close(r->f, true);
	CHECK(tf->close_abort, "aborted toward the client");
	CHECK_EQ(r->closes, 0, "flow_close before the loop ran");
	spin(1);
	CHECK_EQ(r->closes, 1, "flow_close from the loop");
	CHECK_EQ(r->close_err, -ECONNABORTED, "flow_close err");
	OK("flow_close(abort) on an open flow: the same, -ECONNABORTED");

	/* tcp_accept answers -ECONNREFUSED */
	th.mode = TH_REFUSE;
	tf = syn(1 << 20);
	r = last_flow();
	if (!tf || !r)
		return;
	CHECK(tf->rejects == 1 && tf->reject_err == -ECONNREFUSED, "rejected (%d)", tf->reject_err);
	CHECK_EQ(r->closes, 1, "flow_close");
	CHECK_EQ(r->close_err, -ECONNREFUSED, "flow_close err");
	OK("tcp_accept -ECONNREFUSED: rejected, flow_close once");

	/* a UDP flow closed by the handler */
	uf = fake_udp_new("198.18.0.1", 5000, "198.19.0.1", 5353);
	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow taken");
	if (!uf)
		return;
	fake_udp_datagram(uf, "q", 1);
	r = last_flow();
	CHECK(r && r->dgrams == 1, "the handler took the UDP flow");
	if (!r)
		return;
	th_close(r->f, false);
	CHECK(uf->closes == 1 && uf->closed_fired, "UDP flow closed");
	CHECK_EQ(r->closes, 0, "flow_close before the loop ran");
	CHECK_EQ(th_udp_send(r->f, "late", 4), -EPIPE, "udp_send between close and flow_close");
	spin(1);
	CHECK_EQ(r->closes, 1, "flow_close from the loop");
	OK("flow_close on a UDP flow: the same");

	CHECK_EQ(tp_relay_flow_count(&env.r.rel), 0, "flows allocated");
	CHECK_EQ(th.n, 6, "flows the handler took");
}

/* flow_decide(f, -errno) hands the errno to the stack as it is (the stack
 * answers by it: RST, ICMP or silence) and counts the refusal by reason;
 * a positive err is a refusal too. */
TP_TEST(decide_errno_reasons)
{
	static const struct {
		int err, want_err;
		enum tp_refuse reason;
	} k[] = {
	        {-ECONNREFUSED, -ECONNREFUSED, TP_REFUSE_CONNREFUSED},
	        {-ECONNRESET, -ECONNRESET, TP_REFUSE_CONNRESET},
	        {-EHOSTUNREACH, -EHOSTUNREACH, TP_REFUSE_HOSTUNREACH},
	        {-EHOSTDOWN, -EHOSTDOWN, TP_REFUSE_HOSTUNREACH},
	        {-ENETUNREACH, -ENETUNREACH, TP_REFUSE_NETUNREACH},
	        {-ENETDOWN, -ENETDOWN, TP_REFUSE_NETUNREACH},
	        {-ETIMEDOUT, -ETIMEDOUT, TP_REFUSE_TIMEDOUT},
	        {-EACCES, -EACCES, TP_REFUSE_PROHIBITED},
	        {-EPERM, -EPERM, TP_REFUSE_PROHIBITED},
	        {-EIO, -EIO, TP_REFUSE_OTHER},
	        {7, -ECONNREFUSED, TP_REFUSE_CONNREFUSED},
	};
	uint64_t want[TP_REFUSE__COUNT] = {0};

	if (!env_up(262144))
		return;
	th.mode = TH_PENDING;
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		struct tp_tcp_flow *tf = syn(1 << 20);
		struct th_flow *r = last_flow();

		if (!tf || !r)
			return;
		th_decide(r->f, k[i].err);
		want[k[i].reason]++;
		CHECK(tf->rejects == 1 && tf->reject_err == k[i].want_err,
		      "flow_decide(%d): the stack got %d, want %d", k[i].err, tf->reject_err,
		      k[i].want_err);
		spin(1);
		CHECK(r->closes == 1 && r->close_err == k[i].want_err,
		      "flow_decide(%d): flow_close %d", k[i].err, r->close_err);
	}
	for (int i = 0; i < TP_REFUSE__COUNT; i++)
		CHECK_EQ(env.r.st.flows_refused[i], want[i], "refusals of one reason");
	OK("flow_decide(-errno): the errno reaches the stack unchanged; counted as connrefused, "
	   "connreset, hostunreach, netunreach, timedout, prohibited or other");
}

/* Handler-owned I/O: a short take in on_data pauses delivery until
 * flow_resume; flow_write taking less than asked leads to on_writable;
 * flow_shutdown sends FIN and, after the client's FIN, the flow closes. */
TP_TEST(io_pause_resume)
{
	const size_t in1 = 3000, in2 = 500, out = 5000;
	uint8_t *a = pattern(in1 + in2, 11), *b = pattern(out, 12);
	struct tp_tcp_flow *tf;
	struct th_flow *r;
	long n;

	if (!env_up(262144))
		goto out;
	th.mode = TH_IO;
	tf = syn(2000);
	r = last_flow();
	if (!tf || !r)
		goto out;
	CHECK_EQ(tf->accepts, 1, "accepted");
	n = th_write(r->f, b, out);
	CHECK_EQ(n, 0, "flow_write before the handshake completed");
	r->out = b;
	r->out_len = out;
	fake_tcp_established(tf);
	CHECK_EQ(r->writable, 1, "on_writable when the handshake completed");
	CHECK_EQ(tf->sent_len, 2000, "written then");
	OK("flow_write before established: 0, then on_writable");

	r->budget = 1000;
	fake_tcp_client_send(tf, a, in1, 1460);
	CHECK_EQ(r->got_len, 1000, "taken by on_data");
	CHECK_EQ(tf->rx_bytes, in1 - 1000, "left in the stack");
	fake_tcp_client_send(tf, a + in1, in2, 0);
	CHECK_EQ(r->got_len, 1000, "delivered while paused");
	CHECK_EQ(tf->rx_bytes, in1 + in2 - 1000, "left in the stack");
	OK("a short take pauses delivery");

	r->budget = SIZE_MAX;
	th_resume(r->f);
	CHECK_EQ(r->got_len, in1 + in2, "delivered after flow_resume");
	CHECK_EQ(mismatch(r->got, r->got_len, 11), r->got_len, "first wrong byte delivered");
	CHECK_EQ(tf->rx_bytes, 0, "left in the stack");
	CHECK_EQ(env.r.st.bytes_up, in1 + in2, "bytes_up counter");
	OK("flow_resume delivers the rest, in order");

	fake_tcp_ack(tf, 2000);
	CHECK_EQ(r->writable, 2, "on_writable after an ACK");
	fake_tcp_ack(tf, 2000);
	CHECK_EQ(r->writable, 3, "on_writable after an ACK");
	CHECK_EQ(tf->sent_len, out, "written");
	CHECK_EQ(mismatch(tf->sent, tf->sent_len, 12), tf->sent_len, "first wrong byte sent");
	fake_tcp_ack(tf, 2000);
	CHECK_EQ(r->writable, 3, "on_writable without a short write");
	OK("short flow_write: on_writable follows each ACK until all is written");

	th_shutdown(r->f);
	CHECK(tf->shut_wr && tf->shutdowns == 1, "FIN toward the client");
	CHECK_EQ(th_write(r->f, "x", 1), -EPIPE, "flow_write after flow_shutdown");
	CHECK(!tf->closes && !r->closes, "still open: the client has not finished");
	fake_tcp_client_fin(tf);
	CHECK_EQ(r->eofs, 1, "end of stream to on_data");
	CHECK(tf->closed_fired && !tf->close_abort && tf->closed_err == 0, "clean close");
	SPIN_UNTIL(r->closes);
	CHECK_EQ(r->closes, 1, "handler flow_close");
	CHECK_EQ(r->close_err, 0, "flow_close err");
	OK("flow_shutdown, then the client's FIN: end of stream, clean close");
out:
	free(a);
	free(b);
}

/* UDP: the first datagram is dispatched; declined, the client gets port
 * unreachable and the flow closes, with no flow_close to a handler that
 * never took it. */
TP_TEST(udp_declined)
{
	struct tp_udp_flow *uf;

	if (!env_up(262144))
		return;
	th.udp_answer[0] = TP_DECLINED;
	th.n_udp_answers = 1;
	uf = fake_udp_new("198.18.0.1", 5000, "198.19.0.1", 53);
	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow taken by the relay");
	if (!uf)
		return;
	CHECK_EQ(tp_relay_flow_count(&env.r.rel), 1, "flows allocated");
	fake_udp_datagram(uf, "query", 5);
	CHECK_EQ(th.udp_calls, 1, "udp_datagram calls");
	CHECK_EQ(uf->unreachables, 1, "ICMP unreachable");
	CHECK_EQ(uf->unreach_err, -ECONNREFUSED, "ICMP kind (port unreachable)");
	CHECK(uf->closes == 1 && uf->closed_fired, "the flow closed");
	CHECK_EQ(th.n, 0, "flows the handler took");
	CHECK_EQ(env.r.st.flows_seen, 1, "flows_seen");
	CHECK_EQ(env.r.st.flows_refused[TP_REFUSE_DECLINED], 1, "refused: declined");
	CHECK_EQ(env.r.st.flows_accepted, 0, "flows_accepted");
	CHECK_EQ(env.r.st.flows_closed, 0, "flows_closed (a refused flow was never accepted)");
	CHECK_EQ(env.r.st.bytes_up, 5, "bytes_up");
	CHECK_EQ(tp_relay_flow_count(&env.r.rel), 0, "flows allocated");
	OK("declined: unreachable, closed, counted, freed");
}

/* UDP: an accepted flow gets later datagrams without dispatch, replies go
 * out from the destination or another address, an -errno answer ends it
 * with that ICMP; the stack's idle expiry ends another. */
TP_TEST(udp_flow)
{
	struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons(5353)};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct tp_udp_flow *uf, *uf2;
	struct th_flow *r, *r2;

	if (!env_up(262144))
		return;
	th.udp_answer[0] = TP_OK;
	th.udp_answer[1] = TP_OK;
	th.udp_answer[2] = -EHOSTUNREACH;
	th.n_udp_answers = 3;
	uf = fake_udp_new("2001:db8::1", 5000, "2001:db8::2", 443);
	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow taken by the relay");
	if (!uf)
		return;
	fake_udp_datagram(uf, "ping", 4);
	r = last_flow();
	CHECK(r && r->dgrams == 1, "the handler took the flow");
	if (!r)
		return;
	CHECK_EQ(env.r.st.flows_accepted, 1, "flows_accepted");
	CHECK_EQ(th_udp_send(r->f, "pong", 4), 0, "udp_send");
	CHECK(uf->sends == 1 && uf->last_len == 4 && !memcmp(uf->last, "pong", 4) &&
	              !uf->last_from_set,
	      "reply from the destination");
	CHECK_EQ(th_udp_send_from(r->f, (const struct sockaddr *)&sun, "x", 1), -EAFNOSUPPORT,
	         "udp_send_from an AF_UNIX address");
	CHECK_EQ(uf->sends, 1, "datagrams to the client");
	fake_udp_datagram(uf, "second", 6);
	CHECK_EQ(r->dgrams, 2, "later datagram to the same handler");
	CHECK_EQ(env.r.st.flows_seen, 1, "flows_seen");
	CHECK_EQ(env.r.st.flows_accepted, 1, "flows_accepted (no second dispatch)");
	fake_udp_datagram(uf, "third", 5);
	CHECK_EQ(uf->unreachables, 1, "ICMP after -EHOSTUNREACH");
	CHECK_EQ(uf->unreach_err, -EHOSTUNREACH, "ICMP kind");
	CHECK(uf->closed_fired, "closed");
	CHECK_EQ(r->closes, 1, "handler flow_close");
	CHECK_EQ(env.r.st.bytes_up, 4 + 6 + 5, "bytes_up");
	CHECK_EQ(env.r.st.bytes_down, 4, "bytes_down");
	OK("later datagrams bypass dispatch; replies; -errno closes with ICMP");

	uf2 = fake_udp_new("198.18.0.1", 5001, "198.19.0.1", 443);
	CHECK(uf2 && tp_udpflow_new(&env.r.rel, uf2) == 0, "udp flow taken by the relay");
	if (!uf2)
		return;
	fake_udp_datagram(uf2, "a", 1);
	r2 = last_flow();
	CHECK(r2 && r2 != r, "the handler took the second flow");
	if (!r2 || r2 == r)
		return;
	inet_pton(AF_INET, "203.0.113.9", &from.sin_addr);
	CHECK_EQ(th_udp_send_from(r2->f, (const struct sockaddr *)&from, "x", 1), 0,
	         "udp_send_from");
	CHECK(uf2->last_from_set && uf2->last_from.port == 5353 &&
	              !memcmp(uf2->last_from.addr, &from.sin_addr, 4),
	      "reply from 203.0.113.9:5353");
	fake_udp_expire(uf2, -ETIMEDOUT);
	CHECK_EQ(r2->closes, 1, "handler flow_close on expiry");
	CHECK_EQ(r2->close_err, -ETIMEDOUT, "flow_close err");
	CHECK_EQ(env.r.st.flows_closed, 2, "flows_closed");
	CHECK_EQ(env.r.st.flows_closed_err, 0, "flows_closed_err (idle is no error)");
	CHECK_EQ(tp_relay_flow_count(&env.r.rel), 0, "flows allocated");
	OK("send_from another address; idle expiry: flow_close(-ETIMEDOUT), not an error");
}

/* ---- sniffing (relay/sniff.c, udp/udpflow.c) ---- */

static struct tp_sniff_cfg sniff_cfg;

/* env_up with --sniff (TCP ports 80 and 443, UDP 443) and timeout_ms. */
static bool sniff_up(unsigned timeout_ms)
{
	if (!env_up(262144))
		return false;
	tp_sniff_cfg_init(&sniff_cfg);
	sniff_cfg.on = true;
	sniff_cfg.timeout_ms = timeout_ms;
	CHECK_EQ(tp_relay_sniff_init(&env.r.rel, &sniff_cfg, false), 0, "tp_relay_sniff_init");
	return true;
}

/* Run the loop, blocking for its timers, until cond (at most n turns). */
#define WAIT_UNTIL(cond, n)                                                \
	do {                                                               \
		for (int wait_i_ = 0; wait_i_ < (n) && !(cond); wait_i_++) \
			uv_run(&env.r.loop, UV_RUN_ONCE);                  \
	} while (0)

/* Pull from r's peer until it holds want bytes (or SPIN_MAX turns). */
static void peer_wait(struct th_flow *r, size_t want)
{
	for (int i = 0; i < SPIN_MAX && r->peer.in_len < want && !r->peer.eof; i++) {
		spin(1);
		peer_pull(&r->peer, SIZE_MAX);
	}
}

/* The name the handler sees, or "". */
static const char *flow_name(const struct th_flow *r, int *source)
{
	const struct tp_flow_info *fi = th.host->flow_info(r->f);

	*source = fi->name_source;
	return fi->name ? fi->name : "";
}

/* HTTP Host: the handshake completes before dispatch; the request in two
 * segments, the second completing the Host line, then dispatch with the
 * name; the upstream gets every byte unchanged (peeked, not consumed). */
TP_TEST(sniff_tcp_http)
{
	static const char req[] = "GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: Example.ORG:8080\r\n"
	                          "Accept: */*\r\n\r\n";
	struct tp_tcp_flow *tf;
	struct th_flow *r;
	size_t cut = 40, n = strlen(req);
	int src = 0;

	if (!sniff_up(5000))
		return;
	th.mode = TH_SPLICE;
	tf = syn(1 << 20);
	if (!tf)
		return;
	CHECK_EQ(tf->accepts, 1, "the handshake completes at once");
	CHECK_EQ(th.n, 0, "not dispatched before the first bytes");
	fake_tcp_established(tf);
	fake_tcp_client_send(tf, req, cut, 7);
	CHECK_EQ(th.n, 0, "half a request: still waiting");
	fake_tcp_client_send(tf, req + cut, n - cut, 0);
	r = last_flow();
	CHECK(r != NULL, "dispatched once the Host line is complete");
	if (!r)
		return;
	CHECK(!strcmp(flow_name(r, &src), "example.org") && src == TP_NAME_SNIFF_HTTP,
	      "name \"%s\" source %d", flow_name(r, &src), src);
	CHECK_EQ(tf->accepts, 1, "accepted once");
	peer_wait(r, n);
	CHECK(r->peer.in_len == n && !memcmp(r->peer.in, req, n), "upstream got %zu of %zu bytes",
	      r->peer.in_len, n);
	CHECK_EQ(env.r.st.sniff_http, 1, "sniff_http");
	CHECK_EQ(env.r.st.flows_accepted, 1, "flows_accepted");
	OK("HTTP Host sniffed, dispatched with the name, the bytes upstream unchanged");
	abort_flow(r);
}

/* Server-first: nothing comes; the deadline dispatches the flow by
 * address, and the server's banner reaches the client. */
TP_TEST(sniff_tcp_timeout)
{
	struct tp_tcp_flow *tf;
	struct th_flow *r;
	int src = -1;

	if (!sniff_up(20))
		return;
	th.mode = TH_SPLICE;
	tf = syn(1 << 20);
	if (!tf)
		return;
	fake_tcp_established(tf);
	WAIT_UNTIL(th.n > 0, 100);
	r = last_flow();
	CHECK(r != NULL, "dispatched when the deadline passed");
	if (!r)
		return;
	CHECK(!*flow_name(r, &src) && src == TP_NAME_NONE, "no name");
	CHECK_EQ(env.r.st.sniff_timeout, 1, "sniff_timeout");
	CHECK_EQ(peer_push(&r->peer, (const uint8_t *)"220 hi\r\n", 8), 8, "banner");
	SPIN_UNTIL(tf->sent_len >= 8);
	CHECK(tf->sent_len == 8 && !memcmp(tf->sent, "220 hi\r\n", 8), "banner to the client");
	OK("server-first: the deadline, then by address; the banner reaches the client");
	abort_flow(r);
}

/* A handler that refuses a sniffed flow (at once, or later through
 * flow_decide): the client, past its handshake, gets a RST; counted as
 * refused and reset, not as closed. */
TP_TEST(sniff_tcp_refused)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
	struct tp_tcp_flow *tf;
	struct th_flow *r;

	if (!sniff_up(5000))
		return;
	th.mode = TH_REFUSE;
	tf = syn(1 << 20);
	if (!tf)
		return;
	fake_tcp_established(tf);
	fake_tcp_client_send(tf, req, strlen(req), 0);
	CHECK(th.n == 1 && tf->closed_fired && tf->close_abort, "RST after the handshake");
	CHECK_EQ(tf->rejects, 0, "no held SYN to reject");
	CHECK_EQ(env.r.st.flows_refused[TP_REFUSE_CONNREFUSED], 1, "refused: connrefused");
	CHECK_EQ(env.r.st.sniff_reset, 1, "sniff_reset");
	CHECK_EQ(env.r.st.flows_closed, 0, "not counted as closed");
	CHECK_EQ(env.r.st.flows_accepted, 0, "not counted as accepted");
	OK("refused at once: RST");

	th.mode = TH_PENDING;
	tf = syn(1 << 20);
	if (!tf)
		return;
	fake_tcp_established(tf);
	fake_tcp_client_send(tf, req, strlen(req), 0);
	r = last_flow();
	CHECK(r && th.n == 2 && !tf->closed_fired, "pending");
	if (!r)
		return;
	th_decide(r->f, -EHOSTUNREACH);
	CHECK(tf->closed_fired && tf->close_abort, "RST after flow_decide(-EHOSTUNREACH)");
	CHECK_EQ(env.r.st.flows_refused[TP_REFUSE_HOSTUNREACH], 1, "refused: hostunreach");
	CHECK_EQ(env.r.st.sniff_reset, 2, "sniff_reset");
	OK("refused later: RST");
}

/* The wait ends early: a FIN before the name (malformed, dispatched), a
 * TLS ClientHello that is no such thing, and a client that resets while
 * waiting (never dispatched, nothing left). */
TP_TEST(sniff_tcp_early_end)
{
	struct tp_tcp_flow *tf;
	struct th_flow *r;

	if (!sniff_up(5000))
		return;
	th.mode = TH_SPLICE;
	tf = syn(1 << 20);
	if (!tf)
		return;
	fake_tcp_established(tf);
	fake_tcp_client_send(tf, "GET / HTTP/1.1\r\n", 16, 0);
	fake_tcp_client_fin(tf);
	r = last_flow();
	CHECK(r != NULL, "dispatched at the FIN");
	CHECK_EQ(env.r.st.sniff_malformed, 1, "sniff_malformed");
	if (r) {
		for (int i = 0; i < SPIN_MAX && !r->peer.eof; i++) {
			spin(1);
			peer_pull(&r->peer, SIZE_MAX);
		}
		CHECK(r->peer.in_len == 16 && r->peer.eof, "the bytes and the FIN upstream");
		abort_flow(r);
	}
	OK("FIN before the name: malformed, dispatched, bytes and FIN upstream");

	tf = syn(1 << 20);
	if (!tf)
		return;
	fake_tcp_established(tf);
	fake_tcp_client_send(tf, "\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00", 10, 0);
	CHECK_EQ(th.n, 2, "not a ClientHello: dispatched");
	CHECK_EQ(env.r.st.sniff_none, 1, "sniff_none");
	if (th.n == 2)
		abort_flow(last_flow());

	tf = syn(1 << 20);
	if (!tf)
		return;
	fake_tcp_established(tf);
	fake_tcp_client_send(tf, "GE", 2, 0);
	fake_tcp_reset(tf, -ECONNRESET);
	CHECK_EQ(th.n, 2, "a client gone while waiting is never dispatched");
	CHECK_EQ(env.r.st.flows_refused[TP_REFUSE_CONNRESET], 1, "counted as refused: connreset");
	CHECK_EQ(env.r.st.flows_closed, 2, "flows_closed: the two dispatched ones only");
	spin(5);
	CHECK_EQ(tp_relay_flow_count(&env.r.rel), 0, "flows allocated");
	OK("not TLS: no name; a reset while waiting: nothing left");
}

/* QUIC: a ClientHello over two datagrams: the first is held, the second
 * completes the name, both reach the handler in order, unchanged; a lone
 * tail is held until the deadline; a datagram that is no QUIC goes at
 * once; a flow that ends while holding frees what it held. */
TP_TEST(sniff_quic_hold)
{
	static uint8_t d1[1200], d2[1200];
	size_t n1, n2;
	struct tp_udp_flow *uf, *ufs[3] = {NULL, NULL, NULL};
	struct th_flow *r;
	int src = 0;

	if (!sniff_up(20))
		return;
	quic_split_hello(d1, &n1, d2, &n2);
	uf = fake_udp_new("198.18.0.1", 6000, "198.19.0.1", 443);
	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow");
	if (!uf)
		return;
	ufs[0] = uf;
	fake_udp_datagram(uf, d1, n1);
	CHECK_EQ(th.udp_calls, 0, "the first datagram is held");
	fake_udp_datagram(uf, d2, n2);
	CHECK_EQ(th.udp_calls, 2, "both delivered once the name is known");
	r = last_flow();
	CHECK(r && !strcmp(flow_name(r, &src), "example.com") && src == TP_NAME_SNIFF_QUIC,
	      "name %s", r ? flow_name(r, &src) : "-");
	CHECK_EQ(env.r.st.bytes_up, n1 + n2, "bytes_up");
	CHECK_EQ(env.r.st.sniff_quic, 1, "sniff_quic");
	CHECK_EQ(env.r.st.flows_accepted, 1, "flows_accepted");
	OK("two datagrams: held, then both delivered with the name");

	uf = fake_udp_new("198.18.0.1", 6001, "198.19.0.1", 443);
	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow");
	if (!uf)
		return;
	ufs[1] = uf;
	fake_udp_datagram(uf, d1, n1);
	CHECK_EQ(th.udp_calls, 2, "the tail alone is held");
	WAIT_UNTIL(th.udp_calls == 3, 100);
	CHECK_EQ(th.udp_calls, 3, "delivered at the deadline");
	CHECK_EQ(env.r.st.sniff_timeout, 1, "sniff_timeout");
	OK("a lone tail: held until the deadline, then delivered");

	uf = fake_udp_new("198.18.0.1", 6002, "198.19.0.1", 443);
	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow");
	if (!uf)
		return;
	ufs[2] = uf;
	fake_udp_datagram(uf, "not quic", 8);
	CHECK_EQ(th.udp_calls, 4, "not QUIC: delivered at once");
	CHECK_EQ(env.r.st.sniff_none, 1, "sniff_none");

	uf = fake_udp_new("198.18.0.1", 6003, "198.19.0.1", 443);
	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow");
	if (!uf)
		return;
	fake_udp_datagram(uf, d1, n1);
	fake_udp_expire(uf, -ETIMEDOUT);
	CHECK_EQ(th.udp_calls, 4, "a flow gone while holding delivers nothing");
	CHECK_EQ(env.r.rel.sniff_quic_live, 0, "no QUIC state left");
	OK("not QUIC: at once; a flow gone while holding: freed");
	for (int i = 0; i < 3; i++)
		fake_udp_expire(ufs[i], -ETIMEDOUT);
}
