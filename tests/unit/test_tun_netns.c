/* SPDX-License-Identifier: MIT */
/* tun open/adopt and the netlink round trip on a real tun device, inside a
 * private network namespace of this process. Needs root (CAP_NET_ADMIN) and
 * /dev/net/tun; otherwise every case is skipped (exit 77, ctest SKIP). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tunplug/netlink.h"
#include "tunplug/tun.h"

static int have_sysfs; /* a /sys mounted for our private netns */

/* Open a tun fd with arbitrary flags, bypassing tp_tun_open. */
static int raw_tun(const char *name, short flags)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = flags;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

TP_TEST(open_adopt)
{
	struct tp_tun t, a, b;
	int r, fd, fl, p[2];

	r = tp_tun_open("tptest0", &t);
	CHECK_EQ(r, 0, "tp_tun_open");
	CHECK(strcmp(t.name, "tptest0") == 0, "name %s", t.name);
	CHECK_EQ(t.ifindex, (int)if_nametoindex("tptest0"), "ifindex");
	CHECK_EQ(t.mtu, 1500, "default mtu");
	CHECK(!t.adopted, "not adopted");
	fl = fcntl(t.fd, F_GETFL);
	CHECK(fl >= 0 && (fl & O_NONBLOCK), "O_NONBLOCK");
	fl = fcntl(t.fd, F_GETFD);
	CHECK(fl >= 0 && (fl & FD_CLOEXEC), "FD_CLOEXEC");
	OK("tun: open tptest0 -> name, ifindex %d, mtu 1500, non-blocking, close-on-exec",
	   t.ifindex);

	fd = dup(t.fd);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	r = tp_tun_adopt(fd, &a);
	CHECK_EQ(r, 0, "adopt dup of the same fd");
	CHECK(strcmp(a.name, "tptest0") == 0 && a.ifindex == t.ifindex && a.mtu == 1500,
	      "adopted name/ifindex/mtu");
	CHECK(a.adopted && a.fd == fd, "adopted flag and fd");
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK, "adopt set O_NONBLOCK");
	tp_tun_close(&a);
	CHECK_EQ(a.fd, -1, "close resets fd");
	tp_tun_close(&a);
	OK("tun: adopt a dup of the fd -> same name/ifindex/mtu, O_NONBLOCK set; close twice is "
	   "safe");

	CHECK(pipe(p) == 0, "pipe");
	r = tp_tun_adopt(p[0], &b);
	CHECK(r < 0, "adopt of a pipe gave %d", r);
	CHECK_EQ(b.fd, -1, "no fd on failure");
	CHECK(fcntl(p[0], F_GETFD) >= 0, "fd still open after a failed adopt");
	CHECK(!(fcntl(p[0], F_GETFL) & O_NONBLOCK), "flags untouched after a failed adopt");
	close(p[0]);
	close(p[1]);
	OK("tun: adopt of a pipe -> %d (%s), fd left open and unchanged", r, strerror(-r));

	CHECK_EQ(tp_tun_adopt(-1, &b), -EBADF, "adopt -1");
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC); /* never attached */
	r = tp_tun_adopt(fd, &b);
	CHECK(r < 0, "adopt unattached tun fd gave %d", r);
	close(fd);
	OK("tun: adopt -1 -> -EBADF; adopt of an unattached /dev/net/tun fd -> %d", r);

	fd = raw_tun("tptap0", IFF_TAP | IFF_NO_PI);
	CHECK(fd >= 0, "tap");
	CHECK_EQ(tp_tun_adopt(fd, &b), -EPROTONOSUPPORT, "tap");
	close(fd);
	OK("tun: adopt of a TAP -> -EPROTONOSUPPORT");
	fd = raw_tun("tpvnet0", IFF_TUN | IFF_NO_PI | IFF_VNET_HDR);
	CHECK(fd >= 0, "tun with vnet header");
	CHECK_EQ(tp_tun_adopt(fd, &b), 0, "adopt IFF_VNET_HDR");
	CHECK(b.vnet && b.fd == fd, "adopted with vnet");
	CHECK(b.offloads == 0 || (b.offloads & 0x7u) == 0x7u, "offloads %#x", b.offloads);
	tp_tun_close(&b);
	OK("tun: adopt of a tun with IFF_VNET_HDR -> vnet, offloads %#x", b.offloads);

	/* TUNGETIFF always reports bit 0x1000 for a tun (IFF_NOFILTER), so a
	 * missing IFF_NO_PI is only seen through this netns's /sys */
	fd = raw_tun("tppi0", IFF_TUN);
	CHECK(fd >= 0, "tun with packet info");
	if (have_sysfs) {
		CHECK_EQ(tp_tun_adopt(fd, &b), -EPROTONOSUPPORT, "no IFF_NO_PI");
		OK("tun: adopt of a tun without IFF_NO_PI -> -EPROTONOSUPPORT (via /sys "
		   "tun_flags)");
	} else {
		OK("tun: adopt of a tun without IFF_NO_PI # skip: no private /sys");
	}
	close(fd);

	r = tp_tun_open(NULL, &b);
	CHECK_EQ(r, 0, "kernel-named");
	CHECK(strncmp(b.name, "tun", 3) == 0 && b.ifindex > 0, "kernel picked %s", b.name);
	tp_tun_close(&b);
	CHECK_EQ(tp_tun_open("this-name-is-too-long", &b), -EINVAL, "long name");
	CHECK_EQ(b.fd, -1, "fd -1 on failure");
	OK("tun: open(NULL) -> kernel-chosen name; a name of IFNAMSIZ chars or more -> -EINVAL");
	tp_tun_close(&t);
}

/* ---- netlink dumps, to see what is really configured ---- */

struct want {
	int family;
	int ifindex;
	uint8_t addr[16];
	uint8_t plen;
	uint32_t table;
	int found;
};

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct want *w = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	if (ifa->ifa_family != w->family || (int)ifa->ifa_index != w->ifindex ||
	    ifa->ifa_prefixlen != w->plen)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) if (mnl_attr_get_type(a) == IFA_ADDRESS &&
	                                            mnl_attr_get_payload_len(a) ==
	                                                    (w->family == AF_INET ? 4u : 16u) &&
	                                            !memcmp(mnl_attr_get_payload(a), w->addr,
	                                                    mnl_attr_get_payload_len(a)))
	        w->found++;
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct want *w = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	int oif = 0, dst = 0;
	uint32_t table = rtm->rtm_table;

	if (rtm->rtm_family != w->family || rtm->rtm_dst_len != w->plen)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*rtm))
	{
		switch (mnl_attr_get_type(a)) {
		case RTA_OIF:
			oif = (int)mnl_attr_get_u32(a);
			break;
		case RTA_TABLE:
			table = mnl_attr_get_u32(a);
			break;
		case RTA_DST:
			dst = !memcmp(mnl_attr_get_payload(a), w->addr,
			              mnl_attr_get_payload_len(a));
			break;
		}
	}
	if (oif == w->ifindex && dst && table == w->table && rtm->rtm_protocol == RTPROT_STATIC)
		w->found++;
	return MNL_CB_OK;
}

/* Dump addresses or routes of w->family and count matches. Returns the
 * count, or -1 on a netlink failure. */
static int count(uint16_t type, struct want *w)
{
	static _Alignas(struct nlmsghdr) char b[32768];
	struct mnl_socket *s = mnl_socket_open(NETLINK_ROUTE);
	struct nlmsghdr *nlh;
	uint32_t seq = (uint32_t)time(NULL), portid;
	ssize_t n;
	int r = -1;

	if (!s || mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	portid = mnl_socket_get_portid(s);
	nlh = mnl_nlmsg_put_header(b);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	if (type == RTM_GETADDR) {
		struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
		ifa->ifa_family = (uint8_t)w->family;
	} else {
		struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
		rtm->rtm_family = (uint8_t)w->family;
	}
	if (mnl_socket_sendto(s, nlh, nlh->nlmsg_len) < 0)
		goto out;
	w->found = 0;
	while ((n = mnl_socket_recvfrom(s, b, sizeof(b))) > 0) {
		int cr = mnl_cb_run(b, (size_t)n, seq, portid,
		                    type == RTM_GETADDR ? addr_cb : route_cb, w);
		if (cr == MNL_CB_STOP) {
			r = w->found;
			break;
		}
		if (cr < 0)
			break;
	}
out:
	if (s)
		mnl_socket_close(s);
	return r;
}

static struct want want_of(const char *cidr, int ifindex, uint32_t table, bool mask)
{
	struct want w = {0};
	struct tp_cidr c;

	tp_cidr_parse(cidr, &c);
	w.family = c.family;
	w.ifindex = ifindex;
	w.plen = c.prefix;
	w.table = table;
	memcpy(w.addr, c.addr, 16);
	if (mask) /* routes are stored as networks */
		for (unsigned i = 0; i < 16; i++) {
			unsigned bits = c.prefix > i * 8 ? c.prefix - i * 8 : 0;
			w.addr[i] &= bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
		}
	return w;
}

TP_TEST(netlink)
{
	struct tp_tun t;
	struct tp_nl *nl = NULL;
	struct tp_cidr a4, a6, r4, r6;
	struct ifreq ifr;
	int s, r, v6 = access("/proc/sys/net/ipv6", F_OK) == 0;
	char expect[128];

	CHECK_EQ(tp_tun_open("tpnl0", &t), 0, "open");
	CHECK_EQ(tp_nl_open(&nl), 0, "tp_nl_open");
	if (!nl || t.fd < 0)
		return;

	CHECK_EQ(tp_nl_link_up(nl, t.ifindex, 1400), 0, "link up");
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t.name);
	CHECK(ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu == 1400, "mtu 1400 (got %d)",
	      ifr.ifr_mtu);
	CHECK(ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP), "IFF_UP");
	OK("netlink: link up with mtu 1400 (checked with SIOCGIFMTU/SIOCGIFFLAGS)");

	tp_cidr_parse("198.18.0.1/15", &a4);
	tp_cidr_parse("fd00:7::1/64", &a6);
	tp_cidr_parse("198.51.100.77/24", &r4); /* host bits set on purpose */
	tp_cidr_parse("fd01::/48", &r6);
	CHECK_EQ(tp_nl_addr_add(nl, t.ifindex, &a4), 0, "add v4 address");
	struct want wa4 = want_of("198.18.0.1/15", t.ifindex, 0, false);
	CHECK_EQ(count(RTM_GETADDR, &wa4), 1, "v4 address present");
	OK("netlink: add 198.18.0.1/15 -> present in an RTM_GETADDR dump");
	CHECK_EQ(tp_nl_addr_add(nl, t.ifindex, &a4), 0, "re-add (REPLACE)");
	OK("netlink: adding the same address again succeeds (NLM_F_REPLACE)");

	struct want wa6 = want_of("fd00:7::1/64", t.ifindex, 0, false);
	if (v6) {
		CHECK_EQ(tp_nl_addr_add(nl, t.ifindex, &a6), 0, "add v6 address");
		CHECK_EQ(count(RTM_GETADDR, &wa6), 1, "v6 address present");
		OK("netlink: add fd00:7::1/64 (nodad) -> present");
	}

	CHECK_EQ(tp_nl_route_add(nl, t.ifindex, &r4, 0), 0, "add v4 route");
	struct want wr4 = want_of("198.51.100.77/24", t.ifindex, RT_TABLE_MAIN, true);
	CHECK_EQ(count(RTM_GETROUTE, &wr4), 1, "v4 route present in main");
	OK("netlink: add route 198.51.100.77/24 -> 198.51.100.0/24 dev tpnl0 proto static in main");
	r = tp_nl_route_add(nl, t.ifindex, &r4, 0);
	CHECK_EQ(r, -EEXIST, "second add (EXCL)");
	snprintf(expect, sizeof(expect), "add route 198.51.100.77/24 dev %s table main", t.name);
	CHECK(strcmp(tp_nl_last_op(nl), expect) == 0, "last_op \"%s\"", tp_nl_last_op(nl));
	OK("netlink: adding the route again -> -EEXIST, last_op \"%s\"", tp_nl_last_op(nl));

	struct want wr6 = want_of("fd01::/48", t.ifindex, 100, true);
	if (v6) {
		CHECK_EQ(tp_nl_route_add(nl, t.ifindex, &r6, 100), 0, "add v6 route in table 100");
		CHECK_EQ(count(RTM_GETROUTE, &wr6), 1, "v6 route present in table 100");
		OK("netlink: add route fd01::/48 table 100 -> present");
	}
	/* a failed add is not journaled: undo must not try to remove it */
	CHECK_EQ(tp_nl_route_add(nl, 999999, &r4, 0), -ENODEV, "route on a missing device");
	CHECK(strstr(tp_nl_last_op(nl), "dev #999999") != NULL, "last_op names the device");
	OK("netlink: route on ifindex 999999 -> -ENODEV, last_op \"%s\"", tp_nl_last_op(nl));

	CHECK_EQ(tp_nl_undo(nl), 0, "undo");
	CHECK_EQ(count(RTM_GETADDR, &wa4), 0, "v4 address gone");
	CHECK_EQ(count(RTM_GETROUTE, &wr4), 0, "v4 route gone");
	if (v6) {
		CHECK_EQ(count(RTM_GETADDR, &wa6), 0, "v6 address gone");
		CHECK_EQ(count(RTM_GETROUTE, &wr6), 0, "v6 route gone");
	}
	OK("netlink: undo -> 0; addresses and routes gone from the dumps");
	CHECK_EQ(tp_nl_undo(nl), 0, "second undo");
	OK("netlink: second undo has nothing to do -> 0");

	/* re-deleting by hand shows the kernel agrees they are gone */
	{
		static _Alignas(struct nlmsghdr) char b[1024];
		struct mnl_socket *ms = mnl_socket_open(NETLINK_ROUTE);
		int len = tp_nl_build_addr(b, sizeof(b), RTM_DELADDR, 1234, t.ifindex, &a4);
		ssize_t n;
		mnl_socket_bind(ms, 0, MNL_SOCKET_AUTOPID);
		mnl_socket_sendto(ms, b, (size_t)len);
		n = mnl_socket_recvfrom(ms, b, sizeof(b));
		CHECK_EQ(tp_nl_parse_ack(b, (size_t)n, 1234), -EADDRNOTAVAIL, "re-delete address");
		len = tp_nl_build_route(b, sizeof(b), RTM_DELROUTE, 1235, t.ifindex, &r4, 0);
		mnl_socket_sendto(ms, b, (size_t)len);
		n = mnl_socket_recvfrom(ms, b, sizeof(b));
		CHECK_EQ(tp_nl_parse_ack(b, (size_t)n, 1235), -ESRCH, "re-delete route");
		mnl_socket_close(ms);
	}
	OK("netlink: deleting again by hand -> -EADDRNOTAVAIL / -ESRCH");

	/* undo after the device vanished: ENODEV counts as done */
	CHECK_EQ(tp_nl_addr_add(nl, t.ifindex, &a4), 0, "add again");
	CHECK_EQ(tp_nl_route_add(nl, t.ifindex, &r4, 0), 0, "route again");
	tp_tun_close(&t); /* not persistent: the device goes away */
	CHECK_EQ(tp_nl_undo(nl), 0, "undo after the device is gone");
	OK("netlink: undo after the tun device disappeared -> 0 (ENODEV/ESRCH count as done)");

	close(s);
	tp_nl_close(nl);
}

/* SIOCGIFTXQLEN: the kernel's txqueuelen of name, by another road than
 * netlink; -1 on failure. */
static int ioctl_txqlen(const char *name)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (s >= 0 && ioctl(s, SIOCGIFTXQLEN, &ifr) == 0)
		r = ifr.ifr_qlen;
	if (s >= 0)
		close(s);
	return r;
}

/* /sys/class/net/NAME/statistics/tx_dropped of this netns, or -1. */
static long long sysfs_tx_dropped(const char *name)
{
	char path[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_dropped", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

TP_TEST(txqlen_drops)
{
	struct tp_tun t;
	struct tp_nl *nl = NULL;
	struct tp_nl_link l;
	struct tp_cidr a4;
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(9)};
	uint32_t old = 0;
	int s, sent = 0, fd;

	CHECK_EQ(tp_tun_open("tptq0", &t), 0, "open");
	CHECK_EQ(tp_nl_open(&nl), 0, "tp_nl_open");
	if (!nl || t.fd < 0)
		return;
	CHECK_EQ(tp_nl_link_up(nl, t.ifindex, 0), 0, "link up");
	CHECK_EQ(tp_nl_link_get(nl, t.ifindex, &l), 0, "link get");
	CHECK_EQ(l.ifindex, t.ifindex, "ifindex");
	CHECK(l.has_txqlen && (int)l.txqlen == ioctl_txqlen("tptq0"), "txqlen %u = SIOCGIFTXQLEN",
	      l.txqlen);
	CHECK_EQ(l.mtu, 1500, "mtu");
	CHECK(l.has_stats && l.tx_dropped == 0, "stats, 0 dropped");
	OK("netlink: read link tptq0: txqueuelen %u (as SIOCGIFTXQLEN), mtu 1500, tx_dropped 0",
	   l.txqlen);
	CHECK_EQ(tp_nl_link_get(nl, 999999, &l), -ENODEV, "no such link");
	CHECK(strstr(tp_nl_last_op(nl), "read link dev #999999") != NULL, "last_op %s",
	      tp_nl_last_op(nl));
	OK("netlink: read link #999999 -> -ENODEV, last_op \"%s\"", tp_nl_last_op(nl));

	/* a 4-packet ring that nobody reads: 50 datagrams into it */
	CHECK_EQ(tp_nl_link_set_txqlen(nl, t.ifindex, 4, &old), 0, "set 4");
	CHECK_EQ(old, 500, "the tun default before");
	CHECK_EQ(ioctl_txqlen("tptq0"), 4, "SIOCGIFTXQLEN after");
	CHECK_EQ(tp_nl_link_set_txqlen(nl, t.ifindex, 4, &old), 0, "set 4 again");
	CHECK_EQ(old, 4, "old is 4 now");
	OK("netlink: txqueuelen 500 -> 4 (SIOCGIFTXQLEN agrees); setting 4 again is a no-op");
	tp_cidr_parse("198.18.7.1/24", &a4);
	CHECK_EQ(tp_nl_addr_add(nl, t.ifindex, &a4), 0, "address");
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	inet_pton(AF_INET, "198.18.7.2", &dst.sin_addr);
	for (int i = 0; s >= 0 && i < 50; i++)
		sent += sendto(s, "x", 1, 0, (struct sockaddr *)&dst, sizeof(dst)) == 1;
	if (s >= 0)
		close(s);
	CHECK_EQ(sent, 50, "sent");
	CHECK_EQ(tp_nl_link_get(nl, t.ifindex, &l), 0, "link get");
	CHECK(l.tx_dropped >= 40 && l.tx_dropped <= 50, "tx_dropped %llu of 50 into a 4-ring",
	      (unsigned long long)l.tx_dropped);
	if (have_sysfs)
		CHECK_EQ((long long)l.tx_dropped, sysfs_tx_dropped("tptq0"),
		         "the same as /sys statistics/tx_dropped");
	OK("netlink: 50 datagrams into an unread 4-packet tun queue -> tx_dropped %llu%s",
	   (unsigned long long)l.tx_dropped, have_sysfs ? " (= /sys statistics/tx_dropped)" : "");

	/* undo puts the old value back (the device is still there) */
	CHECK_EQ(tp_nl_undo(nl), 0, "undo");
	CHECK_EQ(ioctl_txqlen("tptq0"), 500, "txqueuelen restored");
	OK("netlink: undo restores txqueuelen 500");

	/* a persistent device outlives our fd: the old value is put back */
	fd = raw_tun("tptq1", IFF_TUN | IFF_NO_PI);
	CHECK(fd >= 0 && ioctl(fd, TUNSETPERSIST, 1) == 0, "persistent tptq1");
	if (fd >= 0) {
		int idx = (int)if_nametoindex("tptq1");

		close(fd);
		CHECK_EQ(tp_nl_link_set_txqlen(nl, idx, 20000, &old), 0, "set 20000");
		CHECK_EQ(ioctl_txqlen("tptq1"), 20000, "20000 set");
		CHECK_EQ(tp_nl_undo(nl), 0, "undo");
		CHECK_EQ(ioctl_txqlen("tptq1"), (int)old, "old value back");
		OK("netlink: a persistent tun without fds: txqueuelen %u -> 20000 -> undo -> %u",
		   old, old);
		fd = raw_tun("tptq1", IFF_TUN | IFF_NO_PI);
		if (fd >= 0) {
			ioctl(fd, TUNSETPERSIST, 0);
			close(fd);
		}
	}
	/* the device gone before undo: counts as done */
	CHECK_EQ(tp_nl_link_set_txqlen(nl, t.ifindex, 8000, NULL), 0, "set 8000");
	tp_tun_close(&t);
	CHECK_EQ(tp_nl_undo(nl), 0, "undo after the device is gone");
	OK("netlink: undo of a txqueuelen after the tun disappeared -> 0");
	tp_nl_close(nl);
}

/* Every case runs in a fresh network namespace of this process (and a mount
 * namespace with that netns' /sys), or is skipped (exit 77). */
static void setup(void)
{
	if (geteuid() != 0) {
		tp_test_skip("needs root");
		return;
	}
	if (access("/dev/net/tun", R_OK | W_OK) != 0) {
		tp_test_skip("no /dev/net/tun");
		return;
	}
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
		tp_test_skip("unshare(CLONE_NEWNET|CLONE_NEWNS): %s", strerror(errno));
		return;
	}
	/* a sysfs of our own netns, in our own mount namespace */
	have_sysfs = mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	             mount("sysfs", "/sys", "sysfs", 0, NULL) == 0;
}

TP_TEST_FIXTURE(setup, NULL);
