// SPDX-License-Identifier: MIT

// Unit tests of patlab-go's pieces that need no C: the histogram's layout and percentiles
// (the exact equivalence with C's is tests/go/test_go_hist.c), the policy parser, the -ln(u)
// series, the CPU list parser, and one tiny run of every workload (lost = 0, something
// measured, the histogram's count equals the measured messages where every one is timed).

package main

import (
	"math"
	"sort"
	"testing"
)

func TestHistLayout(t *testing.T) {
	if histBuckets != 2240 {
		t.Fatalf("histBuckets = %d, C's PL_HIST_BUCKETS is 2240", histBuckets)
	}
	if histBucketLow(0) != 0 {
		t.Fatal("bucket 0 does not start at 0")
	}
	for i := 0; i+1 < histBuckets; i++ {
		lo, w := histBucketLow(i), histBucketWidth(i)
		if histBucketLow(i+1) != lo+w {
			t.Fatalf("bucket %d: [%d, %d) but the next starts at %d", i, lo, lo+w, histBucketLow(i+1))
		}
		if histIndex(lo) != i || histIndex(lo+w-1) != i {
			t.Fatalf("bucket %d: its ends map to %d and %d", i, histIndex(lo), histIndex(lo+w-1))
		}
		if i >= histLinear && w*64 > lo {
			t.Fatalf("bucket %d: width %d wider than 1/64 of %d", i, w, lo)
		}
	}
	for _, v := range []int64{-1, math.MinInt64, 1 << 40, math.MaxInt64} {
		want := 0
		if v > 0 {
			want = histBuckets - 1
		}
		if got := histIndex(v); got != want {
			t.Fatalf("histIndex(%d) = %d, want %d", v, got, want)
		}
	}
}

func TestHistPercentiles(t *testing.T) {
	var h Hist
	if h.Percentile(50) != 0 || h.Summarize() != (HistSummary{}) {
		t.Fatal("an empty histogram must report zeros")
	}
	rng := uint64(42)
	var v []int64
	for i := 0; i < 100000; i++ {
		x := int64(splitmix(&rng)%1000000) + 1
		v = append(v, x)
		h.Record(x)
	}
	sort.Slice(v, func(a, b int) bool { return v[a] < v[b] })
	for _, q := range []float64{1, 10, 50, 90, 99, 99.9, 99.99} {
		rank := int(math.Ceil(q / 100 * float64(len(v))))
		exact := v[rank-1]
		got := h.Percentile(q)
		if e := math.Abs(float64(got-exact)) / float64(exact); e > 0.01 {
			t.Fatalf("p%g = %d, exact %d (error %.3f%%)", q, got, exact, 100*e)
		}
	}
	if h.Percentile(100) != v[len(v)-1] || h.Percentile(150) != v[len(v)-1] {
		t.Fatal("p100 must be the exact max")
	}
	var a, b Hist
	for i, x := range v {
		if i%2 == 0 {
			a.Record(x)
		} else {
			b.Record(x)
		}
	}
	a.Merge(&b)
	as, hs := a.Summarize(), h.Summarize()
	as.Mean, hs.Mean = 0, 0 // sums added in another order may differ in the last bits
	if as != hs || a.Bucket != h.Bucket {
		t.Fatalf("merge of halves %+v differs from the whole %+v", as, hs)
	}
}

func TestPolicies(t *testing.T) {
	for gi, g := range gatherNames {
		for di, d := range distNames {
			gg, dd, ok := parseFanoutPolicy(g + "_" + d)
			if !ok || gg != gi || dd != di {
				t.Fatalf("%s_%s parsed as %d %d %v", g, d, gg, dd, ok)
			}
		}
	}
	for _, bad := range []string{"", "all", "all_", "_fixed", "nosuch_fixed", "all_nosuch"} {
		if _, _, ok := parseFanoutPolicy(bad); ok {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestNegLn(t *testing.T) {
	for _, u := range []float64{1, 0.5, 0.1, 1e-6, 1e-300, 0.999999} {
		if got, want := negLnUnit(u), -math.Log(u); math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Fatalf("-ln(%g) = %.17g, want %.17g", u, got, want)
		}
	}
}

func TestOnlineCPUs(t *testing.T) {
	if n := onlineCPUs(); n < 1 {
		t.Fatalf("onlineCPUs() = %d", n)
	}
}

func TestWorkloadsRun(t *testing.T) {
	cases := []params{
		{pattern: "chan", producers: 2, consumers: 2, depth: 0},
		{pattern: "chan", producers: 1, consumers: 1, depth: 64, rate: 20000},
		{pattern: "chan", producers: 1, consumers: 1, depth: 8, messages: 5000},
		{pattern: "pingpong", depth: 1},
		{pattern: "worker_pool", producers: 2, consumers: 3, depth: 4, workNs: 1000},
		{pattern: "pipeline", producers: 2, consumers: 2, stages: 3, depth: 4, workNs: 1000,
			policy: "ordered"},
		{pattern: "pipeline", producers: 1, consumers: 1, stages: 1, depth: 0, policy: "unordered"},
		{pattern: "fanout_fanin", producers: 2, consumers: 3, depth: 8, workNs: 20000,
			policy: "hedged_exp"},
		{pattern: "fanout_fanin", producers: 1, consumers: 2, depth: 8, workNs: 20000,
			policy: "allhedged_bimodal"},
	}
	for _, c := range cases {
		p := c
		if p.producers == 0 {
			p.producers = 1
		}
		if p.consumers == 0 {
			p.consumers = 1
		}
		if p.stages == 0 {
			p.stages = 1
		}
		// Every message timed (-lat-sample 1): each one must have its latency.
		p.seconds, p.warmup, p.seed, p.latency, p.latSample = 0.05, 0.01, 1, true, 1
		var run func(*params, *result) error
		for _, w := range workloads {
			if w.name == p.pattern {
				run = w.run
			}
		}
		var r result
		if err := run(&p, &r); err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if r.messages == 0 || r.lost != 0 || !(r.seconds > 0) {
			t.Fatalf("%+v: messages %d lost %d seconds %g", p, r.messages, r.lost, r.seconds)
		}
		if r.hist.Count != r.messages {
			t.Fatalf("%+v: %d latencies for %d messages", p, r.hist.Count, r.messages)
		}
		if p.pattern == "chan" || p.pattern == "pingpong" {
			// Sampled (the default): fewer samples, each standing for ~k messages, so the
			// weighted count is near the message count (not equal: the gaps are random).
			var rs result
			ps := p
			ps.latSample = 0
			if err := run(&ps, &rs); err != nil {
				t.Fatalf("%+v: %v", ps, err)
			}
			if c := float64(rs.hist.Count); c < 0.5*float64(rs.messages) || c > 2*float64(rs.messages) {
				t.Fatalf("%+v: weighted count %d for %d messages", ps, rs.hist.Count, rs.messages)
			}
		}
		if p.messages > 0 && r.messages != p.messages {
			t.Fatalf("%+v: measured %d, asked for %d", p, r.messages, p.messages)
		}
	}
	var r result
	p := params{pattern: "chan", producers: 1, consumers: 1, stages: 1, depth: -1, seconds: 0.01}
	if err := runChan(&p, &r); err == nil || !err.(*pointError).skip {
		t.Fatalf("unbounded depth: %v, want a skip", err)
	}
}
