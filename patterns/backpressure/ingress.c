/* SPDX-License-Identifier: MIT */
/*
 * The bounded ingress (see backpressure.h for the contract).
 *
 * Two channels of the chosen kind, both of capacity @bound:
 * - @q carries envelopes (item, enqueue time) from offers to receives, oldest first;
 * - @credits holds the envelopes of the free slots: @bound of them at creation, one per slot.
 * An offer first takes a credit (an envelope) from @credits, then sends it on @q; a receive
 * takes an envelope from @q, copies the item out and sends the envelope back on @credits. This
 * is Go's "buffered channel as a semaphore" with the semaphore's tokens doubling as the queue's
 * nodes: no allocation per item, and the policies fall out of how an offer takes its credit:
 *   BLOCK        pl_chan_recv(credits, cx): waits for a receive to give one back
 *   TIMEOUT      the same under a child context with the timeout as deadline
 *   REJECT       pl_chan_try_recv(credits): -EAGAIN -> refuse
 *   DROP_NEWEST  the same: -EAGAIN -> drop
 *   DROP_OLDEST  try a credit, else evict the head of @q and reuse its envelope (see below)
 *
 * Occupancy. @occ counts slots in use: an offer adds one right after it got a credit, a
 * receive subtracts one right before it gives the credit back. So at every moment @occ is at
 * most the number of credits out of @credits, which is at most @bound: the bound holds
 * whatever the kind, and @occ >= what @q holds (it also counts envelopes in transit). Relaxed
 * increments suffice for that: a credit travels through a channel (its send happens before its
 * receive), so a subtraction that freed a credit happens before the addition of whoever got it,
 * and coherence keeps them in that order in @occ's modification order. slot_taken() checks the
 * bound on every increment (one comparison of a value it already has) and aborts if it ever
 * fails: an ingress that overfills is a bug to be caught, in release builds too.
 *
 * Sends on @q and @credits never wait for long. Envelopes number @bound and each channel holds
 * at most @bound, so a thread sending an envelope always finds room in principle; a kind may
 * still report "full" for a moment while another thread is in the middle of a receive from the
 * same ring (the lockfree kind's claimed-but-unreleased slot), and the blocking send then waits
 * for that receive to finish, which takes a few instructions of that thread. So both sends are
 * blocking sends without a context: nothing can keep them waiting but another thread's
 * in-progress channel operation, and close (-EPIPE).
 *
 * DROP_OLDEST: an atomic evict-and-admit. When no credit is free, the offer receives the head
 * of @q (the oldest queued item) and reuses its envelope for the new item: the slot passes
 * from the evicted item to the new one without ever being free, so no other offer can take it
 * in between, @occ does not move, and the bound cannot be exceeded. Conservation: the evicted
 * item is counted in @evicted at once and handed to the drop callback after the new item is
 * sent (never while this offer holds a slot, so a slow callback delays nobody else's
 * admission); the new item is counted accepted, or rejected if the send meets a close. FIFO of
 * the survivors: @q stays a FIFO; eviction only removes its head. If both a credit and the
 * head are missing, every slot is held by an offer that has not finished sending or a receive
 * that has not finished giving back: the offer then waits (pl__block over the two try-receives
 * on @slot_evc, spinning first) and is woken by the completion of any send on @q or any give-
 * back, each of which notifies @slot_evc. They wake every waiter: a woken waiter may fail its
 * try (a kind's try_recv reports "empty" while an earlier slot is half-written) and sleep
 * again, and waking only one could then strand a later waiter next to a free slot. Waiters
 * exist only in that short transient, so the wake-all costs nothing in steady state; an
 * ingress of another policy never notifies (@notify is false).
 *
 * Close: sets @closed (offers check it first), closes @q (a send in progress fails with
 * -EPIPE; receives drain then get -EPIPE), closes @credits (offers waiting for a credit wake
 * up: they get the credits left, then -EPIPE), and wakes @slot_evc's waiters. After close the
 * credits no longer matter: give-backs to the closed @credits fail and are ignored, the
 * envelopes all live in one array freed by pl_ingress_free().
 *
 * Shedder: on receive, the sojourn time (now - the envelope's enqueue time) and the occupancy
 * left go to pl_shedder_should_drop() after the credit was given back; a shed item goes to the
 * drop callback and the receive goes on. Enqueue times are read only when a shedder exists.
 *
 * Counters: relaxed atomics (statistics, they order nothing; a reader at a quiescent point is
 * ordered after the counted operations by whatever made the point quiescent: a join, a
 * barrier). Producer-side and consumer-side counters live on separate cache lines.
 */
#include <patlab/backpressure.h>

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chan/block.h"
#include "sync/die.h"

/* One queue node, owned by exactly one place at a time: @credits, @q, or one thread. */
struct env {
	void *item;
	int64_t enq_ns; /* pl_now_ns() at the offer; 0 without a shedder */
};

struct pl_ingress {
	/* Read-only after new. */
	pl_chan *q;
	pl_chan *credits;
	struct env *envs;
	size_t bound;
	enum pl_bp_policy policy;
	int64_t timeout_ns;
	int64_t spin_ns;
	bool notify; /* DROP_OLDEST: sends on @q and give-backs notify @slot_evc */
	pl_shedder *shed;
	pl_drop_fn on_drop;
	void *drop_user;

	/* Written by offers (relaxed counters). */
	alignas(PL_FALSE_SHARING) _Atomic uint64_t offered;
	_Atomic uint64_t accepted;
	_Atomic uint64_t rejected;
	_Atomic uint64_t dropped_newest;
	_Atomic uint64_t evicted;
	_Atomic uint64_t timed_out;
	_Atomic int64_t blocked_ns;

	/* Written by receives (relaxed counters). */
	alignas(PL_FALSE_SHARING) _Atomic uint64_t delivered;
	_Atomic uint64_t shed_n;

	/* Occupancy (see the top of the file) and its high-water mark (relaxed CAS-max). */
	alignas(PL_FALSE_SHARING) _Atomic size_t occ;
	_Atomic size_t peak;

	/* DROP_OLDEST waiters sleep here; notified by sends on @q, give-backs, close. */
	alignas(PL_FALSE_SHARING) struct pl__evc slot_evc;
	/* Set once by close (seq_cst: read by DROP_OLDEST waiters after their evc prepare). */
	_Atomic bool closed;
};

static const char *const policy_names[] = {
    [PL_BP_BLOCK] = "block",
    [PL_BP_TIMEOUT] = "timeout",
    [PL_BP_DROP_NEWEST] = "drop_newest",
    [PL_BP_DROP_OLDEST] = "drop_oldest",
    [PL_BP_REJECT] = "reject",
};

#define N_POLICIES (sizeof(policy_names) / sizeof(policy_names[0]))

const char *pl_bp_policy_name(enum pl_bp_policy policy)
{
	return (unsigned)policy < N_POLICIES ? policy_names[policy] : NULL;
}

int pl_bp_policy_parse(const char *name, enum pl_bp_policy *out)
{
	for (unsigned i = 0; name != NULL && i < N_POLICIES; i++) {
		if (strcmp(name, policy_names[i]) == 0) {
			*out = (enum pl_bp_policy)i;
			return 0;
		}
	}
	return -EINVAL;
}

static inline void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline uint64_t load_count(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---------------------------------------------------------------- lifecycle */

static void ingress_destroy(struct pl_ingress *in)
{
	pl_chan_free(in->q);
	pl_chan_free(in->credits);
	pl_shedder_free(in->shed);
	free(in->envs);
	free(in);
}

pl_ingress *pl_ingress_new(const pl_ingress_opts *o)
{
	struct pl_chan_kind_info info;
	struct pl_ingress *in;
	const char *kind;
	pl_chan_opts copts;
	size_t size;
	int err;

	if (o == NULL || o->bound == 0 || o->bound == PL_CHAN_UNBOUNDED ||
	    pl_bp_policy_name(o->policy) == NULL || o->timeout_ns < 0 || o->shed_target_ns < 0 ||
	    o->shed_interval_ns < 0 ||
	    (o->shed_mode != PL_SHED_CODEL && o->shed_mode != PL_SHED_LATE) ||
	    (o->chan_opts != NULL && o->chan_opts->spin_ns < 0)) {
		errno = EINVAL;
		return NULL;
	}
	kind = o->chan_kind != NULL ? o->chan_kind : "mutex";
	if (pl_chan_kind_info(kind, &info) != 0 || (info.spsc && o->policy == PL_BP_DROP_OLDEST)) {
		errno = EINVAL;
		return NULL;
	}
	copts = o->chan_opts != NULL ? *o->chan_opts : pl_chan_opts_default();

	size = (sizeof(*in) + PL_FALSE_SHARING - 1) / PL_FALSE_SHARING * PL_FALSE_SHARING;
	in = aligned_alloc(PL_FALSE_SHARING, size);
	if (in == NULL)
		return NULL;
	memset(in, 0, size);
	in->bound = o->bound;
	in->policy = o->policy;
	in->timeout_ns = o->timeout_ns;
	in->spin_ns = copts.spin_ns;
	in->notify = o->policy == PL_BP_DROP_OLDEST;
	in->on_drop = o->on_drop;
	in->drop_user = o->drop_user;
	atomic_init(&in->occ, 0);
	atomic_init(&in->peak, 0);
	atomic_init(&in->closed, false);
	pl__evc_init(&in->slot_evc);

	err = ENOMEM;
	in->envs = calloc(o->bound, sizeof(*in->envs));
	if (in->envs == NULL)
		goto fail;
	if (o->shed_target_ns > 0) {
		int64_t interval = o->shed_interval_ns;

		if (interval == 0)
			interval =
			    o->shed_target_ns > INT64_MAX / 20 ? INT64_MAX : 20 * o->shed_target_ns;
		in->shed = pl_shedder_new(o->shed_mode, o->shed_target_ns, interval);
		if (in->shed == NULL) {
			err = errno;
			goto fail;
		}
	}
	in->q = pl_chan_new_opts(kind, o->bound, &copts);
	if (in->q == NULL) {
		err = errno;
		goto fail;
	}
	in->credits = pl_chan_new_opts(kind, o->bound, &copts);
	if (in->credits == NULL) {
		err = errno;
		goto fail;
	}
	/* A fresh channel of capacity @bound takes @bound sends without blocking. */
	for (size_t i = 0; i < o->bound; i++)
		if (pl_chan_try_send(in->credits, &in->envs[i]) != 0)
			pl__die("ingress: a fresh %s channel of capacity %zu refused credit %zu",
				kind, o->bound, i);
	return in;
fail:
	ingress_destroy(in);
	errno = err;
	return NULL;
}

/* ---------------------------------------------------------------- slots */

/* slot_taken - an offer got a fresh credit: one more slot in use; check the bound. */
static void slot_taken(struct pl_ingress *in)
{
	size_t v = atomic_fetch_add_explicit(&in->occ, 1, memory_order_relaxed) + 1;
	size_t p = atomic_load_explicit(&in->peak, memory_order_relaxed);

	if (v > in->bound)
		pl__die("ingress: occupancy %zu exceeds the bound %zu", v, in->bound);
	while (v > p && !atomic_compare_exchange_weak_explicit(
			    &in->peak, &p, v, memory_order_relaxed, memory_order_relaxed))
		;
}

/* slot_freed - one slot less in use (before its credit is given back); returns what is left. */
static size_t slot_freed(struct pl_ingress *in)
{
	return atomic_fetch_sub_explicit(&in->occ, 1, memory_order_relaxed) - 1;
}

/* wake_slot_waiters - DROP_OLDEST: a send on @q or a give-back completed. */
static void wake_slot_waiters(struct pl_ingress *in)
{
	if (in->notify)
		pl__evc_notify(&in->slot_evc, INT32_MAX);
}

/* give_back - return @e's credit (after slot_freed()). A closed ingress ignores it. */
static void give_back(struct pl_ingress *in, struct env *e)
{
	/* Never waits for long: see "Sends ... never wait for long" at the top. */
	int rc = pl_chan_send(in->credits, e, NULL);

	if (rc != 0 && rc != -EPIPE)
		pl__die("ingress: giving a credit back failed: %d", rc);
	wake_slot_waiters(in);
}

static void drop(struct pl_ingress *in, void *item, enum pl_drop_reason why)
{
	if (in->on_drop != NULL)
		in->on_drop(item, why, in->drop_user);
}

/* ---------------------------------------------------------------- offer */

struct evict_try {
	struct pl_ingress *in;
	struct env *e;
	bool evicted;
};

/*
 * evict_attempt - DROP_OLDEST's non-blocking step: a free credit if there is one (no need to
 * drop anything), else the oldest queued item's envelope. -EAGAIN: every slot is in transit.
 */
static int evict_attempt(void *arg_in, void *arg)
{
	struct pl_ingress *in = arg_in;
	struct evict_try *t = arg;
	void *v;
	int rc;

	/* seq_cst: pairs with close's store before its notify (the eventcount's Dekker pair). */
	if (atomic_load_explicit(&in->closed, memory_order_seq_cst))
		return -EPIPE;
	rc = pl_chan_try_recv(in->credits, &v);
	if (rc == 0) {
		t->e = v;
		t->evicted = false;
		return 0;
	}
	if (rc != -EAGAIN)
		return rc;
	rc = pl_chan_try_recv(in->q, &v);
	if (rc == 0) {
		t->e = v;
		t->evicted = true;
	}
	return rc; /* -EPIPE only once closed and drained */
}

/* wait_credit_for - TIMEOUT's wait: up to @timeout_ns, under @cx. */
static int wait_credit_for(struct pl_ingress *in, void **v, int64_t timeout_ns, pl_ctx *cx)
{
	int64_t now = pl_now_ns();
	int64_t deadline = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
	pl_ctx *sub;
	int rc;

	if (timeout_ns == 0)
		return -ETIMEDOUT;
	/* @cx ends no later than our own timeout: no need for a child. */
	if (pl_ctx_deadline(cx) <= deadline)
		return pl_chan_recv(in->credits, v, cx);
	sub = pl_ctx_with_deadline(cx, deadline);
	if (sub == NULL)
		return -ENOMEM;
	/* Woken by a give-back, close, @cx's cancellation, or the deadline of @sub. */
	rc = pl_chan_recv(in->credits, v, sub);
	pl_ctx_release(sub);
	return rc;
}

static int offer(struct pl_ingress *in, void *item, int64_t timeout_ns, pl_ctx *cx)
{
	struct evict_try t = {.in = in, .e = NULL, .evicted = false};
	void *old = NULL, *v = NULL;
	int64_t t0 = 0;
	bool waited = false;
	int rc;

	count(&in->offered);
	/* A hint that saves work after close (relaxed); the channels are the authority. */
	if (atomic_load_explicit(&in->closed, memory_order_relaxed)) {
		rc = -EPIPE;
		goto refused;
	}
	rc = pl_chan_try_recv(in->credits, &v);
	t.e = v;
	if (rc == -EAGAIN) {
		switch (in->policy) {
		case PL_BP_REJECT:
			goto refused;
		case PL_BP_DROP_NEWEST:
			count(&in->dropped_newest);
			return -ENOBUFS;
		case PL_BP_BLOCK:
			t0 = pl_now_ns();
			waited = true;
			/* Woken by a give-back (a receive), close, or @cx. */
			rc = pl_chan_recv(in->credits, &v, cx);
			t.e = v;
			break;
		case PL_BP_TIMEOUT:
			t0 = pl_now_ns();
			waited = timeout_ns > 0;
			rc = wait_credit_for(in, &v, timeout_ns, cx);
			t.e = v;
			break;
		case PL_BP_DROP_OLDEST:
			rc = evict_attempt(in, &t);
			if (rc != -EAGAIN)
				break;
			t0 = pl_now_ns();
			waited = true;
			/* Woken by a send on @q, a give-back, close (wake_slot_waiters), or @cx. */
			rc = pl__block(&in->slot_evc, evict_attempt, in, &t, cx, in->spin_ns);
			break;
		}
		if (waited)
			atomic_fetch_add_explicit(&in->blocked_ns, pl_now_ns() - t0,
						  memory_order_relaxed);
	}
	if (rc != 0)
		goto refused;

	if (t.evicted) {
		old = t.e->item;
		count(&in->evicted);
	} else {
		slot_taken(in);
	}
	t.e->item = item;
	t.e->enq_ns = in->shed != NULL ? pl_now_ns() : 0;
	/* Never waits for long: see "Sends ... never wait for long" at the top. */
	rc = pl_chan_send(in->q, t.e, NULL);
	if (rc != 0) {
		if (rc != -EPIPE)
			pl__die("ingress: send on the queue failed: %d", rc);
		/* Closed meanwhile: the slot is free again (its credit no longer matters). */
		slot_freed(in);
		if (t.evicted)
			drop(in, old, PL_DROP_EVICTED);
		goto refused;
	}
	count(&in->accepted);
	wake_slot_waiters(in);
	if (t.evicted)
		drop(in, old, PL_DROP_EVICTED);
	return 0;
refused:
	if (rc == -ETIMEDOUT)
		count(&in->timed_out);
	count(&in->rejected);
	return rc;
}

int pl_ingress_offer(pl_ingress *in, void *item, pl_ctx *cx)
{
	if (in == NULL)
		return -EINVAL;
	return offer(in, item, in->timeout_ns, cx);
}

int pl_ingress_offer_timeout(pl_ingress *in, void *item, int64_t timeout_ns, pl_ctx *cx)
{
	if (in == NULL || timeout_ns < 0 || in->policy != PL_BP_TIMEOUT)
		return -EINVAL;
	return offer(in, item, timeout_ns, cx);
}

/* ---------------------------------------------------------------- receive */

/*
 * take - @e just left @q: free its slot, give its credit back, then serve or shed its item.
 * Returns true with *@item set when served, false when shed.
 */
static bool take(struct pl_ingress *in, struct env *e, void **item)
{
	void *it = e->item;
	int64_t enq = e->enq_ns;
	size_t left = slot_freed(in);

	give_back(in, e);
	if (in->shed != NULL) {
		int64_t now = pl_now_ns();

		if (pl_shedder_should_drop(in->shed, now - enq, now, left)) {
			count(&in->shed_n);
			drop(in, it, PL_DROP_SHED);
			return false;
		}
	}
	count(&in->delivered);
	*item = it;
	return true;
}

int pl_ingress_recv(pl_ingress *in, void **item, pl_ctx *cx)
{
	void *v;
	int rc;

	if (in == NULL || item == NULL)
		return -EINVAL;
	for (;;) {
		/* Woken by an offer's send, close, or @cx. */
		rc = pl_chan_recv(in->q, &v, cx);
		if (rc != 0)
			return rc;
		if (take(in, v, item))
			return 0;
	}
}

int pl_ingress_try_recv(pl_ingress *in, void **item)
{
	void *v;
	int rc;

	if (in == NULL || item == NULL)
		return -EINVAL;
	for (;;) {
		rc = pl_chan_try_recv(in->q, &v);
		if (rc != 0)
			return rc;
		if (take(in, v, item))
			return 0;
	}
}

/* ---------------------------------------------------------------- close, stats, free */

int pl_ingress_close(pl_ingress *in)
{
	if (in == NULL)
		return -EINVAL;
	/* seq_cst: pairs with evict_attempt()'s load through the eventcount (see there). */
	if (atomic_exchange_explicit(&in->closed, true, memory_order_seq_cst))
		return -EPIPE;
	pl_chan_close(in->q);
	pl_chan_close(in->credits);
	/* DROP_OLDEST waiters (pl__block) see @closed; others were woken by the closes. */
	pl__evc_notify(&in->slot_evc, INT32_MAX);
	return 0;
}

size_t pl_ingress_len(const pl_ingress *in)
{
	return atomic_load_explicit(&in->occ, memory_order_relaxed);
}

size_t pl_ingress_bound(const pl_ingress *in)
{
	return in->bound;
}

void pl_ingress_stats(const pl_ingress *in, struct pl_ingress_stats *out)
{
	/* The receive side first: read later, the offer side can only be ahead of it. */
	out->delivered = load_count(&in->delivered);
	out->shed = load_count(&in->shed_n);
	out->queued = atomic_load_explicit(&in->occ, memory_order_relaxed);
	out->peak = atomic_load_explicit(&in->peak, memory_order_relaxed);
	out->accepted = load_count(&in->accepted);
	out->rejected = load_count(&in->rejected);
	out->dropped_newest = load_count(&in->dropped_newest);
	out->evicted = load_count(&in->evicted);
	out->timed_out = load_count(&in->timed_out);
	out->offered = load_count(&in->offered);
	out->blocked_ns = atomic_load_explicit(&in->blocked_ns, memory_order_relaxed);
	out->dropped = out->dropped_newest + out->evicted + out->shed;
	out->bound = in->bound;
}

void pl_ingress_free(pl_ingress *in)
{
	void *v;

	if (in == NULL)
		return;
	pl_ingress_close(in);
	/* What is still queued goes to the drop callback, oldest first. */
	while (pl_chan_try_recv(in->q, &v) == 0)
		drop(in, ((struct env *)v)->item, PL_DROP_FREED);
	ingress_destroy(in);
}
