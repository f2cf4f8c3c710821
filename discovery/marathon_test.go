//go:build !remove_all_sd || enable_marathon_sd

package discovery

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/marathon"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

func marathonSD(t *testing.T, m *Marathon) marathonSDConfig {
	t.Helper()
	cfg, err := m.SDConfig()
	require.NoError(t, err)
	return cfg.(marathonSDConfig)
}

// Kapacitor's keys with their defaults: refresh-interval and timeout 30s, the bearer token as an
// Authorization header (Kapacitor's Prometheus sent it as bearer_token), the TLS keys.
func TestMarathonKapacitorKeys(t *testing.T) {
	got := marathonSD(t, &Marathon{
		Servers: []string{"https://marathon1:8080/", "http://marathon2:8080"},
		Auth:    httpconfig.Auth{BearerToken: config.NewSecret([]byte("tok"))},
		TLS:     httpconfig.TLS{CA: "/ca.pem", ServerName: "marathon"},
	})
	want := &marathon.SDConfig{
		Servers:          []string{"https://marathon1:8080", "http://marathon2:8080"},
		RefreshInterval:  model.Duration(30 * time.Second),
		HTTPClientConfig: promconfig.DefaultHTTPClientConfig,
	}
	want.HTTPClientConfig.Authorization = &promconfig.Authorization{Type: "Bearer", Credentials: "tok"}
	want.HTTPClientConfig.TLSConfig = promconfig.TLSConfig{CAFile: "/ca.pem", ServerName: "marathon"}
	require.Equal(t, want, got.SDConfig)
	require.Equal(t, 30*time.Second, got.Timeout)

	set := marathonSD(t, &Marathon{Servers: []string{"http://m:8080"}, Timeout: config.Duration(5 * time.Second), RefreshInterval: config.Duration(time.Second)})
	require.Equal(t, 5*time.Second, set.Timeout)
	require.Equal(t, model.Duration(time.Second), set.RefreshInterval)
}

func TestMarathonPrometheusAuth(t *testing.T) {
	token := marathonSD(t, &Marathon{Servers: []string{"http://m:8080"}, AuthToken: config.NewSecret([]byte("dcos"))})
	require.Equal(t, promconfig.Secret("dcos"), token.AuthToken)
	require.Nil(t, token.HTTPClientConfig.Authorization)

	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("dcos\n"), 0o600))
	fromFile := marathonSD(t, &Marathon{Servers: []string{"http://m:8080"}, AuthTokenFile: file})
	require.Equal(t, file, fromFile.AuthTokenFile)

	basic := marathonSD(t, &Marathon{Servers: []string{"http://m:8080"}, Auth: httpconfig.Auth{Username: "u", Password: config.NewSecret([]byte("p"))}})
	require.Equal(t, &promconfig.BasicAuth{Username: "u", Password: "p"}, basic.HTTPClientConfig.BasicAuth)
}

func TestMarathonValidation(t *testing.T) {
	servers := []string{"http://m:8080"}
	token := config.NewSecret([]byte("t"))
	for _, tc := range []struct {
		marathon *Marathon
		err      string
	}{
		{&Marathon{}, "servers: at least one Marathon URL is required"},
		{&Marathon{Servers: []string{"http://m:8080", "m:8080"}}, `servers[1]: "m:8080" is not an http or https URL`},
		{&Marathon{Servers: servers, Timeout: config.Duration(-time.Second)}, "timeout: -1s is negative"},
		{&Marathon{Servers: servers, RefreshInterval: config.Duration(-time.Second)}, "refresh-interval: -1s is negative"},
		{&Marathon{Servers: servers, AuthToken: token, AuthTokenFile: "/t"}, "auth-token and auth-token-file exclude each other"},
		{&Marathon{Servers: servers, AuthToken: token, Auth: httpconfig.Auth{Username: "u"}}, "auth-token (or auth-token-file), username/password and bearer-token exclude each other"},
		{&Marathon{Servers: servers, AuthTokenFile: "/t", Auth: httpconfig.Auth{BearerToken: token}}, "auth-token (or auth-token-file), username/password and bearer-token exclude each other"},
		{&Marathon{Servers: servers, Auth: httpconfig.Auth{Username: "u", BearerToken: token}}, "username/password and bearer-token exclude each other"},
		{&Marathon{Servers: servers, AuthTokenFile: "/nonexistent/token"}, "auth-token-file: open /nonexistent/token: no such file or directory"},
		{&Marathon{Servers: servers, TLS: httpconfig.TLS{Key: "/k.pem"}}, "ssl-cert and ssl-key must be given together"},
	} {
		t.Run(tc.err, func(t *testing.T) {
			_, err := tc.marathon.SDConfig()
			require.EqualError(t, err, tc.err)
		})
	}
}

func TestMarathonGone(t *testing.T) {
	known := map[string]bool{"/web": true, "/db": true}
	gone := marathonGone(known, []*targetgroup.Group{{Source: "/web"}, {Source: "/new"}})
	require.Equal(t, []*targetgroup.Group{{Source: "/db"}}, gone)
}
