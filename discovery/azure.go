package discovery

import (
	"github.com/influxdata/telegraf/config"
)

// Azure is an [[azure]] section: the virtual machines (and scale-set machines) of one subscription, found
// through Azure Resource Manager, each scraped on its primary private IP and one port. Kapacitor's keys,
// plus Prometheus' authentication-method, resource-group and environment.
type Azure struct {
	Common
	Port            int             `toml:"port"`
	SubscriptionID  string          `toml:"subscription-id"`
	TenantID        string          `toml:"tenant-id"`
	ClientID        string          `toml:"client-id"`
	ClientSecret    config.Secret   `toml:"client-secret"`
	RefreshInterval config.Duration `toml:"refresh-interval"`

	AuthenticationMethod string `toml:"authentication-method"`
	ResourceGroup        string `toml:"resource-group"`
	Environment          string `toml:"environment"`
}

// azureAuthMethods are Prometheus' authentication methods, by their lower-case names.
var azureAuthMethods = map[string]string{
	"oauth":            "OAuth",
	"managedidentity":  "ManagedIdentity",
	"sdk":              "SDK",
	"workloadidentity": "WorkloadIdentity",
}

// Service implements Provider.
func (*Azure) Service() string { return "azure" }
