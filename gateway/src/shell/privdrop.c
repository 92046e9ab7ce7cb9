/* SPDX-License-Identifier: MIT */
/* tunplug — dropping root after set-up (see privdrop.h). */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shell/privdrop.h"

static int step_fail(const char *user, const char *step, int err)
{
	fprintf(stderr, "tunplug: --user %s: %s: %s\n", user, step, strerror(err));
	return -err;
}

/* user is borrowed. */
int tp_privdrop(const char *user, bool keep_admin, bool keep_raw)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	const struct passwd *pw;
	uint32_t keep = 0;

	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		return step_fail(user, "look up the user", errno ? errno : ENOENT);
	if (geteuid() != 0)
		return step_fail(user, "switch user (tunplug is not running as root)", EPERM);
	if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0)
		return step_fail(user, "PR_SET_KEEPCAPS", errno);
	if (initgroups(pw->pw_name, pw->pw_gid) < 0)
		return step_fail(user, "initgroups", errno);
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0)
		return step_fail(user, "setresgid", errno);
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
		return step_fail(user, "setresuid", errno);
	if (keep_admin)
		keep |= 1u << CAP_NET_ADMIN;
	if (keep_raw)
		keep |= 1u << CAP_NET_RAW;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = keep;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return step_fail(user, "capset", errno);
	if (prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) < 0)
		return step_fail(user, "PR_SET_KEEPCAPS off", errno);
	if (pw->pw_uid != 0 && setuid(0) == 0)
		return step_fail(user, "root could be regained", EPERM);
	return 0;
}
