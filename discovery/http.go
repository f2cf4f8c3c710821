package discovery

import (
	"errors"
	"time"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/http"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// HTTP is an [[http-discovery]] section: the target groups an HTTP endpoint serves in Prometheus' HTTP SD
// format (a JSON list of {"targets": [...], "labels": {...}}), asked for every refresh-interval. Prometheus'
// HTTP SD is in every build, as file is (Prometheus' plugins package always has it), so it has no _sd.go.
type HTTP struct {
	Common
	URL             string             `toml:"url"`
	RefreshInterval config.Duration    `toml:"refresh-interval"`
	HTTPHeaders     httpconfig.Headers `toml:"http-headers"`
	httpconfig.Auth
	httpconfig.TLS
}

// Service implements Provider.
func (*HTTP) Service() string { return "http-discovery" }

// SDConfig implements Mapper.
func (h *HTTP) SDConfig() (promdiscovery.Config, error) {
	if h.URL == "" {
		return nil, errors.New("url: required")
	}
	if _, err := httpURL("url", h.URL); err != nil {
		return nil, err
	}
	cfg := &http.SDConfig{URL: h.URL, HTTPClientConfig: promconfig.DefaultHTTPClientConfig}
	var err error
	if cfg.RefreshInterval, err = refreshInterval(h.RefreshInterval, time.Duration(http.DefaultSDConfig.RefreshInterval)); err != nil {
		return nil, err
	}
	if err := h.Auth.Validate(); err != nil {
		return nil, err
	}
	if err := h.Auth.Apply(&cfg.HTTPClientConfig); err != nil {
		return nil, err
	}
	if cfg.HTTPClientConfig.HTTPHeaders, err = h.HTTPHeaders.Prometheus(); err != nil {
		return nil, err
	}
	if err := checkTLS(&h.TLS); err != nil {
		return nil, err
	}
	cfg.HTTPClientConfig.TLSConfig = h.TLS.Prometheus()
	if err := cfg.HTTPClientConfig.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
