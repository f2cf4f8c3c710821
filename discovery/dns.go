package discovery

import (
	"github.com/influxdata/telegraf/config"
)

// DNS is a [[dns]] section: targets from the SRV, A or AAAA records of some names, looked up every
// refresh-interval through the name servers of /etc/resolv.conf.
type DNS struct {
	Common
	RecordNames     []string        `toml:"record-names"`
	RefreshInterval config.Duration `toml:"refresh-interval"`
	Type            string          `toml:"type"`
	Port            int             `toml:"port"`
}

// Service implements Provider.
func (*DNS) Service() string { return "dns" }
