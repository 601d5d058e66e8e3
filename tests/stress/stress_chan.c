/* SPDX-License-Identifier: MIT */
/*
 * stress_chan - P producers x C consumers over every channel kind and capacity.
 *
 * For every available kind, every capacity in {1, 2, 64, 1024} (plus 0 when the kind is a
 * rendezvous kind, plus PL_CHAN_UNBOUNDED when it supports it) and every P, C in {1, 2, 4, 16}
 * (a single-producer/single-consumer kind: 1x1 only), producers send (producer, seq) pairs
 * and consumers check what arrives:
 *
 * - Exactly once. A message is its index in a preallocated ledger, idx = producer * N + seq,
 *   carried in the void * itself (idx 0 is NULL, which must travel like any other value). Each
 *   receipt bumps an atomic counter per message: a second receipt is a duplicate. A send that
 *   returned an error marks its message "failed": receiving it is a bug ("a timed-out send
 *   must not have delivered"). After the run, every message sent with 0 was received exactly
 *   once, and received == sent (conservation; a timed-out receive that consumed something
 *   shows up as a lost message).
 * - Per-producer order at each consumer: seq strictly increases per producer as seen by one
 *   consumer (FIFO).
 * - Happens-before: each producer writes a plain payload word for the message before sending
 *   it; the consumer reads it first thing after receiving. Under ThreadSanitizer a kind whose
 *   send does not release / whose recv does not acquire is a reported race. The ledger uses
 *   relaxed atomics on purpose, so that the test itself adds no synchronization TSan could
 *   mistake for the channel's.
 * - Close, two ways (half the configurations each). Drain first: after the producers are
 *   joined the consumers must empty the channel BEFORE it is closed (close wakes everyone, so
 *   it would hide a consumer asleep beside a non-empty buffer: messages left buffered with no
 *   receive completing for STALL_S seconds is a lost wakeup, reported with every thread's
 *   state); then close wakes the consumers parked on the empty channel. Close at once: the
 *   channel is closed as soon as the producers are joined, and the consumers drain what is
 *   buffered after the close. Either way each consumer ends with -EPIPE and keeps getting it
 *   (try_recv, recv, a recv under a cancelled context). -EPIPE before close is a bug.
 * - Occupancy: an observer thread samples pl_chan_len() throughout: len <= cap (0 at capacity
 *   0). The same thread is a no-progress watchdog: when no thread completes an operation for
 *   STALL_S seconds it prints every thread's counter and the operation it is in, and fails.
 *
 * Every operation is chosen at random (from the seed) among a blocking call (NULL or the
 * background context), a bounded try_* loop that falls back to blocking, and a call bounded by
 * a context with a short timeout (0 .. 100 us; a timed-out send counts as not sent, a timed-out
 * receive must leave *msg untouched). Random tiny delays (a few hundred ns of PAUSE, an
 * occasional sched_yield()) are injected between operations: the lost-wakeup class (capacity
 * 1, many producers and consumers) needs them to open its windows.
 *
 * Length: PATLAB_STRESS_SCALE multiplies the messages per configuration (default: the whole
 * file in a few seconds). PATLAB_SEED reruns a seed (thread interleavings are not replayed,
 * only the choices). PATLAB_STRESS_KIND=<name> runs one kind only. Fewer threads and messages
 * under ThreadSanitizer. Exit 0 pass, 1 fail, 77 when no kind is available yet.
 *
 * Never use this as a benchmark: the delays, the ledger and the observer dominate the time.
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

#define MAX_SIDE 16
#define STALL_S	 30 /* no operation completed anywhere for this long: a hang (x2 sanitized) */
#define SENTINEL ((void *)UINTPTR_MAX)

enum {
	ST_PENDING,
	ST_SENT,
	ST_FAILED
};

/* Where a thread is, for the stall report. */
enum where {
	W_START,
	W_SEND,
	W_TRY_SEND,
	W_TIMED_SEND,
	W_RECV,
	W_TRY_RECV,
	W_TIMED_RECV,
	W_PROBE,
	W_DONE,
};

static const char *const where_name[] = {
    [W_START] = "starting",
    [W_SEND] = "send",
    [W_TRY_SEND] = "try_send loop",
    [W_TIMED_SEND] = "timed send",
    [W_RECV] = "recv",
    [W_TRY_RECV] = "try_recv loop",
    [W_TIMED_RECV] = "timed recv",
    [W_PROBE] = "post-close probes",
    [W_DONE] = "done",
};

struct run;

struct worker {
	struct run *r;
	int id;
	bool producer;
	pthread_t tid;
	uint64_t rng;
	/* Relaxed: diagnostics only, read by the observer's stall report. */
	_Atomic uint64_t ops;
	_Atomic int where;
	/* Results, read by main after pthread_join(). */
	uint64_t sent, failed, received, timeouts, eagain;
	int64_t last_seq[MAX_SIDE]; /* consumer: last seq seen per producer */
};

struct run {
	const char *kind;
	size_t cap;
	int np, nc;
	uint64_t n;	   /* messages per producer */
	uint64_t total;	   /* np * n: ledger size */
	size_t len_bound;  /* what pl_chan_len() may never exceed */
	uint64_t tag_seed; /* payload = idx * golden ^ tag_seed */
	pl_chan *ch;
	/* Relaxed: mid-run reads are diagnostics that cannot give false positives (a message is
	 * marked failed only if its send failed); the final check runs after pthread_join(). */
	_Atomic uint8_t *state;
	_Atomic uint32_t *recvd;
	uint64_t *payload;    /* plain: ordered only by the channel (send happens-before recv) */
	_Atomic bool closing; /* set before pl_chan_close(); consumers read it after -EPIPE */
	/* Relaxed: main polls it only to know when the consumers have drained the channel; the
	 * ledger is checked after pthread_join(). */
	_Atomic uint64_t received_total;
	_Atomic bool stop; /* tells the observer to finish */
	struct worker prod[MAX_SIDE], cons[MAX_SIDE];
	/* Observer results, read after its join. */
	uint64_t samples;
	size_t max_len;
};

/* Totals per (kind, capacity), printed once. */
struct tally {
	unsigned configs;
	uint64_t sent, failed, timeouts, eagain, samples;
	size_t max_len;
};

static uint64_t g_seed;
static bool g_tsan;

static uint64_t tag(const struct run *r, uint64_t idx)
{
	return idx * 0x9e3779b97f4a7c15ull ^ r->tag_seed;
}

static void set_where(struct worker *w, enum where x)
{
	atomic_store_explicit(&w->where, x, memory_order_relaxed);
}

static void progress(struct worker *w)
{
	atomic_fetch_add_explicit(&w->ops, 1, memory_order_relaxed);
}

/* A context that times out within 0 .. 100 us (0: already done; the op must still succeed if
 * it need not block). */
static pl_ctx *short_ctx(uint64_t *rng)
{
	int64_t t = (int64_t)(pt_rand(rng) % 100001);
	pl_ctx *cx = pl_ctx_with_timeout(NULL, (pt_rand(rng) & 15) == 0 ? 0 : t);

	CHECK(cx != NULL);
	return cx;
}

/* ------------------------------------------------------------------ producers */

static int send_one(struct worker *w, void *msg)
{
	struct run *r = w->r;
	uint64_t x = pt_rand(&w->rng) % 8;
	int rc;

	if (x < 4) {
		set_where(w, W_SEND);
		rc = pl_chan_send(r->ch, msg, (x & 1) ? pl_ctx_background() : NULL);
		CHECK_EQ(rc, 0);
	} else if (x < 6) {
		unsigned tries = 1 + (unsigned)(pt_rand(&w->rng) % 64);

		set_where(w, W_TRY_SEND);
		while ((rc = pl_chan_try_send(r->ch, msg)) == -EAGAIN && --tries > 0) {
			w->eagain++;
			pt_jitter(&w->rng);
		}
		if (rc == -EAGAIN) { /* bounded: capacity 0 needs a blocked partner */
			set_where(w, W_SEND);
			rc = pl_chan_send(r->ch, msg, NULL);
		}
		CHECK_EQ(rc, 0);
	} else {
		pl_ctx *cx = short_ctx(&w->rng);

		set_where(w, W_TIMED_SEND);
		rc = pl_chan_send(r->ch, msg, cx);
		if (rc != 0) {
			CHECK_EQ(rc, -ETIMEDOUT);
			CHECK_EQ(pl_ctx_err(cx), -ETIMEDOUT);
			w->timeouts++;
		}
		pl_ctx_release(cx);
	}
	return rc;
}

static void *producer(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;

	for (uint64_t seq = 0; seq < r->n; seq++) {
		uint64_t idx = (uint64_t)w->id * r->n + seq;

		r->payload[idx] = tag(r, idx);
		pt_jitter(&w->rng);
		if (send_one(w, (void *)(uintptr_t)idx) == 0) {
			atomic_store_explicit(&r->state[idx], ST_SENT, memory_order_relaxed);
			w->sent++;
		} else {
			atomic_store_explicit(&r->state[idx], ST_FAILED, memory_order_relaxed);
			w->failed++;
		}
		progress(w);
	}
	set_where(w, W_DONE);
	return NULL;
}

/* ------------------------------------------------------------------ consumers */

static void record(struct worker *w, void *m)
{
	struct run *r = w->r;
	uint64_t idx = (uint64_t)(uintptr_t)m;
	uint64_t pid, seq;
	uint32_t prev;

	if (idx >= r->total)
		pt_fail(__FILE__, __LINE__, "consumer %d received %p, which no producer sent",
			w->id, m);
	pid = idx / r->n;
	seq = idx % r->n;
	/* First, before any ledger atomic: only the channel orders this read after the write. */
	if (r->payload[idx] != tag(r, idx))
		pt_fail(__FILE__, __LINE__,
			"consumer %d: message %" PRIu64 " (producer %" PRIu64 " seq %" PRIu64
			") arrived before the producer's earlier write was visible",
			w->id, idx, pid, seq);
	prev = atomic_fetch_add_explicit(&r->recvd[idx], 1, memory_order_relaxed);
	if (prev != 0)
		pt_fail(__FILE__, __LINE__,
			"consumer %d: message %" PRIu64 " (producer %" PRIu64 " seq %" PRIu64
			") received twice",
			w->id, idx, pid, seq);
	if (atomic_load_explicit(&r->state[idx], memory_order_relaxed) == ST_FAILED)
		pt_fail(__FILE__, __LINE__,
			"consumer %d: message %" PRIu64 " (producer %" PRIu64 " seq %" PRIu64
			") received although its send returned an error",
			w->id, idx, pid, seq);
	if ((int64_t)seq <= w->last_seq[pid])
		pt_fail(__FILE__, __LINE__,
			"consumer %d: producer %" PRIu64 " seq %" PRIu64 " after seq %" PRId64
			" (FIFO per producer broken)",
			w->id, pid, seq, w->last_seq[pid]);
	w->last_seq[pid] = (int64_t)seq;
	w->received++;
	atomic_fetch_add_explicit(&r->received_total, 1, memory_order_relaxed);
}

/* recv_one - one receive by a randomly chosen method: 0 (recorded), -EPIPE, or -ETIMEDOUT. */
static int recv_one(struct worker *w)
{
	struct run *r = w->r;
	uint64_t x = pt_rand(&w->rng) % 8;
	void *m = SENTINEL;
	int rc;

	if (x < 4) {
		set_where(w, W_RECV);
		rc = pl_chan_recv(r->ch, &m, (x & 1) ? pl_ctx_background() : NULL);
		CHECK(rc == 0 || rc == -EPIPE);
	} else if (x < 6) {
		unsigned tries = 1 + (unsigned)(pt_rand(&w->rng) % 64);

		set_where(w, W_TRY_RECV);
		while ((rc = pl_chan_try_recv(r->ch, &m)) == -EAGAIN && --tries > 0) {
			CHECK(m == SENTINEL);
			w->eagain++;
			pt_jitter(&w->rng);
		}
		if (rc == -EAGAIN) {
			CHECK(m == SENTINEL);
			set_where(w, W_RECV);
			rc = pl_chan_recv(r->ch, &m, NULL);
		}
		CHECK(rc == 0 || rc == -EPIPE);
	} else {
		pl_ctx *cx = short_ctx(&w->rng);

		set_where(w, W_TIMED_RECV);
		rc = pl_chan_recv(r->ch, &m, cx);
		CHECK(rc == 0 || rc == -EPIPE || rc == -ETIMEDOUT);
		if (rc == -ETIMEDOUT) {
			CHECK_EQ(pl_ctx_err(cx), -ETIMEDOUT);
			w->timeouts++;
		}
		pl_ctx_release(cx);
	}
	if (rc == 0)
		record(w, m);
	else
		CHECK(m == SENTINEL); /* a failed receive consumed nothing and wrote nothing */
	return rc;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	void *m = SENTINEL;
	pl_ctx *cx;
	int rc;

	for (int i = 0; i < MAX_SIDE; i++)
		w->last_seq[i] = -1;
	for (;;) {
		pt_jitter(&w->rng);
		rc = recv_one(w);
		progress(w);
		if (rc == -EPIPE)
			break;
	}
	if (!atomic_load(&r->closing))
		pt_fail(__FILE__, __LINE__, "consumer %d got -EPIPE before the channel was closed",
			w->id);
	/* Closed and drained: -EPIPE forever, whatever the method. */
	set_where(w, W_PROBE);
	CHECK_EQ(pl_chan_try_recv(r->ch, &m), -EPIPE);
	CHECK_EQ(pl_chan_recv(r->ch, &m, NULL), -EPIPE);
	cx = pl_ctx_with_cancel(NULL);
	CHECK(cx != NULL);
	pl_ctx_cancel(cx);
	CHECK_EQ(pl_chan_recv(r->ch, &m, cx), -EPIPE); /* ready (closed) wins over a done context */
	pl_ctx_release(cx);
	CHECK(m == SENTINEL);
	set_where(w, W_DONE);
	return NULL;
}

/* ------------------------------------------------------------------ observer */

static void stall_report(struct run *r, const char *what, double secs)
{
	fprintf(stderr,
		"STALL: %s for %.0f s: kind %s cap %zu, %d producers x %d consumers, len %zu\n",
		what, secs, r->kind, r->cap, r->np, r->nc, pl_chan_len(r->ch));
	for (int i = 0; i < r->np; i++)
		fprintf(stderr, "  producer %2d: %8" PRIu64 " ops, in %s\n", i,
			atomic_load_explicit(&r->prod[i].ops, memory_order_relaxed),
			where_name[atomic_load_explicit(&r->prod[i].where, memory_order_relaxed)]);
	for (int i = 0; i < r->nc; i++)
		fprintf(stderr, "  consumer %2d: %8" PRIu64 " ops, in %s\n", i,
			atomic_load_explicit(&r->cons[i].ops, memory_order_relaxed),
			where_name[atomic_load_explicit(&r->cons[i].where, memory_order_relaxed)]);
	pt_fail(__FILE__, __LINE__, "no progress (a lost wakeup or a hang)");
}

static uint64_t total_ops(struct run *r)
{
	uint64_t t = 0;

	for (int i = 0; i < r->np; i++)
		t += atomic_load_explicit(&r->prod[i].ops, memory_order_relaxed);
	for (int i = 0; i < r->nc; i++)
		t += atomic_load_explicit(&r->cons[i].ops, memory_order_relaxed);
	return t;
}

static void *observer(void *arg)
{
	struct run *r = arg;
	int64_t stall_ns = (int64_t)STALL_S * 1000000000 * (pt_tsan() ? 2 : 1);
	int64_t last_change = pl_now_ns();
	uint64_t last_total = 0;

	while (!atomic_load(&r->stop)) {
		uint64_t t;
		int64_t now;

		for (int i = 0; i < 8; i++) {
			size_t len = pl_chan_len(r->ch);

			if (len > r->len_bound)
				pt_fail(__FILE__, __LINE__,
					"pl_chan_len() = %zu > %zu (kind %s cap %zu)", len,
					r->len_bound, r->kind, r->cap);
			if (len > r->max_len)
				r->max_len = len;
			r->samples++;
		}
		t = total_ops(r);
		now = pl_now_ns();
		if (t != last_total) {
			last_total = t;
			last_change = now;
		} else if (now - last_change > stall_ns) {
			stall_report(r, "no operation completed",
				     (double)(now - last_change) / 1e9);
		}
		pt_sleep_ns(50000);
	}
	return NULL;
}

/* ------------------------------------------------------------------ one configuration */

/*
 * wait_drained - with the producers joined, wait until the consumers have received all @sent
 * messages, without closing. Buffered messages and no receive for STALL_S seconds: a lost
 * wakeup (fails with the stall report). An empty buffer and no receive for a second: some
 * message was lost (or a consumer holds one and is descheduled); go on and close, and the
 * ledger, checked after every thread is joined, says which.
 */
static void wait_drained(struct run *r, uint64_t sent)
{
	int64_t stall_ns = (int64_t)STALL_S * 1000000000 * (pt_tsan() ? 2 : 1);
	int64_t last_change = pl_now_ns();
	uint64_t last = 0;

	for (;;) {
		uint64_t got = atomic_load_explicit(&r->received_total, memory_order_relaxed);
		int64_t now = pl_now_ns(), idle;

		if (got >= sent)
			return;
		if (got != last) {
			last = got;
			last_change = now;
		}
		idle = now - last_change;
		if (pl_chan_len(r->ch) > 0 && idle > stall_ns)
			stall_report(r, "messages buffered but no receive completed",
				     (double)idle / 1e9);
		if (pl_chan_len(r->ch) == 0 && idle > 1000000000)
			return;
		pt_sleep_ns(50000);
	}
}

static void run_config(const char *kind, size_t cap, int np, int nc, uint64_t msgs,
		       uint64_t cfg_seed, struct tally *tl)
{
	struct run *r = calloc(1, sizeof(*r));
	uint64_t sent = 0, failed = 0, received = 0, rng = cfg_seed;
	pthread_t obs;
	void *m = NULL;
	bool drain_first;

	CHECK(r != NULL);
	r->kind = kind;
	r->cap = cap;
	r->np = np;
	r->nc = nc;
	r->n = msgs / (uint64_t)np > 0 ? msgs / (uint64_t)np : 1;
	r->total = r->n * (uint64_t)np;
	r->len_bound = cap == PL_CHAN_UNBOUNDED ? (size_t)r->total : cap;
	r->tag_seed = pt_rand(&rng);
	drain_first = pt_rand(&rng) & 1;
	r->state = calloc(r->total, sizeof(*r->state));
	r->recvd = calloc(r->total, sizeof(*r->recvd));
	r->payload = calloc(r->total, sizeof(*r->payload));
	CHECK(r->state != NULL && r->recvd != NULL && r->payload != NULL);
	r->ch = pl_chan_new(kind, cap);
	if (r->ch == NULL)
		pt_fail(__FILE__, __LINE__, "pl_chan_new(%s, %zu): %s", kind, cap, strerror(errno));
	CHECK(pl_chan_cap(r->ch) == cap);

	pt_note("stress_chan: kind %s cap %zu %dx%d, %" PRIu64 " msgs/producer: traffic", kind, cap,
		np, nc, r->n);
	/* Every worker is initialized before any thread starts: the observer reads them all. */
	for (int i = 0; i < nc; i++)
		r->cons[i] = (struct worker){.r = r, .id = i, .rng = pt_rand(&rng)};
	for (int i = 0; i < np; i++)
		r->prod[i] =
		    (struct worker){.r = r, .id = i, .producer = true, .rng = pt_rand(&rng)};
	pt_start(&obs, observer, r);
	for (int i = 0; i < nc; i++)
		pt_start(&r->cons[i].tid, consumer, &r->cons[i]);
	for (int i = 0; i < np; i++)
		pt_start(&r->prod[i].tid, producer, &r->prod[i]);
	for (int i = 0; i < np; i++) {
		CHECK_EQ(pthread_join(r->prod[i].tid, NULL), 0);
		sent += r->prod[i].sent;
	}

	if (drain_first) {
		pt_note("stress_chan: kind %s cap %zu %dx%d: consumers drain before close", kind,
			cap, np, nc);
		wait_drained(r, sent);
		pt_note("stress_chan: kind %s cap %zu %dx%d: close wakes the parked consumers",
			kind, cap, np, nc);
	} else {
		pt_note("stress_chan: kind %s cap %zu %dx%d: closed; consumers drain after close",
			kind, cap, np, nc);
	}
	atomic_store(&r->closing, true);
	CHECK_EQ(pl_chan_close(r->ch), 0);
	CHECK_EQ(pl_chan_close(r->ch), -EPIPE);
	CHECK_EQ(pl_chan_try_send(r->ch, NULL), -EPIPE);
	CHECK_EQ(pl_chan_send(r->ch, NULL, NULL), -EPIPE);
	for (int i = 0; i < nc; i++)
		CHECK_EQ(pthread_join(r->cons[i].tid, NULL), 0);
	atomic_store(&r->stop, true);
	CHECK_EQ(pthread_join(obs, NULL), 0);

	pt_note("stress_chan: kind %s cap %zu %dx%d: ledger", kind, cap, np, nc);
	CHECK_EQ(pl_chan_len(r->ch), 0);
	CHECK_EQ(pl_chan_try_recv(r->ch, &m), -EPIPE);
	for (int i = 0; i < np; i++) {
		failed += r->prod[i].failed;
		tl->timeouts += r->prod[i].timeouts;
		tl->eagain += r->prod[i].eagain;
	}
	for (int i = 0; i < nc; i++) {
		received += r->cons[i].received;
		tl->timeouts += r->cons[i].timeouts;
		tl->eagain += r->cons[i].eagain;
	}
	for (uint64_t idx = 0; idx < r->total; idx++) {
		uint8_t st = atomic_load_explicit(&r->state[idx], memory_order_relaxed);
		uint32_t n = atomic_load_explicit(&r->recvd[idx], memory_order_relaxed);

		if ((st == ST_SENT && n != 1) || (st != ST_SENT && n != 0))
			pt_fail(__FILE__, __LINE__,
				"kind %s cap %zu %dx%d: message %" PRIu64 " (producer %" PRIu64
				" seq %" PRIu64 ") %s, received %u times",
				kind, cap, np, nc, idx, idx / r->n, idx % r->n,
				st == ST_SENT ? "sent" : "not sent", n);
	}
	CHECK_EQ(sent + failed, r->total);
	CHECK_EQ(received, sent);

	tl->configs++;
	tl->sent += sent;
	tl->failed += failed;
	tl->samples += r->samples;
	if (r->max_len > tl->max_len)
		tl->max_len = r->max_len;
	pl_chan_free(r->ch);
	free(r->state);
	free(r->recvd);
	free(r->payload);
	free(r);
}

/* ------------------------------------------------------------------ main */

static const int sides[] = {1, 2, 4, 16};
static const int sides_tsan[] = {1, 2, 4, 8};

/*
 * config_seed - the seed of one configuration, from the run's seed and the configuration
 * alone, so PATLAB_SEED with PATLAB_STRESS_KIND replays the same choices for it.
 */
static uint64_t config_seed(const char *kind, size_t cap, int np, int nc)
{
	uint64_t h = pt_hash_str(g_seed, kind);

	h ^= (uint64_t)cap * 0x9e3779b97f4a7c15ull ^ (uint64_t)np << 40 ^ (uint64_t)nc << 48;
	return pt_rand(&h);
}

/* Messages per configuration: the whole file takes a few seconds at scale 1. */
static uint64_t messages(size_t cap, int np, int nc)
{
	double base = g_tsan ? 800 : 3000;

	/* Capacity 0 and 1 with many threads park on almost every message (a futex round trip,
	 * ~40 us here): fewer messages keep them from dominating the run. */
	if (cap <= 1 && np + nc > 8)
		base /= 3;
	return (uint64_t)(base * pt_scale()) + (uint64_t)np;
}

int main(void)
{
	const char *const *kinds = pl_chan_kinds();
	const int *sv = sides;
	int ran = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	g_seed = pt_seed();
	g_tsan = pt_tsan();
	if (g_tsan)
		sv = sides_tsan;
	pt_watchdog_start(100);
	printf("stress_chan: seed %" PRIu64 ", scale %g%s (never use this as a benchmark)\n",
	       g_seed, pt_scale(),
	       g_tsan ? ", ThreadSanitizer: at most 8 threads a side, fewer messages" : "");

	for (int k = 0; kinds[k] != NULL; k++) {
		const char *kind = kinds[k];
		struct pl_chan_kind_info info;
		size_t caps[PT_MAX_CAPS];
		int ncaps;

		if (!pt_stress_kind(kind, &info))
			continue;
		ran++;
		ncaps = pt_stress_caps(&info, true, caps);
		if (info.spsc)
			printf(
			    "kind %s: single producer/single consumer: 1x1 configurations only\n",
			    kind);

		for (int c = 0; c < ncaps; c++) {
			struct tally tl = {0};
			char cn[24];

			pt_cap_name(caps[c], cn, sizeof(cn));
			for (int pi = 0; pi < 4; pi++) {
				for (int ci = 0; ci < 4; ci++) {
					int np = sv[pi], nc = sv[ci];
					uint64_t cfg_seed = config_seed(kind, caps[c], np, nc);

					if (info.spsc && (np != 1 || nc != 1))
						continue;
					run_config(kind, caps[c], np, nc, messages(caps[c], np, nc),
						   cfg_seed, &tl);
				}
			}
			printf("kind %s cap %s: %u configs ok: %" PRIu64 " sent, %" PRIu64
			       " sends failed (timeout), %" PRIu64 " timeouts, %" PRIu64
			       " EAGAIN, %" PRIu64 " len samples (max %zu)\n",
			       kind, cn, tl.configs, tl.sent, tl.failed, tl.timeouts, tl.eagain,
			       tl.samples, tl.max_len);
		}
	}
	if (ran == 0) {
		printf("stress_chan: no channel kind available yet: skipped\n");
		return PT_SKIP;
	}
	printf("stress_chan: ok (seed %" PRIu64 ")\n", g_seed);
	return 0;
}
