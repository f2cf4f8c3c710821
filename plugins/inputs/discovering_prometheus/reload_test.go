package discovering_prometheus

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/selfstat"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/kapacitor"
	"github.com/discovering-prometheus/discovering-prometheus/plan"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// reloadRig is a plugin on a prometheus.yml of jobs a, b and, in the second plan, c, each aimed at an
// exporter of its own that counts its scrapes by target; job a finds its two targets by HTTP SD, whose
// requests are counted too.
type reloadRig struct {
	p          *DiscoveringPrometheus
	log        *testutil.CaptureLogger
	yml, sdURL string
	a, b, c    *countingTargets
	sdRequests atomic.Int64
	t0         time.Time
}

func newReloadRig(t *testing.T) *reloadRig { return newReloadRigWith(t, "") }

// newReloadRigWith starts the rig's plugin with the lines of extra in its table.
func newReloadRigWith(t *testing.T, extra string) *reloadRig {
	r := &reloadRig{a: newCountingTargets(t, 2), b: newCountingTargets(t, 1), c: newCountingTargets(t, 1), t0: time.Now()}
	sd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r.sdRequests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(r.a.fileSD())
	}))
	t.Cleanup(sd.Close)
	r.yml, r.sdURL = filepath.Join(t.TempDir(), "prometheus.yml"), sd.URL
	r.write(t, r.plan("10s", false))
	p := mustLoad(t, fmt.Sprintf("[[inputs.discovering_prometheus]]\n  prometheus_config = %q\n%s", r.yml, extra))
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
	yml := "scrape_configs:\n  - job_name: a\n    scrape_interval: 10s\n    http_sd_configs: [{url: " + r.sdURL + "}]\n" + static("b", bInterval, r.b)
	if withC {
		yml += static("c", "10s", r.c)
	}
	return yml
}

func (r *reloadRig) write(t *testing.T, yml string) {
	require.NoError(t, os.WriteFile(r.yml, []byte(yml), 0o644))
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

	r.write(t, r.plan("20s", true))
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
	r.write(t, r.plan("10s", false)+"  - job_name: a\n    static_configs: [{targets: [x:1]}]\n")
	err := r.p.Reload()
	require.ErrorContains(t, err, `found multiple scrape configs with job name "a"`)
	require.Len(t, messages(r.log, "reloading the configuration"), 1)
	require.EqualValues(t, 0, r.p.reload.successful.Load())
	require.Equal(t, before, r.p.lastApplied(), "the success time stays the last success's")
	r.gather(10 * time.Second)
	require.Equal(t, map[string]int{"0": 1, "1": 1}, r.a.take(), "the old plan keeps scraping")

	r.write(t, r.plan("10s", false))
	require.NoError(t, r.p.Reload())
	require.EqualValues(t, 1, r.p.reload.successful.Load())
	require.Equal(t, []string{"configuration reloaded: nothing changed"}, messages(r.log, "configuration reloaded"))
}

// 1,000 reloads alternating two plans leave no goroutine behind and the heap where it was.
func TestReloadManyTimes(t *testing.T) {
	r := newReloadRig(t)
	plans := []string{r.plan("20s", true), r.plan("10s", false)}
	reload := func(i int) {
		r.write(t, plans[i%2])
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

// With watch_config, a change of prometheus_config reloads it: a file written in two steps is read once,
// complete (read half-written, it would fail), and a's discoverer keeps running.
func TestWatchConfigReloadsOnceAFileIsWritten(t *testing.T) {
	debounce := watchDebounce
	watchDebounce = 100 * time.Millisecond
	t.Cleanup(func() { watchDebounce = debounce })
	r := newReloadRigWith(t, "  watch_config = true\n")
	reloaded := func(n int) func() bool {
		return func() bool { return len(messages(r.log, "configuration reloaded")) == n }
	}

	next := r.plan("20s", true)
	f, err := os.OpenFile(r.yml, os.O_WRONLY|os.O_TRUNC, 0)
	require.NoError(t, err)
	_, err = f.WriteString(next[:len(next)/2])
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	_, err = f.WriteString(next[len(next)/2:])
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Eventually(t, reloaded(1), 10*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"configuration reloaded: jobs added: c; changed: b; removed: none; discoverers added: prometheus \"c/static/0\"; changed: none; removed: none"},
		messages(r.log, "configuration reloaded"))

	// A second change is a second reload, and the only other: the two steps above made one.
	r.write(t, r.plan("10s", true))
	require.Eventually(t, reloaded(2), 10*time.Second, 10*time.Millisecond)
	require.Empty(t, messages(r.log, "reloading the configuration"), "no reload read a half-written file")
	require.Equal(t, "configuration reloaded: jobs added: none; changed: b; removed: none; discoverers added: none; changed: none; removed: none",
		messages(r.log, "configuration reloaded")[1])
	require.Equal(t, int64(1), r.sdRequests.Load())
}

// POST /-/reload, with status_enable_lifecycle, reloads; a broken file is answered 500 with its error,
// and the old plan runs on.
func TestStatusReload(t *testing.T) {
	r := newReloadRigWith(t, "  status_address = \"127.0.0.1:0\"\n  status_enable_lifecycle = true\n")
	post := func() (int, string) {
		resp, err := http.Post(strings.TrimSuffix(r.p.StatusURL(), "targets")+"-/reload", "", nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	r.write(t, r.plan("20s", true))
	code, body := post()
	require.Equal(t, http.StatusOK, code, body)
	require.Len(t, messages(r.log, "configuration reloaded"), 1)
	r.write(t, r.plan("20s", true)+"  - job_name: a\n    static_configs: [{targets: [x:1]}]\n")
	code, body = post()
	require.Equal(t, http.StatusInternalServerError, code)
	require.Contains(t, body, `found multiple scrape configs with job name "a"`)
	require.EqualValues(t, 0, r.p.reload.successful.Load())
	require.Len(t, r.p.RunningScrapers(), 3, "the old plan runs on")
}

// overrides is a plan.Source that adds a scraper and its static discoverer, as Kapacitor's config API adds
// elements.
type overrides struct{ target string }

func (o overrides) Apply(s *plan.Sections) error {
	origin := plan.Origin{Option: "overrides"}
	s.Scrapers = append(s.Scrapers, &plan.ScraperSection{Origin: origin, Scraper: &kapacitor.Scraper{
		DB: "d", RP: "r", DiscovererService: "static-discovery", DiscovererID: "o", Config: scrape.Config{Name: "o"}}})
	s.Discoverers = append(s.Discoverers, &plan.DiscovererSection{Origin: origin,
		Provider: &discovery.Static{Common: discovery.Common{ID: "o"}, Targets: []string{o.target}}})
	return nil
}

// A source added to the plugin is one more source of its plan: the next reload runs what it adds.
func TestReloadWithAnAddedSource(t *testing.T) {
	r := newReloadRig(t)
	r.p.AddSource(overrides{strings.TrimPrefix(r.c.srv.URL, "http://")})
	require.NoError(t, r.p.Reload())
	require.Equal(t, []string{`configuration reloaded: jobs added: o; changed: none; removed: none; discoverers added: static-discovery "o"; changed: none; removed: none`},
		messages(r.log, "configuration reloaded"))
}

// In a cluster of three, a reload that adds a job moves the owners of no target of the unchanged one, and
// its targets are not scraped again before their interval.
func TestReloadKeepsClusterOwners(t *testing.T) {
	const n = 30
	targets := newCountingTargets(t, n)
	dir := t.TempDir()
	targetsFile, peersFile := filepath.Join(dir, "targets.json"), filepath.Join(dir, "peers.json")
	require.NoError(t, os.WriteFile(targetsFile, targets.fileSD(), 0o644))
	names := []string{"a:1", "b:1", "c:1"}
	writePeers(t, peersFile, names...)
	ownersOf := func(p *DiscoveringPrometheus) map[string][]string {
		owners := map[string][]string{}
		for _, a := range p.Targets().Active {
			if a.ScrapePool == "counted" {
				owners[a.Labels["n"]] = a.Owners
			}
		}
		return owners
	}
	members := map[string]*DiscoveringPrometheus{}
	before := map[string]map[string][]string{}
	for _, name := range names {
		p, _ := startMember(t, targetsFile, peersFile, name, 2)
		require.NoError(t, p.Gather(&testutil.Accumulator{}))
		members[name], before[name] = p, ownersOf(p)
		require.Len(t, before[name], n)
	}
	require.Len(t, targets.take(), n)
	for _, name := range names {
		p := members[name]
		extra := &kapacitor.Scraper{DB: "db", RP: "rp", DiscovererService: "file-discovery", DiscovererID: "targets",
			Config: scrape.Config{Name: "extra", MetricsPath: "/extra"}}
		p.SetConfigFile("", func() (*DiscoveringPrometheus, error) {
			return &DiscoveringPrometheus{Scrapers: append(slices.Clone(p.Scrapers), extra), Sections: p.Sections}, nil
		})
		require.NoError(t, p.Reload())
		require.NoError(t, p.Gather(&testutil.Accumulator{}))
		require.Equal(t, before[name], ownersOf(p), "%s: the owners of the unchanged job's targets stay", name)
	}
	hits := targets.take() // the exporter counts by target, whatever the path
	require.Len(t, hits, n)
	for target, count := range hits {
		require.Equal(t, 2, count, "target %s: scraped by the new job's two owners only, not again by the unchanged job's", target)
	}
}

// watch_config watches the files of scrape_config_files too: a new file that its pattern matches adds its
// jobs.
func TestWatchConfigScrapeConfigFiles(t *testing.T) {
	debounce := watchDebounce
	watchDebounce = 100 * time.Millisecond
	t.Cleanup(func() { watchDebounce = debounce })
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "jobs"), 0o755))
	yml := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(yml, []byte("scrape_config_files: [jobs/*.yml]\nscrape_configs:\n  - job_name: a\n    static_configs: [{targets: [127.0.0.1:1]}]\n"), 0o644))
	p := mustLoad(t, fmt.Sprintf("[[inputs.discovering_prometheus]]\n  prometheus_config = %q\n  watch_config = true\n", yml))
	log := &testutil.CaptureLogger{}
	p.Log = log
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	t.Cleanup(p.Stop)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "jobs", "c.yml"), []byte("scrape_configs:\n  - job_name: c\n    static_configs: [{targets: [127.0.0.1:2]}]\n"), 0o644))
	require.Eventually(t, func() bool { return len(messages(log, "configuration reloaded")) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Contains(t, messages(log, "configuration reloaded")[0], "jobs added: c;")
}

// A reload of the runner's -config applies the scrapers and discoverers; a key that takes a restart and
// changed is named in a warning (secrets compared by value: a secret read again is not a change).
func TestReloadNamesTheKeysThatTakeARestart(t *testing.T) {
	r := newReloadRig(t)
	format, password := "kapacitor", "unchanged"
	r.p.SetConfigFile("", func() (*DiscoveringPrometheus, error) {
		table := &DiscoveringPrometheus{Scrapers: r.p.Scrapers, Sections: r.p.Sections, PrometheusConfig: r.p.PrometheusConfig, MetricFormat: format}
		table.StatusBasicPassword = config.NewSecret([]byte(password))
		return table, nil
	})
	require.NoError(t, r.p.Reload())
	require.Empty(t, messages(r.log, "reloading the configuration"), "nothing that takes a restart changed")
	format = "prometheus-v2"
	require.NoError(t, r.p.Reload())
	require.Equal(t, []string{"reloading the configuration: metric_format changed, which takes a restart; kept as it was until then"},
		messages(r.log, "reloading the configuration"))
	format, password = "kapacitor", "changed"
	require.NoError(t, r.p.Reload())
	require.Equal(t, "reloading the configuration: status_basic_password changed, which takes a restart; kept as it was until then",
		messages(r.log, "reloading the configuration")[1])
}

// A job or discoverer a reload removes has its internal_discovering_prometheus series unregistered; those
// that stay keep theirs.
func TestReloadUnregistersTheStatisticsOfWhatIsRemoved(t *testing.T) {
	r := newReloadRig(t)
	r.p.Statistics = selfstat.NewCollector(map[string]string{"test": t.Name()}) // selfstat's registry is global
	r.write(t, r.plan("10s", true))
	require.NoError(t, r.p.Reload())
	series := func() []string {
		var names []string
		for _, m := range selfstat.Metrics() {
			if m.Name() == "internal_"+statsMeasurement && m.Tags()["test"] == t.Name() {
				names = append(names, m.Tags()["scraper"]+m.Tags()["discoverer_id"])
			}
		}
		slices.Sort(names)
		return names
	}
	require.Equal(t, []string{"", "a", "a/http/0", "b", "b/static/0", "c", "c/static/0"}, series()) // "": the reload series

	r.write(t, r.plan("20s", false)) // b changes, c goes
	require.NoError(t, r.p.Reload())
	require.Equal(t, []string{"", "a", "a/http/0", "b", "b/static/0"}, series())
	require.Nil(t, r.p.Statistics.Get(statsMeasurement, "scrapes", map[string]string{"scraper": "c"}))
}

// A reload that changes one job of 100 delays no scrape of the other 99: each is scraped once at the
// gather its interval after the last scrape, across the reload, and not earlier.
func TestReloadOfOneJobDelaysNoScrapeOfTheOthers(t *testing.T) {
	r := newReloadRig(t)
	exporter := strings.TrimPrefix(r.c.srv.URL, "http://")
	jobs := func(firstInterval string) string {
		return hundredJobs(firstInterval, func(job int) string {
			return fmt.Sprintf("{targets: [%q], labels: {__param_n: '%d'}}", exporter, job)
		})
	}
	every := func(from int) map[string]int {
		scrapes := map[string]int{}
		for job := from; job < 100; job++ {
			scrapes[fmt.Sprint(job)] = 1
		}
		return scrapes
	}
	r.write(t, jobs("10s"))
	require.NoError(t, r.p.Reload())
	for job := range 100 {
		r.waitForGroups(t, discovery.Key{Service: "prometheus", ID: fmt.Sprintf("j%d/static/0", job)})
	}
	r.gather(0)
	require.Equal(t, every(0), r.c.take())

	r.write(t, jobs("20s"))
	require.NoError(t, r.p.Reload())
	require.Equal(t, "configuration reloaded: jobs added: none; changed: j0; removed: none; discoverers added: none; changed: none; removed: none",
		messages(r.log, "configuration reloaded")[1])
	r.gather(5 * time.Second)
	require.Equal(t, map[string]int{"0": 1}, r.c.take(), "only the changed job's new target is due")
	r.gather(10 * time.Second)
	require.Equal(t, every(1), r.c.take(), "each of the 99 others is scraped at its interval")
}

// hundredJobs is a prometheus.yml of the jobs j0 to j99, scraped every 10s but j0 every firstInterval, each
// with the static_configs that static gives it.
func hundredJobs(firstInterval string, static func(job int) string) string {
	var s strings.Builder
	s.WriteString("scrape_configs:\n")
	for job := range 100 {
		interval := "10s"
		if job == 0 {
			interval = firstInterval
		}
		fmt.Fprintf(&s, "  - job_name: j%d\n    scrape_interval: %s\n    static_configs: [%s]\n", job, interval, static(job))
	}
	return s.String()
}
