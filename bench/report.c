/* SPDX-License-Identifier: MIT */
/*
 * The summary of a run: summary.md and the same tables on the terminal.
 *
 * Rows are grouped into scenarios (same pattern and parameters, any kind); per scenario and
 * kind it reports the median (min-max) throughput over the repetitions, never a single figure
 * (a configuration often runs at two speeds on a VM), the median p50 and p99 latency, the best
 * kind (highest median) and the lock-free/lock-based ratios lockfree/mutex and urcu/mutex
 * (ratios of medians measured in the same run: absolute figures drift between runs, ratios
 * much less), and when Go's own channels ran (kind "go", bench/go) every C kind's ratio to Go,
 * <kind>/go. A sweep over several GOMAXPROCS values gives each value a column, go@N (the
 * ratios then compare with the best of them in that scenario).
 *
 * Any row with lost != 0 is a correctness failure, not a performance figure: it is listed
 * first, loudly, and the caller exits non-zero.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

const char *pb_fmt_ns(double ns, char *buf, size_t n)
{
	if (ns < 1e3)
		snprintf(buf, n, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, n, "%.3gus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, n, "%.3gms", ns / 1e6);
	else
		snprintf(buf, n, "%.3gs", ns / 1e9);
	return buf;
}

const char *pb_fmt_tput(double mps, char *buf, size_t n)
{
	double m = mps / 1e6;

	if (m >= 100)
		snprintf(buf, n, "%.0f", m);
	else if (m >= 10)
		snprintf(buf, n, "%.1f", m);
	else if (m >= 1)
		snprintf(buf, n, "%.2f", m);
	else
		snprintf(buf, n, "%.2g", m);
	return buf;
}

static bool same_scenario(const struct pb_row *a, const struct pb_row *b)
{
	return strcmp(a->pattern, b->pattern) == 0 && a->producers == b->producers &&
	       a->consumers == b->consumers && a->stages == b->stages && a->depth == b->depth &&
	       a->work_ns == b->work_ns && a->rate == b->rate &&
	       strcmp(a->policy, b->policy) == 0 && a->spin_ns == b->spin_ns &&
	       a->timeout_ns == b->timeout_ns && strcmp(a->pin, b->pin) == 0;
}

static void scenario_label(const struct pb_row *w, char *b, size_t n)
{
	const struct pl_pattern *pat = pl_pattern_find(w->pattern);
	unsigned used = pat ? pat->params : ~0u;
	size_t len = 0;

	b[0] = '\0';
	if (used & (PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS))
		len += (size_t)snprintf(b + len, n - len, "%up%uc ", w->producers, w->consumers);
	if ((used & PL_PARAM_STAGES) && len < n)
		len += (size_t)snprintf(b + len, n - len, "%ustages ", w->stages);
	if ((used & PL_PARAM_QUEUE_DEPTH) && len < n) {
		if (w->depth == PB_DEPTH_UNBOUNDED)
			len += (size_t)snprintf(b + len, n - len, "d=unb ");
		else
			len += (size_t)snprintf(b + len, n - len, "d%llu ",
						(unsigned long long)w->depth);
	}
	if ((used & PL_PARAM_WORK_NS) && w->work_ns && len < n)
		len += (size_t)snprintf(b + len, n - len, "work=%lldns ", (long long)w->work_ns);
	if ((used & PL_PARAM_RATE) && w->rate > 0 && len < n)
		len += (size_t)snprintf(b + len, n - len, "rate=%g ", w->rate);
	if ((used & PL_PARAM_POLICY) && strcmp(w->policy, "-") != 0 && len < n)
		len += (size_t)snprintf(b + len, n - len, "%s ", w->policy);
	if ((used & PL_PARAM_SPIN) && w->spin_ns != PL_CHAN_SPIN_NS_DEFAULT && len < n)
		len += (size_t)snprintf(b + len, n - len, "spin=%lld ", (long long)w->spin_ns);
	if ((used & PL_PARAM_TIMEOUT) && w->timeout_ns && len < n)
		len +=
		    (size_t)snprintf(b + len, n - len, "timeout=%lld ", (long long)w->timeout_ns);
	if (strcmp(w->pin, "none") != 0 && len < n)
		len += (size_t)snprintf(b + len, n - len, "pin=%s ", w->pin);
	if (len > 0 && len < n)
		b[len - 1] = '\0';
	if (b[0] == '\0')
		snprintf(b, n, "default");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* struct cell - one scenario x kind: medians over its repetitions. */
struct cell {
	bool have;
	size_t reps;
	double tput_med, tput_min, tput_max;
	double p50_med, p99_med;
	size_t lost_rows;
};

static double median_of(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* go_procs - the GOMAXPROCS a go row ran with (its extras say gomaxprocs=N); 0: not said. */
static unsigned go_procs(const struct pb_row *w)
{
	const char *e = strstr(w->extras, "gomaxprocs=");
	unsigned v = 0;

	if (e == NULL || sscanf(e, "gomaxprocs=%u", &v) != 1)
		return 0;
	return v;
}

/*
 * go_split - some scenario of @pattern has go rows at several GOMAXPROCS values (--gomaxprocs
 * 1,2): each value then gets a column of its own, go@N, rather than one median of a mix.
 */
static bool go_split(const struct pb_run *run, const char *pattern)
{
	for (size_t i = 0; i < run->n_rows; i++) {
		const struct pb_row *a = &run->rows[i];

		if (strcmp(a->pattern, pattern) != 0 || !pb_kind_is_go(a->kind))
			continue;
		for (size_t j = i + 1; j < run->n_rows; j++) {
			const struct pb_row *b = &run->rows[j];

			if (pb_kind_is_go(b->kind) && same_scenario(a, b) &&
			    go_procs(a) != go_procs(b))
				return true;
		}
	}
	return false;
}

/* row_key - the column of @w: its kind, or go@N when the go rows are split (go_split()). */
static const char *row_key(const struct pb_row *w, bool split, char *buf, size_t n)
{
	if (!split || !pb_kind_is_go(w->kind))
		return w->kind;
	snprintf(buf, n, "%s@%u", PB_GO_KIND, go_procs(w));
	return buf;
}

static bool key_is_go(const char *key)
{
	size_t len = strlen(PB_GO_KIND);

	return strncmp(key, PB_GO_KIND, len) == 0 && (key[len] == '\0' || key[len] == '@');
}

static struct cell make_cell(const struct pb_run *run, const struct pb_row *scen, const char *kind,
			     bool split)
{
	struct cell c = {0};
	double *t = malloc(run->n_rows * sizeof(double) * 3 + 3 * sizeof(double));
	double *p50 = t + run->n_rows + 1, *p99 = p50 + run->n_rows + 1;
	size_t n = 0;

	if (t == NULL)
		return c;
	for (size_t i = 0; i < run->n_rows; i++) {
		const struct pb_row *w = &run->rows[i];
		char key[32];

		if (!same_scenario(w, scen) ||
		    strcmp(row_key(w, split, key, sizeof(key)), kind) != 0)
			continue;
		t[n] = w->tput;
		p50[n] = (double)w->lat.p50;
		p99[n] = (double)w->lat.p99;
		c.lost_rows += w->lost != 0;
		n++;
	}
	if (n > 0) {
		c.have = true;
		c.reps = n;
		c.tput_med = median_of(t, n);
		c.tput_min = t[0];
		c.tput_max = t[n - 1];
		c.p50_med = median_of(p50, n);
		c.p99_med = median_of(p99, n);
	}
	free(t);
	return c;
}

/* The kinds present in @pattern's rows, in registry order (then any others, e.g. "-"). */
static size_t kinds_of(const struct pb_run *run, const char *pattern, const char **out, size_t max,
		       bool split, char (*store)[32])
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
		const char *key = row_key(&run->rows[i], split, store[n], sizeof(store[n]));

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

/*
 * What a pattern's rows count and time (results/README.md, "What messages and latency mean
 * per pattern"): the tables' titles say it, so a reader is never told that a shutdown
 * latency is "send to receive".
 */
static const struct {
	const char *pattern, *counts, *latency;
} meanings[] = {
    {"chan", "M msg/s", "send to receive"},
    {"pingpong", "round trips in M/s", "round trip"},
    {"worker_pool", "M jobs/s", "submit to done"},
    {"fanout_fanin", "M requests/s", "request to gathered answer"},
    {"pipeline", "M items/s through the sink", "source to sink"},
    {"backpressure", "M msg/s delivered", "intended send to receive"},
    {"cancellation", "M workers stopped/s", "cancel to each worker stopped"},
    {"graceful_shutdown", "M shutdowns/s", "stop to fully stopped"},
};

static void meaning_of(const char *pattern, const char **counts, const char **latency)
{
	*counts = "M msg/s";
	*latency = "per message";
	for (size_t i = 0; i < sizeof(meanings) / sizeof(meanings[0]); i++)
		if (strcmp(meanings[i].pattern, pattern) == 0) {
			*counts = meanings[i].counts;
			*latency = meanings[i].latency;
		}
}

static void pattern_tables(const struct pb_run *run, const char *pattern, const struct out *o)
{
	const char *kinds[PB_MAX_KINDS + 4];
	char store[PB_MAX_KINDS + 4][32];
	const bool split = go_split(run, pattern);
	size_t nk = kinds_of(run, pattern, kinds, PB_MAX_KINDS + 4, split, store);
	size_t vs_go[PB_MAX_KINDS + 4], n_vs = 0; /* the columns compared with go */
	bool have_go = false;
	int lf = -1, mx = -1, ur = -1;
	const char *counts, *lat_what;
	char label[96], buf[64], buf2[64];
	int width = 16; /* of the scenario column: the longest label */

	meaning_of(pattern, &counts, &lat_what);
	for (size_t i = 0; i < run->n_rows; i++)
		if (strcmp(run->rows[i].pattern, pattern) == 0) {
			scenario_label(&run->rows[i], label, sizeof(label));
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
		have_go |= key_is_go(kinds[k]);
	}
	for (size_t k = 0; k < nk && have_go; k++)
		if (!key_is_go(kinds[k]) && strcmp(kinds[k], "-") != 0)
			vs_go[n_vs++] = k;
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
				for (size_t v = 0; v < n_vs; v++)
					fprintf(o->f, " %s/go |", kinds[vs_go[v]]);
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
				for (size_t v = 0; v < n_vs; v++) {
					snprintf(buf, sizeof(buf), "%s/go", kinds[vs_go[v]]);
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
				first = !same_scenario(&run->rows[j], w);
			if (!first)
				continue;
			scenario_label(w, label, sizeof(label));
			if (o->md)
				fprintf(o->f, "| %s |", label);
			else
				fprintf(o->f, "%-*s", width, label);
			for (size_t k = 0; k < nk; k++) {
				cells[k] = make_cell(run, w, kinds[k], split);
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
				/* Go: its one column, or its best GOMAXPROCS column here. */
				for (size_t k = 0; k < nk; k++)
					if (key_is_go(kinds[k]) && cells[k].have &&
					    (!G->have || cells[k].tput_med > G->tput_med))
						G = &cells[k];
				for (size_t v = 0; v < n_vs; v++)
					cell_sep(o, 11,
						 ratio(&cells[vs_go[v]], G, buf, sizeof(buf)));
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

static size_t write_summary(const struct pb_run *run, const struct out *o)
{
	const struct pb_sysinfo *s = &run->sys;
	const char *patterns[32];
	size_t np = 0, lost = 0;

	for (size_t i = 0; i < run->n_rows; i++)
		lost += run->rows[i].lost != 0;
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
			scenario_label(w, label, sizeof(label));
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
		pattern_tables(run, patterns[k], o);
	notes(o, "skipped points", run->skipped, run->n_skipped);
	notes(o, "FAILED points", run->failed, run->n_failed);
	return lost;
}

size_t pb_report(const struct pb_run *run, FILE *term, const char *md_path)
{
	struct out o = {.f = term, .md = false};
	size_t lost = 0;

	if (term != NULL) {
		/* Through memory, to drop the padding at the ends of lines. */
		char *buf = NULL, *r, *w;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);

		if (m == NULL)
			return 0;
		o.f = m;
		lost = write_summary(run, &o);
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

		if (m == NULL)
			return lost;
		o.f = m;
		o.md = true;
		lost = write_summary(run, &o);
		fclose(m);
		if (pb_write_atomic(md_path, buf, len) != 0)
			fprintf(stderr, "patlab: cannot write %s\n", md_path);
		free(buf);
	}
	return lost;
}
