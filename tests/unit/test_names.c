/* SPDX-License-Identifier: MIT */
/* A flow's destination name for the upstreams (handlers/src/names.c): which
 * names may be sent to a proxy, what a flow without a usable name does, and
 * which address of a lookup direct connects to. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "names.h"

TP_TEST(valid)
{
	static const struct {
		const char *name;
		bool ok;
	} t[] = {
	        {"example.com", true},
	        {"a", true},
	        {"www.example.com", true},
	        {"xn--bcher-kva.example", true},
	        {"_sip._tcp.example.com", true},
	        {"EXAMPLE.com", true},
	        {"1.2.3.4", true}, /* a numeric name is still a name */
	        {"", false},
	        {".", false},
	        {"example.com.", false},
	        {".example.com", false},
	        {"a..b", false},
	        {"a b", false},
	        {"a\r\nb", false},
	        {"a:80", false},
	        {"u@h", false},
	        {"a/b", false},
	        {"a%2e", false},
	        {"[::1]", false},
	        {"caf\xc3\xa9.fr", false},
	        {"a\x7f", false},
	};
	char name[300];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK(tp_name_valid(t[i].name) == t[i].ok, "\"%s\": want %s", t[i].name,
		      t[i].ok ? "valid" : "refused");
	CHECK(!tp_name_valid(NULL), "NULL refused");
	/* labels: 63 characters is the most */
	memset(name, 'a', 63);
	strcpy(name + 63, ".com");
	CHECK(tp_name_valid(name), "63-character label");
	memset(name, 'a', 64);
	strcpy(name + 64, ".com");
	CHECK(!tp_name_valid(name), "64-character label refused");
	/* the whole name: 253 characters is the most */
	for (size_t i = 0; i < 253; i++)
		name[i] = (i % 50 == 49) ? '.' : 'b';
	name[253] = '\0';
	CHECK(tp_name_valid(name), "253 characters");
	name[253] = 'b';
	name[254] = '\0';
	CHECK(!tp_name_valid(name), "254 characters refused");
	OK("names: letters, digits, '-', '_' in labels of 1..63; 253 at most; the rest refused");
}

TP_TEST(flow_name)
{
	struct tp_flow_info fi;
	int err = 1;

	memset(&fi, 0, sizeof(fi));
	CHECK(tp_flow_name(&fi, &err) == NULL && err == 0, "no name: by address");
	fi.name = "www.example.com";
	fi.name_source = TP_NAME_SNIFF_TLS;
	CHECK(tp_flow_name(&fi, &err) == fi.name && err == 0, "sniffed name used");
	fi.name_source = TP_NAME_FAKE_IP;
	CHECK(tp_flow_name(&fi, &err) == fi.name && err == 0, "fake-IP name used");
	fi.name = "bad name";
	CHECK(tp_flow_name(&fi, &err) == NULL && err == -EHOSTUNREACH,
	      "fake IP with a bad name: refused");
	fi.name = NULL;
	CHECK(tp_flow_name(&fi, &err) == NULL && err == -EHOSTUNREACH,
	      "fake IP without a name: refused");
	fi.name = "bad name";
	fi.name_source = TP_NAME_SNIFF_HTTP;
	CHECK(tp_flow_name(&fi, &err) == NULL && err == 0, "sniffed bad name: by address");
	OK("flow names: used when valid; a fake IP without one is refused, a real IP goes on");
}

static struct addrinfo ai_of(struct sockaddr_storage *ss, const char *ip, struct addrinfo *next)
{
	struct addrinfo ai;

	memset(&ai, 0, sizeof(ai));
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(9); /* replaced by the flow's port */
		inet_pton(AF_INET6, ip, &a->sin6_addr);
		ai.ai_family = AF_INET6;
		ai.ai_addrlen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(9);
		inet_pton(AF_INET, ip, &a->sin_addr);
		ai.ai_family = AF_INET;
		ai.ai_addrlen = sizeof(*a);
	}
	ai.ai_addr = (struct sockaddr *)ss;
	ai.ai_next = next;
	return ai;
}

TP_TEST(pick)
{
	struct sockaddr_storage s1, s2, s3, out;
	struct addrinfo a3 = ai_of(&s3, "fd00::3", NULL);
	struct addrinfo a2 = ai_of(&s2, "198.19.0.2", &a3);
	struct addrinfo a1 = ai_of(&s1, "fd00::1", &a2);
	struct sockaddr_in *o4 = (struct sockaddr_in *)&out;
	struct sockaddr_in6 *o6 = (struct sockaddr_in6 *)&out;
	char txt[INET6_ADDRSTRLEN];

	CHECK_EQ(tp_name_pick(&a1, AF_INET, 443, &out), 0, "v4 client");
	CHECK(out.ss_family == AF_INET && o4->sin_port == htons(443) &&
	              !strcmp(inet_ntop(AF_INET, &o4->sin_addr, txt, sizeof(txt)), "198.19.0.2"),
	      "v4 client gets the v4 address, the flow's port");
	CHECK_EQ(tp_name_pick(&a1, AF_INET6, 80, &out), 0, "v6 client");
	CHECK(out.ss_family == AF_INET6 && o6->sin6_port == htons(80) &&
	              !strcmp(inet_ntop(AF_INET6, &o6->sin6_addr, txt, sizeof(txt)), "fd00::1"),
	      "v6 client gets the first v6 address");
	CHECK_EQ(tp_name_pick(&a3, AF_INET, 22, &out), 0, "v4 client, only v6 known");
	CHECK(out.ss_family == AF_INET6 && o6->sin6_port == htons(22), "then the other family");
	a3.ai_family = AF_UNIX;
	CHECK_EQ(tp_name_pick(&a3, AF_INET, 22, &out), -ENOENT, "no usable family");
	CHECK_EQ(tp_name_pick(NULL, AF_INET, 22, &out), -ENOENT, "nothing");
	OK("pick: the client's family first, then the other, with the flow's port");
}

TP_TEST(hints)
{
	struct addrinfo h;

	memset(&h, 0xff, sizeof(h));
	tp_name_hints(&h);
	CHECK(h.ai_family == AF_UNSPEC && h.ai_socktype == SOCK_STREAM &&
	              !(h.ai_flags & AI_ADDRCONFIG) && h.ai_next == NULL && h.ai_addr == NULL,
	      "both families, one socket type, no AI_ADDRCONFIG");
	OK("lookup hints");
}
