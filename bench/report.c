/* SPDX-License-Identifier: MIT */
/*
 * The summary of a run: summary.md and the same tables on the terminal.
 *
 * Rows are grouped into scenarios (same configuration key but the kind, model.h); per scenario
 * and kind it reports the median (min-max) throughput over the repetitions, never a single
 * figure (a configuration often runs at two speeds on a VM), the median p50 and p99 latency,
 * the best kind (highest median) and the lock-free/lock-based ratios lockfree/mutex and
 * urcu/mutex (ratios of medians measured in the same run: absolute figures drift between
 * runs, ratios much less), and when a peer ran (a runner with .peer: Go's own channels, kind
 * "go", bench/go) every other kind's ratio to it, <kind>/go. A sweep over several values of a
 * runner's parallelism (--gomaxprocs 1,2) gives each value a column, go@N (the ratios then
 * compare with the best of them in that scenario). Each pattern's tables say what it counts
 * and what its latency spans (struct pl_pattern.throughput, .latency), so a reader is never
 * told that a shutdown latency is "send to receive".
 *
 * Any row with lost != 0 is a correctness failure, not a performance figure: it is listed
 * first, loudly, and the caller exits non-zero.
 */
#include "bench.h"
#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* struct rows - a run's rows and the scenario key of each, computed once. */
struct rows {
	const struct pb_run *run;
	char (*scen)[PB_KEY_MAX];
};

static bool same_scenario(const struct rows *v, size_t i, size_t j)
{
	return strcmp(v->scen[i], v->scen[j]) == 0;
}

/* struct cell - one scenario x kind: medians over its repetitions. */
struct cell {
	bool have;
	size_t reps;
	double tput_med, tput_min, tput_max;
	double p50_med, p99_med;
	size_t lost_rows;
};

static const struct pb_runner *runner_of_row(const struct pb_row *w)
{
	return pb_runner_of(pl_pattern_find(w->pattern), w->kind);
}

/*
 * procs_split - some scenario of @pattern has rows of a runner with a parallelism (go) at
 * several of its values (--gomaxprocs 1,2): each value then gets a column of its own, go@N,
 * rather than one median of a mix.
 */
static bool procs_split(const struct rows *v, const char *pattern)
{
	const struct pb_run *run = v->run;

	for (size_t i = 0; i < run->n_rows; i++) {
		const struct pb_row *a = &run->rows[i];

		if (strcmp(a->pattern, pattern) != 0 || runner_of_row(a)->procs == NULL)
			continue;
		for (size_t j = i + 1; j < run->n_rows; j++) {
			const struct pb_row *b = &run->rows[j];

			if (strcmp(a->kind, b->kind) == 0 && same_scenario(v, i, j) &&
			    pb_row_procs(a) != pb_row_procs(b))
				return true;
		}
	}
	return false;
}

/* row_column - the column of @w: its kind, or kind@N when the rows are split (procs_split()). */
static const char *row_column(const struct pb_row *w, bool split, char *buf, size_t n)
{
	if (!split || runner_of_row(w)->procs == NULL)
		return w->kind;
	snprintf(buf, n, "%s@%u", w->kind, pb_row_procs(w));
	return buf;
}

/* column_is_peer - the column @col (a kind, or kind@N) of @pattern is a peer's. */
static bool column_is_peer(const char *pattern, const char *col)
{
	char kind[32];

	snprintf(kind, sizeof(kind), "%.*s", (int)strcspn(col, "@"), col);
	return pb_runner_of(pl_pattern_find(pattern), kind)->peer;
}

static struct cell make_cell(const struct rows *v, size_t scen, const char *kind, bool split)
{
	const struct pb_run *run = v->run;
	struct cell c = {0};
	double *t = malloc(run->n_rows * sizeof(double) * 3 + 3 * sizeof(double));
	double *p50 = t + run->n_rows + 1, *p99 = p50 + run->n_rows + 1;
	size_t n = 0;

	if (t == NULL)
		return c;
	for (size_t i = 0; i < run->n_rows; i++) {
		const struct pb_row *w = &run->rows[i];
		char key[48];

		if (!same_scenario(v, i, scen) ||
		    strcmp(row_column(w, split, key, sizeof(key)), kind) != 0)
			continue;
		t[n] = w->tput;
		p50[n] = (double)w->lat.p50;
		p99[n] = (double)w->lat.p99;
		c.lost_rows += w->lost != 0;
		if (n == 0 || t[n] < c.tput_min)
			c.tput_min = t[n];
		if (n == 0 || t[n] > c.tput_max)
			c.tput_max = t[n];
		n++;
	}
	if (n > 0) {
		c.have = true;
		c.reps = n;
		c.tput_med = pb_median(t, n);
		c.p50_med = pb_median(p50, n);
		c.p99_med = pb_median(p99, n);
	}
	free(t);
	return c;
}

/* The kinds present in @pattern's rows, in registry order (then any others, e.g. "-"). */
static size_t kinds_of(const struct pb_run *run, const char *pattern, const char **out, size_t max,
		       bool split, char (*store)[48])
{
	const char *const *reg = pl_chan_kinds();
	size_t n = 0;

	for (; *reg != NULL && n < max; reg++)
		for (size_t i = 0; i < run->n_rows; i++)
			if (strcmp(run->rows[i].pattern, pattern) == 0 &&
			    strcmp(run->rows[i].kind, *reg) == 0) {
				out[n++] = *reg;
				break;
			}
	for (size_t i = 0; i < run->n_rows && n < max; i++) {
		bool seen = strcmp(run->rows[i].pattern, pattern) != 0;
		const char *key = row_column(&run->rows[i], split, store[n], sizeof(store[n]));

		for (size_t k = 0; k < n && !seen; k++)
			seen = strcmp(out[k], key) == 0;
		if (!seen)
			out[n++] = key; /* the row's kind, or store[n] (go@N) */
	}
	return n;
}

/* Where the two outputs differ: separators and emphasis. */
struct out {
	FILE *f;
	bool md;
};

static void cell_sep(const struct out *o, int width, const char *s)
{
	if (o->md)
		fprintf(o->f, " %s |", s);
	else
		fprintf(o->f, " %-*s", width, s);
}

static const char *cell_tput(const struct cell *c, char *buf, size_t n)
{
	char a[16], b[16], m[16];

	if (!c->have)
		return "-";
	if (c->reps == 1)
		snprintf(buf, n, "%s", pb_fmt_tput(c->tput_med, m, sizeof(m)));
	else
		snprintf(buf, n, "%s (%s-%s)", pb_fmt_tput(c->tput_med, m, sizeof(m)),
			 pb_fmt_tput(c->tput_min, a, sizeof(a)),
			 pb_fmt_tput(c->tput_max, b, sizeof(b)));
	if (c->lost_rows)
		snprintf(buf + strlen(buf), n - strlen(buf), " LOST!");
	return buf;
}

static const char *ratio(const struct cell *num, const struct cell *den, char *buf, size_t n)
{
	if (!num->have || !den->have || den->tput_med <= 0)
		return "-";
	snprintf(buf, n, "%.3gx", num->tput_med / den->tput_med);
	return buf;
}

static void pattern_tables(const struct rows *v, const char *pattern, const struct out *o)
{
	const struct pb_run *run = v->run;
	const struct pl_pattern *pat = pl_pattern_find(pattern);
	const char *kinds[PB_MAX_KINDS + 4];
	char store[PB_MAX_KINDS + 4][48];
	const bool split = procs_split(v, pattern);
	size_t nk = kinds_of(run, pattern, kinds, PB_MAX_KINDS + 4, split, store);
	size_t vs_peer[PB_MAX_KINDS + 4], n_vs = 0; /* the columns compared with the peer */
	char peer[32] = "";
	int lf = -1, mx = -1, ur = -1;
	const char *counts = pat && pat->throughput ? pat->throughput : "M msg/s";
	const char *lat_what = pat && pat->latency ? pat->latency : "per message";
	char label[96], buf[64], buf2[64];
	int width = 16; /* of the scenario column: the longest label */

	for (size_t i = 0; i < run->n_rows; i++)
		if (strcmp(run->rows[i].pattern, pattern) == 0) {
			pb_row_label(&run->rows[i], PB_LABEL_SCENARIO, label, sizeof(label));
			if ((int)strlen(label) > width)
				width = (int)strlen(label);
		}

	for (size_t k = 0; k < nk; k++) {
		if (strcmp(kinds[k], "lockfree") == 0)
			lf = (int)k;
		if (strcmp(kinds[k], "mutex") == 0)
			mx = (int)k;
		if (strcmp(kinds[k], "urcu") == 0)
			ur = (int)k;
		if (peer[0] == '\0' && column_is_peer(pattern, kinds[k]))
			snprintf(peer, sizeof(peer), "%.*s", (int)strcspn(kinds[k], "@"), kinds[k]);
	}
	for (size_t k = 0; k < nk && peer[0]; k++)
		if (!column_is_peer(pattern, kinds[k]) && strcmp(kinds[k], "-") != 0)
			vs_peer[n_vs++] = k;
	/* No latency recorded (--no-latency): no latency table rather than a table of zeros. */
	bool any_lat = false;
	for (size_t i = 0; i < run->n_rows && !any_lat; i++)
		any_lat = strcmp(run->rows[i].pattern, pattern) == 0 && run->rows[i].lat.max > 0;
	for (int table = 0; table < (any_lat ? 2 : 1); table++) {
		/* The title: a markdown heading, or a plain line for the terminal. */
		if (table == 0)
			fprintf(o->f,
				o->md ? "\n### %s: %s, median (min-max)\n\n"
				      : "\n%s: %s, median (min-max) over reps\n",
				pattern, counts);
		else
			fprintf(o->f,
				o->md ? "\n### %s: latency p50 / p99 (%s), medians\n\n"
				      : "\n%s: latency p50 / p99 (%s), medians over reps\n",
				pattern, lat_what);
		if (o->md) {
			fprintf(o->f, "| scenario |");
			for (size_t k = 0; k < nk; k++)
				fprintf(o->f, " %s |", kinds[k]);
			if (table == 0) {
				fprintf(o->f, " best | lockfree/mutex | urcu/mutex |");
				for (size_t c = 0; c < n_vs; c++)
					fprintf(o->f, " %s/%s |", kinds[vs_peer[c]], peer);
			}
			fprintf(o->f, "\n|---|");
			for (size_t k = 0; k < nk + (table == 0 ? 3 + n_vs : 0); k++)
				fprintf(o->f, "---|");
			fputc('\n', o->f);
		} else {
			fprintf(o->f, "%-*s", width, "scenario");
			for (size_t k = 0; k < nk; k++)
				fprintf(o->f, " %-20s", kinds[k]);
			if (table == 0) {
				fprintf(o->f, " %-9s %-8s %-8s", "best", "lf/mutex", "urcu/mx");
				for (size_t c = 0; c < n_vs; c++) {
					snprintf(buf, sizeof(buf), "%s/%s", kinds[vs_peer[c]],
						 peer);
					fprintf(o->f, " %-11s", buf);
				}
			}
			fputc('\n', o->f);
		}
		for (size_t i = 0; i < run->n_rows; i++) {
			const struct pb_row *w = &run->rows[i];
			struct cell cells[PB_MAX_KINDS + 4];
			bool first = strcmp(w->pattern, pattern) == 0;
			int best = -1;

			for (size_t j = 0; j < i && first; j++)
				first = !same_scenario(v, j, i);
			if (!first)
				continue;
			pb_row_label(w, PB_LABEL_SCENARIO, label, sizeof(label));
			if (o->md)
				fprintf(o->f, "| %s |", label);
			else
				fprintf(o->f, "%-*s", width, label);
			for (size_t k = 0; k < nk; k++) {
				cells[k] = make_cell(v, i, kinds[k], split);
				if (cells[k].have &&
				    (best < 0 || cells[k].tput_med > cells[best].tput_med))
					best = (int)k;
				if (table == 0) {
					cell_sep(o, 20, cell_tput(&cells[k], buf, sizeof(buf)));
				} else if (!cells[k].have) {
					cell_sep(o, 20, "-");
				} else {
					char a[24], b[24];

					snprintf(buf, sizeof(buf), "%s / %s",
						 pb_fmt_ns(cells[k].p50_med, a, sizeof(a)),
						 pb_fmt_ns(cells[k].p99_med, b, sizeof(b)));
					cell_sep(o, 20, buf);
				}
			}
			if (table == 0) {
				static const struct cell none = {0};
				const struct cell *L = lf >= 0 ? &cells[lf] : &none;
				const struct cell *M = mx >= 0 ? &cells[mx] : &none;
				const struct cell *U = ur >= 0 ? &cells[ur] : &none;

				const struct cell *G = &none;

				cell_sep(o, 9, best >= 0 ? kinds[best] : "-");
				cell_sep(o, 8, ratio(L, M, buf, sizeof(buf)));
				cell_sep(o, 8, ratio(U, M, buf2, sizeof(buf2)));
				/* The peer: its one column, or its best column (go@N) here. */
				for (size_t k = 0; k < nk; k++)
					if (column_is_peer(pattern, kinds[k]) && cells[k].have &&
					    (!G->have || cells[k].tput_med > G->tput_med))
						G = &cells[k];
				for (size_t c = 0; c < n_vs; c++)
					cell_sep(o, 11,
						 ratio(&cells[vs_peer[c]], G, buf, sizeof(buf)));
			}
			fputc('\n', o->f);
		}
	}
}

static void notes(const struct out *o, const char *title, const struct pb_note *v, size_t n)
{
	if (n == 0)
		return;
	fprintf(o->f, o->md ? "\n### %s (%zu)\n\n" : "\n%s (%zu):\n", title, n);
	for (size_t i = 0; i < n; i++)
		fprintf(o->f, o->md ? "- `%s`: %s\n" : "  %s: %s\n", v[i].point, v[i].why);
}

static size_t write_summary(const struct rows *v, const struct out *o)
{
	const struct pb_run *run = v->run;
	const struct pb_sysinfo *s = &run->sys;
	const char *patterns[32];
	size_t np = 0, lost = pb_run_lost_rows(run);

	if (o->md)
		fprintf(o->f, "# patlab run %s\n\n", s->run_id);
	else
		fprintf(o->f, "\n== patlab summary: run %s\n", s->run_id);
	fprintf(o->f, "%s%s, %u cpus, %s%s%s, %s build, git %s; %zu rows (%s)\n",
		o->md ? "" : "   ", s->cpu_model, s->cpus, s->kernel, s->kernel[0] ? ", " : "",
		s->compiler, s->build_type, s->git_rev, run->n_rows, run->status);
	if (s->sanitized)
		fprintf(o->f,
			"%sSANITIZED BUILD: these numbers measure the sanitizer, not the "
			"kinds. Use the release preset for real figures.%s\n",
			o->md ? "\n**" : "   !! ", o->md ? "**" : "");
	if (lost > 0) {
		fprintf(o->f,
			o->md ? "\n## LOST MESSAGES: %zu row(s) with lost != 0\n\n"
			      : "\n!!!!!!!! LOST MESSAGES: %zu row(s) with lost != 0: a kind "
				"lost messages; these are bugs, not figures !!!!!!!!\n",
			lost);
		for (size_t i = 0; i < run->n_rows; i++) {
			const struct pb_row *w = &run->rows[i];
			char label[96];

			if (w->lost == 0)
				continue;
			pb_row_label(w, PB_LABEL_SCENARIO, label, sizeof(label));
			fprintf(o->f,
				o->md ? "- **%s %s %s rep %u: %llu lost**\n"
				      : "!!! %s %s %s rep %u: %llu messages lost\n",
				w->pattern, w->kind, label, w->rep, (unsigned long long)w->lost);
		}
	}
	if (o->md && run->n_rows > 0) {
		fprintf(o->f, "\nMedians (min-max) over %u repetitions of ", run->reps);
		if (run->messages)
			fprintf(o->f, "%llu messages", (unsigned long long)run->messages);
		else
			fprintf(o->f, "%g s", run->seconds);
		fprintf(o->f,
			" each (after %g s warm-up), interleaved across kinds. Columns: "
			"`results/README.md`.\n",
			run->warmup_s);
	}
	for (size_t i = 0; i < run->n_rows; i++) {
		bool seen = false;

		for (size_t k = 0; k < np && !seen; k++)
			seen = strcmp(patterns[k], run->rows[i].pattern) == 0;
		if (!seen && np < 32)
			patterns[np++] = run->rows[i].pattern;
	}
	for (size_t k = 0; k < np; k++)
		pattern_tables(v, patterns[k], o);
	notes(o, "skipped points", run->skipped, run->n_skipped);
	notes(o, "FAILED points", run->failed, run->n_failed);
	return lost;
}

size_t pb_report(const struct pb_run *run, FILE *term, const char *md_path, int *md_err)
{
	struct out o = {.f = term, .md = false};
	struct rows v = {.run = run, .scen = calloc(run->n_rows + 1, sizeof(*v.scen))};
	size_t lost = 0;

	*md_err = 0;
	if (v.scen == NULL) {
		fputs("patlab: out of memory\n", stderr);
		abort();
	}
	for (size_t i = 0; i < run->n_rows; i++)
		pb_row_key(&run->rows[i], false, v.scen[i], sizeof(v.scen[i]));

	if (term != NULL) {
		/* Through memory, to drop the padding at the ends of lines. */
		char *buf = NULL, *r, *w;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);

		if (m == NULL)
			goto out;
		o.f = m;
		lost = write_summary(&v, &o);
		fclose(m);
		for (r = w = buf; *r != '\0'; r++) {
			if (*r == '\n')
				while (w > buf && w[-1] == ' ')
					w--;
			*w++ = *r;
		}
		*w = '\0';
		fputs(buf, term);
		free(buf);
	}
	if (md_path != NULL) {
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);
		int e;

		if (m == NULL) {
			*md_err = -ENOMEM;
			fprintf(stderr, "patlab: cannot write %s: %s\n", md_path, strerror(ENOMEM));
			goto out;
		}
		o.f = m;
		o.md = true;
		lost = write_summary(&v, &o);
		fclose(m);
		e = pb_write_atomic(md_path, buf, len);
		if (e != 0) {
			*md_err = e;
			fprintf(stderr, "patlab: cannot write %s: %s\n", md_path, strerror(-e));
		}
		free(buf);
	}
out:
	free(v.scen);
	return lost;
}
