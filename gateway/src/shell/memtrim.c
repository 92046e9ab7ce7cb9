/* SPDX-License-Identifier: MIT */
/* tunplug — giving the memory of closed flows back (see memtrim.h). */
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "shell/memtrim.h"

void tp_memtrim_init(struct tp_memtrim *m)
{
	memset(m, 0, sizeof(*m));
}

bool tp_memtrim_due(struct tp_memtrim *m, uint64_t flows, uint64_t now_ms)
{
	uint64_t drop;

	if (flows > m->peak)
		m->peak = flows;
	drop = m->peak - flows;
	if (drop < TP_MEMTRIM_MIN_DROP || drop * 2 < m->peak)
		return false;
	if (m->trims && now_ms - m->last_ms < TP_MEMTRIM_INTERVAL_MS)
		return false;
	m->peak = flows;
	m->last_ms = now_ms;
	m->trims++;
	return true;
}

bool tp_memtrim_release(void)
{
#if defined(__GLIBC__)
	return malloc_trim(0) != 0;
#else
	return false;
#endif
}

bool tp_memtrim_keep_top(size_t bytes)
{
#if defined(__GLIBC__)
	if (bytes > (size_t)0x7fffffff)
		bytes = 0x7fffffff;
	return mallopt(M_TRIM_THRESHOLD, (int)bytes) == 1;
#else
	(void)bytes;
	return false;
#endif
}
