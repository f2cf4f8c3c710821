package discovery

import (
	"errors"
	"time"

	"github.com/influxdata/telegraf/config"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/gce"
)

// GCE is a [[gce]] section: the instances of one Google Compute Engine project and zone, found through the
// Compute API (instances.list), each scraped on its first interface's private IP and one port.
// Credentials are Google's Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
// file, or the metadata server), as in Prometheus and Kapacitor.
type GCE struct {
	Common
	Project         string          `toml:"project"`
	Zone            string          `toml:"zone"`
	Filter          string          `toml:"filter"`
	RefreshInterval config.Duration `toml:"refresh-interval"`
	Port            int             `toml:"port"`
	TagSeparator    string          `toml:"tag-separator"`
}

// Service implements Provider.
func (*GCE) Service() string { return "gce" }

// SDConfig implements Provider.
func (g *GCE) SDConfig() (promdiscovery.Config, error) {
	cfg := &gce.SDConfig{Project: g.Project, Zone: g.Zone, Filter: g.Filter, TagSeparator: g.TagSeparator}
	if cfg.Project == "" {
		return nil, errors.New("project: required")
	}
	// instances.list is per zone; Prometheus, like the API, has no "all zones".
	if cfg.Zone == "" {
		return nil, errors.New("zone: required (one section a zone)")
	}
	if cfg.TagSeparator == "" {
		cfg.TagSeparator = ","
	}
	var err error
	if cfg.Port, err = tcpPort(g.Port, cloudPort); err != nil {
		return nil, err
	}
	if cfg.RefreshInterval, err = refreshInterval(g.RefreshInterval, time.Minute); err != nil {
		return nil, err
	}
	return cfg, nil
}
