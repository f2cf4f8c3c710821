package telegrafconf

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/influxdata/toml/ast"

	"github.com/discovering-prometheus/discovering-prometheus/internal/tomltext"
)

// consulFields are the labels of Prometheus' consul discovery that hold the fields of Consul's
// CatalogService, which inputs.prometheus' URL and tag templates read.
var consulFields = map[string]string{
	"Node":           "__meta_consul_node",
	"Address":        "__meta_consul_address",
	"Datacenter":     "__meta_consul_dc",
	"ServiceID":      "__meta_consul_service_id",
	"ServiceName":    "__meta_consul_service",
	"ServiceAddress": "__meta_consul_service_address",
	"ServicePort":    "__meta_consul_service_port",
}

// consulMaps are the labels of the map fields of a CatalogService, by key.
var consulMaps = map[string]string{
	"ServiceMeta":     "__meta_consul_service_metadata_",
	"NodeMeta":        "__meta_consul_metadata_",
	"TaggedAddresses": "__meta_consul_tagged_address_",
}

// separator joins the source labels of the migration's rules: a byte no label value of a URL holds.
const separator = "\x1f"

// consul turns each query of the consul table into a consul section, and its URL and tag templates into
// relabel rules.
func (c *conversion) consul() {
	t, ok := c.table.Fields["consul"].(*ast.Table)
	if !ok || !boolean(t, "enabled") {
		return
	}
	agent, _ := str(t, "agent")
	scheme := ""
	if s, rest, ok := strings.Cut(agent, "://"); ok {
		scheme, agent = s, rest
	}
	if agent == "" {
		agent = "127.0.0.1:8500"
	}
	if value(t, "query_interval") != nil {
		c.differs("consul", "query_interval is not needed: the consul discoverer watches the catalog with blocking queries")
	}
	queries, _ := t.Fields["query"].([]*ast.Table)
	for _, query := range queries {
		c.consulQuery(query, agent, scheme)
	}
}

func (c *conversion) consulQuery(query *ast.Table, agent, scheme string) {
	name, _ := str(query, "name")
	s := &section{service: "consul", discoverer: []string{"address = " + q(agent), "services = [" + q(name) + "]"}}
	if scheme != "" {
		s.discoverer = append(s.discoverer, "scheme = "+q(scheme))
	}
	if tag, _ := str(query, "tag"); tag != "" {
		s.discoverer = append(s.discoverer, "tags = ["+q(tag)+"]")
	}
	if dc, _ := str(query, "dc"); dc != "" {
		s.discoverer = append(s.discoverer, "datacenter = "+q(dc))
	}
	r := &renderer{c: c, key: fmt.Sprintf("consul.query %q url", name)}
	rawURL, _ := str(query, "url")
	query2 := ""
	if i := strings.LastIndex(rawURL, "?"); i >= 0 && !strings.Contains(rawURL[i:], "{{") {
		rawURL, query2 = rawURL[:i], rawURL[i+1:]
	}
	if !r.render("__tmp_url", rawURL) {
		return
	}
	r.rules = append(r.rules,
		replace("__scheme__", "$1", `([^:]+)://.*`, "__tmp_url"),
		replace("__address__", "$1", `[^:]+://([^/?#]*).*`, "__tmp_url"),
		replace("__metrics_path__", "/metrics", ""),
		replace("__metrics_path__", "$1", `[^:]+://[^/?#]*(/[^?#]*)`, "__tmp_url"))
	if tags, ok := query.Fields["tags"].(*ast.Table); ok {
		for tag := range tags.Fields {
			text, _ := str(tags, tag)
			if !validLabel.MatchString(tag) {
				c.lost("consul", fmt.Sprintf("the tag %q of query %q: a label name has only letters, digits and _", tag, name))
				continue
			}
			r.key = fmt.Sprintf("consul.query %q tags.%s", name, tag)
			r.render(tag, text)
		}
	}
	if r.tagSeparator != "" {
		s.discoverer = append(s.discoverer, "tag-separator = "+q(r.tagSeparator))
	}
	s.relabel, s.query = r.rules, query2
	c.add(s)
}

var validLabel = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// renderer writes relabel rules that give a label the value a Go template gives for a CatalogService.
type renderer struct {
	c            *conversion
	key          string
	rules        []rule
	tmp          int
	tagSeparator string
}

// part is a piece of a template's text: a literal, or a label's value.
type part struct{ literal, label string }

// render adds the rules that set target to what text gives; false, with the reason listed, when it cannot.
func (r *renderer) render(target, text string) bool {
	tmpl, err := template.New("t").Funcs(template.FuncMap{"join": strings.Join}).Parse(text)
	if err != nil {
		r.c.lost("consul", fmt.Sprintf("%s: %v", r.key, err))
		return false
	}
	parts, err := r.parts(tmpl.Root)
	if err != nil {
		r.c.lost("consul", fmt.Sprintf("%s: %q: %v; it is left out", r.key, text, err))
		return false
	}
	r.rules = append(r.rules, concat(target, parts, nil))
	return true
}

// concat is the rule that sets target to the parts' values, when the labels in when are not empty.
func concat(target string, parts []part, when []string) rule {
	sources := slices.Clone(when)
	var regex, replacement strings.Builder
	n := 0
	for range when {
		if n > 0 {
			regex.WriteString(regexp.QuoteMeta(separator))
		}
		regex.WriteString(".+")
		n++
	}
	group := 0
	for _, p := range parts {
		if p.label == "" {
			replacement.WriteString(p.literal)
			continue
		}
		if n > 0 {
			regex.WriteString(regexp.QuoteMeta(separator))
		}
		regex.WriteString("(.*)")
		n++
		group++
		sources = append(sources, p.label)
		fmt.Fprintf(&replacement, "${%d}", group)
	}
	if len(sources) == 0 {
		return rule{"target-label = " + q(target), "replacement = " + q(replacement.String())}
	}
	r := rule{"source-labels = " + labels(sources), "separator = " + q(separator), "regex = " + q(regex.String())}
	return append(r, "target-label = "+q(target), "replacement = "+q(replacement.String()))
}

func labels(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = tomltext.String(n)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// parts turns a template's nodes into parts, writing the rules of its conditions.
func (r *renderer) parts(list *parse.ListNode) ([]part, error) {
	if list == nil {
		return nil, nil
	}
	var out []part
	for _, node := range list.Nodes {
		switch n := node.(type) {
		case *parse.TextNode:
			if strings.Contains(string(n.Text), "$") {
				return nil, fmt.Errorf("a $ in its text")
			}
			out = append(out, part{literal: string(n.Text)})
		case *parse.ActionNode:
			label, err := r.pipe(n.Pipe)
			if err != nil {
				return nil, err
			}
			out = append(out, part{label: label})
		case *parse.IfNode:
			label, err := r.ifNode(n)
			if err != nil {
				return nil, err
			}
			out = append(out, part{label: label})
		default:
			return nil, fmt.Errorf("%s is not translated (only fields, join .ServiceTags and if/else are)", node)
		}
	}
	return out, nil
}

// ifNode writes the rules of {{if}}...{{else}}...{{end}} into a label of its own, and returns its name.
func (r *renderer) ifNode(n *parse.IfNode) (string, error) {
	cond, err := r.condition(n.Pipe)
	if err != nil {
		return "", err
	}
	then, err := r.parts(n.List)
	if err != nil {
		return "", err
	}
	otherwise, err := r.parts(n.ElseList)
	if err != nil {
		return "", err
	}
	r.tmp++
	label := fmt.Sprintf("__tmp_template_%d", r.tmp)
	r.rules = append(r.rules, concat(label, otherwise, nil), concat(label, then, []string{cond}))
	return label, nil
}

// condition is the label whose value is not empty when an {{if}}'s pipeline is true: a field, or
// ne FIELD "".
func (r *renderer) condition(p *parse.PipeNode) (string, error) {
	if len(p.Cmds) == 1 && len(p.Cmds[0].Args) == 3 {
		args := p.Cmds[0].Args
		if fn, ok := args[0].(*parse.IdentifierNode); ok && fn.Ident == "ne" {
			if s, ok := args[2].(*parse.StringNode); ok && s.Text == "" {
				return r.field(args[1])
			}
		}
	}
	if len(p.Cmds) == 1 && len(p.Cmds[0].Args) == 1 {
		return r.field(p.Cmds[0].Args[0])
	}
	return "", fmt.Errorf("the condition %s is not translated (only a field or ne FIELD \"\" are)", p)
}

// pipe is the label that holds what an action writes: a field, or join .ServiceTags SEP.
func (r *renderer) pipe(p *parse.PipeNode) (string, error) {
	if len(p.Decl) == 0 && len(p.Cmds) == 1 {
		args := p.Cmds[0].Args
		if len(args) == 1 {
			return r.field(args[0])
		}
		if fn, ok := args[0].(*parse.IdentifierNode); ok && fn.Ident == "join" && len(args) == 3 {
			f, fok := args[1].(*parse.FieldNode)
			sep, sok := args[2].(*parse.StringNode)
			if fok && sok && len(f.Ident) == 1 && f.Ident[0] == "ServiceTags" && sep.Text != "" {
				if r.tagSeparator != "" && r.tagSeparator != sep.Text {
					return "", fmt.Errorf("the tags joined by %q and by %q", r.tagSeparator, sep.Text)
				}
				r.tagSeparator = sep.Text
				r.tmp++
				label := fmt.Sprintf("__tmp_template_%d", r.tmp)
				quoted := regexp.QuoteMeta(sep.Text)
				r.rules = append(r.rules, replace(label, "$1", quoted+"(.*)"+quoted, "__meta_consul_tags"))
				return label, nil
			}
		}
	}
	return "", fmt.Errorf("the action {{%s}} is not translated (only fields and join .ServiceTags \"SEP\" are)", p)
}

// field is the label of a field of CatalogService.
func (r *renderer) field(n parse.Node) (string, error) {
	f, ok := n.(*parse.FieldNode)
	if ok && len(f.Ident) == 1 && consulFields[f.Ident[0]] != "" {
		return consulFields[f.Ident[0]], nil
	}
	if ok && len(f.Ident) == 2 && consulMaps[f.Ident[0]] != "" {
		return consulMaps[f.Ident[0]] + invalidLabelChar.ReplaceAllString(f.Ident[1], "_"), nil
	}
	return "", fmt.Errorf("%s is not a field the consul discoverer has", n)
}
