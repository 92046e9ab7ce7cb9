/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the socks5 handler's message parsing
 * (handlers/src/socks5msg.c). The input is what a SOCKS5 proxy sends back,
 * read as the handler reads it: the method choice (2 bytes), the RFC 1929
 * status (2 bytes), then the CONNECT / UDP ASSOCIATE reply in the pieces
 * s5_reply_size asks for; the whole input is also unwrapped as a relayed
 * UDP datagram and parsed as a handler spec (socks5://...). Invariants:
 * nothing is read outside the input (ASan); reply_size never asks past
 * S5_REPLY_MAX nor shrinks below what was read; a parsed reply's size is
 * the size asked for, its domain is NUL-terminated, and a domain the
 * handler could send back (tp_name_valid) survives s5_build_request_name
 * and s5_parse_reply unchanged, with its port; an unwrapped datagram's
 * payload starts inside it; a parsed spec has a host and a non-zero port. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "socks5msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(const uint8_t *in, size_t size)
{
	struct s5_reply r, back;
	uint8_t req[S5_REQUEST_MAX];
	size_t have = 0;
	int want = 0, n;

	/* read as the handler does: never more than reply_size asks for */
	for (;;) {
		want = s5_reply_size(in, have);
		if (want < 0)
			return; /* bad VER or ATYP: the handler refuses the flow */
		if (want > S5_REPLY_MAX || (have >= S5_REPLY_MIN && (size_t)want < have))
			abort();
		if ((size_t)want == have || have == size)
			break;
		have = (size_t)want <= size ? (size_t)want : size;
	}
	n = s5_parse_reply(in, have, &r);
	if ((size_t)want != have) {
		if (n != -EAGAIN && n != S5_REPLY_MIN)
			abort(); /* short input: incomplete */
		return;
	}
	if (n != want)
		abort();
	if (memchr(r.domain, '\0', sizeof(r.domain)) == NULL)
		abort();
	(void)s5_rep_errno(r.rep);
	if (!s5_rep_str(r.rep))
		abort();
	if (r.atyp != S5_ATYP_DOMAIN || !tp_name_valid(r.domain))
		return;
	/* a request has the reply's layout: the name and port come back */
	n = s5_build_request_name(req, S5_CMD_CONNECT, r.domain, r.port);
	if (n <= 0 || (size_t)n > sizeof(req) || s5_parse_reply(req, (size_t)n, &back) != n ||
	    back.atyp != S5_ATYP_DOMAIN || back.port != r.port || strcmp(back.domain, r.domain))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage from;
	struct tp_target t;
	char spec[600], err[256];
	size_t off = (size_t)-1;
	int ret;

	if (size >= 2)
		(void)s5_parse_method(data);
	if (size >= 4)
		(void)s5_parse_auth_reply(data + 2);
	check_reply(size >= 4 ? data + 4 : data, size >= 4 ? size - 4 : size);
	check_reply(data, size);

	ret = s5_udp_unwrap(data, size, &from, &off);
	if (ret == 0 || ret == 1) {
		if (off > size || off < 4 + 1)
			abort();
		if ((ret == 1) != (from.ss_family == AF_UNSPEC))
			abort();
	} else if (ret != -EPROTO && ret != -EOPNOTSUPP) {
		abort();
	}

	memcpy(spec, data, size < sizeof(spec) ? size : sizeof(spec) - 1);
	spec[size < sizeof(spec) ? size : sizeof(spec) - 1] = '\0';
	if (s5_spec_parse(spec, &t, err, sizeof(err)) == 0) {
		if (!t.host[0] || t.port == 0 || !memchr(t.host, '\0', sizeof(t.host)))
			abort();
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort();
	}
	return 0;
}
