// SPDX-License-Identifier: MIT

// The two raw channel workloads with Go's own channels, mirroring patterns/harness/chan_workload.c.
//
// chan: P producer goroutines -> one `make(chan uint64, depth)` -> C consumer goroutines.
// Every message is 8 bytes, as C's pointer-sized ones: bit 0 set when the producer sent it
// inside the measured window; bit 1 when it is timed (one in k, sampler.go), and then bits 2-7
// hold log2 of the weight it stands for and the bits from msgTsShift up its send time t
// (nanotime(), or the intended send time in open-loop mode). Each consumer times a timed
// message on receipt (latency = receive time - t) into its own histogram; the histograms are
// merged after the consumers are done. Untimed messages read no clock.
// End: the producers stop, the main goroutine closes the channel (only then: a send on a
// closed Go channel panics), the consumers drain it (range ends). lost = sent - received.
// Depth 0 is Go's unbuffered channel (rendezvous); there is no unbounded Go channel, so
// "unbounded" is skipped with its reason.
//
// pingpong: one goroutine sends on channel a, another receives it and sends it back on
// channel b (both of capacity depth); latency is one round trip (timed for one in k, as
// chan's messages); messages are round trips.

package main

import (
	"sync"
	"sync/atomic"
)

// msgTsShift is where a timed message's send time starts: 56 bits of ns (two years of
// CLOCK_MONOTONIC) above the flags and the weight.
const msgTsShift = 8

// weightLog2 is log2 of a sampling weight (a power of two in auto mode; a forced interval
// that is not one is rounded down, which only matters for the histogram's weights).
func weightLog2(w uint64) uint {
	var l uint
	for w > 1 {
		w >>= 1
		l++
	}
	return l
}

type chanWorker struct {
	hist         *Hist
	share        uint64 // messages mode: measured messages this producer sends
	sent         uint64
	measuredSent uint64
	received     uint64
	measured     counter // measured messages received (or round trips)
	lastNs       int64   // clock at the last measured receive (messages mode)
	beat         counter
}

func checkChan(p *params) error {
	if p.depth < 0 {
		return skipf("go: Go channels have no unbounded capacity")
	}
	return nil
}

func runChan(p *params, r *result) error {
	if err := checkChan(p); err != nil {
		return err
	}
	var phase atomic.Int32
	byCount := p.messages > 0
	needClock := p.latency || byCount
	openLoop := p.rate > 0
	ch := make(chan uint64, p.depth)
	prod := make([]chanWorker, p.producers)
	cons := make([]chanWorker, p.consumers)
	for i := range cons {
		cons[i].hist = new(Hist)
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
	g := newGate(p.producers + p.consumers)
	var prodWG, consWG sync.WaitGroup
	prodWG.Add(p.producers)
	consWG.Add(p.consumers)
	for i := range prod {
		go func(t *chanWorker, idx int) {
			defer prodWG.Done()
			g.wait()
			var interval, due float64
			sm := newSampler(p, p.producers, idx)
			if openLoop {
				interval = 1e9 * float64(p.producers) / p.rate
				// Stagger the producers evenly over one interval.
				due = float64(g.t) + interval*float64(idx)/float64(p.producers)
			}
			for {
				ph := phase.Load()
				if ph == phStop || (byCount && ph == phMeasure && t.measuredSent == t.share) {
					break
				}
				var ts int64
				if openLoop {
					waitDue(int64(due), &t.beat)
					ts = int64(due)
					due += interval
				}
				m := b2u(ph == phMeasure)
				v := m
				if p.latency && sm.due() {
					now := nanotime()
					if !openLoop {
						ts = now
					}
					v |= uint64(ts)<<msgTsShift | uint64(weightLog2(sm.took(now)))<<2 | 2
				}
				ch <- v // blocks while full: woken by a receive
				t.sent++
				t.measuredSent += m
				t.beat.inc()
			}
			t.beat.flush()
		}(&prod[i], i)
	}
	for i := range cons {
		go func(t *chanWorker) {
			defer consWG.Done()
			g.wait()
			for v := range ch { // blocks while empty: woken by a send or the close
				t.received++
				if v&1 != 0 {
					t.measured.inc()
					if needClock && (byCount || v&2 != 0) {
						now := nanotime()
						if v&2 != 0 {
							t.hist.RecordN(now-int64(v>>msgTsShift), 1<<(v>>2&63))
						}
						t.lastNs = now
					}
				}
				if p.workNs > 0 {
					busyWaitNs(p.workNs)
				}
				t.beat.inc()
			}
			t.measured.flush()
		}(&cons[i])
	}

	beats := func() uint64 {
		var s uint64
		for i := range prod {
			s += prod[i].beat.pub.Load()
		}
		for i := range cons {
			s += cons[i].beat.pub.Load()
		}
		return s
	}
	has := func() bool {
		for i := range cons {
			if cons[i].measured.pub.Load() != 0 {
				return true
			}
		}
		return false
	}
	stall := &stallCheck{beats: beats, what: "go chan"}
	t1, t2 := window(p, &phase, g.open(), has, stall)
	waitDone(closeWhenDone(&prodWG), stall)
	close(ch) // every producer returned: the consumers drain what is left
	waitDone(closeWhenDone(&consWG), stall)

	if byCount {
		t2 = t1
		for i := range cons {
			if cons[i].lastNs > t2 {
				t2 = cons[i].lastNs
			}
		}
	}
	var sent, received, measured uint64
	minShare := ^uint64(0)
	for i := range prod {
		sent += prod[i].sent
	}
	for i := range cons {
		c := &cons[i]
		received += c.received
		measured += c.measured.n
		if c.measured.n < minShare {
			minShare = c.measured.n
		}
		if p.latency {
			r.hist.Merge(c.hist)
		}
	}
	r.messages = measured
	r.seconds = float64(t2-t1) / 1e9
	if sent > received {
		r.lost = sent - received
	}
	if p.consumers > 1 && measured > 0 {
		r.extra("consumer_share_min", float64(minShare)*float64(p.consumers)/float64(measured))
	}
	if sent < received {
		return failf("received more messages than were sent")
	}
	if r.messages == 0 {
		return failf("nothing was measured (a window too short?)")
	}
	return nil
}

func runPingpong(p *params, r *result) error {
	if err := checkChan(p); err != nil {
		return err
	}
	var phase atomic.Int32
	byCount := p.messages > 0
	a := make(chan uint64, p.depth)
	b := make(chan uint64, p.depth)
	var pinger, ponger chanWorker
	pinger.hist = new(Hist)
	if byCount {
		pinger.share = p.messages
	}
	if p.warmup > 0 {
		phase.Store(phWarmup)
	} else {
		phase.Store(phMeasure)
	}
	g := newGate(2)
	sm := newSampler(p, 1, 0)
	var pingWG, pongWG sync.WaitGroup
	pingWG.Add(1)
	pongWG.Add(1)
	go func(t *chanWorker) {
		defer pingWG.Done()
		g.wait()
		for {
			ph := phase.Load()
			if ph == phStop || (byCount && ph == phMeasure && t.measured.n == t.share) {
				break
			}
			var ts int64
			timed := p.latency && sm.due()
			if timed || byCount {
				ts = nanotime()
			}
			a <- b2u(ph == phMeasure)
			t.sent++
			<-b // the one message is the ponger's until it sends it back
			t.received++
			var now int64
			if timed || byCount {
				now = nanotime()
			}
			var w uint64
			if timed {
				w = sm.took(now) // in the warm-up too: it draws the next gap
			}
			if ph == phMeasure {
				t.measured.inc()
				if timed {
					t.hist.RecordN(now-ts, w)
				}
				if byCount {
					t.lastNs = now
				}
			}
			t.beat.inc()
		}
		t.measured.flush()
		t.beat.flush()
		close(a) // the ponger drains a and returns
	}(&pinger)
	go func(t *chanWorker) {
		defer pongWG.Done()
		g.wait()
		for m := range a { // woken by the pinger's send, or its close
			t.received++
			b <- m
			t.sent++
			t.beat.inc()
		}
	}(&ponger)

	stall := &stallCheck{
		beats: func() uint64 { return pinger.beat.pub.Load() + ponger.beat.pub.Load() },
		what:  "go pingpong",
	}
	has := func() bool { return pinger.measured.pub.Load() != 0 }
	tStart := g.open()
	t1, t2 := window(p, &phase, tStart, has, stall)
	waitDone(closeWhenDone(&pingWG), stall)
	waitDone(closeWhenDone(&pongWG), stall)
	if byCount {
		t2 = t1
		if pinger.lastNs > t2 {
			t2 = pinger.lastNs
		}
	}
	r.messages = pinger.measured.n
	r.seconds = float64(t2-t1) / 1e9
	if pinger.sent > pinger.received {
		r.lost = pinger.sent - pinger.received
	}
	if p.latency {
		r.hist.Merge(pinger.hist)
	}
	if r.messages == 0 {
		return failf("nothing was measured (a window too short?)")
	}
	return nil
}
