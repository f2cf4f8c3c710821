// Package telegrafconf turns the [[inputs.prometheus]] tables of a telegraf.conf into equivalent
// [[inputs.discovering_prometheus]] tables (the runner's -migrate-telegraf), leaving the rest of the file as
// it was.
package telegrafconf

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/toml"
	"github.com/influxdata/toml/ast"

	"github.com/discovering-prometheus/discovering-prometheus/internal/conffile"
)

// Migrate writes the telegraf.conf at path with every [[inputs.prometheus]] table replaced by an equivalent
// [[inputs.discovering_prometheus]] table; every other line is written as it was, comments included. The
// file is parsed as Telegraf's loader parses it, before it substitutes environment variables, so that a
// value is written back as it was written (${VAR} and @{store:secret} keep their meaning). What has no
// equivalent is returned as warnings, each naming the file, line and key, and said in ## comments of the
// new table.
func Migrate(w io.Writer, path string) ([]string, error) {
	data, err := conffile.ReadTOML(path, true)
	if err != nil {
		return nil, err
	}
	root, err := toml.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tables, err := prometheusTables(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	text := []rune(string(data))
	lines := strings.SplitAfter(string(text), "\n")
	headers := tableLines(text, root)

	var out strings.Builder
	var warnings []string
	next := 0 // the first line (0-based) not yet written
	ids := &names{}
	for _, t := range tables {
		first, last := span(text, t)
		if !prometheusHeader.MatchString(lines[first]) {
			return nil, fmt.Errorf("%s:%d: inputs.prometheus has no [[inputs.prometheus]] header of its own here: write one", path, first+1)
		}
		for _, h := range headers {
			if h.line > first && h.line <= last && !descends(h.table, t) {
				return nil, fmt.Errorf("%s:%d: [%s] lies inside the [[inputs.prometheus]] table of line %d, whose sub-tables follow it: move it after them", path, h.line+1, h.table.Name, first+1)
			}
		}
		for ; next < first; next++ {
			out.WriteString(lines[next])
		}
		c := &conversion{path: path, text: text, table: t, ids: ids, agentInterval: agentInterval(root)}
		var kept []string
		for _, l := range lines[first : last+1] {
			if trimmed := strings.TrimSpace(l); strings.HasPrefix(trimmed, "#") {
				kept = append(kept, trimmed)
			}
		}
		out.WriteString(c.convert(kept))
		warnings = append(warnings, c.warnings...)
		next = last + 1
	}
	for ; next < len(lines); next++ {
		out.WriteString(lines[next])
	}
	_, err = io.WriteString(w, out.String())
	return warnings, err
}

// prometheusHeader matches the header line of an [[inputs.prometheus]] table.
var prometheusHeader = regexp.MustCompile(`^\s*\[\[?\s*("inputs"|'inputs'|inputs)\s*\.\s*("prometheus"|'prometheus'|prometheus)\s*\]`)

// prometheusTables are the [[inputs.prometheus]] tables, in the file's order.
func prometheusTables(root *ast.Table) ([]*ast.Table, error) {
	inputs, ok := root.Fields["inputs"]
	if !ok {
		return nil, nil
	}
	it, ok := inputs.(*ast.Table)
	if !ok {
		return nil, fmt.Errorf("inputs is not a table")
	}
	switch v := it.Fields["prometheus"].(type) {
	case nil:
		return nil, nil
	case []*ast.Table:
		return v, nil
	case *ast.Table:
		return []*ast.Table{v}, nil
	default:
		return nil, fmt.Errorf("inputs.prometheus is not a table")
	}
}

type header struct {
	line  int // 0-based
	table *ast.Table
}

// tableLines lists every table of the file with the line of its header.
func tableLines(text []rune, root *ast.Table) []header {
	var out []header
	var walk func(t *ast.Table)
	walk = func(t *ast.Table) {
		for _, v := range t.Fields {
			switch v := v.(type) {
			case *ast.Table:
				out = append(out, header{lineOf(text, v.Position.Begin), v})
				walk(v)
			case []*ast.Table:
				for _, sub := range v {
					out = append(out, header{lineOf(text, sub.Position.Begin), sub})
					walk(sub)
				}
			}
		}
	}
	walk(root)
	return out
}

// descends tells whether sub is t or one of its sub-tables.
func descends(sub, t *ast.Table) bool {
	if sub == t {
		return true
	}
	for _, v := range t.Fields {
		switch v := v.(type) {
		case *ast.Table:
			if descends(sub, v) {
				return true
			}
		case []*ast.Table:
			if slices.ContainsFunc(v, func(s *ast.Table) bool { return descends(sub, s) }) {
				return true
			}
		}
	}
	return false
}

// span is the first and last line (0-based) of a table with its sub-tables.
func span(text []rune, t *ast.Table) (first, last int) {
	end := t.Position.End
	var walk func(t *ast.Table)
	walk = func(t *ast.Table) {
		end = max(end, t.Position.End)
		for _, v := range t.Fields {
			switch v := v.(type) {
			case *ast.KeyValue:
				end = max(end, v.Value.End())
			case *ast.Table:
				walk(v)
			case []*ast.Table:
				for _, s := range v {
					walk(s)
				}
			}
		}
	}
	walk(t)
	return lineOf(text, t.Position.Begin), lineOf(text, max(end-1, t.Position.Begin))
}

// lineOf is the 0-based line of a rune offset.
func lineOf(text []rune, offset int) int {
	return strings.Count(string(text[:min(offset, len(text))]), "\n")
}

// names hands out the scraper names and discoverer ids of the migrated tables, unique in the file.
type names struct{ n int }

func (n *names) next() string {
	n.n++
	return fmt.Sprintf("prometheus-%d", n.n)
}

// agentInterval is [agent] interval, Telegraf's default (10s) when it is not a duration the migration can read.
func agentInterval(root *ast.Table) time.Duration {
	if agent, ok := root.Fields["agent"].(*ast.Table); ok {
		if s, ok := str(agent, "interval"); ok {
			if d, err := time.ParseDuration(s); err == nil && d > 0 {
				return d
			}
		}
	}
	return 10 * time.Second
}
