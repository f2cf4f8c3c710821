package scrape

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"
)

// mkfifo makes a named pipe that nobody writes to.
func mkfifo(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "pipe")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	return path
}

// Credential and CA files are configuration files: a named pipe with no writer or /dev/zero is refused
// when the scraper is made, with the key and the path, instead of hanging every scrape or filling memory.
func TestCredentialFilesMustBeRegularFiles(t *testing.T) {
	pipe := mkfifo(t)
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"bearer-token-file pipe", func(c *Config) { c.BearerTokenFile = pipe }, "bearer-token-file: " + pipe + ": not a regular file (a named pipe)"},
		{"bearer-token-file zero", func(c *Config) { c.BearerTokenFile = "/dev/zero" }, "bearer-token-file: /dev/zero: not a regular file (a character device)"},
		{"ssl-ca zero", func(c *Config) { c.CA = "/dev/zero" }, "ssl-ca: /dev/zero: not a regular file (a character device)"},
		{"ssl-ca pipe", func(c *Config) { c.CA = pipe }, "ssl-ca: " + pipe + ": not a regular file (a named pipe)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.set(c)
			require.NoError(t, c.Init())
			errc := make(chan error, 1)
			go func() { _, err := New(c, nil, discard); errc <- err }()
			select {
			case err := <-errc:
				require.EqualError(t, err, tc.want)
			case <-time.After(10 * time.Second):
				t.Fatal("New hangs")
			}
		})
	}
	// A job's keys are named as in prometheus.yml.
	c := valid()
	require.NoError(t, c.Init())
	_, err := New(c, &JobExtras{HTTPClient: &promconfig.HTTPClientConfig{
		BasicAuth: &promconfig.BasicAuth{Username: "u", PasswordFile: "/dev/zero"},
		TLSConfig: promconfig.TLSConfig{CAFile: pipe},
	}}, discard)
	require.EqualError(t, err, "tls_config.ca_file: "+pipe+": not a regular file (a named pipe)\n"+
		"basic_auth.password_file: /dev/zero: not a regular file (a character device)")
}

// A credential or CA file that becomes a named pipe after the scraper was made fails the scrape at once,
// naming its key, where Prometheus' client would wait on the pipe forever.
func TestCredentialFilesAreReadWithoutBlocking(t *testing.T) {
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("m 1\n")) }))
	defer tls.Close()
	dir := t.TempDir()
	caFile, tokenFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tls.Certificate().Raw}), 0o600))
	require.NoError(t, os.WriteFile(tokenFile, []byte("token"), 0o600))
	c := valid()
	c.Scheme, c.CA, c.BearerTokenFile = "https", caFile, tokenFile
	s := newScraper(t, c, strings.TrimPrefix(tls.URL, "https://"))
	runBounded(t, []*Scraper{s}, time.Now(), 10*time.Second, (&recorder{}).sink)
	require.True(t, s.Targets()[0].Health().Up, s.Targets()[0].Health().LastError)

	for i, f := range []struct{ key, path string }{{"bearer-token-file", tokenFile}, {"ssl-ca", caFile}} {
		content, err := os.ReadFile(f.path)
		require.NoError(t, err)
		require.NoError(t, os.Remove(f.path))
		require.NoError(t, syscall.Mkfifo(f.path, 0o600))
		runBounded(t, []*Scraper{s}, time.Now().Add(time.Duration(i+1)*time.Hour), 10*time.Second, (&recorder{}).sink)
		h := s.Targets()[0].Health()
		require.False(t, h.Up)
		require.Contains(t, h.LastError, f.key+": "+f.path+": not a regular file (a named pipe)")
		require.NoError(t, os.Remove(f.path))
		require.NoError(t, os.WriteFile(f.path, content, 0o600))
	}
}
