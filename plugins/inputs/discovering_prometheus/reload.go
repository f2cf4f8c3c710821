package discovering_prometheus

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/discovering-prometheus/discovering-prometheus/cluster"
	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/kapacitor/configapi"
	"github.com/discovering-prometheus/discovering-prometheus/plan"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// reloads is the state of the plugin's reloads (Reload).
type reloads struct {
	mu sync.Mutex // one reload at a time
	// read, when set, reads the plugin's table anew from path (the runner's -config); nil, the table stays.
	read func() (*DiscoveringPrometheus, error)
	path string
	// sources change the sections after the table's and kapacitor_config's (AddSource).
	sources []plan.Source
	// kapacitorConfig and prometheusConfig are the files the last table read names, for watch_config.
	kapacitorConfig, prometheusConfig string
	// started is the table as read when SetConfigFile was called, to tell a reload which of the keys that
	// take a restart changed since.
	started *DiscoveringPrometheus
	// successful is 1 when the last reload succeeded (or none was tried), else 0; lastSuccess is the Unix
	// time of the last plan that was applied, the first one included.
	successful, lastSuccess atomic.Int64
}

// SetConfigFile has Reload read the plugin's own table anew with read, which returns it decoded from path
// and not initialised: for a program that owns the file the table comes from (the runner's -config), which
// watch_config then watches too. Without it, Reload reads the files the table names (kapacitor_config,
// prometheus_config) and keeps the table.
func (p *DiscoveringPrometheus) SetConfigFile(path string, read func() (*DiscoveringPrometheus, error)) {
	p.reload.mu.Lock()
	defer p.reload.mu.Unlock()
	p.reload.path, p.reload.read = path, read
	if table, err := read(); err == nil {
		p.reload.started = table
	}
	p.reload.kapacitorConfig, p.reload.prometheusConfig = p.KapacitorConfig, p.PrometheusConfig
}

// AddSource adds a source of sections to the plugin's plan, applied after its own and kapacitor_config's
// (Kapacitor's config-API overrides, say); it counts from Init or the next Reload.
func (p *DiscoveringPrometheus) AddSource(s plan.Source) {
	p.reload.mu.Lock()
	defer p.reload.mu.Unlock()
	p.reload.sources = append(p.reload.sources, s)
}

// Reload reads every source of the configuration again, builds its plan and applies it as a change (see
// apply): what is unchanged keeps running. A source that cannot be read, or a plan that is not valid,
// changes nothing; its error is returned and logged, once. Each reload is logged with what changed.
// Options beyond the scrapers and discoverers (metric_format, the cluster and status tables...) take a
// restart to change: Reload keeps them as they are.
func (p *DiscoveringPrometheus) Reload() error {
	p.reload.mu.Lock()
	defer p.reload.mu.Unlock()
	return p.reloadLocked(true)
}

// reloadLocked is Reload under p.reload.mu. A failure sets config_last_reload_successful to 0 when
// countFailure: a change of the config API that is refused is no failed reload of the files.
func (p *DiscoveringPrometheus) reloadLocked(countFailure bool) error {
	change, err := p.reloadPlan()
	if err != nil {
		if countFailure {
			p.reload.successful.Store(0)
		}
		p.Log.Errorf("reloading the configuration: %v", err)
		return err
	}
	p.reload.successful.Store(1)
	p.reload.lastSuccess.Store(time.Now().Unix())
	p.Log.Infof("configuration reloaded: %s", change)
	return nil
}

func (p *DiscoveringPrometheus) reloadPlan() (plan.Change, error) {
	settings := p.planSettings()
	var apiBase *configapi.Sections // the sections of the table read, for the config API
	if p.reload.read != nil {
		table, err := p.reload.read()
		if err != nil {
			return plan.Change{}, err
		}
		if p.configAPI != nil {
			if apiBase, err = configapi.Of(table); err != nil {
				return plan.Change{}, err
			}
			apiBase = apiBase.Clone() // before plan.Build initialises the table's sections
		}
		table.Log = p.Log
		settings = table.planSettings()
		settings.Sources, settings.JobSources = p.reload.sources, p.jobSources()
		p.reload.kapacitorConfig, p.reload.prometheusConfig = table.KapacitorConfig, table.PrometheusConfig
		if changed := restartKeysChanged(p.reload.started, table); len(changed) > 0 {
			p.Log.Warnf("reloading the configuration: %s changed, which takes a restart; kept as it was until then",
				strings.Join(changed, ", "))
		}
	}
	next, err := plan.Build(settings)
	if err != nil {
		return plan.Change{}, err
	}
	change, err := p.apply(next)
	if err == nil && apiBase != nil {
		p.configAPI.SetBase(apiBase)
	}
	return change, err
}

// errNotRunning is apply's error before Start and after Stop.
var errNotRunning = errors.New("the plugin is not running")

// apply runs next instead of the running plan, as a change: an unchanged job keeps its scraper (its
// targets, their schedules, health and owners), an unchanged discoverer keeps running (no new request);
// a changed one is replaced, a removed one stops, a new one starts. No gather runs meanwhile. A job whose
// scraper cannot be made fails the whole plan, which then changes nothing.
func (p *DiscoveringPrometheus) apply(next *plan.Plan) (plan.Change, error) {
	p.gatherMu.Lock()
	defer p.gatherMu.Unlock()
	p.mu.Lock()
	running := !p.stopped && p.sd != nil
	current := &plan.Plan{Jobs: p.enabled, Discoverers: p.configs}
	old := make(map[string]*scrape.Scraper, len(p.scrapers))
	for i, s := range p.scrapers {
		old[p.enabled[i].Name()] = s
	}
	p.mu.Unlock()
	if !running {
		return plan.Change{}, errNotRunning
	}
	change := plan.Compare(current, next)
	kept := make(map[string]bool, len(change.Kept))
	for _, name := range change.Kept {
		kept[name] = true
	}
	scrapers := make([]*scrape.Scraper, len(next.Jobs))
	routes := make(map[*scrape.Scraper]*routing, len(next.Jobs))
	for i, job := range next.Jobs {
		s := old[job.Name()]
		if !kept[job.Name()] {
			var err error
			if s, err = scrape.New(job.Config, job.Extras, p.logger); err != nil {
				return plan.Change{}, fmt.Errorf("scraper %q: %w", job.Name(), err)
			}
		}
		scrapers[i] = s
		routes[s] = &routing{dbTag: p.DBTag, db: job.DB, rpTag: p.RPTag, rp: job.RP}
	}
	p.syncMu.Lock() // syncLoop reads the scrapers and their jobs
	defer p.syncMu.Unlock()
	p.sd.Apply(next.Discoverers)
	p.mu.Lock()
	p.enabled, p.configs, p.scrapers = next.Jobs, next.Discoverers, scrapers
	p.routes.set(routes)
	p.mu.Unlock()
	// The new scrapers take their share of the targets their discoverers have now (syncLoop syncs again
	// whatever discovery changes later); the others keep theirs, and their owners.
	var added, pools []cluster.Pool
	for i, s := range scrapers {
		pools = append(pools, s)
		if !kept[next.Jobs[i].Name()] {
			added = append(added, s)
		}
	}
	if p.cluster != nil {
		p.cluster.Join(added)
	}
	for i, s := range scrapers {
		if !kept[next.Jobs[i].Name()] {
			p.syncScraper(next.Jobs[i], s)
		}
	}
	if p.cluster != nil {
		p.cluster.Count(pools)
	}
	p.updateLoop()
	stats := newStatistics(p.Statistics, scrapers, next.Discoverers, &p.reload)
	p.stats.unregisterGone(stats)
	p.stats = stats
	if p.cluster != nil {
		p.stats.addCluster(p.Cluster.key(), p.cluster.Stats())
	}
	p.startSeriesBudget(routes)
	p.operatorRefused(next.Refused)
	for name, s := range old {
		if !kept[name] {
			s.CloseIdleConnections()
		}
	}
	return change, nil
}

// lastApplied is when the running plan was applied.
func (p *DiscoveringPrometheus) lastApplied() time.Time {
	return time.Unix(p.reload.lastSuccess.Load(), 0)
}

// planKeys are the table's keys a reload applies: the sources of the plan. Every other key takes a restart.
var planKeys = []string{"scraper", "kapacitor_config", "prometheus_config", "prometheus_db", "prometheus_rp", "prometheus_jobs"}

// restartKeysChanged names the keys of the table, outside planKeys and the discoverer sections, whose
// values differ between two reads of it (before defaults); nil when either is nil.
func restartKeysChanged(before, after *DiscoveringPrometheus) []string {
	if before == nil || after == nil {
		return nil
	}
	var changed []string
	var walk func(a, b reflect.Value)
	walk = func(a, b reflect.Value) {
		for i := range a.NumField() {
			f := a.Type().Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			switch {
			case !f.IsExported() || key == "-" || slices.Contains(planKeys, key) || f.Type == reflect.TypeFor[discovery.Sections]():
			case f.Anonymous && key == "":
				walk(a.Field(i), b.Field(i))
			case key != "" && !plan.SameValue(a.Field(i).Addr().Interface(), b.Field(i).Addr().Interface()):
				changed = append(changed, key)
			}
		}
	}
	walk(reflect.ValueOf(before).Elem(), reflect.ValueOf(after).Elem())
	return changed
}
