/* SPDX-License-Identifier: MIT */
/*
 * The rest of Go's context package (Go 1.21), against Go's own tests (context_test.go,
 * x_test.go, afterfunc_test.go) told in our words: values (nearest wins, keys by identity,
 * through cancel, value and without_cancel contexts), without_cancel (never done, values
 * kept), the cause rules of TestCause including the deadline-cause forms, and after-functions
 * (run once on cancel, on deadline, when already done; not after a stop that returned true;
 * cancel does not wait for them; concurrent cancel and stop: exactly one of ran / stopped).
 *
 * Nothing asserts how long anything took: deadlines are given to the code under test and
 * waited for, and a "has not run" check looks only at states the code under test guarantees
 * (before the context is done, or after a stop returned true). Fewer rounds under TSan.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <patlab/chan.h>
#include <patlab/ctx.h>
#include <patlab/timer.h>

#include "check.h"
#include "helpers.h"
#include "context/ctx_debug.h"

#define US	1000LL
#define MS	1000000LL
#define FOREVER (1000000 * 1000 * MS)

/* Causes, as TestCause names its errors. */
enum {
	PARENT_CAUSE = 101,
	CHILD_CAUSE = 102,
	TOO_SLOW = 103,
	FINISHED_EARLY = 104
};

static long rounds(long n)
{
	long v = (long)(n * pt_scale());

	if (pt_tsan())
		v /= 10;
	return v < 1 ? 1 : v;
}

static void check_state(const pl_ctx *c, int err, int cause)
{
	CHECK_EQ(pl_ctx_err(c), err);
	CHECK_EQ(pl_ctx_cause(c), cause);
}

/* ------------------------------------------------------------------ values */

/* Keys are compared by address: two with the same contents are different keys. */
static const char key1[] = "k", key2[] = "k", key3[] = "k";
static char v_c1k1[] = "c1k1", v_c2k2[] = "c2k2", v_c3k3[] = "c3k3", v_c7k2[] = "c7k2";

static void check_values(const pl_ctx *c, const void *want1, const void *want2, const void *want3)
{
	CHECK(pl_ctx_value(c, key1) == want1);
	CHECK(pl_ctx_value(c, key2) == want2);
	CHECK(pl_ctx_value(c, key3) == want3);
}

static void test_with_value(void)
{
	pt_note("values: TestWithValue");
	check_values(pl_ctx_background(), NULL, NULL, NULL);
	check_values(NULL, NULL, NULL, NULL);

	pl_ctx *c1 = pl_ctx_with_value(pl_ctx_background(), key1, v_c1k1);
	pl_ctx *c2 = pl_ctx_with_value(c1, key2, v_c2k2);
	pl_ctx *c3 = pl_ctx_with_value(c2, key3, v_c3k3);
	pl_ctx *c4 = pl_ctx_with_value(c3, key1, NULL); /* shadows key1 with NULL */
	CHECK(c1 && c2 && c3 && c4);
	check_values(c1, v_c1k1, NULL, NULL);
	check_values(c2, v_c1k1, v_c2k2, NULL);
	check_values(c3, v_c1k1, v_c2k2, v_c3k3);
	check_values(c4, NULL, v_c2k2, v_c3k3);

	pt_note("values: through cancel, without_cancel and deadline contexts");
	pl_ctx *c5 = pl_ctx_with_cancel(c4);
	pl_ctx *c6 = pl_ctx_without_cancel(c5);
	pl_ctx *c7 = pl_ctx_with_value(c6, key2, v_c7k2);
	pl_ctx *c8 = pl_ctx_with_timeout(c7, FOREVER);
	CHECK(c5 && c6 && c7 && c8);
	check_values(c5, NULL, v_c2k2, v_c3k3);
	check_values(c6, NULL, v_c2k2, v_c3k3);
	check_values(c8, NULL, v_c7k2, v_c3k3);
	/* A cancel changes no value. */
	pl_ctx_cancel(c5);
	check_values(c5, NULL, v_c2k2, v_c3k3);
	check_values(c8, NULL, v_c7k2, v_c3k3);

	pt_note("values: a NULL key is refused; lookups of unknown keys give NULL");
	errno = 0;
	CHECK(pl_ctx_with_value(c1, NULL, v_c1k1) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK(pl_ctx_value(c8, NULL) == NULL);
	CHECK(pl_ctx_value(c8, &rounds) == NULL);

	/* Released parent first: each child keeps what it was made from alive (ASan). */
	pl_ctx_release(c1);
	pl_ctx_release(c2);
	pl_ctx_release(c3);
	pl_ctx_release(c4);
	pl_ctx_release(c5);
	pl_ctx_release(c6);
	pl_ctx_release(c7);
	check_values(c8, NULL, v_c7k2, v_c3k3);
	pl_ctx_release(c8);
}

struct recv_arg {
	pl_chan *ch;
	pl_ctx *cx;
	int rc;
};

static void *recv_main(void *arg)
{
	struct recv_arg *r = arg;
	void *msg;

	r->rc = pl_chan_recv(r->ch, &msg, r->cx);
	return NULL;
}

/* A value context is done exactly when its parent is, and cannot be cancelled itself. */
static void test_value_doneness(void)
{
	pthread_t th;

	pt_note("value context: done with its parent, not cancellable itself");
	pl_ctx *p = pl_ctx_with_timeout(NULL, FOREVER);
	pl_ctx *v = pl_ctx_with_value(p, key1, v_c1k1);
	pl_ctx *vv = pl_ctx_with_value(v, key2, v_c2k2);
	CHECK(p && v && vv);
	CHECK_EQ(pl_ctx_deadline(v), pl_ctx_deadline(p));
	CHECK_EQ(pl_ctx_deadline(vv), pl_ctx_deadline(p));
	pl_ctx_cancel_cause(vv, CHILD_CAUSE);
	pl_ctx_cancel(v);
	check_state(p, 0, 0);
	check_state(v, 0, 0);
	CHECK_EQ(pl_ctx_wait(vv, 0), 0);

	/* A cancellable child of a value context hangs under the cancellable node above it. */
	pl_ctx *k = pl_ctx_with_cancel(vv);
	CHECK(k != NULL);
	CHECK_EQ(pl__ctx_nchildren(p), 1);
	CHECK_EQ(pl__ctx_nchildren(v), 0);
	CHECK(pl_ctx_value(k, key1) == v_c1k1);

	pt_note("value context: a blocked wait and a blocked receive end on the parent's cancel");
	pl_chan *ch = pt_chan_new("mutex", 1);
	struct recv_arg r = {.ch = ch, .cx = vv};
	pt_start(&th, recv_main, &r);
	struct pt_canceller d = {.cx = p, .after_ns = 5 * MS, .cause = PARENT_CAUSE};
	pthread_t cth;
	pt_start(&cth, pt_cancel_later, &d);
	CHECK_EQ(pl_ctx_wait(v, -1), -ECANCELED);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(pthread_join(cth, NULL), 0);
	CHECK_EQ(r.rc, -ECANCELED);
	check_state(v, -ECANCELED, PARENT_CAUSE);
	check_state(vv, -ECANCELED, PARENT_CAUSE);
	check_state(k, -ECANCELED, PARENT_CAUSE);
	CHECK_EQ(pl__ctx_nchildren(p), 0);
	pl_chan_free(ch);
	pl_ctx_release(p);
	pl_ctx_release(v);
	pl_ctx_release(k);
	pl_ctx_release(vv);

	pt_note("value context over a deadline: done at the deadline with the parent's cause");
	p = pl_ctx_with_timeout_cause(NULL, 2 * MS, TOO_SLOW);
	v = pl_ctx_with_value(p, key1, NULL);
	CHECK(p && v);
	CHECK_EQ(pl_ctx_wait(v, -1), -ETIMEDOUT);
	check_state(v, -ETIMEDOUT, TOO_SLOW);
	pl_ctx_release(v);
	pl_ctx_release(p);

	pt_note("value context over background or NULL: never done");
	v = pl_ctx_with_value(NULL, key1, v_c1k1);
	CHECK(v != NULL);
	check_state(v, 0, 0);
	CHECK_EQ(pl_ctx_deadline(v), INT64_MAX);
	CHECK_EQ(pl_ctx_wait(v, MS), 0);
	pl_ctx_release(v);
}

/* ------------------------------------------------------------------ without_cancel */

static void test_without_cancel(void)
{
	static const char key[] = "key";
	static char value[] = "value";

	pt_note("without_cancel: TestWithoutCancel");
	pl_ctx *p = pl_ctx_with_value(NULL, key, value);
	pl_ctx *w = pl_ctx_without_cancel(p);
	CHECK(p && w);
	CHECK_EQ(pl_ctx_deadline(w), INT64_MAX);
	check_state(w, 0, 0);
	CHECK(pl_ctx_value(w, key) == value);
	pl_ctx_release(w);
	pl_ctx_release(p);

	pt_note("without_cancel: the parent cancelled or past its deadline, the child lives");
	pl_ctx *c = pl_ctx_with_timeout(NULL, FOREVER);
	pl_ctx *cv = pl_ctx_with_value(c, key, value);
	CHECK(c && cv);
	w = pl_ctx_without_cancel(cv);
	CHECK(w != NULL);
	CHECK_EQ(pl__ctx_nchildren(c), 0); /* not linked: nothing to propagate */
	pl_ctx_cancel_cause(c, PARENT_CAUSE);
	check_state(cv, -ECANCELED, PARENT_CAUSE);
	check_state(w, 0, 0);
	CHECK_EQ(pl_ctx_wait(w, MS), 0);
	CHECK(pl_ctx_value(w, key) == value);
	pl_ctx_cancel(w); /* cannot be cancelled */
	check_state(w, 0, 0);

	/* Its children are cancellable on their own, and carry the values. */
	pl_ctx *k = pl_ctx_with_cancel(w);
	pl_ctx *t = pl_ctx_with_timeout_cause(w, 0, TOO_SLOW);
	CHECK(k && t);
	check_state(k, 0, 0);
	check_state(t, -ETIMEDOUT, TOO_SLOW);
	CHECK(pl_ctx_value(k, key) == value);
	pl_ctx_cancel(k);
	check_state(k, -ECANCELED, -ECANCELED);
	check_state(w, 0, 0);
	pl_ctx_release(cv);
	pl_ctx_release(c);
	pl_ctx_release(k);
	pl_ctx_release(t);
	pl_ctx_release(w);

	p = pl_ctx_with_timeout(NULL, -1);
	CHECK(p != NULL);
	w = pl_ctx_without_cancel(p);
	CHECK(w != NULL);
	check_state(p, -ETIMEDOUT, -ETIMEDOUT);
	check_state(w, 0, 0);
	CHECK_EQ(pl_ctx_deadline(w), INT64_MAX);
	pl_ctx_release(p);
	pl_ctx_release(w);
	w = pl_ctx_without_cancel(NULL);
	CHECK(w != NULL);
	check_state(w, 0, 0);
	pl_ctx_release(w);
}

/* ------------------------------------------------------------------ causes */

/* TestCause's table, one case at a time; the context checked is the last one made. */
static void test_cause(void)
{
	pl_ctx *p, *c, *w;

	pt_note("cause: background");
	check_state(pl_ctx_background(), 0, 0);

	pt_note("cause: with_cancel, cancel");
	c = pl_ctx_with_cancel(NULL);
	pl_ctx_cancel(c);
	check_state(c, -ECANCELED, -ECANCELED);
	pl_ctx_release(c);

	pt_note("cause: cancel_cause with a cause, with none");
	c = pl_ctx_with_cancel(NULL);
	pl_ctx_cancel_cause(c, PARENT_CAUSE);
	check_state(c, -ECANCELED, PARENT_CAUSE);
	pl_ctx_release(c);
	c = pl_ctx_with_cancel(NULL);
	pl_ctx_cancel_cause(c, 0);
	check_state(c, -ECANCELED, -ECANCELED);
	pl_ctx_release(c);

	pt_note("cause: parent's cause before the child's");
	p = pl_ctx_with_cancel(NULL);
	c = pl_ctx_with_cancel(p);
	pl_ctx_cancel_cause(p, PARENT_CAUSE);
	pl_ctx_cancel_cause(c, CHILD_CAUSE);
	check_state(c, -ECANCELED, PARENT_CAUSE);
	pl_ctx_release(c);
	pl_ctx_release(p);

	pt_note("cause: parent's cause after the child's");
	p = pl_ctx_with_cancel(NULL);
	c = pl_ctx_with_cancel(p);
	pl_ctx_cancel_cause(c, CHILD_CAUSE);
	pl_ctx_cancel_cause(p, PARENT_CAUSE);
	check_state(c, -ECANCELED, CHILD_CAUSE);
	pl_ctx_release(c);
	pl_ctx_release(p);

	pt_note("cause: parent's cause before the child's plain cancel");
	p = pl_ctx_with_cancel(NULL);
	c = pl_ctx_with_cancel(p);
	pl_ctx_cancel_cause(p, PARENT_CAUSE);
	pl_ctx_cancel(c);
	check_state(c, -ECANCELED, PARENT_CAUSE);
	pl_ctx_release(c);
	pl_ctx_release(p);

	pt_note("cause: parent's cause after the child's plain cancel");
	p = pl_ctx_with_cancel(NULL);
	c = pl_ctx_with_cancel(p);
	pl_ctx_cancel(c);
	pl_ctx_cancel_cause(p, PARENT_CAUSE);
	check_state(c, -ECANCELED, -ECANCELED);
	pl_ctx_release(c);
	pl_ctx_release(p);

	pt_note("cause: with_timeout 0, then cancel");
	c = pl_ctx_with_timeout(NULL, 0);
	pl_ctx_cancel(c);
	check_state(c, -ETIMEDOUT, -ETIMEDOUT);
	pl_ctx_release(c);

	pt_note("cause: with_timeout, cancelled before it");
	c = pl_ctx_with_timeout(NULL, FOREVER);
	pl_ctx_cancel(c);
	check_state(c, -ECANCELED, -ECANCELED);
	pl_ctx_release(c);

	pt_note("cause: with_timeout_cause 0, then cancel");
	c = pl_ctx_with_timeout_cause(NULL, 0, TOO_SLOW);
	pl_ctx_cancel(c);
	check_state(c, -ETIMEDOUT, TOO_SLOW);
	pl_ctx_release(c);

	pt_note("cause: with_timeout_cause, cancelled before it");
	c = pl_ctx_with_timeout_cause(NULL, FOREVER, TOO_SLOW);
	pl_ctx_cancel(c);
	check_state(c, -ECANCELED, -ECANCELED);
	pl_ctx_release(c);

	pt_note("cause: with_timeout_cause, cancelled before it with a cause of its own");
	c = pl_ctx_with_timeout_cause(NULL, FOREVER, TOO_SLOW);
	pl_ctx_cancel_cause(c, FINISHED_EARLY);
	check_state(c, -ECANCELED, FINISHED_EARLY);
	pl_ctx_release(c);

	pt_note("cause: with_timeout_cause stacked on a parent cancelled afterwards");
	p = pl_ctx_with_cancel(NULL);
	c = pl_ctx_with_timeout_cause(p, 0, TOO_SLOW);
	pl_ctx_cancel_cause(p, FINISHED_EARLY);
	check_state(c, -ETIMEDOUT, TOO_SLOW);
	pl_ctx_release(c);
	pl_ctx_release(p);

	pt_note("cause: with_timeout_cause stacked, the parent cancelled before the deadline");
	p = pl_ctx_with_cancel(NULL);
	c = pl_ctx_with_timeout_cause(p, FOREVER, TOO_SLOW);
	pl_ctx_cancel_cause(p, FINISHED_EARLY);
	check_state(c, -ECANCELED, FINISHED_EARLY);
	pl_ctx_release(c);
	pl_ctx_release(p);

	pt_note("cause: without_cancel, of a cancelled and of a timed-out parent");
	w = pl_ctx_without_cancel(NULL);
	check_state(w, 0, 0);
	pl_ctx_release(w);
	p = pl_ctx_with_cancel(NULL);
	w = pl_ctx_without_cancel(p);
	pl_ctx_cancel_cause(p, FINISHED_EARLY);
	check_state(w, 0, 0);
	pl_ctx_release(w);
	pl_ctx_release(p);
	p = pl_ctx_with_timeout_cause(NULL, 0, TOO_SLOW);
	w = pl_ctx_without_cancel(p);
	check_state(w, 0, 0);
	pl_ctx_release(w);
	pl_ctx_release(p);

	pt_note("cause: with_deadline_cause, the deadline passes while waiting");
	c = pl_ctx_with_deadline_cause(NULL, pl_now_ns() + 2 * MS, TOO_SLOW);
	CHECK(c != NULL);
	check_state(c, 0, 0);
	CHECK_EQ(pl_ctx_wait(c, -1), -ETIMEDOUT);
	check_state(c, -ETIMEDOUT, TOO_SLOW);
	pl_ctx_cancel_cause(c, FINISHED_EARLY); /* too late: nothing changes */
	check_state(c, -ETIMEDOUT, TOO_SLOW);
	pl_ctx_release(c);

	pt_note("cause: cause 0 means plain -ETIMEDOUT");
	c = pl_ctx_with_deadline_cause(NULL, pl_now_ns() - 1, 0);
	check_state(c, -ETIMEDOUT, -ETIMEDOUT);
	pl_ctx_release(c);

	pt_note("cause: a child whose parent's deadline comes first reports the parent's cause");
	p = pl_ctx_with_timeout_cause(NULL, 3 * MS, TOO_SLOW);
	pl_ctx *later = pl_ctx_with_timeout_cause(p, FOREVER, CHILD_CAUSE);
	pl_ctx *plain = pl_ctx_with_cancel(p);
	pl_ctx *sooner = pl_ctx_with_timeout_cause(p, MS, CHILD_CAUSE);
	CHECK(p && later && plain && sooner);
	CHECK_EQ(pl_ctx_deadline(later), pl_ctx_deadline(p));
	CHECK(pl_ctx_deadline(sooner) < pl_ctx_deadline(p));
	CHECK_EQ(pl_ctx_wait(sooner, -1), -ETIMEDOUT);
	check_state(sooner, -ETIMEDOUT, CHILD_CAUSE);
	/* The child is asked first: it latches the deadline itself, with the parent's cause. */
	CHECK_EQ(pl_ctx_wait(later, -1), -ETIMEDOUT);
	check_state(later, -ETIMEDOUT, TOO_SLOW);
	check_state(plain, -ETIMEDOUT, TOO_SLOW);
	check_state(p, -ETIMEDOUT, TOO_SLOW);
	pl_ctx_release(later);
	pl_ctx_release(plain);
	pl_ctx_release(sooner);
	pl_ctx_release(p);

	pt_note("cause: a deadline-cause child born under a done parent has the parent's state");
	p = pl_ctx_with_cancel(NULL);
	pl_ctx_cancel_cause(p, PARENT_CAUSE);
	c = pl_ctx_with_timeout_cause(p, 0, TOO_SLOW);
	check_state(c, -ECANCELED, PARENT_CAUSE);
	pl_ctx_release(c);
	pl_ctx_release(p);
}

/* ------------------------------------------------------------------ after-functions */

struct probe {
	pl_ctx *cx;	     /* the context the function was registered on */
	_Atomic int runs;    /* times it ran */
	_Atomic int err;     /* pl_ctx_err(cx) seen inside it */
	_Atomic int own;     /* 1: it ran on a thread other than the registering one */
	pthread_t registrar; /* the registering thread */
	_Atomic int release; /* for the function that blocks: 1 lets it return */
	bool block;	     /* wait for @release before returning */
};

static void probe_fn(void *arg)
{
	struct probe *p = arg;

	atomic_store(&p->err, pl_ctx_err(p->cx));
	atomic_store(&p->own, !pthread_equal(pthread_self(), p->registrar));
	while (p->block && atomic_load(&p->release) == 0)
		pt_sleep_ns(100 * US);
	atomic_fetch_add(&p->runs, 1);
}

static void probe_init(struct probe *p, pl_ctx *cx)
{
	p->cx = cx;
	atomic_init(&p->runs, 0);
	atomic_init(&p->err, 0);
	atomic_init(&p->own, 0);
	atomic_init(&p->release, 0);
	p->registrar = pthread_self();
	p->block = false;
}

/* wait_runs - until @p ran @n times (the watchdog ends a test that never gets there). */
static void wait_runs(struct probe *p, int n)
{
	while (atomic_load(&p->runs) < n)
		pt_sleep_ns(50 * US);
}

static void test_after_func(void)
{
	struct probe pr, sentinel;
	pl_ctx_after *a, *b;
	pl_ctx *cx;

	pt_note("after_func: TestAfterFuncCalledAfterCancel");
	cx = pl_ctx_with_cancel(NULL);
	probe_init(&pr, cx);
	a = pl_ctx_after_func(cx, probe_fn, &pr);
	CHECK(a != NULL);
	CHECK_EQ(atomic_load(&pr.runs), 0); /* the context is live: it cannot have run */
	pl_ctx_cancel(cx);
	wait_runs(&pr, 1);
	CHECK_EQ(atomic_load(&pr.err), -ECANCELED); /* it saw its context done */
	CHECK_EQ(atomic_load(&pr.own), 1);	    /* on a thread of its own */
	CHECK(!pl_ctx_after_stop(a));
	pl_ctx_after_free(a);
	pl_ctx_release(cx);

	pt_note("after_func: TestAfterFuncCalledAfterTimeout");
	cx = pl_ctx_with_timeout_cause(NULL, 2 * MS, TOO_SLOW);
	probe_init(&pr, cx);
	a = pl_ctx_after_func(cx, probe_fn, &pr);
	CHECK(a != NULL);
	wait_runs(&pr, 1);
	CHECK_EQ(atomic_load(&pr.err), -ETIMEDOUT);
	check_state(cx, -ETIMEDOUT, TOO_SLOW);
	CHECK(!pl_ctx_after_stop(a));
	pl_ctx_after_free(a);
	pl_ctx_release(cx);

	pt_note("after_func: on a child of a context with a deadline (the deadline is inherited)");
	pl_ctx *p = pl_ctx_with_timeout(NULL, 2 * MS);
	pl_ctx *v = pl_ctx_with_value(p, key1, NULL);
	cx = pl_ctx_with_cancel(v);
	probe_init(&pr, cx);
	a = pl_ctx_after_func(cx, probe_fn, &pr);
	CHECK(a != NULL);
	wait_runs(&pr, 1);
	CHECK_EQ(atomic_load(&pr.err), -ETIMEDOUT);
	pl_ctx_after_free(a);
	pl_ctx_release(cx);
	pl_ctx_release(v);
	pl_ctx_release(p);

	pt_note("after_func: TestAfterFuncCalledImmediately");
	cx = pl_ctx_with_cancel(NULL);
	pl_ctx_cancel_cause(cx, FINISHED_EARLY);
	probe_init(&pr, cx);
	a = pl_ctx_after_func(cx, probe_fn, &pr);
	CHECK(a != NULL);
	wait_runs(&pr, 1);
	CHECK_EQ(atomic_load(&pr.err), -ECANCELED);
	CHECK(!pl_ctx_after_stop(a));
	pl_ctx_after_free(a);
	pl_ctx_release(cx);

	pt_note("after_func: a deadline already past, nobody having looked at it yet");
	cx = pl_ctx_with_timeout(NULL, MS);
	probe_init(&pr, cx);
	pt_sleep_ns(2 * MS);
	a = pl_ctx_after_func(cx, probe_fn, &pr);
	CHECK(a != NULL);
	CHECK(!pl_ctx_after_stop(a)); /* done: the run is decided, stop cannot prevent it */
	wait_runs(&pr, 1);
	pl_ctx_after_free(a);
	pl_ctx_release(cx);

	pt_note("after_func: TestAfterFuncNotCalledAfterStop");
	cx = pl_ctx_with_cancel(NULL);
	probe_init(&pr, cx);
	probe_init(&sentinel, cx);
	a = pl_ctx_after_func(cx, probe_fn, &pr);
	CHECK(a != NULL);
	CHECK(pl_ctx_after_stop(a));
	b = pl_ctx_after_func(cx, probe_fn, &sentinel);
	CHECK(b != NULL);
	pl_ctx_cancel(cx);
	wait_runs(&sentinel, 1); /* a run of @a would have been launched before this one */
	CHECK(!pl_ctx_after_stop(a));
	CHECK_EQ(atomic_load(&pr.runs), 0);
	pl_ctx_after_free(a);
	pl_ctx_after_free(b);
	pl_ctx_release(cx);

	pt_note("after_func: cancel does not wait for the function (TestAfterFuncCalledAsync)");
	cx = pl_ctx_with_cancel(NULL);
	probe_init(&pr, cx);
	pr.block = true;
	a = pl_ctx_after_func(cx, probe_fn, &pr);
	CHECK(a != NULL);
	pl_ctx_cancel(cx); /* returns while the function waits for us */
	atomic_store(&pr.release, 1);
	wait_runs(&pr, 1);
	pl_ctx_after_free(a);
	pl_ctx_release(cx);

	pt_note("after_func: never-done contexts never run it; stop says so");
	pl_ctx *w = pl_ctx_without_cancel(NULL);
	pl_ctx *never[] = {NULL, pl_ctx_background(), w};
	for (size_t i = 0; i < 3; i++) {
		probe_init(&pr, never[i]);
		a = pl_ctx_after_func(never[i], probe_fn, &pr);
		CHECK(a != NULL);
		CHECK(pl_ctx_after_stop(a));
		CHECK(!pl_ctx_after_stop(a));
		pl_ctx_after_free(a);
		CHECK_EQ(atomic_load(&pr.runs), 0);
	}
	pl_ctx_release(w);

	pt_note("after_func: bad arguments");
	errno = 0;
	CHECK(pl_ctx_after_func(NULL, NULL, NULL) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK(!pl_ctx_after_stop(NULL));
	pl_ctx_after_free(NULL);
}

/* A registration outlives its handle and the caller's reference on the context. */
static void test_after_lifetime(void)
{
	struct probe pr;
	pl_ctx_after *a;

	pt_note("after_func: handle freed at once (fire and forget), context released too");
	pl_ctx *p = pl_ctx_with_cancel(NULL);
	pl_ctx *cx = pl_ctx_with_cancel(p);
	probe_init(&pr, cx);
	a = pl_ctx_after_func(cx, probe_fn, &pr);
	CHECK(a != NULL);
	pl_ctx_after_free(a);
	pl_ctx_release(cx); /* the registration still holds it */
	CHECK_EQ(pl__ctx_nchildren(p), 1);
	pl_ctx_cancel(p);
	wait_runs(&pr, 1);
	CHECK_EQ(atomic_load(&pr.err), -ECANCELED);
	/* Once the function has run the registration lets go of the context. */
	while (pl__ctx_nchildren(p) != 0)
		pt_sleep_ns(50 * US);
	pl_ctx_release(p);

	pt_note("after_func: many on one context, each runs once");
	enum {
		N = 64
	};
	struct probe many[N];
	pl_ctx_after *as[N];
	cx = pl_ctx_with_cancel(NULL);
	for (int i = 0; i < N; i++) {
		probe_init(&many[i], cx);
		as[i] = pl_ctx_after_func(cx, probe_fn, &many[i]);
		CHECK(as[i] != NULL);
	}
	for (int i = 0; i < N; i += 3)
		CHECK(pl_ctx_after_stop(as[i]));
	pl_ctx_cancel(cx);
	for (int i = 0; i < N; i++) {
		if (i % 3 != 0)
			wait_runs(&many[i], 1);
	}
	for (int i = 0; i < N; i++) {
		CHECK_EQ(atomic_load(&many[i].runs), i % 3 != 0);
		pl_ctx_after_free(as[i]);
	}
	pl_ctx_release(cx);
}

/* ------------------------------------------------------------------ cancel vs stop, stressed */

struct race {
	pl_ctx *cx;
	pl_ctx_after *a;
	_Atomic int runs;
	_Atomic int go;
	bool stopped;
	bool by_deadline;
};

static void race_fn(void *arg)
{
	struct race *r = arg;

	atomic_fetch_add(&r->runs, 1);
}

static void *race_cancel(void *arg)
{
	struct race *r = arg;

	while (atomic_load(&r->go) == 0)
		sched_yield();
	pl_ctx_cancel(r->cx);
	return NULL;
}

/*
 * test_stop_races - a cancel (or the deadline) and a stop at the same moment: exactly one of
 * "stop returned true" and "the function ran once", never both, never neither.
 */
static void test_stop_races(uint64_t *rng)
{
	long n = rounds(2000);
	struct race *rs = calloc((size_t)n, sizeof(*rs));
	long stopped = 0;

	CHECK(rs != NULL);
	for (long i = 0; i < n; i++) {
		struct race *r = &rs[i];
		pthread_t th;

		pt_note("cancel vs stop, round %ld", i);
		r->by_deadline = i % 2 == 1;
		r->cx = r->by_deadline
			    ? pl_ctx_with_timeout(NULL, (int64_t)(pt_rand(rng) % (200 * US)))
			    : pl_ctx_with_cancel(NULL);
		CHECK(r->cx != NULL);
		atomic_init(&r->runs, 0);
		atomic_init(&r->go, 0);
		r->a = pl_ctx_after_func(r->cx, race_fn, r);
		CHECK(r->a != NULL);
		if (!r->by_deadline)
			pt_start(&th, race_cancel, r);
		atomic_store(&r->go, 1);
		pt_pause(pt_rand(rng), 100 * US, 500);
		r->stopped = pl_ctx_after_stop(r->a);
		if (!r->by_deadline)
			CHECK_EQ(pthread_join(th, NULL), 0);
		stopped += r->stopped;
	}
	pt_note("cancel vs stop: waiting for the %ld runs", n - stopped);
	for (long i = 0; i < n; i++)
		if (!rs[i].stopped)
			while (atomic_load(&rs[i].runs) == 0)
				pt_sleep_ns(50 * US);
	/* Every launch queued so far has been started by the time a later timer fires. */
	pl_timer *s = pl_timer_new(MS);
	void *msg;
	CHECK(s != NULL);
	CHECK_EQ(pl_chan_recv(pl_timer_chan(s), &msg, NULL), 0);
	pl_timer_free(s);
	for (long i = 0; i < n; i++) {
		CHECK_EQ(atomic_load(&rs[i].runs), rs[i].stopped ? 0 : 1);
		CHECK(!pl_ctx_after_stop(rs[i].a));
		pl_ctx_after_free(rs[i].a);
		pl_ctx_release(rs[i].cx);
	}
	printf("cancel vs stop: %ld rounds, %ld stopped, %ld ran\n", n, stopped, n - stopped);
	free(rs);
}

int main(void)
{
	uint64_t rng = pt_seed();

	pt_watchdog_start(60);
	test_with_value();
	test_value_doneness();
	test_without_cancel();
	test_cause();
	test_after_func();
	test_after_lifetime();
	test_stop_races(&rng);
	pt_note("done");
	printf("test_ctx_go: ok\n");
	return 0;
}
