package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/metricstest"
	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
)

// The runner's own metrics are for the embedded default configuration to scrape, not for the network: the
// endpoint listens on loopback only, and no other address of the machine reaches it.
func TestSelfMetricsListenOnLoopbackOnly(t *testing.T) {
	t.Setenv(selfEnv, "") // restored when the test ends
	s, err := serveSelfMetrics(newStderrLog(io.Discard, logQueueLen))
	require.NoError(t, err)
	defer s.Close()

	host, port, err := net.SplitHostPort(os.Getenv(selfEnv))
	require.NoError(t, err)
	require.True(t, net.ParseIP(host).IsLoopback(), "self-metrics listen on %s", host)
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		ip, ok := a.(*net.IPNet)
		if !ok || ip.IP.IsLoopback() {
			continue
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip.IP.String(), port), time.Second)
		if err == nil {
			conn.Close()
			t.Fatalf("the self-metrics port answers on %s", ip.IP)
		}
	}
}

// The runner's own endpoint shows the plugin's own metrics through the same collector as the status server:
// none before the plugin starts, then its scrapers' and discoverers' counters as the plugin keeps them.
func TestSelfMetricsShowThePlugin(t *testing.T) {
	t.Setenv(selfEnv, "") // restored when the test ends
	s, err := serveSelfMetrics(newStderrLog(io.Discard, logQueueLen))
	require.NoError(t, err)
	defer s.Close()
	input, _, err := loadInput([]byte(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "down"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["127.0.0.1:1"]
`), "test")
	require.NoError(t, err)
	p := input.(*plugin.DiscoveringPrometheus)
	require.NoError(t, p.Init())
	s.watch(p)
	client := &http.Client{Timeout: 10 * time.Second}
	read := func() map[string]float64 {
		resp, err := client.Get("http://" + os.Getenv(selfEnv) + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return metricstest.Parse(t, string(body))
	}
	const scrapes, refreshes = `discovering_prometheus_scrapes_total{scraper="down"}`,
		`discovering_prometheus_discoverer_refreshes_total{discoverer_id="s",discoverer_service="static-discovery"}`
	before := read()
	require.NotContains(t, before, scrapes)
	require.NotContains(t, before, refreshes)

	require.NoError(t, p.Start(&testutil.Accumulator{}))
	defer p.Stop()
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	after := read()
	require.Equal(t, 1.0, after[scrapes])
	require.Equal(t, 1.0, after[`discovering_prometheus_scrape_errors_total{scraper="down"}`])
	require.Equal(t, 1.0, after[refreshes], "the static discoverer answers once")
	require.Contains(t, after, `discovering_prometheus_discoverer_errors_total{discoverer_id="s",discoverer_service="static-discovery"}`)
}
