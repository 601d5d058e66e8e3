/* SPDX-License-Identifier: MIT */
/*
 * The two raw channel workloads behind the pattern vtable: "chan" and "pingpong". They are
 * what "lock-free vs lock-based" is decided on, so they follow FIELD-NOTES.md §5 to the letter.
 *
 * chan: P producers -> one channel (kind, depth, spin) -> C consumers.
 * - Every message is pointer-sized and carries its own send time: msg = (t << 1) | measured,
 *   t in ns (pl_now_ns(), or the intended send time in open-loop mode), bit 0 set when the
 *   producer sent it inside the measured window. The consumer times it at dequeue
 *   (latency = dequeue time - t) into its own histogram (no shared writes on the hot path);
 *   the histograms are merged after the join.
 * - All threads wait at a start gate; the clock starts when the gate opens. The first
 *   warmup_s seconds are warm-up: messages sent then travel normally but are not counted.
 * - Seconds mode: the window is [t1, t2] on the main thread's clock; throughput = messages the
 *   producers sent inside the window (all of them are received: lost = 0) / (t2 - t1).
 *   Messages mode: the producers share the count (the first N % P send one more) and the
 *   window ends when the last consumer receives the last measured message.
 * - End: producers stop, the main thread closes the channel, consumers drain it and see
 *   -EPIPE. lost = messages whose send returned 0 minus messages received: must be 0.
 * - Open loop (rate_target > 0): producer i sends on its own schedule of rate/P per second
 *   and stamps each message with its intended send time (coordinated omission, wrk2).
 * - work_ns: the consumer busy-waits that long after each message (simulated work).
 *
 * pingpong: one thread sends on channel a, a second receives it and sends it back on
 * channel b, both of capacity queue_depth (0 allowed for rendezvous kinds); latency is one
 * round trip; messages are round trips.
 *
 * Hangs: a kind that stops making progress for PL__STALL_NS is reported as an error, not
 * waited on forever: the main thread closes the channels, which wakes every waiter.
 *
 * The start gate, the phases, the stall check and the joins are the window every workload
 * shares (pattern/workload_util.h); this file keeps what the two workloads do with it.
 *
 * Thread-safety of the state: each struct wl_thread is written by its own thread only (its
 * @progress also read by the main thread's stall check); the main thread reads the rest after
 * pthread_join(), which orders it.
 */
#include <patlab/chan.h>
#include "chan/park.h"

#include <patlab/pattern.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pattern/workload_util.h"
#include "util/die.h"

extern const struct pl_pattern pl__pattern_chan, pl__pattern_pingpong;

struct wl;

/* One per thread, each on its own cache lines. */
struct wl_thread {
	_Alignas(PL_FALSE_SHARING) struct wl *w;
	unsigned idx;
	bool producer;
	/* Written by the owner; read by the main thread after the join. */
	pl_hist *hist;
	uint64_t share; /* messages mode: measured messages this producer sends */
	uint64_t sent;	/* sends that returned 0, warm-up included */
	uint64_t measured_sent;
	uint64_t received; /* receives that returned 0, warm-up included */
	/* Measured messages received (or round trips): written by the owner only, read by
	 * window_has_data() while running (relaxed: a count, orders nothing) and after the join. */
	_Atomic uint64_t measured;
	int64_t last_ns; /* clock at the last measured receive (messages mode) */
	int err;	 /* an unexpected error from a channel operation */
	/* Bumped by the owner (relaxed: a heartbeat, orders nothing), read by the stall check
	 * (progress_sum()). */
	_Atomic uint64_t progress;
};

struct wl {
	struct pl_params p;
	bool pingpong;
	bool ran;
	pl_chan *a, *b; /* b: pingpong's return channel */
	unsigned n;	/* threads */
	struct wl_thread *t;
	/* The gate, the phase, t_start and the stall check (see pattern/workload_util.h). */
	struct pl__window win;
	/* Set by the main thread before the gate opens; read by workers after it. */
	bool latency;
	bool need_clock;
};

static inline void beat(struct wl_thread *t)
{
	pl__bump(&t->progress);
}

static inline uint64_t measured_of(struct wl_thread *t)
{
	return atomic_load_explicit(&t->measured, memory_order_relaxed);
}

static inline int phase(struct wl *w)
{
	return pl__window_phase(&w->win);
}

static void *producer_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	const bool by_count = w->p.messages > 0;
	const bool open_loop = w->p.rate_target > 0;
	struct pl__schedule sched;

	if (!pl__window_gate(&w->win))
		return NULL;
	if (open_loop)
		pl__schedule_init(&sched, w->p.rate_target, w->p.producers, t->idx, w->win.t_start);
	for (;;) {
		int ph = phase(w);
		int64_t ts = 0;
		int rc;

		if (ph == PL__PH_STOP ||
		    (by_count && ph == PL__PH_MEASURE && t->measured_sent == t->share))
			break;
		if (open_loop)
			ts = pl__schedule_next(&sched, &t->progress); /* the intended send time */
		else if (w->latency)
			ts = pl_now_ns();
		/* Blocks while full: woken by a consumer's receive, or by a close. */
		rc = pl_chan_send(w->a, pl__encode_ts(ts, ph == PL__PH_MEASURE), NULL);
		if (rc != 0) {
			if (rc != -EPIPE) /* -EPIPE: closed by the stall check, reported there */
				t->err = rc;
			break;
		}
		t->sent++;
		t->measured_sent += ph == PL__PH_MEASURE;
		beat(t);
	}
	pl__window_producer_exit(&w->win);
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	void *m;

	if (!pl__window_gate(&w->win))
		return NULL;
	for (;;) {
		/* Blocks while empty: woken by a producer's send, or by wl_run()'s close. */
		int rc = pl_chan_recv(w->a, &m, NULL);
		uint64_t v;

		if (rc != 0) {
			if (rc != -EPIPE) /* -EPIPE: closed and drained, the normal end */
				t->err = rc;
			break;
		}
		v = (uint64_t)(uintptr_t)m;
		t->received++;
		if (v & 1) {
			pl__bump(&t->measured);
			if (w->need_clock) {
				int64_t now = pl_now_ns();

				if (w->latency)
					pl_hist_record(t->hist, now - (int64_t)(v >> 1));
				t->last_ns = now;
			}
		}
		if (w->p.work_ns > 0)
			pl__busy_wait_ns(w->p.work_ns);
		beat(t);
	}
	return NULL;
}

static void *pinger_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	const bool by_count = w->p.messages > 0;
	void *m;

	if (!pl__window_gate(&w->win))
		return NULL;
	for (;;) {
		int ph = phase(w);
		int64_t ts = 0;
		int rc;

		if (ph == PL__PH_STOP ||
		    (by_count && ph == PL__PH_MEASURE && measured_of(t) == t->share))
			break;
		if (w->need_clock)
			ts = pl_now_ns();
		rc = pl_chan_send(w->a, pl__encode_ts(ts, ph == PL__PH_MEASURE), NULL);
		if (rc != 0) {
			if (rc != -EPIPE)
				t->err = rc;
			break;
		}
		t->sent++;
		/* The one message is the ponger's until it sends it back (or a close). */
		rc = pl_chan_recv(w->b, &m, NULL);
		if (rc != 0) {
			if (rc != -EPIPE)
				t->err = rc;
			break;
		}
		t->received++;
		if (ph == PL__PH_MEASURE) {
			pl__bump(&t->measured);
			if (w->need_clock) {
				int64_t now = pl_now_ns();

				if (w->latency)
					pl_hist_record(t->hist, now - ts);
				t->last_ns = now;
			}
		}
		beat(t);
	}
	/* The ponger drains a and sees -EPIPE. -EPIPE here: the stall check closed it first. */
	pl_chan_close(w->a);
	pl__window_producer_exit(&w->win);
	return NULL;
}

static void *ponger_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	void *m;

	if (!pl__window_gate(&w->win))
		return NULL;
	for (;;) {
		/* Woken by the pinger's send, or by its close when it is done. */
		int rc = pl_chan_recv(w->a, &m, NULL);

		if (rc != 0) {
			if (rc != -EPIPE)
				t->err = rc;
			break;
		}
		t->received++;
		rc = pl_chan_send(w->b, m, NULL);
		if (rc != 0) {
			if (rc != -EPIPE)
				t->err = rc;
			break;
		}
		t->sent++;
		beat(t);
	}
	return NULL;
}

/* ---------------------------------------------------------------- setup and teardown */

static void wl_free(struct wl *w)
{
	if (w == NULL)
		return;
	for (unsigned i = 0; w->t != NULL && i < w->n; i++)
		pl_hist_free(w->t[i].hist);
	free(w->t);
	pl_chan_free(w->a);
	pl_chan_free(w->b);
	pl__window_destroy(&w->win);
	free(w);
}

/* progress_sum - every thread's heartbeats: the stall check's measure of progress. */
static uint64_t progress_sum(void *arg)
{
	struct wl *w = arg;

	return PL__SUM_RELAXED(w->t, w->n, progress);
}

/* window_has_data - some measured message (or round trip) has completed. */
static bool window_has_data(void *arg)
{
	struct wl *w = arg;

	return PL__ANY_RELAXED(w->t, w->n, measured);
}

static int wl_setup(const struct pl_params *p, void **state, struct pl_result *r, bool pingpong)
{
	struct wl *w;
	int err = -ENOMEM;

	w = pl__alloc_lines(sizeof(*w));
	if (w == NULL)
		return pl__fail(r, -ENOMEM, "out of memory");
	w->p = *p;
	w->pingpong = pingpong;
	w->n = pingpong ? 2 : p->producers + p->consumers;
	if (pl__window_init(&w->win, w->n, progress_sum, window_has_data, w) != 0)
		goto nomem;
	w->t = pl__alloc_lines(w->n * sizeof(*w->t));
	if (w->t == NULL)
		goto nomem;
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		t->w = w;
		t->producer = pingpong ? i == 0 : i < p->producers;
		t->idx = pingpong || t->producer ? i : i - p->producers;
		atomic_init(&t->progress, 0);
		atomic_init(&t->measured, 0);
		/* Histograms where messages are timed: consumers, and the pinger. */
		if (!t->producer || (pingpong && i == 0)) {
			t->hist = pl_hist_new();
			if (t->hist == NULL)
				goto nomem;
		}
	}
	w->a = pl__new_chan(p, r, &err);
	if (w->a == NULL)
		goto out;
	if (pingpong) {
		w->b = pl__new_chan(p, r, &err);
		if (w->b == NULL)
			goto out;
	}
	*state = w;
	return 0;
nomem:
	err = pl__fail(r, -ENOMEM, "out of memory");
out:
	wl_free(w);
	return err;
}

static void wl_teardown(void *state)
{
	wl_free(state);
}

/* ---------------------------------------------------------------- run */

/* join_all - join every thread, or abort: after the close every thread must return. */
static void join_all(struct wl *w)
{
	unsigned late;

	if (!pl__window_join(&w->win, PL__JOIN_NS, &late))
		pl__die("kind %s: a %s thread did not return %lld s after its channel was "
			"closed (a close that wakes nobody?)",
			w->p.chan_kind, w->t[late].producer ? "sending" : "receiving",
			(long long)(PL__JOIN_NS / 1000000000));
}

static int wl_run(void *state, struct pl_result *r)
{
	struct wl *w = state;
	const struct pl_params *p = &w->p;
	const bool by_count = p->messages > 0;
	unsigned producers = w->pingpong ? 1 : p->producers;
	int64_t t1, t2;
	bool stalled = false;
	uint64_t sent = 0, received = 0, measured = 0, min_share = UINT64_MAX;
	int err = pl__run_once(&w->ran, r);

	if (err != 0)
		return err;
	w->latency = r->latency != NULL;
	w->need_clock = w->latency || by_count;
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		/* Pingpong: the pinger (idx 0) alone, so its share is every message. */
		if (t->producer && by_count)
			t->share = pl__share(p->messages, producers, t->idx);
		if (t->hist != NULL)
			pl_hist_reset(t->hist);
	}
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];
		void *(*fn)(void *);

		if (w->pingpong)
			fn = i == 0 ? pinger_main : ponger_main;
		else
			fn = t->producer ? producer_main : consumer_main;
		err = pl__window_spawn(&w->win, fn, t, r);
		if (err != 0)
			return err;
	}

	t1 = pl__window_start(&w->win, p->warmup_s);
	if (!by_count) {
		/* An oversubscribed machine can stall a round trip for longer than a short
		 * window: the window stays open until something completed. */
		t2 = pl__window_measure(&w->win, t1, p->seconds);
		pl__window_stop(&w->win);
	}
	stalled = !pl__window_wait_producers(&w->win, producers);
	if (stalled) {
		pl_chan_close(w->a);
		if (w->b != NULL)
			pl_chan_close(w->b);
	} else if (!w->pingpong) {
		pl_chan_close(w->a); /* the consumers drain what is left, then see -EPIPE */
	}
	join_all(w);

	if (by_count)
		t2 = PL__LATEST(w->t, w->n, last_ns, t1);
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		if (t->err != 0)
			return pl__fail(r, t->err, "a %s thread failed: %s",
					t->producer ? "sending" : "receiving", strerror(-t->err));
		if (w->pingpong && i == 1)
			continue; /* the ponger's counts are the pinger's, seen from the other side
				   */
		sent += t->sent;
		received += t->received;
		if (w->pingpong || !t->producer) {
			measured += measured_of(t);
			if (measured_of(t) < min_share)
				min_share = measured_of(t);
		}
		pl__merge_latency(r, t->hist);
	}
	r->messages = measured;
	r->seconds = (double)(t2 - t1) / 1e9;
	r->lost = sent > received ? sent - received : 0;
	if (!w->pingpong && p->consumers > 1 && measured > 0)
		pl_result_extra(r, "consumer_share_min",
				(double)min_share * p->consumers / (double)measured);
	if (stalled)
		return pl__fail(r, -ETIMEDOUT, "kind %s made no progress for %lld s (%s)",
				p->chan_kind, (long long)(PL__STALL_NS / 1000000000),
				r->lost ? "messages lost" : "hung");
	if (sent < received)
		return pl__fail(r, -EPROTO, "received %llu messages but only %llu were sent",
				(unsigned long long)received, (unsigned long long)sent);
	if (r->messages == 0)
		return pl__fail(r, -EIO, "nothing was measured (a window too short?)");
	return 0;
}

/* ---------------------------------------------------------------- the two vtables */

static int chan_check(const struct pl_params *p, struct pl_result *r)
{
	return pl_pattern_check_params(&pl__pattern_chan, p, p->producers, p->consumers, r);
}

static int chan_setup(const struct pl_params *p, void **state, struct pl_result *r)
{
	int err = chan_check(p, r);

	return err != 0 ? err : wl_setup(p, state, r, false);
}

static int pingpong_check(const struct pl_params *p, struct pl_result *r)
{
	/* One thread sends on each channel and one receives: a single-producer kind fits. */
	return pl_pattern_check_params(&pl__pattern_pingpong, p, 1, 1, r);
}

static int pingpong_setup(const struct pl_params *p, void **state, struct pl_result *r)
{
	int err = pingpong_check(p, r);

	return err != 0 ? err : wl_setup(p, state, r, true);
}

const struct pl_pattern pl__pattern_chan = {
    .name = "chan",
    .summary = "P producers -> one channel -> C consumers; every message timed send to receive",
    .params = PL_PARAM_CHAN_KIND | PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS | PL_PARAM_QUEUE_DEPTH |
	      PL_PARAM_WORK_NS | PL_PARAM_RATE | PL_PARAM_SPIN,
    .policies = NULL,
    .check = chan_check,
    .setup = chan_setup,
    .run = wl_run,
    .teardown = wl_teardown,
};

const struct pl_pattern pl__pattern_pingpong = {
    .name = "pingpong",
    .summary = "one message bounced between two threads through two channels; round trips",
    .params = PL_PARAM_CHAN_KIND | PL_PARAM_QUEUE_DEPTH | PL_PARAM_SPIN,
    .policies = NULL,
    .check = pingpong_check,
    .setup = pingpong_setup,
    .run = wl_run,
    .teardown = wl_teardown,
};
