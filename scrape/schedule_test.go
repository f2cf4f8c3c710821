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
		first := sched.first(tg, now)
		require.False(t, first.Before(now))
		require.Less(t, first.Sub(now), tg.Interval)
		perSecond[first.Unix()%10]++
		at := first
		for range 5 {
			next := sched.after(tg, at)
			require.Equal(t, tg.Interval, next.Sub(at), "no drift")
			at = next
		}
		require.Equal(t, first, sched.first(tg, now), "the phase is stable")
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
		if (Schedule{Seed: 1}).phase(tg) == (Schedule{Seed: 2}).phase(tg) {
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
		phases = append(phases, sched.phase(tg))
	}
	for rank := 1; rank < 3; rank++ {
		gap := (phases[rank] - phases[rank-1] + tg.Interval) % tg.Interval
		require.InDelta(t, tg.Interval/3, gap, 1, "rank %d after rank %d", rank, rank-1)
	}
	tg.SetReplica(5, 3) // not a rank of 3: alone
	require.Equal(t, (Schedule{Seed: 7}).phase(scheduleTargets(t, 1)[0]), sched.phase(tg))
}

// With Align (scrape_align_interval), every target is scraped at the multiples of Align, all at once, and
// then every interval.
func TestScheduleAlignScrapesAllAtOnce(t *testing.T) {
	sched := Schedule{Seed: 42, Align: 10 * time.Second}
	now := time.Unix(1_700_000_003, 0)
	for _, tg := range scheduleTargets(t, 50) {
		first := sched.first(tg, now)
		require.Equal(t, time.Unix(1_700_000_010, 0), first)
		require.Equal(t, first.Add(tg.Interval), sched.after(tg, first))
	}
}
