/* SPDX-License-Identifier: MIT */
/*
 * The "pipeline" and "worker_pool" workloads through the pattern registry, as the harness
 * drives them: tiny runs over every kind, checking that every measured message is counted
 * once, nothing is lost, every latency sample is there, and that points a kind cannot serve
 * are skipped with -ENOTSUP and a reason (never run wrongly). Not a benchmark: nothing here
 * looks at a time.
 */
#include "check.h"
#include "helpers.h"

#include <errno.h>

#include <patlab/chan.h>
#include <patlab/hist.h>
#include <patlab/pattern.h>

/* run - one point by count; returns the result code, checks the books when it ran. */
static int run(const struct pl_pattern *pat, struct pl_params *p, struct pl_result *r)
{
	pl_hist *h = pl_hist_new();
	int rc;

	CHECK(h != NULL);
	pl_result_init(r, h);
	rc = pl_pattern_run(pat, p, r);
	if (rc == 0) {
		CHECK_EQ(r->lost, 0);
		CHECK_EQ(r->dropped, 0);
		if (p->messages > 0) {
			CHECK_EQ(r->messages, p->messages);
			CHECK_EQ(h->count, p->messages);
		} else {
			CHECK(r->messages > 0);
			CHECK_EQ(h->count, r->messages);
		}
		CHECK(r->seconds >= 0);
	} else {
		CHECK(r->why[0] != '\0');
	}
	pl_hist_free(h);
	return rc;
}

static void test_worker_pool(const char *kind)
{
	const struct pl_pattern *pat = pl_pattern_find("worker_pool");
	struct pl_params p;
	struct pl_result r;
	int rc;

	CHECK(pat != NULL);
	pl_params_init(&p);
	p.chan_kind = kind;
	p.producers = pt_tsan() ? 2 : 3;
	p.consumers = 2;
	p.queue_depth = 4;
	p.work_ns = 2000;
	p.messages = pt_tsan() ? 300 : 2000;
	p.warmup_s = 0.01;
	pt_note("worker_pool %s by count", kind);
	rc = run(pat, &p, &r);
	if (pt_kind_spsc(kind)) {
		CHECK_EQ(rc, -ENOTSUP);
		fprintf(stderr, "worker_pool %s skipped: %s\n", kind, r.why);
		return;
	}
	if (rc != 0)
		pt_fail(__FILE__, __LINE__, "worker_pool %s: %d %s", kind, rc, r.why);

	/* Seconds mode, more workers than cores, a deeper queue. */
	p.consumers = 4;
	p.queue_depth = 16;
	p.messages = 0;
	p.seconds = 0.05;
	pt_note("worker_pool %s by time", kind);
	rc = run(pat, &p, &r);
	if (rc != 0)
		pt_fail(__FILE__, __LINE__, "worker_pool %s: %d %s", kind, rc, r.why);

	/* Rendezvous where the kind has it, a skip with a reason where it has not. */
	p.queue_depth = 0;
	p.messages = 200;
	pt_note("worker_pool %s depth 0", kind);
	rc = run(pat, &p, &r);
	CHECK_EQ(rc, pt_kind_can(kind, 0) ? 0 : -ENOTSUP);

	/* An unbounded queue under closed-loop submitters only fills memory: skipped. */
	p.queue_depth = PL_CHAN_UNBOUNDED;
	CHECK_EQ(run(pat, &p, &r), -ENOTSUP);
}

static void test_pipeline(const char *kind)
{
	const struct pl_pattern *pat = pl_pattern_find("pipeline");
	static const char *const policies[] = {"unordered", "ordered"};
	struct pl_params p;
	struct pl_result r;
	int rc;

	CHECK(pat != NULL);
	for (int i = 0; i < 2; i++) {
		pl_params_init(&p);
		p.chan_kind = kind;
		p.policy = policies[i];
		p.stages = 3;
		p.producers = 2;
		p.consumers = 2;
		p.queue_depth = 4;
		p.work_ns = 1000;
		p.messages = pt_tsan() ? 300 : 1500;
		p.warmup_s = 0.01;
		pt_note("pipeline %s %s 2p 3 stages x2", kind, policies[i]);
		rc = run(pat, &p, &r);
		if (pt_kind_spsc(kind)) {
			/* Two producers share link 0, two workers the bottleneck's links. */
			CHECK_EQ(rc, -ENOTSUP);
			fprintf(stderr, "pipeline %s skipped: %s\n", kind, r.why);
			/* A chain of single threads is what it can serve. */
			p.producers = 1;
			p.consumers = 1;
			pt_note("pipeline %s %s chain", kind, policies[i]);
			rc = run(pat, &p, &r);
		}
		if (rc != 0)
			pt_fail(__FILE__, __LINE__, "pipeline %s %s: %d %s", kind, policies[i], rc,
				r.why);

		p.stages = 1;
		p.messages = 0;
		p.seconds = 0.05;
		pt_note("pipeline %s %s 1 stage by time", kind, policies[i]);
		rc = run(pat, &p, &r);
		if (rc != 0)
			pt_fail(__FILE__, __LINE__, "pipeline %s %s: %d %s", kind, policies[i], rc,
				r.why);
	}
	/* Unbounded links under closed-loop producers only fill memory: skipped. */
	pl_params_init(&p);
	p.chan_kind = kind;
	p.queue_depth = PL_CHAN_UNBOUNDED;
	CHECK_EQ(run(pat, &p, &r), -ENOTSUP);
	/* Nonsense is refused before anything runs. */
	pl_params_init(&p);
	p.chan_kind = kind;
	p.policy = "sorted";
	CHECK_EQ(run(pat, &p, &r), -EINVAL);
}

int main(void)
{
	pt_watchdog_start(120);
	for (const char *const *k = pl_chan_kinds(); *k != NULL; k++) {
		if (!pt_kind_can(*k, 1)) {
			fprintf(stderr, "kind %s not built here: skipped\n", *k);
			continue;
		}
		test_worker_pool(*k);
		test_pipeline(*k);
	}
	printf("test_pipeline_workloads: ok\n");
	return 0;
}
