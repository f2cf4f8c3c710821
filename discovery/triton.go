package discovery

import (
	"github.com/influxdata/telegraf/config"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// Triton is a [[triton]] section: the containers (or compute nodes) of a Triton account, listed by the
// Triton CMON discovery endpoint every refresh-interval. CMON knows the account by the client certificate
// (ssl-cert, ssl-key); each target is <vm or server uuid>.<dns-suffix>:<port>, port being CMON's own.
type Triton struct {
	Common
	Account         string          `toml:"account"`
	DNSSuffix       string          `toml:"dns-suffix"`
	Endpoint        string          `toml:"endpoint"`
	Port            int             `toml:"port"`
	RefreshInterval config.Duration `toml:"refresh-interval"`
	Version         int             `toml:"version"`
	httpconfig.TLS

	// Role is Prometheus' choice of what is listed: "container" (the default) or "cn", compute nodes.
	Role string `toml:"role"`
	// Groups limits the containers to those in any of these groups.
	Groups []string `toml:"groups"`
}

// Service implements Provider.
func (*Triton) Service() string { return "triton" }
