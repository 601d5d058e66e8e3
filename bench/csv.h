/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_BENCH_CSV_H
#define PATLAB_BENCH_CSV_H

/*
 * results.csv, written and read through the column table (model.h); and the CSV records under
 * it (RFC 4180), which `patlab check` reads instruction-count files with too. csv.c says the
 * rules; results/README.md documents the columns.
 */

#include "model.h"

/* pb_csv_header - the header line of results.csv (no newline). */
const char *pb_csv_header(void);

/* pb_csv_format_row - one row, no newline, into @buf; returns its length (truncated: -1). */
int pb_csv_format_row(const struct pb_run *run, const struct pb_row *row, char *buf, size_t n);

/* pb_csv_write - write every row of @run to @path atomically (temp file, then rename). 0/-errno. */
int pb_csv_write(const struct pb_run *run, const char *path);

/*
 * pb_csv_read - append the rows of the results.csv at @path to @run; the machine fields of
 * @run->sys, @run->seconds and @run->warmup_s come from the first row read into @run, @run->reps
 * is the largest rep. Strict: anything the writer would not have written is refused with
 * "path:line:column: what" in @err (columns added later may be absent: they read as their
 * default). Returns 0, -errno (cannot open or read) or -EINVAL; on error, rows before the bad
 * line have been appended.
 */
int pb_csv_read(const char *path, struct pb_run *run, char *err, size_t n);

/* pb_csv_read_mem - pb_csv_read() of the @len bytes at @data, named @name in messages. */
int pb_csv_read_mem(const char *name, const char *data, size_t len, struct pb_run *run, char *err,
		    size_t n);

/* pb_file_read - the whole file at @path into *@data (NUL-terminated, free()) and *@len. 0/-errno.
 */
int pb_file_read(const char *path, char **data, size_t *len);

/* ---------------------------------------------------------------- records (RFC 4180) */

#define PB_CSV_MAX_FIELDS 128

/* struct pb_csv_field - a field of a record: its text (quotes undone) and where it is. */
struct pb_csv_field {
	const char *text;
	size_t line, col; /* 1-based, where the field starts (its opening quote, if quoted) */
	size_t end_col;	  /* the column just after it (on its last line) */
};

/*
 * struct pb_csv_records - the records of a CSV held in memory, one at a time. Fields are
 * separated by commas, records by LF or CRLF; a field may be quoted ("a ""b"", c"), and then
 * holds commas, quotes (doubled) and line breaks. An empty line is a record of one empty field.
 * Refused, with "name:line:column: what": a quote inside an unquoted field, text after a
 * closing quote, a quote never closed, a CR not before an LF, a NUL byte, more than
 * PB_CSV_MAX_FIELDS fields. Single-threaded; owns the texts of the current record only.
 */
struct pb_csv_records {
	const char *name;
	const char *p, *end;
	size_t line, col; /* of *p */
	char *buf;	  /* the current record's field texts */
	size_t cap;
	size_t nf;
	size_t rec_line; /* where the current record starts */
	struct pb_csv_field f[PB_CSV_MAX_FIELDS];
};

/* pb_csv_records_init - read the @len bytes at @data (kept: not copied), named @name. */
void pb_csv_records_init(struct pb_csv_records *r, const char *name, const char *data, size_t len);

/*
 * pb_csv_records_next - the next record into @r->f[0 .. @r->nf). Returns 1, 0 at the end of
 * the input, or -EINVAL with "name:line:column: what" in @err.
 */
int pb_csv_records_next(struct pb_csv_records *r, char *err, size_t n);

void pb_csv_records_free(struct pb_csv_records *r);

#endif /* PATLAB_BENCH_CSV_H */
