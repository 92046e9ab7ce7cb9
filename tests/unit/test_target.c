/* SPDX-License-Identifier: MIT */
/* tunplug — unit test of handlers/src/target.c: handler spec targets
 * "[user[:pass]@]host[:port]" as the http and redirect handlers parse them
 * (the socks5 flavour is checked through s5_spec_parse in test_socks5msg.c),
 * the flags one by one, and the error helper. */
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "target.h"

#define HTTP TP_TARGET_USERINFO

/* The http handler's rules (userinfo allowed, port required); redirect's
 * (no userinfo). */
TP_TEST(http)
{
	struct tp_target t;
	char err[200];

	CHECK(tp_target_parse("198.18.0.2:8888", HTTP, 0, &t, err, sizeof(err)) == 0, "%s", err);
	CHECK(!strcmp(t.host, "198.18.0.2") && t.port == 8888 && !t.has_auth, "v4 no auth");
	CHECK(tp_target_parse("user:pass@198.18.0.2:3128", HTTP, 0, &t, err, sizeof(err)) == 0,
	      "%s", err);
	CHECK(t.has_auth && !strcmp(t.user, "user") && !strcmp(t.pass, "pass") && t.port == 3128,
	      "user:pass");
	CHECK(tp_target_parse("[fd00:18::2]:8080", HTTP, 0, &t, err, sizeof(err)) == 0, "%s", err);
	CHECK(!strcmp(t.host, "fd00:18::2") && t.port == 8080, "v6 host %s", t.host);
	CHECK(tp_target_parse("a%40b:p%3Aw@d@proxy.example:1", HTTP, 0, &t, err, sizeof(err)) == 0,
	      "%s", err);
	CHECK(!strcmp(t.user, "a@b") && !strcmp(t.pass, "p:w@d") &&
	              !strcmp(t.host, "proxy.example"),
	      "percent-decoding and last '@': user %s pass %s host %s", t.user, t.pass, t.host);
	CHECK(tp_target_parse("onlyuser@h:1", HTTP, 0, &t, err, sizeof(err)) == 0 && t.has_auth &&
	              !strcmp(t.user, "onlyuser") && !strcmp(t.pass, ""),
	      "user without password");
	OK("target: v4, v6 in brackets, user:pass, percent-decoding, user only");

	static const char *bad[] = {
	        "",         "host",      "host:",      "host:0",      "host:65536",
	        "host:80x", ":80",       "fd00::1:80", "[fd00::1]80", "[fd00::1",
	        "@h:1",     "u:p%4@h:1", "u%00:p@h:1", "host:123456"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(tp_target_parse(bad[i], HTTP, 0, &t, err, sizeof(err)) == -EINVAL && err[0],
		      "\"%s\" accepted", bad[i]);
	}
	CHECK(tp_target_parse("u:p@h:1", 0, 0, &t, err, sizeof(err)) == -EINVAL &&
	              strstr(err, "user@"),
	      "userinfo refused when not allowed: %s", err);
	OK("target: malformed ones refused with a message");
}

TP_TEST(flags)
{
	struct tp_target t;
	char err[200];

	/* default port, or required */
	CHECK(tp_target_parse("h", 0, 1080, &t, err, sizeof(err)) == 0 && t.port == 1080 &&
	              !strcmp(t.host, "h"),
	      "default port: %s", err);
	CHECK(tp_target_parse("[::1]", 0, 9, &t, err, sizeof(err)) == 0 && t.port == 9 &&
	              !strcmp(t.host, "::1"),
	      "[v6] with default port: %s", err);
	CHECK(tp_target_parse("[::1]", 0, 0, &t, err, sizeof(err)) == -EINVAL, "[v6] needs a port");
	CHECK(tp_target_parse("[]", 0, 9, &t, err, sizeof(err)) == -EINVAL, "empty brackets");
	/* trailing slash */
	CHECK(tp_target_parse("h:1/", 0, 0, &t, err, sizeof(err)) == -EINVAL, "slash refused");
	CHECK(tp_target_parse("h:1/", TP_TARGET_SLASH, 0, &t, err, sizeof(err)) == 0 && t.port == 1,
	      "slash ignored: %s", err);
	CHECK(tp_target_parse("h/", TP_TARGET_SLASH, 7, &t, err, sizeof(err)) == 0 &&
	              !strcmp(t.host, "h") && t.port == 7,
	      "slash after a host: %s", err);
	CHECK(tp_target_parse("h:1//", TP_TARGET_SLASH, 0, &t, err, sizeof(err)) == -EINVAL,
	      "only one slash");
	/* user and password both required */
	CHECK(tp_target_parse("u:p@h:1", HTTP | TP_TARGET_PASS, 0, &t, err, sizeof(err)) == 0 &&
	              t.has_auth && !strcmp(t.user, "u") && !strcmp(t.pass, "p"),
	      "user:pass: %s", err);
	CHECK(tp_target_parse("u@h:1", HTTP | TP_TARGET_PASS, 0, &t, err, sizeof(err)) == -EINVAL &&
	              strstr(err, "user:pass@"),
	      "user only: %s", err);
	CHECK(tp_target_parse("u:@h:1", HTTP | TP_TARGET_PASS, 0, &t, err, sizeof(err)) == -EINVAL,
	      "empty password");
	CHECK(tp_target_parse("u:@h:1", HTTP, 0, &t, err, sizeof(err)) == 0 && t.has_auth &&
	              !t.pass[0],
	      "empty password without TP_TARGET_PASS: %s", err);
	OK("flags: default port, trailing slash, user and password required");

	static const char *leak[] = {"u:s3cret@h:0", "u:s3cret@[h", "u:s3cret%zz@h:1",
	                             "u:s3cret@fd00::1:80", "u:s3cret@h:8x"};
	for (size_t i = 0; i < sizeof(leak) / sizeof(leak[0]); i++) {
		err[0] = '\0';
		CHECK(tp_target_parse(leak[i], HTTP, 0, &t, err, sizeof(err)) == -EINVAL &&
		              err[0] && !strstr(err, "s3cret"),
		      "\"%s\": %s", leak[i], err);
	}
	CHECK(tp_target_parse("u:s3cret@h:1", 0, 0, &t, err, sizeof(err)) == -EINVAL &&
	              !strstr(err, "s3cret"),
	      "userinfo not allowed: %s", err);
	OK("messages never quote the credentials");

	/* 255 bytes of user fit, 256 do not; escapes count decoded */
	char in[800], u[300];
	memset(u, 'u', 255);
	u[255] = '\0';
	snprintf(in, sizeof(in), "%s@h:1", u);
	CHECK(tp_target_parse(in, HTTP, 0, &t, err, sizeof(err)) == 0 && strlen(t.user) == 255,
	      "255-byte user: %s", err);
	snprintf(in, sizeof(in), "u%s@h:1", u);
	CHECK(tp_target_parse(in, HTTP, 0, &t, err, sizeof(err)) == -EINVAL, "256-byte user");
	snprintf(in, sizeof(in), "%%41%s@h:1", u + 1);
	CHECK(tp_target_parse(in, HTTP, 0, &t, err, sizeof(err)) == 0 && t.user[0] == 'A' &&
	              strlen(t.user) == 255,
	      "escaped 255-byte user: %s", err);
	memset(u, 'h', 256);
	u[256] = '\0';
	snprintf(in, sizeof(in), "%s:1", u);
	CHECK(tp_target_parse(in, 0, 0, &t, err, sizeof(err)) == -EINVAL, "256-byte host");
	u[255] = '\0';
	snprintf(in, sizeof(in), "%s:1", u);
	CHECK(tp_target_parse(in, 0, 0, &t, err, sizeof(err)) == 0 && strlen(t.host) == 255,
	      "255-byte host: %s", err);
	OK("limits: 255-byte user and host");
}

TP_TEST(errf)
{
	char err[8];

	CHECK(tp_errf(err, sizeof(err), "%s %d", "abc", 12345) == -EINVAL &&
	              !strcmp(err, "abc 123"),
	      "truncated: %s", err);
	CHECK(tp_errf(NULL, 0, "x") == -EINVAL, "no buffer");
	OK("tp_errf: -EINVAL, formats and truncates");
}
