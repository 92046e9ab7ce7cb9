/* SPDX-License-Identifier: MIT */
/* tunplug — TUN offloads: virtio_net_hdr, GSO split on read, GRO coalescing
 * on write. Pure code over caller buffers: no I/O, no syscalls, so it is
 * table-tested and fuzzed. The kernel's rules it follows: docs/tun-offload.md.
 *
 * Read path:  read() -> [vnet hdr | IP packet] -> tp_vnet_parse ->
 *             tp_gso_whole -> the TCP super-packet as one segment, or
 *             tp_gso_split -> segments -> tp_stack_input_flags(CSUM_OK?)
 * Write path: lwIP output packets -> tp_gro_add (per loop iteration) ->
 *             tp_gro_flush -> one writev per (super-)packet;
 *             lwIP's TCP super-segments -> tp_tso_write -> one writev
 *             with a TSO header (or split when refused). */
#ifndef TUNPLUG_OFFLOAD_H
#define TUNPLUG_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "tunplug/packet.h"

#define TP_VNET_HDR_LEN 10 /* struct virtio_net_hdr, little-endian on the wire */

#define TP_VNET_F_NEEDS_CSUM 0x01
#define TP_VNET_F_DATA_VALID 0x02

#define TP_GSO_NONE 0
#define TP_GSO_TCPV4 1
#define TP_GSO_UDP 3 /* legacy UFO: refused */
#define TP_GSO_TCPV6 4
#define TP_GSO_UDP_L4 5
#define TP_GSO_ECN 0x80

/* The header in host byte order. */
struct tp_vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

/* Decode the first TP_VNET_HDR_LEN bytes of buf. Returns 0 or -EINVAL
 * (len < TP_VNET_HDR_LEN). Does not validate against the packet. */
int tp_vnet_parse(const uint8_t *buf, size_t len, struct tp_vnet_hdr *h);
/* Encode h into buf[0..TP_VNET_HDR_LEN). */
void tp_vnet_emit(uint8_t *buf, const struct tp_vnet_hdr *h);

/* One segment produced by tp_gso_split: a complete IP packet. */
struct tp_seg {
	uint8_t *data;
	uint16_t len;
};

#define TP_SPLIT_FILL_CSUM 0x1u /* write full TCP/UDP checksums into every segment */

/* Validate header h against the IP packet pkt[0..len) as the kernel would
 * validate a written one (docs/tun-offload.md, "GSO on read") and split it:
 *  - gso_type NONE: one segment (pkt copied to out); with NEEDS_CSUM the
 *    partial checksum is completed when TP_SPLIT_FILL_CSUM (else left).
 *  - TCPV4/TCPV6: MSS-sized segments: seq advanced, IPv4 ID = first + i,
 *    lengths fixed, IPv4 header checksum recomputed, FIN/PSH only on the
 *    last, CWR only on the first (ECN super-packets are refused: TSO_ECN
 *    is never requested).
 *  - UDP_L4: gso_size datagrams, UDP length fixed, checksum 0 -> 0xFFFF.
 * Segments are written back to back into out[0..cap); at most max of them.
 * Returns the number of segments (>= 1), or -1 with *why set (TP_DROP_VNET_HDR,
 * TP_DROP_GSO, or a tp_pkt_parse reason for the inner packet). hdr_len from
 * the kernel is not trusted (recomputed from the headers). */
int tp_gso_split(const uint8_t *pkt, size_t len, const struct tp_vnet_hdr *h, unsigned flags,
                 uint8_t *out, size_t cap, struct tp_seg *segs, int max, enum tp_drop *why);

/* ---- TCP super-packets fed whole (read path) ---- */

/* tp_gso_whole's verdict: TP_WHOLE, or why the super-packet goes to
 * tp_gso_split instead (the first reason that applies; the header checks
 * that make INVALID come first, except that the GSO ECN bit is ECN). */
enum tp_whole {
	TP_WHOLE = 0,        /* one segment into the stack */
	TP_WHOLE_NOT_TCP,    /* gso_type is not TCPV4/TCPV6 (NONE, UDP_L4, unknown) */
	TP_WHOLE_INVALID,    /* fails a check of tp_gso_split, which drops it with its reason */
	TP_WHOLE_ECN,        /* GSO ECN bit (dropped by tp_gso_split) or TCP CWR */
	TP_WHOLE_UNVERIFIED, /* neither NEEDS_CSUM nor DATA_VALID: segments get full sums */
	TP_WHOLE_TOO_LONG,   /* IP length > 65535 (IPv6 payload > 65495): no u16 length holds it */
	TP_WHOLE_IP_OPTIONS, /* IPv4 options (the stack drops them either way) */
	TP_WHOLE_TCP_FLAGS,  /* SYN, RST or URG: per-segment semantics, never from TSO */
	TP_WHOLE__COUNT
};

/* "whole", "not_tcp", "invalid", "ecn", ...: for counters and logs. */
const char *tp_whole_name(enum tp_whole w);

/* A super-packet accepted whole. */
struct tp_whole_pkt {
	uint16_t len;  /* IP length: the segment is pkt[0..len) (trailing bytes dropped) */
	uint16_t hlen; /* IP + TCP header length */
	uint32_t segs; /* wire segments it stands for: ceil(payload / gso_size), >= 1 */
};

/* Decide whether the TCP super-packet pkt[0..len) with header h can enter
 * the stack as ONE segment (docs/tun-offload.md, "Whole TCP super-packets").
 * It can when tp_gso_split would accept it (same header checks: type, gso_size,
 * csum_start/offset, IP and TCP lengths, IPv4 header checksum) and: the GSO
 * ECN bit and CWR are clear, the kernel vouched for the checksum
 * (NEEDS_CSUM: the TCP checksum field holds the partial sum, which the stack
 * is told to trust, as for every NEEDS_CSUM packet; DATA_VALID), the IP
 * length is <= 65535, IPv4 carries no options, and neither SYN, RST nor URG
 * is set. Nothing in the packet needs fixing then: the kernel writes the
 * whole packet's IP length and IPv4 header checksum, and FIN/PSH, which the
 * splitter keeps only on the last segment, belong to the whole. Pure: pkt
 * and h are borrowed; *w is filled only on TP_WHOLE. */
enum tp_whole tp_gso_whole(const uint8_t *pkt, size_t len, const struct tp_vnet_hdr *h,
                           struct tp_whole_pkt *w);

/* ---- GRO on write ---- */
#define TP_GRO_TCP 0x1u /* coalesce TCP (needs IFF_VNET_HDR) */
#define TP_GRO_UDP 0x2u /* coalesce UDP into UDP_L4 (kernel >= 6.2, USO granted) */
#define TP_GRO_TSO 0x4u /* write TCP super-segments (tp_gro_add_tso) with a TSO header */
#define TP_GRO_UDP_MAX_SEGS 64

struct tp_gro;

/* A batch able to hold max_pkts packets of up to 65535 bytes in total per
 * coalesced item. Returns NULL on ENOMEM. Owned by the caller: tp_gro_free. */
struct tp_gro *tp_gro_new(size_t max_pkts);
void tp_gro_free(struct tp_gro *g);

/* TCP packets added from now on carry only the pseudo-header sum in their
 * checksum field (CHECKSUM_PARTIAL; the stack's tcp_csum_partial): written
 * alone they get a NEEDS_CSUM header instead of an all-zero one (merged ones
 * always do). Other protocols still need complete checksums. */
void tp_gro_set_tcp_partial(struct tp_gro *g, bool on);

/* Append a copy of one outgoing IP packet with COMPLETE checksums (as lwIP
 * emits it; TCP: see tp_gro_set_tcp_partial). Returns 0, or -ENOSPC when
 * full (flush, then add again), or -EINVAL for a packet shorter than an IP
 * header or longer than 65535 bytes. */
int tp_gro_add(struct tp_gro *g, const void *pkt, size_t len);
size_t tp_gro_count(const struct tp_gro *g);

/* Append a copy of one outgoing TCP super-segment (the stack's, lwIP patch
 * 0012): one IP packet of up to 65535 bytes whose checksum field holds the
 * pseudo-header sum over its whole length, to leave as ONE write with a
 * TSO vnet header (NEEDS_CSUM, gso_type TCPV4/TCPV6, gso_size = data per
 * wire segment). It is never merged with other packets (nor they into it);
 * order within its flow is kept. Without TP_GRO_TSO in the flush's kinds,
 * or when the kernel refuses the write, it is split here (tp_tso_write).
 * Returns as tp_gro_add; -EINVAL also for gso_size 0. */
int tp_gro_add_tso(struct tp_gro *g, const void *pkt, size_t len, uint16_t gso_size);

/* Called once per resulting write: iov[0] is the TP_VNET_HDR_LEN-byte vnet
 * header, iov[1..iovcnt) the packet bytes; nsegs = packets merged (1 = not
 * coalesced); kind = TP_GRO_TCP/TP_GRO_UDP for merged items, 0 otherwise.
 * Return 0 or -errno. */
typedef int (*tp_gro_write_fn)(void *ctx, const struct iovec *iov, int iovcnt, unsigned nsegs,
                               unsigned kind);

/* Coalesce the batch (docs/tun-offload.md, "GRO on write": same flow,
 * contiguous seq, same ACK, only ACK/PSH, equal options and IP header
 * fields, PSH only on the last, only the last shorter, <= 65535 bytes, UDP
 * <= 64 datagrams of equal size but the last) for the kinds enabled in
 * `kinds`, then write. Order within a flow is preserved. Unmerged packets go
 * out unchanged with an all-zero header (TCP after tp_gro_set_tcp_partial:
 * a NEEDS_CSUM header the kernel completes the checksum from). If write
 * returns -EINVAL for a merged item, the members are re-sent one by one and
 * the kind is added to *refused (the caller then stops coalescing that
 * kind). Empties the batch. Returns the number of writes made, or the first
 * error other than EINVAL from write (the rest of the batch is still
 * written). */
int tp_gro_flush(struct tp_gro *g, unsigned kinds, tp_gro_write_fn write, void *ctx,
                 unsigned *refused);

/* Write one TCP super-segment pkt[0..len) (as for tp_gro_add_tso, the
 * checksum field holding the pseudo-header sum): with try_tso, as one
 * write with a TSO vnet header (nsegs = wire segments it stands for, kind
 * TP_GRO_TSO); if that returns -EINVAL (or without try_tso), split into
 * gso_size segments with complete checksums, each written with an all-zero
 * header (nsegs 1, kind 0), and *refused |= TP_GRO_TSO when a TSO write
 * was refused. A packet that is no TCP over plain IPv4/IPv6 (or cannot be
 * split) is written unchanged with an all-zero header. *writes grows by the
 * write calls made. Returns 0 or the first error of a write (not the
 * EINVAL of a refused TSO write). */
int tp_tso_write(const uint8_t *pkt, size_t len, uint16_t gso_size, bool try_tso,
                 tp_gro_write_fn write, void *ctx, unsigned *refused, int *writes);

#endif
