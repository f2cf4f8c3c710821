package scrape

import (
	"fmt"
	"math/bits"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
)

// scheduleTargets are n targets of one scraper, every 10 s.
func scheduleTargets(t *testing.T, n int) []*Target {
	c := valid()
	c.ScrapeInterval = 10_000_000_000
	require.NoError(t, c.Init())
	s, err := New(c, nil, discard)
	require.NoError(t, err)
	g := &targetgroup.Group{Source: "s"}
	for i := range n {
		g.Targets = append(g.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(fmt.Sprintf("host%d:9100", i))})
	}
	require.Empty(t, s.Sync([]*targetgroup.Group{g}))
	return s.Targets()
}

// 1,000 targets of a 10 s interval are spread across it: no second of the interval has more than 1.3 times
// the mean of first scrapes, and each target's scrapes then follow one another by exactly the interval.
func TestScheduleSpreadsTargetsAcrossTheInterval(t *testing.T) {
	targets := scheduleTargets(t, 1000)
	sched := Schedule{Seed: 42}
	now := time.Unix(1_700_000_003, 123)
	perSecond := make(map[int64]int)
	for _, tg := range targets {
		first := sched.first(tg, now, time.Millisecond)
		require.False(t, first.Before(now))
		require.Less(t, first.Sub(now), tg.Interval)
		perSecond[first.Unix()%10]++
		at := first
		for range 5 {
			next := sched.after(tg, at, time.Millisecond)
			require.Equal(t, tg.Interval, next.Sub(at), "no drift")
			at = next
		}
		require.Equal(t, first, sched.first(tg, now, time.Millisecond), "the phase is stable")
	}
	busiest := 0
	for _, n := range perSecond {
		busiest = max(busiest, n)
	}
	require.Len(t, perSecond, 10)
	require.LessOrEqual(t, float64(busiest), 1.3*100, "the busiest second of %v", perSecond)
}

// Another seed gives other phases: two instances without a cluster do not scrape a target at once.
func TestScheduleSeedMovesThePhases(t *testing.T) {
	targets := scheduleTargets(t, 100)
	same := 0
	for _, tg := range targets {
		if (Schedule{Seed: 1}).phase(tg, time.Millisecond) == (Schedule{Seed: 2}).phase(tg, time.Millisecond) {
			same++
		}
	}
	require.Less(t, same, 5)
}

// A target's R owners scrape it 1/R of the interval apart, in their order.
func TestScheduleReplicasAreAFractionOfTheIntervalApart(t *testing.T) {
	tg := scheduleTargets(t, 1)[0]
	sched := Schedule{Seed: 7}
	var phases []time.Duration
	for rank := range 3 {
		tg.SetReplica(rank, 3)
		phases = append(phases, sched.phase(tg, time.Millisecond))
	}
	for rank := 1; rank < 3; rank++ {
		gap := (phases[rank] - phases[rank-1] + tg.Interval) % tg.Interval
		require.InDelta(t, tg.Interval/3, gap, 1, "rank %d after rank %d", rank, rank-1)
	}
	tg.SetReplica(5, 3) // not a rank of 3: alone
	require.Equal(t, (Schedule{Seed: 7}).phase(scheduleTargets(t, 1)[0], time.Millisecond), sched.phase(tg, time.Millisecond))
}

// With Align (scrape_align_interval), every target is scraped at the multiples of Align, all at once, and
// then every interval.
func TestScheduleAlignScrapesAllAtOnce(t *testing.T) {
	sched := Schedule{Seed: 42, Align: 10 * time.Second}
	now := time.Unix(1_700_000_003, 0)
	for _, tg := range scheduleTargets(t, 50) {
		first := sched.first(tg, now, time.Millisecond)
		require.Equal(t, time.Unix(1_700_000_010, 0), first)
		require.Equal(t, first.Add(tg.Interval), sched.after(tg, first, time.Millisecond))
	}
}

// The phases come in grains of some grainBatch targets each, so that the loop starts them on one wake-up: a
// power of two nanoseconds, the same for the counts between two doublings, and at most a quarter of the
// interval, which the loop's claim tolerates when a grain changes.
func TestScheduleGrainsBatchTheTargets(t *testing.T) {
	const interval = 10 * time.Second
	require.Equal(t, time.Duration(1<<27), grain(interval, 1000), "some 134 ms: 13 of 1,000 targets a grain")
	require.Equal(t, grain(interval, 1000), grain(interval, 1100), "no change short of a doubling")
	require.Equal(t, time.Duration(1<<30), grain(interval, 100), "some 1.07 s: 9 of 100 targets a grain")
	for _, n := range []int{0, 1, 10, 100, 1000, 100_000} {
		g := grain(interval, n)
		require.LessOrEqual(t, g, interval/4)
		require.Equal(t, 1, bits.OnesCount64(uint64(g)), "%d targets: %v", n, g)
	}

	targets := scheduleTargets(t, 1000)
	g := grain(interval, len(targets))
	sched := Schedule{Seed: 3}
	batches := make(map[time.Duration]int)
	for _, tg := range targets {
		phase := sched.phase(tg, g)
		require.Zero(t, phase%g)
		batches[phase]++
	}
	require.InDelta(t, float64(interval/g), len(batches), 2, "every grain of the interval has targets")
	require.InDelta(t, float64(len(targets))/float64(interval/g), float64(len(targets))/float64(len(batches)), 1)
}

// When its grain grows (the targets of its interval halved, or fewer still), a target's phase moves earlier
// by less than the new grain: its next scrape comes that much early and is taken, not put off an interval.
func TestScheduleGrainChangeSkipsNoScrape(t *testing.T) {
	const interval = 10 * time.Second
	sched := Schedule{Seed: 5}
	small, large := grain(interval, 1000), grain(interval, 1)
	require.Equal(t, time.Duration(1<<31), large, "the largest grain, some 2.1 s")
	moved := 0
	for _, tg := range scheduleTargets(t, 200) {
		at := sched.first(tg, time.Unix(1_700_000_000, 0), small)
		require.True(t, tg.claim(at, loopEarly(tg)))
		tg.release()
		next := sched.after(tg, at, large)
		require.Greater(t, next.Sub(at), interval-large)
		require.LessOrEqual(t, next.Sub(at), interval)
		if next.Sub(at) < interval-interval/10 {
			moved++
		}
		require.True(t, tg.claim(next, loopEarly(tg)), "scraped at its new phase, %v after the last", next.Sub(at))
		tg.release()
	}
	require.Greater(t, moved, 50, "many phases moved by more than a gather's tolerance")
}
