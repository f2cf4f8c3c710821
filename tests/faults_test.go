package tests

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

// TestFaults runs one subtest per fault of a target or a discovery provider. Each checks that only the
// faulty one is affected: it is down (up 0) and named by one clear log line, while every other target's
// samples arrive in the same gather, and the gather does not wait on the fault beyond its timeout.
func TestFaults(t *testing.T) {
	t.Run("timeout", testFaultTimeout)
	t.Run("trickle", testFaultTrickle)
	t.Run("1GiB-body", testFaultHugeBody)
	t.Run("gzip-bomb", testFaultGzipBomb)
	t.Run("parse-overruns-timeout", testFaultParseOverrun)
	t.Run("reset-mid-body", testFaultReset)
	t.Run("tls-unverified", testFaultTLS)
	t.Run("redirect-loop", testFaultRedirectLoop)
	t.Run("sample-limit", testFaultSampleLimit)
	t.Run("provider-500", testFaultProvider500)
	t.Run("provider-garbage", testFaultProviderGarbage)
	t.Run("provider-hangs", testFaultProviderHangs)
	t.Run("zookeeper-restart", testFaultZooKeeperRestart)
}

// faultTimeout is the scrape-timeout of the fault tests: a fault that holds a scrape is cut off after it.
const faultTimeout = 500 * time.Millisecond

// faultScraper is a scraper of the faulty target and two healthy exporters, all found by one
// static-discovery, with more scraper keys when a fault needs them.
func faultScraper(faulty string, good []*Exporter, keys string, timeout time.Duration) string {
	return fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  discovery_wait = "2s"
  [[inputs.discovering_prometheus.scraper]]
    name = "faults"
    db = "metrics"
    rp = "autogen"
    discoverer-service = "static-discovery"
    discoverer-id = "targets"
    scrape-interval = "%s"
    scrape-timeout = "%s"
%s
  [[inputs.discovering_prometheus.static-discovery]]
    id = "targets"
    targets = ["%s", "%s", "%s"]
`, max(time.Second, timeout), timeout, keys, faulty, good[0].Addr, good[1].Addr)
}

// requireOnlyFaulty checks one gather: the faulty target is down, the good ones up with their samples,
// exactly one warning or error was logged, naming the faulty target and saying what went wrong, and the
// gather took at most about the scrape timeout.
func requireOnlyFaulty(t *testing.T, r *Run, faulty string, good []*Exporter, why string) []telegraf.Metric {
	t.Helper()
	return requireOnlyFaultyWithin(t, r, faulty, good, why, faultTimeout)
}

// requireOnlyFaultyWithin is requireOnlyFaulty for a scraper of that scrape-timeout.
func requireOnlyFaultyWithin(t *testing.T, r *Run, faulty string, good []*Exporter, why string, timeout time.Duration) []telegraf.Metric {
	t.Helper()
	start := time.Now()
	ms := r.Gather()
	took := time.Since(start)
	want := map[string]float64{faulty: 0}
	for _, e := range good {
		want[e.Addr] = 1
		require.Len(t, Find(ms, "exporter_info", map[string]string{"instance": e.Addr, "db": "metrics", "rp": "autogen"}), 1,
			"%s's samples arrive in the same gather", e.Addr)
	}
	require.Equal(t, want, Up(ms))
	require.Less(t, took, timeout+3*time.Second, "the gather waited on the fault")
	problems := append(r.Log.Errors(), r.Log.Warnings()...)
	require.Len(t, problems, 1, "one log line for the fault: %v", r.Log.Messages())
	require.Contains(t, problems[0], faulty)
	require.Contains(t, problems[0], why)
	for _, e := range good {
		require.NotContains(t, problems[0], e.Addr)
	}
	return ms
}

// startFault starts the plugin on a scraper of the faulty address and two healthy exporters.
func startFault(t *testing.T, faulty, keys string) (*Run, []*Exporter) {
	return startFaultWithin(t, faulty, keys, faultTimeout)
}

// startFaultWithin is startFault with another scrape-timeout.
func startFaultWithin(t *testing.T, faulty, keys string, timeout time.Duration) (*Run, []*Exporter) {
	good := []*Exporter{StartExporter(t, "good-1"), StartExporter(t, "good-2")}
	return StartPlugin(t, faultScraper(faulty, good, keys, timeout)), good
}

// serveHTTP serves handler on a loopback port until the test ends, and returns its address.
func serveHTTP(t *testing.T, handler http.HandlerFunc) string {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// silentListener accepts connections and never reads or writes: a process that is stuck.
func silentListener(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func testFaultTimeout(t *testing.T) {
	addr := silentListener(t)
	r, good := startFault(t, addr, "")
	requireOnlyFaulty(t, r, addr, good, "context deadline exceeded")
}

func testFaultTrickle(t *testing.T) {
	// A valid body, a byte every 100ms: it would take minutes, the timeout allows half a second.
	addr := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		flusher := w.(http.Flusher)
		for _, b := range []byte(strings.Repeat("# a comment that never ends\n", 100)) {
			if _, err := w.Write([]byte{b}); err != nil {
				return
			}
			flusher.Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	r, good := startFault(t, addr, "")
	requireOnlyFaulty(t, r, addr, good, "context deadline exceeded")
}

// heapWatch samples the heap while a gather runs: the peak of HeapInuse above the baseline, and the bytes
// allocated in all.
type heapWatch struct {
	base, peak uint64
	totalAlloc uint64
	stop       chan struct{}
	done       chan struct{}
}

func watchHeap() *heapWatch {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h := &heapWatch{base: m.HeapInuse, peak: m.HeapInuse, totalAlloc: m.TotalAlloc, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			h.peak = max(h.peak, m.HeapInuse)
			select {
			case <-h.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return h
}

// end returns the peak heap growth and the bytes allocated since watchHeap.
func (h *heapWatch) end() (peak, allocated uint64) {
	close(h.stop)
	<-h.done
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h.peak = max(h.peak, m.HeapInuse)
	return h.peak - h.base, m.TotalAlloc - h.totalAlloc
}

// requireBoundedHeap gathers once with the heap watched, checks the fault is isolated, and that the heap
// grew by no more than the default body-size-limit allows: a scrape's buffer doubles up to the limit, so
// all it ever allocates is about twice the limit.
func requireBoundedHeap(t *testing.T, r *Run, faulty string, good []*Exporter, why string) {
	t.Helper()
	h := watchHeap()
	start := time.Now()
	requireOnlyFaultyWithin(t, r, faulty, good, why, memoryTimeout)
	took := time.Since(start)
	peak, allocated := h.end()
	t.Logf("gather %.2fs; heap: peak growth %.1f MiB, allocated %.1f MiB (body-size-limit %d MiB)",
		took.Seconds(), float64(peak)/(1<<20), float64(allocated)/(1<<20), defaultBodySizeLimit>>20)
	require.Less(t, peak, uint64(defaultBodySizeLimit*5/2), "peak heap growth")
	require.Less(t, allocated, uint64(defaultBodySizeLimit*5/2), "bytes allocated")
}

const (
	gib = 1 << 30
	// defaultBodySizeLimit is the scrapers' default body-size-limit, which the memory faults run with.
	defaultBodySizeLimit = 64 << 20
	// memoryTimeout is the scrape-timeout of the memory faults: long enough that the body size limit, not
	// the timeout, is what stops them on a busy machine.
	memoryTimeout = 5 * time.Second
)

func testFaultHugeBody(t *testing.T) {
	// 1 GiB of valid samples, written from one reused chunk so that the server allocates nothing, chunked:
	// without a Content-Length the scraper learns the size only by reading.
	chunk := bytes.Repeat([]byte("huge_body_series{some=\"label\"} 1\n"), 2000)
	var sent atomic.Int64
	addr := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		for left := int64(gib); left > 0; {
			n, err := w.Write(chunk[:min(int64(len(chunk)), left)])
			sent.Add(int64(n))
			left -= int64(n)
			if err != nil {
				return
			}
		}
	})
	r, good := startFaultWithin(t, addr, "", memoryTimeout)
	requireBoundedHeap(t, r, addr, good, fmt.Sprintf("body size limit of %d bytes exceeded", defaultBodySizeLimit))
	// The scraper hung up: the server got to write little more than the limit and the socket buffers.
	Eventually(t, 5*time.Second, "the server stopped writing", func() bool {
		before := sent.Load()
		time.Sleep(100 * time.Millisecond)
		return sent.Load() == before
	})
	t.Logf("the server wrote %.1f MiB of the 1 GiB body", float64(sent.Load())/(1<<20))
	require.Less(t, sent.Load(), int64(256<<20))
}

func testFaultGzipBomb(t *testing.T) {
	// 1 GiB once inflated, about a megabyte on the wire: one gzip member of 1 MiB, 1024 times (a gzip
	// stream may hold many members, and readers inflate them all as one body).
	var member bytes.Buffer
	zw, err := gzip.NewWriterLevel(&member, gzip.BestCompression)
	require.NoError(t, err)
	_, _ = zw.Write(bytes.Repeat([]byte("a"), 1<<20))
	require.NoError(t, zw.Close())
	bomb := bytes.Repeat(member.Bytes(), gib/(1<<20))
	t.Logf("gzip bomb: %d KiB inflating to 1 GiB", len(bomb)>>10)
	addr := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(bomb)
	})
	r, good := startFaultWithin(t, addr, "", memoryTimeout)
	requireBoundedHeap(t, r, addr, good, fmt.Sprintf("body size limit of %d bytes exceeded", defaultBodySizeLimit))
}

func testFaultParseOverrun(t *testing.T) {
	// 3 million series, 51 MiB of text (under the default body-size-limit), gzip-compressed so that the
	// fetch is quick: parsing them into Telegraf metrics takes seconds, and the scrape-timeout is 1s.
	const series = 3_000_000
	var text bytes.Buffer
	for i := range series {
		fmt.Fprintf(&text, "s{i=\"%07d\"} 1\n", i)
	}
	var body bytes.Buffer
	zw, err := gzip.NewWriterLevel(&body, gzip.BestSpeed)
	require.NoError(t, err)
	_, _ = zw.Write(text.Bytes())
	require.NoError(t, zw.Close())
	t.Logf("%d series: %.1f MiB, %.1f MiB compressed", series, float64(text.Len())/(1<<20), float64(body.Len())/(1<<20))
	addr := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(body.Bytes())
	})
	const timeout = time.Second
	r, good := startFaultWithin(t, addr, "", timeout)
	start := time.Now()
	ms := requireOnlyFaultyWithin(t, r, addr, good, "scrape timeout of 1s exceeded while parsing after", timeout)
	t.Logf("gather %.2fs", time.Since(start).Seconds())
	require.Empty(t, Find(ms, "s", nil), "a scrape that overran keeps none of its samples")
}

func testFaultReset(t *testing.T) {
	// Headers promise 1 MB, a few samples follow, then the connection is reset (RST, not FIN).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = c.Read(make([]byte, 4096))
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 1000000\r\n\r\n"+
					strings.Repeat("reset_series 1\n", 100))
				time.Sleep(50 * time.Millisecond)
				_ = c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}()
		}
	}()
	addr := l.Addr().String()
	r, good := startFault(t, addr, "")
	ms := requireOnlyFaulty(t, r, addr, good, "reading body after")
	require.Empty(t, Find(ms, "reset_series", nil), "nothing of the cut body is kept")
}

func testFaultTLS(t *testing.T) {
	// A server whose certificate no configured CA signed; the scraper asks for https for it alone.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "tls_series 1") }))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	r, good := startFault(t, addr, fmt.Sprintf(`
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      source-labels = ["__address__"]
      regex = %q
      target-label = "__scheme__"
      replacement = "https"`, strings.ReplaceAll(addr, ".", `\.`)))
	ms := requireOnlyFaulty(t, r, addr, good, "certificate signed by unknown authority")
	require.Empty(t, Find(ms, "tls_series", nil))
}

func testFaultRedirectLoop(t *testing.T) {
	addr := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
	})
	r, good := startFault(t, addr, "")
	requireOnlyFaulty(t, r, addr, good, "stopped after 10 redirects")
}

func testFaultSampleLimit(t *testing.T) {
	var body bytes.Buffer
	for i := range 100_000 {
		fmt.Fprintf(&body, "many_series{i=\"%d\"} %d\n", i, i)
	}
	addr := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(body.Bytes())
	})
	r, good := startFault(t, addr, `    sample-limit = 1000`)
	ms := requireOnlyFaulty(t, r, addr, good, "sample limit of 1000 exceeded")
	require.Empty(t, Find(ms, "many_series", nil), "a scrape over the limit keeps none of its samples")
}

// faultProvider is the plugin with two scrapers: one of healthy exporters from a static-discovery, one of
// the faulty provider's targets.
func faultProvider(good []*Exporter, service, keys string) string {
	return fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  discovery_wait = "2s"
  [[inputs.discovering_prometheus.scraper]]
    name = "good"
    db = "metrics"
    rp = "autogen"
    discoverer-service = "static-discovery"
    discoverer-id = "good"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.scraper]]
    name = "faulty"
    db = "metrics"
    rp = "autogen"
    discoverer-service = "%[3]s"
    discoverer-id = "faulty"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "good"
    targets = ["%[1]s", "%[2]s"]
  [[inputs.discovering_prometheus.%[3]s]]
    id = "faulty"
%[4]s
`, good[0].Addr, good[1].Addr, service, keys)
}

// requireGoodScraped checks that one gather has the healthy exporters' samples, and nothing else.
func requireGoodScraped(t *testing.T, ms []telegraf.Metric, good []*Exporter) {
	t.Helper()
	want := map[string]float64{}
	for _, e := range good {
		want[e.Addr] = 1
		require.Len(t, Find(ms, "exporter_info", map[string]string{"instance": e.Addr}), 1)
	}
	require.Equal(t, want, Up(ms))
}

func testFaultProvider500(t *testing.T) {
	// A Kubernetes API server that answers every request with 500.
	var requests atomic.Int64
	api := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcd is down","code":500}`, http.StatusInternalServerError)
	})
	good := []*Exporter{StartExporter(t, "good-1"), StartExporter(t, "good-2")}
	r := StartPlugin(t, faultProvider(good, "kubernetes", fmt.Sprintf("    api-servers = [\"http://%s\"]\n    role = \"pod\"", api)))
	start := time.Now()
	requireGoodScraped(t, r.Gather(), good)
	require.Less(t, time.Since(start), 5*time.Second, "the first gather waits discovery_wait at most")
	Eventually(t, 15*time.Second, "the failure logged", func() bool {
		return CountLog(r.Log, 'E', "kubernetes API request failed", `kubernetes "faulty"`) > 0
	})
	retried := requests.Load() + 3
	Eventually(t, 20*time.Second, "client-go retrying", func() bool { return requests.Load() >= retried })
	time.Sleep(time.Second)
	requireGoodScraped(t, r.Gather(), good)
	require.Equal(t, 1, CountLog(r.Log, 'E', `kubernetes "faulty"`), "the failure is logged once: %v", r.Log.Messages())
	require.Equal(t, 1, CountLog(r.Log, 'E'), "%v", r.Log.Messages())
}

func testFaultProviderGarbage(t *testing.T) {
	// A file_sd file that is not JSON, next to one that is: the good file's targets are scraped.
	dir := t.TempDir()
	good := []*Exporter{StartExporter(t, "good-1"), StartExporter(t, "good-2")}
	fileTarget := StartExporter(t, "from-file")
	writeTargets(t, filepath.Join(dir, "good.json"), []map[string]any{{"targets": []string{fileTarget.Addr}}})
	garbage := filepath.Join(dir, "garbage.json")
	require.NoError(t, os.WriteFile(garbage, []byte("[{\"targets\": [\"half a file"), 0o644))
	r := StartPlugin(t, faultProvider(good, "file-discovery", fmt.Sprintf("    files = [\"%s/*.json\"]", dir)))
	ms := r.Gather()
	require.Len(t, Find(ms, "exporter_info", map[string]string{"instance": fileTarget.Addr}), 1)
	requireGoodScraped(t, ms, append(good[:2:2], fileTarget))
	problems := append(r.Log.Errors(), r.Log.Warnings()...)
	require.Len(t, problems, 1, "%v", r.Log.Messages())
	require.Contains(t, problems[0], `file-discovery "faulty"`)
	require.Contains(t, problems[0], garbage)
}

func testFaultProviderHangs(t *testing.T) {
	// A Kubernetes API server that accepts connections and never answers.
	api := silentListener(t)
	good := []*Exporter{StartExporter(t, "good-1"), StartExporter(t, "good-2")}
	r := StartPlugin(t, faultProvider(good, "kubernetes", fmt.Sprintf("    api-servers = [\"http://%s\"]\n    role = \"pod\"", api)))
	start := time.Now()
	requireGoodScraped(t, r.Gather(), good)
	require.Less(t, time.Since(start), 5*time.Second, "the first gather waits discovery_wait at most")
	problems := append(r.Log.Errors(), r.Log.Warnings()...)
	require.Len(t, problems, 1, "%v", r.Log.Messages())
	require.Contains(t, problems[0], "discovery_wait")
	require.Contains(t, problems[0], `kubernetes "faulty"`, "the warning names the discoverer that did not answer")
	time.Sleep(time.Second)
	requireGoodScraped(t, r.Gather(), good)
}

func testFaultZooKeeperRestart(t *testing.T) {
	z := StartZooKeeper(t)
	member := StartExporter(t, "member")
	conn := z.Connect()
	zookeeperMkdirs(t, conn, "/nerve/services/web")
	// A persistent member, so that it is still listed however long ZooKeeper takes to come back.
	_, err := conn.Create("/nerve/services/web/member", fmt.Appendf(nil, `{"host":"127.0.0.1","port":%s,"name":"member"}`, member.Port()), 0, zk.WorldACL(zk.PermAll))
	require.NoError(t, err)
	good := []*Exporter{StartExporter(t, "good-1"), StartExporter(t, "good-2")}
	r := StartPlugin(t, faultProvider(good, "nerve", fmt.Sprintf("    servers = [%q]\n    paths = [\"/nerve/services/web\"]\n    timeout = \"10s\"", z.Addr)))
	all := []*Exporter{good[0], good[1], member}
	r.GatherUntil(15*time.Second, "the member and the static targets scraped", func(ms []telegraf.Metric) bool {
		return len(Up(ms)) == 3
	})

	// ZooKeeper dies: one error names it, and every target, the member it last listed included, is still
	// scraped in each gather.
	z.Stop()
	Eventually(t, 15*time.Second, "the loss logged", func() bool {
		return CountLog(r.Log, 'E', "cannot connect to ZooKeeper", z.Addr) == 1
	})
	for range 3 {
		time.Sleep(time.Second)
		requireGoodScraped(t, r.Gather(), all)
	}
	require.Equal(t, 1, CountLog(r.Log, 'E'), "%v", r.Log.Messages())

	z.Start()
	Eventually(t, 30*time.Second, "the reconnection logged", func() bool {
		return CountLog(r.Log, 'I', "connected to ZooKeeper again") == 1
	})
	time.Sleep(time.Second)
	requireGoodScraped(t, r.Gather(), all)
	require.Equal(t, 1, CountLog(r.Log, 'E'), "%v", r.Log.Messages())
}
