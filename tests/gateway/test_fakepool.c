/* SPDX-License-Identifier: MIT */
/* The fake-IP pool (gateway/src/names/fakepool.c): addresses handed out in
 * order, LRU eviction in a full pool (per family), both families, name
 * checks, the map shared with fork()ed children (a worker's mapping seen by
 * another, a new child finding the old mappings), recovery after a child
 * died holding the lock; the dns handler's responder (dnsmsg_fake_answer)
 * over the pool: the TTL, both families, NODATA, what is forwarded; and
 * the options (--fake-ip, -ttl, -max) with their
 * errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dnsmsg.h"
#include "harness.h"
#include "names/fakepool.h"
#include "options/config.h"
#include "options/options.h"

static struct tp_cidr cidr(const char *s)
{
	struct tp_cidr c;

	memset(&c, 0, sizeof(c));
	if (tp_cidr_parse(s, &c))
		tp_test_failf(__FILE__, __LINE__, s, "not a prefix");
	return c;
}

static const char *a4(const uint8_t *a, char *buf)
{
	return inet_ntop(AF_INET, a, buf, 64);
}

static int assign(struct tp_fakepool *p, int family, const char *name, uint8_t *addr, bool *evicted)
{
	return tp_fakepool_assign(p, family, name, strlen(name), addr, evicted);
}

TP_TEST(usable)
{
	struct tp_cidr c = cidr("198.18.0.0/30");

	CHECK_EQ(tp_fakepool_usable(&c), 2, "/30: .1 and .2");
	c = cidr("198.18.0.0/31");
	CHECK_EQ(tp_fakepool_usable(&c), 0, "/31 too small");
	c = cidr("198.18.0.0/15");
	CHECK_EQ(tp_fakepool_usable(&c), 131070, "/15");
	c = cidr("fd00:18::/126");
	CHECK_EQ(tp_fakepool_usable(&c), 3, "IPv6 /126: all but the first");
	c = cidr("fd00:18::/64");
	CHECK_EQ(tp_fakepool_usable(&c), UINT32_MAX, "IPv6 /64 capped");
	c = cidr("fd00:18::1/128");
	CHECK_EQ(tp_fakepool_usable(&c), 0, "/128 too small");
	OK("usable addresses per prefix");
}

TP_TEST(assign_and_lookup)
{
	struct tp_cidr pools[2] = {cidr("198.18.7.0/24"), cidr("fd00:18::/120")};
	struct tp_fakepool *p = NULL;
	uint8_t a[16], b[16], c6[16];
	char name[TP_FAKE_NAME_MAX + 1], buf[64];
	struct tp_fakepool_stat st;

	CHECK_EQ(tp_fakepool_create(&p, pools, 2, 1000), 0, "create");
	if (!p)
		return;
	CHECK_EQ(assign(p, AF_INET, "a.example.com", a, NULL), 0, "a");
	CHECK(!strcmp(a4(a, buf), "198.18.7.1"), "first address .1: %s", buf);
	CHECK_EQ(assign(p, AF_INET, "b.example.org", b, NULL), 0, "b");
	CHECK(!strcmp(a4(b, buf), "198.18.7.2"), "then .2: %s", buf);
	CHECK_EQ(assign(p, AF_INET, "a.example.com", b, NULL), 0, "a again");
	CHECK(!memcmp(a, b, 4), "the same name keeps its address");
	CHECK_EQ(tp_fakepool_lookup(p, AF_INET, a, name, sizeof(name)), 13, "lookup a");
	CHECK(!strcmp(name, "a.example.com"), "name %s", name);
	OK("IPv4: addresses in order from .1, a name keeps its address, address -> name");

	CHECK_EQ(assign(p, AF_INET6, "a.example.com", c6, NULL), 0, "a in IPv6");
	inet_ntop(AF_INET6, c6, buf, sizeof(buf));
	CHECK(!strcmp(buf, "fd00:18::1"), "IPv6 first address: %s", buf);
	CHECK_EQ(tp_fakepool_lookup(p, AF_INET6, c6, name, sizeof(name)), 13, "lookup v6");
	tp_fakepool_stat(p, AF_INET6, &st);
	CHECK(st.capacity == 255 && st.used == 1, "v6 capacity %u used %u", st.capacity, st.used);
	tp_fakepool_stat(p, AF_INET, &st);
	CHECK(st.capacity == 254 && st.used == 2, "v4 capacity %u used %u", st.capacity, st.used);
	OK("IPv6 pool of its own next to the IPv4 one");

	inet_pton(AF_INET, "198.18.7.9", a);
	CHECK_EQ(tp_fakepool_lookup(p, AF_INET, a, name, sizeof(name)), -ENOENT,
	         "pool address never handed out");
	inet_pton(AF_INET, "198.18.7.0", a);
	CHECK_EQ(tp_fakepool_lookup(p, AF_INET, a, name, sizeof(name)), -ENOENT,
	         "the network address");
	inet_pton(AF_INET, "198.18.8.1", a);
	CHECK_EQ(tp_fakepool_lookup(p, AF_INET, a, name, sizeof(name)), 0, "outside the pool");
	CHECK(!tp_fakepool_contains(p, AF_INET, a), "not contained");
	inet_pton(AF_INET6, "fd00:18::1:1", c6);
	CHECK_EQ(tp_fakepool_lookup(p, AF_INET6, c6, name, sizeof(name)), 0, "v6 outside");
	OK("unmapped pool addresses (-ENOENT) and outside ones (0)");

	CHECK_EQ(assign(p, AF_INET, "", a, NULL), -EINVAL, "empty");
	CHECK_EQ(assign(p, AF_INET, "a.", a, NULL), -EINVAL, "trailing dot");
	CHECK_EQ(assign(p, AF_INET, "A.example", a, NULL), -EINVAL, "upper case");
	CHECK_EQ(assign(p, AF_INET, "a..b", a, NULL), -EINVAL, "empty label");
	memset(name, 'a', sizeof(name));
	CHECK_EQ(tp_fakepool_assign(p, AF_INET, name, TP_FAKE_NAME_MAX + 1, a, NULL), -EINVAL,
	         "254 bytes");
	CHECK_EQ(tp_fakepool_assign(p, AF_INET, name, TP_FAKE_NAME_MAX, a, NULL), 0, "253 bytes");
	OK("names: empty, trailing dot, upper case, empty label, too long refused");
	tp_fakepool_unmap(p);

	pools[1] = cidr("198.19.0.0/24");
	CHECK_EQ(tp_fakepool_create(&p, pools, 2, 10), -EINVAL, "two IPv4 pools");
	pools[0] = cidr("198.19.0.0/31");
	CHECK_EQ(tp_fakepool_create(&p, pools, 1, 10), -EINVAL, "too small");
	CHECK_EQ(tp_fakepool_create(&p, NULL, 0, 0), -EINVAL, "max 0");
	OK("create refuses two pools of a family, tiny pools, max 0");
}

TP_TEST(lru)
{
	struct tp_cidr pools[2] = {cidr("198.18.0.0/30"), cidr("fd00:18::/64")};
	struct tp_fakepool *p = NULL;
	uint8_t a[16], b[16], c[16], x[16];
	char name[TP_FAKE_NAME_MAX + 1];
	bool ev = true;
	struct tp_fakepool_stat st;

	CHECK_EQ(tp_fakepool_create(&p, pools, 2, 3), 0, "create");
	if (!p)
		return;
	CHECK(!assign(p, AF_INET, "a.test", a, &ev) && !ev, "a, no eviction");
	CHECK(!assign(p, AF_INET, "b.test", b, &ev) && !ev, "b, no eviction");
	/* a is used by a flow: b is now the least recently used */
	CHECK_EQ(tp_fakepool_lookup(p, AF_INET, a, name, sizeof(name)), 6, "a used");
	CHECK(!assign(p, AF_INET, "c.test", c, &ev) && ev, "c evicts");
	CHECK(!memcmp(c, b, 4), "c takes b's address");
	CHECK_EQ(tp_fakepool_lookup(p, AF_INET, c, name, sizeof(name)), 6, "c mapped");
	CHECK(!strcmp(name, "c.test"), "the address now names c: %s", name);
	CHECK(!assign(p, AF_INET, "a.test", x, &ev) && !ev && !memcmp(x, a, 4), "a kept");
	/* now c is the least recent; b comes back and evicts c */
	CHECK(!assign(p, AF_INET, "b.test", x, &ev) && ev && !memcmp(x, c, 4), "b evicts c");
	tp_fakepool_stat(p, AF_INET, &st);
	CHECK(st.capacity == 2 && st.used == 2 && st.evictions == 2, "cap %u used %u ev %llu",
	      st.capacity, st.used, (unsigned long long)st.evictions);
	OK("a /30 (2 addresses): the least recently used (by DNS or by a flow) is evicted");

	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		CHECK(!assign(p, AF_INET6, name, x, &ev) && !ev, "v6 %d", i);
	}
	CHECK(!assign(p, AF_INET6, "n3.test", x, &ev) && ev, "max-entries 3 reached");
	inet_pton(AF_INET6, "fd00:18::1", b);
	CHECK(!memcmp(x, b, 16), "n3 takes n0's address fd00:18::1");
	tp_fakepool_stat(p, AF_INET6, &st);
	CHECK(st.capacity == 3 && st.evictions == 1, "v6 cap %u evictions %llu", st.capacity,
	      (unsigned long long)st.evictions);
	tp_fakepool_stat(p, AF_INET, &st);
	CHECK_EQ(st.evictions, 2, "the IPv4 pool is untouched");
	OK("IPv6 bounded by max-entries; each family its own LRU");

	/* many names through a small pool: the map stays consistent */
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "host%d.example", i % 7);
		CHECK(!assign(p, AF_INET, name, x, NULL), "churn %d", i);
		CHECK(tp_fakepool_lookup(p, AF_INET, x, name + 100, 150) == (int)strlen(name),
		      "churn lookup %d", i);
		if (tp_test_failures())
			break;
	}
	OK("churn: 5000 assignments of 7 names through 2 addresses");
	tp_fakepool_unmap(p);
}

TP_TEST(shared_across_fork)
{
	struct tp_cidr pools[1] = {cidr("198.18.0.0/24")};
	struct tp_fakepool *p = NULL;
	uint8_t a[16], x[16];
	char name[TP_FAKE_NAME_MAX + 1];
	int status = -1;
	pid_t pid;

	CHECK_EQ(tp_fakepool_create(&p, pools, 1, 100), 0, "create");
	if (!p)
		return;
	CHECK_EQ(assign(p, AF_INET, "before.fork", a, NULL), 0, "before the fork");
	pid = fork();
	if (pid == 0) {
		/* a worker: sees the parent's mapping, adds one */
		char n[TP_FAKE_NAME_MAX + 1];
		uint8_t y[16];

		if (tp_fakepool_lookup(p, AF_INET, a, n, sizeof(n)) != 11 ||
		    strcmp(n, "before.fork"))
			_exit(2);
		if (assign(p, AF_INET, "child.example", y, NULL))
			_exit(3);
		_exit(y[3] == 2 ? 0 : 4);
	}
	CHECK(pid > 0, "fork");
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	inet_pton(AF_INET, "198.18.0.2", x);
	CHECK_EQ(tp_fakepool_lookup(p, AF_INET, x, name, sizeof(name)), 13,
	         "the child's mapping seen by the parent");
	CHECK(!strcmp(name, "child.example"), "name %s", name);
	OK("a child's mapping is seen by the parent and the parent's by the child");

	/* a child dies holding the lock: the next locker recovers */
	pid = fork();
	if (pid == 0) {
		tp_fakepool_test_hold_lock(p);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK_EQ(tp_fakepool_lookup(p, AF_INET, x, name, sizeof(name)), 13,
	         "after EOWNERDEAD: the mapping is still there");
	CHECK_EQ(assign(p, AF_INET, "after.crash", x, NULL), 0, "assign after the crash");
	CHECK_EQ(x[3], 3, "next address .3");
	CHECK_EQ(assign(p, AF_INET, "before.fork", x, NULL), 0, "old name");
	CHECK(!memcmp(x, a, 4), "keeps its address after the rebuild");
	OK("a process that died holding the lock: indexes rebuilt, mappings kept");
	tp_fakepool_unmap(p);
}

TP_TEST(options)
{
	struct tp_options o;
	char err[512];
	char *ok[] = {"tunplug",
	              "--dns-upstream",
	              "127.0.0.1:53",
	              "--fake-ip",
	              "198.18.0.0/15",
	              "--fake-ip",
	              "fc00:18::/64",
	              "--fake-ip-ttl",
	              "30",
	              "--fake-ip-max",
	              "100",
	              NULL};
	char *two[] = {"tunplug",       "--dns-upstream", "127.0.0.1:53", "--fake-ip",
	               "198.18.0.0/15", "--fake-ip",      "10.0.0.0/8",   NULL};
	char *nodns[] = {"tunplug", "--fake-ip", "198.18.0.0/15", NULL};
	char *tiny[] = {"tunplug", "--fake-ip", "198.18.0.0/31", NULL};
	char *bad[] = {"tunplug", "--fake-ip", "example", NULL};
	char *own[] = {"tunplug",       "--dns-upstream", "127.0.0.1:53",  "--fake-ip",
	               "198.18.0.0/15", "--address",      "198.18.0.1/32", NULL};
	char *ttl[] = {"tunplug", "--fake-ip-ttl", "0", NULL};

	CHECK(!tp_options_parse(&o, 11, ok, err, sizeof(err)), "valid: %s", err);
	CHECK(o.n_fake_ips == 2 && o.fake_ips[1].family == AF_INET6 && o.fake_ip_ttl == 30 &&
	              o.fake_ip_max == 100,
	      "parsed");
	tp_options_defaults(&o);
	CHECK(o.fake_ip_ttl == 10 && o.fake_ip_max == 65536 && !o.n_fake_ips, "defaults");
	CHECK(tp_options_parse(&o, 7, two, err, sizeof(err)) && strstr(err, "--fake-ip") &&
	              strstr(err, "one IPv4 pool"),
	      "two IPv4 pools: %s", err);
	CHECK(tp_options_parse(&o, 3, nodns, err, sizeof(err)) && strstr(err, "--dns-upstream"),
	      "without upstream: %s", err);
	CHECK(tp_options_parse(&o, 3, tiny, err, sizeof(err)) && strstr(err, "too small"),
	      "tiny: %s", err);
	CHECK(tp_options_parse(&o, 3, bad, err, sizeof(err)) && strstr(err, "\"example\""),
	      "not a prefix: %s", err);
	CHECK(tp_options_parse(&o, 7, own, err, sizeof(err)) && strstr(err, "198.18.0.1"),
	      "pool holds the tun's address: %s", err);
	CHECK(tp_options_parse(&o, 3, ttl, err, sizeof(err)) && strstr(err, "--fake-ip-ttl"),
	      "ttl 0: %s", err);
	OK("command line: pools, ttl, max; errors name the option and the value");
}

TP_TEST(config)
{
	static const char good[] = "dns:\n"
	                           "  upstreams: [\"127.0.0.1:53\"]\n"
	                           "  fake-ip: [198.18.0.0/15, \"fc00:18::/64\"]\n"
	                           "  fake-ip-ttl: 5\n"
	                           "  fake-ip-max: 4096\n";
	static const char bad[] = "dns:\n"
	                          "  upstreams: [\"127.0.0.1:53\"]\n"
	                          "  fake-ip:\n"
	                          "    - 198.18.0.0/15\n"
	                          "    - 198.18.0.0/32\n";
	static const char badttl[] = "dns:\n  fake-ip-ttl: soon\n";
	struct tp_config c;
	struct tp_options o;
	char err[512];

	tp_options_defaults(&o);
	CHECK(!tp_config_parse(&c, &o, "t.yaml", good, sizeof(good) - 1, err, sizeof(err)),
	      "good: %s", err);
	CHECK(o.n_fake_ips == 2 && o.fake_ip_ttl == 5 && o.fake_ip_max == 4096, "values");
	tp_config_free(&c);
	tp_options_defaults(&o);
	CHECK(tp_config_parse(&c, &o, "t.yaml", bad, sizeof(bad) - 1, err, sizeof(err)) &&
	              strstr(err, "t.yaml:5:") && strstr(err, "dns.fake-ip"),
	      "second IPv4 pool, line 5: %s", err);
	tp_config_free(&c);
	tp_options_defaults(&o);
	CHECK(tp_config_parse(&c, &o, "t.yaml", badttl, sizeof(badttl) - 1, err, sizeof(err)) &&
	              strstr(err, "t.yaml:2:") && strstr(err, "dns.fake-ip-ttl"),
	      "bad ttl, line 2: %s", err);
	tp_config_free(&c);
	OK("config file: dns.fake-ip list, ttl, max; errors name the key and the line");
}

static int pool_addr(void *ctx, int family, const char *name, size_t len, void *addr)
{
	return tp_fakepool_assign(ctx, family, name, len, addr, NULL);
}

/* A query for name (dotted) of type and class, with opcode flags. */
static size_t query(uint8_t *m, const char *name, uint16_t type, uint16_t cls, uint16_t flags)
{
	size_t n = 12;

	memset(m, 0, 12);
	m[0] = 0x12;
	m[1] = 0x34;
	m[2] = (uint8_t)(flags >> 8);
	m[3] = (uint8_t)flags;
	m[5] = 1;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		m[n++] = (uint8_t)l;
		memcpy(m + n, name, l);
		n += l;
		name += l + (dot != NULL);
	}
	m[n++] = 0;
	m[n++] = (uint8_t)(type >> 8);
	m[n++] = (uint8_t)type;
	m[n++] = (uint8_t)(cls >> 8);
	m[n++] = (uint8_t)cls;
	return n;
}

TP_TEST(responder)
{
	struct tp_cidr pools[1] = {cidr("198.18.0.0/24")};
	struct tp_fakepool *p = NULL;
	uint8_t m[300], out[600];
	char name[DNSMSG_NAME_MAX + 1], back[TP_FAKE_NAME_MAX + 1], buf[64];
	struct dnsmsg_query q;
	size_t qn, n;
	int rc;

	CHECK_EQ(tp_fakepool_create(&p, pools, 1, 100), 0, "create");
	if (!p)
		return;
	qn = query(m, "WWW.Example.com", 1, 1, 0x0100);
	CHECK_EQ(dnsmsg_parse_query(m, qn, &q), DNSMSG_OK, "parse");
	n = dnsmsg_fake_answer(&q, pool_addr, p, 42, name, out, sizeof(out), &rc);
	CHECK(n == qn + 16 && rc == 0, "answered: n %zu rc %d", n, rc);
	CHECK(!strcmp(name, "www.example.com"), "name %s", name);
	CHECK(out[qn + 6] == 0 && out[qn + 7] == 0 && out[qn + 8] == 0 && out[qn + 9] == 42,
	      "TTL 42 in the answer");
	CHECK(!strcmp(a4(out + n - 4, buf), "198.18.0.1"), "address %s", buf);
	CHECK(tp_fakepool_lookup(p, AF_INET, out + n - 4, back, sizeof(back)) == 15 &&
	              !strcmp(back, "www.example.com"),
	      "the answer's address maps back to the name");
	OK("A: a pool address with the configured TTL, mapped back to the lower-case name");

	qn = query(m, "www.example.com", 28, 1, 0x0100);
	CHECK_EQ(dnsmsg_parse_query(m, qn, &q), DNSMSG_OK, "parse AAAA");
	n = dnsmsg_fake_answer(&q, pool_addr, p, 42, name, out, sizeof(out), &rc);
	CHECK(n == qn && rc == -EAFNOSUPPORT && out[7] == 0, "no IPv6 pool: NODATA (n %zu)", n);
	OK("AAAA without an IPv6 pool: NODATA, the client gets no real address");

	static const struct {
		const char *name;
		uint16_t type, cls, flags;
		const char *why;
	} fwd[] = {
	        {"example.com", 16, 1, 0x0100, "TXT"},
	        {"example.com", 12, 1, 0x0100, "PTR"},
	        {"example.com", 1, 3, 0x0100, "class CH"},
	        {"example.com", 1, 1, 0x1100, "opcode STATUS"},
	        {"", 1, 1, 0x0100, "the root"},
	        {"a b.example", 1, 1, 0x0100, "a space in a label"},
	};
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
		qn = query(m, fwd[i].name, fwd[i].type, fwd[i].cls, fwd[i].flags);
		CHECK_EQ(dnsmsg_parse_query(m, qn, &q), DNSMSG_OK, fwd[i].why);
		CHECK_EQ(dnsmsg_fake_answer(&q, pool_addr, p, 42, name, out, sizeof(out), &rc), 0,
		         fwd[i].why);
	}
	OK("forwarded, not faked: TXT, PTR, class CH, opcode STATUS, the root, odd names");
	tp_fakepool_unmap(p);
}
