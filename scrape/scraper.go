package scrape

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	promcfg "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// Scraper scrapes the targets of one [[scraper]] section or job of a Prometheus configuration.
type Scraper struct {
	cfg    *Config
	client *http.Client
	logger *slog.Logger
	header http.Header
	// relabel and metricRelabel are the rules in effect: a job's, then the Config's.
	relabel       []*relabel.Config
	metricRelabel []*relabel.Config
	// prometheus is the scraper as Prometheus' scrape config, for its target rules (PopulateLabels).
	prometheus *promcfg.ScrapeConfig
	// parserOptions and native say how native histograms are parsed and written (native.go).
	parserOptions textparse.ParserOptions
	native        nativeOptions

	mu      sync.Mutex
	targets map[uint64]*Target // by identity: the final labels, URL, interval and timeout
	list    []*Target
	// dropped are the first keep-dropped-targets targets relabeling dropped at the last Sync, of
	// droppedCount in all.
	dropped      []Dropped
	droppedCount int
	// limitErr, set when the scraper has more targets than target-limit, fails each of their scrapes.
	limitErr error

	stats Stats
}

// Stats counts a scraper's work since it started.
type Stats struct {
	Scrapes      atomic.Uint64
	Errors       atomic.Uint64
	Samples      atomic.Uint64
	DurationNano atomic.Uint64
	Targets      atomic.Int64
	// SeriesDropped counts the samples of new series that series-limit dropped.
	SeriesDropped atomic.Uint64
}

// New builds the scraper of an initialised Config, and of the job of a Prometheus configuration it was made
// from, if any (job may be nil): its HTTP client carries the scraper's auth, proxy and TLS settings.
// Secrets are resolved here.
func New(cfg *Config, job *JobExtras, logger *slog.Logger) (*Scraper, error) {
	if job == nil {
		job = &JobExtras{}
	}
	client, err := httpClientConfig(cfg, job.HTTPClient)
	if err != nil {
		return nil, err
	}
	if err := client.Validate(); err != nil {
		return nil, err
	}
	keys := keyNames(nil)
	if job.HTTPClient == nil {
		keys = kapacitorKeys
	}
	if err := checkFiles(&client, keys); err != nil {
		return nil, err
	}
	// A live target reuses its connection every interval; one idle for longer belongs to a target discovery
	// has dropped, and is closed instead of lingering (and holding goroutines) for minutes.
	opts := []promconfig.HTTPClientOption{promconfig.WithIdleConnTimeout(max(3*time.Duration(cfg.ScrapeInterval), 5*time.Second))}
	refs := make(fileRefs)
	if refs.take(&client, keys); len(refs) > 0 {
		opts = append(opts, promconfig.WithSecretManager(refs))
	}
	withCredentials := takeCredentials(&client, keys, opts...)
	c, err := promconfig.NewClientFromConfig(client, cfg.Name, opts...)
	if err != nil {
		return nil, err
	}
	c.Transport = withCredentials(c.Transport)
	accept := job.Accept
	if accept == "" && cfg.ScrapeNativeHistograms {
		accept = acceptHeaderProtoFirst
	}
	s := &Scraper{
		cfg:           cfg,
		client:        c,
		logger:        logger.With("scraper", cfg.Name),
		header:        requestHeader(time.Duration(cfg.ScrapeTimeout), isTrue(cfg.EnableCompression), accept),
		parserOptions: parserOptionsFor(cfg),
		native:        newNativeOptions(cfg),
		relabel:       append(slices.Clone(job.Relabel), cfg.relabel...),
		metricRelabel: append(slices.Clone(job.MetricRelabel), cfg.metricRelabel...),
		targets:       make(map[uint64]*Target),
	}
	s.prometheus = &promcfg.ScrapeConfig{
		JobName:              cfg.Name,
		HonorLabels:          cfg.HonorLabels,
		HonorTimestamps:      isTrue(cfg.HonorTimestamps),
		Params:               url.Values(cfg.Params),
		ScrapeInterval:       model.Duration(cfg.ScrapeInterval),
		ScrapeTimeout:        model.Duration(cfg.ScrapeTimeout),
		MetricsPath:          cfg.MetricsPath,
		Scheme:               cfg.Scheme,
		RelabelConfigs:       s.relabel,
		MetricRelabelConfigs: s.metricRelabel,
	}
	return s, nil
}

// httpClientConfig is a job's HTTP client configuration when there is one, else the one the Config's
// Kapacitor keys describe.
func httpClientConfig(cfg *Config, job *promconfig.HTTPClientConfig) (promconfig.HTTPClientConfig, error) {
	if job != nil {
		return *job, nil
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

// Name is the scraper's name, which tells its targets apart from another scraper's equal ones.
func (s *Scraper) Name() string { return s.cfg.Name }

// Share marks the targets this instance scrapes, those whose labels owns is true for (a cluster's share),
// and returns how many; Run passes over the others.
func (s *Scraper) Share(owns func(labels.Labels) bool) (owned int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.list {
		here := owns(t.Labels)
		t.SetScrapedHere(here)
		if here {
			owned++
		}
	}
	return owned
}

// TargetRelabeling returns the target relabeling rules in effect, the ones Dropped.Rule indexes: a job's
// relabel_configs, then the Config's relabel-configs.
func (s *Scraper) TargetRelabeling() []*relabel.Config { return s.relabel }

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
	s.dropped, s.droppedCount = s.dropped[:0], 0
	for _, g := range groups {
		for i, labels := range g.Targets {
			keep := s.cfg.KeepDroppedTargets
			t, dropped, d, err := s.buildTarget(labels, g.Labels, keep < 0 || len(s.dropped) < keep)
			if err != nil {
				errs = append(errs, fmt.Errorf("scraper %q: target %d of group %q (%s): %w", s.cfg.Name, i, g.Source, excerptLabels(labels), err))
				continue
			}
			if dropped {
				if d != nil {
					s.dropped = append(s.dropped, *d)
				}
				s.droppedCount++
				continue
			}
			if blacklisted[t.Instance()] {
				continue
			}
			key := identity(t)
			if _, ok := next[key]; ok {
				continue // one target already, under other discovered labels
			}
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
	// As Prometheus' scrape pool does (refreshTargetLimitErr): past the limit, no target of the scraper is
	// scraped, each reports the error, and the limit counts the targets after relabeling, those that other
	// instances of a cluster scrape included, so that every instance agrees.
	s.limitErr = nil
	if limit := s.cfg.TargetLimit; limit > 0 && len(s.list) > limit {
		s.limitErr = fmt.Errorf("target_limit exceeded (number of targets: %d, limit: %d)", len(s.list), limit)
	}
	return errs
}

// targetLimitErr is the error every scrape of the scraper fails with, nil when it is within target-limit.
func (s *Scraper) targetLimitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limitErr
}

// identity is what makes two targets one, as Prometheus' scrape pool has it (Target.hash): targets equal in
// their labels after relabeling and in what they are scraped with (URL, interval, timeout) would write the
// same series twice, so only the first discovered is kept.
func identity(t *Target) uint64 {
	return xxhash.Sum64String(fmt.Sprintf("%016x\xff%s\xff%d\xff%d", t.Labels.Hash(), t.URL, t.Interval, t.Timeout))
}

// Dropped returns the targets relabeling dropped at the last Sync, the first keep-dropped-targets of them.
func (s *Scraper) Dropped() []Dropped {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Dropped(nil), s.dropped...)
}

// DroppedCount returns how many targets relabeling dropped at the last Sync, those Dropped leaves out
// included (Prometheus' droppedTargetCounts).
func (s *Scraper) DroppedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.droppedCount
}

// Targets returns the current targets, ordered by URL.
func (s *Scraper) Targets() []*Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Target(nil), s.list...)
}
