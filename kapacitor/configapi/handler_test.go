package configapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/influxdata/telegraf/config"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/kapacitor"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// testConfig holds the sections as the plugin does: the scrapers under "scraper", the discoverers embedded.
type testConfig struct {
	Scrapers []*kapacitor.Scraper `toml:"scraper"`
	discovery.Sections
}

func newTestConfig() *testConfig {
	return &testConfig{
		Scrapers: []*kapacitor.Scraper{{DB: "db", RP: "rp", DiscovererService: "static-discovery", DiscovererID: "s1", Config: scrape.Config{Name: "web"}}},
		Sections: discovery.Sections{Static: []*discovery.Static{{Common: discovery.Common{ID: "s1"}, Targets: []string{"a:1"}}}},
	}
}

// apiServer serves the API over newTestConfig; applied records what Apply was given, and fail, when set,
// is Apply's error.
type apiServer struct {
	*httptest.Server
	handler *Handler
	file    string
	applied []Overrides
	fail    error
}

func startAPI(t *testing.T, cfg *testConfig, readOnly error) *apiServer {
	t.Helper()
	s, err := Of(cfg)
	require.NoError(t, err)
	a := &apiServer{file: filepath.Join(t.TempDir(), "overrides.json")}
	h := New(Config{Base: s.Clone(), File: a.file, ReadOnly: readOnly, Apply: func(o Overrides) error {
		a.applied = append(a.applied, o)
		return a.fail
	}})
	a.handler, a.Server = h, httptest.NewServer(h)
	t.Cleanup(a.Close)
	return a
}

func (a *apiServer) call(t *testing.T, method, path, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+BasePath+path, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(data)
}

func (a *apiServer) errorOf(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	code, data := a.call(t, method, path, body)
	var e struct{ Error string }
	require.NoError(t, json.Unmarshal([]byte(data), &e), data)
	return code, e.Error
}

func TestGetShapes(t *testing.T) {
	a := startAPI(t, newTestConfig(), nil)
	code, body := a.call(t, "GET", "", "")
	require.Equal(t, http.StatusOK, code)
	var all struct {
		Link     map[string]string
		Sections map[string]struct {
			Link     map[string]string
			Elements []struct {
				Link     map[string]string
				Options  map[string]any
				Redacted []string
			}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &all))
	require.Equal(t, map[string]string{"rel": "self", "href": "/kapacitor/v1/config"}, all.Link)
	// As in Kapacitor, a section without elements is not listed.
	require.Len(t, all.Sections, 2)
	web := all.Sections["scraper"].Elements[0]
	require.Equal(t, map[string]string{"rel": "self", "href": "/kapacitor/v1/config/scraper/web"}, web.Link)
	require.Equal(t, "web", web.Options["name"])
	require.Equal(t, "0s", web.Options["scrape-interval"])
	require.Equal(t, true, web.Options["enabled"])
	require.Equal(t, []string{"password", "bearer-token"}, web.Redacted)
	require.Nil(t, all.Sections["static-discovery"].Elements[0].Redacted)

	code, body = a.call(t, "GET", "/static-discovery/s1", "")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"link":{"rel":"self","href":"/kapacitor/v1/config/static-discovery/s1"},
		"options":{"enabled":true,"id":"s1","labels":null,"targets":["a:1"]},"redacted":null}`, body)

	for _, c := range []struct {
		path, err string
		code      int
	}{
		{"/azure", "unknown section: azure", http.StatusNotFound},
		{"/scraper/nope", "unknown section/element: scraper/nope", http.StatusNotFound},
		{"/", "section not specified, do you have an extra trailing '/'?", http.StatusBadRequest},
		{"/scraper/web/x", "section not specified, do you have an extra trailing '/'?", http.StatusBadRequest},
	} {
		code, msg := a.errorOf(t, "GET", c.path, "")
		require.Equal(t, c.code, code, c.path)
		require.Equal(t, c.err, msg, c.path)
	}
}

// TestChangeErrors checks the answers to bad changes: Kapacitor's status and error text, and no override
// kept or applied.
func TestChangeErrors(t *testing.T) {
	a := startAPI(t, newTestConfig(), nil)
	for _, c := range []struct{ path, body, err string }{
		{"/scraper", `{bad`, "failed to decode JSON:invalid character 'b' looking for beginning of object key string"},
		{"/scraper/web", `{"set":{"no-such-option":1}}`, "failed to override configuration scraper/web: unknown options [no-such-option] in section scraper"},
		{"/scraper/web", `{"set":{"db":5}}`, "failed to override configuration scraper/web: cannot set option db: wrong kind float64, expected value of kind string: false"},
		{"/scraper/web", `{"set":{"blacklist":"x"}}`, "failed to override configuration scraper/web: cannot set option blacklist: wrong kind string, expected value of kind slice: false"},
		{"/scraper/web", `{"set":{"sample-limit":"many"}}`, `failed to override configuration scraper/web: cannot set option sample-limit: cannot convert string "many" into int`},
		{"/scraper/web", `{"set":{"scrape-interval":"bogus"}}`, `failed to override configuration scraper/web: cannot set option scrape-interval: time: invalid duration "bogus"`},
		{"/scraper/web", `{"set":{"db":null}}`, "failed to override configuration scraper/web: cannot set option db: null is no value; delete the option to reset it"},
		{"/scraper/web", `{"set":{"name":"x"}}`, "failed to override configuration scraper/web: cannot override element key name"},
		{"/scraper", `{"set":{"db":"x"}}`, "failed to apply update: invalid update action: element not specified, are you missing a trailing '/'?"},
		{"/scraper/web", `{"set":{"db":"x"},"remove":["web"]}`, "failed to apply update: invalid update action: cannot provide both set/delete and add/remove actions in the same update"},
		{"/scraper", `{"add":{"db":"x"}}`, `failed to apply update: missing key "name" in "add" map`},
		{"/scraper", `{"add":{"name":5}}`, `failed to apply update: expected "name" key to be a string, got float64`},
		{"/scraper", `{"add":{"name":"web"}}`, `failed to read sections from configuration object: section "scraper" has duplicate elements: "web"`},
		{"/scraper", `{"add":{"name":"a/b"}}`, `failed to apply update: invalid element name "a/b"`},
		{"/nosuch", `{"add":{"id":"x"}}`, `failed to apply update: unknown section "nosuch"`},
		{"/static-discovery", `{"add":{"id":"s2","labels":{"a":1}}}`, "failed to override configuration static-discovery/: cannot set option labels: " +
			"cannot unmarshal TOML integer into string"},
	} {
		code, msg := a.errorOf(t, "POST", c.path, c.body)
		require.Equal(t, http.StatusBadRequest, code, c.body)
		require.Equal(t, c.err, msg, c.body)
	}
	for _, c := range []struct{ path, body, err string }{
		{"/scraper/nope", `{"set":{"db":"x"}}`, "unknown section/element: scraper/nope"},
		{"/scraper/", `{"set":{"db":"x"}}`, "unknown section/element: scraper/"},
		{"/nosuch/x", `{"set":{"a":1}}`, "unknown section: nosuch"},
	} {
		code, msg := a.errorOf(t, "POST", c.path, c.body)
		require.Equal(t, http.StatusNotFound, code, c.body)
		require.Equal(t, c.err, msg, c.body)
	}
	require.Empty(t, a.applied)
	require.NoFileExists(t, a.file)
}

func TestChangesAreKeptAndApplied(t *testing.T) {
	a := startAPI(t, newTestConfig(), nil)
	post := func(path, body string) {
		t.Helper()
		code, msg := a.call(t, "POST", path, body)
		require.Equal(t, http.StatusNoContent, code, msg)
	}
	post("/scraper/web", `{"set":{"scrape-interval":"30s","blacklist":["a:1"],"params":{"x":["1"]}}}`)
	post("/scraper", `{"add":{"name":"new","db":"d2","rp":"r2","discoverer-service":"static-discovery","discoverer-id":"s2"}}`)
	post("/static-discovery", `{"add":{"id":"s2","targets":["b:2"],"labels":{"team":"x"}}}`)
	post("/scraper/web", `{"delete":["blacklist"]}`)

	kept, err := ReadFile(a.file)
	require.NoError(t, err)
	require.Equal(t, a.applied[len(a.applied)-1], kept)
	cfg := newTestConfig()
	s, err := Of(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Override(kept))
	require.Len(t, cfg.Scrapers, 2)
	require.Equal(t, config.Duration(30e9), cfg.Scrapers[0].ScrapeInterval)
	require.Nil(t, cfg.Scrapers[0].Blacklist)
	require.Equal(t, map[string][]string{"x": {"1"}}, cfg.Scrapers[0].Params)
	require.Equal(t, "new", cfg.Scrapers[1].Name)
	require.Equal(t, &discovery.Static{Common: discovery.Common{ID: "s2"}, Targets: []string{"b:2"}, Labels: map[string]string{"team": "x"}}, cfg.Static[1])

	code, body := a.call(t, "GET", "/scraper/web", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"scrape-interval":"30s"`)

	code, msg := a.errorOf(t, "POST", "/scraper/new", `{"set":{"name":"other"}}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "failed to override configuration scraper/: cannot override element key name", msg)

	// A second add of the same element: kapacitord 1.5.9 panicked; here the error it meant.
	code, msg = a.errorOf(t, "POST", "/scraper", `{"add":{"name":"new","db":"d"}}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "failed to apply update: cannot add new override, override already exists for scraper/new", msg)

	post("/scraper", `{"remove":["new","web"]}`)
	kept, err = ReadFile(a.file)
	require.NoError(t, err)
	require.Len(t, kept, 1)
	require.Equal(t, "s2", kept[0].Element)
	info, err := os.Stat(a.file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	entries, err := os.ReadDir(filepath.Dir(a.file))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left")
}

func TestRefusedChangeKeepsOverrides(t *testing.T) {
	a := startAPI(t, newTestConfig(), nil)
	code, _ := a.call(t, "POST", "/scraper/web", `{"set":{"rp":"r9"}}`)
	require.Equal(t, http.StatusNoContent, code)
	before, err := os.ReadFile(a.file)
	require.NoError(t, err)

	a.fail = errors.New(`scraper "web": db: required`)
	code, msg := a.errorOf(t, "POST", "/scraper/web", `{"set":{"db":""}}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, `failed to override configuration scraper/web: failed validation: scraper "web": db: required`, msg)
	after, err := os.ReadFile(a.file)
	require.NoError(t, err)
	require.Equal(t, string(before), string(after))
	_, body := a.call(t, "GET", "/scraper/web", "")
	require.Contains(t, body, `"db":"db"`)
	require.Contains(t, body, `"rp":"r9"`)
}

// SetBase's sections are those the overrides apply to from then on: the API shows them, overridden.
func TestSetBase(t *testing.T) {
	a := startAPI(t, newTestConfig(), nil)
	code, _ := a.call(t, "POST", "/scraper/web", `{"set":{"rp":"r9"}}`)
	require.Equal(t, http.StatusNoContent, code)

	reread := newTestConfig()
	reread.Scrapers[0].DB = "db2"
	reread.Scrapers = append(reread.Scrapers, &kapacitor.Scraper{DB: "db", Config: scrape.Config{Name: "new"}})
	s, err := Of(reread)
	require.NoError(t, err)
	a.handler.SetBase(s.Clone())
	_, body := a.call(t, "GET", "/scraper/web", "")
	require.Contains(t, body, `"db":"db2"`)
	require.Contains(t, body, `"rp":"r9"`)
	code, body = a.call(t, "POST", "/scraper/new", `{"set":{"rp":"r1"}}`)
	require.Equal(t, http.StatusNoContent, code, body)
	_, body = a.call(t, "GET", "/scraper/new", "")
	require.Contains(t, body, `"rp":"r1"`)
}

func TestWritesRefused(t *testing.T) {
	a := startAPI(t, newTestConfig(), errors.New("the configuration is read-only"))
	code, msg := a.errorOf(t, "POST", "/scraper/web", `{"set":{"db":"x"}}`)
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, "the configuration is read-only", msg)
	code, _ = a.call(t, "GET", "/scraper/web", "")
	require.Equal(t, http.StatusOK, code)

	b := startAPI(t, newTestConfig(), nil)
	code, _ = b.call(t, "POST", "/scraper/web", `{"set":{"db":"x"}}`, "Origin", "http://evil.example")
	require.Equal(t, http.StatusForbidden, code)
	code, _ = b.call(t, "POST", "/scraper/web", `{"set":{"db":"x"}}`, "Origin", b.URL)
	require.Equal(t, http.StatusNoContent, code)
	require.Len(t, b.applied, 1)
}

// TestSecretsNeverShown sets every secret option of every section, in the configuration and through the
// API, and looks for them in every answer.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "s3cr3t-value"
	cfg := newTestConfig()
	s, err := Of(cfg)
	require.NoError(t, err)
	var secrets int
	for _, name := range s.Names() {
		sl := s.slices[name]
		if sl.Len() == 0 {
			e := reflect.New(sl.Type().Elem().Elem())
			f, _ := field(e.Elem(), ElementKeys[name])
			f.SetString("x")
			sl.Set(reflect.Append(sl, e))
		}
		secrets += setSecrets(sl.Index(0).Elem(), secret)
	}
	require.Greater(t, secrets, 10)
	a := startAPI(t, cfg, nil)
	code, msg := a.call(t, "POST", "/scraper", `{"add":{"name":"added","password":"`+secret+`","bearer-token":"`+secret+`"}}`)
	require.Equal(t, http.StatusNoContent, code, msg)
	code, msg = a.call(t, "POST", "/consul/x", `{"set":{"token":"`+secret+`"}}`)
	require.Equal(t, http.StatusNoContent, code, msg)

	paths := []string{"", "/scraper/added"}
	for _, name := range s.Names() {
		paths = append(paths, "/"+name, "/"+name+"/"+key(name, s.slices[name].Index(0)))
	}
	for _, p := range paths {
		code, body := a.call(t, "GET", p, "")
		require.Equal(t, http.StatusOK, code, p)
		require.NotContains(t, body, secret, p)
	}
	_, body := a.call(t, "GET", "/scraper/added", "")
	require.Contains(t, body, `"password":true`)
	require.Contains(t, body, `"redacted":["password","bearer-token"]`)
}

// setSecrets sets every config.Secret of a struct (and the structs it embeds) and counts them.
func setSecrets(v reflect.Value, value string) int {
	n := 0
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case !v.Type().Field(i).IsExported():
		case f.Type() == secretType:
			f.Set(reflect.ValueOf(config.NewSecret([]byte(value))))
			n++
		case v.Type().Field(i).Anonymous && f.Kind() == reflect.Struct:
			n += setSecrets(f, value)
		}
	}
	return n
}
