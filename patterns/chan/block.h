/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_BLOCK_H
#define PATLAB_BLOCK_H

/*
 * Internal: the whole blocking operation over a non-blocking attempt, with the context
 * watched while parked (spin-then-park from sync/park.h, cancellation from the context's
 * watches). The kinds built on try-operations (lockfree, urcu, spsc) use it, and so do
 * primitives with a blocking step of their own (pipeline, ingress).
 */

#include <patlab/ctx.h>

#include "sync/park.h"

/*
 * pl__block - the blocking form of a non-blocking operation.
 * @evc:     where this operation's waiters sleep; whoever can make @attempt succeed (or
 *           final) notifies it: the opposite side after each transfer, close with all.
 * @attempt: tries once; -EAGAIN means "would block", anything else is the result.
 * @ch, @arg: passed to @attempt.
 * @cx:      consulted only once the spin phase failed; its cancellation wakes the sleeper
 *           (through a watch) and its deadline bounds the sleep.
 * @spin_ns: spin budget before parking.
 * Returns @attempt's final result, or @cx's error (the attempt then did nothing).
 */
int pl__block(struct pl__evc *evc, int (*attempt)(void *ch, void *arg), void *ch, void *arg,
	      pl_ctx *cx, int64_t spin_ns);

#endif /* PATLAB_BLOCK_H */
