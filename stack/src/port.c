/* tunplug — lwIP platform functions for NO_SYS=1 on Linux. */
#include <stdio.h>
#include <stdlib.h>

#include "lwip/arch.h"
#include "lwip/sys.h"

uint32_t tp_stack_now(void);

/* lwIP's clock: whatever the owner last set with tp_stack_set_now(), so the
 * gateway can use uv_now() and tests a fake clock. */
u32_t sys_now(void)
{
	return tp_stack_now();
}

void tp_lwip_assert_failed(const char *msg, const char *file, int line)
{
	fprintf(stderr, "tunplug: lwIP assertion failed: %s (%s:%d)\n", msg, file, line);
	fflush(stderr);
	abort();
}
