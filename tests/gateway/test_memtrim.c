/* SPDX-License-Identifier: MIT */
/* The heap-trim policy (gateway/src/shell/memtrim.c, pure): when a drain
 * asks for malloc_trim and how often; tp_memtrim_release on a real heap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "shell/memtrim.h"

/* Under a sanitizer, malloc is the sanitizer's: glibc's heap stays empty. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
        __has_feature(memory_sanitizer)
#define SANITIZED_MALLOC 1
#endif
#endif

/* Feed counts[i] at i seconds; returns a bit mask of the seconds that
 * trimmed (n <= 64). */
static uint64_t run(struct tp_memtrim *m, const uint64_t *counts, size_t n)
{
	uint64_t mask = 0;

	for (size_t i = 0; i < n; i++)
		if (tp_memtrim_due(m, counts[i], 1000000u + i * 1000u))
			mask |= 1ull << i;
	return mask;
}

TP_TEST(policy)
{
	struct tp_memtrim m;

	{
		/* steady, growing, small wobbles: never */
		static const uint64_t c[] = {0, 10, 100, 1000, 5000, 4000, 3000, 2600, 5000, 9000};
		tp_memtrim_init(&m);
		CHECK_EQ(run(&m, c, 10), 0, "no trim");
		CHECK_EQ(m.peak, 9000, "peak");
	}
	OK("memtrim: growth and drops of less than half the peak never trim");

	{
		/* 20000 -> 0 over 8 s: at 1 s (9000 <= 10000), then not again
		 * until 5 s later (6 s: 0 <= 4500) */
		static const uint64_t c[] = {20000, 9000, 7000, 5000, 3000, 1000, 0, 0, 0, 0, 0, 0};
		tp_memtrim_init(&m);
		CHECK_EQ(run(&m, c, 12), (1u << 1) | (1u << 6), "trims at 1 s and 6 s");
		CHECK_EQ(m.trims, 2, "two");
		CHECK_EQ(m.peak, 0, "peak follows the count after a trim");
	}
	OK("memtrim: a drain of 20000 flows trims at the first halving, then once more 5 s "
	   "later (at most one per TP_MEMTRIM_INTERVAL_MS), then stays quiet at 0");

	{
		/* a drop of 63 flows (100 -> 37) is too small; 64 (128 -> 64) is not */
		static const uint64_t a[] = {100, 37, 0};
		static const uint64_t b[] = {128, 64};
		tp_memtrim_init(&m);
		CHECK_EQ(run(&m, a, 2), 0, "63 flows fewer");
		CHECK_EQ(run(&m, a + 2, 1), 1, "100 -> 0: 100 fewer");
		tp_memtrim_init(&m);
		CHECK_EQ(run(&m, b, 2), 2, "128 -> 64");
	}
	OK("memtrim: a drop needs TP_MEMTRIM_MIN_DROP (64) flows and half the peak");

	{
		/* the first trim is never held back by the interval */
		tp_memtrim_init(&m);
		CHECK(tp_memtrim_due(&m, 1000, 5) == false, "peak 1000 at 5 ms");
		CHECK(tp_memtrim_due(&m, 0, 10), "first trim at 10 ms");
		CHECK(tp_memtrim_due(&m, 500, 20) == false, "rising");
		CHECK(tp_memtrim_due(&m, 0, 20 + TP_MEMTRIM_INTERVAL_MS - 11) == false,
		      "too soon after the first");
		CHECK(tp_memtrim_due(&m, 0, 10 + TP_MEMTRIM_INTERVAL_MS), "one interval later");
		CHECK_EQ(m.trims, 2, "two trims");
	}
	OK("memtrim: the first trim comes at once; the next not before the interval is over");

	{
		/* flows that come and go around a low level: the peak restarts
		 * after each trim, so a second halving is needed */
		static const uint64_t c[] = {4000, 1000, 3000, 2000, 1600, 1400, 1000, 900};
		tp_memtrim_init(&m);
		CHECK_EQ(run(&m, c, 8), (1u << 1) | (1u << 6), "trims at 1 s and 6 s");
	}
	OK("memtrim: after a trim at 1000 flows, regrowth to 3000 and a fall to 1400 trims again "
	   "(once the interval is over)");
}

TP_TEST(release)
{
#ifdef SANITIZED_MALLOC
	tp_test_skip("malloc is the sanitizer's: malloc_trim has no heap to trim");
#else
	enum { N = 20000 };
	static void *p[N];

	/* many small blocks (as flows are), then all but every 64th freed:
	 * the free memory is below live blocks, not at the top of the heap */
	for (int i = 0; i < N; i++) {
		p[i] = malloc(1500);
		if (p[i])
			memset(p[i], i & 0xff, 1500);
	}
	for (int i = 0; i < N; i++)
		if (i % 64) {
			free(p[i]);
			p[i] = NULL;
		}
#if defined(__GLIBC__)
	CHECK(tp_memtrim_release(), "malloc_trim released pages of a heap with ~29 MB free");
	OK("memtrim: release gives back the free pages of a drained heap (glibc)");
#else
	CHECK(!tp_memtrim_release(), "no malloc_trim: no-op");
	OK("memtrim: release is a no-op without glibc");
#endif
	for (int i = 0; i < N; i++)
		free(p[i]);
#endif
}
