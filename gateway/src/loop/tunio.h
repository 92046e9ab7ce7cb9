/* SPDX-License-Identifier: MIT */
/* tunplug — loop glue: the tun device on the libuv loop (reads split into
 * segments for the stack, the stack's output coalesced into one write per
 * loop iteration) and lwIP's timers. */
#ifndef TUNPLUG_GW_TUNIO_H
#define TUNPLUG_GW_TUNIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "options/options.h"
#include "stats/stats.h"
#include "tunplug/ackthin.h"
#include "tunplug/offload.h"
#include "tunplug/tun.h"

struct tp_tunio {
	uv_loop_t *loop;
	struct tp_tun_counters *st; /* borrowed */
	struct tp_tun tun;
	unsigned mtu;
	bool stopping;

	uv_poll_t poll;
	uv_check_t flush_check; /* writes the coalescing batch once per iteration */
	uv_timer_t stack_timer;
	unsigned handles_live; /* handles above initialised and not yet closed */

	uint8_t *rxbuf;  /* one tun read: [vnet header] packet up to 64 KiB */
	uint8_t *segbuf; /* segments of one split super-packet */
	struct tp_seg *segs;
	struct tp_gro *gro;    /* vnet: this iteration's output packets */
	unsigned gro_kinds;    /* TP_GRO_* still enabled */
	char offload_desc[96]; /* "csum tso4 tso6 uso" or "off (why)" */
	/* with the batch: the stack's newest pure ACK, held until the next
	 * packet or the batch's flush; a newer ACK of the same flow replaces
	 * it (see ackthin.h), so one loop iteration sends one per flow run */
	struct tp_ack_hold ack;

	/* called after every lwIP timer tick (the embedding's snapshot) */
	void (*on_tick)(void *ud);
	void *tick_ud;
};

/* A closed t (nothing open, nothing to free): what tp_tunio_close accepts
 * before tp_tunio_open ran. */
void tp_tunio_init(struct tp_tunio *t);

/* Open (or adopt, o->tun_fd) the tun and set up offloads and buffers; t is
 * the caller's, zeroed here; st and loop are borrowed for t's life. Returns
 * 0 or -errno after a message on stderr. tp_tunio_close undoes it, also
 * after a failure. */
int tp_tunio_open(struct tp_tunio *t, uv_loop_t *loop, struct tp_tun_counters *st,
                  const struct tp_options *o);

/* The stack's output callback (ctx = t). */
int tp_tunio_output(void *ctx, const void *buf, size_t len);
/* The stack's output_gso callback (ctx = t): one TCP super-segment, written
 * at once with a TSO vnet header (split here if the kernel refuses that),
 * after what the batch holds. buf is borrowed for the call. Returns 0 or
 * -errno. */
int tp_tunio_output_gso(void *ctx, const void *buf, size_t len, unsigned gso_size);

/* Start reading the tun, the per-iteration flush and lwIP's timers;
 * on_tick(ud) (may be NULL) runs after every lwIP timer tick. Returns 0 or
 * a libuv error. */
int tp_tunio_start(struct tp_tunio *t, void (*on_tick)(void *ud), void *ud);

/* Write out what the stack emitted since the last flush. */
void tp_tunio_flush(struct tp_tunio *t);

/* Stop: flush, then close the loop handles (asynchronously). Output after
 * this is written directly. */
void tp_tunio_stop(struct tp_tunio *t);

/* Close the tun (if open) and free the buffers. */
void tp_tunio_close(struct tp_tunio *t);

/* The tun device (name, ifindex, flags). */
const struct tp_tun *tp_tunio_tun(const struct tp_tunio *t);
/* The MTU in use; the offloads as text ("csum tso4 tso6 uso" or "off
 * (why)"); the TP_GRO_* kinds still on. */
unsigned tp_tunio_mtu(const struct tp_tunio *t);
const char *tp_tunio_offload_desc(const struct tp_tunio *t);
unsigned tp_tunio_gro_kinds(const struct tp_tunio *t);
/* Whether TCP leaves with a partial checksum (a vnet batch is in use). */
bool tp_tunio_tcp_csum_partial(const struct tp_tunio *t);
/* Whether the stack may send TCP super-segments (TSO writes are on). */
bool tp_tunio_tcp_tso(const struct tp_tunio *t);

#endif
