/* SPDX-License-Identifier: MIT */
/*
 * stress_lifecycle - create, use, close, free: thousands of channels and contexts.
 *
 * Written for AddressSanitizer and LeakSanitizer (the asan preset turns leak detection on):
 * the bugs it looks for are memory bugs at the edges of an object's life, which only a
 * sanitizer sees. crossbeam #971 (RUSTSEC-2025-0024) is the model: the last sender and the
 * last receiver raced to destroy the channel, and one of them still touched it.
 *
 * Every iteration picks a kind (among those available), a capacity the kind supports (0 and
 * PL_CHAN_UNBOUNDED included where allowed) and one of four scenarios:
 *
 * - team: 2-4 threads (a single-producer/single-consumer kind: exactly one sender and one
 *   receiver) share a fresh channel briefly. Senders send a few messages by a random method
 *   (blocking, try, timed, under a context that is a child of a long-lived parent);
 *   receivers receive until -EPIPE. Either the last sender closes it (Go's idiom) or the main
 *   thread closes it at a random moment. Whoever drops the last reference frees the channel,
 *   right after its own last operation returned: an operation that still touches the channel
 *   after returning (a waker, a deferred reclamation) is a use-after-free. Conservation:
 *   received == sent.
 * - buffered: fill with up to cap messages (unbounded: up to 1000), maybe close, maybe drain
 *   some, then free with messages still inside: the kind must release its own nodes
 *   (LeakSanitizer) and must not touch the messages.
 * - blocked: a thread blocks (recv on an empty channel, or send on a full one) under a
 *   context: its own, a child of a per-iteration group, the group itself, a child of the
 *   long-lived parent, or one with a short deadline; the main thread cancels it (or lets the
 *   deadline pass). The operation must return the context's error and move nothing; then the
 *   contexts are released in a random order, before or after the channel is freed, and
 *   sometimes an already-cancelled context is used on a channel that is not ready.
 * - race: one sender closes (immediately, or after a few sends) while one receiver is blocked
 *   on it; the last one out frees (the exact crossbeam #971 shape).
 *
 * Contexts outlive channels on purpose: the long-lived parent sees thousands of operations
 * watch it and go away. At the end its child list must be empty (no context leaked into it)
 * and cancelling it must touch no freed channel or stack (a watch not removed would).
 *
 * Length: PATLAB_STRESS_SCALE multiplies the iterations; PATLAB_SEED replays the choices;
 * PATLAB_STRESS_KIND=<name> restricts to one kind. Fewer iterations under ThreadSanitizer.
 * Exit 0 pass, 1 fail, 77 when no kind is available yet.
 *
 * Never use this as a benchmark.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <patlab/patlab.h>

#include "sync/park.h"
#include "check.h"
#include "helpers.h"
#include "context/ctx_debug.h"

#define MAX_TEAM  4
#define MAX_KINDS 16
#define STALL_S	  30 /* one iteration taking this long: a hang (x2 under TSan) */
#define SENTINEL  ((void *)UINTPTR_MAX)

enum where {
	W_IDLE,
	W_SEND,
	W_RECV,
	W_CLOSE,
	W_FREE,
	W_DONE
};
static const char *const where_name[] = {"idle", "send", "recv", "close", "free", "done"};

/*
 * Progress slots, for the monitor's report when an iteration hangs: one per team member,
 * the last for scenario_blocked's thread. Static, so the monitor never reads freed memory.
 * Relaxed: diagnostics only.
 */
static struct slot {
	_Atomic uint64_t ops;
	_Atomic int where;
} g_slot[MAX_TEAM + 1];
static _Atomic uint64_t g_iter; /* relaxed: the monitor only compares it with itself */
static _Atomic bool g_monitor_stop;

struct kind {
	const char *name;
	struct pl_chan_kind_info info;
};

static struct kind g_kinds[MAX_KINDS];
static int g_nkinds;
static pl_ctx *g_parent; /* long-lived: thousands of operations watch its children */
static uint64_t g_seed;
static bool g_tsan;

/* Per scenario, printed at the end. */
static unsigned long g_count[4];
static const char *const scenario_name[4] = {"team", "buffered", "blocked", "race"};

static void set_where(int slot, enum where w)
{
	atomic_store_explicit(&g_slot[slot].where, w, memory_order_relaxed);
}

static void progress(int slot)
{
	atomic_fetch_add_explicit(&g_slot[slot].ops, 1, memory_order_relaxed);
}

static void *monitor(void *arg)
{
	int64_t stall_ns = (int64_t)STALL_S * 1000000000 * (g_tsan ? 2 : 1);
	int64_t last_change = pl_now_ns();
	uint64_t last = UINT64_MAX;

	(void)arg;
	while (!atomic_load(&g_monitor_stop)) {
		uint64_t it = atomic_load_explicit(&g_iter, memory_order_relaxed);
		int64_t now = pl_now_ns();

		if (it != last) {
			last = it;
			last_change = now;
		} else if (now - last_change > stall_ns) {
			fprintf(stderr, "STALL: iteration %" PRIu64 " running for %.0f s\n", it,
				(double)(now - last_change) / 1e9);
			for (int i = 0; i <= MAX_TEAM; i++)
				fprintf(stderr, "  %s %d: %6" PRIu64 " ops, last in %s\n",
					i < MAX_TEAM ? "member " : "blocker", i,
					atomic_load_explicit(&g_slot[i].ops, memory_order_relaxed),
					where_name[atomic_load_explicit(&g_slot[i].where,
									memory_order_relaxed)]);
			pt_fail(__FILE__, __LINE__, "an iteration hangs (see the last note)");
		}
		pt_sleep_ns(5000000);
	}
	return NULL;
}

static size_t pick_cap(const struct kind *k, uint64_t *rng)
{
	static const size_t caps[] = {1, 2, 3, 7, 64, 1024};
	uint64_t x = pt_rand(rng) % 8;

	if (x == 6 && k->info.rendezvous)
		return 0;
	if (x == 7 && k->info.unbounded)
		return PL_CHAN_UNBOUNDED;
	return caps[x % 6];
}

static pl_ctx *child_of_parent(void)
{
	pl_ctx *cx = pl_ctx_with_cancel(g_parent);

	CHECK(cx != NULL);
	return cx;
}

/* ------------------------------------------------------------------ team and race */

struct team;

struct member {
	struct team *t;
	int slot;
	pthread_t tid;
	bool sender;
	unsigned nsend; /* sender: messages to send */
	uint64_t rng;
	/* Results, read by main after pthread_join(). */
	unsigned sent, received;
};

struct team {
	pl_chan *ch;
	size_t cap;
	bool sender_closes; /* else the main thread closes */
	_Atomic int refs;   /* the last one to drop it frees ch */
	_Atomic int senders_left;
	int n;
	struct member m[MAX_TEAM];
};

/* team_put - drop a reference; the last one frees the channel, at once. */
static void team_put(struct team *t)
{
	if (atomic_fetch_sub(&t->refs, 1) == 1)
		pl_chan_free(t->ch);
}

/* chan_op - a send of *@msg (@send) or a receive into *@msg, bounded by @cx (may be NULL). */
static int chan_op(pl_chan *ch, bool send, void **msg, pl_ctx *cx)
{
	return send ? pl_chan_send(ch, *msg, cx) : pl_chan_recv(ch, msg, cx);
}

/*
 * team_op - @m's next send of *@msg (@send) or receive into *@msg, by a route drawn from its
 * rng: blocking; a try loop of 32 that falls back to blocking; under a timeout of up to 100 us;
 * under a child of the long-lived parent (never cancelled here: -ECANCELED is a bug).
 */
static int team_op(struct member *m, bool send, void **msg)
{
	pl_chan *ch = m->t->ch;
	uint64_t x = pt_rand(&m->rng) % 6;
	pl_ctx *cx;
	int rc;

	switch (x) {
	case 0:
	case 1:
		return chan_op(ch, send, msg, NULL);
	case 2:
		for (int i = 0; i < 32; i++) {
			rc = send ? pl_chan_try_send(ch, *msg) : pl_chan_try_recv(ch, msg);
			if (rc != -EAGAIN)
				return rc;
			sched_yield();
		}
		return chan_op(ch, send, msg, NULL);
	case 3:
		cx = pl_ctx_with_timeout(NULL, (int64_t)(pt_rand(&m->rng) % 100000));
		break;
	default:
		cx = child_of_parent();
	}
	CHECK(cx != NULL);
	rc = chan_op(ch, send, msg, cx);
	CHECK(rc != -ECANCELED);
	pl_ctx_release(cx);
	return rc;
}

static void *member_main(void *arg)
{
	struct member *m = arg;
	struct team *t = m->t;
	int rc;

	if (m->sender) {
		for (unsigned i = 0; i < m->nsend; i++) {
			void *msg = (void *)(uintptr_t)i;

			set_where(m->slot, W_SEND);
			rc = team_op(m, true, &msg);
			progress(m->slot);
			if (rc == -EPIPE)
				break;
			CHECK(rc == 0 || rc == -ETIMEDOUT);
			m->sent += rc == 0;
		}
		if (atomic_fetch_sub(&t->senders_left, 1) == 1 && t->sender_closes) {
			set_where(m->slot, W_CLOSE);
			CHECK_EQ(pl_chan_close(t->ch), 0);
		}
	} else {
		for (;;) {
			void *msg = SENTINEL;

			set_where(m->slot, W_RECV);
			rc = team_op(m, false, &msg);
			progress(m->slot);
			if (rc == -EPIPE)
				break;
			CHECK(rc == 0 || rc == -ETIMEDOUT);
			if (rc == 0) {
				CHECK(msg != SENTINEL);
				m->received++;
			} else {
				CHECK(msg == SENTINEL);
			}
		}
	}
	set_where(m->slot, W_FREE);
	team_put(t); /* the last reference frees the channel, right after our last op */
	set_where(m->slot, W_DONE);
	return NULL;
}

/* team - 2-4 threads share a channel; @race: the #971 shape, one sender and one receiver. */
static void scenario_team(const struct kind *k, size_t cap, uint64_t *rng, bool race)
{
	struct team *t = calloc(1, sizeof(*t));
	unsigned sent = 0, received = 0;
	int nsenders = 0;

	CHECK(t != NULL);
	t->n = race || k->info.spsc ? 2 : 2 + (int)(pt_rand(rng) % (MAX_TEAM - 1));
	t->ch = pt_chan_new(k->name, cap);
	t->cap = cap;
	t->sender_closes = race || (pt_rand(rng) & 1);
	for (int i = 0; i < t->n; i++) {
		struct member *m = &t->m[i];

		m->t = t;
		m->slot = i;
		m->rng = pt_rand(rng);
		/* Member 0 sends, member 1 receives, the others either. */
		m->sender = i == 0 || (i > 1 && (pt_rand(rng) & 1));
		m->nsend = race ? (unsigned)(pt_rand(rng) % 3) : (unsigned)(pt_rand(rng) % 17);
		nsenders += m->sender;
	}
	atomic_init(&t->senders_left, nsenders);
	atomic_init(&t->refs, t->n + (t->sender_closes ? 0 : 1));
	/* Receivers first, so that in the race shape the receiver is usually blocked when the
	 * sender closes. */
	for (int i = t->n - 1; i >= 0; i--)
		pt_start(&t->m[i].tid, member_main, &t->m[i]);
	if (!t->sender_closes) {
		pt_pause(pt_rand(rng), 300000, 5000);
		CHECK_EQ(pl_chan_close(t->ch), 0);
		team_put(t);
	}
	for (int i = 0; i < t->n; i++) {
		CHECK_EQ(pthread_join(t->m[i].tid, NULL), 0);
		sent += t->m[i].sent;
		received += t->m[i].received;
	}
	/* Every receiver drained to -EPIPE, so nothing sent is left behind. */
	CHECK_EQ(received, sent);
	CHECK_EQ(atomic_load(&t->refs), 0);
	free(t);
}

/* ------------------------------------------------------------------ buffered */

static void scenario_buffered(const struct kind *k, size_t cap, uint64_t *rng)
{
	pl_chan *ch = pt_chan_new(k->name, cap);
	size_t room = cap == PL_CHAN_UNBOUNDED ? 1000 : cap;
	size_t n = room == 0 ? 0 : (size_t)(pt_rand(rng) % (room + 1));
	size_t drain = n == 0 ? 0 : (size_t)(pt_rand(rng) % (n + 1));
	void *m;

	for (size_t i = 0; i < n; i++)
		CHECK_EQ(pl_chan_try_send(ch, (void *)(uintptr_t)i), 0);
	if (n == cap) /* full (an unbounded channel never is) */
		CHECK_EQ(pl_chan_try_send(ch, SENTINEL), -EAGAIN);
	CHECK_EQ(pl_chan_len(ch), n);
	if (pt_rand(rng) & 1)
		CHECK_EQ(pl_chan_close(ch), 0);
	for (size_t i = 0; i < drain; i++) {
		m = SENTINEL;
		CHECK_EQ(pl_chan_try_recv(ch, &m), 0);
		CHECK(m == (void *)(uintptr_t)i);
	}
	CHECK_EQ(pl_chan_len(ch), n - drain);
	pl_chan_free(ch); /* with n - drain messages still inside */
}

/* ------------------------------------------------------------------ blocked */

struct blocker {
	pl_chan *ch;
	pl_ctx *cx;
	bool send;
	_Atomic bool arrived;
	int rc;
	void *msg;
};

static void *blocker_main(void *arg)
{
	struct blocker *b = arg;

	set_where(MAX_TEAM, b->send ? W_SEND : W_RECV);
	atomic_store(&b->arrived, true);
	if (b->send)
		b->rc = pl_chan_send(b->ch, b->msg, b->cx);
	else
		b->rc = pl_chan_recv(b->ch, &b->msg, b->cx);
	progress(MAX_TEAM);
	set_where(MAX_TEAM, W_DONE);
	return NULL;
}

static void release_all(pl_ctx **cx, int n, uint64_t *rng)
{
	/* A random order: children before or after their parents. */
	for (int i = 0; i < n; i++) {
		int j = i + (int)(pt_rand(rng) % (uint64_t)(n - i));
		pl_ctx *tmp = cx[i];

		cx[i] = cx[j];
		cx[j] = tmp;
	}
	for (int i = 0; i < n; i++)
		if (cx[i] != NULL)
			pl_ctx_release(cx[i]);
}

static void scenario_blocked(const struct kind *k, size_t cap, uint64_t *rng)
{
	pl_chan *ch = pt_chan_new(k->name, cap);
	struct blocker b = {.ch = ch, .msg = SENTINEL};
	pl_ctx *group = NULL, *own[2] = {NULL, NULL};
	uint64_t how = pt_rand(rng) % 6;
	int expect = -ECANCELED;
	pthread_t t;
	void *m;

	/* Block on send when the channel can be filled, else on recv. */
	b.send = cap != PL_CHAN_UNBOUNDED && (pt_rand(rng) & 1);
	if (b.send) {
		for (size_t i = 0; i < cap; i++)
			CHECK_EQ(pl_chan_try_send(ch, (void *)(uintptr_t)i), 0);
		b.msg = (void *)(uintptr_t)cap;
	}
	switch (how) {
	case 0: /* its own */
		b.cx = own[0] = pl_ctx_with_cancel(NULL);
		break;
	case 1: /* a child of a group: the group is cancelled */
		group = pl_ctx_with_cancel(NULL);
		CHECK(group != NULL);
		b.cx = own[0] = pl_ctx_with_cancel(group);
		break;
	case 2: /* the group itself */
		b.cx = group = pl_ctx_with_cancel(NULL);
		break;
	case 3: /* a grandchild of the long-lived parent, cancelled in the middle */
		own[1] = child_of_parent();
		b.cx = own[0] = pl_ctx_with_cancel(own[1]);
		break;
	case 4: /* a short deadline, nobody cancels */
		b.cx = own[0] = pl_ctx_with_timeout(NULL, 50000 + (int64_t)(pt_rand(rng) % 200000));
		expect = -ETIMEDOUT;
		break;
	default: /* already cancelled before the operation: returns at once, moves nothing */
		b.cx = own[0] = pl_ctx_with_cancel(g_parent);
		CHECK(b.cx != NULL);
		pl_ctx_cancel(b.cx);
	}
	CHECK(b.cx != NULL);

	pt_start(&t, blocker_main, &b);
	while (!atomic_load(&b.arrived))
		sched_yield();
	if (how < 4) {
		/* Usually parked by now; if not, it meets a done context and returns all the
		 * same (the channel is not ready). */
		pt_sleep_ns((int64_t)(pt_rand(rng) % 300000));
		switch (how) {
		case 0:
			pl_ctx_cancel(own[0]);
			break;
		case 1:
		case 2:
			pl_ctx_cancel(group);
			break;
		default:
			pl_ctx_cancel(own[1]);
		}
	}
	CHECK_EQ(pthread_join(t, NULL), 0);
	if (b.rc != expect)
		pt_fail(__FILE__, __LINE__,
			"kind %s cap %zu: a %s blocked under context (case %d) returned %d, not %d",
			k->name, cap, b.send ? "send" : "recv", (int)how, b.rc, expect);
	CHECK_EQ(pl_ctx_err(b.cx), expect);
	if (!b.send)
		CHECK(b.msg == SENTINEL);
	CHECK_EQ(pl_chan_len(ch), b.send ? cap : 0);

	/* Contexts released before or after the channel goes, in a random order. */
	if (pt_rand(rng) & 1) {
		pl_ctx *all[3] = {own[0], own[1], group};

		release_all(all, 3, rng);
		group = own[0] = own[1] = NULL;
	}
	if (b.send) {
		/* Nothing of the cancelled send is inside: the buffered ones drain in order. */
		CHECK_EQ(pl_chan_close(ch), 0);
		for (size_t i = 0; i < cap; i++) {
			m = SENTINEL;
			CHECK_EQ(pl_chan_try_recv(ch, &m), 0);
			CHECK(m == (void *)(uintptr_t)i);
		}
		CHECK_EQ(pl_chan_try_recv(ch, &m), -EPIPE);
	}
	pl_chan_free(ch);
	{
		pl_ctx *all[3] = {own[0], own[1], group};

		release_all(all, 3, rng);
	}
}

/* ------------------------------------------------------------------ main */

int main(void)
{
	const char *const *kinds = pl_chan_kinds();
	uint64_t rng, iters;
	pthread_t mon;

	setvbuf(stdout, NULL, _IOLBF, 0);
	g_seed = pt_seed();
	g_tsan = pt_tsan();
	pt_watchdog_start(100);
	printf("stress_lifecycle: seed %" PRIu64 ", scale %g%s (never use this as a benchmark)\n",
	       g_seed, pt_scale(), g_tsan ? ", ThreadSanitizer: fewer iterations" : "");

	for (int i = 0; kinds[i] != NULL && g_nkinds < MAX_KINDS; i++) {
		struct kind *k = &g_kinds[g_nkinds];

		k->name = kinds[i];
		if (!pt_stress_kind(k->name, &k->info))
			continue;
		if (k->info.spsc)
			printf("kind %s: single producer/single consumer: teams of one sender and "
			       "one receiver only\n",
			       k->name);
		g_nkinds++;
	}
	if (g_nkinds == 0) {
		printf("stress_lifecycle: no channel kind available yet: skipped\n");
		return PT_SKIP;
	}

	g_parent = pl_ctx_with_cancel(NULL);
	CHECK(g_parent != NULL);
	pt_start(&mon, monitor, NULL);
	rng = g_seed;
	iters = (uint64_t)((g_tsan ? 1500 : 6000) * pt_scale());
	for (uint64_t i = 0; i < iters; i++) {
		const struct kind *k = &g_kinds[pt_rand(&rng) % (uint64_t)g_nkinds];
		size_t cap = pick_cap(k, &rng);
		int sc = (int)(pt_rand(&rng) % 4);

		pt_note("stress_lifecycle: iteration %" PRIu64 ": kind %s cap %zu, scenario %s", i,
			k->name, cap, scenario_name[sc]);
		switch (sc) {
		case 0:
			scenario_team(k, cap, &rng, false);
			break;
		case 1:
			scenario_buffered(k, cap, &rng);
			break;
		case 2:
			scenario_blocked(k, cap, &rng);
			break;
		default:
			scenario_team(k, cap, &rng, true);
		}
		g_count[sc]++;
		atomic_fetch_add_explicit(&g_iter, 1, memory_order_relaxed);
	}
	atomic_store(&g_monitor_stop, true);
	CHECK_EQ(pthread_join(mon, NULL), 0);

	/* Every operation's context is gone: the long-lived parent keeps no child, and cancelling
	 * it now reaches no watch left behind by a freed channel or a returned operation. */
	pt_note("stress_lifecycle: the long-lived parent");
	CHECK_EQ(pl__ctx_nchildren(g_parent), 0);
	pl_ctx_cancel(g_parent);
	CHECK_EQ(pl_ctx_err(g_parent), -ECANCELED);
	pl_ctx_release(g_parent);

	printf("stress_lifecycle: %" PRIu64 " channels over %d kinds: %lu team, %lu buffered, "
	       "%lu blocked, %lu race\n",
	       iters, g_nkinds, g_count[0], g_count[1], g_count[2], g_count[3]);
	printf("stress_lifecycle: ok (seed %" PRIu64 ")\n", g_seed);
	return 0;
}
