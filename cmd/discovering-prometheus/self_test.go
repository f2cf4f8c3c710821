package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

// The runner's own metrics are for the embedded default configuration to scrape, not for the network: the
// endpoint listens on loopback only, and no other address of the machine reaches it.
func TestSelfMetricsListenOnLoopbackOnly(t *testing.T) {
	t.Setenv(selfEnv, "") // restored when the test ends
	s, err := serveSelfMetrics(newStderrLog(io.Discard, telegraf.Info, logQueueLen))
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
