/* SPDX-License-Identifier: MIT */
/*
 * The "backpressure" workload: open-loop producers overload slow consumers through a bounded
 * ingress, and the policy decides who pays. Modelled on the "chan" workload (chan/workload.c):
 * start gate, warm-up excluded, per-thread histograms merged after the join.
 *
 * Shape. P producers -> one pl_ingress (kind, bound = queue_depth, policy) -> C consumers that
 * busy-wait work_ns per item (a consumer's capacity is 1e9 / work_ns items per second).
 * - Open loop: the producers together offer rate_target items per second, each on its own
 *   schedule, staggered; with rate_target 0 and work_ns > 0 every producer offers at one
 *   consumer's capacity, so the overload is P / C (when every consumer has a core): the
 *   producer:consumer ratio sweeps the overload. With both 0 the producers offer as fast as
 *   they can (closed loop).
 * - Latency: intended send time -> delivered (the consumer's receive), coordinated omission
 *   corrected (wrk2): an offer that blocks, or a producer that falls behind its schedule,
 *   shows up in the latency of what it sends. Items are pointer-sized: (t << 1) | measured.
 * - Policies: the ingress's five ("block" first, the default; "timeout" waits timeout_ns);
 *   "codel" and "shed": drop_newest at the bound plus the shedder on receive (target
 *   timeout_ns, interval 20 x target; mode PL_SHED_CODEL or PL_SHED_LATE); "rate_limit": a
 *   token bucket at 90% of the consumers' nominal capacity, burst = queue_depth, in front of
 *   a "reject" ingress (what it refuses counts as rejected). timeout_ns 0 means 1 ms.
 * - Result: messages = measured items delivered; dropped = measured items dropped (refused by
 *   drop_newest, evicted, shed); rejected = measured items refused (reject, timeout, rate
 *   limit); extras: peak_occupancy, blocked_ns (producers' total time blocked in the measured
 *   window), shed and evicted (measured items), offered (measured offers), lag_max_ns (how far
 *   the producers fell behind their schedule: where "block" puts the queue), capacity_mps (the
 *   consumers' nominal capacity), rate_mps (the offered rate; 0: closed loop).
 * - End: producers stop, the ingress is closed, consumers drain it. Then every count the
 *   workload kept is checked against the ingress's counters and its conservation identity
 *   (offered = delivered + dropped + rejected, nothing queued); lost = accepted items never
 *   delivered nor dropped, which must be 0. A mismatch fails the point with -EPROTO.
 *
 * Thread-safety of the state: each struct bp_thread is written by its own thread (drop
 * callbacks run on the dropping thread and find it through a thread-local pointer); its
 * @progress and @measured are also read by the main thread while running (relaxed); the rest
 * is read after pthread_join(), which orders it.
 */
#include <patlab/backpressure.h>
#include <patlab/chan.h>
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
#include <unistd.h>

#include "chan/park.h"
#include "util/die.h"

/* No progress by any thread for this long: report a hang (close, fail the point). */
#define BP_STALL_NS (10 * INT64_C(1000000000))
/* After the close, every thread must have returned within this long, or we abort. */
#define BP_JOIN_NS (10 * INT64_C(1000000000))
/* timeout_ns 0: the timeout policy's wait and the shedder's target. */
#define BP_TIMEOUT_DEFAULT_NS INT64_C(1000000)
/* rate_limit: the bucket's rate as a share of the consumers' nominal capacity. */
#define BP_LIMIT_SHARE 0.9

enum {
	PH_WARMUP = 0,
	PH_MEASURE = 1,
	PH_STOP = 2
};

/* The workload's policies: the ingress's five, then the three that add a mechanism. */
enum bp_mode {
	MODE_CODEL = 5,
	MODE_SHED = 6,
	MODE_RATE_LIMIT = 7,
};

static const char *const bp_policies[] = {
    "block", "timeout", "drop_newest", "drop_oldest", "reject", "codel", "shed", "rate_limit", NULL,
};

extern const struct pl_pattern pl__pattern_backpressure;

struct bp;

/* One per thread, each on its own cache lines. Written by its thread only (see the top). */
struct bp_thread {
	_Alignas(PL_FALSE_SHARING) struct bp *w;
	pthread_t tid;
	unsigned idx;
	bool producer;
	bool started;
	pl_hist *hist;	/* consumers */
	uint64_t share; /* messages mode: measured offers this producer makes */
	/* Every item, warm-up included (checked against the ingress's counters). */
	uint64_t offered; /* offers to the ingress (rate-limited ones not included) */
	uint64_t limited; /* refused by the rate limiter */
	uint64_t accepted, dropped_newest, rejected;
	uint64_t delivered;	/* consumers */
	uint64_t evicted, shed; /* drop callbacks run on this thread */
	/* Measured items (bit 0 of the item set). */
	uint64_t m_offered, m_dropped, m_rejected, m_shed, m_evicted;
	int64_t lag_max; /* open loop: the latest an offer started after its due time */
	int64_t last_ns; /* messages mode: the clock when this thread last counted */
	int err;
	/* Measured items delivered: written by the owner, read by window_has_data() (relaxed). */
	_Atomic uint64_t measured;
	/* Bumped by the owner (relaxed: a heartbeat), read by stall_check(). */
	_Atomic uint64_t progress;
};

struct bp {
	struct pl_params p;
	int mode; /* enum pl_bp_policy, or enum bp_mode */
	int64_t timeout_ns;
	double rate;	 /* items/s over all producers; 0: closed loop */
	double capacity; /* the consumers' nominal capacity, items/s; 0: unknown (no work) */
	bool ran;
	pl_ingress *in;
	pl_limiter *lim;
	unsigned n;
	struct bp_thread *t;
	uint64_t freed; /* items left queued at pl_ingress_free(): main thread only */
	/* The phase: written by the main thread, read by the workers (relaxed: it publishes
	 * nothing; the data reaches the main thread through pthread_join()). */
	_Alignas(PL_FALSE_SHARING) _Atomic int phase;
	/* Producers that finished (release; pairs with the acquire in wait_producers()). */
	_Atomic unsigned producers_done;
	/* The start gate: workers wait on @cond until @go is non-zero. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready; /* under @lock */
	int go;		/* under @lock: 1 start, -1 abort */
	/* Set before the gate opens; read by workers after it (the gate's mutex orders it). */
	int64_t t_start;
	bool latency;
	bool need_clock;
	/* The stall check's memory (main thread only). */
	uint64_t last_progress;
	int64_t last_progress_ns;
};

/* The thread whose drop callbacks are running (NULL on the main thread). */
static _Thread_local struct bp_thread *bp_self;

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
static bool gate_wait(struct bp *w)
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

/* gate_open - wait until @count workers are at the gate, then release (or abort) them. */
static void gate_open(struct bp *w, unsigned count, int go)
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

static inline uint64_t measured_of(struct bp_thread *t)
{
	return atomic_load_explicit(&t->measured, memory_order_relaxed);
}

static inline int phase(struct bp *w)
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
 * wait_due - open loop: wait for the intended send time @due: sleep when far (a timed sleep
 * may wake ~50 us late), then yield, so that waiting producers leave the CPU to the consumers.
 * Lateness is not hidden: the item carries @due, not the time it left.
 */
static void wait_due(struct bp_thread *t, int64_t due)
{
	for (;;) {
		int64_t left = due - pl_now_ns();

		if (left <= 0)
			return;
		if (left > 200000) /* at most 1 s at a time: the stall check counts beats */
			sleep_until(left > 1000000000 ? pl_now_ns() + 1000000000 : due - 100000);
		else
			sched_yield();
		bump(&t->progress);
	}
}

/* on_drop - the ingress dropped an item (evicted by a producer, shed by a consumer). */
static void on_drop(void *item, enum pl_drop_reason why, void *user)
{
	struct bp *w = user;
	struct bp_thread *t = bp_self;
	bool measured = ((uintptr_t)item & 1) != 0;

	if (t == NULL || why == PL_DROP_FREED) {
		w->freed++; /* only pl_ingress_free() on the main thread, after the join */
		return;
	}
	if (why == PL_DROP_EVICTED) {
		t->evicted++;
		t->m_evicted += measured;
	} else {
		t->shed++;
		t->m_shed += measured;
	}
	t->m_dropped += measured;
}

static void *producer_main(void *arg)
{
	struct bp_thread *t = arg;
	struct bp *w = t->w;
	const bool by_count = w->p.messages > 0;
	const bool open_loop = w->rate > 0;
	double interval = 0, due = 0;

	bp_self = t;
	if (!gate_wait(w))
		return NULL;
	if (open_loop) {
		interval = 1e9 * (double)w->p.producers / w->rate;
		/* Stagger the producers evenly over one interval. */
		due = (double)w->t_start + interval * t->idx / w->p.producers;
	}
	for (;;) {
		int ph = phase(w);
		bool measured = ph == PH_MEASURE;
		int64_t ts = 0;
		int rc;

		if (ph == PH_STOP || (by_count && measured && t->m_offered == t->share))
			break;
		if (open_loop) {
			int64_t late;

			wait_due(t, (int64_t)due);
			ts = (int64_t)due;
			late = pl_now_ns() - ts;
			if (late > t->lag_max)
				t->lag_max = late;
			due += interval;
		} else if (w->need_clock) {
			ts = pl_now_ns();
		}
		t->m_offered += measured;
		if (w->lim != NULL && pl_limiter_take(w->lim, 1) != 0) {
			t->limited++;
			t->m_rejected += measured;
			bump(&t->progress);
			continue;
		}
		t->offered++;
		/* BLOCK and TIMEOUT wait here: woken by a consumer's receive, or the close. */
		rc = pl_ingress_offer(w->in, encode(ts, measured), NULL);
		if (rc == 0) {
			t->accepted++;
		} else if (rc == -ENOBUFS) {
			t->dropped_newest++;
			t->m_dropped += measured;
		} else if (rc == -EAGAIN || rc == -ETIMEDOUT) {
			t->rejected++;
			t->m_rejected += measured;
		} else {
			t->rejected++;	  /* counted by the ingress too */
			if (rc != -EPIPE) /* -EPIPE: closed by the stall check, reported there */
				t->err = rc;
			break;
		}
		bump(&t->progress);
	}
	if (by_count && w->need_clock)
		t->last_ns = pl_now_ns();
	/* Release: pairs with the acquire load in wait_producers(). */
	atomic_fetch_add_explicit(&w->producers_done, 1, memory_order_release);
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct bp_thread *t = arg;
	struct bp *w = t->w;
	void *m;

	bp_self = t;
	if (!gate_wait(w))
		return NULL;
	for (;;) {
		/* Blocks while empty: woken by an offer, or by the close at the end. */
		int rc = pl_ingress_recv(w->in, &m, NULL);
		uint64_t v;

		if (rc != 0) {
			if (rc != -EPIPE) /* -EPIPE: closed and drained, the normal end */
				t->err = rc;
			break;
		}
		v = (uint64_t)(uintptr_t)m;
		t->delivered++;
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
		bump(&t->progress);
	}
	return NULL;
}

/* ---------------------------------------------------------------- check, setup, teardown */

static int mode_of(const struct pl_params *p)
{
	const char *name = p->policy != NULL ? p->policy : bp_policies[0];

	for (int i = 0; bp_policies[i] != NULL; i++)
		if (strcmp(name, bp_policies[i]) == 0)
			return i;
	return -1; /* refused by pl_pattern_check_params() */
}

/* nominal_capacity - what the consumers can do, items/s, if each has a core; 0: no work. */
static double nominal_capacity(const struct pl_params *p)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned busy = p->consumers;

	if (p->work_ns <= 0)
		return 0;
	if (cpus > 0 && busy > (unsigned long)cpus)
		busy = (unsigned)cpus;
	return (double)busy * 1e9 / (double)p->work_ns;
}

static int bp_check(const struct pl_params *p, struct pl_result *r)
{
	struct pl_chan_kind_info info;
	int err =
	    pl_pattern_check_params(&pl__pattern_backpressure, p, p->producers, p->consumers, r);

	if (err != 0)
		return err;
	if (p->queue_depth == 0 || p->queue_depth == PL_CHAN_UNBOUNDED)
		return fail(r, -ENOTSUP,
			    "an ingress is bounded: depth must be >= 1 (the chan workload runs "
			    "rendezvous and unbounded channels)");
	PL_CHECK(pl_chan_kind_info(p->chan_kind, &info));
	if (mode_of(p) == PL_BP_DROP_OLDEST && info.spsc)
		return fail(r, -ENOTSUP,
			    "drop_oldest evicts from the producer side: %s allows one "
			    "receiving thread only",
			    info.name);
	if (mode_of(p) == MODE_RATE_LIMIT && p->work_ns <= 0)
		return fail(r, -ENOTSUP,
			    "rate_limit sets its rate from the consumers' capacity: needs work_ns "
			    "> 0");
	return 0;
}

static void bp_free(struct bp *w)
{
	if (w == NULL)
		return;
	for (unsigned i = 0; w->t != NULL && i < w->n; i++)
		pl_hist_free(w->t[i].hist);
	free(w->t);
	pl_ingress_free(w->in);
	pl_limiter_free(w->lim);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static int bp_setup(const struct pl_params *p, void **state, struct pl_result *r)
{
	pl_chan_opts copts = pl_chan_opts_default();
	pl_ingress_opts io;
	struct bp *w;
	size_t size;
	int err = bp_check(p, r);

	if (err != 0)
		return err;
	size = (sizeof(*w) + PL_FALSE_SHARING - 1) / PL_FALSE_SHARING * PL_FALSE_SHARING;
	w = aligned_alloc(PL_FALSE_SHARING, size);
	if (w == NULL)
		return fail(r, -ENOMEM, "out of memory");
	memset(w, 0, size);
	PL_CHECK(pthread_mutex_init(&w->lock, NULL));
	PL_CHECK(pthread_cond_init(&w->cond, NULL));
	w->p = *p;
	w->mode = mode_of(p);
	w->timeout_ns = p->timeout_ns > 0 ? p->timeout_ns : BP_TIMEOUT_DEFAULT_NS;
	w->capacity = nominal_capacity(p);
	if (p->rate_target > 0)
		w->rate = p->rate_target;
	else if (p->work_ns > 0)
		w->rate = (double)p->producers * 1e9 / (double)p->work_ns;
	w->n = p->producers + p->consumers;
	w->t = aligned_alloc(PL_FALSE_SHARING, w->n * sizeof(*w->t));
	if (w->t == NULL)
		goto nomem;
	memset(w->t, 0, w->n * sizeof(*w->t));
	for (unsigned i = 0; i < w->n; i++) {
		struct bp_thread *t = &w->t[i];

		t->w = w;
		t->producer = i < p->producers;
		t->idx = t->producer ? i : i - p->producers;
		atomic_init(&t->progress, 0);
		atomic_init(&t->measured, 0);
		if (!t->producer) {
			t->hist = pl_hist_new();
			if (t->hist == NULL)
				goto nomem;
		}
	}

	if (p->spin_ns != PL_SPIN_KIND_DEFAULT)
		copts.spin_ns = p->spin_ns;
	memset(&io, 0, sizeof(io));
	io.bound = p->queue_depth;
	io.chan_kind = p->chan_kind;
	io.chan_opts = &copts;
	io.timeout_ns = w->timeout_ns;
	io.on_drop = on_drop;
	io.drop_user = w;
	if (w->mode == MODE_CODEL || w->mode == MODE_SHED) {
		io.policy = PL_BP_DROP_NEWEST;
		io.shed_target_ns = w->timeout_ns;
		io.shed_mode = w->mode == MODE_SHED ? PL_SHED_LATE : PL_SHED_CODEL;
	} else if (w->mode == MODE_RATE_LIMIT) {
		io.policy = PL_BP_REJECT;
		w->lim = pl_limiter_new(BP_LIMIT_SHARE * w->capacity, (double)p->queue_depth);
		if (w->lim == NULL) {
			err = fail(r, -errno, "pl_limiter_new(%g, %zu): %s",
				   BP_LIMIT_SHARE * w->capacity, p->queue_depth, strerror(errno));
			goto out;
		}
	} else {
		io.policy = (enum pl_bp_policy)w->mode;
	}
	w->in = pl_ingress_new(&io);
	if (w->in == NULL) {
		if (errno == ENOSYS)
			err = fail(r, -ENOTSUP, "kind %s is not implemented in this build (ENOSYS)",
				   p->chan_kind);
		else
			err = fail(r, -errno, "pl_ingress_new(%s, %zu): %s", p->chan_kind,
				   p->queue_depth, strerror(errno));
		goto out;
	}
	*state = w;
	return 0;
nomem:
	err = fail(r, -ENOMEM, "out of memory");
out:
	bp_free(w);
	return err;
}

static void bp_teardown(void *state)
{
	bp_free(state);
}

/* ---------------------------------------------------------------- run */

/* stall_check - true when no thread made progress for BP_STALL_NS. */
static bool stall_check(struct bp *w, int64_t now)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < w->n; i++)
		sum += atomic_load_explicit(&w->t[i].progress, memory_order_relaxed);
	if (sum != w->last_progress || w->last_progress_ns == 0) {
		w->last_progress = sum;
		w->last_progress_ns = now;
		return false;
	}
	return now - w->last_progress_ns > BP_STALL_NS;
}

/* window_has_data - some measured item was delivered. */
static bool window_has_data(struct bp *w)
{
	for (unsigned i = 0; i < w->n; i++)
		if (measured_of(&w->t[i]) != 0)
			return true;
	return false;
}

/* wait_producers - poll (0.1 ms doubling to 10 ms) until every producer returned; false: stall. */
static bool wait_producers(struct bp *w)
{
	int64_t nap = 100000;

	/* Acquire: pairs with the release increment at each producer's exit. */
	while (atomic_load_explicit(&w->producers_done, memory_order_acquire) < w->p.producers) {
		int64_t now = pl_now_ns();

		if (stall_check(w, now))
			return false;
		sleep_until(now + nap);
		if (nap < 10000000)
			nap *= 2;
	}
	return true;
}

static void join_all(struct bp *w)
{
	int64_t deadline = pl_now_ns() + BP_JOIN_NS;

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
			pl__die("backpressure on %s: a %s thread did not return %lld s after the "
				"ingress was closed",
				w->p.chan_kind, w->t[i].producer ? "producing" : "consuming",
				(long long)(BP_JOIN_NS / 1000000000));
		PL_CHECK(rc);
	}
}

/* struct bp_sum - the threads' counts added up. */
struct bp_sum {
	uint64_t offered, limited, accepted, dropped_newest, rejected, delivered, evicted, shed;
	uint64_t m_offered, m_dropped, m_rejected, m_shed, m_evicted, measured;
	int64_t lag_max, last_ns;
};

static void sum_threads(struct bp *w, struct bp_sum *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < w->n; i++) {
		struct bp_thread *t = &w->t[i];

		s->offered += t->offered;
		s->limited += t->limited;
		s->accepted += t->accepted;
		s->dropped_newest += t->dropped_newest;
		s->rejected += t->rejected;
		s->delivered += t->delivered;
		s->evicted += t->evicted;
		s->shed += t->shed;
		s->m_offered += t->m_offered;
		s->m_dropped += t->m_dropped;
		s->m_rejected += t->m_rejected;
		s->m_shed += t->m_shed;
		s->m_evicted += t->m_evicted;
		s->measured += measured_of(t);
		if (t->lag_max > s->lag_max)
			s->lag_max = t->lag_max;
		if (t->last_ns > s->last_ns)
			s->last_ns = t->last_ns;
	}
}

/*
 * verify - the workload's counts against the ingress's, and the conservation identity, once
 * every thread is joined and the ingress drained. 0, or -EPROTO with @r->why.
 */
static int verify(struct bp *w, const struct bp_sum *s, struct pl_result *r)
{
	struct pl_ingress_stats st;

	pl_ingress_stats(w->in, &st);
	r->lost = s->accepted > s->delivered + s->evicted + s->shed
		      ? s->accepted - s->delivered - s->evicted - s->shed
		      : 0;
	if (st.offered != st.delivered + st.dropped + st.rejected + st.queued || st.queued != 0)
		return fail(r, -EPROTO,
			    "ingress counters do not add up: offered %llu != delivered %llu + "
			    "dropped %llu + rejected %llu + queued %zu",
			    (unsigned long long)st.offered, (unsigned long long)st.delivered,
			    (unsigned long long)st.dropped, (unsigned long long)st.rejected,
			    st.queued);
	if (st.offered != s->offered || st.accepted != s->accepted ||
	    st.dropped_newest != s->dropped_newest || st.rejected != s->rejected ||
	    st.delivered != s->delivered || st.evicted != s->evicted || st.shed != s->shed ||
	    w->freed != 0)
		return fail(r, -EPROTO,
			    "ingress counters disagree with the workload's (offered %llu/%llu, "
			    "accepted %llu/%llu, delivered %llu/%llu, evicted %llu/%llu, shed "
			    "%llu/%llu, left queued %llu)",
			    (unsigned long long)st.offered, (unsigned long long)s->offered,
			    (unsigned long long)st.accepted, (unsigned long long)s->accepted,
			    (unsigned long long)st.delivered, (unsigned long long)s->delivered,
			    (unsigned long long)st.evicted, (unsigned long long)s->evicted,
			    (unsigned long long)st.shed, (unsigned long long)s->shed,
			    (unsigned long long)w->freed);
	if (st.peak > st.bound)
		return fail(r, -EPROTO, "peak occupancy %zu above the bound %zu", st.peak,
			    st.bound);
	if (w->mode == PL_BP_BLOCK && st.dropped != 0)
		return fail(r, -EPROTO, "the block policy dropped %llu items",
			    (unsigned long long)st.dropped);
	return 0;
}

static int bp_run(void *state, struct pl_result *r)
{
	struct bp *w = state;
	const struct pl_params *p = &w->p;
	const bool by_count = p->messages > 0;
	struct pl_ingress_stats st1, st2;
	struct bp_sum s;
	unsigned created = 0;
	int64_t t1, t2 = 0;
	bool stalled;
	int err;

	if (w->ran)
		return fail(r, -EALREADY, "a workload state runs once");
	w->ran = true;
	w->latency = r->latency != NULL;
	w->need_clock = w->latency || by_count;
	for (unsigned i = 0; i < p->producers && by_count; i++)
		w->t[i].share = p->messages / p->producers + (i < p->messages % p->producers);
	atomic_store_explicit(&w->phase, p->warmup_s > 0 ? PH_WARMUP : PH_MEASURE,
			      memory_order_relaxed);
	for (unsigned i = 0; i < w->n; i++) {
		struct bp_thread *t = &w->t[i];
		int rc =
		    pthread_create(&t->tid, NULL, t->producer ? producer_main : consumer_main, t);

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
	pl_ingress_stats(w->in, &st1);
	if (!by_count) {
		sleep_until(t1 + (int64_t)(p->seconds * 1e9));
		/* A window in which nothing was delivered measures nothing: keep it open until
		 * something was, or the stall check gives up. The row records its real length. */
		while (!window_has_data(w) && !stall_check(w, pl_now_ns()))
			sleep_until(pl_now_ns() + 1000000);
		t2 = pl_now_ns();
		atomic_store_explicit(&w->phase, PH_STOP, memory_order_relaxed);
	}
	stalled = !wait_producers(w);
	if (by_count)
		t2 = pl_now_ns();
	pl_ingress_stats(w->in, &st2);
	pl_ingress_close(w->in); /* the consumers drain what is left, then see -EPIPE */
	join_all(w);

	sum_threads(w, &s);
	if (by_count && s.last_ns > t2)
		t2 = s.last_ns;
	for (unsigned i = 0; i < w->n; i++) {
		struct bp_thread *t = &w->t[i];

		if (t->err != 0)
			return fail(r, t->err, "a %s thread failed: %s",
				    t->producer ? "producing" : "consuming", strerror(-t->err));
		if (t->hist != NULL && r->latency != NULL)
			pl_hist_merge(r->latency, t->hist);
	}
	r->messages = s.measured;
	r->seconds = (double)(t2 - t1) / 1e9;
	r->dropped = s.m_dropped;
	r->rejected = s.m_rejected;
	pl_result_extra(r, "peak_occupancy", (double)st2.peak);
	pl_result_extra(r, "blocked_ns", (double)(st2.blocked_ns - st1.blocked_ns));
	pl_result_extra(r, "shed", (double)s.m_shed);
	pl_result_extra(r, "evicted", (double)s.m_evicted);
	pl_result_extra(r, "offered", (double)s.m_offered);
	pl_result_extra(r, "lag_max_ns", (double)s.lag_max);
	pl_result_extra(r, "capacity_mps", w->capacity);
	pl_result_extra(r, "rate_mps", w->rate);
	if (stalled)
		return fail(r, -ETIMEDOUT, "backpressure on %s made no progress for %lld s",
			    p->chan_kind, (long long)(BP_STALL_NS / 1000000000));
	err = verify(w, &s, r);
	if (err != 0)
		return err;
	/* Nothing delivered is a result when everything measured was refused (a short run in
	 * messages mode under heavy shedding); nothing measured at all is not. */
	if (r->messages + r->dropped + r->rejected == 0)
		return fail(r, -EIO, "nothing was measured in the window (a window too short?)");
	return 0;
}

const struct pl_pattern pl__pattern_backpressure = {
    .name = "backpressure",
    .summary = "open-loop producers overload slow consumers through a bounded ingress; policy "
	       "decides who pays",
    .params = PL_PARAM_CHAN_KIND | PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS | PL_PARAM_QUEUE_DEPTH |
	      PL_PARAM_WORK_NS | PL_PARAM_RATE | PL_PARAM_POLICY | PL_PARAM_SPIN | PL_PARAM_TIMEOUT,
    .policies = bp_policies,
    .check = bp_check,
    .setup = bp_setup,
    .run = bp_run,
    .teardown = bp_teardown,
};
