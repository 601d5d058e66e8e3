/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_REF_BACKOFF_H
#define PATLAB_REF_BACKOFF_H

/*
 * How the reference rings wait: spin with PAUSE a little, then sched_yield(), forever.
 *
 * A waiter calls ref_backoff_wait() once per failed attempt (the ring was full or empty). The
 * first REF_BACKOFF_SPINS calls execute 1, 2, 4, ... PAUSEs (exponential, so a waiter polls
 * the contended line less often while its peer works); every later call yields the CPU, so a
 * preempted peer gets it back when threads outnumber cores. There is no parking: a waiter
 * never sleeps, it keeps its core busy until the condition changes. That is what makes these
 * rings the yardstick for raw speed and what makes them unfit as channels (README.md):
 * nothing here may be used where a thread can wait for long.
 *
 * A struct ref_backoff belongs to one thread and one wait (start each wait from
 * REF_BACKOFF_INIT); it is not shared.
 */

#include <sched.h>

/* PAUSE rounds before the first yield; round i executes 2^i PAUSEs. */
#define REF_BACKOFF_SPINS 7

struct ref_backoff {
	unsigned round;
};

#define REF_BACKOFF_INIT                                                                           \
	{                                                                                          \
		0                                                                                  \
	}

static inline void ref_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* ref_backoff_wait - wait a little before the next attempt: PAUSEs first, then yields. */
static inline void ref_backoff_wait(struct ref_backoff *b)
{
	if (b->round < REF_BACKOFF_SPINS) {
		for (unsigned i = 0; i < 1u << b->round; i++)
			ref_cpu_relax();
		b->round++;
		return;
	}
	sched_yield();
}

#endif /* PATLAB_REF_BACKOFF_H */
