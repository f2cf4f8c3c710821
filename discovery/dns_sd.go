//go:build !remove_all_sd || enable_dns_sd

package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/dns"
	"github.com/prometheus/prometheus/discovery/targetgroup"
)

// SDConfig implements Mapper.
func (d *DNS) SDConfig() (promdiscovery.Config, error) {
	if len(d.RecordNames) == 0 {
		return nil, errors.New("record-names: at least one name is required")
	}
	seen := make(map[string]bool, len(d.RecordNames))
	for i, name := range d.RecordNames {
		if strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("record-names[%d]: empty", i)
		}
		// Each name is the source of one target group: a name given twice would share it.
		if seen[name] {
			return nil, fmt.Errorf("record-names[%d]: %q is listed twice", i, name)
		}
		seen[name] = true
	}
	kind := strings.ToUpper(d.Type)
	if kind == "" {
		kind = "SRV"
	}
	port, err := tcpPort(d.Port, 80)
	switch kind {
	case "SRV": // the records' own ports are scraped
	case "A", "AAAA":
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("type: %q is not one of SRV, A or AAAA", d.Type)
	}
	refresh, err := refreshInterval(d.RefreshInterval, 30*time.Second)
	if err != nil {
		return nil, err
	}
	return dnsSDConfig{&dns.SDConfig{
		Names:           d.RecordNames,
		RefreshInterval: refresh,
		Type:            kind,
		Port:            port,
	}}, nil
}

// dnsSDConfig is Prometheus' DNS SD configuration, with discoverers that report failing lookups once per
// failure state. Prometheus' own logs every failed query (whose error names a new local port each time)
// and then sends the groups of the names that did resolve, which would end the failure state at once.
type dnsSDConfig struct {
	*dns.SDConfig
}

// NewDiscoverer implements promdiscovery.Config.
func (c dnsSDConfig) NewDiscoverer(opts promdiscovery.DiscovererOptions) (promdiscovery.Discoverer, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sd, err := dns.NewDiscovery(*c.SDConfig, opts)
	if err != nil {
		return nil, err
	}
	return &dnsDiscoverer{sd: sd, names: c.Names, logger: logger, sent: map[string]*targetgroup.Group{}}, nil
}

// The DNS SD's records of failed lookups: the discoverer reports them itself, once a refresh.
const (
	dnsResolutionFailed = "DNS resolution failed"
	dnsRefreshFailed    = "Error refreshing DNS targets"
)

func (dnsSDConfig) logMatcher() matcher { return dnsMatch }

func dnsMatch(r slog.Record) (slog.Record, event) {
	if dnsLookupFailed(r) {
		return r, event{kind: detail}
	}
	return failsByText(r)
}

func dnsLookupFailed(r slog.Record) bool {
	return r.Message == dnsResolutionFailed || r.Message == dnsRefreshFailed
}

type dnsDiscoverer struct {
	sd     *dns.Discovery
	names  []string
	logger *slog.Logger

	mu    sync.Mutex
	cause string // the first error of the current refresh, from the SD's own log records

	failing string // the names that failed in the last refresh
	failure string // the error logged when they started failing
	sent    map[string]*targetgroup.Group
}

// Run runs Prometheus' discoverer and passes on its refreshes. A refresh in which some names could not be
// looked up lacks their groups: it is logged, and only the groups that changed are passed on, so the
// failure state (and the last known targets of the failing names) lasts until every name resolves again.
func (d *dnsDiscoverer) Run(ctx context.Context, up chan<- []*targetgroup.Group) {
	updates := make(chan []*targetgroup.Group)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.sd.Run(ctx, updates)
	}()
	for {
		select {
		case <-done:
			return
		case groups := <-updates:
			if groups = d.filter(groups); groups == nil {
				continue
			}
			select {
			case up <- groups:
			case <-ctx.Done():
			}
		}
	}
}

func (d *dnsDiscoverer) filter(groups []*targetgroup.Group) []*targetgroup.Group {
	d.mu.Lock()
	cause := d.cause
	d.cause = ""
	d.mu.Unlock()
	resolved := make(map[string]bool, len(groups))
	for _, g := range groups {
		resolved[g.Source] = true
	}
	var failed []string
	for _, name := range d.names {
		if !resolved[name] {
			failed = append(failed, name)
		}
	}
	if len(failed) == 0 {
		d.failing = ""
		for _, g := range groups {
			d.sent[g.Source] = g
		}
		return groups
	}
	if key := strings.Join(failed, " "); key != d.failing {
		d.failing, d.failure = key, cause
	}
	// Logged alike on every failed refresh: the manager logs the first and counts the others.
	d.logger.Error("DNS lookup failed; keeping the last known targets", "names", failed, "err", d.failure)
	var changed []*targetgroup.Group
	for _, g := range groups {
		if !reflect.DeepEqual(d.sent[g.Source], g) {
			d.sent[g.Source] = g
			changed = append(changed, g)
		}
	}
	return changed
}

// sdFailed implements failureWatcher: the first failed lookup of a refresh is the cause its report names.
func (d *dnsDiscoverer) sdFailed(r slog.Record) {
	if !dnsLookupFailed(r) {
		return // the report itself
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "err" {
			return true
		}
		d.mu.Lock()
		if d.cause == "" {
			d.cause = a.Value.String()
		}
		d.mu.Unlock()
		return false
	})
}
