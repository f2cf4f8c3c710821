package cluster

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// benchGroups are n targets in groups of 1,000, as a discoverer gives them: each an address and a label of
// its own, each group a label of its own; generation changes every target's own label, so that every group
// differs from the last generation's.
func benchGroups(n, generation int) []*targetgroup.Group {
	var groups []*targetgroup.Group
	for i := 0; i < n; i += 1000 {
		g := &targetgroup.Group{Source: fmt.Sprintf("g%d", i/1000), Labels: model.LabelSet{"team": model.LabelValue(fmt.Sprintf("t%d", i/1000%7))}}
		for j := i; j < min(n, i+1000); j++ {
			g.Targets = append(g.Targets, model.LabelSet{
				model.AddressLabel: model.LabelValue(fmt.Sprintf("10.%d.%d.%d:9100", j>>16, j>>8&255, j&255)),
				"pod":              model.LabelValue(fmt.Sprintf("pod-%d-%d", j, generation)),
			})
		}
		groups = append(groups, g)
	}
	return groups
}

func benchPeers() []string {
	var peers []string
	for i := range 100 {
		peers = append(peers, fmt.Sprintf("10.200.0.%d:9273", i))
	}
	return peers
}

// resyncBench is one scraper and the cluster of 100 peers this instance is one of.
type resyncBench struct {
	s *scrape.Scraper
	c *Cluster
}

func newResyncBench(tb testing.TB) *resyncBench {
	cfg := &scrape.Config{Name: "node"}
	if err := cfg.Init(); err != nil {
		tb.Fatal(err)
	}
	s, err := scrape.New(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	peers := benchPeers()
	return &resyncBench{s: s, c: New(Config{Peers: "peers", Self: peers[0], Replication: 1}, staticPeers(peers...), testutil.Logger{Quiet: true})}
}

// sync takes the groups and shares the targets, as the plugin does on a discovery update.
func (r *resyncBench) sync(groups []*targetgroup.Group) {
	r.c.Assign([]Pool{r.s})
	r.s.Sync(groups)
	r.c.Count([]Pool{r.s})
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkResync is a discovery update at 10k, 50k and 1M targets among 100 peers (this instance owns
// about 1 %): ms/resync when every group changed, ms/one-group when one group of 1,000 targets did, and the
// heap the targets cost here, beside the discovered groups (heap-B/target, over all of them).
func BenchmarkResync(b *testing.B) {
	for _, n := range []int{10_000, 50_000, 1_000_000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			gens := [2][]*targetgroup.Group{benchGroups(n, 0), benchGroups(n, 1)}
			r := newResyncBench(b)
			before := heapInUse()
			r.sync(gens[0])
			held := heapInUse() - before
			oneChanged := append([]*targetgroup.Group{gens[1][0]}, gens[0][1:]...)
			start := time.Now()
			for i := range 10 {
				r.sync([][]*targetgroup.Group{oneChanged, gens[0]}[i%2])
			}
			one := time.Since(start) / 10
			b.ResetTimer()
			for i := range b.N {
				r.sync(gens[(i+1)%2])
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/resync")
			b.ReportMetric(float64(one.Microseconds())/1000, "ms/one-group")
			b.ReportMetric(float64(held)/float64(n), "heap-B/target")
			runtime.KeepAlive(gens)
		})
	}
}

// BenchmarkNonOwnedTarget is the heap a target another instance owns costs here: 100,000 targets, none of
// them this instance's (the peer discoverer does not list it).
func BenchmarkNonOwnedTarget(b *testing.B) {
	const n = 100_000
	groups := benchGroups(n, 0)
	for range b.N {
		r := newResyncBench(b)
		r.c = New(Config{Peers: "peers", Self: "10.201.0.1:9273", Replication: 1}, staticPeers(benchPeers()...), testutil.Logger{Quiet: true})
		before := heapInUse()
		r.sync(groups)
		held := heapInUse() - before
		if r.s.Owned() != 0 {
			b.Fatalf("%d targets owned", r.s.Owned())
		}
		b.ReportMetric(float64(held)/n, "B/non-owned-target")
		runtime.KeepAlive(r)
	}
	runtime.KeepAlive(groups)
}
