/* SPDX-License-Identifier: MIT */
/*
 * Timers and tickers (patlab/timer.h): Go's time.Timer and time.Ticker over one timer thread.
 *
 * Where the time goes. Every timer embeds an entry of the process's timer queue
 * (sync/timerq.h): one thread, a binary heap of deadlines, asleep on a futex until the
 * earliest. Arming a timer whose deadline becomes the earliest wakes that thread (the queue
 * does it); otherwise nobody wakes it before its deadline. It never spins and never polls: with
 * nothing armed it sleeps without a deadline. A fire is fire() below, run on that thread: under
 * the timer's lock it sends the current time on the timer's channel with a non-blocking send,
 * and for a ticker re-arms the entry for the next period. The thread never blocks on a user:
 * the send cannot wait (capacity 1, try_send), and a full channel means a tick is dropped.
 *
 * The channel: kind "mutex", capacity 1.
 * - Capacity 1 is Go's: the timer thread can deliver without waiting for a receiver, and the
 *   one slot is exactly "the previous tick, untaken": a tick that finds it full is dropped, so a
 *   slow reader gets the latest schedule, never a backlog. A larger capacity would queue ticks;
 *   capacity 0 would make the timer thread wait for (or give up on) a receiver.
 * - Its receivers are the user's threads (any number: a select too) and stop/reset's drain, so
 *   the kind must take several consumers: not "spsc". Of the others, "mutex" does every
 *   operation under one lock, so a send, a receive and a drain are each one indivisible step in
 *   one total order, which is what the stale-message argument below stands on; a timer's channel
 *   sees one message per period, where a lock-free ring's speed buys nothing and its per-channel
 *   memory (with 100,000 timers) would cost.
 *
 * No stale message after stop/reset (Go 1.23). Each timer has a lock, @lock, and a generation,
 * @gen. An arm queues the entry with cookie = @gen; stop, reset and free bump @gen under @lock,
 * take the entry out of the heap and drain the channel (a try_recv; capacity 1). fire() acts
 * only when its cookie still equals @gen, checked under @lock, and sends under @lock. So a send
 * for an arm older than the stop/reset is either complete before the drain (both under @lock:
 * the drain removes it, unless a receiver took it first) or never happens (the fire, which may
 * have left the heap and be waiting for @lock, finds @gen changed). A concurrent receiver R:
 * the mutex channel orders R's take and the drain; if R's take came first R received the old
 * message before the stop/reset could remove it (R's receive is ordered before the call, even
 * if R returns after it), else the drain removed it and R can only get a message sent for a
 * later arm, which happens after the call returned. Hence: once stop/reset returns, no receive
 * that starts afterwards can see a message from before it.
 *
 * Free: bump @gen and disarm under @lock, then pl__tq_fini(), which waits for a fire already
 * running on this timer (it finds @gen changed and returns); only then are the channel and the
 * timer freed, so the timer thread never touches freed memory and nothing is sent after free
 * returns.
 *
 * Lock order: @lock, then the timer queue's lock (arm/disarm) and the channel's (send, drain).
 * The timer thread calls fire() without the queue's lock, so it takes @lock first too.
 *
 * Fork safety is out of scope: the timer thread does not exist in a child process.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <patlab/chan.h>
#include <patlab/ctx.h>
#include <patlab/timer.h>

#include "sync/die.h"
#include "sync/timerq.h"

_Static_assert(sizeof(uintptr_t) >= sizeof(int64_t), "a fire time must fit in a message");

struct pl_timer {
	struct pl__tq_entry ent; /* the queue's (see sync/timerq.h) */
	pl_chan *ch;		 /* immutable after construction */
	pthread_mutex_t lock;
	/* Protected by @lock. */
	int64_t period; /* > 0: a ticker; 0: a timer */
	int64_t when;	/* the next deadline while @armed */
	uint64_t gen;	/* bumped by stop, reset and free: the cookie of the current arm */
	bool armed;	/* a fire is due (queued, or taken out of the heap and not yet done) */
};

static pl_timer *of_entry(struct pl__tq_entry *e)
{
	return (pl_timer *)(void *)((char *)e - offsetof(pl_timer, ent));
}

static void lock(pl_timer *t)
{
	PL_CHECK(pthread_mutex_lock(&t->lock));
}

static void unlock(pl_timer *t)
{
	PL_CHECK(pthread_mutex_unlock(&t->lock));
}

/* sat_add - @a + @b for @a >= 0, clamped to INT64_MAX on overflow. */
static int64_t sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	return a + b;
}

/* next_tick - the first deadline of @period's schedule through @when that is after @now. */
static int64_t next_tick(int64_t when, int64_t period, int64_t now)
{
	int64_t missed = now > when ? (now - when) / period : 0; /* whole periods already gone */

	if (missed >= INT64_MAX / period - 1)
		return INT64_MAX;
	return sat_add(when, (missed + 1) * period);
}

/*
 * fire - on the timer thread: @t's deadline came for the arm with @cookie. Acts only if that
 * arm is still current (see the top of the file).
 */
static void fire(struct pl__tq_entry *e, uint64_t cookie)
{
	pl_timer *t = of_entry(e);
	int64_t now;

	lock(t);
	if (!t->armed || cookie != t->gen) {
		unlock(t);
		return; /* stopped, reset or being freed since this fire was queued */
	}
	now = pl_now_ns();
	/* -EAGAIN: the previous message is untaken; this tick is dropped (a timer's channel is
	 * always empty here: every arm drains it first). */
	(void)pl_chan_try_send(t->ch, (void *)(uintptr_t)now);
	if (t->period > 0) {
		t->when = next_tick(t->when, t->period, now);
		pl__tq_arm(&t->ent, t->when, cookie);
	} else {
		t->armed = false;
	}
	unlock(t);
}

/* drain - take an untaken message out of @t's channel (under @lock). True if there was one. */
static bool drain(pl_timer *t)
{
	void *msg;
	bool any = false;

	while (pl_chan_try_recv(t->ch, &msg) == 0)
		any = true;
	return any;
}

/* disarm - the current arm will not deliver, and nothing from it is left (under @lock). */
static bool disarm(pl_timer *t)
{
	bool prevented = t->armed;

	t->armed = false;
	t->gen++;
	pl__tq_disarm(&t->ent);
	if (drain(t))
		prevented = true;
	return prevented;
}

/* arm - under @lock: fire @delay_ns from now (<= 0: at once), as a ticker when @period > 0. */
static void arm(pl_timer *t, int64_t delay_ns, int64_t period)
{
	int64_t now = pl_now_ns();

	t->period = period;
	t->when = delay_ns > 0 ? sat_add(now, delay_ns) : now;
	t->armed = true;
	pl__tq_arm(&t->ent, t->when, t->gen);
}

static pl_timer *timer_new(int64_t delay_ns, int64_t period)
{
	pl_timer *t = calloc(1, sizeof(*t));
	int rc;

	if (t == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	t->ch = pl_chan_new("mutex", 1);
	if (t->ch == NULL) {
		rc = errno; /* ENOMEM */
		free(t);
		errno = rc;
		return NULL;
	}
	rc = pl__tq_init(&t->ent, fire);
	if (rc != 0) {
		pl_chan_free(t->ch);
		free(t);
		errno = -rc;
		return NULL;
	}
	PL_CHECK(pthread_mutex_init(&t->lock, NULL));
	lock(t);
	arm(t, delay_ns, period);
	unlock(t);
	return t;
}

pl_timer *pl_timer_new(int64_t delay_ns)
{
	return timer_new(delay_ns, 0);
}

pl_timer *pl_ticker_new(int64_t period_ns)
{
	if (period_ns <= 0) {
		errno = EINVAL;
		return NULL;
	}
	return timer_new(period_ns, period_ns);
}

pl_chan *pl_timer_chan(pl_timer *t)
{
	return t->ch;
}

bool pl_timer_stop(pl_timer *t)
{
	bool prevented;

	lock(t);
	prevented = disarm(t);
	unlock(t);
	return prevented;
}

int pl_timer_reset(pl_timer *t, int64_t ns)
{
	lock(t);
	if (t->period > 0 && ns <= 0) {
		unlock(t);
		return -EINVAL;
	}
	(void)disarm(t);
	arm(t, ns, t->period > 0 ? ns : 0);
	unlock(t);
	return 0;
}

void pl_timer_free(pl_timer *t)
{
	if (t == NULL)
		return;
	lock(t);
	(void)disarm(t);
	unlock(t);
	/* Waits out a fire() already past the heap: it finds @gen changed and touches no more. */
	pl__tq_fini(&t->ent);
	pl_chan_free(t->ch);
	PL_CHECK(pthread_mutex_destroy(&t->lock));
	free(t);
}
