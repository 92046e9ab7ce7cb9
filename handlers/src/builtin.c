/* SPDX-License-Identifier: MIT */
/* tunplug — registry of the built-in handlers. */
#include <string.h>

#include "builtin.h"

static const struct tp_handler *const builtins[] = {
        &tp__handler_direct,   &tp__handler_dns,    &tp__handler_echo,   &tp__handler_http,
        &tp__handler_redirect, &tp__handler_reject, &tp__handler_socks5,
};

/* Returns a pointer into a static const table; never free it. */
const struct tp_handler *tp_handler_builtin(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (strcmp(builtins[i]->name, name) == 0)
			return builtins[i];
	return NULL;
}

/* Returns a static string; never free it. */
const char *tp_handler_builtin_name(unsigned i)
{
	if (i >= sizeof(builtins) / sizeof(builtins[0]))
		return NULL;
	return builtins[i]->name;
}
