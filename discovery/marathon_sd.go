//go:build !remove_all_sd || enable_marathon_sd

package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/marathon"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// SDConfig implements Mapper.
func (m *Marathon) SDConfig() (promdiscovery.Config, error) {
	cfg := &marathon.SDConfig{
		AuthTokenFile:    m.AuthTokenFile,
		HTTPClientConfig: promconfig.DefaultHTTPClientConfig,
	}
	if len(m.Servers) == 0 {
		return nil, errors.New("servers: at least one Marathon URL is required")
	}
	for i, raw := range m.Servers {
		if _, err := httpURL(fmt.Sprintf("servers[%d]", i), raw); err != nil {
			return nil, err
		}
		// The SD appends "/v2/apps/...": a trailing slash would make it "//v2".
		cfg.Servers = append(cfg.Servers, strings.TrimRight(raw, "/"))
	}
	timeout, err := duration("timeout", m.Timeout, marathonDefaultTimeout)
	if err != nil {
		return nil, err
	}
	if cfg.RefreshInterval, err = refreshInterval(m.RefreshInterval, marathonDefaultRefresh); err != nil {
		return nil, err
	}

	if err := m.Auth.Validate(); err != nil {
		return nil, err
	}
	basic, bearer := m.Username != "" || !m.Password.Empty(), !m.BearerToken.Empty()
	switch {
	case !m.AuthToken.Empty() && m.AuthTokenFile != "":
		return nil, errors.New("auth-token and auth-token-file exclude each other")
	case (!m.AuthToken.Empty() || m.AuthTokenFile != "") && (basic || bearer):
		return nil, errors.New("auth-token (or auth-token-file), username/password and bearer-token exclude each other")
	}
	token, err := httpconfig.Resolve(&m.AuthToken)
	if err != nil {
		return nil, fmt.Errorf("auth-token: %w", err)
	}
	cfg.AuthToken = token
	// Checked before it is opened: opening a named pipe would wait for a writer.
	if err := httpconfig.CheckFile("auth-token-file", m.AuthTokenFile); err != nil {
		return nil, err
	}
	if m.AuthTokenFile != "" {
		// Prometheus reads it when the discoverer starts; a missing file is a configuration error.
		f, err := os.Open(m.AuthTokenFile)
		if err != nil {
			return nil, fmt.Errorf("auth-token-file: %w", err)
		}
		f.Close()
	}
	if err := m.Auth.Apply(&cfg.HTTPClientConfig); err != nil {
		return nil, err
	}
	if err := checkTLS(&m.TLS); err != nil {
		return nil, err
	}
	cfg.HTTPClientConfig.TLSConfig = m.TLS.Prometheus()
	if err := cfg.HTTPClientConfig.Validate(); err != nil {
		return nil, err
	}
	return marathonSDConfig{SDConfig: cfg, Timeout: timeout}, nil
}

// marathonSDConfig is Prometheus' marathon SD configuration with Kapacitor's timeout. Prometheus' marathon
// client has no timeout of its own: a Marathon that accepts the connection and never answers would stall
// discovery until the plugin stops. Its discoverer is restarted instead when a refresh goes unanswered.
type marathonSDConfig struct {
	*marathon.SDConfig
	Timeout time.Duration
}

// NewDiscoverer implements promdiscovery.Config.
func (c marathonSDConfig) NewDiscoverer(opts promdiscovery.DiscovererOptions) (promdiscovery.Discoverer, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &marathonDiscoverer{cfg: c, opts: opts, logger: opts.Logger, failed: make(chan struct{}, 1)}
	var err error
	if d.first, err = d.newSD(); err != nil {
		return nil, err
	}
	return d, nil
}

// newSD creates Prometheus' discoverer, with its answers bounded.
func (d *marathonDiscoverer) newSD() (*marathon.Discovery, error) {
	sd, err := marathon.NewDiscovery(*d.cfg.SDConfig, d.opts)
	if err == nil {
		boundAnswers(sd, "marathon", d.logger)
	}
	return sd, err
}

// boundsAnswers implements boundsItsAnswers: newSD bounds each discoverer's answers.
func (*marathonDiscoverer) boundsAnswers() {}

type marathonDiscoverer struct {
	cfg    marathonSDConfig
	opts   promdiscovery.DiscovererOptions // of Prometheus' discoverers
	logger *slog.Logger
	first  *marathon.Discovery
	failed chan struct{} // a refresh failed (and was logged)
}

// sdFailed implements failureWatcher: a failed refresh is an answer too.
func (d *marathonDiscoverer) sdFailed(slog.Record) {
	select {
	case d.failed <- struct{}{}:
	default:
	}
}

// Run runs Prometheus' discoverer, and a new one whenever a refresh has had no answer within timeout.
func (d *marathonDiscoverer) Run(ctx context.Context, up chan<- []*targetgroup.Group) {
	known := map[string]bool{} // the sources with targets, as last sent
	sd := d.first
	for d.watch(ctx, sd, up, known) {
		d.logger.Error("Marathon did not answer within timeout; asking again", "timeout", d.cfg.Timeout.String())
		// Creating it again reads the TLS and token files again, which may have gone meanwhile.
		for {
			var err error
			if sd, err = d.newSD(); err == nil {
				break
			}
			d.logger.Error("cannot restart discoverer", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(d.cfg.Timeout):
			}
		}
	}
}

// watch runs one discoverer and passes its updates on until ctx ends (false) or it has had no answer
// for timeout (true). A refresh is due interval after the previous answer, so an answer, a success or a
// logged failure, is due within interval + timeout of the previous one, and within timeout of the start.
func (d *marathonDiscoverer) watch(ctx context.Context, sd *marathon.Discovery, up chan<- []*targetgroup.Group, known map[string]bool) bool {
	select {
	case <-d.failed: // logged before this discoverer ran: the watchdog's own, say
	default:
	}
	sctx, cancel := context.WithCancel(ctx)
	updates := make(chan []*targetgroup.Group)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sd.Run(sctx, updates)
	}()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.NewTimer(d.cfg.Timeout)
	defer deadline.Stop()
	next := time.Duration(d.cfg.RefreshInterval) + d.cfg.Timeout
	first := true
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return true
		case <-d.failed:
			deadline.Reset(next)
		case groups := <-updates:
			deadline.Reset(next)
			// A new discoverer lists every app but knows nothing of those gone since the last one listed.
			if first {
				groups = append(groups, marathonGone(known, groups)...)
				first = false
			}
			for _, g := range groups {
				if len(g.Targets) > 0 {
					known[g.Source] = true
				} else {
					delete(known, g.Source)
				}
			}
			select {
			case up <- groups:
			case <-ctx.Done():
				return false
			}
		}
	}
}

// marathonGone returns an empty group, which removes it, for each known source that groups lack.
func marathonGone(known map[string]bool, groups []*targetgroup.Group) []*targetgroup.Group {
	listed := make(map[string]bool, len(groups))
	for _, g := range groups {
		listed[g.Source] = true
	}
	var gone []*targetgroup.Group
	for source := range known {
		if !listed[source] {
			gone = append(gone, &targetgroup.Group{Source: source})
		}
	}
	return gone
}
