/* SPDX-License-Identifier: MIT */
/*
 * test_ref_rings - the reference rings of bench/ref/ (patlab-ref's yardsticks) are correct:
 *
 * 1. One thread: an empty ring refuses a receive; a ring takes exactly its capacity (1, 2,
 *    3, 7, 64, 1000: powers of two and not; ck_ring the 2^k - 1 nearest) and refuses one more; one
 * receive makes room for exactly one send; FIFO order, NULL included, across many laps; capacity 0
 * is refused.
 * 2. Threads: P producers -> ring -> C consumers, every message received exactly once (a
 *    counter per message, checked after the join) and each producer's messages in increasing
 *    order as seen by any one consumer; capacities 1, 2 and 1000. ref_vyukov at 1p1c, 2p2c,
 *    3p1c, 1p3c, 4p4c; ref_spsc and (when built with libck-dev) ck_ring spsc at 1p1c.
 *
 * Lengths scale with PATLAB_STRESS_SCALE and shrink under sanitizers. Nothing is timed.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "helpers.h"

#include "spsc_ring.h"
#include "vyukov_ring.h"
#ifdef PATLAB_REF_CK
#include "ck_spsc.h"
#endif

#define POISON	 ((void *)UINTPTR_MAX)
#define SEQ_BITS 40

/* The ring under test behind one set of calls: its type is chosen by @which. */
enum which {
	VYUKOV,
	SPSC,
	CK
};

static const char *const names[] = {"ref_vyukov", "ref_spsc", "ck_ring spsc"};

static void *ring_new(enum which w, size_t cap)
{
	void *r = NULL;

	switch (w) {
	case VYUKOV:
		r = ref_vyukov_new(cap);
		break;
	case SPSC:
		r = ref_spsc_new(cap);
		break;
	case CK:
#ifdef PATLAB_REF_CK
		r = ref_ck_new(cap);
#endif
		break;
	}
	CHECK(r != NULL);
	return r;
}

static void ring_free(enum which w, void *r)
{
	switch (w) {
	case VYUKOV:
		ref_vyukov_free(r);
		break;
	case SPSC:
		ref_spsc_free(r);
		break;
	case CK:
#ifdef PATLAB_REF_CK
		ref_ck_free(r);
#endif
		break;
	}
}

static bool try_send(enum which w, void *r, void *m)
{
	switch (w) {
	case VYUKOV:
		return ref_vyukov_try_send(r, m);
	case SPSC:
		return ref_spsc_try_send(r, m);
	case CK:
#ifdef PATLAB_REF_CK
		return ck_ring_enqueue_spsc(&((struct ref_ck *)r)->ring, ((struct ref_ck *)r)->buf,
					    m);
#endif
		break;
	}
	abort();
}

static bool try_recv(enum which w, void *r, void **m)
{
	switch (w) {
	case VYUKOV:
		return ref_vyukov_try_recv(r, m);
	case SPSC:
		return ref_spsc_try_recv(r, m);
	case CK:
#ifdef PATLAB_REF_CK
		return ck_ring_dequeue_spsc(&((struct ref_ck *)r)->ring, ((struct ref_ck *)r)->buf,
					    m);
#endif
		break;
	}
	abort();
}

static void ring_send(enum which w, void *r, void *m)
{
	switch (w) {
	case VYUKOV:
		ref_vyukov_send(r, m);
		return;
	case SPSC:
		ref_spsc_send(r, m);
		return;
	case CK:
#ifdef PATLAB_REF_CK
		ref_ck_send(r, m);
		return;
#endif
		break;
	}
	abort();
}

static void *ring_recv(enum which w, void *r)
{
	switch (w) {
	case VYUKOV:
		return ref_vyukov_recv(r);
	case SPSC:
		return ref_spsc_recv(r);
	case CK:
#ifdef PATLAB_REF_CK
		return ref_ck_recv(r);
#endif
		break;
	}
	abort();
}

/* The capacity a ring made for @cap really has (ck_ring: 2^k - 1, see ck_spsc.h). */
static size_t held(enum which w, size_t cap)
{
	static const size_t ck[][2] = {{1, 1}, {2, 3}, {3, 3}, {7, 7}, {64, 63}, {1000, 1023}};

	if (w != CK)
		return cap;
	for (size_t i = 0; i < sizeof(ck) / sizeof(ck[0]); i++)
		if (ck[i][0] == cap)
			return ck[i][1];
	pt_fail(__FILE__, __LINE__, "no known ck_ring capacity for %zu", cap);
}

/* ---------------------------------------------------------------- 1. one thread */

static void one_thread(enum which w, size_t cap)
{
	void *r = ring_new(w, cap);
	size_t n = held(w, cap);
	uintptr_t next_in = 0, next_out = 0;
	void *m = (void *)1;

	pt_note("%s capacity %zu: one thread", names[w], cap);
	CHECK(!try_recv(w, r, &m));
	CHECK(m == (void *)1); /* untouched when empty */

	/* Exactly n fit; the first message is NULL. */
	for (size_t i = 0; i < n; i++)
		CHECK(try_send(w, r, (void *)next_in++));
	CHECK(!try_send(w, r, (void *)next_in));
	/* One out makes room for exactly one in. */
	CHECK(try_recv(w, r, &m));
	CHECK_EQ((uintptr_t)m, next_out++);
	CHECK(try_send(w, r, (void *)next_in++));
	CHECK(!try_send(w, r, (void *)next_in));
	/* Drain in order; then empty. */
	for (size_t i = 0; i < n; i++) {
		CHECK(try_recv(w, r, &m));
		CHECK_EQ((uintptr_t)m, next_out++);
	}
	CHECK(!try_recv(w, r, &m));

	/* Many laps at every fill level from 1 to n: positions and stamps wrap correctly. */
	for (size_t fill = 1; fill <= n && fill <= 64; fill++) {
		for (size_t i = 0; i < fill; i++)
			CHECK(try_send(w, r, (void *)next_in++));
		for (size_t i = 0; i < 3 * n + 5; i++) {
			CHECK(try_recv(w, r, &m));
			CHECK_EQ((uintptr_t)m, next_out++);
			CHECK(try_send(w, r, (void *)next_in++));
		}
		if (fill == n)
			CHECK(!try_send(w, r, (void *)next_in));
		for (size_t i = 0; i < fill; i++) {
			CHECK(try_recv(w, r, &m));
			CHECK_EQ((uintptr_t)m, next_out++);
		}
		CHECK(!try_recv(w, r, &m));
	}
	ring_free(w, r);
}

/* ---------------------------------------------------------------- 2. threads */

struct shared {
	enum which w;
	void *r;
	unsigned producers;
	uint64_t per_producer;
	_Atomic unsigned char *seen; /* producers x per_producer receive counters */
};

struct thread_arg {
	struct shared *s;
	unsigned id;
};

static void *producer(void *arg)
{
	struct thread_arg *a = arg;
	struct shared *s = a->s;

	for (uint64_t i = 0; i < s->per_producer; i++)
		ring_send(s->w, s->r, (void *)(((uintptr_t)a->id << SEQ_BITS) | i));
	return NULL;
}

static void *consumer(void *arg)
{
	struct thread_arg *a = arg;
	struct shared *s = a->s;
	uint64_t *last1 = calloc(s->producers, sizeof(uint64_t)); /* last seen + 1, 0: none */
	void *m;

	CHECK(last1 != NULL);
	while ((m = ring_recv(s->w, s->r)) != POISON) {
		uintptr_t v = (uintptr_t)m, p = v >> SEQ_BITS;
		uint64_t seq = v & ((UINT64_C(1) << SEQ_BITS) - 1);

		CHECK(p < s->producers);
		CHECK(seq < s->per_producer);
		/* One consumer sees one producer's messages in increasing order. */
		CHECK(seq + 1 > last1[p]);
		last1[p] = seq + 1;
		/* Relaxed: a counter per message, read after the join. */
		atomic_fetch_add_explicit(&s->seen[p * s->per_producer + seq], 1,
					  memory_order_relaxed);
	}
	free(last1);
	return NULL;
}

static void threads(enum which w, size_t cap, unsigned np, unsigned nc, uint64_t per_producer)
{
	struct shared s = {.w = w, .producers = np, .per_producer = per_producer};
	struct thread_arg args[16];
	pthread_t th[16];

	pt_note("%s capacity %zu: %up%uc, %" PRIu64 " messages per producer", names[w], cap, np, nc,
		per_producer);
	CHECK(np + nc <= 16);
	s.r = ring_new(w, cap);
	s.seen = calloc(np * per_producer, 1);
	CHECK(s.seen != NULL);
	for (unsigned i = 0; i < np + nc; i++) {
		args[i] = (struct thread_arg){.s = &s, .id = i < np ? i : i - np};
		pt_start(&th[i], i < np ? producer : consumer, &args[i]);
	}
	for (unsigned i = 0; i < np; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	/* Every real message is queued before the poisons: each consumer takes one and stops. */
	for (unsigned i = 0; i < nc; i++)
		ring_send(w, s.r, POISON);
	for (unsigned i = np; i < np + nc; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	for (uint64_t i = 0; i < np * per_producer; i++) {
		/* Relaxed: every consumer was joined. */
		unsigned char n = atomic_load_explicit(&s.seen[i], memory_order_relaxed);

		if (n != 1)
			pt_fail(__FILE__, __LINE__,
				"%s cap %zu %up%uc: producer %" PRIu64 "'s message %" PRIu64
				" received %u times",
				names[w], cap, np, nc, i / per_producer, i % per_producer, n);
	}
	/* Nothing left behind. */
	{
		void *m;

		CHECK(!try_recv(w, s.r, &m));
	}
	free(s.seen);
	ring_free(w, s.r);
}

int main(void)
{
	static const size_t caps1[] = {1, 2, 3, 7, 64, 1000};
	static const size_t caps[] = {1, 2, 1000};
	static const unsigned topo[][2] = {{1, 1}, {2, 2}, {3, 1}, {1, 3}, {4, 4}};
	enum which rings[] = {VYUKOV, SPSC, CK};
	unsigned n_rings = 2;
	double scale = pt_scale() * (pt_sanitized() ? 0.1 : 1);
	uint64_t per = (uint64_t)(100000 * scale);

#ifdef PATLAB_REF_CK
	n_rings = 3;
#else
	printf("test_ref_rings: ck_ring spsc not built (no libck-dev): not tested\n");
#endif
	if (per < 1000)
		per = 1000;
	pt_watchdog_start(120);

	errno = 0;
	CHECK(ref_vyukov_new(0) == NULL && errno == EINVAL);
	errno = 0;
	CHECK(ref_spsc_new(0) == NULL && errno == EINVAL);

	for (unsigned k = 0; k < n_rings; k++)
		for (size_t c = 0; c < sizeof(caps1) / sizeof(caps1[0]); c++)
			one_thread(rings[k], caps1[c]);

	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		for (size_t t = 0; t < sizeof(topo) / sizeof(topo[0]); t++)
			threads(VYUKOV, caps[c], topo[t][0], topo[t][1], per);
		for (unsigned k = 1; k < n_rings; k++)
			threads(rings[k], caps[c], 1, 1, per);
	}
	printf("test_ref_rings: ok\n");
	return 0;
}
