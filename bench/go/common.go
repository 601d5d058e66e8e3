// SPDX-License-Identifier: MIT

// What every Go workload shares, mirroring the C workloads (patterns/harness/chan_workload.c and the
// pattern folders) so that the two sides measure the same thing the same way:
//
//   - the clock: runtime.nanotime, i.e. CLOCK_MONOTONIC, the clock of pl_now_ns(); one read per
//     send and one per receive, as in C (time.Now would read two clocks);
//   - the start gate: every goroutine announces itself, then waits on a channel the main
//     goroutine closes; the window's clock starts when the gate opens, never at process start;
//   - the phases: warm-up (messages travel but are not counted), measure, stop; one atomic
//     word written by the main goroutine, read by the workers once per message;
//   - the window: seconds mode ends on the main goroutine's clock (kept open until something
//     was measured, as in C); messages mode ends at the last measured completion;
//   - the stall check: no progress for 10 s fails the point (as C's 10 s), from a goroutine
//     of its own, by printing the failure and exiting: this process exists for one point;
//   - CPU work: the same xorshift loop as the C patterns' burn(), calibrated the same way
//     (the fastest of 7 trials of 2^16 iterations), so work_ns costs the same CPU time.
//
// Heartbeats and progress counters are published with atomic stores every 256 events (and
// at the first measured one), not per message: Go has no relaxed atomics, and a locked store
// per message would tax Go where C pays a plain store.

package main

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	_ "unsafe" // for go:linkname
)

//go:linkname nanotime runtime.nanotime
func nanotime() int64

const (
	phWarmup  = 0
	phMeasure = 1
	phStop    = 2

	stallNs  = 10 * int64(time.Second) // no progress for this long: the point fails
	beatMask = 255                     // publish counters every 256 events
)

// params is one sweep point, as the C driver passes it (struct pl_params).
type params struct {
	pattern    string
	producers  int
	consumers  int
	stages     int
	depth      int // -1: unbounded (refused: Go channels are bounded)
	workNs     int64
	rate       float64
	policy     string
	timeoutNs  int64
	messages   uint64
	seconds    float64
	warmup     float64
	seed       uint64
	latency    bool
	latSample  uint64 // time one message in latSample (0: auto; see sampler.go)
	gomaxprocs int
}

type extra struct {
	name  string
	value float64
}

// result is struct pl_result.
type result struct {
	messages uint64
	seconds  float64
	lost     uint64
	dropped  uint64
	rejected uint64
	hist     Hist
	extras   []extra
}

func (r *result) extra(name string, v float64) {
	r.extras = append(r.extras, extra{name, v})
}

// pointError is a point that cannot run (skip: ENOTSUP in C) or that failed.
type pointError struct {
	skip bool
	why  string
}

func (e *pointError) Error() string { return e.why }

func skipf(why string) error { return &pointError{skip: true, why: why} }
func failf(why string) error { return &pointError{why: why} }

// counter is a per-goroutine count with a published copy for the main goroutine.
type counter struct {
	n   uint64        // owner only
	pub atomic.Uint64 // published every beatMask+1 increments (and at 1)
	_   [48]byte      // one cache line per counter: owners write theirs only
}

func (c *counter) inc() {
	c.n++
	if c.n&beatMask == 0 || c.n == 1 {
		c.pub.Store(c.n)
	}
}

// flush publishes the exact count (at the end, or before a long wait).
func (c *counter) flush() { c.pub.Store(c.n) }

// gate is the start barrier: workers call wait(); the main goroutine open()s it once every
// worker arrived, and the clock starts then.
type gate struct {
	ready sync.WaitGroup
	start chan struct{}
	t     int64 // the window's origin: written before start is closed, read after
}

func newGate(n int) *gate {
	g := &gate{start: make(chan struct{})}
	g.ready.Add(n)
	return g
}

func (g *gate) wait() {
	g.ready.Done()
	<-g.start // closed by open()
}

func (g *gate) open() int64 {
	g.ready.Wait() // every worker is parked on the gate
	g.t = nanotime()
	close(g.start) // publishes g.t: a close happens before the receive it unblocks
	return g.t
}

// sleepUntil sleeps until the monotonic time t (ns).
func sleepUntil(t int64) {
	if d := t - nanotime(); d > 0 {
		time.Sleep(time.Duration(d))
	}
}

// window runs the main goroutine's side of a measured run: warm-up, then the window (seconds
// mode), then the stop phase. has reports whether something was measured; beats sums the
// heartbeats. Returns t1 and (seconds mode) t2.
func window(p *params, phase *atomic.Int32, tStart int64, has func() bool,
	stall *stallCheck) (t1, t2 int64) {
	t1 = tStart
	if p.warmup > 0 {
		sleepUntil(tStart + int64(p.warmup*1e9))
		t1 = nanotime()
		phase.Store(phMeasure)
	}
	if p.messages == 0 {
		sleepUntil(t1 + int64(p.seconds*1e9))
		// A window in which nothing completed measures nothing: keep it open until
		// something did (the stall check fails the point if nothing ever does).
		for !has() {
			stall.check()
			time.Sleep(time.Millisecond)
		}
		t2 = nanotime()
		phase.Store(phStop)
	}
	return t1, t2
}

// stallCheck fails the point when the sum of the heartbeats stops moving for stallNs.
type stallCheck struct {
	beats  func() uint64
	last   uint64
	lastNs int64
	what   string
}

func (s *stallCheck) check() {
	now := nanotime()
	if b := s.beats(); b != s.last || s.lastNs == 0 {
		s.last, s.lastNs = b, now
		return
	}
	if now-s.lastNs > stallNs {
		fatalPoint(failf(s.what + " made no progress for 10 s (hung)"))
	}
}

// waitDone waits for done to close, polling the stall check every 10 ms (C polls 0.1 ms
// doubling to 10 ms; a closed channel wakes this at once).
func waitDone(done <-chan struct{}, stall *stallCheck) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			stall.check()
		}
	}
}

// closeWhenDone closes the returned channel once wg is done.
func closeWhenDone(wg *sync.WaitGroup) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		wg.Wait()
		close(c)
	}()
	return c
}

// busyWaitNs spins on the clock for ns (the chan workload's work_ns, as C's busy_wait_ns).
func busyWaitNs(ns int64) {
	end := nanotime() + ns
	for nanotime() < end {
	}
}

// waitDue is the open-loop wait of C's wait_due(): sleep when far, yield when near, so that
// waiting producers leave the CPU to the consumers.
func waitDue(due int64, beat *counter) {
	for {
		left := due - nanotime()
		if left <= 0 {
			return
		}
		if left > 200000 {
			if left > 1000000000 {
				time.Sleep(time.Second)
			} else {
				time.Sleep(time.Duration(left - 100000))
			}
		} else {
			runtime.Gosched()
		}
		beat.inc()
	}
}

// ---------------------------------------------------------------- calibrated CPU work

var (
	calibOnce  sync.Once
	itersPerNs float64
	burnSink   atomic.Uint64
)

// burn is C's burn(): iters rounds of xorshift, a dependency chain the compiler must keep
// (the result is stored, so the loop cannot be dropped).
func burn(iters uint64) uint64 {
	x := uint64(0x9e3779b97f4a7c15)
	for i := uint64(0); i < iters; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func calibrate() {
	const n = 1 << 16
	best := int64(math.MaxInt64)
	for t := 0; t < 7; t++ {
		t0 := nanotime()
		burnSink.Store(burn(n))
		if dt := nanotime() - t0; dt > 0 && dt < best {
			best = dt
		}
	}
	if best == math.MaxInt64 {
		itersPerNs = 1
	} else {
		itersPerNs = float64(n) / float64(best)
	}
}

// itersOf converts ns of CPU work into burn() iterations.
func itersOf(ns int64) uint64 {
	calibOnce.Do(calibrate)
	if ns <= 0 {
		return 0
	}
	return uint64(float64(ns)*itersPerNs + 0.5)
}

// splitmix is the C patterns' splitmix64 step.
func splitmix(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// share is a producer's part of a messages-mode count: the first n % P send one more.
func share(total uint64, producers, i int) uint64 {
	s := total / uint64(producers)
	if uint64(i) < total%uint64(producers) {
		s++
	}
	return s
}
