/* SPDX-License-Identifier: MIT */
/* tunplug — readiness and status for a service manager: systemd's
 * notification protocol (sd_notify(3) of libsystemd) on the socket named
 * by $NOTIFY_SOCKET. Without that variable (not started by systemd with
 * Type=notify) every call is a no-op; so is it in a build without
 * libsystemd (TUNPLUG_SYSTEMD=OFF: tp_notify_built_in() is false).
 *
 * What tunplug says, and when:
 *   READY=1       the tun, its addresses and routes and the handlers are up
 *                 (with --queues N: the master, once every worker is)
 *   STATUS=...    flow counts, every TP_NOTIFY_STATUS_MS
 *   RELOADING=1   a SIGHUP reload starts (MONOTONIC_USEC= with it);
 *                 READY=1 follows when it is applied or refused
 *   STOPPING=1    a stop signal arrived: flows are being closed
 * Only the service's main process may talk (NotifyAccess=main): --queues
 * workers call tp_notify_disown() and report to the master instead. */
#ifndef TUNPLUG_GW_NOTIFY_H
#define TUNPLUG_GW_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TP_NOTIFY_STATUS_MS 5000u

struct tp_notify {
	bool on;        /* $NOTIFY_SOCKET was set (and support is built in) */
	unsigned sent;  /* messages sent */
	unsigned fails; /* messages sd_notify could not send */
};

/* The flow counts STATUS= shows. */
struct tp_notify_counts {
	uint64_t tcp_now, udp_now;        /* open flows */
	uint64_t seen, accepted, refused; /* since start */
	uint64_t bytes_up, bytes_down;    /* since start */
	unsigned workers, workers_ready;  /* --queues: 0 = no workers */
};

/* Was tunplug built with libsystemd? (--version says it.) */
bool tp_notify_built_in(void);

/* Look at $NOTIFY_SOCKET; n is the caller's. Nothing to close but
 * tp_notify_close. */
void tp_notify_init(struct tp_notify *n);

/* READY=1 (with STATUS=text when text is not NULL). */
void tp_notify_ready(struct tp_notify *n, const char *text);

/* STATUS=text (text borrowed). */
void tp_notify_status(struct tp_notify *n, const char *text);

/* RELOADING=1 with MONOTONIC_USEC= (systemd 253's Type=notify-reload wants
 * it; older ones ignore it) and STATUS=reloading. */
void tp_notify_reloading(struct tp_notify *n);

/* STOPPING=1 and STATUS=stopping. */
void tp_notify_stopping(struct tp_notify *n);

/* Done: no message after this. */
void tp_notify_close(struct tp_notify *n);

/* This process is not the service's main process (a --queues worker):
 * remove $NOTIFY_SOCKET from its environment, so nothing here (nor a
 * handler plugin using libsystemd) talks to the service manager. */
void tp_notify_disown(void);

/* The STATUS= text for c into buf (pure): "3 flows open (2 tcp, 1 udp);
 * 10 seen, 9 accepted, 1 refused; 12.3 MB up, 4.5 MB down", with
 * ", 4/4 workers" when c->workers. Returns buf. */
const char *tp_notify_status_text(const struct tp_notify_counts *c, char *buf, size_t len);

#endif
