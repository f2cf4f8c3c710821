package scrape

import (
	"bytes"
	"maps"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// nativeExporter is a client_golang registry served over loopback by promhttp, which answers in the
// protobuf format when asked for it first: a native-only histogram, a native one with classic buckets too,
// and, made by hand, a gauge histogram and a float histogram (client_golang exposes neither). It returns the
// target's address, the observations made and the families as the registry gathers them.
func nativeExporter(t *testing.T) (addr string, observed []float64, families map[string]*dto.MetricFamily) {
	t.Helper()
	reg, observed, families, extra := nativeFamilies()
	srv := httptest.NewServer(promhttp.HandlerFor(prometheus.Gatherers{reg, extra}, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), observed, families
}

// nativeFamilies makes nativeExporter's families: the registry, and the hand-made ones.
func nativeFamilies() (reg *prometheus.Registry, observed []float64, families map[string]*dto.MetricFamily, extra prometheus.Gatherer) {
	reg = prometheus.NewRegistry()
	native := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "native_seconds", Help: "n", NativeHistogramBucketFactor: 1.1})
	both := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "both_seconds", Help: "b", NativeHistogramBucketFactor: 1.1, Buckets: []float64{-1, 0, 1, 10}})
	reg.MustRegister(native, both)
	rng := rand.New(rand.NewPCG(24, 1))
	for i := range 500 {
		v := rng.NormFloat64() * 20 // negative and positive, over some ten powers of two
		if i%25 == 0 {
			v = 0 // the zero bucket
		}
		native.Observe(v)
		both.Observe(v)
		observed = append(observed, v)
	}
	gathered, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	families = map[string]*dto.MetricFamily{}
	for _, f := range gathered {
		families[f.GetName()] = f
	}
	// A gauge histogram: the native part of native_seconds as a gauge.
	gauge := proto.Clone(families["native_seconds"]).(*dto.MetricFamily)
	gauge.Name, gauge.Type = proto.String("queue_size"), dto.MetricType_GAUGE_HISTOGRAM.Enum()
	// A float histogram, schema 0: buckets (0.5,1] 1.5, (1,2] 0, (2,4] 2.5; zero bucket 0.5; and a NaN
	// observation, in the count but in no bucket.
	float := &dto.MetricFamily{Name: proto.String("float_ratio"), Type: dto.MetricType_HISTOGRAM.Enum(), Metric: []*dto.Metric{{Histogram: &dto.Histogram{
		SampleCountFloat: proto.Float64(5), SampleSum: proto.Float64(10), Schema: proto.Int32(0),
		ZeroThreshold: proto.Float64(0.001), ZeroCountFloat: proto.Float64(0.5),
		PositiveSpan: []*dto.BucketSpan{{Offset: proto.Int32(0), Length: proto.Uint32(3)}}, PositiveCount: []float64{1.5, 0, 2.5},
	}}}}
	families["queue_size"], families["float_ratio"] = gauge, float
	extra = prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return []*dto.MetricFamily{gauge, float}, nil })
	return reg, observed, families, extra
}

// nativeProtobufBody is nativeFamilies' families in the delimited protobuf format, as promhttp sends them.
func nativeProtobufBody() []byte {
	_, _, families, _ := nativeFamilies()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, name := range slices.Sorted(maps.Keys(families)) {
		if err := enc.Encode(families[name]); err != nil {
			panic(err)
		}
	}
	return buf.Bytes()
}

// buckets parses a recorder's _bucket series of one histogram into le -> cumulative count.
func buckets(t *testing.T, r *recorder, name string) map[float64]float64 {
	t.Helper()
	out := map[float64]float64{}
	for _, s := range r.series(name + "_bucket") {
		i := strings.Index(s, `le="`)
		require.Positive(t, i, s)
		le, err := strconv.ParseFloat(s[i+4:i+4+strings.IndexByte(s[i+4:], '"')], 64)
		require.NoError(t, err, s)
		v, err := strconv.ParseFloat(s[strings.LastIndexByte(s, ' ')+1:], 64)
		require.NoError(t, err, s)
		_, twice := out[le]
		require.False(t, twice, "le %v twice", le)
		out[le] = v
	}
	return out
}

// valueOf is the value of the one series of that name.
func valueOf(t *testing.T, r *recorder, name string) float64 {
	t.Helper()
	series := r.series(name)
	require.Len(t, series, 1, name)
	v, err := strconv.ParseFloat(series[0][strings.LastIndexByte(series[0], ' ')+1:], 64)
	require.NoError(t, err)
	return v
}

// fromDTO is the integer native histogram of a gathered family, made by hand from its spans and deltas as
// Prometheus' own type: the reference the expansion is checked against, by another path than the parser's.
func fromDTO(f *dto.MetricFamily) *histogram.Histogram {
	d := f.GetMetric()[0].GetHistogram()
	spans := func(ss []*dto.BucketSpan) []histogram.Span {
		var out []histogram.Span
		for _, s := range ss {
			out = append(out, histogram.Span{Offset: s.GetOffset(), Length: s.GetLength()})
		}
		return out
	}
	return &histogram.Histogram{
		Schema: d.GetSchema(), ZeroThreshold: d.GetZeroThreshold(), ZeroCount: d.GetZeroCount(),
		Count: d.GetSampleCount(), Sum: d.GetSampleSum(),
		PositiveSpans: spans(d.GetPositiveSpan()), PositiveBuckets: slices.Clone(d.GetPositiveDelta()),
		NegativeSpans: spans(d.GetNegativeSpan()), NegativeBuckets: slices.Clone(d.GetNegativeDelta()),
	}
}

// checkAgainst requires the classic expansion got to be h's: an le at the upper bound of every populated
// bucket, each le's count that of the buckets up to it, as h's iterators give them, and each count that of
// the observations up to it (none lies on a bound).
func checkAgainst(t *testing.T, got map[float64]float64, h *histogram.Histogram, observed []float64) {
	t.Helper()
	type b struct{ upper, count float64 }
	var all []b
	for it := h.NegativeBucketIterator(); it.Next(); {
		all = append(all, b{it.At().Upper, float64(it.At().Count)})
	}
	all = append(all, b{h.ZeroThreshold, float64(h.ZeroCount)})
	for it := h.PositiveBucketIterator(); it.Next(); {
		all = append(all, b{it.At().Upper, float64(it.At().Count)})
	}
	for _, bucket := range all {
		if bucket.count > 0 {
			require.Contains(t, got, bucket.upper, "the upper bound of a populated bucket")
		}
	}
	require.Equal(t, float64(h.Count), got[math.Inf(1)], "+Inf holds the count")
	for le, count := range got {
		var want float64
		for _, bucket := range all {
			if bucket.upper <= le {
				want += bucket.count
			}
		}
		if math.IsInf(le, 1) {
			want = float64(h.Count)
		}
		require.Equal(t, want, count, "le %v by Prometheus' buckets", le)
		var n float64
		for _, v := range observed {
			if v <= le {
				n++
			}
		}
		require.Equal(t, n, count, "le %v by the observations", le)
	}
}

func nativeScraper(t *testing.T, addr string, change func(c *Config)) *Scraper {
	c := valid()
	c.ScrapeNativeHistograms = true
	if change != nil {
		change(c)
	}
	return newScraper(t, c, addr)
}

// A native histogram is written as the classic histogram it equals, computed here independently from
// Prometheus' own histogram type and from the observations; a gauge and a float histogram too.
func TestNativeHistogramsAsClassicSeries(t *testing.T) {
	addr, observed, families := nativeExporter(t)
	s := nativeScraper(t, addr, nil)
	require.True(t, strings.HasPrefix(s.header.Get("Accept"), "application/vnd.google.protobuf;"), "protobuf first")
	r := scrapeOnce(t, s)
	require.Equal(t, 1.0, valueOf(t, r, "up"), r.flushed)

	h := fromDTO(families["native_seconds"])
	require.NotEmpty(t, h.NegativeBuckets)
	require.NotZero(t, h.ZeroCount)
	got := buckets(t, r, "native_seconds")
	checkAgainst(t, got, h, observed)
	require.Greater(t, len(got), 20, "the native resolution, not a handful of classic buckets")
	require.Equal(t, float64(len(observed)), valueOf(t, r, "native_seconds_count"))
	var sum float64
	for _, v := range observed {
		sum += v
	}
	require.InDelta(t, sum, valueOf(t, r, "native_seconds_sum"), 1e-9)
	require.Equal(t, model.MetricTypeHistogram, r.types["native_seconds_bucket"])

	// Without always-scrape-classic-histograms a histogram with both is written from its native buckets.
	checkAgainst(t, buckets(t, r, "both_seconds"), fromDTO(families["both_seconds"]), observed)
	require.NotContains(t, buckets(t, r, "both_seconds"), 10.0, "a classic bound")

	gauge := buckets(t, r, "queue_size")
	checkAgainst(t, gauge, h, observed)
	require.Equal(t, model.MetricTypeGaugeHistogram, r.types["queue_size_bucket"])
	require.Equal(t, model.MetricTypeGaugeHistogram, r.types["queue_size_count"])

	require.Equal(t, map[float64]float64{-0.001: 0, 0.001: 0.5, 0.5: 0.5, 1: 2, 2: 2, 4: 4.5, math.Inf(1): 5}, buckets(t, r, "float_ratio"))
	require.Equal(t, 5.0, valueOf(t, r, "float_ratio_count"))
	require.Equal(t, 10.0, valueOf(t, r, "float_ratio_sum"))

	// A native histogram is one sample, as in Prometheus: 4 histograms, the classic parts of both_seconds
	// are not read.
	require.Equal(t, 4.0, valueOf(t, r, "scrape_samples_scraped"))
}

// Without scrape-native-histograms nothing changes: the classic buckets, and only _count and _sum of a
// native-only histogram.
func TestNativeHistogramsOffByDefault(t *testing.T) {
	addr, _, _ := nativeExporter(t)
	s := newScraper(t, valid(), addr)
	require.False(t, strings.HasPrefix(s.header.Get("Accept"), "application/vnd.google.protobuf;"))
	r := scrapeOnce(t, s)
	require.Len(t, buckets(t, r, "native_seconds"), 1, "+Inf only")
	require.ElementsMatch(t, []float64{-1, 0, 1, 10, math.Inf(1)}, slices.Collect(maps.Keys(buckets(t, r, "both_seconds"))))
}

// always-scrape-classic-histograms keeps the exposed classic buckets beside the native ones: both are exact
// cumulative counts, so together they are one finer classic histogram.
func TestAlwaysScrapeClassicHistograms(t *testing.T) {
	addr, observed, families := nativeExporter(t)
	r := scrapeOnce(t, nativeScraper(t, addr, func(c *Config) { c.AlwaysScrapeClassicHistograms = true }))
	got := map[float64]float64{}
	for _, s := range r.series("both_seconds_bucket") {
		i := strings.Index(s, `le="`)
		le, err := strconv.ParseFloat(s[i+4:i+4+strings.IndexByte(s[i+4:], '"')], 64)
		require.NoError(t, err)
		v, err := strconv.ParseFloat(s[strings.LastIndexByte(s, ' ')+1:], 64)
		require.NoError(t, err)
		if old, ok := got[le]; ok {
			require.Equal(t, old, v, "an le written by both agrees")
		}
		got[le] = v
	}
	for _, le := range []float64{-1, 0, 1, 10} {
		require.Contains(t, got, le, "the classic bound %v", le)
		n := 0.0
		for _, v := range observed {
			if v <= le {
				n++
			}
		}
		require.Equal(t, n, got[le], "le %v by the observations", le)
	}
	// Classic bounds inside a native bucket, which the native reference does not split (-1 and 1 are
	// native bounds too).
	delete(got, 0)
	delete(got, 10)
	checkAgainst(t, got, fromDTO(families["both_seconds"]), observed)
}

// native-histogram-bucket-limit and native-histogram-min-bucket-factor reduce the resolution as Prometheus
// does, and the scrape goes on.
func TestNativeHistogramResolutionLimits(t *testing.T) {
	addr, observed, families := nativeExporter(t)
	r := scrapeOnce(t, nativeScraper(t, addr, func(c *Config) { c.NativeHistogramBucketLimit = 8 }))
	require.Equal(t, 1.0, valueOf(t, r, "up"), r.flushed)
	h := fromDTO(families["native_seconds"])
	for len(h.PositiveBuckets)+len(h.NegativeBuckets) > 8 {
		require.NoError(t, h.ReduceResolution(h.Schema-1)) // what Prometheus' bucketLimitAppender does
	}
	checkAgainst(t, buckets(t, r, "native_seconds"), h, observed)

	r = scrapeOnce(t, nativeScraper(t, addr, func(c *Config) { c.NativeHistogramMinBucketFactor = 2 }))
	h = fromDTO(families["native_seconds"])
	require.NoError(t, h.ReduceResolution(0)) // a factor of 2 is schema 0
	got := buckets(t, r, "native_seconds")
	checkAgainst(t, got, h, observed)
	for le := range got {
		if math.Abs(le) > h.ZeroThreshold && !math.IsInf(le, 0) {
			_, exp := math.Frexp(math.Abs(le))
			require.Equal(t, math.Abs(le), math.Ldexp(0.5, exp), "le %v is a power of two at schema 0", le)
		}
	}
}

// Prometheus' pickSchema, for the factors its documentation names.
func TestPickSchema(t *testing.T) {
	for factor, schema := range map[float64]int32{0: 8, 1: 8, 1.00271: 8, 1.1: 2, 2: 0, 4: -1, 65536: -4, 1e300: -4} {
		require.Equal(t, schema, pickSchema(factor), "factor %v", factor)
	}
}

// A histogram of custom buckets (NHCB, schema -53) is written with every bound, as the classic histogram it
// came from had them; one over the bucket limit cannot be reduced and fails, as in Prometheus.
func TestCustomBucketsAsClassic(t *testing.T) {
	fh := &histogram.FloatHistogram{
		Schema: histogram.CustomBucketsSchema, Count: 6, Sum: 9, CustomValues: []float64{0.1, 0.5, 1, 5},
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 1}, {Offset: 2, Length: 2}},
		PositiveBuckets: []float64{1, 3, 2}, // (-Inf,0.1] 1, (1,5] 3, (5,+Inf] 2
	}
	require.NoError(t, fh.Validate())
	require.Equal(t, []bound{{0.1, 1}, {0.5, 1}, {1, 1}, {5, 4}, {math.Inf(1), 6}}, classicBuckets(fh, nil))
	require.ErrorContains(t, nativeOptions{bucketLimit: 2, maxSchema: 8}.limitResolution(fh), "histogram bucket limit of 2 exceeded")
	require.NoError(t, nativeOptions{bucketLimit: 3, maxSchema: 8}.limitResolution(fh))
}

// BenchmarkParseNative parses nativeFamilies' protobuf body with native histograms: what the classic
// expansion costs beyond the parser's own allocations (it makes each histogram's spans and buckets).
func BenchmarkParseNative(b *testing.B) {
	body := nativeProtobufBody()
	c := valid()
	c.ScrapeNativeHistograms = true
	if err := c.Init(); err != nil {
		b.Fatal(err)
	}
	s, err := New(c, nil, discard)
	if err != nil {
		b.Fatal(err)
	}
	s.Sync([]*targetgroup.Group{{Source: "b", Targets: []model.LabelSet{{model.AddressLabel: "node:9100"}}}})
	t := s.Targets()[0]
	w := workers.Get().(*worker)
	w.body = body
	sink := &countSink{}
	b.ReportAllocs()
	for b.Loop() {
		sink.n = 0
		if _, _, err := w.parse(s, t, protobufContentType, 0, sink); err != nil {
			b.Fatal(err)
		}
	}
	reportPerSample(b, sink.n)
}
