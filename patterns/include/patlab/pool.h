/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_POOL_H
#define PATLAB_POOL_H

/*
 * Worker pool: a fixed number of worker threads pulling jobs from one channel.
 *
 * Jobs are (fn, arg) pairs; fn runs on a worker with the pool's job context, which is
 * cancelled only when a shutdown's grace period runs out. Submission blocks (pl_pool_submit),
 * fails fast (pl_pool_try_submit) or is bounded by a context.
 *
 * Shutdown (pl_pool_shutdown): intake stops at once (submit returns -EPIPE, blocked submitters
 * too); every accepted job runs, unless @grace becomes done first: then the job context is
 * cancelled (running jobs see it) and every job never started is handed to @unstarted,
 * exactly once each. Every worker is joined before it returns. Several threads may call it;
 * each returns once the pool is fully stopped.
 *
 * Concurrency: submit, try_submit and shutdown may run from any number of threads at once.
 * pl_pool_free() must be the last call (it shuts down first if nobody did, with no grace limit).
 */

#include <stddef.h>

#include "ctx.h"
#include "thread.h"

typedef struct pl_pool pl_pool;

typedef void (*pl_job_fn)(pl_ctx *cx, void *arg);

/*
 * struct pl_pool_opts - pool shape.
 * @workers:     worker threads, >= 1.
 * @queue_depth: capacity of the job channel (0 = rendezvous, where the kind supports it).
 * @chan_kind:   channel kind by name (NULL = "mutex").
 * @threads:     how the workers are started (patlab/thread.h); NULL: pthread_create().
 */
typedef struct pl_pool_opts {
	unsigned workers;
	size_t queue_depth;
	const char *chan_kind;
	const struct pl_thread_start *threads;
} pl_pool_opts;

/* pl_pool_new - start the workers. NULL with errno EINVAL (bad options), ENOMEM or EAGAIN. */
pl_pool *pl_pool_new(const pl_pool_opts *o);

/*
 * pl_pool_submit - queue fn(arg), blocking while the queue is full.
 * Returns 0 (accepted: it will run, or be handed to the shutdown's unstarted callback), -EPIPE
 * once shutdown began, -EINVAL when @fn is NULL, or the error of @cx when it became done
 * while blocked (not accepted).
 */
int pl_pool_submit(pl_pool *p, pl_job_fn fn, void *arg, pl_ctx *cx);

/* pl_pool_try_submit - as pl_pool_submit() without blocking: 0, -EAGAIN (full), -EPIPE. */
int pl_pool_try_submit(pl_pool *p, pl_job_fn fn, void *arg);

/*
 * pl_pool_shutdown - stop intake, drain, join (see the top of this file).
 * @grace:     bounds the drain (NULL: wait for every job).
 * @unstarted: receives each job never started when @grace ran out (may be NULL: dropped).
 * @user:      passed to @unstarted.
 * Returns 0 when every accepted job ran, -ETIMEDOUT when grace ran out first: some accepted job
 * never started (it went to @unstarted). A job still running when grace ran out ran: it saw
 * its context cancelled, and the result is 0 if no job was left unstarted.
 */
int pl_pool_shutdown(pl_pool *p, pl_ctx *grace,
		     void (*unstarted)(pl_job_fn fn, void *arg, void *user), void *user);

/* pl_pool_free - shut down (no grace limit) if still running, then release. NULL: no-op. */
void pl_pool_free(pl_pool *p);

#endif /* PATLAB_POOL_H */
