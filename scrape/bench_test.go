package scrape

import (
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

// The benchmarks parse a real node_exporter body (507 samples). ns/sample is the figure to compare: the bare
// textparse loop is the floor any scraper built on it pays.

func nodeExporterBody(b *testing.B) []byte {
	body, err := os.ReadFile("testdata/node_exporter.prom")
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func reportPerSample(b *testing.B, samples int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*samples), "ns/sample")
}

// BenchmarkTextparse is the bare model/textparse parse of the body: every entry, and the labels of every
// series.
func BenchmarkTextparse(b *testing.B) {
	body := nodeExporterBody(b)
	st := labels.NewSymbolTable()
	var lset labels.Labels
	samples := 0
	b.ReportAllocs()
	for b.Loop() {
		samples = 0
		p, _ := textparse.New(body, "text/plain; version=0.0.4", st, textparse.ParserOptions{})
		for {
			e, err := p.Next()
			if err == io.EOF {
				break
			}
			if e == textparse.EntrySeries {
				p.Series()
				p.Labels(&lset)
				samples++
			}
		}
	}
	reportPerSample(b, samples)
}

type countSink struct{ n int }

func (c *countSink) Add(*Scraper, *Target, *Sample) error { c.n++; return nil }
func (c *countSink) Drop()                                {}
func (c *countSink) Flush()                               {}

// BenchmarkParse is the scraper's own parse: textparse plus the target's labels on every sample.
func BenchmarkParse(b *testing.B) {
	body := nodeExporterBody(b)
	c := valid()
	if err := c.Init(); err != nil {
		b.Fatal(err)
	}
	s, err := New(c, nil, discard)
	if err != nil {
		b.Fatal(err)
	}
	s.Sync([]*targetgroup.Group{{Source: "b", Labels: model.LabelSet{"env": "bench"}, Targets: []model.LabelSet{{model.AddressLabel: "node:9100"}}}})
	t := s.Targets()[0]
	w := workers.Get().(*worker)
	w.body = body
	sink := &countSink{}
	b.ReportAllocs()
	for b.Loop() {
		sink.n = 0
		if _, _, err := w.parse(s, t, "text/plain; version=0.0.4", 0, sink); err != nil {
			b.Fatal(err)
		}
	}
	reportPerSample(b, sink.n)
}

// BenchmarkSeriesSet measures what series-limit holds per tracked series: a target's set of 1M
// series, heap bytes per series (the README states it).
func BenchmarkSeriesSet(b *testing.B) {
	const n = 1 << 20
	var sets []*seriesSet
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		set := &seriesSet{}
		for i := range uint64(n) {
			set.admit(i*0x9e3779b97f4a7c15, n)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		sets = append(sets[:0], set) // kept alive through the second reading
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/series")
	}
	runtime.KeepAlive(sets)
}

// BenchmarkParseSeriesLimit is BenchmarkParse with series-limit on, every series known: the cost of the
// hash and the look-up per sample.
func BenchmarkParseSeriesLimit(b *testing.B) {
	body := nodeExporterBody(b)
	c := valid()
	c.SeriesLimit = 1 << 20
	if err := c.Init(); err != nil {
		b.Fatal(err)
	}
	s, err := New(c, nil, discard)
	if err != nil {
		b.Fatal(err)
	}
	s.Sync([]*targetgroup.Group{{Source: "b", Labels: model.LabelSet{"env": "bench"}, Targets: []model.LabelSet{{model.AddressLabel: "node:9100"}}}})
	t := s.Targets()[0]
	w := workers.Get().(*worker)
	w.body = body
	sink := &countSink{}
	b.ReportAllocs()
	for b.Loop() {
		sink.n = 0
		if _, _, err := w.parse(s, t, "text/plain; version=0.0.4", 0, sink); err != nil {
			b.Fatal(err)
		}
	}
	reportPerSample(b, sink.n)
}
