/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_REF_SPSC_RING_H
#define PATLAB_REF_SPSC_RING_H

/*
 * ref_spsc - a plain single-producer/single-consumer ring of pointers with cached indices,
 * the yardstick the "spsc" channel kind is measured against (bench/ref/README.md).
 *
 * Correct ONLY with at most one thread sending and one thread receiving at a time (they may
 * be different threads, concurrently). Capacity: any value >= 1, exact (the array has one
 * slot more than @cap, which tells full from empty). Messages are any pointer, NULL included;
 * FIFO.
 *
 * Algorithm (Lamport's ring with cached indices). The producer owns tail, the consumer owns
 * head; each publishes its index with a release store and reads the other's with an acquire
 * load. To keep the other side's cache line from bouncing on every message, each side keeps a
 * private copy of the other's index (head_cache, tail_cache) and reloads the shared one only
 * when the copy says full (producer) or empty (consumer). With both sides busy, a message
 * then costs no shared-line read most of the time: one slot write or read and one store of
 * the own index.
 *
 * Waiting: the blocking calls loop on the try calls with struct ref_backoff (PAUSE a little,
 * then sched_yield()). No close, no cancellation, no parking: a reference, not a channel.
 *
 * Memory: ref_spsc_new() makes one allocation for the ring and one for the slots;
 * ref_spsc_free() releases both and does not look at buffered messages.
 *
 * Synchronization:
 *   what                               ordering   pairs with
 *   producer's store of tail           release    the consumer's acquire load of tail
 *   consumer's load of tail            acquire    the producer's release store of tail
 *   consumer's store of head           release    the producer's acquire load of head
 *   producer's load of head            acquire    the consumer's release store of head
 *   each side's load of its own index  relaxed    nothing: only that side stores it
 */

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "backoff.h"

#ifndef REF_FALSE_SHARING
/* Fields that different threads write live this far apart (adjacent-line prefetch). */
#define REF_FALSE_SHARING 128
#endif

struct ref_spsc {
	/* Read-only after ref_spsc_new(): cap + 1 slots. */
	void **slots;
	size_t size;
	/* The producer's line: tail is stored by the producer only (release) and loaded by the
	 * consumer (acquire); head_cache is the producer's private copy of head. */
	alignas(REF_FALSE_SHARING) _Atomic size_t tail;
	size_t head_cache;
	/* The consumer's line: head and tail_cache, the mirror image. */
	alignas(REF_FALSE_SHARING) _Atomic size_t head;
	size_t tail_cache;
	char pad[REF_FALSE_SHARING - 2 * sizeof(size_t)];
};

_Static_assert(offsetof(struct ref_spsc, head) - offsetof(struct ref_spsc, tail) >=
		   REF_FALSE_SHARING,
	       "the producer's and the consumer's fields share a cache line pair");
_Static_assert(sizeof(struct ref_spsc) - offsetof(struct ref_spsc, head) >= REF_FALSE_SHARING,
	       "the consumer's fields share a line pair with what follows the ring");

/*
 * ref_spsc_new - an empty ring holding up to @cap messages.
 * Returns the ring, or NULL with errno EINVAL (@cap 0, or too large) or ENOMEM.
 */
static inline struct ref_spsc *ref_spsc_new(size_t cap)
{
	struct ref_spsc *r;

	if (cap == 0 || cap > SIZE_MAX / 4 / sizeof(void *)) {
		errno = EINVAL;
		return NULL;
	}
	r = aligned_alloc(REF_FALSE_SHARING, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->size = cap + 1;
	r->slots =
	    aligned_alloc(REF_FALSE_SHARING, (r->size * sizeof(void *) + REF_FALSE_SHARING - 1) /
						 REF_FALSE_SHARING * REF_FALSE_SHARING);
	if (r->slots == NULL) {
		free(r);
		return NULL;
	}
	atomic_init(&r->tail, 0);
	atomic_init(&r->head, 0);
	r->head_cache = 0;
	r->tail_cache = 0;
	return r;
}

/* ref_spsc_free - release @r (NULL: no-op). No thread may use it any more. */
static inline void ref_spsc_free(struct ref_spsc *r)
{
	if (r == NULL)
		return;
	free(r->slots);
	free(r);
}

/* ref_spsc_try_send - append @msg unless full: true when sent. The producer's call only. */
static inline bool ref_spsc_try_send(struct ref_spsc *r, void *msg)
{
	/* Relaxed: only this thread stores tail. */
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t next = tail + 1 == r->size ? 0 : tail + 1;

	if (next == r->head_cache) {
		/* Pairs with the release store of head in ref_spsc_try_recv(): the consumer's
		 * read of the slot we are about to reuse is done. */
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		if (next == r->head_cache)
			return false;
	}
	r->slots[tail] = msg;
	/* Pairs with the acquire load of tail in ref_spsc_try_recv(). */
	atomic_store_explicit(&r->tail, next, memory_order_release);
	return true;
}

/* ref_spsc_try_recv - take the oldest message unless empty: true when received. The
 * consumer's call only. */
static inline bool ref_spsc_try_recv(struct ref_spsc *r, void **msg)
{
	/* Relaxed: only this thread stores head. */
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (head == r->tail_cache) {
		/* Pairs with the release store of tail in ref_spsc_try_send(). */
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head == r->tail_cache)
			return false;
	}
	*msg = r->slots[head];
	/* Pairs with the acquire load of head in ref_spsc_try_send(). */
	atomic_store_explicit(&r->head, head + 1 == r->size ? 0 : head + 1, memory_order_release);
	return true;
}

/*
 * ref_spsc_send - append @msg, waiting while full. Woken by nobody: it polls, PAUSE then
 * sched_yield() (struct ref_backoff), until the consumer takes a message.
 */
static inline void ref_spsc_send(struct ref_spsc *r, void *msg)
{
	struct ref_backoff b = REF_BACKOFF_INIT;

	while (!ref_spsc_try_send(r, msg))
		ref_backoff_wait(&b);
}

/* ref_spsc_recv - take the oldest message, waiting while empty; polls until the producer
 * publishes one. */
static inline void *ref_spsc_recv(struct ref_spsc *r)
{
	struct ref_backoff b = REF_BACKOFF_INIT;
	void *msg;

	while (!ref_spsc_try_recv(r, &msg))
		ref_backoff_wait(&b);
	return msg;
}

#endif /* PATLAB_REF_SPSC_RING_H */
