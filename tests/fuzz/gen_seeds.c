/* Writes the seed corpora of the fuzz targets (committed under corpus/):
 *   gen_seeds <corpus/packet> <corpus/netlink>
 * Packets come from the unit tests' builder (correct checksums), netlink
 * replies and requests from tp_nl_build_* and hand-made NLMSG_ERRORs. Run it
 * again after changing a builder; the output is deterministic. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>

#include "../unit/pktbuild.h"
#include "tunplug/netlink.h"

static int failed;

static void put(const char *dir, const char *name, const void *a, size_t alen, const void *b,
                size_t blen)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen)) {
		perror(path);
		failed = 1;
	}
	if (f)
		fclose(f);
}

static void packets(const char *dir)
{
	static uint8_t p[2048];
	size_t n;

	n = pb_build(p, AF_INET, IPPROTO_TCP, 0, 0x02);
	put(dir, "v4-tcp-syn", p, n, NULL, 0);
	n = pb_build(p, AF_INET, IPPROTO_TCP, 200, 0x18);
	put(dir, "v4-tcp-data", p, n, NULL, 0);
	n = pb_build(p, AF_INET, IPPROTO_UDP, 31, 0);
	put(dir, "v4-udp", p, n, NULL, 0);
	n = pb_build(p, AF_INET, IPPROTO_ICMP, 56, 0);
	put(dir, "v4-icmp-echo", p, n, NULL, 0);
	n = pb_build(p, AF_INET6, IPPROTO_TCP, 0, 0x12);
	put(dir, "v6-tcp-synack", p, n, NULL, 0);
	n = pb_build(p, AF_INET6, IPPROTO_UDP, 100, 0);
	put(dir, "v6-udp", p, n, NULL, 0);
	n = pb_build(p, AF_INET6, IPPROTO_ICMPV6, 56, 0);
	put(dir, "v6-icmpv6-echo", p, n, NULL, 0);
	n = pb_build(p, AF_INET6, IPPROTO_TCP, 12, 0x02); /* 12 bytes of options */
	p[40 + 12] = 8 << 4;
	pb_fix_l4(p);
	put(dir, "v6-tcp-options", p, n, NULL, 0);
	n = pb_build(p + 4, AF_INET, IPPROTO_UDP, 8, 0) + 4; /* IHL 6 */
	memmove(p, p + 4, 20);
	memset(p + 20, 1, 4);
	p[0] = 0x46;
	pb_put16(p + 2, (uint16_t)n);
	pb_fix_ip(p);
	pb_fix_l4(p);
	put(dir, "v4-options", p, n, NULL, 0);
	n = pb_build(p, AF_INET, IPPROTO_UDP, 40, 0);
	pb_put16(p + 6, 0x2000);
	pb_fix_ip(p);
	put(dir, "v4-fragment", p, n, NULL, 0);
	n = pb_build(p, AF_INET6, IPPROTO_TCP, 8, 0x10);
	p[6] = 0; /* hop-by-hop */
	put(dir, "v6-hopbyhop", p, n, NULL, 0);
	n = pb_build(p, AF_INET, IPPROTO_TCP, 30, 0x11);
	memset(p + n, 0, 14); /* padding after the total length */
	put(dir, "v4-tcp-padded", p, n + 14, NULL, 0);
}

/* NLMSG_ERROR for seq into b; returns its length. */
static size_t err_msg(void *b, uint32_t seq, int error)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b);
	struct nlmsgerr *e;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = seq;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = error;
	e->msg.nlmsg_len = 40;
	e->msg.nlmsg_type = RTM_NEWROUTE;
	e->msg.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	e->msg.nlmsg_seq = seq;
	return nlh->nlmsg_len;
}

static void netlink(const char *dir)
{
	static _Alignas(struct nlmsghdr) char b[2048];
	uint32_t seq = 0x1234;
	struct tp_cidr c;
	struct nlmsghdr *nlh;
	size_t n;
	int len;

	n = err_msg(b, seq, 0);
	put(dir, "ack", &seq, 4, b, n);
	n = err_msg(b, seq, -EEXIST);
	put(dir, "error-eexist", &seq, 4, b, n);
	n = err_msg(b, seq - 1, -ENODEV);
	n += err_msg(b + n, seq, 0);
	put(dir, "stale-then-ack", &seq, 4, b, n);
	n = err_msg(b, seq + 7, 0);
	put(dir, "other-seq", &seq, 4, b, n);
	n = err_msg(b, seq, 0);
	put(dir, "ack-truncated", &seq, 4, b, n - 3);
	nlh = mnl_nlmsg_put_header(b);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI;
	nlh->nlmsg_seq = seq;
	mnl_nlmsg_put_extra_header(nlh, 4);
	put(dir, "done", &seq, 4, b, nlh->nlmsg_len);

	tp_cidr_parse("198.18.0.1/15", &c);
	len = tp_nl_build_addr(b, sizeof(b), RTM_NEWADDR, seq, 7, &c);
	put(dir, "newaddr-v4", &seq, 4, b, (size_t)len);
	tp_cidr_parse("fd00::1/64", &c);
	len = tp_nl_build_addr(b, sizeof(b), RTM_NEWADDR, seq, 7, &c);
	put(dir, "newaddr-v6", &seq, 4, b, (size_t)len);
	tp_cidr_parse("198.19.0.0/16", &c);
	len = tp_nl_build_route(b, sizeof(b), RTM_NEWROUTE, seq, 7, &c, 0);
	put(dir, "newroute-v4", &seq, 4, b, (size_t)len);
	len = tp_nl_build_link(b, sizeof(b), seq, 7, 1400, 1);
	/* a request followed by its ack, as a nested-attribute-free dump */
	n = (size_t)len + err_msg(b + len, seq, 0);
	put(dir, "newlink-then-ack", &seq, 4, b, n);
	/* a route with a nested RTA_MULTIPATH-like attribute */
	len = tp_nl_build_route(b, sizeof(b), RTM_NEWROUTE, seq, 7, &c, 100);
	nlh = (void *)b;
	{
		struct nlattr *nest = mnl_attr_nest_start(nlh, RTA_MULTIPATH);
		mnl_attr_put_u32(nlh, RTA_OIF, 9);
		mnl_attr_nest_end(nlh, nest);
	}
	put(dir, "newroute-nested", &seq, 4, b, nlh->nlmsg_len);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: gen_seeds <packet corpus dir> <netlink corpus dir>\n");
		return 2;
	}
	packets(argv[1]);
	netlink(argv[2]);
	return failed;
}
