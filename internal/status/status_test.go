package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"
)

// state is a fixed Source: the handlers' input, as the plugin's live state would give it.
type state struct {
	targets     Targets
	scrapers    []Scraper
	discoverers []Discoverer
	refused     []Refusal
	ready       bool
	// steps answers RelabelSteps for each scrape pool; the labels it was asked for go to asked.
	steps map[string]RelabelSteps
	asked labels.Labels
}

func (s *state) Targets() Targets          { return s.targets }
func (s *state) Scrapers() []Scraper       { return s.scrapers }
func (s *state) Discoverers() []Discoverer { return s.discoverers }
func (s *state) Refused() []Refusal        { return s.refused }
func (s *state) Ready() bool               { return s.ready }

func (s *state) RelabelSteps(pool string, discovered labels.Labels) (RelabelSteps, error) {
	steps, ok := s.steps[pool]
	if !ok {
		return RelabelSteps{}, fmt.Errorf("scrape pool %q not found", pool)
	}
	s.asked = discovered
	return steps, nil
}

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
	require.NotContains(t, body, "Refused objects")
	_, body = serve(t, Handler(Config{}, testState()), "/service-discovery?scrapePool=db")
	require.NotContains(t, body, `id="scraper-web"`)
	require.Contains(t, body, `id="scraper-db"`)
}

// A scraper made from an object (a ServiceMonitor's endpoint) names it; a refused object is listed with
// its reason.
func TestServiceDiscoveryObjects(t *testing.T) {
	s := testState()
	s.scrapers[0].Object = "ServiceMonitor monitoring/web"
	s.refused = []Refusal{{Object: "ServiceMonitor monitoring/bad", Reason: `annotations: db: "a<b"`}}
	_, body := serve(t, Handler(Config{}, s), "/service-discovery")
	require.Contains(t, body, `<h2>web <small>(2 active / 3 discovered) · made by <code class="object">ServiceMonitor monitoring/web</code> · discoverer`)
	require.Contains(t, body, `<h2>db <small>(1 active / 1 discovered) · discoverer`)
	require.Contains(t, body, `<h2>Refused objects</h2>`)
	require.Contains(t, body, `<tr class="refused"><td><code>ServiceMonitor monitoring/bad</code></td><td class="error">annotations: db: &#34;a&lt;b&#34;</td></tr>`)
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
	require.NotContains(t, body, `class="alert"`)

	// An instance the peer discoverer does not list says so above every target, escaped.
	st.targets.Cluster = &ClusterMember{Self: "a:1", Error: `cluster: self "a:1" is not among <the> instances`}
	_, body = serve(t, Handler(Config{}, st), "/targets?scrapePool=web")
	require.Contains(t, body, `<p class="alert"><strong>cluster: self &#34;a:1&#34; is not among &lt;the&gt; instances</strong></p>`)
}

// Basic auth guards every way of asking: other methods, paths the mux would redirect or clean, encoded
// paths, paths it does not serve (a /debug/pprof some servers mount), and the answer names no page.
func TestBasicAuthEveryRequest(t *testing.T) {
	h := Handler(Config{Username: "admin", Password: "pass"}, testState())
	for _, tc := range []struct{ method, target string }{
		{http.MethodHead, "/targets"},
		{http.MethodPost, "/targets"},
		{http.MethodOptions, "/api/v1/targets"},
		{http.MethodGet, "/targets/"},
		{http.MethodGet, "//targets"},
		{http.MethodGet, "/./targets"},
		{http.MethodGet, "/x/../targets"},
		{http.MethodGet, "/%74argets"},
		{http.MethodGet, "/api/v1/targets?state=active"},
		{http.MethodGet, "/debug/pprof/"},
		{http.MethodGet, "/"},
		{http.MethodGet, "/nothing"},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
			require.Equal(t, http.StatusUnauthorized, rec.Code)
			require.NotContains(t, rec.Body.String(), "10.0.0.1", "no target in the refusal")
			require.Empty(t, rec.Header().Get("Location"), "no redirect before the credentials")
		})
	}
}

// Every answer, the refusals and errors too, forbids scripts, foreign assets, framing and sniffing.
func TestSecurityHeaders(t *testing.T) {
	for name, cfg := range map[string]Config{"open": {}, "basic auth": {Username: "admin", Password: "pass"}} {
		h := Handler(cfg, testState())
		for _, target := range []string{"/targets", "/service-discovery", "/api/v1/targets", "/targets?health=bad", "/nothing"} {
			t.Run(name+" "+target, func(t *testing.T) {
				resp, _ := serve(t, h, target)
				require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
				csp := resp.Header.Get("Content-Security-Policy")
				require.Contains(t, csp, "default-src 'none'")
				require.Contains(t, csp, "frame-ancestors 'none'")
			})
		}
	}
}

// Every string a target, a discoverer or a configuration controls is text on the pages: no element, no
// attribute, no javascript: link comes out of it.
func TestPagesEscapeHostileStrings(t *testing.T) {
	const evil = `"'><script>alert(1)</script><img src=x onerror=alert(2)>`
	s := testState()
	a := &s.targets.Active[0]
	a.ScrapeURL = "javascript:alert(3)//" + evil
	a.LastError = evil
	a.Labels = map[string]string{evil: evil, "style": "background:url(javascript:alert(4))"}
	a.DiscoveredLabels = map[string]string{"__address__": evil}
	a.Owners = []string{evil}
	s.targets.Dropped[0].DiscoveredLabels = map[string]string{"__address__": evil}
	s.targets.Dropped[0].Rule.Replacement = evil
	s.scrapers[0].Name, s.scrapers[0].DB, s.scrapers[0].Discoverers = evil, evil, []string{evil}
	s.targets.ScrapePools[0], a.ScrapePool, s.targets.Dropped[0].ScrapePool = evil, evil, evil
	s.discoverers[0].Name, s.discoverers[0].LastError = evil, evil
	h := Handler(Config{}, s)
	for _, target := range []string{"/targets", "/service-discovery", "/targets?scrapePool=" + url.QueryEscape(evil)} {
		t.Run(target, func(t *testing.T) {
			resp, body := serve(t, h, target)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Contains(t, body, "&lt;script&gt;alert(1)", "the hostile string is shown, as text")
			for _, bad := range []string{"<script", "<img", `href="javascript:`, `"'>`} {
				require.False(t, strings.Contains(body, bad), "the page holds %s", bad)
			}
		})
	}
	_, body := serve(t, h, "/api/v1/targets")
	require.NotContains(t, body, "<script", "the JSON escapes <, > and &")
}

// The server gives up on clients that send, read or idle too slowly, and bounds the headers it reads.
func TestServerTimeouts(t *testing.T) {
	s, err := Listen(Config{Address: "127.0.0.1:0"}, testState())
	require.NoError(t, err)
	defer s.Close()
	srv := s.server
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout} {
		require.Positive(t, d, name)
	}
	require.Positive(t, srv.MaxHeaderBytes)
}

// blockingState holds every Targets call until release is closed, and counts the calls in it at once.
type blockingState struct {
	*state
	in, most atomic.Int32
	release  chan struct{}
}

func (s *blockingState) Targets() Targets {
	n := s.in.Add(1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	<-s.release
	s.in.Add(-1)
	return s.state.Targets()
}

// Many clients asking at once get their answers, MaxRenders at a time: the copies of the targets and the
// rendered pages in memory at once are bounded.
func TestRendersBounded(t *testing.T) {
	src := &blockingState{state: testState(), release: make(chan struct{})}
	h := Handler(Config{}, src)
	paths := []string{"/targets", "/service-discovery", "/api/v1/targets"}
	var wg sync.WaitGroup
	codes := make([]int, 12)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, paths[i%len(paths)], nil))
			codes[i] = rec.Code
		}()
	}
	require.Eventually(t, func() bool { return src.in.Load() == MaxRenders }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // room for more to come in, if they could
	require.EqualValues(t, MaxRenders, src.in.Load())
	close(src.release)
	wg.Wait()
	require.EqualValues(t, MaxRenders, src.most.Load())
	for i, code := range codes {
		require.Equal(t, http.StatusOK, code, paths[i%len(paths)])
	}
}

// A client that gives up while it waits for its turn leaves at once.
func TestRenderWaitEndsWithTheRequest(t *testing.T) {
	src := &blockingState{state: testState(), release: make(chan struct{})}
	defer close(src.release)
	h := Handler(Config{}, src)
	for range MaxRenders {
		go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/targets", nil))
	}
	require.Eventually(t, func() bool { return src.in.Load() == MaxRenders }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/targets", nil).WithContext(ctx))
}

// No answer is kept by a cache: every one is the state of a moment.
func TestNoStore(t *testing.T) {
	h := Handler(Config{Username: "admin", Password: "pass"}, testState())
	for _, target := range []string{"/targets", "/service-discovery", "/api/v1/targets", "/metrics", "/-/ready", "/nothing"} {
		resp, _ := serve(t, h, target)
		require.Equal(t, "no-store", resp.Header.Get("Cache-Control"), target)
	}
}

// Bound to loopback, the server answers only requests for this machine's names (DNS rebinding); bound
// elsewhere, any name.
func TestHostCheckOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		address, host string
		want          int
	}{
		{"127.0.0.1:9274", "127.0.0.1:9274", http.StatusOK},
		{"127.0.0.1:9274", "localhost:9274", http.StatusOK},
		{"127.0.0.1:9274", "LOCALHOST", http.StatusOK},
		{"127.0.0.1:9274", "127.5.6.7:80", http.StatusOK},
		{"127.0.0.1:9274", "[::1]:9274", http.StatusOK},
		{"127.0.0.1:9274", "attacker.example:9274", http.StatusMisdirectedRequest},
		{"127.0.0.1:9274", "attacker.example", http.StatusMisdirectedRequest},
		{"127.0.0.1:9274", "10.0.0.1:9274", http.StatusMisdirectedRequest},
		{"127.0.0.1:9274", "", http.StatusMisdirectedRequest},
		{"[::1]:9274", "[::1]:9274", http.StatusOK},
		{"[::1]:9274", "rebind.example", http.StatusMisdirectedRequest},
		{"localhost:9274", "localhost:9274", http.StatusOK},
		{"0.0.0.0:9274", "telegraf.example:9274", http.StatusOK},
		{"", "anything", http.StatusOK},
	} {
		h := Handler(Config{Address: tc.address}, testState())
		for _, path := range []string{"/targets", "/api/v1/targets", "/metrics", "/-/healthy"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Host = tc.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.want, rec.Code, "bound to %q, Host %q, %s", tc.address, tc.host, path)
		}
	}
}

// A request that waits for a render slot longer than renderWait is answered 503, and asks to retry.
func TestRenderWaitBounded(t *testing.T) {
	defer func(d time.Duration) { renderWait = d }(renderWait)
	renderWait = 200 * time.Millisecond
	src := &blockingState{state: testState(), release: make(chan struct{})}
	defer close(src.release)
	h := Handler(Config{}, src)
	for range MaxRenders {
		go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/targets", nil))
	}
	require.Eventually(t, func() bool { return src.in.Load() == MaxRenders }, 5*time.Second, time.Millisecond)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // a server that waits for ever fails
	defer cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/targets", nil).WithContext(ctx))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, "1", rec.Header().Get("Retry-After"))
	require.Less(t, time.Since(start), 2*time.Second)
}

// POST /-/reload is served only when enabled: it answers the reload's error with 500, and needs the pages'
// basic auth.
func TestReload(t *testing.T) {
	post := func(h http.Handler, user string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/-/reload", nil)
		if user != "" {
			req.SetBasicAuth(user, "pass")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := post(Handler(Config{}, testState()), "")
	require.Equal(t, http.StatusForbidden, rec.Code)
	require.Contains(t, rec.Body.String(), "status_enable_lifecycle")

	var reloads int
	var failure error
	h := Handler(Config{Username: "admin", Password: "pass", Reload: func() error { reloads++; return failure }}, testState())
	require.Equal(t, http.StatusUnauthorized, post(h, "").Code)
	require.Equal(t, 0, reloads)
	require.Equal(t, http.StatusOK, post(h, "admin").Code)
	require.Equal(t, 1, reloads)
	failure = errors.New(`scraper "a": db: required`)
	rec = post(h, "admin")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Equal(t, "failed to reload config: scraper \"a\": db: required\n", rec.Body.String())
	req := httptest.NewRequest(http.MethodGet, "/-/reload", nil)
	req.SetBasicAuth("admin", "pass")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code, "GET is not a reload")
	require.Equal(t, 2, reloads)
}
