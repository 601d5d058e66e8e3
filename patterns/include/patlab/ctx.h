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
 * (patterns/context/ctx_watch.h) that cancel walks under the node's lock. The exception is an
 * after-function (pl_ctx_after_func()) on a context with a deadline: its registration puts the
 * deadline in the process's one timer queue (the thread patlab/timer.h's timers use).
 *
 * Kinds of node. Cancellable contexts (with_cancel, with_deadline, with_timeout and their
 * _cause forms) have a state of their own. A value context (pl_ctx_with_value()) carries one
 * key and its value and is done exactly when its parent is (same err, cause, deadline); a
 * context from pl_ctx_without_cancel() keeps its parent's values and is never done. Neither
 * can be cancelled: pl_ctx_cancel() on them does nothing, as Go gives them no cancel function.
 * Values are looked up through every kind of ancestor; the nearest one with the key wins.
 * Every kind follows the same reference rules: each holds a reference on the context it was
 * made from, released when its own last reference goes.
 *
 * Causes: with_deadline_cause()/with_timeout_cause() name the cause pl_ctx_cause() reports
 * when the deadline is what made the context done. An explicit cancel reports its own cause
 * (pl_ctx_cancel(): -ECANCELED), a parent's cancel or deadline the parent's cause. A child
 * whose parent's deadline comes first inherits that deadline and the parent's deadline cause.
 */

#include <stdbool.h>
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

/*
 * pl_ctx_cancel - cancel @c and every descendant with -ECANCELED. Idempotent; NULL is a no-op,
 * and so is a context that cannot be cancelled (background, value, without_cancel).
 */
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

/*
 * pl_ctx_with_deadline_cause - pl_ctx_with_deadline() whose deadline, when it is what makes the
 * child done, reports @cause from pl_ctx_cause() (0: -ETIMEDOUT, as without a cause); err is
 * -ETIMEDOUT either way. When @parent's deadline is earlier than @deadline_ns the child has the
 * parent's deadline and, when that passes, the parent's cause (Go's rule). An explicit cancel
 * of the child reports its own cause. NULL with errno ENOMEM.
 */
pl_ctx *pl_ctx_with_deadline_cause(pl_ctx *parent, int64_t deadline_ns, int cause);

/* pl_ctx_with_timeout_cause - pl_ctx_with_deadline_cause(parent, now + timeout_ns, cause). */
pl_ctx *pl_ctx_with_timeout_cause(pl_ctx *parent, int64_t timeout_ns, int cause);

/*
 * pl_ctx_with_value - a child of @parent (NULL: background) carrying @value for @key.
 * @key:   compared by identity (the pointer, never what it points to); not NULL. Use the
 *         address of an object of your own (e.g. a static char) so no two packages collide.
 * @value: any pointer, NULL included; the context does not own it.
 * The child is done exactly when @parent is (its err, cause and deadline are the parent's)
 * and cannot be cancelled itself. Returns the child (one reference, the caller's), or NULL with
 * errno EINVAL (@key NULL) or ENOMEM.
 */
pl_ctx *pl_ctx_with_value(pl_ctx *parent, const void *key, void *value);

/*
 * pl_ctx_value - the value the nearest context carrying @key holds, looking from @c up through
 * every ancestor (cancellable, value and without_cancel contexts alike); NULL when none does
 * (indistinguishable from a NULL value, as in Go). @c NULL gives NULL. Lock-free.
 */
void *pl_ctx_value(const pl_ctx *c, const void *key);

/*
 * pl_ctx_without_cancel - a child of @parent (NULL: background) that keeps @parent's values
 * but is never done and has no deadline, whatever happens to @parent (Go 1.21's
 * WithoutCancel). Its own children are cancellable as usual. It holds a reference on @parent
 * (for its values) until released. NULL with errno ENOMEM.
 */
pl_ctx *pl_ctx_without_cancel(pl_ctx *parent);

/* An after-function registration (Go's context.AfterFunc); see pl_ctx_after_func(). */
typedef struct pl_ctx_after pl_ctx_after;

/*
 * pl_ctx_after_func - arrange for @fn(@arg) to run once, on a thread of its own, when @cx is
 * done (cancelled, an ancestor cancelled, or its deadline passed); at once (soon, still on its
 * own thread) when @cx is already done. @cx NULL, background or never done: @fn never runs.
 * Cancellation does not wait for @fn: pl_ctx_cancel() returns with the run decided, and @fn
 * starts shortly after on a new detached thread (every signal blocked in it). When no thread
 * can be started at that moment, it is tried again every millisecond: @fn runs late, never
 * twice, never not at all.
 *
 * Ownership: returns a handle owned by the caller, to be given to pl_ctx_after_free() exactly
 * once. The registration itself lives on its own until @fn has returned or a stop prevented
 * it, and holds a reference on @cx until then: an armed after-function keeps @cx alive, so
 * stop it when you no longer need it (as in Go, a registration on a context never cancelled
 * stays armed). What @arg points to must stay valid until @fn has run or a stop returned true.
 *
 * Returns the handle, or NULL with errno EINVAL (@fn NULL), ENOMEM or EAGAIN (the timer thread
 * could not be started); then @fn is never called.
 */
pl_ctx_after *pl_ctx_after_func(pl_ctx *cx, void (*fn)(void *arg), void *arg);

/*
 * pl_ctx_after_stop - stop @a from running its function (Go's stop()).
 * Returns true when this call prevented the run: @fn has not run and never will. Returns false
 * when the run was already decided (the context is done: @fn has run, is running or is about
 * to start, and stop does not wait for it) or a stop already succeeded. Any number of threads
 * may call it at once, and @fn itself may call it. NULL gives false.
 */
bool pl_ctx_after_stop(pl_ctx_after *a);

/*
 * pl_ctx_after_free - give up the handle. Does not stop the registration (call
 * pl_ctx_after_stop() first for that), as pl_ctx_release() does not cancel: a registration
 * freed while armed still runs @fn when its context is done, then frees itself. The handle must
 * not be used afterwards, by any thread. NULL is a no-op.
 */
void pl_ctx_after_free(pl_ctx_after *a);

#endif /* PATLAB_CTX_H */
