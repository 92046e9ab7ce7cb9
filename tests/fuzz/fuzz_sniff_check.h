/* SPDX-License-Identifier: MIT */
/* The fuzz targets' shared check of a sniffed name (tests/fuzz/
 * fuzz_sniff_*.c): 1..253 characters of a-z 0-9 - _ and dots, NUL-ended
 * inside the buffer, no empty label, not all digits and dots. */
#ifndef TP_FUZZ_SNIFF_CHECK_H
#define TP_FUZZ_SNIFF_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "sniff/sniff.h"

static inline void fuzz_check_name(enum tp_sniff_res r, const char *name)
{
	size_t n, label = 0;
	int letters = 0;

	if (r != TP_SNIFF_FOUND)
		return;
	n = strnlen(name, TP_SNIFF_NAME_BUF);
	if (n == 0 || n > TP_SNIFF_NAME_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (c == '.') {
			if (!label)
				abort();
			label = 0;
			continue;
		}
		if (++label > 63)
			abort();
		if ((c >= 'a' && c <= 'z') || c == '-' || c == '_')
			letters = 1;
		else if (c < '0' || c > '9')
			abort();
	}
	if (!label || !letters)
		abort();
}

#endif
