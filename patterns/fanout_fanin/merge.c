/* SPDX-License-Identifier: MIT */
/*
 * Merge: N input channels into one output channel (see fanout.h for the contract).
 *
 * Go's merge, literally: one forwarder per input (`for v := range in { out <- v }`), a counter
 * of live forwarders, and whoever brings it to zero closes the output. Each forwarder is the
 * only receiver of its input and sends what it received, in order, so each input's order is
 * kept in the output (messages of different inputs interleave freely).
 *
 * Exactly once. The output is closed only by the forwarder whose exit brings @live from n to 0
 * (an atomic decrement returns 1 to exactly one of them), i.e. after every forwarder stopped
 * receiving and sending: after every input was closed and drained, or after a cancel. A close
 * that fails (someone else closed the output) is recorded and reported by pl_merge_wait().
 *
 * Cancellation. Each forwarder receives and sends with the merge's context (a child of the
 * caller's), so a forwarder blocked on an empty input or a full output returns at once when it
 * is cancelled; and it checks the context before each receive, so a cancelled merge stops even
 * when its inputs always have data (a receive consults the context only when it would block).
 * A message received but not sent when the context ended goes to opts.undelivered: together
 * with what is left in the inputs and what reached the output, every message sent on an input
 * is accounted for exactly once.
 *
 * Start. Forwarders are created parked at a gate (a futex word) and released only once all of
 * them exist, so a failed pthread_create leaves no message taken from any input.
 *
 * Waiting. pl_merge_wait() sleeps on @done_word until @live is 0 (the last forwarder sets it and
 * wakes every waiter), then joins the threads once (under @join_lock).
 */
#include <patlab/fanout.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sync/park.h"
#include "sync/die.h"

enum {
	GATE_WAIT = 0,
	GATE_GO = 1,
	GATE_ABORT = 2
};

/* Why a forwarder stopped. */
enum {
	STOP_DRAINED = 0, /* its input was closed and drained */
	STOP_CANCELLED,	  /* the context ended */
	STOP_OUT_CLOSED,  /* someone else closed the output */
};

struct fwd {
	struct pl_merge *m;
	unsigned idx;
	pthread_t tid;
	/* Written by the forwarder; read by pl_merge_wait() after the join. */
	int stop;
	uint64_t forwarded;
	uint64_t undelivered;
};

struct pl_merge {
	/* Constant after pl_merge_new(). */
	pl_ctx *cx; /* owned, a child of the caller's */
	pl_chan *out;
	pl_chan **in;
	unsigned n;
	struct pl_merge_opts o;
	struct fwd *f;
	/* The start gate (futex word): GATE_* values, set once by pl_merge_new(). */
	_Atomic uint32_t gate;
	/* Forwarders still running; the one that brings it to 0 closes @out. seq_cst. */
	_Atomic unsigned live;
	/* Set (seq_cst) by the closer when its close found @out already closed. */
	_Atomic bool foreign_close;
	/* 0 until @live reached 0, then 1: the futex word pl_merge_wait() sleeps on. */
	_Atomic uint32_t done_word;

	pthread_mutex_t join_lock;
	bool joined; /* under @join_lock */
	int result;  /* under @join_lock, valid once @joined */
};

static void *forwarder_main(void *arg)
{
	struct fwd *f = arg;
	struct pl_merge *m = f->m;
	pl_chan *in = m->in[f->idx];
	uint32_t g;

	/* Woken by pl_merge_new() once every forwarder exists (or it gave up). Acquire: pairs
	 * with its release store, publishing the whole merge. */
	while ((g = atomic_load_explicit(&m->gate, memory_order_acquire)) == GATE_WAIT)
		pl__futex_wait(&m->gate, GATE_WAIT, INT64_MAX);
	if (g == GATE_ABORT)
		return NULL;

	f->stop = STOP_DRAINED;
	for (;;) {
		void *msg;
		int rc;

		if (pl_ctx_err(m->cx) != 0) {
			f->stop = STOP_CANCELLED;
			break;
		}
		/* Blocks while the input is empty: woken by its sender, its close, or a cancel. */
		rc = pl_chan_recv(in, &msg, m->cx);
		if (rc == -EPIPE)
			break; /* closed and drained */
		if (rc != 0) {
			f->stop = STOP_CANCELLED;
			break;
		}
		/* Blocks while the output is full: woken by a receiver, or a cancel. */
		rc = pl_chan_send(m->out, msg, m->cx);
		if (rc != 0) {
			f->stop = rc == -EPIPE ? STOP_OUT_CLOSED : STOP_CANCELLED;
			f->undelivered++;
			if (m->o.undelivered != NULL)
				m->o.undelivered(msg, f->idx, m->o.user);
			break;
		}
		f->forwarded++;
	}
	if (atomic_fetch_sub(&m->live, 1) == 1) {
		/* The last one out: every other forwarder has stopped sending. */
		if (pl_chan_close(m->out) != 0)
			atomic_store(&m->foreign_close, true);
		atomic_store(&m->done_word, 1);
		pl__futex_wake(&m->done_word, INT32_MAX);
	}
	return NULL;
}

static int check_out(const struct pl_merge_opts *o, unsigned n)
{
	struct pl_chan_kind_info info;

	if (pl_chan_kind_info(o->out_kind != NULL ? o->out_kind : "mutex", &info) != 0)
		return -EINVAL;
	if (info.spsc && n > 1)
		return -EINVAL;
	return 0;
}

static void merge_release(struct pl_merge *m)
{
	pl_chan_free(m->out);
	pl_ctx_release(m->cx);
	PL_CHECK(pthread_mutex_destroy(&m->join_lock));
	free(m->f);
	free(m->in);
	free(m);
}

pl_merge *pl_merge_new(pl_ctx *cx, pl_chan *const *in, unsigned n, const struct pl_merge_opts *o)
{
	static const struct pl_merge_opts defaults;
	struct pl_merge *m;
	unsigned created = 0;
	int rc;

	if (o == NULL)
		o = &defaults;
	if (in == NULL || n == 0 || check_out(o, n) != 0) {
		errno = EINVAL;
		return NULL;
	}
	for (unsigned i = 0; i < n; i++) {
		if (in[i] == NULL) {
			errno = EINVAL;
			return NULL;
		}
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		goto nomem;
	PL_CHECK(pthread_mutex_init(&m->join_lock, NULL));
	m->n = n;
	m->o = *o;
	atomic_init(&m->gate, GATE_WAIT);
	atomic_init(&m->live, n);
	atomic_init(&m->foreign_close, false);
	atomic_init(&m->done_word, 0);
	m->in = malloc(n * sizeof(pl_chan *));
	m->f = calloc(n, sizeof(*m->f));
	if (m->in == NULL || m->f == NULL)
		goto nomem_m;
	memcpy(m->in, in, n * sizeof(pl_chan *));
	m->cx = pl_ctx_with_cancel(cx);
	if (m->cx == NULL)
		goto nomem_m;
	m->out = pl_chan_new(o->out_kind != NULL ? o->out_kind : "mutex", o->out_capacity);
	if (m->out == NULL) {
		rc = errno;
		merge_release(m);
		errno = rc;
		return NULL;
	}
	for (; created < n; created++) {
		m->f[created].m = m;
		m->f[created].idx = created;
		rc = pl_thread_create(m->o.threads, &m->f[created].tid, NULL, forwarder_main,
				      &m->f[created]);
		if (rc != 0)
			break;
	}
	/* Release: pairs with the forwarders' acquire load of the gate. */
	atomic_store_explicit(&m->gate, created == n ? GATE_GO : GATE_ABORT, memory_order_release);
	pl__futex_wake(&m->gate, INT32_MAX);
	if (created == n)
		return m;
	for (unsigned i = 0; i < created; i++)
		PL_CHECK(pthread_join(m->f[i].tid, NULL));
	merge_release(m);
	errno = rc;
	return NULL;
nomem_m:
	merge_release(m);
nomem:
	errno = ENOMEM;
	return NULL;
}

pl_chan *pl_merge_out(pl_merge *m)
{
	return m->out;
}

void pl_merge_cancel(pl_merge *m)
{
	pl_ctx_cancel(m->cx);
}

int pl_merge_wait(pl_merge *m, struct pl_merge_stats *st)
{
	int result;

	/* Woken by the last forwarder's exit. */
	while (atomic_load(&m->done_word) == 0)
		pl__futex_wait(&m->done_word, 0, INT64_MAX);
	PL_CHECK(pthread_mutex_lock(&m->join_lock));
	if (!m->joined) {
		bool cancelled = false, foreign = atomic_load(&m->foreign_close);

		for (unsigned i = 0; i < m->n; i++) {
			PL_CHECK(pthread_join(m->f[i].tid, NULL));
			cancelled |= m->f[i].stop == STOP_CANCELLED;
			foreign |= m->f[i].stop == STOP_OUT_CLOSED;
		}
		m->result = foreign ? -EPIPE : cancelled ? pl_ctx_err(m->cx) : 0;
		/* A forwarder stops as cancelled only once the context is done: never 0 here. */
		m->joined = true;
	}
	result = m->result;
	if (st != NULL) {
		*st = (struct pl_merge_stats){0};
		for (unsigned i = 0; i < m->n; i++) {
			st->forwarded += m->f[i].forwarded;
			st->undelivered += m->f[i].undelivered;
		}
	}
	PL_CHECK(pthread_mutex_unlock(&m->join_lock));
	return result;
}

void pl_merge_free(pl_merge *m)
{
	if (m == NULL)
		return;
	pl_merge_cancel(m);
	pl_merge_wait(m, NULL);
	merge_release(m);
}
