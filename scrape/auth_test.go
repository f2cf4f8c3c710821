package scrape

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"
)

// authRecorder is a loopback server that answers m 1 and records the Authorization header of each request.
type authRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func startAuthRecorder(t *testing.T, handler http.HandlerFunc) *authRecorder {
	t.Helper()
	a := &authRecorder{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, r.Header.Get("Authorization"))
		a.mu.Unlock()
		if handler != nil {
			handler(w, r)
			return
		}
		_, _ = w.Write([]byte("m 1\n"))
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authRecorder) authorizations() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

// Prometheus' client adds credentials below http.Client, on every request it sends, redirects included, and
// only leaves them out when the redirect goes to another host name: a redirect to another port of the same
// host (another service), or from https to http, would get them. The scraper sends them to the origin it
// was configured for (scheme, host and port) only.
func TestAuthIsNotSentToAnotherOriginOnRedirect(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("file-token\n"), 0o600))
	auth := []struct {
		name   string
		set    func(*Config)
		header string
	}{
		{"basic", func(c *Config) { c.Username, c.Password = "user", config.NewSecret([]byte("pass")) }, "Basic dXNlcjpwYXNz"},
		{"bearer", func(c *Config) { c.BearerToken = config.NewSecret([]byte("tok")) }, "Bearer tok"},
		{"bearer-token-file", func(c *Config) { c.BearerTokenFile = tokenFile }, "Bearer file-token"},
	}
	for _, a := range auth {
		t.Run(a.name, func(t *testing.T) {
			other := startAuthRecorder(t, nil)
			_, otherPort, _ := net.SplitHostPort(other.Listener.Addr().String())
			for _, target := range []struct {
				name, url string
			}{
				{"another port", other.URL + "/metrics"},
				{"another host name", "http://localhost:" + otherPort + "/metrics"},
			} {
				t.Run(target.name, func(t *testing.T) {
					origin := startAuthRecorder(t, func(w http.ResponseWriter, r *http.Request) {
						http.Redirect(w, r, target.url, http.StatusFound)
					})
					before := len(other.authorizations())
					c := valid()
					a.set(c)
					s := newScraper(t, c, strings.TrimPrefix(origin.URL, "http://"))
					r := scrapeOnce(t, s)
					require.Len(t, r.series("m"), 1, "the redirect is followed: %s", s.Targets()[0].Health().LastError)
					require.Equal(t, []string{a.header}, origin.authorizations(), "the configured origin gets the credentials")
					require.Equal(t, []string{""}, other.authorizations()[before:], "another origin gets none")
				})
			}

			// A redirect within the origin (a path that moved) keeps them.
			var same *authRecorder
			same = startAuthRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/metrics" {
					http.Redirect(w, r, same.URL+"/moved", http.StatusMovedPermanently)
					return
				}
				_, _ = w.Write([]byte("m 1\n"))
			})
			c := valid()
			a.set(c)
			r := scrapeOnce(t, newScraper(t, c, strings.TrimPrefix(same.URL, "http://")))
			require.Len(t, r.series("m"), 1)
			require.Equal(t, []string{a.header, a.header}, same.authorizations())
		})
	}
}

// The token file is read on every scrape, as Prometheus reads it: a rotated token is used at once.
func TestBearerTokenFileIsReadOnEveryScrape(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("first"), 0o600))
	srv := startAuthRecorder(t, nil)
	c := valid()
	c.BearerTokenFile = tokenFile
	s := newScraper(t, c, strings.TrimPrefix(srv.URL, "http://"))
	scrapeOnce(t, s)
	require.NoError(t, os.WriteFile(tokenFile, []byte("second"), 0o600))
	scrapeAt(s, time.Now().Add(time.Hour)) // due again

	require.Equal(t, []string{"Bearer first", "Bearer second"}, srv.authorizations())

	// A token file that is gone fails the scrape with an error that names the file, not a token.
	require.NoError(t, os.Remove(tokenFile))
	r := scrapeAt(s, time.Now().Add(2*time.Hour))
	require.Contains(t, r.series("up")[0], "} 0")
	require.Contains(t, s.Targets()[0].Health().LastError, tokenFile)
}

func scrapeAt(s *Scraper, now time.Time) *recorder {
	r := &recorder{}
	Run(context.Background(), []*Scraper{s}, now, 1, r.sink)
	return r
}

func TestBearerTokenFileExcludesOtherCredentials(t *testing.T) {
	for other, set := range map[string]func(*Config){
		"bearer-token": func(c *Config) { c.BearerToken = config.NewSecret([]byte("tok")) },
		"username":     func(c *Config) { c.Username = "user" },
		"password":     func(c *Config) { c.Password = config.NewSecret([]byte("pass")) },
	} {
		t.Run(other, func(t *testing.T) {
			c := valid()
			c.BearerTokenFile = "/run/secrets/token"
			set(c)
			require.ErrorContains(t, c.Init(), "bearer-token-file")
		})
	}
}

// headerRecorder is a loopback server that answers m 1 and records one header of each request.
type headerRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func startHeaderRecorder(t *testing.T, name string, redirect func() string) *headerRecorder {
	t.Helper()
	h := &headerRecorder{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.seen = append(h.seen, r.Header.Get(name))
		h.mu.Unlock()
		if redirect != nil {
			http.Redirect(w, r, redirect(), http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("m 1\n"))
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *headerRecorder) values() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// The credentials of a prometheus_config job that Prometheus' client adds itself, an OAuth2 access token and
// the http_headers given as secrets or files, go to the origin the scrape started at and not to another
// port of the same host it redirects to: Prometheus would send them there. A header given as a plain value
// is not a credential, and follows the redirect as in Prometheus.
func TestPrometheusConfigCredentialsStayAtOrigin(t *testing.T) {
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"oauth-tok","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(tokens.Close)
	headerFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(headerFile, []byte("file-k3y\n"), 0o600))

	for _, tc := range []struct {
		name, header, value string
		client              promconfig.HTTPClientConfig
		followed            bool // the other origin gets it too
	}{
		{name: "oauth2", header: "Authorization", value: "Bearer oauth-tok", client: promconfig.HTTPClientConfig{
			OAuth2: &promconfig.OAuth2{ClientID: "id", ClientSecret: "secret", TokenURL: tokens.URL + "/token"}}},
		{name: "http_headers secret", header: "X-Api-Key", value: "k3y", client: promconfig.HTTPClientConfig{
			HTTPHeaders: &promconfig.Headers{Headers: map[string]promconfig.Header{"x-api-key": {Secrets: []promconfig.Secret{"k3y"}}}}}},
		{name: "http_headers file", header: "X-Api-Key", value: "file-k3y", client: promconfig.HTTPClientConfig{
			HTTPHeaders: &promconfig.Headers{Headers: map[string]promconfig.Header{"X-Api-Key": {Files: []string{headerFile}}}}}},
		{name: "http_headers value", header: "X-Tenant", value: "t1", followed: true, client: promconfig.HTTPClientConfig{
			HTTPHeaders: &promconfig.Headers{Headers: map[string]promconfig.Header{"X-Tenant": {Values: []string{"t1"}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := startHeaderRecorder(t, tc.header, nil)
			origin := startHeaderRecorder(t, tc.header, func() string { return other.URL + "/metrics" })
			c := valid()
			client := tc.client
			client.FollowRedirects, client.EnableHTTP2 = true, true
			s := newJobScraper(t, c, &JobExtras{HTTPClient: &client}, strings.TrimPrefix(origin.URL, "http://"))
			r := scrapeOnce(t, s)
			require.Len(t, r.series("m"), 1, "the redirect is followed: %s", s.Targets()[0].Health().LastError)
			require.Equal(t, []string{tc.value}, origin.values(), "the origin gets it")
			want := ""
			if tc.followed {
				want = tc.value
			}
			require.Equal(t, []string{want}, other.values(), "another port of the host")
		})
	}
}
