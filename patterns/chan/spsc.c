/* SPDX-License-Identifier: MIT */
/*
 * The "spsc" kind: a single-producer single-consumer ring (ck_ring / rigtorp SPSCQueue style),
 * blocking through two eventcounts.
 *
 * Guarantee (ck_ring's wording): correct only with one sending thread and one receiving thread
 * at a time. Any number of threads may call pl_chan_close() and pl_chan_len() concurrently with
 * them; handing the sending (or receiving) role to another thread needs a happens-before edge
 * between the old and the new one (a join, a mutex, a message). The kind says so with
 * PL_KIND_SPSC, and the suites and the bench never use it with more.
 *
 * Indices. head counts messages received (written by the receiver only). tail is
 * (messages sent << 1) | closed: the sender advances it, close sets bit 0 from any thread.
 * The ring has a power-of-two size >= cap, but a send fails as full once sent - received ==
 * cap, so the capacity is exact. Each side keeps a private copy of the other side's index and
 * reloads the shared one only when its copy says full / empty, so in steady state each shared
 * line moves only when the other side runs out (rigtorp's cached indices).
 *
 * Close cannot lose a message: the sender writes the slot, then publishes with a CAS of tail
 * from (n << 1) to ((n + 1) << 1). If close's fetch_or got there first the CAS fails, the send
 * returns -EPIPE, and the slot beyond tail is never read. So every send either completed
 * before close (and is drained by the receiver, which reports -EPIPE only once closed and
 * head == sent) or fails having delivered nothing.
 *
 * Blocking: pl__block() over the attempt; the receiver parks on not_empty, the sender on
 * not_full. Each send notifies not_empty, each receive not_full, close both. The tail CAS and
 * the receiver's seq_cst store of head are the read-modify-write / seq_cst change that makes
 * the notify's fence unnecessary (argued in notify_after_change()); on x86 each message then
 * costs one locked instruction on each side and no fence (single-threaded, a send+recv pair
 * takes 13 ns). That instruction is the price of blocking and of a close from a third thread:
 * ck_ring, which has neither, publishes with a plain store.
 *
 * Memory: one allocation (the channel, then the ring), freed by destroy. Messages are not owned.
 */
#include "chan/kind.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chan/park.h"

struct spsc_chan {
	struct pl_chan base;
	/* Read-only after create. */
	size_t cap;
	size_t mask; /* ring size - 1 */
	int64_t spin_ns;
	/* (sent << 1) | closed. CAS by the sender, fetch_or by close. */
	alignas(PL_FALSE_SHARING) _Atomic size_t tail;
	/* Sender-private: a lower bound of head, reloaded when the ring looks full. */
	alignas(PL_FALSE_SHARING) size_t head_cache;
	/* Received count. Stored by the receiver only. */
	alignas(PL_FALSE_SHARING) _Atomic size_t head;
	/* Receiver-private: a lower bound of sent (tail >> 1), reloaded when the ring looks empty.
	 */
	alignas(PL_FALSE_SHARING) size_t tail_cache;
	/* The receiver sleeps here; notified by the sender after a send and by close. */
	alignas(PL_FALSE_SHARING) struct pl__evc not_empty;
	/* The sender sleeps here; notified by the receiver after a receive and by close. */
	alignas(PL_FALSE_SHARING) struct pl__evc not_full;
	/* Plain: slot i is written by the sender before the tail CAS (release) that publishes
	 * it, read by the receiver after the tail load (acquire) that showed it, and free again
	 * once the receiver's head store (release) is seen by the sender's head load (acquire). */
	alignas(PL_FALSE_SHARING) void *ring[];
};

_Static_assert(offsetof(struct spsc_chan, head) - offsetof(struct spsc_chan, tail) >=
		   2 * (size_t)PL_FALSE_SHARING,
	       "indices share a line");
_Static_assert(offsetof(struct spsc_chan, ring) % PL_FALSE_SHARING == 0, "ring not aligned");

static inline struct spsc_chan *to_spsc(const void *ch)
{
	return (struct spsc_chan *)ch;
}

/*
 * notify_after_change - pl__evc_notify(@e, @n) for a caller whose change was a seq_cst store
 * or read-modify-write (the tail CAS, the head store, close's fetch_or).
 *
 * pl__evc_notify() fences between the change and the load of @waiters; a seq_cst load is
 * enough here. A waiter parks only after, all seq_cst: W, the increment in pl__evc_prepare();
 * B, a load of the index we change (tail for the receiver, head and tail for the sender) that
 * still shows the old value. With C our change and L this load, C <S L (sequenced); B read a
 * value before C in modification order, so B is coherence-ordered before C and B <S C (C++20
 * [atomics.order], P0668, what gcc and clang implement for C11 too). So W <S B <S C <S L and L
 * reads W's increment or a later value of @waiters, which counts W until that waiter withdraws
 * (every change of @waiters is an RMW). Either the waiter saw our change or we see the waiter.
 */
static inline void notify_after_change(struct pl__evc *e, int n)
{
	if (atomic_load_explicit(&e->waiters, memory_order_seq_cst) != 0)
		pl__evc_notify_slow(e, n);
}

static int send_once(void *ch, void *msg)
{
	struct spsc_chan *c = ch;
	/* seq_cst: load B for a sender about to park on not_full (close's fetch_or is C). */
	size_t tail = atomic_load_explicit(&c->tail, memory_order_seq_cst);
	size_t sent = tail >> 1;

	if (tail & 1)
		return -EPIPE;
	if (sent - c->head_cache >= c->cap) {
		/* seq_cst: load B (the receiver's head store is C); includes acquire, pairing
		 * with that release so the receiver's read of the slot precedes our write. */
		c->head_cache = atomic_load_explicit(&c->head, memory_order_seq_cst);
		if (sent - c->head_cache >= c->cap)
			return -EAGAIN;
	}
	c->ring[sent & c->mask] = msg;
	/* seq_cst (includes release, pairing with the receiver's tail load): publishes the slot;
	 * C for a receiver parked on not_empty. Fails only if close set the mark: then nothing
	 * was delivered (the slot lies beyond tail). */
	if (!atomic_compare_exchange_strong_explicit(&c->tail, &tail, tail + 2,
						     memory_order_seq_cst, memory_order_relaxed))
		return -EPIPE;
	notify_after_change(&c->not_empty, 1);
	return 0;
}

static int recv_once(void *ch, void *arg)
{
	struct spsc_chan *c = ch;
	void **msg = arg;
	/* Relaxed: only this thread stores head. */
	size_t head = atomic_load_explicit(&c->head, memory_order_relaxed);

	if (head == c->tail_cache) {
		/* seq_cst: load B for a receiver about to park (the tail CAS or close is C);
		 * includes acquire, pairing with the tail CAS that published the slots. */
		size_t tail = atomic_load_explicit(&c->tail, memory_order_seq_cst);

		c->tail_cache = tail >> 1;
		if (head == c->tail_cache)
			return (tail & 1) ? -EPIPE : -EAGAIN;
	}
	*msg = c->ring[head & c->mask];
	/* seq_cst (includes release, pairing with the sender's head load: our read of the slot
	 * precedes its next write): C for a sender parked on not_full. */
	atomic_store_explicit(&c->head, head + 1, memory_order_seq_cst);
	notify_after_change(&c->not_full, 1);
	return 0;
}

static int spsc_send(pl_chan *ch, void *msg, pl_ctx *cx)
{
	struct spsc_chan *c = to_spsc(ch);
	int rc = send_once(c, msg);

	if (rc != -EAGAIN)
		return rc;
	/* Parks on not_full: woken by the receiver (notify_after_change) or close. */
	return pl__block(&c->not_full, send_once, c, msg, cx, c->spin_ns);
}

static int spsc_recv(pl_chan *ch, void **msg, pl_ctx *cx)
{
	struct spsc_chan *c = to_spsc(ch);
	int rc = recv_once(c, msg);

	if (rc != -EAGAIN)
		return rc;
	/* Parks on not_empty: woken by the sender (notify_after_change) or close. */
	return pl__block(&c->not_empty, recv_once, c, msg, cx, c->spin_ns);
}

static int spsc_try_send(pl_chan *ch, void *msg)
{
	return send_once(ch, msg);
}

static int spsc_try_recv(pl_chan *ch, void **msg)
{
	return recv_once(ch, msg);
}

static int spsc_close(pl_chan *ch)
{
	struct spsc_chan *c = to_spsc(ch);
	/* seq_cst: C for both sides' waiters; every later tail CAS fails. */
	size_t old = atomic_fetch_or_explicit(&c->tail, 1, memory_order_seq_cst);

	if (old & 1)
		return -EPIPE;
	notify_after_change(&c->not_empty, INT32_MAX);
	notify_after_change(&c->not_full, INT32_MAX);
	return 0;
}

static size_t spsc_len(const pl_chan *ch)
{
	struct spsc_chan *c = to_spsc(ch);
	/* Head first: both only grow, and head <= sent at any instant, so a later tail is >= the
	 * head we read; the difference may exceed cap only through a stale head: clamp. */
	size_t head = atomic_load_explicit(&c->head, memory_order_seq_cst);
	size_t sent = atomic_load_explicit(&c->tail, memory_order_seq_cst) >> 1;
	size_t n = sent - head;

	return n > c->cap ? c->cap : n;
}

static pl_chan *spsc_create(size_t cap, const pl_chan_opts *o)
{
	struct spsc_chan *c;
	size_t size = 1, bytes;

	while (size < cap && size <= SIZE_MAX / 4)
		size <<= 1;
	if (size < cap || __builtin_mul_overflow(size, sizeof(void *), &bytes) ||
	    __builtin_add_overflow(bytes, sizeof(*c) + PL_FALSE_SHARING - 1, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	bytes = bytes / PL_FALSE_SHARING * PL_FALSE_SHARING; /* aligned_alloc wants a multiple */
	c = aligned_alloc(PL_FALSE_SHARING, bytes);
	if (c == NULL)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->cap = cap;
	c->mask = size - 1;
	c->spin_ns = o->spin_ns;
	atomic_init(&c->tail, 0);
	atomic_init(&c->head, 0);
	c->head_cache = 0;
	c->tail_cache = 0;
	pl__evc_init(&c->not_empty);
	pl__evc_init(&c->not_full);
	return &c->base;
}

static void spsc_destroy(pl_chan *ch)
{
	free(ch);
}

const struct pl_chan_ops pl__chan_spsc = {
    .name = "spsc",
    .summary = "single-producer single-consumer ring, cached indices, spin then park",
    .flags = PL_KIND_SPSC | PL_KIND_SPINS,
    .create = spsc_create,
    .destroy = spsc_destroy,
    .send = spsc_send,
    .recv = spsc_recv,
    .try_send = spsc_try_send,
    .try_recv = spsc_try_recv,
    .close = spsc_close,
    .len = spsc_len,
};
