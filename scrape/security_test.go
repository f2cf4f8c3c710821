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
	for _, set := range []func(*Config){
		func(c *Config) { c.BearerToken = config.NewSecret([]byte("tok")) },
		func(c *Config) { c.Username = "user" },
		func(c *Config) { c.Password = config.NewSecret([]byte("pass")) },
	} {
		c := valid()
		c.BearerTokenFile = "/run/secrets/token"
		set(c)
		require.ErrorContains(t, c.Init(), "bearer-token-file")
	}
}
