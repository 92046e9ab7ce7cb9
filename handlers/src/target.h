/* SPDX-License-Identifier: MIT */
/* tunplug — private: the target of a handler spec, "[user[:pass]@]host[:port]"
 * (what follows "name://"), shared by the http, redirect and socks5
 * handlers, and the printf-style error helper of the pure parsers. No I/O;
 * unit-tested by tests/unit/test_target.c. */
#ifndef TUNPLUG_HANDLERS_TARGET_H
#define TUNPLUG_HANDLERS_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A parsed target. */
struct tp_target {
	char host[256]; /* without brackets */
	uint16_t port;
	bool has_auth;
	char user[256]; /* percent-decoded */
	char pass[256]; /* percent-decoded */
};

/* What tp_target_parse accepts besides "host:port" and "[IPv6]:port". */
#define TP_TARGET_USERINFO 0x1 /* "user[:pass]@" (else a userinfo part is an error) */
#define TP_TARGET_PASS 0x2     /* with USERINFO: only "user:pass@", both non-empty */
#define TP_TARGET_SLASH 0x4    /* one trailing '/' is ignored */

/* Parse text ("user:pw@proxy.example:3128", "[fd00::1]:8080", "1.2.3.4:80").
 * The last '@' ends the userinfo, whose first ':' separates user and
 * password; %XX escapes are decoded there (a decoded NUL is refused), each
 * at most 255 bytes. default_port 0: the port is required, else it is used
 * when the port is omitted. Returns 0, or -EINVAL with a message (no
 * newline; it may quote the part after the userinfo, never the credentials)
 * in err. */
int tp_target_parse(const char *text, unsigned flags, uint16_t default_port, struct tp_target *t,
                    char *err, size_t errlen);

/* tp_errf: the shared "format an error, return -EINVAL" (tunplug/text.h). */
#include "tunplug/text.h"

#endif
