package tests

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/influxdata/telegraf"
	"github.com/prometheus/common/model"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
)

// ZooKeeperServer is Debian's ZooKeeper, standalone on a loopback port with a data directory of its own,
// which survives a Stop so that Start brings the same ensemble back.
type ZooKeeperServer struct {
	Addr string
	t    testing.TB
	dir  string
	cmd  *exec.Cmd
}

const zookeeperClasspath = "/usr/share/zookeeper/*:/usr/share/java/*:/etc/zookeeper/conf"

// StartZooKeeper starts a ZooKeeper server and waits until it answers; it is stopped when the test ends.
func StartZooKeeper(t testing.TB) *ZooKeeperServer {
	t.Helper()
	needBinary(t, "java")
	needBinary(t, "zookeeper", "/usr/share/java/zookeeper.jar")
	z := &ZooKeeperServer{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), t: t, dir: t.TempDir()}
	_, port, _ := net.SplitHostPort(z.Addr)
	require.NoError(t, os.WriteFile(filepath.Join(z.dir, "zoo.cfg"), []byte(fmt.Sprintf(`tickTime=2000
dataDir=%s
clientPort=%s
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok
`, filepath.Join(z.dir, "data"), port)), 0o644))
	z.Start()
	t.Cleanup(z.Stop)
	return z
}

// Start runs the server (again) and waits until `ruok` answers `imok`.
func (z *ZooKeeperServer) Start() {
	z.t.Helper()
	logFile, err := os.OpenFile(filepath.Join(z.dir, "zookeeper.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(z.t, err)
	defer logFile.Close()
	z.cmd = exec.Command("java", "-Xmx256m", "-cp", zookeeperClasspath,
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(z.dir, "zoo.cfg"))
	z.cmd.Stdout, z.cmd.Stderr = logFile, logFile
	require.NoError(z.t, z.cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for !z.ok() {
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(z.dir, "zookeeper.log"))
			z.t.Fatalf("ZooKeeper on %s did not answer ruok within 60s:\n%s", z.Addr, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (z *ZooKeeperServer) ok() bool {
	c, err := net.DialTimeout("tcp", z.Addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("ruok")); err != nil {
		return false
	}
	answer, _ := io.ReadAll(c)
	return string(answer) == "imok"
}

// Stop kills the server, as a crash would; its data directory stays.
func (z *ZooKeeperServer) Stop() {
	if z.cmd == nil {
		return
	}
	_ = z.cmd.Process.Kill()
	_ = z.cmd.Wait()
	z.cmd = nil
}

// Connect opens a client session and waits for it (ruok answers before the server takes sessions); it is
// closed when the test ends.
func (z *ZooKeeperServer) Connect() *zk.Conn {
	z.t.Helper()
	conn, _, err := zk.Connect([]string{z.Addr}, 10*time.Second, zk.WithLogger(zookeeperQuiet{}))
	require.NoError(z.t, err)
	z.t.Cleanup(conn.Close)
	zookeeperSession(z.t, conn)
	return conn
}

// zookeeperSession waits until a client has its session: until then, the client fails requests at each
// attempt to connect.
func zookeeperSession(t testing.TB, conn *zk.Conn) {
	t.Helper()
	Eventually(t, 30*time.Second, "a ZooKeeper session", func() bool { return conn.State() == zk.StateHasSession })
}

type zookeeperQuiet struct{}

func (zookeeperQuiet) Printf(string, ...any) {}

// zookeeperMkdirs creates a path and its parents as persistent, empty znodes.
func zookeeperMkdirs(t testing.TB, conn *zk.Conn, p string) {
	t.Helper()
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		_, err := conn.Create(p[:i], nil, 0, zk.WorldACL(zk.PermAll))
		if err != zk.ErrNodeExists {
			require.NoError(t, err, p[:i])
		}
	}
}

// zookeeperRegister registers a member under dir as the services do: an ephemeral, sequential znode of
// the session, gone when the session ends. It returns the member's path.
func zookeeperRegister(t testing.TB, conn *zk.Conn, dir string, member []byte) string {
	t.Helper()
	p, err := conn.Create(path.Join(dir, "member_"), member, zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
	require.NoError(t, err)
	return p
}

// zookeeperFormat is what tells nerve from serverset: the section name, a member's JSON and the __meta_*
// labels Prometheus derives from it.
type zookeeperFormat struct {
	service string
	member  func(e *Exporter) []byte
	labels  func(e *Exporter, path string) model.LabelSet
}

// testZooKeeper runs a nerve or serverset discoverer against a real ZooKeeper: members in two paths found
// with their labels and scraped; one member's session ending and another member registering followed;
// ZooKeeper killed (the last targets still scraped, the loss logged once) and restarted on its data
// directory, after which a new member is found again.
func testZooKeeper(t *testing.T, f zookeeperFormat) {
	z := StartZooKeeper(t)
	a, b, c, d := StartExporter(t, "a"), StartExporter(t, "b"), StartExporter(t, "c"), StartExporter(t, "d")
	web, db := "/"+f.service+"/services/web", "/"+f.service+"/services/db"
	conn := z.Connect()
	zookeeperMkdirs(t, conn, web)
	zookeeperMkdirs(t, conn, db)
	pathA := zookeeperRegister(t, conn, web, f.member(a))
	// b registers through a session of its own, which ends later as a process that dies ends its own.
	bSession := z.Connect()
	pathB := zookeeperRegister(t, bSession, db, f.member(b))

	toml := fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "zk"
    db = "metrics"
    rp = "month"
    discoverer-service = "%[1]s"
    discoverer-id = "services"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.%[1]s]]
    id = "services"
    servers = ["%[2]s"]
    paths = ["%[3]s", "%[4]s"]
    timeout = "10s"
`, f.service, z.Addr, web, db)
	sd := startZooKeeperSD(t, SDConfig(t, toml))
	sd.WaitFor(t, map[string]model.LabelSet{pathA: f.labels(a, pathA), pathB: f.labels(b, pathB)})

	r := StartPlugin(t, toml)
	scraped := func(es ...*Exporter) func([]telegraf.Metric) bool {
		want := make([]string, len(es))
		for i, e := range es {
			want[i] = e.Addr
		}
		return func(ms []telegraf.Metric) bool {
			return reflect.DeepEqual(Instances(ms, "exporter_info"), sorted(want...)) && len(Up(ms)) == len(es)
		}
	}
	ms := r.GatherUntil(15*time.Second, "a and b scraped", scraped(a, b))
	for _, e := range []*Exporter{a, b} {
		require.Len(t, Find(ms, "exporter_info", map[string]string{
			"instance": e.Addr, "exporter": map[*Exporter]string{a: "a", b: "b"}[e], "db": "metrics", "rp": "month",
		}), 1)
	}

	bSession.Close() // b's member goes with its session
	pathC := zookeeperRegister(t, conn, web, f.member(c))
	sd.WaitFor(t, map[string]model.LabelSet{pathA: f.labels(a, pathA), pathC: f.labels(c, pathC)})
	r.GatherUntil(15*time.Second, "b removed and c added", scraped(a, c))

	// ZooKeeper dies: the client retries every second, the targets it last knew are still scraped, and the
	// loss is one error.
	z.Stop()
	Eventually(t, 15*time.Second, "the retries logged at debug level", func() bool {
		return CountLog(r.Log, 'D', "cannot connect to ZooKeeper") >= 2
	})
	require.True(t, scraped(a, c)(r.Gather()))
	require.Equal(t, 1, CountLog(r.Log, 'E', "cannot connect to ZooKeeper", z.Addr), "%v", r.Log.Messages())

	z.Start()
	Eventually(t, 30*time.Second, "the reconnection logged", func() bool {
		return CountLog(r.Log, 'I', "connected to ZooKeeper again") == 1
	})
	zookeeperSession(t, conn)
	pathD := zookeeperRegister(t, conn, web, f.member(d))
	r.GatherUntil(30*time.Second, "d found after the restart", scraped(a, c, d))
	sd.WaitFor(t, map[string]model.LabelSet{pathA: f.labels(a, pathA), pathC: f.labels(c, pathC), pathD: f.labels(d, pathD)})
	require.Equal(t, 1, CountLog(r.Log, 'E'), "the outage is one error in all: %v", r.Log.Messages())
}

// zookeeperSD runs Prometheus' discoverer from a section's SDConfig through the plugin's discovery
// runner; a member is the one target of the group its path is the source of.
type zookeeperSD struct {
	runner *discovery.Manager
	key    discovery.Key
}

func startZooKeeperSD(t *testing.T, cfg promdiscovery.Config) *zookeeperSD {
	t.Helper()
	runner, key := RunSD(t, cfg)
	return &zookeeperSD{runner: runner, key: key}
}

// WaitFor waits until the members are exactly the given ones.
func (sd *zookeeperSD) WaitFor(t *testing.T, want map[string]model.LabelSet) {
	t.Helper()
	var got map[string]model.LabelSet
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		got = map[string]model.LabelSet{}
		for _, g := range sd.runner.Groups(sd.key) {
			if len(g.Targets) == 1 {
				got[g.Source] = g.Targets[0]
			}
		}
		if reflect.DeepEqual(got, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, want, got)
}

// zookeeperPort is an exporter's port as a label value.
func zookeeperPort(e *Exporter) model.LabelValue { return model.LabelValue(e.Port()) }
