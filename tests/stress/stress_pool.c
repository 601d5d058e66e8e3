/* SPDX-License-Identifier: MIT */
/*
 * Stress: the worker pool's shutdown promises under load, with a ledger (never use this as a
 * benchmark).
 *
 * Each round builds a pool of one kind with a random worker count (1..8; 1..4 under TSan) and
 * depth (0 where the kind has a rendezvous, 1, 2, 64), starts several submitter threads that
 * submit jobs (blocking, non-blocking, or bounded by a short timeout) of random small cost —
 * nothing, a short spin, or a wait on the job context for up to a millisecond — and shuts the
 * pool down at a random moment with a random grace: already over, tiny, long, or none; in some
 * rounds a second thread shuts down at the same time with its own grace. Every job has a ledger
 * entry: how its submit ended, how often it ran, how often it was handed back, whether it saw
 * the job context cancelled. After the round:
 * - every accepted job ran or was handed back, exactly once; a job whose submit failed (with
 *   -EPIPE, -EAGAIN or its context's error, nothing else) appears nowhere;
 * - once a submitter saw -EPIPE, every later submit fails with -EPIPE too;
 * - both shutdown callers report the same result: 0 exactly when nothing was handed back and
 *   no job saw its context cancelled (a job that did means grace ran out: -ETIMEDOUT); every
 *   hand-back went to one caller's callback.
 *
 * Rounds per kind scale with PATLAB_STRESS_SCALE; the seed is logged (PATLAB_SEED reruns the
 * same choices); a watchdog reports the phase a hang happened in.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <patlab/patlab.h>

#include "check.h"
#include "helpers.h"

#define NOT_SUBMITTED 1 /* ledger: submit never called (the submitter stopped at -EPIPE) */

enum job_kind {
	JOB_NOTHING,
	JOB_SPIN,
	JOB_WAIT
};

struct rec {
	/* Written by the submitter before the submit; read by the job (the channel orders it). */
	int kind;
	int64_t cost_ns;
	/* Written by the submitter after the submit; read by main after joining it. */
	int submit_rc;
	_Atomic int ran;
	_Atomic int handed;
	_Atomic int handed_to; /* shutdown caller index + 1 */
	_Atomic int saw_cancel;
};

struct round {
	pl_pool *p;
	struct rec *recs;
	unsigned submitters;
	unsigned per_submitter;
	uint64_t seed;
	_Atomic long accepted;
	_Atomic int epipe_then_other; /* a submit after -EPIPE that did not fail with -EPIPE */
};

struct submitter {
	struct round *r;
	unsigned index;
};

static void job(pl_ctx *cx, void *arg)
{
	struct rec *rec = arg;
	int64_t until;

	atomic_fetch_add(&rec->ran, 1);
	switch (rec->kind) {
	case JOB_SPIN:
		until = pl_now_ns() + rec->cost_ns;
		while (pl_now_ns() < until && pl_ctx_err(cx) == 0)
			;
		break;
	case JOB_WAIT:
		if (pl_ctx_wait(cx, rec->cost_ns) != 0)
			atomic_store(&rec->saw_cancel, 1);
		break;
	default:
		break;
	}
	if (pl_ctx_err(cx) != 0)
		atomic_store(&rec->saw_cancel, 1);
}

struct caller {
	struct round *r;
	int index;
	pl_ctx *grace;
	int rc;
	_Atomic long calls;
};

static void unstarted(pl_job_fn fn, void *arg, void *user)
{
	struct caller *c = user;
	struct rec *rec = arg;

	CHECK(fn == job);
	atomic_fetch_add(&rec->handed, 1);
	atomic_store(&rec->handed_to, c->index + 1);
	atomic_fetch_add(&c->calls, 1);
}

static void *submit_main(void *arg)
{
	struct submitter *s = arg;
	struct round *r = s->r;
	uint64_t rng = r->seed ^ (0x51ed27 + s->index * 0x9e3779b97f4a7c15ull);
	struct rec *recs = &r->recs[(size_t)s->index * r->per_submitter];
	unsigned i;

	for (i = 0; i < r->per_submitter; i++) {
		struct rec *rec = &recs[i];
		uint64_t x = pt_rand(&rng);
		unsigned pick = x % 100, mode = (x >> 8) % 100;
		pl_ctx *cx = NULL;
		int rc;

		if (pick < 70) {
			rec->kind = JOB_NOTHING;
		} else if (pick < 90) {
			rec->kind = JOB_SPIN;
			rec->cost_ns = 1000 + (int64_t)((x >> 16) % 20000);
		} else {
			rec->kind = JOB_WAIT;
			rec->cost_ns = 50000 + (int64_t)((x >> 16) % 950000);
		}
		if (mode < 70) {
			rc = pl_pool_submit(r->p, job, rec, NULL);
		} else if (mode < 85) {
			rc = pl_pool_try_submit(r->p, job, rec);
		} else {
			cx = pl_ctx_with_timeout(NULL, (int64_t)((x >> 24) % 200000));
			CHECK(cx != NULL);
			rc = pl_pool_submit(r->p, job, rec, cx);
			pl_ctx_release(cx);
		}
		rec->submit_rc = rc;
		if (rc == 0)
			atomic_fetch_add(&r->accepted, 1);
		else if (rc == -EPIPE)
			break;
	}
	/* Intake stopped for good: one more try of each form must say so, delivering nothing. */
	if (i < r->per_submitter) {
		for (i++; i < r->per_submitter; i++)
			recs[i].submit_rc = NOT_SUBMITTED;
		struct rec *last = &recs[r->per_submitter - 1];
		if (pl_pool_try_submit(r->p, job, last) != -EPIPE ||
		    pl_pool_submit(r->p, job, last, NULL) != -EPIPE)
			atomic_store(&r->epipe_then_other, 1);
	}
	return NULL;
}

static void *caller_main(void *arg)
{
	struct caller *c = arg;

	c->rc = pl_pool_shutdown(c->r->p, c->grace, unstarted, c);
	return NULL;
}

/* A grace: 0 none, else already over, tiny, or long. */
static pl_ctx *pick_grace(uint64_t *rng)
{
	switch (pt_rand(rng) % 4) {
	case 0:
		return NULL;
	case 1:
		return pl_ctx_with_timeout(NULL, 0);
	case 2:
		return pl_ctx_with_timeout(NULL, 10000 + (int64_t)(pt_rand(rng) % 500000));
	default:
		return pl_ctx_with_timeout(NULL, 200 * 1000 * 1000);
	}
}

/* For notes: -1 none, else the grace's remaining time in microseconds at the check. */
static int grace_code(pl_ctx *g)
{
	if (g == NULL)
		return -1;
	return pl_ctx_err(g) != 0 ? 0 : (int)((pl_ctx_deadline(g) - pl_now_ns()) / 1000);
}

struct totals {
	long rounds, accepted, ran, handed, refused, timed_out;
};

static void one_round(const char *kind, uint64_t round_seed, struct totals *t)
{
	uint64_t rng = round_seed;
	const bool tsan = pt_tsan();
	const size_t depths[] = {0, 1, 2, 64};
	struct pl_chan_kind_info info;
	unsigned workers = 1 + (unsigned)(pt_rand(&rng) % (tsan ? 4 : 8));
	size_t depth;
	struct round r;
	struct submitter subs[8];
	pthread_t sub_t[8], caller_t;
	struct caller callers[2];
	bool two_callers;
	long ran = 0, handed = 0, accepted = 0, refused = 0;
	bool any_cancel = false;

	CHECK_EQ(pl_chan_kind_info(kind, &info), 0);
	do {
		depth = depths[pt_rand(&rng) % 4];
	} while (depth == 0 && !info.rendezvous);
	memset(&r, 0, sizeof(r));
	r.submitters = 1 + (unsigned)(pt_rand(&rng) % (tsan ? 3 : 6));
	r.per_submitter = tsan ? 150 : 400;
	r.seed = pt_rand(&rng);
	atomic_init(&r.accepted, 0);
	atomic_init(&r.epipe_then_other, 0);
	r.recs = calloc((size_t)r.submitters * r.per_submitter, sizeof(*r.recs));
	CHECK(r.recs != NULL);
	pl_pool_opts o = {.workers = workers, .queue_depth = depth, .chan_kind = kind};
	r.p = pl_pool_new(&o);
	if (r.p == NULL)
		pt_fail(__FILE__, __LINE__, "pl_pool_new(%s, %u, %zu): errno %d", kind, workers,
			depth, errno);

	pt_note("%s round seed %" PRIu64 ": %u workers, depth %zu, %u submitters: submitting", kind,
		round_seed, workers, depth, r.submitters);
	for (unsigned i = 0; i < r.submitters; i++) {
		subs[i] = (struct submitter){.r = &r, .index = i};
		CHECK_EQ(pthread_create(&sub_t[i], NULL, submit_main, &subs[i]), 0);
	}
	/* A random moment: at once, early (up to 2 ms), or later (up to 20 ms) into the round. */
	switch (pt_rand(&rng) % 5) {
	case 0:
		break;
	case 1:
	case 2:
		pt_sleep_ns((int64_t)(pt_rand(&rng) % 2000000));
		break;
	default:
		pt_sleep_ns((int64_t)(pt_rand(&rng) % 20000000));
		break;
	}

	pt_note("%s round seed %" PRIu64 ": %u workers, depth %zu, %u submitters: shutting down",
		kind, round_seed, workers, depth, r.submitters);
	two_callers = pt_rand(&rng) % 3 == 0;
	for (int i = 0; i < 2; i++) {
		callers[i] = (struct caller){.r = &r, .index = i, .rc = 1};
		atomic_init(&callers[i].calls, 0);
		callers[i].grace = pick_grace(&rng);
	}
	if (two_callers)
		CHECK_EQ(pthread_create(&caller_t, NULL, caller_main, &callers[1]), 0);
	callers[0].rc = pl_pool_shutdown(r.p, callers[0].grace, unstarted, &callers[0]);
	if (two_callers)
		CHECK_EQ(pthread_join(caller_t, NULL), 0);
	for (unsigned i = 0; i < r.submitters; i++)
		CHECK_EQ(pthread_join(sub_t[i], NULL), 0);

	pt_note("%s round seed %" PRIu64 ": %u workers, depth %zu, %u submitters, graces %d/%d%s: "
		"checking",
		kind, round_seed, workers, depth, r.submitters, grace_code(callers[0].grace),
		grace_code(callers[1].grace), two_callers ? " (two callers)" : "");
	int rc = callers[0].rc;
	CHECK(rc == 0 || rc == -ETIMEDOUT);
	if (two_callers)
		CHECK_EQ(callers[1].rc, rc);
	CHECK_EQ(pl_pool_shutdown(r.p, NULL, NULL, NULL), rc);
	CHECK_EQ(atomic_load(&r.epipe_then_other), 0);
	int receiver = 0;
	for (size_t i = 0; i < (size_t)r.submitters * r.per_submitter; i++) {
		struct rec *rec = &r.recs[i];
		int n_ran = atomic_load(&rec->ran), n_handed = atomic_load(&rec->handed);

		if (rec->submit_rc == 0) {
			if (n_ran + n_handed != 1)
				pt_fail(__FILE__, __LINE__,
					"job %zu accepted: ran %d times, handed back %d times", i,
					n_ran, n_handed);
			accepted++;
			ran += n_ran;
			handed += n_handed;
			if (n_handed) {
				int to = atomic_load(&rec->handed_to);
				CHECK(receiver == 0 || receiver == to);
				receiver = to;
			}
			if (atomic_load(&rec->saw_cancel))
				any_cancel = true;
		} else {
			if (n_ran + n_handed != 0)
				pt_fail(__FILE__, __LINE__,
					"job %zu refused (%d): ran %d times, handed back %d times",
					i, rec->submit_rc, n_ran, n_handed);
			CHECK(rec->submit_rc == NOT_SUBMITTED || rec->submit_rc == -EPIPE ||
			      rec->submit_rc == -EAGAIN || rec->submit_rc == -ETIMEDOUT);
			if (rec->submit_rc != NOT_SUBMITTED)
				refused++;
		}
	}
	CHECK_EQ(accepted, atomic_load(&r.accepted));
	CHECK_EQ(atomic_load(&callers[0].calls) + atomic_load(&callers[1].calls), handed);
	/* The contract: -ETIMEDOUT exactly when some accepted job never started (handed back);
	 * jobs that ran and saw the cancel leave it 0. A cancel only comes from an expiry. */
	CHECK_EQ(rc, handed != 0 ? -ETIMEDOUT : 0);
	if (any_cancel)
		CHECK(callers[0].grace != NULL || (two_callers && callers[1].grace != NULL));
	/* Only a caller whose grace was not "none" can have made the pool expire. */
	if (rc == -ETIMEDOUT)
		CHECK(callers[0].grace != NULL || (two_callers && callers[1].grace != NULL));

	pl_pool_free(r.p);
	for (int i = 0; i < 2; i++)
		pl_ctx_release(callers[i].grace);
	free(r.recs);
	t->rounds++;
	t->accepted += accepted;
	t->ran += ran;
	t->handed += handed;
	t->refused += refused;
	t->timed_out += rc == -ETIMEDOUT;
}

int main(void)
{
	const char *const *kinds = pl_chan_kinds();
	uint64_t rng = pt_seed();
	int rounds = (int)(120 * pt_scale());
	bool any = false;

	if (pt_tsan())
		rounds = (int)(60 * pt_scale());
	if (rounds < 1)
		rounds = 1;
	pt_watchdog_start(60 + 30 * pt_scale());
	for (size_t k = 0; kinds[k] != NULL; k++) {
		struct pl_chan_kind_info info;
		struct totals t = {0};

		/* PATLAB_STRESS_KIND narrows the run to one kind (as in the channel tests). */
		if (!pt_stress_kind(kinds[k], &info))
			continue;
		if (info.spsc) {
			printf("skip %-9s spsc: cannot carry a pool\n", kinds[k]);
			continue;
		}
		any = true;
		for (int i = 0; i < rounds; i++)
			one_round(kinds[k], pt_rand(&rng), &t);
		printf("ok   %-9s %ld rounds (%ld grace ran out): %ld accepted = %ld ran + %ld "
		       "handed back; %ld refused\n",
		       kinds[k], t.rounds, t.timed_out, t.accepted, t.ran, t.handed, t.refused);
	}
	if (!any) {
		printf("skip: no kind can carry a pool yet\n");
		return PT_SKIP;
	}
	return 0;
}
