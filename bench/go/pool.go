// SPDX-License-Identifier: MIT

// The worker_pool workload with goroutines and a Go channel, mirroring
// patterns/worker_pool/workload.c: producers submit CPU-bound jobs to a pool of `consumers`
// worker goroutines whose queue is `make(chan job, depth)`.
//
// A job is what C's pool queues, a function and a pointer-sized argument (no closure, so no
// allocation per job): arg = ((submit time - start) << 1) | measured. Producers submit with a
// blocking send (closed loop; a full queue blocks the producer: the pool's back-pressure).
// A job burns work_ns of calibrated CPU; latency = submit -> completion (the producer reads the
// clock just before the send, the worker just after the work), recorded in the worker's own
// histogram. End: producers stop, the queue is closed, every queued job still runs (range
// drains it), the workers return. lost = submitted - completed.
//
// Extras, as C: inflight (throughput x mean latency), workers_per_cpu, model_mps.

package main

import (
	"runtime"
	"sync"
	"sync/atomic"
)

type poolWorker struct {
	hist     *Hist
	done     uint64
	lastNs   int64
	measured counter
	beat     counter
	sink     uint64
}

type job struct {
	fn  func(w *poolWorker, arg uint64)
	arg uint64
}

func runWorkerPool(p *params, r *result) error {
	if p.depth < 0 {
		return skipf("go: Go channels have no unbounded capacity")
	}
	if p.producers > 1024 || p.consumers > 1024 {
		return failf("at most 1024 producers and 1024 workers")
	}
	if p.workNs > 1000000000 {
		return failf("work_ns above 1 s per job")
	}
	var phase atomic.Int32
	byCount := p.messages > 0
	needClock := p.latency || byCount
	iters := itersOf(p.workNs)
	jobs := make(chan job, p.depth)
	prod := make([]chanWorker, p.producers)
	workers := make([]poolWorker, p.consumers)
	for i := range workers {
		workers[i].hist = new(Hist)
	}
	if byCount {
		for i := range prod {
			prod[i].share = share(p.messages, p.producers, i)
		}
	}
	if p.warmup > 0 {
		phase.Store(phWarmup)
	} else {
		phase.Store(phMeasure)
	}
	g := newGate(p.producers)
	// The job function: the same for every job, as C's job(); g.t is published by the gate.
	work := func(w *poolWorker, arg uint64) {
		w.sink += burn(iters)
		w.done++
		if arg&1 != 0 {
			w.measured.inc()
			if needClock {
				now := nanotime()
				if p.latency {
					w.hist.Record(now - g.t - int64(arg>>1))
				}
				w.lastNs = now
			}
		}
		w.beat.inc()
	}
	// The pool's workers start before the gate and wait for jobs (no measured work).
	var poolWG, prodWG sync.WaitGroup
	poolWG.Add(p.consumers)
	for i := range workers {
		go func(w *poolWorker) {
			defer poolWG.Done()
			for j := range jobs { // blocks while empty: woken by a submit or the close
				j.fn(w, j.arg)
			}
			w.measured.flush()
		}(&workers[i])
	}
	prodWG.Add(p.producers)
	for i := range prod {
		go func(t *chanWorker) {
			defer prodWG.Done()
			g.wait()
			for {
				ph := phase.Load()
				if ph == phStop || (byCount && ph == phMeasure && t.measuredSent == t.share) {
					break
				}
				var rel uint64
				if p.latency {
					rel = uint64(nanotime() - g.t)
				}
				m := b2u(ph == phMeasure)
				jobs <- job{work, rel<<1 | m} // blocks while the queue is full
				t.sent++
				t.measuredSent += m
				t.beat.inc()
			}
			t.beat.flush()
		}(&prod[i])
	}
	beats := func() uint64 {
		var s uint64
		for i := range prod {
			s += prod[i].beat.pub.Load()
		}
		for i := range workers {
			s += workers[i].beat.pub.Load()
		}
		return s
	}
	has := func() bool {
		for i := range workers {
			if workers[i].measured.pub.Load() != 0 {
				return true
			}
		}
		return false
	}
	stall := &stallCheck{beats: beats, what: "go worker_pool"}
	t1, t2 := window(p, &phase, g.open(), has, stall)
	waitDone(closeWhenDone(&prodWG), stall)
	close(jobs) // intake stops; every queued job still runs
	waitDone(closeWhenDone(&poolWG), stall)

	if byCount {
		t2 = t1
		for i := range workers {
			if workers[i].lastNs > t2 {
				t2 = workers[i].lastNs
			}
		}
	}
	var sent, done uint64
	for i := range prod {
		sent += prod[i].sent
	}
	for i := range workers {
		w := &workers[i]
		done += w.done
		r.messages += w.measured.n
		if p.latency {
			r.hist.Merge(w.hist)
		}
		burnSink.Add(w.sink)
	}
	r.seconds = float64(t2-t1) / 1e9
	if sent > done {
		r.lost = sent - done
	}
	if done > sent {
		return failf("more jobs ran than were submitted")
	}
	if r.messages == 0 {
		return failf("nothing was measured (a window too short?)")
	}
	if r.seconds > 0 && p.latency {
		r.extra("inflight", float64(r.messages)/r.seconds*r.hist.Mean()/1e9)
	}
	cpus := onlineCPUs()
	r.extra("workers_per_cpu", float64(p.consumers)/float64(cpus))
	if p.workNs > 0 {
		n := p.consumers
		if cpus < n {
			n = cpus
		}
		r.extra("model_mps", float64(n)*1e9/float64(p.workNs))
	}
	return nil
}

// onlineCPUs is sysconf(_SC_NPROCESSORS_ONLN) as the C side reads it: the CPUs online, not
// the affinity mask runtime.NumCPU() reports (the same on an unrestricted process).
func onlineCPUs() int {
	if n := onlineFromSys(); n > 0 {
		return n
	}
	return runtime.NumCPU()
}
