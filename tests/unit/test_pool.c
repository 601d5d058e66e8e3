/* SPDX-License-Identifier: MIT */
/*
 * The worker pool's contract (pool.h, DESIGN.md "worker pool", "Pool shutdown"), case by
 * case: jobs run over every kind that can carry a pool; options refused with EINVAL; a full
 * queue (workers held on a gate) makes try_submit fail with -EAGAIN and a bounded submit fail
 * with its context's error, the job never running; shutdown without grace runs everything;
 * shutdown whose grace ran out cancels the running jobs and hands each queued one back exactly
 * once; intake stops at once (blocked submitters too); concurrent and repeated shutdowns agree;
 * capacity 0 is a rendezvous; free of a running pool drains it.
 *
 * Kinds still refusing every channel (ENOSYS while being written) are skipped with a message.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include <patlab/patlab.h>

#include "check.h"

/* ------------------------------------------------------------------ helpers */

/* A gate holding jobs (and so workers) until opened; counts the jobs that reached it. */
struct gate {
	pthread_mutex_t m;
	pthread_cond_t c; /* signalled on every arrival and on open */
	int arrived;
	bool open;
};

static void gate_init(struct gate *g)
{
	pthread_mutex_init(&g->m, NULL);
	pthread_cond_init(&g->c, NULL);
	g->arrived = 0;
	g->open = false;
}

static void gate_destroy(struct gate *g)
{
	pthread_cond_destroy(&g->c);
	pthread_mutex_destroy(&g->m);
}

static void gate_arrive(struct gate *g)
{
	pthread_mutex_lock(&g->m);
	g->arrived++;
	pthread_cond_broadcast(&g->c);
	pthread_mutex_unlock(&g->m);
}

/* Wait until @n jobs arrived (woken by gate_arrive()). */
static void gate_wait_arrived(struct gate *g, int n)
{
	pthread_mutex_lock(&g->m);
	while (g->arrived < n)
		pthread_cond_wait(&g->c, &g->m);
	pthread_mutex_unlock(&g->m);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->m);
	g->open = true;
	pthread_cond_broadcast(&g->c);
	pthread_mutex_unlock(&g->m);
}

/* Job: arrive, then wait until the gate opens (woken by gate_open()). */
static void gate_job(pl_ctx *cx, void *arg)
{
	struct gate *g = arg;

	(void)cx;
	gate_arrive(g);
	pthread_mutex_lock(&g->m);
	while (!g->open)
		pthread_cond_wait(&g->c, &g->m);
	pthread_mutex_unlock(&g->m);
}

/* Job: arrive, then block on the job context until it is done; records what the wait said. */
struct cx_waiter {
	struct gate *g;
	_Atomic int rc;
	_Atomic int returned;
};

static void cx_wait_job(pl_ctx *cx, void *arg)
{
	struct cx_waiter *w = arg;

	gate_arrive(w->g);
	atomic_store(&w->rc, pl_ctx_wait(cx, -1));
	atomic_store(&w->returned, 1);
}

/* occupy - put a cx_wait_job on each of the @n workers of @p; return once all of them run. */
static void occupy(pl_pool *p, struct gate *g, struct cx_waiter *w, int n)
{
	for (int i = 0; i < n; i++) {
		w[i].g = g;
		atomic_init(&w[i].rc, 1);
		atomic_init(&w[i].returned, 0);
		CHECK_EQ(pl_pool_submit(p, cx_wait_job, &w[i], NULL), 0);
	}
	gate_wait_arrived(g, n);
}

static atomic_long counted;
static atomic_long counted_sum;
static atomic_long bad_cx; /* jobs that saw a NULL or done context in a normal run */

static void count_job(pl_ctx *cx, void *arg)
{
	if (cx == NULL || pl_ctx_err(cx) != 0)
		atomic_fetch_add(&bad_cx, 1);
	atomic_fetch_add(&counted, 1);
	atomic_fetch_add(&counted_sum, (long)(intptr_t)arg);
}

static atomic_long must_not_run_ran;

static void must_not_run(pl_ctx *cx, void *arg)
{
	(void)cx;
	(void)arg;
	atomic_fetch_add(&must_not_run_ran, 1);
}

/* A ledger entry per job: how often it ran, how often it was handed back, and to whom. */
struct entry {
	_Atomic int ran;
	_Atomic int handed;
	_Atomic int handed_to; /* user index + 1 */
};

static void ledger_job(pl_ctx *cx, void *arg)
{
	(void)cx;
	atomic_fetch_add(&((struct entry *)arg)->ran, 1);
}

struct collector {
	int index;
	pthread_t *expect_thread; /* NULL: any thread */
	atomic_long calls;
};

static void collect(pl_job_fn fn, void *arg, void *user)
{
	struct collector *c = user;
	struct entry *e = arg;

	CHECK(fn == ledger_job);
	if (c->expect_thread != NULL)
		CHECK(pthread_equal(*c->expect_thread, pthread_self()));
	atomic_fetch_add(&e->handed, 1);
	atomic_store(&e->handed_to, c->index + 1);
	atomic_fetch_add(&c->calls, 1);
}

/*
 * occupy_and_queue - hold each of the @workers workers of @p on a context wait (occupy(), on
 * @g after gate_init()), then queue @depth ledger jobs, one per entry of @e, behind them.
 */
static void occupy_and_queue(pl_pool *p, struct gate *g, struct cx_waiter *w, int workers,
			     struct entry *e, int depth)
{
	gate_init(g);
	occupy(p, g, w, workers);
	for (int i = 0; i < depth; i++)
		CHECK_EQ(pl_pool_submit(p, ledger_job, &e[i], NULL), 0);
}

/*
 * check_cut_short - after a shutdown whose grace ran out: the job on each of the @workers
 * workers saw -ECANCELED, and each of the @depth queued jobs of @e never ran and was handed
 * back exactly once.
 */
static void check_cut_short(struct cx_waiter *w, int workers, struct entry *e, int depth)
{
	for (int i = 0; i < workers; i++)
		CHECK_EQ(atomic_load(&w[i].rc), -ECANCELED);
	for (int i = 0; i < depth; i++) {
		CHECK_EQ(atomic_load(&e[i].ran), 0);
		CHECK_EQ(atomic_load(&e[i].handed), 1);
	}
}

/* A pool of @kind, or NULL (with a message) when the kind is still being written. */
static pl_pool *pool_or_skip(const char *kind, unsigned workers, size_t depth)
{
	pl_pool_opts o = {.workers = workers, .queue_depth = depth, .chan_kind = kind};
	pl_pool *p = pl_pool_new(&o);

	if (p == NULL && errno == ENOSYS) {
		printf("skip %-9s not available yet (ENOSYS)\n", kind);
		return NULL;
	}
	if (p == NULL)
		pt_fail(__FILE__, __LINE__, "pl_pool_new(%s, %u workers, depth %zu): errno %d",
			kind, workers, depth, errno);
	return p;
}

static bool kind_usable(const char *kind)
{
	struct pl_chan_kind_info info;

	CHECK_EQ(pl_chan_kind_info(kind, &info), 0);
	return !info.spsc;
}

static void *delayed_open(void *arg)
{
	pt_sleep_ns(20 * 1000 * 1000);
	gate_open(arg);
	return NULL;
}

static void *delayed_cancel(void *arg)
{
	pt_sleep_ns(20 * 1000 * 1000);
	pl_ctx_cancel(arg);
	return NULL;
}

/* ------------------------------------------------------------------ tests */

static void test_einval(void)
{
	const char *const *kinds = pl_chan_kinds();
	pl_pool_opts o = {.workers = 0, .queue_depth = 4, .chan_kind = NULL};
	pl_pool *p;

	pt_note("einval");
	errno = 0;
	CHECK(pl_pool_new(NULL) == NULL);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(pl_pool_new(&o) == NULL); /* no workers */
	CHECK_EQ(errno, EINVAL);
	o.workers = 2;
	o.chan_kind = "no-such-kind";
	errno = 0;
	CHECK(pl_pool_new(&o) == NULL);
	CHECK_EQ(errno, EINVAL);
	/* A depth the kind refuses: mutex is bounded only; kinds without rendezvous refuse 0. */
	o.chan_kind = "mutex";
	o.queue_depth = PL_CHAN_UNBOUNDED;
	errno = 0;
	CHECK(pl_pool_new(&o) == NULL);
	CHECK_EQ(errno, EINVAL);
	for (size_t i = 0; kinds[i] != NULL; i++) {
		struct pl_chan_kind_info info;

		CHECK_EQ(pl_chan_kind_info(kinds[i], &info), 0);
		o.chan_kind = kinds[i];
		o.queue_depth = 4;
		if (info.spsc) {
			/* Several workers (or several submitters) on an spsc channel: refused. */
			o.workers = 1;
			errno = 0;
			CHECK(pl_pool_new(&o) == NULL);
			CHECK_EQ(errno, EINVAL);
			printf("ok   %-9s refused (spsc)\n", kinds[i]);
		}
		if (!info.rendezvous) {
			o.workers = 2;
			o.queue_depth = 0;
			errno = 0;
			CHECK(pl_pool_new(&o) == NULL);
			CHECK_EQ(errno, EINVAL);
		}
	}

	CHECK_EQ(pl_pool_submit(NULL, count_job, NULL, NULL), -EINVAL);
	CHECK_EQ(pl_pool_try_submit(NULL, count_job, NULL), -EINVAL);
	CHECK_EQ(pl_pool_shutdown(NULL, NULL, NULL, NULL), -EINVAL);
	pl_pool_free(NULL);

	p = pool_or_skip("mutex", 1, 2);
	if (p == NULL)
		return;
	CHECK_EQ(pl_pool_submit(p, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(pl_pool_try_submit(p, NULL, NULL), -EINVAL);
	CHECK_EQ(pl_pool_shutdown(p, NULL, NULL, NULL), 0);
	pl_pool_free(p);
}

/* N jobs through every usable kind, workers and depths, by submit and by try_submit. */
static void test_basic(void)
{
	const char *const *kinds = pl_chan_kinds();
	const long n = 3000;

	for (size_t i = 0; kinds[i] != NULL; i++) {
		struct pl_chan_kind_info info;
		const size_t depths[] = {0, 1, 7, 64};

		CHECK_EQ(pl_chan_kind_info(kinds[i], &info), 0);
		if (info.spsc) {
			printf("skip %-9s spsc: cannot carry a pool\n", kinds[i]);
			continue;
		}
		for (unsigned workers = 1; workers <= 4; workers += 3) {
			for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
				pl_pool *p;

				if (depths[d] == 0 && !info.rendezvous)
					continue;
				pt_note("basic %s workers %u depth %zu", kinds[i], workers,
					depths[d]);
				p = pool_or_skip(kinds[i], workers, depths[d]);
				if (p == NULL)
					goto next_kind;
				atomic_store(&counted, 0);
				atomic_store(&counted_sum, 0);
				for (long k = 1; k <= n; k++) {
					void *arg = (void *)(intptr_t)k;

					if (k % 2) {
						CHECK_EQ(pl_pool_submit(p, count_job, arg, NULL),
							 0);
						continue;
					}
					int rc;
					while ((rc = pl_pool_try_submit(p, count_job, arg)) ==
					       -EAGAIN)
						sched_yield();
					CHECK_EQ(rc, 0);
				}
				CHECK_EQ(pl_pool_shutdown(p, NULL, NULL, NULL), 0);
				CHECK_EQ(atomic_load(&counted), n);
				CHECK_EQ(atomic_load(&counted_sum), n * (n + 1) / 2);
				CHECK_EQ(atomic_load(&bad_cx), 0);
				pl_pool_free(p);
			}
		}
		printf("ok   %-9s basic\n", kinds[i]);
	next_kind:;
	}
}

/*
 * Workers held on a gate, queue full: try_submit says -EAGAIN; a submit bounded by a
 * cancelled or expiring context returns that error and its job never runs.
 */
static void test_full(const char *kind)
{
	const unsigned workers = 2;
	const size_t depth = 4;
	struct gate g;
	pl_pool *p;
	pl_ctx *cx;

	pt_note("full %s", kind);
	p = pool_or_skip(kind, workers, depth);
	if (p == NULL)
		return;
	gate_init(&g);
	atomic_store(&counted, 0);
	atomic_store(&must_not_run_ran, 0);
	for (unsigned i = 0; i < workers; i++)
		CHECK_EQ(pl_pool_submit(p, gate_job, &g, NULL), 0);
	gate_wait_arrived(&g, (int)workers);
	for (size_t i = 0; i < depth; i++)
		CHECK_EQ(pl_pool_try_submit(p, count_job, NULL), 0);
	CHECK_EQ(pl_pool_try_submit(p, must_not_run, NULL), -EAGAIN);

	cx = pl_ctx_with_cancel(NULL);
	pl_ctx_cancel(cx);
	CHECK_EQ(pl_pool_submit(p, must_not_run, NULL, cx), -ECANCELED);
	pl_ctx_release(cx);
	cx = pl_ctx_with_timeout(NULL, 5 * 1000 * 1000);
	CHECK_EQ(pl_pool_submit(p, must_not_run, NULL, cx), -ETIMEDOUT);
	pl_ctx_release(cx);
	/* Cancelled while blocked (the watch path, not a deadline). */
	cx = pl_ctx_with_cancel(NULL);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, delayed_cancel, cx), 0);
	CHECK_EQ(pl_pool_submit(p, must_not_run, NULL, cx), -ECANCELED);
	CHECK_EQ(pthread_join(t, NULL), 0);
	pl_ctx_release(cx);

	gate_open(&g);
	CHECK_EQ(pl_pool_shutdown(p, NULL, NULL, NULL), 0);
	CHECK_EQ(atomic_load(&counted), (long)depth);
	CHECK_EQ(atomic_load(&must_not_run_ran), 0);
	pl_pool_free(p);
	gate_destroy(&g);
	printf("ok   %-9s full queue: -EAGAIN, context errors, rejected jobs never run\n", kind);
}

/* Shutdown with no grace limit waits for running and queued jobs; intake stops at once. */
static void test_drain(const char *kind)
{
	const unsigned workers = 2;
	const size_t depth = 8;
	struct gate g;
	pthread_t opener;
	pl_pool *p;

	pt_note("drain %s", kind);
	p = pool_or_skip(kind, workers, depth);
	if (p == NULL)
		return;
	gate_init(&g);
	atomic_store(&counted, 0);
	for (unsigned i = 0; i < workers; i++)
		CHECK_EQ(pl_pool_submit(p, gate_job, &g, NULL), 0);
	gate_wait_arrived(&g, (int)workers);
	for (size_t i = 0; i < depth; i++)
		CHECK_EQ(pl_pool_submit(p, count_job, NULL, NULL), 0);
	CHECK_EQ(pthread_create(&opener, NULL, delayed_open, &g), 0);
	CHECK_EQ(pl_pool_shutdown(p, NULL, NULL, NULL), 0);
	CHECK_EQ(atomic_load(&counted), (long)depth);
	CHECK_EQ(pthread_join(opener, NULL), 0);
	/* After shutdown: refused, and repeated shutdowns give the same answer at once. */
	CHECK_EQ(pl_pool_submit(p, must_not_run, NULL, NULL), -EPIPE);
	CHECK_EQ(pl_pool_try_submit(p, must_not_run, NULL), -EPIPE);
	CHECK_EQ(pl_pool_shutdown(p, NULL, NULL, NULL), 0);
	pl_pool_free(p);
	gate_destroy(&g);
	printf("ok   %-9s shutdown without grace runs every job\n", kind);
}

struct blocked_submit {
	pl_pool *p;
	struct entry *e;
	int rc;
};

static void *blocked_submitter(void *arg)
{
	struct blocked_submit *b = arg;

	b->rc = pl_pool_submit(b->p, ledger_job, b->e, NULL);
	return NULL;
}

/*
 * Grace already over: the running jobs (blocked on their context) see -ECANCELED, every queued
 * job is handed back exactly once on the caller's thread, a blocked submitter gets -EPIPE.
 */
static void test_expired(const char *kind, bool deadline)
{
	enum {
		WORKERS = 2,
		DEPTH = 8
	};
	struct cx_waiter w[WORKERS];
	struct entry e[DEPTH + 1];
	struct gate g;
	pthread_t self = pthread_self(), sub;
	struct collector col = {.index = 0, .expect_thread = &self};
	struct blocked_submit b;
	pl_ctx *grace;
	pl_pool *p;

	pt_note("expired %s", kind);
	p = pool_or_skip(kind, WORKERS, DEPTH);
	if (p == NULL)
		return;
	memset(e, 0, sizeof(e));
	atomic_init(&col.calls, 0);
	occupy_and_queue(p, &g, w, WORKERS, e, DEPTH);
	b = (struct blocked_submit){.p = p, .e = &e[DEPTH], .rc = 1};
	CHECK_EQ(pthread_create(&sub, NULL, blocked_submitter, &b), 0);
	pt_sleep_ns(2 * 1000 * 1000); /* most likely blocked by now; -EPIPE either way */

	if (deadline) {
		grace = pl_ctx_with_timeout(NULL, 0);
	} else {
		grace = pl_ctx_with_cancel(NULL);
		pl_ctx_cancel(grace);
	}
	CHECK_EQ(pl_pool_shutdown(p, grace, collect, &col), -ETIMEDOUT);
	CHECK_EQ(pthread_join(sub, NULL), 0);
	CHECK_EQ(b.rc, -EPIPE);
	for (int i = 0; i < WORKERS; i++)
		CHECK_EQ(atomic_load(&w[i].returned), 1);
	check_cut_short(w, WORKERS, e, DEPTH);
	CHECK_EQ(atomic_load(&e[DEPTH].ran) + atomic_load(&e[DEPTH].handed), 0);
	CHECK_EQ(atomic_load(&col.calls), DEPTH);
	/* Idempotent: same result at once, nothing handed back twice. */
	CHECK_EQ(pl_pool_shutdown(p, NULL, collect, &col), -ETIMEDOUT);
	CHECK_EQ(atomic_load(&col.calls), DEPTH);
	CHECK_EQ(pl_pool_submit(p, must_not_run, NULL, NULL), -EPIPE);
	pl_ctx_release(grace);
	pl_pool_free(p);
	gate_destroy(&g);
	printf("ok   %-9s expired grace (%s): running jobs cancelled, %d handed back once\n", kind,
	       deadline ? "deadline" : "cancel", DEPTH);
}

/* A grace that runs out while shutdown waits: by its deadline, or by a cancel (the watch). */
static void test_grace_runs_out(const char *kind, bool deadline)
{
	enum {
		WORKERS = 2,
		DEPTH = 4
	};
	struct cx_waiter w[WORKERS];
	struct entry e[DEPTH];
	struct gate g;
	struct collector col = {.index = 0, .expect_thread = NULL};
	pthread_t canceller;
	pl_ctx *grace;
	pl_pool *p;

	pt_note("grace runs out %s", kind);
	p = pool_or_skip(kind, WORKERS, DEPTH);
	if (p == NULL)
		return;
	memset(e, 0, sizeof(e));
	atomic_init(&col.calls, 0);
	occupy_and_queue(p, &g, w, WORKERS, e, DEPTH);
	if (deadline) {
		grace = pl_ctx_with_timeout(NULL, 20 * 1000 * 1000);
	} else {
		grace = pl_ctx_with_cancel(NULL);
		CHECK_EQ(pthread_create(&canceller, NULL, delayed_cancel, grace), 0);
	}
	CHECK_EQ(pl_pool_shutdown(p, grace, collect, &col), -ETIMEDOUT);
	if (!deadline)
		CHECK_EQ(pthread_join(canceller, NULL), 0);
	check_cut_short(w, WORKERS, e, DEPTH);
	pl_ctx_release(grace);
	pl_pool_free(p);
	gate_destroy(&g);
	printf("ok   %-9s grace running out while waiting (%s)\n", kind,
	       deadline ? "deadline" : "cancel");
}

/* Grace over while jobs run and none is queued: they see the cancel, but every accepted job
 * ran (started), so 0: -ETIMEDOUT means some job never started. */
static void test_expired_running_only(const char *kind)
{
	enum {
		WORKERS = 3
	};
	struct cx_waiter w[WORKERS];
	struct collector col = {.index = 0, .expect_thread = NULL};
	struct gate g;
	pl_ctx *grace = pl_ctx_with_timeout(NULL, 0);
	pl_pool *p;

	pt_note("expired running only %s", kind);
	p = pool_or_skip(kind, WORKERS, 4);
	if (p == NULL) {
		pl_ctx_release(grace);
		return;
	}
	gate_init(&g);
	atomic_init(&col.calls, 0);
	occupy(p, &g, w, WORKERS);
	CHECK_EQ(pl_pool_shutdown(p, grace, collect, &col), 0);
	CHECK_EQ(atomic_load(&col.calls), 0);
	check_cut_short(w, WORKERS, NULL, 0);
	pl_ctx_release(grace);
	pl_pool_free(p);
	gate_destroy(&g);
}

/* A grace that is over, on a pool that never had a job: nothing left unstarted, so 0. */
static void test_expired_idle(const char *kind)
{
	struct collector col = {.index = 0, .expect_thread = NULL};
	pl_ctx *grace = pl_ctx_with_timeout(NULL, 0);
	pl_pool *p;

	pt_note("expired idle %s", kind);
	p = pool_or_skip(kind, 3, 4);
	if (p != NULL) {
		atomic_init(&col.calls, 0);
		CHECK_EQ(pl_pool_shutdown(p, grace, collect, &col), 0);
		CHECK_EQ(atomic_load(&col.calls), 0);
		pl_pool_free(p);
	}
	pl_ctx_release(grace);
}

struct shutdown_call {
	pl_pool *p;
	pl_ctx *grace;
	struct collector col;
	struct gate *start;
	int rc;
};

static void *shutdown_thread(void *arg)
{
	struct shutdown_call *s = arg;

	gate_arrive(s->start);
	pthread_mutex_lock(&s->start->m);
	while (!s->start->open)
		pthread_cond_wait(&s->start->c, &s->start->m);
	pthread_mutex_unlock(&s->start->m);
	s->rc = pl_pool_shutdown(s->p, s->grace, collect, &s->col);
	return NULL;
}

/*
 * Four threads shut the pool down at once. @force: one of them with a grace cancelled after a
 * while (the others wait forever): its grace bounds everyone's wait, all four report
 * -ETIMEDOUT, the queued jobs go back exactly once, all to one caller's callback. Without
 * @force the gate opens and all four report 0.
 */
static void test_concurrent_shutdown(const char *kind, bool force)
{
	enum {
		WORKERS = 2,
		DEPTH = 8,
		CALLERS = 4
	};
	struct cx_waiter w[WORKERS];
	struct entry e[DEPTH];
	struct gate g, start;
	struct shutdown_call calls[CALLERS];
	pthread_t t[CALLERS], helper;
	pl_ctx *grace = NULL;
	pl_pool *p;
	long handed = 0;

	pt_note("concurrent shutdown %s force %d", kind, force);
	p = pool_or_skip(kind, WORKERS, DEPTH);
	if (p == NULL)
		return;
	gate_init(&g);
	gate_init(&start);
	memset(e, 0, sizeof(e));
	for (int i = 0; i < WORKERS; i++) {
		w[i].g = &g;
		atomic_init(&w[i].rc, 1);
		atomic_init(&w[i].returned, 0);
		if (force)
			CHECK_EQ(pl_pool_submit(p, cx_wait_job, &w[i], NULL), 0);
		else
			CHECK_EQ(pl_pool_submit(p, gate_job, &g, NULL), 0);
	}
	gate_wait_arrived(&g, WORKERS);
	for (int i = 0; i < DEPTH; i++)
		CHECK_EQ(pl_pool_submit(p, ledger_job, &e[i], NULL), 0);
	if (force)
		grace = pl_ctx_with_cancel(NULL);
	for (int i = 0; i < CALLERS; i++) {
		calls[i] = (struct shutdown_call){.p = p, .start = &start, .rc = 1};
		calls[i].col.index = i;
		calls[i].col.expect_thread = &t[i];
		atomic_init(&calls[i].col.calls, 0);
		calls[i].grace = i == CALLERS - 1 ? grace : NULL;
		CHECK_EQ(pthread_create(&t[i], NULL, shutdown_thread, &calls[i]), 0);
	}
	gate_wait_arrived(&start, CALLERS);
	gate_open(&start);
	if (force)
		CHECK_EQ(pthread_create(&helper, NULL, delayed_cancel, grace), 0);
	else
		CHECK_EQ(pthread_create(&helper, NULL, delayed_open, &g), 0);
	for (int i = 0; i < CALLERS; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	CHECK_EQ(pthread_join(helper, NULL), 0);

	int receiver = -1;
	for (int i = 0; i < CALLERS; i++) {
		CHECK_EQ(calls[i].rc, force ? -ETIMEDOUT : 0);
		if (atomic_load(&calls[i].col.calls) != 0) {
			CHECK(receiver == -1); /* one caller's callback only */
			receiver = i;
		}
		handed += atomic_load(&calls[i].col.calls);
	}
	for (int i = 0; i < DEPTH; i++) {
		if (force) {
			CHECK_EQ(atomic_load(&e[i].ran), 0);
			CHECK_EQ(atomic_load(&e[i].handed), 1);
			CHECK_EQ(atomic_load(&e[i].handed_to), receiver + 1);
		} else {
			CHECK_EQ(atomic_load(&e[i].ran), 1);
			CHECK_EQ(atomic_load(&e[i].handed), 0);
		}
	}
	CHECK_EQ(handed, force ? DEPTH : 0);
	for (int i = 0; force && i < WORKERS; i++)
		CHECK_EQ(atomic_load(&w[i].rc), -ECANCELED);
	/* A fifth call after the fact: the same result, at once. */
	CHECK_EQ(pl_pool_shutdown(p, NULL, NULL, NULL), force ? -ETIMEDOUT : 0);
	pl_ctx_release(grace);
	pl_pool_free(p);
	gate_destroy(&g);
	gate_destroy(&start);
	printf("ok   %-9s 4 concurrent shutdowns (%s)\n", kind,
	       force ? "forced by one grace" : "all drained");
}

/* Capacity 0 (mutex): a submit completes only when a worker takes the job. */
static void test_rendezvous(void)
{
	const unsigned workers = 2;
	struct gate g;
	pl_ctx *cx;
	pl_pool *p;

	pt_note("rendezvous");
	p = pool_or_skip("mutex", workers, 0);
	if (p == NULL)
		return;
	gate_init(&g);
	atomic_store(&counted, 0);
	atomic_store(&must_not_run_ran, 0);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(pl_pool_submit(p, count_job, NULL, NULL), 0);
	for (unsigned i = 0; i < workers; i++)
		CHECK_EQ(pl_pool_submit(p, gate_job, &g, NULL), 0);
	gate_wait_arrived(&g, (int)workers);
	/* Every worker busy: nobody to hand to. */
	CHECK_EQ(pl_pool_try_submit(p, must_not_run, NULL), -EAGAIN);
	cx = pl_ctx_with_timeout(NULL, 5 * 1000 * 1000);
	CHECK_EQ(pl_pool_submit(p, must_not_run, NULL, cx), -ETIMEDOUT);
	pl_ctx_release(cx);
	gate_open(&g);
	CHECK_EQ(pl_pool_shutdown(p, NULL, NULL, NULL), 0);
	CHECK_EQ(atomic_load(&counted), 1000);
	CHECK_EQ(atomic_load(&must_not_run_ran), 0);
	pl_pool_free(p);
	gate_destroy(&g);
	printf("ok   mutex     depth 0 (rendezvous)\n");
}

/* Free of a running pool: shuts down with no grace limit first, so queued jobs still run. */
static void test_free_running(const char *kind)
{
	struct gate g;
	pthread_t opener;
	pl_pool *p;

	pt_note("free running %s", kind);
	p = pool_or_skip(kind, 1, 16);
	if (p == NULL)
		return;
	gate_init(&g);
	atomic_store(&counted, 0);
	CHECK_EQ(pl_pool_submit(p, gate_job, &g, NULL), 0);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(pl_pool_submit(p, count_job, NULL, NULL), 0);
	CHECK_EQ(pthread_create(&opener, NULL, delayed_open, &g), 0);
	pl_pool_free(p);
	CHECK_EQ(atomic_load(&counted), 16);
	CHECK_EQ(pthread_join(opener, NULL), 0);
	gate_destroy(&g);
}

int main(void)
{
	const char *const *kinds = pl_chan_kinds();

	pt_watchdog_start(60);
	test_einval();
	test_basic();
	test_rendezvous();
	for (size_t i = 0; kinds[i] != NULL; i++) {
		if (!kind_usable(kinds[i]))
			continue;
		test_full(kinds[i]);
		test_drain(kinds[i]);
		test_expired(kinds[i], false);
		test_expired(kinds[i], true);
		test_grace_runs_out(kinds[i], false);
		test_grace_runs_out(kinds[i], true);
		test_expired_running_only(kinds[i]);
		test_expired_idle(kinds[i]);
		test_concurrent_shutdown(kinds[i], true);
		test_concurrent_shutdown(kinds[i], false);
		test_free_running(kinds[i]);
	}
	printf("pool: all passed\n");
	return 0;
}
