package discovering_prometheus

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/metricstest"
)

// statusConf is a scraper of the given targets with the given plugin-level status options.
func statusConf(options string, targets ...string) string {
	return fmt.Sprintf(`
[[inputs.discovering_prometheus]]
%s
  [[inputs.discovering_prometheus.scraper]]
    name = "web"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    username = "scrape-user"
    password = "hunter2-secret"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = ["%s"]
`, options, strings.Join(targets, `", "`))
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns their paths and a pool that
// trusts the certificate.
func selfSigned(t *testing.T) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "status test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certPath, keyPath, pool
}

// Secure by default: an address other hosts can reach is refused without TLS, basic auth or
// status_allow_plain, with a message naming those options.
func TestStatusInit(t *testing.T) {
	cert, key, _ := selfSigned(t)
	refused := `status_address: "%s" is reachable from other hosts: serve it with TLS (tls_cert and tls_key) or basic auth (status_basic_username and status_basic_password), or set status_allow_plain = true`
	for _, tc := range []struct {
		name, options, want string
	}{
		{"off by default", ``, ""},
		{"loopback IPv4", `status_address = "127.0.0.1:9274"`, ""},
		{"loopback IPv6", `status_address = "[::1]:9274"`, ""},
		{"localhost", `status_address = "localhost:9274"`, ""},
		{"every interface refused", `status_address = ":9274"`, fmt.Sprintf(refused, ":9274")},
		{"0.0.0.0 refused", `status_address = "0.0.0.0:9274"`, fmt.Sprintf(refused, "0.0.0.0:9274")},
		{"a host name refused", `status_address = "telegraf.example.com:9274"`, fmt.Sprintf(refused, "telegraf.example.com:9274")},
		{"plain allowed", "status_address = \"0.0.0.0:9274\"\nstatus_allow_plain = true", ""},
		{"basic auth in plain refused", "status_address = \"0.0.0.0:9274\"\nstatus_basic_username = \"u\"\nstatus_basic_password = \"p\"",
			`status_basic_password: "0.0.0.0:9274" is reachable from other hosts and basic auth over plain HTTP sends the password in clear: serve it with TLS (tls_cert and tls_key), or set status_allow_plain = true`},
		{"basic auth in plain allowed", "status_address = \"0.0.0.0:9274\"\nstatus_basic_username = \"u\"\nstatus_basic_password = \"p\"\nstatus_allow_plain = true", ""},
		{"basic auth in plain on loopback", "status_address = \"127.0.0.1:9274\"\nstatus_basic_username = \"u\"\nstatus_basic_password = \"p\"", ""},
		{"basic auth with tls", fmt.Sprintf("status_address = \"0.0.0.0:9274\"\nstatus_basic_username = \"u\"\nstatus_basic_password = \"p\"\ntls_cert = %q\ntls_key = %q", cert, key), ""},
		{"tls", fmt.Sprintf("status_address = \"0.0.0.0:9274\"\ntls_cert = %q\ntls_key = %q", cert, key), ""},
		{"username without password", "status_address = \"127.0.0.1:9274\"\nstatus_basic_username = \"u\"",
			"status_basic_username, status_basic_password: set both or neither"},
		{"password without username", "status_address = \"127.0.0.1:9274\"\nstatus_basic_password = \"p\"",
			"status_basic_username, status_basic_password: set both or neither"},
		{"no port", `status_address = "127.0.0.1"`, `status_address: "127.0.0.1": address 127.0.0.1: missing port in address`},
		{"key without certificate", fmt.Sprintf("status_address = \"127.0.0.1:9274\"\ntls_key = %q", key),
			"tls_cert, tls_key: the status server needs both for HTTPS"},
		{"client CAs without certificate", fmt.Sprintf("status_address = \"127.0.0.1:9274\"\ntls_allowed_cacerts = [%q]", cert),
			"tls_cert, tls_key: the status server needs both for HTTPS"},
		{"missing certificate", "status_address = \"0.0.0.0:9274\"\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"",
			`could not load certificate "/nonexistent/cert.pem"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := statusConf(tc.options, "127.0.0.1:1")
			// Telegraf's loader checks a plugin's TLS files itself; the shim's leaves it to Init.
			telegraf, err := loadTelegraf(t, conf)
			if err != nil {
				require.Contains(t, err.Error(), tc.want)
				telegraf = loadShim(t, conf)
			}
			for loader, p := range map[string]*DiscoveringPrometheus{"telegraf": telegraf, "shim": loadShim(t, conf)} {
				err := p.Init()
				if tc.want == "" {
					require.NoError(t, err, loader)
					continue
				}
				require.Error(t, err, loader)
				require.Contains(t, err.Error(), tc.want, loader)
			}
		})
	}
}

// startStatus starts a plugin whose status server listens on a free loopback port and returns it with its
// server's base URL; it stops when the test ends.
func startStatus(t *testing.T, conf string) (*DiscoveringPrometheus, string) {
	t.Helper()
	p := mustLoad(t, conf)
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	t.Cleanup(p.Stop)
	return p, strings.TrimSuffix(p.StatusURL(), "/targets")
}

func get(t *testing.T, client *http.Client, url, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// The server shows the live state of the running plugin, behind basic auth, and never a secret.
func TestStatusServesLiveState(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, _ := r.BasicAuth(); u != "scrape-user" || p != "hunter2-secret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "# TYPE thing gauge\nthing 1\n")
	}))
	defer target.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	up, gone := strings.TrimPrefix(target.URL, "http://"), strings.TrimPrefix(down.URL, "http://")
	p, base := startStatus(t, statusConf(`
  status_address = "127.0.0.1:0"
  status_basic_username = "admin"
  status_basic_password = "status-pass"`, up, gone))
	client := &http.Client{Timeout: 10 * time.Second}

	// Ready once discovery has answered: 503 before, which a static discoverer's 100ms settling may show.
	require.Eventually(t, func() bool {
		code, body := get(t, client, base+"/-/ready", "admin", "status-pass")
		require.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, code, body)
		return code == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	code, body := get(t, client, base+"/targets", "", "")
	require.Equal(t, http.StatusUnauthorized, code, body)
	code, body = get(t, client, base+"/targets", "admin", "wrong")
	require.Equal(t, http.StatusUnauthorized, code, body)

	require.Eventually(t, func() bool { // the scrapers take discovery's targets as it answers, before a gather
		code, body = get(t, client, base+"/targets", "admin", "status-pass")
		require.Equal(t, http.StatusOK, code)
		return strings.Contains(body, `<span class="url">http://`+up+`/metrics</span>`)
	}, 10*time.Second, 20*time.Millisecond)

	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	code, body = get(t, client, base+"/targets", "admin", "status-pass")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `<span class="url">http://`+up+`/metrics</span>`)
	require.Contains(t, body, `<span class="url">http://`+gone+`/metrics</span>`)
	require.Equal(t, 1, strings.Count(body, `<span class="health health-up">up</span>`), body)
	require.Equal(t, 1, strings.Count(body, `<span class="health health-down">down</span>`), body)
	require.Contains(t, body, "connection refused")

	code, body = get(t, client, base+"/api/v1/targets", "admin", "status-pass")
	require.Equal(t, http.StatusOK, code)
	var api struct {
		Status string  `json:"status"`
		Data   Targets `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &api))
	require.Equal(t, "success", api.Status)
	want := p.Targets()
	require.Equal(t, want.Active[0].ScrapeURL, api.Data.Active[0].ScrapeURL)
	require.Len(t, api.Data.Active, 2)
	require.Equal(t, map[string]string{"up": "up", "down": "down"}, map[string]string{
		api.Data.Active[0].Health: api.Data.Active[0].Health, api.Data.Active[1].Health: api.Data.Active[1].Health})

	code, body = get(t, client, base+"/metrics", "admin", "status-pass")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `discovering_prometheus_scrapes_total{scraper="web"} 2`)
	require.Contains(t, body, `discovering_prometheus_scrape_errors_total{scraper="web"} 1`)

	var all strings.Builder
	for _, path := range []string{"/targets", "/service-discovery", "/api/v1/targets", "/metrics", "/-/healthy", "/-/ready"} {
		code, body := get(t, client, base+path, "admin", "status-pass")
		require.Equal(t, http.StatusOK, code, path)
		all.WriteString(body)
	}
	require.NotContains(t, all.String(), "hunter2")
	require.NotContains(t, all.String(), "status-pass")

	p.Stop()
	_, err := client.Get(base + "/-/healthy")
	require.Error(t, err, "Stop ends the server")
}

// Reading the state never waits for a scrape: a target that hangs leaves the page answering, its health
// the one its last scrape left.
func TestStatusDoesNotWaitForScrapes(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{}, 1)
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(release)
	p, base := startStatus(t, statusConf(`status_address = "127.0.0.1:0"`, strings.TrimPrefix(hanging.URL, "http://")))
	gathered := make(chan error, 1)
	go func() { gathered <- p.Gather(&testutil.Accumulator{}) }()
	select { // the scrape is under way once the target has the request
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the target was not scraped")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for range 3 {
		code, body := get(t, client, base+"/targets", "", "")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, `<span class="health health-unknown">unknown</span>`)
		code, _ = get(t, client, base+"/api/v1/targets", "", "")
		require.Equal(t, http.StatusOK, code)
	}
	select {
	case err := <-gathered:
		t.Fatalf("the gather ended (%v) before the pages were read: the test proved nothing", err)
	default:
	}
}

// With tls_cert and tls_key the server speaks HTTPS only.
func TestStatusTLS(t *testing.T) {
	cert, key, pool := selfSigned(t)
	_, base := startStatus(t, statusConf(fmt.Sprintf("status_address = \"127.0.0.1:0\"\ntls_cert = %q\ntls_key = %q", cert, key), "127.0.0.1:1"))
	require.True(t, strings.HasPrefix(base, "https://127.0.0.1:"), base)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	code, body := get(t, client, base+"/-/healthy", "", "")
	require.Equal(t, http.StatusOK, code, body)

	code, body = get(t, &http.Client{Timeout: 10 * time.Second}, "http"+strings.TrimPrefix(base, "https")+"/-/healthy", "", "")
	require.Equal(t, http.StatusBadRequest, code, "plain HTTP to the TLS port")
	require.Contains(t, body, "HTTP request to an HTTPS server")
}

// An address in use is logged as an error with the key and the address, and the plugin runs on without its
// page: the page cannot take Telegraf down. With the runner's fallback, the page goes to a free port.
func TestStatusAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	for _, fallback := range []bool{false, true} {
		p := mustLoad(t, statusConf(fmt.Sprintf("status_address = %q", l.Addr().String()), "127.0.0.1:1"))
		logs := &testutil.CaptureLogger{}
		p.Log = logs
		if fallback {
			p.StatusFallBackToFreePort()
		}
		require.NoError(t, p.Init())
		require.NoError(t, p.Start(&testutil.Accumulator{}))
		t.Cleanup(p.Stop)
		acc := &testutil.Accumulator{}
		require.NoError(t, p.Gather(acc))
		require.NotEmpty(t, acc.GetTelegrafMetrics(), "it scrapes")
		inUse := "status_address: listen tcp " + l.Addr().String() + ": bind: address already in use"
		if !fallback {
			require.Empty(t, p.StatusURL())
			require.Contains(t, logs.Errors(), "E! [] "+inUse+"; running without the status page")
			continue
		}
		require.Contains(t, logs.Warnings(), "W! [] "+inUse+"; serving the status page on a free port")
		require.Regexp(t, `^http://127\.0\.0\.1:\d+/targets$`, p.StatusURL())
		require.NotEqual(t, "http://"+l.Addr().String()+"/targets", p.StatusURL())
		code, _ := get(t, &http.Client{Timeout: 10 * time.Second}, p.StatusURL(), "", "")
		require.Equal(t, http.StatusOK, code)
	}
}

// BenchmarkStatus10kTargets reads the status server of a plugin with 10,000 targets, each scraped once
// (refused: each has an error to show), over loopback HTTP: the /targets page within a second and
// /api/v1/targets within 200 ms are the targets.
func BenchmarkStatus10kTargets(b *testing.B) {
	targets := make([]string, 10000)
	for i := range targets {
		targets[i] = fmt.Sprintf("127.1.%d.%d:1", i/250, i%250+1)
	}
	p, err := loadTelegraf(b, statusConf(`status_address = "127.0.0.1:0"`, targets...))
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Init(); err != nil {
		b.Fatal(err)
	}
	if err := p.Start(&testutil.Accumulator{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Stop)
	if err := p.Gather(&testutil.Accumulator{}); err != nil {
		b.Fatal(err)
	}
	base := strings.TrimSuffix(p.StatusURL(), "/targets")
	for _, path := range []string{"/targets", "/api/v1/targets", "/service-discovery"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			size := 0
			for b.Loop() {
				resp, err := http.Get(base + path)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatal(resp.Status)
				}
				size = int(n)
			}
			b.ReportMetric(float64(size)/1e6, "MB/page")
		})
	}
}

// /service-discovery shows a failing discoverer's error and when it last refreshed.
func TestStatusShowsDiscovererFailure(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "good.json"), []byte(`[{"targets":["127.0.0.1:1"]}]`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`not json`), 0o644))
	conf := strings.Replace(statusConf(`status_address = "127.0.0.1:0"`, "127.0.0.1:1"), `discoverer-service = "static-discovery"`, `discoverer-service = "file-discovery"`, 1) +
		fmt.Sprintf(`
  [[inputs.discovering_prometheus.file-discovery]]
    id = "s"
    files = [%q]
`, filepath.Join(dir, "*.json"))
	_, base := startStatus(t, conf)
	client := &http.Client{Timeout: 10 * time.Second}
	var body string
	require.Eventually(t, func() bool {
		_, body = get(t, client, base+"/service-discovery", "", "")
		return strings.Contains(body, `<td><code>file-discovery &#34;s&#34;</code></td><td>answered</td><td>1</td>`)
	}, 10*time.Second, 50*time.Millisecond)
	require.Regexp(t, `<td class="nowrap">[0-9.]+[mµ]?s ago</td><td>1</td><td>1</td><td class="error">Error reading file path=`+regexp.QuoteMeta(filepath.Join(dir, "bad.json"))+` err=`, body)
}

// Stop may run on two goroutines at once, as the runner's signal watch and its main line do: the server
// closes once.
func TestStatusConcurrentStop(t *testing.T) {
	p, base := startStatus(t, statusConf(`status_address = "127.0.0.1:0"`, "127.0.0.1:1"))
	done := make(chan struct{})
	go func() { p.Stop(); close(done) }()
	p.Stop()
	<-done
	require.Empty(t, p.StatusURL())
	_, err := http.Get(base + "/-/healthy")
	require.Error(t, err)
}

// metricsPage reads /metrics of the status server at base through Prometheus' text parser.
func metricsPage(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, body := get(t, &http.Client{Timeout: 10 * time.Second}, base+"/metrics", "", "")
	require.Equal(t, http.StatusOK, code, body)
	return metricstest.Parse(t, body)
}

// /metrics counts each discoverer's refreshes and errors, as the discovery runner does: a static one that
// answered, and a file one whose file is not JSON.
func TestStatusMetricsDiscoverers(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "targets.json")
	require.NoError(t, os.WriteFile(garbage, []byte("{not json"), 0o644))
	p, base := startStatus(t, statusConf(`status_address = "127.0.0.1:0"`, "127.0.0.1:1")+fmt.Sprintf(`
  [[inputs.discovering_prometheus.file-discovery]]
    id = "broken"
    files = [%q]
`, garbage))
	static := discovery.Key{Service: "static-discovery", ID: "s"}
	broken := discovery.Key{Service: "file-discovery", ID: "broken"}
	require.Eventually(t, func() bool {
		return p.sd.Stats(static).Refreshes > 0 && p.sd.Stats(broken).Errors > 0
	}, 10*time.Second, 20*time.Millisecond)

	metrics := metricsPage(t, base)
	for _, key := range []discovery.Key{static, broken} {
		st := p.sd.Stats(key)
		labels := fmt.Sprintf(`{discoverer_id=%q,discoverer_service=%q}`, key.ID, key.Service)
		require.Equal(t, float64(st.Refreshes), metrics["discovering_prometheus_discoverer_refreshes_total"+labels], key.String())
		require.Equal(t, float64(st.Errors), metrics["discovering_prometheus_discoverer_errors_total"+labels], key.String())
	}
	require.Zero(t, metrics[`discovering_prometheus_discoverer_errors_total{discoverer_id="s",discoverer_service="static-discovery"}`])
	require.Zero(t, metrics[`discovering_prometheus_discoverer_refreshes_total{discoverer_id="broken",discoverer_service="file-discovery"}`])
	_, cluster := metrics[`discovering_prometheus_cluster_peers{cluster_id="s",cluster_service="static-discovery"}`]
	require.False(t, cluster, "no cluster table, no cluster metrics")
}

// With a cluster table, /metrics shows the peers known and the targets this instance owns, those its
// targets say it scrapes.
func TestStatusMetricsCluster(t *testing.T) {
	peers := filepath.Join(t.TempDir(), "peers.json")
	writePeers(t, peers, "a:1", "b:1", "c:1")
	var targets []string
	for port := 1; port <= 30; port++ {
		targets = append(targets, fmt.Sprintf("127.0.0.1:%d", port))
	}
	p, base := startStatus(t, statusConf(`
  status_address = "127.0.0.1:0"
  discovery_wait = "5s"`, targets...)+fmt.Sprintf(`
  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = [%q]
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "file-discovery"
    discoverer-id = "peers"
    self = "a:1"
`, peers))
	labels := `{cluster_id="peers",cluster_service="file-discovery"}`
	metrics := metricsPage(t, base)
	_, shown := metrics["discovering_prometheus_cluster_peers"+labels]
	require.True(t, shown, "the cluster metrics are shown from the start")

	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	owned := 0
	active := p.Targets().Active
	require.Len(t, active, len(targets))
	for _, a := range active {
		if a.ScrapedHere {
			owned++
		}
	}
	require.Positive(t, owned)
	require.Less(t, owned, len(targets), "b:1 and c:1 own some")
	metrics = metricsPage(t, base)
	require.Equal(t, 3.0, metrics["discovering_prometheus_cluster_peers"+labels])
	require.Equal(t, float64(owned), metrics["discovering_prometheus_cluster_targets_owned"+labels])
}

// An empty answer of the peer discoverer keeps the last peers and says so on /metrics: cluster_peers_stale
// is 1 while they are kept, 0 otherwise. Once empty-peers-after has passed, a gather falls back to alone
// without news from discovery (the file is watched; its refresh-interval never comes).
func TestStatusMetricsClusterPeersStale(t *testing.T) {
	peers := filepath.Join(t.TempDir(), "peers.json")
	writePeers(t, peers, "a:1", "b:1", "c:1")
	p, base := startStatus(t, statusConf(`
  status_address = "127.0.0.1:0"
  discovery_wait = "5s"`, "127.0.0.1:1", "127.0.0.1:2")+fmt.Sprintf(`
  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = [%q]
    refresh-interval = "1h"
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "file-discovery"
    discoverer-id = "peers"
    self = "a:1"
    empty-peers-after = "1s"
`, peers))
	labels := `{cluster_id="peers",cluster_service="file-discovery"}`
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	metrics := metricsPage(t, base)
	require.Equal(t, 3.0, metrics["discovering_prometheus_cluster_peers"+labels])
	require.Equal(t, 0.0, metrics["discovering_prometheus_cluster_peers_stale"+labels])

	seen := p.sd.Version()
	require.NoError(t, os.WriteFile(peers, []byte("[]"), 0o644))
	require.Eventually(t, func() bool { return p.sd.Version() != seen }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	metrics = metricsPage(t, base)
	require.Equal(t, 3.0, metrics["discovering_prometheus_cluster_peers"+labels], "the last peers are kept")
	require.Equal(t, 1.0, metrics["discovering_prometheus_cluster_peers_stale"+labels])

	time.Sleep(time.Second) // a:1 is first of the last peers: it falls back after empty-peers-after
	seen = p.sd.Version()
	// The gather finds the fallback due and asks the background sync for it, which applies it at once.
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	require.Eventually(t, func() bool {
		metrics = metricsPage(t, base)
		return metrics["discovering_prometheus_cluster_peers"+labels] == 1 && metrics["discovering_prometheus_cluster_targets_owned"+labels] == 2
	}, 5*time.Second, 10*time.Millisecond, "alone, owning both targets")
	require.Equal(t, seen, p.sd.Version(), "no news from discovery")
	require.Equal(t, 0.0, metrics["discovering_prometheus_cluster_peers_stale"+labels])
}
