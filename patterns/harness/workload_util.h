/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_WORKLOAD_UTIL_H
#define PATLAB_WORKLOAD_UTIL_H

/*
 * Internal: the scaffolding every workload adapter behind the pattern vtable shares
 * (harness/chan_workload.c for "chan" and "pingpong", and each pattern folder's workload.c). What a
 * pattern's threads do, what it counts and what it reports stay in its own file; what is here
 * is the part that is the same everywhere:
 *
 * - Results and setup: pl__fail() (a reason in r->why), pl__run_once(), pl__alloc_lines()
 *   (zeroed, cache-line aligned), pl__share() (a producer's part of a message count),
 *   pl__spin_ns() and pl__new_chan() (a point's channel, refusals as -ENOTSUP),
 *   pl__merge_latency(), and two extras: pl__cpu_capacity_mps() and pl__extra_inflight().
 * - Per-thread arrays: pl__sum_relaxed() and pl__any_relaxed() (PL__SUM_RELAXED(),
 *   PL__ANY_RELAXED()), what a window's @progress and @has_data callbacks read, and
 *   pl__latest() (PL__LATEST()), where a messages-mode window ends.
 * - Time and work: pl__sleep_until(), struct pl__schedule (an open-loop producer's send times),
 *   pl__busy_wait_ns() (wall time, polling the clock), pl__burn() with pl__burn_iters() (CPU
 *   work calibrated once per process: a preempted thread takes longer in wall time, as real
 *   work would), pl__splitmix64(), pl__bump() (a counter only its owner writes).
 * - struct pl__window: the measurement window (results/README.md). Every thread starts at a
 *   gate; the clock starts when it opens; the first warmup_s seconds are not counted; the main
 *   thread then measures for the point's seconds (keeping a window in which nothing completed
 *   open until something did), stops the workers, waits for them while watching for a stall
 *   (no progress for PL__STALL_NS), and joins them.
 *
 * Threads of a window: the main thread calls pl__window_init() (setup), pl__window_spawn()
 * once per worker, pl__window_start(), pl__window_measure(), pl__window_stop(),
 * pl__window_wait(), pl__window_join() (run) and pl__window_destroy() (teardown), in that
 * order; workers call pl__window_gate() first, then read pl__window_phase() as often as they
 * like, and producers call pl__window_producer_exit() last. The @progress and @has_data
 * callbacks run on the main thread and may only read the workers' relaxed counters.
 */

#include <patlab/chan.h>
#include <patlab/pattern.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/placement.h"
#include "sync/park.h"

/* No progress by any thread for this long: the point hangs; the workload reports it. */
#define PL__STALL_NS (10 * INT64_C(1000000000))
/* The largest work_ns (and a waited-out timeout_ns) a point may ask for: well inside
 * PL__STALL_NS. */
#define PL__PARAM_NS_MAX (PL__STALL_NS / 10)
/* After the end (a close, a cancel, a shutdown) every thread must return within this long. */
#define PL__JOIN_NS (10 * INT64_C(1000000000))

/* What a worker tags a message with: sent during the warm-up, during the window, or stop. */
enum pl__phase {
	PL__PH_WARMUP = 0,
	PL__PH_MEASURE = 1,
	PL__PH_STOP = 2,
};

/*
 * pl__fail - store the reason (printf-style) in @r->why.
 * Returns @err, so that a caller can `return pl__fail(r, -EINVAL, "...")`.
 */
int pl__fail(struct pl_result *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * pl__run_once - a workload state measures once: the first call sets *@ran and returns 0,
 * later ones return -EALREADY with @r->why set.
 */
int pl__run_once(bool *ran, struct pl_result *r);

/*
 * pl__alloc_lines - @size bytes rounded up to whole PL_FALSE_SHARING lines, zeroed, aligned to
 * a line (for states and thread arrays whose members sit on lines of their own). free() it.
 * Returns NULL when out of memory.
 */
void *pl__alloc_lines(size_t size);

/* pl__share - producer @i's part of @messages among @n producers: the first messages % n send
 * one more. */
static inline uint64_t pl__share(uint64_t messages, unsigned n, unsigned i)
{
	return messages / n + (i < messages % n);
}

/* pl__spin_ns - the point's spin budget: @p->spin_ns, or the kinds' default. */
int64_t pl__spin_ns(const struct pl_params *p);

/*
 * pl__point_placer - @pl for the point's thread placement (@p->pin), first thing in a
 * workload's setup: every thread of the point is then started through @pl->start (the window's,
 * the primitives' through their options). 0, or -errno with @r->why set.
 */
int pl__point_placer(struct pl__placer *pl, const struct pl_params *p, struct pl_result *r);

/*
 * pl__new_chan - a channel of the point's kind, depth and spin budget.
 * Returns it, or NULL with *@err and @r->why set: -ENOTSUP when the kind refuses the depth
 * (EINVAL), else -errno.
 */
pl_chan *pl__new_chan(const struct pl_params *p, struct pl_result *r, int *err);

/* pl__merge_latency - add @h into the caller's histogram, if it wants latency (and @h exists). */
void pl__merge_latency(struct pl_result *r, const pl_hist *h);

/*
 * pl__cpu_capacity_mps - what @workers threads can do at @work_ns of CPU per item, items/s,
 * with one core each at most: min(workers, online CPUs) x 1e9 / work_ns. 0 when @work_ns <= 0.
 */
double pl__cpu_capacity_mps(unsigned workers, int64_t work_ns);

/*
 * pl__extra_inflight - the "inflight" extra, Little's law: throughput x mean latency, what was
 * in the system on average. Added only when @r has a latency histogram and a window > 0.
 */
void pl__extra_inflight(struct pl_result *r);

/*
 * pl__sum_relaxed - the sum of @n relaxed counters, one in each element of a per-thread array:
 * @first is the counter in element 0, @stride the element's size (PL__SUM_RELAXED() fills both
 * in). It exists because every workload's stall check (the window's @progress callback) adds up
 * its threads' heartbeats the same way. Relaxed loads: heartbeats and counts order nothing.
 */
uint64_t pl__sum_relaxed(const _Atomic uint64_t *first, size_t stride, unsigned n);

/* pl__any_relaxed - true when one of those counters is non-zero (the @has_data callbacks). */
bool pl__any_relaxed(const _Atomic uint64_t *first, size_t stride, unsigned n);

/*
 * pl__latest - the largest of @floor and @n clock readings laid out as pl__sum_relaxed()'s
 * counters are (plain int64_t, read after the threads were joined). It exists because the
 * workloads end a messages-mode window the same way: at the latest thread's last measured
 * completion, never before t1.
 */
int64_t pl__latest(const int64_t *first, size_t stride, unsigned n, int64_t floor);

/* PL__SUM_RELAXED, PL__ANY_RELAXED, PL__LATEST - the same over @field of @arr[0 .. @n - 1]. */
#define PL__SUM_RELAXED(arr, n, field)	 pl__sum_relaxed(&(arr)[0].field, sizeof((arr)[0]), (n))
#define PL__ANY_RELAXED(arr, n, field)	 pl__any_relaxed(&(arr)[0].field, sizeof((arr)[0]), (n))
#define PL__LATEST(arr, n, field, floor) pl__latest(&(arr)[0].field, sizeof((arr)[0]), (n), (floor))

/* pl__sleep_until - sleep until @t (CLOCK_MONOTONIC ns), resuming after signals. */
void pl__sleep_until(int64_t t);

/*
 * struct pl__schedule - one open-loop producer's intended send times: @rate messages per
 * second over all @producers, each on its own schedule, staggered evenly over one interval.
 * Owned by its producer thread.
 */
struct pl__schedule {
	double interval; /* ns between two sends of this producer */
	double due;	 /* the next intended send time, ns */
};

/* pl__schedule_init - producer @idx of @producers, its first send in [@t_start, one interval). */
void pl__schedule_init(struct pl__schedule *s, double rate, unsigned producers, unsigned idx,
		       int64_t t_start);

/*
 * pl__schedule_next - wait for the next intended send time and return it. Waits by sleeping
 * when far (a timed sleep may wake ~50 us late: timer slack), then by yielding rather than
 * spinning, so that waiting producers leave the CPU to the threads that serve them when
 * threads outnumber cores. Bumps the producer's heartbeat @beat after every sleep (1 s at
 * most) or yield: a stall check counts beats. Lateness is not hidden: the caller stamps its
 * message with the time returned (coordinated omission corrected, as wrk2), not the time it
 * left.
 */
int64_t pl__schedule_next(struct pl__schedule *s, _Atomic uint64_t *beat);

/* pl__busy_wait_ns - poll the clock for @ns: simulated work measured in wall time. */
void pl__busy_wait_ns(int64_t ns);

/* pl__burn - @iters rounds of xorshift, a dependency chain the compiler must keep. */
uint64_t pl__burn(uint64_t iters);

/*
 * pl__burn_iters - the pl__burn() rounds that take @ns of CPU (0 for @ns <= 0). The rate is
 * calibrated on the first call in the process: the fastest of a few trials, so a preempted
 * trial cannot shrink it. Thread-safe.
 */
uint64_t pl__burn_iters(int64_t ns);

/* pl__splitmix64 - one step of splitmix64 over *@s. */
uint64_t pl__splitmix64(uint64_t *s);

/* pl__bump - add one to a counter only its owner writes: a plain load and store, no RMW
 * (relaxed: a count or a heartbeat, read by the main thread; it orders nothing). */
static inline void pl__bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/*
 * pl__encode_ts - a pointer-sized message that carries a time @t (ns) and whether it was sent
 * in the measured window: (t << 1) | measured. Nothing is allocated per message.
 */
static inline void *pl__encode_ts(int64_t t, bool measured)
{
	return (void *)(uintptr_t)(((uint64_t)t << 1) | (measured ? 1u : 0u));
}

/*
 * struct pl__window - the gate, the phase and the stall check of one point (see the top).
 * Embed it in the workload's state (which must then be allocated with pl__alloc_lines()).
 */
struct pl__window {
	/*
	 * The phase: written by the main thread only, read by the workers once per message.
	 * Relaxed: it publishes no data, it only tells workers what to tag; what they produce
	 * reaches the main thread through pthread_join().
	 */
	_Alignas(PL_FALSE_SHARING) _Atomic int phase;
	/* Producers that finished (release in pl__window_producer_exit(), acquire in
	 * pl__window_wait()). */
	_Atomic unsigned producers_done;
	/* Set by pl__window_start() before the gate opens; read by workers after
	 * pl__window_gate() (the gate's mutex orders it). */
	int64_t t_start;
	/* The start gate: workers wait on @cond until @go is non-zero. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready; /* under @lock */
	int go;		/* under @lock: 1 start, -1 abort (a thread could not be created) */
	/* The main thread's only. */
	pthread_t *tid; /* the workers, in the order they were spawned */
	const struct pl_thread_start *start;
	unsigned cap, created;
	uint64_t (*progress)(void *arg); /* the sum of every thread's heartbeats */
	bool (*has_data)(void *arg);	 /* some measured message completed */
	void *arg;
	uint64_t last_progress; /* the stall check's memory */
	int64_t last_progress_ns;
};

/*
 * pl__window_init - prepare @win (zeroed memory) for up to @threads workers, started through
 * @start (the point's placer: pl__point_placer()). @progress and @has_data are called with
 * @arg by the main thread (see the fields). Returns 0 or -ENOMEM; either way, release @win
 * with pl__window_destroy().
 */
int pl__window_init(struct pl__window *win, unsigned threads, const struct pl_thread_start *start,
		    uint64_t (*progress)(void *arg), bool (*has_data)(void *arg), void *arg);

/* pl__window_destroy - release @win (after pl__window_init(), whatever it returned). */
void pl__window_destroy(struct pl__window *win);

/*
 * pl__window_spawn - create a worker running @fn(@arg); it must call pl__window_gate() first.
 * Returns 0, or -errno from pthread_create() with @r->why set ("pthread_create: ...", the one
 * message every workload reports it with): then every worker created so far has been told to
 * abort (its pl__window_gate() returns false) and joined.
 */
int pl__window_spawn(struct pl__window *win, void *(*fn)(void *), void *arg, struct pl_result *r);

/*
 * pl__window_gate - a worker announces itself and waits until pl__window_start() opens the
 * gate (true: go; @win->t_start is set) or pl__window_spawn() failed (false: return at once).
 */
bool pl__window_gate(struct pl__window *win);

/* pl__window_phase - the phase (enum pl__phase), for workers, once per message. */
static inline int pl__window_phase(struct pl__window *win)
{
	return atomic_load_explicit(&win->phase, memory_order_relaxed);
}

/* pl__window_producer_exit - a producer is done (its last act; see pl__window_wait_producers). */
static inline void pl__window_producer_exit(struct pl__window *win)
{
	/* Release: pairs with the acquire load in pl__window_wait(). */
	atomic_fetch_add_explicit(&win->producers_done, 1, memory_order_release);
}

/*
 * pl__window_start - open the gate to every spawned worker and run the warm-up: the phase is
 * PL__PH_WARMUP for @warmup_s seconds from @win->t_start (none when 0), then PL__PH_MEASURE.
 * Returns t1, the clock when the measured window began.
 */
int64_t pl__window_start(struct pl__window *win, double warmup_s);

/*
 * pl__window_measure - seconds mode: sleep until @t1 + @seconds, then keep the window open
 * until @has_data says something completed, or the stall check gives up (an oversubscribed
 * machine can stall a short window). Returns t2, the window's real end; the phase is left at
 * PL__PH_MEASURE (see pl__window_stop()).
 */
int64_t pl__window_measure(struct pl__window *win, int64_t t1, double seconds);

/* pl__window_stop - tell the workers to stop (PL__PH_STOP). */
static inline void pl__window_stop(struct pl__window *win)
{
	atomic_store_explicit(&win->phase, PL__PH_STOP, memory_order_relaxed);
}

/* pl__window_stalled - the stall check: true when the heartbeats have not moved for
 * PL__STALL_NS before @now. */
bool pl__window_stalled(struct pl__window *win, int64_t now);

/*
 * pl__window_wait - poll (0.1 ms doubling to 10 ms: the main thread must not steal CPU from
 * the measured threads) until *@count (released by each thread it counts) reaches @n.
 * Returns true, or false when the stall check gave up first.
 */
bool pl__window_wait(struct pl__window *win, _Atomic unsigned *count, unsigned n);

/* pl__window_wait_producers - pl__window_wait() for @n pl__window_producer_exit() calls. */
static inline bool pl__window_wait_producers(struct pl__window *win, unsigned n)
{
	return pl__window_wait(win, &win->producers_done, n);
}

/*
 * pl__window_join - join every spawned worker, all within @limit_ns from now (< 0: wait
 * forever, and @late may be NULL). Returns true, or false with *@late set to the spawn index
 * of the first worker still running at the deadline: the caller then aborts the process
 * (pl__die() saying what that worker was doing), as a thread that does not return cannot be
 * joined.
 */
bool pl__window_join(struct pl__window *win, int64_t limit_ns, unsigned *late);

#endif /* PATLAB_WORKLOAD_UTIL_H */
