/* SPDX-License-Identifier: MIT */
/*
 * The "backpressure" workload: open-loop producers overload slow consumers through a bounded
 * ingress, and the policy decides who pays. Modelled on the "chan" workload
 * (harness/chan_workload.c): start gate, warm-up excluded, per-thread histograms merged after the
 * join (the gate, the phases, the stall check and the open-loop schedule are the ones every
 * workload shares: harness/workload_util.h).
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
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "harness/workload_util.h"
#include "sync/die.h"

/* timeout_ns 0: the timeout policy's wait and the shedder's target. */
#define BP_TIMEOUT_DEFAULT_NS INT64_C(1000000)
/* rate_limit: the bucket's rate as a share of the consumers' nominal capacity. */
#define BP_LIMIT_SHARE 0.9

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
	unsigned idx;
	bool producer;
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
	/* Bumped by the owner (relaxed: a heartbeat), read by progress_sum(). */
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
	/* The gate, the phase, t_start and the stall check (see harness/workload_util.h). */
	struct pl__window win;
	/* Set before the gate opens; read by workers after it (the gate's mutex orders it). */
	bool latency;
	bool need_clock;
	struct pl__placer placer; /* the point's threads: ours and the primitives' */
};

/* The thread whose drop callbacks are running (NULL on the main thread). */
static _Thread_local struct bp_thread *bp_self;

static inline uint64_t measured_of(struct bp_thread *t)
{
	return atomic_load_explicit(&t->measured, memory_order_relaxed);
}

static inline int phase(struct bp *w)
{
	return pl__window_phase(&w->win);
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
	struct pl__schedule sched;

	bp_self = t;
	if (!pl__window_gate(&w->win))
		return NULL;
	if (open_loop)
		pl__schedule_init(&sched, w->rate, w->p.producers, t->idx, w->win.t_start);
	for (;;) {
		int ph = phase(w);
		bool measured = ph == PL__PH_MEASURE;
		int64_t ts = 0;
		int rc;

		if (ph == PL__PH_STOP || (by_count && measured && t->m_offered == t->share))
			break;
		if (open_loop) {
			int64_t late;

			/* The item carries its intended send time: lateness is not hidden. */
			ts = pl__schedule_next(&sched, &t->progress);
			late = pl_now_ns() - ts;
			if (late > t->lag_max)
				t->lag_max = late;
		} else if (w->need_clock) {
			ts = pl_now_ns();
		}
		t->m_offered += measured;
		if (w->lim != NULL && pl_limiter_take(w->lim, 1) != 0) {
			t->limited++;
			t->m_rejected += measured;
			pl__bump(&t->progress);
			continue;
		}
		t->offered++;
		/* BLOCK and TIMEOUT wait here: woken by a consumer's receive, or the close. */
		rc = pl_ingress_offer(w->in, pl__encode_ts(ts, measured), NULL);
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
		pl__bump(&t->progress);
	}
	if (by_count && w->need_clock)
		t->last_ns = pl_now_ns();
	pl__window_producer_exit(&w->win);
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct bp_thread *t = arg;
	struct bp *w = t->w;
	void *m;

	bp_self = t;
	if (!pl__window_gate(&w->win))
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
		pl__bump(&t->progress);
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

static int bp_check(const struct pl_params *p, struct pl_result *r)
{
	struct pl_chan_kind_info info;
	int err =
	    pl_pattern_check_params(&pl__pattern_backpressure, p, p->producers, p->consumers, r);

	if (err != 0)
		return err;
	if (p->queue_depth == 0 || p->queue_depth == PL_CHAN_UNBOUNDED)
		return pl__fail(r, -ENOTSUP,
				"an ingress is bounded: depth must be >= 1 (the chan workload runs "
				"rendezvous and unbounded channels)");
	PL_CHECK(pl_chan_kind_info(p->chan_kind, &info));
	if (mode_of(p) == PL_BP_DROP_OLDEST && info.spsc)
		return pl__fail(r, -ENOTSUP,
				"drop_oldest evicts from the producer side: %s allows one "
				"receiving thread only",
				info.name);
	if (mode_of(p) == MODE_RATE_LIMIT && p->work_ns <= 0)
		return pl__fail(r, -ENOTSUP,
				"rate_limit sets its rate from the consumers' capacity: needs "
				"work_ns > 0");
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
	pl__window_destroy(&w->win);
	free(w);
}

/* progress_sum - every thread's heartbeats, for the stall check. */
static uint64_t progress_sum(void *arg)
{
	struct bp *w = arg;

	return PL__SUM_RELAXED(w->t, w->n, progress);
}

/* window_has_data - some measured item was delivered. */
static bool window_has_data(void *arg)
{
	struct bp *w = arg;

	return PL__ANY_RELAXED(w->t, w->n, measured);
}

static int bp_setup(const struct pl_params *p, void **state, struct pl_result *r)
{
	pl_chan_opts copts = pl_chan_opts_default();
	pl_ingress_opts io;
	struct bp *w;
	int err = bp_check(p, r);

	if (err != 0)
		return err;
	w = pl__alloc_lines(sizeof(*w));
	if (w == NULL)
		return pl__fail(r, -ENOMEM, "out of memory");
	w->n = p->producers + p->consumers;
	if (pl__window_init(&w->win, w->n, &w->placer.start, progress_sum, window_has_data, w) != 0)
		goto nomem;
	err = pl__point_placer(&w->placer, p, r);
	if (err != 0)
		goto out;
	w->p = *p;
	w->mode = mode_of(p);
	w->timeout_ns = p->timeout_ns > 0 ? p->timeout_ns : BP_TIMEOUT_DEFAULT_NS;
	/* What the consumers can do, items/s, if each has a core; 0: no work. */
	w->capacity = pl__cpu_capacity_mps(p->consumers, p->work_ns);
	if (p->rate_target > 0)
		w->rate = p->rate_target;
	else if (p->work_ns > 0)
		w->rate = (double)p->producers * 1e9 / (double)p->work_ns;
	w->t = pl__alloc_lines(w->n * sizeof(*w->t));
	if (w->t == NULL)
		goto nomem;
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

	copts.spin_ns = pl__spin_ns(p);
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
			err =
			    pl__fail(r, -errno, "pl_limiter_new(%g, %zu): %s",
				     BP_LIMIT_SHARE * w->capacity, p->queue_depth, strerror(errno));
			goto out;
		}
	} else {
		io.policy = (enum pl_bp_policy)w->mode;
	}
	w->in = pl_ingress_new(&io);
	if (w->in == NULL) {
		err = pl__fail(r, -errno, "pl_ingress_new(%s, %zu): %s", p->chan_kind,
			       p->queue_depth, strerror(errno));
		goto out;
	}
	*state = w;
	return 0;
nomem:
	err = pl__fail(r, -ENOMEM, "out of memory");
out:
	bp_free(w);
	return err;
}

static void bp_teardown(void *state)
{
	bp_free(state);
}

/* ---------------------------------------------------------------- run */

/* join_all - join every thread, or abort: after the close every thread must return. */
static void join_all(struct bp *w)
{
	unsigned late;

	if (!pl__window_join(&w->win, PL__JOIN_NS, &late))
		pl__die("backpressure on %s: a %s thread did not return %lld s after the "
			"ingress was closed",
			w->p.chan_kind, w->t[late].producer ? "producing" : "consuming",
			(long long)(PL__JOIN_NS / 1000000000));
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
		return pl__fail(r, -EPROTO,
				"ingress counters do not add up: offered %llu != delivered %llu + "
				"dropped %llu + rejected %llu + queued %zu",
				(unsigned long long)st.offered, (unsigned long long)st.delivered,
				(unsigned long long)st.dropped, (unsigned long long)st.rejected,
				st.queued);
	if (st.offered != s->offered || st.accepted != s->accepted ||
	    st.dropped_newest != s->dropped_newest || st.rejected != s->rejected ||
	    st.delivered != s->delivered || st.evicted != s->evicted || st.shed != s->shed ||
	    w->freed != 0)
		return pl__fail(r, -EPROTO,
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
		return pl__fail(r, -EPROTO, "peak occupancy %zu above the bound %zu", st.peak,
				st.bound);
	if (w->mode == PL_BP_BLOCK && st.dropped != 0)
		return pl__fail(r, -EPROTO, "the block policy dropped %llu items",
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
	int64_t t1, t2 = 0;
	bool stalled;
	int err = pl__run_once(&w->ran, r);

	if (err != 0)
		return err;
	w->latency = r->latency != NULL;
	w->need_clock = w->latency || by_count;
	for (unsigned i = 0; i < p->producers && by_count; i++)
		w->t[i].share = pl__share(p->messages, p->producers, i);
	for (unsigned i = 0; i < w->n; i++) {
		struct bp_thread *t = &w->t[i];

		err = pl__window_spawn(&w->win, t->producer ? producer_main : consumer_main, t, r);
		if (err != 0)
			return err;
	}

	t1 = pl__window_start(&w->win, p->warmup_s);
	pl_ingress_stats(w->in, &st1);
	if (!by_count) {
		/* Kept open until something was delivered, or the stall check gives up. */
		t2 = pl__window_measure(&w->win, t1, p->seconds);
		pl__window_stop(&w->win);
	}
	stalled = !pl__window_wait_producers(&w->win, p->producers);
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
			return pl__fail(r, t->err, "a %s thread failed: %s",
					t->producer ? "producing" : "consuming", strerror(-t->err));
		pl__merge_latency(r, t->hist);
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
		return pl__fail(r, -ETIMEDOUT, "backpressure on %s made no progress for %lld s",
				p->chan_kind, (long long)(PL__STALL_NS / 1000000000));
	err = verify(w, &s, r);
	if (err != 0)
		return err;
	/* Nothing delivered is a result when everything measured was refused (a short run in
	 * messages mode under heavy shedding); nothing measured at all is not. */
	if (r->messages + r->dropped + r->rejected == 0)
		return pl__fail(r, -EIO,
				"nothing was measured in the window (a window too short?)");
	return 0;
}

/* A 0.5 M/s consumer offered half and twice that, per policy (lockfree); then the other
 * kinds at twice the capacity. */
static const char *const bp_quick[] = {
    "--chan lockfree --ratio 1:1 --work-ns 2000 --rate 250000,1000000 "
    "--policy block,drop_newest,drop_oldest,codel",
    "--chan multi,-lockfree --ratio 1:1 --work-ns 2000 --rate 1000000 --policy drop_newest",
    NULL,
};

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
    .throughput = "M msg/s delivered",
    .latency = "intended send to receive",
    .quick = bp_quick,
};
