/* SPDX-License-Identifier: MIT */
/* tunplug — systemd readiness notifications (see notify.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "notify/notify.h"

#ifdef TUNPLUG_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

bool tp_notify_built_in(void)
{
#ifdef TUNPLUG_HAVE_SYSTEMD
	return true;
#else
	return false;
#endif
}

void tp_notify_init(struct tp_notify *n)
{
	const char *sock = getenv("NOTIFY_SOCKET");

	memset(n, 0, sizeof(*n));
	n->on = sock && *sock;
	if (n->on && !tp_notify_built_in()) {
		tp_log(TP_LOG_WARN, "NOTIFY_SOCKET is set but this tunplug was built without "
		                    "libsystemd: no readiness notification (use Type=exec)");
		n->on = false;
	}
}

static void send_text(struct tp_notify *n, const char *text)
{
#ifdef TUNPLUG_HAVE_SYSTEMD
	int ret;

	if (!n->on)
		return;
	ret = sd_notify(0, text);
	if (ret > 0) {
		n->sent++;
		return;
	}
	/* logged once: the manager may have gone (a test's socket closed) */
	if (!n->fails++)
		tp_log(TP_LOG_WARN, "sd_notify: %s", ret < 0 ? strerror(-ret) : "no socket");
#else
	(void)n;
	(void)text;
#endif
}

void tp_notify_ready(struct tp_notify *n, const char *text)
{
	char msg[512];

	if (!n->on)
		return;
	if (text) {
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", text);
		send_text(n, msg);
	} else {
		send_text(n, "READY=1");
	}
}

void tp_notify_status(struct tp_notify *n, const char *text)
{
	char msg[512];

	if (!n->on)
		return;
	snprintf(msg, sizeof(msg), "STATUS=%s", text);
	send_text(n, msg);
}

void tp_notify_reloading(struct tp_notify *n)
{
	struct timespec ts;
	char msg[128];

	if (!n->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ull +
	                 (unsigned long long)ts.tv_nsec / 1000u);
	send_text(n, msg);
}

void tp_notify_stopping(struct tp_notify *n)
{
	send_text(n, "STOPPING=1\nSTATUS=stopping: closing flows");
}

void tp_notify_close(struct tp_notify *n)
{
	n->on = false;
}

void tp_notify_disown(void)
{
	unsetenv("NOTIFY_SOCKET");
}

/* bytes as "12.3 MB" */
static void human(uint64_t b, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	double v = (double)b;
	unsigned u = 0;

	while (v >= 1000.0 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)b);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
}

const char *tp_notify_status_text(const struct tp_notify_counts *c, char *buf, size_t len)
{
	char up[32], down[32];
	int k;

	human(c->bytes_up, up, sizeof(up));
	human(c->bytes_down, down, sizeof(down));
	k = snprintf(buf, len,
	             "%llu flows open (%llu tcp, %llu udp); %llu seen, %llu accepted, %llu "
	             "refused; %s up, %s down",
	             (unsigned long long)(c->tcp_now + c->udp_now), (unsigned long long)c->tcp_now,
	             (unsigned long long)c->udp_now, (unsigned long long)c->seen,
	             (unsigned long long)c->accepted, (unsigned long long)c->refused, up, down);
	if (c->workers && k > 0 && (size_t)k < len)
		snprintf(buf + k, len - (size_t)k, "; %u/%u workers", c->workers_ready, c->workers);
	return buf;
}
