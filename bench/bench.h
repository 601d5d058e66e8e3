/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_BENCH_H
#define PATLAB_BENCH_H

/*
 * Internal to the patlab command (bench/): how its parts talk.
 *
 *   main.c     arguments, subcommands, --help, exit codes
 *   sweep.c    options -> plan (grid of points, presets) -> execution (interleaved
 *              repetitions, progress and ETA on stderr) -> rows
 *   csv.c      results.csv (atomic rewrite after every row) and meta.json
 *   report.c   summary.md and the terminal summary
 *   sysinfo.c  what produced the numbers: host, CPU, kernel, compiler, build, git revision
 *
 * Everything runs on the main thread; the only threads are those a pattern starts inside
 * pl_pattern_run(). Program-local names carry the prefix pb_ (as tests use pt_).
 */

#include <patlab/patlab.h>

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes (documented in `patlab --help` and results/README.md). */
enum {
	PB_EXIT_OK = 0,
	PB_EXIT_FAILED = 1,	/* a point failed to run, or an output could not be written */
	PB_EXIT_USAGE = 2,	/* bad arguments */
	PB_EXIT_LOST = 3,	/* some row has lost != 0: a kind lost messages */
	PB_EXIT_INTERRUPT = 130 /* SIGINT/SIGTERM: finished rows are kept, summary written */
};

/* ---------------------------------------------------------------- sysinfo.c */

struct pb_sysinfo {
	char run_id[48];
	char host[64];
	char cpu_model[128];
	unsigned cpus;
	char kernel[256];
	char compiler[64];
	char build_type[96]; /* e.g. "Release", "RelWithDebInfo sanitized build (thread)" */
	bool sanitized;
	char flags[512];
	char git_rev[48];
	char clocksource[32];
	char clock[48]; /* the harness's clock: "tsc <GHz> GHz" or "clock_gettime" */
};

/* pb_sysinfo_collect - fill @s, run_id included; fields that cannot be read say "unknown". */
void pb_sysinfo_collect(struct pb_sysinfo *s);

/* pb_utc_now - ISO 8601 UTC time of day with milliseconds into @buf. */
void pb_utc_now(char *buf, size_t n);

/* pb_field_clean - make @s safe as an unquoted CSV field: , " ; newlines become spaces. */
void pb_field_clean(char *s);

/* ---------------------------------------------------------------- rows */

#define PB_DEPTH_UNBOUNDED UINT64_MAX

/* struct pb_row - one CSV row: one point x one repetition (names as in results/README.md). */
struct pb_row {
	char timestamp[32];
	char pattern[32];
	char kind[32];
	char policy[32];
	unsigned producers, consumers, stages;
	uint64_t depth; /* PB_DEPTH_UNBOUNDED: unbounded */
	int64_t work_ns;
	double rate;
	int64_t spin_ns; /* the effective budget (the kind default resolved) */
	int64_t timeout_ns;
	char pin[16]; /* pl_pin_name(); "none" in files written before the column existed */
	unsigned rep; /* 1-based */
	double warmup_s;
	uint64_t seed;
	uint64_t messages;
	double seconds;
	double tput; /* messages / seconds */
	struct pl_hist_summary lat;
	uint64_t dropped, rejected, lost;
	char extras[192]; /* name=value;name=value, or "-" */
};

/* struct pb_note - a point that was skipped or failed, and why. */
struct pb_note {
	char point[128];
	char why[192];
};

/* struct pb_run - one invocation's results and where they go. */
struct pb_run {
	struct pb_sysinfo sys;
	int argc;
	char **argv;
	char dir[PATH_MAX]; /* run folder; "" when nothing is written (patlab run) */
	const char *preset;
	unsigned reps;
	double seconds, warmup_s;
	uint64_t messages, seed;
	bool latency;
	uint64_t lat_sample; /* as in struct pb_plan */
	char started[32], finished[32];
	const char *status; /* "running", "complete", "interrupted", "failed" */
	size_t points, runs_total;
	struct pb_row *rows;
	size_t n_rows, cap_rows;
	struct pb_note *skipped, *failed;
	size_t n_skipped, n_failed;
	/* Go rows (go/gorun.c), for meta.json: the --gomaxprocs setting as given ("auto" by
	 * default) and patlab-go's process start-up (exec -> main) over every Go run. */
	char gomaxprocs[128];
	size_t go_runs;
	double go_start_ms_min, go_start_ms_max, go_start_ms_sum;
};

/* pb_run_add_row / pb_run_note - append (aborts on out of memory: nothing sensible to do). */
struct pb_row *pb_run_add_row(struct pb_run *run);
void pb_run_note(struct pb_note **list, size_t *n, const char *point, const char *why);
void pb_run_free(struct pb_run *run);

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
	bool zero_rendezvous_only; /* depth 0 only for kinds with rendezvous (presets) */
};

/* struct pb_point - one sweep point; points of one scenario differ only by kind. */
struct pb_point {
	const struct pl_pattern *pat;
	struct pl_params p;
	size_t scenario;
	bool skip;	     /* skipped or failed: no more repetitions */
	unsigned gomaxprocs; /* kind "go": GOMAXPROCS for this point (auto resolved); else 0 */
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
	uint64_t lat_sample;	   /* pl_params.lat_sample: 0 auto, else N */
	struct pb_nums gomaxprocs; /* kind "go": the GOMAXPROCS values; 0 = auto */
	struct pb_point *points;
	size_t n_points;
};

/* struct pb_preset - a named starting grid, for `patlab list` and --preset. */
struct pb_preset {
	const char *name;
	const char *summary;
};
extern const struct pb_preset pb_presets[];

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
 * calling @row_done after each (the CSV rewrite). Progress on stderr unless @quiet. Returns
 * 0, or PB_EXIT_INTERRUPT when a signal asked it to stop early.
 */
int pb_plan_execute(struct pb_plan *plan, struct pb_run *run, bool quiet,
		    int (*row_done)(struct pb_run *run));

/* pb_stop_requested - set by the SIGINT/SIGTERM handler main.c installs. */
extern volatile int pb_stop_requested;

/* ---------------------------------------------------------------- csv.c */

/* pb_csv_header - the header line of results.csv (no newline). */
const char *pb_csv_header(void);

/* pb_csv_format_row - one row, no newline, into @buf; returns its length (truncated: -1). */
int pb_csv_format_row(const struct pb_run *run, const struct pb_row *row, char *buf, size_t n);

/* pb_csv_write - write every row of @run to @path atomically (temp file, then rename). 0/-errno. */
int pb_csv_write(const struct pb_run *run, const char *path);

/*
 * pb_csv_read - append the rows of a results.csv at @path to @run (columns found by name, so
 * older files with fewer of our columns still read); the machine fields of @run->sys come
 * from the first row. Returns 0, or -errno / -EINVAL with a message in @err.
 */
int pb_csv_read(const char *path, struct pb_run *run, char *err, size_t n);

/* pb_meta_write - meta.json (atomically). 0/-errno. */
int pb_meta_write(const struct pb_run *run, const char *path);

/* pb_write_atomic - write @len bytes of @data to @path through a temp file and rename. */
int pb_write_atomic(const char *path, const char *data, size_t len);

/* ---------------------------------------------------------------- report.c */

/*
 * pb_report - the summary of @run's rows: to @term (plain text) and, when @md_path is not
 * NULL, to summary.md (atomically). Returns the number of rows with lost != 0 (flagged loudly).
 */
size_t pb_report(const struct pb_run *run, FILE *term, const char *md_path);

/* pb_fmt_ns - a latency for humans: 950ns, 1.25us, 40.1us, 3.2ms, 1.50s. */
const char *pb_fmt_ns(double ns, char *buf, size_t n);

/* pb_fmt_tput - messages/s for humans, in millions: 12.3, 0.027, 1.10k (thousands of M). */
const char *pb_fmt_tput(double mps, char *buf, size_t n);

/* ---------------------------------------------------------------- go/gorun.c */

/* The kind name of Go's own channels, run by bench/go/patlab-go (not a registry kind). */
#define PB_GO_KIND     "go"
#define PB_GO_PATTERNS 16

/* struct pb_go_info - patlab-go, as probed once: where, which Go, which workloads. */
struct pb_go_info {
	bool available;
	char path[PATH_MAX];
	char version[64]; /* e.g. "go1.19.8" */
	char why[384];	  /* when not available: why, and what to do */
	size_t n_patterns;
	char patterns[PB_GO_PATTERNS][32];
};

/* pb_go_probe - find and ask patlab-go (once; later calls return the same answer). */
const struct pb_go_info *pb_go_probe(void);

/* pb_kind_is_go - @kind is "go". */
bool pb_kind_is_go(const char *kind);

/*
 * pb_go_threads - the threads the C workload of @pat runs for @p (chan: P + C; pingpong: 2;
 * worker_pool: P + workers; pipeline: P + stages - 1 + C + the sink; fanout_fanin: P + the
 * backend pools). pb_go_auto_procs - the default GOMAXPROCS: min(online CPUs, that).
 */
unsigned pb_go_threads(const struct pl_pattern *pat, const struct pl_params *p);
unsigned pb_go_auto_procs(const struct pl_pattern *pat, const struct pl_params *p);

/*
 * pb_go_check - can the go point @pt run: patlab-go present, the pattern one of its, a
 * bounded depth, and the checks every pattern shares. 0, or -ENOTSUP / -EINVAL with @r->why.
 */
int pb_go_check(const struct pb_point *pt, struct pl_result *r);

/*
 * pb_go_run - run the go point @pt once in a patlab-go process and fill @r as
 * pl_pattern_run() would (@r->latency, when not NULL, receives the histogram; the extras start
 * with gomaxprocs). Start-up figures go to @run. Returns 0, -ENOTSUP (skipped; @r->why) or
 * -errno (failed; @r->why).
 */
int pb_go_run(const struct pb_point *pt, struct pl_result *r, struct pb_run *run);

#endif /* PATLAB_BENCH_H */
