/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_TIMER_H
#define PATLAB_TIMER_H

/*
 * Timers and tickers: Go's time.Timer and time.Ticker (Go 1.23 semantics), delivering on a
 * channel you receive from or select on.
 *
 * A timer sends one message on its channel when its deadline comes; a ticker sends one every
 * period. The message is the fire time, (void *)(uintptr_t) pl_now_ns() read when it was sent:
 * never earlier than the deadline. The channel is a "mutex" channel of capacity 1 owned by the
 * timer: a ticker's tick that finds the previous one still untaken is dropped, never queued.
 * Timers fire in deadline order (equal deadlines: in the order they were armed).
 *
 * Stale messages (Go 1.23): once pl_timer_stop() or pl_timer_reset() returns, no message from
 * before the call is received: an untaken one is removed, a fire in progress is cancelled. A
 * receive that was concurrent with the call may still get the older message; it then counts as
 * received before the call (it took it from the channel before the call could).
 *
 * All timers share one thread per process, started by the first pl_timer_new() or
 * pl_ticker_new() (and shared with context after-functions), sleeping until the earliest
 * deadline: there is no thread per timer, and 100,000 live timers cost memory, not CPU.
 * Not fork-safe: a child process must not use timers made before the fork.
 *
 * Concurrency: pl_timer_stop(), pl_timer_reset() and receives may run concurrently from any
 * threads, against a fire. pl_timer_free() must be the last call on the timer, with no thread
 * still using its channel.
 */

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"

typedef struct pl_timer pl_timer;

/*
 * pl_timer_new - a timer that sends one message on its channel @delay_ns from now (<= 0: at
 * once, through the timer thread like any other). Returns the timer (the caller's, to give to
 * pl_timer_free()), or NULL with errno ENOMEM or EAGAIN (the timer thread could not be
 * started).
 */
pl_timer *pl_timer_new(int64_t delay_ns);

/*
 * pl_ticker_new - a ticker: a message every @period_ns, the first one @period_ns from now.
 * Ticks keep to the original schedule (deadline k is start + k * @period_ns); a tick that finds
 * the previous one untaken is dropped; ticks that could not even be sent on time (a busy timer
 * thread) are skipped, not bunched. Returns the ticker, or NULL with errno EINVAL (@period_ns
 * <= 0), ENOMEM or EAGAIN.
 */
pl_timer *pl_ticker_new(int64_t period_ns);

/* pl_timer_chan - the channel @t delivers on (owned by @t; never close or free it). */
pl_chan *pl_timer_chan(pl_timer *t);

/*
 * pl_timer_stop - stop @t (a timer or a ticker): no further message until pl_timer_reset().
 * Returns true when this call prevented a delivery: @t was armed, or its message was still
 * untaken in the channel (removed now, as Go 1.23 does); false when it had fired and the
 * message was taken, or it was stopped already. Either way, once it returns no message from
 * before the call is received.
 */
bool pl_timer_stop(pl_timer *t);

/*
 * pl_timer_reset - re-arm @t: a timer fires once @ns from now (<= 0: at once), a ticker every
 * @ns from now on (its new period). An untaken message from before is removed and a fire in
 * progress cancelled, as by pl_timer_stop(). Returns 0, or -EINVAL for a ticker with @ns <= 0
 * (nothing changed then).
 */
int pl_timer_reset(pl_timer *t, int64_t ns);

/*
 * pl_timer_free - stop @t and free it with its channel. A fire racing with it is waited out:
 * no message arrives after it returns. NULL is a no-op.
 */
void pl_timer_free(pl_timer *t);

#endif /* PATLAB_TIMER_H */
