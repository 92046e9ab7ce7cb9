/* SPDX-License-Identifier: MIT */
/* tunplug — the fake-IP pool: a bounded name <-> address map shared by
 * every process of a run (pure apart from mmap and the mutex).
 *
 * Up to one IPv4 and one IPv6 pool (--fake-ip). A name asked for in a
 * family gets the next never-used address of that family's pool; once every
 * address of the pool (or max_entries of them) is taken, the least recently
 * used mapping of that family is evicted and its address handed to the new
 * name. Both lookups (name -> address for the DNS answer, address -> name
 * when a flow starts) count as a use.
 *
 * Shared: the map lives in one MAP_SHARED anonymous mapping made before
 * --queues forks its workers, so a DNS query answered by one worker and the
 * flow that follows, arriving at another, see the same mapping, and a
 * restarted worker (forked again from the master) finds every mapping. It
 * holds no pointers: entries are linked by index (hash chains by name, one
 * LRU list per family; the address is the entry's index in its family's
 * slice, so address -> entry needs no table). A process-shared robust
 * mutex guards it; a process that dies holding it leaves the next locker
 * EOWNERDEAD, and the indexes are rebuilt from the entries (an entry is
 * marked used only once its name is written, and LRU order is kept by a
 * use stamp in each entry), so a crash loses at most the mapping being
 * written.
 *
 * Addresses: IPv4 pools skip the network and broadcast addresses; IPv6
 * pools skip the prefix's first address. */
#ifndef TUNPLUG_GW_FAKEPOOL_H
#define TUNPLUG_GW_FAKEPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunplug/addr.h"

#define TP_FAKE_NAME_MAX 253 /* presentation form, no trailing dot */
#define TP_FAKE_MAX_ENTRIES (1u << 22)

struct tp_fakepool;

/* Capacity and use of one family's pool (tp_fakepool_stat). */
struct tp_fakepool_stat {
	uint32_t capacity; /* addresses it hands out at most */
	uint32_t used;     /* mappings now */
	uint64_t evictions;
};

/* A pool's usable addresses (before max_entries): 0 when the prefix is too
 * small (IPv4 /31, /32; IPv6 /128). Capped at UINT32_MAX. */
uint64_t tp_fakepool_usable(const struct tp_cidr *c);

/* Map a new pool: pools[0..n) (n <= 2, at most one per family), each
 * handing out at most max_entries (1..TP_FAKE_MAX_ENTRIES) addresses.
 * Returns 0 with *out (owned by the caller: tp_fakepool_unmap in each
 * process that keeps it; a fork() child inherits the same map), or
 * -EINVAL (two pools of a family, a pool too small) or -ENOMEM. */
int tp_fakepool_create(struct tp_fakepool **out, const struct tp_cidr *pools, size_t n,
                       uint32_t max_entries);

/* Unmap it in this process (others keep it). p may be NULL. */
void tp_fakepool_unmap(struct tp_fakepool *p);

/* Does family have a pool? */
bool tp_fakepool_has(const struct tp_fakepool *p, int family);

/* Is addr (4 or 16 bytes of family) inside a pool? No lock. */
bool tp_fakepool_contains(const struct tp_fakepool *p, int family, const void *addr);

/* The address for name[0..len) (lower case, no trailing dot, 1..253
 * bytes; borrowed) in family's pool into addr (4 or 16 bytes): its mapping,
 * or a new one. *evicted (may be NULL) tells whether an older mapping was
 * evicted for it. Returns 0, -EAFNOSUPPORT (no pool of family), -EINVAL
 * (bad name) or -EIO (the lock is unrecoverable). */
int tp_fakepool_assign(struct tp_fakepool *p, int family, const char *name, size_t len, void *addr,
                       bool *evicted);

/* The name mapped to addr (4 or 16 bytes of family) into name (cap bytes,
 * at least TP_FAKE_NAME_MAX + 1; NUL-terminated). Returns its length (>
 * 0), 0 when addr is in no pool, -ENOENT when it is a pool address with no
 * mapping, or -EIO. */
int tp_fakepool_lookup(struct tp_fakepool *p, int family, const void *addr, char *name, size_t cap);

/* Capacity, use and evictions of family's pool (zeros without one). */
void tp_fakepool_stat(struct tp_fakepool *p, int family, struct tp_fakepool_stat *out);

/* Tests only: take the lock and return without releasing it (a process
 * that then exits leaves the lock EOWNERDEAD for the next). */
void tp_fakepool_test_hold_lock(struct tp_fakepool *p);

#endif
