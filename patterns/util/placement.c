/* SPDX-License-Identifier: MIT */
/*
 * Thread placement: why it exists, and how it works.
 *
 * On a VM the scheduler may put both ends of a channel on one vCPU; every hand-off is then a
 * context switch and a 1p1c channel moves 0.1 M msg/s instead of 10-40. Which placement a run
 * gets is chance, and it was the largest source of run-to-run noise (results/baseline/
 * README.md). PL_PIN_SPREAD takes chance out: threads are dealt over the allowed CPUs in the
 * order they are started. PL_PIN_SINGLE measures the slow mode on purpose.
 *
 * The affinity is set in the thread's attributes, so a thread never runs anywhere else (a
 * thread pinned after pthread_create() could already have run, or, detached, have exited).
 */
#include "util/placement.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

static const char *const pin_names[] = {
    [PL_PIN_NONE] = "none",
    [PL_PIN_SPREAD] = "spread",
    [PL_PIN_SINGLE] = "single",
};

const char *pl_pin_name(enum pl_pin pin)
{
	if ((unsigned)pin >= sizeof(pin_names) / sizeof(pin_names[0]))
		return NULL;
	return pin_names[pin];
}

int pl_pin_parse(const char *name, enum pl_pin *pin)
{
	for (unsigned i = 0; name != NULL && i < sizeof(pin_names) / sizeof(pin_names[0]); i++)
		if (strcmp(name, pin_names[i]) == 0) {
			*pin = (enum pl_pin)i;
			return 0;
		}
	return -EINVAL;
}

/*
 * The placement in force. Written by pl__place_begin/end on the thread running the point,
 * before it starts any thread of the point and after it joined them all; read by
 * pl__thread_create on that thread or on threads it started (or their descendants), so
 * pthread_create's happens-before orders every read after the write: relaxed is enough, and
 * atomic only because pl__thread_create may run on several threads at once.
 */
static _Atomic int place_mode;
static int place_ncpus;		   /* allowed CPUs, in place_cpu */
static int place_cpu[CPU_SETSIZE]; /* their numbers, ascending */
/* Threads started under this placement; relaxed: only each value's uniqueness matters. */
static atomic_uint place_next;

int pl__place_begin(enum pl_pin pin)
{
	cpu_set_t set;
	int n = 0;

	if (pl_pin_name(pin) == NULL)
		return -EINVAL;
	if (pin != PL_PIN_NONE) {
		if (sched_getaffinity(0, sizeof(set), &set) != 0)
			return -errno;
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				place_cpu[n++] = c;
		if (n == 0)
			return -ENODEV;
	}
	place_ncpus = n;
	atomic_store_explicit(&place_next, 0, memory_order_relaxed);
	atomic_store_explicit(&place_mode, (int)pin, memory_order_relaxed);
	return 0;
}

void pl__place_end(void)
{
	atomic_store_explicit(&place_mode, PL_PIN_NONE, memory_order_relaxed);
}

int pl__thread_create(pthread_t *tid, pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	int mode = atomic_load_explicit(&place_mode, memory_order_relaxed);
	pthread_attr_t own;
	cpu_set_t set;
	int cpu, rc;

	if (mode == PL_PIN_NONE)
		return pthread_create(tid, attr, fn, arg);
	if (mode == PL_PIN_SINGLE)
		cpu = place_cpu[0];
	else
		cpu = place_cpu[atomic_fetch_add_explicit(&place_next, 1, memory_order_relaxed) %
				(unsigned)place_ncpus];
	if (attr == NULL) {
		rc = pthread_attr_init(&own);
		if (rc != 0)
			return rc;
		attr = &own;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	rc = pthread_attr_setaffinity_np(attr, sizeof(set), &set);
	if (rc == 0)
		rc = pthread_create(tid, attr, fn, arg);
	if (attr == &own)
		pthread_attr_destroy(&own);
	return rc;
}
