/* SPDX-License-Identifier: MIT */
/*
 * Parking: a thread blocked on a channel uses no CPU (chan.h: "a parked thread uses no CPU").
 *
 * For every registered kind, with the default spin budget, a thread blocks for ~200 ms in one
 * of several ways (receive on an empty channel, send on a full one, send at capacity 0 when
 * the kind has rendezvous) and is then released by the main thread in one of several ways (a
 * send, a receive, a context cancel, its context's deadline, a close). The blocked thread reads
 * its own CPU clock (CLOCK_THREAD_CPUTIME_ID: user + system time of that thread alone) and the
 * monotonic clock around the operation; it must have used under 10% of the time it was blocked
 * (30% under sanitizers, whose runtimes add work to every call). The default spin budget is
 * 50 us, so a correct kind uses well under 1%; a kind that spins or polls (even by yielding)
 * for the whole wait uses close to 100% and fails.
 *
 * This is a resource check, not a timing check: how long the wait lasted does not matter, only
 * the ratio. At most two blocked threads run at a time (the reference machine has 2 cores), so
 * on a quiet machine a spinning thread gets a core to itself. On a loaded one (CI, or eight
 * builds on two cores) a spinner's CPU share can fall under the bound, so the thread's context
 * switches are counted too (getrusage(RUSAGE_THREAD)): a parked thread is switched a few dozen
 * times at most, a thread that keeps yielding or polling thousands of times. (A thread that
 * only PAUSEs, never yielding, on a heavily loaded machine escapes both; on a quiet one the
 * CPU bound catches it.)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <patlab/patlab.h>

#include "check.h"
#include "helpers.h"

#define MS	 1000000LL
#define BLOCK_NS (200 * MS)

/*
 * A parked thread is switched out a few dozen times at most: its spin phase yields (to the
 * other blocked thread too, while both spin: ~20 switches measured in 50 us), then it sleeps
 * and is woken once. A thread that keeps yielding (a spin budget ignored) is switched out at
 * every sched_yield() that finds another runnable thread: tens of thousands of times in 200 ms
 * on a loaded machine, where its CPU share alone could fall under the bound.
 */
#define MAX_SWITCHES 1000

enum wake {
	BY_SEND,
	BY_RECV,
	BY_CANCEL,
	BY_DEADLINE,
	BY_CLOSE
};

static const char *const wake_name[] = {"a send", "a receive", "ctx cancel", "ctx deadline",
					"close"};

struct blocked {
	/* Set up by main before the thread starts. */
	const char *what;
	pl_chan *ch;
	bool send;
	size_t cap;
	enum wake wake;
	pl_ctx *cx;
	int want;
	/* Written by the blocked thread, read by main after join. */
	pthread_t t;
	atomic_int ready; /* seq_cst; main starts its 200 ms once this is set */
	int rc;
	int64_t cpu_ns, wall_ns;
	long switches; /* context switches of the thread during the operation */
};

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;

	CHECK_EQ(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts), 0);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long thread_switches(void)
{
	struct rusage ru;

	CHECK_EQ(getrusage(RUSAGE_THREAD, &ru), 0);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;
	void *m = NULL;
	long sw0 = thread_switches();
	int64_t cpu0 = thread_cpu_ns(), wall0 = pl_now_ns();

	atomic_store(&b->ready, 1);
	/* Woken by main's send/receive/cancel/close after 200 ms, or by the deadline. */
	if (b->send)
		b->rc = pl_chan_send(b->ch, (void *)0x1234, b->cx);
	else
		b->rc = pl_chan_recv(b->ch, &m, b->cx);
	b->cpu_ns = thread_cpu_ns() - cpu0;
	b->wall_ns = pl_now_ns() - wall0;
	b->switches = thread_switches() - sw0;
	return NULL;
}

static void setup(struct blocked *b, const char *kind, bool send, size_t cap, enum wake wake)
{
	memset(b, 0, sizeof(*b));
	b->ch = pl_chan_new(kind, cap);
	CHECK(b->ch != NULL);
	b->send = send;
	b->cap = cap;
	b->wake = wake;
	b->want = 0;
	if (send && cap != 0 && cap != PL_CHAN_UNBOUNDED)
		for (size_t i = 0; i < cap; i++)
			CHECK_EQ(pl_chan_try_send(b->ch, (void *)(i + 1)), 0);
	switch (wake) {
	case BY_CANCEL:
		b->cx = pl_ctx_with_cancel(NULL);
		b->want = -ECANCELED;
		break;
	case BY_DEADLINE:
		b->cx = pl_ctx_with_timeout(NULL, BLOCK_NS);
		b->want = -ETIMEDOUT;
		break;
	case BY_CLOSE:
		b->want = -EPIPE;
		break;
	default:
		break;
	}
	CHECK(wake != BY_CANCEL && wake != BY_DEADLINE ? true : b->cx != NULL);
	atomic_init(&b->ready, 0);
}

/* Release @b the way it was set up to be released (the deadline releases itself). */
static void release(struct blocked *b)
{
	void *m;

	switch (b->wake) {
	case BY_SEND:
		CHECK_EQ(pl_chan_send(b->ch, (void *)0x5678, NULL), 0);
		break;
	case BY_RECV:
		CHECK_EQ(pl_chan_recv(b->ch, &m, NULL), 0);
		break;
	case BY_CANCEL:
		pl_ctx_cancel(b->cx);
		break;
	case BY_DEADLINE:
		break;
	case BY_CLOSE:
		CHECK_EQ(pl_chan_close(b->ch), 0);
		break;
	}
}

/* Block up to two threads at once for 200 ms, release them, check their CPU use. */
static void run(const char *kind, struct blocked *b, int n)
{
	double bound = pt_sanitized() ? 0.30 : 0.10;

	for (int i = 0; i < n; i++) {
		pt_note("%s: %s %s cap %zu, released by %s", kind, b[i].send ? "send" : "recv",
			b[i].send ? "full" : "empty", b[i].cap, wake_name[b[i].wake]);
		CHECK_EQ(pthread_create(&b[i].t, NULL, blocked_main, &b[i]), 0);
	}
	for (int i = 0; i < n; i++)
		while (!atomic_load(&b[i].ready))
			pt_sleep_ns(MS / 10);
	pt_sleep_ns(BLOCK_NS);
	for (int i = 0; i < n; i++)
		release(&b[i]);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(pthread_join(b[i].t, NULL), 0);
		CHECK_EQ(b[i].rc, b[i].want);
		double ratio = (double)b[i].cpu_ns / (double)b[i].wall_ns;
		char cap[24];

		pt_cap_name(b[i].cap, cap, sizeof(cap));
		bool ok = ratio < bound && b[i].switches <= MAX_SWITCHES;

		printf("%-4s %-9s %s, cap %s, released by %s: blocked %.0f ms, cpu %.2f ms "
		       "(%.1f%%; bound %.0f%%), %ld context switches (bound %d)\n",
		       ok ? "ok" : "FAIL", kind,
		       !b[i].send      ? "recv on an empty channel"
		       : b[i].cap == 0 ? "send with no receiver"
				       : "send on a full channel",
		       cap, wake_name[b[i].wake], b[i].wall_ns / 1e6, b[i].cpu_ns / 1e6,
		       100 * ratio, 100 * bound, b[i].switches, MAX_SWITCHES);
		CHECK(ratio < bound);
		CHECK(b[i].switches <= MAX_SWITCHES);
		if (b[i].cx != NULL)
			pl_ctx_release(b[i].cx);
		pl_chan_free(b[i].ch);
	}
	fflush(stdout);
}

int main(void)
{
	const char *const *kinds = pl_chan_kinds();
	int missing = 0;

	pt_watchdog_start(60);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t k = 0; kinds[k] != NULL; k++) {
		struct pl_chan_kind_info info;
		struct blocked b[2];

		CHECK_EQ(pl_chan_kind_info(kinds[k], &info), 0);
		pl_chan *probe = pl_chan_new(kinds[k], 1);
		if (probe == NULL && errno == ENOSYS) {
			printf("skip %-9s (kind not implemented: ENOSYS)\n", kinds[k]);
			missing++;
			continue;
		}
		CHECK(probe != NULL);
		pl_chan_free(probe);

		setup(&b[0], kinds[k], false, 1, BY_SEND);
		setup(&b[1], kinds[k], true, 1, BY_RECV);
		run(kinds[k], b, 2);
		setup(&b[0], kinds[k], false, 4, BY_CANCEL);
		setup(&b[1], kinds[k], true, 4, BY_DEADLINE);
		run(kinds[k], b, 2);
		setup(&b[0], kinds[k], false, 1, BY_CLOSE);
		setup(&b[1], kinds[k], true, 1, BY_CLOSE);
		run(kinds[k], b, 2);
		if (info.rendezvous) {
			setup(&b[0], kinds[k], true, 0, BY_RECV);
			setup(&b[1], kinds[k], false, 0, BY_SEND);
			run(kinds[k], b, 2);
		}
		if (info.unbounded) {
			setup(&b[0], kinds[k], false, PL_CHAN_UNBOUNDED, BY_SEND);
			setup(&b[1], kinds[k], false, PL_CHAN_UNBOUNDED, BY_DEADLINE);
			run(kinds[k], b, 2);
		}
	}
	if (missing) {
		printf("SKIPPED: %d kind(s) not implemented\n", missing);
		return PT_SKIP;
	}
	printf("PASS\n");
	return 0;
}
