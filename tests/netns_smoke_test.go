package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

// The runner inside a namespace of its own scrapes an exporter on that namespace's loopback, driven by
// execd's protocol: the plumbing the DNS and cloud discoverer tests stand on.
func TestRunnerInNetNS(t *testing.T) {
	ns := NewNetNS(t)
	StartExporterIn(t, ns, "inside", "127.0.0.1:9100")
	p := StartRunner(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "ns"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["%s"]
`, "127.0.0.1:9100"), ns)
	ms := p.GatherUntil(15*time.Second, "exporter inside the namespace scraped", func(ms []telegraf.Metric) bool {
		return Up(ms)["127.0.0.1:9100"] == 1
	})
	require.Len(t, Find(ms, "exporter_info", map[string]string{"exporter": "inside", "db": "d", "rp": "r"}), 1)
}
