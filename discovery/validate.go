package discovery

import (
	"fmt"
	"net/url"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/common/model"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// The checks that several sections share, each with its one error text. Errors start with the key.

// duration applies a duration key's default to zero and refuses a negative value.
func duration(key string, d config.Duration, def time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("%s: %s is negative", key, time.Duration(d))
	case d == 0:
		return def, nil
	}
	return time.Duration(d), nil
}

// refreshInterval is the refresh-interval key, as Prometheus' SD configurations take it.
func refreshInterval(d config.Duration, def time.Duration) (model.Duration, error) {
	refresh, err := duration("refresh-interval", d, def)
	return model.Duration(refresh), err
}

// tcpPort applies the port key's default to zero and refuses a number that is no TCP port.
func tcpPort(port, def int) (int, error) {
	switch {
	case port == 0:
		return def, nil
	case port < 0 || port > 65535:
		return 0, fmt.Errorf("port: %d is not a TCP port", port)
	}
	return port, nil
}

// cloudPort is Kapacitor's default port of the cloud discoverers (80): the port scraped on every instance
// found, since cloud APIs name hosts, not exporters.
const cloudPort = 80

// checkTLS checks the TLS keys of a discoverer section, and the files they name (httpconfig.CheckFile).
func checkTLS(t *httpconfig.TLS) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return t.CheckFiles()
}

// httpURL parses the value of key, which must be an absolute http or https URL. The error shows the URL
// without its password.
func httpURL(key, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: %q is not an http or https URL", key, httpconfig.RedactURL(raw))
	}
	return u, nil
}
