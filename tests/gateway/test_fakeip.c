/* SPDX-License-Identifier: MIT */
/* The relay's side of fake-IP (gateway/src/relay/, udp/, names/) over the
 * fake stack: a TCP or UDP flow to a mapped pool address reaches its
 * handler with the name (TP_NAME_FAKE_IP); one to a pool address without a
 * mapping never reaches a handler: TCP is refused with a RST
 * (-ECONNREFUSED), UDP with ICMP administratively prohibited, both counted
 * as fake-unmapped and in the names counters; a flow outside the pool has
 * no name. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "fakestack.h"
#include "harness.h"
#include "names/names.h"
#include "relayenv.h"
#include "udp/udpflow.h"

/* A handler that records the name each flow arrives with and refuses it. */
static struct {
	const struct tp_host *host;
	unsigned calls;
	char name[300];
	int source;
} seen;

static int rec_init(const struct tp_host *host, const struct tp_handler_args *args, void **state)
{
	(void)args;
	seen.host = host;
	*state = NULL;
	return 0;
}

static void record(struct tp_flow *f)
{
	const struct tp_flow_info *i = seen.host->flow_info(f);

	seen.calls++;
	snprintf(seen.name, sizeof(seen.name), "%s", i->name ? i->name : "(none)");
	seen.source = i->name_source;
}

static int rec_accept(void *state, struct tp_flow *f)
{
	(void)state;
	record(f);
	return -ECONNREFUSED;
}

static int rec_udp(void *state, struct tp_flow *f, const void *buf, size_t len)
{
	(void)state, (void)buf, (void)len;
	record(f);
	return TP_DECLINED;
}

static void rec_close(void *state, struct tp_flow *f, int err)
{
	(void)state, (void)f, (void)err;
}

static void rec_fini(void *state)
{
	(void)state;
}

static const struct tp_handler rec = {
        .abi_version = TP_HANDLER_ABI,
        .struct_size = sizeof(struct tp_handler),
        .name = "rec",
        .init = rec_init,
        .tcp_accept = rec_accept,
        .flow_close = rec_close,
        .fini = rec_fini,
        .udp_datagram = rec_udp,
};

TP_TEST(flows)
{
	static struct relay_env e;
	struct tp_options o;
	struct tp_names names;
	struct tp_names_counters nc;
	struct tp_tcp_flow *tf;
	struct tp_udp_flow *uf;
	uint8_t a[16];
	char err[256];
	bool ok;

	memset(&seen, 0, sizeof(seen));
	memset(&nc, 0, sizeof(nc));
	tp_options_defaults(&o);
	CHECK(!tp_options_set(&o, "fake-ip", "198.19.200.0/24", err, sizeof(err)), "%s", err);
	CHECK_EQ(tp_names_init(&names, &o, NULL, &nc), 0, "names");
	relay_env_init(&e);
	CHECK_EQ(tp_registry_add_table(&e.reg, &rec), 0, "add rec");
	ok = relay_env_up(&e, "rec", 65536, NULL);
	if (!ok || !names.pool) {
		relay_env_down(&e);
		tp_names_close(&names);
		return;
	}
	tp_relay_set_names(&e.rel, &names);
	CHECK_EQ(tp_fakepool_assign(names.pool, AF_INET, "a.example.com", 13, a, NULL), 0, "map");
	CHECK(a[3] == 1, "198.19.200.1");

	tf = fake_tcp_new("198.18.0.1", 40000, "198.19.200.1", 443, 65536);
	tp_relay_tcp_syn(&e.rel, tf);
	relay_env_spin(&e, 5);
	CHECK(seen.calls == 1 && !strcmp(seen.name, "a.example.com") &&
	              seen.source == TP_NAME_FAKE_IP,
	      "TCP: handler saw %u flows, name %s source %d", seen.calls, seen.name, seen.source);
	OK("TCP to a mapped pool address: the handler gets the name, TP_NAME_FAKE_IP");

	tf = fake_tcp_new("198.18.0.1", 40001, "198.19.200.77", 443, 65536);
	tp_relay_tcp_syn(&e.rel, tf);
	relay_env_spin(&e, 5);
	CHECK_EQ(seen.calls, 1, "the handler never sees the unmapped flow");
	CHECK(tf->rejects == 1 && tf->reject_err == -ECONNREFUSED, "RST: rejects %u err %d",
	      tf->rejects, tf->reject_err);
	CHECK_EQ(e.st.flows_refused[TP_REFUSE_UNMAPPED], 1, "refused as fake-unmapped");
	CHECK_EQ(nc.unmapped, 1, "names: unmapped");
	OK("TCP to an unmapped pool address: refused with a RST before any handler");

	tf = fake_tcp_new("198.18.0.1", 40002, "198.19.1.1", 443, 65536);
	tp_relay_tcp_syn(&e.rel, tf);
	relay_env_spin(&e, 5);
	CHECK(seen.calls == 2 && !strcmp(seen.name, "(none)") && seen.source == TP_NAME_NONE,
	      "outside the pool: name %s", seen.name);
	OK("TCP outside the pool: no name");

	uf = fake_udp_new("198.18.0.1", 5000, "198.19.200.1", 53);
	tp_udpflow_new(&e.rel, uf);
	fake_udp_datagram(uf, "x", 1);
	relay_env_spin(&e, 5);
	CHECK(seen.calls == 3 && !strcmp(seen.name, "a.example.com"), "UDP named: %s", seen.name);
	uf = fake_udp_new("198.18.0.1", 5001, "198.19.200.9", 53);
	tp_udpflow_new(&e.rel, uf);
	fake_udp_datagram(uf, "x", 1);
	relay_env_spin(&e, 5);
	CHECK_EQ(seen.calls, 3, "the handler never sees the unmapped UDP flow");
	CHECK(uf->unreachables == 1 && uf->unreach_err == -EACCES && uf->closes == 1,
	      "ICMP prohibited and closed: %u %d %u", uf->unreachables, uf->unreach_err,
	      uf->closes);
	CHECK_EQ(e.st.flows_refused[TP_REFUSE_UNMAPPED], 2, "refused as fake-unmapped");
	CHECK(nc.unmapped == 2 && nc.named == 2, "names: unmapped %llu named %llu",
	      (unsigned long long)nc.unmapped, (unsigned long long)nc.named);
	OK("UDP: named to a mapped address; an unmapped one gets ICMP prohibited, no handler");

	relay_env_down(&e);
	tp_names_close(&names);
}
