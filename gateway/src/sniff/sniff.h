/* SPDX-License-Identifier: MIT */
/* tunplug — sniffing: the destination's name from a flow's first client
 * bytes. Pure parsers (no I/O, no allocation, no global state), each
 * fuzzed (tests/fuzz/fuzz_sniff_*.c) and unit-tested (tests/unit/
 * test_sniff.c):
 *   - the TLS ClientHello's server_name, with the record layer (a TCP
 *     stream's first bytes, the hello possibly split over several records
 *     and segments) or without it (a QUIC CRYPTO stream);
 *   - the HTTP/1 request's Host header;
 *   - the SNI of a QUIC v1 client Initial: keys derived from the
 *     Destination Connection ID (RFC 9001 5.2) with OpenSSL's HKDF, header
 *     protection removed (AES-128-ECB), the payload opened (AES-128-GCM),
 *     CRYPTO frames put back in order (over several packets and
 *     datagrams, bounded), then the TLS parser without the record layer.
 * Each parser looks at the bytes so far and says whether it needs more.
 * The gateway's use of them (which flows, the deadline, the counters) is
 * in relay/sniff.c (TCP) and udp/udpflow.c (QUIC); the options in
 * struct tp_sniff_cfg below. */
#ifndef TUNPLUG_GW_SNIFF_H
#define TUNPLUG_GW_SNIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a parser made of the bytes so far. */
enum tp_sniff_res {
	TP_SNIFF_FOUND,     /* a valid name is in name[] */
	TP_SNIFF_NEED_MORE, /* so far so good: give it more bytes */
	TP_SNIFF_NO_NAME,   /* the protocol, complete, but no name (or an address) */
	TP_SNIFF_NOT_PROTO, /* not this protocol at all */
	TP_SNIFF_MALFORMED, /* this protocol, but broken or beyond our bounds */
};

/* A name buffer: 253 characters and the NUL. */
#define TP_SNIFF_NAME_MAX 253
#define TP_SNIFF_NAME_BUF (TP_SNIFF_NAME_MAX + 1)

/* Bounds: handshake bytes of a ClientHello the TLS parsers look at (a
 * hello whose server_name lies beyond is MALFORMED: too long to sniff);
 * the HTTP request head; the QUIC CRYPTO stream kept; the largest QUIC
 * packet opened. */
#define TP_SNIFF_TLS_MAX 16384
#define TP_SNIFF_HTTP_MAX 8192
#define TP_SNIFF_QUIC_CRYPTO_MAX 8192
#define TP_SNIFF_QUIC_PKT_MAX 4096

/* Validate a DNS name of len bytes (no NUL needed): labels of 1..63
 * letters, digits, '-' or '_', separated by dots, one trailing dot
 * allowed (dropped), at most 253 characters. A valid one goes into out
 * (TP_SNIFF_NAME_BUF bytes, lower case, NUL-terminated): TP_SNIFF_FOUND.
 * An IPv4 address in dotted form: TP_SNIFF_NO_NAME (an address is no
 * name). Anything else: TP_SNIFF_MALFORMED. Everything borrowed. */
enum tp_sniff_res tp_sniff_name(const uint8_t *in, size_t len, char *out);

/* The server_name of a TLS ClientHello in the first len bytes of a TCP
 * stream (TLS records: handshake records only, up to the hello's end).
 * NEED_MORE while the bytes so far are a plausible beginning; FOUND as
 * soon as the server_name extension is complete. name: TP_SNIFF_NAME_BUF
 * bytes, written on FOUND only. buf is borrowed. */
enum tp_sniff_res tp_sniff_tls(const uint8_t *buf, size_t len, char *name);

/* The same on handshake messages without the record layer (a QUIC CRYPTO
 * stream): msg starts with the ClientHello's handshake header. */
enum tp_sniff_res tp_sniff_tls_hello(const uint8_t *msg, size_t len, char *name);

/* The Host of an HTTP/1.x request in the first len bytes of a TCP stream:
 * request line, then header lines up to Host (a port and one trailing
 * dot dropped). An IP literal ([v6] or dotted v4) is NO_NAME, as is a
 * complete head without Host. Bounded by TP_SNIFF_HTTP_MAX. */
enum tp_sniff_res tp_sniff_http(const uint8_t *buf, size_t len, char *name);

/* QUIC v1 Initial packet protection keys (client side, RFC 9001 5.2). */
struct tp_quic_keys {
	uint8_t key[16], iv[12], hp[16];
};

/* Derive the client's Initial keys from the client's first Destination
 * Connection ID (dcid_len <= 20). 0, or -EIO when OpenSSL fails. */
int tp_quic_initial_keys(const uint8_t *dcid, size_t dcid_len, struct tp_quic_keys *k);

/* One client's Initial packets so far, across datagrams: the caller's
 * (about 9.5 KiB, so held only while a flow is sniffed). */
struct tp_quic_sniff {
	bool keyed;
	uint8_t dcid_len;
	uint8_t dcid[20];
	struct tp_quic_keys keys;
	unsigned packets; /* Initial packets opened */
	size_t contig;    /* CRYPTO bytes [0, contig) all there */
	uint8_t crypto[TP_SNIFF_QUIC_CRYPTO_MAX];
	uint8_t have[TP_SNIFF_QUIC_CRYPTO_MAX / 8]; /* a bit per crypto[] byte */
};

void tp_quic_sniff_init(struct tp_quic_sniff *q);

/* Feed one UDP datagram (a client's, to port 443) into q: its coalesced
 * long-header packets are walked, the QUIC v1 Initials opened and their
 * CRYPTO frames kept (out of order too). FOUND: the ClientHello's SNI is
 * in name (TP_SNIFF_NAME_BUF bytes). NEED_MORE: the hello goes on in a
 * later datagram. NOT_PROTO: no QUIC v1 Initial (on the first datagram).
 * NO_NAME, MALFORMED: give up. dg is borrowed; q is the caller's. */
enum tp_sniff_res tp_quic_sniff_datagram(struct tp_quic_sniff *q, const uint8_t *dg, size_t len,
                                         char *name);

/* ---- the options (what flows are sniffed) ---- */

#define TP_SNIFF_TIMEOUT_MS 300

struct tp_sniff_cfg {
	bool on;                  /* --sniff: TCP flows to ports[] */
	uint8_t ports[65536 / 8]; /* a bit per TCP port (default 80, 443) */
	unsigned timeout_ms;      /* the wait for the first client bytes */
	bool quic;                /* UDP to port 443 too (with --sniff) */
};

/* Defaults: off; ports 80 and 443; TP_SNIFF_TIMEOUT_MS; QUIC on. */
void tp_sniff_cfg_init(struct tp_sniff_cfg *c);

/* Set the TCP port list from "80,443,8000-8080" (replacing it). 0 or
 * -EINVAL. s is borrowed. */
int tp_sniff_cfg_ports(struct tp_sniff_cfg *c, const char *s);

static inline bool tp_sniff_port(const struct tp_sniff_cfg *c, uint16_t port)
{
	return (c->ports[port / 8] >> (port % 8)) & 1u;
}

/* Short names of the results for logs ("found", "need-more", ...). */
const char *tp_sniff_res_str(enum tp_sniff_res r);

#endif
