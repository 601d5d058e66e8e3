/* SPDX-License-Identifier: MIT */
/*
 * The "fanout_fanin" workload: requests scattered to backends with a service-time
 * distribution, gathered by wait-all, first-k or hedging, so the harness shows the tail at
 * scale and what hedging does to p99.
 *
 * Shape. `producers` threads issue requests, closed loop (the next request when the previous
 * one is gathered) or open loop at rate_target (each producer on its own schedule, latency
 * from the intended start: coordinated omission corrected). Each request is one
 * pl_fanout_call() to `consumers` (= n) backends run on a worker pool of the chosen channel kind
 * and queue depth, with P * n workers so a backend never queues behind another request's
 * (structured calls: at most n backends per producer are in flight).
 * Latency = request start -> the gather was decided (pl_fanout_stats.gathered_ns); the loser
 * clean-up that follows is not part of it but delays the producer's next closed-loop request.
 *
 * Policies: <gather>_<distribution>.
 *   gather:  all        every one of n shards answers (the tail at scale: p99 grows with n)
 *            quorum     the first n/2+1 of n replicas
 *            first      the first 1 of n replicas, all sent at once (n-fold load)
 *            hedged     one replica, then the next after timeout_ns each (Dean & Barroso)
 *            allhedged  n shards, each a hedged call to 2 replicas: all-of-n with hedging
 *   distribution, around work_ns:
 *            fixed      every call takes work_ns
 *            exp        exponential with mean work_ns
 *            bimodal    99% take work_ns, 1% take 10 x work_ns (a slow tail)
 * timeout_ns is the hedge delay (hedged, allhedged); 0 means 2 x work_ns, at least 100 us.
 *
 * Backends wait, they do not spin: each sleeps for its drawn service time on its context
 * (pl_ctx_wait), so a cancelled loser returns at once. A fan-out's backends are other
 * machines: their service time costs the caller no CPU, while on this 2-core machine P x n
 * busy-waiting backends would measure the CPU scheduler instead of the pattern. What is CPU
 * here is real: pool dispatch, thread wakes, the gather, the cancellations. Each pool worker
 * sets its timer slack to 1 us on first use, so a sleep overshoots by wake-up latency only.
 *
 * Service times are drawn by the producer when it builds the request (one splitmix64 stream
 * per producer from the seed), so the same seed gives the same draws whatever the schedule.
 *
 * Extras (over the measured window): hedges (backend calls sent as hedges), cancelled (backend
 * calls cancelled because their answer was no longer needed), calls_per_req (load
 * amplification: backend calls per request), hedge_delay_ns.
 *
 * Hangs: a producer that makes no progress for PL__STALL_NS is reported as an error: the main
 * thread cancels the root context of every request, which ends every call.
 *
 * Thread-safety of the state: each struct producer is written by its own thread only (@beats
 * and @measured also read by the main thread while running, relaxed); the main thread reads
 * the rest after pthread_join(). Shard records (allhedged) are written by the backend that
 * runs the shard and read by the producer after its structured call returned (the call's lock
 * orders them).
 *
 * The start gate, the phases, the stall check and the open-loop schedule are shared with the
 * other workloads (harness/workload_util.h).
 */
#include <patlab/fanout.h>
#include <patlab/pattern.h>
#include <patlab/pool.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "harness/workload_util.h"

#define WL_MAX_WORKERS	  1024u
#define WL_MIN_HEDGE_NS	  (100 * INT64_C(1000))
#define WL_SLOW_FACTOR	  INT64_C(10)
#define WL_SLOW_PER_MILLE 10

enum gather {
	G_ALL,
	G_QUORUM,
	G_FIRST,
	G_HEDGED,
	G_ALLHEDGED
};

enum dist {
	D_FIXED,
	D_EXP,
	D_BIMODAL
};

extern const struct pl_pattern pl__pattern_fanout_fanin;

static const char *const gather_names[] = {"all", "quorum", "first", "hedged", "allhedged"};
static const char *const dist_names[] = {"fixed", "exp", "bimodal"};

static const char *const policies[] = {
    "all_fixed",       "all_exp",	 "all_bimodal",	      "quorum_fixed",
    "quorum_exp",      "quorum_bimodal", "first_fixed",	      "first_exp",
    "first_bimodal",   "hedged_fixed",	 "hedged_exp",	      "hedged_bimodal",
    "allhedged_fixed", "allhedged_exp",	 "allhedged_bimodal", NULL,
};

struct wl;

/* One shard of an allhedged request: a hedged call to two replicas, run as a backend. */
struct shard {
	struct wl *w;
	struct pl_backend rep[2];
	int64_t svc[2];
	/* Written by the shard backend; read by the producer after its call returned. */
	struct pl_fanout_stats st;
	int rc;
};

struct producer {
	_Alignas(PL_FALSE_SHARING) struct wl *w;
	unsigned idx;
	uint64_t rng;
	uint64_t share; /* messages mode: requests to measure */
	pl_hist *hist;
	int64_t *svc;	       /* n service times (or 2n for allhedged) */
	struct pl_backend *be; /* n */
	struct shard *shards;  /* n, allhedged only */
	uint64_t hedges, cancelled, calls;
	int64_t last_ns;
	int err;
	/* Relaxed counters (a heartbeat and a progress count; they order nothing). */
	_Atomic uint64_t beats;
	_Atomic uint64_t measured;
};

struct wl {
	struct pl_params p;
	enum gather gather;
	enum dist dist;
	int64_t hedge_ns;
	bool ran;
	pl_pool *pool;	     /* backends (the shards for allhedged) */
	pl_pool *inner_pool; /* allhedged: the replicas */
	pl_ctx *root;	     /* every request's context; cancelled on a stall */
	struct pl_fanout_opts opts, inner_opts;
	struct producer *t;
	unsigned n;
	/* The gate, the phase, t_start (published by the gate's mutex) and the stall check. */
	struct pl__window win;
	bool latency;
	struct pl__placer placer; /* the point's threads: ours and the primitives' */
};

/*
 * neg_ln_unit - -ln(u) for u in (0, 1], without libm (the library links nothing but pthreads):
 * u = m * 2^e with m in [1, 2), ln m = 2 atanh(z), z = (m - 1) / (m + 1) <= 1/3, whose series
 * is within 1e-12 after 12 terms.
 */
static double neg_ln_unit(double u)
{
	union {
		double d;
		uint64_t b;
	} v = {.d = u};
	int e = (int)((v.b >> 52) & 0x7ff) - 1023;
	double m, z, z2, term, sum = 0;

	v.b = (v.b & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1023) << 52);
	m = v.d;
	z = (m - 1) / (m + 1);
	z2 = z * z;
	term = z;
	for (int k = 1; k <= 23; k += 2) {
		sum += term / k;
		term *= z2;
	}
	return -(2 * sum + e * 0.69314718055994530942);
}

/* draw - one service time of the workload's distribution. */
static int64_t draw(struct wl *w, uint64_t *rng)
{
	const int64_t mean = w->p.work_ns;
	uint64_t x;

	switch (w->dist) {
	case D_EXP:
		/* Inverse CDF on a uniform in (0, 1]. */
		x = pl__splitmix64(rng) >> 11;
		return (int64_t)(neg_ln_unit(((double)x + 1.0) / 9007199254740992.0) *
				 (double)mean);
	case D_BIMODAL:
		return pl__splitmix64(rng) % 1000 < WL_SLOW_PER_MILLE ? mean * WL_SLOW_FACTOR
								      : mean;
	case D_FIXED:
	default:
		return mean;
	}
}

/* ---------------------------------------------------------------- backends */

static _Thread_local bool slack_set;

/* A simulated remote backend: its service time passes on its context, cancellably. */
static int backend(pl_ctx *cx, void *arg, void **value)
{
	const int64_t *svc = arg;

	if (!slack_set) {
		/* This pool thread is the workload's: a 1 us timer slack makes sleeps precise. */
		prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
		slack_set = true;
	}
	*value = NULL;
	/* 0 once the time passed, or the context's error when it was cancelled first. */
	return pl_ctx_wait(cx, *svc);
}

/* An allhedged shard: a hedged call to its two replicas, on the inner pool. */
static int shard_backend(pl_ctx *cx, void *arg, void **value)
{
	struct shard *s = arg;

	*value = NULL;
	s->rc = pl_fanout_call(cx, s->rep, 2, &s->w->inner_opts, NULL, &s->st);
	return s->rc;
}

/* ---------------------------------------------------------------- producers */

static inline int phase(struct wl *w)
{
	return pl__window_phase(&w->win);
}

/* build - draw this request's service times into the backends. */
static void build(struct producer *t)
{
	struct wl *w = t->w;

	for (unsigned i = 0; i < w->n; i++) {
		if (w->gather == G_ALLHEDGED) {
			struct shard *s = &t->shards[i];

			s->svc[0] = draw(w, &t->rng);
			s->svc[1] = draw(w, &t->rng);
		} else {
			t->svc[i] = draw(w, &t->rng);
		}
	}
}

static void *producer_main(void *arg)
{
	struct producer *t = arg;
	struct wl *w = t->w;
	const bool by_count = w->p.messages > 0;
	const bool open_loop = w->p.rate_target > 0;
	struct pl__schedule sched;

	if (!pl__window_gate(&w->win))
		return NULL;
	if (open_loop)
		pl__schedule_init(&sched, w->p.rate_target, w->p.producers, t->idx, w->win.t_start);
	for (;;) {
		int ph = phase(w);
		struct pl_fanout_stats st;
		int64_t t0;
		int rc;

		if (ph == PL__PH_STOP ||
		    (by_count && ph == PL__PH_MEASURE &&
		     atomic_load_explicit(&t->measured, memory_order_relaxed) == t->share))
			break;
		build(t);
		/* Open loop: sleeps when far, yields when near: the pool's threads need the CPU. */
		if (open_loop)
			t0 = pl__schedule_next(&sched, &t->beats);
		else
			t0 = pl_now_ns();
		/* Blocks until gathered and every loser returned; woken by the backends. */
		rc = pl_fanout_call(w->root, t->be, w->n, &w->opts, NULL, &st);
		if (rc != 0) {
			if (pl_ctx_err(w->root) == 0) /* else: the stall check cancelled us */
				t->err = rc;
			break;
		}
		if (ph == PL__PH_MEASURE) {
			uint64_t hedges = st.hedges, cancelled = st.cancelled, calls = st.sent;

			if (w->gather == G_ALLHEDGED) {
				for (unsigned i = 0; i < w->n; i++) {
					hedges += t->shards[i].st.hedges;
					cancelled += t->shards[i].st.cancelled;
					calls += t->shards[i].st.sent;
				}
				calls -= st.sent; /* shards are not backend calls themselves */
			}
			t->hedges += hedges;
			t->cancelled += cancelled;
			t->calls += calls;
			if (w->latency)
				pl_hist_record(t->hist, st.gathered_ns - t0);
			t->last_ns = st.gathered_ns;
			pl__bump(&t->measured);
		}
		pl__bump(&t->beats);
	}
	pl__window_producer_exit(&w->win);
	return NULL;
}

/* ---------------------------------------------------------------- setup and teardown */

static int parse_policy(const char *policy, enum gather *g, enum dist *d)
{
	const char *us;

	if (policy == NULL)
		policy = policies[0];
	us = strchr(policy, '_');
	if (us == NULL)
		return -EINVAL;
	for (unsigned i = 0; i < sizeof(gather_names) / sizeof(gather_names[0]); i++) {
		if (strlen(gather_names[i]) != (size_t)(us - policy) ||
		    strncmp(policy, gather_names[i], (size_t)(us - policy)) != 0)
			continue;
		for (unsigned j = 0; j < sizeof(dist_names) / sizeof(dist_names[0]); j++) {
			if (strcmp(us + 1, dist_names[j]) == 0) {
				*g = (enum gather)i;
				*d = (enum dist)j;
				return 0;
			}
		}
	}
	return -EINVAL;
}

static unsigned workers_needed(const struct pl_params *p, bool inner)
{
	return p->producers * p->consumers * (inner ? 2u : 1u);
}

static int fo_check(const struct pl_params *p, struct pl_result *r)
{
	struct pl_chan_kind_info info;
	enum gather g;
	enum dist d;
	int err;

	/* The pool's job channel: every producer submits, every worker receives. */
	err = pl_pattern_check_params(&pl__pattern_fanout_fanin, p, p->producers,
				      p->producers * p->consumers, r);
	if (err != 0)
		return err;
	if (parse_policy(p->policy, &g, &d) != 0)
		return pl__fail(r, -EINVAL, "fanout_fanin: unknown policy '%s'", p->policy);
	if (pl_chan_kind_info(p->chan_kind, &info) == 0 && info.spsc)
		return pl__fail(
		    r, -ENOTSUP,
		    "%s is single-consumer: the backend pool's workers share its channel",
		    info.name);
	if (p->consumers > PL_FANOUT_MAX)
		return pl__fail(r, -ENOTSUP, "at most %u backends per request", PL_FANOUT_MAX);
	if ((uint64_t)p->producers * p->consumers * (g == G_ALLHEDGED ? 2 : 1) > WL_MAX_WORKERS)
		return pl__fail(r, -ENOTSUP,
				"producers x consumers%s needs more than %u pool threads",
				g == G_ALLHEDGED ? " x 2" : "", WL_MAX_WORKERS);
	if (p->work_ns > INT64_MAX / (4 * WL_SLOW_FACTOR))
		return pl__fail(r, -EINVAL, "work_ns too large");
	return 0;
}

static void wl_free(struct wl *w)
{
	if (w == NULL)
		return;
	pl_pool_free(w->pool);
	pl_pool_free(w->inner_pool);
	for (unsigned i = 0; w->t != NULL && i < w->p.producers; i++) {
		pl_hist_free(w->t[i].hist);
		free(w->t[i].svc);
		free(w->t[i].be);
		free(w->t[i].shards);
	}
	free(w->t);
	pl_ctx_release(w->root);
	pl__window_destroy(&w->win);
	free(w);
}

static pl_pool *new_pool(const struct pl_params *p, unsigned workers,
			 const struct pl_thread_start *threads, struct pl_result *r, int *err)
{
	pl_pool_opts o = {.workers = workers,
			  .queue_depth = p->queue_depth,
			  .chan_kind = p->chan_kind,
			  .threads = threads};
	pl_pool *pool = pl_pool_new(&o);

	if (pool != NULL)
		return pool;
	if (errno == EINVAL || errno == ENOSYS)
		*err = pl__fail(r, -ENOTSUP, "the pool refuses kind %s at depth %zu", p->chan_kind,
				p->queue_depth);
	else
		*err = pl__fail(r, -errno, "pl_pool_new(%u workers): %s", workers, strerror(errno));
	return NULL;
}

/* progress_sum - the producers' heartbeats (a beat per request, or per open-loop wait). */
static uint64_t progress_sum(void *arg)
{
	struct wl *w = arg;

	return PL__SUM_RELAXED(w->t, w->p.producers, beats);
}

/* window_has_data - some measured request was gathered. */
static bool window_has_data(void *arg)
{
	struct wl *w = arg;

	return PL__ANY_RELAXED(w->t, w->p.producers, measured);
}

static int fo_setup(const struct pl_params *p, void **state, struct pl_result *r)
{
	struct wl *w;
	int err = fo_check(p, r);

	if (err != 0)
		return err;
	w = pl__alloc_lines(sizeof(*w));
	if (w == NULL)
		return pl__fail(r, -ENOMEM, "out of memory");
	w->p = *p;
	if (pl__window_init(&w->win, p->producers, &w->placer.start, progress_sum, window_has_data,
			    w) != 0)
		goto nomem;
	err = pl__point_placer(&w->placer, p, r);
	if (err != 0)
		goto out;
	w->n = p->consumers;
	parse_policy(p->policy, &w->gather, &w->dist);
	w->hedge_ns = p->timeout_ns > 0 ? p->timeout_ns : 2 * p->work_ns;
	if (p->timeout_ns == 0 && w->hedge_ns < WL_MIN_HEDGE_NS)
		w->hedge_ns = WL_MIN_HEDGE_NS;
	err = -ENOMEM;
	w->root = pl_ctx_with_cancel(NULL);
	if (w->root == NULL)
		goto nomem;
	w->pool = new_pool(p, workers_needed(p, false), &w->placer.start, r, &err);
	if (w->pool == NULL)
		goto out;
	w->opts.pool = w->pool;
	switch (w->gather) {
	case G_ALL:
	case G_ALLHEDGED:
		w->opts.mode = PL_GATHER_ALL;
		break;
	case G_QUORUM:
		w->opts.mode = PL_GATHER_FIRST_K;
		w->opts.k = w->n / 2 + 1;
		break;
	case G_FIRST:
		w->opts.mode = PL_GATHER_FIRST_K;
		w->opts.k = 1;
		break;
	case G_HEDGED:
		w->opts.mode = PL_GATHER_HEDGED;
		w->opts.hedge_delay_ns = w->hedge_ns;
		break;
	}
	if (w->gather == G_ALLHEDGED) {
		w->inner_pool = new_pool(p, workers_needed(p, true), &w->placer.start, r, &err);
		if (w->inner_pool == NULL)
			goto out;
		w->inner_opts.mode = PL_GATHER_HEDGED;
		w->inner_opts.hedge_delay_ns = w->hedge_ns;
		w->inner_opts.pool = w->inner_pool;
	}
	w->t = pl__alloc_lines(p->producers * sizeof(*w->t));
	if (w->t == NULL)
		goto nomem;
	for (unsigned i = 0; i < p->producers; i++) {
		struct producer *t = &w->t[i];

		t->w = w;
		t->idx = i;
		t->rng = p->seed ^ (0x5851f42d4c957f2dull * (i + 1));
		atomic_init(&t->beats, 0);
		atomic_init(&t->measured, 0);
		t->hist = pl_hist_new();
		t->svc = calloc(w->n, sizeof(*t->svc));
		t->be = calloc(w->n, sizeof(*t->be));
		if (t->hist == NULL || t->svc == NULL || t->be == NULL)
			goto nomem;
		if (w->gather == G_ALLHEDGED) {
			t->shards = calloc(w->n, sizeof(*t->shards));
			if (t->shards == NULL)
				goto nomem;
		}
		for (unsigned j = 0; j < w->n; j++) {
			if (w->gather == G_ALLHEDGED) {
				struct shard *s = &t->shards[j];

				s->w = w;
				s->rep[0] = (struct pl_backend){.fn = backend, .arg = &s->svc[0]};
				s->rep[1] = (struct pl_backend){.fn = backend, .arg = &s->svc[1]};
				t->be[j] = (struct pl_backend){.fn = shard_backend, .arg = s};
			} else {
				t->be[j] = (struct pl_backend){.fn = backend, .arg = &t->svc[j]};
			}
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

static void fo_teardown(void *state)
{
	wl_free(state);
}

/* ---------------------------------------------------------------- run */

static int fo_run(void *state, struct pl_result *r)
{
	struct wl *w = state;
	const struct pl_params *p = &w->p;
	const bool by_count = p->messages > 0;
	int64_t t1, t2 = 0;
	bool stalled;
	uint64_t measured = 0, hedges = 0, cancelled = 0, calls = 0;
	int err = pl__run_once(&w->ran, r);

	if (err != 0)
		return err;
	w->latency = r->latency != NULL;
	for (unsigned i = 0; i < p->producers; i++) {
		struct producer *t = &w->t[i];

		if (by_count)
			t->share = pl__share(p->messages, p->producers, i);
		pl_hist_reset(t->hist);
	}
	for (unsigned i = 0; i < p->producers; i++) {
		err = pl__window_spawn(&w->win, producer_main, &w->t[i], r);
		if (err != 0)
			return err;
	}
	t1 = pl__window_start(&w->win, p->warmup_s);
	if (!by_count) {
		/* An empty window measures nothing: it stays open until a request completed. */
		t2 = pl__window_measure(&w->win, t1, p->seconds);
		pl__window_stop(&w->win);
	}
	stalled = !pl__window_wait_producers(&w->win, p->producers);
	if (stalled)
		pl_ctx_cancel(w->root); /* ends every call in flight; producers then exit */
	(void)pl__window_join(&w->win, -1, NULL); /* no deadline: joins every producer */

	if (by_count)
		t2 = PL__LATEST(w->t, p->producers, last_ns, t1);
	for (unsigned i = 0; i < p->producers; i++) {
		struct producer *t = &w->t[i];

		if (t->err != 0)
			return pl__fail(r, t->err, "a request failed: %s", strerror(-t->err));
		measured += atomic_load_explicit(&t->measured, memory_order_relaxed);
		hedges += t->hedges;
		cancelled += t->cancelled;
		calls += t->calls;
		pl__merge_latency(r, t->hist);
	}
	r->messages = measured;
	r->seconds = (double)(t2 - t1) / 1e9;
	pl_result_extra(r, "hedges", (double)hedges);
	pl_result_extra(r, "cancelled", (double)cancelled);
	pl_result_extra(r, "calls_per_req", measured ? (double)calls / (double)measured : 0);
	pl_result_extra(r, "hedge_delay_ns",
			w->gather == G_HEDGED || w->gather == G_ALLHEDGED ? (double)w->hedge_ns
									  : 0);
	if (stalled)
		return pl__fail(r, -ETIMEDOUT, "no request completed for %lld s",
				(long long)(PL__STALL_NS / 1000000000));
	if (r->messages == 0)
		return pl__fail(r, -EIO, "nothing was measured (a window too short?)");
	return 0;
}

/* The producers, and their backends' pool(s): P x C, three times over for allhedged. */
static unsigned fo_threads(const struct pl_params *p)
{
	const unsigned P = p->producers, C = p->consumers;

	return P + P * C * (p->policy != NULL && strncmp(p->policy, "allhedged", 9) == 0 ? 3 : 1);
}

/* 4 callers, 2 backends of 1 ms (1% take 10 ms): hedging's p99. Not shorter: Go's timers
 * overshoot sub-millisecond sleeps (bench/go/fanout.go). */
static const char *const fo_quick[] = {
    "--chan multi --ratio 4:2 --work-ns 1000000 --policy all_bimodal,hedged_bimodal",
    NULL,
};

const struct pl_pattern pl__pattern_fanout_fanin = {
    .name = "fanout_fanin",
    .summary = "scatter/gather to consumers backends on a pool: all/quorum/first/hedged/allhedged "
	       "x fixed/exp/bimodal service times",
    .params = PL_PARAM_CHAN_KIND | PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS | PL_PARAM_QUEUE_DEPTH |
	      PL_PARAM_WORK_NS | PL_PARAM_RATE | PL_PARAM_POLICY | PL_PARAM_TIMEOUT,
    .policies = policies,
    .check = fo_check,
    .setup = fo_setup,
    .run = fo_run,
    .teardown = fo_teardown,
    .throughput = "M requests/s",
    .latency = "request to gathered answer",
    .threads = fo_threads,
    .quick = fo_quick,
};
