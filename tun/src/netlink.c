/* SPDX-License-Identifier: MIT */
/* tunplug — rtnetlink through libmnl: link, addresses, routes, with undo.
 *
 * Builders are pure (they only fill a caller buffer) so they are
 * unit-tested; tp_nl_parse_ack is pure and fuzzed. The stateful part keeps a
 * journal of what it added so tp_nl_undo can remove exactly that. */
#include <errno.h>
#include <stddef.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/fib_rules.h>
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

enum nl_kind { NL_ADDR, NL_ROUTE, NL_RULE, NL_TXQLEN };

struct nl_entry {
	enum nl_kind kind;
	int ifindex;
	struct tp_cidr cidr;
	uint32_t table;
	uint32_t txqlen;        /* NL_TXQLEN: the value to put back */
	uint8_t proto;          /* NL_ROUTE: rtm_protocol */
	struct tp_nl_rule rule; /* NL_RULE */
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

/* The network of c (host bits cleared) into net[16]. */
static void cidr_net(const struct tp_cidr *c, uint8_t *net)
{
	memset(net, 0, 16);
	for (unsigned i = 0, bits = c->prefix; i < alen(c->family); i++) {
		unsigned take = bits >= 8 ? 8 : bits;
		net[i] = take ? (uint8_t)(c->addr[i] & (0xff << (8 - take))) : 0;
		bits -= take;
	}
}

/* ifindex 0 (no RTA_OIF) and scope RT_SCOPE_NOWHERE ("any", what `ip route
 * del` sends) only for deleting what a dump showed. */
static int build_route(void *buf, size_t cap, uint16_t type, uint32_t seq, int ifindex,
                       const struct tp_cidr *dst, uint32_t table, uint8_t proto, uint8_t scope)
{
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	uint8_t net[16];

	if (!buf || cap < 512 || !dst || ifindex < 0 ||
	    (dst->family != AF_INET && dst->family != AF_INET6) ||
	    dst->prefix > (dst->family == AF_INET ? 32 : 128) ||
	    (type != RTM_NEWROUTE && type != RTM_DELROUTE))
		return -EINVAL;
	/* the route's destination is the network: clear host bits */
	cidr_net(dst, net);
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
	rtm->rtm_protocol = proto;
	rtm->rtm_scope = scope;
	rtm->rtm_type = RTN_UNICAST;
	if (dst->prefix)
		mnl_attr_put(nlh, RTA_DST, alen(dst->family), net);
	if (ifindex)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	mnl_attr_put_u32(nlh, RTA_TABLE, table ? table : RT_TABLE_MAIN);
	return (int)nlh->nlmsg_len;
}

int tp_nl_build_route_proto(void *buf, size_t cap, uint16_t type, uint32_t seq, int ifindex,
                            const struct tp_cidr *dst, uint32_t table, uint8_t proto)
{
	if (ifindex <= 0)
		return -EINVAL;
	return build_route(buf, cap, type, seq, ifindex, dst, table, proto, RT_SCOPE_LINK);
}

int tp_nl_build_route(void *buf, size_t cap, uint16_t type, uint32_t seq, int ifindex,
                      const struct tp_cidr *dst, uint32_t table)
{
	return tp_nl_build_route_proto(buf, cap, type, seq, ifindex, dst, table, RTPROT_STATIC);
}

/* r is borrowed. */
int tp_nl_build_rule(void *buf, size_t cap, uint16_t type, uint32_t seq, const struct tp_nl_rule *r)
{
	struct nlmsghdr *nlh;
	struct fib_rule_hdr *frh;
	unsigned maxp;

	if (!buf || cap < 512 || !r || (r->family != AF_INET && r->family != AF_INET6) ||
	    (type != RTM_NEWRULE && type != RTM_DELRULE) || r->table == 0)
		return -EINVAL;
	maxp = r->family == AF_INET ? 32 : 128;
	if (r->has_dst && (r->dst.family != r->family || r->dst.prefix > maxp))
		return -EINVAL;
	if (r->has_uid && r->uid_lo > r->uid_hi)
		return -EINVAL;
	if (r->suppress_prefixlen < -1 || r->suppress_prefixlen > (int)maxp)
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	if (type == RTM_NEWRULE)
		nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
	nlh->nlmsg_seq = seq;
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = r->family;
	frh->table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	frh->action = FR_ACT_TO_TBL;
	frh->flags = r->invert ? FIB_RULE_INVERT : 0;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, r->priority);
	mnl_attr_put_u32(nlh, FRA_TABLE, r->table);
	if (r->has_dst && r->dst.prefix) {
		uint8_t net[16];

		cidr_net(&r->dst, net);
		frh->dst_len = r->dst.prefix;
		mnl_attr_put(nlh, FRA_DST, alen(r->family), net);
	}
	if (r->has_fwmark) {
		mnl_attr_put_u32(nlh, FRA_FWMARK, r->fwmark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, r->fwmask ? r->fwmask : 0xffffffffu);
	}
	if (r->suppress_prefixlen >= 0)
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, (uint32_t)r->suppress_prefixlen);
	if (r->has_uid) {
		struct fib_rule_uid_range ur = {.start = r->uid_lo, .end = r->uid_hi};
		mnl_attr_put(nlh, FRA_UID_RANGE, sizeof(ur), &ur);
	}
	if (r->protocol)
		mnl_attr_put_u8(nlh, FRA_PROTOCOL, r->protocol);
	return (int)nlh->nlmsg_len;
}

int tp_nl_build_dump(void *buf, size_t cap, uint16_t type, uint32_t seq, uint8_t family)
{
	struct nlmsghdr *nlh;

	if (!buf || cap < 512 || (type != RTM_GETRULE && type != RTM_GETROUTE) ||
	    (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	if (type == RTM_GETRULE) {
		struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
		frh->family = family;
	} else {
		struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
		rtm->rtm_family = family;
	}
	return (int)nlh->nlmsg_len;
}

/* One whole message at msg (len bytes, 4-byte aligned) of type t1 or t2
 * with a fixed header of hdr bytes: the header, or NULL (*err set). */
static const struct nlmsghdr *one_msg(const void *msg, size_t len, uint16_t t1, uint16_t t2,
                                      size_t hdr, int *err)
{
	const struct nlmsghdr *nlh = msg;

	*err = -EBADMSG;
	if (!msg || len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
		return NULL;
	if (nlh->nlmsg_type != t1 && nlh->nlmsg_type != t2) {
		*err = -ENOENT;
		return NULL;
	}
	if (mnl_nlmsg_get_payload_len(nlh) < hdr)
		return NULL;
	return nlh;
}

/* Attributes after the fixed header, bounds-checked; tb[type] = the last
 * one of each type < max. Returns 0 or -EBADMSG (an attribute that does not
 * fit, or trailing bytes). */
static int collect_attrs(const struct nlmsghdr *nlh, size_t hdr, const struct nlattr **tb,
                         unsigned max)
{
	const char *p = (const char *)mnl_nlmsg_get_payload(nlh) + MNL_ALIGN(hdr);
	const char *end = (const char *)nlh + nlh->nlmsg_len;

	memset(tb, 0, max * sizeof(const struct nlattr *));
	if (MNL_ALIGN(hdr) >= mnl_nlmsg_get_payload_len(nlh))
		return 0; /* the fixed header (and its padding) only */
	while (p < end) {
		const struct nlattr *a = (const void *)p;
		uint16_t t;

		if ((size_t)(end - p) < sizeof(*a) || a->nla_len < sizeof(*a) ||
		    a->nla_len > (size_t)(end - p))
			return -EBADMSG;
		t = a->nla_type & NLA_TYPE_MASK;
		if (t < max)
			tb[t] = a;
		if ((size_t)(end - p) <= (size_t)MNL_ALIGN(a->nla_len))
			break;
		p += MNL_ALIGN(a->nla_len);
	}
	return 0;
}

static bool attr_len(const struct nlattr *a, size_t n)
{
	return !a || mnl_attr_get_payload_len(a) == n;
}

int tp_nl_parse_rule(const void *msg, size_t len, struct tp_nl_rule *out)
{
	const struct nlattr *tb[FRA_MAX + 1];
	const struct fib_rule_hdr *frh;
	const struct nlmsghdr *nlh;
	unsigned maxp;
	int err;

	if (!out)
		return -EINVAL;
	nlh = one_msg(msg, len, RTM_NEWRULE, RTM_DELRULE, sizeof(*frh), &err);
	if (!nlh)
		return err;
	frh = mnl_nlmsg_get_payload(nlh);
	if (frh->family != AF_INET && frh->family != AF_INET6)
		return -ENOENT; /* ipmr, decnet, ... */
	if (frh->action != FR_ACT_TO_TBL)
		return -ENOENT;
	if (collect_attrs(nlh, sizeof(*frh), tb, FRA_MAX + 1))
		return -EBADMSG;
	maxp = frh->family == AF_INET ? 32 : 128;
	if (frh->dst_len > maxp || !attr_len(tb[FRA_PRIORITY], 4) || !attr_len(tb[FRA_TABLE], 4) ||
	    !attr_len(tb[FRA_FWMARK], 4) || !attr_len(tb[FRA_FWMASK], 4) ||
	    !attr_len(tb[FRA_SUPPRESS_PREFIXLEN], 4) ||
	    !attr_len(tb[FRA_UID_RANGE], sizeof(struct fib_rule_uid_range)) ||
	    !attr_len(tb[FRA_PROTOCOL], 1) ||
	    (frh->dst_len && (!tb[FRA_DST] || !attr_len(tb[FRA_DST], alen(frh->family)))))
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->family = frh->family;
	out->invert = (frh->flags & FIB_RULE_INVERT) != 0;
	out->priority = tb[FRA_PRIORITY] ? mnl_attr_get_u32(tb[FRA_PRIORITY]) : 0;
	out->table = tb[FRA_TABLE] ? mnl_attr_get_u32(tb[FRA_TABLE]) : frh->table;
	out->protocol = tb[FRA_PROTOCOL] ? mnl_attr_get_u8(tb[FRA_PROTOCOL]) : 0;
	out->suppress_prefixlen = -1;
	if (tb[FRA_SUPPRESS_PREFIXLEN]) {
		uint32_t v = mnl_attr_get_u32(tb[FRA_SUPPRESS_PREFIXLEN]);
		if (v != 0xffffffffu && v > maxp)
			return -EBADMSG;
		out->suppress_prefixlen = v == 0xffffffffu ? -1 : (int)v;
	}
	if (tb[FRA_FWMARK] || tb[FRA_FWMASK]) {
		out->has_fwmark = true;
		out->fwmark = tb[FRA_FWMARK] ? mnl_attr_get_u32(tb[FRA_FWMARK]) : 0;
		out->fwmask = tb[FRA_FWMASK] ? mnl_attr_get_u32(tb[FRA_FWMASK]) : 0xffffffffu;
	}
	if (tb[FRA_UID_RANGE]) {
		struct fib_rule_uid_range ur;
		memcpy(&ur, mnl_attr_get_payload(tb[FRA_UID_RANGE]), sizeof(ur));
		out->has_uid = true;
		out->uid_lo = ur.start;
		out->uid_hi = ur.end;
	}
	if (frh->dst_len) {
		out->has_dst = true;
		out->dst.family = frh->family;
		out->dst.prefix = frh->dst_len;
		memcpy(out->dst.addr, mnl_attr_get_payload(tb[FRA_DST]), alen(frh->family));
	}
	return 0;
}

int tp_nl_parse_route(const void *msg, size_t len, struct tp_cidr *dst, uint32_t *table,
                      uint8_t *proto, int *oif)
{
	const struct nlattr *tb[RTA_MAX + 1];
	const struct rtmsg *rtm;
	const struct nlmsghdr *nlh;
	int err;

	if (!dst || !table || !proto || !oif)
		return -EINVAL;
	nlh = one_msg(msg, len, RTM_NEWROUTE, RTM_DELROUTE, sizeof(*rtm), &err);
	if (!nlh)
		return err;
	rtm = mnl_nlmsg_get_payload(nlh);
	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return -ENOENT;
	if (collect_attrs(nlh, sizeof(*rtm), tb, RTA_MAX + 1))
		return -EBADMSG;
	if (rtm->rtm_dst_len > (rtm->rtm_family == AF_INET ? 32 : 128) ||
	    !attr_len(tb[RTA_TABLE], 4) || !attr_len(tb[RTA_OIF], 4) ||
	    (rtm->rtm_dst_len && (!tb[RTA_DST] || !attr_len(tb[RTA_DST], alen(rtm->rtm_family)))))
		return -EBADMSG;
	memset(dst, 0, sizeof(*dst));
	dst->family = rtm->rtm_family;
	dst->prefix = rtm->rtm_dst_len;
	if (rtm->rtm_dst_len)
		memcpy(dst->addr, mnl_attr_get_payload(tb[RTA_DST]), alen(rtm->rtm_family));
	*table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	*proto = rtm->rtm_protocol;
	*oif = tb[RTA_OIF] ? (int)mnl_attr_get_u32(tb[RTA_OIF]) : 0;
	return 0;
}

/* r is borrowed; buf gets "not to 10.0.0.0/8 fwmark 0x1 lookup 100 ...". */
void tp_nl_rule_format(const struct tp_nl_rule *r, char *buf, size_t len)
{
	char cb[64];
	size_t n = 0;

#define PUT(...)                                                              \
	do {                                                                  \
		if (n < len)                                                  \
			n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__); \
	} while (0)
	if (!buf || !len)
		return;
	buf[0] = '\0';
	PUT("%sfrom all", r->invert ? "not " : "");
	if (r->has_dst)
		PUT(" to %s", tp_cidr_format(&r->dst, cb, sizeof(cb)));
	if (r->has_fwmark) {
		PUT(" fwmark 0x%x", r->fwmark);
		if (r->fwmask && r->fwmask != 0xffffffffu)
			PUT("/0x%x", r->fwmask);
	}
	if (r->has_uid)
		PUT(" uidrange %u-%u", r->uid_lo, r->uid_hi);
	if (r->table == RT_TABLE_MAIN)
		PUT(" lookup main");
	else
		PUT(" lookup %u", r->table);
	if (r->suppress_prefixlen >= 0)
		PUT(" suppress_prefixlength %d", r->suppress_prefixlen);
	PUT(" pref %u", r->priority);
	if (r->protocol)
		PUT(" proto %u", r->protocol);
	PUT(" (%s)", r->family == AF_INET ? "IPv4" : "IPv6");
#undef PUT
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

/* buf is the caller's; nothing is kept. */
int tp_nl_build_txqlen(void *buf, size_t cap, uint32_t seq, int ifindex, uint32_t qlen)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	if (!buf || cap < 512 || ifindex <= 0)
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex; /* ifi_change 0: no flag changes */
	mnl_attr_put_u32(nlh, IFLA_TXQLEN, qlen);
	return (int)nlh->nlmsg_len;
}

/* buf is the caller's; nothing is kept. */
int tp_nl_build_getlink(void *buf, size_t cap, uint32_t seq, int ifindex)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	if (!buf || cap < 512 || ifindex <= 0)
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return (int)nlh->nlmsg_len;
}

/* The counters of struct rtnl_link_stats64 read here: the attribute must
 * reach past the last of them. */
#define STATS64_NEED (offsetof(struct rtnl_link_stats64, tx_dropped) + sizeof(uint64_t))
#define STATS32_NEED (offsetof(struct rtnl_link_stats, tx_dropped) + sizeof(uint32_t))

/* msg is borrowed and only read; *out is the caller's. */
int tp_nl_parse_link(const void *msg, size_t len, struct tp_nl_link *out)
{
	const struct nlattr *tb[IFLA_MAX + 1];
	const struct ifinfomsg *ifi;
	const struct nlmsghdr *nlh;
	int err;

	if (!out)
		return -EINVAL;
	nlh = one_msg(msg, len, RTM_NEWLINK, RTM_NEWLINK, sizeof(*ifi), &err);
	if (!nlh)
		return err;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (collect_attrs(nlh, sizeof(*ifi), tb, IFLA_MAX + 1))
		return -EBADMSG;
	if (!attr_len(tb[IFLA_MTU], 4) || !attr_len(tb[IFLA_TXQLEN], 4) ||
	    (tb[IFLA_STATS64] && mnl_attr_get_payload_len(tb[IFLA_STATS64]) < STATS64_NEED) ||
	    (tb[IFLA_STATS] && mnl_attr_get_payload_len(tb[IFLA_STATS]) < STATS32_NEED))
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->ifindex = ifi->ifi_index;
	out->mtu = tb[IFLA_MTU] ? mnl_attr_get_u32(tb[IFLA_MTU]) : 0;
	out->has_txqlen = tb[IFLA_TXQLEN] != NULL;
	out->txqlen = tb[IFLA_TXQLEN] ? mnl_attr_get_u32(tb[IFLA_TXQLEN]) : 0;
	if (tb[IFLA_STATS64]) {
		/* a newer kernel's struct may be longer; the payload is only
		 * 4-byte aligned: copy what we know */
		struct rtnl_link_stats64 st;
		size_t n = mnl_attr_get_payload_len(tb[IFLA_STATS64]);

		memset(&st, 0, sizeof(st));
		memcpy(&st, mnl_attr_get_payload(tb[IFLA_STATS64]),
		       n < sizeof(st) ? n : sizeof(st));
		out->has_stats = true;
		out->rx_packets = st.rx_packets;
		out->tx_packets = st.tx_packets;
		out->rx_dropped = st.rx_dropped;
		out->tx_dropped = st.tx_dropped;
	} else if (tb[IFLA_STATS]) {
		struct rtnl_link_stats st;
		size_t n = mnl_attr_get_payload_len(tb[IFLA_STATS]);

		memset(&st, 0, sizeof(st));
		memcpy(&st, mnl_attr_get_payload(tb[IFLA_STATS]), n < sizeof(st) ? n : sizeof(st));
		out->has_stats = true;
		out->rx_packets = st.rx_packets;
		out->tx_packets = st.tx_packets;
		out->rx_dropped = st.rx_dropped;
		out->tx_dropped = st.tx_dropped;
	}
	return 0;
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

/* Send the RTM_GETLINK in nl->buf (length len) and parse its one reply
 * into *out. On failure nl->op becomes last_op. */
static int nl_getlink(struct tp_nl *nl, int len, struct tp_nl_link *out)
{
	uint32_t seq = ((const struct nlmsghdr *)(const void *)nl->buf)->nlmsg_seq;
	int err = len;

	if (len < 0)
		goto out;
	if (mnl_socket_sendto(nl->sock, nl->buf, (size_t)len) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->rbuf, sizeof(nl->rbuf));
		const struct nlmsghdr *nlh = (const void *)nl->rbuf;
		int left;

		if (n < 0) {
			err = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		left = (int)n;
		for (; msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			if (nlh->nlmsg_seq != seq)
				continue; /* a stale reply to an earlier request */
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				err = tp_nl_parse_ack(nlh, nlh->nlmsg_len, seq);
				if (!err)
					err = -EBADMSG; /* an ACK instead of the link */
				goto out;
			}
			if (nlh->nlmsg_type == RTM_NEWLINK) {
				err = tp_nl_parse_link(nlh, nlh->nlmsg_len, out);
				goto out;
			}
		}
	}
out:
	if (err)
		memcpy(nl->last_op, nl->op, sizeof(nl->last_op));
	return err;
}

/* nl is borrowed, *out the caller's; nothing is recorded. */
int tp_nl_link_get(struct tp_nl *nl, int ifindex, struct tp_nl_link *out)
{
	char dn[IF_NAMESIZE];

	snprintf(nl->op, sizeof(nl->op), "read link dev %s", dev_name(ifindex, dn));
	return nl_getlink(nl, tp_nl_build_getlink(nl->buf, sizeof(nl->buf), ++nl->seq, ifindex),
	                  out);
}

/* nl is borrowed; the old value goes into the journal. */
int tp_nl_link_set_txqlen(struct tp_nl *nl, int ifindex, uint32_t qlen, uint32_t *old)
{
	struct tp_nl_link l = {0};
	char dn[IF_NAMESIZE];
	int err;

	err = tp_nl_link_get(nl, ifindex, &l);
	if (!err && !l.has_txqlen) {
		err = -EOPNOTSUPP; /* no IFLA_TXQLEN: nothing to restore */
		memcpy(nl->last_op, nl->op, sizeof(nl->last_op));
	}
	if (err)
		return err;
	if (old)
		*old = l.txqlen;
	if (l.txqlen == qlen)
		return 0;
	snprintf(nl->op, sizeof(nl->op), "set link dev %s txqueuelen %u (was %u)",
	         dev_name(ifindex, dn), qlen, l.txqlen);
	err = journal_reserve(nl);
	if (err) {
		memcpy(nl->last_op, nl->op, sizeof(nl->last_op));
		return err;
	}
	err = nl_talk(nl, tp_nl_build_txqlen(nl->buf, sizeof(nl->buf), ++nl->seq, ifindex, qlen));
	if (err)
		return err;
	nl->log[nl->nlog++] =
	        (struct nl_entry){.kind = NL_TXQLEN, .ifindex = ifindex, .txqlen = l.txqlen};
	return 0;
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
	nl->log[nl->nlog++] = (struct nl_entry){.kind = NL_ADDR, .ifindex = ifindex, .cidr = *addr};
	return 0;
}

/* dst is borrowed (copied into the journal). */
int tp_nl_route_add_proto(struct tp_nl *nl, int ifindex, const struct tp_cidr *dst, uint32_t table,
                          uint8_t proto)
{
	int err;

	set_op(nl, "add", dst, ifindex, table, true);
	err = journal_reserve(nl);
	if (err) {
		memcpy(nl->last_op, nl->op, sizeof(nl->last_op));
		return err;
	}
	err = nl_talk(nl, tp_nl_build_route_proto(nl->buf, sizeof(nl->buf), RTM_NEWROUTE, ++nl->seq,
	                                          ifindex, dst, table, proto));
	if (err)
		return err;
	nl->log[nl->nlog++] = (struct nl_entry){
	        .kind = NL_ROUTE, .ifindex = ifindex, .cidr = *dst, .table = table, .proto = proto};
	return 0;
}

int tp_nl_route_add(struct tp_nl *nl, int ifindex, const struct tp_cidr *dst, uint32_t table)
{
	return tp_nl_route_add_proto(nl, ifindex, dst, table, RTPROT_STATIC);
}

static void set_rule_op(struct tp_nl *nl, const char *verb, const struct tp_nl_rule *r)
{
	size_t n = (size_t)snprintf(nl->op, sizeof(nl->op), "%s rule ", verb);

	if (n < sizeof(nl->op))
		tp_nl_rule_format(r, nl->op + n, sizeof(nl->op) - n);
}

/* r is borrowed (copied into the journal). */
int tp_nl_rule_add(struct tp_nl *nl, const struct tp_nl_rule *r)
{
	int err;

	set_rule_op(nl, "add", r);
	err = journal_reserve(nl);
	if (err) {
		memcpy(nl->last_op, nl->op, sizeof(nl->last_op));
		return err;
	}
	err = nl_talk(nl, tp_nl_build_rule(nl->buf, sizeof(nl->buf), RTM_NEWRULE, ++nl->seq, r));
	if (err)
		return err;
	nl->log[nl->nlog++] = (struct nl_entry){.kind = NL_RULE, .rule = *r};
	return 0;
}

/* What purge found in a dump, deleted once the dump is over. */
struct purge_item {
	bool is_rule;
	struct tp_nl_rule rule;
	struct tp_cidr dst;
	uint32_t table;
	uint8_t proto;
	int oif;
};

struct purge {
	uint8_t proto;
	uint32_t lo, hi;
	struct purge_item *v;
	size_t n, cap;
};

static int purge_push(struct purge *p, const struct purge_item *it)
{
	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 16;
		struct purge_item *nv = realloc(p->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		p->v = nv;
		p->cap = ncap;
	}
	p->v[p->n++] = *it;
	return 0;
}

/* One message of a rule or route dump: keep it if it is ours. */
static int purge_msg(struct purge *p, const struct nlmsghdr *nlh)
{
	struct purge_item it;

	memset(&it, 0, sizeof(it));
	if (nlh->nlmsg_type == RTM_NEWRULE) {
		if (tp_nl_parse_rule(nlh, nlh->nlmsg_len, &it.rule))
			return 0;
		/* ours: tagged, or (kernel < 4.17: no FRA_PROTOCOL in the
		 * dump at all) inside our priority window */
		if (it.rule.protocol != p->proto &&
		    (it.rule.protocol || it.rule.priority < p->lo || it.rule.priority > p->hi))
			return 0;
		it.is_rule = true;
		return purge_push(p, &it);
	}
	if (nlh->nlmsg_type == RTM_NEWROUTE) {
		if (tp_nl_parse_route(nlh, nlh->nlmsg_len, &it.dst, &it.table, &it.proto,
		                      &it.oif) ||
		    it.proto != p->proto)
			return 0;
		return purge_push(p, &it);
	}
	return 0;
}

/* Run one dump (type, family) and feed its messages to purge_msg. */
static int nl_dump(struct tp_nl *nl, uint16_t type, uint8_t family, struct purge *p)
{
	int len = tp_nl_build_dump(nl->buf, sizeof(nl->buf), type, ++nl->seq, family);
	uint32_t seq = nl->seq;

	snprintf(nl->op, sizeof(nl->op), "list %s %s", family == AF_INET ? "IPv4" : "IPv6",
	         type == RTM_GETRULE ? "rules" : "routes");
	if (len < 0)
		return len;
	if (mnl_socket_sendto(nl->sock, nl->buf, (size_t)len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->rbuf, sizeof(nl->rbuf));
		const struct nlmsghdr *nlh = (const void *)nl->rbuf;
		int left;

		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		left = (int)n;
		for (; mnl_nlmsg_ok(nlh, left) && nlh->nlmsg_len <= (uint32_t)left;
		     nlh = mnl_nlmsg_next(nlh, &left)) {
			int err;

			if (nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				err = tp_nl_parse_ack(nlh, nlh->nlmsg_len, seq);
				return err ? err : -EBADMSG;
			}
			err = purge_msg(p, nlh);
			if (err)
				return err;
		}
	}
}

/* Counts go to *rules and *routes (either may be NULL). */
int tp_nl_purge(struct tp_nl *nl, uint8_t proto, uint32_t prio_lo, uint32_t prio_hi,
                unsigned *rules, unsigned *routes)
{
	static const uint8_t fams[2] = {AF_INET, AF_INET6};
	struct purge p = {.proto = proto, .lo = prio_lo, .hi = prio_hi};
	unsigned nrules = 0, nroutes = 0;
	int first = 0;

	for (int f = 0; f < 2; f++) {
		for (int k = 0; k < 2; k++) {
			int err;

			p.n = 0;
			err = nl_dump(nl, k ? RTM_GETROUTE : RTM_GETRULE, fams[f], &p);
			if (err == -EAFNOSUPPORT || err == -EOPNOTSUPP)
				continue; /* no IPv6 in this kernel */
			if (err) {
				memcpy(nl->last_op, nl->op, sizeof(nl->last_op));
				if (!first)
					first = err;
				continue;
			}
			for (size_t i = 0; i < p.n; i++) {
				const struct purge_item *it = &p.v[i];
				int len;

				if (it->is_rule) {
					set_rule_op(nl, "delete stale", &it->rule);
					len = tp_nl_build_rule(nl->buf, sizeof(nl->buf),
					                       RTM_DELRULE, ++nl->seq, &it->rule);
				} else {
					set_op(nl, "delete stale", &it->dst, it->oif, it->table,
					       true);
					len = build_route(nl->buf, sizeof(nl->buf), RTM_DELROUTE,
					                  ++nl->seq, it->oif, &it->dst, it->table,
					                  it->proto, RT_SCOPE_NOWHERE);
				}
				err = nl_talk(nl, len);
				if (err == -ENOENT || err == -ESRCH || err == -ENODEV)
					continue; /* gone meanwhile */
				if (err) {
					if (!first)
						first = err;
					continue;
				}
				if (it->is_rule)
					nrules++;
				else
					nroutes++;
			}
		}
	}
	free(p.v);
	if (rules)
		*rules = nrules;
	if (routes)
		*routes = nroutes;
	return first;
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
			len = tp_nl_build_route_proto(nl->buf, sizeof(nl->buf), RTM_DELROUTE,
			                              ++nl->seq, e->ifindex, &e->cidr, e->table,
			                              e->proto);
		} else if (e->kind == NL_RULE) {
			set_rule_op(nl, "delete", &e->rule);
			len = tp_nl_build_rule(nl->buf, sizeof(nl->buf), RTM_DELRULE, ++nl->seq,
			                       &e->rule);
		} else if (e->kind == NL_TXQLEN) {
			char dn[IF_NAMESIZE];

			snprintf(nl->op, sizeof(nl->op), "restore link dev %s txqueuelen %u",
			         dev_name(e->ifindex, dn), e->txqlen);
			len = tp_nl_build_txqlen(nl->buf, sizeof(nl->buf), ++nl->seq, e->ifindex,
			                         e->txqlen);
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
