package telegrafconf

import (
	"cmp"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/toml/ast"

	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
	"github.com/discovering-prometheus/discovering-prometheus/internal/tomltext"
)

// pluginTable is the name of the plugin's table.
const pluginTable = "inputs.discovering_prometheus"

// defaultTimeout is the timeout of Telegraf's HTTP client when the table sets none.
const defaultTimeout = 5 * time.Second

// conversion turns one [[inputs.prometheus]] table into the plugin's table.
type conversion struct {
	path  string
	text  []rune
	table *ast.Table
	ids   *names
	// agentInterval is [agent] interval: how often the table is gathered unless it sets its own.
	agentInterval time.Duration

	warnings []string
	notes    []string // the warnings, as the new table's comments say them

	// The sections written: each scraper with its discoverer.
	sections []*section
	// The keys every scraper gets: credentials, TLS, timeouts, honor-timestamps, body-size-limit.
	scraperKeys []string
	// headerLines are the lines of every scraper's http-headers table.
	headerLines []string
}

// section is one scraper and the discoverer section that finds its targets.
type section struct {
	scraper    []string // key = value lines of the scraper, beyond name, db, rp and its discoverer
	query      string   // the URL's query: the scraper's params
	relabel    []rule
	service    string   // the discoverer's section name
	discoverer []string // its key = value lines, beyond id
	subTables  []subTable
}

// subTable is a sub-table of a discoverer section: its name under the section and its key = value lines.
type subTable struct {
	name  string
	array bool
	lines []string
}

// rule is one relabel rule, as key = value lines.
type rule []string

// keys of inputs.prometheus (and of the HTTP client configuration it embeds) that convert() handles; every
// other key of the table is one of Telegraf's plugin options (interval, namepass, tagexclude, ...), which
// stays on the plugin as it was.
var pluginKeys = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`urls bearer_token bearer_token_string username password http_headers
		content_length_limit content_type_override enable_request_metrics metric_version url_tag ignore_timestamp
		monitor_kubernetes_pods pod_scrape_scope node_ip pod_scrape_interval monitor_kubernetes_pods_namespace
		pod_namespace_label_name kubernetes_services kube_config kubernetes_label_selector kubernetes_field_selector
		monitor_kubernetes_pods_method monitor_kubernetes_pods_scheme monitor_kubernetes_pods_path
		monitor_kubernetes_pods_port namespace_annotation_pass namespace_annotation_drop pod_annotation_include
		pod_annotation_exclude pod_label_include pod_label_exclude cache_refresh_interval consul
		http_service_discovery timeout idle_conn_timeout max_idle_conn max_idle_conn_per_host response_timeout
		local_address use_system_proxy http_proxy_url client_id client_secret token_url audience scopes
		cookie_auth_url cookie_auth_method cookie_auth_headers cookie_auth_username cookie_auth_password
		cookie_auth_body cookie_auth_renewal tls_ca tls_cert tls_key tls_key_pwd tls_server_name
		insecure_skip_verify tls_min_version tls_max_version tls_cipher_suites tls_renegotiation_method tls_enable
		socks5_enabled socks5_address socks5_username socks5_password`) {
		pluginKeys[k] = true
	}
}

// lost names what has no equivalent, with its reason.
func (c *conversion) lost(key, reason string) { c.warn(key, "no equivalent", reason) }

// differs names what the migration does another way than inputs.prometheus, and how.
func (c *conversion) differs(key, how string) { c.warn(key, "done another way", how) }

func (c *conversion) warn(key, what, text string) {
	line := c.line(key)
	// The file's text, in a key or a reason, is written escaped: a comment holds no control character.
	key, text = safetext.Line(key, 1<<10), safetext.Line(text, 1<<12)
	c.warnings = append(c.warnings, fmt.Sprintf("%s:%d: inputs.prometheus %s: %s: %s", c.path, line, key, what, text))
	c.notes = append(c.notes, fmt.Sprintf("%s (line %d), %s: %s.", key, line, what, text))
}

// line is the 1-based line of a key of the table (or of the table, for "").
func (c *conversion) line(key string) int {
	if kv, ok := c.table.Fields[key].(*ast.KeyValue); ok {
		return lineOf(c.text, kv.Value.Pos()) + 1
	}
	if t, ok := c.table.Fields[key].(*ast.Table); ok {
		if t.Position.Begin > 0 {
			return lineOf(c.text, t.Position.Begin) + 1
		}
		if t.Line > 0 { // an inline table
			return t.Line
		}
	}
	return lineOf(c.text, c.table.Position.Begin) + 1
}

func value(t *ast.Table, key string) ast.Value {
	if kv, ok := t.Fields[key].(*ast.KeyValue); ok {
		return kv.Value
	}
	return nil
}

// raw is a key's value as written, for the key of another name; "" when the table lacks it.
func raw(t *ast.Table, key string) string {
	if v := value(t, key); v != nil {
		return v.Source()
	}
	return ""
}

// str is a key's string value, as written (variables unexpanded), and whether it is a string.
func str(t *ast.Table, key string) (string, bool) {
	s, ok := value(t, key).(*ast.String)
	if !ok {
		return "", false
	}
	return s.Value, true
}

// strs is a key's array of strings.
func strs(t *ast.Table, key string) []string {
	a, ok := value(t, key).(*ast.Array)
	if !ok {
		return nil
	}
	var out []string
	for _, v := range a.Value {
		if s, ok := v.(*ast.String); ok {
			out = append(out, s.Value)
		}
	}
	return out
}

func boolean(t *ast.Table, key string) bool {
	b, ok := value(t, key).(*ast.Boolean)
	if !ok {
		return false
	}
	v, _ := b.Boolean()
	return v
}

func (c *conversion) convert(comments []string) string {
	t := c.table
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	version := "prometheus-v1"
	if v, ok := value(t, "metric_version").(*ast.Integer); ok {
		switch n, _ := v.Int(); n {
		case 0, 1:
		case 2:
			version = "prometheus-v2"
		default:
			c.lost("metric_version", fmt.Sprintf("%d is not a version inputs.prometheus has; prometheus-v1 is written, as it writes", n))
		}
	}
	c.client()
	c.urls()
	c.services()
	c.pods()
	c.consul()
	c.httpSD()
	c.headers()
	c.unsupported()
	keys, tables := c.modifiers()

	p("[[%s]]\n", pluginTable)
	p("  ## Migrated from [[inputs.prometheus]] (%s, line %d) by discovering-prometheus -migrate-telegraf.\n", c.path, c.line(""))
	p("  ## The same points, but for the differences the plugin's README lists (\"Migrating from inputs.prometheus\").\n")
	for _, n := range c.notes {
		writeComment(&b, "  ", n)
	}
	if len(comments) > 0 {
		p("  ## The comments of the [[inputs.prometheus]] table:\n")
		for _, l := range comments {
			p("  %s\n", l)
		}
	}
	p("  metric_format = %q\n", version)
	p("  ## inputs.prometheus scrapes every target at each gather; the scrapers scrape a target at most once per\n")
	p("  ## scrape-interval, which is its timeout (at most the gather interval): keep the interval at or above it.\n")
	for _, kv := range keys {
		p("  %s\n", kv)
	}
	p("  ## The plugin tags every metric with its scraper's db and rp, which inputs.prometheus does not.\n")
	p("  tagexclude = %s\n", c.tagexclude())
	for _, s := range tables {
		b.WriteString(s)
	}
	for _, s := range c.sections {
		b.WriteString(s.write(c))
	}
	return b.String()
}

// telegrafOptions are the keys and tables Telegraf reads on every input plugin (its config package's
// buildInput and buildFilter, and addInput's id and labels): they stay on the plugin as they were.
var telegrafOptions = strings.Fields(`alias collection_jitter collection_offset interval log_level name_override
	name_prefix name_suffix precision startup_error_behavior time_source tags id labels fielddrop fieldexclude
	fieldinclude fieldpass metricpass namedrop namedrop_separator namepass namepass_separator tagdrop
	taginclude tagpass`)

// modifiers are Telegraf's options of the table, written as they were. Any other key unknown to
// inputs.prometheus, which Telegraf would refuse, is listed.
func (c *conversion) modifiers() (keys, tables []string) {
	type entry struct {
		key string
		pos int
		v   any
	}
	var entries []entry
	for k, v := range c.table.Fields {
		if pluginKeys[k] || k == "tagexclude" {
			continue
		}
		if !slices.Contains(telegrafOptions, k) {
			c.lost(k, "not a key of inputs.prometheus nor an option of Telegraf's plugins; it is left out")
			continue
		}
		switch v := v.(type) {
		case *ast.KeyValue:
			entries = append(entries, entry{k, v.Value.Pos(), v})
		case *ast.Table:
			entries = append(entries, entry{k, v.Position.Begin, v})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.pos, b.pos) })
	for _, e := range entries {
		switch v := e.v.(type) {
		case *ast.KeyValue:
			keys = append(keys, tomltext.Key(e.key)+" = "+v.Value.Source())
		case *ast.Table:
			tables = append(tables, copyTable("", pluginTable+"."+tomltext.Key(e.key), v))
		}
	}
	return keys, tables
}

// copyTable writes a table of key = value lines under another name, values as written.
func copyTable(indent, name string, t *ast.Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s[%s]\n", indent, name)
	for _, kv := range keyValues(t) {
		fmt.Fprintf(&b, "  %s  %s = %s\n", indent, tomltext.Key(kv.Key), kv.Value.Source())
	}
	return b.String()
}

// keyValues are the key = value fields of a table, in the order of the file.
func keyValues(t *ast.Table) []*ast.KeyValue {
	var keys []*ast.KeyValue
	for _, v := range t.Fields {
		if kv, ok := v.(*ast.KeyValue); ok {
			keys = append(keys, kv)
		}
	}
	slices.SortFunc(keys, func(a, b *ast.KeyValue) int { return cmp.Compare(a.Value.Pos(), b.Value.Pos()) })
	return keys
}

// tagexclude is the table's tagexclude with db and rp added, and url when url_tag is not "url".
func (c *conversion) tagexclude() string {
	var items []string
	if a, ok := value(c.table, "tagexclude").(*ast.Array); ok {
		for _, v := range a.Value {
			items = append(items, v.Source())
		}
	}
	items = append(items, `"db"`, `"rp"`)
	if tag, ok := str(c.table, "url_tag"); ok && tag != "url" {
		items = append(items, `"url"`)
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// client turns the HTTP client's keys into every scraper's keys.
func (c *conversion) client() {
	t := c.table
	for _, k := range [][2]string{
		{"bearer_token", "bearer-token-file"}, {"bearer_token_string", "bearer-token"},
		{"username", "username"}, {"password", "password"},
		{"tls_ca", "ssl-ca"}, {"tls_cert", "ssl-cert"}, {"tls_key", "ssl-key"},
		{"tls_server_name", "ssl-server-name"}, {"insecure_skip_verify", "insecure-skip-verify"},
		{"content_length_limit", "body-size-limit"}, {"http_proxy_url", "proxy-url"},
	} {
		if v := raw(t, k[0]); v != "" {
			c.scraperKeys = append(c.scraperKeys, k[1]+" = "+v)
		}
	}
	if raw(t, "bearer_token") != "" && raw(t, "bearer_token_string") != "" {
		c.lost("bearer_token_string", "inputs.prometheus sends bearer_token's file and ignores it; the scraper takes only one, so it is left out")
		c.scraperKeys = slices.DeleteFunc(c.scraperKeys, func(s string) bool { return strings.HasPrefix(s, "bearer-token =") })
	}
	if (raw(t, "bearer_token") != "" || raw(t, "bearer_token_string") != "") && (raw(t, "username") != "" || raw(t, "password") != "") {
		c.lost("username", "inputs.prometheus sends the bearer token and ignores username and password; the scraper takes one, so they are left out")
		c.scraperKeys = slices.DeleteFunc(c.scraperKeys, func(s string) bool {
			return strings.HasPrefix(s, "username =") || strings.HasPrefix(s, "password =")
		})
	}
	if boolean(t, "ignore_timestamp") {
		c.scraperKeys = append(c.scraperKeys, "honor-timestamps = false")
	}
	timeout := defaultTimeout
	if s, ok := str(t, "timeout"); ok {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			timeout = d
		} else {
			c.lost("timeout", fmt.Sprintf("%q is not a duration the migration can read; the scrapers keep the default, %s", s, defaultTimeout))
		}
	}
	// A target is scraped at most once per scrape-interval: at most the gather interval, so that every gather
	// scrapes it, as inputs.prometheus does.
	gather := c.agentInterval
	if s, ok := str(t, "interval"); ok {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			gather = d
		}
	}
	if gather < timeout {
		c.differs("timeout", fmt.Sprintf("a scrape may take at most the gather interval, %s, where inputs.prometheus waited up to %s", gather, timeout))
		timeout = gather
	}
	interval := timeout.String()
	c.scraperKeys = append(c.scraperKeys, fmt.Sprintf("scrape-interval = %q", interval), fmt.Sprintf("scrape-timeout = %q", interval))
}

// unsupported lists the keys that have no equivalent.
func (c *conversion) unsupported() {
	for _, k := range []struct{ key, reason string }{
		{"content_type_override", "the scrapers read the format the target says it answers in"},
		{"enable_request_metrics", "there is no prometheus_request metric; scrape_duration_seconds and up are written for every target"},
		{"response_timeout", "no separate limit on the response's headers: scrape-timeout bounds the whole scrape"},
		{"idle_conn_timeout", "Prometheus' HTTP client keeps its own idle connections"},
		{"max_idle_conn", "Prometheus' HTTP client keeps its own idle connections"},
		{"max_idle_conn_per_host", "Prometheus' HTTP client keeps its own idle connections"},
		{"local_address", "the scrapers do not bind a local address"},
		{"use_system_proxy", "set proxy-url on the scrapers, or HTTP_PROXY for the process"},
		{"namespace_annotation_pass", "no filter on a namespace's annotations"},
		{"namespace_annotation_drop", "no filter on a namespace's annotations"},
		{"cache_refresh_interval", "not needed: the kubernetes discoverer watches the pods"},
		{"tls_key_pwd", "the scrapers read unencrypted keys only"},
		{"tls_min_version", "the scrapers use Go's default TLS versions"},
		{"tls_max_version", "the scrapers use Go's default TLS versions"},
		{"tls_cipher_suites", "the scrapers use Go's default cipher suites"},
		{"tls_renegotiation_method", "the scrapers never renegotiate"},
		{"tls_enable", "TLS follows the URL's scheme"},
		{"socks5_enabled", "no SOCKS5 proxy"}, {"socks5_address", "no SOCKS5 proxy"},
		{"socks5_username", "no SOCKS5 proxy"}, {"socks5_password", "no SOCKS5 proxy"},
		{"client_id", "no OAuth2 on the scrapers; a job of a prometheus_config file has oauth2"},
		{"client_secret", "no OAuth2 on the scrapers"}, {"token_url", "no OAuth2 on the scrapers"},
		{"audience", "no OAuth2 on the scrapers"}, {"scopes", "no OAuth2 on the scrapers"},
		{"cookie_auth_url", "no cookie authentication"}, {"cookie_auth_method", "no cookie authentication"},
		{"cookie_auth_headers", "no cookie authentication"}, {"cookie_auth_username", "no cookie authentication"},
		{"cookie_auth_password", "no cookie authentication"}, {"cookie_auth_body", "no cookie authentication"},
		{"cookie_auth_renewal", "no cookie authentication"},
	} {
		if _, ok := c.table.Fields[k.key]; ok {
			c.lost(k.key, k.reason)
		}
	}
	if tag, ok := str(c.table, "url_tag"); ok && tag != "url" && tag != "" && !validLabel.MatchString(tag) {
		c.lost("url_tag", fmt.Sprintf("%q is not a label name (letters, digits and _): the URL is not tagged", tag))
	}
}

// add adds a scraper with its discoverer.
func (c *conversion) add(s *section) { c.sections = append(c.sections, s) }

func (s *section) write(c *conversion) string {
	name := c.ids.next()
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("  [[%s.scraper]]\n", pluginTable)
	p("    name = %q\n    db = \"prometheus\"\n    rp = \"autogen\"\n", name)
	p("    discoverer-service = %q\n    discoverer-id = %q\n", s.service, name)
	for _, l := range append(slices.Clone(c.scraperKeys), s.scraper...) {
		p("    %s\n", l)
	}
	if s.query != "" {
		p("    [%s.scraper.params]\n%s", pluginTable, params(s.query))
	}
	if len(c.headerLines) > 0 {
		p("    [%s.scraper.http-headers]\n", pluginTable)
		for _, l := range c.headerLines {
			p("      %s\n", l)
		}
	}
	relabel := s.relabel
	if tag, ok := str(c.table, "url_tag"); ok && tag != "url" && tag != "" {
		// The URL scraped, as the url tag has it, under the other name.
		url := "${1}://${2}${3}"
		if s.query != "" {
			url += "?" + sortedQuery(s.query)
		}
		relabel = append(slices.Clone(relabel), rule{
			`source-labels = ["__scheme__", "__address__", "__metrics_path__"]`, "separator = " + q(separator),
			"regex = " + q("(.*)"+separator+"(.*)"+separator+"(.*)"), "target-label = " + q(tag), "replacement = " + q(url),
		})
	}
	for _, r := range relabel {
		p("    [[%s.scraper.relabel-configs]]\n", pluginTable)
		for _, l := range r {
			p("      %s\n", l)
		}
	}
	p("  [[%s.%s]]\n    id = %q\n", pluginTable, s.service, name)
	for _, l := range s.discoverer {
		p("    %s\n", l)
	}
	for _, sub := range s.subTables {
		if sub.array {
			p("    [[%s.%s.%s]]\n", pluginTable, s.service, sub.name)
		} else {
			p("    [%s.%s.%s]\n", pluginTable, s.service, sub.name)
		}
		for _, l := range sub.lines {
			p("      %s\n", l)
		}
	}
	return b.String()
}

// writeComment writes text as ## lines of at most about 110 characters.
func writeComment(b *strings.Builder, indent, text string) {
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(indent)+len(line)+1+len(word) > 110 {
			fmt.Fprintf(b, "%s%s\n", indent, line)
			line = ""
		}
		if line == "" {
			line = "## " + word
		} else {
			line += " " + word
		}
	}
	if line != "" {
		fmt.Fprintf(b, "%s%s\n", indent, line)
	}
}

// q quotes a string that the migration makes up or takes from a value as written: Telegraf substitutes its
// variables when it loads the file, as it did in the original table.
func q(s string) string { return tomltext.String(s) }

// replace is a relabel rule that sets target to replacement, from the source labels when they match regex.
func replace(target, replacement string, regex string, sources ...string) rule {
	r := rule{}
	if len(sources) > 0 {
		quoted := make([]string, len(sources))
		for i, s := range sources {
			quoted[i] = q(s)
		}
		r = append(r, "source-labels = ["+strings.Join(quoted, ", ")+"]")
	}
	if regex != "" {
		r = append(r, "regex = "+q(regex))
	}
	return append(r, "target-label = "+q(target), "replacement = "+q(replacement))
}

// urlParts splits a URL as written, variables included, into scheme, host, path and query.
var urlParts = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/?#]*@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$`)

// defaultPort is the port of a scheme, for a URL without one.
func defaultPort(scheme string) int {
	if strings.EqualFold(scheme, "https") {
		return 443
	}
	return 80
}

// params writes a URL's query as the lines of a params table, in its order; "" when it has none.
func params(query string) string {
	if query == "" {
		return ""
	}
	var order []string
	values := map[string][]string{}
	for _, pair := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if _, ok := values[k]; !ok {
			order = append(order, k)
		}
		values[k] = append(values[k], v)
	}
	var b strings.Builder
	for _, k := range order {
		quoted := make([]string, len(values[k]))
		for i, v := range values[k] {
			quoted[i] = q(unescape(v))
		}
		fmt.Fprintf(&b, "      %s = [%s]\n", tomltext.Key(unescape(k)), strings.Join(quoted, ", "))
	}
	return b.String()
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
