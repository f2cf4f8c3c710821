package discovering_prometheus

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// benchInterval is the scrape interval of BenchmarkScheduleCPU, 10 s or DP_BENCH_INTERVAL: one round of
// the spread lasts it.
var benchInterval = 10 * time.Second

// BenchmarkScheduleCPU compares the CPU per sample of the two ways of scraping the same targets, the burst
// (a gather scrapes every due target at once) and the spread (scrape.Loop, each target at its own phase),
// in the same run and interleaved: each iteration is one round of each, every target scraped once, each
// written as the runner writes it (the burst through one buffer, the spread with a write per scrape). The
// CPU is this process's user+sys time (getrusage), the garbage collection of each round's garbage included;
// the exporters run in a process of their own, which is not counted. Run it as
//
//	go test ./plugins/inputs/discovering_prometheus -run '^$' -bench ScheduleCPU -benchtime 3x -count 6
//
// and compare burst-cpu-ns/sample with spread-cpu-ns/sample (spread/burst is their ratio). A CPU profile
// (-cpuprofile) tells the rounds apart by the label round (go tool pprof -tagfocus round=spread).
func BenchmarkScheduleCPU(b *testing.B) {
	if d, err := time.ParseDuration(os.Getenv("DP_BENCH_INTERVAL")); err == nil {
		benchInterval = d
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			addrs := benchExporters(b, n)
			burst, spread := benchTargetsPlugin(b, addrs), benchTargetsPlugin(b, addrs)
			out := openDevNull(b)
			var burstCPU, spreadCPU time.Duration
			var burstSamples, spreadSamples uint64
			now := time.Now()
			b.ResetTimer()
			for range b.N {
				now = now.Add(benchInterval)
				cpu, samples := measureRound(burst, "burst", func() { burstRound(burst, now, out) })
				burstCPU, burstSamples = burstCPU+cpu, burstSamples+samples
				cpu, samples = measureRound(spread, "spread", func() { spreadRound(spread, &lockedOut{w: out}) })
				spreadCPU, spreadSamples = spreadCPU+cpu, spreadSamples+samples
			}
			burstNs := float64(burstCPU.Nanoseconds()) / float64(burstSamples)
			spreadNs := float64(spreadCPU.Nanoseconds()) / float64(spreadSamples)
			b.ReportMetric(burstNs, "burst-cpu-ns/sample")
			b.ReportMetric(spreadNs, "spread-cpu-ns/sample")
			b.ReportMetric(spreadNs/burstNs, "spread/burst")
			b.ReportMetric(0, "ns/op") // wall time is one interval per iteration, whatever the cost
		})
	}
}

// burstRound scrapes every target of p at once, due at now, as a gather does.
func burstRound(p *DiscoveringPrometheus, now time.Time, out io.Writer) {
	buf := bufio.NewWriterSize(out, 256<<10)
	w := &lockedOut{w: buf}
	var sinks []lineWriter
	scrape.Run(p.ctx, p.scrapers, now, p.MaxConcurrentScrapes, func() scrape.Sink {
		k := p.lineSink(w)
		sinks = append(sinks, k)
		return k
	})
	for _, k := range sinks {
		p.lineSinks.Put(k)
	}
	_ = buf.Flush()
}

// spreadRound runs the loop over p's targets for one interval, every target scraped once at its phase,
// then stops it.
func spreadRound(p *DiscoveringPrometheus, w io.Writer) {
	ctx, cancel := context.WithCancel(context.Background())
	loop := scrape.NewLoop(ctx, p.schedule(), p.MaxConcurrentScrapes, func() scrape.Sink { return p.lineSink(w) })
	loop.Update(p.scrapers)
	time.Sleep(benchInterval)
	cancel()
	loop.Wait()
}

// measureRound is the CPU that round took, with the collection of its garbage, and the samples it scraped.
// In a CPU profile its goroutines carry the label round=name (-tagfocus).
func measureRound(p *DiscoveringPrometheus, name string, round func()) (time.Duration, uint64) {
	runtime.GC()
	before, samples := processCPU(), scrapedSamples(p)
	pprof.Do(context.Background(), pprof.Labels("round", name), func(context.Context) {
		round()
		runtime.GC()
	})
	return processCPU() - before, scrapedSamples(p) - samples
}

func scrapedSamples(p *DiscoveringPrometheus) (n uint64) {
	for _, s := range p.scrapers {
		n += s.Stats().Samples.Load()
	}
	return n
}

// processCPU is this process's user and system time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// lockedOut is the runner's output: a writer the parse slots share. Over a bufio.Writer it is a gather's
// (the scrapes' lines through one buffer); over the file itself, serve mode's with -poll_interval (each
// scrape written as it ends).
type lockedOut struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *lockedOut) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.w.Write(b)
}

func openDevNull(b *testing.B) *os.File {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	return f
}

// benchTargetsPlugin starts the plugin on the targets, scraped every benchInterval, with its targets
// synced and nothing scraped yet.
func benchTargetsPlugin(b *testing.B, addrs []string) *DiscoveringPrometheus {
	p := startBenchPlugin(b, fmt.Sprintf(`[[inputs.discovering_prometheus]]
  max_concurrent_scrapes = 1000
  [[inputs.discovering_prometheus.scraper]]
    name = "bench"
    db = "prometheus"
    rp = "autogen"
    scrape-interval = %q
    scrape-timeout = %q
    discoverer-service = "static-discovery"
    discoverer-id = "bench"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "bench"
    targets = ["%s"]
`, benchInterval, benchInterval/2, strings.Join(addrs, `", "`)))
	if !p.awaitDiscovery() {
		b.Fatal("stopped")
	}
	p.syncTargets()
	if got := len(p.scrapers[0].Targets()); got != len(addrs) {
		b.Fatalf("%d targets, want %d", got, len(addrs))
	}
	return p
}

// benchExporters starts n loopback exporters of a real node_exporter body (507 samples) in a process of
// their own (TestBenchExporters), and returns their addresses.
func benchExporters(b *testing.B, n int) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchExporters$")
	cmd.Env = append(os.Environ(), "DP_BENCH_EXPORTERS="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("the exporters' process: %v", err)
	}
	addrs, ok := strings.CutPrefix(strings.TrimSpace(line), "exporters ")
	if !ok {
		b.Fatalf("the exporters' process said %q", line)
	}
	return strings.Split(addrs, " ")
}

// TestBenchExporters is the exporters' process of BenchmarkScheduleCPU, and nothing in a test run: with
// DP_BENCH_EXPORTERS=n it serves n loopback exporters, prints their addresses and serves until stdin ends.
func TestBenchExporters(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DP_BENCH_EXPORTERS"))
	if n == 0 {
		t.Skip("the exporters' process of BenchmarkScheduleCPU, run only by it")
	}
	body, err := os.ReadFile("../../../scrape/testdata/node_exporter.prom")
	if err != nil {
		t.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(body)
	})
	addrs := make([]string, n)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		go func() { _ = http.Serve(l, handler) }()
	}
	fmt.Println("exporters " + strings.Join(addrs, " "))
	_, _ = io.Copy(io.Discard, os.Stdin)
}
