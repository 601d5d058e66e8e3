/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_BACKPRESSURE_H
#define PATLAB_BACKPRESSURE_H

/*
 * Backpressure: what to do when producers are faster than consumers.
 *
 * 1. Ingress (pl_ingress_*): a bounded queue between producers and consumers whose policy
 *    says what an offer does when it is full:
 *    - PL_BP_BLOCK:       wait for room (cancellable through a context). Never drops.
 *    - PL_BP_TIMEOUT:     wait for room up to a timeout, then give up with -ETIMEDOUT.
 *    - PL_BP_DROP_NEWEST: refuse the new item with -ENOBUFS; it counts as dropped.
 *    - PL_BP_DROP_OLDEST: evict the oldest queued item to admit the new one; the evicted item
 *                         counts as dropped and goes to the drop callback.
 *    - PL_BP_REJECT:      refuse the new item with -EAGAIN; it counts as rejected.
 *    Optionally an adaptive shedder (CoDel, see 3.) runs where items leave: it drops items
 *    whose queueing delay stayed above a target for an interval, whatever the policy.
 *    An ingress is built on two channels of one kind (any kind; "spsc" for one producer thread
 *    and one consumer thread, and never with DROP_OLDEST): the queue, and a channel of credits
 *    (Go's "buffered channel as a semaphore") that holds one envelope per free slot.
 *
 * 2. Rate limiter (pl_limiter_*): a token bucket (rate tokens per second, up to burst tokens
 *    saved), in the manner of Go's golang.org/x/time/rate: a non-blocking take and a blocking,
 *    cancellable wait that reserves its tokens in arrival order. No thread; CLOCK_MONOTONIC.
 *
 * 3. Shedder (pl_shedder_*): CoDel's test for a standing queue (Nichols & Jacobson, RFC 8289)
 *    over item sojourn times: nothing is shed while the queueing delay dips below the target
 *    at least once per interval (a burst that drains is a "good queue"). Once it stayed above
 *    for a whole interval, the queue is a standing one, and the shedder responds in one of two
 *    modes:
 *    - PL_SHED_CODEL: CoDel's control law: shed one item, then more at a rate that grows with
 *      the square root of the drops, until an item leaves below target. Made for senders that
 *      slow down when they lose an item (TCP; clients that back off).
 *    - PL_SHED_LATE: shed every item that waited target or more, until the queue empties or no
 *      item was late for an interval: the queueing delay is then capped near the target even
 *      when senders do not slow down (open-loop clients that time out and retry), as in the
 *      "queue CoDel" of Facebook's "Fail at Scale" (ACM Queue, 2015).
 *
 * Counters (struct pl_ingress_stats): every counter is an atomic and exact; a snapshot reads
 * them one by one, so it is a consistent cut only at a quiescent point (no offer or receive in
 * progress). There, and after pl_ingress_close() and a drain:
 *     offered  = accepted + dropped_newest + rejected
 *     accepted = delivered + evicted + shed + queued
 * hence offered = delivered + dropped + rejected + queued, with dropped = dropped_newest +
 * evicted + shed. queued never exceeds the bound, ever (the ingress aborts the process if its
 * own accounting says otherwise: a broken invariant is a bug, not a condition).
 *
 * Ownership of items (any pointer, NULL included):
 * - offer returns 0: the item is the ingress's; it goes to exactly one receiver, or to the drop
 *   callback (evicted, shed, or left queued at pl_ingress_free()).
 * - offer returns an error (-ENOBUFS included): the item stays the caller's.
 * The drop callback runs on the thread that dropped the item: an offering thread (evicted), a
 * receiving thread (shed) or the thread in pl_ingress_free(); it must be thread-safe, short, and
 * must not call back into the same ingress.
 *
 * Synchronization:
 * | call                        | may run concurrently with                                |
 * |-----------------------------|----------------------------------------------------------|
 * | pl_ingress_offer*           | everything but free ("spsc": one offering thread)        |
 * | pl_ingress_recv, _try_recv  | everything but free ("spsc": one receiving thread)       |
 * | pl_ingress_close, _len,     | everything but free                                     |
 * | _stats, _bound              |                                                          |
 * | pl_ingress_free             | nothing: the last call                                   |
 * | pl_limiter_* but free       | each other, from any number of threads                   |
 * | pl_shedder_* but free       | each other, from any number of threads                   |
 * A successful offer happens before the receive that returns its item (the channel's
 * guarantee), so plain writes made to the item before the offer are visible to the receiver.
 *
 * Errors are negative errno values; constructors return NULL and set errno.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "ctx.h"

/* ------------------------------------------------------------------ ingress */

typedef struct pl_ingress pl_ingress;

/* What an offer does when the ingress is full (see the top of the file). */
enum pl_bp_policy {
	PL_BP_BLOCK = 0,
	PL_BP_TIMEOUT = 1,
	PL_BP_DROP_NEWEST = 2,
	PL_BP_DROP_OLDEST = 3,
	PL_BP_REJECT = 4,
};

/* Why the drop callback got an item. */
enum pl_drop_reason {
	PL_DROP_EVICTED = 1, /* DROP_OLDEST made room for a newer item */
	PL_DROP_SHED = 2,    /* the shedder dropped it on its way out */
	PL_DROP_FREED = 3,   /* still queued when pl_ingress_free() ran */
};

/* How a shedder responds to a standing queue (see the top of the file). */
enum pl_shed_mode {
	PL_SHED_CODEL = 0,
	PL_SHED_LATE = 1,
};

/* pl_drop_fn - takes ownership of a dropped @item; @user is pl_ingress_opts.drop_user. */
typedef void (*pl_drop_fn)(void *item, enum pl_drop_reason why, void *user);

/*
 * struct pl_ingress_opts - shape and policy. A zeroed struct plus a @bound is valid: BLOCK on
 * the "mutex" kind, no shedder, no drop callback.
 * @bound:            most items queued at once, >= 1 (PL_CHAN_UNBOUNDED is refused: the point
 *                    of an ingress is its bound).
 * @policy:           enum pl_bp_policy.
 * @chan_kind:        channel kind by name (NULL: "mutex"). A kind flagged spsc allows one
 *                    offering and one receiving thread, and is refused with DROP_OLDEST (an
 *                    evicting offer receives from the queue too).
 * @chan_opts:        tuning of both channels (NULL: pl_chan_opts_default()); its spin budget
 *                    also bounds DROP_OLDEST's spin before parking.
 * @timeout_ns:       PL_BP_TIMEOUT: how long an offer waits for room, >= 0 (0: no wait, a full
 *                    ingress answers -ETIMEDOUT at once). Ignored by the other policies.
 * @shed_target_ns:   > 0: run the shedder on receive with this target sojourn time; 0: none.
 * @shed_interval_ns: the shedder's interval (> 0), or 0: 20 x @shed_target_ns (CoDel's
 *                    5 ms / 100 ms ratio).
 * @shed_mode:        enum pl_shed_mode (a zeroed struct: PL_SHED_CODEL).
 * @on_drop:          receives evicted, shed and freed items (NULL: they are forgotten).
 * @drop_user:        passed to @on_drop.
 */
typedef struct pl_ingress_opts {
	size_t bound;
	enum pl_bp_policy policy;
	const char *chan_kind;
	const pl_chan_opts *chan_opts;
	int64_t timeout_ns;
	int64_t shed_target_ns;
	int64_t shed_interval_ns;
	enum pl_shed_mode shed_mode;
	pl_drop_fn on_drop;
	void *drop_user;
} pl_ingress_opts;

/*
 * struct pl_ingress_stats - the counters (see the top of the file for the identities).
 * @offered:        offers made (calls that returned anything but -EINVAL).
 * @accepted:       offers that returned 0.
 * @delivered:      items returned by a receive.
 * @dropped:        @dropped_newest + @evicted + @shed.
 * @rejected:       offers refused with -EAGAIN, -ETIMEDOUT, -ECANCELED, -EPIPE or -ENOMEM.
 * @dropped_newest: offers refused with -ENOBUFS (PL_BP_DROP_NEWEST).
 * @evicted:        queued items evicted by PL_BP_DROP_OLDEST.
 * @shed:           items the shedder dropped.
 * @timed_out:      offers that gave up with -ETIMEDOUT (part of @rejected).
 * @blocked_ns:     total time offers spent waiting for room (all threads summed).
 * @queued:         items admitted and not yet received: the occupancy now.
 * @peak:           the highest occupancy ever seen; never above @bound.
 * @bound:          the bound.
 */
struct pl_ingress_stats {
	uint64_t offered;
	uint64_t accepted;
	uint64_t delivered;
	uint64_t dropped;
	uint64_t rejected;
	uint64_t dropped_newest;
	uint64_t evicted;
	uint64_t shed;
	uint64_t timed_out;
	int64_t blocked_ns;
	size_t queued;
	size_t peak;
	size_t bound;
};

/* pl_bp_policy_name - "block", "timeout", "drop_newest", "drop_oldest", "reject"; NULL if bad. */
const char *pl_bp_policy_name(enum pl_bp_policy policy);

/* pl_bp_policy_parse - the policy called @name into *@out: 0, or -EINVAL when unknown. */
int pl_bp_policy_parse(const char *name, enum pl_bp_policy *out);

/*
 * pl_ingress_new - an empty, open ingress.
 * Returns it, or NULL with errno EINVAL (@o NULL, @bound 0 or PL_CHAN_UNBOUNDED, an unknown
 * policy, shed mode or kind, a negative time, an spsc kind with DROP_OLDEST, bad @chan_opts),
 * ENOMEM, or what pl_chan_new_opts() failed with.
 */
pl_ingress *pl_ingress_new(const pl_ingress_opts *o);

/*
 * pl_ingress_offer - offer @item; what happens when the ingress is full is the policy's.
 * @cx: consulted only when the offer has to wait (BLOCK, TIMEOUT, and DROP_OLDEST while every
 *      slot is in transit between threads); NULL: never cancelled.
 *
 * A waiting offer is woken by a receive that frees a slot, by pl_ingress_close(), or by @cx's
 * cancellation or deadline (and, for TIMEOUT, its own timeout). A DROP_OLDEST offer only waits
 * while all @bound slots are held by offers and receives still in progress (none is queued yet
 * or any more), i.e. for a few instructions of another thread; it is woken when one completes.
 *
 * Returns 0 (accepted: see "Ownership"), -ENOBUFS (DROP_NEWEST, full: dropped), -EAGAIN
 * (REJECT, full), -ETIMEDOUT (TIMEOUT: no room within the timeout; or @cx's deadline passed
 * while waiting), -ECANCELED (@cx cancelled while waiting), -EPIPE (closed, before or while
 * waiting), -ENOMEM (TIMEOUT could not make its timer context), -EINVAL (@in NULL; not
 * counted). Every return but -EINVAL is counted in the stats.
 */
int pl_ingress_offer(pl_ingress *in, void *item, pl_ctx *cx);

/*
 * pl_ingress_offer_timeout - as pl_ingress_offer() on a PL_BP_TIMEOUT ingress, waiting up to
 * @timeout_ns (>= 0) instead of the configured timeout for this offer only.
 * Returns as pl_ingress_offer(), and -EINVAL (not counted) when @timeout_ns < 0 or the policy
 * is not PL_BP_TIMEOUT.
 */
int pl_ingress_offer_timeout(pl_ingress *in, void *item, int64_t timeout_ns, pl_ctx *cx);

/*
 * pl_ingress_recv - receive the oldest queued item into *@item, blocking while none is queued.
 * With a shedder, items it sheds on the way go to the drop callback and the receive goes on
 * with the next one. Woken by an offer, by pl_ingress_close(), or by @cx (NULL: never).
 * Returns 0, -EPIPE once closed and drained, or @cx's error (-ECANCELED, -ETIMEDOUT; nothing
 * received, *@item untouched), -EINVAL when @in or @item is NULL.
 */
int pl_ingress_recv(pl_ingress *in, void **item, pl_ctx *cx);

/*
 * pl_ingress_try_recv - as pl_ingress_recv() without blocking: 0, -EAGAIN (none queued),
 * -EPIPE (closed and drained), -EINVAL.
 */
int pl_ingress_try_recv(pl_ingress *in, void **item);

/*
 * pl_ingress_close - no more offers: offers (waiting ones too) fail with -EPIPE from now on;
 * receivers drain what is queued, then get -EPIPE. An offer racing with close may still be
 * accepted (it completed first) or, under DROP_OLDEST, evict one queued item before it fails.
 * Returns 0, or -EPIPE when already closed, -EINVAL when @in is NULL.
 */
int pl_ingress_close(pl_ingress *in);

/* pl_ingress_len - items admitted and not yet received (a snapshot); always <= the bound. */
size_t pl_ingress_len(const pl_ingress *in);

/* pl_ingress_bound - the bound. */
size_t pl_ingress_bound(const pl_ingress *in);

/* pl_ingress_stats - read the counters into *@out (see the top of the file). */
void pl_ingress_stats(const pl_ingress *in, struct pl_ingress_stats *out);

/*
 * pl_ingress_free - release @in (NULL: no-op), closing it first if needed. Items still queued
 * go to the drop callback as PL_DROP_FREED, oldest first, on this thread. No other thread may
 * use @in any more.
 */
void pl_ingress_free(pl_ingress *in);

/* ------------------------------------------------------------------ rate limiter */

typedef struct pl_limiter pl_limiter;

/*
 * struct pl_limiter_stats - what a limiter did.
 * @granted:   takes and waits that got their tokens.
 * @denied:    takes refused, and waits refused at once because @cx's deadline would pass first.
 * @waited:    waits that had to sleep for their tokens (granted or not).
 * @cancelled: waits whose context ended while they slept.
 * @tokens:    tokens in the bucket now; negative while waiters hold reservations.
 */
struct pl_limiter_stats {
	uint64_t granted;
	uint64_t denied;
	uint64_t waited;
	uint64_t cancelled;
	double tokens;
};

/*
 * pl_limiter_new - a token bucket that refills at @rate tokens per second up to @burst tokens,
 * starting full. Over any window of t seconds it grants at most @burst + @rate * t tokens.
 * Returns it, or NULL with errno EINVAL (@rate not finite and > 0, or @burst not finite and
 * >= 1), ENOMEM.
 */
pl_limiter *pl_limiter_new(double rate, double burst);

/*
 * pl_limiter_take - take @n tokens now if the bucket holds them. Never blocks. Waiters that
 * reserved earlier come first: while any waits, takes are refused.
 * Returns 0 (taken; @n == 0 always succeeds), -EAGAIN (not enough tokens), -EINVAL (@l NULL,
 * or @n > burst: it could never succeed).
 */
int pl_limiter_take(pl_limiter *l, unsigned n);

/*
 * pl_limiter_take_at - pl_limiter_take() at time @now_ns (CLOCK_MONOTONIC, as pl_now_ns()),
 * for callers that already read the clock, and for tests. A time earlier than one already
 * seen refills nothing (it does not move the bucket back).
 */
int pl_limiter_take_at(pl_limiter *l, unsigned n, int64_t now_ns);

/*
 * pl_limiter_wait - take @n tokens, sleeping until the bucket can grant them. The tokens are
 * reserved at once (in call order), so later takes and waits queue behind this one.
 * @cx: NULL: never cancelled. Its cancellation wakes the sleeper; if its deadline would pass
 *      before the tokens are due, the wait is refused at once without sleeping (Go's
 *      rate.Limiter.Wait does the same).
 * Sleeps on a timed futex; woken only by the time passing or @cx's cancellation. A cancelled
 * wait gives its tokens back when no later reservation depends on them, else forfeits them
 * (the bucket then grants less than it could, never more).
 * Returns 0, -ETIMEDOUT (@cx's deadline first: refused at once, or passed while sleeping),
 * -ECANCELED, -EINVAL (@l NULL, or @n > burst).
 */
int pl_limiter_wait(pl_limiter *l, unsigned n, pl_ctx *cx);

/* pl_limiter_stats - read the counters into *@out (a consistent snapshot: under the lock). */
void pl_limiter_stats(pl_limiter *l, struct pl_limiter_stats *out);

/* pl_limiter_free - release @l (NULL: no-op). No call may be in progress. */
void pl_limiter_free(pl_limiter *l);

/* ------------------------------------------------------------------ shedder */

typedef struct pl_shedder pl_shedder;

/*
 * struct pl_shedder_stats - what a shedder saw and did.
 * @seen:     items checked.
 * @shed:     items it said to drop.
 * @episodes: times it entered the dropping state (the delay stayed above target an interval).
 * @dropping: in the dropping state now.
 */
struct pl_shedder_stats {
	uint64_t seen;
	uint64_t shed;
	uint64_t episodes;
	bool dropping;
};

/*
 * pl_shedder_new - a shedder in @mode with target sojourn @target_ns and @interval_ns (both
 * > 0; CoDel's defaults for networks are 5 ms and 100 ms: the interval should cover the time
 * the consumers need to drain a burst). NULL with errno EINVAL or ENOMEM.
 */
pl_shedder *pl_shedder_new(enum pl_shed_mode mode, int64_t target_ns, int64_t interval_ns);

/*
 * pl_shedder_should_drop - an item leaves the queue at @now_ns after waiting @sojourn_ns;
 * @backlog items are still queued behind it. Returns true when it should be dropped (the
 * caller drops it and takes the next one), false when it should be served.
 *
 * Never true for an item below target, nor before the sojourn time has been at or above the
 * target for at least one interval, without a single item below it and without a dequeue that
 * left the queue empty (that begins a dropping episode). Then:
 * - PL_SHED_CODEL drops the first item and the next ones at intervals of
 *   interval / sqrt(drops so far), and ends the episode at the first item below target (or
 *   leaving the queue empty): every drop is preceded by a whole interval of late items.
 * - PL_SHED_LATE drops every item at or above target, and ends the episode when the queue
 *   empties or no item has been at or above target for an interval.
 * A time earlier than one already seen counts as that one.
 */
bool pl_shedder_should_drop(pl_shedder *s, int64_t sojourn_ns, int64_t now_ns, size_t backlog);

/* pl_shedder_stats - read the counters into *@out (under the lock). */
void pl_shedder_stats(pl_shedder *s, struct pl_shedder_stats *out);

/* pl_shedder_free - release @s (NULL: no-op). No call may be in progress. */
void pl_shedder_free(pl_shedder *s);

#endif /* PATLAB_BACKPRESSURE_H */
