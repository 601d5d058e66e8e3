/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_FANOUT_H
#define PATLAB_FANOUT_H

/*
 * Fan-out / fan-in: scatter one request to N backends and gather; an errgroup; a merge of N
 * channels into one.
 *
 * 1. Scatter/gather (pl_fanout_call). One request goes to up to @n backends, each a function
 *    called with a context that is cancelled as soon as its answer is no longer needed:
 *    - PL_GATHER_ALL:     send to all n, gather all n answers; the first error fails the
 *                         request and cancels the rest (an "every shard" query).
 *    - PL_GATHER_FIRST_K: send to all n, gather the first k answers and cancel the rest; fail
 *                         as soon as fewer than k can still answer (quorum reads, k = 1:
 *                         "tied" requests to every replica).
 *    - PL_GATHER_HEDGED:  send to backend 0; each time hedge_delay_ns passes without an answer,
 *                         send to the next backend (a "hedge"); take the first answer and cancel
 *                         the others. A backend that fails sends the next one at once.
 *    Backends run on a worker pool (pl_fanout_opts.pool) or on a thread of their own each.
 *    A pool reuses threads (no pthread_create per call, bounded concurrency) but a backend call
 *    can then wait in the pool's queue, and a fan-out issued from a job of the same pool can
 *    deadlock once every worker is such a caller (give backends their own pool). A thread per
 *    call costs a pthread_create (tens of microseconds) and is unbounded, but can never queue
 *    behind another request. Hedges on a pool are sent with try-submit: a saturated pool gets no
 *    extra load from hedging (the hedge is retried one delay later).
 *
 *    Structured by default: pl_fanout_call() returns once every backend it started has
 *    returned (losers are cancelled first, so a backend that honours its context returns
 *    promptly), so backend arguments may live on the caller's stack and every answer lands in
 *    the caller's replies. With pl_fanout_opts.detach, it returns as soon as the gather is
 *    decided; backends still running then report later to pl_fanout_opts.late, exactly once
 *    each, from their own thread (that is where their arguments and late answers are freed).
 *
 * 2. Errgroup (pl_group_*): Go's golang.org/x/sync/errgroup. pl_group_go() runs fn(ctx, arg)
 *    on a new thread with the group's own context (a child of the parent); the first non-zero
 *    return cancels that context (with the error as its cause) and is what pl_group_wait()
 *    returns. pl_group_set_limit() bounds how many run at once: pl_group_go() then blocks at
 *    the limit (cancellably: it gives up when the group's context is done) and
 *    pl_group_try_go() fails with -EAGAIN instead.
 *
 * 3. Merge (pl_merge_*): one forwarding thread per input channel (any kinds) into one output
 *    channel of a kind chosen by name. The output is closed exactly once, by the merge, after
 *    every forwarder stopped: after every input was closed and drained (every message
 *    forwarded, each input's order kept), or after the context was cancelled (each message
 *    taken from an input but not delivered then goes to pl_merge_opts.undelivered).
 *
 * Ownership: a fan-out's backend arguments and answers are the caller's (see detach above);
 * a group's and a merge's context is owned by them and borrowed by callers until *_free();
 * merge inputs stay the caller's (never closed nor freed by the merge), its output is the
 * merge's (freed by pl_merge_free()).
 *
 * Concurrency: pl_fanout_call() is reentrant (any number of concurrent calls, a backend may
 * itself fan out). A group's go/try_go/wait/ctx may be called from any thread, goroutines
 * included; set_limit before any go; free last. A merge's output may have any number of
 * receivers (the output kind permitting); pl_merge_wait() from any thread; free last.
 *
 * Memory: what a backend wrote before returning is visible to the caller once
 * pl_fanout_call() returned (for backends it waited for) or to @late (for the others); what a
 * goroutine wrote is visible once pl_group_wait() returned (it joins the thread); a merged
 * message carries the channels' guarantee (a send happens before the receive that returns it).
 *
 * Errors are negative errno values; constructors return NULL and set errno.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "ctx.h"
#include "pool.h"
#include "thread.h"

/* ------------------------------------------------------------------ scatter / gather */

/*
 * pl_backend_fn - one backend call. @cx is cancelled (and any deadline of the caller's context
 * applies) once this answer is no longer needed: a backend should watch it (pl_ctx_err(),
 * pl_ctx_wait(), or pass it to blocking channel operations) and then return early, e.g. with
 * pl_ctx_err(@cx). Returns 0 with an answer in *@value (any pointer, NULL included; ownership
 * passes to the caller, or to pl_fanout_opts.late for an answer that came too late when
 * detached), or a negative errno. @cx is borrowed for the duration of the call only.
 */
typedef int (*pl_backend_fn)(pl_ctx *cx, void *arg, void **value);

/* struct pl_backend - one backend: @fn(cx, @arg, &value). */
struct pl_backend {
	pl_backend_fn fn;
	void *arg;
};

enum pl_gather {
	PL_GATHER_ALL = 0,
	PL_GATHER_FIRST_K = 1,
	PL_GATHER_HEDGED = 2,
};

/*
 * struct pl_fanout_opts - how to scatter and gather. A zeroed struct is valid: wait-all, a
 * thread per backend, structured (not detached).
 * @mode:           enum pl_gather.
 * @k:              PL_GATHER_FIRST_K: answers to gather, 1..n. Ignored by the other modes.
 * @hedge_delay_ns: PL_GATHER_HEDGED: time without an answer before the next backend is sent;
 *                  >= 0 (0 sends them all at once). Ignored by the other modes.
 * @pool:           run backends as jobs of this pool (borrowed; it must outlive the call and,
 *                  when detached, every late report), or NULL: one detached thread per backend.
 * @detach:         return as soon as the gather is decided (see the top of the file).
 * @late:           detach only (required then): called once, from the backend's thread, for
 *                  each backend whose reply said PL_FANOUT_RUNNING, with its return value and
 *                  answer, after it returned. Must not block for long (it holds a pool worker).
 * @late_user:      passed to @late.
 * @threads:        without @pool: how each backend's thread is started (patlab/thread.h);
 *                  NULL: pthread_create().
 */
struct pl_fanout_opts {
	enum pl_gather mode;
	unsigned k;
	int64_t hedge_delay_ns;
	pl_pool *pool;
	bool detach;
	void (*late)(void *arg, int status, void *value, void *user);
	void *late_user;
	const struct pl_thread_start *threads;
};

/* Reply status of a backend that was never sent (a hedge that was not needed). */
#define PL_FANOUT_UNSENT 1
/* Reply status of a backend still running when a detached call returned (see @late). */
#define PL_FANOUT_RUNNING 2

/*
 * struct pl_fanout_reply - what became of one backend.
 * @status:     0 (it answered: @value is valid and the caller's), the backend's negative
 *              return, -ECANCELED when it was sent but cancelled before it could start (it never
 *              ran), -EAGAIN (no thread could be created) or -EPIPE (the pool was shut down)
 *              when it could not be sent, PL_FANOUT_UNSENT, or PL_FANOUT_RUNNING (detached).
 * @gathered:   its answer is one of the gathered ones (the first k to arrive).
 * @ran:        its function was called.
 * @cancelled:  its context was cancelled while it was still running (its answer was no longer
 *              needed, or the caller's context ended).
 * @value:      its answer when @status is 0, else NULL.
 * @latency_ns: send to return (queueing included); 0 unless it returned before the reply.
 */
struct pl_fanout_reply {
	int status;
	bool gathered;
	bool ran;
	bool cancelled;
	void *value;
	int64_t latency_ns;
};

/*
 * struct pl_fanout_stats - what one call cost.
 * @sent:        backends sent (handed to the pool or to a thread).
 * @hedges:      PL_GATHER_HEDGED: backends sent after the first one (by delay or failover).
 * @cancelled:   backends sent whose context was cancelled while they were queued or running:
 *               the losers once the gather was decided, and every backend in flight when
 *               the caller's context ended.
 * @gathered_ns: pl_now_ns() when the gather was decided (the answer, or the failure, was
 *               known): request latency stops here; the structured call returns a little later,
 *               once the cancelled losers returned.
 */
struct pl_fanout_stats {
	unsigned sent;
	unsigned hedges;
	unsigned cancelled;
	int64_t gathered_ns;
};

/*
 * pl_fanout_call - scatter one request to @n backends and gather (see the top of the file).
 * @cx:       the request's context (NULL: none). Its cancellation or deadline cancels every
 *            backend and ends the call; backends see a context derived from it.
 * @backends: @n backends; the array is read during the call only.
 * @n:        1 .. PL_FANOUT_MAX.
 * @o:        how (NULL: a zeroed struct, i.e. wait-all on threads).
 * @replies:  @n replies, filled before return (whatever the result), or NULL.
 * @st:       filled before return, or NULL.
 *
 * Blocks until the gather is decided and (unless detached) every started backend returned.
 * Woken by each backend's return, by the hedge timer, by @cx's cancellation or deadline.
 *
 * Returns 0 once gathered: all n answers (ALL), k (FIRST_K) or one (HEDGED). Otherwise:
 * the error of the first backend whose failure made the gather impossible (its own return,
 * or -EAGAIN / -EPIPE when it could not be sent), @cx's error (-ECANCELED, -ETIMEDOUT) when
 * it ended first, -EINVAL for bad arguments (@n out of range, a NULL @fn, @k out of range,
 * a negative delay, an unknown mode, detach without @late; then nothing is called), or
 * -ENOMEM (nothing called). Answers gathered before a failure are still in @replies.
 */
int pl_fanout_call(pl_ctx *cx, const struct pl_backend *backends, unsigned n,
		   const struct pl_fanout_opts *o, struct pl_fanout_reply *replies,
		   struct pl_fanout_stats *st);

/* The most backends one call may address. */
#define PL_FANOUT_MAX 4096u

/*
 * pl_fanout_unstarted - for the unstarted callback of a pool that runs backends: a pool whose
 * shutdown grace runs out hands back the jobs it never started, and a fan-out waiting for one
 * of them would wait until its own context ended. Pass each handed-back job here: when it is
 * a fan-out backend, it is finished at once as failed with -EPIPE (never called; its call is
 * woken; no @late report, as it never ran) and true is returned; false: not ours, untouched. Call
 * it exactly once per handed-back job of ours.
 */
bool pl_fanout_unstarted(pl_job_fn fn, void *arg);

/* ------------------------------------------------------------------ errgroup */

typedef struct pl_group pl_group;

/* pl_group_fn - a goroutine of a group: 0 for success, else a negative errno. */
typedef int (*pl_group_fn)(pl_ctx *cx, void *arg);

/* No concurrency limit (the default). */
#define PL_GROUP_NO_LIMIT (-1)

/*
 * pl_group_new - a group with its own context, a cancellable child of @parent (NULL:
 * background). Returns the group, or NULL with errno ENOMEM.
 */
pl_group *pl_group_new(pl_ctx *parent);

/*
 * pl_group_ctx - the group's context (borrowed: valid until pl_group_free()). Done once a
 * goroutine failed (cause: its error), when @parent is done, or once pl_group_wait() returned.
 */
pl_ctx *pl_group_ctx(pl_group *g);

/*
 * pl_group_set_limit - at most @limit goroutines at once (>= 1), or PL_GROUP_NO_LIMIT.
 * Returns 0, -EINVAL for any other value, -EBUSY while goroutines are running (as Go, which
 * panics there, the limit is set before the first pl_group_go()).
 */
int pl_group_set_limit(pl_group *g, int limit);

/*
 * pl_group_set_thread_start - start the group's threads through @how (patlab/thread.h; it
 * must outlive the group; NULL: pthread_create(), the default). Returns 0, or -EBUSY while
 * goroutines are running (set it before the first pl_group_go(), as the limit).
 */
int pl_group_set_thread_start(pl_group *g, const struct pl_thread_start *how);

/*
 * pl_group_go - run @fn(pl_group_ctx(@g), @arg) on a new thread. Blocks while the limit is
 * reached; woken when a goroutine returns or when the group's context is done.
 * Returns 0 (it runs; its result counts), or, with @fn never called: the group context's
 * error once it is done (-ECANCELED, -ETIMEDOUT: a goroutine failed, the parent ended, or
 * the group was waited for), -EINVAL (@fn NULL), -ENOMEM, -EAGAIN (no thread could be
 * created). Any thread may call it, goroutines of @g included (at the limit, a goroutine that
 * waits for a slot only it could free deadlocks until the context is cancelled).
 */
int pl_group_go(pl_group *g, pl_group_fn fn, void *arg);

/* pl_group_try_go - as pl_group_go(), but -EAGAIN at once when the limit is reached. */
int pl_group_try_go(pl_group *g, pl_group_fn fn, void *arg);

/*
 * pl_group_wait - wait until every goroutine returned and join their threads, then cancel the
 * group's context. Woken by each goroutine's return. Returns 0, or the first non-zero value a
 * goroutine returned (the one that cancelled the group). Several threads may wait. A goroutine
 * started concurrently with the last one's return may not be waited for (as with Go's
 * WaitGroup); pl_group_free() still waits for it. Not from a goroutine of @g (it would wait
 * for itself: aborts). Like Go's Wait it takes no context: it lasts as long as the slowest
 * goroutine; to bound it, cancel pl_group_ctx(@g) (goroutines must watch their context).
 */
int pl_group_wait(pl_group *g);

/* pl_group_free - wait (as pl_group_wait()), then release everything. NULL: no-op. */
void pl_group_free(pl_group *g);

/* ------------------------------------------------------------------ merge */

typedef struct pl_merge pl_merge;

/*
 * struct pl_merge_opts - the output and what happens to messages caught by a cancel.
 * @out_kind:     output channel kind (NULL: "mutex"). A single-producer kind is refused when
 *                there is more than one input (each input has its own forwarding thread).
 * @out_capacity: output capacity (0: rendezvous, where the kind supports it).
 * @undelivered:  called (from the forwarder's thread) with each message taken from input
 *                @input but not delivered because the context was done (at most one per
 *                input), so its owner can free it; NULL: such messages are dropped.
 * @user:         passed to @undelivered.
 * @threads:      how the forwarding threads are started (patlab/thread.h); NULL:
 *                pthread_create().
 */
struct pl_merge_opts {
	const char *out_kind;
	size_t out_capacity;
	void (*undelivered)(void *msg, unsigned input, void *user);
	void *user;
	const struct pl_thread_start *threads;
};

/*
 * struct pl_merge_stats - totals once a merge stopped.
 * @forwarded:   messages delivered to the output.
 * @undelivered: messages taken from an input and not delivered (cancelled).
 */
struct pl_merge_stats {
	uint64_t forwarded;
	uint64_t undelivered;
};

/*
 * pl_merge_new - merge @n input channels (any kinds, borrowed: they must outlive the merge
 * and the merge must be their only receiver) into a new output channel, one forwarding
 * thread per input.
 * @cx: cancels the merge (NULL: only input closes end it); the merge watches a child of it.
 * Returns the merge, or NULL with errno EINVAL (@n is 0, an input is NULL, bad output kind
 * or capacity), ENOMEM or EAGAIN (threads); nothing is left running then.
 */
pl_merge *pl_merge_new(pl_ctx *cx, pl_chan *const *in, unsigned n, const struct pl_merge_opts *o);

/*
 * pl_merge_out - the output channel: receive until -EPIPE. Borrowed until pl_merge_free().
 * Do not close it: the merge does, once.
 */
pl_chan *pl_merge_out(pl_merge *m);

/*
 * pl_merge_wait - wait until every forwarder stopped (the output is then closed) and join
 * them. Woken by the last forwarder. Note that a forwarder blocked on a full output waits for
 * a receiver: wait from a thread other than the output's only receiver, or cancel first
 * (pl_merge_cancel() bounds it: every forwarder then returns promptly).
 * @st: totals, or NULL.
 * Returns 0 when every input was closed and drained into the output, the context's error
 * when it ended the merge first, or -EPIPE when someone else closed the output (messages then
 * went to @undelivered).
 */
int pl_merge_wait(pl_merge *m, struct pl_merge_stats *st);

/*
 * pl_merge_cancel - stop the merge as a cancel of its context would (the inputs are left as
 * they are). Idempotent.
 */
void pl_merge_cancel(pl_merge *m);

/*
 * pl_merge_free - cancel (if still running), wait, free the output and everything else.
 * Buffered output messages are not touched (drain first if they own memory). NULL: no-op.
 */
void pl_merge_free(pl_merge *m);

#endif /* PATLAB_FANOUT_H */
