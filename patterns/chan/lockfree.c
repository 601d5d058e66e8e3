/* SPDX-License-Identifier: MIT */
/*
 * The "lockfree" kind: a bounded MPMC array queue with a stamp per slot (Vyukov's bounded
 * MPMC queue, in the shape of crossbeam-channel's array flavour), blocking through two
 * eventcounts.
 *
 * Positions. head and tail are words of the form  lap | mark | index:  index (low bits) is the
 * slot, below mark_bit = the next power of two > cap; one_lap = 2 * mark_bit, so the bits above
 * count laps. A position moves from index cap - 1 to index 0 of the next lap, so any cap >= 1
 * gives an exact capacity without a power-of-two ring. The mark bit is used in tail only: it
 * is the closed flag (crossbeam's mark_bit). Slot i starts with stamp i.
 *
 * Protocol (every slot cycles through these stamps, lap by lap):
 * - send:  at tail T, the slot is free for this lap when its stamp == T. Claim it with a CAS
 *          tail T -> next(T) (fails if anything changed, the mark included), write the message,
 *          publish with stamp = T + 1. A sender whose CAS claimed a slot always publishes it; a
 *          sender that sees the mark returns -EPIPE having delivered nothing, so close cannot
 *          lose a message.
 * - recv:  at head H, the slot holds this lap's message when its stamp == H + 1. Claim it with
 *          a CAS head H -> next(H), read the message, release with stamp = H + one_lap (free
 *          for the next lap's sender).
 * - full:  the slot still holds the previous lap's message (stamp + one_lap == T + 1) and
 *          head + one_lap == T.
 * - empty: the slot is unwritten for this lap (stamp == H) and tail without its mark == H;
 *          closed and empty is -EPIPE, forever (no send can succeed after the mark).
 *
 * Claimed but unfinished slots (the "false empty" of every Vyukov-style ring: the position
 * moved, the slot's stamp did not yet). A receiver that meets a slot a sender has claimed but
 * not yet published, a sender that meets a slot a receiver has claimed but not yet released,
 * or either side meeting a slot an earlier lap's peer has not finished (behind()), waits for
 * that peer: a few PAUSE rounds, then sched_yield() (so a preempted peer gets the CPU back on
 * an oversubscribed machine).
 * - In the blocking operations this wait is unbounded (and does not look at the context): the
 *   peer finishes within a few instructions of running. It must be: every notify wakes one
 *   waiter, and a woken waiter that went back to sleep without consuming the change it was
 *   woken for (because an earlier slot was still unfinished) would leave a later message with
 *   nobody awake to take it — the lost wakeup of tylertreat/chan #11 in another form. (A
 *   variant with a bounded wait here, an injected delay between claim and publish, and K
 *   receivers doing exactly one recv each hung within a few rounds; this one does not.)
 * - In try_send/try_recv it is bounded (TRY_YIELDS yields after the PAUSE rounds); past that
 *   they report -EAGAIN. So a try operation never waits on another thread for long, at the
 *   price that, only while a peer is descheduled in the middle of its own operation, try_recv
 *   can report -EAGAIN although a later send has completed (or try_send -EAGAIN although a
 *   later receive has). A try_recv never reports -EPIPE while a claimed message is unpublished.
 *
 * Two attempts. The hot path and the spin phase use send_fast()/recv_fast(), which decide
 * "not now" from the slot alone, as Vyukov's ring does: a slot still holding the previous
 * lap's message is full-or-being-freed, an unwritten one empty-or-being-published, and either
 * way the answer is -EAGAIN without a look at the other side's index (that line is CASed by
 * the other side on every message; loading it on every not-ready poll dragged it across cores
 * and cost three quarters of the throughput). They never wait for a peer: the caller polls
 * again. Only the park loop (and the try operations) use send_once()/recv_once() below, which
 * read the other index to tell "full/empty" from "a peer is mid-operation", because the
 * no-lost-wakeup argument needs that distinction before a thread sleeps.
 *
 * Blocking: the spin phase over the fast attempt (pl__spin), then pl__block() over the careful
 * one with receivers parked on not_empty and senders on not_full. Every successful send notifies
 * not_empty (one waiter), every successful receive not_full (one waiter), close both (all). The
 * notify after a transfer costs one load: see notify_after_rmw() for why the claiming CAS makes
 * pl__evc_notify()'s fence unnecessary.
 *
 * Select: a blocked select subscribes to not_empty (receive cases) or not_full (send cases), so
 * the notifies above nudge it, and re-tries with the try operations (whose bounded wait for a
 * peer is safe here: the peer's own publish or release notifies again). Its snapshot of "none
 * ready" reads tail (receive cases: every send and close moves it) or head plus the mark (send
 * cases: every receive and close), both monotonic. Plain operations pay nothing for it.
 *
 * Memory: one allocation (the channel, then the slots), freed by destroy. Messages are not
 * owned. len() is a snapshot of tail - head, exact when the channel is quiescent.
 */
#include "chan/kind.h"

#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "chan/block.h"
#include "chan/sel.h"

/*
 * A slot is 16 bytes, four to a cache line (crossbeam's layout), not padded to a line each
 * (rigtorp's MPMCQueue): on the shared 2-core VM, 1p1c/2p2c/4p4c at cap 1024 showed no
 * difference beyond the run-to-run noise between 16, 64 and 128 bytes (best of 5: 44/42/27,
 * 44/34/27, 44/29/26 M msg/s), and padding costs 4-8x the memory. Build with
 * -DLF_SLOT_ALIGN=64 (or 128) to compare on a quiet machine.
 */
#ifndef LF_SLOT_ALIGN
#define LF_SLOT_ALIGN 16
#endif

/* How long a try operation waits for a peer that claimed its slot: yields after the PAUSEs. */
#define TRY_YIELDS 8

struct lf_slot {
	/* Release-stored by the sender that publishes / the receiver that frees the slot;
	 * acquire-loaded by the opposite side before it touches @msg. */
	alignas(LF_SLOT_ALIGN) _Atomic size_t stamp;
	/* Plain: written only by the claiming sender before its stamp release, read only by the
	 * claiming receiver after its stamp acquire. */
	void *msg;
};

struct lf_chan {
	struct pl_chan base;
	/* Read-only after create. */
	size_t cap;
	size_t mark_bit; /* next power of two > cap: the closed flag in tail */
	size_t one_lap;	 /* 2 * mark_bit: one lap in a position */
	int64_t spin_ns;
	/* Set once by close, after tail's mark; read by recv_fast() on an empty-looking slot. A
	 * hint on a line nobody else writes: the mark in tail is the truth. */
	_Atomic bool closed;
	/* Claimed by receivers (CAS); never carries the mark. */
	alignas(PL_FALSE_SHARING) _Atomic size_t head;
	/* Claimed by senders (CAS); the mark set once by close (fetch_or). */
	alignas(PL_FALSE_SHARING) _Atomic size_t tail;
	/* Receivers sleep here; notified by senders after a send and by close. */
	alignas(PL_FALSE_SHARING) struct pl__evc not_empty;
	/* Senders sleep here; notified by receivers after a receive and by close. */
	alignas(PL_FALSE_SHARING) struct pl__evc not_full;
	alignas(PL_FALSE_SHARING) struct lf_slot slots[];
};

_Static_assert(sizeof(struct lf_slot) == LF_SLOT_ALIGN, "slot stride");
_Static_assert(offsetof(struct lf_chan, tail) - offsetof(struct lf_chan, head) >= PL_FALSE_SHARING,
	       "head and tail share a line");
_Static_assert(offsetof(struct lf_chan, slots) % PL_FALSE_SHARING == 0, "slots not aligned");

static inline struct lf_chan *to_lf(const void *ch)
{
	return (struct lf_chan *)ch;
}

/* The position after @pos (no mark): the next index, or index 0 of the next lap. */
static inline size_t next_pos(const struct lf_chan *c, size_t pos)
{
	size_t index = pos & (c->mark_bit - 1);

	if (index + 1 < c->cap)
		return pos + 1;
	return (pos & ~(c->one_lap - 1)) + c->one_lap; /* wraps harmlessly, as unsigned */
}

/*
 * behind - the slot's @stamp is older than what position @pos expects of it: a peer of an
 * earlier lap claimed the slot and has not finished with it (or, for a sender, the slot holds
 * the previous lap's message). Positions differ by far less than half their range, so the
 * signed difference orders them across wrap-around. Every stamp is one of: what @pos expects
 * (or one more, published), behind it, or ahead of it (@pos is stale: re-read it). Waiting for
 * a "behind" slot must yield, never re-read in a tight loop: when threads outnumber cores the
 * peer may be descheduled, and a spinner that never yields keeps it off the CPU for a whole
 * time slice (measured: 16p16c on 2 cores ran at a tenth of the speed).
 */
static inline bool behind(size_t stamp, size_t pos)
{
	return (ptrdiff_t)(stamp - pos) < 0;
}

/*
 * notify_after_rmw - pl__evc_notify(@e, @n) for a caller whose change was made by a seq_cst
 * read-modify-write (the claiming CAS on head or tail, or close's fetch_or).
 *
 * pl__evc_notify() puts a seq_cst fence between the change and the load of @waiters. Here the
 * load itself is seq_cst instead, which is enough: a waiter parks only after this sequence,
 * all seq_cst — W: the increment in pl__evc_prepare(); B: a load of the position we changed
 * that still shows the old value (see the attempts: tail for receivers; head for senders, and
 * tail for both when the change is close's mark).
 * Let C be our RMW on that position and L this load (C sequenced before L, so C <S L in the
 * single total order S). B read a value earlier than C in C's modification order, so B is
 * coherence-ordered before C and B <S C (C++20 [atomics.order], P0668; what gcc and clang
 * implement for C11 too). Hence W <S B <S C <S L, so L reads W's increment or a later value
 * of @waiters, which includes W's +1 until that waiter withdraws (every change of @waiters is
 * an RMW). Either the waiter saw our change, or we see the waiter. On x86 this saves the
 * `lock or`/mfence per message (a seq_cst load is a plain mov): measured single-threaded, a
 * send+recv pair costs 14 ns instead of 24.
 */
static inline void notify_after_rmw(struct pl__evc *e, int n)
{
	if (atomic_load_explicit(&e->waiters, memory_order_seq_cst) != 0)
		pl__evc_notify_slow(e, n);
}

/*
 * peer_wait - back off while a peer finishes the slot it claimed: PAUSE rounds of 2^k for
 * k <= PEER_PAUSE_ROUNDS (a running peer finishes within them: a PAUSE is ~24 ns on the
 * reference EPYC, so they last ~0.75 us), then sched_yield(), which lets a preempted peer run.
 * Returns false when a try operation (@blocking false) has also spent TRY_YIELDS yields; a
 * blocking one always continues (see the file comment).
 */
#define PEER_PAUSE_ROUNDS 4

struct peer_wait {
	unsigned step;
};

static bool peer_wait(struct peer_wait *w, bool blocking)
{
	if (w->step <= PEER_PAUSE_ROUNDS) {
		for (unsigned i = 0; i < (1u << w->step); i++)
			pl__cpu_relax();
	} else {
		if (!blocking && w->step > PEER_PAUSE_ROUNDS + TRY_YIELDS)
			return false;
		sched_yield();
	}
	w->step++;
	return true;
}

/* A lost CAS race: someone else moved the position (and the failed CAS reloaded it). Back off
 * a little so the winners' lines settle: 1, 2, then 4 PAUSEs (crossbeam's spin, capped lower
 * because a PAUSE is long on this CPU). No yield: a lost race means another thread progressed. */
static inline void cas_backoff(unsigned *step)
{
	for (unsigned i = 0; i < (1u << *step); i++)
		pl__cpu_relax();
	if (*step < 2)
		(*step)++;
}

/*
 * put - claim the free slot @s at *@tail and publish @msg in it: true, or false with *@tail
 * reloaded (another sender won the slot, or close set the mark).
 */
static inline bool put(struct lf_chan *c, struct lf_slot *s, size_t *tail, void *msg)
{
	/* seq_cst: C in notify_after_rmw() for receivers parked on not_empty; on failure it
	 * reloads tail, the mark included. */
	if (!atomic_compare_exchange_weak_explicit(&c->tail, tail, next_pos(c, *tail),
						   memory_order_seq_cst, memory_order_seq_cst))
		return false;
	s->msg = msg;
	/* Pairs with the acquire of the stamp in the receiving attempts. */
	atomic_store_explicit(&s->stamp, *tail + 1, memory_order_release);
	notify_after_rmw(&c->not_empty, 1);
	return true;
}

/*
 * take - claim the published slot @s at *@head and take its message into *@msg: true, or false
 * with *@head reloaded (another receiver won the slot).
 */
static inline bool take(struct lf_chan *c, struct lf_slot *s, size_t *head, void **msg)
{
	/* seq_cst: C in notify_after_rmw() for senders parked on not_full. On failure, relaxed:
	 * the reloaded head is a hint (see recv_once()). */
	if (!atomic_compare_exchange_weak_explicit(&c->head, head, next_pos(c, *head),
						   memory_order_seq_cst, memory_order_relaxed))
		return false;
	*msg = s->msg;
	/* Pairs with the acquire of the stamp in the next lap's sending attempts. */
	atomic_store_explicit(&s->stamp, *head + c->one_lap, memory_order_release);
	notify_after_rmw(&c->not_full, 1);
	return true;
}

static inline int send_once(struct lf_chan *c, void *msg, bool blocking)
{
	struct peer_wait w = {0};
	unsigned cas_step = 0;
	/* seq_cst: this may be load B of notify_after_rmw()'s argument (close's mark). */
	size_t tail = atomic_load_explicit(&c->tail, memory_order_seq_cst);

	for (;;) {
		if (tail & c->mark_bit)
			return -EPIPE;

		size_t index = tail & (c->mark_bit - 1);
		struct lf_slot *s = &c->slots[index];
		/* Pairs with the release in recv_once() that freed the slot for this lap (and
		 * orders that receiver's read of the previous message before our write). */
		size_t stamp = atomic_load_explicit(&s->stamp, memory_order_acquire);

		if (stamp == tail) {
			if (put(c, s, &tail, msg))
				return 0;
			cas_backoff(&cas_step);
		} else if (stamp + c->one_lap == tail + 1) {
			/* The slot holds the previous lap's message. seq_cst: load B for senders
			 * parked on not_full (the receiver's head CAS is C). */
			size_t head = atomic_load_explicit(&c->head, memory_order_seq_cst);

			if (head + c->one_lap == tail)
				return -EAGAIN; /* full: cap messages between head and tail */
			/* A receiver claimed the slot and has not released it yet. */
			if (!peer_wait(&w, blocking))
				return -EAGAIN;
			tail = atomic_load_explicit(&c->tail, memory_order_seq_cst);
		} else if (behind(stamp, tail)) {
			/* The previous lap's sender claimed this slot and has not published it. */
			if (!peer_wait(&w, blocking))
				return -EAGAIN;
			tail = atomic_load_explicit(&c->tail, memory_order_seq_cst);
		} else {
			/* Our tail is stale: another sender claimed this slot. */
			pl__cpu_relax();
			tail = atomic_load_explicit(&c->tail, memory_order_seq_cst);
		}
	}
}

static inline int recv_once(struct lf_chan *c, void **msg, bool blocking)
{
	struct peer_wait w = {0};
	unsigned cas_step = 0;
	/* Relaxed here and on every reload: head only says which slot to look at. The slot's
	 * stamp (acquire) validates it, the CAS claims it, and the decision to report empty or
	 * closed rests on the seq_cst tail load below (a stale head cannot show stamp == head:
	 * that slot was consumed, so its stamp moved on a lap). */
	size_t head = atomic_load_explicit(&c->head, memory_order_relaxed);

	for (;;) {
		size_t index = head & (c->mark_bit - 1);
		struct lf_slot *s = &c->slots[index];
		/* Pairs with the release in send_once() that published the slot. */
		size_t stamp = atomic_load_explicit(&s->stamp, memory_order_acquire);

		if (stamp == head + 1) {
			if (take(c, s, &head, msg))
				return 0;
			cas_backoff(&cas_step);
		} else if (stamp == head) {
			/* Unwritten for this lap. seq_cst: load B for receivers parked on
			 * not_empty (a sender's tail CAS or close's fetch_or is C). */
			size_t tail = atomic_load_explicit(&c->tail, memory_order_seq_cst);

			if ((tail & ~c->mark_bit) == head)
				return (tail & c->mark_bit) ? -EPIPE : -EAGAIN;
			/* A sender claimed the slot and has not published it yet. */
			if (!peer_wait(&w, blocking))
				return -EAGAIN;
			head = atomic_load_explicit(&c->head, memory_order_relaxed);
		} else if (behind(stamp, head)) {
			/* The previous lap's receiver claimed this slot and has not released it. */
			if (!peer_wait(&w, blocking))
				return -EAGAIN;
			head = atomic_load_explicit(&c->head, memory_order_relaxed);
		} else {
			/* Our head is stale: another receiver took this slot. */
			pl__cpu_relax();
			head = atomic_load_explicit(&c->head, memory_order_relaxed);
		}
	}
}

/*
 * send_fast - one send attempt that decides "not now" from the slot alone (Vyukov's ring): the
 * slot at tail still holds the previous lap's message means full, or a receiver that claimed it
 * has not released it yet; either way -EAGAIN, without reading head. Reading head there (what
 * send_once() does) pulls the line every receiver CASes across cores on every poll: measured,
 * that one load costs the ring three quarters of its throughput. So this is the attempt of the
 * hot path and of the spin phase, where a wrong "not now" only costs another poll; the park
 * loop uses send_once(), whose full/claimed distinction the no-lost-wakeup argument needs.
 */
static inline int send_fast(struct lf_chan *c, void *msg)
{
	unsigned cas_step = 0;
	/* seq_cst as in send_once() (a plain mov on x86): the mark is read from it. */
	size_t tail = atomic_load_explicit(&c->tail, memory_order_seq_cst);

	for (;;) {
		if (tail & c->mark_bit)
			return -EPIPE;

		struct lf_slot *s = &c->slots[tail & (c->mark_bit - 1)];
		/* Pairs with the release in recv_*() that freed the slot for this lap. */
		size_t stamp = atomic_load_explicit(&s->stamp, memory_order_acquire);

		if (stamp == tail) {
			if (put(c, s, &tail, msg))
				return 0;
			cas_backoff(&cas_step);
		} else if (behind(stamp, tail)) {
			/* Full (the previous lap's message), or a peer is finishing this slot: a
			 * receiver freeing it, or the previous lap's sender publishing it. */
			return -EAGAIN;
		} else {
			/* Our tail is stale: another sender claimed this slot. */
			tail = atomic_load_explicit(&c->tail, memory_order_seq_cst);
		}
	}
}

/*
 * recv_fast - the receiving twin of send_fast(): a slot unwritten for this lap means empty, or
 * a sender that claimed it has not published yet; -EAGAIN without reading tail. Closed: the
 * @closed flag (read-mostly, written once) sends the caller to recv_once(), which reads tail's
 * mark and tells "closed and drained" from a message still being published.
 */
static inline int recv_fast(struct lf_chan *c, void **msg)
{
	unsigned cas_step = 0;
	/* Relaxed: a hint, validated by the slot's stamp (see recv_once()). */
	size_t head = atomic_load_explicit(&c->head, memory_order_relaxed);

	for (;;) {
		struct lf_slot *s = &c->slots[head & (c->mark_bit - 1)];
		/* Pairs with the release in send_*() that published the slot. */
		size_t stamp = atomic_load_explicit(&s->stamp, memory_order_acquire);

		if (stamp == head + 1) {
			if (take(c, s, &head, msg))
				return 0;
			cas_backoff(&cas_step);
		} else if (stamp == head || behind(stamp, head)) {
			/* Relaxed: a hint only; recv_once() decides from tail's mark (seq_cst). A
			 * receiver that misses a fresh close polls once more. */
			if (atomic_load_explicit(&c->closed, memory_order_relaxed))
				return recv_once(c, msg, true);
			/* Empty, or a peer is finishing this slot: a sender publishing it, or the
			 * previous lap's receiver releasing it. */
			return -EAGAIN;
		} else {
			/* Our head is stale: another receiver took this slot. */
			head = atomic_load_explicit(&c->head, memory_order_relaxed);
		}
	}
}

static int send_attempt(void *ch, void *msg)
{
	return send_once(ch, msg, true);
}

static int recv_attempt(void *ch, void *msg)
{
	return recv_once(ch, msg, true);
}

static int lf_send(pl_chan *ch, void *msg, pl_ctx *cx)
{
	struct lf_chan *c = to_lf(ch);
	struct pl__spin spin;
	int rc = send_fast(c, msg);

	if (rc != -EAGAIN)
		return rc;
	/* The spin phase polls with the slot-only attempt; the park loop re-checks with the
	 * careful one (pl__block() spins no more). */
	pl__spin_init(&spin, c->spin_ns);
	while (pl__spin_once(&spin)) {
		rc = send_fast(c, msg);
		if (rc != -EAGAIN)
			return rc;
	}
	/* Parks on not_full: woken by a receive (notify_after_rmw) or close. */
	return pl__block(&c->not_full, send_attempt, c, msg, cx, 0);
}

static int lf_recv(pl_chan *ch, void **msg, pl_ctx *cx)
{
	struct lf_chan *c = to_lf(ch);
	struct pl__spin spin;
	int rc = recv_fast(c, msg);

	if (rc != -EAGAIN)
		return rc;
	pl__spin_init(&spin, c->spin_ns);
	while (pl__spin_once(&spin)) {
		rc = recv_fast(c, msg);
		if (rc != -EAGAIN)
			return rc;
	}
	/* Parks on not_empty: woken by a send (notify_after_rmw) or close. */
	return pl__block(&c->not_empty, recv_attempt, c, msg, cx, 0);
}

static int lf_try_send(pl_chan *ch, void *msg)
{
	return send_once(to_lf(ch), msg, false);
}

static int lf_try_recv(pl_chan *ch, void **msg)
{
	return recv_once(to_lf(ch), msg, false);
}

static int lf_close(pl_chan *ch)
{
	struct lf_chan *c = to_lf(ch);
	/* seq_cst: C in notify_after_rmw() for both sides; every later tail CAS fails. */
	size_t old = atomic_fetch_or_explicit(&c->tail, c->mark_bit, memory_order_seq_cst);

	if (old & c->mark_bit)
		return -EPIPE;
	/* Relaxed: a hint for recv_fast(), which then reads the mark itself (seq_cst). */
	atomic_store_explicit(&c->closed, true, memory_order_relaxed);
	notify_after_rmw(&c->not_empty, INT32_MAX);
	notify_after_rmw(&c->not_full, INT32_MAX);
	return 0;
}

static int lf_sel_try(pl_chan *ch, struct pl__sel_case *sc)
{
	if (sc->op == PL_SEL_SEND)
		return send_once(to_lf(ch), sc->msg, false);
	return recv_once(to_lf(ch), &sc->msg, false);
}

/* Subscribed to the eventcount the case's plain waiters sleep on: its notifies nudge us. */
static int lf_sel_arm(pl_chan *ch, struct pl__sel_case *sc)
{
	struct lf_chan *c = to_lf(ch);

	pl__sel_subscribe(sc, sc->op == PL_SEL_SEND ? &c->not_full : &c->not_empty);
	return lf_sel_try(ch, sc);
}

static uint64_t lf_sel_version(pl_chan *ch, enum pl_sel_op op)
{
	struct lf_chan *c = to_lf(ch);
	/* seq_cst, like the attempts' loads of the same words. */
	size_t tail = atomic_load_explicit(&c->tail, memory_order_seq_cst);

	if (op == PL_SEL_RECV)
		return tail; /* sends move it, close sets its mark */
	return atomic_load_explicit(&c->head, memory_order_seq_cst) + !!(tail & c->mark_bit);
}

static size_t lf_len(const pl_chan *ch)
{
	struct lf_chan *c = to_lf(ch);
	size_t tail, head;

	/* A consistent pair: tail unchanged around the head load means head <= tail and
	 * tail - head <= cap at that instant. A few retries, then clamp whatever we have. */
	for (int tries = 0;; tries++) {
		tail = atomic_load_explicit(&c->tail, memory_order_seq_cst) & ~c->mark_bit;
		head = atomic_load_explicit(&c->head, memory_order_seq_cst);
		if (tries >= 8 ||
		    (atomic_load_explicit(&c->tail, memory_order_seq_cst) & ~c->mark_bit) == tail)
			break;
	}
	size_t hix = head & (c->mark_bit - 1), tix = tail & (c->mark_bit - 1);
	size_t hlap = head & ~(c->one_lap - 1), tlap = tail & ~(c->one_lap - 1);

	if (tlap == hlap)
		return tix >= hix ? tix - hix : 0;
	if (tlap == hlap + c->one_lap && tix <= hix)
		return c->cap - hix + tix;
	return tlap > hlap ? c->cap : 0; /* an inconsistent snapshot: clamp */
}

static pl_chan *lf_create(size_t cap, const pl_chan_opts *o)
{
	struct lf_chan *c;
	size_t bytes;

	/* Room for the lap bits above mark_bit, and no overflow in the allocation size. */
	if (cap > SIZE_MAX / 8 || __builtin_mul_overflow(cap, sizeof(struct lf_slot), &bytes) ||
	    __builtin_add_overflow(bytes, sizeof(*c) + PL_FALSE_SHARING, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	bytes = bytes / PL_FALSE_SHARING * PL_FALSE_SHARING; /* aligned_alloc wants a multiple */
	c = aligned_alloc(PL_FALSE_SHARING, bytes);
	if (c == NULL)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->cap = cap;
	c->mark_bit = 1;
	while (c->mark_bit <= cap)
		c->mark_bit <<= 1;
	c->one_lap = c->mark_bit << 1;
	c->spin_ns = o->spin_ns;
	atomic_init(&c->head, 0);
	atomic_init(&c->tail, 0);
	atomic_init(&c->closed, false);
	pl__evc_init(&c->not_empty);
	pl__evc_init(&c->not_full);
	for (size_t i = 0; i < cap; i++) {
		atomic_init(&c->slots[i].stamp, i);
		c->slots[i].msg = NULL;
	}
	return &c->base;
}

static void lf_destroy(pl_chan *ch)
{
	free(ch);
}

const struct pl_chan_ops pl__chan_lockfree = {
    .name = "lockfree",
    .summary = "bounded MPMC ring, per-slot stamps (Vyukov/crossbeam), spin then park",
    .flags = PL_KIND_SPINS,
    .create = lf_create,
    .destroy = lf_destroy,
    .send = lf_send,
    .recv = lf_recv,
    .try_send = lf_try_send,
    .try_recv = lf_try_recv,
    .close = lf_close,
    .len = lf_len,
    .sel_try = lf_sel_try,
    .sel_arm = lf_sel_arm,
    .sel_disarm = pl__sel_unsubscribe,
    .sel_version = lf_sel_version,
};
