package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// StartTelegraf runs the custom Telegraf on a configuration until the test ends.
func StartTelegraf(t *testing.T, toml string) *lockedBuffer {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "telegraf.conf")
	require.NoError(t, os.WriteFile(conf, []byte(toml), 0o644))
	cmd := exec.Command(TelegrafBinary(t), "--config", conf)
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	stopAtCleanup(t, cmd, func() { _ = cmd.Process.Signal(syscall.SIGTERM) }, "telegraf log", logs.String)
	return &logs
}

const agentConf = `
[agent]
  interval = "1s"
  flush_interval = "1s"
  round_interval = false
  omit_hostname = true
  skip_processors_after_aggregators = true
`

func influxOutput(db *InfluxDB) string {
	return fmt.Sprintf(`
[[outputs.influxdb]]
  urls = ["%s"]
  database = "telegraf"
  skip_database_creation = true
  database_tag = "db"
  retention_policy_tag = "rp"
  exclude_database_tag = true
  exclude_retention_policy_tag = true
`, db.URL)
}

// createRouting creates the databases and retention policies the scrapers write to.
func createRouting(t *testing.T, db *InfluxDB) {
	for _, q := range []string{
		`CREATE DATABASE "telegraf"`,
		`CREATE DATABASE "metrics_a"`,
		`CREATE RETENTION POLICY "week" ON "metrics_a" DURATION 7d REPLICATION 1`,
		`CREATE DATABASE "metrics_b"`,
		`CREATE RETENTION POLICY "month" ON "metrics_b" DURATION 30d REPLICATION 1`,
	} {
		db.Query(t, "", q)
	}
}

func scraperTables(a, b *Exporter) string {
	return "\n" +
		ScraperTable("a", "metrics_a", "week", "static-discovery", "a", `scrape-interval = "1s"`) +
		ScraperTable("b", "metrics_b", "month", "static-discovery", "b", `scrape-interval = "1s"`) +
		fmt.Sprintf(`  [[inputs.discovering_prometheus.static-discovery]]
    id = "a"
    targets = ["%s"]
  [[inputs.discovering_prometheus.static-discovery]]
    id = "b"
    targets = ["%s"]
`, a.Addr, b.Addr)
}

// requireRouted asserts that each exporter's points landed in its scraper's database and retention policy
// only, with its values, and that db and rp were not stored as tags.
func requireRouted(t *testing.T, db *InfluxDB, a, b *Exporter) {
	t.Helper()
	Eventually(t, 30*time.Second, "points in both databases", func() bool {
		return len(db.Query(t, "metrics_a", `SELECT "value" FROM "week"."exporter_info" GROUP BY *`)) > 0 &&
			len(db.Query(t, "metrics_b", `SELECT "value" FROM "month"."exporter_info" GROUP BY *`)) > 0
	})
	for _, c := range []struct {
		database, rp string
		exporter     *Exporter
		name         string
	}{{"metrics_a", "week", a, "a"}, {"metrics_b", "month", b, "b"}} {
		series := db.Query(t, c.database, fmt.Sprintf(`SELECT "value" FROM %q."exporter_info" GROUP BY *`, c.rp))
		require.Len(t, series, 1, c.database)
		require.Equal(t, map[string]string{"__name__": "exporter_info", "exporter": c.name, "instance": c.exporter.Addr}, series[0].Tags)
		for _, v := range series[0].Column("value") {
			require.EqualValues(t, 1, v)
		}
		require.Empty(t, db.Query(t, c.database, `SELECT "value" FROM "autogen"."exporter_info"`), "nothing in the default policy of %s", c.database)
		keys := db.Query(t, c.database, fmt.Sprintf(`SHOW TAG KEYS ON %q FROM "exporter_info"`, c.database))
		require.Len(t, keys, 1)
		for _, k := range keys[0].Column("tagKey") {
			require.NotContains(t, []any{"db", "rp"}, k)
		}
		up := db.Query(t, c.database, fmt.Sprintf(`SELECT last("value") FROM %q."up" GROUP BY "instance"`, c.rp))
		require.Len(t, up, 1)
		require.Equal(t, c.exporter.Addr, up[0].Tags["instance"])
	}
	require.Empty(t, db.Query(t, "telegraf", `SELECT "value" FROM "exporter_info"`), "routed points never fall back to the default database")
}

// The custom Telegraf writes two scrapers to their own databases and retention policies through
// outputs.influxdb's routing options, and its own statistics are visible through inputs.internal.
func TestTelegrafInfluxDBRouting(t *testing.T) {
	db := StartInfluxDB(t)
	createRouting(t, db)
	a, b := StartExporter(t, "a"), StartExporter(t, "b")
	logs := StartTelegraf(t, agentConf+`
[[inputs.discovering_prometheus]]
`+scraperTables(a, b)+`
[[inputs.internal]]
  collect_memstats = false
`+influxOutput(db))
	requireRouted(t, db, a, b)

	// Self-monitoring: per scraper and per discoverer, through inputs.internal.
	Eventually(t, 20*time.Second, "internal_discovering_prometheus in the telegraf database", func() bool {
		return len(db.Query(t, "telegraf", `SELECT last("scrapes") FROM "internal_discovering_prometheus" WHERE "scraper" = 'a' AND "scrapes" > 1`)) > 0
	})
	stats := db.Query(t, "telegraf", `SELECT last("targets") AS "targets", last("samples") AS "samples", last("scrape_errors") AS "errors", last("scrape_time_ns") AS "scrape_time" FROM "internal_discovering_prometheus" GROUP BY "scraper"`)
	require.Len(t, stats, 2)
	for _, s := range stats {
		require.EqualValues(t, 1, s.Column("targets")[0], s.Tags)
		require.Greater(t, s.Column("samples")[0].(float64), 0.0)
		require.EqualValues(t, 0, s.Column("errors")[0])
		require.Greater(t, s.Column("scrape_time")[0].(float64), 0.0)
	}
	refreshes := db.Query(t, "telegraf", `SELECT last("refreshes") FROM "internal_discovering_prometheus" WHERE "discoverer_service" = 'static-discovery' GROUP BY "discoverer_id"`)
	require.Len(t, refreshes, 2)
	require.NotContains(t, logs.String(), "E!")
}

// The same routing through inputs.execd running the external binary: once gathering on Telegraf's signal
// on stdin, once polling by itself (signal = "none").
func TestTelegrafExecd(t *testing.T) {
	db := StartInfluxDB(t)
	createRouting(t, db)
	a, b := StartExporter(t, "a"), StartExporter(t, "b")
	dir := t.TempDir()
	plugin := func(name, scraper string) string {
		path := filepath.Join(dir, name)
		tables := scraperTables(a, b)
		// Each external plugin runs one of the two scrapers.
		other := map[string]string{"a": "b", "b": "a"}[scraper]
		tables = strings.Replace(tables, fmt.Sprintf("name = %q", other), fmt.Sprintf("name = %q\n    enabled = false", other), 1)
		require.NoError(t, os.WriteFile(path, []byte("[[inputs.discovering_prometheus]]\n"+tables), 0o644))
		return path
	}
	runner := RunnerBinary(t)
	logs := StartTelegraf(t, agentConf+fmt.Sprintf(`
[[inputs.execd]]
  command = ["%s", "-config", "%s", "-poll_interval_disabled"]
  signal = "STDIN"
  data_format = "influx"
[[inputs.execd]]
  command = ["%s", "-config", "%s", "-poll_interval", "1s"]
  signal = "none"
  data_format = "influx"
`, runner, plugin("a.conf", "a"), runner, plugin("b.conf", "b"))+influxOutput(db))
	requireRouted(t, db, a, b)
	require.NotContains(t, logs.String(), "E!")
}
