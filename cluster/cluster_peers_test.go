package cluster

import (
	"fmt"
	"strings"
	"testing"

	"github.com/influxdata/telegraf/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// pool is a scraper's targets, by their labels, as the cluster shares them.
type pool struct {
	name    string
	targets []labels.Labels
	here    map[string]bool // by the labels' String
	shares  int             // the calls of Share
}

func newPool(name string, n int) *pool {
	p := &pool{name: name}
	for i := range n {
		p.targets = append(p.targets, labels.FromStrings("instance", fmt.Sprintf("10.0.%d.%d:9100", i/256, i%256), "n", fmt.Sprint(i)))
	}
	return p
}

func (p *pool) Name() string { return p.name }

func (p *pool) Share(key func(labels.Labels) uint64, place func(uint64) (rank, owners int)) (owned int) {
	p.shares++
	p.here = map[string]bool{}
	for _, ls := range p.targets {
		rank, _ := place(key(ls))
		p.here[ls.String()] = rank >= 0
	}
	return p.Owned()
}

func (p *pool) Owned() (owned int) {
	for _, here := range p.here {
		if here {
			owned++
		}
	}
	return owned
}

// A peer whose __address__ comes from its group's labels, not its own, is a peer all the same, as a
// target's address is taken from its group's labels.
func TestClusterPeerAddressFromItsGroup(t *testing.T) {
	groups := []*targetgroup.Group{
		{Targets: []model.LabelSet{{model.AddressLabel: "a:1"}}},
		{Targets: []model.LabelSet{{}}, Labels: model.LabelSet{model.AddressLabel: "b:1"}},
	}
	c := New(Config{Peers: "peers", Self: "a:1", Replication: 1}, func() []*targetgroup.Group { return groups }, testutil.Logger{})
	c.Assign(nil)
	require.Equal(t, []string{"a:1", "b:1"}, c.Peers(), "b:1 is a peer by its group's address")
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
	targets := newPool("counted", 40)
	owners := map[string]map[string][]string{}
	for self, peers := range lists {
		c := New(Config{Peers: "peers", Self: self, Replication: 2}, staticPeers(peers...), testutil.Logger{Quiet: true})
		c.Assign([]Pool{targets})
		require.EqualValues(t, 4, c.Stats().Peers.Load(), "the empty address is no peer, a duplicate one peer")
		owners[self] = map[string][]string{}
		for _, ls := range targets.targets {
			o := c.Owners(targets.name, ls)
			require.Equal(t, targets.here[ls.String()], o[0] == self || o[1] == self)
			owners[self][ls.String()] = o
		}
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
	log := &testutil.CaptureLogger{}
	peers := []string{"a:1", "b:1", "a:1"}
	c := New(Config{Peers: `file-discovery "peers"`, Self: "a:1", Replication: 1}, func() []*targetgroup.Group { return staticPeers(peers...)() }, log)
	c.Assign(nil)
	c.Assign(nil)
	require.Len(t, log.Warnings(), 1, "%q", log.Warnings())
	require.Contains(t, log.Warnings()[0], `cluster: file-discovery "peers" lists self "a:1" 2 times`)
	peers = append(peers, "a:1")
	c.Assign(nil)
	require.Len(t, log.Warnings(), 2, "%q", log.Warnings())
	require.Contains(t, log.Warnings()[1], `lists self "a:1" 3 times`)
}

// The owners of every target are recomputed when the peers change, and only then.
func TestClusterResharesOnPeerChangeOnly(t *testing.T) {
	peers := staticPeers("a:1", "b:1")
	c := New(Config{Peers: "peers", Self: "a:1", Replication: 1}, func() []*targetgroup.Group { return peers() }, testutil.Logger{Quiet: true})
	targets := newPool("counted", 40)
	require.True(t, c.Assign([]Pool{targets}))
	require.False(t, c.Assign([]Pool{targets}), "the same peers")
	require.Equal(t, 1, targets.shares)
	owned := targets.Owned()
	require.Less(t, owned, 40)
	peers = staticPeers("a:1")
	require.True(t, c.Assign([]Pool{targets}))
	require.Equal(t, 2, targets.shares)
	require.EqualValues(t, 40, c.Stats().TargetsOwned.Load())
	require.EqualValues(t, 2, c.Stats().Reshares.Load())
}
