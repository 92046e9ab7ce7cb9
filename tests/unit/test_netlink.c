/* Netlink builders parsed back with libmnl, and tp_nl_parse_ack on acks,
 * errors, truncated and foreign replies. Pure: no socket is opened. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <string.h>

#include "check.h"
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

static void test_addr(void)
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

static void test_route(void)
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

static void test_link(void)
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

static void test_ack(void)
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

int main(void)
{
	test_addr();
	test_route();
	test_link();
	test_ack();
	return check_exit();
}
