/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_SAMPLING_H
#define PATLAB_SAMPLING_H

/*
 * Internal: the near-free instrument of the raw channel workloads (harness/chan_workload.c):
 * sampled latency, and an exactly-once / order check that costs O(1) per message and no shared
 * write.
 *
 * A message is one pointer-sized word that says who sent it and which it was:
 *
 *   bits 63..18: the producer's sequence number (0, 1, 2, ... warm-up included)
 *   bits 17..2:  the producer's id (< PL__MSG_PRODUCERS)
 *   bit  1:      sampled: the producer took its send time (and the consumer takes its own)
 *   bit  0:      measured: sent inside the measured window
 *
 * Latency by sampling (struct pl__sampler): a producer times one message in k on average,
 * chosen by a countdown whose every reload draws a gap uniformly from [1, 2k - 1] (random
 * gaps: a fixed stride could alias with a ring's size or a batch's length). Unsampled messages
 * cost a decrement and a branch and read no clock on either side. The interval k is:
 * - forced (`--lat-sample N`, N >= 1): N for every producer; 1 times every message;
 * - auto, messages mode: the largest power of two leaving each producer its part of
 *   PL__LAT_TARGET samples (so a point gets at least that many), 1 when fewer messages pass;
 * - auto, seconds mode: a power of two adapted at run time, every PL__SAMPLER_EPOCH samples:
 *   from the producer's average message rate since its first sample (messages counted through
 *   the gaps, time from its sample clock reads), the interval k* that would give its part of
 *   PL__LAT_TARGET samples over the point's seconds; k is moved to the largest power of two
 *   <= k* whenever it leaves (k* / 2, k*]. The average, not the rate of the last few samples:
 *   a producer that runs in bursts (a loaded machine, a full channel) must not size its
 *   interval by its bursts. A point then gets PL__LAT_TARGET to twice that many samples while
 *   its rate holds. It starts at 1; the warm-up adapts it too (timed, not recorded).
 * In auto mode every sample is recorded with weight k (the interval it stood for), so that the
 * histogram is that of the messages, whatever mix of intervals (over time, across producers
 * of different speeds) took them; forced samples weigh 1.
 *
 * Timestamps live off the message: a producer appends (seq, send ticks) to its own buffer,
 * a consumer (receive ticks, the message) to its own; after the join pl__samples_match()
 * pairs them (binary search in the producer's buffer, sorted by construction) into the
 * histogram. Buffers are capped (struct pl__sbuf): a full producer buffer stops that
 * producer's sampling (it sends no more sampled bits, except where the workload forces one to
 * end a messages-mode window), a full consumer buffer stops recording receive times; either
 * shows as fewer samples (and the workload's "lat_capped" extra).
 *
 * Exactly once and order (struct pl__tally): each consumer keeps, per producer, the count,
 * the sum and the sum of squares (mod 2^64) of the sequence numbers it received, and the next
 * it may receive (each must be above the last: a producer's messages reach one consumer in
 * the order they were sent). After the join pl__tally_verdict() compares them with what each
 * producer sent: sequences 0 .. sent - 1 exactly once.
 *
 * Threads: a sampler, a tally array and a buffer belong to one thread while it runs; the
 * after-join functions read them once pthread_join() ordered everything.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <patlab/hist.h>

/* Message layout (see the top). */
#define PL__MSG_MEASURED  UINT64_C(1)
#define PL__MSG_SAMPLED	  UINT64_C(2)
#define PL__MSG_PID_SHIFT 2
#define PL__MSG_PID_BITS  16
#define PL__MSG_SEQ_SHIFT (PL__MSG_PID_SHIFT + PL__MSG_PID_BITS)
#define PL__MSG_PRODUCERS (1u << PL__MSG_PID_BITS)

/* Auto sampling aims at this many latency samples per point (see the top). */
#define PL__LAT_TARGET 200000
/* Samples between two adaptations of an auto interval (seconds mode). */
#define PL__SAMPLER_EPOCH 16
/* The largest interval: 2^PL__SAMPLER_MAX_LOG2. */
#define PL__SAMPLER_MAX_LOG2 40
/* Sample buffers hold at most this many samples per point, over all producers. */
#define PL__SAMPLES_MAX (UINT64_C(1) << 21)

/* pl__msg - the message of producer @pid's @seq-th send, with the two flag bits @flags. */
static inline uint64_t pl__msg(uint64_t seq, unsigned pid, uint64_t flags)
{
	return seq << PL__MSG_SEQ_SHIFT | (uint64_t)pid << PL__MSG_PID_SHIFT | flags;
}

static inline unsigned pl__msg_pid(uint64_t m)
{
	return (unsigned)(m >> PL__MSG_PID_SHIFT) & (PL__MSG_PRODUCERS - 1);
}

static inline uint64_t pl__msg_seq(uint64_t m)
{
	return m >> PL__MSG_SEQ_SHIFT;
}

/* ---------------------------------------------------------------- the sampling interval */

/*
 * struct pl__sampler - one producer's choice of the messages it times. Owned by its thread.
 * @left:    messages until the next sample, counting the next one (>= 1).
 * @log2k:   the interval is 2^@log2k (auto), or @k (forced).
 */
struct pl__sampler {
	uint64_t left;
	uint64_t k;
	unsigned log2k;
	uint64_t gap;	   /* the gap being counted down */
	bool adapt;	   /* auto, seconds mode: adapt @k over time */
	bool weighted;	   /* auto: samples weigh @k */
	uint64_t rng;	   /* splitmix64 state for the gaps */
	double want_ticks; /* adapt: the wanted time between two samples */
	int64_t origin;	   /* adapt: the first sample's time */
	uint64_t msgs;	   /* adapt: messages since the first sample */
	uint64_t samples;  /* adapt: samples taken */
};

/*
 * pl__sampler_interval - the auto interval of a producer that will send @share measured
 * messages when @producers share PL__LAT_TARGET samples: the largest power of two k with
 * @share / k >= PL__LAT_TARGET / @producers (rounded up), or 1. Returns log2(k).
 */
unsigned pl__sampler_interval(uint64_t share, unsigned producers);

/*
 * pl__sampler_init - @forced > 0: every producer samples one message in @forced; 0: auto,
 * from @share (messages mode: this producer's measured messages) or, when @share is 0, adapted
 * at run time so that @producers producers take about PL__LAT_TARGET samples in @seconds.
 * @seed makes the gaps reproducible (give each producer its own). Call pl__clock_init() first.
 */
void pl__sampler_init(struct pl__sampler *s, uint64_t forced, uint64_t share, unsigned producers,
		      double seconds, uint64_t seed);

/* pl__sampler_due - count one message: true when it is to be timed. The hot path. */
static inline bool pl__sampler_due(struct pl__sampler *s)
{
	return --s->left == 0;
}

/* pl__sampler_weight_log2 - log2 of the weight of a sample taken now (0 unless auto). */
static inline unsigned pl__sampler_weight_log2(const struct pl__sampler *s)
{
	return s->weighted ? s->log2k : 0;
}

/*
 * pl__sampler_next - after a due message, timed at @now (pl__ticks()): adapt the interval
 * (auto, seconds mode) and draw the gap to the next sample.
 */
void pl__sampler_next(struct pl__sampler *s, int64_t now);

/* ---------------------------------------------------------------- sample buffers */

/* A producer's sample: @key = seq << 6 | log2(weight); @ticks = its send time. */
struct pl__psample {
	uint64_t key;
	int64_t ticks;
};

/* A consumer's sample: the message it received and when. */
struct pl__csample {
	uint64_t msg;
	int64_t ticks;
};

/*
 * struct pl__sbuf - a capped array of samples, owned by one thread while it runs. Its memory
 * is reserved, not committed (pages are touched as samples arrive), so a cap sized for the
 * worst case costs only what is used.
 */
struct pl__sbuf {
	void *mem;
	size_t n, cap, elem;
	bool full; /* a sample found it full */
};

/*
 * pl__sbuf_init - room for @cap samples of @elem bytes, the first @touch of them (at most @cap)
 * touched now, so that the samples a run expects take no page fault while it measures.
 * 0 or -ENOMEM.
 */
int pl__sbuf_init(struct pl__sbuf *b, size_t cap, size_t elem, size_t touch);

/* pl__sbuf_free - release @b (zeroed or initialised; twice is fine). */
void pl__sbuf_free(struct pl__sbuf *b);

/* pl__sbuf_room - there is room for one more sample; else marks @b full. */
static inline bool pl__sbuf_room(struct pl__sbuf *b)
{
	if (b->n < b->cap)
		return true;
	b->full = true;
	return false;
}

static inline void pl__psample_put(struct pl__sbuf *b, uint64_t seq, unsigned wlog2, int64_t t)
{
	struct pl__psample *e = (struct pl__psample *)b->mem + b->n++;

	e->key = seq << 6 | wlog2;
	e->ticks = t;
}

static inline void pl__csample_put(struct pl__sbuf *b, uint64_t msg, int64_t t)
{
	struct pl__csample *e = (struct pl__csample *)b->mem + b->n++;

	e->msg = msg;
	e->ticks = t;
}

/*
 * pl__samples_match - after the join: for every consumer sample (@cons[0 .. @consumers - 1])
 * of a measured message whose (producer, seq) is in that producer's buffer (@prod[id], @producers
 * of them), record receive - send in ns into @h with the producer
 * sample's weight. Returns the samples matched.
 */
uint64_t pl__samples_match(pl_hist *h, struct pl__sbuf *const *prod, unsigned producers,
			   struct pl__sbuf *const *cons, unsigned consumers);

/*
 * pl__samples_shadow - the accuracy check of sampling, within one run: the same matching as
 * pl__samples_match(), but each matched sample is kept with probability 1/@k (drawn from
 * @seed) and recorded into @sub with @k times its weight. Run over samples of every message
 * (interval 1), @sub is what sampling at interval @k would have reported of the very same
 * messages, so comparing its percentiles with the full histogram's measures the sampling
 * error alone, free of run-to-run variation. Returns the samples kept.
 */
uint64_t pl__samples_shadow(pl_hist *sub, uint64_t k, uint64_t seed, struct pl__sbuf *const *prod,
			    unsigned producers, struct pl__sbuf *const *cons, unsigned consumers);

/* ---------------------------------------------------------------- exactly once, in order */

/*
 * struct pl__tally - what one consumer received from one producer (see the top).
 * @next:      the least sequence number it may receive next (last + 1).
 * @disorder:  receptions below @next; @bad_seq, @bad_after: the first (it came after
 *             @bad_after).
 */
struct pl__tally {
	uint64_t next;
	uint64_t count;
	uint64_t sum;
	uint64_t sumsq;
	uint64_t disorder;
	uint64_t bad_seq, bad_after;
};

void pl__tally_disorder(struct pl__tally *t, uint64_t seq);

/* pl__tally_add - count the reception of sequence number @seq. The hot path. */
static inline void pl__tally_add(struct pl__tally *t, uint64_t seq)
{
	if (__builtin_expect(seq < t->next, 0))
		pl__tally_disorder(t, seq);
	t->next = seq + 1;
	t->count++;
	t->sum += seq;
	t->sumsq += seq * seq;
}

/*
 * pl__tally_verdict - after the join: @tallies[c][p] is what consumer c (of @consumers)
 * received from producer p (of @producers); producer p sent sequences 0 .. @sent[p] - 1.
 * Sets *@lost to the messages sent and never received (summed over producers).
 * Returns 0 when each consumer saw each producer's messages in order and every message was
 * received exactly once; else -EPROTO with @why (@n bytes) saying what was wrong first:
 * "reorder" or "duplicate" (one consumer), "duplicate", "loss", or "duplicate and loss".
 */
int pl__tally_verdict(struct pl__tally *const *tallies, unsigned consumers, unsigned producers,
		      const uint64_t *sent, uint64_t *lost, char *why, size_t n);

#endif /* PATLAB_SAMPLING_H */
