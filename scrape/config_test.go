package scrape

import (
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/stretchr/testify/require"
)

func valid() *Config {
	return &Config{Name: "node"}
}

func TestConfigDefaults(t *testing.T) {
	c := valid()
	require.NoError(t, c.Init())
	require.Equal(t, "http", c.Scheme)
	require.Equal(t, "/metrics", c.MetricsPath)
	require.Equal(t, config.Duration(time.Minute), c.ScrapeInterval)
	require.Equal(t, config.Duration(10*time.Second), c.ScrapeTimeout)

	// As in Prometheus, an unset timeout never exceeds a short interval.
	c = valid()
	c.ScrapeInterval = config.Duration(5 * time.Second)
	require.NoError(t, c.Init())
	require.Equal(t, config.Duration(5*time.Second), c.ScrapeTimeout)
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"name missing", func(c *Config) { c.Name = "" }, "name: required"},
		{"scheme", func(c *Config) { c.Scheme = "ftp" }, `scheme: "ftp" must be http or https`},
		{"metrics-path", func(c *Config) { c.MetricsPath = "metrics" }, `metrics-path: "metrics" must start with /`},
		{"timeout above interval", func(c *Config) {
			c.ScrapeInterval = config.Duration(5 * time.Second)
			c.ScrapeTimeout = config.Duration(6 * time.Second)
		}, "scrape-timeout: 6s is longer than scrape-interval 5s"},
		{"negative interval", func(c *Config) { c.ScrapeInterval = config.Duration(-time.Second) }, "scrape-interval: -1s is negative"},
		{"interval under 1ms", func(c *Config) { c.ScrapeInterval = config.Duration(500 * time.Microsecond) }, "scrape-interval: 500µs is under 1ms"},
		{"timeout under 1ms", func(c *Config) { c.ScrapeTimeout = config.Duration(999 * time.Microsecond) }, "scrape-timeout: 999µs is under 1ms"},
		{"proxy-url", func(c *Config) { c.ProxyURL = "proxy:3128" }, "proxy-url:"},
		{"basic and bearer", func(c *Config) {
			c.Username = "u"
			c.BearerToken = config.NewSecret([]byte("t"))
		}, "username/password and bearer-token exclude each other"},
		{"cert without key", func(c *Config) { c.Cert = "c.pem" }, "ssl-cert and ssl-key must be given together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(c)
			err := c.Init()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
