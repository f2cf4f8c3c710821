package discovery

import (
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	promhttp "github.com/prometheus/prometheus/discovery/http"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// Every key of [[http-discovery]] onto Prometheus' HTTP SD, with its defaults (refresh-interval 60s,
// Prometheus').
func TestHTTPSDMapping(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := (&HTTP{URL: "http://sd:9000/targets"}).SDConfig()
		require.NoError(t, err)
		want := promhttp.DefaultSDConfig
		want.URL = "http://sd:9000/targets"
		require.Equal(t, &want, cfg)
	})
	t.Run("every key", func(t *testing.T) {
		cfg, err := (&HTTP{
			URL:             "https://sd:9000/targets",
			RefreshInterval: config.Duration(15 * time.Second),
			HTTPHeaders: httpconfig.Headers{
				"X-Tenant": {Values: []string{"a", "b"}},
				"X-Key":    {Secrets: []config.Secret{config.NewSecret([]byte("s3cret"))}},
			},
			Auth: httpconfig.Auth{Username: "u", Password: config.NewSecret([]byte("p"))},
			TLS:  httpconfig.TLS{ServerName: "sd", InsecureSkipVerify: true},
		}).SDConfig()
		require.NoError(t, err)
		got := cfg.(*promhttp.SDConfig)
		require.Equal(t, model.Duration(15*time.Second), got.RefreshInterval)
		require.Equal(t, &promconfig.BasicAuth{Username: "u", Password: "p"}, got.HTTPClientConfig.BasicAuth)
		require.Equal(t, promconfig.TLSConfig{ServerName: "sd", InsecureSkipVerify: true}, got.HTTPClientConfig.TLSConfig)
		require.Equal(t, map[string]promconfig.Header{
			"X-Tenant": {Values: []string{"a", "b"}},
			"X-Key":    {Secrets: []promconfig.Secret{"s3cret"}},
		}, got.HTTPClientConfig.HTTPHeaders.Headers)
	})
}

func TestHTTPSDErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		section *HTTP
		err     string
	}{
		"no url":          {&HTTP{}, "url: required"},
		"not http":        {&HTTP{URL: "ftp://sd/x"}, `url: "ftp://sd/x" is not an http or https URL`},
		"no host":         {&HTTP{URL: "http:///x"}, "is not an http or https URL"},
		"password hidden": {&HTTP{URL: "ftp://u:hunter2@sd/"}, `url: "ftp://u:xxxxx@sd/"`},
		"refresh":         {&HTTP{URL: "http://sd/", RefreshInterval: config.Duration(-time.Second)}, "refresh-interval"},
		"basic and bearer": {&HTTP{URL: "http://sd/", Auth: httpconfig.Auth{Username: "u",
			BearerToken: config.NewSecret([]byte("t"))}}, "username/password and bearer-token exclude each other"},
		"reserved header": {&HTTP{URL: "http://sd/", HTTPHeaders: httpconfig.Headers{"authorization": {Values: []string{"x"}}}},
			"http-headers.authorization: a header Prometheus reserves"},
		"empty header": {&HTTP{URL: "http://sd/", HTTPHeaders: httpconfig.Headers{"X-A": {}}}, "http-headers.X-A: no values or secrets"},
		"bad name":     {&HTTP{URL: "http://sd/", HTTPHeaders: httpconfig.Headers{"X A": {Values: []string{"x"}}}}, `http-headers: "X A" is not a header name`},
		"bad value": {&HTTP{URL: "http://sd/", HTTPHeaders: httpconfig.Headers{"X-A": {Values: []string{"a\r\nHost: evil"}}}},
			"http-headers.X-A.values[0]: not a header value"},
		"tls key without cert": {&HTTP{URL: "https://sd/", TLS: httpconfig.TLS{Key: "/k.pem"}}, "ssl-"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.section.SDConfig()
			require.ErrorContains(t, err, tc.err)
		})
	}
}

// Validate names the section and id before the key.
func TestHTTPSDValidateNamesSection(t *testing.T) {
	_, err := Validate([]Provider{&HTTP{Common: Common{ID: "apps"}}})
	require.EqualError(t, err, `http-discovery "apps": url: required`)
}
