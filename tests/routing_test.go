package tests

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hostileBody tries every way an exposed name or value could move a point to another database through
// line protocol: names ending in a backslash or holding a comma, equals sign or space, values that end in
// a backslash or put one before a separator, and a metric name that ends in one.
const hostileBody = `hijack{"db\\"="attacker","rp\\"="evil"} 1
spoof{"instance\\"="evil:1","url\\"="http://evil/"} 2
names{"x\\,db"="attacker","y=db"="attacker","z db"="attacker","db\\ "="attacker"} 3
values{a="x\\",b="y\\,db=attacker",c="z\\=rp\\ evil"} 4
{"name\\",db="attacker",rp="evil"} 5
`

// Telegraf with outputs.influxdb routing by the db and rp tags writes a hostile target's points to its
// scraper's database and retention policy only, both through the real inputs.execd around the runner and
// with the plugin compiled in; no database named by the target is ever written to.
func TestHostileLabelsCannotReroute(t *testing.T) {
	db := StartInfluxDB(t)
	createRouting(t, db)
	hostile := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, hostileBody)
	})
	scraper := func(db, rp string) string {
		return fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "hostile"
    db = %q
    rp = %q
    discoverer-service = "static-discovery"
    discoverer-id = "hostile"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "hostile"
    targets = [%q]
`, db, rp, hostile)
	}
	conf := filepath.Join(t.TempDir(), "execd.conf")
	require.NoError(t, os.WriteFile(conf, []byte(scraper("metrics_a", "week")), 0o644))
	logs := StartTelegraf(t, agentConf+fmt.Sprintf(`
[[inputs.execd]]
  command = [%q, "-config", %q, "-poll_interval_disabled"]
  signal = "STDIN"
  data_format = "influx"
`, RunnerBinary(t), conf)+scraper("metrics_b", "month")+influxOutput(db))

	want := []string{"hijack", "names", "name_", "spoof", "up", "values"}
	for _, c := range []struct{ database, rp string }{{"metrics_a", "week"}, {"metrics_b", "month"}} {
		Eventually(t, 30*time.Second, "every hostile measurement in "+c.database, func() bool {
			for _, m := range want {
				if len(db.Query(t, c.database, fmt.Sprintf(`SELECT count("value") FROM %q.%q`, c.rp, m))) == 0 {
					return false
				}
			}
			return true
		})
		for _, m := range want {
			series := db.Query(t, c.database, fmt.Sprintf(`SELECT last("value") FROM %q.%q GROUP BY *`, c.rp, m))
			require.Len(t, series, 1, "%s in %s", m, c.database)
			require.Equal(t, hostile, series[0].Tags["instance"], "%s in %s", m, c.database)
			for k, v := range series[0].Tags {
				require.NotContains(t, []string{"db", "rp"}, k, "%s in %s", m, c.database)
				require.NotContains(t, k, `\`, "%s in %s", m, c.database)
				if v == "attacker" || v == "evil" || v == "evil:1" {
					require.Contains(t, k, "_", "%s in %s: an escaped name", m, c.database)
				}
			}
		}
		require.Empty(t, db.Query(t, c.database, `SELECT "value" FROM "autogen"./.*/`), "nothing in the default policy of %s", c.database)
	}
	names := db.Query(t, "", "SHOW DATABASES")
	var databases []string
	for _, v := range names[0].Column("name") {
		databases = append(databases, v.(string))
	}
	sort.Strings(databases)
	require.Equal(t, []string{"metrics_a", "metrics_b", "telegraf"}, databases)
	require.Empty(t, db.Query(t, "telegraf", `SELECT * FROM /.*/`), "nothing fell back to the default database")
	require.NotContains(t, strings.ToLower(logs.String()), "database not found")
}
