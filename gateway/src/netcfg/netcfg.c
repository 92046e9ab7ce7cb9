/* SPDX-License-Identifier: MIT */
/* tunplug — network configuration policy (see netcfg.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netcfg/autoroute.h"
#include "log.h"
#include "netcfg/netcfg.h"
#include "shell/privdrop.h"
#include "registry/registry.h"

/* The tun's transmit queue is where the kernel keeps packets routed into
 * the device until we read() them; one ring per queue, 500 packets by
 * default. A burst from many flows at once (one small segment each) must
 * fit: hence a default derived from --max-flows. The old value is
 * journalled and restored by the undo. */
static int set_txqueuelen(struct tp_nl *nl, int ifindex, const struct tp_options *o)
{
	unsigned qlen = tp_options_txqueuelen(o);
	uint32_t old = 0;
	int ret = tp_nl_link_set_txqlen(nl, ifindex, qlen, &old);

	if (!ret)
		tp_log(TP_LOG_DEBUG, "tun txqueuelen %u (was %u)%s", qlen, old,
		       o->txqueuelen ? "" : ", from --max-flows");
	return ret;
}

int tp_netcfg_setup(struct tp_nl **nl, int ifindex, const struct tp_options *o)
{
	int ret;

	ret = tp_nl_open(nl);
	if (ret) {
		fprintf(stderr, "tunplug: netlink: open: %s\n", strerror(-ret));
		*nl = NULL;
		return ret;
	}
	ret = tp_nl_link_up(*nl, ifindex, o->mtu);
	if (!ret)
		ret = set_txqueuelen(*nl, ifindex, o);
	for (size_t i = 0; !ret && i < o->n_addrs; i++)
		ret = tp_nl_addr_add(*nl, ifindex, &o->addrs[i]);
	for (size_t i = 0; !ret && i < o->n_routes; i++)
		ret = tp_nl_route_add(*nl, ifindex, &o->routes[i], 0);
	if (ret)
		fprintf(stderr, "tunplug: netlink: %s: %s\n", tp_nl_last_op(*nl), strerror(-ret));
	/* rules and routes go into the same journal: undone together */
	else if (o->auto_route)
		ret = tp_autoroute_setup(*nl, ifindex, o);
	return ret;
}

void tp_netcfg_init(struct tp_netcfg *n, const struct tp_options *o, struct tp_flow_counters *st)
{
	memset(n, 0, sizeof(*n));
	n->opt = o;
	n->st = st;
}

void tp_netcfg_set_protect(struct tp_netcfg *n, int (*fn)(int fd, int family, void *ud), void *ud)
{
	n->embed_protect = fn;
	n->embed_ud = ud;
}

int tp_netcfg_open(struct tp_netcfg *n, int ifindex)
{
	return tp_netcfg_setup(&n->nl, ifindex, n->opt);
}

/* nl is borrowed (NULL: our own socket, closed before returning). */
int tp_netcfg_read_link(struct tp_nl *nl, int ifindex, struct tp_nl_link *out)
{
	struct tp_nl *own = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	if (ifindex <= 0)
		return -ENODEV;
	/* no journal of ours (an adopted fd): a socket just for the read
	 * (RTM_GETLINK changes nothing and needs no privilege) */
	if (!nl) {
		ret = tp_nl_open(&own);
		if (ret)
			return ret;
		nl = own;
	}
	ret = tp_nl_link_get(nl, ifindex, out);
	tp_nl_close(own);
	return ret;
}

int tp_netcfg_tun_link(struct tp_netcfg *n, int ifindex, struct tp_nl_link *out)
{
	return tp_netcfg_read_link(n->nl, ifindex, out);
}

int tp_netcfg_drop_privileges(struct tp_netcfg *n)
{
	const struct tp_options *o = n->opt;
	int ret;

	if (!o->user)
		return 0;
	/* SO_MARK needs CAP_NET_ADMIN, SO_BINDTODEVICE CAP_NET_RAW; the
	 * addresses and routes on our own tun go away with the device. */
	n->keep_admin = o->fwmark_set;
	ret = tp_privdrop(o->user, n->keep_admin, o->bind_interface != NULL);
	if (ret)
		return ret;
	n->dropped = true;
	tp_log(TP_LOG_INFO, "running as %s (uid %u)%s%s", o->user, (unsigned)getuid(),
	       n->keep_admin ? ", keeping CAP_NET_ADMIN" : "",
	       o->bind_interface ? ", keeping CAP_NET_RAW" : "");
	return 0;
}

bool tp_netcfg_undo_needs_tun_closed(const struct tp_netcfg *n)
{
	return n->nl && n->dropped && !n->keep_admin;
}

int tp_netcfg_undo(struct tp_netcfg *n)
{
	int ret = 0;

	if (!n->nl)
		return 0;
	if (tp_netcfg_undo_needs_tun_closed(n)) {
		/* no CAP_NET_ADMIN left: the caller closed our (non-persistent)
		 * tun, which removed the device and, with it, its addresses and
		 * routes */
		tp_nl_close(n->nl);
		n->nl = NULL;
		return 0;
	}
	ret = tp_nl_undo(n->nl);
	if (ret)
		fprintf(stderr, "tunplug: netlink: undo %s: %s\n", tp_nl_last_op(n->nl),
		        strerror(-ret));
	tp_nl_close(n->nl);
	n->nl = NULL;
	return ret;
}

int tp_netcfg_protect(struct tp_netcfg *n, int fd, int family)
{
	const struct tp_options *o = n->opt;
	const char *what = NULL;
	int ret = 0;

	n->st->protect_calls++;
	if (o->fwmark_set) {
		int mark = (int)o->fwmark;

		if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
			ret = -errno;
			what = "SO_MARK";
			goto out;
		}
	}
	if (o->bind_interface) {
		if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o->bind_interface,
		               (socklen_t)strlen(o->bind_interface)) < 0) {
			ret = -errno;
			what = "SO_BINDTODEVICE";
			goto out;
		}
	}
	if (n->embed_protect) {
		ret = n->embed_protect(fd, family, n->embed_ud);
		if (ret > 0)
			ret = -ret;
		if (ret)
			what = "the embedding program's protect()";
	}
out:
	if (ret) {
		/* Logged once: it fails the same way for every flow. */
		if (n->st->protect_errors++ == 0)
			tp_log(TP_LOG_ERROR, "protect: %s: %s", what, strerror(-ret));
	}
	return ret;
}

int tp_netcfg_host_protect(const struct tp_host *host, int fd, int family)
{
	return tp_netcfg_protect(tp_hinst_owner(host), fd, family);
}
