/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the TLS ClientHello sniffer (gateway/src/sniff/tls.c)
 * on the input as a stream's first bytes, on every 97th prefix of it (as
 * the relay calls it while bytes arrive) and on the input as bare
 * handshake messages (QUIC's CRYPTO stream). Invariants: nothing read
 * outside the input (ASan); a FOUND name is valid (fuzz_sniff_check.h);
 * a prefix of a stream never says NOT_PROTO when the whole says FOUND. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_sniff_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[TP_SNIFF_NAME_BUF];
	enum tp_sniff_res whole, r;

	whole = tp_sniff_tls(data, size, name);
	fuzz_check_name(whole, name);
	for (size_t n = 0; n < size; n += 97) {
		r = tp_sniff_tls(data, n, name);
		fuzz_check_name(r, name);
		if (whole == TP_SNIFF_FOUND && r == TP_SNIFF_NOT_PROTO)
			abort();
	}
	r = tp_sniff_tls_hello(data, size, name);
	fuzz_check_name(r, name);
	return 0;
}
