/* SPDX-License-Identifier: MIT */
/* CIDR parse/format/contains: good and bad inputs. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "tunplug/addr.h"

TP_TEST(good)
{
	static const struct {
		const char *in;
		int family;
		unsigned prefix;
		const char *out; /* formatted back */
	} t[] = {
	        {"198.18.0.1/15", AF_INET, 15, "198.18.0.1/15"},
	        {"10.0.0.1", AF_INET, 32, "10.0.0.1/32"},
	        {"0.0.0.0/0", AF_INET, 0, "0.0.0.0/0"},
	        {"255.255.255.255/32", AF_INET, 32, "255.255.255.255/32"},
	        {"192.168.1.1/08", AF_INET, 8, "192.168.1.1/8"},
	        {"fd00::1/64", AF_INET6, 64, "fd00::1/64"},
	        {"fd00::1", AF_INET6, 128, "fd00::1/128"},
	        {"::/0", AF_INET6, 0, "::/0"},
	        {"::", AF_INET6, 128, "::/128"},
	        {"2001:DB8:0:0:0:0:0:1/127", AF_INET6, 127, "2001:db8::1/127"},
	        {"::ffff:1.2.3.4/96", AF_INET6, 96, "::ffff:1.2.3.4/96"},
	        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", AF_INET6, 128,
	         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct tp_cidr c;
		char buf[64];
		uint8_t raw[16] = {0};
		const char *slash = strchr(t[i].in, '/');
		char a[64];

		snprintf(a, sizeof(a), "%.*s", slash ? (int)(slash - t[i].in) : 63, t[i].in);
		inet_pton(t[i].family, a, raw);
		memset(&c, 0xaa, sizeof(c));
		CHECK_EQ(tp_cidr_parse(t[i].in, &c), 0, t[i].in);
		CHECK_EQ(c.family, t[i].family, t[i].in);
		CHECK_EQ(c.prefix, t[i].prefix, t[i].in);
		CHECK(memcmp(c.addr, raw, 16) == 0, "%s: address bytes (rest must be zero)",
		      t[i].in);
		CHECK(strcmp(tp_cidr_format(&c, buf, sizeof(buf)), t[i].out) == 0,
		      "%s formats as %s", t[i].in, buf);
		OK("cidr: parse \"%s\" -> %s", t[i].in, t[i].out);
	}
}

TP_TEST(bad)
{
	static const char *const bad[] = {
	        "",
	        "/",
	        "/8",
	        "1.2.3.4/",
	        "1.2.3.4/33",
	        "1.2.3.4/999",
	        "1.2.3.4/1234",
	        "::/129",
	        "fd00::1/200",
	        "1.2.3.4/8x",
	        "1.2.3.4/8/9",
	        "1.2.3.4//8",
	        " 1.2.3.4",
	        "1.2.3.4 ",
	        "1.2.3.4/ 8",
	        "1.2.3.4/8 ",
	        "+1.2.3.4",
	        "1.2.3.4/+8",
	        "1.2.3.4/-1",
	        "1.2.3.4/0x8",
	        "1.2.3",
	        "1.2.3.4.5",
	        "256.1.1.1",
	        "01.2.3.4x",
	        "fd00::1::2",
	        "fd00:::1",
	        "abc",
	        "1.2.3.4\n",
	        "fd00::1%eth0",
	        "[fd00::1]/64",
	        "1.2.3.4/\t8",
	        "1111111111111111111111111111111111111111111111111111111111111111111111.1.1.1",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tp_cidr c;
		CHECK_EQ(tp_cidr_parse(bad[i], &c), -EINVAL, bad[i]);
	}
	OK("cidr: %zu malformed strings (empty, '/8', '1.2.3.4/', /33, /129, junk, spaces, '+', "
	   "'-') -> -EINVAL",
	   sizeof(bad) / sizeof(bad[0]));
	{
		struct tp_cidr c;
		CHECK_EQ(tp_cidr_parse(NULL, &c), -EINVAL, "NULL");
	}
	OK("cidr: NULL -> -EINVAL");
}

static bool in(const char *net, const char *addr)
{
	struct tp_cidr c;
	uint8_t a[16];
	int fam = strchr(addr, ':') ? AF_INET6 : AF_INET;

	if (tp_cidr_parse(net, &c) || inet_pton(fam, addr, a) != 1)
		return false;
	return tp_cidr_contains(&c, fam, a);
}

TP_TEST(contains)
{
	static const struct {
		const char *net, *addr;
		bool want;
	} t[] = {
	        {"198.18.0.0/15", "198.18.0.0", true},
	        {"198.18.0.0/15", "198.19.255.255", true},
	        {"198.18.0.0/15", "198.20.0.0", false},
	        {"198.18.0.0/15", "198.17.255.255", false},
	        {"198.18.0.1/15", "198.19.1.2", true}, /* host bits in c ignored */
	        {"0.0.0.0/0", "1.2.3.4", true},
	        {"10.1.2.3/32", "10.1.2.3", true},
	        {"10.1.2.3/32", "10.1.2.4", false},
	        {"10.0.0.0/9", "10.127.0.1", true},
	        {"10.0.0.0/9", "10.128.0.1", false},
	        {"fd00::/8", "fdff::1", true},
	        {"fd00::/8", "fe00::1", false},
	        {"2001:db8::/61", "2001:db8:0:7::1", true},
	        {"2001:db8::/61", "2001:db8:0:8::1", false},
	        {"::/0", "::1", true},
	        {"::1/128", "::1", true},
	        {"::1/128", "::2", false},
	        {"0.0.0.0/0", "::1", false}, /* family mismatch */
	        {"::/0", "1.2.3.4", false},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK(in(t[i].net, t[i].addr) == t[i].want, "%s contains %s should be %d", t[i].net,
		      t[i].addr, t[i].want);
		OK("cidr: %s %s %s", t[i].net, t[i].want ? "contains" : "excludes", t[i].addr);
	}
	/* a malformed struct (v4 with /64) must not read past 4 bytes */
	{
		struct tp_cidr c = {.family = AF_INET, .addr = {10, 0, 0, 1}, .prefix = 64};
		uint8_t a4[4] = {10, 0, 0, 1};
		CHECK(tp_cidr_contains(&c, AF_INET, a4), "v4 /64 clamps to /32");
	}
	OK("cidr: contains clamps an out-of-range prefix");
}
