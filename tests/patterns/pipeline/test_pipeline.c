/* SPDX-License-Identifier: MIT */
/*
 * Pipeline unit tests: argument checks, where a single-producer/single-consumer kind is
 * allowed, and the contract's scenarios over every kind that can serve each topology:
 * - close drains everything (every item through every stage exactly once; ordered: in order,
 *   under random per-item delays), one producer and several;
 * - cancel with every stage blocked (a sink that never reads): everything returns, all threads
 *   are joined, every accepted item is discarded exactly once;
 * - a stage error cancels the rest and is reported with the stage's name (first error wins);
 * - a parent's cancel and deadline; the reorder window bounds admission (a held item blocks the
 *   source after `window` items, the sink gets nothing until it is released);
 * - free of a running pipeline discards what is inside (ASan checks nothing leaks).
 * Items are heap-allocated so that ASan sees a double delivery or a lost item.
 */
#include "check.h"
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include <patlab/chan.h>
#include <patlab/ctx.h>
#include <patlab/pipeline.h>

struct item {
	unsigned producer;
	unsigned idx;
	unsigned mask; /* bit i: stage i saw it */
};

/* What the stages of a test pipeline do. */
struct cfg {
	uint64_t seed;
	unsigned delay_ns; /* random per-item delay up to this, per stage */
	_Atomic unsigned discarded;
	/* Failure injection: stage @fail_stage fails with @fail_err on item @fail_idx. */
	int fail_stage;
	unsigned fail_idx;
	int fail_err;
	/* Holding: stage 0 blocks item @hold_idx until @release (or its context). */
	bool hold;
	unsigned hold_idx;
	_Atomic bool release;
	/* Blocking: every stage function waits on its context (the "slow forever" stage). */
	bool block_in_fn;
};

struct stage_arg {
	struct cfg *c;
	unsigned idx;
};

static void spin_ns(int64_t ns)
{
	int64_t end = pl_now_ns() + ns;

	while (pl_now_ns() < end)
		sched_yield();
}

static int stage_fn(pl_ctx *cx, void *in, void **out, void *user)
{
	struct stage_arg *a = user;
	struct cfg *c = a->c;
	struct item *it = in;

	if (c->delay_ns) {
		uint64_t s =
		    c->seed ^ ((uint64_t)it->producer << 40) ^ ((uint64_t)it->idx << 8) ^ a->idx;

		spin_ns((int64_t)(pt_rand(&s) % c->delay_ns));
	}
	if (c->hold && a->idx == 0 && it->idx == c->hold_idx)
		while (!atomic_load(&c->release) && pl_ctx_err(cx) == 0)
			pt_sleep_ns(100000);
	if (c->block_in_fn)
		pl_ctx_wait(cx, -1); /* returns once the pipeline is cancelled */
	if ((int)a->idx == c->fail_stage && it->idx == c->fail_idx)
		return c->fail_err;
	if (it->mask & (1u << a->idx))
		pt_fail(__FILE__, __LINE__, "stage %u saw item %u twice", a->idx, it->idx);
	it->mask |= 1u << a->idx;
	if (a->idx == 1) {
		/* Stage 1 replaces the item: ownership passes through the stage. */
		struct item *n = malloc(sizeof(*n));

		CHECK(n != NULL);
		*n = *it;
		free(it);
		*out = n;
	}
	return 0;
}

static void on_discard(void *item, void *user)
{
	struct cfg *c = user;

	free(item);
	atomic_fetch_add(&c->discarded, 1);
}

static const char *const stage_names[] = {"parse", "enrich", "encode", "store"};

struct topo {
	unsigned stages;
	unsigned workers[4];
	unsigned producers;
};

static pl_pipeline *build(const char *kind, size_t depth, bool ordered, const struct topo *t,
			  struct cfg *c, struct stage_arg *args)
{
	struct pl_pipeline_opts o = pl_pipeline_opts_default();
	pl_pipeline *pl;

	o.chan_kind = kind;
	o.depth = depth;
	o.ordered = ordered;
	o.source_threads = t->producers;
	o.sink_threads = 1;
	o.discard = on_discard;
	o.discard_user = c;
	o.stats = true;
	o.spin_ns = 2000; /* park soon: 2 cores are shared by many threads here */
	pl = pl_pipeline_new(&o);
	CHECK(pl != NULL);
	for (unsigned i = 0; i < t->stages; i++) {
		args[i].c = c;
		args[i].idx = i;
		CHECK_EQ(
		    pl_pipeline_add_stage(pl, stage_names[i], stage_fn, &args[i], t->workers[i]),
		    0);
	}
	return pl;
}

static struct item *new_item(unsigned producer, unsigned idx)
{
	struct item *it = malloc(sizeof(*it));

	CHECK(it != NULL);
	it->producer = producer;
	it->idx = idx;
	it->mask = 0;
	return it;
}

/* ---------------------------------------------------------------- arguments */

static int nop(pl_ctx *cx, void *in, void **out, void *user)
{
	(void)cx;
	(void)in;
	(void)out;
	(void)user;
	return 0;
}

static void test_args(void)
{
	struct pl_pipeline_opts o = pl_pipeline_opts_default();
	struct pl_stage s = {
	    .name = "x", .fn = nop, .workers = 1, .in_depth = PL_PIPELINE_DEPTH_DEFAULT};
	pl_pipeline *pl;
	void *m;

	pt_note("args");
	o.chan_kind = "nope";
	errno = 0;
	CHECK(pl_pipeline_new(&o) == NULL && errno == EINVAL);
	o = pl_pipeline_opts_default();
	o.spin_ns = -1;
	CHECK(pl_pipeline_new(&o) == NULL && errno == EINVAL);
	o = pl_pipeline_opts_default();
	o.chan_kind = "lockfree";
	o.depth = 0; /* lockfree has no rendezvous */
	CHECK(pl_pipeline_new(&o) == NULL && errno == EINVAL);
	o = pl_pipeline_opts_default();
	o.depth = PL_CHAN_UNBOUNDED; /* mutex is bounded */
	CHECK(pl_pipeline_new(&o) == NULL && errno == EINVAL);
	o = pl_pipeline_opts_default();
	o.out_kind = "nope";
	CHECK(pl_pipeline_new(&o) == NULL && errno == EINVAL);

	pl = pl_pipeline_new(NULL);
	CHECK(pl != NULL);
	CHECK_EQ(pl_pipeline_send(pl, NULL, NULL), -EINVAL);
	CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), -EINVAL);
	CHECK_EQ(pl_pipeline_close(pl), -EINVAL);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, NULL), -EINVAL);
	pl_pipeline_cancel(pl);				/* no-op before start */
	CHECK_EQ(pl_pipeline_start(pl, NULL), -EINVAL); /* no stage */
	CHECK_EQ(pl_pipeline_add_stage(pl, NULL, nop, NULL, 1), -EINVAL);
	CHECK_EQ(pl_pipeline_add_stage(pl, "", nop, NULL, 1), -EINVAL);
	CHECK_EQ(pl_pipeline_add_stage(pl, "x", NULL, NULL, 1), -EINVAL);
	CHECK_EQ(pl_pipeline_add_stage(pl, "x", nop, NULL, 0), -EINVAL);
	CHECK_EQ(pl_pipeline_add_stage(pl, "x", nop, NULL, PL_PIPELINE_MAX_WORKERS + 1), -EINVAL);
	s.in_kind = "nope";
	CHECK_EQ(pl_pipeline_add_stage_opts(pl, &s), -EINVAL);
	s.in_kind = "lockfree";
	s.in_depth = 0;
	CHECK_EQ(pl_pipeline_add_stage_opts(pl, &s), -EINVAL);
	s.in_depth = 4;
	CHECK_EQ(pl_pipeline_add_stage_opts(pl, &s), 0);
	CHECK_EQ(pl_pipeline_add_stage(pl, "y", nop, NULL, 2), 0);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	CHECK_EQ(pl_pipeline_start(pl, NULL), -EBUSY);
	CHECK_EQ(pl_pipeline_add_stage(pl, "z", nop, NULL, 1), -EBUSY);
	CHECK_EQ(pl_pipeline_recv(pl, NULL, NULL), -EINVAL);
	CHECK_EQ(pl_pipeline_close(pl), 0);
	CHECK_EQ(pl_pipeline_close(pl), -EPIPE);
	CHECK_EQ(pl_pipeline_send(pl, NULL, NULL), -EPIPE);
	CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), -EPIPE);
	CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), -EPIPE); /* forever */
	CHECK_EQ(pl_pipeline_wait(pl, NULL, NULL), 0);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, NULL), 0); /* again: same answer */
	{
		struct pl_pipeline_stage_stats st;
		struct pl_pipeline_stats all;

		CHECK_EQ(pl_pipeline_stage_stats(pl, 2, &st), -EINVAL);
		CHECK_EQ(pl_pipeline_stage_stats(pl, 1, &st), 0);
		CHECK(strcmp(st.name, "y") == 0 && st.workers == 2 && st.items == 0);
		pl_pipeline_stats(pl, &all);
		CHECK_EQ(all.stages, 2);
		CHECK_EQ(all.window, 0);
	}
	pl_pipeline_free(pl);
	pl_pipeline_free(NULL);
}

/* ---------------------------------------------------------------- spsc placement */

static void test_spsc_placement(void)
{
	struct pl_pipeline_opts o = pl_pipeline_opts_default();
	struct pl_stage s = {.name = "b",
			     .fn = nop,
			     .workers = 1,
			     .in_kind = "spsc",
			     .in_depth = PL_PIPELINE_DEPTH_DEFAULT};
	pl_pipeline *pl;

	if (!pt_kind_can("spsc", 4)) {
		fprintf(stderr, "spsc not built: placement test skipped\n");
		return;
	}
	pt_note("spsc placement");
	/* Whole pipeline spsc: every end must be known to be one thread. */
	o.chan_kind = "spsc";
	o.source_threads = 0; /* any number of sources */
	o.sink_threads = 1;
	pl = pl_pipeline_new(&o);
	CHECK_EQ(pl_pipeline_add_stage(pl, "a", nop, NULL, 1), 0);
	CHECK_EQ(pl_pipeline_start(pl, NULL), -EINVAL);
	pl_pipeline_free(pl);

	o.source_threads = 1;
	o.sink_threads = 0; /* any number of sinks: the output link is shared */
	pl = pl_pipeline_new(&o);
	CHECK_EQ(pl_pipeline_add_stage(pl, "a", nop, NULL, 1), 0);
	CHECK_EQ(pl_pipeline_start(pl, NULL), -EINVAL);
	pl_pipeline_free(pl);

	o.ordered = true; /* ordered: no output link, the sinks use the reorder buffer */
	pl = pl_pipeline_new(&o);
	CHECK_EQ(pl_pipeline_add_stage(pl, "a", nop, NULL, 1), 0);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	pl_pipeline_free(pl);

	o.ordered = false;
	o.sink_threads = 1;
	pl = pl_pipeline_new(&o);
	CHECK_EQ(pl_pipeline_add_stage(pl, "a", nop, NULL, 2), 0); /* two receivers on link 0 */
	CHECK_EQ(pl_pipeline_start(pl, NULL), -EINVAL);
	pl_pipeline_free(pl);

	/* Mutex everywhere, spsc only into stage b: allowed iff a has one worker. */
	o = pl_pipeline_opts_default();
	pl = pl_pipeline_new(&o);
	CHECK_EQ(pl_pipeline_add_stage(pl, "a", nop, NULL, 2), 0);
	CHECK_EQ(pl_pipeline_add_stage_opts(pl, &s), 0);
	CHECK_EQ(pl_pipeline_start(pl, NULL), -EINVAL);
	pl_pipeline_free(pl);
	pl = pl_pipeline_new(&o);
	CHECK_EQ(pl_pipeline_add_stage(pl, "a", nop, NULL, 1), 0);
	CHECK_EQ(pl_pipeline_add_stage_opts(pl, &s), 0);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	CHECK_EQ(pl_pipeline_send(pl, (void *)1, NULL), 0);
	{
		void *m = NULL;

		CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), 0);
		CHECK(m == (void *)1);
	}
	CHECK_EQ(pl_pipeline_close(pl), 0);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, NULL), 0);
	pl_pipeline_free(pl);
}

/* ---------------------------------------------------------------- drain */

struct prod {
	pthread_t tid;
	pl_pipeline *pl;
	unsigned id, n;
	_Atomic unsigned sent; /* read by the main thread while running */
	int rc;		       /* the first failing send's result, 0 if none */
	pl_ctx *cx;
};

static void *producer(void *arg)
{
	struct prod *p = arg;

	for (unsigned i = 0; i < p->n; i++) {
		struct item *it = new_item(p->id, i);
		int rc = pl_pipeline_send(p->pl, it, p->cx);

		if (rc != 0) {
			free(it); /* not accepted: still ours */
			p->rc = rc;
			return NULL;
		}
		p->sent++;
	}
	return NULL;
}

/* Several producers, each n items; the sink (this thread) checks everything. */
static void run_drain(const char *kind, size_t depth, bool ordered, const struct topo *t,
		      unsigned n, uint64_t seed)
{
	struct cfg c = {.seed = seed, .delay_ns = 20000, .fail_stage = -1};
	struct stage_arg args[4];
	struct prod prods[4];
	unsigned *next = calloc(t->producers, sizeof(*next));
	unsigned got = 0, all = t->stages == 4 ? 15u : (1u << t->stages) - 1;
	pl_pipeline *pl = build(kind, depth, ordered, t, &c, args);
	void *m;
	int rc;

	CHECK(next != NULL);
	pt_note("drain %s depth %zu %s stages %u producers %u", kind, depth,
		ordered ? "ordered" : "unordered", t->stages, t->producers);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	for (unsigned i = 0; i < t->producers; i++) {
		prods[i] = (struct prod){.pl = pl, .id = i, .n = n};
		CHECK_EQ(pthread_create(&prods[i].tid, NULL, producer, &prods[i]), 0);
	}
	/* Close once every producer is done: from a helper, so the sink keeps draining. */
	for (;;) {
		rc = pl_pipeline_recv(pl, &m, NULL);
		if (rc != 0)
			break;
		struct item *it = m;

		CHECK(it->producer < t->producers);
		CHECK_EQ(it->mask, all);
		if (ordered)
			CHECK_EQ(it->idx, next[it->producer]); /* in each producer's order */
		else
			CHECK(it->idx < n);
		next[it->producer]++;
		free(it);
		if (++got == n * t->producers) {
			for (unsigned i = 0; i < t->producers; i++)
				CHECK_EQ(pthread_join(prods[i].tid, NULL), 0);
			CHECK_EQ(pl_pipeline_close(pl), 0);
		}
	}
	CHECK_EQ(rc, -EPIPE);
	CHECK_EQ(got, n * t->producers);
	for (unsigned i = 0; i < t->producers; i++) {
		CHECK_EQ(prods[i].rc, 0);
		CHECK_EQ(prods[i].sent, n);
		if (!ordered)
			CHECK_EQ(next[i], n); /* exactly once: n distinct deliveries each... */
	}
	CHECK_EQ(pl_pipeline_wait(pl, NULL, NULL), 0);
	for (unsigned i = 0; i < t->stages; i++) {
		struct pl_pipeline_stage_stats st;

		CHECK_EQ(pl_pipeline_stage_stats(pl, i, &st), 0);
		CHECK_EQ(st.items, (uint64_t)n * t->producers);
		CHECK(st.busy_ns > 0);
	}
	pl_pipeline_free(pl);
	CHECK_EQ(atomic_load(&c.discarded), 0);
	free(next);
}

/*
 * Unordered exactly-once needs more than a count: a per-item table. run_drain's count plus
 * the per-stage masks (a stage that saw an item twice fails) cover duplication through the
 * stages; this one checks the sink never gets the same item twice, with one producer.
 */
static void run_exactly_once(const char *kind, size_t depth, const struct topo *t, unsigned n)
{
	struct cfg c = {.seed = 7, .delay_ns = 5000, .fail_stage = -1};
	struct stage_arg args[4];
	unsigned char *seen = calloc(n, 1);
	pl_pipeline *pl = build(kind, depth, false, t, &c, args);
	struct prod p = {.pl = pl, .id = 0, .n = n};
	void *m;

	pt_note("exactly once %s depth %zu", kind, depth);
	CHECK(seen != NULL);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	CHECK_EQ(pthread_create(&p.tid, NULL, producer, &p), 0);
	for (unsigned got = 0; got < n; got++) {
		struct item *it;

		CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), 0);
		it = m;
		CHECK(it->idx < n);
		CHECK_EQ(seen[it->idx], 0);
		seen[it->idx] = 1;
		free(it);
	}
	CHECK_EQ(pthread_join(p.tid, NULL), 0);
	CHECK_EQ(pl_pipeline_close(pl), 0);
	CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), -EPIPE);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, NULL), 0);
	pl_pipeline_free(pl);
	free(seen);
}

/* ---------------------------------------------------------------- cancel, every stage blocked */

static void run_cancel_blocked(const char *kind, size_t depth, bool ordered, const struct topo *t,
			       bool block_in_fn)
{
	struct cfg c = {.seed = 3, .fail_stage = -1, .block_in_fn = block_in_fn};
	struct stage_arg args[4];
	struct prod p;
	pl_pipeline *pl = build(kind, depth, ordered, t, &c, args);
	const char *stage = "unset";
	unsigned last = ~0u;
	int64_t t0;

	pt_note("cancel blocked %s depth %zu %s%s", kind, depth, ordered ? "ordered" : "unordered",
		block_in_fn ? " (in fn)" : "");
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	p = (struct prod){.pl = pl, .id = 0, .n = 1u << 30};
	CHECK_EQ(pthread_create(&p.tid, NULL, producer, &p), 0);
	/* The sink never reads: wait until the producer stopped making progress (it is blocked,
	 * and so is every stage behind the full links), or 2 s (then cancel anyway). */
	t0 = pl_now_ns();
	for (int stable = 0; stable < 5 && pl_now_ns() - t0 < 2000000000;) {
		unsigned now;

		pt_sleep_ns(20000000);
		now = atomic_load(&p.sent);
		stable = now == last ? stable + 1 : 0;
		last = now;
	}
	t0 = pl_now_ns();
	pl_pipeline_cancel(pl);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, &stage), -ECANCELED); /* every worker joined */
	CHECK(stage == NULL);
	CHECK_EQ(pthread_join(p.tid, NULL), 0);
	CHECK_EQ(p.rc, -ECANCELED);
	/* "Promptly": generous, it only has to have returned at all. */
	CHECK(pl_now_ns() - t0 < 10 * INT64_C(1000000000));
	{
		void *m;

		CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), -ECANCELED);
		CHECK_EQ(pl_pipeline_send(pl, NULL, NULL), -ECANCELED);
	}
	pl_pipeline_free(pl);
	/* Nothing was received: every accepted item was discarded, exactly once. */
	CHECK_EQ(atomic_load(&c.discarded), p.sent);
}

/* A sink blocked on an empty pipeline, and a source blocked on the reorder window. */
static void *sink_thread(void *arg)
{
	pl_pipeline *pl = arg;
	void *m;

	return (void *)(intptr_t)pl_pipeline_recv(pl, &m, NULL);
}

static void test_cancel_idle_sink(const char *kind)
{
	struct cfg c = {.fail_stage = -1};
	struct stage_arg args[4];
	struct topo t = {.stages = 2, .workers = {1, 1}, .producers = 1};
	pl_pipeline *pl = build(kind, 4, false, &t, &c, args);
	pthread_t tid;
	void *ret;

	pt_note("cancel idle sink %s", kind);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	CHECK_EQ(pthread_create(&tid, NULL, sink_thread, pl), 0);
	pt_sleep_ns(20000000);
	pl_pipeline_cancel(pl);
	CHECK_EQ(pthread_join(tid, &ret), 0);
	CHECK_EQ((intptr_t)ret, -ECANCELED);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, NULL), -ECANCELED);
	pl_pipeline_free(pl);
}

/* ---------------------------------------------------------------- stage errors */

static void run_stage_error(const char *kind, size_t depth, bool ordered, const struct topo *t,
			    unsigned fail_stage)
{
	struct cfg c = {.seed = 11,
			.delay_ns = 2000,
			.fail_stage = (int)fail_stage,
			.fail_idx = 37,
			.fail_err = -EBADMSG};
	struct stage_arg args[4];
	struct prod p;
	pl_pipeline *pl = build(kind, depth, ordered, t, &c, args);
	const char *stage = NULL;
	unsigned received = 0;
	void *m;
	int rc;

	pt_note("stage error %s depth %zu %s stage %u", kind, depth,
		ordered ? "ordered" : "unordered", fail_stage);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	p = (struct prod){.pl = pl, .id = 0, .n = 1u << 30};
	CHECK_EQ(pthread_create(&p.tid, NULL, producer, &p), 0);
	while ((rc = pl_pipeline_recv(pl, &m, NULL)) == 0) {
		struct item *it = m;

		CHECK(it->idx != 37);
		free(it);
		received++;
	}
	CHECK_EQ(rc, -ECANCELED);
	CHECK_EQ(pthread_join(p.tid, NULL), 0);
	CHECK_EQ(p.rc, -ECANCELED);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, &stage), -EBADMSG);
	CHECK(stage != NULL && strcmp(stage, stage_names[fail_stage]) == 0);
	pl_pipeline_free(pl);
	CHECK_EQ(received + atomic_load(&c.discarded), p.sent);
}

/* Two stages fail at once: one error wins, and its name comes with it. */
static int fail_fast(pl_ctx *cx, void *in, void **out, void *user)
{
	(void)cx;
	(void)in;
	(void)out;
	return *(int *)user;
}

static void test_first_error_wins(void)
{
	static int e1 = -EIO, e2 = -EPROTO;
	pl_pipeline *pl = pl_pipeline_new(NULL);
	const char *stage;
	int rc;

	pt_note("first error wins");
	CHECK_EQ(pl_pipeline_add_stage(pl, "one", fail_fast, &e1, 1), 0);
	CHECK_EQ(pl_pipeline_add_stage(pl, "two", fail_fast, &e2, 1), 0);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	/* The first item fails in "one": "two" never sees an item. */
	CHECK_EQ(pl_pipeline_send(pl, (void *)1, NULL), 0);
	rc = pl_pipeline_wait(pl, NULL, &stage);
	CHECK_EQ(rc, -EIO);
	CHECK(strcmp(stage, "one") == 0);
	pl_pipeline_free(pl);
}

/* A function that returns an error because it saw the cancellation is not the cause. */
static int fail_on_cancel(pl_ctx *cx, void *in, void **out, void *user)
{
	(void)in;
	(void)out;
	(void)user;
	pl_ctx_wait(cx, -1);
	return -EIO;
}

static void test_error_after_cancel(void)
{
	pl_pipeline *pl = pl_pipeline_new(NULL);
	const char *stage = "unset";

	pt_note("error after cancel");
	CHECK_EQ(pl_pipeline_add_stage(pl, "slow", fail_on_cancel, NULL, 1), 0);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	CHECK_EQ(pl_pipeline_send(pl, NULL, NULL), 0);
	pt_sleep_ns(10000000);
	pl_pipeline_cancel(pl);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, &stage), -ECANCELED);
	CHECK(stage == NULL);
	pl_pipeline_free(pl);
}

/* ---------------------------------------------------------------- parent context */

static void test_parent(void)
{
	struct cfg c = {.fail_stage = -1, .block_in_fn = true};
	struct stage_arg args[4];
	struct topo t = {.stages = 2, .workers = {2, 1}, .producers = 0};
	pl_ctx *parent = pl_ctx_with_cancel(NULL);
	pl_pipeline *pl = build("mutex", 8, false, &t, &c, args);

	pt_note("parent cancel");
	CHECK_EQ(pl_pipeline_start(pl, parent), 0);
	CHECK_EQ(pl_pipeline_send(pl, new_item(0, 0), NULL), 0);
	pl_ctx_cancel(parent);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, NULL), -ECANCELED);
	pl_pipeline_free(pl);
	pl_ctx_release(parent);
	CHECK_EQ(atomic_load(&c.discarded), 1);

	pt_note("parent deadline");
	parent = pl_ctx_with_timeout(NULL, 20000000);
	atomic_store(&c.discarded, 0);
	pl = build("mutex", 8, true, &t, &c, args);
	CHECK_EQ(pl_pipeline_start(pl, parent), 0);
	CHECK_EQ(pl_pipeline_send(pl, new_item(0, 0), NULL), 0);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, NULL), -ETIMEDOUT);
	pl_pipeline_free(pl);
	pl_ctx_release(parent);
	CHECK_EQ(atomic_load(&c.discarded), 1);

	/* A wait bounded by its own context gives up and changes nothing. */
	pt_note("wait timeout");
	atomic_store(&c.discarded, 0);
	pl = build("mutex", 8, false, &t, &c, args);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	CHECK_EQ(pl_pipeline_send(pl, new_item(0, 0), NULL), 0);
	parent = pl_ctx_with_timeout(NULL, 10000000);
	CHECK_EQ(pl_pipeline_wait(pl, parent, NULL), -ETIMEDOUT);
	pl_ctx_release(parent);
	pl_pipeline_free(pl); /* cancels the running pipeline, discards the held item */
	CHECK_EQ(atomic_load(&c.discarded), 1);
}

/* ---------------------------------------------------------------- the reorder window */

static void test_window(const char *kind)
{
	struct cfg c = {.fail_stage = -1, .hold = true, .hold_idx = 0};
	struct stage_arg args[4];
	struct pl_pipeline_opts o = pl_pipeline_opts_default();
	struct pl_pipeline_stats st;
	const unsigned window = 8;
	pl_pipeline *pl;
	pl_ctx *cx;
	void *m;

	pt_note("window %s", kind);
	o.chan_kind = kind;
	o.depth = 64;
	o.ordered = true;
	o.window = window;
	o.discard = on_discard;
	o.discard_user = &c;
	pl = pl_pipeline_new(&o);
	args[0] = (struct stage_arg){.c = &c, .idx = 0};
	CHECK_EQ(pl_pipeline_add_stage(pl, "hold", stage_fn, &args[0], 4), 0);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	/* Item 0 is held in stage 0: the source may admit window items, then must wait,
	 * although link 0 has room for 64. */
	for (unsigned i = 0; i < window; i++)
		CHECK_EQ(pl_pipeline_send(pl, new_item(0, i), NULL), 0);
	cx = pl_ctx_with_timeout(NULL, 30000000);
	{
		struct item *it = new_item(0, window);

		CHECK_EQ(pl_pipeline_send(pl, it, cx), -ETIMEDOUT);
		free(it);
	}
	pl_ctx_release(cx);
	/* Head-of-line: items 1..7 are done, but the sink gets nothing before item 0. */
	cx = pl_ctx_with_timeout(NULL, 30000000);
	CHECK_EQ(pl_pipeline_recv(pl, &m, cx), -ETIMEDOUT);
	pl_ctx_release(cx);
	pl_pipeline_stats(pl, &st);
	CHECK_EQ(st.window, window);
	CHECK(st.window_waits >= 1);
	atomic_store(&c.release, true);
	for (unsigned i = 0; i < window; i++) {
		CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), 0);
		CHECK_EQ(((struct item *)m)->idx, i);
		free(m);
	}
	CHECK_EQ(pl_pipeline_send(pl, new_item(0, window + 1), NULL), 0);
	CHECK_EQ(pl_pipeline_close(pl), 0);
	CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), 0);
	CHECK_EQ(((struct item *)m)->idx, window + 1);
	free(m);
	CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), -EPIPE);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, NULL), 0);
	pl_pipeline_free(pl);
	CHECK_EQ(atomic_load(&c.discarded), 0);
}

/*
 * A send that claimed its sequence number but then failed on link 0 (its context ended while
 * the link was full) leaves a tombstone: the sink skips it and the stream goes on.
 */
static void test_tombstone(const char *kind)
{
	struct cfg c = {.fail_stage = -1, .hold = true, .hold_idx = 0};
	struct stage_arg arg = {.c = &c, .idx = 0};
	struct pl_pipeline_opts o = pl_pipeline_opts_default();
	struct item *it;
	pl_pipeline *pl;
	pl_ctx *cx;
	void *m;

	pt_note("tombstone %s", kind);
	o.chan_kind = kind;
	o.depth = 1;
	o.ordered = true;
	o.window = 64;
	o.source_threads = 1;
	o.discard = on_discard;
	o.discard_user = &c;
	pl = pl_pipeline_new(&o);
	CHECK_EQ(pl_pipeline_add_stage(pl, "hold", stage_fn, &arg, 1), 0);
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	CHECK_EQ(pl_pipeline_send(pl, new_item(0, 0), NULL), 0); /* held by the worker */
	/* Item 1 fills link 0 once the worker took item 0 (it may still be in the link: then
	 * item 1 waits for room, which the worker frees when it takes item 0). */
	CHECK_EQ(pl_pipeline_send(pl, new_item(0, 1), NULL), 0);
	it = new_item(0, 2);
	cx = pl_ctx_with_timeout(NULL, 30000000);
	CHECK_EQ(pl_pipeline_send(pl, it, cx), -ETIMEDOUT); /* claimed seq 2, link 0 full */
	pl_ctx_release(cx);
	free(it);
	atomic_store(&c.release, true);
	CHECK_EQ(pl_pipeline_send(pl, new_item(0, 3), NULL), 0);
	CHECK_EQ(pl_pipeline_close(pl), 0);
	for (unsigned want = 0; want < 4; want++) {
		if (want == 2)
			continue;
		CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), 0);
		CHECK_EQ(((struct item *)m)->idx, want);
		free(m);
	}
	CHECK_EQ(pl_pipeline_recv(pl, &m, NULL), -EPIPE);
	CHECK_EQ(pl_pipeline_wait(pl, NULL, NULL), 0);
	pl_pipeline_free(pl);
	CHECK_EQ(atomic_load(&c.discarded), 0);
}

/* ---------------------------------------------------------------- free while running */

static void test_free_running(const char *kind, bool ordered, const struct topo *t)
{
	struct cfg c = {.fail_stage = -1, .delay_ns = 100000};
	struct stage_arg args[4];
	pl_pipeline *pl = build(kind, 4, ordered, t, &c, args);
	unsigned sent = 0, received = 0;
	void *m;

	pt_note("free running %s %s", kind, ordered ? "ordered" : "unordered");
	CHECK_EQ(pl_pipeline_start(pl, NULL), 0);
	for (unsigned i = 0; i < 12; i++) {
		CHECK_EQ(pl_pipeline_send(pl, new_item(0, i), NULL), 0);
		sent++;
	}
	if (pl_pipeline_recv(pl, &m, NULL) == 0) {
		free(m);
		received++;
	}
	pl_pipeline_free(pl);
	CHECK_EQ(atomic_load(&c.discarded) + received, sent);
}

int main(void)
{
	uint64_t seed = pt_seed();
	const char *const *kinds = pl_chan_kinds();

	pt_watchdog_start(120);
	test_args();
	test_spsc_placement();
	test_first_error_wins();
	test_error_after_cancel();
	test_parent();
	for (const char *const *k = kinds; *k != NULL; k++) {
		const bool spsc = pt_kind_spsc(*k);
		/* A kind that serves only 1:1 links gets a chain of single workers. */
		const struct topo wide = {.stages = 3, .workers = {1, 3, 2}, .producers = 1};
		const struct topo many = {.stages = 2, .workers = {2, 2}, .producers = 3};
		const struct topo chain = {.stages = 3, .workers = {1, 1, 1}, .producers = 1};
		const struct topo *one = spsc ? &chain : &wide;

		if (!pt_kind_can(*k, 1)) {
			fprintf(stderr, "kind %s not built here: skipped\n", *k);
			continue;
		}
		for (int ord = 0; ord < 2; ord++) {
			run_drain(*k, 1, ord, one, 300, seed);
			run_drain(*k, 8, ord, one, 300, seed + 1);
			if (!spsc)
				run_drain(*k, 4, ord, &many, 150, seed + 2);
			if (pt_kind_can(*k, 0))
				run_drain(*k, 0, ord, one, 200, seed + 3);
			run_cancel_blocked(*k, 2, ord, one, false);
			run_cancel_blocked(*k, 2, ord, one, true);
			run_stage_error(*k, 4, ord, one, 1);
			run_stage_error(*k, 4, ord, one, 2);
			test_free_running(*k, ord, one);
		}
		run_exactly_once(*k, 2, one, 2000);
		if (pt_kind_can(*k, PL_CHAN_UNBOUNDED))
			run_drain(*k, PL_CHAN_UNBOUNDED, false, one, 300, seed + 4);
		test_tombstone(*k);
		if (!spsc) {
			test_cancel_idle_sink(*k);
			test_window(*k);
		}
	}
	printf("test_pipeline: ok\n");
	return 0;
}
