/* SPDX-License-Identifier: MIT */
/*
 * The "cancellation" workload through the pattern vtable (not a benchmark: tiny runs, no
 * duration checked beyond "> 0").
 * - Every policy over every kind that can serve it (kinds this build lacks are skipped), by
 *   count: exactly the stops asked for are measured (the last repetition partial), one
 *   latency sample each, the extras describe the tree (leaves, nodes), and the per-repetition
 *   "all stopped" figure is at least the median worker's.
 * - Deadline mode (timeout_ns): the same over the deadline instead of a cancel (repetitions
 *   whose deadline beat the settling are discarded: still exactly the stops asked for).
 * - A run with no histogram still counts.
 * - Refusals: a tree over the leaf cap is skipped (-ENOTSUP) with a reason naming the cap; an
 *   unknown policy is -EINVAL.
 */
#include "check.h"
#include "helpers.h"

#include <errno.h>
#include <string.h>

#include <patlab/patlab.h>

static int run(const char *kind, const char *policy, unsigned fanout, unsigned depth,
	       uint64_t messages, int64_t timeout_ns, pl_hist *h, struct pl_result *r)
{
	struct pl_params p;

	pl_params_init(&p);
	p.chan_kind = kind;
	p.policy = policy;
	p.consumers = fanout;
	p.stages = depth;
	p.queue_depth = 1;
	p.messages = messages;
	p.warmup_s = 0;
	p.timeout_ns = timeout_ns;
	if (h != NULL)
		pl_hist_reset(h);
	pl_result_init(r, h);
	pt_note("run %s %s fan-out %u depth %u, %llu stops, timeout %lld", kind, policy, fanout,
		depth, (unsigned long long)messages, (long long)timeout_ns);
	return pl_pattern_run(pl_pattern_find("cancellation"), &p, r);
}

static void check_point(const char *kind, const char *policy, int64_t timeout_ns, pl_hist *h)
{
	struct pl_result r;
	const unsigned fanout = 3, depth = 2, leaves = 9, nodes = 13;
	const uint64_t want = 2 * leaves + 4; /* three repetitions, the last one partial */
	int err = run(kind, policy, fanout, depth, want, timeout_ns, h, &r);

	if (err == -ENOTSUP) {
		fprintf(stderr, "skipped %s %s: %s\n", kind, policy, r.why);
		return;
	}
	if (err != 0)
		pt_fail(__FILE__, __LINE__, "%s %s: %d: %s", kind, policy, err, r.why);
	CHECK_EQ(r.messages, want);
	CHECK_EQ(h->count, want);
	CHECK_EQ(r.lost, 0);
	CHECK(r.seconds > 0);
	CHECK_EQ(pt_extra(&r, "leaves"), leaves);
	CHECK_EQ(pt_extra(&r, "tree_nodes"), nodes);
	CHECK_EQ(pt_extra(&r, "reps"), 3);
	CHECK(pt_extra(&r, "all_stopped_max_ns") >= pt_extra(&r, "all_stopped_p50_ns"));
	CHECK(pt_extra(&r, "all_stopped_max_ns") >= (double)pl_hist_percentile(h, 50));
	CHECK(pt_extra(&r, "poll_check_ns") > 0);
	CHECK(pt_extra(&r, "poll_check_deadline_ns") > 0);
	if (timeout_ns == 0)
		CHECK(pt_extra(&r, "cancel_call_p50_ns") > 0);
	else
		CHECK(pt_extra(&r, "late_reps") >=
		      0); /* late ones are discarded, not counted in reps */
}

int main(void)
{
	static const char *const policies[] = {"recv", "wait", "poll", "mixed"};
	pl_hist *h = pl_hist_new();
	struct pl_result r;
	int err;

	CHECK(h != NULL);
	pt_watchdog_start(120);
	for (const char *const *k = pl_chan_kinds(); *k != NULL; k++)
		for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
			check_point(*k, policies[i], 0, h);
	/* Deadlines: generous, so that the tree has settled before they pass. */
	check_point("mutex", "mixed", 300 * INT64_C(1000000), h);

	pt_note("no histogram");
	err = run("mutex", "wait", 2, 3, 20, 0, NULL, &r);
	CHECK_EQ(err, 0);
	CHECK_EQ(r.messages, 20);

	pt_note("refusals");
	err = run("mutex", "wait", 2, 9, 10, 0, h, &r);
	CHECK_EQ(err, -ENOTSUP);
	CHECK(strstr(r.why, "256") != NULL);
	err = run("mutex", "nonsense", 2, 2, 10, 0, h, &r);
	CHECK_EQ(err, -EINVAL);
	CHECK(r.why[0] != '\0');
	pl_hist_free(h);
	pt_note("done");
	return 0;
}
