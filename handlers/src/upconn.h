/* SPDX-License-Identifier: MIT */
/* tunplug — private: a held upstream TCP connect, shared by the direct,
 * redirect, http and socks5 handlers.
 *
 * tp_upconn_start() connects a protected socket to an address while the
 * client's SYN is held (TP_PENDING). Optionally a protocol phase follows
 * (struct tp_upconn_proto): the handler sends its messages and gets each
 * answer read byte-exactly (never a byte of what follows, which belongs to
 * the tunnel) until it says the exchange is over. On success the flow is
 * accepted (flow_decide 0) and spliced to the socket; on failure it is
 * refused with an -errno that says what went wrong (the connect's own
 * error: -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH, -EACCES..., so the
 * client hears a RST, the matching ICMP, or prohibited; handler.h). The
 * whole thing is bounded by host->connect_timeout_ms (-ETIMEDOUT: the held
 * SYN is dropped silently and the client's next retransmission starts
 * over).
 *
 * By name (req->name, for a flow to a fake-IP address): the name is looked
 * up first, asynchronously (uv_getaddrinfo on libuv's thread pool, both
 * families, no AI_ADDRCONFIG), and the connect goes to the first address
 * of the family of req->to, else of the other, with req->to's port. The
 * lookup counts toward connect_timeout_ms. A failed lookup (or one with no
 * address) refuses the flow with -EHOSTUNREACH (the client hears ICMP host
 * unreachable) and adds 1 to the counter "<counter>.names_unresolved"
 * (host->counter_add; "<counter>.names_resolved" counts the others). A
 * flow closed while its lookup runs cancels it (uv_cancel; a lookup
 * already running finishes on a connection nobody links to any more).
 *
 * The connection uses the flow's data slot until it is decided; the
 * handler's flow_close must call tp_upconn_flow_close() for TCP flows.
 *
 * Keep mode (proto->on_end set, e.g. a SOCKS5 UDP association's control
 * connection): the flow is not a held TCP flow and its data slot is the
 * handler's. Nothing is decided or spliced: a failure calls on_end(-errno);
 * once on_answer said TP_UPCONN_DONE the timer stops and the connection
 * stays open, whatever it receives is dropped, and its end calls on_end
 * (with what on_error returned for TP_UPCONN_RECV, else 0). The handler
 * drops it with tp_upconn_cancel(). */
#ifndef TUNPLUG_HANDLERS_UPCONN_H
#define TUNPLUG_HANDLERS_UPCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "tunplug/handler.h"

struct tp_upconn;

/* What on_answer returns besides -errno. */
#define TP_UPCONN_MORE 0 /* read the next answer (after sending what it answers) */
#define TP_UPCONN_DONE 1 /* the exchange is over: splice (keep mode: keep) */

/* Failures tp_upconn sees itself, for on_error. */
enum tp_upconn_event {
	TP_UPCONN_CONNECT, /* the connect (or setting it up) failed: status */
	TP_UPCONN_SEND,    /* a message could not be sent: status */
	TP_UPCONN_RECV,    /* the connection ended (UV_EOF) or failed: status */
	TP_UPCONN_TIMEOUT, /* not decided within connect_timeout_ms: status 0 */
};

/* A protocol phase between the connect and the decision. Every callback
 * gets the connection and the request's ud; a -errno refuses the flow (log
 * why first). None is called once the flow was decided or closed. */
struct tp_upconn_proto {
	/* The answer buffer's size (> 0). Keep mode: once established, what
	 * the connection sends is read into it and dropped. */
	size_t answer_max;
	/* Connected: send the first message (tp_upconn_send). 0 or -errno.
	 * May be NULL. */
	int (*on_connect)(struct tp_upconn *c, void *ud);
	/* How many more bytes the answer buf[0..len) may still take: 0 once it
	 * is complete. Reads are never larger (nor larger than answer_max). */
	size_t (*want)(struct tp_upconn *c, void *ud, const char *buf, size_t len);
	/* A complete answer, or answer_max bytes of an incomplete one. Return
	 * TP_UPCONN_MORE (the buffer starts over), TP_UPCONN_DONE or -errno. */
	int (*on_answer)(struct tp_upconn *c, void *ud, const char *buf, size_t len);
	/* Optional: log a failure and return the -errno to refuse the flow
	 * with (keep mode, established and TP_UPCONN_RECV: what on_end gets).
	 * NULL: tp_upconn logs it (prefixed with who) and maps status. */
	int (*on_error)(struct tp_upconn *c, void *ud, enum tp_upconn_event ev, int status);
	/* Optional: keep mode (see above). */
	void (*on_end)(struct tp_upconn *c, void *ud, int err);
	/* Optional: the connection ended (end of stream) before the answer
	 * was complete; buf[0..len) is what came of it (len may be 0). Return
	 * -errno to refuse the flow with, or 0 to treat it as on_error (or the
	 * default) treats TP_UPCONN_RECV with UV_EOF. For answers that end
	 * where the connection does (an HTTP body without a length). */
	int (*on_eof)(struct tp_upconn *c, void *ud, const char *buf, size_t len);
};

struct tp_upconn_req {
	const char *who;           /* log prefix; must outlive the connection */
	const struct sockaddr *to; /* where to connect (copied) */
	/* true: `to` is a proxy, so a failed connect says nothing about the
	 * client's destination: the flow is refused with -ECONNREFUSED and a
	 * warning is logged. false: the connect error is passed on as is. */
	bool to_is_proxy;
	const struct tp_upconn_proto *proto; /* NULL: splice right after the connect */
	void *ud;
	/* The connection's own data (tp_upconn_data), copied from data. */
	const void *data;
	size_t data_size;
	/* Optional: connect to an address of this name (copied; see above)
	 * instead of `to`, which then gives the port and the preferred
	 * family. counter prefixes the lookup's counters (static storage). */
	const char *name;
	const char *counter;
};

/* Returns TP_PENDING (*out, if not NULL, gets the connection), or -errno
 * when nothing could be started. */
int tp_upconn_start(const struct tp_host *host, struct tp_flow *f, const struct tp_upconn_req *r,
                    struct tp_upconn **out);

/* The flow, or NULL once it was decided or closed. */
struct tp_flow *tp_upconn_flow(const struct tp_upconn *c);
/* The connection's data (data_size bytes, aligned for any type). */
void *tp_upconn_data(struct tp_upconn *c);
/* From on_connect / on_answer: send buf[0..len) (copied). 0, or a libuv
 * error (a failure later goes to on_error as TP_UPCONN_SEND). */
int tp_upconn_send(struct tp_upconn *c, const void *buf, size_t len);

/* Keep mode: drop the connection (no callback follows). */
void tp_upconn_cancel(struct tp_upconn *c);
/* From the handler's flow_close for a TCP flow: drop whatever is still
 * pending for f (nothing once it was spliced). */
void tp_upconn_flow_close(const struct tp_host *host, struct tp_flow *f);

/* Resolve host ("1.2.3.4", "fd00::1", or a name) and port into *out, at
 * start-up (may block). Returns 0 or -errno; *why gets a reason. */
int tp_upconn_resolve(const char *host, unsigned port, struct sockaddr_storage *out,
                      const char **why);

#endif
