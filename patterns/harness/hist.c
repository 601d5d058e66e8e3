/* SPDX-License-Identifier: MIT */
/*
 * Log-linear latency histogram (see patlab/hist.h for the bucket layout and its error bound).
 *
 * Only recording is on a hot path, and it is inline in the header. Everything here runs after
 * the measured threads are joined: merge, percentiles (a walk over the 2240 buckets) and the
 * summary the harness prints and stores.
 */
#include <patlab/hist.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(PL_HIST_BUCKETS == 2240, "bucket layout changed: update patlab/hist.h");

pl_hist *pl_hist_new(void)
{
	pl_hist *h = calloc(1, sizeof(*h));

	if (h == NULL)
		errno = ENOMEM;
	return h;
}

void pl_hist_free(pl_hist *h)
{
	free(h);
}

void pl_hist_reset(pl_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void pl_hist_merge(pl_hist *dst, const pl_hist *src)
{
	if (src->count == 0)
		return;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (unsigned i = 0; i < PL_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
}

int64_t pl_hist_bucket_low(unsigned i)
{
	unsigned shift;

	if (i < PL_HIST_LINEAR)
		return (int64_t)i;
	shift = (i >> PL_HIST_SUB_BITS) - 1;
	return (int64_t)(((uint64_t)(1u << PL_HIST_SUB_BITS) | (i & ((1u << PL_HIST_SUB_BITS) - 1)))
			 << shift);
}

int64_t pl_hist_bucket_width(unsigned i)
{
	if (i < PL_HIST_LINEAR)
		return 1;
	return (int64_t)1 << ((i >> PL_HIST_SUB_BITS) - 1);
}

int64_t pl_hist_percentile(const pl_hist *h, double q)
{
	uint64_t rank, seen = 0;
	double exact;

	if (h->count == 0)
		return 0;
	if (!(q > 0))
		q = 1e-9;
	if (q >= 100)
		return h->max;
	/*
	 * Nearest rank, 1-based: ceil(q/100 * n), by hand so the library needs no libm; the
	 * guard keeps a product that is an integer up to rounding from moving up a rank.
	 */
	exact = q / 100.0 * (double)h->count;
	rank = (uint64_t)exact;
	if ((double)rank < exact - 1e-9)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (unsigned i = 0; i < PL_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			int64_t w = pl_hist_bucket_width(i);
			int64_t v = pl_hist_bucket_low(i) + (w - 1) / 2;

			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max; /* unreachable while count equals the sum of the buckets */
}

double pl_hist_mean(const pl_hist *h)
{
	return h->count == 0 ? 0.0 : h->sum / (double)h->count;
}

struct pl_hist_summary pl_hist_summarize(const pl_hist *h)
{
	struct pl_hist_summary s = {0};

	if (h->count == 0)
		return s;
	s.count = h->count;
	s.p50 = pl_hist_percentile(h, 50);
	s.p90 = pl_hist_percentile(h, 90);
	s.p99 = pl_hist_percentile(h, 99);
	s.p999 = pl_hist_percentile(h, 99.9);
	s.min = h->min;
	s.max = h->max;
	s.mean = pl_hist_mean(h);
	return s;
}
