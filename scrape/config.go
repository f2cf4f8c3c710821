// Package scrape fetches targets in the Prometheus exposition formats and hands every sample, with the
// target's labels applied, to a Sink. It knows nothing of discovery providers or of Telegraf.
package scrape

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/telegraf/config"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// Defaults of Kapacitor's [[scraper]] keys.
const (
	DefaultScrapeInterval = time.Minute
	DefaultScrapeTimeout  = 10 * time.Second
	DefaultScheme         = "http"
	DefaultMetricsPath    = "/metrics"
)

// Config is one [[scraper]] section, with Kapacitor's keys.
type Config struct {
	Enabled           *bool               `toml:"enabled"`
	Name              string              `toml:"name"`
	Type              string              `toml:"type"`
	DB                string              `toml:"db"`
	RP                string              `toml:"rp"`
	Scheme            string              `toml:"scheme"`
	MetricsPath       string              `toml:"metrics-path"`
	Params            map[string][]string `toml:"params"`
	ScrapeInterval    config.Duration     `toml:"scrape-interval"`
	ScrapeTimeout     config.Duration     `toml:"scrape-timeout"`
	ProxyURL          string              `toml:"proxy-url"`
	DiscovererID      string              `toml:"discoverer-id"`
	DiscovererService string              `toml:"discoverer-service"`
	// Blacklist holds instances (host:port, as the instance label shows them) that are not scraped.
	Blacklist []string `toml:"blacklist"`
	httpconfig.Auth
	httpconfig.TLS
}

// IsEnabled tells whether the scraper runs: it does unless enabled = false.
func (c *Config) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// Init applies the defaults and validates every key. Its errors name the key.
func (c *Config) Init() error {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for key, value := range map[string]string{"name": c.Name, "db": c.DB, "rp": c.RP} {
		if strings.TrimSpace(value) == "" {
			fail(key, "required")
		}
	}
	switch c.Type {
	case "":
		c.Type = "prometheus"
	case "prometheus":
	default:
		fail("type", "%q is not supported; the only type is \"prometheus\"", c.Type)
	}
	switch c.Scheme {
	case "":
		c.Scheme = DefaultScheme
	case "http", "https":
	default:
		fail("scheme", "%q must be http or https", c.Scheme)
	}
	if c.MetricsPath == "" {
		c.MetricsPath = DefaultMetricsPath
	}
	if !strings.HasPrefix(c.MetricsPath, "/") {
		fail("metrics-path", "%q must start with /", c.MetricsPath)
	}
	if c.ScrapeInterval < 0 {
		fail("scrape-interval", "%s is negative", time.Duration(c.ScrapeInterval))
	}
	if c.ScrapeInterval == 0 {
		c.ScrapeInterval = config.Duration(DefaultScrapeInterval)
	}
	switch {
	case c.ScrapeTimeout < 0:
		fail("scrape-timeout", "%s is negative", time.Duration(c.ScrapeTimeout))
	case c.ScrapeTimeout == 0:
		// As Prometheus does: the default timeout, but never longer than the interval.
		c.ScrapeTimeout = config.Duration(min(DefaultScrapeTimeout, time.Duration(c.ScrapeInterval)))
	case c.ScrapeTimeout > c.ScrapeInterval:
		fail("scrape-timeout", "%s is longer than scrape-interval %s", time.Duration(c.ScrapeTimeout), time.Duration(c.ScrapeInterval))
	}
	if _, err := httpconfig.ParseProxy(c.ProxyURL); err != nil {
		fail("proxy-url", "%v", err)
	}
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if (c.DiscovererID == "") != (c.DiscovererService == "") {
		fail("discoverer-id", "discoverer-id and discoverer-service must be given together")
	}
	if c.DiscovererService == "" {
		fail("discoverer-service", "required: the scraper has no targets without a discoverer")
	}
	for name := range c.Params {
		if name == "" {
			fail("params", "empty parameter name")
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// query returns the params as a URL query.
func (c *Config) query() url.Values { return url.Values(c.Params) }
