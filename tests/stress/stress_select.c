/* SPDX-License-Identifier: MIT */
/*
 * stress_select - about a million selects (times PATLAB_STRESS_SCALE) over every kind and over
 * a mixture of kinds, checking that every message is delivered exactly once.
 *
 * Per configuration: four channels (capacities drawn from 0 where the kind has it, 1, 2, 64);
 * producers send each message through one select whose send cases name a random set of the
 * channels (duplicates and NULL cases included); consumers receive through selects over every
 * open channel, in a random order, plus duplicates and NULL cases (so a blocked producer is
 * always someone's partner); relays select over a send case (the oldest message they hold)
 * and receive cases at once, so selects meet selects on both sides of a channel, also at
 * capacity 0, and a select's own send and receive on one channel must never pair; they also
 * watch a stop channel, closed once the producers are done, and then only deliver. Selects
 * use no context, an already-cancelled one, a short timeout, or pl_try_select; one that fails
 * must have moved nothing (its message is offered again later). When the producers are done
 * and the relays empty, the channels are closed and the consumers drain until every channel
 * reports -EPIPE.
 *
 * Then one-shot rounds (stress_oneshot's idea, for selects): K threads each make exactly one
 * select that receives from two channels (beside two that never get ready) while K threads
 * each send exactly one message (mostly by a select of their own, else a plain send), and
 * the mirror image on full channels. A wakeup
 * lost between a select's last look and its sleep has no later message to hide behind: the
 * round hangs and the watchdog names it.
 *
 * Checked: every message received exactly once (a counter per message), none lost; per
 * consumer, the messages of one producer on one channel arrive in order (configurations
 * without relays, which reorder); 0 <= len <= cap; the spsc kind runs with one producer and
 * one consumer per channel (no relays). Seeded (PATLAB_SEED), scaled (PATLAB_STRESS_SCALE),
 * one kind only with PATLAB_STRESS_KIND, fewer selects under sanitizers; the watchdog reports
 * where it hangs. Never use this as a benchmark.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <patlab/patlab.h>

#include "check.h"
#include "helpers.h"

#define NCH	    4
#define MAX_THREADS 8
#define RELAY_HOLD  4
#define US	    1000LL

struct config {
	const char *name;
	pl_chan *ch[NCH];
	pl_chan *stop; /* closed when the producers are done: relays stop taking */
	int producers, consumers, relays;
	uint32_t per_producer;
	bool fifo; /* no relays: per (consumer, producer, channel) order holds */
	/* One counter per message: producer p's message s at [p * per_producer + s]. */
	_Atomic uint8_t *seen;
	_Atomic uint64_t selects, timeouts;
	uint64_t seed;
};

struct worker {
	struct config *cf;
	int id;
	pthread_t t;
	uint64_t rng;
	pl_ctx *cancelled;
	/* Consumer: the last sequence seen per (producer, channel), for the FIFO check. */
	int64_t last[MAX_THREADS][NCH];
};

static void *msg_of(int p, uint32_t s)
{
	return (void *)(((uintptr_t)(p + 1) << 32) | s);
}

static void note_received(struct worker *w, void *m, int ch)
{
	struct config *cf = w->cf;
	uintptr_t x = (uintptr_t)m;
	int p = (int)(x >> 32) - 1;
	uint32_t s = (uint32_t)x;

	if (p < 0 || p >= cf->producers || s >= cf->per_producer)
		pt_fail(__FILE__, __LINE__, "%s: bogus message %#lx on channel %d", cf->name,
			(unsigned long)x, ch);
	if (atomic_fetch_add(&cf->seen[(size_t)p * cf->per_producer + s], 1) != 0)
		pt_fail(__FILE__, __LINE__, "%s: message %d/%u received twice", cf->name, p, s);
	if (cf->fifo && w->last[p][ch] >= (int64_t)s)
		pt_fail(__FILE__, __LINE__,
			"%s: producer %d's message %u on channel %d after its message %lld",
			cf->name, p, s, ch, (long long)w->last[p][ch]);
	w->last[p][ch] = s;
}

/*
 * One select over @k (@n cases) the way this iteration draws it: no context, a cancelled one,
 * a timeout of up to 50 us, or pl_try_select. Returns its result.
 */
static int do_select(struct worker *w, pl_sel_case *k, size_t n)
{
	uint64_t r = pt_rand(&w->rng);
	int rc;

	atomic_fetch_add_explicit(&w->cf->selects, 1, memory_order_relaxed);
	switch (r % 16) {
	case 0:
		return pl_try_select(k, n);
	case 1:
		return pl_select(k, n, w->cancelled);
	case 2:
	case 3: {
		pl_ctx *cx = pl_ctx_with_timeout(NULL, (int64_t)((r >> 8) % 50) * US);

		CHECK(cx != NULL);
		rc = pl_select(k, n, cx);
		pl_ctx_release(cx);
		return rc;
	}
	default:
		return pl_select(k, n, NULL);
	}
}

/* Fill @k with 1..4 @op cases on random channels (some NULL); returns how many. */
static size_t draw_cases(struct worker *w, pl_sel_case *k, enum pl_sel_op op, void *msg,
			 pl_chan *const *chs)
{
	size_t n = 1 + pt_rand(&w->rng) % 4;

	for (size_t i = 0; i < n; i++) {
		uint64_t r = pt_rand(&w->rng);

		k[i] = (pl_sel_case){.ch = r % 8 == 0 ? NULL : chs[r % NCH], .op = op, .msg = msg};
	}
	/* At least one real case, or the select would wait for its context only. */
	k[pt_rand(&w->rng) % n].ch = chs[pt_rand(&w->rng) % NCH];
	return n;
}

static void check_len(struct config *cf, int i)
{
	size_t len = pl_chan_len(cf->ch[i]), cap = pl_chan_cap(cf->ch[i]);

	if (len > cap)
		pt_fail(__FILE__, __LINE__, "%s: channel %d holds %zu > cap %zu", cf->name, i, len,
			cap);
}

static void *producer(void *arg)
{
	struct worker *w = arg;
	struct config *cf = w->cf;
	pl_sel_case k[4];

	for (uint32_t s = 0; s < cf->per_producer;) {
		size_t n = draw_cases(w, k, PL_SEL_SEND, msg_of(w->id, s), cf->ch);
		int rc = do_select(w, k, n);

		if (rc >= 0) {
			CHECK_EQ(k[rc].err, 0);
			s++;
		} else if (rc == -ETIMEDOUT || rc == -ECANCELED || rc == -EAGAIN) {
			atomic_fetch_add_explicit(&cf->timeouts, 1, memory_order_relaxed);
		} else {
			pt_fail(__FILE__, __LINE__, "%s: producer select: %d", cf->name, rc);
		}
		if ((s & 1023) == 0)
			check_len(cf, (int)(s / 1024) % NCH);
	}
	return NULL;
}

/* Which channel index case @c names (the caller's channels are distinct). */
static int chan_index(const struct config *cf, const pl_sel_case *c)
{
	for (int i = 0; i < NCH; i++)
		if (cf->ch[i] == c->ch)
			return i;
	pt_fail(__FILE__, __LINE__, "%s: a case names no channel of the configuration", cf->name);
}

static void *relay(void *arg)
{
	struct worker *w = arg;
	struct config *cf = w->cf;
	void *held[RELAY_HOLD];
	int nheld = 0;

	bool stopped = false;

	for (;;) {
		bool intake = !stopped && nheld < RELAY_HOLD;
		pl_sel_case k[6];
		size_t n = 0;
		int rc;

		if (!intake && nheld == 0)
			break;
		if (nheld > 0) {
			k[n++] = (pl_sel_case){.ch = cf->ch[pt_rand(&w->rng) % NCH],
					       .op = PL_SEL_SEND,
					       .msg = held[0]};
		}
		if (!stopped)
			k[n++] = (pl_sel_case){.ch = cf->stop, .op = PL_SEL_RECV};
		if (intake)
			n += draw_cases(w, k + n, PL_SEL_RECV, NULL, cf->ch);
		rc = do_select(w, k, n);
		if (rc < 0) {
			CHECK(rc == -ETIMEDOUT || rc == -ECANCELED || rc == -EAGAIN);
			atomic_fetch_add_explicit(&cf->timeouts, 1, memory_order_relaxed);
			/* A relay without intake and a lone send may wait for consumers only. */
			continue;
		}
		if (k[rc].ch == cf->stop) {
			CHECK_EQ(k[rc].err, -EPIPE);
			stopped = true;
			continue;
		}
		CHECK_EQ(k[rc].err, 0);
		if (k[rc].op == PL_SEL_SEND) {
			memmove(held, held + 1, (size_t)(nheld - 1) * sizeof(held[0]));
			nheld--;
		} else {
			CHECK(k[rc].msg != NULL);
			held[nheld++] = k[rc].msg;
		}
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	struct config *cf = w->cf;
	pl_chan *open[NCH];
	int nopen = NCH;

	memcpy(open, cf->ch, sizeof(open));
	for (int p = 0; p < MAX_THREADS; p++)
		for (int i = 0; i < NCH; i++)
			w->last[p][i] = -1;
	while (nopen > 0) {
		pl_sel_case k[NCH + 2];
		size_t n = 0;
		int rc;

		/* Every open channel, in a random order, then up to two duplicates or NULLs. */
		for (int i = 0; i < nopen; i++) {
			size_t j = (size_t)(pt_rand(&w->rng) % (uint64_t)(n + 1));

			k[n] = k[j];
			k[j] = (pl_sel_case){.ch = open[i], .op = PL_SEL_RECV};
			n++;
		}
		for (uint64_t extra = pt_rand(&w->rng) % 3; extra > 0; extra--) {
			uint64_t r = pt_rand(&w->rng);

			k[n++] = (pl_sel_case){.ch = r % 4 == 0 ? NULL
								: open[(r >> 8) % (uint64_t)nopen],
					       .op = PL_SEL_RECV};
		}
		rc = do_select(w, k, n);
		if (rc < 0) {
			CHECK(rc == -ETIMEDOUT || rc == -ECANCELED || rc == -EAGAIN);
			continue;
		}
		if (k[rc].err == -EPIPE) {
			CHECK(k[rc].msg == NULL);
			for (int i = 0; i < nopen; i++) {
				if (open[i] == k[rc].ch) {
					open[i] = open[--nopen];
					break;
				}
			}
			continue;
		}
		CHECK_EQ(k[rc].err, 0);
		note_received(w, k[rc].msg, chan_index(cf, &k[rc]));
	}
	return NULL;
}

static void run_config(struct config *cf)
{
	struct worker w[3 * MAX_THREADS];
	int nw = 0;
	size_t total = (size_t)cf->producers * cf->per_producer;

	cf->seen = calloc(total, sizeof(cf->seen[0]));
	CHECK(cf->seen != NULL);
	cf->stop = pt_chan_new(pl_chan_kinds()[0], 1);
	atomic_init(&cf->selects, 0);
	atomic_init(&cf->timeouts, 0);
	cf->fifo = cf->relays == 0;
	pt_note("%s: %d producers x %u messages, %d relays, %d consumers", cf->name, cf->producers,
		cf->per_producer, cf->relays, cf->consumers);

	pl_ctx *cancelled = pl_ctx_with_cancel(NULL);
	CHECK(cancelled != NULL);
	pl_ctx_cancel(cancelled);
	for (int role = 0; role < 3; role++) {
		int count = role == 0 ? cf->producers : role == 1 ? cf->relays : cf->consumers;
		void *(*fn)(void *) = role == 0 ? producer : role == 1 ? relay : consumer;

		for (int i = 0; i < count; i++, nw++) {
			w[nw].cf = cf;
			w[nw].id = i;
			w[nw].rng = cf->seed ^ (uint64_t)(nw + 1) * 0x9e3779b97f4a7c15ull;
			w[nw].cancelled = cancelled;
			pt_start(&w[nw].t, fn, &w[nw]);
		}
	}
	/* Producers, then the relays (told by closing stop); then close, and the consumers
	 * drain. */
	for (int i = 0; i < cf->producers; i++)
		CHECK_EQ(pthread_join(w[i].t, NULL), 0);
	CHECK_EQ(pl_chan_close(cf->stop), 0);
	for (int i = cf->producers; i < cf->producers + cf->relays; i++)
		CHECK_EQ(pthread_join(w[i].t, NULL), 0);
	pt_note("%s: closing; consumers drain", cf->name);
	for (int i = 0; i < NCH; i++)
		CHECK_EQ(pl_chan_close(cf->ch[i]), 0);
	for (int i = cf->producers + cf->relays; i < nw; i++)
		CHECK_EQ(pthread_join(w[i].t, NULL), 0);
	for (size_t i = 0; i < total; i++)
		if (atomic_load(&cf->seen[i]) != 1)
			pt_fail(__FILE__, __LINE__, "%s: message %zu/%u received %d times",
				cf->name, i / cf->per_producer, (unsigned)(i % cf->per_producer),
				atomic_load(&cf->seen[i]));
	for (int i = 0; i < NCH; i++)
		CHECK_EQ(pl_chan_len(cf->ch[i]), 0);
	printf("ok   %-26s %zu messages exactly once, %llu selects (%llu without a case), "
	       "%d+%d+%d threads\n",
	       cf->name, total, (unsigned long long)atomic_load(&cf->selects),
	       (unsigned long long)atomic_load(&cf->timeouts), cf->producers, cf->relays,
	       cf->consumers);
	fflush(stdout);
	pl_ctx_release(cancelled);
	pl_chan_free(cf->stop);
	free(cf->seen);
}

/* ------------------------------------------------------------------ one-shot rounds */

#define K_MAX 4

struct oneshot {
	pl_chan *a, *b;
	pl_chan *dead[2]; /* never ready: a select arms them too, which takes time */
	pthread_barrier_t go;
	bool full; /* the channels start full: the selects send, the plain side receives */
	_Atomic uint64_t sum;
	uint64_t seed;
};

struct oneshot_arg {
	struct oneshot *o;
	int id;
	bool selecting; /* the select side (else the other side: plain, or a select itself) */
};

static void tiny_jitter(uint64_t *r)
{
	for (uint64_t n = pt_rand(r) % 256; n > 0; n--)
		__asm__ volatile("" ::: "memory");
}

static void *oneshot_main(void *arg)
{
	struct oneshot_arg *a = arg;
	struct oneshot *o = a->o;
	uint64_t r = o->seed ^ (uint64_t)(a->id + 1) * 0x9e3779b97f4a7c15ull;
	/* The select side sends into full channels, else receives; partners do the opposite,
	 * by a plain operation or a select of their own. */
	bool recv = a->selecting != o->full;
	bool by_select = a->selecting || pt_rand(&r) % 4 != 0;
	void *m = (void *)(uintptr_t)(a->id + 1);
	pl_sel_case k[5];
	int rc;

	pthread_barrier_wait(&o->go);
	tiny_jitter(&r);
	if (by_select) {
		enum pl_sel_op op = recv ? PL_SEL_RECV : PL_SEL_SEND;

		/* Two channels that never get ready lengthen the arming round: a partner that
		 * arrives after the select armed a live channel finds it busy more often, and
		 * the select must learn of it (a nudge) or sleep beside it for good. Only the
		 * select side names them: they have one receiver (an spsc channel may). */
		k[0] = (pl_sel_case){.ch = o->a, .op = op, .msg = m};
		k[1] = (pl_sel_case){.ch = NULL, .op = op};
		k[2] = (pl_sel_case){.ch = o->b, .op = op, .msg = m};
		k[3] = (pl_sel_case){.ch = a->selecting ? o->dead[0] : NULL, .op = PL_SEL_RECV};
		k[4] = (pl_sel_case){.ch = a->selecting ? o->dead[1] : NULL, .op = PL_SEL_RECV};
		rc = pl_select(k, 5, NULL);
		CHECK(rc == 0 || rc == 2);
		CHECK_EQ(k[rc].err, 0);
		if (recv)
			atomic_fetch_add(&o->sum, (uintptr_t)k[rc].msg);
	} else if (recv) {
		CHECK_EQ(pl_chan_recv(pt_rand(&r) % 2 ? o->a : o->b, &m, NULL), 0);
		atomic_fetch_add(&o->sum, (uintptr_t)m);
	} else {
		CHECK_EQ(pl_chan_send(pt_rand(&r) % 2 ? o->a : o->b, m, NULL), 0);
	}
	return NULL;
}

/*
 * One round on fresh channels of @kind (capacity @cap, spin budget @spin_ns): @k selects and
 * @k plain or selecting partners, each doing exactly one operation.
 */
static void oneshot_round(const char *kind, size_t cap, int k, bool full, int64_t spin_ns,
			  uint64_t seed)
{
	pl_chan_opts opts = {.spin_ns = spin_ns};
	struct oneshot o = {.full = full, .seed = seed};
	struct oneshot_arg args[2 * K_MAX];
	pthread_t t[2 * K_MAX];
	uint64_t sent = 0, prefill = 0, left = 0;
	void *m;

	o.a = pl_chan_new_opts(kind, cap, &opts);
	o.b = pl_chan_new_opts(kind, cap, &opts);
	o.dead[0] = pl_chan_new_opts(kind, cap, &opts);
	o.dead[1] = pl_chan_new_opts(kind, cap, &opts);
	CHECK(o.a != NULL && o.b != NULL && o.dead[0] != NULL && o.dead[1] != NULL);
	atomic_init(&o.sum, 0);
	/* Full: the partners' receives make the room the selects' sends wait for. */
	for (size_t i = 0; full && i < cap; i++) {
		CHECK_EQ(pl_chan_try_send(o.a, (void *)(uintptr_t)100), 0);
		CHECK_EQ(pl_chan_try_send(o.b, (void *)(uintptr_t)100), 0);
		prefill += 200;
	}
	pthread_barrier_init(&o.go, NULL, (unsigned)(2 * k));
	for (int i = 0; i < 2 * k; i++) {
		args[i] = (struct oneshot_arg){&o, i, i < k};
		pt_start(&t[i], oneshot_main, &args[i]);
		if ((i < k) == full)
			sent += (uint64_t)(i + 1); /* this thread sends its id + 1 */
	}
	for (int i = 0; i < 2 * k; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	/* What the receivers got plus what is left is what was put in, each counted once. */
	while (pl_chan_try_recv(o.a, &m) == 0 || pl_chan_try_recv(o.b, &m) == 0)
		left += (uintptr_t)m;
	CHECK_EQ(atomic_load(&o.sum) + left, prefill + sent);
	if (!full)
		CHECK_EQ(left, 0);
	pthread_barrier_destroy(&o.go);
	pl_chan_free(o.a);
	pl_chan_free(o.b);
	pl_chan_free(o.dead[0]);
	pl_chan_free(o.dead[1]);
}

static void oneshot_kind(const char *kind, const struct pl_chan_kind_info *info, int rounds,
			 uint64_t *rng)
{
	for (int i = 0; i < rounds; i++) {
		int k = info->spsc ? 1 : 1 + (int)(pt_rand(rng) % K_MAX);
		size_t cap = info->rendezvous && pt_rand(rng) % 2 == 0 ? 0 : 1 + pt_rand(rng) % 2;
		bool full = cap > 0 && pt_rand(rng) % 2 == 0;
		int64_t spin = pt_rand(rng) % 2 ? 0 : PL_CHAN_SPIN_NS_DEFAULT;

		pt_note("%s one-shot round %d: %d selects %s, %d partners, cap %zu, spin %lld",
			kind, i, k, full ? "sending into full channels" : "receiving", k, cap,
			(long long)spin);
		oneshot_round(kind, cap, k, full, spin, pt_rand(rng));
	}
	printf("ok   %-26s %d one-shot rounds%s\n", kind, rounds,
	       info->spsc ? " (1 select, 1 partner)" : "");
}

/* A capacity for channel @i of a kind described by @info. */
static size_t pick_cap(const struct pl_chan_kind_info *info, int i, uint64_t *rng)
{
	static const size_t caps[] = {0, 1, 2, 64};
	size_t c = caps[(pt_rand(rng) + (uint64_t)i) % 4];

	return c == 0 && !info->rendezvous ? 1 : c;
}

int main(void)
{
	uint64_t seed = pt_seed(), rng = seed;
	/* About 1e6 selects in all at scale 1: ~2.2 per message, over five configurations. */
	double scale = pt_scale() / (pt_sanitized() ? 20 : 1);
	uint32_t messages = (uint32_t)(90000 * scale) + 64;
	const char *const *kinds = pl_chan_kinds();
	const char *only = getenv("PATLAB_STRESS_KIND");
	int ran = 0;

	pt_watchdog_start(300);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t k = 0; kinds[k] != NULL; k++) {
		struct pl_chan_kind_info info;
		struct config cf = {.name = kinds[k], .seed = pt_rand(&rng)};

		if (!pt_stress_kind(kinds[k], &info))
			continue;
		for (int i = 0; i < NCH; i++) {
			pl_chan_opts o = pl_chan_opts_default();
			size_t cap = pick_cap(&info, i, &rng);

			/* spsc: no capacity-0 channels exist, and no relays are allowed. */
			o.spin_ns = pt_rand(&rng) % 2 ? 0 : o.spin_ns;
			cf.ch[i] = pl_chan_new_opts(kinds[k], cap, &o);
			CHECK(cf.ch[i] != NULL);
		}
		if (info.spsc) {
			cf.producers = cf.consumers = 1;
			cf.relays = 0;
		} else {
			cf.producers = 3;
			cf.consumers = 2;
			cf.relays = ran % 2 == 0 ? 2 : 0;
		}
		cf.per_producer = messages / (uint32_t)cf.producers;
		run_config(&cf);
		for (int i = 0; i < NCH; i++)
			pl_chan_free(cf.ch[i]);
		oneshot_kind(kinds[k], &info, (int)(2000 * scale) + 20, &rng);
		ran++;
	}
	if (only == NULL && ran > 1) {
		/* Mixed: a channel of each multi-producer kind, round robin. */
		struct config cf = {.name = "mixed kinds", .seed = pt_rand(&rng)};
		const char *multi[8];
		int nm = 0;

		for (size_t k = 0; kinds[k] != NULL && nm < 8; k++)
			if (pt_kind_ready(kinds[k]) && !pt_kind_spsc(kinds[k]))
				multi[nm++] = kinds[k];
		for (int i = 0; i < NCH; i++) {
			struct pl_chan_kind_info info;

			CHECK_EQ(pl_chan_kind_info(multi[i % nm], &info), 0);
			cf.ch[i] = pt_chan_new(multi[i % nm], pick_cap(&info, i, &rng));
		}
		cf.producers = 3;
		cf.consumers = 2;
		cf.relays = 2;
		cf.per_producer = messages / 3;
		run_config(&cf);
		for (int i = 0; i < NCH; i++)
			pl_chan_free(cf.ch[i]);
		ran++;
	}
	if (ran == 0)
		return PT_SKIP;
	printf("PASS (seed %llu)\n", (unsigned long long)seed);
	return 0;
}
