/* SPDX-License-Identifier: MIT */
/* tunplug — names (see names.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "names/names.h"
#include "registry/registry.h"
#include "tunplug/text.h"

int tp_names_pool_create(const struct tp_options *o, struct tp_fakepool **out)
{
	char cb[64];
	int ret;

	*out = NULL;
	if (!o->n_fake_ips)
		return 0;
	ret = tp_fakepool_create(out, o->fake_ips, o->n_fake_ips, o->fake_ip_max);
	if (ret)
		fprintf(stderr, "tunplug: --fake-ip %s: %s\n",
		        tp_cidr_format(&o->fake_ips[0], cb, sizeof(cb)),
		        ret == -ENOMEM ? "cannot map the shared pool" : strerror(-ret));
	return ret;
}

int tp_names_init(struct tp_names *n, const struct tp_options *o, struct tp_fakepool *shared,
                  struct tp_names_counters *st)
{
	int ret = 0;

	memset(n, 0, sizeof(*n));
	n->st = st;
	n->ttl = o->fake_ip_ttl;
	n->pool = shared;
	if (!shared && o->n_fake_ips) {
		ret = tp_names_pool_create(o, &n->pool);
		n->own = n->pool != NULL;
	}
	if (n->pool) {
		for (size_t i = 0; i < o->n_fake_ips; i++) {
			struct tp_fakepool_stat s;
			char cb[64];

			tp_fakepool_stat(n->pool, o->fake_ips[i].family, &s);
			tp_log(TP_LOG_INFO, "fake-ip: pool %s, %u addresses, answer ttl %u s",
			       tp_cidr_format(&o->fake_ips[i], cb, sizeof(cb)), s.capacity, n->ttl);
		}
	}
	return ret;
}

void tp_names_close(struct tp_names *n)
{
	if (n->own)
		tp_fakepool_unmap(n->pool);
	n->pool = NULL;
	n->own = false;
}

bool tp_names_fake_ip(const struct tp_names *n)
{
	return n->pool != NULL;
}

/* Log an unmapped address once (while it is among the last
 * TP_NAMES_LOGGED logged), at most TP_NAMES_LOG_PER_S lines a second. */
static void log_unmapped(struct tp_names *n, const struct sockaddr *dst, int family,
                         const void *addr, uint64_t now_ms)
{
	char s[TP_SOCKADDR_STRLEN];
	size_t al = family == AF_INET6 ? 16 : 4;
	unsigned k;

	for (unsigned i = 0; i < n->n_logged; i++)
		if (n->logged[i].family == family && !memcmp(n->logged[i].addr, addr, al))
			return;
	if (now_ms / 1000 != n->log_second) {
		n->log_second = now_ms / 1000;
		n->log_count = 0;
	}
	if (n->log_count >= TP_NAMES_LOG_PER_S)
		return;
	n->log_count++;
	k = n->next_logged;
	n->next_logged = (k + 1) % TP_NAMES_LOGGED;
	if (n->n_logged < TP_NAMES_LOGGED)
		n->n_logged++;
	n->logged[k].family = family;
	memcpy(n->logged[k].addr, addr, al);
	tp_log(TP_LOG_WARN,
	       "fake-ip: %s is a pool address with no name (evicted, or handed out before a "
	       "restart): refused",
	       tp_sockaddr_str(dst, s, sizeof(s)));
}

int tp_names_for_dst(struct tp_names *n, const struct sockaddr *dst, char *name, size_t cap,
                     uint64_t now_ms)
{
	const void *addr;
	int ret;

	if (!n->pool)
		return 0;
	if (dst->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)dst)->sin_addr;
	else if (dst->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)dst)->sin6_addr;
	else
		return 0;
	ret = tp_fakepool_lookup(n->pool, dst->sa_family, addr, name, cap);
	if (ret > 0) {
		n->st->named++;
	} else if (ret < 0) {
		n->st->unmapped++;
		log_unmapped(n, dst, dst->sa_family, addr, now_ms);
		ret = -ENOENT;
	}
	return ret;
}

int tp_names_host_fake_ip(const struct tp_host *host, int family, const char *name, size_t len,
                          void *addr)
{
	struct tp_names *n = tp_hinst_names(host);
	bool evicted = false;
	int ret;

	if (!n || !n->pool)
		return -EAFNOSUPPORT;
	ret = tp_fakepool_assign(n->pool, family, name, len, addr, &evicted);
	if (!ret) {
		n->st->answers++;
		n->st->evictions += evicted;
	}
	return ret;
}
