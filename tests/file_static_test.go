package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

func init() {
	discovererTests["static-discovery"] = testStaticDiscovery
	discovererTests["file-discovery"] = testFileDiscovery
}

func testStaticDiscovery(t *testing.T) {
	a, b := StartExporter(t, "a"), StartExporter(t, "b")
	r := StartPlugin(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "static"
    db = "metrics"
    rp = "week"
    discoverer-service = "static-discovery"
    discoverer-id = "two"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "two"
    targets = ["%s", "%s"]
    [inputs.discovering_prometheus.static-discovery.labels]
      region = "eu-west"
`, a.Addr, b.Addr))
	ms := r.Gather()
	require.Equal(t, map[string]float64{a.Addr: 1, b.Addr: 1}, Up(ms))
	for _, e := range []*Exporter{a, b} {
		info := Find(ms, "exporter_info", map[string]string{"instance": e.Addr})
		require.Len(t, info, 1)
		require.Equal(t, map[string]string{
			"__name__": "exporter_info", "instance": e.Addr, "region": "eu-west",
			"exporter": info[0].Tags()["exporter"], "db": "metrics", "rp": "week",
		}, info[0].Tags())
	}
	require.NotEqual(t, Find(ms, "exporter_info", map[string]string{"instance": a.Addr})[0].Tags()["exporter"],
		Find(ms, "exporter_info", map[string]string{"instance": b.Addr})[0].Tags()["exporter"])

	// An exporter that stops answering is down; the other is still scraped in the same gather, and the
	// failure is logged once, not on every gather.
	b.Close()
	time.Sleep(1100 * time.Millisecond)
	ms = r.Gather()
	require.Equal(t, map[string]float64{a.Addr: 1, b.Addr: 0}, Up(ms))
	require.NotEmpty(t, Find(ms, "exporter_info", map[string]string{"instance": a.Addr}))
	require.Empty(t, Find(ms, "exporter_info", map[string]string{"instance": b.Addr}))
	time.Sleep(1100 * time.Millisecond)
	require.Equal(t, map[string]float64{a.Addr: 1, b.Addr: 0}, Up(r.Gather()))
	require.Equal(t, 1, CountLog(r.Log, 'W', "scrape failed", b.Addr), "%v", r.Log.Messages())
}

// writeTargets writes a file_sd file atomically (rename), as configuration management tools do.
func writeTargets(t *testing.T, path string, groups []map[string]any) {
	t.Helper()
	var data []byte
	if strings.HasSuffix(path, ".json") {
		var err error
		data, err = json.Marshal(groups)
		require.NoError(t, err)
	} else {
		var b strings.Builder
		for _, g := range groups {
			b.WriteString("- targets:\n")
			for _, target := range g["targets"].([]string) {
				fmt.Fprintf(&b, "    - %q\n", target)
			}
			if labels, ok := g["labels"].(map[string]string); ok {
				b.WriteString("  labels:\n")
				for k, v := range labels {
					fmt.Fprintf(&b, "    %s: %q\n", k, v)
				}
			}
		}
		data = []byte(b.String())
	}
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, data, 0o644))
	require.NoError(t, os.Rename(tmp, path))
}

func testFileDiscovery(t *testing.T) {
	a, b, c := StartExporter(t, "a"), StartExporter(t, "b"), StartExporter(t, "c")
	dir := t.TempDir()
	jsonFile, yamlFile := filepath.Join(dir, "web.json"), filepath.Join(dir, "db.yml")
	writeTargets(t, jsonFile, []map[string]any{{"targets": []string{a.Addr}, "labels": map[string]string{"team": "web"}}})
	writeTargets(t, yamlFile, []map[string]any{{"targets": []string{b.Addr}, "labels": map[string]string{"team": "db"}}})

	r := StartPlugin(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "files"
    db = "metrics"
    rp = "autogen"
    discoverer-service = "file-discovery"
    discoverer-id = "dir"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.file-discovery]]
    id = "dir"
    files = ["%s/*.json", "%s/*.yml"]
`, dir, dir))
	ms := r.Gather()
	require.Equal(t, map[string]float64{a.Addr: 1, b.Addr: 1}, Up(ms))
	require.Len(t, Find(ms, "exporter_info", map[string]string{"instance": a.Addr, "team": "web", "db": "metrics", "rp": "autogen"}), 1)
	require.Len(t, Find(ms, "exporter_info", map[string]string{"instance": b.Addr, "team": "db"}), 1)
	// file_sd's __meta_filepath label is for relabeling only; it never reaches a metric.
	for _, m := range ms {
		for k := range m.Tags() {
			require.False(t, strings.HasPrefix(k, "__meta"), "tag %s on %s", k, m.Name())
		}
	}

	// Rewritten during the run: c added to the JSON file, the YAML file emptied. The next gathers follow
	// without a restart.
	writeTargets(t, jsonFile, []map[string]any{{"targets": []string{a.Addr, c.Addr}, "labels": map[string]string{"team": "web"}}})
	writeTargets(t, yamlFile, nil)
	r.GatherUntil(10*time.Second, "c added and b removed", func(ms []telegraf.Metric) bool {
		return strings.Join(Instances(ms, "exporter_info"), ",") == strings.Join(sorted(a.Addr, c.Addr), ",")
	})
}

func sorted(s ...string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
