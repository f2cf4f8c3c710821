package scrape

import (
	"compress/gzip"
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// countingSink counts the samples flushed; Flush waits a little, as a sink whose consumer is busy does.
type countingSink struct {
	flushed *atomic.Int64
	n       int64
}

func (k *countingSink) Add(*Scraper, *Target, *Sample) error { k.n++; return nil }
func (k *countingSink) Drop()                                { k.n = 0 }
func (k *countingSink) Flush() {
	time.Sleep(5 * time.Millisecond)
	k.flushed.Add(k.n)
	k.n = 0
}

func TestParsesTakeOneSlotPerProcessor(t *testing.T) {
	targets := 3*runtime.GOMAXPROCS(0) + 4
	var addrs []string
	for range targets {
		srv, _ := serve(t, "text/plain", []byte("a 1\nb 2\n"), false)
		addrs = append(addrs, strings.TrimPrefix(srv.URL, "http://"))
	}
	s := newScraper(t, valid(), addrs...)
	var sinks, flushed atomic.Int64
	Run(context.Background(), []*Scraper{s}, time.Now(), 64, func() Sink {
		sinks.Add(1)
		return &countingSink{flushed: &flushed}
	})
	// Up to 64 fetches ran at once, but only GOMAXPROCS sinks were made to hold output, and every sample
	// reached one.
	require.Equal(t, int64(runtime.GOMAXPROCS(0)), sinks.Load())
	require.Equal(t, int64(targets*(2+4)), flushed.Load(), "2 samples and 4 synthetic series per target")
	for _, tg := range s.Targets() {
		require.True(t, tg.Health().Up, tg.Health().LastError)
	}
}

func TestFetchedBodiesWaitCompressed(t *testing.T) {
	body := []byte(strings.Repeat("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1.5\n", 2000))
	srv, _ := serve(t, "text/plain; version=0.0.4", body, true)
	s := newScraper(t, valid(), strings.TrimPrefix(srv.URL, "http://"))
	f := &fetcher{}
	_, gzipped, err := f.fetch(context.Background(), s, s.Targets()[0])
	require.NoError(t, err)
	require.True(t, gzipped)
	require.Less(t, len(f.body), len(body)/10, "the fetched body is held as it came, compressed")

	w := workers.Get().(*worker)
	defer workers.Put(w)
	inflated, err := w.inflate(f.body, gzipped, 0)
	require.NoError(t, err)
	require.Equal(t, body, inflated)

	_, err = w.inflate(f.body, gzipped, 1000)
	require.ErrorContains(t, err, "body size limit of 1000 bytes exceeded")
	_, err = w.inflate([]byte("plain text"), true, 0)
	require.ErrorContains(t, err, "gzip body: "+gzip.ErrHeader.Error())
}
