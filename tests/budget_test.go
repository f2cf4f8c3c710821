package tests

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/metricstest"
)

// budgetSeries is how many series the budget test's target offers: 30 of its own and the 4 synthetic ones.
const budgetSeries = 34

// startBudgetTelegraf runs the custom Telegraf scraping a target of budgetSeries series into database
// "budget" of db (whose max-series-per-database is 25), with the plugin's keys of options, and returns its
// log and the base URL of its status page.
func startBudgetTelegraf(t *testing.T, db *InfluxDB, options string) (*lockedBuffer, string) {
	var body strings.Builder
	for i := range budgetSeries - 4 {
		fmt.Fprintf(&body, "offered{n=\"%d\"} %d\n", i, i)
	}
	target := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, body.String())
	})
	db.Query(t, "", `CREATE DATABASE "budget"`)
	logs := StartTelegraf(t, agentConf+fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  status_address = "127.0.0.1:0"
%s
  [[inputs.discovering_prometheus.scraper]]
    name = "budget"
    db = "budget"
    rp = "autogen"
    discoverer-service = "static-discovery"
    discoverer-id = "budget"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "budget"
    targets = [%q]
`, options, target)+influxOutput(db))
	return logs, statusURLIn(t, 60*time.Second, "telegraf", logs.String)
}

// seriesIn counts the series of a database of InfluxDB.
func seriesIn(t *testing.T, db *InfluxDB, database string) int {
	n := 0
	for _, s := range db.Query(t, database, "SHOW SERIES") {
		n += len(s.Values)
	}
	return n
}

// A real InfluxDB whose max-series-per-database is below the series a target offers: without the budget,
// Telegraf's writes fail with InfluxDB's partial-write error, in its log; with max_series_per_db at
// InfluxDB's limit, no such error, the database fills up to the limit, and the budget's metric counts the
// points refused, those of 9 series a scrape.
func TestSeriesBudgetKeepsInfluxDBWritesWhole(t *testing.T) {
	const partialWrite = "max-series-per-database limit exceeded"
	t.Run("without", func(t *testing.T) {
		db := StartInfluxDB(t, "max-series-per-database = 25")
		logs, _ := startBudgetTelegraf(t, db, "")
		Eventually(t, 30*time.Second, "InfluxDB's partial-write error in Telegraf's log", func() bool {
			return strings.Contains(logs.String(), partialWrite)
		})
	})
	t.Run("with", func(t *testing.T) {
		db := StartInfluxDB(t, "max-series-per-database = 25")
		logs, base := startBudgetTelegraf(t, db, "  max_series_per_db = 25")
		var scrapes, refused float64
		metrics := func() {
			resp, err := http.Get(base + "/metrics")
			require.NoError(t, err)
			page, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			shown := metricstest.Parse(t, string(page))
			scrapes = shown[`discovering_prometheus_scrapes_total{scraper="budget"}`]
			refused = shown[`discovering_prometheus_series_budget_refused_total{db="budget"}`]
		}
		Eventually(t, 30*time.Second, "3 scrapes refused by the budget", func() bool {
			metrics()
			return refused >= 3*(budgetSeries-25)
		})
		require.Zero(t, int(refused)%(budgetSeries-25), "the points of 9 series a scrape: %v", refused)
		require.InDelta(t, scrapes, refused/(budgetSeries-25), 1, "each scrape: %v scrapes, %v refused", scrapes, refused)
		Eventually(t, 30*time.Second, "the database holds its 25 series", func() bool {
			return seriesIn(t, db, "budget") == 25
		})
		// Three more scrapes, whose flushes would each fail with a partial write.
		before := scrapes
		Eventually(t, 30*time.Second, "3 more scrapes", func() bool {
			metrics()
			return scrapes >= before+3
		})
		require.Equal(t, 25, seriesIn(t, db, "budget"))
		log := logs.String()
		require.NotContains(t, log, partialWrite)
		require.NotContains(t, log, "partial write")
		require.Equal(t, 1, strings.Count(log, `max_series_per_db: database "budget" has 25 series`), "one line an hour for the target:\n%s", log)
	})
}
