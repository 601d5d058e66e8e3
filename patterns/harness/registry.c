/* SPDX-License-Identifier: MIT */
/*
 * The pattern registry and the checks every pattern shares.
 *
 * One static table (SQLite's VFS list, the kernel's congestion-control list): adding a pattern
 * is one line in PATTERNS below (its folder's sources.cmake is found by CMakeLists.txt). The
 * table is the listing order of `patlab list` and of `--pattern all`.
 *
 * pl_pattern_run() is the one way drivers run a point, so every pattern gets the same argument
 * checks before its own, and teardown always follows a successful setup.
 */
#include <patlab/chan.h>
#include <patlab/pattern.h>

#include <errno.h>
#include <string.h>

#include "harness/workload_util.h"

/* One line per pattern, in listing order: X(name) means const struct pl_pattern
 * pl__pattern_<name>, defined in the pattern's workload.c. */
#define PATTERNS(X)                                                                                \
	X(chan)                                                                                    \
	X(pingpong)                                                                                \
	X(worker_pool)                                                                             \
	X(fanout_fanin)                                                                            \
	X(pipeline)                                                                                \
	X(backpressure)                                                                            \
	X(cancellation)                                                                            \
	X(graceful_shutdown)

#define DECLARE(name) extern const struct pl_pattern pl__pattern_##name;
#define ENTRY(name)   &pl__pattern_##name,

PATTERNS(DECLARE)

static const struct pl_pattern *const registry[] = {PATTERNS(ENTRY) NULL};

const struct pl_pattern *const *pl_patterns(void)
{
	return registry;
}

const struct pl_pattern *pl_pattern_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (const struct pl_pattern *const *p = registry; *p != NULL; p++)
		if (strcmp((*p)->name, name) == 0)
			return *p;
	return NULL;
}

void pl_params_init(struct pl_params *p)
{
	*p = (struct pl_params){
	    .chan_kind = "mutex",
	    .producers = 1,
	    .consumers = 1,
	    .stages = 1,
	    .queue_depth = 64,
	    .work_ns = 0,
	    .rate_target = 0,
	    .policy = NULL,
	    .spin_ns = PL_SPIN_KIND_DEFAULT,
	    .timeout_ns = 0,
	    .messages = 0,
	    .seconds = 1.0,
	    .warmup_s = 0.1,
	    .seed = 1,
	    .pin = PL_PIN_NONE,
	    .lat_sample = PL_LAT_SAMPLE_AUTO,
	};
}

void pl_result_init(struct pl_result *r, pl_hist *latency)
{
	memset(r, 0, sizeof(*r));
	r->latency = latency;
}

bool pl_result_extra(struct pl_result *r, const char *name, double value)
{
	if (r->n_extras >= PL_RESULT_EXTRAS)
		return false;
	r->extras[r->n_extras].name = name;
	r->extras[r->n_extras].value = value;
	r->n_extras++;
	return true;
}

int pl_pattern_check_params(const struct pl_pattern *pat, const struct pl_params *p,
			    unsigned senders, unsigned receivers, struct pl_result *r)
{
	struct pl_chan_kind_info info;
	unsigned used = pat->params;

	if (p->producers < 1 || p->consumers < 1 || p->stages < 1)
		return pl__fail(r, -EINVAL, "producers, consumers and stages must be >= 1");
	if (p->messages == 0 && !(p->seconds > 0))
		return pl__fail(r, -EINVAL, "need messages > 0 or seconds > 0");
	if (!(p->warmup_s >= 0) || p->work_ns < 0 || !(p->rate_target >= 0) || p->timeout_ns < 0)
		return pl__fail(r, -EINVAL, "warm-up, work, rate and timeout must be >= 0");
	/* A workload's hang watchdog waits PL__STALL_NS for progress: a message's work near that
	 * would be blamed on the channel kind. Refused up front instead. (A time limit stalls
	 * only the patterns that wait it out; they refuse it in their own check.) */
	if (p->work_ns > PL__PARAM_NS_MAX)
		return pl__fail(r, -EINVAL,
				"work_ns %lld: at most %lld ns of work per message (a workload's "
				"hang watchdog waits %lld s for progress)",
				(long long)p->work_ns, (long long)PL__PARAM_NS_MAX,
				(long long)(PL__STALL_NS / 1000000000));
	if (p->spin_ns < 0 && p->spin_ns != PL_SPIN_KIND_DEFAULT)
		return pl__fail(r, -EINVAL, "spin must be >= 0 ns, or the kind's default");
	if ((used & PL_PARAM_POLICY) && p->policy != NULL) {
		const char *const *q = pat->policies;

		while (q != NULL && *q != NULL && strcmp(*q, p->policy) != 0)
			q++;
		if (q == NULL || *q == NULL)
			return pl__fail(r, -EINVAL, "%s: unknown policy '%s'", pat->name,
					p->policy);
	}
	if (!(used & PL_PARAM_CHAN_KIND))
		return 0;
	if (pl_chan_kind_info(p->chan_kind, &info) != 0)
		return pl__fail(r, -EINVAL, "unknown channel kind '%s'",
				p->chan_kind ? p->chan_kind : "(null)");
	if (info.spsc && (senders > 1 || receivers > 1))
		return pl__fail(
		    r, -ENOTSUP,
		    "%s allows one producer and one consumer per channel, not %u and %u", info.name,
		    senders, receivers);
	if (p->queue_depth == 0 && !info.rendezvous)
		return pl__fail(r, -ENOTSUP, "%s does not support capacity 0 (rendezvous)",
				info.name);
	if (p->queue_depth == PL_CHAN_UNBOUNDED && !info.unbounded)
		return pl__fail(r, -ENOTSUP, "%s does not support unbounded capacity", info.name);
	return 0;
}

int pl_pattern_run(const struct pl_pattern *pat, const struct pl_params *p, struct pl_result *r)
{
	void *state = NULL;
	int err;

	if (pat == NULL || p == NULL || r == NULL)
		return -EINVAL;
	if (r->latency != NULL && r->latency->count != 0)
		return pl__fail(r, -EINVAL, "the latency histogram must start empty");
	if (pl_pin_name(p->pin) == NULL)
		return pl__fail(r, -EINVAL, "unknown thread placement %d", (int)p->pin);
	err = pat->check != NULL ? pat->check(p, r) : pl_pattern_check_params(pat, p, 1, 1, r);
	if (err != 0)
		return err;
	/* The point's threads are placed by the pattern (pl__point_placer() in its setup). */
	err = pat->setup(p, &state, r);
	if (err == 0) {
		err = pat->run(state, r);
		pat->teardown(state);
	}
	return err;
}
