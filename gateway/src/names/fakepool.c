/* SPDX-License-Identifier: MIT */
/* tunplug — the shared fake-IP pool (see fakepool.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "names/fakepool.h"

#define FP_MAGIC 0x74706670u /* "tpfp" */
#define NIL UINT32_MAX

struct fp_entry {
	uint32_t hnext;      /* next in its name hash chain */
	uint32_t prev, next; /* its family's LRU list (prev = less recent) */
	uint32_t hash;
	uint64_t stamp; /* last use: rebuilds the LRU order after a crash */
	uint8_t used;   /* set after the name is written, cleared before */
	uint8_t len;
	char name[TP_FAKE_NAME_MAX + 1];
};

struct fp_family {
	int family; /* 0 = no pool */
	struct tp_cidr net;
	uint32_t first;      /* entries[first .. first + cap) */
	uint32_t cap;        /* addresses handed out at most */
	uint32_t n;          /* slots ever used: 0..n-1 */
	uint32_t used;       /* mappings now */
	uint32_t head, tail; /* LRU: head = least recently used */
	uint64_t evictions;
};

struct tp_fakepool {
	uint32_t magic;
	uint32_t nbuckets; /* a power of two */
	size_t map_len;
	pthread_mutex_t mu;
	uint64_t clock; /* use stamps */
	struct fp_family fam[2];
	size_t buckets_off, entries_off; /* from the start of the mapping */
};

/* The hash buckets and the entries: offsets into the mapping, so nothing in
 * it depends on where a process has it mapped. */
#define BUCKETS(p) ((uint32_t *)(void *)((char *)(p) + (p)->buckets_off))
#define ENTRIES(p) ((struct fp_entry *)(void *)((char *)(p) + (p)->entries_off))

static struct fp_family *fam_of(struct tp_fakepool *p, int family)
{
	for (int i = 0; i < 2; i++)
		if (p->fam[i].family && p->fam[i].family == family)
			return &p->fam[i];
	return NULL;
}

static size_t alen(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

uint64_t tp_fakepool_usable(const struct tp_cidr *c)
{
	unsigned bits = (c->family == AF_INET6 ? 128u : 32u) - c->prefix;
	uint64_t n;

	if (c->family == AF_INET) {
		if (bits < 2)
			return 0;
		n = (1ull << bits) - 2; /* network and broadcast */
	} else {
		if (bits < 1)
			return 0;
		n = bits >= 33 ? UINT32_MAX : (1ull << bits) - 1; /* the first */
	}
	return n > UINT32_MAX ? UINT32_MAX : n;
}

/* FNV-1a over family and name. */
static uint32_t hash_name(int family, const char *name, size_t len)
{
	uint32_t h = 2166136261u ^ (uint32_t)family;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 16777619u;
	}
	return h;
}

/* ---- the LRU list and the hash chains (under the lock) ---- */

static void lru_unlink(struct tp_fakepool *p, struct fp_family *f, uint32_t i)
{
	struct fp_entry *e = &ENTRIES(p)[i];

	if (e->prev != NIL)
		ENTRIES(p)[e->prev].next = e->next;
	else
		f->head = e->next;
	if (e->next != NIL)
		ENTRIES(p)[e->next].prev = e->prev;
	else
		f->tail = e->prev;
	e->prev = e->next = NIL;
}

static void lru_append(struct tp_fakepool *p, struct fp_family *f, uint32_t i)
{
	struct fp_entry *e = &ENTRIES(p)[i];

	e->next = NIL;
	e->prev = f->tail;
	if (f->tail != NIL)
		ENTRIES(p)[f->tail].next = i;
	else
		f->head = i;
	f->tail = i;
}

static void touch(struct tp_fakepool *p, struct fp_family *f, uint32_t i)
{
	ENTRIES(p)[i].stamp = ++p->clock;
	if (f->tail != i) {
		lru_unlink(p, f, i);
		lru_append(p, f, i);
	}
}

static void hash_unlink(struct tp_fakepool *p, uint32_t i)
{
	uint32_t *link = &BUCKETS(p)[ENTRIES(p)[i].hash & (p->nbuckets - 1)];

	while (*link != NIL && *link != i)
		link = &ENTRIES(p)[*link].hnext;
	if (*link == i)
		*link = ENTRIES(p)[i].hnext;
	ENTRIES(p)[i].hnext = NIL;
}

static void hash_link(struct tp_fakepool *p, uint32_t i)
{
	uint32_t *b = &BUCKETS(p)[ENTRIES(p)[i].hash & (p->nbuckets - 1)];

	ENTRIES(p)[i].hnext = *b;
	*b = i;
}

/* ---- recovery after a process died holding the lock ---- */

static struct tp_fakepool *sort_pool; /* qsort's context (under the lock) */

static int by_stamp(const void *a, const void *b)
{
	uint64_t x = ENTRIES(sort_pool)[*(const uint32_t *)a].stamp;
	uint64_t y = ENTRIES(sort_pool)[*(const uint32_t *)b].stamp;

	return x < y ? -1 : x > y;
}

/* Rebuild the chains and LRU lists from the entries. Unused slots below n
 * (a mapping half written when its writer died) go to the LRU's head, to
 * be taken first. Without memory for the sort, the LRU is in slot order. */
static void rebuild(struct tp_fakepool *p)
{
	for (uint32_t b = 0; b < p->nbuckets; b++)
		BUCKETS(p)[b] = NIL;
	for (int k = 0; k < 2; k++) {
		struct fp_family *f = &p->fam[k];
		uint32_t *order = f->n ? malloc(f->n * sizeof(*order)) : NULL;
		uint32_t m = 0;

		if (!f->family)
			continue;
		f->head = f->tail = NIL;
		f->used = 0;
		for (uint32_t s = 0; s < f->n; s++) {
			uint32_t i = f->first + s;
			struct fp_entry *e = &ENTRIES(p)[i];

			e->prev = e->next = e->hnext = NIL;
			if (!e->used) {
				lru_append(p, f, i);
				continue;
			}
			e->hash = hash_name(f->family, e->name, e->len);
			hash_link(p, i);
			f->used++;
			if (order)
				order[m++] = i;
			else
				lru_append(p, f, i);
		}
		if (order) {
			sort_pool = p;
			qsort(order, m, sizeof(*order), by_stamp);
			for (uint32_t j = 0; j < m; j++)
				lru_append(p, f, order[j]);
			free(order);
		}
	}
}

static int lock(struct tp_fakepool *p)
{
	int r = pthread_mutex_lock(&p->mu);

	if (r == EOWNERDEAD) {
		rebuild(p);
		pthread_mutex_consistent(&p->mu);
		r = 0;
	}
	return r ? -EIO : 0;
}

static void unlock(struct tp_fakepool *p)
{
	pthread_mutex_unlock(&p->mu);
}

/* ---- set-up ---- */

int tp_fakepool_create(struct tp_fakepool **out, const struct tp_cidr *pools, size_t n,
                       uint32_t max_entries)
{
	struct tp_fakepool hdr, *p;
	pthread_mutexattr_t ma;
	uint64_t total = 0;
	size_t off, len;
	void *m;

	*out = NULL;
	if (n > 2 || max_entries < 1 || max_entries > TP_FAKE_MAX_ENTRIES)
		return -EINVAL;
	memset(&hdr, 0, sizeof(hdr));
	for (size_t i = 0; i < n; i++) {
		struct fp_family *f = &hdr.fam[i];
		uint64_t u = tp_fakepool_usable(&pools[i]);

		if ((pools[i].family != AF_INET && pools[i].family != AF_INET6) || !u ||
		    fam_of(&hdr, pools[i].family))
			return -EINVAL;
		f->family = pools[i].family;
		f->net = pools[i];
		/* the network address: host bits cleared */
		for (unsigned b = f->net.prefix; b < 8 * alen(f->family); b++)
			f->net.addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
		f->cap = (uint32_t)(u < max_entries ? u : max_entries);
		f->first = (uint32_t)total;
		f->head = f->tail = NIL;
		total += f->cap;
	}
	hdr.nbuckets = 16;
	while (hdr.nbuckets < total)
		hdr.nbuckets *= 2;
	off = (sizeof(hdr) + 63) & ~(size_t)63;
	len = off + hdr.nbuckets * sizeof(uint32_t);
	len = (len + 63) & ~(size_t)63;
	len += total * sizeof(struct fp_entry);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	p = m;
	*p = hdr;
	p->magic = FP_MAGIC;
	p->map_len = len;
	p->buckets_off = off;
	p->entries_off = (off + hdr.nbuckets * sizeof(uint32_t) + 63) & ~(size_t)63;
	memset(BUCKETS(p), 0xff, hdr.nbuckets * sizeof(uint32_t)); /* NIL */
	if (pthread_mutexattr_init(&ma) ||
	    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) ||
	    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) ||
	    pthread_mutex_init(&p->mu, &ma)) {
		munmap(m, len);
		return -ENOMEM;
	}
	pthread_mutexattr_destroy(&ma);
	*out = p;
	return 0;
}

void tp_fakepool_unmap(struct tp_fakepool *p)
{
	if (p)
		munmap(p, p->map_len);
}

bool tp_fakepool_has(const struct tp_fakepool *p, int family)
{
	return fam_of((struct tp_fakepool *)p, family) != NULL;
}

bool tp_fakepool_contains(const struct tp_fakepool *p, int family, const void *addr)
{
	const struct fp_family *f = fam_of((struct tp_fakepool *)p, family);

	return f && tp_cidr_contains(&f->net, family, addr);
}

/* addr's slot in f (addr inside f's prefix), or NIL when it is not one
 * the pool hands out. */
static uint32_t slot_of(const struct fp_family *f, const uint8_t *addr)
{
	size_t n = alen(f->family);
	uint64_t off = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t host = addr[i] ^ f->net.addr[i]; /* the host bits (prefix equal) */

		if (n - i > 8) {
			if (host)
				return NIL;
			continue;
		}
		off = off << 8 | host;
	}
	if (off < 1 || off - 1 >= f->cap)
		return NIL;
	return (uint32_t)(off - 1);
}

static void addr_of(const struct fp_family *f, uint32_t slot, uint8_t *out)
{
	size_t n = alen(f->family);
	uint64_t add = (uint64_t)slot + 1;

	memcpy(out, f->net.addr, n);
	for (size_t i = n; i-- > 0 && add;) {
		unsigned v = out[i] + (unsigned)(add & 0xff);

		out[i] = (uint8_t)v;
		add = (add >> 8) + (v >> 8);
	}
}

static bool name_ok(const char *name, size_t len)
{
	if (len < 1 || len > TP_FAKE_NAME_MAX || name[len - 1] == '.' || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (c >= 'A' && c <= 'Z')
			return false; /* lower case only: one mapping per name */
		if (c == '.' && name[i + 1] == '.')
			return false;
		if (!c)
			return false;
	}
	return true;
}

int tp_fakepool_assign(struct tp_fakepool *p, int family, const char *name, size_t len, void *addr,
                       bool *evicted)
{
	struct fp_family *f = fam_of(p, family);
	uint32_t h, i, slot;
	struct fp_entry *e;

	if (evicted)
		*evicted = false;
	if (!f)
		return -EAFNOSUPPORT;
	if (!name_ok(name, len))
		return -EINVAL;
	h = hash_name(family, name, len);
	if (lock(p))
		return -EIO;
	for (i = BUCKETS(p)[h & (p->nbuckets - 1)]; i != NIL; i = ENTRIES(p)[i].hnext) {
		e = &ENTRIES(p)[i];
		if (e->hash == h && e->len == len && i >= f->first && i - f->first < f->cap &&
		    !memcmp(e->name, name, len))
			break;
	}
	if (i == NIL) {
		if (f->n < f->cap) {
			i = f->first + f->n++;
			lru_append(p, f, i);
		} else {
			i = f->head; /* the least recently used */
			if (ENTRIES(p)[i].used) {
				ENTRIES(p)[i].used = 0;
				hash_unlink(p, i);
				f->used--;
				f->evictions++;
				if (evicted)
					*evicted = true;
			}
		}
		e = &ENTRIES(p)[i];
		e->hash = h;
		e->len = (uint8_t)len;
		memcpy(e->name, name, len);
		e->name[len] = '\0';
		__atomic_store_n(&e->used, 1, __ATOMIC_RELEASE);
		hash_link(p, i);
		f->used++;
	}
	touch(p, f, i);
	slot = i - f->first;
	unlock(p);
	addr_of(f, slot, addr);
	return 0;
}

int tp_fakepool_lookup(struct tp_fakepool *p, int family, const void *addr, char *name, size_t cap)
{
	struct fp_family *f = fam_of(p, family);
	uint32_t slot;
	int ret = -ENOENT;

	if (!f || !tp_cidr_contains(&f->net, family, addr))
		return 0;
	slot = slot_of(f, addr);
	if (slot == NIL)
		return -ENOENT;
	if (lock(p))
		return -EIO;
	if (slot < f->n && ENTRIES(p)[f->first + slot].used) {
		struct fp_entry *e = &ENTRIES(p)[f->first + slot];

		if (cap > e->len) {
			memcpy(name, e->name, e->len);
			name[e->len] = '\0';
			ret = e->len;
			touch(p, f, f->first + slot);
		} else {
			ret = -ENOSPC;
		}
	}
	unlock(p);
	return ret;
}

void tp_fakepool_stat(struct tp_fakepool *p, int family, struct tp_fakepool_stat *out)
{
	struct fp_family *f = fam_of(p, family);

	memset(out, 0, sizeof(*out));
	if (!f || lock(p))
		return;
	out->capacity = f->cap;
	out->used = f->used;
	out->evictions = f->evictions;
	unlock(p);
}

void tp_fakepool_test_hold_lock(struct tp_fakepool *p)
{
	(void)lock(p);
}
