package scrape

import (
	"fmt"
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
// second times a power of two, the same for the counts between two doublings, and at most a quarter of the
// interval, which the loop's claim tolerates when a grain changes.
func TestScheduleGrainsBatchTheTargets(t *testing.T) {
	const interval = 10 * time.Second
	require.Equal(t, 125*time.Millisecond, grain(interval, 1000), "12 of 1,000 targets a grain, 8 grains every second")
	require.Equal(t, grain(interval, 1000), grain(interval, 1100), "no change short of a doubling")
	require.Equal(t, time.Second, grain(interval, 100), "10 of 100 targets a grain")
	require.Equal(t, 2*time.Second, grain(interval, 17), "a quarter of the interval at most")
	require.Equal(t, largestGrain(interval), grain(interval, 17))
	require.Equal(t, time.Duration(1), grain(interval, grainBatch), "so few targets keep phases of their own")
	require.Equal(t, 15625*time.Microsecond, grain(interval, 10_000))
	for _, n := range []int{0, 1, 10, 17, 100, 1000, 100_000, 1 << 40} {
		g := grain(interval, n)
		require.Positive(t, g)
		require.LessOrEqual(t, g, largestGrain(interval))
		require.LessOrEqual(t, largestGrain(interval), interval/4)
		if g >= time.Millisecond {
			require.True(t, time.Second%g == 0 || g%time.Second == 0, "%d targets: %v divides a second or is seconds", n, g)
		}
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
	small, large := grain(interval, 1000), grain(interval, 20)
	require.Equal(t, largestGrain(interval), large)
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
