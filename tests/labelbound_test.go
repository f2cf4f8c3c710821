package tests

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

// overlongLabel is longer than Prometheus' labels can encode (16 MiB): a valid line or a discovered label
// with it used to panic the runner and Telegraf ("String too long to encode as label.").
var overlongLabel = strings.Repeat("a", 17<<20)

// overlongSetup serves a target whose one line has a 17 MiB label value beside a good exporter (both
// static); writes a file_sd file whose only target carries a 9 MiB label (the most a file may hold is
// 16 MiB), beside another file with a second good exporter; and runs a Marathon whose apps are a good
// exporter and one with a 17 MiB label. It returns the plugin's table and the good targets' (static, file,
// Marathon) and the hostile target's addresses, and counts the hostile target's scrapes.
func overlongSetup(t *testing.T) (toml string, good []string, hostile string, hostileScrapes *atomic.Int64) {
	g, d, m := StartExporter(t, "good"), StartExporter(t, "discovered"), StartExporter(t, "marathon")
	hostileScrapes = &atomic.Int64{}
	body := []byte(`m{instance="` + overlongLabel + `"} 1` + "\n")
	hostile = serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		hostileScrapes.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(body)
	})
	dir := t.TempDir()
	writeTargets(t, filepath.Join(dir, "good.json"), []map[string]any{{"targets": []string{d.Addr}}})
	writeTargets(t, filepath.Join(dir, "hostile.json"), []map[string]any{{"targets": []string{"127.0.0.1:1"}, "labels": map[string]string{"big": overlongLabel[:9<<20]}}})
	f := startMarathonFake(t, "")
	bigApp := marathonWeb(g)
	bigApp["id"], bigApp["labels"] = "/big", map[string]string{"big": overlongLabel}
	f.SetApps(marathonWeb(m), bigApp)
	toml = fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "static"
    db = "db"
    rp = "rp"
    discoverer-service = "static-discovery"
    discoverer-id = "static"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.scraper]]
    name = "files"
    db = "db"
    rp = "rp"
    discoverer-service = "file-discovery"
    discoverer-id = "files"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.scraper]]
    name = "marathon"
    db = "db"
    rp = "rp"
    discoverer-service = "marathon"
    discoverer-id = "dcos"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "static"
    targets = [%q, %q]
  [[inputs.discovering_prometheus.file-discovery]]
    id = "files"
    files = ["%s/*.json"]
  [[inputs.discovering_prometheus.marathon]]
    id = "dcos"
    servers = [%q]
    timeout = "5s"
    refresh-interval = "1s"
    ssl-ca = %q
`, g.Addr, hostile, dir, f.URL, f.CAFile)
	return toml, []string{g.Addr, d.Addr, m.Addr}, hostile, hostileScrapes
}

// overlongErrors are what the log must say: the hostile target's scrape and the file_sd target fail on
// the bound. (The 17 MiB Marathon answer may fail on a limit of its own; either way it stops nothing.)
var overlongErrors = []string{
	`the value of label "instance" is 17825792 bytes, over the bound of 1048576 bytes on a label name or value`,
	`the value of group label "big" is 9437184 bytes, over the bound of 1048576 bytes on a label name or value`,
}

// The runner, gathering as inputs.execd asks it to, with a target that serves a 17 MiB label value and a
// file_sd target with a 17 MiB label: it keeps running gather after gather, the good targets' metrics
// keep coming, the hostile target is down and the discovered one left out.
func TestRunnerSurvivesOverlongLabels(t *testing.T) {
	toml, good, hostile, hostileScrapes := overlongSetup(t)
	want := map[string]float64{good[0]: 1, good[1]: 1, good[2]: 1, hostile: 0}
	p := StartRunner(t, toml, nil)
	// A gather that takes the hostile target's 17 MiB may outlast Gather's wait on a loaded machine: each
	// round waits for a gather with every target's up.
	for i := range 4 {
		ms := p.GatherUntil(60*time.Second, fmt.Sprintf("gather %d: every target's up", i), func(ms []telegraf.Metric) bool { return len(Up(ms)) == len(want) })
		require.Equal(t, want, Up(ms), "gather %d", i)
		for _, addr := range good {
			require.Len(t, Find(ms, "exporter_info", map[string]string{"instance": addr}), 1, "gather %d", i)
		}
		require.Empty(t, Find(ms, "m", nil))
	}
	require.GreaterOrEqual(t, hostileScrapes.Load(), int64(4))
	log := p.Stderr()
	require.NotContains(t, log, "panic")
	for _, e := range overlongErrors {
		require.Contains(t, log, e)
	}
	for _, line := range strings.Split(log, "\n") {
		require.Less(t, len(line), 4096, "a short log line: %.300s", line)
	}
}

// The same in the custom Telegraf, with the plugin compiled in: Telegraf keeps writing the good targets'
// metrics, and the hostile target's up 0.
func TestTelegrafSurvivesOverlongLabels(t *testing.T) {
	toml, good, hostile, hostileScrapes := overlongSetup(t)
	out := filepath.Join(t.TempDir(), "metrics.out")
	logs := StartTelegraf(t, agentConf+toml+fmt.Sprintf(`
[[outputs.file]]
  files = [%q]
  data_format = "influx"
`, out))
	written := func() []telegraf.Metric {
		data, _ := os.ReadFile(out)
		if bytes.IndexByte(data, '\n') < 0 {
			return nil
		}
		return ParseLineProtocol(t, string(data[:strings.LastIndexByte(string(data), '\n')+1]))
	}
	count := func(name, instance string, value float64) int {
		n := 0
		for _, m := range Find(written(), name, map[string]string{"instance": instance}) {
			if v, _ := m.GetField("value"); v == value {
				n++
			}
		}
		return n
	}
	Eventually(t, 90*time.Second, "five gathers of every target written", func() bool {
		for _, addr := range good {
			if count("up", addr, 1) < 5 {
				return false
			}
		}
		return count("up", hostile, 0) >= 5
	})
	require.Zero(t, count("up", hostile, 1))
	for _, addr := range good {
		require.GreaterOrEqual(t, len(Find(written(), "exporter_info", map[string]string{"instance": addr})), 5)
	}
	require.Empty(t, Find(written(), "m", nil))
	require.GreaterOrEqual(t, hostileScrapes.Load(), int64(5))
	log := logs.String()
	require.NotContains(t, log, "panic")
	for _, e := range overlongErrors {
		require.Contains(t, log, e)
	}
	for _, line := range strings.Split(log, "\n") {
		require.Less(t, len(line), 4096, "a short log line: %.300s", line)
	}
}
