/* SPDX-License-Identifier: MIT */
/*
 * patlab-micro: Google Benchmark micro-benchmarks written in C (through shim.cc).
 * Flags are Google Benchmark's (--benchmark_filter=REGEX, --benchmark_format=json,
 * --benchmark_out=FILE, --benchmark_repetitions=N, ...); scripts/micro runs it into results/.
 */
#include "gbench.h"
#include "micro.h"

int main(int argc, char **argv)
{
	pl_micro_register_chan();
	pl_micro_register_ctx();
	return pl_gb_main(argc, argv);
}
