//go:build !remove_all_sd || enable_consul_sd

package discovery

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/consul"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// SDConfig implements Mapper.
func (c *Consul) SDConfig() (promdiscovery.Config, error) {
	cfg := &consul.SDConfig{
		Server:           strings.TrimSpace(c.Address),
		PathPrefix:       c.PathPrefix,
		Datacenter:       c.Datacenter,
		Namespace:        c.Namespace,
		Partition:        c.Partition,
		TagSeparator:     c.TagSeparator,
		Scheme:           c.Scheme,
		Username:         c.Username,
		AllowStale:       c.AllowStale == nil || *c.AllowStale,
		Services:         slices.Clone(c.Services),
		ServiceTags:      slices.Clone(c.Tags),
		Filter:           c.Filter,
		HealthFilter:     c.HealthFilter,
		HTTPClientConfig: promconfig.DefaultHTTPClientConfig,
	}
	if c.Address == "" {
		cfg.Server = "127.0.0.1:8500"
	}
	if cfg.Server == "" {
		return nil, errors.New("address: blank; give the Consul agent's host:port")
	}
	if cfg.TagSeparator == "" {
		cfg.TagSeparator = ","
	}
	switch cfg.Scheme {
	case "":
		cfg.Scheme = "http"
	case "http", "https":
	default:
		return nil, fmt.Errorf("scheme: %q must be http or https", cfg.Scheme)
	}
	var err error
	if cfg.RefreshInterval, err = refreshInterval(c.RefreshInterval, time.Duration(consul.DefaultSDConfig.RefreshInterval)); err != nil {
		return nil, err
	}
	for i, s := range c.Services {
		if s == "" {
			return nil, fmt.Errorf("services[%d]: empty", i)
		}
	}
	for i, s := range c.Tags {
		if s == "" {
			return nil, fmt.Errorf("tags[%d]: empty", i)
		}
	}
	if len(c.NodeMeta) > 0 {
		cfg.NodeMeta = make(map[string]string, len(c.NodeMeta))
		for k, v := range c.NodeMeta {
			if k == "" {
				return nil, errors.New("node-meta: a key is empty")
			}
			cfg.NodeMeta[k] = v
		}
	}
	if err := checkTLS(&c.TLS); err != nil {
		return nil, err
	}
	cfg.HTTPClientConfig.TLSConfig = c.TLS.Prometheus()

	token, err := httpconfig.Resolve(&c.Token)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	cfg.Token = token
	// Prometheus' consul client sends basic auth only from its HTTP client configuration, where its YAML
	// loader puts username and password; so does this mapping.
	if c.Username != "" || !c.Password.Empty() {
		if cfg.Password, err = httpconfig.Resolve(&c.Password); err != nil {
			return nil, fmt.Errorf("password: %w", err)
		}
		cfg.HTTPClientConfig.BasicAuth = &promconfig.BasicAuth{Username: c.Username, Password: cfg.Password}
	}
	if err := cfg.HTTPClientConfig.Validate(); err != nil {
		return nil, err
	}
	return consulSDConfig{cfg}, nil
}

// consulSDConfig is Prometheus' consul SD configuration whose discoverers log an outage once. Prometheus'
// discoverer watches the catalog and each service apart, and every watch logs its own failure at each of
// its retries. (Consul's blocking queries answer only when something changed: an outage that ends with no
// change in the catalog ends, for the log, with the next change.)
type consulSDConfig struct {
	*consul.SDConfig
}

func (consulSDConfig) logMatcher() matcher { return failsOnce }
