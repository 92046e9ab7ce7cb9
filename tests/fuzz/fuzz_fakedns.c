/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the dns handler's fake-IP responder (handlers/src/
 * dnsmsg.c: dnsmsg_parse_query, dnsmsg_fake_answer) over the real shared
 * pool (gateway/src/names/fakepool.c) of a tiny IPv4 pool (a /29: 6
 * addresses, so eviction runs all the time) and an IPv6 one. The input is
 * a query datagram from a client: compression loops, forward pointers,
 * huge names, odd types. Invariants: nothing is read or written outside
 * the buffers (ASan); a query that is answered gets a response that
 * matches it (ID and question) with at most one record; a faked name is a
 * plain lower-case host name of at most 253 bytes; the address in the
 * answer is in its pool and maps back to that name. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dnsmsg.h"
#include "names/fakepool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tp_fakepool *pool;

static int pool_addr(void *ctx, int family, const char *name, size_t len, void *addr)
{
	return tp_fakepool_assign(ctx, family, name, len, addr, NULL);
}

static void setup(void)
{
	struct tp_cidr c[2];

	memset(c, 0, sizeof(c));
	if (tp_cidr_parse("198.18.0.0/29", &c[0]) || tp_cidr_parse("fd00:18::/120", &c[1]) ||
	    tp_fakepool_create(&pool, c, 2, 1000))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsmsg_query q;
	uint8_t out[DNSMSG_HDR_LEN + DNSMSG_NAME_MAX + 4 + 12 + 16];
	char name[DNSMSG_NAME_MAX + 1], back[TP_FAKE_NAME_MAX + 1];
	size_t n, nl, alen;
	int rc, family;

	if (!pool)
		setup();
	if (dnsmsg_parse_query(data, size, &q) != DNSMSG_OK)
		return 0;
	if (q.qname_len < 1 || q.qname_len > DNSMSG_NAME_MAX)
		abort();
	n = dnsmsg_fake_answer(&q, pool_addr, pool, 10, name, out, sizeof(out), &rc);
	if (!n)
		return 0;
	if (!dnsmsg_match_answer(&q, out, n) || dnsmsg_rcode(out, n) != DNSMSG_RCODE_NOERROR)
		abort();
	nl = strlen(name);
	if (!nl || nl > TP_FAKE_NAME_MAX || name[nl - 1] == '.')
		abort();
	for (size_t i = 0; i < nl; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			abort();
	}
	if (rc == -EAFNOSUPPORT)
		abort(); /* both families have a pool */
	if (rc != 0 || (q.qtype != 1 && q.qtype != 28))
		abort();
	family = q.qtype == 1 ? AF_INET : AF_INET6;
	alen = family == AF_INET ? 4 : 16;
	if (n != DNSMSG_HDR_LEN + q.qname_len + 4 + 12 + alen || out[7] != 1)
		abort();
	if (!tp_fakepool_contains(pool, family, out + n - alen))
		abort();
	if (tp_fakepool_lookup(pool, family, out + n - alen, back, sizeof(back)) != (int)nl ||
	    strcmp(back, name))
		abort();
	return 0;
}
