package discovering_prometheus

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync/atomic"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/common/tls"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
	"github.com/discovering-prometheus/discovering-prometheus/internal/status"
)

// StatusOptions serve the plugin's live state (its targets, discoverers and own metrics) over HTTP, as
// Prometheus serves its /targets page and API.
type StatusOptions struct {
	StatusAddress       string        `toml:"status_address"`
	StatusAllowPlain    bool          `toml:"status_allow_plain"`
	StatusBasicUsername string        `toml:"status_basic_username"`
	StatusBasicPassword config.Secret `toml:"status_basic_password"`
	// StatusEnableLifecycle serves POST /-/reload (Reload), as Prometheus' --web.enable-lifecycle.
	StatusEnableLifecycle bool `toml:"status_enable_lifecycle"`
	tls.ServerConfig

	status         atomic.Pointer[status.Server] // Stop may run on two goroutines at once (the runner's signal watch)
	statusFreePort bool                          // a status_address in use falls back to a free port of its host
}

// StatusFallBackToFreePort makes a status_address in use fall back to a free port of the same host, for the
// runner's embedded default: a second runner on the machine serves its page too, and logs where.
func (p *DiscoveringPrometheus) StatusFallBackToFreePort() { p.statusFreePort = true }

// initStatus checks the status options. Secure by default: an address other hosts can reach needs TLS or
// basic auth, unless status_allow_plain says otherwise.
func (p *DiscoveringPrometheus) initStatus() error {
	if p.StatusAddress == "" {
		return nil
	}
	loopback, err := status.Loopback(p.StatusAddress)
	if err != nil {
		return fmt.Errorf("status_address: %q: %w", p.StatusAddress, err)
	}
	if _, err := p.TLSConfig(); err != nil {
		return fmt.Errorf("status_address: tls_cert, tls_key: %w", err)
	}
	withAuth := p.StatusBasicUsername != "" || !p.StatusBasicPassword.Empty()
	if withAuth && (p.StatusBasicUsername == "" || p.StatusBasicPassword.Empty()) {
		return errors.New("status_basic_username, status_basic_password: set both or neither")
	}
	withTLS := p.TLSCert != "" && p.TLSKey != ""
	if !withTLS && (p.TLSCert != "" || p.TLSKey != "" || len(p.TLSAllowedCACerts) > 0) {
		return errors.New("tls_cert, tls_key: the status server needs both for HTTPS")
	}
	if !loopback && !withTLS && !withAuth && !p.StatusAllowPlain {
		return fmt.Errorf("status_address: %q is reachable from other hosts: serve it with TLS (tls_cert and tls_key) "+
			"or basic auth (status_basic_username and status_basic_password), or set status_allow_plain = true "+
			"to serve the page in plain HTTP to anyone who can reach it", p.StatusAddress)
	}
	// Basic auth over plain HTTP sends the password in clear to whoever sees the network between.
	if !loopback && !withTLS && withAuth && !p.StatusAllowPlain {
		return fmt.Errorf("status_basic_password: %q is reachable from other hosts and basic auth over plain HTTP "+
			"sends the password in clear: serve it with TLS (tls_cert and tls_key), or set status_allow_plain = true", p.StatusAddress)
	}
	return nil
}

// startStatus serves the status pages, when status_address is set, and logs their URL.
func (p *DiscoveringPrometheus) startStatus() error {
	if p.StatusAddress == "" {
		return nil
	}
	tlsConfig, err := p.TLSConfig()
	if err != nil {
		return fmt.Errorf("status_address: %w", err)
	}
	cfg := status.Config{Address: p.StatusAddress, TLS: tlsConfig, Username: p.StatusBasicUsername, Metrics: p.registry,
		Routes: p.configAPIRoutes()}
	if p.StatusEnableLifecycle {
		cfg.Reload = p.Reload
	}
	if cfg.Username != "" {
		password, err := p.StatusBasicPassword.Get()
		if err != nil {
			return fmt.Errorf("status_basic_password: %w", err)
		}
		cfg.Password = password.String()
		password.Destroy()
	}
	if err := p.registry.Register(Metrics(func() *DiscoveringPrometheus { return p })); err != nil {
		return err
	}
	// The page is an aid to the scrapes, not their condition: an address in use (a second instance on the
	// machine, say) is logged and the plugin scrapes on without its page, rather than failing Start, which
	// would end the whole Telegraf. A plugin outside Telegraf's module cannot return its retryable
	// StartupError (internal/), so startup_error_behavior could not help.
	server, err := status.Listen(cfg, statusSource{p})
	if err != nil && p.statusFreePort {
		p.Log.Warnf("status_address: %v; serving the status page on a free port", err)
		host, _, _ := net.SplitHostPort(cfg.Address) // Init checked it
		cfg.Address = net.JoinHostPort(host, "0")
		server, err = status.Listen(cfg, statusSource{p})
	}
	if err != nil {
		p.Log.Errorf("status_address: %v; running without the status page", err)
		return nil
	}
	p.status.Store(server)
	p.Log.Infof("status page at %s", server.URL())
	return nil
}

func (p *DiscoveringPrometheus) stopStatus() {
	if server := p.status.Swap(nil); server != nil {
		_ = server.Close()
	}
}

// StatusURL is the address of the /targets page once Start has served it, with the port actually listened
// on; empty otherwise.
func (p *DiscoveringPrometheus) StatusURL() string {
	if server := p.status.Load(); server != nil {
		return server.URL()
	}
	return ""
}

// statusSource is the plugin's live state as the status server reads it. Every method takes the locks of
// the scrapers, targets and discovery runner for a copy only: a target's health is the snapshot its last
// scrape left, and no lock is held across a scrape.
type statusSource struct{ p *DiscoveringPrometheus }

func (s statusSource) Targets() status.Targets { return s.p.Targets() }

func (s statusSource) Scrapers() []status.Scraper {
	var out []status.Scraper
	jobs, _ := s.p.currentPlan()
	for _, job := range jobs {
		v := status.Scraper{Name: job.Name(), DB: job.DB, RP: job.RP, Object: job.Origin.Object}
		for _, key := range job.Sources {
			v.Discoverers = append(v.Discoverers, key.String())
		}
		out = append(out, v)
	}
	return out
}

func (s statusSource) Discoverers() []status.Discoverer {
	r := s.p.sd
	waiting := r.Waiting()
	_, configs := s.p.currentPlan()
	keys := slices.SortedFunc(maps.Keys(configs), func(a, b discovery.Key) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.ID, b.ID))
	})
	out := make([]status.Discoverer, 0, len(keys))
	for _, key := range keys {
		st := r.Stats(key)
		d := status.Discoverer{
			Name: key.String(), Answered: !slices.Contains(waiting, key),
			Refreshes: st.Refreshes, Errors: st.Errors, LastRefresh: st.LastUpdate,
			LastError: safetext.Line(st.Failure, MaxLogLine), // as the log shows it
		}
		for _, g := range r.Groups(key) {
			d.Targets += len(g.Targets)
		}
		out = append(out, d)
	}
	return out
}

func (s statusSource) Refused() []status.Refusal {
	var out []status.Refusal
	for _, r := range s.p.operatorRefusals() {
		out = append(out, status.Refusal{Object: r.Origin.Object, Reason: safetext.Line(r.Err.Error(), MaxLogLine)})
	}
	return out
}

func (s statusSource) RelabelSteps(pool string, discovered labels.Labels) (status.RelabelSteps, error) {
	return s.p.RelabelSteps(pool, discovered)
}

// Ready is true once every discoverer has answered and, with the prometheus_operator table, its objects'
// jobs run.
func (s statusSource) Ready() bool {
	for _, answered := range []<-chan struct{}{s.p.sd.Ready(), s.p.operatorSynced()} {
		select {
		case <-answered:
		default:
			return false
		}
	}
	return true
}
