package scrape

// When each target is scraped.

import (
	"encoding/binary"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Schedule says when targets are scraped. Each has its own phase in its interval, as Prometheus' scrape
// offset gives it: a hash of the target and of a seed, so that a scraper's targets are spread across the
// interval rather than scraped at once, and keep their phase from one scrape, restart or instance to the
// next. A target that R instances of a cluster scrape (replication-factor) is scraped by each at a phase
// 1/R of the interval after the one before it in its owners' order.
type Schedule struct {
	// Seed moves every phase: instances that scrape the same targets with different seeds scrape them at
	// different moments (Prometheus seeds with its host name and external labels). The instances of a
	// cluster share theirs, so that a target's owners stay 1/R of the interval apart.
	Seed uint64
	// Align, when positive, scrapes every target at the multiples of Align and then every interval, all at
	// once: vmagent's scrape_align_interval.
	Align time.Duration
}

// phase is the target's offset in its interval, in [0, interval): its own, a multiple of grain, and its
// rank's fraction of the interval.
func (sc Schedule) phase(t *Target, grain time.Duration) time.Duration {
	interval := uint64(t.Interval)
	rank, replicas := t.Replica()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], xxhash.Sum64String(t.URL)^t.Labels.Hash())
	binary.LittleEndian.PutUint64(b[8:], sc.Seed)
	own := xxhash.Sum64(b[:]) % interval
	own -= own % uint64(max(grain, 1))
	return time.Duration((own + uint64(rank)*interval/uint64(replicas)) % interval)
}

// grainBatch is how many targets, on average, share a grain of their phases (see grain).
const grainBatch = 16

// grain is the grain of the phases of the targets of an interval, for that many targets of it. The
// targets whose phases fall in one grain are started together, on one wake-up of the loop: a scrape that
// starts alone, on an idle process, costs some 16 thread wake-ups (the timer, the scrape's goroutine,
// net/http's read and write loops, each waking an idle processor), which at a few hundred samples a target
// cost a third to a half more CPU per sample than the same scrapes in a burst (BenchmarkScheduleCPU). So
// a grain holds some grainBatch targets: at 1,000 targets of 10 s, 125 ms, a batch of some 12 targets
// every 125 ms, still smooth when sampled every 100 ms; at 100 targets, 1 s, some 10 targets a batch
// (at 537 ms and 5 targets, the runner spent 1.2 to 1.3 times the aligned runner's CPU per sample there,
// in tests/bench). It is a power of two times a second (grainAtMost), and at most largestGrain: a
// target's phase then moves less than the loop's claim allows (loopEarly), and no scrape is skipped. Up to
// grainBatch targets each keeps a phase of its own (a grain of 1 ns): a wake-up each costs next to nothing
// there, and instances that share a target with different seeds stay apart.
func grain(interval time.Duration, targets int) time.Duration {
	if targets <= grainBatch {
		return 1
	}
	return grainAtMost(min(interval*grainBatch/time.Duration(targets), interval/4))
}

// largestGrain is the largest grain of an interval's phases, at most a quarter of it.
func largestGrain(interval time.Duration) time.Duration { return grainAtMost(interval / 4) }

// grainAtMost is the largest grain at or below d: a second times a power of two (..., 125 ms, 250 ms,
// 500 ms, 1 s, 2 s, ...), so that a grain changes only when the number of targets halves or doubles, and
// every second of the clock starts as many grains as every other (grains of some 134 ms, say, start 8 in
// some seconds and 7 in others, and the busiest second takes a seventh more than the mean). Below a
// nanosecond's precision it is 1 ns.
func grainAtMost(d time.Duration) time.Duration {
	g := time.Second
	for g > d && g > 1 {
		g /= 2
	}
	for g*2 <= d {
		g *= 2
	}
	return max(g, 1)
}

// loopEarly is how long before its time the loop may scrape a target (claim): its phase moves earlier by
// less than a grain when its grain grows, and the scrape then comes that much early rather than an
// interval late.
func loopEarly(t *Target) time.Duration { return largestGrain(t.Interval) }

// first is the time of the target's first scrape: the first of its phase, or with Align the first
// multiple of Align, at or after now.
func (sc Schedule) first(t *Target, now time.Time, grain time.Duration) time.Time {
	if sc.Align > 0 {
		return ceil(now, sc.Align, 0)
	}
	return ceil(now, t.Interval, sc.phase(t, grain))
}

// after is the time of the scrape after the one due at, which is an interval later but when the target's
// phase changed (its owners did, or its grain). With Align it is an interval later.
func (sc Schedule) after(t *Target, at time.Time, grain time.Duration) time.Time {
	if sc.Align > 0 {
		return at.Add(t.Interval)
	}
	return ceil(at.Add(1), t.Interval, sc.phase(t, grain))
}

// ceil is the first time at or after now that is phase past a multiple of interval since the epoch.
func ceil(now time.Time, interval, phase time.Duration) time.Time {
	ns := now.UnixNano()
	base := ns - ns%int64(interval) + int64(phase)
	if base < ns {
		base += int64(interval)
	}
	return time.Unix(0, base)
}
