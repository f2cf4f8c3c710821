package scrape

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
)

// A hostile line of 8 MiB grows the text reader's line scratch to twice that. The scrape fails at the label
// bound, and its end lets the scratch go rather than leave it in the pooled worker: what the scrape leaves
// live is the fetched body, which the pooled fetcher keeps for the next fetch, and little more.
func TestHostileLineLeavesNoScratchPooled(t *testing.T) {
	body := []byte(`m{l="` + strings.Repeat("a", 8<<20) + `"} 1` + "\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Header().Set("Content-Length", strconv.Itoa(len(body))) // the fetched body's buffer is its size
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c := valid()
	require.NoError(t, c.Init())
	s, err := New(c, nil, discard)
	require.NoError(t, err)
	defer s.CloseIdleConnections()
	s.Sync([]*targetgroup.Group{{Source: "t", Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(strings.TrimPrefix(srv.URL, "http://"))}}}})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	Run(context.Background(), []*Scraper{s}, time.Now(), 1, func() Sink { return &countSink{} })
	require.Contains(t, s.Targets()[0].Health().LastError, boundText)
	runtime.GC() // the pools' objects live on, as victims, through one collection
	runtime.ReadMemStats(&after)
	retained := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	require.Less(t, retained, int64(len(body))+4<<20, "%d MiB left live by a scrape of an %d MiB body", retained>>20, len(body)>>20)
}
