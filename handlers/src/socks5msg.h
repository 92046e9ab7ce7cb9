/* SPDX-License-Identifier: MIT */
/* tunplug — SOCKS5 messages (RFC 1928, RFC 1929 username/password): build
 * and parse, no I/O. Used by the socks5 handler; unit-tested on its own. */
#ifndef TUNPLUG_HANDLERS_SOCKS5MSG_H
#define TUNPLUG_HANDLERS_SOCKS5MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "target.h"

#define S5_VER 5
#define S5_AUTH_VER 1 /* RFC 1929 sub-negotiation version */

#define S5_METHOD_NONE 0x00
#define S5_METHOD_USERPASS 0x02
#define S5_METHOD_NOACCEPT 0xff

#define S5_CMD_CONNECT 0x01
#define S5_CMD_UDP_ASSOCIATE 0x03

#define S5_ATYP_IPV4 0x01
#define S5_ATYP_DOMAIN 0x03
#define S5_ATYP_IPV6 0x04

/* Reply codes (REP). */
#define S5_REP_OK 0x00
#define S5_REP_FAILURE 0x01
#define S5_REP_NOT_ALLOWED 0x02
#define S5_REP_NET_UNREACH 0x03
#define S5_REP_HOST_UNREACH 0x04
#define S5_REP_REFUSED 0x05
#define S5_REP_TTL_EXPIRED 0x06
#define S5_REP_CMD_UNSUPPORTED 0x07
#define S5_REP_ATYP_UNSUPPORTED 0x08

#define S5_REPLY_MIN 5 /* VER REP RSV ATYP + first address byte */
#define S5_REPLY_MAX (4 + 1 + 255 + 2)
#define S5_AUTH_MAX (3 + 255 + 255)
#define S5_REQUEST_MAX (4 + 1 + 255 + 2) /* ATYP domain: the longest */
#define S5_UDP_HDR_MAX (4 + 1 + 255 + 2)

/* A parsed CONNECT / UDP ASSOCIATE reply. */
struct s5_reply {
	uint8_t rep;
	uint8_t atyp;
	/* ATYP IPv4/IPv6: the bound address and port (AF_INET/AF_INET6);
	 * ATYP domain: bnd.ss_family is AF_UNSPEC and the name is in domain. */
	struct sockaddr_storage bnd;
	char domain[256];
	uint16_t port; /* host order, for every ATYP */
};

/* Parse target (what follows "socks5://"): [user:pass@]host[:port] (both
 * credentials non-empty, %XX escapes allowed; host an IPv4 address, [IPv6]
 * or a name; port 1080 when omitted; a trailing '/' is ignored). 0, or
 * -EINVAL with a message in err. */
int s5_spec_parse(const char *target, struct tp_target *s, char *err, size_t errlen);

/* Method selection offer: no-auth, plus username/password when auth.
 * Returns the length (at most 4). */
size_t s5_build_greeting(uint8_t *buf, bool auth);
/* The server's method choice (2 bytes): the method, or -EPROTO. */
int s5_parse_method(const uint8_t *buf);

/* RFC 1929 request into buf (S5_AUTH_MAX bytes); the length, or -EINVAL
 * when user or pass is empty or longer than 255 bytes. */
int s5_build_auth(uint8_t *buf, const char *user, const char *pass);
/* RFC 1929 status (2 bytes): 0 success, -EACCES failure, -EPROTO. */
int s5_parse_auth_reply(const uint8_t *buf);

/* CONNECT / UDP ASSOCIATE request for an AF_INET/AF_INET6 address into buf
 * (S5_REQUEST_MAX bytes); the length, or -EAFNOSUPPORT. */
int s5_build_request(uint8_t *buf, uint8_t cmd, const struct sockaddr *addr);
/* The same with ATYP DOMAIN: name (borrowed; tp_name_valid) and port (host
 * order). The length, or -EINVAL for a name tp_name_valid refuses. */
int s5_build_request_name(uint8_t *buf, uint8_t cmd, const char *name, uint16_t port);

/* Total size of the reply whose first bytes are buf[0..len): S5_REPLY_MIN
 * while len < S5_REPLY_MIN, else the exact size; -EPROTO for a bad VER or
 * an unknown ATYP. Read replies in exactly these pieces: what follows the
 * reply on the stream is payload. */
int s5_reply_size(const uint8_t *buf, size_t len);
/* Parse a complete reply: its size, -EAGAIN when len is short, -EPROTO when
 * malformed. r->rep is whatever the server said (check it). */
int s5_parse_reply(const uint8_t *buf, size_t len, struct s5_reply *r);

/* What REP means for the client's flow (see tp_syn_answer_of for what the
 * client is then told): 0 success; 5 connection refused -ECONNREFUSED (a
 * RST); 3 network unreachable -ENETUNREACH, 4 host unreachable
 * -EHOSTUNREACH (ICMP); 6 TTL expired -ETIMEDOUT (what dante answers when
 * its connect timed out: silence); 2 not allowed by the ruleset -EACCES
 * and 1 general failure -EIO (ICMP administratively prohibited: the proxy
 * could not, or would not, and says nothing of the destination); anything
 * else (7, 8, unknown) -ECONNRESET (the proxy cannot do CONNECT: a RST). */
int s5_rep_errno(uint8_t rep);
/* A static description of REP. */
const char *s5_rep_str(uint8_t rep);

/* UDP request header (RSV RSV FRAG=0 ATYP DST.ADDR DST.PORT) for an
 * AF_INET/AF_INET6 destination into hdr (S5_UDP_HDR_MAX bytes); the
 * length, or -EAFNOSUPPORT. */
int s5_udp_header(uint8_t *hdr, const struct sockaddr *dst);
/* The same with ATYP DOMAIN for name (borrowed; tp_name_valid) and port
 * (host order); the length, or -EINVAL for a name tp_name_valid refuses. */
int s5_udp_header_name(uint8_t *hdr, const char *name, uint16_t port);
/* Unwrap a relayed datagram. On success the payload is buf[*off..len) and
 * returns 0 with *from set (ATYP IPv4/IPv6), or 1 for ATYP domain
 * (from->ss_family is AF_UNSPEC: the sender has no address to report).
 * -EPROTO when malformed or truncated, -EOPNOTSUPP when FRAG != 0. */
int s5_udp_unwrap(const uint8_t *buf, size_t len, struct sockaddr_storage *from, size_t *off);

#endif
