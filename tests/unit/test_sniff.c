/* SPDX-License-Identifier: MIT */
/* tunplug — unit test of gateway/src/sniff/ (the sniffers' pure parsers):
 * name validation; the TLS ClientHello's server_name (whole, split at
 * every byte boundary, split into several records, bad lengths, no SNI,
 * other extensions around it); the HTTP/1 Host header (ports, IPv6 and
 * IPv4 literals, case, bare LF, no Host, not HTTP); the QUIC v1 Initial
 * with RFC 9001 Appendix A: the client Initial of A.2 is built here from
 * the RFC's inputs (DCID 8394c8f03e515708, the CRYPTO frame, packet
 * number 2) by a test-only protector (OpenSSL's AES-128-GCM and ECB with
 * the keys tp_quic_initial_keys derives), compared byte for byte with the
 * RFC's protected packet, and then sniffed ("example.com"); plus a hello
 * in CRYPTO frames out of order, over two datagrams, and coalesced. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "quicinit.h"
#include "sniff/sniff.h"

/* ---- helpers ---- */

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (; h[0] && h[1] && n < cap; h += 2) {
		unsigned v;
		if (sscanf(h, "%2x", &v) != 1)
			abort();
		out[n++] = (uint8_t)v;
	}
	return n;
}

struct buf {
	uint8_t b[20000];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put8(struct buf *b, unsigned v)
{
	b->b[b->n++] = (uint8_t)v;
}

static void put16(struct buf *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void put24(struct buf *b, unsigned v)
{
	put8(b, v >> 16);
	put16(b, v);
}

/* A ClientHello handshake message: an ALPN extension and a big padding
 * extension before the server_name (sni NULL: none), supported_versions
 * after it; ext_bias skews the extensions' length by that much. */
static void hello(struct buf *h, const char *sni, size_t pad, int ext_bias)
{
	struct buf e = {.n = 0};
	uint8_t rnd[32];

	memset(rnd, 0xab, sizeof(rnd));
	put16(&e, 16); /* ALPN: "h2" */
	put16(&e, 5);
	put16(&e, 3);
	put8(&e, 2);
	put(&e, "h2", 2);
	put16(&e, 21); /* padding */
	put16(&e, (unsigned)pad);
	for (size_t i = 0; i < pad; i++)
		put8(&e, 0);
	if (sni) {
		size_t n = strlen(sni);
		put16(&e, 0);
		put16(&e, (unsigned)(n + 5));
		put16(&e, (unsigned)(n + 3));
		put8(&e, 0);
		put16(&e, (unsigned)n);
		put(&e, sni, n);
	}
	put16(&e, 43); /* supported_versions: TLS 1.3 */
	put16(&e, 3);
	put8(&e, 2);
	put16(&e, 0x0304);

	h->n = 0;
	put8(h, 1);
	put24(h, (unsigned)(2 + 32 + 1 + 32 + 2 + 4 + 2 + 2 + e.n));
	put16(h, 0x0303);
	put(h, rnd, 32);
	put8(h, 32); /* session id */
	put(h, rnd, 32);
	put16(h, 4); /* two suites */
	put16(h, 0x1301);
	put16(h, 0x1302);
	put8(h, 1);
	put8(h, 0);
	put16(h, (unsigned)((int)e.n + ext_bias));
	put(h, e.b, e.n);
}

/* hs wrapped in TLS records of at most rec bytes each. */
static void records(struct buf *out, const struct buf *hs, size_t rec)
{
	out->n = 0;
	for (size_t off = 0; off < hs->n; off += rec) {
		size_t n = hs->n - off < rec ? hs->n - off : rec;
		put8(out, 22);
		put16(out, 0x0301);
		put16(out, (unsigned)n);
		put(out, hs->b + off, n);
	}
}

/* ---- names ---- */

TP_TEST(names)
{
	char out[TP_SNIFF_NAME_BUF];
	char big[300];

	CHECK(tp_sniff_name((const uint8_t *)"WWW.Example.COM.", 16, out) == TP_SNIFF_FOUND &&
	              !strcmp(out, "www.example.com"),
	      "lower-cased, trailing dot dropped: %s", out);
	CHECK(tp_sniff_name((const uint8_t *)"a_b-c.d", 7, out) == TP_SNIFF_FOUND, "_ and -");
	CHECK(tp_sniff_name((const uint8_t *)"192.0.2.1", 9, out) == TP_SNIFF_NO_NAME,
	      "an IPv4 address is no name");
	CHECK(tp_sniff_name((const uint8_t *)"a..b", 4, out) == TP_SNIFF_MALFORMED, "empty label");
	CHECK(tp_sniff_name((const uint8_t *)".a", 2, out) == TP_SNIFF_MALFORMED, "leading dot");
	CHECK(tp_sniff_name((const uint8_t *)"", 0, out) == TP_SNIFF_MALFORMED, "empty");
	CHECK(tp_sniff_name((const uint8_t *)"a b", 3, out) == TP_SNIFF_MALFORMED, "space");
	CHECK(tp_sniff_name((const uint8_t *)"a\0b", 3, out) == TP_SNIFF_MALFORMED, "NUL");
	CHECK(tp_sniff_name((const uint8_t *)"\xc3\xa9.com", 6, out) == TP_SNIFF_MALFORMED,
	      "non-ASCII");
	memset(big, 'a', sizeof(big));
	CHECK(tp_sniff_name((const uint8_t *)big, 64, out) == TP_SNIFF_MALFORMED, "64-char label");
	CHECK(tp_sniff_name((const uint8_t *)big, 63, out) == TP_SNIFF_FOUND, "63-char label");
	for (size_t i = 63; i < sizeof(big); i += 64)
		big[i] = '.';
	CHECK(tp_sniff_name((const uint8_t *)big, 253, out) == TP_SNIFF_FOUND && strlen(out) == 253,
	      "253 characters");
	CHECK(tp_sniff_name((const uint8_t *)big, 254, out) == TP_SNIFF_MALFORMED,
	      "254 characters");
	OK("names");
}

/* ---- TLS ---- */

TP_TEST(tls_whole)
{
	struct buf hs, rec;
	char name[TP_SNIFF_NAME_BUF];

	hello(&hs, "Example.COM", 100, 0);
	records(&rec, &hs, 16384);
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_FOUND && !strcmp(name, "example.com"),
	      "whole hello: %s", name);
	CHECK(tp_sniff_tls_hello(hs.b, hs.n, name) == TP_SNIFF_FOUND, "no record layer");
	/* bytes after the hello (a second record of another type) are ignored */
	put8(&rec, 23);
	put16(&rec, 0x0303);
	put16(&rec, 1);
	put8(&rec, 0);
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_FOUND, "data after the hello");
	OK("whole ClientHello");
}

/* Every prefix of the stream: NEED_MORE until the server_name is all
 * there, FOUND from then on; nothing else ever. */
static void every_prefix(const struct buf *rec, const char *want)
{
	char name[TP_SNIFF_NAME_BUF];
	size_t first = 0;

	for (size_t n = 0; n <= rec->n; n++) {
		enum tp_sniff_res r = tp_sniff_tls(rec->b, n, name);

		if (r == TP_SNIFF_FOUND && !first) {
			first = n;
			CHECK(!strcmp(name, want), "prefix %zu: %s", n, name);
		}
		CHECK(r == (first ? TP_SNIFF_FOUND : TP_SNIFF_NEED_MORE), "prefix %zu of %zu: %s",
		      n, rec->n, tp_sniff_res_str(r));
		if (tp_test_failures())
			break;
	}
	CHECK(first > 0 && first < rec->n, "found at %zu of %zu (before the end)", first, rec->n);
}

TP_TEST(tls_split)
{
	struct buf hs, rec;

	hello(&hs, "split.example.org", 300, 0);
	records(&rec, &hs, 16384);
	every_prefix(&rec, "split.example.org");
	OK("one record, split at every byte");
	records(&rec, &hs, 7); /* the record layer fragments the hello */
	every_prefix(&rec, "split.example.org");
	OK("7-byte records, split at every byte");
	records(&rec, &hs, 1);
	every_prefix(&rec, "split.example.org");
	OK("1-byte records");
}

TP_TEST(tls_bad)
{
	struct buf hs, rec;
	char name[TP_SNIFF_NAME_BUF];

	hello(&hs, NULL, 10, 0);
	records(&rec, &hs, 16384);
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_NO_NAME, "no SNI: no name");
	hello(&hs, "a.example", 10, 1);
	records(&rec, &hs, 16384);
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_MALFORMED, "extensions length + 1");
	hello(&hs, "a.example", 10, -1);
	records(&rec, &hs, 16384);
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_MALFORMED, "extensions length - 1");
	hello(&hs, "bad name!", 10, 0);
	records(&rec, &hs, 16384);
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_MALFORMED, "invalid characters");
	hello(&hs, "10.1.2.3", 10, 0);
	records(&rec, &hs, 16384);
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_NO_NAME, "an address as SNI");
	/* a server_name extension whose list length lies */
	hello(&hs, "a.example", 0, 0);
	records(&rec, &hs, 16384);
	for (size_t i = 5 + 4 + 2 + 32 + 1 + 32 + 2 + 4 + 2 + 2; i + 4 < rec.n; i++)
		if (rec.b[i] == 0 && rec.b[i + 1] == 0 && rec.b[i + 2] == 0 && rec.b[i + 3] == 14) {
			rec.b[i + 5]++; /* list length */
			break;
		}
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_MALFORMED, "SNI list length + 1");
	/* record layer */
	hello(&hs, "a.example", 0, 0);
	records(&rec, &hs, 16384);
	rec.b[3] = 0;
	rec.b[4] = 0;
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_MALFORMED, "empty record");
	records(&rec, &hs, 16384);
	rec.b[0] = 23;
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_NOT_PROTO, "application data first");
	CHECK(tp_sniff_tls((const uint8_t *)"GET / HTTP/1.1\r\n", 16, name) == TP_SNIFF_NOT_PROTO,
	      "HTTP is not TLS");
	records(&rec, &hs, 20);
	rec.b[25] = 21; /* the second record: an alert */
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_MALFORMED, "alert inside the hello");
	records(&rec, &hs, 16384);
	rec.b[5] = 2; /* ServerHello */
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_NOT_PROTO, "not a ClientHello");
	records(&rec, &hs, 16384);
	rec.b[6] = 0xff; /* hello length beyond where its extensions end */
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_MALFORMED, "hello length != extensions");
	records(&rec, &hs, 16384);
	rec.b[3] = 0x40; /* the record says 16 KiB more than came: the hello is whole */
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_FOUND, "record longer than what came");
	/* a server_name beyond our bound */
	hello(&hs, "far.example", TP_SNIFF_TLS_MAX, 0);
	records(&rec, &hs, 16384);
	CHECK(tp_sniff_tls(rec.b, rec.n, name) == TP_SNIFF_MALFORMED, "SNI beyond the bound");
	OK("bad ClientHellos");
}

/* ---- HTTP ---- */

TP_TEST(http)
{
	static const struct {
		const char *req;
		enum tp_sniff_res r;
		const char *name;
	} v[] = {
	        {"GET / HTTP/1.1\r\nHost: www.Example.com\r\n\r\n", TP_SNIFF_FOUND,
	         "www.example.com"},
	        {"GET / HTTP/1.1\r\nUser-Agent: x\r\nhOsT:example.org:8080 \r\n\r\n",
	         TP_SNIFF_FOUND, "example.org"},
	        {"POST /x HTTP/1.0\nHost: a.b.\nX: y\n\n", TP_SNIFF_FOUND, "a.b"},
	        {"GET http://other/ HTTP/1.1\r\nHost: h.example\r\n", TP_SNIFF_FOUND, "h.example"},
	        {"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", TP_SNIFF_NO_NAME, NULL},
	        {"GET / HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n", TP_SNIFF_NO_NAME, NULL},
	        {"GET / HTTP/1.1\r\nHost: [2001:db8::1\r\n\r\n", TP_SNIFF_MALFORMED, NULL},
	        {"GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n", TP_SNIFF_MALFORMED, NULL},
	        {"GET / HTTP/1.1\r\nHost: 192.0.2.7:80\r\n\r\n", TP_SNIFF_NO_NAME, NULL},
	        {"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", TP_SNIFF_NO_NAME, NULL},
	        {"GET / HTTP/1.1\r\nHost: \r\n\r\n", TP_SNIFF_MALFORMED, NULL},
	        {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", TP_SNIFF_MALFORMED, NULL},
	        {"GET / HTTP/1.1\r\nHost: x.example:123456\r\n\r\n", TP_SNIFF_MALFORMED, NULL},
	        {"GET / HTTP/1.1\r\n Host: x\r\n\r\n", TP_SNIFF_MALFORMED, NULL},
	        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", TP_SNIFF_MALFORMED, NULL},
	        {"GET / HTTP/1.1\r\nHost: x.example", TP_SNIFF_NEED_MORE, NULL},
	        {"GET / HTTP/1.1\r\nAccept: */*\r\n", TP_SNIFF_NEED_MORE, NULL},
	        {"GET / HT", TP_SNIFF_NEED_MORE, NULL},
	        {"GE", TP_SNIFF_NEED_MORE, NULL},
	        {"", TP_SNIFF_NEED_MORE, NULL},
	        {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", TP_SNIFF_NOT_PROTO, NULL},
	        {"SSH-2.0-OpenSSH_9.2\r\n", TP_SNIFF_NOT_PROTO, NULL},
	        {"\x16\x03\x01\x00\x10", TP_SNIFF_NOT_PROTO, NULL},
	        {"GET  / HTTP/1.1\r\n", TP_SNIFF_NOT_PROTO, NULL},
	        {"GET / HTTP/1.1 \r\n", TP_SNIFF_NOT_PROTO, NULL},
	};
	char name[TP_SNIFF_NAME_BUF];
	uint8_t *big;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		enum tp_sniff_res r =
		        tp_sniff_http((const uint8_t *)v[i].req, strlen(v[i].req), name);
		CHECK(r == v[i].r, "%zu: %s", i, tp_sniff_res_str(r));
		if (v[i].name && r == TP_SNIFF_FOUND)
			CHECK(!strcmp(name, v[i].name), "%zu: %s", i, name);
	}
	/* every prefix of a request: NEED_MORE, then FOUND */
	{
		const char *req = "GET /index.html HTTP/1.1\r\nAccept: */*\r\nHost: p.example\r\n";
		size_t n = strlen(req);
		for (size_t k = 0; k < n; k++)
			CHECK(tp_sniff_http((const uint8_t *)req, k, name) == TP_SNIFF_NEED_MORE,
			      "prefix %zu", k);
		CHECK(tp_sniff_http((const uint8_t *)req, n, name) == TP_SNIFF_FOUND, "whole");
	}
	/* a head longer than the bound, Host after it */
	big = malloc(TP_SNIFF_HTTP_MAX + 100);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'a', TP_SNIFF_HTTP_MAX + 100 - 19);
	CHECK(tp_sniff_http(big, TP_SNIFF_HTTP_MAX + 100, name) == TP_SNIFF_MALFORMED,
	      "beyond the bound");
	CHECK(tp_sniff_http(big, TP_SNIFF_HTTP_MAX - 1, name) == TP_SNIFF_NEED_MORE,
	      "just within the bound");
	free(big);
	OK("HTTP Host");
}

/* ---- QUIC (RFC 9001 Appendix A) ---- */

static const char a2_packet[] = "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
                                "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
                                "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
                                "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
                                "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
                                "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
                                "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
                                "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
                                "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
                                "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
                                "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
                                "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
                                "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
                                "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
                                "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
                                "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
                                "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
                                "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
                                "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
                                "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
                                "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
                                "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
                                "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
                                "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
                                "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
                                "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
                                "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
                                "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
                                "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
                                "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
                                "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
                                "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
                                "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
                                "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
                                "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
                                "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
                                "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
                                "e221af44860018ab0856972e194cd934";

static const uint8_t dcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};

TP_TEST(quic_rfc9001)
{
	static const char *const key = "1f369613dd76d5467730efcbe3b1a22d";
	static const char *const iv = "fa044b2f42a3fd3b46fb255c";
	static const char *const hp = "9f50449e04a0e810283a1e9933adedd2";
	struct tp_quic_keys k;
	uint8_t want[16], hdr[32], pt[1162], rfc[1200], out[1300];
	size_t hlen, n;
	char name[TP_SNIFF_NAME_BUF];
	struct tp_quic_sniff *q = malloc(sizeof(*q));

	CHECK(tp_quic_initial_keys(dcid, sizeof(dcid), &k) == 0, "derive");
	unhex(key, want, 16);
	CHECK(!memcmp(k.key, want, 16), "key (A.1)");
	unhex(iv, want, 12);
	CHECK(!memcmp(k.iv, want, 12), "iv (A.1)");
	unhex(hp, want, 16);
	CHECK(!memcmp(k.hp, want, 16), "hp (A.1)");
	OK("A.1: client Initial keys");

	/* A.2: the CRYPTO frame padded to 1162 bytes, packet number 2 */
	hlen = unhex("c300000001088394c8f03e5157080000449e00000002", hdr, sizeof(hdr));
	memset(pt, 0, sizeof(pt));
	CHECK(quic_a2_crypto(pt, sizeof(pt)) == 245, "the CRYPTO frame: 245 bytes");
	CHECK(unhex(a2_packet, rfc, sizeof(rfc)) == 1200, "the RFC's packet: 1200 bytes");
	n = quic_protect(&k, hdr, hlen, 4, pt, sizeof(pt), out);
	CHECK(n == 1200 && !memcmp(out, rfc, 1200), "our protected Initial is the RFC's");
	OK("A.2: the client Initial, protected by us, byte for byte");

	tp_quic_sniff_init(q);
	CHECK(tp_quic_sniff_datagram(q, rfc, sizeof(rfc), name) == TP_SNIFF_FOUND &&
	              !strcmp(name, "example.com"),
	      "sniffed %s", name);
	OK("A.2 sniffed: example.com");

	/* tampering: a flipped ciphertext bit fails the tag */
	rfc[600] ^= 1;
	tp_quic_sniff_init(q);
	CHECK(tp_quic_sniff_datagram(q, rfc, sizeof(rfc), name) == TP_SNIFF_MALFORMED, "bad tag");
	rfc[600] ^= 1;
	/* another version, a short header, too short */
	rfc[4] = 2;
	tp_quic_sniff_init(q);
	CHECK(tp_quic_sniff_datagram(q, rfc, sizeof(rfc), name) == TP_SNIFF_NOT_PROTO,
	      "version 2 is not v1");
	rfc[4] = 1;
	rfc[0] = 0x40;
	tp_quic_sniff_init(q);
	CHECK(tp_quic_sniff_datagram(q, rfc, sizeof(rfc), name) == TP_SNIFF_NOT_PROTO,
	      "short header");
	tp_quic_sniff_init(q);
	CHECK(tp_quic_sniff_datagram(q, (const uint8_t *)"\xc0\x00", 2, name) == TP_SNIFF_NOT_PROTO,
	      "two bytes");
	OK("bad Initials");
	free(q);
}

/* The A.2 hello cut into CRYPTO frames in the wrong order, over two
 * datagrams and coalesced. */
TP_TEST(quic_reassembly)
{
	struct tp_quic_keys k;
	uint8_t frame[300], p1[600], p2[600], d1[1400], d2[1400], dg[2800];
	size_t n, hl, cut = 100, n1, n2;
	struct buf a = {.n = 0}, b = {.n = 0};
	char name[TP_SNIFF_NAME_BUF];
	struct tp_quic_sniff *q = malloc(sizeof(*q));
	const uint8_t *ch;

	CHECK(tp_quic_initial_keys(dcid, sizeof(dcid), &k) == 0, "derive");
	n = quic_a2_crypto(frame, sizeof(frame));
	ch = frame + 4; /* type 06, offset 00, length 40f1 */
	hl = n - 4;
	/* packet 1: PING, the hello's tail (offset cut), padding;
	 * packet 2: the head (offset 0) */
	put8(&a, 0x01);
	put8(&a, 0x06);
	put8(&a, 0x40 | (unsigned)(cut >> 8));
	put8(&a, cut & 0xff);
	put16(&a, 0x4000 | (unsigned)(hl - cut));
	put(&a, ch + cut, hl - cut);
	while (a.n < 400)
		put8(&a, 0);
	put8(&b, 0x06);
	put8(&b, 0);
	put16(&b, 0x4000 | (unsigned)cut);
	put(&b, ch, cut);
	put8(&b, 0x02); /* an ACK too: largest 0, delay 0, no ranges, first 0 */
	put(&b, "\x00\x00\x00\x00", 4);
	while (b.n < 400)
		put8(&b, 0);
	n1 = quic_initial(dcid, sizeof(dcid), 0, a.b, a.n, p1);
	n2 = quic_initial(dcid, sizeof(dcid), 1, b.b, b.n, p2);

	/* two datagrams: the tail first */
	memcpy(d1, p1, n1);
	memcpy(d2, p2, n2);
	tp_quic_sniff_init(q);
	CHECK(tp_quic_sniff_datagram(q, d1, n1, name) == TP_SNIFF_NEED_MORE, "tail: need more");
	CHECK(tp_quic_sniff_datagram(q, d2, n2, name) == TP_SNIFF_FOUND &&
	              !strcmp(name, "example.com"),
	      "head: found %s", name);
	OK("two datagrams, out of order");

	/* both packets coalesced in one datagram */
	memcpy(dg, p1, n1);
	memcpy(dg + n1, p2, n2);
	tp_quic_sniff_init(q);
	CHECK(tp_quic_sniff_datagram(q, dg, n1 + n2, name) == TP_SNIFF_FOUND &&
	              !strcmp(name, "example.com"),
	      "coalesced: %s", name);
	OK("coalesced Initials");

	/* the head alone: the hello is not complete, but the SNI is in it */
	tp_quic_sniff_init(q);
	CHECK(tp_quic_sniff_datagram(q, d2, n2, name) == TP_SNIFF_FOUND, "head alone");
	/* an unknown frame gives up */
	a.b[0] = 0x1c; /* CONNECTION_CLOSE */
	n1 = quic_initial(dcid, sizeof(dcid), 0, a.b, a.n, p1);
	tp_quic_sniff_init(q);
	CHECK(tp_quic_sniff_datagram(q, p1, n1, name) == TP_SNIFF_MALFORMED, "CONNECTION_CLOSE");
	OK("partial and bad frames");
	free(q);
}
