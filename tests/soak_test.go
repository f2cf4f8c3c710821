package tests

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

var soakDuration = flag.Duration("soak.duration", 30*time.Second, "how long TestSoak runs (the documented long run is 30m)")

// soakTarget is one loopback exporter of the soak: it remembers when it was scraped.
type soakTarget struct {
	addr    string
	server  *http.Server
	mu      sync.Mutex
	scrapes []time.Time
}

func (s *soakTarget) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.scrapes = append(s.scrapes, time.Now())
	n := len(s.scrapes)
	s.mu.Unlock()
	fmt.Fprintf(w, "# TYPE soak_scrapes counter\nsoak_scrapes_total %d\nsoak_gauge{kind=\"a\"} 1\nsoak_gauge{kind=\"b\"} 2\n", n)
}

// soakAcc counts what arrives per instance instead of keeping it, so that the heap measures the plugin.
type soakAcc struct {
	testutil.Accumulator
	mu      sync.Mutex
	samples map[string]int // soak_scrapes_total samples per instance
}

func (a *soakAcc) AddMetric(m telegraf.Metric) {
	if m.Name() != "soak_scrapes_total" {
		return
	}
	a.mu.Lock()
	a.samples[m.Tags()["instance"]]++
	a.mu.Unlock()
}

// TestSoak runs 2,000 targets with discovery churn (50 removed and 50 added every second through
// file-discovery) for -soak.duration, and asserts that goroutines and heap come back to near their
// baseline, that no target is scraped twice within one interval, and that targets that stayed lost no
// sample.
func TestSoak(t *testing.T) {
	const live, spare, churn = 2000, 200, 50
	pool := make([]*soakTarget, live+spare)
	for i := range pool {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		pool[i] = &soakTarget{addr: l.Addr().String()}
		pool[i].server = &http.Server{Handler: pool[i], ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = pool[i].server.Serve(l) }()
		t.Cleanup(func() { _ = pool[i].server.Close() })
	}
	// The first 1,900 never leave; the last 100 of the live set and the spares churn.
	const stable = live - 100
	in := map[int]bool{}
	for i := range live {
		in[i] = true
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "targets.json")
	write := func() {
		var targets []string
		for i := range pool {
			if in[i] {
				targets = append(targets, pool[i].addr)
			}
		}
		b, err := json.Marshal([]map[string]any{{"targets": targets}})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(file+".tmp", b, 0o644))
		require.NoError(t, os.Rename(file+".tmp", file))
	}
	write()

	baseGoroutines := runtime.NumGoroutine()
	r := StartPlugin(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  max_concurrent_scrapes = 256
  [[inputs.discovering_prometheus.scraper]]
    name = "soak"
    db = "d"
    rp = "r"
    discoverer-service = "file-discovery"
    discoverer-id = "f"
    scrape-interval = "1s"
    scrape-timeout = "900ms"
  [[inputs.discovering_prometheus.file-discovery]]
    id = "f"
    files = ["%s"]
`, file))
	acc := &soakAcc{samples: map[string]int{}}
	gather := func() { require.NoError(t, r.Plugin.Gather(acc)) }

	// Warm up, then take the baseline with every target known and scraped.
	for range 3 {
		gather()
		time.Sleep(time.Second)
	}
	heapBase, goroutinesBase := heapInUse(), runtime.NumGoroutine()
	rng := rand.New(rand.NewPCG(1, 2))
	var churned atomic.Int64
	deadline := time.Now().Add(*soakDuration)
	for time.Now().Before(deadline) {
		// Churn: 50 of the churning live targets leave, 50 spares join.
		var out, spares []int
		for i := stable; i < len(pool); i++ {
			if in[i] {
				out = append(out, i)
			} else {
				spares = append(spares, i)
			}
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		rng.Shuffle(len(spares), func(i, j int) { spares[i], spares[j] = spares[j], spares[i] })
		for k := range churn {
			delete(in, out[k])
			in[spares[k]] = true
		}
		churned.Add(churn)
		write()
		gather()
		time.Sleep(time.Second)
	}
	// Churn stops; connections to targets that left close once idle past the scraper's idle timeout
	// (5s at a 1s interval).
	for range 7 {
		gather()
		time.Sleep(time.Second)
	}
	heapEnd, goroutinesEnd := heapInUse(), runtime.NumGoroutine()
	t.Logf("%s: %d targets churned; heap %.1f -> %.1f MiB; goroutines %d (before the plugin %d) -> %d",
		*soakDuration, churned.Load(), float64(heapBase)/(1<<20), float64(heapEnd)/(1<<20), baseGoroutines, goroutinesBase, goroutinesEnd)

	require.LessOrEqual(t, goroutinesEnd, goroutinesBase+64, "goroutines grow with churn")
	require.LessOrEqual(t, heapEnd, heapBase+heapBase/2+32<<20, "heap grows with churn")

	for i, target := range pool {
		target.mu.Lock()
		scrapes := append([]time.Time(nil), target.scrapes...)
		target.mu.Unlock()
		// No target is scraped twice within one interval (the scheduler's tolerance is a tenth of it).
		for k := 1; k < len(scrapes); k++ {
			require.GreaterOrEqual(t, scrapes[k].Sub(scrapes[k-1]), 850*time.Millisecond, "target %s scraped twice in one interval", target.addr)
		}
		// Every scrape of a target that stayed delivered its samples.
		if i < stable {
			acc.mu.Lock()
			got := acc.samples[target.addr]
			acc.mu.Unlock()
			require.Equal(t, len(scrapes), got, "samples of %s", target.addr)
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
