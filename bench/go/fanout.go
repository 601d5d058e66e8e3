// SPDX-License-Identifier: MIT

// The fanout_fanin workload with goroutines, Go channels and package context, mirroring
// patterns/fanout_fanin/workload.c (its top comment is the full specification).
//
// `producers` goroutines issue requests (closed loop, or open loop at rate_target with latency
// from the intended start). A request scatters to n = `consumers` backends run as jobs of a
// pool of P x n worker goroutines fed by `make(chan func(), depth)`, and gathers their answers
// on a buffered results channel, by policy <gather>_<distribution>:
//   all (every backend), quorum (first n/2+1), first (first 1 of n sent at once),
//   hedged (backend 0, then the next after timeout_ns each, sent with a non-blocking
//   try-submit so a saturated pool gets no extra load; a failure sends the next at once),
//   allhedged (n shards on the pool, each a hedged call to 2 replicas on an inner pool of
//   2 x P x n workers);
//   service times fixed (work_ns), exp (mean work_ns), bimodal (1% take 10 x work_ns), drawn
//   by the producer from the same splitmix64 stream as C (seed ^ 0x5851f42d4c957f2d x (i+1)),
//   with C's -ln(u), so one seed gives the same draws on both sides.
// A backend waits out its service time on a timer or its context, whichever first: a
// cancelled loser returns at once. Latency = request start -> the gather was decided; then the
// losers are cancelled and the call waits for every backend it sent (structured, as C).
// timeout_ns is the hedge delay; 0 means 2 x work_ns, at least 100 us.
//
// Timers are Go's: on Linux, Go 1.19 parks idle Ps in epoll_wait with millisecond timeouts,
// so a sub-millisecond sleep can overshoot to ~1 ms where C's (1 us timer slack) does not.
// That is a property of Go's runtime and shows in the figures; it is not corrected for.
//
// Extras (measured window): hedges, cancelled, calls_per_req, hedge_delay_ns.

package main

import (
	"context"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	gAll = iota
	gQuorum
	gFirst
	gHedged
	gAllHedged
)

const (
	dFixed = iota
	dExp
	dBimodal
)

var gatherNames = []string{"all", "quorum", "first", "hedged", "allhedged"}
var distNames = []string{"fixed", "exp", "bimodal"}

const (
	foMaxWorkers = 1024
	foFanoutMax  = 4096
	foMinHedgeNs = 100000
	foSlowFactor = 10
	foSlowPerMil = 10
)

type foPool struct {
	jobs chan func()
	wg   sync.WaitGroup
}

func newFoPool(workers, depth int) *foPool {
	pl := &foPool{jobs: make(chan func(), depth)}
	pl.wg.Add(workers)
	for i := 0; i < workers; i++ {
		go func() {
			defer pl.wg.Done()
			for j := range pl.jobs { // woken by a submit or the shutdown's close
				j()
			}
		}()
	}
	return pl
}

func (pl *foPool) shutdown() {
	close(pl.jobs)
	pl.wg.Wait()
}

// foStats is struct pl_fanout_stats.
type foStats struct {
	sent, hedges, cancelled uint64
	gatheredNs              int64
}

type foReply struct {
	err error
	st  foStats // a shard's own stats (allhedged)
}

type fanout struct {
	p       *params
	gather  int
	dist    int
	hedgeNs int64
	pool    *foPool
	inner   *foPool
}

// negLnUnit is C's neg_ln_unit(): -ln(u) for u in (0, 1], by the same series, so that both
// sides draw the same service times from one seed.
func negLnUnit(u float64) float64 {
	b := math.Float64bits(u)
	e := int((b>>52)&0x7ff) - 1023
	m := math.Float64frombits((b & (1<<52 - 1)) | 1023<<52)
	z := (m - 1) / (m + 1)
	z2 := z * z
	term, sum := z, 0.0
	for k := 1; k <= 23; k += 2 {
		sum += term / float64(k)
		term *= z2
	}
	return -(2*sum + float64(e)*0.69314718055994530942)
}

func (f *fanout) draw(rng *uint64) int64 {
	mean := f.p.workNs
	switch f.dist {
	case dExp:
		x := splitmix(rng) >> 11
		return int64(negLnUnit((float64(x)+1.0)/9007199254740992.0) * float64(mean))
	case dBimodal:
		if splitmix(rng)%1000 < foSlowPerMil {
			return mean * foSlowFactor
		}
		return mean
	}
	return mean
}

// backend is a simulated remote backend: its service time passes on its context.
func backend(ctx context.Context, svc int64) error {
	if svc <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(time.Duration(svc))
	select {
	case <-t.C:
		return nil
	case <-ctx.Done(): // the answer is no longer needed
		t.Stop()
		return ctx.Err()
	}
}

// call is pl_fanout_call: scatter to len(be) backends on pl, gather by mode, cancel the
// losers, wait for every backend sent. k: answers needed (all: n; first-k: k).
func call(parent context.Context, be []func(ctx context.Context) foReply, mode, k int,
	hedgeNs int64, pl *foPool, st *foStats) error {
	n := len(be)
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	results := make(chan foReply, n) // buffered: a backend never waits to report
	var returned, got, failed uint64
	send := func(i int) {
		st.sent++
		pl.jobs <- func() { results <- be[i](ctx) }
	}
	trySend := func(i int) bool {
		select {
		case pl.jobs <- func() { results <- be[i](ctx) }:
			st.sent++
			return true
		default:
			return false
		}
	}
	var err error
	if mode == gHedged {
		next := 1
		send(0)
		timer := time.NewTimer(time.Duration(hedgeNs))
		for got == 0 && err == nil {
			select {
			case rep := <-results:
				returned++
				switch {
				case rep.err == nil:
					got++
				case next < n: // a failure sends the next one at once
					failed++
					send(next)
					next++
					st.hedges++
				case returned == st.sent: // every one sent failed, none left
					failed++
					err = rep.err
				default:
					failed++
				}
			case <-timer.C:
				if next < n {
					if trySend(next) {
						next++
						st.hedges++
					}
					timer.Reset(time.Duration(hedgeNs))
				}
			}
		}
		timer.Stop()
	} else {
		for i := 0; i < n; i++ {
			send(i)
		}
		for got < uint64(k) && err == nil {
			rep := <-results
			returned++
			if rep.err == nil {
				got++
			} else if failed++; uint64(n)-failed < uint64(k) {
				err = rep.err
			}
		}
	}
	st.gatheredNs = nanotime()
	st.cancelled += st.sent - returned // still queued or running: the losers
	cancel()
	for returned < st.sent { // structured: every backend sent has returned
		<-results
		returned++
	}
	return err
}

type foProducer struct {
	rng                      uint64
	share                    uint64
	hist                     *Hist
	svc                      []int64
	be                       []func(ctx context.Context) foReply
	hedges, cancelled, calls uint64
	lastNs                   int64
	measured                 counter
	beat                     counter
	shardSt                  []foStats
}

func parseFanoutPolicy(policy string) (int, int, bool) {
	us := strings.IndexByte(policy, '_')
	if us < 0 {
		return 0, 0, false
	}
	for gi, gn := range gatherNames {
		if policy[:us] != gn {
			continue
		}
		for di, dn := range distNames {
			if policy[us+1:] == dn {
				return gi, di, true
			}
		}
	}
	return 0, 0, false
}

func runFanout(p *params, r *result) error {
	f := &fanout{p: p}
	policy := p.policy
	if policy == "" || policy == "-" {
		policy = "all_fixed"
	}
	var ok bool
	if f.gather, f.dist, ok = parseFanoutPolicy(policy); !ok {
		return failf("fanout_fanin: unknown policy '" + policy + "'")
	}
	if p.depth < 0 {
		return skipf("go: Go channels have no unbounded capacity")
	}
	if p.consumers > foFanoutMax {
		return skipf("at most 4096 backends per request")
	}
	mult := 1
	if f.gather == gAllHedged {
		mult = 2
	}
	if p.producers*p.consumers*mult > foMaxWorkers {
		return skipf("producers x consumers needs more than 1024 pool goroutines")
	}
	if p.workNs > math.MaxInt64/(4*foSlowFactor) {
		return failf("work_ns too large")
	}
	f.hedgeNs = p.timeoutNs
	if f.hedgeNs <= 0 {
		f.hedgeNs = 2 * p.workNs
		if f.hedgeNs < foMinHedgeNs {
			f.hedgeNs = foMinHedgeNs
		}
	}
	n := p.consumers
	f.pool = newFoPool(p.producers*n, p.depth)
	if f.gather == gAllHedged {
		f.inner = newFoPool(2*p.producers*n, p.depth)
	}
	root, cancelRoot := context.WithCancel(context.Background())
	defer cancelRoot()

	mode, k := gAll, n
	switch f.gather {
	case gQuorum:
		mode, k = gFirst, n/2+1
	case gFirst:
		mode, k = gFirst, 1
	case gHedged:
		mode, k = gHedged, 1
	}
	prod := make([]foProducer, p.producers)
	for i := range prod {
		t := &prod[i]
		t.rng = p.seed ^ (0x5851f42d4c957f2d * uint64(i+1))
		t.hist = new(Hist)
		if p.messages > 0 {
			t.share = share(p.messages, p.producers, i)
		}
		t.be = make([]func(ctx context.Context) foReply, n)
		if f.gather == gAllHedged {
			t.svc = make([]int64, 2*n)
			t.shardSt = make([]foStats, n)
			for j := 0; j < n; j++ {
				j := j
				reps := []func(ctx context.Context) foReply{
					func(ctx context.Context) foReply { return foReply{err: backend(ctx, t.svc[2*j])} },
					func(ctx context.Context) foReply { return foReply{err: backend(ctx, t.svc[2*j+1])} },
				}
				t.be[j] = func(ctx context.Context) foReply {
					t.shardSt[j] = foStats{}
					err := call(ctx, reps, gHedged, 1, f.hedgeNs, f.inner, &t.shardSt[j])
					return foReply{err: err}
				}
			}
		} else {
			t.svc = make([]int64, n)
			for j := 0; j < n; j++ {
				j := j
				t.be[j] = func(ctx context.Context) foReply { return foReply{err: backend(ctx, t.svc[j])} }
			}
		}
	}

	var phase atomic.Int32
	if p.warmup > 0 {
		phase.Store(phWarmup)
	} else {
		phase.Store(phMeasure)
	}
	byCount := p.messages > 0
	openLoop := p.rate > 0
	g := newGate(p.producers)
	var prodWG sync.WaitGroup
	var firstErr atomic.Value
	prodWG.Add(p.producers)
	for i := range prod {
		go func(t *foProducer, idx int) {
			defer prodWG.Done()
			g.wait()
			var interval, due float64
			if openLoop {
				interval = 1e9 * float64(p.producers) / p.rate
				due = float64(g.t) + interval*float64(idx)/float64(p.producers)
			}
			for {
				ph := phase.Load()
				if ph == phStop || (byCount && ph == phMeasure && t.measured.n == t.share) {
					break
				}
				for j := range t.svc { // this request's service times
					t.svc[j] = f.draw(&t.rng)
				}
				var t0 int64
				if openLoop {
					waitDue(int64(due), &t.beat)
					t0 = int64(due)
					due += interval
				} else {
					t0 = nanotime()
				}
				var st foStats
				// Blocks until gathered and every loser returned.
				if err := call(root, t.be, mode, k, f.hedgeNs, f.pool, &st); err != nil {
					if root.Err() == nil {
						firstErr.CompareAndSwap(nil, err.Error())
					}
					break
				}
				if ph == phMeasure {
					hedges, cancelled, calls := st.hedges, st.cancelled, st.sent
					if f.gather == gAllHedged {
						calls = 0 // shards are not backend calls themselves
						for j := range t.shardSt {
							hedges += t.shardSt[j].hedges
							cancelled += t.shardSt[j].cancelled
							calls += t.shardSt[j].sent
						}
					}
					t.hedges += hedges
					t.cancelled += cancelled
					t.calls += calls
					if p.latency {
						t.hist.Record(st.gatheredNs - t0)
					}
					t.lastNs = st.gatheredNs
					t.measured.inc()
				}
				t.beat.inc()
			}
			t.measured.flush()
			t.beat.flush()
		}(&prod[i], i)
	}
	beats := func() uint64 {
		var s uint64
		for i := range prod {
			s += prod[i].beat.pub.Load()
		}
		return s
	}
	has := func() bool {
		for i := range prod {
			if prod[i].measured.pub.Load() != 0 {
				return true
			}
		}
		return false
	}
	stall := &stallCheck{beats: beats, what: "go fanout_fanin (no request completed)"}
	t1, t2 := window(p, &phase, g.open(), has, stall)
	waitDone(closeWhenDone(&prodWG), stall)
	f.pool.shutdown()
	if f.inner != nil {
		f.inner.shutdown()
	}
	if byCount {
		t2 = t1
		for i := range prod {
			if prod[i].lastNs > t2 {
				t2 = prod[i].lastNs
			}
		}
	}
	if e := firstErr.Load(); e != nil {
		return failf("a request failed: " + e.(string))
	}
	var hedges, cancelled, calls uint64
	for i := range prod {
		t := &prod[i]
		r.messages += t.measured.n
		hedges += t.hedges
		cancelled += t.cancelled
		calls += t.calls
		if p.latency {
			r.hist.Merge(t.hist)
		}
	}
	r.seconds = float64(t2-t1) / 1e9
	r.extra("hedges", float64(hedges))
	r.extra("cancelled", float64(cancelled))
	cpr := 0.0
	if r.messages > 0 {
		cpr = float64(calls) / float64(r.messages)
	}
	r.extra("calls_per_req", cpr)
	hd := 0.0
	if f.gather == gHedged || f.gather == gAllHedged {
		hd = float64(f.hedgeNs)
	}
	r.extra("hedge_delay_ns", hd)
	if r.messages == 0 {
		return failf("nothing was measured (a window too short?)")
	}
	return nil
}
