/* SPDX-License-Identifier: MIT */
/* tunplug — the direct handler's UDP path (handlers/src/udpconn.c) through
 * the relay, with a fake stack (fakestack.h) and a real libuv loop: the
 * handler's upstream sockets are real UDP sockets on 127.0.0.1 and ::1, the
 * servers are the test's own sockets there. No root.
 *
 * What is checked: datagrams a flow hands over within one loop iteration
 * (as a tun read loop or a split UDP super-packet does) arrive upstream
 * complete and in order, several flows interleaved, in few sendmmsg calls
 * and with UDP_SEGMENT for runs of equal sizes; a send error in the middle
 * of a batch costs only its datagram; a port unreachable reaches the client;
 * a flow closed with datagrams still batched drops them cleanly; replies are
 * read with recvmmsg in batches, and a flooded socket's receive buffer
 * grows. Counts come from the handler's own counters (host->counter_add). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "fakestack.h"
#include "relayenv.h"
#include "udp/udpflow.h"
#include "harness.h"
#include "log.h"
#include "stats/stats.h"

static struct {
	struct relay_env r;
	unsigned protects;
} env;

static int test_protect(const struct tp_host *host, int fd, int family)
{
	(void)host;
	(void)fd;
	(void)family;
	env.protects++;
	return 0;
}

static void spin(int n)
{
	relay_env_spin(&env.r, n);
}

#define SPIN_UNTIL(cond) RELAY_SPIN_UNTIL(&env.r, cond)

static bool env_up(const char *handler)
{
	relay_env_init(&env.r);
	return relay_env_up(&env.r, handler, 262144, test_protect);
}

/* The handler's counter `name` ("direct.udp_sent"), 0 if never added. */
static unsigned long long counter(const char *name)
{
	struct tp_counter c[64];
	size_t n = tp_registry_counters(&env.r.reg, c, 64);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return (unsigned long long)c[i].value;
	return 0;
}

static void setup(void)
{
	memset(&env, 0, sizeof(env));
	signal(SIGPIPE, SIG_IGN);
	tp_log_set_level(TP_LOG_DEBUG);
}

static void teardown(void)
{
	relay_env_down(&env.r);
}

TP_TEST_FIXTURE(setup, teardown);

/* ---- the servers: the test's UDP sockets ---- */

/* A UDP socket bound to an ephemeral port of `host` (127.0.0.1 or ::1),
 * nonblocking, with a large receive buffer; its port in *port. -1 if the
 * family is not available. */
static int server(const char *host, uint16_t *port)
{
	int family = strchr(host, ':') ? AF_INET6 : AF_INET;
	struct sockaddr_storage ss = {0};
	socklen_t sl = sizeof(ss);
	int big = 8 << 20;
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr);
	else
		inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	if (bind(fd, (struct sockaddr *)&ss,
	         family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* A port of host nobody listens on (bound, read, closed). */
static uint16_t closed_port(const char *host)
{
	uint16_t port = 0;
	int fd = server(host, &port);

	if (fd >= 0)
		close(fd);
	return port;
}

/* Datagram k of a test stream: 4 bytes of k, then bytes derived from k and
 * the stream's tag. */
static void fill(uint8_t *buf, size_t len, uint32_t tag, uint32_t k)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(tag * 31 + k * 7 + i);
	if (len >= 4)
		memcpy(buf, &k, 4);
}

/* What the server received, in order: lengths and a check of each. */
struct rx {
	size_t n;
	size_t len[4096];
	uint32_t seq[4096];
	bool ok[4096];
	struct sockaddr_storage from;
};

/* Read every datagram waiting at fd (running the loop meanwhile, until
 * `want` arrived or nothing came for a while); check each against fill()
 * with `tag` and its own sequence number. */
static void drain(int fd, struct rx *rx, size_t want, uint32_t tag)
{
	static uint8_t buf[65536], ref[65536];
	int idle = 0;

	while (rx->n < want && idle < 400) {
		socklen_t sl = sizeof(rx->from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&rx->from, &sl);

		if (n < 0) {
			uv_run(&env.r.loop, UV_RUN_NOWAIT);
			if (++idle % 50 == 0)
				usleep(1000);
			continue;
		}
		idle = 0;
		if (rx->n < 4096) {
			uint32_t k = 0;

			if (n >= 4)
				memcpy(&k, buf, 4);
			fill(ref, (size_t)n, tag, k);
			rx->len[rx->n] = (size_t)n;
			rx->seq[rx->n] = k;
			rx->ok[rx->n] = !memcmp(buf, ref, (size_t)n);
		}
		rx->n++;
	}
}

/* A UDP flow src:sport -> host:port taken by the relay and the handler,
 * with its first datagram (sequence 0, len bytes). */
static struct tp_udp_flow *flow_to(const char *host, uint16_t port, uint16_t sport, uint32_t tag,
                                   size_t len)
{
	bool v6 = strchr(host, ':') != NULL;
	struct tp_udp_flow *uf =
	        fake_udp_new(v6 ? "::1" : "127.0.0.1", sport, v6 ? "::1" : "127.0.0.1", port);
	static uint8_t buf[65536];

	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow taken by the relay");
	if (!uf)
		return NULL;
	fill(buf, len, tag, 0);
	fake_udp_datagram(uf, buf, len);
	CHECK(!uf->closed_fired, "the handler took the flow (first datagram)");
	return uf;
}

static void send_dgram(struct tp_udp_flow *uf, uint32_t tag, uint32_t k, size_t len)
{
	static uint8_t buf[70000];

	fill(buf, len, tag, k);
	fake_udp_datagram(uf, buf, len);
}

/* ---- cases ---- */

/* Datagram k's size in batch_in_order: runs of equal sizes, broken by a
 * shorter one, an empty one, and runs of other sizes (9000 fits lo's MTU,
 * so it goes with UDP_SEGMENT too). */
static size_t len_of(int k)
{
	if (k == 100)
		return 80;
	if (k == 150)
		return 0;
	if (k < 150)
		return 1200;
	if (k < 200)
		return 9000;
	return k < 290 ? 1400 : 700;
}

/* One flow: 300 datagrams within one loop iteration, runs of equal sizes
 * broken by shorter, longer and empty ones; IPv4 and IPv6. */
TP_TEST(batch_in_order)
{
	static const char *const hosts[] = {"127.0.0.1", "::1"};
	static struct rx rx;

	if (!env_up("direct"))
		return;
	for (int h = 0; h < 2; h++) {
		size_t lens[300];
		uint16_t port = 0;
		int fd = server(hosts[h], &port);
		struct tp_udp_flow *uf;
		unsigned long long calls0 = counter("direct.udp_send_calls");
		unsigned long long gso0 = counter("direct.udp_gso_segs");
		bool all_ok = true;

		if (fd < 0) {
			CHECK(h == 1, "a UDP socket on %s", hosts[h]);
			KNOWN(0, "no %s here: IPv6 part skipped", hosts[h]);
			continue;
		}
		for (int k = 0; k < 300; k++)
			lens[k] = len_of(k);
		uf = flow_to(hosts[h], port, (uint16_t)(41000 + h), 1, lens[0]);
		if (!uf) {
			close(fd);
			continue;
		}
		for (uint32_t k = 1; k < 300; k++)
			send_dgram(uf, 1, k, lens[k]);
		memset(&rx, 0, sizeof(rx));
		drain(fd, &rx, 300, 1);
		CHECK_EQ(rx.n, 300, "datagrams the server received");
		for (size_t i = 0; i < rx.n && i < 300; i++) {
			bool ok = rx.len[i] == lens[i] && rx.ok[i] &&
			          (lens[i] < 4 || rx.seq[i] == (uint32_t)i);

			if (!ok && all_ok)
				CHECK(ok, "datagram %zu: len %zu (want %zu), seq %u, content %s", i,
				      rx.len[i], lens[i], rx.seq[i], rx.ok[i] ? "ok" : "wrong");
			all_ok = all_ok && ok;
		}
		/* 299 datagrams in one iteration: one sendmmsg (the first
		 * datagram of the flow went alone, in its own iteration) */
		CHECK(counter("direct.udp_send_calls") - calls0 <= 3,
		      "sendmmsg calls for 300 datagrams: %llu",
		      counter("direct.udp_send_calls") - calls0);
		CHECK(counter("direct.udp_gso_segs") - gso0 >= 250,
		      "datagrams sent within UDP_SEGMENT messages: %llu",
		      counter("direct.udp_gso_segs") - gso0);
		fake_udp_expire(uf, -ETIMEDOUT);
		close(fd);
		OK("%s: 300 datagrams of one iteration arrive complete, in order, in %llu "
		   "sendmmsg calls (%llu within UDP_SEGMENT messages)",
		   hosts[h], counter("direct.udp_send_calls") - calls0,
		   counter("direct.udp_gso_segs") - gso0);
	}
	CHECK_EQ(counter("direct.udp_send_lost"), 0, "datagrams lost");
}

/* Three flows interleaved datagram by datagram in one iteration: each
 * arrives in its own order at its own server. */
TP_TEST(batch_flows_interleaved)
{
	static struct rx rx[3];
	struct tp_udp_flow *uf[3];
	int fd[3];
	uint16_t port[3];

	if (!env_up("direct"))
		return;
	for (int j = 0; j < 3; j++) {
		fd[j] = server("127.0.0.1", &port[j]);
		CHECK(fd[j] >= 0, "server socket");
		if (fd[j] < 0)
			return;
		uf[j] = flow_to("127.0.0.1", port[j], (uint16_t)(42000 + j), (uint32_t)(10 + j),
		                500);
	}
	for (uint32_t k = 1; k < 400; k++)
		for (int j = 0; j < 3; j++)
			if (uf[j])
				send_dgram(uf[j], (uint32_t)(10 + j), k,
				           500 + (k % 3 == 0 ? 100 : 0));
	for (int j = 0; j < 3; j++) {
		size_t bad = 0;

		memset(&rx[j], 0, sizeof(rx[j]));
		drain(fd[j], &rx[j], 400, (uint32_t)(10 + j));
		CHECK_EQ(rx[j].n, 400, "datagrams of flow");
		for (size_t i = 0; i < rx[j].n && i < 400; i++)
			if (rx[j].seq[i] != i || !rx[j].ok[i])
				bad++;
		CHECK_EQ(bad, 0, "datagrams out of order or wrong");
		close(fd[j]);
		if (uf[j])
			fake_udp_expire(uf[j], -ETIMEDOUT);
	}
	OK("3 flows x 400 datagrams interleaved in one iteration: each complete and in order");
}

/* A datagram the kernel refuses (EMSGSIZE: 65520 bytes over IPv4) in the
 * middle of a batch: only it is lost; the flow goes on. */
TP_TEST(batch_send_error_midway)
{
	static struct rx rx;
	uint16_t port = 0;
	int fd;
	struct tp_udp_flow *uf;
	unsigned long long lost0;

	if (!env_up("direct"))
		return;
	fd = server("127.0.0.1", &port);
	CHECK(fd >= 0, "server socket");
	if (fd < 0)
		return;
	uf = flow_to("127.0.0.1", port, 43000, 2, 1000);
	if (!uf) {
		close(fd);
		return;
	}
	memset(&rx, 0, sizeof(rx));
	drain(fd, &rx, 1, 2);
	lost0 = counter("direct.udp_send_lost");
	for (uint32_t k = 1; k <= 20; k++)
		send_dgram(uf, 2, k, 1000);
	send_dgram(uf, 2, 21, 65520); /* > 65507: EMSGSIZE */
	for (uint32_t k = 22; k <= 40; k++)
		send_dgram(uf, 2, k, 1000);
	drain(fd, &rx, 40, 2);
	CHECK_EQ(rx.n, 40, "datagrams received (41 sent, one too large)");
	for (size_t i = 0; i < rx.n && i < 40; i++) {
		uint32_t want = i <= 20 ? (uint32_t)i : (uint32_t)i + 1;

		if (rx.seq[i] != want || !rx.ok[i]) {
			CHECK(0, "datagram %zu: seq %u, want %u", i, rx.seq[i], want);
			break;
		}
	}
	CHECK_EQ(counter("direct.udp_send_lost") - lost0, 1, "datagrams lost to send errors");
	CHECK(!uf->closed_fired, "the flow goes on");
	send_dgram(uf, 2, 42, 10);
	drain(fd, &rx, 41, 2);
	CHECK(rx.n == 41 && rx.seq[40] == 42, "a datagram after the error arrives");
	fake_udp_expire(uf, -ETIMEDOUT);
	close(fd);
	OK("EMSGSIZE in the middle of a batch: that datagram lost, the 40 others in order");
}

/* A closed port: the kernel's port unreachable reaches the client as ICMP
 * (ECONNREFUSED on a send, or POLLERR), whatever the batch did; once a
 * server listens there, datagrams of a new flow arrive. */
TP_TEST(batch_port_unreachable)
{
	static struct rx rx;
	uint16_t port = closed_port("127.0.0.1");
	struct tp_udp_flow *uf;
	int fd;

	if (!env_up("direct"))
		return;
	CHECK(port != 0, "a free port");
	uf = flow_to("127.0.0.1", port, 44000, 3, 100);
	if (!uf)
		return;
	for (uint32_t k = 1; k < 50; k++)
		send_dgram(uf, 3, k, 100);
	SPIN_UNTIL(uf->unreachables > 0);
	CHECK(uf->unreachables > 0, "ICMP toward the client");
	CHECK_EQ(uf->unreach_err, -ECONNREFUSED, "ICMP kind: port unreachable");
	spin(20);
	if (!uf->closed_fired)
		fake_udp_expire(uf, -ETIMEDOUT);
	OK("closed port: the client got port unreachable (%u ICMP, flow %s)", uf->unreachables,
	   uf->closed_err == 0 && uf->closed_fired ? "closed by the handler" : "open");
	fd = -1;
	for (int tries = 0; tries < 20 && fd < 0; tries++) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
			close(fd);
			fd = -1;
		}
	}
	CHECK(fd >= 0, "a server on the port now");
	if (fd < 0)
		return;
	uf = flow_to("127.0.0.1", port, 44001, 3, 100);
	if (uf) {
		for (uint32_t k = 1; k < 10; k++)
			send_dgram(uf, 3, k, 100);
		memset(&rx, 0, sizeof(rx));
		drain(fd, &rx, 10, 3);
		CHECK_EQ(rx.n, 10, "datagrams of the new flow");
		fake_udp_expire(uf, -ETIMEDOUT);
	}
	close(fd);
	OK("a new flow to the port, now open: 10 datagrams arrive");
}

/* Flows closed (idle expiry) with datagrams still in this iteration's
 * batch: they are dropped, the other flows' go out, nothing leaks. */
TP_TEST(batch_flow_closed_before_flush)
{
	static struct rx rx;
	uint16_t port = 0;
	int fd;
	struct tp_udp_flow *a, *b, *c;

	if (!env_up("direct"))
		return;
	fd = server("127.0.0.1", &port);
	CHECK(fd >= 0, "server socket");
	if (fd < 0)
		return;
	a = flow_to("127.0.0.1", port, 45000, 4, 300);
	b = flow_to("127.0.0.1", port, 45001, 4, 300);
	c = flow_to("127.0.0.1", port, 45002, 4, 300);
	if (!a || !b || !c) {
		close(fd);
		return;
	}
	for (uint32_t k = 1; k <= 30; k++) {
		send_dgram(a, 4, k, 300);
		send_dgram(b, 4, k, 300);
		send_dgram(c, 4, k, 300);
	}
	fake_udp_expire(a, -ETIMEDOUT); /* first in the batch */
	fake_udp_expire(c, -ETIMEDOUT); /* last in the batch */
	memset(&rx, 0, sizeof(rx));
	drain(fd, &rx, 31, 4);
	CHECK_EQ(rx.n, 31, "datagrams received: b's 31 (a's and c's all dropped with them)");
	spin(10);
	fake_udp_expire(b, -ETIMEDOUT);
	close(fd);
	OK("two of three flows closed before the flush: the third's datagrams arrive, no leak");
}

static void count_hook(uv_handle_t *h, void *arg)
{
	int **c = arg;

	if ((h->type == UV_PREPARE || h->type == UV_CHECK) && uv_is_active(h)) {
		(*c[0])++;
		if (uv_has_ref(h))
			(*c[1])++;
	}
}

/* The handler's loop hooks (prepare and check, the only ones in this
 * loop): how many are started, and how many of those keep the loop alive. */
static void hooks(int *active, int *refd)
{
	*active = *refd = 0;
	uv_walk(&env.r.loop, count_hook, (void *[]){active, refd});
}

/* The flush hooks stay started while datagrams come (not stopped and
 * started again for each one), never keep the loop alive, stop after a
 * run of loop iterations with nothing to flush, and start again with the
 * next datagram, which still goes out (and is counted) in its iteration. */
TP_TEST(loop_hooks_idle)
{
	static uint8_t buf[2048];
	uint16_t port = 0;
	int fd, active, refd, got = 0;
	struct tp_udp_flow *a;

	if (!env_up("direct"))
		return;
	fd = server("127.0.0.1", &port);
	CHECK(fd >= 0, "server socket");
	if (fd < 0)
		return;
	a = flow_to("127.0.0.1", port, 45100, 5, 10);
	if (!a) {
		close(fd);
		return;
	}
	hooks(&active, &refd);
	CHECK(active == 2 && refd == 0,
	      "a datagram batched: 2 hooks started, unreferenced (%d, %d)", active, refd);
	uv_run(&env.r.loop, UV_RUN_NOWAIT);
	CHECK(recv(fd, buf, sizeof(buf), 0) == 10, "the first datagram went out in its iteration");
	CHECK_EQ(counter("direct.udp_sent"), 1, "counted in that iteration");
	hooks(&active, &refd);
	CHECK(active == 2, "still started right after the flush (%d)", active);
	for (int i = 0; i < 100; i++)
		uv_run(&env.r.loop, UV_RUN_NOWAIT);
	hooks(&active, &refd);
	CHECK(active == 0, "stopped after 100 idle iterations (%d started)", active);
	for (uint32_t k = 1; k <= 3; k++) {
		send_dgram(a, 5, k, 10);
		hooks(&active, &refd);
		CHECK(active == 2 && refd == 0, "datagram %u: hooks started again (%d, %d)", k,
		      active, refd);
		uv_run(&env.r.loop, UV_RUN_NOWAIT);
		if (recv(fd, buf, sizeof(buf), 0) == 10)
			got++;
		CHECK(counter("direct.udp_sent") == 1 + k,
		      "datagram %u counted in its iteration (%llu)", k, counter("direct.udp_sent"));
	}
	CHECK_EQ(got, 3, "each went out in the iteration it was handed over in");
	fake_udp_expire(a, -ETIMEDOUT);
	spin(5);
	close(fd);
	OK("flush hooks: kept while busy, unreferenced, stopped when idle, restarted on demand");
}

/* Replies: a burst of 100 from the server is read with recvmmsg in a few
 * calls and reaches the client complete; a flood the default receive
 * buffer cannot hold makes it grow (SO_RXQ_OVFL). */
TP_TEST(recv_batches_and_rcvbuf_growth)
{
	static uint8_t buf[2048];
	static struct rx rx0;
	uint16_t port = 0;
	int fd;
	struct tp_udp_flow *uf;
	size_t bytes = 0;
	unsigned long long calls0;

	if (!env_up("direct"))
		return;
	fd = server("127.0.0.1", &port);
	CHECK(fd >= 0, "server socket");
	if (fd < 0)
		return;
	uf = flow_to("127.0.0.1", port, 46000, 5, 10);
	if (!uf) {
		close(fd);
		return;
	}
	memset(&rx0, 0, sizeof(rx0));
	drain(fd, &rx0, 1, 5); /* learn the flow's socket address */
	CHECK_EQ(rx0.n, 1, "first datagram");
	calls0 = counter("direct.udp_recv_calls");
	for (uint32_t k = 0; k < 100; k++) {
		size_t len = 100 + k % 7;

		fill(buf, len, 6, k);
		bytes += len;
		CHECK(sendto(fd, buf, len, 0, (struct sockaddr *)&rx0.from,
		             rx0.from.ss_family == AF_INET
		                     ? sizeof(struct sockaddr_in)
		                     : sizeof(struct sockaddr_in6)) == (ssize_t)len,
		      "reply %u sent", k);
	}
	SPIN_UNTIL(uf->sends >= 100);
	CHECK_EQ(uf->sends, 100, "replies passed to the client");
	CHECK_EQ(uf->sent_bytes, bytes, "their bytes");
	fill(buf, 100 + 99 % 7, 6, 99);
	CHECK(uf->last_len == 100 + 99 % 7 && !memcmp(uf->last, buf, uf->last_len),
	      "the last reply last");
	/* recvmmsg takes up to 32 a call: one read per datagram would be 100 */
	CHECK(counter("direct.udp_recv_calls") - calls0 <= 25,
	      "recvmmsg calls for 100 replies: %llu", counter("direct.udp_recv_calls") - calls0);
	OK("100 replies in a burst: all to the client, in %llu recvmmsg calls",
	   counter("direct.udp_recv_calls") - calls0);

	/* 20,000 datagrams of 1400 bytes without the loop running: far more
	 * than the default receive buffer holds */
	for (uint32_t k = 0; k < 20000; k++) {
		fill(buf, 1400, 7, k);
		(void)sendto(fd, buf, 1400, 0, (struct sockaddr *)&rx0.from,
		             rx0.from.ss_family == AF_INET ? sizeof(struct sockaddr_in)
		                                           : sizeof(struct sockaddr_in6));
	}
	spin(200);
	/* the kernel stamps its drop count on datagrams queued after the drops */
	for (uint32_t k = 0; k < 10; k++) {
		fill(buf, 100, 7, k);
		(void)sendto(fd, buf, 100, 0, (struct sockaddr *)&rx0.from,
		             rx0.from.ss_family == AF_INET ? sizeof(struct sockaddr_in)
		                                           : sizeof(struct sockaddr_in6));
	}
	spin(20);
	CHECK(counter("direct.udp_rcvbuf_drops") > 0, "the kernel's drops were seen: %llu",
	      counter("direct.udp_rcvbuf_drops"));
	CHECK(counter("direct.udp_buf_grown") >= 1, "the receive buffer grew: %llu steps",
	      counter("direct.udp_buf_grown"));
	fake_udp_expire(uf, -ETIMEDOUT);
	close(fd);
	OK("a flood: %llu drops reported by the kernel, the receive buffer grew %llu steps",
	   counter("direct.udp_rcvbuf_drops"), counter("direct.udp_buf_grown"));
}
