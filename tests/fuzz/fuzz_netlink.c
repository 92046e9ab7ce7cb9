/* SPDX-License-Identifier: MIT */
/* libFuzzer target: rtnetlink reply parsing. Input = 4 bytes of seq, then
 * one datagram as the kernel might send it. tp_nl_parse_ack must return 0,
 * -EBADMSG or a plausible -errno, and never read outside the datagram; the
 * datagram's attributes are then walked with libmnl under the same rule
 * (nlmsg_len checked unsigned, as tp_nl_parse_ack does), and every message
 * goes through the rule/route dump parsers and the link reply parser. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tunplug/netlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int attr_cb(const struct nlattr *a, void *arg)
{
	unsigned *sum = arg;
	const uint8_t *p = mnl_attr_get_payload(a);
	uint16_t n = mnl_attr_get_payload_len(a);

	/* touch every payload byte: ASan proves it is inside the buffer */
	for (uint16_t i = 0; i < n; i++)
		*sum += p[i];
	if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		*sum += mnl_attr_get_u32(a);
	if (mnl_attr_type_valid(a, 64) > 0 && mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
		mnl_attr_parse_nested(a, attr_cb, arg);
	return MNL_CB_OK;
}

static size_t fixed_hdr(uint16_t type)
{
	switch (type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
	case RTM_GETLINK:
		return sizeof(struct ifinfomsg);
	case RTM_NEWADDR:
	case RTM_DELADDR:
	case RTM_GETADDR:
		return sizeof(struct ifaddrmsg);
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
	case RTM_GETROUTE:
		return sizeof(struct rtmsg);
	case RTM_NEWRULE:
	case RTM_DELRULE:
	case RTM_GETRULE:
		return sizeof(struct fib_rule_hdr);
	default:
		return 0;
	}
}

/* The dump parsers (--auto-route's stale cleanup) on one message: results
 * in range, and a parsed rule the builder accepts parses back the same. */
static void dump_parsers(const struct nlmsghdr *nlh, size_t left)
{
	_Alignas(struct nlmsghdr) static char again[1024];
	struct tp_nl_rule r, r2;
	struct tp_nl_link l;
	struct tp_cidr dst;
	uint32_t table;
	uint8_t proto;
	int oif, k;

	k = tp_nl_parse_rule(nlh, left, &r);
	if (k != 0 && k != -ENOENT && k != -EBADMSG)
		abort();
	if (k == 0) {
		if ((r.family != AF_INET && r.family != AF_INET6) || r.suppress_prefixlen < -1 ||
		    r.suppress_prefixlen > 128 || (r.has_dst && r.dst.prefix > 128))
			abort();
		k = tp_nl_build_rule(again, sizeof(again), RTM_DELRULE, 1, &r);
		if (k > 0) {
			if (tp_nl_parse_rule(again, (size_t)k, &r2) != 0 ||
			    r2.priority != r.priority || r2.table != r.table ||
			    r2.invert != r.invert || r2.protocol != r.protocol ||
			    r2.has_uid != r.has_uid || r2.uid_lo != r.uid_lo ||
			    r2.uid_hi != r.uid_hi ||
			    r2.suppress_prefixlen != r.suppress_prefixlen ||
			    r2.has_fwmark != r.has_fwmark || r2.fwmark != r.fwmark ||
			    r2.has_dst != r.has_dst || r2.dst.prefix != r.dst.prefix)
				abort();
		}
	}
	k = tp_nl_parse_route(nlh, left, &dst, &table, &proto, &oif);
	if (k != 0 && k != -ENOENT && k != -EBADMSG)
		abort();
	if (k == 0 && dst.prefix > (dst.family == AF_INET ? 32 : 128))
		abort();
	k = tp_nl_parse_link(nlh, left, &l);
	if (k != 0 && k != -ENOENT && k != -EBADMSG)
		abort();
	if (k == 0 && ((!l.has_txqlen && l.txqlen) || (!l.has_stats && l.tx_dropped)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seq = 0;
	uint32_t *buf;
	size_t len;
	int r, n;
	const struct nlmsghdr *nlh;
	unsigned sum = 0;

	if (size >= 4) {
		memcpy(&seq, data, 4);
		data += 4;
		size -= 4;
	}
	/* an exact-size, 4-byte aligned copy, like a recv buffer */
	len = size;
	buf = malloc(len ? (len + 3) & ~(size_t)3 : 4);
	if (!buf)
		return 0;
	memcpy(buf, data, len);
	r = tp_nl_parse_ack(buf, len, seq);
	if (r > 0 || r < -4095)
		abort();
	/* pure: the same input gives the same answer */
	if (tp_nl_parse_ack(buf, len, seq) != r)
		abort();

	n = (int)(len > 0x7fffffff ? 0x7fffffff : len);
	for (nlh = (const void *)buf; mnl_nlmsg_ok(nlh, n) && nlh->nlmsg_len <= (uint32_t)n;
	     nlh = mnl_nlmsg_next(nlh, &n)) {
		size_t hdr = fixed_hdr(nlh->nlmsg_type);

		dump_parsers(nlh, (size_t)n);
		if (mnl_nlmsg_get_payload_len(nlh) < hdr)
			continue;
		mnl_attr_parse(nlh, (unsigned)hdr, attr_cb, &sum);
	}
	free(buf);
	return (int)(sum & 0);
}
