package scrape

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/influxdata/telegraf/config"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// headerLog is a loopback exporter that logs the X-* headers of each request.
func headerLog(t *testing.T, handler http.HandlerFunc) (*httptest.Server, func() []http.Header) {
	t.Helper()
	var mu sync.Mutex
	var seen []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, http.Header{"X-Tenant": r.Header.Values("X-Tenant"), "X-Key": r.Header.Values("X-Key")})
		mu.Unlock()
		if handler != nil {
			handler(w, r)
			return
		}
		_, _ = w.Write([]byte("m 1\n"))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []http.Header {
		mu.Lock()
		defer mu.Unlock()
		return append([]http.Header(nil), seen...)
	}
}

func withHeaders(c *Config) {
	c.HTTPHeaders = httpconfig.Headers{
		"X-Tenant": {Values: []string{"a", "b"}},
		"x-key":    {Secrets: []config.Secret{config.NewSecret([]byte("s3cret"))}},
	}
}

// http-headers go on every scrape, the values of a header in their order; a secret one, as credentials,
// only to the origin the scrape started at.
func TestHTTPHeadersAreSent(t *testing.T) {
	other, otherSeen := headerLog(t, nil)
	origin, originSeen := headerLog(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/metrics", http.StatusFound)
	})
	c := valid()
	withHeaders(c)
	r := scrapeOnce(t, newScraper(t, c, strings.TrimPrefix(origin.URL, "http://")))
	require.Len(t, r.series("m"), 1)
	require.Equal(t, []http.Header{{"X-Tenant": {"a", "b"}, "X-Key": {"s3cret"}}}, originSeen())
	require.Equal(t, []http.Header{{"X-Tenant": {"a", "b"}, "X-Key": nil}}, otherSeen(), "the secret header stays with its origin")
}

// A header Prometheus reserves is refused as Prometheus refuses it, by the key.
func TestHTTPHeadersReserved(t *testing.T) {
	for _, name := range []string{"Authorization", "host", "User-Agent", "X-Prometheus-Scrape-Timeout-Seconds"} {
		c := valid()
		c.HTTPHeaders = httpconfig.Headers{name: {Values: []string{"x"}}}
		require.NoError(t, c.Init())
		_, err := New(c, nil, discard)
		require.ErrorContains(t, err, "http-headers."+name+": a header Prometheus reserves", name)
	}
}
