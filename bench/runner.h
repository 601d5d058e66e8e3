/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_BENCH_RUNNER_H
#define PATLAB_BENCH_RUNNER_H

/*
 * Runners: what runs a point of a channel kind.
 *
 *   lib  (runner.c)    the registry's kinds (pl_chan_kinds()), through pl_pattern_run() in
 *                      this process
 *   go   (go/gorun.c)  Go's own channels, kind "go": one bench/go/patlab-go process per run
 *
 * Planning, execution, the summary and meta.json ask the runner of a kind (pb_runner_of())
 * what it can do instead of testing kind names; a runner added is one struct and one line in
 * the table of runner.c. Every runner turns its result into a struct pl_result, so rows, the
 * CSV and the summary are the same for all. Everything runs on the main thread.
 */

#include "model.h"

/*
 * struct pb_runner - one way of running points. Optional ops say what NULL means.
 * @name:       "lib", "go".
 * @peer:       its kind is not one of patlab's but a reference the others are compared
 *              with: the summary adds every other kind's ratio to it, "<kind>/<peer>".
 * @procs:      the name of a process-wide parallelism its points take (go: "gomaxprocs"):
 *              swept by --gomaxprocs, stored as the first extra of its rows; NULL: none.
 * @kinds_doc:  how its kinds are named in a list of valid --chan values; NULL: their names.
 * @kinds:      the kinds it runs, NULL-terminated.
 * @available:  can it run anything here (go: patlab-go was found)? `--chan all` includes its
 *              kinds only then; a kind named explicitly is planned anyway, its points skipped
 *              with the reason. NULL: always.
 * @kind_info:  what @kind accepts (capacities, spsc): 0, or -EINVAL for a kind not its own.
 * @supports:   does it run @pat at all? NULL: every pattern.
 * @list:       its lines of `patlab list`.
 * @check:      can the point run: 0, or -ENOTSUP / -EINVAL with @r->why (pure, cheap).
 * @run:        run the point once, filling @r as pl_pattern_run() does; @procs: the point's
 *              parallelism (runners with @procs), else 0; *@spawn_ms: the start-up of a
 *              process it started for the run, else NAN. 0, -ENOTSUP (skipped; @r->why) or
 *              -errno (failed; @r->why).
 * @auto_procs: the parallelism when --gomaxprocs says 'auto' (runners with @procs).
 * @meta:       its member of meta.json ("  \"go\": {...},\n"), NULL: none.
 */
struct pb_runner {
	const char *name;
	bool peer;
	const char *procs;
	const char *kinds_doc;
	const char *const *(*kinds)(void);
	bool (*available)(void);
	int (*kind_info)(const char *kind, struct pl_chan_kind_info *out);
	bool (*supports)(const struct pl_pattern *pat);
	void (*list)(FILE *f);
	int (*check)(const struct pl_pattern *pat, const struct pl_params *p, struct pl_result *r);
	int (*run)(const struct pl_pattern *pat, const struct pl_params *p, unsigned procs,
		   struct pl_result *r, double *spawn_ms);
	unsigned (*auto_procs)(const struct pl_pattern *pat, const struct pl_params *p);
	void (*meta)(const struct pb_run *run, struct pb_buf *b);
};

extern const struct pb_runner pb_runner_lib, pb_runner_go;

/* pb_runners - every runner, NULL-terminated, lib first. */
const struct pb_runner *const *pb_runners(void);

/*
 * pb_runner_of - the runner of @kind for @pat: the one whose kinds include @kind (lib for a
 * kind nobody runs, whose check then names the valid kinds, and for a pattern that reads no
 * kind).
 */
const struct pb_runner *pb_runner_of(const struct pl_pattern *pat, const char *kind);

/* pb_runner_available - @r->available(), or true when it has none. */
bool pb_runner_available(const struct pb_runner *r);

/* pb_row_procs - the parallelism @w ran with (its runner's @procs extra); 0: none. */
unsigned pb_row_procs(const struct pb_row *w);

#endif /* PATLAB_BENCH_RUNNER_H */
