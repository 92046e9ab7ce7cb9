/* SPDX-License-Identifier: MIT */
/* tunplug — DNS message helpers of the dns handler (see dnsmsg.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dnsmsg.h"

/* Header bits (of the 16-bit flags word). */
#define F_QR 0x8000u
#define F_OPCODE 0x7800u
#define F_AA 0x0400u
#define F_TC 0x0200u
#define F_RD 0x0100u
#define F_RA 0x0080u
#define F_AD 0x0020u
#define F_CD 0x0010u
#define F_RCODE 0x000fu

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t dnsmsg_read_name(const uint8_t *msg, size_t len, size_t *off, uint8_t *out)
{
	size_t pos = *off;
	size_t seg = pos; /* start of the labels read since the last jump */
	size_t end = 0;   /* where the name ends in msg (after the first pointer) */
	size_t n = 0;
	bool jumped = false;

	for (;;) {
		uint8_t c;

		if (pos >= len)
			return 0;
		c = msg[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= len)
				return 0;
			target = ((size_t)(c & 0x3f) << 8) | msg[pos + 1];
			/* strictly before the current run of labels: every jump
			 * goes lower, so no loop; never into the header */
			if (target >= seg || target < DNSMSG_HDR_LEN)
				return 0;
			if (!jumped) {
				end = pos + 2;
				jumped = true;
			}
			pos = seg = target;
			continue;
		}
		if (c & 0xc0)
			return 0; /* 0x40 / 0x80: extended or reserved label types */
		if (c == 0) {
			if (n + 1 > DNSMSG_NAME_MAX)
				return 0;
			out[n++] = 0;
			*off = jumped ? end : pos + 1;
			return n;
		}
		if (pos + 1 + c > len || n + 1 + c + 1 > DNSMSG_NAME_MAX)
			return 0;
		memcpy(out + n, msg + pos, (size_t)c + 1);
		n += (size_t)c + 1;
		pos += (size_t)c + 1;
	}
}

int dnsmsg_parse_query(const void *msg, size_t len, struct dnsmsg_query *q)
{
	const uint8_t *m = msg;
	size_t off = DNSMSG_HDR_LEN;

	if (len < DNSMSG_HDR_LEN)
		return DNSMSG_DROP;
	q->id = rd16(m);
	q->flags = rd16(m + 2);
	if (q->flags & F_QR)
		return DNSMSG_DROP; /* a response: never answer one */
	if (rd16(m + 4) < 1)
		return DNSMSG_FORMERR;
	q->qname_len = dnsmsg_read_name(m, len, &off, q->qname);
	if (!q->qname_len || off + 4 > len)
		return DNSMSG_FORMERR;
	q->qtype = rd16(m + off);
	q->qclass = rd16(m + off + 2);
	q->q_end = off + 4;
	return DNSMSG_OK;
}

static bool name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	/* same label structure is implied: length bytes are < 64, so they are
	 * unchanged by ASCII case folding and must match exactly */
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		uint8_t x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (uint8_t)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

bool dnsmsg_match_answer(const struct dnsmsg_query *q, const void *msg, size_t len)
{
	const uint8_t *m = msg;
	uint8_t name[DNSMSG_NAME_MAX];
	size_t off = DNSMSG_HDR_LEN, n;

	if (len < DNSMSG_HDR_LEN || rd16(m) != q->id || !(rd16(m + 2) & F_QR) || rd16(m + 4) < 1)
		return false;
	n = dnsmsg_read_name(m, len, &off, name);
	if (!n || off + 4 > len)
		return false;
	return name_eq(name, n, q->qname, q->qname_len) && rd16(m + off) == q->qtype &&
	       rd16(m + off + 2) == q->qclass;
}

bool dnsmsg_truncated(const void *msg, size_t len)
{
	return len >= DNSMSG_HDR_LEN && (rd16((const uint8_t *)msg + 2) & F_TC);
}

int dnsmsg_rcode(const void *msg, size_t len)
{
	if (len < DNSMSG_HDR_LEN)
		return -1;
	return rd16((const uint8_t *)msg + 2) & F_RCODE;
}

/* Reply flags from a query's: QR, opcode and RD (and CD) kept, RA set. */
static uint16_t reply_flags(uint16_t qflags, int rcode)
{
	return (uint16_t)(F_QR | (qflags & (F_OPCODE | F_RD | F_CD)) | F_RA | (unsigned)rcode);
}

size_t dnsmsg_build_servfail(const struct dnsmsg_query *q, void *out, size_t cap)
{
	uint8_t *o = out;
	size_t n = DNSMSG_HDR_LEN + q->qname_len + 4;

	if (cap < n || q->qname_len == 0 || q->qname_len > DNSMSG_NAME_MAX)
		return 0;
	memset(o, 0, DNSMSG_HDR_LEN);
	wr16(o, q->id);
	wr16(o + 2, reply_flags(q->flags, DNSMSG_RCODE_SERVFAIL));
	wr16(o + 4, 1);
	memcpy(o + DNSMSG_HDR_LEN, q->qname, q->qname_len);
	wr16(o + DNSMSG_HDR_LEN + q->qname_len, q->qtype);
	wr16(o + DNSMSG_HDR_LEN + q->qname_len + 2, q->qclass);
	return n;
}

size_t dnsmsg_build_address(const struct dnsmsg_query *q, const void *addr, size_t alen,
                            uint32_t ttl, void *out, size_t cap)
{
	uint8_t *o = out, *a;
	size_t n = dnsmsg_build_servfail(q, out, cap);

	if (!n || (alen != 0 && alen != 4 && alen != 16) || (alen && cap < n + 12 + alen))
		return 0;
	wr16(o + 2, reply_flags(q->flags, DNSMSG_RCODE_NOERROR));
	if (!alen)
		return n; /* NODATA: the name exists, no record of this type */
	wr16(o + 6, 1);   /* ANCOUNT */
	a = o + n;
	wr16(a, 0xc000 | DNSMSG_HDR_LEN); /* the question's name */
	wr16(a + 2, q->qtype);
	wr16(a + 4, q->qclass);
	wr16(a + 6, (uint16_t)(ttl >> 16));
	wr16(a + 8, (uint16_t)ttl);
	wr16(a + 10, (uint16_t)alen);
	memcpy(a + 12, addr, alen);
	return n + 12 + alen;
}

size_t dnsmsg_host_name(const uint8_t *wire, size_t len, char *out, size_t cap)
{
	size_t o = 0, i = 0;

	while (i < len && wire[i]) {
		size_t l = wire[i];

		if (l > 63 || i + 1 + l >= len)
			return 0;
		if (o && o + 1 < cap)
			out[o++] = '.';
		for (size_t k = 1; k <= l; k++) {
			uint8_t c = wire[i + k];

			if (c >= 'A' && c <= 'Z')
				c = (uint8_t)(c - 'A' + 'a');
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			      c == '_'))
				return 0;
			if (o + 1 >= cap)
				return 0;
			out[o++] = (char)c;
		}
		i += 1 + l;
	}
	if (i >= len || o == 0 || o + 1 > cap)
		return 0; /* no root label, or the root itself */
	out[o] = '\0';
	return o;
}

size_t dnsmsg_fake_answer(const struct dnsmsg_query *q, dnsmsg_addr_fn *fn, void *ctx, uint32_t ttl,
                          char *name, void *out, size_t cap, int *rc)
{
	uint8_t addr[16];
	int family = q->qtype == 1 ? AF_INET : AF_INET6;
	size_t len;

	*rc = 1;
	if ((q->qtype != 1 && q->qtype != 28) || q->qclass != 1 || (q->flags & F_OPCODE))
		return 0;
	len = dnsmsg_host_name(q->qname, q->qname_len, name, DNSMSG_NAME_MAX + 1);
	if (!len)
		return 0;
	*rc = fn(ctx, family, name, len, addr);
	if (*rc == -EAFNOSUPPORT)
		return dnsmsg_build_address(q, NULL, 0, 0, out, cap);
	if (*rc)
		return 0;
	return dnsmsg_build_address(q, addr, family == AF_INET ? 4 : 16, ttl, out, cap);
}

size_t dnsmsg_build_formerr(const void *query, size_t len, void *out, size_t cap)
{
	const uint8_t *m = query;
	uint8_t *o = out;

	if (len < DNSMSG_HDR_LEN || cap < DNSMSG_HDR_LEN || (rd16(m + 2) & F_QR))
		return 0;
	memset(o, 0, DNSMSG_HDR_LEN);
	wr16(o, rd16(m));
	wr16(o + 2, reply_flags(rd16(m + 2), DNSMSG_RCODE_FORMERR));
	return DNSMSG_HDR_LEN;
}

void dnsmsg_name_str(const uint8_t *wire, size_t len, char *out, size_t cap)
{
	size_t o = 0, i = 0;

	if (!cap)
		return;
#define PUT(ch)                          \
	do {                             \
		if (o + 1 < cap)         \
			out[o++] = (ch); \
	} while (0)
	while (i < len && wire[i]) {
		size_t l = wire[i++];

		for (size_t k = 0; k < l && i < len; k++, i++) {
			uint8_t c = wire[i];

			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_') {
				PUT((char)c);
			} else {
				char esc[5];

				snprintf(esc, sizeof(esc), "\\%03u", c);
				for (int e = 0; e < 4; e++)
					PUT(esc[e]);
			}
		}
		PUT('.');
	}
	if (o == 0)
		PUT('.');
#undef PUT
	out[o] = '\0';
}

const char *dnsmsg_type_str(uint16_t type, char *buf, size_t cap)
{
	static const struct {
		uint16_t t;
		const char *s;
	} names[] = {
	        {1, "A"},       {2, "NS"},     {5, "CNAME"},  {6, "SOA"},
	        {12, "PTR"},    {15, "MX"},    {16, "TXT"},   {28, "AAAA"},
	        {33, "SRV"},    {35, "NAPTR"}, {43, "DS"},    {46, "RRSIG"},
	        {48, "DNSKEY"}, {64, "SVCB"},  {65, "HTTPS"}, {255, "ANY"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == type)
			return names[i].s;
	snprintf(buf, cap, "TYPE%u", type);
	return buf;
}

const char *dnsmsg_rcode_str(int rcode, char *buf, size_t cap)
{
	static const char *const names[] = {"NOERROR",  "FORMERR", "SERVFAIL",
	                                    "NXDOMAIN", "NOTIMP",  "REFUSED"};

	if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, cap, "RCODE%d", rcode);
	return buf;
}

int dnsmsg_parse_hostport(const char *s, size_t len, struct sockaddr_storage *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *p, *e = s + len;
	unsigned long port = 0;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return -1;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (!rb || rb + 1 >= e || rb[1] != ':')
			return -1;
		hl = (size_t)(rb - s - 1);
		if (hl == 0 || hl >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		colon = rb + 1;
	} else {
		colon = NULL;
		for (p = s; p < e; p++)
			if (*p == ':')
				colon = p;
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
		if (hl == 0 || hl >= sizeof(host))
			return -1;
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	if (colon + 1 >= e || e - (colon + 1) > 5)
		return -1;
	for (p = colon + 1; p < e; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port < 1 || port > 65535)
		return -1;
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -1;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)out;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -1;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
	}
	return 0;
}

int dnsmsg_parse_upstreams(const char *list, struct sockaddr_storage *out, size_t max, char *bad,
                           size_t badlen)
{
	const char *p = list ? list : "";
	size_t n = 0;

	for (;;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		if (n == max) {
			snprintf(bad, badlen, "(more than %zu entries)", max);
			return -1;
		}
		if (dnsmsg_parse_hostport(p, l, &out[n]) != 0) {
			snprintf(bad, badlen, "%.*s", (int)(l > 200 ? 200 : l), p);
			return -1;
		}
		n++;
		if (!c)
			return (int)n;
		p = c + 1;
	}
}
