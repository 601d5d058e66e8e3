/* SPDX-License-Identifier: MIT */
/*
 * test_stats - the statistics of the regression gate (bench/stats.c) against known values.
 *
 * - Mann-Whitney U, exact: the published table for n = m = 5 (Mann & Whitney 1947, Table I:
 *   P(U <= u) for u = 0..12) and the standard two-sided critical values for n = m = 8
 *   (U <= 13 at 0.05, <= 7 at 0.01) and n = m = 10 (<= 23 and <= 16): the p-value must be
 *   at most alpha at the critical U and above it one step further.
 * - Exact with ties: against a brute-force enumeration of every subset (done here, not in
 *   stats.c) of a small tied sample.
 * - Normal approximation (N > PB_MWU_EXACT_MAX), with and without ties: against the textbook
 *   formula evaluated independently (Python, math.erfc; values below), and close to the exact
 *   p at the boundary.
 * - The smallest attainable p (why --min-reps defaults to 5), U symmetry, medians.
 * - Wilcoxon signed-rank, one-sided (the across-configuration verdict): R's documented example
 *   (wilcox.test's paired depression scores, alternative "greater": V = 40, p = 0.01953);
 *   with ties and zeros against a brute-force enumeration of every sign assignment (done
 *   here); the normal approximation above PB_SRT_EXACT_MAX against SciPy 1.10's
 *   scipy.stats.wilcoxon(..., alternative="greater", method="approx", correction=True)
 *   (values below); all zeros (an A/A of a run against itself) gives p = 1; 2^-n minimum.
 * - Bootstrap: the same seed gives the same interval, a constant shift gives a degenerate
 *   interval at the shift, zeros give no NaN, bad arguments are refused.
 */
#include "check.h"
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define CLOSE(a, b, tol)                                                                           \
	do {                                                                                       \
		double pt_x = (a), pt_y = (b);                                                     \
		if (!(fabs(pt_x - pt_y) <= (tol)))                                                 \
			pt_fail(__FILE__, __LINE__, "CLOSE(%s, %s): %.10g vs %.10g (tol %g)", #a,  \
				#b, pt_x, pt_y, (double)(tol));                                    \
	} while (0)

/* Samples of sizes n and m (distinct values) whose U of x is exactly @u. */
static void sample_with_u(size_t n, size_t m, unsigned u, double *x, double *y)
{
	unsigned c[64], rem = u;
	bool taken[128] = {false};
	size_t k = 0;

	for (size_t i = n; i-- > 0;) {
		c[i] = rem < m ? rem : (unsigned)m; /* y values below x[i]; non-decreasing in i */
		rem -= c[i];
	}
	for (size_t i = 0; i < n; i++) {
		x[i] = (double)(i + 1 + c[i]);
		taken[i + 1 + c[i]] = true;
	}
	for (size_t r = 1; r <= n + m; r++)
		if (!taken[r])
			y[k++] = (double)r;
	CHECK_EQ(k, m);
}

static double mwu_p(const double *x, size_t nx, const double *y, size_t ny, struct pb_mwu *t)
{
	CHECK_EQ(pb_mwu_test(x, nx, y, ny, t), 0);
	return t->p;
}

static void test_table_5_5(void)
{
	/* Mann & Whitney (1947), Table I, n = m = 5: P(U <= u), u = 0..12, to 3 decimals. */
	static const double table[] = {.004, .008, .016, .028, .048, .075, .111,
				       .155, .210, .274, .345, .421, .500};
	double x[5], y[5];
	struct pb_mwu t;

	for (unsigned u = 0; u <= 12; u++) {
		pt_note("n=m=5, U=%u", u);
		sample_with_u(5, 5, u, x, y);
		mwu_p(x, 5, y, 5, &t);
		CHECK(t.exact);
		CHECK(!t.ties);
		CLOSE(t.u, u, 0);
		CLOSE(t.p / 2, table[u], 0.0005 + (u == 12 ? 0.0 : 0)); /* p = 2 P(U <= u) */
	}
	/* the exact values behind the table's first entries: 1, 2, 4 of C(10,5) = 252 */
	sample_with_u(5, 5, 0, x, y);
	CLOSE(mwu_p(x, 5, y, 5, &t), 2.0 / 252, 1e-12);
	sample_with_u(5, 5, 2, x, y);
	CLOSE(mwu_p(x, 5, y, 5, &t), 8.0 / 252, 1e-12);
}

static void test_critical_values(void)
{
	static const struct {
		size_t n;
		unsigned u_crit;
		double alpha;
	} crit[] = {{8, 13, 0.05}, {8, 7, 0.01}, {10, 23, 0.05}, {10, 16, 0.01}};
	double x[16], y[16];
	struct pb_mwu t;

	for (size_t i = 0; i < sizeof(crit) / sizeof(crit[0]); i++) {
		pt_note("n=m=%zu critical U %u at %g", crit[i].n, crit[i].u_crit, crit[i].alpha);
		sample_with_u(crit[i].n, crit[i].n, crit[i].u_crit, x, y);
		CHECK(mwu_p(x, crit[i].n, y, crit[i].n, &t) <= crit[i].alpha);
		sample_with_u(crit[i].n, crit[i].n, crit[i].u_crit + 1, x, y);
		CHECK(mwu_p(x, crit[i].n, y, crit[i].n, &t) > crit[i].alpha);
	}
	/* Exact values (enumeration): n = m = 10, U = 16 -> 0.00893069778518695. */
	sample_with_u(10, 10, 16, x, y);
	CLOSE(mwu_p(x, 10, y, 10, &t), 0.00893069778518695, 1e-12);
}

/* Brute force: every subset of size nx of the pooled midranks. */
static double brute_p(const double *x, size_t nx, const double *y, size_t ny)
{
	double v[16], r[16], obs = 0, lo = 0, hi = 0, tot = 0;
	size_t n = nx + ny;

	memcpy(v, x, nx * sizeof(double));
	memcpy(v + nx, y, ny * sizeof(double));
	for (size_t i = 0; i < n; i++) {
		double below = 0, equal = 0;

		for (size_t j = 0; j < n; j++) {
			below += v[j] < v[i];
			equal += v[j] == v[i];
		}
		r[i] = below + (equal + 1) / 2;
	}
	for (size_t i = 0; i < nx; i++)
		obs += r[i];
	for (unsigned mask = 0; mask < 1u << n; mask++) {
		double s = 0;

		if ((size_t)__builtin_popcount(mask) != nx)
			continue;
		for (size_t i = 0; i < n; i++)
			if (mask & (1u << i))
				s += r[i];
		tot++;
		lo += s <= obs + 1e-9;
		hi += s >= obs - 1e-9;
	}
	return fmin(1, 2 * fmin(lo, hi) / tot);
}

static void test_ties_exact(void)
{
	static const double x[] = {1, 2, 2, 3, 3}, y[] = {2, 3, 3, 4, 5, 5};
	static const double x2[] = {7, 7, 7, 8}, y2[] = {7, 8, 8, 9, 9, 9, 10};
	struct pb_mwu t;

	CLOSE(mwu_p(x, 5, y, 6, &t), brute_p(x, 5, y, 6), 1e-12);
	CHECK(t.exact);
	CHECK(t.ties);
	CLOSE(t.u, 5, 0);
	CLOSE(t.p, 0.09956709956709957, 1e-12); /* the enumeration, done in Python too */
	CLOSE(mwu_p(x2, 4, y2, 7, &t), brute_p(x2, 4, y2, 7), 1e-12);
	/* every value equal: nothing to tell apart */
	{
		static const double a[] = {3, 3, 3, 3, 3}, b[] = {3, 3, 3, 3, 3};

		CLOSE(mwu_p(a, 5, b, 5, &t), 1, 0);
	}
}

static void test_normal(void)
{
	double x[40], y[40];
	struct pb_mwu t;

	/* x = 0..29, y = 10.5..39.5: U = 190, z = 3.836558396254233, p = 0.00012477053789099963 */
	for (int i = 0; i < 30; i++) {
		x[i] = i;
		y[i] = i + 10.5;
	}
	mwu_p(x, 30, y, 30, &t);
	CHECK(!t.exact);
	CLOSE(t.u, 190, 0);
	CLOSE(t.z, 3.836558396254233, 1e-9);
	CLOSE(t.p, 0.00012477053789099963, 1e-12);
	/* ties: x = i/3 (i < 30), y = i/3 + 2 (i < 31): U = 288, z = 2.5562552207509737 */
	for (int i = 0; i < 31; i++) {
		x[i] = i / 3;
		y[i] = i / 3 + 2;
	}
	mwu_p(x, 30, y, 31, &t);
	CHECK(!t.exact);
	CHECK(t.ties);
	CLOSE(t.u, 288, 0);
	CLOSE(t.z, 2.5562552207509737, 1e-9);
	CLOSE(t.p, 0.010580548308502843, 1e-12);
	/* At the boundary (25 + 25 exact, 25 + 26 normal) the two agree within a factor 2. */
	{
		struct pb_mwu te, tn;

		for (int i = 0; i < 26; i++) {
			x[i] = i * 1.0;
			y[i] = i * 1.0 + 5.25;
		}
		mwu_p(x, 25, y, 25, &te);
		mwu_p(x, 25, y, 26, &tn);
		CHECK(te.exact && !tn.exact);
		CLOSE(te.p, 0.016982216353507558, 1e-12); /* U = 190, by enumeration */
		CHECK(tn.p > 0.5 * te.p && tn.p < 2 * te.p);
	}
}

static void test_min_p_and_symmetry(void)
{
	double x[5] = {10, 11, 12, 13, 14}, y[5] = {1, 2, 3, 4, 5};
	struct pb_mwu a, b;

	CLOSE(pb_mwu_min_p(5, 5), 2.0 / 252, 1e-15); /* 0.0079 < 0.01: --min-reps 5 */
	CLOSE(pb_mwu_min_p(4, 4), 2.0 / 70, 1e-15);  /* 0.029: 4 reps can never pass 0.01 */
	CLOSE(pb_mwu_min_p(3, 3), 0.1, 1e-15);
	CLOSE(pb_mwu_min_p(10, 10), 2.0 / 184756, 1e-18);
	CLOSE(pb_mwu_min_p(1, 1), 1, 0);
	CHECK(pb_mwu_min_p(4, 4) > 0.01 && pb_mwu_min_p(5, 5) < 0.01);
	/* complete separation reaches the minimum exactly */
	CLOSE(mwu_p(x, 5, y, 5, &a), pb_mwu_min_p(5, 5), 1e-15);
	CLOSE(a.u, 25, 0);
	mwu_p(y, 5, x, 5, &b);
	CLOSE(b.u, 0, 0);
	CLOSE(a.p, b.p, 0);
	/* refused inputs */
	CHECK_EQ(pb_mwu_test(x, 0, y, 5, &a), -EINVAL);
	y[2] = NAN;
	CHECK_EQ(pb_mwu_test(x, 5, y, 5, &a), -EINVAL);
}

static void test_median(void)
{
	static const double odd[] = {5, 1, 4, 2, 3}, even[] = {8, 1, 4, 2}, dup[] = {2, 2, 2, 9};
	double big[100];

	CLOSE(pb_median(odd, 5), 3, 0);
	CLOSE(pb_median(even, 4), 3, 0);
	CLOSE(pb_median(dup, 4), 2, 0);
	CLOSE(pb_median(odd, 1), 5, 0);
	CHECK(isnan(pb_median(odd, 0)));
	for (int i = 0; i < 100; i++)
		big[i] = 99 - i;
	CLOSE(pb_median(big, 100), 49.5, 0);
}

static void test_bootstrap(void)
{
	double base[12], cur[12], lo1, hi1, lo2, hi2, lo3, hi3;
	uint64_t s = 42;

	for (int i = 0; i < 12; i++) {
		base[i] = 100 + (double)(pb_rng_next(&s) % 1000) / 100; /* 100 .. 110 */
		cur[i] = 1.2 * (100 + (double)(pb_rng_next(&s) % 1000) / 100);
	}
	CHECK_EQ(pb_bootstrap_ratio(base, 12, cur, 12, 2000, 0.95, 7, &lo1, &hi1), 0);
	CHECK_EQ(pb_bootstrap_ratio(base, 12, cur, 12, 2000, 0.95, 7, &lo2, &hi2), 0);
	CHECK(lo1 == lo2 && hi1 == hi2); /* deterministic for a seed */
	CHECK(lo1 <= hi1);
	CHECK(lo1 > 1.05 && hi1 < 1.35); /* the true ratio is 1.2; both medians within 10% */
	CHECK(lo1 <= 1.2 * 1.04 && hi1 >= 1.2 / 1.04);
	CHECK_EQ(pb_bootstrap_ratio(base, 12, cur, 12, 2000, 0.95, 8, &lo3, &hi3), 0);
	CHECK(lo3 > 1.05 && hi3 < 1.35);
	/* a wider level gives a wider (or equal) interval, same seed */
	CHECK_EQ(pb_bootstrap_ratio(base, 12, cur, 12, 2000, 0.99, 7, &lo2, &hi2), 0);
	CHECK(lo2 <= lo1 && hi2 >= hi1);
	/* constant samples: the interval is the ratio itself */
	for (int i = 0; i < 12; i++) {
		base[i] = 10;
		cur[i] = 12;
	}
	CHECK_EQ(pb_bootstrap_ratio(base, 12, cur, 12, 500, 0.95, 1, &lo1, &hi1), 0);
	CLOSE(lo1, 1.2, 1e-12);
	CLOSE(hi1, 1.2, 1e-12);
	/* zeros: 0/0 counts as 1, x/0 as +inf; never NaN */
	for (int i = 0; i < 12; i++)
		base[i] = cur[i] = 0;
	CHECK_EQ(pb_bootstrap_ratio(base, 12, cur, 12, 500, 0.95, 1, &lo1, &hi1), 0);
	CLOSE(lo1, 1, 0);
	cur[0] = cur[1] = cur[2] = cur[3] = cur[4] = cur[5] = cur[6] = 5;
	CHECK_EQ(pb_bootstrap_ratio(base, 12, cur, 12, 500, 0.95, 1, &lo1, &hi1), 0);
	CHECK(!isnan(lo1) && !isnan(hi1) && isinf(hi1));
	/* refused */
	CHECK_EQ(pb_bootstrap_ratio(base, 0, cur, 12, 500, 0.95, 1, &lo1, &hi1), -EINVAL);
	CHECK_EQ(pb_bootstrap_ratio(base, 12, cur, 12, 5, 0.95, 1, &lo1, &hi1), -EINVAL);
	CHECK_EQ(pb_bootstrap_ratio(base, 12, cur, 12, 500, 1.0, 1, &lo1, &hi1), -EINVAL);
}

/* Brute force: every sign assignment of the non-zero |d|, midranks; P(W+ >= observed). */
static double brute_srt(const double *d, size_t n)
{
	double a[20], r[20], obs = 0, hit = 0, tot = 0;
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		if (d[i] != 0)
			a[m++] = d[i];
	for (size_t i = 0; i < m; i++) {
		double below = 0, equal = 0;

		for (size_t j = 0; j < m; j++) {
			below += fabs(a[j]) < fabs(a[i]);
			equal += fabs(a[j]) == fabs(a[i]);
		}
		r[i] = below + (equal + 1) / 2;
		if (a[i] > 0)
			obs += r[i];
	}
	for (unsigned mask = 0; mask < 1u << m; mask++) {
		double s = 0;

		for (size_t i = 0; i < m; i++)
			if (mask & (1u << i))
				s += r[i];
		tot++;
		hit += s >= obs - 1e-9;
	}
	return hit / tot;
}

static void test_signrank(void)
{
	/* R: x - y of wilcox.test's example (Hollander & Wolfe, depression scale). */
	static const double x[] = {1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30};
	static const double y[] = {0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29};
	static const double tied[] = {1, 2, 2, -3, 4, 4, 4, -1, 5, 6, 0, 0, -2};
	static const double zeros[] = {0, 0, 0, 0, 0, 0, 0};
	double d[450];
	struct pb_srt t;

	for (size_t i = 0; i < 9; i++)
		d[i] = x[i] - y[i];
	CHECK_EQ(pb_signrank_test(d, 9, &t), 0);
	CHECK(t.exact);
	CHECK_EQ(t.n, 9);
	CLOSE(t.w, 40, 0);
	CLOSE(t.p, 0.01953125, 1e-12);
	/* Ties and zeros: the exact conditional distribution. */
	CHECK_EQ(pb_signrank_test(tied, 13, &t), 0);
	CHECK_EQ(t.n, 11);
	CLOSE(t.p, brute_srt(tied, 13), 1e-12);
	for (size_t i = 0; i < 13; i++)
		d[i] = -tied[i];
	CHECK_EQ(pb_signrank_test(d, 13, &t), 0);
	CLOSE(t.p, brute_srt(d, 13), 1e-12);
	CHECK(t.p > 0.9);
	/* A run against itself: every difference 0, nothing to test. */
	CHECK_EQ(pb_signrank_test(zeros, 7, &t), 0);
	CHECK_EQ(t.n, 0);
	CLOSE(t.p, 1, 0);
	/* All of n positive: the smallest p, 2^-n. */
	for (size_t i = 0; i < 7; i++)
		d[i] = 0.01 * (double)(i + 1);
	CHECK_EQ(pb_signrank_test(d, 7, &t), 0);
	CLOSE(t.p, pb_signrank_min_p(7), 1e-15);
	CLOSE(pb_signrank_min_p(7), 0.0078125, 0);
	/* Normal approximation (450 > PB_SRT_EXACT_MAX), 4 zeros and many ties: SciPy 1.10. */
	for (size_t i = 0; i < 450; i++)
		d[i] = (double)((long)(i * 37 % 101) - 45) / 10;
	CHECK_EQ(pb_signrank_test(d, 450, &t), 0);
	CHECK(!t.exact);
	CLOSE(t.w, 59015.5, 0);
	CLOSE(t.p, 0.00037762774396471075, 1e-9);
	for (size_t i = 0; i < 450; i++)
		d[i] = (double)((long)(i * 37 % 101) - 48) / 10;
	CHECK_EQ(pb_signrank_test(d, 450, &t), 0);
	CLOSE(t.w, 53465, 0);
	CLOSE(t.p, 0.0916498416357932, 1e-9);
	/* Exact and normal agree where they meet (400 values, no ties). */
	for (size_t i = 0; i < 400; i++)
		d[i] = (i % 7 < 4 ? 1 : -1) * (double)(i + 1);
	CHECK_EQ(pb_signrank_test(d, 400, &t), 0);
	CHECK(t.exact);
	{
		double nn = 400, mu = nn * (nn + 1) / 4,
		       sd = sqrt(nn * (nn + 1) * (2 * nn + 1) / 24);

		CLOSE(t.p, 0.5 * erfc((t.w - mu - 0.5) / sd / sqrt(2.0)), 2e-3);
	}
	d[0] = NAN;
	CHECK_EQ(pb_signrank_test(d, 3, &t), -EINVAL);
	d[0] = INFINITY;
	CHECK_EQ(pb_signrank_test(d, 3, &t), -EINVAL);
}

int main(void)
{
	test_median();
	test_min_p_and_symmetry();
	test_table_5_5();
	test_critical_values();
	test_ties_exact();
	test_normal();
	test_bootstrap();
	test_signrank();
	printf("test_stats: ok\n");
	return 0;
}
