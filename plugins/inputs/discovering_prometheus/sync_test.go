package discovering_prometheus

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// syncMember starts the member peers[0] of the peers, with a scraper of n targets (nothing due after the first
// gather, which it runs) and another scraper whose discoverer ("other") the caller updates, to 127.0.0.1:1
// with other(i); it returns the files of the targets' and the peers' discoverers.
func syncMember(tb testing.TB, n int, peers ...string) (p *DiscoveringPrometheus, targetsFile, peersFile string, other func(i int)) {
	dir := tb.TempDir()
	targetsFile, peersFile = filepath.Join(dir, "targets.json"), filepath.Join(dir, "peers.json")
	otherFile := filepath.Join(dir, "other.json")
	var groups []map[string]any
	for i := range n {
		groups = append(groups, map[string]any{"targets": []string{fmt.Sprintf("127.0.0.1:%d", 1+i%2)}, "labels": map[string]string{"n": fmt.Sprint(i)}})
	}
	writeJSON(tb, targetsFile, groups)
	writeJSON(tb, peersFile, []map[string]any{{"targets": peers}})
	other = func(i int) {
		writeJSON(tb, otherFile, []map[string]any{{"targets": []string{"127.0.0.1:1"}, "labels": map[string]string{"__meta_generation": fmt.Sprint(i)}}})
	}
	other(0)
	p, err := loadTelegraf(tb, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  discovery_wait = "10s"
  [[inputs.discovering_prometheus.scraper]]
    name = "counted"
    db = "db"
    rp = "rp"
    discoverer-service = "file-discovery"
    discoverer-id = "targets"
    scrape-interval = "1h"
  [[inputs.discovering_prometheus.scraper]]
    name = "other"
    db = "db"
    rp = "rp"
    discoverer-service = "file-discovery"
    discoverer-id = "other"
    scrape-interval = "1h"
  [[inputs.discovering_prometheus.file-discovery]]
    id = "targets"
    files = [%q]
  [[inputs.discovering_prometheus.file-discovery]]
    id = "other"
    files = [%q]
  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = [%q]
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "file-discovery"
    discoverer-id = "peers"
    self = %q
`, targetsFile, otherFile, peersFile, peers[0]))
	if err != nil {
		tb.Fatal(err)
	}
	p.Log = testutil.Logger{Quiet: true}
	if p.Init() != nil || p.Start(&testutil.Accumulator{}) != nil {
		tb.Fatal("cannot start")
	}
	tb.Cleanup(p.Stop)
	if err := p.Gather(&testutil.Accumulator{}); err != nil {
		tb.Fatal(err)
	}
	return p, targetsFile, peersFile, other
}

// An update of another scraper's discoverer builds no target of this one and recomputes no owner; a change
// of the peers recomputes the owners, and builds only the targets that come to this instance.
func TestUnrelatedUpdateRebuildsNothing(t *testing.T) {
	p, _, peersFile, other := syncMember(t, 20, "a:1", "b:1")
	counted, others := p.scrapers[0].Stats(), p.scrapers[1].Stats()
	built, reshares := counted.TargetsBuilt.Load(), p.cluster.Stats().Reshares.Load()
	require.EqualValues(t, 20, built)
	owned := p.scrapers[0].Owned()
	require.Positive(t, owned)
	require.Less(t, owned, 20)

	other(1)
	require.Eventually(t, func() bool { return others.TargetsBuilt.Load() == 2 }, 10*time.Second, 10*time.Millisecond)
	p.syncTargets() // the loop's sync of the update has ended
	require.Equal(t, built, counted.TargetsBuilt.Load(), "no target of the counted scraper built again")
	require.Equal(t, reshares, p.cluster.Stats().Reshares.Load(), "no owner recomputed")

	writeJSON(t, peersFile, []map[string]any{{"targets": []string{"a:1"}}})
	require.Eventually(t, func() bool { return p.cluster.Stats().Reshares.Load() == reshares+1 }, 10*time.Second, 10*time.Millisecond)
	p.syncTargets()
	require.Equal(t, 20, p.scrapers[0].Owned(), "alone: every target")
	require.Equal(t, built+uint64(20-owned), counted.TargetsBuilt.Load(), "only the targets that came here were built")
}

// A gather does not wait for a re-sync under way: it scrapes the targets of the last one.
func TestGatherDoesNotWaitForResync(t *testing.T) {
	p, targetsFile, _, _ := syncMember(t, 20, "a:1", "b:1")
	before := len(p.Targets().Active)
	p.syncMu.Lock() // a re-sync under way, which holds it until it ends
	unlocked := false
	defer func() {
		if !unlocked {
			p.syncMu.Unlock()
		}
	}()
	v := p.sd.Version()
	writeJSON(t, targetsFile, []map[string]any{{"targets": []string{"127.0.0.1:3"}}})
	require.Eventually(t, func() bool { return p.sd.Version() != v }, 10*time.Second, 10*time.Millisecond)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Gather(&testutil.Accumulator{})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // no bound on its speed: only that it does not hang
		t.Fatal("the gather waits for the re-sync")
	}
	require.Len(t, p.Targets().Active, before, "the last re-sync's targets")
	p.syncMu.Unlock()
	unlocked = true
	require.Eventually(t, func() bool { return len(p.Targets().Active) == 2 }, 10*time.Second, 10*time.Millisecond)
}
