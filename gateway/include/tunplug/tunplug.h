/* SPDX-License-Identifier: MIT */
/* tunplug — embedding API (libtunplug).
 *
 * Run the whole gateway inside another program: an app that is handed a tun
 * fd (the Android VpnService model: pass "--tun-fd N"), or any program that
 * wants a userspace TCP/IP gateway on one of its threads.
 *
 *     char err[256];
 *     tunplug *t = tunplug_new_args("--tun-fd 5 --handler socks5://10.0.0.1:1080",
 *                                   err, sizeof(err));
 *     tunplug_set_protect(t, my_protect, app);   // e.g. VpnService.protect()
 *     // thread A:                 // thread B, any time:
 *     tunplug_run(t);              tunplug_stop(t);
 *     tunplug_free(t);
 *
 * Options are exactly the command line's (see tunplug --help). The library
 * never installs signal handlers; the program decides when to stop. Only one
 * instance may run per process (the TCP/IP stack has global state);
 * tunplug_run returns -EBUSY while another one runs. */
#ifndef TUNPLUG_TUNPLUG_H
#define TUNPLUG_TUNPLUG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tunplug tunplug;

/* Called on the gateway's thread for every outbound socket (TCP and UDP, to
 * upstreams, proxies, resolvers) after socket() and before connect(), so the
 * program can keep it out of the tun (Android: VpnService.protect(fd)).
 * family is AF_INET or AF_INET6. Return 0, or -errno to fail that flow. */
typedef int (*tunplug_protect_fn)(int fd, int family, void *user_data);

/* A snapshot of the main counters (see the exit summary for all of them). */
struct tunplug_counters {
	uint64_t packets_in, packets_out; /* tun <-> stack */
	uint64_t bytes_up, bytes_down;    /* client -> upstream, upstream -> client */
	uint64_t flows_seen, flows_accepted, flows_refused, flows_closed;
	uint64_t tcp_flows_now, udp_flows_now;
	uint64_t drops;         /* malformed or unsupported packets, all reasons */
	uint64_t protect_calls; /* outbound sockets that went through protect */
	uint64_t uptime_ms;
};

/* Parse options: argv[0..argc) are all options (no program name first;
 * argv[argc] may be anything).
 * Returns a new instance owned by the caller (tunplug_free), or NULL with a
 * one-line message in err. The strings are copied. */
tunplug *tunplug_new(int argc, const char *const *argv, char *err, size_t errlen);
/* The same from one string split on blanks (no quoting). */
tunplug *tunplug_new_args(const char *args, char *err, size_t errlen);

/* Set before tunplug_run. fn may be NULL (then only --fwmark /
 * --bind-interface protect sockets). */
void tunplug_set_protect(tunplug *t, tunplug_protect_fn fn, void *user_data);

/* Set up (tun, netlink unless --tun-fd, stack, handlers) and run on the
 * calling thread until tunplug_stop. Returns 0 after a clean stop, or
 * -errno if set-up failed (a message went to stderr). Call at most once. */
int tunplug_run(tunplug *t);

/* Ask a running (or about to run) instance to stop: every flow is closed,
 * netlink state removed, then tunplug_run returns. Any thread (not from a
 * signal handler: it takes a mutex). */
void tunplug_stop(tunplug *t);

/* Copy the latest counters (refreshed at least every 250 ms while running,
 * and final after tunplug_run returned). Any thread. Returns 0. */
int tunplug_counters(tunplug *t, struct tunplug_counters *out);

/* Free an instance that is not running (never ran, or tunplug_run returned). */
void tunplug_free(tunplug *t);

#ifdef __cplusplus
}
#endif
#endif
