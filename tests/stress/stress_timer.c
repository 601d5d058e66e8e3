/* SPDX-License-Identifier: MIT */
/*
 * stress_timer - timers under load and under races.
 *
 * 1. Many live timers: 100,000 armed at once (delays spread over ~0.5 s), a third stopped
 *    before anyone received: every stop returns true (armed, or fired but untaken: Go 1.23),
 *    every other timer delivers exactly one message, none before its deadline, and a stopped
 *    one never delivers.
 * 2. Stop against receive, one round at a time: a receiver polls the channel while the main
 *    thread stops the timer around its fire. Exactly one of "stop returned true" and "the
 *    receiver got the message": never both (a stale message after stop), never neither (a
 *    lost one).
 * 3. Threads hammering stop, reset and receives on shared timers and tickers. Each timer has a
 *    fixed delay d; a thread remembers when it last began a stop or reset of each timer. Any
 *    message it receives afterwards must come from an arm made after that call (the call
 *    removed older messages and cancelled older fires), whose deadline is at least that
 *    moment + d: a message fired earlier is a stale one.
 *
 * Nothing measures time as a pass/fail criterion; the fire times checked are the messages.
 * Length: PATLAB_STRESS_SCALE multiplies rounds and iterations (not the 100,000); PATLAB_SEED
 * replays the choices. Fewer threads under TSan. Never use this as a benchmark.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <patlab/patlab.h>

#include "check.h"
#include "helpers.h"

#define US 1000LL
#define MS 1000000LL

static long scaled(long n)
{
	long v = (long)(n * pt_scale());

	if (pt_tsan())
		v /= 10;
	return v < 1 ? 1 : v;
}

static int64_t as_time(void *msg)
{
	return (int64_t)(uintptr_t)msg;
}

/* ------------------------------------------------------------------ 1. many live timers */

static void many_live(uint64_t *rng)
{
	const size_t n = 100000;
	pl_timer **t = calloc(n, sizeof(*t));
	int64_t *lo = calloc(n, sizeof(*lo));
	size_t stopped = 0, received = 0;
	void *msg;

	CHECK(t != NULL && lo != NULL);
	pt_note("many live: arming %zu timers", n);
	for (size_t i = 0; i < n; i++) {
		int64_t d = 200 * MS + (int64_t)(pt_rand(rng) % (300 * MS));

		lo[i] = pl_now_ns() + d;
		t[i] = pl_timer_new(d);
		CHECK(t[i] != NULL);
	}
	pt_note("many live: stopping a third");
	for (size_t i = 0; i < n; i += 3) {
		CHECK(pl_timer_stop(t[i])); /* nobody received: armed or untaken, either way true */
		stopped++;
	}
	pt_note("many live: receiving the others");
	for (size_t i = 0; i < n; i++) {
		if (i % 3 == 0)
			continue;
		CHECK_EQ(pl_chan_recv(pl_timer_chan(t[i]), &msg, NULL), 0);
		CHECK(as_time(msg) >= lo[i]);
		received++;
	}
	/* Every deadline has passed and been acted on once a later timer fired. */
	pl_timer *s = pl_timer_new(MS);
	CHECK(s != NULL);
	CHECK_EQ(pl_chan_recv(pl_timer_chan(s), &msg, NULL), 0);
	pl_timer_free(s);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(pl_chan_try_recv(pl_timer_chan(t[i]), &msg), -EAGAIN);
		pl_timer_free(t[i]);
	}
	printf("many live: %zu timers, %zu stopped, %zu delivered\n", n, stopped, received);
	free(t);
	free(lo);
}

/* ------------------------------------------------------------------ 2. stop vs receive */

struct stop_round {
	pl_timer *t;
	_Atomic int stop_done;
	bool got;
	uint64_t seed;
};

static void *poll_recv(void *arg)
{
	struct stop_round *r = arg;
	uint64_t rng = r->seed;
	void *msg;

	for (;;) {
		/* Read before the try: if the stop had returned, this try is after it. */
		int done = atomic_load(&r->stop_done);

		if (pl_chan_try_recv(pl_timer_chan(r->t), &msg) == 0) {
			r->got = true;
			return NULL;
		}
		if (done)
			return NULL;
		pt_jitter(&rng);
	}
}

static void stop_vs_recv(uint64_t *rng)
{
	long n = scaled(2000), stops = 0;

	for (long i = 0; i < n; i++) {
		struct stop_round r = {.seed = pt_rand(rng)};
		pthread_t th;
		int64_t d = (int64_t)(pt_rand(rng) % (60 * US));
		bool stopped;

		pt_note("stop vs receive, round %ld, delay %lld ns", i, (long long)d);
		atomic_init(&r.stop_done, 0);
		r.t = pl_timer_new(d);
		CHECK(r.t != NULL);
		pt_start(&th, poll_recv, &r);
		pt_pause(pt_rand(rng), 80 * US, 4000);
		stopped = pl_timer_stop(r.t);
		atomic_store(&r.stop_done, 1);
		CHECK_EQ(pthread_join(th, NULL), 0);
		if (stopped == r.got)
			pt_fail(__FILE__, __LINE__, "round %ld: stop returned %d, receiver got %d",
				i, stopped, r.got);
		stops += stopped;
		pl_timer_free(r.t);
	}
	printf("stop vs receive: %ld rounds, %ld stopped first, %ld received first\n", n, stops,
	       n - stops);
}

/* ------------------------------------------------------------------ 3. hammer */

enum {
	NTIMERS = 5,
	MAX_HAMMERS = 4
};

/* Per timer: a ticker or not, and the delay (period) every reset uses. */
static const struct {
	bool ticker;
	int64_t d;
} shapes[NTIMERS] = {
    {false, 0}, {false, 20 * US}, {false, 150 * US}, {true, 50 * US}, {true, 300 * US},
};

struct hammer {
	pl_timer **t;
	long iters;
	uint64_t seed;
	long received, stale_checked;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	uint64_t rng = h->seed;
	int64_t last[NTIMERS] = {0}; /* when this thread last began a stop/reset of each timer */
	void *msg;

	for (long k = 0; k < h->iters; k++) {
		int i = (int)(pt_rand(&rng) % NTIMERS);
		pl_chan *ch = pl_timer_chan(h->t[i]);
		unsigned op = (unsigned)(pt_rand(&rng) % 8);
		int rc;

		if (op < 3) {
			last[i] = pl_now_ns();
			CHECK_EQ(pl_timer_reset(h->t[i], shapes[i].d), 0);
		} else if (op < 4) {
			last[i] = pl_now_ns();
			(void)pl_timer_stop(h->t[i]);
		} else {
			if (op < 6) {
				rc = pl_chan_try_recv(ch, &msg);
			} else {
				pl_ctx *cx = pl_ctx_with_timeout(NULL, 100 * US);
				CHECK(cx != NULL);
				rc = pl_chan_recv(ch, &msg, cx);
				pl_ctx_release(cx);
			}
			if (rc == 0) {
				h->received++;
				if (last[i] != 0) {
					h->stale_checked++;
					if (as_time(msg) < last[i] + shapes[i].d)
						pt_fail(
						    __FILE__, __LINE__,
						    "timer %d: message fired at %lld, before the "
						    "deadline of any arm after this thread's "
						    "stop/reset begun at %lld (+%lld)",
						    i, (long long)as_time(msg), (long long)last[i],
						    (long long)shapes[i].d);
				}
			} else {
				CHECK(rc == -EAGAIN || rc == -ETIMEDOUT);
			}
		}
		pt_jitter(&rng);
	}
	return NULL;
}

static void hammer(uint64_t *rng)
{
	int nh = pt_tsan() ? 2 : MAX_HAMMERS;
	pl_timer *t[NTIMERS];
	struct hammer h[MAX_HAMMERS];
	pthread_t th[MAX_HAMMERS];
	long received = 0, checked = 0;

	pt_note("hammer: %d threads on %d timers", nh, NTIMERS);
	for (int i = 0; i < NTIMERS; i++) {
		t[i] = shapes[i].ticker ? pl_ticker_new(shapes[i].d) : pl_timer_new(shapes[i].d);
		CHECK(t[i] != NULL);
	}
	for (int j = 0; j < nh; j++) {
		h[j] = (struct hammer){.t = t, .iters = scaled(60000), .seed = pt_rand(rng)};
		pt_start(&th[j], hammer_main, &h[j]);
	}
	for (int j = 0; j < nh; j++) {
		CHECK_EQ(pthread_join(th[j], NULL), 0);
		received += h[j].received;
		checked += h[j].stale_checked;
	}
	for (int i = 0; i < NTIMERS; i++)
		pl_timer_free(t[i]);
	printf("hammer: %d threads, %ld messages received, %ld checked for staleness\n", nh,
	       received, checked);
	CHECK(checked > 0);
}

int main(void)
{
	uint64_t rng = pt_seed();

	pt_watchdog_start(120);
	many_live(&rng);
	stop_vs_recv(&rng);
	hammer(&rng);
	pt_note("done");
	printf("stress_timer: ok\n");
	return 0;
}
