package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// startEcho serves one gauge whose labels echo the request: the query string and the basic-auth user. With
// a password it answers 401 to any other credentials, as an exporter behind basic auth does.
func startEcho(t *testing.T, user, password string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	server := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		if password != "" && (u != user || p != password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="echo"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "echo_request{path=%q,query=%q,user=%q} 1\n", r.URL.Path, r.URL.RawQuery, u)
	})}
	go func() { _ = server.Serve(l) }()
	t.Cleanup(func() { _ = server.Close() })
	return l.Addr().String()
}

// A realistic prometheus.yml: static and file discovery, a job with both, relabeling, basic auth, params,
// per-job db and rp. Each job becomes a scraper with Prometheus' semantics.
func TestPrometheusConfig(t *testing.T) {
	node1, node2 := StartExporter(t, "node1"), StartExporter(t, "node2")
	app, dropped := StartExporter(t, "app"), StartExporter(t, "dropped")
	multiStatic, multiFile := StartExporter(t, "multi-static"), StartExporter(t, "multi-file")
	secure := startEcho(t, "scraper", "s3cret-password")

	dir := t.TempDir()
	writeJSON(t, filepath.Join(dir, "apps.json"), []map[string]any{
		{"targets": []string{app.Addr}, "labels": map[string]string{"team": "checkout"}},
		{"targets": []string{dropped.Addr}, "labels": map[string]string{"team": "retired"}},
	})
	writeJSON(t, filepath.Join(dir, "multi.json"), []map[string]any{{"targets": []string{multiFile.Addr}}})
	yml := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(yml, []byte(fmt.Sprintf(`
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels: {replica: a}   # Prometheus' own business: not on scraped samples

scrape_configs:
  - job_name: node
    static_configs:
      - targets: [%q, %q]
        labels: {dc: lab}
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: exporter_latency_seconds_.*
        action: drop

  - job_name: apps
    file_sd_configs:
      - files: [apps.json]       # relative to this file, as in Prometheus
    relabel_configs:
      - source_labels: [team]
        regex: retired
        action: drop
      - source_labels: [__meta_filepath]
        regex: .*/(.*)\.json
        target_label: source

  - job_name: secure
    metrics_path: /probe
    params:
      module: [http_2xx]
    basic_auth:
      username: scraper
      password: s3cret-password
    static_configs:
      - targets: [%q]

  - job_name: multi
    static_configs:
      - targets: [%q]
    file_sd_configs:
      - files: [multi.json]
`, node1.Addr, node2.Addr, secure, multiStatic.Addr)), 0o644))

	r := StartPlugin(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  prometheus_config = %q
  prometheus_db = "prom"
  [inputs.discovering_prometheus.prometheus_jobs.secure]
    db = "secure"
    rp = "short"
`, yml))
	all := []string{node1.Addr, node2.Addr, app.Addr, secure, multiStatic.Addr, multiFile.Addr}
	ms := r.GatherUntil(15*time.Second, "every target of every job up", func(ms []telegraf.Metric) bool {
		up := Up(ms)
		for _, a := range all {
			if up[a] != 1 {
				return false
			}
		}
		return len(up) == len(all)
	})

	route := func(m telegraf.Metric) string { return m.Tags()["db"] + "/" + m.Tags()["rp"] }
	for _, m := range Find(ms, "up", nil) {
		want := "prom/autogen"
		if m.Tags()["instance"] == secure {
			want = "secure/short"
		}
		require.Equal(t, want, route(m), m.Tags()["instance"])
	}
	require.Len(t, Find(ms, "exporter_info", map[string]string{"exporter": "node1", "dc": "lab"}), 1)
	require.Empty(t, Find(ms, "exporter_latency_seconds_bucket", map[string]string{"instance": node1.Addr}), "metric_relabel_configs")
	require.NotEmpty(t, Find(ms, "exporter_latency_seconds_bucket", map[string]string{"instance": app.Addr}))
	require.Len(t, Find(ms, "exporter_info", map[string]string{"exporter": "app", "team": "checkout", "source": "apps"}), 1, "relabel_configs")
	require.Empty(t, Find(ms, "exporter_info", map[string]string{"exporter": "dropped"}))
	require.Len(t, Find(ms, "echo_request", map[string]string{"path": "/probe", "query": "module=http_2xx", "user": "scraper"}), 1, "basic_auth and params")
	require.Len(t, Find(ms, "exporter_info", map[string]string{"exporter": "multi-static"}), 1)
	require.Len(t, Find(ms, "exporter_info", map[string]string{"exporter": "multi-file"}), 1)
	require.Empty(t, Find(ms, "up", map[string]string{"replica": "a"}))

	targets := r.Plugin.Targets()
	require.Equal(t, []string{"node", "apps", "secure", "multi"}, targets.ScrapePools)
	require.Len(t, targets.Active, len(all))
	require.Len(t, targets.Dropped, 1)
	d := targets.Dropped[0]
	require.Equal(t, "apps", d.ScrapePool)
	require.Equal(t, dropped.Addr, d.DiscoveredLabels["__address__"])
	require.Equal(t, 0, d.RuleIndex)
	require.Equal(t, "drop", string(d.Rule.Action))
	out, err := json.Marshal(targets)
	require.NoError(t, err)
	require.NotContains(t, string(out), "s3cret", "no secret in the target view")
	require.Contains(t, string(out), `"scrapeUrl":"http://`+secure+`/probe?module=http_2xx"`)
}

func TestPrometheusConfigErrors(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(yml, []byte("scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:1']\n"), 0o644))
	empty := filepath.Join(dir, "empty.yml")
	require.NoError(t, os.WriteFile(empty, []byte("global:\n  scrape_interval: 1m\n"), 0o644))
	for _, tc := range []struct{ name, conf, want string }{
		{"unknown job", fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  prometheus_config = %q
  [inputs.discovering_prometheus.prometheus_jobs.nodes]
    db = "x"
`, yml), `prometheus_jobs: "nodes" is not a job of ` + yml},
		{"name taken by a scraper", fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  prometheus_config = %q
  [[inputs.discovering_prometheus.scraper]]
    name = "node"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["127.0.0.1:1"]
`, yml), `prometheus_config: job "node": name: also used by an [[inputs.discovering_prometheus.scraper]] section`},
		{"missing file", `
[[inputs.discovering_prometheus]]
  prometheus_config = "/nonexistent/prometheus.yml"
`, "prometheus_config: open /nonexistent/prometheus.yml"},
		{"nothing to scrape", fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  prometheus_config = %q
`, empty), "has no scrape_configs, and there is no [[scraper]]"},
		{"jobs without file", `
[[inputs.discovering_prometheus]]
  [inputs.discovering_prometheus.prometheus_jobs.node]
    db = "x"
`, "prometheus_jobs: set without prometheus_config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := LoadPlugin(t, tc.conf)
			p.Log = &testutil.CaptureLogger{}
			require.ErrorContains(t, p.Init(), tc.want)
		})
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}
