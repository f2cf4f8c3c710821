package discovering_prometheus

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/common/tls"
	"github.com/prometheus/client_golang/prometheus"

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
	tls.ServerConfig

	status atomic.Pointer[status.Server] // Stop may run on two goroutines at once (the runner's signal watch)
}

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
	cfg := status.Config{Address: p.StatusAddress, TLS: tlsConfig, Username: p.StatusBasicUsername, Metrics: p.registry}
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
	server, err := status.Listen(cfg, statusSource{p})
	if err != nil {
		return fmt.Errorf("status_address: %w", err)
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
	for _, sc := range s.p.enabled {
		cfg := sc.config
		v := status.Scraper{Name: cfg.Name, DB: cfg.DB, RP: cfg.RP}
		for _, key := range sc.sources {
			v.Discoverers = append(v.Discoverers, key.String())
		}
		out = append(out, v)
	}
	return out
}

func (s statusSource) Discoverers() []status.Discoverer {
	r := s.p.sd
	waiting := r.Waiting()
	keys := slices.SortedFunc(maps.Keys(s.p.configs), func(a, b discovery.Key) int {
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

func (s statusSource) Ready() bool {
	select {
	case <-s.p.sd.Ready():
		return true
	default:
		return false
	}
}

// Metrics is a prometheus.Collector of the plugin's own metrics, those inputs.internal shows as
// internal_discovering_prometheus: its scrapers' counters (scrapes, errors, samples, time spent, targets),
// its discoverers' refreshes and errors and, with a cluster table, the peers known and the targets owned.
// plugin returns the plugin to read; a nil one, or one not started, has none. They are what /metrics of the
// status server shows, and the runner's own endpoint.
func Metrics(plugin func() *DiscoveringPrometheus) prometheus.Collector {
	return collector(plugin)
}

type collector func() *DiscoveringPrometheus

var (
	scrapesDesc      = scraperDesc("scrapes_total", "Scrapes done.")
	errorsDesc       = scraperDesc("scrape_errors_total", "Scrapes that failed.")
	samplesDesc      = scraperDesc("samples_total", "Samples scraped.")
	durationDesc     = scraperDesc("scrape_duration_seconds_total", "Time spent scraping.")
	targetsDesc      = scraperDesc("targets", "Targets discovered and not blacklisted.")
	refreshesDesc    = discovererDesc("discoverer_refreshes_total", "Updates the discoverer sent.")
	discoErrorsDesc  = discovererDesc("discoverer_errors_total", "Failures the discoverer logged.")
	peersDesc        = clusterDesc("cluster_peers", "Instances that share the targets, this one included.")
	targetsOwnedDesc = clusterDesc("cluster_targets_owned", "Targets this instance owns and scrapes.")
)

// The labels are the tags of the same counters in internal_discovering_prometheus.
func scraperDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("discovering_prometheus_"+name, help, []string{"scraper"}, nil)
}

func discovererDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("discovering_prometheus_"+name, help, []string{"discoverer_service", "discoverer_id"}, nil)
}

func clusterDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("discovering_prometheus_"+name, help, []string{"cluster_service", "cluster_id"}, nil)
}

// Describe implements prometheus.Collector.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		scrapesDesc, errorsDesc, samplesDesc, durationDesc, targetsDesc,
		refreshesDesc, discoErrorsDesc, peersDesc, targetsOwnedDesc,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (plugin collector) Collect(ch chan<- prometheus.Metric) {
	p := plugin()
	if p == nil {
		return
	}
	scrapers, runner, cl := p.running()
	for _, sc := range scrapers {
		name, st := sc.Config().Name, sc.Stats()
		ch <- prometheus.MustNewConstMetric(scrapesDesc, prometheus.CounterValue, float64(st.Scrapes.Load()), name)
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(st.Errors.Load()), name)
		ch <- prometheus.MustNewConstMetric(samplesDesc, prometheus.CounterValue, float64(st.Samples.Load()), name)
		ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.CounterValue, float64(st.DurationNano.Load())/1e9, name)
		ch <- prometheus.MustNewConstMetric(targetsDesc, prometheus.GaugeValue, float64(st.Targets.Load()), name)
	}
	if runner == nil {
		return
	}
	for key := range p.configs {
		st := runner.Stats(key)
		ch <- prometheus.MustNewConstMetric(refreshesDesc, prometheus.CounterValue, float64(st.Refreshes), key.Service, key.ID)
		ch <- prometheus.MustNewConstMetric(discoErrorsDesc, prometheus.CounterValue, float64(st.Errors), key.Service, key.ID)
	}
	if cl != nil {
		ch <- prometheus.MustNewConstMetric(peersDesc, prometheus.GaugeValue, float64(cl.peersKnown.Get()), cl.key.Service, cl.key.ID)
		ch <- prometheus.MustNewConstMetric(targetsOwnedDesc, prometheus.GaugeValue, float64(cl.targetsOwned.Get()), cl.key.Service, cl.key.ID)
	}
}
