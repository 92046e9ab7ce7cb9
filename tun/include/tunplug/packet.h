/* SPDX-License-Identifier: MIT */
/* tunplug — IP packet checksums and validation (pure code, no I/O).
 *
 * Everything here works on caller-owned buffers and never keeps a pointer
 * after returning, except struct tp_pkt, whose pointers point into the
 * packet that was parsed. */
#ifndef TUNPLUG_PACKET_H
#define TUNPLUG_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One's-complement sum of len bytes added to sum (32-bit accumulator, not
 * folded). Odd lengths are padded with a zero byte, as RFC 1071 says. */
uint32_t tp_csum_add(uint32_t sum, const void *buf, size_t len);
/* Fold a 32-bit accumulator to 16 bits and complement it: the checksum. */
uint16_t tp_csum_finish(uint32_t sum);
/* Accumulator of the TCP/UDP pseudo-header; family AF_INET or AF_INET6,
 * src/dst 4 or 16 bytes, l4_len the TCP/UDP length (header + payload). */
uint32_t tp_csum_pseudo(int family, const void *src, const void *dst, uint8_t proto,
                        uint32_t l4_len);

/* Why a packet was dropped. Stable order: counters are indexed by it. */
enum tp_drop {
	TP_DROP_NONE = 0,
	TP_DROP_TRUNCATED,   /* shorter than the IP header */
	TP_DROP_VERSION,     /* IP version neither 4 nor 6 */
	TP_DROP_HDR_LEN,     /* IPv4 IHL < 5 or beyond the packet */
	TP_DROP_TOTAL_LEN,   /* IP total/payload length beyond the buffer or too small */
	TP_DROP_IP_CSUM,     /* IPv4 header checksum wrong */
	TP_DROP_IP_OPTIONS,  /* IPv4 options present */
	TP_DROP_FRAGMENT,    /* IPv4 fragment or IPv6 fragment header */
	TP_DROP_IPV6_EXTHDR, /* IPv6 extension header */
	TP_DROP_PROTO,       /* protocol other than TCP, UDP, ICMP, ICMPv6 */
	TP_DROP_L4_TRUNCATED, /* TCP/UDP/ICMP header beyond the packet, bad TCP offset, bad UDP length */
	TP_DROP_L4_CSUM,      /* TCP/UDP/ICMP checksum wrong */
	TP_DROP_BAD_ADDR,    /* source multicast/broadcast/unspecified/loopback */
	TP_DROP_UNSUPPORTED, /* valid, but nothing here handles it (e.g. UDP before UDP flows exist) */
	TP_DROP_NO_MEMORY, /* could not allocate to process it */
	TP_DROP_VNET_HDR,  /* virtio_net_hdr invalid (offsets, gso_size 0, unknown gso_type) */
	TP_DROP_GSO, /* GSO super-packet that cannot be split (type/IP mismatch, too many segments) */
	TP_DROP_TCP_OPTIONS, /* malformed TCP option layout (see tp_pkt_parse) */
	TP_DROP__COUNT
};

/* Short stable name ("truncated", "ip_csum", ...) for logs and counters. */
const char *tp_drop_name(enum tp_drop reason);

/* Result of parsing one packet. Pointers point into the parsed buffer. */
struct tp_pkt {
	int family;         /* AF_INET or AF_INET6 */
	uint8_t proto;      /* IPPROTO_TCP, _UDP, _ICMP, _ICMPV6 */
	uint16_t len;       /* IP total length (bytes after it are ignored) */
	uint16_t l4_off;    /* offset of the TCP/UDP/ICMP header */
	uint16_t l4_len;    /* len - l4_off */
	uint16_t data_off;  /* offset of the TCP/UDP payload (== len for ICMP) */
	const uint8_t *src; /* 4 or 16 bytes */
	const uint8_t *dst;
	uint16_t sport, dport; /* host order; 0 for ICMP */
	uint8_t tcp_flags; /* TCP only: FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80 */
	uint32_t seq, ack; /* TCP only, host order */
};

#define TP_PKT_VERIFY_CSUM 0x1u /* also verify TCP/UDP/ICMP checksums */
/* Without it the IPv4 header checksum is still verified, and an IPv6 UDP
 * checksum of 0 (forbidden by RFC 8200) is still TP_DROP_L4_CSUM. IPv6
 * packets longer than 65535 bytes in total are TP_DROP_TOTAL_LEN. */

/* Validate and parse the IP packet buf[0..len). Returns TP_DROP_NONE and
 * fills *out, or the reason it must be dropped. Never reads outside buf.
 * TCP options must be well formed (else TP_DROP_TCP_OPTIONS): EOL ends the
 * list (what follows it is padding), NOP is one byte, every other kind has a
 * length byte, >= 2 and within the header; MSS, window scale, SACK permitted
 * and timestamps have their exact lengths (4, 3, 2, 10), SACK 2 + 8n, n >= 1. */
enum tp_drop tp_pkt_parse(const uint8_t *buf, size_t len, unsigned flags, struct tp_pkt *out);

/* Why a destination is unreachable, as ICMP destination unreachable says
 * it: IPv4 type 3 codes 0, 1, 3, 13; ICMPv6 type 1 codes 0, 3, 4, 1. A
 * Linux client's connect() or connected UDP socket then fails with
 * ENETUNREACH, EHOSTUNREACH, ECONNREFUSED, and for PROHIBITED EHOSTUNREACH
 * (IPv4) or EACCES (IPv6). */
enum tp_unreach {
	TP_UNREACH_NET,        /* no route to the network */
	TP_UNREACH_HOST,       /* the host (address) does not answer */
	TP_UNREACH_PORT,       /* nothing listens: the UDP analogue of a RST */
	TP_UNREACH_PROHIBITED, /* communication administratively prohibited */
};

/* The largest packet tp_icmp_unreach writes: a 1280-byte ICMPv6 error. */
#define TP_ICMP_UNREACH_MAX 1280

/* Build the ICMP (IPv4) or ICMPv6 destination unreachable of kind `why`
 * that answers pkt[0..len): an IP packet as the client sent it (a TCP SYN,
 * a UDP datagram), or at least its IP header and the 8 bytes after it. The
 * error goes from pkt's destination to pkt's source and quotes pkt from its
 * first byte, as much as fits in out (cap bytes) and in 576 bytes (IPv4,
 * RFC 1812 4.3.2.3) or 1280 (IPv6, RFC 4443 2.4), so that the client's
 * kernel finds its socket by the quoted addresses and ports. The quoted
 * header's length fields are not checked against len (a quote may be cut).
 * TTL / hop limit 64; both checksums filled. Returns the length written, or
 * 0 when pkt is not an IPv4 (IHL >= 5) or IPv6 packet with its header and 8
 * more bytes, or out is too small for the headers and those 8 bytes. Pure:
 * reads pkt, writes out, nothing else. */
size_t tp_icmp_unreach(uint8_t *out, size_t cap, const uint8_t *pkt, size_t len,
                       enum tp_unreach why);

#endif
