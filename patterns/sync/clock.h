/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_CLOCK_H
#define PATLAB_CLOCK_H

/*
 * Internal: the monotonic clock, for the layers under the context (whose public pl_now_ns()
 * is this function): every time in patlab is CLOCK_MONOTONIC nanoseconds.
 */

#include <stdint.h>
#include <time.h>

static inline int64_t pl__mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif /* PATLAB_CLOCK_H */
