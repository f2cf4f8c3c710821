package scrape

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// hostileLabel is a label value longer than Prometheus' labels can encode (16 MiB): before the bound, one
// valid line with it panicked the process.
var hostileLabel = strings.Repeat("a", 17<<20)

const boundText = "over the bound of 1048576 bytes on a label name or value"

// protobufBody is one delimited MetricFamily, gauge m with one sample labelled l=value.
func protobufBody(t testing.TB, value string) []byte {
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	require.NoError(t, enc.Encode(&dto.MetricFamily{
		Name: proto.String("m"), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Label: []*dto.LabelPair{{Name: proto.String("l"), Value: proto.String(value)}}, Gauge: &dto.Gauge{Value: proto.Float64(1)}}},
	}))
	return buf.Bytes()
}

const protobufType = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"

// A target that serves a label over the bound, in any format and by any path through the parse, fails its
// own scrape (up 0, an error naming the bound and the line) and nothing else: the healthy target of the
// same Run is scraped.
func TestLabelOverTheBoundFailsOnlyItsScrape(t *testing.T) {
	prefix := "ok_before 1\n"
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		metricRelabel     []*Relabel
		where             string // what the error says of where
	}{
		{"text", "text/plain; version=0.0.4", []byte(prefix + `m{instance="` + hostileLabel + `"} 1` + "\n"), nil, "line at byte offset 12: "},
		{"text, label name", "text/plain; version=0.0.4", []byte(prefix + `m{` + hostileLabel + `="x"} 1` + "\n"), nil, "line at byte offset 12: "},
		{"text, metric name", "text/plain; version=0.0.4", []byte(prefix + hostileLabel + " 1\n"), nil, "line at byte offset 12: "},
		{"text, metric relabeling", "text/plain; version=0.0.4", []byte(prefix + `m{l="` + hostileLabel + `"} 1` + "\n"), dropSecret, "line at byte offset 12: "},
		{"text, grown by metric relabeling", "text/plain; version=0.0.4", []byte(prefix + `m{l="` + hostileLabel[:MaxLabelBytes] + `"} 1` + "\n"), doubleL, "line at byte offset 12: "},
		{"textparse", "text/plain; version=1.0.0; escaping=allow-utf-8", []byte(prefix + `{"quoted.name"} 1` + "\n" + `m{l="` + hostileLabel + `"} 1` + "\n"), nil, "line at byte offset 30: "},
		{"textparse, quoted label name", "text/plain; version=1.0.0; escaping=allow-utf-8", []byte(prefix + `m{"` + hostileLabel + `"="x"} 1` + "\n"), nil, "line at byte offset 12: "},
		{"textparse, 2 MiB", "text/plain; version=1.0.0; escaping=allow-utf-8", []byte(prefix + `{"quoted.name"} 1` + "\n" + `m{l="` + hostileLabel[:2<<20] + `"} 1` + "\n"), nil, "line at byte offset 30: "},
		{"OpenMetrics", openMetricsType, []byte(prefix + `m{instance="` + hostileLabel + `"} 1` + "\n# EOF\n"), nil, "line at byte offset 12: "},
		{"OpenMetrics, metric relabeling", openMetricsType, []byte(prefix + `m{l="` + hostileLabel + `"} 1` + "\n# EOF\n"), dropSecret, "line at byte offset 12: "},
		{"protobuf", protobufType, protobufBody(t, hostileLabel), nil, "metric family at byte offset 0: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostile, _ := serve(t, tc.contentType, tc.body, false)
			healthy, _ := serve(t, "text/plain; version=0.0.4", []byte("ok 1\n"), false)
			c := valid()
			c.MetricRelabelConfigs = tc.metricRelabel
			hostileAddr, healthyAddr := strings.TrimPrefix(hostile.URL, "http://"), strings.TrimPrefix(healthy.URL, "http://")
			s := newScraper(t, c, hostileAddr, healthyAddr)
			r := scrapeOnce(t, s)

			require.Equal(t, []string{
				`{__name__="up", env="test", instance="` + healthyAddr + `", job="node"} 1`,
				`{__name__="up", env="test", instance="` + hostileAddr + `", job="node"} 0`,
			}, sortedByAddr(r.series("up"), healthyAddr))
			require.Equal(t, []string{`{__name__="ok", env="test", instance="` + healthyAddr + `", job="node"} 1`}, r.series("ok"))
			require.Empty(t, r.series("ok_before"), "the failed scrape keeps nothing")
			for _, target := range s.Targets() {
				if target.Instance() != hostileAddr {
					require.Empty(t, target.Health().LastError)
					continue
				}
				lastError := target.Health().LastError
				require.Contains(t, lastError, tc.where)
				require.Contains(t, lastError, boundText)
				require.NotContains(t, lastError, "panic")
				require.LessOrEqual(t, len(lastError), MaxErrorLen+len("... (12345678 bytes)"))
			}
			require.Equal(t, uint64(1), s.Stats().Errors.Load())
		})
	}
}

// The metric relabeling of TestLabelOverTheBoundFailsOnlyItsScrape: one that makes the labels be encoded,
// and one that makes a value twice as long.
var (
	dropSecret = []*Relabel{{Regex: ptr("secret"), Action: "labeldrop"}}
	doubleL    = []*Relabel{{SourceLabels: []string{"l"}, TargetLabel: "copy", Replacement: ptr("$1$1")}}
)

// sortedByAddr orders the up series of the healthy target first.
func sortedByAddr(series []string, first string) []string {
	var a, b []string
	for _, s := range series {
		if strings.Contains(s, `instance="`+first+`"`) {
			a = append(a, s)
		} else {
			b = append(b, s)
		}
	}
	return append(a, b...)
}

// panicSink panics in Add for the samples of one metric, as a sink with a bug would: the backstop behind
// the bounds.
type panicSink struct {
	recorderSink
	drops atomic.Int32
}

func (k *panicSink) Add(s *Scraper, t *Target, sample *Sample) error {
	if sample.Labels.Get(model.MetricNameLabel) == "boom" {
		panic("String too long to encode as label.")
	}
	return k.recorderSink.Add(s, t, sample)
}

func (k *panicSink) Drop() { k.drops.Add(1); k.recorderSink.Drop() }

// A panic during a target's parse becomes that target's error: up 0, counted, logged once, what the sink
// took dropped, and the slot given back, so that the next scrapes run (a Run that lost its slot would hang).
func TestPanicFailsOnlyItsScrape(t *testing.T) {
	hostile, _ := serve(t, "text/plain", []byte("before 1\nboom 1\n"), false)
	s, logs := loggedScraper(t, valid(), strings.TrimPrefix(hostile.URL, "http://"))
	r := &recorder{}
	sink := &panicSink{recorderSink: recorderSink{r: r}}
	for i := range 3 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			Run(context.Background(), []*Scraper{s}, time.Now().Add(time.Duration(i)*time.Hour), 1, func() Sink { return sink })
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("scrape %d never ended", i)
		}
	}
	h := s.Targets()[0].Health()
	require.False(t, h.Up)
	require.Equal(t, "panic while parsing: String too long to encode as label.", h.LastError)
	require.Equal(t, uint64(3), s.Stats().Errors.Load())
	require.Equal(t, int32(3), sink.drops.Load(), "what the sink took of each failed scrape is dropped")
	require.Empty(t, r.series("before"))
	require.Len(t, r.series("up"), 3)
	require.Equal(t, 1, strings.Count(logs.String(), "scrape failed"), "logged once: %s", logs)
}

// A discovered target with a label over the bound, or one that target relabeling makes too long, is left
// out with an error naming its group, its index and the bound; the others of the group are kept.
func TestDiscoveredLabelOverTheBound(t *testing.T) {
	for _, tc := range []struct {
		name        string
		group       model.LabelSet
		target      model.LabelSet
		replacement string
		want        string
	}{
		{"17 MiB", nil, model.LabelSet{"big": model.LabelValue(hostileLabel)}, "", `the value of label "big" is 17825792 bytes, ` + boundText},
		{"17 MiB name", nil, model.LabelSet{model.LabelName(hostileLabel): "x"}, "", "label name \"" + hostileLabel[:100] + "\"... (17825792 bytes) is 17825792 bytes, " + boundText},
		{"17 MiB group label", model.LabelSet{"big": model.LabelValue(hostileLabel)}, nil, "", `the value of group label "big" is 17825792 bytes, ` + boundText},
		{"9 MiB doubled", nil, model.LabelSet{"big": model.LabelValue(hostileLabel[:9<<20])}, "$1$1", `the value of label "big" is 9437184 bytes, ` + boundText},
		{"1 MiB doubled", nil, model.LabelSet{"big": model.LabelValue(hostileLabel[:MaxLabelBytes])}, "$1$1", `after relabeling: the value of label "copy" is 2097152 bytes, ` + boundText},
		// 16 MiB exactly does not panic the encoding but encodes the value's size as 0: checked after
		// PopulateLabels encoded it, the bound saw labels read from the value's bytes.
		{"1 MiB times 16", nil, model.LabelSet{"big": model.LabelValue(forgingValue(t))}, strings.Repeat("$1", 16), `after relabeling: the value of label "copy" is 16777216 bytes, ` + boundText},
		// No bound on the discovered labels foresees this: the bound on the builder, before the encoding
		// would panic, catches it.
		{"1 MiB times 17", nil, model.LabelSet{"big": model.LabelValue(hostileLabel[:MaxLabelBytes])}, strings.Repeat("$1", 17), `after relabeling: the value of label "copy" is 17825792 bytes, ` + boundText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			if tc.replacement != "" {
				c.RelabelConfigs = []*Relabel{{SourceLabels: []string{"big"}, TargetLabel: "copy", Replacement: ptr(tc.replacement)}}
			}
			require.NoError(t, c.Init())
			s, err := New(c, nil, discard)
			require.NoError(t, err)
			hostile := model.LabelSet{model.AddressLabel: "hostile:9100"}
			for name, value := range tc.target {
				hostile[name] = value
			}
			errs := s.Sync([]*targetgroup.Group{
				{Source: "fine", Targets: []model.LabelSet{{model.AddressLabel: "a:9100"}}},
				{Source: "mixed", Labels: tc.group, Targets: []model.LabelSet{{model.AddressLabel: "b:9100"}, hostile, {model.AddressLabel: "c:9100"}}},
			})
			require.Len(t, errs, map[bool]int{true: 3, false: 1}[tc.group != nil], "one error per target over the bound")
			msg := errs[0].Error()
			if tc.group == nil {
				require.True(t, strings.HasPrefix(msg, `scraper "node": target 1 of group "mixed" (`), msg)
			}
			require.True(t, strings.HasSuffix(msg, tc.want), msg)
			require.Less(t, len(msg), 2000, "the error quotes the labels short")
			var kept []string
			for _, target := range s.Targets() {
				kept = append(kept, target.Instance())
			}
			if tc.group != nil {
				require.Equal(t, []string{"a:9100"}, kept)
			} else {
				require.Equal(t, []string{"a:9100", "b:9100", "c:9100"}, kept)
			}
		})
	}
}

// A label of MaxLabelBytes exactly is delivered, whichever reader takes it.
func TestLabelAtTheBoundIsDelivered(t *testing.T) {
	value := hostileLabel[:MaxLabelBytes]
	for _, tc := range []struct{ name, contentType, body string }{
		{"text", "text/plain; version=0.0.4", `m{l="` + value + `"} 1` + "\n"},
		{"textparse", "text/plain; version=1.0.0; escaping=allow-utf-8", `{"quoted.name"} 1` + "\n" + `m{l="` + value + `"} 1` + "\n"},
		{"OpenMetrics", openMetricsType, `m{l="` + value + `"} 1` + "\n# EOF\n"},
		{"protobuf", protobufType, string(protobufBody(t, value))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, tc.contentType, []byte(tc.body), false)
			s := newScraper(t, valid(), strings.TrimPrefix(srv.URL, "http://"))
			r := scrapeOnce(t, s)
			require.Empty(t, s.Targets()[0].Health().LastError)
			require.Len(t, r.series("m"), 1)
			require.Contains(t, r.series("m")[0], `l="`+value[:100])
		})
	}
}

// FuzzLabelBound: a target serving one valid series with a name or value of any size up to 20 MiB, in any
// of the shapes that take a different path through the parse, never panics: over the bound its scrape
// fails with an error naming the bound, at or under it the sample is delivered.
func FuzzLabelBound(f *testing.F) {
	for _, size := range []uint32{0, 100, MaxLabelBytes, MaxLabelBytes + 1, 17 << 20} {
		for shape := range uint8(shapes) {
			f.Add(size, shape)
		}
	}
	f.Fuzz(func(t *testing.T, size uint32, shape uint8) {
		size %= 20<<20 + 1
		big := strings.Repeat("a", int(size))
		body, contentType, metricRelabel := labelShape(t, shape%shapes, big)
		c := valid()
		if metricRelabel {
			c.MetricRelabelConfigs = []*Relabel{{SourceLabels: []string{"l"}, TargetLabel: "copy"}}
		}
		if err := c.Init(); err != nil {
			t.Fatal(err)
		}
		s, err := New(c, nil, discard)
		if err != nil {
			t.Fatal(err)
		}
		s.client = &http.Client{Transport: &bodyTransport{body: body, contentType: contentType}}
		s.Sync([]*targetgroup.Group{{Source: "fuzz", Targets: []model.LabelSet{{model.AddressLabel: "fuzz:9100"}}}})
		sink := &fuzzSink{t: t}
		Run(context.Background(), []*Scraper{s}, time.Now(), 1, func() Sink { return sink })
		lastError := s.Targets()[0].Health().LastError
		if size > MaxLabelBytes {
			if !strings.Contains(lastError, fmt.Sprintf("over the bound of %d bytes", MaxLabelBytes)) || sink.flushed != len(syntheticNames) {
				t.Fatalf("shape %d, %d bytes: %d samples delivered, error %q does not name the bound", shape%shapes, size, sink.flushed, lastError)
			}
			return
		}
		if lastError != "" || sink.flushed != 1+len(syntheticNames) {
			t.Fatalf("shape %d, %d bytes: %d samples delivered, error %q", shape%shapes, size, sink.flushed, lastError)
		}
	})
}

// The shapes of FuzzLabelBound's series: each takes its own path through the parse.
const (
	shapeValue         = iota // the fast text reader, merged without encoding
	shapeInstance             // the fast reader, a value the target's instance displaces (withTarget)
	shapeName                 // a long label name
	shapeMetricName           // a long metric name
	shapeQuoted               // a line with a quoted name: textparse reads the body
	shapeOpenMetrics          // OpenMetrics, by seriesLabels
	shapeMetricRelabel        // metric relabeling: the labels encoded for relabel
	shapeProtobuf             // protobuf: the parser encodes in Next
	shapes
)

// labelShape writes a valid body of one series with big in the place the shape says.
func labelShape(t testing.TB, shape uint8, big string) (body []byte, contentType string, metricRelabel bool) {
	text := "text/plain; version=0.0.4"
	name := big // a name of size bytes, "l" for none
	if name == "" {
		name = "l"
	}
	switch shape {
	case shapeValue:
		return []byte(`m{l="` + big + `"} 1` + "\n"), text, false
	case shapeInstance:
		return []byte(`m{instance="` + big + `"} 1` + "\n"), text, false
	case shapeName:
		return []byte(`m{` + name + `="x"} 1` + "\n"), text, false
	case shapeMetricName:
		return []byte(name + ` 1` + "\n"), text, false
	case shapeQuoted:
		return []byte(`{"m.x",l="` + big + `"} 1` + "\n"), "text/plain; version=1.0.0; escaping=allow-utf-8", false
	case shapeOpenMetrics:
		return []byte(`m{l="` + big + `"} 1` + "\n# EOF\n"), openMetricsType, false
	case shapeMetricRelabel:
		return []byte(`m{l="` + big + `"} 1` + "\n"), text, true
	case shapeProtobuf:
		return protobufBody(t, big), protobufType, false
	}
	return []byte(`m{l="` + big + `"} 1` + "\n"), text, false
}

// BenchmarkHostileLabel scrapes the 17 MiB hostile body, a line with a label over the bound: the scrape
// fails, and what it allocates and the heap's peak are reported.
func BenchmarkHostileLabel(b *testing.B) {
	body := []byte(`m{instance="` + hostileLabel + `"} 1` + "\n")
	c := valid()
	if err := c.Init(); err != nil {
		b.Fatal(err)
	}
	s, err := New(c, nil, discard)
	if err != nil {
		b.Fatal(err)
	}
	s.client = &http.Client{Transport: &bodyTransport{body: body, contentType: "text/plain; version=0.0.4"}}
	s.Sync([]*targetgroup.Group{{Source: "bench", Targets: []model.LabelSet{{model.AddressLabel: "hostile:9100"}}}})
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	peak := peakHeap()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		Run(context.Background(), []*Scraper{s}, time.Now().Add(time.Duration(i)*time.Hour), 1, func() Sink { return &countSink{} })
		if !strings.Contains(s.Targets()[0].Health().LastError, boundText) {
			b.Fatal(s.Targets()[0].Health().LastError)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peak()-base.HeapAlloc)/(1<<20), "peak-heap-MiB")
}

// peakHeap samples the heap every millisecond until the returned function is called, which returns the
// highest HeapAlloc seen.
func peakHeap() func() uint64 {
	var highest atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			highest.Store(max(highest.Load(), m.HeapAlloc))
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(stop); <-done; return highest.Load() }
}
