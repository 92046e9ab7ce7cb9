/* tunplug unit tests — a tiny checking harness (header only).
 *
 * CHECK(cond, fmt, ...) counts a failure and prints file:line with the
 * message; OK(fmt, ...) prints "ok N <what was checked>" when no CHECK failed
 * since the previous OK, else "not ok N ...". check_exit() returns the
 * process status: 0, or 1 when anything failed. */
#ifndef TP_TEST_CHECK_H
#define TP_TEST_CHECK_H

#include <stdio.h>

static int check_failures;     /* all failed CHECKs */
static int check_failed_since; /* failed CHECKs since the last OK() */
static int check_count;        /* OK() lines printed */

#define CHECK(cond, ...)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                            \
			fputc('\n', stderr);                                                     \
			check_failures++;                                                        \
			check_failed_since++;                                                    \
		}                                                                                \
	} while (0)

#define CHECK_EQ(a, b, what)                                                                 \
	do {                                                                                 \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);              \
		CHECK(check_a_ == check_b_, "%s: %lld != %lld", (what), check_a_, check_b_); \
	} while (0)

#define OK(...)                                                                        \
	do {                                                                           \
		printf("%s %d ", check_failed_since ? "not ok" : "ok", ++check_count); \
		printf(__VA_ARGS__);                                                   \
		putchar('\n');                                                         \
		check_failed_since = 0;                                                \
	} while (0)

static inline int check_exit(void)
{
	fflush(stdout);
	if (check_failures)
		fprintf(stderr, "%d check(s) failed\n", check_failures);
	return check_failures ? 1 : 0;
}

#endif
