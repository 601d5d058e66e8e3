/* SPDX-License-Identifier: MIT */
/*
 * test_csv_read - results.csv written and read back through the column table (bench/csv.c).
 *
 * 1. Round trip: rows written (extras, an unbounded depth, a negative-free but odd mix) read
 *    back into rows that write the same text.
 * 2. The reader is strict: every malformed input is refused with "path:line:column: column:
 *    what" (unknown, repeated and missing columns, short rows, trailing fields, empty fields,
 *    numbers with junk, signs where none belong, bad depths, bad extras, text too long or with
 *    a quote), never read into a row.
 *    Ranges: non-finite and negative numbers, rep 0, hexadecimal, an exponent in an integer.
 * 3. RFC 4180: quoted fields and CRLF read as the same rows; broken quoting, the header again,
 *    a blank line, a NUL byte, a byte-order mark are refused where they are.
 * 4. Files from before the newer columns still read: the committed
 *    results-before-timeout-pin.csv (no timeout_ns, no pin) and a file without pin only;
 *    absent columns read as their defaults (timeout_ns 0, pin none).
 *
 * Usage: test_csv_read PATH/TO/tests/bench   (the folder of the committed CSV)
 */
#include "check.h"
#include "csv.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static char tmp[64];
static char header[1024], row[2048];

static const char *path_of(const char *name)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/%s", tmp, name);
	return p;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	fputs(text, f);
	CHECK(fclose(f) == 0);
}

/* A run of two rows covering every column type. */
static void sample_run(struct pb_run *run)
{
	struct pb_row *w;

	memset(run, 0, sizeof(*run));
	snprintf(run->sys.run_id, sizeof(run->sys.run_id), "20260101T000000Z-abcd");
	snprintf(run->sys.git_rev, sizeof(run->sys.git_rev), "0123456789ab-dirty");
	snprintf(run->sys.host, sizeof(run->sys.host), "host1");
	snprintf(run->sys.cpu_model, sizeof(run->sys.cpu_model), "AMD EPYC 7B13");
	snprintf(run->sys.compiler, sizeof(run->sys.compiler), "gcc 12.2.0");
	snprintf(run->sys.build_type, sizeof(run->sys.build_type), "Release");
	run->sys.cpus = 2;
	w = pb_run_add_row(run);
	snprintf(w->timestamp, sizeof(w->timestamp), "2026-01-01T00:00:01.000Z");
	snprintf(w->pattern, sizeof(w->pattern), "backpressure");
	snprintf(w->kind, sizeof(w->kind), "lockfree");
	snprintf(w->policy, sizeof(w->policy), "drop_newest");
	snprintf(w->pin, sizeof(w->pin), "single");
	w->producers = 2;
	w->consumers = 3;
	w->stages = 1;
	w->depth = 64;
	w->work_ns = 2000;
	w->rate = 250000;
	w->spin_ns = 50000;
	w->timeout_ns = 1500;
	w->rep = 3;
	w->warmup_s = 0.05;
	w->seed = 7;
	w->messages = 123456;
	w->seconds = 0.25;
	w->tput = 493824.0;
	w->lat = (struct pl_hist_summary){
	    .p50 = 900, .p90 = 1500, .p99 = 9000, .p999 = 40000, .max = 123456, .mean = 1234.5};
	w->dropped = 10;
	w->rejected = 11;
	CHECK(pb_row_add_extra(w, "peak_occupancy", 64));
	CHECK(pb_row_add_extra(w, "lag_max_ns", 1.80877e+07));
	w = pb_run_add_row(run);
	*w = run->rows[0];
	snprintf(w->pattern, sizeof(w->pattern), "chan");
	snprintf(w->policy, sizeof(w->policy), "-");
	snprintf(w->pin, sizeof(w->pin), "none");
	w->depth = PB_DEPTH_UNBOUNDED;
	w->timeout_ns = 0;
	w->n_extras = 0;
}

/* with - the sample row with field @i (0-based) replaced by @v (NULL: removed). */
static const char *with(size_t i, const char *v)
{
	static char out[2048];
	char copy[2048], *save = NULL, *f;
	size_t len = 0, k = 0;

	snprintf(copy, sizeof(copy), "%s", row);
	out[0] = '\0';
	for (f = strtok_r(copy, ",", &save); f != NULL; f = strtok_r(NULL, ",", &save), k++) {
		const char *t = k == i ? v : f;

		if (t != NULL)
			len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s",
						len ? "," : "", t);
	}
	return out;
}

/* col_at - the 1-based character column where field @i of the sample row starts. */
static size_t col_at(size_t i)
{
	size_t at = 1;
	const char *p = row;

	for (size_t k = 0; k < i; k++) {
		p = strchr(p, ',') + 1;
		at = (size_t)(p - row) + 1;
	}
	return at;
}

/* expect_bad - @text is refused, and the message holds @where and @what. */
static void expect_bad(const char *text, const char *where, const char *what)
{
	struct pb_run run;
	char err[512], want[256];
	int e;

	memset(&run, 0, sizeof(run));
	write_file(path_of("bad.csv"), text);
	e = pb_csv_read(path_of("bad.csv"), &run, err, sizeof(err));
	snprintf(want, sizeof(want), "%s%s", path_of("bad.csv"), where);
	pt_note("want '%s' ... '%s', got '%s'", want, what, e ? err : "(read)");
	if (e != -EINVAL || strstr(err, want) != err || strstr(err, what) == NULL)
		pt_fail(__FILE__, __LINE__,
			"input refused wrongly: want '%s' ... '%s', got %d '%s'", want, what, e,
			e ? err : "(read)");
	pb_run_free(&run);
}

/* bad_field - the sample row with field @name set to @v is refused at that field. */
static void bad_field(const char *name, const char *v, const char *what)
{
	char text[4096], where[64];
	int c = pb_column_find(name);

	CHECK(c >= 0);
	snprintf(text, sizeof(text), "%s\n%s\n", header, with((size_t)c, v));
	snprintf(where, sizeof(where), ":2:%zu: %s: ", col_at((size_t)c), name);
	expect_bad(text, where, what);
}

static void round_trip(void)
{
	struct pb_run run, back;
	char a[2048], b[2048], err[512];

	sample_run(&run);
	CHECK_EQ(pb_csv_write(&run, path_of("results.csv")), 0);
	memset(&back, 0, sizeof(back));
	CHECK_EQ(pb_csv_read(path_of("results.csv"), &back, err, sizeof(err)), 0);
	CHECK_EQ(back.n_rows, 2);
	CHECK_EQ(back.reps, 3);
	for (size_t i = 0; i < 2; i++) {
		CHECK(pb_csv_format_row(&run, &run.rows[i], a, sizeof(a)) > 0);
		CHECK(pb_csv_format_row(&back, &back.rows[i], b, sizeof(b)) > 0);
		if (strcmp(a, b) != 0)
			pt_fail(__FILE__, __LINE__, "row %zu read back differs:\n%s\n%s", i, a, b);
	}
	CHECK(back.rows[1].depth == PB_DEPTH_UNBOUNDED);
	CHECK_EQ(back.rows[0].n_extras, 2);
	CHECK(strcmp(back.rows[0].extras[1].name, "lag_max_ns") == 0);
	CHECK(back.rows[0].extras[1].value == 1.80877e+07);
	CHECK(strcmp(back.sys.cpu_model, "AMD EPYC 7B13") == 0 && back.sys.cpus == 2);
	snprintf(header, sizeof(header), "%s", pb_csv_header());
	CHECK(pb_csv_format_row(&run, &run.rows[0], row, sizeof(row)) > 0);
	pb_run_free(&run);
	pb_run_free(&back);
}

static void strict(void)
{
	char text[8192], h[1024];
	size_t n_cols = pb_n_columns;

	/* The sample itself reads: the cases below fail for their one change only. */
	snprintf(text, sizeof(text), "%s\n%s\n", header, row);
	write_file(path_of("good.csv"), text);
	{
		struct pb_run run = {0};
		char err[512];

		CHECK_EQ(pb_csv_read(path_of("good.csv"), &run, err, sizeof(err)), 0);
		CHECK_EQ(run.n_rows, 1);
		pb_run_free(&run);
	}

	/* Header. */
	snprintf(text, sizeof(text), "a,b\n1,2\n");
	expect_bad(text, ":1:1: ", "not a patlab results.csv: unknown column 'a'");
	snprintf(h, sizeof(h), "%s", header);
	*strrchr(h, ',') = '\0';
	snprintf(text, sizeof(text), "%s,extra\n%s\n", h, row);
	expect_bad(text, ":1:", "unknown column 'extra'");
	snprintf(text, sizeof(text), "%s,pin\n%s,none\n", header, row);
	expect_bad(text, ":1:", "column pin appears twice");
	{
		/* Without lost (a required column), in header and row alike. */
		int c = pb_column_find("lost");
		char hdr[1024], *p;

		snprintf(hdr, sizeof(hdr), "%s", header);
		p = strstr(hdr, ",lost,");
		memmove(p, p + 5, strlen(p + 5) + 1);
		snprintf(text, sizeof(text), "%s\n%s\n", hdr, with((size_t)c, NULL));
		expect_bad(text, ":1: ", "not a patlab results.csv (no column lost)");
	}
	snprintf(text, sizeof(text), "\n%s\n", row);
	expect_bad(text, ":1:1: ", "no header");
	expect_bad("", ": ", "empty file");

	/* Row shape. */
	snprintf(text, sizeof(text), "%s\n%s\n", header, with(n_cols - 1, NULL));
	expect_bad(text, ":2:", "a short row: 35 fields, the header has 36");
	snprintf(text, sizeof(text), "%s\n%s,junk\n", header, row);
	expect_bad(text, ":2:", "trailing junk: more fields than the header's 36 (from 'junk' on)");
	snprintf(text, sizeof(text), "%s\n%s\n%s,\n", header, row, row);
	expect_bad(text, ":3:", "trailing junk");

	/* Fields. */
	bad_field("producers", "", "empty");
	bad_field("throughput_mps", "12.5x", "'12.5x' is not a finite number");
	bad_field("throughput_mps", "nan", "'nan' is not a finite number");
	bad_field("seconds", " 0.25", "is not a finite number");
	bad_field("lost", "-1", "'-1' is not an integer >= 0");
	bad_field("lost", "+1", "'+1' is not an integer >= 0");
	bad_field("messages", "18446744073709551616", "is not an integer >= 0");
	bad_field("cpus", "4294967296", "is not an integer from 1 to 4294967295");
	bad_field("lat_p50_ns", "9e3", "'9e3' is not an integer");
	bad_field("work_ns", "--5", "is not an integer");
	bad_field("queue_depth", "deep", "'deep' is neither an integer >= 0 nor 'unbounded'");
	bad_field("pattern", "a_pattern_name_longer_than_its_field", "longer than 31 characters");
	bad_field("policy", "a;b", "holds a quote, semicolon, comma, tab or line break");
	bad_field("extras", "a=1;;b=2", "has an empty item");
	bad_field("extras", "a=1;", "has an empty item");
	bad_field("extras", "a=x", "'a=x': 'x' is not a number");
	bad_field("extras", "A=1", "'A' is not a name of [a-z0-9_]");
	bad_field("extras", "=1", "is not name=value");
	bad_field("extras", "a1", "'a1' is not name=value");
	bad_field("extras", "a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8;i=9", "more than 8 extras");

	/* Ranges: what the schema says a value can be. */
	bad_field("throughput_mps", "inf", "'inf' is not a finite number >= 0");
	bad_field("throughput_mps", "-inf", "is not a finite number >= 0");
	bad_field("throughput_mps", "1e999", "'1e999' is not a finite number >= 0");
	bad_field("throughput_mps", "-2.5", "'-2.5' is not a finite number >= 0");
	bad_field("throughput_mps", "0x10", "'0x10' is not a finite number");
	bad_field("throughput_mps", "1.", "'1.' is not a finite number");
	bad_field("throughput_mps", ".5", "'.5' is not a finite number");
	bad_field("seconds", "+1", "'+1' is not a finite number");
	bad_field("lat_mean_ns", "-1.5", "'-1.5' is not a finite number >= 0");
	bad_field("lat_p99_ns", "-5", "'-5' is not an integer >= 0");
	bad_field("lat_max_ns", "9223372036854775808", "is not an integer >= 0 (at most 2^63 - 1)");
	bad_field("work_ns", "-1", "'-1' is not an integer >= 0");
	bad_field("rep", "0", "'0' is not an integer from 1 to");
	bad_field("producers", "0", "'0' is not an integer from 1 to");
	bad_field("cpus", "0", "'0' is not an integer from 1 to");
	bad_field("messages", "12abc", "'12abc' is not an integer >= 0");
	bad_field("messages", "1e3", "'1e3' is not an integer >= 0");
	bad_field("extras", "a=0x10", "'a=0x10': '0x10' is not a number");
	bad_field("extras", "a=infinity", "'a=infinity': 'infinity' is not a number");
	bad_field("host", "a\tb", "holds a quote, semicolon, comma, tab or line break");
}

/* read_text - @text as a file; returns pb_csv_read()'s result, the rows in @run. */
static int read_text(const char *text, size_t len, struct pb_run *run, char *err, size_t n)
{
	FILE *f = fopen(path_of("t.csv"), "wb");

	CHECK(f != NULL);
	CHECK(fwrite(text, 1, len, f) == len);
	CHECK(fclose(f) == 0);
	memset(run, 0, sizeof(*run));
	return pb_csv_read(path_of("t.csv"), run, err, n);
}

/* quote_all - the sample row with every field quoted, a quote-free field doubled as "x". */
static void quote_all(const char *line, char *out, size_t n)
{
	size_t len = 0;

	out[len++] = '"';
	for (const char *p = line; *p != '\0' && len + 4 < n; p++) {
		if (*p == ',') {
			memcpy(out + len, "\",\"", 3);
			len += 3;
		} else {
			out[len++] = *p;
		}
	}
	out[len++] = '"';
	out[len] = '\0';
}

/*
 * rfc4180 - the layer under the columns: quoted fields and CRLF line ends read as the same
 * rows; a quoted empty field is still empty; the header again, a blank line and every broken
 * quoting are refused where they are.
 */
static void rfc4180(void)
{
	struct pb_run run;
	char text[8192], q_header[2048], q_row[4096], err[512], a[2048];
	size_t len;

	/* Everything quoted, CRLF: the same row. */
	quote_all(header, q_header, sizeof(q_header));
	quote_all(row, q_row, sizeof(q_row));
	len = (size_t)snprintf(text, sizeof(text), "%s\r\n%s\r\n", q_header, q_row);
	if (read_text(text, len, &run, err, sizeof(err)) != 0)
		pt_fail(__FILE__, __LINE__, "quoted CRLF file refused: %s", err);
	CHECK_EQ(run.n_rows, 1);
	CHECK(pb_csv_format_row(&run, &run.rows[0], a, sizeof(a)) > 0);
	if (strcmp(a, row) != 0)
		pt_fail(__FILE__, __LINE__, "quoted row reads differently:\n%s\n%s", a, row);
	pb_run_free(&run);
	/* No line end after the last row is fine too. */
	len = (size_t)snprintf(text, sizeof(text), "%s\n%s", header, row);
	CHECK_EQ(read_text(text, len, &run, err, sizeof(err)), 0);
	CHECK_EQ(run.n_rows, 1);
	pb_run_free(&run);

	/* A quoted empty field is an empty field; a quoted comma cannot be text of ours. */
	snprintf(text, sizeof(text), "%s\n%s\n", header,
		 with((size_t)pb_column_find("producers"), "\"\""));
	expect_bad(text, ":2:", "producers: empty");
	snprintf(text, sizeof(text), "%s\n%s\n", header,
		 with((size_t)pb_column_find("host"), "\"a,b\""));
	expect_bad(text, ":2:", "host: 'a,b' holds a quote, semicolon, comma");

	/* Quoting broken. */
	snprintf(text, sizeof(text), "%s\n%s\n", header,
		 with((size_t)pb_column_find("host"), "ho\"st"));
	expect_bad(text, ":2:", "a quote inside an unquoted field");
	snprintf(text, sizeof(text), "%s\n%s\n", header,
		 with((size_t)pb_column_find("host"), "\"host\"x"));
	expect_bad(text, ":2:", "text after a closing quote");
	snprintf(text, sizeof(text), "%s\n%s\n", header,
		 with((size_t)pb_column_find("extras"), "\"a=1"));
	expect_bad(text, ":2:", "a quoted field is never closed");
	snprintf(text, sizeof(text), "%s\n%s\rx\n", header, row);
	expect_bad(text, ":2:", "a carriage return not followed by a line feed");
	len = (size_t)snprintf(text, sizeof(text), "%s\n%s\n", header, row);
	text[len - 3] = '\0';
	write_file(path_of("nul.csv"), ""); /* (expect_bad writes text as a string: by hand) */
	{
		FILE *f = fopen(path_of("nul.csv"), "wb");

		CHECK(f != NULL && fwrite(text, 1, len, f) == len && fclose(f) == 0);
		memset(&run, 0, sizeof(run));
		CHECK_EQ(pb_csv_read(path_of("nul.csv"), &run, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, ":2:") != NULL && strstr(err, "a NUL byte") != NULL);
		pb_run_free(&run);
	}

	/* Rows: the header again, a blank line, a byte-order mark, a directory. */
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", header, row, header, row);
	expect_bad(text, ":3:1: ", "the header again");
	snprintf(text, sizeof(text), "%s\n%s\n\n%s\n", header, row, row);
	expect_bad(text, ":3:1: ", "a blank line (every row has 36 fields)");
	snprintf(text, sizeof(text), "%s\n%s\n\n", header, row);
	expect_bad(text, ":3:1: ", "a blank line");
	snprintf(text, sizeof(text), "\xef\xbb\xbf%s\n%s\n", header, row);
	expect_bad(text, ":1:1: ", "byte-order mark");
	memset(&run, 0, sizeof(run));
	CHECK(pb_csv_read(tmp, &run, err, sizeof(err)) < 0);
	CHECK(strstr(err, "cannot open") != NULL);
	pb_run_free(&run);
}

static void old_formats(const char *dir)
{
	struct pb_run run;
	char err[512], path[512], text[8192], hdr[1024], *p;
	int c_pin = pb_column_find("pin");

	/* The committed file from before timeout_ns and pin. */
	memset(&run, 0, sizeof(run));
	snprintf(path, sizeof(path), "%s/results-before-timeout-pin.csv", dir);
	if (pb_csv_read(path, &run, err, sizeof(err)) != 0)
		pt_fail(__FILE__, __LINE__, "%s", err);
	CHECK_EQ(run.n_rows, 6);
	for (size_t i = 0; i < run.n_rows; i++) {
		CHECK(strcmp(run.rows[i].pin, "none") == 0);
		CHECK_EQ(run.rows[i].timeout_ns, 0);
	}
	CHECK(strcmp(run.rows[0].pattern, "chan") == 0 &&
	      strcmp(run.rows[0].kind, "lockfree") == 0);
	CHECK_EQ(run.rows[0].messages, 87816);
	CHECK(run.rows[0].tput == 4366205.6);
	CHECK(strcmp(run.rows[3].policy, "block") == 0 && run.rows[3].rate == 250000);
	CHECK(strcmp(run.rows[4].kind, "go") == 0 &&
	      pb_row_extra(&run.rows[4], "gomaxprocs", &(double){0}));
	CHECK(strcmp(run.sys.run_id, "20261208T014246Z-257c") == 0);
	pb_run_free(&run);

	/* A file without pin only (timeout_ns present). */
	snprintf(hdr, sizeof(hdr), "%s", header);
	p = strstr(hdr, ",pin,");
	memmove(p, p + 4, strlen(p + 4) + 1);
	snprintf(text, sizeof(text), "%s\n%s\n", hdr, with((size_t)c_pin, NULL));
	write_file(path_of("nopin.csv"), text);
	memset(&run, 0, sizeof(run));
	CHECK_EQ(pb_csv_read(path_of("nopin.csv"), &run, err, sizeof(err)), 0);
	CHECK(strcmp(run.rows[0].pin, "none") == 0);
	CHECK_EQ(run.rows[0].timeout_ns, 1500);
	pb_run_free(&run);
}

int main(int argc, char **argv)
{
	char cmd[128];

	if (argc != 2) {
		fprintf(stderr, "usage: test_csv_read PATH/TO/tests/bench\n");
		return 1;
	}
	snprintf(tmp, sizeof(tmp), "/tmp/test_csv_read.XXXXXX");
	CHECK(mkdtemp(tmp) != NULL);
	round_trip();
	strict();
	rfc4180();
	old_formats(argv[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	CHECK_EQ(system(cmd), 0);
	printf("test_csv_read: round trip, strict refusals and old formats ok\n");
	return 0;
}
