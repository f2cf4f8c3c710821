package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// The differential test: a Prometheus server and our runner scrape the same file-discovered targets,
// configured alike (relabeling in both), and must agree on the targets and on every sample, except for
// the differences listed in acceptedDifferences, each with its reason.
//
// Our runner runs twice: once configured the Kapacitor way ([[scraper]] and [[file-discovery]] with
// relabel-configs in TOML), once reading Prometheus' own prometheus.yml (prometheus_config).
//
// Two Prometheus servers are the oracle: Debian's, of major version 2, and Prometheus' own cmd/prometheus at
// the version of the library this module is built with (go.mod), of major version 3. Only the run against
// Debian's may use the allowances for Prometheus 2 (prometheus2Differences).
func TestPrometheusParity(t *testing.T) {
	t.Run("debian", func(t *testing.T) { testParity(t, needBinary(t, "prometheus"), true) })
	t.Run("go.mod", func(t *testing.T) { testParity(t, PrometheusOfGoMod(t), false) })
}

// testParity compares our runner with the Prometheus server promBin; prometheus2 says that it is of major
// version 2, whose differences from the library's version 3 are then allowed.
func testParity(t *testing.T, promBin string, prometheus2 bool) {
	version, err := exec.Command(promBin, "--version").CombinedOutput()
	require.NoError(t, err, "%s", version)
	t.Logf("%s: %s", promBin, strings.SplitN(string(version), "\n", 2)[0])

	// One explicit timestamp for every exposition that carries one, a little in the past, so that both
	// scrapers see the same samples and Prometheus' TSDB accepts them.
	ts := time.Now().Add(-3 * time.Second).UnixMilli()
	text := serveParity(t, "/metrics", "", "text/plain; version=0.0.4; charset=utf-8", textExposition(ts))
	om := serveParity(t, "/metrics", "", "application/openmetrics-text; version=1.0.0; charset=utf-8", openMetricsExposition(ts))
	custom := serveParity(t, "/custom", "format=x", "text/plain; version=0.0.4", "# TYPE custom_value gauge\ncustom_value 1\n")
	dropped := serveParity(t, "/metrics", "", "text/plain", "never_scraped 1\n")
	// With honor_labels, an exposed empty instance is kept: the stored series has no instance.
	honor := serveParity(t, "/metrics", "", "text/plain", "# TYPE honor_value gauge\n"+
		`honor_value{instance="scraped-instance",env="exposed"} 1`+"\nhonor_value{other=\"x\"} 2\n"+
		`honor_empty{instance=""} 3`+"\n")
	down := fmt.Sprintf("127.0.0.1:%d", FreePort(t)) // nothing listens there
	// A label name twice: Prometheus' storage refuses the sample, and the scrape fails.
	duplicate := serveParity(t, "/metrics", "", "text/plain", "# TYPE dup_ok gauge\ndup_ok 1\ndup_label{a=\"1\",a=\"2\"} 1\ndup_after 1\n")
	// But Prometheus looks for names twice only after metric relabeling and once empty values are dropped
	// (a name exposed with an empty value is dropped with all its values): these samples are good.
	goodDuplicates := serveParity(t, "/metrics", "", "text/plain", `dup_empty{a="",a="1"} 1`+"\n"+
		`dup_dropped{unused_label="1",unused_label="2",b="x"} 2`+"\n")

	dir := t.TempDir()
	parityFile, honorFile := filepath.Join(dir, "parity.json"), filepath.Join(dir, "honor.json")
	writeJSON(t, parityFile, []map[string]any{
		{"targets": []string{text, om, down, duplicate, goodDuplicates}, "labels": map[string]string{"env": "prod"}},
		{"targets": []string{custom}, "labels": map[string]string{"env": "prod", "__metrics_path__": "/custom", "__param_format": "x"}},
		{"targets": []string{dropped}, "labels": map[string]string{"env": "drop-me"}},
	})
	writeJSON(t, honorFile, []map[string]any{{"targets": []string{honor}, "labels": map[string]string{"env": "prod"}}})
	promYML := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(promYML, []byte(fmt.Sprintf(parityPrometheusYML, parityFile, honorFile)), 0o644))

	prom := startPrometheus(t, promBin, promYML)
	waitForPrometheus(t, prom, 7)
	promTargets := prom.targets(t)
	promSamples := prom.samples(t)
	// What the Prometheus run here does with the bodies above, so that agreeing with it means that.
	for _, s := range promSamples {
		switch s.labels["__name__"] {
		case "honor_empty":
			require.NotContains(t, s.labels, "instance", "Prometheus keeps the exposed empty instance")
		case "dup_empty":
			require.NotContains(t, s.labels, "a", "Prometheus drops a name exposed with an empty value")
		case "dup_dropped":
			require.NotContains(t, s.labels, "unused_label")
		}
	}

	toml := fmt.Sprintf(parityTOML, parityFile, honorFile)
	variants := map[string]string{
		"toml":              toml,
		"prometheus_config": fmt.Sprintf(parityPrometheusConfigTOML, promYML),
	}
	for _, name := range []string{"toml", "prometheus_config"} {
		t.Run(name, func(t *testing.T) {
			conf := writeConfig(t, variants[name])
			ours := ourTargets(t, conf)
			if prometheus2 {
				ours = ours.withoutNativeHistogramLabels(t)
			}
			require.Equal(t, promTargets.active(ours, prometheus2), ours.active(ours, false), "active targets: Prometheus, then ours")
			require.Equal(t, promTargets.dropped(), ours.dropped(), "dropped targets: Prometheus, then ours")

			stdout, stderr, err := runOnce(t, "-config", conf)
			require.NoError(t, err, stderr)
			compareSamples(t, promSamples, ourSamples(t, stdout), ts)
		})
	}
	accepted := acceptedDifferences
	if prometheus2 {
		accepted = append(accepted, prometheus2Differences...)
	}
	t.Logf("accepted differences: %s", strings.Join(accepted, "; "))
}

// acceptedDifferences are the only ways our samples may differ from Prometheus'. compareSamples applies
// them; each says why it is right.
var acceptedDifferences = []string{
	// Prometheus keeps NaN; the kapacitor metric format drops NaN samples, as Kapacitor did (InfluxDB 1.x
	// cannot store them).
	"NaN samples are not written",
	// scrape_series_added counts series new to Prometheus' TSDB; there is no TSDB here.
	"no scrape_series_added",
	// Two scrapes at two moments take different times.
	"scrape_duration_seconds values differ",
	// A sample without its own timestamp is stamped with the time its scrape started; the two scrapers
	// scrape at different moments. Samples with their own timestamp must agree to the millisecond.
	"timestamps of samples without one of their own differ",
	// The kapacitor metric format writes every label as a tag but job (Kapacitor did not write it); the
	// test gives each scraper its own db and puts the job back from it.
	"no job tag (restored from db)",
	// Our runner writes line protocol, which cannot hold every label value: Telegraf writes a newline,
	// tab, carriage return or form feed as the two characters \n, \t, \r, \f, and drops a trailing
	// backslash.
	"label values as line protocol carries them",
	// The kapacitor format writes the le of a histogram bucket and the quantile of a summary as Kapacitor
	// did, in Go's fmt.Sprint spelling ("1.0" becomes "1"), whatever the exposition format; Prometheus 2
	// kept them as exposed.
	"le and quantile values in Kapacitor's spelling",
	// The kapacitor format writes a failed scrape's scrape_samples_scraped and
	// scrape_samples_post_metric_relabeling as 0, as Kapacitor did; Prometheus counts the samples read
	// before the failure.
	"a failed scrape's sample counts are 0",
}

// prometheus2Differences are allowed in the run against Debian's Prometheus 2 only.
var prometheus2Differences = []string{
	// Prometheus 3 added a discovered label for each of its native-histogram options; ours are Prometheus
	// 3's (targetSet.withoutNativeHistogramLabels).
	"no native-histogram options among the discoveredLabels",
	// Prometheus 2 may show a target's discoveredLabels mangled by its own relabeling (a slice reused in
	// place, gone from the library scraping here); targetSet.active accepts exactly that mangling
	// (prometheus2Discovered).
	"Prometheus 2's mangled discoveredLabels",
}

const parityPrometheusYML = `
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: parity
    file_sd_configs:
      - files: [%q]
    relabel_configs:
      - source_labels: [env]
        regex: drop-me
        action: drop
      - source_labels: [__meta_filepath]
        regex: '.*/(.*)\.json'
        target_label: sdfile
      - source_labels: [__address__]
        modulus: 8
        target_label: shard
        action: hashmod
      - regex: '__param_(.*)'
        action: labelmap
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'parity_drop_me.*'
        action: drop
      - regex: unused_label
        action: labeldrop
      - source_labels: [code]
        target_label: status_code
  - job_name: honor
    honor_labels: true
    file_sd_configs:
      - files: [%q]
`

const parityTOML = `
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "parity"
    db = "db_parity"
    rp = "autogen"
    discoverer-service = "file-discovery"
    discoverer-id = "parity"
    scrape-interval = "1s"
    scrape-timeout = "1s"
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      source-labels = ["env"]
      regex = "drop-me"
      action = "drop"
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      source-labels = ["__meta_filepath"]
      regex = '.*/(.*)\.json'
      target-label = "sdfile"
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      source-labels = ["__address__"]
      modulus = 8
      target-label = "shard"
      action = "hashmod"
    # With the default replacement, $1: the execd shim's loader, which the runner uses, expands every $
    # in the file as an environment variable (os.Expand, with no escape), so "$1" cannot be written here.
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      regex = "__param_(.*)"
      action = "labelmap"
    [[inputs.discovering_prometheus.scraper.metric-relabel-configs]]
      source-labels = ["__name__"]
      regex = "parity_drop_me.*"
      action = "drop"
    [[inputs.discovering_prometheus.scraper.metric-relabel-configs]]
      regex = "unused_label"
      action = "labeldrop"
    [[inputs.discovering_prometheus.scraper.metric-relabel-configs]]
      source-labels = ["code"]
      target-label = "status_code"
  [[inputs.discovering_prometheus.scraper]]
    name = "honor"
    db = "db_honor"
    rp = "autogen"
    discoverer-service = "file-discovery"
    discoverer-id = "honor"
    scrape-interval = "1s"
    scrape-timeout = "1s"
    honor-labels = true
  [[inputs.discovering_prometheus.file-discovery]]
    id = "parity"
    files = [%q]
  [[inputs.discovering_prometheus.file-discovery]]
    id = "honor"
    files = [%q]
`

const parityPrometheusConfigTOML = `
[[inputs.discovering_prometheus]]
  prometheus_config = %q
  [inputs.discovering_prometheus.prometheus_jobs.parity]
    db = "db_parity"
  [inputs.discovering_prometheus.prometheus_jobs.honor]
    db = "db_honor"
`

// jobOfDB restores the job that the kapacitor format does not write.
var jobOfDB = map[string]string{"db_parity": "parity", "db_honor": "honor"}

// textExposition is the text format with what trips scrapers up: target labels exposed by the target,
// escapes, UTF-8, empty values, histograms, summaries, explicit timestamps, odd floats.
func textExposition(ts int64) string {
	return fmt.Sprintf(`# HELP parity_requests_total Requests, with labels that collide with the target's.
# TYPE parity_requests_total counter
parity_requests_total{code="200",instance="scraped-instance",job="scraped-job"} 1027
parity_requests_total{code="404",instance="a",exported_instance="b"} 7
parity_requests_total{code="500",method="POST"} 3
# HELP parity_temperature_celsius Escaped and UTF-8 label values.
# TYPE parity_temperature_celsius gauge
parity_temperature_celsius{room="quote\"d"} 21.5
parity_temperature_celsius{room="C:\\dir\\file"} 22
parity_temperature_celsius{room="trailing\\"} 22.5
parity_temperature_celsius{room="line1\nline2"} 23
parity_temperature_celsius{room="Zürich ✓ 東京 – ünïcödé"} -3.25
parity_temperature_celsius{room="empty",unused_label="x",blank=""} 0
# TYPE parity_latency_seconds histogram
parity_latency_seconds_bucket{le="0.05"} 24
parity_latency_seconds_bucket{le="0.5"} 30
parity_latency_seconds_bucket{le="1"} 33
parity_latency_seconds_bucket{le="+Inf"} 34
parity_latency_seconds_sum 8.25
parity_latency_seconds_count 34
# TYPE parity_rpc_seconds summary
parity_rpc_seconds{quantile="0.5"} 0.012
parity_rpc_seconds{quantile="0.99"} 0.3
parity_rpc_seconds_sum 17.5
parity_rpc_seconds_count 1000
# TYPE parity_last_event_seconds gauge
parity_last_event_seconds{kind="explicit"} 42 %d
parity_last_event_seconds{kind="implicit"} 43
# TYPE parity_nan gauge
parity_nan NaN
parity_untyped 1e-07
parity_precise 0.1
parity_large 1.7976931348623157e+308
parity_negative_zero -0
parity_drop_me_total 5
`, ts)
}

// openMetricsExposition is OpenMetrics 1.0 with every metric type, _created series, an exemplar and
// explicit timestamps (in seconds, as OpenMetrics has them).
func openMetricsExposition(ts int64) string {
	sec := fmt.Sprintf("%d.%03d", ts/1000, ts%1000)
	return fmt.Sprintf(`# TYPE om_jobs counter
# HELP om_jobs Jobs processed.
om_jobs_total{queue="a b"} 17 # {trace_id="abc123"} 1.0
om_jobs_created{queue="a b"} 1.7000000005e+09
# TYPE om_build info
om_build_info{version="1.2.3",revision="abc"} 1
# TYPE om_duration_seconds histogram
om_duration_seconds_bucket{le="0.1"} 3
om_duration_seconds_bucket{le="1.0"} 5
om_duration_seconds_bucket{le="+Inf"} 6
om_duration_seconds_sum 2.5
om_duration_seconds_count 6
om_duration_seconds_created 1.7e+09
# TYPE om_quantiles summary
om_quantiles{quantile="0.9"} 0.25
om_quantiles_sum 9
om_quantiles_count 40
# TYPE om_state stateset
om_state{om_state="ready"} 1
om_state{om_state="busy"} 0
# TYPE om_temp gauge
om_temp{sensor="x",instance="om-scraped"} 12.5 %s
# TYPE om_inflight gaugehistogram
om_inflight_bucket{le="1.0"} 2
om_inflight_bucket{le="+Inf"} 3
om_inflight_gcount 3
om_inflight_gsum 1.5
# TYPE om_unknown unknown
om_unknown{path="/a\"b\\c\nd"} 5
# EOF
`, sec)
}

// explicitTimestamps are the series whose samples carry their own timestamp.
var explicitTimestamps = map[string]bool{"parity_last_event_seconds": true, "om_temp": true}

// serveParity serves a fixed body on one path (with one query, when given) and 404 elsewhere.
func serveParity(t *testing.T, path, query, contentType, body string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	server := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path || r.URL.RawQuery != query {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = io.WriteString(w, body)
	})}
	go func() { _ = server.Serve(l) }()
	t.Cleanup(func() { _ = server.Close() })
	return l.Addr().String()
}

// promServer is a running Prometheus server.
type promServer struct {
	url    string
	stderr *lockedBuffer
}

// startPrometheus starts a Prometheus server on the configuration file, with more flags if given.
func startPrometheus(t *testing.T, bin, configFile string, flags ...string) *promServer {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	p := &promServer{url: "http://" + addr, stderr: &lockedBuffer{}}
	cmd := exec.Command(bin, append([]string{"--config.file=" + configFile, "--storage.tsdb.path=" + t.TempDir(), "--web.listen-address=" + addr}, flags...)...)
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", p.stderr.String())
		}
	})
	Eventually(t, 30*time.Second, "prometheus is ready", func() bool {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// api reads one answer of Prometheus' HTTP API into data.
func (p *promServer) api(t *testing.T, path string, query url.Values, data any) {
	t.Helper()
	resp, err := http.Get(p.url + path + "?" + query.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	var envelope struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&envelope))
	require.Equal(t, "success", envelope.Status, envelope.Error)
	require.NoError(t, json.Unmarshal(envelope.Data, data))
}

// waitForPrometheus waits until every target has been scraped and its samples are queryable: the up
// series is written in the same commit as the scrape's samples.
func waitForPrometheus(t *testing.T, p *promServer, targets int) {
	t.Helper()
	Eventually(t, 30*time.Second, "prometheus has scraped every target", func() bool {
		var v struct {
			Result []json.RawMessage `json:"result"`
		}
		p.api(t, "/api/v1/query", url.Values{"query": {"up"}}, &v)
		return len(v.Result) == targets
	})
}

func (p *promServer) targets(t *testing.T) targetSet {
	t.Helper()
	var ts targetSet
	p.api(t, "/api/v1/targets", nil, &ts)
	return ts
}

// samples returns the last sample of every series, raw: a range selector gives the samples as stored,
// with their own timestamps, where an instant query would stamp them with the evaluation time.
func (p *promServer) samples(t *testing.T) map[string]sample {
	t.Helper()
	var v struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string    `json:"metric"`
			Values [][2]json.RawMessage `json:"values"`
		} `json:"result"`
	}
	now := time.Now()
	p.api(t, "/api/v1/query", url.Values{"query": {`{job=~".+"}[1m]`}, "time": {strconv.FormatInt(now.Unix()+1, 10)}}, &v)
	require.Equal(t, "matrix", v.ResultType)
	out := make(map[string]sample, len(v.Result))
	for _, r := range v.Result {
		last := r.Values[len(r.Values)-1]
		seconds, err := strconv.ParseFloat(string(last[0]), 64)
		require.NoError(t, err)
		var value string
		require.NoError(t, json.Unmarshal(last[1], &value))
		f, err := strconv.ParseFloat(value, 64)
		require.NoError(t, err)
		out[labels.FromMap(r.Metric).String()] = sample{labels: r.Metric, value: f, ms: int64(math.Round(seconds * 1000))}
	}
	return out
}

type sample struct {
	labels map[string]string
	value  float64
	ms     int64
}

// targetSet is the data of /api/v1/targets, ours (-targets -json) or Prometheus'.
type targetSet struct {
	Active []struct {
		DiscoveredLabels map[string]string `json:"discoveredLabels"`
		Labels           map[string]string `json:"labels"`
		ScrapePool       string            `json:"scrapePool"`
		ScrapeURL        string            `json:"scrapeUrl"`
		LastError        string            `json:"lastError"`
		Health           string            `json:"health"`
		ScrapeInterval   string            `json:"scrapeInterval"`
		ScrapeTimeout    string            `json:"scrapeTimeout"`
	} `json:"activeTargets"`
	Dropped []struct {
		DiscoveredLabels map[string]string `json:"discoveredLabels"`
		ScrapePool       string            `json:"scrapePool"`
	} `json:"droppedTargets"`
	DroppedCounts map[string]int `json:"droppedTargetCounts"`
}

// active lists the targets as comparable lines, sorted; an error's text is each scraper's own. Where
// prometheus2 is set (see prometheus2Discovered), discovered labels count as ours when they are exactly
// what that version's defect makes of ours.
func (ts targetSet) active(ours targetSet, prometheus2 bool) []string {
	oursByURL := map[string]map[string]string{}
	for _, a := range ours.Active {
		oursByURL[a.ScrapePool+" "+a.ScrapeURL] = a.DiscoveredLabels
	}
	var out []string
	for _, a := range ts.Active {
		discovered := labels.FromMap(a.DiscoveredLabels)
		if our, ok := oursByURL[a.ScrapePool+" "+a.ScrapeURL]; ok && prometheus2 && labels.Equal(discovered, prometheus2Discovered(our, a.Labels)) {
			discovered = labels.FromMap(our)
		}
		out = append(out, fmt.Sprintf("pool=%s url=%s health=%s error=%t every=%s timeout=%s labels=%s discovered=%s",
			a.ScrapePool, a.ScrapeURL, a.Health, a.LastError != "", a.ScrapeInterval, a.ScrapeTimeout,
			labels.FromMap(a.Labels), discovered))
	}
	slices.Sort(out)
	return out
}

// prometheus2Discovered is what Prometheus 2.42's /api/v1/targets shows as discoveredLabels when its
// relabel.Process writes the relabeled labels into the memory of the discovered ones (Builder.Labels
// reuses the slice it is given) and sorts them there, which happens when they fit its capacity: the first
// len(discovered) of the sorted relabeled labels. The Prometheus library scraping here has no such
// reuse (its Builder.Labels takes no slice), so this is not ours to copy. The relabeled labels are the discovered ones with the labels relabeling added (instance comes
// after relabeling).
func prometheus2Discovered(discovered, final map[string]string) labels.Labels {
	relabeled := maps.Clone(discovered)
	for name, value := range final {
		if _, ok := discovered[name]; !ok && name != "instance" {
			relabeled[name] = value
		}
	}
	var out []labels.Label
	labels.FromMap(relabeled).Range(func(l labels.Label) {
		if len(out) < len(discovered) {
			out = append(out, l)
		}
	})
	return labels.New(out...)
}

// withoutNativeHistogramLabels is the targets as Prometheus 2 shows them: it had no native-histogram
// options, nor their discovered labels.
func (ts targetSet) withoutNativeHistogramLabels(t *testing.T) targetSet {
	t.Helper()
	for _, discovered := range ts.discovered() {
		for _, name := range []string{"__convert_classic_histograms_to_nhcb__", "__always_scrape_classic_histograms__", "__scrape_native_histograms__"} {
			require.Contains(t, discovered, name, "ours are Prometheus 3's discovered labels")
			delete(discovered, name)
		}
	}
	return ts
}

func (ts targetSet) discovered() []map[string]string {
	var out []map[string]string
	for _, a := range ts.Active {
		out = append(out, a.DiscoveredLabels)
	}
	for _, d := range ts.Dropped {
		out = append(out, d.DiscoveredLabels)
	}
	return out
}

func (ts targetSet) dropped() []string {
	var out []string
	for _, d := range ts.Dropped {
		out = append(out, labels.FromMap(d.DiscoveredLabels).String())
	}
	slices.Sort(out)
	return out
}

func ourTargets(t *testing.T, conf string) targetSet {
	t.Helper()
	cmd := exec.Command(RunnerBinary(t), "-targets", "-json", "-config", conf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	var ts targetSet
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &ts), stdout.String())
	return ts
}

// ourSamples reads -once's line protocol back into series, the job restored from the db.
func ourSamples(t *testing.T, out string) map[string]sample {
	t.Helper()
	return samplesOf(t, ParseLineProtocol(t, out), func(tags map[string]string) string {
		job, ok := jobOfDB[tags["db"]]
		require.True(t, ok, "metric without a known db: %v", tags)
		return job
	})
}

// samplesOf reads metrics of the kapacitor format into series, rp autogen, the job (which the format
// does not write) given by job from the metric's tags.
func samplesOf(t *testing.T, ms []telegraf.Metric, job func(tags map[string]string) string) map[string]sample {
	t.Helper()
	samples := make(map[string]sample)
	for _, m := range ms {
		lset := m.Tags()
		lset["job"] = job(lset)
		require.Equal(t, "autogen", lset["rp"])
		require.Equal(t, m.Name(), lset["__name__"])
		delete(lset, "db")
		delete(lset, "rp")
		v, ok := m.GetField("value")
		require.True(t, ok)
		key := labels.FromMap(lset).String()
		require.NotContains(t, samples, key, "one sample per series")
		samples[key] = sample{labels: lset, value: v.(float64), ms: m.Time().UnixMilli()}
	}
	return samples
}

// compareSamples requires the same series with the same values, and the same timestamps where the
// target gave them, allowing only acceptedDifferences, each of which must occur.
func compareSamples(t *testing.T, prom, ours map[string]sample, ts int64) {
	t.Helper()
	used := compareSeries(t, prom, ours)
	for _, difference := range []string{"NaN", "scrape_series_added", "le/quantile", "line protocol", "failed counts"} {
		require.NotZero(t, used[difference], "the accepted difference %q does not occur", difference)
	}
	for who, samples := range map[string]map[string]sample{"Prometheus'": prom, "our": ours} {
		for key, s := range samples {
			if explicitTimestamps[s.labels["__name__"]] && s.labels["kind"] != "implicit" {
				require.Equal(t, ts, s.ms, "%s timestamp of %s", who, key)
			}
		}
	}
	// The test covers what it means to: each kind of series is there.
	for _, name := range []string{"parity_requests_total", "parity_latency_seconds_bucket", "parity_rpc_seconds",
		"om_jobs_total", "om_jobs_created", "om_duration_seconds_bucket", "om_state", "om_inflight_gcount", "om_temp",
		"custom_value", "honor_value", "honor_empty", "dup_empty", "dup_dropped", "up", "scrape_samples_post_metric_relabeling"} {
		require.Contains(t, fmt.Sprint(slices.Sorted(maps.Keys(ours))), `__name__="`+name+`"`)
	}
}

// compareSeries requires the same series with the same values (but scrape_duration_seconds), allowing
// only the acceptedDifferences of samples; it returns how often each applied.
func compareSeries(t *testing.T, prom, ours map[string]sample) map[string]int {
	t.Helper()
	expected := make(map[string]sample, len(prom))
	used := map[string]int{}
	// The targets whose scrape failed, by their labels (those of their up series, less the name).
	target := func(s sample) string {
		lset := maps.Clone(s.labels)
		delete(lset, "__name__")
		return labels.FromMap(lset).String()
	}
	failed := map[string]bool{}
	for _, s := range prom {
		if s.labels["__name__"] == "up" && s.value == 0 {
			failed[target(s)] = true
		}
	}
	for _, s := range prom {
		name := s.labels["__name__"]
		if (name == "scrape_samples_scraped" || name == "scrape_samples_post_metric_relabeling") && failed[target(s)] && s.value != 0 {
			used["failed counts"]++
			s.value = 0
		}
		if math.IsNaN(s.value) {
			used["NaN"]++
			continue
		}
		if name == "scrape_series_added" {
			used["scrape_series_added"]++
			continue
		}
		lset := make(map[string]string, len(s.labels))
		for k, v := range s.labels {
			if (k == "le" && strings.HasSuffix(name, "_bucket")) || k == "quantile" {
				if f := kapacitorFloat(v); f != v {
					used["le/quantile"]++
					v = f
				}
			}
			if lp := lineProtocolValue(v); lp != v {
				used["line protocol"]++
				v = lp
			}
			lset[k] = v
		}
		expected[labels.FromMap(lset).String()] = sample{labels: lset, value: s.value, ms: s.ms}
	}
	t.Logf("%d series, every one alike in both; accepted differences applied: %v", len(expected), used)
	require.Equal(t, slices.Sorted(maps.Keys(expected)), slices.Sorted(maps.Keys(ours)), "series: Prometheus', then ours")
	for key, want := range expected {
		if want.labels["__name__"] != "scrape_duration_seconds" {
			require.Equal(t, want.value, ours[key].value, "value of %s", key)
		}
	}
	return used
}

// kapacitorFloat writes a float label value the way Kapacitor did (fmt.Sprint of the float).
func kapacitorFloat(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	return fmt.Sprint(f)
}

// lineProtocolValue is what a tag value becomes through Telegraf's line protocol serializer and parser.
func lineProtocolValue(v string) string {
	v = strings.NewReplacer("\t", `\t`, "\n", `\n`, "\f", `\f`, "\r", `\r`).Replace(v)
	return strings.TrimRight(v, `\`)
}
