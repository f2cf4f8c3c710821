package scrape

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
)

// The loop scrapes each target on its own, delivering each scrape as it ends: while a target of a slow job
// hangs for its whole timeout (1 s), the fast job's target (every 100 ms) is scraped again and again; the
// hanging one is then reported down. A target that left is forgotten; once the context is done, Wait
// returns with the hanging scrape cancelled.
func TestLoopScrapesEachTargetOnItsOwn(t *testing.T) {
	fast := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "fast 1\n") })
	r := &recorder{}
	fastUp := `{__name__="up", instance="` + fast + `", job="fast"} 1`
	fastScrapes := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return strings.Count(strings.Join(r.series("up"), "\n"), fastUp)
	}
	var atHang atomic.Int64 // the fast target's scrapes when the hanging one's request arrived
	atHang.Store(-1)
	hung := serveHTTP(t, func(_ http.ResponseWriter, req *http.Request) {
		atHang.CompareAndSwap(-1, int64(fastScrapes()))
		<-req.Context().Done()
	})
	newScraper := func(name, addr string, interval, timeout time.Duration) *Scraper {
		c := valid()
		c.Name, c.ScrapeInterval, c.ScrapeTimeout = name, config.Duration(interval), config.Duration(timeout)
		require.NoError(t, c.Init())
		s, err := New(c, nil, discard)
		require.NoError(t, err)
		t.Cleanup(s.CloseIdleConnections)
		require.Empty(t, s.Sync([]*targetgroup.Group{{Source: "t", Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(addr)}}}}))
		return s
	}
	fastJob := newScraper("fast", fast, 100*time.Millisecond, 100*time.Millisecond)
	slowJob := newScraper("slow", hung, 2*time.Second, time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := NewLoop(ctx, Schedule{Seed: 1}, 4, r.sink)
	l.Update([]*Scraper{fastJob, slowJob})
	hungDown := `{__name__="up", instance="` + hung + `", job="slow"} 0`
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return strings.Contains(strings.Join(r.series("up"), "\n"), hungDown)
	}, 10*time.Second, 10*time.Millisecond, "the hanging target reported down")
	r.mu.Lock()
	var during, stamps []string
	for _, sample := range r.flushed {
		if strings.HasPrefix(sample, hungDown) {
			break
		}
		if strings.HasPrefix(sample, `{__name__="fast"`) {
			stamps = append(stamps, sample[strings.LastIndex(sample, "@")+1:])
		}
		if strings.HasPrefix(sample, fastUp) {
			during = append(during, sample)
		}
	}
	r.mu.Unlock()
	require.GreaterOrEqual(t, len(during)-int(atHang.Load()), 5, "the fast target's scrapes while the other hung for 1 s")
	// Each scrape has its own timestamp, the time it started.
	for i := 1; i < len(stamps); i++ {
		require.Less(t, stamps[i-1], stamps[i])
	}

	require.Empty(t, fastJob.Sync(nil))
	l.Update([]*Scraper{fastJob, slowJob})
	l.mu.Lock()
	require.Len(t, l.entries, 1, "the target that left is forgotten")
	require.Len(t, l.due, 1)
	l.mu.Unlock()

	cancel()
	waited := make(chan struct{})
	go func() { l.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return once the context was done")
	}
	l.Wait() // again, as a second Stop does
}

// A target this instance does not scrape (another of its cluster does) is not scraped by the loop.
func TestLoopPassesOverTargetsScrapedElsewhere(t *testing.T) {
	var requests atomic.Int64
	addr := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, "m 1\n")
	})
	c := valid()
	c.ScrapeInterval, c.ScrapeTimeout = config.Duration(100*time.Millisecond), config.Duration(100*time.Millisecond)
	require.NoError(t, c.Init())
	s, err := New(c, nil, discard)
	require.NoError(t, err)
	defer s.CloseIdleConnections()
	require.Empty(t, s.Sync([]*targetgroup.Group{{Source: "t", Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(addr)}}}}))
	s.Targets()[0].SetScrapedHere(false)
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{}
	l := NewLoop(ctx, Schedule{}, 1, r.sink)
	l.Update([]*Scraper{s})
	l.mu.Lock()
	first := l.due[0].at
	l.mu.Unlock()
	// Past three of its times: the loop has passed over it three times.
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.due[0].at.Sub(first) >= 300*time.Millisecond
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	l.Wait()
	require.Zero(t, requests.Load())
}

// A loop that fell behind (a suspended machine) skips the times it missed and keeps each target's phase:
// aligned targets stay on the multiples of the alignment.
func TestLoopSkipsTheTimesItMissed(t *testing.T) {
	for _, sched := range []Schedule{{Seed: 3}, {Align: time.Minute}} {
		tg := scheduleTargets(t, 1)[0] // every 10 s
		tg.SetScrapedHere(false)       // nothing to fetch
		s := &Scraper{list: []*Target{tg}}
		ctx, cancel := context.WithCancel(context.Background())
		l := NewLoop(ctx, sched, 1, func() Sink { return &countSink{} })
		l.Update([]*Scraper{s})
		l.mu.Lock()
		first := l.due[0].at
		l.mu.Unlock()
		l.startDue(first.Add(55 * time.Second))
		l.mu.Lock()
		require.Equal(t, first.Add(60*time.Second), l.due[0].at, "%+v", sched)
		l.mu.Unlock()
		cancel()
		l.Wait()
	}
}
