/* SPDX-License-Identifier: MIT */
/* tunplug — private: the handler tables defined by each built-in file. */
#ifndef TUNPLUG_HANDLERS_BUILTIN_INT_H
#define TUNPLUG_HANDLERS_BUILTIN_INT_H

#include "tunplug/builtin.h"

extern const struct tp_handler tp__handler_direct;
extern const struct tp_handler tp__handler_dns;
extern const struct tp_handler tp__handler_echo;
extern const struct tp_handler tp__handler_http;
extern const struct tp_handler tp__handler_redirect;
extern const struct tp_handler tp__handler_reject;
extern const struct tp_handler tp__handler_socks5;

#endif
