package telegrafconf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/influxdata/toml"
	"github.com/influxdata/toml/ast"
)

// FuzzMigrateTelegraf migrates fuzzed telegraf.conf files, hostile values among the seeds: the result is a
// file or an error, never a panic; the file is TOML; it has the same tables as the original but for each
// [[inputs.prometheus]] turned into one [[inputs.discovering_prometheus]], whose sub-tables are the
// migration's own or the original's: no value breaks out of its string into a table of its own.
func FuzzMigrateTelegraf(f *testing.F) {
	for _, seed := range []string{
		"[[inputs.prometheus]]\n  urls = [\"http://localhost:9100/metrics\"]\n[[outputs.file]]\n",
		"[[inputs.prometheus]]\n  urls = [\"http://a\\\"]\\n[[outputs.exec]]\\ncommand = [\\\"sh\\\"]\\n#:1/x?a=\\\"\\n\"]\n",
		"[[inputs.prometheus]]\n  urls = ['http://a/\"\"\"\n[outputs.x]']\n  kubernetes_services = [\"http://a\\u000a[x]:1/\"]\n",
		"[[inputs.prometheus]]\n  monitor_kubernetes_pods = true\n  monitor_kubernetes_pods_path = \"/m\\\"\\n[a]?x=\\n[b]\"\n  kubernetes_label_selector = \"a=\\\"\\n[[c]]\"\n" +
			"  pod_annotation_include = [\"\\\"]\\n[d]\", \"{a,\\n[e]}\"]\n  pod_namespace_label_name = \"ns\\\"\\n[f]\"\n  monitor_kubernetes_pods_namespace = \"x\\\"]\\n[g]\"\n",
		"[[inputs.prometheus]]\n  [inputs.prometheus.consul]\n    enabled = true\n    agent = \"a\\n[h]\"\n    [[inputs.prometheus.consul.query]]\n      name = \"n\\\"\\n[i]\"\n" +
			"      url = 'http://{{.Address}}\"\n[j]:{{.ServicePort}}/m?q=\"\n[k]'\n      [inputs.prometheus.consul.query.tags]\n        \"a\\n[l]\" = '{{.Node}}\"'\n",
		"[[inputs.prometheus]]\n  urls = [\"http://${HOST}:9100\"]\n  bearer_token_string = \"@{vault:token}\"\n  \"key\\n[m]\" = 1\n  tagexclude = [\"a\\\"]\\n[n]\"]\n  [inputs.prometheus.tags]\n    \"t\\\"\\n[o]\" = \"v\\\"\\n[p]\"\n",
		"[[inputs.prometheus]]\n  timeout = \"1s\\n[q]\"\n  url_tag = \"\\\"\\n[r]\"\n  metric_version = 2\n",
		`[[inputs.prometheus]]
  http_headers = {"X\"\n[s]" = "v\"\n[t]", "Host" = "h"}
  [inputs.prometheus.http_service_discovery]
    enabled = true
    url = "http://a\"\n[u]"
    query_interval = "1s\"\n[v]"
    tls_ca = "c\"\n[w]"
`,
	} {
		f.Add(seed)
	}
	path := filepath.Join(f.TempDir(), "telegraf.conf")
	f.Fuzz(func(t *testing.T, conf string) {
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if _, err := Migrate(&out, path); err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		before, err := toml.Parse([]byte(conf))
		if err != nil {
			t.Fatalf("Migrate read a file TOML refuses: %v", err)
		}
		after, err := toml.Parse([]byte(out.String()))
		if err != nil {
			t.Fatalf("the migrated file is not TOML: %v\n%s", err, out.String())
		}
		sameTables(t, before, after, out.String())
	})
}

// sameTables fails when the migrated file's tables are not the original's, each [[inputs.prometheus]]
// made one [[inputs.discovering_prometheus]] with the migration's sub-tables and the original's.
func sameTables(t *testing.T, before, after *ast.Table, migrated string) {
	t.Helper()
	tables, _ := prometheusTables(before)
	expect := keys(before)
	if len(tables) > 0 {
		inputs := before.Fields["inputs"].(*ast.Table)
		got := after.Fields["inputs"].(*ast.Table)
		want := slices.DeleteFunc(keys(inputs), func(k string) bool { return k == "prometheus" })
		if _, ok := inputs.Fields["discovering_prometheus"]; !ok {
			want = append(want, "discovering_prometheus")
			slices.Sort(want)
		}
		if !slices.Equal(want, keys(got)) {
			t.Fatalf("inputs: want %q, got %q\n%s", want, keys(got), migrated)
		}
		var ours []*ast.Table
		switch v := got.Fields["discovering_prometheus"].(type) {
		case []*ast.Table:
			ours = v
		case *ast.Table:
			ours = []*ast.Table{v}
		}
		if len(ours) < len(tables) {
			t.Fatalf("%d [[inputs.prometheus]] made %d plugin tables\n%s", len(tables), len(ours), migrated)
		}
		for i, t0 := range tables {
			p := ours[len(ours)-len(tables)+i]
			for k, v := range p.Fields {
				if _, ok := v.(*ast.KeyValue); ok {
					continue
				}
				_, original := t0.Fields[k]
				if !original && !slices.Contains([]string{"scraper", "static-discovery", "dns", "kubernetes", "consul", "http-discovery"}, k) {
					t.Fatalf("a sub-table %q that neither the migration nor the original has\n%s", k, migrated)
				}
			}
		}
	}
	if !slices.Equal(expect, keys(after)) {
		t.Fatalf("top-level tables: want %q, got %q\n%s", expect, keys(after), migrated)
	}
}

func keys(t *ast.Table) []string {
	var out []string
	for k := range t.Fields {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
