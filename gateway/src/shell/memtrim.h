/* SPDX-License-Identifier: MIT */
/* tunplug — giving the memory of closed flows back to the kernel.
 *
 * Every flow's memory (lwIP's PCB and segments, struct tp_flow, buffers)
 * comes from malloc. When many flows close, glibc keeps the freed chunks in
 * its heap for reuse: only free memory at the very top of the heap goes
 * back by itself, and a drain leaves it scattered below flows that are
 * still open, so the process's RSS stays at its peak. malloc_trim(0) hands
 * every whole free page back (madvise) in every arena.
 *
 * The policy (tp_memtrim_due, pure): once a second the shell gives it the
 * number of live flows; it keeps the peak since the last trim and asks for
 * a trim when the count has fallen to half that peak or below, by at least
 * TP_MEMTRIM_MIN_DROP flows, and no trim ran in the last
 * TP_MEMTRIM_INTERVAL_MS. After a trim the peak starts again from the
 * count. So a steady or growing gateway never trims, a drain of N flows
 * trims a few times (at most one per interval) until the count settles.
 * A trim costs a walk of the heap's free lists: milliseconds for hundreds
 * of MiB. */
#ifndef TUNPLUG_GW_MEMTRIM_H
#define TUNPLUG_GW_MEMTRIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TP_MEMTRIM_CHECK_MS 1000u    /* how often the shell looks */
#define TP_MEMTRIM_INTERVAL_MS 5000u /* at most one trim per interval */
#define TP_MEMTRIM_MIN_DROP 64u      /* flows: smaller drops are not worth it */

struct tp_memtrim {
	uint64_t peak;    /* the most flows since the last trim */
	uint64_t last_ms; /* when the last trim was asked for */
	uint64_t trims;   /* how many were */
};

/* Start m (the caller's): no peak, no trim yet. */
void tp_memtrim_init(struct tp_memtrim *m);

/* Pure: flows live at now_ms (a monotonic clock). True when a trim is due
 * now; m then counts it as done (peak = flows, last_ms = now_ms). */
bool tp_memtrim_due(struct tp_memtrim *m, uint64_t flows, uint64_t now_ms);

/* Give the heap's free pages back to the kernel: malloc_trim(0) with
 * glibc; a no-op (false) with a C library that has no malloc_trim. True
 * when memory was released. */
bool tp_memtrim_release(void);

/* How much free memory may stay at the top of the heap before free() gives
 * it back by itself (glibc's M_TRIM_THRESHOLD, 128 KiB by default). TCP
 * super-segments (lwIP patch 0012) are 64 KiB allocations made and freed
 * with every few ACKs: at the default, free() shrank the heap and the next
 * segment grew it again, hundreds of brk calls a second and a page fault
 * for every page of every new segment. TP_MEMTRIM_KEEP_TOP keeps that much;
 * large drains still go back through tp_memtrim_release. Process-wide; call
 * once at start. True when set (false without glibc). */
#define TP_MEMTRIM_KEEP_TOP (4u << 20)
bool tp_memtrim_keep_top(size_t bytes);

#endif
