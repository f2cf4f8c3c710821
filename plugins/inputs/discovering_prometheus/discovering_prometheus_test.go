package discovering_prometheus

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/plugins/common/shim"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
)

// loadTelegraf decodes a configuration with Telegraf's own loader (influxdata/toml).
func loadTelegraf(t testing.TB, toml string) (*DiscoveringPrometheus, error) {
	t.Helper()
	c := config.NewConfig()
	if err := c.LoadConfigData([]byte(toml), "test.conf"); err != nil {
		return nil, err
	}
	require.Len(t, c.Inputs, 1)
	p := c.Inputs[0].Input.(*DiscoveringPrometheus)
	p.Log = testutil.Logger{}
	return p, nil
}

// loadShim decodes a configuration as the execd shim does (BurntSushi/toml).
func loadShim(t *testing.T, toml string) *DiscoveringPrometheus {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plugin.conf")
	require.NoError(t, os.WriteFile(path, []byte(toml), 0o644))
	loaded, err := shim.LoadConfig(&path)
	require.NoError(t, err)
	p := loaded.Input.(*DiscoveringPrometheus)
	p.Log = testutil.Logger{}
	return p
}

// Every discoverer section is documented in the sample configuration, as a sub-table of the plugin's
// (commented out or not); tests/TestDiscoverers fails for one with no end-to-end test.
func TestSampleConfigHasEverySection(t *testing.T) {
	for _, service := range discovery.Services {
		t.Run(service, func(t *testing.T) {
			header := regexp.MustCompile(`(?m)^\s*(# )?\[\[inputs\.discovering_prometheus\.` + regexp.QuoteMeta(service) + `\]\]$`)
			require.Regexp(t, header, sampleConfig, "sample.conf has no [[inputs.discovering_prometheus.%s]]", service)
		})
	}
}

func TestSampleConfigLoadsInTelegrafAndShim(t *testing.T) {
	p, err := loadTelegraf(t, sampleConfig)
	require.NoError(t, err)
	require.NoError(t, p.Init())
	require.Len(t, p.Scrapers, 1)
	require.Equal(t, "node", p.Scrapers[0].Name)

	p = loadShim(t, sampleConfig)
	require.NoError(t, p.Init())
	require.Equal(t, []string{"localhost:9100"}, p.Static[0].Targets)
}

// Every key of Kapacitor's [[scraper]], as a kapacitor.conf would have it, decodes in both loaders.
const everyKey = `
[[inputs.discovering_prometheus]]
  metric_format = "kapacitor"
  db_tag = "database"
  rp_tag = "retention"
  max_concurrent_scrapes = 7
  discovery_wait = "3s"
  [[inputs.discovering_prometheus.scraper]]
    enabled = true
    name = "myscraper"
    discoverer-id = "mystatic"
    discoverer-service = "static-discovery"
    db = "prometheus_raw"
    rp = "autogen"
    type = "prometheus"
    scheme = "https"
    metrics-path = "/metrics"
    scrape-interval = "1m0s"
    scrape-timeout = "10s"
    username = "user"
    password = "pass"
    bearer-token = ""
    proxy-url = "http://proxy.example.com:3128"
    ssl-ca = ""
    ssl-cert = ""
    ssl-key = ""
    ssl-server-name = "metrics.example.com"
    insecure-skip-verify = true
    blacklist = ["localhost:9101"]
    [inputs.discovering_prometheus.scraper.params]
      collect = ["cpu", "meminfo"]
  [[inputs.discovering_prometheus.static-discovery]]
    enabled = true
    id = "mystatic"
    targets = ["localhost:9100", "localhost:9101"]
    [inputs.discovering_prometheus.static-discovery.labels]
      region = "us-east-1"
  [[inputs.discovering_prometheus.file-discovery]]
    enabled = false
    id = "myfile"
    files = ["/etc/targets/*.json"]
    refresh-interval = "5m0s"
`

func TestEveryKeyDecodes(t *testing.T) {
	tp, err := loadTelegraf(t, everyKey)
	require.NoError(t, err)
	sp := loadShim(t, everyKey)
	for _, p := range []*DiscoveringPrometheus{tp, sp} {
		require.NoError(t, p.Init())
		s := p.Scrapers[0]
		require.Equal(t, "prometheus_raw", s.DB)
		require.Equal(t, "https", s.Scheme)
		require.Equal(t, config.Duration(time.Minute), s.ScrapeInterval)
		require.Equal(t, "user", s.Username)
		require.True(t, s.InsecureSkipVerify)
		require.Equal(t, "metrics.example.com", s.ServerName)
		require.Equal(t, []string{"cpu", "meminfo"}, s.Params["collect"])
		require.Equal(t, []string{"localhost:9101"}, s.Blacklist)
		require.Equal(t, map[string]string{"region": "us-east-1"}, p.Static[0].Labels)
		require.Equal(t, 7, p.MaxConcurrentScrapes)
		require.Equal(t, "database", p.DBTag)
		require.Len(t, p.configs, 1, "the disabled file-discovery is not run")
	}
}

func scraperConf(extra, discoverers string) string {
	return fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "a"
    db = "db"
    rp = "rp"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
%s
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["localhost:9100"]
%s`, extra, discoverers)
}

func TestInitErrorsNameSectionAndKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		conf string
		want string
	}{
		{"unknown discoverer id", strings.Replace(scraperConf("", ""), `discoverer-id = "s"`, `discoverer-id = "x"`, 1),
			`scraper "a": discoverer-id: no enabled [[static-discovery]] section has id "x"`},
		{"unknown service", strings.Replace(scraperConf("", ""), `discoverer-service = "static-discovery"`, `discoverer-service = "zk"`, 1),
			`scraper "a": discoverer-service: "zk" is not a discoverer`},
		{"disabled discoverer", strings.Replace(scraperConf("", ""), "    id = \"s\"\n", "    id = \"s\"\n    enabled = false\n", 1),
			`scraper "a": discoverer-id: no enabled [[static-discovery]] section has id "s"`},
		{"duplicate discoverer id", scraperConf("", `
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["localhost:9101"]`), `static-discovery "s": id: also used by an [[inputs.discovering_prometheus.static-discovery]] section`},
		{"missing discoverer id", scraperConf("", `
  [[inputs.discovering_prometheus.static-discovery]]
    targets = ["localhost:9101"]`), `static-discovery: id: required`},
		{"static without targets", scraperConf("", `
  [[inputs.discovering_prometheus.static-discovery]]
    id = "t"`), `static-discovery "t": targets: at least one target is required`},
		{"file pattern", scraperConf("", `
  [[inputs.discovering_prometheus.file-discovery]]
    id = "f"
    files = ["/etc/*/targets.txt"]`), `file-discovery "f": files[0]: "/etc/*/targets.txt" must end in .json, .yml or .yaml`},
		{"duplicate scraper name", scraperConf("", `
  [[inputs.discovering_prometheus.scraper]]
    name = "a"
    db = "db"
    rp = "rp"
    discoverer-service = "static-discovery"
    discoverer-id = "s"`), `scraper "a": name: also used by an [[inputs.discovering_prometheus.scraper]] section`},
		{"timeout above interval", scraperConf(`    scrape-interval = "5s"
    scrape-timeout = "10s"`, ""), `scraper "a": scrape-timeout: 10s is longer than scrape-interval 5s`},
		{"missing db", strings.Replace(scraperConf("", ""), `db = "db"`, "", 1), `scraper "a": db: required`},
		{"missing name", strings.Replace(scraperConf("", ""), `name = "a"`, "", 1), `scraper[0]: name: required`},
		{"metric format", strings.Replace(scraperConf("", ""), "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  metric_format = \"graphite\"", 1),
			`metric_format: "graphite" is not one of kapacitor`},
		{"negative discovery_wait", strings.Replace(scraperConf("", ""), "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  discovery_wait = \"-1s\"", 1),
			`discovery_wait: -1s is negative`},
		{"db_tag instance", strings.Replace(scraperConf("", ""), "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  db_tag = \"instance\"", 1),
			`db_tag: "instance" would replace the instance tag of every metric`},
		{"rp_tag __name__", strings.Replace(scraperConf("", ""), "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  rp_tag = \"__name__\"", 1),
			`rp_tag: "__name__": names starting with __ are Prometheus' own`},
		{"db_tag not a label name", strings.Replace(scraperConf("", ""), "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  db_tag = \"data base\"", 1),
			`db_tag: "data base" is not a label name`},
		{"db line protocol cannot carry", strings.Replace(scraperConf("", ""), `db = "db"`, `db = 'db\'`, 1),
			`scraper "a": db: "db\\": line protocol cannot carry a backslash at the end`},
		{"kapacitor_config not a file", strings.Replace(scraperConf("", ""), "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  kapacitor_config = \"/dev/zero\"", 1),
			`kapacitor_config: /dev/zero: not a regular file (a character device)`},
		{"prometheus_config not a file", strings.Replace(scraperConf("", ""), "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  prometheus_config = \"/dev/zero\"", 1),
			`prometheus_config: /dev/zero: not a regular file (a character device)`},
		{"no scraper", `
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["localhost:9100"]`, "scraper: no enabled [[inputs.discovering_prometheus.scraper]] section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for loader, p := range map[string]*DiscoveringPrometheus{"telegraf": mustLoad(t, tc.conf), "shim": loadShim(t, tc.conf)} {
				err := p.Init()
				require.Error(t, err, loader)
				require.Contains(t, err.Error(), tc.want, loader)
			}
		})
	}
}

// An invalid discoverer section is reported once, by its own error: the scraper that names it does not add
// a second one saying that no such section exists.
func TestInvalidDiscovererIsReportedOnce(t *testing.T) {
	conf := strings.Replace(scraperConf("", ""), `targets = ["localhost:9100"]`, `targets = []`, 1)
	for loader, p := range map[string]*DiscoveringPrometheus{"telegraf": mustLoad(t, conf), "shim": loadShim(t, conf)} {
		err := p.Init()
		require.EqualError(t, err, `static-discovery "s": targets: at least one target is required`, loader)
	}
}

func mustLoad(t *testing.T, toml string) *DiscoveringPrometheus {
	p, err := loadTelegraf(t, toml)
	require.NoError(t, err)
	return p
}

func TestBadDurationNamesTheKey(t *testing.T) {
	conf := scraperConf(`    scrape-interval = "often"`, "")
	_, err := loadTelegraf(t, conf)
	require.ErrorContains(t, err, "often")
	path := filepath.Join(t.TempDir(), "plugin.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	_, err = shim.LoadConfig(&path)
	require.ErrorContains(t, err, "scrape-interval")
}

func TestKapacitorFormat(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# TYPE requests_total counter\nrequests_total{code=\"200\",job=\"exposed\"} 7 1700000000000\nnan_gauge NaN\ninf_gauge +Inf\ngauge{db=\"mine\"} 2\n")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	p := mustLoad(t, strings.Replace(scraperConf("", ""), "localhost:9100", addr, 1))
	require.NoError(t, p.Init())
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	defer p.Stop()
	before := time.Now()
	require.NoError(t, p.Gather(acc))

	got := acc.GetTelegrafMetrics()
	at := func(name string) time.Time {
		for _, m := range got {
			if m.Name() == name {
				return m.Time()
			}
		}
		t.Fatalf("no %s", name)
		return time.Time{}
	}
	scrapeTime := at("up")
	require.False(t, scrapeTime.Before(before.Truncate(time.Millisecond)))
	tags := func(name string, more map[string]string) map[string]string {
		m := map[string]string{"__name__": name, "instance": addr, "db": "db", "rp": "rp"}
		for k, v := range more {
			m[k] = v
		}
		return m
	}
	expected := []telegraf.Metric{
		// The sample's own timestamp; job is not a tag; the scraped job label stays as exported_job.
		metric.New("requests_total", tags("requests_total", map[string]string{"code": "200", "exported_job": "exposed"}), map[string]any{"value": 7.0}, time.UnixMilli(1700000000000)),
		// The scraper's db wins over a scraped label of that name. NaN and +Inf are dropped.
		metric.New("gauge", tags("gauge", nil), map[string]any{"value": 2.0}, scrapeTime),
		metric.New("up", tags("up", nil), map[string]any{"value": 1.0}, scrapeTime),
		metric.New("scrape_samples_scraped", tags("scrape_samples_scraped", nil), map[string]any{"value": 4.0}, scrapeTime),
		metric.New("scrape_samples_post_metric_relabeling", tags("scrape_samples_post_metric_relabeling", nil), map[string]any{"value": 4.0}, scrapeTime),
	}
	var withoutDuration []telegraf.Metric
	for _, m := range got {
		if m.Name() != "scrape_duration_seconds" {
			withoutDuration = append(withoutDuration, m)
		}
	}
	testutil.RequireMetricsEqual(t, expected, withoutDuration, testutil.SortMetrics())
	require.Len(t, got, 6)
	for _, m := range got {
		v, _ := m.GetField("value")
		require.False(t, math.IsNaN(v.(float64)))
	}
}

func TestDBAndRPTagNames(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "m 1\n") }))
	defer srv.Close()
	conf := strings.Replace(scraperConf("", ""), "localhost:9100", strings.TrimPrefix(srv.URL, "http://"), 1)
	conf = strings.Replace(conf, "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  db_tag = \"database\"\n  rp_tag = \"retention\"", 1)
	p := mustLoad(t, conf)
	require.NoError(t, p.Init())
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	defer p.Stop()
	require.NoError(t, p.Gather(acc))
	m, ok := acc.Get("m")
	require.True(t, ok)
	require.Equal(t, "db", m.Tags["database"])
	require.Equal(t, "rp", m.Tags["retention"])
	require.NotContains(t, m.Tags, "db")
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "m 1\n") }))
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.json"), []byte(`[{"targets":["`+strings.TrimPrefix(srv.URL, "http://")+`"]}]`), 0o644))
	ignore := goleak.IgnoreCurrent()

	p := mustLoad(t, scraperConf("", fmt.Sprintf(`
  [[inputs.discovering_prometheus.scraper]]
    name = "f"
    db = "db"
    rp = "rp"
    discoverer-service = "file-discovery"
    discoverer-id = "f"
  [[inputs.discovering_prometheus.file-discovery]]
    id = "f"
    files = ["%s/*.json"]`, dir)))
	require.NoError(t, p.Init())
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	require.NoError(t, p.Gather(acc))
	_, ok := acc.Get("m")
	require.True(t, ok)
	p.Stop()
	srv.CloseClientConnections()
	srv.Close()
	goleak.VerifyNone(t, ignore)
}

func TestPrometheusOptionsDecode(t *testing.T) {
	conf := scraperConf(`    honor-labels = true
    honor-timestamps = false
    sample-limit = 1000
    body-size-limit = "10MiB"
    label-limit = 30
    label-name-length-limit = 100
    label-value-length-limit = 200
    follow-redirects = false
    enable-compression = false
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      source-labels = ["__address__"]
      regex = "(.*):9100"
      target-label = "host"
      replacement = ""
    [[inputs.discovering_prometheus.scraper.metric-relabel-configs]]
      source-labels = ["__name__"]
      regex = "go_.*"
      action = "drop"`, "")
	for loader, p := range map[string]*DiscoveringPrometheus{"telegraf": mustLoad(t, conf), "shim": loadShim(t, conf)} {
		require.NoError(t, p.Init(), loader)
		s := p.Scrapers[0]
		require.True(t, s.HonorLabels, loader)
		require.False(t, *s.HonorTimestamps, loader)
		require.Equal(t, config.Size(10<<20), s.BodySizeLimit, loader)
		require.Equal(t, 1000, s.SampleLimit, loader)
		require.Equal(t, "", *s.RelabelConfigs[0].Replacement, loader)
		require.Nil(t, s.RelabelConfigs[0].Separator, loader)
		require.Equal(t, "drop", s.MetricRelabelConfigs[0].Action, loader)
	}
}

// A URL key with a password that is not a valid URL (or not the URL the key wants) is refused with an error
// that names the key and shows the URL, but not the password, not even the part of it url.Parse quotes.
func TestConfigErrorsMaskURLPasswords(t *testing.T) {
	for _, tc := range []struct {
		name, conf, key string
	}{
		{"proxy-url with an escape", scraperConf(`    proxy-url = "http://user:s3cr%zzet@proxy:3128"`, ""), `scraper "a": proxy-url: "http://user:xxxxx@proxy:3128"`},
		{"proxy-url with a slash", scraperConf(`    proxy-url = "http://user:s3cr/et@proxy:3128"`, ""), `scraper "a": proxy-url: "http://user:xxxxx@proxy:3128"`},
		{"marathon servers", scraperConf("", `
  [[inputs.discovering_prometheus.marathon]]
    id = "m"
    servers = ["ftp://user:s3cret@marathon:8080"]`), `servers[0]: "ftp://user:xxxxx@marathon:8080" is not an http or https URL`},
		{"kubernetes api-servers", scraperConf("", `
  [[inputs.discovering_prometheus.kubernetes]]
    id = "k"
    role = "pod"
    api-servers = ["https://user:s3 cret@k8s:6443"]`), `api-servers[0]: "https://user:xxxxx@k8s:6443" is not an http or https URL`},
		{"ec2 endpoint", scraperConf("", `
  [[inputs.discovering_prometheus.ec2]]
    id = "e"
    region = "us-east-1"
    endpoint = "user:s3cret@ec2.example:443"`), `endpoint: "user:xxxxx@ec2.example:443" is not an http or https URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mustLoad(t, tc.conf).Init()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.key)
			for _, part := range []string{"s3cr", "cret", "%zz", "/et", "3 c"} {
				require.NotContains(t, err.Error(), part)
			}
		})
	}
}

// Several kubernetes api-servers: Init warns once, naming the section, the key and the server used.
func TestKubernetesSeveralAPIServersWarnOnce(t *testing.T) {
	p := mustLoad(t, scraperConf("", `
  [[inputs.discovering_prometheus.kubernetes]]
    id = "k"
    role = "pod"
    api-servers = ["https://10.0.0.1:6443", "https://10.0.0.2:6443"]`))
	logger := &testutil.CaptureLogger{}
	p.Log = logger
	require.NoError(t, p.Init())
	var warnings []string
	for _, w := range logger.Warnings() {
		if strings.Contains(w, "api-servers") {
			warnings = append(warnings, w)
		}
	}
	require.Len(t, warnings, 1, "%v", logger.Warnings())
	require.Contains(t, warnings[0], `kubernetes "k": api-servers: Prometheus' Kubernetes discovery watches one API server: "https://10.0.0.1:6443" is used, "https://10.0.0.2:6443" not`)
}

// Two discovered targets whose labels after relabeling and URL are equal are one target, as in Prometheus'
// scrape pool: scraped once, one up per gather. Targets that differ in their URL stay apart.
func TestEqualTargetsAfterRelabelingAreOne(t *testing.T) {
	var scrapes atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		scrapes.Add(1)
		fmt.Fprintln(w, "m 1")
	}))
	defer target.Close()
	addr := strings.TrimPrefix(target.URL, "http://")
	sd := filepath.Join(t.TempDir(), "targets.json")
	require.NoError(t, os.WriteFile(sd, []byte(fmt.Sprintf(`[
  {"targets": [%[1]q], "labels": {"pod": "a"}},
  {"targets": [%[1]q], "labels": {"pod": "b"}},
  {"targets": [%[1]q], "labels": {"pod": "c", "__param_x": "1"}}
]`, addr)), 0o644))
	p := mustLoad(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  discovery_wait = "5s"
  [[inputs.discovering_prometheus.scraper]]
    name = "a"
    db = "db"
    rp = "rp"
    discoverer-service = "file-discovery"
    discoverer-id = "f"
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      action = "labeldrop"
      regex = "pod"
  [[inputs.discovering_prometheus.file-discovery]]
    id = "f"
    files = [%q]
`, sd))
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	defer p.Stop()
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Gather(acc))
	var ups []string
	for _, m := range acc.GetTelegrafMetrics() {
		if m.Name() == "up" {
			ups = append(ups, m.Tags()["instance"])
		}
	}
	require.Equal(t, []string{addr, addr}, ups, "pods a and b are one target; c's URL has ?x=1")
	require.EqualValues(t, 2, scrapes.Load())
	targets := p.RunningScrapers()[0].Targets()
	require.Len(t, targets, 2)
	var pods []string
	for _, target := range targets {
		pods = append(pods, target.Discovered().Get("pod"))
	}
	require.ElementsMatch(t, []string{"a", "c"}, pods, "the first discovered of equal targets is kept")
}
