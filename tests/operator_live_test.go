package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/discovering-prometheus/discovering-prometheus/operator"
)

// The prometheus_operator table follows the ServiceMonitors of a real API server while the plugin runs:
// a monitor created, changed (its selector) and deleted changes its job's targets within 2 s, by a reload
// that touches that job alone (the log says which); a monitor refused (its db annotation) is refused
// alone, on /service-discovery and in the log; and a static job scraped each second all along misses no
// scrape.
func TestOperatorLive(t *testing.T) {
	k := StartKubeAPIServer(t)
	pods := NewPodNet(t)
	ns := k.Namespace()
	web, api, db := pods.Exporter(t, "web"), pods.Exporter(t, "api"), pods.Exporter(t, "db")
	for _, app := range []struct {
		name string
		e    *Exporter
	}{{"web", web}, {"api", api}, {"db", db}} {
		pod, svc := kubernetesPod(ns, app.name+"-0", app.e, map[string]string{"app": app.name}), kubernetesService(ns, app.name, app.name)
		k.Apply(pod, svc, operatorSlice(svc, pod, app.e))
	}

	// The other job's exporter notes when it is scraped.
	var mu sync.Mutex
	var scraped []time.Time
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		scraped = append(scraped, time.Now())
		mu.Unlock()
		_, _ = io.WriteString(w, "other_up 1\n")
	}))
	t.Cleanup(other.Close)
	otherAddr := strings.TrimPrefix(other.URL, "http://")

	r := StartPlugin(t, operatorPluginTOML(k, ns)+ScraperTable("other", "d", "r", "static-discovery", "other", `scrape-interval = "1s"`)+
		fmt.Sprintf("  [[inputs.discovering_prometheus.static-discovery]]\n    id = \"other\"\n    targets = [%q]\n", otherAddr))
	// Telegraf's gathers, every 100 ms, all along.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		acc := &testutil.Accumulator{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				_ = r.Plugin.Gather(acc)
				acc.ClearMetrics()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-stopped })

	pool := func(name string) string { return "serviceMonitor/" + ns + "/" + name + "/0" }
	targets := func() map[string][]string {
		out := map[string][]string{}
		for _, a := range r.Plugin.Targets().Active {
			if strings.HasPrefix(a.ScrapePool, "serviceMonitor/") || strings.HasPrefix(a.ScrapePool, "scrapeConfig/") {
				out[a.ScrapePool] = append(out[a.ScrapePool], a.Labels["instance"]+" "+a.Labels["service"]+" "+a.DB)
			}
		}
		return out
	}
	// follow makes a change and waits at most limit for the targets to follow it, then for its reload's log.
	reloads := func(what string) int { return CountLog(r.Log, 'I', "configuration reloaded: "+what) }
	follow := func(what string, limit time.Duration, change func(), want map[string][]string, reloaded string) {
		t.Helper()
		before := reloads(reloaded)
		start := time.Now()
		change()
		var got map[string][]string
		for time.Since(start) < limit {
			if got = targets(); fmt.Sprint(got) == fmt.Sprint(want) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		require.Equal(t, want, got, "%s: the targets %s after; the log:\n%s", what, limit, logText(r.Log))
		t.Logf("%s: the targets followed in %s", what, time.Since(start).Round(time.Millisecond))
		Eventually(t, 2*time.Second, what+": the reload's log", func() bool { return reloads(reloaded) == before+1 })
	}

	// The monitors are watched once the first reload after the plugin's start is logged.
	Eventually(t, 10*time.Second, "the watch's first reload", func() bool { return reloads("") > 0 })
	sms := k.Dynamic.Resource(operator.ServiceMonitors).Namespace(ns)
	Eventually(t, 5*time.Second, "the other job scraped", func() bool { mu.Lock(); defer mu.Unlock(); return len(scraped) > 0 })
	firstChange := time.Now()
	// The API server's first watch event of a freshly watched resource comes about 2 s late (its watch
	// cache catching up with the list's revision), the later ones at once: the first monitor is the
	// warm-up, then every change must be followed within 2 s.
	follow("db created", 10*time.Second, func() {
		createServiceMonitor(t, k, ns, `
metadata: {name: db}
spec: {selector: {matchLabels: {app: db}}, endpoints: [{port: metrics, interval: 1s}]}`)
	}, map[string][]string{pool("db"): {db.Addr + " db k8s"}}, "jobs added: "+pool("db")+"; changed: none; removed: none")
	follow("web created", 2*time.Second, func() {
		createServiceMonitor(t, k, ns, `
metadata: {name: web, annotations: {discovering-prometheus.io/db: web}}
spec: {selector: {matchLabels: {app: web}}, endpoints: [{port: metrics, interval: 1s}]}`)
	}, map[string][]string{pool("db"): {db.Addr + " db k8s"}, pool("web"): {web.Addr + " web web"}},
		"jobs added: "+pool("web")+"; changed: none; removed: none")
	follow("web changed", 2*time.Second, func() {
		_, err := sms.Patch(context.Background(), "web", types.MergePatchType, []byte(`{"spec":{"selector":{"matchLabels":{"app":"api"}}}}`), metav1.PatchOptions{})
		require.NoError(t, err)
	}, map[string][]string{pool("db"): {db.Addr + " db k8s"}, pool("web"): {api.Addr + " api web"}},
		"jobs added: none; changed: "+pool("web")+"; removed: none")

	// A ScrapeConfig is a job of its own, with its static targets, watched like the monitors.
	static := "scrapeConfig/" + ns + "/static"
	follow("a ScrapeConfig created", 2*time.Second, func() {
		createOperatorObject(t, k, operator.ScrapeConfigs, "ScrapeConfig", ns, fmt.Sprintf(`
metadata: {name: static, annotations: {discovering-prometheus.io/db: sc}}
spec: {staticConfigs: [{targets: [%q]}], scrapeInterval: 1s}`, db.Addr))
	}, map[string][]string{pool("db"): {db.Addr + " db k8s"}, pool("web"): {api.Addr + " api web"}, static: {db.Addr + "  sc"}},
		"jobs added: "+static+"; changed: none; removed: none")
	follow("the ScrapeConfig deleted", 2*time.Second, func() {
		require.NoError(t, k.Dynamic.Resource(operator.ScrapeConfigs).Namespace(ns).Delete(context.Background(), "static", metav1.DeleteOptions{}))
	}, map[string][]string{pool("db"): {db.Addr + " db k8s"}, pool("web"): {api.Addr + " api web"}},
		"jobs added: none; changed: none; removed: "+static)

	// A monitor whose db line protocol cannot carry is refused alone: its reason on the page and in the log.
	createServiceMonitor(t, k, ns, `
metadata: {name: bad, annotations: {discovering-prometheus.io/db: 'x\'}}
spec: {selector: {matchLabels: {app: db}}, endpoints: [{port: metrics}]}`)
	reason := `annotations discovering-prometheus.io/db, discovering-prometheus.io/rp: db: &#34;x\\&#34;: line protocol cannot carry`
	var page string
	Eventually(t, 2*time.Second, "the refusal on /service-discovery", func() bool {
		page = get(t, strings.TrimSuffix(r.Plugin.StatusURL(), "/targets")+"/service-discovery")
		return strings.Contains(page, "ServiceMonitor "+ns+"/bad")
	})
	require.Contains(t, page, reason)
	require.Contains(t, page, `made by <code class="object">ServiceMonitor `+ns+`/web</code>`)
	require.Equal(t, 1, CountLog(r.Log, 'E', "prometheus_operator: ServiceMonitor "+ns+"/bad: refused"))

	// So is a monitor that would send this instance's service account token to its targets
	// (allow_file_access is not set).
	createServiceMonitor(t, k, ns, `
metadata: {name: token}
spec: {selector: {matchLabels: {app: db}}, endpoints: [{port: metrics, bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}]}`)
	Eventually(t, 2*time.Second, "the file-reading monitor refused on /service-discovery", func() bool {
		page = get(t, strings.TrimSuffix(r.Plugin.StatusURL(), "/targets")+"/service-discovery")
		return strings.Contains(page, "ServiceMonitor "+ns+"/token")
	})
	require.Contains(t, page, "serviceMonitor/"+ns+"/token/0: bearerTokenFile: reads a file of this instance, which is not allowed here")

	follow("web deleted", 2*time.Second, func() {
		require.NoError(t, sms.Delete(context.Background(), "web", metav1.DeleteOptions{}))
	}, map[string][]string{pool("db"): {db.Addr + " db k8s"}}, "jobs added: none; changed: none; removed: "+pool("web"))

	// The other job was scraped each second from before the first reload to after the last, none missed:
	// no gap of 1.5 intervals.
	lastChange := time.Now()
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.True(t, scraped[0].Before(firstChange) && scraped[len(scraped)-1].After(lastChange), "scraped from %s to %s",
		scraped[0].Format(time.StampMilli), scraped[len(scraped)-1].Format(time.StampMilli))
	for i := 1; i < len(scraped); i++ {
		require.Less(t, scraped[i].Sub(scraped[i-1]), 1500*time.Millisecond, "the gap before scrape %d of %d", i, len(scraped))
	}
}

// get is the body of a GET that answers 200.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	return string(body)
}

// logText is the captured log, a line a message.
func logText(l *testutil.CaptureLogger) string {
	var b strings.Builder
	for _, m := range l.Messages() {
		fmt.Fprintf(&b, "%c! %s\n", m.Level, m.Text)
	}
	return b.String()
}
