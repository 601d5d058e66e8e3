/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_THREAD_H
#define PATLAB_THREAD_H

/*
 * How a primitive starts its threads: an option, never a global.
 *
 * Every primitive that starts threads (pl_pool, pl_pipeline, pl_fanout_call with threads of
 * its own, pl_merge, pl_group) takes an optional struct pl_thread_start in its options (or,
 * for the group, pl_group_set_thread_start()). Without one it calls pthread_create(). With
 * one it calls @fn instead, which may set attributes (CPU affinity, stack size, a name) and
 * must start the thread exactly as pthread_create() would, or fail as it does. The harness
 * uses it to place a point's threads on CPUs (enum pl_pin); a service can use it to pin its
 * pool, or to count or name its threads.
 *
 * @fn:   start @start(@arg) as a new thread into *@tid, with @attr (NULL: defaults; @fn may
 *        change a caller's @attr). Returns 0 or pthread_create()'s error codes. Called from
 *        whatever thread the primitive starts threads on, possibly several at once.
 * @user: passed to @fn.
 * A struct pl_thread_start given to a primitive must outlive it.
 */

#include <pthread.h>

struct pl_thread_start {
	int (*fn)(void *user, pthread_t *tid, pthread_attr_t *attr, void *(*start)(void *),
		  void *arg);
	void *user;
};

/*
 * pl_thread_create - start @start(@arg) through @how: @how->fn when @how and @how->fn are not
 * NULL, else pthread_create(). Returns 0 or pthread_create()'s error codes.
 */
int pl_thread_create(const struct pl_thread_start *how, pthread_t *tid, pthread_attr_t *attr,
		     void *(*start)(void *), void *arg);

#endif /* PATLAB_THREAD_H */
