/* SPDX-License-Identifier: MIT */
/*
 * Spin-then-park: futex wrappers, the bounded spin and the eventcount's slow paths. See
 * park.h for the protocol.
 */
#include "sync/park.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sync/clock.h"

#ifdef PATLAB_SPURIOUS_WAKEUPS
/* Test builds: one wait in four returns at once, as a spurious wakeup would. */
static bool spurious_now(void)
{
	static _Thread_local uint32_t x = 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return (x & 3) == 0;
}
#endif

int pl__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;

#ifdef PATLAB_SPURIOUS_WAKEUPS
	if (spurious_now())
		return 0;
#endif
	if (deadline_ns != INT64_MAX) {
		if (deadline_ns <= pl__mono_ns())
			return -ETIMEDOUT;
		ts.tv_sec = deadline_ns / 1000000000;
		ts.tv_nsec = deadline_ns % 1000000000;
		tsp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout (plain WAIT: relative). */
	long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
			  expected, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
	if (rc == -1 && errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0; /* woken, EAGAIN (value changed), EINTR: the caller re-checks */
}

void pl__futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

/* Single-PAUSE polls before the yield phase: at most, and at least (see tl_polls). */
#define PAUSE_POLLS	128
#define PAUSE_POLLS_MIN 4
/* Yields between two reads of the thread's CPU clock in the yield phase. */
#define YIELDS_PER_CLOCK 8

/* The calling thread's CPU time: what the spin budget limits. */
static int64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The PAUSE phase adapts to what it achieves, per thread (glibc's adaptive mutex in spirit):
 * it is worth its time when the peer that will make the attempt succeed is running on another
 * core, and wasted when that peer waits for this core (threads outnumber cores: measured at
 * 16p16c on 2 cores, 128 polls per wait cost the lockfree kind half its throughput). A phase
 * that ended in the yield phase halves the next one's polls; one that did not (the attempt
 * succeeded while polling) doubles them, up to PAUSE_POLLS. Thread-local: no shared writes,
 * and a thread that waits on several channels shares one estimate.
 */
static _Thread_local unsigned tl_polls = PAUSE_POLLS;
static _Thread_local bool tl_yielded;

void pl__spin_init(struct pl__spin *s, int64_t budget_ns)
{
	if (!tl_yielded && tl_polls < PAUSE_POLLS)
		tl_polls *= 2;
	tl_yielded = false;
	s->budget_ns = budget_ns;
	s->start_ns = 0;
	s->step = 0;
	s->polls = tl_polls;
}

bool pl__spin_once(struct pl__spin *s)
{
	if (s->budget_ns <= 0)
		return false;
	/* PAUSE phase: one PAUSE between attempts, up to PAUSE_POLLS times (~3 us): a hand-off
	 * between two cores takes ~100 ns here, so the attempt must come right after it lands;
	 * longer (exponential) rounds were measured to add hundreds of ns to every ping-pong hop.
	 * Re-reading an unchanged line is a cache hit: polling costs the writer nothing more
	 * than the one transfer per change it pays anyway. */
	if (s->step < s->polls) {
		pl__cpu_relax();
		s->step++;
		return true;
	}
	if (s->step == s->polls) {
		tl_yielded = true;
		if (tl_polls > PAUSE_POLLS_MIN)
			tl_polls /= 2;
	}
	/* Yield phase, bounded by the thread's own CPU time, not wall time: when threads
	 * outnumber cores a yield may give the core away for a whole time slice, and a
	 * wall-clock budget would then run out at the first yield and park every waiter
	 * (each wake then a futex system call). A CPU-time budget still caps what a waiter
	 * burns before it parks. The CPU clock is a system call (CLOCK_THREAD_CPUTIME_ID has no
	 * vDSO path) as costly as the yield itself, so it is read every YIELDS_PER_CLOCK rounds
	 * only: the budget may be overrun by that many yields (microseconds). */
	if ((s->step - s->polls) % YIELDS_PER_CLOCK == 0) {
		int64_t now = thread_cpu_ns();

		if (s->start_ns == 0)
			s->start_ns = now;
		else if (now - s->start_ns >= s->budget_ns)
			return false;
	}
	s->step++;
	sched_yield();
	return true;
}

int pl__evc_wait(struct pl__evc *e, uint32_t key, int64_t deadline_ns)
{
	int rc = pl__futex_wait(&e->seq, key, deadline_ns);

	atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
	return rc;
}

/*
 * The subscriber list's lock (Drepper's futex mutex 2): held for a list update or for one
 * notify's walk, a few function calls. A short PAUSE spin, then sleep on the word.
 */
#define SUBS_LOCK_SPINS 64

static void subs_lock(struct pl__evc *e)
{
	uint32_t c = 0;

	/* Acquire pairs with the release exchange in subs_unlock(). */
	if (atomic_compare_exchange_strong_explicit(&e->subs_lock, &c, 1, memory_order_acquire,
						    memory_order_relaxed))
		return;
	for (unsigned i = 0; i < SUBS_LOCK_SPINS; i++) {
		pl__cpu_relax();
		c = 0;
		if (atomic_compare_exchange_weak_explicit(
			&e->subs_lock, &c, 1, memory_order_acquire, memory_order_relaxed))
			return;
	}
	/* Acquire as above; 2 tells the holder that someone may sleep. */
	while (atomic_exchange_explicit(&e->subs_lock, 2, memory_order_acquire) != 0)
		/* Woken by subs_unlock() of a holder that saw 2; spurious returns re-check. */
		pl__futex_wait(&e->subs_lock, 2, INT64_MAX);
}

static void subs_unlock(struct pl__evc *e)
{
	/* Release publishes the list to the next holder. */
	if (atomic_exchange_explicit(&e->subs_lock, 0, memory_order_release) == 2)
		pl__futex_wake(&e->subs_lock, 1);
}

void pl__evc_notify_slow(struct pl__evc *e, int n)
{
	/* Relaxed: a re-read of what the caller's ordered load saw non-zero. Coherence makes it
	 * that value or a later one: a sleeper it counted is still counted until it withdraws
	 * (awake, it re-checks), and one that announced since re-checks after the caller's
	 * change anyway. Likewise a subscriber that the caller's load counted is in the list
	 * (pl__evc_subscribe() inserts before it counts). */
	uint32_t w = atomic_load_explicit(&e->waiters, memory_order_relaxed);

	if (w % PL__EVC_SUB != 0) {
		/* Relaxed suffices: the futex syscall orders the bump before the wake, and a waiter
		 * that has not slept yet compares against its key inside the kernel. */
		atomic_fetch_add_explicit(&e->seq, 1, memory_order_relaxed);
		pl__futex_wake(&e->seq, n);
	}
	if (w >= PL__EVC_SUB) {
		subs_lock(e);
		for (struct pl__evc_sub *s = e->subs; s != NULL; s = s->next)
			s->fn(s);
		subs_unlock(e);
	}
}

void pl__evc_subscribe(struct pl__evc *e, struct pl__evc_sub *s)
{
	subs_lock(e);
	s->prev = NULL;
	s->next = e->subs;
	if (e->subs != NULL)
		e->subs->prev = s;
	e->subs = s;
	subs_unlock(e);
	/* After the insertion: a notifier whose load counts us then finds us in the list (its
	 * lock section cannot precede ours, or its load would precede our increment). seq_cst,
	 * as the increment in pl__evc_prepare(): pairs with the notifier's fence (Dekker). */
	atomic_fetch_add_explicit(&e->waiters, PL__EVC_SUB, memory_order_seq_cst);
	if (e->asym)
		pl__barrier_heavy(); /* pairs with pl__barrier_light() in pl__evc_notify_asym() */
}

void pl__evc_unsubscribe(struct pl__evc *e, struct pl__evc_sub *s)
{
	/* Relaxed: withdrawing orders nothing; the lock below ends any walk that sees @s. */
	atomic_fetch_sub_explicit(&e->waiters, PL__EVC_SUB, memory_order_relaxed);
	subs_lock(e);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		e->subs = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	subs_unlock(e);
}
