//go:build !remove_all_sd || enable_azure_sd

package discovery

import (
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/azure"
	"github.com/stretchr/testify/require"
)

func azureOAuth() Azure {
	return Azure{
		Common:         Common{ID: "a"},
		SubscriptionID: "sub",
		TenantID:       "tenant",
		ClientID:       "client",
		ClientSecret:   config.NewSecret([]byte("s3cret")),
	}
}

func TestAzureDefaults(t *testing.T) {
	a := azureOAuth()
	cfg, err := a.SDConfig()
	require.NoError(t, err)
	require.Equal(t, &azure.SDConfig{
		Environment:          "AzurePublicCloud",
		Port:                 80,
		SubscriptionID:       "sub",
		TenantID:             "tenant",
		ClientID:             "client",
		ClientSecret:         "s3cret",
		RefreshInterval:      model.Duration(5 * time.Minute),
		AuthenticationMethod: "OAuth",
		HTTPClientConfig:     promconfig.DefaultHTTPClientConfig,
	}, cfg)
	require.Equal(t, "azure", cfg.Name())
}

func TestAzureMapping(t *testing.T) {
	a := Azure{
		Common:               Common{ID: "a"},
		Port:                 9100,
		SubscriptionID:       "sub",
		ClientID:             "identity",
		RefreshInterval:      config.Duration(2 * time.Second),
		AuthenticationMethod: "managedidentity",
		ResourceGroup:        "rg",
		Environment:          "AzureChinaCloud",
	}
	cfg, err := a.SDConfig()
	require.NoError(t, err)
	require.Equal(t, &azure.SDConfig{
		Environment:          "AzureChinaCloud",
		Port:                 9100,
		SubscriptionID:       "sub",
		ClientID:             "identity",
		RefreshInterval:      model.Duration(2 * time.Second),
		AuthenticationMethod: "ManagedIdentity",
		ResourceGroup:        "rg",
		HTTPClientConfig:     promconfig.DefaultHTTPClientConfig,
	}, cfg)
}

func TestAzureErrors(t *testing.T) {
	for want, change := range map[string]func(*Azure){
		"port: -1 is not a TCP port":                               func(a *Azure) { a.Port = -1 },
		"refresh-interval: -1s is negative":                        func(a *Azure) { a.RefreshInterval = config.Duration(-time.Second) },
		"refresh-interval: 500ms is below 1s":                      func(a *Azure) { a.RefreshInterval = config.Duration(500 * time.Millisecond) },
		"subscription-id: required":                                func(a *Azure) { a.SubscriptionID = "" },
		`environment: "Mars" is not one of`:                        func(a *Azure) { a.Environment = "Mars" },
		`authentication-method: "password" is not one of`:          func(a *Azure) { a.AuthenticationMethod = "password" },
		"tenant-id: required with authentication-method OAuth":     func(a *Azure) { a.TenantID = "" },
		"client-id: required with authentication-method OAuth":     func(a *Azure) { a.ClientID = "" },
		"client-secret: required with authentication-method OAuth": func(a *Azure) { a.ClientSecret = config.Secret{} },
	} {
		t.Run(want, func(t *testing.T) {
			a := azureOAuth()
			change(&a)
			_, err := a.SDConfig()
			require.ErrorContains(t, err, want)
		})
	}
	// Managed and SDK identities need no secret.
	for _, method := range []string{"ManagedIdentity", "SDK", "WorkloadIdentity"} {
		t.Run(method, func(t *testing.T) {
			_, err := (&Azure{SubscriptionID: "sub", AuthenticationMethod: method}).SDConfig()
			require.NoError(t, err, method)
		})
	}
}
