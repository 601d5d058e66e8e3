/* SPDX-License-Identifier: MIT */
/*
 * The "graceful_shutdown" workload: how long a graceful shutdown takes against how much work is
 * in flight when it starts, and what becomes of that work.
 *
 * One measured message is one shutdown cycle, run in-process on the worker pool (patlab-svc is
 * the same pool behind a socket; a sweep cannot fork services cheaply):
 *   1. a pool of `consumers` workers over a channel of `chan_kind` and `queue_depth`;
 *   2. `producers` jobs submitted (blocking submit), each burning `work_ns` of CPU while polling
 *      its context every ~2 us (pl__svc_burn(), the burner patlab-svc's jobs use);
 *   3. at once: t0, a grace context of `timeout_ns` (default 10 ms), pl_pool_shutdown() with an
 *      unstarted callback; t1 when it returns: every worker joined, every job accounted for.
 * The latency sample is t1 - t0, the time from "stop" to "fully stopped". Expected shape:
 * min(drain time, grace + cancel time): drain time = in-flight x work_ns / workers grows with
 * the jobs in flight until it meets the grace; beyond, the latency stays at the grace plus how
 * long the running jobs take to notice their cancelled context and the hand-back of the rest.
 *
 * Every job ends exactly one way: done (burnt its whole cost), cancelled (saw its context
 * cancelled), or returned (handed to the unstarted callback). lost = submitted - (done +
 * cancelled + returned) must be 0. Extras, per shutdown: in_flight (jobs not yet finished at
 * t0, mean), done, cancelled, returned (means), expired_frac (share of shutdowns whose grace ran
 * out before every job started: pl_pool_shutdown() returned -ETIMEDOUT, jobs were handed back),
 * overrun_max_ns (the largest t1 - (t0 + grace) among those: how late past its deadline a cut-short
 * shutdown finished).
 *
 * A point that asks for more jobs in flight than the pool can hold at once (producers >
 * queue_depth + consumers, for a bounded depth) is skipped: its submits would wait for earlier
 * jobs to finish, and fewer than asked would be in flight. The spsc kind is skipped (the pool
 * refuses it).
 *
 * Warm-up cycles run the same way and are not counted. Each cycle's pool is created and freed
 * outside [t0, t1]; the window length (r->seconds) includes them, so "throughput" here is
 * shutdown cycles per second, not a figure of merit.
 *
 * Threads: the driver thread submits and shuts down; the pool's workers run the jobs. The
 * per-cycle counters are atomics the jobs bump (relaxed: pl_pool_shutdown() joins every worker
 * before it returns, which orders their increments before the driver's reads); @returned is
 * written only by the unstarted callback, which runs on the driver's own thread.
 */
#include <patlab/chan.h>
#include <patlab/pattern.h>
#include <patlab/pool.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "graceful_shutdown/proto.h"
#include "harness/workload_util.h"

#define GS_GRACE_DEFAULT_NS (10 * INT64_C(1000000))

extern const struct pl_pattern pl__pattern_graceful_shutdown;

struct gs_cycle {
	int64_t work_ns;
	_Atomic uint64_t done;	    /* relaxed: read after the join, see the top of the file */
	_Atomic uint64_t cancelled; /* relaxed: as @done */
	uint64_t returned;	    /* the unstarted callback's, on the driver's thread */
};

struct gs {
	struct pl_params p;
	int64_t grace_ns;
	bool ran;
	struct pl__placer placer; /* every cycle's pool workers */
};

static void job(pl_ctx *cx, void *arg)
{
	struct gs_cycle *c = arg;

	if (pl__svc_burn(c->work_ns, cx) == 0)
		atomic_fetch_add_explicit(&c->done, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&c->cancelled, 1, memory_order_relaxed);
}

static void unstarted(pl_job_fn fn, void *arg, void *user)
{
	struct gs_cycle *c = arg;

	(void)fn;
	(void)user;
	c->returned++;
}

static int gs_check(const struct pl_params *p, struct pl_result *r)
{
	struct pl_chan_kind_info info;
	int err = pl_pattern_check_params(&pl__pattern_graceful_shutdown, p, 1, p->consumers, r);

	if (err != 0)
		return err;
	if (pl_chan_kind_info(p->chan_kind, &info) == 0 && info.spsc)
		return pl__fail(r, -ENOTSUP,
				"the worker pool refuses single-producer/consumer kind %s",
				info.name);
	if (p->queue_depth != PL_CHAN_UNBOUNDED &&
	    (uint64_t)p->producers > (uint64_t)p->queue_depth + p->consumers)
		return pl__fail(r, -ENOTSUP,
				"%u jobs cannot all be in flight with depth %zu and %u workers "
				"(raise the depth)",
				p->producers, p->queue_depth, p->consumers);
	return 0;
}

static int gs_setup(const struct pl_params *p, void **state, struct pl_result *r)
{
	struct gs *g;
	int err = gs_check(p, r);

	if (err != 0)
		return err;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return pl__fail(r, -ENOMEM, "out of memory");
	g->p = *p;
	g->grace_ns = p->timeout_ns > 0 ? p->timeout_ns : GS_GRACE_DEFAULT_NS;
	err = pl__point_placer(&g->placer, p, r);
	if (err != 0) {
		free(g);
		return err;
	}
	*state = g;
	return 0;
}

static void gs_teardown(void *state)
{
	free(state);
}

/* struct gs_sums - what the measured cycles add up to. */
struct gs_sums {
	uint64_t cycles, submitted, rejected, in_flight, done, cancelled, returned, expired;
	int64_t overrun_max;
};

/* cycle - one shutdown; adds to @s when @measured. 0 or -errno (@r->why). */
static int cycle(struct gs *g, struct pl_result *r, struct gs_sums *s, bool measured)
{
	const struct pl_params *p = &g->p;
	pl_pool_opts o = {
	    .workers = p->consumers,
	    .queue_depth = p->queue_depth,
	    .chan_kind = p->chan_kind,
	    .threads = &g->placer.start,
	};
	struct gs_cycle c = {.work_ns = p->work_ns, .returned = 0};
	uint64_t submitted = 0, rejected = 0, finished;
	pl_pool *pool;
	pl_ctx *grace;
	int64_t t0, t1;
	int rc;

	atomic_init(&c.done, 0);
	atomic_init(&c.cancelled, 0);
	pool = pl_pool_new(&o);
	if (pool == NULL) {
		if (errno == ENOSYS || errno == EINVAL)
			return pl__fail(r, -ENOTSUP,
					"kind %s cannot serve a pool of depth %zu (%s)",
					p->chan_kind, p->queue_depth, strerror(errno));
		return pl__fail(r, -errno, "pl_pool_new: %s", strerror(errno));
	}
	for (unsigned i = 0; i < p->producers; i++) {
		/* Blocks only until a worker dequeues (the check keeps every job in flight). */
		rc = pl_pool_submit(pool, job, &c, NULL);
		if (rc == 0)
			submitted++;
		else
			rejected++;
	}
	finished = atomic_load_explicit(&c.done, memory_order_relaxed) +
		   atomic_load_explicit(&c.cancelled, memory_order_relaxed);
	t0 = pl_now_ns();
	grace = pl_ctx_with_timeout(NULL, g->grace_ns);
	if (grace == NULL) {
		pl_pool_free(pool);
		return pl__fail(r, -ENOMEM, "out of memory");
	}
	rc = pl_pool_shutdown(pool, grace, unstarted, NULL);
	t1 = pl_now_ns();
	pl_ctx_release(grace);
	pl_pool_free(pool);
	if (rc != 0 && rc != -ETIMEDOUT)
		return pl__fail(r, rc, "pl_pool_shutdown: %s", strerror(-rc));
	if (!measured)
		return 0;

	uint64_t done = atomic_load_explicit(&c.done, memory_order_relaxed);
	uint64_t cancelled = atomic_load_explicit(&c.cancelled, memory_order_relaxed);
	uint64_t accounted = done + cancelled + c.returned;

	s->cycles++;
	s->submitted += submitted;
	s->rejected += rejected;
	s->in_flight += submitted - (finished < submitted ? finished : submitted);
	s->done += done;
	s->cancelled += cancelled;
	s->returned += c.returned;
	if (accounted < submitted)
		r->lost += submitted - accounted;
	if (rc == -ETIMEDOUT) {
		s->expired++;
		if (t1 - (t0 + g->grace_ns) > s->overrun_max)
			s->overrun_max = t1 - (t0 + g->grace_ns);
	}
	if (r->latency != NULL)
		pl_hist_record(r->latency, t1 - t0);
	if (accounted > submitted)
		return pl__fail(r, -EPROTO,
				"%llu jobs accounted for but %llu submitted (done twice?)",
				(unsigned long long)accounted, (unsigned long long)submitted);
	return 0;
}

static int gs_run(void *state, struct pl_result *r)
{
	struct gs *g = state;
	const struct pl_params *p = &g->p;
	struct gs_sums s = {.overrun_max = 0};
	int64_t start, t1, t2;
	int err = pl__run_once(&g->ran, r);

	if (err != 0)
		return err;
	start = pl_now_ns();
	while (p->warmup_s > 0 && pl_now_ns() - start < (int64_t)(p->warmup_s * 1e9)) {
		err = cycle(g, r, &s, false);
		if (err != 0)
			return err;
	}
	t1 = pl_now_ns();
	for (;;) {
		err = cycle(g, r, &s, true);
		if (err != 0)
			return err;
		if (p->messages > 0 ? s.cycles >= p->messages
				    : pl_now_ns() - t1 >= (int64_t)(p->seconds * 1e9))
			break;
	}
	t2 = pl_now_ns();

	double n = (double)s.cycles;

	r->messages = s.cycles;
	r->seconds = (double)(t2 - t1) / 1e9;
	r->rejected = s.rejected;
	pl_result_extra(r, "in_flight", (double)s.in_flight / n);
	pl_result_extra(r, "done", (double)s.done / n);
	pl_result_extra(r, "cancelled", (double)s.cancelled / n);
	pl_result_extra(r, "returned", (double)s.returned / n);
	pl_result_extra(r, "expired_frac", (double)s.expired / n);
	pl_result_extra(r, "overrun_max_ns", (double)s.overrun_max);
	return 0;
}

/* 1, 16, 64 jobs of 100 us in flight on 2 workers. */
/* The pool's workers (the main thread submits the jobs in flight and shuts down). */
static unsigned gs_threads(const struct pl_params *p)
{
	return p->consumers;
}

static const char *const gs_quick[] = {"--chan multi --ratio 1:2,16:2,64:2 --work-ns 100000", NULL};

const struct pl_pattern pl__pattern_graceful_shutdown = {
    .name = "graceful_shutdown",
    .summary = "pool shutdown latency (stop -> fully stopped) against jobs in flight; "
	       "producers = jobs in flight, timeout = grace",
    .params = PL_PARAM_CHAN_KIND | PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS | PL_PARAM_QUEUE_DEPTH |
	      PL_PARAM_WORK_NS | PL_PARAM_TIMEOUT,
    .policies = NULL,
    .check = gs_check,
    .setup = gs_setup,
    .run = gs_run,
    .teardown = gs_teardown,
    .throughput = "M shutdowns/s",
    .latency = "stop to fully stopped",
    .threads = gs_threads,
    .quick = gs_quick,
};
