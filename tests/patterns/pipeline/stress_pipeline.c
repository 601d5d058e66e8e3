/* SPDX-License-Identifier: MIT */
/*
 * Pipeline stress: random pipelines (kind, depth, stages, workers, producers, ordered or not,
 * reorder window) under random per-item delays, ended in one of three ways:
 * - drain:  producers finish, the input is closed; every item reaches the sink exactly once,
 *           through every stage once (a mask), in each producer's order when ordered; wait 0;
 * - cancel: at a random moment, sometimes after the sink stopped reading (every stage then
 *           blocks on a full link); everything returns; wait says -ECANCELED;
 * - error:  a random stage fails on a random item; wait returns that error with that stage's
 *           name; the rest is cancelled.
 * In every case each accepted item ends exactly once, received or discarded (a per-item fate
 * table), and items never accepted are never seen. Items are heap-allocated (ASan: nothing
 * lost, nothing freed twice).
 *
 * PATLAB_SEED reruns a failure, PATLAB_STRESS_SCALE scales the iterations. Never a benchmark.
 */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include <patlab/chan.h>
#include <patlab/ctx.h>
#include <patlab/pipeline.h>

#define MAX_STAGES    4
#define MAX_PRODUCERS 3

enum end {
	END_DRAIN,
	END_CANCEL,
	END_ERROR
};

enum fate {
	FATE_NONE = 0,
	FATE_RECEIVED = 1,
	FATE_DISCARDED = 2
};

struct item {
	unsigned producer, idx, mask;
};

struct run;

struct stage_arg {
	struct run *r;
	unsigned idx;
};

struct prod {
	pthread_t tid;
	struct run *r;
	unsigned id;
	unsigned sent; /* read after the join */
	int rc;
};

struct run {
	uint64_t seed;
	const char *kind;
	size_t depth;
	bool ordered;
	unsigned stages, producers, n;
	unsigned workers[MAX_STAGES];
	enum end end;
	int fail_stage;
	unsigned fail_idx;
	unsigned max_delay_ns;
	unsigned sink_stop_after; /* the sink stops reading after this many (cancel only) */
	pl_pipeline *pl;
	_Atomic unsigned char *fate; /* [producer * n + idx] */
	_Atomic unsigned received;
	/* The sink's view, read after its join. */
	int sink_rc;
	unsigned next[MAX_PRODUCERS];
};

static const char *const names[MAX_STAGES] = {"decode", "resize", "tag", "upload"};

static void delay(struct run *r, const struct item *it, unsigned stage)
{
	uint64_t s = r->seed ^ ((uint64_t)it->producer << 48) ^ ((uint64_t)it->idx << 8) ^ stage;
	uint64_t x = pt_rand(&s);
	int64_t ns = (int64_t)(x % (r->max_delay_ns + 1));
	int64_t end;

	if ((x >> 32) % 64 == 0)
		ns += 200000; /* now and then a slow item: overtaking, head-of-line blocking */
	end = pl_now_ns() + ns;
	while (pl_now_ns() < end)
		sched_yield();
}

static int stage_fn(pl_ctx *cx, void *in, void **out, void *user)
{
	struct stage_arg *a = user;
	struct run *r = a->r;
	struct item *it = in;

	(void)cx;
	delay(r, it, a->idx);
	if (r->end == END_ERROR && (int)a->idx == r->fail_stage && it->producer == 0 &&
	    it->idx == r->fail_idx)
		return -ENOTRECOVERABLE;
	if (it->mask & (1u << a->idx))
		pt_fail(__FILE__, __LINE__, "stage %u saw item %u/%u twice", a->idx, it->producer,
			it->idx);
	it->mask |= 1u << a->idx;
	if (a->idx % 2 == 1) {
		/* Odd stages hand on a new item and free the old one. */
		struct item *n = malloc(sizeof(*n));

		CHECK(n != NULL);
		*n = *it;
		free(it);
		*out = n;
	}
	return 0;
}

static void set_fate(struct run *r, const struct item *it, unsigned char f)
{
	unsigned char none = FATE_NONE;

	CHECK(it->producer < r->producers && it->idx < r->n);
	if (!atomic_compare_exchange_strong(&r->fate[it->producer * r->n + it->idx], &none, f))
		pt_fail(__FILE__, __LINE__, "item %u/%u ended twice (%d, then %d)", it->producer,
			it->idx, none, f);
}

static void on_discard(void *item, void *user)
{
	set_fate(user, item, FATE_DISCARDED);
	free(item);
}

static void *producer(void *arg)
{
	struct prod *p = arg;

	for (unsigned i = 0; i < p->r->n; i++) {
		struct item *it = malloc(sizeof(*it));
		int rc;

		CHECK(it != NULL);
		*it = (struct item){.producer = p->id, .idx = i};
		rc = pl_pipeline_send(p->r->pl, it, NULL);
		if (rc != 0) {
			free(it);
			p->rc = rc;
			break;
		}
		p->sent++;
	}
	return NULL;
}

static void *sink(void *arg)
{
	struct run *r = arg;
	const unsigned all = (1u << r->stages) - 1;
	void *m;

	for (;;) {
		struct item *it;

		if (r->end == END_CANCEL && atomic_load(&r->received) == r->sink_stop_after) {
			r->sink_rc = 0; /* stopped reading on purpose */
			return NULL;
		}
		r->sink_rc = pl_pipeline_recv(r->pl, &m, NULL);
		if (r->sink_rc != 0)
			return NULL;
		it = m;
		set_fate(r, it, FATE_RECEIVED);
		CHECK_EQ(it->mask, all);
		if (r->ordered)
			CHECK_EQ(it->idx, r->next[it->producer]);
		r->next[it->producer]++;
		free(it);
		atomic_fetch_add(&r->received, 1);
	}
}

static void pick(struct run *r, uint64_t *rng, const char *const *kinds, unsigned nkinds)
{
	struct pl_chan_kind_info info;

	r->kind = kinds[pt_rand(rng) % nkinds];
	CHECK_EQ(pl_chan_kind_info(r->kind, &info), 0);
	r->ordered = pt_rand(rng) & 1;
	r->stages = 1 + pt_rand(rng) % MAX_STAGES;
	r->producers = info.spsc ? 1 : 1 + pt_rand(rng) % MAX_PRODUCERS;
	for (unsigned i = 0; i < r->stages; i++)
		r->workers[i] = info.spsc ? 1 : 1 + pt_rand(rng) % 3;
	switch (pt_rand(rng) % 5) {
	case 0:
		r->depth = info.rendezvous ? 0 : 1;
		break;
	case 1:
		r->depth = 1;
		break;
	case 2:
		r->depth = 2;
		break;
	case 3:
		r->depth = 8;
		break;
	default:
		r->depth = info.unbounded ? PL_CHAN_UNBOUNDED : 32;
		break;
	}
	r->end = (enum end)(pt_rand(rng) % 3);
	r->n = 40 + pt_rand(rng) % (pt_tsan() ? 80 : 300);
	r->max_delay_ns = pt_rand(rng) % 2 ? 0 : 20000;
	r->fail_stage = (int)(pt_rand(rng) % r->stages);
	r->fail_idx = pt_rand(rng) % r->n;
	r->sink_stop_after = pt_rand(rng) % 2 ? ~0u : (unsigned)(pt_rand(rng) % r->n);
}

static void one(struct run *r, uint64_t *rng)
{
	struct pl_pipeline_opts o = pl_pipeline_opts_default();
	struct stage_arg args[MAX_STAGES];
	struct prod prods[MAX_PRODUCERS];
	pthread_t sink_tid;
	const char *stage = "unset";
	unsigned accepted = 0, received = 0, discarded = 0;
	int rc;

	r->fate = calloc((size_t)r->producers * r->n, sizeof(*r->fate));
	CHECK(r->fate != NULL);
	atomic_init(&r->received, 0);
	memset(r->next, 0, sizeof(r->next));
	o.chan_kind = r->kind;
	o.depth = r->depth;
	o.ordered = r->ordered;
	o.window = r->ordered && pt_rand(rng) % 2 ? 1 + pt_rand(rng) % 16 : 0;
	o.spin_ns = pt_rand(rng) % 2 ? 0 : 5000;
	o.source_threads = r->producers;
	o.sink_threads = 1;
	o.stats = pt_rand(rng) & 1;
	o.discard = on_discard;
	o.discard_user = r;
	r->pl = pl_pipeline_new(&o);
	CHECK(r->pl != NULL);
	for (unsigned i = 0; i < r->stages; i++) {
		args[i] = (struct stage_arg){.r = r, .idx = i};
		CHECK_EQ(pl_pipeline_add_stage(r->pl, names[i], stage_fn, &args[i], r->workers[i]),
			 0);
	}
	CHECK_EQ(pl_pipeline_start(r->pl, NULL), 0);
	CHECK_EQ(pthread_create(&sink_tid, NULL, sink, r), 0);
	for (unsigned i = 0; i < r->producers; i++) {
		prods[i] = (struct prod){.r = r, .id = i};
		CHECK_EQ(pthread_create(&prods[i].tid, NULL, producer, &prods[i]), 0);
	}
	if (r->end == END_CANCEL) {
		pt_sleep_ns((int64_t)(pt_rand(rng) % 3000000));
		pl_pipeline_cancel(r->pl);
	}
	for (unsigned i = 0; i < r->producers; i++) {
		CHECK_EQ(pthread_join(prods[i].tid, NULL), 0);
		accepted += prods[i].sent;
	}
	if (r->end == END_DRAIN)
		CHECK_EQ(pl_pipeline_close(r->pl), 0);
	else if (r->end == END_CANCEL)
		pl_pipeline_cancel(r->pl); /* again: idempotent (the first may have come early) */
	CHECK_EQ(pthread_join(sink_tid, NULL), 0);
	rc = pl_pipeline_wait(r->pl, NULL, &stage);
	switch (r->end) {
	case END_DRAIN:
		CHECK_EQ(rc, 0);
		CHECK(stage == NULL);
		CHECK_EQ(r->sink_rc, -EPIPE);
		for (unsigned i = 0; i < r->producers; i++) {
			CHECK_EQ(prods[i].rc, 0);
			CHECK_EQ(r->next[i], r->n);
		}
		break;
	case END_CANCEL:
		CHECK_EQ(rc, -ECANCELED);
		CHECK(stage == NULL);
		CHECK(r->sink_rc == -ECANCELED || r->sink_rc == 0);
		for (unsigned i = 0; i < r->producers; i++)
			CHECK(prods[i].rc == 0 || prods[i].rc == -ECANCELED);
		break;
	case END_ERROR:
		CHECK_EQ(rc, -ENOTRECOVERABLE);
		CHECK(stage != NULL && strcmp(stage, names[r->fail_stage]) == 0);
		CHECK_EQ(r->sink_rc, -ECANCELED);
		for (unsigned i = 0; i < r->producers; i++)
			CHECK(prods[i].rc == 0 || prods[i].rc == -ECANCELED);
		/* The failing stage's input went to discard (producer 0's item fail_idx). */
		CHECK_EQ(atomic_load(&r->fate[r->fail_idx]), FATE_DISCARDED);
		break;
	}
	pl_pipeline_free(r->pl);
	/* Conservation: every accepted item ended exactly once; nothing else was seen. */
	for (unsigned p = 0; p < r->producers; p++)
		for (unsigned i = 0; i < r->n; i++) {
			unsigned char f = atomic_load(&r->fate[p * r->n + i]);

			if (i < prods[p].sent) {
				if (f == FATE_NONE)
					pt_fail(__FILE__, __LINE__, "item %u/%u was lost", p, i);
				received += f == FATE_RECEIVED;
				discarded += f == FATE_DISCARDED;
			} else {
				CHECK_EQ(f, FATE_NONE);
			}
		}
	CHECK_EQ(received + discarded, accepted);
	CHECK_EQ(received, atomic_load(&r->received));
	if (r->end == END_DRAIN)
		CHECK_EQ(discarded, 0);
	free(r->fate);
}

int main(void)
{
	uint64_t seed = pt_seed(), rng = seed;
	const char *kinds[8];
	unsigned nkinds = 0;
	unsigned iters = (unsigned)((pt_tsan() ? 100 : 400) * pt_scale());

	pt_watchdog_start(150);
	for (const char *const *k = pl_chan_kinds(); *k != NULL && nkinds < 8; k++) {
		pl_chan *ch = pl_chan_new(*k, 1);

		if (ch == NULL) {
			fprintf(stderr, "kind %s not built here: skipped\n", *k);
			continue;
		}
		pl_chan_free(ch);
		kinds[nkinds++] = *k;
	}
	CHECK(nkinds > 0);
	for (unsigned it = 0; it < iters; it++) {
		struct run r = {.seed = pt_rand(&rng)};

		pick(&r, &rng, kinds, nkinds);
		pt_note("iteration %u: %s depth %zu %s stages %u workers %u,%u,%u,%u producers %u "
			"n %u end %d fail %d@%u delay %u stop %u",
			it, r.kind, r.depth, r.ordered ? "ordered" : "unordered", r.stages,
			r.workers[0], r.workers[1], r.workers[2], r.workers[3], r.producers, r.n,
			r.end, r.fail_stage, r.fail_idx, r.max_delay_ns, r.sink_stop_after);
		one(&r, &rng);
	}
	printf("stress_pipeline: %u iterations ok\n", iters);
	return 0;
}
