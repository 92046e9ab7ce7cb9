/* SPDX-License-Identifier: MIT */
/* tunplug — leveled logging to stderr with a monotonic timestamp. */
#ifndef TUNPLUG_GW_LOG_H
#define TUNPLUG_GW_LOG_H

#include <stdarg.h>

#include "tunplug/handler.h" /* enum tp_log_level */

/* Messages above `level` are discarded. */
void tp_log_set_level(int level);
int tp_log_get_level(void);
/* Text put before every message (borrowed; NULL or "" = none). */
void tp_log_set_prefix(const char *prefix);
/* One line "<seconds since start> <level> tunplug: <message>" to stderr.
 * host->log of handler.h ends here (registry/registry.c). */
void tp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tp_logv(int level, const char *fmt, va_list ap);

#define tp_log_enabled(level) ((level) <= tp_log_get_level())

#endif
