/* SPDX-License-Identifier: MIT */
/* tunplug — private: a flow's destination name (struct tp_flow_info.name)
 * for the upstreams that use it: is it fit to put in a SOCKS5 request or an
 * HTTP CONNECT line, and which address of a name's lookup to connect to.
 * Pure, no I/O; unit-tested by tests/unit/test_names.c. */
#ifndef TUNPLUG_HANDLERS_NAMES_H
#define TUNPLUG_HANDLERS_NAMES_H

#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tunplug/handler.h"

#define TP_NAME_MAX 253 /* the longest DNS name in text, without a trailing dot */

/* Is name a host name we may send on: 1..TP_NAME_MAX characters, dot
 * separated labels of 1..63 characters from [A-Za-z0-9_-] (no empty label,
 * no leading or trailing dot)? Anything else (spaces, CR/LF, ':', '@', '/',
 * '%', bytes above 0x7e, NULL) is refused: a sniffed name is the client's
 * text, and it must not be able to inject into a CONNECT line or a request.
 * name is borrowed. */
bool tp_name_valid(const char *name);

/* The name an upstream should ask for on behalf of the flow whose info is
 * fi: fi->name when tp_name_valid, else NULL (go by fi->dst). *err is 0,
 * or -EHOSTUNREACH when the result is NULL and fi->dst is a fake-IP pool
 * address (TP_NAME_FAKE_IP), which is never a destination by itself: the
 * flow must be refused. The result is borrowed from fi. */
const char *tp_flow_name(const struct tp_flow_info *fi, int *err);

/* The address to connect to from a lookup's results res (borrowed): the
 * first of family (the family the client used), else the first AF_INET or
 * AF_INET6 one; written to *out with port (host order). Returns 0, or
 * -ENOENT when res has neither family. */
int tp_name_pick(const struct addrinfo *res, int family, uint16_t port,
                 struct sockaddr_storage *out);

/* Hints for looking up a flow's name with (uv_)getaddrinfo: both families
 * (tp_name_pick chooses), one socket type so each address comes once, and
 * no AI_ADDRCONFIG: in a network namespace whose only route is the
 * gateway's uplink, "has an address of the family" is no guide. */
void tp_name_hints(struct addrinfo *hints);

/* The port (host order) of an AF_INET/AF_INET6 address (0 for another). */
uint16_t tp_sockaddr_port(const struct sockaddr *sa);

#endif
