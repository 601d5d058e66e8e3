/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_PATTERN_H
#define PATLAB_PATTERN_H

/*
 * The pattern vtable: what the harness (bench/, the `patlab` command) drives.
 *
 * Every pattern (worker pool, fan-out/fan-in, pipeline, ...) and the two raw channel workloads
 * ("chan": P producers -> one channel -> C consumers; "pingpong": a round trip through two
 * channels) export one const struct pl_pattern, listed in the static registry table in
 * patterns/harness/registry.c (one line per pattern). Drivers know nothing else about them:
 * they fill a struct pl_params (one sweep point), call pl_pattern_run() and store the
 * struct pl_result.
 *
 * A point a pattern cannot run correctly (the "spsc" kind with 4 producers, capacity 0 on a
 * kind without rendezvous) is refused with -ENOTSUP and a reason, never run wrongly.
 *
 * Lifecycle of one point: check (optional, pure) -> setup (allocate; no measured work) -> run
 * (start threads at a barrier, warm up, measure, stop, join; fill the result) -> teardown
 * (always called after a successful setup). A state is used by one point only; different
 * points may not run concurrently in one process (they would measure each other).
 *
 * Memory: the caller owns @p, @r and r->latency; a pattern owns its state from setup to
 * teardown. Strings in @p must outlive the point.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/* The sweep parameters, as bits of struct pl_pattern.params: which ones a pattern reads. */
enum pl_param {
	PL_PARAM_CHAN_KIND = 1u << 0,
	PL_PARAM_PRODUCERS = 1u << 1,
	PL_PARAM_CONSUMERS = 1u << 2, /* consumers, or workers */
	PL_PARAM_STAGES = 1u << 3,
	PL_PARAM_QUEUE_DEPTH = 1u << 4,
	PL_PARAM_WORK_NS = 1u << 5,
	PL_PARAM_RATE = 1u << 6,
	PL_PARAM_POLICY = 1u << 7,
	PL_PARAM_SPIN = 1u << 8,
	PL_PARAM_TIMEOUT = 1u << 9,
};

/* struct pl_params.spin_ns value meaning "the kind's default" (PL_CHAN_SPIN_NS_DEFAULT). */
#define PL_SPIN_KIND_DEFAULT (-1)

/*
 * enum pl_pin - where a point's threads run (struct pl_params.pin). Every thread the library
 * starts for the point (workload threads, pool workers, pipeline stages, fan-out backends) is
 * placed in the order it is started, over the CPUs the calling thread may run on.
 * @PL_PIN_NONE:   the OS scheduler places and moves them (the default).
 * @PL_PIN_SPREAD: the k-th thread started runs only on the (k mod n)-th allowed CPU, so the
 *                 two ends of a 1p1c channel never share a CPU by chance.
 * @PL_PIN_SINGLE: every thread runs on the first allowed CPU: each hand-off between threads
 *                 is a context switch (the slow mode a VM falls into; measured on purpose).
 */
enum pl_pin {
	PL_PIN_NONE = 0,
	PL_PIN_SPREAD,
	PL_PIN_SINGLE,
};

/* pl_pin_name - "none", "spread", "single"; NULL for a value outside the enum. */
const char *pl_pin_name(enum pl_pin pin);

/* pl_pin_parse - the placement called @name into *@pin: 0, or -EINVAL for an unknown name. */
int pl_pin_parse(const char *name, enum pl_pin *pin);

/*
 * struct pl_params - one sweep point. Start from pl_params_init(); a pattern ignores the
 * fields its vtable's @params does not name (drivers leave those at their defaults).
 * @chan_kind:   channel kind name (pl_chan_kinds()).
 * @producers:   producing threads (>= 1).
 * @consumers:   consuming threads, or workers (>= 1).
 * @stages:      pipeline stages (>= 1).
 * @queue_depth: channel capacity: 0 (rendezvous), n, or PL_CHAN_UNBOUNDED.
 * @work_ns:     simulated work per message, busy-waited by the consumer (0: none).
 * @rate_target: open loop: messages per second over all producers, each message timed from
 *               its intended send time (coordinated omission corrected). 0: closed loop.
 * @policy:      pattern-specific policy name (one of struct pl_pattern.policies); NULL: the
 *               pattern's default.
 * @spin_ns:     spin budget before parking for kinds that spin; PL_SPIN_KIND_DEFAULT: default.
 * @timeout_ns:  the pattern's time limit, whatever it limits: a request deadline
 *               (cancellation), a hedge delay, a shutdown grace period. 0: its default.
 * @messages:    > 0: measure exactly this many messages (producers share the count);
 *               0: measure for @seconds.
 * @seconds:     measured duration when @messages is 0.
 * @warmup_s:    run this long before measuring; nothing from the warm-up is counted.
 * @seed:        for patterns that draw random numbers; same seed, same choices.
 * @pin:         thread placement (enum pl_pin); PL_PIN_NONE: the OS decides.
 * @lat_sample:  latency sampling of the raw "chan" and "pingpong" workloads: time one
 *               message in @lat_sample on average (1: every message), or PL_LAT_SAMPLE_AUTO
 *               (0, the default): enough for 2x10^5 to 4x10^5 samples per point, every message
 *               when fewer pass. Other patterns time every message.
 */
struct pl_params {
	const char *chan_kind;
	unsigned producers;
	unsigned consumers;
	unsigned stages;
	size_t queue_depth;
	int64_t work_ns;
	double rate_target;
	const char *policy;
	int64_t spin_ns;
	int64_t timeout_ns;
	uint64_t messages;
	double seconds;
	double warmup_s;
	uint64_t seed;
	enum pl_pin pin;
	uint64_t lat_sample;
};

/* struct pl_params.lat_sample value meaning "choose the sampling interval" (the default). */
#define PL_LAT_SAMPLE_AUTO 0

#define PL_RESULT_EXTRAS 8

/* struct pl_result_extra - one pattern-specific figure, e.g. {"peak_occupancy", 64}. */
struct pl_result_extra {
	const char *name; /* static string, [a-z0-9_] */
	double value;
};

/*
 * struct pl_result - what one run of one point measured.
 * @messages: messages (or jobs, or round trips) completed in the measured window.
 * @seconds:  length of the measured window; throughput = messages / seconds.
 * @latency:  the caller's histogram (empty on entry) that run merges per-thread histograms
 *            into, in ns; NULL: the caller wants no latency, and the pattern then reads no
 *            clock per message (to measure the cost of measuring).
 * @dropped:  messages a policy dropped on purpose (backpressure).
 * @rejected: messages refused at the door (a full queue, a closed pool).
 * @lost:     messages accepted (a send returned 0) but never delivered: must be 0.
 * @extras:   up to PL_RESULT_EXTRAS pattern-specific figures (pl_result_extra()).
 * @why:      set with -ENOTSUP (why the point was skipped) or another error (what failed).
 */
struct pl_result {
	uint64_t messages;
	double seconds;
	pl_hist *latency;
	uint64_t dropped;
	uint64_t rejected;
	uint64_t lost;
	unsigned n_extras;
	struct pl_result_extra extras[PL_RESULT_EXTRAS];
	char why[192];
};

/*
 * struct pl_pattern - one pattern, as the harness sees it. Fill with designated initializers.
 * @name:     registry name, [a-z0-9_], unique.
 * @summary:  one line for `patlab list`.
 * @params:   PL_PARAM_* bits: the sweep parameters it reads.
 * @policies: NULL-terminated policy names it accepts, the default first; NULL when it has no
 *            policy (then PL_PARAM_POLICY must not be set).
 * @check:    optional, pure (no allocation, no threads): 0 if @p can run, else -ENOTSUP (or
 *            -EINVAL for nonsense) with @r->why set. NULL: every valid point can run.
 * @setup:    prepare @p into *@state; no measured work, no threads left running on failure.
 *            0, -ENOTSUP (cannot run this point; @r->why), or -errno (@r->why).
 * @run:      measure once: start every thread at a barrier, warm up for @p->warmup_s, measure,
 *            stop, join every thread; fill @r (see struct pl_result). 0 or -errno (@r->why);
 *            lost messages are not an error (they are reported in @r->lost).
 * @teardown: release @state (after any setup that returned 0).
 * @throughput: what @messages counts, as a rate for table titles, e.g. "M jobs/s" (the
 *            summary's unit is millions per second). NULL: "M msg/s".
 * @latency:  what one latency sample spans, e.g. "submit to done". NULL: "per message".
 * @threads:  optional, pure: how many threads the pattern starts for @p (drivers size a
 *            peer's parallelism by it). NULL: @p->producers + @p->consumers.
 * @quick:    the pattern's sub-grids in the quick preset of `patlab sweep`: a NULL-terminated
 *            list of strings in its grid syntax (e.g. "--ratio 2:1,2:2 --work-ns 10000"),
 *            each naming only parameters the pattern reads and policies it accepts. NULL:
 *            not in the quick preset (`--pattern NAME` then sweeps its defaults).
 */
struct pl_pattern {
	const char *name;
	const char *summary;
	unsigned params;
	const char *const *policies;
	int (*check)(const struct pl_params *p, struct pl_result *r);
	int (*setup)(const struct pl_params *p, void **state, struct pl_result *r);
	int (*run)(void *state, struct pl_result *r);
	void (*teardown)(void *state);
	const char *throughput;
	const char *latency;
	unsigned (*threads)(const struct pl_params *p);
	const char *const *quick;
};

/* pl_params_init - defaults: mutex, 1 producer, 1 consumer, 1 stage, depth 64, 1 s, 0.1 s warm-up,
 * no pinning. */
void pl_params_init(struct pl_params *p);

/* pl_result_init - an empty result whose latency goes to @latency (may be NULL). */
void pl_result_init(struct pl_result *r, pl_hist *latency);

/* pl_result_extra - append a figure; false (and nothing stored) when all slots are used. */
bool pl_result_extra(struct pl_result *r, const char *name, double value);

/*
 * pl_patterns - the registry: every pattern, NULL-terminated, in listing order.
 * pl_pattern_find - the pattern called @name, or NULL.
 */
const struct pl_pattern *const *pl_patterns(void);
const struct pl_pattern *pl_pattern_find(const char *name);

/*
 * pl_pattern_check_params - the checks every pattern shares: counts >= 1, durations sane,
 * a known kind that accepts @p->queue_depth, @p->policy one of the pattern's. Also, when
 * @senders or @receivers threads will share one channel, a single-producer/single-consumer
 * kind is refused unless both are 1. Returns 0, -ENOTSUP (point cannot run; @r->why) or
 * -EINVAL (nonsense parameters; @r->why).
 */
int pl_pattern_check_params(const struct pl_pattern *pat, const struct pl_params *p,
			    unsigned senders, unsigned receivers, struct pl_result *r);

/*
 * pl_pattern_run - run one point of @pat: check, setup, run, teardown, with the threads the
 * point starts placed as @p->pin says. @r must come from pl_result_init(). Returns 0, -ENOTSUP
 * (skipped: @r->why says why) or -errno (failed:
 * @r->why says what).
 */
int pl_pattern_run(const struct pl_pattern *pat, const struct pl_params *p, struct pl_result *r);

#endif /* PATLAB_PATTERN_H */
