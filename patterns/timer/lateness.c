/* SPDX-License-Identifier: MIT */
/*
 * patlab-timer-lateness - how late timers fire on this machine (a measurement, not a test).
 *
 * 1. N timers armed at once at uniformly random delays in [min, max] ms, then received: the
 *    lateness of each is its fire time (its message) minus its deadline. The deadline is taken
 *    as the clock just before pl_timer_new() + the delay, a lower bound a few hundred ns below
 *    the real one, so the figures are upper bounds.
 * 2. A ticker of period P ms read for S s by a thread blocked in pl_chan_recv(): each tick's
 *    lateness against its schedule (start + k P; valid while below P), how many ticks arrived
 *    of those scheduled, and the delivery delay (receiver awake minus fire time).
 *
 * Prints p50 / p99 / max in microseconds, and the load average, since every figure on a
 * shared machine depends on it. Usage:
 *   patlab-timer-lateness [--timers N] [--min-ms A] [--max-ms B] [--ticker-ms P]
 *                         [--ticker-s S] [--seed X]
 * Defaults: 10000 timers at 1-10 ms, a 1 ms ticker for 2 s.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <patlab/chan.h>
#include <patlab/ctx.h>
#include <patlab/timer.h>

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* report - sort @v (@n values, ns) and print its p50 / p99 / max in us. */
static void report(const char *what, int64_t *v, size_t n)
{
	if (n == 0) {
		printf("%-34s no samples\n", what);
		return;
	}
	qsort(v, n, sizeof(*v), cmp_i64);
	printf("%-34s n=%-6zu p50 %8.1f us  p99 %8.1f us  max %8.1f us\n", what, n, v[n / 2] / 1e3,
	       v[n * 99 / 100] / 1e3, v[n - 1] / 1e3);
}

static void loadavg(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	char buf[128];

	if (f != NULL && fgets(buf, sizeof(buf), f) != NULL)
		printf("load average: %s", buf);
	if (f != NULL)
		fclose(f);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int64_t recv_time(pl_timer *t)
{
	void *msg;

	if (pl_chan_recv(pl_timer_chan(t), &msg, NULL) != 0) {
		fprintf(stderr, "pl_chan_recv failed\n");
		exit(1);
	}
	return (int64_t)(uintptr_t)msg;
}

static void many_timers(size_t n, double min_ms, double max_ms, uint64_t seed)
{
	pl_timer **t = calloc(n, sizeof(*t));
	int64_t *lo = calloc(n, sizeof(*lo));
	int64_t span = (int64_t)((max_ms - min_ms) * 1e6) + 1;

	if (t == NULL || lo == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		int64_t d = (int64_t)(min_ms * 1e6) + (int64_t)(splitmix(&seed) % (uint64_t)span);

		lo[i] = pl_now_ns() + d;
		t[i] = pl_timer_new(d);
		if (t[i] == NULL) {
			perror("pl_timer_new");
			exit(1);
		}
	}
	for (size_t i = 0; i < n; i++) {
		lo[i] = recv_time(t[i]) - lo[i];
		pl_timer_free(t[i]);
	}
	char what[64];
	snprintf(what, sizeof(what), "%zu timers, %.0f-%.0f ms: lateness", n, min_ms, max_ms);
	report(what, lo, n);
	free(t);
	free(lo);
}

static void ticker(double period_ms, double seconds)
{
	int64_t period = (int64_t)(period_ms * 1e6);
	size_t want = (size_t)(seconds * 1e3 / period_ms);
	int64_t *late = calloc(want, sizeof(*late)), *deliver = calloc(want, sizeof(*deliver));
	int64_t start = pl_now_ns();
	pl_timer *k = pl_ticker_new(period);
	int64_t end = start + (int64_t)(want * (size_t)period);
	size_t n = 0;

	if (late == NULL || deliver == NULL || k == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	while (n < want) {
		int64_t at = recv_time(k);

		deliver[n] = pl_now_ns() - at;
		late[n] = (at - start) % period; /* from the schedule point just before */
		n++;
		if (at >= end)
			break;
	}
	pl_timer_free(k);
	char what[64];
	snprintf(what, sizeof(what), "ticker %.1f ms, %.1f s: lateness", period_ms, seconds);
	report(what, late, n);
	report("ticker: delivery (recv - fire)", deliver, n);
	printf("ticker: %zu ticks received of %zu scheduled\n", n, want);
	free(late);
	free(deliver);
}

int main(int argc, char **argv)
{
	size_t n = 10000;
	double min_ms = 1, max_ms = 10, tick_ms = 1, tick_s = 2;
	uint64_t seed = (uint64_t)pl_now_ns();

	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool help = strcmp(a, "--help") == 0;

		if (help || v == NULL || strncmp(a, "--", 2) != 0) {
			fprintf(help ? stdout : stderr,
				"usage: %s [--timers N] [--min-ms A] [--max-ms B] [--ticker-ms P] "
				"[--ticker-s S] [--seed X]\n",
				argv[0]);
			return help ? 0 : 2;
		}
		if (strcmp(a, "--timers") == 0)
			n = strtoull(v, NULL, 10);
		else if (strcmp(a, "--min-ms") == 0)
			min_ms = strtod(v, NULL);
		else if (strcmp(a, "--max-ms") == 0)
			max_ms = strtod(v, NULL);
		else if (strcmp(a, "--ticker-ms") == 0)
			tick_ms = strtod(v, NULL);
		else if (strcmp(a, "--ticker-s") == 0)
			tick_s = strtod(v, NULL);
		else if (strcmp(a, "--seed") == 0)
			seed = strtoull(v, NULL, 0);
		else {
			fprintf(stderr, "%s: unknown option %s\n", argv[0], a);
			return 2;
		}
	}
	if (n == 0 || min_ms < 0 || max_ms < min_ms || tick_ms <= 0 || tick_s <= 0) {
		fprintf(stderr, "%s: bad values\n", argv[0]);
		return 2;
	}
	loadavg();
	printf("seed: %" PRIu64 "\n", seed);
	many_timers(n, min_ms, max_ms, seed);
	ticker(tick_ms, tick_s);
	loadavg();
	return 0;
}
