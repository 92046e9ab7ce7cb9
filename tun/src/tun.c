/* tunplug — TUN device open/adopt. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tunplug/tun.h"

/* Fill ifindex and mtu from the name. Returns 0 or -errno. */
static int tun_query(struct tp_tun *t)
{
	struct ifreq ifr;
	int err = 0;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	t->ifindex = (int)if_nametoindex(t->name);
	if (t->ifindex == 0) {
		err = -errno;
		goto out;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->name, IFNAMSIZ);
	if (ioctl(s, SIOCGIFMTU, &ifr) < 0) {
		err = -errno;
		goto out;
	}
	t->mtu = (unsigned)ifr.ifr_mtu;
out:
	close(s);
	return err;
}

int tp_tun_open(const char *name, struct tp_tun *out)
{
	struct ifreq ifr;
	int err;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (!name || !*name || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	out->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (out->fd < 0) {
		err = -errno;
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(out->fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		goto fail;
	}
	memcpy(out->name, ifr.ifr_name, IFNAMSIZ);
	out->name[IFNAMSIZ - 1] = '\0';
	err = tun_query(out);
	if (err)
		goto fail;
	return 0;
fail:
	if (out->fd >= 0)
		close(out->fd);
	out->fd = -1;
	return err;
}

int tp_tun_adopt(int fd, struct tp_tun *out)
{
	struct ifreq ifr;
	int err, fl;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (fd < 0)
		return -EBADF;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return errno == EBADF ? -EBADF : -ENOTTY; /* not a tun fd */
	if (!(ifr.ifr_flags & IFF_TUN))
		return -EPROTONOSUPPORT; /* a TAP device */
	if (!(ifr.ifr_flags & IFF_NO_PI) || (ifr.ifr_flags & IFF_VNET_HDR))
		return -EPROTONOSUPPORT;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	memcpy(out->name, ifr.ifr_name, IFNAMSIZ);
	out->name[IFNAMSIZ - 1] = '\0';
	err = tun_query(out);
	if (err)
		return err;
	out->fd = fd;
	out->adopted = true;
	return 0;
}

void tp_tun_close(struct tp_tun *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}
