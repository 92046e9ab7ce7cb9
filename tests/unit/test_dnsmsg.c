/* SPDX-License-Identifier: MIT */
/* DNS message helpers of the dns handler (handlers/src/dnsmsg.c): query
 * validation, name decompression (bounds, pointer loops, limits), answer
 * matching, SERVFAIL/FORMERR building, presentation strings and the
 * upstream list parser; plus random messages that must never crash (run
 * under ASan) and whose SERVFAIL, when built, always matches its query. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "dnsmsg.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* "www.example.com" -> wire form at p; returns its length. */
static size_t put_name(uint8_t *p, const char *name)
{
	size_t n = 0;

	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		p[n++] = (uint8_t)l;
		memcpy(p + n, name, l);
		n += l;
		name += l;
		if (*name == '.')
			name++;
	}
	p[n++] = 0;
	return n;
}

/* A message with one question; returns its length. */
static size_t build_msg(uint8_t *m, uint16_t id, uint16_t flags, uint16_t qd, const char *name,
                        uint16_t type, uint16_t cls)
{
	size_t n;

	memset(m, 0, 12);
	m[0] = (uint8_t)(id >> 8);
	m[1] = (uint8_t)id;
	m[2] = (uint8_t)(flags >> 8);
	m[3] = (uint8_t)flags;
	m[4] = (uint8_t)(qd >> 8);
	m[5] = (uint8_t)qd;
	n = 12 + put_name(m + 12, name);
	m[n++] = (uint8_t)(type >> 8);
	m[n++] = (uint8_t)type;
	m[n++] = (uint8_t)(cls >> 8);
	m[n++] = (uint8_t)cls;
	return n;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

TP_TEST(parse_query)
{
	uint8_t m[600];
	struct dnsmsg_query q;
	size_t n = build_msg(m, 0xbeef, 0x0100, 1, "www.Example.com", 28, 1);
	uint8_t wire[64];
	size_t wl = put_name(wire, "www.Example.com");

	CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_OK, "good query");
	CHECK_EQ(q.id, 0xbeef, "id");
	CHECK_EQ(q.flags, 0x0100, "flags");
	CHECK_EQ(q.qtype, 28, "qtype");
	CHECK_EQ(q.qclass, 1, "qclass");
	CHECK_EQ(q.q_end, n, "q_end");
	CHECK(q.qname_len == wl && memcmp(q.qname, wire, wl) == 0, "qname wire form");
	/* trailing bytes (an OPT record) are fine */
	memset(m + n, 0xaa, 11);
	CHECK_EQ(dnsmsg_parse_query(m, n + 11, &q), DNSMSG_OK, "trailing additional data");
	CHECK_EQ(q.q_end, n, "q_end with trailing data");
	OK("parse: a good query gives ID, flags, wire name, type, class, end of question");

	n = build_msg(m, 1, 0, 1, "", 2, 1);
	CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_OK, "root name");
	CHECK_EQ(q.qname_len, 1, "root is one byte");
	OK("parse: the root name");

	n = build_msg(m, 1, 0x0100, 1, "a.b", 1, 1);
	for (size_t l = 0; l < 12; l++)
		CHECK_EQ(dnsmsg_parse_query(m, l, &q), DNSMSG_DROP, "short header");
	for (size_t l = 12; l < n; l++)
		CHECK_EQ(dnsmsg_parse_query(m, l, &q), DNSMSG_FORMERR, "cut question");
	m[2] |= 0x80;
	CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_DROP, "a response");
	m[2] &= 0x7f;
	m[5] = 0;
	CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_FORMERR, "QDCOUNT 0");
	m[5] = 2;
	CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_OK, "QDCOUNT 2: the first question");
	OK("parse: < 12 bytes and responses dropped; every cut question and QDCOUNT 0 FORMERR");

	/* label types 0x40 and 0x80, a label of 64 */
	n = build_msg(m, 1, 0, 1, "ab", 1, 1);
	m[12] = 0x42;
	CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_FORMERR, "label type 0x40");
	m[12] = 0x82;
	CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_FORMERR, "label type 0x80");
	{
		char big[200];
		memset(big, 'x', 64);
		big[64] = '\0';
		n = build_msg(m, 1, 0, 1, big, 1, 1);
		CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_FORMERR, "label of 64");
		big[63] = '\0';
		n = build_msg(m, 1, 0, 1, big, 1, 1);
		CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_OK, "label of 63");
	}
	/* names of exactly 255 and 256 wire bytes: 4 labels of 63 = 256 + root */
	{
		char name[300];
		size_t o = 0;
		for (int i = 0; i < 4; i++) {
			memset(name + o, 'a' + i, 63);
			o += 63;
			name[o++] = '.';
		}
		name[o - 1] = '\0'; /* 4*64 + 1 = 257 */
		n = build_msg(m, 1, 0, 1, name, 1, 1);
		CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_FORMERR, "257-byte name");
		name[o - 3] = '\0'; /* last label 61: 255 bytes */
		n = build_msg(m, 1, 0, 1, name, 1, 1);
		CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_OK, "255-byte name");
		CHECK_EQ(q.qname_len, 255, "255-byte name length");
		name[o - 3] = 'd';
		name[o - 2] = '\0'; /* last label 62: 256 bytes */
		n = build_msg(m, 1, 0, 1, name, 1, 1);
		CHECK_EQ(dnsmsg_parse_query(m, n, &q), DNSMSG_FORMERR, "256-byte name");
	}
	OK("parse: reserved label types, labels > 63 and names > 255 bytes are FORMERR");

	/* a pointer as the first question's name: only backward, never into the header */
	memset(m, 0, 12);
	m[5] = 1;
	m[12] = 0xc0;
	m[13] = 0x00;
	memset(m + 14, 0, 4);
	CHECK_EQ(dnsmsg_parse_query(m, 18, &q), DNSMSG_FORMERR, "pointer into the header");
	m[13] = 12;
	CHECK_EQ(dnsmsg_parse_query(m, 18, &q), DNSMSG_FORMERR, "pointer to itself");
	m[13] = 20;
	CHECK_EQ(dnsmsg_parse_query(m, 18, &q), DNSMSG_FORMERR, "forward pointer");
	OK("parse: pointers to itself, forward or into the header are FORMERR");
}

TP_TEST(read_name)
{
	uint8_t m[200], out[DNSMSG_NAME_MAX], want[64];
	size_t off, n, a, b, wl;

	memset(m, 0, 12);
	a = 12;
	n = put_name(m + a, "www.example.com");
	b = a + n;
	/* "mail" + pointer to "example.com" (offset a + 4) */
	m[b] = 4;
	memcpy(m + b + 1, "mail", 4);
	m[b + 5] = 0xc0;
	m[b + 6] = (uint8_t)(a + 4);
	m[b + 7] = 0xaa; /* whatever follows */
	off = b;
	n = dnsmsg_read_name(m, b + 8, &off, out);
	wl = put_name(want, "mail.example.com");
	CHECK(n == wl && memcmp(out, want, wl) == 0, "decompressed name");
	CHECK_EQ(off, b + 7, "offset after the pointer");
	/* a chain: pointer -> pointer -> labels */
	m[b + 7] = 0xc0;
	m[b + 8] = (uint8_t)b;
	off = b + 7;
	n = dnsmsg_read_name(m, b + 9, &off, out);
	CHECK(n == wl && memcmp(out, want, wl) == 0, "chained pointers");
	CHECK_EQ(off, b + 9, "offset after the first pointer of a chain");
	/* cut inside the pointer */
	off = b;
	CHECK_EQ(dnsmsg_read_name(m, b + 6, &off, out), 0, "pointer cut in half");
	OK("read_name: compression, pointer chains, offset after the first pointer");

	/* a loop: two names pointing at each other */
	memset(m, 0, sizeof(m));
	m[20] = 0xc0;
	m[21] = 30;
	m[30] = 0xc0;
	m[31] = 20;
	off = 30;
	CHECK_EQ(dnsmsg_read_name(m, 40, &off, out), 0, "pointer loop");
	/* a backward pointer whose labels run into the same pointer again */
	m[20] = 1;
	m[21] = 'x';
	m[22] = 0xc0;
	m[23] = 20;
	off = 22;
	CHECK_EQ(dnsmsg_read_name(m, 40, &off, out), 0, "self-reaching loop");
	/* a long compressed chain that would exceed 255 bytes */
	memset(m, 0, sizeof(m));
	for (size_t i = 0; i < 4; i++) {
		size_t p = 12 + i * 3;
		m[p] = 1;
		m[p + 1] = 'a';
		m[p + 2] = 0; /* overwritten by the next label except the last */
	}
	off = 12;
	CHECK(dnsmsg_read_name(m, 40, &off, out) > 0, "label run");
	OK("read_name: pointer loops end with an error");
}

TP_TEST(match)
{
	uint8_t qm[300], am[300];
	struct dnsmsg_query q;
	size_t qn = build_msg(qm, 0x1234, 0x0100, 1, "Host.Example.ORG", 1, 1);
	size_t an;

	CHECK_EQ(dnsmsg_parse_query(qm, qn, &q), DNSMSG_OK, "query");
	an = build_msg(am, 0x1234, 0x8180, 1, "hOST.example.org", 1, 1);
	memset(am + an, 0xcc, 16); /* answer records: not looked at */
	CHECK(dnsmsg_match_answer(&q, am, an + 16), "case-insensitive match");
	CHECK(!dnsmsg_truncated(am, an), "TC clear");
	CHECK_EQ(dnsmsg_rcode(am, an), 0, "NOERROR");
	am[3] |= 3;
	CHECK_EQ(dnsmsg_rcode(am, an), 3, "NXDOMAIN");
	am[2] |= 0x02;
	CHECK(dnsmsg_truncated(am, an), "TC set");
	CHECK(dnsmsg_match_answer(&q, am, an), "still matches with TC and NXDOMAIN");
	CHECK_EQ(dnsmsg_rcode(am, 11), -1, "short: no rcode");
	CHECK(!dnsmsg_truncated(am, 11), "short: not truncated");
	OK("match: same ID and question (name case-insensitive); TC and RCODE read");

	an = build_msg(am, 0x1235, 0x8180, 1, "host.example.org", 1, 1);
	CHECK(!dnsmsg_match_answer(&q, am, an), "other ID");
	an = build_msg(am, 0x1234, 0x0100, 1, "host.example.org", 1, 1);
	CHECK(!dnsmsg_match_answer(&q, am, an), "QR clear");
	an = build_msg(am, 0x1234, 0x8180, 1, "host.example.net", 1, 1);
	CHECK(!dnsmsg_match_answer(&q, am, an), "other name");
	an = build_msg(am, 0x1234, 0x8180, 1, "host.example.org.x", 1, 1);
	CHECK(!dnsmsg_match_answer(&q, am, an), "longer name");
	an = build_msg(am, 0x1234, 0x8180, 1, "hostexample.org", 1, 1);
	CHECK(!dnsmsg_match_answer(&q, am, an), "other label structure");
	an = build_msg(am, 0x1234, 0x8180, 1, "host.example.org", 28, 1);
	CHECK(!dnsmsg_match_answer(&q, am, an), "other type");
	an = build_msg(am, 0x1234, 0x8180, 1, "host.example.org", 1, 3);
	CHECK(!dnsmsg_match_answer(&q, am, an), "other class");
	an = build_msg(am, 0x1234, 0x8180, 0, "host.example.org", 1, 1);
	CHECK(!dnsmsg_match_answer(&q, am, an), "QDCOUNT 0");
	an = build_msg(am, 0x1234, 0x8180, 1, "host.example.org", 1, 1);
	for (size_t l = 0; l < an; l++)
		CHECK(!dnsmsg_match_answer(&q, am, l), "cut answer of %zu bytes", l);
	/* a letter vs. a byte that differs only in bit 5 but is not a letter */
	qn = build_msg(qm, 7, 0, 1, "a@", 1, 1);
	CHECK_EQ(dnsmsg_parse_query(qm, qn, &q), DNSMSG_OK, "query a@");
	an = build_msg(am, 7, 0x8000, 1, "a`", 1, 1);
	CHECK(!dnsmsg_match_answer(&q, am, an), "'@' != '`'");
	OK("match: other ID, QR=0, name, label structure, type, class, QDCOUNT 0, cut: no match");
}

TP_TEST(build)
{
	uint8_t qm[300], out[300];
	struct dnsmsg_query q;
	size_t qn = build_msg(qm, 0xabcd, 0x0110, 1, "x.example", 16, 1); /* RD + CD */
	size_t n;

	qm[qn] = 0; /* an OPT record would follow: not copied */
	CHECK_EQ(dnsmsg_parse_query(qm, qn, &q), DNSMSG_OK, "query");
	n = dnsmsg_build_servfail(&q, out, sizeof(out));
	CHECK_EQ(n, qn, "SERVFAIL is header + question");
	CHECK_EQ(rd16(out), 0xabcd, "ID kept");
	CHECK_EQ(rd16(out + 2), 0x8192, "QR RD RA CD, SERVFAIL");
	CHECK_EQ(rd16(out + 4), 1, "QDCOUNT 1");
	CHECK(rd16(out + 6) == 0 && rd16(out + 8) == 0 && rd16(out + 10) == 0, "no records");
	CHECK(memcmp(out + 12, qm + 12, qn - 12) == 0, "question copied");
	CHECK(dnsmsg_match_answer(&q, out, n), "SERVFAIL matches its query");
	CHECK_EQ(dnsmsg_rcode(out, n), DNSMSG_RCODE_SERVFAIL, "rcode 2");
	CHECK_EQ(dnsmsg_build_servfail(&q, out, qn - 1), 0, "no room");
	/* opcode kept (2 = STATUS), RD clear stays clear */
	qn = build_msg(qm, 1, 0x1000, 1, "a", 1, 1);
	CHECK_EQ(dnsmsg_parse_query(qm, qn, &q), DNSMSG_OK, "opcode 2 query");
	n = dnsmsg_build_servfail(&q, out, sizeof(out));
	CHECK_EQ(rd16(out + 2), 0x9082, "opcode kept, RD clear");
	OK("servfail: ID, opcode, RD, CD kept, QR RA set, RCODE 2, one question, no records");

	qn = build_msg(qm, 0x4242, 0x0100, 0, "a", 1, 1);
	CHECK_EQ(dnsmsg_parse_query(qm, qn, &q), DNSMSG_FORMERR, "QDCOUNT 0 query");
	n = dnsmsg_build_formerr(qm, qn, out, sizeof(out));
	CHECK_EQ(n, 12, "FORMERR is a header");
	CHECK_EQ(rd16(out), 0x4242, "ID kept");
	CHECK_EQ(rd16(out + 2), 0x8181, "QR RD RA, FORMERR");
	CHECK(rd16(out + 4) == 0 && rd16(out + 6) == 0 && rd16(out + 8) == 0 && rd16(out + 10) == 0,
	      "no records");
	CHECK_EQ(dnsmsg_build_formerr(qm, 11, out, sizeof(out)), 0, "short");
	CHECK_EQ(dnsmsg_build_formerr(qm, qn, out, 11), 0, "no room");
	qm[2] |= 0x80;
	CHECK_EQ(dnsmsg_build_formerr(qm, qn, out, sizeof(out)), 0, "never answer a response");
	OK("formerr: header only, ID and RD kept; none for short messages or responses");
}

TP_TEST(fake_answer)
{
	uint8_t qm[300], out[300], a4[4] = {198, 18, 0, 1}, a6[16] = {0xfd, 0, 0x18};
	char name[256];
	struct dnsmsg_query q;
	size_t qn = build_msg(qm, 0x1234, 0x0100, 1, "WWW.Example.COM", 1, 1), n;

	CHECK_EQ(dnsmsg_parse_query(qm, qn, &q), DNSMSG_OK, "A query");
	n = dnsmsg_build_address(&q, a4, 4, 10, out, sizeof(out));
	CHECK_EQ(n, qn + 16, "header + question + one A record");
	CHECK(dnsmsg_match_answer(&q, out, n), "the answer matches its query");
	CHECK_EQ(rd16(out + 2), 0x8180, "QR RD RA, NOERROR");
	CHECK_EQ(rd16(out + 6), 1, "ANCOUNT 1");
	CHECK_EQ(rd16(out + qn), 0xc00c, "the answer's name points at the question");
	CHECK(rd16(out + qn + 2) == 1 && rd16(out + qn + 4) == 1, "type A class IN");
	CHECK(rd16(out + qn + 6) == 0 && rd16(out + qn + 8) == 10, "ttl 10");
	CHECK(rd16(out + qn + 10) == 4 && !memcmp(out + qn + 12, a4, 4), "rdata");
	CHECK_EQ(dnsmsg_build_address(&q, a4, 4, 10, out, qn + 15), 0, "no room");
	CHECK_EQ(dnsmsg_build_address(&q, a4, 5, 10, out, sizeof(out)), 0, "bad length");
	OK("A answer: pointer to the question, type, class, ttl, 4 bytes");

	qn = build_msg(qm, 7, 0x0100, 1, "b.example.org", 28, 1);
	CHECK_EQ(dnsmsg_parse_query(qm, qn, &q), DNSMSG_OK, "AAAA query");
	n = dnsmsg_build_address(&q, a6, 16, 0x12345678, out, sizeof(out));
	CHECK_EQ(n, qn + 28, "one AAAA record");
	CHECK(rd16(out + qn + 6) == 0x1234 && rd16(out + qn + 8) == 0x5678, "32-bit ttl");
	CHECK(!memcmp(out + qn + 12, a6, 16), "rdata 16 bytes");
	n = dnsmsg_build_address(&q, NULL, 0, 10, out, sizeof(out));
	CHECK_EQ(n, qn, "NODATA: no record");
	CHECK(rd16(out + 6) == 0 && dnsmsg_rcode(out, n) == 0, "ANCOUNT 0, NOERROR");
	OK("AAAA answer with a 32-bit ttl; NODATA");

	n = put_name(qm, "WWW.Example.COM");
	CHECK_EQ(dnsmsg_host_name(qm, n, name, sizeof(name)), 15, "host name");
	CHECK(!strcmp(name, "www.example.com"), "lower case, no trailing dot: %s", name);
	n = put_name(qm, "a_b-1.x");
	CHECK_EQ(dnsmsg_host_name(qm, n, name, sizeof(name)), 7, "'_' and '-' pass");
	qm[0] = 0;
	CHECK_EQ(dnsmsg_host_name(qm, 1, name, sizeof(name)), 0, "the root is no host name");
	n = put_name(qm, "a b.example");
	CHECK_EQ(dnsmsg_host_name(qm, n, name, sizeof(name)), 0, "a space is refused");
	n = put_name(qm, "a.example");
	qm[2] = '.';
	CHECK_EQ(dnsmsg_host_name(qm, n, name, sizeof(name)), 0, "a dot inside a label too");
	n = put_name(qm, "abc.example");
	CHECK_EQ(dnsmsg_host_name(qm, n - 1, name, sizeof(name)), 0, "no root label");
	CHECK_EQ(dnsmsg_host_name(qm, n, name, 5), 0, "no room");
	OK("host names: lower-cased, plain bytes only, root and odd names refused");
}

TP_TEST(strings)
{
	uint8_t w[64];
	char s[64], tb[16];
	size_t n = put_name(w, "www.Example.com");

	dnsmsg_name_str(w, n, s, sizeof(s));
	CHECK(strcmp(s, "www.Example.com.") == 0, "name: %s", s);
	dnsmsg_name_str(w, 1, s, sizeof(s));
	w[0] = 0;
	dnsmsg_name_str(w, 1, s, sizeof(s));
	CHECK(strcmp(s, ".") == 0, "root: %s", s);
	w[0] = 3;
	memcpy(w + 1, "a.\x01", 3);
	w[4] = 0;
	dnsmsg_name_str(w, 5, s, sizeof(s));
	CHECK(strcmp(s, "a\\046\\001.") == 0, "escapes: %s", s);
	n = put_name(w, "www.example.com");
	dnsmsg_name_str(w, n, s, 5);
	CHECK(strcmp(s, "www.") == 0, "cut to the buffer: %s", s);
	CHECK(strcmp(dnsmsg_type_str(28, tb, sizeof(tb)), "AAAA") == 0, "AAAA");
	CHECK(strcmp(dnsmsg_type_str(16, tb, sizeof(tb)), "TXT") == 0, "TXT");
	CHECK(strcmp(dnsmsg_type_str(999, tb, sizeof(tb)), "TYPE999") == 0, "TYPE999");
	CHECK(strcmp(dnsmsg_rcode_str(2, tb, sizeof(tb)), "SERVFAIL") == 0, "SERVFAIL");
	CHECK(strcmp(dnsmsg_rcode_str(9, tb, sizeof(tb)), "RCODE9") == 0, "RCODE9");
	OK("strings: names (escaped, cut), types, rcodes");
}

TP_TEST(upstreams)
{
	struct sockaddr_storage up[4];
	char bad[256];
	static const char *const bads[][2] = {
	        {"", ""},
	        {"1.2.3.4", "1.2.3.4"},
	        {"1.2.3.4:", "1.2.3.4:"},
	        {"1.2.3.4:0", "1.2.3.4:0"},
	        {"1.2.3.4:65536", "1.2.3.4:65536"},
	        {"1.2.3.4:5x", "1.2.3.4:5x"},
	        {"1.2.3.4:-53", "1.2.3.4:-53"},
	        {"1.2.3.4:053053", "1.2.3.4:053053"},
	        {"1.2.3.4:53,", ""},
	        {",1.2.3.4:53", ""},
	        {"1.2.3.4:53,,5.6.7.8:53", ""},
	        {"dns.example:53", "dns.example:53"},
	        {"1.2.3.256:53", "1.2.3.256:53"},
	        {"fd00::1:53", "fd00::1:53"},
	        {"[fd00::1]53", "[fd00::1]53"},
	        {"[fd00::1]:", "[fd00::1]:"},
	        {"[1.2.3.4]:53", "[1.2.3.4]:53"},
	        {"[]:53", "[]:53"},
	        {":53", ":53"},
	        {"1.2.3.4:53,[fd00::zz]:53", "[fd00::zz]:53"},
	};
	int n;

	n = dnsmsg_parse_upstreams("198.19.1.1:53", up, 4, bad, sizeof(bad));
	CHECK_EQ(n, 1, "one v4");
	CHECK_EQ(up[0].ss_family, AF_INET, "family");
	CHECK_EQ(ntohs(((struct sockaddr_in *)&up[0])->sin_port), 53, "port");
	CHECK_EQ(ntohl(((struct sockaddr_in *)&up[0])->sin_addr.s_addr), 0xc6130101, "addr");
	n = dnsmsg_parse_upstreams("198.19.1.1:53,[fd00:19::1]:5353", up, 4, bad, sizeof(bad));
	CHECK_EQ(n, 2, "v4 and v6");
	CHECK_EQ(up[1].ss_family, AF_INET6, "v6 family");
	CHECK_EQ(ntohs(((struct sockaddr_in6 *)&up[1])->sin6_port), 5353, "v6 port");
	CHECK_EQ(((struct sockaddr_in6 *)&up[1])->sin6_addr.s6_addr[15], 1, "v6 addr");
	n = dnsmsg_parse_upstreams("1.1.1.1:53,1.1.1.2:53,1.1.1.3:53,1.1.1.4:65535", up, 4, bad,
	                           sizeof(bad));
	CHECK_EQ(n, 4, "four: the maximum");
	OK("upstreams: v4, [v6] and lists up to the maximum parse");

	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		bad[0] = '?';
		bad[1] = '\0';
		n = dnsmsg_parse_upstreams(bads[i][0], up, 4, bad, sizeof(bad));
		CHECK(n == -1, "\"%s\" accepted", bads[i][0]);
		CHECK(strcmp(bad, bads[i][1]) == 0, "\"%s\": names \"%s\", want \"%s\"", bads[i][0],
		      bad, bads[i][1]);
	}
	n = dnsmsg_parse_upstreams(NULL, up, 4, bad, sizeof(bad));
	CHECK_EQ(n, -1, "NULL");
	n = dnsmsg_parse_upstreams("1.1.1.1:53,1.1.1.2:53,1.1.1.3:53,1.1.1.4:53,1.1.1.5:53", up, 4,
	                           bad, sizeof(bad));
	CHECK_EQ(n, -1, "five of four");
	CHECK(strstr(bad, "more than 4") != NULL, "too many: %s", bad);
	OK("upstreams: %zu bad lists refused, each naming the bad entry; too many refused",
	   sizeof(bads) / sizeof(bads[0]));
}

TP_TEST(random)
{
	uint8_t m[600], out[600];
	struct dnsmsg_query q;
	unsigned ok = 0, formerr = 0, drop = 0;

	for (int it = 0; it < 200000; it++) {
		size_t len = rnd() % 80;
		int r;

		for (size_t i = 0; i < len; i++)
			m[i] = (uint8_t)rnd();
		if (len > 12 && (rnd() & 1)) {
			m[2] &= 0x7f; /* make most of them queries */
			m[4] = 0;
			m[5] = 1;
			if (rnd() & 1) /* a plausible name start */
				m[12] = (uint8_t)(rnd() % 8);
		}
		r = dnsmsg_parse_query(m, len, &q);
		if (r == DNSMSG_OK) {
			size_t n = dnsmsg_build_servfail(&q, out, sizeof(out));
			ok++;
			CHECK(n > 12 && q.q_end <= len,
			      "servfail built, question within the message");
			CHECK(dnsmsg_match_answer(&q, out, n), "servfail matches (iteration %d)",
			      it);
			CHECK(q.qname_len >= 1 && q.qname[q.qname_len - 1] == 0, "root-terminated");
			dnsmsg_name_str(q.qname, q.qname_len, (char *)out, 64);
		} else if (r == DNSMSG_FORMERR) {
			formerr++;
			CHECK_EQ(dnsmsg_build_formerr(m, len, out, sizeof(out)), 12,
			         "formerr built");
		} else {
			drop++;
		}
		/* a random message is an answer only by accident; must not crash */
		(void)dnsmsg_match_answer(&q, m, len);
	}
	CHECK(ok > 1000 && formerr > 1000 && drop > 1000, "mix: %u %u %u", ok, formerr, drop);
	OK("random: 200000 messages (%u queries, %u FORMERR, %u dropped) parse within bounds", ok,
	   formerr, drop);
}
