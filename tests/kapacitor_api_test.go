package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/kapacitor/configapi"
)

// KapacitordBinary is a real kapacitord 1.5.9, the oracle of Kapacitor's config API, built from the Go
// module proxy by kapacitord/build.sh once per machine (a few minutes) and cached outside the repository.
// Without it (no module proxy to build it from), the test skips, or fails under make test.
func KapacitordBinary(t testing.TB) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if _, ok := built["kapacitord"]; !ok {
		built["kapacitord"], buildErrs["kapacitord"] = buildKapacitord()
	}
	if err := buildErrs["kapacitord"]; err != nil {
		if requireServers {
			t.Fatalf("kapacitord: %v", err)
		}
		t.Skipf("kapacitord could not be built (make test requires it): %v", err)
	}
	return built["kapacitord"]
}

func buildKapacitord() (string, error) {
	out, err := exec.Command("sh", "kapacitord/build.sh").Output()
	if err != nil {
		var stderr []byte
		if exit, ok := err.(*exec.ExitError); ok {
			stderr = exit.Stderr
		}
		return "", fmt.Errorf("kapacitord/build.sh: %w\n%s", err, stderr)
	}
	return strings.TrimSpace(string(out)), nil
}

// startKapacitord runs kapacitord with the [[scraper]] and discoverer sections given and returns its
// config API's base URL.
func startKapacitord(t *testing.T, sections string) string {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	conf := fmt.Sprintf(`data_dir = %[1]q
[http]
  bind-address = %[2]q
  log-enabled = false
[replay]
  dir = "%[1]s/replay"
[storage]
  boltdb = "%[1]s/kapacitor.db"
[task]
  dir = "%[1]s/tasks"
[[influxdb]]
  enabled = false
  name = "default"
  urls = ["http://127.0.0.1:1"]
[reporting]
  enabled = false
[stats]
  enabled = false
[logging]
  level = "ERROR"
`, dir, addr) + sections
	path := filepath.Join(dir, "kapacitor.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	var output strings.Builder
	cmd := exec.Command(KapacitordBinary(t), "-config", path)
	cmd.Stdout, cmd.Stderr = &output, &output
	require.NoError(t, cmd.Start())
	stopAtCleanup(t, cmd, func() { _ = cmd.Process.Signal(os.Interrupt) }, "kapacitord", output.String)
	base := "http://" + addr
	Eventually(t, 30*time.Second, "kapacitord answers its ping", func() bool {
		resp, err := http.Get(base + "/kapacitor/v1/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent
	})
	return base + configapi.BasePath
}

// apiAnswer is one answer of a config API: its status (0: the connection dropped) and its body decoded.
type apiAnswer struct {
	status int
	body   any
}

func callAPI(t *testing.T, method, url, body string) apiAnswer {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return apiAnswer{} // kapacitord's handler panicked: net/http drops the connection
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := apiAnswer{status: resp.StatusCode}
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &a.body), "%s %s: %s", method, url, data)
	}
	return a
}

// apiDiff lists how our answer differs from kapacitord's, one line a difference. Sections, elements and
// options that kapacitord does not have are left out (every section but ours; options of ours that
// Kapacitor never had, which TestKapacitorAPIOptions lists).
func apiDiff(kapacitord, ours apiAnswer) []string {
	if kapacitord.status != ours.status {
		return []string{fmt.Sprintf("status: kapacitord %d, here %d %v", kapacitord.status, ours.status, ours.body)}
	}
	var diffs []string
	var walk func(at string, k, o any)
	walk = func(at string, k, o any) {
		km, kIsMap := k.(map[string]any)
		om, oIsMap := o.(map[string]any)
		kl, kIsList := k.([]any)
		ol, oIsList := o.([]any)
		switch {
		case kIsMap && oIsMap:
			for _, key := range slices.Sorted(func(yield func(string) bool) {
				for key := range km {
					if !yield(key) {
						return
					}
				}
			}) {
				if strings.HasSuffix(at, "sections") {
					if _, ours := configapi.ElementKeys[key]; !ours {
						continue
					}
				}
				walk(at+"."+key, km[key], om[key])
			}
		case kIsList && oIsList && len(kl) == len(ol):
			for i := range kl {
				walk(fmt.Sprintf("%s[%d]", at, i), kl[i], ol[i])
			}
		case !reflect.DeepEqual(k, o):
			kj, _ := json.Marshal(k)
			oj, _ := json.Marshal(o)
			diffs = append(diffs, fmt.Sprintf("%s: kapacitord %s, here %s", at, kj, oj))
		}
	}
	walk("", kapacitord.body, ours.body)
	return diffs
}

// apiStep is one call of the sequence, made to kapacitord and to the plugin; differ lists how the answers
// differ (nil: they do not), and why says why each difference is kept. The plugin's README lists them.
type apiStep struct {
	method, path, body string
	differ             []string
	why                string
}

// TestKapacitorAPIAgainstKapacitord makes the same sequence of calls to a real kapacitord 1.5.9 and to the
// plugin's config API, configured with the same sections, and compares every answer: status, error text,
// sections, elements, options, redactions and links.
func TestKapacitorAPIAgainstKapacitord(t *testing.T) {
	// The same sections for both. Every other discoverer section has one element, disabled, each option unset
	// but those kapacitord requires of a disabled section too: they compare the sections' options and
	// redactions.
	sections := `
[[scraper]]
  enabled = true
  name = "file1"
  type = "prometheus"
  db = "mydb"
  rp = "autogen"
  scheme = "http"
  metrics-path = "/metrics"
  scrape-interval = "1m"
  scrape-timeout = "10s"
  username = "u"
  password = "secret"
  discoverer-id = "s1"
  discoverer-service = "static-discovery"
[[static-discovery]]
  enabled = true
  id = "s1"
  targets = ["localhost:9100"]
`
	required := map[string]string{"consul": `address = "127.0.0.1:8500"`, "dns": `type = "SRV"`, "ec2": `region = "us-east-1"`}
	for _, name := range discovery.KapacitorServices {
		if name != "static-discovery" {
			sections += fmt.Sprintf("[[%s]]\n  enabled = false\n  id = \"off\"\n  %s\n", name, required[name])
		}
	}
	kapacitord := startKapacitord(t, sections)
	overrides := filepath.Join(t.TempDir(), "overrides.json")
	run := StartPlugin(t, fmt.Sprintf("[[inputs.discovering_prometheus]]\n  status_address = \"127.0.0.1:0\"\n"+
		"  kapacitor_config_api = true\n  kapacitor_overrides_file = %q\n", overrides)+
		regexp.MustCompile(`(?m)^\[\[`).ReplaceAllString(sections, "[[inputs.discovering_prometheus."))
	ours := strings.TrimSuffix(run.Plugin.StatusURL(), "/targets") + configapi.BasePath

	const addA2 = `{"add":{"name":"a2","db":"d","rp":"r","discoverer-service":"static-discovery","discoverer-id":"s1","enabled":true}}`
	steps := []apiStep{
		{method: "GET", path: "", differ: []string{
			`.sections.kubernetes.elements[0].redacted: kapacitord ["token"], here ["token","password","bearer-token"]`,
			`.sections.marathon.elements[0].redacted: kapacitord ["bearer-token"], here ["auth-token","password","bearer-token"]`,
			`.sections.scraper.elements[0].options.proxy-url: kapacitord null, here ""`,
		}, why: "redacted names the secret options of Prometheus' SD that Kapacitor did not have, too; " +
			"proxy-url is a string here (a *url.URL in Kapacitor): unset reads \"\", not null"},
		{method: "GET", path: "/kubernetes/off", differ: []string{
			`.redacted: kapacitord ["token"], here ["token","password","bearer-token"]`,
		}, why: "as above"},
		{method: "GET", path: "/scraper/file1", differ: []string{
			`.options.proxy-url: kapacitord null, here ""`,
		}, why: "as above"},
		{method: "GET", path: "/static-discovery"},
		{method: "GET", path: "/azure"},
		{method: "GET", path: "/nosuch"},
		{method: "GET", path: "/"},
		{method: "GET", path: "/scraper/"},
		{method: "GET", path: "/scraper/nope"},
		{method: "POST", path: "/scraper/file1", body: `{"set":{"scrape-interval":"30s"}}`},
		{method: "GET", path: "/scraper/file1", differ: []string{
			`.options.proxy-url: kapacitord null, here ""`,
		}, why: "as above"},
		{method: "POST", path: "/scraper/file1", body: `{"set":{"db":5}}`},
		{method: "POST", path: "/scraper/file1", body: `{"set":{"scrape-interval":5}}`, differ: []string{
			`.error: kapacitord "failed to override configuration scraper/file1: cannot set option scrape-interval: cannot unmarshal float64 into int64", ` +
				`here "failed to override configuration scraper/file1: failed validation: scraper \"file1\": scrape-timeout: 10s is longer than scrape-interval 5s"`,
		}, why: "a number is a duration in seconds here, as in the plugin's TOML; kapacitord takes strings only"},
		{method: "POST", path: "/static-discovery/s1", body: `{"set":{"labels":{"a":"b"},"targets":"x"}}`},
		{method: "POST", path: "/scraper/file1", body: `{"set":{"scrape-interval":"bogus"}}`, differ: []string{
			`status: kapacitord 204, here 400 map[error:failed to override configuration scraper/file1: cannot set option scrape-interval: time: invalid duration "bogus"]`,
		}, why: "kapacitord 1.5.9 drops the error of a duration it cannot parse, answers 204 and keeps the old value"},
		{method: "POST", path: "/scraper/file1", body: `{"set":{"no-such-option":1}}`},
		{method: "POST", path: "/scraper/file1", body: `{"set":{"name":"x"}}`},
		{method: "POST", path: "/scraper/file1", body: `{"delete":["scrape-interval"]}`},
		{method: "GET", path: "/scraper/file1", differ: []string{
			`.options.proxy-url: kapacitord null, here ""`,
		}, why: "as above"},
		{method: "POST", path: "/scraper/nope", body: `{"set":{"db":"x"}}`, differ: []string{
			`status: kapacitord 400, here 404 map[error:unknown section/element: scraper/nope]`,
		}, why: "kapacitord answers a change of an element it does not have with \"unknown options [db] in section scraper\"; here as GET answers it"},
		{method: "POST", path: "/scraper/", body: `{"set":{"db":"x"}}`, differ: []string{
			`status: kapacitord 204, here 404 map[error:unknown section/element: scraper/]`,
		}, why: "kapacitord 1.5.9 sets the option on every element of the section; here the element is unknown, as GET answers"},
		{method: "POST", path: "/scraper", body: `{"remove":[""]}`},
		{method: "POST", path: "/scraper", body: `{"set":{"db":"x"}}`},
		{method: "POST", path: "/scraper", body: `{"add":{"db":"x"}}`},
		{method: "POST", path: "/scraper", body: `{"add":{"name":5}}`},
		{method: "POST", path: "/scraper", body: `{bad`},
		{method: "POST", path: "/nosuch", body: `{"add":{"id":"x"}}`},
		{method: "POST", path: "/nosuch/x", body: `{"set":{"a":1}}`, differ: []string{
			`status: kapacitord 400, here 404 map[error:unknown section: nosuch]`,
		}, why: "kapacitord answers \"unknown options [a] in section nosuch\"; here as GET answers it"},
		{method: "POST", path: "/scraper", body: addA2},
		{method: "GET", path: "/scraper/a2", differ: addedScraperDefaults(""),
			why: "an unset proxy-url reads \"\" here, null there"},
		{method: "POST", path: "/scraper", body: addA2, differ: []string{
			`status: kapacitord 0, here 400 map[error:failed to apply update: cannot add new override, override already exists for scraper/a2]`,
		}, why: "kapacitord 1.5.9 panics in its handler and drops the connection; here the error it meant to answer"},
		{method: "POST", path: "/scraper/a2", body: `{"set":{"scrape-interval":"30s"}}`},
		{method: "POST", path: "/scraper/a2", body: `{"set":{"name":"renamed"}}`, differ: []string{
			`status: kapacitord 204, here 400 map[error:failed to override configuration scraper/: cannot override element key name]`,
		}, why: "kapacitord renames an added element, which its override's key then no longer names; here a key is not changed, as a configured element's is not"},
		{method: "POST", path: "/scraper/a2", body: `{"set":{"name":"a2"}}`},
		{method: "POST", path: "/scraper/a2", body: `{"delete":["db"]}`, differ: []string{
			`status: kapacitord 204, here 400 map[error:failed to override configuration scraper/a2: failed validation: scraper "a2": db: required]`,
		}, why: "the plugin requires a db (Kapacitor wrote an empty db's points to InfluxDB's default database)"},
		{method: "GET", path: "/scraper", differ: slices.Concat(
			[]string{`.elements[0].options.db: kapacitord "", here "d"`},
			addedScraperDefaults(".elements[0]"),
			[]string{`.elements[1].options.proxy-url: kapacitord null, here ""`}),
			why: "the delete of db was refused here; proxy-url as above"},
		{method: "POST", path: "/scraper", body: `{"remove":["a2"]}`},
		{method: "GET", path: "/scraper/a2"},
		{method: "POST", path: "/static-discovery", body: `{"add":{"id":"s1"}}`},
		{method: "POST", path: "/static-discovery", body: `{"add":{"id":"s2","enabled":false}}`},
		{method: "GET", path: "/static-discovery/s2", differ: []string{
			`.options.labels: kapacitord {}, here null`, `.options.targets: kapacitord [], here null`,
		}, why: "an added static-discovery starts from its zero values, Kapacitor's from empty ones"},
		{method: "POST", path: "/static-discovery", body: `{"add":{"id":"a/b"}}`, differ: []string{
			`.error: kapacitord "failed to override configuration /: invalid override: section cannot be empty", here "failed to apply update: invalid element name \"a/b\""`,
		}, why: "kapacitord takes the id apart as a path; here the id is refused as an element of a URL path is"},
		{method: "PUT", path: "/scraper"},
		{method: "POST", path: "", body: `{}`},
	}
	for i, step := range steps {
		k := callAPI(t, step.method, kapacitord+step.path, step.body)
		o := callAPI(t, step.method, ours+step.path, step.body)
		assert.Equal(t, step.differ, apiDiff(k, o), "step %d: %s %s %s\nkapacitord: %v\nhere: %v", i, step.method, step.path, step.body, k, o)
	}
}

// addedScraperDefaults are the differences of a scraper the API added: it starts from the section's
// defaults, as Kapacitor's did, and only an unset proxy-url reads otherwise.
func addedScraperDefaults(at string) []string {
	return []string{at + `.options.proxy-url: kapacitord null, here ""`}
}
