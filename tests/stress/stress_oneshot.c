/* SPDX-License-Identifier: MIT */
/*
 * stress_oneshot - K threads each do exactly ONE blocking receive while K threads each do
 * exactly one send (and the mirror image: K one-shot blocking senders on a full channel
 * against K one-shot receivers).
 *
 * A consumer that receives in a loop hides a lost wakeup: the next message wakes it and the
 * missed one is taken late. A one-shot waiter has no next message, so a wakeup lost between
 * its last check and its sleep leaves it parked beside a message forever — the class of
 * tylertreat/chan #11/#12 and of a blocking op that gives up on a half-published slot. Every
 * round must finish; the watchdog turns a hang into a failure naming the kind and round.
 *
 * Length: PATLAB_STRESS_SCALE multiplies the rounds; PATLAB_SEED replays the choices.
 * Never use this as a benchmark.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <patlab/patlab.h>

#include "check.h"

#define K_MAX 8

struct round {
	pl_chan *ch;
	pthread_barrier_t go;
	atomic_int done;
	_Atomic uintptr_t sum;
	uint64_t seed;
};

/* A few hundred ns of jitter so the two sides interleave differently each round. */
static void jitter(uint64_t *rng)
{
	uint64_t n = pt_rand(rng) % 512;

	for (volatile uint64_t i = 0; i < n; i++)
		;
}

static void *one_recv(void *arg)
{
	struct round *r = arg;
	uint64_t rng = r->seed ^ (uintptr_t)pthread_self();
	void *m;

	pthread_barrier_wait(&r->go);
	jitter(&rng);
	CHECK_EQ(pl_chan_recv(r->ch, &m, NULL), 0);
	atomic_fetch_add(&r->sum, (uintptr_t)m);
	atomic_fetch_add(&r->done, 1);
	return NULL;
}

static void *one_send(void *arg)
{
	struct round *r = arg;
	uint64_t rng = r->seed ^ (uintptr_t)pthread_self() ^ 1;

	pthread_barrier_wait(&r->go);
	jitter(&rng);
	CHECK_EQ(pl_chan_send(r->ch, (void *)(uintptr_t)1, NULL), 0);
	atomic_fetch_add(&r->done, 1);
	return NULL;
}

/*
 * One round: @k one-shot receivers and @k one-shot senders on a channel of capacity @cap,
 * pre-filled with @cap messages when @full (senders then block first), spin budget @spin_ns.
 */
static void run_round(const char *kind, size_t cap, int k, bool full, int64_t spin_ns,
		      uint64_t seed)
{
	pl_chan_opts o = {.spin_ns = spin_ns};
	struct round r = {.ch = pl_chan_new_opts(kind, cap, &o), .seed = seed};
	pthread_t t[2 * K_MAX];
	void *m;

	CHECK(r.ch != NULL);
	for (size_t i = 0; full && i < cap; i++)
		CHECK_EQ(pl_chan_try_send(r.ch, (void *)(uintptr_t)1), 0);
	pthread_barrier_init(&r.go, NULL, (unsigned)(2 * k));
	for (int i = 0; i < k; i++) {
		CHECK_EQ(pthread_create(&t[2 * i], NULL, one_recv, &r), 0);
		CHECK_EQ(pthread_create(&t[2 * i + 1], NULL, one_send, &r), 0);
	}
	for (int i = 0; i < 2 * k; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(atomic_load(&r.done), 2 * k);
	CHECK_EQ(atomic_load(&r.sum), k);
	/* What was pre-filled is still there, and nothing else. */
	for (size_t i = 0; full && i < cap; i++)
		CHECK_EQ(pl_chan_try_recv(r.ch, &m), 0);
	CHECK_EQ(pl_chan_try_recv(r.ch, &m), -EAGAIN);
	pthread_barrier_destroy(&r.go);
	pl_chan_free(r.ch);
}

int main(void)
{
	uint64_t seed = pt_seed(), rng = seed;
	int rounds = (int)(400 * pt_scale() / (pt_tsan() ? 4 : 1));
	int kinds = 0;

	pt_watchdog_start(120);
	for (const char *const *kp = pl_chan_kinds(); *kp; kp++) {
		struct pl_chan_kind_info info;
		pl_chan *probe = pl_chan_new(*kp, 1);

		if (probe == NULL && errno == ENOSYS) {
			printf("skip %-9s not available\n", *kp);
			continue;
		}
		CHECK(probe != NULL);
		pl_chan_free(probe);
		CHECK_EQ(pl_chan_kind_info(*kp, &info), 0);
		kinds++;
		for (int i = 0; i < rounds; i++) {
			/* spsc: exactly one sending and one receiving thread. */
			int k = info.spsc ? 1 : 1 + (int)(pt_rand(&rng) % K_MAX);
			size_t cap = info.rendezvous && pt_rand(&rng) % 4 == 0
					 ? 0
					 : 1 + (size_t)(pt_rand(&rng) % 3);
			bool full = cap > 0 && pt_rand(&rng) % 2 == 0;
			/* Park at once half of the time: the path where a lost wakeup bites. */
			int64_t spin = pt_rand(&rng) % 2 ? 0 : PL_CHAN_SPIN_NS_DEFAULT;

			pt_note("kind %s round %d: %d one-shot receivers and senders, cap %zu, %s, "
				"spin %lld",
				*kp, i, k, cap, full ? "pre-filled (senders block)" : "empty",
				(long long)spin);
			run_round(*kp, cap, k, full, spin, pt_rand(&rng));
		}
		printf("ok   %-9s %d rounds%s\n", *kp, rounds,
		       info.spsc ? " (1 sender, 1 receiver)" : "");
	}
	return kinds ? 0 : PT_SKIP;
}
