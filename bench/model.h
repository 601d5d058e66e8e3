/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_BENCH_MODEL_H
#define PATLAB_BENCH_MODEL_H

/*
 * The data model of the patlab command (bench/): a run and its rows, and the one table of
 * results.csv's columns.
 *
 * A row is one point x one repetition; a run is what produced a set of rows (the machine, the
 * build, the settings) plus the points that were skipped or failed. pb_columns[] names every
 * column of results.csv once, with its type, unit and where its value lives; the CSV header,
 * writer and reader (csv.c), the configuration key (pb_row_key()) and meta.json's schema are
 * all made from it, so a column is added in one place. results/README.md documents the same
 * columns in the same order (a unit test compares the two).
 *
 * Everything here is data and pure functions over it, at the bottom of bench/: it calls no
 * other part of bench/. Single-threaded (the patlab command runs on its main thread). Rows
 * are owned by their run (pb_run_free()); out of memory aborts: nothing sensible to do.
 */

#include <patlab/patlab.h>

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------- what produced the rows */

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

/* ---------------------------------------------------------------- rows */

#define PB_DEPTH_UNBOUNDED UINT64_MAX
#define PB_ROW_EXTRAS	   PL_RESULT_EXTRAS

/* struct pb_extra - one pattern-specific figure of a row; @name is [a-z0-9_]. */
struct pb_extra {
	char name[32];
	double value;
};

/* struct pb_row - one CSV row: one point x one repetition (pb_columns[] maps the columns). */
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
	char pin[16]; /* pl_pin_name() */
	unsigned rep; /* 1-based */
	double warmup_s;
	uint64_t seed;
	uint64_t messages;
	double seconds;
	double tput; /* messages / seconds, rounded as the CSV writes it */
	struct pl_hist_summary lat;
	uint64_t dropped, rejected, lost;
	unsigned n_extras;
	struct pb_extra extras[PB_ROW_EXTRAS];
};

/* struct pb_note - a point that was skipped or failed, and why. */
struct pb_note {
	char point[128];
	char why[192];
};

/* struct pb_run - one invocation's results (or those read back) and where they go. */
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
	size_t n_refused; /* of the failed: refused by the library as nonsense (-EINVAL) */
	/* For runners whose points take a process-wide parallelism (go: GOMAXPROCS): the option
	 * as given ("auto" by default). For runners that start a process per run: the start-up
	 * (exec -> main) over every such run, in ms. Both for meta.json. */
	char procs[128];
	size_t spawns;
	double spawn_ms_min, spawn_ms_max, spawn_ms_sum;
};

/* pb_run_add_row / pb_run_note - append (aborts on out of memory). */
struct pb_row *pb_run_add_row(struct pb_run *run);
void pb_run_note(struct pb_note **list, size_t *n, const char *point, const char *why);
void pb_run_free(struct pb_run *run);

/* pb_run_lost_rows - how many rows of @run have lost != 0. */
size_t pb_run_lost_rows(const struct pb_run *run);

/*
 * pb_row_add_extra - append {@name, @value} to @w; false (nothing stored) when every slot is
 * used. A character of @name outside [a-z0-9_] is stored as '_' (the CSV's extras grammar).
 */
bool pb_row_add_extra(struct pb_row *w, const char *name, double value);

/* pb_row_extra - the value of @w's extra called @name into *@v: false when @w has none. */
bool pb_row_extra(const struct pb_row *w, const char *name, double *v);

/* ---------------------------------------------------------------- the columns */

enum pb_col_type {
	PB_COL_TEXT,   /* a char array: no comma, quote, semicolon or newline; never empty */
	PB_COL_UINT,   /* unsigned */
	PB_COL_U64,    /* uint64_t */
	PB_COL_I64,    /* int64_t, stored signed but never negative in a file (@min) */
	PB_COL_REAL,   /* double, finite, written with @fmt */
	PB_COL_DEPTH,  /* uint64_t; PB_DEPTH_UNBOUNDED is written "unbounded" */
	PB_COL_EXTRAS, /* the row's extras: "name=value;name=value", or "-" for none */
};

/* Where a column's value lives: the row, or the run's machine (the same in every row). */
enum pb_col_src {
	PB_SRC_ROW,
	PB_SRC_SYS,
};

/*
 * struct pb_column - one column of results.csv.
 * @name:   the header's name.
 * @type:   how the value is written and read.
 * @unit:   results/README.md's "unit / values" entry where that is a unit or one plain word
 *          ("ns", "messages/s", "text"); NULL where the README lists the values instead.
 * @in_key: part of the configuration key: rows with the same key are repetitions of one
 *          configuration (`patlab check` joins on it, the summary groups by it).
 * @doc:    what the value is, in a line (results/README.md says it at length).
 * @param:  for key columns, the PL_PARAM_* bit of the parameter it holds (0: every pattern
 *          has it), so labels show only what a pattern reads.
 * @src, @offset, @size: where the value lives (@size: of a text field, else 0).
 * @fmt:    PB_COL_REAL: the printf conversion it is written with.
 * @absent: the value of files written before the column existed; NULL: required.
 * @min:    numeric columns: the smallest valid value (0, or 1 for counts of things that are
 *          never none: rep, cpus, threads, stages); the reader refuses anything below it.
 */
struct pb_column {
	const char *name;
	enum pb_col_type type;
	const char *unit;
	bool in_key;
	const char *doc;
	unsigned param;
	enum pb_col_src src;
	size_t offset, size;
	const char *fmt;
	const char *absent;
	double min;
};

/* The columns, in the order results.csv has them. */
extern const struct pb_column pb_columns[];
extern const size_t pb_n_columns;

/* pb_column_find - the index of the column called @name, or -1. */
int pb_column_find(const char *name);

/*
 * pb_column_format - the text of column @c for row @w (a PB_SRC_SYS column: of @sys, which
 * may be NULL for the others), as results.csv has it, into @buf. Returns its length, or -1
 * when it does not fit or @sys is missing.
 */
int pb_column_format(size_t c, const struct pb_sysinfo *sys, const struct pb_row *w, char *buf,
		     size_t n);

/*
 * pb_column_parse - store @text as column @c of @w (PB_SRC_SYS columns: of @sys). Returns 0,
 * or -EINVAL with what is wrong in @why (e.g. "'12x' is not an integer").
 */
int pb_column_parse(size_t c, const char *text, struct pb_sysinfo *sys, struct pb_row *w, char *why,
		    size_t n);

/* pb_column_value - a numeric column of @w as a double (NAN for text columns). */
double pb_column_value(size_t c, const struct pb_row *w);

/* pb_extras_format - @w's extras as the CSV writes them ("-" for none). Returns the length. */
int pb_extras_format(const struct pb_row *w, char *buf, size_t n);

/*
 * pb_row_key - @w's configuration: its key columns' texts joined by '|' (with @kind false,
 * every one but chan_kind: a scenario, whose rows differ only by kind). Into @buf.
 */
#define PB_KEY_MAX 256
void pb_row_key(const struct pb_row *w, bool kind, char *buf, size_t n);

/*
 * pb_row_label - @w's configuration for people, only the parameters its pattern reads:
 * @PB_LABEL_CONFIG:   "chan mutex 1p1c d64 pin=single", as `patlab check` names them;
 * @PB_LABEL_SCENARIO: "1p1c d64 pin=single" (no pattern or kind; "default" when nothing
 *                     is left), as the summary's rows are named.
 */
enum pb_label_style {
	PB_LABEL_CONFIG,
	PB_LABEL_SCENARIO,
};
void pb_row_label(const struct pb_row *w, enum pb_label_style style, char *buf, size_t n);

/* ---------------------------------------------------------------- shared helpers */

/* pb_pattern_threads - the threads @pat starts for @p (its .threads, else P + C). */
unsigned pb_pattern_threads(const struct pl_pattern *pat, const struct pl_params *p);

/* pb_xrealloc - realloc(), or abort with a message when memory is out. */
void *pb_xrealloc(void *p, size_t n);

/*
 * Strict numbers, for files and the command line alike: the whole text, nothing before or
 * after, no '+', no spaces, no hexadecimal, no "inf"/"nan".
 * pb_parse_u64:  decimal digits only, from @min to @max.
 * pb_decimal:    @s is a number as printf's %f, %e and %g write one: an optional minus,
 *                digits, an optional fraction (a dot and digits), an optional exponent.
 * pb_parse_real: a pb_decimal() that is finite and not below @min.
 * Each returns false (and leaves *@out alone) when @s is not one.
 */
bool pb_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
bool pb_decimal(const char *s);
bool pb_parse_real(const char *s, double min, double *out);

/*
 * pb_list_split - the comma-separated items of the option @opt's value @str, copied into
 * @buf (@bufn bytes) and pointed at by @items (room for @max). Every item must be there: an
 * empty list, an empty item ("1,,2", ",1", "1,") or more than @max items is -EINVAL with the
 * problem in @err. Returns the number of items.
 */
int pb_list_split(const char *opt, const char *str, char *buf, size_t bufn, char **items,
		  size_t max, char *err, size_t n);

/* pb_einval - the message @fmt into @err; returns -EINVAL (for `return pb_einval(...)`). */
int pb_einval(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* pb_field_clean - make @s safe as an unquoted CSV field: , " ; newlines become spaces. */
void pb_field_clean(char *s);

/* pb_fmt_ns - a latency for humans: 950ns, 1.25us, 40.1us, 3.2ms, 1.50s. */
const char *pb_fmt_ns(double ns, char *buf, size_t n);

/* pb_fmt_tput - messages/s for humans, in millions: 12.3, 0.027, 1.10k (thousands of M). */
const char *pb_fmt_tput(double mps, char *buf, size_t n);

/* pb_write_atomic - write @len bytes of @data to @path through a temp file and rename. */
int pb_write_atomic(const char *path, const char *data, size_t len);

/* struct pb_buf - a growing string (aborts on out of memory: the results would be lost). */
struct pb_buf {
	char *s;
	size_t len, cap;
};

void pb_buf_printf(struct pb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* pb_json_str - @s as a JSON string literal, quotes included. */
void pb_json_str(struct pb_buf *b, const char *s);

#endif /* PATLAB_BENCH_MODEL_H */
