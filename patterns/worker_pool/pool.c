/* SPDX-License-Identifier: MIT */
/*
 * Worker pool: N threads receiving jobs from one channel of any multi-producer/multi-consumer
 * kind (see pool.h for the contract). Kinds flagged spsc are refused with EINVAL: a pool has
 * several submitters, and usually several workers, on its channel.
 *
 * Jobs. A job is a (fn, arg) record; the channel carries a pointer to it. Records come from a
 * per-pool free stack, not from malloc: slabs of 64, 128, 256, ... records (doubling, so the
 * pool holds at most about twice the most records ever in flight) indexed by a 32-bit number;
 * the stack head packs (tag << 32 | index + 1) into one 64-bit word, so a pop is one CAS that
 * fails if the record was popped and pushed back meanwhile (Treiber stack with a version tag;
 * it would take 2^32 stack operations during one pop's load-to-CAS window to fool it). Records
 * are freed only by pl_pool_free(), so a popper may read the link of a record another thread
 * just took (its CAS then fails). A submit pops one record and sends it; the worker pushes it
 * back once fn returned; a failed send pushes it back at once. Measured with callgrind (mutex
 * kind, 1 worker, 1 submitter, 100k empty jobs): pop + push cost about 50 instructions per job
 * against about 210 for malloc + free (the worker frees what the submitter allocated, glibc's
 * worst case), and the whole submit-run cycle fell from about 420 to 260 instructions per job.
 * Wall-clock figures on the shared 2-core machine were too noisy to tell the two apart.
 *
 * Workers. Each worker loops: receive (no context: only close ends it), check the pool's
 * "expired" flag, then either run fn(job context, arg) or, when the grace ran out, hand the job
 * back and exit. Whoever dequeues a job thus either runs it or hands it back, never both, never
 * neither.
 *
 * Shutdown. The first caller (the "stopper") records its unstarted callback and closes the
 * channel: intake stops at once, blocked submitters wake with -EPIPE. Every caller then waits
 * until all workers exited (they drained the channel: every accepted job ran) or until its own
 * grace is done, whichever comes first, on a futex word bumped by the last exiting worker and by
 * a watch on the caller's grace (its sleep bounded by the grace's deadline, which fires no
 * watch); no polling. A caller whose grace ran out first "expires" the pool, once: sets the
 * flag, notes whether a job was running, cancels the job context (running jobs see it). Then
 * the stopper joins every worker and hands back the jobs workers dequeued after expiry and what
 * is left in the channel, then publishes the result; other callers wait on a condition
 * variable for it. Hence:
 * - the unstarted callback used is the first caller's (later callers' are ignored); it runs on
 *   that caller's thread, one job at a time (those workers dequeued first, then the channel's
 *   rest in FIFO order), after every worker was joined, so it needs no locking of its own;
 * - a later caller's shorter grace also bounds an earlier caller's drain (a second signal
 *   forces the exit, as services that drain on SIGTERM do);
 * - every caller returns the same result once the pool is fully stopped; later calls return it
 *   at once.
 * A job or an unstarted callback must not shut down (or free) its own pool: it would wait for
 * itself; that aborts with a message (submitting from there is fine: -EPIPE once closed). Jobs must
 * not cancel or release the job context they are given; they may retain it.
 *
 * Result: -ETIMEDOUT when some accepted job never started (the grace ran out first: it was
 * handed to @unstarted), else 0: every accepted job ran, even if the grace ran out while one
 * was still running (it saw the cancelled job context; whether it then cut its work short only
 * the job knows, and one that needs each job's fate has the job record it, as patlab-svc's
 * ledger does). A grace already over with nothing left to do is 0 too. Exact: a job is either
 * started by the worker that dequeued it or handed back, and the result counts the latter.
 *
 * Submit. Returns what the channel says (the context is consulted only when the queue is full),
 * plus -ENOMEM when no record can be had (a slab allocation failed). A try_submit that finds the
 * queue full after shutdown began returns -EPIPE (the pool's own flag, set before the close,
 * settles a kind's answer from a stale snapshot).
 */
#include <patlab/pool.h>
#include <patlab/chan.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/park.h"
#include "context/ctx_watch.h"
#include "sync/die.h"

/* Records in the first slab; slab k holds SLAB0 << k. */
#define SLAB0 64u
/* Slabs at most: SLAB0 * (2^NSLABS - 1) records must fit the 32-bit index (about 1e9 here). */
#define NSLABS 24

struct job {
	pl_job_fn fn;
	void *arg;
	/* Hand-back list; protected by pool->lock. */
	struct job *link;
	/*
	 * Free stack: index + 1 of the record below this one, 0 at the bottom. Written by the
	 * pusher before its release CAS; read by poppers (relaxed: a stale value only ever
	 * feeds a CAS that then fails, because the head's tag moved).
	 */
	_Atomic uint32_t next;
	/* This record's index; constant. */
	uint32_t self;
};

struct worker {
	pthread_t tid;
	struct pl_pool *pool;
};

struct pl_pool {
	/* Constant after pl_pool_new(). */
	pl_chan *ch;
	pl_ctx *jobcx; /* owned; cancelled only by expire() */
	struct worker *workers;
	unsigned nworkers;

	/* Free stack head: (tag << 32) | (index + 1); 0 in the low half: empty. */
	alignas(PL_FALSE_SHARING) _Atomic uint64_t free_head;

	/* Slab growth: @nslabs under @grow_lock; @slabs[] written under it, read lock-free. */
	alignas(PL_FALSE_SHARING) pthread_mutex_t grow_lock;
	unsigned nslabs;
	struct job *_Atomic slabs[NSLABS];

	/*
	 * Shutdown. @expired: written once under @lock, read lock-free by workers (see
	 * worker_main()). @intake_closed: see intake_stopped(). @live: workers not
	 * yet exited. @wake_seq: bumped by the last exiting worker and by a grace watch; the futex
	 * word shutdown callers sleep on.
	 */
	alignas(PL_FALSE_SHARING) _Atomic bool expired;
	_Atomic bool intake_closed; /* set (seq_cst) by the stopper just before it closes */
	_Atomic uint32_t live;
	_Atomic uint32_t wake_seq;

	/* Everything below: protected by @lock. */
	pthread_mutex_t lock;
	pthread_cond_t stopped_cond; /* broadcast by the stopper once @stopped is set */
	bool closing;		     /* a stopper exists */
	bool stopped;		     /* @result is final */
	int result;
	void (*unstarted)(pl_job_fn fn, void *arg, void *user);
	void *user;
	struct job *hb_head, **hb_tail; /* dequeued after expiry by workers, in order */
};

/*
 * The pool whose job (or unstarted callback) this thread is running: a shutdown or free of
 * that pool from there would wait for itself, and is refused.
 */
static _Thread_local struct pl_pool *current_pool;

/* --------------------------------------------------------------------- job records */

static struct job *node(struct pl_pool *p, uint32_t idx)
{
	uint32_t q = idx / SLAB0 + 1;
	unsigned k = 31u - (unsigned)__builtin_clz(q);
	/* Acquire pairs with the release store in grow(); the index reached us after it. */
	struct job *slab = atomic_load_explicit(&p->slabs[k], memory_order_acquire);

	return &slab[idx - SLAB0 * ((1u << k) - 1)];
}

static uint64_t head_with(uint64_t old, uint32_t top)
{
	return (((old >> 32) + 1) << 32) | top;
}

static struct job *stack_pop(struct pl_pool *p)
{
	/* Acquire pairs with the release CAS in stack_push_chain(): the record's fields. */
	uint64_t h = atomic_load_explicit(&p->free_head, memory_order_acquire);

	for (;;) {
		uint32_t top = (uint32_t)h;

		if (top == 0)
			return NULL;
		struct job *j = node(p, top - 1);
		uint32_t below = atomic_load_explicit(&j->next, memory_order_relaxed);

		/* Acquire on success: as above, for the value this CAS replaced. */
		if (atomic_compare_exchange_weak_explicit(&p->free_head, &h, head_with(h, below),
							  memory_order_acquire,
							  memory_order_acquire))
			return j;
	}
}

/* Push the chain @first .. @last (already linked through ->next, except @last). */
static void stack_push_chain(struct pl_pool *p, struct job *first, struct job *last)
{
	uint64_t h = atomic_load_explicit(&p->free_head, memory_order_relaxed);

	do {
		atomic_store_explicit(&last->next, (uint32_t)h, memory_order_relaxed);
		/*
		 * Release pairs with the acquire in stack_pop(): the link above, the slab
		 * pointer, and the previous user's last reads of fn/arg all happen before the
		 * next user's writes.
		 */
	} while (
	    !atomic_compare_exchange_weak_explicit(&p->free_head, &h, head_with(h, first->self + 1),
						   memory_order_release, memory_order_relaxed));
}

static void job_put(struct pl_pool *p, struct job *j)
{
	stack_push_chain(p, j, j);
}

/* grow - add a slab when the stack is empty. 0, or -ENOMEM. */
static int grow(struct pl_pool *p)
{
	int rc = 0;

	PL_CHECK(pthread_mutex_lock(&p->grow_lock));
	/* Someone else grew (or records came back) while we waited: just retry the pop. */
	if ((uint32_t)atomic_load_explicit(&p->free_head, memory_order_relaxed) != 0)
		goto out;
	if (p->nslabs == NSLABS) {
		rc = -ENOMEM;
		goto out;
	}
	unsigned k = p->nslabs;
	uint32_t n = SLAB0 << k, base = SLAB0 * ((1u << k) - 1);
	struct job *slab = calloc(n, sizeof(*slab));

	if (slab == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		slab[i].self = base + i;
		atomic_init(&slab[i].next, base + i + 2);
	}
	/* Release pairs with the acquire in node(). */
	atomic_store_explicit(&p->slabs[k], slab, memory_order_release);
	p->nslabs = k + 1;
	stack_push_chain(p, &slab[0], &slab[n - 1]);
out:
	PL_CHECK(pthread_mutex_unlock(&p->grow_lock));
	return rc;
}

static struct job *job_get(struct pl_pool *p)
{
	for (;;) {
		struct job *j = stack_pop(p);

		if (j != NULL)
			return j;
		if (grow(p) != 0)
			return NULL;
	}
}

/* --------------------------------------------------------------------- workers */

static void wake_waiters(struct pl_pool *p)
{
	atomic_fetch_add(&p->wake_seq, 1);
	pl__futex_wake(&p->wake_seq, INT32_MAX);
}

static void hand_back_later(struct pl_pool *p, struct job *j)
{
	PL_CHECK(pthread_mutex_lock(&p->lock));
	j->link = NULL;
	*p->hb_tail = j;
	p->hb_tail = &j->link;
	PL_CHECK(pthread_mutex_unlock(&p->lock));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pl_pool *p = w->pool;

	current_pool = p;
	/* Relaxed, here and after the dequeue: @expired publishes no data, and a worker that reads
	 * it late only starts a job whose context is already cancelled (it ran: the result says
	 * so). Whoever dequeues a job decides alone whether it starts, so none is lost or run
	 * twice. */
	while (!atomic_load_explicit(&p->expired, memory_order_relaxed)) {
		void *msg;
		int rc = pl_chan_recv(p->ch, &msg, NULL);

		if (rc == -EPIPE)
			break; /* closed and drained */
		if (rc != 0)
			pl__die("pool worker: pl_chan_recv: %d", rc);
		struct job *j = msg;

		if (atomic_load_explicit(&p->expired, memory_order_relaxed)) {
			hand_back_later(p, j);
			break;
		}
		j->fn(p->jobcx, j->arg);
		job_put(p, j);
	}
	current_pool = NULL;
	/* The last worker out wakes every shutdown caller (seq_cst: pairs with wait_workers()). */
	if (atomic_fetch_sub(&p->live, 1) == 1)
		wake_waiters(p);
	return NULL;
}

/* --------------------------------------------------------------------- shutdown */

/* Runs under the grace context's lock when it is cancelled: short, no locks of ours. */
static void grace_fired(struct pl__ctx_watch *w)
{
	wake_waiters(w->arg);
}

/* wait_workers - true once every worker exited, false when @grace became done first. */
static bool wait_workers(struct pl_pool *p, pl_ctx *grace)
{
	struct pl__ctx_watch w = {.fn = grace_fired, .arg = p};
	bool watching = false, all_out;

	for (;;) {
		/* Read before the checks: a wake after them changes it, so no wakeup is lost. */
		uint32_t seq = atomic_load(&p->wake_seq);

		if (atomic_load(&p->live) == 0) {
			all_out = true;
			break;
		}
		if (pl_ctx_err(grace) != 0) {
			all_out = false;
			break;
		}
		if (!watching && !pl__ctx_never_done(grace)) {
			if (pl__ctx_watch(grace, &w) != 0) {
				all_out = false; /* done meanwhile: nothing registered */
				break;
			}
			watching = true;
			continue; /* re-check now that a cancel will wake us */
		}
		/*
		 * Woken by the last exiting worker or by grace_fired(); a deadline fires no watch,
		 * so the sleep is bounded by it and the loop re-checks pl_ctx_err().
		 */
		pl__futex_wait(&p->wake_seq, seq, pl_ctx_deadline(grace));
	}
	if (watching)
		pl__ctx_unwatch(grace, &w);
	return all_out;
}

/* expire - the grace ran out: stop running jobs, cancel the running ones. Once. */
static void expire(struct pl_pool *p)
{
	PL_CHECK(pthread_mutex_lock(&p->lock));
	if (!atomic_load_explicit(&p->expired, memory_order_relaxed)) { /* written under lock */
		/* Relaxed: see worker_main(); the cancel below is what running jobs observe. */
		atomic_store_explicit(&p->expired, true, memory_order_relaxed);
		pl_ctx_cancel(p->jobcx);
	}
	PL_CHECK(pthread_mutex_unlock(&p->lock));
}

/* join_all - join every worker, then hand back what they left; the stopper only. */
static int join_all(struct pl_pool *p)
{
	struct job *list, *j;
	void *msg;
	size_t handed = 0;

	for (unsigned i = 0; i < p->nworkers; i++)
		PL_CHECK(pthread_join(p->workers[i].tid, NULL));
	PL_CHECK(pthread_mutex_lock(&p->lock));
	list = p->hb_head;
	p->hb_head = NULL;
	p->hb_tail = &p->hb_head;
	PL_CHECK(pthread_mutex_unlock(&p->lock));
	/*
	 * What the channel still holds (only after an expiry: otherwise the workers drained it).
	 * A blocking receive, not try_recv: a kind may still be finishing a send that was
	 * accepted just before the close; receive returns -EPIPE only once everything accepted
	 * has been received.
	 */
	struct job **tail = &list;
	while (*tail != NULL)
		tail = &(*tail)->link;
	while (pl_chan_recv(p->ch, &msg, NULL) == 0) {
		j = msg;
		j->link = NULL;
		*tail = j;
		tail = &j->link;
	}
	/* While the callbacks run, this thread counts as inside the pool (see current_pool). */
	struct pl_pool *outer = current_pool;
	current_pool = p;
	while ((j = list) != NULL) {
		list = j->link;
		handed++;
		if (p->unstarted != NULL)
			p->unstarted(j->fn, j->arg, p->user);
		job_put(p, j);
	}
	current_pool = outer;
	return handed != 0 ? -ETIMEDOUT : 0; /* some accepted job never started */
}

int pl_pool_shutdown(pl_pool *p, pl_ctx *grace,
		     void (*unstarted)(pl_job_fn fn, void *arg, void *user), void *user)
{
	bool stopper = false;
	int rc;

	if (p == NULL)
		return -EINVAL;
	if (current_pool == p)
		pl__die(
		    "pl_pool_shutdown: called from a job or unstarted callback of the same pool "
		    "(it would wait for itself)");
	PL_CHECK(pthread_mutex_lock(&p->lock));
	if (p->stopped) {
		rc = p->result;
		PL_CHECK(pthread_mutex_unlock(&p->lock));
		return rc;
	}
	if (!p->closing) {
		p->closing = true;
		p->unstarted = unstarted;
		p->user = user;
		stopper = true;
	}
	PL_CHECK(pthread_mutex_unlock(&p->lock));

	if (stopper) {
		atomic_store(&p->intake_closed, true);
		rc = pl_chan_close(p->ch);
		if (rc != 0)
			pl__die("pl_pool_shutdown: pl_chan_close: %d", rc);
	}
	if (!wait_workers(p, grace))
		expire(p);

	if (stopper) {
		rc = join_all(p);
		PL_CHECK(pthread_mutex_lock(&p->lock));
		p->result = rc;
		p->stopped = true;
		PL_CHECK(pthread_cond_broadcast(&p->stopped_cond));
		PL_CHECK(pthread_mutex_unlock(&p->lock));
		return rc;
	}
	PL_CHECK(pthread_mutex_lock(&p->lock));
	while (!p->stopped) /* woken by the stopper's broadcast */
		PL_CHECK(pthread_cond_wait(&p->stopped_cond, &p->lock));
	rc = p->result;
	PL_CHECK(pthread_mutex_unlock(&p->lock));
	return rc;
}

/* --------------------------------------------------------------------- submit */

/*
 * intake_stopped - shutdown has begun: every submit from now on fails with -EPIPE. Checked
 * before the channel is touched because -EPIPE can come from this flag before the stopper's
 * pl_chan_close() (pl_pool_try_submit() below); without the check, a later submit in that
 * window could still hand a job to a parked worker, breaking "-EPIPE from then on" (found by
 * stress_pool under TSan: try_submit returned 0 after -EPIPE). A submit that passes the check
 * just before the flag is set is accepted before the close, and drained like any other.
 */
static inline bool intake_stopped(pl_pool *p)
{
	return atomic_load(&p->intake_closed);
}

int pl_pool_submit(pl_pool *p, pl_job_fn fn, void *arg, pl_ctx *cx)
{
	struct job *j;
	int rc;

	if (p == NULL || fn == NULL)
		return -EINVAL;
	if (intake_stopped(p))
		return -EPIPE;
	j = job_get(p);
	if (j == NULL)
		return -ENOMEM;
	j->fn = fn;
	j->arg = arg;
	rc = pl_chan_send(p->ch, j, cx);
	if (rc != 0)
		job_put(p, j);
	return rc;
}

int pl_pool_try_submit(pl_pool *p, pl_job_fn fn, void *arg)
{
	struct job *j;
	int rc;

	if (p == NULL || fn == NULL)
		return -EINVAL;
	if (intake_stopped(p))
		return -EPIPE;
	j = job_get(p);
	if (j == NULL)
		return -ENOMEM;
	j->fn = fn;
	j->arg = arg;
	rc = pl_chan_try_send(p->ch, j);
	if (rc != 0)
		job_put(p, j);
	/*
	 * Full, but shutdown has begun: -EPIPE, as promised from then on. (A kind may answer a
	 * try_send from a stale snapshot just after its close; the pool's own flag settles it.)
	 */
	if (rc == -EAGAIN && atomic_load(&p->intake_closed))
		rc = -EPIPE;
	return rc;
}

/* --------------------------------------------------------------------- life cycle */

static void destroy(struct pl_pool *p)
{
	for (unsigned k = 0; k < p->nslabs; k++)
		free(atomic_load_explicit(&p->slabs[k], memory_order_relaxed));
	pl_chan_free(p->ch);
	pl_ctx_release(p->jobcx);
	PL_CHECK(pthread_cond_destroy(&p->stopped_cond));
	PL_CHECK(pthread_mutex_destroy(&p->lock));
	PL_CHECK(pthread_mutex_destroy(&p->grow_lock));
	free(p->workers);
	free(p);
}

pl_pool *pl_pool_new(const pl_pool_opts *o)
{
	struct pl_chan_kind_info info;
	const char *kind;
	struct pl_pool *p;
	unsigned started = 0;
	int err;

	if (o == NULL || o->workers == 0) {
		errno = EINVAL;
		return NULL;
	}
	kind = o->chan_kind != NULL ? o->chan_kind : "mutex";
	/* An spsc kind cannot carry several workers, nor several submitters: refused. */
	if (pl_chan_kind_info(kind, &info) != 0 || info.spsc) {
		errno = EINVAL;
		return NULL;
	}
	p = aligned_alloc(alignof(struct pl_pool), sizeof(*p));
	if (p == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	memset(p, 0, sizeof(*p));
	atomic_init(&p->free_head, 0);
	for (unsigned k = 0; k < NSLABS; k++)
		atomic_init(&p->slabs[k], NULL);
	atomic_init(&p->expired, false);
	atomic_init(&p->intake_closed, false);
	atomic_init(&p->live, 0);
	atomic_init(&p->wake_seq, 0);
	PL_CHECK(pthread_mutex_init(&p->grow_lock, NULL));
	PL_CHECK(pthread_mutex_init(&p->lock, NULL));
	PL_CHECK(pthread_cond_init(&p->stopped_cond, NULL));
	p->hb_tail = &p->hb_head;

	err = ENOMEM;
	p->workers =
	    aligned_alloc(alignof(struct worker), (size_t)o->workers * sizeof(*p->workers));
	if (p->workers == NULL)
		goto fail;
	p->ch = pl_chan_new(kind, o->queue_depth);
	if (p->ch == NULL) {
		err = errno; /* EINVAL: a depth the kind refuses; ENOMEM */
		goto fail;
	}
	p->jobcx = pl_ctx_with_cancel(NULL);
	if (p->jobcx == NULL)
		goto fail;
	atomic_init(&p->live, o->workers); /* before any worker can exit */
	for (; started < o->workers; started++) {
		struct worker *w = &p->workers[started];

		w->pool = p;
		err = pl_thread_create(o->threads, &w->tid, NULL, worker_main, w);
		if (err != 0)
			goto fail;
	}
	p->nworkers = o->workers;
	return p;

fail:
	if (started != 0) {
		/* Stop the workers started: they see the close and exit. */
		PL_CHECK(pl_chan_close(p->ch));
		for (unsigned i = 0; i < started; i++)
			PL_CHECK(pthread_join(p->workers[i].tid, NULL));
	}
	destroy(p);
	errno = err;
	return NULL;
}

void pl_pool_free(pl_pool *p)
{
	if (p == NULL)
		return;
	if (current_pool == p)
		pl__die("pl_pool_free: called from a job or unstarted callback of the same pool");
	(void)pl_pool_shutdown(p, NULL, NULL, NULL);
	destroy(p);
}
