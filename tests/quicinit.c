/* SPDX-License-Identifier: MIT */
/* tunplug tests — the test-only QUIC Initial protector (see quicinit.h). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quicinit.h"

static const char a2_crypto[] = "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
                                "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
                                "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
                                "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
                                "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
                                "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
                                "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
                                "75300901100f088394c8f03e51570806048000ffff";

size_t quic_a2_crypto(uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (const char *h = a2_crypto; h[0] && h[1] && n < cap; h += 2) {
		unsigned v;

		if (sscanf(h, "%2x", &v) != 1)
			abort();
		out[n++] = (uint8_t)v;
	}
	return n;
}

size_t quic_protect(const struct tp_quic_keys *k, const uint8_t *hdr, size_t hlen, size_t pn_len,
                    const uint8_t *pt, size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t nonce[12], mask[16];
	size_t pn_off = hlen - pn_len;
	int len = 0;

	memcpy(nonce, k->iv, 12);
	for (size_t i = 0; i < pn_len; i++)
		nonce[12 - pn_len + i] ^= hdr[pn_off + i];
	memcpy(out, hdr, hlen);
	if (!c || EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, k->key, nonce) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &len, hdr, (int)hlen) != 1 ||
	    EVP_EncryptUpdate(c, out + hlen, &len, pt, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(c, out + hlen + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + hlen + n) != 1)
		abort();
	if (EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, k->hp, NULL) != 1 ||
	    EVP_EncryptUpdate(c, mask, &len, out + pn_off + 4, 16) != 1)
		abort();
	EVP_CIPHER_CTX_free(c);
	out[0] ^= mask[0] & 0x0f;
	for (size_t i = 0; i < pn_len; i++)
		out[pn_off + i] ^= mask[1 + i];
	return hlen + n + 16;
}

size_t quic_initial(const uint8_t *dcid, size_t dlen, unsigned pn, const uint8_t *pt, size_t n,
                    uint8_t *out)
{
	struct tp_quic_keys k;
	uint8_t h[64];
	size_t hl = 0, plen = 2 + n + 16;

	if (dlen > 20 || tp_quic_initial_keys(dcid, dlen, &k) != 0)
		abort();
	h[hl++] = 0xc1; /* long, fixed, Initial, packet number length 2 */
	memcpy(h + hl, "\x00\x00\x00\x01", 4);
	hl += 4;
	h[hl++] = (uint8_t)dlen;
	memcpy(h + hl, dcid, dlen);
	hl += dlen;
	h[hl++] = 0; /* SCID */
	h[hl++] = 0; /* token */
	h[hl++] = (uint8_t)(0x40 | plen >> 8);
	h[hl++] = (uint8_t)plen;
	h[hl++] = (uint8_t)(pn >> 8);
	h[hl++] = (uint8_t)pn;
	return quic_protect(&k, h, hl, 2, pt, n, out);
}

void quic_split_hello(uint8_t *out1, size_t *n1, uint8_t *out2, size_t *n2)
{
	static const uint8_t dcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
	uint8_t frame[300], a[1100], b[1100];
	size_t n = quic_a2_crypto(frame, sizeof(frame)), hl = n - 4, cut = 100, k = 0;
	const uint8_t *ch = frame + 4; /* type 06, offset 00, length 40f1 */

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	a[k++] = 0x01; /* PING */
	a[k++] = 0x06;
	a[k++] = (uint8_t)(0x40 | cut >> 8);
	a[k++] = (uint8_t)cut;
	a[k++] = (uint8_t)(0x40 | (hl - cut) >> 8);
	a[k++] = (uint8_t)(hl - cut);
	memcpy(a + k, ch + cut, hl - cut);
	k = 0;
	b[k++] = 0x06;
	b[k++] = 0;
	b[k++] = (uint8_t)(0x40 | cut >> 8);
	b[k++] = (uint8_t)cut;
	memcpy(b + k, ch, cut);
	*n1 = quic_initial(dcid, sizeof(dcid), 0, a, sizeof(a), out1);
	*n2 = quic_initial(dcid, sizeof(dcid), 1, b, sizeof(b), out2);
}
