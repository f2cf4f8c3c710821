//go:build !remove_all_sd || enable_dns_sd

package discovery

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/dns"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
)

func dnsSD(t *testing.T, d *DNS) *dns.SDConfig {
	t.Helper()
	cfg, err := d.SDConfig()
	require.NoError(t, err)
	return cfg.(dnsSDConfig).SDConfig
}

func TestDNSDefaults(t *testing.T) {
	require.Equal(t, &dns.SDConfig{
		Names:           []string{"_web._tcp.example.com"},
		RefreshInterval: model.Duration(30 * time.Second),
		Type:            "SRV",
		Port:            80,
	}, dnsSD(t, &DNS{RecordNames: []string{"_web._tcp.example.com"}}))
}

func TestDNSKapacitorKeys(t *testing.T) {
	require.Equal(t, &dns.SDConfig{
		Names:           []string{"web.example.com", "db.example.com"},
		RefreshInterval: model.Duration(5 * time.Second),
		Type:            "AAAA",
		Port:            9100,
	}, dnsSD(t, &DNS{
		RecordNames:     []string{"web.example.com", "db.example.com"},
		RefreshInterval: config.Duration(5 * time.Second),
		Type:            "aaaa",
		Port:            9100,
	}))
	require.Equal(t, "A", dnsSD(t, &DNS{RecordNames: []string{"x"}, Type: "A"}).Type)
}

func TestDNSValidation(t *testing.T) {
	names := []string{"web.example.com"}
	for want, d := range map[string]*DNS{
		"record-names: at least one name is required": {},
		"record-names[1]: empty":                      {RecordNames: []string{"a", " "}},
		`record-names[1]: "a" is listed twice`:        {RecordNames: []string{"a", "a"}},
		`type: "MX" is not one of SRV, A or AAAA`:     {RecordNames: names, Type: "MX"},
		"port: 70000 is not a TCP port":               {RecordNames: names, Type: "A", Port: 70000},
		"port: -1 is not a TCP port":                  {RecordNames: names, Type: "AAAA", Port: -1},
		"refresh-interval: -1s is negative":           {RecordNames: names, RefreshInterval: config.Duration(-time.Second)},
	} {
		t.Run(want, func(t *testing.T) {
			_, err := d.SDConfig()
			require.EqualError(t, err, want)
		})
	}
	// The port is not used for SRV records, whose own ports are.
	require.NotNil(t, dnsSD(t, &DNS{RecordNames: names, Port: -1}))
}

// A refresh in which a name cannot be looked up lacks that name's group: the failure is logged once while
// it lasts (through its outage log, as in the manager), the groups that did not change are held
// back so that the manager does not take the refresh for a recovery, and the next complete refresh passes on.
func TestDNSFailedRefresh(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	outage := newOutageLog(slog.NewTextHandler(&lockedWriter{&mu, &buf}, nil), dnsSDConfig{}, func() {})
	d := &dnsDiscoverer{names: []string{"a", "b"}, logger: slog.New(outage), sent: map[string]*targetgroup.Group{}}
	outage.watch(d)
	sdLog := d.logger // the SD's records and the discoverer's own share the discoverer's log
	group := func(source, addr string) *targetgroup.Group {
		return &targetgroup.Group{Source: source, Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(addr)}}}
	}

	all := []*targetgroup.Group{group("a", "a:1"), group("b", "b:1")}
	require.Equal(t, all, d.filter(all))
	for _, port := range []string{"41000", "41001"} {
		sdLog.Warn(dnsResolutionFailed, "server", "127.0.0.1", "name", "b.", "err", "read udp 127.0.0.1:"+port+": connection refused")
		sdLog.Error(dnsRefreshFailed, "err", `could not resolve "b"`)
		require.Nil(t, d.filter([]*targetgroup.Group{group("a", "a:1")}))
	}
	// A change among the names that resolve is passed on; the manager then ends the failure state.
	changed := []*targetgroup.Group{group("a", "a:2")}
	require.Equal(t, changed, d.filter(changed))
	require.True(t, outage.delivered(changed))
	require.Nil(t, d.filter(changed))
	require.Equal(t, all, d.filter(all))

	logged := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, logged, 2, buf.String())
	require.Contains(t, logged[0], `level=ERROR msg="DNS lookup failed; keeping the last known targets" names=[b] err="read udp 127.0.0.1:41000: connection refused"`)
	require.Contains(t, logged[1], "names=[b]")
}
