/* SPDX-License-Identifier: MIT */
/* tunplug — the built-in handlers by name: direct, dns, echo, http, redirect,
 * reject, socks5 (the table is in handlers/src/builtin.c). */
#ifndef TUNPLUG_BUILTIN_H
#define TUNPLUG_BUILTIN_H

#include "tunplug/handler.h"

/* The built-in handler called `name`, or NULL if there is none. The table is
 * static and const: the pointer stays valid for the life of the process. */
const struct tp_handler *tp_handler_builtin(const char *name);

/* The name of the i-th built-in handler (0-based), or NULL past the end;
 * for help texts. The string is static. */
const char *tp_handler_builtin_name(unsigned i);

#endif
