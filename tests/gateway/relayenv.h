/* SPDX-License-Identifier: MIT */
/* tunplug gateway tests — the rooms around the relay (registry, dispatch,
 * relay, UDP services) set up on a real libuv loop as shell/gateway.c
 * wires them, over the fake stack (fakestack.h). Shared by test_relay and
 * test_udpconn. Checks go through tests/harness.h. */
#ifndef TP_TEST_RELAYENV_H
#define TP_TEST_RELAYENV_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "dispatch/dispatch.h"
#include "registry/registry.h"
#include "relay/relay.h"
#include "stats/stats.h"
#include "tunplug/handler.h"

#define RELAY_SPIN_MAX 2000

struct relay_env {
	bool up; /* the loop and the relay are initialised */
	uv_loop_t loop;
	struct tp_registry reg;
	struct tp_dispatch dsp;
	struct tp_flow_counters st;
	struct tp_relay rel;
};

/* Zero e and start its registry; handler tables the test registers itself
 * (tp_registry_add_table) go in between this and relay_env_up. */
void relay_env_init(struct relay_env *e);

/* Dispatch to handler (a spec), the loop, the relay (flow_buffer; no idle
 * timeout) and the handler instances with the relay's and UDP services
 * (protect may be NULL). Returns true when everything started (failed
 * checks say what did not). */
bool relay_env_up(struct relay_env *e, const char *handler, size_t flow_buffer,
                  int (*protect)(const struct tp_host *host, int fd, int family));

/* Run the loop n times without blocking. */
void relay_env_spin(struct relay_env *e, int n);

/* Run the loop until cond holds (at most RELAY_SPIN_MAX iterations). */
#define RELAY_SPIN_UNTIL(e, cond)                                                     \
	do {                                                                          \
		for (int spin_i_ = 0; spin_i_ < RELAY_SPIN_MAX && !(cond); spin_i_++) \
			uv_run(&(e)->loop, UV_RUN_NOWAIT);                            \
	} while (0)

/* Stop everything as the gateway does and check that nothing is left: no
 * flow allocated, no loop handle open, no call on a flow the fake stack had
 * freed; then free the fake stack's flows. Safe after a failed
 * relay_env_up. */
void relay_env_down(struct relay_env *e);

#endif
