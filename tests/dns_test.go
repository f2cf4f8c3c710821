package tests

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

func init() {
	discovererTests["dns"] = testDNS
}

// dnsConfig has one scraper per [[dns]] section: SRV records, A records and AAAA records.
var dnsConfig = "[[inputs.discovering_prometheus]]\n" +
	ScraperTable("srv", "metrics", "week", "dns", "srv", `scrape-interval = "1s"`) +
	ScraperTable("a", "metrics", "week", "dns", "a", `scrape-interval = "1s"`) +
	ScraperTable("aaaa", "metrics", "week", "dns", "aaaa", `scrape-interval = "1s"`) + `
  [[inputs.discovering_prometheus.dns]]
    id = "srv"
    record-names = ["_exporter._tcp.dp.test"]
    refresh-interval = "1s"
  [[inputs.discovering_prometheus.dns]]
    id = "a"
    record-names = ["web.dp.test"]
    type = "A"
    port = 9200
    refresh-interval = "1s"
  [[inputs.discovering_prometheus.dns]]
    id = "aaaa"
    record-names = ["v6.dp.test"]
    type = "AAAA"
    port = 9300
    refresh-interval = "1s"
`

// The runner and dnsmasq share a namespace whose resolv.conf names dnsmasq. The SRV targets' host names
// are also in the namespace's /etc/hosts, so that they are scraped while dnsmasq is down, as the test
// needs to see; dnsmasq itself reads no hosts file.
func testDNS(t *testing.T) {
	ns := NewNetNS(t)
	ns.WriteFile(t, "hosts", "127.0.0.1 localhost\n::1 localhost\n127.0.0.2 a.dp.test\n127.0.0.3 b.dp.test\n127.0.0.4 c.dp.test\n")
	exporters := map[string]string{} // instance: exporter name
	for _, e := range []struct{ instance, listen, name string }{
		{"a.dp.test:9101", "127.0.0.2:9101", "srv-a"},
		{"b.dp.test:9102", "127.0.0.3:9102", "srv-b"},
		{"c.dp.test:9103", "127.0.0.4:9103", "srv-c"},
		{"127.0.0.5:9200", "127.0.0.5:9200", "web-5"},
		{"127.0.0.6:9200", "127.0.0.6:9200", "web-6"},
		{"127.0.0.7:9200", "127.0.0.7:9200", "web-7"},
		{"[::1]:9300", "[::1]:9300", "v6"},
	} {
		StartExporterIn(t, ns, e.name, e.listen)
		exporters[e.instance] = e.name
	}
	srv := func(host string, port int) string {
		return fmt.Sprintf("--srv-host=_exporter._tcp.dp.test,%s,%d", host, port)
	}
	web := func(ip string) string { return "--host-record=web.dp.test," + ip }
	v6 := "--host-record=v6.dp.test,::1"
	dnsmasq := StartDnsmasq(t, ns, srv("a.dp.test", 9101), srv("b.dp.test", 9102), web("127.0.0.5"), web("127.0.0.6"), v6)

	// What relabeling sees: Prometheus' DNS SD, made by SDConfig from the same sections, inside the namespace.
	require.Equal(t, map[string][]model.LabelSet{
		"srv": {
			dnsLabels("a.dp.test:9101", "_exporter._tcp.dp.test", "a.dp.test.", "9101"),
			dnsLabels("b.dp.test:9102", "_exporter._tcp.dp.test", "b.dp.test.", "9102"),
		},
		"a": {
			dnsLabels("127.0.0.5:9200", "web.dp.test", "", ""),
			dnsLabels("127.0.0.6:9200", "web.dp.test", "", ""),
		},
		"aaaa": {dnsLabels("[::1]:9300", "v6.dp.test", "", "")},
	}, FirstTargetsIn(t, ns, dnsConfig))

	p := StartRunner(t, dnsConfig, ns)
	scraped := func(instances ...string) func([]telegraf.Metric) bool {
		return func(ms []telegraf.Metric) bool {
			return reflect.DeepEqual(Instances(ms, "exporter_info"), sorted(instances...)) && len(Up(ms)) == len(instances)
		}
	}
	ms := p.GatherUntil(20*time.Second, "the SRV, A and AAAA targets scraped",
		scraped("a.dp.test:9101", "b.dp.test:9102", "127.0.0.5:9200", "127.0.0.6:9200", "[::1]:9300"))
	for _, instance := range Instances(ms, "exporter_info") {
		require.Len(t, Find(ms, "exporter_info", map[string]string{
			"instance": instance, "exporter": exporters[instance], "db": "metrics", "rp": "week",
		}), 1, instance)
	}

	// New records: b's SRV record gone and c's added, one address of web.dp.test replaced.
	dnsmasq.Stop()
	dnsmasq.Start(srv("a.dp.test", 9101), srv("c.dp.test", 9103), web("127.0.0.5"), web("127.0.0.7"), v6)
	last := []string{"a.dp.test:9101", "c.dp.test:9103", "127.0.0.5:9200", "127.0.0.7:9200", "[::1]:9300"}
	p.GatherUntil(20*time.Second, "the new records followed", scraped(last...))

	// dnsmasq gone: each discoverer logs the failure once and keeps its targets, refresh after refresh. (The
	// restart above may have been seen as a failure too: it must have been followed by a recovery.)
	settled := func() bool {
		return reflect.DeepEqual(dnsLogged(p, "E! ", dnsFailed), dnsLogged(p, "I! ", dnsRecovered))
	}
	Eventually(t, 5*time.Second, "every failure followed by a recovery", settled)
	before := dnsLogged(p, "E! ", dnsFailed)
	dnsmasq.Stop()
	for _, id := range []string{"srv", "a", "aaaa"} {
		Eventually(t, 10*time.Second, id+"'s failure logged", func() bool { return dnsLogged(p, "E! ", dnsFailed)[id] == before[id]+1 })
	}
	for range 3 {
		require.True(t, scraped(last...)(p.Gather()), "the last known targets scraped")
	}
	for _, id := range []string{"srv", "a", "aaaa"} {
		require.Equal(t, before[id]+1, dnsLogged(p, "E! ", dnsFailed)[id], "failures of %s logged once\n%s", id, p.Stderr())
	}

	// dnsmasq back, with b again: discovery resumes.
	dnsmasq.Start(srv("a.dp.test", 9101), srv("b.dp.test", 9102), srv("c.dp.test", 9103), web("127.0.0.5"), web("127.0.0.7"), v6)
	p.GatherUntil(20*time.Second, "b found again", scraped(append(last, "b.dp.test:9102")...))
	Eventually(t, 5*time.Second, "the recoveries logged", settled)
}

// The runner's log lines of a DNS lookup that failed and of a discoverer that recovered.
const (
	dnsFailed    = "DNS lookup failed; keeping the last known targets"
	dnsRecovered = "discoverer recovered"
)

// dnsLogged counts the runner's log lines of a level that hold a message, by [[dns]] id.
func dnsLogged(p *Process, level, message string) map[string]int {
	n := map[string]int{}
	for _, line := range strings.Split(p.Stderr(), "\n") {
		if strings.Contains(line, level) && strings.Contains(line, message) {
			_, id, _ := strings.Cut(line, `discoverer=dns "`)
			id, _, _ = strings.Cut(id, `"`)
			n[id]++
		}
	}
	return n
}

// dnsLabels are the labels Prometheus' DNS SD gives a target; MX and NS labels are always there, empty.
func dnsLabels(address, name, srvTarget, srvPort string) model.LabelSet {
	return model.LabelSet{
		"__address__":                  model.LabelValue(address),
		"__meta_dns_name":              model.LabelValue(name),
		"__meta_dns_srv_record_target": model.LabelValue(srvTarget),
		"__meta_dns_srv_record_port":   model.LabelValue(srvPort),
		"__meta_dns_mx_record_target":  "",
		"__meta_dns_ns_record_target":  "",
	}
}
