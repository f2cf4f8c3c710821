package status

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"
)

// stepsState is testState with the steps of a kept target of "web", in a cluster of two, and of a dropped
// one of "db".
func stepsState() *state {
	s := testState()
	replace := &relabel.Config{SourceLabels: model.LabelNames{"__address__"}, Regex: relabel.MustNewRegexp("(.*):80"), TargetLabel: "host", Replacement: "$1", Action: relabel.Replace}
	drop := &relabel.Config{SourceLabels: model.LabelNames{"host"}, Regex: relabel.MustNewRegexp("10.0.0.9"), Action: relabel.Drop}
	s.steps = map[string]RelabelSteps{
		"web": {
			Steps: []RelabelStep{
				{Rule: replace, Output: labels.FromStrings("__address__", "10.0.0.1:80", "host", "10.0.0.1"), Keep: true},
				{Rule: drop, Output: labels.FromStrings("__address__", "10.0.0.1:80", "host", "10.0.0.1"), Keep: true},
			},
			Target: &StepTarget{Labels: map[string]string{"host": "10.0.0.1", "instance": "10.0.0.1:80", "job": "web"}, ScrapeURL: "http://10.0.0.1:80/metrics"},
			Cluster: &StepCluster{Self: "a:9273", ReplicationFactor: 1, ScrapedHere: false, Peers: []PeerWeight{
				{Name: "b:9273", Weight: 0.75, Owner: true}, {Name: "a:9273", Weight: 0.25},
			}},
			Routing: &StepRouting{DBTag: "db", DB: "d", RPTag: "rp", RP: "r"},
		},
		"db": {Steps: []RelabelStep{
			{Rule: replace, Output: labels.FromStrings("__address__", "10.0.0.9:80", "host", "10.0.0.9"), Keep: true},
			{Rule: drop, Output: labels.EmptyLabels(), Keep: false},
		}},
	}
	return s
}

func stepsTarget(path, pool, discovered string) string {
	q := url.Values{}
	if pool != "" {
		q.Set("scrapePool", pool)
	}
	if discovered != "" {
		q.Set("labels", discovered)
	}
	return path + "?" + q.Encode()
}

// The API takes Prometheus 3's parameters and answers in its shape: steps, each its rule, output and keep,
// the output {} once dropped; then our target, cluster and routing.
func TestAPIRelabelSteps(t *testing.T) {
	src := stepsState()
	resp, body := serve(t, Handler(Config{}, src), stepsTarget("/api/v1/targets/relabel_steps", "web", `{"__address__":"10.0.0.1:80","job":"web"}`))
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, labels.FromStrings("__address__", "10.0.0.1:80", "job", "web"), src.asked)
	require.JSONEq(t, `{"status":"success","data":{
		"steps":[
			{"rule":{"source_labels":["__address__"],"separator":"","regex":"(.*):80","target_label":"host","replacement":"$1","action":"replace"},
			 "output":{"__address__":"10.0.0.1:80","host":"10.0.0.1"},"keep":true},
			{"rule":{"source_labels":["host"],"separator":"","regex":"10.0.0.9","replacement":"","action":"drop"},
			 "output":{"__address__":"10.0.0.1:80","host":"10.0.0.1"},"keep":true}],
		"target":{"labels":{"host":"10.0.0.1","instance":"10.0.0.1:80","job":"web"},"scrapeUrl":"http://10.0.0.1:80/metrics"},
		"cluster":{"self":"a:9273","replicationFactor":1,"scrapedHere":false,"peers":[
			{"name":"b:9273","weight":0.75,"owner":true},{"name":"a:9273","weight":0.25,"owner":false}]},
		"routing":{"dbTag":"db","db":"d","rpTag":"rp","rp":"r"}}}`, body)

	_, body = serve(t, Handler(Config{}, src), stepsTarget("/api/v1/targets/relabel_steps", "db", `{"__address__":"10.0.0.9:80"}`))
	var dropped struct {
		Data map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal([]byte(body), &dropped))
	require.Equal(t, []string{"steps"}, slices.Collect(maps.Keys(dropped.Data)), "a dropped target has only the steps")
	require.Contains(t, string(dropped.Data["steps"]), `"output":{},"keep":false`)
}

// Bad requests are answered as Prometheus 3 answers them: bad_data, with its words.
func TestAPIRelabelStepsBadRequest(t *testing.T) {
	for _, tt := range []struct{ pool, labels, want string }{
		{"", `{"a":"b"}`, "no scrapePool parameter provided"},
		{"web", "", "no labels parameter provided"},
		{"web", `{"a":`, "error parsing labels: "},
		{"web", `["a"]`, "error parsing labels: "},
		{"other", `{"a":"b"}`, `error retrieving scrape config: scrape pool "other" not found`},
	} {
		resp, body := serve(t, Handler(Config{}, stepsState()), stepsTarget("/api/v1/targets/relabel_steps", tt.pool, tt.labels))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
		var e response
		require.NoError(t, json.Unmarshal([]byte(body), &e))
		require.Equal(t, "error", e.Status)
		require.Equal(t, "bad_data", e.ErrorType)
		require.Contains(t, e.Error, tt.want)

		resp, body = serve(t, Handler(Config{}, stepsState()), stepsTarget("/relabel-steps", tt.pool, tt.labels))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, tt.want)
	}
}

// The page shows each rule with its action and the labels after it, then the target, the cluster's
// weights and the routing; a dropped target stops at its rule.
func TestRelabelStepsPage(t *testing.T) {
	resp, body := serve(t, Handler(Config{}, stepsState()), stepsTarget("/relabel-steps", "web", `{"__address__":"10.0.0.1:80","job":"web"}`))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, want := range []string{
		`<span class="label">__address__="10.0.0.1:80"</span> <span class="label">job="web"</span>`,
		`<h2>Target relabeling <small>(2 rules)</small></h2>`,
		`<tr class="step kept">
<td>0</td><td><code>replace</code></td><td><code>{&#34;source_labels&#34;:[&#34;__address__&#34;],`,
		`<td><span class="label">__address__="10.0.0.1:80"</span> <span class="label">host="10.0.0.1"</span> </td>`,
		`Scraped at <span class="url">http://10.0.0.1:80/metrics</span>; every sample carries <span class="label">host="10.0.0.1"</span> <span class="label">instance="10.0.0.1:80"</span> <span class="label">job="web"</span>`,
		`replication factor 1 · this instance <code>a:9273</code> does <strong>not</strong> scrape it`,
		`<tr class="peer"><td><code>b:9273</code></td><td>0.750000</td><td>owner</td></tr>`,
		`<tr class="peer"><td><code>a:9273</code></td><td>0.250000</td><td></td></tr>`,
		`<code>db=d</code>, <code>rp=r</code>`,
	} {
		require.Contains(t, body, want)
	}

	_, body = serve(t, Handler(Config{}, stepsState()), stepsTarget("/relabel-steps", "db", `{"__address__":"10.0.0.9:80"}`))
	require.Contains(t, body, `<tr class="step dropped">
<td>1</td><td><code>drop</code></td>`)
	require.Contains(t, body, `<strong>Dropped</strong>: no target is made of these labels`)
	require.NotContains(t, body, `id="routing"`)
	require.NotContains(t, body, `id="cluster"`)
}

// /service-discovery links every target, kept or dropped, to its steps, by its discovered labels.
func TestServiceDiscoveryLinksSteps(t *testing.T) {
	_, body := serve(t, Handler(Config{}, testState()), "/service-discovery?scrapePool=web")
	for _, addr := range []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.9:80"} {
		discovered := map[string]string{"__address__": addr}
		if addr != "10.0.0.9:80" {
			discovered["__meta_note"] = `<script>alert("x")</script>`
		}
		text, err := json.Marshal(discovered)
		require.NoError(t, err)
		link := "relabel-steps?" + url.Values{"labels": {string(text)}, "scrapePool": {"web"}}.Encode()
		require.Contains(t, body, `<a class="steps" href="`+strings.ReplaceAll(link, "&", "&amp;")+`">show relabeling</a>`)
	}
}
