/* SPDX-License-Identifier: MIT */
/* embed_demo — a host program that runs tunplug on a thread of its own
 * through libtunplug (tunplug/tunplug.h), the way an Android app or any
 * other program would: it passes options (typically "--tun-fd N" for a tun
 * it was handed), protects every outbound socket through its own callback,
 * reads counters while the gateway runs, and stops it.
 *
 *   tunplug_embed_demo SECONDS OPTIONS...
 *
 * Runs the gateway for SECONDS (or until SIGINT/SIGTERM), printing the
 * counters once a second, then stops it and prints how many sockets went
 * through protect(). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "tunplug/tunplug.h"

static atomic_uint protected_sockets;
static volatile sig_atomic_t quit;

/* The app's own idea of protecting a socket (Android: VpnService.protect).
 * Here it only counts; the demo runs with --fwmark for the routing part. */
static int protect(int fd, int family, void *user_data)
{
	(void)user_data;
	if (fd < 0 || (family != AF_INET && family != AF_INET6))
		return -22; /* -EINVAL */
	atomic_fetch_add(&protected_sockets, 1);
	return 0;
}

static void *gateway_thread(void *arg)
{
	static int rc;

	rc = tunplug_run(arg);
	return &rc;
}

static void on_signal(int s)
{
	(void)s;
	quit = 1;
}

int main(int argc, char **argv)
{
	struct tunplug_counters c;
	char err[256];
	pthread_t th;
	void *res;
	tunplug *t;
	int secs;

	if (argc < 2) {
		fprintf(stderr, "usage: %s SECONDS [tunplug options...]\n", argv[0]);
		return 2;
	}
	secs = atoi(argv[1]);
	t = tunplug_new(argc - 2, (const char *const *)argv + 2, err, sizeof(err));
	if (!t) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	tunplug_set_protect(t, protect, NULL);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (pthread_create(&th, NULL, gateway_thread, t) != 0) {
		fprintf(stderr, "embed_demo: cannot start a thread\n");
		tunplug_free(t);
		return 1;
	}
	for (int i = 0; i < secs * 10 && !quit; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (i % 10 == 9) {
			tunplug_counters(t, &c);
			printf("embed_demo: t=%llu ms flows seen %llu accepted %llu, bytes up %llu "
			       "down %llu, protect calls %llu\n",
			       (unsigned long long)c.uptime_ms, (unsigned long long)c.flows_seen,
			       (unsigned long long)c.flows_accepted, (unsigned long long)c.bytes_up,
			       (unsigned long long)c.bytes_down,
			       (unsigned long long)c.protect_calls);
			fflush(stdout);
		}
	}
	tunplug_stop(t);
	pthread_join(th, &res);
	tunplug_counters(t, &c);
	printf("embed_demo: stopped, tunplug_run returned %d; flows seen %llu, protect callback "
	       "%u times, gateway counted %llu\n",
	       *(int *)res, (unsigned long long)c.flows_seen, atomic_load(&protected_sockets),
	       (unsigned long long)c.protect_calls);
	tunplug_free(t);
	return *(int *)res == 0 ? 0 : 1;
}
