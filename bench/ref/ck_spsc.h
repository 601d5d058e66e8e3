/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_REF_CK_SPSC_H
#define PATLAB_REF_CK_SPSC_H

/*
 * ref_ck - Concurrency Kit's ck_ring in its single-producer/single-consumer namespace, used
 * through its own API (Debian's libck-dev, header only), as a third reference beside
 * ref_spsc: an independent, widely used implementation of the same algorithm.
 *
 * Correct ONLY with one sending and one receiving thread at a time (ck_ring's _spsc
 * guarantee). Capacity: ck_ring needs a power-of-two array and keeps one slot empty, so it can
 * only hold 2^k - 1 messages (k >= 1). A ring asked for @cap holds the nearest such count
 * (ties: the larger): exactly @cap when @cap + 1 is a power of two (1, 3, 7, ..., 1023),
 * otherwise close to it (1024 asked: 1023 held; 64: 63; 100: 127). ref_ck_held() says which.
 *
 * Ordering is ck_ring's own (ck_pr fences around its head and tail); waiting is ours: the
 * blocking calls loop on ck's enqueue/dequeue with struct ref_backoff, as the other
 * references do. No close, no cancellation, no parking.
 *
 * Memory: ref_ck_new() makes one allocation for the ring and one for the buffer;
 * ref_ck_free() releases both.
 */

#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include <ck_ring.h>

#include "backoff.h"

struct ref_ck {
	/* ck_ring pads its consumer and producer fields onto separate lines itself. */
	struct ck_ring ring;
	struct ck_ring_buffer *buf;
	/* The capacity actually held: ref_ck_held(cap asked). */
	size_t held;
};

/* ref_ck_held - the capacity a ring asked for @cap has: the 2^k - 1 nearest to @cap. */
static inline size_t ref_ck_held(size_t cap)
{
	size_t size = 2;

	while (size - 1 < cap)
		size *= 2;
	/* size - 1 >= cap > size / 2 - 1: take the nearer, the larger on a tie. */
	if (size > 2 && cap - (size / 2 - 1) < (size - 1) - cap)
		size /= 2;
	return size - 1;
}

/*
 * ref_ck_new - an empty ck_ring holding ref_ck_held(@cap) messages (see above).
 * Returns it, or NULL with errno EINVAL (@cap 0, or beyond ck_ring's unsigned int sizes) or
 * ENOMEM.
 */
static inline struct ref_ck *ref_ck_new(size_t cap)
{
	struct ref_ck *r;
	size_t size;

	if (cap == 0 || cap >= UINT_MAX / 4) {
		errno = EINVAL;
		return NULL;
	}
	size = ref_ck_held(cap) + 1;
	r = aligned_alloc(128, (sizeof(*r) + 127) / 128 * 128);
	if (r == NULL)
		return NULL;
	r->buf = aligned_alloc(128, (size * sizeof(*r->buf) + 127) / 128 * 128);
	if (r->buf == NULL) {
		free(r);
		return NULL;
	}
	ck_ring_init(&r->ring, (unsigned int)size);
	r->held = size - 1;
	return r;
}

/* ref_ck_free - release @r (NULL: no-op). No thread may use it any more. */
static inline void ref_ck_free(struct ref_ck *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}

/* ref_ck_send - append @msg, polling (PAUSE, then sched_yield()) while the ring is full. */
static inline void ref_ck_send(struct ref_ck *r, void *msg)
{
	struct ref_backoff b = REF_BACKOFF_INIT;

	while (!ck_ring_enqueue_spsc(&r->ring, r->buf, msg))
		ref_backoff_wait(&b);
}

/* ref_ck_recv - take the oldest message, polling while the ring is empty. */
static inline void *ref_ck_recv(struct ref_ck *r)
{
	struct ref_backoff b = REF_BACKOFF_INIT;
	void *msg;

	while (!ck_ring_dequeue_spsc(&r->ring, r->buf, &msg))
		ref_backoff_wait(&b);
	return msg;
}

#endif /* PATLAB_REF_CK_SPSC_H */
