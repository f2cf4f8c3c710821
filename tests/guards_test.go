package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// guardsYML has a job of three targets over its target_limit of 2, and a job whose relabeling drops three
// of its four targets, of which keep_dropped_targets keeps 1 in the list.
const guardsYML = `
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: limited
    target_limit: 2
    static_configs: [{targets: [%q, %q, %q]}]
  - job_name: dropping
    keep_dropped_targets: 1
    static_configs: [{targets: [%q, "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"]}]
    relabel_configs:
      - {source_labels: [__address__], regex: "127\\.0\\.0\\.1:[234]", action: drop}
`

// guardsView is what both servers must agree on: each active target's job, URL, health and error, and of
// the dropped ones how many there are and how many are listed.
type guardsView struct {
	Active        []string
	DroppedCounts map[string]int
	Dropped       int
}

func viewGuards(ts targetsWithCounts) guardsView {
	v := guardsView{DroppedCounts: ts.DroppedCounts, Dropped: len(ts.Dropped)}
	for _, a := range ts.Active {
		v.Active = append(v.Active, fmt.Sprintf("%s %s %s %q", a.ScrapePool, a.ScrapeURL, a.Health, a.LastError))
	}
	slices.Sort(v.Active)
	return v
}

type targetsWithCounts struct {
	Active []struct {
		ScrapePool string `json:"scrapePool"`
		ScrapeURL  string `json:"scrapeUrl"`
		Health     string `json:"health"`
		LastError  string `json:"lastError"`
	} `json:"activeTargets"`
	Dropped []struct {
		DiscoveredLabels map[string]string `json:"discoveredLabels"`
	} `json:"droppedTargets"`
	DroppedCounts map[string]int `json:"droppedTargetCounts"`
}

// target_limit and keep_dropped_targets of a prometheus.yml do here what they do in Prometheus 3: past
// the limit every target of the job is down with Prometheus' error; the dropped targets are all counted
// and the first keep_dropped_targets listed.
func TestTargetGuardsMatchPrometheus(t *testing.T) {
	var addrs []string
	for _, name := range []string{"a", "b", "c", "d"} {
		addrs = append(addrs, StartExporter(t, name).Addr)
	}
	promYML := filepath.Join(t.TempDir(), "prometheus.yml")
	require.NoError(t, os.WriteFile(promYML, []byte(fmt.Sprintf(guardsYML, addrs[0], addrs[1], addrs[2], addrs[3])), 0o644))
	prom := startPrometheus(t, PrometheusOfGoMod(t), promYML)
	scraped := func(ts targetsWithCounts) bool {
		return len(ts.Active) == 4 && !slices.ContainsFunc(ts.Active, func(a struct {
			ScrapePool string `json:"scrapePool"`
			ScrapeURL  string `json:"scrapeUrl"`
			Health     string `json:"health"`
			LastError  string `json:"lastError"`
		}) bool {
			return a.Health == "unknown"
		})
	}
	var theirs targetsWithCounts
	Eventually(t, 30*time.Second, "Prometheus has scraped every target", func() bool {
		prom.api(t, "/api/v1/targets", nil, &theirs)
		return scraped(theirs)
	})

	base := startStatusRunnerServing(t, fmt.Sprintf("[[inputs.discovering_prometheus]]\n  status_address = \"127.0.0.1:0\"\n  prometheus_config = %q\n", promYML))
	var ours targetsWithCounts
	Eventually(t, 30*time.Second, "we have scraped every target", func() bool {
		(&promServer{url: base}).api(t, "/api/v1/targets", nil, &ours)
		return scraped(ours)
	})
	want := viewGuards(theirs)
	expected := guardsView{DroppedCounts: map[string]int{"dropping": 3, "limited": 0}, Dropped: 1,
		Active: []string{fmt.Sprintf(`dropping http://%s/metrics up ""`, addrs[3])}}
	for _, addr := range addrs[:3] {
		expected.Active = append(expected.Active, fmt.Sprintf(`limited http://%s/metrics down "target_limit exceeded (number of targets: 3, limit: 2)"`, addr))
	}
	slices.Sort(expected.Active)
	require.Equal(t, expected, want, "what Prometheus 3 does")
	require.Equal(t, want, viewGuards(ours))
}
