package tests

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// stepsJob is a job of six target relabeling rules, of six actions: the web target goes through them all,
// the db target is dropped by the fifth.
const stepsJob = `
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: steps
    file_sd_configs: [{files: [%q]}]
    relabel_configs:
      - {source_labels: [__address__], regex: "(.*):.*", target_label: host, replacement: "$1"}
      - {regex: "(role|zone)", replacement: "sd_$1", action: labelmap}
      - {source_labels: [host], modulus: 4, target_label: __tmp_shard, action: hashmod}
      - {source_labels: [zone], target_label: zone, action: uppercase}
      - {source_labels: [role], regex: db, action: drop}
      - {regex: role, action: labeldrop}
`

// stepsAnswer is the data of a relabel_steps answer: Prometheus 3's steps, as they come, and our own parts.
type stepsAnswer struct {
	Steps  []any `json:"steps"`
	Target *struct {
		Labels    map[string]string `json:"labels"`
		ScrapeURL string            `json:"scrapeUrl"`
	} `json:"target"`
	Cluster *struct {
		Self              string `json:"self"`
		ReplicationFactor int    `json:"replicationFactor"`
		ScrapedHere       bool   `json:"scrapedHere"`
		Peers             []struct {
			Name   string  `json:"name"`
			Weight float64 `json:"weight"`
			Owner  bool    `json:"owner"`
		} `json:"peers"`
	} `json:"cluster"`
	Routing *struct{ DB, RP, DBTag, RPTag string } `json:"routing"`
}

// relabelSteps asks a server's /api/v1/targets/relabel_steps for a target of the steps job.
func relabelSteps(t *testing.T, base string, discovered map[string]string) (answer stepsAnswer) {
	t.Helper()
	text, err := json.Marshal(discovered)
	require.NoError(t, err)
	resp, err := http.Get(base + "/api/v1/targets/relabel_steps?" + url.Values{"scrapePool": {"steps"}, "labels": {string(text)}}.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	var envelope struct {
		Status, Error string
		Data          stepsAnswer
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&envelope))
	require.Equal(t, "success", envelope.Status, envelope.Error)
	return envelope.Data
}

// For a kept and a dropped target of a job of six rules, our relabel_steps answers Prometheus 3's steps,
// then who in the cluster scrapes the kept one, with each instance's weight, and its db and rp; the
// /service-discovery page links each target to the page of its steps, which Chromium shows.
func TestRelabelStepsMatchPrometheus(t *testing.T) {
	exporter := StartExporter(t, "steps")
	dir := t.TempDir()
	sdFile := filepath.Join(dir, "steps.json")
	writeJSON(t, sdFile, []map[string]any{
		{"targets": []string{exporter.Addr}, "labels": map[string]string{"role": "web", "zone": "eu"}},
		{"targets": []string{"127.0.0.1:1"}, "labels": map[string]string{"role": "db", "zone": "us"}},
	})
	promYML := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(promYML, []byte(fmt.Sprintf(stepsJob, sdFile)), 0o644))
	prom := startPrometheus(t, PrometheusOfGoMod(t), promYML)
	var theirs targetSet
	Eventually(t, 30*time.Second, "Prometheus has discovered both targets", func() bool {
		theirs = prom.targets(t)
		return len(theirs.Active) == 1 && len(theirs.Dropped) == 1
	})

	base := startStatusRunnerServing(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  status_address = "127.0.0.1:0"
  prometheus_config = %q
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "static-discovery"
    discoverer-id = "peers"
    self = "127.0.0.1:9273"
    replication-factor = 2
  [[inputs.discovering_prometheus.static-discovery]]
    id = "peers"
    targets = ["127.0.0.1:9273", "127.0.0.2:9273", "127.0.0.3:9273"]
`, promYML))
	var ours targetsWithCluster
	Eventually(t, 20*time.Second, "we have discovered both targets among 3 peers", func() bool {
		ours = clusterTargets(t, base)
		return len(ours.Active) == 1 && len(ours.Dropped) == 1 && len(ours.Active[0].Owners) == 2
	})
	require.Equal(t, theirs.Active[0].DiscoveredLabels, ours.Active[0].DiscoveredLabels)
	require.Equal(t, theirs.Dropped[0].DiscoveredLabels, ours.Dropped[0].DiscoveredLabels)

	kept := theirs.Active[0].DiscoveredLabels
	want, got := relabelSteps(t, prom.url, kept), relabelSteps(t, base, kept)
	require.Len(t, want.Steps, 6)
	require.Equal(t, want.Steps, got.Steps, "Prometheus 3's steps for the kept target")
	require.Nil(t, want.Target, "Prometheus 3 has steps only")
	require.Equal(t, theirs.Active[0].Labels, got.Target.Labels, "the target's labels, as Prometheus makes them")
	require.Equal(t, theirs.Active[0].ScrapeURL, got.Target.ScrapeURL)
	require.Equal(t, ours.Active[0].DB, got.Routing.DB)
	require.Equal(t, ours.Active[0].RP, got.Routing.RP)
	require.Equal(t, "db", got.Routing.DBTag)
	require.Equal(t, "rp", got.Routing.RPTag)
	c := got.Cluster
	require.Equal(t, "127.0.0.1:9273", c.Self)
	require.Equal(t, 2, c.ReplicationFactor)
	require.Len(t, c.Peers, 3)
	var owners []string
	for i, p := range c.Peers {
		if i > 0 {
			require.GreaterOrEqual(t, c.Peers[i-1].Weight, p.Weight, "highest weight first")
		}
		require.Equal(t, i < 2, p.Owner, "the two of highest weight own it")
		if p.Owner {
			owners = append(owners, p.Name)
		}
	}
	require.Equal(t, ours.Active[0].Owners, owners, "the owners the scrapes go by")
	require.Equal(t, ours.Active[0].ScrapedHere, c.ScrapedHere)
	require.Equal(t, slices.Contains(owners, c.Self), c.ScrapedHere)

	dropped := theirs.Dropped[0].DiscoveredLabels
	want, got = relabelSteps(t, prom.url, dropped), relabelSteps(t, base, dropped)
	require.Len(t, want.Steps, 6)
	require.Equal(t, want.Steps, got.Steps, "Prometheus 3's steps for the dropped target")
	require.Nil(t, got.Target)
	require.Nil(t, got.Cluster)
	require.Nil(t, got.Routing)

	dom := chromium(t, "--dump-dom", base+"/service-discovery")
	links := stepsLinkRE.FindAllStringSubmatch(dom, -1)
	require.Len(t, links, 2, dom)
	for _, link := range links {
		page := chromium(t, "--dump-dom", base+"/"+html.UnescapeString(link[1]))
		require.Contains(t, page, `<h2>Target relabeling <small>(6 rules)</small></h2>`)
		droppedRows := strings.Count(page, `<tr class="step dropped">`)
		switch kept := strings.Count(page, `<tr class="step kept">`); kept {
		case 6:
			require.Zero(t, droppedRows)
			require.Contains(t, page, `<td>2</td><td><code>hashmod</code></td>`)
			require.Contains(t, page, `<span class="label">sd_zone="eu"</span>`)
			require.Regexp(t, `<tr class="peer"><td><code>127\.0\.0\.[123]:9273</code></td><td>0\.[0-9]{6}</td><td>owner</td></tr>`, page)
			require.Contains(t, page, `<code>db=`+ours.Active[0].DB+`</code>, <code>rp=`+ours.Active[0].RP+`</code>`)
		case 4:
			require.Equal(t, 2, droppedRows)
			require.Contains(t, page, `<td>4</td><td><code>drop</code></td>`)
			require.Contains(t, page, `<strong>Dropped</strong>: no target is made of these labels`)
		default:
			t.Fatalf("%d kept and %d dropped steps:\n%s", kept, droppedRows, page)
		}
	}
}

var stepsLinkRE = regexp.MustCompile(`<a class="steps" href="([^"]+)">show relabeling</a>`)

// targetsWithCluster is our /api/v1/targets, with the parts Prometheus' lacks.
type targetsWithCluster struct {
	Active []struct {
		DiscoveredLabels map[string]string `json:"discoveredLabels"`
		DB               string            `json:"db"`
		RP               string            `json:"rp"`
		Owners           []string          `json:"owners"`
		ScrapedHere      bool              `json:"scrapedHere"`
	} `json:"activeTargets"`
	Dropped []struct {
		DiscoveredLabels map[string]string `json:"discoveredLabels"`
	} `json:"droppedTargets"`
}

func clusterTargets(t *testing.T, base string) (out targetsWithCluster) {
	t.Helper()
	(&promServer{url: base}).api(t, "/api/v1/targets", nil, &out)
	return out
}
