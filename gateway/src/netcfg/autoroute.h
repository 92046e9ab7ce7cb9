/* SPDX-License-Identifier: MIT */
/* tunplug — --auto-route: capture everything on this host (the wg-quick
 * pattern, done with netlink only).
 *
 * Per address family, table T (--route-table) gets "default dev TUN" and
 * these rules, in priority order (TP_NL_PRIO_LO + n, all FRA_PROTOCOL
 * TP_NL_PROTO):
 *   +0  to CIDR lookup main                       one per --exclude
 *   +1  uidrange A-B lookup main                  --exclude-uid, and the
 *                                                  complement of --include-uid
 *   +2  lookup main suppress_prefixlength 0       specific routes (LAN) win
 *   +3  not fwmark M lookup T                     everything else, except the
 *                                                  gateway's own marked sockets
 * Marked traffic is never sent to T: it falls through to the main table's
 * default route. */
#ifndef TUNPLUG_GW_AUTOROUTE_H
#define TUNPLUG_GW_AUTOROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "options/options.h"
#include "tunplug/netlink.h"

#define TP_AR_PRIO_EXCLUDE (TP_NL_PRIO_LO + 0)
#define TP_AR_PRIO_UID (TP_NL_PRIO_LO + 1)
#define TP_AR_PRIO_SUPPRESS (TP_NL_PRIO_LO + 2)
#define TP_AR_PRIO_CAPTURE (TP_NL_PRIO_LO + 3)
/* rules per family at most: excludes, uid ranges (+ complement), 2 */
#define TP_AR_MAX_RULES (TP_OPT_MAX_EXCLUDES + 3 * TP_OPT_MAX_UIDS + 3)

/* The uids no --include-uid range covers, within 0..TP_UID_MAX, as sorted
 * disjoint ranges into out (cap >= n + 1). Returns how many. Pure. */
size_t tp_ar_uid_complement(const struct tp_uid_range *in, size_t n, struct tp_uid_range *out,
                            size_t cap);

/* The rules for family (AF_INET/AF_INET6) in the order they are added
 * (the capture rule last). Returns how many, or 0 if cap is too small.
 * Pure. */
size_t tp_ar_plan(const struct tp_options *o, int family, struct tp_nl_rule *out, size_t cap);

/* Remove stale rules/routes of ours, add the routes and rules (recorded in
 * nl's journal, so tp_nl_undo removes them). Logs; on error prints a
 * message and returns -errno. */
int tp_autoroute_setup(struct tp_nl *nl, int ifindex, const struct tp_options *o);

#endif
