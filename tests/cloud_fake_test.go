package tests

// What the ec2, azure and gce tests share: a test CA for the fake APIs' HTTPS, and a fake API run as a child
// inside a network namespace and steered over a unix socket. The Prometheus SD that reads the __meta_*
// labels the fakes lead to runs through FirstTargets and FirstTargetsIn (sd_test.go).

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cloudCerts are the PEM files of a test CA and of a server certificate it signed.
type cloudCerts struct{ CA, Cert, Key string }

// newCloudCerts writes a CA and a server certificate for the given host names (and 127.0.0.1) to dir.
func newCloudCerts(t testing.TB, dir string, hosts ...string) cloudCerts {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "discovering-prometheus test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err = x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: hosts[0]},
		DNSNames:     hosts,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)

	c := cloudCerts{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	for path, block := range map[string]*pem.Block{
		c.CA:   {Type: "CERTIFICATE", Bytes: caDER},
		c.Cert: {Type: "CERTIFICATE", Bytes: leafDER},
		c.Key:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	}
	return c
}

// cloudFakeState is what every fake cloud API keeps besides its instances: whether it fails, and counts of
// what it served, by name, for the tests to wait on and assert.
type cloudFakeState struct {
	mu      sync.Mutex
	failing bool
	counts  map[string]int
	seen    map[string]string
}

func (s *cloudFakeState) count(name string) {
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	s.counts[name]++
}

func (s *cloudFakeState) see(name, value string) {
	if s.seen == nil {
		s.seen = map[string]string{}
	}
	s.seen[name] = value
}

// cloudFakeStats is a snapshot of a fake's counters and of the last value it saw of a few request
// details (an Authorization header, a filter).
type cloudFakeStats struct {
	Counts map[string]int
	Seen   map[string]string
}

func (s *cloudFakeState) stats() cloudFakeStats {
	out := cloudFakeStats{Counts: map[string]int{}, Seen: map[string]string{}}
	for k, v := range s.counts {
		out.Counts[k] = v
	}
	for k, v := range s.seen {
		out.Seen[k] = v
	}
	return out
}

// cloudFake is a fake cloud API: API serves the provider's wire format; SetInstances replaces its
// instances with a JSON list of the provider's own fake instance type.
type cloudFake interface {
	API() http.Handler
	SetInstances(data []byte) error
	State() *cloudFakeState
}

// serveCloudFakeChild runs a fake as a child process: the API over HTTPS on DP_CLOUD_FAKE_ADDR with the
// certificate in DP_CLOUD_FAKE_CERT and DP_CLOUD_FAKE_KEY, and its control endpoints on the unix socket
// DP_CLOUD_FAKE_CONTROL, which the test process reaches from outside the namespace.
func serveCloudFakeChild(fake cloudFake) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "cloud fake:", err)
		os.Exit(1)
	}
	cert, err := tls.LoadX509KeyPair(os.Getenv("DP_CLOUD_FAKE_CERT"), os.Getenv("DP_CLOUD_FAKE_KEY"))
	if err != nil {
		fail(err)
	}
	api, err := tls.Listen("tcp", os.Getenv("DP_CLOUD_FAKE_ADDR"), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		fail(err)
	}
	control, err := net.Listen("unix", os.Getenv("DP_CLOUD_FAKE_CONTROL"))
	if err != nil {
		fail(err)
	}
	go func() { _ = (&http.Server{Handler: fake.API(), ReadHeaderTimeout: 10 * time.Second}).Serve(api) }()
	go func() {
		_ = (&http.Server{Handler: cloudControl(fake), ReadHeaderTimeout: 10 * time.Second}).Serve(control)
	}()
	fmt.Println("ready")
	select {}
}

// cloudControl serves PUT /instances (a JSON list), PUT /failing ("true" or "false") and GET /stats.
func cloudControl(fake cloudFake) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /instances", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err == nil {
			err = fake.SetInstances(data)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	})
	mux.HandleFunc("PUT /failing", func(w http.ResponseWriter, r *http.Request) {
		var failing bool
		if err := json.NewDecoder(r.Body).Decode(&failing); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s := fake.State()
		s.mu.Lock()
		s.failing = failing
		s.mu.Unlock()
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		s := fake.State()
		s.mu.Lock()
		defer s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(s.stats())
	})
	return mux
}

// cloudFakeClient steers a fake running in a child process.
type cloudFakeClient struct {
	t      testing.TB
	client *http.Client
}

// startCloudFake runs the child mode of a fake inside the namespace on 127.0.0.1:443, with a certificate
// of the test CA, and returns its control client.
func startCloudFake(t testing.TB, ns *NetNS, mode string, certs cloudCerts, env ...string) *cloudFakeClient {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "control.sock")
	StartChild(t, ns, mode, append([]string{
		"DP_CLOUD_FAKE_ADDR=127.0.0.1:443",
		"DP_CLOUD_FAKE_CERT=" + certs.Cert,
		"DP_CLOUD_FAKE_KEY=" + certs.Key,
		"DP_CLOUD_FAKE_CONTROL=" + socket,
	}, env...)...)
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}
	return &cloudFakeClient{t: t, client: &http.Client{Transport: &http.Transport{DialContext: dial}, Timeout: 10 * time.Second}}
}

func (c *cloudFakeClient) do(method, path string, body any) []byte {
	c.t.Helper()
	data, err := json.Marshal(body)
	require.NoError(c.t, err)
	req, err := http.NewRequest(method, "http://fake"+path, bytes.NewReader(data))
	require.NoError(c.t, err)
	resp, err := c.client.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	require.Equal(c.t, http.StatusOK, resp.StatusCode, "%s %s: %s", method, path, out)
	return out
}

// SetInstances replaces the fake's instances.
func (c *cloudFakeClient) SetInstances(instances any) { c.do(http.MethodPut, "/instances", instances) }

// SetFailing makes every API call fail with a server error, or stops that.
func (c *cloudFakeClient) SetFailing(failing bool) { c.do(http.MethodPut, "/failing", failing) }

// Stats returns the fake's counters.
func (c *cloudFakeClient) Stats() cloudFakeStats {
	c.t.Helper()
	var s cloudFakeStats
	require.NoError(c.t, json.Unmarshal(c.do(http.MethodGet, "/stats", nil), &s))
	return s
}

// cloudCountLines counts the lines of a log that contain every part.
func cloudCountLines(log string, parts ...string) int {
	n := 0
next:
	for _, line := range strings.Split(log, "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		n++
	}
	return n
}
