/* SPDX-License-Identifier: MIT */
/*
 * stress_close_cancel - close and cancel at random moments while threads are blocked.
 *
 * Three phases for every available kind and every capacity in {1, 2, 64} (plus 0 for
 * rendezvous kinds, plus PL_CHAN_UNBOUNDED where supported); a single-producer/single-consumer
 * kind runs with exactly one sending and one receiving thread throughout.
 *
 * 1. blocked: the deterministic core of the close bug classes. Fill the channel,
 *    park K senders on it (capacity 0: with no receiver, so every one is blocked in an
 *    unbuffered send), close: every sender must return -EPIPE (a blocked send woken by close
 *    that reports success is crystal #6948), the buffered messages drain in order, then -EPIPE
 *    forever. Then K receivers parked on an empty channel, close: every one returns -EPIPE with
 *    *msg untouched.
 * 2. close: S senders and R receivers run a random mix of blocking, try_* and timed
 *    operations in one of three shapes (receivers slow: senders block on a full channel;
 *    senders slow: receivers block on an empty one; both fast), and the main thread closes at
 *    a random moment. Every thread must return. The ledger (one entry per message, atomic
 *    counters) then says: a send that returned 0 was received exactly once; a send that
 *    returned -EPIPE or -ETIMEDOUT was never received; no message was received twice
 *    (tylertreat/chan #23). Linearizability with close: a send that began after close()
 *    returned must fail; a receive that began after some receiver got -EPIPE must not return a
 *    message; once a thread has seen -EPIPE it sees it forever (try, blocking and timed
 *    probes). Receivers also check per-sender FIFO order.
 * 3. cancel: every operation runs under a context of its own: cancellable (cancelled
 *    individually by the main thread), a child of a shared group parent (the group is
 *    cancelled as a whole and replaced), a short timeout, a child of the group with a
 *    timeout, or none. The main thread alternately pauses the receivers (senders pile up on a
 *    full channel) and the senders (receivers wait on an empty one) and cancels contexts at
 *    random moments. A failed operation must return its context's error (pl_ctx_err() agrees)
 *    and have delivered / consumed nothing (the ledger again: a cancelled send never
 *    received, a cancelled receive leaves *msg untouched and takes no message, so none is
 *    lost); every successful send is received exactly once. At the end the channel is closed
 *    and drained.
 *
 * A monitor thread fails the test when no thread completes an operation for STALL_S seconds
 * and prints every thread's counter and the operation it is in. pt_watchdog_start() is the
 * last resort.
 *
 * Length: PATLAB_STRESS_SCALE multiplies the rounds; PATLAB_SEED replays a seed's choices
 * (not its interleavings); PATLAB_STRESS_KIND=<name> runs one kind. Fewer threads under
 * ThreadSanitizer. Exit 0 pass, 1 fail, 77 when no kind is available yet.
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

#define MAX_SIDE  8
#define SEQ_LIMIT (1u << 16) /* messages per sender per round; the id space of the ledger */
#define STALL_S	  30	     /* no operation completed anywhere for this long: a hang (x2 TSan) */
#define SENTINEL  ((void *)UINTPTR_MAX)

enum {
	ST_PENDING,
	ST_SENT,
	ST_FAILED
};

enum where {
	W_START,
	W_SEND,
	W_TRY_SEND,
	W_TIMED_SEND,
	W_CTX_SEND,
	W_RECV,
	W_TRY_RECV,
	W_TIMED_RECV,
	W_CTX_RECV,
	W_PAUSED,
	W_PROBE,
	W_DONE,
};

static const char *const where_name[] = {
    [W_START] = "starting",
    [W_SEND] = "send",
    [W_TRY_SEND] = "try_send loop",
    [W_TIMED_SEND] = "timed send",
    [W_CTX_SEND] = "send with a context",
    [W_RECV] = "recv",
    [W_TRY_RECV] = "try_recv loop",
    [W_TIMED_RECV] = "timed recv",
    [W_CTX_RECV] = "recv with a context",
    [W_PAUSED] = "paused by main",
    [W_PROBE] = "post-close probes",
    [W_DONE] = "done",
};

/* Round shapes of phase 2. */
enum shape {
	SH_FULL,
	SH_EMPTY,
	SH_FLOW
};
static const char *const shape_name[] = {"senders block (full)", "receivers block (empty)",
					 "both flow"};

/* Phase 3: who the main thread holds back. */
enum pause {
	PAUSE_NONE,
	PAUSE_RECEIVERS,
	PAUSE_SENDERS
};

struct round;

struct worker {
	struct round *r;
	int id;
	bool sender;
	pthread_t tid;
	uint64_t rng;
	/* Relaxed: diagnostics only, read by the monitor's stall report. */
	_Atomic uint64_t ops;
	_Atomic int where;
	/* Phase 3: the context of the operation in progress, for the main thread to cancel. */
	pthread_mutex_t slot_lk;
	pl_ctx *slot; /* protected by slot_lk */
	/* Results, read by main after pthread_join(). */
	uint32_t used; /* sender: ledger entries used */
	uint64_t ok, failed, epipe, cancelled, timedout;
	int64_t last_seq[MAX_SIDE]; /* receiver: per-sender FIFO check */
};

struct round {
	const char *kind;
	size_t cap;
	const char *phase;
	int ns, nr;
	enum shape shape;
	pl_chan *ch;
	/* The ledger: entry id * SEQ_LIMIT + seq. Relaxed: mid-run reads only flag impossible
	 * states; the final check runs after pthread_join(). */
	_Atomic uint8_t *state;
	_Atomic uint8_t *recvd;
	/* Linearizability witnesses, seq_cst (the ordering is the point). */
	_Atomic bool closing;	   /* set just before pl_chan_close() */
	_Atomic bool closed_done;  /* set just after pl_chan_close() returned */
	_Atomic bool drained_seen; /* some receiver got -EPIPE */
	/* Phase 3. */
	_Atomic bool stop;
	_Atomic int pause;
	pthread_mutex_t group_lk;
	pl_ctx *group; /* protected by group_lk; the shared parent, replaced once cancelled */
	_Atomic uint64_t main_ops; /* relaxed: the main thread's progress, for the monitor */
	_Atomic bool monitor_stop;
	struct worker w[2 * MAX_SIDE]; /* senders first */
};

struct tally {
	unsigned rounds;
	uint64_t ok, failed, epipe, cancelled, timedout;
};

static uint64_t g_seed;
static bool g_tsan;

static void set_where(struct worker *w, enum where x)
{
	atomic_store_explicit(&w->where, x, memory_order_relaxed);
}

static void progress(struct worker *w)
{
	atomic_fetch_add_explicit(&w->ops, 1, memory_order_relaxed);
}

static void *msg_of(int id, uint32_t seq)
{
	return (void *)(uintptr_t)((uint64_t)id * SEQ_LIMIT + seq);
}

/* ------------------------------------------------------------------ the monitor */

static uint64_t total_ops(struct round *r)
{
	uint64_t t = atomic_load_explicit(&r->main_ops, memory_order_relaxed);

	for (int i = 0; i < r->ns + r->nr; i++)
		t += atomic_load_explicit(&r->w[i].ops, memory_order_relaxed);
	return t;
}

static void *monitor(void *arg)
{
	struct round *r = arg;
	int64_t stall_ns = (int64_t)STALL_S * 1000000000 * (g_tsan ? 2 : 1);
	int64_t last_change = pl_now_ns();
	uint64_t last_total = 0;

	while (!atomic_load(&r->monitor_stop)) {
		uint64_t t = total_ops(r);
		int64_t now = pl_now_ns();

		if (t != last_total) {
			last_total = t;
			last_change = now;
		} else if (now - last_change > stall_ns) {
			fprintf(
			    stderr,
			    "STALL: no operation completed for %.0f s: kind %s cap %zu, phase %s, "
			    "%d senders, %d receivers, len %zu, closing %d\n",
			    (double)(now - last_change) / 1e9, r->kind, r->cap, r->phase, r->ns,
			    r->nr, pl_chan_len(r->ch), (int)atomic_load(&r->closing));
			for (int i = 0; i < r->ns + r->nr; i++)
				fprintf(stderr, "  %s %d: %8" PRIu64 " ops, in %s\n",
					r->w[i].sender ? "sender  " : "receiver", r->w[i].id,
					atomic_load_explicit(&r->w[i].ops, memory_order_relaxed),
					where_name[atomic_load_explicit(&r->w[i].where,
									memory_order_relaxed)]);
			pt_fail(__FILE__, __LINE__, "no progress (a thread never returned)");
		}
		pt_sleep_ns(2000000);
	}
	return NULL;
}

/* ------------------------------------------------------------------ the ledger */

static struct round *round_new(const char *kind, size_t cap, const char *phase, int ns, int nr)
{
	struct round *r = calloc(1, sizeof(*r));

	CHECK(r != NULL);
	r->kind = kind;
	r->cap = cap;
	r->phase = phase;
	r->ns = ns;
	r->nr = nr;
	r->state = calloc((size_t)ns * SEQ_LIMIT, sizeof(*r->state));
	r->recvd = calloc((size_t)ns * SEQ_LIMIT, sizeof(*r->recvd));
	CHECK(r->state != NULL && r->recvd != NULL);
	CHECK_EQ(pthread_mutex_init(&r->group_lk, NULL), 0);
	for (int i = 0; i < ns + nr; i++) {
		struct worker *w = &r->w[i];

		w->r = r;
		w->sender = i < ns;
		w->id = w->sender ? i : i - ns;
		CHECK_EQ(pthread_mutex_init(&w->slot_lk, NULL), 0);
		for (int j = 0; j < MAX_SIDE; j++)
			w->last_seq[j] = -1;
	}
	r->ch = pt_chan_new(kind, cap);
	return r;
}

static void round_free(struct round *r)
{
	for (int i = 0; i < r->ns + r->nr; i++)
		pthread_mutex_destroy(&r->w[i].slot_lk);
	pthread_mutex_destroy(&r->group_lk);
	pl_chan_free(r->ch);
	free(r->state);
	free(r->recvd);
	free(r);
}

static void sent_result(struct worker *w, uint32_t seq, int rc)
{
	struct round *r = w->r;
	size_t idx = (size_t)w->id * SEQ_LIMIT + seq;

	atomic_store_explicit(&r->state[idx], rc == 0 ? ST_SENT : ST_FAILED, memory_order_relaxed);
	if (rc == 0)
		w->ok++;
	else
		w->failed++;
}

/* record - a receiver got @m: exactly once, never a failed send, FIFO per sender. */
static void record(struct worker *w, void *m, bool drained_before)
{
	struct round *r = w->r;
	uint64_t v = (uint64_t)(uintptr_t)m, sid = v / SEQ_LIMIT, seq = v % SEQ_LIMIT;

	if (m == SENTINEL || sid >= (uint64_t)r->ns)
		pt_fail(__FILE__, __LINE__, "receiver %d got %p, which no sender sent", w->id, m);
	if (atomic_fetch_add_explicit(&r->recvd[v], 1, memory_order_relaxed) != 0)
		pt_fail(__FILE__, __LINE__,
			"receiver %d: sender %" PRIu64 " seq %" PRIu64 " received twice", w->id,
			sid, seq);
	if (atomic_load_explicit(&r->state[v], memory_order_relaxed) == ST_FAILED)
		pt_fail(__FILE__, __LINE__,
			"receiver %d: sender %" PRIu64 " seq %" PRIu64
			" received although its send returned an error",
			w->id, sid, seq);
	if (drained_before)
		pt_fail(__FILE__, __LINE__,
			"receiver %d: sender %" PRIu64 " seq %" PRIu64
			" received by a recv that began after another receiver got -EPIPE",
			w->id, sid, seq);
	if ((int64_t)seq <= w->last_seq[sid])
		pt_fail(__FILE__, __LINE__,
			"receiver %d: sender %" PRIu64 " seq %" PRIu64 " after seq %" PRId64
			" (FIFO per sender broken)",
			w->id, sid, seq, w->last_seq[sid]);
	w->last_seq[sid] = (int64_t)seq;
	w->ok++;
}

/* round_check - after every thread is joined: the whole ledger, and closed-and-drained. */
static void round_check(struct round *r, struct tally *tl)
{
	uint64_t sent = 0, received = 0;
	void *m = SENTINEL;

	for (int i = 0; i < r->ns; i++) {
		struct worker *w = &r->w[i];

		for (uint32_t seq = 0; seq < w->used; seq++) {
			size_t v = (size_t)i * SEQ_LIMIT + seq;
			uint8_t st = atomic_load_explicit(&r->state[v], memory_order_relaxed);
			uint8_t n = atomic_load_explicit(&r->recvd[v], memory_order_relaxed);

			if (st == ST_PENDING || (st == ST_SENT) != (n == 1) || n > 1)
				pt_fail(
				    __FILE__, __LINE__,
				    "kind %s cap %zu phase %s: sender %d seq %u %s, received %u "
				    "times",
				    r->kind, r->cap, r->phase, i, seq,
				    st == ST_SENT     ? "sent"
				    : st == ST_FAILED ? "failed"
						      : "never finished",
				    n);
		}
		sent += w->ok;
		tl->ok += w->ok;
		tl->failed += w->failed;
		tl->epipe += w->epipe;
		tl->cancelled += w->cancelled;
		tl->timedout += w->timedout;
	}
	for (int i = r->ns; i < r->ns + r->nr; i++) {
		received += r->w[i].ok;
		tl->cancelled += r->w[i].cancelled;
		tl->timedout += r->w[i].timedout;
	}
	CHECK_EQ(received, sent);
	CHECK_EQ(pl_chan_len(r->ch), 0);
	CHECK_EQ(pl_chan_try_recv(r->ch, &m), -EPIPE);
	CHECK_EQ(pl_chan_try_send(r->ch, SENTINEL), -EPIPE);
	CHECK(m == SENTINEL);
	tl->rounds++;
}

/* probe_closed - once -EPIPE was seen, every method keeps returning it and moves nothing. */
static void probe_closed(struct worker *w)
{
	struct round *r = w->r;
	pl_ctx *cx = pl_ctx_with_timeout(NULL, 1000000);
	void *m = SENTINEL;

	CHECK(cx != NULL);
	set_where(w, W_PROBE);
	if (w->sender) {
		/* Each probe's message is a fresh ledger entry, so a delivery would be caught. */
		for (int k = 0; k < 3 && w->used < SEQ_LIMIT; k++) {
			uint32_t seq = w->used++;
			void *msg = msg_of(w->id, seq);
			int rc = k == 0	  ? pl_chan_try_send(r->ch, msg)
				 : k == 1 ? pl_chan_send(r->ch, msg, NULL)
					  : pl_chan_send(r->ch, msg, cx);

			sent_result(w, seq, rc);
			CHECK_EQ(rc, -EPIPE);
		}
	} else {
		CHECK_EQ(pl_chan_try_recv(r->ch, &m), -EPIPE);
		CHECK_EQ(pl_chan_recv(r->ch, &m, NULL), -EPIPE);
		CHECK_EQ(pl_chan_recv(r->ch, &m, cx), -EPIPE);
		CHECK(m == SENTINEL);
	}
	pl_ctx_release(cx);
}

/*
 * epipe_seen - @w's operation returned -EPIPE: the channel must be closing (-EPIPE before close
 * is a bug), and every later probe must say -EPIPE too. A receiver also records that some
 * receiver got -EPIPE (phase 2's linearizability check; phase 3 does not read it).
 */
static void epipe_seen(struct worker *w)
{
	struct round *r = w->r;

	if (!atomic_load(&r->closing))
		pt_fail(__FILE__, __LINE__, "%s %d got -EPIPE before the channel was closed",
			w->sender ? "sender" : "receiver", w->id);
	if (!w->sender)
		atomic_store(&r->drained_seen, true);
	w->epipe++;
	probe_closed(w);
}

/* A failed operation under @cx: its error must be the context's. */
static void ctx_failure(struct worker *w, pl_ctx *cx, int rc)
{
	if (cx == NULL || pl_ctx_err(cx) != rc)
		pt_fail(__FILE__, __LINE__,
			"%s %d: operation returned %d but its context's error is %d",
			w->sender ? "sender" : "receiver", w->id, rc, cx ? pl_ctx_err(cx) : 0);
	if (rc == -ECANCELED)
		w->cancelled++;
	else
		w->timedout++;
}

/* ------------------------------------------------------------------ phase 1: blocked */

struct blocked {
	pl_chan *ch;
	bool sender;
	int mode; /* 0: NULL context, 1: a long timeout, 2: a cancellable context nobody cancels */
	void *msg;
	_Atomic int *arrived;
	int rc;
};

static void *blocked_op(void *arg)
{
	struct blocked *b = arg;
	pl_ctx *cx = b->mode == 1   ? pl_ctx_with_timeout(NULL, (int64_t)3600 * 1000000000)
		     : b->mode == 2 ? pl_ctx_with_cancel(NULL)
				    : NULL;

	CHECK(b->mode == 0 || cx != NULL);
	atomic_fetch_add(b->arrived, 1);
	if (b->sender)
		b->rc = pl_chan_send(b->ch, b->msg, cx);
	else
		b->rc = pl_chan_recv(b->ch, &b->msg, cx);
	if (cx != NULL)
		pl_ctx_release(cx);
	return NULL;
}

/* park_then_close - start @k blocked ops, let them park, close, and join them. */
static void park_then_close(pl_chan *ch, bool sender, int k, uint64_t *rng, struct blocked *b)
{
	pthread_t t[MAX_SIDE];
	_Atomic int arrived = 0;

	for (int i = 0; i < k; i++) {
		b[i] = (struct blocked){.ch = ch,
					.sender = sender,
					.mode = (int)(pt_rand(rng) % 3),
					.msg = sender ? (void *)(uintptr_t)(1000000 + i) : SENTINEL,
					.arrived = &arrived};
		pt_start(&t[i], blocked_op, &b[i]);
	}
	while (atomic_load(&arrived) < k)
		pt_sleep_ns(100000);
	/* Not a correctness condition: a thread that has not parked yet meets the close instead
	 * and must return -EPIPE all the same. The sleep only makes "parked" the common case. */
	pt_sleep_ns(1000000 + (int64_t)(pt_rand(rng) % 2000000));
	CHECK_EQ(pl_chan_close(ch), 0);
	for (int i = 0; i < k; i++) {
		pt_note("stress_close_cancel: kind %s cap %zu phase blocked: closed; waiting for "
			"parked %s %d of %d to return",
			pl_chan_kind(ch), pl_chan_cap(ch), sender ? "sender" : "receiver", i, k);
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	}
}

static void phase_blocked(const char *kind, size_t cap, bool spsc, uint64_t *rng)
{
	struct blocked b[MAX_SIDE];
	int k = spsc ? 1 : 2 + (int)(pt_rand(rng) % (g_tsan ? 3 : 6));
	pl_chan *ch;
	void *m;

	/* Senders parked on a full channel (capacity 0: on an unbuffered send, no receiver). */
	if (cap != PL_CHAN_UNBOUNDED) {
		pt_note("stress_close_cancel: kind %s cap %zu phase blocked: %d senders parked",
			kind, cap, k);
		ch = pt_chan_new(kind, cap);
		for (size_t i = 0; i < cap; i++)
			CHECK_EQ(pl_chan_try_send(ch, (void *)(uintptr_t)i), 0);
		CHECK_EQ(pl_chan_try_send(ch, SENTINEL), -EAGAIN);
		park_then_close(ch, true, k, rng, b);
		for (int i = 0; i < k; i++)
			if (b[i].rc != -EPIPE)
				pt_fail(
				    __FILE__, __LINE__,
				    "kind %s cap %zu: a send blocked on a full channel returned "
				    "%d after close, not -EPIPE",
				    kind, cap, b[i].rc);
		for (size_t i = 0; i < cap; i++) {
			m = SENTINEL;
			CHECK_EQ(pl_chan_try_recv(ch, &m), 0);
			if (m != (void *)(uintptr_t)i)
				pt_fail(
				    __FILE__, __LINE__,
				    "kind %s cap %zu: drained %p at position %zu (a woken sender's "
				    "message, or FIFO broken)",
				    kind, cap, m, i);
		}
		m = SENTINEL;
		CHECK_EQ(pl_chan_try_recv(ch, &m), -EPIPE);
		CHECK_EQ(pl_chan_recv(ch, &m, NULL), -EPIPE);
		CHECK(m == SENTINEL);
		CHECK_EQ(pl_chan_len(ch), 0);
		pl_chan_free(ch);
	}

	/* Receivers parked on an empty channel. */
	pt_note("stress_close_cancel: kind %s cap %zu phase blocked: %d receivers parked", kind,
		cap, k);
	ch = pt_chan_new(kind, cap);
	park_then_close(ch, false, k, rng, b);
	for (int i = 0; i < k; i++) {
		if (b[i].rc != -EPIPE)
			pt_fail(__FILE__, __LINE__,
				"kind %s cap %zu: a recv blocked on an empty channel returned %d "
				"after close, not -EPIPE",
				kind, cap, b[i].rc);
		CHECK(b[i].msg == SENTINEL);
	}
	CHECK_EQ(pl_chan_close(ch), -EPIPE);
	pl_chan_free(ch);
}

/* ------------------------------------------------------------------ phase 2: close */

static void slow(struct worker *w)
{
	pt_sleep_ns(10000 + (int64_t)(pt_rand(&w->rng) % 150000));
}

static pl_ctx *short_ctx(uint64_t *rng)
{
	pl_ctx *cx = pl_ctx_with_timeout(NULL, (int64_t)(pt_rand(rng) % 200001));

	CHECK(cx != NULL);
	return cx;
}

static void *close_sender(void *arg)
{
	struct worker *w = arg;
	struct round *r = w->r;

	while (w->used < SEQ_LIMIT - 3) {
		uint32_t seq = w->used++;
		void *msg = msg_of(w->id, seq);
		bool after_close = atomic_load(&r->closed_done);
		uint64_t x = pt_rand(&w->rng) % 8;
		pl_ctx *cx = NULL;
		int rc;

		if (x < 5) {
			set_where(w, W_SEND);
			rc = pl_chan_send(r->ch, msg, NULL);
		} else if (x < 6) {
			set_where(w, W_TRY_SEND);
			while ((rc = pl_chan_try_send(r->ch, msg)) == -EAGAIN)
				pt_jitter(&w->rng);
		} else {
			cx = short_ctx(&w->rng);
			set_where(w, W_TIMED_SEND);
			rc = pl_chan_send(r->ch, msg, cx);
		}
		sent_result(w, seq, rc);
		progress(w);
		if (rc == -ETIMEDOUT)
			ctx_failure(w, cx, rc);
		if (cx != NULL)
			pl_ctx_release(cx);
		if (rc == 0 && after_close)
			pt_fail(__FILE__, __LINE__,
				"sender %d: a send that began after close() returned succeeded",
				w->id);
		if (rc == -EPIPE) {
			epipe_seen(w);
			break;
		}
		CHECK(rc == 0 || rc == -ETIMEDOUT);
		if (r->shape == SH_EMPTY)
			slow(w);
		else
			pt_jitter(&w->rng);
	}
	set_where(w, W_DONE);
	return NULL;
}

static void *close_receiver(void *arg)
{
	struct worker *w = arg;
	struct round *r = w->r;

	for (;;) {
		bool drained_before = atomic_load(&r->drained_seen);
		uint64_t x = pt_rand(&w->rng) % 8;
		pl_ctx *cx = NULL;
		void *m = SENTINEL;
		int rc;

		if (x < 5) {
			set_where(w, W_RECV);
			rc = pl_chan_recv(r->ch, &m, NULL);
		} else if (x < 6) {
			set_where(w, W_TRY_RECV);
			while ((rc = pl_chan_try_recv(r->ch, &m)) == -EAGAIN)
				pt_jitter(&w->rng);
		} else {
			cx = short_ctx(&w->rng);
			set_where(w, W_TIMED_RECV);
			rc = pl_chan_recv(r->ch, &m, cx);
		}
		progress(w);
		if (rc == 0) {
			record(w, m, drained_before);
		} else {
			CHECK(m == SENTINEL); /* a failed receive wrote nothing */
			if (rc == -ETIMEDOUT)
				ctx_failure(w, cx, rc);
		}
		if (cx != NULL)
			pl_ctx_release(cx);
		if (rc == -EPIPE) {
			epipe_seen(w);
			break;
		}
		CHECK(rc == 0 || rc == -ETIMEDOUT);
		if (r->shape == SH_FULL)
			slow(w);
		else
			pt_jitter(&w->rng);
	}
	set_where(w, W_DONE);
	return NULL;
}

static void phase_close(const char *kind, size_t cap, bool spsc, uint64_t *rng, struct tally *tl)
{
	int maxside = g_tsan ? 4 : MAX_SIDE;
	int ns = spsc ? 1 : 1 + (int)(pt_rand(rng) % (uint64_t)maxside);
	int nr = spsc ? 1 : 1 + (int)(pt_rand(rng) % (uint64_t)maxside);
	struct round *r = round_new(kind, cap, "close", ns, nr);
	uint64_t delay = pt_rand(rng);
	pthread_t mon;

	r->shape = (enum shape)(pt_rand(rng) % 3);
	for (int i = 0; i < ns + nr; i++)
		r->w[i].rng = pt_rand(rng);
	pt_note("stress_close_cancel: kind %s cap %zu phase close: %d senders, %d receivers, %s",
		kind, cap, ns, nr, shape_name[r->shape]);
	pt_start(&mon, monitor, r);
	for (int i = 0; i < ns + nr; i++)
		pt_start(&r->w[i].tid, r->w[i].sender ? close_sender : close_receiver, &r->w[i]);

	/* The random moment: at once, after a short spin, or after up to 3 ms. */
	switch (delay % 4) {
	case 0:
		break;
	case 1:
		for (unsigned i = (unsigned)(delay >> 8) % 20000; i > 0; i--)
			pl__cpu_relax();
		break;
	default:
		pt_sleep_ns((int64_t)((delay >> 8) % 3000000));
	}
	atomic_store(&r->closing, true);
	CHECK_EQ(pl_chan_close(r->ch), 0);
	atomic_store(&r->closed_done, true);
	if (!spsc) /* a second sending thread is not allowed there (close from any thread is) */
		CHECK_EQ(pl_chan_try_send(r->ch, SENTINEL), -EPIPE);
	CHECK_EQ(pl_chan_close(r->ch), -EPIPE);
	pt_note("stress_close_cancel: kind %s cap %zu phase close: %d senders, %d receivers, %s: "
		"joining after close",
		kind, cap, ns, nr, shape_name[r->shape]);
	for (int i = 0; i < ns + nr; i++)
		CHECK_EQ(pthread_join(r->w[i].tid, NULL), 0);
	atomic_store(&r->monitor_stop, true);
	CHECK_EQ(pthread_join(mon, NULL), 0);
	round_check(r, tl);
	round_free(r);
}

/* ------------------------------------------------------------------ phase 3: cancel */

/*
 * cancel_ctx - the context of one operation: own cancellable, child of the group, own
 * timeout, child of the group with a timeout, or none (NULL).
 */
static pl_ctx *cancel_ctx(struct worker *w)
{
	struct round *r = w->r;
	uint64_t x = pt_rand(&w->rng);
	int64_t t = 20000 + (int64_t)((x >> 8) % 500000);
	pl_ctx *cx = NULL;

	switch (x % 6) {
	case 0:
	case 1:
		cx = pl_ctx_with_cancel(NULL);
		break;
	case 2:
		pthread_mutex_lock(&r->group_lk);
		cx = pl_ctx_with_cancel(r->group);
		pthread_mutex_unlock(&r->group_lk);
		break;
	case 3:
		cx = pl_ctx_with_timeout(NULL, t);
		break;
	case 4:
		pthread_mutex_lock(&r->group_lk);
		cx = pl_ctx_with_timeout(r->group, t);
		pthread_mutex_unlock(&r->group_lk);
		break;
	default:
		return NULL;
	}
	CHECK(cx != NULL);
	return cx;
}

static void publish_slot(struct worker *w, pl_ctx *cx)
{
	pthread_mutex_lock(&w->slot_lk);
	w->slot = cx;
	pthread_mutex_unlock(&w->slot_lk);
}

static void wait_while_paused(struct worker *w, int who)
{
	struct round *r = w->r;

	if (atomic_load(&r->pause) != who)
		return;
	set_where(w, W_PAUSED);
	while (atomic_load(&r->pause) == who && !atomic_load(&r->stop))
		pt_sleep_ns(20000);
}

static void *cancel_sender(void *arg)
{
	struct worker *w = arg;
	struct round *r = w->r;

	while (!atomic_load(&r->stop) && w->used < SEQ_LIMIT - 3) {
		uint32_t seq;
		pl_ctx *cx;
		int rc;

		wait_while_paused(w, PAUSE_SENDERS);
		seq = w->used++;
		cx = cancel_ctx(w);
		publish_slot(w, cx);
		set_where(w, W_CTX_SEND);
		rc = pl_chan_send(r->ch, msg_of(w->id, seq), cx);
		publish_slot(w, NULL);
		sent_result(w, seq, rc);
		progress(w);
		if (rc == -ECANCELED || rc == -ETIMEDOUT)
			ctx_failure(w, cx, rc);
		if (cx != NULL)
			pl_ctx_release(cx);
		if (rc == -EPIPE) {
			epipe_seen(w);
			break;
		}
		CHECK(rc == 0 || rc == -ECANCELED || rc == -ETIMEDOUT);
		pt_jitter(&w->rng);
	}
	set_where(w, W_DONE);
	return NULL;
}

static void *cancel_receiver(void *arg)
{
	struct worker *w = arg;
	struct round *r = w->r;

	for (;;) {
		void *m = SENTINEL;
		pl_ctx *cx;
		int rc;

		wait_while_paused(w, PAUSE_RECEIVERS);
		cx = cancel_ctx(w);
		publish_slot(w, cx);
		set_where(w, W_CTX_RECV);
		rc = pl_chan_recv(r->ch, &m, cx);
		publish_slot(w, NULL);
		progress(w);
		if (rc == 0) {
			record(w, m, false);
		} else {
			CHECK(m == SENTINEL); /* a failed receive wrote nothing */
			if (rc == -ECANCELED || rc == -ETIMEDOUT)
				ctx_failure(w, cx, rc);
		}
		if (cx != NULL)
			pl_ctx_release(cx);
		if (rc == -EPIPE) {
			epipe_seen(w);
			break;
		}
		CHECK(rc == 0 || rc == -ECANCELED || rc == -ETIMEDOUT);
		pt_jitter(&w->rng);
	}
	set_where(w, W_DONE);
	return NULL;
}

/* cancel_one - cancel the context worker @w is using right now, if any. */
static void cancel_one(struct worker *w)
{
	pl_ctx *cx;

	/* Retained under the slot lock: the worker may release its reference at any moment. */
	pthread_mutex_lock(&w->slot_lk);
	cx = w->slot ? pl_ctx_retain(w->slot) : NULL;
	pthread_mutex_unlock(&w->slot_lk);
	if (cx != NULL) {
		pl_ctx_cancel(cx);
		CHECK(pl_ctx_err(cx) != 0);
		pl_ctx_release(cx);
	}
}

/* cancel_group - cancel every operation under the shared parent; later ones get a new one. */
static void cancel_group(struct round *r)
{
	pl_ctx *fresh = pl_ctx_with_cancel(NULL), *old;

	CHECK(fresh != NULL);
	pthread_mutex_lock(&r->group_lk);
	old = r->group;
	r->group = fresh;
	pthread_mutex_unlock(&r->group_lk);
	pl_ctx_cancel(old);
	CHECK_EQ(pl_ctx_err(old), -ECANCELED);
	pl_ctx_release(old);
}

static void phase_cancel(const char *kind, size_t cap, bool spsc, uint64_t *rng, struct tally *tl)
{
	int maxside = g_tsan ? 4 : MAX_SIDE;
	int ns = spsc ? 1 : 1 + (int)(pt_rand(rng) % (uint64_t)maxside);
	int nr = spsc ? 1 : 1 + (int)(pt_rand(rng) % (uint64_t)maxside);
	int actions = g_tsan ? 60 : 150;
	struct round *r = round_new(kind, cap, "cancel", ns, nr);
	pthread_t mon;

	r->group = pl_ctx_with_cancel(NULL);
	CHECK(r->group != NULL);
	for (int i = 0; i < ns + nr; i++)
		r->w[i].rng = pt_rand(rng);
	pt_note("stress_close_cancel: kind %s cap %zu phase cancel: %d senders, %d receivers", kind,
		cap, ns, nr);
	pt_start(&mon, monitor, r);
	for (int i = 0; i < ns + nr; i++)
		pt_start(&r->w[i].tid, r->w[i].sender ? cancel_sender : cancel_receiver, &r->w[i]);

	for (int a = 0; a < actions; a++) {
		uint64_t x = pt_rand(rng);

		pt_pause(x, 200000, 4000);
		switch ((x >> 40) % 8) {
		case 0:
		case 1:
		case 2:
		case 3:
			cancel_one(&r->w[(x >> 48) % (uint64_t)(ns + nr)]);
			break;
		case 4:
		case 5:
			cancel_group(r);
			break;
		default:
			atomic_store(&r->pause, (int)((x >> 48) % 3));
		}
		atomic_fetch_add_explicit(&r->main_ops, 1, memory_order_relaxed);
	}

	pt_note("stress_close_cancel: kind %s cap %zu phase cancel: %d senders, %d receivers: "
		"stop, close and drain",
		kind, cap, ns, nr);
	atomic_store(&r->stop, true);
	atomic_store(&r->pause, PAUSE_NONE);
	atomic_store(&r->closing, true);
	CHECK_EQ(pl_chan_close(r->ch), 0);
	for (int i = 0; i < ns + nr; i++)
		CHECK_EQ(pthread_join(r->w[i].tid, NULL), 0);
	atomic_store(&r->monitor_stop, true);
	CHECK_EQ(pthread_join(mon, NULL), 0);
	round_check(r, tl);
	pl_ctx_release(r->group);
	round_free(r);
}

/* ------------------------------------------------------------------ main */

static uint64_t config_seed(const char *kind, size_t cap)
{
	uint64_t h = pt_hash_str(g_seed, kind);

	h ^= (uint64_t)cap * 0x9e3779b97f4a7c15ull;
	return pt_rand(&h);
}

int main(void)
{
	const char *const *kinds = pl_chan_kinds();
	int ran = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	g_seed = pt_seed();
	g_tsan = pt_tsan();
	pt_watchdog_start(100);
	printf("stress_close_cancel: seed %" PRIu64 ", scale %g%s (never use this as a "
	       "benchmark)\n",
	       g_seed, pt_scale(), g_tsan ? ", ThreadSanitizer: fewer threads and rounds" : "");

	for (int k = 0; kinds[k] != NULL; k++) {
		const char *kind = kinds[k];
		struct pl_chan_kind_info info;
		size_t caps[PT_MAX_CAPS];
		int ncaps;

		if (!pt_stress_kind(kind, &info))
			continue;
		ran++;
		ncaps = pt_stress_caps(&info, false, caps);
		if (info.spsc)
			printf("kind %s: single producer/single consumer: one sender and one "
			       "receiver thread only\n",
			       kind);

		for (int c = 0; c < ncaps; c++) {
			uint64_t rng = config_seed(kind, caps[c]);
			int rounds = (int)((g_tsan ? 8 : 16) * pt_scale());
			struct tally close_tl = {0}, cancel_tl = {0};
			char cn[24];

			pt_cap_name(caps[c], cn, sizeof(cn));
			phase_blocked(kind, caps[c], info.spsc, &rng);
			for (int i = 0; i < (rounds > 0 ? rounds : 1); i++) {
				phase_close(kind, caps[c], info.spsc, &rng, &close_tl);
				if (i % 2 == 0)
					phase_cancel(kind, caps[c], info.spsc, &rng, &cancel_tl);
			}
			printf("kind %s cap %s: blocked ok; close: %u rounds, %" PRIu64
			       " sent, %" PRIu64 " failed (%" PRIu64 " -EPIPE, %" PRIu64
			       " timed out); cancel: %u rounds, %" PRIu64 " sent, %" PRIu64
			       " cancelled, %" PRIu64 " timed out\n",
			       kind, cn, close_tl.rounds, close_tl.ok, close_tl.failed,
			       close_tl.epipe, close_tl.timedout, cancel_tl.rounds, cancel_tl.ok,
			       cancel_tl.cancelled, cancel_tl.timedout);
		}
	}
	if (ran == 0) {
		printf("stress_close_cancel: no channel kind available yet: skipped\n");
		return PT_SKIP;
	}
	printf("stress_close_cancel: ok (seed %" PRIu64 ")\n", g_seed);
	return 0;
}
