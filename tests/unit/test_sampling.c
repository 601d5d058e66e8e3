/* SPDX-License-Identifier: MIT */
/*
 * The raw workloads' instrument (harness/sampling.h), piece by piece, single-threaded and with
 * crafted inputs (no timing: a simulated clock drives the adaptive interval).
 *
 * - Messages: id and sequence round-trip through the encoding, flags apart.
 * - Interval from a count: the largest power of two leaving each producer its part of the
 *   target, 1 when fewer messages pass.
 * - Forced intervals: N = 1 times every message; N > 1 draws gaps in [1, 2N - 1], mean ~N.
 * - Auto, adapted: under a steady simulated rate k settles in (k* / 2, k*]; it follows a rate
 *   that changes; a producer that runs in bursts is sized by its average rate, not its bursts.
 * - The exactly-once checker: a clean run passes; a planted duplicate, loss, reorder, a
 *   duplicate hidden by a loss (equal counts) and a duplicate seen by one consumer are each
 *   caught and named, with lost = the messages never received.
 * - Matching: producer and consumer samples pair up by (producer, seq) into the histogram,
 *   weighted; unmatched and unmeasured ones are left out.
 * - The estimate: on one synthetic stream of latencies (heavy-tailed, with a spike every 1024
 *   messages that a fixed stride would alias with, and a slow phase), the sampled and weighted
 *   histogram of an adaptive sampler gives p50, p99 and p99.9 within 5% of the histogram of
 *   every message: the same messages, so no run-to-run noise, only the sampling's error.
 */
#include "check.h"

#include <errno.h>
#include <string.h>

#include <patlab/hist.h>

#include "harness/sampling.h"
#include "harness/tsc.h"
#include "harness/workload_util.h"

static void check_msg(void)
{
	uint64_t m = pl__msg(123456789, 4321, PL__MSG_SAMPLED | PL__MSG_MEASURED);

	pt_note("message layout");
	CHECK_EQ(pl__msg_pid(m), 4321);
	CHECK_EQ(pl__msg_seq(m), 123456789);
	CHECK(m & PL__MSG_SAMPLED);
	CHECK(m & PL__MSG_MEASURED);
	m = pl__msg((UINT64_C(1) << 46) - 1, PL__MSG_PRODUCERS - 1, 0);
	CHECK_EQ(pl__msg_pid(m), PL__MSG_PRODUCERS - 1);
	CHECK_EQ(pl__msg_seq(m), (UINT64_C(1) << 46) - 1);
	CHECK_EQ(m & 3, 0);
}

static void check_interval_from_count(void)
{
	pt_note("interval from a count");
	CHECK_EQ(pl__sampler_interval(5000, 1), 0);
	CHECK_EQ(pl__sampler_interval(PL__LAT_TARGET, 1), 0);
	CHECK_EQ(pl__sampler_interval(2 * PL__LAT_TARGET - 1, 1), 0);
	CHECK_EQ(pl__sampler_interval(2 * PL__LAT_TARGET, 1), 1);
	CHECK_EQ(pl__sampler_interval(1000000000, 1), 12); /* 1e9 / 4096 = 244140 >= 2e5 */
	/* 4 producers of 1e9 / 4 each: each needs 5e4 samples. */
	CHECK_EQ(pl__sampler_interval(250000000, 4), 12);
	for (uint64_t share = 1; share < (UINT64_C(1) << 36); share = share * 3 + 1) {
		unsigned l = pl__sampler_interval(share, 3);
		uint64_t want = (PL__LAT_TARGET + 2) / 3;

		CHECK(l == 0 || share >> l >= want);	   /* enough samples */
		CHECK(share >> (l + 1) < want || l == 40); /* the largest such k */
	}
}

/* run - count @msgs messages through @s; returns the samples; *@gap_max the largest gap. */
static uint64_t run(struct pl__sampler *s, uint64_t msgs, uint64_t *gap_max)
{
	uint64_t samples = 0, last = 0;

	for (uint64_t i = 1; i <= msgs; i++) {
		if (!pl__sampler_due(s))
			continue;
		samples++;
		if (gap_max != NULL && i - last > *gap_max)
			*gap_max = i - last;
		last = i;
		pl__sampler_next(s, (int64_t)i); /* time unused: not adaptive */
	}
	return samples;
}

static void check_forced(void)
{
	struct pl__sampler s;
	uint64_t gmax = 0, n;

	pt_note("forced intervals");
	pl__sampler_init(&s, 1, 0, 1, 1.0, 42);
	CHECK_EQ(run(&s, 10000, NULL), 10000);
	CHECK_EQ(pl__sampler_weight_log2(&s), 0);
	pl__sampler_init(&s, 100, 0, 1, 1.0, 42);
	n = run(&s, 1000000, &gmax);
	CHECK(n > 9000 && n < 11000); /* mean gap 100 */
	CHECK(gmax <= 199);
	CHECK(gmax > 150); /* the gaps do vary */
	CHECK_EQ(pl__sampler_weight_log2(&s), 0);
	/* Auto from a count: power of two, weighted. */
	pl__sampler_init(&s, 0, 1000000000, 1, 1.0, 7);
	CHECK_EQ(s.k, 4096);
	CHECK_EQ(pl__sampler_weight_log2(&s), 12);
}

/*
 * adapt_sim - drive an auto sampler with a simulated clock: message i is sent at time
 * time_of(i) (ticks, which are ns without a TSC - either way the sampler only compares ticks
 * with ticks from its own want_ticks). Returns the samples over @msgs.
 */
static uint64_t adapt_sim(struct pl__sampler *s, uint64_t first, uint64_t msgs,
			  int64_t (*time_of)(uint64_t))
{
	uint64_t samples = 0;

	for (uint64_t i = first; i < first + msgs; i++)
		if (pl__sampler_due(s)) {
			samples++;
			pl__sampler_next(s, time_of(i));
		}
	return samples;
}

static double ticks_per_msg = 10; /* the simulated rate */

static int64_t steady(uint64_t i)
{
	return (int64_t)(1000000 + (double)i * ticks_per_msg);
}

/* bursty - 1 ms running at 1 tick per message, then 9 ms descheduled: a 10% duty cycle. */
static int64_t bursty(uint64_t i)
{
	const uint64_t per_burst = 1000000 / 1; /* messages in 1 ms at 1 tick each */

	return (int64_t)(1000000 + (i / per_burst) * 10000000 + (i % per_burst));
}

static void check_adaptive(void)
{
	struct pl__sampler s;
	double kstar;
	uint64_t n;

	pt_note("adaptive interval");
	pl__clock_init();
	/* 1 s window, 1 producer: want one sample per 1e9 / 2e5 = 5000 ns worth of ticks. */
	pl__sampler_init(&s, 0, 0, 1, 1.0, 3);
	CHECK_EQ(s.k, 1);
	ticks_per_msg = 10;
	kstar = s.want_ticks / ticks_per_msg;
	adapt_sim(&s, 0, 20000000, steady);
	pt_note("steady: k %llu, k* %.1f", (unsigned long long)s.k, kstar);
	CHECK((double)s.k <= kstar && 2 * (double)s.k > kstar);
	/* The producer slows down 16x (and stays slow): the average follows, so does k. */
	for (uint64_t i = 20000000; i < 40000000; i++)
		if (pl__sampler_due(&s))
			pl__sampler_next(&s, steady(20000000) + 160 * (int64_t)(i - 20000000));
	pt_note("slowed: k %llu", (unsigned long long)s.k);
	CHECK(s.k < (uint64_t)(kstar / 4));

	/* Bursts: 1 tick per message while running, 10% of the time. Sized by the bursts, k
	 * would be ~want_ticks; by the average, ~want_ticks / 10. */
	pl__sampler_init(&s, 0, 0, 1, 1.0, 5);
	n = adapt_sim(&s, 0, 20000000, bursty);
	pt_note("bursty: k %llu, want_ticks %.0f, %llu samples", (unsigned long long)s.k,
		s.want_ticks, (unsigned long long)n);
	CHECK((double)s.k <= s.want_ticks / 5 && (double)s.k > s.want_ticks / 40);
}

/* starts - @s begins with @prefix. */
static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* feed - consumer @c receives producer @p's sequence @seq. */
static void feed(struct pl__tally *const *t, unsigned c, unsigned p, uint64_t seq)
{
	pl__tally_add(&t[c][p], seq);
}

struct tally_set {
	struct pl__tally a[3], b[3];
	struct pl__tally *rows[2];
};

/* clean - 2 consumers, 3 producers; producer p sent @sent[p] = 1000 + p, split by parity. */
/* empty - no message received yet, at either consumer. */
static void empty(struct tally_set *ts)
{
	memset(ts, 0, sizeof(*ts));
	ts->rows[0] = ts->a;
	ts->rows[1] = ts->b;
}

/* clean - every message of three producers received once, alternating consumers. */
static void clean(struct tally_set *ts, uint64_t *sent)
{
	empty(ts);
	for (unsigned p = 0; p < 3; p++) {
		sent[p] = 1000 + p;
		for (uint64_t s = 0; s < sent[p]; s++)
			feed(ts->rows, (unsigned)(s % 2), p, s);
	}
}

static int verdict(struct tally_set *ts, const uint64_t *sent, uint64_t *lost, char *why)
{
	int e = pl__tally_verdict(ts->rows, 2, 3, sent, lost, why, 256);

	pt_note("verdict %d lost %llu: %s", e, (unsigned long long)*lost, why);
	return e;
}

static void check_tally(void)
{
	struct tally_set ts;
	uint64_t sent[3], lost;
	char why[256];

	pt_note("exactly once, in order");
	clean(&ts, sent);
	CHECK_EQ(verdict(&ts, sent, &lost, why), 0);
	CHECK_EQ(lost, 0);

	/* Loss: producer 1 sent one more than anyone received. */
	clean(&ts, sent);
	sent[1]++;
	CHECK_EQ(verdict(&ts, sent, &lost, why), -EPROTO);
	CHECK(starts(why, "loss: producer 1 "));
	CHECK_EQ(lost, 1);

	/* Duplicate on the other consumer than the one that had it: counts differ. */
	clean(&ts, sent);
	feed(ts.rows, 0, 0, 999); /* consumer 1 had #999 (odd); 0 gets it again, in order */
	CHECK_EQ(verdict(&ts, sent, &lost, why), -EPROTO);
	CHECK(starts(why, "duplicate: producer 0 "));
	CHECK_EQ(lost, 0);

	/* Duplicate and loss with equal counts: #4 never arrives, #6 arrives at both consumers
	 * (each in increasing order), so the counts match and only the sums tell. */
	empty(&ts);
	sent[0] = 10, sent[1] = 0, sent[2] = 0;
	for (uint64_t s = 0; s < 10; s++)
		if (s != 4)
			feed(ts.rows, s < 6 ? 0 : 1, 0, s);
	feed(ts.rows, 0, 0, 6);
	CHECK_EQ(verdict(&ts, sent, &lost, why), -EPROTO);
	CHECK(starts(why, "duplicate and loss: producer 0 "));
	CHECK_EQ(lost, 0);

	/* A swap of two messages from one producer at one consumer: the counts and sums hold,
	 * the order does not. */
	empty(&ts);
	sent[0] = 5, sent[1] = 3, sent[2] = 0;
	for (uint64_t s = 0; s < 3; s++)
		feed(ts.rows, 1, 1, s);
	feed(ts.rows, 0, 0, 0);
	feed(ts.rows, 0, 0, 2);
	feed(ts.rows, 0, 0, 1);
	feed(ts.rows, 0, 0, 3);
	feed(ts.rows, 0, 0, 4);
	CHECK_EQ(verdict(&ts, sent, &lost, why), -EPROTO);
	CHECK(starts(why, "reorder: consumer 0 received producer 0's message #1 after #2"));

	/* The same message twice in a row at one consumer: a duplicate it sees itself. */
	clean(&ts, sent);
	feed(ts.rows, 1, 0, 999);
	CHECK_EQ(verdict(&ts, sent, &lost, why), -EPROTO);
	CHECK(starts(why, "duplicate: consumer 1 received producer 0's message #999 after #999"));

	/* Large counts: the closed forms of the sums wrap mod 2^64 as the running sums do. */
	{
		struct pl__tally big = {0}, *row = &big;
		uint64_t n = 3000000, s = 0;

		for (; s < n; s++)
			pl__tally_add(&big, s);
		CHECK_EQ(pl__tally_verdict(&row, 1, 1, &n, &lost, why, sizeof(why)), 0);
		big.sumsq += 1;
		CHECK_EQ(pl__tally_verdict(&row, 1, 1, &n, &lost, why, sizeof(why)), -EPROTO);
	}
}

static void check_match(void)
{
	struct pl__sbuf p0, p1, c0, *prod[2] = {&p0, &p1}, *cons[1] = {&c0};
	pl_hist *h = pl_hist_new();
	int64_t lat = pl__ns_to_ticks(1000);

	pt_note("matching samples");
	CHECK(h != NULL);
	CHECK_EQ(pl__sbuf_init(&p0, 8, sizeof(struct pl__psample), 8), 0);
	CHECK_EQ(pl__sbuf_init(&p1, 8, sizeof(struct pl__psample), 8), 0);
	CHECK_EQ(pl__sbuf_init(&c0, 8, sizeof(struct pl__csample), 0), 0);
	/* Producer 0 timed #3 and #9 (weight 4), producer 1 #5 (weight 1). */
	pl__psample_put(&p0, 3, 2, 100000);
	pl__psample_put(&p0, 9, 2, 200000);
	pl__psample_put(&p1, 5, 0, 300000);
	/* Received: p0 #9, p1 #5, p0 #3, p0 #4 (not in p0's buffer), p1 #5 unmeasured. */
	pl__csample_put(&c0, pl__msg(9, 0, 3), 200000 + lat);
	pl__csample_put(&c0, pl__msg(5, 1, 3), 300000 + 2 * lat);
	pl__csample_put(&c0, pl__msg(3, 0, 3), 100000 + 3 * lat);
	pl__csample_put(&c0, pl__msg(4, 0, 3), 100000);
	pl__csample_put(&c0, pl__msg(5, 1, 2), 300000);
	CHECK(pl__sbuf_room(&c0));
	for (int i = 0; i < 3; i++)
		pl__csample_put(&c0, pl__msg(100, 1, 3), 0);
	CHECK(!pl__sbuf_room(&c0));
	CHECK(c0.full);
	c0.n = 5; /* the 3 fillers out again */
	CHECK_EQ(pl__samples_match(h, prod, 2, cons, 1), 3);
	CHECK_EQ(h->count, 4 + 1 + 4);
	CHECK(h->min >= 990 && h->min <= 1010);
	CHECK(h->max >= 2990 && h->max <= 3010);
	pl_hist_free(h);
	pl__sbuf_free(&p0);
	pl__sbuf_free(&p1);
	pl__sbuf_free(&c0);
	pl__sbuf_free(&c0); /* twice is fine */
}

/*
 * check_shadow - pl__samples_shadow() keeps about 1/k of the matched samples, each k times
 * its weight (so the weighted count stays near the full one), and its percentiles are those
 * of the full histogram within a few percent on a smooth distribution; k = 1 keeps them all.
 */
static void check_shadow(void)
{
	enum {
		N = 200000
	};
	struct pl__sbuf p0, c0, *prod[1] = {&p0}, *cons[1] = {&c0};
	pl_hist *full = pl_hist_new(), *sub = pl_hist_new(), *one = pl_hist_new();
	uint64_t kept, seed = 7;

	pt_note("shadow sampling of matched samples");
	CHECK(full != NULL && sub != NULL && one != NULL);
	CHECK_EQ(pl__sbuf_init(&p0, N, sizeof(struct pl__psample), N), 0);
	CHECK_EQ(pl__sbuf_init(&c0, N, sizeof(struct pl__csample), 0), 0);
	for (uint64_t i = 0; i < N; i++) {
		/* latencies 1..4 us, spread evenly: percentiles are stable under subsampling */
		int64_t lat = pl__ns_to_ticks(1000 + (int64_t)(pl__splitmix64(&seed) % 3000));

		pl__psample_put(&p0, i, 0, 1000000);
		pl__csample_put(&c0, pl__msg(i, 0, 3), 1000000 + lat);
	}
	CHECK_EQ(pl__samples_match(full, prod, 1, cons, 1), N);
	CHECK_EQ(pl__samples_shadow(one, 1, 1, prod, 1, cons, 1), N);
	CHECK_EQ(one->count, full->count);
	kept = pl__samples_shadow(sub, 8, 1, prod, 1, cons, 1);
	CHECK(kept > N / 8 * 9 / 10 && kept < N / 8 * 11 / 10);
	CHECK_EQ(sub->count, kept * 8);
	for (size_t i = 0; i < 3; i++) {
		const double q = (const double[]){50, 99, 99.9}[i];
		double f = (double)pl_hist_percentile(full, q),
		       p = (double)pl_hist_percentile(sub, q);

		CHECK(p > 0.95 * f && p < 1.05 * f);
	}
	pl_hist_free(full);
	pl_hist_free(sub);
	pl_hist_free(one);
	pl__sbuf_free(&p0);
	pl__sbuf_free(&c0);
}

/* synth - message @i's latency: mostly 200..1200 ns, a 1-in-1024 spike of 20 us (every
 * 1024th message: a stride of 1024 would see all or none of them), a heavy tail. */
static int64_t synth(uint64_t i, uint64_t *rng)
{
	uint64_t r = pt_rand(rng);

	if (i % 1024 == 0)
		return 20000 + (int64_t)(r % 1000);
	if (r % 1000 < 3)
		return 5000 + (int64_t)(r >> 20) % 200000; /* 0.3%: 5 us .. 205 us */
	return 200 + (int64_t)(r >> 20) % 1000;
}

/* synth_time - message @i's send time: 10 ticks apart, then 4x slower for the second half. */
static int64_t synth_time(uint64_t i, uint64_t n)
{
	return i < n / 2 ? 10 * (int64_t)i : 10 * (int64_t)(n / 2) + 40 * (int64_t)(i - n / 2);
}

static void check_estimate(void)
{
	const uint64_t n = 20000000;
	pl_hist *all = pl_hist_new(), *some = pl_hist_new();
	struct pl__sampler s;
	uint64_t rng = 12345, samples = 0;
	const double q[] = {50, 99, 99.9};

	pt_note("estimate vs every message");
	CHECK(all != NULL && some != NULL);
	/* Seconds mode; want_ticks set so that k* is about 100 in the fast half (10 ticks per
	 * message), 40 at the end: some 4x10^5 samples, as a real point gets. */
	pl__sampler_init(&s, 0, 0, 1, 1.0, 99);
	s.want_ticks = 1000;
	for (uint64_t i = 0; i < n; i++) {
		int64_t lat = synth(i, &rng);

		pl_hist_record(all, lat);
		if (pl__sampler_due(&s)) {
			pl_hist_record_n(some, lat, UINT64_C(1) << pl__sampler_weight_log2(&s));
			pl__sampler_next(&s, synth_time(i, n));
			samples++;
		}
	}
	pt_note("estimate: %llu samples, final k %llu", (unsigned long long)samples,
		(unsigned long long)s.k);
	CHECK(samples > 50000 && samples < n / 16);
	for (size_t j = 0; j < sizeof(q) / sizeof(q[0]); j++) {
		double a = (double)pl_hist_percentile(all, q[j]);
		double b = (double)pl_hist_percentile(some, q[j]);

		printf("estimate: %llu samples, p%g: every message %.0f, sampled %.0f\n",
		       (unsigned long long)samples, q[j], a, b);
		CHECK(b >= a * 0.95 && b <= a * 1.05);
	}
	/* The weights make the count that of the messages (within the sampling's error). */
	CHECK(some->count > n * 0.95 && some->count < n * 1.05);
	pl_hist_free(all);
	pl_hist_free(some);
}

int main(void)
{
	pt_watchdog_start(120);
	check_msg();
	check_interval_from_count();
	check_forced();
	check_adaptive();
	check_tally();
	check_match();
	check_shadow();
	check_estimate();
	printf("test_sampling: ok\n");
	return 0;
}
