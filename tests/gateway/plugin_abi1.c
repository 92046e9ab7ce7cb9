/* SPDX-License-Identifier: MIT */
/* A handler plugin whose table says it was built for handler ABI 1.2, the
 * last version before the host services took a context. tunplug must
 * refuse it at start with a message naming 1.2 and its own version
 * (tests/gateway/plugin_abi.sh, tests/e2e/e2e_plugin.sh). Its callbacks
 * fail loudly, so a tunplug that accepted it could not pass for one that
 * refused it. */
#define _POSIX_C_SOURCE 200809L /* uv.h needs POSIX types under -std=c11 */
#include <errno.h>
#include <stdio.h>

#include <tunplug/handler.h>

/* Never called by a correct tunplug. */
static int abi1_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	(void)host;
	(void)args;
	(void)state;
	fprintf(stderr, "abi1: init called: the ABI check let a 1.x table through\n");
	return -ENOTSUP;
}

static int abi1_tcp_accept(void *state, struct tp_flow *f)
{
	(void)state;
	(void)f;
	return -ECONNREFUSED;
}

static void abi1_flow_close(void *state, struct tp_flow *f, int err)
{
	(void)state;
	(void)f;
	(void)err;
}

static void abi1_fini(void *state)
{
	(void)state;
}

/* What a plugin built against the 1.2 header declares: the struct
 * tp_handler of 1.2 had the same layout, so only the version tells. */
static const struct tp_handler abi1_table = {
        .abi_version = (1u << 16) | 2u,
        .struct_size = sizeof(struct tp_handler),
        .name = "abi1",
        .init = abi1_init,
        .tcp_accept = abi1_tcp_accept,
        .flow_close = abi1_flow_close,
        .fini = abi1_fini,
};

TP_HANDLER_EXPORT(abi1_table)
