/* SPDX-License-Identifier: MIT */
/*
 * The "pipeline" workload: producers -> `stages` stages -> one sink, so the harness shows that
 * a pipeline runs at its slowest stage's pace and what adding workers to that stage buys.
 *
 * Shape. `producers` threads feed the source with pl_pipeline_send() (closed loop: the next item
 * once the send returned); one sink thread drains it with pl_pipeline_recv(). Every link is of
 * kind chan_kind and depth queue_depth, with the given spin budget.
 *
 * Stage costs, in CPU work (a busy loop calibrated once per process to iterations per ns, so a
 * preempted stage takes longer in wall time, as real work would; not a sleep, not a clock
 * poll):
 * - every stage costs work_ns per item, one worker each;
 * - the bottleneck, stage stages/2 (the middle one; with 1 or 2 stages, the last), costs
 *   4 x work_ns, and 1 item in 16 (drawn by its producer from the seed) is a slow item that
 *   costs 20 x work_ns there: a mean of 5 x work_ns, with a tail. It runs `consumers` workers.
 * So the bottleneck's capacity is consumers / (5 work_ns), the others' 1 / work_ns each, and two
 * cores cap the whole at 2 / ((stages - 1 + 5) work_ns): the extra "model_mps" reports the
 * smallest of these.
 *
 * Policies: "unordered" (items leave as soon as they are done) and "ordered" (a reorder buffer
 * restores the send order before the sink: slow items then hold back the ones behind them).
 *
 * Latency: the producer's clock just before pl_pipeline_send() to the sink's clock just after
 * pl_pipeline_recv() returned the item: source -> sink, queueing at a full link 0 included.
 * Items are pointer-sized: ((send time - start) << 2) | slow << 1 | measured, so nothing is
 * allocated per item.
 *
 * Window (FIELD-NOTES.md §5): every thread starts at a gate; items sent during the warm-up
 * travel but are not counted. Seconds mode: throughput = measured items / window length (every
 * measured item is received: the pipeline is drained before the result is read). Messages
 * mode: producers share the count; the window ends at the sink's last measured receive.
 * End: producers stop, the main thread closes the pipeline's input, the sink drains it to
 * -EPIPE, pl_pipeline_wait() must return 0. lost = accepted - received.
 *
 * Extras (when latency is measured: the pipeline then times its stages; deltas over the
 * measured window): bottleneck_busy (share of the bottleneck workers' time spent working: ~1
 * when it is the bottleneck), feeder_send_wait (share of the stage before it blocked on a full
 * link: back-pressure), drain_recv_wait (share of the stage after it starved for input),
 * model_mps (see above; only with work_ns > 0), inflight (Little's law: throughput x mean
 * latency, the items in the pipeline on average), and for "ordered": window (the reorder
 * window) and window_wait_frac (sends that found it full, per measured item). A wait that
 * straddles the window's start is counted whole, so a share can exceed 1 by a little.
 *
 * Hangs: no progress for WL_STALL_NS (while producing, or while the sink drains after the close)
 * cancels the pipeline (every thread then returns) and the point fails with -ETIMEDOUT.
 *
 * Refused points: the spsc kind where a link has more than one thread at an end (the pipeline
 * would refuse it with EINVAL), and unbounded links: closed-loop producers would fill memory
 * for as long as the window lasts and the drain would take as long again.
 *
 * Thread-safety of the state: each struct wl_thread is written by its own thread only (its
 * @progress and @measured also read by the main thread while running, relaxed); the main
 * thread reads the rest after pthread_join().
 */
#include <patlab/chan.h>
#include <patlab/pattern.h>
#include <patlab/pipeline.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chan/park.h"
#include "util/die.h"

#define WL_STALL_NS	   (10 * INT64_C(1000000000))
#define WL_JOIN_NS	   (10 * INT64_C(1000000000))
#define WL_MAX_STAGES	   64u
#define WL_MAX_WORKERS	   256u
#define WL_BOTTLENECK_X	   4   /* the bottleneck's cost, in work_ns */
#define WL_SLOW_X	   20  /* a slow item's cost there, in work_ns */
#define WL_SLOW_ONE_IN	   16  /* slow items: 1 in this many */
#define WL_BOTTLENECK_MEAN 5.0 /* 4 x 15/16 + 20 x 1/16 */
/* At most 10 ms per item and stage: a slow item (200 ms) stays well inside the stall limit. */
#define WL_MAX_WORK_NS (10 * INT64_C(1000000))

enum {
	PH_WARMUP = 0,
	PH_MEASURE = 1,
	PH_STOP = 2
};

extern const struct pl_pattern pl__pattern_pipeline;

static const char *const policies[] = {"unordered", "ordered", NULL};

/* ---------------------------------------------------------------- calibrated work */

static pthread_once_t calib_once = PTHREAD_ONCE_INIT;
/* Busy-loop iterations per ns; written once under calib_once, which orders it for readers. */
static double iters_per_ns;

/* burn - @iters rounds of xorshift, a dependency chain the compiler must keep. */
static uint64_t burn(uint64_t iters)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (uint64_t i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ __volatile__("" : "+r"(x));
	}
	return x;
}

/* calibrate - the fastest of a few trials, so a preempted trial cannot shrink the rate. */
static void calibrate(void)
{
	const uint64_t n = 1u << 16;
	int64_t best = INT64_MAX;

	for (int t = 0; t < 7; t++) {
		int64_t t0 = pl_now_ns(), dt;

		(void)burn(n);
		dt = pl_now_ns() - t0;
		if (dt > 0 && dt < best)
			best = dt;
	}
	iters_per_ns = best == INT64_MAX ? 1.0 : (double)n / (double)best;
}

static uint64_t iters_of(int64_t ns)
{
	PL_CHECK(pthread_once(&calib_once, calibrate));
	return ns <= 0 ? 0 : (uint64_t)((double)ns * iters_per_ns + 0.5);
}

/* ---------------------------------------------------------------- state */

struct wl;

struct wl_thread {
	_Alignas(PL_FALSE_SHARING) struct wl *w;
	pthread_t tid;
	unsigned idx;
	bool sink;
	bool started;
	pl_hist *hist;	/* the sink's */
	uint64_t rng;	/* a producer's slow-item draws */
	uint64_t share; /* messages mode: measured items this producer sends */
	uint64_t sent;	/* sends that returned 0, warm-up included */
	uint64_t measured_sent;
	uint64_t received;
	int64_t last_ns; /* the sink's clock at its last measured receive */
	int err;
	/* Owner-written (relaxed: counters, order nothing), read by the main thread. */
	_Atomic uint64_t measured;
	_Atomic uint64_t progress;
};

/* One stage's cost (the user pointer of its function). */
struct stage_cost {
	uint64_t iters;	     /* per item */
	uint64_t slow_iters; /* per slow item (the bottleneck), else = iters */
};

struct wl {
	struct pl_params p;
	bool ordered;
	bool ran;
	unsigned bottleneck;
	unsigned n; /* producers + the sink */
	struct wl_thread *t;
	struct stage_cost *cost;
	pl_pipeline *pl;
	_Atomic uint64_t discarded; /* items the pipeline discarded: must stay 0 */
	/* Written by the main thread only, read by producers per item (relaxed: it tags, the
	 * data reaches the main thread through pthread_join()). */
	_Alignas(PL_FALSE_SHARING) _Atomic int phase;
	_Atomic unsigned producers_done; /* release by each producer, acquire by the main thread */
	_Atomic bool sink_done;		 /* release by the sink at its exit, acquire by main */
	pthread_mutex_t lock;		 /* the start gate */
	pthread_cond_t cond;
	unsigned ready;	 /* under @lock */
	int go;		 /* under @lock: 1 start, -1 abort */
	int64_t t_start; /* published by the gate's mutex */
	bool latency;
	bool need_clock;
	uint64_t last_progress;
	int64_t last_progress_ns;
};

static int fail(struct pl_result *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct pl_result *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return err;
}

static void sleep_until(int64_t t)
{
	struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void bump(_Atomic uint64_t *c)
{
	/* Only the owner writes: a plain load and store. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static inline int phase(struct wl *w)
{
	return atomic_load_explicit(&w->phase, memory_order_relaxed);
}

/* gate_wait - a thread announces itself and waits for gate_open(). */
static bool gate_wait(struct wl *w)
{
	int go;

	PL_CHECK(pthread_mutex_lock(&w->lock));
	w->ready++;
	PL_CHECK(pthread_cond_broadcast(&w->cond)); /* wakes gate_open() */
	while (w->go == 0)
		PL_CHECK(pthread_cond_wait(&w->cond, &w->lock)); /* woken by gate_open() */
	go = w->go;
	PL_CHECK(pthread_mutex_unlock(&w->lock));
	return go > 0;
}

static void gate_open(struct wl *w, unsigned count, int go)
{
	PL_CHECK(pthread_mutex_lock(&w->lock));
	while (w->ready < count)
		PL_CHECK(pthread_cond_wait(&w->cond, &w->lock)); /* woken by gate_wait() */
	w->go = go;
	PL_CHECK(pthread_cond_broadcast(&w->cond));
	PL_CHECK(pthread_mutex_unlock(&w->lock));
}

/* ---------------------------------------------------------------- stages and threads */

static int stage_fn(pl_ctx *cx, void *in, void **out, void *user)
{
	const struct stage_cost *c = user;
	bool slow = ((uintptr_t)in >> 1) & 1;

	(void)cx;
	(void)out; /* the item travels on unchanged */
	(void)burn(slow ? c->slow_iters : c->iters);
	return 0;
}

static void on_discard(void *item, void *user)
{
	struct wl *w = user;

	(void)item;
	atomic_fetch_add_explicit(&w->discarded, 1, memory_order_relaxed); /* a count */
}

static void *producer_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	const bool by_count = w->p.messages > 0;

	if (!gate_wait(w))
		return NULL;
	for (;;) {
		int ph = phase(w);
		uint64_t rel = 0, slow;
		int rc;

		if (ph == PH_STOP || (by_count && ph == PH_MEASURE && t->measured_sent == t->share))
			break;
		slow = splitmix(&t->rng) % WL_SLOW_ONE_IN == 0;
		if (w->latency)
			rel = (uint64_t)(pl_now_ns() - w->t_start);
		/* Blocks while link 0 (ordered: or the window) is full. */
		rc = pl_pipeline_send(
		    w->pl, (void *)(uintptr_t)(rel << 2 | slow << 1 | (ph == PH_MEASURE)), NULL);
		if (rc != 0) {
			if (rc != -ECANCELED) /* cancelled by the stall check, reported there */
				t->err = rc;
			break;
		}
		t->sent++;
		t->measured_sent += ph == PH_MEASURE;
		bump(&t->progress);
	}
	/* Release: pairs with the acquire load in wait_producers(). */
	atomic_fetch_add_explicit(&w->producers_done, 1, memory_order_release);
	return NULL;
}

static void *sink_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	void *m;

	if (!gate_wait(w))
		return NULL;
	for (;;) {
		/* Blocks until the next item is done: woken by the last stage or the close. */
		int rc = pl_pipeline_recv(w->pl, &m, NULL);
		uint64_t v;

		if (rc != 0) {
			if (rc != -EPIPE && rc != -ECANCELED) /* end of stream; the stall check */
				t->err = rc;
			break;
		}
		v = (uint64_t)(uintptr_t)m;
		t->received++;
		if (v & 1) {
			bump(&t->measured);
			if (w->need_clock) {
				int64_t now = pl_now_ns();

				if (w->latency)
					pl_hist_record(t->hist,
						       now - w->t_start - (int64_t)(v >> 2));
				t->last_ns = now;
			}
		}
		bump(&t->progress);
	}
	/* Release: pairs with the acquire load in wait_sink(). */
	atomic_store_explicit(&w->sink_done, true, memory_order_release);
	return NULL;
}

/* ---------------------------------------------------------------- check, setup, teardown */

static unsigned workers_of(const struct pl_params *p, unsigned i)
{
	return i == p->stages / 2 ? p->consumers : 1;
}

static int pipe_check(const struct pl_params *p, struct pl_result *r)
{
	struct pl_chan_kind_info info;
	bool ordered;
	int err;

	/* The shared checks, as if every link were 1:1; the links' real shapes come below. */
	err = pl_pattern_check_params(&pl__pattern_pipeline, p, 1, 1, r);
	if (err != 0)
		return err;
	if (p->stages > WL_MAX_STAGES || p->consumers > WL_MAX_WORKERS ||
	    p->producers > WL_MAX_WORKERS)
		return fail(r, -EINVAL, "at most %u stages and %u producers or workers",
			    WL_MAX_STAGES, WL_MAX_WORKERS);
	if (p->work_ns > WL_MAX_WORK_NS)
		return fail(r, -EINVAL, "work_ns above %lld ns per item (a slow item costs %d x)",
			    (long long)WL_MAX_WORK_NS, WL_SLOW_X);
	if (p->queue_depth == PL_CHAN_UNBOUNDED)
		return fail(r, -ENOTSUP,
			    "unbounded links: closed-loop producers would only fill memory (the "
			    "pipeline itself supports them)");
	ordered = p->policy != NULL && strcmp(p->policy, "ordered") == 0;
	if (pl_chan_kind_info(p->chan_kind, &info) != 0 || !info.spsc)
		return 0;
	for (unsigned i = 0; i <= p->stages; i++) {
		unsigned s = i == 0 ? p->producers : workers_of(p, i - 1);
		unsigned rcv = i == p->stages ? 1 : workers_of(p, i);

		if (i == p->stages && ordered)
			break; /* the reorder buffer, not a channel */
		if (s != 1 || rcv != 1)
			return fail(r, -ENOTSUP,
				    "%s needs one sender and one receiver per link; link %u has %u "
				    "and %u (the pipeline refuses it with EINVAL)",
				    info.name, i, s, rcv);
	}
	return 0;
}

static void wl_free(struct wl *w)
{
	if (w == NULL)
		return;
	pl_pipeline_free(w->pl);
	for (unsigned i = 0; w->t != NULL && i < w->n; i++)
		pl_hist_free(w->t[i].hist);
	free(w->t);
	free(w->cost);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static int pipe_setup(const struct pl_params *p, void **state, struct pl_result *r)
{
	struct pl_pipeline_opts o = pl_pipeline_opts_default();
	struct wl *w;
	int err = pipe_check(p, r);

	if (err != 0)
		return err;
	w = aligned_alloc(PL_FALSE_SHARING, (sizeof(*w) + PL_FALSE_SHARING - 1) / PL_FALSE_SHARING *
						PL_FALSE_SHARING);
	if (w == NULL)
		return fail(r, -ENOMEM, "out of memory");
	memset(w, 0, sizeof(*w));
	PL_CHECK(pthread_mutex_init(&w->lock, NULL));
	PL_CHECK(pthread_cond_init(&w->cond, NULL));
	atomic_init(&w->discarded, 0);
	atomic_init(&w->sink_done, false);
	w->p = *p;
	w->ordered = p->policy != NULL && strcmp(p->policy, "ordered") == 0;
	w->bottleneck = p->stages / 2;
	w->n = p->producers + 1;
	w->t = aligned_alloc(PL_FALSE_SHARING, w->n * sizeof(*w->t));
	w->cost = calloc(p->stages, sizeof(*w->cost));
	if (w->t == NULL || w->cost == NULL)
		goto nomem;
	memset(w->t, 0, w->n * sizeof(*w->t));
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		t->w = w;
		t->idx = i;
		t->sink = i == p->producers;
		t->rng = p->seed ^ (0x6a09e667f3bcc909ull * (i + 1));
		atomic_init(&t->measured, 0);
		atomic_init(&t->progress, 0);
		if (t->sink && (t->hist = pl_hist_new()) == NULL)
			goto nomem;
	}
	for (unsigned i = 0; i < p->stages; i++) {
		bool b = i == w->bottleneck;

		w->cost[i].iters = iters_of(b ? WL_BOTTLENECK_X * p->work_ns : p->work_ns);
		w->cost[i].slow_iters = b ? iters_of(WL_SLOW_X * p->work_ns) : w->cost[i].iters;
	}

	o.chan_kind = p->chan_kind;
	o.depth = p->queue_depth;
	if (p->spin_ns != PL_SPIN_KIND_DEFAULT)
		o.spin_ns = p->spin_ns;
	o.ordered = w->ordered;
	/* The pipeline times its stages only when latency is wanted (else: no clock per item). */
	o.stats = r->latency != NULL;
	o.source_threads = p->producers;
	o.sink_threads = 1;
	o.discard = on_discard;
	o.discard_user = w;
	w->pl = pl_pipeline_new(&o);
	if (w->pl == NULL) {
		err = fail(r, errno == EINVAL ? -ENOTSUP : -errno, "pl_pipeline_new(%s, %zu): %s",
			   p->chan_kind, p->queue_depth, strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < p->stages; i++) {
		char name[24];

		if (i == w->bottleneck)
			snprintf(name, sizeof(name), "bottleneck");
		else
			snprintf(name, sizeof(name), "s%u", i);
		err = pl_pipeline_add_stage(w->pl, name, stage_fn, &w->cost[i], workers_of(p, i));
		if (err != 0) {
			err = fail(r, err, "pl_pipeline_add_stage(%u): %s", i, strerror(-err));
			goto out;
		}
	}
	*state = w;
	return 0;
nomem:
	err = fail(r, -ENOMEM, "out of memory");
out:
	wl_free(w);
	return err;
}

static void pipe_teardown(void *state)
{
	wl_free(state);
}

/* ---------------------------------------------------------------- run */

static bool stall_check(struct wl *w, int64_t now)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < w->n; i++)
		sum += atomic_load_explicit(&w->t[i].progress, memory_order_relaxed);
	if (sum != w->last_progress || w->last_progress_ns == 0) {
		w->last_progress = sum;
		w->last_progress_ns = now;
		return false;
	}
	return now - w->last_progress_ns > WL_STALL_NS;
}

static bool window_has_data(struct wl *w)
{
	return atomic_load_explicit(&w->t[w->p.producers].measured, memory_order_relaxed) != 0;
}

/* wait_producers - poll (0.1 ms doubling to 10 ms) until every producer returned; false:
 * stalled. */
static bool wait_producers(struct wl *w)
{
	int64_t nap = 100000;

	/* Acquire: pairs with the release increment at each producer's exit. */
	while (atomic_load_explicit(&w->producers_done, memory_order_acquire) < w->p.producers) {
		int64_t now = pl_now_ns();

		if (stall_check(w, now))
			return false;
		sleep_until(now + nap);
		if (nap < 10000000)
			nap *= 2;
	}
	return true;
}

/*
 * wait_sink - after the close: poll (0.1 ms doubling to 10 ms) until the sink saw the end of
 * the stream, however long the drain takes while it makes progress. false: stalled.
 */
static bool wait_sink(struct wl *w)
{
	int64_t nap = 100000;

	/* Acquire: pairs with the release store at the sink's exit. */
	while (!atomic_load_explicit(&w->sink_done, memory_order_acquire)) {
		int64_t now = pl_now_ns();

		if (stall_check(w, now))
			return false;
		sleep_until(now + nap);
		if (nap < 10000000)
			nap *= 2;
	}
	return true;
}

/* join_one - join @t, or abort: after a cancel every thread must return. */
static void join_one(struct wl *w, struct wl_thread *t, int64_t deadline)
{
	struct timespec rt, ts;
	int64_t left, abs;
	int rc;

	clock_gettime(CLOCK_REALTIME, &rt);
	left = deadline - pl_now_ns();
	abs = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec + (left > 0 ? left : 0);
	ts.tv_sec = abs / 1000000000;
	ts.tv_nsec = abs % 1000000000;
	rc = pthread_timedjoin_np(t->tid, NULL, &ts);
	if (rc == ETIMEDOUT)
		pl__die("pipeline workload (%s): a %s did not return %lld s after the end",
			w->p.chan_kind, t->sink ? "sink" : "producer",
			(long long)(WL_JOIN_NS / 1000000000));
	PL_CHECK(rc);
}

struct snap {
	struct pl_pipeline_stage_stats b, feeder, drainer;
	struct pl_pipeline_stats all;
};

static void take_snap(struct wl *w, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	pl_pipeline_stage_stats(w->pl, w->bottleneck, &s->b);
	if (w->bottleneck > 0)
		pl_pipeline_stage_stats(w->pl, w->bottleneck - 1, &s->feeder);
	if (w->bottleneck + 1 < w->p.stages)
		pl_pipeline_stage_stats(w->pl, w->bottleneck + 1, &s->drainer);
	pl_pipeline_stats(w->pl, &s->all);
}

static double model_mps(const struct pl_params *p)
{
	double w = (double)p->work_ns, sum = (p->stages - 1 + WL_BOTTLENECK_MEAN) * w;
	double best = p->consumers * 1e9 / (WL_BOTTLENECK_MEAN * w);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (p->stages > 1 && 1e9 / w < best)
		best = 1e9 / w;
	if (cpus > 0 && cpus * 1e9 / sum < best)
		best = cpus * 1e9 / sum;
	return best;
}

static int pipe_run(void *state, struct pl_result *r)
{
	struct wl *w = state;
	const struct pl_params *p = &w->p;
	const bool by_count = p->messages > 0;
	struct wl_thread *sink = &w->t[p->producers];
	struct snap s1, s2;
	unsigned created = 0;
	int64_t t1, t2 = 0, deadline;
	uint64_t sent = 0;
	bool stalled;
	const char *failed_stage = NULL;
	int err;

	if (w->ran)
		return fail(r, -EALREADY, "a workload state runs once");
	w->ran = true;
	w->latency = r->latency != NULL;
	w->need_clock = w->latency || by_count;
	for (unsigned i = 0; i < p->producers; i++)
		w->t[i].share =
		    by_count ? p->messages / p->producers + (i < p->messages % p->producers) : 0;
	err = pl_pipeline_start(w->pl, NULL);
	if (err != 0)
		return fail(r, err == -EINVAL ? -ENOTSUP : err, "pl_pipeline_start: %s",
			    strerror(-err));
	atomic_store_explicit(&w->phase, p->warmup_s > 0 ? PH_WARMUP : PH_MEASURE,
			      memory_order_relaxed);
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];
		int rc = pthread_create(&t->tid, NULL, t->sink ? sink_main : producer_main, t);

		if (rc != 0) {
			gate_open(w, created, -1);
			for (unsigned j = 0; j < i; j++)
				PL_CHECK(pthread_join(w->t[j].tid, NULL));
			pl_pipeline_cancel(w->pl);
			return fail(r, -rc, "pthread_create: %s", strerror(rc));
		}
		t->started = true;
		created++;
	}
	w->t_start = pl_now_ns(); /* published to the threads by the gate's mutex */
	gate_open(w, created, 1);
	t1 = w->t_start;
	if (p->warmup_s > 0) {
		sleep_until(w->t_start + (int64_t)(p->warmup_s * 1e9));
		t1 = pl_now_ns();
		atomic_store_explicit(&w->phase, PH_MEASURE, memory_order_relaxed);
	}
	take_snap(w, &s1);
	if (!by_count) {
		sleep_until(t1 + (int64_t)(p->seconds * 1e9));
		/* Keep a window in which nothing completed open until something did. */
		while (!window_has_data(w) && !stall_check(w, pl_now_ns()))
			sleep_until(pl_now_ns() + 1000000);
		t2 = pl_now_ns();
		take_snap(w, &s2);
		atomic_store_explicit(&w->phase, PH_STOP, memory_order_relaxed);
	}
	stalled = !wait_producers(w);
	if (!stalled) {
		pl_pipeline_close(w->pl); /* drains in order; the sink sees -EPIPE */
		stalled = !wait_sink(w);
	}
	if (stalled)
		pl_pipeline_cancel(w->pl); /* every stage, the sink and producers return */
	deadline = pl_now_ns() + WL_JOIN_NS;
	for (unsigned i = 0; i < w->n; i++)
		join_one(w, &w->t[i], deadline);
	err = pl_pipeline_wait(w->pl, NULL, &failed_stage);
	if (by_count) {
		t2 = sink->last_ns > t1 ? sink->last_ns : t1;
		take_snap(w, &s2);
	}

	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		if (t->err != 0)
			return fail(r, t->err, "a %s failed: %s", t->sink ? "sink" : "producer",
				    strerror(-t->err));
		sent += t->sent;
	}
	r->messages = atomic_load_explicit(&sink->measured, memory_order_relaxed);
	r->seconds = (double)(t2 - t1) / 1e9;
	r->lost = sent > sink->received ? sent - sink->received : 0;
	if (r->latency != NULL)
		pl_hist_merge(r->latency, sink->hist);
	if (stalled)
		return fail(r, -ETIMEDOUT, "the pipeline made no progress for %lld s (%s)",
			    (long long)(WL_STALL_NS / 1000000000), p->chan_kind);
	if (err != 0)
		return fail(r, err, "pl_pipeline_wait: %s (stage %s)", strerror(-err),
			    failed_stage ? failed_stage : "none");
	if (sent < sink->received)
		return fail(r, -EPROTO, "received %llu items but only %llu were sent",
			    (unsigned long long)sink->received, (unsigned long long)sent);
	if (r->messages == 0)
		return fail(r, -EIO, "nothing was measured (a window too short?)");

	if (r->seconds > 0 && w->latency) {
		double win = r->seconds * 1e9;
		const double mps = (double)r->messages / r->seconds;

		pl_result_extra(r, "bottleneck_busy",
				(double)(s2.b.busy_ns - s1.b.busy_ns) / (s2.b.workers * win));
		if (w->bottleneck > 0)
			pl_result_extra(r, "feeder_send_wait",
					(double)(s2.feeder.send_wait_ns - s1.feeder.send_wait_ns) /
					    (s2.feeder.workers * win));
		if (w->bottleneck + 1 < p->stages)
			pl_result_extra(
			    r, "drain_recv_wait",
			    (double)(s2.drainer.recv_wait_ns - s1.drainer.recv_wait_ns) /
				(s2.drainer.workers * win));
		pl_result_extra(r, "inflight", mps * pl_hist_mean(sink->hist) / 1e9);
	}
	if (p->work_ns > 0)
		pl_result_extra(r, "model_mps", model_mps(p));
	if (w->ordered) {
		pl_result_extra(r, "window", (double)s2.all.window);
		pl_result_extra(r, "window_wait_frac",
				(double)(s2.all.window_waits - s1.all.window_waits) /
				    (double)r->messages);
	}
	return 0;
}

const struct pl_pattern pl__pattern_pipeline = {
    .name = "pipeline",
    .summary = "producers -> stages (middle one 4x slower, consumers workers) -> sink; "
	       "ordered/unordered; latency source->sink",
    .params = PL_PARAM_CHAN_KIND | PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS | PL_PARAM_STAGES |
	      PL_PARAM_QUEUE_DEPTH | PL_PARAM_WORK_NS | PL_PARAM_POLICY | PL_PARAM_SPIN,
    .policies = policies,
    .check = pipe_check,
    .setup = pipe_setup,
    .run = pipe_run,
    .teardown = pipe_teardown,
};
