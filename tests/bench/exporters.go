package main

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// exporter is a deterministic target on a loopback port: its series are fixed, their values change on
// every scrape, and it counts the scrapes it served, which is how samples are counted for every system alike.
type exporter struct {
	addr     string
	kind     string
	series   int
	requests atomic.Int64
	prefixes [][]byte // each series line up to its value
	server   *http.Server

	mu    sync.Mutex
	times []time.Time // when each request arrived, for the spread (spread.go)
}

// kinds of target: a node_exporter-sized one, a large one, and one made of histograms.
func seriesOf(kind string, n int) []string {
	var out []string
	switch kind {
	case "histogram":
		// 12 buckets + sum + count per label set.
		for h := 0; len(out) < n; h++ {
			name := fmt.Sprintf("bench_request_duration_seconds_%d", h/8)
			for _, le := range []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"} {
				out = append(out, fmt.Sprintf(`%s_bucket{handler="/api/%d",method="GET",le=%q}`, name, h%8, le))
			}
			out = append(out, fmt.Sprintf(`%s_sum{handler="/api/%d",method="GET"}`, name, h%8), fmt.Sprintf(`%s_count{handler="/api/%d",method="GET"}`, name, h%8))
		}
	default:
		// Shaped like node_exporter: a few families with a handful of labels each.
		for i := 0; len(out) < n; i++ {
			switch i % 4 {
			case 0:
				out = append(out, fmt.Sprintf(`node_cpu_seconds_total{cpu="%d",mode="user"}`, i/4))
			case 1:
				out = append(out, fmt.Sprintf(`node_network_receive_bytes_total{device="eth%d"}`, i/4))
			case 2:
				out = append(out, fmt.Sprintf(`node_filesystem_avail_bytes{device="/dev/sda%d",fstype="ext4",mountpoint="/mnt/%d"}`, i/4, i/4))
			default:
				out = append(out, fmt.Sprintf(`bench_gauge_%d`, i/4))
			}
		}
	}
	return out[:n]
}

func startExporter(kind string, series int) (*exporter, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &exporter{addr: l.Addr().String(), kind: kind, series: series}
	for _, s := range seriesOf(kind, series) {
		e.prefixes = append(e.prefixes, []byte(s+" "))
	}
	e.server = &http.Server{Handler: http.HandlerFunc(e.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.server.Serve(l) }()
	return e, nil
}

func (e *exporter) serve(w http.ResponseWriter, _ *http.Request) {
	n := e.requests.Add(1)
	e.mu.Lock()
	e.times = append(e.times, time.Now())
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	buf := make([]byte, 0, 64*len(e.prefixes))
	for i, p := range e.prefixes {
		buf = append(buf, p...)
		buf = strconv.AppendInt(buf, n*int64(i+1), 10)
		buf = append(buf, '\n')
	}
	_, _ = w.Write(buf)
}

// fleet is every target of one run.
type fleet []*exporter

// startFleet starts n targets: node-sized ones of the given series count, with one 10,000-series target and
// one histogram-heavy target among them once there are three or more.
func startFleet(n, series int) (fleet, error) {
	var f fleet
	for i := range n {
		kind, count := "node", series
		switch {
		case n >= 3 && i == 0:
			kind, count = "large", 10000
		case n >= 3 && i == 1:
			kind, count = "histogram", series
		}
		e, err := startExporter(kind, count)
		if err != nil {
			f.stop()
			return nil, err
		}
		if n > 5000 {
			// A listener and a kept-alive connection per target would pass this machine's 20,000 open
			// files: past 5,000 targets each scrape gets a connection of its own.
			e.server.SetKeepAlivesEnabled(false)
		}
		f = append(f, e)
	}
	return f, nil
}

// samples is how many samples the targets have served so far.
func (f fleet) samples() int64 {
	var n int64
	for _, e := range f {
		n += e.requests.Load() * int64(e.series)
	}
	return n
}

// perGather is how many samples one scrape of every target yields: their series, and the four series
// a scraper adds per target (up, scrape_duration_seconds and the two sample counts).
func (f fleet) perGather() int {
	n := 0
	for _, e := range f {
		n += e.series + 4
	}
	return n
}

func (f fleet) quoted(prefix string) string {
	q := make([]string, len(f))
	for i, e := range f {
		q[i] = strconv.Quote(prefix + e.addr)
	}
	return strings.Join(q, ", ")
}

func (f fleet) stop() {
	for _, e := range f {
		_ = e.server.Close()
	}
}
