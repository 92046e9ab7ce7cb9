/* SPDX-License-Identifier: MIT */
/* tunplug — lwIP compiler/platform glue for Linux (gcc/clang, libc). */
#ifndef TUNPLUG_ARCH_CC_H
#define TUNPLUG_ARCH_CC_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define LWIP_ERRNO_STDINCLUDE 1 /* errno values from <errno.h> */
#define LWIP_TIMEVAL_PRIVATE 0
#define LWIP_RAND() ((u32_t)random())
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BYTE_ORDER BIG_ENDIAN
#endif

/* An lwIP assertion is an internal invariant broken (never bad input:
 * packets are validated first): report where, then abort. */
void tp_lwip_assert_failed(const char *msg, const char *file, int line);
#define LWIP_PLATFORM_ASSERT(x) tp_lwip_assert_failed((x), __FILE__, __LINE__)
#define LWIP_PLATFORM_DIAG(x) \
	do {                  \
		printf x;     \
	} while (0)

#endif
