package tests

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

// The runner under Telegraf's real inputs.execd, with a target that serves one 50 MB line and a good
// exporter. The scrape error used to quote the whole line: a 52 MB log line, past the 64 KiB line that
// execd reads of stderr, so execd stopped reading stderr; the runner's next log write blocked inside a
// scrape, and no gather ever ended again. Now the good target delivers every scrape, gather after gather,
// and Telegraf's log gets one short line that says where the long line starts.
func TestTelegrafExecdHostileTarget(t *testing.T) {
	good := StartExporter(t, "good")
	const prefix = "# TYPE huge gauge\n"
	body := []byte(prefix + `huge{l="` + strings.Repeat("x", 50<<20) + `"} bad` + "\n")
	var hostileScrapes atomic.Int64
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hostileScrapes.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(body)
	}))
	t.Cleanup(hostile.Close)

	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin.conf")
	require.NoError(t, os.WriteFile(plugin, []byte(fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "good"
    db = "db"
    rp = "rp"
    discoverer-service = "static-discovery"
    discoverer-id = "good"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.scraper]]
    name = "hostile"
    db = "db"
    rp = "rp"
    discoverer-service = "static-discovery"
    discoverer-id = "hostile"
    scrape-interval = "8s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "good"
    targets = ["%s"]
  [[inputs.discovering_prometheus.static-discovery]]
    id = "hostile"
    targets = ["%s"]
`, good.Addr, strings.TrimPrefix(hostile.URL, "http://"))), 0o644))
	out := filepath.Join(dir, "metrics.out")
	logs := StartTelegraf(t, agentConf+fmt.Sprintf(`
[[inputs.execd]]
  command = ["%s", "-config", "%s", "-poll_interval_disabled"]
  signal = "STDIN"
  data_format = "influx"
[[outputs.file]]
  files = ["%s"]
  data_format = "influx"
`, RunnerBinary(t), plugin, out))

	// exporter_requests_total{code="200"} is n-1 in the n-th scrape of the good exporter: the values
	// delivered are all from 1 up, with no gap, when every scrape delivered.
	delivered := func() []int {
		data, _ := os.ReadFile(out)
		complete := string(data[:strings.LastIndexByte(string(data), '\n')+1])
		var seen []int
		for _, m := range Find(ParseLineProtocol(t, complete), "exporter_requests_total", map[string]string{"instance": good.Addr, "code": "200"}) {
			v, _ := m.GetField("value")
			seen = append(seen, int(v.(float64)))
		}
		slices.Sort(seen)
		return slices.Compact(seen)
	}
	Eventually(t, 90*time.Second, "two scrapes of the hostile target and ten of the good one delivered", func() bool {
		return hostileScrapes.Load() >= 2 && len(delivered()) >= 10
	})
	seen := delivered()
	require.Equal(t, 1, seen[0])
	require.Equal(t, len(seen), seen[len(seen)-1], "every scrape of the good target delivered: %v", seen)

	log := logs.String()
	require.NotContains(t, log, "error reading stderr")
	require.NotContains(t, log, "E! [inputs.execd] stderr:", "every line of the runner has a level Telegraf reads")
	for _, line := range strings.Split(log, "\n") {
		require.Less(t, len(line), 2048, "a short log line: %.300s", line)
	}
	failed := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "W! [inputs.execd] [inputs.discovering_prometheus]") && strings.Contains(line, "scrape failed") {
			failed++
			t.Logf("%d scrapes of the good target delivered in a row, %d of the hostile one; its warning (%d bytes): %s",
				len(seen), hostileScrapes.Load(), len(line), line)
			require.Contains(t, line, fmt.Sprintf("line at byte offset %d: ", len(prefix)))
			require.Contains(t, line, "while parsing: \"huge{l=\\\"xxxxxxxx")
			require.Regexp(t, `"\.\.\. \(524288\d\d bytes\)`, line)
		}
	}
	require.Equal(t, 1, failed, "the failure is logged once, as a warning:\n%s", log)
}

// A target with 1,000 ±Inf series, scraped by the runner in a prometheus format: the runner logged each
// metric line protocol could not carry, 1,000 lines on every gather. Now the plugin says once how many
// samples of the target are ±Inf, and the finite samples arrive on every gather.
func TestRunnerLogsInfOncePerTarget(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# TYPE g gauge\n")
		for i := range 1000 {
			fmt.Fprintf(w, "g{i=\"%d\"} %s\n", i, []string{"+Inf", "-Inf"}[i%2])
		}
		fmt.Fprint(w, "finite 1\n")
	}))
	t.Cleanup(target.Close)
	p := StartRunner(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  metric_format = "prometheus-v2"
  [[inputs.discovering_prometheus.scraper]]
    name = "inf"
    db = "db"
    rp = "rp"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["%s"]
`, strings.TrimPrefix(target.URL, "http://")), nil)
	for range 3 {
		var finite int
		for _, m := range p.GatherUntil(30*time.Second, "the target scraped", func(ms []telegraf.Metric) bool { return len(ms) > 0 }) {
			if m.HasField("finite") {
				finite++
			}
		}
		require.Equal(t, 1, finite)
	}
	lines := strings.Split(strings.TrimSpace(p.Stderr()), "\n")
	require.Equal(t, []string{"W! [inputs.discovering_prometheus] target " + target.URL + "/metrics: 1000 ±Inf sample(s), which line protocol " +
		"cannot carry: InfluxDB outputs drop them (logged again when the number changes)"}, lines)
}
