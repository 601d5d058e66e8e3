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
 * A placer is per point and handed to the primitives as their struct pl_thread_start: no
 * process-wide state, so a service linking the primitives never sees the harness's choice.
 */
#include "harness/placement.h"

#include <errno.h>
#include <sched.h>
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

/* Runs on whichever thread starts one (several at once, hence the atomic counter). */
static int place_thread(void *user, pthread_t *tid, pthread_attr_t *attr, void *(*fn)(void *),
			void *arg)
{
	struct pl__placer *pl = user;
	pthread_attr_t own;
	cpu_set_t set;
	int cpu, rc;

	if (pl->pin == PL_PIN_SINGLE)
		cpu = pl->cpu[0];
	else
		cpu = pl->cpu[atomic_fetch_add_explicit(&pl->next, 1, memory_order_relaxed) %
			      (unsigned)pl->ncpus];
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

int pl__placer_init(struct pl__placer *pl, enum pl_pin pin)
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
				pl->cpu[n++] = c;
		if (n == 0)
			return -ENODEV;
	}
	pl->pin = pin;
	pl->ncpus = n;
	atomic_init(&pl->next, 0);
	pl->start = (struct pl_thread_start){
	    .fn = pin == PL_PIN_NONE ? NULL : place_thread,
	    .user = pl,
	};
	return 0;
}
