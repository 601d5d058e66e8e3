/* SPDX-License-Identifier: MIT */
/*
 * The harness's fast clock (see tsc.h for what it reads and when).
 *
 * Calibration: at each end of a ~20 ms sleep, read CLOCK_MONOTONIC, the TSC, CLOCK_MONOTONIC
 * again, a few times, and keep the pair whose two monotonic reads are closest (the TSC read sat
 * in the narrowest bracket, whose middle is taken as its time). The rate is the ratio of the
 * two intervals; its error is about the bracket width over the interval (~50 ns / 20 ms, a few
 * ppm), which is nothing over a latency (microseconds) and a few microseconds over the
 * second-long window pl__ticks_to_mono() is used across.
 */
#include "harness/tsc.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "sync/die.h"

bool pl__clock_tsc;

/* Written once under clock_once (which orders them for every caller); read-only after. */
static double ns_per_tick = 1.0, ticks_per_ns = 1.0;
static int64_t anchor_ticks, anchor_ns;
static pthread_once_t clock_once = PTHREAD_ONCE_INIT;

bool pl__tsc_usable(const char *clocksource)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	char cs[64] = "";

	/* gcc's cpuid.h returns unsigned, clang's int: compare as unsigned either way. */
	if ((unsigned)__get_cpuid_max(0x80000000u, NULL) < 0x80000007u)
		return false;
	__cpuid(0x80000007u, a, b, c, d);
	(void)a, (void)b, (void)c;
	if (!(d & (1u << 8))) /* invariant TSC */
		return false;
	if (clocksource == NULL) {
		FILE *f =
		    fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

		if (f == NULL)
			return false;
		if (fgets(cs, sizeof(cs), f) == NULL)
			cs[0] = '\0';
		fclose(f);
		cs[strcspn(cs, "\n")] = '\0';
		clocksource = cs;
	}
	return strcmp(clocksource, "tsc") == 0;
#else
	(void)clocksource;
	return false;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
/* bracket - a TSC read and its CLOCK_MONOTONIC time, from the narrowest of a few brackets. */
static void bracket(int64_t *tsc, int64_t *ns)
{
	int64_t best = INT64_MAX;

	for (int i = 0; i < 9; i++) {
		int64_t a = pl_now_ns(), t = (int64_t)pl__rdtsc(), b = pl_now_ns();

		if (b - a < best) {
			best = b - a;
			*tsc = t;
			*ns = a + (b - a) / 2;
		}
	}
}
#endif

static void calibrate(void)
{
#if defined(__x86_64__) || defined(__i386__)
	int64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
	struct timespec nap = {.tv_sec = 0, .tv_nsec = 20000000};

	if (!pl__tsc_usable(NULL))
		return;
	bracket(&t0, &n0);
	while (nanosleep(&nap, &nap) != 0)
		;
	bracket(&t1, &n1);
	if (t1 <= t0 || n1 <= n0)
		return; /* a TSC that did not move forward: keep clock_gettime */
	ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
	ticks_per_ns = 1.0 / ns_per_tick;
	anchor_ticks = t1;
	anchor_ns = n1;
	pl__clock_tsc = true;
#endif
}

void pl__clock_init(void)
{
	PL_CHECK(pthread_once(&clock_once, calibrate));
}

int64_t pl__ticks_to_ns(int64_t ticks)
{
	double ns = (double)ticks * ns_per_tick;

	return (int64_t)(ns < 0 ? ns - 0.5 : ns + 0.5);
}

int64_t pl__ns_to_ticks(int64_t ns)
{
	double t = (double)ns * ticks_per_ns;

	return (int64_t)(t < 0 ? t - 0.5 : t + 0.5);
}

int64_t pl__ticks_to_mono(int64_t t)
{
	if (!pl__clock_tsc)
		return t;
	return anchor_ns + pl__ticks_to_ns(t - anchor_ticks);
}

char *pl__clock_name(char *buf, size_t n)
{
	pl__clock_init();
	if (pl__clock_tsc)
		snprintf(buf, n, "tsc %.3f GHz", ticks_per_ns);
	else
		snprintf(buf, n, "clock_gettime");
	return buf;
}
