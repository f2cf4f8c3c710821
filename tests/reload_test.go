package tests

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

// reloadConfig is a runner configuration of scrapers a and b and, with c set, c, one exporter each;
// b's scrape-interval is given. Nothing is due again within the test: a target is scraped once unless
// its scraper is replaced.
func reloadConfig(a, b, c *Exporter, bInterval string, withC bool) string {
	scraper := func(name, interval, addr string) string {
		return fmt.Sprintf(`
  [[inputs.discovering_prometheus.scraper]]
    name = %[1]q
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = %[1]q
    scrape-interval = %[2]q
  [[inputs.discovering_prometheus.static-discovery]]
    id = %[1]q
    targets = [%[3]q]
`, name, interval, addr)
	}
	// Aligned to the second, so that a target of an hour is first scraped within one, not at its phase.
	conf := "[[inputs.discovering_prometheus]]\n  status_address = \"127.0.0.1:0\"\n  status_enable_lifecycle = true\n  scrape_align_interval = \"1s\"\n" +
		scraper("a", "1h", a.Addr) + scraper("b", bInterval, b.Addr)
	if withC {
		conf += scraper("c", "1h", c.Addr)
	}
	return conf
}

// The runner reloads its -config on SIGHUP and on POST /-/reload: a, unchanged, is not scraped again
// (its schedule carries over), b's new interval makes a new scraper, c's target is scraped within a second
// (aligned). A broken file changes nothing: SIGHUP logs its error once, /-/reload answers it with 500.
func TestRunnerReload(t *testing.T) {
	a, b, c := StartExporter(t, "a"), StartExporter(t, "b"), StartExporter(t, "c")
	path := writeConfig(t, reloadConfig(a, b, c, "1h", false))
	cmd := exec.Command(RunnerBinary(t), "-config", path)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	scrapes := func(e *Exporter) int {
		return strings.Count(stdout.String(), "up,__name__=up,db=d,instance="+e.Addr+",")
	}
	gather := func(what string, done func() bool) {
		t.Helper()
		_, err := io.WriteString(stdin, "\n")
		require.NoError(t, err)
		Eventually(t, 10*time.Second, what+"\n"+stderr.String(), done)
	}
	gather("a and b scraped", func() bool { return scrapes(a) == 1 && scrapes(b) == 1 })
	statusURL := regexp.MustCompile(`status page at (\S+)/targets`).FindStringSubmatch(stderr.String())
	require.Len(t, statusURL, 2, stderr.String())
	reloaded := func() int { return strings.Count(stderr.String(), "configuration reloaded: ") }

	require.NoError(t, os.WriteFile(path, []byte(reloadConfig(a, b, c, "2h", true)), 0o600))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	Eventually(t, 10*time.Second, "the reload", func() bool { return reloaded() == 1 })
	require.Contains(t, stderr.String(), `configuration reloaded: jobs added: c; changed: b; removed: none; discoverers added: static-discovery "c"`)
	gather("c scraped", func() bool { return scrapes(c) == 1 && scrapes(b) == 2 })
	require.Equal(t, 1, scrapes(a), "a's schedule carries over the reload")

	broken := strings.Replace(reloadConfig(a, b, c, "2h", true), `db = "d"`, `db = ""`, 1)
	require.NoError(t, os.WriteFile(path, []byte(broken), 0o600))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	Eventually(t, 10*time.Second, "the failed reload's log", func() bool {
		return strings.Contains(stderr.String(), "reloading the configuration: ")
	})
	resp, err := http.Post(statusURL[1]+"/-/reload", "", nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Contains(t, string(body), `scraper "a": db: required`)
	failed := func() int {
		return strings.Count(stderr.String(), `reloading the configuration: scraper "a": db: required`)
	}
	// The runner's stderr reaches the buffer through a pipe, after the answer perhaps.
	Eventually(t, 10*time.Second, "the POST's failed reload logged", func() bool { return failed() >= 2 })
	require.Equal(t, 2, failed(), "each failed reload (SIGHUP, then POST) logs its error once")
	metrics, err := http.Get(statusURL[1] + "/metrics")
	require.NoError(t, err)
	page, _ := io.ReadAll(metrics.Body)
	_ = metrics.Body.Close()
	require.Contains(t, string(page), "discovering_prometheus_config_last_reload_successful 0")

	require.NoError(t, os.WriteFile(path, []byte(reloadConfig(a, b, c, "2h", true)), 0o600))
	resp, err = http.Post(statusURL[1]+"/-/reload", "", nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	Eventually(t, 10*time.Second, "the POST's reload logged", func() bool {
		return strings.Contains(stderr.String(), "configuration reloaded: nothing changed")
	})
	gather("a gather after the reloads", func() bool { return strings.Count(stdout.String(), "up,") >= 4 })
	require.Equal(t, []int{1, 2, 1}, []int{scrapes(a), scrapes(b), scrapes(c)}, "nothing scraped again")
}

// A reload that adds a job leaves the Kubernetes discoverer of an unchanged one alone: the API server
// sees no new LIST or WATCH, and its targets stay while the new job's are scraped.
func TestReloadKeepsKubernetesDiscoverer(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	pods, added := StartExporter(t, "pod"), StartExporter(t, "added")
	f.Apply(kubernetesPod("default", "web-1", pods, map[string]string{"app": "web"}))
	conf := kubernetesConfig(kubernetesServer(f) + "    role = \"pod\"\n    namespaces = [\"default\"]\n")
	r := StartPlugin(t, conf)
	r.GatherUntil(20*time.Second, "the pod's target", func(ms []telegraf.Metric) bool {
		return slices.Contains(Instances(ms, "up"), pods.Addr)
	})
	requests := f.Requests()

	more := conf + ScraperTable("added", "d", "r", "static-discovery", "added", `scrape-interval = "1s"`) +
		fmt.Sprintf("  [[inputs.discovering_prometheus.static-discovery]]\n    id = \"added\"\n    targets = [%q]\n", added.Addr)
	r.Plugin.SetConfigFile("", func() (*plugin.DiscoveringPrometheus, error) {
		_, p, err := loadConfig([]byte(more))
		return p, err
	})
	require.NoError(t, r.Plugin.Reload())
	r.GatherUntil(20*time.Second, "both targets", func(ms []telegraf.Metric) bool {
		up := Instances(ms, "up")
		return slices.Contains(up, pods.Addr) && slices.Contains(up, added.Addr)
	})
	require.Equal(t, requests, f.Requests(), "no new LIST or WATCH")
}
