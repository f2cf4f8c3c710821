package discovery

import (
	"github.com/influxdata/telegraf/config"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// Consul is a [[consul]] section: the services of a Consul catalog, watched with blocking queries, with
// Kapacitor's keys and the options of Prometheus' consul_sd_configs under kebab-case names.
type Consul struct {
	Common
	Address      string        `toml:"address"`
	Token        config.Secret `toml:"token"`
	Datacenter   string        `toml:"datacenter"`
	TagSeparator string        `toml:"tag-separator"`
	Scheme       string        `toml:"scheme"`
	Username     string        `toml:"username"`
	Password     config.Secret `toml:"password"`
	Services     []string      `toml:"services"`
	httpconfig.TLS

	// AllowStale lets any Consul server answer (the default, as in Prometheus), not only the leader.
	AllowStale      *bool             `toml:"allow-stale"`
	Namespace       string            `toml:"namespace"`
	Partition       string            `toml:"partition"`
	PathPrefix      string            `toml:"path-prefix"`
	Tags            []string          `toml:"tags"`
	NodeMeta        map[string]string `toml:"node-meta"`
	Filter          string            `toml:"filter"`
	HealthFilter    string            `toml:"health-filter"`
	RefreshInterval config.Duration   `toml:"refresh-interval"`
}

// Service implements Provider.
func (*Consul) Service() string { return "consul" }
