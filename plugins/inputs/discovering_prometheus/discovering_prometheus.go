// Package discovering_prometheus is the Telegraf input that does what Kapacitor's scrapers and discoverers
// did: discoverers find targets, scrapers pull Prometheus-format metrics from them on each gather, and every
// metric carries its scraper's db and rp as tags for Telegraf's InfluxDB outputs to route.
package discovering_prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/selfstat"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/discovering-prometheus/discovering-prometheus/cluster"
	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
	"github.com/discovering-prometheus/discovering-prometheus/kapacitor"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// Defaults of the plugin-level options.
const (
	defaultMaxConcurrentScrapes = 128
	defaultDiscoveryWait        = 10 * time.Second
)

// DiscoveringPrometheus is the plugin. Its sub-tables are Kapacitor's [[scraper]] and discoverer sections.
type DiscoveringPrometheus struct {
	MetricFormat         string                    `toml:"metric_format"`
	DBTag                string                    `toml:"db_tag"`
	RPTag                string                    `toml:"rp_tag"`
	MaxConcurrentScrapes int                       `toml:"max_concurrent_scrapes"`
	DiscoveryWait        config.Duration           `toml:"discovery_wait"`
	KapacitorConfig      string                    `toml:"kapacitor_config"`
	PrometheusConfig     string                    `toml:"prometheus_config"`
	PrometheusDB         string                    `toml:"prometheus_db"`
	PrometheusRP         string                    `toml:"prometheus_rp"`
	PrometheusJobs       map[string]*PrometheusJob `toml:"prometheus_jobs"`
	Scrapers             []*scrape.Config          `toml:"scraper"`
	Cluster              *Cluster                  `toml:"cluster"`
	discovery.Sections
	StatusOptions
	SeriesBudgetOptions
	ConfigAPIOptions
	Log        telegraf.Logger     `toml:"-"`
	Statistics *selfstat.Collector `toml:"-"`

	logger    *slog.Logger
	format    *metricFormat
	interns   sync.Pool // *interner, one per scrape worker, kept across gathers
	lineSinks sync.Pool // lineWriter, likewise
	configs   discovery.Configs
	enabled   []*scraper
	sd        *discovery.Manager // the discoverers, running
	registry  *prometheus.Registry
	stats     *statistics
	cluster   *cluster.Cluster // nil without a cluster table
	oneShot   bool             // a debugging run, which gathers once: see OneShot
	infs      *infReport

	// mu guards scrapers, and sd and cluster as Start sets them, for readers outside Gather (the
	// runner's self-metrics); scrapers[i] runs enabled[i].
	mu       sync.Mutex
	scrapers []*scrape.Scraper
	routes   map[*scrape.Scraper]*routing
	waited   bool
	ctx      context.Context
	cancel   context.CancelFunc

	// background counts the gathers whose scrapes still run after the gather returned (see scrape); Stop
	// waits for them, so that none delivers to an accumulator Telegraf has closed. stopped, under mu, keeps
	// a gather that starts after Stop from adding to it.
	background sync.WaitGroup
	stopped    bool
	// gathered is set once a gather has run; repeats by GathersRepeat.
	gathered, repeats bool

	// syncMu serializes syncTargets: the first gather's and those of syncLoop, which runs them off the
	// gather path (syncing, until Stop); resync asks it for one without news from discovery. seen is the
	// discovery version the scrapers were last synced to.
	syncMu  sync.Mutex
	seen    uint64
	syncing sync.WaitGroup
	resync  chan struct{}
}

// scraper is one scraper the plugin runs: a [[scraper]] section, its own or kapacitor_config's, or a job of
// prometheus_config. Its configuration is the section's keys, validated; a job adds what Prometheus' loader
// read beyond them, and takes its targets from all its discoverers.
type scraper struct {
	config  *scrape.Config
	job     *scrape.JobExtras // nil for a [[scraper]] section
	sources []discovery.Key   // the discoverers it takes its targets from
}

// sectionScraper is the scraper of a validated [[scraper]] section: its discoverer is the one its
// discoverer-service and discoverer-id name.
func sectionScraper(c *scrape.Config) *scraper {
	return &scraper{config: c, sources: []discovery.Key{{Service: c.DiscovererService, ID: c.DiscovererID}}}
}

// Init validates the configuration; its errors name the section and the key.
func (p *DiscoveringPrometheus) Init() error {
	// The overrides of Kapacitor's config API change the sections before anything reads them.
	if err := p.initConfigAPI(); err != nil {
		return err
	}
	// A kapacitor.conf's sections, validated as it loads, run next to the plugin's own; its errors come alone.
	var file *kapacitor.Sections
	if p.KapacitorConfig != "" {
		var warnings []string
		var err error
		file, warnings, err = kapacitor.Include(p.KapacitorConfig, p.Scrapers, &p.Sections)
		for _, w := range warnings {
			p.Log.Warn(w)
		}
		if err != nil {
			return prefixLines("kapacitor_config", err)
		}
	}
	if p.MetricFormat == "" {
		p.MetricFormat = "kapacitor"
	}
	var errs []error
	if p.format = formats[p.MetricFormat]; p.format == nil {
		errs = append(errs, fmt.Errorf("metric_format: %q is not one of %s", p.MetricFormat, strings.Join(formatNames(), ", ")))
	}
	if p.DBTag == "" {
		p.DBTag = "db"
	}
	if p.RPTag == "" {
		p.RPTag = "rp"
	}
	for _, tag := range []struct{ key, name string }{{"db_tag", p.DBTag}, {"rp_tag", p.RPTag}} {
		if err := routingTagName(tag.name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", tag.key, err))
		}
	}
	if p.DBTag == p.RPTag {
		errs = append(errs, fmt.Errorf("db_tag and rp_tag: both are %q", p.DBTag))
	}
	if p.MaxConcurrentScrapes < 0 {
		errs = append(errs, fmt.Errorf("max_concurrent_scrapes: %d is negative", p.MaxConcurrentScrapes))
	}
	if p.MaxConcurrentScrapes == 0 {
		p.MaxConcurrentScrapes = defaultMaxConcurrentScrapes
	}
	if p.DiscoveryWait < 0 {
		errs = append(errs, fmt.Errorf("discovery_wait: %s is negative", time.Duration(p.DiscoveryWait)))
	}
	if p.DiscoveryWait == 0 {
		p.DiscoveryWait = config.Duration(defaultDiscoveryWait)
	}

	providers := p.Providers()
	var err error
	p.configs, err = discovery.Validate(providers)
	if err != nil {
		errs = append(errs, err)
	}
	var fromFile []*scrape.Config
	if file != nil {
		maps.Copy(p.configs, file.Configs())
		providers = append(providers, file.Providers()...)
		fromFile = file.Scrapers
	}
	for _, w := range discovery.Warnings(providers) {
		p.Log.Warn(w)
	}
	errs = append(errs, p.initScrapers(fromFile)...)
	errs = append(errs, p.initPrometheus()...)
	errs = append(errs, p.initStatus())
	errs = append(errs, p.initSeriesBudget())
	errs = append(errs, p.initCluster()...)
	return errors.Join(errs...)
}

// routingTagName checks a db_tag or rp_tag: a classic label name that no label of the formats has.
func routingTagName(name string) error {
	switch {
	case !legacyName(name) || strings.Contains(name, ":"):
		return fmt.Errorf("%q is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)", name)
	case strings.HasPrefix(name, "__"):
		return fmt.Errorf("%q: names starting with __ are Prometheus' own", name)
	case slices.Contains(reservedTags(), name):
		return fmt.Errorf("%q would replace the %s tag of every metric", name, name)
	}
	return nil
}

// routingValues checks that line protocol carries a scraper's db and rp as they are.
func routingValues(cfg *scrape.Config) error {
	var errs []error
	for _, v := range []struct{ key, value string }{{"db", cfg.DB}, {"rp", cfg.RP}} {
		if safeValue(v.value) != v.value {
			errs = append(errs, fmt.Errorf("%s: %q: line protocol cannot carry a backslash at the end or before a space, comma, equals sign or double quote", v.key, v.value))
		}
	}
	return errors.Join(errs...)
}

// initScrapers validates the plugin's own [[scraper]] sections and takes the enabled ones, then those of
// kapacitor_config (fromFile), which the kapacitor package validated and checked against the plugin's own.
func (p *DiscoveringPrometheus) initScrapers(fromFile []*scrape.Config) []error {
	var errs []error
	names := make(map[string]bool)
	p.enabled = p.enabled[:0]
	anyEnabled := false
	for i, s := range p.Scrapers {
		if !s.IsEnabled() {
			continue
		}
		anyEnabled = true
		section := fmt.Sprintf("scraper[%d]", i)
		if s.Name != "" {
			section = fmt.Sprintf("scraper %q", s.Name)
		}
		if err := errors.Join(s.Init(), routingValues(s)); err != nil {
			errs = append(errs, prefixLines(section, err))
			continue
		}
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("%s: name: used by another scraper", section))
			continue
		}
		names[s.Name] = true
		sc := sectionScraper(s)
		if key := sc.sources[0]; p.configs[key] == nil {
			if !p.hasSection(key) { // an invalid section has its own error already
				errs = append(errs, fmt.Errorf("%s: %s", section, p.unknownDiscoverer(key)))
			}
			continue
		}
		p.enabled = append(p.enabled, sc)
	}
	for _, s := range fromFile {
		if !s.IsEnabled() {
			continue
		}
		anyEnabled = true
		if err := routingValues(s); err != nil {
			errs = append(errs, prefixLines(fmt.Sprintf("scraper %q", s.Name), err))
			continue
		}
		p.enabled = append(p.enabled, sectionScraper(s))
	}
	if !anyEnabled && p.PrometheusConfig == "" {
		errs = append(errs, errors.New("scraper: no enabled [[inputs.discovering_prometheus.scraper]] section"))
	}
	return errs
}

// EnabledScrapers returns the configuration of every scraper the plugin runs, after Init: its own
// [[scraper]] sections, kapacitor_config's, and prometheus_config's jobs.
func (p *DiscoveringPrometheus) EnabledScrapers() []*scrape.Config {
	configs := make([]*scrape.Config, len(p.enabled))
	for i, s := range p.enabled {
		configs[i] = s.config
	}
	return configs
}

// Discoverers returns the SD configuration of every discoverer the plugin runs, after Init, by key.
func (p *DiscoveringPrometheus) Discoverers() discovery.Configs { return p.configs }

// hasSection tells whether an enabled discoverer section has that key, valid or not.
func (p *DiscoveringPrometheus) hasSection(key discovery.Key) bool {
	return slices.ContainsFunc(p.Providers(), func(provider discovery.Provider) bool {
		return provider.IsEnabled() && discovery.KeyOf(provider) == key
	})
}

func (p *DiscoveringPrometheus) unknownDiscoverer(key discovery.Key) string {
	if !slices.Contains(discovery.Services, key.Service) {
		return fmt.Sprintf("discoverer-service: %q is not a discoverer; use one of %s", key.Service, strings.Join(discovery.Services, ", "))
	}
	return fmt.Sprintf("discoverer-id: no enabled [[%s]] section has id %q", key.Service, key.ID)
}

// prefixLines puts the section before every line of a joined error.
func prefixLines(section string, err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = section + ": " + l
	}
	return errors.New(strings.Join(lines, "\n"))
}

func formatNames() []string {
	names := make([]string, 0, len(formats))
	for name := range formats {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Start runs the discoverers in the background and prepares the scrapers.
func (p *DiscoveringPrometheus) Start(telegraf.Accumulator) error {
	p.logger = newSlogLogger(p.Log)
	p.infs = newInfReport(p.Log)
	p.registry = prometheus.NewRegistry()
	scrapers := make([]*scrape.Scraper, 0, len(p.enabled))
	routes := make(map[*scrape.Scraper]*routing, len(p.enabled))
	for _, sc := range p.enabled {
		cfg := sc.config
		s, err := scrape.New(cfg, sc.job, p.logger)
		if err != nil {
			return fmt.Errorf("scraper %q: %w", cfg.Name, err)
		}
		scrapers = append(scrapers, s)
		routes[s] = &routing{dbTag: p.DBTag, db: cfg.DB, rpTag: p.RPTag, rp: cfg.RP}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	sd := discovery.NewManager(p.configs, p.logger, p.registry)
	p.stats = newStatistics(p.Statistics, scrapers, p.configs)
	p.startSeriesBudget(scrapers)
	p.mu.Lock()
	p.scrapers, p.routes, p.sd, p.stopped = scrapers, routes, sd, false
	p.mu.Unlock()
	if err := p.startCluster(); err != nil {
		return err
	}
	if p.cluster != nil {
		p.stats.addCluster(p.Cluster.key(), p.cluster.Stats())
	}
	p.sd.Start()
	p.resync = make(chan struct{}, 1)
	p.syncing.Add(1)
	go p.syncLoop()
	if err := p.startStatus(); err != nil {
		p.Stop()
		return err
	}
	return nil
}

// Gather scrapes every target whose scrape-interval has elapsed. The first gather waits up to discovery_wait
// for every discoverer's first answer, so that a one-shot run (telegraf --once, the runner's -once) sees
// the targets.
func (p *DiscoveringPrometheus) Gather(acc telegraf.Accumulator) error {
	if p.awaitDiscovery() {
		p.beforeGather()
		p.gatherAt(acc, time.Now())
	}
	return nil
}

// gatherAt scrapes the targets due at now into Telegraf metrics.
func (p *DiscoveringPrometheus) gatherAt(acc telegraf.Accumulator, now time.Time) {
	var sinks []*sink
	p.scrape(now, func() scrape.Sink { // called on this goroutine, once per parse slot
		strs, ok := p.interns.Get().(*interner)
		if !ok {
			strs = newInterner()
		}
		k := newSink(acc, p.format, p.routes, strs, p.infs, p.budget)
		sinks = append(sinks, k)
		return k
	}, func() {
		for _, k := range sinks {
			p.interns.Put(k.strs)
		}
	})
}

// GatherLineProtocol gathers as Gather does but writes the metrics straight to w as line protocol, byte for
// byte what Telegraf's influx serializer would write for them, without building Telegraf metrics: for the
// runner, whose output is line protocol anyway. It serves the formats that have a line writer (the
// kapacitor format), and says so (false) for the others, which go through Gather. Writes to w must be safe
// for concurrent use.
func (p *DiscoveringPrometheus) GatherLineProtocol(w io.Writer) (bool, error) {
	if p.format.newLineWriter == nil || p.budget != nil { // the budget counts Telegraf metrics' series
		return false, nil
	}
	if p.awaitDiscovery() {
		p.beforeGather()
		p.gatherLineProtocolAt(w, time.Now())
	}
	return true, nil
}

// gatherLineProtocolAt scrapes the targets due at now straight to line protocol.
func (p *DiscoveringPrometheus) gatherLineProtocolAt(w io.Writer, now time.Time) {
	var sinks []lineWriter
	p.scrape(now, func() scrape.Sink { // called on this goroutine, once per parse slot
		k, ok := p.lineSinks.Get().(lineWriter)
		if !ok {
			k = p.format.newLineWriter(p.routes)
		}
		k.writeTo(w)
		sinks = append(sinks, k)
		return k
	}, func() {
		for _, k := range sinks {
			p.lineSinks.Put(k) // its buffer, grown to a scrape's size, serves the next gather
		}
	})
}

// awaitDiscovery waits, on the first gather only, up to discovery_wait for every discoverer's first answer,
// so that a one-shot run (telegraf --once, the runner's -once) sees the targets. It is false when the plugin
// is stopping.
func (p *DiscoveringPrometheus) awaitDiscovery() bool {
	if p.waited {
		return true
	}
	p.waited = true
	select {
	case <-p.sd.Ready():
	case <-time.After(time.Duration(p.DiscoveryWait)):
		var waiting []string
		for _, key := range p.sd.Waiting() {
			waiting = append(waiting, key.String())
		}
		p.Log.Warnf("not every discoverer answered within discovery_wait (%s), not yet %s; scraping the targets known so far",
			time.Duration(p.DiscoveryWait), strings.Join(waiting, ", "))
	case <-p.ctx.Done():
		return false
	}
	return true
}

// beforeGather makes the targets current for the first gather, which a one-shot run scrapes; later gathers
// scrape the targets syncLoop last swapped in, and never wait for it. An unlisted instance says so every
// minute, news or not, and the last peers kept through an empty answer expire on time.
func (p *DiscoveringPrometheus) beforeGather() {
	if !p.gathered {
		p.syncTargets()
	}
	if p.cluster == nil {
		return
	}
	now := time.Now()
	p.cluster.Remind(now)
	if p.cluster.FallbackDue(now) {
		select {
		case p.resync <- struct{}{}:
		default: // one is asked for already
		}
	}
}

// syncLoop runs syncTargets after each discovery update, and when a gather asks for it, until Stop.
func (p *DiscoveringPrometheus) syncLoop() {
	defer p.syncing.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.sd.Updated():
		case <-p.resync:
		}
		p.syncTargets()
	}
}

// syncTargets brings the peers and then the scrapers' targets up to date with discovery: the owners of
// every target are recomputed only when the peers changed, and only the discovered groups that changed
// are built again (scrape.Scraper.Sync), each scraper's result swapped in at once.
func (p *DiscoveringPrometheus) syncTargets() {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	v := p.sd.Version()
	pools := make([]cluster.Pool, len(p.scrapers))
	for i, s := range p.scrapers {
		pools[i] = s
	}
	if p.cluster != nil {
		p.cluster.Assign(pools) // first: the targets new to this sync are shared among the current peers
	}
	if v == p.seen {
		return
	}
	p.seen = v
	for i, s := range p.scrapers {
		var groups []*targetgroup.Group
		for _, key := range p.enabled[i].sources {
			groups = append(groups, p.sd.Groups(key)...)
		}
		for _, err := range s.Sync(groups) {
			p.Log.Warn(safetext.Line(err.Error(), MaxLogLine)) // it quotes a target's labels
		}
	}
	live := make(map[*scrape.Target]bool)
	for _, s := range p.scrapers {
		for _, t := range s.Targets() {
			live[t] = true
		}
	}
	p.infs.keep(live)
	if p.cluster != nil {
		p.cluster.Count(pools)
	}
}

// scrape runs the due scrapes of one gather into sinks from newSink, and publishes the statistics; release
// is called once the sinks are free again, which may be after scrape returns.
//
// A gather waits for its scrapes up to scrape.WaitBound, the shortest scrape-timeout of the jobs: a target
// of a slow job that hangs does not hold the next gathers of a fast one. Its scrape ends in the background,
// delivering into its sink (Telegraf's accumulator, or the runner's writer, outlives the gather), and its
// target is not scraped again meanwhile. A one-shot run (telegraf --once or --test, the runner's -once and
// -targets) gathers once and then stops, which would cut such scrapes short: so the first gather waits for
// every scrape, up to its timeout, unless GathersRepeat said that more gathers follow.
func (p *DiscoveringPrometheus) scrape(now time.Time, newSink func() scrape.Sink, release func()) {
	var wait time.Duration
	if p.gathered || p.repeats {
		wait = scrape.WaitBound(p.scrapers)
	}
	p.gathered = true
	p.mu.Lock()
	stopped := p.stopped
	if !stopped {
		p.background.Add(1)
	}
	p.mu.Unlock()
	if stopped {
		wait = 0 // Stop waits for no more: nothing of this gather may outlive it
	}
	scrape.RunWithin(p.ctx, p.scrapers, now, p.MaxConcurrentScrapes, wait, newSink, func() {
		release()
		if !stopped {
			p.background.Done()
		}
	})
	p.stats.publish(p.sd)
}

// GathersRepeat tells the plugin that gathers follow one another until it stops (the runner's serve mode),
// so that the first gather too stops waiting at scrape.WaitBound.
func (p *DiscoveringPrometheus) GathersRepeat() { p.repeats = true }

// Stop ends the discoverers and any scrape under way. It may be called while a Gather runs, which then
// returns within moments, without reporting the scrapes it cut short; and more than once. It waits for
// the scrapes that gathers left running, which end within moments once cancelled, and for the discoverers
// a second at most (see discovery.Manager.Stop).
func (p *DiscoveringPrometheus) Stop() {
	p.stopStatus()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
	}
	p.syncing.Wait()
	p.background.Wait()
	if p.sd != nil {
		p.sd.Stop()
	}
	p.stopCluster()
	// Telegraf stops and starts the plugin on every reload: the scrapers' kept-alive connections go now.
	for _, s := range p.RunningScrapers() {
		s.CloseIdleConnections()
	}
}

// RunningScrapers returns the running scrapers (none before Start).
func (p *DiscoveringPrometheus) RunningScrapers() []*scrape.Scraper {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.scrapers
}

// running returns what Start set (all nil before): the scrapers, the discovery manager and the cluster
// state, for the plugin's own metrics.
func (p *DiscoveringPrometheus) running() ([]*scrape.Scraper, *discovery.Manager, *cluster.Cluster) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.scrapers, p.sd, p.cluster
}

func init() {
	inputs.Add("discovering_prometheus", func() telegraf.Input { return &DiscoveringPrometheus{} })
	discovery.SetKubernetesClientLog(kubernetesClientLog{})
}
