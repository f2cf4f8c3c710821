package scrape

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
)

// A scraper with more targets than target-limit scrapes none of them: each reports Prometheus' error, up = 0
// and no samples of its own. At the limit, every target is scraped.
func TestTargetLimitFailsEveryTarget(t *testing.T) {
	var addrs []string
	for range 3 {
		srv, _ := serve(t, "text/plain", []byte("ok_metric 1\n"), false)
		addrs = append(addrs, strings.TrimPrefix(srv.URL, "http://"))
	}
	for _, tc := range []struct {
		limit int
		want  string // every target's last error
		up    string
	}{
		{2, "target_limit exceeded (number of targets: 3, limit: 2)", "0"},
		{3, "", "1"},
		{0, "", "1"},
	} {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			c := valid()
			c.TargetLimit = tc.limit
			s := newScraper(t, c, addrs...)
			r := scrapeOnce(t, s)
			require.Len(t, s.Targets(), 3)
			for _, target := range s.Targets() {
				require.Equal(t, tc.want, target.Health().LastError, target.URL)
				require.Equal(t, tc.want == "", target.Health().Up)
			}
			var up []string
			for _, a := range addrs {
				up = append(up, `{__name__="up", env="test", instance="`+a+`", job="node"} `+tc.up)
			}
			require.ElementsMatch(t, up, r.series("up"))
			if tc.want != "" {
				require.Empty(t, r.series("ok_metric"))
				require.Equal(t, uint64(3), s.Stats().Errors.Load())
			} else {
				require.Len(t, r.series("ok_metric"), 3)
			}
		})
	}
}

// The limit follows the targets: a Sync back within it lifts the error.
func TestTargetLimitLiftedBySync(t *testing.T) {
	c := valid()
	c.TargetLimit = 1
	s := newScraper(t, c, "a:1", "b:1")
	require.EqualError(t, s.targetLimitErr(), "target_limit exceeded (number of targets: 2, limit: 1)")
	require.Empty(t, s.Sync([]*targetgroup.Group{{Source: "g", Targets: []model.LabelSet{{model.AddressLabel: "a:1"}}}}))
	require.NoError(t, s.targetLimitErr())
}

// keep-dropped-targets bounds the list of dropped targets; the count is of them all.
func TestKeepDroppedTargetsBoundsTheList(t *testing.T) {
	sync := func(keep int) *Scraper {
		c := valid()
		c.KeepDroppedTargets = keep
		c.RelabelConfigs = []*Relabel{{SourceLabels: []string{"__meta_role"}, Regex: ptr("db"), Action: "drop"}}
		require.NoError(t, c.Init())
		s, err := New(c, nil, discard)
		require.NoError(t, err)
		g := &targetgroup.Group{Source: "g", Targets: []model.LabelSet{{model.AddressLabel: "web:1"}}}
		for i := range 5 {
			g.Targets = append(g.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(fmt.Sprintf("db:%d", i)), "__meta_role": "db"})
		}
		require.Empty(t, s.Sync([]*targetgroup.Group{g}))
		require.Len(t, s.Targets(), 1)
		return s
	}
	s := sync(2)
	require.Len(t, s.Dropped(), 2)
	require.Equal(t, "db:0", s.Dropped()[0].Discovered.Get(model.AddressLabel), "the first dropped are kept")
	require.Equal(t, 5, s.DroppedCount())
	// A second Sync starts the list and the count over.
	require.Empty(t, s.Sync(nil))
	require.Empty(t, s.Dropped())
	require.Zero(t, s.DroppedCount())

	for keep, want := range map[int]int{0: 5, -1: 5, 5: 5, 4: 4} {
		s := sync(keep)
		require.Len(t, s.Dropped(), want, "keep-dropped-targets = %d", keep)
		require.Equal(t, 5, s.DroppedCount())
	}
	c := valid()
	require.NoError(t, c.Init())
	require.Equal(t, DefaultKeepDroppedTargets, c.KeepDroppedTargets)
}

func TestTargetLimitNegative(t *testing.T) {
	c := valid()
	c.TargetLimit = -1
	require.ErrorContains(t, c.Init(), "target-limit: -1 is negative")
}

// series-limit lets a target write at most that many series within the window: the samples of new series
// past it are dropped and counted, the scrape stays up, and the series already known keep coming.
func TestSeriesLimitDropsNewSeries(t *testing.T) {
	var mu sync.Mutex
	body := "a 1\nb 1\nc 1\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c := valid()
	c.SeriesLimit = 2
	s := newScraper(t, c, strings.TrimPrefix(srv.URL, "http://"))
	target := s.Targets()[0]
	scrape := func(at time.Time) *recorder {
		r := &recorder{}
		Run(context.Background(), []*Scraper{s}, at, 4, r.sink)
		return r
	}
	names := func(r *recorder) (out []string) {
		for _, n := range []string{"a", "b", "c", "d"} {
			if len(r.series(n)) > 0 {
				out = append(out, n)
			}
		}
		return out
	}
	now := time.Now()
	r := scrape(now)
	require.Equal(t, []string{"a", "b"}, names(r), "c is past the limit")
	h := target.Health()
	require.True(t, h.Up, h.LastError)
	require.Equal(t, 1, h.SeriesDropped)
	require.Equal(t, 3, h.Samples, "scrape_samples_scraped counts them all")
	require.Equal(t, []string{`{__name__="scrape_samples_post_metric_relabeling", env="test", instance="` + strings.TrimPrefix(srv.URL, "http://") + `", job="node"} 2`}, r.series("scrape_samples_post_metric_relabeling"))

	// Known series pass whatever their order; a new one does not.
	mu.Lock()
	body = "d 1\nb 2\na 2\n"
	mu.Unlock()
	now = now.Add(time.Minute)
	require.Equal(t, []string{"a", "b"}, names(scrape(now)))
	require.Equal(t, 1, target.Health().SeriesDropped)
	require.Equal(t, uint64(2), s.Stats().SeriesDropped.Load())

	// A new window starts over (a scrape's clock is its own: the window is moved back instead).
	target.series.start = target.series.start.Add(-seriesWindow)
	now = now.Add(time.Minute)
	require.Equal(t, []string{"b", "d"}, names(scrape(now)), "the window's first two series, in the body's order")
}

// The set of a target holds at most limit hashes.
func TestSeriesSetIsBounded(t *testing.T) {
	var set seriesSet
	set.startScrape(time.Now())
	for i := range 100 {
		set.admit(uint64(i), 10)
	}
	require.Equal(t, 10, set.n)
	require.Len(t, set.slots, 64)
	require.True(t, set.admit(3, 10))
	require.False(t, set.admit(50, 10))
}

// Series differ by where a label's name ends and its value starts.
func TestSeriesHashSeparatesLabels(t *testing.T) {
	w := workers.Get().(*worker)
	defer workers.Put(w)
	a := w.seriesHash(Labels{{Name: "a", Value: "bc"}})
	require.NotEqual(t, a, w.seriesHash(Labels{{Name: "ab", Value: "c"}}))
	require.Equal(t, a, w.seriesHash(Labels{{Name: "a", Value: "bc"}}))
}

func TestSeriesLimitNegative(t *testing.T) {
	c := valid()
	c.SeriesLimit = -1
	require.ErrorContains(t, c.Init(), "series-limit: -1 is negative")
}
