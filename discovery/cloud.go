package discovery

import (
	"fmt"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/common/model"
)

// cloudPort applies Kapacitor's default port of the cloud discoverers (80): the port scraped on every
// instance found, since cloud APIs name hosts, not exporters.
func cloudPort(port int) (int, error) {
	switch {
	case port == 0:
		return 80, nil
	case port < 0 || port > 65535:
		return 0, fmt.Errorf("port: %d is not a TCP port", port)
	}
	return port, nil
}

// cloudRefresh applies a default refresh-interval and refuses a negative one.
func cloudRefresh(d config.Duration, def time.Duration) (model.Duration, error) {
	refresh := time.Duration(d)
	if refresh < 0 {
		return 0, fmt.Errorf("refresh-interval: %s is negative", refresh)
	}
	if refresh == 0 {
		refresh = def
	}
	return model.Duration(refresh), nil
}
