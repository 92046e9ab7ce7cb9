/* SPDX-License-Identifier: MIT */
/* tunplug — private: a UDP flow relayed through a connected socket of its
 * own, shared by the direct and redirect handlers.
 *
 * The first datagram of a flow opens a protect()ed UDP socket connected to
 * the given address, so the kernel filters replies to that address
 * (symmetric NAT semantics) and reports ICMP errors for it, which become
 * ICMP errors toward the client (host->flow_unreachable). Replies reach the
 * client from the flow's original destination (host->udp_send).
 *
 * Batching (fewer syscalls per datagram, the handler ABI unchanged):
 *   - Upstream: a datagram is copied into the instance's batch and sent at
 *     the end of the loop iteration (a uv_check handle; a uv_prepare one
 *     catches datagrams queued after the check ran), all of one flow in
 *     order with one sendmmsg. A run of equal-sized datagrams of one flow
 *     (a UDP super-packet read from the tun, or a bulk sender's burst) goes
 *     as one message with UDP_SEGMENT when a datagram fits the path MTU:
 *     the kernel then carries it as one packet as far as it can. A flow's
 *     datagrams keep their order; a send error hits only the datagram it
 *     belongs to (EMSGSIZE, ...: lost, the rest go on), except
 *     ECONNREFUSED (an earlier datagram drew a port unreachable: the client
 *     gets ICMP port unreachable, the flow is closed and the rest of its
 *     batch dropped) and EAGAIN/ENOBUFS (the rest waits, copied, for the
 *     socket to become writable, up to TP_UDPCONN_QUEUE_MAX bytes per flow;
 *     beyond that datagrams are dropped, as a congested UDP path would). A
 *     UDP_SEGMENT send the kernel refuses is retried as single datagrams
 *     and the flow sends no more of them.
 *   - Downstream: recvmmsg, up to TP_UDPCONN_RX_VLEN datagrams a call into
 *     the instance's receive slots; a readable socket is read until a call
 *     returns fewer (drained) or RX_CALLS calls were made (fairness).
 *
 * Socket buffers are sized per flow, by what the flow shows it needs: every
 * socket starts with the kernel's defaults (net.core.rmem_default /
 * wmem_default: plenty for request/response and DNS, which never queue
 * more than a few datagrams). The receive buffer grows a step when the
 * kernel reports drops for it (SO_RXQ_OVFL) or a recvmmsg comes back full
 * (a backlog of TP_UDPCONN_RX_VLEN datagrams or more: a bulk flow); the
 * send buffer grows a step when a send returns EAGAIN. Steps: 1 MiB, then
 * TP_UDPCONN_BUF_MAX (asked for with SO_RCVBUFFORCE/SO_SNDBUFFORCE where
 * allowed, else capped by rmem_max/wmem_max; the kernel doubles the value
 * for its overhead). Everything the flows of one instance grew stays
 * within TP_UDPCONN_BUF_BUDGET, so thousands of flows cannot each pin
 * megabytes of kernel memory; a flow's growth is returned when it closes.
 *
 * The instance keeps counters (host->counter_add, "NAME.udp_*"): send
 * syscalls, datagrams sent, UDP_SEGMENT sends and their datagrams, datagrams
 * lost to send errors, datagrams that waited for a full socket, recvmmsg
 * calls, datagrams received, the kernel's receive-buffer drops, buffer
 * growth steps.
 *
 * By name (a flow to a fake-IP address): the first datagram starts a
 * lookup of the name (uv_getaddrinfo, both families, no AI_ADDRCONFIG);
 * datagrams wait for it in the flow's backlog (TP_UDPCONN_QUEUE_MAX), then
 * the socket is connected to the first address of the family of `to`, else
 * of the other, with `to`'s port, and they go out. A lookup that fails
 * tells the client ICMP host unreachable and closes the flow. Counters
 * "NAME.udp_names_resolved" and "NAME.udp_names_unresolved". A flow closed
 * during its lookup cancels it.
 *
 * The socket lives in the flow's data slot; the handler's flow_close must
 * call tp_udpconn_flow_close() for UDP flows.
 *
 * What the flows of one handler instance share (its host, the batch, the
 * receive slots) is a struct tp_udpconn_inst in the instance's state: two
 * instances share nothing. */
#ifndef TUNPLUG_HANDLERS_UDPCONN_H
#define TUNPLUG_HANDLERS_UDPCONN_H

#include <stddef.h>
#include <sys/socket.h>

#include "tunplug/handler.h"

#define TP_UDPCONN_QUEUE_MAX (256u * 1024u) /* bytes waiting for a full socket, per flow */
#define TP_UDPCONN_RX_VLEN 32               /* datagrams per recvmmsg */
#define TP_UDPCONN_BUF_MAX (4u << 20)       /* largest SO_RCVBUF/SO_SNDBUF asked for */
#define TP_UDPCONN_BUF_BUDGET (32u << 20)   /* growth of all flows of an instance */

struct udpconn_shared;

/* The UDP part of one handler instance. */
struct tp_udpconn_inst {
	const struct tp_host *host; /* borrowed: the instance's */
	const char *name;           /* borrowed (static): counter prefix, "direct" */
	struct udpconn_shared *sh;  /* owned; made with the first flow */
};

/* From the handler's init: set ui up for host (borrowed; it must outlive
 * ui); name (static storage) prefixes the counters. Returns 0. Undo with
 * tp_udpconn_inst_fini. */
int tp_udpconn_inst_init(struct tp_udpconn_inst *ui, const struct tp_host *host, const char *name);
/* From the handler's fini (every flow closed): hand over the last counts
 * and release what ui owns (its loop handles close on the host's loop,
 * which runs after fini). */
void tp_udpconn_inst_fini(struct tp_udpconn_inst *ui);

/* From the handler's udp_datagram: send buf[0..len) (borrowed; copied) to
 * `to` (the same address for every datagram of f) at the end of this loop
 * iteration, opening the socket on the first one (a failure is logged at
 * debug level, prefixed with who). With name (borrowed; copied on the first
 * datagram; NULL: none), the first datagram looks it up and every datagram
 * goes to its address instead, with to's port (see above). Returns what
 * udp_datagram returns: TP_OK (a datagram that cannot be sent is lost, the
 * flow goes on) or -errno (the socket could not be opened). */
int tp_udpconn_datagram(struct tp_udpconn_inst *ui, struct tp_flow *f, const struct sockaddr *to,
                        const char *name, const char *who, const void *buf, size_t len);

/* From the handler's flow_close for a UDP flow: close its socket (datagrams
 * not sent yet are dropped). */
void tp_udpconn_flow_close(struct tp_udpconn_inst *ui, struct tp_flow *f);

#endif
