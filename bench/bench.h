/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_BENCH_H
#define PATLAB_BENCH_H

/*
 * Internal to the patlab command (bench/): how its parts talk. Each part calls only those
 * above it in this list, never one below:
 *
 *   model.c    the run, the row, the column table, the configuration key; shared helpers
 *   stats.c    medians and the tests of the regression gate (stats.h)
 *   csv.c      results.csv, written and read through the column table (csv.h)
 *   sysinfo.c  what produced the numbers: host, CPU, kernel, compiler, build, git revision
 *   go/gorun.c the go runner: Go's own channels in a patlab-go process (runner.h)
 *   runner.c   the lib runner (the pattern vtable) and the table of runners (runner.h)
 *   meta.c     meta.json
 *   report.c   summary.md and the terminal summary
 *   check.c    `patlab check`, the regression gate (gate.h)
 *   sweep.c    options -> plan (grid of points, presets) -> execution (interleaved
 *              repetitions, progress and ETA on stderr) -> rows
 *   main.c     arguments, subcommands, --help, exit codes
 *
 * Everything runs on the main thread; the only other threads are those a pattern starts inside
 * pl_pattern_run(), and sweep.c's heartbeat (it only prints while a run is measured); the go
 * runner starts processes. Program-local names carry the
 * prefix pb_ (as tests use pt_).
 */

#include "csv.h"
#include "model.h"
#include "runner.h"

/*
 * Exit codes, one table for every command (`patlab --help`, README.md "Exit codes"; check's
 * own names in gate.h are the same numbers).
 */
enum {
	PB_EXIT_OK = 0,
	PB_EXIT_FAILED = 1,	/* a regression (check), a point failed to run, or an output
				 * could not be written */
	PB_EXIT_USAGE = 2,	/* bad input: arguments, a malformed or unreadable results file,
				 * parameters the library refuses (-EINVAL) */
	PB_EXIT_LOST = 3,	/* some row has lost != 0: a kind lost messages */
	PB_EXIT_INTERRUPT = 130 /* SIGINT/SIGTERM: finished rows are kept, summary written */
};

/* ---------------------------------------------------------------- sysinfo.c */

/* pb_sysinfo_collect - fill @s, run_id included; fields that cannot be read say "unknown". */
void pb_sysinfo_collect(struct pb_sysinfo *s);

/* pb_utc_now - ISO 8601 UTC time of day with milliseconds into @buf. */
void pb_utc_now(char *buf, size_t n);

/* ---------------------------------------------------------------- sweep.c */

#define PB_MAX_LIST  64
#define PB_MAX_KINDS 16
#define PB_MAX_SUB   16

/* struct pb_opts - the command line, as given (NULL / false: not given). */
struct pb_opts {
	const char *preset;
	const char *pattern, *chan, *producers, *consumers, *ratio, *depth, *stages, *work, *rate,
	    *policy, *spin, *timeout, *pin, *gomaxprocs;
	const char *reps, *warmup, *seconds, *messages, *seed;
	const char *lat_sample;
	const char *out;
	bool quiet;
	bool no_latency;
	bool dry_run;
};

struct pb_nums {
	size_t n;
	double v[PB_MAX_LIST];
};

/* struct pb_subgrid - the grid of one pattern: every combination of its lists is a point. */
struct pb_subgrid {
	const struct pl_pattern *pat;
	size_t n_kinds;
	const char *kinds[PB_MAX_KINDS];
	size_t n_topos;
	unsigned prod[PB_MAX_LIST], cons[PB_MAX_LIST];
	struct pb_nums depth, stages, work, rate, spin, timeout;
	struct pb_nums pin; /* enum pl_pin values */
	size_t n_policies;
	const char *policies[PB_MAX_LIST];
	bool zero_rendezvous_only; /* --depth rendezvous: depth 0 only for kinds that have one */
};

/* struct pb_point - one sweep point; points of one scenario differ only by kind. */
struct pb_point {
	const struct pl_pattern *pat;
	const struct pb_runner *runner; /* of p.chan_kind */
	struct pl_params p;
	size_t scenario;
	bool skip;	/* skipped or failed: no more repetitions */
	unsigned procs; /* runners with procs (go): its value here (auto resolved); else 0 */
	char label[128];
};

struct pb_plan {
	const char *preset;
	size_t n_sub;
	struct pb_subgrid sub[PB_MAX_SUB];
	unsigned reps;
	double seconds, warmup_s;
	uint64_t messages, seed;
	bool latency;
	uint64_t lat_sample;  /* pl_params.lat_sample: 0 auto, else N */
	struct pb_nums procs; /* --gomaxprocs: the values; 0 = auto */
	struct pb_point *points;
	size_t n_points;
};

/* struct pb_preset_grid - one sub-grid of a preset: a pattern and grid options as text. */
struct pb_preset_grid {
	const char *pattern;
	const char *grid;
};

/*
 * struct pb_preset - a named starting grid, for `patlab list` and --preset: its settings and
 * its sub-grids ({NULL, NULL}-terminated; NULL: every pattern's quick grids, registry order).
 */
struct pb_preset {
	const char *name;
	const char *summary;
	unsigned reps;
	double seconds, warmup_s;
	const struct pb_preset_grid *grids;
};
extern const struct pb_preset pb_presets[];

/*
 * pb_opts_parse - the options of `patlab run` (@sweep false) or `patlab sweep` into @o (which
 * keeps pointers into @argv). Returns 0, 1 for --help, or -EINVAL with the problem in @err.
 */
int pb_opts_parse(int argc, char **argv, bool sweep, struct pb_opts *o, char *err, size_t n);

/*
 * pb_grid_parse - @grid, grid options as on the command line ("--ratio 1:1,2:2 --depth 64"),
 * into @g for @pat, from the defaults. Strict: an option that is not a grid option or that
 * @pat does not read, a policy @pat does not have, a bad value: -EINVAL with why in @err.
 */
int pb_grid_parse(const struct pl_pattern *pat, const char *grid, struct pb_subgrid *g, char *err,
		  size_t n);

/* pb_grid_options_print - " --chan --producers ...": the grid options a pattern with @params reads.
 */
void pb_grid_options_print(unsigned params, FILE *f);

/*
 * pb_plan_make - turn @o into @plan (@single: `patlab run`, one value per list). Returns 0, or
 * -EINVAL with a message naming the valid values in @err.
 */
int pb_plan_make(const struct pb_opts *o, bool single, struct pb_plan *plan, char *err, size_t n);
void pb_plan_free(struct pb_plan *plan);

/*
 * pb_plan_print - the plan without running it (sweep --dry-run): every point, those a kind or
 * pattern would refuse with the reason, and the run count and time it would take.
 */
void pb_plan_print(const struct pb_plan *plan, FILE *f);

/*
 * pb_plan_execute - run every point @plan->reps times, repetitions interleaved across points
 * (and the kinds of a scenario in a rotating order), appending a row per run to @run and
 * calling @row_done after each (the CSV rewrite). Progress on stderr unless @quiet: a line per
 * run, and a heartbeat every few seconds while a long one is measured (a thread of its own,
 * joined before it returns). Returns 0, or PB_EXIT_INTERRUPT when a signal asked it to stop
 * early.
 */
int pb_plan_execute(struct pb_plan *plan, struct pb_run *run, bool quiet,
		    int (*row_done)(struct pb_run *run));

/*
 * pb_plan_refused - -EINVAL when the library refuses some point of @plan as nonsense (its
 * check says -EINVAL: "work_ns ...: at most 1000000000 ns"), naming up to three of them with
 * why in @err: bad input, to be refused before anything runs. 0 when none is.
 */
int pb_plan_refused(const struct pb_plan *plan, char *err, size_t n);

/* pb_stop_requested - set by the SIGINT/SIGTERM handler main.c installs. */
extern volatile int pb_stop_requested;

/* ---------------------------------------------------------------- meta.c */

/*
 * pb_meta_write - meta.json (atomically): the run's settings and machine, every runner's own
 * member, the skipped and failed points, what each pattern's figures mean. 0/-errno.
 */
int pb_meta_write(const struct pb_run *run, const char *path);

/* ---------------------------------------------------------------- report.c */

/*
 * pb_report - the summary of @run's rows: to @term (plain text) and, when @md_path is not
 * NULL, to summary.md (atomically; *@md_err: 0, or -errno when it could not be written, said
 * on stderr with the reason). Returns the number of rows with lost != 0 (flagged loudly).
 */
size_t pb_report(const struct pb_run *run, FILE *term, const char *md_path, int *md_err);

#endif /* PATLAB_BENCH_H */
