package discovering_prometheus

import (
	"os"
	"path/filepath"
	"strings"
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
	groups := p.sd.Groups(p.cluster.key)
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

// Peer lists a hostile or careless discoverer could give (duplicates, empty addresses, unicode, a huge
// address, any order) leave every member with the same peers and the same owners of every target, and
// no target without R owners.
func TestClusterHostilePeerListsAgree(t *testing.T) {
	huge := strings.Repeat("x", 64<<10) + ":1"
	lists := map[string][]string{
		"a:1": {"a:1", "b:1", "ü:1", huge},
		"b:1": {huge, "", "b:1", "ü:1", "a:1", "b:1", "", "ü:1"},
	}
	targets := newCountingTargets(t, 40)
	dir := t.TempDir()
	targetsFile := filepath.Join(dir, "targets.json")
	require.NoError(t, os.WriteFile(targetsFile, targets.fileSD(), 0o644))
	owners := map[string]map[string][]string{}
	for self, peers := range lists {
		peersFile := filepath.Join(dir, self+".json")
		writePeers(t, peersFile, peers...)
		p, stats := startMember(t, targetsFile, peersFile, self, 2)
		require.NoError(t, p.Gather(&testutil.Accumulator{}))
		require.EqualValues(t, 4, clusterStat(stats, "peers"), "the empty address is no peer, a duplicate one peer")
		owners[self] = ownersByTarget(t, p)
	}
	require.Len(t, owners["a:1"], 40)
	require.Equal(t, owners["a:1"], owners["b:1"])
	for target, o := range owners["a:1"] {
		require.Len(t, o, 2, "target %s", target)
		require.NotEqual(t, o[0], o[1], "target %s", target)
	}
}

// A discoverer that lists self twice (another instance registered with the same self, say) makes two
// instances that own and scrape the same targets: the member says so, once, and again if it changes.
func TestClusterSelfListedTwice(t *testing.T) {
	_, warnings := twoGathersAsA(t, newCountingTargets(t, 10), "a:1", "b:1", "a:1")
	require.Len(t, warnings, 1, "%q", warnings)
	require.Contains(t, warnings[0], `cluster: file-discovery "peers" lists self "a:1" 2 times`)
}
