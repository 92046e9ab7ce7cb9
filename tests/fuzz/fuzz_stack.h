/* SPDX-License-Identifier: MIT */
/* The input format of fuzz_stack.c, shared with gen_seeds.c (its seeds).
 *
 * Byte 0 configures the stack for this input:
 *   bits 0-1  what the owner does with a new flow in tcp_syn:
 *             FS_HOLD keep it PENDING (decided later by FS_ACCEPT/FS_REJECT:
 *             the held-SYN injection path), FS_ACCEPT_NOW / FS_REJECT_NOW
 *             decide inside the callback, FS_HOLD_DEFER hold, and accept
 *             every pending flow from inside the next lwIP callback
 *             (readable/eof/writable: the deferred-accept path)
 *   bit 2     tcp_csum_partial
 *   bit 3     with bit 2: output_gso, TCP flows send super-segments (lwIP
 *             patch 0012); each is checked and split as the kernel would
 *   bits 4-7  max_flows - 1
 * Then operations until the input ends; each is one byte, the opcode in the
 * low nibble (modulo FS_OP__COUNT) and an argument A in the high nibble,
 * followed by its own bytes (missing bytes read as 0):
 *   FS_SYN      peer A&3 opens a new connection (next source port): isn
 *               (4 bytes BE), mode, options
 *   FS_SEG      peer A&3 sends a segment: flags, mode, seq delta (2 bytes,
 *               signed, from the peer's next sequence number; 4 raw bytes
 *               with FS_M_SEQ_RAW), ack delta (likewise from the last
 *               sequence number seen from the gateway; FS_M_ACK_RAW),
 *               window (2), options, payload length (1)
 *   FS_RAW      a whole packet as it is: length (2), bytes; A&1: the
 *               kernel vouches for the checksum (TP_STACK_IN_CSUM_OK)
 *   FS_ACCEPT / FS_REJECT   the flow in slot A&7
 *   FS_TIME     advance the clock by (byte + 1) * 40 ms, polling every 50
 *   FS_CONSUME  slot A&7: consume byte * 64 bytes (0: everything queued)
 *   FS_SEND     slot A&7: send (2 bytes) bytes; A&8: more follows
 *   FS_SHUTDOWN slot A&7
 *   FS_CLOSE    slot A&7; A&8: abort
 *   FS_POLL     tp_stack_poll at the current time
 * Options: one byte n, then (n % 11) * 4 bytes (0..40) taken as they are.
 * Mode bits: FS_M_DIRECT hands the packet straight to lwIP's IP input,
 * bypassing tp_pkt_parse and the held-SYN table (lwIP alone, as patch 0007
 * must make safe); FS_M_CSUM_OK passes TP_STACK_IN_CSUM_OK; FS_M_BAD_CSUM
 * spoils the TCP checksum. Peers 0 and 2 are IPv4, 1 and 3 IPv6. */
#ifndef TP_FUZZ_STACK_H
#define TP_FUZZ_STACK_H

enum {
	FS_HOLD = 0,
	FS_ACCEPT_NOW = 1,
	FS_REJECT_NOW = 2,
	FS_HOLD_DEFER = 3,
	FS_CSUM_PARTIAL = 0x04,
	FS_TSO = 0x08,
};

enum {
	FS_SYN,
	FS_SEG,
	FS_RAW,
	FS_ACCEPT,
	FS_REJECT,
	FS_TIME,
	FS_CONSUME,
	FS_SEND,
	FS_SHUTDOWN,
	FS_CLOSE,
	FS_POLL,
	FS_OP__COUNT
};

enum {
	FS_M_DIRECT = 0x01,
	FS_M_CSUM_OK = 0x02,
	FS_M_BAD_CSUM = 0x04,
	FS_M_SEQ_RAW = 0x08,
	FS_M_ACK_RAW = 0x10,
};

#define FS_OP(op, arg) ((uint8_t)((op) | (arg) << 4))

#endif
