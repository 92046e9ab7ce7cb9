/* tunplug — rtnetlink through libmnl: link, addresses, routes, with undo.
 *
 * Builders are pure (they only fill a caller buffer) so they are
 * unit-tested; tp_nl_parse_ack is pure and fuzzed. The stateful part keeps a
 * journal of what it added so tp_nl_undo can remove exactly that. */
#include <errno.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "tunplug/netlink.h"

/* Requests are < 200 bytes; replies to them (ACK/error) < 1 KiB. */
#define NL_BUF 8192

enum nl_kind { NL_ADDR, NL_ROUTE };

struct nl_entry {
	enum nl_kind kind;
	int ifindex;
	struct tp_cidr cidr;
	uint32_t table;
};

struct tp_nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	struct nl_entry *log; /* undo journal, oldest first */
	size_t nlog, caplog;
	char op[160];      /* the operation in progress */
	char last_op[160]; /* the operation that failed last */
	_Alignas(struct nlmsghdr) char buf[NL_BUF];
	_Alignas(struct nlmsghdr) char rbuf[NL_BUF];
};

static size_t alen(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Builders: buf is the caller's (4-byte aligned, cap bytes), addr/dst are
 * borrowed; nothing is kept. */
int tp_nl_build_addr(void *buf, size_t cap, uint16_t type, uint32_t seq, int ifindex,
                     const struct tp_cidr *addr)
{
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;

	if (!buf || cap < 512 || !addr || ifindex <= 0 ||
	    (addr->family != AF_INET && addr->family != AF_INET6) ||
	    addr->prefix > (addr->family == AF_INET ? 32 : 128) ||
	    (type != RTM_NEWADDR && type != RTM_DELADDR))
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	if (type == RTM_NEWADDR)
		nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_REPLACE;
	nlh->nlmsg_seq = seq;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)addr->family;
	ifa->ifa_prefixlen = addr->prefix;
	ifa->ifa_flags = IFA_F_PERMANENT | (addr->family == AF_INET6 ? IFA_F_NODAD : 0);
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	if (addr->family == AF_INET)
		mnl_attr_put(nlh, IFA_LOCAL, 4, addr->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, alen(addr->family), addr->addr);
	return (int)nlh->nlmsg_len;
}

int tp_nl_build_route(void *buf, size_t cap, uint16_t type, uint32_t seq, int ifindex,
                      const struct tp_cidr *dst, uint32_t table)
{
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	uint8_t net[16] = {0};

	if (!buf || cap < 512 || !dst || ifindex <= 0 ||
	    (dst->family != AF_INET && dst->family != AF_INET6) ||
	    dst->prefix > (dst->family == AF_INET ? 32 : 128) ||
	    (type != RTM_NEWROUTE && type != RTM_DELROUTE))
		return -EINVAL;
	/* the route's destination is the network: clear host bits */
	for (unsigned i = 0, bits = dst->prefix; i < alen(dst->family); i++) {
		unsigned take = bits >= 8 ? 8 : bits;
		net[i] = take ? (uint8_t)(dst->addr[i] & (0xff << (8 - take))) : 0;
		bits -= take;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	if (type == RTM_NEWROUTE)
		nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
	nlh->nlmsg_seq = seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)dst->family;
	rtm->rtm_dst_len = dst->prefix;
	rtm->rtm_table = RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	if (dst->prefix)
		mnl_attr_put(nlh, RTA_DST, alen(dst->family), net);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	mnl_attr_put_u32(nlh, RTA_TABLE, table ? table : RT_TABLE_MAIN);
	return (int)nlh->nlmsg_len;
}

int tp_nl_build_link(void *buf, size_t cap, uint32_t seq, int ifindex, unsigned mtu, int up)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	if (!buf || cap < 512 || ifindex <= 0 || mtu > 65535)
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return (int)nlh->nlmsg_len;
}

/* NL_NOT_YET: no reply for seq in this datagram (read another one). */
#define NL_NOT_YET 1

/*
 * Walk every message of one datagram with the mnl helpers, which check
 * nlmsg_len against what is left of the buffer. Returns 0 (ACK or DONE),
 * a -errno from the kernel, -EBADMSG for a malformed message, or NL_NOT_YET.
 */
/* mnl_nlmsg_ok() compares (int)nlmsg_len, so a length >= 2^31 turns
 * negative and passes; compare unsigned as well. */
static bool msg_ok(const struct nlmsghdr *nlh, int n)
{
	return mnl_nlmsg_ok(nlh, n) && nlh->nlmsg_len <= (uint32_t)n;
}

static int parse_reply(const void *buf, size_t len, uint32_t seq)
{
	const struct nlmsghdr *nlh = buf;
	int n = (int)(len > 0x7fffffff ? 0x7fffffff : len);

	if (!buf || !msg_ok(nlh, n))
		return -EBADMSG;
	for (; msg_ok(nlh, n); nlh = mnl_nlmsg_next(nlh, &n)) {
		const struct nlmsgerr *e;

		if (nlh->nlmsg_seq != seq)
			continue; /* a stale reply to an earlier request */
		if (nlh->nlmsg_type == NLMSG_DONE)
			return 0;
		if (nlh->nlmsg_type != NLMSG_ERROR)
			continue;
		/* with NETLINK_CAP_ACK the echoed request is cut to its
		 * header, so nlmsgerr itself is all there must be */
		if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
			return -EBADMSG;
		e = mnl_nlmsg_get_payload(nlh);
		if (e->error > 0 || e->error < -4095)
			return -EBADMSG;
		return e->error; /* 0 = ACK */
	}
	/* trailing bytes that are not a message */
	if (n > 0)
		return -EBADMSG;
	return NL_NOT_YET;
}

/* buf is borrowed and only read; any alignment of the content is checked by
 * length only, so buf must be 4-byte aligned (as recv buffers are). */
int tp_nl_parse_ack(const void *buf, size_t len, uint32_t seq)
{
	int r = parse_reply(buf, len, seq);

	return r == NL_NOT_YET ? -EBADMSG : r;
}

/* ---- the stateful part ---- */

/* *out is new and owned by the caller (tp_nl_close). */
int tp_nl_open(struct tp_nl **out)
{
	struct tp_nl *nl = calloc(1, sizeof(*nl));
	struct timeval tv = {.tv_sec = 5};
	int err;

	*out = NULL;
	if (!nl)
		return -ENOMEM;
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock) {
		err = -errno;
		goto fail;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto fail;
	}
	/* the kernel always answers NLM_F_ACK; the timeout only keeps a lost
	 * reply from hanging start-up or shutdown */
	if (setsockopt(mnl_socket_get_fd(nl->sock), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		err = -errno;
		goto fail;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	*out = nl;
	return 0;
fail:
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl);
	return err;
}

/* Frees nl (NULL is fine); what was added stays unless tp_nl_undo ran. */
void tp_nl_close(struct tp_nl *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl->log);
	free(nl);
}

/* The returned string is owned by nl and changes with the next failure. */
const char *tp_nl_last_op(const struct tp_nl *nl)
{
	return nl && nl->last_op[0] ? nl->last_op : "netlink";
}

/* Send the request in nl->buf (length len) and wait for its ACK. On failure
 * the operation described in nl->op becomes last_op. */
static int nl_talk(struct tp_nl *nl, int len)
{
	const struct nlmsghdr *req = (const void *)nl->buf;
	uint32_t seq = req->nlmsg_seq;
	int err;

	if (len < 0) {
		err = len;
		goto out;
	}
	if (mnl_socket_sendto(nl->sock, nl->buf, (size_t)len) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->rbuf, sizeof(nl->rbuf));
		if (n < 0) {
			err = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		err = parse_reply(nl->rbuf, (size_t)n, seq);
		if (err != NL_NOT_YET)
			break;
	}
out:
	if (err)
		memcpy(nl->last_op, nl->op, sizeof(nl->last_op));
	return err;
}

/* "tp0" for the message; the number when the device is gone. */
static const char *dev_name(int ifindex, char *buf)
{
	if (!if_indextoname((unsigned)ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "#%d", ifindex);
	return buf;
}

static void set_op(struct tp_nl *nl, const char *verb, const struct tp_cidr *c, int ifindex,
                   uint32_t table, bool route)
{
	char cb[64], dn[IF_NAMESIZE];

	tp_cidr_format(c, cb, sizeof(cb));
	dev_name(ifindex, dn);
	if (!route)
		snprintf(nl->op, sizeof(nl->op), "%s address %s dev %s", verb, cb, dn);
	else if (table == 0 || table == RT_TABLE_MAIN)
		snprintf(nl->op, sizeof(nl->op), "%s route %s dev %s table main", verb, cb, dn);
	else
		snprintf(nl->op, sizeof(nl->op), "%s route %s dev %s table %u", verb, cb, dn,
		         table);
}

/* Make room for one more journal entry before touching the kernel, so a
 * successful add is never left unrecorded. */
static int journal_reserve(struct tp_nl *nl)
{
	size_t ncap;
	struct nl_entry *n;

	if (nl->nlog < nl->caplog)
		return 0;
	ncap = nl->caplog ? nl->caplog * 2 : 8;
	n = realloc(nl->log, ncap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	nl->log = n;
	nl->caplog = ncap;
	return 0;
}

/* nl is borrowed; nothing is recorded (links are not undone). */
int tp_nl_link_up(struct tp_nl *nl, int ifindex, unsigned mtu)
{
	char dn[IF_NAMESIZE];
	snprintf(nl->op, sizeof(nl->op), "set link dev %s up mtu %u", dev_name(ifindex, dn), mtu);
	return nl_talk(nl, tp_nl_build_link(nl->buf, sizeof(nl->buf), ++nl->seq, ifindex, mtu, 1));
}

/* addr is borrowed (copied into the journal). */
int tp_nl_addr_add(struct tp_nl *nl, int ifindex, const struct tp_cidr *addr)
{
	int err;

	set_op(nl, "add", addr, ifindex, 0, false);
	err = journal_reserve(nl);
	if (err) {
		memcpy(nl->last_op, nl->op, sizeof(nl->last_op));
		return err;
	}
	err = nl_talk(nl, tp_nl_build_addr(nl->buf, sizeof(nl->buf), RTM_NEWADDR, ++nl->seq,
	                                   ifindex, addr));
	if (err)
		return err;
	nl->log[nl->nlog++] = (struct nl_entry){NL_ADDR, ifindex, *addr, 0};
	return 0;
}

/* dst is borrowed (copied into the journal). */
int tp_nl_route_add(struct tp_nl *nl, int ifindex, const struct tp_cidr *dst, uint32_t table)
{
	int err;

	set_op(nl, "add", dst, ifindex, table, true);
	err = journal_reserve(nl);
	if (err) {
		memcpy(nl->last_op, nl->op, sizeof(nl->last_op));
		return err;
	}
	err = nl_talk(nl, tp_nl_build_route(nl->buf, sizeof(nl->buf), RTM_NEWROUTE, ++nl->seq,
	                                    ifindex, dst, table));
	if (err)
		return err;
	nl->log[nl->nlog++] = (struct nl_entry){NL_ROUTE, ifindex, *dst, table};
	return 0;
}

/* Empties the journal whatever happens; a second call does nothing. */
int tp_nl_undo(struct tp_nl *nl)
{
	int first = 0;

	if (!nl)
		return 0;
	while (nl->nlog) {
		const struct nl_entry *e = &nl->log[--nl->nlog];
		int len, err;

		if (e->kind == NL_ROUTE) {
			set_op(nl, "delete", &e->cidr, e->ifindex, e->table, true);
			len = tp_nl_build_route(nl->buf, sizeof(nl->buf), RTM_DELROUTE, ++nl->seq,
			                        e->ifindex, &e->cidr, e->table);
		} else {
			set_op(nl, "delete", &e->cidr, e->ifindex, 0, false);
			len = tp_nl_build_addr(nl->buf, sizeof(nl->buf), RTM_DELADDR, ++nl->seq,
			                       e->ifindex, &e->cidr);
		}
		err = nl_talk(nl, len);
		/* already gone: the device was removed, or the route went
		 * with its address */
		if (err == -ENODEV || err == -ESRCH || err == -EADDRNOTAVAIL || err == -ENOENT)
			err = 0;
		if (err && !first)
			first = err;
	}
	return first;
}
