//go:build !remove_all_sd || enable_gce_sd

package discovery

import (
	"errors"
	"time"

	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/gce"
)

// SDConfig implements Mapper.
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
