// SPDX-License-Identifier: MIT

// The pipeline workload with goroutines and Go channels, mirroring patterns/pipeline/workload.c
// (its top comment is the full specification): producers -> `stages` stages -> one sink.
//
// Link i is `make(chan item, depth)` into stage i; stage i runs one worker goroutine, except
// the bottleneck (stage stages/2) which runs `consumers`. Every stage burns work_ns of
// calibrated CPU per item; the bottleneck burns 4 x work_ns, and 1 item in 16 (drawn by its
// producer from C's splitmix64 stream, seed ^ 0x6a09e667f3bcc909 x (i+1)) is slow there:
// 20 x work_ns. When the last worker of stage i returns, stage i closes its output link (a
// WaitGroup per stage), so the close travels down behind the last item.
//
// Policies: "unordered" (the last stage's output link goes straight to the sink) and "ordered"
// (as C: a producer takes a window token, then a sequence number; the last stage puts each
// finished item into a reorder buffer slot seq % window, and the sink takes them in sequence,
// returning the token: a slow item holds back admission, head-of-line blocking). The window
// is C's default: the capacity of links 0..stages-1 plus twice the number of workers.
//
// Latency: the producer's clock just before its send to link 0 (after taking a token) to the
// sink's clock just after it got the item. With latency on, every stage worker times its
// receive wait, its work and its send wait (three clock reads per item and stage, as C's
// stats), for the extras bottleneck_busy, feeder_send_wait and drain_recv_wait (window
// deltas), plus inflight, model_mps and (ordered) window and window_wait_frac.

package main

import (
	"sync"
	"sync/atomic"
)

const (
	plMaxStages   = 64
	plMaxWorkers  = 256
	plBottleneckX = 4
	plSlowX       = 20
	plSlowOneIn   = 16
	plBottleMean  = 5.0
)

// item carries (rel << 2) | slow << 1 | measured, and its sequence number (ordered).
type item struct {
	v   uint64
	seq uint64
}

// stageStats are one stage's totals, published by its workers after each item.
type stageStats struct {
	busy, sendWait, recvWait atomic.Int64
	_                        [40]byte
}

// reorder is the ordered pipeline's reorder buffer.
type reorder struct {
	mu     sync.Mutex
	cond   *sync.Cond // the sink waits here; signalled by the last stage and by the close
	slots  []item
	full   []bool
	next   uint64 // under mu: the sequence number the sink takes next
	closed bool   // under mu: the last stage is done
}

func runPipeline(p *params, r *result) error {
	if p.depth < 0 {
		return skipf("go: Go channels have no unbounded capacity")
	}
	if p.stages > plMaxStages || p.consumers > plMaxWorkers || p.producers > plMaxWorkers {
		return failf("at most 64 stages and 256 producers or workers")
	}
	if p.workNs > 1000000000 {
		return failf("work_ns above 1 s per item")
	}
	ordered := p.policy == "ordered"
	if !ordered && p.policy != "" && p.policy != "-" && p.policy != "unordered" {
		return failf("pipeline: unknown policy '" + p.policy + "'")
	}
	bottleneck := p.stages / 2
	workersOf := func(i int) int {
		if i == bottleneck {
			return p.consumers
		}
		return 1
	}
	iters := make([]uint64, p.stages)
	slowIters := make([]uint64, p.stages)
	for i := range iters {
		if i == bottleneck {
			iters[i] = itersOf(plBottleneckX * p.workNs)
			slowIters[i] = itersOf(plSlowX * p.workNs)
		} else {
			iters[i] = itersOf(p.workNs)
			slowIters[i] = iters[i]
		}
	}
	links := make([]chan item, p.stages+1)
	for i := range links {
		links[i] = make(chan item, p.depth)
	}
	stats := make([]stageStats, p.stages)
	var ro *reorder
	var tokens chan struct{}
	var windowWaits atomic.Uint64
	reorderWindow := 0
	if ordered {
		workers := 0
		for i := 0; i < p.stages; i++ {
			workers += workersOf(i)
		}
		reorderWindow = p.stages*p.depth + 2*workers
		ro = &reorder{slots: make([]item, reorderWindow), full: make([]bool, reorderWindow)}
		ro.cond = sync.NewCond(&ro.mu)
		tokens = make(chan struct{}, reorderWindow)
	}
	var seqNext atomic.Uint64

	var phase atomic.Int32
	if p.warmup > 0 {
		phase.Store(phWarmup)
	} else {
		phase.Store(phMeasure)
	}
	byCount := p.messages > 0
	needClock := p.latency || byCount
	stageBeats := make([]counter, p.stages)
	var sinkSink atomic.Uint64

	// The stages start before the gate and wait for items (no measured work).
	var stageWG sync.WaitGroup
	for s := 0; s < p.stages; s++ {
		var wg sync.WaitGroup
		wg.Add(workersOf(s))
		stageWG.Add(workersOf(s))
		for k := 0; k < workersOf(s); k++ {
			go func(s int) {
				defer stageWG.Done()
				defer wg.Done()
				in, out := links[s], links[s+1]
				last := s == p.stages-1
				st := &stats[s]
				var x uint64
				for {
					var t0, t1, t2 int64
					if p.latency {
						t0 = nanotime()
					}
					it, ok := <-in // woken by the stage before, or its close
					if !ok {
						break
					}
					if p.latency {
						t1 = nanotime()
						st.recvWait.Add(t1 - t0)
					}
					if (it.v>>1)&1 != 0 {
						x += burn(slowIters[s])
					} else {
						x += burn(iters[s])
					}
					if p.latency {
						t2 = nanotime()
						st.busy.Add(t2 - t1)
					}
					if last && ordered {
						ro.put(it)
					} else {
						out <- it // blocks while the next link is full
					}
					if p.latency && !(last && ordered) {
						st.sendWait.Add(nanotime() - t2)
					}
					stageBeats[s].inc()
				}
				sinkSink.Add(x)
			}(s)
		}
		go func(s int) { // the last worker of stage s closes its output
			wg.Wait()
			if s == p.stages-1 && ordered {
				ro.close()
			} else {
				close(links[s+1])
			}
		}(s)
	}

	type sinkState struct {
		hist     Hist
		received uint64
		lastNs   int64
		measured counter
	}
	var sink sinkState
	prod := make([]chanWorker, p.producers)
	rngs := make([]uint64, p.producers)
	for i := range prod {
		rngs[i] = p.seed ^ (0x6a09e667f3bcc909 * uint64(i+1))
		if byCount {
			prod[i].share = share(p.messages, p.producers, i)
		}
	}
	g := newGate(p.producers + 1)
	var prodWG, sinkWG sync.WaitGroup
	prodWG.Add(p.producers)
	for i := range prod {
		go func(t *chanWorker, rng *uint64) {
			defer prodWG.Done()
			g.wait()
			for {
				ph := phase.Load()
				if ph == phStop || (byCount && ph == phMeasure && t.measuredSent == t.share) {
					break
				}
				slow := b2u(splitmix(rng)%plSlowOneIn == 0)
				var seq uint64
				if ordered {
					select { // admission: item s waits for item s - window to be received
					case tokens <- struct{}{}:
					default:
						windowWaits.Add(1)
						tokens <- struct{}{} // woken by the sink's receive
					}
					seq = seqNext.Add(1) - 1
				}
				var rel uint64
				if p.latency {
					rel = uint64(nanotime() - g.t)
				}
				m := b2u(ph == phMeasure)
				links[0] <- item{rel<<2 | slow<<1 | m, seq} // blocks while link 0 is full
				t.sent++
				t.measuredSent += m
				t.beat.inc()
			}
			t.beat.flush()
		}(&prod[i], &rngs[i])
	}
	sinkWG.Add(1)
	go func() {
		defer sinkWG.Done()
		g.wait()
		for {
			var it item
			if ordered {
				var ok bool
				if it, ok = ro.take(); !ok {
					break
				}
				<-tokens // item seq + window may now be admitted
			} else {
				var ok bool
				if it, ok = <-links[p.stages]; !ok {
					break
				}
			}
			sink.received++
			if it.v&1 != 0 {
				sink.measured.inc()
				if needClock {
					now := nanotime()
					if p.latency {
						sink.hist.Record(now - g.t - int64(it.v>>2))
					}
					sink.lastNs = now
				}
			}
		}
		sink.measured.flush()
	}()

	type snap struct {
		busy, feederSend, drainRecv int64
		waits                       uint64
	}
	take := func() snap {
		s := snap{busy: stats[bottleneck].busy.Load(), waits: windowWaits.Load()}
		if bottleneck > 0 {
			s.feederSend = stats[bottleneck-1].sendWait.Load()
		}
		if bottleneck+1 < p.stages {
			s.drainRecv = stats[bottleneck+1].recvWait.Load()
		}
		return s
	}
	beats := func() uint64 {
		s := sink.measured.pub.Load()
		for i := range prod {
			s += prod[i].beat.pub.Load()
		}
		for i := range stageBeats {
			s += stageBeats[i].pub.Load()
		}
		return s
	}
	stall := &stallCheck{beats: beats, what: "go pipeline"}
	has := func() bool { return sink.measured.pub.Load() != 0 }
	tStart := g.open()
	var s1, s2 snap
	// window() with a snapshot at t1 and t2: inlined, the snapshots must sit at the edges.
	t1 := tStart
	if p.warmup > 0 {
		sleepUntil(tStart + int64(p.warmup*1e9))
		t1 = nanotime()
		phase.Store(phMeasure)
	}
	s1 = take()
	var t2 int64
	if !byCount {
		sleepUntil(t1 + int64(p.seconds*1e9))
		for !has() {
			stall.check()
			sleepUntil(nanotime() + 1000000)
		}
		t2 = nanotime()
		s2 = take()
		phase.Store(phStop)
	}
	waitDone(closeWhenDone(&prodWG), stall)
	close(links[0]) // drains in order; the sink sees the end
	waitDone(closeWhenDone(&stageWG), stall)
	waitDone(closeWhenDone(&sinkWG), stall)
	burnSink.Add(sinkSink.Load())
	if byCount {
		t2 = t1
		if sink.lastNs > t2 {
			t2 = sink.lastNs
		}
		s2 = take()
	}
	var sent uint64
	for i := range prod {
		sent += prod[i].sent
	}
	r.messages = sink.measured.n
	r.seconds = float64(t2-t1) / 1e9
	if sent > sink.received {
		r.lost = sent - sink.received
	}
	if p.latency {
		r.hist.Merge(&sink.hist)
	}
	if sent < sink.received {
		return failf("received more items than were sent")
	}
	if r.messages == 0 {
		return failf("nothing was measured (a window too short?)")
	}
	if r.seconds > 0 && p.latency {
		win := r.seconds * 1e9
		mps := float64(r.messages) / r.seconds
		r.extra("bottleneck_busy", float64(s2.busy-s1.busy)/(float64(workersOf(bottleneck))*win))
		if bottleneck > 0 {
			r.extra("feeder_send_wait", float64(s2.feederSend-s1.feederSend)/win)
		}
		if bottleneck+1 < p.stages {
			r.extra("drain_recv_wait", float64(s2.drainRecv-s1.drainRecv)/win)
		}
		r.extra("inflight", mps*sink.hist.Mean()/1e9)
	}
	if p.workNs > 0 {
		r.extra("model_mps", pipelineModel(p))
	}
	if ordered {
		r.extra("window", float64(reorderWindow))
		r.extra("window_wait_frac", float64(s2.waits-s1.waits)/float64(r.messages))
	}
	return nil
}

// pipelineModel is C's model_mps(): the smallest of the bottleneck's capacity, any other
// stage's, and what the cores allow.
func pipelineModel(p *params) float64 {
	w := float64(p.workNs)
	sum := (float64(p.stages-1) + plBottleMean) * w
	best := float64(p.consumers) * 1e9 / (plBottleMean * w)
	if p.stages > 1 && 1e9/w < best {
		best = 1e9 / w
	}
	if cpus := float64(onlineCPUs()); cpus*1e9/sum < best {
		best = cpus * 1e9 / sum
	}
	return best
}

// put files a finished item in its slot; wakes the sink when it is the one it waits for.
func (ro *reorder) put(it item) {
	ro.mu.Lock()
	i := it.seq % uint64(len(ro.slots))
	ro.slots[i], ro.full[i] = it, true
	wake := it.seq == ro.next
	ro.mu.Unlock()
	if wake {
		ro.cond.Signal()
	}
}

// take returns the next item in sequence, waiting for it; false once closed and drained.
func (ro *reorder) take() (item, bool) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	for {
		i := ro.next % uint64(len(ro.slots))
		if ro.full[i] {
			ro.full[i] = false
			ro.next++
			return ro.slots[i], true
		}
		if ro.closed {
			return item{}, false
		}
		ro.cond.Wait() // woken by put() of this sequence number, or by close()
	}
}

func (ro *reorder) close() {
	ro.mu.Lock()
	ro.closed = true
	ro.mu.Unlock()
	ro.cond.Broadcast()
}
