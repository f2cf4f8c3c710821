package status

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"
)

// state is a fixed Source: the handlers' input, as the plugin's live state would give it.
type state struct {
	targets     Targets
	scrapers    []Scraper
	discoverers []Discoverer
	ready       bool
}

func (s *state) Targets() Targets          { return s.targets }
func (s *state) Scrapers() []Scraper       { return s.scrapers }
func (s *state) Discoverers() []Discoverer { return s.discoverers }
func (s *state) Ready() bool               { return s.ready }

func active(pool, addr, health, lastError string) ActiveTarget {
	t := ActiveTarget{
		DiscoveredLabels: map[string]string{"__address__": addr, "__meta_note": `<script>alert("x")</script>`},
		Labels:           map[string]string{"instance": addr, "job": pool},
		ScrapePool:       pool, ScrapeURL: "http://" + addr + "/metrics", DB: "d", RP: "r",
		LastError: lastError, Health: health, ScrapeInterval: "10s", ScrapeTimeout: "10s",
	}
	if health != "unknown" {
		t.LastScrape, t.LastScrapeDuration = time.Now().Add(-90*time.Second), 0.0123
	}
	return t
}

func testState() *state {
	return &state{
		targets: Targets{
			Active: []ActiveTarget{
				active("web", "10.0.0.1:80", "up", ""),
				active("web", "10.0.0.2:80", "down", "connection refused"),
				active("db", "10.0.0.3:9187", "unknown", ""),
			},
			Dropped: []DroppedTarget{{
				DiscoveredLabels: map[string]string{"__address__": "10.0.0.9:80"}, ScrapePool: "web", RuleIndex: 0,
				Rule: &relabel.Config{SourceLabels: model.LabelNames{"__address__"}, Regex: relabel.MustNewRegexp("10.0.0.9:80"), Action: relabel.Drop},
			}},
			ScrapePools: []string{"web", "db", "idle"},
		},
		scrapers: []Scraper{
			{Name: "web", DB: "d", RP: "r", Discoverers: []string{`static-discovery "s"`}},
			{Name: "db", DB: "d", RP: "r", Discoverers: []string{`consul "c"`}},
			{Name: "idle", DB: "d", RP: "r", Discoverers: []string{`consul "c"`}},
		},
		discoverers: []Discoverer{
			{Name: `consul "c"`, Answered: false, Refreshes: 0, Errors: 3, LastError: `Error refreshing service: Unexpected response code: 500 (No cluster leader)`},
			{Name: `static-discovery "s"`, Answered: true, Refreshes: 1, Targets: 3, LastRefresh: time.Now().Add(-90 * time.Second)},
		},
	}
}

func serve(t *testing.T, h http.Handler, target string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Result(), string(body)
}

func TestAPITargets(t *testing.T) {
	h := Handler(Config{}, testState())
	for _, tc := range []struct {
		name, query     string
		active, dropped []string // scrape URLs, discovered addresses
	}{
		{"all", "", []string{"http://10.0.0.1:80/metrics", "http://10.0.0.2:80/metrics", "http://10.0.0.3:9187/metrics"}, []string{"10.0.0.9:80"}},
		{"any", "?state=any", []string{"http://10.0.0.1:80/metrics", "http://10.0.0.2:80/metrics", "http://10.0.0.3:9187/metrics"}, []string{"10.0.0.9:80"}},
		{"active", "?state=active", []string{"http://10.0.0.1:80/metrics", "http://10.0.0.2:80/metrics", "http://10.0.0.3:9187/metrics"}, nil},
		{"dropped, any case", "?state=Dropped", nil, []string{"10.0.0.9:80"}},
		{"scrape pool", "?scrapePool=db", []string{"http://10.0.0.3:9187/metrics"}, nil},
		{"scrape pool and state", "?scrapePool=web&state=dropped", nil, []string{"10.0.0.9:80"}},
		{"unknown scrape pool", "?scrapePool=nope", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := serve(t, h, "/api/v1/targets"+tc.query)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var got struct {
				Status string  `json:"status"`
				Data   Targets `json:"data"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &got))
			require.Equal(t, "success", got.Status)
			var urls, dropped []string
			for _, a := range got.Data.Active {
				urls = append(urls, a.ScrapeURL)
			}
			for _, d := range got.Data.Dropped {
				dropped = append(dropped, d.DiscoveredLabels["__address__"])
			}
			require.Equal(t, tc.active, urls)
			require.Equal(t, tc.dropped, dropped)
			// Prometheus' API never has null lists.
			require.Contains(t, body, `"activeTargets":[`)
			require.Contains(t, body, `"droppedTargets":[`)
		})
	}
}

func TestAPITargetsBadState(t *testing.T) {
	resp, body := serve(t, Handler(Config{}, testState()), "/api/v1/targets?state=alive")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.JSONEq(t, `{"status":"error","errorType":"bad_data","error":"state: \"alive\" is not one of active, dropped, any"}`, body)
}

func TestTargetsPage(t *testing.T) {
	h := Handler(Config{}, testState())
	for _, tc := range []struct {
		name, query string
		want        []string // addresses shown
		sections    []string
	}{
		{"all", "", []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:9187"}, []string{"web", "db", "idle"}},
		{"down", "?health=down", []string{"10.0.0.2:80"}, []string{"web", "db", "idle"}},
		{"unhealthy", "?health=down&health=unknown", []string{"10.0.0.2:80", "10.0.0.3:9187"}, []string{"web", "db", "idle"}},
		{"scraper", "?scrapePool=web", []string{"10.0.0.1:80", "10.0.0.2:80"}, []string{"web"}},
		{"scraper and health", "?scrapePool=web&health=up", []string{"10.0.0.1:80"}, []string{"web"}},
		{"unknown scraper", "?scrapePool=nope", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := serve(t, h, "/targets"+tc.query)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
			var shown, sections []string
			for _, addr := range []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:9187"} {
				if strings.Contains(body, `<span class="url">http://`+addr+`/metrics</span>`) {
					shown = append(shown, addr)
				}
			}
			for _, name := range []string{"web", "db", "idle"} {
				if strings.Contains(body, `<section id="scraper-`+name+`"`) {
					sections = append(sections, name)
				}
			}
			require.Equal(t, tc.want, shown)
			require.Equal(t, tc.sections, sections)
			require.NotContains(t, body, "<script", "a label's value is escaped")
			for _, fetch := range []string{"src=", "<link", "<script", "@import", "url("} {
				require.NotContains(t, body, fetch, "the page fetches nothing")
			}
		})
	}
	_, body := serve(t, h, "/targets")
	for _, want := range []string{
		`<span class="health health-down">down</span>`,
		`<td class="error">connection refused</td>`,
		`<td class="nowrap">1m30s ago</td>`,
		`<td class="nowrap">12.3ms</td>`,
		`<td class="nowrap">never</td>`,
		`<details><summary>discovered labels</summary><span class="label">__address__="10.0.0.1:80"</span>`,
		`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`,
		`<h2>web <small>(1/2 up) · db <code>d</code>, rp <code>r</code> · discoverer <code>static-discovery &#34;s&#34;</code></small></h2>`,
		`<option value="web">web</option>`,
	} {
		require.Contains(t, body, want)
	}
	_, body = serve(t, h, "/targets?scrapePool=web&health=up")
	require.Contains(t, body, `<option value="web" selected>web</option>`, "the form shows the filter applied")
	require.Contains(t, body, `<input type="checkbox" name="health" value="up" checked>`)
	_, body = serve(t, h, "/targets?scrapePool=nope")
	require.Contains(t, body, "No scraper is named “nope”.")
}

func TestPagesBadFilter(t *testing.T) {
	for _, path := range []string{"/targets", "/service-discovery"} {
		t.Run(path, func(t *testing.T) {
			resp, body := serve(t, Handler(Config{}, testState()), path+"?health=sick")
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			require.Equal(t, "health: \"sick\" is not one of up, down, unknown\n", body)
		})
	}
}

func TestServiceDiscoveryPage(t *testing.T) {
	resp, body := serve(t, Handler(Config{}, testState()), "/service-discovery")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, want := range []string{
		`<tr class="discoverer"><td><code>consul &#34;c&#34;</code></td><td>waiting for its first answer</td><td>0</td><td class="nowrap">never</td><td>0</td><td>3</td>` +
			`<td class="error">Error refreshing service: Unexpected response code: 500 (No cluster leader)</td></tr>`,
		`<tr class="discoverer"><td><code>static-discovery &#34;s&#34;</code></td><td>answered</td><td>3</td><td class="nowrap">1m30s ago</td><td>1</td><td>0</td><td class="error"></td></tr>`,
		`<h2>web <small>(2 active / 3 discovered)`,
		`<strong>Dropped</strong> by rule 0: <code>{&#34;source_labels&#34;:[&#34;__address__&#34;],&#34;separator&#34;:&#34;&#34;,&#34;regex&#34;:&#34;10.0.0.9:80&#34;,&#34;replacement&#34;:&#34;&#34;,&#34;action&#34;:&#34;drop&#34;}</code>`,
		`<h2>idle <small>(0 active / 0 discovered)`,
		`<p class="empty">Nothing discovered.</p>`,
	} {
		require.Contains(t, body, want)
	}
	_, body = serve(t, Handler(Config{}, testState()), "/service-discovery?scrapePool=db")
	require.NotContains(t, body, `id="scraper-web"`)
	require.Contains(t, body, `id="scraper-db"`)
}

func TestHealthyReadyAndRoot(t *testing.T) {
	s := testState()
	h := Handler(Config{}, s)
	resp, _ := serve(t, h, "/-/healthy")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body := serve(t, h, "/-/ready")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	s.ready = true
	resp, _ = serve(t, h, "/-/ready")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = serve(t, h, "/")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, "targets", resp.Header.Get("Location"))
	resp, _ = serve(t, h, "/nothing")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestBasicAuth(t *testing.T) {
	h := Handler(Config{Username: "admin", Password: "pass"}, testState())
	for _, tc := range []struct {
		name, user, password string
		want                 int
	}{
		{"none", "", "", http.StatusUnauthorized},
		{"wrong password", "admin", "nope", http.StatusUnauthorized},
		{"wrong user", "root", "pass", http.StatusUnauthorized},
		{"right", "admin", "pass", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/targets", "/service-discovery", "/api/v1/targets", "/metrics", "/-/healthy"} {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				if tc.user != "" {
					req.SetBasicAuth(tc.user, tc.password)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				require.Equal(t, tc.want, rec.Code, path)
				if tc.want == http.StatusUnauthorized {
					require.Equal(t, `Basic realm="discovering_prometheus", charset="UTF-8"`, rec.Header().Get("WWW-Authenticate"))
				}
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	for _, tc := range []struct {
		address  string
		loopback bool
		err      string
	}{
		{"127.0.0.1:9274", true, ""},
		{"127.1.2.3:9274", true, ""},
		{"[::1]:9274", true, ""},
		{"localhost:0", true, ""},
		{":9274", false, ""},
		{"0.0.0.0:9274", false, ""},
		{"[::]:9274", false, ""},
		{"192.168.1.1:9274", false, ""},
		{"example.com:9274", false, ""},
		{"127.0.0.1", false, "address 127.0.0.1: missing port in address"},
	} {
		t.Run(tc.address, func(t *testing.T) {
			loopback, err := Loopback(tc.address)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.loopback, loopback)
		})
	}
}

func TestRoundDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		3*time.Minute + 4*time.Second + 300*time.Millisecond: "3m4s",
		1234567 * time.Microsecond:                           "1.23s",
		989671 * time.Microsecond:                            "990ms",
		45678 * time.Microsecond:                             "45.7ms",
		1164 * time.Microsecond:                              "1.16ms",
		334567 * time.Nanosecond:                             "335µs",
		0:                                                    "0s",
	} {
		t.Run(d.String(), func(t *testing.T) {
			require.Equal(t, want, roundDuration(d), "%d", d)
		})
	}
}

// With a cluster table, each target shows its owners, and says when this instance is not one of them.
func TestTargetsPageOwners(t *testing.T) {
	st := testState()
	st.targets.Active[0].Owners, st.targets.Active[0].ScrapedHere = []string{"a:9273", "b:9273"}, true
	st.targets.Active[1].Owners = []string{"c:9273"}
	_, body := serve(t, Handler(Config{}, st), "/targets")
	require.Contains(t, body, `owners: <code>a:9273</code>, <code>b:9273</code></div>`)
	require.Contains(t, body, `owners: <code>c:9273</code> · <strong>not scraped here</strong></div>`)
	require.Equal(t, 2, strings.Count(body, `class="owners"`), "no owners line without a cluster")
}
