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

// runBounded runs the scrapes as Run does but fails the test, instead of hanging it, when they are not all
// done within limit; the scrapes left are cancelled.
func runBounded(t *testing.T, s []*Scraper, now time.Time, limit time.Duration, newSink func() Sink) time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	if !RunWithin(ctx, s, now, 4, limit, newSink, nil) {
		t.Fatalf("the scrapes were not done within %s", limit)
	}
	return time.Since(start)
}

// hangingTarget is a target that never answers, until the test ends.
func hangingTarget(t *testing.T) (addr string, requests *atomic.Int64) {
	requests = new(atomic.Int64)
	return serveHTTP(t, func(_ http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		<-r.Context().Done()
	}), requests
}

// A timeout that a discoverer (or relabeling) sets cannot lengthen the scraper's: a discovery answer of
// 999h would otherwise hold the target's scrape, and a one-shot run, for 999 hours. The interval it sets
// stays, as in Prometheus.
func TestDiscoveredTimeoutIsCappedAtTheScrapers(t *testing.T) {
	addr, _ := hangingTarget(t)
	c := valid()
	c.ScrapeInterval, c.ScrapeTimeout = config.Duration(2*time.Second), config.Duration(300*time.Millisecond)
	require.NoError(t, c.Init())
	s, err := New(c, nil, discard)
	require.NoError(t, err)
	require.Empty(t, s.Sync([]*targetgroup.Group{{Source: "hostile", Targets: []model.LabelSet{{
		model.AddressLabel: model.LabelValue(addr), model.ScrapeIntervalLabel: "1000h", model.ScrapeTimeoutLabel: "999h",
	}}}}))
	tg := s.Targets()[0]
	require.Equal(t, 300*time.Millisecond, tg.Timeout)
	require.Equal(t, 1000*time.Hour, tg.Interval)

	r := &recorder{}
	took := runBounded(t, []*Scraper{s}, time.Now(), 10*time.Second, r.sink)
	require.Less(t, took, 5*time.Second)
	require.Contains(t, r.series("up")[0], "} 0")
	require.NotEmpty(t, tg.Health().LastError)

	// A discovered timeout shorter than the scraper's is the target's.
	require.Empty(t, s.Sync([]*targetgroup.Group{{Source: "short", Targets: []model.LabelSet{{
		model.AddressLabel: model.LabelValue(addr), model.ScrapeTimeoutLabel: "100ms",
	}}}}))
	require.Equal(t, 100*time.Millisecond, s.Targets()[0].Timeout)
}

// A costly metric relabeling rule on every sample is cut short at the scrape's timeout, not after the
// whole body: the deadline is looked at after every relabeled sample.
func TestCostlyMetricRelabelingStopsAtTheTimeout(t *testing.T) {
	value := strings.Repeat("abcdefghij", 100)
	var body strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&body, "m{i=\"%d\",v=%q} 1\n", i, value)
	}
	srv, _ := serve(t, "text/plain", []byte(body.String()), false)
	// The value 64 times over, against a pattern that the regexp package matches in time linear in both:
	// some 13 ms a sample here, 13 s for the body.
	sources := make([]string, 64)
	for i := range sources {
		sources[i] = "v"
	}
	c := valid()
	c.ScrapeInterval, c.ScrapeTimeout = config.Duration(time.Minute), config.Duration(300*time.Millisecond)
	c.MetricRelabelConfigs = []*Relabel{{SourceLabels: sources, Regex: ptr("(.*a.*b.*c.*d.*e.*f.*g.*h.*i.*j)+z"), Action: "drop"}}
	s := newScraper(t, c, strings.TrimPrefix(srv.URL, "http://"))

	r := &recorder{}
	runBounded(t, []*Scraper{s}, time.Now(), 30*time.Second, r.sink)
	h := s.Targets()[0].Health()
	require.False(t, h.Up)
	require.Contains(t, h.LastError, "scrape timeout of 300ms exceeded while parsing")
	// Without a look after each sample the next would come 256 lines on, some 3 s late.
	require.Less(t, h.Duration, 2*time.Second, "scrape_duration_seconds")
	require.Contains(t, r.series("up")[0], "} 0")
}

// The deadline is looked at once more after the last line: a body parsed (here: delivered to a slow sink)
// past the timeout fails the scrape, however few its lines.
func TestDeadlineIsCheckedAfterTheLastLine(t *testing.T) {
	for _, tc := range []struct{ name, contentType, body string }{
		{"text", "text/plain", "a 1\nb 2\n"},
		{"openmetrics", "application/openmetrics-text; version=1.0.0", "a 1\nb 2\n# EOF\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, tc.contentType, []byte(tc.body), false)
			c := valid()
			c.ScrapeTimeout = config.Duration(100 * time.Millisecond)
			s := newScraper(t, c, strings.TrimPrefix(srv.URL, "http://"))
			r := &recorder{}
			runBounded(t, []*Scraper{s}, time.Now(), 30*time.Second, func() Sink { return &slowSink{recorderSink{r: r}} })
			h := s.Targets()[0].Health()
			require.False(t, h.Up)
			require.Contains(t, h.LastError, "scrape timeout of 100ms exceeded while parsing after 2 samples")
		})
	}
}

// slowSink takes 100 ms over each of the target's samples.
type slowSink struct{ recorderSink }

func (k *slowSink) Add(s *Scraper, t *Target, sample *Sample) error {
	if !sample.Synthetic {
		time.Sleep(100 * time.Millisecond)
	}
	return k.recorderSink.Add(s, t, sample)
}

// A gather with a bound returns at it, though a slow job's target hangs: the fast job's samples are
// there, the slow one's scrape ends in the background, and its target is not scraped again meanwhile.
func TestRunWithinLeavesAHangingScrapeBehind(t *testing.T) {
	slowAddr, requests := hangingTarget(t)
	srv, _ := serve(t, "text/plain", []byte("m 1\n"), false)
	fast := valid()
	fast.Name, fast.ScrapeInterval, fast.ScrapeTimeout = "fast", config.Duration(time.Second), config.Duration(200*time.Millisecond)
	slow := valid()
	slow.Name, slow.ScrapeInterval, slow.ScrapeTimeout = "slow", config.Duration(time.Minute), config.Duration(3*time.Second)
	scrapers := []*Scraper{newScraper(t, fast, strings.TrimPrefix(srv.URL, "http://")), newScraper(t, slow, slowAddr)}
	require.Equal(t, 200*time.Millisecond, WaitBound(scrapers))

	r := &recorder{}
	done := make(chan struct{})
	now := time.Now()
	start := time.Now()
	require.False(t, RunWithin(context.Background(), scrapers, now, 4, WaitBound(scrapers), r.sink, func() { close(done) }))
	require.Less(t, time.Since(start), 2*time.Second, "the gather waited for the hanging target")
	r.mu.Lock()
	require.Len(t, r.series("m"), 1, "the fast job's sample is there")
	r.mu.Unlock()

	// The next gather, a minute on, finds the slow target still scraped: it is not started again.
	second := &recorder{}
	require.True(t, RunWithin(context.Background(), scrapers, now.Add(time.Minute), 4, WaitBound(scrapers), second.sink, nil))
	require.Len(t, second.series("m"), 1)

	select {
	case <-done:
		t.Fatal("done came before the hanging scrape ended")
	default:
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the hanging scrape did not end at its timeout")
	}
	require.Equal(t, int64(1), requests.Load(), "one scrape of the hanging target at a time")
	r.mu.Lock()
	require.Contains(t, r.series("up"), `{__name__="up", env="test", instance="`+slowAddr+`", job="slow"} 0`,
		"the late scrape delivered into its own sink")
	r.mu.Unlock()
}
