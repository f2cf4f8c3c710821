package scrape

import (
	"encoding/binary"
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
	promscrape "github.com/prometheus/prometheus/scrape"

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
	// prometheus is the scraper as Prometheus' scrape config, for its target rules (PopulateLabels);
	// withoutRules the same without relabeling, and defaultLabels the labels it sets on every target
	// before relabeling (populateLabels).
	prometheus    *promcfg.ScrapeConfig
	withoutRules  *promcfg.ScrapeConfig
	defaultLabels []string
	// parserOptions and native say how native histograms are parsed and written (native.go).
	parserOptions textparse.ParserOptions
	native        nativeOptions
	failures      *failureLog // nil without scrape-failure-log-file

	// syncMu serializes Sync and Share, which build the next targets aside and take mu only to swap them
	// in; what they read of the last ones (bySource, key, place, synced, targets) only they change.
	syncMu   sync.Mutex
	bySource map[string]*syncedGroup
	// key and place are Share's: a target's key from its labels, and this instance's rank among the owners
	// of the targets of a key (-1: not one); nil before a Share, when it scrapes every target.
	key   func(labels.Labels) uint64
	place func(uint64) (rank, owners int)

	mu      sync.Mutex
	synced  []*syncedGroup     // the groups of the last Sync, as Share marked them
	targets map[uint64]*Target // the targets this instance scrapes, by identity: the final labels, URL, interval and timeout
	list    []*Target          // the same, ordered by URL
	// droppedCount counts the targets relabeling dropped at the last Sync.
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
	// TargetsBuilt counts the discovered targets built by the target rules (relabeling): those of the
	// groups that changed, and those Share brought here.
	TargetsBuilt atomic.Uint64
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
	failureKey := "scrape_failure_log_file"
	if job.HTTPClient == nil {
		failureKey = "scrape-failure-log-file"
	}
	failures, err := newFailureLog(failureKey, cfg.ScrapeFailureLogFile, cfg.Name)
	if err != nil {
		return nil, err
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
		failures:      failures,
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
	withoutRules := *s.prometheus
	withoutRules.RelabelConfigs = nil
	s.withoutRules = &withoutRules
	lb := labels.NewBuilder(labels.EmptyLabels())
	promscrape.PopulateDiscoveredLabels(lb, s.prometheus, nil, nil)
	lb.Range(func(l labels.Label) { s.defaultLabels = append(s.defaultLabels, l.Name) })
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
	client.HTTPHeaders, err = cfg.HTTPHeaders.Prometheus()
	return client, err
}

// CloseIdleConnections closes the connections to targets the scraper keeps for its next scrapes; a
// stopped scraper would otherwise leave them, and a goroutine or two each, until their idle timeout.
func (s *Scraper) CloseIdleConnections() { s.client.CloseIdleConnections() }

// Config returns the scraper's configuration.
func (s *Scraper) Config() *Config { return s.cfg }

// Name is the scraper's name, which tells its targets apart from another scraper's equal ones.
func (s *Scraper) Name() string { return s.cfg.Name }

// TargetRelabeling returns the target relabeling rules in effect, the ones Dropped.Rule indexes: a job's
// relabel_configs, then the Config's relabel-configs.
func (s *Scraper) TargetRelabeling() []*relabel.Config { return s.relabel }

// Stats returns the scraper's counters.
func (s *Scraper) Stats() *Stats { return &s.stats }

// syncedGroup is what Sync made of one discovered group. Published groups do not change: Sync and Share
// make new ones.
type syncedGroup struct {
	group   *targetgroup.Group
	sum     uint64  // groupSum of its content
	entries []entry // its targets that relabeling kept, in its order
	dropped []int32 // the indexes of those relabeling dropped
}

// entry is a discovered target that relabeling kept: a few words, and its Target only while this instance
// scrapes it. Another instance's target is built again from the group when it is wanted (Share, AllTargets).
type entry struct {
	index int32   // in the group's Targets
	id    uint64  // identity
	key   uint64  // its key for Share's place, once keyed
	t     *Target // nil while another instance scrapes it
}

// Sync replaces the scraper's targets with those of the groups. Only a group whose content changed since
// the last Sync is built again (a group is compared by pointer, then by content); without a change Sync
// does nothing. A target that stays keeps its schedule and health, and takes the discovered labels it
// was found with this time, as in Prometheus. A target that cannot be built is left
// out, and its error, which names it, returned. Sync and Share build the next targets aside and swap them
// in at once: Run and Targets never wait for them.
func (s *Scraper) Sync(groups []*targetgroup.Group) []error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	var errs []error
	changed := len(groups) != len(s.synced)
	next := make([]*syncedGroup, 0, len(groups))
	bySource := make(map[string]*syncedGroup, len(groups)) // this Sync's, to tell a source used twice
	for i, g := range groups {
		old := s.bySource[g.Source]
		if _, twice := bySource[g.Source]; twice {
			old = nil // two discoverers of a job may use one source name: the second is built each time
		}
		sg := old
		switch {
		case old != nil && old.group == g:
		case old != nil && old.sum == groupSum(g):
			rebound := *old // the same content anew: the old group's labels are let go
			rebound.group = g
			sg = &rebound
		default:
			sg = s.syncGroup(g, &errs)
		}
		changed = changed || sg != s.synced[i]
		next = append(next, sg)
		if _, twice := bySource[g.Source]; !twice {
			bySource[g.Source] = sg
		}
	}
	if changed {
		s.publish(next)
	}
	return errs
}

// syncGroup builds the targets of one group.
func (s *Scraper) syncGroup(g *targetgroup.Group, errs *[]error) *syncedGroup {
	sg := &syncedGroup{group: g, sum: groupSum(g)}
	for i, labels := range g.Targets {
		t, err := s.buildTarget(labels, g.Labels)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("scraper %q: target %d of group %q (%s): %w", s.cfg.Name, i, g.Source, excerptLabels(labels), err))
			continue
		}
		if t == nil {
			sg.dropped = append(sg.dropped, int32(i))
			continue
		}
		if slices.Contains(s.cfg.Blacklist, t.Instance()) {
			continue
		}
		e := entry{index: int32(i), id: identity(t)}
		if s.key != nil {
			e.key = s.key(t.Labels)
		}
		s.adopt(&e, t)
		sg.entries = append(sg.entries, e)
	}
	s.stats.TargetsBuilt.Add(uint64(len(g.Targets)))
	return sg
}

// adopt gives e its Target t if this instance scrapes it (the one it had, if it stays, with t's discovered
// labels), with its rank among the target's owners, and none if not.
func (s *Scraper) adopt(e *entry, t *Target) {
	e.t = nil
	rank, owners := 0, 1
	if s.place != nil {
		if rank, owners = s.place(e.key); rank < 0 {
			return
		}
	}
	if old, ok := s.targets[e.id]; ok && old != t {
		old.rediscovered(t.Discovered())
		t = old
	}
	t.SetReplica(rank, owners)
	e.t = t
}

// Share sets which targets this instance scrapes: those whose key place gives a rank for (-1: another
// instance's), key giving a target's key from its labels (a cluster's shares; without a Share, every
// target). key must not change from one call to the next: only place does (the peers changed), and the targets are only marked again, the ones
// that come to this instance built from their discovered labels. It returns how many it scrapes.
func (s *Scraper) Share(key func(labels.Labels) uint64, place func(uint64) (rank, owners int)) (owned int) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	keyed := s.key != nil
	s.key, s.place = key, place
	next := make([]*syncedGroup, len(s.synced))
	for i, old := range s.synced {
		sg := *old
		sg.entries = slices.Clone(old.entries)
		for j := range sg.entries {
			e := &sg.entries[j]
			t := e.t
			if !keyed { // every target was built and is here: its key comes from its labels
				e.key = key(t.Labels)
			}
			if rank, _ := place(e.key); t == nil && rank >= 0 {
				var err error
				if t, err = s.buildTarget(sg.group.Targets[e.index], sg.group.Labels); err != nil || t == nil {
					continue // it was built once from the same labels: it cannot fail now
				}
				s.stats.TargetsBuilt.Add(1)
			}
			s.adopt(e, t)
		}
		next[i] = &sg
	}
	s.publish(next)
	return s.Owned()
}

// publish makes the groups current: the targets this instance scrapes, ordered by URL, replace the last
// ones at once. Targets equal in identity are one, the first discovered. Called with syncMu held.
func (s *Scraper) publish(groups []*syncedGroup) {
	s.bySource = make(map[string]*syncedGroup, len(groups))
	for _, sg := range slices.Backward(groups) { // the first of a source, as Sync reuses it
		s.bySource[sg.group.Source] = sg
	}
	seen := make(map[uint64]struct{}, len(s.targets))
	targets := make(map[uint64]*Target)
	var list []*Target
	dropped := 0
	for _, sg := range groups {
		dropped += len(sg.dropped)
		for _, e := range sg.entries {
			if _, ok := seen[e.id]; ok {
				continue // one target already, under other discovered labels
			}
			seen[e.id] = struct{}{}
			if e.t != nil {
				targets[e.id] = e.t
				list = append(list, e.t)
			}
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].URL < list[j].URL })
	// As Prometheus' scrape pool does (refreshTargetLimitErr): past the limit, no target of the scraper is
	// scraped, each reports the error, and the limit counts the targets after relabeling, those that other
	// instances of a cluster scrape included, so that every instance agrees.
	var limitErr error
	if limit := s.cfg.TargetLimit; limit > 0 && len(seen) > limit {
		limitErr = fmt.Errorf("target_limit exceeded (number of targets: %d, limit: %d)", len(seen), limit)
	}
	s.mu.Lock()
	s.synced, s.targets, s.list, s.droppedCount, s.limitErr = groups, targets, list, dropped, limitErr
	s.mu.Unlock()
	s.stats.Targets.Store(int64(len(seen)))
}

// groupSum is a hash of a group's content, which tells a group sent again unchanged from a changed one:
// each label set's pairs in any order, the targets in their order.
func groupSum(g *targetgroup.Group) uint64 {
	var d xxhash.Digest
	sum := labelSetSum(&d, g.Labels)
	for _, t := range g.Targets {
		sum = sum*1099511628211 + labelSetSum(&d, t)
	}
	return sum
}

// labelSetSum is a hash of a label set, whatever the order its map ranges in.
func labelSetSum(d *xxhash.Digest, ls model.LabelSet) uint64 {
	var sum uint64 = 1
	for name, value := range ls {
		d.Reset()
		_, _ = d.WriteString(string(name))
		_, _ = d.Write([]byte{0xff})
		_, _ = d.WriteString(string(value))
		sum += d.Sum64()
	}
	return sum
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
	var d xxhash.Digest
	var b [8]byte
	_, _ = d.Write(binary.LittleEndian.AppendUint64(b[:0], t.Labels.Hash()))
	_, _ = d.WriteString(t.URL)
	_, _ = d.Write(binary.LittleEndian.AppendUint64(b[:0], uint64(t.Interval)))
	_, _ = d.Write(binary.LittleEndian.AppendUint64(b[:0], uint64(t.Timeout)))
	return d.Sum64()
}

// published returns the groups of the last Sync or Share.
func (s *Scraper) published() []*syncedGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.synced
}

// Dropped returns the targets relabeling dropped at the last Sync, the first keep-dropped-targets of them.
func (s *Scraper) Dropped() []Dropped {
	var out []Dropped
	for _, sg := range s.published() {
		for _, i := range sg.dropped {
			if keep := s.cfg.KeepDroppedTargets; keep >= 0 && len(out) >= keep {
				return out
			}
			discovered := s.discoveredLabels(sg.group.Targets[i], sg.group.Labels)
			out = append(out, Dropped{Discovered: discovered, Rule: droppedBy(discovered, s.relabel)})
		}
	}
	return out
}

// DroppedCount returns how many targets relabeling dropped at the last Sync, those Dropped leaves out
// included (Prometheus' droppedTargetCounts).
func (s *Scraper) DroppedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.droppedCount
}

// Targets returns the targets this instance scrapes, ordered by URL.
func (s *Scraper) Targets() []*Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Target(nil), s.list...)
}

// Owned is how many targets this instance scrapes.
func (s *Scraper) Owned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.list)
}

// AllTargets returns every target, those that other instances scrape (see Share) built anew from their
// discovered labels and not ScrapedHere, ordered by URL: for the status page.
func (s *Scraper) AllTargets() []*Target {
	seen := make(map[uint64]bool)
	var all []*Target
	for _, sg := range s.published() {
		for _, e := range sg.entries {
			if seen[e.id] {
				continue
			}
			seen[e.id] = true
			t := e.t
			if t == nil {
				var err error
				if t, err = s.buildTarget(sg.group.Targets[e.index], sg.group.Labels); err != nil || t == nil {
					continue
				}
				t.SetScrapedHere(false)
			}
			all = append(all, t)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].URL < all[j].URL })
	return all
}
