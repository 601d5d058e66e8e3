/* SPDX-License-Identifier: MIT */
/*
 * Context micro-benchmarks: the costs a pattern pays per request.
 *   ctx/create_cancel_release  a cancellable child of a live parent, cancelled and released
 *   ctx/err_poll               pl_ctx_err() on a live context with a deadline (the per-check
 *                              cost of a CPU loop that polls for cancellation)
 */
#include <patlab/patlab.h>

#include "gbench.h"
#include "micro.h"

static void bm_create_cancel(pl_gb_state *st, void *user)
{
	pl_ctx *parent = pl_ctx_with_cancel(NULL);

	(void)user;
	while (pl_gb_keep_running(st)) {
		pl_ctx *c = pl_ctx_with_cancel(parent);

		pl_ctx_cancel(c);
		pl_ctx_release(c);
	}
	pl_ctx_release(parent);
}

static void bm_err_poll(pl_gb_state *st, void *user)
{
	pl_ctx *c = pl_ctx_with_timeout(NULL, (int64_t)3600 * 1000000000);
	int sum = 0;

	(void)user;
	while (pl_gb_keep_running_batch(st, 64))
		for (int i = 0; i < 64; i++)
			sum += pl_ctx_err(c);
	pl_gb_do_not_optimize(&sum);
	pl_ctx_release(c);
}

void pl_micro_register_ctx(void)
{
	pl_gb_register("ctx/create_cancel_release", bm_create_cancel, NULL);
	pl_gb_register("ctx/err_poll", bm_err_poll, NULL);
}
