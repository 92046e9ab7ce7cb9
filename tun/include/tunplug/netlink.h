/* SPDX-License-Identifier: MIT */
/* tunplug — rtnetlink through libmnl: addresses, link, routes, with undo.
 *
 * tp_nl records everything it added; tp_nl_undo() removes exactly that, in
 * reverse order. Errors are -errno from the kernel's ACK; tp_nl_last_op()
 * describes the last failed operation ("add route 198.19.0.0/16 dev tp0
 * table main"). */
#ifndef TUNPLUG_NETLINK_H
#define TUNPLUG_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunplug/addr.h"

struct tp_nl;

int tp_nl_open(struct tp_nl **out); /* caller owns *out */
void tp_nl_close(struct tp_nl *nl); /* does not undo */
/* Set MTU (0 = leave) and bring the link up. */
int tp_nl_link_up(struct tp_nl *nl, int ifindex, unsigned mtu);
/* What RTM_GETLINK tells about one link (tp_nl_link_get). */
struct tp_nl_link {
	int ifindex;
	uint32_t mtu;    /* IFLA_MTU, 0 if absent */
	uint32_t txqlen; /* IFLA_TXQLEN, 0 if absent */
	bool has_txqlen;
	/* IFLA_STATS64 (or the 32-bit IFLA_STATS of an old kernel); all 0
	 * when has_stats is false */
	bool has_stats;
	uint64_t rx_packets, tx_packets, rx_dropped, tx_dropped;
};
/* Read one link's state and counters (RTM_GETLINK by index). Not recorded.
 * *out is the caller's. Returns 0, -ENODEV for no such link, or -errno. */
int tp_nl_link_get(struct tp_nl *nl, int ifindex, struct tp_nl_link *out);
/* Set the link's transmit queue length (IFLA_TXQLEN; on a tun it is the
 * size of each queue's ring of packets waiting for read()). The value
 * before is read first (into *old unless NULL) and recorded: tp_nl_undo
 * puts it back, which matters for a persistent device that outlives us; a
 * device that is already gone counts as done. Setting the value it already
 * has sends and records nothing. */
int tp_nl_link_set_txqlen(struct tp_nl *nl, int ifindex, uint32_t qlen, uint32_t *old);
/* Add an address (IPv6: nodad). Recorded for undo. */
int tp_nl_addr_add(struct tp_nl *nl, int ifindex, const struct tp_cidr *addr);
/* Add a device route (scope link, proto static) in `table` (0 = main). Recorded. */
int tp_nl_route_add(struct tp_nl *nl, int ifindex, const struct tp_cidr *dst, uint32_t table);
/* The same with an explicit rtm_protocol (e.g. TP_NL_PROTO, so a later run
 * can find it again); tp_nl_route_add uses RTPROT_STATIC. Recorded. */
int tp_nl_route_add_proto(struct tp_nl *nl, int ifindex, const struct tp_cidr *dst, uint32_t table,
                          uint8_t proto);

/* ---- policy rules (--auto-route) ----
 * What tunplug adds is tagged: FRA_PROTOCOL / rtm_protocol TP_NL_PROTO
 * (FRA_PROTOCOL exists since Linux 4.17; older kernels ignore it, so rules
 * are also kept inside the priority window TP_NL_PRIO_LO..TP_NL_PRIO_HI). */
#define TP_NL_PROTO 0x74 /* 't': not in iproute2's rt_protos list */
#define TP_NL_PRIO_LO 29800u
#define TP_NL_PRIO_HI 29899u

/* One fib rule: "[not] [to DST] [fwmark M/MASK] [uidrange A-B] lookup TABLE
 * [suppress_prefixlength N] pref PRIORITY proto PROTOCOL". Action is always
 * "lookup" (FR_ACT_TO_TBL). */
struct tp_nl_rule {
	uint8_t family;   /* AF_INET or AF_INET6 */
	uint8_t protocol; /* FRA_PROTOCOL, 0 = not sent / not in the dump */
	bool invert;      /* FIB_RULE_INVERT: "not" */
	bool has_fwmark;
	bool has_uid;
	bool has_dst;           /* dst.prefix may be 0 only without it */
	int suppress_prefixlen; /* -1 = none */
	uint32_t priority;
	uint32_t table;
	uint32_t fwmark, fwmask; /* fwmask 0 is sent as 0xffffffff */
	uint32_t uid_lo, uid_hi;
	struct tp_cidr dst; /* network, host bits cleared by the builder */
};

/* Add a rule (NLM_F_CREATE|NLM_F_EXCL). Recorded for undo. r is borrowed. */
int tp_nl_rule_add(struct tp_nl *nl, const struct tp_nl_rule *r);
/* Delete what an earlier run left: every rule (both families) with
 * FRA_PROTOCOL == proto, or without FRA_PROTOCOL (kernel < 4.17) and a
 * priority in prio_lo..prio_hi; every route (any table) with rtm_protocol
 * == proto. Counts go to *rules / *routes (either may be NULL). Not
 * recorded. Returns 0 or the first -errno (an address family the kernel
 * lacks is skipped). */
int tp_nl_purge(struct tp_nl *nl, uint8_t proto, uint32_t prio_lo, uint32_t prio_hi,
                unsigned *rules, unsigned *routes);
/* "rule 'not fwmark 0x7470 lookup 29808' (IPv4)" for messages. */
void tp_nl_rule_format(const struct tp_nl_rule *r, char *buf, size_t len);

/* Remove what was added, newest first. Returns 0 or the first -errno seen
 * (it continues past errors, ENODEV/ESRCH/EADDRNOTAVAIL count as done). */
int tp_nl_undo(struct tp_nl *nl);
/* The operation that failed last, for error messages. */
const char *tp_nl_last_op(const struct tp_nl *nl);

/* Pure message builders (unit-tested): write one request into buf (cap >=
 * 512 bytes) and return its length, or -EINVAL. */
int tp_nl_build_addr(void *buf, size_t cap, uint16_t type, uint32_t seq, int ifindex,
                     const struct tp_cidr *addr);
int tp_nl_build_route(void *buf, size_t cap, uint16_t type, uint32_t seq, int ifindex,
                      const struct tp_cidr *dst, uint32_t table);
int tp_nl_build_link(void *buf, size_t cap, uint32_t seq, int ifindex, unsigned mtu, int up);
/* RTM_NEWLINK with IFLA_TXQLEN qlen only (flags and MTU untouched). */
int tp_nl_build_txqlen(void *buf, size_t cap, uint32_t seq, int ifindex, uint32_t qlen);
/* RTM_GETLINK of one link by index (the reply is one RTM_NEWLINK). */
int tp_nl_build_getlink(void *buf, size_t cap, uint32_t seq, int ifindex);
/* Parse one RTM_NEWLINK message (pure, fuzzed): 0 and *out filled,
 * -ENOENT for another message type, -EBADMSG if malformed (an attribute
 * that does not fit, a short IFLA_MTU/IFLA_TXQLEN, IFLA_STATS64 shorter
 * than the counters read; a longer one, from a newer kernel, is fine). */
int tp_nl_parse_link(const void *msg, size_t len, struct tp_nl_link *out);
/* type RTM_NEWRULE (NLM_F_CREATE|NLM_F_EXCL) or RTM_DELRULE. */
int tp_nl_build_rule(void *buf, size_t cap, uint16_t type, uint32_t seq,
                     const struct tp_nl_rule *r);
/* tp_nl_build_route with rtm_protocol proto. */
int tp_nl_build_route_proto(void *buf, size_t cap, uint16_t type, uint32_t seq, int ifindex,
                            const struct tp_cidr *dst, uint32_t table, uint8_t proto);
/* A dump request (NLM_F_DUMP) for RTM_GETRULE or RTM_GETROUTE of family. */
int tp_nl_build_dump(void *buf, size_t cap, uint16_t type, uint32_t seq, uint8_t family);
/* Parse one RTM_NEWRULE message of a dump (pure, fuzzed): 0 and *out
 * filled, -ENOENT for another message type or action, -EBADMSG if
 * malformed. tp_nl_build_rule's output parses back to the same rule. */
int tp_nl_parse_rule(const void *msg, size_t len, struct tp_nl_rule *out);
/* One RTM_NEWROUTE message of a dump (pure, fuzzed): 0 with the
 * destination, table, protocol and RTA_OIF (0 if none); -ENOENT, -EBADMSG. */
int tp_nl_parse_route(const void *msg, size_t len, struct tp_cidr *dst, uint32_t *table,
                      uint8_t *proto, int *oif);
/* Parse a kernel reply (pure, fuzzed): returns 0 for ACK, -errno for an
 * error message, -EBADMSG for malformed input. */
int tp_nl_parse_ack(const void *buf, size_t len, uint32_t seq);

#endif
