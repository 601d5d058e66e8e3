/* SPDX-License-Identifier: MIT */
/*
 * test_columns - the column table (bench/model.c) against results/README.md.
 *
 * The README documents results.csv in a table under "## results.csv": one line per column,
 * "| `name` | unit / values | meaning |", in the file's order. Checked: the same names in the
 * same order; where the table gives a unit, the README's cell is exactly that unit, and where
 * it gives none, the README lists values (a cell with `code`) instead. Also: the CSV header is
 * the names joined by commas, every key column holds a parameter and no key column is
 * optional but pin and timeout_ns (the two added after files were written).
 *
 * Usage: test_columns PATH/TO/results/README.md
 */
#include "check.h"
#include "csv.h"

#include <string.h>

#define MAX_DOC 64

struct doc_col {
	char name[64];
	char unit[128];
};

/* cell - the text of the @k-th cell of a table line @l (trimmed) into @out. */
static bool cell(const char *l, int k, char *out, size_t n)
{
	const char *p = l;
	size_t len;

	for (int i = 0; i <= k; i++) {
		p = strchr(p, '|');
		if (p == NULL)
			return false;
		p++;
	}
	while (*p == ' ')
		p++;
	len = strcspn(p, "|");
	while (len > 0 && p[len - 1] == ' ')
		len--;
	snprintf(out, n, "%.*s", (int)len, p);
	return true;
}

/* read_doc - the columns the README's results.csv table lists. */
static size_t read_doc(const char *path, struct doc_col *out)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	bool section = false, table = false;
	size_t n = 0;

	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char name[128];

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "## ", 3) == 0) {
			if (table)
				break;
			section = strcmp(line, "## results.csv") == 0;
			continue;
		}
		if (!section)
			continue;
		if (strncmp(line, "| column |", 10) == 0) {
			table = true;
			continue;
		}
		if (!table || strncmp(line, "|---", 4) == 0)
			continue;
		if (line[0] != '|')
			break;
		CHECK(n < MAX_DOC);
		CHECK(cell(line, 0, name, sizeof(name)));
		CHECK(name[0] == '`' && name[strlen(name) - 1] == '`');
		snprintf(out[n].name, sizeof(out[n].name), "%.*s", (int)strlen(name) - 2, name + 1);
		CHECK(cell(line, 1, out[n].unit, sizeof(out[n].unit)));
		n++;
	}
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	struct doc_col doc[MAX_DOC];
	size_t n_doc, bad = 0, len = 0;
	char header[1024] = "";

	if (argc != 2) {
		fprintf(stderr, "usage: test_columns PATH/TO/results/README.md\n");
		return 1;
	}
	n_doc = read_doc(argv[1], doc);
	CHECK(n_doc > 0);
	for (size_t i = 0; i < n_doc || i < pb_n_columns; i++) {
		const struct pb_column *c = i < pb_n_columns ? &pb_columns[i] : NULL;
		const struct doc_col *d = i < n_doc ? &doc[i] : NULL;

		if (c == NULL || d == NULL || strcmp(c->name, d->name) != 0) {
			fprintf(stderr, "column %zu: the table has %s, results/README.md has %s\n",
				i + 1, c ? c->name : "nothing", d ? d->name : "nothing");
			bad++;
			continue;
		}
		if (c->unit != NULL && strcmp(c->unit, d->unit) != 0) {
			fprintf(stderr, "%s: unit '%s' in the table, '%s' in results/README.md\n",
				c->name, c->unit, d->unit);
			bad++;
		}
		if (c->unit == NULL && strchr(d->unit, '`') == NULL) {
			fprintf(stderr,
				"%s: no unit in the table, but results/README.md says '%s'\n",
				c->name, d->unit);
			bad++;
		}
	}
	CHECK_EQ(bad, 0);

	for (size_t c = 0; c < pb_n_columns; c++) {
		len += (size_t)snprintf(header + len, sizeof(header) - len, "%s%s", c ? "," : "",
					pb_columns[c].name);
		CHECK_EQ(pb_column_find(pb_columns[c].name), (long long)c);
		if (pb_columns[c].in_key) {
			CHECK(pb_columns[c].src == PB_SRC_ROW);
			CHECK(pb_columns[c].absent == NULL ||
			      strcmp(pb_columns[c].name, "pin") == 0 ||
			      strcmp(pb_columns[c].name, "timeout_ns") == 0);
		}
	}
	CHECK(strcmp(header, pb_csv_header()) == 0);
	CHECK_EQ(pb_column_find("no_such_column"), -1);
	printf("test_columns: %zu columns agree with %s\n", pb_n_columns, argv[1]);
	return 0;
}
