/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the HTTP Host sniffer (gateway/src/sniff/http.c) on
 * the input and on every prefix of it up to 512 bytes (as the relay
 * calls it while bytes arrive). Invariants: nothing read outside the
 * input (ASan); a FOUND name is valid (fuzz_sniff_check.h); a prefix of
 * a request that the whole calls FOUND is never NOT_PROTO or MALFORMED. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_sniff_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[TP_SNIFF_NAME_BUF];
	enum tp_sniff_res whole, r;

	whole = tp_sniff_http(data, size, name);
	fuzz_check_name(whole, name);
	for (size_t n = 0; n < size && n < 512; n++) {
		r = tp_sniff_http(data, n, name);
		fuzz_check_name(r, name);
		if (whole == TP_SNIFF_FOUND && (r == TP_SNIFF_NOT_PROTO || r == TP_SNIFF_MALFORMED))
			abort();
	}
	return 0;
}
