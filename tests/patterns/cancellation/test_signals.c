/* SPDX-License-Identifier: MIT */
/*
 * Signal contexts (patlab/signals.h), one promise per case:
 * - refusals: bad arguments and uncatchable signals give EINVAL and install nothing; stopping
 *   what is not a listening signal context gives -EINVAL / -ENOENT;
 * - a listed signal (raise()) cancels the context and its children with cause = the signal;
 *   while listening, repeats are swallowed; the stop restores the handler installed before,
 *   which then runs again;
 * - kill(getpid()) reaches the context whichever thread takes it, and wakes threads blocked
 *   on it (pl_ctx_wait, a channel receive); SIGTERM's original disposition comes back;
 * - an unlisted signal does not cancel and its handler is untouched; SIG_IGN comes back;
 * - several signal contexts at once, overlapping sets: each sees exactly its signals, and a
 *   signal stays intercepted until the last context listing it stops;
 * - a signal never cancels a context created after it (repeated, to catch the window);
 * - stop without a signal cancels with -ECANCELED; a parent's cancel and cause win; a child of
 *   a done parent is born done and still stops;
 * - a second Ctrl-C after the stop ends the process: a real child process (this program run
 *   again with --child-sigint) takes SIGINT, is cancelled, stops, raises SIGINT again and
 *   must die of it.
 * "Is it still live" is asked only after a synchronisation with the dispatcher (sync_dispatch:
 * a probe context on another signal, raised and seen done), so no check depends on timing.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <patlab/patlab.h>

#include "check.h"

#define LONG_NS (10 * INT64_C(1000000000))

extern char **environ;

static _Atomic int hits[NSIG];

static void counting(int s)
{
	atomic_fetch_add(&hits[s], 1);
}

static void set_handler(int s, void (*h)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(s, &sa, NULL) == 0);
}

static void (*handler_of(int s))(int)
{
	struct sigaction sa;

	CHECK(sigaction(s, NULL, &sa) == 0);
	CHECK(!(sa.sa_flags & SA_SIGINFO));
	return sa.sa_handler;
}

/*
 * The signal the probe uses to flush the dispatcher; has a counting handler of its own. It is
 * numbered above every signal the cases raise: a dispatcher pass takes pending signals in
 * increasing order, all under its lock, which the probe's creation also needs.
 */
static int probe_sig(void)
{
	return SIGRTMIN + 1;
}

/* wait_done - wait (generously) for @c to be done; returns its error. */
static int wait_done(pl_ctx *c)
{
	int err = pl_ctx_wait(c, LONG_NS);

	CHECK(err != 0);
	return err;
}

/*
 * sync_dispatch - every signal raised by this thread before the call has been delivered (or
 * not) by the time it returns: a probe context's own signal, raised after them, is seen done,
 * and the dispatcher takes every pending signal in the pass that sees the probe's.
 */
static void sync_dispatch(void)
{
	int s = probe_sig();
	pl_ctx *p = pl_ctx_with_signals(NULL, &s, 1);

	CHECK(p != NULL);
	CHECK(raise(s) == 0);
	CHECK_EQ(wait_done(p), -ECANCELED);
	CHECK_EQ(pl_ctx_cause(p), s);
	CHECK_EQ(pl_ctx_signals_stop(p), 0);
	pl_ctx_release(p);
}

static void check_refusals(void)
{
	const int bad[] = {0,	   -1,	   SIGKILL, SIGSTOP, SIGSEGV, SIGBUS,
			   SIGFPE, SIGILL, NSIG,    32,	     1000};
	const int mixed[] = {SIGUSR1, SIGKILL};
	const int one = SIGUSR1;
	pl_ctx *plain;

	pt_note("refusals");
	errno = 0;
	CHECK(pl_ctx_with_signals(NULL, NULL, 1) == NULL);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(pl_ctx_with_signals(NULL, &one, 0) == NULL);
	CHECK_EQ(errno, EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pt_note("refusals: signal %d", bad[i]);
		errno = 0;
		CHECK(pl_ctx_with_signals(NULL, &bad[i], 1) == NULL);
		CHECK_EQ(errno, EINVAL);
	}
	errno = 0;
	CHECK(pl_ctx_with_signals(NULL, mixed, 2) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK(handler_of(SIGUSR1) == counting); /* nothing was installed */

	CHECK_EQ(pl_ctx_signals_stop(NULL), -EINVAL);
	CHECK_EQ(pl_ctx_signals_stop(pl_ctx_background()), -ENOENT);
	plain = pl_ctx_with_cancel(NULL);
	CHECK(plain != NULL);
	CHECK_EQ(pl_ctx_signals_stop(plain), -ENOENT);
	pl_ctx_release(plain);
}

static void check_raise_and_restore(void)
{
	const int sigs[] = {SIGUSR1, SIGUSR1}; /* a duplicate is fine */
	pl_ctx *cx, *child;
	int before = atomic_load(&hits[SIGUSR1]);

	pt_note("raise and restore");
	cx = pl_ctx_with_signals(NULL, sigs, 2);
	CHECK(cx != NULL);
	child = pl_ctx_with_cancel(cx);
	CHECK(child != NULL);
	CHECK_EQ(pl_ctx_err(cx), 0);
	CHECK(handler_of(SIGUSR1) != counting);

	CHECK(raise(SIGUSR1) == 0);
	CHECK_EQ(wait_done(cx), -ECANCELED);
	CHECK_EQ(pl_ctx_cause(cx), SIGUSR1);
	/* The dispatcher's cancel may still be walking down to the child: wait for it too. */
	CHECK_EQ(wait_done(child), -ECANCELED);
	CHECK_EQ(pl_ctx_cause(child), SIGUSR1);
	CHECK_EQ(atomic_load(&hits[SIGUSR1]), before); /* ours, not the previous handler */

	/* Still listening: a repeat is swallowed, not passed on. */
	CHECK(raise(SIGUSR1) == 0);
	sync_dispatch();
	CHECK_EQ(atomic_load(&hits[SIGUSR1]), before);

	CHECK_EQ(pl_ctx_signals_stop(cx), 0);
	CHECK_EQ(pl_ctx_cause(cx), SIGUSR1); /* the stop's cancel came second */
	CHECK(handler_of(SIGUSR1) == counting);
	CHECK(raise(SIGUSR1) == 0);
	CHECK_EQ(atomic_load(&hits[SIGUSR1]), before + 1);
	CHECK_EQ(pl_ctx_signals_stop(cx), -ENOENT);
	pl_ctx_release(child);
	pl_ctx_release(cx);
}

struct blocked {
	pl_ctx *cx;
	pl_chan *ch;
	int rc;
};

static void *block_main(void *arg)
{
	struct blocked *b = arg;
	void *m;

	/* Woken by the cancel that the signal causes. */
	if (b->ch != NULL)
		b->rc = pl_chan_recv(b->ch, &m, b->cx);
	else
		b->rc = pl_ctx_wait(b->cx, -1);
	return NULL;
}

static void check_kill_wakes_threads(void)
{
	const int sigs[] = {SIGUSR2, SIGTERM};
	struct sigaction orig;
	struct blocked b[4];
	pthread_t t[4];
	pl_ctx *cx;

	pt_note("kill(getpid()) wakes blocked threads");
	CHECK(sigaction(SIGTERM, NULL, &orig) == 0);
	cx = pl_ctx_with_signals(NULL, sigs, 2);
	CHECK(cx != NULL);
	for (int i = 0; i < 4; i++) {
		b[i].cx = cx;
		b[i].ch = i % 2 ? pl_chan_new("mutex", 1) : NULL;
		CHECK(i % 2 == 0 || b[i].ch != NULL);
		b[i].rc = 1;
		CHECK(pthread_create(&t[i], NULL, block_main, &b[i]) == 0);
	}
	/* Without our handler, SIGTERM's default action would end the test here. */
	CHECK(kill(getpid(), SIGTERM) == 0);
	for (int i = 0; i < 4; i++) {
		CHECK(pthread_join(t[i], NULL) == 0);
		CHECK_EQ(b[i].rc, -ECANCELED);
		pl_chan_free(b[i].ch);
	}
	CHECK_EQ(pl_ctx_cause(cx), SIGTERM);
	CHECK_EQ(pl_ctx_signals_stop(cx), 0);
	pl_ctx_release(cx);
	CHECK(handler_of(SIGTERM) == orig.sa_handler);
}

static void check_unlisted(void)
{
	const int s1 = SIGUSR1;
	pl_ctx *cx;
	int before = atomic_load(&hits[SIGUSR2]);

	pt_note("an unlisted signal");
	cx = pl_ctx_with_signals(NULL, &s1, 1);
	CHECK(cx != NULL);
	CHECK(handler_of(SIGUSR2) == counting);
	CHECK(raise(SIGUSR2) == 0);
	CHECK_EQ(atomic_load(&hits[SIGUSR2]), before + 1);
	sync_dispatch();
	CHECK_EQ(pl_ctx_err(cx), 0);
	CHECK(raise(SIGUSR1) == 0);
	CHECK_EQ(wait_done(cx), -ECANCELED);
	CHECK_EQ(pl_ctx_cause(cx), SIGUSR1);
	CHECK_EQ(pl_ctx_signals_stop(cx), 0);
	pl_ctx_release(cx);

	/* SIG_IGN is a previous disposition like any other. */
	pt_note("SIG_IGN restored");
	set_handler(SIGUSR2, SIG_IGN);
	{
		const int s2 = SIGUSR2;

		cx = pl_ctx_with_signals(NULL, &s2, 1);
		CHECK(cx != NULL);
		CHECK(handler_of(SIGUSR2) != SIG_IGN);
		CHECK_EQ(pl_ctx_signals_stop(cx), 0);
		pl_ctx_release(cx);
	}
	CHECK(handler_of(SIGUSR2) == SIG_IGN);
	set_handler(SIGUSR2, counting);
}

static void check_several(void)
{
	const int sa[] = {SIGUSR1}, sb[] = {SIGUSR2}, sc[] = {SIGUSR1, SIGUSR2};
	pl_ctx *a, *b, *c;
	int h1 = atomic_load(&hits[SIGUSR1]), h2 = atomic_load(&hits[SIGUSR2]);

	pt_note("several signal contexts at once");
	a = pl_ctx_with_signals(NULL, sa, 1);
	b = pl_ctx_with_signals(NULL, sb, 1);
	c = pl_ctx_with_signals(NULL, sc, 2);
	CHECK(a != NULL && b != NULL && c != NULL);

	CHECK(raise(SIGUSR2) == 0);
	CHECK_EQ(wait_done(b), -ECANCELED);
	CHECK_EQ(wait_done(c), -ECANCELED);
	CHECK_EQ(pl_ctx_cause(b), SIGUSR2);
	CHECK_EQ(pl_ctx_cause(c), SIGUSR2);
	sync_dispatch();
	CHECK_EQ(pl_ctx_err(a), 0);

	CHECK(raise(SIGUSR1) == 0);
	CHECK_EQ(wait_done(a), -ECANCELED);
	CHECK_EQ(pl_ctx_cause(a), SIGUSR1);
	CHECK_EQ(pl_ctx_cause(c), SIGUSR2); /* the first cause stays */

	/* b stops; c still lists SIGUSR2, so it stays intercepted. */
	CHECK_EQ(pl_ctx_signals_stop(b), 0);
	CHECK(raise(SIGUSR2) == 0);
	sync_dispatch();
	CHECK_EQ(atomic_load(&hits[SIGUSR2]), h2);
	CHECK_EQ(pl_ctx_signals_stop(c), 0);
	CHECK(handler_of(SIGUSR2) == counting);
	CHECK(raise(SIGUSR2) == 0);
	CHECK_EQ(atomic_load(&hits[SIGUSR2]), h2 + 1);
	/* a still lists SIGUSR1. */
	CHECK(raise(SIGUSR1) == 0);
	sync_dispatch();
	CHECK_EQ(atomic_load(&hits[SIGUSR1]), h1);
	CHECK_EQ(pl_ctx_signals_stop(a), 0);
	CHECK(raise(SIGUSR1) == 0);
	CHECK_EQ(atomic_load(&hits[SIGUSR1]), h1 + 1);
	pl_ctx_release(a);
	pl_ctx_release(b);
	pl_ctx_release(c);
}

static void check_not_retroactive(void)
{
	const int s = SIGUSR1;
	const int rounds = pt_tsan() ? 30 : 200;

	/* A signal raised while an older context listens must not cancel a newer one, even
	 * when the dispatcher has not taken it yet when the newer one registers. */
	for (int i = 0; i < rounds; i++) {
		pl_ctx *older, *newer;

		pt_note("not retroactive: round %d", i);
		older = pl_ctx_with_signals(NULL, &s, 1);
		CHECK(older != NULL);
		CHECK(raise(SIGUSR1) == 0);
		newer = pl_ctx_with_signals(NULL, &s, 1);
		CHECK(newer != NULL);
		CHECK_EQ(wait_done(older), -ECANCELED);
		sync_dispatch();
		CHECK_EQ(pl_ctx_err(newer), 0);
		CHECK_EQ(pl_ctx_signals_stop(newer), 0);
		CHECK_EQ(pl_ctx_cause(newer), -ECANCELED);
		CHECK_EQ(pl_ctx_signals_stop(older), 0);
		CHECK_EQ(pl_ctx_cause(older), SIGUSR1);
		pl_ctx_release(newer);
		pl_ctx_release(older);
	}
}

static void check_stop_and_parents(void)
{
	const int s = SIGUSR1;
	pl_ctx *cx, *parent;

	pt_note("stop without a signal");
	cx = pl_ctx_with_signals(NULL, &s, 1);
	CHECK(cx != NULL);
	CHECK_EQ(pl_ctx_signals_stop(cx), 0);
	CHECK_EQ(pl_ctx_err(cx), -ECANCELED);
	CHECK_EQ(pl_ctx_cause(cx), -ECANCELED);
	pl_ctx_release(cx);

	pt_note("a parent's cancel wins");
	parent = pl_ctx_with_cancel(NULL);
	CHECK(parent != NULL);
	cx = pl_ctx_with_signals(parent, &s, 1);
	CHECK(cx != NULL);
	pl_ctx_cancel_cause(parent, 777);
	CHECK_EQ(pl_ctx_err(cx), -ECANCELED);
	CHECK_EQ(pl_ctx_cause(cx), 777);
	CHECK(raise(SIGUSR1) == 0);
	sync_dispatch();
	CHECK_EQ(pl_ctx_cause(cx), 777);
	CHECK_EQ(pl_ctx_signals_stop(cx), 0);
	pl_ctx_release(cx);

	pt_note("child of a done parent");
	cx = pl_ctx_with_signals(parent, &s, 1);
	CHECK(cx != NULL);
	CHECK_EQ(pl_ctx_cause(cx), 777);
	CHECK(handler_of(SIGUSR1) != counting); /* registered all the same */
	CHECK_EQ(pl_ctx_signals_stop(cx), 0);
	CHECK(handler_of(SIGUSR1) == counting);
	pl_ctx_release(cx);
	pl_ctx_release(parent);

	pt_note("a deadline parent");
	parent = pl_ctx_with_timeout(NULL, 1000000); /* 1 ms */
	CHECK(parent != NULL);
	cx = pl_ctx_with_signals(parent, &s, 1);
	CHECK(cx != NULL);
	CHECK_EQ(wait_done(cx), -ETIMEDOUT);
	CHECK_EQ(pl_ctx_signals_stop(cx), 0);
	CHECK_EQ(pl_ctx_err(cx), -ETIMEDOUT);
	pl_ctx_release(cx);
	pl_ctx_release(parent);
}

/* The child of check_second_sigint(): exit codes other than death by SIGINT are failures. */
static int child_sigint(void)
{
	const int sigs[] = {SIGINT, SIGTERM};
	pl_ctx *cx = pl_ctx_with_signals(NULL, sigs, 2);

	if (cx == NULL)
		return 2;
	raise(SIGINT);
	if (pl_ctx_wait(cx, LONG_NS) != -ECANCELED || pl_ctx_cause(cx) != SIGINT)
		return 3;
	raise(SIGINT); /* still listening: swallowed */
	if (pl_ctx_signals_stop(cx) != 0)
		return 4;
	pl_ctx_release(cx);
	raise(SIGINT); /* the second Ctrl-C: the default action ends the process */
	return 5;
}

static void check_second_sigint(const char *self)
{
	posix_spawnattr_t attr;
	sigset_t def, none;
	char *argv[] = {(char *)self, (char *)"--child-sigint", NULL};
	pid_t pid;
	int st;

	pt_note("second SIGINT ends a child process");
	CHECK(posix_spawnattr_init(&attr) == 0);
	/* Whatever this test inherited (a background job ignores SIGINT), the child starts
	 * with SIGINT at its default action and unblocked. */
	sigemptyset(&def);
	sigaddset(&def, SIGINT);
	sigemptyset(&none);
	CHECK(posix_spawnattr_setsigdefault(&attr, &def) == 0);
	CHECK(posix_spawnattr_setsigmask(&attr, &none) == 0);
	CHECK(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) == 0);
	CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, &attr, argv, environ) == 0);
	CHECK(posix_spawnattr_destroy(&attr) == 0);
	while (waitpid(pid, &st, 0) < 0)
		CHECK(errno == EINTR);
	if (WIFEXITED(st))
		pt_fail(__FILE__, __LINE__, "child exited with %d instead of dying of SIGINT",
			WEXITSTATUS(st));
	CHECK(WIFSIGNALED(st));
	CHECK_EQ(WTERMSIG(st), SIGINT);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--child-sigint") == 0)
		return child_sigint();

	pt_watchdog_start(60);
	set_handler(SIGUSR1, counting);
	set_handler(SIGUSR2, counting);
	set_handler(probe_sig(), counting);

	check_refusals();
	check_raise_and_restore();
	check_kill_wakes_threads();
	check_unlisted();
	check_several();
	check_not_retroactive();
	check_stop_and_parents();
	check_second_sigint(argv[0]);
	CHECK(handler_of(SIGUSR1) == counting);
	CHECK(handler_of(SIGUSR2) == counting);
	CHECK(handler_of(probe_sig()) == counting);
	pt_note("done");
	return 0;
}
