/* SPDX-License-Identifier: MIT */
/*
 * test_grids - the patterns' own descriptions and the presets built from them (bench/sweep.c).
 *
 * 1. Every registered pattern says what its messages count and what its latency spans, and
 *    every quick grid it lists parses strictly for it: a renamed policy, or an option the
 *    pattern does not read, fails here rather than in a user's sweep.
 * 2. The strict parser refuses what it must: an unknown policy, an option the pattern does
 *    not read, an option that is not a grid option, a bad value; 'rendezvous', 'multi' and
 *    -KIND mean what `patlab sweep --help` says.
 * 3. Every preset makes a plan: quick has one sub-grid per quick grid, in registry order.
 * 4. The thread counts patterns report (a peer's parallelism is sized by them) are the
 *    threads their points start.
 */
#include "bench.h"
#include "check.h"

#include <string.h>

static void expect_refused(const char *pattern, const char *grid, const char *what)
{
	struct pb_subgrid g;
	char err[512];

	pt_note("%s '%s'", pattern, grid);
	if (pb_grid_parse(pl_pattern_find(pattern), grid, &g, err, sizeof(err)) == 0)
		pt_fail(__FILE__, __LINE__, "%s grid '%s' was accepted", pattern, grid);
	if (strstr(err, what) == NULL)
		pt_fail(__FILE__, __LINE__, "%s grid '%s': '%s', want '%s'", pattern, grid, err,
			what);
}

static bool has_kind(const struct pb_subgrid *g, const char *kind)
{
	for (size_t k = 0; k < g->n_kinds; k++)
		if (strcmp(g->kinds[k], kind) == 0)
			return true;
	return false;
}

static size_t own_grids(void)
{
	size_t n = 0;

	for (const struct pl_pattern *const *p = pl_patterns(); *p != NULL; p++) {
		CHECK((*p)->throughput != NULL && (*p)->latency != NULL);
		for (const char *const *q = (*p)->quick; q != NULL && *q != NULL; q++, n++) {
			struct pb_subgrid g;
			char err[512];

			pt_note("%s '%s'", (*p)->name, *q);
			if (pb_grid_parse(*p, *q, &g, err, sizeof(err)) != 0)
				pt_fail(__FILE__, __LINE__, "%s", err);
			CHECK(g.pat == *p);
			CHECK(g.n_kinds > 0);
			for (size_t i = 0; i < g.n_policies; i++) {
				const char *const *v = (*p)->policies;

				while (v != NULL && *v != NULL && strcmp(*v, g.policies[i]) != 0)
					v++;
				CHECK(v != NULL && *v != NULL);
			}
		}
	}
	return n;
}

static void strictness(void)
{
	struct pb_subgrid g;
	char err[512];

	expect_refused("pipeline", "--policy unordered,renamed",
		       "pipeline has no policy 'renamed'");
	expect_refused("chan", "--policy block", "chan does not read --policy");
	expect_refused("worker_pool", "--stages 3", "worker_pool does not read --stages");
	expect_refused("cancellation", "--producers 2", "cancellation does not read --producers");
	expect_refused("chan", "--reps 3", "only grid options");
	expect_refused("chan", "--pattern chan", "only grid options");
	expect_refused("chan", "--help", "only grid options");
	expect_refused("chan", "--depth 1..x", "--depth");
	expect_refused("chan", "--chan nosuch", "unknown channel kind 'nosuch'");
	expect_refused("chan", "--chan mutex,-mutex", "--chan: empty list");
	expect_refused("chan", "--bogus 1", "unknown option '--bogus'");

	CHECK_EQ(pb_grid_parse(pl_pattern_find("chan"), "--depth rendezvous,1 --pin single", &g,
			       err, sizeof(err)),
		 0);
	CHECK(g.zero_rendezvous_only);
	CHECK_EQ(g.depth.n, 2);
	CHECK(g.depth.v[0] == 0 && g.depth.v[1] == 1);
	CHECK(g.pin.n == 1 && g.pin.v[0] == PL_PIN_SINGLE);
	CHECK_EQ(pb_grid_parse(pl_pattern_find("chan"), "--depth 0,1", &g, err, sizeof(err)), 0);
	CHECK(!g.zero_rendezvous_only);

	/* multi: no single-producer/single-consumer kind; -KIND drops one. */
	CHECK_EQ(pb_grid_parse(pl_pattern_find("backpressure"), "--chan multi,-lockfree", &g, err,
			       sizeof(err)),
		 0);
	CHECK(has_kind(&g, "mutex") && !has_kind(&g, "lockfree") && !has_kind(&g, "spsc"));
	CHECK_EQ(pb_grid_parse(pl_pattern_find("chan"), "--chan all,-spsc", &g, err, sizeof(err)),
		 0);
	CHECK(has_kind(&g, "mutex") && has_kind(&g, "lockfree") && !has_kind(&g, "spsc"));
	CHECK_EQ(pb_grid_parse(pl_pattern_find("chan"), "", &g, err, sizeof(err)), 0);
	CHECK(has_kind(&g, "spsc") && g.n_topos == 1 && g.depth.v[0] == 64);
}

static void presets(size_t n_quick)
{
	for (const struct pb_preset *ps = pb_presets; ps->name != NULL; ps++) {
		struct pb_opts o;
		struct pb_plan plan;
		char err[512];

		memset(&o, 0, sizeof(o));
		o.preset = ps->name;
		pt_note("preset %s", ps->name);
		if (pb_plan_make(&o, false, &plan, err, sizeof(err)) != 0)
			pt_fail(__FILE__, __LINE__, "preset %s: %s", ps->name, err);
		CHECK(plan.n_points > 0);
		CHECK_EQ(plan.reps, ps->reps);
		if (ps->grids == NULL) {
			const struct pl_pattern *const *p = pl_patterns();
			size_t s = 0;

			CHECK_EQ(plan.n_sub, n_quick);
			/* Registry order, each pattern's grids together. */
			for (; *p != NULL; p++)
				for (const char *const *q = (*p)->quick; q && *q; q++, s++)
					CHECK(plan.sub[s].pat == *p);
		}
		pb_plan_free(&plan);
	}
}

static unsigned threads_of(const char *name, unsigned producers, unsigned consumers,
			   unsigned stages)
{
	const struct pl_pattern *pat = pl_pattern_find(name);
	struct pl_params p;

	pl_params_init(&p);
	p.producers = producers;
	p.consumers = consumers;
	p.stages = stages;
	CHECK(pat != NULL);
	return pat->threads != NULL ? pat->threads(&p) : producers + consumers;
}

static void threads(void)
{
	pt_note("threads");
	CHECK_EQ(threads_of("chan", 4, 2, 1), 6);
	CHECK_EQ(threads_of("pingpong", 1, 1, 1), 2);
	CHECK_EQ(threads_of("worker_pool", 2, 4, 1), 6);
	CHECK_EQ(threads_of("cancellation", 1, 4, 1), 4);	/* one per leaf */
	CHECK_EQ(threads_of("cancellation", 1, 2, 3), 8);	/* 2^3 leaves */
	CHECK_EQ(threads_of("graceful_shutdown", 64, 2, 1), 2); /* the pool's workers */
	CHECK_EQ(threads_of("pipeline", 1, 2, 3), 1 + 2 + 2 + 1);
}

int main(void)
{
	size_t n = own_grids();

	CHECK(n >= 8);
	strictness();
	presets(n);
	threads();
	printf("test_grids: %zu quick grids parse; strictness and presets ok\n", n);
	return 0;
}
