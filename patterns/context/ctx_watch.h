/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_CTX_WATCH_H
#define PATLAB_CTX_WATCH_H

/*
 * Internal: how a blocked operation learns that its context was cancelled.
 *
 * A thread about to park registers a watch on its context; pl_ctx_cancel() (on the node or
 * any ancestor) calls every registered watch's @fn once, under the node's lock, before it
 * returns, then forgets it. @fn must be short and must not block nor call back into any
 * context: an atomic store and a futex wake is the intended body (or arming a timer-queue
 * entry, sync/timerq.h, whose lock is never held while a context lock is taken).
 *
 * Deadlines fire no watch (they are observed lazily, see ctx.h): a watcher must also bound its
 * sleep by pl_ctx_deadline() and re-check pl_ctx_err() after waking.
 *
 * A watch on a value context is a watch on the nearest cancellable context above it; one on a
 * context that can never be done (pl__ctx_never_done()) is accepted and never fires.
 *
 * Lifetime: pl__ctx_unwatch() must be called before @w's memory goes away, unless
 * pl__ctx_watch() refused it. Once pl__ctx_unwatch() returns, @fn is not running and never
 * will be.
 */

#include <patlab/ctx.h>

#include <stddef.h>

struct pl__ctx_watch {
	/* Protected by the watched node's lock. */
	struct pl__ctx_watch *next, *prev;
	/* Called once, under the watched node's lock, when it is cancelled. */
	void (*fn)(struct pl__ctx_watch *w);
	/* Free for @fn's use (e.g. the futex word to wake). */
	void *arg;
};

/*
 * pl__ctx_watch - register @w (its @fn and @arg set) on @c.
 * Returns 0 when registered (or @c can never be done), or @c's error when it is already done
 * (nothing registered, @fn not called).
 */
int pl__ctx_watch(pl_ctx *c, struct pl__ctx_watch *w);

/* pl__ctx_unwatch - deregister @w from @c if still registered; see "Lifetime" above. */
void pl__ctx_unwatch(pl_ctx *c, struct pl__ctx_watch *w);

/*
 * pl__ctx_never_done - true when @c can never be done: NULL, background, a context made by
 * pl_ctx_without_cancel() and value contexts with no cancellable context above them. No need to
 * watch such a context or to bound a sleep by its deadline.
 */
int pl__ctx_never_done(const pl_ctx *c);

#endif /* PATLAB_CTX_WATCH_H */
