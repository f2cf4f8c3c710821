package scrape

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/stretchr/testify/require"
)

// stallSink is a recorder's sink whose first Add takes stall, as a sink whose consumer stalls does.
type stallSink struct {
	recorderSink
	stall time.Duration
}

func (k *stallSink) Add(s *Scraper, t *Target, sample *Sample) error {
	if k.stall > 0 {
		time.Sleep(k.stall)
		k.stall = 0
	}
	return k.recorderSink.Add(s, t, sample)
}

// The scrape timeout covers the parse, not only the fetch: a scrape whose parse overruns it fails.
func TestTimeoutCoversParse(t *testing.T) {
	const samples = 20_000
	var text strings.Builder
	for i := range samples {
		fmt.Fprintf(&text, "m{i=\"%d\"} 1\n", i)
	}
	for _, tc := range []struct{ contentType, body string }{
		{"text/plain; version=0.0.4", text.String()},
		{"application/openmetrics-text; version=1.0.0", text.String() + "# EOF\n"},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			srv, _ := serve(t, tc.contentType, []byte(tc.body), false)
			addr := strings.TrimPrefix(srv.URL, "http://")
			c := valid()
			c.ScrapeInterval = config.Duration(time.Second)
			c.ScrapeTimeout = config.Duration(200 * time.Millisecond)
			s := newScraper(t, c, addr)
			r := &recorder{}
			Run(context.Background(), []*Scraper{s}, time.Now(), 1, func() Sink {
				return &stallSink{recorderSink: recorderSink{r: r}, stall: 300 * time.Millisecond}
			})
			require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 0`}, r.series("up"))
			require.Empty(t, r.series("m"), "a scrape that overran keeps no sample")
			h := s.Targets()[0].Health()
			require.Contains(t, h.LastError, "scrape timeout of 200ms exceeded while parsing after ")
			require.Less(t, h.Samples, samples, "the parse stopped at the timeout")
		})
	}
}

// A body whose Content-Length is over the limit fails at once, without reading it.
func TestContentLengthOverTheLimitFailsAtOnce(t *testing.T) {
	addr := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(1<<30))
		_, _ = w.Write([]byte("m 1\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	})
	c := valid()
	c.BodySizeLimit = config.Size(1 << 20)
	s := newScraper(t, c, addr)
	start := time.Now()
	scrapeOnce(t, s)
	require.Less(t, time.Since(start), 5*time.Second, "the scrape did not wait for the body")
	require.Equal(t, "body size limit of 1048576 bytes exceeded: Content-Length is 1073741824", s.Targets()[0].Health().LastError)
}

// An unset body-size-limit is the default, and a negative one means no limit.
func TestBodySizeLimitDefault(t *testing.T) {
	c := valid()
	require.NoError(t, c.Init())
	require.EqualValues(t, DefaultBodySizeLimit, c.BodySizeLimit)

	srv, _ := serve(t, "text/plain", []byte(strings.Repeat("m 1\n", 1000)), true)
	c = valid()
	c.BodySizeLimit = -1
	s := newScraper(t, c, strings.TrimPrefix(srv.URL, "http://"))
	require.EqualValues(t, -1, c.BodySizeLimit)
	scrapeOnce(t, s)
	require.True(t, s.Targets()[0].Health().Up, "no limit: %s", s.Targets()[0].Health().LastError)
}

func serveHTTP(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// Inflating a body stops at the scrape's deadline.
func TestInflateStopsAtTheDeadline(t *testing.T) {
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	_, _ = zw.Write(bytes.Repeat([]byte("a"), 1<<20))
	require.NoError(t, zw.Close())
	w := workers.Get().(*worker)
	defer workers.Put(w)
	w.deadline, w.timeout = time.Now().Add(-time.Millisecond), time.Second
	defer func() { w.deadline = time.Time{} }()
	_, err := w.inflate(body.Bytes(), true, 0)
	require.ErrorContains(t, err, "scrape timeout of 1s exceeded while inflating after ")
}

// A body read up to the limit costs a buffer of at most the limit and a byte, however long the body.
func TestReadLimitedGrowsNoFurtherThanTheLimit(t *testing.T) {
	const limit = 1<<20 + 7
	zeros := bytes.NewReader(make([]byte, 10<<20))
	buf, err := readLimited(nil, zeros, limit, -1, nil)
	require.EqualError(t, err, "body size limit of 1048583 bytes exceeded")
	require.LessOrEqual(t, cap(buf), limit+1)

	buf, err = readLimited(buf, bytes.NewReader(make([]byte, limit)), limit, -1, nil)
	require.NoError(t, err, "a body of exactly the limit is read")
	require.Len(t, buf, limit)

	buf, err = readLimited(nil, strings.NewReader("m 1\n"), limit, 4, nil)
	require.NoError(t, err)
	require.Equal(t, "m 1\n", string(buf))
	require.Equal(t, 5, cap(buf), "a known size is allocated at once")
}

// Scrapes stop as soon as their context is done, in the fetch or in the parse, and report nothing: the
// plugin is stopping, and its targets are not down.
func TestStoppingCancelsScrapesAndReportsNothing(t *testing.T) {
	hang := serveHTTP(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	var text strings.Builder
	for i := range 20_000 {
		fmt.Fprintf(&text, "m{i=\"%d\"} 1\n", i)
	}
	srv, _ := serve(t, "text/plain", []byte(text.String()), false)
	parsing := strings.TrimPrefix(srv.URL, "http://")
	c := valid()
	c.ScrapeInterval = config.Duration(time.Minute)
	c.ScrapeTimeout = config.Duration(time.Minute)
	s := newScraper(t, c, hang, parsing)
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{}
	start := time.Now()
	Run(ctx, []*Scraper{s}, time.Now(), 2, func() Sink {
		// The first sample parsed stops the scrapes: one target is in its parse, the other in its fetch.
		return &cancelSink{recorderSink: recorderSink{r: r}, cancel: cancel}
	})
	require.Less(t, time.Since(start), 5*time.Second, "the scrapes did not stop")
	require.Zero(t, len(r.flushed), "a scrape cut short by stopping reports nothing")
	for _, tg := range s.Targets() {
		require.Empty(t, tg.Health().LastError, "%s is not down", tg.URL)
	}
}

// cancelSink cancels on its first Add.
type cancelSink struct {
	recorderSink
	cancel context.CancelFunc
}

func (k *cancelSink) Add(s *Scraper, t *Target, sample *Sample) error {
	k.cancel()
	return k.recorderSink.Add(s, t, sample)
}
