package kapacitor

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/toml"
	"github.com/influxdata/toml/ast"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// writeFile writes a kapacitor.conf into the test's directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kapacitor.conf")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// lineOfText is the 1-based line of the first line of content that contains s.
func lineOfText(t *testing.T, content, s string) int {
	t.Helper()
	for i, line := range strings.Split(content, "\n") {
		if strings.Contains(line, s) {
			return i + 1
		}
	}
	t.Fatalf("%q is not in the file", s)
	return 0
}

// secret reads a secret as the plugin does, through httpconfig.Resolve.
func secret(t *testing.T, s config.Secret) string {
	t.Helper()
	v, err := httpconfig.Resolve(&s)
	require.NoError(t, err)
	return string(v)
}

// kapacitorSample is Kapacitor's example file as it ships: every section present, every discoverer and
// scraper disabled, static labels written as [static.labels].
const kapacitorSample = `
hostname = "localhost"
data_dir = "/var/lib/kapacitor"

[http]
  bind-address = ":9092"
  log-enabled = true

[[influxdb]]
  enabled = true
  default = true
  name = "localhost"
  urls = ["http://localhost:8086"]
  username = ""
  password = ""
  timeout = 0
  [influxdb.subscriptions]
  [influxdb.excluded-subscriptions]

[kubernetes]
  enabled = false

[smtp]
  enabled = false
  port = 25

[[scraper]]
  enabled = false
  name = "myscraper"
  discoverer-id = ""
  discoverer-service = ""
  db = "prometheus_raw"
  rp = "autogen"
  type = "prometheus"
  scheme = "http"
  metrics-path = "/metrics"
  scrape-interval = "1m0s"
  scrape-timeout = "10s"
  username = ""
  password = ""
  bearer-token = ""
  ssl-ca = ""
  ssl-cert = ""
  ssl-key = ""
  ssl-server-name = ""
  insecure-skip-verify = false

[[azure]]
  enabled = false
  id = "myazure"
  port = 80
  subscription-id = ""
  tenant-id = ""
  client-id = ""
  client-secret = ""
  refresh-interval = "5m0s"

[[consul]]
  enabled = false
  id = "myconsul"
  address = "127.0.0.1:8500"
  token = ""
  datacenter = ""
  tag-separator = ","
  scheme = "http"
  username = ""
  password = ""
  ssl-ca = ""
  ssl-cert = ""
  ssl-key = ""
  ssl-server-name = ""
  insecure-skip-verify = false

[[dns]]
  enabled = false
  id = "mydns"
  refresh-interval = "30s"
  type = "SRV"
  port = 80

[[ec2]]
  enabled = false
  id = "myec2"
  region = "us-east-1"
  access-key = ""
  secret-key = ""
  profile = ""
  refresh-interval = "1m0s"
  port = 80

[[file-discovery]]
  enabled = false
  id = "myfile"
  refresh-interval = "5m0s"
  files = []

[[gce]]
  enabled = false
  id = "mygce"
  project = ""
  zone = ""
  filter = ""
  refresh-interval = "1m0s"
  port = 80
  tag-separator = ","

[[marathon]]
  enabled = false
  id = "mymarathon"
  timeout = "30s"
  refresh-interval = "30s"
  bearer-token = ""
  ssl-ca = ""
  ssl-cert = ""
  ssl-key = ""
  ssl-server-name = ""
  insecure-skip-verify = false

[[nerve]]
  enabled = false
  id = "mynerve"
  timeout = "10s"

[[serverset]]
  enabled = false
  id = "myserverset"
  timeout = "10s"

[[static-discovery]]
  enabled = false
  id = "mystatic"
  targets = ["localhost:9100"]
  [static.labels]
    region = "us-east-1"

[[triton]]
  enabled = false
  id = "mytriton"
  account = ""
  dns-suffix = ""
  endpoint = ""
  port = 9163
  refresh-interval = "1m0s"
  version = 1
  ssl-ca = ""
  ssl-cert = ""
  ssl-key = ""
  ssl-server-name = ""
  insecure-skip-verify = false
`

func TestLoadKapacitorSample(t *testing.T) {
	path := writeFile(t, kapacitorSample)
	s, warnings, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, []string{fmt.Sprintf("%s:%d: %s", path, lineOfText(t, kapacitorSample, "[static.labels]"),
		`[static.labels] is a top-level table named static, not the labels of the [[static-discovery]] id "mystatic" above it (line `+
			fmt.Sprint(lineOfText(t, kapacitorSample, "[[static-discovery]]"))+`): Kapacitor never applied these labels, and they are not applied here either; to apply them, write the table as [static-discovery.labels]`)},
		warnings)
	require.Len(t, s.Scrapers, 1)
	require.False(t, s.Scrapers[0].IsEnabled())
	// Every section of every discoverer this build has is read, all keys decoded, and disabled.
	for _, service := range discovery.KapacitorServices {
		field, ok := discovererFields(&s.Sections)[service]
		if !ok {
			t.Logf("%s: no provider in this build yet; its disabled section is skipped", service)
			continue
		}
		require.Equal(t, 1, field.Len(), service)
		require.False(t, field.Index(0).Interface().(discovery.Provider).IsEnabled(), service)
	}
	require.Empty(t, s.Static[0].Labels, "Kapacitor never applied [static.labels]")
}

// enabledSections are valid, enabled sections of each of Kapacitor's twelve discoverers, keyed as Kapacitor's
// sample keys them.
var enabledSections = map[string]string{
	"azure": `
[[azure]]
  enabled = true
  id = "az"
  port = 9100
  subscription-id = "11111111-2222-3333-4444-555555555555"
  tenant-id = "66666666-7777-8888-9999-000000000000"
  client-id = "client"
  client-secret = "secret"
  refresh-interval = "5m0s"
`,
	"consul": `
[[consul]]
  enabled = true
  id = "c"
  address = "127.0.0.1:8500"
  token = "t"
  datacenter = "dc1"
  tag-separator = ","
  scheme = "http"
  username = ""
  password = ""
  services = ["web"]
  ssl-ca = ""
  ssl-cert = ""
  ssl-key = ""
  ssl-server-name = ""
  insecure-skip-verify = false
`,
	"dns": `
[[dns]]
  enabled = true
  id = "d"
  record-names = ["_prometheus._tcp.example.com"]
  refresh-interval = "30s"
  type = "SRV"
  port = 80
`,
	"ec2": `
[[ec2]]
  enabled = true
  id = "e"
  region = "us-east-1"
  access-key = "AKIA"
  secret-key = "s"
  profile = ""
  refresh-interval = "1m0s"
  port = 9100
`,
	"file-discovery": `
[[file-discovery]]
  enabled = true
  id = "f"
  refresh-interval = "5m0s"
  files = ["/etc/kapacitor/targets/*.json"]
`,
	"gce": `
[[gce]]
  enabled = true
  id = "g"
  project = "project"
  zone = "us-east1-b"
  filter = ""
  refresh-interval = "1m0s"
  port = 9100
  tag-separator = ","
`,
	"kubernetes": `
[[kubernetes]]
  enabled = true
  id = "k"
  api-servers = ["https://10.0.0.1:6443"]
  token = "t"
  resource = "pod"
`,
	"marathon": `
[[marathon]]
  enabled = true
  id = "m"
  servers = ["http://127.0.0.1:8080"]
  timeout = "30s"
  refresh-interval = "30s"
  bearer-token = ""
  ssl-ca = ""
  ssl-cert = ""
  ssl-key = ""
  ssl-server-name = ""
  insecure-skip-verify = false
`,
	"nerve": `
[[nerve]]
  enabled = true
  id = "n"
  servers = ["127.0.0.1:2181"]
  paths = ["/nerve/services/web"]
  timeout = "10s"
`,
	"serverset": `
[[serverset]]
  enabled = true
  id = "s"
  servers = ["127.0.0.1:2181"]
  paths = ["/aurora/jobs"]
  timeout = "10s"
`,
	"static-discovery": `
[[static-discovery]]
  enabled = true
  id = "st"
  targets = ["localhost:9100"]
  [static-discovery.labels]
    region = "us-east-1"
`,
	"triton": `
[[triton]]
  enabled = true
  id = "tr"
  account = "account"
  dns-suffix = "triton.example.com"
  endpoint = "cmon.triton.example.com"
  port = 9163
  refresh-interval = "1m0s"
  version = 1
  ssl-ca = ""
  ssl-cert = ""
  ssl-key = ""
  ssl-server-name = ""
  insecure-skip-verify = false
`,
}

func TestLoadEveryDiscoverer(t *testing.T) {
	require.Len(t, enabledSections, len(discovery.KapacitorServices))
	for _, service := range discovery.KapacitorServices {
		t.Run(service, func(t *testing.T) {
			s, warnings, err := Load(writeFile(t, "hostname = \"localhost\"\n"+enabledSections[service]))
			require.NoError(t, err)
			require.Empty(t, warnings)
			providers := s.Providers()
			require.Len(t, providers, 1)
			require.Equal(t, service, providers[0].Service())
			configs, err := discovery.Validate(providers)
			require.NoError(t, err)
			require.Len(t, configs, 1)
		})
	}
}

func TestLoadScraperValues(t *testing.T) {
	content := `
[[scraper]]
  enabled = true
  name = "node"
  discoverer-id = "nodes"
  discoverer-service = "static-discovery"
  db = "prometheus_raw"
  rp = "autogen"
  type = "prometheus"
  scheme = "https"
  metrics-path = "/probe"
  scrape-interval = "1m30s"
  scrape-timeout = "15s"
  username = "user"
  password = "pa$$word"
  bearer-token = ""
  proxy-url = "http://proxy.example.com:3128"
  ssl-ca = "/etc/ssl/ca.pem"
  ssl-cert = "/etc/ssl/cert.pem"
  ssl-key = "/etc/ssl/key.pem"
  ssl-server-name = "node.example.com"
  insecure-skip-verify = true
  blacklist = ["10.0.0.1:9100"]
  [scraper.params]
    module = ["http_2xx"]

[[static-discovery]]
  enabled = true
  id = "nodes"
  targets = ["10.0.0.1:9100", "10.0.0.2:9100"]
  [static-discovery.labels]
    region = "us-east-1"
`
	s, warnings, err := Load(writeFile(t, content))
	require.NoError(t, err)
	require.Empty(t, warnings)
	require.Len(t, s.Scrapers, 1)
	c := s.Scrapers[0]
	require.True(t, c.IsEnabled())
	require.Equal(t, time.Minute+30*time.Second, time.Duration(c.ScrapeInterval))
	require.Equal(t, 15*time.Second, time.Duration(c.ScrapeTimeout))
	require.Equal(t, "https", c.Scheme)
	require.Equal(t, "/probe", c.MetricsPath)
	require.Equal(t, "user", c.Username)
	require.Equal(t, "pa$$word", secret(t, c.Password), "the file is read as it is, without environment substitution")
	require.Equal(t, "http://proxy.example.com:3128", c.ProxyURL)
	require.True(t, c.InsecureSkipVerify)
	require.Equal(t, "node.example.com", c.ServerName)
	require.Equal(t, []string{"10.0.0.1:9100"}, c.Blacklist)
	require.Equal(t, map[string][]string{"module": {"http_2xx"}}, c.Params)
	require.Equal(t, map[string]string{"region": "us-east-1"}, s.Static[0].Labels)
}

func TestLoadReadsAsKapacitorDid(t *testing.T) {
	content := `
[[scraper]]
  name = "no-enabled-key"
  db = "d"
  rp = "r"
  discoverer-service = "static-discovery"
  discoverer-id = "a"

[[static-discovery]]
  id = "a"
  targets = ["localhost:9100"]

[[static-discovery]]
  enabled = true
  id = "b"
  targets = ["localhost:9100"]
`
	path := writeFile(t, content)
	s, warnings, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, []string{
		path + `:2: [[scraper]] name "no-enabled-key" is left out: it has no enabled key, and Kapacitor ran only sections with enabled = true`,
		path + `:9: [[static-discovery]] id "a" is left out: it has no enabled key, and Kapacitor ran only sections with enabled = true`,
	}, warnings)
	require.False(t, s.Scrapers[0].IsEnabled())
	require.False(t, s.Static[0].IsEnabled())
	require.True(t, s.Static[1].IsEnabled())
}

func TestLoadKubernetesForms(t *testing.T) {
	// Kapacitor's sample writes a single [kubernetes] table; Kapacitor accepted it and [[kubernetes]].
	s, warnings, err := Load(writeFile(t, `
[kubernetes]
  enabled = true
  id = "k"
  in-cluster = true
  resource = "endpoint"
`))
	require.NoError(t, err)
	require.Empty(t, warnings)
	require.Len(t, s.Kubernetes, 1)
	require.Equal(t, "k", s.Kubernetes[0].SectionID())
	require.True(t, s.Kubernetes[0].IsEnabled())

	// Without resource it is the k8sAutoscale node's connection, not a discoverer.
	path := writeFile(t, `
[[kubernetes]]
  enabled = true
  id = "autoscale"
  api-servers = ["http://127.0.0.1:8001"]

[[kubernetes]]
  enabled = true
  id = "pods"
  api-servers = ["http://127.0.0.1:8001"]
  resource = "pod"
`)
	s, warnings, err = Load(path)
	require.NoError(t, err)
	require.Equal(t, []string{path + `:2: [[kubernetes]] id "autoscale" is left out: it has no resource, so it configures Kapacitor's k8sAutoscale node, not a discoverer`}, warnings)
	require.False(t, s.Kubernetes[0].IsEnabled())
	require.True(t, s.Kubernetes[1].IsEnabled())
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	path := writeFile(t, `
[[scraper]]
  enabled = true
  name = "a"
  rp = "autogen"
  discoverer-service = "static-discovery"
  discoverer-id = "x"

[[scraper]]
  enabled = true
  name = "b"
  db = "d"
  rp = "r"
  discoverer-service = "static-discovery"
  discoverer-id = "x"

[[scraper]]
  enabled = true
  name = "b"
  db = "d"
  rp = "r"
  discoverer-service = "static-discovery"
  discoverer-id = "x"

[[static-discovery]]
  enabled = true
  id = "x"
  targets = []

[[static-discovery]]
  enabled = false
  id = "x"
  targets = []
`)
	_, _, err := Load(path)
	require.EqualError(t, err, strings.Join([]string{
		path + `:2: scraper "a": db: required`,
		path + `:17: scraper "b": name: also used by the [[scraper]] at line 9`,
		path + `:25: static-discovery "x": targets: at least one target is required`,
	}, "\n"))

	// Keys that are not read are errors, with their line, as in the plugin's own table.
	path = writeFile(t, "[[scraper]]\n  enabled = true\n  name = \"a\"\n  scrape-intervall = \"1m\"\n")
	_, _, err = Load(path)
	require.ErrorContains(t, err, path+": line 4:")
	require.ErrorContains(t, err, "scrape-intervall")

	_, _, err = Load(filepath.Join(t.TempDir(), "missing.conf"))
	require.ErrorIs(t, err, os.ErrNotExist)

	path = writeFile(t, "[[scraper]\n")
	_, _, err = Load(path)
	require.ErrorContains(t, err, path+":")

	path = writeFile(t, "scraper = 1\n")
	_, _, err = Load(path)
	require.EqualError(t, err, path+":1: scraper: must be a table")

	path = writeFile(t, "[[scraper]]\n  enabled = \"yes\"\n")
	_, _, err = Load(path)
	require.EqualError(t, err, path+":1: [[scraper]]: enabled: must be true or false")
}

// A file that would overflow the parser's stack, or take a minute or gigabytes to parse, is refused before
// it is parsed, by Load and by Migrate, naming the file (and the line of the bracket past the bound).
func TestLoadRefusesDeepAndLargeFiles(t *testing.T) {
	deep := writeFile(t, "[[scraper]]\n  a = "+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)+"\n")
	large := writeFile(t, "[[scraper]]\n"+strings.Repeat("# a comment of 64 bytes, to make the file larger than the bound\n", 2<<20/64+1))
	for path, want := range map[string]string{
		deep:  deep + ":2: [ and { nest deeper than 100 levels (at byte 118)",
		large: large + ": larger than 2 MiB, the most a TOML configuration file may hold",
	} {
		_, _, err := Load(path)
		require.EqualError(t, err, want)
		_, err = Migrate(io.Discard, path)
		require.EqualError(t, err, want)
	}
}

func TestMigrate(t *testing.T) {
	content := `
[[influxdb]]
  enabled = true
  default = false
  name = "first"
  urls = ["http://first:8086"]

[[influxdb]]
  enabled = true
  default = true
  name = "main"
  urls = ["https://influx.example.com:8086"]
  username = "kapacitor"
  password = "pa$$word"
  timeout = "30s"
  ssl-ca = "/etc/ssl/ca.pem"
  insecure-skip-verify = true
  [influxdb.subscriptions]

[[scraper]]
  enabled = true
  name = "node"
  db = "prometheus_raw"
  rp = "autogen"
  discoverer-service = "static-discovery"
  discoverer-id = "nodes"
  scrape-interval = "5s"
  bearer-token = "to$ken\"quoted\"\\"
  [scraper.params]
    "module name" = ["a b"]

[[scraper]]
  enabled = false
  name = "off"
  db = "d"
  rp = "r"

[[static-discovery]]
  enabled = true
  id = "nodes"
  targets = ["localhost:9100"]
  [static.labels]
    region = "us-east-1"
`
	path := writeFile(t, content)
	var out strings.Builder
	warnings, err := Migrate(&out, path)
	require.NoError(t, err)
	require.Len(t, warnings, 1)
	text := out.String()

	// The output is TOML, and the plugin's table holds exactly the enabled sections, keys as written.
	root, err := toml.Parse([]byte(text))
	require.NoError(t, err)
	inputs := root.Fields["inputs"].(*ast.Table).Fields["discovering_prometheus"].([]*ast.Table)
	require.Len(t, inputs, 1)
	plugin := inputs[0]
	require.Len(t, plugin.Fields["scraper"], 1)
	require.Len(t, plugin.Fields["static-discovery"], 1)
	require.Equal(t, `"5s"`, plugin.Fields["interval"].(*ast.KeyValue).Value.Source(),
		"a scrape-interval below Telegraf's default interval sets the plugin's")
	scraper := plugin.Fields["scraper"].([]*ast.Table)[0]
	require.Equal(t, `to$$ken"quoted"\`, stringKey(scraper, "bearer-token"), "$ is escaped for Telegraf's environment substitution")
	params := scraper.Fields["params"].(*ast.Table)
	require.Equal(t, `["a b"]`, params.Fields["module name"].(*ast.KeyValue).Value.Source())
	require.Contains(t, text, `## [[scraper]] name "off" (line 32) is left out: it is disabled (enabled = false).`)
	require.Contains(t, text, "    # [inputs.discovering_prometheus.static-discovery.labels]\n    #   region = \"us-east-1\"\n")

	outputs := root.Fields["outputs"].(*ast.Table).Fields["influxdb"].([]*ast.Table)
	require.Len(t, outputs, 1)
	influx := outputs[0]
	for key, want := range map[string]string{
		"urls": `["https://influx.example.com:8086"]`, "database_tag": `"db"`, "retention_policy_tag": `"rp"`,
		"exclude_database_tag": "true", "exclude_retention_policy_tag": "true", "username": `"kapacitor"`,
		"password": `"pa$$$$word"`, "timeout": `"30s"`, "tls_ca": `"/etc/ssl/ca.pem"`, "insecure_skip_verify": "true",
	} {
		t.Run(key, func(t *testing.T) {
			kv, ok := influx.Fields[key].(*ast.KeyValue)
			require.True(t, ok, key)
			require.Equal(t, want, kv.Value.Source(), key)
		})
	}
	require.Contains(t, text, `"first" (line 2)`, "the other InfluxDB is named")
}

func TestMigrateWithoutInfluxDB(t *testing.T) {
	var out strings.Builder
	_, err := Migrate(&out, writeFile(t, `
[[scraper]]
  enabled = true
  name = "node"
  db = "d"
  rp = "r"
  discoverer-service = "static-discovery"
  discoverer-id = "nodes"

[[static-discovery]]
  enabled = true
  id = "nodes"
  targets = ["localhost:9100"]
`))
	require.NoError(t, err)
	require.Contains(t, out.String(), "has no enabled [[influxdb]]")
	require.Contains(t, out.String(), `urls = ["http://localhost:8086"]`)
	require.NotContains(t, out.String(), "interval =", "a 1m scrape-interval needs no plugin interval")
}

// The decoded sections carry the types the plugin's own table gives them.
func TestSectionsMatchPlugin(t *testing.T) {
	typ := reflect.TypeOf(Sections{})
	scrapers, ok := typ.FieldByName("Scrapers")
	require.True(t, ok)
	require.Equal(t, reflect.TypeOf([]*Scraper{}), scrapers.Type)
	require.Equal(t, "scraper", scrapers.Tag.Get("toml"))
	embedded, ok := typ.FieldByName("Sections")
	require.True(t, ok)
	require.True(t, embedded.Anonymous)
	require.Equal(t, reflect.TypeOf(discovery.Sections{}), embedded.Type)
}

// A [[scraper]] section checks its own keys next to those of its scrape job, in one sorted list.
func TestScraperSectionErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Scraper)
		want   string
	}{
		{"db missing", func(s *Scraper) { s.DB = " " }, "db: required"},
		{"rp missing", func(s *Scraper) { s.RP = "" }, "rp: required"},
		{"type", func(s *Scraper) { s.Type = "graphite" }, `type: "graphite" is not supported`},
		{"id without service", func(s *Scraper) { s.DiscovererService = "" }, "discoverer-id: discoverer-id and discoverer-service must be given together"},
		{"no discoverer", func(s *Scraper) { s.DiscovererService, s.DiscovererID = "", "" }, "discoverer-service: required"},
		{"the job's keys too", func(s *Scraper) { s.Name, s.DB = "", "" }, "db: required\nname: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Scraper{DB: "db", RP: "rp", DiscovererService: "static-discovery", DiscovererID: "x", Config: scrape.Config{Name: "node"}}
			require.NoError(t, s.Init())
			require.Equal(t, "prometheus", s.Type)
			require.True(t, s.IsEnabled())
			tc.change(s)
			err := s.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
