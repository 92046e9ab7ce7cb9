/* tunplug — TUN device open/adopt. */
#ifndef TUNPLUG_TUN_H
#define TUNPLUG_TUN_H

#include <net/if.h>
#include <stdbool.h>

struct tp_tun {
	int fd;                 /* non-blocking; owned by this struct */
	char name[IFNAMSIZ];
	int ifindex;
	unsigned mtu;
	bool adopted;           /* fd came from --tun-fd */
};

/* Create (or attach to) the TUN device `name` with IFF_TUN|IFF_NO_PI,
 * non-blocking, close-on-exec. Fills *out. Returns 0 or -errno. */
int tp_tun_open(const char *name, struct tp_tun *out);

/* Adopt an already-open TUN fd (TUNGETIFF must work and report IFF_TUN;
 * IFF_NO_PI required, IFF_VNET_HDR refused for now -> -EPROTONOSUPPORT).
 * Sets O_NONBLOCK. Takes ownership of fd on success. Returns 0 or -errno. */
int tp_tun_adopt(int fd, struct tp_tun *out);

/* Close the fd (if >= 0). Safe to call twice. */
void tp_tun_close(struct tp_tun *t);

#endif
