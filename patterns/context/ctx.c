/* SPDX-License-Identifier: MIT */
/*
 * The context tree: Go's context package (cancel, deadline, cause) without a thread per node.
 *
 * Node state. A node's whole outcome is one 64-bit atomic word, @state: 0 while live, else
 * (cause << 32 | (uint32_t)err). Packing err and cause together makes "first cancel wins" a
 * single compare-and-swap from 0, and a reader loads both with one load: it can never see an
 * err without its cause, and once non-zero the word never changes (so neither do err and cause).
 * A cancel without a cause records the err as the cause, so pl_ctx_cause() reads the word only.
 *
 * Deadlines are lazy: there are no timers. A node's deadline is min(its own, its parent's),
 * fixed at creation. pl_ctx_err() compares the clock with it and, once it has passed, latches
 * -ETIMEDOUT into @state with the same compare-and-swap, so an error once observed never
 * changes: a later cancel loses the race and keeps -ETIMEDOUT. For the same reason cancel
 * reads the clock at every node with a deadline that it reaches, and proposes -ETIMEDOUT for
 * a node whose deadline has passed (what any reader could already have seen). A deadline fires no
 * watch; blocked waiters bound their sleep by pl_ctx_deadline() (see ctx_watch.h).
 *
 * Tree and locks. Each node has a mutex protecting its child list, its watch list and its
 * @cancelled flag ("a cancel walk has settled this node"); a node's sibling links are protected
 * by its PARENT's mutex. No thread ever holds two context locks at once, so there is no lock
 * order to get wrong, and the depth of a tree costs neither stack nor held locks (ThreadSanitizer
 * aborts beyond 64 locks held by one thread).
 *
 * Cancel walk. Cancelling a node settles it under its lock: CAS of @state from 0, @cancelled
 * set, every watch unlinked and its fn called. Then the walk visits the subtree depth-first
 * without recursion, climbing back through @parent: at node n it locks n, pops n's first child
 * k (k is now unlinked), takes a reference on k unless k's count is already zero, unlocks n,
 * then locks and settles k with n's final state and descends into k. A node with no children
 * left is marked @walked (its whole subtree is settled), the walker drops its reference and
 * climbs. A settled node's state is non-zero, so no child can be linked under it any more
 * (pl_ctx_with_*() checks under the parent's lock), and its list only shrinks.
 *
 * Synchronous cancel. When pl_ctx_cancel(c) returns, every descendant of c is done, even when
 * another thread's walk settled c (or a node below it) and has not finished that subtree yet:
 * a cancel, or a walk, that meets a node already settled by someone else waits (futex on
 * @walked) until that node's subtree is walked. Such waits always point at a walk rooted
 * strictly below the waiter's own root (a node is settled by exactly one walk, the one rooted
 * at it or at an ancestor whose path it shares), so they cannot form a cycle. A node settled
 * on its own (not through its parent) then unlinks itself from its parent, as Go does.
 *
 * A child of a done parent is born done with the parent's state and is never linked; a child
 * born past its deadline likewise. Children of background (or NULL) are never linked: the
 * background can never be cancelled, so it keeps no list.
 *
 * References. Each node starts with one reference, its creator's; each child holds one on its
 * parent; a cancel walk holds one on each node of its current path. Dropping the last
 * reference locks the parent, unlinks the node if still linked, unlocks, frees the node and
 * then drops its reference on the parent (iteratively). A node whose count is zero has no
 * children (each would hold a reference) and no watches (their owners hold references); one a
 * walk finds still linked with a zero count is dying and unobservable, so the walk unlinks and
 * skips it, and its releaser, once it gets the parent's lock, finds it unlinked and frees it.
 *
 * The background node is static and never done: retain/release are no-ops, watches on it are
 * accepted and never fire, its deadline is INT64_MAX.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <patlab/ctx.h>

#include "sync/clock.h"
#include "sync/park.h"
#include "context/ctx_debug.h"
#include "context/ctx_watch.h"
#include "sync/die.h"

/* Intrusive circular doubly linked list node (a node's child list and sibling link). */
struct ctx_link {
	struct ctx_link *next, *prev;
};

struct pl_ctx {
	/* Immutable after construction. */
	pl_ctx *parent;	  /* NULL for children of background/NULL and for background */
	int64_t deadline; /* min over ancestors; INT64_MAX: none */
	bool never_done;  /* background only */

	/* 0 live, else pack(err, cause); written once (CAS from 0), never changed afterwards. */
	_Atomic uint64_t state;
	_Atomic long refs;
	/* WALK_*: futex word; see walk_wait() and walk_done(). */
	_Atomic uint32_t walked;

	pthread_mutex_t lock;
	/* Protected by @lock. */
	bool cancelled;		      /* settled by a cancel walk (or born done) */
	struct ctx_link children;     /* list head; linked through each child's @sib */
	struct pl__ctx_watch watches; /* list head (circular); fn unused */

	/* Protected by @parent->lock. next == NULL: not linked in the parent's list. */
	struct ctx_link sib;
};

/*
 * Values of @walked, the futex word of a settled node: its subtree is still being walked
 * (PENDING), the same with a thread asleep in walk_wait() (WAITED), or completely settled (DONE).
 */
enum {
	WALK_PENDING = 0,
	WALK_WAITED = 1,
	WALK_DONE = 2
};

static pl_ctx background = {
    .parent = NULL,
    .deadline = INT64_MAX,
    .never_done = true,
};

/* --------------------------------------------------------------------- helpers */

static uint64_t pack(int err, int cause)
{
	return (uint64_t)(uint32_t)cause << 32 | (uint32_t)err;
}

static int state_err(uint64_t s)
{
	return (int)(int32_t)(uint32_t)s;
}

static int state_cause(uint64_t s)
{
	return (int)(int32_t)(uint32_t)(s >> 32);
}

static bool never_done(const pl_ctx *c)
{
	return c == NULL || c->never_done;
}

static void lock(pl_ctx *c)
{
	PL_CHECK(pthread_mutex_lock(&c->lock));
}

static void unlock(pl_ctx *c)
{
	PL_CHECK(pthread_mutex_unlock(&c->lock));
}

static void link_init(struct ctx_link *h)
{
	h->next = h->prev = h;
}

static bool link_empty(const struct ctx_link *h)
{
	return h->next == h;
}

static void link_add_tail(struct ctx_link *h, struct ctx_link *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static void link_del(struct ctx_link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = NULL;
}

static pl_ctx *sib_to_ctx(struct ctx_link *l)
{
	/* Through void *: the result is a whole pl_ctx, suitably aligned by construction. */
	return (pl_ctx *)(void *)((char *)l - offsetof(pl_ctx, sib));
}

/*
 * leave_parent - unlink @c from its parent's child list, under the parent's lock, if it is
 * still there (a node born done was never linked; the parent's cancel walk unlinks its
 * children).
 */
static void leave_parent(pl_ctx *c)
{
	pl_ctx *p = c->parent;

	if (p != NULL) {
		lock(p);
		if (c->sib.next != NULL)
			link_del(&c->sib);
		unlock(p);
	}
}

/* sat_add - @a + @b for @a >= 0, clamped to INT64_MAX (no deadline) on overflow. */
static int64_t sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	return a + b;
}

/*
 * load_state - @c's state, latching -ETIMEDOUT first if its deadline has passed.
 * @c's memory is mutable (every node but background comes from calloc and background never
 * latches): the latch is the one write a logically-const reader performs, so that an error
 * once reported never changes. Returns the (final once non-zero) state word.
 */
static uint64_t load_state(pl_ctx *c)
{
	/* Acquire pairs with the seq_cst CAS that set the word (in settle() or here). */
	uint64_t s = atomic_load_explicit(&c->state, memory_order_acquire);

	if (s != 0 || c->deadline == INT64_MAX || pl_now_ns() < c->deadline)
		return s;
	uint64_t want = pack(-ETIMEDOUT, -ETIMEDOUT);
	if (atomic_compare_exchange_strong(&c->state, &s, want))
		return want;
	return s; /* someone else settled it first: theirs is final */
}

/*
 * settle - make @c (locked, not yet cancelled) done with @proposed, or -ETIMEDOUT when its
 * deadline has passed (the clock is read here, so a node that a long walk reaches after its
 * deadline reports -ETIMEDOUT, as its timer would have in Go), unless already done (a latched
 * deadline), then fire and forget every watch. Watch functions run under @c's lock, so
 * pl__ctx_unwatch() (which takes it) cannot return while one runs.
 */
static void settle(pl_ctx *c, uint64_t proposed)
{
	uint64_t expected = 0;

	if (c->deadline != INT64_MAX && c->deadline <= pl_now_ns())
		proposed = pack(-ETIMEDOUT, -ETIMEDOUT);
	atomic_compare_exchange_strong(&c->state, &expected, proposed);
	c->cancelled = true;
	while (c->watches.next != &c->watches) {
		struct pl__ctx_watch *w = c->watches.next;

		w->prev->next = w->next;
		w->next->prev = w->prev;
		w->next = w->prev = NULL;
		w->fn(w); /* may make its owner free @w once we unlock: touch @w no more */
	}
}

/* walk_done - @c's subtree is settled: publish it and wake walk_wait()'s sleepers. */
static void walk_done(pl_ctx *c)
{
	/* Release pairs with walk_wait()'s acquire: the subtree's states are visible. */
	if (atomic_exchange_explicit(&c->walked, WALK_DONE, memory_order_release) == WALK_WAITED)
		pl__futex_wake(&c->walked, INT32_MAX);
}

/* walk_wait - wait until another thread's cancel walk has settled @c's subtree. */
static void walk_wait(pl_ctx *c)
{
	/* Acquire pairs with walk_done()'s release. */
	uint32_t v = atomic_load_explicit(&c->walked, memory_order_acquire);

	while (v != WALK_DONE) {
		if (v == WALK_PENDING &&
		    !atomic_compare_exchange_weak_explicit(
			&c->walked, &v, WALK_WAITED, memory_order_acquire, memory_order_acquire))
			continue;
		/* Woken by walk_done(), called by the walk that settled @c. */
		pl__futex_wait(&c->walked, WALK_WAITED, INT64_MAX);
		v = atomic_load_explicit(&c->walked, memory_order_acquire);
	}
}

/* try_retain - a reference on @c unless its count already reached zero (it is being freed). */
static bool try_retain(pl_ctx *c)
{
	long r = atomic_load_explicit(&c->refs, memory_order_relaxed);

	/* Relaxed: the caller holds @c's parent's lock, which keeps @c's memory alive. */
	while (r > 0)
		if (atomic_compare_exchange_weak_explicit(&c->refs, &r, r + 1, memory_order_relaxed,
							  memory_order_relaxed))
			return true;
	return false;
}

/*
 * cancel_walk - settle every descendant of @root (settled by the caller, unlocked, the
 * caller holding a reference), depth-first, one lock at a time; see the top of the file.
 * Returns once the whole subtree is settled, @root marked walked.
 */
static void cancel_walk(pl_ctx *root)
{
	pl_ctx *n = root;

	for (;;) {
		lock(n);
		if (!link_empty(&n->children)) {
			pl_ctx *k = sib_to_ctx(n->children.next);
			bool alive;

			link_del(&k->sib);
			alive = try_retain(k);
			unlock(n);
			if (!alive)
				continue; /* its releaser finds it unlinked and frees it */
			lock(k);
			if (k->cancelled) {
				/* Settled by a cancel of its own: wait for that walk. */
				unlock(k);
				walk_wait(k);
				pl_ctx_release(k);
				continue;
			}
			/* Acquire pairs with the CAS that set n's state (settle() or a latch). */
			settle(k, atomic_load_explicit(&n->state, memory_order_acquire));
			unlock(k);
			n = k;
			continue;
		}
		unlock(n);
		walk_done(n);
		if (n == root)
			return;
		pl_ctx *p = n->parent;
		pl_ctx_release(n); /* we hold p (root: the caller does), so this never frees p */
		n = p;
	}
}

/* --------------------------------------------------------------------- public API */

int64_t pl_now_ns(void)
{
	return pl__mono_ns();
}

pl_ctx *pl_ctx_background(void)
{
	return &background;
}

/* born_done - @c (new, not yet shared) starts done with @state: settled, nothing to walk. */
static void born_done(pl_ctx *c, uint64_t state)
{
	atomic_init(&c->state, state);
	c->cancelled = true;
	atomic_init(&c->walked, WALK_DONE);
}

pl_ctx *pl_ctx_with_deadline(pl_ctx *parent, int64_t deadline_ns)
{
	pl_ctx *c = calloc(1, sizeof(*c));
	int64_t now;

	if (c == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	PL_CHECK(pthread_mutex_init(&c->lock, NULL));
	atomic_init(&c->refs, 1);
	atomic_init(&c->state, 0);
	atomic_init(&c->walked, WALK_PENDING);
	link_init(&c->children);
	c->watches.next = c->watches.prev = &c->watches;
	c->sib.next = c->sib.prev = NULL;
	c->deadline = deadline_ns;
	now = pl_now_ns();

	if (never_done(parent)) {
		c->parent = NULL;
		if (c->deadline <= now)
			born_done(c, pack(-ETIMEDOUT, -ETIMEDOUT));
		return c;
	}

	c->parent = pl_ctx_retain(parent);
	if (parent->deadline < c->deadline)
		c->deadline = parent->deadline;
	lock(parent);
	/* Under parent's lock: if its cancel walk has not begun, it will find c in its list. */
	uint64_t ps = load_state(parent);
	if (ps != 0)
		born_done(c, ps);
	else if (c->deadline <= now)
		born_done(c, pack(-ETIMEDOUT, -ETIMEDOUT));
	else
		link_add_tail(&parent->children, &c->sib);
	unlock(parent);
	return c;
}

pl_ctx *pl_ctx_with_cancel(pl_ctx *parent)
{
	return pl_ctx_with_deadline(parent, INT64_MAX);
}

pl_ctx *pl_ctx_with_timeout(pl_ctx *parent, int64_t timeout_ns)
{
	return pl_ctx_with_deadline(parent, sat_add(pl_now_ns(), timeout_ns));
}

void pl_ctx_cancel_cause(pl_ctx *c, int cause)
{
	if (never_done(c))
		return;
	lock(c);
	if (c->cancelled) {
		/* Settled already (by us earlier, a parent's walk, or at birth): only make sure
		 * its subtree is complete before returning. */
		unlock(c);
		walk_wait(c);
		return;
	}
	settle(c, pack(-ECANCELED, cause != 0 ? cause : -ECANCELED));
	unlock(c);
	cancel_walk(c);

	/* Cancelled on its own: leave the parent's list (the parent may be cancelling too). */
	leave_parent(c);
}

void pl_ctx_cancel(pl_ctx *c)
{
	pl_ctx_cancel_cause(c, 0);
}

int pl_ctx_err(const pl_ctx *c)
{
	if (never_done(c))
		return 0;
	/* Casting away const: see load_state(), the latch of a passed deadline. */
	return state_err(load_state((pl_ctx *)c));
}

int pl_ctx_cause(const pl_ctx *c)
{
	if (never_done(c))
		return 0;
	return state_cause(load_state((pl_ctx *)c));
}

int64_t pl_ctx_deadline(const pl_ctx *c)
{
	if (never_done(c))
		return INT64_MAX;
	return c->deadline;
}

pl_ctx *pl_ctx_retain(pl_ctx *c)
{
	/* Relaxed: the caller already holds a reference, so nothing is published here. */
	if (!never_done(c))
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void pl_ctx_release(pl_ctx *c)
{
	while (!never_done(c)) {
		/* Release orders our uses of c before the last dropper's free; acquire (taken by
		 * the last dropper) pairs with every other dropper's release. */
		long prev = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel);
		if (prev > 1)
			return;
		if (prev != 1)
			pl__die("pl_ctx_release: context %p released once too often", (void *)c);

		pl_ctx *p = c->parent;

		leave_parent(c);
		PL_CHECK(pthread_mutex_destroy(&c->lock));
		free(c);
		c = p; /* drop the child's reference on its parent */
	}
}

/* Runs under the context's lock when it is cancelled: wake pl_ctx_wait()'s sleeper. */
static void wake_word(struct pl__ctx_watch *w)
{
	_Atomic uint32_t *word = w->arg;

	/* Release pairs with the acquire load in pl_ctx_wait(): the state set before us. */
	atomic_store_explicit(word, 1, memory_order_release);
	pl__futex_wake(word, INT32_MAX);
}

int pl_ctx_wait(pl_ctx *c, int64_t timeout_ns)
{
	int64_t now = pl_now_ns();
	int64_t limit = timeout_ns < 0 ? INT64_MAX : sat_add(now, timeout_ns);
	_Atomic uint32_t word;
	int err;

	atomic_init(&word, 0);
	if (never_done(c)) {
		/* Nobody ever wakes this word: only the timeout (or nothing, forever) ends it. */
		while (limit == INT64_MAX || pl_now_ns() < limit)
			pl__futex_wait(&word, 0, limit);
		return 0;
	}
	err = pl_ctx_err(c);
	if (err != 0 || timeout_ns == 0)
		return err;

	struct pl__ctx_watch w = {.fn = wake_word, .arg = &word};
	err = pl__ctx_watch(c, &w);
	if (err != 0)
		return err;
	int64_t until = pl_ctx_deadline(c) < limit ? pl_ctx_deadline(c) : limit;
	for (;;) {
		/* Acquire pairs with wake_word(): once it ran, the state it follows is visible. */
		(void)atomic_load_explicit(&word, memory_order_acquire);
		err = pl_ctx_err(c);
		if (err != 0 || pl_now_ns() >= limit)
			break;
		/* Woken by wake_word() (cancel of c or an ancestor), or the deadline/timeout. */
		pl__futex_wait(&word, 0, until);
	}
	pl__ctx_unwatch(c, &w);
	return err;
}

/* --------------------------------------------------------------------- internal */

int pl__ctx_watch(pl_ctx *c, struct pl__ctx_watch *w)
{
	int err;

	w->next = w->prev = NULL;
	if (never_done(c))
		return 0;
	lock(c);
	/* Under the lock: a live node's cancel walk has not run yet and will fire @w. */
	err = state_err(load_state(c));
	if (err == 0) {
		w->prev = c->watches.prev;
		w->next = &c->watches;
		c->watches.prev->next = w;
		c->watches.prev = w;
	}
	unlock(c);
	return err;
}

void pl__ctx_unwatch(pl_ctx *c, struct pl__ctx_watch *w)
{
	if (never_done(c))
		return;
	lock(c);
	if (w->next != NULL) {
		w->prev->next = w->next;
		w->next->prev = w->prev;
		w->next = w->prev = NULL;
	}
	unlock(c);
}

size_t pl__ctx_nchildren(pl_ctx *c)
{
	size_t n = 0;

	if (never_done(c))
		return 0;
	lock(c);
	for (struct ctx_link *l = c->children.next; l != &c->children; l = l->next)
		n++;
	unlock(c);
	return n;
}
