package tests

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
)

// Native histograms against the oracle, Prometheus 3 of go.mod: with scrape_native_histograms both scrape
// one client_golang histogram over loopback, and our classic series (the kapacitor format, as the runner
// writes them for InfluxDB) give back Prometheus' bucket bounds and counts, its count and sum, and a
// classic histogram_quantile within the bucket of Prometheus' native one. The Kapacitor way
// (scrape-native-histograms in a [[scraper]]) writes the same points.
func TestNativeHistogramsMatchPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "native_seconds", Help: "h", NativeHistogramBucketFactor: 1.1})
	reg.MustRegister(h)
	rng := rand.New(rand.NewPCG(24, 2))
	for i := range 1000 {
		v := rng.ExpFloat64() - 0.2 // mostly positive, some negative
		if i%50 == 0 {
			v = 0
		}
		h.Observe(v)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	server := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go func() { _ = server.Serve(l) }()
	t.Cleanup(func() { _ = server.Close() })

	dir := t.TempDir()
	sdFile := filepath.Join(dir, "native.json")
	writeJSON(t, sdFile, []map[string]any{{"targets": []string{l.Addr().String()}}})
	promYML := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(promYML, []byte(fmt.Sprintf(`
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: native
    scrape_native_histograms: true
    file_sd_configs: [{files: [%q]}]
`, sdFile)), 0o644))

	prom := startPrometheus(t, PrometheusOfGoMod(t), promYML)
	waitForPrometheus(t, prom, 1)
	var hist struct {
		Result []struct {
			Histogram [2]json.RawMessage `json:"histogram"`
		} `json:"result"`
	}
	prom.api(t, "/api/v1/query", url.Values{"query": {"native_seconds"}}, &hist)
	require.Len(t, hist.Result, 1, "Prometheus stored a native histogram")
	var native promHistogram
	require.NoError(t, json.Unmarshal(hist.Result[0].Histogram[1], &native))
	require.Greater(t, len(native.Buckets), 20, "native resolution")
	var quantile struct {
		Result []struct {
			Value [2]json.RawMessage `json:"value"`
		} `json:"result"`
	}
	prom.api(t, "/api/v1/query", url.Values{"query": {"histogram_quantile(0.9, native_seconds)"}}, &quantile)
	require.Len(t, quantile.Result, 1)
	promQuantile := number(t, quantile.Result[0].Value[1])

	for name, toml := range map[string]string{
		"prometheus_config": fmt.Sprintf("[[inputs.discovering_prometheus]]\n  prometheus_config = %q\n", promYML),
		"toml": fmt.Sprintf(`[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "native"
    db = "native"
    rp = "autogen"
    discoverer-service = "file-discovery"
    discoverer-id = "native"
    scrape-native-histograms = true
  [[inputs.discovering_prometheus.file-discovery]]
    id = "native"
    files = [%q]
`, sdFile),
	} {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, err := runOnce(t, "-config", writeConfig(t, toml))
			require.NoError(t, err, stderr)
			ours := map[float64]float64{}
			var count, sum float64
			for _, m := range ParseLineProtocol(t, stdout) {
				v, _ := m.GetField("value")
				switch m.Name() {
				case "native_seconds_bucket":
					le, err := strconv.ParseFloat(m.Tags()["le"], 64)
					require.NoError(t, err)
					ours[le] = v.(float64)
				case "native_seconds_count":
					count = v.(float64)
				case "native_seconds_sum":
					sum = v.(float64)
				}
			}
			native.requireClassic(t, ours, count, sum)

			// The classic histogram_quantile of our series lies in the native bucket of Prometheus' own.
			ours90 := classicQuantile(0.9, ours)
			for _, b := range native.Buckets {
				if lower, upper := number(t, b[1]), number(t, b[2]); lower <= promQuantile && promQuantile <= upper {
					require.InDelta(t, promQuantile, ours90, upper-lower, "bucket (%v, %v]", lower, upper)
					return
				}
			}
			t.Fatalf("Prometheus' quantile %v is in none of its buckets", promQuantile)
		})
	}
}

// promHistogram is a native histogram as Prometheus' /api/v1/query answers it.
type promHistogram struct {
	Count, Sum string
	// Buckets are [boundary rule, lower, upper, count], ascending.
	Buckets [][4]json.RawMessage
}

// number reads a number of Prometheus' API, which are strings.
func number(t *testing.T, raw json.RawMessage) float64 {
	t.Helper()
	var s string
	require.NoError(t, json.Unmarshal(raw, &s))
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return f
}

// requireClassic requires our classic series of the histogram (le -> cumulative count, its count and sum)
// to be h: Prometheus' buckets, ascending, cumulated, each upper bound one of our le with the count of the
// buckets up to it; each of our le a bound of Prometheus' buckets; the same count, +Inf's too, and sum.
func (h promHistogram) requireClassic(t *testing.T, ours map[float64]float64, count, sum float64) {
	t.Helper()
	require.Equal(t, h.Count, strconv.FormatFloat(count, 'g', -1, 64))
	promSum, err := strconv.ParseFloat(h.Sum, 64)
	require.NoError(t, err)
	require.InDelta(t, promSum, sum, 1e-9)
	require.Equal(t, count, ours[math.Inf(1)])
	var cum float64
	bounds := map[float64]bool{math.Inf(1): true}
	for _, b := range h.Buckets {
		lower, upper, n := number(t, b[1]), number(t, b[2]), number(t, b[3])
		cum += n
		require.Contains(t, ours, upper, "Prometheus' bucket (%v, %v]", lower, upper)
		require.Equal(t, cum, ours[upper], "le %v", upper)
		bounds[lower], bounds[upper] = true, true
	}
	for le := range ours {
		require.True(t, bounds[le], "our le %v is a bound of Prometheus' buckets", le)
	}
}

// classicQuantile is PromQL's histogram_quantile over classic buckets (le -> cumulative count): linear
// interpolation within the bucket that holds the rank.
func classicQuantile(q float64, buckets map[float64]float64) float64 {
	les := slices.Sorted(maps.Keys(buckets))
	rank := q * buckets[math.Inf(1)]
	for i, le := range les {
		if buckets[le] < rank {
			continue
		}
		lower, below := 0.0, 0.0
		if i > 0 {
			lower, below = les[i-1], buckets[les[i-1]]
		} else if le <= 0 {
			return le
		}
		return lower + (le-lower)*(rank-below)/(buckets[le]-below)
	}
	return math.NaN()
}
