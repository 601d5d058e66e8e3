/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_TSC_H
#define PATLAB_TSC_H

/*
 * Internal: the harness's fast clock, for timing sampled messages.
 *
 * pl__ticks() reads the x86 time-stamp counter where it is usable as a clock: the CPU says its
 * TSC is invariant (CPUID 0x80000007 EDX bit 8: constant rate, runs in every C-state) and the
 * kernel's clocksource is "tsc" (the kernel trusts it across CPUs; on a VM that also means the
 * host keeps it in step). Everywhere else - another architecture, another clocksource, a
 * non-invariant TSC - it returns CLOCK_MONOTONIC nanoseconds (pl_now_ns(), the vDSO), and a
 * tick is a nanosecond.
 *
 * A tick count is converted to nanoseconds off the hot path: pl__ticks_to_ns() scales an
 * interval by the rate measured once per process against CLOCK_MONOTONIC (pl__clock_init():
 * ~20 ms, the narrowest of a few bracketing reads at each end, so the rate is within a few ppm).
 * Intervals only: compare ticks with ticks (one thread's send and another's receive), never a
 * tick with a pl_now_ns() value. An absolute time is pl__ticks_to_mono() (anchored at the
 * calibration), good to a few ppm of the time since the calibration.
 *
 * Fencing: "lfence; rdtsc" - the read waits until every earlier instruction has completed
 * locally (so a receive's load of the message is done before its time is taken; Linux makes
 * LFENCE dispatch-serializing on AMD too) - followed by a compiler barrier and another lfence,
 * so later instructions (the send that follows a send time) do not start before the read.
 *
 * Threads: pl__clock_init() is idempotent and thread-safe (pthread_once); call it before the
 * threads that read pl__ticks() are created (thread creation publishes what it set).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <patlab/ctx.h>

/* Set once by pl__clock_init(); read-only afterwards. */
extern bool pl__clock_tsc;

/* pl__clock_init - choose the clock and calibrate it (once per process; later calls return). */
void pl__clock_init(void);

/* pl__rdtsc - the time-stamp counter, fenced as the top says. x86 only. */
#if defined(__x86_64__) || defined(__i386__)
static inline uint64_t pl__rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}
#endif

/* pl__ticks - now, in the clock's ticks (TSC cycles, or ns). After pl__clock_init(). */
static inline int64_t pl__ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (pl__clock_tsc)
		return (int64_t)pl__rdtsc();
#endif
	return pl_now_ns();
}

/* pl__ticks_to_ns - an interval of @ticks in nanoseconds (rounded; negative stays negative). */
int64_t pl__ticks_to_ns(int64_t ticks);

/* pl__ns_to_ticks - an interval of @ns in ticks (the inverse, rounded). */
int64_t pl__ns_to_ticks(int64_t ns);

/* pl__ticks_to_mono - the CLOCK_MONOTONIC time (pl_now_ns()) of tick count @t. */
int64_t pl__ticks_to_mono(int64_t t);

/*
 * pl__clock_name - what pl__ticks() reads, into @buf: "tsc 2.450 GHz" or "clock_gettime".
 * Returns @buf.
 */
char *pl__clock_name(char *buf, size_t n);

/*
 * pl__tsc_usable - what pl__clock_init() decides from: the CPU reports an invariant TSC and
 * @clocksource (the kernel's current clocksource, NULL: read it from sysfs) is "tsc". For tests.
 */
bool pl__tsc_usable(const char *clocksource);

#endif /* PATLAB_TSC_H */
