/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_BENCH_GATE_H
#define PATLAB_BENCH_GATE_H

/*
 * `patlab check BASELINE CURRENT`: the performance regression gate (bench/check.c), for
 * main.c. Statistics in stats.h. Exit codes, as every command's (bench.h): 0 no regression,
 * 1 regression or check.md / check.csv could not be written, 2 the check could not be done
 * (usage, unreadable or malformed input, schema or configuration mismatch, too few
 * repetitions and configurations for either test), 3 the current results lost messages.
 */

enum {
	PB_CHECK_PASS = 0,
	PB_CHECK_REGRESSION = 1,
	PB_CHECK_UNWRITTEN = 1,
	PB_CHECK_ERROR = 2,
	PB_CHECK_LOST = 3,
};

/* pb_check_usage - the `patlab check --help` text. */
extern const char pb_check_usage[];

/* pb_check_main - run `patlab check`; @argv[0] is "check". Returns the exit code. */
int pb_check_main(int argc, char **argv);

#endif /* PATLAB_BENCH_GATE_H */
