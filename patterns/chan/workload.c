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
 * Hangs: a kind that stops making progress for PL_WL_STALL_NS is reported as an error, not
 * waited on forever: the main thread closes the channels, which wakes every waiter.
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
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/die.h"

/* No progress by any thread for this long: the kind is hung; close and report. */
#define PL_WL_STALL_NS (10 * INT64_C(1000000000))
/* After a close, every thread must have returned within this long, or we abort the process. */
#define PL_WL_JOIN_NS (10 * INT64_C(1000000000))

enum {
	PH_WARMUP = 0,
	PH_MEASURE = 1,
	PH_STOP = 2
};

extern const struct pl_pattern pl__pattern_chan, pl__pattern_pingpong;

struct wl;

/* One per thread, each on its own cache lines. */
struct wl_thread {
	_Alignas(PL_FALSE_SHARING) struct wl *w;
	pthread_t tid;
	unsigned idx;
	bool producer;
	bool started;
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
	/* Bumped by the owner (relaxed: a heartbeat, orders nothing), read by stall_check(). */
	_Atomic uint64_t progress;
};

struct wl {
	struct pl_params p;
	bool pingpong;
	bool ran;
	pl_chan *a, *b; /* b: pingpong's return channel */
	unsigned n;	/* threads */
	struct wl_thread *t;
	/*
	 * The phase: written by the main thread only, read by the workers once per message.
	 * Relaxed: it publishes no data, it only tells producers what to tag; the data they
	 * produce reaches the main thread through pthread_join().
	 */
	_Alignas(PL_FALSE_SHARING) _Atomic int phase;
	/* Producers that finished (release, pairs with the acquire load in wait_producers()). */
	_Atomic unsigned producers_done;
	/* The start gate: workers wait on @cond until @go is non-zero. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready; /* under @lock */
	int go;		/* under @lock: 1 start, -1 abort (a thread could not be created) */
	/* Set by the main thread before opening the gate; read by workers after it (the gate's
	 * mutex orders it). */
	int64_t t_start;
	bool latency;
	bool need_clock;
	/* The stall check's memory (main thread only). */
	uint64_t last_progress;
	int64_t last_progress_ns;
};

static int fail(struct pl_result *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct pl_result *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return err;
}

static void sleep_until(int64_t t)
{
	struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* gate_wait - a worker announces itself and waits for the main thread's gate_open(). */
static bool gate_wait(struct wl *w)
{
	int go;

	PL_CHECK(pthread_mutex_lock(&w->lock));
	w->ready++;
	PL_CHECK(pthread_cond_broadcast(&w->cond)); /* wakes the main thread in gate_open() */
	while (w->go == 0)
		PL_CHECK(pthread_cond_wait(&w->cond, &w->lock)); /* woken by gate_open() */
	go = w->go;
	PL_CHECK(pthread_mutex_unlock(&w->lock));
	return go > 0;
}

/* gate_open - wait until @count workers are at the gate, then release them (or abort them). */
static void gate_open(struct wl *w, unsigned count, int go)
{
	PL_CHECK(pthread_mutex_lock(&w->lock));
	while (w->ready < count)
		PL_CHECK(pthread_cond_wait(&w->cond, &w->lock)); /* woken by gate_wait() */
	w->go = go;
	PL_CHECK(pthread_cond_broadcast(&w->cond));
	PL_CHECK(pthread_mutex_unlock(&w->lock));
}

/* bump - add one to a counter only its owner writes: a plain load and store, no RMW. */
static inline void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static inline void beat(struct wl_thread *t)
{
	bump(&t->progress);
}

static inline uint64_t measured_of(struct wl_thread *t)
{
	return atomic_load_explicit(&t->measured, memory_order_relaxed);
}

static inline int phase(struct wl *w)
{
	return atomic_load_explicit(&w->phase, memory_order_relaxed);
}

static inline void *encode(int64_t t, bool measured)
{
	return (void *)(uintptr_t)(((uint64_t)t << 1) | (measured ? 1u : 0u));
}

static void busy_wait_ns(int64_t ns)
{
	int64_t end = pl_now_ns() + ns;

	while (pl_now_ns() < end)
		pl__cpu_relax();
}

/*
 * Open loop: wait for the intended send time @due: sleep when far (a timed sleep may wake
 * ~50 us late: timer slack), then yield rather than spin, so that waiting producers leave
 * the CPU to the consumers when threads outnumber cores. Lateness is not hidden: the
 * message is stamped with @due, not with the time it actually left.
 */
static void wait_due(struct wl_thread *t, int64_t due)
{
	for (;;) {
		int64_t left = due - pl_now_ns();

		if (left <= 0)
			return;
		if (left > 200000) /* at most 1 s at a time: the stall check counts beats */
			sleep_until(left > 1000000000 ? pl_now_ns() + 1000000000 : due - 100000);
		else
			sched_yield();
		beat(t);
	}
}

static void *producer_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	const bool by_count = w->p.messages > 0;
	const bool open_loop = w->p.rate_target > 0;
	double interval = 0, due = 0;

	if (!gate_wait(w))
		return NULL;
	if (open_loop) {
		interval = 1e9 * (double)w->p.producers / w->p.rate_target;
		/* Stagger the producers evenly over one interval. */
		due = (double)w->t_start + interval * t->idx / w->p.producers;
	}
	for (;;) {
		int ph = phase(w);
		int64_t ts = 0;
		int rc;

		if (ph == PH_STOP || (by_count && ph == PH_MEASURE && t->measured_sent == t->share))
			break;
		if (open_loop) {
			wait_due(t, (int64_t)due);
			ts = (int64_t)due;
			due += interval;
		} else if (w->latency) {
			ts = pl_now_ns();
		}
		/* Blocks while full: woken by a consumer's receive, or by a close. */
		rc = pl_chan_send(w->a, encode(ts, ph == PH_MEASURE), NULL);
		if (rc != 0) {
			if (rc != -EPIPE) /* -EPIPE: closed by the stall check, reported there */
				t->err = rc;
			break;
		}
		t->sent++;
		t->measured_sent += ph == PH_MEASURE;
		beat(t);
	}
	/* Release: pairs with the acquire load in wait_producers(). */
	atomic_fetch_add_explicit(&w->producers_done, 1, memory_order_release);
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	void *m;

	if (!gate_wait(w))
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
			bump(&t->measured);
			if (w->need_clock) {
				int64_t now = pl_now_ns();

				if (w->latency)
					pl_hist_record(t->hist, now - (int64_t)(v >> 1));
				t->last_ns = now;
			}
		}
		if (w->p.work_ns > 0)
			busy_wait_ns(w->p.work_ns);
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

	if (!gate_wait(w))
		return NULL;
	for (;;) {
		int ph = phase(w);
		int64_t ts = 0;
		int rc;

		if (ph == PH_STOP || (by_count && ph == PH_MEASURE && measured_of(t) == t->share))
			break;
		if (w->need_clock)
			ts = pl_now_ns();
		rc = pl_chan_send(w->a, encode(ts, ph == PH_MEASURE), NULL);
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
		if (ph == PH_MEASURE) {
			bump(&t->measured);
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
	atomic_fetch_add_explicit(&w->producers_done, 1, memory_order_release);
	return NULL;
}

static void *ponger_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	void *m;

	if (!gate_wait(w))
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
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static pl_chan *new_chan(const struct pl_params *p, struct pl_result *r, int *err)
{
	pl_chan_opts o = pl_chan_opts_default();
	pl_chan *ch;

	if (p->spin_ns != PL_SPIN_KIND_DEFAULT)
		o.spin_ns = p->spin_ns;
	ch = pl_chan_new_opts(p->chan_kind, p->queue_depth, &o);
	if (ch != NULL)
		return ch;
	if (errno == ENOSYS)
		*err = fail(r, -ENOTSUP, "kind %s is not implemented in this build (ENOSYS)",
			    p->chan_kind);
	else if (errno == EINVAL)
		*err =
		    fail(r, -ENOTSUP, "kind %s refuses capacity %zu", p->chan_kind, p->queue_depth);
	else
		*err = fail(r, -errno, "pl_chan_new_opts(%s, %zu): %s", p->chan_kind,
			    p->queue_depth, strerror(errno));
	return NULL;
}

static int wl_setup(const struct pl_params *p, void **state, struct pl_result *r, bool pingpong)
{
	struct wl *w;
	int err = -ENOMEM;

	w = aligned_alloc(PL_FALSE_SHARING, (sizeof(*w) + PL_FALSE_SHARING - 1) / PL_FALSE_SHARING *
						PL_FALSE_SHARING);
	if (w == NULL)
		return fail(r, -ENOMEM, "out of memory");
	memset(w, 0, sizeof(*w));
	PL_CHECK(pthread_mutex_init(&w->lock, NULL));
	PL_CHECK(pthread_cond_init(&w->cond, NULL));
	w->p = *p;
	w->pingpong = pingpong;
	w->n = pingpong ? 2 : p->producers + p->consumers;
	w->t = aligned_alloc(PL_FALSE_SHARING, w->n * sizeof(*w->t));
	if (w->t == NULL)
		goto nomem;
	memset(w->t, 0, w->n * sizeof(*w->t));
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
	w->a = new_chan(p, r, &err);
	if (w->a == NULL)
		goto out;
	if (pingpong) {
		w->b = new_chan(p, r, &err);
		if (w->b == NULL)
			goto out;
	}
	*state = w;
	return 0;
nomem:
	err = fail(r, -ENOMEM, "out of memory");
out:
	wl_free(w);
	return err;
}

static void wl_teardown(void *state)
{
	wl_free(state);
}

/* ---------------------------------------------------------------- run */

/* stall_check - true when no thread made progress for PL_WL_STALL_NS. */
static bool stall_check(struct wl *w, int64_t now)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < w->n; i++)
		sum += atomic_load_explicit(&w->t[i].progress, memory_order_relaxed);
	if (sum != w->last_progress || w->last_progress_ns == 0) {
		w->last_progress = sum;
		w->last_progress_ns = now;
		return false;
	}
	return now - w->last_progress_ns > PL_WL_STALL_NS;
}

/* window_has_data - some measured message (or round trip) has completed. */
static bool window_has_data(struct wl *w)
{
	for (unsigned i = 0; i < w->n; i++)
		if (measured_of(&w->t[i]) != 0)
			return true;
	return false;
}

/*
 * wait_producers - poll (0.1 ms doubling to 10 ms: the main thread must not steal CPU from
 * the measured threads) until every producer returned. false: stalled.
 */
static bool wait_producers(struct wl *w, unsigned producers)
{
	int64_t nap = 100000;

	/* Acquire: pairs with the release increment at each producer's exit. */
	while (atomic_load_explicit(&w->producers_done, memory_order_acquire) < producers) {
		int64_t now = pl_now_ns();

		if (stall_check(w, now))
			return false;
		sleep_until(now + nap);
		if (nap < 10000000)
			nap *= 2;
	}
	return true;
}

static void join_all(struct wl *w)
{
	int64_t deadline = pl_now_ns() + PL_WL_JOIN_NS;

	for (unsigned i = 0; i < w->n; i++) {
		struct timespec rt, ts;
		int64_t left, abs;
		int rc;

		if (!w->t[i].started)
			continue;
		/* pthread_timedjoin_np waits on CLOCK_REALTIME: convert the monotonic deadline. */
		clock_gettime(CLOCK_REALTIME, &rt);
		left = deadline - pl_now_ns();
		abs = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec + (left > 0 ? left : 0);
		ts.tv_sec = abs / 1000000000;
		ts.tv_nsec = abs % 1000000000;
		rc = pthread_timedjoin_np(w->t[i].tid, NULL, &ts);
		if (rc == ETIMEDOUT)
			pl__die("kind %s: a %s thread did not return %lld s after its channel was "
				"closed (a close that wakes nobody?)",
				w->p.chan_kind, w->t[i].producer ? "sending" : "receiving",
				(long long)(PL_WL_JOIN_NS / 1000000000));
		PL_CHECK(rc);
	}
}

static int wl_run(void *state, struct pl_result *r)
{
	struct wl *w = state;
	const struct pl_params *p = &w->p;
	const bool by_count = p->messages > 0;
	unsigned producers = w->pingpong ? 1 : p->producers;
	unsigned created = 0;
	int64_t t1, t2;
	bool stalled = false;
	uint64_t sent = 0, received = 0, measured = 0, min_share = UINT64_MAX;

	if (w->ran)
		return fail(r, -EALREADY, "a workload state runs once");
	w->ran = true;
	w->latency = r->latency != NULL;
	w->need_clock = w->latency || by_count;
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		if (t->producer && by_count)
			t->share = w->pingpong ? p->messages
					       : p->messages / producers +
						     (t->idx < p->messages % producers);
		if (t->hist != NULL)
			pl_hist_reset(t->hist);
	}
	atomic_store_explicit(&w->phase, p->warmup_s > 0 ? PH_WARMUP : PH_MEASURE,
			      memory_order_relaxed);
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];
		void *(*fn)(void *);
		int rc;

		if (w->pingpong)
			fn = i == 0 ? pinger_main : ponger_main;
		else
			fn = t->producer ? producer_main : consumer_main;
		rc = pthread_create(&t->tid, NULL, fn, t);
		if (rc != 0) {
			gate_open(w, created, -1);
			for (unsigned j = 0; j < i; j++)
				PL_CHECK(pthread_join(w->t[j].tid, NULL));
			return fail(r, -rc, "pthread_create: %s", strerror(rc));
		}
		t->started = true;
		created++;
	}

	/* The gate's mutex publishes t_start to the workers. */
	w->t_start = pl_now_ns();
	gate_open(w, created, 1);
	t1 = w->t_start;
	if (p->warmup_s > 0) {
		sleep_until(w->t_start + (int64_t)(p->warmup_s * 1e9));
		t1 = pl_now_ns();
		atomic_store_explicit(&w->phase, PH_MEASURE, memory_order_relaxed);
	}
	if (!by_count) {
		sleep_until(t1 + (int64_t)(p->seconds * 1e9));
		/*
		 * A window in which nothing completed measures nothing (an oversubscribed
		 * machine can stall a round trip for longer than a short window): keep it open
		 * until something did, or until the stall check gives up. The row records the
		 * window's real length.
		 */
		while (!window_has_data(w) && !stall_check(w, pl_now_ns()))
			sleep_until(pl_now_ns() + 1000000);
		t2 = pl_now_ns();
		atomic_store_explicit(&w->phase, PH_STOP, memory_order_relaxed);
	}
	stalled = !wait_producers(w, producers);
	if (stalled) {
		pl_chan_close(w->a);
		if (w->b != NULL)
			pl_chan_close(w->b);
	} else if (!w->pingpong) {
		pl_chan_close(w->a); /* the consumers drain what is left, then see -EPIPE */
	}
	join_all(w);

	if (by_count) {
		t2 = t1;
		for (unsigned i = 0; i < w->n; i++)
			if (w->t[i].last_ns > t2)
				t2 = w->t[i].last_ns;
	}
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		if (t->err != 0)
			return fail(r, t->err, "a %s thread failed: %s",
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
		if (t->hist != NULL && r->latency != NULL)
			pl_hist_merge(r->latency, t->hist);
	}
	r->messages = measured;
	r->seconds = (double)(t2 - t1) / 1e9;
	r->lost = sent > received ? sent - received : 0;
	if (!w->pingpong && p->consumers > 1 && measured > 0)
		pl_result_extra(r, "consumer_share_min",
				(double)min_share * p->consumers / (double)measured);
	if (stalled)
		return fail(r, -ETIMEDOUT, "kind %s made no progress for %lld s (%s)", p->chan_kind,
			    (long long)(PL_WL_STALL_NS / 1000000000),
			    r->lost ? "messages lost" : "hung");
	if (sent < received)
		return fail(r, -EPROTO, "received %llu messages but only %llu were sent",
			    (unsigned long long)received, (unsigned long long)sent);
	if (r->messages == 0)
		return fail(r, -EIO, "nothing was measured (a window too short?)");
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
