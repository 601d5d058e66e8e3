/* SPDX-License-Identifier: MIT */
/*
 * Helpers several tests share (see helpers.h). They are plain wrappers: each does what the
 * tests did inline before, with the same messages, so that a test reads as its scenario.
 */
#include "helpers.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/park.h"
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

bool pt_stress_kind(const char *kind, struct pl_chan_kind_info *info)
{
	const char *only = getenv("PATLAB_STRESS_KIND");

	if (only != NULL && strcmp(only, kind) != 0)
		return false;
	CHECK_EQ(pl_chan_kind_info(kind, info), 0);
	return pt_kind_ready(kind);
}

int pt_stress_caps(const struct pl_chan_kind_info *info, bool with_1024, size_t *caps)
{
	int n = 0;

	if (info->rendezvous)
		caps[n++] = 0;
	caps[n++] = 1;
	caps[n++] = 2;
	caps[n++] = 64;
	if (with_1024)
		caps[n++] = 1024;
	if (info->unbounded)
		caps[n++] = PL_CHAN_UNBOUNDED;
	return n;
}

const char *pt_cap_name(size_t cap, char *buf, size_t n)
{
	if (cap == PL_CHAN_UNBOUNDED)
		snprintf(buf, n, "unbounded");
	else
		snprintf(buf, n, "%zu", cap);
	return buf;
}

uint64_t pt_hash_str(uint64_t h, const char *s)
{
	for (const char *p = s; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	return h;
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

void pt_pause(uint64_t x, int64_t max_sleep_ns, unsigned max_spins)
{
	if (x & 1)
		pt_sleep_ns((int64_t)((x >> 8) % (uint64_t)max_sleep_ns));
	else
		for (unsigned i = (unsigned)(x >> 8) % max_spins; i > 0; i--)
			pl__cpu_relax();
}

void *pt_cancel_later(void *arg)
{
	const struct pt_canceller *c = arg;

	pt_sleep_ns(c->after_ns);
	if (c->cause != 0)
		pl_ctx_cancel_cause(c->cx, c->cause);
	else
		pl_ctx_cancel(c->cx);
	return NULL;
}

double pt_extra(const struct pl_result *r, const char *name)
{
	for (unsigned i = 0; i < r->n_extras; i++)
		if (strcmp(r->extras[i].name, name) == 0)
			return r->extras[i].value;
	pt_fail(__FILE__, __LINE__, "no extra '%s'", name);
}
