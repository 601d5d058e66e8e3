/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_CHAN_SEL_H
#define PATLAB_CHAN_SEL_H

/*
 * Internal: what a select shares with the channel kinds (select.c has the design).
 *
 * A blocked select is one struct pl__sel (its state word, on the selecting thread's stack) and
 * one struct pl__sel_case per case. A kind that supports select registers a case with the
 * select (sel_arm in struct pl_chan_ops) in one of two ways:
 * - as a waiter in its own wait queues (the mutex kind, Go's sudog): a partner that finds it
 *   there completes the select with pl__sel_claim(), one CAS on the select's state word, and
 *   must skip the waiter when the claim fails;
 * - as a subscriber of the eventcount its waiters sleep on (pl__sel_subscribe(), the kinds
 *   built on pl__evc): every notify then nudges the select, which re-tries its cases.
 *
 * The state word (the select's futex word):
 *   FINAL | CLOSED? | index  a partner completed case index (CLOSED: by close, err -EPIPE);
 *                            final, written once, by pl__sel_claim() only
 *   otherwise, open, with three flags:
 *   BUSY      the owner is re-trying its cases: partners may not claim it (they nudge it and
 *             skip its waiters, which stay queued), so the owner's own attempts never race a
 *             completion by someone else
 *   NUDGED    something may have become ready since the owner last looked: it re-tries
 *   SLEEPING  the owner is in (or entering) futex wait: whoever changes the word wakes it
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <patlab/select.h>

#include "sync/park.h"

enum {
	PL__SEL_SLEEPING = 1u << 0,
	PL__SEL_NUDGED = 1u << 1,
	PL__SEL_BUSY = 1u << 2,
	PL__SEL_CLOSED = 1u << 30, /* with FINAL: completed by close */
	PL__SEL_FINAL = 1u << 31,  /* the case index in the low bits */
	PL__SEL_INDEX = 0xffffu,
};

_Static_assert(PL_SELECT_MAX <= PL__SEL_INDEX, "a case index fits the state word");

struct pl__sel {
	/* The futex word, see above. Owner and partners use RMWs only (seq_cst). */
	_Atomic uint32_t state;
	/* Owner-only: one of its own attempts met another select BUSY (select.c backs off). */
	bool met_busy;
};

/* Bytes a kind may use in a case for its registration (the mutex kind: its waiter). */
#define PL__SEL_PRIV_WORDS 8

struct pl__sel_case {
	/* Set by select.c before the case is used; read-only for the kinds. */
	struct pl__sel *sel;
	pl_chan *ch;
	unsigned idx; /* index in the caller's array: what pl__sel_claim() records */
	enum pl_sel_op op;
	bool armed; /* sel_arm() was called (attempts of an armed case may announce) */
	bool held;  /* the channel is held by this thread through sel_hold() */
	/* SEND: the message, read-only. RECV: where the message received goes, written by the
	 * owner's own successful attempt or, after its claim and under its kind's lock, by the
	 * partner that completed the case; the owner reads it once every case is disarmed. */
	void *msg;
	/* A futex word a held attempt (sel_try with @held) asks to be woken once every hold is
	 * released (the kind could not wake it under its lock), or NULL. */
	_Atomic uint32_t *wake;
	/* The kind's registration, from sel_arm() to sel_disarm(). */
	union {
		struct {
			struct pl__evc_sub sub;
			struct pl__evc *evc;
		} evc; /* pl__sel_subscribe() */
		void *priv[PL__SEL_PRIV_WORDS];
	} reg;
};

enum pl__sel_claim_result {
	PL__SEL_CLAIMED, /* the select is completed with this case: act on it */
	PL__SEL_SKIP,	 /* the select is busy (nudged now) or is the caller itself: leave it */
	PL__SEL_GONE,	 /* the select finished otherwise: unlink its waiter, skip it */
};

/*
 * pl__sel_claim - a partner completes the select of @sc with this case (Go's selectDone CAS).
 * @sc:     a case registered as a waiter with the caller's kind, found in its queue under its
 *          lock. For a RECV case, once CLAIMED, the caller stores the message in @sc->msg,
 *          still under that lock (never before: a busy select's own attempt may have just
 *          written it); the owner reads it only after its sel_disarm took the lock.
 * @self:   the select the caller's own operation belongs to, or NULL: a select never
 *          completes itself (its cases on one channel never pair with each other).
 * @closed: the case completes because the channel was closed (the owner reports -EPIPE).
 * @wk:     set to the word to futex-wake after the caller dropped its lock, when the owner
 *          sleeps; untouched otherwise.
 * A BUSY select is nudged (it will re-try), and met_busy of @self is set.
 */
static inline enum pl__sel_claim_result pl__sel_claim(struct pl__sel_case *sc, struct pl__sel *self,
						      bool closed, _Atomic uint32_t **wk)
{
	struct pl__sel *s = sc->sel;
	uint32_t old = atomic_load_explicit(&s->state, memory_order_seq_cst);
	uint32_t fin = PL__SEL_FINAL | (closed ? PL__SEL_CLOSED : 0) | sc->idx;

	if (s == self)
		return PL__SEL_SKIP;
	for (;;) {
		if (old & PL__SEL_FINAL)
			return PL__SEL_GONE;
		if (old & PL__SEL_BUSY) {
			/* seq_cst: the owner's end-of-round exchange reads it and re-tries. */
			if (!atomic_compare_exchange_weak_explicit(
				&s->state, &old, old | PL__SEL_NUDGED, memory_order_seq_cst,
				memory_order_seq_cst))
				continue;
			if (self != NULL)
				self->met_busy = true;
			return PL__SEL_SKIP;
		}
		/* seq_cst: the owner's enter_busy() reads it; what the caller writes into @sc
		 * after it is ordered by the caller's lock, which the owner's sel_disarm takes. */
		if (atomic_compare_exchange_weak_explicit(
			&s->state, &old, fin, memory_order_seq_cst, memory_order_seq_cst)) {
			if (old & PL__SEL_SLEEPING)
				*wk = &s->state;
			return PL__SEL_CLAIMED;
		}
	}
}

/* pl__sel_nudge - tell the select of @s that something may have become ready (any thread). */
void pl__sel_nudge(struct pl__sel *s);

/*
 * pl__sel_subscribe - register @sc as a subscriber of @evc (the eventcount the kind's waiters
 * for this case sleep on: every change that could make the case ready notifies it). The
 * kind's sel_arm() calls it, then makes its attempt. pl__sel_unsubscribe() is a sel_disarm().
 */
void pl__sel_subscribe(struct pl__sel_case *sc, struct pl__evc *evc);
void pl__sel_unsubscribe(pl_chan *ch, struct pl__sel_case *sc);

#endif /* PATLAB_CHAN_SEL_H */
