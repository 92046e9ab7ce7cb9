/* SPDX-License-Identifier: MIT */
/* tunplug — the handler interface, version 2.
 *
 * A handler decides what happens to each flow the gateway terminates. It is a
 * versioned table of callbacks (struct tp_handler); the gateway gives each
 * handler instance a table of host services (struct tp_host). Everything runs
 * on the gateway's libuv loop thread: never call the host from another
 * thread.
 *
 * Ownership: the host owns every struct tp_flow. A handler may keep a flow
 * pointer from tcp_accept until flow_close has been called for it (or until
 * it called host->flow_reject / host->flow_close itself and the host called
 * flow_close back).
 *
 * What changed in 2.0, and why:
 *   - Every host service takes a context. Services about a flow take the flow
 *     (as in 1.x); the others (log, protect, opt_get, counter_add) now take
 *     the struct tp_host they came from. In 1.x they took none, so a handler
 *     had to keep the host in a file-static pointer, and two instances of one
 *     handler (two SOCKS5 upstreams, say) shared it. In 2.0 each instance gets
 *     its own struct tp_host from init: keep it in the instance's state and
 *     nothing needs to be file-static.
 *   - opt_get reads the instance's own options (no args parameter).
 *   - Counters from counter_add belong to the instance that added them.
 *   - The log levels are named here (enum tp_log_level) instead of being bare
 *     numbers.
 * A table built for 1.x is refused at start-up with a message naming both
 * versions: the calls above changed shape, so it cannot run unchanged.
 *
 * 2.1 (minor: a 2.0 handler runs unchanged): struct tp_flow_info gains name
 * and name_source, the destination's DNS name when the gateway knows it
 * (fake-IP DNS or sniffing). struct tp_host gains fake_ip_addr and
 * fake_ip_ttl at its end (fake-IP DNS, --fake-ip): the dns handler's way to
 * the gateway's shared pool; a handler reads them only when
 * host->struct_size covers them and fake_ip_addr is not NULL. Fields are
 * only ever added at the end.
 *
 * Instances come and go while the gateway runs (no ABI change): a SIGHUP
 * reload inits new instances (with the new options) for new flows while the
 * old ones keep serving their open flows; an old instance's fini runs from
 * the loop once its last flow_close has returned. So init and fini are not
 * only start-up and exit, and instances must not share file-static state. */
#ifndef TUNPLUG_HANDLER_H
#define TUNPLUG_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#define TP_HANDLER_ABI_MAJOR 2
#define TP_HANDLER_ABI_MINOR 1
#define TP_HANDLER_ABI ((TP_HANDLER_ABI_MAJOR << 16) | TP_HANDLER_ABI_MINOR)

/* Return values of tcp_accept. Negative values are -errno: refuse at once
 * (the client hears what flow_decide's table below says). */
#define TP_OK 0       /* accepted now: the handshake completes immediately */
#define TP_PENDING 1  /* decision later through host->flow_decide() */
#define TP_DECLINED 2 /* not mine: try the next handler (reject if none) */

struct tp_flow;
struct tp_handler_args;

/* Levels of host->log: messages above the configured level are dropped. */
enum tp_log_level { TP_LOG_ERROR = 0, TP_LOG_WARN, TP_LOG_INFO, TP_LOG_DEBUG };

/* Where a flow's name came from (struct tp_flow_info.name_source). */
enum tp_name_source {
	TP_NAME_NONE = 0,   /* no name: the flow has only its addresses */
	TP_NAME_FAKE_IP,    /* dst is a fake-IP pool address handed out for the name */
	TP_NAME_SNIFF_TLS,  /* the TLS ClientHello's server_name */
	TP_NAME_SNIFF_HTTP, /* the HTTP/1 Host header */
	TP_NAME_SNIFF_QUIC, /* the SNI of a QUIC v1 Initial */
};

/* Original addresses of a flow, as the client sent them. */
struct tp_flow_info {
	int proto; /* IPPROTO_TCP or IPPROTO_UDP */
	struct sockaddr_storage src;
	struct sockaddr_storage dst;
	/* 2.1: the destination's name, when the host knows one: lower case,
	 * no trailing dot, at most 253 characters, NUL-terminated. NULL when
	 * name_source is TP_NAME_NONE. Owned by the host; valid as long as the
	 * flow is (until flow_close returns). With TP_NAME_FAKE_IP, dst is an
	 * address of the gateway's pool, not a real host: connect by name. */
	const char *name;
	int name_source; /* enum tp_name_source */
};

/* Callbacks for a handler that reads/writes a flow itself (echo); not
 * needed with flow_splice. */
struct tp_flow_io {
	/* Bytes from the client. Return how many were consumed (0..len); if
	 * fewer than len, delivery pauses until host->flow_resume(). len == 0
	 * means end of stream (client sent FIN); return value ignored. */
	size_t (*on_data)(struct tp_flow *f, void *ud, const void *buf, size_t len);
	/* Room to write again after host->flow_write returned less than asked. */
	void (*on_writable)(struct tp_flow *f, void *ud);
};

/* The host services of one handler instance. The host owns it; it is valid
 * from init until fini returns. Pass the pointer init was given: never a
 * copy of the struct (the host finds the instance through it). */
struct tp_host {
	uint32_t abi_version;
	uint32_t struct_size;
	uv_loop_t *loop;
	void *host_data; /* the host's own: handlers leave it alone */

	/* Logging at an enum tp_log_level. */
	void (*log)(const struct tp_host *host, int level, const char *fmt, ...)
	        __attribute__((format(printf, 3, 4)));
	const struct tp_flow_info *(*flow_info)(const struct tp_flow *f);

	/* Decide a TP_PENDING flow: err 0 completes the handshake; -errno
	 * refuses it, and the client's held SYN is answered so that its
	 * connect() fails as it would have without the gateway (a Linux
	 * client's errno on the right):
	 *   -ECONNREFUSED, -ECONNRESET  RST (the upstream refused or reset
	 *                               the connection)      ECONNREFUSED
	 *   -EHOSTUNREACH, -EHOSTDOWN   ICMP host unreachable EHOSTUNREACH
	 *   -ENETUNREACH, -ENETDOWN     ICMP net unreachable  ENETUNREACH
	 *   -ETIMEDOUT                  nothing: the SYN is dropped; the
	 *                               client's next retransmission is a new
	 *                               flow (a new tcp_accept), as each SYN
	 *                               is a new try on the kernel path
	 *                                                     ETIMEDOUT
	 *   anything else (-EACCES, -EPERM for a policy, -EIO ...)
	 *                               ICMP administratively prohibited
	 *                                                     EHOSTUNREACH
	 *                                                     (IPv6: EACCES)
	 * Pass the upstream connect's own error on and the client sees the
	 * truth. ICMP errors are rate limited (a limited one is not sent).
	 * A positive err is taken as -ECONNREFUSED. After a refusal the host
	 * calls flow_close. (2.0 hosts before this answered every refusal
	 * with a RST; the call is the same.) */
	void (*flow_decide)(struct tp_flow *f, int err);

	/* Relay the flow both ways with `stream` (connected; the host takes
	 * ownership and closes it). Call after flow_decide(f, 0) or from
	 * tcp_accept before returning TP_OK. Returns 0 or -errno.
	 * `stream` must be a handle of its own allocated with malloc(): the
	 * host overwrites stream->data, uv_close()s it and free()s it in the
	 * close callback. The host owns it even when this fails. */
	int (*flow_splice)(struct tp_flow *f, uv_stream_t *stream);

	/* Do-it-yourself I/O. */
	void (*flow_read_start)(struct tp_flow *f, const struct tp_flow_io *io, void *ud);
	void (*flow_resume)(struct tp_flow *f);
	/* Copy up to len bytes toward the client; returns bytes taken (0 = full,
	 * on_writable follows) or -errno. */
	long (*flow_write)(struct tp_flow *f, const void *buf, size_t len);
	/* FIN toward the client once written data is out. */
	void (*flow_shutdown)(struct tp_flow *f);
	/* Close the flow; abort=true sends a RST. flow_close follows. */
	void (*flow_close)(struct tp_flow *f, bool abort);

	/* Prepare an outbound socket before connect: SO_MARK and
	 * SO_BINDTODEVICE as configured so it cannot loop into the tun.
	 * Returns 0 or -errno. */
	int (*protect)(const struct tp_host *host, int fd, int family);
	/* Per-flow slot for the handler's own data. */
	void *(*flow_get_data)(const struct tp_flow *f);
	void (*flow_set_data)(struct tp_flow *f, void *data);
	/* Connect timeout configured for outbound connections, in ms: past it,
	 * refuse with -ETIMEDOUT (the client hears nothing and retries). */
	uint64_t connect_timeout_ms;

	/* ---- UDP flows ---- */
	/* Send one datagram (buf borrowed for the call) to the client of UDP
	 * flow f, from the flow's original destination. Returns 0 or -errno. */
	int (*udp_send)(struct tp_flow *f, const void *buf, size_t len);
	/* The same from another address (full cone: a reply from elsewhere;
	 * same family as the flow). */
	int (*udp_send_from)(struct tp_flow *f, const struct sockaddr *from, const void *buf,
	                     size_t len);
	/* UDP: tell the client its destination is unreachable (ICMP; err
	 * -ECONNREFUSED port, -EHOSTUNREACH host, -ENETUNREACH net, else
	 * administratively prohibited; rate limited). The flow stays open;
	 * call flow_close to end it. */
	void (*flow_unreachable)(struct tp_flow *f, int err);

	/* ---- options and counters of this instance ---- */
	/* The value of option `key` of this instance (the config file's
	 * "handlers:" entry for its spec), or NULL. The string lives until
	 * fini returns. */
	const char *(*opt_get)(const struct tp_host *host, const char *key);
	/* Add delta to this instance's counter `name` (created at first use;
	 * name is copied; prefix it with the handler's name, e.g.
	 * "dns.servfail"). Counters appear in the exit summary and the SIGUSR1
	 * output. Up to 64 names per instance; beyond that they are added to
	 * "other". */
	void (*counter_add)(const struct tp_host *host, const char *name, uint64_t delta);

	/* ---- 2.1: fake-IP DNS (NULL / 0 without --fake-ip) ---- */
	/* The pool address for name[0..len) (lower case, no trailing dot,
	 * 1..253 bytes; borrowed) in family (AF_INET, AF_INET6) into addr (4
	 * or 16 bytes): the name's mapping, or a new one (the least recently
	 * used mapping may be evicted for it). A later flow to that address
	 * carries the name (TP_NAME_FAKE_IP). The pool is the gateway's,
	 * shared by every worker. Returns 0, -EAFNOSUPPORT (no pool of that
	 * family), -EINVAL (not a name the pool takes) or -EIO. */
	int (*fake_ip_addr)(const struct tp_host *host, int family, const char *name, size_t len,
	                    void *addr);
	/* The TTL (seconds) to give those addresses in DNS answers. */
	uint32_t fake_ip_ttl;
};

/* One option of a handler instance (from the config file or the command
 * line); strings owned by the host, valid until fini. */
struct tp_handler_opt {
	const char *key;
	const char *value;
};

/* How a handler instance was configured. A handler table can be
 * instantiated several times (e.g. two SOCKS5 upstreams), each with its own
 * state. Everything is owned by the host and valid until fini returns. */
struct tp_handler_args {
	const char *spec;   /* as written: "direct", "socks5://user:pw@proxy:1080" */
	const char *target; /* what follows "name://" in spec ("" if nothing) */
	const struct tp_handler_opt *opts;
	size_t n_opts;
};

struct tp_handler {
	uint32_t abi_version; /* TP_HANDLER_ABI */
	uint32_t struct_size; /* sizeof(struct tp_handler) */
	const char *name;

	/* Called once per instance with that instance's host (keep the
	 * pointer in *state: every later callback gets state). A returned
	 * -errno aborts start-up, or refuses a reload (log why with host->log
	 * first). */
	int (*init)(const struct tp_host *host, const struct tp_handler_args *args, void **state);
	/* A new TCP flow: TP_OK, TP_PENDING, TP_DECLINED or -errno. */
	int (*tcp_accept)(void *state, struct tp_flow *f);
	/* The flow is finished (either side closed, refused, or shutdown);
	 * err 0 or -errno. Drop every reference to f. Never called from inside
	 * a host->* call (the host queues it to the loop), so f stays valid
	 * until the handler's current callback returns. */
	void (*flow_close)(void *state, struct tp_flow *f, int err);
	void (*fini)(void *state);
	/* UDP (NULL: UDP flows are refused with ICMP port unreachable).
	 * Every datagram of a flow, in order; buf is valid during the call. The
	 * first datagram creates the flow: return TP_OK to take it,
	 * TP_DECLINED or -errno to refuse (the client gets ICMP unreachable
	 * for -errno, port unreachable for TP_DECLINED). For later datagrams,
	 * -errno closes the flow with that ICMP. The host closes idle flows
	 * (flow_close with -ETIMEDOUT). */
	int (*udp_datagram)(void *state, struct tp_flow *f, const void *buf, size_t len);
	void *reserved[7];
};

/* ---- plugins ----
 * A plugin is a shared object (built against this header only, e.g. with
 * `pkg-config --cflags tunplug-handler`) that exports one function:
 *
 *     TP_HANDLER_EXPORT(my_handler_table)
 *
 * tunplug --plugin ./my.so dlopen()s it, calls tunplug_handler_entry() and
 * refuses the table unless its abi_version has this header's major version
 * and its struct_size is at least the size this tunplug needs; the table's
 * `name` is then usable as a handler spec ("name" or "name://target"). The
 * returned table must stay valid until the process exits. */
#define TP_HANDLER_ENTRY "tunplug_handler_entry"
typedef const struct tp_handler *(*tp_handler_entry_fn)(void);
#define TP_HANDLER_EXPORT(table)                                                               \
	__attribute__((visibility("default"))) const struct tp_handler *tunplug_handler_entry( \
	        void);                                                                         \
	__attribute__((visibility("default"))) const struct tp_handler *tunplug_handler_entry( \
	        void)                                                                          \
	{                                                                                      \
		return &(table);                                                               \
	}

#endif
