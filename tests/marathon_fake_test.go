package tests

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// marathonFake is Marathon's REST API as Prometheus' marathon SD uses it, over HTTPS: GET
// /v2/apps/?embed=apps.tasks lists the apps with their tasks, behind one Authorization header value.
// It can answer 503 (no leader) or not at all, as a Marathon that accepts connections and hangs.
type marathonFake struct {
	*httptest.Server
	CAFile string // the server certificate, for ssl-ca

	mu      sync.Mutex
	auth    string // the Authorization header required
	apps    []marathonFakeApp
	mode    string        // "", "503" or "hang"
	release chan struct{} // closed when a hang ends
	seen    []string      // the Authorization headers received
	uris    []string      // the request URIs received
	counts  map[string]int
}

// marathonFakeApp is an app as Marathon's API shows it (the fields Marathon sends that the SD reads, and
// a few it does not, such as health check results).
type marathonFakeApp = map[string]any

func startMarathonFake(t *testing.T, auth string) *marathonFake {
	f := &marathonFake{auth: auth, release: make(chan struct{}), counts: map[string]int{}}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	f.CAFile = filepath.Join(t.TempDir(), "marathon-ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw})
	if err := os.WriteFile(f.CAFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.CloseClientConnections()
		f.Close()
	})
	return f
}

// SetApps replaces the apps.
func (f *marathonFake) SetApps(apps ...marathonFakeApp) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apps = apps
}

// SetMode makes the fake answer normally (""), with 503 ("503"), or not at all ("hang"). Leaving "hang"
// answers the requests held.
func (f *marathonFake) SetMode(mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mode == "hang" && mode != "hang" {
		close(f.release)
		f.release = make(chan struct{})
	}
	f.mode = mode
}

// Count is how many requests were answered so (or held, for "hang"), by mode.
func (f *marathonFake) Count(mode string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[mode]
}

// Seen returns the Authorization headers and URIs of the requests received.
func (f *marathonFake) Seen() (auth, uris []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen), slices.Clone(f.uris)
}

func (f *marathonFake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.Header.Get("Authorization"))
	f.uris = append(f.uris, r.RequestURI)
	mode, release, auth := f.mode, f.release, f.auth
	f.counts[mode]++
	f.mu.Unlock()
	if r.Header.Get("Authorization") != auth {
		writeMarathonJSON(w, http.StatusUnauthorized, map[string]any{"message": "Not Authenticated!"})
		return
	}
	switch mode {
	case "503":
		writeMarathonJSON(w, http.StatusServiceUnavailable, map[string]any{"message": "Could not determine the current leader"})
		return
	case "hang":
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	if r.URL.Path != "/v2/apps/" || r.URL.Query().Get("embed") != "apps.tasks" {
		writeMarathonJSON(w, http.StatusNotFound, map[string]any{"message": "not served by this fake: " + r.RequestURI})
		return
	}
	f.mu.Lock()
	body := map[string]any{"apps": f.apps}
	f.mu.Unlock()
	writeMarathonJSON(w, http.StatusOK, body)
}

func writeMarathonJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// marathonFakeTask is a running, healthy task of an app on host, with its host ports and the container
// IP addresses.
func marathonFakeTask(app, id, host string, ports []int, ips ...string) map[string]any {
	addresses := []map[string]any{}
	for _, ip := range ips {
		addresses = append(addresses, map[string]any{"ipAddress": ip, "protocol": "IPv4"})
	}
	return map[string]any{
		"id": id, "appId": app, "host": host, "ports": ports, "ipAddresses": addresses,
		"state": "TASK_RUNNING", "startedAt": "2024-01-01T00:00:00.000Z",
		"healthCheckResults": []map[string]any{{"alive": true, "taskId": id, "consecutiveFailures": 0}},
	}
}
