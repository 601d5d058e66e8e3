/* SPDX-License-Identifier: MIT */
/*
 * results.csv and meta.json.
 *
 * The CSV has one row per point x repetition, the columns of DESIGN.md "Results" first and in
 * that order, then ours (results/README.md documents each). No field ever contains a comma,
 * a quote or a newline (pb_field_clean()), so no quoting is used and `cut -d,`, awk and
 * gnuplot read it as is.
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
    "lost,spin_ns,build_type,warmup_s,lat_mean_ns,seed,timeout_ns,extras";

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
		       "%lld,%lld,%lld,%lld,%lld,%llu,%llu,%llu,%lld,%s,%.6g,%.1f,%llu,%lld,%s",
		       s->run_id, w->timestamp, s->git_rev, s->host, s->cpu_model, s->cpus,
		       s->compiler, w->pattern, w->kind, w->producers, w->consumers, w->stages,
		       depth, (long long)w->work_ns, w->rate, w->policy, w->rep,
		       (unsigned long long)w->messages, w->seconds, w->tput, (long long)w->lat.p50,
		       (long long)w->lat.p90, (long long)w->lat.p99, (long long)w->lat.p999,
		       (long long)w->lat.max, (unsigned long long)w->dropped,
		       (unsigned long long)w->rejected, (unsigned long long)w->lost,
		       (long long)w->spin_ns, s->build_type, w->warmup_s, w->lat.mean,
		       (unsigned long long)w->seed, (long long)w->timeout_ns, w->extras);
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
	sb_printf(&b, "  \"points\": %zu,\n  \"runs_planned\": %zu,\n  \"rows\": %zu,\n",
		  run->points, run->runs_total, run->n_rows);
	sb_printf(&b, "  \"rows_with_lost_messages\": %zu,\n", lost);
	json_notes(&b, "skipped", run->skipped, run->n_skipped);
	json_notes(&b, "failed", run->failed, run->n_failed);
	json_kv(&b, "csv_schema", header, false);
	sb_printf(&b, "}\n");
	err = pb_write_atomic(path, b.s, b.len);
	free(b.s);
	return err;
}
