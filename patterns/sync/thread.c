/* SPDX-License-Identifier: MIT */
/* Starting a thread through an optional struct pl_thread_start (patlab/thread.h). */
#include <patlab/thread.h>

int pl_thread_create(const struct pl_thread_start *how, pthread_t *tid, pthread_attr_t *attr,
		     void *(*start)(void *), void *arg)
{
	if (how != NULL && how->fn != NULL)
		return how->fn(how->user, tid, attr, start, arg);
	return pthread_create(tid, attr, start, arg);
}
