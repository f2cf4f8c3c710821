package discovery

import (
	"time"

	"github.com/influxdata/telegraf/config"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// Defaults of the [[marathon]] keys, Kapacitor's.
const (
	marathonDefaultTimeout = 30 * time.Second
	marathonDefaultRefresh = 30 * time.Second
)

// Marathon is a [[marathon]] section: the tasks of the apps of a Marathon (or DC/OS) cluster, listed every
// refresh-interval, with Kapacitor's keys and Prometheus' auth-token (DC/OS' "token=" scheme) and basic auth.
type Marathon struct {
	Common
	Servers []string `toml:"servers"`
	// Timeout bounds each request for the app list. Kapacitor's sample has it but its code no longer read it.
	Timeout         config.Duration `toml:"timeout"`
	RefreshInterval config.Duration `toml:"refresh-interval"`
	AuthToken       config.Secret   `toml:"auth-token"`
	AuthTokenFile   string          `toml:"auth-token-file"`
	httpconfig.Auth
	httpconfig.TLS
}

// Service implements Provider.
func (*Marathon) Service() string { return "marathon" }
