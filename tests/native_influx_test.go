package tests

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// nativeInfluxNames are the histograms of the exporter of TestNativeHistogramsInInfluxDB: native only,
// native and classic, classic only (which Prometheus stores as an NHCB), and a gauge histogram.
var nativeInfluxNames = []string{"native_seconds", "both_seconds", "nhcb_seconds", "queue_size"}

// nativeInfluxExporter serves the histograms, their values fixed, over loopback.
func nativeInfluxExporter(t *testing.T) string {
	reg := prometheus.NewRegistry()
	native := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "native_seconds", Help: "n", NativeHistogramBucketFactor: 1.1})
	both := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "both_seconds", Help: "b", NativeHistogramBucketFactor: 1.1, Buckets: []float64{-1, 0, 1, 10}})
	classic := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "nhcb_seconds", Help: "c", Buckets: []float64{-5, 0, 5, 20}})
	reg.MustRegister(native, both, classic)
	rng := rand.New(rand.NewPCG(24, 4))
	for i := range 1000 {
		v := rng.NormFloat64() * 20 // negative and positive, every classic bucket populated
		if i%40 == 0 {
			v = 0 // the zero bucket
		}
		native.Observe(v)
		both.Observe(v)
		classic.Observe(v)
	}
	gathered, err := reg.Gather()
	require.NoError(t, err)
	var gauge *dto.MetricFamily
	for _, f := range gathered {
		if f.GetName() == "native_seconds" {
			gauge = proto.Clone(f).(*dto.MetricFamily)
			gauge.Name, gauge.Type = proto.String("queue_size"), dto.MetricType_GAUGE_HISTOGRAM.Enum()
		}
	}
	gatherers := prometheus.Gatherers{reg, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return []*dto.MetricFamily{gauge}, nil })}
	return serveHTTP(t, promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{}).ServeHTTP)
}

// Native histograms from a client_golang exporter into a real InfluxDB, through the custom Telegraf: a
// native-only one (bucket factor 1.1, negative and positive observations, a zero bucket), a native and
// classic one, a classic one that Prometheus 3 stores as an NHCB (convert_classic_histograms_to_nhcb)
// and a gauge histogram. Our points, read back from InfluxDB, give Prometheus 3's bucket bounds and
// counts, count and sum, from its /api/v1/query; with native_histogram_bucket_limit both reduce the
// resolution alike.
func TestNativeHistogramsInInfluxDB(t *testing.T) {
	target := nativeInfluxExporter(t)
	promYML := filepath.Join(t.TempDir(), "prometheus.yml")
	require.NoError(t, os.WriteFile(promYML, []byte(fmt.Sprintf(`
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: native
    scrape_native_histograms: true
    convert_classic_histograms_to_nhcb: true
    static_configs: [{targets: [%[1]q]}]
  - job_name: limited
    scrape_native_histograms: true
    native_histogram_bucket_limit: 8
    static_configs: [{targets: [%[1]q]}]
`, target)), 0o644))
	prom := startPrometheus(t, PrometheusOfGoMod(t), promYML)
	waitForPrometheus(t, prom, 2)
	theirs := map[string]promHistogram{} // by database (job) and name
	for _, series := range nativeInfluxSeries() {
		var v struct {
			Result []struct {
				Histogram [2]json.RawMessage `json:"histogram"`
			} `json:"result"`
		}
		prom.api(t, "/api/v1/query", url.Values{"query": {fmt.Sprintf("%s{job=%q}", series.name, series.db)}}, &v)
		require.Len(t, v.Result, 1, "Prometheus stored %s as a native histogram", series)
		var h promHistogram
		require.NoError(t, json.Unmarshal(v.Result[0].Histogram[1], &h))
		theirs[series.String()] = h
	}
	require.Less(t, len(theirs["limited native_seconds"].Buckets), len(theirs["native native_seconds"].Buckets), "the bucket limit lowers the resolution")

	db := StartInfluxDB(t)
	db.Query(t, "", `CREATE DATABASE "native"`)
	db.Query(t, "", `CREATE DATABASE "limited"`)
	StartTelegraf(t, agentConf+fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  prometheus_config = %q
  [inputs.discovering_prometheus.prometheus_jobs.native]
    db = "native"
  [inputs.discovering_prometheus.prometheus_jobs.limited]
    db = "limited"
`, promYML)+influxOutput(db))
	last := func(series nativeInfluxHistogram, suffix, groupBy string) []Series {
		return db.Query(t, series.db, fmt.Sprintf(`SELECT last("value") FROM %q%s`, series.name+suffix, groupBy))
	}
	Eventually(t, 60*time.Second, "every histogram's points in InfluxDB", func() bool {
		for _, series := range nativeInfluxSeries() {
			if len(last(series, "_count", "")) == 0 || len(last(series, "_sum", "")) == 0 {
				return false
			}
		}
		return true
	})
	for _, series := range nativeInfluxSeries() {
		t.Run(series.String(), func(t *testing.T) {
			ours := map[float64]float64{}
			for _, s := range last(series, "_bucket", ` GROUP BY "le"`) {
				le, err := strconv.ParseFloat(s.Tags["le"], 64)
				require.NoError(t, err)
				ours[le] = s.Values[0][1].(float64)
			}
			value := func(suffix string) float64 { return last(series, suffix, "")[0].Values[0][1].(float64) }
			theirs[series.String()].requireClassic(t, ours, value("_count"), value("_sum"))
			require.Contains(t, ours, math.Inf(1))
		})
	}
}

// nativeInfluxHistogram is one histogram of one job, whose database has the job's name.
type nativeInfluxHistogram struct{ db, name string }

func (h nativeInfluxHistogram) String() string { return h.db + " " + h.name }

// nativeInfluxSeries are the histograms of the two jobs: every one at full resolution, and the native
// ones (the classic one has no native part there) at native_histogram_bucket_limit.
func nativeInfluxSeries() []nativeInfluxHistogram {
	var out []nativeInfluxHistogram
	for _, name := range nativeInfluxNames {
		out = append(out, nativeInfluxHistogram{"native", name})
		if name != "nhcb_seconds" {
			out = append(out, nativeInfluxHistogram{"limited", name})
		}
	}
	return out
}
