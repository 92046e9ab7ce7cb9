/* SPDX-License-Identifier: MIT */
/* tunplug — dropping root after set-up. */
#ifndef TUNPLUG_GW_PRIVDROP_H
#define TUNPLUG_GW_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>

/* Become `user` (its uid, primary gid and supplementary groups), keeping
 * only CAP_NET_ADMIN (keep_admin) and CAP_NET_RAW (keep_raw) as effective
 * and permitted capabilities, none inheritable. Verifies that root cannot
 * be regained. Returns 0 or -errno after printing one message naming the
 * step that failed. */
int tp_privdrop(const char *user, bool keep_admin, bool keep_raw);

#endif
