/* libFuzzer target: rtnetlink reply parsing. Input = 4 bytes of seq, then
 * one datagram as the kernel might send it. tp_nl_parse_ack must return 0,
 * -EBADMSG or a plausible -errno, and never read outside the datagram; the
 * datagram's attributes are then walked with libmnl under the same rule
 * (nlmsg_len checked unsigned, as tp_nl_parse_ack does). */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	default:
		return 0;
	}
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
		if (mnl_nlmsg_get_payload_len(nlh) < hdr)
			continue;
		mnl_attr_parse(nlh, (unsigned)hdr, attr_cb, &sum);
	}
	free(buf);
	return (int)(sum & 0);
}
