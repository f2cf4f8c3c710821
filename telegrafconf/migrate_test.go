package telegrafconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/influxdata/toml"
	"github.com/influxdata/toml/ast"
	"github.com/stretchr/testify/require"
)

func writeConf(t testing.TB, conf string) string {
	path := filepath.Join(t.TempDir(), "telegraf.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	return path
}

func migrate(t *testing.T, conf string) (string, []string) {
	t.Helper()
	var out strings.Builder
	warnings, err := Migrate(&out, writeConf(t, conf))
	require.NoError(t, err)
	return out.String(), warnings
}

// plugins parses the migrated file and returns its plugin tables.
func plugins(t *testing.T, migrated string) []*ast.Table {
	t.Helper()
	root, err := toml.Parse([]byte(migrated))
	require.NoError(t, err, migrated)
	inputs, ok := root.Fields["inputs"].(*ast.Table)
	require.True(t, ok, migrated)
	require.NotContains(t, inputs.Fields, "prometheus")
	return inputs.Fields["discovering_prometheus"].([]*ast.Table)
}

// Every line outside the [[inputs.prometheus]] tables is written as it was, comments and blank lines
// included; inside them, the comment lines are kept at the top of the new table.
func TestMigrateKeepsTheRestOfTheFile(t *testing.T) {
	before := "# My Telegraf.\n[agent]\n  interval = \"10s\" # every ten seconds\n\n# The node.\n"
	between := "\n# Out.\n[[outputs.file]]\n  files = [\"stdout\"]\n\n"
	after := "\n[[inputs.cpu]]\n  percpu = false\n"
	conf := before + "[[inputs.prometheus]]\n  ## The exporter.\n  urls = [\"http://localhost:9100/metrics\"] # it\n" +
		between + "[[inputs.prometheus]]\n  urls = [\"http://localhost:9101/metrics\"]\n  [inputs.prometheus.tags]\n    a = \"b\"\n" + after
	migrated, warnings := migrate(t, conf)
	require.Empty(t, warnings)
	require.True(t, strings.HasPrefix(migrated, before+"[[inputs.discovering_prometheus]]\n"), migrated)
	require.True(t, strings.HasSuffix(migrated, after), migrated)
	require.Contains(t, migrated, "  ## The exporter.\n")
	first, second, _ := strings.Cut(migrated, between)
	require.Contains(t, first, `targets = ["localhost:9100"]`)
	require.Contains(t, second, `targets = ["localhost:9101"]`)
	require.Contains(t, second, "  [inputs.discovering_prometheus.tags]\n    a = \"b\"\n")
	require.Len(t, plugins(t, migrated), 2)
}

// A value is written back as it was written, so that Telegraf expands ${VAR} and reads @{store:secret}
// in the migrated file as in the original; values the migration combines keep them too.
func TestMigrateKeepsVariablesAndSecrets(t *testing.T) {
	migrated, warnings := migrate(t, `
[[inputs.prometheus]]
  urls = ["https://${HOST}:9100/${PATH}"]
  bearer_token_string = "@{vault:token}"
  username = "${USER}"
  password = "@{vault:password}"
  tls_ca = "${CA}"
  monitor_kubernetes_pods = true
  kube_config = "${HOME}/.kube/config"
  kubernetes_field_selector = "spec.nodeName=${NODE}"
`)
	require.Len(t, warnings, 1) // bearer token and basic auth: inputs.prometheus sends the token only
	require.Contains(t, warnings[0], `:5: inputs.prometheus username: no equivalent: inputs.prometheus sends the bearer token`)
	for _, want := range []string{
		`targets = ["${HOST}:9100"]`, `metrics-path = "/${PATH}"`, `bearer-token = "@{vault:token}"`,
		`ssl-ca = "${CA}"`, `kubeconfig-file = "${HOME}/.kube/config"`, `field = "spec.nodeName=${NODE}"`,
	} {
		require.Contains(t, migrated, want)
	}
	require.NotContains(t, migrated, "username =")
	require.NotContains(t, migrated, "$$")
}

// Every key without an equivalent is a warning naming the file, line and key, and a comment of the new
// table; Telegraf's own plugin options stay as they were.
func TestMigrateListsWhatHasNoEquivalent(t *testing.T) {
	path := writeConf(t, `[[inputs.prometheus]]
  urls = ["http://localhost:9100/metrics", "unix:///run/exporter.sock"]
  response_timeout = "3s"
  content_type_override = "text"
  enable_request_metrics = true
  url_tag = "a.b"
  namespace_annotation_pass = {team = ["a"]}
  tls_min_version = "TLS13"
  metric_version = 3
  name_prefix = "prom_"
  interval = "30s"
  [inputs.prometheus.tagpass]
    code = ["200"]
`)
	var out strings.Builder
	warnings, err := Migrate(&out, path)
	require.NoError(t, err)
	for _, key := range []string{"urls", "response_timeout", "content_type_override",
		"enable_request_metrics", "url_tag", "namespace_annotation_pass", "tls_min_version", "metric_version"} {
		found := false
		for _, w := range warnings {
			found = found || strings.HasPrefix(w, path+":") && strings.Contains(w, "inputs.prometheus "+key+": no equivalent")
		}
		require.True(t, found, "no warning names %s: %q", key, warnings)
		require.Contains(t, out.String(), "## "+key+" (line ")
	}
	require.Contains(t, strings.Join(warnings, "\n"), path+":2: inputs.prometheus urls: no equivalent: \"unix:///run/exporter.sock\"")
	require.Contains(t, strings.Join(warnings, "\n"), path+":9: inputs.prometheus metric_version")
	require.Contains(t, out.String(), "  name_prefix = \"prom_\"\n  interval = \"30s\"\n")
	require.Contains(t, out.String(), "  [inputs.discovering_prometheus.tagpass]\n    code = [\"200\"]\n")
	require.Contains(t, out.String(), `tagexclude = ["db", "rp", "url"]`)
	plugins(t, out.String())
}

// A sub-table of [[inputs.prometheus]] after another table cannot be moved with it: the migration says
// where, rather than write a file whose tables moved.
func TestMigrateRefusesATableOutOfPlace(t *testing.T) {
	_, err := Migrate(&strings.Builder{}, writeConf(t, "[[inputs.prometheus]]\n  urls = []\n[[outputs.file]]\n[inputs.prometheus.tags]\n  a = \"b\"\n"))
	require.ErrorContains(t, err, ":3: [file] lies inside the [[inputs.prometheus]] table of line 1")
	_, err = Migrate(&strings.Builder{}, writeConf(t, "[[inputs.prometheus]]\n  urls = [\n"))
	require.ErrorContains(t, err, "telegraf.conf")
}

// kubernetes_services: every A record of the service's name, on the URL's port (or its scheme's), tagged
// with the address as inputs.prometheus tags it.
func TestMigrateKubernetesServices(t *testing.T) {
	migrated, warnings := migrate(t, `[[inputs.prometheus]]
  kubernetes_services = ["http://my-service.my-namespace:9100/metrics", "https://other.ns/m?a=b", "http://bad:${PORT}/"]
`)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], `"http://bad:${PORT}/" has no port the migration can read`)
	for _, want := range []string{
		"record-names = [\"my-service.my-namespace\"]\n    type = \"A\"\n    port = 9100\n",
		"record-names = [\"other.ns\"]\n    type = \"A\"\n    port = 443\n",
		`scheme = "https"`, `metrics-path = "/m"`, "a = [\"b\"]", `target-label = "address"`,
	} {
		require.Contains(t, migrated, want)
	}
	plugins(t, migrated)
}

// Telegraf's globs (*, ?, {a,b}) become regular expressions over the names Prometheus gives annotations
// and labels (every character but letters, digits and _ made _).
func TestMigrateGlobs(t *testing.T) {
	migrated, _ := migrate(t, `[[inputs.prometheus]]
  monitor_kubernetes_pods = true
  pod_annotation_include = ["prometheus.io/*", "team?", "{a,b}.example.com/x"]
  pod_label_exclude = ["kubernetes.io/*"]
`)
	require.Contains(t, migrated, `regex = "__meta_kubernetes_pod_annotation_(prometheus_io_.*|team.|(?:a|b)_example_com_x)"`)
	require.Contains(t, migrated, `regex = "__meta_kubernetes_pod_label_(kubernetes_io_.*)"`+"\n      action = \"labeldrop\"")
	require.Contains(t, migrated, `regex = "__meta_kubernetes_pod_label_(.+)"`)
}

// A consul template the rules cannot express is left out with its reason.
func TestMigrateConsulTemplateLeftOut(t *testing.T) {
	migrated, warnings := migrate(t, `[[inputs.prometheus]]
  [inputs.prometheus.consul]
    enabled = true
    [[inputs.prometheus.consul.query]]
      name = "a"
      url = "http://{{.Address}}:{{.ServicePort}}/{{range .ServiceTags}}{{.}}{{end}}"
    [[inputs.prometheus.consul.query]]
      name = "b"
      url = "http://{{.Address}}:{{.ServicePort}}/metrics"
      [inputs.prometheus.consul.query.tags]
        dc = "{{.Datacenter}}"
`)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], `consul.query "a" url`)
	require.Contains(t, warnings[0], "is not translated")
	require.Equal(t, 1, strings.Count(migrated, "[[inputs.discovering_prometheus.consul]]"))
	require.Contains(t, migrated, `services = ["b"]`)
	require.Contains(t, migrated, `source-labels = ["__meta_consul_dc"]`)
}

// A target is scraped at most once per scrape-interval: the timeout (5s by default), at most the interval at
// which the table is gathered (its own, else the agent's), so that every gather scrapes it.
func TestMigrateScrapeInterval(t *testing.T) {
	for _, tc := range []struct{ name, agent, table, want, warning string }{
		{name: "default", want: `scrape-interval = "5s"` + "\n    scrape-timeout = \"5s\""},
		{name: "timeout", table: `timeout = "8s"`, want: `scrape-interval = "8s"`},
		{name: "agent interval below the timeout", agent: "[agent]\n  interval = \"2s\"\n", want: `scrape-interval = "2s"` + "\n    scrape-timeout = \"2s\"",
			warning: "timeout: done another way: a scrape may take at most the gather interval, 2s, where inputs.prometheus waited up to 5s"},
		{name: "the table's interval", agent: "[agent]\n  interval = \"2s\"\n", table: `interval = "1m"`, want: `scrape-interval = "5s"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			migrated, warnings := migrate(t, tc.agent+"[[inputs.prometheus]]\n  urls = [\"http://a:1/metrics\"]\n  "+tc.table+"\n")
			require.Contains(t, migrated, tc.want)
			if tc.warning == "" {
				require.Empty(t, warnings)
			} else {
				require.Len(t, warnings, 1)
				require.Contains(t, warnings[0], tc.warning)
			}
		})
	}
}

// http_service_discovery: an http-discovery section with inputs.prometheus' defaults (its URL, 5m) or the
// table's url, query_interval and TLS keys, and rules that take a target written as a URL apart.
// http_headers: every scraper's http-headers, values as written, the headers Prometheus reserves listed.
func TestMigrateHTTPSDAndHeaders(t *testing.T) {
	migrated, warnings := migrate(t, `[[inputs.prometheus]]
  urls = ["http://localhost:9100/metrics"]
  tls_ca = "/ca.pem"
  http_headers = {"X-Tenant" = "${TENANT}", "host" = "a", "User-Agent" = "b"}
  [inputs.prometheus.http_service_discovery]
    enabled = true
    url = "https://sd:9000/targets"
    query_interval = "30s"
`)
	require.Len(t, warnings, 2, warnings)
	require.Contains(t, warnings[0]+warnings[1], `:4: inputs.prometheus http_headers: no equivalent: "host" is a header Prometheus' HTTP client reserves`)
	require.Contains(t, warnings[0]+warnings[1], `"User-Agent" is a header Prometheus' HTTP client reserves`)
	require.Contains(t, migrated, `  [[inputs.discovering_prometheus.http-discovery]]
    id = "prometheus-2"
    url = "https://sd:9000/targets"
    refresh-interval = "30s"
    ssl-ca = "/ca.pem"
`)
	require.Equal(t, 2, strings.Count(migrated, `    [inputs.discovering_prometheus.scraper.http-headers]
      X-Tenant = { values = ["${TENANT}"] }
`), migrated)
	require.Contains(t, migrated, `regex = "(?i)https?://([^/?#]*).*"`)
	require.Len(t, plugins(t, migrated), 1)

	defaults, warnings := migrate(t, "[[inputs.prometheus]]\n  http_service_discovery = {enabled = true}\n")
	require.Empty(t, warnings)
	require.Contains(t, defaults, `url = "http://localhost:9000/service-discovery"`+"\n    refresh-interval = \"5m\"\n")
	disabled, _ := migrate(t, "[[inputs.prometheus]]\n  http_service_discovery = {enabled = false, url = \"http://sd\"}\n")
	require.NotContains(t, disabled, "http-discovery")
}
