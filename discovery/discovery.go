// Package discovery turns Kapacitor's discoverer sections into running Prometheus service discovery and keeps
// the current target groups of each. It knows nothing of scraping or of Telegraf.
package discovery

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	promdiscovery "github.com/prometheus/prometheus/discovery"
)

// Switchable is a section of the configuration that enabled = false turns off: every discoverer section,
// and a [[scraper]] (scrape.Config) too.
type Switchable interface {
	// IsEnabled tells whether the section runs: it does unless enabled = false.
	IsEnabled() bool
}

// Provider is one discoverer section of the configuration, such as one [[static-discovery]].
type Provider interface {
	Switchable
	// Service is Kapacitor's name of the section, e.g. "static-discovery".
	Service() string
	// SectionID returns the section's id.
	SectionID() string
}

// Mapper is a Provider this build can run: its SDConfig validates the section, applies its defaults and maps
// it onto Prometheus' SD configuration. A section whose SD the build leaves out (see Sections) is no Mapper.
type Mapper interface {
	Provider
	SDConfig() (promdiscovery.Config, error)
}

// Warner is a Provider whose valid configuration may still not do all it seems to; its warnings say what.
type Warner interface {
	Warnings() []string
}

// Warnings returns the warnings of every enabled section that is a Warner, each prefixed by its key.
func Warnings(providers []Provider) []string {
	var out []string
	for _, p := range providers {
		w, ok := p.(Warner)
		if !ok || !p.IsEnabled() {
			continue
		}
		for _, msg := range w.Warnings() {
			out = append(out, fmt.Sprintf("%s: %s", KeyOf(p), msg))
		}
	}
	return out
}

// Common holds the keys every discoverer section has.
type Common struct {
	Enabled *bool  `toml:"enabled"`
	ID      string `toml:"id"`
}

// SectionID returns the section's id.
func (c *Common) SectionID() string { return c.ID }

// IsEnabled tells whether the section runs: it does unless enabled = false.
func (c *Common) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// Sections holds every discoverer section under its Kapacitor name; the plugin embeds it so that each is a
// sub-table of the plugin's table. Every field is a slice of pointers to a Provider.
//
// The sd tag names the section's Prometheus SD as Prometheus' build tags do: a build with -tags remove_all_sd
// leaves out every SD but those it enables with enable_<sd>_sd, as Prometheus' plugins package does. Such a
// section still parses, but Validate refuses it. A section without an sd tag is always built in.
type Sections struct {
	Static     []*Static     `toml:"static-discovery"`
	File       []*File       `toml:"file-discovery"`
	HTTP       []*HTTP       `toml:"http-discovery"`
	Kubernetes []*Kubernetes `toml:"kubernetes" sd:"kubernetes"`
	EC2        []*EC2        `toml:"ec2" sd:"aws"`
	Azure      []*Azure      `toml:"azure" sd:"azure"`
	GCE        []*GCE        `toml:"gce" sd:"gce"`
	DNS        []*DNS        `toml:"dns" sd:"dns"`
	Nerve      []*Nerve      `toml:"nerve" sd:"zookeeper"`
	Serverset  []*Serverset  `toml:"serverset" sd:"zookeeper"`
	Consul     []*Consul     `toml:"consul" sd:"consul"`
	Marathon   []*Marathon   `toml:"marathon" sd:"marathon"`
	Triton     []*Triton     `toml:"triton" sd:"triton"`
	// One line a provider, above this comment; its toml tag is the section's name (Services), its sd tag
	// the build tag of its <name>_sd.go.
}

// Providers lists the sections, in the order of the fields and of the sections in the file.
func (s *Sections) Providers() []Provider {
	var ps []Provider
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		field := v.Field(i)
		for j := range field.Len() {
			ps = append(ps, field.Index(j).Interface().(Provider))
		}
	}
	return ps
}

// Services are the names of every discoverer section, the toml tags of Sections, sorted. A build may leave
// some of them out (BuiltIn).
var Services = sectionNames()

func sectionNames() []string {
	typ := reflect.TypeFor[Sections]()
	names := make([]string, typ.NumField())
	for i := range names {
		names[i] = typ.Field(i).Tag.Get("toml")
	}
	slices.Sort(names)
	return names
}

// BuiltIn tells whether this build can run the discoverer section p.
func BuiltIn(p Provider) bool {
	_, ok := p.(Mapper)
	return ok
}

// leftOut is the error for a section whose SD this build leaves out.
func leftOut(p Provider) error {
	typ := reflect.TypeFor[Sections]()
	sd := ""
	for i := range typ.NumField() {
		if tag := typ.Field(i).Tag; tag.Get("toml") == p.Service() {
			sd = tag.Get("sd")
		}
	}
	return fmt.Errorf("this build leaves out the %s discoverer (built with -tags remove_all_sd; add enable_%s_sd)",
		p.Service(), sd)
}

// KapacitorServices are the twelve discoverer sections of Kapacitor's configuration, the only ones a
// kapacitor.conf is read for: a section Kapacitor never had is none of its.
var KapacitorServices = []string{
	"azure", "consul", "dns", "ec2", "file-discovery", "gce", "kubernetes",
	"marathon", "nerve", "serverset", "static-discovery", "triton",
}

// Key names one discoverer: its service and id, as a scraper's discoverer-service and discoverer-id do.
type Key struct{ Service, ID string }

// KeyOf returns the key of a discoverer section.
func KeyOf(p Provider) Key { return Key{p.Service(), p.SectionID()} }

func (k Key) String() string { return k.Service + " " + fmt.Sprintf("%q", k.ID) }

// Configs are Prometheus SD configurations by the discoverer they belong to.
type Configs = map[Key]promdiscovery.Config

// Validate checks every enabled section and returns their SD configurations by key. Errors name the section,
// id and key; all of them are reported, not only the first.
func Validate(providers []Provider) (Configs, error) {
	configs := make(Configs)
	var errs []error
	for _, p := range providers {
		if !p.IsEnabled() {
			continue
		}
		key := KeyOf(p)
		if strings.TrimSpace(key.ID) == "" {
			errs = append(errs, fmt.Errorf("%s: id: required", p.Service()))
			continue
		}
		if _, dup := configs[key]; dup {
			errs = append(errs, fmt.Errorf("%s: id: %q is used twice", key, key.ID))
			continue
		}
		m, ok := p.(Mapper)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %w", key, leftOut(p)))
			continue
		}
		cfg, err := m.SDConfig()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		configs[key] = cfg
	}
	return configs, errors.Join(errs...)
}
