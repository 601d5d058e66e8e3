/* SPDX-License-Identifier: MIT */
/*
 * The pattern vtable and its registry (patlab/pattern.h), and the two raw workloads.
 *
 * - Registry: unique names of [a-z0-9_], every required op present, params bits known, a
 *   policy list exactly when PL_PARAM_POLICY is set; pl_pattern_find() finds each, and
 *   nothing for unknown names.
 * - Refusals: nonsense parameters give -EINVAL, points a kind cannot run give -ENOTSUP, each
 *   with a reason, and nothing runs.
 * - chan and pingpong over every kind, by message count: exactly the messages asked for are
 *   measured, none lost, the latency histogram holds one sample per measured message, and
 *   with no histogram the run still counts.
 *
 * Not a benchmark: the runs are tiny and nothing here looks at a duration except "> 0".
 */
#include "check.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include <patlab/patlab.h>

static void check_registry(void)
{
	const struct pl_pattern *const *all = pl_patterns();
	const unsigned known = PL_PARAM_CHAN_KIND | PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS |
			       PL_PARAM_STAGES | PL_PARAM_QUEUE_DEPTH | PL_PARAM_WORK_NS |
			       PL_PARAM_RATE | PL_PARAM_POLICY | PL_PARAM_SPIN | PL_PARAM_TIMEOUT;
	size_t n = 0;

	pt_note("registry");
	CHECK(all != NULL);
	for (const struct pl_pattern *const *p = all; *p != NULL; p++, n++) {
		const struct pl_pattern *pat = *p;

		pt_note("registry: %s", pat->name);
		CHECK(pat->name != NULL && pat->name[0] != '\0');
		for (const char *c = pat->name; *c; c++)
			CHECK(islower((unsigned char)*c) || isdigit((unsigned char)*c) ||
			      *c == '_');
		CHECK(pat->summary != NULL && pat->summary[0] != '\0');
		CHECK(pat->setup != NULL && pat->run != NULL && pat->teardown != NULL);
		CHECK((pat->params & ~known) == 0);
		CHECK(((pat->params & PL_PARAM_POLICY) != 0) == (pat->policies != NULL));
		if (pat->policies != NULL)
			CHECK(pat->policies[0] != NULL);
		CHECK(pl_pattern_find(pat->name) == pat);
		for (const struct pl_pattern *const *q = all; q != p; q++)
			CHECK(strcmp((*q)->name, pat->name) != 0);
	}
	CHECK(n >= 2);
	CHECK(pl_pattern_find("chan") != NULL);
	CHECK(pl_pattern_find("pingpong") != NULL);
	CHECK(pl_pattern_find("no-such-pattern") == NULL);
	CHECK(pl_pattern_find(NULL) == NULL);
}

static int run_point(const char *pattern, const char *kind, unsigned prod, unsigned cons,
		     size_t depth, struct pl_result *r, pl_hist *h)
{
	struct pl_params p;

	pl_params_init(&p);
	p.chan_kind = kind;
	p.producers = prod;
	p.consumers = cons;
	p.queue_depth = depth;
	p.messages = pt_tsan() ? 1000 : 5000;
	p.warmup_s = 0.005;
	if (h != NULL)
		pl_hist_reset(h);
	pl_result_init(r, h);
	pt_note("run %s %s %up%uc depth %zu", pattern, kind, prod, cons, depth);
	return pl_pattern_run(pl_pattern_find(pattern), &p, r);
}

static void check_refusals(void)
{
	struct pl_params p;
	struct pl_result r;
	const struct pl_pattern *chan = pl_pattern_find("chan");

	pt_note("refusals");
	CHECK_EQ(run_point("chan", "spsc", 2, 1, 8, &r, NULL), -ENOTSUP);
	CHECK(strstr(r.why, "spsc") != NULL);
	CHECK_EQ(run_point("chan", "lockfree", 1, 1, 0, &r, NULL), -ENOTSUP);
	CHECK(strstr(r.why, "capacity 0") != NULL);
	CHECK_EQ(run_point("chan", "no-such-kind", 1, 1, 8, &r, NULL), -EINVAL);
	CHECK(r.why[0] != '\0');
	CHECK_EQ(run_point("chan", "mutex", 0, 1, 8, &r, NULL), -EINVAL);

	pl_params_init(&p);
	p.seconds = 0;
	p.messages = 0;
	pl_result_init(&r, NULL);
	CHECK_EQ(pl_pattern_run(chan, &p, &r), -EINVAL);
	pl_params_init(&p);
	p.spin_ns = -5;
	CHECK_EQ(pl_pattern_run(chan, &p, &r), -EINVAL);
	CHECK_EQ(pl_pattern_run(NULL, &p, &r), -EINVAL);

	/* Work the hang watchdog would mistake for a hung kind: refused up front, by every
	 * pattern, naming the parameter (not run, then blamed on the channel). */
	for (const struct pl_pattern *const *pat = pl_patterns(); *pat != NULL; pat++) {
		pt_note("refusals: %s, 20 s of work", (*pat)->name);
		pl_params_init(&p);
		p.messages = 10;
		p.work_ns = 20 * INT64_C(1000000000);
		pl_result_init(&r, NULL);
		CHECK_EQ(pl_pattern_run(*pat, &p, &r), -EINVAL);
		CHECK(strstr(r.why, "work_ns") != NULL);
	}
	/* A deadline that is waited out (cancellation's) likewise. */
	pl_params_init(&p);
	p.messages = 10;
	p.timeout_ns = 20 * INT64_C(1000000000);
	pl_result_init(&r, NULL);
	CHECK_EQ(pl_pattern_run(pl_pattern_find("cancellation"), &p, &r), -EINVAL);
	CHECK(strstr(r.why, "timeout_ns") != NULL);

	/* The latency histogram must start empty. */
	{
		pl_hist *h = pl_hist_new();

		CHECK(h != NULL);
		pl_hist_record(h, 5);
		pl_params_init(&p);
		p.messages = 10;
		pl_result_init(&r, h);
		CHECK_EQ(pl_pattern_run(chan, &p, &r), -EINVAL);
		pl_hist_free(h);
	}
}

static void check_runs(void)
{
	pl_hist *h = pl_hist_new();
	struct pl_result r;
	const uint64_t want = pt_tsan() ? 1000 : 5000;

	CHECK(h != NULL);
	for (const char *const *k = pl_chan_kinds(); *k != NULL; k++) {
		struct pl_chan_kind_info info;
		static const unsigned topo[][2] = {{1, 1}, {3, 2}};

		CHECK_EQ(pl_chan_kind_info(*k, &info), 0);
		for (size_t t = 0; t < 2; t++) {
			int e = run_point("chan", *k, topo[t][0], topo[t][1], 4, &r, h);

			if (info.spsc && t > 0) {
				CHECK_EQ(e, -ENOTSUP);
				continue;
			}
			if (e != 0)
				pt_fail(__FILE__, __LINE__, "chan %s: %d: %s", *k, e, r.why);
			CHECK_EQ(r.messages, want);
			CHECK_EQ(r.lost, 0);
			CHECK_EQ(h->count, want);
			CHECK(r.seconds > 0);
		}
		if (info.rendezvous) {
			CHECK_EQ(run_point("chan", *k, 2, 2, 0, &r, h), 0);
			CHECK_EQ(r.messages, want);
			CHECK_EQ(r.lost, 0);
			CHECK_EQ(run_point("pingpong", *k, 1, 1, 0, &r, h), 0);
			CHECK_EQ(r.messages, want);
		}
		CHECK_EQ(run_point("pingpong", *k, 1, 1, 1, &r, h), 0);
		CHECK_EQ(r.messages, want);
		CHECK_EQ(r.lost, 0);
		CHECK_EQ(h->count, want);
		/* No histogram: no latency, the same count. */
		CHECK_EQ(run_point("chan", *k, 1, 1, 16, &r, NULL), 0);
		CHECK_EQ(r.messages, want);
		CHECK_EQ(r.lost, 0);
	}
	pl_hist_free(h);
}

int main(void)
{
	pt_watchdog_start(120);
	check_registry();
	check_refusals();
	check_runs();
	printf("test_pattern: ok\n");
	return 0;
}
