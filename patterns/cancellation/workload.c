/* SPDX-License-Identifier: MIT */
/*
 * The "cancellation" workload: how long does a cancel take to stop every worker of a context
 * tree, and what does each way of waiting for it cost?
 *
 * Shape. A complete tree of contexts of depth `stages` (root at level 0, leaves at level
 * `stages`) and fan-out `consumers` (children per inner node): consumers^stages leaves, one
 * worker thread per leaf, blocked on its leaf's context in the style `policy` names:
 *   recv   pl_chan_recv() on its own channel (kind `chan_kind`, capacity `queue_depth`, spin
 *          budget `spin_ns`) that nobody sends on: only the context can end it;
 *   wait   pl_ctx_wait(leaf, forever);
 *   poll   a CPU loop: pl_ctx_err(leaf) between chunks of `work_ns` of busy work (0: back to
 *          back), the cooperative check of code that cannot block;
 *   mixed  leaf i uses recv, wait, poll for i % 3 = 0, 1, 2.
 * One thread per leaf, so the tree is capped at WL_MAX_LEAVES leaves (the machine has 2 cores;
 * a bigger tree measures the scheduler's run queue, not cancellation): more is skipped.
 *
 * One repetition. The main thread builds a fresh tree (a cancelled context stays cancelled),
 * hands each worker its leaf, waits until every worker has armed (is about to block), sleeps
 * WL_SETTLE_NS plus twice the spin budget so that blocked workers are parked, not spinning,
 * then cancels the root: t0 is read just before pl_ctx_cancel(root). Each worker reads the
 * clock as soon as its blocking call returns (with -ECANCELED: anything else fails the point);
 * its latency is stop - t0. With timeout_ns > 0 nothing is cancelled: the root is created
 * with a deadline timeout_ns after the build and t0 is that deadline (deadlines fire no wake:
 * blocked workers bound their sleep by it, pollers compare the clock with it), so the same
 * numbers show deadline propagation. A repetition whose deadline passed before the tree had
 * settled (arming was slow: a loaded machine, a big tree) measures nothing and is discarded
 * and counted (late_reps); when late ones dominate (WL_LATE_MIN and 4x the rest) the point
 * fails with -ERANGE: raise timeout_ns.
 *
 * What is reported. The latency histogram holds one sample per worker per measured
 * repetition (cancel -> that worker stopped); messages counts them (messages mode: exactly
 * that many, the last repetition recording only the first workers). Extras:
 *   leaves, tree_nodes       the tree's size
 *   all_stopped_p50_ns       per repetition, cancel -> the LAST worker stopped; its median
 *   all_stopped_max_ns       and its maximum over the repetitions
 *   cancel_call_p50_ns       how long pl_ctx_cancel(root) itself took (the synchronous walk,
 *                            waking every parked waiter); in deadline mode, instead:
 *   late_reps                repetitions discarded because the deadline beat the settling
 *   poll_check_ns            one pl_ctx_err() on a live leaf of this tree, single-threaded
 *   poll_check_deadline_ns   the same on a live context with a deadline (it reads the clock)
 *   reps                     measured repetitions
 * Warm-up repetitions (warmup_s) run the same way and are not recorded. The clock is read
 * even when the caller passes no histogram: the measurement is the point of the workload.
 *
 * Hangs: a worker that has not stopped WL_STALL_NS after the cancel is a propagation bug. The
 * point fails with -ETIMEDOUT saying how many are stuck; the channels are closed to free recv
 * workers, and a worker still stuck WL_STALL_NS later aborts the process (it cannot be joined).
 *
 * Thread-safety: the main thread writes each worker's @cx, then publishes the repetition with
 * a release increment of @gen (workers acquire it); a worker writes @stop_ns and @rc, then
 * does a release increment of @stopped (the main thread acquires it). @armed and @stopped are
 * also futex words: the worker that completes a count wakes the main thread.
 */
#include <patlab/chan.h>
#include <patlab/ctx.h>
#include <patlab/pattern.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sync/park.h"
#include "harness/workload_util.h"
#include "sync/die.h"

#define WL_MAX_LEAVES  256u
#define WL_SETTLE_NS   (1000 * INT64_C(1000))
#define WL_STALL_NS    (10 * INT64_C(1000000000))
#define WL_STACK       (256 * 1024)
#define WL_CHECK_CALLS 200000
#define WL_LATE_MIN    20
/* one_rep()'s result for a deadline repetition that was over before the tree settled. */
#define WL_LATE 1

enum style {
	S_RECV,
	S_WAIT,
	S_POLL,
	S_MIXED
};

extern const struct pl_pattern pl__pattern_cancellation;

static const char *const policies[] = {"recv", "wait", "poll", "mixed", NULL};

struct wl;

/* One per leaf, each on its own cache lines. */
struct worker {
	_Alignas(PL_FALSE_SHARING) struct wl *w;
	pthread_t tid;
	unsigned idx;
	enum style style;
	pl_chan *ch; /* recv only */
	/* Written by the main thread before the release increment of @gen. */
	pl_ctx *cx;
	/* Written by the worker before the release increment of @stopped. */
	int64_t stop_ns;
	int rc;
};

struct wl {
	struct pl_params p;
	enum style style;
	bool ran;
	unsigned fanout, depth, leaves, nodes;
	int64_t settle_ns;
	struct worker *t;
	pl_ctx **node; /* the current tree, breadth first: node 0 the root */
	pl_hist *all_stopped, *cancel_call;
	/* Futex words (see the top of the file). */
	_Alignas(PL_FALSE_SHARING) _Atomic uint32_t gen;
	_Atomic uint32_t quit; /* read by workers after a change of @gen */
	_Alignas(PL_FALSE_SHARING) _Atomic uint32_t armed;
	_Alignas(PL_FALSE_SHARING) _Atomic uint32_t stopped;
	struct pl__placer placer; /* the workers' */
};

static enum style style_of(const char *policy)
{
	for (int i = 0; policy != NULL && policies[i] != NULL; i++)
		if (strcmp(policy, policies[i]) == 0)
			return (enum style)i;
	return S_RECV; /* NULL: the default, first in the list */
}

/* count_up - one more on a counter that is also a futex word; wake the main thread at @n. */
static void count_up(_Atomic uint32_t *c, uint32_t n)
{
	/* Release pairs with wait_count()'s acquire: @stop_ns and @rc are visible with it. */
	if (atomic_fetch_add_explicit(c, 1, memory_order_release) + 1 == n)
		pl__futex_wake(c, 1);
}

/* wait_count - wait until *@c reaches @n, or @deadline_ns. true when reached. */
static bool wait_count(_Atomic uint32_t *c, uint32_t n, int64_t deadline_ns)
{
	uint32_t v;

	while ((v = atomic_load_explicit(c, memory_order_acquire)) < n) {
		if (pl_now_ns() >= deadline_ns)
			return false;
		/* Woken by the count_up() that reaches @n (or any change: we re-check). */
		pl__futex_wait(c, v, deadline_ns);
	}
	return true;
}

/* block - wait in @t's style until @cx is done; returns what the blocking call returned. */
static int block(struct worker *t, pl_ctx *cx)
{
	const int64_t work = t->w->p.work_ns;
	void *m;
	int rc;

	switch (t->style) {
	case S_RECV:
		/* Nobody sends: woken by the cancel's watch on cx (or its deadline). */
		return pl_chan_recv(t->ch, &m, cx);
	case S_WAIT:
		/* Woken by the cancel's watch on cx, or by its deadline. */
		return pl_ctx_wait(cx, -1);
	default:
		while ((rc = pl_ctx_err(cx)) == 0)
			if (work > 0)
				pl__busy_wait_ns(work);
		return rc;
	}
}

static void *worker_main(void *arg)
{
	struct worker *t = arg;
	struct wl *w = t->w;
	uint32_t seen = 0;

	for (;;) {
		uint32_t g;

		/* Acquire pairs with start_rep()'s release: @cx is visible. */
		while ((g = atomic_load_explicit(&w->gen, memory_order_acquire)) == seen)
			pl__futex_wait(&w->gen, seen, INT64_MAX); /* woken by start_rep()/quit */
		seen = g;
		if (atomic_load_explicit(&w->quit, memory_order_relaxed))
			return NULL;
		count_up(&w->armed, w->leaves);
		t->rc = block(t, t->cx);
		t->stop_ns = pl_now_ns();
		count_up(&w->stopped, w->leaves);
	}
}

/* ---------------------------------------------------------------- the tree */

static unsigned tree_nodes(unsigned fanout, unsigned depth)
{
	unsigned n = 0, level = 1;

	for (unsigned d = 0; d <= depth; d++, level *= fanout)
		n += level;
	return n;
}

static void tree_release(struct wl *w)
{
	for (unsigned i = w->nodes; i-- > 0;) {
		pl_ctx_release(w->node[i]);
		w->node[i] = NULL;
	}
}

/* tree_build - a fresh tree; @deadline_ns INT64_MAX: the root is cancellable only. */
static int tree_build(struct wl *w, int64_t deadline_ns)
{
	w->node[0] = pl_ctx_with_deadline(NULL, deadline_ns);
	if (w->node[0] == NULL)
		return -ENOMEM;
	for (unsigned i = 1; i < w->nodes; i++) {
		w->node[i] = pl_ctx_with_cancel(w->node[(i - 1) / w->fanout]);
		if (w->node[i] == NULL) {
			tree_release(w);
			return -ENOMEM;
		}
	}
	return 0;
}

/* ns_per_check - the cost of one pl_ctx_err(@cx), single-threaded. */
static double ns_per_check(pl_ctx *cx)
{
	volatile int sink = 0;
	int64_t t0 = pl_now_ns();

	for (int i = 0; i < WL_CHECK_CALLS; i++)
		sink += pl_ctx_err(cx);
	(void)sink;
	return (double)(pl_now_ns() - t0) / WL_CHECK_CALLS;
}

/* ---------------------------------------------------------------- setup and teardown */

static void wl_free(struct wl *w)
{
	if (w == NULL)
		return;
	for (unsigned i = 0; w->t != NULL && i < w->leaves; i++)
		pl_chan_free(w->t[i].ch);
	free(w->t);
	free(w->node);
	pl_hist_free(w->all_stopped);
	pl_hist_free(w->cancel_call);
	free(w);
}

/* leaves_of - @fanout^@depth, or 0 when above WL_MAX_LEAVES. */
static unsigned leaves_of(unsigned fanout, unsigned depth)
{
	unsigned long long n = 1;

	for (unsigned d = 0; d < depth; d++) {
		n *= fanout;
		if (n > WL_MAX_LEAVES)
			return 0;
	}
	return (unsigned)n;
}

static int cancel_check(const struct pl_params *p, struct pl_result *r)
{
	/* Each leaf has its own channel: one receiver, no sender. */
	int err = pl_pattern_check_params(&pl__pattern_cancellation, p, 1, 1, r);

	if (err != 0)
		return err;
	/* A deadline is waited out with nothing moving: the hang watchdog must not fire first. */
	if (p->timeout_ns > PL__PARAM_NS_MAX)
		return pl__fail(
		    r, -EINVAL,
		    "timeout_ns %lld: at most %lld ns (the deadline is waited out, and a "
		    "workload's hang watchdog waits %lld s for progress)",
		    (long long)p->timeout_ns, (long long)PL__PARAM_NS_MAX,
		    (long long)(PL__STALL_NS / 1000000000));
	if (p->consumers > 1 && leaves_of(p->consumers, p->stages) == 0)
		return pl__fail(
		    r, -ENOTSUP,
		    "fan-out %u ^ depth %u is more than %u leaves: one thread per leaf, "
		    "capped for a 2-core machine",
		    p->consumers, p->stages, WL_MAX_LEAVES);
	if (p->consumers == 1 && p->stages > 4096)
		return pl__fail(r, -ENOTSUP, "depth %u: chains deeper than 4096 are not run",
				p->stages);
	return 0;
}

static int cancel_setup(const struct pl_params *p, void **state, struct pl_result *r)
{
	struct wl *w;
	int err = cancel_check(p, r);

	if (err != 0)
		return err;
	w = pl__alloc_lines(sizeof(*w));
	if (w == NULL)
		return pl__fail(r, -ENOMEM, "out of memory");
	w->p = *p;
	w->style = style_of(p->policy);
	w->fanout = p->consumers;
	w->depth = p->stages;
	w->leaves = leaves_of(w->fanout, w->depth);
	w->nodes = tree_nodes(w->fanout, w->depth);
	w->settle_ns = WL_SETTLE_NS + 2 * pl__spin_ns(p);
	atomic_init(&w->gen, 0);
	atomic_init(&w->quit, 0);
	atomic_init(&w->armed, 0);
	atomic_init(&w->stopped, 0);
	w->node = calloc(w->nodes, sizeof(*w->node));
	w->t = pl__alloc_lines(w->leaves * sizeof(*w->t));
	w->all_stopped = pl_hist_new();
	w->cancel_call = pl_hist_new();
	if (w->node == NULL || w->t == NULL || w->all_stopped == NULL || w->cancel_call == NULL) {
		err = pl__fail(r, -ENOMEM, "out of memory");
		goto out;
	}
	err = pl__point_placer(&w->placer, p, r);
	if (err != 0)
		goto out;
	for (unsigned i = 0; i < w->leaves; i++) {
		struct worker *t = &w->t[i];

		t->w = w;
		t->idx = i;
		t->style = w->style == S_MIXED ? (enum style)(i % 3) : w->style;
		if (t->style == S_RECV && (t->ch = pl__new_chan(p, r, &err)) == NULL)
			goto out;
	}
	*state = w;
	return 0;
out:
	wl_free(w);
	return err;
}

static void cancel_teardown(void *state)
{
	wl_free(state);
}

/* ---------------------------------------------------------------- run */

/* start_rep - give every worker its leaf of the current tree and release them. */
static void start_rep(struct wl *w)
{
	for (unsigned i = 0; i < w->leaves; i++)
		w->t[i].cx = w->node[w->nodes - w->leaves + i];
	atomic_store_explicit(&w->armed, 0, memory_order_relaxed);
	atomic_store_explicit(&w->stopped, 0, memory_order_relaxed);
	/* Release pairs with worker_main()'s acquire: @cx and the zeroed counts. */
	atomic_fetch_add_explicit(&w->gen, 1, memory_order_release);
	pl__futex_wake(&w->gen, INT32_MAX);
}

static void stop_workers(struct wl *w, unsigned created)
{
	atomic_store_explicit(&w->quit, 1, memory_order_relaxed);
	/* Release: @quit is read after the acquire of the new @gen. */
	atomic_fetch_add_explicit(&w->gen, 1, memory_order_release);
	pl__futex_wake(&w->gen, INT32_MAX);
	for (unsigned i = 0; i < created; i++)
		PL_CHECK(pthread_join(w->t[i].tid, NULL));
}

static const char *style_name(enum style s)
{
	return policies[s];
}

/*
 * stuck - workers have not stopped WL_STALL_NS after the cancel: free what can be freed
 * (recv workers, by closing their channels), abort if anything is still stuck after as long
 * again (those threads cannot be joined), and describe the failure in @r.
 */
static int stuck(struct wl *w, struct pl_result *r)
{
	unsigned n = w->leaves - atomic_load(&w->stopped);

	for (unsigned i = 0; i < w->leaves; i++)
		if (w->t[i].ch != NULL)
			pl_chan_close(w->t[i].ch);
	if (!wait_count(&w->stopped, w->leaves, pl_now_ns() + WL_STALL_NS))
		pl__die("cancellation: workers still blocked %lld s after their context was "
			"cancelled and their channels closed",
			(long long)(2 * WL_STALL_NS / 1000000000));
	return pl__fail(r, -ETIMEDOUT,
			"%u of %u workers (%s) did not stop within %lld s of the cancel: "
			"propagation is broken",
			n, w->leaves, style_name(w->style), (long long)(WL_STALL_NS / 1000000000));
}

/*
 * one_rep - build, arm, settle, cancel (or let the deadline pass), wait, release. Records
 * into @r only when @record; at most @quota worker latencies. Returns 0, WL_LATE (deadline
 * mode: the deadline passed before the tree settled; nothing recorded), or -errno (@r->why).
 */
static int one_rep(struct wl *w, struct pl_result *r, bool record, uint64_t quota,
		   uint64_t *recorded)
{
	const bool by_deadline = w->p.timeout_ns > 0;
	const int want = by_deadline ? -ETIMEDOUT : -ECANCELED;
	int64_t deadline = INT64_MAX, t0, call_ns = 0, last = 0;
	bool late = false;
	int err;

	if (by_deadline)
		deadline = pl_now_ns() + w->p.timeout_ns;
	err = tree_build(w, deadline);
	if (err != 0)
		return pl__fail(r, err, "building a tree of %u contexts: out of memory", w->nodes);
	start_rep(w);
	if (!wait_count(&w->armed, w->leaves, pl_now_ns() + WL_STALL_NS))
		pl__die("cancellation: workers did not start within %lld s",
			(long long)(WL_STALL_NS / 1000000000));
	/* Let blocked workers get past their spin phase and park. */
	pl__sleep_until(pl_now_ns() + w->settle_ns);
	if (by_deadline) {
		late = pl_now_ns() >= deadline;
		t0 = deadline;
	} else {
		t0 = pl_now_ns();
		pl_ctx_cancel(w->node[0]);
		call_ns = pl_now_ns() - t0;
	}
	if (!wait_count(&w->stopped, w->leaves, pl_now_ns() + WL_STALL_NS)) {
		err = stuck(w, r);
		tree_release(w);
		return err;
	}
	tree_release(w);
	for (unsigned i = 0; i < w->leaves; i++)
		if (w->t[i].rc != want)
			return pl__fail(r, -EPROTO, "a %s worker returned %d (%s), not %d",
					style_name(w->t[i].style), w->t[i].rc,
					strerror(-w->t[i].rc), want);
	if (late)
		return WL_LATE;
	for (unsigned i = 0; i < w->leaves; i++) {
		struct worker *t = &w->t[i];

		if (t->stop_ns - t0 > last)
			last = t->stop_ns - t0;
		if (record && *recorded < quota) {
			if (r->latency != NULL)
				pl_hist_record(r->latency, t->stop_ns - t0);
			++*recorded;
		}
	}
	if (record) {
		pl_hist_record(w->all_stopped, last);
		pl_hist_record(w->cancel_call, call_ns);
	}
	return 0;
}

static int cancel_run(void *state, struct pl_result *r)
{
	struct wl *w = state;
	const struct pl_params *p = &w->p;
	const bool by_count = p->messages > 0;
	pthread_attr_t attr;
	unsigned created = 0;
	uint64_t recorded = 0, reps = 0, late = 0;
	double check_ns, check_deadline_ns;
	int64_t t_start, t_meas = 0, now;
	bool measuring;
	pl_ctx *probe;
	int err = pl__run_once(&w->ran, r);

	if (err != 0)
		return err;
	pl_hist_reset(w->all_stopped);
	pl_hist_reset(w->cancel_call);

	/* The cost of one cooperative check, before any worker competes for the CPU. */
	if (tree_build(w, INT64_MAX) != 0)
		return pl__fail(r, -ENOMEM, "out of memory");
	check_ns = ns_per_check(w->node[w->nodes - 1]);
	tree_release(w);
	probe = pl_ctx_with_timeout(NULL, INT64_C(3600) * 1000000000);
	if (probe == NULL)
		return pl__fail(r, -ENOMEM, "out of memory");
	check_deadline_ns = ns_per_check(probe);
	pl_ctx_release(probe);

	PL_CHECK(pthread_attr_init(&attr));
	PL_CHECK(pthread_attr_setstacksize(&attr, WL_STACK));
	for (; created < w->leaves; created++) {
		int rc = pl_thread_create(&w->placer.start, &w->t[created].tid, &attr, worker_main,
					  &w->t[created]);

		if (rc != 0) {
			err = pl__fail(r, -rc, "pthread_create (worker %u of %u): %s", created,
				       w->leaves, strerror(rc));
			break;
		}
	}
	PL_CHECK(pthread_attr_destroy(&attr));

	t_start = pl_now_ns();
	measuring = !(p->warmup_s > 0);
	if (measuring)
		t_meas = t_start;
	while (err == 0) {
		now = pl_now_ns();
		if (!measuring && now - t_start >= (int64_t)(p->warmup_s * 1e9)) {
			measuring = true;
			t_meas = now;
		}
		if (measuring && reps > 0 &&
		    (by_count ? recorded >= p->messages
			      : now - t_meas >= (int64_t)(p->seconds * 1e9)))
			break;
		err = one_rep(w, r, measuring, by_count ? p->messages : UINT64_MAX, &recorded);
		if (err == WL_LATE) {
			err = 0;
			late += measuring;
			if (late >= WL_LATE_MIN && late > 4 * reps)
				err = pl__fail(r, -ERANGE,
					       "timeout_ns %lld: the deadline passed before %u "
					       "workers had settled in %llu of %llu repetitions: "
					       "raise it",
					       (long long)p->timeout_ns, w->leaves,
					       (unsigned long long)late,
					       (unsigned long long)(late + reps));
			continue;
		}
		reps += measuring;
	}
	now = pl_now_ns();
	stop_workers(w, created);
	if (err != 0)
		return err;

	r->messages = recorded;
	r->seconds = (double)(now - t_meas) / 1e9;
	pl_result_extra(r, "leaves", w->leaves);
	pl_result_extra(r, "tree_nodes", w->nodes);
	pl_result_extra(r, "all_stopped_p50_ns", (double)pl_hist_percentile(w->all_stopped, 50));
	pl_result_extra(r, "all_stopped_max_ns", (double)w->all_stopped->max);
	if (p->timeout_ns > 0)
		pl_result_extra(r, "late_reps", (double)late);
	else
		pl_result_extra(r, "cancel_call_p50_ns",
				(double)pl_hist_percentile(w->cancel_call, 50));
	pl_result_extra(r, "poll_check_ns", check_ns);
	pl_result_extra(r, "poll_check_deadline_ns", check_deadline_ns);
	pl_result_extra(r, "reps", (double)reps);
	return 0;
}

/* 4 workers under one root, blocked in a receive (every kind), then in pl_ctx_wait and a
 * polling loop (no channel: one kind is enough). */
/* One thread per leaf (the main thread builds and cancels the tree). */
static unsigned cancel_threads(const struct pl_params *p)
{
	unsigned leaves = leaves_of(p->consumers, p->stages);

	return leaves > 0 ? leaves : 1;
}

static const char *const cancel_quick[] = {
    "--chan multi --consumers 4 --depth 1 --policy recv",
    "--chan mutex --consumers 4 --policy wait,poll",
    NULL,
};

const struct pl_pattern pl__pattern_cancellation = {
    .name = "cancellation",
    .summary = "cancel a context tree (depth = stages, fan-out = consumers), a worker blocked "
	       "at every leaf; cancel -> each worker stopped",
    .params = PL_PARAM_CHAN_KIND | PL_PARAM_CONSUMERS | PL_PARAM_STAGES | PL_PARAM_QUEUE_DEPTH |
	      PL_PARAM_WORK_NS | PL_PARAM_POLICY | PL_PARAM_SPIN | PL_PARAM_TIMEOUT,
    .policies = policies,
    .check = cancel_check,
    .setup = cancel_setup,
    .run = cancel_run,
    .teardown = cancel_teardown,
    .throughput = "M workers stopped/s",
    .latency = "cancel to each worker stopped",
    .threads = cancel_threads,
    .quick = cancel_quick,
};
