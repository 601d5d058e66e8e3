/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_SIGNALS_H
#define PATLAB_SIGNALS_H

/*
 * Signal contexts: Go's signal.NotifyContext in C.
 *
 * pl_ctx_with_signals() returns a cancellable child of a parent context that is also cancelled
 * when one of a set of signals arrives, with the signal number as its cause:
 *
 *	pl_ctx *cx = pl_ctx_with_signals(NULL, (int[]){SIGINT, SIGTERM}, 2);
 *	serve(cx);                      // returns once cx is done
 *	pl_ctx_signals_stop(cx);        // from now on a second Ctrl-C kills the process
 *	if (pl_ctx_cause(cx) > 0)       // a signal (its number), not -ECANCELED / -ETIMEDOUT
 *		log("stopping on signal %d", pl_ctx_cause(cx));
 *	drain(...);
 *	pl_ctx_release(cx);
 *
 * Mechanism (patterns/cancellation/signals.c explains it in full). The first signal context
 * for a signal installs a handler with sigaction(); the handler records the signal in an
 * atomic pending table and writes to an eventfd, nothing else (both are async-signal-safe).
 * One dispatcher thread, shared by every signal context of the process, started with the
 * first and joined by the stop of the last, blocks on the eventfd and cancels every context
 * that listens to the signal. The contexts themselves (ctx.c) stay free of threads. Signals
 * are not blocked anywhere: the handler may run on any thread of the process, which is what
 * makes this safe in a multi-threaded program whose threads the library did not create.
 *
 * Semantics (Go's):
 * - A signal cancels every live signal context that lists it and was created before the
 *   signal arrived (a signal never cancels a context created after it). Its err is then
 *   -ECANCELED and its cause (pl_ctx_cause()) the signal number, always > 0; descendants see
 *   the same. The first cancellation wins: a parent's cancel or deadline, or an earlier signal.
 * - While any signal context lists a signal, that signal is intercepted, even after the
 *   context is done: repeated signals are swallowed (not queued, not passed on). The previous
 *   disposition (a handler, SIG_IGN or SIG_DFL) is restored when the last context listing the
 *   signal is stopped, so that a second Ctrl-C after pl_ctx_signals_stop() takes the default
 *   action and ends the process.
 * - Signals of the same number that arrive while one is still undelivered coalesce, as
 *   standard signals do in the kernel.
 *
 * Ownership: pl_ctx_with_signals() returns a context holding one reference, the caller's;
 * the registry holds a second one until pl_ctx_signals_stop(). Every signal context must be
 * stopped (the handlers, the registry entry and the dispatcher thread are released only then);
 * releasing the caller's reference alone leaves the signals intercepted.
 *
 * Concurrency: both functions may be called from any number of threads at once, for any
 * contexts; they serialise on one internal lock. Neither is async-signal-safe.
 *
 * Interplay: the dispositions are process-wide, so code that also sets handlers for the same
 * signals (another library, pl_shutdown_new()) must not overlap in time with a signal context
 * listing them. A stop restores the disposition it saved only while this module's handler is
 * still the installed one; a handler installed by someone else in the meantime is left alone.
 * After fork() the child inherits the handlers but not the dispatcher thread: a child must
 * stop (or exec) before relying on them. The eventfd is close-on-exec.
 */

#include <stddef.h>

#include "ctx.h"

/*
 * pl_ctx_with_signals - a child of @parent cancelled by the first of @signals to arrive.
 * @parent:  the parent (NULL means background); the child is also done when it is.
 * @signals: the signal numbers to listen to (duplicates allowed). Refused: SIGKILL and
 *           SIGSTOP (they cannot be caught), SIGSEGV, SIGBUS, SIGFPE and SIGILL (a handler
 *           that returns from a real fault re-executes the fault forever), numbers out of
 *           1..SIGRTMAX, and the real-time signals below SIGRTMIN that the C library reserves.
 * @n:       how many, >= 1.
 *
 * The new context is cancelled with cause = the signal number (> 0) when a listed signal
 * arrives, with -ECANCELED (cause -ECANCELED) by pl_ctx_signals_stop() or pl_ctx_cancel(), and
 * as any child by its parent. A child of a done parent is born done and still registered
 * (pl_ctx_signals_stop() is still owed). On return every listed signal is intercepted.
 *
 * Returns the context (one reference, the caller's), or NULL with errno EINVAL (@signals
 * NULL, @n 0, a refused signal), ENOMEM, EMFILE/ENFILE (no file descriptor for the eventfd),
 * EAGAIN (the dispatcher thread could not be created), or the errno of a failed sigaction().
 * On failure nothing is left installed.
 */
pl_ctx *pl_ctx_with_signals(pl_ctx *parent, const int *signals, size_t n);

/*
 * pl_ctx_signals_stop - stop listening: @c's signals are no longer delivered to it, and each
 * signal no other signal context lists gets back the disposition it had before (see the top
 * of the file); then @c is cancelled with -ECANCELED if nothing cancelled it before (as Go's
 * stop() does: a context that can no longer be cancelled by a signal must not wait for one).
 * Drops the registry's reference; the caller's is untouched (pl_ctx_release() it as usual).
 * The stop of the last signal context joins the dispatcher thread. A signal that arrives
 * while the stop runs is either delivered to @c (and to every other context listing it) or,
 * once the previous disposition is back, handled by that: never both, never neither. Must not
 * be called from a signal handler.
 *
 * Returns 0, -EINVAL when @c is NULL, or -ENOENT when @c is not a signal context that is
 * still listening (never was one, or already stopped).
 */
int pl_ctx_signals_stop(pl_ctx *c);

#endif /* PATLAB_SIGNALS_H */
