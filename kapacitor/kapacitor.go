// Package kapacitor reads the [[scraper]] and discoverer sections of an existing kapacitor.conf, laid out and
// keyed as Kapacitor wrote them, into the plugin's own section types; the rest of the file is ignored. The
// plugin's kapacitor_config option runs them next to its own sections (package plan), and the runner's
// -migrate-kapacitor prints the equivalent Telegraf configuration (Migrate).
//
// The file is read the way Kapacitor read it, not the way the plugin reads its own table:
//   - a section without an enabled key is disabled, because Kapacitor's enabled defaulted to false;
//   - a single [kubernetes] table is one section, as Kapacitor accepted either form for it;
//   - a [kubernetes] section without resource configures Kapacitor's k8sAutoscale node, not a discoverer;
//   - Kapacitor's own sample nests static labels as [static.labels], a top-level table of its own that
//     Kapacitor never applied to any target: it is reported, not applied.
package kapacitor

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/influxdata/toml"
	"github.com/influxdata/toml/ast"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/conffile"
)

// scraperSection is the name of Kapacitor's scraper sections.
const scraperSection = "scraper"

// Sections are the scraper and discoverer sections of one kapacitor.conf, decoded into the plugin's types.
// Disabled sections are kept, with enabled = false, as the plugin keeps its own.
type Sections struct {
	Scrapers []*Scraper `toml:"scraper"`
	discovery.Sections

	path string
	// tables holds each section's syntax by section name, index for index with the decoded slices, for line
	// numbers and for Migrate, which carries the keys over as they were written.
	tables map[string][]*ast.Table
	root   *ast.Table
	// leftOut says why a section that is enabled = true in the file is disabled here.
	leftOut map[*ast.Table]string
	// configs are the SD configurations of the enabled discoverers, made by validate.
	configs discovery.Configs
	// staticLabels is Kapacitor's [static.labels] table, if the file has one, and the [[static-discovery]]
	// section it was meant for (the last one above it), if any.
	staticLabels, staticFor *ast.Table
}

// Load reads the [[scraper]] and discoverer sections of a kapacitor.conf and validates the enabled ones.
// The warnings name the file and line of what is read differently from how it looks (see the package
// comment). Errors name the file, line and section. Environment variables are not applied: Kapacitor's
// KAPACITOR_* overrides belong to the process that runs Kapacitor, not to the file. The file must be a
// regular file of at most conffile.MaxTOMLSize bytes, nesting no deeper than conffile.MaxNesting.
func Load(path string) (*Sections, []string, error) { return load(path, false) }

// load is Load, taking any kind of file (a pipe, say) when anyKind.
func load(path string, anyKind bool) (*Sections, []string, error) {
	data, err := conffile.ReadTOML(path, anyKind)
	if err != nil {
		return nil, nil, err
	}
	root, err := toml.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &Sections{path: path, root: root, tables: map[string][]*ast.Table{}, leftOut: map[*ast.Table]string{}}
	var warnings []string
	var errs []error
	warn := func(line int, format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf("%s:%d: ", path, line)+fmt.Sprintf(format, args...))
	}
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, args...)))
	}

	selected := &ast.Table{Fields: map[string]any{}}
	for _, name := range append([]string{scraperSection}, discovery.KapacitorServices...) {
		value, ok := root.Fields[name]
		if !ok {
			continue
		}
		tables, err := arrayOfTables(value)
		if err != nil {
			fail(lineOf(value), "%s: %v", name, err)
			continue
		}
		for _, t := range tables {
			enabled, set, err := enabledKey(t)
			switch {
			case err != nil:
				fail(t.Line, "%s: enabled: %v", describe(name, t), err)
			case !set:
				s.leftOut[t] = "it has no enabled key, and Kapacitor ran only sections with enabled = true"
				warn(t.Line, "%s is left out: %s", describe(name, t), s.leftOut[t])
			case enabled && name == "kubernetes" && t.Fields["resource"] == nil && t.Fields["role"] == nil:
				s.leftOut[t] = "it has no resource, so it configures Kapacitor's k8sAutoscale node, not a discoverer"
				warn(t.Line, "%s is left out: %s", describe(name, t), s.leftOut[t])
			}
		}
		s.tables[name] = tables
		selected.Fields[name] = tables
	}
	s.findStaticLabels()
	if s.staticLabels != nil {
		warn(s.staticLabels.Line, "%s", s.staticLabelsNote())
	}
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}

	// Unknown keys inside these sections are errors, as in the plugin's own table: a key that is not read is
	// a typo or a setting that would be silently lost.
	decoder := toml.DefaultConfig
	decoder.MissingField = func(_ reflect.Type, key string) error {
		return fmt.Errorf("%q is not a key of this section", key)
	}
	if err := decoder.UnmarshalTable(selected, s); err != nil {
		return nil, warnings, fmt.Errorf("%s: %w", path, err)
	}
	for t := range s.leftOut {
		s.disable(t)
	}
	if err := s.validate(); err != nil {
		return nil, warnings, err
	}
	return s, warnings, nil
}

// fields returns the decoded slices by section name: "scraper" and each discoverer service.
func (s *Sections) fields() map[string]reflect.Value {
	out := map[string]reflect.Value{scraperSection: reflect.ValueOf(&s.Scrapers).Elem()}
	for name, v := range discovererFields(&s.Sections) {
		out[name] = v
	}
	return out
}

// discovererFields returns the slices of discovery.Sections by their TOML name, so that providers added to
// discovery.Sections are read without a change here.
func discovererFields(d *discovery.Sections) map[string]reflect.Value {
	v := reflect.ValueOf(d).Elem()
	out := make(map[string]reflect.Value, v.NumField())
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("toml"), ",")
		out[name] = v.Field(i)
	}
	return out
}

// arrayOfTables accepts a section written as [[name]] or, as Kapacitor accepted it for kubernetes and its
// sample writes it, as a single [name] table.
func arrayOfTables(value any) ([]*ast.Table, error) {
	switch v := value.(type) {
	case []*ast.Table:
		return v, nil
	case *ast.Table:
		return []*ast.Table{v}, nil
	default:
		return nil, errors.New("must be a table")
	}
}

func lineOf(value any) int {
	switch v := value.(type) {
	case *ast.KeyValue:
		return v.Line
	case *ast.Table:
		return v.Line
	case []*ast.Table:
		return v[0].Line
	}
	return 0
}

// enabledKey reads a section's enabled key: its value and whether it is there.
func enabledKey(t *ast.Table) (enabled, set bool, err error) {
	kv, ok := t.Fields["enabled"].(*ast.KeyValue)
	if !ok {
		if t.Fields["enabled"] != nil {
			return false, true, errors.New("must be true or false")
		}
		return false, false, nil
	}
	b, ok := kv.Value.(*ast.Boolean)
	if !ok {
		return false, true, errors.New("must be true or false")
	}
	enabled, err = b.Boolean()
	return enabled, true, err
}

// stringKey reads a string key of a section, "" if it is not a string.
func stringKey(t *ast.Table, key string) string {
	if kv, ok := t.Fields[key].(*ast.KeyValue); ok {
		if s, ok := kv.Value.(*ast.String); ok {
			return s.Value
		}
	}
	return ""
}

// describe names a section as the user wrote it, with its id or name, e.g. [[static-discovery]] id "nodes"
// or [kubernetes].
func describe(name string, t *ast.Table) string {
	header := "[[" + name + "]]"
	if t.Type == ast.TableTypeNormal {
		header = "[" + name + "]"
	}
	key := "id"
	if name == scraperSection {
		key = "name"
	}
	if v := stringKey(t, key); v != "" {
		return fmt.Sprintf("%s %s %q", header, key, v)
	}
	return header
}

// disable sets enabled = false on the decoded section of t.
func (s *Sections) disable(t *ast.Table) {
	off := false
	for name, tables := range s.tables {
		if i := slices.Index(tables, t); i >= 0 {
			s.fields()[name].Index(i).Elem().FieldByName("Enabled").Set(reflect.ValueOf(&off))
		}
	}
}

// findStaticLabels finds Kapacitor's [static.labels] and the [[static-discovery]] it follows.
func (s *Sections) findStaticLabels() {
	static, ok := s.root.Fields["static"].(*ast.Table)
	if !ok {
		return
	}
	labels, ok := static.Fields["labels"].(*ast.Table)
	if !ok {
		return
	}
	s.staticLabels = labels
	for _, t := range s.tables["static-discovery"] {
		if t.Line < labels.Line && (s.staticFor == nil || t.Line > s.staticFor.Line) {
			s.staticFor = t
		}
	}
}

func (s *Sections) staticLabelsNote() string {
	target := "any [[static-discovery]]"
	if s.staticFor != nil {
		target = fmt.Sprintf("the %s above it (line %d)", describe("static-discovery", s.staticFor), s.staticFor.Line)
	}
	return fmt.Sprintf("[static.labels] is a top-level table named static, not the labels of %s: "+
		"Kapacitor never applied these labels, and they are not applied here either; "+
		"to apply them, write the table as [static-discovery.labels]", target)
}

// validate checks every enabled section, once: the plugin takes them as they are, and errors name this file
// and the line. The scrapers are initialised, and the discoverers' SD configurations kept.
func (s *Sections) validate() error {
	var errs []error
	names := map[string]int{}
	for i, c := range s.Scrapers {
		if !c.IsEnabled() {
			continue
		}
		t := s.tables[scraperSection][i]
		if err := c.Init(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				errs = append(errs, fmt.Errorf("%s:%d: scraper %q: %s", s.path, t.Line, c.Name, line))
			}
			continue
		}
		if first, dup := names[c.Name]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: scraper %q: name: also used by the [[scraper]] at line %d", s.path, t.Line, c.Name, first))
			continue
		}
		names[c.Name] = t.Line
	}
	keys := map[discovery.Key]int{}
	s.configs = discovery.Configs{}
	for _, d := range s.discoverers() {
		if !d.enabled {
			continue
		}
		configs, err := discovery.Validate([]discovery.Provider{d.provider})
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				errs = append(errs, fmt.Errorf("%s:%d: %s", s.path, d.table.Line, line))
			}
			continue
		}
		if first, dup := keys[d.key]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: %s: id: also used by the [[%s]] at line %d", s.path, d.table.Line, d.key, d.key.Service, first))
			continue
		}
		keys[d.key] = d.table.Line
		maps.Copy(s.configs, configs)
	}
	return errors.Join(errs...)
}

// discoverer is one decoded discoverer section with its syntax.
type discoverer struct {
	provider discovery.Provider
	key      discovery.Key
	enabled  bool
	table    *ast.Table
}

// discoverers lists the discoverer sections in the order of Kapacitor's services, then of the file.
func (s *Sections) discoverers() []discoverer {
	var out []discoverer
	fields := discovererFields(&s.Sections)
	for _, name := range discovery.KapacitorServices {
		field, ok := fields[name]
		if !ok {
			continue
		}
		for i := range field.Len() {
			p := field.Index(i).Interface().(discovery.Provider)
			out = append(out, discoverer{p, discovery.KeyOf(p), p.IsEnabled(), s.tables[name][i]})
		}
	}
	return out
}

// Configs returns the SD configurations of the enabled discoverers, by key.
func (s *Sections) Configs() discovery.Configs { return s.configs }

// ScraperLine is the line of the i-th [[scraper]] section.
func (s *Sections) ScraperLine(i int) int { return s.tables[scraperSection][i].Line }

// Discoverer is a discoverer section of the file and its line.
type Discoverer struct {
	discovery.Provider
	Line int
}

// Discoverers lists the discoverer sections in the order of Kapacitor's services, then of the file.
func (s *Sections) Discoverers() []Discoverer {
	var out []Discoverer
	for _, d := range s.discoverers() {
		out = append(out, Discoverer{d.provider, d.table.Line})
	}
	return out
}

// LeaveOutUnpaired disables, with a warning, the enabled scrapers whose discoverer is not available
// (enabled and valid) in this file or the plugin's own sections, which kapacitor_config runs together.
func (s *Sections) LeaveOutUnpaired(available map[discovery.Key]bool) []string {
	return s.disableUnpaired(available, "in neither this file nor the plugin's own sections")
}

// disableUnpaired disables the enabled scrapers whose discoverer is not available. Kapacitor accepted such
// a scraper and scraped nothing for it; the plugin refuses one, so it is left out, with a warning.
func (s *Sections) disableUnpaired(available map[discovery.Key]bool, where string) []string {
	var warnings []string
	for i, c := range s.Scrapers {
		key := c.Discoverer()
		if !c.IsEnabled() || available[key] {
			continue
		}
		t := s.tables[scraperSection][i]
		s.leftOut[t] = fmt.Sprintf("its discoverer (%s) is enabled %s, so Kapacitor scraped nothing for it", key, where)
		s.disable(t)
		warnings = append(warnings, fmt.Sprintf("%s:%d: %s is left out: %s", s.path, t.Line, describe(scraperSection, t), s.leftOut[t]))
	}
	return warnings
}
