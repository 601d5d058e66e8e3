/* SPDX-License-Identifier: MIT */
/*
 * The runner table and the lib runner: the registry's kinds, run in this process through the
 * pattern vtable (pl_pattern_run()). See runner.h.
 */
#include "runner.h"

#include <math.h>
#include <string.h>

static void lib_list(FILE *f)
{
	for (const char *const *k = pl_chan_kinds(); *k != NULL; k++) {
		struct pl_chan_kind_info info;

		if (pl_chan_kind_info(*k, &info) != 0)
			continue;
		fprintf(f, "  %-10s %s\n  %-10s capacities: %s1..%s%s%s\n", info.name, info.summary,
			"", info.rendezvous ? "0 (rendezvous), " : "",
			info.unbounded ? ", unbounded" : "",
			info.spsc ? "; one producer and one consumer only" : "",
			info.spins ? "; spins before parking (--spin)" : "");
	}
}

static int lib_check(const struct pl_pattern *pat, const struct pl_params *p, struct pl_result *r)
{
	return pat->check ? pat->check(p, r) : pl_pattern_check_params(pat, p, 1, 1, r);
}

static int lib_run(const struct pl_pattern *pat, const struct pl_params *p, unsigned procs,
		   struct pl_result *r, double *spawn_ms)
{
	(void)procs;
	*spawn_ms = NAN;
	return pl_pattern_run(pat, p, r);
}

const struct pb_runner pb_runner_lib = {
    .name = "lib",
    .kinds = pl_chan_kinds,
    .kind_info = pl_chan_kind_info,
    .list = lib_list,
    .check = lib_check,
    .run = lib_run,
};

static const struct pb_runner *const runners[] = {&pb_runner_lib, &pb_runner_go, NULL};

const struct pb_runner *const *pb_runners(void)
{
	return runners;
}

const struct pb_runner *pb_runner_of(const struct pl_pattern *pat, const char *kind)
{
	if (kind == NULL || (pat != NULL && !(pat->params & PL_PARAM_CHAN_KIND)))
		return &pb_runner_lib;
	for (const struct pb_runner *const *r = runners; *r != NULL; r++)
		for (const char *const *k = (*r)->kinds(); *k != NULL; k++)
			if (strcmp(*k, kind) == 0)
				return *r;
	return &pb_runner_lib;
}

bool pb_runner_available(const struct pb_runner *r)
{
	return r->available == NULL || r->available();
}

unsigned pb_row_procs(const struct pb_row *w)
{
	const struct pb_runner *r = pb_runner_of(pl_pattern_find(w->pattern), w->kind);
	double v;

	if (r->procs == NULL || !pb_row_extra(w, r->procs, &v) || !(v >= 0 && v <= 1e9))
		return 0;
	return (unsigned)v;
}
