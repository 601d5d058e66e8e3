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
 * Hangs: a producer that makes no progress for WL_STALL_NS is reported as an error: the main
 * thread cancels the root context of every request, which ends every call.
 *
 * Thread-safety of the state: each struct producer is written by its own thread only (@beats
 * and @measured also read by the main thread while running, relaxed); the main thread reads
 * the rest after pthread_join(). Shard records (allhedged) are written by the backend that
 * runs the shard and read by the producer after its structured call returned (the call's lock
 * orders them).
 */
#include <patlab/fanout.h>
#include <patlab/pattern.h>
#include <patlab/pool.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "chan/park.h"
#include "util/die.h"

#define WL_STALL_NS	  (10 * INT64_C(1000000000))
#define WL_MAX_WORKERS	  1024u
#define WL_MIN_HEDGE_NS	  (100 * INT64_C(1000))
#define WL_SLOW_FACTOR	  INT64_C(10)
#define WL_SLOW_PER_MILLE 10

enum {
	PH_WARMUP = 0,
	PH_MEASURE = 1,
	PH_STOP = 2
};

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
	pthread_t tid;
	unsigned idx;
	bool started;
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
	/* The phase: written by the main thread, read by producers per request (relaxed: it
	 * publishes no data, the results reach the main thread through pthread_join()). */
	_Alignas(PL_FALSE_SHARING) _Atomic int phase;
	_Atomic unsigned producers_done; /* release by each producer, acquire by the main thread */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready;	 /* under @lock */
	int go;		 /* under @lock: 1 start, -1 abort */
	int64_t t_start; /* published to producers by the gate's mutex */
	bool latency;
	uint64_t last_beats;
	int64_t last_beats_ns;
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
		x = splitmix(rng) >> 11;
		return (int64_t)(neg_ln_unit(((double)x + 1.0) / 9007199254740992.0) *
				 (double)mean);
	case D_BIMODAL:
		return splitmix(rng) % 1000 < WL_SLOW_PER_MILLE ? mean * WL_SLOW_FACTOR : mean;
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

static bool gate_wait(struct wl *w)
{
	int go;

	PL_CHECK(pthread_mutex_lock(&w->lock));
	w->ready++;
	PL_CHECK(pthread_cond_broadcast(&w->cond)); /* wakes the main thread in gate_open() */
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

static inline void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static inline int phase(struct wl *w)
{
	return atomic_load_explicit(&w->phase, memory_order_relaxed);
}

/* Open loop: sleep when far from @due, yield when near (the pool's threads need the CPU). */
static void wait_due(struct producer *t, int64_t due)
{
	for (;;) {
		int64_t left = due - pl_now_ns();

		if (left <= 0)
			return;
		if (left > 200000)
			sleep_until(left > 1000000000 ? pl_now_ns() + 1000000000 : due - 100000);
		else
			sched_yield();
		bump(&t->beats);
	}
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
	double interval = 0, due = 0;

	if (!gate_wait(w))
		return NULL;
	if (open_loop) {
		interval = 1e9 * (double)w->p.producers / w->p.rate_target;
		due = (double)w->t_start + interval * t->idx / w->p.producers;
	}
	for (;;) {
		int ph = phase(w);
		struct pl_fanout_stats st;
		int64_t t0;
		int rc;

		if (ph == PH_STOP ||
		    (by_count && ph == PH_MEASURE &&
		     atomic_load_explicit(&t->measured, memory_order_relaxed) == t->share))
			break;
		build(t);
		if (open_loop) {
			wait_due(t, (int64_t)due);
			t0 = (int64_t)due;
			due += interval;
		} else {
			t0 = pl_now_ns();
		}
		/* Blocks until gathered and every loser returned; woken by the backends. */
		rc = pl_fanout_call(w->root, t->be, w->n, &w->opts, NULL, &st);
		if (rc != 0) {
			if (pl_ctx_err(w->root) == 0) /* else: the stall check cancelled us */
				t->err = rc;
			break;
		}
		if (ph == PH_MEASURE) {
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
			bump(&t->measured);
		}
		bump(&t->beats);
	}
	/* Release: pairs with the acquire load in wait_producers(). */
	atomic_fetch_add_explicit(&w->producers_done, 1, memory_order_release);
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
		return fail(r, -EINVAL, "fanout_fanin: unknown policy '%s'", p->policy);
	if (pl_chan_kind_info(p->chan_kind, &info) == 0 && info.spsc)
		return fail(r, -ENOTSUP,
			    "%s is single-consumer: the backend pool's workers share its channel",
			    info.name);
	if (p->consumers > PL_FANOUT_MAX)
		return fail(r, -ENOTSUP, "at most %u backends per request", PL_FANOUT_MAX);
	if ((uint64_t)p->producers * p->consumers * (g == G_ALLHEDGED ? 2 : 1) > WL_MAX_WORKERS)
		return fail(r, -ENOTSUP, "producers x consumers%s needs more than %u pool threads",
			    g == G_ALLHEDGED ? " x 2" : "", WL_MAX_WORKERS);
	if (p->work_ns > INT64_MAX / (4 * WL_SLOW_FACTOR))
		return fail(r, -EINVAL, "work_ns too large");
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
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static pl_pool *new_pool(const struct pl_params *p, unsigned workers, struct pl_result *r, int *err)
{
	pl_pool_opts o = {
	    .workers = workers, .queue_depth = p->queue_depth, .chan_kind = p->chan_kind};
	pl_pool *pool = pl_pool_new(&o);

	if (pool != NULL)
		return pool;
	if (errno == EINVAL || errno == ENOSYS)
		*err = fail(r, -ENOTSUP, "the pool refuses kind %s at depth %zu", p->chan_kind,
			    p->queue_depth);
	else
		*err = fail(r, -errno, "pl_pool_new(%u workers): %s", workers, strerror(errno));
	return NULL;
}

static int fo_setup(const struct pl_params *p, void **state, struct pl_result *r)
{
	struct wl *w;
	int err = fo_check(p, r);

	if (err != 0)
		return err;
	w = aligned_alloc(PL_FALSE_SHARING, (sizeof(*w) + PL_FALSE_SHARING - 1) / PL_FALSE_SHARING *
						PL_FALSE_SHARING);
	if (w == NULL)
		return fail(r, -ENOMEM, "out of memory");
	memset(w, 0, sizeof(*w));
	PL_CHECK(pthread_mutex_init(&w->lock, NULL));
	PL_CHECK(pthread_cond_init(&w->cond, NULL));
	w->p = *p;
	w->n = p->consumers;
	parse_policy(p->policy, &w->gather, &w->dist);
	w->hedge_ns = p->timeout_ns > 0 ? p->timeout_ns : 2 * p->work_ns;
	if (p->timeout_ns == 0 && w->hedge_ns < WL_MIN_HEDGE_NS)
		w->hedge_ns = WL_MIN_HEDGE_NS;
	err = -ENOMEM;
	w->root = pl_ctx_with_cancel(NULL);
	if (w->root == NULL)
		goto nomem;
	w->pool = new_pool(p, workers_needed(p, false), r, &err);
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
		w->inner_pool = new_pool(p, workers_needed(p, true), r, &err);
		if (w->inner_pool == NULL)
			goto out;
		w->inner_opts.mode = PL_GATHER_HEDGED;
		w->inner_opts.hedge_delay_ns = w->hedge_ns;
		w->inner_opts.pool = w->inner_pool;
	}
	w->t = aligned_alloc(PL_FALSE_SHARING, p->producers * sizeof(*w->t));
	if (w->t == NULL)
		goto nomem;
	memset(w->t, 0, p->producers * sizeof(*w->t));
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
	err = fail(r, -ENOMEM, "out of memory");
out:
	wl_free(w);
	return err;
}

static void fo_teardown(void *state)
{
	wl_free(state);
}

/* ---------------------------------------------------------------- run */

static bool stall_check(struct wl *w, int64_t now)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < w->p.producers; i++)
		sum += atomic_load_explicit(&w->t[i].beats, memory_order_relaxed);
	if (sum != w->last_beats || w->last_beats_ns == 0) {
		w->last_beats = sum;
		w->last_beats_ns = now;
		return false;
	}
	return now - w->last_beats_ns > WL_STALL_NS;
}

static bool window_has_data(struct wl *w)
{
	for (unsigned i = 0; i < w->p.producers; i++)
		if (atomic_load_explicit(&w->t[i].measured, memory_order_relaxed) != 0)
			return true;
	return false;
}

/* wait_producers - poll (0.1 ms doubling to 10 ms) until every producer returned. */
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

static int fo_run(void *state, struct pl_result *r)
{
	struct wl *w = state;
	const struct pl_params *p = &w->p;
	const bool by_count = p->messages > 0;
	unsigned created = 0;
	int64_t t1, t2 = 0;
	bool stalled;
	uint64_t measured = 0, hedges = 0, cancelled = 0, calls = 0;

	if (w->ran)
		return fail(r, -EALREADY, "a workload state runs once");
	w->ran = true;
	w->latency = r->latency != NULL;
	for (unsigned i = 0; i < p->producers; i++) {
		struct producer *t = &w->t[i];

		if (by_count)
			t->share = p->messages / p->producers + (i < p->messages % p->producers);
		pl_hist_reset(t->hist);
	}
	atomic_store_explicit(&w->phase, p->warmup_s > 0 ? PH_WARMUP : PH_MEASURE,
			      memory_order_relaxed);
	for (unsigned i = 0; i < p->producers; i++) {
		int rc = pthread_create(&w->t[i].tid, NULL, producer_main, &w->t[i]);

		if (rc != 0) {
			gate_open(w, created, -1);
			for (unsigned j = 0; j < i; j++)
				PL_CHECK(pthread_join(w->t[j].tid, NULL));
			return fail(r, -rc, "pthread_create: %s", strerror(rc));
		}
		w->t[i].started = true;
		created++;
	}
	w->t_start = pl_now_ns();
	gate_open(w, created, 1);
	t1 = w->t_start;
	if (p->warmup_s > 0) {
		sleep_until(w->t_start + (int64_t)(p->warmup_s * 1e9));
		t1 = pl_now_ns();
		atomic_store_explicit(&w->phase, PH_MEASURE, memory_order_relaxed);
	}
	if (!by_count) {
		sleep_until(t1 + (int64_t)(p->seconds * 1e9));
		/* An empty window measures nothing: keep it open until a request completed. */
		while (!window_has_data(w) && !stall_check(w, pl_now_ns()))
			sleep_until(pl_now_ns() + 1000000);
		t2 = pl_now_ns();
		atomic_store_explicit(&w->phase, PH_STOP, memory_order_relaxed);
	}
	stalled = !wait_producers(w);
	if (stalled)
		pl_ctx_cancel(w->root); /* ends every call in flight; producers then exit */
	for (unsigned i = 0; i < p->producers; i++)
		PL_CHECK(pthread_join(w->t[i].tid, NULL));

	if (by_count) {
		t2 = t1;
		for (unsigned i = 0; i < p->producers; i++)
			if (w->t[i].last_ns > t2)
				t2 = w->t[i].last_ns;
	}
	for (unsigned i = 0; i < p->producers; i++) {
		struct producer *t = &w->t[i];

		if (t->err != 0)
			return fail(r, t->err, "a request failed: %s", strerror(-t->err));
		measured += atomic_load_explicit(&t->measured, memory_order_relaxed);
		hedges += t->hedges;
		cancelled += t->cancelled;
		calls += t->calls;
		if (r->latency != NULL)
			pl_hist_merge(r->latency, t->hist);
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
		return fail(r, -ETIMEDOUT, "no request completed for %lld s",
			    (long long)(WL_STALL_NS / 1000000000));
	if (r->messages == 0)
		return fail(r, -EIO, "nothing was measured (a window too short?)");
	return 0;
}

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
};
