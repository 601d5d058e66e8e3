/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_PLACEMENT_H
#define PATLAB_PLACEMENT_H

/*
 * Thread placement (enum pl_pin) of one point. A workload makes one struct pl__placer per
 * point, first thing in its setup, and starts every thread of the point through it: its own
 * (pl__window_spawn, or pl_thread_create(&placer.start, ...)) and the primitives' (their
 * options' @threads = &placer.start). The primitives know nothing of placement: they are
 * handed a struct pl_thread_start (patlab/thread.h) like any service would hand them one.
 */

#include <patlab/pattern.h>
#include <patlab/thread.h>

#include <sched.h>
#include <stdatomic.h>

/*
 * struct pl__placer - where the threads of one point go.
 * @start: what primitives and pl_thread_create() are given; pins each new thread as @pin
 *         says, in the order the threads are started, from its first instruction.
 */
struct pl__placer {
	struct pl_thread_start start;
	enum pl_pin pin;
	int ncpus;	      /* allowed CPUs, in @cpu */
	int cpu[CPU_SETSIZE]; /* their numbers, ascending */
	/* Threads started so far; relaxed: only each value's uniqueness matters. */
	atomic_uint next;
};

/*
 * pl__placer_init - a placer for @pin over the CPUs the calling thread may run on. 0, or
 * -errno (-EINVAL: unknown @pin; the allowed CPUs cannot be read). With PL_PIN_NONE the
 * threads are started by plain pthread_create().
 */
int pl__placer_init(struct pl__placer *pl, enum pl_pin pin);

#endif /* PATLAB_PLACEMENT_H */
