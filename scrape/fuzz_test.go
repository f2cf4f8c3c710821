package scrape

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
)

// The fuzz bodies' encodings: as they are, gzip-compressed (the parse sees the fuzzed text), or labelled
// gzip without being compressed (the gzip reader sees the fuzzed bytes).
const (
	fuzzPlain uint8 = iota
	fuzzGzip
	fuzzFakeGzip
)

// Bits of the fuzzed encoding byte above its first two: the scraper scrapes native histograms, with a
// bucket limit.
const (
	fuzzNative      uint8 = 4
	fuzzBucketLimit uint8 = 8
)

const protobufContentType = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"

// fuzzBodyLimit is the body-size-limit of the fuzzed scrapes, and fuzzAllocLimit what one scrape of a
// small body may allocate in all: a body that makes the scraper allocate beyond its limit is a bug.
const (
	fuzzBodyLimit  = 1 << 20
	fuzzAllocLimit = 64 << 20
)

// bodyTransport answers every request with one body, without a socket, so that the fuzzer runs the
// scraper's real fetch (gzip, body-size-limit) and parse thousands of times a second.
type bodyTransport struct {
	body                  []byte
	contentType, encoding string
}

func (b *bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h := http.Header{}
	if b.contentType != "" {
		h.Set("Content-Type", b.contentType)
	}
	if b.encoding != "" {
		h.Set("Content-Encoding", b.encoding)
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(b.body)), ContentLength: int64(len(b.body)), Request: r,
	}, nil
}

// fuzzSink checks the Sink contract as it goes: every sample carries the target's labels, and there is one
// Flush per scrape. It keeps counts and the last samples only, so that its own allocations stay small.
type fuzzSink struct {
	t                *testing.T
	pending, flushed int
	last             []Sample // the last samples added: the synthetic series end every scrape
	lastFlushed      []Sample
	flushes          int
}

func (k *fuzzSink) Add(_ *Scraper, _ *Target, s *Sample) error {
	if s.Labels.Get("job") != "node" || s.Labels.Get("instance") != "fuzz:9100" {
		k.t.Errorf("sample %s lost the target's labels", s.Labels)
	}
	k.pending++
	c := *s
	c.Labels = nil // labels are only valid during Add
	for _, l := range s.Labels {
		c.Labels = append(c.Labels, labels.Label{Name: strings.Clone(l.Name), Value: strings.Clone(l.Value)})
	}
	if k.last = append(k.last, c); len(k.last) > len(syntheticNames) {
		k.last = k.last[1:]
	}
	return nil
}
func (k *fuzzSink) Drop() { k.pending, k.last = 0, nil }
func (k *fuzzSink) Flush() {
	k.flushes++
	k.flushed += k.pending
	k.lastFlushed = k.last
	k.pending, k.last = 0, nil
}

var syntheticNames = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling"}

// FuzzScrape feeds one body, in any of the exposition formats, through a scrape: fetch (gzip,
// body-size-limit), parse, the target's labels. Nothing may panic, a failed scrape delivers only its
// synthetic series with up 0, a good one delivers what it counted, and a small body cannot make the
// scraper allocate without bound.
func FuzzScrape(f *testing.F) {
	for _, seed := range []struct {
		body        string
		contentType string
	}{
		{textBody, "text/plain; version=0.0.4; charset=utf-8"},
		{"# TYPE requests counter\nrequests_total{path=\"/\"} 5 1700000000.5\nrequests_created{path=\"/\"} 1600000000\n# EOF\n", "application/openmetrics-text; version=1.0.0; charset=utf-8"},
		{"{\"my.dotted.metric\",code=\"200\"} 1\n", "text/plain; version=1.0.0; escaping=allow-utf-8"},
	} {
		f.Add([]byte(seed.body), seed.contentType, fuzzPlain)
		f.Add([]byte(seed.body), seed.contentType, fuzzGzip)
	}
	// Native histograms (negative, zero and positive buckets; a gauge, a float one, one with classic
	// buckets too), scraped with native histograms, with a bucket limit, and without.
	native := nativeProtobufBody()
	for _, encoding := range []uint8{fuzzPlain, fuzzPlain | fuzzNative, fuzzGzip | fuzzNative | fuzzBucketLimit} {
		f.Add(native, protobufContentType, encoding)
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType string, encoding uint8) {
		rt := &bodyTransport{body: body, contentType: contentType}
		switch (encoding & 3) % 3 { // the two low bits; fuzzNative and fuzzBucketLimit are above
		case fuzzGzip:
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(body)
			_ = zw.Close()
			rt.body, rt.encoding = buf.Bytes(), "gzip"
		case fuzzFakeGzip:
			rt.encoding = "gzip"
		}
		c := valid()
		c.BodySizeLimit = config.Size(fuzzBodyLimit)
		c.ScrapeNativeHistograms = encoding&fuzzNative != 0
		if encoding&fuzzBucketLimit != 0 {
			c.NativeHistogramBucketLimit = 4
		}
		if err := c.Init(); err != nil {
			t.Fatal(err)
		}
		s, err := New(c, nil, discard)
		if err != nil {
			t.Fatal(err)
		}
		s.client = &http.Client{Transport: rt}
		s.Sync([]*targetgroup.Group{{Source: "fuzz", Targets: []model.LabelSet{{model.AddressLabel: "fuzz:9100"}}}})
		sink := &fuzzSink{t: t}

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		Run(context.Background(), []*Scraper{s}, time.Now(), 1, func() Sink { return sink })
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > fuzzAllocLimit {
			t.Fatalf("a %d-byte body made the scrape allocate %d MiB", len(rt.body), alloc>>20)
		}

		if sink.flushes != 1 {
			t.Fatalf("%d flushes for one scrape", sink.flushes)
		}
		health := s.Targets()[0].Health()
		if sink.flushed < len(syntheticNames) {
			t.Fatalf("synthetic series missing: %d samples", sink.flushed)
		}
		kept := sink.flushed - len(syntheticNames)
		synthetic := map[string]float64{}
		for _, sample := range sink.lastFlushed {
			synthetic[sample.Labels.Get(model.MetricNameLabel)] = sample.Value
		}
		for _, name := range syntheticNames {
			if _, ok := synthetic[name]; !ok {
				t.Fatalf("synthetic series %s missing: %v", name, synthetic)
			}
		}
		if health.LastError != "" {
			if synthetic["up"] != 0 || kept != 0 {
				t.Fatalf("failed scrape (%s) delivered up=%v and %d samples", health.LastError, synthetic["up"], kept)
			}
			if synthetic["scrape_samples_post_metric_relabeling"] > synthetic["scrape_samples_scraped"] {
				t.Fatalf("failed scrape (%s) counted %v", health.LastError, synthetic)
			}
			return
		}
		if synthetic["up"] != 1 {
			t.Fatalf("good scrape delivered up=%v", synthetic["up"])
		}
		// A native histogram is one sample counted, and at least its +Inf bucket, _count and _sum delivered.
		if (float64(kept) != synthetic["scrape_samples_post_metric_relabeling"] && !c.ScrapeNativeHistograms) ||
			float64(kept) < synthetic["scrape_samples_post_metric_relabeling"] || synthetic["scrape_samples_post_metric_relabeling"] > synthetic["scrape_samples_scraped"] {
			t.Fatalf("delivered %d samples, counted %v", kept, synthetic)
		}
	})
}

// FuzzSync hands a scraper a discovered group of any labels, as a discoverer may (a file SD's file, a
// ZooKeeper member, an API's answer): every target is built or refused with an error, none panics, and
// a built one has its URL and instance. The discovery package's fuzz targets check what its providers
// hand over; this one, that whatever they hand over cannot break a scraper.
func FuzzSync(f *testing.F) {
	f.Add([]byte(`[{"__address__":"10.0.0.1:9100"},{"__address__":"node-b:9100"}]`), []byte(`{"team":"web","env":"prod"}`))
	f.Add([]byte(`[{"__address__":"db-1:9104","__meta_filepath":"/etc/targets.yml"}]`), []byte(`{"team":"db"}`))
	f.Add([]byte(`[{"__address__":"[::1]:80","__meta_nerve_path":"/services/web","__meta_nerve_endpoint_name":"web-1"}]`), []byte(`{}`))
	f.Add([]byte(`[{"__address__":"10.0.0.2:9100","__meta_serverset_shard":"3","__meta_serverset_status":"ALIVE"}]`), []byte(`{"__scheme__":"https"}`))
	f.Add([]byte(`[{"__address__":""},{"x":"y"}]`), []byte(`{"__metrics_path__":"%zz"}`))
	f.Fuzz(func(t *testing.T, targetsJSON, labelsJSON []byte) {
		var targets []map[string]string
		var labels map[string]string
		if json.Unmarshal(targetsJSON, &targets) != nil || json.Unmarshal(labelsJSON, &labels) != nil {
			return
		}
		g := &targetgroup.Group{Source: "fuzz", Labels: model.LabelSet{}}
		for name, value := range labels {
			g.Labels[model.LabelName(name)] = model.LabelValue(value)
		}
		for _, target := range targets {
			ls := model.LabelSet{}
			for name, value := range target {
				ls[model.LabelName(name)] = model.LabelValue(value)
			}
			g.Targets = append(g.Targets, ls)
		}
		c := &Config{Name: "fuzz"}
		if err := c.Init(); err != nil {
			t.Fatal(err)
		}
		s, err := New(c, nil, discard)
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range s.Sync([]*targetgroup.Group{g}) {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
		}
		for _, target := range s.Targets() {
			if target.URL == "" || target.Instance() == "" {
				t.Fatalf("target %+v built without URL or instance", target)
			}
		}
	})
}
