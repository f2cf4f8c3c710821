package discovering_prometheus

import (
	"fmt"
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/selfstat"
	"github.com/influxdata/telegraf/testutil"
	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/metricstest"
)

// budgetConf has scrapers "a1" and "a2" writing to database "a", "b" to "b", each of a target of its own
// with 10 series (and the 4 synthetic ones: 14 a scrape).
func budgetConf(t *testing.T, budget int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[[inputs.discovering_prometheus]]\n  max_series_per_db = %d\n", budget)
	for _, s := range []struct{ name, db string }{{"a1", "a"}, {"a2", "a"}, {"b", "b"}} {
		var body strings.Builder
		for i := range 10 {
			fmt.Fprintf(&body, "m_%s{n=\"%d\"} %d\n", s.name, i, i)
		}
		srv := httptest.NewServer(textExporter(body.String()))
		t.Cleanup(srv.Close)
		fmt.Fprintf(&b, `  [[inputs.discovering_prometheus.scraper]]
    name = %[1]q
    db = %[2]q
    rp = "autogen"
    discoverer-service = "static-discovery"
    discoverer-id = %[1]q
  [[inputs.discovering_prometheus.static-discovery]]
    id = %[1]q
    targets = [%[3]q]
`, s.name, s.db, strings.TrimPrefix(srv.URL, "http://"))
	}
	return b.String()
}

// seriesOf are the series of the metrics of each database, by measurement and tags.
func seriesOf(ms []telegraf.Metric) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, m := range ms {
		db := m.Tags()["db"]
		if out[db] == nil {
			out[db] = map[string]bool{}
		}
		out[db][fmt.Sprint(m.Name(), m.Tags())] = true
	}
	return out
}

var targetOf = regexp.MustCompile(`target http://\S+`)

// Past max_series_per_db, the metrics of new series of a database are refused, across its targets, and
// counted; known series go on; another database has its own budget; each target with refusals says so once.
func TestSeriesBudgetPerDatabase(t *testing.T) {
	p := mustLoad(t, budgetConf(t, 20))
	log := &testutil.CaptureLogger{}
	p.Log = log
	stats := selfstat.NewCollector(map[string]string{"test": t.Name()})
	p.Statistics = stats
	require.NoError(t, p.Init())
	var first, second testutil.Accumulator
	require.NoError(t, p.Start(&first))
	t.Cleanup(p.Stop)
	require.NoError(t, p.Gather(&first))
	p.gatherAt(&second, time.Now().Add(time.Hour)) // every target due again
	for _, acc := range []*testutil.Accumulator{&first, &second} {
		series := seriesOf(acc.GetTelegrafMetrics())
		require.Len(t, series["a"], 20, "database a: 28 series offered")
		require.Len(t, series["b"], 14, "database b: within its budget")
		require.Len(t, acc.GetTelegrafMetrics(), 34)
	}
	require.Equal(t, seriesOf(first.GetTelegrafMetrics()), seriesOf(second.GetTelegrafMetrics()), "the series first admitted go on")

	targets := map[string]int{}
	for _, e := range log.Warnings() {
		if strings.Contains(e, "max_series_per_db") {
			require.Contains(t, e, `max_series_per_db: database "a" has 20 series, its budget: `)
			targets[targetOf.FindString(e)]++
		}
	}
	require.NotEmpty(t, targets)
	for target, n := range targets {
		require.Equal(t, 1, n, "one line for %s, not one a gather", target)
	}

	p.stats.publish(p.sd)
	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(Metrics(func() *DiscoveringPrometheus { return p }))
	for db, want := range map[string]struct{ series, refused float64 }{"a": {20, 16}, "b": {14, 0}} {
		tags := map[string]string{"db": db}
		require.EqualValues(t, want.series, stats.Get(statsMeasurement, "series_budget_series", tags).Get())
		require.EqualValues(t, want.refused, stats.Get(statsMeasurement, "series_budget_refused", tags).Get())
		page, err := promtestutil.CollectAndFormat(registry, expfmt.TypeTextPlain, "discovering_prometheus_series_budget_series", "discovering_prometheus_series_budget_refused_total")
		require.NoError(t, err)
		shown := metricstest.Parse(t, string(page))
		require.Equal(t, want.series, shown[`discovering_prometheus_series_budget_series{db="`+db+`"}`])
		require.Equal(t, want.refused, shown[`discovering_prometheus_series_budget_refused_total{db="`+db+`"}`])
	}
}

// A reload keeps what each database's budget counts: the series known and refused go on, under the new
// plan's scrapers, and a database the reload adds gets a budget of its own.
func TestSeriesBudgetSurvivesAReload(t *testing.T) {
	p := mustLoad(t, budgetConf(t, 20))
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	t.Cleanup(p.Stop)
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	known := func() map[string]int64 {
		out := map[string]int64{}
		for _, d := range p.seriesBudget().databases() {
			out[d.db] = d.seriesKnown.Load()
		}
		return out
	}
	require.Equal(t, map[string]int64{"a": 20, "b": 14}, known())

	p.AddSource(overrides{"127.0.0.1:1"}) // a scraper "o" writing to database "d"
	require.NoError(t, p.Reload())
	require.Len(t, p.RunningScrapers(), 4)
	require.Equal(t, map[string]int64{"a": 20, "b": 14, "d": 0}, known())
	var acc testutil.Accumulator
	p.gatherAt(&acc, time.Now().Add(time.Hour))
	require.Len(t, seriesOf(acc.GetTelegrafMetrics())["a"], 20, "database a's budget is spent already")
}

// Off (0, the default) nothing is refused; on, the runner's gathers go through the budget; a negative
// budget is an error naming the key.
func TestSeriesBudgetOffAndBad(t *testing.T) {
	p := mustLoad(t, budgetConf(t, 0))
	require.NoError(t, p.Init())
	var acc testutil.Accumulator
	require.NoError(t, p.Start(&acc))
	t.Cleanup(p.Stop)
	require.NoError(t, p.Gather(&acc))
	require.Len(t, seriesOf(acc.GetTelegrafMetrics())["a"], 28)

	direct, err := p.GatherLineProtocol(io.Discard)
	require.NoError(t, err)
	require.True(t, direct, "off, the runner writes line protocol straight")

	p = mustLoad(t, budgetConf(t, 20))
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&acc))
	t.Cleanup(p.Stop)
	direct, err = p.GatherLineProtocol(io.Discard)
	require.NoError(t, err)
	require.False(t, direct, "on, the runner's line protocol comes from the metrics the budget counts")

	p = mustLoad(t, budgetConf(t, -1))
	require.EqualError(t, p.Init(), "max_series_per_db: -1 is negative")
}
