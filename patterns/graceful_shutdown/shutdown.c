/* SPDX-License-Identifier: MIT */
/*
 * The shutdown controller (see patlab/shutdown.h): signals -> RUNNING, DRAINING, FORCED.
 *
 * The handler. A signal handler may only call async-signal-safe functions, and must not take a
 * lock the interrupted code may hold; so ours does exactly one thing, write(2) of the signal
 * number (one byte) to the non-blocking write end of a pipe (the self-pipe trick), saving and
 * restoring errno around it. Everything else happens in pl_shutdown_poll(), called by the
 * owner's thread when the read end polls readable. The pipe is non-blocking at both ends: the
 * handler never blocks (a full pipe, 64 Ki unread signals, just drops the byte: two are all
 * the phases need), and poll never blocks. signalfd would do as well but needs the signals
 * blocked in every thread, which a library cannot promise for its caller's threads.
 *
 * The handler's globals. The handler cannot take an argument, so the write end lives in a
 * static atomic (lock-free, hence usable from a handler); one controller per process
 * (@controller_taken). pl_shutdown_free() must not close the write end under a handler that
 * already loaded it (the number could be reused by then): the handler counts itself in
 * @handlers_running around its load and write, and free first swaps the fd to -1, then waits
 * for the count to drop to zero (all seq_cst: a handler that incremented after free's check
 * loads -1; one that incremented before is waited for). The wait is a yield loop over a
 * handler's two instructions and a write(2), bounded.
 *
 * Phases and contexts. @root (with_cancel of background) is the parent of the grace context;
 * @stopping is a separate cancellable context. The first step (a signal, or begin) cancels
 * @stopping and creates grace = with_timeout(root, grace_ns); the second cancels @root, so the
 * grace context is done at once with -ECANCELED (a child of a cancelled parent). Steps run under
 * @lock; @phase and @grace are published with seq_cst stores and read lock-free.
 */
#include <patlab/shutdown.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync/die.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs lock-free atomic ints");

/* The write end of the live controller's pipe, -1 when none. See the top of the file. */
static _Atomic int handler_fd = -1;
/* Handlers between their load of @handler_fd and the end of their write. */
static _Atomic int handlers_running;
/* A controller exists (one per process: it owns the handlers). */
static _Atomic bool controller_taken;

struct pl_shutdown {
	/* Constant after pl_shutdown_new(). */
	int rfd, wfd;
	size_t nsignals;
	int signals[PL_SHUTDOWN_MAX_SIGNALS];
	struct sigaction old[PL_SHUTDOWN_MAX_SIGNALS];
	int64_t grace_ns;
	pl_ctx *root;	  /* owned; cancelled at FORCED */
	pl_ctx *stopping; /* owned; cancelled at DRAINING */

	/* Serialises poll/begin/force (the steps below). */
	pthread_mutex_t lock;
	/* Written under @lock (seq_cst), read lock-free. @grace: set once, owned. */
	pl_ctx *_Atomic grace;
	_Atomic int phase;
	_Atomic int last_signal;
};

static void on_signal(int signo)
{
	int saved = errno;
	int fd;

	atomic_fetch_add(&handlers_running, 1);
	fd = atomic_load(&handler_fd);
	if (fd >= 0) {
		unsigned char b = (unsigned char)signo;
		ssize_t rc = write(fd, &b, 1); /* EAGAIN (pipe full): dropped, see above */

		(void)rc;
	}
	atomic_fetch_sub(&handlers_running, 1);
	errno = saved;
}

/* step - one signal's worth of progress; under @lock. */
static void step(struct pl_shutdown *s)
{
	int phase = atomic_load(&s->phase);

	if (phase == PL_SHUTDOWN_RUNNING) {
		pl_ctx *g = pl_ctx_with_timeout(s->root, s->grace_ns);

		if (g == NULL) {
			/*
			 * Out of memory for the deadline context: the safe degradation is no grace
			 * at all (the caller's drain is then cut short, never unbounded).
			 */
			g = pl_ctx_retain(s->root);
			pl_ctx_cancel(s->root);
		}
		atomic_store(&s->grace, g);
		atomic_store(&s->phase, PL_SHUTDOWN_DRAINING);
		pl_ctx_cancel(s->stopping);
	} else if (phase == PL_SHUTDOWN_DRAINING) {
		atomic_store(&s->phase, PL_SHUTDOWN_FORCED);
		pl_ctx_cancel(s->root); /* the grace context is its child: done at once */
	}
}

enum pl_shutdown_phase pl_shutdown_poll(pl_shutdown *s)
{
	unsigned char buf[64];
	ssize_t n;

	PL_CHECK(pthread_mutex_lock(&s->lock));
	for (;;) {
		n = read(s->rfd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EAGAIN: nothing more (the write end never closes while we live) */
		for (ssize_t i = 0; i < n; i++) {
			atomic_store(&s->last_signal, buf[i]);
			step(s);
		}
	}
	PL_CHECK(pthread_mutex_unlock(&s->lock));
	return (enum pl_shutdown_phase)atomic_load(&s->phase);
}

enum pl_shutdown_phase pl_shutdown_begin(pl_shutdown *s)
{
	PL_CHECK(pthread_mutex_lock(&s->lock));
	if (atomic_load(&s->phase) == PL_SHUTDOWN_RUNNING)
		step(s);
	PL_CHECK(pthread_mutex_unlock(&s->lock));
	return (enum pl_shutdown_phase)atomic_load(&s->phase);
}

enum pl_shutdown_phase pl_shutdown_force(pl_shutdown *s)
{
	PL_CHECK(pthread_mutex_lock(&s->lock));
	while (atomic_load(&s->phase) != PL_SHUTDOWN_FORCED)
		step(s);
	PL_CHECK(pthread_mutex_unlock(&s->lock));
	return PL_SHUTDOWN_FORCED;
}

enum pl_shutdown_phase pl_shutdown_phase(const pl_shutdown *s)
{
	return (enum pl_shutdown_phase)atomic_load(&((pl_shutdown *)s)->phase);
}

int pl_shutdown_last_signal(const pl_shutdown *s)
{
	return atomic_load(&((pl_shutdown *)s)->last_signal);
}

int pl_shutdown_fd(const pl_shutdown *s)
{
	return s->rfd;
}

pl_ctx *pl_shutdown_stopping(pl_shutdown *s)
{
	return s->stopping;
}

pl_ctx *pl_shutdown_grace(pl_shutdown *s)
{
	return atomic_load(&s->grace);
}

static bool catchable(int sig)
{
	return sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP;
}

/* restore - put back the first @n saved dispositions. */
static void restore(struct pl_shutdown *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (sigaction(s->signals[i], &s->old[i], NULL) != 0)
			pl__die("pl_shutdown: sigaction(%d) restore: %d", s->signals[i], errno);
}

pl_shutdown *pl_shutdown_new(const int *signals, size_t n, int64_t grace_ns)
{
	struct pl_shutdown *s;
	struct sigaction sa;
	int fds[2], err = ENOMEM;
	size_t installed = 0;
	bool expected = false;

	if (signals == NULL || n == 0 || n > PL_SHUTDOWN_MAX_SIGNALS || grace_ns < 0) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!catchable(signals[i])) {
			errno = EINVAL;
			return NULL;
		}
	}
	if (!atomic_compare_exchange_strong(&controller_taken, &expected, true)) {
		errno = EBUSY;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto fail_taken;
	s->nsignals = n;
	memcpy(s->signals, signals, n * sizeof(*signals));
	s->grace_ns = grace_ns;
	atomic_init(&s->grace, NULL);
	atomic_init(&s->phase, PL_SHUTDOWN_RUNNING);
	atomic_init(&s->last_signal, 0);
	s->root = pl_ctx_with_cancel(NULL);
	s->stopping = pl_ctx_with_cancel(NULL);
	if (s->root == NULL || s->stopping == NULL)
		goto fail_ctx;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
		err = errno;
		goto fail_ctx;
	}
	s->rfd = fds[0];
	s->wfd = fds[1];
	PL_CHECK(pthread_mutex_init(&s->lock, NULL));

	atomic_store(&handler_fd, s->wfd);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < n; i++)
		sigaddset(&sa.sa_mask, signals[i]);
	for (; installed < n; installed++) {
		if (sigaction(signals[installed], &sa, &s->old[installed]) != 0) {
			err = errno;
			restore(s, installed);
			atomic_store(&handler_fd, -1);
			while (atomic_load(&handlers_running) != 0)
				sched_yield(); /* a handler's write: bounded */
			PL_CHECK(pthread_mutex_destroy(&s->lock));
			close(s->rfd);
			close(s->wfd);
			goto fail_ctx;
		}
	}
	return s;

fail_ctx:
	pl_ctx_release(s->stopping);
	pl_ctx_release(s->root);
	free(s);
fail_taken:
	atomic_store(&controller_taken, false);
	errno = err;
	return NULL;
}

void pl_shutdown_free(pl_shutdown *s)
{
	if (s == NULL)
		return;
	restore(s, s->nsignals);
	/* See "The handler's globals" at the top of the file. */
	atomic_store(&handler_fd, -1);
	while (atomic_load(&handlers_running) != 0)
		sched_yield(); /* woken by nobody: a handler's write is a bounded wait */
	close(s->rfd);
	close(s->wfd);
	PL_CHECK(pthread_mutex_destroy(&s->lock));
	pl_ctx_release(atomic_load(&s->grace));
	pl_ctx_release(s->stopping);
	pl_ctx_release(s->root);
	free(s);
	atomic_store(&controller_taken, false);
}
