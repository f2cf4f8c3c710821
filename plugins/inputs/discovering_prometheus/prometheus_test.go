package discovering_prometheus

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// startPrometheusConfig starts the plugin on a prometheus_config file (its scrape_configs given) next to
// the [[scraper]] of scraperConf, all aimed at one exporter that records the Accept header of each path.
func startPrometheusConfig(t *testing.T, scrapeConfigs string) (*DiscoveringPrometheus, *testutil.CaptureLogger, func(path string) []string) {
	t.Helper()
	var mu sync.Mutex
	accepts := map[string][]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		accepts[r.URL.Path] = append(accepts[r.URL.Path], r.Header.Get("Accept"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "m 1\n")
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	require.NoError(t, os.WriteFile(path, []byte("scrape_configs:\n"+strings.ReplaceAll(scrapeConfigs, "TARGET", addr)), 0o644))
	conf := strings.Replace(scraperConf("", ""), "localhost:9100", addr, 1)
	conf = strings.Replace(conf, "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  prometheus_config = '"+path+"'", 1)
	p := mustLoad(t, conf)
	logger := &testutil.CaptureLogger{}
	p.Log = logger
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	t.Cleanup(p.Stop)
	return p, logger, func(path string) []string {
		mu.Lock()
		defer mu.Unlock()
		return accepts[path]
	}
}

// A prometheus_config job asks for what its scrape_protocols list, as Prometheus does (its default when it
// has none); a [[scraper]] keeps the header it always had, with protobuf.
func TestPrometheusConfigScrapeProtocols(t *testing.T) {
	p, _, accepted := startPrometheusConfig(t, `
  - job_name: text
    metrics_path: /text
    scrape_protocols: [PrometheusText0.0.4]
    static_configs: [{targets: [TARGET]}]
  - job_name: default
    metrics_path: /default
    static_configs: [{targets: [TARGET]}]
`)
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	require.Equal(t, []string{"text/plain;version=0.0.4;q=0.7,*/*;q=0.6"}, accepted("/text"))
	require.Equal(t, []string{"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.7," +
		"application/openmetrics-text;version=0.0.1;q=0.6,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5," +
		"text/plain;version=0.0.4;q=0.4,*/*;q=0.3"}, accepted("/default"))
	require.Equal(t, []string{"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6," +
		"application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4," +
		"text/plain;version=0.0.4;q=0.3," +
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.2,*/*;q=0.1"},
		accepted("/metrics"), "[[scraper]]")
}

// Each option a job sets that the plugin does not do is a warning naming the job and the option, once, at
// Init; a job that sets none gets no warning.
func TestPrometheusConfigIgnoredOptionsWarnOnce(t *testing.T) {
	for _, tc := range []struct{ key, yaml string }{
		{"track_timestamps_staleness", "track_timestamps_staleness: true"},
		{"fallback_scrape_protocol", "fallback_scrape_protocol: OpenMetricsText1.0.0"},
		{"metric_name_validation_scheme", "metric_name_validation_scheme: legacy"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			p, logger, _ := startPrometheusConfig(t, `
  - job_name: odd
    `+tc.yaml+`
    static_configs: [{targets: [TARGET]}]
  - job_name: plain
    static_configs: [{targets: [TARGET]}]
`)
			require.NoError(t, p.Gather(&testutil.Accumulator{}))
			require.NoError(t, p.Gather(&testutil.Accumulator{}))
			var warnings []string
			for _, w := range logger.Warnings() {
				if strings.Contains(w, "ignored") {
					warnings = append(warnings, w)
				}
			}
			require.Len(t, warnings, 1, "%v", logger.Warnings())
			require.Contains(t, warnings[0], `prometheus_config: job "odd": `+tc.key+`: not supported here, ignored`)
		})
	}
}
