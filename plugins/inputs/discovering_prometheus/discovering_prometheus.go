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
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
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
	"github.com/discovering-prometheus/discovering-prometheus/plan"
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
	ScrapeAlignInterval  config.Duration           `toml:"scrape_align_interval"`
	KapacitorConfig      string                    `toml:"kapacitor_config"`
	PrometheusConfig     string                    `toml:"prometheus_config"`
	PrometheusDB         string                    `toml:"prometheus_db"`
	PrometheusRP         string                    `toml:"prometheus_rp"`
	PrometheusJobs       map[string]*PrometheusJob `toml:"prometheus_jobs"`
	WatchConfig          bool                      `toml:"watch_config"`
	Scrapers             []*kapacitor.Scraper      `toml:"scraper"`
	Cluster              *Cluster                  `toml:"cluster"`
	PrometheusOperator   *PrometheusOperator       `toml:"prometheus_operator"`
	discovery.Sections
	StatusOptions
	SeriesBudgetOptions
	ConfigAPIOptions
	Log        telegraf.Logger     `toml:"-"`
	Statistics *selfstat.Collector `toml:"-"`

	logger    *slog.Logger
	format    *metricFormat
	interns   sync.Pool          // *interner, one per scrape worker, kept across gathers
	lineSinks sync.Pool          // lineWriter, likewise
	sd        *discovery.Manager // the discoverers, running
	registry  *prometheus.Registry
	stats     *statistics
	cluster   *cluster.Cluster // nil without a cluster table
	operator  *operatorRun     // nil without a prometheus_operator table
	oneShot   bool             // a debugging run, which gathers once: see OneShot
	infs      *infReport

	// mu guards the running plan (its jobs, enabled, and discoverers, configs), scrapers, and sd and
	// cluster as Start sets them, for readers outside Gather (the status pages, the runner's
	// self-metrics); scrapers[i] runs enabled[i]. A reload's apply changes them between gathers.
	mu       sync.Mutex
	enabled  []*plan.Job
	configs  discovery.Configs
	scrapers []*scrape.Scraper
	routes   *routeTable
	waited   bool
	ctx      context.Context
	cancel   context.CancelFunc
	loop     *scrape.Loop // the scrapes on their own schedules, once gathers repeat (see startLoop)

	// gatherMu keeps a gather and a new plan's apply apart: the scrapers, their routes and the statistics
	// change only between gathers.
	gatherMu sync.Mutex
	reload   reloads
	watch    atomic.Pointer[configWatch] // nil without watch_config; Stop may run on two goroutines at once

	// background counts the gathers whose scrapes still run after the gather returned (see scrape); Stop
	// waits for them, so that none delivers to an accumulator Telegraf has closed. stopped, under mu, keeps
	// a gather that starts after Stop from adding to it.
	background sync.WaitGroup
	stopped    bool
	// gathered is set once a gather has run; repeats by GathersRepeat, lineOut by WriteLineProtocolTo.
	gathered, repeats bool
	lineOut           io.Writer

	// syncMu serializes syncTargets: the first gather's and those of syncLoop, which runs them off the
	// gather path (syncing, until Stop); resync asks it for one without news from discovery. seen is the
	// discovery version the scrapers were last synced to.
	syncMu  sync.Mutex
	seen    uint64
	syncing sync.WaitGroup
	resync  chan struct{}
}

// Init validates the configuration; its errors name the section and the key.
func (p *DiscoveringPrometheus) Init() error {
	// The overrides of Kapacitor's config API are one more source of the plan.
	if err := p.initConfigAPI(); err != nil {
		return err
	}
	// The prometheus-operator's monitors are a source of jobs; they enter the plan once watched (Start).
	if err := p.initOperator(); err != nil {
		return err
	}
	// What runs: the plan of every source. A source that cannot be read (kapacitor_config) comes alone.
	pl, planErr := plan.Build(p.planSettings())
	if unreadable := (*plan.UnreadableError)(nil); errors.As(planErr, &unreadable) {
		return planErr
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

	if planErr != nil {
		errs = append(errs, planErr)
	} else {
		p.enabled, p.configs = pl.Jobs, pl.Discoverers
	}
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
func routingValues(db, rp string) error {
	var errs []error
	for _, v := range []struct{ key, value string }{{"db", db}, {"rp", rp}} {
		if safeValue(v.value) != v.value {
			errs = append(errs, fmt.Errorf("%s: %q: line protocol cannot carry a backslash at the end or before a space, comma, equals sign or double quote", v.key, v.value))
		}
	}
	return errors.Join(errs...)
}

// planSettings are the plugin's options that make its plan.
func (p *DiscoveringPrometheus) planSettings() *plan.Settings {
	return &plan.Settings{
		Scrapers: p.Scrapers, Discoverers: &p.Sections,
		KapacitorConfig: p.KapacitorConfig, PrometheusConfig: p.PrometheusConfig,
		PrometheusDB: p.PrometheusDB, PrometheusRP: p.PrometheusRP, PrometheusJobs: p.PrometheusJobs,
		Sources: p.reload.sources, JobSources: p.jobSources(), Routing: routingValues, Logger: newSlogLogger(p.Log), Warn: p.Log.Warn,
	}
}

// EnabledScrapers returns the configuration of every scraper the plugin runs, after Init: its own
// [[scraper]] sections, kapacitor_config's, and prometheus_config's jobs.
func (p *DiscoveringPrometheus) EnabledScrapers() []*scrape.Config {
	jobs, _ := p.currentPlan()
	configs := make([]*scrape.Config, len(jobs))
	for i, job := range jobs {
		configs[i] = job.Config
	}
	return configs
}

// Discoverers returns the SD configuration of every discoverer the plugin runs, after Init, by key.
func (p *DiscoveringPrometheus) Discoverers() discovery.Configs {
	_, configs := p.currentPlan()
	return configs
}

// hasSection tells whether an enabled discoverer section has that key, valid or not.
func (p *DiscoveringPrometheus) hasSection(key discovery.Key) bool {
	return slices.ContainsFunc(p.Providers(), func(provider discovery.Provider) bool {
		return provider.IsEnabled() && discovery.KeyOf(provider) == key
	})
}

func (p *DiscoveringPrometheus) unknownDiscoverer(key discovery.Key) string {
	return plan.UnknownDiscoverer(key)
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
func (p *DiscoveringPrometheus) Start(acc telegraf.Accumulator) error {
	p.logger = newSlogLogger(p.Log)
	p.infs = newInfReport(p.Log)
	p.registry = prometheus.NewRegistry()
	scrapers := make([]*scrape.Scraper, 0, len(p.enabled))
	routes := make(map[*scrape.Scraper]*routing, len(p.enabled))
	for _, job := range p.enabled {
		s, err := scrape.New(job.Config, job.Extras, p.logger)
		if err != nil {
			return fmt.Errorf("scraper %q: %w", job.Name(), err)
		}
		scrapers = append(scrapers, s)
		routes[s] = &routing{dbTag: p.DBTag, db: job.DB, rpTag: p.RPTag, rp: job.RP}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	sd := discovery.NewManager(p.configs, p.logger, p.registry)
	p.stats = newStatistics(p.Statistics, scrapers, p.configs, &p.reload)
	p.startSeriesBudget(routes)
	p.mu.Lock()
	p.scrapers, p.routes, p.sd, p.stopped, p.loop = scrapers, newRouteTable(routes), sd, false, nil
	p.mu.Unlock()
	if err := p.startCluster(); err != nil {
		return err
	}
	if p.cluster != nil {
		p.stats.addCluster(p.Cluster.key(), p.cluster.Stats())
	}
	p.sd.Start()
	p.reload.successful.Store(1)
	p.reload.lastSuccess.Store(time.Now().Unix())
	if p.repeats {
		p.startLoop(acc)
	}
	p.resync = make(chan struct{}, 1)
	p.syncing.Add(1)
	go p.syncLoop()
	p.startOperator()
	if err := errors.Join(p.startStatus(), p.startWatch()); err != nil {
		p.Stop()
		return err
	}
	return nil
}

// Gather scrapes every target whose scrape-interval has elapsed. Once gathers repeat (GathersRepeat), no
// gather scrapes: each target is scraped on its own schedule, and each scrape added as it ends (see
// startLoop); a gather only publishes the statistics. The first gather of a one-shot run (telegraf --once,
// the runner's -once) waits up to discovery_wait for every discoverer's first answer, so that it sees the
// targets, and scrapes them all at once.
func (p *DiscoveringPrometheus) Gather(acc telegraf.Accumulator) error {
	if p.repeats {
		p.gatherScheduled()
		return nil
	}
	if p.awaitDiscovery() {
		p.gatherMu.Lock()
		defer p.gatherMu.Unlock()
		p.beforeGather()
		p.gatherAt(acc, time.Now())
	}
	return nil
}

// gatherAt scrapes the targets due at now into Telegraf metrics.
func (p *DiscoveringPrometheus) gatherAt(acc telegraf.Accumulator, now time.Time) {
	var sinks []*sink
	p.scrape(now, func() scrape.Sink { // called on this goroutine, once per parse slot
		k := p.accSink(acc)
		sinks = append(sinks, k)
		return k
	}, func() {
		for _, k := range sinks {
			p.interns.Put(k.strs)
		}
	})
}

// accSink is a sink of one parse slot into acc, with an interner from the plugin's pool.
func (p *DiscoveringPrometheus) accSink(acc telegraf.Accumulator) *sink {
	strs, ok := p.interns.Get().(*interner)
	if !ok {
		strs = newInterner()
	}
	return newSink(acc, p.format, p.routes, strs, p.infs, p.seriesBudget)
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
	if p.repeats {
		p.gatherScheduled()
		return true, nil
	}
	if p.awaitDiscovery() {
		p.gatherMu.Lock()
		defer p.gatherMu.Unlock()
		p.beforeGather()
		p.gatherLineProtocolAt(w, time.Now())
	}
	return true, nil
}

// gatherLineProtocolAt scrapes the targets due at now straight to line protocol.
func (p *DiscoveringPrometheus) gatherLineProtocolAt(w io.Writer, now time.Time) {
	var sinks []lineWriter
	p.scrape(now, func() scrape.Sink { // called on this goroutine, once per parse slot
		k := p.lineSink(w)
		sinks = append(sinks, k)
		return k
	}, func() {
		for _, k := range sinks {
			p.lineSinks.Put(k) // its buffer, grown to a scrape's size, serves the next gather
		}
	})
}

// lineSink is a line writer of one parse slot into w, from the plugin's pool.
func (p *DiscoveringPrometheus) lineSink(w io.Writer) lineWriter {
	k, ok := p.lineSinks.Get().(lineWriter)
	if !ok {
		k = p.format.newLineWriter()
	}
	k.writeTo(w, p.routes)
	return k
}

// startLoop starts the loop that scrapes each target on its own schedule, once gathers repeat: a Telegraf
// service input's way. Each scrape delivers into its parse slot's sink as it ends, with its own
// timestamps, so that the output comes spread over the interval as the scrapes do, not in a burst at each
// gather; a target's first scrape too comes at its phase, as Prometheus' does. The sinks write line
// protocol straight to the writer WriteLineProtocolTo gave, when the format can, and add Telegraf metrics
// to acc otherwise. The loop follows the targets (updateLoop: each sync and reload) until Stop.
func (p *DiscoveringPrometheus) startLoop(acc telegraf.Accumulator) {
	newSink := func() scrape.Sink { return p.accSink(acc) }
	if p.lineOut != nil && p.format.newLineWriter != nil && p.budget == nil { // the budget counts Telegraf metrics' series
		newSink = func() scrape.Sink { return p.lineSink(p.lineOut) }
	}
	p.mu.Lock()
	p.loop = scrape.NewLoop(p.ctx, p.schedule(), p.MaxConcurrentScrapes, newSink)
	p.mu.Unlock()
}

// gatherScheduled is a gather once gathers repeat: the scrapes run on their own (startLoop), and a gather
// publishes the statistics and does the cluster's reminders.
func (p *DiscoveringPrometheus) gatherScheduled() {
	p.gatherMu.Lock()
	defer p.gatherMu.Unlock()
	p.beforeGather()
	p.gathered = true
	p.stats.publish(p.sd)
}

// updateLoop makes the scrapers' current targets the loop's, if it runs: the new ones are scraped from
// their next phase on, the gone ones no more (those of a reload's removed or changed jobs). Called with
// syncMu held, after each change of the scrapers or their targets.
func (p *DiscoveringPrometheus) updateLoop() {
	p.mu.Lock()
	loop := p.loop
	p.mu.Unlock()
	if loop != nil {
		loop.Update(p.scrapers)
	}
}

// schedule is when the loop scrapes each target: at its own phase of its interval, seeded by the host name
// as Prometheus' offsets are, so that two instances without a cluster do not scrape a target at once; the
// instances of a cluster share their seed, the cluster table's discoverer, so that a target's owners stay
// 1/replication-factor of the interval apart. scrape_align_interval scrapes all at its multiples.
func (p *DiscoveringPrometheus) schedule() scrape.Schedule {
	seed, err := os.Hostname()
	if err != nil {
		seed = "" // every instance alike: its phases are still spread
	}
	if p.cluster != nil {
		seed = p.Cluster.key().String()
	}
	return scrape.Schedule{Seed: xxhash.Sum64String(seed), Align: time.Duration(p.ScrapeAlignInterval)}
}

// awaitDiscovery waits, on the first gather only, up to discovery_wait for every discoverer's first answer,
// and with the prometheus_operator table for its objects' jobs and their discoverers' first answers, so
// that a one-shot run (telegraf --once, the runner's -once) sees the targets. It is false when the plugin
// is stopping.
func (p *DiscoveringPrometheus) awaitDiscovery() bool {
	if p.waited {
		return true
	}
	p.waited = true
	deadline := time.NewTimer(time.Duration(p.DiscoveryWait))
	defer deadline.Stop()
	// The configuration's discoverers, then the reload that runs the operator's objects' jobs, then the
	// discoverers that reload started.
	for _, answered := range []func() <-chan struct{}{p.sd.Ready, p.operatorSynced, p.sd.Answered} {
		select {
		case <-answered():
		case <-deadline.C:
			p.Log.Warnf("not every discoverer answered within discovery_wait (%s), not yet %s; scraping the targets known so far",
				time.Duration(p.DiscoveryWait), strings.Join(p.waitingFor(), ", "))
			return true
		case <-p.ctx.Done():
			return false
		}
	}
	return true
}

// waitingFor names what has not answered yet: the operator's objects, the discoverers.
func (p *DiscoveringPrometheus) waitingFor() []string {
	var waiting []string
	select {
	case <-p.operatorSynced():
	default:
		waiting = append(waiting, "the prometheus_operator table's objects")
	}
	for _, key := range p.sd.Waiting() {
		waiting = append(waiting, key.String())
	}
	return waiting
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
	defer p.updateLoop() // after the cluster's shares too, which may change without news from discovery
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
		p.syncScraper(p.enabled[i], s)
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

// syncScraper brings one scraper's targets up to date with its job's discoverers.
func (p *DiscoveringPrometheus) syncScraper(job *plan.Job, s *scrape.Scraper) {
	var groups []*targetgroup.Group
	for _, key := range job.Sources {
		groups = append(groups, p.sd.Groups(key)...)
	}
	for _, err := range s.Sync(groups) {
		p.Log.Warn(safetext.Line(err.Error(), MaxLogLine)) // it quotes a target's labels
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

// GathersRepeat tells the plugin, before Start, that gathers follow one another until it stops (the
// runner's serve mode; the custom Telegraf but for --once and --test): the scrapes then run on their own
// schedules from Start on, each added to Start's accumulator as it ends (see startLoop), not at gathers.
func (p *DiscoveringPrometheus) GathersRepeat() { p.repeats = true }

// WriteLineProtocolTo has the scrapes that run on their own schedules (GathersRepeat) write line protocol
// straight to w, as GatherLineProtocol does, rather than add metrics to Start's accumulator; before Start.
// Writes to w must be safe for concurrent use.
func (p *DiscoveringPrometheus) WriteLineProtocolTo(w io.Writer) { p.lineOut = w }

// Stop ends the discoverers and any scrape under way. It may be called while a Gather runs, which then
// returns within moments, without reporting the scrapes it cut short; and more than once. It waits for
// the scrapes that gathers left running, which end within moments once cancelled, and for the discoverers
// a second at most (see discovery.Manager.Stop).
func (p *DiscoveringPrometheus) Stop() {
	p.stopOperator() // before the locks its reloads take
	p.stopWatch()
	p.stopStatus()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
	}
	p.syncing.Wait()
	p.background.Wait()
	p.mu.Lock()
	loop := p.loop
	p.mu.Unlock()
	if loop != nil {
		loop.Wait()
	}
	p.gatherMu.Lock() // after a reload under way, which then finds the plugin stopped
	if p.sd != nil {
		p.sd.Stop()
	}
	p.gatherMu.Unlock()
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

// currentPlan returns the running plan's jobs and discoverers (Init's, then the last applied).
func (p *DiscoveringPrometheus) currentPlan() ([]*plan.Job, discovery.Configs) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.enabled, p.configs
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
