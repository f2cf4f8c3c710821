package tests

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runnerProcess is the runner binary, watched until it exits.
type runnerProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout lockedBuffer
	stderr lockedBuffer
	exited chan struct{}
}

// startRunnerProcess starts the runner with the arguments; its stdout goes to stdout when not nil (an
// *os.File is written directly), else to p.stdout. It is killed when the test ends.
func startRunnerProcess(t *testing.T, stdout *os.File, args ...string) *runnerProcess {
	t.Helper()
	p := &runnerProcess{cmd: exec.Command(RunnerBinary(t), args...), exited: make(chan struct{})}
	var err error
	p.stdin, err = p.cmd.StdinPipe()
	require.NoError(t, err)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if stdout != nil {
		p.cmd.Stdout = stdout
	}
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("runner stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

func (p *runnerProcess) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
}

// exitsWithin waits up to d for the process to exit, and returns its exit status.
func (p *runnerProcess) exitsWithin(t *testing.T, d time.Duration, after string) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("still running %s after %s", d, after)
		return 0
	}
}

// running tells whether the process is still running d from now.
func (p *runnerProcess) running(d time.Duration) bool {
	select {
	case <-p.exited:
		return false
	case <-time.After(d):
		return true
	}
}

// hangingTarget serves requests that never get an answer; arrived receives one value per request.
func hangingTarget(t *testing.T) (addr string, arrived chan struct{}) {
	arrived = make(chan struct{}, 16)
	addr = serveHTTP(t, func(_ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	return addr, arrived
}

// scrapeConf is a plugin configuration of one scraper of the targets, scraped first at the next second
// (aligned), whatever their phase in the interval.
func scrapeConf(t *testing.T, interval, timeout string, targets ...string) string {
	return writeConfig(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  scrape_align_interval = "1s"
  [[inputs.discovering_prometheus.scraper]]
    name = "shutdown"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    scrape-interval = %q
    scrape-timeout = %q
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["%s"]
`, interval, timeout, strings.Join(targets, `", "`)))
}

func waitArrival(t *testing.T, arrived chan struct{}) {
	t.Helper()
	select {
	case <-arrived:
	case <-time.After(15 * time.Second):
		t.Fatal("the target was never scraped")
	}
}

// A signal or stdin's end during a gather cancels the scrapes under way: the runner exits within moments,
// not when the 20s scrape-timeout runs out.
func TestShutdownCancelsTheGather(t *testing.T) {
	for _, tc := range []struct {
		name string
		once bool
		stop func(*testing.T, *runnerProcess)
	}{
		{"SIGTERM", false, func(t *testing.T, p *runnerProcess) { p.signal(t, syscall.SIGTERM) }},
		{"SIGINT", false, func(t *testing.T, p *runnerProcess) { p.signal(t, os.Interrupt) }},
		{"stdin closed", false, func(t *testing.T, p *runnerProcess) { require.NoError(t, p.stdin.Close()) }},
		{"SIGTERM with -once", true, func(t *testing.T, p *runnerProcess) { p.signal(t, syscall.SIGTERM) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hang, arrived := hangingTarget(t)
			good := StartExporter(t, "good")
			args := []string{"-config", scrapeConf(t, "30s", "20s", hang, good.Addr), "-poll_interval_disabled"}
			if tc.once {
				args = append(args, "-once")
			}
			p := startRunnerProcess(t, nil, args...)
			if !tc.once {
				_, err := p.stdin.Write([]byte("\n"))
				require.NoError(t, err)
			}
			waitArrival(t, arrived)
			time.Sleep(200 * time.Millisecond) // the good target's scrape is done, the hanging one waits
			start := time.Now()
			tc.stop(t, p)
			require.Equal(t, 0, p.exitsWithin(t, 3*time.Second, tc.name), "a requested stop is a clean exit")
			t.Logf("exited %.2fs after %s", time.Since(start).Seconds(), tc.name)
			// The good target's scrape was done and is written out, held for a request or not; the one cut
			// short reports nothing.
			require.Equal(t, map[string]float64{good.Addr: 1}, Up(ParseLineProtocol(t, p.stdout.String())))
		})
	}
}

// A second signal exits at once, whatever the first is waiting on: here a scrape is blocked writing to a
// stdout nobody reads.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	var body strings.Builder
	for i := range 20_000 {
		fmt.Fprintf(&body, "big_series{i=\"%d\",padding=\"%s\"} %d\n", i, strings.Repeat("x", 40), i)
	}
	arrived := make(chan struct{}, 16)
	big := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		arrived <- struct{}{}
		_, _ = io.WriteString(w, body.String())
	})
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	// With a poll interval, each scrape is written as it ends: this one fills the pipe and blocks.
	p := startRunnerProcess(t, w, "-config", scrapeConf(t, "30s", "20s", big), "-poll_interval", "1s")
	waitArrival(t, arrived)
	time.Sleep(time.Second) // the scrape fills the pipe and blocks
	p.signal(t, syscall.SIGTERM)
	require.True(t, p.running(time.Second), "the first signal cannot end a scrape blocked on its output")
	require.Contains(t, p.stderr.String(), "terminated: stopping; a second signal exits at once")
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	require.Equal(t, 128+int(syscall.SIGTERM), p.exitsWithin(t, 2*time.Second, "the second SIGTERM"))
	t.Logf("exited %.2fs after the second SIGTERM", time.Since(start).Seconds())
	require.Contains(t, p.stderr.String(), "terminated again: exiting at once")
}

// A named pipe among the files of a file-discovery is refused with an error naming it: -once ends without
// waiting for it, with the targets of the other files, and so does a SIGTERM.
func TestNamedPipeAmongDiscoveryFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "a-fifo.json") // globbed before the good file
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	good := StartExporter(t, "from-file")
	writeTargets(t, filepath.Join(dir, "good.json"), []map[string]any{{"targets": []string{good.Addr}}})
	conf := writeConfig(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "files"
    db = "d"
    rp = "r"
    discoverer-service = "file-discovery"
    discoverer-id = "f"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.file-discovery]]
    id = "f"
    files = ["%s/*.json"]
`, dir))

	t.Run("once", func(t *testing.T) {
		start := time.Now()
		p := startRunnerProcess(t, nil, "-config", conf, "-once")
		// Well within discovery_wait (10s): the discoverer answered with the good file at once.
		require.Equal(t, 0, p.exitsWithin(t, 5*time.Second, "-once started"))
		t.Logf("-once took %.2fs", time.Since(start).Seconds())
		ms := ParseLineProtocol(t, p.stdout.String())
		require.Equal(t, map[string]float64{good.Addr: 1}, Up(ms))
		require.Contains(t, p.stderr.String(), fifo+": not a regular file (a named pipe)")
	})

	t.Run("SIGTERM", func(t *testing.T) {
		p := startRunnerProcess(t, nil, "-config", conf, "-poll_interval_disabled")
		// The target is scraped at its phase, and its scrape written at the line after: a line each poll.
		Eventually(t, 10*time.Second, "the good file's target scraped", func() bool {
			_, err := p.stdin.Write([]byte("\n"))
			require.NoError(t, err)
			return strings.Contains(p.stdout.String(), "instance="+good.Addr)
		})
		p.signal(t, syscall.SIGTERM)
		require.Equal(t, 0, p.exitsWithin(t, 3*time.Second, "SIGTERM"))
		require.NotContains(t, p.stderr.String(), "did not stop", "no discoverer was left blocked")
	})
}
