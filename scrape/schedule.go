package scrape

// When each target is scraped.

import (
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

// phase is the target's offset in its interval, in [0, interval).
func (sc Schedule) phase(t *Target) time.Duration {
	interval := uint64(t.Interval)
	rank, replicas := t.Replica()
	h := xxhash.Sum64String(t.URL) ^ t.Labels.Hash() ^ sc.Seed
	return time.Duration((h%interval + uint64(rank)*interval/uint64(replicas)) % interval)
}

// first is the time of the target's first scrape: the first of its phase, or with Align the first
// multiple of Align, at or after now.
func (sc Schedule) first(t *Target, now time.Time) time.Time {
	if sc.Align > 0 {
		return ceil(now, sc.Align, 0)
	}
	return ceil(now, t.Interval, sc.phase(t))
}

// after is the time of the scrape after the one due at, which is an interval later but when the target's
// phase changed (its owners did). With Align it is an interval later.
func (sc Schedule) after(t *Target, at time.Time) time.Time {
	if sc.Align > 0 {
		return at.Add(t.Interval)
	}
	return ceil(at.Add(1), t.Interval, sc.phase(t))
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
