/* SPDX-License-Identifier: MIT */
/* tunplug — small text helpers shared by every module (pure code, no I/O):
 * socket addresses as text and the "format an error, return -EINVAL" idiom. */
#ifndef TUNPLUG_TEXT_H
#define TUNPLUG_TEXT_H

#include <stddef.h>
#include <sys/socket.h>

/* Longest text tp_sockaddr_str writes: "[v6addr%scope]:65535" and the NUL. */
#define TP_SOCKADDR_STRLEN 64

/* sa as "198.18.0.1:80" or "[fd00::1]:80" (port 0 included); an address of
 * another family as "?". Writes at most len bytes to buf (NUL-terminated if
 * len > 0) and returns buf. sa and buf are borrowed. */
char *tp_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len);

/* The address alone ("198.18.0.1", "fd00::1", no brackets), else "?". */
char *tp_sockaddr_addr_str(const struct sockaddr *sa, char *buf, size_t len);

/* printf into err[0..errlen) (nothing when err is NULL or errlen 0) and
 * return -EINVAL: `return tp_errf(err, errlen, "bad %s", what);` */
int tp_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
