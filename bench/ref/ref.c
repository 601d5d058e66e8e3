/* SPDX-License-Identifier: MIT */
/*
 * patlab-ref - patlab's channel kinds side by side with the plain rings they are built from,
 * measured in one interleaved run, so anyone can see on their own machine what a kind costs
 * over its algorithm.
 *
 * Queues. The references (the headers in bench/ref/): ref-vyukov (bounded MPMC ring, the algorithm
 * of the "lockfree" kind), ref-spsc (single-producer/single-consumer ring with cached indices, the
 * algorithm of the "spsc" kind), and ck-spsc (Concurrency Kit's ck_ring spsc, when built with
 * libck-dev). Then every kind of pl_chan_kinds(), used through the public API exactly as a
 * user would: pl_chan_new(kind, depth), pl_chan_send/recv with a NULL context, pl_chan_close
 * at the end.
 *
 * Workload (one template, REF_WORKLOAD, expanded once per queue so that the references'
 * inline send/recv are compiled into the loop, never called through a pointer): P producers
 * send to one queue, C consumers receive from it, each blocking while the queue is full or
 * empty. All threads meet at a barrier; a short warm-up runs before the measured interval
 * (warm-up = min(0.1 s, seconds / 4)), which main opens and closes by flipping a phase word
 * that producers poll. Producers count what they sent in the interval; after the interval they
 * stop, main joins them, then ends the stream (references: one poison message per consumer,
 * queued behind every real message; kinds: pl_chan_close(), so consumers drain and see
 * -EPIPE) and joins the consumers.
 *
 * Exactly-once check, O(1) per message and no shared writes: a message is the producer id
 * (high 16 bits) and that producer's sequence number (low 48 bits). Each consumer keeps, per
 * producer, a count, the sum and the sum of squares of the sequences it saw and the last one
 * (which must increase: one consumer sees one producer's messages in order). After the join,
 * for every producer the totals over consumers must be those of 0 .. sent - 1, exactly; any
 * message from no producer or out of order is a failure. A failure ends the run with exit 3
 * and a line saying what was wrong.
 *
 * Ping-pong: two queues of capacity 1, one message bounced between two threads; the figure is
 * the round-trip time. Measured once per queue (it does not depend on --depth) and shown in
 * every depth's table.
 *
 * Repetitions are interleaved: repetition 1 of every point, then repetition 2, ..., so drift
 * of the machine hits every queue alike. Output: a markdown table per depth on stdout (median
 * (min-max)) and ratio tables; a CSV row per (queue, topology, depth, repetition) with --csv;
 * progress on stderr unless --quiet.
 *
 * Environment, for the tests only: PATLAB_REF_FAULT=drop|dup makes the first consumer of a
 * P -> C run to receive a message miscount it (not count it / count it twice), so that the
 * check can be seen to fail (exit 3). Never set it for real numbers.
 *
 * Exit: 0, 1 a system call failed, 2 bad arguments, 3 an exactly-once check failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <patlab/chan.h>
#include <patlab/ctx.h>

#include "build_info.h"
#include "backoff.h"
#include "spsc_ring.h"
#include "vyukov_ring.h"
#ifdef PATLAB_REF_CK
#include "ck_spsc.h"
#endif

_Static_assert(sizeof(void *) == 8, "messages encode a producer id and a 48-bit sequence");

#define SEQ_BITS    48
#define SEQ_MASK    ((UINT64_C(1) << SEQ_BITS) - 1)
#define MAX_SIDE    256 /* producers or consumers in one topology */
#define MAX_DEPTH   ((size_t)1 << 26)
#define MAX_REPS    1000
#define MAX_SECONDS 3600.0
#define MAX_LIST    64 /* entries in one --queues / --topo / --depth list */
/* References end a stream with this message, one per consumer: no producer sends it. */
#define POISON ((void *)UINTPTR_MAX)

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

enum phase {
	WARMUP,
	MEASURE,
	STOP
};
enum fault {
	FAULT_NONE,
	FAULT_DROP,
	FAULT_DUP
};

static enum fault fault; /* PATLAB_REF_FAULT, read once before any thread starts */
/* Set by main before a run's threads start; the first consumer to receive a message takes it
 * (seq_cst exchange: one winner) and miscounts that message. */
static atomic_bool fault_armed;

/* ---------------------------------------------------------------- one run's threads */

/* What one consumer saw of one producer. */
struct tally {
	uint64_t count;
	uint64_t sum;
	uint64_t sumsq; /* modulo 2^64 */
	uint64_t last1; /* last sequence seen + 1; 0: none yet */
};

/* One thread of a run; written by that thread only, read by main after the join. */
struct worker {
	alignas(REF_FALSE_SHARING) struct run *run;
	unsigned id;
	/* Producers and the ping thread: sequence numbers at the start of the measured interval
	 * and at the stop (= messages sent, or round trips done, in all). */
	uint64_t from;
	uint64_t to;
	/* Consumers: one tally per producer; messages from no producer; out-of-order ones. */
	struct tally *tally;
	uint64_t foreign;
	uint64_t misordered;
	/* The ping thread: replies that were not the message sent, or no reply. */
	uint64_t wrong_reply;
};

struct run {
	void *q;
	void *back; /* ping-pong: the return queue */
	unsigned producers;
	unsigned consumers;
	pthread_barrier_t start;
	/* Stored by main (relaxed), polled by producers and the ping thread (relaxed): it only
	 * says when to count and when to stop; what they counted reaches main through
	 * pthread_join(). */
	alignas(REF_FALSE_SHARING) _Atomic int phase;
	char pad[REF_FALSE_SHARING - sizeof(int)];
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("patlab-ref: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void barrier_wait(pthread_barrier_t *b)
{
	int rc = pthread_barrier_wait(b);

	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
		die("pthread_barrier_wait: %s", strerror(rc));
}

/*
 * phase_step - what a producer (or the ping thread) does when it sees @ph after @seen: note
 * where the measured interval starts (also when it missed MEASURE altogether, so that a
 * thread that slept through the interval counts nothing). Returns true to stop.
 */
static inline bool phase_step(struct worker *w, int *seen, int ph, uint64_t seq)
{
	if (*seen == WARMUP)
		w->from = seq;
	*seen = ph;
	return ph == STOP;
}

/* account - a consumer's O(1) bookkeeping of message @m (see the file-top comment). */
static inline void account(struct worker *w, unsigned producers, void *m)
{
	uintptr_t v = (uintptr_t)m;
	uintptr_t p = v >> SEQ_BITS;
	uint64_t s = v & SEQ_MASK;
	struct tally *t;

	if (unlikely(p >= producers)) {
		w->foreign++;
		return;
	}
	t = &w->tally[p];
	if (unlikely(s + 1 <= t->last1))
		w->misordered++;
	t->last1 = s + 1;
	t->count++;
	t->sum += s;
	t->sumsq += s * s;
}

/* account_first - account() for a consumer's first message, where a test plants its fault. */
static void account_first(struct worker *w, unsigned producers, void *m)
{
	if (fault != FAULT_NONE && atomic_exchange(&fault_armed, false)) {
		if (fault == FAULT_DROP)
			return;
		account(w, producers, m);
	}
	account(w, producers, m);
}

/*
 * REF_WORKLOAD - the workload's thread bodies for the queue type @type, whose operations are
 * the static inline functions @tag##_send(q, msg), @tag##_recv(q, &msg) (false: the stream
 * ended) and @tag##_finish(q, consumers) (end the stream for that many consumers):
 *   @tag##_produce, @tag##_consume   P -> queue -> C (struct worker, struct run)
 *   @tag##_ping, @tag##_pong         round trips through run->q and run->back
 *   @tag##_finish_fn                 @tag##_finish behind a pointer (called once per run)
 */
#define REF_WORKLOAD(tag, type)                                                                    \
	static void *tag##_produce(void *arg)                                                      \
	{                                                                                          \
		struct worker *w = arg;                                                            \
		struct run *run = w->run;                                                          \
		type *q = run->q;                                                                  \
		uintptr_t id = (uintptr_t)w->id << SEQ_BITS;                                       \
		uint64_t seq = 0;                                                                  \
		int seen = WARMUP;                                                                 \
                                                                                                   \
		barrier_wait(&run->start);                                                         \
		for (;;) {                                                                         \
			/* Relaxed: see struct run. */                                             \
			int ph = atomic_load_explicit(&run->phase, memory_order_relaxed);          \
			if (unlikely(ph != seen) && phase_step(w, &seen, ph, seq))                 \
				break;                                                             \
			tag##_send(q, (void *)(id | seq));                                         \
			seq++;                                                                     \
		}                                                                                  \
		w->to = seq;                                                                       \
		return NULL;                                                                       \
	}                                                                                          \
                                                                                                   \
	static void *tag##_consume(void *arg)                                                      \
	{                                                                                          \
		struct worker *w = arg;                                                            \
		struct run *run = w->run;                                                          \
		type *q = run->q;                                                                  \
		unsigned producers = run->producers;                                               \
		void *m;                                                                           \
                                                                                                   \
		barrier_wait(&run->start);                                                         \
		if (tag##_recv(q, &m)) {                                                           \
			account_first(w, producers, m);                                            \
			while (tag##_recv(q, &m))                                                  \
				account(w, producers, m);                                          \
		}                                                                                  \
		return NULL;                                                                       \
	}                                                                                          \
                                                                                                   \
	static void *tag##_ping(void *arg)                                                         \
	{                                                                                          \
		struct worker *w = arg;                                                            \
		struct run *run = w->run;                                                          \
		type *q = run->q;                                                                  \
		type *back = run->back;                                                            \
		uint64_t seq = 0;                                                                  \
		int seen = WARMUP;                                                                 \
		void *m;                                                                           \
                                                                                                   \
		barrier_wait(&run->start);                                                         \
		for (;;) {                                                                         \
			/* Relaxed: see struct run. */                                             \
			int ph = atomic_load_explicit(&run->phase, memory_order_relaxed);          \
			if (unlikely(ph != seen) && phase_step(w, &seen, ph, seq))                 \
				break;                                                             \
			tag##_send(q, (void *)(uintptr_t)seq);                                     \
			if (!tag##_recv(back, &m)) {                                               \
				w->wrong_reply++;                                                  \
				break;                                                             \
			}                                                                          \
			if (unlikely((uintptr_t)m != seq))                                         \
				w->wrong_reply++;                                                  \
			seq++;                                                                     \
		}                                                                                  \
		w->to = seq;                                                                       \
		tag##_finish(q, 1);                                                                \
		return NULL;                                                                       \
	}                                                                                          \
                                                                                                   \
	static void *tag##_pong(void *arg)                                                         \
	{                                                                                          \
		struct worker *w = arg;                                                            \
		struct run *run = w->run;                                                          \
		type *q = run->q;                                                                  \
		type *back = run->back;                                                            \
		void *m;                                                                           \
                                                                                                   \
		barrier_wait(&run->start);                                                         \
		while (tag##_recv(q, &m))                                                          \
			tag##_send(back, m);                                                       \
		return NULL;                                                                       \
	}                                                                                          \
                                                                                                   \
	static void tag##_finish_fn(void *q, unsigned consumers)                                   \
	{                                                                                          \
		tag##_finish(q, consumers);                                                        \
	}

/* ---------------------------------------------------------------- the queues */

/*
 * REF_RING - a reference ring's adapters for the workload: send and receive through its own
 * inline operations (ref_<ring>_send/_recv), the end of the stream as one POISON per consumer,
 * the expanded workload, and its free.
 */
#define REF_RING(tag, type, ring)                                                                  \
	static inline void tag##_send(type *q, void *m)                                            \
	{                                                                                          \
		ring##_send(q, m);                                                                 \
	}                                                                                          \
                                                                                                   \
	static inline bool tag##_recv(type *q, void **m)                                           \
	{                                                                                          \
		*m = ring##_recv(q);                                                               \
		return *m != POISON;                                                               \
	}                                                                                          \
                                                                                                   \
	static inline void tag##_finish(type *q, unsigned consumers)                               \
	{                                                                                          \
		for (unsigned i = 0; i < consumers; i++)                                           \
			ring##_send(q, POISON);                                                    \
	}                                                                                          \
                                                                                                   \
	REF_WORKLOAD(tag, type)                                                                    \
                                                                                                   \
	static void tag##_free(void *q)                                                            \
	{                                                                                          \
		ring##_free(q);                                                                    \
	}

REF_RING(vy, struct ref_vyukov, ref_vyukov)

static void *vy_make(const char *name, size_t depth, size_t *held)
{
	(void)name;
	*held = depth;
	return ref_vyukov_new(depth);
}

REF_RING(sp, struct ref_spsc, ref_spsc)

static void *sp_make(const char *name, size_t depth, size_t *held)
{
	(void)name;
	*held = depth;
	return ref_spsc_new(depth);
}

#ifdef PATLAB_REF_CK
REF_RING(ck, struct ref_ck, ref_ck)

static void *ck_make(const char *name, size_t depth, size_t *held)
{
	struct ref_ck *r = ref_ck_new(depth);

	(void)name;
	if (r != NULL)
		*held = r->held;
	return r;
}
#endif

/* The kinds: the public API, as a user calls it. An unexpected error is fatal (exit 1). */
static inline void kind_send(pl_chan *ch, void *m)
{
	int rc = pl_chan_send(ch, m, NULL);

	if (unlikely(rc != 0))
		die("%s: pl_chan_send: %s", pl_chan_kind(ch), strerror(-rc));
}

static inline bool kind_recv(pl_chan *ch, void **m)
{
	int rc = pl_chan_recv(ch, m, NULL);

	if (likely(rc == 0))
		return true;
	if (rc != -EPIPE)
		die("%s: pl_chan_recv: %s", pl_chan_kind(ch), strerror(-rc));
	return false;
}

static inline void kind_finish(pl_chan *ch, unsigned consumers)
{
	int rc = pl_chan_close(ch);

	(void)consumers;
	if (rc != 0)
		die("%s: pl_chan_close: %s", pl_chan_kind(ch), strerror(-rc));
}

REF_WORKLOAD(kind, pl_chan)

static void *kind_make(const char *name, size_t depth, size_t *held)
{
	*held = depth;
	return pl_chan_new(name, depth);
}

static void kind_free(void *q)
{
	pl_chan_free(q);
}

struct queue {
	const char *name;
	bool patlab; /* a channel kind (else a reference) */
	bool spsc;   /* one producer and one consumer only */
	/* A queue of @depth (NULL and errno when refused); *held: the capacity it really has. */
	void *(*make)(const char *name, size_t depth, size_t *held);
	void (*destroy)(void *q);
	void *(*produce)(void *w);
	void *(*consume)(void *w);
	void *(*ping)(void *w);
	void *(*pong)(void *w);
	void (*finish)(void *q, unsigned consumers);
};

#define REF_QUEUE(qname, tag, is_spsc)                                                             \
	{                                                                                          \
		.name = qname, .patlab = false, .spsc = is_spsc, .make = tag##_make,               \
		.destroy = tag##_free, .produce = tag##_produce, .consume = tag##_consume,         \
		.ping = tag##_ping, .pong = tag##_pong, .finish = tag##_finish_fn,                 \
	}

static const struct queue references[] = {
    REF_QUEUE("ref-vyukov", vy, false),
    REF_QUEUE("ref-spsc", sp, true),
#ifdef PATLAB_REF_CK
    REF_QUEUE("ck-spsc", ck, true),
#endif
};

#define NREFS (sizeof(references) / sizeof(references[0]))

/* Every queue this binary knows: the references, then the kinds of pl_chan_kinds(). */
static struct queue all_queues[NREFS + MAX_LIST];
static size_t n_all_queues;

static void list_queues(void)
{
	const char *const *kinds = pl_chan_kinds();

	for (size_t i = 0; i < NREFS; i++)
		all_queues[n_all_queues++] = references[i];
	for (size_t i = 0; kinds[i] != NULL && n_all_queues < NREFS + MAX_LIST; i++) {
		struct pl_chan_kind_info info;

		if (pl_chan_kind_info(kinds[i], &info) != 0)
			die("pl_chan_kind_info(%s) refused a listed kind", kinds[i]);
		all_queues[n_all_queues++] = (struct queue){
		    .name = kinds[i],
		    .patlab = true,
		    .spsc = info.spsc,
		    .make = kind_make,
		    .destroy = kind_free,
		    .produce = kind_produce,
		    .consume = kind_consume,
		    .ping = kind_ping,
		    .pong = kind_pong,
		    .finish = kind_finish_fn,
		};
	}
}

static const struct queue *find_queue(const char *name)
{
	for (size_t i = 0; i < n_all_queues; i++)
		if (strcmp(all_queues[i].name, name) == 0)
			return &all_queues[i];
	return NULL;
}

/* ---------------------------------------------------------------- options */

struct topo {
	unsigned producers;
	unsigned consumers;
	char name[24];
};

static struct {
	const struct queue *queues[NREFS + MAX_LIST];
	size_t n_queues;
	struct topo topos[MAX_LIST];
	size_t n_topos;
	size_t depths[MAX_LIST];
	size_t n_depths;
	bool pingpong;
	unsigned reps;
	double seconds;
	const char *csv;
	bool quiet;
} opt = {.pingpong = true, .reps = 5, .seconds = 0.5};

static const char usage[] =
    "usage: patlab-ref [options]\n"
    "Throughput of patlab's channel kinds beside the plain rings they are built from, in one\n"
    "interleaved run: P producers -> one queue -> C consumers, blocking when full/empty,\n"
    "every message checked exactly once; and a ping-pong round trip per queue.\n"
    "\n"
    "  --queues LIST    queues to measure (default: all): %s\n"
    "  --topo LIST      topologies NpMc (default 1p1c,2p2c,4p4c,4p1c,1p4c,16p16c; N, M <= 256);\n"
    "                   single-producer/single-consumer queues run at 1p1c only\n"
    "  --depth LIST     queue capacities >= 1 (default 1024)\n"
    "  --pingpong       measure the ping-pong round trip (default), capacity 1\n"
    "  --no-pingpong    do not\n"
    "  --reps N         repetitions, interleaved over every point (default 5)\n"
    "  --seconds S      measured seconds per repetition (default 0.5), after a warm-up of\n"
    "                   min(0.1, S/4) s\n"
    "  --csv FILE       also write one CSV row per (queue, topology, depth, repetition)\n"
    "  --quiet          no progress on stderr\n"
    "  --help           this text\n"
    "\n"
    "Output: a markdown table per depth on stdout, cells median (min-max) M msg/s, and the\n"
    "ratio of each kind to its reference. Exit: 0; 1 a system error; 2 bad arguments;\n"
    "3 an exactly-once check failed (the line says what).\n";

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("patlab-ref: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (see --help)\n", stderr);
	va_end(ap);
	exit(2);
}

/* split - the comma-separated items of @list into @items (at most MAX_LIST), in place. */
static size_t split(const char *optname, char *list, char **items)
{
	size_t n = 0;
	char *p = list;

	if (*list == '\0')
		bad("%s: empty list", optname);
	for (;;) {
		char *comma = strchr(p, ',');

		if (comma != NULL)
			*comma = '\0';
		if (*p == '\0')
			bad("%s: empty item in '%s'", optname, list);
		if (n == MAX_LIST)
			bad("%s: more than %d items", optname, MAX_LIST);
		for (size_t i = 0; i < n; i++)
			if (strcmp(items[i], p) == 0)
				bad("%s: '%s' given twice", optname, p);
		items[n++] = p;
		if (comma == NULL)
			return n;
		p = comma + 1;
	}
}

/* parse_uint - @s as a decimal integer in [@lo, @hi] into *@out; false when it is not. */
static bool parse_uint(const char *s, unsigned long long lo, unsigned long long hi,
		       unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static void parse_topo(char *s, struct topo *t)
{
	char *p = strchr(s, 'p');
	unsigned long long np, nc;
	size_t len = strlen(s);

	if (p == NULL || len < 4 || s[len - 1] != 'c')
		bad("--topo: bad value '%s' (NpMc, e.g. 2p2c)", s);
	*p = '\0';
	s[len - 1] = '\0';
	if (!parse_uint(s, 1, MAX_SIDE, &np) || !parse_uint(p + 1, 1, MAX_SIDE, &nc)) {
		*p = 'p';
		s[len - 1] = 'c';
		bad("--topo: bad value '%s' (NpMc with 1 <= N, M <= %d)", s, MAX_SIDE);
	}
	t->producers = (unsigned)np;
	t->consumers = (unsigned)nc;
	snprintf(t->name, sizeof(t->name), "%llup%lluc", np, nc);
}

static void parse_args(int argc, char **argv)
{
	char def_topos[] = "1p1c,2p2c,4p4c,4p1c,1p4c,16p16c";
	char *queues = NULL, *topos = def_topos, *depths = NULL;
	char *items[MAX_LIST];
	size_t n;

	for (int i = 1; i < argc; i++) {
		char *a = argv[i], *val = NULL, *eq;
		bool takes = strcmp(a, "--queues") == 0 || strcmp(a, "--topo") == 0 ||
			     strcmp(a, "--depth") == 0 || strcmp(a, "--reps") == 0 ||
			     strcmp(a, "--seconds") == 0 || strcmp(a, "--csv") == 0;

		if (strncmp(a, "--", 2) == 0 && (eq = strchr(a, '=')) != NULL) {
			*eq = '\0';
			val = eq + 1;
			takes = true;
		} else if (takes) {
			if (i + 1 >= argc)
				bad("%s needs a value", a);
			val = argv[++i];
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			char names[512] = "";

			for (size_t k = 0; k < n_all_queues; k++) {
				strncat(names, all_queues[k].name,
					sizeof(names) - strlen(names) - 1);
				if (k + 1 < n_all_queues)
					strncat(names, ", ", sizeof(names) - strlen(names) - 1);
			}
			printf(usage, names);
			exit(0);
		} else if (strcmp(a, "--queues") == 0) {
			queues = val;
		} else if (strcmp(a, "--topo") == 0) {
			topos = val;
		} else if (strcmp(a, "--depth") == 0) {
			depths = val;
		} else if (strcmp(a, "--reps") == 0) {
			unsigned long long v;

			if (!parse_uint(val, 1, MAX_REPS, &v))
				bad("--reps: bad value '%s' (an integer from 1 to %d)", val,
				    MAX_REPS);
			opt.reps = (unsigned)v;
		} else if (strcmp(a, "--seconds") == 0) {
			char *end;
			double v;

			errno = 0;
			v = strtod(val, &end);
			if (*val == '\0' || *end != '\0' || errno != 0 || !(v > 0) ||
			    v > MAX_SECONDS)
				bad("--seconds: bad value '%s' (seconds, > 0 and <= %g)", val,
				    MAX_SECONDS);
			opt.seconds = v;
		} else if (strcmp(a, "--csv") == 0) {
			if (*val == '\0')
				bad("--csv: empty file name");
			opt.csv = val;
		} else if (val != NULL) {
			if (strcmp(a, "--pingpong") == 0 || strcmp(a, "--no-pingpong") == 0 ||
			    strcmp(a, "--quiet") == 0 || strcmp(a, "--help") == 0)
				bad("%s takes no value", a);
			bad("unknown option '%s'", a);
		} else if (strcmp(a, "--pingpong") == 0) {
			opt.pingpong = true;
		} else if (strcmp(a, "--no-pingpong") == 0) {
			opt.pingpong = false;
		} else if (strcmp(a, "--quiet") == 0) {
			opt.quiet = true;
		} else if (a[0] == '-') {
			bad("unknown option '%s'", a);
		} else {
			bad("unexpected argument '%s'", a);
		}
	}

	if (queues == NULL) {
		for (size_t k = 0; k < n_all_queues; k++)
			opt.queues[opt.n_queues++] = &all_queues[k];
	} else {
		n = split("--queues", queues, items);
		for (size_t k = 0; k < n; k++) {
			const struct queue *q = find_queue(items[k]);

			if (q == NULL) {
				char names[512] = "";

				for (size_t j = 0; j < n_all_queues; j++) {
					strncat(names, all_queues[j].name,
						sizeof(names) - strlen(names) - 1);
					if (j + 1 < n_all_queues)
						strncat(names, ", ",
							sizeof(names) - strlen(names) - 1);
				}
				bad("--queues: unknown queue '%s' (valid: %s)", items[k], names);
			}
			opt.queues[opt.n_queues++] = q;
		}
	}
	n = split("--topo", topos, items);
	for (size_t k = 0; k < n; k++)
		parse_topo(items[k], &opt.topos[opt.n_topos++]);
	if (depths == NULL) {
		opt.depths[opt.n_depths++] = 1024;
	} else {
		n = split("--depth", depths, items);
		for (size_t k = 0; k < n; k++) {
			unsigned long long v;

			if (!parse_uint(items[k], 1, MAX_DEPTH, &v))
				bad("--depth: bad value '%s' (an integer from 1 to %zu)", items[k],
				    MAX_DEPTH);
			opt.depths[opt.n_depths++] = (size_t)v;
		}
	}
}

/* ---------------------------------------------------------------- points and runs */

/* One cell of the output: a queue at a topology and depth, or its ping-pong (topo NULL). */
struct point {
	const struct queue *q;
	const struct topo *topo;
	size_t depth;
	size_t held;
	bool refused; /* the queue refused this depth: cell "refused", no rows */
	int refused_errno;
	double *val; /* per repetition: M msg/s, or the round trip in ns; NAN: nothing measured */
};

static struct point *points;
static size_t n_points;

static void add_point(const struct queue *q, const struct topo *t, size_t depth)
{
	struct point *p = &points[n_points++];

	p->q = q;
	p->topo = t;
	p->depth = depth;
	p->val = malloc(opt.reps * sizeof(double));
	if (p->val == NULL)
		die("out of memory");
	for (unsigned r = 0; r < opt.reps; r++)
		p->val[r] = NAN;
}

static void plan(void)
{
	points = calloc(opt.n_queues * (opt.n_topos * opt.n_depths + 1), sizeof(*points));
	if (points == NULL)
		die("out of memory");
	for (size_t qi = 0; qi < opt.n_queues; qi++) {
		const struct queue *q = opt.queues[qi];

		for (size_t d = 0; d < opt.n_depths; d++)
			for (size_t t = 0; t < opt.n_topos; t++)
				if (!q->spsc ||
				    (opt.topos[t].producers == 1 && opt.topos[t].consumers == 1))
					add_point(q, &opt.topos[t], opt.depths[d]);
		if (opt.pingpong)
			add_point(q, NULL, 1);
	}
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) != 0)
		if (errno != EINTR)
			die("nanosleep: %s", strerror(errno));
}

static void start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int rc = pthread_create(t, NULL, fn, arg);

	if (rc != 0)
		die("pthread_create: %s", strerror(rc));
}

static void join(pthread_t t)
{
	int rc = pthread_join(t, NULL);

	if (rc != 0)
		die("pthread_join: %s", strerror(rc));
}

/* Sum of s and of s^2 for s in 0 .. n - 1, modulo 2^64, as the consumers' tallies add them. */
static uint64_t sum_upto(uint64_t n)
{
	return n % 2 == 0 ? n / 2 * (n - 1) : (n - 1) / 2 * n;
}

static uint64_t sumsq_upto(uint64_t n)
{
	/* (n - 1) n (2n - 1) / 6: divide the factors by 2 and 3 first, then wrap. */
	uint64_t f[3] = {n - 1, n, 2 * n - 1};
	bool two = false, three = false;

	if (n == 0)
		return 0;
	for (int i = 0; i < 3; i++) {
		if (!two && f[i] % 2 == 0) {
			f[i] /= 2;
			two = true;
		}
		if (!three && f[i] % 3 == 0) {
			f[i] /= 3;
			three = true;
		}
	}
	return f[0] * f[1] * f[2];
}

/*
 * verify - the exactly-once verdict of a finished P -> C run: true, or false with @why filled
 * (the first thing found wrong).
 */
static bool verify(const struct run *run, const struct worker *w, char *why, size_t n)
{
	const struct worker *cons = w + run->producers;

	for (unsigned c = 0; c < run->consumers; c++) {
		if (cons[c].foreign != 0) {
			snprintf(why, n,
				 "consumer %u received %" PRIu64 " message(s) no producer sent", c,
				 cons[c].foreign);
			return false;
		}
		if (cons[c].misordered != 0) {
			snprintf(why, n,
				 "consumer %u saw a producer's messages out of order (or twice) "
				 "%" PRIu64 " time(s)",
				 c, cons[c].misordered);
			return false;
		}
	}
	for (unsigned p = 0; p < run->producers; p++) {
		uint64_t sent = w[p].to, count = 0, sum = 0, sumsq = 0;

		for (unsigned c = 0; c < run->consumers; c++) {
			count += cons[c].tally[p].count;
			sum += cons[c].tally[p].sum;
			sumsq += cons[c].tally[p].sumsq;
		}
		if (count != sent) {
			snprintf(why, n,
				 "producer %u sent %" PRIu64
				 " messages, consumers received %" PRIu64 " (%s)",
				 p, sent, count, count < sent ? "lost" : "duplicated");
			return false;
		}
		if (sum != sum_upto(sent) || sumsq != sumsq_upto(sent)) {
			snprintf(why, n,
				 "producer %u sent %" PRIu64 " messages and as many were received, "
				 "but not the ones sent (some lost, others duplicated)",
				 p, sent);
			return false;
		}
	}
	return true;
}

static const char *build_name(void)
{
	static char b[64];

	snprintf(b, sizeof(b), "%s%s%s", PATLAB_BUILD_TYPE, PATLAB_SANITIZER[0] ? "+" : "",
		 PATLAB_SANITIZER);
	return b;
}

static FILE *csv;

static void csv_row(const struct point *p, unsigned rep, double secs, uint64_t count, bool ok)
{
	char topo[32];

	if (csv == NULL)
		return;
	if (p->topo == NULL)
		snprintf(topo, sizeof(topo), "pingpong");
	else
		snprintf(topo, sizeof(topo), "%s", p->topo->name);
	fprintf(csv, "%s,%s,%s,%u,%u,%zu,%zu,%u,%.6f,%" PRIu64 ",", p->q->name,
		p->q->patlab ? "patlab" : "reference", topo, p->topo ? p->topo->producers : 1,
		p->topo ? p->topo->consumers : 1, p->depth, p->held, rep + 1, secs, count);
	if (p->topo == NULL)
		fprintf(csv, "%.1f,%.1f,", count / secs, count ? secs * 1e9 / count : 0.0);
	else
		fprintf(csv, "%.1f,,", count / secs);
	fprintf(csv, "%s,%s,%s\n", ok ? "ok" : "FAIL", build_name(), __VERSION__);
	if (fflush(csv) != 0 || ferror(csv))
		die("%s: write failed: %s", opt.csv, strerror(errno));
}

/*
 * run_point - repetition @rep of @p: threads started, measured, joined, checked. Fills
 * p->val[rep] and a CSV row. Returns 0, or 3 after printing what failed the check.
 */
static int run_point(struct point *p, unsigned rep)
{
	const struct queue *q = p->q;
	bool pp = p->topo == NULL;
	unsigned np = pp ? 1 : p->topo->producers, nc = pp ? 1 : p->topo->consumers;
	unsigned nt = np + nc;
	double warmup = opt.seconds / 4 < 0.1 ? opt.seconds / 4 : 0.1;
	struct run *run;
	struct worker *w;
	pthread_t *th;
	int64_t t1, t2;
	uint64_t count = 0;
	char why[256];
	bool ok = true;
	int rc;

	if (p->refused)
		return 0;
	run = aligned_alloc(REF_FALSE_SHARING, sizeof(*run));
	w = aligned_alloc(REF_FALSE_SHARING, nt * sizeof(*w));
	th = calloc(nt, sizeof(*th));
	if (run == NULL || w == NULL || th == NULL)
		die("out of memory");
	memset(run, 0, sizeof(*run));
	memset(w, 0, nt * sizeof(*w));
	run->producers = np;
	run->consumers = nc;
	run->q = q->make(q->name, p->depth, &p->held);
	if (run->q != NULL && pp)
		run->back = q->make(q->name, p->depth, &p->held);
	if (run->q == NULL || (pp && run->back == NULL)) {
		if (errno != EINVAL && errno != ENOSYS)
			die("%s: making a queue of capacity %zu: %s", q->name, p->depth,
			    strerror(errno));
		p->refused = true;
		p->refused_errno = errno;
		if (run->q != NULL)
			q->destroy(run->q);
		fprintf(stderr, "patlab-ref: %s refuses capacity %zu (%s): skipped\n", q->name,
			p->depth, strerror(errno));
		free(run);
		free(w);
		free(th);
		return 0;
	}
	atomic_init(&run->phase, WARMUP);
	atomic_store(&fault_armed, fault != FAULT_NONE); /* before pthread_create(): no race */
	rc = pthread_barrier_init(&run->start, NULL, nt + 1);
	if (rc != 0)
		die("pthread_barrier_init: %s", strerror(rc));
	for (unsigned i = 0; i < nt; i++) {
		w[i].run = run;
		w[i].id = i < np ? i : i - np;
		if (i >= np && !pp) {
			w[i].tally = calloc(np, sizeof(struct tally));
			if (w[i].tally == NULL)
				die("out of memory");
		}
	}
	for (unsigned i = 0; i < nt; i++) {
		void *(*fn)(void *);

		if (pp)
			fn = i == 0 ? q->ping : q->pong;
		else
			fn = i < np ? q->produce : q->consume;
		start(&th[i], fn, &w[i]);
	}

	barrier_wait(&run->start);
	sleep_s(warmup);
	t1 = pl_now_ns();
	atomic_store_explicit(&run->phase, MEASURE, memory_order_relaxed);
	sleep_s(opt.seconds);
	atomic_store_explicit(&run->phase, STOP, memory_order_relaxed);
	t2 = pl_now_ns();

	if (pp) {
		/* The ping thread ends the stream itself, after its last round trip. */
		join(th[0]);
		join(th[1]);
	} else {
		for (unsigned i = 0; i < np; i++)
			join(th[i]);
		q->finish(run->q, nc);
		for (unsigned i = np; i < nt; i++)
			join(th[i]);
	}
	for (unsigned i = 0; i < np; i++)
		count += w[i].to - w[i].from;

	if (pp) {
		if (w[0].wrong_reply != 0) {
			snprintf(why, sizeof(why),
				 "%" PRIu64 " ping-pong repl%s not the message sent",
				 w[0].wrong_reply, w[0].wrong_reply == 1 ? "y was" : "ies were");
			ok = false;
		}
		if (count > 0)
			p->val[rep] = (double)(t2 - t1) / (double)count;
	} else {
		ok = verify(run, w, why, sizeof(why));
		p->val[rep] = (double)count / ((double)(t2 - t1) / 1e9) / 1e6;
	}
	csv_row(p, rep, (double)(t2 - t1) / 1e9, count, ok);

	pthread_barrier_destroy(&run->start);
	q->destroy(run->q);
	if (pp)
		q->destroy(run->back);
	for (unsigned i = np; i < nt; i++)
		free(w[i].tally);
	free(run);
	free(w);
	free(th);
	if (!ok) {
		fprintf(stderr,
			"patlab-ref: exactly-once check FAILED: %s %s depth %zu rep %u: %s\n",
			q->name, pp ? "ping-pong" : p->topo->name, p->depth, rep + 1, why);
		return 3;
	}
	return 0;
}

/* ---------------------------------------------------------------- the tables */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* stats - median, min and max of @p's measured repetitions; false when there are none. */
static bool stats(const struct point *p, double *med, double *lo, double *hi)
{
	double v[MAX_REPS];
	unsigned n = 0;

	if (p == NULL || p->refused)
		return false;
	for (unsigned r = 0; r < opt.reps; r++)
		if (!isnan(p->val[r]))
			v[n++] = p->val[r];
	if (n == 0)
		return false;
	qsort(v, n, sizeof(double), cmp_double);
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*lo = v[0];
	*hi = v[n - 1];
	return true;
}

/* fmt - @v with about three significant digits, never in exponent form. */
static const char *fmt(char *buf, size_t n, double v)
{
	if (v >= 100)
		snprintf(buf, n, "%.0f", v);
	else if (v >= 10)
		snprintf(buf, n, "%.1f", v);
	else if (v >= 1)
		snprintf(buf, n, "%.2f", v);
	else
		snprintf(buf, n, "%.3g", v);
	return buf;
}

static const struct point *find_point(const struct queue *q, const struct topo *t, size_t depth)
{
	for (size_t i = 0; i < n_points; i++)
		if (points[i].q == q && points[i].topo == t &&
		    (t == NULL || points[i].depth == depth))
			return &points[i];
	return NULL;
}

static void cell(const struct point *p, const char *unit)
{
	char a[32], b[32], c[32];
	double med, lo, hi;

	if (p == NULL)
		printf(" — |");
	else if (p->refused)
		printf(" refused (%s) |", p->refused_errno == ENOSYS ? "ENOSYS" : "EINVAL");
	else if (!stats(p, &med, &lo, &hi))
		printf(" no round trip |");
	else
		printf(" %s%s (%s-%s) |", fmt(a, sizeof(a), med), unit, fmt(b, sizeof(b), lo),
		       fmt(c, sizeof(c), hi));
}

/* ratio_cell - median of @p over median of @ref (ping-pong: @ref's RTT over @p's). */
static void ratio_cell(const struct point *p, const struct point *ref, bool pingpong)
{
	double m1, m2, lo, hi;

	if (!stats(p, &m1, &lo, &hi) || !stats(ref, &m2, &lo, &hi) || m1 <= 0 || m2 <= 0)
		printf(" — |");
	else
		printf(" %.2f |", pingpong ? m2 / m1 : m1 / m2);
}

static void header_row(const char *first)
{
	printf("| %s |", first);
	for (size_t t = 0; t < opt.n_topos; t++)
		printf(" %s |", opt.topos[t].name);
	if (opt.pingpong)
		printf(" ping-pong RTT (cap 1) |");
	printf("\n|---|");
	for (size_t t = 0; t < opt.n_topos + opt.pingpong; t++)
		printf("---|");
	printf("\n");
}

static void ratio_row(const struct queue *q, const struct queue *ref, size_t depth)
{
	printf("| %s / %s |", q->name, ref->name);
	for (size_t t = 0; t < opt.n_topos; t++)
		ratio_cell(find_point(q, &opt.topos[t], depth),
			   find_point(ref, &opt.topos[t], depth), false);
	if (opt.pingpong)
		ratio_cell(find_point(q, NULL, 0), find_point(ref, NULL, 0), true);
	printf("\n");
}

static void tables(void)
{
	const struct queue *vy = NULL, *spsc_refs[NREFS];
	size_t n_spsc_refs = 0;
	bool any_kind = false;

	for (size_t i = 0; i < opt.n_queues; i++) {
		const struct queue *q = opt.queues[i];

		if (strcmp(q->name, "ref-vyukov") == 0)
			vy = q;
		else if (!q->patlab && q->spsc)
			spsc_refs[n_spsc_refs++] = q;
		any_kind |= q->patlab;
	}
	for (size_t d = 0; d < opt.n_depths; d++) {
		printf(
		    "\n## Depth %zu: M msg/s, median (min-max) of %u interleaved repetition%s of "
		    "%g s\n\n",
		    opt.depths[d], opt.reps, opt.reps == 1 ? "" : "s", opt.seconds);
		header_row("queue");
		for (size_t i = 0; i < opt.n_queues; i++) {
			const struct queue *q = opt.queues[i];

			printf("| %s |", q->name);
			for (size_t t = 0; t < opt.n_topos; t++)
				cell(find_point(q, &opt.topos[t], opt.depths[d]), "");
			if (opt.pingpong)
				cell(find_point(q, NULL, 0), " ns");
			printf("\n");
		}
		if (!any_kind || (vy == NULL && n_spsc_refs == 0))
			continue;
		printf("\nRatios at depth %zu (median / median%s; below 1 is slower than the "
		       "reference):\n\n",
		       opt.depths[d],
		       opt.pingpong ? "; ping-pong: the reference's RTT / the queue's" : "");
		header_row("kind / reference");
		for (size_t i = 0; i < opt.n_queues; i++) {
			const struct queue *q = opt.queues[i];

			if (!q->patlab)
				continue;
			if (vy != NULL)
				ratio_row(q, vy, opt.depths[d]);
			if (q->spsc)
				for (size_t k = 0; k < n_spsc_refs; k++)
					ratio_row(q, spsc_refs[k], opt.depths[d]);
		}
	}
#ifdef PATLAB_REF_CK
	for (size_t i = 0; i < opt.n_queues; i++) {
		if (strcmp(opt.queues[i]->name, "ck-spsc") != 0)
			continue;
		printf("\nck-spsc can only hold 2^k - 1 messages (ck_ring keeps one slot of a "
		       "power-of-two array empty); it holds the nearest to the depth:");
		for (size_t d = 0; d < opt.n_depths; d++)
			printf("%s %zu at depth %zu", d ? "," : "", ref_ck_held(opt.depths[d]),
			       opt.depths[d]);
		printf(".\n");
	}
#endif
}

int main(int argc, char **argv)
{
	const char *f = getenv("PATLAB_REF_FAULT");
	size_t total;
	double load[3] = {-1, -1, -1};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int rc = 0;

	list_queues();
	parse_args(argc, argv);
	if (f != NULL && *f != '\0') {
		if (strcmp(f, "drop") == 0)
			fault = FAULT_DROP;
		else if (strcmp(f, "dup") == 0)
			fault = FAULT_DUP;
		else
			bad("PATLAB_REF_FAULT: bad value '%s' (drop or dup)", f);
	}
	if (opt.csv != NULL) {
		csv = fopen(opt.csv, "w");
		if (csv == NULL)
			die("%s: %s", opt.csv, strerror(errno));
		fprintf(csv,
			"queue,family,topo,producers,consumers,depth,held,rep,seconds,messages,"
			"msgs_per_s,rtt_ns,exactly_once,build,compiler\n");
	}
	plan();
	total = n_points * opt.reps;
	if (getloadavg(load, 3) < 0)
		load[0] = -1;

	for (unsigned rep = 0, done = 0; rep < opt.reps && rc == 0; rep++) {
		for (size_t i = 0; i < n_points && rc == 0; i++, done++) {
			struct point *p = &points[i];
			char v[32];

			rc = run_point(p, rep);
			if (opt.quiet || p->refused)
				continue;
			if (p->topo == NULL)
				fprintf(stderr, "[%u/%zu] rep %u %s ping-pong: %s ns\n", done + 1,
					total, rep + 1, p->q->name,
					isnan(p->val[rep]) ? "-" : fmt(v, sizeof(v), p->val[rep]));
			else
				fprintf(stderr, "[%u/%zu] rep %u %s %s depth %zu: %s M msg/s\n",
					done + 1, total, rep + 1, p->q->name, p->topo->name,
					p->depth, fmt(v, sizeof(v), p->val[rep]));
		}
	}
	if (csv != NULL && fclose(csv) != 0)
		die("%s: %s", opt.csv, strerror(errno));
	if (rc != 0)
		return rc;

	printf("# patlab-ref: channel kinds beside their reference rings\n\n");
	printf("Build %s (%s), %ld CPUs online, load average %.2f at the start; P producers -> "
	       "one queue -> C consumers, pointer-sized messages, every message checked "
	       "exactly once (all passed).\n",
	       build_name(), __VERSION__, cpus, load[0]);
	if (PATLAB_SANITIZER[0] != '\0')
		printf("\n**Sanitized build: these figures are not performance numbers.**\n");
	tables();
	for (size_t i = 0; i < n_points; i++)
		free(points[i].val);
	free(points);
	return 0;
}
