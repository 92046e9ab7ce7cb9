/* SPDX-License-Identifier: MIT */
/* An out-of-tree tunplug handler plugin: "upper" answers every TCP flow
 * with the client's bytes upper-cased, and every UDP datagram likewise.
 *
 * Build against the installed SDK:  make   (uses pkg-config tunplug-handler)
 * Run:  tunplug --plugin ./upper.so --handler upper
 *   or  tunplug --plugin ./upper.so --rule dst=198.19.42.0/24,handler=upper
 *
 * It uses only <tunplug/handler.h> and libuv, as every plugin must, and
 * follows handler ABI 2.0: the host services an instance gets in init are
 * kept in its own state, and the services that are not about a flow (log,
 * opt_get, counter_add, protect) take that host pointer. */
#define _POSIX_C_SOURCE 200809L /* uv.h needs POSIX types under -std=c11 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tunplug/handler.h>

/* One instance of the handler. tunplug may create several (one per spec
 * that names "upper"), so everything an instance needs lives here, starting
 * with the host services it got in init: nothing is file-static. */
struct upper {
	const struct tp_host *host;
};

/* TCP: the instance is the ud of its flows' I/O callbacks. */
static size_t on_data(struct tp_flow *f, void *ud, const void *buf, size_t len)
{
	const struct upper *u = ud;
	const struct tp_host *host = u->host;
	char tmp[4096];
	size_t n = len < sizeof(tmp) ? len : sizeof(tmp);
	long w;

	if (len == 0) { /* the client finished: so do we */
		host->flow_shutdown(f);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		tmp[i] = (char)toupper(((const unsigned char *)buf)[i]);
	w = host->flow_write(f, tmp, n);
	if (w > 0)
		host->counter_add(host, "upper.tcp_bytes", (uint64_t)w);
	if (w < 0) {
		host->flow_close(f, true);
		return len;
	}
	return (size_t)w; /* fewer: the host pauses us until on_writable */
}

static void on_writable(struct tp_flow *f, void *ud)
{
	const struct upper *u = ud;

	u->host->flow_resume(f);
}

static const struct tp_flow_io io = {.on_data = on_data, .on_writable = on_writable};

static int upper_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	/* this instance's option, from a config file's handlers: section */
	const char *tag = host->opt_get(host, "tag");
	struct upper *u = calloc(1, sizeof(*u));

	if (!u) {
		host->log(host, TP_LOG_ERROR, "upper: out of memory");
		return -ENOMEM;
	}
	u->host = host;
	*state = u;
	host->log(host, TP_LOG_INFO, "upper: ready (spec \"%s\", tag %s)", args->spec,
	          tag ? tag : "none");
	return 0;
}

static int upper_tcp_accept(void *state, struct tp_flow *f)
{
	struct upper *u = state;

	u->host->flow_read_start(f, &io, u);
	return TP_OK;
}

static int upper_udp_datagram(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	const struct upper *u = state;
	char *tmp = malloc(len ? len : 1);

	if (!tmp)
		return TP_OK; /* a lost datagram */
	for (size_t i = 0; i < len; i++)
		tmp[i] = (char)toupper(((const unsigned char *)buf)[i]);
	if (u->host->udp_send(f, tmp, len) == 0)
		u->host->counter_add(u->host, "upper.udp_datagrams", 1);
	free(tmp);
	return TP_OK;
}

static void upper_flow_close(void *state, struct tp_flow *f, int err)
{
	/* no per-flow data to free */
	(void)state;
	(void)f;
	(void)err;
}

static void upper_fini(void *state)
{
	free(state);
}

static const struct tp_handler upper = {
#ifdef UPPER_WRONG_ABI /* only for tunplug's test of the ABI check */
        .abi_version = ((TP_HANDLER_ABI_MAJOR + 1) << 16),
#else
        .abi_version = TP_HANDLER_ABI,
#endif
        .struct_size = sizeof(struct tp_handler),
        .name = "upper",
        .init = upper_init,
        .tcp_accept = upper_tcp_accept,
        .flow_close = upper_flow_close,
        .fini = upper_fini,
        .udp_datagram = upper_udp_datagram,
};

TP_HANDLER_EXPORT(upper)
