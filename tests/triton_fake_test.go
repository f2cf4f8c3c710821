package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The fake Triton CMON runs as a child process inside the test's network namespace, where the runner
// resolves the targets' <uuid>.<dns-suffix> names. It serves CMON's discovery endpoints over TLS to
// clients whose certificate the test CA signed and whose common name is the account (which is how CMON
// knows the account), and reads what to serve from a state file at each request, so that the test
// changes it by rewriting the file. With "down" set in the file it closes its listener, as a stopped
// CMON does, until "down" is cleared.
func init() {
	childModes["triton-cmon"] = serveTritonCMONChild
}

// tritonCMONState is the state file: what CMON knows of the account.
type tritonCMONState struct {
	Down       bool                  `json:"down"`
	Containers []tritonCMONContainer `json:"containers"`
	CNs        []tritonCMONCN        `json:"cns"`
}

// tritonCMONContainer is one container as /v1/discover lists it.
type tritonCMONContainer struct {
	Groups      []string `json:"groups"`
	ServerUUID  string   `json:"server_uuid"`
	VMAlias     string   `json:"vm_alias"`
	VMBrand     string   `json:"vm_brand"`
	VMImageUUID string   `json:"vm_image_uuid"`
	VMUUID      string   `json:"vm_uuid"`
}

// tritonCMONCN is one compute node as /v1/gz/discover lists it.
type tritonCMONCN struct {
	ServerUUID     string `json:"server_uuid"`
	ServerHostname string `json:"server_hostname"`
}

// tritonCMON is the test's handle on the fake: its directory holds the PKI, the state file and the
// log of requests.
type tritonCMON struct {
	Dir, Account string
}

// StartTritonCMON writes a CA, a server certificate for host and a client certificate for account into
// a new directory, then starts the fake on addr inside the namespace, serving state.
func StartTritonCMON(t *testing.T, ns *NetNS, addr, host, account string, state tritonCMONState) *tritonCMON {
	t.Helper()
	c := &tritonCMON{Dir: t.TempDir(), Account: account}
	tritonWritePKI(t, c.Dir, host, account)
	c.Set(t, state)
	StartChild(t, ns, "triton-cmon", "DP_TRITON_ADDR="+addr, "DP_TRITON_DIR="+c.Dir, "DP_TRITON_ACCOUNT="+account)
	return c
}

// File is the path of one of the fake's files: ca.pem, client.pem, client-key.pem, state.json...
func (c *tritonCMON) File(name string) string { return filepath.Join(c.Dir, name) }

// Set replaces the state, atomically, as the fake may be reading it.
func (c *tritonCMON) Set(t *testing.T, state tritonCMONState) {
	t.Helper()
	data, err := json.Marshal(state)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(c.File("state.json.tmp"), data, 0o644))
	require.NoError(t, os.Rename(c.File("state.json.tmp"), c.File("state.json")))
}

// Requests returns the requests served so far, each as "<client certificate CN> <request URI>".
func (c *tritonCMON) Requests() []string {
	data, _ := os.ReadFile(c.File("requests.log"))
	if len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func serveTritonCMONChild() {
	dir, addr, account := os.Getenv("DP_TRITON_DIR"), os.Getenv("DP_TRITON_ADDR"), os.Getenv("DP_TRITON_ACCOUNT")
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "triton-cmon:", err)
		os.Exit(1)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		fail(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		fail(err)
	}
	clients := x509.NewCertPool()
	clients.AppendCertsFromPEM(caPEM)
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients}
	requests, err := os.OpenFile(filepath.Join(dir, "requests.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fail(err)
	}
	state := func() tritonCMONState {
		var s tritonCMONState
		data, err := os.ReadFile(filepath.Join(dir, "state.json"))
		if err == nil {
			err = json.Unmarshal(data, &s)
		}
		if err != nil {
			fail(err)
		}
		return s
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := r.TLS.PeerCertificates[0].Subject.CommonName
		fmt.Fprintf(requests, "%s %s\n", cn, r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		if cn != account {
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]string{"code": "NotAuthorized", "message": "unknown account " + cn})
			return
		}
		s := state()
		switch r.URL.Path {
		case "/v1/discover":
			containers := []tritonCMONContainer{}
			groups := strings.Split(r.URL.Query().Get("groups"), ",")
			for _, c := range s.Containers {
				if !r.URL.Query().Has("groups") || slices.ContainsFunc(c.Groups, func(g string) bool { return slices.Contains(groups, g) }) {
					containers = append(containers, c)
				}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"containers": containers})
		case "/v1/gz/discover":
			_ = json.NewEncoder(w).Encode(map[string]any{"cns": s.CNs})
		default:
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"code": "ResourceNotFound", "message": r.URL.Path + " does not exist"})
		}
	})
	ready := false
	for {
		for state().Down {
			time.Sleep(50 * time.Millisecond)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fail(err)
		}
		server := &http.Server{Handler: handler, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := server.ServeTLS(l, "", ""); !errors.Is(err, http.ErrServerClosed) {
				fail(err)
			}
		}()
		if !ready {
			fmt.Println("ready")
			ready = true
		}
		for !state().Down {
			time.Sleep(50 * time.Millisecond)
		}
		_ = server.Close()
	}
}

// tritonWritePKI writes ca.pem, server.pem and server-key.pem (for host and 127.0.0.1), client.pem and
// client-key.pem (common name account) into dir.
func tritonWritePKI(t *testing.T, dir, host, account string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test triton CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err = x509.ParseCertificate(caDER)
	require.NoError(t, err)
	writePEM := func(name, typ string, der []byte) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	}
	writePEM("ca.pem", "CERTIFICATE", caDER)
	issue := func(name string, serial int64, template *x509.Certificate) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		template.SerialNumber = big.NewInt(serial)
		template.NotBefore, template.NotAfter = ca.NotBefore, ca.NotAfter
		template.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		require.NoError(t, err)
		writePEM(name+".pem", "CERTIFICATE", der)
		writePEM(name+"-key.pem", "PRIVATE KEY", keyDER)
	}
	issue("server", 2, &x509.Certificate{
		Subject: pkix.Name{CommonName: host}, DNSNames: []string{host}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	issue("client", 3, &x509.Certificate{
		Subject: pkix.Name{CommonName: account}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}
