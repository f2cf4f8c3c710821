package discovering_prometheus

import (
	"testing"

	"github.com/influxdata/telegraf/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// A peer whose __address__ comes from its group's labels, not its own, is a peer all the same, as a
// target's address is taken from its group's labels.
func TestClusterPeerAddressFromItsGroup(t *testing.T) {
	p, err := loadTelegraf(t, `
[[inputs.discovering_prometheus]]
  discovery_wait = "10s"
  [[inputs.discovering_prometheus.scraper]]
    name = "node"
    db = "db"
    rp = "rp"
    discoverer-service = "static-discovery"
    discoverer-id = "targets"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "targets"
    targets = ["127.0.0.1:9100"]
  [[inputs.discovering_prometheus.static-discovery]]
    id = "peers"
    targets = ["a:1", "b:1"]
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "static-discovery"
    discoverer-id = "peers"
    self = "a:1"
`)
	require.NoError(t, err)
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	t.Cleanup(p.Stop)
	require.True(t, p.awaitDiscovery())
	p.syncTargets()
	require.Equal(t, []string{"a:1", "b:1"}, p.cluster.peers.Names())

	// No discoverer here lists a target without its own address: make b:1's come from its group only.
	groups := p.runner.Groups(p.cluster.key)
	require.Len(t, groups, 1)
	g := groups[0]
	require.Equal(t, model.LabelValue("b:1"), g.Targets[1][model.AddressLabel])
	delete(g.Targets[1], model.AddressLabel)
	if g.Labels == nil {
		g.Labels = model.LabelSet{}
	}
	g.Labels[model.AddressLabel] = "b:1"
	p.assignOwners()
	require.Equal(t, []string{"a:1", "b:1"}, p.cluster.peers.Names(), "b:1 is a peer by its group's address")
}
