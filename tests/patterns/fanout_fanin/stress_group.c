/* SPDX-License-Identifier: MIT */
/*
 * Stress: the errgroup's promises under random schedules (never use this as a benchmark).
 *
 * Each round starts G goroutines (4..44; 4..12 under TSan) in a group with a random limit (or
 * none), launched with go() or with try_go() retried on -EAGAIN. Exactly one of them, chosen at
 * random among those sure to get a slot, fails with an error unique to the round after a random
 * delay; every other one works in small random steps (a short spin polling the context, or a
 * short wait on it) until it sees the group's context cancelled. Without a limit, some also
 * start nested goroutines from inside. After wait():
 * - wait() returned exactly the failer's error, which is also the context's cause;
 * - every goroutine that go/try_go accepted ran exactly once, every refused launch was refused
 *   with the context's error (-ECANCELED) and never ran;
 * - every goroutine other than the failer observed the cancellation;
 * - the number running at once never exceeded the limit.
 * A second kind of round has no failure and random short goroutines: wait() returns 0, every
 * one ran, the limit held.
 *
 * Rounds scale with PATLAB_STRESS_SCALE; the seed is logged (PATLAB_SEED reruns it); a
 * watchdog reports the round and phase of a hang.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <patlab/patlab.h>

#include "check.h"

#define MAXG	64
#define MAXNEST 64

struct rec {
	int failer;
	int64_t fail_after_ns;
	uint64_t rng; /* the goroutine's own stream */
	int rc;
	_Atomic int ran;
	_Atomic int saw_cancel;
};

struct round {
	pl_group *g;
	int limit;
	bool nest;
	int err_code;
	struct rec recs[MAXG];
	struct rec nested[MAXNEST];
	_Atomic int n_nested;
	_Atomic int active, max_active;
};

static void enter(struct round *r)
{
	int a = atomic_fetch_add(&r->active, 1) + 1, m = atomic_load(&r->max_active);

	while (a > m && !atomic_compare_exchange_weak(&r->max_active, &m, a))
		;
}

struct gr {
	struct round *r;
	struct rec *rec;
};

static struct gr args[MAXG + MAXNEST];

static int body(pl_ctx *cx, void *arg)
{
	struct gr *a = arg;
	struct round *r = a->r;
	struct rec *rec = a->rec;
	int rc;

	atomic_fetch_add(&rec->ran, 1);
	enter(r);
	if (rec->failer) {
		pt_sleep_ns(rec->fail_after_ns);
		atomic_fetch_sub(&r->active, 1);
		return r->err_code;
	}
	for (;;) {
		uint64_t x = pt_rand(&rec->rng);

		if (x % 4 == 0) {
			int64_t until = pl_now_ns() + (int64_t)(x >> 8) % 20000;

			while (pl_now_ns() < until && pl_ctx_err(cx) == 0)
				;
			rc = pl_ctx_err(cx);
		} else {
			rc = pl_ctx_wait(cx, (int64_t)(x >> 8) % 200000);
		}
		if (rc != 0)
			break;
		if (r->nest && x % 16 == 1) {
			int slot = atomic_fetch_add(&r->n_nested, 1);

			if (slot < MAXNEST) {
				struct gr *na = &args[MAXG + slot];

				r->nested[slot].rng = x;
				na->r = r;
				na->rec = &r->nested[slot];
				/* -ECANCELED once the group is done (then it never runs). */
				int nrc = pl_group_try_go(r->g, body, na);

				CHECK(nrc == 0 || nrc == -ECANCELED);
				r->nested[slot].rc = nrc;
			}
		}
	}
	atomic_store(&rec->saw_cancel, 1);
	atomic_fetch_sub(&r->active, 1);
	return rc;
}

static void failure_round(uint64_t *rng, unsigned round)
{
	static struct round r;
	unsigned G = 4 + (unsigned)(pt_rand(rng) % (pt_tsan() ? 9 : 41));
	unsigned sure, failer;
	bool refused = false;

	memset(&r, 0, sizeof(r));
	r.limit = pt_rand(rng) % 3 == 0 ? PL_GROUP_NO_LIMIT : 1 + (int)(pt_rand(rng) % 6);
	r.nest = r.limit == PL_GROUP_NO_LIMIT && pt_rand(rng) % 2;
	r.err_code = -(1000 + (int)round);
	sure = r.limit == PL_GROUP_NO_LIMIT || (unsigned)r.limit > G ? G : (unsigned)r.limit;
	failer = (unsigned)(pt_rand(rng) % sure);
	pt_note("failure round %u: G %u limit %d nest %d failer %u", round, G, r.limit, r.nest,
		failer);
	r.g = pl_group_new(NULL);
	CHECK(r.g != NULL);
	CHECK_EQ(pl_group_set_limit(r.g, r.limit), 0);
	for (unsigned i = 0; i < G; i++) {
		struct rec *rec = &r.recs[i];
		int rc;

		rec->failer = i == failer;
		rec->fail_after_ns = (int64_t)(pt_rand(rng) % 2000000);
		rec->rng = pt_rand(rng);
		args[i] = (struct gr){.r = &r, .rec = rec};
		if (pt_rand(rng) % 2) {
			rc = pl_group_go(r.g, body, &args[i]);
		} else {
			while ((rc = pl_group_try_go(r.g, body, &args[i])) == -EAGAIN)
				sched_yield();
		}
		rec->rc = rc;
		if (rc != 0) {
			/* Only the cancellation refuses, and only after the failer failed. */
			CHECK_EQ(rc, -ECANCELED);
			CHECK(i > failer);
			refused = true;
		} else {
			CHECK(!refused); /* once refused, refused forever */
		}
	}
	pt_note("failure round %u: waiting", round);
	CHECK_EQ(pl_group_wait(r.g), r.err_code);
	CHECK_EQ(pl_ctx_cause(pl_group_ctx(r.g)), r.err_code);
	for (unsigned i = 0; i < G; i++) {
		struct rec *rec = &r.recs[i];

		CHECK_EQ(atomic_load(&rec->ran), rec->rc == 0 ? 1 : 0);
		if (rec->rc == 0 && !rec->failer)
			CHECK(atomic_load(&rec->saw_cancel));
	}
	int nn = atomic_load(&r.n_nested);
	for (int i = 0; i < nn && i < MAXNEST; i++) {
		CHECK_EQ(atomic_load(&r.nested[i].ran), r.nested[i].rc == 0 ? 1 : 0);
		if (r.nested[i].rc == 0)
			CHECK(atomic_load(&r.nested[i].saw_cancel));
	}
	if (r.limit != PL_GROUP_NO_LIMIT)
		CHECK(atomic_load(&r.max_active) <= r.limit);
	CHECK_EQ(atomic_load(&r.active), 0);
	pl_group_free(r.g);
}

struct quick {
	_Atomic int *active, *max_active, *ran;
	int64_t ns;
};

static int quick_fn(pl_ctx *cx, void *arg)
{
	struct quick *q = arg;
	int a = atomic_fetch_add(q->active, 1) + 1, m = atomic_load(q->max_active);

	(void)cx;
	while (a > m && !atomic_compare_exchange_weak(q->max_active, &m, a))
		;
	atomic_fetch_add(q->ran, 1);
	pt_sleep_ns(q->ns);
	atomic_fetch_sub(q->active, 1);
	return 0;
}

static void limit_round(uint64_t *rng, unsigned round)
{
	static struct quick q[MAXG];
	_Atomic int active = 0, max_active = 0, ran = 0;
	unsigned G = 4 + (unsigned)(pt_rand(rng) % (pt_tsan() ? 9 : 41));
	int limit = 1 + (int)(pt_rand(rng) % 4);
	pl_group *g = pl_group_new(NULL);

	pt_note("limit round %u: G %u limit %d", round, G, limit);
	CHECK(g != NULL);
	CHECK_EQ(pl_group_set_limit(g, limit), 0);
	for (unsigned i = 0; i < G; i++) {
		int rc;

		q[i] = (struct quick){&active, &max_active, &ran, (int64_t)(pt_rand(rng) % 300000)};
		if (pt_rand(rng) % 2) {
			rc = pl_group_go(g, quick_fn, &q[i]);
		} else {
			while ((rc = pl_group_try_go(g, quick_fn, &q[i])) == -EAGAIN)
				sched_yield();
		}
		CHECK_EQ(rc, 0);
		CHECK(atomic_load(&max_active) <= limit);
	}
	CHECK_EQ(pl_group_wait(g), 0);
	CHECK_EQ(atomic_load(&ran), (int)G);
	CHECK(atomic_load(&max_active) <= limit);
	pl_group_free(g);
}

int main(void)
{
	uint64_t seed = pt_seed(), rng = seed;
	unsigned rounds = (unsigned)((pt_tsan() ? 40 : 120) * pt_scale());

	pt_watchdog_start(60);
	for (unsigned i = 0; i < rounds; i++) {
		failure_round(&rng, i);
		limit_round(&rng, i);
	}
	printf("stress_group: ok (%u rounds, seed %llu)\n", rounds, (unsigned long long)seed);
	return 0;
}
