/* SPDX-License-Identifier: MIT */
/* tunplug — the echo handler: every byte the client sends comes back.
 *
 * It is the reference for do-it-yourself I/O: it takes what the client's
 * send buffer can hold, leaves the rest queued in the stack (which keeps the
 * client's window closed), and resumes when the host says there is room. */
#include <errno.h>
#include <stdlib.h>

#include "builtin.h"

/* One instance; also the ud of its flows' I/O callbacks. */
struct echo {
	const struct tp_host *host;
};

static size_t echo_on_data(struct tp_flow *f, void *ud, const void *buf, size_t len)
{
	const struct echo *e = ud;
	long n;

	if (len == 0) {
		/* The client finished sending; everything has been echoed. */
		e->host->flow_shutdown(f);
		return 0;
	}
	n = e->host->flow_write(f, buf, len);
	if (n < 0) {
		e->host->flow_close(f, true);
		return len;
	}
	/* Fewer than len: the host pauses delivery until on_writable. */
	return (size_t)n;
}

static void echo_on_writable(struct tp_flow *f, void *ud)
{
	const struct echo *e = ud;

	e->host->flow_resume(f);
}

static const struct tp_flow_io echo_io = {
        .on_data = echo_on_data,
        .on_writable = echo_on_writable,
};

static int echo_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	struct echo *e = calloc(1, sizeof(*e));

	(void)args;
	if (!e)
		return -ENOMEM;
	e->host = host;
	*state = e;
	return 0;
}

static int echo_tcp_accept(void *state, struct tp_flow *f)
{
	struct echo *e = state;

	e->host->flow_read_start(f, &echo_io, e);
	return TP_OK;
}

/* UDP: every datagram goes straight back, from the address it was sent to. */
static int echo_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	struct echo *e = state;

	e->host->udp_send(f, buf, len);
	return TP_OK;
}

static void echo_flow_close(void *state, struct tp_flow *f, int err)
{
	/* No per-flow state to free. */
	(void)state;
	(void)f;
	(void)err;
}

static void echo_fini(void *state)
{
	free(state);
}

const struct tp_handler tp__handler_echo = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = "echo",
        .init = echo_init,
        .tcp_accept = echo_tcp_accept,
        .flow_close = echo_flow_close,
        .fini = echo_fini,
        .udp_datagram = echo_udp_datagram,
};
