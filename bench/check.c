/* SPDX-License-Identifier: MIT */
/*
 * patlab check BASELINE CURRENT - the performance regression gate.
 *
 * Two kinds of input, told apart by their header line:
 *
 * Timing (results.csv of `patlab sweep`, or a run folder holding one). Rows are joined on the
 * configuration key (the key columns of model.h's table); the repetitions of a configuration
 * are its sample. Per configuration and metric (--metric):
 *   - the ratio of medians current / baseline, turned into a *change in cost*: for throughput
 *     (higher is better) the change of the time per message, base / cur - 1; for latency
 *     (lower is better) cur / base - 1. +20% means 20% slower either way;
 *   - a 95% percentile-bootstrap interval of that change (stats.c; seeded: reproducible);
 *   - the two-sided Mann-Whitney U p-value of current against baseline (exact up to 50
 *     repetitions together, ties included; normal approximation with tie correction above).
 *   A configuration REGRESSES when a metric's change exceeds the threshold (default 10%) AND
 *   p < alpha (default 0.01). Both are needed: the threshold keeps a tiny but consistent
 *   shift (a busier machine) from failing the build; the test keeps a large but noisy
 *   difference (one slow repetition) from failing it. Since the smallest p a rank test can
 *   give with n and m repetitions is 2 / C(n + m, n), too few repetitions make that test
 *   blind: a configuration is tested alone only with --min-reps a side (default 5: with 5 and
 *   5 the smallest p is 0.0079 < 0.01; with 4 and 4 it is 0.029) and a smallest p < alpha.
 *
 * Across configurations (those not tested alone: the main job runs 3 repetitions). Per
 * metric, each configuration's change is one figure, the log of its cost ratio of medians;
 * the metric REGRESSES across them when their median change exceeds --across-threshold
 * (default 20%) AND a one-sided Wilcoxon signed-rank test of the changes gives p < alpha
 * (7 configurations at least at 0.01: the smallest one-sided p is 2^-n). Their changes are
 * still listed, as ok or slower?, never as a REGRESSION of one configuration. A shift every
 * configuration shares is the machine's as much as the code's: the threshold must exceed
 * what the machine alone moves the median by between the two runs (results/baseline/
 * README.md measures it), and --normalize, which divides that shift out, is refused.
 *
 * Instruction counts (scripts/icount's CSV: path, instructions_per_op, ...). Counts under
 * callgrind are exact run to run, so there is no test: a path regresses when its count grows
 * by more than the threshold (default 2%). Counts from different compilers or build types
 * are not comparable, and say so (exit 2).
 *
 * The machine factor, the median over all configurations of a metric's cost ratio, is always
 * reported: a shift that every configuration shares is the machine (or a change touching
 * everything). --normalize divides it out before the comparison, so that only configurations
 * that stand out from the rest regress: the way to compare against a baseline recorded at
 * another time on a shared machine, whose speed swings by whole factors with its load.
 *
 * Anything that makes the comparison meaningless exits 2 and names it: different column sets
 * (a baseline from another schema), a malformed file (file:line:column: both kinds of input
 * are read as strictly as csv.c reads results.csv), configurations or paths present on one
 * side only, sanitized builds, too few repetitions and too few configurations for either
 * test. Differences that do not (another host, another measured window) are printed as
 * notes. Lost messages in the current results exit 3; check.md / check.csv that cannot be
 * written, 1 (bench.h's table).
 *
 * Output: the table worst first on stdout, and check.md and check.csv (written atomically)
 * into --out DIR (default: the folder of CURRENT).
 */
#include "bench.h"
#include "gate.h"
#include "stats.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char pb_check_usage[] =
    "usage: patlab check [options] BASELINE CURRENT\n"
    "\n"
    "Compares two result sets and says whether CURRENT is slower than BASELINE.\n"
    "BASELINE and CURRENT are results.csv files of 'patlab sweep' (or run folders holding\n"
    "one), or both instruction-count CSVs of scripts/icount.\n"
    "\n"
    "Timing: rows are joined on the configuration columns (pattern, chan_kind, producers,\n"
    "consumers, stages, queue_depth, work_ns, rate_target, policy, spin_ns, timeout_ns,\n"
    "pin; a file without the pin column reads as pin=none); each\n"
    "configuration's repetitions are compared per metric by the ratio of medians (with a 95%\n"
    "bootstrap interval) and a two-sided Mann-Whitney U test. A configuration regresses when\n"
    "a metric is slower by more than the threshold AND p < alpha. 'Slower' is a change in\n"
    "cost: time per message for throughput (higher is better), ns for latency (lower is\n"
    "better); +20% = 20% slower.\n"
    "Configurations with too few repetitions for that test (fewer than --min-reps a side;\n"
    "the main job's sweep runs 3) are judged across configurations instead: per metric,\n"
    "the median of their changes must exceed --across-threshold AND a one-sided Wilcoxon\n"
    "signed-rank test of the changes give p < alpha (at least 7 configurations at 0.01).\n"
    "That cannot tell a slower machine from slower code: compare runs made back to back.\n"
    "Instruction counts: exact, so no test; a path regresses when its count per operation\n"
    "grows by more than the threshold.\n"
    "\n"
    "  --threshold SPEC  slowdown that counts, in %: a number (default 10; 2 for instruction\n"
    "                    counts), optionally followed by per-metric values, e.g.\n"
    "                    --threshold 10,lat_p99_ns=50\n"
    "  --across-threshold SPEC  the across-configuration verdict's threshold, as\n"
    "                    --threshold (default 20: on a quiet machine, runs back to back moved\n"
    "                    by up to 4%; a loaded one moves by up to 55%)\n"
    "  --alpha A         significance level of the tests (default 0.01)\n"
    "  --min-reps N      fewest repetitions per configuration and side for a test of its own\n"
    "                    (default 5; below that the U test cannot reach p < 0.01: with 5 and\n"
    "                    5 its smallest p is 0.0079, with 4 and 4 it is 0.029); fewer: the\n"
    "                    configuration is judged across configurations\n"
    "  --metric LIST     metrics to check (default throughput_mps,lat_p50_ns,lat_p99_ns):\n"
    "                    throughput_mps lat_p50_ns lat_p90_ns lat_p99_ns lat_p999_ns\n"
    "                    lat_max_ns lat_mean_ns, or 'all'\n"
    "  --out DIR         where check.md and check.csv go (default: CURRENT's folder)\n"
    "  --normalize       divide out the machine factor: the median change over all\n"
    "                    configurations (>= 3) of each metric, so that a machine that is\n"
    "                    slower across the board is not a regression; a regression must\n"
    "                    stand out from the rest (a change slowing everything alike then\n"
    "                    passes, unless the factor itself exceeds --max-factor)\n"
    "  --max-factor PCT  with --normalize: a machine factor above PCT (default 300, i.e.\n"
    "                    4x slower) is itself a regression: more than load explains\n"
    "  --seed N          bootstrap seed (default 1); --resamples N (default 2000)\n"
    "  --quiet           print only the verdict line and the regressions\n"
    "  --help            this text\n"
    "\n"
    "Exit: 0 no regression, 1 regression (or check.md / check.csv not writable), 2 the\n"
    "check could not be done (bad arguments, unreadable or malformed input, different\n"
    "schemas, configurations on one side only (named), too few repetitions and too few\n"
    "configurations for either test, sanitized builds), 3 the current results lost\n"
    "messages.\n"
    "\n"
    "examples:\n"
    "  patlab check results/baseline/ci.csv results/runs/latest\n"
    "  patlab check --threshold 5 --metric throughput_mps base/results.csv new/results.csv\n"
    "  patlab check results/baseline/icount.csv results/runs/icount-X/icount.csv\n";

/* ---------------------------------------------------------------- metrics */

enum {
	M_TPUT,
	M_P50,
	M_P90,
	M_P99,
	M_P999,
	M_MAX,
	M_MEAN,
	M_ICOUNT, /* instruction-count files only */
	M_N
};

static const struct {
	const char *name;
	bool higher_better;
} metrics[M_N] = {
    [M_TPUT] = {"throughput_mps", true}, [M_P50] = {"lat_p50_ns", false},
    [M_P90] = {"lat_p90_ns", false},	 [M_P99] = {"lat_p99_ns", false},
    [M_P999] = {"lat_p999_ns", false},	 [M_MAX] = {"lat_max_ns", false},
    [M_MEAN] = {"lat_mean_ns", false},	 [M_ICOUNT] = {"instructions_per_op", false},
};

#define DEFAULT_METRICS		 "throughput_mps,lat_p50_ns,lat_p99_ns"
#define DEFAULT_THRESHOLD	 10.0
#define DEFAULT_THRESHOLD_ICOUNT 2.0
#define DEFAULT_ACROSS_THRESHOLD 20.0
#define CI_LEVEL		 0.95

/* row_metric - metric @m of @w: the results.csv column of that name. */
static double row_metric(const struct pb_row *w, int m)
{
	int c = pb_column_find(metrics[m].name);

	return c >= 0 ? pb_column_value((size_t)c, w) : NAN;
}

static int metric_find(const char *name)
{
	for (int m = 0; m < M_N; m++)
		if (strcmp(metrics[m].name, name) == 0)
			return m;
	return -1;
}

/* ---------------------------------------------------------------- options */

/* struct thresholds - a --threshold SPEC: one for all metrics and per metric, NAN: not given. */
struct thresholds {
	double all;
	double m[M_N];
};

struct check_opts {
	const char *base_arg, *cur_arg;
	char base_path[PATH_MAX], cur_path[PATH_MAX];
	struct thresholds thr;	  /* --threshold: per configuration */
	struct thresholds across; /* --across-threshold: across configurations */
	double alpha;
	unsigned min_reps;
	bool use[M_N];
	const char *out;
	uint64_t seed;
	unsigned resamples;
	bool quiet;
	bool normalize;
	double max_factor; /* --normalize: a machine factor beyond this (fraction) regresses */
};

static int check_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int check_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "patlab check: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return PB_CHECK_ERROR;
}

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "patlab check: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'patlab check --help')\n");
	return PB_CHECK_ERROR;
}

/* parse_pct - a plain decimal percentage from 0 to 1000, '%' allowed after it. */
static bool parse_pct(const char *s, double *out)
{
	char buf[64];
	size_t len = strlen(s);
	double v;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len + 1);
	if (buf[len - 1] == '%')
		buf[len - 1] = '\0';
	if (strpbrk(buf, "eE") != NULL || !pb_parse_real(buf, 0, &v) || v > 1000)
		return false;
	*out = v;
	return true;
}

/* "10", "10%", "10,lat_p99_ns=50", "lat_p99_ns=50", into @t for the option @opt. */
static int parse_threshold(const char *opt, const char *spec, struct thresholds *t)
{
	char buf[512], *items[2 * M_N], err[256];
	int count = pb_list_split(opt, spec, buf, sizeof(buf), items, 2 * M_N, err, sizeof(err));

	if (count < 0)
		return usage_err("%s", err);
	for (int it = 0; it < count; it++) {
		char *item = items[it], *eq = strchr(item, '=');
		double v;
		int m;

		if (eq == NULL) {
			if (!parse_pct(item, &v))
				return usage_err("%s: bad value '%s' (valid: a percentage "
						 "from 0 to 1000, e.g. 10 or 10%%)",
						 opt, item);
			t->all = v;
			continue;
		}
		*eq = '\0';
		m = metric_find(item);
		if (m < 0)
			return usage_err("%s: unknown metric '%s' (valid: throughput_mps, "
					 "lat_p50_ns, lat_p90_ns, lat_p99_ns, lat_p999_ns, "
					 "lat_max_ns, lat_mean_ns, instructions_per_op)",
					 opt, item);
		if (!parse_pct(eq + 1, &v))
			return usage_err("%s: bad value '%s' for %s (valid: a percentage "
					 "from 0 to 1000)",
					 opt, eq + 1, item);
		t->m[m] = v;
	}
	return -1;
}

static int parse_metrics(const char *list, struct check_opts *o)
{
	char buf[512], *items[4 * M_N], err[256];
	int count =
	    pb_list_split("--metric", list, buf, sizeof(buf), items, 4 * M_N, err, sizeof(err));

	if (count < 0)
		return usage_err("%s", err);
	for (int m = 0; m < M_N; m++)
		o->use[m] = false;
	for (int it = 0; it < count; it++) {
		const char *item = items[it];
		int m = metric_find(item);

		if (strcmp(item, "all") == 0) {
			for (m = 0; m < M_ICOUNT; m++)
				o->use[m] = true;
			continue;
		}
		if (m < 0 || m == M_ICOUNT)
			return usage_err("--metric: unknown metric '%s' (valid: throughput_mps, "
					 "lat_p50_ns, lat_p90_ns, lat_p99_ns, lat_p999_ns, "
					 "lat_max_ns, lat_mean_ns, all)",
					 item);
		o->use[m] = true;
	}
	return -1;
}

static bool parse_uint(const char *s, unsigned long long lo, unsigned long long hi,
		       unsigned long long *out)
{
	uint64_t v;

	if (!pb_parse_u64(s, lo, hi, &v))
		return false;
	*out = v;
	return true;
}

enum {
	K_THRESHOLD = 256,
	K_ACROSS_THRESHOLD,
	K_ALPHA,
	K_MIN_REPS,
	K_METRIC,
	K_OUT,
	K_SEED,
	K_RESAMPLES,
	K_QUIET,
	K_NORMALIZE,
	K_MAX_FACTOR,
	K_HELP,
};

static const struct option check_long_opts[] = {
    {"threshold", required_argument, NULL, K_THRESHOLD},
    {"across-threshold", required_argument, NULL, K_ACROSS_THRESHOLD},
    {"alpha", required_argument, NULL, K_ALPHA},
    {"min-reps", required_argument, NULL, K_MIN_REPS},
    {"metric", required_argument, NULL, K_METRIC},
    {"metrics", required_argument, NULL, K_METRIC},
    {"out", required_argument, NULL, K_OUT},
    {"seed", required_argument, NULL, K_SEED},
    {"resamples", required_argument, NULL, K_RESAMPLES},
    {"quiet", no_argument, NULL, K_QUIET},
    {"normalize", no_argument, NULL, K_NORMALIZE},
    {"max-factor", required_argument, NULL, K_MAX_FACTOR},
    {"help", no_argument, NULL, K_HELP},
    {NULL, 0, NULL, 0},
};

/* A run folder means its results.csv. */
static void input_path(const char *arg, char *buf, size_t n)
{
	struct stat st;

	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(buf, n, "%s/results.csv", arg);
	else
		snprintf(buf, n, "%s", arg);
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct check_opts *o)
{
	unsigned long long v;
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->thr.all = o->across.all = NAN;
	for (int m = 0; m < M_N; m++)
		o->thr.m[m] = o->across.m[m] = NAN;
	o->alpha = 0.01;
	o->min_reps = 5;
	o->seed = 1;
	o->resamples = 2000;
	o->max_factor = 3; /* +300% */
	rc = parse_metrics(DEFAULT_METRICS, o);
	if (rc >= 0)
		return rc;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", check_long_opts, NULL)) != -1) {
		switch (c) {
		case K_THRESHOLD:
			if ((rc = parse_threshold("--threshold", optarg, &o->thr)) >= 0)
				return rc;
			break;
		case K_ACROSS_THRESHOLD:
			if ((rc = parse_threshold("--across-threshold", optarg, &o->across)) >= 0)
				return rc;
			break;
		case K_ALPHA: {
			if (strpbrk(optarg, "eE") != NULL || !pb_parse_real(optarg, 0, &o->alpha) ||
			    !(o->alpha > 0 && o->alpha < 1))
				return usage_err("--alpha: bad value '%s' (valid: 0 < alpha < 1, "
						 "e.g. 0.01)",
						 optarg);
			break;
		}
		case K_MIN_REPS:
			if (!parse_uint(optarg, 2, 1000, &v))
				return usage_err(
				    "--min-reps: bad value '%s' (valid: an integer from "
				    "2 to 1000)",
				    optarg);
			o->min_reps = (unsigned)v;
			break;
		case K_METRIC:
			if ((rc = parse_metrics(optarg, o)) >= 0)
				return rc;
			break;
		case K_OUT:
			if (optarg[0] == '\0')
				return usage_err("--out: an empty path (give a folder)");
			o->out = optarg;
			break;
		case K_SEED:
			if (!parse_uint(optarg, 0, UINT64_MAX, &v))
				return usage_err("--seed: bad value '%s' (valid: an integer >= 0)",
						 optarg);
			o->seed = v;
			break;
		case K_RESAMPLES:
			if (!parse_uint(optarg, 100, 1000000, &v))
				return usage_err("--resamples: bad value '%s' (valid: 100 to "
						 "1000000)",
						 optarg);
			o->resamples = (unsigned)v;
			break;
		case K_QUIET:
			o->quiet = true;
			break;
		case K_NORMALIZE:
			o->normalize = true;
			break;
		case K_MAX_FACTOR:
			if (!parse_pct(optarg, &o->max_factor))
				return usage_err(
				    "--max-factor: bad value '%s' (valid: a percentage "
				    "from 0 to 1000)",
				    optarg);
			o->max_factor /= 100;
			break;
		case K_HELP:
			fputs(pb_check_usage, stdout);
			return PB_CHECK_PASS;
		case ':':
			return usage_err("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_err("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return usage_err(argc - optind < 2 ? "which results? give BASELINE and CURRENT"
						   : "unexpected argument '%s' (give BASELINE and "
						     "CURRENT only)",
				 argc - optind > 2 ? argv[optind + 2] : "");
	o->base_arg = argv[optind];
	o->cur_arg = argv[optind + 1];
	if (o->base_arg[0] == '\0' || o->cur_arg[0] == '\0')
		return usage_err("an empty path for %s (give a results.csv, a run folder or an "
				 "instruction-count CSV)",
				 o->base_arg[0] == '\0' ? "BASELINE" : "CURRENT");
	input_path(o->base_arg, o->base_path, sizeof(o->base_path));
	input_path(o->cur_arg, o->cur_path, sizeof(o->cur_path));
	return -1;
}

/* ---------------------------------------------------------------- headers */

#define MAX_COLS PB_CSV_MAX_FIELDS

/* struct header - a CSV's column names (its first record), and the whole file's text. */
struct header {
	size_t n;
	char *col[MAX_COLS];
	char *names; /* owns the names */
	char *data;  /* the file */
	size_t len;
};

static void header_free(struct header *h)
{
	free(h->names);
	free(h->data);
	memset(h, 0, sizeof(*h));
}

static bool header_has(const struct header *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->col[i], name) == 0)
			return true;
	return false;
}

/* header_read - @path into @h: its text and its header's names (the first CSV record). */
static int header_read(const char *path, struct header *h)
{
	struct pb_csv_records r;
	char err[512];
	size_t len = 0;
	int e;

	memset(h, 0, sizeof(*h));
	e = pb_file_read(path, &h->data, &h->len);
	if (e != 0)
		return check_error("cannot open %s: %s", path, strerror(-e));
	if (h->len == 0) {
		header_free(h);
		return check_error("%s: empty file", path);
	}
	pb_csv_records_init(&r, path, h->data, h->len);
	e = pb_csv_records_next(&r, err, sizeof(err));
	if (e < 0) {
		pb_csv_records_free(&r);
		header_free(h);
		return check_error("%s", err);
	}
	for (size_t i = 0; i < r.nf; i++)
		len += strlen(r.f[i].text) + 1;
	h->names = pb_xrealloc(NULL, len + 1);
	len = 0;
	for (size_t i = 0; i < r.nf; i++) {
		h->col[h->n++] = strcpy(h->names + len, r.f[i].text);
		len += strlen(r.f[i].text) + 1;
	}
	pb_csv_records_free(&r);
	return -1;
}

enum input_kind {
	IN_TIMING,
	IN_ICOUNT,
	IN_UNKNOWN
};

static enum input_kind header_kind(const struct header *h)
{
	if (header_has(h, "path") && header_has(h, "instructions_per_op"))
		return IN_ICOUNT;
	if (header_has(h, "throughput_mps") && header_has(h, "pattern"))
		return IN_TIMING;
	return IN_UNKNOWN;
}

static const char *kind_name(enum input_kind k)
{
	return k == IN_TIMING	? "a results.csv (timing)"
	       : k == IN_ICOUNT ? "an instruction-count CSV (scripts/icount)"
				: "neither a patlab results.csv nor an instruction-count CSV";
}

/* The same set of columns on both sides, or exit 2 naming every difference. */
static int headers_match(const struct check_opts *o, const struct header *b, const struct header *c)
{
	char msg[2048];
	size_t len = 0;

	msg[0] = '\0';
	for (size_t i = 0; i < b->n && len < sizeof(msg); i++)
		if (!header_has(c, b->col[i]))
			len +=
			    (size_t)snprintf(msg + len, sizeof(msg) - len,
					     "\n  column %s is in the baseline (%s) but not in the "
					     "current results (%s)",
					     b->col[i], o->base_path, o->cur_path);
	for (size_t i = 0; i < c->n && len < sizeof(msg); i++)
		if (!header_has(b, c->col[i]))
			len +=
			    (size_t)snprintf(msg + len, sizeof(msg) - len,
					     "\n  column %s is in the current results (%s) but not "
					     "in the baseline (%s)",
					     c->col[i], o->cur_path, o->base_path);
	if (len == 0)
		return -1;
	return check_error("schema mismatch: the two files have different columns:%s\n"
			   "(results from different patlab versions cannot be compared; refresh "
			   "the baseline: see results/baseline/README.md)",
			   msg);
}

/* ---------------------------------------------------------------- output helpers */

struct outbuf {
	FILE *f;
	char *s;
	size_t len;
};

static int outbuf_open(struct outbuf *b)
{
	b->s = NULL;
	b->len = 0;
	b->f = open_memstream(&b->s, &b->len);
	return b->f ? 0 : -errno;
}

/* Close @b and write it to @dir/@name atomically. 0 or -errno. */
static int outbuf_write(struct outbuf *b, const char *dir, const char *name, char *path, size_t n)
{
	int e;

	snprintf(path, n, "%s/%s", dir, name);
	if (fclose(b->f) != 0) {
		free(b->s);
		return -ENOMEM;
	}
	e = pb_write_atomic(path, b->s, b->len);
	free(b->s);
	return e;
}

/* The folder check.md and check.csv go to: --out, else the folder of CURRENT. */
static void out_dir(const struct check_opts *o, char *buf, size_t n)
{
	char tmp[PATH_MAX];

	if (o->out != NULL) {
		snprintf(buf, n, "%s", o->out);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s", o->cur_path);
	snprintf(buf, n, "%s", dirname(tmp));
}

static const char *fmt_pct(double change, char *buf, size_t n)
{
	if (isinf(change))
		snprintf(buf, n, change > 0 ? "+inf" : "-inf");
	else if (isnan(change))
		snprintf(buf, n, "n/a");
	else
		snprintf(buf, n, "%+.1f%%", change * 100);
	return buf;
}

static const char *fmt_p(double p, char *buf, size_t n)
{
	if (isnan(p))
		snprintf(buf, n, "-");
	else if (p < 1e-4)
		snprintf(buf, n, "%.1e", p);
	else
		snprintf(buf, n, "%.4f", p);
	return buf;
}

static const char *fmt_value(int m, double v, char *buf, size_t n)
{
	char t[32];

	if (isnan(v))
		snprintf(buf, n, "-");
	else if (m == M_TPUT)
		snprintf(buf, n, "%s M/s", pb_fmt_tput(v, t, sizeof(t)));
	else if (m == M_ICOUNT)
		snprintf(buf, n, "%.2f", v);
	else
		snprintf(buf, n, "%s", pb_fmt_ns(v, t, sizeof(t)));
	return buf;
}

/* ---------------------------------------------------------------- results */

enum verdict {
	V_REGRESSION, /* slower beyond the threshold, and significant */
	V_SLOWER_NS,  /* slower beyond the threshold, but not significant */
	V_OK,
	V_FASTER, /* faster beyond the threshold, and significant */
	V_NA,	  /* nothing to compare (e.g. latency not recorded on either side) */
};

/* The label of the machine-factor row (--normalize); compared by address. */
static const char all_label[] = "(machine factor: all configurations)";
/* The label of the across-configuration rows (too few repetitions for a test of each). */
static const char across_label[] = "(across configurations)";

/* A row of its own, not a configuration's: the machine factor's or the across verdict's. */
static bool summary_row(const char *label)
{
	return label == all_label || label == across_label;
}

static const char *const verdict_name[] = {
    [V_REGRESSION] = "REGRESSION",
    [V_SLOWER_NS] = "slower?",
    [V_OK] = "ok",
    [V_FASTER] = "faster",
    [V_NA] = "n/a",
};

struct cfg {
	char key[PB_KEY_MAX];
	char label[160];
	const struct pb_row *proto; /* a row of this configuration */
	size_t *ib, nb, *ic, nc;    /* row indexes in the baseline / current run */
	bool tested;		    /* enough repetitions for a test of its own */
};

struct res {
	const char *label; /* the configuration or path */
	int metric;
	size_t nb, nc;
	double mb, mc;	  /* medians (icount: the counts) */
	double change;	  /* cost change: +0.2 = 20% slower */
	double lo, hi;	  /* its bootstrap interval (NAN: none) */
	double p, u, thr; /* p NAN: no test */
	bool exact;
	enum verdict v;
};

static int res_cmp(const void *a, const void *b)
{
	const struct res *x = a, *y = b;

	if (x->v != y->v)
		return (int)x->v - (int)y->v;
	if (isnan(x->change) != isnan(y->change))
		return isnan(x->change) ? 1 : -1; /* no figure: last */
	if (!isnan(x->change) && x->change != y->change)
		return x->change < y->change ? 1 : -1; /* larger slowdown first */
	if (strcmp(x->label, y->label) != 0)
		return strcmp(x->label, y->label);
	return x->metric - y->metric;
}

static double threshold_of(const struct check_opts *o, int m)
{
	if (!isnan(o->thr.m[m]))
		return o->thr.m[m] / 100;
	if (!isnan(o->thr.all))
		return o->thr.all / 100;
	return (m == M_ICOUNT ? DEFAULT_THRESHOLD_ICOUNT : DEFAULT_THRESHOLD) / 100;
}

/* across_threshold_of - metric @m's --across-threshold, as a fraction. */
static double across_threshold_of(const struct check_opts *o, int m)
{
	if (!isnan(o->across.m[m]))
		return o->across.m[m] / 100;
	if (!isnan(o->across.all))
		return o->across.all / 100;
	return DEFAULT_ACROSS_THRESHOLD / 100;
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
	return h;
}

/* cost ratio: > 1 is slower */
static double cost_of(int m, double mb, double mc)
{
	if (metrics[m].higher_better)
		return mc != 0 ? mb / mc : mb == 0 ? 1 : INFINITY;
	return mb != 0 ? mc / mb : mc == 0 ? 1 : INFINITY;
}

static enum verdict decide(double change, double p, double thr, double alpha)
{
	double cost = 1 + change;

	if (change > thr)
		return isnan(p) || p < alpha ? V_REGRESSION : V_SLOWER_NS;
	if (cost < 1 / (1 + thr) && (isnan(p) || p < alpha))
		return V_FASTER;
	return V_OK;
}

/* ---------------------------------------------------------------- the report */

struct report {
	const struct check_opts *o;
	enum input_kind kind;
	struct res *r;
	size_t n;
	size_t n_units; /* configurations or paths */
	size_t n_metrics;
	size_t regressions, units_regressed;
	const struct pb_sysinfo *sb, *sc; /* timing: the two runs' machines */
	unsigned reps_b, reps_c;
	size_t n_untested;   /* timing: configurations judged across (too few repetitions) */
	size_t across_n_cfg; /* ... of which with figures on both sides (the test's n, max) */
	size_t units_across; /* across rows that regressed */
	char notes[8][512];
	size_t n_notes;
	char lost[1024]; /* timing: rows with lost != 0 in the current run */
};

static void note(struct report *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct report *rp, const char *fmt, ...)
{
	va_list ap;

	if (rp->n_notes == sizeof(rp->notes) / sizeof(rp->notes[0]))
		return;
	va_start(ap, fmt);
	vsnprintf(rp->notes[rp->n_notes++], sizeof(rp->notes[0]), fmt, ap);
	va_end(ap);
}

/* across_tail - ", N of them across configurations" when some were judged together. */
static void across_tail(const struct report *rp, FILE *f)
{
	if (rp->n_untested == 0)
		return;
	fprintf(f, " (%s%zu judged across configurations: too few repetitions for a test of each)",
		rp->n_untested == rp->n_units ? "all " : "", rp->n_untested);
}

static void verdict_line(const struct report *rp, FILE *f, bool md)
{
	const char *unit = rp->kind == IN_ICOUNT ? "path" : "configuration";
	size_t failed = rp->regressions - rp->units_across;

	if (rp->regressions == 0) {
		fprintf(f, "%sno regression%s: %zu %ss x %zu metric%s checked", md ? "**" : "",
			md ? "**" : "", rp->n_units, unit, rp->n_metrics,
			rp->n_metrics == 1 ? "" : "s");
		across_tail(rp, f);
		fputc('\n', f);
		return;
	}
	fprintf(f, "%sREGRESSION%s: ", md ? "**" : "", md ? "**" : "");
	if (failed > 0)
		fprintf(f, "%zu of %zu %ss regressed (%zu metric%s failed)%s", rp->units_regressed,
			rp->n_units, unit, failed, failed == 1 ? "" : "s",
			rp->units_across ? "; " : "");
	if (rp->units_across > 0) {
		const char *sep = "";

		fprintf(f, "slower across %zu configurations:", rp->across_n_cfg);
		for (size_t i = 0; i < rp->n; i++) {
			char pct[24], p[24];

			if (rp->r[i].label != across_label || rp->r[i].v != V_REGRESSION)
				continue;
			fprintf(f, "%s %s %s (median, p = %s)", sep, metrics[rp->r[i].metric].name,
				fmt_pct(rp->r[i].change, pct, sizeof(pct)),
				fmt_p(rp->r[i].p, p, sizeof(p)));
			sep = ",";
		}
	}
	fputc('\n', f);
}

/*
 * across_lines - the across-configuration verdict, a line per metric: how many
 * configurations, the median change, the one-sided signed-rank p, the threshold, the verdict.
 */
static void across_lines(const struct report *rp, FILE *f, const char *pre)
{
	for (size_t k = 0; k < (size_t)M_N * rp->n; k++) {
		const struct res *r = &rp->r[k % rp->n]; /* metric by metric, in their order */
		char pct[24], p[24];

		if (r->label != across_label || r->metric != (int)(k / rp->n))
			continue;
		if (r->v == V_NA) {
			fprintf(f,
				"%sacross configurations: %s: n/a (%zu configurations with figures "
				"on both sides: too few for the test)\n",
				pre, metrics[r->metric].name, r->nb);
			continue;
		}
		fprintf(f,
			"%sacross configurations: %s: median change %s over %zu configurations "
			"(ratio of medians current/base %.3g), one-sided Wilcoxon signed-rank p = "
			"%s, threshold %.3g%%: %s\n",
			pre, metrics[r->metric].name, fmt_pct(r->change, pct, sizeof(pct)), r->nb,
			metrics[r->metric].higher_better ? 1 / (1 + r->change) : 1 + r->change,
			fmt_p(r->p, p, sizeof(p)), r->thr * 100, verdict_name[r->v]);
	}
}

static void rule_text(const struct report *rp, FILE *f, const char *pre)
{
	const struct check_opts *o = rp->o;
	char thr[256];
	size_t len = 0;
	int first = rp->kind == IN_ICOUNT ? M_ICOUNT : 0;
	int last = rp->kind == IN_ICOUNT ? M_ICOUNT + 1 : M_ICOUNT;

	thr[0] = '\0';
	for (int m = first; m < last; m++) {
		if (rp->kind == IN_TIMING && !o->use[m])
			continue;
		len += (size_t)snprintf(thr + len, sizeof(thr) - len, "%s%s %.3g%%",
					len ? ", " : "", metrics[m].name, threshold_of(o, m) * 100);
		if (len >= sizeof(thr))
			break;
	}
	if (rp->kind == IN_ICOUNT) {
		fprintf(f,
			"%srule: a path regresses when its instructions per operation (callgrind, "
			"exact) grow by more than %.3g%%\n",
			pre, threshold_of(o, M_ICOUNT) * 100);
		return;
	}
	fprintf(f,
		"%srule: a configuration regresses when a metric is slower by more than its "
		"threshold (%s)\n%s      AND the two-sided Mann-Whitney U p < %g; min %u reps "
		"a side; %g%% bootstrap intervals (%u resamples, seed %llu)\n"
		"%s      change = extra cost: time per message for throughput, ns for latency; "
		"+20%% = 20%% slower\n",
		pre, thr, pre, o->alpha, o->min_reps, CI_LEVEL * 100, o->resamples,
		(unsigned long long)o->seed, pre);
	if (o->normalize)
		fprintf(f,
			"%s      normalized: changes are relative to the machine factor, which "
			"itself regresses beyond %+.3g%%\n",
			pre, o->max_factor * 100);
	if (rp->n_untested > 0) {
		char athr[256];

		len = 0;
		athr[0] = '\0';
		for (int m = 0; m < M_ICOUNT && len < sizeof(athr); m++)
			if (o->use[m])
				len += (size_t)snprintf(
				    athr + len, sizeof(athr) - len, "%s%s %.3g%%", len ? ", " : "",
				    metrics[m].name, across_threshold_of(o, m) * 100);
		fprintf(
		    f,
		    "%s      %zu of %zu configurations have too few repetitions for that test "
		    "(fewer than --min-reps, or a smallest possible p not below alpha):\n"
		    "%s      they are judged together, per metric: it regresses when the median "
		    "change over them exceeds --across-threshold (%s)\n"
		    "%s      AND the one-sided Wilcoxon signed-rank p of their changes < %g "
		    "(their changes are also listed, as ok or slower?, never tested alone)\n",
		    pre, rp->n_untested, rp->n_units, pre, athr, pre, o->alpha);
	}
}

static void source_line(FILE *f, const char *what, const char *path, const struct pb_sysinfo *s,
			unsigned reps, const char *pre)
{
	if (s == NULL) {
		fprintf(f, "%s%s %s\n", pre, what, path);
		return;
	}
	fprintf(f, "%s%s %s (run %s, git %s, %s, %s, %u cpus, %s, %s, %u reps)\n", pre, what, path,
		s->run_id, s->git_rev, s->host, s->cpu_model, s->cpus, s->compiler, s->build_type,
		reps);
}

static void fill_cells(const struct report *rp, const struct res *r, char cells[8][64])
{
	char a[24], b[24];

	snprintf(cells[0], 64, "%s", verdict_name[r->v]);
	fmt_value(r->metric, r->mb, cells[1], 64);
	fmt_value(r->metric, r->mc, cells[2], 64);
	fmt_pct(r->change, cells[3], 64);
	if (isnan(r->lo))
		snprintf(cells[4], 64, "-");
	else
		snprintf(cells[4], 64, "[%s, %s]", fmt_pct(r->lo, a, sizeof(a)),
			 fmt_pct(r->hi, b, sizeof(b)));
	fmt_p(r->p, cells[5], 64);
	if (rp->kind == IN_ICOUNT)
		snprintf(cells[6], 64, "exact");
	else if (summary_row(r->label))
		snprintf(cells[6], 64, "%zu configs", r->nb);
	else
		snprintf(cells[6], 64, "%zu/%zu%s", r->nb, r->nc, r->exact ? "" : " ~");
	snprintf(cells[7], 64, "%.3g%%", r->thr * 100);
}

static void print_terminal(const struct report *rp, FILE *f)
{
	const struct check_opts *o = rp->o;
	size_t wl = rp->kind == IN_ICOUNT ? 4 : 13, wm = 6;

	fprintf(f, "== patlab check: ");
	verdict_line(rp, f, false);
	source_line(f, "baseline:", o->base_path, rp->sb, rp->reps_b, "   ");
	source_line(f, "current: ", o->cur_path, rp->sc, rp->reps_c, "   ");
	rule_text(rp, f, "   ");
	across_lines(rp, f, "   ");
	for (size_t i = 0; i < rp->n_notes; i++)
		fprintf(f, "   note: %s\n", rp->notes[i]);
	if (rp->lost[0])
		fprintf(f, "   LOST MESSAGES in the current results: %s\n", rp->lost);
	for (size_t i = 0; i < rp->n; i++) {
		size_t l = strlen(rp->r[i].label), m = strlen(metrics[rp->r[i].metric].name);

		wl = l > wl ? l : wl;
		wm = m > wm ? m : wm;
	}
	fputc('\n', f);
	if (rp->kind == IN_ICOUNT)
		fprintf(f, "%-10s  %-*s  %12s  %12s  %8s  %s\n", "verdict", (int)wl, "path",
			"base instr", "cur instr", "change", "threshold");
	else
		fprintf(f, "%-10s  %-*s  %-*s  %11s  %11s  %8s  %-18s  %8s  %s\n", "verdict",
			(int)wl, "configuration", (int)wm, "metric", "baseline", "current",
			"change", "95% interval", "p", "n (~ normal approx.)");
	for (size_t i = 0; i < rp->n; i++) {
		const struct res *r = &rp->r[i];
		char cells[8][64];

		if (o->quiet && r->v != V_REGRESSION)
			continue;
		fill_cells(rp, r, cells);
		if (rp->kind == IN_ICOUNT)
			fprintf(f, "%-10s  %-*s  %12s  %12s  %8s  %s\n", cells[0], (int)wl,
				r->label, cells[1], cells[2], cells[3], cells[7]);
		else
			fprintf(f, "%-10s  %-*s  %-*s  %11s  %11s  %8s  %-18s  %8s  %s\n", cells[0],
				(int)wl, r->label, (int)wm, metrics[r->metric].name, cells[1],
				cells[2], cells[3], cells[4], cells[5], cells[6]);
	}
	fputc('\n', f);
	if (rp->regressions > 0) {
		fprintf(f, "regressions:\n");
		for (size_t i = 0; i < rp->n && rp->r[i].v == V_REGRESSION; i++) {
			char cells[8][64];

			fill_cells(rp, &rp->r[i], cells);
			if (rp->r[i].label == across_label) {
				fprintf(f, "  %s: %s %s slower (median of %zu), p = %s\n",
					rp->r[i].label, metrics[rp->r[i].metric].name, cells[3],
					rp->r[i].nb, cells[5]);
				continue;
			}
			fprintf(f, "  %s: %s %s slower (%s -> %s)%s%s\n", rp->r[i].label,
				metrics[rp->r[i].metric].name, cells[3], cells[1], cells[2],
				rp->kind == IN_ICOUNT ? "" : ", p = ",
				rp->kind == IN_ICOUNT ? "" : cells[5]);
		}
	}
}

static void print_md(const struct report *rp, FILE *f)
{
	const struct check_opts *o = rp->o;

	fprintf(f, "# patlab check\n\n");
	verdict_line(rp, f, true);
	fputc('\n', f);
	source_line(f, "- baseline:", o->base_path, rp->sb, rp->reps_b, "");
	source_line(f, "- current:", o->cur_path, rp->sc, rp->reps_c, "");
	rule_text(rp, f, "- ");
	across_lines(rp, f, "- ");
	for (size_t i = 0; i < rp->n_notes; i++)
		fprintf(f, "- note: %s\n", rp->notes[i]);
	if (rp->lost[0])
		fprintf(f, "- **LOST MESSAGES** in the current results: %s\n", rp->lost);
	fprintf(f, "\nWorst first. *slower?* = beyond the threshold but not significant "
		   "(too noisy to say).\n\n");
	if (rp->kind == IN_ICOUNT) {
		fprintf(f, "| verdict | path | baseline instr/op | current instr/op | change | "
			   "threshold |\n|---|---|---:|---:|---:|---:|\n");
	} else {
		fprintf(f, "| verdict | configuration | metric | baseline | current | change | "
			   "95%% interval | p | n base/cur | threshold |\n"
			   "|---|---|---|---:|---:|---:|---|---:|---:|---:|\n");
	}
	for (size_t i = 0; i < rp->n; i++) {
		const struct res *r = &rp->r[i];
		char cells[8][64];
		const char *em = r->v == V_REGRESSION ? "**" : "";

		fill_cells(rp, r, cells);
		if (rp->kind == IN_ICOUNT)
			fprintf(f, "| %s%s%s | %s | %s | %s | %s | %s |\n", em, cells[0], em,
				r->label, cells[1], cells[2], cells[3], cells[7]);
		else
			fprintf(f, "| %s%s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", em,
				cells[0], em, r->label, metrics[r->metric].name, cells[1], cells[2],
				cells[3], cells[4], cells[5], cells[6], cells[7]);
	}
	if (rp->kind == IN_TIMING)
		fprintf(f,
			"\n`~`: p from the normal approximation (more than %d repetitions "
			"together); otherwise exact.\n",
			PB_MWU_EXACT_MAX);
}

static void print_csv(const struct report *rp, const struct cfg *cfgs, FILE *f)
{
	if (rp->kind == IN_ICOUNT) {
		fprintf(f, "verdict,path,metric,baseline,current,change_pct,threshold_pct\n");
		for (size_t i = 0; i < rp->n; i++) {
			const struct res *r = &rp->r[i];

			fprintf(f, "%s,%s,%s,%.4f,%.4f,%.4f,%.4g\n", verdict_name[r->v], r->label,
				metrics[r->metric].name, r->mb, r->mc, r->change * 100,
				r->thr * 100);
		}
		return;
	}
	/* The configuration's key columns, as results.csv has them ("*" on the factor's row). */
	fprintf(f, "verdict");
	for (size_t c = 0; c < pb_n_columns; c++)
		if (pb_columns[c].in_key)
			fprintf(f, ",%s", pb_columns[c].name);
	fprintf(f, ",metric,higher_is_better,n_base,n_cur,base_median,cur_median,change_pct,"
		   "ci_lo_pct,ci_hi_pct,u,p,p_exact,threshold_pct,alpha\n");
	for (size_t i = 0; i < rp->n; i++) {
		const struct res *r = &rp->r[i];
		const struct pb_row *w = NULL;
		char text[256];

		for (size_t k = 0; w == NULL && !summary_row(r->label); k++)
			if (cfgs[k].label == r->label)
				w = cfgs[k].proto;
		fprintf(f, "%s", verdict_name[r->v]);
		for (size_t c = 0; c < pb_n_columns; c++)
			if (pb_columns[c].in_key)
				fprintf(f, ",%s",
					w == NULL ||
						pb_column_format(c, NULL, w, text, sizeof(text)) < 0
					    ? "*"
					    : text);
		if (w == NULL && r->label == across_label) {
			/* u: the signed-rank W+; p: one-sided */
			fprintf(f, ",%s,%d,%zu,%zu,-,-,%.4f,-,-,%.1f,%.6g,%d,%.4g,%g\n",
				metrics[r->metric].name, metrics[r->metric].higher_better, r->nb,
				r->nc, r->change * 100, r->u, r->p, r->exact, r->thr * 100,
				rp->o->alpha);
			continue;
		}
		if (w == NULL) {
			fprintf(f, ",%s,%d,%zu,%zu,-,-,%.4f,-,-,-,-,-,%.4g,-\n",
				metrics[r->metric].name, metrics[r->metric].higher_better, r->nb,
				r->nc, r->change * 100, r->thr * 100);
			continue;
		}
		fprintf(f, ",%s,%d,%zu,%zu,%.6g,%.6g,%.4f,%.4f,%.4f,%.1f,%.6g,%d,%.4g,%g\n",
			metrics[r->metric].name, metrics[r->metric].higher_better, r->nb, r->nc,
			r->mb, r->mc, r->change * 100, r->lo * 100, r->hi * 100, r->u, r->p,
			r->exact, r->thr * 100, rp->o->alpha);
	}
}

/* Sort, count, print, write check.md and check.csv. Returns the exit code. */
static int finish(struct report *rp, const struct cfg *cfgs)
{
	const struct check_opts *o = rp->o;
	char dir[PATH_MAX], md_path[PATH_MAX + 16], csv_path[PATH_MAX + 16];
	struct outbuf md, csv;
	int e;

	qsort(rp->r, rp->n, sizeof(*rp->r), res_cmp);
	for (size_t i = 0; i < rp->n; i++) {
		bool seen = false;

		if (rp->r[i].v != V_REGRESSION)
			continue;
		rp->regressions++;
		if (rp->r[i].label == across_label) {
			rp->units_across++;
			continue;
		}
		/* sorted by verdict, then change: a unit's regressions need not be adjacent */
		for (size_t j = 0; j < i; j++)
			seen |= rp->r[j].label == rp->r[i].label;
		rp->units_regressed += !seen;
	}
	print_terminal(rp, stdout);

	out_dir(o, dir, sizeof(dir));
	if (outbuf_open(&md) != 0 || outbuf_open(&csv) != 0)
		return check_error("out of memory");
	print_md(rp, md.f);
	print_csv(rp, cfgs, csv.f);
	e = outbuf_write(&md, dir, "check.md", md_path, sizeof(md_path));
	if (e == 0)
		e = outbuf_write(&csv, dir, "check.csv", csv_path, sizeof(csv_path));
	else {
		fclose(csv.f);
		free(csv.s);
	}
	if (e != 0)
		fprintf(stderr, "patlab check: cannot write %s/check.md and check.csv: %s\n", dir,
			strerror(-e));
	else
		printf("report: %s\ntable:  %s\n", md_path, csv_path);
	fflush(stdout);
	if (rp->lost[0]) {
		fprintf(stderr,
			"patlab check: the current results LOST MESSAGES: a channel kind is "
			"broken\n");
		return PB_CHECK_LOST;
	}
	if (rp->regressions > 0)
		return PB_CHECK_REGRESSION;
	return e != 0 ? PB_CHECK_UNWRITTEN : PB_CHECK_PASS;
}

/* ---------------------------------------------------------------- timing */

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL) {
		fputs("patlab check: out of memory\n", stderr);
		abort();
	}
	return p;
}

/* Group the rows of both runs by configuration, baseline order first. */
static size_t group(const struct pb_run *rb, const struct pb_run *rc, struct cfg **out)
{
	size_t cap = rb->n_rows + rc->n_rows, n = 0;
	struct cfg *c = xcalloc(cap, sizeof(*c));

	for (int side = 0; side < 2; side++) {
		const struct pb_run *run = side ? rc : rb;

		for (size_t i = 0; i < run->n_rows; i++) {
			char key[PB_KEY_MAX];
			size_t k;

			pb_row_key(&run->rows[i], true, key, sizeof(key));
			for (k = 0; k < n && strcmp(c[k].key, key) != 0; k++)
				;
			if (k == n) {
				snprintf(c[k].key, sizeof(c[k].key), "%s", key);
				pb_row_label(&run->rows[i], PB_LABEL_CONFIG, c[k].label,
					     sizeof(c[k].label));
				c[k].proto = &run->rows[i];
				c[k].ib = xcalloc(rb->n_rows, sizeof(size_t));
				c[k].ic = xcalloc(rc->n_rows, sizeof(size_t));
				n++;
			}
			if (side)
				c[k].ic[c[k].nc++] = i;
			else
				c[k].ib[c[k].nb++] = i;
		}
	}
	*out = c;
	return n;
}

static void cfgs_free(struct cfg *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].ib);
		free(c[i].ic);
	}
	free(c);
}

/* Configurations on one side only: exit 2 naming them. */
static int configs_match(const struct check_opts *o, const struct cfg *c, size_t n)
{
	char msg[3072];
	size_t len = 0, bad = 0;

	msg[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (c[i].nb > 0 && c[i].nc > 0)
			continue;
		if (++bad <= 12 && len < sizeof(msg))
			len += (size_t)snprintf(msg + len, sizeof(msg) - len,
						"\n  %s: only in the %s (%s)", c[i].label,
						c[i].nb ? "baseline" : "current results",
						c[i].nb ? o->base_path : o->cur_path);
	}
	if (bad == 0)
		return -1;
	if (bad > 12 && len < sizeof(msg))
		snprintf(msg + len, sizeof(msg) - len, "\n  ... and %zu more", bad - 12);
	return check_error("mismatched configurations: %zu configuration%s on one side only:%s\n"
			   "(run the current results with the baseline's grid, e.g. the same "
			   "--preset, or refresh the baseline)",
			   bad, bad == 1 ? " is" : "s are", msg);
}

/* across_possible - the one-sided signed-rank test over @n configurations can reach alpha. */
static bool across_possible(const struct check_opts *o, size_t n)
{
	return pb_signrank_min_p(n) < o->alpha;
}

/*
 * classify - which configurations have enough repetitions for a test of their own
 * (cfg.tested: at least --min-reps a side, and a smallest possible p below alpha); the
 * others are judged across configurations. -1 to go on (*@n_untested: how many are not
 * tested alone), or exit 2 naming where and why when neither test can be done.
 */
static int classify(const struct check_opts *o, struct cfg *c, size_t n, size_t *n_untested)
{
	char msg[2048], across[512];
	size_t len = 0, bad = 0, nb_min = SIZE_MAX, nc_min = SIZE_MAX;
	double pmin;

	msg[0] = '\0';
	*n_untested = 0;
	for (size_t i = 0; i < n; i++) {
		c[i].tested = c[i].nb >= o->min_reps && c[i].nc >= o->min_reps &&
			      pb_mwu_min_p(c[i].nb, c[i].nc) < o->alpha;
		*n_untested += !c[i].tested;
		nb_min = c[i].nb < nb_min ? c[i].nb : nb_min;
		nc_min = c[i].nc < nc_min ? c[i].nc : nc_min;
		if (c[i].nb >= o->min_reps && c[i].nc >= o->min_reps)
			continue;
		if (++bad <= 8 && len < sizeof(msg))
			len += (size_t)snprintf(msg + len, sizeof(msg) - len,
						"\n  %s: %zu in the baseline, %zu in the current "
						"results",
						c[i].label, c[i].nb, c[i].nc);
	}
	if (*n_untested == 0)
		return -1;
	if (o->normalize)
		snprintf(across, sizeof(across),
			 "\n(--normalize divides out the shift across configurations, which is "
			 "what is judged when they have too few repetitions: drop --normalize, or "
			 "run more --reps)");
	else if (!across_possible(o, *n_untested))
		snprintf(across, sizeof(across),
			 "\n(and %zu configuration%s too few to judge them together: the "
			 "one-sided signed-rank test's smallest p is 2^-n, %.3g, not below --alpha "
			 "%g)",
			 *n_untested, *n_untested == 1 ? " is" : "s are",
			 pb_signrank_min_p(*n_untested), o->alpha);
	else
		return -1;
	if (bad > 0)
		return check_error(
		    "too few repetitions: %zu configuration%s below --min-reps %u:%s\n"
		    "(the Mann-Whitney test cannot be significant with fewer: its smallest "
		    "two-sided p is 2/C(n+m,n), 0.0079 for 5 and 5, 0.029 for 4 and 4; run "
		    "more --reps)%s",
		    bad, bad == 1 ? " is" : "s are", o->min_reps, msg, across);
	pmin = pb_mwu_min_p(nb_min, nc_min);
	return check_error("with %zu and %zu repetitions the smallest possible two-sided "
			   "p is %.3g, not below --alpha %g: no slowdown could ever be "
			   "significant; run more --reps%s",
			   nb_min, nc_min, pmin, o->alpha, across);
}

/*
 * cfg_cost - configuration @c's cost ratio of medians of metric @m (> 1: the current run is
 * slower), or NAN when a side has no positive median.
 */
static double cfg_cost(const struct pb_run *rb, const struct pb_run *rc, const struct cfg *c, int m)
{
	double *v = xcalloc(c->nb + c->nc, sizeof(double)), mb, mc;

	for (size_t i = 0; i < c->nb; i++)
		v[i] = row_metric(&rb->rows[c->ib[i]], m);
	for (size_t i = 0; i < c->nc; i++)
		v[c->nb + i] = row_metric(&rc->rows[c->ic[i]], m);
	mb = pb_median(v, c->nb);
	mc = pb_median(v + c->nb, c->nc);
	free(v);
	return mb > 0 && mc > 0 ? cost_of(m, mb, mc) : NAN;
}

/*
 * machine_factor - the median over the configurations of metric @m's cost ratio of medians
 * (> 1: the current run is slower); NAN when fewer than 3 configurations have data.
 */
static double machine_factor(const struct pb_run *rb, const struct pb_run *rc,
			     const struct cfg *cfgs, size_t n_cfg, int m)
{
	double *cost = xcalloc(n_cfg, sizeof(double)), f = NAN;
	size_t n = 0;

	for (size_t k = 0; k < n_cfg; k++) {
		double x = cfg_cost(rb, rc, &cfgs[k], m);

		if (!isnan(x))
			cost[n++] = x;
	}
	if (n >= 3)
		f = pb_median(cost, n);
	free(cost);
	return f;
}

/*
 * compare_one - configuration @c, metric @m, into @r. @factor: the machine factor to divide
 * out (a cost ratio; 1 = none): the current samples are rescaled by it before anything else.
 */
static int compare_one(const struct check_opts *o, const struct pb_run *rb, const struct pb_run *rc,
		       const struct cfg *c, int m, double factor, struct res *r)
{
	double *xb = xcalloc(c->nb, sizeof(double)), *xc = xcalloc(c->nc, sizeof(double));
	struct pb_mwu t;
	double lo, hi;
	int e;

	for (size_t i = 0; i < c->nb; i++)
		xb[i] = row_metric(&rb->rows[c->ib[i]], m);
	for (size_t i = 0; i < c->nc; i++)
		xc[i] = row_metric(&rc->rows[c->ic[i]], m);
	memset(r, 0, sizeof(*r));
	r->label = c->label;
	r->metric = m;
	r->nb = c->nb;
	r->nc = c->nc;
	r->thr = threshold_of(o, m);
	r->mb = pb_median(xb, c->nb);
	r->mc = pb_median(xc, c->nc); /* as measured: the report shows it unscaled */
	r->lo = r->hi = r->p = NAN;
	if (r->mb == 0 && r->mc == 0) {
		r->change = NAN; /* e.g. --no-latency on both sides */
		r->v = V_NA;
		free(xb);
		free(xc);
		return 0;
	}
	/* Everything below compares the rescaled current samples (cost = base / cur for
	 * throughput, cur / base for latency), so the change is relative to the factor. */
	for (size_t i = 0; i < c->nc; i++)
		xc[i] = metrics[m].higher_better ? xc[i] * factor : xc[i] / factor;
	r->change = cost_of(m, r->mb, pb_median(xc, c->nc)) - 1;
	e = pb_mwu_test(xc, c->nc, xb, c->nb, &t);
	if (e == 0)
		e = pb_bootstrap_ratio(xb, c->nb, xc, c->nc, o->resamples, CI_LEVEL,
				       fnv1a(metrics[m].name, fnv1a(c->key, o->seed)), &lo, &hi);
	free(xb);
	free(xc);
	if (e != 0)
		return e;
	r->p = t.p;
	r->u = t.u;
	r->exact = t.exact;
	/* ratio cur/base -> change in cost */
	if (metrics[m].higher_better) {
		r->lo = (hi > 0 ? 1 / hi : INFINITY) - 1;
		r->hi = (lo > 0 ? 1 / lo : INFINITY) - 1;
	} else {
		r->lo = lo - 1;
		r->hi = hi - 1;
	}
	if (c->tested)
		r->v = decide(r->change, r->p, r->thr, o->alpha);
	else /* not tested alone: the across-configuration verdict decides */
		r->v = r->change > r->thr ? V_SLOWER_NS : V_OK;
	return 0;
}

/*
 * across_one - the across-configuration verdict of metric @m into @r: over the
 * configurations not tested alone that have figures on both sides, the log of each one's
 * cost ratio of medians (> 0: slower); their median is the change, and the one-sided Wilcoxon
 * signed-rank test says whether they lean towards slower more than chance would.
 */
static int across_one(const struct check_opts *o, const struct pb_run *rb, const struct pb_run *rc,
		      const struct cfg *cfgs, size_t n_cfg, int m, struct res *r)
{
	double *d = xcalloc(n_cfg, sizeof(double));
	struct pb_srt up, down;
	size_t n = 0;
	int e;

	for (size_t k = 0; k < n_cfg; k++) {
		double x;

		if (cfgs[k].tested)
			continue;
		x = cfg_cost(rb, rc, &cfgs[k], m);
		if (!isnan(x))
			d[n++] = log(x);
	}
	memset(r, 0, sizeof(*r));
	r->label = across_label;
	r->metric = m;
	r->nb = r->nc = n;
	r->mb = r->mc = r->lo = r->hi = r->p = r->u = NAN;
	r->thr = across_threshold_of(o, m);
	r->change = NAN;
	r->v = V_NA;
	if (n == 0 || !across_possible(o, n)) {
		free(d);
		return 0;
	}
	r->change = exp(pb_median(d, n)) - 1;
	e = pb_signrank_test(d, n, &up);
	for (size_t i = 0; i < n && e == 0; i++)
		d[i] = -d[i];
	if (e == 0)
		e = pb_signrank_test(d, n, &down);
	free(d);
	if (e != 0)
		return e;
	r->p = up.p;
	r->u = up.w;
	r->exact = up.exact;
	if (r->change > r->thr)
		r->v = up.p < o->alpha ? V_REGRESSION : V_SLOWER_NS;
	else if (1 + r->change < 1 / (1 + r->thr) && down.p < o->alpha)
		r->v = V_FASTER;
	else
		r->v = V_OK;
	return 0;
}

static int check_timing(const struct check_opts *o)
{
	struct pb_run rb, rc;
	struct report rp;
	struct cfg *cfgs = NULL;
	size_t n_cfg = 0, n_m = 0;
	double factor[M_ICOUNT];
	char err[512], fs[512];
	int rc_exit;

	memset(&rb, 0, sizeof(rb));
	memset(&rc, 0, sizeof(rc));
	memset(&rp, 0, sizeof(rp));
	if (pb_csv_read(o->base_path, &rb, err, sizeof(err)) != 0 ||
	    (rb.n_rows > 0 && pb_csv_read(o->cur_path, &rc, err, sizeof(err)) != 0)) {
		rc_exit = check_error("%s", err);
		goto out;
	}
	if (rb.n_rows == 0 || rc.n_rows == 0) {
		rc_exit = check_error("%s: no rows", rb.n_rows == 0 ? o->base_path : o->cur_path);
		goto out;
	}
	if (rb.sys.sanitized || rc.sys.sanitized) {
		rc_exit = check_error("%s comes from a sanitized build (%s): its figures are not "
				      "performance figures",
				      rb.sys.sanitized ? o->base_path : o->cur_path,
				      rb.sys.sanitized ? rb.sys.build_type : rc.sys.build_type);
		goto out;
	}
	n_cfg = group(&rb, &rc, &cfgs);
	if ((rc_exit = configs_match(o, cfgs, n_cfg)) >= 0)
		goto out;
	if ((rc_exit = classify(o, cfgs, n_cfg, &rp.n_untested)) >= 0)
		goto out;

	rp.o = o;
	rp.kind = IN_TIMING;
	rp.sb = &rb.sys;
	rp.sc = &rc.sys;
	rp.reps_b = rb.reps;
	rp.reps_c = rc.reps;
	rp.n_units = n_cfg;
	for (int m = 0; m < M_ICOUNT; m++)
		n_m += o->use[m];
	rp.n_metrics = n_m;
	rp.r = xcalloc(n_cfg * n_m + 2 * n_m, sizeof(*rp.r));
	for (int m = 0; m < M_ICOUNT; m++)
		factor[m] = o->use[m] ? machine_factor(&rb, &rc, cfgs, n_cfg, m) : NAN;
	if (o->normalize)
		for (int m = 0; m < M_ICOUNT; m++)
			if (o->use[m] && isnan(factor[m])) {
				rc_exit =
				    check_error("--normalize: %s: fewer than 3 configurations "
						"with data: no machine factor to divide out",
						metrics[m].name);
				goto out;
			}
	for (size_t k = 0; k < n_cfg; k++)
		for (int m = 0; m < M_ICOUNT; m++) {
			int e;

			if (!o->use[m])
				continue;
			e = compare_one(o, &rb, &rc, &cfgs[k], m, o->normalize ? factor[m] : 1,
					&rp.r[rp.n]);
			if (e != 0) {
				rc_exit = check_error("%s %s: %s", cfgs[k].label, metrics[m].name,
						      e == -EINVAL ? "a value is not a number"
								   : strerror(-e));
				goto out;
			}
			rp.n++;
		}
	/* Too few repetitions for a test of each: those configurations are judged together. */
	for (int m = 0; rp.n_untested > 0 && m < M_ICOUNT; m++) {
		int e;

		if (!o->use[m])
			continue;
		e = across_one(o, &rb, &rc, cfgs, n_cfg, m, &rp.r[rp.n]);
		if (e != 0) {
			rc_exit = check_error("across configurations, %s: %s", metrics[m].name,
					      strerror(-e));
			goto out;
		}
		if (rp.r[rp.n].nb > rp.across_n_cfg)
			rp.across_n_cfg = rp.r[rp.n].nb;
		rp.n++;
	}
	/* Normalized, every configuration's change is relative to the machine factor: a change
	 * slowing all of them alike would vanish, unless the factor itself is beyond load. */
	for (int m = 0; o->normalize && m < M_ICOUNT; m++) {
		struct res *r = &rp.r[rp.n];

		if (!o->use[m])
			continue;
		memset(r, 0, sizeof(*r));
		r->label = all_label;
		r->metric = m;
		r->nb = r->nc = n_cfg;
		r->mb = r->mc = r->lo = r->hi = r->p = r->u = NAN;
		r->change = factor[m] - 1;
		r->thr = o->max_factor;
		r->v = decide(r->change, NAN, r->thr, o->alpha);
		rp.n++;
	}

	fs[0] = '\0';
	for (int m = 0, len = 0; m < M_ICOUNT && len < (int)sizeof(fs); m++) {
		char pct[24];

		if (o->use[m] && !isnan(factor[m]))
			len +=
			    snprintf(fs + len, sizeof(fs) - (size_t)len, "%s%s %s", len ? ", " : "",
				     metrics[m].name, fmt_pct(factor[m] - 1, pct, sizeof(pct)));
	}
	if (fs[0] != '\0')
		note(&rp, "machine factor (median change over all configurations): %s; %s", fs,
		     o->normalize ? "divided out (--normalize): changes below are relative to it"
		     : rp.n_untested > 0
			 ? "a shift shared by every configuration is the machine's load or a "
			   "change touching everything: the across-configuration verdict cannot "
			   "tell which (hence its threshold)"
			 : "a shift shared by every configuration is the machine's load or a "
			   "change touching everything (--normalize divides it out)");
	if (strcmp(rb.sys.host, rc.sys.host) != 0 || strcmp(rb.sys.cpu_model, rc.sys.cpu_model))
		note(&rp, "different machines (%s, %s vs %s, %s): a shift may be the machine's",
		     rb.sys.host, rb.sys.cpu_model, rc.sys.host, rc.sys.cpu_model);
	if (strcmp(rb.sys.build_type, rc.sys.build_type) != 0 ||
	    strcmp(rb.sys.compiler, rc.sys.compiler) != 0)
		note(&rp, "different builds: %s %s vs %s %s", rb.sys.compiler, rb.sys.build_type,
		     rc.sys.compiler, rc.sys.build_type);
	/* run->seconds is a row's measured window: equal settings differ by a few %, not 10 */
	if (fabs(rb.seconds - rc.seconds) > 0.1 * fmax(rb.seconds, rc.seconds) ||
	    fabs(rb.warmup_s - rc.warmup_s) > 0.1 * fmax(rb.warmup_s, rc.warmup_s))
		note(&rp, "different measured windows: %gs after %gs warm-up vs %gs after %gs",
		     rb.seconds, rb.warmup_s, rc.seconds, rc.warmup_s);
	for (size_t i = 0, len = 0, k = 0; i < rc.n_rows; i++) {
		char lab[160];

		if (rc.rows[i].lost == 0 || len >= sizeof(rp.lost) || ++k > 6)
			continue;
		pb_row_label(&rc.rows[i], PB_LABEL_CONFIG, lab, sizeof(lab));
		len += (size_t)snprintf(rp.lost + len, sizeof(rp.lost) - len, "%s%s rep %u (%llu)",
					len ? "; " : "", lab, rc.rows[i].rep,
					(unsigned long long)rc.rows[i].lost);
	}
	rc_exit = finish(&rp, cfgs);
out:
	free(rp.r);
	cfgs_free(cfgs, n_cfg);
	pb_run_free(&rb);
	pb_run_free(&rc);
	return rc_exit;
}

/* ---------------------------------------------------------------- instruction counts */

struct icount_row {
	char path[96];
	double per_op;
};

struct icount_file {
	struct icount_row *rows;
	size_t n;
	char compiler[64], build_type[96], git_rev[48], planted[32];
};

/*
 * The columns of scripts/icount's CSV. Read as strictly as results.csv (csv.c): every row
 * has the header's fields, none empty; numbers whole, finite and in range; a path once; the
 * header again, an unknown column or a missing required one is an error naming where.
 */
enum ic_type {
	IC_TEXT,  /* no separator characters */
	IC_COUNT, /* a decimal integer >= min */
	IC_REAL,  /* a finite decimal > 0 */
};

static const struct icount_col {
	const char *name;
	enum ic_type type;
	uint64_t min;
	bool required;
} icount_cols[] = {
    {"path", IC_TEXT, 0, true},
    {"iterations", IC_COUNT, 1, false},
    {"instructions", IC_COUNT, 0, false},
    {"instructions_per_op", IC_REAL, 0, true},
    {"compiler", IC_TEXT, 0, false},
    {"build_type", IC_TEXT, 0, false},
    {"planted_delay_ns", IC_COUNT, 0, false},
    {"git_rev", IC_TEXT, 0, false},
    {"valgrind", IC_TEXT, 0, false},
};

#define N_IC (sizeof(icount_cols) / sizeof(icount_cols[0]))

/* ic_value - @text as a value of column @c; NULL, or why not. */
static const char *ic_value(const struct icount_col *c, const char *text, double *v)
{
	uint64_t u;

	if (text[0] == '\0')
		return "empty (every field has a value)";
	switch (c->type) {
	case IC_TEXT:
		if (strpbrk(text, "\";,\r\n\t") != NULL)
			return "holds a quote, semicolon, comma, tab or line break";
		return NULL;
	case IC_COUNT:
		if (!pb_parse_u64(text, c->min, UINT64_MAX, &u))
			return c->min ? "is not an integer >= 1" : "is not an integer >= 0";
		*v = (double)u;
		return NULL;
	case IC_REAL:
		if (!pb_parse_real(text, 0, v) || !(*v > 0))
			return "is not a positive finite number";
		return NULL;
	}
	return "unknown column type";
}

static int icount_read(const char *path, const struct header *h, struct icount_file *out)
{
	struct pb_csv_records r;
	int col_of[MAX_COLS], ip = -1, iv = -1, rc = -1, e;
	char err[512];
	bool seen[N_IC] = {false};

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < h->n; i++) {
		size_t c;

		for (c = 0; c < N_IC && strcmp(icount_cols[c].name, h->col[i]) != 0; c++)
			;
		if (c == N_IC)
			return check_error("%s:1: unknown column '%s' in an instruction-count CSV",
					   path, h->col[i]);
		if (seen[c])
			return check_error("%s:1: column %s appears twice", path, h->col[i]);
		seen[c] = true;
		col_of[i] = (int)c;
		ip = c == 0 ? (int)i : ip;
		iv = c == 3 ? (int)i : iv;
	}
	for (size_t c = 0; c < N_IC; c++)
		if (icount_cols[c].required && !seen[c])
			return check_error("%s:1: no column %s", path, icount_cols[c].name);
	pb_csv_records_init(&r, path, h->data, h->len);
	e = pb_csv_records_next(&r, err, sizeof(err)); /* the header, read before */
	while (e > 0 && (e = pb_csv_records_next(&r, err, sizeof(err))) > 0) {
		const struct pb_csv_field *f = r.f;
		struct icount_row *row;
		bool header = r.nf == h->n;
		double v = 0;

		for (size_t i = 0; i < r.nf && header; i++)
			header = strcmp(f[i].text, h->col[i]) == 0;
		if (r.nf == 1 && f[0].text[0] == '\0') {
			rc = check_error("%s:%zu:1: a blank line (every row has %zu fields)", path,
					 f[0].line, h->n);
			goto done;
		}
		if (header) {
			rc = check_error("%s:%zu:1: the header again (files joined with their "
					 "headers?)",
					 path, f[0].line);
			goto done;
		}
		if (r.nf != h->n) {
			rc = check_error("%s:%zu:%zu: %zu fields, the header has %zu", path,
					 f[r.nf - 1].line, f[r.nf - 1].end_col, r.nf, h->n);
			goto done;
		}
		for (size_t i = 0; i < r.nf; i++) {
			const char *why = ic_value(&icount_cols[col_of[i]], f[i].text, &v);

			if (why != NULL) {
				rc = check_error("%s:%zu:%zu: %s: '%s' %s", path, f[i].line,
						 f[i].col, h->col[i], f[i].text, why);
				goto done;
			}
		}
		if (strlen(f[ip].text) >= sizeof(out->rows[0].path)) {
			rc = check_error("%s:%zu:%zu: path: longer than %zu characters", path,
					 f[ip].line, f[ip].col, sizeof(out->rows[0].path) - 1);
			goto done;
		}
		for (size_t i = 0; i < out->n; i++)
			if (strcmp(out->rows[i].path, f[ip].text) == 0) {
				rc = check_error("%s:%zu:%zu: path %s appears twice", path,
						 f[ip].line, f[ip].col, f[ip].text);
				goto done;
			}
		out->rows = pb_xrealloc(out->rows, (out->n + 1) * sizeof(*out->rows));
		row = &out->rows[out->n++];
		snprintf(row->path, sizeof(row->path), "%s", f[ip].text);
		pb_parse_real(f[iv].text, 0, &row->per_op);
		if (out->n == 1) {
			/* The build that produced the counts ("-": not said). */
			char *dst[] = {out->compiler, out->build_type, out->git_rev, out->planted};
			const size_t size[] = {sizeof(out->compiler), sizeof(out->build_type),
					       sizeof(out->git_rev), sizeof(out->planted)};
			const char *name[] = {"compiler", "build_type", "git_rev",
					      "planted_delay_ns"};

			for (size_t k = 0; k < 4; k++) {
				snprintf(dst[k], size[k], "-");
				for (size_t i = 0; i < h->n; i++)
					if (strcmp(h->col[i], name[k]) == 0)
						snprintf(dst[k], size[k], "%s", f[i].text);
			}
		}
	}
	if (e < 0)
		rc = check_error("%s", err);
	else if (out->n == 0)
		rc = check_error("%s: no rows", path);
done:
	pb_csv_records_free(&r);
	return rc;
}

static int check_icount(const struct check_opts *o, const struct header *hb,
			const struct header *hc)
{
	struct icount_file fb, fc;
	struct report rp;
	char msg[2048];
	size_t len = 0, bad = 0;
	int rc_exit;

	memset(&rp, 0, sizeof(rp));
	memset(&fc, 0, sizeof(fc));
	if ((rc_exit = icount_read(o->base_path, hb, &fb)) >= 0 ||
	    (rc_exit = icount_read(o->cur_path, hc, &fc)) >= 0)
		goto out;
	if (strcmp(fb.compiler, fc.compiler) != 0 || strcmp(fb.build_type, fc.build_type) != 0) {
		rc_exit = check_error(
		    "instruction counts from different builds are not comparable: baseline %s, "
		    "%s (%s); current %s, %s (%s)\n(refresh the baseline with this compiler and "
		    "build type: see results/baseline/README.md)",
		    fb.compiler, fb.build_type, o->base_path, fc.compiler, fc.build_type,
		    o->cur_path);
		goto out;
	}
	msg[0] = '\0';
	for (int side = 0; side < 2; side++) {
		const struct icount_file *a = side ? &fc : &fb, *b = side ? &fb : &fc;

		for (size_t i = 0; i < a->n; i++) {
			size_t j;

			for (j = 0; j < b->n && strcmp(a->rows[i].path, b->rows[j].path); j++)
				;
			if (j < b->n || len >= sizeof(msg))
				continue;
			bad++;
			len += (size_t)snprintf(msg + len, sizeof(msg) - len,
						"\n  %s: only in the %s (%s)", a->rows[i].path,
						side ? "current counts" : "baseline",
						side ? o->cur_path : o->base_path);
		}
	}
	if (bad > 0) {
		rc_exit = check_error("mismatched paths: %zu path%s on one side only:%s\n(count "
				      "the same paths, or refresh the baseline)",
				      bad, bad == 1 ? " is" : "s are", msg);
		goto out;
	}
	rp.o = o;
	rp.kind = IN_ICOUNT;
	rp.n_units = fb.n;
	rp.n_metrics = 1;
	rp.r = xcalloc(fb.n, sizeof(*rp.r));
	for (size_t i = 0; i < fb.n; i++) {
		struct res *r = &rp.r[rp.n++];
		size_t j;

		for (j = 0; strcmp(fc.rows[j].path, fb.rows[i].path) != 0; j++)
			;
		r->label = fb.rows[i].path;
		r->metric = M_ICOUNT;
		r->nb = r->nc = 1;
		r->mb = fb.rows[i].per_op;
		r->mc = fc.rows[j].per_op;
		r->change = r->mc / r->mb - 1;
		r->lo = r->hi = r->p = r->u = NAN;
		r->thr = threshold_of(o, M_ICOUNT);
		r->v = decide(r->change, NAN, r->thr, o->alpha);
	}
	if (strcmp(fb.git_rev, fc.git_rev) != 0)
		note(&rp, "baseline from git %s, current from git %s", fb.git_rev, fc.git_rev);
	note(&rp, "counts made with %s, %s", fc.compiler, fc.build_type);
	if (strcmp(fc.planted, "-") != 0 && strcmp(fc.planted, "0") != 0)
		note(&rp,
		     "the current build has a PLANTED delay of %s ns in mutex sends (a test "
		     "build)",
		     fc.planted);
	rc_exit = finish(&rp, NULL);
out:
	free(rp.r);
	free(fb.rows);
	free(fc.rows);
	return rc_exit;
}

/* ---------------------------------------------------------------- entry */

int pb_check_main(int argc, char **argv)
{
	struct check_opts o;
	struct header hb, hc;
	enum input_kind kb, kc;
	int rc;

	rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	memset(&hc, 0, sizeof(hc));
	if ((rc = header_read(o.base_path, &hb)) >= 0)
		return rc;
	if ((rc = header_read(o.cur_path, &hc)) >= 0) {
		header_free(&hb);
		return rc;
	}
	kb = header_kind(&hb);
	kc = header_kind(&hc);
	if (kb == IN_UNKNOWN || kc == IN_UNKNOWN || kb != kc)
		rc = check_error("schema mismatch: %s is %s, %s is %s", o.base_path, kind_name(kb),
				 o.cur_path, kind_name(kc));
	else if ((rc = headers_match(&o, &hb, &hc)) >= 0)
		;
	else if (kb == IN_ICOUNT)
		rc = check_icount(&o, &hb, &hc);
	else
		rc = check_timing(&o);
	header_free(&hb);
	header_free(&hc);
	return rc;
}
