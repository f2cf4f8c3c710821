package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

func init() {
	discovererTests["http-discovery"] = testHTTPSD
}

// HTTPSDEndpoint serves Prometheus' HTTP SD protocol on loopback: a GET answered with a JSON list of target
// groups (application/json), or, while bad is set, with that body as is. It records the X-Scope-OrgID of
// each request.
type HTTPSDEndpoint struct {
	*httptest.Server
	mu     sync.Mutex
	groups []HTTPSDGroup
	bad    string
	orgIDs []string
}

// HTTPSDGroup is one target group of Prometheus' HTTP SD format.
type HTTPSDGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels,omitempty"`
}

func StartHTTPSD(t testing.TB, groups ...HTTPSDGroup) *HTTPSDEndpoint {
	t.Helper()
	e := &HTTPSDEndpoint{groups: groups}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.orgIDs = append(e.orgIDs, r.Header.Get("X-Scope-OrgID"))
		w.Header().Set("Content-Type", "application/json")
		if e.bad != "" {
			_, _ = io.WriteString(w, e.bad)
			return
		}
		_ = json.NewEncoder(w).Encode(e.groups)
	}))
	t.Cleanup(e.Close)
	return e
}

// Set makes the endpoint serve groups, or the bad body when it is not empty.
func (e *HTTPSDEndpoint) Set(bad string, groups ...HTTPSDGroup) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.groups, e.bad = groups, bad
}

func (e *HTTPSDEndpoint) OrgIDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.orgIDs...)
}

// HeaderLog is a front on a loopback port of its own, before a real exporter, that logs the X-Tenant and
// X-Key headers of every scrape.
type HeaderLog struct {
	Addr string
	mu   sync.Mutex
	seen []string // "X-Tenant=...;X-Key=..."
}

func StartHeaderLog(t testing.TB, exporter string) *HeaderLog {
	t.Helper()
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: exporter})
	h := &HeaderLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.seen = append(h.seen, fmt.Sprintf("X-Tenant=%s;X-Key=%s", strings.Join(r.Header.Values("X-Tenant"), ","), strings.Join(r.Header.Values("X-Key"), ",")))
		h.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.Addr = srv.Listener.Addr().String()
	return h
}

func (h *HeaderLog) Seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// The [[http-discovery]] section against an HTTP SD endpoint on loopback: its target groups and labels
// scraped with db/rp and the scraper's http-headers (a secret among them, never on the status page), a
// change followed, a bad answer survived (logged once, the last known targets still scraped, the other
// discoverer untouched) and the recovery logged.
func testHTTPSD(t *testing.T) {
	a, b, c := StartHeaderLog(t, StartExporter(t, "a").Addr), StartHeaderLog(t, StartExporter(t, "b").Addr), StartExporter(t, "c")
	sd := StartHTTPSD(t, HTTPSDGroup{Targets: []string{a.Addr}, Labels: map[string]string{"team": "web"}})
	run := StartPlugin(t, `[[inputs.discovering_prometheus]]
  status_address = "127.0.0.1:0"
  kapacitor_config_api = true
  kapacitor_overrides_file = "`+filepath.Join(t.TempDir(), "overrides.json")+`"
`+ScraperTable("apps", "metrics", "week", "http-discovery", "apps", `scrape-interval = "1s"`)+`
    [inputs.discovering_prometheus.scraper.http-headers]
      X-Tenant = { values = ["acme"] }
      X-Key = { secrets = ["s3cret-key"] }
`+ScraperTable("nodes", "metrics", "week", "static-discovery", "nodes", `scrape-interval = "1s"`)+`
  [[inputs.discovering_prometheus.static-discovery]]
    id = "nodes"
    targets = ["`+c.Addr+`"]
  [[inputs.discovering_prometheus.http-discovery]]
    id = "apps"
    url = "`+sd.URL+`/targets"
    refresh-interval = "1s"
    [inputs.discovering_prometheus.http-discovery.http-headers]
      X-Scope-OrgID = { values = ["tenant-a"] }
`)
	ms := run.GatherUntil(20*time.Second, "a and c scraped", func(ms []telegraf.Metric) bool { return len(Up(ms)) == 2 })
	require.Equal(t, map[string]float64{a.Addr: 1, c.Addr: 1}, Up(ms))
	info := Find(ms, "exporter_info", map[string]string{"instance": a.Addr})
	require.Len(t, info, 1)
	require.Equal(t, map[string]string{"__name__": "exporter_info", "instance": a.Addr, "exporter": "a", "team": "web",
		"db": "metrics", "rp": "week"}, info[0].Tags())
	require.Contains(t, a.Seen(), "X-Tenant=acme;X-Key=s3cret-key")
	require.Contains(t, sd.OrgIDs(), "tenant-a", "the section's http-headers reach the endpoint")

	// The status pages show the targets, and the config API the headers, never the secret one.
	base := statusURLIn(t, 10*time.Second, "plugin", func() string {
		var b strings.Builder
		for _, e := range run.Log.Messages() {
			b.WriteString(e.Text + "\n")
		}
		return b.String()
	})
	for page, want := range map[string]string{"/targets": a.Addr, "/service-discovery": a.Addr, "/api/v1/targets": a.Addr,
		"/kapacitor/v1/config/scraper": `"X-Key":{"secrets":[true],"values":null}`} {
		resp, err := http.Get(base + page)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Contains(t, string(body), want, page)
		require.NotContains(t, string(body), "s3cret-key", page)
	}

	// b added: the next gathers follow.
	sd.Set("", HTTPSDGroup{Targets: []string{a.Addr, b.Addr}, Labels: map[string]string{"team": "web"}})
	run.GatherUntil(10*time.Second, "b added", func(ms []telegraf.Metric) bool { return len(Up(ms)) == 3 })
	require.Contains(t, b.Seen(), "X-Tenant=acme;X-Key=s3cret-key")

	// A bad answer (not a list of target groups): logged once, the last known targets still scraped, the
	// static discoverer untouched.
	sd.Set(`{"targets": "not a list"}`)
	Eventually(t, 10*time.Second, "the bad answer logged", func() bool {
		return CountLog(run.Log, 'E', "Unable to refresh target groups") > 0
	})
	before := len(sd.OrgIDs())
	Eventually(t, 10*time.Second, "two more bad answers", func() bool { return len(sd.OrgIDs()) >= before+2 })
	ms = run.Gather()
	require.Equal(t, map[string]float64{a.Addr: 1, b.Addr: 1, c.Addr: 1}, Up(ms))
	require.Equal(t, 1, CountLog(run.Log, 'E', "Unable to refresh target groups"), run.Log.Messages())

	// Back, without a: a is gone, the recovery logged once.
	sd.Set("", HTTPSDGroup{Targets: []string{b.Addr}})
	run.GatherUntil(10*time.Second, "a gone after the recovery", func(ms []telegraf.Metric) bool { return len(Up(ms)) == 2 })
	require.Equal(t, 1, CountLog(run.Log, 'I', `discoverer recovered`), run.Log.Messages())
}
