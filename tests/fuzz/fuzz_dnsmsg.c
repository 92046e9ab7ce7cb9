/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the dns handler's message parsing
 * (handlers/src/dnsmsg.c). The input is taken as a client's query and as an
 * upstream's answer; its first name is read with dnsmsg_read_name, and the
 * input is also parsed as an upstream list ("ADDR:PORT,[ADDR6]:PORT").
 * Invariants: nothing is read outside the input (ASan); compression loops
 * and forward pointers end (the run has a time limit); a read name is at
 * most DNSMSG_NAME_MAX bytes and ends with the root label; a parsed query's
 * first question ends inside the input; the SERVFAIL built for it matches
 * it as an answer (dnsmsg_match_answer) and says SERVFAIL; a FORMERR is a
 * bare header; the printed forms are terminated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dnsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ups[4];
	struct dnsmsg_query q;
	uint8_t name[DNSMSG_NAME_MAX], out[600];
	char txt[4 * DNSMSG_NAME_MAX + 8], bad[64], list[300];
	size_t off = DNSMSG_HDR_LEN, n;
	int r;

	n = dnsmsg_read_name(data, size, &off, name);
	if (n > DNSMSG_NAME_MAX || (n && (name[n - 1] != 0 || off > size)))
		abort();
	if (n) {
		dnsmsg_name_str(name, n, txt, sizeof(txt));
		if (!memchr(txt, '\0', sizeof(txt)))
			abort();
	}

	r = dnsmsg_parse_query(data, size, &q);
	if (r == DNSMSG_OK) {
		if (q.q_end > size || q.qname_len == 0 || q.qname_len > DNSMSG_NAME_MAX)
			abort();
		dnsmsg_name_str(q.qname, q.qname_len, txt, sizeof(txt));
		(void)dnsmsg_type_str(q.qtype, txt, sizeof(txt));
		n = dnsmsg_build_servfail(&q, out, sizeof(out));
		if (n < DNSMSG_HDR_LEN || n > sizeof(out))
			abort();
		if (!dnsmsg_match_answer(&q, out, n) ||
		    dnsmsg_rcode(out, n) != DNSMSG_RCODE_SERVFAIL)
			abort();
		(void)dnsmsg_match_answer(&q, data, size); /* the input as its answer */
	} else if (r == DNSMSG_FORMERR) {
		if (dnsmsg_build_formerr(data, size, out, sizeof(out)) != DNSMSG_HDR_LEN)
			abort();
	} else if (r != DNSMSG_DROP) {
		abort();
	}
	if (size >= DNSMSG_HDR_LEN) {
		(void)dnsmsg_truncated(data, size);
		(void)dnsmsg_rcode_str(dnsmsg_rcode(data, size), txt, sizeof(txt));
	} else if (dnsmsg_rcode(data, size) != -1) {
		abort();
	}

	n = size < sizeof(list) - 1 ? size : sizeof(list) - 1;
	memcpy(list, data, n);
	list[n] = '\0';
	r = dnsmsg_parse_upstreams(list, ups, 4, bad, sizeof(bad));
	if (r == 0 || r > 4 || (r < 0 && !memchr(bad, '\0', sizeof(bad))))
		abort();
	for (int i = 0; i < r; i++)
		if (ups[i].ss_family != AF_INET && ups[i].ss_family != AF_INET6)
			abort();
	return 0;
}
