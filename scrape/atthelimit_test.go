package scrape

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/influxdata/telegraf/config"
	"github.com/stretchr/testify/require"
)

// A limit is a bound a target may reach: a series or a body exactly at a limit is scraped with all its
// samples (up 1), and one past it fails the scrape (up 0) with an error that names the limit.
func TestLabelLimitsAtTheirExactValue(t *testing.T) {
	name, value := strings.Repeat("n", 30), strings.Repeat("v", 40)
	// The series, with its target's labels: __name__, env, instance (127.0.0.1:port, at most 15 bytes),
	// job and the exposed one, whose name (30 bytes) and value (40 bytes) are the longest.
	srv, _ := serve(t, "text/plain", []byte(fmt.Sprintf("m{%s=%q} 1\n", name, value)), false)
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name  string
		set   func(c *Config, limit int)
		limit int
		err   string // the error one past the limit (its series is the first line), with %d for the limit
	}{
		{"label-limit", func(c *Config, n int) { c.LabelLimit = n }, 5, `line at byte offset 0: label limit of %d exceeded by "m" (5 labels)`},
		{"label-name-length-limit", func(c *Config, n int) { c.LabelNameLengthLimit = n }, 30,
			`line at byte offset 0: label name length limit of %d exceeded by "m" label "` + name + `"`},
		{"label-value-length-limit", func(c *Config, n int) { c.LabelValueLengthLimit = n }, 40,
			`line at byte offset 0: label value length limit of %d exceeded by "m" label "` + name + `"`},
	} {
		t.Run(tc.name+" reached", func(t *testing.T) {
			c := valid()
			tc.set(c, tc.limit)
			s := newScraper(t, c, addr)
			r := scrapeOnce(t, s)
			require.Empty(t, s.Targets()[0].Health().LastError)
			require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 1`}, r.series("up"))
			require.Equal(t, []string{`{__name__="m", env="test", instance="` + addr + `", job="node", ` + name + `="` + value + `"} 1`}, r.series("m"))
		})
		t.Run(tc.name+" exceeded by one", func(t *testing.T) {
			c := valid()
			tc.set(c, tc.limit-1)
			s := newScraper(t, c, addr)
			r := scrapeOnce(t, s)
			require.Equal(t, fmt.Sprintf(tc.err, tc.limit-1), s.Targets()[0].Health().LastError)
			require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 0`}, r.series("up"))
			require.Empty(t, r.series("m"))
		})
	}
}

// A body of exactly body-size-limit bytes is scraped whole, whether its Content-Length says so, it comes
// without one (chunked), or it inflates to that size; a byte more fails the scrape.
func TestBodySizeLimitAtItsExactValue(t *testing.T) {
	var text strings.Builder
	for i := range 300 {
		fmt.Fprintf(&text, "m{i=\"%03d\"} 1\n", i)
	}
	body := []byte(text.String())
	size := len(body)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(body)
	require.NoError(t, zw.Close())
	require.Less(t, zipped.Len(), size/2, "the compressed body is well under the limit: the inflated size decides")

	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		err     string // the error one past the limit, with %d for the limit
	}{
		{"with Content-Length", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(size))
			_, _ = w.Write(body)
		}, fmt.Sprintf("body size limit of %%d bytes exceeded: Content-Length is %d", size)},
		{"chunked", func(w http.ResponseWriter, _ *http.Request) {
			w.(http.Flusher).Flush() // the headers go without a Content-Length
			_, _ = w.Write(body)
		}, "body size limit of %d bytes exceeded"},
		{"gzip inflated", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Length", fmt.Sprint(zipped.Len()))
			_, _ = w.Write(zipped.Bytes())
		}, "body size limit of %d bytes exceeded"},
	} {
		addr := serveHTTP(t, tc.handler)
		t.Run(tc.name+" reached", func(t *testing.T) {
			c := valid()
			c.BodySizeLimit = config.Size(size)
			s := newScraper(t, c, addr)
			r := scrapeOnce(t, s)
			require.Empty(t, s.Targets()[0].Health().LastError)
			require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 1`}, r.series("up"))
			require.Len(t, r.series("m"), 300)
		})
		t.Run(tc.name+" exceeded by one", func(t *testing.T) {
			c := valid()
			c.BodySizeLimit = config.Size(size - 1)
			s := newScraper(t, c, addr)
			r := scrapeOnce(t, s)
			require.Equal(t, fmt.Sprintf(tc.err, size-1), s.Targets()[0].Health().LastError)
			require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 0`}, r.series("up"))
			require.Empty(t, r.series("m"))
		})
	}
}
