/* SPDX-License-Identifier: MIT */
/* tunplug — sniffing: the SNI of a QUIC v1 client Initial (RFC 9000 17.2,
 * 19.6; RFC 9001 5). Pure apart from OpenSSL's stateless crypto (see
 * sniff.h). All cryptography is OpenSSL's EVP: HKDF (SHA-256) for the
 * Initial secrets, AES-128-ECB for the header protection mask and
 * AES-128-GCM for the payload. */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <string.h>

#include "sniff/sniff.h"

#define QUIC_V1 0x00000001u
#define QUIC_TAG 16
#define QUIC_SAMPLE 16

/* RFC 9001 5.2: initial_salt of QUIC version 1. */
static const uint8_t v1_salt[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                    0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};

/* ---- key derivation ---- */

/* HKDF with SHA-256 through EVP_KDF: extract (salt, ikm) or expand (key =
 * prk, info) into out[0..outlen). 0 or -EIO. */
static int hkdf(EVP_KDF *kdf, int mode, const uint8_t *key, size_t klen, const uint8_t *salt,
                size_t slen, const uint8_t *info, size_t ilen, uint8_t *out, size_t outlen)
{
	EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM params[5], *p = params;
	int ret = -EIO;

	if (!ctx)
		return -EIO;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, klen);
	if (mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, slen);
	else
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, ilen);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, params) == 1)
		ret = 0;
	EVP_KDF_CTX_free(ctx);
	return ret;
}

/* HKDF-Expand-Label (RFC 8446 7.1) with an empty context: the HkdfLabel
 * structure is built here, the expansion is OpenSSL's. */
static int expand_label(EVP_KDF *kdf, const uint8_t *secret, const char *label, uint8_t *out,
                        size_t outlen)
{
	uint8_t info[2 + 1 + 6 + 32 + 1];
	size_t n = strlen(label), k = 0;

	info[k++] = (uint8_t)(outlen >> 8);
	info[k++] = (uint8_t)outlen;
	info[k++] = (uint8_t)(6 + n);
	memcpy(info + k, "tls13 ", 6);
	k += 6;
	memcpy(info + k, label, n);
	k += n;
	info[k++] = 0; /* context: empty */
	return hkdf(kdf, EVP_KDF_HKDF_MODE_EXPAND_ONLY, secret, 32, NULL, 0, info, k, out, outlen);
}

int tp_quic_initial_keys(const uint8_t *dcid, size_t dcid_len, struct tp_quic_keys *k)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	uint8_t initial[32], client[32];
	int ret = -EIO;

	if (!kdf || dcid_len > 20)
		goto out;
	if (hkdf(kdf, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, dcid, dcid_len, v1_salt, sizeof(v1_salt),
	         NULL, 0, initial, sizeof(initial)) ||
	    expand_label(kdf, initial, "client in", client, sizeof(client)) ||
	    expand_label(kdf, client, "quic key", k->key, sizeof(k->key)) ||
	    expand_label(kdf, client, "quic iv", k->iv, sizeof(k->iv)) ||
	    expand_label(kdf, client, "quic hp", k->hp, sizeof(k->hp)))
		goto out;
	ret = 0;
out:
	EVP_KDF_free(kdf);
	return ret;
}

/* ---- packet protection ---- */

/* The header protection mask: AES-128-ECB(hp, sample). */
static int hp_mask(const uint8_t *hp, const uint8_t *sample, uint8_t mask[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, ret = -EIO;

	if (ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, hp, NULL) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_EncryptUpdate(ctx, mask, &n, sample, QUIC_SAMPLE) == 1 && n == 16)
		ret = 0;
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

/* Open ct[0..len) (the tag follows it) with AES-128-GCM into pt. */
static int gcm_open(const struct tp_quic_keys *k, const uint8_t nonce[12], const uint8_t *aad,
                    size_t alen, const uint8_t *ct, size_t len, uint8_t *pt)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, ret = -EBADMSG;

	if (ctx && EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
	    EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, nonce) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)alen) == 1 &&
	    EVP_DecryptUpdate(ctx, pt, &n, ct, (int)len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, QUIC_TAG, (void *)(ct + len)) == 1 &&
	    EVP_DecryptFinal_ex(ctx, pt + n, &n) == 1)
		ret = 0;
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

/* ---- parsing ---- */

/* A variable-length integer (RFC 9000 16) at *off, below end. */
static bool varint(const uint8_t *p, size_t *off, size_t end, uint64_t *v)
{
	size_t n;

	if (*off >= end)
		return false;
	n = (size_t)1 << (p[*off] >> 6);
	if (end - *off < n)
		return false;
	*v = p[*off] & 0x3f;
	for (size_t i = 1; i < n; i++)
		*v = *v << 8 | p[*off + i];
	*off += n;
	return true;
}

/* Keep CRYPTO data [off, off + n) (what lies beyond our bound is
 * dropped) and advance the in-order prefix. */
static void crypto_put(struct tp_quic_sniff *q, uint64_t off, const uint8_t *data, uint64_t n)
{
	if (off >= TP_SNIFF_QUIC_CRYPTO_MAX)
		return;
	if (n > TP_SNIFF_QUIC_CRYPTO_MAX - off)
		n = TP_SNIFF_QUIC_CRYPTO_MAX - off;
	memcpy(q->crypto + off, data, (size_t)n);
	for (uint64_t i = off; i < off + n; i++)
		q->have[i / 8] |= (uint8_t)(1u << (i % 8));
	while (q->contig < TP_SNIFF_QUIC_CRYPTO_MAX &&
	       (q->have[q->contig / 8] >> (q->contig % 8) & 1u))
		q->contig++;
}

/* The frames of an opened Initial: PADDING, PING, ACK and CRYPTO are
 * understood; anything else (CONNECTION_CLOSE, or what an Initial may not
 * carry) gives up. */
static enum tp_sniff_res frames(struct tp_quic_sniff *q, const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		uint64_t type, a, b, c, d;

		if (!varint(p, &off, len, &type))
			return TP_SNIFF_MALFORMED;
		switch (type) {
		case 0x00: /* PADDING */
		case 0x01: /* PING */
			break;
		case 0x02: /* ACK */
		case 0x03: /* ACK with ECN counts */
			if (!varint(p, &off, len, &a) || !varint(p, &off, len, &b) ||
			    !varint(p, &off, len, &c) || !varint(p, &off, len, &d))
				return TP_SNIFF_MALFORMED;
			for (uint64_t i = 0; i < c; i++)
				if (!varint(p, &off, len, &a) || !varint(p, &off, len, &b))
					return TP_SNIFF_MALFORMED;
			if (type == 0x03 &&
			    (!varint(p, &off, len, &a) || !varint(p, &off, len, &b) ||
			     !varint(p, &off, len, &c)))
				return TP_SNIFF_MALFORMED;
			break;
		case 0x06: /* CRYPTO */
			if (!varint(p, &off, len, &a) || !varint(p, &off, len, &b) || b > len - off)
				return TP_SNIFF_MALFORMED;
			crypto_put(q, a, p + off, b);
			off += (size_t)b;
			break;
		default:
			return TP_SNIFF_MALFORMED;
		}
	}
	return TP_SNIFF_NEED_MORE;
}

/* Open the Initial pkt[0..len) whose packet number starts at pn_off (len:
 * up to the end of its Length). Its frames go into q. */
static enum tp_sniff_res initial(struct tp_quic_sniff *q, const uint8_t *in, size_t pn_off,
                                 size_t len)
{
	uint8_t pkt[TP_SNIFF_QUIC_PKT_MAX], pt[TP_SNIFF_QUIC_PKT_MAX];
	uint8_t mask[16], nonce[12];
	size_t pn_len, hdr;

	if (len > sizeof(pkt))
		return TP_SNIFF_MALFORMED;
	if (len < pn_off + 4 + QUIC_SAMPLE)
		return TP_SNIFF_MALFORMED;
	memcpy(pkt, in, len);
	if (hp_mask(q->keys.hp, pkt + pn_off + 4, mask))
		return TP_SNIFF_MALFORMED;
	pkt[0] ^= mask[0] & 0x0f;
	if (pkt[0] & 0x0c)
		return TP_SNIFF_MALFORMED; /* reserved bits must be 0 */
	pn_len = (size_t)(pkt[0] & 0x03) + 1;
	for (size_t i = 0; i < pn_len; i++)
		pkt[pn_off + i] ^= mask[1 + i];
	hdr = pn_off + pn_len;
	if (len - hdr < QUIC_TAG + 1)
		return TP_SNIFF_MALFORMED;
	/* the nonce: iv XOR the packet number (the first Initials' numbers
	 * are small, so the truncated one is the full one) */
	memcpy(nonce, q->keys.iv, sizeof(nonce));
	for (size_t i = 0; i < pn_len; i++)
		nonce[12 - pn_len + i] ^= pkt[pn_off + i];
	if (gcm_open(&q->keys, nonce, pkt, hdr, pkt + hdr, len - hdr - QUIC_TAG, pt))
		return TP_SNIFF_MALFORMED;
	q->packets++;
	return frames(q, pt, len - hdr - QUIC_TAG);
}

void tp_quic_sniff_init(struct tp_quic_sniff *q)
{
	q->keyed = false;
	q->dcid_len = 0;
	q->packets = 0;
	q->contig = 0;
	memset(q->have, 0, sizeof(q->have));
}

enum tp_sniff_res tp_quic_sniff_datagram(struct tp_quic_sniff *q, const uint8_t *dg, size_t len,
                                         char *name)
{
	size_t off = 0;
	bool any = false;
	enum tp_sniff_res r;

	while (off < len) {
		const uint8_t *p = dg + off;
		size_t n = len - off, k, dlen, slen, pn_off;
		uint64_t v, plen;
		uint32_t version;

		/* a long header with the fixed bit; anything else ends the walk
		 * (a short-header packet runs to the datagram's end) */
		if ((p[0] & 0xc0) != 0xc0 || n < 7)
			break;
		version = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
		if (version != QUIC_V1)
			break;
		dlen = p[5];
		if (dlen > 20 || n < 6 + dlen + 1)
			return TP_SNIFF_MALFORMED;
		slen = p[6 + dlen];
		k = 6 + dlen + 1 + slen;
		if (slen > 20 || n < k)
			return TP_SNIFF_MALFORMED;
		if (((p[0] >> 4) & 3) == 3)
			break;                /* Retry: not from a client */
		if (((p[0] >> 4) & 3) == 0) { /* Initial: a token first */
			if (!varint(p, &k, n, &v) || v > n - k)
				return TP_SNIFF_MALFORMED;
			k += (size_t)v;
		}
		if (!varint(p, &k, n, &plen) || plen > n - k)
			return TP_SNIFF_MALFORMED;
		pn_off = k;
		if (((p[0] >> 4) & 3) == 0) {
			if (!q->keyed) {
				if (dlen < 8)
					return TP_SNIFF_MALFORMED; /* a client's first DCID: >= 8 */
				if (tp_quic_initial_keys(p + 6, dlen, &q->keys))
					return TP_SNIFF_MALFORMED;
				memcpy(q->dcid, p + 6, dlen);
				q->dcid_len = (uint8_t)dlen;
				q->keyed = true;
			} else if (dlen != q->dcid_len || memcmp(q->dcid, p + 6, dlen)) {
				return TP_SNIFF_MALFORMED; /* another connection's keys */
			}
			r = initial(q, p, pn_off, pn_off + (size_t)plen);
			if (r != TP_SNIFF_NEED_MORE)
				return r;
			any = true;
		}
		off += pn_off + (size_t)plen;
	}
	if (!any && !q->keyed)
		return TP_SNIFF_NOT_PROTO;
	if (!q->contig)
		return TP_SNIFF_NEED_MORE;
	r = tp_sniff_tls_hello(q->crypto, q->contig, name);
	if (r == TP_SNIFF_NOT_PROTO)
		return TP_SNIFF_MALFORMED; /* an Initial, but no ClientHello */
	if (r == TP_SNIFF_NEED_MORE && q->contig == TP_SNIFF_QUIC_CRYPTO_MAX)
		return TP_SNIFF_MALFORMED; /* no server_name within our bound */
	return r;
}
