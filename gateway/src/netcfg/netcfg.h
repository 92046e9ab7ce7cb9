/* SPDX-License-Identifier: MIT */
/* tunplug — network configuration policy: the tun's link, addresses and
 * routes and --auto-route's policy rules (all through one netlink journal
 * that is undone at exit), and protect(): keeping the gateway's own
 * outbound sockets out of the tun (SO_MARK, SO_BINDTODEVICE, the embedding
 * program's callback). */
#ifndef TUNPLUG_GW_NETCFG_H
#define TUNPLUG_GW_NETCFG_H

#include <stdbool.h>

#include "options/options.h"
#include "stats/stats.h"
#include "tunplug/handler.h"
#include "tunplug/netlink.h"

struct tp_netcfg {
	const struct tp_options *opt; /* borrowed */
	struct tp_flow_counters *st;  /* borrowed: protect counters */
	struct tp_nl *nl;             /* NULL: nothing configured (adopted fd) */
	bool dropped, keep_admin;     /* --user took effect; CAP_NET_ADMIN kept */
	/* the embedding program's protect (NULL: none) */
	int (*embed_protect)(int fd, int family, void *ud);
	void *embed_ud;
};

/* The netlink set-up of a tun tunplug opened (link up + mtu, txqueuelen,
 * addresses, routes, --auto-route), journalled in *nl for tp_nl_undo. On failure
 * (after a message) *nl holds what was done so far, or NULL. Also the
 * --queues master's. */
int tp_netcfg_setup(struct tp_nl **nl, int ifindex, const struct tp_options *o);

/* Start n (the caller's): o and st borrowed for n's life. */
void tp_netcfg_init(struct tp_netcfg *n, const struct tp_options *o, struct tp_flow_counters *st);

/* The embedding program's protect (fn may be NULL; ud borrowed): every
 * outbound socket goes through it after SO_MARK / SO_BINDTODEVICE. */
void tp_netcfg_set_protect(struct tp_netcfg *n, int (*fn)(int fd, int family, void *ud), void *ud);

/* Configure our own tun (not for an adopted fd). Returns 0 or -errno after
 * a message; what was done is undone by tp_netcfg_undo either way. */
int tp_netcfg_open(struct tp_netcfg *n, int ifindex);

/* The tun's link as the kernel sees it now (txqueuelen, tx_dropped: what
 * the tun's queue dropped because we did not read fast enough), for the
 * summary. Read through n's netlink socket, or a short-lived one for an
 * adopted fd (reading changes nothing). *out is the caller's, zeroed on
 * failure. Returns 0 or -errno (no message). */
int tp_netcfg_tun_link(struct tp_netcfg *n, int ifindex, struct tp_nl_link *out);
/* The same through nl (borrowed; NULL: a short-lived socket): the --queues
 * master's, which has a journal but no struct tp_netcfg. */
int tp_netcfg_read_link(struct tp_nl *nl, int ifindex, struct tp_nl_link *out);

/* --user: drop privileges, keeping CAP_NET_ADMIN when --fwmark needs it
 * and CAP_NET_RAW for --bind-interface. Returns 0 or -errno. */
int tp_netcfg_drop_privileges(struct tp_netcfg *n);

/* True when the undo must happen by closing the tun first: privileges are
 * gone, and the device's addresses and routes go away with it. */
bool tp_netcfg_undo_needs_tun_closed(const struct tp_netcfg *n);

/* Undo the journal (routes, rules, addresses), close netlink. Returns 0 or
 * the first -errno after a message. */
int tp_netcfg_undo(struct tp_netcfg *n);

/* protect() for an outbound socket: 0 or -errno (logged once). */
int tp_netcfg_protect(struct tp_netcfg *n, int fd, int family);

/* The host service: host's owner (tp_hinst_owner) is the struct tp_netcfg. */
int tp_netcfg_host_protect(const struct tp_host *host, int fd, int family);

#endif
