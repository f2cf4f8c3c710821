package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/influxdata/telegraf"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
)

// The cluster runs: three runners share a fleet of targets, found by file discovery, through a peer
// discoverer (a file, or ZooKeeper with register = true). The targets count their scrapes, and each
// runner's scraper sends its name as a parameter, so that the targets tell who scraped them.

const (
	clusterFleet    = 300
	clusterInterval = 2 * time.Second
	clusterSlack    = time.Second
)

// fleet is one loopback server that is clusterFleet targets, told apart by the parameter n.
type fleet struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []fleetHit
}

type fleetHit struct {
	runner string
	n      int
	at     time.Time
}

func startFleet(t *testing.T) *fleet {
	f := &fleet{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil {
			http.Error(w, "no n", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.hits = append(f.hits, fleetHit{r.URL.Query().Get("runner"), n, time.Now()})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "fleet_target %d\n", n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// fileSD lists the targets, one group each, with the labels n and __param_n.
func (f *fleet) fileSD(t *testing.T) string {
	var groups []map[string]any
	for i := range clusterFleet {
		n := strconv.Itoa(i)
		groups = append(groups, map[string]any{"targets": []string{f.srv.Listener.Addr().String()}, "labels": map[string]string{"n": n, "__param_n": n}})
	}
	b, err := json.Marshal(groups)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "fleet.json")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

// between returns the hits in [from, to).
func (f *fleet) between(from, to time.Time) []fleetHit {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fleetHit
	for _, h := range f.hits {
		if !h.at.Before(from) && h.at.Before(to) {
			out = append(out, h)
		}
	}
	return out
}

// scrapers are the runners that scraped each target among the hits, sorted.
func scrapersOf(hits []fleetHit) map[int][]string {
	by := map[int][]string{}
	for _, h := range hits {
		if !slices.Contains(by[h.n], h.runner) {
			by[h.n] = append(by[h.n], h.runner)
		}
	}
	for n := range by {
		slices.Sort(by[n])
	}
	return by
}

// clusterMember is one runner of the cluster.
type clusterMember struct {
	name, self, conf string
	cmd              *exec.Cmd
	stdin            io.WriteCloser
	stderr           *lockedBuffer
}

// clusterConfig is a runner's configuration: the fleet's scraper, the peer discoverer section, and the
// cluster table.
func clusterConfig(t *testing.T, name, fleetFile, peers, service, self string, r int, register bool) string {
	return writeConfig(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  discovery_wait = "5s"
  [[inputs.discovering_prometheus.scraper]]
    name = "fleet"
    db = "d"
    rp = "r"
    discoverer-service = "file-discovery"
    discoverer-id = "fleet"
    scrape-interval = "%s"
    scrape-timeout = "1s"
    [inputs.discovering_prometheus.scraper.params]
      runner = [%q]
  [[inputs.discovering_prometheus.file-discovery]]
    id = "fleet"
    files = [%q]
%s
  [inputs.discovering_prometheus.cluster]
    discoverer-service = %q
    discoverer-id = "peers"
    self = %q
    replication-factor = %d
    register = %v
`, clusterInterval, name, fleetFile, peers, service, self, r, register))
}

func (m *clusterMember) start(t *testing.T) {
	m.cmd = exec.Command(RunnerBinary(t), "-poll_interval", "200ms", "-config", m.conf)
	m.stderr = &lockedBuffer{}
	m.cmd.Stdout, m.cmd.Stderr = io.Discard, m.stderr
	var err error
	m.stdin, err = m.cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, m.cmd.Start())
	t.Cleanup(func() { _ = m.stdin.Close(); _ = m.cmd.Wait() })
}

// sees tells whether the runner has logged that n instances share the targets.
func (m *clusterMember) sees(n int) bool {
	return strings.Contains(m.stderr.String(), fmt.Sprintf("cluster: %d instances share the targets", n))
}

// owners asks the runner's configuration, by -targets -json, who owns each target: it agrees with the
// running members as long as its peer discoverer lists the same peers.
func (m *clusterMember) owners(t *testing.T) map[int][]string {
	out, err := exec.Command(RunnerBinary(t), "-targets", "-json", "-config", m.conf).Output()
	require.NoError(t, err)
	var targets plugin.Targets
	require.NoError(t, json.Unmarshal(out, &targets))
	require.Len(t, targets.Active, clusterFleet)
	owners := map[int][]string{}
	for _, a := range targets.Active {
		n, err := strconv.Atoi(a.Labels["n"])
		require.NoError(t, err)
		require.Equal(t, slices.Contains(a.Owners, m.self), a.ScrapedHere, "target %d", n)
		owners[n] = slices.Sorted(slices.Values(a.Owners))
	}
	return owners
}

// clusterCase is how the runners find each other: the peer discoverer section of each, and how a killed
// runner leaves the peers.
type clusterCase struct {
	service  string
	register bool
	peers    func(self string) string // the [[...]] section with id "peers"
	list     func(selves ...string)   // lists the peers, where the runners do not register themselves
	bound    time.Duration            // how soon after the kill the peers must know: one refresh
}

// testClusterShares runs three runners with replication factor r and checks, counted at the targets:
// every target scraped by exactly r runners in each interval, the owners -targets shows, and after one
// runner is killed (and, with a file, removed from it) that within one refresh and one scrape interval
// every target again has r scrapers and only the killed runner's targets changed hands.
func testClusterShares(t *testing.T, c clusterCase, r int) {
	f := startFleet(t)
	fleetFile := f.fileSD(t)
	names := []string{"a", "b", "c"}
	members := map[string]*clusterMember{}
	var selves []string
	port := FreePort(t)
	for i, name := range names {
		// A member's address, as instances of a cluster have them: one port, each its own host (nothing
		// listens there). Peers on another port than self's are not taken for instances.
		self := fmt.Sprintf("127.0.0.%d:%d", i+1, port)
		selves = append(selves, self)
		members[name] = &clusterMember{name: name, self: self,
			conf: clusterConfig(t, name, fleetFile, c.peers(self), c.service, self, r, c.register)}
	}
	nameOf := func(self string) string { return names[slices.Index(selves, self)] }
	if c.list != nil {
		c.list(selves...)
		// What each member will compute, before any runs: -targets on each configuration.
		shown := members["a"].owners(t)
		for _, name := range names[1:] {
			require.Equal(t, shown, members[name].owners(t), "-targets of %s agrees with a", name)
		}
		here := 0
		for n, owners := range shown {
			require.Len(t, owners, r, "target %d", n)
			if slices.Contains(owners, selves[0]) {
				here++
			}
		}
		// The text view says it too, a line a target.
		text, err := exec.Command(RunnerBinary(t), "-targets", "-config", members["a"].conf).Output()
		require.NoError(t, err)
		require.Equal(t, clusterFleet, strings.Count(string(text), "\n          owners:      "))
		require.Equal(t, here, strings.Count(string(text), " (scraped here)\n"))
		require.Equal(t, clusterFleet-here, strings.Count(string(text), " (not scraped here)\n"))
	}
	for _, name := range names {
		members[name].start(t)
	}
	for _, name := range names {
		Eventually(t, 60*time.Second, name+" sees three instances", func() bool { return members[name].sees(3) })
	}

	// Steady: three intervals, after one to settle.
	from := time.Now().Add(clusterInterval)
	time.Sleep(4 * clusterInterval)
	steady := f.between(from, from.Add(3*clusterInterval))
	before := scrapersOf(steady)
	require.Len(t, before, clusterFleet, "every target is scraped")
	perRunner := map[string]int{}
	for n, runners := range before {
		require.Len(t, runners, r, "target %d is scraped by exactly %d runners: %v", n, r, runners)
		for _, runner := range runners {
			perRunner[runner]++
		}
	}
	perTarget := map[[2]string]int{}
	for _, h := range steady {
		perTarget[[2]string{strconv.Itoa(h.n), h.runner}]++
	}
	for key, count := range perTarget {
		require.InDelta(t, 3, count, 1, "scrapes of target %s by %s in three intervals", key[0], key[1])
	}
	t.Logf("r=%d: targets per runner %v (of %d)", r, perRunner, clusterFleet*r)
	if c.list != nil { // the owners -targets showed are those that scrape
		shown := members["b"].owners(t)
		for n, owners := range shown {
			var ns []string
			for _, o := range owners {
				ns = append(ns, nameOf(o))
			}
			slices.Sort(ns)
			require.Equal(t, ns, before[n], "target %d: -targets' owners scrape it", n)
		}
	}

	// c is killed; with a file, it is removed from it.
	killed := time.Now()
	require.NoError(t, members["c"].cmd.Process.Kill())
	if c.list != nil {
		c.list(selves[:2]...)
	}
	for _, name := range names[:2] {
		Eventually(t, c.bound+clusterSlack, name+" sees two instances", func() bool { return members[name].sees(2) })
	}
	known := time.Now()
	t.Logf("r=%d: the survivors knew %s after the kill", r, known.Sub(killed).Round(time.Millisecond))

	// Every target has r scrapers again within one refresh and one scrape interval of the kill.
	settled := killed.Add(c.bound + clusterInterval + clusterSlack)
	time.Sleep(time.Until(settled.Add(3 * clusterInterval)))
	after := scrapersOf(f.between(settled, settled.Add(3*clusterInterval)))
	require.Len(t, after, clusterFleet, "every target is scraped")
	moved := 0
	for n := range clusterFleet {
		require.Len(t, after[n], r, "target %d after the kill: %v", n, after[n])
		require.NotContains(t, after[n], "c")
		if !slices.Contains(before[n], "c") {
			require.Equal(t, before[n], after[n], "target %d did not belong to c: it stays", n)
			continue
		}
		moved++
		require.Subset(t, after[n], slices.DeleteFunc(slices.Clone(before[n]), func(s string) bool { return s == "c" }), "target %d keeps its other owners", n)
	}
	require.Equal(t, perRunner["c"], moved, "exactly c's targets changed hands")

	// The change: duplicates are scrapes by a runner that owned the target neither before nor after; a gap
	// is a target of c's whose new owner first scraped it more than 1.5 intervals after c's last scrape:
	// it had r-1 scrapers (none at r = 1) for an interval or more.
	change := f.between(killed.Add(-clusterInterval), settled)
	duplicates, gaps := 0, 0
	var worst time.Duration
	last, first := map[int]time.Time{}, map[int]time.Time{}
	for _, h := range change {
		if !slices.Contains(before[h.n], h.runner) && !slices.Contains(after[h.n], h.runner) {
			duplicates++
		}
		if !slices.Contains(before[h.n], "c") {
			continue
		}
		if h.runner == "c" {
			last[h.n] = h.at
		} else if !slices.Contains(before[h.n], h.runner) && first[h.n].IsZero() {
			first[h.n] = h.at
		}
	}
	for n, at := range first {
		if wait := at.Sub(last[n]); !last[n].IsZero() && wait > clusterInterval+clusterInterval/2 {
			gaps++
			worst = max(worst, wait)
		}
		require.WithinDuration(t, killed, at, c.bound+clusterInterval+clusterSlack, "target %d: taken over within one refresh and one scrape interval", n)
	}
	require.Len(t, first, moved, "every target of c's has a new owner that scraped it")
	t.Logf("r=%d: %d targets moved; during the change %d duplicate scrapes, %d targets with r-1 scrapers for over 1.5 intervals (longest %s)",
		r, moved, duplicates, gaps, worst.Round(time.Millisecond))
	require.Zero(t, duplicates, "no runner scrapes a target it owns neither before nor after")
}

func TestClusterFilePeers(t *testing.T) {
	peersFile := filepath.Join(t.TempDir(), "peers.json")
	c := clusterCase{
		service: "file-discovery",
		peers: func(string) string {
			return fmt.Sprintf(`  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = [%q]
    refresh-interval = "5s"`, peersFile)
		},
		list: func(selves ...string) {
			b, err := json.Marshal([]map[string]any{{"targets": selves}})
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(peersFile+".tmp", b, 0o644))
			require.NoError(t, os.Rename(peersFile+".tmp", peersFile))
		},
		bound: 5 * time.Second, // the refresh-interval; file discovery watches the file and is sooner
	}
	for _, r := range []int{1, 2} {
		t.Run(fmt.Sprintf("r=%d", r), func(t *testing.T) { testClusterShares(t, c, r) })
	}
}

// With ZooKeeper, each runner registers itself: a killed runner's znode expires with its session and the
// survivors take over without any file being edited.
func TestClusterZooKeeperRegister(t *testing.T) {
	zk := StartZooKeeper(t)
	conn := zk.Connect()
	// A nerve member, as Prometheus' nerve discovery reads it, for as long as the plugin runs.
	t.Run("nerve", func(t *testing.T) {
		e := StartExporter(t, "self")
		nerve := fmt.Sprintf(`
  [[inputs.discovering_prometheus.nerve]]
    id = "peers"
    servers = [%q]
    paths = ["/cluster/nerve"]
    timeout = "4s"`, zk.Addr)
		run := StartPlugin(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "self"
    db = "d"
    rp = "r"
    discoverer-service = "nerve"
    discoverer-id = "peers"
%s
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "nerve"
    discoverer-id = "peers"
    self = %q
    register = true
`, nerve, e.Addr))
		cfg := SDConfig(t, "[[inputs.discovering_prometheus]]\n"+nerve)
		sd, key := RunSD(t, cfg)
		listed := func() []model.LabelSet {
			var targets []model.LabelSet
			for _, g := range sd.Groups(key) {
				targets = append(targets, g.Targets...)
			}
			return targets
		}
		Eventually(t, 30*time.Second, "the plugin registered", func() bool { return len(listed()) == 1 })
		member := listed()[0]
		require.Equal(t, model.LabelValue(e.Addr), member["__address__"])
		require.Equal(t, model.LabelValue("127.0.0.1"), member["__meta_nerve_endpoint_name"])
		// The plugin scrapes itself through its own registration.
		run.GatherUntil(20*time.Second, "the plugin scrapes its own registration", func(ms []telegraf.Metric) bool {
			return slices.Equal(Instances(ms, "up"), []string{e.Addr})
		})
		run.Plugin.Stop()
		Eventually(t, 10*time.Second, "the member gone with the plugin's session", func() bool { return len(listed()) == 0 })
	})
	for _, r := range []int{1, 2} {
		t.Run(fmt.Sprintf("r=%d", r), func(t *testing.T) {
			dir := fmt.Sprintf("/cluster/r%d", r)
			c := clusterCase{
				service:  "serverset",
				register: true,
				peers: func(string) string {
					return fmt.Sprintf(`  [[inputs.discovering_prometheus.serverset]]
    id = "peers"
    servers = [%q]
    paths = [%q]
    timeout = "4s"`, zk.Addr, dir)
				},
				// The session timeout (4s, ZooKeeper's least at its tickTime of 2s) and the server's check of
				// expired sessions, every tickTime.
				bound: 4*time.Second + 2*time.Second + clusterSlack,
			}
			testClusterShares(t, c, r)
			children, _, err := conn.Children(dir)
			require.NoError(t, err)
			require.Len(t, children, 2, "the killed runner's znode expired; the survivors' remain")
			for _, child := range children {
				data, _, err := conn.Get(dir + "/" + child)
				require.NoError(t, err)
				var member struct {
					ServiceEndpoint struct {
						Host string `json:"host"`
						Port int    `json:"port"`
					} `json:"serviceEndpoint"`
					Status string `json:"status"`
				}
				require.NoError(t, json.Unmarshal(data, &member), "%s", data)
				require.True(t, strings.HasPrefix(member.ServiceEndpoint.Host, "127.0.0."), member.ServiceEndpoint.Host)
				require.Equal(t, "ALIVE", member.Status)
			}
		})
	}
}

// Inside the custom Telegraf: two Telegraf processes share the fleet through file peers and write to a real
// InfluxDB; every target's series lands once, from the Telegraf that scraped it, none twice. Their own
// statistics (inputs.internal) count the peers and the targets each owns.
func TestClusterTelegrafInfluxDB(t *testing.T) {
	db := StartInfluxDB(t)
	db.Query(t, "", `CREATE DATABASE "telegraf"`)
	db.Query(t, "", `CREATE DATABASE "fleet"`)
	f := startFleet(t)
	fleetFile := f.fileSD(t)
	peersFile := filepath.Join(t.TempDir(), "peers.json")
	require.NoError(t, os.WriteFile(peersFile, []byte(`[{"targets": ["t1:1", "t2:1"]}]`), 0o644))
	for _, name := range []string{"t1", "t2"} {
		StartTelegraf(t, fmt.Sprintf(`
[global_tags]
  telegraf = %[1]q
`, name)+agentConf+fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "fleet"
    db = "fleet"
    rp = "autogen"
    discoverer-service = "file-discovery"
    discoverer-id = "fleet"
    scrape-interval = "1s"
    [inputs.discovering_prometheus.scraper.params]
      runner = [%[1]q]
  [[inputs.discovering_prometheus.file-discovery]]
    id = "fleet"
    files = [%[2]q]
  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = [%[3]q]
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "file-discovery"
    discoverer-id = "peers"
    self = "%[1]s:1"
[[inputs.internal]]
  collect_memstats = false
`, name, fleetFile, peersFile)+influxOutput(db))
	}
	count := func() []Series {
		return db.Query(t, "fleet", `SELECT count("value") FROM "fleet_target" GROUP BY "n", "telegraf"`)
	}
	Eventually(t, 60*time.Second, "every target's series in InfluxDB", func() bool { return len(count()) >= clusterFleet })
	time.Sleep(3 * time.Second) // a few more scrapes, in which a second writer of a series would show
	series := count()
	writer := map[string]string{}
	for _, s := range series {
		n := s.Tags["n"]
		require.NotContains(t, writer, n, "target %s is written by %s and %s", n, writer[n], s.Tags["telegraf"])
		writer[n] = s.Tags["telegraf"]
	}
	require.Len(t, writer, clusterFleet, "every target's series lands once")
	scrapers := scrapersOf(f.between(time.Time{}, time.Now()))
	for n, runners := range scrapers {
		require.Equal(t, []string{writer[strconv.Itoa(n)]}, runners, "target %d is scraped only by the Telegraf that wrote it", n)
	}

	stats := db.Query(t, "telegraf", `SELECT last("peers") AS "peers", last("targets_owned") AS "owned" FROM "internal_discovering_prometheus" WHERE "cluster_id" = 'peers' GROUP BY "telegraf"`)
	require.Len(t, stats, 2)
	owned := 0.0
	for _, s := range stats {
		require.EqualValues(t, 2, s.Column("peers")[0], s.Tags)
		owned += s.Column("owned")[0].(float64)
	}
	require.EqualValues(t, clusterFleet, owned)
}

// A debugging run never joins the cluster: the runner's -once and -targets and Telegraf's --once and --test
// with register = true leave no member znode at any moment, while the children are polled as they run.
func TestClusterDebuggingRunsDoNotRegister(t *testing.T) {
	zk := StartZooKeeper(t)
	conn := zk.Connect()
	f := startFleet(t)
	fleetFile := f.fileSD(t)
	peers := func(dir string) string {
		return fmt.Sprintf(`  [[inputs.discovering_prometheus.serverset]]
    id = "peers"
    servers = [%q]
    paths = [%q]
    timeout = "4s"`, zk.Addr, dir)
	}
	for i, run := range []struct {
		name string
		cmd  func(conf string) *exec.Cmd
	}{
		{"runner -once", func(conf string) *exec.Cmd { return exec.Command(RunnerBinary(t), "-once", "-config", conf) }},
		{"runner -targets", func(conf string) *exec.Cmd { return exec.Command(RunnerBinary(t), "-targets", "-config", conf) }},
		{"telegraf --once", func(conf string) *exec.Cmd {
			return exec.Command(TelegrafBinary(t), "--once", "--config", telegrafConf(t, conf, "[[outputs.discard]]\n"))
		}},
		{"telegraf --test", func(conf string) *exec.Cmd {
			return exec.Command(TelegrafBinary(t), "--test", "--config", telegrafConf(t, conf, ""))
		}},
	} {
		t.Run(run.name, func(t *testing.T) {
			dir := fmt.Sprintf("/debug/%d", i)
			zookeeperMkdirs(t, conn, dir)
			self := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
			cmd := run.cmd(clusterConfig(t, "debug", fleetFile, peers(dir), "serverset", self, 1, true))
			var out lockedBuffer
			cmd.Stdout, cmd.Stderr = io.Discard, &out
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			polls := 0
			for {
				children, _, err := conn.Children(dir)
				require.NoError(t, err)
				require.Empty(t, children, "a member znode while %s runs; its log:\n%s", run.name, out.String())
				polls++
				select {
				case err := <-done:
					require.NoError(t, err, out.String())
					t.Logf("%d polls of %s's children while it ran", polls, dir)
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		})
	}
}

// telegrafConf is a Telegraf configuration of the plugin's table in file conf, with the outputs given.
func telegrafConf(t *testing.T, conf, outputs string) string {
	data, err := os.ReadFile(conf)
	require.NoError(t, err)
	return writeConfig(t, agentConf+string(data)+outputs)
}

// A registered member znode deleted while its session lives (by hand, by a cleanup script) is created
// again: the instance stays among the peers.
func TestClusterRegisterRecreatesDeletedMember(t *testing.T) {
	zk := StartZooKeeper(t)
	conn := zk.Connect()
	dir := "/cluster/recreate"
	e := StartExporter(t, "self")
	StartPlugin(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "self"
    db = "d"
    rp = "r"
    discoverer-service = "serverset"
    discoverer-id = "peers"
  [[inputs.discovering_prometheus.serverset]]
    id = "peers"
    servers = [%q]
    paths = [%q]
    timeout = "4s"
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "serverset"
    discoverer-id = "peers"
    self = %q
    register = true
`, zk.Addr, dir, e.Addr))
	member := func() []string {
		children, _, _ := conn.Children(dir)
		return children
	}
	Eventually(t, 30*time.Second, "the plugin registered", func() bool { return len(member()) == 1 })
	first := member()[0]
	require.NoError(t, conn.Delete(dir+"/"+first, -1))
	Eventually(t, 5*time.Second, "the member znode created again", func() bool {
		children := member()
		return len(children) == 1 && children[0] != first
	})
	time.Sleep(time.Second)
	require.Len(t, member(), 1, "one member, not two")
}

// An empty answer of the peer discoverer after peers were known is not "alone": the instances keep the last
// peers, each target scraped exactly once per interval, and warn, until empty-peers-after (by default three
// refresh-intervals of the peer discoverer: 9 s here) has passed. Then they fall back as a lone instance
// does, to scraping every target, one after another rather than all at once.
func TestClusterEmptyPeersKeepsTheLast(t *testing.T) {
	f := startFleet(t)
	fleetFile := f.fileSD(t)
	peersFile := filepath.Join(t.TempDir(), "peers.json")
	const emptyPeersAfter = 9 * time.Second
	names := []string{"a", "b", "c"}
	var selves []string
	var members []*clusterMember
	port := FreePort(t)
	for i, name := range names {
		self := fmt.Sprintf("127.0.0.%d:%d", i+1, port) // one port, as in testClusterShares
		selves = append(selves, self)
		peers := fmt.Sprintf(`  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = [%q]
    refresh-interval = "3s"`, peersFile)
		members = append(members, &clusterMember{name: name, self: self,
			conf: clusterConfig(t, name, fleetFile, peers, "file-discovery", self, 1, false)})
	}
	write := func(data []byte) {
		require.NoError(t, os.WriteFile(peersFile+".tmp", data, 0o644))
		require.NoError(t, os.Rename(peersFile+".tmp", peersFile))
	}
	b, err := json.Marshal([]map[string]any{{"targets": selves}})
	require.NoError(t, err)
	write(b)
	for _, m := range members {
		m.start(t)
	}
	for _, m := range members {
		Eventually(t, 60*time.Second, m.name+" sees three instances", func() bool { return m.sees(3) })
	}
	time.Sleep(2 * clusterInterval) // settled

	write([]byte("[]"))
	emptied := time.Now()
	for _, m := range members {
		Eventually(t, 5*time.Second, m.name+" warns that the peers are gone", func() bool {
			return strings.Contains(m.stderr.String(), "W! [inputs.discovering_prometheus] cluster: file-discovery \"peers\" lists no instance: keeping the last 3")
		})
	}
	// Until empty-peers-after: every target scraped by one runner, once per interval.
	time.Sleep(time.Until(emptied.Add(emptyPeersAfter)))
	kept := f.between(emptied, emptied.Add(emptyPeersAfter-clusterSlack))
	byTarget := scrapersOf(kept)
	require.Len(t, byTarget, clusterFleet, "every target is scraped")
	for n, runners := range byTarget {
		require.Len(t, runners, 1, "target %d is scraped by one runner while the peers are stale: %v", n, runners)
	}
	perTarget := map[int]int{}
	for _, h := range kept {
		perTarget[h.n]++
	}
	want := float64(emptyPeersAfter-clusterSlack) / float64(clusterInterval)
	for n, count := range perTarget {
		require.InDelta(t, want, count, 1.01, "scrapes of target %d while the peers are stale", n)
	}

	// Then each falls back, between empty-peers-after and twice that, and scrapes every target.
	time.Sleep(time.Until(emptied.Add(2*emptyPeersAfter + 2*clusterInterval)))
	end := time.Now()
	after := scrapersOf(f.between(end.Add(-clusterInterval-clusterSlack), end))
	for n := range clusterFleet {
		require.Equal(t, names, after[n], "target %d after the fallback", n)
	}
	// When each runner first scraped a target it did not own: not all at the same moment.
	first := map[string]time.Time{}
	for _, h := range f.between(emptied, end) {
		if by := byTarget[h.n]; len(by) == 1 && by[0] != h.runner {
			if _, ok := first[h.runner]; !ok {
				first[h.runner] = h.at
			}
		}
	}
	require.Len(t, first, 3)
	var times []time.Time
	for name, at := range first {
		t.Logf("%s falls back %s after the peers were emptied", name, at.Sub(emptied).Round(time.Millisecond))
		require.GreaterOrEqual(t, at.Sub(emptied), emptyPeersAfter-clusterSlack, name)
		times = append(times, at)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	require.GreaterOrEqual(t, times[2].Sub(times[0]), 3*time.Second, "the runners fall back one after another")
	for _, m := range members {
		require.Contains(t, m.stderr.String(), "cluster: 1 instances share the targets")
	}
}

// With acl, the member znode and the path the instance creates for it are the digest identity's to change
// and everyone's to read: another ZooKeeper client sees the member but can neither delete nor rewrite it.
func TestClusterRegisterWithACL(t *testing.T) {
	server := StartZooKeeper(t)
	conn := server.Connect() // no credentials
	dir := "/cluster/acl"
	e := StartExporter(t, "self")
	run := StartPlugin(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "self"
    db = "d"
    rp = "r"
    discoverer-service = "serverset"
    discoverer-id = "peers"
  [[inputs.discovering_prometheus.serverset]]
    id = "peers"
    servers = [%q]
    paths = [%q]
    timeout = "4s"
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "serverset"
    discoverer-id = "peers"
    self = %q
    register = true
    acl = "member:s3cret"
`, server.Addr, dir, e.Addr))
	var children []string
	Eventually(t, 30*time.Second, "the plugin registered", func() bool {
		children, _, _ = conn.Children(dir)
		return len(children) == 1
	})
	member := dir + "/" + children[0]
	for _, node := range []string{dir, member} {
		acl, _, err := conn.GetACL(node)
		require.NoError(t, err, node)
		// ZooKeeper masks a digest's hash ("member:x") to a client without the ADMIN permission.
		require.Len(t, acl, 2, node)
		slices.SortFunc(acl, func(a, b zk.ACL) int { return strings.Compare(a.Scheme, b.Scheme) })
		require.Equal(t, zk.ACL{Perms: zk.PermAll, Scheme: "digest", ID: acl[0].ID}, acl[0], node)
		require.True(t, strings.HasPrefix(acl[0].ID, "member:"), node)
		require.Equal(t, zk.WorldACL(zk.PermRead)[0], acl[1], node)
	}
	_, err := conn.Set(member, []byte("{}"), -1)
	require.ErrorIs(t, err, zk.ErrNoAuth, "rewriting the member")
	require.ErrorIs(t, conn.Delete(member, -1), zk.ErrNoAuth, "deleting the member")
	// The discoverer reads it without credentials: the plugin scrapes itself through its registration.
	run.GatherUntil(20*time.Second, "the plugin scrapes its own registration", func(ms []telegraf.Metric) bool {
		return slices.Equal(Instances(ms, "up"), []string{e.Addr})
	})
}

// A self the peer discoverer does not list costs no coverage: "A.example:1" is the instance listed as
// "a.example:1" (host names compare case-insensitively), and a fourth runner whose self is not listed at
// all scrapes none of the targets and says so, as an error, at once and every minute. Counted at the
// targets, each is scraped exactly once per interval, by a, b or c.
func TestClusterSelfNotListedCostsNoCoverage(t *testing.T) {
	f := startFleet(t)
	fleetFile := f.fileSD(t)
	peersFile := filepath.Join(t.TempDir(), "peers.json")
	require.NoError(t, os.WriteFile(peersFile, []byte(`[{"targets": ["a.example:1", "b.example:1", "c.example:1"]}]`), 0o644))
	peers := fmt.Sprintf(`  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = [%q]`, peersFile)
	var members []*clusterMember
	for name, self := range map[string]string{"a": "A.example:1", "b": "b.example:1", "c": "c.example:1", "d": "d.example:1"} {
		m := &clusterMember{name: name, self: self, conf: clusterConfig(t, name, fleetFile, peers, "file-discovery", self, 1, false)}
		m.start(t)
		members = append(members, m)
	}
	started := time.Now()
	for _, m := range members {
		Eventually(t, 60*time.Second, m.name+" knows the peers", func() bool {
			return strings.Contains(m.stderr.String(), "instances share the targets")
		})
	}
	from := time.Now().Add(clusterInterval)
	time.Sleep(4 * clusterInterval)
	steady := f.between(from, from.Add(3*clusterInterval))
	byTarget := scrapersOf(steady)
	require.Len(t, byTarget, clusterFleet, "every target is scraped")
	perTarget := map[int]int{}
	for _, h := range steady {
		perTarget[h.n]++
	}
	for n, runners := range byTarget {
		require.Len(t, runners, 1, "target %d is scraped by one runner: %v", n, runners)
		require.NotEqual(t, "d", runners[0], "target %d", n)
		require.InDelta(t, 3, perTarget[n], 1, "scrapes of target %d in three intervals", n)
	}
	for _, m := range members {
		if m.name != "d" {
			require.NotContains(t, m.stderr.String(), "E! ", m.name)
		}
	}
	d := members[slices.IndexFunc(members, func(m *clusterMember) bool { return m.name == "d" })]
	unlisted := `E! [inputs.discovering_prometheus] cluster: self "d.example:1" is not among the 3 instances file-discovery "peers" lists`
	require.Equal(t, 1, strings.Count(d.stderr.String(), unlisted), d.stderr.String())
	time.Sleep(time.Until(started.Add(time.Minute + 2*clusterInterval)))
	require.Equal(t, 2, strings.Count(d.stderr.String(), unlisted), "again after a minute: %s", d.stderr.String())
	for _, h := range f.between(from, time.Now()) {
		require.NotEqual(t, "d", h.runner, "d scrapes nothing")
	}
}
