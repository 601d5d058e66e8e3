/* SPDX-License-Identifier: MIT */
/*
 * The "spsc" kind: a single-producer single-consumer ring (ck_ring / rigtorp SPSCQueue style),
 * blocking through two eventcounts, with no locked instruction and no fence per message.
 *
 * Guarantee (ck_ring's wording): correct only with one sending thread and one receiving thread
 * at a time. Any number of threads may call pl_chan_close() and pl_chan_len() concurrently with
 * them; handing the sending (or receiving) role to another thread needs a happens-before edge
 * between the old and the new one (a join, a mutex, a message). The kind says so with
 * PL_KIND_SPSC, and the suites and the bench never use it with more.
 *
 * Indices. tail counts messages sent (stored by the sender only), head messages received
 * (stored by the receiver only). The ring has a power-of-two size >= cap + SLACK, but a send
 * fails as full once tail - head == cap, so the capacity is exact. Each side keeps a private copy
 * of the other side's index and reloads the shared one only when its copy says full / empty, so in
 * steady state each shared line moves only when the other side runs out (rigtorp's cached indices).
 * The sender's and the receiver's fields (indices, caches, their copies of the geometry) each sit
 * on lines of their own.
 *
 * Transfer: the sender writes the slot, then release-stores tail; the receiver acquire-loads
 * tail, reads the slot, then release-stores head; the sender acquire-loads head before it
 * reuses a slot. On x86 these are plain moves.
 *
 * Wakeups (no lost wakeup). The receiver parks on not_empty, the sender on not_full, through
 * pl__block(): announce (pl__evc_prepare: waiters++ then pl__barrier_heavy()), re-check the
 * index the other side moves, sleep only if the sequence word did not move since. The other
 * side stores its index, then pl__barrier_light(), then loads waiters (pl__evc_notify_asym).
 * That is the asymmetric Dekker of barrier.h: either the re-check sees the new index, or the
 * notifier sees the waiter and bumps the sequence word, which makes the futex sleep return at
 * once or wakes it. The membarrier system call is paid only by a thread about to sleep, after
 * its spin budget; the message path pays a compiler barrier and one load of a line nobody
 * writes while nobody sleeps.
 *
 * Close. state holds CLOSING and CLOSED, both set once by close, from any thread (and FENCED,
 * set at create when membarrier is unavailable, so the send path learns the barrier mode from
 * the word it loads anyway). Once there is room, the sender announces the tail it is about to
 * publish (sending = tail + 1), then, after the light barrier, loads state; if CLOSING it
 * withdraws (sending = tail), delivers nothing and fails with -EPIPE, else it writes the slot
 * and publishes tail. close sets CLOSING, pl__barrier_heavy(), then waits until tail has caught
 * up with sending (wait_sender()): by the same Dekker, a send that missed CLOSING is seen in
 * flight and waited for, and every later send sees CLOSING. Only then is CLOSED set (release),
 * so tail is final once CLOSED is visible: the receiver reports -EPIPE only when it has seen
 * CLOSED (acquire) and then an empty ring, so every send that returned 0 is received and
 * nothing is delivered after the close. A full ring reports -EPIPE rather than -EAGAIN once
 * CLOSING is seen. The wait in close is for a sender between two stores of its own
 * send_once(): a few instructions unless preempted, so it PAUSEs, then yields (never parks,
 * never for long); a second close waits the same way for the first to set CLOSED. Then close
 * notifies both eventcounts with pl__evc_notify() (a fence: close is rare), which pairs with
 * the waiters' seq_cst increment whether or not membarrier is in use.
 *
 * Without membarrier (barrier.h's fallback) both barriers are fences: each send then pays
 * two, each receive one; the protocol is unchanged.
 *
 * Select: a select's case counts as the one sender (send case) or receiver (receive case). Blocked,
 * it subscribes to not_full or not_empty, which pays pl__barrier_heavy() as pl__evc_prepare()
 * does, so the notifies above nudge it, and re-tries with the try operations. Its snapshot of
 * "none ready" reads tail and CLOSED (receive cases) or head and CLOSING (send cases).
 *
 * Memory: one allocation (the channel, then the ring), freed by destroy. Messages are not owned.
 */
#include "chan/kind.h"

#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sync/barrier.h"
#include "chan/block.h"
#include "chan/sel.h"

enum {
	CLOSING = 1u << 0, /* sends fail from now on */
	CLOSED = 1u << 1,  /* and tail is final: receivers may report -EPIPE once drained */
	FENCED = 1u << 2,  /* set at create when membarrier is unavailable: the fence fallback */
};

struct spsc_chan {
	struct pl_chan base;
	int64_t spin_ns; /* read-only after create */
	/* CLOSING | CLOSED, set by close (seq_cst RMWs); loaded by the sender per message and by
	 * the receiver when the ring looks empty. Never written otherwise: the line stays shared
	 * by both sides' caches. */
	_Atomic unsigned state;

	/* Sender-private, read-only geometry copied here so the sender touches its own line. */
	alignas(PL_FALSE_SHARING) size_t tx_cap;
	size_t tx_mask; /* ring size - 1 */
	/* A lower bound of head, reloaded when the ring looks full. */
	size_t head_cache;
	/* The tail the sender is about to publish: stored (relaxed) = tail + 1 before its state
	 * load, ordered by the barrier pair with close's pl__barrier_heavy(); a send is in
	 * flight while sending != tail. Withdrawn (release) = tail when the send fails on
	 * CLOSING. Read by close only (wait_sender()). */
	_Atomic size_t sending;

	/* Messages sent. Stored by the sender only (release, after the slot write). */
	alignas(PL_FALSE_SHARING) _Atomic size_t tail;

	/* Messages received. Stored by the receiver only (release, after the slot read). */
	alignas(PL_FALSE_SHARING) _Atomic size_t head;

	/* Receiver-private: geometry, and a lower bound of tail reloaded when the ring looks
	 * empty. */
	alignas(PL_FALSE_SHARING) size_t rx_mask;
	size_t tail_cache;

	/* The receiver sleeps here; notified by the sender after a send and by close. */
	alignas(PL_FALSE_SHARING) struct pl__evc not_empty;
	/* The sender sleeps here; notified by the receiver after a receive and by close. */
	alignas(PL_FALSE_SHARING) struct pl__evc not_full;
	/* Plain: slot i is written by the sender before the tail store (release) that publishes
	 * it, read by the receiver after the tail load (acquire) that showed it, and free again
	 * once the receiver's head store (release) is seen by the sender's head load (acquire). */
	alignas(PL_FALSE_SHARING) void *ring[];
};

/* Each group starts a line of its own (alignas) and the private groups fit in one. */
#define ON_OWN_LINE(f) (offsetof(struct spsc_chan, f) % PL_FALSE_SHARING == 0)
_Static_assert(ON_OWN_LINE(tx_cap) && ON_OWN_LINE(tail) && ON_OWN_LINE(head) &&
		   ON_OWN_LINE(rx_mask) && ON_OWN_LINE(not_empty) && ON_OWN_LINE(not_full),
	       "hot fields share a line");
_Static_assert(offsetof(struct spsc_chan, sending) + sizeof(size_t) <=
		   offsetof(struct spsc_chan, tx_cap) + PL_FALSE_SHARING,
	       "the sender's private fields span two lines");
_Static_assert(offsetof(struct spsc_chan, ring) % PL_FALSE_SHARING == 0, "ring not aligned");

/*
 * Free slots the ring keeps beyond cap: a sender that finds the channel full and resumes as
 * soon as one message is taken writes SLACK slots ahead of the receiver's next read, not into
 * the line it is reading (with ring size == cap the two sides would share a slot line at
 * every message, and both stall once per line). Two 128-byte spans of pointers.
 */
#define SLACK (2 * PL_FALSE_SHARING / sizeof(void *))

static inline struct spsc_chan *to_spsc(const void *ch)
{
	return (struct spsc_chan *)ch;
}

/*
 * notify_receiver - pl__evc_notify_asym(&c->not_empty, 1) with the barrier mode already known
 * from @st (the state word this send loaded): the hot path then reads no global flag.
 */
static inline void notify_receiver(struct spsc_chan *c, unsigned st)
{
	if (__builtin_expect(st & FENCED, 0)) {
		pl__evc_notify(&c->not_empty, 1);
		return;
	}
	/* pl__barrier_light() in membarrier mode: pairs with pl__barrier_heavy() in the
	 * receiver's pl__evc_prepare(). */
	atomic_signal_fence(memory_order_seq_cst);
	/* Relaxed: ordered after our tail store by the barrier pair. */
	if (atomic_load_explicit(&c->not_empty.waiters, memory_order_relaxed) != 0)
		pl__evc_notify_slow(&c->not_empty, 1);
}

static inline int send_once(struct spsc_chan *c, void *msg)
{
	/* Relaxed: only this thread stores tail. */
	size_t tail = atomic_load_explicit(&c->tail, memory_order_relaxed);
	unsigned st;

	if (tail - c->head_cache >= c->tx_cap) {
		/* Acquire, pairing with the receiver's head store: its read of the slot precedes
		 * our write. Also the re-check of a sender about to park on not_full. */
		c->head_cache = atomic_load_explicit(&c->head, memory_order_acquire);
		if (tail - c->head_cache >= c->tx_cap) {
			/* Full; closed wins. Relaxed: a close we miss here is concurrent with us;
			 * a sender parked on not_full re-checks after close's notify (its fence
			 * pairs with pl__evc_prepare()'s increment). */
			if (atomic_load_explicit(&c->state, memory_order_relaxed) & CLOSING)
				return -EPIPE;
			return -EAGAIN;
		}
	}
	/* Announce the tail we are about to publish. Relaxed: the light barrier (a compiler
	 * barrier here; in FENCED mode the fence below, before the state load that counts) orders
	 * it before the state load, pairing with pl__barrier_heavy() in spsc_close(): either we
	 * see CLOSING below or close sees sending == tail + 1 and waits for our tail store. */
	atomic_store_explicit(&c->sending, tail + 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst); /* pl__barrier_light() in membarrier mode */
	st = atomic_load_explicit(&c->state, memory_order_relaxed);
	if (__builtin_expect(st != 0, 0)) {
		if (st & FENCED) {
			/* pl__barrier_light() in fence mode: the load after the fence counts. */
			pl__barrier_full();
			st = atomic_load_explicit(&c->state, memory_order_relaxed);
		}
		if (st & CLOSING) {
			/* Withdraw: sending == tail again, nothing delivered. Release, pairing
			 * with wait_sender(). */
			atomic_store_explicit(&c->sending, tail, memory_order_release);
			return -EPIPE;
		}
	}
	c->ring[tail & c->tx_mask] = msg;
	/* Release, pairing with the receiver's tail load (publishes the slot) and with
	 * wait_sender() (close then sees tail == sending). */
	atomic_store_explicit(&c->tail, tail + 1, memory_order_release);
	/* Wakes a receiver parked on not_empty. */
	notify_receiver(c, st);
	return 0;
}

static inline int recv_once(struct spsc_chan *c, void **msg)
{
	/* Relaxed: only this thread stores head. */
	size_t head = atomic_load_explicit(&c->head, memory_order_relaxed);

	if (head == c->tail_cache) {
		/* Acquire, pairing with the sender's tail store that published the slots. Also
		 * the re-check of a receiver about to park on not_empty. */
		c->tail_cache = atomic_load_explicit(&c->tail, memory_order_acquire);
		if (head == c->tail_cache) {
			/* Acquire, pairing with close's CLOSED store: once we see it, tail is
			 * final and the reload below sees it. */
			if (!(atomic_load_explicit(&c->state, memory_order_acquire) & CLOSED))
				return -EAGAIN;
			c->tail_cache = atomic_load_explicit(&c->tail, memory_order_acquire);
			if (head == c->tail_cache)
				return -EPIPE;
		}
	}
	*msg = c->ring[head & c->rx_mask];
	/* Release, pairing with the sender's head load: our read of the slot precedes its next
	 * write of it. */
	atomic_store_explicit(&c->head, head + 1, memory_order_release);
	/* Wakes a sender parked on not_full (barrier pair with its pl__evc_prepare()). */
	pl__evc_notify_asym(&c->not_full, 1);
	return 0;
}

static int send_attempt(void *ch, void *msg)
{
	return send_once(ch, msg);
}

static int recv_attempt(void *ch, void *msg)
{
	return recv_once(ch, msg);
}

static int spsc_send(pl_chan *ch, void *msg, pl_ctx *cx)
{
	struct spsc_chan *c = to_spsc(ch);
	int rc = send_once(c, msg);

	if (__builtin_expect(rc != -EAGAIN, 1))
		return rc;
	/* Parks on not_full: woken by the receiver (recv_once's notify) or close. */
	return pl__block(&c->not_full, send_attempt, c, msg, cx, c->spin_ns);
}

static int spsc_recv(pl_chan *ch, void **msg, pl_ctx *cx)
{
	struct spsc_chan *c = to_spsc(ch);
	int rc = recv_once(c, msg);

	if (__builtin_expect(rc != -EAGAIN, 1))
		return rc;
	/* Parks on not_empty: woken by the sender (send_once's notify) or close. */
	return pl__block(&c->not_empty, recv_attempt, c, msg, cx, c->spin_ns);
}

static int spsc_try_send(pl_chan *ch, void *msg)
{
	return send_once(to_spsc(ch), msg);
}

static int spsc_try_recv(pl_chan *ch, void **msg)
{
	return recv_once(to_spsc(ch), msg);
}

/* PAUSE, then yield: the peer we wait for is a few instructions from done unless preempted. */
static void backoff(unsigned *i)
{
	if ((*i)++ < 64)
		pl__cpu_relax();
	else
		sched_yield();
}

/*
 * wait_sender - wait until no send is in flight: a sender that missed CLOSING is between its
 * announcement and its tail store (or its withdrawal). Acquire on both loads: pairs with the
 * sender's release stores of tail and sending, so the tail we see last is final.
 */
static void wait_sender(struct spsc_chan *c)
{
	for (unsigned i = 0;; backoff(&i)) {
		size_t s = atomic_load_explicit(&c->sending, memory_order_acquire);
		size_t t = atomic_load_explicit(&c->tail, memory_order_acquire);

		/* tail read after sending: t == s, or t > s if a later send completed since. */
		if ((ptrdiff_t)(t - s) >= 0)
			return;
	}
}

static int spsc_close(pl_chan *ch)
{
	struct spsc_chan *c = to_spsc(ch);
	unsigned old = atomic_fetch_or_explicit(&c->state, CLOSING, memory_order_seq_cst);

	if (old & CLOSING) {
		/* Another close is finishing: return once the channel is closed for everyone.
		 * Acquire: pairs with its CLOSED RMW. */
		for (unsigned i = 0;
		     !(atomic_load_explicit(&c->state, memory_order_acquire) & CLOSED); backoff(&i))
			;
		return -EPIPE;
	}
	/* Pairs with the light barrier in send_once(): a send that missed CLOSING shows its
	 * announcement to wait_sender(). */
	pl__barrier_heavy();
	wait_sender(c);
	/* seq_cst (includes release, pairing with the receiver's acquire load of state: tail is
	 * final and visible with CLOSED). */
	atomic_fetch_or_explicit(&c->state, CLOSED, memory_order_seq_cst);
	/* The fence in pl__evc_notify() pairs with the waiters' seq_cst increment in
	 * pl__evc_prepare(), whatever the barrier mode: a waiter either re-checks after CLOSING
	 * and CLOSED or is woken. */
	pl__evc_notify(&c->not_empty, INT32_MAX);
	pl__evc_notify(&c->not_full, INT32_MAX);
	return 0;
}

static int spsc_sel_try(pl_chan *ch, struct pl__sel_case *sc)
{
	if (sc->op == PL_SEL_SEND)
		return send_once(to_spsc(ch), sc->msg);
	return recv_once(to_spsc(ch), &sc->msg);
}

static int spsc_sel_arm(pl_chan *ch, struct pl__sel_case *sc)
{
	struct spsc_chan *c = to_spsc(ch);

	pl__sel_subscribe(sc, sc->op == PL_SEL_SEND ? &c->not_full : &c->not_empty);
	return spsc_sel_try(ch, sc);
}

static uint64_t spsc_sel_version(pl_chan *ch, enum pl_sel_op op)
{
	struct spsc_chan *c = to_spsc(ch);
	/* seq_cst: ordered with the attempts around it (the indices only grow). */
	unsigned st = atomic_load_explicit(&c->state, memory_order_seq_cst);

	if (op == PL_SEL_RECV)
		return (uint64_t)atomic_load_explicit(&c->tail, memory_order_seq_cst) * 2 +
		       !!(st & CLOSED);
	return (uint64_t)atomic_load_explicit(&c->head, memory_order_seq_cst) * 2 +
	       !!(st & CLOSING);
}

static size_t spsc_len(const pl_chan *ch)
{
	struct spsc_chan *c = to_spsc(ch);
	/* Head first: both only grow, and head <= sent at any instant, so a later tail is >= the
	 * head we read; the difference may exceed cap only through a stale head: clamp. */
	size_t head = atomic_load_explicit(&c->head, memory_order_seq_cst);
	size_t sent = atomic_load_explicit(&c->tail, memory_order_seq_cst);
	size_t n = sent - head;

	return n > c->tx_cap ? c->tx_cap : n;
}

static pl_chan *spsc_create(size_t cap, const pl_chan_opts *o)
{
	struct spsc_chan *c;
	size_t size = 1, bytes, want = cap + SLACK;

	while (size < want && size <= SIZE_MAX / 4)
		size <<= 1;
	if (want < cap || size < want || __builtin_mul_overflow(size, sizeof(void *), &bytes) ||
	    __builtin_add_overflow(bytes, sizeof(*c) + PL_FALSE_SHARING - 1, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	bytes = bytes / PL_FALSE_SHARING * PL_FALSE_SHARING; /* aligned_alloc wants a multiple */
	c = aligned_alloc(PL_FALSE_SHARING, bytes);
	if (c == NULL)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->spin_ns = o->spin_ns;
	/* Asymmetric eventcounts: pl__evc_init_asym() settles the barrier mode (once per
	 * process) before the channel is shared; FENCED tells the hot paths. */
	pl__evc_init_asym(&c->not_empty);
	pl__evc_init_asym(&c->not_full);
	atomic_init(&c->state, pl__membarrier_ok ? 0u : FENCED);
	c->tx_cap = cap;
	c->tx_mask = size - 1;
	c->head_cache = 0;
	atomic_init(&c->sending, 0);
	atomic_init(&c->tail, 0);
	atomic_init(&c->head, 0);
	c->rx_mask = size - 1;
	c->tail_cache = 0;
	return &c->base;
}

static void spsc_destroy(pl_chan *ch)
{
	free(ch);
}

const struct pl_chan_ops pl__chan_spsc = {
    .name = "spsc",
    .summary = "single-producer single-consumer ring, cached indices, no fence per message",
    .flags = PL_KIND_SPSC | PL_KIND_SPINS,
    .create = spsc_create,
    .destroy = spsc_destroy,
    .send = spsc_send,
    .recv = spsc_recv,
    .try_send = spsc_try_send,
    .try_recv = spsc_try_recv,
    .close = spsc_close,
    .len = spsc_len,
    .sel_try = spsc_sel_try,
    .sel_arm = spsc_sel_arm,
    .sel_disarm = pl__sel_unsubscribe,
    .sel_version = spsc_sel_version,
};
