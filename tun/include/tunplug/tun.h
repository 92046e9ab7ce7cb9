/* SPDX-License-Identifier: MIT */
/* tunplug — TUN device open/adopt. */
#ifndef TUNPLUG_TUN_H
#define TUNPLUG_TUN_H

#include <net/if.h>
#include <stdbool.h>

struct tp_tun {
	int fd; /* non-blocking; owned by this struct */
	char name[IFNAMSIZ];
	int ifindex;
	unsigned mtu;
	bool adopted; /* fd came from --tun-fd */
	/* Offloads (docs/tun-offload.md, "The vnet header"): with vnet, every
	 * read and write carries a TP_VNET_HDR_LEN (10) byte virtio_net_hdr
	 * before the IP packet. */
	bool vnet;
	unsigned offloads; /* TP_TUN_F_* the kernel granted (TUNSETOFFLOAD) */
	int offload_err;   /* why offloads are off: -errno of the refusal, or 0 */
};

/* TUNSETOFFLOAD bits (linux/if_tun.h; USO4/USO6 only in >= 6.2 headers). */
#define TP_TUN_F_CSUM 0x01u
#define TP_TUN_F_TSO4 0x02u
#define TP_TUN_F_TSO6 0x04u
#define TP_TUN_F_USO4 0x20u
#define TP_TUN_F_USO6 0x40u

/* tp_tun_open_flags flags */
#define TP_TUN_NO_OFFLOAD 0x1u /* plain tun: no IFF_VNET_HDR */

/* Create (or attach to) the TUN device `name` with IFF_TUN|IFF_NO_PI,
 * non-blocking, close-on-exec. Fills *out. Returns 0 or -errno.
 * name NULL or "" lets the kernel pick ("tun%d"); out->name has the result.
 * Offloads are on: IFF_VNET_HDR, then TUNSETOFFLOAD CSUM|TSO4|TSO6 (if
 * refused, the device is reopened as a plain tun: vnet false, offload_err
 * says why), then USO4|USO6 added when the kernel takes them (>= 6.2).
 * TSO_ECN stays off (the splitter does not keep CWR on every segment). */
int tp_tun_open(const char *name, struct tp_tun *out);
/* The same with TP_TUN_* flags (TP_TUN_NO_OFFLOAD: plain tun). */
int tp_tun_open_flags(const char *name, unsigned flags, struct tp_tun *out);

/* Multi-queue (docs/tun-offload.md, "Multi-queue"): create (or
 * attach to) `name` with IFF_MULTI_QUEUE and n queues, 1..TP_TUN_MAX_QUEUES.
 * out[0..n) get one fd each (non-blocking, close-on-exec) and the same
 * name, ifindex, mtu, vnet and offload state that tp_tun_open_flags gives
 * its one fd: the first queue is opened exactly as there (offload fallback
 * included), every further one attaches with the first one's flags and the
 * same TUNSETOFFLOAD. The kernel steers each flow to one queue (a symmetric
 * flow hash; replies written on a queue pin the flow to it) while the
 * number of attached queues stays the same. Returns 0 or -errno (then no fd
 * is left open). */
#define TP_TUN_MAX_QUEUES 256 /* MAX_TAP_QUEUES */
int tp_tun_open_mq(const char *name, unsigned flags, unsigned n, struct tp_tun *out);

/* Adopt an already-open TUN fd (TUNGETIFF must work and report IFF_TUN;
 * IFF_NO_PI required). An fd with IFF_VNET_HDR is accepted: vnet true, the
 * header size set to 10 if it was not, and CSUM|TSO4|TSO6 (+USO) asked for
 * with TUNSETOFFLOAD; if that is refused, offloads stays 0 (the kernel then
 * sends all-zero headers and whole, checksummed packets).
 * Sets O_NONBLOCK. Takes ownership of fd on success. Returns 0 or -errno.
 * On failure fd stays the caller's, with its flags unchanged. Note: TUNGETIFF
 * always reports bit 0x1000 on a TUN (IFF_NOFILTER == IFF_NO_PI), so a
 * missing IFF_NO_PI is detected only through /sys/class/net/NAME/tun_flags
 * when /sys belongs to the device's netns; otherwise it is taken on trust. */
int tp_tun_adopt(int fd, struct tp_tun *out);
/* The same with TP_TUN_* flags. TP_TUN_NO_OFFLOAD on an fd with
 * IFF_VNET_HDR (which cannot be taken away) sets TUNSETOFFLOAD 0 instead:
 * the headers stay, all-zero, and packets come whole. */
int tp_tun_adopt_flags(int fd, unsigned flags, struct tp_tun *out);

/* Close the fd (if >= 0). Safe to call twice. */
void tp_tun_close(struct tp_tun *t);

#endif
