/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_BENCH_STATS_H
#define PATLAB_BENCH_STATS_H

/*
 * The statistics behind `patlab check` (bench/check.c): medians (the summary's too: the one
 * median of bench/), the Mann-Whitney U test, a bootstrap confidence interval of a ratio of
 * medians, and the Wilcoxon signed-rank test (the across-configuration verdict: one figure
 * per configuration, too few repetitions for a test of each).
 *
 * Why these: repetitions of a benchmark on a shared machine are neither normal nor
 * homoscedastic (two-mode results, long right tails from preemption), so the gate compares
 * medians and uses a rank test, which assumes nothing about the shape. The bootstrap gives an
 * interval for the ratio of medians without a formula for its variance.
 *
 * Pure functions over arrays of doubles: no I/O, no global state, nothing kept between calls;
 * safe from any number of threads. The bootstrap is deterministic: same inputs, same seed,
 * same interval. Memory is allocated and freed inside each call; on allocation failure they
 * return -ENOMEM and leave the outputs untouched.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Up to this many observations in the two samples together the U test is exact: the
 * p-value is computed from the permutation distribution of the rank sum conditional on the
 * observed ties (with no ties, the classical Mann-Whitney distribution). Above it, the normal
 * approximation with tie correction and continuity correction is used (its error is far below
 * any alpha a gate uses at that size).
 */
#define PB_MWU_EXACT_MAX 50

/*
 * pb_median - the median of @v[0..@n) (the mean of the middle two when @n is even); NAN when
 * @n is 0 or a scratch copy cannot be allocated (@n > 64).
 */
double pb_median(const double *v, size_t n);

/*
 * struct pb_mwu - the outcome of a Mann-Whitney U test of samples x and y.
 * @u:     U of x: the pairs (x_i, y_j) with x_i > y_j, ties counting one half (0 .. nx*ny).
 * @p:     two-sided p-value: the probability, if x and y come from one distribution, of a U at
 *         least as far from nx*ny/2 as the one observed.
 * @z:     the normal approximation's continuity-corrected z (0 when @exact).
 * @exact: true when @p is exact (nx + ny <= PB_MWU_EXACT_MAX).
 * @ties:  true when some value occurs more than once in the two samples together.
 */
struct pb_mwu {
	double u;
	double p;
	double z;
	bool exact;
	bool ties;
};

/*
 * pb_mwu_test - the two-sided Mann-Whitney U (Wilcoxon rank-sum) test of @x against @y.
 * @nx, @ny: sample sizes, each >= 1.
 *
 * Returns 0, -EINVAL (an empty sample or a NaN), or -ENOMEM.
 */
int pb_mwu_test(const double *x, size_t nx, const double *y, size_t ny, struct pb_mwu *out);

/*
 * pb_mwu_min_p - the smallest two-sided p-value the test can give for sample sizes @nx and
 * @ny (no ties, complete separation): 2 / C(nx + ny, nx), at most 1. For nx = ny = 4 it is
 * 0.029 and for 5 and 5 it is 0.0079: below 5 repetitions a side no difference, however
 * large, can be significant at alpha = 0.01.
 */
double pb_mwu_min_p(size_t nx, size_t ny);

/*
 * Up to this many non-zero differences the signed-rank test is exact (the permutation
 * distribution of W+ given the ties, counted over doubled midranks in about n^3 steps); above
 * it, the normal approximation with tie and continuity corrections.
 */
#define PB_SRT_EXACT_MAX 400

/*
 * struct pb_srt - the outcome of a one-sided Wilcoxon signed-rank test of differences d.
 * @n:     the differences that are not 0 (zeros are dropped, Wilcoxon's way).
 * @w:     W+: the sum of the ranks of |d| (ties: midranks) over the positive d.
 * @p:     one-sided p-value for "d tends to be > 0": the probability, if each d were as likely
 *         positive as negative, of a W+ at least as large as observed; 1 when @n is 0.
 * @exact: true when @p is exact (@n <= PB_SRT_EXACT_MAX).
 */
struct pb_srt {
	size_t n;
	double w;
	double p;
	bool exact;
};

/*
 * pb_signrank_test - the one-sided Wilcoxon signed-rank test of @d[0..@n) against a median of
 * 0, alternative: greater. Returns 0, -EINVAL (a NaN or an infinity), or -ENOMEM.
 */
int pb_signrank_test(const double *d, size_t n, struct pb_srt *out);

/* pb_signrank_min_p - the smallest one-sided p with @n non-zero differences: 2^-@n. */
double pb_signrank_min_p(size_t n);

/* pb_rng_next - splitmix64: the next 64 random bits from *@state (any seed is fine). */
uint64_t pb_rng_next(uint64_t *state);

/*
 * pb_bootstrap_ratio - a percentile bootstrap confidence interval of
 * median(@cur) / median(@base).
 * @resamples: bootstrap replicates (each resamples both samples with replacement), >= 10.
 * @level:     coverage, e.g. 0.95 (0 < level < 1).
 * @seed:      the generator's seed: the same seed gives the same interval.
 * @lo, @hi:   the interval. Replicates whose base median is 0 count as +infinity (or as 1 when
 *             the current median is 0 too), so a zero never produces NaN.
 *
 * Returns 0, -EINVAL (an empty sample, bad @resamples or @level), or -ENOMEM.
 */
int pb_bootstrap_ratio(const double *base, size_t nb, const double *cur, size_t nc,
		       unsigned resamples, double level, uint64_t seed, double *lo, double *hi);

#endif /* PATLAB_BENCH_STATS_H */
