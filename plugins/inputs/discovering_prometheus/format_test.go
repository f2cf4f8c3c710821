package discovering_prometheus

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/inputs/prometheus"
	"github.com/influxdata/telegraf/selfstat"
	"github.com/influxdata/telegraf/testutil"
	client "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
)

// exposition has every type the text format declares, with labels, in the forms that show how Telegraf's
// parser reads them: bounds it reformats ("1.0", "0.50"), a histogram without a +Inf bucket, counts that
// are not whole numbers, series without a TYPE line, an empty label, a scraped url label, and scraped job
// and instance labels (as a Pushgateway exposes them), which collide with the target's.
const exposition = `# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",method="get"} 1027
http_requests_total{code="400",method="post"} 3
# TYPE temperature gauge
temperature{room="a b"} 21.5
temperature{room="c"} -3
# TYPE legacy untyped
legacy{empty=""} 7
undeclared{x="y"} 12
labelled{url="http://elsewhere/"} 2
# TYPE pushed gauge
pushed{job="batch",instance="worker-1"} 1
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{path="/a",le="0.1"} 2
latency_seconds_bucket{path="/a",le="1.0"} 5
latency_seconds_bucket{path="/a",le="+Inf"} 6
latency_seconds_sum{path="/a"} 4.2
latency_seconds_count{path="/a"} 6
latency_seconds_bucket{path="/b",le="0.1"} 0
latency_seconds_bucket{path="/b",le="1.0"} 1
latency_seconds_bucket{path="/b",le="+Inf"} 1
latency_seconds_sum{path="/b"} 0.5
latency_seconds_count{path="/b"} 1
# TYPE partial histogram
partial_bucket{le="5"} 3
partial_sum 7
partial_count 4
# TYPE rpc_seconds summary
rpc_seconds{service="x",quantile="0.5"} 0.01
rpc_seconds{service="x",quantile="0.99"} 0.2
rpc_seconds_sum{service="x"} 12.5
rpc_seconds_count{service="x"} 1000
rpc_seconds{service="y",quantile="0.50"} 0.02
rpc_seconds_sum{service="y"} 1
rpc_seconds_count{service="y"} 10
rpc_seconds_sum{service="z"} 3
rpc_seconds_count{service="z"} 2.5
# TYPE weighted histogram
weighted_bucket{le="1"} 0.5
weighted_bucket{le="+Inf"} 1.5
weighted_sum 3
weighted_count 1.5
`

// nanExposition has NaN wherever the text format allows it.
const nanExposition = `# TYPE g gauge
g NaN
g{a="1"} 1
# TYPE c counter
c NaN
u NaN
# TYPE s summary
s{quantile="0.5"} NaN
s{quantile="0.9"} 1
s{quantile="NaN"} 3
s_sum NaN
s_count 5
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="NaN"} 2
h_bucket{le="+Inf"} 2
h_sum NaN
h_count 2
# TYPE hn histogram
hn_bucket{le="1"} 1
hn_bucket{le="+Inf"} NaN
hn_sum 2
hn_count 2
`

// withTimestamps gives every sample of an exposition a timestamp of its own, so that a histogram's lines
// differ and the one Telegraf's parser keeps (the last) shows.
func withTimestamps(body string) string {
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines[i] = fmt.Sprintf("%s %d", l, 1700000000000+int64(i)*1000)
		}
	}
	return strings.Join(lines, "\n")
}

func textExporter(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, body)
	})
}

// gatherTelegraf gathers url once with Telegraf's inputs.prometheus, configured as its registry makes it
// (url_tag = "url").
func gatherTelegraf(t *testing.T, url string, version int) []telegraf.Metric {
	t.Helper()
	p := &prometheus.Prometheus{
		URLs:          []string{url},
		MetricVersion: version,
		URLTag:        "url",
		Log:           testutil.Logger{},
		Statistics:    selfstat.NewCollector(nil),
	}
	require.NoError(t, p.Init())
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	defer p.Stop()
	require.NoError(t, p.Gather(acc))
	require.Empty(t, acc.Errors)
	return acc.GetTelegrafMetrics()
}

// startOurs starts this plugin on the target at url (static-discovery) with the metric format and the
// scraper's extra keys.
func startOurs(t *testing.T, url, format, extra string) (*DiscoveringPrometheus, *testutil.Accumulator) {
	t.Helper()
	conf := strings.Replace(scraperConf(extra, ""), "localhost:9100", strings.TrimPrefix(url, "http://"), 1)
	conf = strings.Replace(conf, "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  metric_format = \""+format+"\"", 1)
	p := mustLoad(t, conf)
	require.NoError(t, p.Init())
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	t.Cleanup(p.Stop)
	require.NoError(t, p.Gather(acc))
	return p, acc
}

// synthetic are the series Prometheus adds for every scrape, which inputs.prometheus does not have.
var synthetic = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling"}

// likeInputsPrometheus is what of our metrics inputs.prometheus can have as well: without the synthetic series
// (measurement up, ... in v1; field up, ... of measurement prometheus in v2) and without the db and rp
// tags, which only this plugin adds, on purpose, for the InfluxDB outputs to route by.
func likeInputsPrometheus(ms []telegraf.Metric) []telegraf.Metric {
	var out []telegraf.Metric
	for _, m := range ms {
		if slices.Contains(synthetic, m.Name()) {
			continue
		}
		if fields := m.FieldList(); m.Name() == "prometheus" && len(fields) == 1 && slices.Contains(synthetic, fields[0].Key) {
			continue
		}
		m = m.Copy()
		m.RemoveTag("db")
		m.RemoveTag("rp")
		out = append(out, m)
	}
	return out
}

var versions = []struct {
	format  string
	version int
}{{"prometheus-v1", 1}, {"prometheus-v2", 2}}

// Both plugins scrape one exporter in one process; this plugin's prometheus-v1 and -v2 must give what
// inputs.prometheus gives with metric_version 1 and 2. Times are compared where the exposition has
// timestamps; without, each plugin stamps its own gather time.
func TestPrometheusFormatsMatchInputsPrometheus(t *testing.T) {
	for _, tc := range []struct {
		name, body, extra string
		exactTime         bool
	}{
		{name: "text", body: exposition},
		{name: "text with timestamps", body: withTimestamps(exposition), exactTime: true},
		{name: "honor-labels", body: exposition, extra: "    honor-labels = true"},
		{name: "NaN", body: nanExposition},
	} {
		for _, v := range versions {
			t.Run(tc.name+"/"+v.format, func(t *testing.T) {
				srv := httptest.NewServer(textExporter(tc.body))
				defer srv.Close()
				theirs := gatherTelegraf(t, srv.URL+"/metrics", v.version)
				_, acc := startOurs(t, srv.URL, v.format, tc.extra)
				ours := likeInputsPrometheus(acc.GetTelegrafMetrics())
				opts := []cmp.Option{testutil.SortMetrics()}
				if !tc.exactTime {
					opts = append(opts, testutil.IgnoreTime())
				}
				require.NotEmpty(t, theirs)
				testutil.RequireMetricsEqual(t, theirs, ours, opts...)
			})
		}
	}
}

// A target built on client_golang answers each plugin in the format it prefers: inputs.prometheus
// protobuf, this plugin OpenMetrics (counters as family c with series c_total, exemplars, # EOF). The
// metrics must still be the same, as they are for the same target.
func TestPrometheusFormatsMatchInputsPrometheusOverOpenMetrics(t *testing.T) {
	reg := client.NewRegistry()
	requests := client.NewCounterVec(client.CounterOpts{Name: "app_requests_total", Help: "Requests."}, []string{"code"})
	temperature := client.NewGaugeVec(client.GaugeOpts{Name: "app_temperature", Help: "Temperature."}, []string{"room"})
	latency := client.NewHistogramVec(client.HistogramOpts{Name: "app_latency_seconds", Help: "Latency.", Buckets: []float64{0.1, 1}}, []string{"path"})
	rpc := client.NewSummaryVec(client.SummaryOpts{Name: "app_rpc_seconds", Help: "RPCs.", Objectives: map[float64]float64{0.5: 0.05, 0.99: 0.001}}, []string{"service"})
	untyped := client.NewUntypedFunc(client.UntypedOpts{Name: "app_untyped", Help: "Untyped."}, func() float64 { return 3 })
	reg.MustRegister(requests, temperature, latency, rpc, untyped)
	requests.WithLabelValues("200").Add(1027)
	requests.WithLabelValues("500").Inc()
	temperature.WithLabelValues("a").Set(21.5)
	for _, v := range []float64{0.05, 0.5, 3} {
		latency.WithLabelValues("/a").Observe(v)
		rpc.WithLabelValues("x").Observe(v)
	}
	latency.WithLabelValues("/b")
	rpc.WithLabelValues("idle") // no observations: NaN quantiles

	var mu sync.Mutex
	served := map[string]string{} // content type by client
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(w, r)
		mu.Lock()
		served[strings.Fields(r.UserAgent())[0]] = w.Header().Get("Content-Type")
		mu.Unlock()
	}))
	defer srv.Close()

	for _, v := range versions {
		t.Run(v.format, func(t *testing.T) {
			theirs := gatherTelegraf(t, srv.URL+"/metrics", v.version)
			_, acc := startOurs(t, srv.URL, v.format, "")
			ours := likeInputsPrometheus(acc.GetTelegrafMetrics())
			mu.Lock()
			require.Contains(t, served["discovering-prometheus"], "application/openmetrics-text")
			for agent, contentType := range served {
				if strings.HasPrefix(agent, "Telegraf") {
					require.Contains(t, contentType, "application/vnd.google.protobuf")
				}
			}
			mu.Unlock()
			opts := []cmp.Option{testutil.SortMetrics(), testutil.IgnoreTime()}
			if v.version == 1 {
				// client_golang leaves a histogram's +Inf bucket out of the protobuf format (it equals the
				// count), so metric_version 1 has no "+Inf" field for it, while the text and OpenMetrics
				// formats, and this plugin, have one.
				opts = append(opts, testutil.IgnoreFields("+Inf"))
			}
			require.NotEmpty(t, theirs)
			testutil.RequireMetricsEqual(t, theirs, ours, opts...)
		})
	}
}

// openMetricsExposition and textEquivalent are one exporter's metrics in each format, as a client that speaks
// both (Python's, say) writes them: the text format has no _created, info or stateset series, so it makes
// them gauges of their own.
const openMetricsExposition = `# TYPE jobs counter
# HELP jobs Jobs.
jobs_total{kind="a"} 3
jobs_created{kind="a"} 1.7e+09
# TYPE build info
build_info{version="1.2"} 1
# TYPE state stateset
state{state="on"} 1
state{state="off"} 0
# TYPE lat histogram
lat_bucket{le="0.5"} 1
lat_bucket{le="+Inf"} 2
lat_count 2
lat_sum 1.5
lat_created 1.7e+09
# TYPE mystery unknown
mystery 4
# EOF
`

const textEquivalent = `# TYPE jobs_total counter
jobs_total{kind="a"} 3
# TYPE jobs_created gauge
jobs_created{kind="a"} 1.7e+09
# TYPE build_info gauge
build_info{version="1.2"} 1
# TYPE state gauge
state{state="on"} 1
state{state="off"} 0
# TYPE lat histogram
lat_bucket{le="0.5"} 1
lat_bucket{le="+Inf"} 2
lat_count 2
lat_sum 1.5
# TYPE lat_created gauge
lat_created 1.7e+09
# TYPE mystery untyped
mystery 4
`

// This plugin, answered in OpenMetrics, writes what inputs.prometheus, answered in the text format, writes.
func TestPrometheusFormatsReadOpenMetricsAsText(t *testing.T) {
	var openMetricsServed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Accept"), "application/openmetrics-text") {
			openMetricsServed.Store(true)
			w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
			fmt.Fprint(w, openMetricsExposition)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, textEquivalent)
	}))
	defer srv.Close()
	for _, v := range versions {
		t.Run(v.format, func(t *testing.T) {
			openMetricsServed.Store(false)
			theirs := gatherTelegraf(t, srv.URL+"/metrics", v.version)
			require.False(t, openMetricsServed.Load())
			_, acc := startOurs(t, srv.URL, v.format, "")
			require.True(t, openMetricsServed.Load())
			require.NotEmpty(t, theirs)
			testutil.RequireMetricsEqual(t, theirs, likeInputsPrometheus(acc.GetTelegrafMetrics()), testutil.SortMetrics(), testutil.IgnoreTime())
		})
	}
}

// A scrape that fails part-way through delivers none of the histogram and summary series it had held
// back, and the next scrape starts clean.
func TestPrometheusFormatsDropFailedScrape(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, exposition)
		if broken.Load() {
			fmt.Fprint(w, "this is { not the text format\n")
		}
	}))
	defer srv.Close()
	for _, v := range versions {
		t.Run(v.format, func(t *testing.T) {
			broken.Store(true)
			p, acc := startOurs(t, srv.URL, v.format, "")
			require.Empty(t, likeInputsPrometheus(acc.GetTelegrafMetrics()))
			up := acc.GetTelegrafMetrics()
			require.Len(t, up, len(synthetic))
			for _, m := range up {
				if m.Name() == "up" || m.HasField("up") {
					require.Equal(t, []*telegraf.Field{{Key: map[int]string{1: "gauge", 2: "up"}[v.version], Value: 0.0}}, m.FieldList())
				}
			}

			broken.Store(false)
			theirs := gatherTelegraf(t, srv.URL+"/metrics", v.version)
			acc.ClearMetrics()
			p.gatherAt(acc, time.Now().Add(time.Minute)) // the next gather the target is due
			testutil.RequireMetricsEqual(t, theirs, likeInputsPrometheus(acc.GetTelegrafMetrics()), testutil.SortMetrics(), testutil.IgnoreTime())
		})
	}
}

// NaN as inputs.prometheus has it (the comparison above checks the same against it): counters, gauges
// and untyped series of NaN are dropped; a summary's NaN quantile is left out of its v1 metric but kept
// as a v2 metric; a NaN sum stays; a bound of NaN drops its series.
func TestPrometheusFormatsNaN(t *testing.T) {
	srv := httptest.NewServer(textExporter(nanExposition))
	defer srv.Close()
	fields := func(acc *testutil.Accumulator, name string, tags map[string]string) map[string]any {
		for _, m := range likeInputsPrometheus(acc.GetTelegrafMetrics()) {
			if m.Name() != name || len(m.Tags()) != len(tags)+1 {
				continue
			}
			match := true
			for k, v := range tags {
				if got, _ := m.GetTag(k); got != v {
					match = false
				}
			}
			if match {
				return m.Fields()
			}
		}
		return nil
	}

	_, acc := startOurs(t, srv.URL, "prometheus-v1", "")
	require.Nil(t, fields(acc, "c", nil))
	require.Nil(t, fields(acc, "u", nil))
	require.Nil(t, fields(acc, "g", nil))
	require.Equal(t, map[string]any{"gauge": 1.0}, fields(acc, "g", map[string]string{"a": "1"}))
	s := fields(acc, "s", nil)
	require.Len(t, s, 3)
	require.Equal(t, 1.0, s["0.9"])
	require.True(t, math.IsNaN(s["sum"].(float64)))
	h := fields(acc, "h", nil)
	require.Equal(t, []string{"+Inf", "1", "count", "sum"}, slices.Sorted(maps.Keys(h)))
	// A NaN bucket makes Telegraf's parser take the histogram's counts for floats, which it reports as 0.
	require.Equal(t, map[string]any{"1": 0.0, "+Inf": 0.0, "count": 0.0, "sum": 2.0}, fields(acc, "hn", nil))

	_, acc = startOurs(t, srv.URL, "prometheus-v2", "")
	require.True(t, math.IsNaN(fields(acc, "prometheus", map[string]string{"quantile": "0.5"})["s"].(float64)))
	require.Equal(t, map[string]any{"s": 1.0}, fields(acc, "prometheus", map[string]string{"quantile": "0.9"}))
	require.Nil(t, fields(acc, "prometheus", map[string]string{"quantile": "NaN"}))
	require.Nil(t, fields(acc, "prometheus", map[string]string{"le": "NaN"}))
	require.Equal(t, map[string]any{"h_bucket": 2.0}, fields(acc, "prometheus", map[string]string{"le": "+Inf"}))
}

func TestMetricFormatNames(t *testing.T) {
	require.Equal(t, []string{"kapacitor", "prometheus-v1", "prometheus-v2"}, formatNames())
	p := mustLoad(t, scraperConf("", ""))
	require.NoError(t, p.Init())
	require.Equal(t, "kapacitor", p.MetricFormat, "the default")
}

// ±Inf samples: the prometheus formats keep them, as inputs.prometheus does, but line protocol cannot carry
// them, and Telegraf's serializer and the runner's logged each such metric on every gather (10,000 lines
// for 10,000 series). The plugin says how many a target has, once, and again only when the number changes.
func TestPrometheusFormatsLogInfOncePerTarget(t *testing.T) {
	var infs atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# TYPE g gauge\n")
		for i := range infs.Load() {
			fmt.Fprintf(w, "g{i=\"%d\"} %s\n", i, []string{"+Inf", "-Inf"}[i%2])
		}
		fmt.Fprint(w, "fine 1\n")
	}))
	defer srv.Close()
	for _, v := range versions {
		t.Run(v.format, func(t *testing.T) {
			conf := strings.Replace(scraperConf("", ""), "localhost:9100", strings.TrimPrefix(srv.URL, "http://"), 1)
			conf = strings.Replace(conf, "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  metric_format = \""+v.format+"\"", 1)
			p := mustLoad(t, conf)
			log := &testutil.CaptureLogger{}
			p.Log = log
			require.NoError(t, p.Init())
			acc := &testutil.Accumulator{}
			require.NoError(t, p.Start(acc))
			defer p.Stop()
			now := time.Now()
			gather := func(n int64) {
				infs.Store(n)
				now = now.Add(time.Hour) // the target is due
				acc.ClearMetrics()
				p.gatherAt(acc, now)
			}
			infs.Store(1000)
			require.NoError(t, p.Gather(acc)) // waits for discovery
			for _, n := range []int64{1000, 1000, 10, 10, 0, 0, 10} {
				gather(n)
			}
			infMetrics := 0
			for _, m := range acc.GetTelegrafMetrics() {
				for _, f := range m.FieldList() {
					if math.IsInf(f.Value.(float64), 0) {
						infMetrics++
					}
				}
			}
			require.Equal(t, 10, infMetrics, "the metrics are kept, as inputs.prometheus keeps them")
			var warnings []string
			for _, m := range log.Messages() {
				if m.Level == testutil.LevelWarn {
					warnings = append(warnings, m.Text)
				}
			}
			url := srv.URL + "/metrics"
			require.Equal(t, []string{
				"target " + url + ": 1000 ±Inf sample(s), which line protocol cannot carry: InfluxDB outputs drop them (logged again when the number changes)",
				"target " + url + ": 10 ±Inf sample(s), which line protocol cannot carry: InfluxDB outputs drop them (logged again when the number changes)",
				"target " + url + ": 10 ±Inf sample(s), which line protocol cannot carry: InfluxDB outputs drop them (logged again when the number changes)",
			}, warnings)
		})
	}
}
