/* SPDX-License-Identifier: MIT */
/* tunplug gateway tests — the rooms around the relay (see relayenv.h). */
#include <stdio.h>
#include <string.h>

#include "fakestack.h"
#include "harness.h"
#include "relayenv.h"
#include "udp/udpflow.h"

void relay_env_init(struct relay_env *e)
{
	memset(e, 0, sizeof(*e));
	tp_registry_init(&e->reg, NULL);
}

bool relay_env_up(struct relay_env *e, const char *handler, size_t flow_buffer,
                  int (*protect)(const struct tp_host *host, int fd, int family))
{
	struct tp_host services;
	int ret;

	ret = tp_dispatch_configure(&e->dsp, &e->reg, handler, NULL, 0, NULL, 0);
	CHECK_EQ(ret, 0, "tp_dispatch_configure");
	if (ret)
		return false;
	CHECK_EQ(uv_loop_init(&e->loop), 0, "uv_loop_init");
	e->up = true;
	ret = tp_relay_init(&e->rel, &e->loop, &e->st, &e->dsp, flow_buffer, 0);
	CHECK_EQ(ret, 0, "tp_relay_init");
	if (!ret)
		ret = tp_relay_start(&e->rel);
	memset(&services, 0, sizeof(services));
	services.loop = &e->loop;
	services.connect_timeout_ms = 5000;
	services.protect = protect;
	tp_relay_host_services(&services);
	tp_udpflow_host_services(&services);
	if (!ret)
		ret = tp_registry_start(&e->reg, &services, NULL);
	CHECK_EQ(ret, 0, "relay and handler start");
	return ret == 0;
}

void relay_env_spin(struct relay_env *e, int n)
{
	for (int i = 0; i < n; i++)
		uv_run(&e->loop, UV_RUN_NOWAIT);
}

static void count_open_handle(uv_handle_t *h, void *arg)
{
	unsigned *n = arg;

	if (!uv_is_closing(h)) {
		fprintf(stderr, "handle of type %s still open\n", uv_handle_type_name(h->type));
		(*n)++;
		uv_close(h, NULL); /* leaks the memory of a heap handle: the check fails anyway */
	}
}

void relay_env_down(struct relay_env *e)
{
	unsigned open_handles = 0;

	if (e->up) {
		relay_env_spin(e, 20);
		tp_relay_refuse_pending(&e->rel);
		tp_relay_stop(&e->rel);
		relay_env_spin(e, 20);
		tp_relay_run_deferred(&e->rel);
		tp_registry_stop(&e->reg);
		relay_env_spin(e, 5);
		uv_walk(&e->loop, count_open_handle, &open_handles);
		CHECK_EQ(open_handles, 0, "loop handles still open at the end");
		relay_env_spin(e, 5);
		CHECK_EQ(uv_loop_close(&e->loop), 0, "uv_loop_close");
		CHECK_EQ(tp_relay_flow_count(&e->rel), 0, "flows still allocated at the end");
		CHECK_EQ(fake_misuse(), 0, "calls on flows the stack had freed");
		tp_relay_close(&e->rel);
		tp_registry_close(&e->reg);
		tp_dispatch_close(&e->dsp);
	}
	fake_free_all();
	e->up = false;
}
