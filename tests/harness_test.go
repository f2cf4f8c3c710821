// Package tests holds the end-to-end tests: the plugin and the runner binary against real servers started
// on loopback, and protocol-faithful fakes where no real server can run here.
package tests

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
)

// requireServers is set by the README's test command (make test): a missing server binary then fails the
// test instead of skipping it.
var requireServers = os.Getenv("DP_REQUIRE_SERVERS") != ""

// needBinary returns the path of a server binary, or skips (plain go test) or fails (make test) without it.
func needBinary(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	for _, c := range append([]string{name}, candidates...) {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
		if filepath.IsAbs(c) {
			if _, err := os.Stat(c); err == nil {
				return c
			}
		}
	}
	if requireServers {
		t.Fatalf("%s is not installed; make test installs it", name)
	}
	t.Skipf("%s is not installed (make test installs it)", name)
	return ""
}

// RunSD runs one section's Prometheus SD configuration through the plugin's own discovery runner, for
// tests that look at the target groups (and __meta_* labels) before any scraping; it stops when the test
// ends. The groups are read with runner.Groups(key).
func RunSD(t testing.TB, cfg promdiscovery.Config) (*discovery.Manager, discovery.Key) {
	t.Helper()
	key := discovery.Key{Service: cfg.Name(), ID: "test"}
	r := discovery.NewManager(discovery.Configs{key: cfg}, slog.New(slog.DiscardHandler), nil)
	r.Start()
	t.Cleanup(r.Stop)
	return r, key
}

// Run is the plugin running in this process, configured from TOML through Telegraf's own config loader,
// exactly as inside Telegraf.
type Run struct {
	T      testing.TB
	Plugin *plugin.DiscoveringPrometheus
	Acc    *testutil.Accumulator
	Log    *testutil.CaptureLogger
}

// loadConfig is the one way the tests read a Telegraf configuration: with Telegraf's own loader, as
// Telegraf reads its file. The configuration holds one input, [[inputs.discovering_prometheus]], returned
// not yet initialised. It returns errors rather than failing a test, for the child processes.
func loadConfig(toml []byte) (*config.Config, *plugin.DiscoveringPrometheus, error) {
	c := config.NewConfig()
	if err := c.LoadConfigData(toml, "test.conf"); err != nil {
		return nil, nil, err
	}
	if len(c.Inputs) != 1 {
		return nil, nil, fmt.Errorf("%d inputs, want 1", len(c.Inputs))
	}
	p, ok := c.Inputs[0].Input.(*plugin.DiscoveringPrometheus)
	if !ok {
		return nil, nil, fmt.Errorf("input is %T", c.Inputs[0].Input)
	}
	return c, p, nil
}

// ScraperTable is a [[scraper]] table of the plugin: its name, db and rp, the discoverer it scrapes the
// targets of (section and id), and more keys, each a line "key = value".
func ScraperTable(name, db, rp, service, id string, keys ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  [[inputs.discovering_prometheus.scraper]]\n    name = %q\n    db = %q\n    rp = %q\n", name, db, rp)
	fmt.Fprintf(&b, "    discoverer-service = %q\n    discoverer-id = %q\n", service, id)
	for _, k := range keys {
		b.WriteString("    " + k + "\n")
	}
	return b.String()
}

// LoadPlugin parses a Telegraf configuration holding one [[inputs.discovering_prometheus]] table and
// returns the plugin, not yet initialised.
func LoadPlugin(t testing.TB, toml string) *plugin.DiscoveringPrometheus {
	t.Helper()
	_, p, err := loadConfig([]byte(toml))
	require.NoError(t, err)
	return p
}

// StartPlugin loads, initialises and starts the plugin; it is stopped when the test ends.
func StartPlugin(t testing.TB, toml string) *Run {
	t.Helper()
	r := startPlugin(t, toml)
	t.Cleanup(r.Plugin.Stop)
	return r
}

// startPlugin is StartPlugin for a test that stops the plugin itself.
func startPlugin(t testing.TB, toml string) *Run {
	t.Helper()
	r := &Run{T: t, Plugin: LoadPlugin(t, toml), Acc: &testutil.Accumulator{}, Log: &testutil.CaptureLogger{Name: "discovering_prometheus"}}
	r.Plugin.Log = r.Log
	require.NoError(t, r.Plugin.Init())
	require.NoError(t, r.Plugin.Start(r.Acc))
	return r
}

// Gather runs one gather and returns its metrics.
func (r *Run) Gather() []telegraf.Metric {
	r.T.Helper()
	r.Acc.ClearMetrics()
	require.NoError(r.T, r.Plugin.Gather(r.Acc))
	return r.Acc.GetTelegrafMetrics()
}

// GatherUntil gathers once a second (the scrape-interval the tests use, so every target is due at each
// gather) until ok accepts the metrics of one gather, or fails after the timeout.
func (r *Run) GatherUntil(timeout time.Duration, what string, ok func([]telegraf.Metric) bool) []telegraf.Metric {
	r.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ms := r.Gather()
		if ok(ms) {
			return ms
		}
		if time.Now().After(deadline) {
			r.T.Fatalf("after %s: %s; last gather had instances %v", timeout, what, Instances(ms, "up"))
		}
		time.Sleep(time.Second)
	}
}

// Instances lists the distinct instance tags of the metrics of one measurement (all when name is "").
func Instances(ms []telegraf.Metric, name string) []string {
	seen := map[string]bool{}
	for _, m := range ms {
		if name == "" || m.Name() == name {
			if v, ok := m.GetTag("instance"); ok {
				seen[v] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Up returns the up value of each instance in the metrics.
func Up(ms []telegraf.Metric) map[string]float64 {
	up := map[string]float64{}
	for _, m := range ms {
		if m.Name() == "up" {
			v, _ := m.GetField("value")
			up[m.Tags()["instance"]] = v.(float64)
		}
	}
	return up
}

// Find returns the metrics of one measurement whose tags include all of the given ones.
func Find(ms []telegraf.Metric, name string, tags map[string]string) []telegraf.Metric {
	var out []telegraf.Metric
next:
	for _, m := range ms {
		if m.Name() != name {
			continue
		}
		for k, v := range tags {
			if got, ok := m.GetTag(k); !ok || got != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// Exporter is a real Prometheus exporter (client_golang's promhttp) on a loopback port, with metrics that
// say which exporter they come from.
type Exporter struct {
	Addr     string
	Requests *prometheus.CounterVec
	server   *http.Server
	listener net.Listener
}

// StartExporter serves exporter_info{exporter=name} 1, a counter of requests and a histogram.
func StartExporter(t testing.TB, name string) *Exporter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e := serveExporter(name, l)
	t.Cleanup(e.Close)
	return e
}

// StartExporterOn serves an exporter on a given loopback address (for discovery providers that name
// hosts and ports up front).
func StartExporterOn(t testing.TB, name, addr string) *Exporter {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	e := serveExporter(name, l)
	t.Cleanup(e.Close)
	return e
}

func serveExporter(name string, l net.Listener) *Exporter {
	registry := prometheus.NewRegistry()
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "exporter_info", Help: "Which exporter this is.", ConstLabels: prometheus.Labels{"exporter": name}})
	info.Set(1)
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exporter_requests_total", Help: "Scrapes served."}, []string{"code"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "exporter_latency_seconds", Help: "A histogram.", Buckets: []float64{0.1, 1}})
	latency.Observe(0.5)
	registry.MustRegister(info, requests, latency)
	e := &Exporter{Addr: l.Addr().String(), Requests: requests, listener: l}
	handler := promhttp.InstrumentHandlerCounter(requests, promhttp.HandlerFor(registry, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	e.server = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.server.Serve(l) }()
	return e
}

// Close stops the exporter.
func (e *Exporter) Close() { _ = e.server.Close() }

// Port is the exporter's port.
func (e *Exporter) Port() string {
	_, port, _ := net.SplitHostPort(e.Addr)
	return port
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Eventually polls cond every 50ms until it holds, or fails after the timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopAtCleanup ends a started process when the test ends: stop asks it to (a signal, its stdin closed),
// and it is killed if it has not exited within 15 s. When the test failed, output() is logged as what.
func stopAtCleanup(t testing.TB, cmd *exec.Cmd, stop func(), what string, output func() string) {
	t.Cleanup(func() {
		stop()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s:\n%s", what, output())
		}
	})
}

// CountLog counts the captured log lines of a level ('E', 'W', 'I', 'D') that contain every part.
func CountLog(l *testutil.CaptureLogger, level byte, parts ...string) int {
	n := 0
next:
	for _, e := range l.Messages() {
		if e.Level != level {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(e.Text, p) {
				continue next
			}
		}
		n++
	}
	return n
}

var (
	buildMu   sync.Mutex
	buildDir  string
	built     = map[string]string{}
	buildErrs = map[string]error{}
)

// buildOnce runs build once per test run for each name and returns the binary's path.
func buildOnce(t testing.TB, name string, build func() (string, error)) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if _, ok := built[name]; !ok {
		built[name], buildErrs[name] = build()
	}
	require.NoError(t, buildErrs[name])
	return built[name]
}

// buildBinary builds a main package of this module with the given build tags once per test run and returns
// the binary's path.
func buildBinary(t testing.TB, pkg string, tags ...string) string {
	t.Helper()
	name := strings.Join(append([]string{filepath.Base(pkg)}, tags...), "-")
	return buildOnce(t, name, func() (string, error) {
		if buildDir == "" {
			dir, err := os.MkdirTemp("", "dp-bin-")
			if err != nil {
				return "", err
			}
			buildDir = dir
		}
		path := filepath.Join(buildDir, name)
		args := []string{"build", "-o", path, "-tags", strings.Join(tags, ","), "../" + pkg}
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return path, nil
	})
}

// PrometheusOfGoMod is Prometheus' own server (cmd/prometheus, a tool line of go.mod) at the version of
// the library this module is built with, built once per test run. `go tool -n` builds it into Go's build
// cache and prints its path: only the first run on a machine compiles it (about 2 minutes warm, more cold).
func PrometheusOfGoMod(t testing.TB) string {
	t.Helper()
	return buildOnce(t, "go tool prometheus", func() (string, error) {
		out, err := exec.Command("go", "tool", "-n", "prometheus").Output()
		if err != nil {
			var stderr []byte
			if exit, ok := err.(*exec.ExitError); ok {
				stderr = exit.Stderr
			}
			return "", fmt.Errorf("go tool -n prometheus: %w\n%s", err, stderr)
		}
		return strings.TrimSpace(string(out)), nil
	})
}

// RunnerBinary is cmd/discovering-prometheus, built once per test run.
func RunnerBinary(t testing.TB) string { return buildBinary(t, "cmd/discovering-prometheus") }

// KubernetesOnlyRunner is cmd/discovering-prometheus built with the kubernetes discoverer alone (and static
// and file, which every build has), as for a DaemonSet: -tags remove_all_sd,enable_kubernetes_sd.
func KubernetesOnlyRunner(t testing.TB) string {
	return buildBinary(t, "cmd/discovering-prometheus", "remove_all_sd", "enable_kubernetes_sd")
}

// TelegrafBinary is cmd/telegraf, the custom Telegraf, built once per test run.
func TelegrafBinary(t testing.TB) string { return buildBinary(t, "cmd/telegraf") }

func TestMain(m *testing.M) {
	if mode := os.Getenv("DP_TEST_CHILD"); mode != "" {
		runChild(mode)
	}
	// A runner on its embedded default serves its status page on a port of its own, not on 9274, which
	// another runner (another test, another test run) may hold.
	os.Setenv(statusEnv, "127.0.0.1:0")
	code := m.Run()
	stopKubeAPIServer()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}
