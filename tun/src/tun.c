/* tunplug — TUN device open/adopt. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
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

/* name is borrowed (NULL or "" lets the kernel choose one); *out is caller-owned and, on success, owns the new fd
 * (release with tp_tun_close). On failure out->fd is -1. */
/* Read a small unsigned number (decimal or 0x hex) from a sysfs file. */
static int read_sysfs_uint(const char *name, const char *attr, unsigned long *v)
{
	char path[96], buf[32], *end;
	ssize_t n;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0) {
		err = n < 0 ? -errno : -EIO;
		goto out;
	}
	buf[n] = '\0';
	errno = 0;
	*v = strtoul(buf, &end, 0);
	if (errno || end == buf)
		err = -EIO;
out:
	close(fd);
	return err;
}

/*
 * The device's real TUNSETIFF flags. TUNGETIFF cannot tell IFF_NO_PI apart:
 * the kernel ORs in IFF_NOFILTER (the same bit, 0x1000) whenever no socket
 * filter is attached, which for a TUN device is always. sysfs tun_flags has
 * the exact value; it is used only when /sys shows this netns's device (its
 * ifindex matches). Returns 0 and fills *flags, or -errno (not known).
 */
static int tun_sysfs_flags(const struct tp_tun *t, unsigned *flags)
{
	unsigned long idx, fl;
	int err;

	err = read_sysfs_uint(t->name, "ifindex", &idx);
	if (err)
		return err;
	if (idx != (unsigned long)t->ifindex)
		return -ENOENT; /* /sys belongs to another netns */
	err = read_sysfs_uint(t->name, "tun_flags", &fl);
	if (err)
		return err;
	*flags = (unsigned)fl;
	return 0;
}

int tp_tun_open(const char *name, struct tp_tun *out)
{
	struct ifreq ifr;
	int err;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (name && strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	out->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (out->fd < 0) {
		err = -errno;
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (name) /* NULL or "": the kernel picks "tun%d" */
		memcpy(ifr.ifr_name, name, strlen(name));
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

/* On success *out owns fd (tp_tun_close closes it); on failure the caller
 * still owns fd and its flags are unchanged. */
int tp_tun_adopt(int fd, struct tp_tun *out)
{
	struct ifreq ifr;
	unsigned flags;
	int err, fl;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (fd < 0)
		return -EBADF;
	memset(&ifr, 0, sizeof(ifr));
	/* ENOTTY/EINVAL: not a tun fd; EBADFD: a tun fd never attached */
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		err = -errno;
		goto fail;
	}
	/* a TAP device or a vnet header: the packet path expects bare IP */
	flags = (unsigned short)ifr.ifr_flags;
	if (!(flags & IFF_TUN) || (flags & IFF_VNET_HDR)) {
		err = -EPROTONOSUPPORT;
		goto fail;
	}
	memcpy(out->name, ifr.ifr_name, IFNAMSIZ);
	out->name[IFNAMSIZ - 1] = '\0';
	err = tun_query(out);
	if (err)
		goto fail;
	/* a packet-info prefix: only visible through a matching /sys (see
	 * tun_sysfs_flags); otherwise IFF_NO_PI is taken on trust */
	if (tun_sysfs_flags(out, &flags) == 0 && !(flags & IFF_NO_PI)) {
		err = -EPROTONOSUPPORT;
		goto fail;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		err = -errno;
		goto fail;
	}
	out->fd = fd;
	out->adopted = true;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	return err;
}

/* Safe on a zeroed-then-failed struct (fd == -1) and when called twice. */
void tp_tun_close(struct tp_tun *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}
