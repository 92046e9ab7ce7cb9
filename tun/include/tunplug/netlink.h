/* tunplug — rtnetlink through libmnl: addresses, link, routes, with undo.
 *
 * tp_nl records everything it added; tp_nl_undo() removes exactly that, in
 * reverse order. Errors are -errno from the kernel's ACK; tp_nl_strerror()
 * describes the last failed operation ("add route 198.19.0.0/16 dev tp0"). */
#ifndef TUNPLUG_NETLINK_H
#define TUNPLUG_NETLINK_H

#include <stddef.h>
#include <stdint.h>

#include "tunplug/addr.h"

struct tp_nl;

int tp_nl_open(struct tp_nl **out); /* caller owns *out */
void tp_nl_close(struct tp_nl *nl); /* does not undo */
/* Set MTU (0 = leave) and bring the link up. */
int tp_nl_link_up(struct tp_nl *nl, int ifindex, unsigned mtu);
/* Add an address (IPv6: nodad). Recorded for undo. */
int tp_nl_addr_add(struct tp_nl *nl, int ifindex, const struct tp_cidr *addr);
/* Add a device route (scope link, proto static) in `table` (0 = main). Recorded. */
int tp_nl_route_add(struct tp_nl *nl, int ifindex, const struct tp_cidr *dst, uint32_t table);
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
/* Parse a kernel reply (pure, fuzzed): returns 0 for ACK, -errno for an
 * error message, -EBADMSG for malformed input. */
int tp_nl_parse_ack(const void *buf, size_t len, uint32_t seq);

#endif
