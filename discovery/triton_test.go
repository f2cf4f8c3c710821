//go:build !remove_all_sd || enable_triton_sd

package discovery

import (
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/triton"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

func tritonSD(t *testing.T, tr *Triton) *triton.SDConfig {
	t.Helper()
	cfg, err := tr.SDConfig()
	require.NoError(t, err)
	return cfg.(*triton.SDConfig)
}

// Kapacitor's keys, with Kapacitor's defaults (port 9163, refresh-interval 1m, version 1), which are
// Prometheus' too, and Prometheus' default role.
func TestTritonKapacitorKeys(t *testing.T) {
	got := tritonSD(t, &Triton{
		Account:   "acme",
		DNSSuffix: "cmon.example.com",
		Endpoint:  "cmon.example.com",
		TLS:       httpconfig.TLS{CA: "/ca.pem", Cert: "/c.pem", Key: "/k.pem", ServerName: "cmon", InsecureSkipVerify: true},
	})
	require.Equal(t, &triton.SDConfig{
		Account:         "acme",
		Role:            "container",
		DNSSuffix:       "cmon.example.com",
		Endpoint:        "cmon.example.com",
		Port:            9163,
		RefreshInterval: model.Duration(time.Minute),
		Version:         1,
		TLSConfig:       promconfig.TLSConfig{CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", ServerName: "cmon", InsecureSkipVerify: true},
	}, got)
}

func TestTritonPrometheusKeys(t *testing.T) {
	got := tritonSD(t, &Triton{
		Account: "acme", DNSSuffix: "s", Endpoint: "[::1]", Port: 8443, Version: 2,
		RefreshInterval: config.Duration(5 * time.Second), Groups: []string{"web", "db"},
	})
	require.Equal(t, []string{"web", "db"}, got.Groups)
	require.Equal(t, "container", got.Role)
	require.Equal(t, 8443, got.Port)
	require.Equal(t, 2, got.Version)
	require.Equal(t, model.Duration(5*time.Second), got.RefreshInterval)
	require.Equal(t, "cn", tritonSD(t, &Triton{Account: "a", DNSSuffix: "s", Endpoint: "e", Role: "cn"}).Role)
}

func TestTritonValidation(t *testing.T) {
	ok := func(edit func(*Triton)) *Triton {
		tr := &Triton{Account: "a", DNSSuffix: "s", Endpoint: "e"}
		edit(tr)
		return tr
	}
	for _, tc := range []struct {
		triton *Triton
		err    string
	}{
		{ok(func(t *Triton) { t.Account = "" }), "account: required"},
		{ok(func(t *Triton) { t.DNSSuffix = " " }), "dns-suffix: required"},
		{ok(func(t *Triton) { t.Endpoint = "" }), "endpoint: required"},
		{ok(func(t *Triton) { t.Endpoint = "https://cmon" }), `endpoint: "https://cmon" must be a host name alone; the URL is https://<endpoint>:<port>/v<version>/discover`},
		{ok(func(t *Triton) { t.Endpoint = "cmon:9163" }), `endpoint: "cmon:9163" must be a host name alone; the URL is https://<endpoint>:<port>/v<version>/discover`},
		{ok(func(t *Triton) { t.Role = "vm" }), `role: "vm" must be container or cn`},
		{ok(func(t *Triton) { t.Port = 70000 }), "port: 70000 is not a TCP port"},
		{ok(func(t *Triton) { t.Version = -1 }), "version: -1 is negative"},
		{ok(func(t *Triton) { t.RefreshInterval = config.Duration(-time.Second) }), "refresh-interval: -1s is negative"},
		{ok(func(t *Triton) { t.Groups = []string{"web", ""} }), "groups[1]: empty"},
		{ok(func(t *Triton) { t.Role, t.Groups = "cn", []string{"web"} }), "groups: apply to role container only; compute nodes have no groups"},
		{ok(func(t *Triton) { t.Cert = "/c.pem" }), "ssl-cert and ssl-key must be given together"},
	} {
		t.Run(tc.err, func(t *testing.T) {
			_, err := tc.triton.SDConfig()
			require.EqualError(t, err, tc.err)
		})
	}
}
