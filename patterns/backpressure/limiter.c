/* SPDX-License-Identifier: MIT */
/*
 * The token-bucket rate limiter, in the manner of Go's golang.org/x/time/rate.Limiter.
 *
 * State: @tokens at time @last. Tokens are not added by a timer (there is no thread): every
 * call first "advances" the bucket to its own time, adding rate * elapsed tokens, capped at
 * burst. A take succeeds when the bucket then holds n tokens.
 *
 * Reservations. A wait that finds too few tokens subtracts them anyway (the level goes
 * negative) and sleeps until the refill brings the level back to where it was before its
 * subtraction would have been covered: due = now + (n - tokens) / rate. Later calls see the
 * negative level, so they queue behind it: takes are refused and waits get later due times.
 * This is Go's reservation model; it keeps arrival order and costs each waiter exactly one
 * timed sleep (no thundering herd of retries).
 *
 * Why "at most burst + rate * t" holds, counting each grant at its due time (a take's due time
 * is its call time): while some reservation is pending the level is negative (it reaches 0
 * only at the latest reservation's due time), so the burst cap never bites then and the level
 * equals that of a plain token bucket in which every grant happens at its due time, minus the
 * tokens of the pending reservations. A plain token bucket grants at most burst + rate * t in
 * any window of length t. A waiter that oversleeps only returns later than its due time; it
 * was still granted inside the window its due time falls in.
 *
 * Cancellation. A waiter whose context ends before its due time gives its tokens back only if
 * it holds the latest reservation (@tail): the level then becomes exactly what it would have
 * been had it never reserved (it is still negative before the add-back, so no cap was
 * missed). An earlier reservation's tokens cannot be given back without moving the later ones'
 * due times, which are already promised; they are forfeited (the bucket grants less than it
 * could, never more). Go restores a pro-rated amount instead; forfeiting is simpler and safe.
 *
 * A wait whose due time lies at or beyond its context's deadline is refused at once without
 * reserving anything (-ETIMEDOUT), as Go's Wait does: sleeping would only waste the tokens.
 *
 * Concurrency: one mutex guards the state; nothing blocks while holding it. Sleeps use
 * pl_ctx_wait() (a timed futex, woken early only by the context's cancellation).
 */
#include <patlab/backpressure.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "sync/die.h"

struct pl_limiter {
	pthread_mutex_t lock;
	/* Read-only after new. */
	double per_ns; /* tokens per nanosecond */
	double burst;
	/* Under @lock. */
	double tokens; /* at @last; negative while reservations are pending */
	int64_t last;
	uint64_t seq;  /* reservations made */
	uint64_t tail; /* the latest reservation, while it may still give its tokens back; 0 */
	uint64_t granted, denied, waited, cancelled;
};

pl_limiter *pl_limiter_new(double rate, double burst)
{
	struct pl_limiter *l;

	if (!isfinite(rate) || !(rate > 0) || !isfinite(burst) || !(burst >= 1)) {
		errno = EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	PL_CHECK(pthread_mutex_init(&l->lock, NULL));
	l->per_ns = rate / 1e9;
	l->burst = burst;
	l->tokens = burst;
	l->last = pl_now_ns();
	return l;
}

void pl_limiter_free(pl_limiter *l)
{
	if (l == NULL)
		return;
	PL_CHECK(pthread_mutex_destroy(&l->lock));
	free(l);
}

/* advance - refill for the time since @last (under the lock); earlier times refill nothing. */
static void advance(struct pl_limiter *l, int64_t now)
{
	double t;

	if (now <= l->last)
		return;
	t = l->tokens + (double)(now - l->last) * l->per_ns;
	l->tokens = t > l->burst ? l->burst : t;
	l->last = now;
}

/*
 * due_time - @now + @wait_ns rounded up (a due time early by a fraction of a nanosecond would
 * over-grant), saturating at INT64_MAX (a wait of centuries: refused as past any deadline).
 */
static int64_t due_time(int64_t now, double wait_ns)
{
	int64_t w;

	if (!(wait_ns < (double)(INT64_MAX - now)))
		return INT64_MAX;
	w = (int64_t)wait_ns;
	return now + w + ((double)w < wait_ns);
}

int pl_limiter_take_at(pl_limiter *l, unsigned n, int64_t now_ns)
{
	int rc;

	if (l == NULL || (double)n > l->burst)
		return -EINVAL;
	if (n == 0)
		return 0;
	PL_CHECK(pthread_mutex_lock(&l->lock));
	advance(l, now_ns);
	if (l->tokens >= (double)n) {
		l->tokens -= (double)n;
		l->granted++;
		rc = 0;
	} else {
		l->denied++;
		rc = -EAGAIN;
	}
	PL_CHECK(pthread_mutex_unlock(&l->lock));
	return rc;
}

int pl_limiter_take(pl_limiter *l, unsigned n)
{
	return pl_limiter_take_at(l, n, pl_now_ns());
}

int pl_limiter_wait(pl_limiter *l, unsigned n, pl_ctx *cx)
{
	int64_t now, due;
	uint64_t me;
	int err;

	if (l == NULL || (double)n > l->burst)
		return -EINVAL;
	if (n == 0)
		return 0;
	err = pl_ctx_err(cx);
	if (err != 0)
		return err;

	PL_CHECK(pthread_mutex_lock(&l->lock));
	now = pl_now_ns();
	advance(l, now);
	if (l->tokens >= (double)n) {
		l->tokens -= (double)n;
		l->granted++;
		PL_CHECK(pthread_mutex_unlock(&l->lock));
		return 0;
	}
	due = due_time(now, ((double)n - l->tokens) / l->per_ns);
	if (due >= pl_ctx_deadline(cx)) {
		l->denied++;
		PL_CHECK(pthread_mutex_unlock(&l->lock));
		return -ETIMEDOUT;
	}
	l->tokens -= (double)n;
	me = ++l->seq;
	l->tail = me;
	l->waited++;
	PL_CHECK(pthread_mutex_unlock(&l->lock));

	/* Nobody wakes this sleep but the time passing or @cx's cancellation (pl_ctx_wait). */
	while ((now = pl_now_ns()) < due) {
		err = pl_ctx_wait(cx, due - now);
		if (err != 0)
			break;
	}

	PL_CHECK(pthread_mutex_lock(&l->lock));
	if (err != 0 && pl_now_ns() < due) {
		/* Cancelled before the tokens were due: give them back if nothing queued after. */
		if (l->tail == me) {
			advance(l, pl_now_ns());
			l->tokens += (double)n;
			if (l->tokens > l->burst) /* only within a nanosecond of @due */
				l->tokens = l->burst;
			l->tail = 0;
		}
		l->cancelled++;
	} else {
		err = 0;
		l->granted++;
	}
	PL_CHECK(pthread_mutex_unlock(&l->lock));
	return err;
}

void pl_limiter_stats(pl_limiter *l, struct pl_limiter_stats *out)
{
	PL_CHECK(pthread_mutex_lock(&l->lock));
	advance(l, pl_now_ns());
	out->granted = l->granted;
	out->denied = l->denied;
	out->waited = l->waited;
	out->cancelled = l->cancelled;
	out->tokens = l->tokens;
	PL_CHECK(pthread_mutex_unlock(&l->lock));
}
