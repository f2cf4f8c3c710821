package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/stretchr/testify/require"
)

// statusTargets are a good, a garbage and an unreachable target, and one relabeling drops.
type statusTargets struct{ good, garbage, unreachable string }

func startStatusTargets(t *testing.T) statusTargets {
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, "<html><body>this is not { a metric\n")
	}))
	t.Cleanup(garbage.Close)
	return statusTargets{
		good:        StartExporter(t, "good").Addr,
		garbage:     strings.TrimPrefix(garbage.URL, "http://"),
		unreachable: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
	}
}

// conf scrapes the targets with a password (which no page may show) and serves the status page on a port
// the runner picks.
func (s statusTargets) conf() string {
	return fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  status_address = "127.0.0.1:0"
  [[inputs.discovering_prometheus.scraper]]
    name = "web"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    scrape-interval = "1s"
    scrape-timeout = "900ms"
    username = "user"
    password = "hunter2-secret"
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      source-labels = ["__address__"]
      regex = "127.0.0.1:1"
      action = "drop"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = [%q, %q, %q, "127.0.0.1:1"]
`, s.good, s.garbage, s.unreachable)
}

var statusLine = regexp.MustCompile(`status page at (\S+)/targets`)

// startStatusRunner runs the runner on a configuration until the test ends, and returns the base URL of its
// status page once it has scraped every target.
func startStatusRunner(t *testing.T, conf string) string {
	t.Helper()
	base := startStatusRunnerServing(t, conf)
	waitScraped(t, base)
	return base
}

// startStatusRunnerServing is startStatusRunner without the wait for the scrapes: it returns once the
// runner serves its page.
func startStatusRunnerServing(t *testing.T, conf string) string {
	t.Helper()
	cmd := exec.Command(RunnerBinary(t), "-poll_interval", "500ms", "-config", writeConfig(t, conf))
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	stopAtCleanup(t, cmd, func() { _ = stdin.Close() }, "runner stderr", stderr.String) // the runner ends at the end of its stdin
	return statusURLIn(t, 20*time.Second, "runner", stderr.String)
}

// statusURLIn waits for a log to say where the status page is, and returns its base URL.
func statusURLIn(t *testing.T, timeout time.Duration, who string, log func() string) string {
	t.Helper()
	var base string
	Eventually(t, timeout, who+" logs the status page URL", func() bool {
		m := statusLine.FindStringSubmatch(log())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	return base
}

// waitScraped waits until the API shows every target scraped once.
func waitScraped(t *testing.T, base string) {
	t.Helper()
	Eventually(t, 20*time.Second, "every target scraped", func() bool {
		res, err := targetsAPI(base).Targets(context.Background())
		return err == nil && len(res.Active) > 0 && !slices.ContainsFunc(res.Active, func(a v1.ActiveTarget) bool {
			return a.Health == v1.HealthUnknown
		})
	})
}

func targetsAPI(base string) v1.API {
	client, err := api.NewClient(api.Config{Address: base})
	if err != nil {
		panic(err) // only for a malformed address, which the runner does not log
	}
	return v1.NewAPI(client)
}

// chromium runs Debian's headless Chromium with its own profile and returns its stdout.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	bin := needBinary(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir=" + t.TempDir()}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "chromium %v:\n%s", args, stderr.String())
	return stdout.String()
}

// row is one target of the /targets page as the browser rendered it.
type row struct{ url, health, err string }

var targetRow = regexp.MustCompile(`(?s)<tr class="target" data-health="([a-z]+)">.*?<span class="url">(.*?)</span>.*?<td class="error">(.*?)</td>`)

func rows(dom string) map[string]row {
	out := map[string]row{}
	for _, m := range targetRow.FindAllStringSubmatch(dom, -1) {
		r := row{url: html.UnescapeString(m[2]), health: m[1], err: html.UnescapeString(m[3])}
		out[r.url] = r
	}
	return out
}

func metricsURL(addr string) string { return "http://" + addr + "/metrics" }

// A person opens /targets of a running runner in a browser: every target with its health and error, the
// filters, and a screenshot for the README.
func TestStatusPageInChromium(t *testing.T) {
	needBinary(t, "chromium")
	targets := startStatusTargets(t)
	base := startStatusRunner(t, targets.conf())

	dom := chromium(t, "--dump-dom", base+"/targets")
	got := rows(dom)
	require.Len(t, got, 3, dom)
	require.Equal(t, row{metricsURL(targets.good), "up", ""}, got[metricsURL(targets.good)])
	garbage := got[metricsURL(targets.garbage)]
	require.Equal(t, "down", garbage.health)
	require.NotEmpty(t, garbage.err, "the garbage target's parse error")
	unreachable := got[metricsURL(targets.unreachable)]
	require.Equal(t, "down", unreachable.health)
	require.Contains(t, unreachable.err, "connection refused")
	require.Contains(t, dom, `<h2>web <small>(1/3 up) · db <code>d</code>, rp <code>r</code>`)
	require.NotContains(t, dom, "hunter2")

	dom = chromium(t, "--dump-dom", base+"/targets?health=down")
	require.ElementsMatch(t, []string{metricsURL(targets.garbage), metricsURL(targets.unreachable)}, keys(rows(dom)), dom)
	require.Contains(t, dom, `value="down" checked=""`, "the form shows the filter applied")
	dom = chromium(t, "--dump-dom", base+"/targets?scrapePool=web&health=up")
	require.Equal(t, []string{metricsURL(targets.good)}, keys(rows(dom)), dom)
	dom = chromium(t, "--dump-dom", base+"/targets?scrapePool=other")
	require.Empty(t, rows(dom))
	require.Contains(t, dom, "No scraper is named “other”.")

	dom = chromium(t, "--dump-dom", base+"/service-discovery")
	require.Regexp(t, `<tr class="discoverer"><td><code>static-discovery "s"</code></td><td>answered</td><td>4</td><td class="nowrap">[0-9.]+m?s ago</td><td>1</td><td>0</td><td class="error"></td></tr>`, dom)
	require.Contains(t, dom, `<strong>Dropped</strong> by rule 0:`)
	require.NotContains(t, dom, "hunter2")

	dir := os.Getenv("DP_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	shot := filepath.Join(dir, "status-page.png")
	chromium(t, "--screenshot="+shot, "--window-size=1280,900", "--hide-scrollbars", base+"/targets")
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, 1280, img.Bounds().Dx())
	require.Equal(t, 900, img.Bounds().Dy())
	t.Logf("screenshot: %s", shot)
}

func keys[V any](m map[string]V) []string { return slices.Collect(maps.Keys(m)) }

// withoutTimings is what two runs of one configuration agree on about a target: all but its timings.
func withoutTimings(res v1.TargetsResult) v1.TargetsResult {
	for i := range res.Active {
		res.Active[i].LastScrape, res.Active[i].LastScrapeDuration = time.Time{}, 0
	}
	slices.SortFunc(res.Active, func(a, b v1.ActiveTarget) int { return strings.Compare(a.ScrapeURL, b.ScrapeURL) })
	return res
}

// Prometheus' own API client reads /api/v1/targets, and finds what -targets -json says of the same
// configuration.
func TestStatusAPIMatchesTargetsJSON(t *testing.T) {
	targets := startStatusTargets(t)
	conf := targets.conf()
	base := startStatusRunner(t, conf)
	served, err := targetsAPI(base).Targets(context.Background())
	require.NoError(t, err)

	cmd := exec.Command(RunnerBinary(t), "-targets", "-json", "-config", writeConfig(t, conf))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	require.NotContains(t, stderr.String(), "status page at", "a one-shot run serves no page")
	var printed v1.TargetsResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &printed))

	require.Len(t, served.Active, 3)
	require.Len(t, served.Dropped, 1)
	require.Equal(t, "127.0.0.1:1", served.Dropped[0].DiscoveredLabels["__address__"])
	require.Equal(t, withoutTimings(printed), withoutTimings(served))
}

// Inside the custom Telegraf, the page shows the targets the Telegraf's own gathers scrape, with the health
// their up metrics say.
func TestStatusInTelegraf(t *testing.T) {
	targets := startStatusTargets(t)
	out := filepath.Join(t.TempDir(), "metrics.out")
	logs := StartTelegraf(t, agentConf+targets.conf()+fmt.Sprintf(`
[[outputs.file]]
  files = [%q]
  data_format = "influx"
`, out))
	base := statusURLIn(t, 60*time.Second, "telegraf", logs.String)
	waitScraped(t, base)

	// The latest up of each instance in Telegraf's output, once every instance has one.
	ups := map[string]string{}
	Eventually(t, 20*time.Second, "an up metric of every target in telegraf's output", func() bool {
		data, _ := os.ReadFile(out)
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if m := upLine.FindStringSubmatch(sc.Text()); m != nil {
				ups[m[1]] = m[2]
			}
		}
		return len(ups) == 3
	})
	res, err := targetsAPI(base).Targets(context.Background())
	require.NoError(t, err)
	shown := map[string]string{}
	for _, a := range res.Active {
		shown[string(a.Labels["instance"])] = string(a.Health)
	}
	want := map[string]string{}
	for instance, up := range ups {
		want[instance] = map[string]string{"1": "up", "0": "down"}[up]
	}
	require.Equal(t, want, shown)
	require.Equal(t, map[string]string{targets.good: "up", targets.garbage: "down", targets.unreachable: "down"}, shown)
}

// upLine is an up metric of the kapacitor format as line protocol: its instance and its value.
var upLine = regexp.MustCompile(`^up,(?:.*,)?instance=([^, ]+)(?:,\S*)? value=([01])`)

// statusEnv is where the runner's embedded default takes its status address from.
const statusEnv = "DISCOVERING_PROMETHEUS_STATUS"

// The runner's embedded default serves its status page on loopback and says where on stderr.
func TestStatusRunnerDefault(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	cmd := exec.Command(RunnerBinary(t), "-poll_interval", "500ms")
	cmd.Env = append(os.Environ(), statusEnv+"="+addr)
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	Eventually(t, 20*time.Second, "the status page URL on stderr", func() bool {
		return strings.Contains(stderr.String(), "I! [inputs.discovering_prometheus] status page at http://"+addr+"/targets\n")
	})
	waitScraped(t, "http://"+addr)
	res, err := targetsAPI("http://" + addr).Targets(context.Background())
	require.NoError(t, err)
	require.Len(t, res.Active, 1)
	require.Equal(t, v1.HealthGood, res.Active[0].Health, "the runner scrapes its own metrics")
}

// The status page is an aid: its port taken by another process does not take Telegraf down. With
// startup_error_behavior = "retry" (or none) Telegraf runs on, the plugin scrapes without its page and
// logs why, and the other inputs gather.
func TestStatusPortTakenInTelegraf(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	e := StartExporter(t, "e")
	out := filepath.Join(t.TempDir(), "metrics.out")
	logs := StartTelegraf(t, agentConf+fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  startup_error_behavior = "retry"
  status_address = %q
  [[inputs.discovering_prometheus.scraper]]
    name = "e"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = [%q]
[[inputs.internal]]
  collect_memstats = false
[[outputs.file]]
  files = [%q]
  data_format = "influx"
`, taken.Addr().String(), e.Addr, out))
	Eventually(t, 60*time.Second, "the target's up and the internal input's metrics in the output", func() bool {
		data, _ := os.ReadFile(out)
		return regexp.MustCompile(`(?m)^up,.*instance=`+regexp.QuoteMeta(e.Addr)+`.* value=1`).Match(data) &&
			regexp.MustCompile(`(?m)^internal_agent`).Match(data)
	})
	require.Contains(t, logs.String(), "E! [inputs.discovering_prometheus] status_address: listen tcp "+taken.Addr().String()+": bind: address already in use")
}

// Two runners with the embedded default configuration: the second finds the status port taken, serves its
// page on a free loopback port instead and logs that URL.
func TestStatusRunnerDefaultPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	cmd := exec.Command(RunnerBinary(t), "-poll_interval", "500ms")
	cmd.Env = append(os.Environ(), statusEnv+"="+taken.Addr().String())
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	stopAtCleanup(t, cmd, func() { _ = stdin.Close() }, "runner stderr", stderr.String)
	var base string
	Eventually(t, 20*time.Second, "the runner logs its status page URL", func() bool {
		m := statusLine.FindStringSubmatch(stderr.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	require.NotEqual(t, "http://"+taken.Addr().String(), base)
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)
	waitScraped(t, base)
}
