/* SPDX-License-Identifier: MIT */
/*
 * Timers and tickers (patlab/timer.h) against Go 1.23's time.Timer and time.Ticker: a timer
 * fires once, not before its deadline, with the fire time as its message; timers fire in
 * deadline order; stop prevents a fire (true) or reports it already delivered (false) and
 * leaves no stale message; reset re-arms and removes an untaken message; a ticker keeps its
 * schedule and drops a tick that finds the previous one untaken; free races with a fire; bad
 * arguments.
 *
 * Nothing here asserts how long anything took. A check that "nothing arrived" waits for a
 * sentinel timer with a later deadline instead of sleeping: timers fire in deadline order, so
 * once the sentinel has fired every earlier deadline has been acted on. Deadlines are bounded
 * from below by the clock read just before the call that arms them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <patlab/chan.h>
#include <patlab/ctx.h>
#include <patlab/timer.h>

#include "check.h"
#include "helpers.h"

#define US 1000LL
#define MS 1000000LL

/* recv_time - block on @t's channel; its message as a fire time. */
static int64_t recv_time(pl_timer *t)
{
	void *msg = NULL;

	CHECK_EQ(pl_chan_recv(pl_timer_chan(t), &msg, NULL), 0);
	return (int64_t)(uintptr_t)msg;
}

/* empty - @t's channel holds nothing. */
static bool empty(pl_timer *t)
{
	void *msg;

	return pl_chan_try_recv(pl_timer_chan(t), &msg) == -EAGAIN;
}

/*
 * settle - wait until every deadline armed before this call and due within @ns has been acted
 * on: a sentinel timer @ns + 1 ms from now fires after them (deadline order). Returns its
 * fire time.
 */
static int64_t settle(int64_t ns)
{
	pl_timer *s = pl_timer_new(ns + MS);
	int64_t at;

	CHECK(s != NULL);
	at = recv_time(s);
	pl_timer_free(s);
	return at;
}

static void test_args(void)
{
	pt_note("bad arguments");
	errno = 0;
	CHECK(pl_ticker_new(0) == NULL);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(pl_ticker_new(-5) == NULL);
	CHECK_EQ(errno, EINVAL);
	pl_timer_free(NULL);

	pl_timer *k = pl_ticker_new(1000 * MS);
	CHECK(k != NULL);
	CHECK_EQ(pl_timer_reset(k, 0), -EINVAL);
	CHECK_EQ(pl_timer_reset(k, -1), -EINVAL);
	CHECK(pl_timer_stop(k)); /* the failed resets left it armed */
	pl_timer_free(k);

	/* The channel: the "mutex" kind, capacity 1, empty. */
	pl_timer *t = pl_timer_new(1000 * MS);
	CHECK(t != NULL);
	CHECK(strcmp(pl_chan_kind(pl_timer_chan(t)), "mutex") == 0);
	CHECK_EQ(pl_chan_cap(pl_timer_chan(t)), 1);
	CHECK_EQ(pl_chan_len(pl_timer_chan(t)), 0);
	pl_timer_free(t);
}

static void test_fires_once(void)
{
	static const int64_t delays[] = {-5 * MS, 0, 1, 50 * US, 1 * MS, 3 * MS};

	for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
		int64_t d = delays[i];

		pt_note("timer fires once, delay %lld ns", (long long)d);
		int64_t before = pl_now_ns();
		pl_timer *t = pl_timer_new(d);
		CHECK(t != NULL);
		int64_t at = recv_time(t);
		CHECK(at >= before + (d > 0 ? d : 0));
		/* Once only: nothing more by the time a later deadline has fired. */
		settle(0);
		CHECK(empty(t));
		CHECK(!pl_timer_stop(t)); /* fired and taken */
		pl_timer_free(t);
	}
}

struct ordered {
	int64_t lo, hi; /* the deadline lies in [lo, hi] */
	int64_t at;	/* fire time */
};

static int by_hi(const void *a, const void *b)
{
	const struct ordered *x = *(struct ordered *const *)a, *y = *(struct ordered *const *)b;

	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

static int by_lo(const void *a, const void *b)
{
	const struct ordered *x = *(struct ordered *const *)a, *y = *(struct ordered *const *)b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*
 * check_order - no fire before its deadline, and whenever one deadline is surely earlier than
 * another (its upper bound below the other's lower bound), it fired no later.
 */
static void check_order(struct ordered *o, size_t n)
{
	struct ordered **hi = malloc(n * sizeof(*hi)), **lo = malloc(n * sizeof(*lo));
	int64_t max_at = INT64_MIN;
	size_t i = 0;

	CHECK(hi != NULL && lo != NULL);
	for (size_t k = 0; k < n; k++) {
		CHECK(o[k].at >= o[k].lo);
		hi[k] = lo[k] = &o[k];
	}
	qsort(hi, n, sizeof(*hi), by_hi);
	qsort(lo, n, sizeof(*lo), by_lo);
	for (size_t k = 0; k < n; k++) {
		while (i < n && hi[i]->hi < lo[k]->lo) {
			if (hi[i]->at > max_at)
				max_at = hi[i]->at;
			i++;
		}
		if (lo[k]->at < max_at)
			pt_fail(__FILE__, __LINE__,
				"deadline >= %lld fired at %lld, before one surely earlier fired "
				"at %lld",
				(long long)lo[k]->lo, (long long)lo[k]->at, (long long)max_at);
	}
	free(hi);
	free(lo);
}

static void test_deadline_order(uint64_t *rng)
{
	size_t n = pt_sanitized() ? 500 : 3000;
	struct ordered *o = calloc(n, sizeof(*o));
	pl_timer **t = calloc(n, sizeof(*t));

	pt_note("deadline order, %zu timers", n);
	CHECK(o != NULL && t != NULL);
	for (size_t k = 0; k < n; k++) {
		/* 0..30 ms in steps of 10 us: many equal delays, many close deadlines. */
		int64_t d = (int64_t)(pt_rand(rng) % 3001) * 10 * US;

		o[k].lo = pl_now_ns() + d;
		t[k] = pl_timer_new(d);
		CHECK(t[k] != NULL);
		o[k].hi = pl_now_ns() + d;
	}
	for (size_t k = 0; k < n; k++) {
		o[k].at = recv_time(t[k]);
		pl_timer_free(t[k]);
	}
	check_order(o, n);
	free(o);
	free(t);
}

static void test_stop(void)
{
	pl_timer *t, *u;

	pt_note("stop before the fire: true, and it never fires");
	t = pl_timer_new(2 * MS);
	CHECK(t != NULL);
	CHECK(pl_timer_stop(t));
	settle(2 * MS);
	CHECK(empty(t));
	CHECK(!pl_timer_stop(t)); /* stopped already */
	pl_timer_free(t);

	pt_note("stop after the fire, message untaken: true (Go 1.23), message gone");
	t = pl_timer_new(0);
	CHECK(t != NULL);
	settle(0);
	CHECK_EQ(pl_chan_len(pl_timer_chan(t)), 1);
	CHECK(pl_timer_stop(t));
	CHECK(empty(t));
	CHECK(!pl_timer_stop(t));
	pl_timer_free(t);

	pt_note("stop after the fire, message taken: false");
	t = pl_timer_new(0);
	CHECK(t != NULL);
	recv_time(t);
	CHECK(!pl_timer_stop(t));
	pl_timer_free(t);

	pt_note("stop a ticker: no tick afterwards");
	t = pl_ticker_new(200 * US);
	CHECK(t != NULL);
	recv_time(t);
	CHECK(pl_timer_stop(t));
	settle(MS);
	CHECK(empty(t));
	pl_timer_free(t);

	pt_note("a stopped timer does not hold up the others");
	t = pl_timer_new(MS);
	u = pl_timer_new(2 * MS);
	CHECK(t != NULL && u != NULL);
	CHECK(pl_timer_stop(t));
	recv_time(u);
	pl_timer_free(t);
	pl_timer_free(u);
}

static void test_reset(void)
{
	pl_timer *t;
	int64_t before, at;

	pt_note("reset an armed timer to a sooner deadline");
	t = pl_timer_new(3600 * 1000 * MS);
	CHECK(t != NULL);
	before = pl_now_ns();
	CHECK_EQ(pl_timer_reset(t, MS), 0);
	at = recv_time(t);
	CHECK(at >= before + MS);

	pt_note("reset a fired timer whose message is untaken: the old message is gone");
	CHECK_EQ(pl_timer_reset(t, 0), 0);
	settle(0);
	CHECK_EQ(pl_chan_len(pl_timer_chan(t)), 1);
	before = pl_now_ns();
	CHECK_EQ(pl_timer_reset(t, 2 * MS), 0);
	CHECK(empty(t));
	at = recv_time(t);
	CHECK(at >= before + 2 * MS);

	pt_note("reset a stopped timer, and to a later deadline");
	CHECK(!pl_timer_stop(t));
	before = pl_now_ns();
	CHECK_EQ(pl_timer_reset(t, MS), 0);
	CHECK_EQ(pl_timer_reset(t, 3 * MS), 0);
	at = recv_time(t);
	CHECK(at >= before + 3 * MS);
	settle(0);
	CHECK(empty(t)); /* the first arm's fire was cancelled by the second reset */

	pt_note("reset to a negative delay: at once");
	before = pl_now_ns();
	CHECK_EQ(pl_timer_reset(t, -MS), 0);
	CHECK(recv_time(t) >= before);
	pl_timer_free(t);

	pt_note("reset a ticker: its new period");
	t = pl_ticker_new(3600 * 1000 * MS);
	CHECK(t != NULL);
	before = pl_now_ns();
	CHECK_EQ(pl_timer_reset(t, 300 * US), 0);
	for (int k = 1; k <= 5; k++) {
		at = recv_time(t);
		/* The k-th tick received is tick k or a later one of the new schedule. */
		CHECK(at >= before + k * 300 * US);
	}
	pl_timer_free(t);
}

static void test_ticker(void)
{
	int64_t period = 500 * US, before, prev, at, slow_end;
	pl_timer *k;

	pt_note("ticker: on schedule, increasing");
	before = pl_now_ns();
	k = pl_ticker_new(period);
	CHECK(k != NULL);
	prev = before;
	for (int i = 1; i <= 10; i++) {
		at = recv_time(k);
		CHECK(at >= before + i * period);
		CHECK(at > prev);
		prev = at;
	}

	pt_note("ticker: a slow reader gets one old tick, then a fresh one (drops, never queues)");
	(void)pl_timer_stop(k);
	before = pl_now_ns();
	CHECK_EQ(pl_timer_reset(k, period), 0);
	slow_end = settle(20 * period); /* ~20 ticks come and go unread */
	CHECK_EQ(pl_chan_len(pl_timer_chan(k)), 1);
	at = recv_time(k);
	CHECK(at >= before + period);
	CHECK(at < slow_end); /* the first tick, kept while the later ones were dropped */
	at = recv_time(k);
	CHECK(at > slow_end); /* sent after the channel was emptied: nothing was queued */
	pl_timer_free(k);
}

/* Free races with a fire: nothing is touched after free returns (ASan, TSan), the thread lives. */
static void test_free_racing(uint64_t *rng)
{
	int rounds = pt_sanitized() ? 300 : 3000;

	pt_note("free racing with the fire, %d rounds", rounds);
	for (int r = 0; r < rounds; r++) {
		pl_timer *t = (r & 1) ? pl_ticker_new(1 + (int64_t)(pt_rand(rng) % (20 * US)))
				      : pl_timer_new((int64_t)(pt_rand(rng) % (20 * US)));

		CHECK(t != NULL);
		pt_pause(pt_rand(rng), 30 * US, 2000);
		pl_timer_free(t);
	}
	/* The timer thread survived every race: a new timer still fires. */
	pl_timer *t = pl_timer_new(0);
	CHECK(t != NULL);
	recv_time(t);
	pl_timer_free(t);
}

struct blocked {
	pl_timer *t;
	int64_t at;
};

static void *blocked_recv(void *arg)
{
	struct blocked *b = arg;

	b->at = recv_time(b->t);
	return NULL;
}

/* A receiver parked on the channel before the fire is woken by it; so is a select-style ctx. */
static void test_blocked_receiver(void)
{
	struct blocked b;
	pthread_t th;
	int64_t before = pl_now_ns();

	pt_note("a receiver blocked before the fire");
	b.t = pl_timer_new(2 * MS);
	CHECK(b.t != NULL);
	pt_start(&th, blocked_recv, &b);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(b.at >= before + 2 * MS);

	pt_note("a receive whose context expires before the timer fires takes nothing");
	pl_ctx *cx = pl_ctx_with_timeout(NULL, MS);
	void *msg;
	CHECK(cx != NULL);
	before = pl_now_ns();
	CHECK_EQ(pl_timer_reset(b.t, 4 * MS), 0);
	CHECK_EQ(pl_chan_recv(pl_timer_chan(b.t), &msg, cx), -ETIMEDOUT);
	CHECK(recv_time(b.t) >= before + 4 * MS);
	pl_ctx_release(cx);
	pl_timer_free(b.t);
}

int main(void)
{
	uint64_t rng = pt_seed();

	pt_watchdog_start(60);
	test_args();
	test_fires_once();
	test_stop();
	test_reset();
	test_ticker();
	test_blocked_receiver();
	test_deadline_order(&rng);
	test_free_racing(&rng);
	pt_note("done");
	printf("test_timer: ok\n");
	return 0;
}
