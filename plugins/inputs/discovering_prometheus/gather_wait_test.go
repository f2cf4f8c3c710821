package discovering_prometheus

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// fastAndHangingSlow starts a plugin with a fast job (1 s interval and timeout) and a slow one (1 m
// interval, slowTimeout) whose exporter never answers, and counts the fast exporter's requests; slowUp
// reads the slow target's up.
func fastAndHangingSlow(t *testing.T, slowTimeout time.Duration, serve bool) (p *DiscoveringPrometheus, acc *testutil.Accumulator, fastRequests *atomic.Int64, slowUp func() (float64, bool)) {
	fastRequests = new(atomic.Int64)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fastRequests.Add(1)
		fmt.Fprint(w, "fast 1\n")
	}))
	t.Cleanup(fast.Close)
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(hang) }) // before the server's Close, which waits for its handlers
	conf := fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "fast"
    db = "db"
    rp = "rp"
    scrape-interval = "1s"
    discoverer-service = "static-discovery"
    discoverer-id = "fast"
  [[inputs.discovering_prometheus.scraper]]
    name = "slow"
    db = "db"
    rp = "rp"
    scrape-interval = "1m"
    scrape-timeout = "%s"
    discoverer-service = "static-discovery"
    discoverer-id = "slow"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "fast"
    targets = ["%s"]
  [[inputs.discovering_prometheus.static-discovery]]
    id = "slow"
    targets = ["%s"]
`, slowTimeout, strings.TrimPrefix(fast.URL, "http://"), strings.TrimPrefix(slow.URL, "http://"))
	p = mustLoad(t, conf)
	require.NoError(t, p.Init())
	if serve {
		alignToTheSecond(p)
	}
	acc = &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	t.Cleanup(p.Stop)
	slowAddr := strings.TrimPrefix(slow.URL, "http://")
	return p, acc, fastRequests, func() (float64, bool) { return upOf(acc, slowAddr) }
}

// upOf is the last up value the accumulator holds for the instance, and whether there is one.
func upOf(acc *testutil.Accumulator, instance string) (float64, bool) {
	var up float64
	found := false
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() == "up" && m.Tags()["instance"] == instance {
			v, _ := m.GetField("value")
			up, found = v.(float64), true
		}
	}
	return up, found
}

// In serve mode the scrapes run on their own schedules, not in gathers: each gather returns at once, the
// fast job is scraped every second while the slow job's target hangs, and the slow scrape reports into the
// accumulator when it ends. (Aligned to the second, so that the slow job's first scrape comes within one
// rather than at its phase of its minute.)
func TestGathersDoNotWaitForASlowJobsHangingTarget(t *testing.T) {
	p, acc, fastRequests, slowUp := fastAndHangingSlow(t, 3*time.Second, true)
	start := time.Now()
	for i := range 5 {
		gather := time.Now()
		require.NoError(t, p.Gather(acc))
		require.Less(t, time.Since(gather), 2500*time.Millisecond, "gather %d waited for the hanging target", i)
		if i == 0 {
			_, ok := slowUp()
			require.False(t, ok, "the slow scrape still runs")
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second)))
	}
	require.GreaterOrEqual(t, fastRequests.Load(), int64(4), "the fast job is scraped every second")
	require.Eventually(t, func() bool { up, ok := slowUp(); return ok && up == 0 }, 10*time.Second, 50*time.Millisecond,
		"the hanging scrape reports up = 0 at its timeout, after its gather returned")
}

// A one-shot run (telegraf --once or --test, the runner's -once) gathers once and stops: that gather waits
// for every scrape, up to its timeout, and has them all when it returns.
func TestFirstGatherWaitsForEveryScrape(t *testing.T) {
	p, acc, _, slowUp := fastAndHangingSlow(t, 2*time.Second, false)
	start := time.Now()
	require.NoError(t, p.Gather(acc))
	require.GreaterOrEqual(t, time.Since(start), 2*time.Second)
	up, ok := slowUp()
	require.True(t, ok, "the slow job's scrape is in the gather")
	require.Zero(t, up)
}

// Stop, with a scrape running in the background, returns within moments: the scrape is cancelled, and
// reports nothing.
func TestStopEndsTheScrapesAGatherLeft(t *testing.T) {
	p, acc, _, slowUp := fastAndHangingSlow(t, time.Minute, true)
	require.NoError(t, p.Gather(acc))
	time.Sleep(1500 * time.Millisecond) // the hanging scrape has started, at the next second
	stop := time.Now()
	p.Stop()
	require.Less(t, time.Since(stop), 5*time.Second)
	_, ok := slowUp()
	require.False(t, ok)
}

// slowAcc takes a while over the first metric of one instance, as an accumulator whose consumer is busy
// does, and notes when it last took one of that instance's.
type slowAcc struct {
	testutil.Accumulator
	instance string
	slowed   atomic.Bool
	last     atomic.Int64 // UnixNano
}

func (a *slowAcc) AddMetric(m telegraf.Metric) {
	if m.Tags()["instance"] == a.instance {
		if !a.slowed.Swap(true) {
			time.Sleep(2 * time.Second)
		}
		a.last.Store(time.Now().UnixNano())
	}
	a.Accumulator.AddMetric(m)
}

// Stop waits for a scrape that is delivering its metrics: none arrives after Stop has returned (Telegraf
// closes the accumulator's channel then).
func TestStopWaitsForADeliveryUnderWay(t *testing.T) {
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "fast 1\n") }))
	t.Cleanup(fast.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(1500 * time.Millisecond) // past the gather's wait, the fast job's 1 s
		fmt.Fprint(w, "slow 1\n")
	}))
	t.Cleanup(slow.Close)
	p := mustLoad(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "fast"
    db = "db"
    rp = "rp"
    scrape-interval = "1s"
    discoverer-service = "static-discovery"
    discoverer-id = "fast"
  [[inputs.discovering_prometheus.scraper]]
    name = "slow"
    db = "db"
    rp = "rp"
    scrape-interval = "1m"
    discoverer-service = "static-discovery"
    discoverer-id = "slow"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "fast"
    targets = ["%s"]
  [[inputs.discovering_prometheus.static-discovery]]
    id = "slow"
    targets = ["%s"]
`, strings.TrimPrefix(fast.URL, "http://"), strings.TrimPrefix(slow.URL, "http://")))
	require.NoError(t, p.Init())
	acc := &slowAcc{instance: strings.TrimPrefix(slow.URL, "http://")}
	alignToTheSecond(p)
	require.NoError(t, p.Start(acc))
	require.NoError(t, p.Gather(acc))
	require.Eventually(t, acc.slowed.Load, 10*time.Second, 10*time.Millisecond) // the slow target's metrics are being delivered
	p.Stop()
	stopped := time.Now()
	require.True(t, acc.slowed.Load(), "the slow target's metrics were on their way when Stop was called")
	time.Sleep(3 * time.Second) // a delivery that Stop left would be over by now
	require.NotZero(t, acc.last.Load(), "the slow target's metrics were delivered")
	require.False(t, time.Unix(0, acc.last.Load()).After(stopped), "a metric arrived after Stop returned")
}

// alignToTheSecond has the plugin run as served (GathersRepeat), its scrapes at every second, so that a
// job of a minute is first scraped within one rather than at its phase of its minute.
func alignToTheSecond(p *DiscoveringPrometheus) {
	p.GathersRepeat()
	p.ScrapeAlignInterval = config.Duration(time.Second)
}
