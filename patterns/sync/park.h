/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_PARK_H
#define PATLAB_PARK_H

/*
 * Internal: how threads wait. Spin briefly, then park on a futex. Depends on nothing in patlab
 * (the bottom layer): contexts, channels and patterns build on it.
 *
 * - pl__futex_wait/wake: the raw futex, with an absolute CLOCK_MONOTONIC deadline.
 * - struct pl__spin: the spin phase (single-PAUSE polls, as many as recently paid off for
 *   this thread, then sched_yield()) bounded by a budget of the waiting thread's own CPU time
 *   (pl_chan_opts.spin_ns), the clock read only once the PAUSE polls are spent, and then
 *   every few yields.
 * - struct pl__evc: an eventcount (Vyukov). A waiter announces itself (prepare), re-checks its
 *   condition, then sleeps on the sequence word only if nothing was notified since; a notifier
 *   that finds no waiter pays a fence and one load. No wakeup can be lost between a waiter's
 *   last check and its sleep.
 * - struct pl__evc_sub: a subscriber of an eventcount, for a thread that waits on several
 *   things at once and sleeps elsewhere (a select, on its own word). It counts as a waiter, so
 *   notifiers take the slow path while it is subscribed, and the slow path calls its function
 *   instead of waking it through the sequence word. Same no-lost-wakeup guarantee: subscribe,
 *   re-check, and either the re-check sees the change or the notifier calls the function.
 *
 * Test builds with PATLAB_SPURIOUS_WAKEUPS make pl__futex_wait() return early at random, so
 * every wait loop is exercised against spurious wakeups.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/barrier.h"

/* Hot fields that different threads write live this far apart (adjacent-line prefetch). */
#define PL_FALSE_SHARING 128

static inline void pl__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/*
 * pl__futex_wait - sleep while *@word == @expected, until woken or @deadline_ns
 * (CLOCK_MONOTONIC; INT64_MAX: none). Returns 0 (woken, value changed, interrupted or
 * spurious: the caller re-checks) or -ETIMEDOUT.
 */
int pl__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline_ns);

/* pl__futex_wake - wake up to @n threads sleeping on @word (INT32_MAX: all). */
void pl__futex_wake(_Atomic uint32_t *word, int n);

struct pl__spin {
	int64_t budget_ns;
	int64_t start_ns;
	unsigned step;
	unsigned polls; /* PAUSE polls before the yield phase (adaptive, see park.c) */
};

/* pl__spin_init - start a spin phase with @budget_ns of the thread's CPU time. */
void pl__spin_init(struct pl__spin *s, int64_t budget_ns);

/* pl__spin_once - back off once; false when the budget is spent and the caller should park. */
bool pl__spin_once(struct pl__spin *s);

/* One subscriber in pl__evc.waiters: sleepers count 1 each, below this unit. */
#define PL__EVC_SUB (1u << 16)

struct pl__evc_sub {
	/* Protected by the eventcount's @subs_lock while subscribed. */
	struct pl__evc_sub *next, *prev;
	/* Called by every pl__evc_notify_slow() while subscribed, under @subs_lock: must be
	 * short, must not block, must not touch this eventcount (an atomic and a futex wake). */
	void (*fn)(struct pl__evc_sub *s);
};

struct pl__evc {
	/* Bumped by every notify that found a sleeper; the futex word waiters sleep on. */
	_Atomic uint32_t seq;
	/* Threads between prepare and the end of wait/cancel (1 each), plus PL__EVC_SUB per
	 * subscriber: at most PL__EVC_SUB - 1 sleepers and 65535 subscribers at a time. */
	_Atomic uint32_t waiters;
	/* Read-only after init: set by pl__evc_init_asym(). */
	bool asym;
	/* Subscribers: a futex lock (0 free, 1 held, 2 held with sleepers) and the list it
	 * protects. Touched only by subscribe/unsubscribe and by notifiers that saw one. */
	_Atomic uint32_t subs_lock;
	struct pl__evc_sub *subs;
};

static inline void pl__evc_init(struct pl__evc *e)
{
	atomic_init(&e->seq, 0);
	atomic_init(&e->waiters, 0);
	e->asym = false;
	atomic_init(&e->subs_lock, 0);
	e->subs = NULL;
}

/*
 * pl__evc_init_asym - an eventcount whose notifiers pay no fence: pl__evc_prepare() adds
 * pl__barrier_heavy() after the announcement, and notifiers must use pl__evc_notify_asym()
 * (pl__barrier_light() between their change and the load of @waiters). For a single notifier
 * that publishes with a plain store, where pl__evc_notify()'s fence would be the whole cost.
 */
static inline void pl__evc_init_asym(struct pl__evc *e)
{
	pl__evc_init(e);
	pl__barrier_init();
	e->asym = true;
}

/*
 * pl__evc_prepare - announce a waiter; returns the key for pl__evc_wait(). The seq_cst
 * increment orders the announcement before the caller's re-check of its condition; it pairs
 * with the seq_cst fence in pl__evc_notify() (Dekker: either the notifier sees the waiter or
 * the waiter's re-check sees the notifier's change).
 */
static inline uint32_t pl__evc_prepare(struct pl__evc *e)
{
	atomic_fetch_add_explicit(&e->waiters, 1, memory_order_seq_cst);
	if (e->asym)
		pl__barrier_heavy(); /* pairs with pl__barrier_light() in pl__evc_notify_asym() */
	return atomic_load_explicit(&e->seq, memory_order_seq_cst);
}

/* pl__evc_cancel - the re-check succeeded: withdraw without sleeping. */
static inline void pl__evc_cancel(struct pl__evc *e)
{
	atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
}

/*
 * pl__evc_wait - sleep until a notify after pl__evc_prepare() returned @key, or @deadline_ns.
 * Withdraws the waiter. Returns 0 or -ETIMEDOUT; the caller re-checks either way.
 */
int pl__evc_wait(struct pl__evc *e, uint32_t key, int64_t deadline_ns);

/*
 * pl__evc_notify_slow - what a notifier does once it saw @waiters non-zero: wake @n sleepers
 * (when some sleep) and call every subscriber's function.
 */
void pl__evc_notify_slow(struct pl__evc *e, int n);

/*
 * pl__evc_subscribe - make @s (its @fn set) a subscriber of @e: from the return on, every
 * notify calls @s->fn until pl__evc_unsubscribe(). Re-check the condition after it, as after
 * pl__evc_prepare(): the seq_cst increment of @waiters (and pl__barrier_heavy() for an asym
 * eventcount) pairs with the notifier's fence exactly as a sleeper's announcement does, and
 * the list insertion comes first, so a notifier that sees the count also finds @s.
 */
void pl__evc_subscribe(struct pl__evc *e, struct pl__evc_sub *s);

/* pl__evc_unsubscribe - withdraw @s; once it returns @s->fn is not running and never will. */
void pl__evc_unsubscribe(struct pl__evc *e, struct pl__evc_sub *s);

/*
 * pl__evc_notify - wake @n waiters (INT32_MAX: all) if any waits. Call after publishing the
 * change waiters check. The seq_cst fence orders that publication before the load of
 * @waiters; pairs with pl__evc_prepare().
 */
static inline void pl__evc_notify(struct pl__evc *e, int n)
{
#if defined(__SANITIZE_THREAD__)
	/* TSan does not model fences (gcc warns, -Wtsan): a seq_cst read-modify-write of @waiters
	 * gives it the same Dekker ordering. Not used in real builds: it would write the line
	 * that every notifier reads. */
	if (atomic_fetch_add_explicit(&e->waiters, 0, memory_order_seq_cst) != 0)
		pl__evc_notify_slow(e, n);
#else
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&e->waiters, memory_order_relaxed) != 0)
		pl__evc_notify_slow(e, n);
#endif
}

/*
 * pl__evc_notify_asym - pl__evc_notify() for an eventcount set up with pl__evc_init_asym().
 * Asymmetric Dekker (barrier.h): the notifier stores its change, then pl__barrier_light(), then
 * loads @waiters; the waiter increments @waiters, then pl__barrier_heavy() in
 * pl__evc_prepare(), then re-checks. Either the waiter sees the change or we see the waiter.
 */
static inline void pl__evc_notify_asym(struct pl__evc *e, int n)
{
	pl__barrier_light();
	/* Relaxed: ordered after the caller's change by the barrier pair above. */
	if (atomic_load_explicit(&e->waiters, memory_order_relaxed) != 0)
		pl__evc_notify_slow(e, n);
}

#endif /* PATLAB_PARK_H */
