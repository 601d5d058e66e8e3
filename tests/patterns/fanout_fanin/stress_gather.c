/* SPDX-License-Identifier: MIT */
/*
 * Stress: scatter/gather under random modes, backends and cancellations (never use this as a
 * benchmark).
 *
 * Each round makes one pl_fanout_call() over 1..8 backends, on threads or on a pool of a random
 * kind and size, in a random mode (wait-all, first-k with a random k, hedged with a random delay
 * including 0), structured or detached. Each backend behaves at random: answers after a short
 * cancellable wait, fails with an error unique to it, blocks until cancelled, or ignores the
 * cancellation for a short sleep and then answers. In some rounds the caller's context is
 * cancelled from another thread, or has a deadline, at a random moment. After each call:
 * - 0 exactly when enough answers were gathered (n, k or 1), and the gathered replies are
 *   answers carrying their backend's value; otherwise fewer were gathered and the result is
 *   the context's error or the error of a backend that failed;
 * - the stats agree with the replies (sent = replies not UNSENT; hedges = sent - 1 when
 *   hedging; the cancelled count equals the replies flagged cancelled or abandoned);
 * - structured: every backend that ran had returned, the replies say exactly which ran;
 *   detached: each RUNNING reply gets exactly one late report, the others none.
 * At the end (pools freed, stragglers given time), every backend was called exactly as often
 * as its reply said: an abandoned backend never runs later.
 *
 * Rounds scale with PATLAB_STRESS_SCALE; the seed is logged; a watchdog reports a hang.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <patlab/patlab.h>

#include "check.h"
#include "helpers.h"

#define MAXN 8
#define US   (INT64_C(1000))

enum be_mode {
	B_ANSWER,
	B_FAIL,
	B_BLOCK,
	B_IGNORE,
};

struct be {
	enum be_mode mode;
	int64_t ns;
	int err;
	void *value;
	bool expect_ran; /* what the reply said (or the late report): checked at the very end */
	_Atomic int calls;
	_Atomic int returned;
	_Atomic int late;
};

static int be_fn(pl_ctx *cx, void *arg, void **value)
{
	struct be *b = arg;
	int rc = 0;

	atomic_fetch_add(&b->calls, 1);
	switch (b->mode) {
	case B_ANSWER:
	case B_FAIL:
		rc = pl_ctx_wait(cx, b->ns);
		if (rc == 0 && b->mode == B_ANSWER)
			*value = b->value;
		else if (rc == 0)
			rc = b->err;
		break;
	case B_BLOCK:
		rc = pl_ctx_wait(cx, -1);
		break;
	case B_IGNORE:
		pt_sleep_ns(b->ns);
		*value = b->value;
		break;
	}
	atomic_store(&b->returned, 1);
	return rc;
}

static void on_late(void *arg, int status, void *value, void *user)
{
	struct be *b = arg;

	(void)user;
	CHECK(atomic_load(&b->returned));
	if (status == 0)
		CHECK(value == b->value);
	CHECK_EQ(atomic_fetch_add(&b->late, 1), 0);
}

static struct be *all_be; /* every round's backends, checked at the end */

static void round_run(uint64_t *rng, unsigned round, pl_pool *pool, unsigned workers,
		      const char *where)
{
	struct be *b = &all_be[(size_t)round * MAXN];
	struct pl_backend be[MAXN];
	struct pl_fanout_reply r[MAXN];
	struct pl_fanout_stats st;
	struct pl_fanout_opts o = {.pool = pool};
	unsigned n = 1 + (unsigned)(pt_rand(rng) % MAXN), need, gathered = 0, sent = 0,
		 cancelled = 0;
	unsigned running = 0;
	int ctx_kind = (int)(pt_rand(rng) % 4); /* 0, 1: none; 2: cancel; 3: deadline */
	struct pt_canceller c = {0};
	pthread_t t;
	pl_ctx *cx = NULL;
	int rc;

	o.mode = (enum pl_gather)(pt_rand(rng) % 3);
	o.k = 1 + (unsigned)(pt_rand(rng) % n);
	static const int64_t delays[] = {0, 50 * US, 200 * US, 1000 * US};
	o.hedge_delay_ns = delays[pt_rand(rng) % 4];
	o.detach = pt_rand(rng) % 4 == 0;
	o.late = on_late;
	need = o.mode == PL_GATHER_ALL ? n : o.mode == PL_GATHER_FIRST_K ? o.k : 1;
	for (unsigned i = 0; i < n; i++) {
		uint64_t x = pt_rand(rng);

		memset(&b[i], 0, sizeof(b[i]));
		b[i].mode = (enum be_mode)(x % 4);
		b[i].ns = (int64_t)((x >> 8) % 300) * US;
		b[i].err = -(int)(2000 + i);
		b[i].value = (void *)(uintptr_t)(((uint64_t)round << 8) | (i + 1));
		be[i] = (struct pl_backend){.fn = be_fn, .arg = &b[i]};
	}
	if (ctx_kind < 2) {
		/* No context to end it: the backends themselves must decide the gather (a
		 * blocking one returns only when cancelled). Turn blockers into answers until
		 * they do. */
		for (;;) {
			unsigned a = 0, f = 0, bl = 0;

			for (unsigned i = 0; i < n; i++) {
				a += b[i].mode == B_ANSWER || b[i].mode == B_IGNORE;
				f += b[i].mode == B_FAIL;
				bl += b[i].mode == B_BLOCK;
			}
			if (bl == 0 || (o.mode == PL_GATHER_ALL && f > 0) ||
			    (o.mode == PL_GATHER_FIRST_K && (a >= o.k || f > n - o.k)) ||
			    (o.mode == PL_GATHER_HEDGED && a > 0))
				break;
			for (unsigned i = 0; i < n; i++) {
				if (b[i].mode == B_BLOCK) {
					b[i].mode = B_ANSWER;
					break;
				}
			}
		}
		/* A pool smaller than n can queue a decisive backend behind blocked ones for
		 * ever (the deadlock fanout.h warns of): bound such rounds by a deadline. */
		if (pool != NULL && workers < n)
			ctx_kind = 3;
	}
	pt_note("gather round %u on %s: n %u mode %d k %u delay %lld detach %d ctx %d", round,
		where, n, (int)o.mode, o.k, (long long)o.hedge_delay_ns, o.detach, ctx_kind);
	if (ctx_kind == 2) {
		cx = pl_ctx_with_cancel(NULL);
		c = (struct pt_canceller){.cx = cx, .after_ns = (int64_t)(pt_rand(rng) % 500) * US};
		CHECK_EQ(pthread_create(&t, NULL, pt_cancel_later, &c), 0);
	} else if (ctx_kind == 3) {
		cx = pl_ctx_with_timeout(NULL, (int64_t)(pt_rand(rng) % 2000) * US);
	}
	CHECK(ctx_kind < 2 || cx != NULL);

	rc = pl_fanout_call(cx, be, n, &o, r, &st);

	for (unsigned i = 0; i < n; i++) {
		if (r[i].status != PL_FANOUT_UNSENT)
			sent++;
		if (r[i].cancelled || (r[i].status == -ECANCELED && !r[i].ran))
			cancelled++;
		if (r[i].gathered) {
			gathered++;
			CHECK_EQ(r[i].status, 0);
			CHECK(r[i].value == b[i].value);
			CHECK(r[i].ran);
		}
		if (r[i].status == PL_FANOUT_RUNNING) {
			CHECK(o.detach && r[i].ran);
			running++;
		} else if (r[i].ran) {
			CHECK(atomic_load(&b[i].returned));
		}
		b[i].expect_ran = r[i].ran;
	}
	if (rc == 0) {
		CHECK_EQ(gathered, need);
	} else {
		bool known = rc == -ECANCELED || rc == -ETIMEDOUT;

		CHECK(gathered < need);
		for (unsigned i = 0; i < n; i++)
			known |= rc == r[i].status;
		CHECK(known);
		if (rc == -ECANCELED || rc == -ETIMEDOUT)
			CHECK(cx != NULL);
	}
	CHECK_EQ(st.sent, sent);
	CHECK_EQ(st.cancelled, cancelled);
	if (o.mode == PL_GATHER_HEDGED)
		CHECK_EQ(st.hedges, sent > 0 ? sent - 1 : 0);
	else
		CHECK_EQ(st.hedges, 0);
	if (ctx_kind == 2)
		CHECK_EQ(pthread_join(t, NULL), 0);
	pl_ctx_release(cx);
	/* Detached: exactly one late report per backend still running at return. */
	for (unsigned i = 0; i < n; i++) {
		if (r[i].status == PL_FANOUT_RUNNING) {
			while (atomic_load(&b[i].late) == 0)
				pt_sleep_ns(50 * US);
		}
	}
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(atomic_load(&b[i].late), r[i].status == PL_FANOUT_RUNNING ? 1 : 0);
	(void)running;
}

int main(void)
{
	uint64_t seed = pt_seed(), rng = seed;
	unsigned per = (unsigned)((pt_tsan() ? 80 : 300) * pt_scale()), round = 0, total;
	const char *const *kinds = pl_chan_kinds();
	unsigned nk = 0;

	for (const char *const *k = kinds; *k != NULL; k++)
		nk++;
	total = per * (nk + 1);
	all_be = calloc((size_t)total * MAXN, sizeof(*all_be));
	CHECK(all_be != NULL);
	pt_watchdog_start(60);
	for (unsigned i = 0; i < per; i++)
		round_run(&rng, round++, NULL, 0, "threads");
	for (const char *const *k = kinds; *k != NULL; k++) {
		struct pl_chan_kind_info info;
		pl_pool_opts po = {.workers = 1 + (unsigned)(pt_rand(&rng) % 8),
				   .queue_depth = pt_rand(&rng) % 2 ? 64 : 1,
				   .chan_kind = *k};
		pl_pool *pool;

		CHECK_EQ(pl_chan_kind_info(*k, &info), 0);
		if (info.spsc)
			continue;
		pool = pl_pool_new(&po);
		if (pool == NULL && errno == ENOSYS)
			continue; /* a kind still being written */
		CHECK(pool != NULL);
		for (unsigned i = 0; i < per; i++)
			round_run(&rng, round++, pool, po.workers, *k);
		pl_pool_free(
		    pool); /* joins every worker: every queued job has run or been dropped */
	}
	/* Threads of abandoned backends exit without calling them; give stragglers a moment. */
	pt_sleep_ns(100000 * US);
	for (unsigned i = 0; i < round * MAXN; i++)
		CHECK_EQ(atomic_load(&all_be[i].calls), all_be[i].expect_ran ? 1 : 0);
	free(all_be);
	printf("stress_gather: ok (%u rounds, seed %llu)\n", round, (unsigned long long)seed);
	return 0;
}
