/* SPDX-License-Identifier: MIT */
/*
 * The scaffolding the workload adapters share (see workload_util.h for what and who calls it).
 *
 * Design notes:
 * - The start gate is a mutex and a condition variable, not a barrier: the main thread must
 *   be able to release the workers with "abort" when a later pthread_create() fails, and the
 *   gate's mutex is what publishes t_start (and whatever the workload set before it) to them.
 * - The stall check sums heartbeats the workers bump with relaxed stores: it compares the sum
 *   with the one it saw last, so it needs no ordering, only that a working thread keeps
 *   changing it. Its memory lives in the window (main thread only).
 * - pthread_timedjoin_np() waits on CLOCK_REALTIME: pl__window_join() converts the monotonic
 *   deadline for each thread, so every thread shares one deadline.
 */
#include "harness/workload_util.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sync/die.h"

/* ---------------------------------------------------------------- results and setup */

int pl__fail(struct pl_result *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return err;
}

int pl__run_once(bool *ran, struct pl_result *r)
{
	if (*ran)
		return pl__fail(r, -EALREADY, "a workload state runs once");
	*ran = true;
	return 0;
}

void *pl__alloc_lines(size_t size)
{
	size_t lines = (size + PL_FALSE_SHARING - 1) / PL_FALSE_SHARING * PL_FALSE_SHARING;
	void *m = aligned_alloc(PL_FALSE_SHARING, lines);

	if (m != NULL)
		memset(m, 0, lines);
	return m;
}

int64_t pl__spin_ns(const struct pl_params *p)
{
	return p->spin_ns != PL_SPIN_KIND_DEFAULT ? p->spin_ns : PL_CHAN_SPIN_NS_DEFAULT;
}

int pl__point_placer(struct pl__placer *pl, const struct pl_params *p, struct pl_result *r)
{
	int err = pl__placer_init(pl, p->pin);

	if (err == -EINVAL)
		return pl__fail(r, err, "unknown thread placement %d", (int)p->pin);
	if (err != 0)
		return pl__fail(r, err, "thread placement '%s': cannot read the allowed CPUs: %s",
				pl_pin_name(p->pin), strerror(-err));
	return 0;
}

pl_chan *pl__new_chan(const struct pl_params *p, struct pl_result *r, int *err)
{
	pl_chan_opts o = pl_chan_opts_default();
	pl_chan *ch;

	o.spin_ns = pl__spin_ns(p);
	ch = pl_chan_new_opts(p->chan_kind, p->queue_depth, &o);
	if (ch != NULL)
		return ch;
	if (errno == EINVAL)
		*err = pl__fail(r, -ENOTSUP, "kind %s refuses capacity %zu", p->chan_kind,
				p->queue_depth);
	else
		*err = pl__fail(r, -errno, "pl_chan_new_opts(%s, %zu): %s", p->chan_kind,
				p->queue_depth, strerror(errno));
	return NULL;
}

void pl__merge_latency(struct pl_result *r, const pl_hist *h)
{
	if (r->latency != NULL && h != NULL)
		pl_hist_merge(r->latency, h);
}

double pl__cpu_capacity_mps(unsigned workers, int64_t work_ns)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned busy = workers;

	if (work_ns <= 0)
		return 0;
	if (cpus > 0 && busy > (unsigned long)cpus)
		busy = (unsigned)cpus;
	return (double)busy * 1e9 / (double)work_ns;
}

void pl__extra_inflight(struct pl_result *r)
{
	if (r->seconds > 0 && r->latency != NULL)
		pl_result_extra(r, "inflight",
				(double)r->messages / r->seconds * pl_hist_mean(r->latency) / 1e9);
}

/* elem_at - the member of element @i whose element-0 copy is at @first (see the header). */
static const void *elem_at(const void *first, size_t stride, unsigned i)
{
	return (const char *)first + (size_t)i * stride;
}

uint64_t pl__sum_relaxed(const _Atomic uint64_t *first, size_t stride, unsigned n)
{
	uint64_t sum = 0;

	/* Relaxed: heartbeats and counts, they order nothing (see the header). */
	for (unsigned i = 0; i < n; i++)
		sum += atomic_load_explicit((const _Atomic uint64_t *)elem_at(first, stride, i),
					    memory_order_relaxed);
	return sum;
}

bool pl__any_relaxed(const _Atomic uint64_t *first, size_t stride, unsigned n)
{
	/* Relaxed: as in pl__sum_relaxed(). */
	for (unsigned i = 0; i < n; i++)
		if (atomic_load_explicit((const _Atomic uint64_t *)elem_at(first, stride, i),
					 memory_order_relaxed) != 0)
			return true;
	return false;
}

int64_t pl__latest(const int64_t *first, size_t stride, unsigned n, int64_t floor)
{
	int64_t latest = floor;

	for (unsigned i = 0; i < n; i++) {
		int64_t t = *(const int64_t *)elem_at(first, stride, i);

		if (t > latest)
			latest = t;
	}
	return latest;
}

/* ---------------------------------------------------------------- time and work */

void pl__sleep_until(int64_t t)
{
	struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* wait_due - see pl__schedule_next(). */
static void wait_due(int64_t due, _Atomic uint64_t *beat)
{
	for (;;) {
		int64_t left = due - pl_now_ns();

		if (left <= 0)
			return;
		if (left > 200000) /* at most 1 s at a time: the stall check counts beats */
			pl__sleep_until(left > 1000000000 ? pl_now_ns() + 1000000000
							  : due - 100000);
		else
			sched_yield();
		pl__bump(beat);
	}
}

void pl__schedule_init(struct pl__schedule *s, double rate, unsigned producers, unsigned idx,
		       int64_t t_start)
{
	s->interval = 1e9 * (double)producers / rate;
	s->due = (double)t_start + s->interval * idx / producers;
}

int64_t pl__schedule_next(struct pl__schedule *s, _Atomic uint64_t *beat)
{
	int64_t due = (int64_t)s->due;

	wait_due(due, beat);
	s->due += s->interval;
	return due;
}

void pl__busy_wait_ns(int64_t ns)
{
	int64_t end = pl_now_ns() + ns;

	while (pl_now_ns() < end)
		pl__cpu_relax();
}

uint64_t pl__burn(uint64_t iters)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (uint64_t i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ __volatile__("" : "+r"(x));
	}
	return x;
}

static pthread_once_t calib_once = PTHREAD_ONCE_INIT;
/* pl__burn() rounds per ns; written once under calib_once, which orders it for readers. */
static double iters_per_ns;

static void calibrate(void)
{
	const uint64_t n = 1u << 16;
	int64_t best = INT64_MAX;

	for (int t = 0; t < 7; t++) {
		int64_t t0 = pl_now_ns(), dt;

		(void)pl__burn(n);
		dt = pl_now_ns() - t0;
		if (dt > 0 && dt < best)
			best = dt;
	}
	iters_per_ns = best == INT64_MAX ? 1.0 : (double)n / (double)best;
}

uint64_t pl__burn_iters(int64_t ns)
{
	PL_CHECK(pthread_once(&calib_once, calibrate));
	return ns <= 0 ? 0 : (uint64_t)((double)ns * iters_per_ns + 0.5);
}

uint64_t pl__splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---------------------------------------------------------------- the window */

int pl__window_init(struct pl__window *win, unsigned threads, const struct pl_thread_start *start,
		    uint64_t (*progress)(void *arg), bool (*has_data)(void *arg), void *arg)
{
	win->start = start;
	atomic_init(&win->phase, PL__PH_WARMUP);
	atomic_init(&win->producers_done, 0);
	PL_CHECK(pthread_mutex_init(&win->lock, NULL));
	PL_CHECK(pthread_cond_init(&win->cond, NULL));
	win->progress = progress;
	win->has_data = has_data;
	win->arg = arg;
	win->tid = calloc(threads, sizeof(*win->tid));
	if (win->tid == NULL)
		return -ENOMEM;
	win->cap = threads;
	return 0;
}

void pl__window_destroy(struct pl__window *win)
{
	free(win->tid);
	pthread_cond_destroy(&win->cond);
	pthread_mutex_destroy(&win->lock);
}

/* gate_open - wait until @count workers are at the gate, then release (or abort) them. */
static void gate_open(struct pl__window *win, unsigned count, int go)
{
	PL_CHECK(pthread_mutex_lock(&win->lock));
	/* Woken by each pl__window_gate(). */
	while (win->ready < count)
		PL_CHECK(pthread_cond_wait(&win->cond, &win->lock));
	win->go = go;
	PL_CHECK(pthread_cond_broadcast(&win->cond));
	PL_CHECK(pthread_mutex_unlock(&win->lock));
}

bool pl__window_gate(struct pl__window *win)
{
	int go;

	PL_CHECK(pthread_mutex_lock(&win->lock));
	win->ready++;
	PL_CHECK(pthread_cond_broadcast(&win->cond)); /* wakes the main thread in gate_open() */
	while (win->go == 0)
		PL_CHECK(pthread_cond_wait(&win->cond, &win->lock)); /* woken by gate_open() */
	go = win->go;
	PL_CHECK(pthread_mutex_unlock(&win->lock));
	return go > 0;
}

int pl__window_spawn(struct pl__window *win, void *(*fn)(void *), void *arg, struct pl_result *r)
{
	int rc;

	if (win->created >= win->cap)
		pl__die("pl__window_spawn: more than the %u threads the window was made for",
			win->cap);
	rc = pl_thread_create(win->start, &win->tid[win->created], NULL, fn, arg);
	if (rc != 0) {
		gate_open(win, win->created, -1);
		for (unsigned j = 0; j < win->created; j++)
			PL_CHECK(pthread_join(win->tid[j], NULL));
		win->created = 0;
		return pl__fail(r, -rc, "pthread_create: %s", strerror(rc));
	}
	win->created++;
	return 0;
}

int64_t pl__window_start(struct pl__window *win, double warmup_s)
{
	int64_t t1;

	atomic_store_explicit(&win->phase, warmup_s > 0 ? PL__PH_WARMUP : PL__PH_MEASURE,
			      memory_order_relaxed);
	/* The gate's mutex publishes t_start (and the phase) to the workers. */
	win->t_start = pl_now_ns();
	gate_open(win, win->created, 1);
	t1 = win->t_start;
	if (warmup_s > 0) {
		pl__sleep_until(win->t_start + (int64_t)(warmup_s * 1e9));
		t1 = pl_now_ns();
		atomic_store_explicit(&win->phase, PL__PH_MEASURE, memory_order_relaxed);
	}
	return t1;
}

int64_t pl__window_measure(struct pl__window *win, int64_t t1, double seconds)
{
	pl__sleep_until(t1 + (int64_t)(seconds * 1e9));
	/* A window in which nothing completed measures nothing; the row records its real length. */
	while (!win->has_data(win->arg) && !pl__window_stalled(win, pl_now_ns()))
		pl__sleep_until(pl_now_ns() + 1000000);
	return pl_now_ns();
}

bool pl__window_stalled(struct pl__window *win, int64_t now)
{
	uint64_t sum = win->progress(win->arg);

	if (sum != win->last_progress || win->last_progress_ns == 0) {
		win->last_progress = sum;
		win->last_progress_ns = now;
		return false;
	}
	return now - win->last_progress_ns > PL__STALL_NS;
}

bool pl__window_wait(struct pl__window *win, _Atomic unsigned *count, unsigned n)
{
	int64_t nap = 100000;

	/* Acquire: pairs with the release increment of each thread it counts. */
	while (atomic_load_explicit(count, memory_order_acquire) < n) {
		int64_t now = pl_now_ns();

		if (pl__window_stalled(win, now))
			return false;
		pl__sleep_until(now + nap);
		if (nap < 10000000)
			nap *= 2;
	}
	return true;
}

bool pl__window_join(struct pl__window *win, int64_t limit_ns, unsigned *late)
{
	int64_t deadline = pl_now_ns() + limit_ns;

	for (unsigned i = 0; i < win->created; i++) {
		struct timespec rt, ts;
		int64_t left, abs;
		int rc;

		if (limit_ns < 0) {
			PL_CHECK(pthread_join(win->tid[i], NULL));
			continue;
		}
		/* pthread_timedjoin_np waits on CLOCK_REALTIME: convert the monotonic deadline. */
		clock_gettime(CLOCK_REALTIME, &rt);
		left = deadline - pl_now_ns();
		abs = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec + (left > 0 ? left : 0);
		ts.tv_sec = abs / 1000000000;
		ts.tv_nsec = abs % 1000000000;
		rc = pthread_timedjoin_np(win->tid[i], NULL, &ts);
		if (rc == ETIMEDOUT) {
			*late = i;
			return false;
		}
		PL_CHECK(rc);
	}
	return true;
}
