// Package discovery turns Kapacitor's discoverer sections into running Prometheus service discovery and keeps
// the current target groups of each. It knows nothing of scraping or of Telegraf.
package discovery

import (
	"errors"
	"fmt"
	"strings"

	promdiscovery "github.com/prometheus/prometheus/discovery"
)

// Provider is one discoverer section of the configuration, such as one [[static-discovery]].
type Provider interface {
	// Service is Kapacitor's name of the section, e.g. "static-discovery".
	Service() string
	// Identity returns the section's id and whether it is enabled.
	Identity() (id string, enabled bool)
	// SDConfig validates the section, applies its defaults and maps it onto Prometheus' SD configuration.
	SDConfig() (promdiscovery.Config, error)
}

// Common holds the keys every discoverer section has.
type Common struct {
	Enabled *bool  `toml:"enabled"`
	ID      string `toml:"id"`
}

// Identity returns the id and whether the section is enabled (it is unless enabled = false).
func (c *Common) Identity() (string, bool) {
	return c.ID, c.Enabled == nil || *c.Enabled
}

// Sections holds every discoverer section under its Kapacitor name; the plugin embeds it so that each is a
// sub-table of the plugin's table.
type Sections struct {
	Static []*Static `toml:"static-discovery"`
	File   []*File   `toml:"file-discovery"`
}

// Providers lists the sections in a fixed order.
func (s *Sections) Providers() []Provider {
	var ps []Provider
	for _, p := range s.Static {
		ps = append(ps, p)
	}
	for _, p := range s.File {
		ps = append(ps, p)
	}
	return ps
}

// Services are the discoverer section names, Kapacitor's own.
var Services = []string{
	"azure", "consul", "dns", "ec2", "file-discovery", "gce", "kubernetes",
	"marathon", "nerve", "serverset", "static-discovery", "triton",
}

// Key names one discoverer: its service and id, as a scraper's discoverer-service and discoverer-id do.
type Key struct{ Service, ID string }

func (k Key) String() string { return k.Service + " " + fmt.Sprintf("%q", k.ID) }

// Configs are Prometheus SD configurations by the discoverer they belong to.
type Configs = map[Key]promdiscovery.Config

// Validate checks every enabled section and returns their SD configurations by key. Errors name the section,
// id and key; all of them are reported, not only the first.
func Validate(providers []Provider) (Configs, error) {
	configs := make(Configs)
	var errs []error
	for _, p := range providers {
		id, enabled := p.Identity()
		if !enabled {
			continue
		}
		key := Key{p.Service(), id}
		if strings.TrimSpace(id) == "" {
			errs = append(errs, fmt.Errorf("%s: id: required", p.Service()))
			continue
		}
		if _, dup := configs[key]; dup {
			errs = append(errs, fmt.Errorf("%s: id: %q is used twice", key, id))
			continue
		}
		cfg, err := p.SDConfig()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		configs[key] = cfg
	}
	return configs, errors.Join(errs...)
}
