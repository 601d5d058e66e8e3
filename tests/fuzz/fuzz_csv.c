/* SPDX-License-Identifier: MIT */
/*
 * fuzz_csv: the results readers (bench/csv.c) against anything.
 *
 * Each input is read as a results.csv (pb_csv_read_mem(), the reader every command uses) and
 * as plain CSV records (pb_csv_records_next(), under check's instruction-count reader). The
 * target aborts when:
 *   - a refusal is not -EINVAL with "fuzz.csv:" and a reason, or a record has no field;
 *   - an accepted file does not round-trip: its rows, written as the writer writes them (the
 *     header and pb_csv_format_row()), must read back into rows that write the very same text
 *     (what is accepted is exactly what could have been written, give or take the spelling
 *     of a number: "1.50" reads as 1.5 and is written "1.5" the second time as the first);
 *   - the sanitizers find anything (the asan preset builds it with libFuzzer).
 * Without libFuzzer (gcc, TSan) replay_main.c runs the corpus, tests/fuzz/corpus-csv/, then
 * seeded random inputs.
 */
#include "csv.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MUST(cond, ...)                                                                            \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_csv: %s: ", #cond);                                  \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* records - the input as CSV records: every record has fields, every refusal says where. */
static void records(const char *text, size_t size)
{
	struct pb_csv_records r;
	char err[512];
	int e;

	pb_csv_records_init(&r, "fuzz.csv", text, size);
	while ((e = pb_csv_records_next(&r, err, sizeof(err))) > 0)
		MUST(r.nf >= 1 && r.nf <= PB_CSV_MAX_FIELDS && r.f[0].text != NULL, "nf %zu", r.nf);
	MUST(e == 0 || (e == -EINVAL && strncmp(err, "fuzz.csv:", 9) == 0), "%d '%s'", e, err);
	pb_csv_records_free(&r);
}

/* write_back - @run's rows as the writer writes them (header and rows) into a new buffer. */
static char *write_back(const struct pb_run *run, size_t *len)
{
	struct pb_buf b = {0};
	char line[4096];

	pb_buf_printf(&b, "%s\n", pb_csv_header());
	for (size_t i = 0; i < run->n_rows; i++) {
		MUST(pb_csv_format_row(run, &run->rows[i], line, sizeof(line)) > 0, "row %zu", i);
		pb_buf_printf(&b, "%s\n", line);
	}
	*len = b.len;
	return b.s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pb_run run, again;
	char err[512], *text, *first, *second;
	size_t len1, len2;
	int e;

	/* A private copy with no terminator after it: a read past the end is seen. */
	text = malloc(size ? size : 1);
	MUST(text != NULL, "out of memory");
	memcpy(text, data, size);
	records(text, size);

	memset(&run, 0, sizeof(run));
	e = pb_csv_read_mem("fuzz.csv", text, size, &run, err, sizeof(err));
	free(text);
	if (e != 0) {
		MUST(e == -EINVAL && strncmp(err, "fuzz.csv", 8) == 0 && strlen(err) > 10,
		     "refused with %d '%s'", e, err);
		pb_run_free(&run);
		return 0;
	}
	first = write_back(&run, &len1);
	memset(&again, 0, sizeof(again));
	e = pb_csv_read_mem("again.csv", first, len1, &again, err, sizeof(err));
	MUST(e == 0, "what was accepted does not read back once written: %s\n%s", err, first);
	MUST(again.n_rows == run.n_rows, "%zu rows, then %zu", run.n_rows, again.n_rows);
	second = write_back(&again, &len2);
	MUST(len1 == len2 && memcmp(first, second, len1) == 0, "written twice differently:\n%s\n%s",
	     first, second);
	free(first);
	free(second);
	pb_run_free(&run);
	pb_run_free(&again);
	return 0;
}
