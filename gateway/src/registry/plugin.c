/* SPDX-License-Identifier: MIT */
/* tunplug — handler plugins. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "registry/plugin.h"

/* h and what are borrowed. */
int tp_handler_check(const struct tp_handler *h, const char *what)
{
	if ((h->abi_version >> 16) != TP_HANDLER_ABI_MAJOR) {
		fprintf(stderr,
		        "tunplug: %s: handler \"%s\" was built for handler ABI %u.%u, this tunplug "
		        "speaks %u.%u\n",
		        what, h->name ? h->name : "?", h->abi_version >> 16,
		        h->abi_version & 0xffff, TP_HANDLER_ABI_MAJOR, TP_HANDLER_ABI_MINOR);
		return -EPROTO;
	}
	if (h->struct_size < sizeof(struct tp_handler)) {
		fprintf(stderr,
		        "tunplug: %s: handler \"%s\" has a %u-byte table, this tunplug needs at "
		        "least %zu (ABI %u.%u)\n",
		        what, h->name ? h->name : "?", h->struct_size, sizeof(struct tp_handler),
		        TP_HANDLER_ABI_MAJOR, TP_HANDLER_ABI_MINOR);
		return -EPROTO;
	}
	if (!h->name || !h->name[0] || !h->init || !h->flow_close || !h->fini ||
	    (!h->tcp_accept && !h->udp_datagram)) {
		fprintf(stderr,
		        "tunplug: %s: handler table incomplete (needs name, init, flow_close, fini "
		        "and tcp_accept or udp_datagram)\n",
		        what);
		return -EPROTO;
	}
	return 0;
}

/* path is borrowed; see plugin.h for ownership of the results. */
int tp_plugin_load(const char *path, const struct tp_handler **table, void **dl)
{
	tp_handler_entry_fn entry;
	const struct tp_handler *h;
	void *d;
	char what[300];
	int ret;

	d = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!d) {
		fprintf(stderr, "tunplug: --plugin %s: cannot load: %s\n", path, dlerror());
		return -ENOENT;
	}
	/* POSIX: a data pointer to function pointer cast through dlsym */
	*(void **)&entry = dlsym(d, TP_HANDLER_ENTRY);
	if (!entry) {
		fprintf(stderr,
		        "tunplug: --plugin %s: not a tunplug handler plugin (no %s symbol)\n", path,
		        TP_HANDLER_ENTRY);
		ret = -ENOSYS;
		goto fail;
	}
	h = entry();
	if (!h) {
		fprintf(stderr, "tunplug: --plugin %s: %s() returned no table\n", path,
		        TP_HANDLER_ENTRY);
		ret = -EPROTO;
		goto fail;
	}
	snprintf(what, sizeof(what), "--plugin %s", path);
	ret = tp_handler_check(h, what);
	if (ret)
		goto fail;
	*table = h;
	*dl = d;
	return 0;
fail:
	dlclose(d);
	return ret;
}
