/* SPDX-License-Identifier: MIT */
/* tunplug — ACK thinning (see ackthin.h). No I/O. */
#include <string.h>

#include "tunplug/ackthin.h"

size_t tp_pure_ack_tcp(const uint8_t *p, size_t len)
{
	size_t ip;

	if (len >= 40 && (p[0] >> 4) == 4 && (p[0] & 0x0f) == 5 && p[9] == 6)
		ip = 20;
	else if (len >= 60 && (p[0] >> 4) == 6 && p[6] == 6)
		ip = 40;
	else
		return 0;
	if (ip + (size_t)(p[ip + 12] >> 4) * 4 != len || p[ip + 13] != 0x10)
		return 0;
	return ip;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Same TCP flow: version, addresses and ports equal (both pure ACKs). */
static bool same_flow(const uint8_t *a, const uint8_t *b, size_t ip)
{
	if ((a[0] >> 4) != (b[0] >> 4))
		return false;
	if (ip == 20)
		return memcmp(a + 12, b + 12, 8) == 0 && memcmp(a + 20, b + 20, 4) == 0;
	return memcmp(a + 8, b + 8, 32) == 0 && memcmp(a + 40, b + 40, 4) == 0;
}

void tp_ack_release(struct tp_ack_hold *h, tp_ack_emit_fn emit, void *ctx)
{
	if (h->len) {
		size_t len = h->len;

		h->len = 0;
		emit(ctx, h->pkt, len);
	}
}

bool tp_ack_thin(struct tp_ack_hold *h, const void *pkt, size_t len, tp_ack_emit_fn emit, void *ctx)
{
	const uint8_t *p = pkt;
	size_t ip = tp_pure_ack_tcp(p, len);

	if (!ip || len > sizeof(h->pkt)) {
		tp_ack_release(h, emit, ctx); /* keep the flow's order */
		return false;
	}
	if (h->len) {
		if (h->len == len && same_flow(p, h->pkt, ip) &&
		    (int32_t)(get32(p + ip + 8) - get32(h->pkt + ip + 8)) > 0)
			h->thinned++;
		else
			tp_ack_release(h, emit, ctx);
	}
	memcpy(h->pkt, p, len);
	h->len = len;
	return true;
}
