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
};

/* Create (or attach to) the TUN device `name` with IFF_TUN|IFF_NO_PI,
 * non-blocking, close-on-exec. Fills *out. Returns 0 or -errno.
 * name NULL or "" lets the kernel pick ("tun%d"); out->name has the result. */
int tp_tun_open(const char *name, struct tp_tun *out);

/* Adopt an already-open TUN fd (TUNGETIFF must work and report IFF_TUN;
 * IFF_NO_PI required, IFF_VNET_HDR refused for now -> -EPROTONOSUPPORT).
 * Sets O_NONBLOCK. Takes ownership of fd on success. Returns 0 or -errno.
 * On failure fd stays the caller's, with its flags unchanged. Note: TUNGETIFF
 * always reports bit 0x1000 on a TUN (IFF_NOFILTER == IFF_NO_PI), so a
 * missing IFF_NO_PI is detected only through /sys/class/net/NAME/tun_flags
 * when /sys belongs to the device's netns; otherwise it is taken on trust. */
int tp_tun_adopt(int fd, struct tp_tun *out);

/* Close the fd (if >= 0). Safe to call twice. */
void tp_tun_close(struct tp_tun *t);

#endif
