/* SPDX-License-Identifier: MIT */
/* tunplug — private: a UDP flow relayed through a connected socket of its
 * own, shared by the direct and redirect handlers.
 *
 * The first datagram of a flow opens a protect()ed UDP socket connected to
 * the given address, so the kernel filters replies to that address
 * (symmetric NAT semantics) and reports ICMP errors for it, which become
 * ICMP errors toward the client (host->flow_unreachable). Replies reach the
 * client from the flow's original destination (host->udp_send). A datagram
 * the socket cannot take right now is queued once (copied), up to
 * TP_UDPCONN_QUEUE_MAX bytes per flow; beyond that it is dropped, as a
 * congested UDP path would.
 *
 * The socket lives in the flow's data slot; the handler's flow_close must
 * call tp_udpconn_flow_close() for UDP flows.
 *
 * What the flows of one handler instance share (its host and one receive
 * buffer) is a struct tp_udpconn_inst in the instance's state: two
 * instances share nothing. */
#ifndef TUNPLUG_HANDLERS_UDPCONN_H
#define TUNPLUG_HANDLERS_UDPCONN_H

#include <stddef.h>
#include <sys/socket.h>

#include "tunplug/handler.h"

#define TP_UDPCONN_QUEUE_MAX (256u * 1024u)
#define TP_UDPCONN_RXBUF 65536u /* any datagram fits */

/* The UDP part of one handler instance. */
struct tp_udpconn_inst {
	const struct tp_host *host; /* borrowed: the instance's */
	char *rxbuf;                /* TP_UDPCONN_RXBUF bytes, owned */
};

/* From the handler's init: set ui up for host (borrowed; it must outlive
 * ui). Returns 0 or -ENOMEM. Undo with tp_udpconn_inst_fini. */
int tp_udpconn_inst_init(struct tp_udpconn_inst *ui, const struct tp_host *host);
/* From the handler's fini (every flow closed): free what ui owns. */
void tp_udpconn_inst_fini(struct tp_udpconn_inst *ui);

/* From the handler's udp_datagram: send buf[0..len) to `to` (the same
 * address for every datagram of f), opening the socket on the first one
 * (a failure is logged at debug level, prefixed with who). Returns what
 * udp_datagram returns: TP_OK (a datagram that cannot be sent is lost, the
 * flow goes on) or -errno (-ECONNREFUSED once an earlier datagram drew a
 * port unreachable). */
int tp_udpconn_datagram(struct tp_udpconn_inst *ui, struct tp_flow *f, const struct sockaddr *to,
                        const char *who, const void *buf, size_t len);

/* From the handler's flow_close for a UDP flow: close its socket (pending
 * sends are cancelled). */
void tp_udpconn_flow_close(struct tp_udpconn_inst *ui, struct tp_flow *f);

#endif
