package tests

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runOnce runs the runner binary with -once and returns its stdout and stderr.
func runOnce(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(RunnerBinary(t), append([]string{"-once"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func writeConfig(t *testing.T, toml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plugin.conf")
	require.NoError(t, os.WriteFile(path, []byte(toml), 0o644))
	return path
}

// The README's first command: the runner on its embedded default scrapes its own metrics endpoint.
func TestRunnerEmbeddedDefault(t *testing.T) {
	stdout, stderr, err := runOnce(t)
	require.NoError(t, err, stderr)
	ms := ParseLineProtocol(t, stdout)
	up := Find(ms, "up", map[string]string{"db": "telegraf", "rp": "autogen"})
	require.Len(t, up, 1)
	v, _ := up[0].GetField("value")
	require.Equal(t, 1.0, v)
	self := up[0].Tags()["instance"]
	require.True(t, strings.HasPrefix(self, "127.0.0.1:"), "the self-metrics endpoint is on loopback: %s", self)
	// Go runtime metrics and the runner's own scrape counters, with db/rp.
	require.NotEmpty(t, Find(ms, "go_goroutines", map[string]string{"instance": self, "db": "telegraf", "rp": "autogen"}))
	require.Len(t, Find(ms, "discovering_prometheus_targets", map[string]string{"scraper": "discovering-prometheus"}), 1)
	require.Len(t, Find(ms, "scrape_samples_scraped", nil), 1)
}

func TestRunnerNodeExporter(t *testing.T) {
	addr := startNodeExporter(t, "cpu", "meminfo", "loadavg")

	stdout, stderr, err := runOnce(t, "-config", writeConfig(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "node"
    db = "infra"
    rp = "two_weeks"
    discoverer-service = "static-discovery"
    discoverer-id = "nodes"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "nodes"
    targets = ["%s"]
    [inputs.discovering_prometheus.static-discovery.labels]
      dc = "lab"
`, addr)))
	require.NoError(t, err, stderr)
	ms := ParseLineProtocol(t, stdout)
	require.Equal(t, map[string]float64{addr: 1}, Up(ms))
	load := Find(ms, "node_load1", map[string]string{"instance": addr, "dc": "lab", "db": "infra", "rp": "two_weeks", "__name__": "node_load1"})
	require.Len(t, load, 1)
	require.NotContains(t, load[0].Tags(), "job")
	cpu := Find(ms, "node_cpu_seconds_total", map[string]string{"mode": "idle", "cpu": "0"})
	require.Len(t, cpu, 1)
	require.NotEmpty(t, Find(ms, "node_memory_MemTotal_bytes", nil))
	samples := Find(ms, "scrape_samples_scraped", nil)
	require.Len(t, samples, 1)
	n, _ := samples[0].GetField("value")
	// Every sample node_exporter served is in the output, beside the four synthetic series.
	require.Equal(t, int(n.(float64)), len(ms)-4)
}

// inputs.execd's protocol with -poll_interval_disabled: the first line on stdin is one gather of every
// target; from then on each target is scraped on its own schedule, and each line brings the scrapes held
// since the one before, each with its own timestamp.
func TestRunnerExecdProtocol(t *testing.T) {
	e := StartExporter(t, "execd")
	p := StartRunner(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "execd"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["%s"]
`, e.Addr), nil)
	time.Sleep(1500 * time.Millisecond)
	p.mu.Lock()
	require.Empty(t, p.lines, "nothing is gathered before a line arrives on stdin")
	p.mu.Unlock()
	ms := p.Gather()
	require.Equal(t, map[string]float64{e.Addr: 1}, Up(ms))
	require.Len(t, Find(ms, "exporter_info", map[string]string{"exporter": "execd", "db": "d", "rp": "r"}), 1)
	p.mu.Lock()
	written := len(p.lines)
	p.mu.Unlock()
	time.Sleep(3 * time.Second)
	p.mu.Lock()
	require.Len(t, p.lines, written, "the scrapes since the first line are held for the next")
	p.mu.Unlock()
	served := requests(t, e)
	require.GreaterOrEqual(t, served, 3.0, "scraped every second without a line")
	ms = p.GatherAll()
	infos := Find(ms, "exporter_info", map[string]string{"exporter": "execd", "db": "d", "rp": "r"})
	require.GreaterOrEqual(t, len(infos), 2, "the scrapes held")
	stamps := map[time.Time]bool{}
	for _, m := range infos {
		stamps[m.Time()] = true
	}
	require.Len(t, stamps, len(infos), "each scrape has its own timestamp")
}

// requests reads how many scrapes the exporter has served.
func requests(t *testing.T, e *Exporter) float64 {
	t.Helper()
	resp, err := http.Get("http://" + e.Addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(line, `exporter_requests_total{code="200"}`) {
			var v float64
			_, err := fmt.Sscan(strings.Fields(line)[1], &v)
			require.NoError(t, err)
			return v
		}
	}
	return 0
}

// With a poll interval, the runner gathers by itself.
func TestRunnerPolls(t *testing.T) {
	e := StartExporter(t, "poll")
	cmd := exec.Command(RunnerBinary(t), "-poll_interval", "200ms", "-config", writeConfig(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "poll"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["%s"]
`, e.Addr)))
	var stdout lockedBuffer
	cmd.Stdout = &stdout
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	ups := func() int { return strings.Count("\n"+stdout.String(), "\nup,") }
	Eventually(t, 10*time.Second, "three scrapes without any line on stdin", func() bool { return ups() >= 3 })
	// It gathers every 200ms, but scrapes the target only once per scrape-interval.
	start := time.Now()
	before := ups()
	time.Sleep(2 * time.Second)
	require.LessOrEqual(t, ups()-before, int(time.Since(start)/time.Second)+1)
}

// lockedBuffer is a buffer a command writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunnerErrors(t *testing.T) {
	for _, tc := range []struct {
		name, conf, want string
		file             string // in place of conf, a file that is there (or not) already
	}{
		{name: "config error names section and key", conf: `
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "a"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["localhost:1"]
`, want: `scraper "a": db: required`},
		{name: "wrong type names the line", conf: "[[inputs.discovering_prometheus]]\n  [[inputs.discovering_prometheus.scraper]]\n    name = 1\n", want: "line 3"},
		{name: "misspelt key", conf: "[[inputs.discovering_prometheus]]\n  [[inputs.discovering_prometheus.scraper]]\n    nmae = \"a\"\n", want: "nmae"}, //nolint:misspell // the misspelling is the test
		{name: "missing file", file: "/nonexistent.conf", want: "/nonexistent.conf"},
		// A file that never ends is read up to the limit, not until memory runs out.
		{name: "endless file", file: "/dev/zero", want: "-config: /dev/zero: larger than 2 MiB"},
		// Brackets nested deep enough to take the parser a minute (100,000) or to overflow its stack, a fatal
		// error with a Go stack trace (8 million, 16 MB, refused by its size before its nesting).
		{name: "nested 100k deep", conf: deepTOML(100_000), want: "plugin.conf:2: [ and { nest deeper than 100 levels (at byte 140)"},
		{name: "nested 8M deep", conf: deepTOML(8_000_000), want: "plugin.conf: larger than 2 MiB, the most a TOML configuration file may hold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = writeConfig(t, tc.conf)
			}
			RunnerBinary(t) // built before the clock starts
			start := time.Now()
			stdout, stderr, err := runOnce(t, "-config", file)
			require.Error(t, err)
			require.Less(t, time.Since(start), 10*time.Second, "a configuration error ends the runner promptly")
			require.Empty(t, stdout)
			require.Contains(t, stderr, tc.want)
			require.NotContains(t, stderr, "goroutine ", "an error, not a crash")
		})
	}
}

// deepTOML is the plugin's table with a key whose array nests depth levels deep.
func deepTOML(depth int) string {
	return "[[inputs.discovering_prometheus]]\n  a = " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n"
}

// The runner reads its file with Telegraf's loader: ${VAR} is expanded and a relabel replacement's $1 is
// left for the relabeling, as in telegraf.conf.
func TestRunnerConfigDollars(t *testing.T) {
	e := StartExporter(t, "dollars")
	cmd := exec.Command(RunnerBinary(t), "-once", "-config", writeConfig(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "dollars"
    db = "${DP_TEST_DB}"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      source-labels = ["__address__"]
      regex = "127\\.0\\.0\\.1:(.*)"
      target-label = "port"
      replacement = "p$1"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["%s"]
`, e.Addr)))
	cmd.Env = append(os.Environ(), "DP_TEST_DB=from_env")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	info := Find(ParseLineProtocol(t, stdout.String()), "exporter_info", nil)
	require.Len(t, info, 1)
	require.Equal(t, "p"+e.Port(), info[0].Tags()["port"])
	require.Equal(t, "from_env", info[0].Tags()["db"])
}

// A closed stdout ends the runner at its first write, with status 1 and an error on stderr that names
// stdout, rather than a silent death by SIGPIPE or gathers into nowhere.
func TestRunnerClosedStdout(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	require.NoError(t, r.Close())
	cmd := exec.Command(RunnerBinary(t), "-poll_interval_disabled")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	require.NoError(t, w.Close())
	defer stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// A request every 100 ms: the first after the target's first scrape, at its phase of its 10 s, writes.
	requests := time.NewTicker(100 * time.Millisecond)
	defer requests.Stop()
	timeout := time.After(30 * time.Second)
wait:
	for {
		_, _ = stdin.Write([]byte("\n"))
		select {
		case err = <-done:
			break wait
		case <-requests.C:
			continue
		case <-timeout:
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("the runner went on with stdout closed; stderr:\n%s", stderr.String())
		}
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, stderr.String())
	require.Equal(t, 1, exit.ExitCode(), "%v; stderr:\n%s", err, stderr.String())
	require.Contains(t, stderr.String(), "writing metrics to stdout: ")
	require.Contains(t, stderr.String(), "broken pipe")
}
