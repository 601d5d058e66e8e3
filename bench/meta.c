/* SPDX-License-Identifier: MIT */
/*
 * meta.json: what produced a run folder's results.csv (results/README.md lists the keys).
 *
 * The machine, the build, the command line and the settings; each runner's own member (go:
 * patlab-go, GOMAXPROCS, process start-up); the skipped and failed points; what the figures
 * of each pattern in the rows mean (its summary, what @messages counts, what a latency
 * sample spans: struct pl_pattern, so plots label their axes as the summary's tables do); and
 * the CSV header. Written atomically, like results.csv.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

static void json_kv(struct pb_buf *b, const char *key, const char *val, bool comma)
{
	pb_buf_printf(b, "  ");
	pb_json_str(b, key);
	pb_buf_printf(b, ": ");
	pb_json_str(b, val);
	pb_buf_printf(b, comma ? ",\n" : "\n");
}

static void json_notes(struct pb_buf *b, const char *key, const struct pb_note *v, size_t n)
{
	pb_buf_printf(b, "  ");
	pb_json_str(b, key);
	pb_buf_printf(b, ": [");
	for (size_t i = 0; i < n; i++) {
		pb_buf_printf(b, "%s\n    {\"point\": ", i ? "," : "");
		pb_json_str(b, v[i].point);
		pb_buf_printf(b, ", \"why\": ");
		pb_json_str(b, v[i].why);
		pb_buf_printf(b, "}");
	}
	pb_buf_printf(b, n ? "\n  ],\n" : "],\n");
}

/* json_patterns - "patterns": every registered pattern that has rows, in registry order. */
static void json_patterns(struct pb_buf *b, const struct pb_run *run)
{
	bool first = true;

	pb_buf_printf(b, "  \"patterns\": {");
	for (const struct pl_pattern *const *p = pl_patterns(); *p != NULL; p++) {
		bool has = false;

		for (size_t i = 0; i < run->n_rows && !has; i++)
			has = strcmp(run->rows[i].pattern, (*p)->name) == 0;
		if (!has)
			continue;
		pb_buf_printf(b, "%s\n    ", first ? "" : ",");
		pb_json_str(b, (*p)->name);
		pb_buf_printf(b, ": {\"summary\": ");
		pb_json_str(b, (*p)->summary);
		pb_buf_printf(b, ", \"throughput\": ");
		pb_json_str(b, (*p)->throughput ? (*p)->throughput : "M msg/s");
		pb_buf_printf(b, ", \"latency\": ");
		pb_json_str(b, (*p)->latency ? (*p)->latency : "per message");
		pb_buf_printf(b, "}");
		first = false;
	}
	pb_buf_printf(b, first ? "},\n" : "\n  },\n");
}

int pb_meta_write(const struct pb_run *run, const char *path)
{
	const struct pb_sysinfo *s = &run->sys;
	struct pb_buf b = {0};
	int err;

	pb_buf_printf(&b, "{\n");
	json_kv(&b, "run_id", s->run_id, true);
	json_kv(&b, "status", run->status, true);
	json_kv(&b, "started_utc", run->started, true);
	json_kv(&b, "finished_utc", run->finished, true);
	pb_buf_printf(&b, "  \"command\": [");
	for (int i = 0; i < run->argc; i++) {
		if (i)
			pb_buf_printf(&b, ", ");
		pb_json_str(&b, run->argv[i]);
	}
	pb_buf_printf(&b, "],\n");
	json_kv(&b, "git_rev", s->git_rev, true);
	json_kv(&b, "host", s->host, true);
	json_kv(&b, "cpu_model", s->cpu_model, true);
	pb_buf_printf(&b, "  \"cpus\": %u,\n", s->cpus);
	json_kv(&b, "kernel", s->kernel, true);
	json_kv(&b, "clocksource", s->clocksource, true);
	json_kv(&b, "clock", s->clock, true);
	json_kv(&b, "compiler", s->compiler, true);
	json_kv(&b, "c_flags", s->flags, true);
	json_kv(&b, "build_type", s->build_type, true);
	pb_buf_printf(&b, "  \"sanitized\": %s,\n", s->sanitized ? "true" : "false");
	json_kv(&b, "preset", run->preset ? run->preset : "none", true);
	pb_buf_printf(&b, "  \"reps\": %u,\n  \"seconds\": %g,\n  \"warmup_s\": %g,\n", run->reps,
		      run->seconds, run->warmup_s);
	pb_buf_printf(&b, "  \"messages\": %llu,\n  \"seed\": %llu,\n  \"latency_recorded\": %s,\n",
		      (unsigned long long)run->messages, (unsigned long long)run->seed,
		      run->latency ? "true" : "false");
	if (run->lat_sample > 0)
		pb_buf_printf(&b, "  \"lat_sample\": %llu,\n", (unsigned long long)run->lat_sample);
	else
		json_kv(&b, "lat_sample", "auto", true);
	pb_buf_printf(&b, "  \"points\": %zu,\n  \"runs_planned\": %zu,\n  \"rows\": %zu,\n",
		      run->points, run->runs_total, run->n_rows);
	pb_buf_printf(&b, "  \"rows_with_lost_messages\": %zu,\n", pb_run_lost_rows(run));
	for (const struct pb_runner *const *r = pb_runners(); *r != NULL; r++)
		if ((*r)->meta != NULL)
			(*r)->meta(run, &b);
	json_notes(&b, "skipped", run->skipped, run->n_skipped);
	json_notes(&b, "failed", run->failed, run->n_failed);
	json_patterns(&b, run);
	json_kv(&b, "csv_schema", pb_csv_header(), false);
	pb_buf_printf(&b, "}\n");
	err = pb_write_atomic(path, b.s, b.len);
	free(b.s);
	return err;
}
