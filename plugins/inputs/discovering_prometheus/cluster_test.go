package discovering_prometheus

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/selfstat"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/cluster"
)

func TestClusterInitErrorsNameTheKey(t *testing.T) {
	peers := `
  [[inputs.discovering_prometheus.static-discovery]]
    id = "peers"
    targets = ["a:1"]
  [[inputs.discovering_prometheus.serverset]]
    id = "zk"
    servers = ["127.0.0.1:2181"]
    paths = ["/scrapers"]`
	for _, tc := range []struct {
		name, cluster, want string
	}{
		{"unknown service", `discoverer-service = "zk"
    discoverer-id = "peers"`, `cluster: discoverer-service: "zk" is not a discoverer`},
		{"unknown id", `discoverer-service = "static-discovery"
    discoverer-id = "nobody"`, `cluster: discoverer-id: no enabled [[static-discovery]] section has id "nobody"`},
		{"replication-factor zero", `discoverer-service = "static-discovery"
    discoverer-id = "peers"
    replication-factor = 0`, `cluster: replication-factor: 0 is less than 1`},
		{"replication-factor negative", `discoverer-service = "static-discovery"
    discoverer-id = "peers"
    replication-factor = -2`, `cluster: replication-factor: -2 is less than 1`},
		{"register on static", `discoverer-service = "static-discovery"
    discoverer-id = "peers"
    self = "a:1"
    register = true`, `cluster: register: static-discovery "peers" cannot register this instance`},
		{"register without a port", `discoverer-service = "serverset"
    discoverer-id = "zk"
    self = "a"
    register = true`, `cluster: register: self "a" is not the host:port of a member`},
		{"register with a named port", `discoverer-service = "serverset"
    discoverer-id = "zk"
    self = "a:http"
    register = true`, `cluster: register: self "a:http" is not the host:port of a member: port "http" is not a number`},
		{"register with port 0", `discoverer-service = "serverset"
    discoverer-id = "zk"
    self = "a:0"
    register = true`, `cluster: register: self "a:0" is not the host:port of a member: port "0" is not a number from 1 to 65535`},
		{"self with spaces", `discoverer-service = "static-discovery"
    discoverer-id = "peers"
    self = " a:1"`, `cluster: self: " a:1" has spaces around it`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := scraperConf("", peers+"\n  [inputs.discovering_prometheus.cluster]\n    "+tc.cluster)
			for loader, p := range map[string]*DiscoveringPrometheus{"telegraf": mustLoad(t, conf), "shim": loadShim(t, conf)} {
				err := p.Init()
				require.Error(t, err, loader)
				require.Contains(t, err.Error(), tc.want, loader)
			}
		})
	}
}

func TestClusterDefaults(t *testing.T) {
	conf := scraperConf("", `
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "static-discovery"
    discoverer-id = "s"`)
	self, err := cluster.DefaultSelf()
	require.NoError(t, err)
	for loader, p := range map[string]*DiscoveringPrometheus{"telegraf": mustLoad(t, conf), "shim": loadShim(t, conf)} {
		require.NoError(t, p.Init(), loader)
		require.Equal(t, self, p.Cluster.Self, loader)
		require.Equal(t, 1, *p.Cluster.ReplicationFactor, loader)
		require.False(t, p.Cluster.Register, loader)
	}
}

// countingTargets is one loopback exporter that serves n targets, told apart by a query parameter, and
// counts the scrapes of each.
type countingTargets struct {
	srv  *httptest.Server
	n    int
	mu   sync.Mutex
	hits map[string]int
}

func newCountingTargets(t *testing.T, n int) *countingTargets {
	c := &countingTargets{n: n, hits: map[string]int{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.hits[r.URL.Query().Get("n")]++
		c.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "m 1")
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// fileSD is the file_sd content that lists the targets, one group each, with the labels n and __param_n.
func (c *countingTargets) fileSD() []byte {
	var groups []map[string]any
	for i := range c.n {
		n := fmt.Sprint(i)
		groups = append(groups, map[string]any{
			"targets": []string{strings.TrimPrefix(c.srv.URL, "http://")},
			"labels":  map[string]string{"n": n, "__param_n": n},
		})
	}
	b, _ := json.Marshal(groups)
	return b
}

// take returns the scrapes of each target since the last take.
func (c *countingTargets) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	hits := c.hits
	c.hits = map[string]int{}
	return hits
}

func writePeers(t *testing.T, path string, peers ...string) {
	b, _ := json.Marshal([]map[string]any{{"targets": peers}})
	require.NoError(t, os.WriteFile(path+".tmp", b, 0o644))
	require.NoError(t, os.Rename(path+".tmp", path))
}

// startMember starts a plugin of a cluster whose peers are listed in peersFile.
func startMember(t testing.TB, targetsFile, peersFile, self string, r int) (*DiscoveringPrometheus, *selfstat.Collector) {
	return startMemberLogging(t, targetsFile, peersFile, self, r, testutil.Logger{})
}

func startMemberLogging(t testing.TB, targetsFile, peersFile, self string, r int, log telegraf.Logger) (*DiscoveringPrometheus, *selfstat.Collector) {
	return startMemberWith(t, targetsFile, peersFile, self, r, log, "")
}

// startMemberWith starts a member whose cluster table has the lines of extra too.
func startMemberWith(t testing.TB, targetsFile, peersFile, self string, r int, log telegraf.Logger, extra string) (*DiscoveringPrometheus, *selfstat.Collector) {
	p, err := loadTelegraf(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  discovery_wait = "1s"
  [[inputs.discovering_prometheus.scraper]]
    name = "counted"
    db = "db"
    rp = "rp"
    discoverer-service = "file-discovery"
    discoverer-id = "targets"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.file-discovery]]
    id = "targets"
    files = [%q]
  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = [%q]
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "file-discovery"
    discoverer-id = "peers"
    self = %q
    replication-factor = %d
%s
`, targetsFile, peersFile, self, r, extra))
	require.NoError(t, err)
	stats := selfstat.NewCollector(map[string]string{"member": self}) // selfstat's registry is global
	p.Statistics = stats
	p.Log = log
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	t.Cleanup(p.Stop)
	return p, stats
}

// ownersByTarget are the owners each member shows for each target (by its label n).
func ownersByTarget(t *testing.T, p *DiscoveringPrometheus) map[string][]string {
	owners := map[string][]string{}
	for _, a := range p.Targets().Active {
		require.Equal(t, slices.Contains(a.Owners, p.Cluster.Self), a.ScrapedHere, "target %s", a.Labels["n"])
		owners[a.Labels["n"]] = a.Owners
	}
	return owners
}

func clusterStat(stats *selfstat.Collector, field string) int64 {
	return stats.Get(statsMeasurement, field, map[string]string{"cluster_service": "file-discovery", "cluster_id": "peers"}).Get()
}

// TestClusterSharesTargets: three members scrape each target exactly R times between them, agree on its
// owners and say which they scrape; when one leaves, the other two take over only its targets.
func TestClusterSharesTargets(t *testing.T) {
	const n = 60
	for _, r := range []int{1, 2} {
		t.Run(fmt.Sprintf("r=%d", r), func(t *testing.T) {
			targets := newCountingTargets(t, n)
			dir := t.TempDir()
			targetsFile, peersFile := filepath.Join(dir, "targets.json"), filepath.Join(dir, "peers.json")
			require.NoError(t, os.WriteFile(targetsFile, targets.fileSD(), 0o644))
			names := []string{"a:1", "b:1", "c:1"}
			writePeers(t, peersFile, names...)
			members := map[string]*DiscoveringPrometheus{}
			stats := map[string]*selfstat.Collector{}
			for _, name := range names {
				members[name], stats[name] = startMember(t, targetsFile, peersFile, name, r)
			}
			gatherAll := func(names ...string) {
				for _, name := range names {
					require.NoError(t, members[name].Gather(&testutil.Accumulator{}))
				}
			}
			gatherAll(names...)
			hits := targets.take()
			require.Len(t, hits, n)
			for target, count := range hits {
				require.Equal(t, r, count, "target %s", target)
			}
			before := ownersByTarget(t, members["a:1"])
			require.Len(t, before, n)
			var owned int64
			for _, name := range names {
				require.Equal(t, before, ownersByTarget(t, members[name]), "%s agrees with a:1", name)
				require.EqualValues(t, 3, clusterStat(stats[name], "peers"))
				owned += clusterStat(stats[name], "targets_owned")
			}
			require.EqualValues(t, n*r, owned)

			// c:1 leaves.
			writePeers(t, peersFile, "a:1", "b:1")
			members["c:1"].Stop()
			for _, name := range names[:2] {
				require.Eventually(t, func() bool { return len(listedPeers(members[name])) == 2 }, 10*time.Second, 10*time.Millisecond)
			}
			time.Sleep(time.Second) // the scrape interval
			gatherAll(names[:2]...)
			hits = targets.take()
			require.Len(t, hits, n)
			for target, count := range hits {
				require.Equal(t, r, count, "target %s after c:1 left", target)
			}
			after := ownersByTarget(t, members["a:1"])
			require.Equal(t, after, ownersByTarget(t, members["b:1"]))
			moved := 0
			for target, owners := range before {
				kept := slices.DeleteFunc(slices.Clone(owners), func(o string) bool { return o == "c:1" })
				require.Subset(t, after[target], kept, "target %s keeps its owners but c:1", target)
				if len(kept) < len(owners) {
					moved++
				} else {
					require.Equal(t, owners, after[target], "target %s", target)
				}
			}
			require.Positive(t, moved)
			require.EqualValues(t, 2, clusterStat(stats["a:1"], "peers"))
		})
	}
}

// listedPeers are the addresses the peer discoverer lists now.
func listedPeers(p *DiscoveringPrometheus) []string {
	var peers []string
	for _, g := range p.sd.Groups(p.Cluster.key()) {
		for _, t := range g.Targets {
			peers = append(peers, string(t["__address__"]))
		}
	}
	return peers
}

// TestClusterAloneScrapesEverything: before the peer discoverer answers (its file is missing), and when it
// lists only this member, it owns every target.
func TestClusterAloneScrapesEverything(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peers []string
	}{
		{"no answer", nil},
		{"only itself", []string{"a:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			targets := newCountingTargets(t, 20)
			dir := t.TempDir()
			targetsFile, peersFile := filepath.Join(dir, "targets.json"), filepath.Join(dir, "peers.json")
			require.NoError(t, os.WriteFile(targetsFile, targets.fileSD(), 0o644))
			if tc.peers != nil {
				writePeers(t, peersFile, tc.peers...)
			}
			p, stats := startMember(t, targetsFile, peersFile, "a:1", 2)
			require.NoError(t, p.Gather(&testutil.Accumulator{}))
			hits := targets.take()
			require.Len(t, hits, 20)
			for _, a := range p.Targets().Active {
				require.Equal(t, []string{"a:1"}, a.Owners)
				require.True(t, a.ScrapedHere)
			}
			require.EqualValues(t, 1, clusterStat(stats, "peers"))
			require.EqualValues(t, 20, clusterStat(stats, "targets_owned"))
		})
	}
}

// Without a cluster table every target is scraped here and has no owners to show.
func TestNoClusterShowsNoOwners(t *testing.T) {
	srv := httptest.NewServer(textExporter("m 1\n"))
	t.Cleanup(srv.Close)
	p, _ := startOurs(t, srv.URL, "kapacitor", "")
	targets := p.Targets().Active
	require.Len(t, targets, 1)
	require.Nil(t, targets[0].Owners)
	require.True(t, targets[0].ScrapedHere)
	b, err := json.Marshal(targets[0])
	require.NoError(t, err)
	require.NotContains(t, string(b), `"owners"`)
	require.Contains(t, string(b), `"scrapedHere":true`)
}

// twoGathers runs member self for two gathers of targets.
func twoGathers(t *testing.T, targets *countingTargets, self string, peers ...string) (*DiscoveringPrometheus, *testutil.CaptureLogger, *selfstat.Collector) {
	t.Helper()
	dir := t.TempDir()
	targetsFile, peersFile := filepath.Join(dir, "targets.json"), filepath.Join(dir, "peers.json")
	require.NoError(t, os.WriteFile(targetsFile, targets.fileSD(), 0o644))
	writePeers(t, peersFile, peers...)
	log := &testutil.CaptureLogger{}
	p, stats := startMemberWith(t, targetsFile, peersFile, self, 1, log, "")
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	return p, log, stats
}

// A member that the peer discoverer does not list (its self does not match) is no member: it scrapes none
// of the targets, which the listed ones share among themselves, and says so with an error that names self
// and the nearest instances listed, at once and every minute while it lasts, on the status page, in
// -targets and as cluster_self_listed 0.
func TestClusterSelfNotListed(t *testing.T) {
	targets := newCountingTargets(t, 30)
	p, log, stats := twoGathers(t, targets, "a:1", "a.example:1", "b:1", "c:1", "xyz.example:1")
	require.Empty(t, targets.take(), "an unlisted member scrapes nothing")
	require.Empty(t, log.Warnings())
	errs := log.Errors()
	require.Len(t, errs, 1, "once, at the first answer: not again at the next gather")
	require.Contains(t, errs[0], `cluster: self "a:1" is not among the 4 instances file-discovery "peers" lists (nearest: ["b:1" "c:1" "a.example:1"])`)
	require.Contains(t, errs[0], "it scrapes none of the shared targets")
	for _, a := range p.Targets().Active {
		require.False(t, a.ScrapedHere)
		require.Len(t, a.Owners, 1)
		require.NotEqual(t, "a:1", a.Owners[0])
	}
	require.EqualValues(t, 0, clusterStat(stats, "self_listed"))
	require.EqualValues(t, 0, clusterStat(stats, "targets_owned"))
	require.EqualValues(t, 4, clusterStat(stats, "peers"), "the listed ones; not self")
	require.Equal(t, errs[0], "E! [] "+p.Targets().Cluster.Error)
	require.Equal(t, &ClusterMember{Self: "a:1", Error: p.Targets().Cluster.Error}, p.Targets().Cluster)

	// Every minute while it lasts, also without news from discovery.
	p.cluster.Remind(time.Now().Add(time.Minute - time.Second))
	require.Len(t, log.Errors(), 1)
	p.cluster.Remind(time.Now().Add(time.Minute + time.Second))
	require.Len(t, log.Errors(), 2)
	require.Equal(t, errs[0], log.Errors()[1])

	// Listed at last: a member, that scrapes its share and says no more.
	writePeers(t, peersFileOf(t, p), "a:1", "b:1")
	require.Eventually(t, func() bool {
		require.NoError(t, p.Gather(&testutil.Accumulator{}))
		return clusterStat(stats, "self_listed") == 1 && clusterStat(stats, "targets_owned") > 0
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, &ClusterMember{Self: "a:1", Listed: true}, p.Targets().Cluster)
	p.cluster.Remind(time.Now().Add(2 * time.Minute))
	require.Len(t, log.Errors(), 2)
}

// peersFileOf is the file of a member's peer discoverer.
func peersFileOf(t *testing.T, p *DiscoveringPrometheus) string {
	for _, f := range p.File {
		if f.ID == "peers" {
			return f.Files[0]
		}
	}
	t.Fatal("no peers file")
	return ""
}

// Host names compare case-insensitively: self "A:1" is the instance listed as "a:1", a member that takes
// its share under the listed spelling, which is the one the others hash.
func TestClusterSelfMatchesCaseInsensitively(t *testing.T) {
	targets := newCountingTargets(t, 30)
	upper, log, stats := twoGathers(t, targets, "A:1", "a:1", "b:1")
	hits := targets.take()
	lower, _, _ := twoGathers(t, targets, "a:1", "a:1", "b:1")
	require.Equal(t, hits, targets.take(), "A:1 scrapes what a:1 does")
	require.NotEmpty(t, hits)
	require.Empty(t, log.Errors())
	require.Empty(t, log.Warnings())
	require.EqualValues(t, 1, clusterStat(stats, "self_listed"))
	require.EqualValues(t, 2, clusterStat(stats, "peers"))
	require.Equal(t, ownersByTarget(t, lower), func() map[string][]string {
		owners := map[string][]string{}
		for _, a := range upper.Targets().Active {
			owners[a.Labels["n"]] = a.Owners
		}
		return owners
	}())
	require.Equal(t, &ClusterMember{Self: "A:1", Listed: true}, upper.Targets().Cluster)
}

// Without relabel-configs, the peer discoverer's targets on another port than self's are no instances (a
// pod's other container ports, a portless container's bare IP): they are dropped, with one warning that
// names them, again only when they change.
func TestClusterPortFilter(t *testing.T) {
	targets := newCountingTargets(t, 30)
	p, log, stats := twoGathers(t, targets, "a:1", "a:1", "a:2", "10.0.0.9", "b:1")
	require.Equal(t, []string{"a:1", "b:1"}, p.cluster.Peers())
	require.EqualValues(t, 2, clusterStat(stats, "peers"))
	require.EqualValues(t, 1, clusterStat(stats, "self_listed"))
	require.Len(t, log.Warnings(), 1, "once, not at each gather: %q", log.Warnings())
	require.Contains(t, log.Warnings()[0], `cluster: file-discovery "peers" lists 2 targets on another port than self "a:1"'s, which are not taken for instances: ["a:2" "10.0.0.9"]`)
	require.Len(t, targets.take(), 30-len(ownedBy(t, p, "b:1")))
}

// ownedBy are the targets (by n) whose owners are the one given.
func ownedBy(t *testing.T, p *DiscoveringPrometheus, owner string) []string {
	var out []string
	for n, owners := range ownersByTarget(t, p) {
		if slices.Equal(owners, []string{owner}) {
			out = append(out, n)
		}
	}
	return out
}

// relabel-configs choose the instances among the peer discoverer's targets, by their labels, and may
// rewrite their __address__; then no port filter applies.
func TestClusterRelabelConfigs(t *testing.T) {
	targets := newCountingTargets(t, 30)
	dir := t.TempDir()
	targetsFile, peersFile := filepath.Join(dir, "targets.json"), filepath.Join(dir, "peers.json")
	require.NoError(t, os.WriteFile(targetsFile, targets.fileSD(), 0o644))
	b, _ := json.Marshal([]map[string]any{
		{"targets": []string{"10.0.0.1:9273", "10.0.0.2:9273"}, "labels": map[string]string{"port_name": "peer", "ready": "true"}},
		{"targets": []string{"10.0.0.1:8080", "10.0.0.1"}, "labels": map[string]string{"port_name": "http", "ready": "true"}},
		{"targets": []string{"10.0.0.3:9273"}, "labels": map[string]string{"port_name": "peer", "ready": "false"}},
		{"targets": []string{"10.0.0.4:1"}, "labels": map[string]string{"port_name": "peer", "ready": "true", "other_port": "9273"}},
	})
	require.NoError(t, os.WriteFile(peersFile, b, 0o644))
	log := &testutil.CaptureLogger{}
	p, stats := startMemberWith(t, targetsFile, peersFile, "10.0.0.1:9273", 1, log, `
    [[inputs.discovering_prometheus.cluster.relabel-configs]]
      source-labels = ["port_name", "ready"]
      regex = "peer;true"
      action = "keep"
    [[inputs.discovering_prometheus.cluster.relabel-configs]]
      source-labels = ["__address__", "other_port"]
      regex = '([^:]+):\d+;(\d+)'
      target-label = "__address__"
      replacement = "$1:$2"`)
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	require.Equal(t, []string{"10.0.0.1:9273", "10.0.0.2:9273", "10.0.0.4:9273"}, p.cluster.Peers())
	require.EqualValues(t, 1, clusterStat(stats, "self_listed"))
	require.Empty(t, log.Warnings())

	bad := mustLoad(t, scraperConf("", `
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    [[inputs.discovering_prometheus.cluster.relabel-configs]]
      action = "nonsense"`))
	require.ErrorContains(t, bad.Init(), `cluster: relabel-configs[0]: action: "nonsense" is not a relabel action`)
}

// empty-peers-after defaults to three refresh-intervals of the peer discoverer, or 5 minutes for one that
// has none (static, watches); a negative one is refused.
func TestClusterEmptyPeersAfterDefault(t *testing.T) {
	for _, tc := range []struct {
		name, peers, cluster string
		want                 time.Duration
	}{
		{"file's refresh-interval", `
  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = ["/nonexistent.json"]
    refresh-interval = "7s"`, "", 21 * time.Second},
		{"file's default refresh-interval", `
  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = ["/nonexistent.json"]`, "", 15 * time.Minute},
		{"dns", `
  [[inputs.discovering_prometheus.dns]]
    id = "peers"
    record-names = ["peers.example"]
    refresh-interval = "10s"`, "", 30 * time.Second},
		{"no refresh interval", `
  [[inputs.discovering_prometheus.serverset]]
    id = "peers"
    servers = ["127.0.0.1:2181"]
    paths = ["/scrapers"]`, "", 5 * time.Minute},
		{"set", `
  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = ["/nonexistent.json"]`, `empty-peers-after = "1m"`, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			service := strings.TrimSuffix(strings.TrimPrefix(strings.Fields(tc.peers)[0], "[[inputs.discovering_prometheus."), "]]")
			conf := scraperConf("", tc.peers+fmt.Sprintf(`
  [inputs.discovering_prometheus.cluster]
    discoverer-service = %q
    discoverer-id = "peers"
    %s`, service, tc.cluster))
			p := mustLoad(t, conf)
			require.NoError(t, p.Init())
			require.Equal(t, tc.want, time.Duration(p.Cluster.EmptyPeersAfter))
		})
	}
	p := mustLoad(t, scraperConf("", `
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    empty-peers-after = "-1s"`))
	require.ErrorContains(t, p.Init(), "cluster: empty-peers-after: -1s is negative")
}

// acl is for register only, and must be "user:password"; the error does not show it.
func TestClusterACL(t *testing.T) {
	p := mustLoad(t, scraperConf("", `
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    acl = "u:p"`))
	require.ErrorContains(t, p.Init(), "cluster: acl: only with register = true")
	for acl, want := range map[string]string{"u:p": "", "u:": "", "nocolon": `cluster: acl: not "user:password"`, ":p": `cluster: acl: not "user:password"`, "": ""} {
		c := &Cluster{ACL: config.NewSecret([]byte(acl))}
		digest, err := c.digest()
		if want != "" {
			require.EqualError(t, err, want, acl)
			continue
		}
		require.NoError(t, err, acl)
		require.Equal(t, acl, digest)
	}
}
