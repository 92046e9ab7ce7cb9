/* SPDX-License-Identifier: MIT */
/* tunplug — the logger. Single-threaded (the loop thread), so no locking. */
#include <stdio.h>
#include <time.h>

#include "log.h"

static int log_level = TP_LOG_INFO;
static struct timespec log_t0;
static int log_t0_set;
static const char *log_prefix = ""; /* "worker 1: " in a --queues worker */

static const char *const level_tags[] = {"error", "warn", "info", "debug"};

void tp_log_set_level(int level)
{
	log_level = level;
	if (!log_t0_set) {
		clock_gettime(CLOCK_MONOTONIC, &log_t0);
		log_t0_set = 1;
	}
}

void tp_log_set_prefix(const char *prefix)
{
	log_prefix = prefix ? prefix : "";
}

int tp_log_get_level(void)
{
	return log_level;
}

void tp_logv(int level, const char *fmt, va_list ap)
{
	struct timespec now;
	double t;
	char msg[1024];

	if (level > log_level)
		return;
	if (level < TP_LOG_ERROR)
		level = TP_LOG_ERROR;
	if (!log_t0_set) {
		clock_gettime(CLOCK_MONOTONIC, &log_t0);
		log_t0_set = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	t = (double)(now.tv_sec - log_t0.tv_sec) + (double)(now.tv_nsec - log_t0.tv_nsec) / 1e9;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf per line so lines from one process never interleave. */
	fprintf(stderr, "%10.6f %-5s tunplug: %s%s\n", t,
	        level_tags[level > TP_LOG_DEBUG ? TP_LOG_DEBUG : level], log_prefix, msg);
}

void tp_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tp_logv(level, fmt, ap);
	va_end(ap);
}
