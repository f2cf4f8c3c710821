package tests

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// countingExporter serves one sample and counts its requests.
func countingExporter(t *testing.T) (addr string, requests *atomic.Int64) {
	requests = new(atomic.Int64)
	addr = serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, "fast_sample 1\n")
	})
	return addr, requests
}

// fastAndSlowConf is a table of two jobs: fast, every second, and slow, every slowInterval with a 15 s
// timeout; both are first scraped at the next second (aligned), whatever their phases.
func fastAndSlowConf(fast, slow, slowInterval string) string {
	return fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  scrape_align_interval = "1s"
  [[inputs.discovering_prometheus.scraper]]
    name = "fast"
    db = "d"
    rp = "r"
    scrape-interval = "1s"
    discoverer-service = "static-discovery"
    discoverer-id = "fast"
  [[inputs.discovering_prometheus.scraper]]
    name = "slow"
    db = "d"
    rp = "r"
    scrape-interval = %q
    scrape-timeout = "15s"
    discoverer-service = "static-discovery"
    discoverer-id = "slow"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "fast"
    targets = [%q]
  [[inputs.discovering_prometheus.static-discovery]]
    id = "slow"
    targets = [%q]
`, slowInterval, fast, slow)
}

// countFor counts the requests that arrive in the d after the first.
func countFor(t *testing.T, requests *atomic.Int64, d time.Duration) int64 {
	t.Helper()
	Eventually(t, 30*time.Second, "the fast job's first scrape", func() bool { return requests.Load() > 0 })
	from := requests.Load()
	time.Sleep(d)
	return requests.Load() - from
}

// A 60 s job whose exporter hangs for its whole 15 s timeout does not hold a 1 s job beside it in the
// runner's serve mode: the fast job is scraped about once a second, where every gather used to wait for
// the hanging scrape (18 gathers in 32 s).
func TestRunnerFastJobBesideAHangingSlowJob(t *testing.T) {
	fast, requests := countingExporter(t)
	slow, arrived := hangingTarget(t)
	p := startRunnerProcess(t, nil, "-config", writeConfig(t, fastAndSlowConf(fast, slow, "60s")), "-poll_interval", "1s")
	n := countFor(t, requests, 20*time.Second)
	waitArrival(t, arrived)
	t.Logf("the fast job: %d scrapes in 20s", n)
	require.GreaterOrEqual(t, n, int64(14), "the fast job's scrapes in 20 s")
	require.Contains(t, p.stdout.String(), "fast_sample")
}

// The same inside the custom Telegraf, where each target is scraped on its own schedule: the slow job, due
// every 20 s, hangs each time for 15 s, which used to leave the fast job a few scrapes per 20 s when
// gathers scraped.
func TestTelegrafFastJobBesideAHangingSlowJob(t *testing.T) {
	fast, requests := countingExporter(t)
	slow, arrived := hangingTarget(t)
	StartTelegraf(t, agentConf+`
[[outputs.discard]]
`+fastAndSlowConf(fast, slow, "20s"))
	waitArrival(t, arrived)
	time.Sleep(17 * time.Second) // the first hanging scrape is over
	from := requests.Load()
	time.Sleep(15 * time.Second) // the slow job hangs again in there
	n := requests.Load() - from
	t.Logf("the fast job: %d scrapes in 15s", n)
	require.GreaterOrEqual(t, n, int64(10), "the fast job's scrapes in 15 s")
}

// A discovery answer cannot hold a -once run with a timeout of its own: __scrape_timeout__ 999h is cut to
// the job's 2 s.
func TestOnceWithADiscoveredHugeTimeout(t *testing.T) {
	slow, _ := hangingTarget(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.json"), []byte(fmt.Sprintf(
		`[{"targets": [%q], "labels": {"__scrape_interval__": "1000h", "__scrape_timeout__": "999h"}}]`, slow)), 0o644))
	conf := writeConfig(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "hostile"
    db = "d"
    rp = "r"
    scrape-interval = "10s"
    scrape-timeout = "2s"
    discoverer-service = "file-discovery"
    discoverer-id = "f"
  [[inputs.discovering_prometheus.file-discovery]]
    id = "f"
    files = [%q]
`, filepath.Join(dir, "*.json")))
	start := time.Now()
	p := startRunnerProcess(t, nil, "-config", conf, "-once")
	require.Equal(t, 0, p.exitsWithin(t, 30*time.Second, "-once"))
	t.Logf("-once took %.1fs", time.Since(start).Seconds())
	require.Equal(t, map[string]float64{slow: 0}, Up(ParseLineProtocol(t, p.stdout.String())))
}

// A bearer-token-file that is a named pipe with no writer held every gather forever, and SIGTERM ended
// the runner only through its 5 s backstop; it is refused when the scraper is made, naming the key.
func TestBearerTokenPipeIsRefused(t *testing.T) {
	good := StartExporter(t, "good")
	pipe := filepath.Join(t.TempDir(), "token")
	require.NoError(t, syscall.Mkfifo(pipe, 0o600))
	conf := scrapeConf(t, "10s", "5s", good.Addr)
	data, err := os.ReadFile(conf)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(conf, []byte(strings.Replace(string(data), `    rp = "r"`,
		fmt.Sprintf("    rp = \"r\"\n    bearer-token-file = %q", pipe), 1)), 0o644))
	for _, args := range [][]string{{"-once"}, {"-poll_interval", "1s"}} {
		p := startRunnerProcess(t, nil, append([]string{"-config", conf}, args...)...)
		require.Equal(t, 1, p.exitsWithin(t, 20*time.Second, strings.Join(args, " ")))
		require.Contains(t, p.stderr.String(), "bearer-token-file: "+pipe+": not a regular file (a named pipe)")
	}
}
