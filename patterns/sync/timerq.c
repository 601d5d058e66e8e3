/* SPDX-License-Identifier: MIT */
/*
 * The timer queue (sync/timerq.h): one thread, one binary min-heap of deadlines.
 *
 * The heap holds pointers to entries embedded in their owners; each entry remembers its index,
 * so disarming or moving one is O(log n) without a search. The key is (when, seq): @seq is a
 * counter bumped by every arm, so equal deadlines fire in the order they were armed and the
 * order is total. Room for every initialised entry is reserved up front (@registered <= @cap),
 * which is why arming never allocates and never fails.
 *
 * The thread. Under @lock it pops every entry whose deadline has come, calling each callback
 * with the lock dropped (@running names the entry being called, so pl__tq_fini() can wait it
 * out), then computes the earliest remaining deadline, records it in @sleep_until, reads the
 * futex word @bell and sleeps on it until that deadline (pl__futex_wait() takes an absolute
 * CLOCK_MONOTONIC deadline). Who wakes it: the deadline itself, or pl__tq_arm() when the entry
 * it armed became the heap's top with a deadline earlier than @sleep_until; it bumps @bell under
 * the lock and wakes the futex after unlocking. A bump between the thread's unlock and its
 * sleep makes the futex wait return at once (the kernel compares @bell with the value read under
 * the lock), so no wake-up is lost. While the thread works @sleep_until is INT64_MIN: it rescans
 * the heap before sleeping again, so an arm then needs no wake. It never polls: with an empty
 * heap it sleeps without a deadline.
 *
 * Lateness. Sleeping on a futex with a deadline is an hrtimer in the kernel; the thread sets
 * its timer slack to 1 ns (PR_SET_TIMERSLACK) so the kernel does not defer its wake-up by the
 * default 50 us to batch it with others. What remains is the scheduler's wake-up latency.
 *
 * Fork safety is out of scope: a child would have the heap but no thread.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "sync/clock.h"
#include "sync/die.h"
#include "sync/park.h"
#include "sync/timerq.h"

static struct {
	pthread_mutex_t lock;
	/* pl__tq_fini() waits on it for @running to change; signalled by the timer thread. */
	pthread_cond_t idle;
	/* Protected by @lock. */
	struct pl__tq_entry **heap;
	size_t n;	     /* entries queued */
	size_t cap;	     /* room in @heap */
	size_t registered;   /* initialised entries: never more than @cap */
	uint64_t seq;	     /* next arm's sequence number */
	int64_t sleep_until; /* the deadline the thread sleeps until; INT64_MIN while working */
	struct pl__tq_entry *running; /* the entry whose callback runs now, or NULL */
	unsigned fini_waiters;	      /* threads in pl__tq_fini() waiting on @idle */
	bool started;
	pthread_t thread;
	/* The futex word the thread sleeps on; bumped under @lock by pl__tq_arm(). */
	_Atomic uint32_t bell;
} q = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .idle = PTHREAD_COND_INITIALIZER,
    .sleep_until = INT64_MIN,
};

static void lock(void)
{
	PL_CHECK(pthread_mutex_lock(&q.lock));
}

static void unlock(void)
{
	PL_CHECK(pthread_mutex_unlock(&q.lock));
}

/* --------------------------------------------------------------------- the heap (under @lock) */

static bool before(const struct pl__tq_entry *a, const struct pl__tq_entry *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void put(size_t i, struct pl__tq_entry *e)
{
	q.heap[i] = e;
	e->idx = i;
}

static void sift_up(size_t i)
{
	struct pl__tq_entry *e = q.heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!before(e, q.heap[parent]))
			break;
		put(i, q.heap[parent]);
		i = parent;
	}
	put(i, e);
}

static void sift_down(size_t i)
{
	struct pl__tq_entry *e = q.heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= q.n)
			break;
		if (c + 1 < q.n && before(q.heap[c + 1], q.heap[c]))
			c++;
		if (!before(q.heap[c], e))
			break;
		put(i, q.heap[c]);
		i = c;
	}
	put(i, e);
}

static void heap_remove(struct pl__tq_entry *e)
{
	size_t i = e->idx;
	struct pl__tq_entry *last = q.heap[--q.n];

	e->idx = PL__TQ_IDLE;
	if (last == e)
		return;
	put(i, last);
	sift_up(i);
	sift_down(last->idx);
}

/* --------------------------------------------------------------------- the thread */

static void *tq_main(void *unused)
{
	(void)unused;
	/* Best effort: without it wake-ups are only later (by up to the default 50 us slack). */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	lock();
	for (;;) {
		int64_t now = pl__mono_ns();

		while (q.n > 0 && q.heap[0]->when <= now) {
			struct pl__tq_entry *e = q.heap[0];
			uint64_t cookie = e->cookie;

			heap_remove(e);
			q.running = e;
			unlock();
			e->fn(e, cookie);
			lock();
			q.running = NULL;
			if (q.fini_waiters != 0)
				PL_CHECK(pthread_cond_broadcast(&q.idle));
			now = pl__mono_ns();
		}
		int64_t until = q.n > 0 ? q.heap[0]->when : INT64_MAX;
		/* Relaxed: @bell is only bumped under @lock, which we hold; the kernel compares it
		 * again atomically before sleeping, which catches a bump after our unlock. */
		uint32_t bell = atomic_load_explicit(&q.bell, memory_order_relaxed);

		q.sleep_until = until;
		unlock();
		/* Woken by the deadline, or by pl__tq_arm() (an earlier deadline came in). */
		pl__futex_wait(&q.bell, bell, until);
		lock();
		q.sleep_until = INT64_MIN;
	}
	return NULL;
}

/* start - start the timer thread, every signal blocked in it (under @lock). 0 or -EAGAIN. */
static int start(void)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	PL_CHECK(pthread_sigmask(SIG_SETMASK, &all, &old));
	rc = pthread_create(&q.thread, NULL, tq_main, NULL);
	PL_CHECK(pthread_sigmask(SIG_SETMASK, &old, NULL));
	if (rc != 0)
		return -EAGAIN;
	PL_CHECK(pthread_detach(q.thread));
	(void)pthread_setname_np(q.thread, "patlab-timer");
	q.started = true;
	return 0;
}

/* --------------------------------------------------------------------- API */

int pl__tq_init(struct pl__tq_entry *e, pl__tq_fn fn)
{
	int rc = 0;

	e->fn = fn;
	e->when = 0;
	e->seq = 0;
	e->cookie = 0;
	e->idx = PL__TQ_IDLE;
	lock();
	if (!q.started)
		rc = start();
	if (rc == 0 && q.registered == q.cap) {
		size_t cap = q.cap != 0 ? 2 * q.cap : 64;
		struct pl__tq_entry **h = realloc(q.heap, cap * sizeof(*h));

		if (h == NULL) {
			rc = -ENOMEM;
		} else {
			q.heap = h;
			q.cap = cap;
		}
	}
	if (rc == 0)
		q.registered++;
	unlock();
	return rc;
}

void pl__tq_arm(struct pl__tq_entry *e, int64_t when, uint64_t cookie)
{
	bool wake = false;

	lock();
	e->when = when;
	e->cookie = cookie;
	e->seq = q.seq++;
	if (e->idx == PL__TQ_IDLE) {
		e->idx = q.n++;
		q.heap[e->idx] = e;
	}
	sift_up(e->idx);
	sift_down(e->idx);
	if (e->idx == 0 && when < q.sleep_until) {
		/* Relaxed: under @lock, which the thread holds when it reads @bell. */
		atomic_fetch_add_explicit(&q.bell, 1, memory_order_relaxed);
		q.sleep_until = INT64_MIN; /* one wake is enough until it sleeps again */
		wake = true;
	}
	unlock();
	if (wake)
		pl__futex_wake(&q.bell, 1);
}

bool pl__tq_disarm(struct pl__tq_entry *e)
{
	bool queued;

	lock();
	queued = e->idx != PL__TQ_IDLE;
	if (queued)
		heap_remove(e);
	unlock();
	return queued;
}

void pl__tq_fini(struct pl__tq_entry *e)
{
	lock();
	for (;;) {
		/* Again after each wait: the running callback may have re-armed its entry. */
		if (e->idx != PL__TQ_IDLE)
			heap_remove(e);
		if (q.running != e)
			break;
		if (pthread_equal(pthread_self(), q.thread))
			pl__die("pl__tq_fini: called from the callback of the entry it finishes");
		q.fini_waiters++;
		/* Woken by the timer thread once the callback returned (@running changed). */
		PL_CHECK(pthread_cond_wait(&q.idle, &q.lock));
		q.fini_waiters--;
	}
	q.registered--;
	unlock();
}
