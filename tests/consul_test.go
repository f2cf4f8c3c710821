package tests

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

func init() {
	discovererTests["consul"] = testConsul
}

// sdLabelsByInstance returns the labels the discoverer gave each target of the plugin's first scraper
// (__address__ and the __meta_* labels, those relabeling sees), by the target's instance.
func sdLabelsByInstance(r *Run) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, target := range r.Plugin.RunningScrapers()[0].Targets() {
		sd := map[string]string{}
		target.Discovered().Range(func(l labels.Label) {
			if l.Name == "__address__" || strings.HasPrefix(l.Name, "__meta_") {
				sd[l.Name] = l.Value
			}
		})
		out[target.Instance()] = sd
	}
	return out
}

func testConsul(t *testing.T) {
	a, b, c, other := StartExporter(t, "a"), StartExporter(t, "b"), StartExporter(t, "c"), StartExporter(t, "other")
	f := startConsulFake(t, "acl-secret", "consul", "basic-secret")
	f.AddNode("node-1", consulFakeNode{Address: "127.0.0.1", Meta: map[string]string{"rack": "r1"}, TaggedAddresses: map[string]string{"lan": "127.0.0.1"}})
	f.AddNode("node-2", consulFakeNode{Address: "127.0.0.1", Meta: map[string]string{"rack": "r2"}})
	instance := func(node, service, id string, e *Exporter, tags []string, status string) consulFakeInstance {
		port := 0
		fmt.Sscan(e.Port(), &port)
		return consulFakeInstance{Node: node, Service: service, ID: id, Port: port, Tags: tags, Status: status}
	}
	webA := instance("node-1", "web", "web-a", a, []string{"prod", "http"}, "passing")
	webA.Meta = map[string]string{"version": "1.2"}
	webB := instance("node-1", "web", "web-b", b, []string{"prod"}, "warning")
	webB.Address = "127.0.0.1" // registered with an address of its own
	f.Register(webA)
	f.Register(webB)
	// Neither is found: one is on a node of another rack (node-meta), the other lacks the tag.
	f.Register(instance("node-2", "web", "web-other", other, []string{"prod"}, "passing"))
	f.Register(instance("node-1", "legacy", "legacy-1", other, []string{"old"}, "passing"))

	r := StartPlugin(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "consul"
    db = "metrics"
    rp = "week"
    discoverer-service = "consul"
    discoverer-id = "dc1"
    scrape-interval = "1s"
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      source-labels = ["__meta_consul_service"]
      target-label = "service"
  [[inputs.discovering_prometheus.consul]]
    id = "dc1"
    address = %q
    token = "acl-secret"
    username = "consul"
    password = "basic-secret"
    tag-separator = ","
    scheme = "http"
    tags = ["prod"]
    refresh-interval = "1s"
    [inputs.discovering_prometheus.consul.node-meta]
      rack = "r1"
`, f.Addr()))
	ms := r.Gather()
	require.Equal(t, map[string]float64{a.Addr: 1, b.Addr: 1}, Up(ms))
	for _, e := range []*Exporter{a, b} {
		info := Find(ms, "exporter_info", map[string]string{"instance": e.Addr})
		require.Len(t, info, 1)
		require.Equal(t, map[string]string{
			"__name__": "exporter_info", "instance": e.Addr, "exporter": info[0].Tags()["exporter"],
			"service": "web", "db": "metrics", "rp": "week",
		}, info[0].Tags())
	}
	group := map[string]string{"__meta_consul_service": "web", "__meta_consul_dc": "dc1"}
	node := map[string]string{
		"__meta_consul_node": "node-1", "__meta_consul_address": "127.0.0.1", "__meta_consul_metadata_rack": "r1",
		"__meta_consul_tagged_address_lan": "127.0.0.1",
	}
	require.Equal(t, map[string]map[string]string{
		a.Addr: sdMerge(group, node, map[string]string{
			"__address__": a.Addr, "__meta_consul_service_id": "web-a", "__meta_consul_service_port": a.Port(),
			"__meta_consul_tags": ",prod,http,", "__meta_consul_health": "passing",
			"__meta_consul_service_metadata_version": "1.2",
		}),
		b.Addr: sdMerge(group, node, map[string]string{
			"__address__": b.Addr, "__meta_consul_service_id": "web-b", "__meta_consul_service_port": b.Port(),
			"__meta_consul_tags": ",prod,", "__meta_consul_health": "warning", "__meta_consul_service_address": "127.0.0.1",
		}),
	}, sdLabelsByInstance(r))

	// Every request carried the ACL token and basic auth; the datacenter came from the agent; the watches
	// were blocking, stale-allowed queries filtered by node-meta, the service's also by tag.
	for _, path := range []string{"/v1/agent/self", "/v1/catalog/services", "/v1/health/service/web"} {
		queries, headers := f.Requests(path)
		require.NotEmpty(t, queries, path)
		for i, h := range headers {
			require.Equal(t, "acl-secret", h.Get("X-Consul-Token"), path)
			user, pass, ok := (&http.Request{Header: h}).BasicAuth()
			require.True(t, ok && user == "consul" && pass == "basic-secret", "%s: basic auth %q %q", path, user, pass)
			if path == "/v1/agent/self" {
				continue
			}
			q, err := url.ParseQuery(queries[i])
			require.NoError(t, err)
			require.True(t, q.Has("stale"), "%s?%s", path, queries[i])
			require.Equal(t, []string{"rack:r1"}, q["node-meta"], "%s?%s", path, queries[i])
			require.Equal(t, "120000ms", q.Get("wait"), "%s?%s", path, queries[i])
			if path == "/v1/health/service/web" {
				require.Equal(t, []string{"prod"}, q["tag"], "%s?%s", path, queries[i])
			}
		}
	}
	_, legacy := f.Requests("/v1/health/service/legacy")
	require.Empty(t, legacy, "a service without the tag is not watched")

	// An instance registered and one deregistered: the blocking queries answer at once, and the next
	// gathers follow.
	f.Register(instance("node-1", "web", "web-c", c, []string{"prod"}, "passing"))
	f.Deregister("web-b")
	r.GatherUntil(10*time.Second, "c registered and b deregistered", func(ms []telegraf.Metric) bool {
		return strings.Join(Instances(ms, "exporter_info"), ",") == strings.Join(sorted(a.Addr, c.Addr), ",")
	})

	// Consul loses its leader: both watches fail, and the outage is logged once; the targets known are
	// still scraped.
	f.Fail(true)
	Eventually(t, 10*time.Second, "both watches failed", func() bool {
		return f.Failures("/v1/catalog/services") > 0 && f.Failures("/v1/health/service/web") > 0 &&
			CountLog(r.Log, 'E', "Error refreshing service")+CountLog(r.Log, 'D', "Error refreshing service") >= 2
	})
	ms = r.Gather()
	require.Equal(t, map[string]float64{a.Addr: 1, c.Addr: 1}, Up(ms))
	require.Len(t, Find(ms, "exporter_info", map[string]string{"service": "web", "db": "metrics", "rp": "week"}), 2)
	require.Equal(t, 1, CountLog(r.Log, 'E', "Error refreshing service"), "%v", r.Log.Messages())
	require.Equal(t, 1, CountLog(r.Log, 'E', "Unexpected response code: 500 (No cluster leader)"), "%v", r.Log.Messages())

	// Consul is back and b registers again: the SD's retry (15s later, Prometheus' fixed interval)
	// finds it.
	f.Fail(false)
	f.Register(webB)
	r.GatherUntil(30*time.Second, "b back after the outage", func(ms []telegraf.Metric) bool {
		return strings.Join(Instances(ms, "exporter_info"), ",") == strings.Join(sorted(a.Addr, b.Addr, c.Addr), ",")
	})
	require.Equal(t, 1, CountLog(r.Log, 'I', "discoverer recovered", `consul "dc1"`), "%v", r.Log.Messages())
	require.Equal(t, 1, CountLog(r.Log, 'E', "Error refreshing service"), "%v", r.Log.Messages())
}

func sdMerge(sets ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}
