/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_REF_VYUKOV_RING_H
#define PATLAB_REF_VYUKOV_RING_H

/*
 * ref_vyukov - a plain bounded MPMC ring of pointers: Dmitry Vyukov's algorithm, the
 * yardstick the "lockfree" channel kind is measured against (bench/ref/README.md).
 *
 * Correct with any number of sending and receiving threads at once. Capacity: any value
 * >= 1, exact (a full ring holds exactly @cap messages). Messages are any pointer, NULL
 * included. FIFO for messages whose sends do not overlap in time.
 *
 * Algorithm. Every slot carries a sequence number (its stamp); head and tail are positions
 * that only grow. Whether a slot is free, full or in use is decided from its stamp alone:
 * - send at position T: the slot is free for this lap when stamp == T. Claim it by moving
 *   tail T -> next(T) with a CAS, write the message, publish with stamp = T + 1.
 *   stamp < T: the slot still holds the previous lap's message, the ring is full.
 * - recv at position H: the slot holds this lap's message when stamp == H + 1. Claim it by
 *   moving head H -> next(H) with a CAS, read the message, free it for the next lap's sender
 *   with stamp = H + one_lap.   stamp < H + 1: nothing published there yet, the ring is empty.
 * - stamp beyond what this side expects: another thread took the position first; reload.
 * A thread claims a position only after it has seen the slot in the state it needs, so the
 * CAS is the only contended write besides the stamp itself; no side reads the other's index.
 *
 * Positions (exact capacity without a power-of-two ring, as in crossbeam's array queue): a
 * position is lap * one_lap + index, one_lap the next power of two >= cap (at least 2, so a
 * published stamp never equals a free one: that is what breaks Vyukov's original at capacity
 * 1). next() steps the index and, past cap - 1, moves to index 0 of the next lap. When cap is a
 * power of two >= 2 this is exactly Vyukov's pos + 1 with a mask. Stamps are compared as
 * signed differences, so wrapping the size_t positions is harmless.
 *
 * Waiting: the blocking calls loop on the try calls with struct ref_backoff (PAUSE a little,
 * then sched_yield()). There is no close, no cancellation and no parking: a thread blocked on
 * a ring no one will touch again spins (yielding) forever. A reference, not a channel.
 *
 * Memory: ref_vyukov_new() makes one allocation for the ring and one for the slots;
 * ref_vyukov_free() releases both and does not look at buffered messages.
 *
 * Synchronization:
 *   what                           ordering            pairs with
 *   stamp load before claiming     acquire             the stamp store of the other side
 *   stamp store after send/recv    release             the other side's acquire stamp load
 *   head / tail loads and CAS      relaxed             nothing: they only order claims among
 *                                                      threads of one side; data travels
 *                                                      with the stamps
 */

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "backoff.h"

/* Fields that different threads write live this far apart (adjacent-line prefetch). */
#define REF_FALSE_SHARING 128

struct ref_vyukov_slot {
	/* Release-stored by the sender that publishes and by the receiver that frees the slot;
	 * acquire-loaded by either before it touches @msg. */
	_Atomic size_t stamp;
	/* Written by the sender that claimed the slot, read by the receiver that claimed it. */
	void *msg;
};

struct ref_vyukov {
	/* Read-only after ref_vyukov_new(). */
	struct ref_vyukov_slot *slots;
	size_t cap;
	size_t one_lap;
	/* Receivers' claim position: CAS by receivers only. */
	alignas(REF_FALSE_SHARING) _Atomic size_t head;
	/* Senders' claim position: CAS by senders only. */
	alignas(REF_FALSE_SHARING) _Atomic size_t tail;
	char pad[REF_FALSE_SHARING - sizeof(size_t)];
};

_Static_assert(offsetof(struct ref_vyukov, tail) - offsetof(struct ref_vyukov, head) >=
		   REF_FALSE_SHARING,
	       "head and tail share a cache line pair");
_Static_assert(sizeof(struct ref_vyukov) - offsetof(struct ref_vyukov, tail) >= REF_FALSE_SHARING,
	       "tail shares a line pair with what follows the ring");

/* ref_vyukov_next - the position after @pos: the next index, or index 0 of the next lap. */
static inline size_t ref_vyukov_next(const struct ref_vyukov *r, size_t pos)
{
	if ((pos & (r->one_lap - 1)) + 1 < r->cap)
		return pos + 1;
	return (pos & ~(r->one_lap - 1)) + r->one_lap;
}

/*
 * ref_vyukov_new - an empty ring holding up to @cap messages.
 * Returns the ring, or NULL with errno EINVAL (@cap 0, or too large) or ENOMEM.
 */
static inline struct ref_vyukov *ref_vyukov_new(size_t cap)
{
	struct ref_vyukov *r;
	size_t lap = 2;

	if (cap == 0 || cap > SIZE_MAX / 4 / sizeof(struct ref_vyukov_slot)) {
		errno = EINVAL;
		return NULL;
	}
	while (lap < cap)
		lap *= 2;
	r = aligned_alloc(REF_FALSE_SHARING, sizeof(*r));
	if (r == NULL)
		return NULL;
	/* Whole lines, so no slot shares a line with another allocation. */
	r->slots = aligned_alloc(REF_FALSE_SHARING,
				 (cap * sizeof(struct ref_vyukov_slot) + REF_FALSE_SHARING - 1) /
				     REF_FALSE_SHARING * REF_FALSE_SHARING);
	if (r->slots == NULL) {
		free(r);
		return NULL;
	}
	r->cap = cap;
	r->one_lap = lap;
	for (size_t i = 0; i < cap; i++) {
		atomic_init(&r->slots[i].stamp, i);
		r->slots[i].msg = NULL;
	}
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return r;
}

/* ref_vyukov_free - release @r (NULL: no-op). No thread may use it any more. */
static inline void ref_vyukov_free(struct ref_vyukov *r)
{
	if (r == NULL)
		return;
	free(r->slots);
	free(r);
}

/*
 * ref_vyukov_try_send - append @msg unless the ring is full.
 * Returns true when sent, false when full (the slot at tail still holds an unreceived message,
 * or a receiver that claimed it has not freed it yet). Never waits; retries only when another
 * sender took the position first.
 */
static inline bool ref_vyukov_try_send(struct ref_vyukov *r, void *msg)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	for (;;) {
		struct ref_vyukov_slot *s = &r->slots[tail & (r->one_lap - 1)];
		/* Pairs with the release store of the receiver that freed the slot: its read of
		 * the previous message is done before we overwrite it. */
		size_t stamp = atomic_load_explicit(&s->stamp, memory_order_acquire);
		ptrdiff_t d = (ptrdiff_t)(stamp - tail);

		if (d == 0) {
			/* Relaxed: the claim orders nothing; on failure @tail is reloaded. */
			if (atomic_compare_exchange_weak_explicit(
				&r->tail, &tail, ref_vyukov_next(r, tail), memory_order_relaxed,
				memory_order_relaxed)) {
				s->msg = msg;
				/* Pairs with the acquire stamp load in ref_vyukov_try_recv(). */
				atomic_store_explicit(&s->stamp, tail + 1, memory_order_release);
				return true;
			}
		} else if (d < 0) {
			return false;
		} else {
			tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		}
	}
}

/*
 * ref_vyukov_try_recv - take the oldest message into *@msg unless the ring is empty.
 * Returns true when received, false when empty (nothing published at head yet, which includes
 * a sender that claimed the slot and has not published). Never waits.
 */
static inline bool ref_vyukov_try_recv(struct ref_vyukov *r, void **msg)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	for (;;) {
		struct ref_vyukov_slot *s = &r->slots[head & (r->one_lap - 1)];
		/* Pairs with the release store of the sender that published the slot. */
		size_t stamp = atomic_load_explicit(&s->stamp, memory_order_acquire);
		ptrdiff_t d = (ptrdiff_t)(stamp - (head + 1));

		if (d == 0) {
			/* Relaxed: as in ref_vyukov_try_send(). */
			if (atomic_compare_exchange_weak_explicit(
				&r->head, &head, ref_vyukov_next(r, head), memory_order_relaxed,
				memory_order_relaxed)) {
				*msg = s->msg;
				/* Pairs with the acquire stamp load of the next lap's sender. */
				atomic_store_explicit(&s->stamp, head + r->one_lap,
						      memory_order_release);
				return true;
			}
		} else if (d < 0) {
			return false;
		} else {
			head = atomic_load_explicit(&r->head, memory_order_relaxed);
		}
	}
}

/*
 * ref_vyukov_send - append @msg, waiting while the ring is full. Woken by nobody: it polls,
 * PAUSE then sched_yield() (struct ref_backoff), until a receiver frees the slot.
 */
static inline void ref_vyukov_send(struct ref_vyukov *r, void *msg)
{
	struct ref_backoff b = REF_BACKOFF_INIT;

	while (!ref_vyukov_try_send(r, msg))
		ref_backoff_wait(&b);
}

/*
 * ref_vyukov_recv - take the oldest message, waiting while the ring is empty. Polls as
 * ref_vyukov_send() does, until a sender publishes.
 */
static inline void *ref_vyukov_recv(struct ref_vyukov *r)
{
	struct ref_backoff b = REF_BACKOFF_INIT;
	void *msg;

	while (!ref_vyukov_try_recv(r, &msg))
		ref_backoff_wait(&b);
	return msg;
}

#endif /* PATLAB_REF_VYUKOV_RING_H */
