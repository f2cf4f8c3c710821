package discovering_prometheus

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	influxparser "github.com/influxdata/telegraf/plugins/parsers/influx"
	client "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// Typed bounds are spelled as Kapacitor spelled them, fmt.Sprint of the float (measured on a real
// kapacitord 1.5); untyped ones, and anything that is not a bound, stay as scraped.
func TestKapacitorBoundSpelling(t *testing.T) {
	for _, tc := range []struct {
		name          string
		typ           model.MetricType
		label         string
		scraped, want string
	}{
		{"integer", model.MetricTypeHistogram, "le", "1.0", "1"},
		{"zero", model.MetricTypeHistogram, "le", "0.0", "0"},
		{"thousands", model.MetricTypeHistogram, "le", "2500.0", "2500"},
		{"exponent as written", model.MetricTypeHistogram, "le", "2.5e3", "2500"},
		{"small", model.MetricTypeHistogram, "le", "0.00001", "1e-05"},
		{"small, Prometheus 3", model.MetricTypeHistogram, "le", "1e-05", "1e-05"},
		{"million", model.MetricTypeHistogram, "le", "1000000", "1e+06"},
		{"million, Prometheus 3", model.MetricTypeHistogram, "le", "1e+06", "1e+06"},
		{"+Inf", model.MetricTypeHistogram, "le", "+Inf", "+Inf"},
		{"-Inf", model.MetricTypeHistogram, "le", "-Inf", "-Inf"},
		{"NaN", model.MetricTypeHistogram, "le", "NaN", "NaN"},
		{"gauge histogram", model.MetricTypeGaugeHistogram, "le", "1.0", "1"},
		{"quantile", model.MetricTypeSummary, "quantile", "0.990", "0.99"},
		{"quantile one", model.MetricTypeSummary, "quantile", "1.0", "1"},
		{"not a number", model.MetricTypeHistogram, "le", "big", "big"},
		{"untyped", model.MetricTypeUnknown, "le", "1.0", "1.0"},
		{"counter", model.MetricTypeCounter, "le", "1.0", "1.0"},
		{"le of a summary", model.MetricTypeSummary, "le", "1.0", "1.0"},
		{"quantile of a histogram", model.MetricTypeHistogram, "quantile", "1.0", "1.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, strs := kapacitorPoints{}, newInterner()
			scraped := sampleLabels("__name__", "m_bucket", tc.label, tc.scraped, "path", "/")
			s := &scrape.Sample{Labels: slices.Clone(scraped), Value: 1, Type: tc.typ, Family: "m"}
			k.apply(s, strs)
			require.Equal(t, tc.want, s.Labels.Get(tc.label))
			require.Equal(t, "m_bucket", s.Labels.Get("__name__"))
			require.Equal(t, "/", s.Labels.Get("path"))
			require.Equal(t, scraped, sampleLabels("__name__", "m_bucket", tc.label, tc.scraped, "path", "/"), "the scraped labels are left alone")
			if tc.want != tc.scraped {
				f, err := strconv.ParseFloat(tc.scraped, 64)
				require.NoError(t, err)
				require.Equal(t, fmt.Sprint(f), tc.want, "Kapacitor's spelling is fmt.Sprint's")
			}
			k.apply(s, strs) // a second time, from the cache
			require.Equal(t, tc.want, s.Labels.Get(tc.label))
		})
	}
	for _, f := range []float64{math.Inf(1), math.Inf(-1), math.NaN(), 0, 1, 0.1, 2500, 1e-5, 1e6, 1e21, -0.25} {
		t.Run(fmt.Sprint(f), func(t *testing.T) {
			require.Equal(t, fmt.Sprint(f), newInterner().bound(strconv.FormatFloat(f, 'f', -1, 64)), "%v", f)
		})
	}
}

// lpBounds collects the le and quantile tags of a scrape, by measurement, from Telegraf's metrics or from
// line protocol.
func lpBounds(t *testing.T, ms []telegraf.Metric, lp []byte) map[string][]string {
	t.Helper()
	if lp != nil {
		parser := &influxparser.Parser{}
		require.NoError(t, parser.Init())
		var err error
		ms, err = parser.Parse(lp)
		require.NoError(t, err)
	}
	out := map[string][]string{}
	for _, m := range ms {
		for _, key := range []string{"le", "quantile"} {
			if v, ok := m.GetTag(key); ok {
				out[m.Name()+" "+key] = append(out[m.Name()+" "+key], v)
			}
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// gatherKapacitor scrapes the target at url once in the kapacitor format through Telegraf (metrics) and
// once through the runner's direct line protocol.
func gatherKapacitor(t *testing.T, url string) ([]telegraf.Metric, []byte) {
	t.Helper()
	p, acc := startOurs(t, url, "kapacitor", "")
	var lp bytes.Buffer
	p.gatherLineProtocolAt(&lp, time.Now().Add(time.Hour)) // the target is due again
	return acc.GetTelegrafMetrics(), lp.Bytes()
}

// The spelling holds whatever format the target answers in: text, OpenMetrics (which Kapacitor could not
// read) and protobuf, and both writers of the format agree.
func TestKapacitorBoundsEveryFormat(t *testing.T) {
	const text = `# TYPE h histogram
h_bucket{le="0.00001"} 0
h_bucket{le="1"} 1
h_bucket{le="2.5e3"} 2
h_bucket{le="1000000"} 3
h_bucket{le="+Inf"} 3
h_sum 1
h_count 3
# TYPE s summary
s{quantile="0"} 1
s{quantile="0.990"} 1
s_sum 1
s_count 1
# TYPE u untyped
u_bucket{le="1.0"} 1
v{le="1.0",quantile="0.50"} 1
`
	typed := map[string][]string{
		"h_bucket le": {"+Inf", "1", "1e+06", "1e-05", "2500"},
		"s quantile":  {"0", "0.99"},
	}
	reg := client.NewRegistry()
	hist := client.NewHistogram(client.HistogramOpts{Name: "h", Buckets: []float64{0.00001, 1, 2500, 1e6}})
	sum := client.NewSummary(client.SummaryOpts{Name: "s", Objectives: map[float64]float64{0: 0.01, 0.99: 0.001}})
	untyped := client.NewUntypedFunc(client.UntypedOpts{Name: "v", ConstLabels: client.Labels{"le": "1.0", "quantile": "0.50"}}, func() float64 { return 1 })
	reg.MustRegister(hist, sum, untyped)
	hist.Observe(0.5)
	sum.Observe(0.5)

	for _, tc := range []struct {
		name, contentType string
		body              func(w http.ResponseWriter)
		want              map[string][]string
	}{
		{"text", "text/plain; version=0.0.4", func(w http.ResponseWriter) { fmt.Fprint(w, text) },
			map[string][]string{"u_bucket le": {"1.0"}, "v le": {"1.0"}, "v quantile": {"0.50"}}},
		{"OpenMetrics", "application/openmetrics-text; version=1.0.0; charset=utf-8", func(w http.ResponseWriter) {
			fmt.Fprint(w, strings.Replace(text, " untyped", " unknown", 1)+"# EOF\n")
		}, map[string][]string{"u_bucket le": {"1.0"}, "v le": {"1.0"}, "v quantile": {"0.50"}}},
		{"protobuf", string(expfmt.NewFormat(expfmt.TypeProtoDelim)), func(w http.ResponseWriter) {
			mfs, err := reg.Gather()
			require.NoError(t, err)
			enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeProtoDelim))
			for _, mf := range mfs {
				require.NoError(t, enc.Encode(mf))
			}
		}, map[string][]string{"v le": {"1.0"}, "v quantile": {"0.50"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				tc.body(w)
			}))
			defer srv.Close()
			ms, lp := gatherKapacitor(t, srv.URL)
			want := map[string][]string{}
			for k, v := range typed {
				want[k] = v
			}
			for k, v := range tc.want {
				want[k] = v
			}
			require.Equal(t, want, lpBounds(t, ms, nil), "Telegraf metrics")
			require.Equal(t, want, lpBounds(t, nil, lp), "line protocol")
		})
	}
}

// A body that fails to parse, even on its last line, gives scrape_samples_scraped and
// scrape_samples_post_metric_relabeling 0 in the kapacitor format, as in Kapacitor; the Prometheus formats
// keep Prometheus' counts (the samples read before the failure).
func TestKapacitorFailedScrapeCounts(t *testing.T) {
	var body atomic.Value
	body.Store("# TYPE a gauge\na 1\nb 2\nc 3\nthis is not a sample\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, body.Load())
	}))
	defer srv.Close()
	parser := &influxparser.Parser{}
	require.NoError(t, parser.Init())
	counts := func(ms []telegraf.Metric, lp []byte) map[string]float64 {
		if lp != nil {
			var err error
			ms, err = parser.Parse(lp)
			require.NoError(t, err)
		}
		out := map[string]float64{}
		for _, m := range ms {
			for _, name := range synthetic {
				if v, ok := m.GetField("value"); ok && m.Name() == name {
					out[name] = v.(float64)
				}
				if v, ok := m.GetField(name); ok && m.Name() == "prometheus" {
					out[name] = v.(float64)
				}
			}
			require.NotContains(t, []string{"a", "b", "c"}, m.Name(), "a failed scrape writes no sample")
		}
		delete(out, "scrape_duration_seconds")
		return out
	}

	p, acc := startOurs(t, srv.URL, "kapacitor", "")
	var lp bytes.Buffer
	now := time.Now()
	p.gatherLineProtocolAt(&lp, now.Add(time.Hour))
	failed := map[string]float64{"up": 0, "scrape_samples_scraped": 0, "scrape_samples_post_metric_relabeling": 0}
	require.Equal(t, failed, counts(acc.GetTelegrafMetrics(), nil), "Telegraf metrics")
	require.Equal(t, failed, counts(nil, lp.Bytes()), "line protocol")

	_, v2 := startOurs(t, srv.URL, "prometheus-v2", "")
	require.Equal(t, map[string]float64{"up": 0, "scrape_samples_scraped": 3, "scrape_samples_post_metric_relabeling": 3},
		counts(v2.GetTelegrafMetrics(), nil), "prometheus-v2")

	// The next scrape succeeds: it has its counts.
	body.Store("a 1\nb 2\n")
	acc.ClearMetrics()
	lp.Reset()
	p.gatherAt(acc, now.Add(2*time.Hour))
	p.gatherLineProtocolAt(&lp, now.Add(3*time.Hour))
	ok := map[string]float64{"up": 1, "scrape_samples_scraped": 2, "scrape_samples_post_metric_relabeling": 2}
	require.Equal(t, ok, counts(acc.GetTelegrafMetrics()[2:], nil), "Telegraf metrics") // a and b first
	require.Equal(t, ok, counts(nil, bytes.SplitAfterN(lp.Bytes(), []byte("\n"), 3)[2]), "line protocol")
}
