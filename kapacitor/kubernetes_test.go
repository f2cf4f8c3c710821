package kapacitor

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
)

// A [kubernetes] section is a discoverer when it names what to discover, as Kapacitor's resource or as
// Prometheus' role; only one that names neither is Kapacitor's k8sAutoscale connection, left out with a
// warning. A discoverer taken for the autoscale section would vanish with its scraper's targets.
func TestKubernetesRoleOrResourceMakesADiscoverer(t *testing.T) {
	const scraper = `
[[scraper]]
  enabled = true
  name = "pods"
  db = "d"
  rp = "r"
  discoverer-service = "kubernetes"
  discoverer-id = "k"
`
	for _, tc := range []struct {
		name, section string
		role          string // the role the discoverer runs with; "" when left out
	}{
		{"role without resource", `
[kubernetes]
  enabled = true
  id = "k"
  api-servers = ["http://127.0.0.1:8001"]
  role = "pod"
`, "pod"},
		{"resource", `
[kubernetes]
  enabled = true
  id = "k"
  api-servers = ["http://127.0.0.1:8001"]
  resource = "node"
`, "node"},
		// Kapacitor's autoscale section: its connection keys only (kapacitor.conf's [kubernetes]).
		{"autoscale", `
[kubernetes]
  enabled = true
  id = "k"
  in-cluster = false
  api-servers = ["http://127.0.0.1:8001"]
  token = "t"
  ca-path = "/etc/kubernetes/ca.crt"
  namespace = "default"
`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, scraper+tc.section)
			s, warnings, err := Load(path)
			require.NoError(t, err)
			available := map[discovery.Key]bool{}
			for _, d := range s.Discoverers() {
				available[discovery.KeyOf(d)] = d.IsEnabled()
			}
			warnings = append(warnings, s.LeaveOutUnpaired(available)...)
			require.Len(t, s.Kubernetes, 1)
			k := s.Kubernetes[0]
			key := discovery.Key{Service: "kubernetes", ID: "k"}
			if tc.role == "" {
				require.Equal(t, []string{
					path + `:10: [kubernetes] id "k" is left out: it has no resource, so it configures Kapacitor's k8sAutoscale node, not a discoverer`,
					path + `:2: [[scraper]] name "pods" is left out: its discoverer (kubernetes "k") is enabled in neither this file nor the plugin's own sections, so Kapacitor scraped nothing for it`,
				}, warnings)
				require.False(t, k.IsEnabled())
				require.NotContains(t, s.Configs(), key)
				require.False(t, s.Scrapers[0].IsEnabled())
				return
			}
			require.Empty(t, warnings)
			require.True(t, k.IsEnabled())
			require.Contains(t, s.Configs(), key)
			require.Equal(t, tc.role, k.Role+k.Resource)
			require.True(t, s.Scrapers[0].IsEnabled(), "its scraper keeps its targets")
		})
	}
}
