//go:build !remove_all_sd || enable_consul_sd

package discovery

import (
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/consul"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

func consulSD(t *testing.T, c *Consul) *consul.SDConfig {
	t.Helper()
	cfg, err := c.SDConfig()
	require.NoError(t, err)
	return cfg.(consulSDConfig).SDConfig
}

// An empty section gets Kapacitor's defaults (address, scheme, tag-separator) and Prometheus' (allow-stale,
// refresh-interval), exactly what Prometheus' own loader gives a consul_sd_config of the same server.
func TestConsulDefaults(t *testing.T) {
	want := consul.DefaultSDConfig
	want.Server = "127.0.0.1:8500"
	require.Equal(t, &want, consulSD(t, &Consul{}))
}

func TestConsulKapacitorKeys(t *testing.T) {
	got := consulSD(t, &Consul{
		Address:      "consul.example.com:8501",
		Token:        config.NewSecret([]byte("acl-token")),
		Datacenter:   "eu1",
		TagSeparator: ";",
		Scheme:       "https",
		Username:     "u",
		Password:     config.NewSecret([]byte("p")),
		Services:     []string{"web", "db"},
		TLS:          httpconfig.TLS{CA: "/ca.pem", Cert: "/c.pem", Key: "/k.pem", ServerName: "consul", InsecureSkipVerify: true},
	})
	want := consul.DefaultSDConfig
	want.Server = "consul.example.com:8501"
	want.Token = "acl-token"
	want.Datacenter = "eu1"
	want.TagSeparator = ";"
	want.Scheme = "https"
	want.Username, want.Password = "u", "p"
	want.Services = []string{"web", "db"}
	want.HTTPClientConfig.BasicAuth = &promconfig.BasicAuth{Username: "u", Password: "p"}
	want.HTTPClientConfig.TLSConfig = promconfig.TLSConfig{CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", ServerName: "consul", InsecureSkipVerify: true}
	require.Equal(t, &want, got)
}

func TestConsulPrometheusKeys(t *testing.T) {
	stale := false
	got := consulSD(t, &Consul{
		AllowStale:      &stale,
		Namespace:       "team-a",
		Partition:       "part",
		PathPrefix:      "/consul",
		Tags:            []string{"prod", "http"},
		NodeMeta:        map[string]string{"rack": "r1"},
		Filter:          `ServiceMeta.version == "2"`,
		HealthFilter:    `Checks.Status == "passing"`,
		RefreshInterval: config.Duration(5 * time.Second),
	})
	want := consul.DefaultSDConfig
	want.Server = "127.0.0.1:8500"
	want.AllowStale = false
	want.Namespace = "team-a"
	want.Partition = "part"
	want.PathPrefix = "/consul"
	want.ServiceTags = []string{"prod", "http"}
	want.NodeMeta = map[string]string{"rack": "r1"}
	want.Filter = `ServiceMeta.version == "2"`
	want.HealthFilter = `Checks.Status == "passing"`
	want.RefreshInterval = model.Duration(5 * time.Second)
	require.Equal(t, &want, got)
}

func TestConsulValidation(t *testing.T) {
	for _, tc := range []struct {
		consul *Consul
		err    string
	}{
		{&Consul{Address: "  "}, "address: blank; give the Consul agent's host:port"},
		{&Consul{Scheme: "ftp"}, `scheme: "ftp" must be http or https`},
		{&Consul{RefreshInterval: config.Duration(-time.Second)}, "refresh-interval: -1s is negative"},
		{&Consul{Services: []string{"web", ""}}, "services[1]: empty"},
		{&Consul{Tags: []string{""}}, "tags[0]: empty"},
		{&Consul{NodeMeta: map[string]string{"": "x"}}, "node-meta: a key is empty"},
		{&Consul{TLS: httpconfig.TLS{Cert: "/c.pem"}}, "ssl-cert and ssl-key must be given together"},
	} {
		t.Run(tc.err, func(t *testing.T) {
			_, err := tc.consul.SDConfig()
			require.EqualError(t, err, tc.err)
		})
	}
}
