package tests

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

func init() {
	discovererTests["triton"] = testTriton
}

// tritonSuffix is both CMON's host name and the DNS suffix of the targets, as in a Triton data center.
const tritonSuffix = "cmon.triton.test"

// The triton SD makes every target <uuid>.<dns-suffix>:<port>, on CMON's own port: the exporters are
// told apart by address only, so the test runs inside a namespace whose hosts file maps each uuid's name
// to a loopback address of its own, with CMON on 127.0.0.1:9163 and the exporters on 127.0.0.x:9163.
func testTriton(t *testing.T) {
	ns := NewNetNS(t)
	uuid := map[string]string{
		"a": "0c8a2f7e-1d3b-4c5e-9f60-00000000000a", "b": "0c8a2f7e-1d3b-4c5e-9f60-00000000000b",
		"c": "0c8a2f7e-1d3b-4c5e-9f60-00000000000c", "other": "0c8a2f7e-1d3b-4c5e-9f60-0000000000ff",
		"cn": "44454c4c-3200-1057-804d-b2c04f000001",
	}
	ip := map[string]string{"a": "127.0.0.2", "b": "127.0.0.3", "c": "127.0.0.4", "cn": "127.0.0.5"}
	hosts := "127.0.0.1 localhost " + tritonSuffix + "\n"
	instance := map[string]string{}
	for _, name := range []string{"a", "b", "c", "cn"} {
		hosts += ip[name] + " " + uuid[name] + "." + tritonSuffix + "\n"
		instance[name] = uuid[name] + "." + tritonSuffix + ":9163"
	}
	ns.WriteFile(t, "hosts", hosts)
	for _, name := range []string{"a", "b", "c", "cn"} {
		StartExporterIn(t, ns, name, ip[name]+":9163")
	}
	const image, server = "7b5981c4-1889-11e7-b4c5-3f3bdfc9b88b", "44454c4c-3200-1057-804d-b2c04f000001"
	container := func(name string, groups ...string) tritonCMONContainer {
		return tritonCMONContainer{Groups: groups, ServerUUID: server, VMAlias: "vm-" + name, VMBrand: "lx", VMImageUUID: image, VMUUID: uuid[name]}
	}
	// other is in no group the section asks for: CMON leaves it out.
	state := tritonCMONState{
		Containers: []tritonCMONContainer{container("a", "web"), container("b", "web", "blue"), container("other", "batch")},
		CNs:        []tritonCMONCN{{ServerUUID: uuid["cn"], ServerHostname: "headnode"}},
	}
	cmon := StartTritonCMON(t, ns, "127.0.0.1:9163", tritonSuffix, "acme", state)

	// Two sections on one CMON: containers (the default role), compute nodes (role cn, with Kapacitor's
	// default refresh-interval, 1m: it asks once in this test). The scrapers map the SD's __meta_triton_*
	// labels to tags, so that they show in the metrics. (With labelmap's default replacement, $1: the
	// execd shim expands $ in its whole configuration file as environment variables.)
	scraper := func(name, id string) string {
		return fmt.Sprintf(`
  [[inputs.discovering_prometheus.scraper]]
    name = %q
    db = "metrics"
    rp = "week"
    discoverer-service = "triton"
    discoverer-id = %q
    scrape-interval = "1s"
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      action = "labelmap"
      regex = "__meta_(triton_.+)"`, name, id)
	}
	section := func(id, keys string) string {
		return fmt.Sprintf(`
  [[inputs.discovering_prometheus.triton]]
    id = %q
    account = "acme"
    dns-suffix = %q
    endpoint = %q
    port = 9163
    version = 1
    ssl-ca = %q
    ssl-cert = %q
    ssl-key = %q
%s`, id, tritonSuffix, tritonSuffix, cmon.File("ca.pem"), cmon.File("client.pem"), cmon.File("client-key.pem"), keys)
	}
	p := StartRunner(t, "[[inputs.discovering_prometheus]]"+scraper("containers", "vms")+scraper("nodes", "gz")+
		section("vms", `    refresh-interval = "1s"
    groups = ["web"]`)+section("gz", `    role = "cn"`), ns)

	ms := p.GatherUntil(20*time.Second, "the containers and the compute node scraped", func(ms []telegraf.Metric) bool {
		return len(Up(ms)) == 3
	})
	require.Equal(t, map[string]float64{instance["a"]: 1, instance["b"]: 1, instance["cn"]: 1}, Up(ms))
	for name, groups := range map[string]string{"a": ",web,", "b": ",web,blue,"} {
		info := Find(ms, "exporter_info", map[string]string{"instance": instance[name]})
		require.Len(t, info, 1)
		require.Equal(t, map[string]string{
			"__name__": "exporter_info", "instance": instance[name], "exporter": name, "db": "metrics", "rp": "week",
			"triton_machine_id": uuid[name], "triton_machine_alias": "vm-" + name, "triton_machine_brand": "lx",
			"triton_machine_image": image, "triton_server_id": server, "triton_groups": groups,
		}, info[0].Tags())
	}
	info := Find(ms, "exporter_info", map[string]string{"instance": instance["cn"]})
	require.Len(t, info, 1)
	require.Equal(t, map[string]string{
		"__name__": "exporter_info", "instance": instance["cn"], "exporter": "cn", "db": "metrics", "rp": "week",
		"triton_machine_id": uuid["cn"], "triton_machine_alias": "headnode",
	}, info[0].Tags())
	// CMON saw the account's client certificate on every request, and the group filter.
	requests := cmon.Requests()
	require.Contains(t, requests, "acme /v1/discover?groups=web")
	require.Contains(t, requests, "acme /v1/gz/discover")
	require.Empty(t, slices.DeleteFunc(slices.Clone(requests), func(r string) bool {
		return r == "acme /v1/discover?groups=web" || r == "acme /v1/gz/discover"
	}))

	// c created, b destroyed: the next gathers follow.
	state.Containers = []tritonCMONContainer{container("a", "web"), container("c", "web"), container("other", "batch")}
	cmon.Set(t, state)
	p.GatherUntil(10*time.Second, "c created and b destroyed", func(ms []telegraf.Metric) bool {
		return strings.Join(Instances(ms, "exporter_info"), ",") == strings.Join(sorted(instance["a"], instance["c"], instance["cn"]), ",")
	})

	// CMON stops: each refresh is a refused connection, which the namespace's kernel counts. The failure
	// is logged once, and the last known targets are still scraped.
	refused := tritonFailedConnects(t, ns)
	state.Down = true
	cmon.Set(t, state)
	Eventually(t, 10*time.Second, "two refreshes refused", func() bool {
		return tritonFailedConnects(t, ns)-refused >= 2 && strings.Contains(p.Stderr(), "Unable to refresh target groups")
	})
	ms = p.Gather()
	require.Equal(t, map[string]float64{instance["a"]: 1, instance["c"]: 1, instance["cn"]: 1}, Up(ms), p.Stderr())
	require.Len(t, Find(ms, "exporter_info", map[string]string{"triton_groups": ",web,", "db": "metrics", "rp": "week"}), 2)
	require.Equal(t, 1, strings.Count(p.Stderr(), "Unable to refresh target groups"), p.Stderr())
	require.Contains(t, p.Stderr(), "connect: connection refused")

	// CMON is back, and b was created again meanwhile.
	state.Down = false
	state.Containers = append(state.Containers, container("b", "web", "blue"))
	cmon.Set(t, state)
	p.GatherUntil(10*time.Second, "b back after the outage", func(ms []telegraf.Metric) bool {
		return strings.Join(Instances(ms, "exporter_info"), ",") == strings.Join(sorted(instance["a"], instance["b"], instance["c"], instance["cn"]), ",")
	})
	require.Equal(t, 1, strings.Count(p.Stderr(), `discoverer recovered discoverer=triton "vms"`), p.Stderr())
	require.Equal(t, 1, strings.Count(p.Stderr(), "Unable to refresh target groups"), p.Stderr())
}

// tritonFailedConnects is the namespace's count of TCP connections that could not be opened (the
// kernel's Tcp AttemptFails, from /proc/net/snmp as seen inside it).
func tritonFailedConnects(t *testing.T, ns *NetNS) int {
	t.Helper()
	out, err := ns.Command("cat", "/proc/net/snmp").Output()
	require.NoError(t, err)
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		i := slices.Index(names, "AttemptFails")
		require.Positive(t, i, "no AttemptFails in %s", out)
		n, err := strconv.Atoi(fields[i])
		require.NoError(t, err)
		return n
	}
	t.Fatalf("no Tcp counters in %s", out)
	return 0
}
