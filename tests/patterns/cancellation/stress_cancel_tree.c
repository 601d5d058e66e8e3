/* SPDX-License-Identifier: MIT */
/*
 * Stress: cancellation reaches every leaf of random context trees, and only the subtree it
 * was aimed at (never use this as a benchmark).
 *
 * Each round draws a random tree from the seed (2..40 nodes, 2..14 under TSan; random depth
 * limit 1..6; a quarter of the non-root nodes carry a far deadline, so waits take their
 * deadline-bounded path) and starts one worker per leaf, blocked in a style:
 *   recv   pl_chan_recv() on its own empty channel (nobody sends)
 *   send   pl_chan_send() on its own full channel (capacity 0: no receiver)
 *   wait   pl_ctx_wait(), forever or with a far timeout
 *   poll   a loop over pl_ctx_err() (yielding, so that pollers do not starve the rest)
 * over every channel kind (capacities drawn among those the kind accepts) and for every style
 * alone and all mixed. Once every worker has armed (and a random pause, so some are still
 * spinning and some parked), a cancel round:
 *   1. cancels a random non-root node X with a cause unique to the round. When that returns,
 *      every leaf under X is done and every other leaf is not (cancel is synchronous), and no
 *      worker outside X has stopped; each worker under X stops with -ECANCELED and cause X's;
 *   2. cancels the root with another cause: every other worker stops with -ECANCELED and the
 *      root's cause (a worker reached by step 1 would carry X's: the first cause wins).
 * A deadline round instead gives the root a deadline 1..20 ms away and cancels nothing: every
 * worker stops with -ETIMEDOUT. In every round, nothing was consumed from a recv channel nor
 * delivered by a send (each full channel drains exactly its prefill).
 *
 * Rounds scale with PATLAB_STRESS_SCALE; the seed is logged (PATLAB_SEED reruns it); a
 * watchdog names the kind, style, round and step of a hang (a worker that never stops).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <patlab/patlab.h>

#include "check.h"
#include "helpers.h"

#define MAXN	   40
#define MAXN_TSAN  14
#define FAR_NS	   (INT64_C(3600) * 1000000000)
#define PREFILL_OK ((void *)(uintptr_t)0x5a)

enum style {
	S_RECV,
	S_SEND,
	S_WAIT,
	S_POLL,
	S_MIXED,
	S_COUNT
};

static const char *const style_names[] = {"recv", "send", "wait", "poll", "mixed"};

struct node {
	pl_ctx *cx;
	int parent;
	int depth;
	int children;
};

struct worker {
	int node;
	enum style style;
	bool timed; /* wait: with a far timeout rather than forever */
	pl_chan *ch;
	size_t cap;
	pthread_t tid;
	_Atomic int *armed;
	/* Written by the worker before its release store of @stopped. */
	int rc;
	int cause;
	_Atomic int stopped;
};

struct round {
	const char *kind;
	struct pl_chan_kind_info info;
	struct node n[MAXN];
	int nn;
	struct worker w[MAXN];
	int nw;
	_Atomic int armed;
};

static pl_ctx *leaf_cx(struct round *r, struct worker *w)
{
	return r->n[w->node].cx;
}

struct warg {
	struct round *r;
	struct worker *w;
};

static struct warg wargs[MAXN];

static void *worker_main(void *arg)
{
	struct warg *a = arg;
	struct worker *w = a->w;
	pl_ctx *cx = leaf_cx(a->r, w);
	void *m = NULL;
	int rc;

	atomic_fetch_add(w->armed, 1);
	switch (w->style) {
	case S_RECV:
		/* Nothing is ever sent: only cx (or its deadline) ends it. */
		rc = pl_chan_recv(w->ch, &m, cx);
		break;
	case S_SEND:
		/* Full (or no receiver at capacity 0): only cx ends it. */
		rc = pl_chan_send(w->ch, PREFILL_OK, cx);
		break;
	case S_WAIT:
		rc = pl_ctx_wait(cx, w->timed ? FAR_NS : -1);
		break;
	default:
		while ((rc = pl_ctx_err(cx)) == 0)
			sched_yield();
		break;
	}
	w->rc = rc;
	w->cause = pl_ctx_cause(cx);
	atomic_store_explicit(&w->stopped, 1, memory_order_release);
	return NULL;
}

static size_t draw_cap(struct round *r, enum style s, uint64_t *rng)
{
	uint64_t v = pt_rand(rng) % 8;

	if (v == 0 && r->info.rendezvous)
		return 0;
	if (v == 1 && r->info.unbounded && s == S_RECV)
		return PL_CHAN_UNBOUNDED;
	return 1 + pt_rand(rng) % 6;
}

static void build(struct round *r, enum style mode, bool deadline_root, uint64_t *rng)
{
	const int maxn = pt_tsan() ? MAXN_TSAN : MAXN;
	int maxdepth = 1 + (int)(pt_rand(rng) % 6);

	r->nn = 2 + (int)(pt_rand(rng) % (uint64_t)(maxn - 1));
	r->n[0].cx = deadline_root
			 ? pl_ctx_with_timeout(NULL, (int64_t)(1 + pt_rand(rng) % 20) * 1000000)
			 : pl_ctx_with_cancel(NULL);
	CHECK(r->n[0].cx != NULL);
	r->n[0].parent = -1;
	r->n[0].depth = 0;
	r->n[0].children = 0;
	for (int i = 1; i < r->nn; i++) {
		int p = (int)(pt_rand(rng) % (uint64_t)i);

		if (r->n[p].depth >= maxdepth)
			p = 0;
		r->n[i].parent = p;
		r->n[i].depth = r->n[p].depth + 1;
		r->n[i].children = 0;
		r->n[p].children++;
		r->n[i].cx = pt_rand(rng) % 4 == 0 ? pl_ctx_with_timeout(r->n[p].cx, FAR_NS)
						   : pl_ctx_with_cancel(r->n[p].cx);
		CHECK(r->n[i].cx != NULL);
	}
	r->nw = 0;
	atomic_store(&r->armed, 0);
	for (int i = 0; i < r->nn; i++) {
		struct worker *w;

		if (r->n[i].children != 0)
			continue;
		w = &r->w[r->nw++];
		w->node = i;
		w->style = mode == S_MIXED ? (enum style)(pt_rand(rng) % S_MIXED) : mode;
		w->timed = pt_rand(rng) % 2;
		w->ch = NULL;
		w->cap = 0;
		w->armed = &r->armed;
		w->rc = 1;
		w->cause = 0;
		atomic_store(&w->stopped, 0);
		if (w->style == S_RECV || w->style == S_SEND) {
			w->cap = draw_cap(r, w->style, rng);
			w->ch = pl_chan_new(r->kind, w->cap);
			CHECK(w->ch != NULL);
			for (size_t k = 0; w->style == S_SEND && k < w->cap; k++)
				CHECK_EQ(pl_chan_try_send(w->ch, PREFILL_OK), 0);
		}
	}
}

/* under - node @i is @x or a descendant of it. */
static bool under(struct round *r, int i, int x)
{
	for (; i >= 0; i = r->n[i].parent)
		if (i == x)
			return true;
	return false;
}

/* wait_stopped - wait until every worker under node @x (-1: all) has stopped (watchdog-bounded). */
static void wait_stopped(struct round *r, int x)
{
	for (int i = 0; i < r->nw; i++)
		if (x < 0 || under(r, r->w[i].node, x))
			while (!atomic_load_explicit(&r->w[i].stopped, memory_order_acquire))
				pt_sleep_ns(50000);
}

static void check_channel(struct worker *w)
{
	void *m;
	size_t got = 0;

	if (w->ch == NULL)
		return;
	if (w->style == S_RECV) {
		CHECK_EQ(pl_chan_len(w->ch), 0);
	} else if (w->cap != PL_CHAN_UNBOUNDED) {
		CHECK_EQ(pl_chan_len(w->ch), w->cap);
	}
	CHECK_EQ(pl_chan_close(w->ch), 0);
	while (pl_chan_try_recv(w->ch, &m) == 0) {
		CHECK(m == PREFILL_OK);
		got++;
	}
	CHECK_EQ(got, w->style == S_SEND ? w->cap : 0);
	pl_chan_free(w->ch);
}

static void one_round(struct round *r, enum style mode, bool deadline, int round, uint64_t *rng)
{
	const int c_inner = 1000 + 2 * round, c_root = 1001 + 2 * round;
	int x = -1;

	pt_note("kind %s style %s round %d: build", r->kind, style_names[mode], round);
	build(r, mode, deadline, rng);
	for (int i = 0; i < r->nw; i++) {
		wargs[i].r = r;
		wargs[i].w = &r->w[i];
		CHECK(pthread_create(&r->w[i].tid, NULL, worker_main, &wargs[i]) == 0);
	}
	while (atomic_load(&r->armed) < r->nw)
		pt_sleep_ns(20000);
	if (pt_rand(rng) % 2)
		pt_sleep_ns((int64_t)(pt_rand(rng) % 300000));

	if (deadline) {
		pt_note("kind %s style %s round %d: deadline, %d workers", r->kind,
			style_names[mode], round, r->nw);
		wait_stopped(r, -1);
		for (int i = 0; i < r->nw; i++) {
			CHECK_EQ(r->w[i].rc, -ETIMEDOUT);
			CHECK_EQ(r->w[i].cause, -ETIMEDOUT);
		}
	} else {
		x = 1 + (int)(pt_rand(rng) % (uint64_t)(r->nn - 1));
		pt_note("kind %s style %s round %d: cancel node %d of %d, %d workers", r->kind,
			style_names[mode], round, x, r->nn, r->nw);
		pl_ctx_cancel_cause(r->n[x].cx, c_inner);
		/* Synchronous: exactly X's subtree is done now. */
		for (int i = 0; i < r->nn; i++)
			CHECK_EQ(pl_ctx_err(r->n[i].cx) != 0, under(r, i, x));
		for (int i = 0; i < r->nw; i++)
			if (!under(r, r->w[i].node, x))
				CHECK_EQ(atomic_load(&r->w[i].stopped), 0);
		wait_stopped(r, x);
		for (int i = 0; i < r->nw; i++) {
			if (!under(r, r->w[i].node, x))
				continue;
			CHECK_EQ(r->w[i].rc, -ECANCELED);
			CHECK_EQ(r->w[i].cause, c_inner);
		}
		pt_note("kind %s style %s round %d: cancel the root", r->kind, style_names[mode],
			round);
		pl_ctx_cancel_cause(r->n[0].cx, c_root);
		wait_stopped(r, -1);
		for (int i = 0; i < r->nw; i++) {
			CHECK_EQ(r->w[i].rc, -ECANCELED);
			CHECK_EQ(r->w[i].cause, under(r, r->w[i].node, x) ? c_inner : c_root);
		}
	}
	for (int i = 0; i < r->nw; i++) {
		CHECK(pthread_join(r->w[i].tid, NULL) == 0);
		check_channel(&r->w[i]);
	}
	for (int i = r->nn; i-- > 0;)
		pl_ctx_release(r->n[i].cx);
}

int main(void)
{
	uint64_t rng = pt_seed();
	int extra = (int)(pt_scale() * (pt_tsan() ? 1 : 4));
	static struct round r;
	int round = 0, kinds = 0;

	pt_watchdog_start(60);
	for (const char *const *k = pl_chan_kinds(); *k != NULL; k++) {
		if (!pt_kind_ready(*k))
			continue;
		kinds++;
		r.kind = *k;
		CHECK_EQ(pl_chan_kind_info(*k, &r.info), 0);
		for (int s = 0; s < S_COUNT; s++) {
			/* Every kind and style: a cancel round and a deadline round, then more. */
			one_round(&r, (enum style)s, false, round++, &rng);
			one_round(&r, (enum style)s, true, round++, &rng);
			for (int i = 0; i < extra; i++)
				one_round(&r, (enum style)s, pt_rand(&rng) % 4 == 0, round++, &rng);
		}
	}
	CHECK(kinds > 0);
	fprintf(stderr, "%d rounds over %d kinds\n", round, kinds);
	return 0;
}
