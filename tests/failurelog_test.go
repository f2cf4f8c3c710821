package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// failureLog reads the JSON lines of a scrape_failure_log_file, the last of each target, without their
// time and source (where in whose code the line was written).
func failureLog(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	out := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var line map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
		require.Contains(t, line, "time")
		require.Contains(t, line, "source")
		delete(line, "time")
		delete(line, "source")
		out[fmt.Sprint(line["target"])] = line
	}
	return out
}

// The global scrape_failure_log_file of a prometheus.yml: Prometheus 3 and we write the same JSON line
// for a target that refuses connections and one that answers 503.
func TestScrapeFailureLogMatchesPrometheus(t *testing.T) {
	refused := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	unavailable := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	})
	dir := t.TempDir()
	config := func(name string) (yml, log string) {
		yml, log = filepath.Join(dir, name+".yml"), filepath.Join(dir, name+".log")
		require.NoError(t, os.WriteFile(yml, []byte(fmt.Sprintf(`
global: {scrape_interval: 1s, scrape_timeout: 1s, scrape_failure_log_file: %q}
scrape_configs:
  - job_name: failing
    static_configs: [{targets: [%q, %q]}]
`, log, refused, unavailable)), 0o644))
		return yml, log
	}
	promYML, promLog := config("prometheus")
	startPrometheus(t, PrometheusOfGoMod(t), promYML)
	var theirs map[string]map[string]any
	Eventually(t, 30*time.Second, "Prometheus logs both targets' failures", func() bool {
		theirs = failureLog(t, promLog)
		return len(theirs) == 2
	})

	ourYML, ourLog := config("ours")
	_, stderr, err := runOnce(t, "-config", writeConfig(t, fmt.Sprintf("[[inputs.discovering_prometheus]]\n  prometheus_config = %q\n", ourYML)))
	require.NoError(t, err, stderr)
	require.NotContains(t, stderr, "scrape_failure_log_file", "no longer ignored")
	ours := failureLog(t, ourLog)
	require.Equal(t, theirs, ours)
	require.ElementsMatch(t, []string{"http://" + refused + "/metrics", "http://" + unavailable + "/metrics"}, keys(ours))
}
