package discovery

import (
	"github.com/influxdata/telegraf/config"
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
