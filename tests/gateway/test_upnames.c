/* SPDX-License-Identifier: MIT */
/* tunplug — upstreams by name: the built-in socks5, http and direct
 * handlers given flows that carry a destination name (struct
 * tp_flow_info.name, handler ABI 2.1), through the relay with a fake stack
 * (fakestack.h) and a real libuv loop. No root.
 *
 * No name source exists in this test (fake-IP DNS and sniffing set names
 * in the gateway): a wrapper handler, "named://<handler spec>", sets the
 * name the case chose on each flow with tp_flow_set_name (as the gateway
 * does before dispatch) and hands the flow to the real built-in handler.
 * The upstreams are the test's own sockets on 127.0.0.1: a SOCKS5 proxy
 * and an HTTP proxy played byte by byte, whose received bytes are checked
 * exactly, and plain servers for direct. Waits poll the loop's backend fd
 * with a bounded deadline (name lookups run on libuv's thread pool).
 *
 * What is checked: socks5 CONNECT with ATYP DOMAIN for a fake-IP and a
 * sniffed name, ATYP IPv4 without one, UDP datagrams with ATYP DOMAIN
 * headers and replies reaching the client from its destination; http
 * CONNECT name:port with Host name:port; a fake-IP flow whose name cannot
 * be sent is refused with host unreachable and never reaches the proxy;
 * direct looks a fake-IP flow's name up and connects to the real address
 * (TCP, IPv4 and IPv6 clients, and UDP), refuses an unresolvable one with
 * host unreachable, and a flow closed during its lookup leaves nothing
 * behind. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "fakestack.h"
#include "harness.h"
#include "log.h"
#include "registry/registry.h"
#include "relay/flow.h"
#include "relayenv.h"
#include "tunplug/builtin.h"
#include "udp/udpflow.h"

#define WAIT_NS (4000ull * 1000 * 1000) /* a wait's deadline */

static struct {
	struct relay_env r;
	const char *name; /* what the wrapper sets on each flow (NULL: nothing) */
	int source;
	unsigned named; /* flows the wrapper named */
} env;

/* ---- the wrapper handler: named://<spec> ---- */

struct named {
	const struct tp_handler *inner;
	void *state;
	const struct tp_host *host;
};

static int named_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	struct tp_handler_args ia = *args;
	const char *sep = strstr(args->target, "://");
	char inner[32];
	struct named *n;
	int ret;

	snprintf(inner, sizeof(inner), "%.*s",
	         sep ? (int)(sep - args->target) : (int)strlen(args->target), args->target);
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->inner = tp_handler_builtin(inner);
	n->host = host;
	if (!n->inner) {
		free(n);
		return -ENOENT;
	}
	ia.spec = args->target;
	ia.target = sep ? sep + 3 : "";
	ret = n->inner->init(host, &ia, &n->state);
	if (ret) {
		free(n);
		return ret;
	}
	*state = n;
	return 0;
}

static void name_flow(struct named *n, struct tp_flow *f)
{
	if (!env.name || n->host->flow_info(f)->name)
		return;
	CHECK_EQ(tp_flow_set_name(f, env.name, strlen(env.name), env.source), 0,
	         "tp_flow_set_name");
	env.named++;
}

static int named_tcp_accept(void *state, struct tp_flow *f)
{
	struct named *n = state;

	name_flow(n, f);
	return n->inner->tcp_accept(n->state, f);
}

static int named_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	struct named *n = state;

	name_flow(n, f);
	return n->inner->udp_datagram(n->state, f, buf, len);
}

static void named_flow_close(void *state, struct tp_flow *f, int err)
{
	struct named *n = state;

	n->inner->flow_close(n->state, f, err);
}

static void named_fini(void *state)
{
	struct named *n = state;

	n->inner->fini(n->state);
	free(n);
}

static const struct tp_handler named_table = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = "named",
        .init = named_init,
        .tcp_accept = named_tcp_accept,
        .flow_close = named_flow_close,
        .fini = named_fini,
        .udp_datagram = named_udp_datagram,
};

/* ---- the environment ---- */

static int test_protect(const struct tp_host *host, int fd, int family)
{
	(void)host;
	(void)fd;
	(void)family;
	return 0;
}

/* The relay with named://<spec> as the default handler. */
static bool env_up(const char *spec)
{
	char h[256];
	int ret;

	snprintf(h, sizeof(h), "named://%s", spec);
	relay_env_init(&env.r);
	ret = tp_registry_add_table(&env.r.reg, &named_table);
	CHECK_EQ(ret, 0, "tp_registry_add_table");
	return !ret && relay_env_up(&env.r, h, 262144, test_protect);
}

/* One loop iteration, after waiting (at most 5 ms) for the loop to have
 * something to do: a socket, a timer, a finished lookup. */
static void step(void)
{
	struct pollfd p = {.fd = uv_backend_fd(&env.r.loop), .events = POLLIN};
	int t = uv_backend_timeout(&env.r.loop);

	(void)poll(&p, 1, t >= 0 && t < 5 ? t : 5);
	uv_run(&env.r.loop, UV_RUN_NOWAIT);
}

/* Step until cond holds or WAIT_NS passed. */
#define WAIT(cond)                                                  \
	do {                                                        \
		uint64_t wait_t0_ = uv_hrtime();                    \
		while (!(cond) && uv_hrtime() - wait_t0_ < WAIT_NS) \
			step();                                     \
	} while (0)

/* The instance's counter `name`, 0 if never added. */
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

/* ---- the test's servers ---- */

/* A nonblocking socket of type bound to 127.0.0.1 (listening for TCP);
 * its port in *port. */
static int server(int type, uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &sl) || (type == SOCK_STREAM && listen(fd, 8))) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* What a server connection received. */
struct conn {
	int fd;
	uint8_t in[2048];
	size_t len;
	bool eof;
};

/* Accept on lfd (nonblocking) into c: true once there is a connection. */
static bool accepted(int lfd, struct conn *c)
{
	if (c->fd < 0)
		c->fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	return c->fd >= 0;
}

/* Read what is there; true once c holds at least want bytes (or ended). */
static bool got(struct conn *c, size_t want)
{
	while (c->fd >= 0 && !c->eof && c->len < sizeof(c->in)) {
		ssize_t n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);

		if (n > 0)
			c->len += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			c->eof = true;
		else
			break;
	}
	return c->len >= want || c->eof;
}

static bool ended(struct conn *c)
{
	got(c, sizeof(c->in));
	return c->eof;
}

static void say(struct conn *c, const void *buf, size_t len)
{
	CHECK(write(c->fd, buf, len) == (ssize_t)len, "server write: %s", strerror(errno));
}

/* A pending TCP flow from the client src to dst:port, handed to the relay. */
static struct tp_tcp_flow *syn(const char *src, const char *dst, uint16_t port)
{
	static uint16_t sport = 41000;
	struct tp_tcp_flow *tf = fake_tcp_new(src, sport++, dst, port, 1 << 20);

	CHECK(tf != NULL, "fake flow");
	if (tf)
		tp_relay_tcp_syn(&env.r.rel, tf);
	return tf;
}

/* An accepted flow relays both ways: "hello" reaches c after its first
 * `at` bytes, "world" reaches the client; then the client resets it and
 * the upstream sees its end. */
static void relay_both_ways(struct tp_tcp_flow *tf, struct conn *c, size_t at)
{
	fake_tcp_established(tf);
	fake_tcp_client_send(tf, "hello", 5, 0);
	WAIT(got(c, at + 5));
	CHECK(c->len == at + 5 && !memcmp(c->in + at, "hello", 5), "client bytes upstream (%zu)",
	      c->len);
	say(c, "world", 5);
	WAIT(tf->sent_len >= 5);
	CHECK(tf->sent_len == 5 && !memcmp(tf->sent, "world", 5), "upstream bytes to the client");
	fake_tcp_reset(tf, -ECONNRESET);
	WAIT(ended(c));
	CHECK(c->eof, "the upstream was closed after the client's RST");
}

/* ---- socks5 ---- */

/* Play a SOCKS5 proxy on lfd for one TCP flow up to its request: the
 * request's bytes are c->in[3..c->len) when the method exchange went as
 * expected. */
static bool s5_request(int lfd, struct conn *c, size_t req_len)
{
	WAIT(accepted(lfd, c));
	CHECK(c->fd >= 0, "the handler connected to the proxy");
	if (c->fd < 0)
		return false;
	WAIT(got(c, 3));
	CHECK(c->len >= 3 && !memcmp(c->in, "\x05\x01\x00", 3), "greeting: no auth");
	say(c, "\x05\x00", 2);
	WAIT(got(c, 3 + req_len));
	CHECK_EQ(c->len, 3 + req_len, "greeting + request bytes");
	return c->len == 3 + req_len;
}

static const uint8_t s5_ok[] = {5, 0, 0, 1, 127, 0, 0, 1, 0x30, 0x39};

/* CONNECT carries the name (ATYP DOMAIN) and the flow's port, for a
 * fake-IP flow (IPv4 and IPv6 clients) and a sniffed one; without a name
 * the IPv4 address goes as before. */
TP_TEST(socks5_connect_by_name)
{
	static const uint8_t want[] = "\x05\x01\x00\x03\x0fwww.example.com\x01\xbb";
	static const uint8_t want_ip[] = {5, 1, 0, 1, 198, 19, 0, 1, 0, 80};
	char spec[64];
	uint16_t port;
	int lfd = server(SOCK_STREAM, &port);
	struct tp_tcp_flow *tf;
	struct conn c = {.fd = -1};

	CHECK(lfd >= 0, "proxy socket");
	if (lfd < 0)
		return;
	snprintf(spec, sizeof(spec), "socks5://127.0.0.1:%u", port);
	if (!env_up(spec))
		goto out;

	env.name = "WWW.Example.com"; /* the gateway lower-cases it */
	env.source = TP_NAME_FAKE_IP;
	tf = syn("198.18.0.1", "198.18.0.5", 443);
	if (!tf || !s5_request(lfd, &c, sizeof(want) - 1))
		goto out;
	CHECK(!memcmp(c.in + 3, want, sizeof(want) - 1),
	      "CONNECT VER 5 CMD 1 ATYP 3 len 15 \"www.example.com\" port 443");
	CHECK(tf->accepts == 0 && tf->rejects == 0, "held until the proxy answers");
	say(&c, s5_ok, sizeof(s5_ok));
	WAIT(tf->accepts == 1);
	CHECK_EQ(tf->accepts, 1, "accepted after the reply");
	relay_both_ways(tf, &c, 3 + sizeof(want) - 1);
	close(c.fd);
	OK("fake IP: CONNECT www.example.com:443 by name (ATYP 3), then relayed");

	c = (struct conn){.fd = -1};
	tf = syn("fd00::1", "fc00:18::5", 443);
	if (!tf || !s5_request(lfd, &c, sizeof(want) - 1))
		goto out;
	CHECK(!memcmp(c.in + 3, want, sizeof(want) - 1), "IPv6 client: the same request");
	say(&c, s5_ok, sizeof(s5_ok));
	WAIT(tf->accepts == 1);
	relay_both_ways(tf, &c, 3 + sizeof(want) - 1);
	close(c.fd);
	OK("IPv6 fake IP: the same CONNECT by name");

	env.source = TP_NAME_SNIFF_TLS;
	c = (struct conn){.fd = -1};
	tf = syn("198.18.0.1", "198.19.0.1", 443);
	if (!tf || !s5_request(lfd, &c, sizeof(want) - 1))
		goto out;
	CHECK(!memcmp(c.in + 3, want, sizeof(want) - 1), "sniffed name: by name too");
	say(&c, s5_ok, sizeof(s5_ok));
	WAIT(tf->accepts == 1);
	fake_tcp_reset(tf, -ECONNRESET);
	WAIT(ended(&c));
	close(c.fd);
	OK("sniffed name: CONNECT by name");

	env.name = NULL;
	c = (struct conn){.fd = -1};
	tf = syn("198.18.0.1", "198.19.0.1", 80);
	if (!tf || !s5_request(lfd, &c, sizeof(want_ip)))
		goto out;
	CHECK(!memcmp(c.in + 3, want_ip, sizeof(want_ip)), "no name: ATYP 1 198.19.0.1:80");
	say(&c, s5_ok, sizeof(s5_ok));
	WAIT(tf->accepts == 1);
	fake_tcp_reset(tf, -ECONNRESET);
	WAIT(ended(&c));
	close(c.fd);
	CHECK_EQ(env.named, 3, "flows named");
	OK("no name: CONNECT by IPv4 address as before");
out:
	close(lfd);
}

/* A fake-IP flow whose name cannot be sent (a space, as a sniffer could
 * never produce but a DNS query name could) is refused with host
 * unreachable before any connection to the proxy; a sniffed one like it
 * goes by IP. */
TP_TEST(socks5_bad_name)
{
	static const uint8_t want_ip[] = {5, 1, 0, 1, 198, 19, 0, 1, 0, 80};
	char spec[64];
	uint16_t port;
	int lfd = server(SOCK_STREAM, &port);
	struct tp_tcp_flow *tf;
	struct conn c = {.fd = -1};

	CHECK(lfd >= 0, "proxy socket");
	if (lfd < 0)
		return;
	snprintf(spec, sizeof(spec), "socks5://127.0.0.1:%u", port);
	if (!env_up(spec))
		goto out;
	env.name = "bad name.example";
	env.source = TP_NAME_FAKE_IP;
	tf = syn("198.18.0.1", "198.18.0.5", 443);
	if (!tf)
		goto out;
	CHECK(tf->rejects == 1 && tf->reject_err == -EHOSTUNREACH, "refused: %d", tf->reject_err);
	CHECK_EQ(counter("socks5.name_refused"), 1, "socks5.name_refused");
	for (int i = 0; i < 20; i++)
		step();
	CHECK(!accepted(lfd, &c), "no connection to the proxy");
	OK("fake IP with an unsendable name: host unreachable, counted, proxy untouched");

	env.source = TP_NAME_SNIFF_HTTP;
	tf = syn("198.18.0.1", "198.19.0.1", 80);
	if (!tf || !s5_request(lfd, &c, sizeof(want_ip)))
		goto out;
	CHECK(!memcmp(c.in + 3, want_ip, sizeof(want_ip)), "sniffed bad name: by IP");
	fake_tcp_reset(tf, -ECONNRESET);
	WAIT(ended(&c));
	close(c.fd);
	OK("sniffed unsendable name: CONNECT by IP");
out:
	close(lfd);
}

/* UDP ASSOCIATE: the flow's datagrams reach the relay with ATYP DOMAIN
 * headers; a reply (ATYP IPv4, from the address the proxy resolved) reaches
 * the client from the flow's destination. */
TP_TEST(socks5_udp_by_name)
{
	static const uint8_t want_hdr[] = "\x00\x00\x00\x03\x0b"
	                                  "dns.example\x00\x35";
	char spec[64];
	uint16_t port, uport;
	int lfd = server(SOCK_STREAM, &port), ufd = server(SOCK_DGRAM, &uport);
	struct tp_udp_flow *uf;
	struct conn c = {.fd = -1};
	uint8_t rep[10] = {5, 0, 0, 1, 127, 0, 0, 1, 0, 0}, dg[512];
	uint8_t answer[16] = {0, 0, 0, 1, 203, 0, 113, 9, 0, 53, 'a', 'n', 's', 'w', 'e', 'r'};
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = -1;

	CHECK(lfd >= 0 && ufd >= 0, "proxy sockets");
	if (lfd < 0 || ufd < 0)
		goto out;
	snprintf(spec, sizeof(spec), "socks5://127.0.0.1:%u", port);
	if (!env_up(spec))
		goto out;
	env.name = "dns.example";
	env.source = TP_NAME_FAKE_IP;
	uf = fake_udp_new("198.18.0.1", 5000, "198.18.0.9", 53);
	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow taken by the relay");
	if (!uf)
		goto out;
	fake_udp_datagram(uf, "query", 5);
	if (!s5_request(lfd, &c, 10))
		goto out;
	CHECK(!memcmp(c.in + 3, "\x05\x03\x00\x01\0\0\0\0\0\0", 10), "UDP ASSOCIATE 0.0.0.0:0");
	rep[8] = (uint8_t)(uport >> 8);
	rep[9] = (uint8_t)uport;
	say(&c, rep, sizeof(rep));
	WAIT((n = recvfrom(ufd, dg, sizeof(dg), 0, (struct sockaddr *)&from, &fl)) > 0);
	CHECK(n == (ssize_t)(sizeof(want_hdr) - 1 + 5) &&
	              !memcmp(dg, want_hdr, sizeof(want_hdr) - 1) &&
	              !memcmp(dg + sizeof(want_hdr) - 1, "query", 5),
	      "datagram at the relay: RSV FRAG ATYP 3 len 11 \"dns.example\" port 53 payload");
	OK("UDP: the queued datagram reaches the relay with an ATYP DOMAIN header");

	CHECK(sendto(ufd, answer, sizeof(answer), 0, (struct sockaddr *)&from, fl) ==
	              (ssize_t)sizeof(answer),
	      "relay reply");
	WAIT(uf->sends >= 1);
	CHECK(uf->sends == 1 && uf->last_len == 6 && !memcmp(uf->last, "answer", 6) &&
	              !uf->last_from_set,
	      "the reply reaches the client from the flow's destination (not 203.0.113.9)");
	OK("UDP: a reply from the resolved address goes out from the fake destination");
	fake_udp_expire(uf, -ETIMEDOUT);
	WAIT(ended(&c));
	CHECK(c.eof, "the control connection closed with the flow");
	close(c.fd);
out:
	if (lfd >= 0)
		close(lfd);
	if (ufd >= 0)
		close(ufd);
}

/* ---- http ---- */

/* CONNECT name:port with Host name:port; an unsendable fake-IP name is
 * refused before any connection. */
TP_TEST(http_connect_by_name)
{
	static const char want[] = "CONNECT www.example.com:8443 HTTP/1.1\r\n"
	                           "Host: www.example.com:8443\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	char spec[64];
	uint16_t port;
	int lfd = server(SOCK_STREAM, &port);
	struct tp_tcp_flow *tf;
	struct conn c = {.fd = -1};

	CHECK(lfd >= 0, "proxy socket");
	if (lfd < 0)
		return;
	snprintf(spec, sizeof(spec), "http://127.0.0.1:%u", port);
	if (!env_up(spec))
		goto out;
	env.name = "www.example.com";
	env.source = TP_NAME_FAKE_IP;
	tf = syn("198.18.0.1", "198.18.0.5", 8443);
	if (!tf)
		goto out;
	WAIT(accepted(lfd, &c));
	WAIT(got(&c, sizeof(want) - 1));
	CHECK(c.len == sizeof(want) - 1 && !memcmp(c.in, want, c.len), "the request: %.*s",
	      (int)c.len, (const char *)c.in);
	say(&c, ok, sizeof(ok) - 1);
	WAIT(tf->accepts == 1);
	CHECK_EQ(tf->accepts, 1, "accepted after 200");
	relay_both_ways(tf, &c, sizeof(want) - 1);
	close(c.fd);
	OK("CONNECT www.example.com:8443 and Host www.example.com:8443, then relayed");

	c = (struct conn){.fd = -1};
	env.name = "evil.example:80 http/1.1";
	tf = syn("198.18.0.1", "198.18.0.6", 443);
	if (!tf)
		goto out;
	CHECK(tf->rejects == 1 && tf->reject_err == -EHOSTUNREACH, "refused: %d", tf->reject_err);
	CHECK_EQ(counter("http.name_refused"), 1, "http.name_refused");
	for (int i = 0; i < 20; i++)
		step();
	CHECK(!accepted(lfd, &c), "no connection to the proxy");
	OK("fake IP with an unsendable name: host unreachable, counted, proxy untouched");
out:
	close(lfd);
}

/* ---- direct ---- */

/* A fake-IP flow's name is looked up and the connect goes to the real
 * address ("localhost", 127.0.0.1 here), for an IPv4 client and for an
 * IPv6 one (no ::1 needed: the other family is the fallback); the fake
 * address itself (not routable here) is never tried. */
TP_TEST(direct_fake_ip_tcp)
{
	uint16_t port;
	int lfd = server(SOCK_STREAM, &port);
	struct tp_tcp_flow *tf;
	struct conn c = {.fd = -1};

	CHECK(lfd >= 0, "server socket");
	if (lfd < 0)
		return;
	if (!env_up("direct"))
		goto out;
	env.name = "localhost";
	env.source = TP_NAME_FAKE_IP;
	tf = syn("198.18.0.1", "198.18.0.77", port);
	if (!tf)
		goto out;
	CHECK(tf->accepts == 0 && tf->rejects == 0, "held while the name is looked up");
	WAIT(accepted(lfd, &c) && tf->accepts == 1);
	CHECK(c.fd >= 0, "the server on 127.0.0.1:%u got the connection", port);
	CHECK_EQ(tf->accepts, 1, "accepted once connected");
	CHECK_EQ(counter("direct.names_resolved"), 1, "direct.names_resolved");
	if (c.fd >= 0)
		relay_both_ways(tf, &c, 0);
	close(c.fd);
	OK("IPv4 client: localhost looked up, connected to 127.0.0.1, relayed");

	c = (struct conn){.fd = -1};
	tf = syn("fd00::1", "fc00:18::77", port);
	if (!tf)
		goto out;
	WAIT(accepted(lfd, &c) && tf->accepts == 1);
	CHECK(c.fd >= 0 && tf->accepts == 1, "IPv6 client connected to 127.0.0.1:%u", port);
	if (c.fd >= 0)
		relay_both_ways(tf, &c, 0);
	close(c.fd);
	CHECK_EQ(counter("direct.names_resolved"), 2, "direct.names_resolved");
	OK("IPv6 client: the other family when the name has no IPv6 address");

	env.source = TP_NAME_SNIFF_HTTP; /* a real address: no lookup */
	c = (struct conn){.fd = -1};
	tf = syn("198.18.0.1", "127.0.0.1", port);
	if (!tf)
		goto out;
	WAIT(accepted(lfd, &c) && tf->accepts == 1);
	CHECK(c.fd >= 0 && tf->accepts == 1, "sniffed name: connected to the flow's address");
	fake_tcp_reset(tf, -ECONNRESET);
	close(c.fd);
	CHECK_EQ(counter("direct.names_resolved"), 2, "no lookup for a sniffed name");
	OK("sniffed name: direct connects to the (real) address as before");
out:
	close(lfd);
}

/* A name that does not resolve refuses the flow with host unreachable
 * (counted); a flow reset by its client during the lookup is closed once,
 * never accepted, and leaves nothing behind (the teardown checks). */
TP_TEST(direct_fake_ip_unresolved)
{
	struct tp_tcp_flow *tf;

	if (!env_up("direct"))
		return;
	env.name = "no-such-host.invalid";
	env.source = TP_NAME_FAKE_IP;
	tf = syn("198.18.0.1", "198.18.0.78", 80);
	if (!tf)
		return;
	WAIT(tf->rejects == 1);
	CHECK(tf->rejects == 1 && tf->reject_err == -EHOSTUNREACH, "refused: %d (want %d)",
	      tf->reject_err, -EHOSTUNREACH);
	CHECK_EQ(tf->accepts, 0, "never accepted");
	CHECK_EQ(counter("direct.names_unresolved"), 1, "direct.names_unresolved");
	OK("unresolvable name: ICMP host unreachable, counted");

	env.name = "localhost";
	for (int i = 0; i < 8; i++) {
		tf = syn("198.18.0.1", "198.18.0.79", 80);
		if (!tf)
			return;
		fake_tcp_reset(tf, -ECONNRESET); /* before the lookup could end */
		CHECK(tf->closed_fired && tf->accepts == 0 && tf->rejects == 0,
		      "closed by the client, undecided");
	}
	WAIT(tp_relay_flow_count(&env.r.rel) == 0);
	for (int i = 0; i < 50; i++)
		step(); /* the lookups come back (cancelled or finished) */
	CHECK_EQ(tp_relay_flow_count(&env.r.rel), 0, "flows allocated");
	OK("client RST during the lookup: cancelled, nothing left");
}

/* UDP: the name is looked up once per flow; datagrams that came meanwhile
 * and later ones go to the real address in order; replies reach the
 * client; an unresolvable name gets ICMP host unreachable. */
TP_TEST(direct_fake_ip_udp)
{
	uint16_t port;
	int ufd = server(SOCK_DGRAM, &port);
	struct tp_udp_flow *uf;
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	char dg[64];
	ssize_t n = -1;
	int k = 0;

	CHECK(ufd >= 0, "server socket");
	if (ufd < 0)
		return;
	if (!env_up("direct"))
		goto out;
	env.name = "localhost";
	env.source = TP_NAME_FAKE_IP;
	uf = fake_udp_new("198.18.0.1", 5000, "198.18.0.80", port);
	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow taken by the relay");
	if (!uf)
		goto out;
	fake_udp_datagram(uf, "one", 3);
	fake_udp_datagram(uf, "two", 3);
	for (uint64_t t0 = uv_hrtime(); k < 2 && uv_hrtime() - t0 < WAIT_NS;) {
		n = recvfrom(ufd, dg, sizeof(dg), 0, (struct sockaddr *)&from, &fl);
		if (n == 3 && !memcmp(dg, k == 0 ? "one" : "two", 3))
			k++;
		else if (n >= 0)
			break; /* out of order or wrong */
		else
			step();
	}
	CHECK_EQ(k, 2, "both datagrams at 127.0.0.1, in order");
	fake_udp_datagram(uf, "three", 5);
	n = -1;
	WAIT((n = recvfrom(ufd, dg, sizeof(dg), 0, (struct sockaddr *)&from, &fl)) >= 0);
	CHECK(n == 5 && !memcmp(dg, "three", 5), "a later datagram too");
	CHECK(sendto(ufd, "reply", 5, 0, (struct sockaddr *)&from, fl) == 5, "server reply");
	WAIT(uf->sends >= 1);
	CHECK(uf->sends == 1 && uf->last_len == 5 && !memcmp(uf->last, "reply", 5),
	      "the reply reached the client");
	CHECK_EQ(counter("direct.udp_names_resolved"), 1, "one lookup per flow");
	fake_udp_expire(uf, -ETIMEDOUT);
	OK("UDP: looked up once, datagrams from before and after in order, reply back");

	env.name = "no-such-host.invalid";
	uf = fake_udp_new("198.18.0.1", 5001, "198.18.0.81", port);
	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow taken by the relay");
	if (!uf)
		goto out;
	fake_udp_datagram(uf, "x", 1);
	WAIT(uf->closed_fired);
	CHECK(uf->unreachables == 1 && uf->unreach_err == -EHOSTUNREACH,
	      "ICMP host unreachable (%u, %d)", uf->unreachables, uf->unreach_err);
	CHECK(uf->closed_fired, "the flow closed");
	CHECK_EQ(counter("direct.udp_names_unresolved"), 1, "direct.udp_names_unresolved");
	OK("UDP: an unresolvable name: host unreachable, closed, counted");

	env.name = "localhost";
	uf = fake_udp_new("198.18.0.1", 5002, "198.18.0.82", port);
	CHECK(uf && tp_udpflow_new(&env.r.rel, uf) == 0, "udp flow taken by the relay");
	if (!uf)
		goto out;
	fake_udp_datagram(uf, "gone", 4);
	fake_udp_expire(uf, -ETIMEDOUT); /* before the lookup could end */
	for (int i = 0; i < 50; i++)
		step();
	n = recvfrom(ufd, dg, sizeof(dg), 0, NULL, NULL);
	CHECK(n < 0, "nothing sent for a flow closed during its lookup");
	OK("UDP: closed during the lookup: nothing sent, nothing left");
out:
	close(ufd);
}
