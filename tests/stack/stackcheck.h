/* tunplug stack tests — the shared check macro (header only).
 *
 * CHECK(cond, fmt, ...) counts every check in `checks` and every failure in
 * `failures` (printing file:line and the message); main() reports both and
 * exits 1 when failures > 0. */
#ifndef TP_STACK_CHECK_H
#define TP_STACK_CHECK_H

#include <stdio.h>

static int failures, checks;
#define CHECK(c, ...)                                                       \
	do {                                                                \
		checks++;                                                   \
		if (!(c)) {                                                 \
			failures++;                                         \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #c); \
			printf(__VA_ARGS__);                                \
			printf("\n");                                       \
		}                                                           \
	} while (0)

#endif
