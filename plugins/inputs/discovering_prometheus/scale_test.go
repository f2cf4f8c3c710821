package discovering_prometheus

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
)

// TestScaleWholePipeline measures the whole pipeline at DP_SCALE_TARGETS targets (say 1000000), which a
// plain go test skips: the plugin started as in production (Init, Start), its targets read by file
// discovery from DP_SCALE_FILES files (10 unless set) of groups of 1,000 loopback targets, shared among
// 100 peers from a peer file, this instance owning about 1 %. It logs the time from Start to the end of
// the first sync, the peak heap and RSS, the heap per target after GC (the discovered groups included),
// and the time from rewriting one file (one group's label changed) to the end of its re-sync. No Gather
// runs: the sync loop alone does the work. See tests/bench/README.md for the command and the figures.
func TestScaleWholePipeline(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DP_SCALE_TARGETS"))
	if n <= 0 {
		t.Skip("set DP_SCALE_TARGETS to the number of targets to measure the whole pipeline at")
	}
	files := 10
	if f, err := strconv.Atoi(os.Getenv("DP_SCALE_FILES")); err == nil && f > 0 {
		files = f
	}
	dir := t.TempDir()
	var paths []string
	for f := range files {
		path := filepath.Join(dir, fmt.Sprintf("targets-%d.json", f))
		writeScaleFile(t, path, f*n/files, (f+1)*n/files, 0)
		paths = append(paths, path)
	}
	var peers []string
	for i := range 100 {
		peers = append(peers, fmt.Sprintf("10.200.0.%d:9273", i))
	}
	peersFile := filepath.Join(dir, "peers.json")
	writeJSON(t, peersFile, []map[string]any{{"targets": peers}})
	quoted := make([]string, len(paths))
	for i, path := range paths {
		quoted[i] = strconv.Quote(path)
	}
	p, err := loadTelegraf(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "scaled"
    db = "db"
    rp = "rp"
    discoverer-service = "file-discovery"
    discoverer-id = "targets"
  [[inputs.discovering_prometheus.file-discovery]]
    id = "targets"
    files = [%s]
  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = [%q]
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "file-discovery"
    discoverer-id = "peers"
    self = %q
`, strings.Join(quoted, ", "), peersFile, peers[0]))
	if err != nil {
		t.Fatal(err)
	}
	p.Log = testutil.Logger{Quiet: true}

	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	base := heapAfterGC()
	start := time.Now()
	if p.Init() != nil || p.Start(&testutil.Accumulator{}) != nil {
		t.Fatal("cannot start")
	}
	defer p.Stop()
	key := p.enabled[0].Sources[0]
	// synced tells whether discovery has every target, the first group of the generation given, and the
	// sync of that answer is done. (The file discoverer re-reads its files on any event in their
	// directory, such as the temporary file's, so a new version alone does not say the change is read.)
	synced := func(generation string) bool {
		p.syncMu.Lock()
		defer p.syncMu.Unlock()
		groups, total := p.sd.Groups(key), 0
		for _, g := range groups {
			total += len(g.Targets)
		}
		return total == n && string(groups[0].Labels["generation"]) == generation && p.seen == p.sd.Version()
	}
	await := func(generation string) {
		for !synced(generation) {
			if failure := p.sd.Stats(key).Failure; failure != "" {
				t.Fatal(failure) // a file over conffile.MaxSize, say
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	await("0")
	first := time.Since(start)
	s := p.scrapers[0]
	heap := heapAfterGC() - base
	t.Logf("%d targets in %d files, 100 peers: first sync %v; owned %d; heap after GC %.1f MiB (%.0f B/target); peak heap %.1f MiB, peak RSS %.1f MiB",
		n, files, first.Round(time.Millisecond), s.Owned(), mib(heap), float64(heap)/float64(n), mib(peakHeap.Load()), mib(peakRSS(t)))

	built, refreshes := s.Stats().TargetsBuilt.Load(), p.sd.Stats(key).Refreshes
	start = time.Now()
	writeScaleFile(t, paths[0], 0, n/files, 1)
	await("1")
	resync := time.Since(start)
	t.Logf("one file of %d rewritten (one group changed): re-synced in %v, %d targets built again, %d file answers read; heap after GC %.1f MiB; peak heap %.1f MiB, peak RSS %.1f MiB",
		files, resync.Round(time.Millisecond), s.Stats().TargetsBuilt.Load()-built, p.sd.Stats(key).Refreshes-refreshes,
		mib(heapAfterGC()-base), mib(peakHeap.Load()), mib(peakRSS(t)))
}

// writeScaleFile writes the targets from to to (exclusive) as a discoverer's file of groups of 1,000
// loopback targets; generation labels the first group, so that a new one changes that group alone.
func writeScaleFile(tb testing.TB, path string, from, to, generation int) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	w.WriteString("[")
	for g := from; g < to; g += 1000 {
		if g > from {
			w.WriteString(",")
		}
		w.WriteString(`{"targets":[`)
		for i := g; i < min(g+1000, to); i++ {
			if i > g {
				w.WriteString(",")
			}
			fmt.Fprintf(w, `"127.%d.%d.%d:9100"`, i>>16&255, i>>8&255, i&255)
		}
		fmt.Fprintf(w, `],"labels":{"group":"%d","generation":"%d"}}`, g/1000, generation*boolInt(g == from))
	}
	w.WriteString("]")
	if w.Flush() != nil || os.WriteFile(path+".tmp", b.Bytes(), 0o644) != nil || os.Rename(path+".tmp", path) != nil {
		tb.Fatal("cannot write", path)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// peakRSS is the process's peak resident set (VmHWM).
func peakRSS(tb testing.TB) uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	tb.Fatal("no VmHWM in /proc/self/status")
	return 0
}
