/* SPDX-License-Identifier: MIT */
/*
 * The "mutex" channel kind: Go's runtime/chan.go in C, one lock done right.
 *
 * State. One lock protects a ring of exactly cap slots (@head, @count), the @closed flag and two
 * FIFO queues of parked threads, senders and receivers. At most one queue holds plain waiters:
 * receivers park only on an empty buffer, senders only on a full one (or, at capacity 0, when
 * nobody waits on the other side); selects' waiters are the exception (see "Selects" below). A
 * parked thread is a struct waiter on its own stack (Go's sudog): the message slot and a 32-bit
 * futex word of its own.
 *
 * Direct hand-off. A sender that finds a parked receiver gives it the message and completes
 * it; a receiver that finds a parked sender takes the buffer head and moves the sender's
 * message into the freed tail slot (so FIFO holds), or at capacity 0 takes the message
 * directly. Completing a waiter is one exchange of its word to DONE (or CLOSED), made under
 * the lock; the completer makes the futex wake system call only when the old value says the
 * waiter went to sleep (SLEEPING), after dropping the lock. A woken thread never has to
 * retry: it has succeeded or seen the close, never both, never neither.
 *
 * Waiting. A blocked operation first polls an atomic snapshot of the channel (@snap: count and
 * flags, written under the lock by every critical section) without the lock: a few thousand
 * ns one PAUSE apart, then pl__spin (PAUSE rounds, then sched_yield()) until the channel's
 * spin budget is spent. It takes the lock again only when the snapshot says the operation
 * could now succeed, so spinners do not hammer the lock. Once the budget is spent it enqueues
 * a waiter and polls its own word (its own cache line) briefly before it sleeps on it.
 * Threads that cannot overtake anyone anyway (capacity 0, where the partner must find them
 * parked, or others of their side already parked) enqueue at once and spend the budget on
 * their own word instead.
 *
 * Selects (select.c, chan/sel.h). A blocked select queues one waiter per case on this kind's
 * channels, in the same queues, standing for its struct pl__sel_case (Go's sudog with isSelect).
 * An operation that meets one completes it only by winning pl__sel_claim(), one CAS on the
 * select's state word, under our lock; it skips the select's waiters otherwise: unlinking them
 * when the select finished elsewhere, leaving them queued when it is busy re-trying its cases (it
 * was nudged and will look here again) or when they are the operation's own select's (a select
 * never pairs with itself). Those left-behind waiters are why the invariants above hold for plain
 * waiters only: a select's receiving waiter may stay queued beside buffered messages, and its
 * sending one beside free room. So a send hands over to a queued receiver only when the buffer is
 * empty (FIFO), and a receive that frees a slot moves a queued sender's message to the tail,
 * wherever that is. Plain operations pay nothing for this until a queue is non-empty. The select's
 * own attempts (sel_try) always take the lock: a skipping partner nudges before it publishes, so a
 * snapshot read could still predate it.
 *
 * Contexts. A context is looked at only when the operation would block. Before sleeping the
 * waiter registers a context watch whose fn marks its word POKED and wakes it; the sleep is
 * bounded by the context's deadline. A waiter woken by a poke or the deadline takes the lock
 * and decides: completed (DONE/CLOSED) wins even if the context is done; otherwise, if the
 * context is done, it unlinks itself and returns the context's error having done nothing.
 * Lock order: the watch fn runs under the context's lock and never takes the channel lock,
 * and this file never calls into a context while holding the channel lock.
 *
 * The lock is Drepper's futex mutex ("Futexes are tricky", mutex 3): 0 free, 1 held,
 * 2 held with possible sleepers; a bounded test-and-test-and-set spin with exponential
 * backoff, then a futex sleep; unlock makes a system call only when a thread may sleep on it.
 * Chosen by measurement on the 2-core reference VM (this channel, 1..16 producers and
 * consumers, capacities 0..1024, interleaved runs): 2.5-3x the throughput of a default
 * pthread_mutex_t, which parks at once, and 1.0-1.25x PTHREAD_MUTEX_ADAPTIVE_NP.
 */
#include "chan/kind.h"

#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/park.h"
#include "context/ctx_watch.h"
#include "chan/sel.h"

/* ------------------------------------------------------------------------------ the lock */

/*
 * The lock's bounded spin before it sleeps: LOCK_SPINS polls with exponential backoff, 2^k
 * PAUSEs before poll k, k capped at LOCK_BACKOFF (~30 us in all at 23 ns a PAUSE). Critical
 * sections are a few dozen ns; the backoff lets the holder run several operations with the
 * line in its cache instead of losing it to every poll (measured: +30..50% throughput with
 * 2..32 threads on 2 cores).
 */
#define LOCK_SPINS   24
#define LOCK_BACKOFF 6

struct lock {
	/* 0 free, 1 held, 2 held and a thread may sleep on it; the futex word. */
	_Atomic uint32_t v;
};

static void lock_slow(struct lock *l)
{
	uint32_t c;

	for (unsigned i = 0; i < LOCK_SPINS; i++) {
		for (unsigned j = 0; j < 1u << (i < LOCK_BACKOFF ? i : LOCK_BACKOFF); j++)
			pl__cpu_relax();
		/* Relaxed peek: only the CAS below acquires (test-and-test-and-set). */
		c = atomic_load_explicit(&l->v, memory_order_relaxed);
		if (c == 0 && atomic_compare_exchange_weak_explicit(
				  &l->v, &c, 1, memory_order_acquire, memory_order_relaxed))
			return;
	}
	/* Acquire pairs with the release exchange in unlock(). Mark "may have sleepers". */
	c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
	while (c != 0) {
		/* Woken by unlock() of a holder that saw 2; spurious returns re-check. */
		pl__futex_wait(&l->v, 2, INT64_MAX);
		c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
	}
}

static inline void lock(struct lock *l)
{
	uint32_t c = 0;

	/* Acquire pairs with the release exchange in unlock(). */
	if (!atomic_compare_exchange_strong_explicit(&l->v, &c, 1, memory_order_acquire,
						     memory_order_relaxed))
		lock_slow(l);
}

static inline void unlock(struct lock *l)
{
	/* Release publishes the critical section to the next acquirer (lock, lock_slow). */
	if (atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2)
		pl__futex_wake(&l->v, 1);
}

/* -------------------------------------------------------------- polling without the lock */

/*
 * Waiting without the lock: FAST_POLLS polls one PAUSE apart (~3 us), then pl__spin (more
 * single-PAUSE polls, then sched_yield() until the budget is spent). A hand-off between two
 * cores takes ~100 ns here, so every poll comes right after a PAUSE, never after a long round.
 * Polling a word costs its writer one cache-line transfer per change, nothing more.
 */
#define FAST_POLLS 128

struct poller {
	struct pl__spin sp;
	unsigned polls;
};

static inline void poller_init(struct poller *p, int64_t budget_ns)
{
	pl__spin_init(&p->sp, budget_ns);
	p->polls = 0;
}

/* poller_once - wait a little; false when the budget is spent. */
static inline bool poller_once(struct poller *p)
{
	if (p->polls < FAST_POLLS) {
		p->polls++;
		pl__cpu_relax();
		return true;
	}
	return pl__spin_once(&p->sp);
}

/* ----------------------------------------------------------------------- the waiters */

enum {
	W_WAITING = 0,	/* enqueued, spinning on its word */
	W_SLEEPING = 1, /* enqueued, in (or about to enter) futex wait: a completer must wake */
	W_POKED = 2,	/* the context watch fired: the waiter re-checks under the lock */
	W_DONE = 3,	/* completed: message delivered / received (final) */
	W_CLOSED = 4,	/* completed by close: nothing delivered (final) */
};

struct waiter {
	/* Protected by the channel lock while the waiter is enqueued. */
	struct waiter *next, *prev;
	/* Sender: the message to deliver. Receiver: the message received (valid once DONE).
	 * Written under the channel lock; read by the owner after an acquire of @state. A
	 * select's receiving waiter gets its message in @sc->msg instead. */
	void *msg;
	/* W_*. Final values are set only under the channel lock, by the thread that unlinks the
	 * waiter; the owner sets SLEEPING, the context watch sets POKED. Unused by a select's
	 * waiter (its select's state word says everything). */
	_Atomic uint32_t state;
	/* NULL: a plain waiter. Else the select case this waiter stands for (it lives in
	 * @sc->reg); under the channel lock, @linked says whether it is still queued, and
	 * @sel_wake, once partner() claimed it, the word to wake after unlocking (or NULL). */
	struct pl__sel_case *sc;
	_Atomic uint32_t *sel_wake;
	bool linked;
};

_Static_assert(sizeof(struct waiter) <= sizeof(((struct pl__sel_case *)0)->reg),
	       "a select's waiter fits its case's registration");

struct wq {
	struct waiter *head, *tail;
};

static inline void wq_push(struct wq *q, struct waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

static inline void wq_unlink(struct wq *q, struct waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
}

static inline struct waiter *wq_pop(struct wq *q)
{
	struct waiter *w = q->head;

	if (w)
		wq_unlink(q, w);
	return w;
}

/*
 * complete - give @w its final @state (W_DONE or W_CLOSED). Call under the channel lock with
 * @w already unlinked, its @msg set and the channel's new state already published (publish()):
 * the owner may act on the channel as soon as it sees the final state, and its next snapshot
 * read must not predate what it was told (e.g. a receiver woken by close must see "closed" in
 * try_recv). Touch @w no more afterwards: its owner may return as soon as it sees it. Returns the
 * word to futex-wake after unlocking (the owner went to sleep), or NULL. A wake on a word whose
 * owner has already gone is harmless: futex waits everywhere tolerate spurious wakeups.
 */
static inline _Atomic uint32_t *complete(struct waiter *w, uint32_t state)
{
	/* Release publishes @msg and the snapshot store before us (and, for a sender, that its
	 * message was taken) to the owner's acquire of @state. The exchange is ordered with the
	 * owner's WAITING -> SLEEPING CAS on the same word: either the owner sees the final state
	 * and does not sleep, or we see SLEEPING and wake it. */
	uint32_t old = atomic_exchange_explicit(&w->state, state, memory_order_release);

	return old == W_SLEEPING ? &w->state : NULL;
}

static inline void wake(_Atomic uint32_t *word)
{
	if (word)
		pl__futex_wake(word, 1);
}

/* Runs under the context's lock when it is cancelled: mark the waiter and wake it. */
static void poke(struct pl__ctx_watch *cw)
{
	struct waiter *w = cw->arg;
	uint32_t old = atomic_load_explicit(&w->state, memory_order_relaxed);

	/* Relaxed: POKED publishes nothing; the owner re-checks everything under the channel
	 * lock. A final state is left alone: completion wins. */
	while ((old == W_WAITING || old == W_SLEEPING) &&
	       !atomic_compare_exchange_weak_explicit(&w->state, &old, W_POKED,
						      memory_order_relaxed, memory_order_relaxed))
		;
	if (old == W_SLEEPING)
		pl__futex_wake(&w->state, 1);
}

/* ----------------------------------------------------------------------- the channel */

/* Flag bits of the snapshot word; the count sits above them. */
enum {
	SNAP_CLOSED = 1u << 0,
	SNAP_SENDQ = 1u << 1, /* parked senders exist */
	SNAP_RECVQ = 1u << 2, /* parked receivers exist */
	SNAP_SHIFT = 3,
};

struct hot {
	struct lock lk;
	/* Packed count << SNAP_SHIFT | SNAP_*: a consistent picture of the channel for lock-free
	 * readers (spinners, try-op fast failures, len). Written only under @lk, by publish(). */
	_Atomic uint64_t snap;
	/* Protected by @lk. What every operation writes comes first, within 64 bytes. */
	size_t head;  /* index of the oldest buffered message */
	size_t count; /* messages buffered, 0..cap */
	struct wq sendq, recvq;
	bool closed;
};

struct mchan {
	struct pl_chan base;
	/* Read-only after create. */
	size_t cap;
	int64_t spin_ns;
	/* The lock and what it protects, on lines of their own: every operation writes them. */
	alignas(PL_FALSE_SHARING) struct hot h;
	/* The ring, protected by h.lk; starts on a fresh line. */
	alignas(PL_FALSE_SHARING) void *slots[];
};

_Static_assert(offsetof(struct mchan, h) % PL_FALSE_SHARING == 0, "hot state starts a line");
_Static_assert(offsetof(struct mchan, h) >= sizeof(struct pl_chan) + sizeof(size_t),
	       "read-only fields precede the hot state");
_Static_assert(sizeof(struct hot) <= PL_FALSE_SHARING, "hot state fits one padded line");
_Static_assert(offsetof(struct hot, closed) <= 64, "what every operation writes: one 64 B line");
_Static_assert(offsetof(struct mchan, slots) - offsetof(struct mchan, h) == PL_FALSE_SHARING,
	       "ring starts on its own line");

static inline struct mchan *M(pl_chan *ch)
{
	/* Through void *: @ch is the first member of a struct mchan, allocated aligned. */
	return (struct mchan *)(void *)ch;
}

/* Call under h.lk at the end of every critical section that changed the state. */
static inline void publish(struct mchan *c)
{
	uint64_t s = (uint64_t)c->h.count << SNAP_SHIFT;

	if (c->h.closed)
		s |= SNAP_CLOSED;
	if (c->h.sendq.head)
		s |= SNAP_SENDQ;
	if (c->h.recvq.head)
		s |= SNAP_RECVQ;
	/* Relaxed: readers outside the lock use it only as a hint (spinners, then take the lock)
	 * or as one consistent past state (try-op failures, len); the lock orders the rest. */
	atomic_store_explicit(&c->h.snap, s, memory_order_relaxed);
}

static inline uint64_t snap(const struct mchan *c)
{
	/* Relaxed: see publish(). */
	return atomic_load_explicit(&c->h.snap, memory_order_relaxed);
}

/* Could a send succeed or finish now, per snapshot @s? */
static inline bool send_ready(const struct mchan *c, uint64_t s)
{
	return (s & (SNAP_CLOSED | SNAP_RECVQ)) || (s >> SNAP_SHIFT) < c->cap;
}

/* Could a receive succeed or finish now, per snapshot @s? */
static inline bool recv_ready(uint64_t s)
{
	return (s & (SNAP_CLOSED | SNAP_SENDQ)) || (s >> SNAP_SHIFT) > 0;
}

/*
 * partner - under h.lk, the first waiter of @q that an operation of @self (a select's, or
 * NULL for a plain one) can pair with, unlinked; NULL when none can. @giving: @q is the
 * receivers' queue and @give the message for the waiter taken. A plain waiter is taken as it
 * comes (the caller completes it). A select's waiter is taken only when pl__sel_claim() wins
 * its select for this case: it is then complete (the caller must not complete() it, and
 * touches it only until it unlocks: the select's sel_disarm waits for our lock). A select that
 * finished otherwise has its waiter unlinked; a busy select's and @self's own stay queued.
 * Out of line: reached only when a queue is non-empty.
 */
static __attribute__((noinline)) struct waiter *partner(struct mchan *c, struct wq *q,
							struct pl__sel *self, bool giving,
							void *give)
{
	struct waiter *w, *next;
	bool unlinked = false;

	for (w = q->head; w != NULL; w = next) {
		next = w->next;
		if (w->sc == NULL) {
			wq_unlink(q, w);
			if (giving)
				w->msg = give;
			return w;
		}
		if (w->sc->sel == self)
			continue;
		w->sel_wake = NULL;
		switch (pl__sel_claim(w->sc, self, false, &w->sel_wake)) {
		case PL__SEL_CLAIMED:
			/* Only now, and still under our lock: the owner reads @msg after its
			 * sel_disarm took this lock. Written before a lost claim, it could clobber
			 * what a busy select just received by itself. */
			if (giving)
				w->sc->msg = give;
			wq_unlink(q, w);
			w->linked = false;
			return w;
		case PL__SEL_GONE:
			wq_unlink(q, w);
			w->linked = false;
			unlinked = true;
			break;
		case PL__SEL_SKIP:
			break;
		}
	}
	if (unlinked)
		publish(c);
	return NULL;
}

/*
 * complete_partner - complete @w, a waiter partner() returned, with W_DONE; as complete(),
 * call once the channel's new state is published. Returns the word to wake after unlocking.
 */
static inline _Atomic uint32_t *complete_partner(struct waiter *w)
{
	if (w->sc == NULL)
		return complete(w, W_DONE);
	return w->sel_wake; /* a select's: claimed already */
}

/*
 * send_locked - one send attempt under h.lk, for a plain operation (@self NULL) or a select's.
 * Returns 0, -EPIPE or -EAGAIN; *@wk is the word to wake after unlocking (or NULL).
 */
static inline int send_locked(struct mchan *c, void *msg, struct pl__sel *self,
			      _Atomic uint32_t **wk)
{
	struct waiter *w;

	if (c->h.closed)
		return -EPIPE;
	/* A queued receiver implies an empty buffer, but for a select's left behind (see the
	 * file top): hand over only when empty, so that FIFO holds. */
	if (c->h.recvq.head != NULL && c->h.count == 0) {
		w = partner(c, &c->h.recvq, self, true, msg);
		if (w) {
			publish(c);
			*wk = complete_partner(w);
			return 0;
		}
	}
	if (c->h.count < c->cap) {
		size_t i = c->h.head + c->h.count;

		if (i >= c->cap)
			i -= c->cap;
		c->slots[i] = msg;
		c->h.count++;
		publish(c);
		return 0;
	}
	return -EAGAIN;
}

/* recv_locked - one receive attempt under h.lk; as send_locked(). */
static inline int recv_locked(struct mchan *c, void **msg, struct pl__sel *self,
			      _Atomic uint32_t **wk)
{
	struct waiter *w;

	if (c->h.count > 0) {
		size_t h = c->h.head, t;

		*msg = c->slots[h];
		c->h.head = h + 1 == c->cap ? 0 : h + 1;
		if (c->h.sendq.head == NULL ||
		    (w = partner(c, &c->h.sendq, self, false, NULL)) == NULL) {
			c->h.count--;
			publish(c);
			return 0;
		}
		/* A queued sender: its message takes the tail slot, behind every buffered message
		 * (FIFO). With a full buffer (always, but for a select's waiter left behind) that
		 * is the slot just freed, the old head. */
		t = h + c->h.count;
		if (t >= c->cap)
			t -= c->cap;
		c->slots[t] = w->msg;
		publish(c);
		*wk = complete_partner(w);
		return 0;
	}
	if (c->h.sendq.head != NULL && (w = partner(c, &c->h.sendq, self, false, NULL))) {
		/* Straight from the queued sender (capacity 0, or a select's left behind). */
		*msg = w->msg;
		publish(c);
		*wk = complete_partner(w);
		return 0;
	}
	return c->h.closed ? -EPIPE : -EAGAIN;
}

/*
 * cancel_wait - the owner of @w, woken by its context (poke or deadline), decides. Returns 0
 * when the context is not done after all (the caller sleeps again), 1 when @w was completed
 * meanwhile (the caller reads its final state), else the context's error after unlinking @w
 * from @q under the lock (nothing done).
 */
static int cancel_wait(struct mchan *c, struct wq *q, struct waiter *w, pl_ctx *cx)
{
	uint32_t s = W_POKED;
	int err;

	/* Clear a poke before looking at the context, so that a later poke is not lost. Relaxed:
	 * poke() publishes nothing; the CAS fails harmlessly if a completer got there first. */
	atomic_compare_exchange_strong_explicit(&w->state, &s, W_WAITING, memory_order_relaxed,
						memory_order_relaxed);
	/* Outside the channel lock, like every call into a context. */
	err = pl_ctx_err(cx);
	if (err == 0)
		return 0;
	lock(&c->h.lk);
	/* Relaxed: final states are written under the lock we hold. */
	s = atomic_load_explicit(&w->state, memory_order_relaxed);
	if (s == W_DONE || s == W_CLOSED) {
		err = 1; /* completion wins over the context */
	} else {
		wq_unlink(q, w);
		publish(c);
	}
	unlock(&c->h.lk);
	return err;
}

/*
 * wait_for - the owner's side of parking: @w is enqueued on @q (and the lock dropped). Spins
 * on its own word within @spin_ns, then sleeps until completed or @cx is done. Returns 0
 * (completed: W_DONE), -EPIPE (completed by close: W_CLOSED), or @cx's error with @w unlinked
 * (nothing done).
 */
static int wait_for(struct mchan *c, struct wq *q, struct waiter *w, pl_ctx *cx, int64_t spin_ns)
{
	struct pl__ctx_watch cw = {.fn = poke, .arg = w};
	struct poller p;
	int64_t deadline = INT64_MAX;
	bool can_cancel = !pl__ctx_never_done(cx), watching = false;
	uint32_t s;
	int rc;

	if (can_cancel && pl_ctx_err(cx) != 0) {
		rc = cancel_wait(c, q, w, cx);
		if (rc < 0)
			return rc;
	}
	poller_init(&p, spin_ns);
	for (;;) {
		/* Acquire pairs with complete(): the message and the completion. */
		s = atomic_load_explicit(&w->state, memory_order_acquire);
		if (s != W_WAITING || spin_ns <= 0 || !poller_once(&p))
			break;
	}
	if (s == W_DONE || s == W_CLOSED)
		return s == W_DONE ? 0 : -EPIPE;

	if (can_cancel) {
		deadline = pl_ctx_deadline(cx);
		/* poke() wakes us when cx or an ancestor is cancelled from now on. */
		rc = pl__ctx_watch(cx, &cw);
		watching = rc == 0;
		if (rc != 0) {
			rc = cancel_wait(c, q, w, cx);
			if (rc < 0)
				return rc;
		}
	}
	for (;;) {
		s = W_WAITING;
		/* Acquire pairs with complete() when the CAS fails on a final state (@msg is
		 * published); on success it orders nothing (C11 forbids a weaker success order). */
		if (atomic_compare_exchange_strong_explicit(
			&w->state, &s, W_SLEEPING, memory_order_acquire, memory_order_acquire) ||
		    s == W_SLEEPING) {
			/* Woken by complete()'s caller, poke(), the deadline, or spuriously. */
			rc = pl__futex_wait(&w->state, W_SLEEPING, deadline);
			/* Acquire pairs with complete(). */
			s = atomic_load_explicit(&w->state, memory_order_acquire);
			if (s == W_SLEEPING && rc != -ETIMEDOUT)
				continue;
		}
		if (s == W_DONE || s == W_CLOSED)
			break;
		/* Poked, or the deadline passed: decide under the lock. */
		rc = cancel_wait(c, q, w, cx);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			/* Completed under the lock we took: the lock ordered it before us. */
			s = atomic_load_explicit(&w->state, memory_order_relaxed);
			break;
		}
	}
	rc = s == W_DONE ? 0 : -EPIPE;
out:
	if (watching)
		pl__ctx_unwatch(cx, &cw);
	return rc;
}

static int mutex_send(pl_chan *ch, void *msg, pl_ctx *cx)
{
	struct mchan *c = M(ch);
	_Atomic uint32_t *wk = NULL;
	struct waiter w;
	struct poller p;
	bool spun = false;
	uint64_t s;
	int rc;

	/* Straight to the lock: most sends complete. (Gating this on a snapshot read first was
	 * measured slower: the extra load makes the lock's line shared before the CAS.) */
	lock(&c->h.lk);
	rc = send_locked(c, msg, NULL, &wk);
	if (rc != -EAGAIN)
		goto out;
	/* Park at once when not spinning, at capacity 0 (the partner must find us parked) or
	 * behind parked senders (they go first anyway). */
	if (c->cap == 0 || c->spin_ns == 0 || c->h.sendq.head)
		goto park;
	unlock(&c->h.lk);
	/* Would block, and no parked sender is ahead of us: poll the snapshot, then park. */
	if (!pl__ctx_never_done(cx) && (rc = pl_ctx_err(cx)) != 0)
		return rc;
	spun = true;
	poller_init(&p, c->spin_ns);
	for (;;) {
		bool more = poller_once(&p);

		s = snap(c);
		/* To the lock when the send can complete, or to park behind parked senders. */
		if (more && !(s & (SNAP_CLOSED | SNAP_RECVQ | SNAP_SENDQ)) &&
		    (s >> SNAP_SHIFT) >= c->cap)
			continue;
		lock(&c->h.lk);
		rc = send_locked(c, msg, NULL, &wk);
		if (rc != -EAGAIN)
			goto out;
		if (!more || c->h.sendq.head)
			break;
		unlock(&c->h.lk);
	}
park:
	/* Still under the lock, so no completion can be missed. */
	w.msg = msg;
	w.sc = NULL;
	atomic_init(&w.state, W_WAITING);
	wq_push(&c->h.sendq, &w);
	publish(c);
	unlock(&c->h.lk);
	return wait_for(c, &c->h.sendq, &w, cx, spun ? 1 : c->spin_ns);
out:
	unlock(&c->h.lk);
	wake(wk);
	return rc;
}

static int mutex_recv(pl_chan *ch, void **msg, pl_ctx *cx)
{
	struct mchan *c = M(ch);
	_Atomic uint32_t *wk = NULL;
	struct waiter w;
	struct poller p;
	bool spun = false;
	uint64_t s;
	int rc;

	lock(&c->h.lk);
	rc = recv_locked(c, msg, NULL, &wk);
	if (rc != -EAGAIN)
		goto out;
	if (c->cap == 0 || c->spin_ns == 0 || c->h.recvq.head)
		goto park;
	unlock(&c->h.lk);
	/* Would block, and no parked receiver is ahead of us: poll the snapshot, then park. */
	if (!pl__ctx_never_done(cx) && (rc = pl_ctx_err(cx)) != 0)
		return rc;
	spun = true;
	poller_init(&p, c->spin_ns);
	for (;;) {
		bool more = poller_once(&p);

		s = snap(c);
		if (more && !(s & (SNAP_CLOSED | SNAP_SENDQ | SNAP_RECVQ)) &&
		    (s >> SNAP_SHIFT) == 0)
			continue;
		lock(&c->h.lk);
		rc = recv_locked(c, msg, NULL, &wk);
		if (rc != -EAGAIN)
			goto out;
		if (!more || c->h.recvq.head)
			break;
		unlock(&c->h.lk);
	}
park:
	w.msg = NULL;
	w.sc = NULL;
	atomic_init(&w.state, W_WAITING);
	wq_push(&c->h.recvq, &w);
	publish(c);
	unlock(&c->h.lk);
	rc = wait_for(c, &c->h.recvq, &w, cx, spun ? 1 : c->spin_ns);
	if (rc == 0)
		*msg = w.msg;
	return rc;
out:
	unlock(&c->h.lk);
	wake(wk);
	return rc;
}

static int mutex_try_send(pl_chan *ch, void *msg)
{
	struct mchan *c = M(ch);
	_Atomic uint32_t *wk = NULL;
	int rc;

	/* Full, open and nobody to hand to: fail without the lock (a consistent past state). */
	if (!send_ready(c, snap(c)))
		return -EAGAIN;
	lock(&c->h.lk);
	rc = send_locked(c, msg, NULL, &wk);
	unlock(&c->h.lk);
	wake(wk);
	return rc;
}

static int mutex_try_recv(pl_chan *ch, void **msg)
{
	struct mchan *c = M(ch);
	_Atomic uint32_t *wk = NULL;
	int rc;

	if (!recv_ready(snap(c)))
		return -EAGAIN;
	lock(&c->h.lk);
	rc = recv_locked(c, msg, NULL, &wk);
	unlock(&c->h.lk);
	wake(wk);
	return rc;
}

/* close_waiter - under h.lk, after the closed state is published: finish @w, unlinked. */
static void close_waiter(struct waiter *w)
{
	_Atomic uint32_t *wk = NULL;

	if (w->sc == NULL) {
		wake(complete(w, W_CLOSED));
		return;
	}
	/* A select: completed with "closed" if still open; if busy, nudged (its next attempt
	 * here sees the close); if finished otherwise, nothing to do. */
	w->linked = false;
	pl__sel_claim(w->sc, NULL, true, &wk);
	wake(wk);
}

static int mutex_close(pl_chan *ch)
{
	struct mchan *c = M(ch);
	struct wq rq, sq;
	struct waiter *w;

	lock(&c->h.lk);
	if (c->h.closed) {
		unlock(&c->h.lk);
		return -EPIPE;
	}
	c->h.closed = true;
	/* Every parked receiver (the buffer is empty when any exists) and every parked sender
	 * (its message is not delivered) finishes with "closed". Detach both queues and publish
	 * the closed state first (see complete()), then complete them; woken under the lock:
	 * the list is unbounded and close happens once. */
	rq = c->h.recvq;
	sq = c->h.sendq;
	c->h.recvq = c->h.sendq = (struct wq){NULL, NULL};
	publish(c);
	while ((w = wq_pop(&rq)) != NULL)
		close_waiter(w);
	while ((w = wq_pop(&sq)) != NULL)
		close_waiter(w);
	unlock(&c->h.lk);
	return 0;
}

/* ----------------------------------------------------------------------- select */

static inline struct waiter *sel_waiter(struct pl__sel_case *sc)
{
	/* Through void *: the registration area is aligned for pointers, as a waiter needs. */
	return (struct waiter *)(void *)sc->reg.priv;
}

/* attempt_locked - one attempt of @sc under h.lk, skipping its select's own waiters. */
static int attempt_locked(struct mchan *c, struct pl__sel_case *sc, _Atomic uint32_t **wk)
{
	if (sc->op == PL_SEL_SEND)
		return send_locked(c, sc->msg, sc->sel, wk);
	return recv_locked(c, &sc->msg, sc->sel, wk);
}

static int mutex_sel_try(pl_chan *ch, struct pl__sel_case *sc)
{
	struct mchan *c = M(ch);
	_Atomic uint32_t *wk = NULL;
	int rc;

	if (sc->held) {
		rc = attempt_locked(c, sc, &wk);
		sc->wake = wk;
		return rc;
	}
	/* Not armed yet: fail on a snapshot without the lock, as the try operations do. Armed:
	 * always under the lock (see the file top: a nudge may precede its publish()). */
	if (!sc->armed && !(sc->op == PL_SEL_SEND ? send_ready(c, snap(c)) : recv_ready(snap(c))))
		return -EAGAIN;
	lock(&c->h.lk);
	rc = attempt_locked(c, sc, &wk);
	unlock(&c->h.lk);
	wake(wk);
	return rc;
}

/* Attempt, and queue a waiter for @sc when it fails, under one hold of the lock. */
static int mutex_sel_arm(pl_chan *ch, struct pl__sel_case *sc)
{
	struct mchan *c = M(ch);
	struct waiter *w = sel_waiter(sc);
	_Atomic uint32_t *wk = NULL;
	int rc;

	w->sc = sc;
	w->msg = sc->op == PL_SEL_SEND ? sc->msg : NULL;
	atomic_init(&w->state, W_WAITING);
	lock(&c->h.lk);
	rc = attempt_locked(c, sc, &wk);
	w->linked = rc == -EAGAIN;
	if (w->linked) {
		wq_push(sc->op == PL_SEL_SEND ? &c->h.sendq : &c->h.recvq, w);
		publish(c);
	}
	unlock(&c->h.lk);
	wake(wk);
	return rc;
}

/*
 * Unlink @sc's waiter if still queued. Always under the lock, even when a partner already
 * unlinked it: the select then acts on the channel after that partner's publish().
 */
static void mutex_sel_disarm(pl_chan *ch, struct pl__sel_case *sc)
{
	struct mchan *c = M(ch);
	struct waiter *w = sel_waiter(sc);

	lock(&c->h.lk);
	if (w->linked) {
		wq_unlink(sc->op == PL_SEL_SEND ? &c->h.sendq : &c->h.recvq, w);
		w->linked = false;
		publish(c);
	}
	unlock(&c->h.lk);
}

static void mutex_sel_hold(pl_chan *ch, bool on)
{
	if (on)
		lock(&M(ch)->h.lk);
	else
		unlock(&M(ch)->h.lk);
}

static size_t mutex_len(const pl_chan *ch)
{
	return (size_t)(snap((const struct mchan *)(const void *)ch) >> SNAP_SHIFT);
}

static pl_chan *mutex_create(size_t cap, const pl_chan_opts *o)
{
	struct mchan *c;
	size_t size;

	if (cap > (SIZE_MAX - sizeof(*c) - PL_FALSE_SHARING) / sizeof(void *)) {
		errno = ENOMEM;
		return NULL;
	}
	size = sizeof(*c) + cap * sizeof(void *);
	size = (size + PL_FALSE_SHARING - 1) / PL_FALSE_SHARING * PL_FALSE_SHARING;
	c = aligned_alloc(PL_FALSE_SHARING, size);
	if (c == NULL)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->cap = cap;
	c->spin_ns = o->spin_ns;
	atomic_init(&c->h.lk.v, 0);
	atomic_init(&c->h.snap, 0);
	return &c->base;
}

static void mutex_destroy(pl_chan *ch)
{
	free(ch);
}

const struct pl_chan_ops pl__chan_mutex = {
    .name = "mutex",
    .summary = "one futex lock, Go's direct hand-off, spin then park; capacity 0 allowed",
    .flags = PL_KIND_RENDEZVOUS | PL_KIND_SPINS,
    .create = mutex_create,
    .destroy = mutex_destroy,
    .send = mutex_send,
    .recv = mutex_recv,
    .try_send = mutex_try_send,
    .try_recv = mutex_try_recv,
    .close = mutex_close,
    .len = mutex_len,
    .sel_try = mutex_sel_try,
    .sel_arm = mutex_sel_arm,
    .sel_disarm = mutex_sel_disarm,
    .sel_hold = mutex_sel_hold,
};
