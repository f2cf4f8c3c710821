package kapacitor

import (
	"cmp"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/toml"
	"github.com/influxdata/toml/ast"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/tomltext"
)

// pluginTable is the plugin's table in a Telegraf configuration.
const pluginTable = "inputs.discovering_prometheus"

// telegrafInterval is Telegraf's default agent interval.
const telegrafInterval = 10 * time.Second

// Migrate writes the Telegraf configuration equivalent to the scrapers and discoverers of a kapacitor.conf:
// an [[inputs.discovering_prometheus]] table with every enabled section, its keys and values as Kapacitor
// had them, and an [[outputs.influxdb]] that writes each metric to its scraper's db and rp, at the URLs of
// the file's default [[influxdb]]. What does not carry over is said in # comments, and returned as
// warnings. Loading the output gives the plugin the same scrapers and discoverers as kapacitor_config
// pointing at the file. The file may be a pipe (a shell's <(...)).
func Migrate(w io.Writer, path string) ([]string, error) {
	s, warnings, err := load(path, true)
	if err != nil {
		return warnings, err
	}
	available := map[discovery.Key]bool{}
	for _, d := range s.discoverers() {
		if d.enabled {
			available[d.key] = true
		}
	}
	warnings = append(warnings, s.disableUnpaired(available, "nowhere in this file")...)

	m := &migration{s: s, out: &strings.Builder{}}
	m.header()
	m.input()
	m.output()
	_, err = io.WriteString(w, m.out.String())
	return warnings, err
}

type migration struct {
	s   *Sections
	out *strings.Builder
}

func (m *migration) printf(format string, args ...any) { fmt.Fprintf(m.out, format, args...) }

// comment writes text as comment lines of at most about 110 characters: "#" at the top of the file, "##"
// inside a table, where "#" marks an option that is commented out (Telegraf's convention).
func (m *migration) comment(indent, text string) {
	mark := "##"
	if indent == "" {
		mark = "#"
	}
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(indent)+len(line)+1+len(word) > 110 {
			m.printf("%s%s\n", indent, line)
			line = ""
		}
		if line == "" {
			line = mark + " " + word
		} else {
			line += " " + word
		}
	}
	if line != "" {
		m.printf("%s%s\n", indent, line)
	}
}

func (m *migration) header() {
	m.comment("", fmt.Sprintf("Telegraf configuration for the scrapers and discoverers of %s, written by discovering-prometheus -migrate-kapacitor.", m.s.path))
	m.printf("#\n")
	m.comment("", "The sections keep Kapacitor's keys and values, credentials included: keep this file as private as kapacitor.conf, or move the credentials to a Telegraf secret store. Every $ of a value is written $$, because Telegraf would otherwise read it as an environment variable.")
	m.printf("#\n")
	m.comment("", "Kapacitor handed the scraped points to its tasks, under each scraper's db and rp; here [[outputs.influxdb]] writes them to that database and retention policy. A Kapacitor subscribed to that InfluxDB still receives them, so tasks that read them keep working.")
	m.printf("#\n")
	m.comment("", "Kapacitor's points had no host tag; Telegraf adds one to every metric unless [agent] omit_hostname = true.")
	m.printf("\n")
}

func (m *migration) input() {
	s := m.s
	m.printf("[[%s]]\n", pluginTable)
	m.printf("  ## Every metric carries its scraper's db and rp under these tags, which [[outputs.influxdb]] routes on.\n")
	m.printf("  # db_tag = \"db\"\n  # rp_tag = \"rp\"\n")
	shortest := time.Duration(0)
	for _, c := range s.Scrapers {
		if c.IsEnabled() && (shortest == 0 || time.Duration(c.ScrapeInterval) < shortest) {
			shortest = time.Duration(c.ScrapeInterval)
		}
	}
	if shortest > 0 {
		m.printf("\n")
		m.comment("  ", fmt.Sprintf("A target is scraped at most once per gather: keep the gather interval at or below the shortest scrape-interval (%s).", shortest))
		if shortest < telegrafInterval {
			m.printf("  interval = %q\n", shortest.String())
		}
	}

	fields := s.fields()
	for _, name := range append([]string{scraperSection}, discovery.KapacitorServices...) {
		field, ok := fields[name]
		if !ok {
			continue
		}
		for i, t := range s.tables[name] {
			m.printf("\n")
			if !field.Index(i).Interface().(discovery.Switchable).IsEnabled() {
				reason := s.leftOut[t]
				if reason == "" {
					reason = "it is disabled (enabled = false)"
				}
				m.comment("  ", fmt.Sprintf("%s (line %d) is left out: %s.", describe(name, t), t.Line, reason))
				if t == s.staticFor {
					m.staticLabels()
				}
				continue
			}
			m.printf("  ## %s, line %d.\n", describe(name, t), t.Line)
			m.table("  ", pluginTable+"."+name, t, true)
			if t == s.staticFor {
				m.staticLabels()
			}
		}
	}
	if s.staticLabels != nil && s.staticFor == nil {
		m.printf("\n")
		m.staticLabels()
	}
}

// staticLabels writes Kapacitor's [static.labels] quirk as a comment, with the table it was meant to be.
func (m *migration) staticLabels() {
	s := m.s
	m.comment("    ", fmt.Sprintf("%s line %d: %s.", filepath.Base(s.path), s.staticLabels.Line, s.staticLabelsNote()))
	if s.staticFor == nil || !s.Static[slices.Index(s.tables["static-discovery"], s.staticFor)].IsEnabled() {
		return
	}
	m.printf("    ## To apply them to this section, uncomment:\n")
	var b strings.Builder
	sub := &migration{s: s, out: &b}
	sub.table("", pluginTable+".static-discovery.labels", s.staticLabels, false)
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		m.printf("    # %s\n", line)
	}
}

// table writes a table's keys as written in the file, in the file's order, then its sub-tables.
func (m *migration) table(indent, name string, t *ast.Table, array bool) {
	if array {
		m.printf("%s[[%s]]\n", indent, name)
	} else {
		m.printf("%s[%s]\n", indent, name)
	}
	type entry struct {
		key   string
		line  int
		value any
	}
	var keys, tables []entry
	for key, v := range t.Fields {
		e := entry{key, lineOf(v), v}
		if _, ok := v.(*ast.KeyValue); ok {
			keys = append(keys, e)
		} else {
			tables = append(tables, e)
		}
	}
	byLine := func(a, b entry) int { return cmp.Or(cmp.Compare(a.line, b.line), strings.Compare(a.key, b.key)) }
	slices.SortFunc(keys, byLine)
	slices.SortFunc(tables, byLine)
	for _, e := range keys {
		m.printf("%s  %s = %s\n", indent, tomltext.Key(e.key), tomlValue(e.value.(*ast.KeyValue).Value))
	}
	for _, e := range tables {
		switch v := e.value.(type) {
		case *ast.Table:
			m.table(indent+"  ", name+"."+tomltext.Key(e.key), v, false)
		case []*ast.Table:
			for _, sub := range v {
				m.table(indent+"  ", name+"."+tomltext.Key(e.key), sub, true)
			}
		}
	}
}

// tomlValue writes a value as TOML, strings re-quoted so that Telegraf's environment-variable substitution
// leaves them as they were.
func tomlValue(v ast.Value) string {
	switch v := v.(type) {
	case *ast.String:
		return tomltext.String(strings.ReplaceAll(v.Value, "$", "$$"))
	case *ast.Array:
		items := make([]string, len(v.Value))
		for i, item := range v.Value {
			items[i] = tomlValue(item)
		}
		return "[" + strings.Join(items, ", ") + "]"
	default:
		return v.Source()
	}
}

// influxDB holds the keys of Kapacitor's [[influxdb]] that an InfluxDB output needs.
type influxDB struct {
	Enabled            *bool           `toml:"enabled"`
	Default            bool            `toml:"default"`
	Name               string          `toml:"name"`
	URLs               []string        `toml:"urls"`
	Username           string          `toml:"username"`
	Password           string          `toml:"password"`
	Timeout            config.Duration `toml:"timeout"`
	SSLCA              string          `toml:"ssl-ca"`
	SSLCert            string          `toml:"ssl-cert"`
	SSLKey             string          `toml:"ssl-key"`
	InsecureSkipVerify bool            `toml:"insecure-skip-verify"`

	line int
}

// influxDBs decodes the file's [[influxdb]] sections, ignoring the keys an output has no use for
// (subscriptions and the like).
func (s *Sections) influxDBs() ([]*influxDB, error) {
	value, ok := s.root.Fields["influxdb"]
	if !ok {
		return nil, nil
	}
	tables, err := arrayOfTables(value)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: influxdb: %w", s.path, lineOf(value), err)
	}
	lenient := toml.DefaultConfig
	lenient.MissingField = func(_ reflect.Type, _ string) error { return nil }
	var out []*influxDB
	for _, t := range tables {
		db := &influxDB{line: t.Line}
		if err := lenient.UnmarshalTable(t, db); err != nil {
			return nil, fmt.Errorf("%s: [[influxdb]]: %w", s.path, err)
		}
		out = append(out, db)
	}
	return out, nil
}

// output writes the [[outputs.influxdb]] that routes on db and rp, to the default enabled [[influxdb]].
func (m *migration) output() {
	m.printf("\n[[outputs.influxdb]]\n")
	dbs, err := m.s.influxDBs()
	if err != nil {
		m.comment("  ", fmt.Sprintf("The [[influxdb]] sections could not be read (%v).", err))
	}
	var chosen *influxDB
	var others []string
	for _, db := range dbs {
		if db.Enabled != nil && !*db.Enabled {
			continue
		}
		if chosen == nil || (db.Default && !chosen.Default) {
			if chosen != nil {
				others = append(others, fmt.Sprintf("%q (line %d)", chosen.Name, chosen.line))
			}
			chosen = db
		} else {
			others = append(others, fmt.Sprintf("%q (line %d)", db.Name, db.line))
		}
	}
	urls := []string{"http://localhost:8086"}
	if chosen == nil {
		m.comment("  ", "kapacitor.conf has no enabled [[influxdb]]: set the URL of the InfluxDB to write to.")
	} else {
		m.comment("  ", fmt.Sprintf("kapacitor.conf's [[influxdb]] %q, line %d.", chosen.Name, chosen.line))
		if len(chosen.URLs) > 0 {
			urls = chosen.URLs
		}
	}
	if len(others) > 0 {
		m.comment("  ", fmt.Sprintf("Other enabled [[influxdb]] sections, not carried over: %s; add an [[outputs.influxdb]] for each that should receive the metrics too.", strings.Join(others, ", ")))
	}
	quoted := make([]string, len(urls))
	for i, u := range urls {
		quoted[i] = tomltext.String(strings.ReplaceAll(u, "$", "$$"))
	}
	m.printf("  urls = [%s]\n", strings.Join(quoted, ", "))
	m.printf("  ## Each metric goes to its scraper's db and rp, which are not written as tags.\n")
	m.printf("  database_tag = \"db\"\n  retention_policy_tag = \"rp\"\n")
	m.printf("  exclude_database_tag = true\n  exclude_retention_policy_tag = true\n")
	if chosen != nil {
		for _, kv := range []struct{ key, value string }{
			{"username", chosen.Username}, {"password", chosen.Password},
			{"tls_ca", chosen.SSLCA}, {"tls_cert", chosen.SSLCert}, {"tls_key", chosen.SSLKey},
		} {
			if kv.value != "" {
				m.printf("  %s = %s\n", kv.key, tomltext.String(strings.ReplaceAll(kv.value, "$", "$$")))
			}
		}
		if chosen.InsecureSkipVerify {
			m.printf("  insecure_skip_verify = true\n")
		}
		if chosen.Timeout > 0 {
			m.printf("  timeout = %q\n", time.Duration(chosen.Timeout).String())
		}
	}
	m.printf("  ## If this Telegraf runs other inputs too, this keeps their metrics (which have no db tag) out:\n")
	m.printf("  # [outputs.influxdb.tagpass]\n  #   db = [\"*\"]\n")
}
