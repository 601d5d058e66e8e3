/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_TEST_CHECK_H
#define PATLAB_TEST_CHECK_H

/*
 * What every test shares: assertions that say where and what, a logged seed, a length scale,
 * and a watchdog that reports where the test is stuck instead of letting CI hang.
 *
 * Tests never time anything as a pass/fail criterion, except generous "it returned at all"
 * bounds (a blocked operation must wake up; the watchdog).
 *
 * Exit codes: 0 pass, 1 fail, 77 skipped (CTest SKIP_RETURN_CODE).
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PT_SKIP 77

/* CHECK - fail the test (exit 1) with file:line and the expression. */
#define CHECK(expr)                                                                                \
	do {                                                                                       \
		if (!(expr))                                                                       \
			pt_fail(__FILE__, __LINE__, "CHECK(%s)", #expr);                           \
	} while (0)

/* CHECK_EQ - as CHECK for two integers, printing both values. */
#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long pt_a = (long long)(a), pt_b = (long long)(b);                            \
		if (pt_a != pt_b)                                                                  \
			pt_fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s): %lld != %lld", #a, #b,      \
				pt_a, pt_b);                                                       \
	} while (0)

_Noreturn void pt_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* pt_note - where the test is: printed by the watchdog and by pt_fail(). */
void pt_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* pt_seed - the run's seed: env PATLAB_SEED, else the clock; printed once so a failure reruns. */
uint64_t pt_seed(void);

/* pt_rand - splitmix64 step over *@state. */
uint64_t pt_rand(uint64_t *state);

/* pt_scale - env PATLAB_STRESS_SCALE (default 1; 0.1 .. 10000): multiply stress lengths by it. */
double pt_scale(void);

/* pt_tsan - true in a ThreadSanitizer build (tests use fewer threads and iterations there). */
bool pt_tsan(void);

/*
 * pt_watchdog_start - abort the test with the last pt_note() if still running after
 * @seconds (multiplied by pt_scale() and by 5 under sanitizers). Call once.
 */
void pt_watchdog_start(double seconds);

/* pt_sleep_ns - nanosleep that resumes after signals. */
void pt_sleep_ns(int64_t ns);

#endif /* PATLAB_TEST_CHECK_H */
