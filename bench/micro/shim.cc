// SPDX-License-Identifier: MIT
// The C shim over Google Benchmark: gbench.h's functions, each a thin forward to the C++ API.
#include "gbench.h"

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

// The C handles are opaque (never defined): they are the C++ objects' addresses.
static pl_gb_state *wrap(benchmark::State &st)
{
	return reinterpret_cast<pl_gb_state *>(&st);
}

static benchmark::State *S(pl_gb_state *st)
{
	return reinterpret_cast<benchmark::State *>(st);
}

static const benchmark::State *S(const pl_gb_state *st)
{
	return reinterpret_cast<const benchmark::State *>(st);
}

static pl_gb_bench *wrap(benchmark::internal::Benchmark *b)
{
	return reinterpret_cast<pl_gb_bench *>(b);
}

static benchmark::internal::Benchmark *B(pl_gb_bench *b)
{
	return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}

extern "C" {

pl_gb_bench *pl_gb_register(const char *name, pl_gb_fn fn, void *user)
{
	return wrap(benchmark::RegisterBenchmark(
		name, [fn, user](benchmark::State &st) { fn(wrap(st), user); }));
}

pl_gb_bench *pl_gb_arg(pl_gb_bench *b, int64_t x)
{
	return wrap(B(b)->Arg(x));
}

pl_gb_bench *pl_gb_args2(pl_gb_bench *b, int64_t x, int64_t y)
{
	return wrap(B(b)->Args({x, y}));
}

pl_gb_bench *pl_gb_arg_names(pl_gb_bench *b, const char *n0, const char *n1)
{
	std::vector<std::string> names{n0};
	if (n1)
		names.emplace_back(n1);
	return wrap(B(b)->ArgNames(names));
}

pl_gb_bench *pl_gb_real_time(pl_gb_bench *b)
{
	return wrap(B(b)->UseRealTime());
}

pl_gb_bench *pl_gb_min_time(pl_gb_bench *b, double seconds)
{
	return wrap(B(b)->MinTime(seconds));
}

bool pl_gb_keep_running(pl_gb_state *st)
{
	return S(st)->KeepRunning();
}

bool pl_gb_keep_running_batch(pl_gb_state *st, int64_t n)
{
	return S(st)->KeepRunningBatch(n);
}

int64_t pl_gb_range(const pl_gb_state *st, int i)
{
	return S(st)->range(i);
}

int64_t pl_gb_iterations(const pl_gb_state *st)
{
	return S(st)->iterations();
}

void pl_gb_pause(pl_gb_state *st)
{
	S(st)->PauseTiming();
}

void pl_gb_resume(pl_gb_state *st)
{
	S(st)->ResumeTiming();
}

void pl_gb_counter(pl_gb_state *st, const char *name, double value, enum pl_gb_counter_kind k)
{
	benchmark::Counter::Flags f = benchmark::Counter::kDefaults;
	if (k == PL_GB_RATE)
		f = benchmark::Counter::kIsRate;
	else if (k == PL_GB_AVG_ITERATIONS)
		f = benchmark::Counter::kAvgIterations;
	S(st)->counters[name] = benchmark::Counter(value, f);
}

void pl_gb_items_processed(pl_gb_state *st, int64_t items)
{
	S(st)->SetItemsProcessed(items);
}

void pl_gb_label(pl_gb_state *st, const char *label)
{
	S(st)->SetLabel(label);
}

void pl_gb_skip(pl_gb_state *st, const char *why)
{
	S(st)->SkipWithError(why);
}

void pl_gb_do_not_optimize(void *p)
{
	benchmark::DoNotOptimize(p);
	benchmark::ClobberMemory();
}

int pl_gb_main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}

} // extern "C"
