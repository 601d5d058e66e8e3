/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_HIST_H
#define PATLAB_HIST_H

/*
 * Latency histograms: log-linear buckets in the manner of HdrHistogram, our own.
 *
 * Values are int64_t nanoseconds. Values 0..127 have a bucket each (exact). Above that every
 * power-of-two octave [2^e, 2^(e+1)) is cut into 64 equal buckets, so a bucket is at most 1/64
 * of its lower bound wide; a percentile is reported as the middle of its bucket (clamped to the
 * observed min and max), which is within 1/128 (0.79%) of the true sample at that rank. The
 * top octave ends at 2^40 ns (about 18 minutes); larger values land in the last bucket (the
 * exact maximum is still kept). 60 s is well inside the range.
 *
 * Recording is constant time (a count-leading-zeros, a shift and one increment) and writes only
 * the histogram itself: give every thread its own histogram, then pl_hist_merge() them after
 * the threads are joined. Nothing here is thread-safe; nothing here allocates on the hot path.
 *
 * Percentiles use the nearest-rank definition: the q-th percentile of n samples is the sample
 * at rank ceil(q/100 * n) (1-based) in sorted order, the same rank a sorted array would give.
 *
 * Memory: struct pl_hist is ~18 KB (2240 64-bit counters); pl_hist_new() allocates one,
 * pl_hist_free() releases it. A zero-initialised struct (or pl_hist_reset()) is empty.
 */

#include <stdbool.h>
#include <stdint.h>

#define PL_HIST_SUB_BITS 6			 /* 64 buckets per octave above 128 */
#define PL_HIST_LINEAR	 (2 << PL_HIST_SUB_BITS) /* 0..127 recorded exactly */
#define PL_HIST_TOP_BITS 40			 /* values >= 2^40 ns share the last bucket */
#define PL_HIST_BUCKETS                                                                            \
	(PL_HIST_LINEAR + (PL_HIST_TOP_BITS - PL_HIST_SUB_BITS - 1) * (1 << PL_HIST_SUB_BITS))

/*
 * struct pl_hist - one thread's latency histogram. Read it only through the functions below.
 * @count: samples recorded.
 * @sum:   their sum, as a double so it cannot overflow (for the mean).
 * @min:   exact smallest sample (valid when @count > 0).
 * @max:   exact largest sample (0 when empty).
 * @bucket: counts per bucket, see pl_hist_index().
 */
typedef struct pl_hist {
	uint64_t count;
	double sum;
	int64_t min;
	int64_t max;
	uint64_t bucket[PL_HIST_BUCKETS];
} pl_hist;

/* struct pl_hist_summary - what the harness reports. All 0 when the histogram is empty. */
struct pl_hist_summary {
	uint64_t count;
	int64_t p50, p90, p99, p999;
	int64_t min, max;
	double mean;
};

/* pl_hist_index - the bucket of @ns (negative values count as 0). Constant time. */
static inline unsigned pl_hist_index(int64_t ns)
{
	uint64_t v = ns < 0 ? 0 : (uint64_t)ns;
	unsigned e, shift;

	if (v < PL_HIST_LINEAR)
		return (unsigned)v;
	if (v >= (UINT64_C(1) << PL_HIST_TOP_BITS))
		return PL_HIST_BUCKETS - 1;
	e = 63u - (unsigned)__builtin_clzll(v); /* 2^e <= v < 2^(e+1), e >= 7 */
	shift = e - PL_HIST_SUB_BITS;		/* v >> shift is in [64, 128) */
	return (shift << PL_HIST_SUB_BITS) + (unsigned)(v >> shift);
}

/*
 * pl_hist_record - add one sample of @ns nanoseconds. Constant time, no allocation, writes
 * only @h (one thread per histogram).
 */
static inline void pl_hist_record(pl_hist *h, int64_t ns)
{
	if (ns < 0)
		ns = 0;
	h->bucket[pl_hist_index(ns)]++;
	if (h->count == 0 || ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	h->count++;
	h->sum += (double)ns;
}

/*
 * pl_hist_record_n - add @n samples of @ns nanoseconds at once: one sample that stands for @n
 * (a sampled measurement weighted by its sampling interval). pl_hist_record() is @n = 1.
 */
static inline void pl_hist_record_n(pl_hist *h, int64_t ns, uint64_t n)
{
	if (n == 0)
		return;
	if (ns < 0)
		ns = 0;
	h->bucket[pl_hist_index(ns)] += n;
	if (h->count == 0 || ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	h->count += n;
	h->sum += (double)ns * (double)n;
}

/* pl_hist_new - an empty histogram, or NULL with errno ENOMEM. */
pl_hist *pl_hist_new(void);

/* pl_hist_free - release @h (NULL: no-op). */
void pl_hist_free(pl_hist *h);

/* pl_hist_reset - make @h empty. */
void pl_hist_reset(pl_hist *h);

/* pl_hist_merge - add every sample of @src to @dst (@src unchanged). */
void pl_hist_merge(pl_hist *dst, const pl_hist *src);

/*
 * pl_hist_bucket_low - smallest value that lands in bucket @i; pl_hist_bucket_width - how many
 * consecutive values land there (1 below 128). For tests and plots.
 */
int64_t pl_hist_bucket_low(unsigned i);
int64_t pl_hist_bucket_width(unsigned i);

/*
 * pl_hist_percentile - the @q-th percentile (0 < @q <= 100; 100 gives the exact max), within
 * 0.79% of the exact nearest-rank sample. Returns 0 when @h is empty; @q out of range is
 * clamped into (0, 100].
 */
int64_t pl_hist_percentile(const pl_hist *h, double q);

/* pl_hist_mean - the exact mean of the samples (0 when empty). */
double pl_hist_mean(const pl_hist *h);

/* pl_hist_summarize - count, p50, p90, p99, p99.9, min, max and mean of @h. */
struct pl_hist_summary pl_hist_summarize(const pl_hist *h);

#endif /* PATLAB_HIST_H */
