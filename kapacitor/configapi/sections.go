// Package configapi is Kapacitor's config API (/kapacitor/v1/config) for the [[scraper]] section and the
// twelve discoverer sections: GET of every section, of one and of one element, and POST of overrides (set and
// delete options of an element, add and remove elements), kept in a file and applied again at start, as
// Kapacitor kept them in its store.
//
// It works on the sections generically, as Kapacitor's own override package did with its override tags: a
// section is any field of the configuration struct (or of a struct it embeds) whose toml tag is one of
// Kapacitor's section names and whose type is a slice of pointers to structs; an option is any field of the
// element struct (or of a struct it embeds) with a toml tag. An option is set through the same TOML decoder
// that reads the configuration file, so it takes exactly the values a file does; a config.Secret option is
// shown as whether it is set, and named in "redacted", as Kapacitor's redact tag did.
package configapi

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/telegraf/config"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
)

// ElementKeys are the API's sections and the option that names an element of each, as Kapacitor had them.
var ElementKeys = elementKeys()

func elementKeys() map[string]string {
	keys := map[string]string{"scraper": "name"}
	for _, s := range discovery.KapacitorServices {
		keys[s] = "id"
	}
	return keys
}

var (
	secretType   = reflect.TypeFor[config.Secret]()
	durationType = reflect.TypeFor[config.Duration]()
)

// Sections are the API's sections of one configuration: each a slice of pointers to its element structs.
type Sections struct {
	slices map[string]reflect.Value // by section name; each a settable slice
}

// Of finds the sections of a configuration, a pointer to a struct: the fields (of it or of a struct it
// embeds) whose toml tag names a section of ElementKeys. They stay the configuration's own: Override changes
// them in place.
func Of(cfg any) (*Sections, error) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("configapi: %T is not a pointer to a struct", cfg)
	}
	s := &Sections{slices: map[string]reflect.Value{}}
	s.find(v.Elem())
	if len(s.slices) != len(ElementKeys) {
		var missing []string
		for name := range ElementKeys {
			if _, ok := s.slices[name]; !ok {
				missing = append(missing, name)
			}
		}
		slices.Sort(missing)
		return nil, fmt.Errorf("configapi: %T has no section %s", cfg, strings.Join(missing, ", "))
	}
	return s, nil
}

func (s *Sections) find(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			s.find(v.Field(i))
			continue
		}
		name := tomlName(f)
		if _, ok := ElementKeys[name]; ok && isElementSlice(f.Type) {
			s.slices[name] = v.Field(i)
		}
	}
}

func isElementSlice(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Pointer && t.Elem().Elem().Kind() == reflect.Struct
}

func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return name
}

// Names returns the section names, sorted.
func (s *Sections) Names() []string { return slices.Sorted(maps.Keys(s.slices)) }

// Clone returns sections of their own: new slices of shallow copies of the elements. Override replaces an
// option's value rather than changing it, so a clone taken before the configuration is initialised (which
// sets defaults in place) keeps the options as configured.
func (s *Sections) Clone() *Sections {
	c := &Sections{slices: make(map[string]reflect.Value, len(s.slices))}
	for name, sl := range s.slices {
		n := reflect.New(sl.Type()).Elem()
		for i := range sl.Len() {
			e := reflect.New(sl.Type().Elem().Elem())
			e.Elem().Set(sl.Index(i).Elem())
			n = reflect.Append(n, e)
		}
		c.slices[name] = reflect.New(sl.Type()).Elem() // settable, as a configuration's own field is
		c.slices[name].Set(n)
	}
	return c
}

// CopyTo sets the sections of cfg (see Of) to these sections' elements.
func (s *Sections) CopyTo(cfg any) error {
	dst, err := Of(cfg)
	if err != nil {
		return err
	}
	for name, sl := range s.slices {
		dst.slices[name].Set(sl)
	}
	return nil
}

// key returns the element key of an element of a section.
func key(section string, e reflect.Value) string {
	f, ok := field(e.Elem(), ElementKeys[section])
	if !ok || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
}

// index returns the index of the element of a section whose key is k, or -1.
func (s *Sections) index(section, k string) int {
	sl := s.slices[section]
	for i := range sl.Len() {
		if key(section, sl.Index(i)) == k {
			return i
		}
	}
	return -1
}

// field finds the option of a struct by its toml name, in it or in a struct it embeds.
func field(v reflect.Value, name string) (reflect.Value, bool) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct && tomlName(f) == "" {
			if found, ok := field(v.Field(i), name); ok {
				return found, true
			}
			continue
		}
		if n := tomlName(f); n != "" && n != "-" && n == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// Element is one element as the API shows it: its options by name, secrets as whether they are set, and
// the names of those (nil when it has none).
type Element struct {
	Key      string
	Options  map[string]any
	Redacted []string
}

// Elements returns the elements of a section, sorted by key as Kapacitor sorted them.
func (s *Sections) Elements(section string) []Element {
	sl := s.slices[section]
	out := make([]Element, 0, sl.Len())
	for i := range sl.Len() {
		e := Element{Key: key(section, sl.Index(i)), Options: map[string]any{}}
		e.options(sl.Index(i).Elem())
		if sw, ok := sl.Index(i).Interface().(discovery.Switchable); ok {
			e.Options["enabled"] = sw.IsEnabled() // an element runs unless enabled = false
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b Element) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func (e *Element) options(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		name := tomlName(f)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && name == "" {
			e.options(v.Field(i))
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		if f.Type == secretType {
			secret := v.Field(i).Addr().Interface().(*config.Secret)
			e.Options[name] = !secret.Empty()
			e.Redacted = append(e.Redacted, name)
			continue
		}
		e.Options[name] = value(v.Field(i))
	}
}

// value is an option's value as JSON shows it: durations as Go prints them (as Kapacitor showed its
// durations), nested tables by their toml names.
func value(v reflect.Value) any {
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Type() == secretType:
		return !v.Addr().Interface().(*config.Secret).Empty()
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return value(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		(&Element{Options: m}).options(v)
		return m
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = value(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			out[fmt.Sprint(it.Key().Interface())] = value(it.Value())
		}
		return out
	default:
		return v.Interface()
	}
}

// errNoSection and errNoElement are an override of a section or an element that is not there.
var (
	errNoSection = errors.New("no such section")
	errNoElement = errors.New("the configuration has no such element (an override kept of an element since removed is removed from the file by hand)")
)
