/* SPDX-License-Identifier: MIT */
/*
 * Stress test of patlab/backpressure.h. Never use this as a benchmark.
 *
 * Ingress, for every kind and policy (plus drop_newest with either shedder, and drop_oldest with
 * a single producer): P producers offer unique items (producer << 32 | seq) with random
 * jitter; C consumers receive them with random jitter; the run is cut into rounds whose
 * "mood" (consumers slower than producers, faster, or mixed) is drawn from the seed, so the
 * ingress goes full and empty many times. Checked:
 * - exactly one fate per item: a fate table of bits, set with fetch_or by whoever decides it
 *   (the offer's return code, the receiving consumer, the drop callback); an item gets at most
 *   one terminal fate, and in the end every item has exactly one: delivered, evicted or shed
 *   (after being accepted), or refused (dropped_newest, rejected).
 * - conservation at every quiescent point (between rounds: producers stop, then consumers
 *   stop; the queue may hold items) and after close and drain: the ingress's counters equal
 *   the test's own counts, and offered = delivered + dropped + rejected + queued, queued = its
 *   length = accepted - delivered - evicted - shed.
 * - the bound: an observer thread samples the length all along (and the ingress itself aborts
 *   if its occupancy ever passes the bound); the peak never passes it.
 * - block never drops; per-producer FIFO at every consumer (survivors of drop_oldest too); with
 *   one producer, drop_oldest evicts in increasing order (the oldest first); every shed item
 *   had waited at least the shedder's target.
 *
 * Limiter: T threads take and wait (some with deadlines) against one token bucket for a short
 * while. Each grant is logged with its call's start and return time; since a grant's due time
 * lies between them, the grants whose calls both started and returned inside a window [a, b]
 * are a lower bound on what the bucket granted in it, and must be at most
 * burst + rate * (b - a): checked over many windows (never a lower bound on grants: that would
 * be a timing assertion).
 *
 * Seeded (PATLAB_SEED), scaled (PATLAB_STRESS_SCALE), fewer threads and items under TSan,
 * watchdog with the current configuration as its note.
 */
#include <patlab/backpressure.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

#define US INT64_C(1000)
#define MS INT64_C(1000000)

enum {
	F_ACC = 1,  /* offer returned 0 */
	F_DLV = 2,  /* a consumer received it */
	F_EVI = 4,  /* evicted by drop_oldest */
	F_SHD = 8,  /* shed */
	F_NEW = 16, /* refused by drop_newest (-ENOBUFS) */
	F_REJ = 32, /* refused (-EAGAIN, -ETIMEDOUT) */
	F_TERMINAL = F_DLV | F_EVI | F_SHD | F_NEW | F_REJ,
};

enum {
	MOOD_SLOW_CONSUMERS = 0,
	MOOD_FAST_CONSUMERS = 1,
	MOOD_MIXED = 2,
};

#define MAXP 8
#define MAXC 8

struct cfg {
	const char *kind;
	enum pl_bp_policy policy;
	bool shed;
	enum pl_shed_mode shed_mode;
	unsigned producers, consumers;
	size_t bound;
};

struct run {
	struct cfg c;
	pl_ingress *in;
	uint64_t per_round; /* items per producer per round */
	unsigned rounds;
	int64_t shed_target;
	uint64_t seed;
	_Atomic uint8_t *fate[MAXP];
	int64_t *born[MAXP]; /* pl_now_ns() before the offer; read by the shed check */
	/* The test's own counts (relaxed; read at quiescent points, ordered by @m). */
	_Atomic uint64_t offered, accepted, delivered, evicted, shed, newest, rejected;
	/* drop_oldest with one producer: the last evicted sequence number (+1). */
	uint64_t last_evicted;
	/* Round protocol, under @m: workers arrive, the main thread checks, then bumps @gen. */
	pthread_mutex_t m;
	pthread_cond_t cv;
	unsigned gen;
	unsigned arrived_p, arrived_c;
	unsigned mood;
	pl_ctx *epoch; /* consumers' receive context; cancelled to stop them at a round's end */
	_Atomic int stop_consumers;
	_Atomic int stop_observer;
	_Atomic uint64_t samples;
};

struct worker {
	struct run *r;
	unsigned idx;
	uint64_t rng;
	uint64_t last[MAXP]; /* consumers: last sequence number (+1) seen per producer */
};

static _Thread_local struct worker *self;

static void mark(struct run *r, uint64_t item, uint8_t bit)
{
	unsigned p = (unsigned)(item >> 32);
	uint64_t seq = item & 0xffffffffu;
	uint8_t old;

	CHECK(p < r->c.producers && seq < r->per_round * r->rounds);
	old = atomic_fetch_or_explicit(&r->fate[p][seq], bit, memory_order_relaxed);
	if ((bit & F_TERMINAL) && (old & F_TERMINAL))
		pt_fail(__FILE__, __LINE__, "item %u/%llu: fate %#x on top of %#x", p,
			(unsigned long long)seq, bit, old);
	if (bit == F_ACC && (old & (F_ACC | F_NEW | F_REJ)))
		pt_fail(__FILE__, __LINE__, "item %u/%llu accepted on top of %#x", p,
			(unsigned long long)seq, old);
}

static void on_drop(void *item, enum pl_drop_reason why, void *user)
{
	struct run *r = user;
	uint64_t v = (uint64_t)(uintptr_t)item;

	if (why == PL_DROP_EVICTED) {
		mark(r, v, F_EVI);
		atomic_fetch_add_explicit(&r->evicted, 1, memory_order_relaxed);
		if (r->c.producers == 1) {
			/* Only the one producer evicts: its callbacks come in eviction order. */
			CHECK((v & 0xffffffffu) + 1 > r->last_evicted);
			r->last_evicted = (v & 0xffffffffu) + 1;
		}
	} else if (why == PL_DROP_SHED) {
		unsigned p = (unsigned)(v >> 32);

		/* born[] was written before the offer; the offer happens before this receive. */
		CHECK(pl_now_ns() - r->born[p][v & 0xffffffffu] >= r->shed_target);
		mark(r, v, F_SHD);
		atomic_fetch_add_explicit(&r->shed, 1, memory_order_relaxed);
	} else {
		pt_fail(__FILE__, __LINE__, "unexpected drop reason %d", (int)why);
	}
}

static void spin_ns(int64_t ns)
{
	int64_t end = pl_now_ns() + ns;

	while (pl_now_ns() < end)
		;
}

/* jitter - a random pause: usually none, sometimes a spin, a yield, or a short sleep. */
static void jitter(uint64_t *rng, int64_t spin_max)
{
	uint64_t x = pt_rand(rng);

	switch (x % 32) {
	case 0:
	case 1:
	case 2:
	case 3:
		if (spin_max > 0)
			spin_ns((int64_t)((x >> 8) % (uint64_t)spin_max));
		break;
	case 4:
		sched_yield();
		break;
	case 5:
		if ((x >> 8) % 16 == 0)
			pt_sleep_ns(20 * US);
		break;
	default:
		break;
	}
}

/* arrive - at a round's end: count in, wake the main thread, wait for the next round. */
static unsigned arrive(struct run *r, bool producer, pl_ctx **epoch)
{
	unsigned g;

	pthread_mutex_lock(&r->m);
	if (producer)
		r->arrived_p++;
	else
		r->arrived_c++;
	pthread_cond_broadcast(&r->cv); /* wakes the main thread in wait_arrived() */
	g = r->gen;
	while (r->gen == g)
		pthread_cond_wait(&r->cv, &r->m); /* woken by next_round() */
	if (epoch != NULL)
		*epoch = r->epoch;
	g = r->mood;
	pthread_mutex_unlock(&r->m);
	return g;
}

static void *producer_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	unsigned mood;
	uint64_t seq = 0;

	self = w;
	pthread_mutex_lock(&r->m);
	mood = r->mood;
	pthread_mutex_unlock(&r->m);
	for (unsigned round = 0; round < r->rounds; round++) {
		for (uint64_t i = 0; i < r->per_round; i++, seq++) {
			uint64_t item = (uint64_t)w->idx << 32 | seq;
			pl_ctx *cx = NULL;
			int rc;

			if (mood != MOOD_SLOW_CONSUMERS)
				jitter(&w->rng, 3 * US);
			r->born[w->idx][seq] = pl_now_ns();
			if (r->c.policy == PL_BP_BLOCK && pt_rand(&w->rng) % 32 == 0)
				cx = pl_ctx_with_timeout(NULL,
							 (int64_t)(pt_rand(&w->rng) % (50 * US)));
			if (r->c.policy == PL_BP_TIMEOUT && pt_rand(&w->rng) % 4 == 0)
				rc = pl_ingress_offer_timeout(
				    r->in, (void *)(uintptr_t)item,
				    (int64_t)(pt_rand(&w->rng) % (50 * US)), NULL);
			else
				rc = pl_ingress_offer(r->in, (void *)(uintptr_t)item, cx);
			pl_ctx_release(cx);
			atomic_fetch_add_explicit(&r->offered, 1, memory_order_relaxed);
			switch (rc) {
			case 0:
				mark(r, item, F_ACC);
				atomic_fetch_add_explicit(&r->accepted, 1, memory_order_relaxed);
				break;
			case -ENOBUFS:
				CHECK(r->c.policy == PL_BP_DROP_NEWEST);
				mark(r, item, F_NEW);
				atomic_fetch_add_explicit(&r->newest, 1, memory_order_relaxed);
				break;
			case -EAGAIN:
			case -ETIMEDOUT:
				CHECK(rc != -EAGAIN || r->c.policy == PL_BP_REJECT);
				CHECK(rc != -ETIMEDOUT || r->c.policy == PL_BP_TIMEOUT ||
				      cx != NULL);
				mark(r, item, F_REJ);
				atomic_fetch_add_explicit(&r->rejected, 1, memory_order_relaxed);
				break;
			default:
				pt_fail(__FILE__, __LINE__, "offer: unexpected %d", rc);
			}
		}
		mood = arrive(r, true, NULL);
	}
	return NULL;
}

static void consume(struct worker *w, uint64_t item)
{
	struct run *r = w->r;
	unsigned p = (unsigned)(item >> 32);
	uint64_t seq = item & 0xffffffffu;

	mark(r, item, F_DLV);
	atomic_fetch_add_explicit(&r->delivered, 1, memory_order_relaxed);
	/* FIFO: each producer's items reach any one consumer in increasing order. */
	if (seq + 1 <= w->last[p])
		pt_fail(__FILE__, __LINE__, "consumer %u: item %u/%llu after %llu", w->idx, p,
			(unsigned long long)seq, (unsigned long long)w->last[p] - 1);
	w->last[p] = seq + 1;
}

static void *consumer_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	unsigned mood;
	pl_ctx *epoch;
	void *v;

	self = w;
	pthread_mutex_lock(&r->m);
	mood = r->mood;
	epoch = r->epoch;
	pthread_mutex_unlock(&r->m);
	for (;;) {
		int rc;

		/* Acquire: pairs with the main thread's release store in end_round(). */
		if (atomic_load_explicit(&r->stop_consumers, memory_order_acquire)) {
			mood = arrive(r, false, &epoch);
			continue;
		}
		/* Woken by an offer, by the epoch's cancel (round end), or by the close. */
		rc = pl_ingress_recv(r->in, &v, epoch);
		if (rc == -EPIPE)
			break;
		if (rc == -ECANCELED)
			continue;
		CHECK_EQ(rc, 0);
		consume(w, (uint64_t)(uintptr_t)v);
		if (mood == MOOD_SLOW_CONSUMERS)
			spin_ns(1 * US + (int64_t)(pt_rand(&w->rng) % (4 * US)));
		else if (mood == MOOD_MIXED)
			jitter(&w->rng, 3 * US);
	}
	return NULL;
}

static void *observer_main(void *arg)
{
	struct run *r = arg;
	struct pl_ingress_stats st;

	while (!atomic_load_explicit(&r->stop_observer, memory_order_relaxed)) {
		size_t len = pl_ingress_len(r->in);

		if (len > r->c.bound)
			pt_fail(__FILE__, __LINE__, "occupancy %zu above the bound %zu", len,
				r->c.bound);
		if (atomic_fetch_add_explicit(&r->samples, 1, memory_order_relaxed) % 64 == 0) {
			pl_ingress_stats(r->in, &st);
			CHECK(st.peak <= r->c.bound);
			CHECK(st.queued <= r->c.bound);
		}
		sched_yield();
	}
	return NULL;
}

static void wait_arrived(struct run *r, unsigned producers, unsigned consumers)
{
	pthread_mutex_lock(&r->m);
	while (r->arrived_p < producers || r->arrived_c < consumers)
		pthread_cond_wait(&r->cv, &r->m); /* woken by arrive() */
	pthread_mutex_unlock(&r->m);
}

/* check_quiescent - nobody is inside the ingress: every count must add up exactly. */
static void check_quiescent(struct run *r, bool drained)
{
	struct pl_ingress_stats st;
	uint64_t accepted = atomic_load(&r->accepted), delivered = atomic_load(&r->delivered);
	uint64_t evicted = atomic_load(&r->evicted), shed = atomic_load(&r->shed);

	pl_ingress_stats(r->in, &st);
	CHECK_EQ(st.offered, atomic_load(&r->offered));
	CHECK_EQ(st.accepted, accepted);
	CHECK_EQ(st.delivered, delivered);
	CHECK_EQ(st.evicted, evicted);
	CHECK_EQ(st.shed, shed);
	CHECK_EQ(st.dropped_newest, atomic_load(&r->newest));
	CHECK_EQ(st.rejected, atomic_load(&r->rejected));
	CHECK_EQ(st.dropped, st.dropped_newest + st.evicted + st.shed);
	CHECK_EQ(st.offered, st.delivered + st.dropped + st.rejected + st.queued);
	CHECK_EQ(st.queued, accepted - delivered - evicted - shed);
	CHECK_EQ(st.queued, pl_ingress_len(r->in));
	CHECK(st.queued <= r->c.bound);
	CHECK(st.peak <= r->c.bound);
	if (r->c.policy == PL_BP_BLOCK)
		CHECK_EQ(st.dropped, 0);
	if (!r->c.shed)
		CHECK_EQ(st.shed, 0);
	if (drained)
		CHECK_EQ(st.queued, 0);
}

static void run_cfg(const struct cfg *c, uint64_t seed, uint64_t per_round, unsigned rounds)
{
	pl_ingress_opts o = {
	    .bound = c->bound,
	    .policy = c->policy,
	    .chan_kind = c->kind,
	    .timeout_ns = 20 * US,
	    .on_drop = on_drop,
	};
	struct worker wk[MAXP + MAXC];
	pthread_t th[MAXP + MAXC], obs;
	struct run *r = calloc(1, sizeof(*r));
	unsigned n = c->producers + c->consumers;
	uint64_t rng = seed;

	CHECK(r != NULL);
	r->c = *c;
	r->per_round = per_round;
	r->rounds = rounds;
	r->seed = seed;
	r->shed_target = 20 * US;
	o.drop_user = r;
	if (c->shed) {
		o.shed_target_ns = r->shed_target;
		o.shed_interval_ns = 100 * US;
		o.shed_mode = c->shed_mode;
	}
	r->in = pl_ingress_new(&o);
	CHECK(r->in != NULL);
	for (unsigned p = 0; p < c->producers; p++) {
		r->fate[p] = calloc(per_round * rounds, sizeof(*r->fate[p]));
		r->born[p] = calloc(per_round * rounds, sizeof(*r->born[p]));
		CHECK(r->fate[p] != NULL && r->born[p] != NULL);
	}
	pthread_mutex_init(&r->m, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->mood = (unsigned)(pt_rand(&rng) % 3);
	r->epoch = pl_ctx_with_cancel(NULL);
	CHECK(r->epoch != NULL);

	CHECK_EQ(pthread_create(&obs, NULL, observer_main, r), 0);
	for (unsigned i = 0; i < n; i++) {
		memset(&wk[i], 0, sizeof(wk[i]));
		wk[i].r = r;
		wk[i].idx = i < c->producers ? i : i - c->producers;
		wk[i].rng = seed ^ (0x9e3779b97f4a7c15ull * (i + 1));
		CHECK_EQ(pthread_create(&th[i], NULL,
					i < c->producers ? producer_main : consumer_main, &wk[i]),
			 0);
	}
	for (unsigned round = 0; round < rounds; round++) {
		pl_ctx *old;

		pt_note("%s %s%s %up%uc bound %zu: round %u of %u (mood %u)", c->kind,
			pl_bp_policy_name(c->policy),
			!c->shed		       ? ""
			: c->shed_mode == PL_SHED_LATE ? "+late"
						       : "+codel",
			c->producers, c->consumers, c->bound, round + 1, rounds, r->mood);
		/* Producers finish the round while consumers keep going (blocked offers finish). */
		wait_arrived(r, c->producers, 0);
		/* Then stop the consumers: the flag, and the epoch's cancel for blocked ones. */
		atomic_store_explicit(&r->stop_consumers, 1, memory_order_release);
		pl_ctx_cancel(r->epoch);
		wait_arrived(r, c->producers, c->consumers);
		check_quiescent(r, false);
		if (round + 1 == rounds)
			CHECK_EQ(pl_ingress_close(r->in), 0);
		/* Next round: a new epoch and mood; the consumers read them under @m. */
		pthread_mutex_lock(&r->m);
		old = r->epoch;
		r->epoch = pl_ctx_with_cancel(NULL);
		CHECK(r->epoch != NULL);
		r->mood = (unsigned)(pt_rand(&rng) % 3);
		r->arrived_p = r->arrived_c = 0;
		atomic_store_explicit(&r->stop_consumers, 0, memory_order_relaxed);
		r->gen++;
		pthread_cond_broadcast(&r->cv); /* wakes every arrive() */
		pthread_mutex_unlock(&r->m);
		pl_ctx_release(old);
	}
	/* Closed: the consumers drain what is left and see -EPIPE. */
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	atomic_store_explicit(&r->stop_observer, 1, memory_order_relaxed);
	CHECK_EQ(pthread_join(obs, NULL), 0);
	check_quiescent(r, true);

	for (unsigned p = 0; p < c->producers; p++) {
		for (uint64_t s = 0; s < per_round * rounds; s++) {
			uint8_t f = atomic_load(&r->fate[p][s]);

			if (f != (F_ACC | F_DLV) && f != (F_ACC | F_EVI) && f != (F_ACC | F_SHD) &&
			    f != F_NEW && f != F_REJ)
				pt_fail(__FILE__, __LINE__, "item %u/%llu ended with fate %#x", p,
					(unsigned long long)s, f);
		}
		free(r->fate[p]);
		free(r->born[p]);
	}
	CHECK(atomic_load(&r->samples) > 0);
	fprintf(stderr,
		"%-8s %-11s%-6s %up%uc bound %-2zu: offered %llu delivered %llu dropped %llu "
		"rejected %llu shed %llu (%llu occupancy samples)\n",
		c->kind, pl_bp_policy_name(c->policy),
		!c->shed		       ? ""
		: c->shed_mode == PL_SHED_LATE ? "+late"
					       : "+codel",
		c->producers, c->consumers, c->bound, (unsigned long long)atomic_load(&r->offered),
		(unsigned long long)atomic_load(&r->delivered),
		(unsigned long long)(atomic_load(&r->newest) + atomic_load(&r->evicted) +
				     atomic_load(&r->shed)),
		(unsigned long long)atomic_load(&r->rejected),
		(unsigned long long)atomic_load(&r->shed),
		(unsigned long long)atomic_load(&r->samples));
	pl_ctx_release(r->epoch);
	pl_ingress_free(r->in);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->m);
	free(r);
}

static void stress_ingress(uint64_t seed)
{
	static const size_t bounds[] = {1, 2, 7, 64};
	const bool tsan = pt_tsan();
	const unsigned P = tsan ? 3 : 4, C = tsan ? 2 : 3;
	uint64_t per_round = (uint64_t)(500 * pt_scale());
	unsigned rounds = tsan ? 6 : 8, cfg_no = 0;
	uint64_t rng = seed;

	if (per_round < 10)
		per_round = 10;
	for (const char *const *k = pl_chan_kinds(); *k != NULL; k++) {
		bool spsc;

		if (!pt_kind_ready(*k))
			continue;
		spsc = pt_kind_spsc(*k);
		/* The five policies, single-producer drop_oldest, drop_newest + either shedder. */
		for (int v = 0; v < 8; v++) {
			struct cfg c = {.kind = *k, .producers = P, .consumers = C};

			if (v < 5)
				c.policy = (enum pl_bp_policy)v;
			else if (v == 5)
				c.policy = PL_BP_DROP_OLDEST;
			else
				c.policy = PL_BP_DROP_NEWEST;
			c.shed = v >= 6;
			c.shed_mode = v == 7 ? PL_SHED_LATE : PL_SHED_CODEL;
			if (v == 5)
				c.producers = 1;
			if (spsc) {
				if (c.policy == PL_BP_DROP_OLDEST)
					continue;
				c.producers = c.consumers = 1;
			}
			c.bound = bounds[pt_rand(&rng) % 4];
			if (c.shed) /* a standing queue needs room to stand in */
				c.bound = 64;
			run_cfg(&c, seed ^ (0x2545f4914f6cdd1dull * ++cfg_no), per_round, rounds);
		}
	}
}

/* ------------------------------------------------------------------ limiter */

struct grant {
	int64_t start, end;
	unsigned n;
};

struct lworker {
	pl_limiter *l;
	uint64_t rng;
	unsigned take_max, wait_max; /* tokens per call: 1 .. max */
	int64_t until;
	struct grant *g;
	size_t n, cap;
};

static void *limiter_main(void *arg)
{
	struct lworker *w = arg;

	while (pl_now_ns() < w->until && w->n < w->cap) {
		uint64_t x = pt_rand(&w->rng);
		int64_t start = pl_now_ns();
		unsigned n;
		int rc;

		if (x % 2 == 0) {
			n = 1 + (unsigned)((x >> 8) % w->take_max);
			rc = pl_limiter_take(w->l, n);
			CHECK(rc == 0 || rc == -EAGAIN);
			if (rc != 0)
				sched_yield();
		} else {
			pl_ctx *cx = NULL;

			n = 1 + (unsigned)((x >> 8) % w->wait_max);
			if ((x >> 16) % 2 == 0)
				cx = pl_ctx_with_timeout(NULL, (int64_t)((x >> 20) % (2 * MS)));
			rc = pl_limiter_wait(w->l, n, cx);
			CHECK(rc == 0 || (cx != NULL && rc == -ETIMEDOUT));
			pl_ctx_release(cx);
		}
		if (rc == 0)
			w->g[w->n++] = (struct grant){.start = start, .end = pl_now_ns(), .n = n};
	}
	return NULL;
}

static int by_end(const void *a, const void *b)
{
	const struct grant *x = a, *y = b;

	return (x->end > y->end) - (x->end < y->end);
}

/*
 * stress_limiter - @rate and @burst, calls taking 1 .. @take_max or waiting for 1 .. @wait_max
 * tokens. Large waits make a waiter that wakes before its due time visible in the windows.
 */
static void stress_limiter(uint64_t seed, double rate, double burst, unsigned take_max,
			   unsigned wait_max)
{
	const unsigned T = pt_tsan() ? 2 : 4;
	const double secs = 0.25 * pt_scale();
	struct lworker w[4];
	pthread_t th[4];
	struct pl_limiter_stats st;
	struct grant *all;
	size_t total = 0, cap = (size_t)(rate * secs * 1.5 + burst) + 64;
	double tokens = 0;
	int64_t created;
	pl_limiter *l;
	uint64_t rng = seed ^ 0x1157;

	pt_note("limiter: %u threads for %.2f s at %g/s burst %g", T, secs, rate, burst);
	created = pl_now_ns();
	l = pl_limiter_new(rate, burst);
	CHECK(l != NULL);
	for (unsigned i = 0; i < T; i++) {
		w[i] = (struct lworker){.l = l,
					.rng = seed ^ (i + 1) * 0x9e3779b97f4a7c15ull,
					.take_max = take_max,
					.wait_max = wait_max,
					.until = pl_now_ns() + (int64_t)(secs * 1e9),
					.cap = cap};
		w[i].g = calloc(cap, sizeof(*w[i].g));
		CHECK(w[i].g != NULL);
		CHECK_EQ(pthread_create(&th[i], NULL, limiter_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < T; i++) {
		CHECK_EQ(pthread_join(th[i], NULL), 0);
		total += w[i].n;
	}
	all = calloc(total + 1, sizeof(*all));
	CHECK(all != NULL);
	total = 0;
	for (unsigned i = 0; i < T; i++) {
		memcpy(all + total, w[i].g, w[i].n * sizeof(*all));
		total += w[i].n;
		free(w[i].g);
	}
	pl_limiter_stats(l, &st);
	CHECK_EQ(st.granted, total);
	qsort(all, total, sizeof(*all), by_end);
	for (size_t i = 0; i < total; i++)
		tokens += all[i].n;
	/* Over the whole run, then over windows anchored at grants' starts. */
	CHECK(tokens <= burst + rate * (double)(pl_now_ns() - created) / 1e9 + 1);
	for (unsigned k = 0; k < 300 && total > 0; k++) {
		int64_t a = all[pt_rand(&rng) % total].start;
		double sum = 0;

		for (size_t j = 0; j < total; j++) {
			if (all[j].end < a || all[j].start < a)
				continue;
			sum += all[j].n;
			if (sum > burst + rate * (double)(all[j].end - a) / 1e9 + 1)
				pt_fail(__FILE__, __LINE__,
					"%.0f tokens granted within %lld ns (burst %g, rate %g/s)",
					sum, (long long)(all[j].end - a), burst, rate);
		}
	}
	fprintf(stderr, "limiter: %zu grants, %.0f tokens in %.2f s\n", total, tokens,
		(double)(pl_now_ns() - created) / 1e9);
	free(all);
	pl_limiter_free(l);
}

int main(void)
{
	uint64_t seed = pt_seed();

	pt_watchdog_start(60);
	stress_ingress(seed);
	stress_limiter(seed, 20000, 32, 3, 2);
	stress_limiter(seed ^ 1, 2000, 8, 1, 8);
	fprintf(stderr, "ok\n");
	return 0;
}
