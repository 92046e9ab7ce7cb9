/* SPDX-License-Identifier: MIT */
/* tunplug — sniffing: the server_name of a TLS ClientHello (RFC 8446 4.1.2,
 * RFC 6066 3), with or without the record layer. Pure (see sniff.h).
 *
 * The parser reads the bytes so far through a bounded cursor: running out
 * of bytes inside the hello is NEED_MORE while the hello is not complete
 * (its declared length not yet reached) and MALFORMED once it is. */
#include <string.h>

#include "sniff/sniff.h"

#define TLS_HANDSHAKE 22
#define TLS_CLIENT_HELLO 1
#define TLS_EXT_SERVER_NAME 0
#define TLS_RECORD_MAX (16384 + 256) /* a TLSCiphertext's bound; plaintext is less */

struct cur {
	const uint8_t *p;
	size_t off, end; /* bytes [off, end) readable */
	bool complete;   /* end is the structure's real end, not just what came */
};

/* Out of bytes: which result that is. */
static enum tp_sniff_res short_res(const struct cur *c)
{
	return c->complete ? TP_SNIFF_MALFORMED : TP_SNIFF_NEED_MORE;
}

static bool has(const struct cur *c, size_t n)
{
	return c->end - c->off >= n;
}

static size_t get(struct cur *c, size_t n)
{
	size_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | c->p[c->off + i];
	c->off += n;
	return v;
}

/* The server_name extension's body [off, off + len), all there. */
static enum tp_sniff_res server_name(const uint8_t *p, size_t len, char *name)
{
	size_t list, off = 2;

	if (len < 2)
		return TP_SNIFF_MALFORMED;
	list = (size_t)p[0] << 8 | p[1];
	if (list != len - 2 || list == 0)
		return TP_SNIFF_MALFORMED;
	while (off < len) {
		uint8_t type;
		size_t n;

		if (len - off < 3)
			return TP_SNIFF_MALFORMED;
		type = p[off];
		n = (size_t)p[off + 1] << 8 | p[off + 2];
		off += 3;
		if (n > len - off)
			return TP_SNIFF_MALFORMED;
		if (type == 0) /* host_name */
			return tp_sniff_name(p + off, n, name);
		off += n;
	}
	return TP_SNIFF_NO_NAME;
}

/* msg: handshake messages, the first of which must be a ClientHello. */
enum tp_sniff_res tp_sniff_tls_hello(const uint8_t *msg, size_t len, char *name)
{
	struct cur c = {.p = msg};
	size_t hlen, n, ext_end;

	if (len < 1)
		return TP_SNIFF_NEED_MORE;
	if (msg[0] != TLS_CLIENT_HELLO)
		return TP_SNIFF_NOT_PROTO;
	if (len < 4)
		return TP_SNIFF_NEED_MORE;
	hlen = (size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3];
	/* version, random, session id, suites, compression: at least 38+4 */
	if (hlen < 2 + 32 + 1 + 2 + 2 + 1 + 1)
		return TP_SNIFF_MALFORMED;
	c.off = 4;
	c.complete = len - 4 >= hlen;
	c.end = c.complete ? 4 + hlen : len;
	if (!has(&c, 2 + 32 + 1))
		return short_res(&c);
	if (msg[4] != 3) /* legacy_version 3.x */
		return TP_SNIFF_NOT_PROTO;
	c.off += 2 + 32;
	n = get(&c, 1); /* legacy_session_id */
	if (n > 32)
		return TP_SNIFF_MALFORMED;
	if (!has(&c, n + 2))
		return short_res(&c);
	c.off += n;
	n = get(&c, 2); /* cipher_suites */
	if (n < 2 || n % 2)
		return TP_SNIFF_MALFORMED;
	if (!has(&c, n + 1))
		return short_res(&c);
	c.off += n;
	n = get(&c, 1); /* legacy_compression_methods */
	if (n < 1)
		return TP_SNIFF_MALFORMED;
	if (!has(&c, n))
		return short_res(&c);
	c.off += n;
	if (c.complete && c.off == c.end)
		return TP_SNIFF_NO_NAME; /* no extensions at all (TLS 1.0 style) */
	if (!has(&c, 2))
		return short_res(&c);
	n = get(&c, 2);
	ext_end = c.off + n;
	if (ext_end != 4 + hlen)
		return TP_SNIFF_MALFORMED; /* extensions run to the hello's end */
	while (c.off < ext_end) {
		size_t type, elen;

		if (!has(&c, 4))
			return short_res(&c);
		type = get(&c, 2);
		elen = get(&c, 2);
		if (elen > ext_end - c.off)
			return TP_SNIFF_MALFORMED;
		if (!has(&c, elen))
			return short_res(&c);
		if (type == TLS_EXT_SERVER_NAME)
			return server_name(msg + c.off, elen, name);
		c.off += elen;
	}
	return TP_SNIFF_NO_NAME;
}

/* buf: TLS records from a stream's start. The handshake bytes of the
 * records so far are gathered (up to TP_SNIFF_TLS_MAX) and parsed. */
enum tp_sniff_res tp_sniff_tls(const uint8_t *buf, size_t len, char *name)
{
	uint8_t hs[TP_SNIFF_TLS_MAX];
	size_t off = 0, hlen = 0;
	bool full = false;
	enum tp_sniff_res r;

	if (len >= 1 && buf[0] != TLS_HANDSHAKE)
		return TP_SNIFF_NOT_PROTO;
	if (len >= 2 && buf[1] != 3)
		return TP_SNIFF_NOT_PROTO;
	while (off < len && !full) {
		size_t rlen, take;

		if (len - off < 5) {
			/* the next record's header is not all there; a type other
			 * than handshake is already known to be wrong */
			if (buf[off] != TLS_HANDSHAKE)
				return TP_SNIFF_MALFORMED;
			break;
		}
		if (buf[off] != TLS_HANDSHAKE || buf[off + 1] != 3)
			return off ? TP_SNIFF_MALFORMED : TP_SNIFF_NOT_PROTO;
		rlen = (size_t)buf[off + 3] << 8 | buf[off + 4];
		if (rlen == 0 || rlen > TLS_RECORD_MAX)
			return TP_SNIFF_MALFORMED;
		off += 5;
		take = len - off < rlen ? len - off : rlen;
		if (take > sizeof(hs) - hlen) {
			take = sizeof(hs) - hlen;
			full = true;
		}
		memcpy(hs + hlen, buf + off, take);
		hlen += take;
		if (take < rlen)
			break; /* the rest of this record has not come yet */
		off += rlen;
		/* the hello complete: what follows is none of our business */
		if (hlen >= 4 && hlen - 4 >= ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]))
			break;
	}
	if (hlen == 0)
		return TP_SNIFF_NEED_MORE;
	r = tp_sniff_tls_hello(hs, hlen, name);
	if (r == TP_SNIFF_NEED_MORE && hlen == sizeof(hs))
		return TP_SNIFF_MALFORMED; /* no server_name within our bound */
	return r;
}
