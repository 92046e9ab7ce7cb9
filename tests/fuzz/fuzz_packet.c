/* SPDX-License-Identifier: MIT */
/* libFuzzer target: tp_pkt_parse on arbitrary bytes, with and without
 * checksum verification. Invariants: nothing is read outside the input
 * (ASan), and an accepted packet's offsets and pointers lie inside it. The
 * optimised checksum is also compared with a naive reference. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tunplug/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t naive_csum(const uint8_t *p, size_t len)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint64_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint64_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void check_pkt(const struct tp_pkt *p, const uint8_t *data, size_t size)
{
	size_t alen = p->family == AF_INET ? 4 : 16;

	if (p->family != AF_INET && p->family != AF_INET6)
		abort();
	if (p->len > size || p->l4_off > p->len || (size_t)p->l4_off + p->l4_len != p->len)
		abort();
	if (p->data_off < p->l4_off || p->data_off > p->len)
		abort();
	if (p->src < data || p->src + alen > data + p->l4_off)
		abort();
	if (p->dst < data || p->dst + alen > data + p->l4_off)
		abort();
	switch (p->proto) {
	case IPPROTO_TCP:
		if (p->data_off < p->l4_off + 20u)
			abort();
		break;
	case IPPROTO_UDP:
		if (p->data_off != p->l4_off + 8u || p->tcp_flags || p->seq || p->ack)
			abort();
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (p->data_off != p->len || p->sport || p->dport || p->l4_len < 8)
			abort();
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tp_pkt a, b;
	enum tp_drop ra, rb;

	ra = tp_pkt_parse(data, size, 0, &a);
	rb = tp_pkt_parse(data, size, TP_PKT_VERIFY_CSUM, &b);
	if ((unsigned)ra >= TP_DROP__COUNT || (unsigned)rb >= TP_DROP__COUNT)
		abort();
	if (ra == TP_DROP_NONE)
		check_pkt(&a, data, size);
	if (rb == TP_DROP_NONE) {
		check_pkt(&b, data, size);
		/* verifying can only drop more, never parse differently */
		if (ra != TP_DROP_NONE || memcmp(&a, &b, sizeof(a)) != 0)
			abort();
	}
	if (ra != TP_DROP_NONE && rb != ra)
		abort(); /* a structural drop is the same either way */
	if (tp_csum_finish(tp_csum_add(0, data, size)) != naive_csum(data, size))
		abort();
	return 0;
}
