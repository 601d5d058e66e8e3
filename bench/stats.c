/* SPDX-License-Identifier: MIT */
/*
 * Statistics for the regression gate (see stats.h for what and why).
 *
 * Mann-Whitney U, exact: the two samples are ranked together, tied values sharing the mean of
 * their ranks (midranks). Under the null hypothesis every choice of which nx of the N ranks
 * belong to x is equally likely, so the p-value is the share of the C(N, nx) choices whose
 * rank sum is at least as extreme as the observed one. Doubled midranks are integers, so a
 * subset-sum count over them (cnt[k][s] = subsets of k elements with doubled rank sum s, built
 * one element at a time) gives that distribution exactly, ties included; the counts are
 * integers below 2^53 for N <= PB_MWU_EXACT_MAX (C(50, 25) ~ 1.3e14), so doubles hold them
 * exactly. The distribution is symmetric about its mean (the multiset of midranks is symmetric
 * about (N + 1) / 2), so the two-sided p-value is twice the smaller tail, at most 1. The count
 * runs over the smaller sample: about N * min(nx, ny) * N * (N + 1) additions, 3 million at
 * N = 50.
 *
 * Mann-Whitney U, normal approximation (N > PB_MWU_EXACT_MAX): mean nx*ny/2, variance
 * nx*ny/12 * ((N + 1) - sum(t^3 - t) / (N (N - 1))) over the tie groups of size t, and the
 * continuity correction of one half (as R's wilcox.test and SciPy's mannwhitneyu do).
 *
 * Wilcoxon signed-rank (one-sided, the across-configuration verdict): zeros are dropped, the
 * |d| ranked with midranks, W+ the rank sum of the positive d. Under the null hypothesis each
 * d is as likely positive as negative independently, so every subset of the ranks is W+'s
 * set with probability 2^-n: the distribution of the doubled sum is built one rank at a time
 * (prob[s] = (prob[s] + prob[s - r]) / 2), exact given the ties. Above PB_SRT_EXACT_MAX,
 * the normal approximation: mean n (n + 1) / 4, variance n (n + 1) (2n + 1) / 24 less
 * sum(t^3 - t) / 48 over the tie groups, continuity correction one half (R's wilcox.test).
 *
 * Bootstrap: both samples are resampled with replacement, the ratio of medians taken, and the
 * interval read from the sorted replicates at the (1 - level)/2 and (1 + level)/2 ranks
 * (nearest rank: no interpolation, so an infinite replicate never turns into NaN).
 */
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmp_abs(const void *a, const void *b)
{
	double x = fabs(*(const double *)a), y = fabs(*(const double *)b);

	return (x > y) - (x < y);
}

/* median_inplace - the median of @v[0..@n), sorting @v. */
static double median_inplace(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double pb_median(const double *v, size_t n)
{
	double small[64], *tmp = n <= 64 ? small : malloc(n * sizeof(*tmp));
	double m;

	if (n == 0 || tmp == NULL)
		return NAN;
	memcpy(tmp, v, n * sizeof(*v));
	m = median_inplace(tmp, n);
	if (tmp != small)
		free(tmp);
	return m;
}

double pb_mwu_min_p(size_t nx, size_t ny)
{
	size_t n = nx + ny, k = nx < ny ? nx : ny;
	double c = 1;

	if (nx == 0 || ny == 0)
		return 1;
	for (size_t i = 1; i <= k; i++)
		c = c * (double)(n - k + i) / (double)i;
	return c <= 2 ? 1 : 2 / c;
}

struct obs {
	double v;
	unsigned char in_x;
};

static int cmp_obs(const void *a, const void *b)
{
	return cmp_double(&((const struct obs *)a)->v, &((const struct obs *)b)->v);
}

int pb_mwu_test(const double *x, size_t nx, const double *y, size_t ny, struct pb_mwu *out)
{
	size_t n = nx + ny;
	struct obs *o;
	unsigned *r2; /* doubled midranks, in sorted order: integers 2 .. 2n */
	double tie_term = 0, rx2 = 0, u, mu;
	bool ties = false;

	if (nx == 0 || ny == 0)
		return -EINVAL;
	for (size_t i = 0; i < nx; i++)
		if (isnan(x[i]))
			return -EINVAL;
	for (size_t i = 0; i < ny; i++)
		if (isnan(y[i]))
			return -EINVAL;
	o = malloc(n * sizeof(*o));
	r2 = malloc(n * sizeof(*r2));
	if (o == NULL || r2 == NULL) {
		free(o);
		free(r2);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nx; i++)
		o[i] = (struct obs){x[i], 1};
	for (size_t i = 0; i < ny; i++)
		o[nx + i] = (struct obs){y[i], 0};
	qsort(o, n, sizeof(*o), cmp_obs);
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && o[j + 1].v == o[i].v)
			j++;
		/* positions i..j (0-based) share the midrank ((i + 1) + (j + 1)) / 2 */
		for (size_t k = i; k <= j; k++) {
			r2[k] = (unsigned)(i + j + 2);
			if (o[k].in_x)
				rx2 += r2[k];
		}
		if (j > i) {
			double t = (double)(j - i + 1);

			ties = true;
			tie_term += t * t * t - t;
		}
		i = j + 1;
	}
	u = rx2 / 2 - (double)nx * (double)(nx + 1) / 2;
	mu = (double)nx * (double)ny / 2;
	memset(out, 0, sizeof(*out));
	out->u = u;
	out->ties = ties;

	if (n <= PB_MWU_EXACT_MAX) {
		/* Count over the smaller sample; its doubled rank sum is the statistic. */
		bool small_is_x = nx <= ny;
		size_t k = small_is_x ? nx : ny;
		size_t smax = n * (n + 1); /* the doubled sum of all ranks */
		double obs2 = small_is_x ? rx2 : (double)smax - rx2;
		double *cnt = calloc((k + 1) * (smax + 1), sizeof(*cnt));
		double lo = 0, hi = 0, total = 0;

		if (cnt == NULL) {
			free(o);
			free(r2);
			return -ENOMEM;
		}
#define CNT(kk, ss) cnt[(size_t)(kk) * (smax + 1) + (ss)]
		CNT(0, 0) = 1;
		for (size_t i = 0; i < n; i++) {
			size_t top = i + 1 < k ? i + 1 : k;

			for (size_t kk = top; kk >= 1; kk--)
				for (size_t s = smax; s >= r2[i]; s--)
					CNT(kk, s) += CNT(kk - 1, s - r2[i]);
		}
		for (size_t s = 0; s <= smax; s++) {
			double c = CNT(k, s);

			total += c;
			if ((double)s <= obs2)
				lo += c;
			if ((double)s >= obs2)
				hi += c;
		}
#undef CNT
		free(cnt);
		out->exact = true;
		out->p = fmin(1.0, 2 * fmin(lo, hi) / total);
	} else {
		double nn = (double)n;
		double var = (double)nx * (double)ny / 12 * ((nn + 1) - tie_term / (nn * (nn - 1)));

		if (var <= 0) {
			out->p = 1; /* every value equal: nothing to tell the samples apart */
		} else {
			double z = (fabs(u - mu) - 0.5) / sqrt(var);

			out->z = z > 0 ? z : 0;
			out->p = fmin(1.0, erfc(out->z / sqrt(2.0)));
		}
	}
	free(o);
	free(r2);
	return 0;
}

double pb_signrank_min_p(size_t n)
{
	return ldexp(1.0, -(int)(n < 2000 ? n : 2000));
}

int pb_signrank_test(const double *d, size_t n, struct pb_srt *out)
{
	double *a, tie_term = 0, w2 = 0;
	unsigned *r2;
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		if (!isfinite(d[i]))
			return -EINVAL;
	a = malloc((n ? n : 1) * sizeof(*a));
	r2 = malloc((n ? n : 1) * sizeof(*r2));
	if (a == NULL || r2 == NULL) {
		free(a);
		free(r2);
		return -ENOMEM;
	}
	/* The non-zero differences, sorted by magnitude (the sign kept). */
	for (size_t i = 0; i < n; i++)
		if (d[i] != 0)
			a[m++] = d[i];
	qsort(a, m, sizeof(*a), cmp_abs);
	for (size_t i = 0; i < m;) {
		size_t j = i;

		while (j + 1 < m && fabs(a[j + 1]) == fabs(a[i]))
			j++;
		for (size_t k = i; k <= j; k++) {
			r2[k] = (unsigned)(i + j + 2); /* doubled midrank */
			if (a[k] > 0)
				w2 += r2[k];
		}
		if (j > i) {
			double t = (double)(j - i + 1);

			tie_term += t * t * t - t;
		}
		i = j + 1;
	}
	memset(out, 0, sizeof(*out));
	out->n = m;
	out->w = w2 / 2;
	if (m == 0) {
		out->p = 1;
		out->exact = true;
	} else if (m <= PB_SRT_EXACT_MAX) {
		size_t smax = m * (m + 1); /* the doubled sum of all ranks */
		double *prob = calloc(smax + 1, sizeof(*prob)), p = 0;

		if (prob == NULL) {
			free(a);
			free(r2);
			return -ENOMEM;
		}
		prob[0] = 1;
		for (size_t i = 0, top = 0; i < m; i++) {
			top += r2[i];
			for (size_t s = top; s >= r2[i]; s--)
				prob[s] = (prob[s] + prob[s - r2[i]]) / 2;
			for (size_t s = r2[i]; s-- > 0;)
				prob[s] /= 2;
		}
		for (size_t s = (size_t)w2; s <= smax; s++)
			p += prob[s];
		free(prob);
		out->exact = true;
		out->p = fmin(1.0, p);
	} else {
		double nn = (double)m;
		double mu = nn * (nn + 1) / 4;
		double var = nn * (nn + 1) * (2 * nn + 1) / 24 - tie_term / 48;
		double z = (out->w - mu - 0.5) / sqrt(var);

		out->p = var > 0 ? fmin(1.0, 0.5 * erfc(z / sqrt(2.0))) : 1;
	}
	free(a);
	free(r2);
	return 0;
}

uint64_t pb_rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* An index uniform in [0, n): 53 random bits scaled (bias below 2^-40 for n < 2^13). */
static size_t rng_index(uint64_t *state, size_t n)
{
	size_t i = (size_t)((double)(pb_rng_next(state) >> 11) * 0x1.0p-53 * (double)n);

	return i < n ? i : n - 1;
}

static double resample_median(const double *v, size_t n, double *scratch, uint64_t *state)
{
	for (size_t i = 0; i < n; i++)
		scratch[i] = v[rng_index(state, n)];
	return median_inplace(scratch, n);
}

int pb_bootstrap_ratio(const double *base, size_t nb, const double *cur, size_t nc,
		       unsigned resamples, double level, uint64_t seed, double *lo, double *hi)
{
	double *ratios, *scratch;
	uint64_t state = seed;
	size_t ilo, ihi;

	if (nb == 0 || nc == 0 || resamples < 10 || !(level > 0 && level < 1))
		return -EINVAL;
	ratios = malloc(resamples * sizeof(*ratios));
	scratch = malloc((nb > nc ? nb : nc) * sizeof(*scratch));
	if (ratios == NULL || scratch == NULL) {
		free(ratios);
		free(scratch);
		return -ENOMEM;
	}
	for (unsigned b = 0; b < resamples; b++) {
		double mb = resample_median(base, nb, scratch, &state);
		double mc = resample_median(cur, nc, scratch, &state);

		ratios[b] = mb != 0 ? mc / mb : mc == 0 ? 1 : INFINITY;
	}
	qsort(ratios, resamples, sizeof(*ratios), cmp_double);
	ilo = (size_t)floor((1 - level) / 2 * (resamples - 1) + 0.5);
	ihi = (size_t)floor((1 + level) / 2 * (resamples - 1) + 0.5);
	*lo = ratios[ilo];
	*hi = ratios[ihi];
	free(ratios);
	free(scratch);
	return 0;
}
