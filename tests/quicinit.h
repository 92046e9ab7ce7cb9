/* SPDX-License-Identifier: MIT */
/* tunplug tests — a test-only QUIC v1 client Initial protector (RFC 9001
 * 5.3, 5.4.1) with OpenSSL's EVP AES-128-GCM and AES-128-ECB, for the
 * sniffer's tests (tests/unit/test_sniff.c, tests/gateway/test_relay.c).
 * The keys come from tp_quic_initial_keys (gateway/src/sniff/). */
#ifndef TP_TEST_QUICINIT_H
#define TP_TEST_QUICINIT_H

#include <stddef.h>
#include <stdint.h>

#include "sniff/sniff.h"

/* Protect: hdr[0..hlen) is the unprotected header whose last pn_len
 * bytes are the packet number, pt[0..n) the payload (n >= 20 - pn_len,
 * for the sample). The packet (hlen + n + 16 bytes) goes into out, the
 * caller's. Returns its length; aborts when OpenSSL fails. */
size_t quic_protect(const struct tp_quic_keys *k, const uint8_t *hdr, size_t hlen, size_t pn_len,
                    const uint8_t *pt, size_t n, uint8_t *out);

/* A client Initial with DCID dcid[0..dlen), no SCID, no token, a 2-byte
 * packet number pn and the frames pt[0..n), protected into out (n + dlen +
 * 38 bytes). Returns its length. */
size_t quic_initial(const uint8_t *dcid, size_t dlen, unsigned pn, const uint8_t *pt, size_t n,
                    uint8_t *out);

/* RFC 9001 A.2's CRYPTO frame (a ClientHello for example.com: 245 bytes
 * with the frame header) into out; returns its length. */
size_t quic_a2_crypto(uint8_t *out, size_t cap);

/* Two datagrams that carry A.2's ClientHello between them, each an
 * Initial of DCID 8394c8f03e515708 padded to 1100 bytes of frames: the
 * tail (offset 100 on, with a PING first) with packet number 0 and the
 * head (offset 0..100) with packet number 1. out1, out2: 1200 bytes each.
 * The lengths go to *n1, *n2. */
void quic_split_hello(uint8_t *out1, size_t *n1, uint8_t *out2, size_t *n2);

#endif
