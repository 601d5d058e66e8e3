/* SPDX-License-Identifier: MIT */
/*
 * Helpers several tests share (see helpers.h). They are plain wrappers: each does what the
 * tests did inline before, with the same messages, so that a test reads as its scenario.
 */
#include "helpers.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "chan/park.h"
#include "check.h"

bool pt_sanitized(void)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
	return true;
#endif
#endif
	return false;
}

void pt_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int rc = pthread_create(t, NULL, fn, arg);

	if (rc != 0)
		pt_fail(__FILE__, __LINE__, "pthread_create: %s", strerror(rc));
}

pl_chan *pt_chan_new(const char *kind, size_t cap)
{
	pl_chan *ch = pl_chan_new(kind, cap);

	if (ch == NULL)
		pt_fail(__FILE__, __LINE__, "pl_chan_new(%s, %zu): %s", kind, cap, strerror(errno));
	return ch;
}

bool pt_kind_ready(const char *kind)
{
	pl_chan *probe = pl_chan_new(kind, 1);

	if (probe == NULL) {
		if (errno != ENOSYS)
			pt_fail(__FILE__, __LINE__, "pl_chan_new(%s, 1): %s", kind,
				strerror(errno));
		printf("kind %s: not available yet (ENOSYS): skipped\n", kind);
		return false;
	}
	pl_chan_free(probe);
	return true;
}

bool pt_kind_can(const char *kind, size_t depth)
{
	pl_chan *ch = pl_chan_new(kind, depth);

	pl_chan_free(ch);
	return ch != NULL;
}

bool pt_kind_spsc(const char *kind)
{
	struct pl_chan_kind_info info;

	CHECK_EQ(pl_chan_kind_info(kind, &info), 0);
	return info.spsc;
}

void pt_jitter(uint64_t *rng)
{
	uint64_t r = pt_rand(rng);

	if ((r & 7) == 0) {
		for (unsigned i = (unsigned)(r >> 8) & 255; i > 0; i--)
			pl__cpu_relax();
	} else if ((r & 255) == 1) {
		sched_yield();
	}
}

double pt_extra(const struct pl_result *r, const char *name)
{
	for (unsigned i = 0; i < r->n_extras; i++)
		if (strcmp(r->extras[i].name, name) == 0)
			return r->extras[i].value;
	pt_fail(__FILE__, __LINE__, "no extra '%s'", name);
}
