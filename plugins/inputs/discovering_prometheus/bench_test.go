package discovering_prometheus

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/testutil"
)

// countingAcc takes metrics and drops them, as outputs.discard would.
type countingAcc struct {
	testutil.Accumulator
	n atomic.Int64
}

func (c *countingAcc) AddMetric(telegraf.Metric) { c.n.Add(1) }

// benchPlugin starts the plugin on one loopback target serving a real node_exporter body (507 samples),
// scraped every second; it stops when the benchmark ends.
func benchPlugin(b *testing.B) *DiscoveringPrometheus {
	body, err := os.ReadFile("../../../scrape/testdata/node_exporter.prom")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return startBenchPlugin(b, strings.Replace(scraperConf(`    scrape-interval = "1s"`, ""), "localhost:9100", strings.TrimPrefix(srv.URL, "http://"), 1))
}

// startBenchPlugin starts the plugin of the configuration into an accumulator that drops the metrics; it
// stops when the benchmark ends.
func startBenchPlugin(b *testing.B, conf string) *DiscoveringPrometheus {
	p, err := loadTelegraf(b, conf)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Init(); err != nil {
		b.Fatal(err)
	}
	if err := p.Start(&countingAcc{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Stop)
	return p
}

// BenchmarkScrape is one scrape of a real node_exporter body (507 samples) over loopback HTTP: fetch, parse,
// target labels, conversion to Kapacitor-format metrics. ns/sample and allocs/sample are the figures; the
// Telegraf metric (its tags and field) is the only allocation the output requires.
func BenchmarkScrape(b *testing.B) {
	p := benchPlugin(b)
	acc := &countingAcc{}
	if err := p.Gather(acc); err != nil { // discovery, connection, interned strings
		b.Fatal(err)
	}
	now := time.Now()
	acc.n.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// Each iteration is a gather one interval later, so the target is due every time.
		p.gatherAt(acc, now.Add(time.Duration(i+1)*time.Second))
	}
	b.StopTimer()
	samples := float64(acc.n.Load())
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/samples, "ns/sample")
}

// BenchmarkScrapeLineProtocol is BenchmarkScrape on the runner's path: samples straight to line protocol.
func BenchmarkScrapeLineProtocol(b *testing.B) {
	p := benchPlugin(b)
	out := &countingWriter{}
	if _, err := p.GatherLineProtocol(out); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	out.lines.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p.gatherLineProtocolAt(out, now.Add(time.Duration(i+1)*time.Second))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(out.lines.Load()), "ns/sample")
}

// countingWriter counts lines and forgets them.
type countingWriter struct{ lines atomic.Int64 }

func (c *countingWriter) Write(b []byte) (int, error) {
	c.lines.Add(int64(bytes.Count(b, []byte{'\n'})))
	return len(b), nil
}

// BenchmarkReloadOneOfHundredJobs is a reload that changes one job's interval among 100 jobs of 100
// targets each (10,000 targets): reading prometheus.yml, building the plan, applying it, and the sync of
// every scraper's targets that the next gather does. ns/op is the time to apply.
func BenchmarkReloadOneOfHundredJobs(b *testing.B) {
	yml := filepath.Join(b.TempDir(), "prometheus.yml")
	write := func(firstInterval string) {
		text := hundredJobs(firstInterval, func(job int) string {
			targets := make([]string, 100)
			for i := range targets {
				targets[i] = fmt.Sprintf("'10.%d.%d.1:9100'", job, i)
			}
			return "{targets: [" + strings.Join(targets, ",") + "]}"
		})
		if err := os.WriteFile(yml, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("10s")
	p, err := loadTelegraf(b, fmt.Sprintf("[[inputs.discovering_prometheus]]\n  prometheus_config = %q\n", yml))
	if err != nil {
		b.Fatal(err)
	}
	p.Log = testutil.Logger{Quiet: true}
	if err := p.Init(); err != nil {
		b.Fatal(err)
	}
	if err := p.Start(&countingAcc{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Stop)
	<-p.sd.Ready()
	p.syncTargets()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		write([]string{"20s", "10s"}[i%2])
		b.StartTimer()
		if err := p.Reload(); err != nil {
			b.Fatal(err)
		}
		p.gatherMu.Lock()
		p.syncTargets()
		p.gatherMu.Unlock()
	}
	b.StopTimer()
	if n := len(p.Targets().Active); n != 10_000 {
		b.Fatalf("%d targets", n)
	}
}
