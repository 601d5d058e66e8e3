/* SPDX-License-Identifier: MIT */
/*
 * The two raw channel workloads behind the pattern vtable: "chan" and "pingpong". They are
 * what "lock-free vs lock-based" is decided on, so the instrument must cost next to nothing
 * beside the channel: a few instructions per message, no clock read and no shared write for
 * a message that is not timed (harness/sampling.h has the message layout and the reasoning).
 *
 * chan: P producers -> one channel (kind, depth, spin) -> C consumers.
 * - A message is one word: producer id, the producer's sequence number, a "measured" bit (sent
 *   inside the measured window) and a "sampled" bit. A producer times one message in k
 *   (struct pl__sampler: forced, from the count, or adapted at run time): it appends (seq,
 *   send time) to its own buffer and sets the sampled bit; a consumer that receives a sampled
 *   message appends (message, receive time) to its own. After the join the two are matched
 *   into the latency histogram (pl__samples_match()); times come from the harness's fast clock
 *   (harness/tsc.h).
 * - Exactly once and in order, O(1) per message, no shared write: each consumer keeps per
 *   producer the count, sum and sum of squares of the sequence numbers it received, and checks
 *   that they increase (struct pl__tally); after the join they must add up to what each
 *   producer sent. A duplicate, a loss or a reorder fails the point and says which; r->lost is
 *   the count of messages sent and never received.
 * - All threads wait at a start gate; the clock starts when the gate opens. The first
 *   warmup_s seconds are warm-up: messages sent then travel normally but are not counted.
 * - Seconds mode: the window is [t1, t2] on the main thread's clock; throughput = messages the
 *   producers sent inside the window (all of them are received: lost = 0) / (t2 - t1).
 *   Messages mode: the producers share the count (the first N % P send one more) and the
 *   window ends at the last measured receive: each producer's last measured message is always
 *   sampled, so consumers read the clock there (and only where sampled).
 * - End: producers stop, the main thread closes the channel, consumers drain it and see
 *   -EPIPE.
 * - Open loop (rate_target > 0): producer i sends on its own schedule of rate/P per second; a
 *   sampled message's latency counts from its intended send time (coordinated omission, wrk2).
 * - work_ns: the consumer busy-waits that long after each message (simulated work).
 *
 * pingpong: one thread sends on channel a, a second receives it and sends it back on
 * channel b, both of capacity queue_depth (0 allowed for rendezvous kinds); latency is one
 * round trip, timed by the pinger for sampled round trips only (recorded at once: one thread);
 * messages are round trips. The message that comes back must be the one sent.
 *
 * Hangs: a kind that stops making progress for PL__STALL_NS is reported as an error, not
 * waited on forever: the main thread closes the channels, which wakes every waiter.
 *
 * The start gate, the phases, the stall check and the joins are the window every workload
 * shares (harness/workload_util.h); this file keeps what the two workloads do with it.
 *
 * Thread-safety of the state: each struct wl_thread (its sampler, tallies and sample buffer
 * included) is written by its own thread only (its @progress and @measured also read by the
 * main thread's stall check); the main thread reads the rest after pthread_join(), which
 * orders it.
 */
#include <patlab/chan.h>
#include "sync/park.h"

#include <patlab/pattern.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "harness/sampling.h"
#include "harness/tsc.h"
#include "harness/workload_util.h"
#include "sync/die.h"

extern const struct pl_pattern pl__pattern_chan, pl__pattern_pingpong;

struct wl;

/* One per thread, each on its own cache lines. */
struct wl_thread {
	_Alignas(PL_FALSE_SHARING) struct wl *w;
	unsigned idx;
	bool producer;
	/* Written by the owner; read by the main thread after the join. */
	pl_hist *hist;	/* the pinger's */
	uint64_t share; /* messages mode: measured messages this producer sends */
	uint64_t sent;	/* sends that returned 0, warm-up included (a producer's: its next seq) */
	uint64_t received; /* pingpong: receives that returned 0 (chan: see @tally) */
	uint64_t measured_sent;
	struct pl__sampler smp;	 /* a producer's (the pinger's) choice of what to time */
	struct pl__sbuf samples; /* chan: a producer's pl__psample, a consumer's pl__csample */
	uint64_t timed;		 /* pingpong: round trips timed into @hist */
	struct pl__tally *tally; /* a consumer's, one per producer */
	uint64_t garbled, garbled_msg;	  /* a consumer's messages from no producer; the first */
	bool bounced;			  /* pingpong: a message came back changed: */
	uint64_t bounce_sent, bounce_got; /* what was sent, what came back */
	int64_t last_ticks; /* pl__ticks() at the last sampled measured receive, 0: none */
	int64_t last_ns;    /* the same on the monotonic clock, after the join */
	/* Measured messages received (or round trips): written by the owner only, read by
	 * window_has_data() while running (relaxed: a count, orders nothing) and after the join. */
	_Atomic uint64_t measured;
	int err; /* an unexpected error from a channel operation */
	/* Advanced by the owner only (beat() or publish(); relaxed: a heartbeat, orders
	 * nothing), read by the stall check (progress_sum()). */
	_Atomic uint64_t progress;
};

struct wl {
	struct pl_params p;
	bool pingpong;
	bool ran;
	pl_chan *a, *b; /* b: pingpong's return channel */
	unsigned n;	/* threads */
	struct wl_thread *t;
	/* The main thread's, after the join: views of the producers' and consumers' parts. */
	struct pl__sbuf **pbuf, **cbuf;
	struct pl__tally **tallies;
	uint64_t *sent;
	/* The gate, the phase, t_start and the stall check (see harness/workload_util.h). */
	struct pl__window win;
	/* Set by the main thread before the gate opens; read by workers after it. */
	bool latency;
	struct pl__placer placer; /* the point's threads: ours and the primitives' */
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

/* seed_of - a sampler's seed: the point's, told apart per thread. */
static uint64_t seed_of(const struct wl *w, unsigned idx)
{
	uint64_t s = w->p.seed ^ (0x9e3779b97f4a7c15ull * (idx + 1));

	return pl__splitmix64(&s);
}

/*
 * take_sample - a producer's due message, sequence @seq sent in phase @ph: time it (from
 * @intended in open loop), adapt the interval, and keep the time when the message is measured
 * and there is room. Returns PL__MSG_SAMPLED when kept (the consumer then times its receive).
 */
static uint64_t take_sample(struct wl_thread *t, uint64_t seq, int ph, int64_t intended)
{
	int64_t now = pl__ticks();
	uint64_t flag = 0;

	if (ph == PL__PH_MEASURE && pl__sbuf_room(&t->samples)) {
		int64_t at = now;

		if (t->w->p.rate_target > 0) /* back to the intended send time */
			at -= pl__ns_to_ticks(pl_now_ns() - intended);
		pl__psample_put(&t->samples, seq, pl__sampler_weight_log2(&t->smp), at);
		flag = PL__MSG_SAMPLED;
	}
	pl__sampler_next(&t->smp, now);
	return flag;
}

/* publish - store a count only its owner writes (relaxed: a count or a heartbeat, read by the
 * main thread's stall and data checks; it orders nothing). The owner keeps the count in a
 * local: one store per message, no load. */
static inline void publish(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

/*
 * producer_main - the hot loop keeps its counters (sequence, measured sends, the countdown to
 * the next sample) in locals, which live in registers across the channel call; per message it
 * stores only the heartbeat.
 */
static void *producer_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	pl_chan *const ch = w->a;
	const bool by_count = w->p.messages > 0;
	const bool open_loop = w->p.rate_target > 0;
	const bool latency = w->latency;
	const uint64_t id = pl__msg(0, t->idx, 0), share = t->share;
	uint64_t seq = 0, measured_sent = 0, left = t->smp.left;
	struct pl__schedule sched;

	if (!pl__window_gate(&w->win))
		return NULL;
	if (open_loop)
		pl__schedule_init(&sched, w->p.rate_target, w->p.producers, t->idx, w->win.t_start);
	for (;;) {
		const int ph = phase(w);
		const bool in = ph == PL__PH_MEASURE;
		int64_t ts = 0;
		uint64_t m;
		int rc;

		if (ph == PL__PH_STOP || (by_count && in && measured_sent == share))
			break;
		if (open_loop)
			ts = pl__schedule_next(&sched, &t->progress); /* the intended send time */
		m = seq << PL__MSG_SEQ_SHIFT | id | in;
		if (latency && --left == 0) {
			m |= take_sample(t, seq, ph, ts);
			left = t->smp.left;
		}
		if (by_count && in && measured_sent + 1 == share)
			m |= PL__MSG_SAMPLED; /* the window ends at its receive */
		/* Blocks while full: woken by a consumer's receive, or by a close. */
		rc = pl_chan_send(ch, (void *)(uintptr_t)m, NULL);
		if (rc != 0) {
			if (rc != -EPIPE) /* -EPIPE: closed by the stall check, reported there */
				t->err = rc;
			break;
		}
		seq++;
		measured_sent += in;
		publish(&t->progress, seq);
	}
	t->sent = seq;
	t->measured_sent = measured_sent;
	pl__window_producer_exit(&w->win);
	return NULL;
}

/* consumer_main - as producer_main, counters in locals; per message it updates its tally of
 * the sender and stores its heartbeat and (when measured) its count. */
static void *consumer_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	pl_chan *const ch = w->a;
	const unsigned producers = w->p.producers;
	const int64_t work_ns = w->p.work_ns;
	struct pl__tally *const tally = t->tally;
	uint64_t beats = 0, measured = 0;
	void *m;

	if (!pl__window_gate(&w->win))
		return NULL;
	for (;;) {
		/* Blocks while empty: woken by a producer's send, or by wl_run()'s close. */
		int rc = pl_chan_recv(ch, &m, NULL);
		uint64_t v;
		unsigned pid;

		if (rc != 0) {
			if (rc != -EPIPE) /* -EPIPE: closed and drained, the normal end */
				t->err = rc;
			break;
		}
		v = (uint64_t)(uintptr_t)m;
		pid = pl__msg_pid(v);
		if (__builtin_expect(pid >= producers, 0)) {
			if (t->garbled++ == 0)
				t->garbled_msg = v;
			continue;
		}
		pl__tally_add(&tally[pid], pl__msg_seq(v));
		if (v & PL__MSG_MEASURED)
			publish(&t->measured, ++measured);
		if (v & PL__MSG_SAMPLED) {
			int64_t now = pl__ticks();

			if (v & PL__MSG_MEASURED)
				t->last_ticks = now;
			if (pl__sbuf_room(&t->samples))
				pl__csample_put(&t->samples, v, now);
		}
		if (work_ns > 0)
			pl__busy_wait_ns(work_ns);
		publish(&t->progress, ++beats);
	}
	return NULL;
}

static void *pinger_main(void *arg)
{
	struct wl_thread *t = arg;
	struct wl *w = t->w;
	const bool by_count = w->p.messages > 0;
	uint64_t seq = 0;
	void *back;

	if (!pl__window_gate(&w->win))
		return NULL;
	for (;;) {
		int ph = phase(w);
		uint64_t m = pl__msg(seq, 0, ph == PL__PH_MEASURE);
		int64_t t0 = 0;
		unsigned wlog2 = 0;
		bool timed = false, record = false;
		int rc;

		if (ph == PL__PH_STOP ||
		    (by_count && ph == PL__PH_MEASURE && measured_of(t) == t->share))
			break;
		if (w->latency && pl__sampler_due(&t->smp)) {
			wlog2 = pl__sampler_weight_log2(&t->smp);
			t0 = pl__ticks();
			pl__sampler_next(&t->smp, t0);
			timed = record = ph == PL__PH_MEASURE;
		}
		if (by_count && ph == PL__PH_MEASURE && measured_of(t) + 1 == t->share)
			timed = true; /* the window ends when it is back */
		rc = pl_chan_send(w->a, (void *)(uintptr_t)m, NULL);
		if (rc != 0) {
			if (rc != -EPIPE)
				t->err = rc;
			break;
		}
		seq++;
		/* The one message is the ponger's until it sends it back (or a close). */
		rc = pl_chan_recv(w->b, &back, NULL);
		if (rc != 0) {
			if (rc != -EPIPE)
				t->err = rc;
			break;
		}
		t->received++;
		if ((uint64_t)(uintptr_t)back != m) {
			t->bounced = true;
			t->bounce_sent = m;
			t->bounce_got = (uint64_t)(uintptr_t)back;
			break;
		}
		if (ph == PL__PH_MEASURE) {
			pl__bump(&t->measured);
			if (timed) {
				int64_t now = pl__ticks();

				if (record) {
					pl_hist_record_n(t->hist, pl__ticks_to_ns(now - t0),
							 UINT64_C(1) << wlog2);
					t->timed++;
				}
				t->last_ticks = now;
			}
		}
		beat(t);
	}
	t->sent = seq;
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
	for (unsigned i = 0; w->t != NULL && i < w->n; i++) {
		pl_hist_free(w->t[i].hist);
		pl__sbuf_free(&w->t[i].samples);
		free(w->t[i].tally);
	}
	free(w->t);
	free(w->pbuf);
	free(w->cbuf);
	free(w->tallies);
	free(w->sent);
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

/*
 * setup_chan_thread - a chan thread's sample buffer and, for a consumer, its tallies. Sample
 * buffers hold PL__SAMPLES_MAX over all producers (each its part, plus slack); a consumer's
 * may hold every sample when consumers are few, else 4x its even share (a consumer that gets
 * more than that stops recording receive times; "lat_capped" says so). When latency is
 * wanted (@latency), the part an auto run fills is touched now, outside the window.
 */
static int setup_chan_thread(struct wl *w, struct wl_thread *t, bool latency)
{
	const unsigned pr = w->p.producers, co = w->p.consumers;
	const size_t all = PL__SAMPLES_MAX + (size_t)1024 * pr;
	const size_t expect = latency ? 2 * (size_t)PL__LAT_TARGET + (size_t)1024 * pr : 0;

	if (t->producer) {
		w->pbuf[t->idx] = &t->samples;
		return pl__sbuf_init(&t->samples, PL__SAMPLES_MAX / pr + 1024,
				     sizeof(struct pl__psample), expect / pr);
	}
	w->cbuf[t->idx] = &t->samples;
	t->tally = calloc(pr, sizeof(*t->tally));
	w->tallies[t->idx] = t->tally;
	if (t->tally == NULL)
		return -ENOMEM;
	return pl__sbuf_init(&t->samples, co <= 4 ? all : 4 * all / co + 1024,
			     sizeof(struct pl__csample), co == 1 ? expect : 2 * expect / co);
}

static int wl_setup(const struct pl_params *p, void **state, struct pl_result *r, bool pingpong)
{
	struct wl *w;
	int err = -ENOMEM;

	if (!pingpong && p->producers > PL__MSG_PRODUCERS)
		return pl__fail(r, -EINVAL, "at most %u producers (a message carries the id)",
				PL__MSG_PRODUCERS);
	pl__clock_init(); /* before any thread reads pl__ticks() */
	w = pl__alloc_lines(sizeof(*w));
	if (w == NULL)
		return pl__fail(r, -ENOMEM, "out of memory");
	w->p = *p;
	w->pingpong = pingpong;
	w->n = pingpong ? 2 : p->producers + p->consumers;
	if (pl__window_init(&w->win, w->n, &w->placer.start, progress_sum, window_has_data, w) != 0)
		goto nomem;
	err = pl__point_placer(&w->placer, p, r);
	if (err != 0)
		goto out;
	w->t = pl__alloc_lines(w->n * sizeof(*w->t));
	if (w->t == NULL)
		goto nomem;
	if (!pingpong) {
		w->pbuf = calloc(p->producers, sizeof(*w->pbuf));
		w->sent = calloc(p->producers, sizeof(*w->sent));
		w->cbuf = calloc(p->consumers, sizeof(*w->cbuf));
		w->tallies = calloc(p->consumers, sizeof(*w->tallies));
		if (w->pbuf == NULL || w->sent == NULL || w->cbuf == NULL || w->tallies == NULL)
			goto nomem;
	}
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		t->w = w;
		t->producer = pingpong ? i == 0 : i < p->producers;
		t->idx = pingpong || t->producer ? i : i - p->producers;
		atomic_init(&t->progress, 0);
		atomic_init(&t->measured, 0);
		/* The pinger times round trips itself, into its own histogram. */
		if (pingpong && i == 0) {
			t->hist = pl_hist_new();
			if (t->hist == NULL)
				goto nomem;
		}
		if (!pingpong && setup_chan_thread(w, t, r->latency != NULL) != 0)
			goto nomem;
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

/* latency_extras - how the latency was sampled: samples, messages per sample, caps hit. */
static void latency_extras(struct pl_result *r, uint64_t samples, bool capped)
{
	if (r->latency == NULL)
		return;
	pl_result_extra(r, "lat_samples", (double)samples);
	if (samples > 0)
		pl_result_extra(r, "lat_interval", (double)r->messages / (double)samples);
	if (capped)
		pl_result_extra(r, "lat_capped", 1);
}

/*
 * accuracy_extras - with every message timed (--lat-sample 1), what auto sampling would have
 * reported of the same messages: k is the interval auto aims at (a power of two leaving
 * >= 2x10^5 samples), the shadow histogram keeps each sample with probability 1/k
 * (pl__samples_shadow()), and the extras say k and the signed deviation of its p50, p99 and
 * p99.9 from the full histogram's, in percent. Nothing when fewer than 4x10^5 messages were
 * timed (auto would have timed them all).
 */
static void accuracy_extras(struct wl *w, struct pl_result *r, uint64_t samples)
{
	static const struct {
		const char *name;
		double q;
	} at[] = {
	    {"lat_check_p50_pct", 50}, {"lat_check_p99_pct", 99}, {"lat_check_p999_pct", 99.9}};
	uint64_t k = 1;
	pl_hist *sub;

	if (r->latency == NULL || w->p.lat_sample != 1)
		return;
	while (samples / (2 * k) >= 200000)
		k *= 2;
	if (k == 1 || (sub = pl_hist_new()) == NULL)
		return;
	pl__samples_shadow(sub, k, w->p.seed, w->pbuf, w->p.producers, w->cbuf, w->p.consumers);
	pl_result_extra(r, "lat_check_interval", (double)k);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		double full = (double)pl_hist_percentile(r->latency, at[i].q);
		double part = (double)pl_hist_percentile(sub, at[i].q);

		if (full > 0)
			pl_result_extra(r, at[i].name, 100 * (part - full) / full);
	}
	pl_hist_free(sub);
}

/*
 * check_chan - after the join: no message from no producer, and every producer's messages
 * received exactly once, in order per consumer. Sets @r->lost. 0, or -EPROTO with @r->why.
 */
static int check_chan(struct wl *w, struct pl_result *r)
{
	const unsigned pr = w->p.producers, co = w->p.consumers;
	char why[sizeof(r->why)];
	int err;

	for (unsigned i = pr; i < w->n; i++)
		if (w->t[i].garbled != 0)
			return pl__fail(
			    r, -EPROTO,
			    "consumer %u received %llu message(s) from no producer, the "
			    "first 0x%llx",
			    w->t[i].idx, (unsigned long long)w->t[i].garbled,
			    (unsigned long long)w->t[i].garbled_msg);
	for (unsigned i = 0; i < pr; i++)
		w->sent[i] = w->t[i].sent;
	err = pl__tally_verdict(w->tallies, co, pr, w->sent, &r->lost, why, sizeof(why));
	return err != 0 ? pl__fail(r, err, "kind %s: %s", w->p.chan_kind, why) : 0;
}

static int wl_run(void *state, struct pl_result *r)
{
	struct wl *w = state;
	const struct pl_params *p = &w->p;
	const bool by_count = p->messages > 0;
	unsigned producers = w->pingpong ? 1 : p->producers;
	int64_t t1, t2 = 0;
	bool stalled = false, capped = false;
	uint64_t measured = 0, min_share = UINT64_MAX, samples = 0;
	int err = pl__run_once(&w->ran, r);

	if (err != 0)
		return err;
	w->latency = r->latency != NULL;
	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		/* Pingpong: the pinger (idx 0) alone, so its share is every message. */
		if (t->producer && by_count)
			t->share = pl__share(p->messages, producers, t->idx);
		if (t->producer)
			pl__sampler_init(&t->smp, p->lat_sample, t->share, producers, p->seconds,
					 seed_of(w, i));
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

	for (unsigned i = 0; i < w->n; i++) {
		struct wl_thread *t = &w->t[i];

		if (t->err != 0)
			return pl__fail(r, t->err, "a %s thread failed: %s",
					t->producer ? "sending" : "receiving", strerror(-t->err));
		t->last_ns = t->last_ticks != 0 ? pl__ticks_to_mono(t->last_ticks) : 0;
		capped |= t->samples.full;
		if (w->pingpong && i == 1)
			continue; /* the ponger's counts are the pinger's, seen from the other side
				   */
		if (w->pingpong || !t->producer) {
			measured += measured_of(t);
			if (measured_of(t) < min_share)
				min_share = measured_of(t);
		}
	}
	if (by_count)
		t2 = PL__LATEST(w->t, w->n, last_ns, t1);
	r->messages = measured;
	r->seconds = (double)(t2 - t1) / 1e9;
	if (w->pingpong) {
		struct wl_thread *pi = &w->t[0];

		r->lost = pi->sent > pi->received ? pi->sent - pi->received : 0;
		pl__merge_latency(r, pi->hist);
		samples = pi->timed;
		if (pi->bounced)
			return pl__fail(r, -EPROTO, "kind %s: sent 0x%llx, got 0x%llx back",
					p->chan_kind, (unsigned long long)pi->bounce_sent,
					(unsigned long long)pi->bounce_got);
	} else {
		if (r->latency != NULL) {
			samples = pl__samples_match(r->latency, w->pbuf, p->producers, w->cbuf,
						    p->consumers);
			accuracy_extras(w, r, samples);
		}
		err = check_chan(w, r);
	}
	latency_extras(r, samples, capped);
	if (!w->pingpong && p->consumers > 1 && measured > 0)
		pl_result_extra(r, "consumer_share_min",
				(double)min_share * p->consumers / (double)measured);
	if (stalled)
		return pl__fail(r, -ETIMEDOUT, "kind %s made no progress for %lld s (%s)",
				p->chan_kind, (long long)(PL__STALL_NS / 1000000000),
				r->lost ? "messages lost" : "hung");
	if (err != 0)
		return err;
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

/* Topologies x depths (lock-free against lock-based is decided here); depth 0 on the kinds
 * with a rendezvous only. */
static const char *const chan_quick[] = {
    "--ratio 1:1,2:2,4:1,16:16 --depth rendezvous,1,64,1024",
    NULL,
};

const struct pl_pattern pl__pattern_chan = {
    .name = "chan",
    .summary = "P producers -> one channel -> C consumers; sampled messages timed send to receive",
    .params = PL_PARAM_CHAN_KIND | PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS | PL_PARAM_QUEUE_DEPTH |
	      PL_PARAM_WORK_NS | PL_PARAM_RATE | PL_PARAM_SPIN,
    .policies = NULL,
    .check = chan_check,
    .setup = chan_setup,
    .run = wl_run,
    .teardown = wl_teardown,
    .throughput = "M msg/s",
    .latency = "send to receive",
    .quick = chan_quick,
};

/* One pinger and one ponger. */
static unsigned pingpong_threads(const struct pl_params *p)
{
	(void)p;
	return 2;
}

static const char *const pingpong_quick[] = {"--depth 1", NULL};

const struct pl_pattern pl__pattern_pingpong = {
    .name = "pingpong",
    .summary = "one message bounced between two threads through two channels; round trips",
    .params = PL_PARAM_CHAN_KIND | PL_PARAM_QUEUE_DEPTH | PL_PARAM_SPIN,
    .policies = NULL,
    .check = pingpong_check,
    .setup = pingpong_setup,
    .run = wl_run,
    .teardown = wl_teardown,
    .throughput = "round trips in M/s",
    .latency = "round trip",
    .threads = pingpong_threads,
    .quick = pingpong_quick,
};
