/* SPDX-License-Identifier: MIT */
/* tunplug — entry point: options, then the gateway. Exit status: 0 clean
 * stop (or --help/--version), 1 start-up failure, 2 usage error. */
#include <signal.h>
#include <stdio.h>

#include "gateway.h"
#include "log.h"
#include "options.h"

#ifndef TUNPLUG_VERSION
#define TUNPLUG_VERSION "0.0.0"
#endif

int main(int argc, char **argv)
{
	static struct tp_options opt;
	char err[256];

	if (tp_options_parse(&opt, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (opt.help) {
		fputs(tp_options_usage(), stdout);
		return 0;
	}
	if (opt.version) {
		printf("tunplug %s (lwIP 2.1.3)\n", TUNPLUG_VERSION);
		return 0;
	}
	tp_log_set_level(opt.log_level);
	/* Writes to a socket the peer has closed must fail with EPIPE, not
	 * kill the gateway. */
	signal(SIGPIPE, SIG_IGN);
	return tp_gateway_run(&opt);
}
