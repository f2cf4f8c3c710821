package discovering_prometheus

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/status"
	"github.com/discovering-prometheus/discovering-prometheus/kapacitor"
	"github.com/discovering-prometheus/discovering-prometheus/kapacitor/configapi"
	"github.com/discovering-prometheus/discovering-prometheus/plan"
)

// ConfigAPIOptions serve Kapacitor's config API for the plugin's own [[scraper]] and discoverer sections on
// the status address, and keep its overrides in a file that applies them again at start.
type ConfigAPIOptions struct {
	KapacitorConfigAPI     bool   `toml:"kapacitor_config_api"`
	KapacitorOverridesFile string `toml:"kapacitor_overrides_file"`

	configAPI *configapi.Handler
}

// initConfigAPI makes the overrides of kapacitor_overrides_file a source of the plugin's plan, applied
// before the plan is first built, and prepares the API when kapacitor_config_api is on: a change it accepts
// is applied at once, by a reload (Reload) whose plan takes the new overrides.
func (p *DiscoveringPrometheus) initConfigAPI() error {
	if p.KapacitorOverridesFile == "" {
		if p.KapacitorConfigAPI {
			return errors.New("kapacitor_config_api: needs kapacitor_overrides_file, where the API keeps its changes (Kapacitor kept them in its store)")
		}
		return nil
	}
	if p.KapacitorConfigAPI && p.StatusAddress == "" {
		return errors.New("kapacitor_config_api: it is served on status_address, which is not set")
	}
	live, err := configapi.Of(p)
	if err != nil {
		return err
	}
	overrides, err := configapi.ReadFile(p.KapacitorOverridesFile)
	if err != nil {
		return fmt.Errorf("kapacitor_overrides_file: %w", err)
	}
	source := &overridesSource{overrides: overrides}
	p.AddSource(source)
	if p.KapacitorConfigAPI {
		p.configAPI = configapi.New(configapi.Config{
			Base: live.Clone(), Overrides: overrides, File: p.KapacitorOverridesFile,
			Apply:    func(o configapi.Overrides) error { return p.reloadWith(source, o) },
			ReadOnly: p.configAPIReadOnly(),
		})
	}
	return nil
}

// reloadWith reloads the plan with the overrides o; when it fails, the running plan and the overrides
// stay as they were, and so does config_last_reload_successful: a refused change is no failed reload.
func (p *DiscoveringPrometheus) reloadWith(source *overridesSource, o configapi.Overrides) error {
	p.reload.mu.Lock()
	defer p.reload.mu.Unlock()
	old := source.set(o)
	if err := p.reloadLocked(false); err != nil {
		source.set(old)
		return err
	}
	return nil
}

// overridesSource is the config API's overrides as a source of the plan: it changes the plugin's own
// [[scraper]] and discoverer sections (those of kapacitor_config stay as the file has them).
type overridesSource struct {
	mu        sync.Mutex
	overrides configapi.Overrides
}

// set makes o the overrides, returning those it replaces.
func (s *overridesSource) set(o configapi.Overrides) configapi.Overrides {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.overrides
	s.overrides = o
	return old
}

// ownSections are the plugin's own sections, in the shape configapi finds them in the plugin's table.
type ownSections struct {
	Scrapers []*kapacitor.Scraper `toml:"scraper"`
	discovery.Sections
}

// Apply implements plan.Source: the plugin's own sections, overridden, come first, as the table's do.
func (s *overridesSource) Apply(out *plan.Sections) error {
	s.mu.Lock()
	o := s.overrides
	s.mu.Unlock()
	if len(o) == 0 {
		return nil
	}
	own := &ownSections{}
	var scrapers []*plan.ScraperSection
	var discoverers []*plan.DiscovererSection
	for _, sc := range out.Scrapers {
		if sc.Origin.Option == "" {
			own.Scrapers = append(own.Scrapers, sc.Scraper)
		} else {
			scrapers = append(scrapers, sc)
		}
	}
	for _, d := range out.Discoverers {
		if d.Origin.Option == "" {
			addProvider(&own.Sections, d.Provider)
		} else {
			discoverers = append(discoverers, d)
		}
	}
	sections, err := configapi.Of(own)
	if err != nil {
		return err
	}
	sections = sections.Clone() // the table's own elements stay as configured
	if err := sections.Override(o); err != nil {
		return fmt.Errorf("kapacitor_overrides_file: %w", err)
	}
	if err := sections.CopyTo(own); err != nil {
		return err
	}
	out.Scrapers, out.Discoverers = nil, nil
	for i, sc := range own.Scrapers {
		out.Scrapers = append(out.Scrapers, &plan.ScraperSection{Scraper: sc, Index: i})
	}
	for _, d := range own.Providers() {
		out.Discoverers = append(out.Discoverers, &plan.DiscovererSection{Provider: d})
	}
	out.Scrapers, out.Discoverers = append(out.Scrapers, scrapers...), append(out.Discoverers, discoverers...)
	return nil
}

// addProvider appends a discoverer section to the sections of its type.
func addProvider(s *discovery.Sections, d discovery.Provider) {
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Type().Elem() == reflect.TypeOf(d) {
			f.Set(reflect.Append(f, reflect.ValueOf(d)))
			return
		}
	}
}

// configAPIReadOnly says why the API takes no change, if it does not: an address other hosts reach needs
// the status page's auth.
func (p *DiscoveringPrometheus) configAPIReadOnly() error {
	if loopback, _ := status.Loopback(p.StatusAddress); loopback || p.StatusBasicUsername != "" || len(p.TLSAllowedCACerts) > 0 {
		return nil
	}
	return fmt.Errorf("the configuration is read-only: status_address %q is reachable from other hosts without "+
		"auth; set status_basic_username and status_basic_password, or tls_allowed_cacerts", p.StatusAddress)
}

// configAPIRoutes are the status server's routes of the API, none when it is off.
func (p *DiscoveringPrometheus) configAPIRoutes() map[string]http.Handler {
	if p.configAPI == nil {
		return nil
	}
	return map[string]http.Handler{configapi.BasePath: p.configAPI, configapi.BasePath + "/": p.configAPI}
}
