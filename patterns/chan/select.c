/* SPDX-License-Identifier: MIT */
/*
 * Select over channels of every kind (patlab/select.h): Go's runtime/select.go, without a lock
 * over all the channels, since most kinds have none.
 *
 * Order. Each call draws a random permutation of its non-NULL cases (Fisher-Yates over a
 * per-thread xorshift generator) and tries them in that order; the first ready one proceeds.
 * Since the order is independent of which cases are ready, each ready case is equally likely.
 *
 * Three phases, as a blocking channel operation has:
 * 1. Poll: one attempt per case (the kind's sel_try, or its try_send/try_recv).
 * 2. Spin: poll again until the largest spin budget among the channels is spent (pl__spin).
 *    Skipped when a case is on a capacity-0 channel: a rendezvous partner must find the select
 *    queued (as the mutex kind's own capacity-0 waiters enqueue at once), so the select arms
 *    at once and spends the budget on its own word instead.
 * 3. Park. The state word (struct pl__sel, chan/sel.h) starts BUSY. Each case is armed
 *    (sel_arm: registered with its channel, then attempted once): the mutex kind queues a
 *    waiter, claimed by a partner with one CAS on the state word (Go's sudog and selectDone);
 *    the eventcount kinds subscribe the select to the eventcount their waiters sleep on, whose
 *    every notify then nudges it. Then rounds: a round that finds nothing leaves BUSY (partners
 *    may now complete the select), and the owner waits on its word: spin (first wait, phase 2
 *    skipped), then futex sleep. A nudge sets NUDGED: the owner re-enters BUSY (one CAS, which
 *    fails only on FINAL) and tries every case again. A claim sets FINAL with the case index:
 *    the partner does the transfer (or close did: CLOSED), a received message stored in the
 *    case after the claim, under the channel lock. In the end every armed case is disarmed
 *    (for the mutex kind under its lock, which orders the owner after the partner's critical
 *    section, message included) before the call returns.
 *
 * Who wakes whom. A sleeping select is woken by: a partner that claims it (mutex kind: a send,
 * receive, close or another select's attempt, after dropping the channel lock); a notify of a
 * subscribed eventcount (the transfer or close of an eventcount kind: pl__evc_notify_slow()
 * calls pl__sel_nudge()); a cancelled context (its watch nudges too); the deadline, or a
 * poll interval (the futex timeout). A partner that finds the select BUSY nudges it instead
 * and skips it, so no readiness is lost while the owner looks: the owner sees NUDGED when it
 * leaves BUSY and goes round again. Two selects that keep meeting each other BUSY (both
 * blocked on one capacity-0 channel, each nudged by the other) could go round in lockstep: a
 * select whose round met a BUSY select (met_busy) waits a random, growing number of PAUSEs
 * with its state open before its next round, and the first one that finds the other open
 * claims it.
 *
 * "None ready" at one instant. pl_try_select's -EAGAIN, and a blocked select's return on a
 * done context, claim that no case was ready at some moment: a pass of attempts, one after
 * the other, does not show that (a case may turn ready after its attempt while another turns
 * unready before its own). snapshot() makes the pass atomic: channels of kinds with sel_hold
 * (locks) are held, in address order, for the whole pass; of the others, sel_version (a
 * counter of the events that can make the case ready) is read before and after the pass, and
 * the pass is repeated until no counter moved. Unchanged counters mean no case turned ready
 * between its attempt and the end of the pass, so at that instant none was.
 *
 * What a kind provides: struct pl_chan_ops (chan/kind.h) sel_try, sel_arm, sel_disarm, and
 * sel_hold or sel_version. Without sel_try the try operations are used; without sel_arm the
 * case is polled: the sleeping select wakes at intervals (POLL_MIN_NS doubling to
 * POLL_MAX_NS) and tries it again; without sel_hold and sel_version its "not ready" counts as
 * seen. A kind built on pl__evc needs only pl__sel_subscribe() in its sel_arm.
 *
 * Memory: everything lives in the selecting thread's stack (one struct selector, ~7.5 KiB at
 * PL_SELECT_MAX cases). Partners touch it only between arming and disarming: under a channel
 * lock, an eventcount's subscriber lock or a context's lock, each of which disarming takes,
 * except a futex wake on the state word after a partner dropped its lock, which is harmless
 * once the select returned (every futex wait tolerates a spurious wake).
 */
#include "chan/sel.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#include "chan/kind.h"
#include "context/ctx_watch.h"
#include "sync/clock.h"
#include "sync/park.h"

/* Polling interval of cases whose kind cannot arm: from, doubling to. */
#define POLL_MIN_NS 50000
#define POLL_MAX_NS 1000000
/* Back-off after a round that met a busy select: up to 2^BACKOFF_MAX_SHIFT PAUSEs (~25 us). */
#define BACKOFF_MAX_SHIFT 10
/* snapshot() passes whose counters moved before it yields between passes. */
#define SNAPSHOT_SPINS 16

struct selector {
	struct pl__sel sel;
	pl_sel_case *user;
	unsigned n;		       /* non-NULL cases: sc[0..n) */
	unsigned order[PL_SELECT_MAX]; /* the poll order, a permutation of 0..n */
	bool rendezvous;	       /* a case is on a capacity-0 channel */
	bool polled;		       /* a case's kind cannot arm: sleep in naps */
	int64_t spin_ns;	       /* the largest spin budget of the channels */
	struct pl__sel_case sc[PL_SELECT_MAX];
};

/* ------------------------------------------------------------------ random order */

static _Thread_local uint64_t tl_rng;

/* xorshift64*, seeded per thread from the clock and the thread's own address. */
static uint32_t rnd(void)
{
	uint64_t x = tl_rng;

	if (x == 0)
		x = ((uint64_t)pl__mono_ns() ^ (uintptr_t)&tl_rng) * 0x9e3779b97f4a7c15ull | 1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	tl_rng = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

/* A number in [0, n): the multiply-shift range reduction (its bias is below 2^-26 here). */
static unsigned rnd_below(unsigned n)
{
	return (unsigned)(((uint64_t)rnd() * n) >> 32);
}

/* ------------------------------------------------------------------ setup and results */

/* Check the arguments and fill @s: 0 or -EINVAL. */
static int setup(struct selector *s, pl_sel_case *cases, size_t n)
{
	if (n > PL_SELECT_MAX || (cases == NULL && n > 0))
		return -EINVAL;
	atomic_init(&s->sel.state, 0);
	s->sel.met_busy = false;
	s->user = cases;
	s->n = 0;
	s->rendezvous = false;
	s->polled = false;
	s->spin_ns = 0;
	for (size_t i = 0; i < n; i++) {
		struct pl__sel_case *sc;
		unsigned j;

		if (cases[i].op != PL_SEL_RECV && cases[i].op != PL_SEL_SEND)
			return -EINVAL;
		if (cases[i].ch == NULL)
			continue; /* never ready */
		sc = &s->sc[s->n];
		sc->sel = &s->sel;
		sc->ch = cases[i].ch;
		sc->idx = (unsigned)i;
		sc->op = cases[i].op;
		sc->armed = false;
		sc->held = false;
		sc->msg = cases[i].op == PL_SEL_SEND ? cases[i].msg : NULL;
		sc->wake = NULL;
		if (sc->ch->cap == 0)
			s->rendezvous = true;
		if (sc->ch->spin_ns > s->spin_ns)
			s->spin_ns = sc->ch->spin_ns;
		/* Inside-out Fisher-Yates: order stays a uniform permutation of 0..n. */
		j = rnd_below(s->n + 1);
		s->order[s->n] = s->order[j];
		s->order[j] = s->n;
		s->n++;
	}
	return 0;
}

/*
 * finish - case @k (of sc[]) proceeded with @rc: report it in the caller's array. Returns the
 * caller's index, or @rc itself when it is an error no case reports (-ENOMEM: nothing done).
 */
static int finish(struct selector *s, unsigned k, int rc)
{
	struct pl__sel_case *sc = &s->sc[k];
	pl_sel_case *uc = &s->user[sc->idx];

	if (rc != 0 && rc != -EPIPE)
		return rc;
	uc->err = rc;
	if (sc->op == PL_SEL_RECV)
		uc->msg = rc == 0 ? sc->msg : NULL;
	return (int)sc->idx;
}

/* One attempt of @sc: its kind's sel_try, or the try operations. */
static int attempt(struct pl__sel_case *sc)
{
	const struct pl_chan_ops *ops = sc->ch->ops;

	if (ops->sel_try != NULL)
		return ops->sel_try(sc->ch, sc);
	if (sc->op == PL_SEL_SEND)
		return ops->try_send(sc->ch, sc->msg);
	return ops->try_recv(sc->ch, &sc->msg);
}

/* poll - one attempt per case in the call's order. The case that proceeded, or -1. */
static int poll(struct selector *s, int *rc)
{
	for (unsigned i = 0; i < s->n; i++) {
		unsigned k = s->order[i];

		*rc = attempt(&s->sc[k]);
		if (*rc != -EAGAIN)
			return (int)k;
	}
	return -1;
}

/* ------------------------------------------------------------------ snapshot */

/* The distinct channels of @s whose kind can be held, in address order (the lock order). */
static unsigned holdable(struct selector *s, pl_chan **out)
{
	unsigned m = 0;

	for (unsigned k = 0; k < s->n; k++) {
		pl_chan *ch = s->sc[k].ch;
		unsigned i;

		if (ch->ops->sel_hold == NULL)
			continue;
		for (i = m; i > 0 && (uintptr_t)out[i - 1] >= (uintptr_t)ch; i--)
			if (out[i - 1] == ch)
				break;
		if (i > 0 && out[i - 1] == ch)
			continue;
		/* Insert at i: everything from i up moves one place. */
		for (unsigned j = m; j > i; j--)
			out[j] = out[j - 1];
		out[i] = ch;
		m++;
	}
	return m;
}

static void hold_all(struct selector *s, pl_chan **held, unsigned nheld, bool on)
{
	if (on)
		for (unsigned i = 0; i < nheld; i++)
			held[i]->ops->sel_hold(held[i], true);
	else
		for (unsigned i = nheld; i-- > 0;)
			held[i]->ops->sel_hold(held[i], false);
	for (unsigned k = 0; k < s->n; k++)
		s->sc[k].held = on && s->sc[k].ch->ops->sel_hold != NULL;
}

/*
 * snapshot - one attempt per case, with "none ready" true at one instant (see the file top).
 * Returns the case that proceeded (its result in *@rc), or -1: at some moment during the call
 * no case was ready.
 */
static int snapshot(struct selector *s, int *rc)
{
	pl_chan *held[PL_SELECT_MAX];
	uint64_t v[PL_SELECT_MAX];
	unsigned nheld = holdable(s, held);

	for (unsigned pass = 0;; pass++) {
		bool moved = false;
		int k;

		hold_all(s, held, nheld, true);
		for (unsigned j = 0; j < s->n; j++) {
			struct pl__sel_case *sc = &s->sc[j];

			sc->wake = NULL;
			if (!sc->held && sc->ch->ops->sel_version != NULL)
				v[j] = sc->ch->ops->sel_version(sc->ch, sc->op);
		}
		k = poll(s, rc);
		for (unsigned j = 0; k < 0 && j < s->n; j++) {
			struct pl__sel_case *sc = &s->sc[j];

			if (!sc->held && sc->ch->ops->sel_version != NULL &&
			    sc->ch->ops->sel_version(sc->ch, sc->op) != v[j])
				moved = true;
		}
		hold_all(s, held, nheld, false);
		/* What a held attempt completed is woken now that no lock is held. */
		for (unsigned j = 0; j < s->n; j++)
			if (s->sc[j].wake != NULL)
				pl__futex_wake(s->sc[j].wake, 1);
		if (k >= 0 || !moved)
			return k;
		/* Someone else made progress meanwhile: look again, yielding after a while (a
		 * preempted peer in the middle of its operation keeps a counter moving). */
		if (pass < SNAPSHOT_SPINS)
			pl__cpu_relax();
		else
			sched_yield();
	}
}

/* ------------------------------------------------------------------ the state word */

void pl__sel_nudge(struct pl__sel *s)
{
	uint32_t old = atomic_load_explicit(&s->state, memory_order_seq_cst);

	/* Final: nothing to re-try. Already nudged: whoever set it woke a sleeper. seq_cst
	 * (release): the change that prompted the nudge is seen by the owner's next round, which
	 * starts with an RMW reading NUDGED. */
	do {
		if (old & (PL__SEL_FINAL | PL__SEL_NUDGED))
			return;
	} while (!atomic_compare_exchange_weak_explicit(
	    &s->state, &old, old | PL__SEL_NUDGED, memory_order_seq_cst, memory_order_seq_cst));
	if (old & PL__SEL_SLEEPING)
		pl__futex_wake(&s->state, 1);
}

/* An eventcount's notify, under its subscriber lock. */
static void sub_nudge(struct pl__evc_sub *sub)
{
	struct pl__sel_case *sc =
	    (struct pl__sel_case *)(void *)((char *)sub -
					    offsetof(struct pl__sel_case, reg.evc.sub));

	pl__sel_nudge(sc->sel);
}

void pl__sel_subscribe(struct pl__sel_case *sc, struct pl__evc *evc)
{
	sc->reg.evc.evc = evc;
	sc->reg.evc.sub.fn = sub_nudge;
	pl__evc_subscribe(evc, &sc->reg.evc.sub);
}

void pl__sel_unsubscribe(pl_chan *ch, struct pl__sel_case *sc)
{
	(void)ch;
	pl__evc_unsubscribe(sc->reg.evc.evc, &sc->reg.evc.sub);
}

/* A cancelled context, under its lock. */
static void ctx_nudge(struct pl__ctx_watch *w)
{
	pl__sel_nudge(w->arg);
}

/*
 * enter_busy - from any open state to BUSY (NUDGED and SLEEPING cleared): the owner is about
 * to try its cases. false when a partner completed the select first (FINAL).
 */
static bool enter_busy(struct pl__sel *s)
{
	uint32_t old = atomic_load_explicit(&s->state, memory_order_seq_cst);

	/* seq_cst (acquire): reading NUDGED orders the changes nudges announced before our
	 * attempts; reading FINAL, the partner's transfer before our use of it. */
	do {
		if (old & PL__SEL_FINAL)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
	    &s->state, &old, PL__SEL_BUSY, memory_order_seq_cst, memory_order_seq_cst));
	return true;
}

/*
 * wait_word - the owner's state is open: wait until it is not plainly open any more (FINAL or
 * NUDGED), @spin_ns of PAUSEs and yields first, then asleep until @deadline (the context's, or
 * a poll nap's). Returns with the state open or FINAL; the caller calls enter_busy().
 */
static void wait_word(struct pl__sel *s, int64_t spin_ns, int64_t deadline)
{
	struct pl__spin spin;
	uint32_t st;

	pl__spin_init(&spin, spin_ns);
	while (spin_ns > 0 && pl__spin_once(&spin))
		if (atomic_load_explicit(&s->state, memory_order_relaxed) != 0)
			return; /* relaxed: enter_busy() re-reads it with an RMW */
	st = 0;
	/* seq_cst: a nudge or claim after this CAS sees SLEEPING and wakes us. */
	if (!atomic_compare_exchange_strong_explicit(&s->state, &st, PL__SEL_SLEEPING,
						     memory_order_seq_cst, memory_order_seq_cst))
		return;
	for (;;) {
		/* Woken by a claim (mutex partners, after their unlock), a nudge (eventcount
		 * notifies, context cancellation), the deadline, or spuriously. */
		int rc = pl__futex_wait(&s->state, PL__SEL_SLEEPING, deadline);

		/* Relaxed: only decides whether to sleep again; enter_busy() orders the rest. */
		st = atomic_load_explicit(&s->state, memory_order_relaxed);
		if (st != PL__SEL_SLEEPING || rc == -ETIMEDOUT)
			return;
	}
}

/* A random pause with the state open, so that a select we met busy can claim us. */
static void back_off(struct pl__sel *s, unsigned *shift)
{
	unsigned n = rnd_below(1u << *shift) + 1;

	if (*shift < BACKOFF_MAX_SHIFT)
		(*shift)++;
	for (unsigned i = 0; i < n; i++) {
		/* Relaxed: a hint to stop waiting; enter_busy() reads FINAL with an RMW. */
		if (atomic_load_explicit(&s->state, memory_order_relaxed) & PL__SEL_FINAL)
			return;
		pl__cpu_relax();
	}
}

/* ------------------------------------------------------------------ parking */

static void disarm_all(struct selector *s)
{
	for (unsigned k = 0; k < s->n; k++) {
		struct pl__sel_case *sc = &s->sc[k];

		if (sc->armed)
			sc->ch->ops->sel_disarm(sc->ch, sc);
		sc->armed = false;
	}
}

/*
 * park - phase 3 (see the file top). Returns the case that proceeded (its result in *@rc),
 * or -1 with *@rc the error of @cx, which became done while no case was ready.
 */
static int park(struct selector *s, pl_ctx *cx, int *rc)
{
	struct pl__sel *sel = &s->sel;
	struct pl__ctx_watch w = {.fn = ctx_nudge, .arg = sel};
	bool can_cancel = !pl__ctx_never_done(cx), watching = false;
	int64_t deadline = can_cancel ? pl_ctx_deadline(cx) : INT64_MAX;
	int64_t nap = POLL_MIN_NS, spin_ns = s->rendezvous ? s->spin_ns : 0;
	unsigned shift = 0;
	uint32_t st;
	int k = -1;

	/* Nobody knows us yet: a plain store. */
	atomic_store_explicit(&sel->state, PL__SEL_BUSY, memory_order_relaxed);
	for (unsigned i = 0; i < s->n && k < 0; i++) {
		struct pl__sel_case *sc = &s->sc[s->order[i]];

		if (sc->ch->ops->sel_arm != NULL) {
			sc->armed = true;
			*rc = sc->ch->ops->sel_arm(sc->ch, sc);
		} else {
			s->polled = true;
			*rc = attempt(sc);
		}
		if (*rc != -EAGAIN)
			k = (int)s->order[i];
	}
	for (;;) {
		/* BUSY here: no partner completes us while we decide. */
		if (k >= 0)
			break;
		if (can_cancel) {
			int err = pl_ctx_err(cx);

			if (err == 0 && !watching) {
				/* From now on, cancelling cx nudges us. */
				err = pl__ctx_watch(cx, &w);
				watching = err == 0;
			}
			if (err != 0) {
				/* A ready case wins over the context: confirm none is, at once. */
				k = snapshot(s, rc);
				if (k < 0)
					*rc = err;
				break;
			}
		}
		/* Leave BUSY. seq_cst: a partner that met us BUSY nudged first, and we see it. */
		st = atomic_fetch_and_explicit(
		    &sel->state, ~(uint32_t)(PL__SEL_BUSY | PL__SEL_NUDGED), memory_order_seq_cst);
		if (st & PL__SEL_NUDGED) {
			/* Something changed while we looked: another round, after a pause if we met
			 * a select busy (so that it can find us open). */
			if (sel->met_busy)
				back_off(sel, &shift);
		} else {
			int64_t until = deadline;

			if (s->polled) {
				until = pl__mono_ns() + nap;
				if (until > deadline)
					until = deadline;
				nap = nap * 2 > POLL_MAX_NS ? POLL_MAX_NS : nap * 2;
			}
			wait_word(sel, spin_ns, until);
			spin_ns = 0;
		}
		if (!enter_busy(sel)) {
			/* A partner completed case index st for us, with the transfer done. */
			st = atomic_load_explicit(&sel->state, memory_order_seq_cst);
			for (k = 0; s->sc[k].idx != (st & PL__SEL_INDEX); k++)
				;
			*rc = (st & PL__SEL_CLOSED) ? -EPIPE : 0;
			break;
		}
		if (!sel->met_busy)
			shift = 0;
		sel->met_busy = false;
		k = poll(s, rc);
	}
	if (watching)
		pl__ctx_unwatch(cx, &w);
	disarm_all(s);
	return k;
}

/* No non-NULL channel: the context is all there is to wait for. */
static int wait_ctx_only(pl_ctx *cx)
{
	_Atomic uint32_t never = 0;

	if (!pl__ctx_never_done(cx))
		return pl_ctx_wait(cx, -1);
	for (;;)
		pl__futex_wait(&never, 0, INT64_MAX); /* nobody wakes it: Go's select {} */
}

/* ------------------------------------------------------------------ the API */

int pl_select(pl_sel_case *cases, size_t n, pl_ctx *cx)
{
	struct selector s;
	struct pl__spin spin;
	int k, rc = setup(&s, cases, n);

	if (rc != 0)
		return rc;
	if (s.n == 0)
		return wait_ctx_only(cx);
	k = poll(&s, &rc);
	if (k < 0 && !s.rendezvous && s.spin_ns > 0) {
		pl__spin_init(&spin, s.spin_ns);
		while (k < 0 && pl__spin_once(&spin))
			k = poll(&s, &rc);
	}
	if (k < 0)
		k = park(&s, cx, &rc);
	return k < 0 ? rc : finish(&s, (unsigned)k, rc);
}

int pl_try_select(pl_sel_case *cases, size_t n)
{
	struct selector s;
	int k, rc = setup(&s, cases, n);

	if (rc != 0)
		return rc;
	k = poll(&s, &rc);
	if (k < 0 && s.n > 0)
		k = snapshot(&s, &rc);
	return k < 0 ? -EAGAIN : finish(&s, (unsigned)k, rc);
}
