/* SPDX-License-Identifier: MIT */
/*
 * The generic blocking loop: spin over a non-blocking attempt, then park on an eventcount
 * with the context watched. See block.h.
 */
#include "chan/block.h"

#include <errno.h>
#include <stdint.h>

#include "context/ctx_watch.h"

/* Runs under the context's lock when it is cancelled: wake every sleeper on this evc. */
static void wake_evc(struct pl__ctx_watch *w)
{
	struct pl__evc *e = w->arg;

	atomic_fetch_add_explicit(&e->seq, 1, memory_order_relaxed);
	pl__futex_wake(&e->seq, INT32_MAX);
}

int pl__block(struct pl__evc *evc, int (*attempt)(void *ch, void *arg), void *ch, void *arg,
	      pl_ctx *cx, int64_t spin_ns)
{
	struct pl__spin spin;
	struct pl__ctx_watch w = {.fn = wake_evc, .arg = evc};
	bool watching = false;
	int64_t deadline = INT64_MAX;
	int rc;

	pl__spin_init(&spin, spin_ns);
	for (;;) {
		rc = attempt(ch, arg);
		if (rc != -EAGAIN)
			return rc;
		if (!pl__spin_once(&spin))
			break;
	}
	if (!pl__ctx_never_done(cx))
		deadline = pl_ctx_deadline(cx);
	for (;;) {
		uint32_t key = pl__evc_prepare(evc);

		/* Attempt before looking at the context: a ready operation wins, as in Go. */
		rc = attempt(ch, arg);
		if (rc != -EAGAIN) {
			pl__evc_cancel(evc);
			break;
		}
		if (!pl__ctx_never_done(cx)) {
			rc = pl_ctx_err(cx);
			if (rc == 0 && !watching) {
				/* Woken by wake_evc() when cx (or an ancestor) is cancelled. */
				rc = pl__ctx_watch(cx, &w);
				watching = rc == 0;
			}
			if (rc != 0) {
				pl__evc_cancel(evc);
				break;
			}
		}
		/* Woken by the opposite side's notify, close, wake_evc(), or the deadline. */
		pl__evc_wait(evc, key, deadline);
	}
	if (watching)
		pl__ctx_unwatch(cx, &w);
	return rc;
}
