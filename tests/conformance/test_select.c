/* SPDX-License-Identifier: MIT */
/*
 * Select conformance: Go's select semantics (patlab/select.h), checked on every registered kind
 * and on mixtures of kinds.
 *
 * One harness, as in test_conformance.c: main() loops over pl_chan_kinds(), every kind with
 * the default spin budget and with spin_ns = 0 (park at once), so a new kind is covered when it
 * is registered. Each (kind, spin, check) prints one line, "ok" or "skip" with the reason (a
 * capability the kind does not declare, or the single-producer/single-consumer restriction).
 *
 * What is checked:
 * - arguments: more than PL_SELECT_MAX cases, a NULL array, a bad op -> -EINVAL; no case, or
 *   only NULL channels: pl_try_select -EAGAIN, pl_select waits for its context only.
 * - pl_try_select: -EAGAIN when nothing is ready, with nothing moved and no case written; a
 *   ready case proceeds (received value, delivered value); exactly one of several ready
 *   cases proceeds, the others untouched; closed channels are ready (-EPIPE, msg NULL, nothing
 *   delivered); NULL channels never are; a send and a receive on one channel never pair.
 * - pl_select: a ready case wins over a done context; a blocked select is woken by a send, a
 *   receive, close and its context (cancel, deadline), having done nothing in the last case.
 * - capacity 0 (kinds that have it), in both directions: a select blocked on a send case is
 *   the partner of a plain receive and of a select blocked on a receive case, and the other
 *   way round, whichever side came first.
 * - a select over one channel of every kind at once, woken by each kind.
 * - a parked select uses less than 10% of a CPU (its thread's CPU time over ~0.5 s parked: a
 *   resource check, not a timing).
 * - Go's own select tests (runtime/chan_test.go, select_test.go), in our words:
 *   SelectFairness, SelectStress, SelfSelect, SelectDuplicateChannel, NonblockSelectRace (and
 *   Race2) and PseudoRandomSend; see each function.
 *
 * Waiting is never timed as a pass criterion: "still blocked" is "has not returned", and
 * "woken" is "returned within the watchdog". PATLAB_SEED replays the random choices of the
 * test (not the select's own random order); PATLAB_STRESS_SCALE multiplies the iterations.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <patlab/patlab.h>

#include "check.h"
#include "helpers.h"

#define MS	  1000000LL
#define SETTLE_NS (20 * MS) /* let started threads reach their wait */

struct variant {
	const char *kind;
	struct pl_chan_kind_info info;
	bool spin0;
	const char *label;
};

static uint64_t rng;
static int64_t last_report_ns;

static void *val(uintptr_t i)
{
	return (void *)(0x10000 + i * 8);
}

static void *const SENTINEL = (void *)0x5e5e5e50;
#define ERR_SENTINEL 12345

static void report(const struct variant *v, const char *check, const char *skip_reason)
{
	int64_t now = pl_now_ns();

	if (skip_reason)
		printf("skip  %-9s %-13s %-34s (%s)\n", v->kind, v->label, check, skip_reason);
	else
		printf("ok    %-9s %-13s %-34s %6.0f ms\n", v->kind, v->label, check,
		       (now - last_report_ns) / 1e6);
	last_report_ns = now;
	fflush(stdout);
}

static pl_chan *mk_kind(const char *kind, bool spin0, size_t cap)
{
	pl_chan_opts o = pl_chan_opts_default();
	pl_chan *ch;

	if (spin0)
		o.spin_ns = 0;
	ch = pl_chan_new_opts(kind, cap, &o);
	if (ch == NULL)
		pt_fail(__FILE__, __LINE__, "pl_chan_new_opts(%s, %zu): %s", kind, cap,
			strerror(errno));
	return ch;
}

static pl_chan *mk(const struct variant *v, size_t cap)
{
	return mk_kind(v->kind, v->spin0, cap);
}

/* The smallest capacity the kind has: 0 when it supports rendezvous, else 1. */
static size_t small_cap(const struct variant *v)
{
	return v->info.rendezvous ? 0 : 1;
}

static pl_sel_case rcase(pl_chan *ch)
{
	return (pl_sel_case){.ch = ch, .op = PL_SEL_RECV, .msg = SENTINEL, .err = ERR_SENTINEL};
}

static pl_sel_case scase(pl_chan *ch, void *m)
{
	return (pl_sel_case){.ch = ch, .op = PL_SEL_SEND, .msg = m, .err = ERR_SENTINEL};
}

/* Every case but @chosen is as it was made (rcase/scase with @sent[i] as its message). */
static void untouched_except(const pl_sel_case *c, size_t n, int chosen, void *const *sent)
{
	for (size_t i = 0; i < n; i++) {
		if ((int)i == chosen)
			continue;
		CHECK_EQ(c[i].err, ERR_SENTINEL);
		CHECK(c[i].msg == (c[i].op == PL_SEL_RECV ? SENTINEL : sent[i]));
	}
}

static pl_ctx *cancelled_ctx(void)
{
	pl_ctx *c = pl_ctx_with_cancel(NULL);

	CHECK(c != NULL);
	pl_ctx_cancel(c);
	return c;
}

/* ------------------------------------------------------------------ a thread doing one select */

struct selthr {
	pthread_t t;
	pl_sel_case c[8];
	size_t n;
	pl_ctx *cx;
	bool try_until_ready; /* pl_try_select in a loop instead of pl_select */
	int rc;
	atomic_int started, done;
};

static void *selthr_main(void *arg)
{
	struct selthr *s = arg;

	atomic_store(&s->started, 1);
	if (s->try_until_ready)
		while ((s->rc = pl_try_select(s->c, s->n)) == -EAGAIN)
			sched_yield();
	else
		s->rc = pl_select(s->c, s->n, s->cx);
	atomic_store(&s->done, 1);
	return NULL;
}

static void selthr_start(struct selthr *s, const pl_sel_case *c, size_t n, pl_ctx *cx)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->c, c, n * sizeof(*c));
	s->n = n;
	s->cx = cx;
	atomic_init(&s->started, 0);
	atomic_init(&s->done, 0);
	pt_start(&s->t, selthr_main, s);
	while (!atomic_load(&s->started))
		pt_sleep_ns(MS / 10);
}

static void selthr_join(struct selthr *s)
{
	CHECK_EQ(pthread_join(s->t, NULL), 0);
}

/* pl_chan_try_recv() until it is not -EAGAIN: the sending side is getting ready. */
static int try_recv_until_ready(pl_chan *ch, void **m)
{
	int rc;

	while ((rc = pl_chan_try_recv(ch, m)) == -EAGAIN)
		pt_sleep_ns(MS / 4);
	return rc;
}

/* ------------------------------------------------------------------ arguments (kind-free) */

static void check_args(void)
{
	pl_sel_case c[PL_SELECT_MAX + 1];
	pl_ctx *cx = cancelled_ctx();
	pl_ctx *t = pl_ctx_with_timeout(NULL, 5 * MS);

	CHECK(t != NULL);
	for (size_t i = 0; i < PL_SELECT_MAX + 1; i++)
		c[i] = rcase(NULL);
	CHECK_EQ(pl_try_select(c, PL_SELECT_MAX + 1), -EINVAL);
	CHECK_EQ(pl_select(c, PL_SELECT_MAX + 1, cx), -EINVAL);
	CHECK_EQ(pl_try_select(NULL, 1), -EINVAL);
	CHECK_EQ(pl_select(NULL, 1, cx), -EINVAL);
	c[3].op = (enum pl_sel_op)7;
	CHECK_EQ(pl_try_select(c, 4), -EINVAL);
	CHECK_EQ(pl_select(c, 4, cx), -EINVAL);
	c[3].op = PL_SEL_SEND;
	/* No case, or NULL channels only: never ready; pl_select waits for its context. */
	CHECK_EQ(pl_try_select(NULL, 0), -EAGAIN);
	CHECK_EQ(pl_try_select(c, PL_SELECT_MAX), -EAGAIN);
	CHECK_EQ(pl_select(NULL, 0, cx), -ECANCELED);
	CHECK_EQ(pl_select(c, PL_SELECT_MAX, cx), -ECANCELED);
	CHECK_EQ(pl_select(c, 5, t), -ETIMEDOUT);
	for (size_t i = 0; i < PL_SELECT_MAX; i++)
		CHECK_EQ(c[i].err, ERR_SENTINEL);

	/* NULL context, no channel: blocks for good (Go's select {}): still blocked later. The
	 * thread is left blocked, detached, until the process exits. */
	static struct selthr forever;
	selthr_start(&forever, c, 2, NULL);
	pt_sleep_ns(SETTLE_NS);
	CHECK(!atomic_load(&forever.done));
	CHECK_EQ(pthread_detach(forever.t), 0);
	pl_ctx_release(cx);
	pl_ctx_release(t);
	printf("ok    arguments: > PL_SELECT_MAX, NULL array, bad op -> EINVAL; no channel: "
	       "-EAGAIN / the context only\n");
}

/* ------------------------------------------------------------------ pl_try_select */

static void check_try(const struct variant *v)
{
	size_t cap0 = small_cap(v);
	pl_chan *a = mk(v, cap0), *b = mk(v, 1), *c = mk(v, 3);
	void *sent[4] = {NULL, val(1), val(2), NULL};
	pl_sel_case k[4];
	void *m;
	int rc;

	/* Nothing ready: a is empty (cap 0: nobody waits), b is full for the send. */
	CHECK_EQ(pl_chan_try_send(b, val(9)), 0);
	k[0] = rcase(a);
	k[1] = scase(b, sent[1]);
	k[2] = scase(v->info.rendezvous ? a : NULL, sent[2]);
	k[3] = rcase(NULL);
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(pl_try_select(k, 4), -EAGAIN);
		untouched_except(k, 4, -1, sent);
	}
	CHECK_EQ(pl_chan_len(b), 1);
	CHECK_EQ(pl_chan_len(a), 0);

	/* A send case with room proceeds and delivers; the others stay as they were. */
	k[1] = scase(c, sent[1]);
	rc = pl_try_select(k, 4);
	CHECK_EQ(rc, 1);
	CHECK_EQ(k[1].err, 0);
	CHECK(k[1].msg == val(1));
	untouched_except(k, 4, 1, sent);
	CHECK_EQ(pl_chan_len(c), 1);

	/* A receive case with a message proceeds with it. */
	k[1] = scase(b, sent[1]); /* b full again: not ready */
	k[3] = rcase(c);
	rc = pl_try_select(k, 4);
	CHECK_EQ(rc, 3);
	CHECK_EQ(k[3].err, 0);
	CHECK(k[3].msg == val(1));
	untouched_except(k, 4, 3, sent);
	CHECK_EQ(pl_try_select(k, 4), -EAGAIN);

	/* Exactly one of several ready cases proceeds, each of them sometimes. */
	pl_chan *r[4];
	int hits[4] = {0};
	for (int i = 0; i < 4; i++)
		r[i] = mk(v, 4);
	for (int round = 0; round < 200; round++) {
		void *none[4] = {NULL};

		for (int i = 0; i < 4; i++) {
			CHECK_EQ(pl_chan_try_send(r[i], val(100 + (uintptr_t)i)), 0);
			k[i] = rcase(r[i]);
		}
		rc = pl_try_select(k, 4);
		CHECK(rc >= 0 && rc < 4);
		hits[rc]++;
		CHECK_EQ(k[rc].err, 0);
		CHECK(k[rc].msg == val(100 + (uintptr_t)rc));
		untouched_except(k, 4, rc, none);
		for (int i = 0; i < 4; i++) {
			CHECK_EQ(pl_chan_len(r[i]), i == rc ? 0 : 1);
			if (i != rc)
				CHECK_EQ(pl_chan_try_recv(r[i], &m), 0);
		}
	}
	for (int i = 0; i < 4; i++)
		CHECK(hits[i] > 0); /* 200 uniform draws miss one of 4 with p = 1e-25 */
	for (int i = 0; i < 4; i++)
		pl_chan_free(r[i]);

	/* Closed: a receive is ready with -EPIPE (after the buffered message), a send too, and
	 * delivers nothing. */
	CHECK_EQ(pl_chan_try_send(c, val(7)), 0);
	CHECK_EQ(pl_chan_close(c), 0);
	k[0] = rcase(c);
	k[1] = rcase(NULL);
	CHECK_EQ(pl_try_select(k, 2), 0);
	CHECK_EQ(k[0].err, 0);
	CHECK(k[0].msg == val(7));
	k[0] = rcase(c);
	CHECK_EQ(pl_try_select(k, 2), 0);
	CHECK_EQ(k[0].err, -EPIPE);
	CHECK(k[0].msg == NULL);
	k[0] = scase(c, val(8));
	CHECK_EQ(pl_try_select(k, 2), 0);
	CHECK_EQ(k[0].err, -EPIPE);
	CHECK_EQ(pl_chan_len(c), 0);
	CHECK_EQ(pl_chan_try_recv(c, &m), -EPIPE);

	pl_chan_free(a);
	pl_chan_free(b);
	pl_chan_free(c);
	report(v, "try: none, one, exactly one, closed", NULL);
}

/*
 * A send and a receive on one channel never pair with each other: at capacity 0 neither is
 * ready (nobody else is there); buffered, only the one the buffer allows is.
 */
static void check_self(const struct variant *v)
{
	pl_chan *ch = mk(v, v->info.rendezvous ? 0 : 2);
	pl_sel_case k[2];
	int rc;

	if (v->info.rendezvous) {
		pl_ctx *t = pl_ctx_with_timeout(NULL, 30 * MS);

		k[0] = scase(ch, val(1));
		k[1] = rcase(ch);
		CHECK_EQ(pl_try_select(k, 2), -EAGAIN);
		CHECK_EQ(pl_select(k, 2, t), -ETIMEDOUT);
		untouched_except(k, 2, -1, (void *[]){val(1), NULL});
		pl_ctx_release(t);
		pl_chan_free(ch);
		ch = mk(v, 2);
	}
	/* Empty: only the send can proceed; full: only the receive (try, then blocking). */
	for (int i = 0; i < 4; i++) {
		void *m;

		k[0] = rcase(ch);
		k[1] = scase(ch, val(10 + (uintptr_t)i));
		rc = i % 2 == 0 ? pl_try_select(k, 2) : pl_select(k, 2, NULL);
		CHECK_EQ(rc, 1);
		CHECK_EQ(pl_chan_try_send(ch, val(20)), 0);
		k[0] = rcase(ch);
		k[1] = scase(ch, val(30));
		rc = i % 2 == 0 ? pl_try_select(k, 2) : pl_select(k, 2, NULL);
		CHECK_EQ(rc, 0);
		CHECK(k[0].msg == val(10 + (uintptr_t)i));
		CHECK_EQ(pl_chan_try_recv(ch, &m), 0);
		CHECK(m == val(20));
	}
	pl_chan_free(ch);
	report(v, "send+recv on one channel", NULL);
}

/* ------------------------------------------------------------------ pl_select blocking */

static void check_ready_beats_done_ctx(const struct variant *v)
{
	pl_chan *ch = mk(v, 2), *never = mk(v, small_cap(v));
	pl_ctx *cx = cancelled_ctx(), *past = pl_ctx_with_deadline(NULL, pl_now_ns() - 1);
	pl_sel_case k[3];

	for (int i = 0; i < 100; i++) {
		CHECK_EQ(pl_chan_try_send(ch, val((uintptr_t)i)), 0);
		k[0] = rcase(never);
		k[1] = rcase(ch);
		k[2] = scase(NULL, NULL);
		CHECK_EQ(pl_select(k, 3, i % 2 ? cx : past), 1);
		CHECK(k[1].msg == val((uintptr_t)i));
		k[1] = scase(ch, val(5));
		CHECK_EQ(pl_select(k, 3, i % 2 ? cx : past), 1);
		k[1] = rcase(ch);
		CHECK_EQ(pl_select(k, 3, cx), 1);
		CHECK(k[1].msg == val(5));
		/* Nothing ready: the context's error, nothing moved. */
		k[1] = rcase(ch);
		CHECK_EQ(pl_select(k, 3, i % 2 ? cx : past), i % 2 ? -ECANCELED : -ETIMEDOUT);
		CHECK_EQ(k[1].err, ERR_SENTINEL);
	}
	CHECK_EQ(pl_chan_len(ch), 0);
	pl_ctx_release(cx);
	pl_ctx_release(past);
	pl_chan_free(ch);
	pl_chan_free(never);
	report(v, "ready case beats a done context", NULL);
}

enum waker {
	BY_SEND,
	BY_RECV,
	BY_CLOSE,
	BY_CANCEL,
	BY_DEADLINE,
	NWAKERS
};
static const char *const waker_name[] = {"send", "recv", "close", "cancel", "deadline"};

/* A select blocked on a receive case and a send case (on a full channel) is woken by @how. */
static void wake_one(const struct variant *v, enum waker how)
{
	size_t cap0 = small_cap(v);
	pl_chan *in = mk(v, cap0), *out = mk(v, 1), *never = mk(v, cap0);
	pl_ctx *cx =
	    how == BY_DEADLINE ? pl_ctx_with_timeout(NULL, 30 * MS) : pl_ctx_with_cancel(NULL);
	pl_sel_case k[3];
	struct selthr s;
	void *m;

	CHECK(cx != NULL);
	pt_note("%s %s: blocked select woken by %s", v->kind, v->label, waker_name[how]);
	CHECK_EQ(pl_chan_try_send(out, val(1)), 0); /* full: the send case waits */
	k[0] = rcase(in);
	k[1] = scase(out, val(2));
	k[2] = rcase(never);
	selthr_start(&s, k, 3, cx);
	pt_sleep_ns(SETTLE_NS);
	/* Nothing can complete it yet (its deadline may have passed on a loaded machine). */
	CHECK(how == BY_DEADLINE || !atomic_load(&s.done));
	switch (how) {
	case BY_SEND:
		/* At capacity 0 the send waits for the select to be queued. */
		CHECK_EQ(pl_chan_send(in, val(3), NULL), 0);
		selthr_join(&s);
		CHECK_EQ(s.rc, 0);
		CHECK_EQ(s.c[0].err, 0);
		CHECK(s.c[0].msg == val(3));
		CHECK_EQ(pl_chan_len(out), 1);
		break;
	case BY_RECV:
		CHECK_EQ(pl_chan_recv(out, &m, NULL), 0);
		CHECK(m == val(1));
		selthr_join(&s);
		CHECK_EQ(s.rc, 1);
		CHECK_EQ(s.c[1].err, 0);
		CHECK_EQ(pl_chan_recv(out, &m, NULL), 0);
		CHECK(m == val(2));
		break;
	case BY_CLOSE:
		CHECK_EQ(pl_chan_close(in), 0);
		selthr_join(&s);
		CHECK_EQ(s.rc, 0);
		CHECK_EQ(s.c[0].err, -EPIPE);
		CHECK(s.c[0].msg == NULL);
		CHECK_EQ(pl_chan_len(out), 1);
		break;
	case BY_CANCEL:
	case BY_DEADLINE:
		if (how == BY_CANCEL)
			pl_ctx_cancel(cx);
		selthr_join(&s);
		CHECK_EQ(s.rc, how == BY_CANCEL ? -ECANCELED : -ETIMEDOUT);
		for (int i = 0; i < 3; i++)
			CHECK_EQ(s.c[i].err, ERR_SENTINEL);
		CHECK_EQ(pl_chan_len(out), 1);
		CHECK_EQ(pl_chan_try_recv(out, &m), 0);
		CHECK(m == val(1));
		CHECK_EQ(pl_chan_try_recv(out, &m), -EAGAIN);
		break;
	case NWAKERS:
		break;
	}
	pl_ctx_release(cx);
	pl_chan_free(in);
	pl_chan_free(out);
	pl_chan_free(never);
}

static void check_wakes(const struct variant *v)
{
	for (int how = 0; how < NWAKERS; how++)
		wake_one(v, (enum waker)how);
	report(v, "woken by send/recv/close/ctx", NULL);
}

/* A close wakes several selects blocked on one channel, each with -EPIPE. */
static void check_close_many(const struct variant *v)
{
	if (v->info.spsc) {
		report(v, "close wakes 3 selects", "spsc kind: one receiving thread");
		return;
	}
	pl_chan *ch = mk(v, small_cap(v)), *other = mk(v, 1);
	struct selthr s[3];
	pl_sel_case k[2] = {rcase(other), rcase(ch)};

	for (int i = 0; i < 3; i++)
		selthr_start(&s[i], k, 2, NULL);
	pt_sleep_ns(SETTLE_NS);
	CHECK_EQ(pl_chan_close(ch), 0);
	for (int i = 0; i < 3; i++) {
		selthr_join(&s[i]);
		CHECK_EQ(s[i].rc, 1);
		CHECK_EQ(s[i].c[1].err, -EPIPE);
	}
	pl_chan_free(ch);
	pl_chan_free(other);
	report(v, "close wakes 3 selects", NULL);
}

/* ------------------------------------------------------------------ capacity 0 */

/*
 * Capacity 0 both ways: a blocked select's send case meets a plain receive and a select's
 * receive case, and a blocked select's receive case a plain send and a select's send case;
 * the second side arrives while the first is parked, or they race.
 */
static void check_rendezvous(const struct variant *v)
{
	if (!v->info.rendezvous) {
		report(v, "cap 0, select on both sides", "kind does not support capacity 0");
		return;
	}
	pl_chan *ch = mk(v, 0), *other = mk(v, 0);
	struct selthr a, b;
	pl_sel_case ks[2], kr[2];
	void *m;

	for (int i = 0; i < 40; i++) {
		bool racing = i >= 8;
		void *msg = val((uintptr_t)i);

		pt_note("%s %s: cap 0 round %d", v->kind, v->label, i);
		ks[0] = rcase(other);
		ks[1] = scase(ch, msg);
		kr[0] = rcase(ch);
		kr[1] = rcase(other); /* nobody sends on other: the selects meet on ch only */
		switch (i % 4) {
		case 0: /* select sends, plain receive */
			selthr_start(&a, ks, 2, NULL);
			if (!racing)
				pt_sleep_ns(SETTLE_NS);
			CHECK_EQ(pl_chan_recv(ch, &m, NULL), 0);
			CHECK(m == msg);
			selthr_join(&a);
			CHECK_EQ(a.rc, 1);
			CHECK_EQ(a.c[1].err, 0);
			break;
		case 1: /* select receives, plain send */
			selthr_start(&a, kr, 2, NULL);
			if (!racing)
				pt_sleep_ns(SETTLE_NS);
			CHECK_EQ(pl_chan_send(ch, msg, NULL), 0);
			selthr_join(&a);
			CHECK_EQ(a.rc, 0);
			CHECK(a.c[0].msg == msg);
			break;
		case 2: /* select sends first, a select receives */
		case 3: /* select receives first, a select sends */
			selthr_start(&a, i % 4 == 2 ? ks : kr, 2, NULL);
			if (!racing)
				pt_sleep_ns(SETTLE_NS);
			selthr_start(&b, i % 4 == 2 ? kr : ks, 2, NULL);
			selthr_join(&a);
			selthr_join(&b);
			struct selthr *snd = i % 4 == 2 ? &a : &b, *rcv = i % 4 == 2 ? &b : &a;
			CHECK_EQ(snd->rc, 1);
			CHECK_EQ(snd->c[1].err, 0);
			CHECK_EQ(rcv->rc, 0);
			CHECK(rcv->c[0].msg == msg);
			break;
		}
		/* A plain try from the other side meets a parked select too. */
		if (i % 4 == 0) {
			selthr_start(&a, ks, 2, NULL);
			CHECK_EQ(try_recv_until_ready(ch, &m), 0);
			CHECK(m == msg);
			selthr_join(&a);
			CHECK_EQ(a.rc, 1);
		}
	}
	CHECK_EQ(pl_chan_try_recv(ch, &m), -EAGAIN);
	pl_chan_free(ch);
	pl_chan_free(other);
	report(v, "cap 0, select on both sides", NULL);
}

/* ------------------------------------------------------------------ Go's tests */

/*
 * Go's TestSelectFairness: a select over two channels that always hold a message (and two
 * that never do) must pick each about half of the time. With 10000 trials the share is
 * allowed to stray from 1/2 by 4.89 / (2 sqrt(10000)), six nines of a fair binomial.
 */
static void check_fairness(const struct variant *v)
{
	enum {
		TRIALS = 10000
	};
	pl_chan *c1 = mk(v, TRIALS + 1), *c2 = mk(v, TRIALS + 1);
	pl_chan *c3 = mk(v, small_cap(v)), *c4 = mk(v, small_cap(v));
	int cnt1 = 0;

	for (int i = 0; i < TRIALS + 1; i++) {
		CHECK_EQ(pl_chan_try_send(c1, val(1)), 0);
		CHECK_EQ(pl_chan_try_send(c2, val(2)), 0);
	}
	for (int i = 0; i < TRIALS; i++) {
		pl_sel_case k[4] = {rcase(c3), rcase(c4), rcase(c1), rcase(c2)};
		int rc = pl_select(k, 4, NULL);

		CHECK(rc == 2 || rc == 3);
		CHECK(k[rc].msg == val((uintptr_t)rc - 1));
		cnt1 += rc == 2;
	}
	double e = fabs((double)cnt1 / TRIALS - 0.5);
	if (e > 4.891676 / (2 * sqrt(TRIALS)))
		pt_fail(__FILE__, __LINE__, "unfair: %d of %d picks went to the first channel",
			cnt1, TRIALS);
	pl_chan_free(c1);
	pl_chan_free(c2);
	pl_chan_free(c3);
	pl_chan_free(c4);
	report(v, "Go SelectFairness", NULL);
}

/*
 * Go's TestPseudoRandomSend: a select with two send cases on one channel, values 0 and 1,
 * received by another thread: both values show up more than a tenth of the time.
 */
struct prs {
	pl_chan *ch;
	int n, ones;
};

static void *prs_recv(void *arg)
{
	struct prs *p = arg;
	void *m;

	for (int i = 0; i < p->n; i++) {
		sched_yield();
		CHECK_EQ(pl_chan_recv(p->ch, &m, NULL), 0);
		p->ones += m == val(1);
	}
	return NULL;
}

static void check_pseudo_random_send(const struct variant *v)
{
	enum {
		N = 100
	};

	for (int pass = 0; pass < 2; pass++) {
		if (pass == 0 && !v->info.rendezvous)
			continue;
		struct prs p = {.ch = mk(v, pass == 0 ? 0 : N), .n = N};
		pthread_t t;

		pt_start(&t, prs_recv, &p);
		for (int i = 0; i < N; i++) {
			pl_sel_case k[2] = {scase(p.ch, val(1)), scase(p.ch, val(0))};

			CHECK(pl_select(k, 2, NULL) >= 0);
		}
		CHECK_EQ(pthread_join(t, NULL), 0);
		if (p.ones <= N / 10 || N - p.ones <= N / 10)
			pt_fail(__FILE__, __LINE__, "not random: %d ones, %d zeros (cap %d)",
				p.ones, N - p.ones, pass == 0 ? 0 : N);
		pl_chan_free(p.ch);
	}
	report(v, "Go PseudoRandomSend", NULL);
}

/*
 * Go's TestSelfSelect: two threads each run selects with a send and a receive case on one
 * channel (both orders); at capacity 0 a thread must never receive its own value.
 */
struct self_sel {
	pl_chan *ch;
	bool rendezvous;
	int p, n;
};

static void *self_sel_main(void *arg)
{
	struct self_sel *s = arg;

	for (int i = 0; i < s->n; i++) {
		pl_sel_case k[2];
		int r;

		if (s->p == 0 || i % 2 == 0) {
			k[0] = scase(s->ch, val((uintptr_t)s->p));
			k[1] = rcase(s->ch);
			r = 1;
		} else {
			k[0] = rcase(s->ch);
			k[1] = scase(s->ch, val((uintptr_t)s->p));
			r = 0;
		}
		int rc = pl_select(k, 2, NULL);

		CHECK(rc == 0 || rc == 1);
		if (rc == r && s->rendezvous && k[r].msg == val((uintptr_t)s->p))
			pt_fail(__FILE__, __LINE__, "thread %d received its own value", s->p);
	}
	return NULL;
}

static void check_self_select(const struct variant *v)
{
	if (v->info.spsc) {
		report(v, "Go SelfSelect", "spsc kind: two threads send and receive");
		return;
	}
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 0 && !v->info.rendezvous)
			continue;
		pl_chan *ch = mk(v, pass == 0 ? 0 : 10);
		struct self_sel s[2];
		pthread_t t[2];

		pt_note("%s %s: SelfSelect cap %d", v->kind, v->label, pass == 0 ? 0 : 10);
		for (int p = 0; p < 2; p++) {
			s[p] = (struct self_sel){ch, pass == 0, p, pt_tsan() ? 300 : 1000};
			pt_start(&t[p], self_sel_main, &s[p]);
		}
		for (int p = 0; p < 2; p++)
			CHECK_EQ(pthread_join(t[p], NULL), 0);
		pl_chan_free(ch);
	}
	report(v, "Go SelfSelect", NULL);
}

/*
 * Go's TestSelectDuplicateChannel: a select with two receive cases on one channel c (and one
 * on d) is queued on c before a plain receiver; a send on d completes the select, which must
 * leave c's queue intact, so that a later send on c reaches the plain receiver.
 */
struct dup {
	pl_chan *c, *d, *e;
	void *got;
};

static void *dup_select(void *arg)
{
	struct dup *x = arg;
	pl_sel_case k[3] = {rcase(x->c), rcase(x->c), rcase(x->d)};

	CHECK_EQ(pl_select(k, 3, NULL), 2);
	CHECK(k[2].msg == val(7));
	CHECK_EQ(pl_chan_send(x->e, val(9), NULL), 0);
	return NULL;
}

static void *dup_recv(void *arg)
{
	struct dup *x = arg;

	CHECK_EQ(pl_chan_recv(x->c, &x->got, NULL), 0);
	return NULL;
}

static void check_duplicate_channel(const struct variant *v)
{
	if (v->info.spsc) {
		report(v, "Go SelectDuplicateChannel", "spsc kind: two receivers on c");
		return;
	}
	size_t cap0 = small_cap(v);
	struct dup x = {mk(v, cap0), mk(v, cap0), mk(v, cap0), NULL};
	pthread_t a, b;
	void *m;

	pt_start(&a, dup_select, &x);
	pt_sleep_ns(SETTLE_NS); /* the select queues on c first */
	pt_start(&b, dup_recv, &x);
	pt_sleep_ns(SETTLE_NS); /* then the plain receiver */
	CHECK_EQ(pl_chan_send(x.d, val(7), NULL), 0);
	CHECK_EQ(pl_chan_recv(x.e, &m, NULL), 0);
	CHECK(m == val(9));
	CHECK_EQ(pthread_join(a, NULL), 0);
	CHECK_EQ(pl_chan_send(x.c, val(8), NULL), 0);
	CHECK_EQ(pthread_join(b, NULL), 0);
	CHECK(x.got == val(8));
	pl_chan_free(x.c);
	pl_chan_free(x.d);
	pl_chan_free(x.e);
	report(v, "Go SelectDuplicateChannel", NULL);
}

/*
 * Go's TestNonblockSelectRace (@close_c2 false) and Race2 (true): c1 holds a message; a
 * thread's pl_try_select over c1 and c2 races the main thread, which makes c2 ready (a send,
 * or close) and only then takes c1's message. At every instant one of the two is ready, so
 * the try must never report -EAGAIN. Go starts a goroutine per round; a thread start is far
 * slower than the race, so here one thread runs every round, both sides released by a spin
 * handshake within a cache-line transfer of each other.
 */
struct nbr {
	pl_chan *c1, *c2;
	atomic_int round; /* main: the round to run next */
	atomic_int done;  /* the thread: rounds done */
	atomic_bool stop;
	int rc;
};

static void *nbr_select(void *arg)
{
	struct nbr *x = arg;

	for (int r = 0;; r++) {
		unsigned spins = 0;

		while (atomic_load(&x->round) < r && !atomic_load(&x->stop))
			if (++spins % 1024 == 0)
				sched_yield();
		if (atomic_load(&x->stop))
			return NULL;
		pl_sel_case k[2] = {rcase(x->c1), rcase(x->c2)};

		x->rc = pl_try_select(k, 2);
		atomic_store(&x->done, r + 1);
	}
}

static void check_nonblock_race(const struct variant *v, bool close_c2)
{
	const char *name = close_c2 ? "Go NonblockSelectRace2" : "Go NonblockSelectRace";

	if (v->info.spsc) {
		report(v, name, "spsc kind: two receivers on c1");
		return;
	}
	int n = (int)((pt_sanitized() ? 2000 : 50000) * pt_scale());
	struct nbr x;
	pthread_t t;
	void *m;

	atomic_init(&x.round, -1);
	atomic_init(&x.done, 0);
	atomic_init(&x.stop, false);
	pt_start(&t, nbr_select, &x);
	for (int i = 0; i < n; i++) {
		unsigned spins = 0;

		x.c1 = mk(v, 1);
		x.c2 = mk(v, close_c2 ? small_cap(v) : 1);
		CHECK_EQ(pl_chan_try_send(x.c1, val(1)), 0);
		atomic_store(&x.round, i); /* go */
		if (close_c2)
			CHECK_EQ(pl_chan_close(x.c2), 0);
		else
			CHECK_EQ(pl_chan_try_send(x.c2, val(2)), 0);
		pl_chan_try_recv(x.c1, &m);
		while (atomic_load(&x.done) <= i)
			if (++spins % 1024 == 0)
				sched_yield();
		if (x.rc < 0)
			pt_fail(__FILE__, __LINE__, "%s: no case ready (%d) in round %d", name,
				x.rc, i);
		pl_chan_free(x.c1);
		pl_chan_free(x.c2);
	}
	atomic_store(&x.stop, true);
	CHECK_EQ(pthread_join(t, NULL), 0);
	report(v, name, NULL);
}

/*
 * Go's TestSelectStress: four channels (two of the smallest capacity, then capacities 2 and
 * 3); one plain sender and one plain receiver per channel, one thread sending n values on
 * each through a single select (a channel's case turns NULL once its n are sent) and one
 * receiving n from each likewise. Everything interacts; nothing may deadlock, and every
 * channel carries exactly 2n values, each once.
 */
struct sst {
	pl_chan *c[4];
	int n;
	_Atomic uint64_t sum[4]; /* of the values received per channel */
};

struct sst_arg {
	struct sst *s;
	int ch; /* -1: the select thread */
	bool send;
};

static void *sst_main(void *arg)
{
	struct sst_arg *a = arg;
	struct sst *s = a->s;

	if (a->ch >= 0) {
		for (int i = 0; i < s->n; i++) {
			void *m;

			if (a->send) {
				CHECK_EQ(pl_chan_send(s->c[a->ch], val((uintptr_t)(2 * i)), NULL),
					 0);
			} else {
				CHECK_EQ(pl_chan_recv(s->c[a->ch], &m, NULL), 0);
				atomic_fetch_add(&s->sum[a->ch], (uintptr_t)m);
			}
		}
		return NULL;
	}
	int left[4] = {s->n, s->n, s->n, s->n};
	for (int done = 0; done < 4 * s->n; done++) {
		pl_sel_case k[4];

		for (int i = 0; i < 4; i++) {
			pl_chan *ch = left[i] > 0 ? s->c[i] : NULL;
			uintptr_t x = 2 * (uintptr_t)(s->n - left[i]) + 1;

			k[i] = a->send ? scase(ch, val(x)) : rcase(ch);
		}
		int rc = pl_select(k, 4, NULL);

		CHECK(rc >= 0 && rc < 4 && left[rc] > 0);
		CHECK_EQ(k[rc].err, 0);
		if (!a->send)
			atomic_fetch_add(&s->sum[rc], (uintptr_t)k[rc].msg);
		left[rc]--;
	}
	return NULL;
}

static void check_select_stress(const struct variant *v)
{
	if (v->info.spsc) {
		report(v, "Go SelectStress", "spsc kind: two senders per channel");
		return;
	}
	struct sst s = {.n = (int)((pt_sanitized() ? 2000 : 20000) * pt_scale())};
	size_t caps[4] = {small_cap(v), small_cap(v), 2, 3};
	struct sst_arg args[10];
	pthread_t t[10];

	for (int i = 0; i < 4; i++) {
		s.c[i] = mk(v, caps[i]);
		atomic_init(&s.sum[i], 0);
	}
	for (int i = 0; i < 10; i++) {
		args[i] = (struct sst_arg){&s, i < 8 ? i % 4 : -1, i < 4 || i == 8};
		pt_start(&t[i], sst_main, &args[i]);
	}
	for (int i = 0; i < 10; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < 4; i++) {
		/* Plain senders sent val(0, 2, .., 2n-2), the select val(1, 3, .., 2n-1). */
		uint64_t want = 0;

		for (uintptr_t x = 0; x < 2 * (uintptr_t)s.n; x++)
			want += (uintptr_t)val(x);
		CHECK_EQ(atomic_load(&s.sum[i]), want);
		CHECK_EQ(pl_chan_len(s.c[i]), 0);
		pl_chan_free(s.c[i]);
	}
	report(v, "Go SelectStress", NULL);
}

/* ------------------------------------------------------------------ resources */

/* The calling thread's CPU time. */
static int64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct parked {
	pl_sel_case k[3];
	int rc;
	int64_t cpu_ns, wall_ns;
};

static void *parked_main(void *arg)
{
	struct parked *p = arg;
	pl_ctx *cx = pl_ctx_with_timeout(NULL, 500 * MS);
	int64_t c0 = thread_cpu_ns(), t0 = pl_now_ns();

	CHECK(cx != NULL);
	p->rc = pl_select(p->k, 3, cx);
	p->cpu_ns = thread_cpu_ns() - c0;
	p->wall_ns = pl_now_ns() - t0;
	pl_ctx_release(cx);
	return NULL;
}

/* A select parked for ~0.5 s uses less than a tenth of its thread's time in CPU. */
static void check_parked_cpu(const struct variant *v)
{
	pl_chan *a = mk(v, small_cap(v)), *b = mk(v, 1);
	struct parked p = {.k = {rcase(a), scase(b, val(1)), rcase(NULL)}};
	pthread_t t;

	CHECK_EQ(pl_chan_try_send(b, val(0)), 0);
	pt_start(&t, parked_main, &p);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(p.rc, -ETIMEDOUT);
	if (p.cpu_ns * 10 >= p.wall_ns)
		pt_fail(__FILE__, __LINE__, "a parked select used %.1f ms of CPU in %.1f ms",
			p.cpu_ns / 1e6, p.wall_ns / 1e6);
	printf("      %s %s: parked select: %.2f ms CPU in %.0f ms\n", v->kind, v->label,
	       p.cpu_ns / 1e6, p.wall_ns / 1e6);
	pl_chan_free(a);
	pl_chan_free(b);
	report(v, "parked select CPU < 10%", NULL);
}

/* ------------------------------------------------------------------ mixed kinds */

/*
 * One select over a channel of every kind (the smallest capacity each has, so mutex's is 0):
 * blocked, it is woken by a send on each in turn; buffered, each case proceeds sometimes.
 */
static void check_mixed(void)
{
	const char *const *kinds = pl_chan_kinds();
	pl_chan *ch[8];
	pl_sel_case k[8];
	size_t n = 0;
	void *m;

	for (size_t i = 0; kinds[i] != NULL && n < 8; i++) {
		struct pl_chan_kind_info info;

		CHECK_EQ(pl_chan_kind_info(kinds[i], &info), 0);
		if (!pt_kind_ready(kinds[i]))
			continue;
		ch[n++] = mk_kind(kinds[i], i % 2 == 1, info.rendezvous ? 0 : 1);
	}
	for (int round = 0; round < 3; round++) {
		for (size_t w = 0; w < n; w++) {
			struct selthr s;

			pt_note("mixed kinds: woken by %s, round %d", pl_chan_kind(ch[w]), round);
			for (size_t i = 0; i < n; i++)
				k[i] = rcase(ch[i]);
			selthr_start(&s, k, n, NULL);
			if (round == 0)
				pt_sleep_ns(SETTLE_NS);
			CHECK_EQ(pl_chan_send(ch[w], val(w), NULL), 0);
			selthr_join(&s);
			CHECK_EQ(s.rc, (int)w);
			CHECK(s.c[w].msg == val(w));
		}
	}
	/* Send cases on every kind, the mutex one waiting for a receiver: each proceeds. */
	for (size_t w = 0; w < n; w++) {
		for (size_t i = 0; i < n; i++)
			k[i] = scase(ch[i], val(100 + i));
		int rc = pl_select(k, n, NULL);

		CHECK(rc >= 0 && pl_chan_cap(ch[rc]) > 0);
		CHECK_EQ(pl_chan_try_recv(ch[rc], &m), 0);
		CHECK(m == val(100 + (size_t)rc));
	}
	for (size_t i = 0; i < n; i++)
		pl_chan_free(ch[i]);
	printf("ok    mixed kinds: one select over %zu kinds, woken by each, sends on each\n", n);
}

/*
 * Go's select with time.After: a select over a channel nobody sends on and a timer's channel
 * returns the timer's case when it fires (the message is the fire time; never before the
 * deadline is the timer's own promise, tested with timers).
 */
static void check_timer(void)
{
	pl_chan *never = mk_kind("mutex", false, 0);

	for (int i = 0; i < 20; i++) {
		int64_t t0 = pl_now_ns();
		pl_timer *t = pl_timer_new(i % 2 ? 2 * MS : 0);
		pl_sel_case k[2] = {rcase(never), rcase(pl_timer_chan(t))};

		CHECK(t != NULL);
		CHECK_EQ(pl_select(k, 2, NULL), 1);
		CHECK_EQ(k[1].err, 0);
		CHECK((int64_t)(uintptr_t)k[1].msg >= t0);
		pl_timer_free(t);
	}
	pl_chan_free(never);
	printf("ok    timers: a select is woken by a timer's channel\n");
}

/* ------------------------------------------------------------------ main */

static void run_kind(const struct variant *v)
{
	check_try(v);
	check_self(v);
	check_ready_beats_done_ctx(v);
	check_wakes(v);
	check_close_many(v);
	check_rendezvous(v);
	check_fairness(v);
	check_pseudo_random_send(v);
	check_self_select(v);
	check_duplicate_channel(v);
	check_nonblock_race(v, false);
	check_nonblock_race(v, true);
	check_select_stress(v);
	check_parked_cpu(v);
}

int main(void)
{
	const char *const *kinds = pl_chan_kinds();

	rng = pt_seed();
	pt_watchdog_start(240);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("select conformance: %s build\n", pt_sanitized() ? "sanitized" : "regular");
	pt_note("arguments");
	check_args();
	last_report_ns = pl_now_ns();
	for (size_t i = 0; kinds[i] != NULL; i++) {
		struct variant v = {.kind = kinds[i], .label = "spin=default"};

		CHECK_EQ(pl_chan_kind_info(kinds[i], &v.info), 0);
		if (!pt_kind_ready(v.kind))
			continue;
		run_kind(&v);
		v.spin0 = true;
		v.label = "spin=0";
		run_kind(&v);
	}
	check_mixed();
	check_timer();
	printf("PASS\n");
	return 0;
}
