/* SPDX-License-Identifier: MIT */
/*
 * Scatter/gather: one request to N backends, gathered as wait-all, first-k or hedged
 * (see fanout.h for the contract).
 *
 * The call. Everything one call shares with its backends lives in one heap block, struct call,
 * reference-counted: one reference for the caller, one for each backend job that is queued or
 * running. A backend job may outlive the call (detached, or abandoned in a pool's queue), so it
 * must never point into the caller's stack: it copies fn/arg into its slot and reports there.
 * The caller copies the slots into its replies before it drops its reference.
 *
 * Slots and the lock. One mutex per call protects every slot's state and the call's counters.
 * It is held only for bookkeeping (never across a backend, a submit or a cancel), by the caller
 * and by each backend at its start and at its end. A slot moves
 *   UNSENT -> QUEUED (caller, before handing the job to a pool or thread)
 *          -> RUNNING (the job, at its start, if the call still wants it)
 *          -> DONE (the job, after fn returned; the caller, when the send failed; or a
 *                   pool's shutdown through pl_fanout_unstarted())
 * or QUEUED -> ABANDONED (the gather was decided while it waited: it will never run)
 * or QUEUED -> UNSENT again (the submit was cut short by the decision or by the caller's
 *                   context: nothing was sent after all).
 *
 * Deciding. Whoever changes the counters so that the outcome is known decides, under the lock:
 * a backend whose answer is the k-th, a backend whose failure makes k answers impossible, a
 * backend that returns an error once the caller's context ended (the call then fails with the
 * context's error), or the caller when it finds the request context ended. Deciding records the
 * result and the time, abandons the queued slots and flags the running ones as cancelled. After
 * unlocking, the decider cancels the call context (so the losers stop at once, without waiting
 * for the caller to wake up) and notifies the caller. Answers that arrive after the decision
 * are not gathered (structured: they are still in the replies, with gathered false).
 *
 * Waiting. The caller sleeps on an eventcount (sync/park.h): prepare, look at the state under the
 * lock, sleep unless it has something to do. A backend's end notifies only when it gives the
 * caller something to do (a decision, the last loser's return, a failover), so answers short of
 * the k-th cost no wake-up; the context watch notifies on cancellation (of the call context or
 * any ancestor); the sleep is bounded by the next hedge time and the context's deadline
 * (deadlines fire no watch). Nothing polls.
 *
 * Hedging. The caller is the only sender: it sends backend 0, then the next one each time the
 * delay passes without a decision, or at once when every backend sent so far has failed
 * (failover). On a pool, a hedge is a try-submit: a full queue means the system is saturated and
 * a hedge would only add load, so it is retried one delay later (at least HEDGE_RETRY_NS).
 * Primary sends (all of them for ALL/FIRST_K, the first and failovers for HEDGED) block in
 * pl_pool_submit() with the call context, so a decision or a cancel frees them.
 *
 * Structured vs detached. Structured: after the decision the caller waits until no slot is
 * RUNNING (the losers were cancelled, so this is their reaction time), so every backend that
 * ever ran has returned and every answer is in the replies; queued slots were abandoned, so
 * they never call fn. Detached: the caller returns at the decision; each slot still RUNNING is
 * flagged @late under the lock, and its job reports to opts.late after fn returns.
 */
#include <patlab/fanout.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sync/park.h"
#include "context/ctx_watch.h"
#include "sync/die.h"

/* A hedge refused by a full pool is retried after its delay, but never sooner than this. */
#define HEDGE_RETRY_NS (100 * INT64_C(1000))

enum slot_state {
	S_UNSENT = 0,
	S_QUEUED,
	S_RUNNING,
	S_DONE,
	S_ABANDONED,
};

struct call;

struct slot {
	/* Constant once the call is set up. */
	struct call *call;
	pl_backend_fn fn;
	void *arg;
	/* Everything below: protected by call->lock. */
	enum slot_state state;
	int status;
	bool gathered;
	bool ran;
	bool cancelled;
	bool late; /* detached and still running when the caller returned: report to opts.late */
	void *value;
	int64_t sent_ns;
	int64_t latency_ns;
};

struct call {
	/* Constant once set up (before the first send). */
	pl_ctx *cx; /* owned: the backends' context, a child of the caller's */
	struct pl_fanout_opts o;
	unsigned n;
	unsigned need; /* answers to gather */
	/* The caller sleeps here; backends and the context watch notify it. */
	struct pl__evc evc;
	struct pl__ctx_watch watch;
	/*
	 * References: the caller's and one per queued or running job. acq_rel decrement: every
	 * holder's last accesses happen before the last one frees.
	 */
	_Atomic unsigned refs;

	pthread_mutex_t lock;
	/* Everything below: protected by @lock. */
	unsigned sent, hedges, answered, failed, running, cancelled;
	bool decided;
	int result;
	int64_t gathered_ns;
	struct slot slots[];
};

/* call_put - drop one reference; the last one frees. */
static void call_put(struct call *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	pl_ctx_release(c->cx);
	PL_CHECK(pthread_mutex_destroy(&c->lock));
	free(c);
}

/*
 * decide - under the lock: the outcome is known. Abandons queued slots, flags running ones.
 * The caller of decide() must run after_decide() once it unlocked.
 */
static void decide(struct call *c, int result)
{
	c->decided = true;
	c->result = result;
	c->gathered_ns = pl_now_ns();
	for (unsigned i = 0; i < c->n; i++) {
		struct slot *s = &c->slots[i];

		if (s->state == S_QUEUED) {
			s->state = S_ABANDONED;
			s->status = -ECANCELED;
			c->cancelled++;
		} else if (s->state == S_RUNNING) {
			s->cancelled = true;
			c->cancelled++;
		}
	}
}

/* after_decide - outside the lock: stop the losers at once, then wake the caller. */
static void after_decide(struct call *c)
{
	pl_ctx_cancel(c->cx);
	pl__evc_notify(&c->evc, 1);
}

/*
 * account - under the lock: a sent slot ended with @status (0: answered). Returns true when
 * this decided the gather (the caller of account() then runs after_decide()).
 */
static bool account(struct call *c, struct slot *s, int status)
{
	if (c->decided)
		return false;
	if (status == 0) {
		s->gathered = true;
		if (++c->answered == c->need) {
			decide(c, 0);
			return true;
		}
		return false;
	}
	c->failed++;
	if (c->n - c->failed < c->need) {
		decide(c, status);
		return true;
	}
	return false;
}

/*
 * finish - a job is over: fn returned (@ran) or never will (@ran false: a pool handed it back).
 * Records the outcome, wakes the caller if that gives it something to do, reports a late
 * outcome, and drops the job's reference (last: everything before needs @c).
 */
static void finish(struct slot *s, bool ran, int status, void *value)
{
	struct call *c = s->call;
	bool decided_now = false, wake = false, late = false;

	PL_CHECK(pthread_mutex_lock(&c->lock));
	if (ran || s->state != S_ABANDONED) { /* an abandoned slot keeps its -ECANCELED */
		/* Done but not decided: the caller's context ended (we never cancel before). */
		int cx_err = c->decided ? 0 : pl_ctx_err(c->cx);

		if (ran)
			c->running--;
		s->state = S_DONE;
		s->ran = ran;
		s->status = status;
		s->value = status == 0 ? value : NULL;
		s->latency_ns = pl_now_ns() - s->sent_ns;
		if (cx_err != 0 && ran) {
			/* It ran while its context was cancelled: as decide() flags the others. */
			s->cancelled = true;
			c->cancelled++;
		}
		if (cx_err != 0 && status != 0) {
			/* Its failure is the context's doing: the call fails with the context's
			 * error, as the caller's own check would decide. */
			decide(c, cx_err);
			decided_now = true;
		} else {
			decided_now = account(c, s, status);
		}
		late = s->late;
		/* The caller waits for the last loser (structured), or to fail over (hedged). */
		wake = (c->decided && c->running == 0) ||
		       (!c->decided && c->o.mode == PL_GATHER_HEDGED && c->failed == c->sent);
	}
	PL_CHECK(pthread_mutex_unlock(&c->lock));
	if (decided_now)
		after_decide(c);
	else if (wake)
		pl__evc_notify(&c->evc, 1);
	if (late)
		c->o.late(s->arg, status, status == 0 ? value : NULL, c->o.late_user);
	call_put(c);
}

/* run_slot - the body of every backend job, on a pool worker or on its own thread. */
static void run_slot(struct slot *s)
{
	struct call *c = s->call;
	void *value = NULL;
	int rc;

	PL_CHECK(pthread_mutex_lock(&c->lock));
	if (s->state == S_ABANDONED) {
		/* The gather was decided while we were queued: never call fn. */
		PL_CHECK(pthread_mutex_unlock(&c->lock));
		call_put(c);
		return;
	}
	s->state = S_RUNNING;
	c->running++;
	PL_CHECK(pthread_mutex_unlock(&c->lock));

	rc = s->fn(c->cx, s->arg, &value);
	if (rc > 0) /* a backend returns 0 or -errno; it must not fake our positive codes */
		rc = -EPROTO;
	finish(s, true, rc, value);
}

static void pool_job(pl_ctx *poolcx, void *arg)
{
	(void)poolcx; /* backends get the call's context (a pool's expiry is not theirs) */
	run_slot(arg);
}

static void *thread_job(void *arg)
{
	run_slot(arg);
	return NULL;
}

bool pl_fanout_unstarted(pl_job_fn fn, void *arg)
{
	if (fn != pool_job)
		return false;
	/* Still wanted: it fails as "the pool is gone", which may decide the gather. It never
	 * ran, so it was never flagged late: no late report. Abandoned: just dropped. */
	finish(arg, false, -EPIPE, NULL);
	return true;
}

/* ------------------------------------------------------------------ the caller's side */

static void watch_fired(struct pl__ctx_watch *w)
{
	struct call *c = w->arg;

	/* Runs under the context's lock: an atomic bump and a futex wake, nothing else. */
	pl__evc_notify(&c->evc, 1);
}

/*
 * send - hand slot @i to the pool or to a new thread. @hedge: a timer-driven hedge (try-submit
 * on a pool). Returns 0 (sent, or moot: decided meanwhile), 1 (a hedge refused for lack of
 * room: slot left UNSENT, retry later), or a negative error (recorded in the slot, counted as
 * a failure, which may decide the gather).
 */
static int send(struct call *c, unsigned i, bool hedge)
{
	struct slot *s = &c->slots[i];
	const bool is_hedge = i > 0 && c->o.mode == PL_GATHER_HEDGED;
	bool decided_now = false;
	int rc;

	PL_CHECK(pthread_mutex_lock(&c->lock));
	if (c->decided) {
		/* Decided since the caller looked (it dropped the lock to send): sending now
		 * would start a job after decide() abandoned the queued ones, and a structured
		 * caller could return while it runs. Moot. */
		PL_CHECK(pthread_mutex_unlock(&c->lock));
		return 0;
	}
	s->state = S_QUEUED;
	s->sent_ns = pl_now_ns();
	c->sent++;
	c->hedges += is_hedge;
	PL_CHECK(pthread_mutex_unlock(&c->lock));
	/* The job's reference (relaxed: the caller's own reference keeps @c alive here, and the
	 * hand-off to the pool or thread publishes the count with everything else). */
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);

	if (c->o.pool != NULL) {
		rc = hedge ? pl_pool_try_submit(c->o.pool, pool_job, s)
			   : pl_pool_submit(c->o.pool, pool_job, s, c->cx);
	} else {
		pthread_attr_t attr;
		pthread_t tid;

		PL_CHECK(pthread_attr_init(&attr));
		PL_CHECK(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED));
		rc = -pl_thread_create(c->o.threads, &tid, &attr, thread_job, s);
		PL_CHECK(pthread_attr_destroy(&attr));
	}
	if (rc == 0)
		return 0;

	/* Not sent: the job will never run. Its reference goes back (never the last one: the
	 * caller holds its own). */
	atomic_fetch_sub_explicit(&c->refs, 1, memory_order_relaxed);
	PL_CHECK(pthread_mutex_lock(&c->lock));
	if (s->state == S_ABANDONED ||
	    (rc != -EAGAIN && rc != -EPIPE && rc != -ENOMEM && pl_ctx_err(c->cx) != 0)) {
		/* Decided, or the caller's context ended, while we were submitting (a blocked
		 * submit then fails with the call context's error): nothing was sent after all;
		 * the caller's loop decides. */
		if (s->state == S_ABANDONED)
			c->cancelled--;
		s->state = S_UNSENT;
		s->status = 0;
		c->sent--;
		c->hedges -= is_hedge;
		rc = 0;
	} else if (rc == -EAGAIN && hedge) {
		s->state = S_UNSENT;
		c->sent--;
		c->hedges -= is_hedge;
		rc = 1;
	} else {
		s->state = S_DONE;
		s->status = rc;
		s->latency_ns = pl_now_ns() - s->sent_ns;
		decided_now = account(c, s, rc);
	}
	PL_CHECK(pthread_mutex_unlock(&c->lock));
	if (decided_now)
		after_decide(c);
	return rc;
}

/* fill_out - under the lock, as the caller returns: replies and stats; flags late slots. */
static void fill_out(struct call *c, struct pl_fanout_reply *replies, struct pl_fanout_stats *st)
{
	for (unsigned i = 0; i < c->n; i++) {
		struct slot *s = &c->slots[i];
		struct pl_fanout_reply r = {0};

		switch (s->state) {
		case S_UNSENT:
			r.status = PL_FANOUT_UNSENT;
			break;
		case S_RUNNING: /* only when detached: structured callers wait for these */
			s->late = true;
			r.status = PL_FANOUT_RUNNING;
			r.ran = true;
			r.cancelled = s->cancelled;
			break;
		case S_QUEUED: /* impossible once decided (decide() abandons them); for safety */
		case S_ABANDONED:
			r.status = -ECANCELED;
			break;
		case S_DONE:
			r.status = s->status;
			r.gathered = s->gathered;
			r.ran = s->ran;
			r.cancelled = s->cancelled;
			r.value = s->value;
			r.latency_ns = s->latency_ns;
			break;
		}
		if (replies != NULL)
			replies[i] = r;
	}
	if (st != NULL)
		*st = (struct pl_fanout_stats){
		    .sent = c->sent,
		    .hedges = c->hedges,
		    .cancelled = c->cancelled,
		    .gathered_ns = c->gathered_ns,
		};
}

static int check_args(const struct pl_backend *backends, unsigned n, const struct pl_fanout_opts *o)
{
	if (backends == NULL || n == 0 || n > PL_FANOUT_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (backends[i].fn == NULL)
			return -EINVAL;
	switch (o->mode) {
	case PL_GATHER_ALL:
		break;
	case PL_GATHER_FIRST_K:
		if (o->k < 1 || o->k > n)
			return -EINVAL;
		break;
	case PL_GATHER_HEDGED:
		if (o->hedge_delay_ns < 0)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (o->detach && o->late == NULL)
		return -EINVAL;
	return 0;
}

static struct call *call_new(pl_ctx *cx, const struct pl_backend *backends, unsigned n,
			     const struct pl_fanout_opts *o)
{
	struct call *c = calloc(1, sizeof(*c) + n * sizeof(c->slots[0]));

	if (c == NULL)
		return NULL;
	c->cx = pl_ctx_with_cancel(cx);
	if (c->cx == NULL) {
		free(c);
		return NULL;
	}
	PL_CHECK(pthread_mutex_init(&c->lock, NULL));
	pl__evc_init(&c->evc);
	atomic_init(&c->refs, 1);
	c->o = *o;
	c->n = n;
	c->need = o->mode == PL_GATHER_ALL ? n : o->mode == PL_GATHER_FIRST_K ? o->k : 1;
	for (unsigned i = 0; i < n; i++) {
		c->slots[i].call = c;
		c->slots[i].fn = backends[i].fn;
		c->slots[i].arg = backends[i].arg;
	}
	c->watch.fn = watch_fired;
	c->watch.arg = c;
	return c;
}

int pl_fanout_call(pl_ctx *cx, const struct pl_backend *backends, unsigned n,
		   const struct pl_fanout_opts *o, struct pl_fanout_reply *replies,
		   struct pl_fanout_stats *st)
{
	static const struct pl_fanout_opts zero;
	struct call *c;
	int64_t next_hedge = INT64_MAX, deadline;
	unsigned next = 0; /* the next slot to send */
	bool hedged, watching;
	int rc;

	if (o == NULL)
		o = &zero;
	rc = check_args(backends, n, o);
	if (rc != 0)
		return rc;
	c = call_new(cx, backends, n, o);
	if (c == NULL)
		return -ENOMEM;
	hedged = o->mode == PL_GATHER_HEDGED;
	deadline = pl_ctx_deadline(c->cx);
	/* Woken by watch_fired() when c->cx or an ancestor is cancelled. Refused: already done
	 * (born done from @cx), then nothing is sent and the loop below decides. */
	watching = pl__ctx_watch(c->cx, &c->watch) == 0;

	/* Primary sends: every backend, or the first one when hedging. They may block (pool). */
	if (watching) {
		unsigned primaries = hedged ? 1 : n;

		for (; next < primaries; next++) {
			bool stop;

			send(c, next, false);
			PL_CHECK(pthread_mutex_lock(&c->lock));
			stop = c->decided;
			PL_CHECK(pthread_mutex_unlock(&c->lock));
			if (stop || pl_ctx_err(c->cx) != 0)
				break;
		}
		if (hedged)
			next_hedge = pl_now_ns() + o->hedge_delay_ns;
	}

	PL_CHECK(pthread_mutex_lock(&c->lock));
	for (;;) {
		/* Announce the sleep before looking: a notify after this point is not lost. */
		uint32_t key = pl__evc_prepare(&c->evc);
		int64_t until = INT64_MAX;

		if (!c->decided) {
			int err = pl_ctx_err(c->cx);

			if (err != 0) {
				pl__evc_cancel(&c->evc);
				decide(c, err);
				PL_CHECK(pthread_mutex_unlock(&c->lock));
				after_decide(c);
				PL_CHECK(pthread_mutex_lock(&c->lock));
				continue;
			}
		}
		if (c->decided && (o->detach || c->running == 0)) {
			pl__evc_cancel(&c->evc);
			break;
		}
		if (!c->decided && hedged && next < n) {
			/* Failover (everything sent failed) is a primary send; a timer hedge is
			 * not. */
			bool failover = c->failed == c->sent;

			if (failover || pl_now_ns() >= next_hedge) {
				pl__evc_cancel(&c->evc);
				PL_CHECK(pthread_mutex_unlock(&c->lock));
				rc = send(c, next, !failover);
				if (rc == 1) {
					next_hedge =
					    pl_now_ns() + (o->hedge_delay_ns > HEDGE_RETRY_NS
							       ? o->hedge_delay_ns
							       : HEDGE_RETRY_NS);
				} else {
					next++;
					next_hedge = pl_now_ns() + o->hedge_delay_ns;
				}
				PL_CHECK(pthread_mutex_lock(&c->lock));
				continue;
			}
			until = next_hedge;
		}
		if (!c->decided && deadline < until)
			until = deadline;
		PL_CHECK(pthread_mutex_unlock(&c->lock));
		/* Woken by finish() (last loser, failover), after_decide(), watch_fired(), or
		 * the time bound (next hedge, deadline). */
		pl__evc_wait(&c->evc, key, until);
		PL_CHECK(pthread_mutex_lock(&c->lock));
	}
	rc = c->result;
	fill_out(c, replies, st);
	PL_CHECK(pthread_mutex_unlock(&c->lock));
	if (watching)
		pl__ctx_unwatch(c->cx, &c->watch);
	call_put(c);
	return rc;
}
