/* SPDX-License-Identifier: MIT */
/*
 * Stress: signal contexts created and stopped from several threads at once while signals rain
 * on the process (never use this as a benchmark).
 *
 * The test owns four signals (SIGUSR1, SIGUSR2, SIGRTMIN, SIGRTMIN+2), each with a counting
 * handler installed first: whenever no signal context lists one, that handler takes it, and a
 * disposition restored wrongly (SIG_DFL) would end the test. T threads (3; 2 under TSan) each
 * run rounds: a signal context on a random non-empty subset L of the four (a child of the
 * background or of a live shared parent), then one of
 *   - raise() of a signal of L, or kill(getpid()) of one (any thread may take it): the context
 *     must be done with a cause in L (its own signal, or another thread's or the noise's, if
 *     in L), and the stop that follows changes nothing;
 *   - no signal of its own, an optional pause, then the stop: done with a cause in L or
 *     -ECANCELED (the stop's own cancel).
 * Meanwhile a noise thread sends random signals of the four with kill(getpid()). The
 * dispatcher thread is started and joined many times over (whenever no context is left).
 * At the end each signal has its counting handler back and every context was released (ASan).
 *
 * Rounds scale with PATLAB_STRESS_SCALE; the seed is logged (PATLAB_SEED reruns it); a
 * watchdog reports the last note of a hang (a signal that never reached its context).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <patlab/patlab.h>

#include "check.h"

#define NS	4
#define MAXT	3
#define LONG_NS (10 * INT64_C(1000000000))

static int sigs[NS];
static _Atomic int hits[NSIG];
static _Atomic int running;
static pl_ctx *shared_parent;

static void counting(int s)
{
	atomic_fetch_add(&hits[s], 1);
}

static bool in_set(int cause, const int *set, int n)
{
	for (int i = 0; i < n; i++)
		if (set[i] == cause)
			return true;
	return false;
}

struct targ {
	int id;
	int rounds;
	uint64_t rng;
};

static void *worker_main(void *arg)
{
	struct targ *a = arg;

	for (int round = 0; round < a->rounds; round++) {
		unsigned mask = 1 + (unsigned)(pt_rand(&a->rng) % ((1u << NS) - 1));
		int set[NS], n = 0, mode = (int)(pt_rand(&a->rng) % 3);
		pl_ctx *parent = pt_rand(&a->rng) % 2 ? shared_parent : NULL;
		pl_ctx *cx;
		int s;

		for (int i = 0; i < NS; i++)
			if (mask & (1u << i))
				set[n++] = sigs[i];
		s = set[pt_rand(&a->rng) % (uint64_t)n];
		pt_note("thread %d round %d: mask %x mode %d signal %d", a->id, round, mask, mode,
			s);
		cx = pl_ctx_with_signals(parent, set, (size_t)n);
		CHECK(cx != NULL);
		if (mode < 2) {
			CHECK((mode == 0 ? raise(s) : kill(getpid(), s)) == 0);
			CHECK_EQ(pl_ctx_wait(cx, LONG_NS), -ECANCELED);
			CHECK(in_set(pl_ctx_cause(cx), set, n));
			s = pl_ctx_cause(cx);
			CHECK_EQ(pl_ctx_signals_stop(cx), 0);
			CHECK_EQ(pl_ctx_cause(cx), s);
		} else {
			if (pt_rand(&a->rng) % 2)
				pt_sleep_ns((int64_t)(pt_rand(&a->rng) % 200000));
			CHECK_EQ(pl_ctx_signals_stop(cx), 0);
			CHECK_EQ(pl_ctx_err(cx), -ECANCELED);
			CHECK(pl_ctx_cause(cx) == -ECANCELED || in_set(pl_ctx_cause(cx), set, n));
		}
		CHECK_EQ(pl_ctx_signals_stop(cx), -ENOENT);
		pl_ctx_release(cx);
	}
	atomic_fetch_sub(&running, 1);
	return NULL;
}

static void *noise_main(void *arg)
{
	uint64_t *rng = arg;

	while (atomic_load(&running) > 0) {
		CHECK(kill(getpid(), sigs[pt_rand(rng) % NS]) == 0);
		pt_sleep_ns((int64_t)(pt_rand(rng) % 300000));
	}
	return NULL;
}

int main(void)
{
	uint64_t seed = pt_seed(), noise_rng = seed ^ 0x5151;
	const int nt = pt_tsan() ? 2 : MAXT;
	const int rounds = (int)(pt_scale() * (pt_tsan() ? 300 : 2000));
	struct targ args[MAXT];
	pthread_t t[MAXT], noise;
	struct sigaction sa;

	pt_watchdog_start(60);
	sigs[0] = SIGUSR1;
	sigs[1] = SIGUSR2;
	sigs[2] = SIGRTMIN;
	sigs[3] = SIGRTMIN + 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = counting;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (int i = 0; i < NS; i++)
		CHECK(sigaction(sigs[i], &sa, NULL) == 0);
	shared_parent = pl_ctx_with_cancel(NULL);
	CHECK(shared_parent != NULL);

	atomic_store(&running, nt);
	for (int i = 0; i < nt; i++) {
		args[i].id = i;
		args[i].rounds = rounds;
		args[i].rng = seed + (uint64_t)i * 0x9e3779b97f4a7c15ull;
		CHECK(pthread_create(&t[i], NULL, worker_main, &args[i]) == 0);
	}
	CHECK(pthread_create(&noise, NULL, noise_main, &noise_rng) == 0);
	for (int i = 0; i < nt; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	CHECK(pthread_join(noise, NULL) == 0);

	pt_note("final dispositions");
	for (int i = 0; i < NS; i++) {
		struct sigaction cur;

		CHECK(sigaction(sigs[i], NULL, &cur) == 0);
		CHECK(cur.sa_handler == counting);
	}
	CHECK_EQ(pl_ctx_err(shared_parent), 0);
	pl_ctx_release(shared_parent);
	fprintf(stderr, "%d threads x %d rounds; counting handlers took %d + %d + %d + %d\n", nt,
		rounds, atomic_load(&hits[sigs[0]]), atomic_load(&hits[sigs[1]]),
		atomic_load(&hits[sigs[2]]), atomic_load(&hits[sigs[3]]));
	return 0;
}
