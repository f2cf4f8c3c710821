package cluster

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/file"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/discovery/zookeeper"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// The discoverers that keep members register through the cluster's interface; the others cannot.
func TestClusterRegistrars(t *testing.T) {
	var _ Registrar = (*discovery.Serverset)(nil)
	var _ Registrar = (*discovery.Nerve)(nil)
	require.ErrorContains(t, CheckRegister(&discovery.Static{}, `static-discovery "s"`, "a:1"),
		`register: static-discovery "s" cannot register this instance`)
	require.NoError(t, CheckRegister(&discovery.Serverset{}, "zk", "a:1"))
	require.NoError(t, CheckRegister(nil, "zk", "a"), "no discoverer: its own error says so")
	for self, want := range map[string]string{
		"a":      `register: self "a" is not the host:port of a member`,
		"a:http": `register: self "a:http" is not the host:port of a member: port "http" is not a number`,
		"a:0":    `register: self "a:0" is not the host:port of a member: port "0" is not a number from 1 to 65535`,
	} {
		require.ErrorContains(t, CheckRegister(&discovery.Nerve{}, "zk", self), want)
	}
}

func TestClusterDefaults(t *testing.T) {
	self, err := DefaultSelf()
	require.NoError(t, err)
	host, port, err := net.SplitHostPort(self)
	require.NoError(t, err)
	require.Equal(t, "9273", port, "the port the sharded manifest lists its replicas with")
	require.True(t, net.ParseIP(host).IsGlobalUnicast(), "an address of this host, not its name: %s", self)

	require.Equal(t, 21*time.Second, DefaultEmptyPeersAfter(&file.SDConfig{RefreshInterval: model.Duration(7 * time.Second)}))
	require.Equal(t, 5*time.Minute, DefaultEmptyPeersAfter(&file.SDConfig{}), "no refresh interval")
	require.Equal(t, 5*time.Minute, DefaultEmptyPeersAfter(&zookeeper.ServersetSDConfig{}), "a watch")
	require.Equal(t, 5*time.Minute, DefaultEmptyPeersAfter(nil))
}

// The nearest instances listed: those of self's host first, else by edit distance, case aside.
func TestClusterNearestPeers(t *testing.T) {
	require.Equal(t, []string{"a:2", "A:3"}, nearest("a:1", []string{"b:1", "a:2", "a.example:1", "A:3"}))
	require.Equal(t, []string{"10.0.0.7:9273", "10.1.0.9:9273", "10.0.0.17:9273"}, // a tie keeps the order listed
		nearest("10.0.0.8:9273", []string{"192.168.1.1:9273", "10.1.0.9:9273", "10.0.0.17:9273", "10.0.0.7:9273"}))
	require.Empty(t, nearest("a:1", nil))
}

// A member that the peer discoverer does not list owns none of the targets, which the listed ones share
// among themselves, and says so with an error that names self and the nearest instances listed, at once
// and every minute while it lasts.
func TestClusterSelfNotListed(t *testing.T) {
	log := &testutil.CaptureLogger{}
	peers := staticPeers("a.example:1", "b:1", "c:1", "xyz.example:1")
	c := New(Config{Peers: `file-discovery "peers"`, Self: "a:1", Replication: 1}, func() []*targetgroup.Group { return peers() }, log)
	targets := newPool("counted", 30)
	c.Assign([]Pool{targets})
	c.Assign([]Pool{targets})
	errs := log.Errors()
	require.Len(t, errs, 1, "once, at the first answer: not again at the next")
	require.Contains(t, errs[0], `cluster: self "a:1" is not among the 4 instances file-discovery "peers" lists (nearest: ["b:1" "c:1" "a.example:1"])`)
	require.Contains(t, errs[0], "it scrapes none of the shared targets")
	for _, here := range targets.here {
		require.False(t, here)
	}
	require.Zero(t, c.Stats().SelfListed.Load())
	require.Zero(t, c.Stats().TargetsOwned.Load())
	require.EqualValues(t, 4, c.Stats().Peers.Load(), "the listed ones; not self")
	require.Equal(t, "E! [] "+c.Member().Error, errs[0])

	c.Remind(time.Now().Add(unlistedEvery - time.Second))
	require.Len(t, log.Errors(), 1)
	c.Remind(time.Now().Add(unlistedEvery + time.Second))
	require.Len(t, log.Errors(), 2)
	require.Equal(t, errs[0], log.Errors()[1])

	peers = staticPeers("a:1", "b:1")
	c.Assign([]Pool{targets})
	require.Equal(t, "", c.Member().Error)
	require.True(t, c.Member().Listed)
	c.Remind(time.Now().Add(2 * unlistedEvery))
	require.Len(t, log.Errors(), 2)
	require.Positive(t, c.Stats().TargetsOwned.Load())
}

// Host names compare case-insensitively: self "A:1" is the instance listed as "a:1", a member that takes
// its share under the listed spelling, which is the one the others hash.
func TestClusterSelfMatchesCaseInsensitively(t *testing.T) {
	shares := map[string]map[string]bool{}
	for _, self := range []string{"A:1", "a:1"} {
		log := &testutil.CaptureLogger{}
		c := New(Config{Peers: "peers", Self: self, Replication: 1}, staticPeers("a:1", "b:1"), log)
		targets := newPool("counted", 30)
		c.Assign([]Pool{targets})
		require.Empty(t, log.Errors())
		require.Empty(t, log.Warnings())
		require.EqualValues(t, 1, c.Stats().SelfListed.Load())
		require.EqualValues(t, 2, c.Stats().Peers.Load())
		require.Positive(t, c.Stats().TargetsOwned.Load())
		shares[self] = targets.here
	}
	require.Equal(t, shares["a:1"], shares["A:1"], "A:1 scrapes what a:1 does")
}

// Without relabel-configs, the peer discoverer's targets on another port than self's are no instances (a
// pod's other container ports, a portless container's bare IP): they are dropped, with one warning that
// names them, again only when they change.
func TestClusterPortFilter(t *testing.T) {
	log := &testutil.CaptureLogger{}
	c := New(Config{Peers: `file-discovery "peers"`, Self: "a:1", Replication: 1}, staticPeers("a:1", "a:2", "10.0.0.9", "b:1"), log)
	c.Assign(nil)
	c.Assign(nil)
	require.Equal(t, []string{"a:1", "b:1"}, c.Peers())
	require.EqualValues(t, 1, c.Stats().SelfListed.Load())
	require.Len(t, log.Warnings(), 1, "once, not at each assignment: %q", log.Warnings())
	require.Contains(t, log.Warnings()[0], `cluster: file-discovery "peers" lists 2 targets on another port than self "a:1"'s, which are not taken for instances: ["a:2" "10.0.0.9"]`)
}

// relabel-configs choose the instances among the peer discoverer's targets, by their labels, and may
// rewrite their __address__; then no port filter applies.
func TestClusterRelabelConfigs(t *testing.T) {
	group := func(labels model.LabelSet, addrs ...string) *targetgroup.Group {
		g := &targetgroup.Group{Labels: labels}
		for _, a := range addrs {
			g.Targets = append(g.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(a)})
		}
		return g
	}
	groups := []*targetgroup.Group{
		group(model.LabelSet{"port_name": "peer", "ready": "true"}, "10.0.0.1:9273", "10.0.0.2:9273"),
		group(model.LabelSet{"port_name": "http", "ready": "true"}, "10.0.0.1:8080", "10.0.0.1"),
		group(model.LabelSet{"port_name": "peer", "ready": "false"}, "10.0.0.3:9273"),
		group(model.LabelSet{"port_name": "peer", "ready": "true", "other_port": "9273"}, "10.0.0.4:1"),
	}
	str := func(s string) *string { return &s }
	rules, err := scrape.RelabelConfigs("relabel-configs", []*scrape.Relabel{
		{SourceLabels: []string{"port_name", "ready"}, Regex: str("peer;true"), Action: "keep"},
		{SourceLabels: []string{"__address__", "other_port"}, Regex: str(`([^:]+):\d+;(\d+)`), TargetLabel: "__address__", Replacement: str("$1:$2")},
	})
	require.NoError(t, err)
	log := &testutil.CaptureLogger{}
	c := New(Config{Peers: "peers", Self: "10.0.0.1:9273", Replication: 1, Rules: rules}, func() []*targetgroup.Group { return groups }, log)
	c.Assign(nil)
	require.Equal(t, []string{"10.0.0.1:9273", "10.0.0.2:9273", "10.0.0.4:9273"}, c.Peers())
	require.EqualValues(t, 1, c.Stats().SelfListed.Load())
	require.Empty(t, log.Warnings())
}

// Through an empty answer the last peers are kept for empty-peers-after, plus this instance's rank among
// them times empty-peers-after over their number; then it is alone. A new answer ends it.
func TestClusterKeepsTheLastPeers(t *testing.T) {
	start := time.Now()
	for _, tc := range []struct {
		self  string
		after time.Duration // when it falls back
	}{{"a:1", 30 * time.Second}, {"b:1", 40 * time.Second}, {"c:1", 50 * time.Second}} {
		logs := &testutil.CaptureLogger{}
		c := New(Config{Self: tc.self, EmptyPeersAfter: 30 * time.Second}, nil, logs)
		last := []string{"a:1", "b:1", "c:1"}
		require.Nil(t, c.current(nil, start), "never listed: alone")
		require.Equal(t, last, c.current(last, start))
		require.Zero(t, c.stats.PeersStale.Load())
		require.Equal(t, last, c.current(nil, start), "empty: the last peers")
		require.EqualValues(t, 1, c.stats.PeersStale.Load())
		require.Len(t, logs.Warnings(), 1)
		require.False(t, c.FallbackDue(start.Add(tc.after-time.Millisecond)))
		require.Equal(t, last, c.current(nil, start.Add(tc.after-time.Millisecond)), tc.self)
		require.True(t, c.FallbackDue(start.Add(tc.after)))
		require.Nil(t, c.current(nil, start.Add(tc.after)), tc.self)
		require.Zero(t, c.stats.PeersStale.Load())
		require.Len(t, logs.Warnings(), 2)
		require.Nil(t, c.current(nil, start.Add(2*tc.after)), "given up on: alone")
		require.False(t, c.FallbackDue(start.Add(2*tc.after)))

		require.Equal(t, last, c.current(last, start))
		require.Equal(t, last, c.current(nil, start))
		require.Equal(t, []string{"b:1"}, c.current([]string{"b:1"}, start.Add(time.Second)), "a new answer ends it")
		require.Zero(t, c.stats.PeersStale.Load())
	}
}

// BenchmarkAssign is what a change of peers costs: every target's key (its scraper and labels) hashed and
// its owners chosen, for 10,000 targets among 100 peers.
func BenchmarkAssign(b *testing.B) {
	var peers []string
	for i := range 100 {
		peers = append(peers, fmt.Sprintf("10.200.0.%d:9273", i))
	}
	c := New(Config{Peers: "peers", Self: peers[0], Replication: 1}, staticPeers(peers...), testutil.Logger{Quiet: true})
	targets := newPool("node", 10_000)
	b.ResetTimer()
	for range b.N {
		c.Assign([]Pool{targets})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10_000, "ns/target")
}
