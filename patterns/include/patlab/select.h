/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_SELECT_H
#define PATLAB_SELECT_H

/*
 * Select: Go's select statement over channels of any kind (chan.h), mixed freely.
 *
 * A select is an array of cases, each a send or a receive on one channel. Exactly one case
 * proceeds; the others have no effect (nothing consumed, nothing delivered).
 *
 * Semantics (Go's):
 * - A case is ready when its operation would not block: a receive on a channel holding a
 *   message or closed (closed and drained: err -EPIPE, msg NULL); a send on a channel with
 *   room, with a receiver waiting (capacity 0, where that receiver may itself be a select),
 *   or closed (err -EPIPE, nothing delivered).
 * - Among ready cases the choice is uniformly random (a fresh random order per call).
 * - pl_select() blocks until a case is ready or its context is done, spinning for at most the
 *   largest spin budget of its channels, then parked: a parked select uses no CPU. A case that
 *   is ready wins over a context that is already done. pl_try_select() never blocks (Go's
 *   select with a default: case).
 * - A NULL channel is a case that is never ready (Go's nil channel). With no non-NULL
 *   channel at all, pl_select() waits for its context only (NULL: forever, Go's select {}).
 * - The same channel may appear in several cases, also as a send and a receive: a select never
 *   pairs with itself. At capacity 0 a select blocked on a send case is the partner of a
 *   receiver, plain or selecting, and the other way round.
 * - "None ready" is one instant: pl_try_select() returns -EAGAIN, and pl_select() its
 *   context's error, only when at some moment during the call no case was ready.
 * - Memory ordering is that of pl_chan_send() / pl_chan_recv(): a send happens before the
 *   receive that returns its message, whichever side selected.
 *
 * Concurrency: any number of threads may select on the same channels at once, and with plain
 * operations on them. A case on an "spsc" channel makes the calling thread that channel's one
 * sender (SEND) or receiver (RECV), as a plain operation would. pl_chan_free() of a channel
 * must not race a select that names it. The cases array belongs to the caller; it is read
 * during the call and only the chosen case's @msg and @err are written.
 */

#include <stddef.h>

#include "chan.h"
#include "ctx.h"

enum pl_sel_op {
	PL_SEL_RECV = 0,
	PL_SEL_SEND = 1
};

/*
 * struct pl_sel_case - one case of a select.
 * @ch:  the channel; NULL: a case that is never ready (Go's nil channel).
 * @op:  PL_SEL_RECV or PL_SEL_SEND.
 * @msg: SEND: the message (any pointer, NULL included). RECV: set to the message received
 *       (NULL on -EPIPE), on the chosen case only.
 * @err: set on the chosen case only: 0, or -EPIPE (the channel is closed: a receive found it
 *       drained, a send delivered nothing).
 */
typedef struct pl_sel_case {
	pl_chan *ch;
	enum pl_sel_op op;
	void *msg;
	int err;
} pl_sel_case;

/* The most cases a select takes; more: -EINVAL. */
#define PL_SELECT_MAX 64

/*
 * pl_select - wait until one of @n @cases can proceed, and do it.
 * @cases: @n cases (NULL when @n is 0).
 * @cx:    bounds the wait; consulted only when no case is ready.
 * Returns the index of the case that proceeded (its @err and, for a receive, @msg set),
 * -ECANCELED or -ETIMEDOUT when @cx became done first (no case proceeded), or -EINVAL (@n >
 * PL_SELECT_MAX, @cases NULL with @n > 0, an @op that is neither RECV nor SEND). A case on a
 * "urcu" channel may also make it return -ENOMEM, as pl_chan_send() does (nothing done).
 */
int pl_select(pl_sel_case *cases, size_t n, pl_ctx *cx);

/*
 * pl_try_select - do one of the @n @cases that can proceed now, if any.
 * Returns the index of the case that proceeded (its @err and @msg set as for pl_select()),
 * -EAGAIN when none could (Go's default: case), or -EINVAL as pl_select(). Never blocks.
 */
int pl_try_select(pl_sel_case *cases, size_t n);

#endif /* PATLAB_SELECT_H */
