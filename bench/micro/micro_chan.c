/* SPDX-License-Identifier: MIT */
/*
 * Channel micro-benchmarks, one set per registered kind:
 *   uncontended/<kind>/<cap>   send+recv pairs on one thread (the pure cost of the code path)
 *   try_full/<kind>            try_send on a full channel (-EAGAIN path)
 *   try_empty/<kind>           try_recv on an empty channel (-EAGAIN path)
 *   pingpong/<kind>            round trip through two capacity-1 channels with a helper thread
 *   throughput/<kind>/<p>p<c>c/<cap>  producers -> one channel -> consumers, items per second
 * Benchmarks with helper threads use wall-clock time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <patlab/patlab.h>

#include "gbench.h"
#include "micro.h"

#define BATCH 64

static void die_chan(pl_gb_state *st, const char *kind)
{
	char why[128];

	snprintf(why, sizeof(why), "pl_chan_new(%s) failed: errno %d", kind, errno);
	pl_gb_skip(st, why);
}

static void bm_uncontended(pl_gb_state *st, void *user)
{
	const char *kind = user;
	pl_chan *ch = pl_chan_new(kind, (size_t)pl_gb_range(st, 0));
	void *m;

	if (!ch) {
		die_chan(st, kind);
		return;
	}
	while (pl_gb_keep_running_batch(st, BATCH)) {
		for (int i = 0; i < BATCH; i++) {
			pl_chan_send(ch, (void *)(intptr_t)i, NULL);
			pl_chan_recv(ch, &m, NULL);
		}
	}
	pl_gb_items_processed(st, pl_gb_iterations(st));
	pl_chan_free(ch);
}

static void bm_try_full(pl_gb_state *st, void *user)
{
	const char *kind = user;
	pl_chan *ch = pl_chan_new(kind, 1);

	if (!ch) {
		die_chan(st, kind);
		return;
	}
	pl_chan_try_send(ch, NULL);
	while (pl_gb_keep_running_batch(st, BATCH))
		for (int i = 0; i < BATCH; i++)
			if (pl_chan_try_send(ch, NULL) != -EAGAIN)
				pl_gb_skip(st, "try_send on a full channel did not say -EAGAIN");
	pl_chan_free(ch);
}

static void bm_try_empty(pl_gb_state *st, void *user)
{
	const char *kind = user;
	pl_chan *ch = pl_chan_new(kind, 1);
	void *m;

	if (!ch) {
		die_chan(st, kind);
		return;
	}
	while (pl_gb_keep_running_batch(st, BATCH))
		for (int i = 0; i < BATCH; i++)
			if (pl_chan_try_recv(ch, &m) != -EAGAIN)
				pl_gb_skip(st, "try_recv on an empty channel did not say -EAGAIN");
	pl_chan_free(ch);
}

struct pong {
	pl_chan *ping, *pong;
};

/* Echoes every message back until ping is closed. */
static void *ponger(void *arg)
{
	struct pong *p = arg;
	void *m;

	while (pl_chan_recv(p->ping, &m, NULL) == 0)
		pl_chan_send(p->pong, m, NULL);
	return NULL;
}

static void bm_pingpong(pl_gb_state *st, void *user)
{
	const char *kind = user;
	struct pong p = {pl_chan_new(kind, 1), pl_chan_new(kind, 1)};
	pthread_t t;
	void *m;

	if (!p.ping || !p.pong) {
		die_chan(st, kind);
		pl_chan_free(p.ping);
		pl_chan_free(p.pong);
		return;
	}
	pthread_create(&t, NULL, ponger, &p);
	while (pl_gb_keep_running(st)) {
		pl_chan_send(p.ping, NULL, NULL);
		pl_chan_recv(p.pong, &m, NULL);
	}
	pl_chan_close(p.ping);
	pthread_join(t, NULL);
	pl_gb_counter(st, "round_trips", (double)pl_gb_iterations(st), PL_GB_RATE);
	pl_chan_free(p.ping);
	pl_chan_free(p.pong);
}

struct flow {
	pl_chan *ch;
	atomic_bool stop;
	atomic_llong received; /* by the helper consumers; summed after join */
};

/* Producer: sends until told to stop, then returns (the channel is closed after the join). */
static void *producer(void *arg)
{
	struct flow *f = arg;

	/* Relaxed: stop is a hint polled in a loop; the join orders everything after. */
	while (!atomic_load_explicit(&f->stop, memory_order_relaxed))
		for (int i = 0; i < BATCH; i++)
			if (pl_chan_send(f->ch, NULL, NULL) != 0)
				return NULL;
	return NULL;
}

static void *consumer(void *arg)
{
	struct flow *f = arg;
	long long n = 0;
	void *m;

	while (pl_chan_recv(f->ch, &m, NULL) == 0)
		n++;
	atomic_fetch_add(&f->received, n);
	return NULL;
}

static void bm_throughput(pl_gb_state *st, void *user)
{
	const char *kind = user;
	int np = (int)pl_gb_range(st, 0), nc = (int)pl_gb_range(st, 1);
	struct flow f = {.ch = pl_chan_new(kind, 1024)};
	pthread_t tp[16], tc[16];
	long long mine = 0;
	void *m;

	if (!f.ch) {
		die_chan(st, kind);
		return;
	}
	for (int i = 0; i < np; i++)
		pthread_create(&tp[i], NULL, producer, &f);
	for (int i = 1; i < nc; i++)
		pthread_create(&tc[i], NULL, consumer, &f);
	/* This thread is consumer 0; the batch counts only what it received, so report the total
	 * below as items. */
	while (pl_gb_keep_running_batch(st, BATCH))
		for (int i = 0; i < BATCH; i++)
			if (pl_chan_recv(f.ch, &m, NULL) == 0)
				mine++;
	atomic_store(&f.stop, true);
	/* Unblock producers stuck on a full channel, then let the helper consumers drain. */
	pl_chan_close(f.ch);
	for (int i = 0; i < np; i++)
		pthread_join(tp[i], NULL);
	for (int i = 1; i < nc; i++)
		pthread_join(tc[i], NULL);
	pl_gb_items_processed(st, mine + atomic_load(&f.received));
	pl_chan_free(f.ch);
}

void pl_micro_register_chan(void)
{
	char name[96]; /* Google Benchmark copies the name */

	for (const char *const *k = pl_chan_kinds(); *k; k++) {
		struct pl_chan_kind_info info;
		void *kind = (void *)*k;
		pl_gb_bench *b;

		pl_chan_kind_info(*k, &info);
		snprintf(name, sizeof(name), "uncontended/%s", *k);
		b = pl_gb_register(name, bm_uncontended, kind);
		pl_gb_arg_names(pl_gb_arg(pl_gb_arg(b, 1), 1024), "cap", NULL);
		snprintf(name, sizeof(name), "try_full/%s", *k);
		pl_gb_register(name, bm_try_full, kind);
		snprintf(name, sizeof(name), "try_empty/%s", *k);
		pl_gb_register(name, bm_try_empty, kind);
		snprintf(name, sizeof(name), "pingpong/%s", *k);
		pl_gb_real_time(pl_gb_register(name, bm_pingpong, kind));
		snprintf(name, sizeof(name), "throughput/%s", *k);
		b = pl_gb_register(name, bm_throughput, kind);
		pl_gb_arg_names(pl_gb_real_time(pl_gb_args2(b, 1, 1)), "p", "c");
		if (!info.spsc)
			pl_gb_args2(b, 2, 2);
	}
}
