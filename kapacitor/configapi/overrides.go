package configapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/influxdata/toml"
	"github.com/influxdata/toml/ast"
)

// Override is what the API changed of one element, as Kapacitor stored it: options set over the element as
// configured or, for an element the API added (Create), over a new element.
type Override struct {
	Section string         `json:"section"`
	Element string         `json:"element"`
	Create  bool           `json:"create,omitempty"`
	Options map[string]any `json:"options"`
}

// Overrides are every override, sorted by section and element, as Kapacitor's store listed them.
type Overrides []Override

// find returns the index of the override of an element, or -1.
func (o Overrides) find(section, element string) int {
	return slices.IndexFunc(o, func(x Override) bool { return x.Section == section && x.Element == element })
}

// with returns a copy of o with x in the place of the override of its element.
func (o Overrides) with(x Override) Overrides {
	out := slices.Clone(o)
	if i := out.find(x.Section, x.Element); i >= 0 {
		out[i] = x
	} else {
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b Override) int {
		return strings.Compare(a.Section+"/"+a.Element, b.Section+"/"+b.Element)
	})
	return out
}

// without returns a copy of o without the overrides of these elements of a section.
func (o Overrides) without(section string, elements []string) Overrides {
	return slices.DeleteFunc(slices.Clone(o), func(x Override) bool {
		return x.Section == section && slices.Contains(elements, x.Element)
	})
}

// Initer is an element type that sets its own defaults: an element the API adds starts from them, as
// Kapacitor's added elements started from their Init.
type Initer interface{ SetToDefault() }

// Override applies the overrides to the sections, in place. Its errors are Kapacitor's.
func (s *Sections) Override(overrides Overrides) error {
	for _, o := range overrides {
		if err := s.override(o); err != nil {
			element := o.Element
			if o.Create {
				element = "" // as Kapacitor named an override that adds an element
			}
			return fmt.Errorf("failed to override configuration %s/%s: %w", o.Section, element, err)
		}
	}
	for _, name := range s.Names() {
		seen := map[string]bool{}
		for _, e := range s.Elements(name) {
			if seen[e.Key] {
				return fmt.Errorf("failed to read sections from configuration object: section %q has duplicate elements: %q", name, e.Key)
			}
			seen[e.Key] = true
		}
	}
	return nil
}

func (s *Sections) override(o Override) error {
	sl, ok := s.slices[o.Section]
	if !ok {
		return errNoSection
	}
	keyName := ElementKeys[o.Section]
	var e reflect.Value
	i := -1
	if o.Create {
		e = reflect.New(sl.Type().Elem().Elem())
		if d, ok := e.Interface().(Initer); ok {
			d.SetToDefault()
		}
	} else {
		if i = s.index(o.Section, o.Element); i < 0 {
			return errNoElement
		}
		e = reflect.New(sl.Type().Elem().Elem())
		e.Elem().Set(sl.Index(i).Elem()) // a shallow copy: the options set are replaced, not changed
	}
	var unknown []string
	for _, name := range slices.Sorted(maps.Keys(o.Options)) {
		f, ok := field(e.Elem(), name)
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		// An added element's key is its own; Kapacitor let a later set change it, leaving the element where
		// its override's key no longer named it.
		if name == keyName && (!o.Create || o.Options[name] != o.Element) {
			return fmt.Errorf("cannot override element key %s", name)
		}
		if err := set(e, f, name, o.Options[name]); err != nil {
			return fmt.Errorf("cannot set option %s: %w", name, err)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown options %v in section %s", unknown, o.Section)
	}
	if o.Create {
		sl.Set(reflect.Append(sl, e))
	} else {
		sl.Index(i).Set(e)
	}
	return nil
}

// set sets one option of the element e (a pointer), whose field is f, from its JSON value: through the TOML
// decoder of the configuration file, into a field reset to its zero value first.
func set(e, f reflect.Value, name string, v any) (err error) {
	defer func() {
		if r := recover(); r != nil { // the decoder panics on what no TOML file can hold
			err = fmt.Errorf("%v", r)
		}
	}()
	v, err = weakKind(f.Type(), v)
	if err != nil {
		return err
	}
	val, err := toAST(v)
	if err != nil {
		return err
	}
	f.Set(reflect.Zero(f.Type()))
	table := &ast.Table{Fields: map[string]any{name: tableField(name, val)}}
	if err := toml.UnmarshalTable(table, e.Interface()); err != nil {
		return errors.New(goField.ReplaceAllString(err.Error(), "")) // the Go type is no option's name
	}
	return nil
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// weakKind checks a JSON value against the kind of its field as Kapacitor did, with its errors, and takes
// a number written as a string for a numeric field, as Kapacitor did. A field that reads text (a duration,
// a size, a secret) is left to the TOML decoder.
func weakKind(t reflect.Type, v any) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return v, nil
	}
	if x, ok := v.(string); ok && isNumeric(t.Kind()) {
		if _, err := strconv.ParseFloat(x, 64); err != nil {
			return nil, fmt.Errorf("cannot convert string %q into %s", x, t.Kind())
		}
		return json.Number(x), nil
	}
	var ok bool
	switch v.(type) {
	case string:
		ok = t.Kind() == reflect.String
	case bool:
		ok = t.Kind() == reflect.Bool
	case json.Number, float64:
		ok = isNumeric(t.Kind())
	case []any:
		ok = t.Kind() == reflect.Slice
	case map[string]any:
		ok = t.Kind() == reflect.Map || t.Kind() == reflect.Struct
	default:
		return v, nil
	}
	if !ok {
		return nil, fmt.Errorf("wrong kind %s, expected value of kind %s: false", jsonKind(v), t.Kind())
	}
	return v, nil
}

// jsonKind names the kind of a JSON value as Kapacitor's errors did, by the Go kind it decoded it into.
func jsonKind(v any) string {
	switch v.(type) {
	case json.Number, float64:
		return "float64"
	case []any:
		return "slice"
	case map[string]any:
		return "map"
	case nil:
		return "invalid"
	}
	return reflect.TypeOf(v).Kind().String()
}

func isNumeric(k reflect.Kind) bool { return k >= reflect.Int && k <= reflect.Float64 }

// goField is the line and Go field that the TOML decoder's errors start with.
var goField = regexp.MustCompile(`^(line \d+: )?(\([^)]*\) )?`)

// tableField is a value of toAST as a table holds it under its key: a table or an array of tables as it is, any
// other value in a key/value pair.
func tableField(key string, a any) any {
	switch a := a.(type) {
	case *ast.Table, []*ast.Table:
		return a
	case ast.Value:
		return &ast.KeyValue{Key: key, Value: a}
	}
	return a
}

// toAST turns a JSON value into what the TOML decoder takes: an ast.Value, a table (*ast.Table) or an array
// of tables ([]*ast.Table).
func toAST(v any) (any, error) {
	switch v := v.(type) {
	case string:
		return &ast.String{Value: v}, nil
	case bool:
		return &ast.Boolean{Value: strconv.FormatBool(v), Data: []rune(strconv.FormatBool(v))}, nil
	case json.Number:
		data := []rune(v.String()) // the source text, which a field that reads text (a duration) takes
		if _, err := v.Int64(); err == nil {
			return &ast.Integer{Value: v.String(), Data: data}, nil
		}
		return &ast.Float{Value: v.String(), Data: data}, nil
	case float64:
		return toAST(json.Number(strconv.FormatFloat(v, 'g', -1, 64)))
	case map[string]any:
		t := &ast.Table{Fields: map[string]any{}}
		for k, x := range v {
			a, err := toAST(x)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			t.Fields[k] = tableField(k, a)
		}
		return t, nil
	case []any:
		var values []ast.Value
		var tables []*ast.Table
		for i, x := range v {
			a, err := toAST(x)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			switch a := a.(type) {
			case *ast.Table:
				tables = append(tables, a)
			case ast.Value:
				values = append(values, a)
			default:
				return nil, fmt.Errorf("[%d]: an array of arrays of tables", i)
			}
		}
		if len(tables) > 0 {
			if len(values) > 0 {
				return nil, errors.New("an array of both tables and values")
			}
			return tables, nil
		}
		return &ast.Array{Value: values}, nil
	case nil:
		return nil, errors.New("null is no value; delete the option to reset it")
	default:
		return nil, fmt.Errorf("unexpected JSON value %T", v)
	}
}

// ReadFile reads the overrides a file keeps; a file that does not exist keeps none.
func ReadFile(path string) (Overrides, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var o Overrides
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&o); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

// WriteFile keeps the overrides in a file, atomically: a new file renamed over the old one, so that a crash
// leaves the old or the new overrides, never a part. It is readable by its owner only, as it holds the
// secrets the API was given.
func WriteFile(path string, o Overrides) error {
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // once renamed, there is nothing to remove
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
