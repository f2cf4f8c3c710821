package plan

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/influxdata/telegraf/config"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// Change is what applying a plan over another changes: jobs by name, discoverers by key, each list in
// order.
type Change struct {
	Added, Changed, Removed []string
	// Kept are the jobs that stay as they are: their targets, schedules and health carry over.
	Kept                                                     []string
	DiscoverersAdded, DiscoverersChanged, DiscoverersRemoved []discovery.Key
}

// Compare says what changes from old to next.
func Compare(old, next *Plan) Change {
	var c Change
	before := make(map[string]*Job, len(old.Jobs))
	for _, j := range old.Jobs {
		before[j.Name()] = j
	}
	for _, j := range next.Jobs {
		switch prev := before[j.Name()]; {
		case prev == nil:
			c.Added = append(c.Added, j.Name())
		case prev.Same(j):
			c.Kept = append(c.Kept, j.Name())
		default:
			c.Changed = append(c.Changed, j.Name())
		}
		delete(before, j.Name())
	}
	for _, j := range old.Jobs {
		if before[j.Name()] != nil {
			c.Removed = append(c.Removed, j.Name())
		}
	}
	for _, key := range sortedKeys(next.Discoverers) {
		switch prev, ok := old.Discoverers[key]; {
		case !ok:
			c.DiscoverersAdded = append(c.DiscoverersAdded, key)
		case !reflect.DeepEqual(prev, next.Discoverers[key]): // as discovery.Manager.Apply compares them
			c.DiscoverersChanged = append(c.DiscoverersChanged, key)
		}
	}
	for _, key := range sortedKeys(old.Discoverers) {
		if _, ok := next.Discoverers[key]; !ok {
			c.DiscoverersRemoved = append(c.DiscoverersRemoved, key)
		}
	}
	return c
}

// Empty tells whether nothing changes.
func (c Change) Empty() bool {
	return len(c.Added)+len(c.Changed)+len(c.Removed)+
		len(c.DiscoverersAdded)+len(c.DiscoverersChanged)+len(c.DiscoverersRemoved) == 0
}

// String says what changes, for the log: "jobs added: c; changed: b; removed: none; discoverers ...".
func (c Change) String() string {
	if c.Empty() {
		return "nothing changed"
	}
	list := func(items []string) string {
		if len(items) == 0 {
			return "none"
		}
		return strings.Join(items, ", ")
	}
	keys := func(keys []discovery.Key) string {
		s := make([]string, len(keys))
		for i, k := range keys {
			s[i] = k.String()
		}
		return list(s)
	}
	return fmt.Sprintf("jobs added: %s; changed: %s; removed: %s; discoverers added: %s; changed: %s; removed: %s",
		list(c.Added), list(c.Changed), list(c.Removed), keys(c.DiscoverersAdded), keys(c.DiscoverersChanged), keys(c.DiscoverersRemoved))
}

func sortedKeys(configs discovery.Configs) []discovery.Key {
	keys := make([]discovery.Key, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b discovery.Key) int {
		return strings.Compare(a.Service+"\x00"+a.ID, b.Service+"\x00"+b.ID)
	})
	return keys
}

// Same tells whether two jobs scrape alike: the same configuration, routing and discoverers. Where a job
// was written does not count.
func (j *Job) Same(o *Job) bool {
	return j.DB == o.DB && j.RP == o.RP && slices.Equal(j.Sources, o.Sources) &&
		reflect.DeepEqual(j.Extras, o.Extras) && sameConfig(j.Config, o.Config)
}

// sameConfig compares two scrape configurations, their secrets by value wherever they are (the password,
// the bearer token, the http-headers' secrets): Telegraf keeps a secret in a container that differs
// between two reads of the same text.
func sameConfig(a, b *scrape.Config) bool { return SameValue(a, b) }

// SameValue compares two values of a decoded configuration, given as pointers of one type: as
// reflect.DeepEqual does, but Telegraf's secrets by value, and only what the file says (the unexported
// state a validation derives from it does not count).
func SameValue(a, b any) bool {
	return sameValue(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem())
}

func sameValue(a, b reflect.Value) bool {
	switch {
	case a.Type() == reflect.TypeFor[config.Secret]():
		return sameSecret(a.Addr().Interface().(*config.Secret), b.Addr().Interface().(*config.Secret))
	case a.Kind() == reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case a.Kind() == reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() && !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case a.Kind() == reflect.Slice:
		if a.Len() != b.Len() || a.IsNil() != b.IsNil() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case a.Kind() == reflect.Map:
		if a.Len() != b.Len() || a.IsNil() != b.IsNil() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !sameMapValue(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// sameMapValue compares two values of a map, which reflect cannot address: copied where they are not
// pointers, so that a secret among them can be read.
func sameMapValue(a, b reflect.Value) bool {
	if a.Kind() == reflect.Pointer {
		return sameValue(a, b)
	}
	ac, bc := reflect.New(a.Type()).Elem(), reflect.New(b.Type()).Elem()
	ac.Set(a)
	bc.Set(b)
	return sameValue(ac, bc)
}

// sameSecret compares two secrets by value; one that cannot be read differs from any other.
func sameSecret(a, b *config.Secret) bool {
	if a.Empty() || b.Empty() {
		return a.Empty() == b.Empty()
	}
	av, errA := a.Get()
	if errA != nil {
		return false
	}
	defer av.Destroy()
	bv, errB := b.Get()
	if errB != nil {
		return false
	}
	defer bv.Destroy()
	return bytes.Equal(av.Bytes(), bv.Bytes())
}
