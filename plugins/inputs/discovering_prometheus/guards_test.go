package discovering_prometheus

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// What the scrapers' guards leave out is still counted where a user looks: the targets API and the
// /targets data count every dropped target of a pool, also those past keep-dropped-targets that the list
// leaves out (Prometheus 3's droppedTargetCounts, whatever the state filter), and inputs.internal and
// /metrics count the samples series-limit dropped.
func TestGuardsAreCounted(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "a 1\nb 1\nc 1\n")
	}))
	defer target.Close()
	kept := strings.TrimPrefix(target.URL, "http://")
	p, base := startStatus(t, `
[[inputs.discovering_prometheus]]
  status_address = "127.0.0.1:0"
  [[inputs.discovering_prometheus.scraper]]
    name = "web"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    keep-dropped-targets = 1
    series-limit = 2
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      source-labels = ["__address__"]
      regex = "dropped.*"
      action = "drop"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["`+kept+`", "dropped-1:80", "dropped-2:80", "dropped-3:80"]
`)
	require.NoError(t, p.Gather(&testutil.Accumulator{}))

	targets := p.Targets()
	require.Len(t, targets.Active, 1)
	require.Len(t, targets.Dropped, 1, "keep-dropped-targets")
	require.Equal(t, map[string]int{"web": 3}, targets.DroppedCounts)

	client := &http.Client{Timeout: 10 * time.Second}
	for _, query := range []string{"", "?state=active", "?scrapePool=web"} {
		code, body := get(t, client, base+"/api/v1/targets"+query, "", "")
		require.Equal(t, http.StatusOK, code, body)
		var answer struct {
			Data struct {
				DroppedCounts map[string]int `json:"droppedTargetCounts"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &answer), body)
		require.Equal(t, map[string]int{"web": 3}, answer.Data.DroppedCounts, query)
	}
	code, body := get(t, client, base+"/api/v1/targets?scrapePool=other", "", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"droppedTargetCounts":{}`)

	require.Equal(t, 1.0, metricsPage(t, base)[`discovering_prometheus_series_limit_samples_dropped_total{scraper="web"}`],
		"the third series past series-limit = 2")
}
