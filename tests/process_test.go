package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	"github.com/stretchr/testify/require"
)

// NetNS is a network namespace the test creates, with its own loopback and, through `ip netns exec`, its
// own /etc/resolv.conf and /etc/hosts (from /etc/netns/NAME). Discovery that reads the machine's resolver
// or hard-codes API hosts runs in one, so that the machine's own files are never touched.
type NetNS struct {
	Name string
	dir  string
}

// NewNetNS creates a namespace with loopback up; resolv.conf points at 127.0.0.1 inside it. It is
// removed when the test ends.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	needBinary(t, "ip", "/usr/sbin/ip", "/sbin/ip")
	name := fmt.Sprintf("dp%d%d", os.Getpid()%100000, time.Now().UnixNano()%100000)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	ns := &NetNS{Name: name, dir: "/etc/netns/" + name}
	t.Cleanup(ns.remove)
	require.NoError(t, exec.Command("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up").Run())
	require.NoError(t, os.MkdirAll(ns.dir, 0o755))
	ns.WriteFile(t, "resolv.conf", "nameserver 127.0.0.1\n")
	return ns
}

// WriteFile writes a file that replaces the one of that name under /etc inside the namespace (resolv.conf,
// hosts). It must exist before the commands that should see it start.
func (ns *NetNS) WriteFile(t testing.TB, name, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(ns.dir, name), []byte(content), 0o644))
}

// Command returns a command that runs inside the namespace.
func (ns *NetNS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

func (ns *NetNS) remove() {
	_ = exec.Command("ip", "netns", "del", ns.Name).Run()
	_ = os.RemoveAll(ns.dir)
}

// childModes are servers this test binary can run as a child process inside a namespace (a test server
// in the test process would sit outside it). A mode reads its settings from the environment, prints
// "ready" on stdout once it serves, and runs until killed. Files register theirs in init.
var childModes = map[string]func(){
	"exporter": serveExporterChild,
}

// StartChild runs a child mode inside the namespace (or outside it when ns is nil), with env added to
// the environment, and waits until it is ready. It is killed when the test ends.
func StartChild(t testing.TB, ns *NetNS, mode string, env ...string) {
	t.Helper()
	args := []string{"-test.run=^$"}
	var cmd *exec.Cmd
	if ns != nil {
		cmd = ns.Command(os.Args[0], args...)
	} else {
		cmd = exec.Command(os.Args[0], args...)
	}
	cmd.Env = append(append(os.Environ(), "DP_TEST_CHILD="+mode), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "child %s %v did not start", mode, env)
	require.Equal(t, "ready\n", line)
}

// runChild is TestMain's side of StartChild.
func runChild(mode string) {
	run, ok := childModes[mode]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown child mode", mode)
		os.Exit(2)
	}
	run()
	os.Exit(0)
}

// StartExporterIn serves an exporter like StartExporter on addr inside the namespace.
func StartExporterIn(t testing.TB, ns *NetNS, name, addr string) {
	t.Helper()
	StartChild(t, ns, "exporter", "DP_TEST_EXPORTER="+name, "DP_TEST_EXPORTER_ADDR="+addr)
}

func serveExporterChild() {
	l, err := net.Listen("tcp", os.Getenv("DP_TEST_EXPORTER_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "exporter:", err)
		os.Exit(1)
	}
	serveExporter(os.Getenv("DP_TEST_EXPORTER"), l)
	fmt.Println("ready")
	select {}
}

// Process is the runner binary as inputs.execd runs it (-poll_interval_disabled: a line on stdin asks for
// one gather, line protocol comes back on stdout), optionally inside a network namespace.
type Process struct {
	T     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu     sync.Mutex
	lines  []string
	last   time.Time // when the last line arrived
	stderr bytes.Buffer
}

// StartRunner writes the configuration to a file and starts the runner on it.
func StartRunner(t testing.TB, toml string, ns *NetNS, env ...string) *Process {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "plugin.conf")
	require.NoError(t, os.WriteFile(conf, []byte(toml), 0o644))
	bin := RunnerBinary(t)
	args := []string{"-config", conf, "-poll_interval_disabled"}
	var cmd *exec.Cmd
	if ns != nil {
		cmd = ns.Command(bin, args...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Env = append(os.Environ(), env...)
	p := &Process{T: t, cmd: cmd}
	var err error
	p.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	require.NoError(t, cmd.Start())
	go func() {
		scanner := bufio.NewScanner(stdout)
		scanner.Buffer(make([]byte, 1<<20), 1<<20)
		for scanner.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, scanner.Text())
			p.last = time.Now()
			p.mu.Unlock()
		}
	}()
	stopAtCleanup(t, cmd, func() { _ = p.stdin.Close() }, "runner stderr", p.Stderr) // the shim stops when stdin closes
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// Stderr is what the runner has logged so far.
func (p *Process) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Gather asks for one gather and returns, of the metrics that arrive until the output has been quiet for
// 300ms (at least 1s, the tests' scrape-interval, so that every target is scraped by then), those of each
// target's last scrape: after the first line, which scrapes every target, the runner scrapes each on its
// own schedule and a line brings every scrape since the one before, which a test of one gather would count
// twice.
func (p *Process) Gather() []telegraf.Metric {
	p.T.Helper()
	return lastScrapes(p.GatherAll())
}

// lastScrapes keeps, of each target's metrics, those of its last scrape, the latest timestamp. A target is
// told by its instance tag (the kapacitor format) and its url tag (the prometheus formats); metrics with
// neither stay.
func lastScrapes(ms []telegraf.Metric) []telegraf.Metric {
	target := func(m telegraf.Metric) (string, bool) {
		instance, hasInstance := m.GetTag("instance")
		url, hasURL := m.GetTag("url")
		return instance + "\xff" + url, hasInstance || hasURL
	}
	last := map[string]time.Time{}
	for _, m := range ms {
		if key, ok := target(m); ok && m.Time().After(last[key]) {
			last[key] = m.Time()
		}
	}
	var out []telegraf.Metric
	for _, m := range ms {
		if key, ok := target(m); !ok || m.Time().Equal(last[key]) {
			out = append(out, m)
		}
	}
	return out
}

// GatherAll is Gather with every metric that arrived: every scrape since the last line.
func (p *Process) GatherAll() []telegraf.Metric {
	p.T.Helper()
	p.mu.Lock()
	from := len(p.lines)
	p.mu.Unlock()
	start := time.Now()
	_, err := p.stdin.Write([]byte("\n"))
	require.NoError(p.T, err)
	for {
		time.Sleep(100 * time.Millisecond)
		p.mu.Lock()
		quiet := time.Since(p.last) > 300*time.Millisecond
		p.mu.Unlock()
		if (quiet && time.Since(start) > time.Second) || time.Since(start) > 15*time.Second {
			break
		}
	}
	p.mu.Lock()
	lines := append([]string(nil), p.lines[from:]...)
	p.mu.Unlock()
	return parseLines(p.T, lines)
}

// GatherUntil gathers until ok accepts the metrics of one gather, or fails after the timeout.
func (p *Process) GatherUntil(timeout time.Duration, what string, ok func([]telegraf.Metric) bool) []telegraf.Metric {
	p.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ms := p.Gather()
		if ok(ms) {
			return ms
		}
		if time.Now().After(deadline) {
			p.T.Fatalf("after %s: %s; last gather had instances %v\nrunner stderr:\n%s", timeout, what, Instances(ms, "up"), p.Stderr())
		}
	}
}

func parseLines(t testing.TB, lines []string) []telegraf.Metric {
	t.Helper()
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	ms := make([]telegraf.Metric, 0, len(lines))
	for _, l := range lines {
		m, err := parser.ParseLine(l)
		require.NoError(t, err, "line %q", l)
		ms = append(ms, m)
	}
	return ms
}

// ParseLineProtocol parses the line protocol a runner printed.
func ParseLineProtocol(t testing.TB, out string) []telegraf.Metric {
	t.Helper()
	return parseLines(t, strings.Split(strings.TrimSpace(out), "\n"))
}
