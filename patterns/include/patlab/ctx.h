/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_CTX_H
#define PATLAB_CTX_H

/*
 * Contexts: Go's context package in C.
 *
 * A context is a node in a tree. It becomes "done" when it is cancelled, when any ancestor is
 * cancelled, or when its deadline (the earliest deadline among itself and its ancestors)
 * passes. Once done, its error never changes: -ECANCELED or -ETIMEDOUT.
 *
 * Ownership: every constructor returns a context holding one reference, owned by the caller.
 * A child holds a reference to its parent, so a parent lives as long as any child. Dropping
 * the last reference detaches the node from its parent (a long-lived parent does not grow)
 * and frees it; it does not cancel it. pl_ctx_background() is a static node that is never done;
 * retain/release on it are no-ops. A NULL context argument means "never cancelled, no deadline".
 *
 * Concurrency: every function may be called from any number of threads at once on the same
 * node, except that a reference must not be released while another thread still uses it.
 * Cancellation is synchronous: when pl_ctx_cancel() returns, the node and every descendant
 * report done, and every thread blocked on one of them (pl_ctx_wait(), a channel operation)
 * has been woken.
 *
 * Deadlines are not timers: no thread is started per context. A deadline is observed lazily
 * by pl_ctx_err() and by every blocked operation, which bounds its sleep by the deadline.
 * Blocked channel operations learn about cancellation through an internal watch list
 * (patterns/context/ctx_watch.h) that cancel walks under the node's lock.
 */

#include <stdint.h>

typedef struct pl_ctx pl_ctx;

/* pl_now_ns - CLOCK_MONOTONIC in nanoseconds; the clock of every time in patlab. */
int64_t pl_now_ns(void);

/* pl_ctx_background - the root: never done, no deadline. Never NULL. */
pl_ctx *pl_ctx_background(void);

/*
 * pl_ctx_with_cancel - a child of @parent (NULL means background) that can be cancelled.
 * Returns the child, born done when @parent is done (with the parent's error and cause), or
 * NULL with errno ENOMEM.
 */
pl_ctx *pl_ctx_with_cancel(pl_ctx *parent);

/*
 * pl_ctx_with_deadline - a cancellable child that is done with -ETIMEDOUT at @deadline_ns
 * (CLOCK_MONOTONIC, see pl_now_ns()). Its deadline is min(@deadline_ns, the parent's). A
 * deadline already past gives a child that is done at once. NULL with errno ENOMEM.
 */
pl_ctx *pl_ctx_with_deadline(pl_ctx *parent, int64_t deadline_ns);

/* pl_ctx_with_timeout - pl_ctx_with_deadline(parent, pl_now_ns() + timeout_ns), saturating. */
pl_ctx *pl_ctx_with_timeout(pl_ctx *parent, int64_t timeout_ns);

/* pl_ctx_cancel - cancel @c and every descendant with -ECANCELED. Idempotent; NULL is a no-op. */
void pl_ctx_cancel(pl_ctx *c);

/*
 * pl_ctx_cancel_cause - as pl_ctx_cancel(), recording @cause (any non-zero int of the
 * caller's; 0 means "no cause") as the cause that pl_ctx_cause() reports. Only the first
 * cancellation of a node counts; descendants inherit the same error and cause.
 */
void pl_ctx_cancel_cause(pl_ctx *c, int cause);

/* pl_ctx_err - 0 while live, then -ECANCELED or -ETIMEDOUT forever. NULL gives 0. */
int pl_ctx_err(const pl_ctx *c);

/* pl_ctx_cause - 0 while live; once done, the first non-zero cause given, else pl_ctx_err(). */
int pl_ctx_cause(const pl_ctx *c);

/* pl_ctx_deadline - the earliest deadline of @c and its ancestors; INT64_MAX when none. */
int64_t pl_ctx_deadline(const pl_ctx *c);

/*
 * pl_ctx_wait - block until @c is done or @timeout_ns has passed (< 0: no timeout).
 * Returns pl_ctx_err(@c) once done, 0 if the timeout came first. As with Go's
 * <-context.Background().Done(), a NULL or background context with a negative timeout blocks
 * forever.
 */
int pl_ctx_wait(pl_ctx *c, int64_t timeout_ns);

/* pl_ctx_retain - take one more reference; returns @c. */
pl_ctx *pl_ctx_retain(pl_ctx *c);

/* pl_ctx_release - drop a reference; the last one detaches and frees. Does not cancel. */
void pl_ctx_release(pl_ctx *c);

#endif /* PATLAB_CTX_H */
