/* SPDX-License-Identifier: MIT */
/*
 * patlab - the harness users run: list, run (one point), sweep (a grid).
 *
 *   patlab list                      kinds, patterns/workloads, presets
 *   patlab run   [options]           one point, printed (a run folder only with --out)
 *   patlab sweep [options]           a grid -> results/runs/<run_id>/{results.csv,meta.json,
 *                                    summary.md}, the summary on stdout, progress on stderr
 *   patlab report PATH...            the summary again, from results.csv files
 *   patlab check BASELINE CURRENT    the regression gate (check.c): exit 0 ok, 1 regression
 *
 * Every subcommand takes --help. A bad argument prints what is wrong and the valid values, and
 * exits 2. The exit codes (bench.h) are one table for every command, in `patlab --help` and
 * README.md; see bench.h for how the parts fit.
 */
#include "bench.h"
#include "build_info.h"
#include "gate.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_main[] =
    "usage: patlab <command> [options]\n"
    "\n"
    "commands:\n"
    "  list    channel kinds, patterns and workloads, presets\n"
    "  run     run one point and print its figures\n"
    "  sweep   run a grid of points into results/runs/<run_id>/ (CSV, meta.json, summary)\n"
    "  report  the summary of existing results (run folders or CSV files)\n"
    "  check   compare results with a baseline: exit 1 on a performance regression\n"
    "\n"
    "'patlab <command> --help' for a command's options.\n"
    "\n"
    "exit codes (every command):\n"
    "  0    ok\n"
    "  1    a performance regression (check), a point that failed to run, or an output\n"
    "       that could not be written (the reason is printed)\n"
    "  2    bad input: usage, arguments, a results file that is unreadable or malformed\n"
    "       (file:line:column), parameters the library refuses, results check cannot compare\n"
    "  3    lost messages: some row has lost != 0 (a channel kind is broken)\n"
    "  130  interrupted (SIGINT/SIGTERM): finished rows are kept, the summary written\n";

static const char usage_list[] = "usage: patlab list\n"
				 "\n"
				 "Lists the channel kinds (with what they support), the patterns "
				 "and raw workloads the\n"
				 "harness drives (with the parameters each reads), and the sweep "
				 "presets.\n";

#define GRID_OPTS                                                                                  \
	"  --pattern LIST     patterns/workloads, or 'all' (see 'patlab list')\n"                  \
	"  --chan LIST        channel kinds; 'all'; 'multi': those several threads may share\n"    \
	"                     (for the pattern); -KIND leaves one out, e.g. all,-spsc\n"           \
	"  --producers LIST   producer threads; with --consumers, every pair of the two lists\n"   \
	"  --consumers LIST   consumer threads (workers; alias --workers)\n"                       \
	"  --ratio LIST       producer:consumer pairs instead, e.g. 1:1,4:1,1:4\n"                 \
	"  --depth LIST       channel capacities; 0 = rendezvous, 'unbounded'; 'rendezvous':\n"    \
	"                     0 only on the kinds that have one (left out, not skipped)\n"         \
	"  --stages LIST      pipeline stages (patterns that have them)\n"                         \
	"  --work-ns LIST     busy work per message in the consumer, ns (default 0)\n"             \
	"  --rate LIST        open loop: messages/s over all producers, latency from the\n"        \
	"                     intended send time (default 0 = closed loop)\n"                      \
	"  --policy LIST      pattern-specific policy names\n"                                     \
	"  --spin LIST        spin budget before parking, ns, or 'default' (50000)\n"              \
	"  --timeout-ns LIST  a pattern's time limit (deadline, hedge delay, grace), ns\n"         \
	"  --pin LIST         thread placement: none (default: the OS decides), spread (the\n"     \
	"                     k-th thread started on the k-th CPU, round robin), single (all\n"    \
	"                     on one CPU: every hand-off a context switch)\n"                      \
	"  --gomaxprocs LIST  GOMAXPROCS of the go kind's points: 'auto' (default: min(online\n"   \
	"                     CPUs, the threads the C workload runs)) and/or counts\n" RUN_OPTS    \
	"\n"                                                                                       \
	"LIST: comma-separated values and ranges: a..b (doubling), a..b*k (geometric),\n"          \
	"a..b+k (arithmetic); e.g. --depth 0,1..4096*4 = 0,1,4,16,64,256,1024,4096.\n"

/* What one point is: `patlab run` takes one value of each (no lists, no 'all'). */
#define POINT_OPTS                                                                                 \
	"  --pattern NAME     one pattern or workload (see 'patlab list'; default chan)\n"         \
	"  --chan KIND        one channel kind (default mutex)\n"                                  \
	"  --producers N      producer threads (default 1)\n"                                      \
	"  --consumers N      consumer threads (workers; alias --workers; default 1)\n"            \
	"  --ratio P:C        producers and consumers at once, e.g. 4:1\n"                         \
	"  --depth N          channel capacity; 0 = rendezvous, 'unbounded' (default 64)\n"        \
	"  --stages N         pipeline stages (patterns that have them)\n"                         \
	"  --work-ns N        busy work per message in the consumer, ns (default 0)\n"             \
	"  --rate N           open loop: messages/s over all producers (default 0: closed)\n"      \
	"  --policy NAME      a pattern-specific policy name\n"                                    \
	"  --spin N           spin budget before parking, ns, or 'default' (50000)\n"              \
	"  --timeout-ns N     a pattern's time limit (deadline, hedge delay, grace), ns\n"         \
	"  --pin MODE         thread placement: none (default), spread or single\n"                \
	"  --gomaxprocs N     GOMAXPROCS of a go point: 'auto' (default) or a count\n" RUN_OPTS

/* The options of how points are run, the same for run and sweep. */
#define RUN_OPTS                                                                                   \
	"  --seconds S        measured time per run (or --messages N: exactly N per run)\n"        \
	"  --messages N       measure exactly N messages per run (producers share them)\n"         \
	"  --warmup S         warm-up per run, not counted\n"                                      \
	"  --reps N           repetitions of every point\n"                                        \
	"  --seed N           seed for patterns that draw random numbers (default 1)\n"            \
	"  --no-latency       do not time messages (measures the cost of measuring)\n"             \
	"  --lat-sample N     chan, pingpong: time one message in N on average (1: every one);\n"  \
	"                     'auto' (default): ~2x10^5 samples per point, all when fewer pass\n"  \
	"  --quiet            no progress on stderr\n"                                             \
	"  --help             this text\n"

static const char usage_report[] =
    "usage: patlab report [--md FILE] PATH...\n"
    "\n"
    "Prints the summary of existing results: each PATH is a run folder (its results.csv)\n"
    "or a CSV file; rows of several are summarized together. Exit 2 when a file is\n"
    "malformed (named by line and column), 1 when FILE cannot be written, 3 when a row\n"
    "lost messages.\n"
    "\n"
    "  --md FILE    also write the summary as markdown to FILE\n"
    "  --help       this text\n"
    "\n"
    "examples:\n"
    "  patlab report results/runs/latest\n"
    "  patlab report --md /tmp/both.md results/runs/A results/runs/B\n";

static const char usage_run[] =
    "usage: patlab run [options]   (one value per option)\n"
    "\n"
    "Runs one point (default: chan, mutex, 1p1c, depth 64, 1 s after 0.1 s warm-up, 1 rep)\n"
    "and prints throughput and latency percentiles. Writes a run folder only with --out.\n"
    "\n" POINT_OPTS "  --out DIR          also write DIR/<run_id>/ as sweep does\n"
    "\n"
    "examples:\n"
    "  patlab run --chan lockfree --ratio 4:1 --depth 1024 --seconds 2\n"
    "  patlab run --pattern pingpong --chan mutex --depth 0 --reps 3\n";

static const char usage_sweep[] =
    "usage: patlab sweep [options]\n"
    "\n"
    "Runs every point of a grid --reps times (repetitions interleaved across points, kinds\n"
    "in rotating order), writing DIR/<run_id>/results.csv after every run (atomically),\n"
    "meta.json and summary.md, and prints the summary. The grid starts from a preset\n"
    "(default quick); each option given replaces that dimension for every chosen pattern\n"
    "that reads it. A point a kind cannot run (spsc with 4 producers, capacity 0 without\n"
    "rendezvous) is skipped with its reason, never run wrongly.\n"
    "\n"
    "  --preset NAME      quick (default, ~2 min on 2 cores), full (~25 min) or ci (the\n"
    "                     regression gate's grid, ~40 s: scripts/perf-check)\n" GRID_OPTS
    "  --out DIR          where run folders go (default results/runs, from the current\n"
    "                     directory); DIR/latest points at the newest\n"
    "  --dry-run          print the points (and those that would be skipped, with why)\n"
    "                     and how long the sweep would take; run nothing\n"
    "\n"
    "examples:\n"
    "  patlab sweep                                   # the quick preset\n"
    "  patlab sweep --preset full --dry-run           # what full would run, how long\n"
    "  patlab sweep --chan mutex,lockfree --ratio 1:1,4:1 --depth 1..4096*4 --reps 5\n"
    "  patlab sweep --pattern pingpong --chan all --depth 0,1 --messages 100000\n"
    "  patlab sweep --pattern chan --ratio 1:1 --depth 64 --spin 0,1000,10000,50000\n"
    "  patlab sweep --pattern chan,pingpong --chan lockfree --depth 1,64 --pin none,spread\n";

static int usage_error(const char *usage_cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const char *usage_cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "patlab: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'patlab %s --help')\n", usage_cmd);
	return PB_EXIT_USAGE;
}

/* parse_opts - fill @o; returns -1 to go on, else the exit code (help: 0, error: 2). */
static int parse_opts(int argc, char **argv, const char *cmd, const char *usage, bool sweep,
		      struct pb_opts *o)
{
	char err[512];
	int e = pb_opts_parse(argc, argv, sweep, o, err, sizeof(err));

	if (e > 0) {
		fputs(usage, stdout);
		return PB_EXIT_OK;
	}
	if (e < 0)
		return usage_error(cmd, "%s", err);
	return -1;
}

static int cmd_list(int argc, char **argv)
{

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_list, stdout);
			return PB_EXIT_OK;
		}
		return usage_error("list", "unexpected argument '%s'", argv[i]);
	}
	printf("channel kinds (--chan):\n");
	for (const struct pb_runner *const *r = pb_runners(); *r != NULL; r++)
		(*r)->list(stdout);
	printf("\npatterns and workloads (--pattern; each also reads --pin, thread placement):\n");
	for (const struct pl_pattern *const *p = pl_patterns(); *p != NULL; p++) {
		printf("  %-10s %s\n  %-10s parameters:", (*p)->name, (*p)->summary, "");
		pb_grid_options_print((*p)->params, stdout);
		if ((*p)->policies != NULL) {
			printf("; policies:");
			for (const char *const *q = (*p)->policies; *q != NULL; q++)
				printf(" %s", *q);
		}
		putchar('\n');
	}
	printf("\npresets (sweep --preset):\n");
	for (const struct pb_preset *p = pb_presets; p->name != NULL; p++)
		printf("  %-10s %s\n", p->name, p->summary);
	return PB_EXIT_OK;
}

static void on_signal(int sig)
{
	(void)sig;
	pb_stop_requested = 1; /* checked between runs; a second signal kills (SA_RESETHAND) */
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0777) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The run folder's file @name into @buf. */
static const char *in_dir(const struct pb_run *run, const char *name, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s", run->dir, name);
	return buf;
}

static int rewrite_csv(struct pb_run *run)
{
	char path[PATH_MAX + 32];
	int e = pb_csv_write(run, in_dir(run, "results.csv", path, sizeof(path)));

	if (e != 0)
		fprintf(stderr, "patlab: cannot write %s: %s\n", path, strerror(-e));
	return e;
}

static void point_latest(const char *out, const char *run_id)
{
	char link[PATH_MAX], tmp[PATH_MAX + 32];

	snprintf(link, sizeof(link), "%s/latest", out);
	snprintf(tmp, sizeof(tmp), "%s/.latest.%ld", out, (long)getpid());
	unlink(tmp);
	if (symlink(run_id, tmp) != 0 || rename(tmp, link) != 0)
		unlink(tmp);
}

static void print_run_rows(const struct pb_run *run)
{
	for (size_t i = 0; i < run->n_rows; i++) {
		const struct pb_row *w = &run->rows[i];
		char t[32], a[32], b[32], c[32], d[32], e[32], f[32], g[32], lat[256], x[512];

		if (run->latency)
			snprintf(lat, sizeof(lat),
				 "latency p50 %s p90 %s p99 %s p99.9 %s max %s mean %s",
				 pb_fmt_ns((double)w->lat.p50, b, sizeof(b)),
				 pb_fmt_ns((double)w->lat.p90, c, sizeof(c)),
				 pb_fmt_ns((double)w->lat.p99, d, sizeof(d)),
				 pb_fmt_ns((double)w->lat.p999, e, sizeof(e)),
				 pb_fmt_ns((double)w->lat.max, f, sizeof(f)),
				 pb_fmt_ns(w->lat.mean, g, sizeof(g)));
		else
			snprintf(lat, sizeof(lat), "latency not recorded (--no-latency)");
		pb_extras_format(w, x, sizeof(x));
		printf("%s %s %up%uc depth %s%s%s rep %u: %s M msg/s (%llu in %.3f s); %s; dropped "
		       "%llu rejected %llu lost %llu%s%s\n",
		       w->pattern, w->kind, w->producers, w->consumers,
		       w->depth == PB_DEPTH_UNBOUNDED
			   ? "unbounded"
			   : (snprintf(t, sizeof(t), "%llu", (unsigned long long)w->depth), t),
		       strcmp(w->pin, "none") ? " pin=" : "", strcmp(w->pin, "none") ? w->pin : "",
		       w->rep, pb_fmt_tput(w->tput, a, sizeof(a)), (unsigned long long)w->messages,
		       w->seconds, lat, (unsigned long long)w->dropped,
		       (unsigned long long)w->rejected, (unsigned long long)w->lost,
		       w->n_extras ? "; " : "", w->n_extras ? x : "");
	}
}

static int cmd_run_or_sweep(int argc, char **argv, int full_argc, char **full_argv, bool sweep)
{
	const char *cmd = sweep ? "sweep" : "run";
	struct pb_opts o;
	struct pb_plan plan;
	struct pb_run run;
	char err[512], path[PATH_MAX + 32];
	const char *out;
	int rc, exec_rc;
	size_t lost, unwritten = 0;

	rc = parse_opts(argc, argv, cmd, sweep ? usage_sweep : usage_run, sweep, &o);
	if (rc >= 0)
		return rc;
	if (pb_plan_make(&o, !sweep, &plan, err, sizeof(err)) != 0 ||
	    pb_plan_refused(&plan, err, sizeof(err)) != 0) {
		pb_plan_free(&plan);
		return usage_error(cmd, "%s", err);
	}
	if (o.dry_run) {
		pb_plan_print(&plan, stdout);
		pb_plan_free(&plan);
		return PB_EXIT_OK;
	}
	memset(&run, 0, sizeof(run));
	pb_sysinfo_collect(&run.sys);
	run.argc = full_argc;
	run.argv = full_argv;
	run.preset = plan.preset;
	run.reps = plan.reps;
	run.seconds = plan.seconds;
	run.warmup_s = plan.warmup_s;
	run.messages = plan.messages;
	run.seed = plan.seed;
	run.latency = plan.latency;
	run.lat_sample = plan.lat_sample;
	run.status = "running";
	snprintf(run.procs, sizeof(run.procs), "%s", o.gomaxprocs ? o.gomaxprocs : "auto");
	pb_utc_now(run.started, sizeof(run.started));
	snprintf(run.finished, sizeof(run.finished), "-");

	out = o.out ? o.out : (sweep ? "results/runs" : NULL);
	if (out != NULL) {
		int e;

		snprintf(run.dir, sizeof(run.dir), "%s/%s", out, run.sys.run_id);
		e = mkdir_p(run.dir);
		if (e != 0) {
			fprintf(stderr, "patlab: cannot create %s: %s\n", run.dir, strerror(-e));
			pb_plan_free(&plan);
			return PB_EXIT_FAILED;
		}
		if (rewrite_csv(&run) != 0 ||
		    pb_meta_write(&run, in_dir(&run, "meta.json", path, sizeof(path))) != 0) {
			pb_plan_free(&plan);
			return PB_EXIT_FAILED;
		}
		if (!o.quiet)
			fprintf(stderr, "patlab: %s: %zu points x %u reps -> %s/\n", cmd,
				plan.n_points, plan.reps, run.dir);
	} else if (!o.quiet) {
		if (plan.messages)
			fprintf(stderr, "patlab: run: %u rep%s of %llu messages\n", plan.reps,
				plan.reps == 1 ? "" : "s", (unsigned long long)plan.messages);
		else
			fprintf(stderr,
				"patlab: run: %u rep%s of %g s after %g s warm-up: about %.0f s\n",
				plan.reps, plan.reps == 1 ? "" : "s", plan.seconds, plan.warmup_s,
				ceil(plan.reps * (plan.seconds + plan.warmup_s)));
	}
	if (run.sys.sanitized)
		fprintf(stderr, "patlab: note: %s; its figures are not performance figures\n",
			run.sys.build_type);
	install_signals();
	exec_rc = pb_plan_execute(&plan, &run, o.quiet, out ? rewrite_csv : NULL);
	pb_utc_now(run.finished, sizeof(run.finished));
	run.status = exec_rc == PB_EXIT_INTERRUPT   ? "interrupted"
		     : exec_rc != 0 || run.n_failed ? "failed"
						    : "complete";
	if (!sweep)
		print_run_rows(&run);
	if (out != NULL) {
		int e = pb_meta_write(&run, in_dir(&run, "meta.json", path, sizeof(path)));

		if (e != 0) {
			fprintf(stderr, "patlab: cannot write %s: %s\n", path, strerror(-e));
			unwritten++;
		}
		lost = pb_report(&run, sweep ? stdout : NULL,
				 in_dir(&run, "summary.md", path, sizeof(path)), &e);
		unwritten += e != 0;
		point_latest(out, run.sys.run_id);
		printf("\nresults: %s/results.csv\nsummary: %s/summary.md\nmeta:    %s/meta.json\n",
		       run.dir, run.dir, run.dir);
	} else {
		lost = pb_run_lost_rows(&run);
		for (size_t i = 0; i < run.n_skipped; i++)
			printf("skipped: %s: %s\n", run.skipped[i].point, run.skipped[i].why);
	}
	fflush(stdout);
	if (lost > 0) {
		fprintf(stderr, "patlab: LOST MESSAGES in %zu row(s): a channel kind is broken\n",
			lost);
		rc = PB_EXIT_LOST;
	} else if (exec_rc == PB_EXIT_INTERRUPT) {
		fprintf(stderr, "patlab: interrupted; %zu finished rows kept\n", run.n_rows);
		rc = PB_EXIT_INTERRUPT;
	} else if (run.n_refused > 0) {
		fprintf(stderr, "patlab: %zu point(s) refused as invalid (see above)\n",
			run.n_refused);
		rc = PB_EXIT_USAGE;
	} else if (run.n_failed > 0) {
		fprintf(stderr, "patlab: %zu point(s) failed (see above)\n", run.n_failed);
		rc = PB_EXIT_FAILED;
	} else if (exec_rc != 0) {
		fprintf(stderr, "patlab: stopped early (see above)\n");
		rc = PB_EXIT_FAILED;
	} else if (run.n_rows == 0) {
		fprintf(stderr, "patlab: nothing ran (every point was skipped)\n");
		rc = PB_EXIT_FAILED;
	} else if (unwritten > 0) {
		rc = PB_EXIT_FAILED; /* said above, with the reason */
	} else {
		rc = PB_EXIT_OK;
	}
	pb_run_free(&run);
	pb_plan_free(&plan);
	return rc;
}

static int cmd_report(int argc, char **argv)
{
	struct pb_run run;
	const char *md = NULL;
	char err[512], path[PATH_MAX + 32];
	size_t lost, inputs = 0;
	int i, e;

	memset(&run, 0, sizeof(run));
	run.status = "report";
	for (i = 1; i < argc; i++) {
		struct stat st;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_report, stdout);
			pb_run_free(&run);
			return PB_EXIT_OK;
		}
		if (strcmp(argv[i], "--md") == 0) {
			if (++i == argc || argv[i][0] == '\0') {
				pb_run_free(&run);
				return usage_error("report",
						   i == argc ? "option '--md' needs a value"
							     : "--md: an empty path (give a file)");
			}
			md = argv[i];
			continue;
		}
		if (argv[i][0] == '-') {
			pb_run_free(&run);
			return usage_error("report", "unknown option '%s'", argv[i]);
		}
		if (argv[i][0] == '\0') {
			pb_run_free(&run);
			return usage_error("report", "an empty path (give a run folder or a CSV)");
		}
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			snprintf(path, sizeof(path), "%s/results.csv", argv[i]);
		else
			snprintf(path, sizeof(path), "%s", argv[i]);
		e = pb_csv_read(path, &run, err, sizeof(err));
		if (e != 0) {
			pb_run_free(&run);
			return usage_error("report", "%s", err);
		}
		inputs++;
	}
	if (inputs == 0) {
		pb_run_free(&run);
		return usage_error("report", "which results? give a run folder or a CSV");
	}
	if (run.n_rows == 0) {
		pb_run_free(&run);
		return usage_error("report", "no rows in the given results");
	}
	lost = pb_report(&run, stdout, md, &e);
	pb_run_free(&run);
	return lost > 0 ? PB_EXIT_LOST : e != 0 ? PB_EXIT_FAILED : PB_EXIT_OK;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (cmd == NULL) {
		fputs(usage_main, stderr);
		return PB_EXIT_USAGE;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		return PB_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("patlab %s\n", PATLAB_VERSION);
		return PB_EXIT_OK;
	}
	if (strcmp(cmd, "list") == 0)
		return cmd_list(argc - 1, argv + 1);
	if (strcmp(cmd, "run") == 0)
		return cmd_run_or_sweep(argc - 1, argv + 1, argc, argv, false);
	if (strcmp(cmd, "sweep") == 0)
		return cmd_run_or_sweep(argc - 1, argv + 1, argc, argv, true);
	if (strcmp(cmd, "report") == 0)
		return cmd_report(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return pb_check_main(argc - 1, argv + 1);
	fprintf(stderr, "patlab: unknown command '%s' (valid: list, run, sweep, report, check)\n",
		cmd);
	fputs(usage_main, stderr);
	return PB_EXIT_USAGE;
}
