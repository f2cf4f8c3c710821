package scrape

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/stretchr/testify/require"
)

// The scrape timeout covers the whole scrape: the time the fetch took counts against the inflate and the
// parse. A target that sends its gzipped body over 70% of the timeout, whose parse then takes 50% more (a
// sink that stalls), fails with the timeout close to the timeout, where a deadline that started again
// after the fetch would let it succeed after about one and a half timeouts.
func TestTimeoutCountsTheFetch(t *testing.T) {
	const (
		timeout = time.Second
		sending = 700 * time.Millisecond // the fetch: 70% of the timeout
		stall   = 500 * time.Millisecond // the parse: 50% of it, more than the 30% left
		samples = 20_000                 // past a few of the parse's looks at its deadline (every checkEvery)
	)
	var text bytes.Buffer
	for i := range samples {
		fmt.Fprintf(&text, "m{i=\"%d\"} 1\n", i)
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(text.Bytes())
	require.NoError(t, zw.Close())
	body := zipped.Bytes()
	addr := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		select {
		case <-time.After(sending):
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(body[len(body)/2:])
	})
	c := valid()
	c.ScrapeInterval = config.Duration(2 * timeout)
	c.ScrapeTimeout = config.Duration(timeout)
	s := newScraper(t, c, addr)
	r := &recorder{}
	Run(context.Background(), []*Scraper{s}, time.Now(), 1, func() Sink {
		return &stallSink{recorderSink: recorderSink{r: r}, stall: stall}
	})

	h := s.Targets()[0].Health()
	require.False(t, h.Up, "the scrape took %s, over its timeout of %s", h.Duration, timeout)
	require.Contains(t, h.LastError, "scrape timeout of 1s exceeded while parsing after ")
	require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 0`}, r.series("up"))
	require.Empty(t, r.series("m"), "a scrape that overran keeps no sample")
	// It stops at the parse's first look at its deadline after the stall: past the timeout by little
	// more than the stall (fetch and stall together), far below the fetch plus a whole timeout.
	require.GreaterOrEqual(t, h.Duration, sending+stall)
	require.Less(t, h.Duration, sending+timeout, "the scrape ran on as if its deadline started after the fetch")
}
