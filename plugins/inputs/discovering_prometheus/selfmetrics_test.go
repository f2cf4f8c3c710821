package discovering_prometheus

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/influxdata/telegraf/testutil"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// Both outputs of the self-metrics, internal_discovering_prometheus and /metrics, come from the tables of
// selfmetrics.go: the names users see, pinned here, and the same numbers on both.
func TestSelfMetricsBothOutputsFromTheTable(t *testing.T) {
	targets := newCountingTargets(t, 3)
	dir := t.TempDir()
	targetsFile, peersFile := filepath.Join(dir, "targets.json"), filepath.Join(dir, "peers.json")
	require.NoError(t, os.WriteFile(targetsFile, targets.fileSD(), 0o644))
	writePeers(t, peersFile, "a:1", "b:1")
	p, stats := startMember(t, targetsFile, peersFile, "a:1", 2)
	require.NoError(t, p.Gather(&testutil.Accumulator{}))

	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(Metrics(func() *DiscoveringPrometheus { return p }))
	families, err := registry.Gather()
	require.NoError(t, err)
	shown := map[string]*dto.Metric{} // by name and the first label's value
	for _, f := range families {
		for _, m := range f.GetMetric() {
			id := "" // the plugin's own series have no label
			if labels := m.GetLabel(); len(labels) > 0 {
				id = labels[0].GetValue() // sorted by name: cluster_id, discoverer_id, scraper
			}
			shown[f.GetName()+" "+id] = m
		}
	}

	var fields, names []string
	check := func(field, name string, kind selfKind, tags map[string]string, id string) {
		fields, names = append(fields, field), append(names, name)
		stat := stats.Get(statsMeasurement, field, tags)
		require.NotNil(t, stat, "internal_discovering_prometheus %s %v", field, tags)
		m := shown[statsMeasurement+"_"+name+" "+id]
		require.NotNil(t, m, "/metrics %s", name)
		switch kind {
		case selfCounter:
			require.Equal(t, float64(stat.Get()), m.GetCounter().GetValue(), field)
		case selfGauge:
			require.Equal(t, float64(stat.Get()), m.GetGauge().GetValue(), field)
		case selfTiming: // a mean of nanoseconds, a total of seconds: one scrape per target so far
			require.Positive(t, stat.Get(), field)
			require.Positive(t, m.GetCounter().GetValue(), name)
		}
	}
	for _, m := range scraperMetrics.metrics {
		check(m.field, m.metric, m.kind, map[string]string{"scraper": "counted"}, "counted")
	}
	for _, m := range discovererMetrics.metrics {
		check(m.field, m.metric, m.kind, map[string]string{"discoverer_service": "file-discovery", "discoverer_id": "peers"}, "peers")
	}
	for _, m := range clusterMetrics.metrics {
		check(m.field, m.metric, m.kind, map[string]string{"cluster_service": "file-discovery", "cluster_id": "peers"}, "peers")
	}
	for _, m := range reloadMetrics.metrics {
		check(m.field, m.metric, m.kind, map[string]string{}, "")
	}
	require.Equal(t, []string{"scrapes", "scrape_errors", "samples", "scrape_time_ns", "targets", "series_dropped", "refreshes", "errors",
		"peers", "targets_owned", "peers_stale", "self_listed", "config_last_reload_successful", "config_last_reload_success_timestamp_seconds"}, fields)
	require.Equal(t, []string{"scrapes_total", "scrape_errors_total", "samples_total", "scrape_duration_seconds_total",
		"targets", "series_limit_samples_dropped_total", "discoverer_refreshes_total", "discoverer_errors_total", "cluster_peers", "cluster_targets_owned", "cluster_peers_stale",
		"cluster_self_listed", "config_last_reload_successful", "config_last_reload_success_timestamp_seconds"}, names)
	require.Len(t, shown, 6+2*2+4+2, "nothing on /metrics but the table's") // two discoverers: targets, peers
	require.EqualValues(t, 2, clusterStat(stats, "peers"))
	require.EqualValues(t, 1, clusterStat(stats, "self_listed"))
	require.EqualValues(t, 3, stats.Get(statsMeasurement, "targets", map[string]string{"scraper": "counted"}).Get())
}
