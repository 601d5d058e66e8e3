/* SPDX-License-Identifier: MIT */
/*
 * Errgroup: Go's golang.org/x/sync/errgroup on pthreads (see fanout.h for the contract).
 *
 * Slots. @running counts goroutines from the moment pl_group_go() reserves a slot (a CAS
 * that succeeds only below the limit) until the goroutine's fn returned and its thread has
 * queued itself for joining. So "running <= limit" holds at every instant, and so does the
 * number of fns executing at once.
 *
 * Errors. A goroutine's non-zero return is offered to @err by a CAS from 0: the first one wins,
 * and only the winner cancels the group context (with the error as its cause). Goroutines that
 * then fail because they saw the cancellation lose the CAS, so pl_group_wait() returns exactly
 * the first error.
 *
 * Waiting. One eventcount, @evc, serves both kinds of sleeper: pl_group_go() callers waiting
 * for a slot (woken by any goroutine's exit, or by the cancellation of the group context,
 * through a watch registered once for the group's life; the sleep is also bounded by the
 * context's deadline, which fires no watch) and pl_group_wait() callers waiting for
 * @running to reach 0 (woken by goroutine exits). Every exit notifies all; exits are rare next
 * to the thread creation they pair with, so no finer wake-up is worth its complexity.
 *
 * Threads. Every goroutine is a joinable thread with a small record. On exit the thread pushes
 * its record on the @zombies stack (release), then gives its slot back (seq_cst), then
 * notifies. Whoever pops zombies (an exchange of the whole stack with NULL, so no ABA) joins
 * them: pl_group_wait() once @running is 0 (by then every goroutine is on the stack or already
 * popped by a go() that is joining it), and every pl_group_go() opportunistically, so a
 * long-lived group does not accumulate exited threads. A popped record's thread is at most a
 * notify away from its exit, so those joins do not wait for anything but that.
 *
 * Lifetime. The group outlives its threads: pl_group_free() returns only after every thread was
 * joined, and a thread touches the group last in its notify, before it exits.
 */
#include <patlab/fanout.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "sync/park.h"
#include "context/ctx_watch.h"
#include "sync/die.h"

struct gthread {
	struct gthread *next; /* on the zombie stack: written before the release push */
	pthread_t tid;
	pl_group *g;
	pl_group_fn fn;
	void *arg;
};

struct pl_group {
	/* Constant after pl_group_new(). */
	pl_ctx *cx; /* owned */
	struct pl__ctx_watch watch;
	bool watching;
	/* Limit: written by set_limit before any go (relaxed: the caller orders the two). */
	_Atomic int limit;
	/* How threads start: written by set_thread_start before any go (the caller orders the
	 * two, as for @limit), read by go. */
	const struct pl_thread_start *_Atomic threads;
	/* Slots in use; see the top of the file. seq_cst throughout (a CAS per go and a
	 * decrement per exit: rare next to thread creation). */
	_Atomic unsigned running;
	/* The first non-zero result (CAS from 0, seq_cst). */
	_Atomic int err;
	/* Exited threads awaiting a join: release push, acquire exchange. */
	struct gthread *_Atomic zombies;
	/* go() callers at the limit and wait() callers sleep here. */
	struct pl__evc evc;
};

/* The group whose goroutine this thread runs: its pl_group_wait() would wait for itself. */
static _Thread_local pl_group *current_group;

static void watch_fired(struct pl__ctx_watch *w)
{
	pl_group *g = w->arg;

	/* Under the context's lock: an atomic bump and a futex wake, nothing more. */
	pl__evc_notify(&g->evc, INT32_MAX);
}

pl_group *pl_group_new(pl_ctx *parent)
{
	pl_group *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	g->cx = pl_ctx_with_cancel(parent);
	if (g->cx == NULL) {
		free(g);
		errno = ENOMEM;
		return NULL;
	}
	atomic_init(&g->limit, PL_GROUP_NO_LIMIT);
	atomic_init(&g->threads, NULL);
	atomic_init(&g->running, 0);
	atomic_init(&g->err, 0);
	atomic_init(&g->zombies, NULL);
	pl__evc_init(&g->evc);
	g->watch.fn = watch_fired;
	g->watch.arg = g;
	/* Refused only when born done: then go() fails at once and nobody ever sleeps. */
	g->watching = pl__ctx_watch(g->cx, &g->watch) == 0;
	return g;
}

pl_ctx *pl_group_ctx(pl_group *g)
{
	return g->cx;
}

int pl_group_set_limit(pl_group *g, int limit)
{
	if (limit < 1 && limit != PL_GROUP_NO_LIMIT)
		return -EINVAL;
	if (atomic_load(&g->running) != 0)
		return -EBUSY;
	atomic_store_explicit(&g->limit, limit, memory_order_relaxed);
	return 0;
}

int pl_group_set_thread_start(pl_group *g, const struct pl_thread_start *how)
{
	if (atomic_load(&g->running) != 0)
		return -EBUSY;
	/* Relaxed: as @limit, the caller orders this before its first go. */
	atomic_store_explicit(&g->threads, how, memory_order_relaxed);
	return 0;
}

/* reap - join every thread on the zombie stack now. */
static void reap(pl_group *g)
{
	/* Acquire pairs with the release push in goroutine_main(): the records' links. */
	struct gthread *t = atomic_exchange_explicit(&g->zombies, NULL, memory_order_acquire);

	while (t != NULL) {
		struct gthread *next = t->next;

		PL_CHECK(pthread_join(t->tid, NULL));
		free(t);
		t = next;
	}
}

/* give_back - release a slot and wake whoever waits for one (or for the last one). */
static void give_back(pl_group *g)
{
	atomic_fetch_sub(&g->running, 1);
	pl__evc_notify(&g->evc, INT32_MAX);
}

static void *goroutine_main(void *arg)
{
	struct gthread *t = arg;
	pl_group *g = t->g;
	struct gthread *head;
	int rc, expected = 0;

	current_group = g;
	rc = t->fn(g->cx, t->arg);
	current_group = NULL;
	if (rc != 0 && atomic_compare_exchange_strong(&g->err, &expected, rc))
		pl_ctx_cancel_cause(g->cx, rc);
	head = atomic_load_explicit(&g->zombies, memory_order_relaxed);
	do {
		t->next = head;
		/* Release: publishes t->next (and the record) to reap()'s acquire exchange. */
	} while (!atomic_compare_exchange_weak_explicit(&g->zombies, &head, t, memory_order_release,
							memory_order_relaxed));
	/* After the push: whoever sees running == 0 finds every record on the stack. */
	give_back(g);
	return NULL;
}

/* reserve - take a slot below the limit: 0, -EAGAIN (at the limit), or the context's error. */
static int reserve(pl_group *g)
{
	int lim = atomic_load_explicit(&g->limit, memory_order_relaxed);
	unsigned r = atomic_load(&g->running);
	int err;

	for (;;) {
		err = pl_ctx_err(g->cx);
		if (err != 0)
			return err;
		if (lim != PL_GROUP_NO_LIMIT && r >= (unsigned)lim)
			return -EAGAIN;
		if (atomic_compare_exchange_weak(&g->running, &r, r + 1))
			return 0;
	}
}

static int go(pl_group *g, pl_group_fn fn, void *arg, bool block)
{
	struct gthread *t;
	int rc;

	if (fn == NULL)
		return -EINVAL;
	for (;;) {
		uint32_t key;

		rc = reserve(g);
		if (rc != -EAGAIN || !block)
			break;
		/* Announce, re-check, sleep: a slot freed after the prepare is not missed. */
		key = pl__evc_prepare(&g->evc);
		rc = reserve(g);
		if (rc != -EAGAIN) {
			pl__evc_cancel(&g->evc);
			break;
		}
		/* Woken by give_back() (a goroutine exited) or watch_fired() (cancelled);
		 * bounded by the context's deadline. */
		pl__evc_wait(&g->evc, key, pl_ctx_deadline(g->cx));
	}
	if (rc != 0)
		return rc;
	reap(g);
	t = malloc(sizeof(*t));
	if (t == NULL) {
		give_back(g);
		return -ENOMEM;
	}
	*t = (struct gthread){.g = g, .fn = fn, .arg = arg};
	rc = pl_thread_create(atomic_load_explicit(&g->threads, memory_order_relaxed), &t->tid,
			      NULL, goroutine_main, t);
	if (rc != 0) {
		free(t);
		give_back(g);
		return -rc;
	}
	return 0;
}

int pl_group_go(pl_group *g, pl_group_fn fn, void *arg)
{
	return go(g, fn, arg, true);
}

int pl_group_try_go(pl_group *g, pl_group_fn fn, void *arg)
{
	return go(g, fn, arg, false);
}

int pl_group_wait(pl_group *g)
{
	int err;

	if (current_group == g)
		pl__die("pl_group_wait() from a goroutine of the same group would wait for itself");
	for (;;) {
		uint32_t key = pl__evc_prepare(&g->evc);

		if (atomic_load(&g->running) == 0) {
			pl__evc_cancel(&g->evc);
			break;
		}
		/* Woken by give_back(), at each goroutine's exit. */
		pl__evc_wait(&g->evc, key, INT64_MAX);
	}
	reap(g);
	err = atomic_load(&g->err);
	if (err != 0)
		pl_ctx_cancel_cause(g->cx, err);
	else
		pl_ctx_cancel(g->cx);
	return err;
}

void pl_group_free(pl_group *g)
{
	if (g == NULL)
		return;
	pl_group_wait(g);
	if (g->watching)
		pl__ctx_unwatch(g->cx, &g->watch);
	pl_ctx_release(g->cx);
	free(g);
}
