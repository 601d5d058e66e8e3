/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_BENCH_CSV_H
#define PATLAB_BENCH_CSV_H

/*
 * results.csv, written and read through the column table (model.h). csv.c says the rules;
 * results/README.md documents the columns.
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
 * default). Returns 0, -errno (cannot open) or -EINVAL; on error, rows before the bad line
 * have been appended.
 */
int pb_csv_read(const char *path, struct pb_run *run, char *err, size_t n);

#endif /* PATLAB_BENCH_CSV_H */
