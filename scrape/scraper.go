package scrape

import (
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// Scraper scrapes the targets of one [[scraper]] section.
type Scraper struct {
	cfg    *Config
	client *http.Client
	logger *slog.Logger
	header http.Header

	mu      sync.Mutex
	targets map[uint64]*Target // by the hash of the discovered labels
	list    []*Target
	dropped []Dropped

	stats Stats
}

// Stats counts a scraper's work since it started.
type Stats struct {
	Scrapes      atomic.Uint64
	Errors       atomic.Uint64
	Samples      atomic.Uint64
	DurationNano atomic.Uint64
	Targets      atomic.Int64
}

// New builds the scraper of an initialised Config: its HTTP client carries the scraper's auth, proxy and TLS
// settings. Secrets are resolved here.
func New(cfg *Config, logger *slog.Logger) (*Scraper, error) {
	client, err := httpClientConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := client.Validate(); err != nil {
		return nil, err
	}
	// A live target reuses its connection every interval; one idle for longer belongs to a target discovery
	// has dropped, and is closed instead of lingering (and holding goroutines) for minutes.
	idle := promconfig.WithIdleConnTimeout(max(3*time.Duration(cfg.ScrapeInterval), 5*time.Second))
	withCredentials := takeCredentials(&client, idle)
	c, err := promconfig.NewClientFromConfig(client, cfg.Name, idle)
	if err != nil {
		return nil, err
	}
	c.Transport = withCredentials(c.Transport)
	return &Scraper{
		cfg:     cfg,
		client:  c,
		logger:  logger.With("scraper", cfg.Name),
		header:  requestHeader(time.Duration(cfg.ScrapeTimeout), isTrue(cfg.EnableCompression), cfg.Accept),
		targets: make(map[uint64]*Target),
	}, nil
}

// httpClientConfig is the Config's HTTPClient when it has one, else the one its Kapacitor keys describe.
func httpClientConfig(cfg *Config) (promconfig.HTTPClientConfig, error) {
	if cfg.HTTPClient != nil {
		return *cfg.HTTPClient, nil
	}
	client := promconfig.DefaultHTTPClientConfig
	var err error
	if client.ProxyConfig, err = httpconfig.ParseProxy(cfg.ProxyURL); err != nil {
		return client, fmt.Errorf("proxy-url: %w", err)
	}
	client.TLSConfig = cfg.TLS.Prometheus()
	client.FollowRedirects = isTrue(cfg.FollowRedirects)
	if err := cfg.Auth.Apply(&client); err != nil {
		return client, err
	}
	if cfg.BearerTokenFile != "" {
		client.Authorization = &promconfig.Authorization{Type: "Bearer", CredentialsFile: cfg.BearerTokenFile}
	}
	return client, nil
}

// CloseIdleConnections closes the connections to targets the scraper keeps for its next scrapes; a
// stopped scraper would otherwise leave them, and a goroutine or two each, until their idle timeout.
func (s *Scraper) CloseIdleConnections() { s.client.CloseIdleConnections() }

// Config returns the scraper's configuration.
func (s *Scraper) Config() *Config { return s.cfg }

// Stats returns the scraper's counters.
func (s *Scraper) Stats() *Stats { return &s.stats }

// Sync replaces the scraper's targets with those of the groups. A target that stays keeps its schedule and
// health. A target that cannot be built is left out, and its error, which names it, returned.
func (s *Scraper) Sync(groups []*targetgroup.Group) []error {
	blacklisted := make(map[string]bool, len(s.cfg.Blacklist))
	for _, instance := range s.cfg.Blacklist {
		blacklisted[instance] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	next := make(map[uint64]*Target, len(s.targets))
	s.dropped = s.dropped[:0]
	for _, g := range groups {
		for i, labels := range g.Targets {
			t, err := newTarget(s.cfg, labels, g.Labels)
			if err != nil {
				errs = append(errs, fmt.Errorf("scraper %q: target %d of group %q (%s): %w", s.cfg.Name, i, g.Source, labels, err))
				continue
			}
			if t == nil {
				discovered := discoveredLabels(s.cfg, labels, g.Labels)
				s.dropped = append(s.dropped, Dropped{Discovered: discovered, Rule: droppedBy(discovered, s.cfg.relabel)})
				continue
			}
			if blacklisted[t.Instance()] {
				continue
			}
			key := t.Discovered.Hash()
			if old, ok := s.targets[key]; ok {
				t = old
			}
			next[key] = t
		}
	}
	s.targets = next
	s.list = s.list[:0]
	for _, t := range next {
		s.list = append(s.list, t)
	}
	sort.Slice(s.list, func(i, j int) bool { return s.list[i].URL < s.list[j].URL })
	s.stats.Targets.Store(int64(len(s.list)))
	return errs
}

// Dropped returns the targets relabeling dropped at the last Sync.
func (s *Scraper) Dropped() []Dropped {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Dropped(nil), s.dropped...)
}

// Targets returns the current targets, ordered by URL.
func (s *Scraper) Targets() []*Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Target(nil), s.list...)
}
