/* SPDX-License-Identifier: MIT */
/*
 * Stress: the merge's promises under random shapes and schedules (never use this as a
 * benchmark).
 *
 * Each round merges 1..6 inputs of random kinds and capacities (a single-producer kind gets one
 * producer, the others one or two) into an output of a random multi-producer kind and capacity
 * (0 where the kind has a rendezvous, unbounded where it has that), read by one or two
 * consumers until -EPIPE. Producers send 0..400 messages each, (input, producer, sequence)
 * encoded, then the last producer of an input closes it. In a third of the rounds the context
 * the merge was made with (the producers' too) is cancelled at a random moment, sometimes just
 * after the merge's own pl_merge_cancel(). After the round:
 * - every message sent (a send that returned 0) is found exactly once: received from the
 *   output, handed to the undelivered callback, or still in its input;
 * - each consumer received each producer's messages in increasing order (FIFO per input);
 * - without a cancel: nothing undelivered or left, wait() returned 0, and every input had been
 *   closed before any consumer saw the output closed;
 * - the forwarded count equals what the consumers received.
 *
 * Rounds scale with PATLAB_STRESS_SCALE; the seed is logged; a watchdog reports a hang.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <patlab/patlab.h>

#include "check.h"

#define MAXIN  6
#define MAXP   2
#define MAXMSG 400
#define MAXC   2

static uint64_t code(unsigned in, unsigned p, unsigned seq)
{
	return ((uint64_t)(in * MAXP + p) << 32) | seq;
}

struct prod {
	struct round *r;
	unsigned in, p, count, sent;
};

struct cons {
	struct round *r;
	uint64_t got;
	int64_t last[MAXIN * MAXP];
};

struct round {
	unsigned n;
	pl_chan *in[MAXIN];
	unsigned producers[MAXIN];
	_Atomic unsigned open_producers[MAXIN];
	_Atomic int closed[MAXIN];
	pl_ctx *cx;
	pl_merge *m;
	bool cancel;
	/* One byte per possible message: how often it was accounted for. */
	_Atomic uint8_t seen[MAXIN * MAXP][MAXMSG];
	struct prod prods[MAXIN * MAXP];
	struct cons cons[MAXC];
	_Atomic uint64_t undelivered;
};

static void account(struct round *r, void *msg)
{
	uint64_t v = (uint64_t)(uintptr_t)msg;
	unsigned stream = (unsigned)(v >> 32), seq = (unsigned)v;

	CHECK(stream < MAXIN * MAXP);
	CHECK(seq < MAXMSG);
	CHECK_EQ(atomic_fetch_add(&r->seen[stream][seq], 1), 0);
}

static void *producer(void *arg)
{
	struct prod *p = arg;
	struct round *r = p->r;

	for (unsigned i = 0; i < p->count; i++) {
		if (pl_chan_send(r->in[p->in], (void *)(uintptr_t)code(p->in, p->p, i), r->cx) != 0)
			break;
		p->sent++;
	}
	if (atomic_fetch_sub(&r->open_producers[p->in], 1) == 1) {
		atomic_store(&r->closed[p->in], 1);
		CHECK_EQ(pl_chan_close(r->in[p->in]), 0);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct cons *c = arg;
	struct round *r = c->r;
	void *msg;
	int rc;

	for (unsigned i = 0; i < MAXIN * MAXP; i++)
		c->last[i] = -1;
	while ((rc = pl_chan_recv(pl_merge_out(r->m), &msg, NULL)) == 0) {
		uint64_t v = (uint64_t)(uintptr_t)msg;
		unsigned stream = (unsigned)(v >> 32);

		account(r, msg);
		CHECK(stream < MAXIN * MAXP);
		CHECK((int64_t)(uint32_t)v > c->last[stream]); /* per-producer order */
		c->last[stream] = (uint32_t)v;
		c->got++;
	}
	CHECK_EQ(rc, -EPIPE);
	if (!r->cancel)
		for (unsigned i = 0; i < r->n; i++)
			CHECK(atomic_load(&r->closed[i]));
	return NULL;
}

static void on_undelivered(void *msg, unsigned input, void *user)
{
	struct round *r = user;
	uint64_t v = (uint64_t)(uintptr_t)msg;

	CHECK_EQ((v >> 32) / MAXP, input);
	account(r, msg);
	atomic_fetch_add(&r->undelivered, 1);
}

static const char *kinds[8];
static unsigned n_kinds;

static void round_run(uint64_t *rng, unsigned round)
{
	static struct round r;
	struct pl_chan_kind_info oinfo, iinfo;
	struct pl_merge_opts o = {.undelivered = on_undelivered, .user = &r};
	struct pl_merge_stats st;
	pthread_t pt[MAXIN * MAXP], ct[MAXC];
	unsigned np = 0, nc = 1 + (unsigned)(pt_rand(rng) % MAXC);
	uint64_t sent = 0, got = 0, left = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	r.n = 1 + (unsigned)(pt_rand(rng) % MAXIN);
	r.cancel = pt_rand(rng) % 3 == 0;
	r.cx = pl_ctx_with_cancel(NULL);
	CHECK(r.cx != NULL);
	do {
		o.out_kind = kinds[pt_rand(rng) % n_kinds];
		CHECK_EQ(pl_chan_kind_info(o.out_kind, &oinfo), 0);
	} while (oinfo.spsc);
	switch (pt_rand(rng) % 4) {
	case 0:
		o.out_capacity = oinfo.rendezvous ? 0 : 1;
		break;
	case 1:
		o.out_capacity = 1;
		break;
	case 2:
		o.out_capacity = 1 + pt_rand(rng) % 64;
		break;
	default:
		o.out_capacity = oinfo.unbounded ? PL_CHAN_UNBOUNDED : 256;
		break;
	}
	for (unsigned i = 0; i < r.n; i++) {
		const char *k = kinds[pt_rand(rng) % n_kinds];
		static const size_t caps[] = {1, 2, 8, 64};

		CHECK_EQ(pl_chan_kind_info(k, &iinfo), 0);
		r.in[i] = pl_chan_new(k, caps[pt_rand(rng) % 4]);
		CHECK(r.in[i] != NULL);
		r.producers[i] = iinfo.spsc ? 1 : 1 + (unsigned)(pt_rand(rng) % MAXP);
		atomic_store(&r.open_producers[i], r.producers[i]);
		for (unsigned p = 0; p < r.producers[i]; p++)
			r.prods[np++] = (struct prod){
			    .r = &r, .in = i, .p = p, .count = (unsigned)(pt_rand(rng) % MAXMSG)};
	}
	pt_note("merge round %u: %u inputs, %u producers, out %s cap %zu, %u consumers%s", round,
		r.n, np, o.out_kind, o.out_capacity, nc, r.cancel ? ", cancel" : "");
	r.m = pl_merge_new(r.cx, r.in, r.n, &o);
	CHECK(r.m != NULL);
	for (unsigned i = 0; i < nc; i++) {
		r.cons[i].r = &r;
		CHECK_EQ(pthread_create(&ct[i], NULL, consumer, &r.cons[i]), 0);
	}
	for (unsigned i = 0; i < np; i++)
		CHECK_EQ(pthread_create(&pt[i], NULL, producer, &r.prods[i]), 0);
	if (r.cancel) {
		pt_sleep_ns((int64_t)(pt_rand(rng) % 3000000));
		/* Through the merge's own cancel or its parent's; the producers (blocked on
		 * inputs nobody drains any more) need the parent's. */
		if (pt_rand(rng) % 2)
			pl_merge_cancel(r.m);
		pl_ctx_cancel(r.cx);
	}
	for (unsigned i = 0; i < np; i++) {
		CHECK_EQ(pthread_join(pt[i], NULL), 0);
		sent += r.prods[i].sent;
	}
	for (unsigned i = 0; i < nc; i++) {
		CHECK_EQ(pthread_join(ct[i], NULL), 0);
		got += r.cons[i].got;
	}
	rc = pl_merge_wait(r.m, &st);
	if (r.cancel)
		CHECK(rc == 0 || rc == -ECANCELED);
	else
		CHECK_EQ(rc, 0);
	CHECK_EQ(st.forwarded, got);
	CHECK_EQ(st.undelivered, atomic_load(&r.undelivered));
	for (unsigned i = 0; i < r.n; i++) {
		void *msg;

		while (pl_chan_try_recv(r.in[i], &msg) == 0) {
			account(&r, msg);
			left++;
		}
	}
	CHECK_EQ(got + st.undelivered + left, sent);
	if (!r.cancel)
		CHECK_EQ(left + st.undelivered, 0);
	/* Exactly the sent messages were seen: each producer's first `sent` sequence numbers. */
	for (unsigned i = 0; i < np; i++) {
		struct prod *p = &r.prods[i];

		for (unsigned s = 0; s < MAXMSG; s++)
			CHECK_EQ(atomic_load(&r.seen[p->in * MAXP + p->p][s]), s < p->sent ? 1 : 0);
	}
	pl_merge_free(r.m);
	for (unsigned i = 0; i < r.n; i++)
		pl_chan_free(r.in[i]);
	pl_ctx_release(r.cx);
}

int main(void)
{
	uint64_t seed = pt_seed(), rng = seed;
	unsigned rounds = (unsigned)((pt_tsan() ? 60 : 120) * pt_scale());

	pt_watchdog_start(60);
	for (const char *const *k = pl_chan_kinds(); *k != NULL && n_kinds < 8; k++) {
		pl_chan *ch = pl_chan_new(*k, 1);

		if (ch == NULL) {
			CHECK_EQ(errno, ENOSYS); /* a kind still being written */
			continue;
		}
		pl_chan_free(ch);
		kinds[n_kinds++] = *k;
	}
	CHECK(n_kinds > 0);
	for (unsigned i = 0; i < rounds; i++)
		round_run(&rng, i);
	printf("stress_merge: ok (%u rounds, seed %llu)\n", rounds, (unsigned long long)seed);
	return 0;
}
