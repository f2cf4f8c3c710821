//go:build !remove_all_sd || enable_triton_sd

package discovery

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/triton"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// SDConfig implements Mapper.
func (t *Triton) SDConfig() (promdiscovery.Config, error) {
	cfg := &triton.SDConfig{
		Account:   t.Account,
		Role:      t.Role,
		DNSSuffix: t.DNSSuffix,
		Endpoint:  t.Endpoint,
		Groups:    slices.Clone(t.Groups),
		TLSConfig: t.TLS.Prometheus(),
		Version:   t.Version,
	}
	for _, kv := range [][2]string{{"account", t.Account}, {"dns-suffix", t.DNSSuffix}, {"endpoint", t.Endpoint}} {
		if strings.TrimSpace(kv[1]) == "" {
			return nil, fmt.Errorf("%s: required", kv[0])
		}
	}
	if u, err := url.Parse("https://" + t.Endpoint); err != nil || u.Host != t.Endpoint || u.Port() != "" {
		return nil, fmt.Errorf("endpoint: %q must be a host name alone; the URL is https://<endpoint>:<port>/v<version>/discover", httpconfig.RedactURL(t.Endpoint))
	}
	switch cfg.Role {
	case "":
		cfg.Role = triton.DefaultSDConfig.Role
	case "container", "cn":
	default:
		return nil, fmt.Errorf("role: %q must be container or cn", t.Role)
	}
	var err error
	if cfg.Port, err = tcpPort(t.Port, triton.DefaultSDConfig.Port); err != nil {
		return nil, err
	}
	switch {
	case t.Version == 0:
		cfg.Version = triton.DefaultSDConfig.Version
	case t.Version < 0:
		return nil, fmt.Errorf("version: %d is negative", t.Version)
	}
	if cfg.RefreshInterval, err = refreshInterval(t.RefreshInterval, time.Duration(triton.DefaultSDConfig.RefreshInterval)); err != nil {
		return nil, err
	}
	for i, g := range t.Groups {
		if g == "" {
			return nil, fmt.Errorf("groups[%d]: empty", i)
		}
	}
	if err := checkTLS(&t.TLS); err != nil {
		return nil, err
	}
	if len(t.Groups) > 0 && cfg.Role == "cn" {
		return nil, errors.New("groups: apply to role container only; compute nodes have no groups")
	}
	return cfg, nil
}
