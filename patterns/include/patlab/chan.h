/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_CHAN_H
#define PATLAB_CHAN_H

/*
 * Channels: Go's channels in C, in several kinds behind one API.
 *
 * A channel carries void * messages (NULL included) in FIFO order. Kinds are chosen by name
 * (pl_chan_kinds() lists them): "mutex" (one lock, Go's direct hand-off, capacity 0 allowed),
 * "lockfree" (bounded MPMC ring with per-slot stamps), "urcu" (liburcu's wait-free queue,
 * bounded or unbounded), "spsc" (one producer, one consumer only). Every kind obeys the
 * semantics below and passes the same conformance and stress suites (tests/).
 *
 * Semantics (Go's):
 * - FIFO; try_* never block; 0 <= len <= cap; a full channel holds exactly cap messages.
 *   Capacity 0 is a rendezvous: a send returns 0 only once a receiver has the message.
 * - After close, sends fail with -EPIPE and deliver nothing (blocked senders too); receivers
 *   drain what is buffered, then get -EPIPE forever. Close wakes every waiter.
 * - The context is consulted only when an operation would block. A blocked operation returns
 *   promptly once its context is done (cancelled, an ancestor cancelled, or deadline passed),
 *   and has then delivered / consumed nothing.
 * - Blocking spins for at most the channel's spin budget (pl_chan_opts.spin_ns), then parks on
 *   a futex: a parked thread uses no CPU, and a waker makes a system call only when some thread
 *   is parked.
 *
 * Memory: a successful send "happens before" the receive that returns the message, so plain
 * writes made before the send are visible to the receiver. Ownership of what a message points
 * to is the application's; pl_chan_free() does not touch buffered messages.
 *
 * Concurrency: every operation may run concurrently with any other on the same channel (the
 * "spsc" kind: at most one sending and one receiving thread at a time), except pl_chan_free(),
 * which must be the last call.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "ctx.h"

typedef struct pl_chan pl_chan;

/* Capacity that asks for an unbounded channel (kinds that say they support it). */
#define PL_CHAN_UNBOUNDED SIZE_MAX

/* Default spin budget before parking: a cross-core futex wake costs ~40 us on the reference VM. */
#define PL_CHAN_SPIN_NS_DEFAULT 50000

/*
 * struct pl_chan_opts - tuning for pl_chan_new_opts(). Start from pl_chan_opts_default():
 * a zeroed struct means "spin 0 ns", i.e. park at once.
 * @spin_ns: how much of its own CPU time a blocked operation spends polling (~128 PAUSE
 *           polls, then sched_yield()) before it parks. CPU time, not wall time, so that
 *           waiters keep yielding rather than parking when threads outnumber cores. 0 parks
 *           at once. Kinds without a spin phase ignore it.
 */
typedef struct pl_chan_opts {
	int64_t spin_ns;
} pl_chan_opts;

/*
 * struct pl_chan_kind_info - what a kind is and what it accepts.
 * @name:       registry name, as given to pl_chan_new().
 * @summary:    one line for listings.
 * @rendezvous: capacity 0 is supported.
 * @unbounded:  PL_CHAN_UNBOUNDED is supported.
 * @spsc:       only one sending thread and one receiving thread may use a channel at a time.
 * @spins:      honours pl_chan_opts.spin_ns.
 */
struct pl_chan_kind_info {
	const char *name;
	const char *summary;
	bool rendezvous;
	bool unbounded;
	bool spsc;
	bool spins;
};

/* pl_chan_opts_default - the options pl_chan_new() uses. */
pl_chan_opts pl_chan_opts_default(void);

/*
 * pl_chan_new - a channel of @kind holding up to @capacity messages.
 * Returns the channel, or NULL with errno EINVAL (unknown kind, or a capacity the kind does
 * not support: 0 or PL_CHAN_UNBOUNDED), or ENOMEM.
 */
pl_chan *pl_chan_new(const char *kind, size_t capacity);

/* pl_chan_new_opts - as pl_chan_new() with tuning; @o NULL means defaults. EINVAL on bad @o. */
pl_chan *pl_chan_new_opts(const char *kind, size_t capacity, const pl_chan_opts *o);

/*
 * pl_chan_send - send @msg, blocking while the channel is full (at capacity 0: until a
 * receiver takes it).
 * Returns 0, -EPIPE when closed (before or while blocked; nothing delivered), or the error of
 * @cx (-ECANCELED, -ETIMEDOUT) when it became done while blocked (nothing delivered).
 * The one kind that allocates per message, urcu (its node cache ran dry and malloc failed),
 * also returns -ENOMEM, nothing delivered; the others preallocate and never do.
 */
int pl_chan_send(pl_chan *ch, void *msg, pl_ctx *cx);

/*
 * pl_chan_recv - receive into *@msg, blocking while the channel is empty.
 * Returns 0, -EPIPE when closed and drained, or the error of @cx when it became done while
 * blocked (nothing consumed; *@msg untouched).
 */
int pl_chan_recv(pl_chan *ch, void **msg, pl_ctx *cx);

/*
 * pl_chan_try_send - send @msg if it can be done without blocking.
 * Returns 0, -EAGAIN when full (at capacity 0: when no receiver waits), -EPIPE when closed
 * (urcu: also -ENOMEM, as for pl_chan_send).
 */
int pl_chan_try_send(pl_chan *ch, void *msg);

/* pl_chan_try_recv - receive without blocking: 0, -EAGAIN (empty), -EPIPE (closed, drained). */
int pl_chan_try_recv(pl_chan *ch, void **msg);

/* pl_chan_close - no more sends; wakes every waiter. 0, or -EPIPE when already closed. */
int pl_chan_close(pl_chan *ch);

/* pl_chan_len - messages buffered now (a snapshot under concurrency); <= pl_chan_cap(). */
size_t pl_chan_len(const pl_chan *ch);

/* pl_chan_cap - the capacity asked for: 0, n, or PL_CHAN_UNBOUNDED. */
size_t pl_chan_cap(const pl_chan *ch);

/* pl_chan_kind - the kind's registry name. */
const char *pl_chan_kind(const pl_chan *ch);

/* pl_chan_kinds - every registered kind name, NULL-terminated, the default ("mutex") first. */
const char *const *pl_chan_kinds(void);

/* pl_chan_kind_info - describe @kind into *@out: 0, or -EINVAL when unknown. */
int pl_chan_kind_info(const char *kind, struct pl_chan_kind_info *out);

/* pl_chan_free - release @ch (NULL: no-op). No thread may use it any more. */
void pl_chan_free(pl_chan *ch);

#endif /* PATLAB_CHAN_H */
