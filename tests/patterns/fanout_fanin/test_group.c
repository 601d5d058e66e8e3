/* SPDX-License-Identifier: MIT */
/*
 * Unit: the errgroup (pl_group_*). Success, first error wins and cancels the rest, the limit,
 * try_go, go blocked at the limit woken by a cancel, nested go, argument errors.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include <patlab/patlab.h>

#include "check.h"

#define MS (INT64_C(1000000))

static _Atomic int active, max_active, ran, saw_cancel;

static void enter(void)
{
	int a = atomic_fetch_add(&active, 1) + 1, m = atomic_load(&max_active);

	while (a > m && !atomic_compare_exchange_weak(&max_active, &m, a))
		;
	atomic_fetch_add(&ran, 1);
}

static void leave(void)
{
	atomic_fetch_sub(&active, 1);
}

static void reset(void)
{
	atomic_store(&active, 0);
	atomic_store(&max_active, 0);
	atomic_store(&ran, 0);
	atomic_store(&saw_cancel, 0);
}

static int ok_fn(pl_ctx *cx, void *arg)
{
	(void)cx;
	enter();
	pt_sleep_ns((int64_t)(uintptr_t)arg);
	leave();
	return 0;
}

static int block_fn(pl_ctx *cx, void *arg)
{
	int rc;

	(void)arg;
	enter();
	rc = pl_ctx_wait(cx, -1);
	if (rc != 0)
		atomic_fetch_add(&saw_cancel, 1);
	leave();
	return rc;
}

static int fail_fn(pl_ctx *cx, void *arg)
{
	(void)cx;
	enter();
	pt_sleep_ns(10 * MS);
	leave();
	return (int)(intptr_t)arg;
}

static void test_success(void)
{
	pl_group *g = pl_group_new(NULL);

	pt_note("success: wait returns 0 and cancels the group context");
	reset();
	CHECK(g != NULL);
	CHECK_EQ(pl_ctx_err(pl_group_ctx(g)), 0);
	for (int i = 0; i < 20; i++)
		CHECK_EQ(pl_group_go(g, ok_fn, (void *)(uintptr_t)(i * 100000)), 0);
	CHECK_EQ(pl_group_wait(g), 0);
	CHECK_EQ(atomic_load(&ran), 20);
	CHECK_EQ(atomic_load(&active), 0);
	CHECK_EQ(pl_ctx_err(pl_group_ctx(g)), -ECANCELED);
	/* After wait the group is done: go refuses (fn never runs). */
	CHECK_EQ(pl_group_go(g, ok_fn, NULL), -ECANCELED);
	CHECK_EQ(pl_group_wait(g), 0);
	CHECK_EQ(atomic_load(&ran), 20);
	pl_group_free(g);
	pl_group_free(NULL);
}

static void test_first_error(void)
{
	pl_group *g = pl_group_new(NULL);

	pt_note("first error: cancels the rest, is what wait returns, is the context's cause");
	reset();
	for (int i = 0; i < 8; i++)
		CHECK_EQ(pl_group_go(g, block_fn, NULL), 0);
	CHECK_EQ(pl_group_go(g, fail_fn, (void *)(intptr_t)-EIO), 0);
	CHECK_EQ(pl_group_wait(g), -EIO);
	CHECK_EQ(atomic_load(&saw_cancel), 8);
	CHECK_EQ(pl_ctx_err(pl_group_ctx(g)), -ECANCELED);
	CHECK_EQ(pl_ctx_cause(pl_group_ctx(g)), -EIO);
	pl_group_free(g);

	pt_note("first error: a later, different error does not replace it");
	reset();
	g = pl_group_new(NULL);
	CHECK_EQ(pl_group_go(g, fail_fn, (void *)(intptr_t)-ENOENT), 0);
	CHECK_EQ(pl_group_wait(g), -ENOENT);
	pl_group_free(g);
}

static void test_limit(void)
{
	pl_group *g = pl_group_new(NULL);

	pt_note("limit: never more than 3 at once");
	reset();
	CHECK_EQ(pl_group_set_limit(g, 0), -EINVAL);
	CHECK_EQ(pl_group_set_limit(g, -2), -EINVAL);
	CHECK_EQ(pl_group_set_limit(g, 3), 0);
	for (int i = 0; i < 30; i++)
		CHECK_EQ(pl_group_go(g, ok_fn, (void *)(uintptr_t)(MS / 2)), 0);
	CHECK_EQ(pl_group_wait(g), 0);
	CHECK_EQ(atomic_load(&ran), 30);
	CHECK(atomic_load(&max_active) <= 3);
	CHECK(atomic_load(&max_active) >= 1);
	pl_group_free(g);

	pt_note("limit: cannot change while goroutines run");
	reset();
	g = pl_group_new(NULL);
	CHECK_EQ(pl_group_go(g, block_fn, NULL), 0);
	CHECK_EQ(pl_group_set_limit(g, 2), -EBUSY);
	pl_ctx_cancel(pl_group_ctx(g));
	CHECK_EQ(pl_group_wait(g), -ECANCELED); /* block_fn returned the cancellation */
	pl_group_free(g);
}

static _Atomic int refused_ran;

static int refused_fn(pl_ctx *cx, void *arg)
{
	(void)cx;
	(void)arg;
	atomic_fetch_add(&refused_ran, 1);
	return 0;
}

static void test_try_go(void)
{
	pl_group *g = pl_group_new(NULL);
	bool refused;
	int rc;

	pt_note("try_go: -EAGAIN at the limit, fn not run; accepted again once a slot frees");
	reset();
	CHECK_EQ(pl_group_set_limit(g, 1), 0);
	CHECK_EQ(pl_group_try_go(g, ok_fn, (void *)(uintptr_t)(20 * MS)), 0);
	/* The first holds the only slot for 20 ms; it is still ours until it returns. */
	rc = pl_group_try_go(g, refused_fn, NULL);
	CHECK(rc == -EAGAIN || rc == 0); /* 0 only if the 20 ms already passed (a slow machine) */
	refused = rc == -EAGAIN;
	while ((rc = pl_group_try_go(g, ok_fn, NULL)) == -EAGAIN)
		pt_sleep_ns(MS);
	CHECK_EQ(rc, 0);
	CHECK_EQ(pl_group_wait(g), 0);
	CHECK(atomic_load(&max_active) <= 1);
	CHECK_EQ(atomic_load(&ran), 2);
	CHECK_EQ(atomic_load(&refused_ran), refused ? 0 : 1); /* a refused fn never runs */
	CHECK_EQ(pl_group_try_go(g, ok_fn, NULL), -ECANCELED);
	pl_group_free(g);
}

struct go_later {
	pl_group *g;
	int rc;
};

static void *blocked_go(void *arg)
{
	struct go_later *l = arg;

	l->rc = pl_group_go(l->g, ok_fn, NULL);
	return NULL;
}

static void test_go_cancel(void)
{
	pl_ctx *parent = pl_ctx_with_cancel(NULL);
	pl_group *g = pl_group_new(parent);
	struct go_later l = {.g = g, .rc = 1};
	pthread_t t;

	pt_note("go blocked at the limit returns when the parent is cancelled; fn not run");
	reset();
	CHECK_EQ(pl_group_set_limit(g, 1), 0);
	CHECK_EQ(pl_group_go(g, block_fn, NULL), 0);
	CHECK_EQ(pthread_create(&t, NULL, blocked_go, &l), 0);
	pt_sleep_ns(20 * MS); /* usually blocked by now; if not yet, it fails at once anyway */
	pl_ctx_cancel(parent);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(l.rc, -ECANCELED);
	CHECK_EQ(pl_group_wait(g), -ECANCELED);
	CHECK_EQ(atomic_load(&ran), 1);
	pl_group_free(g);

	pt_note("a group of a done parent: go fails, nothing runs");
	g = pl_group_new(parent);
	CHECK_EQ(pl_group_go(g, ok_fn, NULL), -ECANCELED);
	CHECK_EQ(pl_group_try_go(g, ok_fn, NULL), -ECANCELED);
	CHECK_EQ(pl_group_wait(g), 0);
	pl_group_free(g);
	pl_ctx_release(parent);

	pt_note("a deadline on the parent ends a blocked go with -ETIMEDOUT");
	reset();
	parent = pl_ctx_with_timeout(NULL, 30 * MS);
	g = pl_group_new(parent);
	CHECK_EQ(pl_group_set_limit(g, 1), 0);
	CHECK_EQ(pl_group_go(g, block_fn, NULL), 0); /* returns -ETIMEDOUT at the deadline */
	CHECK_EQ(pl_group_go(g, ok_fn, NULL), -ETIMEDOUT);
	CHECK_EQ(pl_group_wait(g), -ETIMEDOUT);
	pl_group_free(g);
	pl_ctx_release(parent);
}

static pl_group *nest_group;

static int nest_fn(pl_ctx *cx, void *arg)
{
	int depth = (int)(intptr_t)arg;

	(void)cx;
	enter();
	if (depth > 0) {
		CHECK_EQ(pl_group_go(nest_group, nest_fn, (void *)(intptr_t)(depth - 1)), 0);
		CHECK_EQ(pl_group_go(nest_group, nest_fn, (void *)(intptr_t)(depth - 1)), 0);
	}
	leave();
	return 0;
}

static void test_nested(void)
{
	pt_note("nested: goroutines start goroutines; wait sees them all");
	reset();
	nest_group = pl_group_new(NULL);
	CHECK_EQ(pl_group_go(nest_group, nest_fn, (void *)(intptr_t)4), 0);
	CHECK_EQ(pl_group_wait(nest_group), 0);
	CHECK_EQ(atomic_load(&ran), 31);
	CHECK_EQ(pl_group_go(nest_group, NULL, NULL), -EINVAL);
	pl_group_free(nest_group);
}

int main(void)
{
	pt_watchdog_start(60);
	test_success();
	test_first_error();
	test_limit();
	test_try_go();
	test_go_cancel();
	test_nested();
	printf("test_group: ok\n");
	return 0;
}
