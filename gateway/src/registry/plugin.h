/* SPDX-License-Identifier: MIT */
/* tunplug — loading handler plugins (shared objects) and checking their ABI. */
#ifndef TUNPLUG_GW_PLUGIN_H
#define TUNPLUG_GW_PLUGIN_H

#include "tunplug/handler.h"

/* Check a handler table against this build's ABI. Returns 0, or -EPROTO
 * after printing a message that names `what` and both versions. */
int tp_handler_check(const struct tp_handler *h, const char *what);

/* dlopen path, find TP_HANDLER_ENTRY, check the table. On success *table
 * and *dl are set (the caller dlclose()s *dl after the handler's fini);
 * returns 0. Otherwise prints one message naming the file and returns
 * -ENOENT (cannot load), -ENOSYS (no entry symbol) or -EPROTO (ABI). */
int tp_plugin_load(const char *path, const struct tp_handler **table, void **dl);

#endif
