// SPDX-License-Identifier: MIT

// The latency histogram of patterns/include/patlab/hist.h and patterns/harness/hist.c, ported
// line for line so that a Go row's p99 means exactly what a C row's does: the same bucket
// layout (values 0..127 exact, then 64 buckets per power of two up to 2^40 ns, larger values in
// the last bucket), the same nearest-rank percentile (rank ceil(q/100 * n), 1-based, with the
// same 1e-9 guard) reported as the middle of its bucket clamped to the exact min and max.
// tests/go/test_go_hist.c proves both sides give identical percentiles for the same samples.
//
// Recording writes only the histogram: give every goroutine its own, merge after they are done.

package main

import "math/bits"

// The constants of patlab/hist.h; a change there must be made here too (the equivalence test
// fails otherwise).
const (
	histSubBits = 6                                                         // PL_HIST_SUB_BITS: 64 buckets per octave above 128
	histLinear  = 2 << histSubBits                                          // PL_HIST_LINEAR: 0..127 recorded exactly
	histTopBits = 40                                                        // PL_HIST_TOP_BITS: values >= 2^40 share the last bucket
	histBuckets = histLinear + (histTopBits-histSubBits-1)*(1<<histSubBits) // PL_HIST_BUCKETS
)

// Hist is one goroutine's latency histogram (struct pl_hist).
type Hist struct {
	Count  uint64
	Sum    float64 // for the mean; float64 as in C, so it cannot overflow
	Min    int64   // valid when Count > 0
	Max    int64   // 0 when empty
	Bucket [histBuckets]uint64
}

// HistSummary is struct pl_hist_summary.
type HistSummary struct {
	Count               uint64
	P50, P90, P99, P999 int64
	Min, Max            int64
	Mean                float64
}

// histIndex is pl_hist_index: the bucket of ns (negative values count as 0).
func histIndex(ns int64) int {
	var v uint64
	if ns > 0 {
		v = uint64(ns)
	}
	if v < histLinear {
		return int(v)
	}
	if v >= 1<<histTopBits {
		return histBuckets - 1
	}
	e := 63 - bits.LeadingZeros64(v) // 2^e <= v < 2^(e+1), e >= 7
	shift := e - histSubBits         // v >> shift is in [64, 128)
	return shift<<histSubBits + int(v>>uint(shift))
}

// Record is pl_hist_record.
func (h *Hist) Record(ns int64) {
	if ns < 0 {
		ns = 0
	}
	h.Bucket[histIndex(ns)]++
	if h.Count == 0 || ns < h.Min {
		h.Min = ns
	}
	if ns > h.Max {
		h.Max = ns
	}
	h.Count++
	h.Sum += float64(ns)
}

// RecordN is pl_hist_record_n: ns recorded as n samples (a sample standing for n messages).
func (h *Hist) RecordN(ns int64, n uint64) {
	if n == 0 {
		return
	}
	if ns < 0 {
		ns = 0
	}
	h.Bucket[histIndex(ns)] += n
	if h.Count == 0 || ns < h.Min {
		h.Min = ns
	}
	if ns > h.Max {
		h.Max = ns
	}
	h.Count += n
	h.Sum += float64(ns) * float64(n)
}

// Merge is pl_hist_merge: add every sample of src to h.
func (h *Hist) Merge(src *Hist) {
	if src.Count == 0 {
		return
	}
	if h.Count == 0 || src.Min < h.Min {
		h.Min = src.Min
	}
	if src.Max > h.Max {
		h.Max = src.Max
	}
	h.Count += src.Count
	h.Sum += src.Sum
	for i := range h.Bucket {
		h.Bucket[i] += src.Bucket[i]
	}
}

// histBucketLow is pl_hist_bucket_low: the smallest value that lands in bucket i.
func histBucketLow(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	shift := uint(i>>histSubBits) - 1
	return int64((uint64(1<<histSubBits) | uint64(i&(1<<histSubBits-1))) << shift)
}

// histBucketWidth is pl_hist_bucket_width: how many consecutive values land in bucket i.
func histBucketWidth(i int) int64 {
	if i < histLinear {
		return 1
	}
	return int64(1) << (uint(i>>histSubBits) - 1)
}

// Percentile is pl_hist_percentile: the q-th percentile, 0 < q <= 100 (100: the exact max).
func (h *Hist) Percentile(q float64) int64 {
	if h.Count == 0 {
		return 0
	}
	if !(q > 0) {
		q = 1e-9
	}
	if q >= 100 {
		return h.Max
	}
	// Nearest rank, 1-based: ceil(q/100 * n), with C's guard against a product that is an
	// integer up to rounding moving up a rank. Same operations, same order, same doubles.
	// The conversion rounds the product: no fused multiply-add (Go's spec allows one).
	exact := float64(q / 100.0 * float64(h.Count))
	rank := uint64(exact)
	if float64(rank) < exact-1e-9 {
		rank++
	}
	if rank < 1 {
		rank = 1
	}
	if rank > h.Count {
		rank = h.Count
	}
	var seen uint64
	for i := 0; i < histBuckets; i++ {
		seen += h.Bucket[i]
		if seen >= rank {
			w := histBucketWidth(i)
			v := histBucketLow(i) + (w-1)/2
			if v < h.Min {
				v = h.Min
			}
			if v > h.Max {
				v = h.Max
			}
			return v
		}
	}
	return h.Max
}

// Mean is pl_hist_mean.
func (h *Hist) Mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / float64(h.Count)
}

// Summarize is pl_hist_summarize.
func (h *Hist) Summarize() HistSummary {
	if h.Count == 0 {
		return HistSummary{}
	}
	return HistSummary{
		Count: h.Count,
		P50:   h.Percentile(50),
		P90:   h.Percentile(90),
		P99:   h.Percentile(99),
		P999:  h.Percentile(99.9),
		Min:   h.Min,
		Max:   h.Max,
		Mean:  h.Mean(),
	}
}
