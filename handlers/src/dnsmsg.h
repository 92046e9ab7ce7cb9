/* SPDX-License-Identifier: MIT */
/* tunplug — private: the pure DNS message code of the dns handler (no I/O,
 * no allocation), so it can be unit tested (tests/unit/test_dnsmsg.c).
 *
 * Only what a forwarder needs: validate a query and take its first
 * question, check that an answer belongs to it (ID and question, the name
 * compared case-insensitively), read TC and RCODE, build SERVFAIL and
 * FORMERR replies, and parse the upstream list "ADDR:PORT,[ADDR6]:PORT". */
#ifndef TUNPLUG_HANDLERS_DNSMSG_H
#define TUNPLUG_HANDLERS_DNSMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNSMSG_HDR_LEN 12
#define DNSMSG_NAME_MAX 255 /* wire form, root label included */

#define DNSMSG_RCODE_NOERROR 0
#define DNSMSG_RCODE_FORMERR 1
#define DNSMSG_RCODE_SERVFAIL 2
#define DNSMSG_RCODE_NXDOMAIN 3

/* Results of dnsmsg_parse_query. */
#define DNSMSG_OK 0
#define DNSMSG_FORMERR 1 /* header readable, rest bad: answer FORMERR */
#define DNSMSG_DROP 2    /* not a query at all (short, or a response): drop */

/* A query's first question; qname in uncompressed wire form. */
struct dnsmsg_query {
	uint16_t id;
	uint16_t flags; /* header bytes 2-3 */
	uint16_t qtype;
	uint16_t qclass;
	uint8_t qname[DNSMSG_NAME_MAX];
	size_t qname_len;
	size_t q_end; /* offset just after the first question in the message */
};

/* Read a (possibly compressed) name at *off in msg into out (wire form,
 * uncompressed, at most DNSMSG_NAME_MAX bytes); *off moves past the name as
 * it is in msg. Returns the length written, or 0 if the name is malformed
 * (out of bounds, label > 63, reserved label type, forward or looping
 * pointer, total > 255). */
size_t dnsmsg_read_name(const uint8_t *msg, size_t len, size_t *off, uint8_t *out);

/* Validate a query (>= 12 bytes, QR=0, QDCOUNT >= 1, first question within
 * bounds) and fill q. DNSMSG_OK, DNSMSG_FORMERR or DNSMSG_DROP. */
int dnsmsg_parse_query(const void *msg, size_t len, struct dnsmsg_query *q);

/* true if msg is a response (QR=1) with q's ID whose first question is q's
 * (name case-insensitive, type, class). */
bool dnsmsg_match_answer(const struct dnsmsg_query *q, const void *msg, size_t len);

/* Header fields of a message of at least DNSMSG_HDR_LEN bytes. */
bool dnsmsg_truncated(const void *msg, size_t len);
int dnsmsg_rcode(const void *msg, size_t len); /* -1 if shorter than a header */

/* SERVFAIL for a parsed query: same ID, opcode, RD and CD, QR and RA set,
 * the first question only. Returns the length (<= cap) or 0 if cap is too
 * small. */
size_t dnsmsg_build_servfail(const struct dnsmsg_query *q, void *out, size_t cap);

/* NOERROR for a parsed query with one answer: the question's name (a
 * pointer to it), its type and class, ttl and addr (alen 4 or 16 bytes);
 * alen 0 gives NODATA (no answer record). Returns the length (<= cap) or
 * 0 if cap is too small. */
size_t dnsmsg_build_address(const struct dnsmsg_query *q, const void *addr, size_t alen,
                            uint32_t ttl, void *out, size_t cap);

/* A wire name as a host name for the fake-IP pool: lower case, labels
 * joined by '.', no trailing dot, into out (cap bytes, NUL-terminated).
 * Returns its length, or 0 for the root or a name with a byte other than
 * a letter, digit, '-' or '_' (such names are not faked). */
size_t dnsmsg_host_name(const uint8_t *wire, size_t len, char *out, size_t cap);

/* Where dnsmsg_fake_answer gets a name's address: 0 with addr filled (4
 * or 16 bytes of family), -EAFNOSUPPORT for a family without a pool
 * (NODATA), any other -errno to forward the query instead. */
typedef int dnsmsg_addr_fn(void *ctx, int family, const char *name, size_t len, void *addr);

/* The fake-IP responder: for a parsed QUERY (opcode 0) of type A or AAAA,
 * class IN, whose name is a host name (dnsmsg_host_name, into name: at
 * least DNSMSG_NAME_MAX + 1 bytes), ask fn for the address and build the
 * answer (ttl) or NODATA into out. Returns the answer's length, or 0 when
 * the query is not answered here (forward it); *rc gets fn's result (or 1
 * when fn was not asked). */
size_t dnsmsg_fake_answer(const struct dnsmsg_query *q, dnsmsg_addr_fn *fn, void *ctx, uint32_t ttl,
                          char *name, void *out, size_t cap, int *rc);

/* FORMERR from a query's readable header (len >= 12): ID, opcode, RD; no
 * records. Returns DNSMSG_HDR_LEN, or 0 if the header is not readable. */
size_t dnsmsg_build_formerr(const void *query, size_t len, void *out, size_t cap);

/* Presentation form of a wire name ("www.example.com.", "." for the root);
 * bytes other than letters, digits, '-' and '_' as \DDD. Always terminated. */
void dnsmsg_name_str(const uint8_t *wire, size_t len, char *out, size_t cap);
/* "A", "AAAA", ... or "TYPE123" in buf. */
const char *dnsmsg_type_str(uint16_t type, char *buf, size_t cap);
const char *dnsmsg_rcode_str(int rcode, char *buf, size_t cap);

/* Parse "ADDR:PORT" (IPv4) or "[ADDR6]:PORT" into out. 0 or -1. */
int dnsmsg_parse_hostport(const char *s, size_t len, struct sockaddr_storage *out);
/* Parse a comma-separated list of up to max entries. Returns the count
 * (>= 1), or -1 with the offending entry (possibly "", or "(too many)")
 * copied into bad. */
int dnsmsg_parse_upstreams(const char *list, struct sockaddr_storage *out, size_t max, char *bad,
                           size_t badlen);

#endif
