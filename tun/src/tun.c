/* SPDX-License-Identifier: MIT */
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

/* Read a small unsigned number (decimal or 0x hex) from a sysfs file.
 * Returns 0 or -errno; *v is 0 on failure. */
static int read_sysfs_uint(const char *name, const char *attr, unsigned long *v)
{
	char path[96], buf[32], *end;
	ssize_t n;
	int fd, err = 0;

	*v = 0;
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

#define TUN_OFFLOAD_TSO (TP_TUN_F_CSUM | TP_TUN_F_TSO4 | TP_TUN_F_TSO6)
#define TUN_OFFLOAD_USO (TP_TUN_F_USO4 | TP_TUN_F_USO6)

/* Ask for CSUM|TSO4|TSO6, then USO4|USO6 on top (both or neither: the
 * kernel refuses one alone). Fills t->offloads; returns 0 or the -errno of
 * the CSUM|TSO refusal (offloads 0). */
static int tun_set_offload(struct tp_tun *t)
{
	t->offloads = 0;
	if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)TUN_OFFLOAD_TSO) < 0)
		return -errno;
	t->offloads = TUN_OFFLOAD_TSO;
	if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)(TUN_OFFLOAD_TSO | TUN_OFFLOAD_USO)) == 0)
		t->offloads |= TUN_OFFLOAD_USO;
	return 0;
}

/* open + TUNSETIFF with flags iff; name as for tp_tun_open. Returns the fd
 * or -errno; the kernel's name goes to name_out. */
static int tun_create(const char *name, short iff, char name_out[IFNAMSIZ])
{
	struct ifreq ifr;
	int fd, err;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = iff;
	if (name) /* NULL or "": the kernel picks "tun%d" */
		memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
	name_out[IFNAMSIZ - 1] = '\0';
	return fd;
}

/* tp_tun_open_flags with extra TUNSETIFF flags (IFF_MULTI_QUEUE); *iff_out
 * gets the flags the device was created with. */
static int tun_open_iff(const char *name, unsigned flags, short extra, short *iff_out,
                        struct tp_tun *out)
{
	const short base = (short)(IFF_TUN | IFF_NO_PI | extra);
	int err;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (name && strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	if (!(flags & TP_TUN_NO_OFFLOAD)) {
		out->fd = tun_create(name, (short)(base | IFF_VNET_HDR), out->name);
		if (out->fd >= 0) {
			out->vnet = true;
			out->offload_err = tun_set_offload(out);
			if (out->offload_err) {
				/* vnet mode is used only with CSUM|TSO granted
				 * (docs/tun-offload.md, "Opening the device"): fall
				 * back to a plain tun. A name the kernel picked
				 * ("tun%d") is free again after the close; ask for it. */
				char picked[IFNAMSIZ];

				memcpy(picked, out->name, IFNAMSIZ);
				close(out->fd);
				out->fd = -1;
				out->vnet = false;
				out->fd =
				        tun_create(name && *name ? name : picked, base, out->name);
			}
		} else {
			/* a kernel without IFF_VNET_HDR on tun (or an existing
			 * persistent device without it): plain tun */
			out->offload_err = out->fd;
			out->fd = tun_create(name, base, out->name);
		}
	} else {
		out->fd = tun_create(name, base, out->name);
	}
	*iff_out = (short)(base | (out->vnet ? IFF_VNET_HDR : 0));
	if (out->fd < 0) {
		err = out->fd;
		goto fail;
	}
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

/* name is borrowed (NULL or "" lets the kernel choose one); *out is
 * caller-owned and, on success, owns the new fd (release with
 * tp_tun_close). On failure out->fd is -1. */
int tp_tun_open_flags(const char *name, unsigned flags, struct tp_tun *out)
{
	short iff;

	return tun_open_iff(name, flags, 0, &iff, out);
}

/* The first queue decides (vnet or the plain fallback); every further
 * queue attaches with exactly its flags, as the kernel requires, and gets
 * the same offload request. */
int tp_tun_open_mq(const char *name, unsigned flags, unsigned n, struct tp_tun *out)
{
	short iff;
	int err;

	if (n < 1 || n > TP_TUN_MAX_QUEUES)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		out[i].fd = -1;
	err = tun_open_iff(name, flags, IFF_MULTI_QUEUE, &iff, &out[0]);
	if (err)
		return err;
	for (unsigned i = 1; i < n; i++) {
		struct tp_tun *q = &out[i];

		*q = out[0];
		q->fd = tun_create(out[0].name, iff, q->name);
		if (q->fd < 0) {
			err = q->fd;
			goto fail;
		}
		if (q->vnet) {
			err = tun_set_offload(q);
			if (err || q->offloads != out[0].offloads) {
				err = err ? err : -EPROTO; /* per device: cannot differ */
				goto fail;
			}
		}
	}
	return 0;
fail:
	for (unsigned i = 0; i < n; i++)
		tp_tun_close(&out[i]);
	return err;
}

int tp_tun_open(const char *name, struct tp_tun *out)
{
	return tp_tun_open_flags(name, 0, out);
}

/* On success *out owns fd (tp_tun_close closes it); on failure the caller
 * still owns fd and its flags are unchanged. */
int tp_tun_adopt(int fd, struct tp_tun *out)
{
	return tp_tun_adopt_flags(fd, 0, out);
}

int tp_tun_adopt_flags(int fd, unsigned oflags, struct tp_tun *out)
{
	struct ifreq ifr;
	unsigned flags;
	int err, fl, hdrsz = 0;
	bool vnet;

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
	/* a TAP device: the packet path expects bare IP */
	flags = (unsigned short)ifr.ifr_flags;
	vnet = (flags & IFF_VNET_HDR) != 0;
	if (!(flags & IFF_TUN)) {
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
	/* a vnet header of another size (12 = mrg_rxbuf form): ask for 10 */
	if (vnet && (ioctl(fd, TUNGETVNETHDRSZ, &hdrsz) < 0 || hdrsz != 10)) {
		hdrsz = 10;
		if (ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0) {
			err = -EPROTONOSUPPORT;
			goto fail;
		}
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		err = -errno;
		goto fail;
	}
	out->fd = fd;
	out->adopted = true;
	out->vnet = vnet;
	/* what the owner enabled is unknown: ask for ours; refused -> the
	 * kernel sends whole packets with all-zero headers */
	if (vnet && !(oflags & TP_TUN_NO_OFFLOAD))
		out->offload_err = tun_set_offload(out);
	else if (vnet && ioctl(fd, TUNSETOFFLOAD, 0ul) < 0)
		out->offload_err = -errno; /* offloads the owner set may stay */
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
