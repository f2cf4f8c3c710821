package scrape

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
)

// recorder keeps what scrapes delivered, as strings; each parse slot gets a recorderSink of its own.
type recorder struct {
	mu        sync.Mutex
	flushed   []string
	types     map[string]model.MetricType
	synthetic []string // the names of the samples marked Synthetic, in order
}

func (r *recorder) sink() Sink { return &recorderSink{r: r} }

type recorderSink struct {
	r         *recorder
	pending   []string
	types     map[string]model.MetricType
	synthetic []string
}

func (k *recorderSink) Add(_ *Scraper, _ *Target, s *Sample) error {
	k.pending = append(k.pending, fmt.Sprintf("%s %v@%d", s.Labels.String(), s.Value, s.Timestamp))
	if k.types == nil {
		k.types = map[string]model.MetricType{}
	}
	k.types[strings.Clone(s.Labels.Get(model.MetricNameLabel))] = s.Type
	if s.Synthetic {
		k.synthetic = append(k.synthetic, strings.Clone(s.Labels.Get(model.MetricNameLabel)))
	}
	return nil
}

func (k *recorderSink) Drop() { k.pending, k.synthetic = nil, nil }

func (k *recorderSink) Flush() {
	k.r.mu.Lock()
	defer k.r.mu.Unlock()
	k.r.flushed = append(k.r.flushed, k.pending...)
	if k.r.types == nil {
		k.r.types = map[string]model.MetricType{}
	}
	for name, typ := range k.types {
		k.r.types[name] = typ
	}
	k.r.synthetic = append(k.r.synthetic, k.synthetic...)
	k.pending, k.synthetic = nil, nil
}

// series returns the flushed samples of one metric name, without the timestamp.
func (r *recorder) series(name string) []string {
	var out []string
	for _, s := range r.flushed {
		if strings.HasPrefix(s, `{__name__="`+name+`"`) {
			out = append(out, s[:strings.LastIndex(s, "@")])
		}
	}
	sort.Strings(out)
	return out
}

var discard = slog.New(slog.DiscardHandler)

func newScraper(t *testing.T, c *Config, targets ...string) *Scraper {
	t.Helper()
	return newJobScraper(t, c, nil, targets...)
}

// newJobScraper is newScraper for the scraper of a Prometheus configuration's job.
func newJobScraper(t *testing.T, c *Config, job *JobExtras, targets ...string) *Scraper {
	t.Helper()
	require.NoError(t, c.Init())
	s, err := New(c, job, discard)
	require.NoError(t, err)
	group := &targetgroup.Group{Source: "test", Labels: model.LabelSet{"env": "test", "__meta_x": "dropped"}}
	for _, addr := range targets {
		group.Targets = append(group.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(addr)})
	}
	require.Empty(t, s.Sync([]*targetgroup.Group{group}))
	return s
}

func scrapeOnce(t *testing.T, s *Scraper) *recorder {
	t.Helper()
	r := &recorder{}
	Run(context.Background(), []*Scraper{s}, time.Now(), 4, r.sink)
	return r
}

const textBody = `# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",instance="exposed"} 1027 1395066363000
http_requests_total{code="400"} 3
# TYPE latency histogram
latency_bucket{le="0.5"} 1
latency_bucket{le="+Inf"} 2
latency_sum 1.5
latency_count 2
# TYPE rpc summary
rpc{quantile="0.5"} 0.2
rpc_sum 9
rpc_count 4
nan_gauge NaN
`

func serve(t *testing.T, contentType string, body []byte, gzipped bool) (*httptest.Server, *http.Header) {
	t.Helper()
	var seen http.Header
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		seen.Set("X-Query", r.URL.RawQuery)
		mu.Unlock()
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		if gzipped {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			_, _ = zw.Write(body)
			_ = zw.Close()
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

// The series added for every scrape, and only they, are marked Synthetic, in their order, scrape after
// scrape (a sink that changes them, the kapacitor format's, relies on it); a failed scrape has them too.
func TestSyntheticSeriesMarked(t *testing.T) {
	names := []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling"}
	for _, body := range []string{textBody, "ok 1\nnot a sample\n"} {
		srv, _ := serve(t, "text/plain; version=0.0.4", []byte(body), false)
		s := newScraper(t, valid(), strings.TrimPrefix(srv.URL, "http://"))
		r := &recorder{}
		now := time.Now()
		for i := range 3 {
			Run(context.Background(), []*Scraper{s}, now.Add(time.Duration(i)*time.Hour), 1, r.sink)
		}
		require.Equal(t, slices.Concat(names, names, names), r.synthetic)
	}
}

func TestScrapeTextFormat(t *testing.T) {
	for _, tc := range []struct {
		name        string
		contentType string
		gzipped     bool
	}{
		{"text 0.0.4", "text/plain; version=0.0.4; charset=utf-8", false},
		{"gzip", "text/plain; version=0.0.4", true},
		{"missing content type falls back to text", "", false},
		{"unknown content type falls back to text", "application/json", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, header := serve(t, tc.contentType, []byte(textBody), tc.gzipped)
			addr := strings.TrimPrefix(srv.URL, "http://")
			s := newScraper(t, valid(), addr)
			r := scrapeOnce(t, s)

			// Target labels win; the scraped instance label is kept as exported_instance.
			require.Equal(t, []string{
				`{__name__="http_requests_total", code="200", env="test", exported_instance="exposed", instance="` + addr + `", job="node"} 1027`,
				`{__name__="http_requests_total", code="400", env="test", instance="` + addr + `", job="node"} 3`,
			}, r.series("http_requests_total"))
			require.Contains(t, r.flushed, `{__name__="http_requests_total", code="200", env="test", exported_instance="exposed", instance="`+addr+`", job="node"} 1027@1395066363000`)
			require.Len(t, r.series("latency_bucket"), 2)
			require.Len(t, r.series("rpc"), 1)
			require.Equal(t, []string{`{__name__="nan_gauge", env="test", instance="` + addr + `", job="node"} NaN`}, r.series("nan_gauge"))
			require.Equal(t, model.MetricTypeCounter, r.types["http_requests_total"])
			require.Equal(t, model.MetricTypeHistogram, r.types["latency_bucket"])
			require.Equal(t, model.MetricTypeSummary, r.types["rpc_count"])
			require.Equal(t, model.MetricTypeUnknown, r.types["nan_gauge"])

			require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 1`}, r.series("up"))
			require.Equal(t, []string{`{__name__="scrape_samples_scraped", env="test", instance="` + addr + `", job="node"} 10`}, r.series("scrape_samples_scraped"))
			require.Len(t, r.series("scrape_duration_seconds"), 1)

			require.Equal(t, "gzip", header.Get("Accept-Encoding"))
			require.True(t, strings.HasPrefix(header.Get("Accept"), "application/openmetrics-text;version=1.0.0"))
			require.Contains(t, header.Get("Accept"), "application/vnd.google.protobuf")
			require.Equal(t, "10", header.Get("X-Prometheus-Scrape-Timeout-Seconds"))
			require.Equal(t, uint64(10), s.Stats().Samples.Load())
		})
	}
}

func TestScrapeOpenMetrics(t *testing.T) {
	body := `# TYPE requests counter
requests_total{path="/"} 5 1700000000.5
requests_created{path="/"} 1600000000
# TYPE info info
build_info{version="1.0"} 1
# EOF
`
	srv, _ := serve(t, "application/openmetrics-text; version=1.0.0; charset=utf-8", []byte(body), false)
	addr := strings.TrimPrefix(srv.URL, "http://")
	r := scrapeOnce(t, newScraper(t, valid(), addr))
	require.Contains(t, r.flushed, `{__name__="requests_total", env="test", instance="`+addr+`", job="node", path="/"} 5@1700000000500`)
	require.Len(t, r.series("requests_created"), 1)
	require.Equal(t, model.MetricTypeCounter, r.types["requests_total"])
	require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 1`}, r.series("up"))
}

func TestScrapeProtobuf(t *testing.T) {
	// The protobuf body is made from the text body, so both formats must give the same samples.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(textBody))
	require.NoError(t, err)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	names := make([]string, 0, len(families))
	for name := range families {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		require.NoError(t, enc.Encode(families[name]))
	}
	srv, _ := serve(t, `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`, buf.Bytes(), true)
	addr := strings.TrimPrefix(srv.URL, "http://")
	r := scrapeOnce(t, newScraper(t, valid(), addr))

	require.Equal(t, []string{
		`{__name__="http_requests_total", code="200", env="test", exported_instance="exposed", instance="` + addr + `", job="node"} 1027`,
		`{__name__="http_requests_total", code="400", env="test", instance="` + addr + `", job="node"} 3`,
	}, r.series("http_requests_total"))
	// Classic histogram buckets come as flat _bucket series, as from the text format.
	require.Equal(t, []string{
		`{__name__="latency_bucket", env="test", instance="` + addr + `", job="node", le="+Inf"} 2`,
		`{__name__="latency_bucket", env="test", instance="` + addr + `", job="node", le="0.5"} 1`,
	}, r.series("latency_bucket"))
	require.Equal(t, []string{`{__name__="rpc", env="test", instance="` + addr + `", job="node", quantile="0.5"} 0.2`}, r.series("rpc"))
	require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 1`}, r.series("up"))
}

func TestFailedScrapeKeepsNothingButUp(t *testing.T) {
	garbage, _ := serve(t, "text/plain", []byte("ok_metric 1\nthis is { not the format\n"), false)
	status := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) }))
	defer status.Close()
	good, _ := serve(t, "text/plain", []byte("ok_metric 1\n"), false)
	addrs := []string{strings.TrimPrefix(garbage.URL, "http://"), strings.TrimPrefix(status.URL, "http://"), strings.TrimPrefix(good.URL, "http://")}
	s := newScraper(t, valid(), addrs...)
	r := scrapeOnce(t, s)

	// The garbage's first, valid line is not kept: a failed scrape delivers only its synthetic series.
	require.Equal(t, []string{`{__name__="ok_metric", env="test", instance="` + addrs[2] + `", job="node"} 1`}, r.series("ok_metric"))
	require.ElementsMatch(t, []string{
		`{__name__="up", env="test", instance="` + addrs[0] + `", job="node"} 0`,
		`{__name__="up", env="test", instance="` + addrs[1] + `", job="node"} 0`,
		`{__name__="up", env="test", instance="` + addrs[2] + `", job="node"} 1`,
	}, r.series("up"))
	health := map[string]string{}
	for _, target := range s.Targets() {
		health[target.Instance()] = target.Health().LastError
	}
	require.Contains(t, health[addrs[0]], "parsing")
	require.Equal(t, "server returned HTTP status 503 Service Unavailable", health[addrs[1]])
	require.Empty(t, health[addrs[2]])
	require.Equal(t, uint64(2), s.Stats().Errors.Load())
}

func TestTimeoutIsPerTarget(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	good, _ := serve(t, "text/plain", []byte("ok_metric 1\n"), false)
	c := valid()
	c.ScrapeInterval = config.Duration(time.Second)
	c.ScrapeTimeout = config.Duration(200 * time.Millisecond)
	s := newScraper(t, c, strings.TrimPrefix(slow.URL, "http://"), strings.TrimPrefix(good.URL, "http://"))
	start := time.Now()
	r := scrapeOnce(t, s)
	require.Less(t, time.Since(start), 5*time.Second, "the slow target must not hold the gather beyond its timeout")
	require.Len(t, r.series("ok_metric"), 1)
	require.Contains(t, r.series("up"), `{__name__="up", env="test", instance="`+strings.TrimPrefix(slow.URL, "http://")+`", job="node"} 0`)
}

func TestAuthReachesTheWire(t *testing.T) {
	for _, tc := range []struct {
		name   string
		set    func(*Config)
		header string
	}{
		{"basic", func(c *Config) { c.Username, c.Password = "user", config.NewSecret([]byte("pass")) }, "Basic dXNlcjpwYXNz"},
		{"bearer", func(c *Config) { c.BearerToken = config.NewSecret([]byte("tok")) }, "Bearer tok"},
		{"none", func(*Config) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, header := serve(t, "text/plain", []byte("m 1\n"), false)
			c := valid()
			tc.set(c)
			scrapeOnce(t, newScraper(t, c, strings.TrimPrefix(srv.URL, "http://")))
			require.Equal(t, tc.header, header.Get("Authorization"))
		})
	}
}

func TestTLSAndParams(t *testing.T) {
	var query string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.Path + "?" + r.URL.RawQuery
		_, _ = w.Write([]byte("m 1\n"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")

	c := valid()
	c.Scheme, c.MetricsPath, c.Params = "https", "/probe", map[string][]string{"module": {"http_2xx"}}
	r := scrapeOnce(t, newScraper(t, c, addr))
	require.Contains(t, r.series("up")[0], "} 0", "an unknown CA must fail verification")

	c = valid()
	c.Scheme, c.MetricsPath, c.Params = "https", "/probe", map[string][]string{"module": {"http_2xx"}}
	c.InsecureSkipVerify = true
	r = scrapeOnce(t, newScraper(t, c, addr))
	require.Contains(t, r.series("up")[0], "} 1")
	require.Equal(t, "/probe?module=http_2xx", query)
}

func TestTargetLabels(t *testing.T) {
	c := valid()
	c.Params = map[string][]string{"target": {"a", "b"}}
	require.NoError(t, c.Init())
	s, err := New(c, nil, discard)
	require.NoError(t, err)
	tg, err := s.newTarget(model.LabelSet{model.AddressLabel: "h:1", "__param_target": "z", "__meta_k": "v"}, model.LabelSet{"team": "x", "__meta_k": "g"})
	require.NoError(t, err)
	require.Equal(t, `{instance="h:1", job="node", team="x"}`, tg.Labels.String())
	require.Equal(t, "http://h:1/metrics?target=z&target=b", tg.URL)
	require.Equal(t, []string{"a", "b"}, c.Params["target"], "the scraper's params are not changed by a target")
	require.Equal(t, "v", tg.Discovered().Get("__meta_k"), "the target's own label wins over its group's")
	require.Equal(t, time.Minute, tg.Interval)

	// A discoverer may set instance, interval and timeout per target.
	tg, err = s.newTarget(model.LabelSet{model.AddressLabel: "h:1", model.InstanceLabel: "web-1", model.ScrapeIntervalLabel: "15s"}, nil)
	require.NoError(t, err)
	require.Equal(t, "web-1", tg.Instance())
	require.Equal(t, 15*time.Second, tg.Interval)

	// Prometheus' own checks, with its messages.
	for _, bad := range []struct {
		name   string
		labels model.LabelSet
		err    string
	}{
		{"no address", model.LabelSet{}, "no address"},
		{"a path in the address", model.LabelSet{model.AddressLabel: "h:1/x"}, `"h:1/x" is not a valid hostname`},
		{"timeout over interval", model.LabelSet{model.AddressLabel: "h:1", model.ScrapeIntervalLabel: "5s"}, `scrape timeout cannot be greater than scrape interval ("10s" > "5s")`},
		{"bad timeout", model.LabelSet{model.AddressLabel: "h:1", model.ScrapeTimeoutLabel: "zero"}, `error parsing scrape timeout: not a valid duration string: "zero"`},
		{"invalid UTF-8 value", model.LabelSet{model.AddressLabel: "h:1", "team": "\xff"}, `invalid label value for "team": "\xff"`},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, err := s.newTarget(bad.labels, nil)
			require.EqualError(t, err, bad.err, "%v", bad.labels)
		})
	}
	// The discovered labels are Prometheus 3's, with those of its native-histogram options (all false:
	// every format yields classic series here).
	tg, err = s.newTarget(model.LabelSet{model.AddressLabel: "h:1"}, nil)
	require.NoError(t, err)
	require.Equal(t, `{__address__="h:1", __always_scrape_classic_histograms__="false", __convert_classic_histograms_to_nhcb__="false", `+
		`__metrics_path__="/metrics", __param_target="a", __scheme__="http", __scrape_interval__="1m", __scrape_native_histograms__="false", `+
		`__scrape_timeout__="10s", job="node"}`, tg.Discovered().String())
}

func TestSyncKeepsScheduleAndBlacklist(t *testing.T) {
	c := valid()
	c.Blacklist = []string{"b:1"}
	s := newScraper(t, c, "a:1", "b:1")
	require.Len(t, s.Targets(), 1, "the blacklisted instance is not scraped")
	first := s.Targets()[0]
	now := time.Now()
	require.True(t, first.claim(now, gatherEarly(first)))
	first.release() // its scrape ended
	require.False(t, first.claim(now.Add(30*time.Second), gatherEarly(first)))
	require.True(t, first.claim(now.Add(55*time.Second), gatherEarly(first)), "due within a tenth of the interval")

	// The group comes again with a meta label changed, another target and one that cannot be built.
	errs := s.Sync([]*targetgroup.Group{{Source: "test", Labels: model.LabelSet{"env": "test", "__meta_x": "changed"}, Targets: []model.LabelSet{{model.AddressLabel: "a:1"}, {model.AddressLabel: "c:1"}, {}}}})
	require.Len(t, errs, 1)
	require.Contains(t, errs[0].Error(), `scraper "node": target 2 of group "test"`)
	require.Len(t, s.Targets(), 2)
	require.Same(t, first, s.Targets()[0], "a target that stays keeps its state")
	require.Equal(t, "changed", first.Discovered().Get("__meta_x"), "and takes the discovered labels it was found with")
	require.Equal(t, int64(2), s.Stats().Targets.Load())
}

func TestProxyURL(t *testing.T) {
	var requested string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requested = r.URL.String() // a forward proxy receives the absolute URL
		_, _ = w.Write([]byte("via_proxy 1\n"))
	}))
	defer proxy.Close()
	c := valid()
	c.ProxyURL = proxy.URL
	r := scrapeOnce(t, newScraper(t, c, "target.invalid:9100"))
	require.Equal(t, "http://target.invalid:9100/metrics", requested)
	require.Len(t, r.series("via_proxy"), 1)
}

func TestConcurrencyIsBounded(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		_, _ = w.Write([]byte("m 1\n"))
	})
	var targets []string
	for range 8 {
		srv := httptest.NewServer(handler)
		t.Cleanup(srv.Close)
		targets = append(targets, strings.TrimPrefix(srv.URL, "http://"))
	}
	s := newScraper(t, valid(), targets...)
	r := &recorder{}
	Run(context.Background(), []*Scraper{s}, time.Now(), 3, r.sink)
	require.Len(t, r.series("m"), 8)
	require.Equal(t, 3, most)
}

// logBuffer is a slog handler's output, safe for the scrapes to write to.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// loggedScraper is newScraper with a logger that writes to the returned buffer.
func loggedScraper(t *testing.T, c *Config, addr string) (*Scraper, *logBuffer) {
	t.Helper()
	require.NoError(t, c.Init())
	logs := &logBuffer{}
	s, err := New(c, nil, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	require.Empty(t, s.Sync([]*targetgroup.Group{{Source: "test", Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(addr)}}}}))
	return s, logs
}

// A target that serves one huge line fails its scrape with an error that quotes a short, escaped excerpt
// of it and says at which byte of the body the line starts; the log line says the same, and is as short.
// Before, the error quoted the whole line: a 50 MB line made a 50 MB log line, which stopped Telegraf's
// inputs.execd from reading the runner's stderr.
func TestLongLineErrorIsShortAndSaysWhere(t *testing.T) {
	huge := `big{l="` + strings.Repeat("x", 4<<20) + "\"} not-a-number \x1b[31m"
	for _, tc := range []struct {
		name, contentType, prefix string
		gzipped                   bool
	}{
		{"text", "text/plain; version=0.0.4", "# TYPE ok gauge\nok 1\n\n", false},
		{"text, gzipped", "text/plain; version=0.0.4", "# HELP ok Fine.\n# TYPE ok gauge\nok 1\n", true},
		{"OpenMetrics", "application/openmetrics-text; version=1.0.0", "# TYPE ok gauge\n# HELP ok Fine.\nok 1\n", false},
		{"first line", "text/plain; version=0.0.4", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, tc.contentType, []byte(tc.prefix+huge+"\nafter 1\n"), tc.gzipped)
			s, logs := loggedScraper(t, valid(), strings.TrimPrefix(srv.URL, "http://"))
			r := scrapeOnce(t, s)
			require.Empty(t, r.series("ok"), "a failed scrape delivers nothing")

			lastError := s.Targets()[0].Health().LastError
			require.LessOrEqual(t, len(lastError), MaxErrorLen+len("... (12345678 bytes)"))
			require.Contains(t, lastError, fmt.Sprintf("line at byte offset %d: ", len(tc.prefix)))
			require.Contains(t, lastError, `"big{l=\"xxxxxxxx`)
			require.Regexp(t, `"\.\.\. \(419\d{4} bytes\)`, lastError, "the excerpt says how long the line was")
			require.NotContains(t, lastError, strings.Repeat("x", 200))

			log := logs.String()
			require.Equal(t, 1, strings.Count(log, "\n"), "one log line: %.500s", log)
			require.Contains(t, log, "scrape failed")
			require.Less(t, len(log), 2*MaxErrorLen)
		})
	}
}

// The errors about one sample (a limit, a duplicate label) say which line it is on, and quote its names
// short, however long the target made them.
func TestSampleErrorsQuoteShortAndSayWhere(t *testing.T) {
	name := strings.Repeat("n", 1<<20)
	prefix := "ok 1\n# a comment\n"
	body := prefix + name + `{a="1",b="2",c="3"} 1` + "\n"
	srv, _ := serve(t, "text/plain; version=0.0.4", []byte(body), false)
	c := valid()
	c.LabelLimit = 4
	s, _ := loggedScraper(t, c, strings.TrimPrefix(srv.URL, "http://"))
	scrapeOnce(t, s)
	lastError := s.Targets()[0].Health().LastError
	require.Equal(t, fmt.Sprintf(`line at byte offset %d: label limit of 4 exceeded by %q... (%d bytes) (6 labels)`, len(prefix), strings.Repeat("n", 100), len(name)), lastError)
}

// What a target sends back in place of a body, its status line's reason phrase, reaches the target's last
// error and the log escaped: no escape sequence or line break of a target's making gets to a terminal or
// to Telegraf's log.
func TestReasonPhraseIsEscaped(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = http.ReadRequest(bufio.NewReader(conn))
				_, _ = conn.Write([]byte("HTTP/1.1 503 \x1b[2J\x1b[31mdown\x07 \xff" + strings.Repeat("!", 5000) + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			}()
		}
	}()
	s, logs := loggedScraper(t, valid(), l.Addr().String())
	scrapeOnce(t, s)
	lastError := s.Targets()[0].Health().LastError
	require.True(t, strings.HasPrefix(lastError, `server returned HTTP status 503 \x1b[2J\x1b[31mdown\a \xff!!!`), lastError)
	require.LessOrEqual(t, len(lastError), MaxErrorLen+len("... (12345678 bytes)"))
	for _, c := range []string{"\x1b", "\x07", "\xff"} {
		require.NotContains(t, lastError, c)
		require.NotContains(t, logs.String(), c)
	}
}
