/* SPDX-License-Identifier: MIT */
/* tunplug tests — the one harness of the unit, stack and gateway tests.
 *
 * A test file defines cases and no main():
 *
 *     #include "harness.h"
 *
 *     TP_TEST(parse_errors)
 *     {
 *             CHECK(f(1) == 2, "f(1) = %d", f(1));
 *             CHECK_EQ(g(), 0, "g");
 *             OK("parse errors: every key");
 *     }
 *
 * Write TP_TEST(name) at the start of a line: CMake reads those lines at
 * configure time (tp_add_test_cases in tests/CMakeLists.txt) and registers
 * one ctest entry per case, <prefix>.<name>; the build fails when CMake's
 * list and the cases compiled into the executable differ. name is a C
 * identifier, unique in its file. Cases run in source order.
 *
 * CHECK(cond, fmt, ...) counts a check; when cond is false it prints
 * file:line, the condition and the message (arguments are only evaluated
 * then) and the case fails. The case goes on: a CHECK never returns early.
 * CHECK_EQ(a, b, what) compares as long long and prints both values.
 * OK(fmt, ...) prints "ok N <what>", or "not ok N <what>" when a CHECK failed
 * since the previous OK of the case: progress lines, not checks.
 * KNOWN(cond, fmt, ...) reports a known shortfall without failing the case.
 * tp_test_failures() is the number of failed checks of the running case.
 * tp_test_skip(fmt, ...) marks the running case skipped (exit status 77
 * when every selected case skipped); the case returns by itself.
 *
 * TP_TEST_FIXTURE(setup, teardown) (at most one per executable, either may
 * be NULL) runs setup() before and teardown() after every case, in the same
 * process. A setup that fails a CHECK or calls tp_test_skip() keeps the case
 * body from running; teardown runs whenever setup ran, and its CHECKs count
 * for the case.
 *
 * The executable's main (tests/harness.c): no arguments runs every case;
 * --list prints the case names; --case NAME (repeatable) runs those. Exit
 * status 0 when all passed, 1 when a check failed (or bad arguments), 77
 * when every case run was skipped. */
#ifndef TP_TEST_HARNESS_H
#define TP_TEST_HARNESS_H

#include <stdbool.h>
#include <stdio.h>

#define TP_TEST_SKIP 77

typedef void (*tp_test_fn)(void);

/* Registration, called by the TP_TEST and TP_TEST_FIXTURE constructors
 * before main. The strings are the caller's (literals); nothing is copied. */
void tp_test_register(const char *name, tp_test_fn fn, const char *file, int line);
void tp_test_fixture(tp_test_fn setup, tp_test_fn teardown, const char *file, int line);

/* Counts one check of the running case; returns ok. */
bool tp_test_check_(bool ok);
/* Reports a failed check of the running case (file:line, the condition and
 * the formatted message) and counts the failure. */
void tp_test_failf(const char *file, int line, const char *expr, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Reports a known issue (not a failure) of the running case. */
void tp_test_knownf(const char *file, int line, const char *expr, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Prints "ok N <what>" or "not ok N <what>" (a CHECK failed since the
 * previous call in this case). */
void tp_test_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Marks the running case skipped and prints why; the caller returns. */
void tp_test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Failed checks of the running case so far (to stop a loop early). */
unsigned long tp_test_failures(void);

#define TP_TEST(name)                                                        \
	static void tp_case_##name(void);                                    \
	__attribute__((constructor)) static void tp_reg_case_##name(void)    \
	{                                                                    \
		tp_test_register(#name, tp_case_##name, __FILE__, __LINE__); \
	}                                                                    \
	static void tp_case_##name(void)

#define TP_TEST_FIXTURE(setup, teardown)                                  \
	__attribute__((constructor)) static void tp_fixture_reg_(void)    \
	{                                                                 \
		tp_test_fixture((setup), (teardown), __FILE__, __LINE__); \
	}                                                                 \
	extern int tp_test_fixture_decl_

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!tp_test_check_((cond) ? true : false))                    \
			tp_test_failf(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

#define CHECK_EQ(a, b, what)                                                                 \
	do {                                                                                 \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);              \
		CHECK(check_a_ == check_b_, "%s: %lld != %lld", (what), check_a_, check_b_); \
	} while (0)

#define KNOWN(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond))                                                    \
			tp_test_knownf(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

#define OK(...) tp_test_ok(__VA_ARGS__)

#endif
