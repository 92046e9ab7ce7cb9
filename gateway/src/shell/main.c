/* SPDX-License-Identifier: MIT */
/* tunplug — entry point: options (command line, or -c FILE with the command
 * line on top), then the gateway. Exit status: 0 clean stop (or --help,
 * --version, --check-config "config ok"), 1 start-up failure, 2 usage or
 * config error. */
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <string.h>

#include "ctl/client.h"
#include "options/config.h"
#include "shell/gateway.h"
#include "log.h"
#include "shell/master.h"
#include "notify/notify.h"
#include "options/options.h"

#ifndef TUNPLUG_VERSION
#define TUNPLUG_VERSION "0.0.0"
#endif

/* -c FILE: the file into defaults, then the command line on top (a SIGHUP
 * reload does the same again: tp_config_load_all). */
static int load_config(struct tp_options *opt, struct tp_config *cfg, int argc, char **argv,
                       char *err, size_t errlen)
{
	return tp_config_load_all(cfg, opt, opt->config_path, argc, argv, opt->n_plugins, err,
	                          errlen);
}

/* Every flow holds a socket: lift the soft fd limit to the hard one (the
 * usual soft 1024 is below the default --max-flows 4096). */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static struct tp_options opt;
	static struct tp_config cfg;
	char err[512];
	unsigned queues;
	int ret;

	if (argc > 1 && !strcmp(argv[1], "ctl"))
		return tp_ctl_main(argc - 1, argv + 1);
	/* the command line alone first: -c, --help, --version, bad values
	 * (its combinations are checked once the file is in) */
	if (tp_options_scan(&opt, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (opt.help) {
		fputs(tp_options_usage(), stdout);
		return 0;
	}
	if (opt.version) {
		printf("tunplug %s (lwIP 2.1.3, %s)\n", TUNPLUG_VERSION,
		       tp_notify_built_in() ? "systemd notify"
		                            : "no systemd notify: built without libsystemd");
		return 0;
	}
	if (opt.config_path ? load_config(&opt, &cfg, argc, argv, err, sizeof(err))
	                    : tp_options_parse(&opt, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		tp_config_free(&cfg);
		return 2;
	}
	opt.argc = argc;
	opt.argv = argv;
	if (opt.check_config) {
		puts("config ok");
		tp_config_free(&cfg);
		return 0;
	}
	tp_log_set_level(opt.log_level);
	raise_nofile();
	/* Writes to a socket the peer has closed must fail with EPIPE, not
	 * kill the gateway. */
	signal(SIGPIPE, SIG_IGN);
	/* --queues N > 1: a master and N worker processes (master.c) */
	queues = tp_master_queues(&opt);
	ret = queues > 1 ? tp_master_run(&opt, queues) : tp_gateway_run(&opt);
	tp_config_free(&cfg); /* the options point into it until here */
	return ret;
}
