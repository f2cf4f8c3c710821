package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// extraMetrics are the series Prometheus 3 adds with extra_scrape_metrics.
var extraMetrics = []string{"scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes"}

// With extra_scrape_metrics, we write the series Prometheus 3 writes, with its values, for a target that
// answers and for one over body_size_limit.
func TestExtraScrapeMetricsMatchPrometheus(t *testing.T) {
	body := "# TYPE a gauge\na 1\nb 2\nc 3\n"
	target := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, body)
	})
	promYML := filepath.Join(t.TempDir(), "prometheus.yml")
	require.NoError(t, os.WriteFile(promYML, []byte(fmt.Sprintf(`
global: {scrape_interval: 1s, scrape_timeout: 900ms, extra_scrape_metrics: true}
scrape_configs:
  - job_name: extra
    sample_limit: 100
    static_configs: [{targets: [%[1]q]}]
  - job_name: small
    body_size_limit: 10B
    static_configs: [{targets: [%[1]q]}]
`, target)), 0o644))
	prom := startPrometheus(t, PrometheusOfGoMod(t), promYML)
	waitForPrometheus(t, prom, 2)
	theirs := map[string]float64{}
	for _, name := range extraMetrics {
		var v struct {
			Result []struct {
				Metric map[string]string  `json:"metric"`
				Value  [2]json.RawMessage `json:"value"`
			} `json:"result"`
		}
		prom.api(t, "/api/v1/query", url.Values{"query": {name}}, &v)
		require.Len(t, v.Result, 2, name)
		for _, r := range v.Result {
			theirs[r.Metric["job"]+" "+name] = number(t, r.Value[1])
		}
	}
	require.Equal(t, float64(len(body)), theirs["extra scrape_body_size_bytes"], "Prometheus 3 counts the body's bytes")
	require.Equal(t, -1.0, theirs["small scrape_body_size_bytes"], "and -1 over body_size_limit")

	stdout, stderr, err := runOnce(t, "-config", writeConfig(t, fmt.Sprintf("[[inputs.discovering_prometheus]]\n  prometheus_config = %q\n  [inputs.discovering_prometheus.prometheus_jobs.small]\n    db = \"small\"\n", promYML)))
	require.NoError(t, err, stderr)
	ours := map[string]float64{}
	for _, m := range ParseLineProtocol(t, stdout) {
		for _, name := range extraMetrics {
			if m.Name() == name {
				job := map[string]string{"prometheus": "extra", "small": "small"}[m.Tags()["db"]]
				v, _ := m.GetField("value")
				ours[job+" "+name] = v.(float64)
			}
		}
	}
	require.Equal(t, theirs, ours)
}
