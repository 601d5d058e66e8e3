// SPDX-License-Identifier: MIT

// Latency sampling for the raw workloads, as the C side's (patterns/harness/sampling.h): a
// producer (or the pinger) times about one message in k, so that a point gets ~2x10^5
// samples (or every message when fewer pass) and the clock is not read for the others; the
// C side's instrument costs next to nothing, and Go's must not cost more, or every ratio
// against Go would measure the two instruments instead of the two channels.
//
// k: forced by -lat-sample N (N >= 1), or adapted per producer (0, auto): a power of two,
// doubled when samples come more than twice as often as needed for ~2x10^5 of them over the
// point's seconds, halved when less than half as often. The gap to the next sample is drawn
// at random with mean k (1 .. 2k-1), so no fixed stride lines up with the ring; each sample
// is recorded with weight k, so a faster producer does not count for less than its share.

package main

const latSamplesWanted = 200000

type sampler struct {
	k      uint64 // the current mean interval (a power of two in auto mode)
	left   uint64 // messages until the next sample
	auto   bool
	gapNs  float64 // auto: wanted ns between two samples of this producer
	lastNs int64   // auto: the clock at the previous sample
	rnd    uint64  // xorshift state
}

// newSampler is producer idx's sampler of a point with this many producers.
func newSampler(p *params, producers, idx int) *sampler {
	s := &sampler{k: 1, left: 1, rnd: 0x9e3779b97f4a7c15 ^ (uint64(idx)+1)*0xbf58476d1ce4e5b9}
	switch {
	case p.latSample > 0:
		s.k = p.latSample
	case p.messages > 0:
		for s.k*2*latSamplesWanted <= p.messages && s.k < 1<<30 {
			s.k *= 2
		}
	default:
		s.auto = true
		s.gapNs = p.seconds * 1e9 * float64(producers) / latSamplesWanted
	}
	s.left = s.draw()
	return s
}

func (s *sampler) draw() uint64 {
	if s.k <= 1 {
		return 1
	}
	s.rnd ^= s.rnd << 13
	s.rnd ^= s.rnd >> 7
	s.rnd ^= s.rnd << 17
	return 1 + s.rnd%(2*s.k-1)
}

// due counts one message down; true when it is to be timed.
func (s *sampler) due() bool {
	s.left--
	return s.left == 0
}

// took is called with the clock of a timed message: adapts k (auto) and draws the next gap.
// Returns the weight the sample stands for.
func (s *sampler) took(now int64) uint64 {
	w := s.k
	if s.auto {
		if s.lastNs != 0 {
			dt := float64(now - s.lastNs)
			if dt*2 < s.gapNs && s.k < 1<<20 {
				s.k *= 2
			} else if dt > 2*s.gapNs && s.k > 1 {
				s.k /= 2
			}
		}
		s.lastNs = now
	}
	s.left = s.draw()
	return w
}
