package discovering_prometheus

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
)

// reloadRig is a plugin on a prometheus.yml of jobs a, b and, in the second plan, c, each aimed at an
// exporter of its own that counts its scrapes by target; job a finds its two targets by HTTP SD, whose
// requests are counted too.
type reloadRig struct {
	p          *DiscoveringPrometheus
	log        *testutil.CaptureLogger
	yml        string
	a, b, c    *countingTargets
	sdRequests atomic.Int64
	t0         time.Time
}

func newReloadRig(t *testing.T) *reloadRig {
	r := &reloadRig{a: newCountingTargets(t, 2), b: newCountingTargets(t, 1), c: newCountingTargets(t, 1), t0: time.Now()}
	sd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r.sdRequests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(r.a.fileSD())
	}))
	t.Cleanup(sd.Close)
	r.yml = filepath.Join(t.TempDir(), "prometheus.yml")
	r.write(t, r.plan("10s", false), sd.URL)
	p := mustLoad(t, fmt.Sprintf("[[inputs.discovering_prometheus]]\n  prometheus_config = %q\n", r.yml))
	r.log = &testutil.CaptureLogger{}
	p.Log = r.log
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	t.Cleanup(p.Stop)
	<-p.sd.Ready()
	r.p = p
	return r
}

// plan is the scrape_configs: b's interval, and whether c is there.
func (r *reloadRig) plan(bInterval string, withC bool) string {
	static := func(name, interval string, c *countingTargets) string {
		return fmt.Sprintf("  - job_name: %s\n    scrape_interval: %s\n    static_configs: [{targets: [%q], labels: {__param_n: '0'}}]\n",
			name, interval, strings.TrimPrefix(c.srv.URL, "http://"))
	}
	yml := "scrape_configs:\n  - job_name: a\n    scrape_interval: 10s\n    http_sd_configs: [{url: SD}]\n" + static("b", bInterval, r.b)
	if withC {
		yml += static("c", "10s", r.c)
	}
	return yml
}

func (r *reloadRig) write(t *testing.T, yml, sdURL string) {
	if sdURL == "" {
		data, err := os.ReadFile(r.yml)
		require.NoError(t, err)
		_, rest, _ := strings.Cut(string(data), "url: ")
		sdURL, _, _ = strings.Cut(rest, "}")
	}
	require.NoError(t, os.WriteFile(r.yml, []byte(strings.Replace(yml, "SD", sdURL, 1)), 0o644))
}

// gather runs one gather at t0 plus at, as Gather does, and waits for its scrapes.
func (r *reloadRig) gather(at time.Duration) {
	r.p.gatherMu.Lock()
	r.p.syncTargets()
	r.p.gatherAt(&testutil.Accumulator{}, r.t0.Add(at))
	r.p.gatherMu.Unlock()
	r.p.background.Wait()
}

func (r *reloadRig) waitForGroups(t *testing.T, key discovery.Key) {
	require.Eventually(t, func() bool { return len(r.p.sd.Groups(key)) > 0 }, 10*time.Second, 5*time.Millisecond, "%s answers", key)
}

func intervalOf(p *DiscoveringPrometheus, pool string) string {
	for _, a := range p.Targets().Active {
		if a.ScrapePool == pool {
			return a.ScrapeInterval
		}
	}
	return ""
}

// A reload applies the new plan as a change: a, unchanged, keeps its targets, their schedule (one scrape per
// interval across the reload) and its discoverer (no new SD request); b's interval changes; c's targets
// are scraped at the first gather after it. Each reload is logged once, with what changed.
func TestReloadAppliesTheChange(t *testing.T) {
	r := newReloadRig(t)
	r.gather(0)
	require.Equal(t, map[string]int{"0": 1, "1": 1}, r.a.take())
	require.Equal(t, map[string]int{"0": 1}, r.b.take())
	lastScrape := r.p.Targets().Active[0].LastScrape
	require.Equal(t, "10s", intervalOf(r.p, "b"))

	r.write(t, r.plan("20s", true), "")
	require.NoError(t, r.p.Reload())
	require.Equal(t, []string{"configuration reloaded: jobs added: c; changed: b; removed: none; discoverers added: prometheus \"c/static/0\"; changed: none; removed: none"},
		messages(r.log, "configuration reloaded"))
	require.NotEmpty(t, r.p.Targets().Active, "a keeps its targets")
	require.Equal(t, lastScrape, r.p.Targets().Active[0].LastScrape, "a's targets keep their health")
	r.waitForGroups(t, discovery.Key{Service: "prometheus", ID: "c/static/0"})

	r.gather(5 * time.Second) // nothing of a is due
	require.Empty(t, r.a.take(), "a's schedule carries over the reload")
	require.Equal(t, map[string]int{"0": 1}, r.c.take(), "c's target is scraped at the first gather")
	require.Equal(t, map[string]int{"0": 1}, r.b.take(), "b's new target is due at once")
	r.gather(10 * time.Second)
	require.Equal(t, map[string]int{"0": 1, "1": 1}, r.a.take())
	require.Equal(t, "20s", intervalOf(r.p, "b"))
	require.Equal(t, int64(1), r.sdRequests.Load(), "a's discoverer is not asked again")
	require.EqualValues(t, 1, r.p.reload.successful.Load())
}

// A plan that is not valid changes nothing: the old one keeps scraping, the error is returned and logged
// once, and config_last_reload_successful reads 0 until a good one comes.
func TestReloadOfABrokenFileChangesNothing(t *testing.T) {
	r := newReloadRig(t)
	r.gather(0)
	r.a.take()
	before := r.p.lastApplied()
	r.write(t, r.plan("10s", false)+"  - job_name: a\n    static_configs: [{targets: [x:1]}]\n", "")
	err := r.p.Reload()
	require.ErrorContains(t, err, `found multiple scrape configs with job name "a"`)
	require.Len(t, messages(r.log, "reloading the configuration"), 1)
	require.EqualValues(t, 0, r.p.reload.successful.Load())
	require.Equal(t, before, r.p.lastApplied(), "the success time stays the last success's")
	r.gather(10 * time.Second)
	require.Equal(t, map[string]int{"0": 1, "1": 1}, r.a.take(), "the old plan keeps scraping")

	r.write(t, r.plan("10s", false), "")
	require.NoError(t, r.p.Reload())
	require.EqualValues(t, 1, r.p.reload.successful.Load())
	require.Equal(t, []string{"configuration reloaded: nothing changed"}, messages(r.log, "configuration reloaded"))
}

// 1,000 reloads alternating two plans leave no goroutine behind and the heap where it was.
func TestReloadManyTimes(t *testing.T) {
	r := newReloadRig(t)
	plans := []string{r.plan("20s", true), r.plan("10s", false)}
	reload := func(i int) {
		r.write(t, plans[i%2], "")
		require.NoError(t, r.p.Reload())
	}
	for i := range 10 { // the first rounds start what lives as long as the process (connection pools...)
		reload(i)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	for i := range 1000 {
		reload(i)
	}
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= goroutines+1 }, // +1: Eventually checks on a goroutine of its own
		10*time.Second, 10*time.Millisecond,
		"goroutines: %d before, %d after", goroutines, runtime.NumGoroutine())
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth over 1,000 reloads: %d KiB", growth>>10)
	require.Less(t, growth, int64(4<<20), "heap growth")
	require.Equal(t, int64(1), r.sdRequests.Load(), "a's discoverer ran throughout")
}

func messages(log *testutil.CaptureLogger, prefix string) []string {
	var out []string
	for _, m := range log.Messages() {
		if _, text, ok := strings.Cut(m.Text, prefix); ok {
			out = append(out, prefix+text)
		}
	}
	return out
}
