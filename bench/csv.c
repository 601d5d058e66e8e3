/* SPDX-License-Identifier: MIT */
/*
 * results.csv: written from the column table (model.h), and read back strictly.
 *
 * One row per point x repetition, the columns of pb_columns[] in its order (results/README.md
 * documents each). No field ever contains a comma, a quote or a newline (pb_field_clean()),
 * and none is empty, so no quoting is used and `cut -d,`, awk and gnuplot read it as is.
 *
 * The reader refuses anything the writer would not have written, naming file:line:column:
 * an unknown or repeated column, a missing one, a row with fewer or more fields than the
 * header, an empty field, a number with anything after it, text too long for its field. A
 * column added after files were written (timeout_ns, pin) may be absent: its rows then read
 * the column's default (pb_columns[].absent), e.g. pin "none". Columns are found by name.
 *
 * The file is written atomically: the whole of it goes to "<path>.tmp.<pid>", then rename()
 * replaces the old one. The CSV is rewritten after every finished row, so an interrupted sweep
 * (Ctrl-C, a kill, a crash in a later point) always leaves a valid file holding every finished
 * row. No fsync: rename is atomic against interruption of this process, which is what matters
 * here, and a sync per row would put disk flushes between measurements.
 */
#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *pb_csv_header(void)
{
	static char header[1024];

	if (header[0] == '\0')
		for (size_t c = 0, len = 0; c < pb_n_columns; c++)
			len += (size_t)snprintf(header + len, sizeof(header) - len, "%s%s",
						c ? "," : "", pb_columns[c].name);
	return header;
}

int pb_csv_format_row(const struct pb_run *run, const struct pb_row *w, char *buf, size_t n)
{
	size_t len = 0;

	for (size_t c = 0; c < pb_n_columns; c++) {
		int k;

		if (c > 0) {
			if (len + 1 >= n)
				return -1;
			buf[len++] = ',';
		}
		k = pb_column_format(c, &run->sys, w, buf + len, n - len);
		if (k < 0)
			return -1;
		len += (size_t)k;
	}
	return (int)len;
}

int pb_csv_write(const struct pb_run *run, const char *path)
{
	struct pb_buf b = {0};
	char line[2048];
	int err;

	pb_buf_printf(&b, "%s\n", pb_csv_header());
	for (size_t i = 0; i < run->n_rows; i++) {
		if (pb_csv_format_row(run, &run->rows[i], line, sizeof(line)) < 0) {
			free(b.s);
			return -EOVERFLOW;
		}
		pb_buf_printf(&b, "%s\n", line);
	}
	err = pb_write_atomic(path, b.s, b.len);
	free(b.s);
	return err;
}

/* ---------------------------------------------------------------- reading back */

#define MAX_FIELDS 128

/*
 * split - @line's comma-separated fields, empty ones included, into @f (room for @max + 1)
 * and their 1-based columns into @at. Returns the count; @max + 1 means more than @max (the
 * last holds the rest of the line).
 */
static size_t split(char *line, char **f, size_t *at, size_t max)
{
	size_t nf = 0;
	char *p = line;

	for (;;) {
		char *comma = strchr(p, ',');

		f[nf] = p;
		at[nf] = (size_t)(p - line) + 1;
		if (++nf == max + 1 || comma == NULL)
			return nf;
		*comma = '\0';
		p = comma + 1;
	}
}

/* read_header - map the header's fields to columns: @col_of[field] = column index. */
static int read_header(const char *path, char **f, const size_t *at, size_t nf, int *col_of,
		       char *err, size_t n)
{
	int field_of[MAX_FIELDS];

	for (size_t c = 0; c < pb_n_columns; c++)
		field_of[c] = -1;
	for (size_t i = 0; i < nf; i++) {
		int c = pb_column_find(f[i]);

		if (c < 0)
			return pb_einval(
			    err, n,
			    "%s:1:%zu: not a patlab results.csv: unknown column '%s' (from "
			    "another program, or a newer patlab)",
			    path, at[i], f[i]);
		if (field_of[c] >= 0)
			return pb_einval(err, n, "%s:1:%zu: column %s appears twice", path, at[i],
					 f[i]);
		field_of[c] = (int)i;
		col_of[i] = c;
	}
	for (size_t c = 0; c < pb_n_columns; c++)
		if (field_of[c] < 0 && pb_columns[c].absent == NULL)
			return pb_einval(err, n, "%s:1: not a patlab results.csv (no column %s)",
					 path, pb_columns[c].name);
	return 0;
}

/* read_row - the fields of one data line into @w (and the machine's into @sys). */
static int read_row(const char *path, size_t lineno, char **f, const size_t *at, size_t nf,
		    const int *col_of, size_t n_header, struct pb_sysinfo *sys, struct pb_row *w,
		    char *err, size_t n)
{
	bool seen[MAX_FIELDS] = {false};
	char why[256];

	if (nf < n_header)
		return pb_einval(err, n, "%s:%zu:%zu: a short row: %zu fields, the header has %zu",
				 path, lineno, at[nf - 1] + strlen(f[nf - 1]), nf, n_header);
	if (nf > n_header)
		return pb_einval(
		    err, n,
		    "%s:%zu:%zu: trailing junk: more fields than the header's %zu (from "
		    "'%s' on)",
		    path, lineno, at[n_header], n_header, f[n_header]);
	for (size_t i = 0; i < nf; i++) {
		size_t c = (size_t)col_of[i];

		seen[c] = true;
		if (pb_column_parse(c, f[i], sys, w, why, sizeof(why)) != 0)
			return pb_einval(err, n, "%s:%zu:%zu: %s: %s", path, lineno, at[i],
					 pb_columns[c].name, why);
	}
	/* Columns the file predates: their documented default, through the same parser. */
	for (size_t c = 0; c < pb_n_columns; c++)
		if (!seen[c] && pb_column_parse(c, pb_columns[c].absent, sys, w, why, sizeof(why)))
			return pb_einval(err, n, "%s:%zu: %s: %s", path, lineno, pb_columns[c].name,
					 why);
	return 0;
}

int pb_csv_read(const char *path, struct pb_run *run, char *err, size_t n)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *fields[MAX_FIELDS + 1];
	size_t at[MAX_FIELDS + 1], cap = 0, lineno = 0, n_header = 0;
	int col_of[MAX_FIELDS], e = 0;

	if (f == NULL) {
		e = -errno;
		snprintf(err, n, "cannot open %s: %s", path, strerror(-e));
		return e;
	}
	while (getline(&line, &cap, f) >= 0) {
		struct pb_sysinfo sys;
		struct pb_row w;
		size_t nf;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' && lineno > 1)
			continue; /* blank lines between rows (none is ever written) */
		nf = split(line, fields, at, MAX_FIELDS);
		if (lineno == 1) {
			if (line[0] == '\0') {
				e = pb_einval(err, n, "%s:1:1: not a patlab results.csv: no header",
					      path);
				break;
			}
			if (nf > MAX_FIELDS) {
				e = pb_einval(err, n, "%s:1: more than %d columns", path,
					      MAX_FIELDS);
				break;
			}
			e = read_header(path, fields, at, nf, col_of, err, n);
			if (e != 0)
				break;
			n_header = nf;
			continue;
		}
		memset(&sys, 0, sizeof(sys));
		memset(&w, 0, sizeof(w));
		e = read_row(path, lineno, fields, at, nf, col_of, n_header, &sys, &w, err, n);
		if (e != 0)
			break;
		if (run->n_rows == 0) {
			/* The machine of the first row; kernel is not in the CSV (meta.json). */
			memcpy(run->sys.run_id, sys.run_id, sizeof(sys.run_id));
			memcpy(run->sys.git_rev, sys.git_rev, sizeof(sys.git_rev));
			memcpy(run->sys.host, sys.host, sizeof(sys.host));
			memcpy(run->sys.cpu_model, sys.cpu_model, sizeof(sys.cpu_model));
			memcpy(run->sys.compiler, sys.compiler, sizeof(sys.compiler));
			memcpy(run->sys.build_type, sys.build_type, sizeof(sys.build_type));
			run->sys.cpus = sys.cpus;
			run->sys.sanitized = strstr(sys.build_type, "sanitized") != NULL;
			run->sys.kernel[0] = '\0';
			run->seconds = w.seconds;
			run->warmup_s = w.warmup_s;
		}
		*pb_run_add_row(run) = w;
		if (w.rep > run->reps)
			run->reps = w.rep;
	}
	if (e == 0 && lineno == 0)
		e = pb_einval(err, n, "%s: empty file", path);
	free(line);
	fclose(f);
	return e;
}
