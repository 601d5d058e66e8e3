/* SPDX-License-Identifier: MIT */
/*
 * The asymmetric barrier pair: membarrier registration and the heavy side. See barrier.h for
 * the protocol and why it is correct.
 */
#include "sync/barrier.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sync/die.h"

/* Written once inside init_once(); pthread_once() orders it before every pl__barrier_init()
 * return, and a channel reaches other threads only through a happens-before edge after that. */
bool pl__membarrier_ok;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static long membarrier(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

static void init_once(void)
{
	const char *env = getenv("PATLAB_MEMBARRIER");
	long cmds;

	if (env != NULL && strcmp(env, "0") == 0)
		return;
	cmds = membarrier(MEMBARRIER_CMD_QUERY);
	if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		return;
	if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0)
		return;
	pl__membarrier_ok = true;
}

bool pl__barrier_init(void)
{
	pthread_once(&once, init_once);
	return pl__membarrier_ok;
}

void pl__barrier_heavy(void)
{
	if (!pl__membarrier_ok) {
		pl__barrier_full();
		return;
	}
	/* The calling thread's own order is covered too: the system call is a full barrier. */
	if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
		pl__die("membarrier(PRIVATE_EXPEDITED) failed after registration: %s",
			strerror(errno));
}
