/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_PIPELINE_H
#define PATLAB_PIPELINE_H

/*
 * Pipeline: items flow source -> stage 0 -> stage 1 -> ... -> stage n-1 -> sink.
 *
 * Each stage is a named function run by its own number of worker threads. Stages are joined
 * by channels ("links") of a chosen kind and depth: link 0 runs from the source (the threads
 * calling pl_pipeline_send()) to stage 0, link i from stage i-1 to stage i, and the output
 * link from the last stage to the sink (the threads calling pl_pipeline_recv()). Every link
 * is bounded unless its kind is asked for PL_CHAN_UNBOUNDED, so a slow stage back-pressures
 * every stage before it, up to the source.
 *
 * Modes.
 * - Unordered: an item leaves as soon as the last stage is done with it. Stages with several
 *   workers reorder items freely. Links carry the items themselves; no per-item overhead.
 * - Ordered (pl_pipeline_opts.ordered): the sink receives items in the order pl_pipeline_send()
 *   accepted them (across all source threads: the order of their sequence numbers). The last
 *   stage puts each finished item into a reorder buffer keyed by sequence number, and the sink
 *   takes them in sequence. The buffer is a window of `window` slots and a source may only
 *   admit item s once item s - window has been received: so memory is bounded, and a slow item
 *   holds back (back-pressures) admission instead of letting the buffer grow. That is
 *   head-of-line blocking, the price of order.
 *
 * Lifecycle: pl_pipeline_new() -> pl_pipeline_add_stage() (once per stage, in order) ->
 * pl_pipeline_start() -> any number of pl_pipeline_send() / pl_pipeline_recv() from any
 * threads -> pl_pipeline_close() (no more input: the pipeline drains in order, then the sink
 * sees -EPIPE) and/or pl_pipeline_cancel() -> pl_pipeline_wait() -> pl_pipeline_free().
 *
 * Closing. After pl_pipeline_close(), each stage finishes what it was given, and once the
 * last worker of stage i has returned, stage i closes its output link: every link is closed
 * exactly once, after all its senders are done, so the close travels down the pipeline behind
 * the last item. The sink receives every accepted item, then -EPIPE.
 *
 * Cancellation and errors (errgroup-style). The pipeline runs under its own context, a child
 * of the one given to pl_pipeline_start(). Every channel operation of every stage takes that
 * context, so a cancellation reaches a stage blocked on a send to a full link as well as one
 * waiting for input; workers also check it once per item. A stage function that returns
 * non-zero cancels the pipeline's context (with that value as its cause); the first such error
 * (one returned while the pipeline was still live) is what pl_pipeline_wait() returns, with the
 * stage's name. Once every worker of stage 0 has returned, link 0 is closed so that blocked
 * sources wake up; once every worker of the last stage has returned, the output is closed so
 * that blocked sinks wake up.
 *
 * Ownership of items. An item is any pointer (NULL included). pl_pipeline_send() returning 0
 * passes it to the pipeline; a stage function receives it and returns the item that travels
 * on (the same pointer or a new one: then the stage disposed of the old one);
 * pl_pipeline_recv() returning 0 passes it to the caller. Every accepted item ends exactly
 * once: received by the sink, or handed to pl_pipeline_opts.discard (items a cancellation
 * stranded inside, the input of a stage function that failed, and items the sink never
 * received, at the latest by pl_pipeline_free()).
 *
 * Concurrency: send, recv, close, cancel, wait and the stats calls may run from any number of
 * threads at once, once pl_pipeline_start() returned 0 (new, add_stage and start are not
 * thread-safe). pl_pipeline_free() must be the last call. Stage functions run concurrently
 * with each other (stage i on its workers' threads, in parallel when it has several).
 *
 * Memory: what a stage function wrote before returning is visible to the next stage and to the
 * sink that receives the item (the links' guarantee: a send happens before the receive).
 *
 * Errors are negative errno values; pl_pipeline_new() returns NULL and sets errno.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "ctx.h"
#include "thread.h"

typedef struct pl_pipeline pl_pipeline;

/*
 * pl_stage_fn - one stage's work on one item.
 * @cx:   the pipeline's context (borrowed for the call): cancelled when the pipeline is
 *        cancelled or another stage failed. Long work should watch it (pl_ctx_err()).
 * @in:   the item; the function owns it during the call.
 * @out:  where to put the item that travels on; preset to @in (a stage that transforms in
 *        place need not touch it).
 * @user: the stage's pl_stage.user.
 *
 * Returns 0 (the item in *@out goes on), or non-zero (by convention a negative errno): the
 * pipeline fails with it, *@out is ignored, and @in goes to the discard callback (so on
 * failure the function must not have disposed of @in).
 */
typedef int (*pl_stage_fn)(pl_ctx *cx, void *in, void **out, void *user);

/* A depth that means "the pipeline's default depth" in struct pl_stage and pl_pipeline_opts. */
#define PL_PIPELINE_DEPTH_DEFAULT (SIZE_MAX - 1)

/* The most stages of a pipeline, and the most workers of one stage. */
#define PL_PIPELINE_MAX_STAGES	1024u
#define PL_PIPELINE_MAX_WORKERS 1024u

/*
 * struct pl_pipeline_opts - how the pipeline is built. Start from pl_pipeline_opts_default().
 * @chan_kind:      kind of every link unless overridden (NULL: "mutex").
 * @depth:          capacity of every link unless overridden: 0 (rendezvous, kinds that allow
 *                  it), n, or PL_CHAN_UNBOUNDED (kinds that allow it).
 * @out_kind:       kind of the output link (last stage -> sink); NULL: @chan_kind. Unused
 *                  when @ordered (the reorder buffer replaces that link).
 * @out_depth:      its capacity; PL_PIPELINE_DEPTH_DEFAULT: @depth.
 * @spin_ns:        spin budget of every link and of the reorder buffer's waits before
 *                  parking (pl_chan_opts.spin_ns), >= 0.
 * @ordered:        deliver in acceptance order (see the top of the file).
 * @window:         ordered only: reorder window in items (memory: one 64-byte slot each);
 *                  0: the default, the capacity of links 0..n-1 (an unbounded link counts
 *                  1024) plus twice the number of workers, so the window binds only once
 *                  completed items wait behind a slow one.
 * @source_threads: how many threads call pl_pipeline_send(); 0: any number. Only used to
 *                  allow a single-producer/single-consumer kind on link 0.
 * @sink_threads:   how many threads call pl_pipeline_recv(); 0: any number. Only used to
 *                  allow such a kind on the output link.
 * @stats:          time every stage (three clock reads per item and stage) for
 *                  pl_pipeline_stage_stats(); item counts are kept either way.
 * @discard:        receives, exactly once each, every accepted item that will never reach
 *                  the sink (see "Ownership" above); called from a worker thread (several may
 *                  call it at once) or from pl_pipeline_free(). NULL: such items are dropped.
 * @discard_user:   passed to @discard.
 * @threads:        how the stages' workers are started (patlab/thread.h); NULL:
 *                  pthread_create().
 */
struct pl_pipeline_opts {
	const char *chan_kind;
	size_t depth;
	const char *out_kind;
	size_t out_depth;
	int64_t spin_ns;
	bool ordered;
	size_t window;
	unsigned source_threads;
	unsigned sink_threads;
	bool stats;
	void (*discard)(void *item, void *user);
	void *discard_user;
	const struct pl_thread_start *threads;
};

/*
 * struct pl_stage - one stage, for pl_pipeline_add_stage_opts().
 * @name:     non-empty; copied. Reported with the stage's error and in thread names.
 * @fn:       the work (see pl_stage_fn).
 * @user:     passed to @fn.
 * @workers:  threads running @fn, 1 .. PL_PIPELINE_MAX_WORKERS.
 * @in_kind:  kind of the link into this stage; NULL: the pipeline's @chan_kind.
 * @in_depth: its capacity; PL_PIPELINE_DEPTH_DEFAULT: the pipeline's @depth.
 */
struct pl_stage {
	const char *name;
	pl_stage_fn fn;
	void *user;
	unsigned workers;
	const char *in_kind;
	size_t in_depth;
};

/*
 * struct pl_pipeline_stage_stats - what one stage did, summed over its workers. The times are
 * 0 unless pl_pipeline_opts.stats; together they are the workers' wall time in the loop.
 * @name:         the stage's name (valid until pl_pipeline_free()).
 * @workers:      its worker count.
 * @items:        items its function returned 0 for.
 * @busy_ns:      time inside the function.
 * @recv_wait_ns: time waiting for input (the stage is starved: upstream is slower).
 * @send_wait_ns: time waiting for room in the next link (back-pressured: downstream is
 *                slower). The last stage of an ordered pipeline never waits there.
 */
struct pl_pipeline_stage_stats {
	const char *name;
	unsigned workers;
	uint64_t items;
	int64_t busy_ns;
	int64_t recv_wait_ns;
	int64_t send_wait_ns;
};

/*
 * struct pl_pipeline_stats - the pipeline as a whole.
 * @stages:       stages added.
 * @window:       ordered: the reorder window in use (after start); 0 when unordered.
 * @window_waits: ordered: sends that found the window full and had to wait (head-of-line
 *                blocking reached the source).
 * @discarded:    items handed to the discard callback so far.
 */
struct pl_pipeline_stats {
	unsigned stages;
	size_t window;
	uint64_t window_waits;
	uint64_t discarded;
};

/* pl_pipeline_opts_default - mutex links of depth 64, the channels' default spin, unordered. */
struct pl_pipeline_opts pl_pipeline_opts_default(void);

/*
 * pl_pipeline_new - an empty pipeline (no stage, not started).
 * @o: options (NULL: pl_pipeline_opts_default()); copied.
 * Returns the pipeline, or NULL with errno EINVAL (unknown kind, a depth the kind refuses,
 * negative spin) or ENOMEM.
 */
pl_pipeline *pl_pipeline_new(const struct pl_pipeline_opts *o);

/*
 * pl_pipeline_add_stage - append a stage fed by a link of the pipeline's kind and depth.
 * Same as pl_pipeline_add_stage_opts() with those fields.
 */
int pl_pipeline_add_stage(pl_pipeline *pl, const char *name, pl_stage_fn fn, void *user,
			  unsigned workers);

/*
 * pl_pipeline_add_stage_opts - append stage @s (copied) after the last one.
 * Returns 0, -EINVAL (NULL or empty name, NULL fn, workers out of range, unknown kind or a
 * depth the kind refuses, PL_PIPELINE_MAX_STAGES reached), -EBUSY (already started) or
 * -ENOMEM. Whether a single-producer/single-consumer kind fits a link is checked by
 * pl_pipeline_start(), once both ends are known.
 */
int pl_pipeline_add_stage_opts(pl_pipeline *pl, const struct pl_stage *s);

/*
 * pl_pipeline_start - create the links and start every worker.
 * @parent: the pipeline's context is a child of it (NULL: background); its cancellation or
 *          deadline stops the pipeline.
 * Returns 0, -EINVAL (no stage; a single-producer/single-consumer kind on a link that has
 * more than one sending or receiving thread, or whose source or sink thread count is not
 * given as 1), -EBUSY (already started, or a failed start: then only pl_pipeline_free() may
 * follow), -ENOSYS (a kind not built in), -ENOMEM or -EAGAIN (threads). On error nothing runs.
 */
int pl_pipeline_start(pl_pipeline *pl, pl_ctx *parent);

/*
 * pl_pipeline_send - feed @item to stage 0, blocking while link 0 is full (ordered: also while
 * the reorder window is full). Woken by stage 0 taking an item (by the sink, for the window),
 * by pl_pipeline_close(), by the pipeline stopping, or by @cx.
 * Returns 0 (accepted: see "Ownership"), -EPIPE (input closed; not accepted), the pipeline's
 * context error (-ECANCELED, -ETIMEDOUT) once it is cancelled or failed (not accepted), @cx's
 * error when it became done while blocked (not accepted), -EINVAL when not started.
 */
int pl_pipeline_send(pl_pipeline *pl, void *item, pl_ctx *cx);

/*
 * pl_pipeline_recv - take the next finished item into *@item (ordered: the next in sequence),
 * blocking until one is ready. Woken by the last stage finishing an item, by the pipeline
 * stopping (its output is closed once the last stage's workers have returned), or by @cx.
 * Returns 0, -EPIPE at the end of the stream (the input was closed and every accepted item
 * was received), the pipeline's context error (-ECANCELED, -ETIMEDOUT) once it is cancelled or
 * failed (pl_pipeline_wait() tells which stage; items not received then go to discard), @cx's
 * error when it became done while blocked (nothing taken), -EINVAL when not started.
 */
int pl_pipeline_recv(pl_pipeline *pl, void **item, pl_ctx *cx);

/*
 * pl_pipeline_close - no more input: sends fail with -EPIPE (blocked ones too), and the
 * pipeline drains in order (see "Closing"). Never blocks.
 * Returns 0, -EPIPE when already closed by a previous call, -EINVAL when not started.
 */
int pl_pipeline_close(pl_pipeline *pl);

/*
 * pl_pipeline_cancel - cancel the pipeline's context: every stage stops promptly, blocked or
 * not, and stranded items go to discard. Idempotent; before start, or NULL: no-op.
 * pl_pipeline_wait() then returns -ECANCELED (unless a stage had failed first, or every stage
 * had already finished).
 */
void pl_pipeline_cancel(pl_pipeline *pl);

/*
 * pl_pipeline_wait - block until every worker of every stage has returned, then join them.
 * Woken by the last worker to return, or by @cx. Workers return once the input was closed and
 * everything passed on to the output (a sink that stops receiving blocks the last stage, and
 * so wait, until a cancellation), or once the pipeline was cancelled or failed.
 * @cx:    bounds the wait (NULL: none); when it ends first nothing changes.
 * @stage: if not NULL, receives the failed stage's name (valid until pl_pipeline_free()), or
 *         NULL when no stage failed.
 * Returns 0 (every stage finished its input), the first stage error (non-zero, what the stage
 * function returned), the pipeline's context error (-ECANCELED or -ETIMEDOUT: cancelled from
 * outside, by pl_pipeline_cancel() or the parent context), @cx's error (the wait gave up;
 * the pipeline still runs), or -EINVAL when not started.
 */
int pl_pipeline_wait(pl_pipeline *pl, pl_ctx *cx, const char **stage);

/*
 * pl_pipeline_stage_stats - figures of stage @i into *@out (a snapshot while running).
 * Returns 0, or -EINVAL when @i is out of range.
 */
int pl_pipeline_stage_stats(const pl_pipeline *pl, unsigned i, struct pl_pipeline_stage_stats *out);

/* pl_pipeline_stats - figures of the whole pipeline into *@out (a snapshot while running). */
void pl_pipeline_stats(const pl_pipeline *pl, struct pl_pipeline_stats *out);

/*
 * pl_pipeline_free - release @pl (NULL: no-op). A pipeline still running is cancelled and
 * waited for first; then every accepted item not yet received goes to discard. Must be the
 * last call: no thread may use @pl any more.
 */
void pl_pipeline_free(pl_pipeline *pl);

#endif /* PATLAB_PIPELINE_H */
