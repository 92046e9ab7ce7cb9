/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the QUIC Initial sniffer (gateway/src/sniff/quic.c).
 * The input is up to 4 chunks, each a 2-byte big-endian length and that
 * many bytes. The first byte's low bits say, per chunk, whether it is fed
 * as a raw datagram, or taken as the frames of an Initial that this
 * harness protects first (OpenSSL, the keys of a fixed DCID) so that the
 * frame walker and the CRYPTO reassembly see fuzzed plaintext. Chunks go
 * into one struct tp_quic_sniff, as the datagrams of one flow do.
 * Invariants: nothing read outside the input (ASan); a FOUND name is
 * valid (fuzz_sniff_check.h); after FOUND, NO_NAME or MALFORMED the
 * harness stops (as the gateway does). */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_sniff_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t dcid[8] = {1, 2, 3, 4, 5, 6, 7, 8};

/* frames[0..n) as an Initial with packet number pn into out. */
static size_t protect(const struct tp_quic_keys *k, unsigned pn, const uint8_t *pt, size_t n,
                      uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t nonce[12], mask[16];
	size_t h = 0, pn_off, plen = 2 + n + 16;
	int len = 0;

	out[h++] = 0xc1;
	memcpy(out + h, "\x00\x00\x00\x01\x08", 5);
	h += 5;
	memcpy(out + h, dcid, 8);
	h += 8;
	out[h++] = 0; /* SCID */
	out[h++] = 0; /* token */
	out[h++] = (uint8_t)(0x40 | plen >> 8);
	out[h++] = (uint8_t)plen;
	pn_off = h;
	out[h++] = (uint8_t)(pn >> 8);
	out[h++] = (uint8_t)pn;
	memcpy(nonce, k->iv, 12);
	nonce[10] ^= out[pn_off];
	nonce[11] ^= out[pn_off + 1];
	if (!c || EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, k->key, nonce) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &len, out, (int)h) != 1 ||
	    (n && EVP_EncryptUpdate(c, out + h, &len, pt, (int)n) != 1) ||
	    EVP_EncryptFinal_ex(c, out + h + n, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + h + n) != 1 ||
	    EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, k->hp, NULL) != 1 ||
	    EVP_EncryptUpdate(c, mask, &len, out + pn_off + 4, 16) != 1)
		abort();
	EVP_CIPHER_CTX_free(c);
	out[0] ^= mask[0] & 0x0f;
	out[pn_off] ^= mask[1];
	out[pn_off + 1] ^= mask[2];
	return h + n + 16;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tp_quic_sniff q;
	static uint8_t pkt[1300];
	static struct tp_quic_keys k;
	static int keyed;
	char name[TP_SNIFF_NAME_BUF];
	unsigned modes;
	size_t off = 1;

	if (!keyed) {
		if (tp_quic_initial_keys(dcid, sizeof(dcid), &k))
			abort();
		keyed = 1;
	}
	if (size < 1)
		return 0;
	modes = data[0];
	tp_quic_sniff_init(&q);
	for (unsigned i = 0; i < 4 && size - off >= 2; i++) {
		size_t n = (size_t)data[off] << 8 | data[off + 1];
		enum tp_sniff_res r;

		off += 2;
		if (n > size - off)
			n = size - off;
		if ((modes >> i) & 1) {
			/* at least 20 bytes of frames (zeros: PADDING): the header
			 * protection sample needs them */
			uint8_t frames[1200];
			size_t fl = n > sizeof(frames) ? sizeof(frames) : n;

			memset(frames, 0, sizeof(frames));
			memcpy(frames, data + off, fl);
			fl = protect(&k, i, frames, fl < 20 ? 20 : fl, pkt);
			r = tp_quic_sniff_datagram(&q, pkt, fl, name);
		} else {
			r = tp_quic_sniff_datagram(&q, data + off, n, name);
		}
		off += n;
		fuzz_check_name(r, name);
		if (r != TP_SNIFF_NEED_MORE && r != TP_SNIFF_NOT_PROTO)
			break;
	}
	return 0;
}
