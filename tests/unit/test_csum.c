/* SPDX-License-Identifier: MIT */
/* Checksum tests: the word-at-a-time routine against a naive per-16-bit-word
 * reference, the RFC 1071 example, and the pseudo-header sum. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "pktbuild.h"
#include "tunplug/packet.h"

/* xorshift: deterministic, so a failure reproduces */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static uint16_t naive(uint32_t init, const uint8_t *p, size_t len)
{
	return pb_fold(pb_sum(init, p, len));
}

TP_TEST(rfc1071)
{
	/* RFC 1071 section 3: 0001 f203 f4f5 f6f7 sums to 0x2ddf0, folds to 0xddf2 */
	static const uint8_t ex[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t shifted[9];

	CHECK_EQ(tp_csum_finish(tp_csum_add(0, ex, 8)), (uint16_t)~0xddf2, "rfc1071 example");
	memcpy(shifted + 1, ex, 8);
	CHECK_EQ(tp_csum_finish(tp_csum_add(0, shifted + 1, 8)), (uint16_t)~0xddf2,
	         "rfc1071 example, unaligned");
	OK("csum: RFC 1071 example sums to 0xddf2 (aligned and unaligned)");

	CHECK_EQ(tp_csum_finish(tp_csum_add(0, ex, 0)), 0xffff, "empty buffer");
	CHECK_EQ(tp_csum_finish(tp_csum_add(0, ex, 1)), (uint16_t)~0x0000, "one zero byte");
	CHECK_EQ(tp_csum_finish(tp_csum_add(0, ex + 2, 1)), (uint16_t)~0xf200,
	         "odd byte is the high byte");
	CHECK_EQ(tp_csum_finish(0x12345678u), (uint16_t) ~(0x1234 + 0x5678), "finish folds");
	OK("csum: empty, single byte (padded low), finish folds the accumulator");
}

TP_TEST(random)
{
	size_t cap = 9001 + 8;
	uint8_t *buf = malloc(cap);
	int bad = 0, runs = 0;

	for (size_t len = 0; len <= 9001; len += (len < 80 ? 1 : 1 + rnd() % 97)) {
		for (size_t off = 0; off < 8; off++) {
			/* exact-size heap copies so ASan sees any overread */
			uint8_t *p = malloc(len ? len : 1);
			uint32_t init = (runs & 3) == 0 ? 0 : rnd();

			for (size_t i = 0; i < len; i++)
				buf[off + i] = (uint8_t)rnd();
			memcpy(p, buf + off, len);
			if (tp_csum_finish(tp_csum_add(init, buf + off, len)) !=
			            naive(init, buf + off, len) ||
			    tp_csum_finish(tp_csum_add(init, p, len)) != naive(init, p, len))
				bad++;
			runs++;
			free(p);
		}
	}
	CHECK(bad == 0, "%d of %d random buffers differ from the reference", bad, runs);
	OK("csum: %d random buffers, lengths 0..9001, offsets 0..7, random seeds == naive", runs);

	/* all-ones and all-zeros stress the carry handling */
	memset(buf, 0xff, cap);
	for (size_t len = 0; len <= 9001; len += 331)
		CHECK_EQ(tp_csum_finish(tp_csum_add(0xffffffffu, buf + 1, len)),
		         naive(0xffffffffu, buf + 1, len), "all ones");
	memset(buf, 0, cap);
	CHECK_EQ(tp_csum_finish(tp_csum_add(0, buf, 9001)), 0xffff, "all zeros");
	OK("csum: all-0xff buffers with a 0xffffffff seed, all-zero buffer");

	/* chaining: sum(a) then sum(b) == sum(a||b) when a has even length */
	for (int i = 0; i < 200; i++) {
		size_t a = 2 * (rnd() % 700), b = rnd() % 1500;
		for (size_t k = 0; k < a + b; k++)
			buf[k] = (uint8_t)rnd();
		CHECK_EQ(tp_csum_finish(tp_csum_add(tp_csum_add(0, buf, a), buf + a, b)),
		         naive(0, buf, a + b), "chained sums");
	}
	OK("csum: chained tp_csum_add over split buffers == one pass");
	free(buf);
}

TP_TEST(pseudo)
{
	uint8_t ph[40];
	uint64_t ref;

	/* IPv4: src, dst, zero, proto, length */
	memcpy(ph, pb_src4, 4);
	memcpy(ph + 4, pb_dst4, 4);
	ph[8] = 0;
	ph[9] = IPPROTO_TCP;
	pb_put16(ph + 10, 1480);
	ref = pb_sum(0, ph, 12);
	CHECK_EQ(tp_csum_finish(tp_csum_pseudo(AF_INET, pb_src4, pb_dst4, IPPROTO_TCP, 1480)),
	         pb_fold(ref), "v4 pseudo");
	/* IPv6: src, dst, 32-bit length, 3 zero bytes, next header */
	memcpy(ph, pb_src6, 16);
	memcpy(ph + 16, pb_dst6, 16);
	pb_put32(ph + 32, 70000);
	ph[36] = ph[37] = ph[38] = 0;
	ph[39] = IPPROTO_UDP;
	ref = pb_sum(0, ph, 40);
	CHECK_EQ(tp_csum_finish(tp_csum_pseudo(AF_INET6, pb_src6, pb_dst6, IPPROTO_UDP, 70000)),
	         pb_fold(ref), "v6 pseudo");
	OK("csum: pseudo-header sums for IPv4 and IPv6 (length > 65535 too)");
}
