/* SPDX-License-Identifier: MIT */
/*
 * Sampled latency and the exactly-once check of the raw channel workloads (see sampling.h).
 * Only pl__sampler_next() and pl__tally_disorder() run while messages flow, and only on the
 * rare message that is timed or out of order; the rest runs after the join.
 */
#include "harness/sampling.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "harness/tsc.h"
#include "harness/workload_util.h"

/* ---------------------------------------------------------------- the sampling interval */

unsigned pl__sampler_interval(uint64_t share, unsigned producers)
{
	uint64_t want = (PL__LAT_TARGET + producers - 1) / (producers ? producers : 1);
	unsigned l = 0;

	while (l < PL__SAMPLER_MAX_LOG2 && share / (UINT64_C(2) << l) >= want)
		l++;
	return l;
}

/* draw - the gap to the next sample: uniform in [1, 2k - 1], mean k (a multiply and a shift
 * instead of a division: a 64-bit division costs tens of cycles on every sample). */
static uint64_t draw(struct pl__sampler *s)
{
	uint64_t r;

	if (s->k <= 1)
		return 1;
	r = pl__splitmix64(&s->rng);
	if (s->k > (UINT64_C(1) << 31))
		return 1 + r % (2 * s->k - 1);
	return 1 + (((r >> 32) * (2 * s->k - 1)) >> 32);
}

void pl__sampler_init(struct pl__sampler *s, uint64_t forced, uint64_t share, unsigned producers,
		      double seconds, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->rng = seed;
	if (forced > 0) {
		s->k = forced;
	} else {
		s->weighted = true;
		s->log2k = share > 0 ? pl__sampler_interval(share, producers) : 0;
		s->k = UINT64_C(1) << s->log2k;
		s->adapt = share == 0;
		s->want_ticks = (double)pl__ns_to_ticks((int64_t)(seconds * 1e9)) *
				(producers ? producers : 1) / PL__LAT_TARGET;
	}
	s->gap = s->left = draw(s);
}

/* adapt - see the top of sampling.h: k to the largest power of two <= k* when outside
 * (k* / 2, k*]. */
static void adapt(struct pl__sampler *s, int64_t now)
{
	double kstar;
	unsigned l = 0;

	if (now <= s->origin)
		return;
	kstar = s->want_ticks * (double)s->msgs / (double)(now - s->origin);
	if ((double)s->k <= kstar && 2 * (double)s->k > kstar)
		return;
	while (l < PL__SAMPLER_MAX_LOG2 && (double)(UINT64_C(2) << l) <= kstar)
		l++;
	s->log2k = l;
	s->k = UINT64_C(1) << l;
}

void pl__sampler_next(struct pl__sampler *s, int64_t now)
{
	if (s->adapt) {
		if (s->samples++ == 0)
			s->origin = now; /* messages count from here */
		else
			s->msgs += s->gap;
		if (s->samples % PL__SAMPLER_EPOCH == 0)
			adapt(s, now);
	}
	s->gap = s->left = draw(s);
}

/* ---------------------------------------------------------------- sample buffers */

int pl__sbuf_init(struct pl__sbuf *b, size_t cap, size_t elem, size_t touch)
{
	void *m;

	memset(b, 0, sizeof(*b));
	if (cap == 0)
		cap = 1;
	/* Reserved, not committed: untouched pages cost nothing (see the header). */
	m = mmap(NULL, cap * elem, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	b->mem = m;
	b->cap = cap;
	b->elem = elem;
	if (touch > cap)
		touch = cap;
	for (size_t off = 0; off < touch * elem; off += 4096)
		((volatile char *)m)[off] = 0;
	return 0;
}

void pl__sbuf_free(struct pl__sbuf *b)
{
	if (b->mem != NULL)
		munmap(b->mem, b->cap * b->elem);
	memset(b, 0, sizeof(*b));
}

/* find - the producer sample of @seq in @b (sorted by seq), or NULL. */
static const struct pl__psample *find(const struct pl__sbuf *b, uint64_t seq)
{
	const struct pl__psample *e = b->mem;
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t s = e[mid].key >> 6;

		if (s == seq)
			return &e[mid];
		if (s < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * match - pl__samples_match() into @h when @sub is NULL; else pl__samples_shadow() into @sub
 * (each matched sample kept with probability 1/@k, weight multiplied by @k).
 */
static uint64_t match(pl_hist *h, pl_hist *sub, uint64_t k, uint64_t seed,
		      struct pl__sbuf *const *prod, unsigned producers,
		      struct pl__sbuf *const *cons, unsigned consumers)
{
	uint64_t matched = 0;

	for (unsigned c = 0; c < consumers; c++) {
		const struct pl__csample *e = cons[c]->mem;

		for (size_t i = 0; i < cons[c]->n; i++) {
			unsigned pid = pl__msg_pid(e[i].msg);
			const struct pl__psample *s;
			int64_t ns;

			if (!(e[i].msg & PL__MSG_MEASURED) || pid >= producers)
				continue;
			s = find(prod[pid], pl__msg_seq(e[i].msg));
			if (s == NULL)
				continue;
			ns = pl__ticks_to_ns(e[i].ticks - s->ticks);
			if (sub == NULL)
				pl_hist_record_n(h, ns, UINT64_C(1) << (s->key & 63));
			else if (pl__splitmix64(&seed) % k == 0)
				pl_hist_record_n(sub, ns, k << (s->key & 63));
			else
				continue;
			matched++;
		}
	}
	return matched;
}

uint64_t pl__samples_match(pl_hist *h, struct pl__sbuf *const *prod, unsigned producers,
			   struct pl__sbuf *const *cons, unsigned consumers)
{
	return match(h, NULL, 1, 0, prod, producers, cons, consumers);
}

uint64_t pl__samples_shadow(pl_hist *sub, uint64_t k, uint64_t seed, struct pl__sbuf *const *prod,
			    unsigned producers, struct pl__sbuf *const *cons, unsigned consumers)
{
	return match(NULL, sub, k, seed, prod, producers, cons, consumers);
}

/* ---------------------------------------------------------------- exactly once, in order */

void pl__tally_disorder(struct pl__tally *t, uint64_t seq)
{
	if (t->disorder++ == 0) {
		t->bad_seq = seq;
		t->bad_after = t->next - 1;
	}
}

/* sum_to - 0 + 1 + ... + (n - 1), mod 2^64. */
static uint64_t sum_to(uint64_t n)
{
	return n % 2 == 0 ? n / 2 * (n - 1) : (n - 1) / 2 * n;
}

/* sumsq_to - 0^2 + 1^2 + ... + (n - 1)^2 = (n - 1) n (2n - 1) / 6, mod 2^64: each division is
 * exact on the factor it is taken from. */
static uint64_t sumsq_to(uint64_t n)
{
	uint64_t a = n - 1, b = n, c = 2 * n - 1;

	if (n == 0)
		return 0;
	if (a % 2 == 0)
		a /= 2;
	else
		b /= 2;
	if (a % 3 == 0)
		a /= 3;
	else if (b % 3 == 0)
		b /= 3;
	else
		c /= 3;
	return a * b * c;
}

int pl__tally_verdict(struct pl__tally *const *tallies, unsigned consumers, unsigned producers,
		      const uint64_t *sent, uint64_t *lost, char *why, size_t n)
{
	int err = 0;

	*lost = 0;
	why[0] = '\0';
	for (unsigned c = 0; c < consumers; c++)
		for (unsigned p = 0; p < producers; p++) {
			const struct pl__tally *t = &tallies[c][p];

			if (t->disorder == 0 || err != 0)
				continue;
			snprintf(why, n,
				 "%s: consumer %u received producer %u's message #%llu after #%llu "
				 "(%llu out of order)",
				 t->bad_seq == t->bad_after ? "duplicate" : "reorder", c, p,
				 (unsigned long long)t->bad_seq, (unsigned long long)t->bad_after,
				 (unsigned long long)t->disorder);
			err = -EPROTO;
		}
	for (unsigned p = 0; p < producers; p++) {
		uint64_t count = 0, sum = 0, sumsq = 0;
		const char *what = NULL;

		for (unsigned c = 0; c < consumers; c++) {
			count += tallies[c][p].count;
			sum += tallies[c][p].sum;
			sumsq += tallies[c][p].sumsq;
		}
		if (count < sent[p])
			*lost += sent[p] - count;
		if (err != 0)
			continue;
		if (count > sent[p])
			what = "duplicate";
		else if (count < sent[p])
			what = "loss";
		else if (sum != sum_to(sent[p]) || sumsq != sumsq_to(sent[p]))
			what = "duplicate and loss";
		if (what == NULL)
			continue;
		snprintf(why, n, "%s: producer %u sent %llu messages, %llu were received%s", what,
			 p, (unsigned long long)sent[p], (unsigned long long)count,
			 count == sent[p] ? ", some twice and others never" : "");
		err = -EPROTO;
	}
	return err;
}
