//go:build !remove_all_sd || enable_azure_sd

package discovery

import (
	"errors"
	"fmt"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/azure"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// SDConfig implements Mapper.
func (a *Azure) SDConfig() (promdiscovery.Config, error) {
	cfg := &azure.SDConfig{
		SubscriptionID:   a.SubscriptionID,
		TenantID:         a.TenantID,
		ClientID:         a.ClientID,
		ResourceGroup:    a.ResourceGroup,
		Environment:      a.Environment,
		HTTPClientConfig: promconfig.DefaultHTTPClientConfig,
	}
	var err error
	if cfg.Port, err = tcpPort(a.Port, cloudPort); err != nil {
		return nil, err
	}
	if cfg.RefreshInterval, err = refreshInterval(a.RefreshInterval, 5*time.Minute); err != nil {
		return nil, err
	}
	// Prometheus' network-interface cache draws a random expiry below 3×refresh-interval in whole
	// seconds, which panics when that is zero.
	if time.Duration(cfg.RefreshInterval) < time.Second {
		return nil, fmt.Errorf("refresh-interval: %s is below 1s", cfg.RefreshInterval)
	}
	if cfg.SubscriptionID == "" {
		return nil, errors.New("subscription-id: required")
	}
	if cfg.Environment == "" {
		cfg.Environment = "AzurePublicCloud"
	}
	if _, err := azure.CloudConfigurationFromName(cfg.Environment); err != nil {
		return nil, fmt.Errorf("environment: %q is not one of AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud", cfg.Environment)
	}
	method := a.AuthenticationMethod
	if method == "" {
		method = "OAuth"
	}
	if cfg.AuthenticationMethod = azureAuthMethods[strings.ToLower(method)]; cfg.AuthenticationMethod == "" {
		return nil, fmt.Errorf("authentication-method: %q is not one of OAuth, ManagedIdentity, WorkloadIdentity, SDK", method)
	}
	if cfg.AuthenticationMethod == "OAuth" {
		switch {
		case a.TenantID == "":
			return nil, errors.New("tenant-id: required with authentication-method OAuth")
		case a.ClientID == "":
			return nil, errors.New("client-id: required with authentication-method OAuth")
		case a.ClientSecret.Empty():
			return nil, errors.New("client-secret: required with authentication-method OAuth")
		}
	}
	if cfg.ClientSecret, err = httpconfig.Resolve(&a.ClientSecret); err != nil {
		return nil, fmt.Errorf("client-secret: %w", err)
	}
	return cfg, nil
}
