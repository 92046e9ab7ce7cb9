/* SPDX-License-Identifier: MIT */
/* Stack tests: many flows and connection churn through lwIP's hashed PCB
 * tables (patch 0008) and timer lists (patch 0009). The stack is built
 * with TP_STACK_CHECK: after every call that leaves lwIP, its lists, hash
 * table and timer lists are checked against each other (abort on a
 * mismatch). The cases drive flows through every way a connection ends
 * (client RST, owner abort, either side closing first, TIME-WAIT) and
 * reuse the same tuples while the old connection is still in TIME-WAIT,
 * with a fake clock. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/tcp.h"
#include "tunplug/stack.h"

#include "harness.h"
#include "wire.h"

/* ---- the owner: one slot per client tuple ---- */
enum slot_state { SL_FREE, SL_OPEN };

struct slot {
	struct tw_peer p;
	struct tp_tcp_flow *f; /* the stack's flow while the owner has it */
	enum slot_state st;
	bool closed;    /* `closed` fired for the current flow */
	int closed_err; /* ... with this */
	bool eof;
	bool established;
	unsigned opened; /* connections this tuple had */
};

static struct slot *syn_slot; /* the slot whose SYN is being sent */
static unsigned n_closed_total;

static void ev_established(struct tp_tcp_flow *f, void *ud)
{
	struct slot *s = ud;
	(void)f;
	s->established = true;
}

static void ev_readable(struct tp_tcp_flow *f, void *ud)
{
	(void)ud;
	tp_tcp_flow_consume(f, tp_tcp_flow_queued(f)); /* an eager reader */
}

static void ev_eof(struct tp_tcp_flow *f, void *ud)
{
	struct slot *s = ud;
	(void)f;
	s->eof = true;
}

static void ev_closed(struct tp_tcp_flow *f, void *ud, int err)
{
	struct slot *s = ud;
	CHECK(s->f == f, "closed for the slot's own flow");
	s->closed = true;
	s->closed_err = err;
	s->f = NULL;
	n_closed_total++;
}

static const struct tp_tcp_events events = {
        .established = ev_established,
        .readable = ev_readable,
        .eof = ev_eof,
        .closed = ev_closed,
};

static void on_syn(void *ctx, struct tp_tcp_flow *f)
{
	(void)ctx;
	CHECK(syn_slot != NULL, "a SYN the test did not send");
	if (!syn_slot) {
		tp_tcp_flow_reject(f, -ECONNREFUSED);
		return;
	}
	syn_slot->f = f;
	tp_tcp_flow_set_events(f, &events, syn_slot);
	tp_tcp_flow_accept(f);
}

static uint32_t now_ms;

static void advance(uint32_t ms)
{
	for (uint32_t t = 0; t < ms; t += 50) {
		now_ms += 50;
		tp_stack_set_now(now_ms);
		tp_stack_poll();
	}
}

static size_t mem_base;

static void stack_up(unsigned max_flows)
{
	struct tp_stack_cfg cfg = {
	        .mtu = 1500,
	        .max_flows = max_flows,
	        .output = tw_capture,
	        .tcp_syn = on_syn,
	};
	tp_stack_set_now(now_ms);
	int r = tp_stack_init(&cfg);
	CHECK(r == 0, "tp_stack_init: %d", r);
	mem_base = tp_stack_mem_in_use();
	n_closed_total = 0;
	tw_clear();
}

static void slot_init(struct slot *s, unsigned i)
{
	char src[64], dst[64];

	memset(s, 0, sizeof(*s));
	if (i % 2 == 0) {
		snprintf(src, sizeof(src), "198.18.%u.%u", (i / 200) % 250, i % 200 + 1);
		snprintf(dst, sizeof(dst), "198.19.%u.%u", (i / 7) % 250, i % 7 + 1);
		tw_peer_init(&s->p, AF_INET, src, dst, (uint16_t)(10000 + i), 80, 1000u * i);
	} else {
		snprintf(src, sizeof(src), "fd00:18::%x", i + 1);
		snprintf(dst, sizeof(dst), "fd00:19::%x", i % 13 + 1);
		tw_peer_init(&s->p, AF_INET6, src, dst, (uint16_t)(10000 + i), 443, 1000u * i);
	}
}

/* The client connects; the owner accepts at once. */
static bool slot_open(struct slot *s)
{
	tw_clear();
	s->closed = s->eof = s->established = false;
	s->p.seq += 100000; /* a new incarnation starts well above the old one */
	syn_slot = s;
	tw_send(&s->p, TW_SYN, NULL, 0);
	syn_slot = NULL;
	int i = tw_last_to(&s->p, TW_SYN | TW_ACK);
	CHECK(i >= 0, "SYN-ACK for port %u (connection %u of the tuple)", s->p.sport,
	      s->opened + 1);
	if (i < 0)
		return false;
	tw_take(&s->p, i, true);
	tw_send(&s->p, TW_ACK, NULL, 0);
	CHECK(s->established && s->f, "established (port %u)", s->p.sport);
	s->st = SL_OPEN;
	s->opened++;
	return s->established;
}

static void slot_data_up(struct slot *s)
{
	static const char msg[] = "0123456789";
	tw_send(&s->p, TW_ACK | TW_PSH, msg, 10);
	CHECK(s->f && tp_tcp_flow_queued(s->f) == 0, "data consumed by the owner");
}

static void slot_data_down(struct slot *s)
{
	char msg[100];
	memset(msg, 'd', sizeof(msg));
	tw_clear();
	long n = tp_tcp_flow_send(s->f, msg, sizeof(msg), false);
	CHECK(n == (long)sizeof(msg), "send took %ld", n);
	int i = tw_last_to(&s->p, TW_ACK);
	CHECK(i >= 0 && tw_payload_len(i) == sizeof(msg), "data segment out");
	tw_take(&s->p, i, true);
	tw_send(&s->p, TW_ACK, NULL, 0);
}

static void slot_client_rst(struct slot *s)
{
	tw_send(&s->p, TW_RST | TW_ACK, NULL, 0);
	CHECK(s->closed && s->closed_err == -ECONNRESET, "client RST: closed(%d)", s->closed_err);
	s->st = SL_FREE;
}

static void slot_owner_abort(struct slot *s)
{
	tw_clear();
	tp_tcp_flow_close(s->f, true);
	CHECK(tw_last_to(&s->p, TW_RST) >= 0, "owner abort: RST out");
	CHECK(s->closed && s->closed_err == -ECONNABORTED, "owner abort: closed(%d)",
	      s->closed_err);
	s->st = SL_FREE;
}

/* The client closes first; lwIP ends in CLOSED once our FIN is acked. */
static void slot_client_close_first(struct slot *s)
{
	tw_send(&s->p, TW_ACK | TW_FIN, NULL, 0);
	CHECK(s->eof, "client FIN: eof");
	tw_clear();
	tp_tcp_flow_close(s->f, false);
	CHECK(s->closed && s->closed_err == 0, "clean close: closed(%d)", s->closed_err);
	int i = tw_last_to(&s->p, TW_FIN);
	CHECK(i >= 0, "our FIN out (LAST-ACK)");
	tw_take(&s->p, i, true);
	tw_send(&s->p, TW_ACK, NULL, 0);
	s->st = SL_FREE;
}

/* We close first; the client's FIN puts lwIP's connection in TIME-WAIT. */
static void slot_owner_close_first(struct slot *s)
{
	tw_clear();
	tp_tcp_flow_close(s->f, false);
	CHECK(s->closed && s->closed_err == 0, "clean close: closed(%d)", s->closed_err);
	int i = tw_last_to(&s->p, TW_FIN);
	CHECK(i >= 0, "our FIN out (FIN-WAIT-1)");
	tw_take(&s->p, i, true);
	tw_clear();
	tw_send(&s->p, TW_ACK | TW_FIN, NULL, 0);
	i = tw_last_to(&s->p, TW_ACK);
	CHECK(i >= 0 && tw_payload_len(i) == 0, "client FIN acked (TIME-WAIT)");
	s->st = SL_FREE;
}

static uint32_t rnd_state;
static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* Random churn over a few hundred tuples, each reused many times: opens,
 * data both ways, RSTs, aborts, closes from either side, TIME-WAIT and the
 * clock moving. A small table (64 buckets) makes chains long. */
TP_TEST(churn)
{
	enum { NSLOT = 300, STEPS = 60000 };
	static struct slot slots[NSLOT];
	unsigned opens = 0, ends[4] = {0}, before;

	rnd_state = 0x2545f491u;
	stack_up(64);
	for (unsigned i = 0; i < NSLOT; i++)
		slot_init(&slots[i], i);
	for (unsigned step = 0; step < STEPS && !tp_test_failures(); step++) {
		struct slot *s = &slots[rnd() % NSLOT];
		uint32_t op = rnd() % 100;

		if (op < 2) {
			advance(50 + rnd() % 1000);
			continue;
		}
		if (s->st == SL_FREE) {
			if (tp_stack_stats()->tcp_flows_now < 64 && slot_open(s))
				opens++;
			continue;
		}
		if (op < 40)
			slot_data_up(s);
		else if (op < 60)
			slot_data_down(s);
		else if (op < 70)
			(slot_client_rst(s), ends[0]++);
		else if (op < 80)
			(slot_owner_abort(s), ends[1]++);
		else if (op < 90)
			(slot_client_close_first(s), ends[2]++);
		else
			(slot_owner_close_first(s), ends[3]++);
	}
	CHECK(opens > 4000 && ends[0] && ends[1] && ends[2] && ends[3],
	      "churn covered every path: %u opens, ends %u %u %u %u", opens, ends[0], ends[1],
	      ends[2], ends[3]);
	before = n_closed_total;
	tp_stack_shutdown();
	unsigned open_left = 0;
	for (unsigned i = 0; i < NSLOT; i++)
		open_left += slots[i].st == SL_OPEN;
	CHECK(n_closed_total - before == open_left, "shutdown closed the %u open flows (%u)",
	      open_left, n_closed_total - before);
	CHECK_EQ(tp_stack_mem_in_use(), 0, "lwIP memory after shutdown");
	OK("churn: %u connections over %u tuples (RST %u, abort %u, client closes %u, owner "
	   "closes %u); lists and hash consistent after every call",
	   opens, NSLOT, ends[0], ends[1], ends[2], ends[3]);
}

/* Thousands of connections end in TIME-WAIT; the same tuples connect again
 * at once (the stale TIME-WAIT connection is found by its tuple and
 * aborted) and again after TIME-WAIT expired. */
TP_TEST(timewait_reuse)
{
	enum { N = 3000 };
	static struct slot slots[N];
	unsigned ok = 0;

	stack_up(4096);
	for (unsigned i = 0; i < N; i++) {
		slot_init(&slots[i], i);
		ok += slot_open(&slots[i]);
	}
	CHECK_EQ(ok, N, "opened");
	for (unsigned i = 0; i < N; i++)
		slot_owner_close_first(&slots[i]);
	CHECK_EQ(tp_stack_stats()->tcp_flows_now, 0, "no flow of the owner left");
	CHECK(tp_stack_mem_in_use() > mem_base, "the TIME-WAIT connections hold memory");
	/* reuse every tuple while its old connection is in TIME-WAIT */
	ok = 0;
	for (unsigned i = 0; i < N; i++)
		ok += slot_open(&slots[i]);
	CHECK_EQ(ok, N, "reopened over TIME-WAIT");
	for (unsigned i = 0; i < N; i++)
		slot_client_close_first(&slots[i]);
	CHECK_EQ(tp_stack_mem_in_use(), mem_base, "TIME-WAIT replaced, then closed: baseline");
	/* TIME-WAIT again, and this time it expires (2 MSL = 4 s) */
	ok = 0;
	for (unsigned i = 0; i < N; i++) {
		ok += slot_open(&slots[i]);
		slot_owner_close_first(&slots[i]);
	}
	CHECK_EQ(ok, N, "opened a third time");
	CHECK(tp_stack_mem_in_use() > mem_base, "in TIME-WAIT");
	advance(5000);
	CHECK_EQ(tp_stack_mem_in_use(), mem_base, "TIME-WAIT expired");
	ok = 0;
	for (unsigned i = 0; i < N; i++) {
		ok += slot_open(&slots[i]);
		slot_client_rst(&slots[i]);
	}
	CHECK_EQ(ok, N, "opened after TIME-WAIT expired");
	CHECK_EQ(tp_stack_mem_in_use(), mem_base, "all closed: back to the baseline");
	tp_stack_shutdown();
	CHECK_EQ(tp_stack_mem_in_use(), 0, "lwIP memory after shutdown");
	OK("%u tuples: TIME-WAIT, reused at once, closed", N);
}

/* The checker itself: a PCB whose stored hash, list link or bucket is
 * wrong is reported (so the cases above could fail). */
TP_TEST(checker_detects)
{
	static struct slot sl[2];
	ip_addr_t l, r;
	struct tcp_pcb *pcb;

	stack_up(16);
	for (unsigned i = 0; i < 2; i++) {
		slot_init(&sl[i], i);
		slot_open(&sl[i]);
	}
	CHECK(tcp_tunplug_check() == NULL, "consistent: %s", tcp_tunplug_check());
	ip_addr_set_zero(&l);
	ip_addr_set_zero(&r);
	IP_SET_TYPE_VAL(l, IPADDR_TYPE_V4);
	IP_SET_TYPE_VAL(r, IPADDR_TYPE_V4);
	memcpy(&ip_2_ip4(&l)->addr, sl[0].p.dst, 4);
	memcpy(&ip_2_ip4(&r)->addr, sl[0].p.src, 4);
	pcb = tcp_pcb_lookup(&l, sl[0].p.dport, &r, sl[0].p.sport, NETIF_NO_INDEX);
	CHECK(pcb != NULL && pcb->state == ESTABLISHED, "lookup finds the connection");
	if (pcb) {
		pcb->hash ^= 1;
		CHECK(tcp_tunplug_check() != NULL, "a changed hash is reported");
		pcb->hash ^= 1;
		pcb->remote_port++;
		CHECK(tcp_tunplug_check() != NULL, "a changed tuple is reported");
		pcb->remote_port--;
		struct tcp_pcb **pp = pcb->pprev;
		pcb->pprev = NULL;
		CHECK(tcp_tunplug_check() != NULL, "a broken back link is reported");
		pcb->pprev = pp;
		CHECK(tcp_tunplug_check() == NULL, "consistent again");
	}
	for (unsigned i = 0; i < 2; i++)
		slot_client_rst(&sl[i]);
	tp_stack_shutdown();
	OK("the consistency checker reports a wrong hash, tuple or back link");
}

static void setup(void)
{
	tw_inject = tp_stack_input;
	syn_slot = NULL;
}

static void teardown(void)
{
	CHECK_EQ(tp_stack_mem_in_use(), 0, "lwIP memory in use after the case");
}

TP_TEST_FIXTURE(setup, teardown);
