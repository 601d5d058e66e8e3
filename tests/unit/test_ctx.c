/* SPDX-License-Identifier: MIT */
/*
 * The context tree against Go's context semantics (context/context_test.go):
 * synchronous propagation with the same err and cause, born-done children, err that never
 * changes, concurrent cancels of one tree, first cause wins, release detaching from a
 * long-lived parent, earliest deadline wins, past deadlines, pl_ctx_wait, the internal watch
 * list, reference balance (ASan's leak check), deep trees, NULL arguments.
 *
 * Times here are only deadlines given to the code under test and sleeps that make a deadline
 * pass; nothing asserts how long anything took. Threads that wait for a start signal spin with
 * sched_yield() (few cores, many threads). Fewer threads and rounds under ThreadSanitizer.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <patlab/ctx.h>

#include "check.h"
#include "helpers.h"
#include "context/ctx_debug.h"
#include "context/ctx_watch.h"

#define MS 1000000LL

static int nthreads(int n)
{
	return pt_tsan() ? (n > 3 ? 3 : n) : n;
}

static long iters(long n)
{
	long v = (long)(n * pt_scale());

	if (pt_tsan())
		v /= 10;
	return v < 1 ? 1 : v;
}

static void join(pthread_t t)
{
	if (pthread_join(t, NULL) != 0)
		pt_fail(__FILE__, __LINE__, "pthread_join failed");
}

static void check_live(pl_ctx *c)
{
	CHECK_EQ(pl_ctx_err(c), 0);
	CHECK_EQ(pl_ctx_cause(c), 0);
}

static void check_done(pl_ctx *c, int err, int cause)
{
	CHECK_EQ(pl_ctx_err(c), err);
	CHECK_EQ(pl_ctx_cause(c), cause);
}

/* ------------------------------------------------------------------ NULL and background */

static void test_null_and_background(void)
{
	pl_ctx *bg = pl_ctx_background();

	pt_note("null and background");
	CHECK(bg != NULL);
	CHECK(pl_ctx_background() == bg);
	CHECK_EQ(pl_ctx_err(NULL), 0);
	CHECK_EQ(pl_ctx_cause(NULL), 0);
	CHECK_EQ(pl_ctx_deadline(NULL), INT64_MAX);
	CHECK(pl_ctx_retain(NULL) == NULL);
	pl_ctx_release(NULL);
	pl_ctx_cancel(NULL);
	pl_ctx_cancel_cause(NULL, 5);
	CHECK_EQ(pl_ctx_wait(NULL, 0), 0);
	CHECK_EQ(pl_ctx_wait(NULL, 2 * MS), 0);

	/* Background: never done, whatever is done to it; retain/release are no-ops. */
	for (int i = 0; i < 10; i++)
		CHECK(pl_ctx_retain(bg) == bg);
	for (int i = 0; i < 20; i++)
		pl_ctx_release(bg);
	pl_ctx_cancel(bg);
	pl_ctx_cancel_cause(bg, 9);
	check_live(bg);
	CHECK_EQ(pl_ctx_deadline(bg), INT64_MAX);
	CHECK_EQ(pl_ctx_wait(bg, 0), 0);
	CHECK_EQ(pl_ctx_wait(bg, 2 * MS), 0);
	CHECK_EQ(pl__ctx_nchildren(bg), 0);
	CHECK_EQ(pl__ctx_nchildren(NULL), 0);

	/* NULL parent means background; children of either are not listed anywhere. */
	pl_ctx *a = pl_ctx_with_cancel(NULL);
	pl_ctx *b = pl_ctx_with_cancel(bg);
	CHECK(a != NULL && b != NULL && a != b);
	check_live(a);
	check_live(b);
	CHECK_EQ(pl_ctx_deadline(a), INT64_MAX);
	CHECK_EQ(pl__ctx_nchildren(bg), 0);
	pl_ctx_cancel(a);
	check_done(a, -ECANCELED, -ECANCELED);
	check_live(b);
	check_live(bg);
	pl_ctx_release(a);
	pl_ctx_release(b);
}

/* ------------------------------------------------------------------ propagation */

/* A tree: node 0 the root, node i's parent (i - 1) / fanout. */
struct tree {
	int n;
	pl_ctx **node;
	int *parent;
};

static void tree_build(struct tree *t, pl_ctx *root_parent, int n, int fanout)
{
	t->n = n;
	t->node = calloc((size_t)n, sizeof(*t->node));
	t->parent = calloc((size_t)n, sizeof(*t->parent));
	CHECK(t->node != NULL && t->parent != NULL);
	t->parent[0] = -1;
	t->node[0] = pl_ctx_with_cancel(root_parent);
	CHECK(t->node[0] != NULL);
	for (int i = 1; i < n; i++) {
		t->parent[i] = (i - 1) / fanout;
		t->node[i] = pl_ctx_with_cancel(t->node[t->parent[i]]);
		CHECK(t->node[i] != NULL);
	}
}

/* Release in a shuffled order: a parent may go before its children (they keep it alive). */
static void tree_free(struct tree *t, uint64_t *rng)
{
	for (int i = t->n - 1; i > 0; i--) {
		int j = (int)(pt_rand(rng) % (uint64_t)(i + 1));
		pl_ctx *x = t->node[i];

		t->node[i] = t->node[j];
		t->node[j] = x;
	}
	for (int i = 0; i < t->n; i++)
		pl_ctx_release(t->node[i]);
	free(t->node);
	free(t->parent);
}

static bool in_subtree(const struct tree *t, int i, int root)
{
	for (; i >= 0; i = t->parent[i])
		if (i == root)
			return true;
	return false;
}

static void test_propagation(uint64_t *rng)
{
	struct tree t;

	pt_note("propagation: cancel_cause on the root");
	tree_build(&t, NULL, 121, 3);
	for (int i = 0; i < t.n; i++)
		check_live(t.node[i]);
	CHECK_EQ(pl__ctx_nchildren(t.node[0]), 3);
	pl_ctx_cancel_cause(t.node[0], 42);
	/* Synchronous: every descendant is done the moment cancel returns. */
	for (int i = 0; i < t.n; i++)
		check_done(t.node[i], -ECANCELED, 42);
	for (int i = 0; i < t.n; i++)
		CHECK_EQ(pl__ctx_nchildren(t.node[i]), 0);
	/* Idempotent; later causes do not count. */
	pl_ctx_cancel_cause(t.node[0], 7);
	pl_ctx_cancel(t.node[5]);
	for (int i = 0; i < t.n; i++)
		check_done(t.node[i], -ECANCELED, 42);
	tree_free(&t, rng);

	pt_note("propagation: cancel of an inner node");
	tree_build(&t, NULL, 121, 3);
	int mid = 2;
	pl_ctx_cancel(t.node[mid]);
	for (int i = 0; i < t.n; i++) {
		if (in_subtree(&t, i, mid))
			check_done(t.node[i], -ECANCELED, -ECANCELED);
		else
			check_live(t.node[i]);
	}
	/* The cancelled child left its parent's list (Go's removeChild). */
	CHECK_EQ(pl__ctx_nchildren(t.node[0]), 2);
	/* Cancelling the root later leaves the earlier-cancelled subtree's cause alone. */
	pl_ctx_cancel_cause(t.node[0], 3);
	for (int i = 0; i < t.n; i++) {
		if (in_subtree(&t, i, mid))
			check_done(t.node[i], -ECANCELED, -ECANCELED);
		else
			check_done(t.node[i], -ECANCELED, 3);
	}
	tree_free(&t, rng);
}

/* ------------------------------------------------------------------ born done */

static void test_born_done(void)
{
	pt_note("born done: cancelled parent");
	pl_ctx *p = pl_ctx_with_cancel(NULL);
	CHECK(p != NULL);
	pl_ctx_cancel_cause(p, 11);
	pl_ctx *c = pl_ctx_with_cancel(p);
	pl_ctx *d = pl_ctx_with_timeout(p, 1000 * MS);
	CHECK(c != NULL && d != NULL);
	check_done(c, -ECANCELED, 11);
	check_done(d, -ECANCELED, 11);
	CHECK_EQ(pl__ctx_nchildren(p), 0);
	pl_ctx *g = pl_ctx_with_cancel(c);
	check_done(g, -ECANCELED, 11);
	pl_ctx_release(g);
	pl_ctx_release(c);
	pl_ctx_release(d);
	pl_ctx_release(p);

	pt_note("born done: parent past its deadline, never read");
	p = pl_ctx_with_timeout(NULL, 1 * MS);
	CHECK(p != NULL);
	pt_sleep_ns(5 * MS);
	c = pl_ctx_with_cancel(p);
	CHECK(c != NULL);
	check_done(c, -ETIMEDOUT, -ETIMEDOUT);
	check_done(p, -ETIMEDOUT, -ETIMEDOUT);
	CHECK_EQ(pl__ctx_nchildren(p), 0);
	pl_ctx_release(c);
	pl_ctx_release(p);

	pt_note("born done: parent with a deadline in the past");
	p = pl_ctx_with_deadline(NULL, pl_now_ns() - 1);
	c = pl_ctx_with_cancel(p);
	CHECK(p != NULL && c != NULL);
	check_done(c, -ETIMEDOUT, -ETIMEDOUT);
	pl_ctx_release(p);
	check_done(c, -ETIMEDOUT, -ETIMEDOUT);
	pl_ctx_release(c);
}

/* ------------------------------------------------------------------ err never changes */

static void test_err_never_changes(void)
{
	pt_note("err never changes: timeout observed, then cancel");
	pl_ctx *p = pl_ctx_with_cancel(NULL);
	pl_ctx *c = pl_ctx_with_timeout(p, 1 * MS);
	CHECK(p != NULL && c != NULL);
	pt_sleep_ns(5 * MS);
	check_done(c, -ETIMEDOUT, -ETIMEDOUT);
	pl_ctx_cancel_cause(c, 5);
	check_done(c, -ETIMEDOUT, -ETIMEDOUT);
	pl_ctx_cancel_cause(p, 6);
	check_done(p, -ECANCELED, 6);
	check_done(c, -ETIMEDOUT, -ETIMEDOUT);
	pl_ctx_release(c);
	pl_ctx_release(p);

	pt_note("err never changes: timeout passed unobserved, then cancel of the parent");
	p = pl_ctx_with_cancel(NULL);
	c = pl_ctx_with_timeout(p, 1 * MS);
	pl_ctx *g = pl_ctx_with_cancel(c);
	CHECK(p != NULL && c != NULL && g != NULL);
	pt_sleep_ns(5 * MS);
	/* Any reader could already have seen -ETIMEDOUT on c and g: cancel must agree. */
	pl_ctx_cancel_cause(p, 8);
	check_done(p, -ECANCELED, 8);
	check_done(c, -ETIMEDOUT, -ETIMEDOUT);
	check_done(g, -ETIMEDOUT, -ETIMEDOUT);
	pl_ctx_release(c);
	pl_ctx_release(g);
	pl_ctx_release(p);

	pt_note("err never changes: cancelled, then the deadline passes");
	c = pl_ctx_with_timeout(NULL, 3 * MS);
	CHECK(c != NULL);
	pl_ctx_cancel(c);
	check_done(c, -ECANCELED, -ECANCELED);
	pt_sleep_ns(6 * MS);
	check_done(c, -ECANCELED, -ECANCELED);
	CHECK_EQ(pl_ctx_wait(c, -1), -ECANCELED);
	pl_ctx_release(c);
}

/* ------------------------------------------------------------------ deadlines */

static void test_deadlines(void)
{
	int64_t now = pl_now_ns();

	pt_note("deadlines: earliest wins");
	pl_ctx *p = pl_ctx_with_deadline(NULL, now + 1000 * MS);
	pl_ctx *late = pl_ctx_with_deadline(p, now + 10000 * MS);
	pl_ctx *early = pl_ctx_with_deadline(p, now + 500 * MS);
	pl_ctx *plain = pl_ctx_with_cancel(p);
	pl_ctx *none = pl_ctx_with_deadline(plain, INT64_MAX);
	pl_ctx *under_early = pl_ctx_with_timeout(early, 100000 * MS);
	CHECK(p && late && early && plain && none && under_early);
	CHECK_EQ(pl_ctx_deadline(p), now + 1000 * MS);
	CHECK_EQ(pl_ctx_deadline(late), now + 1000 * MS);
	CHECK_EQ(pl_ctx_deadline(early), now + 500 * MS);
	CHECK_EQ(pl_ctx_deadline(plain), now + 1000 * MS);
	CHECK_EQ(pl_ctx_deadline(none), now + 1000 * MS);
	CHECK_EQ(pl_ctx_deadline(under_early), now + 500 * MS);
	check_live(late);
	check_live(under_early);
	/* A deadline child is cancellable too, and only its own subtree. */
	pl_ctx_cancel(early);
	check_done(under_early, -ECANCELED, -ECANCELED);
	check_live(p);
	check_live(late);
	pl_ctx_release(under_early);
	pl_ctx_release(none);
	pl_ctx_release(plain);
	pl_ctx_release(early);
	pl_ctx_release(late);
	pl_ctx_release(p);

	pt_note("deadlines: saturation");
	pl_ctx *far = pl_ctx_with_timeout(NULL, INT64_MAX);
	pl_ctx *far2 = pl_ctx_with_timeout(NULL, INT64_MAX - 1);
	CHECK(far && far2);
	CHECK_EQ(pl_ctx_deadline(far), INT64_MAX);
	CHECK_EQ(pl_ctx_deadline(far2), INT64_MAX);
	check_live(far);
	check_live(far2);
	pl_ctx_release(far);
	pl_ctx_release(far2);

	pt_note("deadlines: past is done at once");
	pl_ctx *parent = pl_ctx_with_cancel(NULL);
	CHECK(parent != NULL);
	pl_ctx *past[5] = {
	    pl_ctx_with_deadline(NULL, pl_now_ns() - 1), pl_ctx_with_deadline(parent, pl_now_ns()),
	    pl_ctx_with_deadline(parent, INT64_MIN),	 pl_ctx_with_timeout(parent, 0),
	    pl_ctx_with_timeout(parent, -5 * MS),
	};
	for (int i = 0; i < 5; i++) {
		CHECK(past[i] != NULL);
		check_done(past[i], -ETIMEDOUT, -ETIMEDOUT);
		CHECK_EQ(pl_ctx_wait(past[i], -1), -ETIMEDOUT);
		pl_ctx_cancel_cause(past[i], 1);
		check_done(past[i], -ETIMEDOUT, -ETIMEDOUT);
	}
	/* Born done: not linked; the parent is unaffected. */
	CHECK_EQ(pl__ctx_nchildren(parent), 0);
	check_live(parent);
	for (int i = 0; i < 5; i++)
		pl_ctx_release(past[i]);

	pt_note("deadlines: a short timeout passes");
	pl_ctx *soon = pl_ctx_with_timeout(parent, 2 * MS);
	CHECK(soon != NULL);
	CHECK_EQ(pl_ctx_wait(soon, -1), -ETIMEDOUT);
	check_done(soon, -ETIMEDOUT, -ETIMEDOUT);
	check_live(parent);
	pl_ctx_release(soon);
	pl_ctx_release(parent);
}

/* A watch that holds the cancel walk (under the root's lock) until a deadline has passed. */
struct hold {
	struct pl__ctx_watch w;
	int64_t until;
};

static void hold_until(struct pl__ctx_watch *w)
{
	struct hold *h = w->arg;

	/* Test only: a real watch must not block. No context call is made here. */
	while (pl_now_ns() <= h->until)
		pt_sleep_ns(MS);
}

static void test_deadline_during_walk(void)
{
	pt_note("deadline passes while the cancel walk is under way");
	pl_ctx *root = pl_ctx_with_cancel(NULL);
	pl_ctx *a = pl_ctx_with_timeout(root, 5 * MS);
	pl_ctx *b = pl_ctx_with_cancel(a);
	pl_ctx *c = pl_ctx_with_cancel(root);
	CHECK(root && a && b && c);
	struct hold h = {.w = {.fn = hold_until}, .until = pl_ctx_deadline(a)};
	h.w.arg = &h;
	CHECK_EQ(pl__ctx_watch(root, &h.w), 0);
	pl_ctx_cancel_cause(root, 9);
	/* root was settled before its watch ran; a and b only after their deadline. */
	check_done(root, -ECANCELED, 9);
	check_done(a, -ETIMEDOUT, -ETIMEDOUT);
	check_done(b, -ETIMEDOUT, -ETIMEDOUT);
	check_done(c, -ECANCELED, 9);
	pl__ctx_unwatch(root, &h.w);
	pl_ctx_release(b);
	pl_ctx_release(a);
	pl_ctx_release(c);
	pl_ctx_release(root);
}

/* ------------------------------------------------------------------ concurrent cancels */

struct race {
	struct tree *t;
	_Atomic int go;
	_Atomic int ready;
	int nthreads;
	uint64_t seed;
	bool deadlines; /* -ETIMEDOUT is a possible outcome too */
};

struct racer {
	struct race *r;
	int idx;
};

static void race_wait_go(struct race *r)
{
	atomic_fetch_add(&r->ready, 1);
	while (!atomic_load(&r->go))
		sched_yield();
}

/* Cancel every node in a random order with this thread's cause (100 + idx). */
static void *cancel_racer(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	int n = r->t->n;
	int *order = malloc(sizeof(int) * (size_t)n);
	uint64_t rng = r->seed + (uint64_t)me->idx * 7919;

	CHECK(order != NULL);
	for (int i = 0; i < n; i++)
		order[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(pt_rand(&rng) % (uint64_t)(i + 1));
		int x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
	race_wait_go(r);
	for (int i = 0; i < n; i++) {
		pl_ctx *c = r->t->node[order[i]];
		pl_ctx_cancel_cause(c, 100 + me->idx);
		/* Synchronous, whoever else is walking the tree: c's whole subtree is done now. */
		for (int j = 0; j < n; j++) {
			if (!in_subtree(r->t, j, order[i]))
				continue;
			pl_ctx *d = r->t->node[j];
			CHECK_EQ(pl_ctx_err(d), -ECANCELED);
			CHECK(pl_ctx_cause(d) >= 100 && pl_ctx_cause(d) < 100 + r->nthreads);
		}
	}
	free(order);
	return NULL;
}

/* Read err and cause of every node over and over: once non-zero, never changes. */
static void *observer(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	int n = r->t->n;
	int *err = calloc((size_t)n, sizeof(int));
	int *cause = calloc((size_t)n, sizeof(int));
	int done = 0;

	CHECK(err != NULL && cause != NULL);
	race_wait_go(r);
	while (done < n) {
		done = 0;
		for (int i = 0; i < n; i++) {
			int e = pl_ctx_err(r->t->node[i]);
			int k = pl_ctx_cause(r->t->node[i]);
			if (err[i] != 0) {
				CHECK_EQ(e, err[i]);
				CHECK_EQ(k, cause[i]);
			}
			if (e != 0) {
				CHECK(e == -ECANCELED || (r->deadlines && e == -ETIMEDOUT));
				/* Read after err: the cause is there too. */
				CHECK(k != 0);
				err[i] = e;
				cause[i] = k;
				done++;
			}
		}
	}
	free(err);
	free(cause);
	return NULL;
}

static void test_concurrent_cancel(uint64_t *rng)
{
	int nc = nthreads(4);
	long rounds = iters(60);

	for (long round = 0; round < rounds; round++) {
		struct tree t;
		struct race r = {.t = &t, .nthreads = nc, .seed = pt_rand(rng)};
		struct racer who[8];
		pthread_t th[8];

		pt_note("concurrent cancel: round %ld", round);
		tree_build(&t, NULL, 100, 1 + (int)(round % 4));
		atomic_init(&r.go, 0);
		atomic_init(&r.ready, 0);
		for (int i = 0; i < nc; i++) {
			who[i] = (struct racer){.r = &r, .idx = i};
			pt_start(&th[i], cancel_racer, &who[i]);
		}
		who[nc] = (struct racer){.r = &r, .idx = nc};
		pt_start(&th[nc], observer, &who[nc]);
		while (atomic_load(&r.ready) < nc + 1)
			sched_yield();
		atomic_store(&r.go, 1);
		for (int i = 0; i <= nc; i++)
			join(th[i]);
		/* Every node done, with one racer's cause, and no child lists left. */
		for (int i = 0; i < t.n; i++) {
			CHECK_EQ(pl_ctx_err(t.node[i]), -ECANCELED);
			int k = pl_ctx_cause(t.node[i]);
			CHECK(k >= 100 && k < 100 + nc);
			CHECK_EQ(pl__ctx_nchildren(t.node[i]), 0);
		}
		tree_free(&t, rng);
	}
}

/* Two threads race cancel_cause on the root only: every descendant agrees with the winner. */
struct cause_race {
	pl_ctx *root;
	_Atomic int go;
	int cause;
};

static void *cause_racer(void *arg)
{
	struct cause_race *cr = arg;

	while (!atomic_load(&cr->go))
		sched_yield();
	pl_ctx_cancel_cause(cr->root, cr->cause);
	return NULL;
}

static void test_first_cause_wins(uint64_t *rng)
{
	long rounds = iters(300);

	for (long round = 0; round < rounds; round++) {
		struct tree t;
		struct cause_race a, b;
		pthread_t ta, tb;

		pt_note("first cause wins: round %ld", round);
		tree_build(&t, NULL, 40, 3);
		a = (struct cause_race){.root = t.node[0], .cause = 1};
		b = (struct cause_race){.root = t.node[0], .cause = 2};
		atomic_init(&a.go, 0);
		atomic_init(&b.go, 0);
		pt_start(&ta, cause_racer, &a);
		pt_start(&tb, cause_racer, &b);
		atomic_store(&b.go, 1);
		atomic_store(&a.go, 1);
		join(ta);
		join(tb);
		int winner = pl_ctx_cause(t.node[0]);
		CHECK(winner == 1 || winner == 2);
		for (int i = 0; i < t.n; i++)
			check_done(t.node[i], -ECANCELED, winner);
		tree_free(&t, rng);
	}
}

/*
 * A deadline passing while a cancel walks the tree: the walk read the clock before the
 * deadline, an observer reads a node after it and before the walk reaches it. The node must
 * keep the -ETIMEDOUT the observer saw. The deadline is placed at random around the moment
 * the cancel runs, adapting to how long building and cancelling took in the previous round.
 */
static void test_deadline_cancel_race(uint64_t *rng)
{
	long rounds = iters(150);
	int64_t span = 1000 * 1000;

	for (long round = 0; round < rounds; round++) {
		struct tree t;
		struct race r = {.t = &t, .nthreads = 1, .deadlines = true};
		struct racer who = {.r = &r, .idx = 0};
		pthread_t th;

		pt_note("deadline/cancel race: round %ld", round);
		int64_t t0 = pl_now_ns();
		pl_ctx *root =
		    pl_ctx_with_deadline(NULL, t0 + (int64_t)(pt_rand(rng) % (uint64_t)span));
		CHECK(root != NULL);
		tree_build(&t, root, pt_tsan() ? 300 : 1000, 4);
		atomic_init(&r.go, 0);
		atomic_init(&r.ready, 0);
		pt_start(&th, observer, &who);
		while (atomic_load(&r.ready) < 1)
			sched_yield();
		atomic_store(&r.go, 1);
		pl_ctx_cancel(root);
		int64_t took = pl_now_ns() - t0;
		span = took > 500 ? 2 * took : 1000;
		join(th);
		/* A child of a timed-out node timed out too; causes read as the errors. */
		for (int i = 0; i < t.n; i++) {
			int e = pl_ctx_err(t.node[i]);
			pl_ctx *p = i ? t.node[t.parent[i]] : root;
			CHECK(e == -ECANCELED || e == -ETIMEDOUT);
			CHECK_EQ(pl_ctx_cause(t.node[i]), e);
			if (pl_ctx_err(p) == -ETIMEDOUT)
				CHECK_EQ(e, -ETIMEDOUT);
		}
		tree_free(&t, rng);
		pl_ctx_release(root);
	}
}

/* ------------------------------------------------------------------ create vs cancel race */

struct spawn {
	pl_ctx *parent;
	_Atomic int cancelled; /* set by the canceller once pl_ctx_cancel() returned */
	long made;
};

static void *spawner(void *arg)
{
	struct spawn *s = arg;

	for (;;) {
		int after = atomic_load(&s->cancelled);
		pl_ctx *c = pl_ctx_with_cancel(s->parent);
		CHECK(c != NULL);
		s->made++;
		if (after) {
			/* Created after the cancel returned: born done with the parent's cause. */
			check_done(c, -ECANCELED, 77);
			pl_ctx_release(c);
			break;
		}
		pl_ctx_release(c);
	}
	return NULL;
}

static void test_create_cancel_race(void)
{
	long rounds = iters(100);

	for (long round = 0; round < rounds; round++) {
		struct spawn s = {.parent = pl_ctx_with_cancel(NULL)};
		pthread_t th;
		pl_ctx *kept[16];

		pt_note("create/cancel race: round %ld", round);
		CHECK(s.parent != NULL);
		atomic_init(&s.cancelled, 0);
		pt_start(&th, spawner, &s);
		/* Children created concurrently with the spawner's: all must see the cancel. */
		for (int i = 0; i < 16; i++) {
			kept[i] = pl_ctx_with_cancel(s.parent);
			CHECK(kept[i] != NULL);
		}
		pl_ctx_cancel_cause(s.parent, 77);
		atomic_store(&s.cancelled, 1);
		for (int i = 0; i < 16; i++)
			check_done(kept[i], -ECANCELED, 77);
		join(th);
		CHECK(s.made >= 1);
		for (int i = 0; i < 16; i++)
			pl_ctx_release(kept[i]);
		CHECK_EQ(pl__ctx_nchildren(s.parent), 0);
		pl_ctx_release(s.parent);
	}
}

/* ------------------------------------------------------------------ release detaches */

struct churn {
	pl_ctx *parent;
	long n;
	uint64_t seed;
};

static void *churner(void *arg)
{
	struct churn *ch = arg;
	uint64_t rng = ch->seed;

	for (long i = 0; i < ch->n; i++) {
		pl_ctx *c = pl_ctx_with_cancel(ch->parent);
		CHECK(c != NULL);
		CHECK_EQ(pl_ctx_err(c), 0);
		switch (pt_rand(&rng) % 4) {
		case 0:
			pl_ctx_cancel(c);
			break;
		case 1: {
			pl_ctx *g = pl_ctx_with_timeout(c, 1000 * MS);
			CHECK(g != NULL);
			pl_ctx_release(g);
			break;
		}
		default:
			break;
		}
		pl_ctx_release(c);
	}
	return NULL;
}

static void test_release_detaches(uint64_t *rng)
{
	pt_note("release detaches: one thread, 100k children");
	pl_ctx *p = pl_ctx_with_cancel(NULL);
	CHECK(p != NULL);
	long n = iters(100000);
	for (long i = 0; i < n; i++) {
		pl_ctx *c = pl_ctx_with_cancel(p);
		CHECK(c != NULL);
		pl_ctx_release(c);
		if (i % 1024 == 0)
			CHECK_EQ(pl__ctx_nchildren(p), 0);
	}
	CHECK_EQ(pl__ctx_nchildren(p), 0);
	check_live(p);

	pt_note("release detaches: several threads");
	int nt = nthreads(4);
	struct churn ch[4];
	pthread_t th[4];
	for (int i = 0; i < nt; i++) {
		ch[i] = (struct churn){.parent = p, .n = iters(20000), .seed = pt_rand(rng)};
		pt_start(&th[i], churner, &ch[i]);
	}
	for (int i = 0; i < nt; i++)
		join(th[i]);
	CHECK_EQ(pl__ctx_nchildren(p), 0);
	check_live(p);

	pt_note("release does not cancel");
	pl_ctx *c = pl_ctx_with_cancel(p);
	pl_ctx *g = pl_ctx_with_cancel(c);
	CHECK(c != NULL && g != NULL);
	CHECK(pl_ctx_retain(c) == c);
	pl_ctx_release(c);
	check_live(c);
	pl_ctx_release(c); /* g still holds c: c stays in the tree, live */
	check_live(g);
	CHECK_EQ(pl__ctx_nchildren(p), 1);
	pl_ctx_cancel_cause(p, 4);
	check_done(g, -ECANCELED, 4);
	pl_ctx_release(g); /* frees g, then c */
	CHECK_EQ(pl__ctx_nchildren(p), 0);

	pt_note("retain/release balance");
	pl_ctx *q = pl_ctx_with_timeout(NULL, 1000 * MS);
	CHECK(q != NULL);
	for (int i = 0; i < 5; i++)
		CHECK(pl_ctx_retain(q) == q);
	for (int i = 0; i < 6; i++)
		pl_ctx_release(q); /* the sixth frees it: ASan's leak check sees any imbalance */
	pl_ctx_release(p);
}

/* Children released by another thread while their parent's cancel walks them. */
struct releaser {
	pl_ctx **kids;
	int n;
	struct race *r;
};

static void *release_all(void *arg)
{
	struct releaser *rl = arg;

	race_wait_go(rl->r);
	for (int i = 0; i < rl->n; i++)
		pl_ctx_release(rl->kids[i]);
	return NULL;
}

static void test_release_during_cancel(void)
{
	long rounds = iters(60);
	int n = pt_tsan() ? 200 : 2000;
	pl_ctx **kids = malloc(sizeof(*kids) * (size_t)n);
	pl_ctx **grand = malloc(sizeof(*grand) * (size_t)n);

	CHECK(kids != NULL && grand != NULL);
	for (long round = 0; round < rounds; round++) {
		struct race r;
		struct releaser rl = {.kids = kids, .n = n, .r = &r};
		pthread_t th;

		pt_note("release during cancel: round %ld", round);
		pl_ctx *p = pl_ctx_with_cancel(NULL);
		CHECK(p != NULL);
		for (int i = 0; i < n; i++) {
			kids[i] = pl_ctx_with_cancel(p);
			CHECK(kids[i] != NULL);
			/* Every 8th child keeps a grandchild, which keeps the child alive. */
			grand[i] = i % 8 ? NULL : pl_ctx_with_cancel(kids[i]);
		}
		atomic_init(&r.go, 0);
		atomic_init(&r.ready, 0);
		pt_start(&th, release_all, &rl);
		while (atomic_load(&r.ready) < 1)
			sched_yield();
		atomic_store(&r.go, 1);
		pl_ctx_cancel_cause(p, 13);
		for (int i = 0; i < n; i += 8)
			check_done(grand[i], -ECANCELED, 13);
		join(th);
		CHECK_EQ(pl__ctx_nchildren(p), 0);
		for (int i = 0; i < n; i += 8)
			pl_ctx_release(grand[i]);
		pl_ctx_release(p);
	}
	free(kids);
	free(grand);
}

/* ------------------------------------------------------------------ deep trees */

static void test_deep_chain(void)
{
	int depth = pt_tsan() ? 20000 : 100000;
	pl_ctx **chain = malloc(sizeof(*chain) * (size_t)depth);

	pt_note("deep chain: %d levels", depth);
	CHECK(chain != NULL);
	for (int i = 0; i < depth; i++) {
		chain[i] = pl_ctx_with_cancel(i ? chain[i - 1] : NULL);
		CHECK(chain[i] != NULL);
	}
	/* The walk does not recurse: no stack overflow. */
	pl_ctx_cancel_cause(chain[0], 12);
	check_done(chain[depth - 1], -ECANCELED, 12);
	check_done(chain[depth / 2], -ECANCELED, 12);
	/* Release root-first: the last release frees the whole chain without recursion. */
	for (int i = 0; i < depth; i++)
		pl_ctx_release(chain[i]);

	for (int i = 0; i < depth; i++) {
		chain[i] = pl_ctx_with_cancel(i ? chain[i - 1] : NULL);
		CHECK(chain[i] != NULL);
	}
	for (int i = 0; i < depth - 1; i++)
		pl_ctx_release(chain[i]);
	check_live(chain[depth - 1]);
	pl_ctx_release(chain[depth - 1]);
	free(chain);
}

/* ------------------------------------------------------------------ pl_ctx_wait */

struct waiter {
	pl_ctx *c;
	pthread_t th;
	int rc;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->rc = pl_ctx_wait(w->c, -1);
	return NULL;
}

static void test_wait(void)
{
	pthread_t th;

	pt_note("wait: live with a timeout returns 0");
	pl_ctx *c = pl_ctx_with_cancel(NULL);
	CHECK(c != NULL);
	CHECK_EQ(pl_ctx_wait(c, 0), 0);
	CHECK_EQ(pl_ctx_wait(c, 3 * MS), 0);
	check_live(c);

	pt_note("wait: woken by a cancel from another thread");
	struct pt_canceller d = {.cx = c, .after_ns = 10 * MS, .cause = 21};
	pt_start(&th, pt_cancel_later, &d);
	CHECK_EQ(pl_ctx_wait(c, -1), -ECANCELED);
	join(th);
	CHECK_EQ(pl_ctx_cause(c), 21);
	CHECK_EQ(pl_ctx_wait(c, -1), -ECANCELED);
	CHECK_EQ(pl_ctx_wait(c, 0), -ECANCELED);
	pl_ctx_release(c);

	pt_note("wait: woken by a cancel of an ancestor");
	pl_ctx *root = pl_ctx_with_cancel(NULL);
	pl_ctx *mid = pl_ctx_with_timeout(root, 100000 * MS);
	pl_ctx *leaf = pl_ctx_with_cancel(mid);
	CHECK(root && mid && leaf);
	d = (struct pt_canceller){.cx = root, .after_ns = 10 * MS, .cause = 0};
	pt_start(&th, pt_cancel_later, &d);
	/* A long timeout that is not reached: the cancel comes first. */
	CHECK_EQ(pl_ctx_wait(leaf, 100000 * MS), -ECANCELED);
	join(th);
	check_done(leaf, -ECANCELED, -ECANCELED);
	pl_ctx_release(leaf);
	pl_ctx_release(mid);
	pl_ctx_release(root);

	pt_note("wait: the deadline passes (no watch fires; the sleep is bounded)");
	pl_ctx *p = pl_ctx_with_timeout(NULL, 10 * MS);
	pl_ctx *k = pl_ctx_with_cancel(p);
	CHECK(p && k);
	CHECK_EQ(pl_ctx_wait(k, -1), -ETIMEDOUT);
	check_done(k, -ETIMEDOUT, -ETIMEDOUT);
	pl_ctx_release(k);
	pl_ctx_release(p);

	pt_note("wait: own timeout before the deadline");
	p = pl_ctx_with_timeout(NULL, 100000 * MS);
	CHECK(p != NULL);
	CHECK_EQ(pl_ctx_wait(p, 2 * MS), 0);
	check_live(p);
	pl_ctx_release(p);

	pt_note("wait: many waiters on a tree, one cancel");
	root = pl_ctx_with_cancel(NULL);
	CHECK(root != NULL);
	struct waiter ws[4];
	for (int i = 0; i < 4; i++) {
		ws[i].c = i % 2 ? pl_ctx_with_cancel(root) : pl_ctx_retain(root);
		CHECK(ws[i].c != NULL);
		pt_start(&ws[i].th, waiter_main, &ws[i]);
	}
	pt_sleep_ns(5 * MS);
	pl_ctx_cancel_cause(root, 31);
	for (int i = 0; i < 4; i++) {
		join(ws[i].th);
		CHECK_EQ(ws[i].rc, -ECANCELED);
		CHECK_EQ(pl_ctx_cause(ws[i].c), 31);
		pl_ctx_release(ws[i].c);
	}
	pl_ctx_release(root);
}

/* ------------------------------------------------------------------ watches */

struct counted {
	struct pl__ctx_watch w;
	_Atomic int fired;
	_Atomic int forbidden; /* set once unwatch returned: firing then is a failure */
};

static void count_fire(struct pl__ctx_watch *w)
{
	struct counted *k = w->arg;

	if (atomic_load(&k->forbidden))
		pt_fail(__FILE__, __LINE__, "watch fired after pl__ctx_unwatch() returned");
	atomic_fetch_add(&k->fired, 1);
}

static void counted_init(struct counted *k)
{
	k->w = (struct pl__ctx_watch){.fn = count_fire, .arg = k};
	atomic_init(&k->fired, 0);
	atomic_init(&k->forbidden, 0);
}

struct unwatch_race {
	pl_ctx *c;
	struct counted k;
	_Atomic int go;
};

static void *unwatcher(void *arg)
{
	struct unwatch_race *u = arg;

	while (!atomic_load(&u->go))
		sched_yield();
	pl__ctx_unwatch(u->c, &u->k.w);
	atomic_store(&u->k.forbidden, 1);
	return NULL;
}

static void test_watch(void)
{
	struct counted a, b, z;

	pt_note("watch: fires exactly once on cancel (of an ancestor)");
	pl_ctx *p = pl_ctx_with_cancel(NULL);
	pl_ctx *c = pl_ctx_with_timeout(p, 100000 * MS);
	CHECK(p && c);
	counted_init(&a);
	counted_init(&b);
	counted_init(&z);
	CHECK_EQ(pl__ctx_watch(c, &a.w), 0);
	CHECK_EQ(pl__ctx_watch(c, &b.w), 0);
	CHECK_EQ(pl__ctx_watch(c, &z.w), 0);
	pl__ctx_unwatch(c, &z.w);
	atomic_store(&z.forbidden, 1);
	CHECK_EQ(atomic_load(&a.fired), 0);
	pl_ctx_cancel_cause(p, 3);
	/* Synchronous: fired before cancel returned. */
	CHECK_EQ(atomic_load(&a.fired), 1);
	CHECK_EQ(atomic_load(&b.fired), 1);
	CHECK_EQ(atomic_load(&z.fired), 0);
	pl_ctx_cancel(p);
	pl_ctx_cancel(c);
	CHECK_EQ(atomic_load(&a.fired), 1);
	CHECK_EQ(atomic_load(&b.fired), 1);
	/* Unwatch after firing is harmless. */
	pl__ctx_unwatch(c, &a.w);
	pl__ctx_unwatch(c, &b.w);

	pt_note("watch: refused on a done context, fn never called");
	counted_init(&a);
	CHECK_EQ(pl__ctx_watch(c, &a.w), -ECANCELED);
	CHECK_EQ(pl__ctx_watch(p, &a.w), -ECANCELED);
	pl_ctx *past = pl_ctx_with_deadline(NULL, pl_now_ns() - 1);
	CHECK(past != NULL);
	CHECK_EQ(pl__ctx_watch(past, &a.w), -ETIMEDOUT);
	pl_ctx *soon = pl_ctx_with_timeout(NULL, 1 * MS);
	CHECK(soon != NULL);
	pt_sleep_ns(5 * MS);
	CHECK_EQ(pl__ctx_watch(soon, &a.w), -ETIMEDOUT);
	pl_ctx_cancel(soon);
	CHECK_EQ(atomic_load(&a.fired), 0);
	pl_ctx_release(soon);
	pl_ctx_release(past);
	pl_ctx_release(c);
	pl_ctx_release(p);

	pt_note("watch: NULL and background accept and never fire");
	counted_init(&a);
	counted_init(&b);
	CHECK_EQ(pl__ctx_watch(NULL, &a.w), 0);
	CHECK_EQ(pl__ctx_watch(pl_ctx_background(), &b.w), 0);
	pl_ctx_cancel(pl_ctx_background());
	pl__ctx_unwatch(NULL, &a.w);
	pl__ctx_unwatch(pl_ctx_background(), &b.w);
	CHECK_EQ(atomic_load(&a.fired), 0);
	CHECK_EQ(atomic_load(&b.fired), 0);

	long rounds = iters(2000);
	for (long round = 0; round < rounds; round++) {
		struct unwatch_race u;
		pthread_t th;

		pt_note("watch: unwatch races cancel, round %ld", round);
		u.c = pl_ctx_with_cancel(NULL);
		CHECK(u.c != NULL);
		counted_init(&u.k);
		atomic_init(&u.go, 0);
		CHECK_EQ(pl__ctx_watch(u.c, &u.k.w), 0);
		pt_start(&th, unwatcher, &u);
		atomic_store(&u.go, 1);
		pl_ctx_cancel(u.c);
		join(th);
		CHECK(atomic_load(&u.k.fired) <= 1);
		pl_ctx_release(u.c);
	}
}

int main(void)
{
	uint64_t rng = pt_seed();

	pt_watchdog_start(20);
	test_null_and_background();
	test_propagation(&rng);
	test_born_done();
	test_err_never_changes();
	test_deadlines();
	test_deadline_during_walk();
	test_release_detaches(&rng);
	test_release_during_cancel();
	test_deep_chain();
	test_wait();
	test_watch();
	test_first_cause_wins(&rng);
	test_deadline_cancel_race(&rng);
	test_create_cancel_race();
	test_concurrent_cancel(&rng);
	pt_note("done");
	printf("test_ctx: ok\n");
	return 0;
}
