/* SPDX-License-Identifier: MIT */
/*
 * Signal contexts (patlab/signals.h): signals turned into context cancellations, Go's
 * signal.NotifyContext.
 *
 * Why sigaction + a handler that only records and rings, not signalfd. signalfd reads a signal
 * only while it is blocked in EVERY thread of the process: a thread that has it unblocked gets
 * it delivered the ordinary way (for SIGINT, SIGTERM: the default action, the process dies).
 * A library cannot make that promise for threads its caller created before (or creates after
 * without copying the mask), so signalfd is a design for a program that owns main() and blocks
 * its signals before the first pthread_create. A handler installed with sigaction() works
 * whichever thread the kernel picks. The price is that the handler runs in the middle of
 * arbitrary code on that thread, so it may only do what is async-signal-safe: no lock, no
 * malloc, no pl_ctx_cancel() (which takes context locks the interrupted thread may hold). So
 * the handler (on_signal()) does exactly two things, both safe in a handler:
 *   1. records the signal in @pending[signo], a lock-free atomic (C11 allows lock-free atomics
 *      in handlers), as the registration epoch current at its arrival (see below);
 *   2. writes 1 to an eventfd, the doorbell of the dispatcher thread (write(2) is
 *      async-signal-safe; an eventfd write of 1 cannot block: its counter would need 2^64-2
 *      unread increments).
 * errno is saved and restored around it. A per-signal table plus a doorbell (rather than a
 * byte per signal through a pipe) is what Go's runtime does (sigqueue.go: a mask and a note):
 * nothing is ever dropped when the reader falls behind, memory is bounded, and repeated
 * signals of one number coalesce as standard signals do in the kernel.
 *
 * The dispatcher. One thread per process, shared by all signal contexts, so the context tree
 * itself stays thread-free. It is started (with every signal blocked, so it never runs the
 * handler itself) by the first pl_ctx_with_signals() when none runs, blocks in read(2) on the
 * eventfd (woken by on_signal() or by retire_locked()), then under @reg_lock takes each
 * pending entry and cancels with cause = signo every listener that lists the signal and was
 * registered no later than the entry's epoch. The stop of the last listener retires it:
 * @handler_fd swapped to -1, in-flight handlers drained, a stop flag and one more ring, then
 * the join (after the lock is dropped: the dispatcher needs it to see the flag).
 *
 * Epochs: a signal never cancels a context created after it. Each registration bumps
 * @epoch_now (under @reg_lock) and keeps the new value; a handler stores the epoch it reads
 * into @pending[signo], keeping the newest (a CAS loop, lock-free); a listener fires when the
 * stored epoch is >= its own (wrap-safe comparison). An arrival that raced with a registration
 * may go either way, which is the honest answer for a signal that came "at the same time".
 *
 * Dispositions. @listening[s] counts the listeners of signal s; the first installs our handler
 * (saving the previous action in @saved[s]), the last stop restores it (only if ours is still
 * the installed one: someone else's newer handler is left alone). The stop restores first,
 * then drains in-flight handlers and delivers what is pending, and only then unlinks its
 * listener: every arrival before the restore reaches the listeners, every arrival after it
 * the previous disposition. That is what lets a second Ctrl-C after the stop take the
 * default action.
 *
 * The handler's globals and the fd it writes. The handler cannot take an argument, so the
 * eventfd lives in @handler_fd, a lock-free atomic. Closing it under a handler that already
 * loaded it would let the handler write into whatever reuses the number, so the handler counts
 * itself in @handlers_running around its load and write, and retire_locked() first swaps the
 * fd to -1 and then waits for the count to reach zero (all seq_cst: a handler that incremented
 * after the wait's load reads -1; one that incremented before is waited for). The wait is a
 * yield loop over a handler's few instructions and one write(2): bounded.
 *
 * Locking: @reg_lock protects the listener list, @live, @listening and @saved, and is held
 * while cancelling. Lock order: @reg_lock, then context locks (pl_ctx_cancel_cause() takes
 * them one at a time); nothing in the context tree ever calls back here, so there is no cycle.
 */
#include <patlab/signals.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sync/die.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs lock-free atomic ints");

/* struct listener - one signal context, linked in @listeners while it listens. */
struct listener {
	struct listener *next;
	pl_ctx *cx;	/* the registry's reference */
	sigset_t set;	/* the signals it listens to */
	uint32_t epoch; /* @epoch_now at its registration */
	bool fired;	/* a signal cancelled it already (it is done: skip it) */
};

/* struct dispatcher - the one thread that turns pending signals into cancellations. */
struct dispatcher {
	pthread_t tid;
	int efd;   /* the doorbell; closed after the join */
	bool stop; /* under @reg_lock: retired, exit at the next ring */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
/* Protected by @reg_lock. */
static struct listener *listeners;
static struct dispatcher *live;	     /* the running dispatcher, NULL when none */
static unsigned listening[NSIG];     /* listeners per signal */
static struct sigaction saved[NSIG]; /* the disposition before the first listener */

/* Shared with on_signal(); all lock-free and seq_cst (see the top of the file). */
static _Atomic int handler_fd = -1;    /* @live's eventfd, -1 when none */
static _Atomic int handlers_running;   /* handlers between their load of the fd and return */
static _Atomic uint32_t epoch_now = 1; /* written under @reg_lock only; never 0 */
static _Atomic uint32_t pending[NSIG]; /* newest arrival epoch per signal; 0: none */

/* epoch_reached - @arrival is at or after @reg, on a wrapping 32-bit clock. */
static bool epoch_reached(uint32_t arrival, uint32_t reg)
{
	return (int32_t)(arrival - reg) >= 0;
}

static void on_signal(int signo)
{
	int saved_errno = errno;
	int fd;

	atomic_fetch_add(&handlers_running, 1);
	fd = atomic_load(&handler_fd);
	if (fd >= 0 && signo > 0 && signo < NSIG) {
		uint32_t e = atomic_load(&epoch_now);
		uint32_t cur = atomic_load(&pending[signo]);
		const uint64_t one = 1;
		ssize_t rc;

		/* Keep the newest epoch: an older one would hide this arrival from a newer
		 * listener. Lock-free, so safe in a handler. */
		while ((cur == 0 || !epoch_reached(cur, e)) &&
		       !atomic_compare_exchange_weak(&pending[signo], &cur, e))
			;
		/* Rings the dispatcher, blocked in read() in dispatcher_main(). Cannot block. */
		rc = write(fd, &one, sizeof(one));
		(void)rc;
	}
	atomic_fetch_sub(&handlers_running, 1);
	errno = saved_errno;
}

/*
 * deliver_pending_locked - take every pending signal and cancel its listeners (caller holds
 * @reg_lock). The exchange pairs with on_signal()'s CAS (both seq_cst).
 */
static void deliver_pending_locked(void)
{
	for (int s = 1; s < NSIG; s++) {
		uint32_t e = atomic_exchange(&pending[s], 0);

		if (e == 0)
			continue;
		for (struct listener *l = listeners; l != NULL; l = l->next) {
			if (l->fired || sigismember(&l->set, s) != 1 || !epoch_reached(e, l->epoch))
				continue;
			l->fired = true;
			pl_ctx_cancel_cause(l->cx, s);
		}
	}
}

/* drain_handlers - wait until no handler is between its load of @handler_fd and its return. */
static void drain_handlers(void)
{
	/* Bounded: a handler runs a few atomics and one write(2), and never blocks. */
	while (atomic_load(&handlers_running) != 0)
		sched_yield();
}

static void *dispatcher_main(void *arg)
{
	struct dispatcher *d = arg;

	for (;;) {
		uint64_t v;
		bool stop;
		/* Woken by on_signal()'s write, or by retire_locked()'s. */
		ssize_t n = read(d->efd, &v, sizeof(v));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(v))
			pl__die("signal dispatcher: read(eventfd) returned %zd: %s", n,
				strerror(errno));
		PL_CHECK(pthread_mutex_lock(&reg_lock));
		stop = d->stop;
		if (!stop)
			deliver_pending_locked();
		PL_CHECK(pthread_mutex_unlock(&reg_lock));
		if (stop)
			return NULL;
	}
}

/* start_locked - create the eventfd and the dispatcher thread; make them @live. 0 or -errno. */
static int start_locked(void)
{
	struct dispatcher *d = calloc(1, sizeof(*d));
	sigset_t all, old;
	int rc;

	if (d == NULL)
		return -ENOMEM;
	d->efd = eventfd(0, EFD_CLOEXEC);
	if (d->efd < 0) {
		rc = -errno;
		free(d);
		return rc;
	}
	/* The thread inherits a full mask: it never runs a handler, so its read() is never
	 * interrupted and no signal meant for the program's threads lands on it. */
	sigfillset(&all);
	PL_CHECK(pthread_sigmask(SIG_SETMASK, &all, &old));
	rc = pthread_create(&d->tid, NULL, dispatcher_main, d);
	PL_CHECK(pthread_sigmask(SIG_SETMASK, &old, NULL));
	if (rc != 0) {
		close(d->efd);
		free(d);
		return -rc;
	}
	for (int s = 1; s < NSIG; s++)
		atomic_store(&pending[s], 0);
	atomic_store(&handler_fd, d->efd);
	live = d;
	return 0;
}

/*
 * retire_locked - @live has no listener left (every disposition is restored): make handlers
 * stop using its eventfd and tell it to exit. Returns it; the caller joins it with
 * join_free() once @reg_lock is dropped.
 */
static struct dispatcher *retire_locked(void)
{
	struct dispatcher *d = live;
	const uint64_t one = 1;

	live = NULL;
	atomic_store(&handler_fd, -1);
	drain_handlers();
	d->stop = true;
	/* Wakes dispatcher_main(); cannot block nor fail short of a counter overflow. */
	if (write(d->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		pl__die("signal dispatcher: write(eventfd): %s", strerror(errno));
	return d;
}

static void join_free(struct dispatcher *d)
{
	if (d == NULL)
		return;
	PL_CHECK(pthread_join(d->tid, NULL));
	close(d->efd);
	free(d);
}

static int install_locked(int s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask); /* no nesting: the handler is short */
	sa.sa_flags = SA_RESTART;
	if (sigaction(s, &sa, &saved[s]) != 0)
		return -errno;
	return 0;
}

static void restore_locked(int s)
{
	struct sigaction cur;

	if (sigaction(s, NULL, &cur) != 0)
		pl__die("sigaction(%d) query: %s", s, strerror(errno));
	if ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != on_signal)
		return; /* someone installed their own since: theirs stays */
	if (sigaction(s, &saved[s], NULL) != 0)
		pl__die("sigaction(%d) restore: %s", s, strerror(errno));
}

/* catchable - a signal pl_ctx_with_signals() accepts (see patlab/signals.h). */
static bool catchable(int s)
{
	if (s < 1 || s >= NSIG || s > SIGRTMAX)
		return false;
	switch (s) {
	case SIGKILL:
	case SIGSTOP:
	case SIGSEGV:
	case SIGBUS:
	case SIGFPE:
	case SIGILL:
		return false;
	default:
		break;
	}
	return s < 32 || s >= SIGRTMIN; /* 32.. SIGRTMIN-1: the C library's own */
}

pl_ctx *pl_ctx_with_signals(pl_ctx *parent, const int *signals, size_t n)
{
	struct dispatcher *d = NULL;
	struct listener *l;
	int err = 0, s;

	if (signals == NULL || n == 0) {
		errno = EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	sigemptyset(&l->set);
	for (size_t i = 0; i < n; i++) {
		if (!catchable(signals[i])) {
			free(l);
			errno = EINVAL;
			return NULL;
		}
		sigaddset(&l->set, signals[i]);
	}
	l->cx = pl_ctx_with_cancel(parent);
	if (l->cx == NULL) {
		free(l);
		errno = ENOMEM;
		return NULL;
	}
	pl_ctx_retain(l->cx); /* the registry's reference */

	PL_CHECK(pthread_mutex_lock(&reg_lock));
	if (live == NULL)
		err = start_locked();
	if (err == 0) {
		uint32_t e = atomic_load(&epoch_now) + 1;

		/* Before any handler is installed: an arrival that sees this epoch counts. */
		atomic_store(&epoch_now, e != 0 ? e : 1);
		l->epoch = atomic_load(&epoch_now);
		for (s = 1; s < NSIG; s++) {
			if (sigismember(&l->set, s) != 1)
				continue;
			if (listening[s] == 0 && (err = install_locked(s)) != 0)
				break;
			listening[s]++;
		}
		if (err != 0) {
			/* Undo the signals counted so far (s itself was not). */
			for (int t = 1; t < s; t++)
				if (sigismember(&l->set, t) == 1 && --listening[t] == 0)
					restore_locked(t);
		}
	}
	if (err == 0) {
		l->next = listeners;
		listeners = l;
	} else if (listeners == NULL && live != NULL) {
		d = retire_locked();
	}
	PL_CHECK(pthread_mutex_unlock(&reg_lock));
	if (err == 0)
		return l->cx;

	join_free(d);
	pl_ctx_release(l->cx);
	pl_ctx_release(l->cx);
	free(l);
	errno = -err;
	return NULL;
}

int pl_ctx_signals_stop(pl_ctx *c)
{
	struct dispatcher *d = NULL;
	struct listener **pp, *l;

	if (c == NULL)
		return -EINVAL;
	PL_CHECK(pthread_mutex_lock(&reg_lock));
	for (pp = &listeners; (l = *pp) != NULL; pp = &l->next)
		if (l->cx == c)
			break;
	if (l == NULL) {
		PL_CHECK(pthread_mutex_unlock(&reg_lock));
		return -ENOENT;
	}
	/* 1. Give back the signals nobody else listens to: later arrivals are theirs. */
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&l->set, s) == 1 && --listening[s] == 0)
			restore_locked(s);
	/* 2. Earlier arrivals are ours: let running handlers finish, then deliver them. */
	drain_handlers();
	deliver_pending_locked();
	/* 3. Only now stop listening. */
	*pp = l->next;
	if (listeners == NULL)
		d = retire_locked();
	PL_CHECK(pthread_mutex_unlock(&reg_lock));

	pl_ctx_cancel(l->cx); /* Go's stop() cancels; a no-op when a signal came first */
	pl_ctx_release(l->cx);
	free(l);
	join_free(d);
	return 0;
}
