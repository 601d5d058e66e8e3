/* SPDX-License-Identifier: MIT */
/*
 * The latency histogram (patlab/hist.h) against exact percentiles.
 *
 * - Layout: buckets tile the range with no gap or overlap, every bucket's lower bound maps
 *   back to that bucket, and no bucket is wider than 1/64 of its lower bound.
 * - Values from 1 ns to 60 s (log-spaced), each between a 0 and a huge sample so the
 *   min/max clamps cannot hide an error: the reported median is within 1%.
 * - Uniform, exponential, heavy-tailed (Pareto, alpha 1.1) and bimodal samples: every reported
 *   percentile (p1 ... p99.99, max) is within 1% of the nearest-rank percentile of the sorted
 *   samples; the mean is exact; merging two halves equals recording everything in one.
 * - Empty and out-of-range inputs: zeros, clamping, no crash.
 */
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <patlab/hist.h>

#define N_SAMPLES 200000

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* A uniform double in (0, 1]. */
static double unit(uint64_t *st)
{
	return ((double)(pt_rand(st) >> 11) + 1.0) / 9007199254740992.0;
}

static int64_t draw(int dist, uint64_t *st)
{
	double u = unit(st), v;

	switch (dist) {
	case 0: /* uniform 1 ns .. 1 ms */
		v = 1 + u * 1e6;
		break;
	case 1: /* exponential, mean 20 us */
		v = -2e4 * log(u);
		break;
	case 2: /* Pareto, alpha 1.1, from 200 ns: a heavy tail out to seconds */
		v = 200.0 / pow(u, 1.0 / 1.1);
		break;
	default: /* bimodal: fast hand-offs near 90 ns, parked wake-ups near 40 us */
		v = (pt_rand(st) & 1) ? 80 + u * 20 : 38000 + u * 4000;
		break;
	}
	if (v > 60e9)
		v = 60e9;
	return (int64_t)v;
}

static const char *const dist_names[] = {"uniform", "exponential", "pareto", "bimodal"};

static void check_close(int64_t got, int64_t exact, const char *what, double q)
{
	double err = exact == 0 ? (double)(got != 0) : fabs((double)(got - exact)) / (double)exact;

	if (err > 0.01)
		pt_fail(__FILE__, __LINE__, "%s p%g: histogram %lld, exact %lld (error %.3f%%)",
			what, q, (long long)got, (long long)exact, 100 * err);
}

static void check_layout(void)
{
	pt_note("layout");
	CHECK_EQ(pl_hist_bucket_low(0), 0);
	for (unsigned i = 0; i + 1 < PL_HIST_BUCKETS; i++) {
		int64_t lo = pl_hist_bucket_low(i), w = pl_hist_bucket_width(i);

		CHECK_EQ(pl_hist_bucket_low(i + 1), lo + w);
		CHECK_EQ(pl_hist_index(lo), i);
		CHECK_EQ(pl_hist_index(lo + w - 1), i);
		if (lo >= PL_HIST_LINEAR)
			CHECK(w * 64 <= lo);
	}
	CHECK_EQ(pl_hist_index(INT64_MAX), PL_HIST_BUCKETS - 1);
	CHECK_EQ(pl_hist_index(-5), 0);
	CHECK(pl_hist_bucket_low(PL_HIST_BUCKETS - 1) < (INT64_C(1) << PL_HIST_TOP_BITS));
	CHECK(60 * INT64_C(1000000000) < (INT64_C(1) << PL_HIST_TOP_BITS));
}

static void check_single_values(pl_hist *h)
{
	pt_note("single values 1 ns .. 60 s");
	for (double v = 1; v <= 60e9; v *= 1.0137) {
		int64_t x = (int64_t)v;

		/* 0 and a huge value around it, so the min/max clamps do not hide the error. */
		pl_hist_reset(h);
		pl_hist_record(h, 0);
		pl_hist_record(h, x);
		pl_hist_record(h, x);
		pl_hist_record(h, x);
		pl_hist_record(h, INT64_C(1) << 45);
		check_close(pl_hist_percentile(h, 50), x, "single value", 50);
		CHECK_EQ(pl_hist_percentile(h, 100), INT64_C(1) << 45);
		CHECK_EQ(h->min, 0);
	}
}

static void check_distribution(int dist, uint64_t *st, int64_t *samples, pl_hist *all,
			       pl_hist *half1, pl_hist *half2)
{
	static const double qs[] = {1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100};
	double sum = 0;
	struct pl_hist_summary s;

	pt_note("distribution %s", dist_names[dist]);
	pl_hist_reset(all);
	pl_hist_reset(half1);
	pl_hist_reset(half2);
	for (size_t i = 0; i < N_SAMPLES; i++) {
		samples[i] = draw(dist, st);
		sum += (double)samples[i];
		pl_hist_record(all, samples[i]);
		pl_hist_record(i % 2 ? half1 : half2, samples[i]);
	}
	pl_hist_merge(half1, half2);
	CHECK(memcmp(half1->bucket, all->bucket, sizeof(all->bucket)) == 0);
	CHECK_EQ(half1->count, all->count);
	CHECK_EQ(half1->min, all->min);
	CHECK_EQ(half1->max, all->max);
	qsort(samples, N_SAMPLES, sizeof(samples[0]), cmp_i64);
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		size_t rank = (size_t)ceil(qs[k] / 100.0 * N_SAMPLES - 1e-9);

		if (rank < 1)
			rank = 1;
		check_close(pl_hist_percentile(all, qs[k]), samples[rank - 1], dist_names[dist],
			    qs[k]);
		check_close(pl_hist_percentile(half1, qs[k]), samples[rank - 1], "merged", qs[k]);
	}
	s = pl_hist_summarize(all);
	CHECK_EQ(s.count, N_SAMPLES);
	CHECK_EQ(s.min, samples[0]);
	CHECK_EQ(s.max, samples[N_SAMPLES - 1]);
	CHECK(s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max);
	CHECK(fabs(s.mean - sum / N_SAMPLES) <= 1e-9 * (sum / N_SAMPLES));
	printf("%-12s p50 %lld p99 %lld p99.9 %lld max %lld (exact p50 %lld p99.9 %lld)\n",
	       dist_names[dist], (long long)s.p50, (long long)s.p99, (long long)s.p999,
	       (long long)s.max, (long long)samples[N_SAMPLES / 2 - 1],
	       (long long)samples[(size_t)ceil(0.999 * N_SAMPLES) - 1]);
}

static void check_edges(pl_hist *h)
{
	struct pl_hist_summary s;

	pt_note("edges");
	pl_hist_reset(h);
	s = pl_hist_summarize(h);
	CHECK_EQ(s.count, 0);
	CHECK_EQ(s.p99, 0);
	CHECK_EQ(s.max, 0);
	CHECK_EQ(pl_hist_percentile(h, 50), 0);
	CHECK(pl_hist_mean(h) == 0);
	pl_hist_record(h, -7); /* a clock step backwards counts as 0 */
	CHECK_EQ(pl_hist_percentile(h, 50), 0);
	pl_hist_record(h, INT64_C(1) << 50); /* beyond the top octave: last bucket, exact max */
	CHECK_EQ(pl_hist_percentile(h, 100), INT64_C(1) << 50);
	CHECK_EQ(h->count, 2);
	/* q out of range is clamped */
	CHECK_EQ(pl_hist_percentile(h, 0), 0);
	CHECK_EQ(pl_hist_percentile(h, 250), INT64_C(1) << 50);
}

int main(void)
{
	uint64_t st = pt_seed();
	int64_t *samples = malloc(N_SAMPLES * sizeof(*samples));
	pl_hist *all = pl_hist_new(), *h1 = pl_hist_new(), *h2 = pl_hist_new();

	CHECK(samples != NULL && all != NULL && h1 != NULL && h2 != NULL);
	pt_watchdog_start(60);
	check_layout();
	check_single_values(all);
	for (int d = 0; d < 4; d++)
		check_distribution(d, &st, samples, all, h1, h2);
	check_edges(all);
	pl_hist_free(all);
	pl_hist_free(h1);
	pl_hist_free(h2);
	pl_hist_free(NULL);
	free(samples);
	printf("test_hist: ok\n");
	return 0;
}
