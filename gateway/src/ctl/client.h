/* SPDX-License-Identifier: MIT */
/* tunplug — `tunplug ctl ...` (client.c). */
#ifndef TUNPLUG_GW_CTL_CLIENT_H
#define TUNPLUG_GW_CTL_CLIENT_H

/* Run `tunplug ctl`: argv[0] is "ctl". Prints to stdout/stderr; returns the
 * exit status (0, 1 failure, 2 usage). argv is borrowed. */
int tp_ctl_main(int argc, char **argv);

#endif
