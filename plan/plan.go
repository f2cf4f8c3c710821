// Package plan assembles what the plugin runs from every source of its configuration: the plugin's own
// [[scraper]] and discoverer sections, a kapacitor.conf's (kapacitor_config), a prometheus.yml's jobs
// (prometheus_config, with its scrape_config_files), and any further Source (overrides, say). The result,
// a Plan, is a list of scrape jobs (how each scrapes, where its metrics go, which discoverers it takes its
// targets from) and the discoverers' configurations, every default applied and every key validated, names
// and ids unique across all sources. The plugin runs a plan, and applies a new one as a change (Diff).
package plan

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/kapacitor"
	"github.com/discovering-prometheus/discovering-prometheus/promconf"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// Defaults of the db and rp of prometheus_config's jobs.
const (
	DefaultPrometheusDB = "prometheus"
	DefaultPrometheusRP = "autogen"
)

// Plan is what the plugin runs.
type Plan struct {
	// Jobs are the scrape jobs, in the order of their sources: the plugin's own [[scraper]] sections,
	// kapacitor_config's, the further sources', then prometheus_config's jobs. Their names are unique.
	Jobs []*Job
	// Discoverers are the SD configurations of every enabled discoverer, by key.
	Discoverers discovery.Configs
	// Refused are the objects of the JobSources whose jobs are left out, each with why.
	Refused []Refusal
}

// Refusal is an object of a JobSource (a monitor) whose jobs are left out of the plan, and why: the others
// run.
type Refusal struct {
	Origin Origin
	Err    error
}

// Job is one scrape job: a [[scraper]] section or a job of prometheus_config.
type Job struct {
	// Config is how it scrapes; its Name is the job's, unique in the plan.
	Config *scrape.Config
	// Extras is what a prometheus_config job adds (nil for a [[scraper]] section).
	Extras *scrape.JobExtras
	// DB and RP route its metrics.
	DB, RP string
	// Sources are the discoverers it takes its targets from.
	Sources []discovery.Key
	// Origin says where it was written.
	Origin Origin
}

// Name is the job's name.
func (j *Job) Name() string { return j.Config.Name }

// Origin is where a section was written: the plugin option that names its file ("" for the plugin's own
// table), and the file and line when known.
type Origin struct {
	Option string
	File   string
	Line   int
	// Object is the object a JobSource made the job from, e.g. "ServiceMonitor monitoring/web".
	Object string
}

// where names a section for an error, e.g. `kapacitor_config: /etc/k.conf:12: scraper "node"`.
func (o Origin) where(section string) string {
	switch {
	case o.Option == "":
		return section
	case o.Object != "":
		return fmt.Sprintf("%s: %s: %s", o.Option, o.Object, section)
	case o.File != "" && o.Line > 0:
		return fmt.Sprintf("%s: %s:%d: %s", o.Option, o.File, o.Line, section)
	default:
		return o.Option + ": " + section
	}
}

// other names a section that a second one collides with: "an [[inputs.discovering_prometheus.scraper]]
// section", "the [[scraper]] at /etc/k.conf:12".
func (o Origin) other(table string) string {
	switch {
	case o.Option == "":
		return fmt.Sprintf("an [[inputs.discovering_prometheus.%s]] section", table)
	case o.Object != "":
		return fmt.Sprintf("a job of %s (%s)", o.Object, o.Option)
	case o.File != "" && o.Line > 0:
		return fmt.Sprintf("the [[%s]] at %s:%d", table, o.File, o.Line)
	default:
		return fmt.Sprintf("a [[%s]] of %s", table, o.Option)
	}
}

// Sections are the [[scraper]] and discoverer sections a plan is made of, each with its origin. Sources
// change them before they are validated.
type Sections struct {
	Scrapers    []*ScraperSection
	Discoverers []*DiscovererSection
}

// ScraperSection is a [[scraper]] section and where it was written.
type ScraperSection struct {
	*kapacitor.Scraper
	Origin Origin
	// Index is its position among the plugin's own sections, which names one without a name.
	Index int
}

// DiscovererSection is a discoverer section and where it was written.
type DiscovererSection struct {
	discovery.Provider
	Origin Origin
}

// A Source changes the sections of a plan after the plugin's own and kapacitor_config's are read, and
// before they are validated: it may add, change or remove any. Kapacitor's config-API overrides are one.
type Source interface {
	Apply(*Sections) error
}

// A JobSource adds scrape jobs made elsewhere, as Prometheus reads them: the prometheus-operator's
// monitors. Its jobs come after the further Sources' and before prometheus_config's; an object whose
// jobs are not valid (or take a name already taken) is refused alone (Plan.Refused), the others run.
type JobSource interface {
	Jobs() ([]*SourceJob, []Refusal)
}

// SourceJob is a job of a JobSource: a Prometheus scrape job, where its metrics go, and the object it was
// made from (Origin.Object), all of whose jobs are refused together.
type SourceJob struct {
	Job    *promconf.Job
	DB, RP string
	Origin Origin
}

// Route is a [prometheus_jobs.<job>] table: where the metrics of one job of prometheus_config go, when not
// to prometheus_db and prometheus_rp.
type Route struct {
	DB string `toml:"db"`
	RP string `toml:"rp"`
}

// Settings are the plugin's options a plan is made of. Build reads the files they name each time.
type Settings struct {
	Scrapers         []*kapacitor.Scraper
	Discoverers      *discovery.Sections
	KapacitorConfig  string
	PrometheusConfig string
	// PrometheusDB and PrometheusRP default to DefaultPrometheusDB and DefaultPrometheusRP.
	PrometheusDB, PrometheusRP string
	PrometheusJobs             map[string]*Route
	// Sources change the sections, in order, after the plugin's own and kapacitor_config's.
	Sources []Source
	// JobSources add jobs, in order, after the sections'.
	JobSources []JobSource
	// Routing checks a job's db and rp once they are set (the plugin: that line protocol carries them).
	Routing func(db, rp string) error
	// Logger takes the warnings of Prometheus' configuration loader.
	Logger *slog.Logger
	// Warn takes what the sources read differently from how it looks, or leave out (nil: nothing).
	Warn func(...any)
}

// UnreadableError is a failure of a source as a whole (kapacitor_config cannot be read, or its sections
// collide with the plugin's own): Build reports it alone.
type UnreadableError struct{ Err error }

func (e *UnreadableError) Error() string { return e.Err.Error() }
func (e *UnreadableError) Unwrap() error { return e.Err }

// Build makes the plan of s, reading the files it names. Its errors name the source, the section and the
// key (and the file and line where known); all are reported, except an UnreadableError, which comes alone.
// Build changes neither s nor its sections.
func Build(s *Settings) (*Plan, error) {
	b := &builder{settings: s, plan: &Plan{Discoverers: discovery.Configs{}}, names: map[string]Origin{}, keys: map[discovery.Key]Origin{}}
	sections, err := b.sections()
	if err != nil {
		return nil, err
	}
	b.discoverers(sections.Discoverers)
	b.scrapers(sections.Scrapers)
	b.jobSources()
	b.prometheus()
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	return b.plan, nil
}

type builder struct {
	settings *Settings
	plan     *Plan
	errs     []error
	names    map[string]Origin        // the jobs' names, taken
	keys     map[discovery.Key]Origin // the enabled discoverers' keys, taken
	// anyScraper is set when any [[scraper]] section is enabled, valid or not.
	anyScraper bool
}

// sections gathers the [[scraper]] and discoverer sections of every source, copied, so that validation
// changes nothing of the settings.
func (b *builder) sections() (*Sections, error) {
	s := b.settings
	out := &Sections{}
	for i, c := range s.Scrapers {
		out.Scrapers = append(out.Scrapers, &ScraperSection{Scraper: copyScraper(c), Index: i})
	}
	if s.Discoverers != nil {
		for _, p := range s.Discoverers.Providers() {
			out.Discoverers = append(out.Discoverers, &DiscovererSection{Provider: p})
		}
	}
	if s.KapacitorConfig != "" {
		if err := b.kapacitor(out); err != nil {
			return nil, &UnreadableError{err}
		}
	}
	for _, source := range s.Sources {
		if err := source.Apply(out); err != nil {
			return nil, &UnreadableError{err}
		}
	}
	return out, nil
}

// kapacitor adds the sections of kapacitor_config, which the kapacitor package validated as it read them.
// Their names and ids must not be the plugin's own; scrapers without a discoverer anywhere are left out.
func (b *builder) kapacitor(out *Sections) error {
	path := b.settings.KapacitorConfig
	file, warnings, err := kapacitor.Load(path)
	b.warn(warnings...)
	if err != nil {
		return PrefixLines("kapacitor_config", err)
	}
	for i, c := range file.Scrapers {
		out.Scrapers = append(out.Scrapers, &ScraperSection{
			Scraper: c, Origin: Origin{Option: "kapacitor_config", File: path, Line: file.ScraperLine(i)}})
	}
	for _, d := range file.Discoverers() {
		out.Discoverers = append(out.Discoverers, &DiscovererSection{
			Provider: d.Provider, Origin: Origin{Option: "kapacitor_config", File: path, Line: d.Line}})
	}
	// The file's own names and ids are unique (kapacitor.Load); across it and the plugin's own sections
	// they must be too, and that is checked here, alone, as before anything else.
	var errs []error
	names, keys := map[string]Origin{}, map[discovery.Key]Origin{}
	for _, sc := range out.Scrapers {
		if !sc.IsEnabled() {
			continue
		}
		if sc.Origin.Option == "" {
			names[sc.Name] = sc.Origin // the plugin's own collide among themselves later, with their other errors
		} else {
			errs = appendIfTaken(errs, names, sc.Name, sc.Origin, fmt.Sprintf("scraper %q", sc.Name), "name", "scraper")
		}
	}
	for _, d := range out.Discoverers {
		if !d.IsEnabled() {
			continue
		}
		if key := discovery.KeyOf(d); d.Origin.Option == "" {
			keys[key] = d.Origin
		} else {
			errs = appendIfTaken(errs, keys, key, d.Origin, key.String(), "id", key.Service)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	available := map[discovery.Key]bool{}
	for key := range keys {
		available[key] = true
	}
	b.warn(file.LeaveOutUnpaired(available)...)
	return nil
}

// appendIfTaken claims name for a section at origin, or adds the error that another section has it.
func appendIfTaken[K comparable](errs []error, taken map[K]Origin, name K, origin Origin, section, key, table string) []error {
	if first, dup := taken[name]; dup {
		return append(errs, fmt.Errorf("%s: %s: also used by %s", origin.where(section), key, first.other(table)))
	}
	taken[name] = origin
	return errs
}

// discoverers validates the enabled discoverer sections, each once, and claims their keys.
func (b *builder) discoverers(sections []*DiscovererSection) {
	for _, d := range sections {
		if !d.IsEnabled() {
			continue
		}
		configs, err := discovery.Validate([]discovery.Provider{d.Provider})
		if err != nil {
			b.errs = append(b.errs, prefixOrigin(d.Origin, err))
			continue
		}
		key := discovery.KeyOf(d)
		if !claim(b, b.keys, key, d.Origin, key.String(), "id", key.Service) {
			continue
		}
		maps.Copy(b.plan.Discoverers, configs)
	}
	var providers []discovery.Provider
	for _, d := range sections {
		providers = append(providers, d.Provider)
	}
	b.warn(discovery.Warnings(providers)...)
}

// claim claims name for a section at origin, or adds the error that another section has it and is false.
func claim[K comparable](b *builder, taken map[K]Origin, name K, origin Origin, section, key, table string) bool {
	n := len(b.errs)
	b.errs = appendIfTaken(b.errs, taken, name, origin, section, key, table)
	return len(b.errs) == n
}

// scrapers validates the enabled [[scraper]] sections and makes their jobs.
func (b *builder) scrapers(sections []*ScraperSection) {
	for _, sc := range sections {
		if !sc.IsEnabled() {
			continue
		}
		b.anyScraper = true
		section := fmt.Sprintf("scraper %q", sc.Name)
		if sc.Name == "" && sc.Origin.Option == "" {
			section = fmt.Sprintf("scraper[%d]", sc.Index)
		}
		if err := errors.Join(sc.Init(), b.routing(sc.DB, sc.RP)); err != nil {
			b.errs = append(b.errs, PrefixLines(sc.Origin.where(section), err))
			continue
		}
		if !claim(b, b.names, sc.Name, sc.Origin, section, "name", "scraper") {
			continue
		}
		key := sc.Discoverer()
		if _, ok := b.keys[key]; !ok {
			if !b.invalidDiscoverer(key) { // an invalid section has its own error already
				b.errs = append(b.errs, fmt.Errorf("%s: %s", sc.Origin.where(section), UnknownDiscoverer(key)))
			}
			continue
		}
		b.plan.Jobs = append(b.plan.Jobs, &Job{Config: &sc.Config, DB: sc.DB, RP: sc.RP, Sources: []discovery.Key{key}, Origin: sc.Origin})
	}
	if !b.anyScraper && b.settings.PrometheusConfig == "" && len(b.settings.JobSources) == 0 {
		b.errs = append(b.errs, errors.New("scraper: no enabled [[inputs.discovering_prometheus.scraper]] section"))
	}
}

// invalidDiscoverer tells whether an enabled discoverer section has that key but failed validation.
func (b *builder) invalidDiscoverer(key discovery.Key) bool {
	if b.settings.Discoverers == nil {
		return false
	}
	return slices.ContainsFunc(b.settings.Discoverers.Providers(), func(p discovery.Provider) bool {
		return p.IsEnabled() && discovery.KeyOf(p) == key
	})
}

// UnknownDiscoverer says why no discoverer has the key a section names.
func UnknownDiscoverer(key discovery.Key) string {
	if !slices.Contains(discovery.Services, key.Service) {
		return fmt.Sprintf("discoverer-service: %q is not a discoverer; use one of %s", key.Service, strings.Join(discovery.Services, ", "))
	}
	return fmt.Sprintf("discoverer-id: no enabled [[%s]] section has id %q", key.Service, key.ID)
}

func (b *builder) warn(warnings ...string) {
	if b.settings.Warn == nil {
		return
	}
	for _, w := range warnings {
		b.settings.Warn(w)
	}
}

func (b *builder) routing(db, rp string) error {
	if b.settings.Routing == nil {
		return nil
	}
	return b.settings.Routing(db, rp)
}

// prometheus adds a job for every job of prometheus_config, and its discoverers.
func (b *builder) prometheus() {
	s := b.settings
	if s.PrometheusConfig == "" {
		if len(s.PrometheusJobs) > 0 {
			b.errs = append(b.errs, errors.New("prometheus_jobs: set without prometheus_config"))
		}
		return
	}
	jobs, err := promconf.Load(s.PrometheusConfig, s.Logger)
	if err != nil {
		b.errs = append(b.errs, fmt.Errorf("prometheus_config: %w", err))
		return
	}
	if len(jobs) == 0 && len(b.plan.Jobs) == 0 {
		b.errs = append(b.errs, fmt.Errorf("prometheus_config: %s has no scrape_configs, and there is no [[scraper]]", s.PrometheusConfig))
		return
	}
	origin := Origin{Option: "prometheus_config"}
	for _, job := range jobs {
		db, rp := cmp.Or(s.PrometheusDB, DefaultPrometheusDB), cmp.Or(s.PrometheusRP, DefaultPrometheusRP)
		if route := s.PrometheusJobs[job.Scraper.Name]; route != nil {
			db, rp = cmp.Or(route.DB, db), cmp.Or(route.RP, rp)
		}
		if err := b.check(job, db, rp, origin); err != nil {
			b.errs = append(b.errs, prefixOrigin(origin, err))
			continue
		}
		b.add(job, db, rp, origin)
	}
	for _, name := range slices.Sorted(maps.Keys(s.PrometheusJobs)) {
		if !slices.ContainsFunc(jobs, func(j *promconf.Job) bool { return j.Scraper.Name == name }) {
			b.errs = append(b.errs, fmt.Errorf("prometheus_jobs: %q is not a job of %s", name, s.PrometheusConfig))
		}
	}
}

// check validates a Prometheus job at origin and claims its name, or says why not (naming the job, not
// its origin).
func (b *builder) check(job *promconf.Job, db, rp string, origin Origin) error {
	section := fmt.Sprintf("job %q", job.Scraper.Name)
	if first, dup := b.names[job.Scraper.Name]; dup {
		return fmt.Errorf("%s: name: also used by %s", section, first.other("scraper"))
	}
	if err := errors.Join(job.Scraper.Init(), b.routing(db, rp)); err != nil {
		return PrefixLines(section, err)
	}
	b.names[job.Scraper.Name] = origin
	return nil
}

// add adds a Prometheus job that check accepted, and its discoverers.
func (b *builder) add(job *promconf.Job, db, rp string, origin Origin) {
	if len(job.Ignored) > 0 {
		b.warn(fmt.Sprintf("%s: %s: not supported here, ignored", origin.where(fmt.Sprintf("job %q", job.Scraper.Name)), strings.Join(job.Ignored, ", ")))
	}
	maps.Copy(b.plan.Discoverers, job.Discoverers)
	b.plan.Jobs = append(b.plan.Jobs, &Job{Config: job.Scraper, Extras: job.Extras, DB: db, RP: rp, Sources: job.Keys, Origin: origin})
}

// jobSources adds the jobs of the JobSources: an object's all, or, if any is not valid, none (a Refusal).
func (b *builder) jobSources() {
	for _, source := range b.settings.JobSources {
		jobs, refused := source.Jobs()
		b.plan.Refused = append(b.plan.Refused, refused...)
		for len(jobs) > 0 {
			object := jobs[0].Origin.Object
			n := 1
			for n < len(jobs) && jobs[n].Origin.Object == object {
				n++
			}
			b.sourceObject(jobs[:n])
			jobs = jobs[n:]
		}
	}
}

// sourceObject adds the jobs of one object, all or none.
func (b *builder) sourceObject(jobs []*SourceJob) {
	var claimed []string
	for _, j := range jobs {
		if err := b.check(j.Job, j.DB, j.RP, j.Origin); err != nil {
			for _, name := range claimed {
				delete(b.names, name)
			}
			b.plan.Refused = append(b.plan.Refused, Refusal{Origin: j.Origin, Err: err})
			return
		}
		claimed = append(claimed, j.Job.Scraper.Name)
	}
	for _, j := range jobs {
		b.add(j.Job, j.DB, j.RP, j.Origin)
	}
}

// copyScraper copies a section, so that its defaults go into the plan and not into the settings. The
// copy shares the maps and slices of keys, which validation does not change.
func copyScraper(c *kapacitor.Scraper) *kapacitor.Scraper {
	cp := *c
	return &cp
}

// PrefixLines puts the section before every line of a joined error.
func PrefixLines(section string, err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = section + ": " + l
	}
	return errors.New(strings.Join(lines, "\n"))
}

// prefixOrigin puts a section's origin before every line of its error, which names the section already.
func prefixOrigin(o Origin, err error) error {
	if o.Option == "" {
		return err
	}
	return PrefixLines(strings.TrimSuffix(o.where(""), ": "), err)
}
