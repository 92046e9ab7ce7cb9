/* SPDX-License-Identifier: MIT */
/* Netlink builders parsed back with libmnl, and tp_nl_parse_ack on acks,
 * errors, truncated and foreign replies. Pure: no socket is opened. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "harness.h"
#include "tunplug/netlink.h"

static _Alignas(struct nlmsghdr) char buf[1024];

struct attrs {
	const struct nlattr *tb[64];
	int count;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct attrs *t = data;
	uint16_t type = mnl_attr_get_type(a);

	t->count++;
	if (type < 64)
		t->tb[type] = a;
	return MNL_CB_OK;
}

/* Validate the framing and collect the attributes after a fixed header of
 * hdrlen bytes. Returns the message or NULL. */
static const struct nlmsghdr *walk(int len, size_t hdrlen, struct attrs *t)
{
	const struct nlmsghdr *nlh = (const void *)buf;

	memset(t, 0, sizeof(*t));
	CHECK(len > 0, "builder returned %d", len);
	if (len <= 0)
		return NULL;
	CHECK(mnl_nlmsg_ok(nlh, len), "message framing");
	CHECK_EQ(nlh->nlmsg_len, len, "nlmsg_len == returned length");
	CHECK(mnl_attr_parse(nlh, (unsigned)hdrlen, attr_cb, t) == MNL_CB_OK, "attributes parse");
	return nlh;
}

static struct tp_cidr cidr(const char *s)
{
	struct tp_cidr c;
	int r = tp_cidr_parse(s, &c);
	CHECK(r == 0, "parse %s", s);
	return c;
}

TP_TEST(addr)
{
	struct tp_cidr c4 = cidr("198.18.0.1/15"), c6 = cidr("fd00::1/64");
	struct attrs t;
	const struct nlmsghdr *nlh;
	const struct ifaddrmsg *ifa;
	int len;

	len = tp_nl_build_addr(buf, sizeof(buf), RTM_NEWADDR, 77, 7, &c4);
	if ((nlh = walk(len, sizeof(*ifa), &t))) {
		ifa = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(nlh->nlmsg_type, RTM_NEWADDR, "type");
		CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
		         "flags");
		CHECK_EQ(nlh->nlmsg_seq, 77, "seq");
		CHECK_EQ(ifa->ifa_family, AF_INET, "family");
		CHECK_EQ(ifa->ifa_prefixlen, 15, "prefix");
		CHECK_EQ(ifa->ifa_index, 7, "ifindex");
		CHECK_EQ(ifa->ifa_scope, RT_SCOPE_UNIVERSE, "scope");
		CHECK(!(ifa->ifa_flags & IFA_F_NODAD), "no nodad on v4");
		CHECK(t.tb[IFA_LOCAL] && mnl_attr_get_payload_len(t.tb[IFA_LOCAL]) == 4 &&
		              !memcmp(mnl_attr_get_payload(t.tb[IFA_LOCAL]), c4.addr, 4),
		      "IFA_LOCAL");
		CHECK(t.tb[IFA_ADDRESS] && mnl_attr_get_payload_len(t.tb[IFA_ADDRESS]) == 4 &&
		              !memcmp(mnl_attr_get_payload(t.tb[IFA_ADDRESS]), c4.addr, 4),
		      "IFA_ADDRESS");
		CHECK_EQ(t.count, 2, "two attributes");
	}
	OK("netlink: RTM_NEWADDR v4: REQUEST|ACK|CREATE|REPLACE, ifaddrmsg, IFA_LOCAL + "
	   "IFA_ADDRESS");

	len = tp_nl_build_addr(buf, sizeof(buf), RTM_NEWADDR, 78, 9, &c6);
	if ((nlh = walk(len, sizeof(*ifa), &t))) {
		ifa = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(ifa->ifa_family, AF_INET6, "family");
		CHECK_EQ(ifa->ifa_prefixlen, 64, "prefix");
		CHECK_EQ(ifa->ifa_index, 9, "ifindex");
		CHECK(ifa->ifa_flags & IFA_F_NODAD, "nodad on v6");
		CHECK(!t.tb[IFA_LOCAL], "no IFA_LOCAL on v6");
		CHECK(t.tb[IFA_ADDRESS] && mnl_attr_get_payload_len(t.tb[IFA_ADDRESS]) == 16 &&
		              !memcmp(mnl_attr_get_payload(t.tb[IFA_ADDRESS]), c6.addr, 16),
		      "IFA_ADDRESS");
	}
	OK("netlink: RTM_NEWADDR v6: IFA_F_NODAD, IFA_ADDRESS only");

	len = tp_nl_build_addr(buf, sizeof(buf), RTM_DELADDR, 79, 7, &c4);
	if ((nlh = walk(len, sizeof(*ifa), &t))) {
		CHECK_EQ(nlh->nlmsg_type, RTM_DELADDR, "type");
		CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK, "no create flags on delete");
		CHECK(t.tb[IFA_LOCAL] && t.tb[IFA_ADDRESS], "same keys");
	}
	OK("netlink: RTM_DELADDR v4: REQUEST|ACK with the same keys");

	{
		struct tp_cidr bad = c4;
		CHECK_EQ(tp_nl_build_addr(buf, 511, RTM_NEWADDR, 1, 7, &c4), -EINVAL, "cap 511");
		CHECK_EQ(tp_nl_build_addr(buf, sizeof(buf), RTM_NEWADDR, 1, 0, &c4), -EINVAL,
		         "ifindex 0");
		CHECK_EQ(tp_nl_build_addr(buf, sizeof(buf), RTM_NEWROUTE, 1, 7, &c4), -EINVAL,
		         "type");
		CHECK_EQ(tp_nl_build_addr(buf, sizeof(buf), RTM_NEWADDR, 1, 7, NULL), -EINVAL,
		         "NULL");
		bad.prefix = 33;
		CHECK_EQ(tp_nl_build_addr(buf, sizeof(buf), RTM_NEWADDR, 1, 7, &bad), -EINVAL,
		         "v4 /33");
		bad.family = AF_UNSPEC;
		bad.prefix = 8;
		CHECK_EQ(tp_nl_build_addr(buf, sizeof(buf), RTM_NEWADDR, 1, 7, &bad), -EINVAL,
		         "family");
	}
	OK("netlink: addr builder refuses small buffer, ifindex 0, wrong type, NULL, /33, bad "
	   "family");
}

TP_TEST(route)
{
	struct tp_cidr d4 = cidr("198.19.5.7/16"), d6 = cidr("fd01::99/61"),
	               def = cidr("0.0.0.0/0");
	static const uint8_t net4[4] = {198, 19, 0, 0};
	uint8_t net6[16] = {0xfd, 0x01};
	struct attrs t;
	const struct nlmsghdr *nlh;
	const struct rtmsg *rtm;
	int len;

	len = tp_nl_build_route(buf, sizeof(buf), RTM_NEWROUTE, 5, 7, &d4, 0);
	if ((nlh = walk(len, sizeof(*rtm), &t))) {
		rtm = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(nlh->nlmsg_type, RTM_NEWROUTE, "type");
		CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
		         "flags");
		CHECK_EQ(nlh->nlmsg_seq, 5, "seq");
		CHECK_EQ(rtm->rtm_family, AF_INET, "family");
		CHECK_EQ(rtm->rtm_dst_len, 16, "dst_len");
		CHECK_EQ(rtm->rtm_scope, RT_SCOPE_LINK, "scope link");
		CHECK_EQ(rtm->rtm_protocol, RTPROT_STATIC, "proto static");
		CHECK_EQ(rtm->rtm_type, RTN_UNICAST, "unicast");
		CHECK(t.tb[RTA_DST] && mnl_attr_get_payload_len(t.tb[RTA_DST]) == 4 &&
		              !memcmp(mnl_attr_get_payload(t.tb[RTA_DST]), net4, 4),
		      "RTA_DST masked to 198.19.0.0");
		CHECK(t.tb[RTA_OIF] && mnl_attr_get_u32(t.tb[RTA_OIF]) == 7, "RTA_OIF");
		CHECK(t.tb[RTA_TABLE] && mnl_attr_get_u32(t.tb[RTA_TABLE]) == RT_TABLE_MAIN,
		      "RTA_TABLE main");
	}
	OK("netlink: RTM_NEWROUTE 198.19.5.7/16: CREATE|EXCL, scope link, static, unicast, RTA_DST "
	   "198.19.0.0, OIF, table main");

	len = tp_nl_build_route(buf, sizeof(buf), RTM_DELROUTE, 6, 3, &d6, 100);
	if ((nlh = walk(len, sizeof(*rtm), &t))) {
		rtm = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(nlh->nlmsg_type, RTM_DELROUTE, "type");
		CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK, "flags");
		CHECK_EQ(rtm->rtm_family, AF_INET6, "family");
		CHECK_EQ(rtm->rtm_dst_len, 61, "dst_len");
		CHECK(t.tb[RTA_DST] && mnl_attr_get_payload_len(t.tb[RTA_DST]) == 16 &&
		              !memcmp(mnl_attr_get_payload(t.tb[RTA_DST]), net6, 16),
		      "RTA_DST masked to fd01::/61");
		CHECK(t.tb[RTA_TABLE] && mnl_attr_get_u32(t.tb[RTA_TABLE]) == 100, "RTA_TABLE 100");
		CHECK(t.tb[RTA_OIF] && mnl_attr_get_u32(t.tb[RTA_OIF]) == 3, "RTA_OIF");
	}
	OK("netlink: RTM_DELROUTE fd01::99/61 table 100: host bits masked, REQUEST|ACK only");

	len = tp_nl_build_route(buf, sizeof(buf), RTM_NEWROUTE, 7, 7, &def, 0);
	if ((nlh = walk(len, sizeof(*rtm), &t))) {
		rtm = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(rtm->rtm_dst_len, 0, "dst_len 0");
		CHECK(!t.tb[RTA_DST], "no RTA_DST for a default route");
	}
	OK("netlink: default route has no RTA_DST");

	{
		struct tp_cidr bad = d4;
		bad.prefix = 40;
		CHECK_EQ(tp_nl_build_route(buf, sizeof(buf), RTM_NEWROUTE, 1, 7, &bad, 0), -EINVAL,
		         "/40");
		CHECK_EQ(tp_nl_build_route(buf, sizeof(buf), RTM_NEWADDR, 1, 7, &d4, 0), -EINVAL,
		         "type");
		CHECK_EQ(tp_nl_build_route(buf, sizeof(buf), RTM_NEWROUTE, 1, -1, &d4, 0), -EINVAL,
		         "ifindex");
		CHECK_EQ(tp_nl_build_route(buf, 100, RTM_NEWROUTE, 1, 7, &d4, 0), -EINVAL, "cap");
	}
	OK("netlink: route builder refuses /40 on v4, wrong type, bad ifindex, small buffer");
}

TP_TEST(link)
{
	struct attrs t;
	const struct nlmsghdr *nlh;
	const struct ifinfomsg *ifi;
	int len;

	len = tp_nl_build_link(buf, sizeof(buf), 9, 4, 1400, 1);
	if ((nlh = walk(len, sizeof(*ifi), &t))) {
		ifi = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(nlh->nlmsg_type, RTM_NEWLINK, "type");
		CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK, "flags");
		CHECK_EQ(ifi->ifi_family, AF_UNSPEC, "family");
		CHECK_EQ(ifi->ifi_index, 4, "index");
		CHECK_EQ(ifi->ifi_flags, IFF_UP, "flags up");
		CHECK_EQ(ifi->ifi_change, IFF_UP, "change up");
		CHECK(t.tb[IFLA_MTU] && mnl_attr_get_u32(t.tb[IFLA_MTU]) == 1400, "IFLA_MTU");
	}
	OK("netlink: RTM_NEWLINK up mtu 1400: ifi_flags/ifi_change IFF_UP, IFLA_MTU");
	len = tp_nl_build_link(buf, sizeof(buf), 10, 4, 0, 0);
	if ((nlh = walk(len, sizeof(*ifi), &t))) {
		ifi = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(ifi->ifi_flags, 0, "down");
		CHECK_EQ(ifi->ifi_change, IFF_UP, "change up");
		CHECK(!t.tb[IFLA_MTU] && t.count == 0, "no IFLA_MTU for mtu 0");
	}
	OK("netlink: RTM_NEWLINK down mtu 0: no attributes");
	CHECK_EQ(tp_nl_build_link(buf, sizeof(buf), 1, 0, 1500, 1), -EINVAL, "ifindex 0");
	CHECK_EQ(tp_nl_build_link(buf, sizeof(buf), 1, 4, 65536, 1), -EINVAL, "mtu 65536");
	OK("netlink: link builder refuses ifindex 0 and mtu 65536");
}

TP_TEST(txqlen)
{
	struct attrs t;
	const struct nlmsghdr *nlh;
	const struct ifinfomsg *ifi;
	int len;

	len = tp_nl_build_txqlen(buf, sizeof(buf), 11, 6, 20000);
	if ((nlh = walk(len, sizeof(*ifi), &t))) {
		ifi = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(nlh->nlmsg_type, RTM_NEWLINK, "type");
		CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK, "flags");
		CHECK_EQ(nlh->nlmsg_seq, 11, "seq");
		CHECK_EQ(ifi->ifi_family, AF_UNSPEC, "family");
		CHECK_EQ(ifi->ifi_index, 6, "index");
		CHECK_EQ(ifi->ifi_change, 0, "no flag change");
		CHECK_EQ(ifi->ifi_flags, 0, "no flags");
		CHECK(t.tb[IFLA_TXQLEN] && mnl_attr_get_payload_len(t.tb[IFLA_TXQLEN]) == 4 &&
		              mnl_attr_get_u32(t.tb[IFLA_TXQLEN]) == 20000,
		      "IFLA_TXQLEN 20000");
		CHECK_EQ(t.count, 1, "one attribute");
	}
	OK("netlink: RTM_NEWLINK txqueuelen 20000: REQUEST|ACK, ifi_change 0, IFLA_TXQLEN only");
	len = tp_nl_build_txqlen(buf, sizeof(buf), 12, 6, 0);
	if ((nlh = walk(len, sizeof(*ifi), &t)))
		CHECK(t.tb[IFLA_TXQLEN] && mnl_attr_get_u32(t.tb[IFLA_TXQLEN]) == 0,
		      "IFLA_TXQLEN 0 (an old value to restore)");
	OK("netlink: txqueuelen 0 is sent as is (undo restores whatever was there)");
	CHECK_EQ(tp_nl_build_txqlen(buf, sizeof(buf), 1, 0, 500), -EINVAL, "ifindex 0");
	CHECK_EQ(tp_nl_build_txqlen(buf, 511, 1, 6, 500), -EINVAL, "cap 511");
	CHECK_EQ(tp_nl_build_txqlen(NULL, sizeof(buf), 1, 6, 500), -EINVAL, "NULL");
	OK("netlink: txqueuelen builder refuses ifindex 0, a small buffer, NULL");

	len = tp_nl_build_getlink(buf, sizeof(buf), 13, 6);
	if ((nlh = walk(len, sizeof(*ifi), &t))) {
		ifi = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(nlh->nlmsg_type, RTM_GETLINK, "type");
		CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST, "flags: one link, no dump, no ack");
		CHECK_EQ(nlh->nlmsg_seq, 13, "seq");
		CHECK_EQ(ifi->ifi_index, 6, "index");
		CHECK_EQ(t.count, 0, "no attributes");
	}
	CHECK_EQ(tp_nl_build_getlink(buf, sizeof(buf), 1, -1), -EINVAL, "ifindex -1");
	OK("netlink: RTM_GETLINK of index 6: REQUEST only (one reply), no attributes; ifindex -1 "
	   "refused");
}

/* An RTM_NEWLINK reply as the kernel sends it: index, then the attributes
 * asked for (stats_len 0 = no IFLA_STATS64; stats32: IFLA_STATS instead). */
static int put_link(int index, uint32_t mtu, uint32_t qlen, size_t stats_len, bool stats32,
                    uint64_t tx_dropped)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	uint8_t raw[sizeof(struct rtnl_link_stats64) + 32];

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_seq = 5;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_index = index;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "tp0");
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	mnl_attr_put_u32(nlh, IFLA_TXQLEN, qlen);
	memset(raw, 0xee, sizeof(raw)); /* fields of a newer kernel */
	if (stats32) {
		struct rtnl_link_stats s32;

		memset(&s32, 0, sizeof(s32));
		s32.tx_packets = 70;
		s32.tx_dropped = (uint32_t)tx_dropped;
		mnl_attr_put(nlh, IFLA_STATS, sizeof(s32), &s32);
	} else if (stats_len) {
		struct rtnl_link_stats64 s64;

		memset(&s64, 0, sizeof(s64));
		s64.rx_packets = 1;
		s64.tx_packets = 2;
		s64.rx_dropped = 3;
		s64.tx_dropped = tx_dropped;
		memcpy(raw, &s64, sizeof(s64) < stats_len ? sizeof(s64) : stats_len);
		mnl_attr_put(nlh, IFLA_STATS64, stats_len, raw);
	}
	return (int)nlh->nlmsg_len;
}

TP_TEST(parse_link)
{
	struct tp_nl_link l;
	struct nlmsghdr *nlh = (void *)buf;
	int len;

	len = put_link(7, 1400, 20000, sizeof(struct rtnl_link_stats64), false, 123456789012ull);
	CHECK_EQ(tp_nl_parse_link(buf, (size_t)len, &l), 0, "parse");
	CHECK_EQ(l.ifindex, 7, "ifindex");
	CHECK_EQ(l.mtu, 1400, "mtu");
	CHECK(l.has_txqlen && l.txqlen == 20000, "txqlen %u", l.txqlen);
	CHECK(l.has_stats, "stats");
	CHECK_EQ(l.tx_dropped, 123456789012ll, "tx_dropped (64 bit)");
	CHECK(l.rx_packets == 1 && l.tx_packets == 2 && l.rx_dropped == 3, "other counters");
	OK("parse link: index, mtu, txqueuelen 20000, IFLA_STATS64 tx_dropped 123456789012");

	len = put_link(7, 1500, 500, sizeof(struct rtnl_link_stats64) + 24, false, 9);
	CHECK_EQ(tp_nl_parse_link(buf, (size_t)len, &l), 0, "longer stats");
	CHECK_EQ(l.tx_dropped, 9, "tx_dropped");
	OK("parse link: a longer IFLA_STATS64 (a newer kernel's) is read as far as known");

	len = put_link(7, 1500, 500, 0, true, 41);
	CHECK_EQ(tp_nl_parse_link(buf, (size_t)len, &l), 0, "32-bit stats");
	CHECK(l.has_stats && l.tx_dropped == 41 && l.tx_packets == 70, "IFLA_STATS");
	len = put_link(7, 1500, 500, 0, false, 0);
	CHECK_EQ(tp_nl_parse_link(buf, (size_t)len, &l), 0, "no stats");
	CHECK(!l.has_stats && l.tx_dropped == 0, "no stats: has_stats false");
	OK("parse link: IFLA_STATS (32 bit) when there is no IFLA_STATS64; none -> has_stats "
	   "false");

	len = put_link(7, 1500, 500, offsetof(struct rtnl_link_stats64, tx_dropped) + 4, false, 1);
	CHECK_EQ(tp_nl_parse_link(buf, (size_t)len, &l), -EBADMSG, "stats cut in tx_dropped");
	len = put_link(7, 1500, 500, sizeof(struct rtnl_link_stats64), false, 1);
	CHECK_EQ(tp_nl_parse_link(buf, (size_t)len - 1, &l), -EBADMSG, "message cut");
	nlh->nlmsg_len -= 4; /* the last attribute no longer fits */
	CHECK_EQ(tp_nl_parse_link(buf, nlh->nlmsg_len, &l), -EBADMSG, "attribute overruns");
	len = put_link(7, 1500, 500, 0, false, 0);
	nlh->nlmsg_type = RTM_NEWROUTE;
	CHECK_EQ(tp_nl_parse_link(buf, (size_t)len, &l), -ENOENT, "another type");
	CHECK_EQ(tp_nl_parse_link(buf, 8, &l), -EBADMSG, "shorter than a header");
	CHECK_EQ(tp_nl_parse_link(buf, (size_t)len, NULL), -EINVAL, "NULL out");
	OK("parse link: short IFLA_STATS64, cut message, overrunning attribute -> -EBADMSG; "
	   "another type -> -ENOENT");

	{
		/* IFLA_TXQLEN of 2 bytes */
		struct ifinfomsg *ifi;
		uint16_t two = 5;

		memset(buf, 0, sizeof(buf));
		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = RTM_NEWLINK;
		ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
		ifi->ifi_index = 3;
		mnl_attr_put(nlh, IFLA_TXQLEN, sizeof(two), &two);
		CHECK_EQ(tp_nl_parse_link(buf, nlh->nlmsg_len, &l), -EBADMSG, "2-byte IFLA_TXQLEN");
	}
	OK("parse link: a 2-byte IFLA_TXQLEN -> -EBADMSG");

	/* the builder's own request is not a reply */
	len = tp_nl_build_getlink(buf, sizeof(buf), 1, 4);
	CHECK_EQ(tp_nl_parse_link(buf, (size_t)len, &l), -ENOENT, "RTM_GETLINK");
	OK("parse link: an RTM_GETLINK request -> -ENOENT");
}

/* Put an NLMSG_ERROR reply (error, echoed header of seq) at p. */
static size_t put_err(char *p, uint32_t seq, int error)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(p);
	struct nlmsgerr *e;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = seq;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = error;
	e->msg.nlmsg_len = 32;
	e->msg.nlmsg_type = RTM_NEWADDR;
	e->msg.nlmsg_seq = seq;
	return nlh->nlmsg_len;
}

TP_TEST(ack)
{
	size_t n, m;
	struct nlmsghdr *nlh = (void *)buf;

	memset(buf, 0, sizeof(buf));
	n = put_err(buf, 42, 0);
	CHECK_EQ(tp_nl_parse_ack(buf, n, 42), 0, "ack");
	OK("ack: NLMSG_ERROR with error 0 -> 0");
	n = put_err(buf, 42, -EEXIST);
	CHECK_EQ(tp_nl_parse_ack(buf, n, 42), -EEXIST, "EEXIST");
	n = put_err(buf, 42, -ENODEV);
	CHECK_EQ(tp_nl_parse_ack(buf, n, 42), -ENODEV, "ENODEV");
	OK("ack: NLMSG_ERROR -EEXIST / -ENODEV -> the same -errno");
	n = put_err(buf, 42, 0);
	CHECK_EQ(tp_nl_parse_ack(buf, n, 43), -EBADMSG, "wrong seq");
	OK("ack: reply for another seq -> -EBADMSG");
	for (size_t cut = 0; cut < n; cut++)
		CHECK_EQ(tp_nl_parse_ack(buf, cut, 42), -EBADMSG, "truncated");
	OK("ack: every truncation of an ack -> -EBADMSG");
	nlh->nlmsg_len = 0x80000000u;
	CHECK_EQ(tp_nl_parse_ack(buf, n, 42), -EBADMSG, "nlmsg_len 2^31");
	nlh->nlmsg_len = 0xffffffffu;
	CHECK_EQ(tp_nl_parse_ack(buf, n, 42), -EBADMSG, "nlmsg_len 2^32-1");
	nlh->nlmsg_len = (uint32_t)n + 4;
	CHECK_EQ(tp_nl_parse_ack(buf, n, 42), -EBADMSG, "nlmsg_len past the buffer");
	nlh->nlmsg_len = 16 + 2; /* header + too little for nlmsgerr */
	CHECK_EQ(tp_nl_parse_ack(buf, n, 42), -EBADMSG, "short nlmsgerr");
	OK("ack: nlmsg_len 2^31, 2^32-1, past the buffer, or too short for nlmsgerr -> -EBADMSG");
	n = put_err(buf, 42, 5);
	CHECK_EQ(tp_nl_parse_ack(buf, n, 42), -EBADMSG, "positive error");
	n = put_err(buf, 42, -100000);
	CHECK_EQ(tp_nl_parse_ack(buf, n, 42), -EBADMSG, "absurd error");
	OK("ack: error > 0 or < -4095 -> -EBADMSG");

	/* a stale reply first, then ours, in one datagram */
	n = put_err(buf, 41, -EEXIST);
	m = put_err(buf + n, 42, 0);
	CHECK_EQ(tp_nl_parse_ack(buf, n + m, 42), 0, "second message");
	CHECK_EQ(tp_nl_parse_ack(buf, n + m, 41), -EEXIST, "first message");
	CHECK_EQ(tp_nl_parse_ack(buf, n + m - 1, 42), -EBADMSG, "second truncated");
	OK("ack: two replies in one datagram: each seq finds its own; truncated second -> "
	   "-EBADMSG");
	/* trailing junk after a foreign message */
	n = put_err(buf, 41, 0);
	CHECK_EQ(tp_nl_parse_ack(buf, n + 8, 42), -EBADMSG, "junk");
	OK("ack: trailing bytes that are not a message -> -EBADMSG");
	/* NLMSG_DONE */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_seq = 42;
	mnl_nlmsg_put_extra_header(nlh, 4);
	CHECK_EQ(tp_nl_parse_ack(buf, nlh->nlmsg_len, 42), 0, "done");
	/* a non-error message with our seq and no ack */
	nlh->nlmsg_type = RTM_NEWADDR;
	CHECK_EQ(tp_nl_parse_ack(buf, nlh->nlmsg_len, 42), -EBADMSG, "no ack");
	OK("ack: NLMSG_DONE -> 0; a data message without an ack -> -EBADMSG");
	CHECK_EQ(tp_nl_parse_ack(NULL, 100, 1), -EBADMSG, "NULL");
	OK("ack: NULL buffer -> -EBADMSG");
}

/* ---- policy rules (--auto-route) ---- */

static struct tp_nl_rule rule0(int family, uint32_t prio, uint32_t table)
{
	struct tp_nl_rule r;

	memset(&r, 0, sizeof(r));
	r.family = (uint8_t)family;
	r.priority = prio;
	r.table = table;
	r.protocol = TP_NL_PROTO;
	r.suppress_prefixlen = -1;
	return r;
}

static bool rule_eq(const struct tp_nl_rule *a, const struct tp_nl_rule *b)
{
	return a->family == b->family && a->protocol == b->protocol && a->invert == b->invert &&
	       a->has_fwmark == b->has_fwmark &&
	       (!a->has_fwmark || (a->fwmark == b->fwmark && a->fwmask == b->fwmask)) &&
	       a->has_uid == b->has_uid &&
	       (!a->has_uid || (a->uid_lo == b->uid_lo && a->uid_hi == b->uid_hi)) &&
	       a->has_dst == b->has_dst &&
	       (!a->has_dst || (a->dst.family == b->dst.family && a->dst.prefix == b->dst.prefix &&
	                        !memcmp(a->dst.addr, b->dst.addr, 16))) &&
	       a->suppress_prefixlen == b->suppress_prefixlen && a->priority == b->priority &&
	       a->table == b->table;
}

TP_TEST(rule)
{
	struct tp_nl_rule r, back;
	struct attrs t;
	const struct nlmsghdr *nlh;
	const struct fib_rule_hdr *frh;
	struct fib_rule_uid_range ur;
	static const uint8_t net4[4] = {203, 0, 113, 0};
	int len;

	/* not fwmark 0x7470 lookup 29808 pref 29803 proto 0x74 */
	r = rule0(AF_INET, 29803, 29808);
	r.invert = true;
	r.has_fwmark = true;
	r.fwmark = 0x7470;
	r.fwmask = 0xffffffffu;
	len = tp_nl_build_rule(buf, sizeof(buf), RTM_NEWRULE, 11, &r);
	if ((nlh = walk(len, sizeof(*frh), &t))) {
		frh = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(nlh->nlmsg_type, RTM_NEWRULE, "type");
		CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
		         "flags");
		CHECK_EQ(nlh->nlmsg_seq, 11, "seq");
		CHECK_EQ(frh->family, AF_INET, "family");
		CHECK_EQ(frh->action, FR_ACT_TO_TBL, "action lookup");
		CHECK_EQ(frh->flags, FIB_RULE_INVERT, "invert");
		CHECK_EQ(frh->table, RT_TABLE_UNSPEC, "table > 255 only in FRA_TABLE");
		CHECK_EQ(frh->dst_len, 0, "dst_len");
		CHECK(t.tb[FRA_PRIORITY] && mnl_attr_get_u32(t.tb[FRA_PRIORITY]) == 29803,
		      "FRA_PRIORITY");
		CHECK(t.tb[FRA_TABLE] && mnl_attr_get_u32(t.tb[FRA_TABLE]) == 29808, "FRA_TABLE");
		CHECK(t.tb[FRA_FWMARK] && mnl_attr_get_u32(t.tb[FRA_FWMARK]) == 0x7470,
		      "FRA_FWMARK");
		CHECK(t.tb[FRA_FWMASK] && mnl_attr_get_u32(t.tb[FRA_FWMASK]) == 0xffffffffu,
		      "FRA_FWMASK");
		CHECK(t.tb[FRA_PROTOCOL] && mnl_attr_get_payload_len(t.tb[FRA_PROTOCOL]) == 1 &&
		              mnl_attr_get_u8(t.tb[FRA_PROTOCOL]) == TP_NL_PROTO,
		      "FRA_PROTOCOL u8");
		CHECK(!t.tb[FRA_SUPPRESS_PREFIXLEN] && !t.tb[FRA_UID_RANGE] && !t.tb[FRA_DST],
		      "nothing else");
		CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, &back), 0, "parse back");
		CHECK(rule_eq(&r, &back), "round trip");
	}
	OK("rule: not fwmark 0x7470 lookup 29808: CREATE|EXCL, FR_ACT_TO_TBL, FIB_RULE_INVERT, "
	   "table in FRA_TABLE only, mark+mask, FRA_PROTOCOL u8; parses back equal");

	/* lookup main suppress_prefixlength 0, table < 256 also in the header */
	r = rule0(AF_INET6, 29802, RT_TABLE_MAIN);
	r.suppress_prefixlen = 0;
	len = tp_nl_build_rule(buf, sizeof(buf), RTM_DELRULE, 12, &r);
	if ((nlh = walk(len, sizeof(*frh), &t))) {
		frh = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(nlh->nlmsg_type, RTM_DELRULE, "type");
		CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK, "flags");
		CHECK_EQ(frh->family, AF_INET6, "family");
		CHECK_EQ(frh->flags, 0, "no invert");
		CHECK_EQ(frh->table, RT_TABLE_MAIN, "frh table main");
		CHECK(t.tb[FRA_SUPPRESS_PREFIXLEN] &&
		              mnl_attr_get_u32(t.tb[FRA_SUPPRESS_PREFIXLEN]) == 0,
		      "FRA_SUPPRESS_PREFIXLEN 0");
		CHECK(!t.tb[FRA_FWMARK] && !t.tb[FRA_FWMASK], "no mark");
		CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, &back), 0, "parse back");
		CHECK(rule_eq(&r, &back), "round trip");
	}
	OK("rule: RTM_DELRULE lookup main suppress_prefixlength 0 (IPv6): REQUEST|ACK only, "
	   "table in the header too; parses back equal");

	/* to 203.0.113.77/24 lookup main: host bits cleared */
	r = rule0(AF_INET, 29800, RT_TABLE_MAIN);
	r.has_dst = true;
	r.dst = cidr("203.0.113.77/24");
	len = tp_nl_build_rule(buf, sizeof(buf), RTM_NEWRULE, 13, &r);
	if ((nlh = walk(len, sizeof(*frh), &t))) {
		frh = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(frh->dst_len, 24, "dst_len");
		CHECK(t.tb[FRA_DST] && mnl_attr_get_payload_len(t.tb[FRA_DST]) == 4 &&
		              !memcmp(mnl_attr_get_payload(t.tb[FRA_DST]), net4, 4),
		      "FRA_DST 203.0.113.0");
		CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, &back), 0, "parse back");
		r.dst.addr[3] = 0;
		CHECK(rule_eq(&r, &back), "round trip (masked)");
	}
	OK("rule: to 203.0.113.77/24 lookup main -> dst_len 24, FRA_DST 203.0.113.0");

	/* uidrange 1000-1999 lookup main, and a v6 destination */
	r = rule0(AF_INET6, 29801, RT_TABLE_MAIN);
	r.has_uid = true;
	r.uid_lo = 1000;
	r.uid_hi = 1999;
	r.has_dst = true;
	r.dst = cidr("2001:db8::/32");
	len = tp_nl_build_rule(buf, sizeof(buf), RTM_NEWRULE, 14, &r);
	if ((nlh = walk(len, sizeof(*frh), &t))) {
		CHECK(t.tb[FRA_UID_RANGE] && mnl_attr_get_payload_len(t.tb[FRA_UID_RANGE]) == 8,
		      "FRA_UID_RANGE size");
		if (t.tb[FRA_UID_RANGE]) {
			memcpy(&ur, mnl_attr_get_payload(t.tb[FRA_UID_RANGE]), sizeof(ur));
			CHECK(ur.start == 1000 && ur.end == 1999, "uid range");
		}
		CHECK(t.tb[FRA_DST] && mnl_attr_get_payload_len(t.tb[FRA_DST]) == 16, "v6 FRA_DST");
		CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, &back), 0, "parse back");
		CHECK(rule_eq(&r, &back), "round trip");
	}
	OK("rule: uidrange 1000-1999 to 2001:db8::/32 (IPv6): fib_rule_uid_range, 16-byte FRA_DST");

	/* protocol 0 is not sent; fwmask 0 is sent as all ones */
	r = rule0(AF_INET, 1, 100);
	r.protocol = 0;
	r.has_fwmark = true;
	r.fwmark = 7;
	len = tp_nl_build_rule(buf, sizeof(buf), RTM_NEWRULE, 15, &r);
	if ((nlh = walk(len, sizeof(*frh), &t))) {
		CHECK(!t.tb[FRA_PROTOCOL], "no FRA_PROTOCOL");
		CHECK(t.tb[FRA_FWMASK] && mnl_attr_get_u32(t.tb[FRA_FWMASK]) == 0xffffffffu,
		      "mask all ones");
	}
	OK("rule: protocol 0 -> no FRA_PROTOCOL; fwmask 0 -> 0xffffffff");

	{
		struct tp_nl_rule bad = rule0(AF_INET, 1, 100);

		CHECK_EQ(tp_nl_build_rule(buf, 100, RTM_NEWRULE, 1, &bad), -EINVAL, "cap");
		CHECK_EQ(tp_nl_build_rule(buf, sizeof(buf), RTM_NEWROUTE, 1, &bad), -EINVAL,
		         "type");
		CHECK_EQ(tp_nl_build_rule(buf, sizeof(buf), RTM_NEWRULE, 1, NULL), -EINVAL, "NULL");
		bad.table = 0;
		CHECK_EQ(tp_nl_build_rule(buf, sizeof(buf), RTM_NEWRULE, 1, &bad), -EINVAL,
		         "table 0");
		bad = rule0(AF_UNSPEC, 1, 100);
		CHECK_EQ(tp_nl_build_rule(buf, sizeof(buf), RTM_NEWRULE, 1, &bad), -EINVAL,
		         "family");
		bad = rule0(AF_INET, 1, 100);
		bad.suppress_prefixlen = 33;
		CHECK_EQ(tp_nl_build_rule(buf, sizeof(buf), RTM_NEWRULE, 1, &bad), -EINVAL,
		         "suppress 33 on v4");
		bad = rule0(AF_INET, 1, 100);
		bad.has_uid = true;
		bad.uid_lo = 5;
		bad.uid_hi = 4;
		CHECK_EQ(tp_nl_build_rule(buf, sizeof(buf), RTM_NEWRULE, 1, &bad), -EINVAL,
		         "uid 5-4");
		bad = rule0(AF_INET, 1, 100);
		bad.has_dst = true;
		bad.dst = cidr("fd00::/8");
		CHECK_EQ(tp_nl_build_rule(buf, sizeof(buf), RTM_NEWRULE, 1, &bad), -EINVAL,
		         "v6 dst in a v4 rule");
	}
	OK("rule builder refuses a small buffer, wrong type, NULL, table 0, AF_UNSPEC, "
	   "suppress_prefixlength 33 on IPv4, uid range 5-4, a v6 dst in a v4 rule");
}

/* The rule parser on what a dump could contain. */
TP_TEST(parse_rule)
{
	struct tp_nl_rule r = rule0(AF_INET, 29803, 29808), back;
	struct nlmsghdr *nlh = (void *)buf;
	struct fib_rule_hdr *frh;
	int len, bad = 0;

	r.invert = true;
	r.has_fwmark = true;
	r.fwmark = 0x7470;
	r.fwmask = 0xffffffffu;
	len = tp_nl_build_rule(buf, sizeof(buf), RTM_NEWRULE, 1, &r);
	for (int cut = 0; cut < len; cut++)
		if (tp_nl_parse_rule(buf, (size_t)cut, &back) != -EBADMSG)
			bad++;
	CHECK_EQ(bad, 0, "truncations");
	OK("parse_rule: every truncation of a rule message -> -EBADMSG");

	nlh->nlmsg_len = (uint32_t)len - 4; /* the last attribute (u8, 5 bytes) cut short */
	CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, &back), -EBADMSG, "cut attribute");
	nlh->nlmsg_len = (uint32_t)len;
	nlh->nlmsg_type = RTM_NEWROUTE;
	CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, &back), -ENOENT, "route message");
	nlh->nlmsg_type = RTM_NEWRULE;
	frh = mnl_nlmsg_get_payload(nlh);
	frh->family = 128; /* RTNL_FAMILY_IPMR */
	CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, &back), -ENOENT, "ipmr family");
	frh->family = AF_INET;
	frh->action = FR_ACT_GOTO;
	CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, &back), -ENOENT, "goto");
	frh->action = FR_ACT_TO_TBL;
	frh->dst_len = 8; /* but no FRA_DST */
	CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, &back), -EBADMSG, "dst_len without FRA_DST");
	frh->dst_len = 33;
	CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, &back), -EBADMSG, "dst_len 33");
	frh->dst_len = 0;
	CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, &back), 0, "restored");
	CHECK_EQ(tp_nl_parse_rule(buf, (size_t)len, NULL), -EINVAL, "NULL out");
	CHECK_EQ(tp_nl_parse_rule(NULL, 64, &back), -EBADMSG, "NULL msg");
	OK("parse_rule: another type or family or action -> -ENOENT; dst_len without FRA_DST, "
	   "dst_len 33, NULL -> errors");

	/* what a kernel dump looks like: FRA_SUPPRESS_PREFIXLEN -1, no mask,
	 * an FRA_PROTOCOL of 4 bytes is malformed, an unknown attribute ok */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWRULE;
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = AF_INET;
	frh->table = 100;
	frh->action = FR_ACT_TO_TBL;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, 100);
	mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, 0xffffffffu);
	mnl_attr_put_u32(nlh, FRA_FWMARK, 7);
	mnl_attr_put_u32(nlh, 60, 1);
	CHECK_EQ(tp_nl_parse_rule(buf, nlh->nlmsg_len, &back), 0, "dump message");
	CHECK(back.table == 100 && back.priority == 100 && back.suppress_prefixlen == -1 &&
	              back.has_fwmark && back.fwmark == 7 && back.fwmask == 0xffffffffu &&
	              back.protocol == 0 && !back.invert,
	      "fields");
	mnl_attr_put_u32(nlh, FRA_PROTOCOL, TP_NL_PROTO);
	CHECK_EQ(tp_nl_parse_rule(buf, nlh->nlmsg_len, &back), -EBADMSG, "u32 FRA_PROTOCOL");
	OK("parse_rule: a dump-style rule (table in the header, suppress -1, mark without mask, "
	   "unknown attribute) parses; a 4-byte FRA_PROTOCOL is -EBADMSG");
}

TP_TEST(route_proto_dump)
{
	struct tp_cidr def6 = cidr("::/0"), d4 = cidr("198.19.7.7/16"), got;
	struct attrs t;
	const struct nlmsghdr *nlh;
	const struct rtmsg *rtm;
	uint32_t table;
	uint8_t proto;
	int oif, len, bad = 0;

	len = tp_nl_build_route_proto(buf, sizeof(buf), RTM_NEWROUTE, 3, 9, &def6, 29808,
	                              TP_NL_PROTO);
	if ((nlh = walk(len, sizeof(*rtm), &t))) {
		rtm = mnl_nlmsg_get_payload(nlh);
		CHECK_EQ(rtm->rtm_protocol, TP_NL_PROTO, "rtm_protocol");
		CHECK_EQ(rtm->rtm_family, AF_INET6, "family");
		CHECK(!t.tb[RTA_DST], "default: no RTA_DST");
		CHECK(t.tb[RTA_TABLE] && mnl_attr_get_u32(t.tb[RTA_TABLE]) == 29808, "table");
		CHECK_EQ(tp_nl_parse_route(buf, (size_t)len, &got, &table, &proto, &oif), 0,
		         "parse");
		CHECK(got.family == AF_INET6 && got.prefix == 0 && table == 29808 &&
		              proto == TP_NL_PROTO && oif == 9,
		      "parsed");
	}
	OK("route: default dev #9 table 29808 proto 0x74 (IPv6) builds and parses back");
	CHECK_EQ(tp_nl_build_route_proto(buf, sizeof(buf), RTM_NEWROUTE, 3, 0, &d4, 1, 1), -EINVAL,
	         "ifindex 0");
	len = tp_nl_build_route(buf, sizeof(buf), RTM_NEWROUTE, 4, 2, &d4, 0);
	CHECK_EQ(tp_nl_parse_route(buf, (size_t)len, &got, &table, &proto, &oif), 0, "parse");
	CHECK(got.prefix == 16 && got.addr[2] == 0 && got.addr[3] == 0 && table == RT_TABLE_MAIN &&
	              proto == RTPROT_STATIC && oif == 2,
	      "static route parsed");
	OK("route: tp_nl_build_route stays RTPROT_STATIC; ifindex 0 refused by the proto builder");
	for (int cut = 0; cut < len; cut++)
		if (tp_nl_parse_route(buf, (size_t)cut, &got, &table, &proto, &oif) != -EBADMSG)
			bad++;
	CHECK_EQ(bad, 0, "truncations");
	((struct nlmsghdr *)(void *)buf)->nlmsg_type = RTM_NEWRULE;
	CHECK_EQ(tp_nl_parse_route(buf, (size_t)len, &got, &table, &proto, &oif), -ENOENT,
	         "not a route");
	OK("parse_route: every truncation -> -EBADMSG, a rule message -> -ENOENT");

	len = tp_nl_build_dump(buf, sizeof(buf), RTM_GETRULE, 5, AF_INET6);
	if ((nlh = walk(len, sizeof(struct fib_rule_hdr), &t))) {
		CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP, "dump flags");
		CHECK_EQ(((const struct fib_rule_hdr *)mnl_nlmsg_get_payload(nlh))->family,
		         AF_INET6, "family");
		CHECK_EQ(t.count, 0, "no attributes");
	}
	len = tp_nl_build_dump(buf, sizeof(buf), RTM_GETROUTE, 6, AF_INET);
	if ((nlh = walk(len, sizeof(struct rtmsg), &t)))
		CHECK_EQ(((const struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_family, AF_INET,
		         "family");
	CHECK_EQ(tp_nl_build_dump(buf, sizeof(buf), RTM_GETADDR, 1, AF_INET), -EINVAL, "type");
	OK("dump requests: REQUEST|DUMP with the family in the fixed header; other types "
	   "refused");
}

TP_TEST(rule_format)
{
	struct tp_nl_rule r = rule0(AF_INET, 29803, 29808);
	char s[160];

	r.invert = true;
	r.has_fwmark = true;
	r.fwmark = 0x7470;
	tp_nl_rule_format(&r, s, sizeof(s));
	CHECK(!strcmp(s, "not from all fwmark 0x7470 lookup 29808 pref 29803 proto 116 (IPv4)"),
	      "format: %s", s);
	tp_nl_rule_format(&r, s, 10);
	CHECK(strlen(s) == 9, "truncated");
	OK("rule format: 'not from all fwmark 0x7470 lookup 29808 pref 29803 proto 116 (IPv4)', "
	   "truncates safely");
}
