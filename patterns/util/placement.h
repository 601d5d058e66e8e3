/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_PLACEMENT_H
#define PATLAB_PLACEMENT_H

/*
 * Thread placement (enum pl_pin) for the point being run. pl_pattern_run() puts a placement
 * in force for one point; every thread the library starts goes through pl__thread_create(),
 * which pins it accordingly. With no placement in force it is pthread_create().
 */

#include <patlab/pattern.h>

#include <pthread.h>

/*
 * pl__place_begin - put @pin in force for the threads started from now on, over the CPUs the
 * calling thread may run on. 0, or -errno (the allowed CPUs cannot be read; nothing changed).
 * pl__place_end - back to no placement.
 * One point at a time per process (pattern.h), so this state is process-wide.
 */
int pl__place_begin(enum pl_pin pin);
void pl__place_end(void);

/*
 * pl__thread_create - pthread_create() that pins the new thread as the placement in force
 * says, from its first instruction (the affinity is set in @attr: a caller's @attr may be
 * changed; NULL is allowed). Returns pthread_create()'s error codes.
 */
int pl__thread_create(pthread_t *tid, pthread_attr_t *attr, void *(*fn)(void *), void *arg);

#endif /* PATLAB_PLACEMENT_H */
