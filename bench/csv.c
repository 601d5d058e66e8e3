/* SPDX-License-Identifier: MIT */
/*
 * results.csv and meta.json.
 *
 * The CSV has one row per point x repetition, the columns of DESIGN.md "Results" first and in
 * that order, then ours (results/README.md documents each). No field ever contains a comma,
 * a quote or a newline (pb_field_clean()), so no quoting is used and `cut -d,`, awk and
 * gnuplot read it as is.
 *
 * pb_csv_read() reads such a file back (for `patlab report`), finding columns by name.
 *
 * Both files are written atomically: the whole file goes to "<path>.tmp.<pid>", then rename()
 * replaces the old one. The CSV is rewritten after every finished row, so an interrupted sweep
 * (Ctrl-C, a kill, a crash in a later point) always leaves a valid file holding every finished
 * row. No fsync: rename is atomic against interruption of this process, which is what matters
 * here, and a sync per row would put disk flushes between measurements.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char header[] =
    "run_id,timestamp_utc,git_rev,host,cpu_model,cpus,compiler,pattern,chan_kind,producers,"
    "consumers,stages,queue_depth,work_ns,rate_target,policy,rep,messages,seconds,"
    "throughput_mps,lat_p50_ns,lat_p90_ns,lat_p99_ns,lat_p999_ns,lat_max_ns,dropped,rejected,"
    "lost,spin_ns,build_type,warmup_s,lat_mean_ns,seed,timeout_ns,pin,extras";

const char *pb_csv_header(void)
{
	return header;
}

int pb_csv_format_row(const struct pb_run *run, const struct pb_row *w, char *buf, size_t n)
{
	const struct pb_sysinfo *s = &run->sys;
	char depth[32];
	int len;

	if (w->depth == PB_DEPTH_UNBOUNDED)
		snprintf(depth, sizeof(depth), "unbounded");
	else
		snprintf(depth, sizeof(depth), "%llu", (unsigned long long)w->depth);
	len = snprintf(buf, n,
		       "%s,%s,%s,%s,%s,%u,%s,%s,%s,%u,%u,%u,%s,%lld,%.6g,%s,%u,%llu,%.6f,%.1f,"
		       "%lld,%lld,%lld,%lld,%lld,%llu,%llu,%llu,%lld,%s,%.6g,%.1f,%llu,%lld,%s,%s",
		       s->run_id, w->timestamp, s->git_rev, s->host, s->cpu_model, s->cpus,
		       s->compiler, w->pattern, w->kind, w->producers, w->consumers, w->stages,
		       depth, (long long)w->work_ns, w->rate, w->policy, w->rep,
		       (unsigned long long)w->messages, w->seconds, w->tput, (long long)w->lat.p50,
		       (long long)w->lat.p90, (long long)w->lat.p99, (long long)w->lat.p999,
		       (long long)w->lat.max, (unsigned long long)w->dropped,
		       (unsigned long long)w->rejected, (unsigned long long)w->lost,
		       (long long)w->spin_ns, s->build_type, w->warmup_s, w->lat.mean,
		       (unsigned long long)w->seed, (long long)w->timeout_ns, w->pin, w->extras);
	return len < 0 || (size_t)len >= n ? -1 : len;
}

int pb_write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX + 32];
	FILE *f;
	int err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	if (fwrite(data, 1, len, f) != len)
		err = -errno;
	if (fclose(f) != 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = -errno;
	if (err != 0)
		unlink(tmp);
	return err;
}

/* A growing string; aborts on out of memory (the results would be lost anyway). */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int need;

	va_start(ap, fmt);
	need = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (need < 0)
		return;
	if (b->len + (size_t)need + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + (size_t)need + 1)
			cap *= 2;
		b->s = realloc(b->s, cap);
		if (b->s == NULL) {
			fputs("patlab: out of memory\n", stderr);
			abort();
		}
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)need;
}

int pb_csv_write(const struct pb_run *run, const char *path)
{
	struct sbuf b = {0};
	char line[2048];
	int err;

	sb_printf(&b, "%s\n", header);
	for (size_t i = 0; i < run->n_rows; i++) {
		if (pb_csv_format_row(run, &run->rows[i], line, sizeof(line)) < 0) {
			free(b.s);
			return -EOVERFLOW;
		}
		sb_printf(&b, "%s\n", line);
	}
	err = pb_write_atomic(path, b.s, b.len);
	free(b.s);
	return err;
}

static void json_str(struct sbuf *b, const char *s)
{
	sb_printf(b, "\"");
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			sb_printf(b, "\\%c", c);
		else if (c < 0x20)
			sb_printf(b, "\\u%04x", c);
		else
			sb_printf(b, "%c", c);
	}
	sb_printf(b, "\"");
}

static void json_kv(struct sbuf *b, const char *key, const char *val, bool comma)
{
	sb_printf(b, "  ");
	json_str(b, key);
	sb_printf(b, ": ");
	json_str(b, val);
	sb_printf(b, comma ? ",\n" : "\n");
}

static void json_notes(struct sbuf *b, const char *key, const struct pb_note *v, size_t n)
{
	sb_printf(b, "  ");
	json_str(b, key);
	sb_printf(b, ": [");
	for (size_t i = 0; i < n; i++) {
		sb_printf(b, "%s\n    {\"point\": ", i ? "," : "");
		json_str(b, v[i].point);
		sb_printf(b, ", \"why\": ");
		json_str(b, v[i].why);
		sb_printf(b, "}");
	}
	sb_printf(b, n ? "\n  ],\n" : "],\n");
}

/*
 * json_go - the "go" object: patlab-go (binary, Go version), GOMAXPROCS as asked for and the
 * values the Go rows ran with (their extras say gomaxprocs=N, row by row), and patlab-go's
 * process start-up (exec -> main), which happens before its start gate, outside the window.
 */
static void json_go(struct sbuf *b, const struct pb_run *run)
{
	const struct pb_go_info *g = pb_go_probe();
	unsigned used[64];
	size_t n_used = 0, go_rows = 0;

	for (size_t i = 0; i < run->n_rows; i++) {
		const char *e = strstr(run->rows[i].extras, "gomaxprocs=");
		unsigned v;
		bool seen = false;

		if (!pb_kind_is_go(run->rows[i].kind))
			continue;
		go_rows++;
		if (e == NULL || sscanf(e, "gomaxprocs=%u", &v) != 1)
			continue;
		for (size_t k = 0; k < n_used && !seen; k++)
			seen = used[k] == v;
		if (!seen && n_used < sizeof(used) / sizeof(used[0]))
			used[n_used++] = v;
	}
	sb_printf(b, "  \"go\": {\n    \"available\": %s,\n    \"binary\": ",
		  g->available ? "true" : "false");
	json_str(b, g->path);
	sb_printf(b, ",\n    \"version\": ");
	json_str(b, g->available ? g->version : "none");
	if (!g->available) {
		sb_printf(b, ",\n    \"why\": ");
		json_str(b, g->why);
	}
	sb_printf(b, ",\n    \"gomaxprocs\": ");
	json_str(b, run->gomaxprocs[0] ? run->gomaxprocs : "auto");
	sb_printf(b, ",\n    \"gomaxprocs_auto\": ");
	json_str(b, "min(online cpus, the threads the C workload runs for the point)");
	sb_printf(b, ",\n    \"gomaxprocs_used\": [");
	for (size_t k = 0; k < n_used; k++)
		sb_printf(b, "%s%u", k ? ", " : "", used[k]);
	sb_printf(b, "],\n    \"rows\": %zu,\n    \"runs\": %zu", go_rows, run->go_runs);
	if (run->go_runs > 0)
		sb_printf(b, ",\n    \"start_ms\": {\"min\": %.3f, \"mean\": %.3f, \"max\": %.3f}",
			  run->go_start_ms_min, run->go_start_ms_sum / (double)run->go_runs,
			  run->go_start_ms_max);
	sb_printf(b, "\n  },\n");
}

int pb_meta_write(const struct pb_run *run, const char *path)
{
	const struct pb_sysinfo *s = &run->sys;
	struct sbuf b = {0};
	size_t lost = 0;
	int err;

	for (size_t i = 0; i < run->n_rows; i++)
		lost += run->rows[i].lost != 0;
	sb_printf(&b, "{\n");
	json_kv(&b, "run_id", s->run_id, true);
	json_kv(&b, "status", run->status, true);
	json_kv(&b, "started_utc", run->started, true);
	json_kv(&b, "finished_utc", run->finished, true);
	sb_printf(&b, "  \"command\": [");
	for (int i = 0; i < run->argc; i++) {
		if (i)
			sb_printf(&b, ", ");
		json_str(&b, run->argv[i]);
	}
	sb_printf(&b, "],\n");
	json_kv(&b, "git_rev", s->git_rev, true);
	json_kv(&b, "host", s->host, true);
	json_kv(&b, "cpu_model", s->cpu_model, true);
	sb_printf(&b, "  \"cpus\": %u,\n", s->cpus);
	json_kv(&b, "kernel", s->kernel, true);
	json_kv(&b, "clocksource", s->clocksource, true);
	json_kv(&b, "clock", s->clock, true);
	json_kv(&b, "compiler", s->compiler, true);
	json_kv(&b, "c_flags", s->flags, true);
	json_kv(&b, "build_type", s->build_type, true);
	sb_printf(&b, "  \"sanitized\": %s,\n", s->sanitized ? "true" : "false");
	json_kv(&b, "preset", run->preset ? run->preset : "none", true);
	sb_printf(&b, "  \"reps\": %u,\n  \"seconds\": %g,\n  \"warmup_s\": %g,\n", run->reps,
		  run->seconds, run->warmup_s);
	sb_printf(&b, "  \"messages\": %llu,\n  \"seed\": %llu,\n  \"latency_recorded\": %s,\n",
		  (unsigned long long)run->messages, (unsigned long long)run->seed,
		  run->latency ? "true" : "false");
	if (run->lat_sample > 0)
		sb_printf(&b, "  \"lat_sample\": %llu,\n", (unsigned long long)run->lat_sample);
	else
		json_kv(&b, "lat_sample", "auto", true);
	sb_printf(&b, "  \"points\": %zu,\n  \"runs_planned\": %zu,\n  \"rows\": %zu,\n",
		  run->points, run->runs_total, run->n_rows);
	sb_printf(&b, "  \"rows_with_lost_messages\": %zu,\n", lost);
	json_go(&b, run);
	json_notes(&b, "skipped", run->skipped, run->n_skipped);
	json_notes(&b, "failed", run->failed, run->n_failed);
	json_kv(&b, "csv_schema", header, false);
	sb_printf(&b, "}\n");
	err = pb_write_atomic(path, b.s, b.len);
	free(b.s);
	return err;
}

/* ---------------------------------------------------------------- reading back */

enum {
	C_RUN_ID,
	C_TIMESTAMP,
	C_GIT_REV,
	C_HOST,
	C_CPU_MODEL,
	C_CPUS,
	C_COMPILER,
	C_PATTERN,
	C_KIND,
	C_PRODUCERS,
	C_CONSUMERS,
	C_STAGES,
	C_DEPTH,
	C_WORK,
	C_RATE,
	C_POLICY,
	C_REP,
	C_MESSAGES,
	C_SECONDS,
	C_TPUT,
	C_P50,
	C_P90,
	C_P99,
	C_P999,
	C_MAX,
	C_DROPPED,
	C_REJECTED,
	C_LOST,
	C_SPIN,
	C_BUILD,
	C_WARMUP,
	C_MEAN,
	C_SEED,
	C_TIMEOUT,
	C_PIN,
	C_EXTRAS,
	C_N
};

/* The column names in header order; the first C_LOST + 1 are required (DESIGN.md). */
static const char *const col_names[C_N] = {
    "run_id",	   "timestamp_utc",  "git_rev",	    "host",	  "cpu_model",	"cpus",
    "compiler",	   "pattern",	     "chan_kind",   "producers",  "consumers",	"stages",
    "queue_depth", "work_ns",	     "rate_target", "policy",	  "rep",	"messages",
    "seconds",	   "throughput_mps", "lat_p50_ns",  "lat_p90_ns", "lat_p99_ns", "lat_p999_ns",
    "lat_max_ns",  "dropped",	     "rejected",    "lost",	  "spin_ns",	"build_type",
    "warmup_s",	   "lat_mean_ns",    "seed",	    "timeout_ns", "pin",	"extras",
};

static void copy_field(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src != NULL ? src : "-");
}

static long long ll_of(const char *s)
{
	return s != NULL ? strtoll(s, NULL, 10) : 0;
}

static double d_of(const char *s)
{
	return s != NULL ? strtod(s, NULL) : 0;
}

int pb_csv_read(const char *path, struct pb_run *run, char *err, size_t n)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *fields[128];
	size_t cap = 0, lineno = 0;
	int idx[C_N], e = 0;
	ssize_t len;

	if (f == NULL) {
		e = -errno;
		snprintf(err, n, "cannot open %s: %s", path, strerror(-e));
		return e;
	}
	for (int c = 0; c < C_N; c++)
		idx[c] = -1;
	while ((len = getline(&line, &cap, f)) >= 0) {
		const char *v[C_N];
		size_t nf = 0;
		char *save = NULL, *tok;
		struct pb_row *w;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		/* No field is empty or quoted (see the top of this file): strtok_r is enough. */
		for (tok = strtok_r(line, ",", &save); tok != NULL && nf < 128;
		     tok = strtok_r(NULL, ",", &save))
			fields[nf++] = tok;
		if (lineno == 1) {
			for (size_t i = 0; i < nf; i++)
				for (int c = 0; c < C_N; c++)
					if (strcmp(fields[i], col_names[c]) == 0)
						idx[c] = (int)i;
			for (int c = 0; c <= C_LOST; c++)
				if (idx[c] < 0) {
					snprintf(err, n,
						 "%s: not a patlab results.csv (no column %s)",
						 path, col_names[c]);
					e = -EINVAL;
					goto out;
				}
			continue;
		}
		for (int c = 0; c < C_N; c++)
			v[c] = idx[c] >= 0 && (size_t)idx[c] < nf ? fields[idx[c]] : NULL;
		if (v[C_LOST] == NULL || v[C_TPUT] == NULL) {
			snprintf(err, n, "%s:%zu: a short row", path, lineno);
			e = -EINVAL;
			goto out;
		}
		if (run->n_rows == 0) {
			copy_field(run->sys.run_id, sizeof(run->sys.run_id), v[C_RUN_ID]);
			copy_field(run->sys.git_rev, sizeof(run->sys.git_rev), v[C_GIT_REV]);
			copy_field(run->sys.host, sizeof(run->sys.host), v[C_HOST]);
			copy_field(run->sys.cpu_model, sizeof(run->sys.cpu_model), v[C_CPU_MODEL]);
			copy_field(run->sys.compiler, sizeof(run->sys.compiler), v[C_COMPILER]);
			copy_field(run->sys.build_type, sizeof(run->sys.build_type), v[C_BUILD]);
			run->sys.sanitized = strstr(run->sys.build_type, "sanitized") != NULL;
			run->sys.cpus = (unsigned)ll_of(v[C_CPUS]);
			run->sys.kernel[0] = '\0'; /* not in the CSV: meta.json has it */
			run->seconds = d_of(v[C_SECONDS]);
			run->warmup_s = d_of(v[C_WARMUP]);
		}
		w = pb_run_add_row(run);
		copy_field(w->timestamp, sizeof(w->timestamp), v[C_TIMESTAMP]);
		copy_field(w->pattern, sizeof(w->pattern), v[C_PATTERN]);
		copy_field(w->kind, sizeof(w->kind), v[C_KIND]);
		copy_field(w->policy, sizeof(w->policy), v[C_POLICY]);
		copy_field(w->extras, sizeof(w->extras), v[C_EXTRAS]);
		w->producers = (unsigned)ll_of(v[C_PRODUCERS]);
		w->consumers = (unsigned)ll_of(v[C_CONSUMERS]);
		w->stages = (unsigned)ll_of(v[C_STAGES]);
		w->depth = v[C_DEPTH] != NULL && strcmp(v[C_DEPTH], "unbounded") == 0
			       ? PB_DEPTH_UNBOUNDED
			       : (uint64_t)ll_of(v[C_DEPTH]);
		w->work_ns = ll_of(v[C_WORK]);
		w->rate = d_of(v[C_RATE]);
		w->spin_ns = v[C_SPIN] != NULL ? ll_of(v[C_SPIN]) : PL_CHAN_SPIN_NS_DEFAULT;
		w->timeout_ns = ll_of(v[C_TIMEOUT]);
		/* Files from before the column: every thread was placed by the OS. */
		copy_field(w->pin, sizeof(w->pin), v[C_PIN] != NULL ? v[C_PIN] : "none");
		w->rep = (unsigned)ll_of(v[C_REP]);
		w->warmup_s = d_of(v[C_WARMUP]);
		w->seed = (uint64_t)ll_of(v[C_SEED]);
		w->messages = (uint64_t)ll_of(v[C_MESSAGES]);
		w->seconds = d_of(v[C_SECONDS]);
		w->tput = d_of(v[C_TPUT]);
		w->lat.p50 = ll_of(v[C_P50]);
		w->lat.p90 = ll_of(v[C_P90]);
		w->lat.p99 = ll_of(v[C_P99]);
		w->lat.p999 = ll_of(v[C_P999]);
		w->lat.max = ll_of(v[C_MAX]);
		w->lat.mean = d_of(v[C_MEAN]);
		w->dropped = (uint64_t)ll_of(v[C_DROPPED]);
		w->rejected = (uint64_t)ll_of(v[C_REJECTED]);
		w->lost = (uint64_t)ll_of(v[C_LOST]);
		if (w->rep > run->reps)
			run->reps = w->rep;
	}
	if (lineno == 0) {
		snprintf(err, n, "%s: empty file", path);
		e = -EINVAL;
	}
out:
	free(line);
	fclose(f);
	return e;
}
