package discovering_prometheus

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/plan"
)

func post(t *testing.T, url, payload, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(payload))
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// The API's changes are kept in kapacitor_overrides_file and applied again by Init: the next start runs
// them, as Kapacitor applied its stored overrides at start.
func TestConfigAPIChangesPersistAcrossRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "overrides.json")
	conf := statusConf(fmt.Sprintf("status_address = \"127.0.0.1:0\"\nkapacitor_config_api = true\nkapacitor_overrides_file = %q", file), "127.0.0.1:1")
	_, base := startStatus(t, conf)
	api := base + "/kapacitor/v1/config"
	for _, c := range []struct{ path, body string }{
		{"/scraper/web", `{"set":{"scrape-interval":"30s","db":"changed"}}`},
		{"/static-discovery", `{"add":{"id":"more","targets":["127.0.0.1:2"]}}`},
		{"/scraper", `{"add":{"name":"added","db":"d2","rp":"r2","discoverer-service":"static-discovery","discoverer-id":"more"}}`},
	} {
		code, status := post(t, api+c.path, c.body, "", "")
		require.Equal(t, http.StatusNoContent, code, "%s %s: %s", c.path, c.body, status)
	}
	// A change the plugin's validation refuses is answered 400 and kept nowhere.
	code, body := post(t, api+"/scraper/web", `{"set":{"scrape-timeout":"1m"}}`, "", "")
	require.Equal(t, http.StatusBadRequest, code, body)

	// The restart: a new plugin of the same configuration.
	p := mustLoad(t, conf)
	require.NoError(t, p.Init())
	scrapers := map[string]*plan.Job{}
	jobs, _ := p.currentPlan()
	for _, j := range jobs {
		scrapers[j.Name()] = j
	}
	require.Len(t, scrapers, 2)
	require.Equal(t, "changed", scrapers["web"].DB)
	require.Equal(t, 30*time.Second, time.Duration(scrapers["web"].Config.ScrapeInterval))
	require.Equal(t, 10*time.Second, time.Duration(scrapers["web"].Config.ScrapeTimeout))
	require.Equal(t, "d2", scrapers["added"].DB)
	require.Len(t, p.Discoverers(), 2)

	// An override of an element the configuration no longer has stops the start, naming it.
	stale := mustLoad(t, strings.Replace(conf, `name = "web"`, `name = "renamed"`, 1))
	err := stale.Init()
	require.ErrorContains(t, err, "kapacitor_overrides_file: failed to override configuration scraper/web: the configuration has no such element")
}

func TestConfigAPIOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "overrides.json")
	for _, tc := range []struct{ name, options, want string }{
		{"api without file", "status_address = \"127.0.0.1:0\"\nkapacitor_config_api = true", "kapacitor_config_api: needs kapacitor_overrides_file"},
		{"api without status", fmt.Sprintf("kapacitor_config_api = true\nkapacitor_overrides_file = %q", file), "kapacitor_config_api: it is served on status_address"},
		{"file without api", fmt.Sprintf("kapacitor_overrides_file = %q", file), ""},
		{"bad file", fmt.Sprintf("kapacitor_overrides_file = %q", "testdata"), "kapacitor_overrides_file: read testdata: is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mustLoad(t, statusConf(tc.options, "127.0.0.1:1")).Init()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// The API is off by default; on an address other hosts reach, changes need the status page's auth.
func TestConfigAPIMountAndAuth(t *testing.T) {
	_, base := startStatus(t, statusConf(`status_address = "127.0.0.1:0"`, "127.0.0.1:1"))
	code, _ := get(t, http.DefaultClient, base+"/kapacitor/v1/config", "", "")
	require.Equal(t, http.StatusNotFound, code)

	file := filepath.Join(t.TempDir(), "overrides.json")
	api := fmt.Sprintf("kapacitor_config_api = true\nkapacitor_overrides_file = %q\n", file)
	_, base = startStatus(t, statusConf(api+"status_address = \"127.0.0.1:0\"\nstatus_basic_username = \"u\"\nstatus_basic_password = \"p\"", "127.0.0.1:1"))
	code, _ = post(t, base+"/kapacitor/v1/config/scraper/web", `{"set":{"db":"x"}}`, "", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, body := post(t, base+"/kapacitor/v1/config/scraper/web", `{"set":{"db":"x"}}`, "u", "p")
	require.Equal(t, http.StatusNoContent, code, body)

	p := mustLoad(t, statusConf(api+"status_address = \"0.0.0.0:0\"\nstatus_allow_plain = true", "127.0.0.1:1"))
	require.NoError(t, p.Init())
	require.ErrorContains(t, p.configAPIReadOnly(), `the configuration is read-only: status_address "0.0.0.0:0" is reachable from other hosts without auth`)
	require.FileExists(t, file)
}

// A change through the API is applied at once, as a reload: a scraper and a static-discovery element added
// by the API have their target scraped at the first gather after them, while the unchanged job a keeps its
// schedule (one scrape per interval) and its discoverer (no new SD request). A change whose configuration
// is not valid is answered 400 and changes neither the running plan nor the stored overrides.
func TestConfigAPIChangesApplyAtOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "overrides.json")
	r := newReloadRigWith(t, fmt.Sprintf("  status_address = \"127.0.0.1:0\"\n  kapacitor_config_api = true\n  kapacitor_overrides_file = %q", file))
	api := strings.TrimSuffix(r.p.StatusURL(), "/targets") + "/kapacitor/v1/config"
	r.gather(0)
	require.Equal(t, map[string]int{"0": 1, "1": 1}, r.a.take())

	for _, c := range []struct{ path, body string }{
		{"/static-discovery", fmt.Sprintf(`{"add":{"id":"more","targets":[%q]}}`, strings.TrimPrefix(r.c.srv.URL, "http://"))},
		{"/scraper", `{"add":{"name":"added","db":"d2","rp":"r2","discoverer-service":"static-discovery","discoverer-id":"more"}}`},
	} {
		code, body := post(t, api+c.path, c.body, "", "")
		require.Equal(t, http.StatusNoContent, code, "%s %s: %s", c.path, c.body, body)
	}
	require.Equal(t, []string{
		`configuration reloaded: jobs added: none; changed: none; removed: none; discoverers added: static-discovery "more"; changed: none; removed: none`,
		`configuration reloaded: jobs added: added; changed: none; removed: none; discoverers added: none; changed: none; removed: none`,
	}, messages(r.log, "configuration reloaded"))
	r.waitForGroups(t, discovery.Key{Service: "static-discovery", ID: "more"})

	r.gather(5 * time.Second) // nothing of a is due
	require.Equal(t, map[string]int{"": 1}, r.c.take(), "the added scraper's target is scraped at the first gather")
	require.Empty(t, r.a.take(), "a's schedule carries over the change")
	r.gather(10 * time.Second)
	require.Equal(t, map[string]int{"0": 1, "1": 1}, r.a.take())
	require.Equal(t, int64(1), r.sdRequests.Load(), "a's discoverer is not asked again")

	stored, err := os.ReadFile(file)
	require.NoError(t, err)
	code, body := post(t, api+"/scraper/added", `{"set":{"scrape-timeout":"1h"}}`, "", "")
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "scrape-timeout")
	after, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, string(stored), string(after), "the refused change is not kept")
	require.Len(t, messages(r.log, "reloading the configuration"), 1, "the refused change is logged")
	require.EqualValues(t, 1, r.p.reload.successful.Load(), "a refused change is no failed reload: the files' last reload succeeded")
	r.gather(5*time.Second + time.Minute) // the added scraper's interval: the default, a minute
	require.Equal(t, map[string]int{"": 1}, r.c.take(), "the running plan is unchanged")

	// The overrides in force are still the API's: a reload (SIGHUP's) keeps the added scraper.
	require.NoError(t, r.p.Reload())
	require.Len(t, r.p.RunningScrapers(), 3)
}

// After the runner's -config file changes and is reloaded, the API shows the sections the new file has:
// those that run.
func TestConfigAPIShowsTheSectionsOfTheReloadedFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "overrides.json")
	extra := fmt.Sprintf("  status_address = \"127.0.0.1:0\"\n  kapacitor_config_api = true\n  kapacitor_overrides_file = %q\n", file)
	r := newReloadRigWith(t, extra)
	api := strings.TrimSuffix(r.p.StatusURL(), "/targets") + "/kapacitor/v1/config"
	table := fmt.Sprintf("[[inputs.discovering_prometheus]]\n  prometheus_config = %q\n%s", r.yml, extra)
	r.p.SetConfigFile("", func() (*DiscoveringPrometheus, error) { return loadTelegraf(t, table) })
	code, body := get(t, http.DefaultClient, api+"/static-discovery", "", "")
	require.Equal(t, http.StatusNotFound, code, body)

	table += fmt.Sprintf("  [[inputs.discovering_prometheus.static-discovery]]\n    id = \"fromfile\"\n    targets = [%q]\n",
		strings.TrimPrefix(r.c.srv.URL, "http://"))
	require.NoError(t, r.p.Reload())
	code, body = get(t, http.DefaultClient, api+"/static-discovery/fromfile", "", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, r.c.srv.URL[len("http://"):])

	// A change through the API is made to the new file's sections.
	code, body = post(t, api+"/static-discovery/fromfile", `{"set":{"targets":["x:1"]}}`, "", "")
	require.Equal(t, http.StatusNoContent, code, body)
	code, body = get(t, http.DefaultClient, api+"/static-discovery/fromfile", "", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"x:1"`)
}
