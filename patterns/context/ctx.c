/* SPDX-License-Identifier: MIT */
/*
 * The context tree: Go's context package (cancel, deadline, cause, values, after-functions)
 * without a thread per node.
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
 * parent (value and detached nodes in between: see "References, generalised" below); a cancel
 * walk holds one on each node of its current path. Dropping the last reference locks the
 * parent, unlinks the node if still linked, unlocks, frees the node and then drops its
 * reference on the parent (iteratively). A node whose count is zero has no children (each
 * would hold a reference) and no watches (their owners hold references); one a walk finds
 * still linked with a zero count is dying and unobservable, so the walk unlinks and skips it,
 * and its releaser, once it gets the parent's lock, finds it unlinked and frees it.
 *
 * The background node is static and never done: retain/release are no-ops, watches on it are
 * accepted and never fire, its deadline is INT64_MAX.
 *
 * Node kinds. Everything above describes CANCEL nodes (with_cancel, with_deadline and their
 * forms). A VALUE node (with_value) and a DETACHED node (without_cancel) have no state, lock,
 * children or watches: a value node answers err, cause, deadline, wait and watches through
 * @parent, the nearest CANCEL node above it (fixed at creation), and is never linked in a
 * child list; a detached node has no @parent, so it and everything that reaches it through
 * value nodes is never done. pl_ctx_cancel() on either is a no-op, as they have no cancel
 * function in Go. Values are found by walking @up (the node a node was made from) towards the
 * root, comparing keys by identity: immutable fields, no locks.
 *
 * References, generalised: every node holds one reference on @up, whatever its kind; @parent
 * (the CANCEL node it is linked under, or answers through) holds none of its own but is kept
 * alive by the @up chain, which reaches it. The last release unlinks from @parent, frees, then
 * drops the reference on @up. A cancel walk climbs @parent and still holds a reference on
 * every node of its path, so a release cascading up a chain of value nodes stops short of it.
 *
 * Deadline causes. A node's @dl_state is the state its deadline latches: pack(-ETIMEDOUT,
 * cause), cause being with_deadline_cause()'s or -ETIMEDOUT. A child whose parent's deadline
 * is earlier than its own takes the parent's deadline and @dl_state (Go returns a plain
 * WithCancel then), so whichever node latches first reports the parent's cause.
 *
 * After-functions (pl_ctx_after_func()) are the one place a deadline acts by itself: the
 * registration puts it in the process's timer queue (sync/timerq.h); see their section below.
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
#include "sync/timerq.h"

/* Intrusive circular doubly linked list node (a node's child list and sibling link). */
struct ctx_link {
	struct ctx_link *next, *prev;
};

/*
 * What a node is. Only CANCEL nodes have a state, a lock, children and watches; the others
 * answer through the cancel node above them (@parent) or are never done.
 */
enum ctx_kind {
	KIND_BACKGROUND = 0, /* the static root */
	KIND_CANCEL,	     /* with_cancel / with_deadline (and their _cause, _timeout forms) */
	KIND_VALUE,	     /* with_value: a key and a value, done when @parent is */
	KIND_DETACHED	     /* without_cancel: values of @up, never done */
};

struct pl_ctx {
	/* Immutable after construction. */
	enum ctx_kind kind;
	pl_ctx *up;	   /* the parent it was made from (holds a reference); NULL: background */
	pl_ctx *parent;	   /* the nearest CANCEL node above, kept alive by the @up chain (no
			    * reference of its own); NULL when none (background, NULL, detached) */
	int64_t deadline;  /* CANCEL: min over ancestors; INT64_MAX: none */
	uint64_t dl_state; /* CANCEL: the state its deadline latches, pack(-ETIMEDOUT, cause) */
	const void *key;   /* VALUE */
	void *value;	   /* VALUE */

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
    .kind = KIND_BACKGROUND,
    .deadline = INT64_MAX,
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

/*
 * cancel_node - the node whose state says whether @c is done: @c itself for a CANCEL node, the
 * nearest CANCEL node above a value node, NULL (never done) for NULL, background, a detached
 * node and a value node with no cancel node above it.
 */
static pl_ctx *cancel_node(const pl_ctx *c)
{
	if (c == NULL)
		return NULL;
	switch (c->kind) {
	case KIND_CANCEL:
		return (pl_ctx *)c;
	case KIND_VALUE:
		return c->parent;
	default:
		return NULL;
	}
}

/* is_static - NULL or background: no reference count, nothing to free. */
static bool is_static(const pl_ctx *c)
{
	return c == NULL || c->kind == KIND_BACKGROUND;
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
	uint64_t want = c->dl_state;
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
		proposed = c->dl_state;
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

/* new_node - a zeroed node of @kind holding a reference on @parent, or NULL with errno ENOMEM. */
static pl_ctx *new_node(enum ctx_kind kind, pl_ctx *parent)
{
	pl_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	c->kind = kind;
	c->up = pl_ctx_retain(parent);
	c->deadline = INT64_MAX;
	atomic_init(&c->refs, 1);
	atomic_init(&c->state, 0);
	atomic_init(&c->walked, WALK_DONE);
	return c;
}

pl_ctx *pl_ctx_with_deadline_cause(pl_ctx *parent, int64_t deadline_ns, int cause)
{
	pl_ctx *c = new_node(KIND_CANCEL, parent);
	pl_ctx *p = cancel_node(parent);
	int64_t now;

	if (c == NULL)
		return NULL;
	PL_CHECK(pthread_mutex_init(&c->lock, NULL));
	atomic_init(&c->walked, WALK_PENDING);
	link_init(&c->children);
	c->watches.next = c->watches.prev = &c->watches;
	c->sib.next = c->sib.prev = NULL;
	c->deadline = deadline_ns;
	c->dl_state = pack(-ETIMEDOUT, cause != 0 ? cause : -ETIMEDOUT);
	now = pl_now_ns();

	if (p == NULL) {
		if (c->deadline <= now)
			born_done(c, c->dl_state);
		return c;
	}

	c->parent = p;
	if (p->deadline < c->deadline) {
		/* As Go: a deadline later than the parent's is none of its own; the parent's (and
		 * the cause it reports) is what the child sees first. */
		c->deadline = p->deadline;
		c->dl_state = p->dl_state;
	}
	lock(p);
	/* Under p's lock: if its cancel walk has not begun, it will find c in its list. */
	uint64_t ps = load_state(p);
	if (ps != 0)
		born_done(c, ps);
	else if (c->deadline <= now)
		born_done(c, c->dl_state);
	else
		link_add_tail(&p->children, &c->sib);
	unlock(p);
	return c;
}

pl_ctx *pl_ctx_with_deadline(pl_ctx *parent, int64_t deadline_ns)
{
	return pl_ctx_with_deadline_cause(parent, deadline_ns, 0);
}

pl_ctx *pl_ctx_with_cancel(pl_ctx *parent)
{
	return pl_ctx_with_deadline_cause(parent, INT64_MAX, 0);
}

pl_ctx *pl_ctx_with_timeout(pl_ctx *parent, int64_t timeout_ns)
{
	return pl_ctx_with_deadline_cause(parent, sat_add(pl_now_ns(), timeout_ns), 0);
}

pl_ctx *pl_ctx_with_timeout_cause(pl_ctx *parent, int64_t timeout_ns, int cause)
{
	return pl_ctx_with_deadline_cause(parent, sat_add(pl_now_ns(), timeout_ns), cause);
}

pl_ctx *pl_ctx_with_value(pl_ctx *parent, const void *key, void *value)
{
	pl_ctx *c;

	if (key == NULL) {
		errno = EINVAL;
		return NULL;
	}
	c = new_node(KIND_VALUE, parent);
	if (c == NULL)
		return NULL;
	c->parent = cancel_node(parent);
	c->key = key;
	c->value = value;
	return c;
}

pl_ctx *pl_ctx_without_cancel(pl_ctx *parent)
{
	return new_node(KIND_DETACHED, parent);
}

void *pl_ctx_value(const pl_ctx *c, const void *key)
{
	/* Every field read is immutable, and the caller's reference keeps the chain alive. */
	for (; c != NULL; c = c->up)
		if (c->kind == KIND_VALUE && c->key == key)
			return c->value;
	return NULL;
}

void pl_ctx_cancel_cause(pl_ctx *c, int cause)
{
	if (c == NULL || c->kind != KIND_CANCEL)
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
	pl_ctx *n = cancel_node(c);

	if (n == NULL)
		return 0;
	/* Through cancel_node()'s cast: see load_state(), the latch of a passed deadline. */
	return state_err(load_state(n));
}

int pl_ctx_cause(const pl_ctx *c)
{
	pl_ctx *n = cancel_node(c);

	if (n == NULL)
		return 0;
	return state_cause(load_state(n));
}

int64_t pl_ctx_deadline(const pl_ctx *c)
{
	pl_ctx *n = cancel_node(c);

	return n == NULL ? INT64_MAX : n->deadline;
}

pl_ctx *pl_ctx_retain(pl_ctx *c)
{
	/* Relaxed: the caller already holds a reference, so nothing is published here. */
	if (!is_static(c))
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void pl_ctx_release(pl_ctx *c)
{
	while (!is_static(c)) {
		/* Release orders our uses of c before the last dropper's free; acquire (taken by
		 * the last dropper) pairs with every other dropper's release. */
		long prev = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel);
		if (prev > 1)
			return;
		if (prev != 1)
			pl__die("pl_ctx_release: context %p released once too often", (void *)c);

		pl_ctx *up = c->up;

		if (c->kind == KIND_CANCEL) {
			leave_parent(c); /* c->parent lives: @up's chain holds it until below */
			PL_CHECK(pthread_mutex_destroy(&c->lock));
		}
		free(c);
		c = up; /* drop the child's reference on the node it was made from */
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
	c = cancel_node(c); /* the caller's reference keeps it alive */
	if (c == NULL) {
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

/* --------------------------------------------------------------------- after-functions */

/*
 * An after-function's registration. @state decides, with one compare-and-swap from ARMED, whether
 * fn runs (FIRED: by the watch on a cancel, the deadline's timer entry, or a stop that finds
 * the context done) or never does (STOPPED: by pl_ctx_after_stop()). Only the winner of that
 * CAS acts, so fn runs at most once and never after a stop that returned true.
 *
 * Setup. pl_ctx_after_func() arms the deadline and registers the watch while @state is SETUP.
 * Either may fire at once (a deadline already past, a cancel on another thread); a fire then
 * only records itself (SETUP -> SETUP_FIRED) and the launch is left to the end of the setup,
 * which moves SETUP to ARMED or, finding SETUP_FIRED, launches itself. Without this a launched
 * fn could run and retire the registration (unwatch, finish @ent, free) while the setup was
 * still registering its watch.
 *
 * Launch. The winner that fires does not start fn's thread itself: the watch runs under the
 * context's lock, where starting a thread (tens of microseconds) would hold up the cancel
 * walk, and where a failure could not be reported. It arms @ent at once with the LAUNCH cookie;
 * the timer thread then starts a detached thread for fn, and when pthread_create() fails (a
 * thread limit) tries again a millisecond later, so fn still runs once, late rather than never.
 * A cancel's pl_ctx_cancel() therefore returns with fn decided but not started, as Go's cancel
 * returns with fn's goroutine started but not necessarily run.
 *
 * Deadlines are lazy in the tree (no timers), so a registration on a context with a deadline
 * arms @ent at that deadline (cookie DEADLINE) during the setup. The launch re-arms the same
 * entry and is only ever armed after the setup, so the deadline's arm cannot overwrite it.
 *
 * Retirement: once fn has run (on its thread) or a stop won, the registration unwatches (which
 * waits out a watch callback running under the context's lock), finishes @ent (which waits out
 * a timer callback), drops its reference on the context and its own reference on @a. The
 * callbacks that lost the CAS touch @a only before those waits end.
 */
enum {
	AFTER_SETUP = 0,
	AFTER_SETUP_FIRED,
	AFTER_ARMED,
	AFTER_FIRED,
	AFTER_STOPPED
};

/* Cookies of @ent: what its timer callback is for. */
enum {
	AFTER_DEADLINE = 1,
	AFTER_LAUNCH = 2
};

/* A failed pthread_create() for fn is tried again this much later. */
#define AFTER_RETRY_NS 1000000

struct pl_ctx_after {
	/* Immutable after construction. */
	pl_ctx *cx; /* the context (a reference held while registered); NULL: never done */
	void (*fn)(void *arg);
	void *arg;
	/* AFTER_*: SETUP, then ARMED until the one CAS that decides (see above). */
	_Atomic int state;
	/* The handle's reference, and the registration's until it retires. */
	_Atomic int refs;
	struct pl__ctx_watch watch; /* on @cx: its cancellation (protected by @cx's lock) */
	struct pl__tq_entry ent;    /* @cx's deadline, then the launch (the timer queue's lock) */
};

static void after_put(pl_ctx_after *a)
{
	/* As pl_ctx_release(): release orders our uses before the free, acquire for the last. */
	if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1)
		free(a);
}

/* after_launch - queue the start of fn's thread (@state is FIRED, by us). */
static void after_launch(pl_ctx_after *a)
{
	pl__tq_arm(&a->ent, pl_now_ns(), AFTER_LAUNCH);
}

/*
 * after_fire - @a's context is done: if still armed, decide that fn runs and queue the launch;
 * during the setup, only record it (see "Setup" above).
 */
static void after_fire(pl_ctx_after *a)
{
	int s = atomic_load(&a->state);

	for (;;) {
		if (s == AFTER_SETUP) {
			if (atomic_compare_exchange_weak(&a->state, &s, AFTER_SETUP_FIRED))
				return;
		} else if (s == AFTER_ARMED) {
			if (atomic_compare_exchange_weak(&a->state, &s, AFTER_FIRED)) {
				after_launch(a);
				return;
			}
		} else {
			return; /* decided already */
		}
	}
}

/* after_retire - end a FIRED (fn returned) or STOPPED registration; see above. */
static void after_retire(pl_ctx_after *a)
{
	pl__ctx_unwatch(a->cx, &a->watch);
	pl__tq_fini(&a->ent);
	pl_ctx_release(a->cx);
	after_put(a);
}

/* The thread of fn: started by after_timer() (LAUNCH), every signal blocked (inherited). */
static void *after_run(void *arg)
{
	pl_ctx_after *a = arg;

	a->fn(a->arg);
	after_retire(a);
	return NULL;
}

/* Runs under the context's lock when it is cancelled (see ctx_watch.h). */
static void after_watch_fired(struct pl__ctx_watch *w)
{
	after_fire(w->arg);
}

/* Runs on the timer thread: the context's deadline came, or the launch is due. */
static void after_timer(struct pl__tq_entry *e, uint64_t cookie)
{
	pl_ctx_after *a = (pl_ctx_after *)(void *)((char *)e - offsetof(pl_ctx_after, ent));
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	if (cookie == AFTER_DEADLINE) {
		/* The deadline has passed: this latches -ETIMEDOUT (unless a cancel came first,
		 * whose watch has fired too), so fn finds its context done. */
		(void)pl_ctx_err(a->cx);
		after_fire(a);
		return;
	}
	PL_CHECK(pthread_attr_init(&attr));
	PL_CHECK(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED));
	rc = pthread_create(&tid, &attr, after_run, a);
	PL_CHECK(pthread_attr_destroy(&attr));
	if (rc != 0)
		pl__tq_arm(e, sat_add(pl_now_ns(), AFTER_RETRY_NS), AFTER_LAUNCH);
}

pl_ctx_after *pl_ctx_after_func(pl_ctx *cx, void (*fn)(void *arg), void *arg)
{
	pl_ctx_after *a;
	int rc;

	if (fn == NULL) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	a->fn = fn;
	a->arg = arg;
	if (cancel_node(cx) == NULL) {
		/* Never done: nothing to register, only the handle holds @a. */
		atomic_init(&a->state, AFTER_ARMED);
		atomic_init(&a->refs, 1);
		return a;
	}
	rc = pl__tq_init(&a->ent, after_timer);
	if (rc != 0) {
		free(a);
		errno = -rc;
		return NULL;
	}
	atomic_init(&a->state, AFTER_SETUP);
	atomic_init(&a->refs, 2);
	a->cx = pl_ctx_retain(cx);
	a->watch.fn = after_watch_fired;
	a->watch.arg = a;
	if (pl_ctx_deadline(cx) != INT64_MAX)
		pl__tq_arm(&a->ent, pl_ctx_deadline(cx), AFTER_DEADLINE);
	if (pl__ctx_watch(cx, &a->watch) != 0)
		after_fire(a); /* done already: fn runs (soon, on its own thread) */

	int s = AFTER_SETUP;
	if (!atomic_compare_exchange_strong(&a->state, &s, AFTER_ARMED)) {
		/* SETUP_FIRED: done during the setup; nothing else acts on @state now. */
		atomic_store(&a->state, AFTER_FIRED);
		after_launch(a);
	}
	return a;
}

bool pl_ctx_after_stop(pl_ctx_after *a)
{
	int armed = AFTER_ARMED;

	if (a == NULL)
		return false;
	if (a->cx != NULL && pl_ctx_err(a->cx) != 0) {
		/* Done, though perhaps nobody has acted on it yet (a deadline): fn runs. */
		after_fire(a);
		return false;
	}
	if (!atomic_compare_exchange_strong(&a->state, &armed, AFTER_STOPPED))
		return false;
	if (a->cx != NULL)
		after_retire(a);
	return true;
}

void pl_ctx_after_free(pl_ctx_after *a)
{
	if (a != NULL)
		after_put(a);
}

/* --------------------------------------------------------------------- internal */

int pl__ctx_never_done(const pl_ctx *c)
{
	return cancel_node(c) == NULL;
}

int pl__ctx_watch(pl_ctx *c, struct pl__ctx_watch *w)
{
	int err;

	w->next = w->prev = NULL;
	c = cancel_node(c); /* the caller's reference keeps it alive */
	if (c == NULL)
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
	c = cancel_node(c);
	if (c == NULL)
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

	if (c == NULL || c->kind != KIND_CANCEL)
		return 0;
	lock(c);
	for (struct ctx_link *l = c->children.next; l != &c->children; l = l->next)
		n++;
	unlock(c);
	return n;
}
