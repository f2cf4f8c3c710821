package discovery

import (
	"github.com/influxdata/telegraf/config"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// EC2 is an [[ec2]] section: the instances of one AWS region, found through the EC2 API
// (DescribeInstances), each scraped on its private IP and one port. Kapacitor's keys, plus Prometheus'
// endpoint, role-arn and filters, and TLS keys for an endpoint behind a private CA.
type EC2 struct {
	Common
	Region          string          `toml:"region"`
	AccessKey       string          `toml:"access-key"`
	SecretKey       config.Secret   `toml:"secret-key"`
	Profile         string          `toml:"profile"`
	RefreshInterval config.Duration `toml:"refresh-interval"`
	Port            int             `toml:"port"`

	Endpoint string      `toml:"endpoint"`
	RoleARN  string      `toml:"role-arn"`
	Filters  []EC2Filter `toml:"filters"`
	httpconfig.TLS
}

// EC2Filter keeps the instances that match one of the values of a DescribeInstances filter, e.g.
// name = "tag:team", values = ["web"]. Several filters must all match.
type EC2Filter struct {
	Name   string   `toml:"name"`
	Values []string `toml:"values"`
}

// Service implements Provider.
func (*EC2) Service() string { return "ec2" }
