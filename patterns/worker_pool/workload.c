/* SPDX-License-Identifier: MIT */
/*
 * The "worker_pool" workload: producers submit CPU-bound jobs to a pool of `consumers` workers,
 * so the harness shows bounded concurrency, what the queue depth does to latency, and what
 * happens when workers outnumber cores.
 *
 * Shape. A pool (patterns/worker_pool/pool.c) of `consumers` workers whose job queue is a
 * channel of kind chan_kind and depth queue_depth. `producers` threads submit jobs with the
 * blocking pl_pool_submit() (closed loop: the next job once the previous submit returned; a
 * full queue blocks the producer: that is the pool's back-pressure). The "spsc" kind is
 * skipped: a pool has several submitters and workers on its queue, and pl_pool_new() refuses
 * it.
 *
 * Jobs cost work_ns of CPU each: a busy loop calibrated once per process to iterations per ns
 * (the fastest of a few trials), not a sleep and not a clock poll, so a job whose worker is
 * preempted takes longer in wall time, as real work would. With more workers than cores the
 * jobs share the cores and each takes longer; throughput stays at cores / work_ns at best.
 *
 * Latency: submit -> completion: the producer reads the clock just before pl_pool_submit(), the
 * worker just after the job's work. It includes the time blocked in submit on a full queue, the
 * time queued, and the work. A job's argument is pointer-sized, ((submit time - start) << 1) |
 * measured, so nothing is allocated per job. The job function finds the running workload through
 * one static pointer: pattern.h rules out two points running at once in one process, and run()
 * refuses to start a second one (-EBUSY) rather than mix them up. Each pool worker takes a
 * histogram slot of its own on its first job (a thread-local pointer), so recording writes no
 * shared line; slots are merged after the pool is shut down (which joins every worker).
 *
 * Window: threads start at a gate; jobs submitted during the warm-up run but
 * are not counted. Seconds mode: throughput = measured jobs / window length; messages mode: the
 * producers share the count, the window ends at the last measured completion. End: producers
 * stop, pl_pool_shutdown() with no grace limit runs every accepted job and joins the workers;
 * lost = accepted - completed (must be 0).
 *
 * Extras: inflight (Little's law: throughput x mean latency, the jobs in the system on average;
 * a saturated closed loop holds about queue_depth + consumers), workers_per_cpu, and with
 * work_ns > 0 model_mps = min(consumers, cpus) / work_ns, the most the cores allow.
 *
 * Refused points: the spsc kind, and an unbounded queue (a submit never blocks, so closed-loop
 * producers would fill memory during the window and the shutdown would drain it for as long).
 *
 * Hangs: no progress for PL__STALL_NS shuts the pool down with an expired grace (blocked
 * submitters wake, unstarted jobs come back) and the point fails with -ETIMEDOUT.
 *
 * The calibrated busy loop, the start gate, the phases, the stall check and the joins are
 * shared with the other workloads (harness/workload_util.h).
 *
 * Thread-safety: each producer's struct is written by its own thread; each worker's slot by
 * the one worker that claimed it; counters the main thread reads while running (@progress,
 * @measured) are relaxed atomics; everything else is read after pthread_join() or after
 * pl_pool_shutdown() returned (it joins the workers).
 */
#include <patlab/chan.h>
#include <patlab/pattern.h>
#include <patlab/pool.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/workload_util.h"
#include "sync/die.h"

#define WL_MAX_THREADS 1024u

extern const struct pl_pattern pl__pattern_worker_pool;

/* ---------------------------------------------------------------- state */

struct wp;

struct producer {
	_Alignas(PL_FALSE_SHARING) struct wp *w;
	uint64_t share; /* messages mode: measured jobs to submit */
	uint64_t sent;	/* submits that returned 0 */
	uint64_t measured_sent;
	int err;
	_Atomic uint64_t progress; /* owner-written heartbeat (relaxed), read by progress_sum() */
};

/* One pool worker's figures: claimed by the worker on its first job. */
struct slot {
	_Alignas(PL_FALSE_SHARING) pl_hist *hist;
	uint64_t done;	 /* jobs completed, warm-up included */
	int64_t last_ns; /* clock at the last measured completion */
	/* Owner-written (relaxed: counters, order nothing), read by the main thread. */
	_Atomic uint64_t measured;
	_Atomic uint64_t progress;
};

struct wp {
	struct pl_params p;
	bool ran;
	pl_pool *pool;
	uint64_t iters;
	struct producer *prod;
	struct slot *slots;
	/* Slots handed out so far (relaxed fetch_add: an index, publishes nothing). */
	_Atomic unsigned next_slot;
	/* The gate, the phase and the stall check; win.t_start is set before the gate opens and
	 * published by the gate (to producers) and the queue (to jobs). */
	struct pl__window win;
	bool latency;
	bool need_clock;
	struct pl__placer placer; /* the point's threads: ours and the primitives' */
};

/*
 * The running point, for the job function. Set (release) by run before any job is submitted,
 * cleared after the pool was shut down; a job reads it (acquire) after its submit, which the
 * queue orders anyway.
 */
static struct wp *_Atomic active;
/* The worker's slot and the point it belongs to (a pool's workers live for one point). */
static _Thread_local struct slot *tl_slot;
static _Thread_local const struct wp *tl_owner;

static inline int phase(struct wp *w)
{
	return pl__window_phase(&w->win);
}

/* ---------------------------------------------------------------- jobs and producers */

static void job(pl_ctx *cx, void *arg)
{
	/* Acquire pairs with the release store in wp_run(). */
	struct wp *w = atomic_load_explicit(&active, memory_order_acquire);
	uint64_t v = (uint64_t)(uintptr_t)arg;
	struct slot *s;

	(void)cx; /* the pool's job context is cancelled only by an expired shutdown */
	if (w == NULL)
		pl__die("worker_pool workload: a job ran outside of a run");
	if (tl_owner != w) {
		/* Relaxed: an index; the slot's memory was published by the pool's start. */
		unsigned i = atomic_fetch_add_explicit(&w->next_slot, 1, memory_order_relaxed);

		if (i >= w->p.consumers)
			pl__die("worker_pool workload: more job threads than workers (%u)",
				w->p.consumers);
		tl_slot = &w->slots[i];
		tl_owner = w;
	}
	s = tl_slot;
	(void)pl__burn(w->iters);
	s->done++;
	if (v & 1) {
		pl__bump(&s->measured);
		if (w->need_clock) {
			int64_t now = pl_now_ns();

			if (w->latency)
				pl_hist_record(s->hist, now - w->win.t_start - (int64_t)(v >> 1));
			s->last_ns = now;
		}
	}
	pl__bump(&s->progress);
}

static void *producer_main(void *arg)
{
	struct producer *t = arg;
	struct wp *w = t->w;
	const bool by_count = w->p.messages > 0;

	if (!pl__window_gate(&w->win))
		return NULL;
	for (;;) {
		int ph = phase(w);
		uint64_t rel = 0;
		int rc;

		if (ph == PL__PH_STOP ||
		    (by_count && ph == PL__PH_MEASURE && t->measured_sent == t->share))
			break;
		if (w->latency)
			rel = (uint64_t)(pl_now_ns() - w->win.t_start);
		/* Blocks while the queue is full: woken by a worker's dequeue or the shutdown. */
		rc = pl_pool_submit(w->pool, job,
				    (void *)(uintptr_t)(rel << 1 | (ph == PL__PH_MEASURE)), NULL);
		if (rc != 0) {
			if (rc != -EPIPE) /* -EPIPE: shut down by the stall check, reported there */
				t->err = rc;
			break;
		}
		t->sent++;
		t->measured_sent += ph == PL__PH_MEASURE;
		pl__bump(&t->progress);
	}
	pl__window_producer_exit(&w->win);
	return NULL;
}

/* ---------------------------------------------------------------- check, setup, teardown */

static int wp_check(const struct pl_params *p, struct pl_result *r)
{
	struct pl_chan_kind_info info;
	int err =
	    pl_pattern_check_params(&pl__pattern_worker_pool, p, p->producers, p->consumers, r);

	if (err != 0)
		return err;
	if (pl_chan_kind_info(p->chan_kind, &info) == 0 && info.spsc)
		return pl__fail(
		    r, -ENOTSUP,
		    "%s: a pool's queue has several submitters and workers (pl_pool_new "
		    "refuses single-producer/single-consumer kinds)",
		    info.name);
	if (p->producers > WL_MAX_THREADS || p->consumers > WL_MAX_THREADS)
		return pl__fail(r, -EINVAL, "at most %u producers and %u workers", WL_MAX_THREADS,
				WL_MAX_THREADS);
	if (p->work_ns > INT64_C(1000000000))
		return pl__fail(r, -EINVAL, "work_ns above 1 s per job");
	if (p->queue_depth == PL_CHAN_UNBOUNDED)
		return pl__fail(
		    r, -ENOTSUP,
		    "unbounded queue: closed-loop submitters would only fill memory (the "
		    "pool itself supports it)");
	return 0;
}

static void wp_free(struct wp *w)
{
	if (w == NULL)
		return;
	pl_pool_free(w->pool);
	for (unsigned i = 0; w->slots != NULL && i < w->p.consumers; i++)
		pl_hist_free(w->slots[i].hist);
	free(w->slots);
	free(w->prod);
	pl__window_destroy(&w->win);
	free(w);
}

/* progress_sum - the producers' and the workers' heartbeats, for the stall check. */
static uint64_t progress_sum(void *arg)
{
	struct wp *w = arg;

	return PL__SUM_RELAXED(w->prod, w->p.producers, progress) +
	       PL__SUM_RELAXED(w->slots, w->p.consumers, progress);
}

/* window_has_data - some measured job has completed. */
static bool window_has_data(void *arg)
{
	struct wp *w = arg;

	return PL__ANY_RELAXED(w->slots, w->p.consumers, measured);
}

static int wp_setup(const struct pl_params *p, void **state, struct pl_result *r)
{
	pl_pool_opts o = {
	    .workers = p->consumers, .queue_depth = p->queue_depth, .chan_kind = p->chan_kind};
	struct wp *w;
	int err = wp_check(p, r);

	if (err != 0)
		return err;
	w = pl__alloc_lines(sizeof(*w));
	if (w == NULL)
		return pl__fail(r, -ENOMEM, "out of memory");
	if (pl__window_init(&w->win, p->producers, &w->placer.start, progress_sum, window_has_data,
			    w) != 0)
		goto nomem;
	err = pl__point_placer(&w->placer, p, r);
	if (err != 0)
		goto out;
	atomic_init(&w->next_slot, 0);
	w->p = *p;
	w->iters = pl__burn_iters(p->work_ns);
	w->prod = pl__alloc_lines(p->producers * sizeof(*w->prod));
	w->slots = pl__alloc_lines(p->consumers * sizeof(*w->slots));
	if (w->prod == NULL || w->slots == NULL)
		goto nomem;
	for (unsigned i = 0; i < p->producers; i++) {
		w->prod[i].w = w;
		atomic_init(&w->prod[i].progress, 0);
	}
	for (unsigned i = 0; i < p->consumers; i++) {
		atomic_init(&w->slots[i].measured, 0);
		atomic_init(&w->slots[i].progress, 0);
		w->slots[i].hist = pl_hist_new();
		if (w->slots[i].hist == NULL)
			goto nomem;
	}
	/* The pool's workers start here and wait for jobs (no measured work). */
	o.threads = &w->placer.start;
	w->pool = pl_pool_new(&o);
	if (w->pool == NULL) {
		err =
		    pl__fail(r, errno == EINVAL ? -ENOTSUP : -errno, "pl_pool_new(%s, %u, %zu): %s",
			     p->chan_kind, p->consumers, p->queue_depth, strerror(errno));
		goto out;
	}
	*state = w;
	return 0;
nomem:
	err = pl__fail(r, -ENOMEM, "out of memory");
out:
	wp_free(w);
	return err;
}

static void wp_teardown(void *state)
{
	wp_free(state);
}

/* ---------------------------------------------------------------- run */

static void count_unstarted(pl_job_fn fn, void *arg, void *user)
{
	(void)fn;
	(void)arg;
	(*(uint64_t *)user)++; /* runs on the shutdown caller's thread, one at a time */
}

/* join_producers - join every producer, or abort: after the shutdown every submit returns. */
static void join_producers(struct wp *w)
{
	unsigned late;

	if (!pl__window_join(&w->win, PL__JOIN_NS, &late))
		pl__die("worker_pool workload (%s): a producer did not return %lld s after the "
			"shutdown",
			w->p.chan_kind, (long long)(PL__JOIN_NS / 1000000000));
}

static int wp_run(void *state, struct pl_result *r)
{
	struct wp *w = state;
	const struct pl_params *p = &w->p;
	const bool by_count = p->messages > 0;
	struct wp *expect = NULL;
	int64_t t1, t2 = 0;
	uint64_t sent = 0, done = 0, measured = 0, unstarted = 0;
	bool stalled;
	int sd, err = pl__run_once(&w->ran, r);

	if (err != 0)
		return err;
	/* Release pairs with the acquire in job(). */
	if (!atomic_compare_exchange_strong_explicit(&active, &expect, w, memory_order_release,
						     memory_order_relaxed))
		return pl__fail(r, -EBUSY, "another worker_pool point runs in this process");
	w->latency = r->latency != NULL;
	w->need_clock = w->latency || by_count;
	for (unsigned i = 0; i < p->producers; i++)
		w->prod[i].share = by_count ? pl__share(p->messages, p->producers, i) : 0;
	for (unsigned i = 0; i < p->producers; i++) {
		err = pl__window_spawn(&w->win, producer_main, &w->prod[i], r);
		if (err != 0) {
			/* Relaxed: no job was submitted, so none reads it. */
			atomic_store_explicit(&active, NULL, memory_order_relaxed);
			return err;
		}
	}
	t1 = pl__window_start(&w->win, p->warmup_s);
	if (!by_count) {
		t2 = pl__window_measure(&w->win, t1, p->seconds);
		pl__window_stop(&w->win);
	}
	stalled = !pl__window_wait_producers(&w->win, p->producers);
	if (stalled) {
		pl_ctx *expired = pl_ctx_with_cancel(NULL);

		if (expired == NULL)
			pl__die("worker_pool workload: out of memory");
		pl_ctx_cancel(expired);
		sd = pl_pool_shutdown(w->pool, expired, count_unstarted, &unstarted);
		pl_ctx_release(expired);
	} else {
		/* Every accepted job runs; every worker is joined before it returns. */
		sd = pl_pool_shutdown(w->pool, NULL, NULL, NULL);
	}
	join_producers(w);
	/* Relaxed: the shutdown joined every worker, so no job reads it any more. */
	atomic_store_explicit(&active, NULL, memory_order_relaxed);

	for (unsigned i = 0; i < p->producers; i++) {
		if (w->prod[i].err != 0)
			return pl__fail(r, w->prod[i].err, "a producer failed: %s",
					strerror(-w->prod[i].err));
		sent += w->prod[i].sent;
	}
	if (by_count)
		t2 = PL__LATEST(w->slots, p->consumers, last_ns, t1);
	for (unsigned i = 0; i < p->consumers; i++) {
		struct slot *s = &w->slots[i];

		done += s->done;
		measured += atomic_load_explicit(&s->measured, memory_order_relaxed);
		pl__merge_latency(r, s->hist);
	}
	r->messages = measured;
	r->seconds = (double)(t2 - t1) / 1e9;
	r->lost = sent > done ? sent - done : 0;
	if (stalled)
		return pl__fail(
		    r, -ETIMEDOUT,
		    "the pool made no progress for %lld s (%s; %llu jobs never started)",
		    (long long)(PL__STALL_NS / 1000000000), p->chan_kind,
		    (unsigned long long)unstarted);
	if (sd != 0)
		return pl__fail(r, sd, "pl_pool_shutdown: %s", strerror(-sd));
	if (done > sent)
		return pl__fail(r, -EPROTO, "%llu jobs ran but only %llu were submitted",
				(unsigned long long)done, (unsigned long long)sent);
	if (r->messages == 0)
		return pl__fail(r, -EIO, "nothing was measured (a window too short?)");
	pl__extra_inflight(r);
	{
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		if (cpus > 0) {
			pl_result_extra(r, "workers_per_cpu", (double)p->consumers / (double)cpus);
			if (p->work_ns > 0)
				pl_result_extra(r, "model_mps",
						pl__cpu_capacity_mps(p->consumers, p->work_ns));
		}
	}
	return 0;
}

/* 10 us jobs from 2 producers to 1, 2, 4 workers: throughput against workers. */
static const char *const wp_quick[] = {"--chan multi --ratio 2:1,2:2,2:4 --work-ns 10000", NULL};

const struct pl_pattern pl__pattern_worker_pool = {
    .name = "worker_pool",
    .summary =
	"producers submit CPU-bound jobs (work_ns) to consumers workers; submit->done latency",
    .params = PL_PARAM_CHAN_KIND | PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS | PL_PARAM_QUEUE_DEPTH |
	      PL_PARAM_WORK_NS,
    .policies = NULL,
    .check = wp_check,
    .setup = wp_setup,
    .run = wp_run,
    .teardown = wp_teardown,
    .throughput = "M jobs/s",
    .latency = "submit to done",
    .quick = wp_quick,
};
