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
 * Window: every thread starts at a gate; items sent during the warm-up
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
 * Hangs: no progress for PL__STALL_NS (while producing, or while the sink drains after the
 * close) cancels the pipeline (every thread then returns) and the point fails with -ETIMEDOUT.
 *
 * Refused points: the spsc kind where a link has more than one thread at an end (the pipeline
 * would refuse it with EINVAL), and unbounded links: closed-loop producers would fill memory
 * for as long as the window lasts and the drain would take as long again.
 *
 * Thread-safety of the state: each struct wl_thread is written by its own thread only (its
 * @progress and @measured also read by the main thread while running, relaxed); the main
 * thread reads the rest after pthread_join().
 *
 * The calibrated busy loop, the start gate, the phases, the stall check and the joins are
 * shared with the other workloads (harness/workload_util.h).
 */
#include <patlab/chan.h>
#include <patlab/pattern.h>
#include <patlab/pipeline.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/workload_util.h"
#include "sync/die.h"

#define WL_MAX_STAGES	   64u
#define WL_MAX_WORKERS	   256u
#define WL_BOTTLENECK_X	   4   /* the bottleneck's cost, in work_ns */
#define WL_SLOW_X	   20  /* a slow item's cost there, in work_ns */
#define WL_SLOW_ONE_IN	   16  /* slow items: 1 in this many */
#define WL_BOTTLENECK_MEAN 5.0 /* 4 x 15/16 + 20 x 1/16 */
/* At most 10 ms per item and stage: a slow item (200 ms) stays well inside the stall limit. */
#define WL_MAX_WORK_NS (10 * INT64_C(1000000))

extern const struct pl_pattern pl__pattern_pipeline;

static const char *const policies[] = {"unordered", "ordered", NULL};

/* ---------------------------------------------------------------- state */

struct wl;

struct wl_thread {
	_Alignas(PL_FALSE_SHARING) struct wl *w;
	unsigned idx;
	bool sink;
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
	/* The gate, the phase, t_start (published by the gate's mutex) and the stall check. */
	struct pl__window win;
	/* 1 once the sink saw the end: release by the sink at its exit, acquire by main. */
	_Atomic unsigned sink_done;
	bool latency;
	bool need_clock;
	struct pl__placer placer; /* the point's threads: ours and the primitives' */
};

static inline int phase(struct wl *w)
{
	return pl__window_phase(&w->win);
}

/* ---------------------------------------------------------------- stages and threads */

static int stage_fn(pl_ctx *cx, void *in, void **out, void *user)
{
	const struct stage_cost *c = user;
	bool slow = ((uintptr_t)in >> 1) & 1;

	(void)cx;
	(void)out; /* the item travels on unchanged */
	(void)pl__burn(slow ? c->slow_iters : c->iters);
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

	if (!pl__window_gate(&w->win))
		return NULL;
	for (;;) {
		int ph = phase(w);
		uint64_t rel = 0, slow;
		int rc;

		if (ph == PL__PH_STOP ||
		    (by_count && ph == PL__PH_MEASURE && t->measured_sent == t->share))
			break;
		slow = pl__splitmix64(&t->rng) % WL_SLOW_ONE_IN == 0;
		if (w->latency)
			rel = (uint64_t)(pl_now_ns() - w->win.t_start);
		/* Blocks while link 0 (ordered: or the window) is full. */
		rc = pl_pipeline_send(
		    w->pl, (void *)(uintptr_t)(rel << 2 | slow << 1 | (ph == PL__PH_MEASURE)),
		    NULL);
		if (rc != 0) {
			if (rc != -ECANCELED) /* cancelled by the stall check, reported there */
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

static void *sink_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	void *m;

	if (!pl__window_gate(&w->win))
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
			pl__bump(&t->measured);
			if (w->need_clock) {
				int64_t now = pl_now_ns();

				if (w->latency)
					pl_hist_record(t->hist,
						       now - w->win.t_start - (int64_t)(v >> 2));
				t->last_ns = now;
			}
		}
		pl__bump(&t->progress);
	}
	/* Release: pairs with the acquire load in pl__window_wait() (pipe_run()). */
	atomic_store_explicit(&w->sink_done, 1, memory_order_release);
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
		return pl__fail(r, -EINVAL, "at most %u stages and %u producers or workers",
				WL_MAX_STAGES, WL_MAX_WORKERS);
	if (p->work_ns > WL_MAX_WORK_NS)
		return pl__fail(r, -EINVAL,
				"work_ns above %lld ns per item (a slow item costs %d x)",
				(long long)WL_MAX_WORK_NS, WL_SLOW_X);
	if (p->queue_depth == PL_CHAN_UNBOUNDED)
		return pl__fail(
		    r, -ENOTSUP,
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
			return pl__fail(
			    r, -ENOTSUP,
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
	pl__window_destroy(&w->win);
	free(w);
}

/* progress_sum - every thread's heartbeats, for the stall check. */
static uint64_t progress_sum(void *arg)
{
	struct wl *w = arg;

	return PL__SUM_RELAXED(w->t, w->n, progress);
}

/* window_has_data - the sink received a measured item. */
static bool window_has_data(void *arg)
{
	struct wl *w = arg;

	return atomic_load_explicit(&w->t[w->p.producers].measured, memory_order_relaxed) != 0;
}

static int pipe_setup(const struct pl_params *p, void **state, struct pl_result *r)
{
	struct pl_pipeline_opts o = pl_pipeline_opts_default();
	struct wl *w;
	int err = pipe_check(p, r);

	if (err != 0)
		return err;
	w = pl__alloc_lines(sizeof(*w));
	if (w == NULL)
		return pl__fail(r, -ENOMEM, "out of memory");
	w->n = p->producers + 1;
	if (pl__window_init(&w->win, w->n, &w->placer.start, progress_sum, window_has_data, w) != 0)
		goto nomem;
	err = pl__point_placer(&w->placer, p, r);
	if (err != 0)
		goto out;
	atomic_init(&w->discarded, 0);
	atomic_init(&w->sink_done, 0);
	w->p = *p;
	w->ordered = p->policy != NULL && strcmp(p->policy, "ordered") == 0;
	w->bottleneck = p->stages / 2;
	w->t = pl__alloc_lines(w->n * sizeof(*w->t));
	w->cost = calloc(p->stages, sizeof(*w->cost));
	if (w->t == NULL || w->cost == NULL)
		goto nomem;
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

		w->cost[i].iters = pl__burn_iters(b ? WL_BOTTLENECK_X * p->work_ns : p->work_ns);
		w->cost[i].slow_iters =
		    b ? pl__burn_iters(WL_SLOW_X * p->work_ns) : w->cost[i].iters;
	}

	o.chan_kind = p->chan_kind;
	o.depth = p->queue_depth;
	o.spin_ns = pl__spin_ns(p);
	o.ordered = w->ordered;
	/* The pipeline times its stages only when latency is wanted (else: no clock per item). */
	o.stats = r->latency != NULL;
	o.source_threads = p->producers;
	o.sink_threads = 1;
	o.discard = on_discard;
	o.discard_user = w;
	o.threads = &w->placer.start;
	w->pl = pl_pipeline_new(&o);
	if (w->pl == NULL) {
		err =
		    pl__fail(r, errno == EINVAL ? -ENOTSUP : -errno, "pl_pipeline_new(%s, %zu): %s",
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
			err = pl__fail(r, err, "pl_pipeline_add_stage(%u): %s", i, strerror(-err));
			goto out;
		}
	}
	*state = w;
	return 0;
nomem:
	err = pl__fail(r, -ENOMEM, "out of memory");
out:
	wl_free(w);
	return err;
}

static void pipe_teardown(void *state)
{
	wl_free(state);
}

/* ---------------------------------------------------------------- run */

/* join_all - join every thread, or abort: after the end (or a cancel) every thread returns. */
static void join_all(struct wl *w)
{
	unsigned late;

	if (!pl__window_join(&w->win, PL__JOIN_NS, &late))
		pl__die("pipeline workload (%s): a %s did not return %lld s after the end",
			w->p.chan_kind, w->t[late].sink ? "sink" : "producer",
			(long long)(PL__JOIN_NS / 1000000000));
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
	int64_t t1, t2 = 0;
	uint64_t sent = 0;
	bool stalled;
	const char *failed_stage = NULL;
	int err = pl__run_once(&w->ran, r);

	if (err != 0)
		return err;
	w->latency = r->latency != NULL;
	w->need_clock = w->latency || by_count;
	for (unsigned i = 0; i < p->producers; i++)
		w->t[i].share = by_count ? pl__share(p->messages, p->producers, i) : 0;
	err = pl_pipeline_start(w->pl, NULL);
	if (err != 0)
		return pl__fail(r, err == -EINVAL ? -ENOTSUP : err, "pl_pipeline_start: %s",
				strerror(-err));
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		err = pl__window_spawn(&w->win, t->sink ? sink_main : producer_main, t, r);
		if (err != 0) {
			pl_pipeline_cancel(w->pl);
			return err;
		}
	}
	t1 = pl__window_start(&w->win, p->warmup_s);
	take_snap(w, &s1);
	if (!by_count) {
		t2 = pl__window_measure(&w->win, t1, p->seconds);
		take_snap(w, &s2);
		pl__window_stop(&w->win);
	}
	stalled = !pl__window_wait_producers(&w->win, p->producers);
	if (!stalled) {
		pl_pipeline_close(w->pl); /* drains in order; the sink sees -EPIPE */
		/* However long the drain takes, while it makes progress. */
		stalled = !pl__window_wait(&w->win, &w->sink_done, 1);
	}
	if (stalled)
		pl_pipeline_cancel(w->pl); /* every stage, the sink and producers return */
	join_all(w);
	err = pl_pipeline_wait(w->pl, NULL, &failed_stage);
	if (by_count) {
		t2 = sink->last_ns > t1 ? sink->last_ns : t1;
		take_snap(w, &s2);
	}

	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		if (t->err != 0)
			return pl__fail(r, t->err, "a %s failed: %s", t->sink ? "sink" : "producer",
					strerror(-t->err));
		sent += t->sent;
	}
	r->messages = atomic_load_explicit(&sink->measured, memory_order_relaxed);
	r->seconds = (double)(t2 - t1) / 1e9;
	r->lost = sent > sink->received ? sent - sink->received : 0;
	pl__merge_latency(r, sink->hist);
	if (stalled)
		return pl__fail(r, -ETIMEDOUT, "the pipeline made no progress for %lld s (%s)",
				(long long)(PL__STALL_NS / 1000000000), p->chan_kind);
	if (err != 0)
		return pl__fail(r, err, "pl_pipeline_wait: %s (stage %s)", strerror(-err),
				failed_stage ? failed_stage : "none");
	if (sent < sink->received)
		return pl__fail(r, -EPROTO, "received %llu items but only %llu were sent",
				(unsigned long long)sink->received, (unsigned long long)sent);
	if (r->messages == 0)
		return pl__fail(r, -EIO, "nothing was measured (a window too short?)");

	if (r->seconds > 0 && w->latency) {
		double win = r->seconds * 1e9;

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
		/* r->latency holds the sink's histogram alone: it started empty. */
		pl__extra_inflight(r);
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

/* The producers, the stages, the bottleneck's workers and the sink. */
static unsigned pipe_threads(const struct pl_params *p)
{
	return p->producers + (p->stages - 1) + p->consumers + 1;
}

/* 3 stages of 2 us, the middle one 4x slower on 2 workers: what order costs. */
static const char *const pipe_quick[] = {
    "--chan multi --ratio 1:2 --stages 3 --depth 16 --work-ns 2000 --policy unordered,ordered",
    NULL,
};

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
    .throughput = "M items/s through the sink",
    .latency = "source to sink",
    .threads = pipe_threads,
    .quick = pipe_quick,
};
