package discovering_prometheus

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"

	"github.com/discovering-prometheus/discovering-prometheus/internal/status"
	"github.com/discovering-prometheus/discovering-prometheus/kapacitor/configapi"
)

// ConfigAPIOptions serve Kapacitor's config API for the plugin's own [[scraper]] and discoverer sections on
// the status address, and keep its overrides in a file that applies them again at start.
type ConfigAPIOptions struct {
	KapacitorConfigAPI     bool   `toml:"kapacitor_config_api"`
	KapacitorOverridesFile string `toml:"kapacitor_overrides_file"`

	configAPI *configapi.Handler
}

// initConfigAPI applies the overrides of kapacitor_overrides_file to the plugin's sections, before anything
// else reads them, and prepares the API when kapacitor_config_api is on.
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
	base := live.Clone() // as configured: Init sets defaults in place
	overrides, err := configapi.ReadFile(p.KapacitorOverridesFile)
	if err == nil {
		err = live.Override(overrides)
	}
	if err != nil {
		return fmt.Errorf("kapacitor_overrides_file: %w", err)
	}
	if p.KapacitorConfigAPI {
		p.configAPI = configapi.New(configapi.Config{
			Base: base, Overrides: overrides, File: p.KapacitorOverridesFile,
			// Changes take effect at the next start for now; a live reload takes the overrides here.
			Apply:    func(o configapi.Overrides) error { return p.checkOverrides(base, o) },
			ReadOnly: p.configAPIReadOnly(),
		})
	}
	return nil
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

// checkOverrides validates the configuration the overrides make: Init of a plugin with these options and
// the overridden sections.
func (p *DiscoveringPrometheus) checkOverrides(base *configapi.Sections, o configapi.Overrides) error {
	q := &DiscoveringPrometheus{}
	dst, src := reflect.ValueOf(q).Elem(), reflect.ValueOf(p).Elem()
	for i := range dst.NumField() {
		if dst.Type().Field(i).IsExported() {
			dst.Field(i).Set(src.Field(i))
		}
	}
	q.ConfigAPIOptions = ConfigAPIOptions{}
	if p.Cluster != nil {
		c := *p.Cluster
		q.Cluster = &c
	}
	s := base.Clone()
	if err := s.Override(o); err != nil {
		return err
	}
	if err := s.CopyTo(q); err != nil {
		return err
	}
	return q.Init()
}

// configAPIRoutes are the status server's routes of the API, none when it is off.
func (p *DiscoveringPrometheus) configAPIRoutes() map[string]http.Handler {
	if p.configAPI == nil {
		return nil
	}
	return map[string]http.Handler{configapi.BasePath: p.configAPI, configapi.BasePath + "/": p.configAPI}
}
