package discovering_prometheus

import (
	"maps"
	"math"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/influxdata/telegraf"
	client "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
)

// A native histogram reaches every metric format as the classic histogram it equals, through their
// classic paths: the same le and cumulative counts, count and sum, in kapacitor, prometheus-v1 and
// prometheus-v2.
func TestNativeHistogramInEveryFormat(t *testing.T) {
	reg := client.NewRegistry()
	h := client.NewHistogram(client.HistogramOpts{Name: "native_seconds", Help: "h", NativeHistogramBucketFactor: 1.1})
	reg.MustRegister(h)
	for _, v := range []float64{-3, -0.5, 0, 0, 0.01, 0.3, 0.31, 2, 7, 7.5, 100} {
		h.Observe(v)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)

	// le -> count, and count and sum, as each format writes them.
	type classic struct {
		buckets    map[float64]float64
		count, sum float64
	}
	parse := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err, s)
		return f
	}
	number := func(v any) float64 {
		switch v := v.(type) {
		case float64:
			return v
		case uint64:
			return float64(v)
		case int64:
			return float64(v)
		}
		t.Fatalf("field value %T", v)
		return 0
	}
	read := map[string]func(ms []telegraf.Metric) classic{
		"kapacitor": func(ms []telegraf.Metric) classic {
			c := classic{buckets: map[float64]float64{}}
			for _, m := range ms {
				v, _ := m.GetField("value")
				switch m.Name() {
				case "native_seconds_bucket":
					c.buckets[parse(m.Tags()["le"])] = number(v)
				case "native_seconds_count":
					c.count = number(v)
				case "native_seconds_sum":
					c.sum = number(v)
				}
			}
			return c
		},
		"prometheus-v1": func(ms []telegraf.Metric) classic {
			c := classic{buckets: map[float64]float64{}}
			for _, m := range ms {
				if m.Name() != "native_seconds" {
					continue
				}
				require.Equal(t, telegraf.Histogram, m.Type())
				for _, f := range m.FieldList() {
					switch f.Key {
					case "count":
						c.count = number(f.Value)
					case "sum":
						c.sum = number(f.Value)
					default:
						c.buckets[parse(f.Key)] = number(f.Value)
					}
				}
			}
			return c
		},
		"prometheus-v2": func(ms []telegraf.Metric) classic {
			c := classic{buckets: map[float64]float64{}}
			for _, m := range ms {
				for _, f := range m.FieldList() {
					switch f.Key {
					case "native_seconds_bucket":
						c.buckets[parse(m.Tags()["le"])] = number(f.Value)
					case "native_seconds_count":
						c.count = number(f.Value)
					case "native_seconds_sum":
						c.sum = number(f.Value)
					}
				}
			}
			return c
		},
	}
	got := map[string]classic{}
	for format, read := range read {
		_, acc := startOurs(t, srv.URL, format, "    scrape-native-histograms = true")
		got[format] = read(acc.GetTelegrafMetrics())
	}
	want := got["kapacitor"]
	require.Equal(t, 11.0, want.count)
	require.InDelta(t, 113.62, want.sum, 1e-9)
	require.Equal(t, 11.0, want.buckets[math.Inf(1)])
	require.Greater(t, len(want.buckets), 10)
	les := slices.Sorted(maps.Keys(want.buckets))
	for i := 1; i < len(les); i++ {
		require.LessOrEqual(t, want.buckets[les[i-1]], want.buckets[les[i]], "cumulative at le %v", les[i])
	}
	require.Equal(t, 4.0, want.buckets[client.DefNativeHistogramZeroThreshold], "the zero bucket's le: -3, -0.5, 0, 0")
	require.Equal(t, want, got["prometheus-v1"], "prometheus-v1")
	require.Equal(t, want, got["prometheus-v2"], "prometheus-v2")
}
