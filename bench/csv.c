/* SPDX-License-Identifier: MIT */
/*
 * results.csv: written from the column table (model.h), and read back strictly.
 *
 * One row per point x repetition, the columns of pb_columns[] in its order (results/README.md
 * documents each). No field ever contains a comma, a quote or a newline (pb_field_clean()),
 * and none is empty, so no quoting is used and `cut -d,`, awk and gnuplot read it as is.
 *
 * The reader takes any RFC 4180 file (fields quoted or not, LF or CRLF line ends: what a
 * spreadsheet saves) and refuses anything whose values the writer would not have written,
 * naming file:line:column: an unknown or repeated column, a missing one, a row with fewer or
 * more fields than the header, a blank line, the header again, an empty field (quoted or
 * not), a number with anything after it or outside its column's range (non-finite, negative,
 * rep 0), text too long for its field or holding a separator. A column added after files were
 * written (timeout_ns, pin) may be absent: its rows then read the column's default
 * (pb_columns[].absent), e.g. pin "none". Columns are found by name. The whole file is read
 * into memory first (pb_csv_read_mem(), which the fuzz target tests/fuzz/fuzz_csv.c drives).
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

/* ---------------------------------------------------------------- records (RFC 4180) */

void pb_csv_records_init(struct pb_csv_records *r, const char *name, const char *data, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->p = data;
	r->end = data + len;
	r->line = r->col = 1;
}

void pb_csv_records_free(struct pb_csv_records *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

/* put - append @c to the current record's texts. */
static void put(struct pb_csv_records *r, size_t *len, char c)
{
	if (*len + 1 >= r->cap) {
		r->cap = r->cap ? 2 * r->cap : 1024;
		r->buf = pb_xrealloc(r->buf, r->cap);
	}
	r->buf[(*len)++] = c;
}

/* take - step over one byte of the input, counting lines and columns. */
static char take(struct pb_csv_records *r)
{
	char c = *r->p++;

	if (c == '\n') {
		r->line++;
		r->col = 1;
	} else {
		r->col++;
	}
	return c;
}

static int rec_error(const struct pb_csv_records *r, size_t line, size_t col, char *err, size_t n,
		     const char *what)
{
	return pb_einval(err, n, "%s:%zu:%zu: %s", r->name, line, col, what);
}

/* quoted - the quoted field at r->p (its opening quote) into the texts. */
static int quoted(struct pb_csv_records *r, size_t *len, char *err, size_t n)
{
	const size_t line = r->line, col = r->col;

	take(r);
	for (;;) {
		char c;

		if (r->p == r->end)
			return rec_error(r, line, col, err, n,
					 "a quoted field is never closed (its closing quote is "
					 "missing)");
		if (*r->p == '\0')
			return rec_error(r, r->line, r->col, err, n, "a NUL byte");
		c = take(r);
		if (c == '"') {
			if (r->p == r->end || *r->p != '"')
				break;
			take(r); /* "" is one quote */
		}
		put(r, len, c);
	}
	if (r->p < r->end && *r->p != ',' && *r->p != '\n' &&
	    !(*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n'))
		return rec_error(r, r->line, r->col, err, n,
				 "text after a closing quote (a quote inside a quoted field is "
				 "written twice)");
	return 0;
}

/* unquoted - the unquoted field at r->p into the texts. */
static int unquoted(struct pb_csv_records *r, size_t *len, char *err, size_t n)
{
	while (r->p < r->end && *r->p != ',' && *r->p != '\n') {
		if (*r->p == '"')
			return rec_error(r, r->line, r->col, err, n,
					 "a quote inside an unquoted field (quote the whole "
					 "field and write the quote twice)");
		if (*r->p == '\r') {
			if (r->p + 1 < r->end && r->p[1] == '\n')
				break;
			return rec_error(r, r->line, r->col, err, n,
					 "a carriage return not followed by a line feed");
		}
		if (*r->p == '\0')
			return rec_error(r, r->line, r->col, err, n, "a NUL byte");
		put(r, len, take(r));
	}
	return 0;
}

int pb_csv_records_next(struct pb_csv_records *r, char *err, size_t n)
{
	size_t off[PB_CSV_MAX_FIELDS], len = 0;
	int e;

	if (r->p == r->end)
		return 0;
	r->nf = 0;
	r->rec_line = r->line;
	for (;;) {
		struct pb_csv_field *f = &r->f[r->nf];

		if (r->nf == PB_CSV_MAX_FIELDS)
			return pb_einval(err, n, "%s:%zu:%zu: more than %d fields", r->name,
					 r->line, r->col, PB_CSV_MAX_FIELDS);
		f->line = r->line;
		f->col = r->col;
		off[r->nf] = len;
		e = r->p < r->end && *r->p == '"' ? quoted(r, &len, err, n)
						  : unquoted(r, &len, err, n);
		if (e != 0)
			return e;
		f->end_col = r->col;
		put(r, &len, '\0');
		r->nf++;
		if (r->p == r->end)
			break;
		if (take(r) == ',')
			continue;
		if (r->p[-1] == '\r')
			take(r); /* the LF of a CRLF */
		break;
	}
	for (size_t i = 0; i < r->nf; i++)
		r->f[i].text = r->buf + off[i];
	return 1;
}

/* ---------------------------------------------------------------- reading back */

int pb_file_read(const char *path, char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, used = 0;
	int e = 0;

	if (f == NULL)
		return -errno;
	for (;;) {
		size_t got;

		if (cap - used < 4096) {
			cap = cap ? 2 * cap : 65536;
			buf = pb_xrealloc(buf, cap);
		}
		got = fread(buf + used, 1, cap - used - 1, f);
		used += got;
		if (got == 0) {
			if (ferror(f))
				e = errno ? -errno : -EIO;
			break;
		}
	}
	fclose(f);
	if (e != 0) {
		free(buf);
		return e;
	}
	buf[used] = '\0';
	*data = buf;
	*len = used;
	return 0;
}

/* read_header - map the header's fields to columns: @col_of[field] = column index. */
static int read_header(const char *path, const struct pb_csv_records *r, int *col_of, char *err,
		       size_t n)
{
	int field_of[PB_CSV_MAX_FIELDS];

	for (size_t c = 0; c < pb_n_columns; c++)
		field_of[c] = -1;
	for (size_t i = 0; i < r->nf; i++) {
		const struct pb_csv_field *f = &r->f[i];
		int c = pb_column_find(f->text);

		if (c < 0)
			return pb_einval(
			    err, n,
			    "%s:%zu:%zu: not a patlab results.csv: unknown column '%s' (from "
			    "another program, or a newer patlab)",
			    path, f->line, f->col, f->text);
		if (field_of[c] >= 0)
			return pb_einval(err, n, "%s:%zu:%zu: column %s appears twice", path,
					 f->line, f->col, f->text);
		field_of[c] = (int)i;
		col_of[i] = c;
	}
	for (size_t c = 0; c < pb_n_columns; c++)
		if (field_of[c] < 0 && pb_columns[c].absent == NULL)
			return pb_einval(err, n, "%s:1: not a patlab results.csv (no column %s)",
					 path, pb_columns[c].name);
	return 0;
}

/* is_header - the record is the header again (two files concatenated with their headers). */
static bool is_header(const struct pb_csv_records *r, const int *col_of, size_t n_header)
{
	if (r->nf != n_header)
		return false;
	for (size_t i = 0; i < r->nf; i++)
		if (strcmp(r->f[i].text, pb_columns[col_of[i]].name) != 0)
			return false;
	return true;
}

/* read_row - the fields of one data record into @w (and the machine's into @sys). */
static int read_row(const char *path, const struct pb_csv_records *r, const int *col_of,
		    size_t n_header, struct pb_sysinfo *sys, struct pb_row *w, char *err, size_t n)
{
	const struct pb_csv_field *f = r->f;
	const size_t nf = r->nf;
	bool seen[PB_CSV_MAX_FIELDS] = {false};
	char why[256];

	if (nf == 1 && f[0].text[0] == '\0')
		return pb_einval(err, n, "%s:%zu:1: a blank line (every row has %zu fields)", path,
				 f[0].line, n_header);
	if (is_header(r, col_of, n_header))
		return pb_einval(err, n,
				 "%s:%zu:1: the header again (files joined with their headers? "
				 "keep the first line only)",
				 path, f[0].line);
	if (nf < n_header)
		return pb_einval(err, n, "%s:%zu:%zu: a short row: %zu fields, the header has %zu",
				 path, f[nf - 1].line, f[nf - 1].end_col, nf, n_header);
	if (nf > n_header)
		return pb_einval(err, n,
				 "%s:%zu:%zu: trailing junk: more fields than the header's %zu "
				 "(from '%s' on)",
				 path, f[n_header].line, f[n_header].col, n_header,
				 f[n_header].text);
	for (size_t i = 0; i < nf; i++) {
		size_t c = (size_t)col_of[i];

		seen[c] = true;
		if (pb_column_parse(c, f[i].text, sys, w, why, sizeof(why)) != 0)
			return pb_einval(err, n, "%s:%zu:%zu: %s: %s", path, f[i].line, f[i].col,
					 pb_columns[c].name, why);
	}
	/* Columns the file predates: their documented default, through the same parser. */
	for (size_t c = 0; c < pb_n_columns; c++)
		if (!seen[c] && pb_column_parse(c, pb_columns[c].absent, sys, w, why, sizeof(why)))
			return pb_einval(err, n, "%s:%zu: %s: %s", path, f[0].line,
					 pb_columns[c].name, why);
	return 0;
}

/* take_row - append @w to @run; the first row read into @run also gives the machine. */
static void take_row(struct pb_run *run, const struct pb_sysinfo *sys, const struct pb_row *w)
{
	if (run->n_rows == 0) {
		/* The machine of the first row; kernel is not in the CSV (meta.json). */
		memcpy(run->sys.run_id, sys->run_id, sizeof(sys->run_id));
		memcpy(run->sys.git_rev, sys->git_rev, sizeof(sys->git_rev));
		memcpy(run->sys.host, sys->host, sizeof(sys->host));
		memcpy(run->sys.cpu_model, sys->cpu_model, sizeof(sys->cpu_model));
		memcpy(run->sys.compiler, sys->compiler, sizeof(sys->compiler));
		memcpy(run->sys.build_type, sys->build_type, sizeof(sys->build_type));
		run->sys.cpus = sys->cpus;
		run->sys.sanitized = strstr(sys->build_type, "sanitized") != NULL;
		run->sys.kernel[0] = '\0';
		run->seconds = w->seconds;
		run->warmup_s = w->warmup_s;
	}
	*pb_run_add_row(run) = *w;
	if (w->rep > run->reps)
		run->reps = w->rep;
}

int pb_csv_read_mem(const char *name, const char *data, size_t len, struct pb_run *run, char *err,
		    size_t n)
{
	struct pb_csv_records r;
	int col_of[PB_CSV_MAX_FIELDS], e;
	size_t n_header = 0;

	if (len == 0)
		return pb_einval(err, n, "%s: empty file", name);
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		return pb_einval(err, n,
				 "%s:1:1: not a patlab results.csv: it starts with a byte-order "
				 "mark (saved by a spreadsheet?)",
				 name);
	pb_csv_records_init(&r, name, data, len);
	while ((e = pb_csv_records_next(&r, err, n)) > 0) {
		struct pb_sysinfo sys;
		struct pb_row w;

		if (n_header == 0) {
			if (r.nf == 1 && r.f[0].text[0] == '\0') {
				e = pb_einval(err, n, "%s:1:1: not a patlab results.csv: no header",
					      name);
				break;
			}
			e = read_header(name, &r, col_of, err, n);
			if (e != 0)
				break;
			n_header = r.nf;
			continue;
		}
		memset(&sys, 0, sizeof(sys));
		memset(&w, 0, sizeof(w));
		e = read_row(name, &r, col_of, n_header, &sys, &w, err, n);
		if (e != 0)
			break;
		take_row(run, &sys, &w);
	}
	pb_csv_records_free(&r);
	return e < 0 ? e : 0;
}

int pb_csv_read(const char *path, struct pb_run *run, char *err, size_t n)
{
	char *data;
	size_t len;
	int e = pb_file_read(path, &data, &len);

	if (e != 0) {
		snprintf(err, n, "cannot open %s: %s", path, strerror(-e));
		return e;
	}
	e = pb_csv_read_mem(path, data, len, run, err, n);
	free(data);
	return e;
}
