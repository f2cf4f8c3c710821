package discovering_prometheus

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// arrivals is an accumulator that notes when each metric arrived.
type arrivals struct {
	testutil.Accumulator
	mu sync.Mutex
	at map[telegraf.Metric]time.Time
}

func (a *arrivals) AddMetric(m telegraf.Metric) {
	a.mu.Lock()
	a.at[m] = time.Now()
	a.mu.Unlock()
	a.Accumulator.AddMetric(m)
}

func (a *arrivals) arrival(m telegraf.Metric) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.at[m]
}

// Once gathers repeat (the custom Telegraf, the runner), the plugin is a service input: from Start on, with
// no gather at all, each target is scraped at its own phase of its interval, its first scrape included,
// and its metrics reach Start's accumulator as that scrape ends, stamped with the scrape's own time.
func TestServiceInputAddsEachScrapeAtItsPhase(t *testing.T) {
	const targets = 8
	var mu sync.Mutex
	requests := map[string][]time.Time{} // by target
	srv := make([]*httptest.Server, targets)
	var addrs []string
	for i := range srv {
		srv[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			requests[r.Host] = append(requests[r.Host], time.Now())
			mu.Unlock()
			fmt.Fprintln(w, "m 1")
		}))
		t.Cleanup(srv[i].Close)
		addrs = append(addrs, strings.TrimPrefix(srv[i].URL, "http://"))
	}
	p := mustLoad(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "svc"
    db = "db"
    rp = "rp"
    scrape-interval = "2s"
    discoverer-service = "static-discovery"
    discoverer-id = "svc"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "svc"
    targets = ["%s"]
`, strings.Join(addrs, `", "`)))
	require.NoError(t, p.Init())
	p.GathersRepeat()
	acc := &arrivals{at: map[telegraf.Metric]time.Time{}}
	start := time.Now()
	require.NoError(t, p.Start(acc))
	t.Cleanup(p.Stop)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, addr := range addrs {
			if len(requests[addr]) < 2 {
				return false
			}
		}
		return true
	}, 15*time.Second, 20*time.Millisecond, "every target scraped twice, with no gather")
	p.Stop()

	mu.Lock()
	defer mu.Unlock()
	firsts := map[time.Duration]bool{} // the first scrapes, by 100 ms of the interval
	for _, addr := range addrs {
		times := requests[addr]
		require.Less(t, times[0].Sub(start), 2*time.Second+time.Second, "%s: first scrape within its first interval", addr)
		firsts[times[0].Sub(start).Truncate(100*time.Millisecond)] = true
		gap := times[1].Sub(times[0])
		require.InDelta(t, float64(2*time.Second), float64(gap), float64(100*time.Millisecond), "%s: scrapes an interval apart", addr)
	}
	require.GreaterOrEqual(t, len(firsts), 3, "the targets' first scrapes come at their phases, not at once: %v", firsts)

	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() != "m" {
			continue
		}
		addr := m.Tags()["instance"]
		var scrape time.Time // the request of the scrape this metric came from: the first at or after its timestamp
		for _, at := range requests[addr] {
			if !at.Before(m.Time()) {
				scrape = at
				break
			}
		}
		require.False(t, scrape.IsZero(), "%s: a metric at %v without its request", addr, m.Time())
		require.Less(t, scrape.Sub(m.Time()), 500*time.Millisecond, "%s: the metric carries its scrape's time", addr)
		require.Less(t, acc.arrival(m).Sub(scrape), 500*time.Millisecond, "%s: added as its scrape ended, not at a gather", addr)
	}
}

// Served, a reload starts the scrapes of the jobs it adds and stops those of the jobs it removes, and a
// changed job's targets are scraped on its new interval; the jobs it keeps go on.
func TestServedReloadStartsAndStopsTheJobsScrapes(t *testing.T) {
	a, b, c := newCountingTargets(t, 1), newCountingTargets(t, 1), newCountingTargets(t, 1)
	job := func(name, interval string, targets *countingTargets) string {
		return fmt.Sprintf("  - job_name: %s\n    scrape_interval: %s\n    static_configs: [{targets: [%q], labels: {__param_n: '0'}}]\n",
			name, interval, strings.TrimPrefix(targets.srv.URL, "http://"))
	}
	yml := filepath.Join(t.TempDir(), "prometheus.yml")
	require.NoError(t, os.WriteFile(yml, []byte("scrape_configs:\n"+job("a", "1s", a)+job("b", "1s", b)), 0o644))
	p := mustLoad(t, fmt.Sprintf("[[inputs.discovering_prometheus]]\n  prometheus_config = %q\n", yml))
	require.NoError(t, p.Init())
	p.GathersRepeat()
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	t.Cleanup(p.Stop)
	scraped := func(targets *countingTargets) func() bool {
		return func() bool { return targets.take()["0"] > 0 }
	}
	require.Eventually(t, scraped(a), 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, scraped(b), 5*time.Second, 10*time.Millisecond)

	require.NoError(t, os.WriteFile(yml, []byte("scrape_configs:\n"+job("a", "2s", a)+job("c", "1s", c)), 0o644))
	require.NoError(t, p.Reload())
	require.Eventually(t, scraped(c), 5*time.Second, 10*time.Millisecond, "the added job is scraped")
	time.Sleep(200 * time.Millisecond) // a scrape of b under way at the reload ends
	b.take()
	a.take()
	time.Sleep(4 * time.Second)
	require.Empty(t, b.take(), "the removed job is no more scraped")
	require.InDelta(t, 2, a.take()["0"], 1, "the changed job is scraped every 2 s")
	require.InDelta(t, 4, c.take()["0"], 1, "the added job every second")
}
