//go:build !remove_all_sd || enable_aws_sd

package discovery

import (
	"errors"
	"fmt"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/aws"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// SDConfig implements Mapper.
func (e *EC2) SDConfig() (promdiscovery.Config, error) {
	cfg := &aws.EC2SDConfig{
		Region:           e.Region,
		Endpoint:         e.Endpoint,
		AccessKey:        e.AccessKey,
		Profile:          e.Profile,
		RoleARN:          e.RoleARN,
		HTTPClientConfig: promconfig.DefaultHTTPClientConfig,
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	var err error
	if cfg.Port, err = tcpPort(e.Port, cloudPort); err != nil {
		return nil, err
	}
	if cfg.RefreshInterval, err = refreshInterval(e.RefreshInterval, time.Minute); err != nil {
		return nil, err
	}
	// Prometheus quietly falls back to the SDK's default credentials when only one of the pair is set.
	if (e.AccessKey == "") != e.SecretKey.Empty() {
		return nil, errors.New("access-key and secret-key must be given together")
	}
	if cfg.SecretKey, err = httpconfig.Resolve(&e.SecretKey); err != nil {
		return nil, fmt.Errorf("secret-key: %w", err)
	}
	if e.Endpoint != "" {
		if _, err := httpURL("endpoint", e.Endpoint); err != nil {
			return nil, err
		}
	}
	if e.RoleARN != "" && !strings.HasPrefix(e.RoleARN, "arn:") {
		return nil, fmt.Errorf("role-arn: %q is not an ARN (arn:aws:iam::ACCOUNT:role/NAME)", e.RoleARN)
	}
	for i, f := range e.Filters {
		if f.Name == "" {
			return nil, fmt.Errorf("filters[%d]: name: required", i)
		}
		if len(f.Values) == 0 {
			return nil, fmt.Errorf("filters[%d]: values: at least one value is required", i)
		}
		cfg.Filters = append(cfg.Filters, &aws.Filter{Name: f.Name, Values: f.Values})
	}
	if err := checkTLS(&e.TLS); err != nil {
		return nil, err
	}
	cfg.HTTPClientConfig.TLSConfig = e.TLS.Prometheus()
	return cfg, nil
}
