/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_TIMERQ_H
#define PATLAB_TIMERQ_H

/*
 * Internal: the process's timer queue. One thread (started by the first pl__tq_init()) keeps a
 * binary heap of entries ordered by deadline and calls each entry's function once its deadline
 * has come, in deadline order (equal deadlines: in the order they were armed), never before.
 * Between deadlines it sleeps on a futex until the earliest one; arming an entry that becomes
 * the earliest wakes it. Timers (patterns/timer/) and context after-functions
 * (pl_ctx_after_func()) are built on it, so a process has one timer thread whatever it uses.
 *
 * Entries are embedded in their owner's memory: the queue allocates nothing per arm. Heap room
 * is reserved by pl__tq_init(), which is the only call that can fail; pl__tq_arm() never does,
 * so it may be called where nothing can be reported (from a callback, under other locks).
 *
 * Callbacks run on the timer thread, one at a time, without the queue's lock: they may arm or
 * disarm any entry (their own included) and take their owner's locks. They must be short (the
 * next deadline waits for them) and must not call pl__tq_fini() on their own entry. The timer
 * thread has every signal blocked.
 *
 * Synchronization: the queue's fields and every entry's @when, @seq, @cookie, @idx are
 * protected by the queue's lock. Lock order: an owner's lock, then the queue's (pl__tq_arm()
 * and pl__tq_disarm() take it); the queue never calls a callback under its lock.
 *
 * Not fork-safe: a child process has no timer thread (its heap is a copy nobody serves).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pl__tq_entry;

/* A callback: @e's deadline came; @cookie is what pl__tq_arm() was given with it. */
typedef void (*pl__tq_fn)(struct pl__tq_entry *e, uint64_t cookie);

struct pl__tq_entry {
	/* Set by pl__tq_init(), read-only after. */
	pl__tq_fn fn;
	/* Protected by the queue's lock. */
	int64_t when;	 /* the deadline, CLOCK_MONOTONIC ns */
	uint64_t seq;	 /* arm order: breaks ties between equal deadlines */
	uint64_t cookie; /* passed to @fn */
	size_t idx;	 /* position in the heap; PL__TQ_IDLE when not queued */
};

#define PL__TQ_IDLE SIZE_MAX

/*
 * pl__tq_init - make @e usable (not armed) with callback @fn, reserving its room in the heap
 * and starting the timer thread if it does not run yet.
 * Returns 0, -ENOMEM (no room) or -EAGAIN (the timer thread could not be started; a later call
 * tries again). On failure @e must not be used.
 */
int pl__tq_init(struct pl__tq_entry *e, pl__tq_fn fn);

/*
 * pl__tq_arm - (re)arm @e: @fn(@e, @cookie) is called once the clock reaches @when (at once
 * when it has passed), unless it is disarmed or re-armed first. Re-arming a queued entry moves
 * it; re-arming one whose callback is running queues it again. Never fails; never blocks
 * beyond the queue's lock. Wakes the timer thread when @e becomes the earliest deadline.
 */
void pl__tq_arm(struct pl__tq_entry *e, int64_t when, uint64_t cookie);

/*
 * pl__tq_disarm - take @e out of the heap. Returns true when it was queued (its callback for
 * that arm will not run). A callback already taken out of the heap may still be running or
 * about to run: owners tell stale calls apart by @cookie, or wait with pl__tq_fini().
 */
bool pl__tq_disarm(struct pl__tq_entry *e);

/*
 * pl__tq_fini - disarm @e, wait until its callback is not running, and give its heap room
 * back. Afterwards the queue never touches @e again and its memory may go. Must not be called
 * from @e's own callback (that would wait for itself: it aborts instead).
 */
void pl__tq_fini(struct pl__tq_entry *e);

#endif /* PATLAB_TIMERQ_H */
