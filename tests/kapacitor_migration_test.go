package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	influxdbout "github.com/influxdata/telegraf/plugins/outputs/influxdb"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// kapacitorConf is testdata/kapacitor.conf with its enabled discoverers pointed at real loopback exporters.
type kapacitorConf struct {
	Path    string
	Content string
	// A and B are the static-discovery targets, Blacklisted the third one, which the "node" scraper's
	// blacklist names; Files is the target of the file-discovery.
	A, B, Blacklisted, Files *Exporter
}

// writeKapacitorConf copies testdata/kapacitor.conf, replacing the example hosts of its enabled
// static-discovery and file-discovery sections with loopback exporters, and the InfluxDB URL with influxURL
// if it is not empty.
func writeKapacitorConf(t *testing.T, influxURL string) *kapacitorConf {
	t.Helper()
	data, err := os.ReadFile("testdata/kapacitor.conf")
	require.NoError(t, err)
	k := &kapacitorConf{A: StartExporter(t, "a"), B: StartExporter(t, "b"), Blacklisted: StartExporter(t, "blacklisted"), Files: StartExporter(t, "files")}
	dir := t.TempDir()
	targets, err := json.Marshal([]map[string]any{{"targets": []string{k.Files.Addr}, "labels": map[string]string{"team": "files"}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "targets.json"), targets, 0o644))

	content := string(data)
	for old, replacement := range map[string]string{
		"node1.example.com:9100":        k.A.Addr,
		"node2.example.com:9100":        k.B.Addr,
		"node3.example.com:9100":        k.Blacklisted.Addr,
		"/etc/kapacitor/targets/*.json": filepath.Join(dir, "*.json"),
	} {
		require.Contains(t, content, old)
		content = strings.ReplaceAll(content, old, replacement)
	}
	if influxURL != "" {
		content = strings.ReplaceAll(content, "http://influxdb.example.com:8086", influxURL)
	}
	k.Content = content
	k.Path = filepath.Join(dir, "kapacitor.conf")
	require.NoError(t, os.WriteFile(k.Path, []byte(content), 0o644))
	return k
}

// line is the 1-based line of the file that holds s.
func (k *kapacitorConf) line(t *testing.T, s string) int {
	t.Helper()
	for i, l := range strings.Split(k.Content, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q is not in kapacitor.conf", s)
	return 0
}

// warnings are what reading the file must report, each with the file and line.
func (k *kapacitorConf) warnings(t *testing.T) []string {
	return []string{
		fmt.Sprintf("%s:%d: [kubernetes] is left out: it has no resource", k.Path, k.line(t, "[kubernetes]")),
		fmt.Sprintf(`%s:%d: [[static-discovery]] id "forgotten" is left out: it has no enabled key`, k.Path, k.line(t, `id = "forgotten"`)-1),
		fmt.Sprintf("%s:%d: [static.labels] is a top-level table named static", k.Path, k.line(t, "[static.labels]")),
		fmt.Sprintf(`%s:%d: [[scraper]] name "orphan" is left out: its discoverer (dns "mydns") is enabled`, k.Path, k.line(t, `name = "orphan"`)-2),
	}
}

// A kapacitor.conf laid out as Kapacitor's example file, read through kapacitor_config next to the plugin's
// own sections: its scrapers scrape the targets of its discoverers into their db and rp, a scraper of the
// plugin uses one of its discoverers, and what Kapacitor read differently from how it looks is logged.
func TestKapacitorConfig(t *testing.T) {
	k := writeKapacitorConf(t, "")
	r := StartPlugin(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  kapacitor_config = %q
  discovery_wait = "5s"
  [[inputs.discovering_prometheus.scraper]]
    name = "own"
    db = "own_db"
    rp = "own_rp"
    discoverer-service = "static-discovery"
    discoverer-id = "exporters"
    scrape-interval = "1s"
`, k.Path))

	// The file's scrapers have intervals of 30s and 1m: each target is scraped at the first gather that
	// sees it, so the metrics of every gather so far are collected.
	var all []telegraf.Metric
	seen := func(db, instance string) bool {
		return len(Find(all, "exporter_info", map[string]string{"db": db, "instance": instance})) > 0
	}
	deadline := time.Now().Add(30 * time.Second)
	everyScraper := func() bool {
		return seen("prometheus_raw", k.A.Addr) && seen("prometheus_raw", k.B.Addr) && seen("telegraf_scraped", k.Files.Addr) &&
			seen("own_db", k.A.Addr) && seen("own_db", k.B.Addr) && seen("own_db", k.Blacklisted.Addr)
	}
	for !everyScraper() {
		require.True(t, time.Now().Before(deadline), "metrics of every scraper; got instances %v", Instances(all, "exporter_info"))
		all = append(all, r.Gather()...)
		time.Sleep(500 * time.Millisecond)
	}

	// Each metric carries its scraper's db and rp; [static.labels] is not applied, as in Kapacitor.
	for _, c := range []struct {
		e      *Exporter
		db, rp string
		extra  map[string]string
	}{
		{k.A, "prometheus_raw", "autogen", nil},
		{k.B, "prometheus_raw", "autogen", nil},
		{k.Files, "telegraf_scraped", "two_weeks", map[string]string{"team": "files"}},
		{k.A, "own_db", "own_rp", nil},
	} {
		info := Find(all, "exporter_info", map[string]string{"db": c.db, "instance": c.e.Addr})
		require.NotEmpty(t, info)
		want := map[string]string{"__name__": "exporter_info", "instance": c.e.Addr, "db": c.db, "rp": c.rp, "exporter": info[0].Tags()["exporter"]}
		for name, value := range c.extra {
			want[name] = value
		}
		require.Equal(t, want, info[0].Tags())
	}
	// The "node" scraper's blacklist holds the third target: only the plugin's own scraper scrapes it.
	require.Empty(t, Find(all, "up", map[string]string{"db": "prometheus_raw", "instance": k.Blacklisted.Addr}))
	// The "orphan" scraper (its discoverer is disabled) and the disabled sections scrape nothing.
	for _, m := range all {
		db, _ := m.GetTag("db")
		require.Contains(t, []string{"prometheus_raw", "telegraf_scraped", "own_db"}, db)
	}

	for _, w := range k.warnings(t) {
		require.Equal(t, 1, CountLog(r.Log, 'W', w), "warning %q in %v", w, r.Log.Messages())
	}
}

// Names and ids must be unique across the file and the plugin's own sections; errors name the file and line.
func TestKapacitorConfigConflicts(t *testing.T) {
	k := writeKapacitorConf(t, "")
	p := LoadPlugin(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  kapacitor_config = %q
  [[inputs.discovering_prometheus.scraper]]
    name = "node"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "exporters"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "exporters"
    targets = ["localhost:1"]
`, k.Path))
	p.Log = &testutil.CaptureLogger{}
	require.EqualError(t, p.Init(), strings.Join([]string{
		fmt.Sprintf(`kapacitor_config: %s:%d: scraper "node": name: also used by an [[inputs.discovering_prometheus.scraper]] section`, k.Path, k.line(t, `name = "node"`)-2),
		fmt.Sprintf(`kapacitor_config: %s:%d: static-discovery "exporters": id: also used by an [[inputs.discovering_prometheus.static-discovery]] section`, k.Path, k.line(t, `  id = "exporters"`)-2),
	}, "\n"))
}

// -migrate-kapacitor prints a Telegraf configuration that Telegraf's own loader reads, and that gives the
// plugin the same scrapers and discoverers as kapacitor_config pointing at the file; its InfluxDB output
// routes on db and rp, to the file's default [[influxdb]].
func TestKapacitorMigration(t *testing.T) {
	k := writeKapacitorConf(t, "")
	cmd := exec.Command(RunnerBinary(t), "-migrate-kapacitor", k.Path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	for _, w := range k.warnings(t) {
		require.Contains(t, stderr.String(), "discovering-prometheus: warning: "+w)
	}
	migrated := stdout.String()
	require.Contains(t, migrated, "# [inputs.discovering_prometheus.static-discovery.labels]\n    #   region = \"us-east-1\"",
		"the [static.labels] quirk is explained, with the table that would apply the labels")

	c, got, err := loadConfig(stdout.Bytes())
	require.NoError(t, err, migrated)
	require.Len(t, c.Outputs, 1)
	got.Log = &testutil.CaptureLogger{}
	require.NoError(t, got.Init())
	require.Empty(t, got.Log.(*testutil.CaptureLogger).Messages(), "the migrated configuration needs no warning")

	want := LoadPlugin(t, fmt.Sprintf("[[inputs.discovering_prometheus]]\n  kapacitor_config = %q\n", k.Path))
	want.Log = &testutil.CaptureLogger{}
	require.NoError(t, want.Init())

	require.Equal(t, enabledScrapers(t, want), enabledScrapers(t, got))
	require.Equal(t, []string{"node", "files"}, scraperNames(enabledScrapers(t, got)))
	require.Equal(t, want.Discoverers(), got.Discoverers())
	require.Len(t, got.Discoverers(), 2)

	out, ok := c.Outputs[0].Output.(*influxdbout.InfluxDB)
	require.True(t, ok, "output is %T", c.Outputs[0].Output)
	require.Equal(t, []string{"http://influxdb.example.com:8086"}, out.URLs)
	require.Equal(t, "db", out.DatabaseTag)
	require.Equal(t, "rp", out.RetentionPolicyTag)
	require.True(t, out.ExcludeDatabaseTag)
	require.True(t, out.ExcludeRetentionPolicyTag)
	require.Equal(t, "kapacitor", secretString(t, out.Username))
	require.Equal(t, "pa$$word", secretString(t, out.Password), "a $ in kapacitor.conf survives Telegraf's environment substitution")
}

// The migrated configuration, run by the custom Telegraf, writes each scraper's metrics to its database and
// retention policy in the InfluxDB of kapacitor.conf's default [[influxdb]].
func TestKapacitorMigrationTelegraf(t *testing.T) {
	db := StartInfluxDB(t)
	for _, q := range []string{`CREATE DATABASE "prometheus_raw"`, `CREATE DATABASE "telegraf_scraped"`,
		`CREATE RETENTION POLICY "two_weeks" ON "telegraf_scraped" DURATION 14d REPLICATION 1`} {
		db.Query(t, "", q)
	}
	k := writeKapacitorConf(t, db.URL)
	migrated, err := exec.Command(RunnerBinary(t), "-migrate-kapacitor", k.Path).Output()
	require.NoError(t, err)
	StartTelegraf(t, agentConf+string(migrated))

	Eventually(t, 60*time.Second, "points in both databases", func() bool {
		return len(db.Query(t, "prometheus_raw", `SELECT "value" FROM "autogen"."exporter_info" GROUP BY *`)) == 2 &&
			len(db.Query(t, "telegraf_scraped", `SELECT "value" FROM "two_weeks"."exporter_info" GROUP BY *`)) == 1
	})
	series := db.Query(t, "telegraf_scraped", `SELECT "value" FROM "two_weeks"."exporter_info" GROUP BY *`)
	require.Equal(t, map[string]string{"__name__": "exporter_info", "exporter": "files", "instance": k.Files.Addr, "team": "files"}, series[0].Tags)
	var instances []string
	for _, s := range db.Query(t, "prometheus_raw", `SELECT "value" FROM "autogen"."exporter_info" GROUP BY *`) {
		instances = append(instances, s.Tags["instance"])
	}
	require.ElementsMatch(t, []string{k.A.Addr, k.B.Addr}, instances, "the blacklisted target is not scraped")
}

// scraperView is a scraper's configuration after Init, with its secrets read, so that two can be compared.
type scraperView struct {
	Config                scrape.Config
	Password, BearerToken string
}

func enabledScrapers(t *testing.T, p *plugin.DiscoveringPrometheus) []scraperView {
	t.Helper()
	var out []scraperView
	for _, s := range p.EnabledScrapers() {
		v := scraperView{Config: *s, Password: secretString(t, s.Password), BearerToken: secretString(t, s.BearerToken)}
		v.Config.Password, v.Config.BearerToken = config.Secret{}, config.Secret{}
		out = append(out, v)
	}
	return out
}

func scraperNames(views []scraperView) []string {
	names := make([]string, len(views))
	for i, v := range views {
		names[i] = v.Config.Name
	}
	return names
}

// secretString reads a secret as the plugin does, through httpconfig.Resolve.
func secretString(t *testing.T, s config.Secret) string {
	t.Helper()
	v, err := httpconfig.Resolve(&s)
	require.NoError(t, err)
	return string(v)
}
