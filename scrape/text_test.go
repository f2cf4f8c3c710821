package scrape

import (
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/stretchr/testify/require"
)

// recordingSink writes down every sample it is given, whole.
type recordingSink struct{ samples []string }

func (r *recordingSink) Add(_ *Scraper, _ *Target, s *Sample) error {
	r.samples = append(r.samples, fmt.Sprintf("%s %x %d %s %q", s.Labels, math.Float64bits(s.Value), s.Timestamp, s.Type, s.Family))
	return nil
}
func (r *recordingSink) Drop()  { r.samples = nil }
func (r *recordingSink) Flush() {}

// readBoth reads a text-format body with text.go's reader and with textparse's PromParser, through the
// same scraper and target. ok is false when the reader left the body to textparse.
func readBoth(t testing.TB, cfg *Config, body []byte) (fast, ref []string, fastErr, refErr error, ok bool) {
	if cfg == nil {
		cfg = valid()
	}
	if err := cfg.Init(); err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, nil, discard)
	if err != nil {
		t.Fatal(err)
	}
	s.Sync([]*targetgroup.Group{{Source: "test", Targets: []model.LabelSet{{model.AddressLabel: "host:9100", "zone": "a"}}}})
	target := s.Targets()[0]
	w := newWorker()
	w.body = body

	var a, b recordingSink
	scraped, kept, ok, fastErr := w.parseText(s, target, 1234, &a)
	if ok {
		a.samples = append(a.samples, fmt.Sprint("counts ", scraped, kept))
	}
	// The reference reads labels by textparse's own Labels(), not seriesLabels: a bug the two readers
	// shared would not show otherwise.
	w.parserLabels = true
	scraped, kept, refErr = w.parseEntries(textparse.NewPromParser(body, w.symbols, false), s, target, "text/plain", 1234, &b)
	b.samples = append(b.samples, fmt.Sprint("counts ", scraped, kept))
	return a.samples, b.samples, fastErr, refErr, ok
}

const openMetricsType = "application/openmetrics-text; version=1.0.0"

// readOpenMetricsBoth reads an OpenMetrics body as a scrape does (labels by seriesLabels where it can)
// and with every label read by the OpenMetricsParser's own Labels(), through the same scraper and target.
func readOpenMetricsBoth(t testing.TB, body []byte) (fast, ref []string, fastErr, refErr error) {
	cfg := valid()
	if err := cfg.Init(); err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, nil, discard)
	if err != nil {
		t.Fatal(err)
	}
	s.Sync([]*targetgroup.Group{{Source: "test", Targets: []model.LabelSet{{model.AddressLabel: "host:9100", "zone": "a"}}}})
	target := s.Targets()[0]
	read := func(parserLabels bool) ([]string, error) {
		w := newWorker()
		w.body, w.parserLabels = body, parserLabels
		p, err := textparse.New(body, openMetricsType, w.symbols, parserOptions)
		if err != nil {
			t.Fatal(err)
		}
		if _, om := p.(*textparse.OpenMetricsParser); !om {
			t.Fatalf("%T, not the OpenMetrics parser", p)
		}
		var sink recordingSink
		scraped, kept, err := w.parseEntries(p, s, target, openMetricsType, 1234, &sink)
		return append(sink.samples, fmt.Sprint("counts ", scraped, kept)), err
	}
	fast, fastErr = read(false)
	ref, refErr = read(true)
	return fast, ref, fastErr, refErr
}

const openMetricsEdges = `# HELP esc Escapes and order.
# TYPE esc gauge
esc{path="C:\\dir\\",quote="say \"hi\"",nl="a\nb",other="a\qb",empty="",z="1",a="2"} 1
esc{a="1",} 2
# TYPE c counter
c_total{a="1",b="x\"y"} 1 # {trace="t"} 1 1.5
c_created{a="1",b="x\"y"} 1
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="1e3"} 2
h_bucket{le="0.25"} 3
h_bucket{le="+Inf"} 3
h_count 3
h_sum 1
# TYPE s summary
s{quantile="0"} 1
s{quantile="1"} 1
s_count 2
s_sum 1
# TYPE u unknown
u{v="żółw 🐢"} 1
{"utf8.name",a="b"} 1
# EOF
`

const textEdges = `# HELP esc Escapes, spacing and order.
# TYPE esc gauge
esc{path="C:\\dir\\",quote="say \"hi\"",nl="a\nb",tab="a	b",other="a\qb",empty="",z="1",a="2"} 1
esc{ spaced = "v" , other="x",} 2
esc{a="1" b="2"} 3
esc{} 4
esc	5	1700000000000
esc 6 1700000000000   
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="1e3"} 2
h_bucket{le="+Inf"} 3
h_bucket{le="0.25"} 3
h_bucket{le="x"} 3
h_count 3
# TYPE s summary
s{quantile="0"} 1
s{quantile="1"} 1
#  a comment
#HELP not meta
# HELPLESS
#
utf8{v="żółw 🐢"} 1
colons:and_digits9 +Inf
nan NaN
neg_inf -Inf
exp 1.5e-7
job_label{job="scraped",instance="scraped"} 1
no_newline_at_end 7`

// The reader must take the common formatting, node_exporter's included, and yield exactly what textparse
// yields for it.
func TestTextMatchesTextparse(t *testing.T) {
	node, err := os.ReadFile("testdata/node_exporter.prom")
	require.NoError(t, err)
	for name, body := range map[string]string{"textBody": textBody, "node_exporter": string(node), "edges": textEdges} {
		t.Run(name, func(t *testing.T) {
			fast, ref, fastErr, refErr, ok := readBoth(t, nil, []byte(body))
			require.True(t, ok, "left to textparse")
			require.NoError(t, refErr)
			require.NoError(t, fastErr)
			require.Equal(t, ref, fast)
			require.Greater(t, len(fast), 5)
		})
	}
	honor := valid()
	honor.HonorLabels = true
	honor.HonorTimestamps = new(bool)
	fast, ref, _, _, ok := readBoth(t, honor, []byte(textEdges))
	require.True(t, ok)
	require.Equal(t, ref, fast)

	// A label name twice fails the scrape in both readers, with one error.
	_, _, fastErr, refErr, ok := readBoth(t, nil, []byte("ok 1\ndup{a=\"1\",a=\"2\"} 1\n"))
	require.True(t, ok)
	require.EqualError(t, fastErr, `line at byte offset 5: "dup": label name "a" is not unique: invalid sample`)
	require.Equal(t, refErr, fastErr)
}

// What the reader leaves to textparse, which accepts some of it and rejects the rest.
func TestTextLeavesTheRestToTextparse(t *testing.T) {
	for _, body := range []string{
		`{"utf8.name",a="b"} 1`,
		`name{"quoted label"="b"} 1`,
		"# HELP\tx help",
		"#  TYPE x counter",
		"# TYPE x  counter",
		"# TYPE x counter ",
		"# TYPE x unknown",
		"# HELP \"quoted\" help",
		"a-1",
		"a{b=\"c\"}1",
		"a {b=\"c\"} 1",
		"a 1 2 3",
		"a 1 -2",
		"a 1 99999999999999999999",
		"a 0x1p3",
		"a 1_000",
		"a 1\r",
		"a{b=\"c\nd\"} 1",
		"a{b=\"unterminated} 1",
		"a{,} 1",
		"a{b:c=\"d\"} 1",
		"a{b=\"\xff\"} 1",
		"# HELP a \xff",
		"a",
		" a 1",
	} {
		t.Run(body, func(t *testing.T) {
			_, _, _, _, ok := readBoth(t, nil, []byte("ok 1\n"+body+"\n"))
			require.False(t, ok)
		})
	}
}

// The limits fail a scrape the same way whichever reads it.
func TestTextLimitsMatchTextparse(t *testing.T) {
	cfg := valid()
	cfg.SampleLimit = 3
	fast, ref, fastErr, refErr, ok := readBoth(t, cfg, []byte(textEdges))
	require.True(t, ok)
	require.Equal(t, ref, fast)
	require.EqualError(t, fastErr, refErr.Error())
}

// FuzzTextMatchesTextparse: whatever the body, a body the reader takes yields what textparse yields, errors
// included: a syntax textparse rejects must not pass the reader, and a scrape that fails on a series (a
// label name twice, say) fails alike in both.
func FuzzTextMatchesTextparse(f *testing.F) {
	node, err := os.ReadFile("testdata/node_exporter.prom")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{textBody, textEdges, string(node[:2000]), "a{b=\"c\"} 1 2\n# TYPE x counter\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ref, fastErr, refErr, ok := readBoth(t, nil, body)
		if !ok {
			return
		}
		if fmt.Sprint(fastErr) != fmt.Sprint(refErr) {
			t.Fatalf("the reader took a body textparse reads otherwise: %v, against textparse's %v", fastErr, refErr)
		}
		require.Equal(t, ref, fast)
	})
}

// The scrape's OpenMetrics label path matches the OpenMetricsParser's own Labels().
func TestOpenMetricsMatchesTextparse(t *testing.T) {
	fast, ref, fastErr, refErr := readOpenMetricsBoth(t, []byte(openMetricsEdges))
	require.NoError(t, refErr)
	require.NoError(t, fastErr)
	require.Equal(t, ref, fast)
	require.Greater(t, len(fast), 15)
}

// FuzzOpenMetricsMatchesTextparse: whatever the OpenMetrics body, the labels a scrape reads (seriesLabels
// where it can) are those the OpenMetricsParser's own Labels() gives, and the scrape fails alike.
func FuzzOpenMetricsMatchesTextparse(f *testing.F) {
	for _, seed := range []string{openMetricsEdges, "a{b=\"c\"} 1 2\n# EOF\n", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n# EOF\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ref, fastErr, refErr := readOpenMetricsBoth(t, body)
		if fmt.Sprint(fastErr) != fmt.Sprint(refErr) {
			t.Fatalf("the scrape read a body otherwise than textparse's Labels(): %v, against %v", fastErr, refErr)
		}
		require.Equal(t, ref, fast)
	})
}
