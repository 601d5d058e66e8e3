/* SPDX-License-Identifier: MIT */
/*
 * Go's port of the latency histogram (bench/go/hist.go) against C's (patterns/harness/hist.c):
 * for the same samples both sides must report the very same figures, so that a Go row's p99
 * means exactly what a C row's does.
 *
 * Each sample set is recorded into a pl_hist here and written to a file that
 * `patlab-go hist -q LIST` reads; every figure it prints (count, min, max, mean, p50, p90,
 * p99, p99.9 and 215 more percentiles from 0 to beyond 100) must equal C's exactly: integers
 * bit for bit, the mean as the same double. The sets:
 *   - layout: the lowest and highest value of every one of the 2240 buckets, and the edges
 *     (negative, 0, 127, 128, 2^40 - 1, 2^40, INT64_MAX), so every bucket boundary is crossed;
 *   - tiny sets (1, 2, 3 and 1000 samples, the 1000 each in a bucket of its own), where the
 *     nearest rank hits its rounding guard (q/100 x n an integer: p99.9 of 1000 samples);
 *   - uniform, exponential, heavy-tailed (Pareto) and bimodal sets of 100,000 samples from a
 *     fixed seed, and one more uniform set from the run's seed (logged: PATLAB_SEED reruns it).
 *
 * Usage: test_go_hist PATH/TO/patlab-go GO_FOUND
 * GO_FOUND is 1 when CMake found a Go toolchain: then a missing patlab-go is a failure (it
 * should have been built); with 0 the test is skipped (exit 77): Go is not installed.
 */
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <patlab/hist.h>

#define N_BIG 100000

static const char *go_bin;
static char tmp_path[] = "/tmp/test_go_hist.XXXXXX";

/* The percentiles asked of both sides besides p50/p90/p99/p99.9. */
static char qlist[4096];
static double qs[256];
static size_t n_qs;

static void build_qlist(void)
{
	static const double extra[] = {
	    0,	     1e-9, 0.001, 0.01,	      33.333333, 66.666667, 99.9,     99.99,   99.999,
	    99.9999, 100,  150,	  12.3456789, 87.654321, 0.0000001, 49.99999, 50.00001};
	size_t len = 0;

	for (int i = 1; i <= 200; i++)
		qs[n_qs++] = i * 0.5;
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		qs[n_qs++] = extra[i];
	for (size_t i = 0; i < n_qs; i++)
		len += (size_t)snprintf(qlist + len, sizeof(qlist) - len, "%s%.17g", i ? "," : "",
					qs[i]);
	CHECK(len < sizeof(qlist));
	/* Both sides parse the same text: C's strtod and Go's ParseFloat give the same double. */
	len = 0;
	for (char *s = qlist, *end; *s != '\0'; s = *end ? end + 1 : end)
		qs[len++] = strtod(s, &end);
	CHECK_EQ(len, n_qs);
}

/* compare - record @v into a pl_hist and into the file; run Go on it; every figure equal. */
static void compare(const char *name, const int64_t *v, size_t n)
{
	pl_hist *h = pl_hist_new();
	struct pl_hist_summary s;
	char cmd[8192], line[256];
	size_t q_seen = 0, fields = 0;
	FILE *f, *p;

	pt_note("set %s (%zu samples)", name, n);
	CHECK(h != NULL);
	f = fopen(tmp_path, "w");
	CHECK(f != NULL);
	for (size_t i = 0; i < n; i++) {
		pl_hist_record(h, v[i]);
		fprintf(f, "%lld\n", (long long)v[i]);
	}
	CHECK(fclose(f) == 0);
	s = pl_hist_summarize(h);
	snprintf(cmd, sizeof(cmd), "'%s' hist -q '%s' < '%s'", go_bin, qlist, tmp_path);
	p = popen(cmd, "r");
	CHECK(p != NULL);
	while (fgets(line, sizeof(line), p) != NULL) {
		char key[32], val[64];
		long long got;

		if (sscanf(line, "%31s %63s", key, val) != 2)
			pt_fail(__FILE__, __LINE__, "%s: unexpected line from patlab-go: %s", name,
				line);
		if (strcmp(key, "q") == 0) {
			double q;

			CHECK(q_seen < n_qs);
			CHECK(sscanf(line, "q %lf %lld", &q, &got) == 2);
			if (q != qs[q_seen] || got != pl_hist_percentile(h, qs[q_seen]))
				pt_fail(__FILE__, __LINE__, "%s: p%.17g: Go %lld, C %lld", name,
					qs[q_seen], got,
					(long long)pl_hist_percentile(h, qs[q_seen]));
			q_seen++;
			continue;
		}
		fields++;
		if (strcmp(key, "mean") == 0) {
			double m = strtod(val, NULL);

			if (m != s.mean)
				pt_fail(__FILE__, __LINE__, "%s: mean: Go %.17g, C %.17g", name, m,
					s.mean);
			continue;
		}
		got = strtoll(val, NULL, 10);
		if (strcmp(key, "count") == 0)
			CHECK_EQ(got, s.count);
		else if (strcmp(key, "min") == 0)
			CHECK_EQ(got, s.count ? s.min : 0);
		else if (strcmp(key, "max") == 0)
			CHECK_EQ(got, s.max);
		else if (strcmp(key, "p50") == 0)
			CHECK_EQ(got, s.p50);
		else if (strcmp(key, "p90") == 0)
			CHECK_EQ(got, s.p90);
		else if (strcmp(key, "p99") == 0)
			CHECK_EQ(got, s.p99);
		else if (strcmp(key, "p999") == 0)
			CHECK_EQ(got, s.p999);
		else
			pt_fail(__FILE__, __LINE__, "%s: unknown figure '%s' from patlab-go", name,
				key);
	}
	CHECK_EQ(pclose(p), 0);
	CHECK_EQ(fields, 8);
	CHECK_EQ(q_seen, n_qs);
	pl_hist_free(h);
}

/* A uniform double in (0, 1]. */
static double unit(uint64_t *st)
{
	return ((double)(pt_rand(st) >> 11) + 1.0) / 9007199254740992.0;
}

static int64_t draw(int dist, uint64_t *st)
{
	double u = unit(st), x;

	switch (dist) {
	case 0: /* uniform 1 ns .. 1 ms */
		x = 1 + u * 1e6;
		break;
	case 1: /* exponential, mean 20 us */
		x = -2e4 * log(u);
		break;
	case 2: /* Pareto, alpha 1.1, from 200 ns: a tail out to seconds */
		x = 200.0 / pow(u, 1.0 / 1.1);
		break;
	default: /* bimodal: hand-offs near 90 ns, parked wake-ups near 40 us */
		x = (pt_rand(st) & 1) ? 80 + u * 20 : 38000 + u * 4000;
		break;
	}
	return x > 60e9 ? (int64_t)60e9 : (int64_t)x;
}

int main(int argc, char **argv)
{
	static int64_t v[N_BIG + 2 * PL_HIST_BUCKETS + 16];
	static const char *const dists[] = {"uniform", "exponential", "pareto", "bimodal"};
	size_t n = 0;
	uint64_t st;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: test_go_hist PATH/TO/patlab-go GO_FOUND(0|1)\n");
		return 2;
	}
	go_bin = argv[1];
	if (access(go_bin, X_OK) != 0) {
		if (strcmp(argv[2], "1") == 0) {
			fprintf(stderr, "test_go_hist: FAIL: go was found but %s was not built\n",
				go_bin);
			return 1;
		}
		printf("test_go_hist: skipped: go not installed (no %s)\n", go_bin);
		return PT_SKIP;
	}
	pt_watchdog_start(120);
	fd = mkstemp(tmp_path);
	CHECK(fd >= 0);
	close(fd);
	build_qlist();

	/* Every bucket's first and last value, and the edges. */
	for (unsigned i = 0; i < PL_HIST_BUCKETS; i++) {
		v[n++] = pl_hist_bucket_low(i);
		v[n++] = pl_hist_bucket_low(i) + pl_hist_bucket_width(i) - 1;
	}
	v[n++] = -5;
	v[n++] = 0;
	v[n++] = 127;
	v[n++] = 128;
	v[n++] = (INT64_C(1) << 40) - 1;
	v[n++] = INT64_C(1) << 40;
	v[n++] = (INT64_C(1) << 40) + 1;
	v[n++] = INT64_MAX;
	compare("layout", v, n);

	/* Tiny sets: the nearest rank's rounding guard. */
	v[0] = 1000;
	compare("one", v, 1);
	v[1] = 2000;
	compare("two", v, 2);
	v[2] = 129;
	compare("three", v, 3);
	/* 1000 samples, each in a bucket of its own (shuffled): a rank off by one shows. */
	for (n = 0; n < 1000; n++)
		v[n] = pl_hist_bucket_low((unsigned)(n * 37 % 1000) * 2);
	compare("thousand", v, 1000);

	for (int d = 0; d < 4; d++) {
		st = 0x0123456789abcdefull + (uint64_t)d;
		for (n = 0; n < N_BIG; n++)
			v[n] = draw(d, &st);
		compare(dists[d], v, N_BIG);
	}
	st = pt_seed();
	for (n = 0; n < N_BIG; n++)
		v[n] = draw((int)(n % 4), &st);
	compare("seeded mix", v, N_BIG);

	unlink(tmp_path);
	printf("test_go_hist: ok (%zu percentiles per set, 10 sets: Go and C identical)\n",
	       n_qs + 4);
	return 0;
}
