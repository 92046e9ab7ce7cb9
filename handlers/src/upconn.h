/* SPDX-License-Identifier: MIT */
/* tunplug — private: a held upstream TCP connect, shared by the redirect
 * and http handlers.
 *
 * tp_upconn_start() connects a protected socket to an address while the
 * client's SYN is held (TP_PENDING). Optionally it then sends a request and
 * reads the answer's head byte-exactly up to "\r\n\r\n" (never a byte of
 * what follows, which belongs to the tunnel) and asks a callback what it
 * means. On success the flow is accepted (flow_decide 0) and spliced to the
 * socket; on failure it is refused with an -errno (the client gets a RST).
 * The whole thing is bounded by host->connect_timeout_ms (-ETIMEDOUT).
 *
 * The connection uses the flow's data slot until it is decided; the
 * handler's flow_close must call tp_upconn_flow_close() for TCP flows. */
#ifndef TUNPLUG_HANDLERS_UPCONN_H
#define TUNPLUG_HANDLERS_UPCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "tunplug/handler.h"

/* The largest head tp_upconn reads. */
#define TP_UPCONN_HEAD_MAX 8192

struct tp_upconn_req {
	const char *who;           /* log prefix; must outlive the connection */
	const struct sockaddr *to; /* where to connect (copied) */
	/* true: `to` is a proxy, so a failed connect says nothing about the
	 * client's destination: the flow is refused with -ECONNREFUSED and a
	 * warning is logged. false: the connect error is passed on as is. */
	bool to_is_proxy;
	const char *send; /* sent after the connect (copied); NULL: nothing */
	size_t send_len;
	/* NULL: splice right after the connect. Else the answer's head
	 * (buf[0..len), ending with "\r\n\r\n", len <= TP_UPCONN_HEAD_MAX) is
	 * passed here; return 0 to splice, or -errno to refuse the flow. */
	int (*on_head)(void *ud, const char *buf, size_t len);
	void *ud;
};

/* Returns TP_PENDING, or -errno when nothing could be started. */
int tp_upconn_start(const struct tp_host *host, struct tp_flow *f, const struct tp_upconn_req *r);

/* From the handler's flow_close for a TCP flow: drop whatever is still
 * pending for f (nothing once it was spliced). */
void tp_upconn_flow_close(const struct tp_host *host, struct tp_flow *f);

/* Resolve host ("1.2.3.4", "fd00::1", or a name) and port into *out, at
 * start-up (may block). Returns 0 or -errno; *why gets a reason. */
int tp_upconn_resolve(const char *host, unsigned port, struct sockaddr_storage *out,
                      const char **why);

#endif
