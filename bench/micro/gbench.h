/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_GBENCH_H
#define PATLAB_GBENCH_H

/*
 * A C face for Google Benchmark (shim.cc): register benchmarks written in C, run the timing
 * loop, set arguments and counters. One benchmark function is called once per measured run;
 * it loops while pl_gb_keep_running() (or _batch) says so, exactly as with the C++ API.
 *
 * Registration happens before pl_gb_main(), from main() (no constructor magic). Handles
 * returned by pl_gb_register() are only valid until pl_gb_main() returns.
 */

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_gb_state pl_gb_state; /* benchmark::State */
typedef struct pl_gb_bench pl_gb_bench; /* benchmark::internal::Benchmark */

typedef void (*pl_gb_fn)(pl_gb_state *st, void *user);

/* pl_gb_register - register @fn under @name; @user is passed to every call. */
pl_gb_bench *pl_gb_register(const char *name, pl_gb_fn fn, void *user);

/* Builders: each returns @b so calls can be chained. */
pl_gb_bench *pl_gb_arg(pl_gb_bench *b, int64_t x);		/* one run per call: range(0) */
pl_gb_bench *pl_gb_args2(pl_gb_bench *b, int64_t x, int64_t y); /* range(0), range(1) */
pl_gb_bench *pl_gb_arg_names(pl_gb_bench *b, const char *n0, const char *n1); /* n1 may be NULL */
pl_gb_bench *pl_gb_real_time(pl_gb_bench *b); /* wall clock: for benchmarks with helper threads */
pl_gb_bench *pl_gb_min_time(pl_gb_bench *b, double seconds);

/* The timing loop. */
bool pl_gb_keep_running(pl_gb_state *st);
bool pl_gb_keep_running_batch(pl_gb_state *st, int64_t n);
int64_t pl_gb_range(const pl_gb_state *st, int i);
int64_t pl_gb_iterations(const pl_gb_state *st);
void pl_gb_pause(pl_gb_state *st);
void pl_gb_resume(pl_gb_state *st);

/* Results. */
enum pl_gb_counter_kind {
	PL_GB_PLAIN,
	PL_GB_RATE,
	PL_GB_AVG_ITERATIONS
};
void pl_gb_counter(pl_gb_state *st, const char *name, double value, enum pl_gb_counter_kind k);
void pl_gb_items_processed(pl_gb_state *st, int64_t items);
void pl_gb_label(pl_gb_state *st, const char *label);
void pl_gb_skip(pl_gb_state *st,
		const char *why); /* SkipWithError: the run is reported, not timed */

/* pl_gb_do_not_optimize - keep @p's pointee alive and observed (benchmark::DoNotOptimize). */
void pl_gb_do_not_optimize(void *p);

/* pl_gb_main - parse --benchmark_* flags, run what is registered, report. Returns exit code. */
int pl_gb_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* PATLAB_GBENCH_H */
