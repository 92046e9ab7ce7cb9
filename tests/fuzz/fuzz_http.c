/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the HTTP CONNECT answer parsing of the http handler
 * (handlers/src/httpmsg.c). The input is what a proxy sends back: the head
 * is read as the handler reads it (tp_http_head_want, byte budget by byte
 * budget), parsed, and the body up to TP_HTTP_BODY_MAX is sized with
 * tp_http_body_want and mapped to an errno. Invariants: nothing is read
 * outside the input (ASan); head_want never asks past the head's end (at
 * most 4); a parsed head has a status in 100..999 and a printable reason;
 * body_want never asks past max; the errno mapping is 0 only for 2xx and
 * otherwise one of the documented -errno values. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_errno(int e, int status)
{
	if (status >= 200 && status <= 299) {
		if (e != 0)
			abort();
		return;
	}
	if (e != -ECONNRESET && e != -EACCES && e != -ECONNREFUSED && e != -EHOSTUNREACH &&
	    e != -ENETUNREACH && e != -ETIMEDOUT)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct tp_http_resp r;
	size_t head = 0, body, want;
	int e;

	/* read the head as the handler does: never more than head_want */
	for (;;) {
		want = tp_http_head_want(in, head);
		if (want > 4)
			abort();
		if (want == 0 || head == size)
			break;
		head += want <= size - head ? want : size - head;
	}
	if (want != 0)
		return 0; /* the head never ended */
	if (tp_http_parse_head(in, head, &r) != 0)
		return 0;
	if (r.status < 100 || r.status > 999 || r.reason[sizeof(r.reason) - 1] != '\0')
		abort();
	for (const char *c = r.reason; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			abort();
	body = 0;
	for (;;) {
		want = tp_http_body_want(&r, in + head, body, TP_HTTP_BODY_MAX);
		if (want > TP_HTTP_BODY_MAX - body)
			abort();
		if (want == 0 || head + body == size)
			break;
		body += want <= size - head - body ? want : size - head - body;
	}
	e = tp_http_answer_errno(r.status, in + head, body);
	check_errno(e, r.status);
	e = tp_http_body_errno(in + head, body);
	if (e != 0 && e != -ECONNREFUSED && e != -EHOSTUNREACH && e != -ENETUNREACH &&
	    e != -ETIMEDOUT && e != -EACCES)
		abort();
	return 0;
}
