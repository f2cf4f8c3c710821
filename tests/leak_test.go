package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"go.uber.org/goleak"
)

// TestStopLeavesNoGoroutines starts the plugin with one discoverer against the fake or real server the
// other tests use, waits until it found and scraped a target (or, for dns, until a refresh ran), stops
// it, and checks that no goroutine the plugin started is left: Telegraf stops and starts plugins on every
// reload, so any left would pile up. The servers' own goroutines (a connection each, watches, blocking
// queries) are the fakes', not the plugin's, and are left out.
func TestStopLeavesNoGoroutines(t *testing.T) {
	t.Run("kubernetes", func(t *testing.T) {
		f := startKubernetesFake(t, kubernetesToken)
		e := StartExporter(t, "a")
		f.Apply(kubernetesPod("default", "web-a", e, map[string]string{"app": "web"}))
		leakCheck(t, kubernetesConfig(kubernetesServer(f)+"    role = \"pod\"\n    namespaces = [\"default\"]\n"), e.Addr)
	})
	t.Run("consul", func(t *testing.T) {
		e := StartExporter(t, "a")
		f := startConsulFake(t, "acl-secret", "consul", "basic-secret")
		f.AddNode("node-1", consulFakeNode{Address: "127.0.0.1"})
		port := 0
		fmt.Sscan(e.Port(), &port)
		f.Register(consulFakeInstance{Node: "node-1", Service: "web", ID: "web-a", Port: port, Status: "passing"})
		// Prometheus' consul discoverer (v0.316.0, consul.go) waits for its next catalog tick after its
		// context ends, so it outlives Stop by up to refresh-interval (30s by default): a short one keeps
		// that within what VerifyNone waits.
		leakCheck(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "consul"
    db = "metrics"
    rp = "week"
    discoverer-service = "consul"
    discoverer-id = "dc1"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.consul]]
    id = "dc1"
    address = %q
    token = "acl-secret"
    username = "consul"
    password = "basic-secret"
    scheme = "http"
    refresh-interval = "1s"
`, f.Addr()), e.Addr)
	})
	t.Run("marathon", func(t *testing.T) {
		e := StartExporter(t, "a")
		f := startMarathonFake(t, "")
		f.SetApps(marathonWeb(e))
		// Prometheus' marathon discoverer (v0.316.0) never closes its HTTP client's idle connection, which
		// keeps its two goroutines until the client's idle timeout (minutes) or the server closes it. That
		// is upstream's and bounded; anything else the plugin left is still caught.
		leakCheck(t, marathonConfig(f, ""), e.Addr,
			goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
	})
	t.Run("dns", func(t *testing.T) {
		// In this process the discoverer asks the name servers of /etc/resolv.conf (the dnsmasq tests
		// run it in a network namespace of their own): the name need not resolve, the discoverer's
		// loop, lookups and timers are what must end with Stop. Three refreshes, then Stop.
		leakCheck(t, `
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "dns"
    db = "metrics"
    rp = "week"
    discoverer-service = "dns"
    discoverer-id = "a"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.dns]]
    id = "a"
    record-names = ["web.dp.invalid"]
    type = "A"
    port = 9200
    refresh-interval = "1s"
`, "")
	})
	t.Run("zookeeper", func(t *testing.T) {
		z := StartZooKeeper(t)
		e := StartExporter(t, "a")
		conn := z.Connect()
		zookeeperMkdirs(t, conn, "/nerve/services/web")
		zookeeperRegister(t, conn, "/nerve/services/web", fmt.Appendf(nil, `{"host":"127.0.0.1","port":%s,"name":"a"}`, e.Port()))
		leakCheck(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "zk"
    db = "metrics"
    rp = "month"
    discoverer-service = "nerve"
    discoverer-id = "services"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.nerve]]
    id = "services"
    servers = [%q]
    paths = ["/nerve/services/web"]
    timeout = "10s"
`, z.Addr), e.Addr)
	})
}

// leakCheck runs the plugin from toml until instance is scraped (or for 3s if instance is ""), stops
// it, and fails if a goroutine started since is still running.
func leakCheck(t *testing.T, toml, instance string, opts ...goleak.Option) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	r := startPlugin(t, toml)
	stopped := false
	defer func() {
		if !stopped {
			r.Plugin.Stop()
		}
	}()
	if instance == "" {
		time.Sleep(3 * time.Second)
		r.Gather()
	} else {
		r.GatherUntil(20*time.Second, instance+" scraped", func(ms []telegraf.Metric) bool { return Up(ms)[instance] == 1 })
	}
	r.Plugin.Stop()
	stopped = true
	goleak.VerifyNone(t, append([]goleak.Option{ignore,
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"), // the fakes' and exporters' connections
		// Telegraf's secret store starts memguard's coffer once a process, on its first secret.
		goleak.IgnoreTopFunction("github.com/awnumar/memguard/core.NewCoffer.func1"),
	}, opts...)...)
}
