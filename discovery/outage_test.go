//go:build !remove_all_sd

package discovery

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	_ "unsafe" // for go:linkname

	"github.com/influxdata/telegraf/config"
	miekgdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
)

// A failure is logged again when its text changes, and each is counted; a delivery ends it.
func TestOutageLogByText(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	errs := 0
	h := newOutageLog(slog.NewTextHandler(&lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo}), nil, func() { errs++ })
	log := slog.New(h).With("discoverer", "dns")
	for range 3 {
		log.Error("lookup failed", "err", "timeout")
	}
	log.Error("lookup failed", "err", "refused")
	require.True(t, h.delivered(nil))
	log.Error("lookup failed", "err", "refused")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3, buf.String())
	require.Equal(t, 5, errs)
	require.True(t, slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "discoverer=dns") }))
}

// The records below are those Prometheus' SDs log against a failing server, taken from the SDs as they
// run: a message that a new Prometheus words differently fails these tests.

// Consul's watches (one a service here) each log their failure, in words of their own: the outage is one
// error, counted once.
func TestOutageLogConsul(t *testing.T) {
	server := failingServer(t, http.StatusInternalServerError)
	cfg, err := (&Consul{Address: server.Listener.Addr().String(), Datacenter: "dc1", Services: []string{"web", "db"}}).SDConfig()
	require.NoError(t, err)
	records := sdRecords(t, cfg, 2)
	out, errs := feed(cfg, records, nil)
	require.Equal(t, []string{"ERROR"}, levels(out, slog.LevelInfo), out)
	require.Equal(t, 1, errs)
	require.Len(t, levels(out, slog.LevelDebug), len(records))
}

// Marathon fails each refresh alike: logged once, counted each time, and each is an answer to the
// watchdog.
func TestOutageLogMarathon(t *testing.T) {
	server := failingServer(t, http.StatusServiceUnavailable)
	cfg, err := (&Marathon{Servers: []string{server.URL}, RefreshInterval: config.Duration(20 * time.Millisecond)}).SDConfig()
	require.NoError(t, err)
	records := sdRecords(t, cfg, 2)
	watched := &watcher{}
	out, errs := feed(cfg, records, watched)
	require.Equal(t, []string{"ERROR"}, levels(out, slog.LevelInfo), out)
	require.Contains(t, out, "non 2xx status '503'")
	require.Equal(t, len(records), errs)
	require.Len(t, watched.failures, len(records))
}

// The ZooKeeper client logs each attempt to reach a server that is away: one error, naming the server,
// counted once. A session established again ends the outage.
func TestOutageLogZooKeeper(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	cfg, err := (&Nerve{ZooKeeper: ZooKeeper{Servers: []string{addr}, Paths: []string{"/a"}, Timeout: config.Duration(time.Second)}}).SDConfig()
	require.NoError(t, err)
	logs, stop := runSD(t, cfg)
	defer stop()
	waitFor(t, cfg, logs, 3, failure) // two attempts, and the first read of the paths
	zookeeperHandshake(t, addr, 4*time.Second)
	waitFor(t, cfg, logs, 1, recovery)
	stop()

	out, errs := feed(cfg, logs.all(), nil)
	lost := `msg="cannot connect to ZooKeeper; keeping the last known targets" server=` + addr
	require.Equal(t, 1, strings.Count(out, "level=ERROR "+lost), out)
	require.Positive(t, strings.Count(out, "level=DEBUG "+lost), out)
	// Prometheus' own error (its first read of the paths failed) is another failure, logged apart.
	require.Equal(t, len(levels(out, slog.LevelError)), errs, out)
	require.Equal(t, 1, strings.Count(out, `level=INFO msg="connected to ZooKeeper again"`), out)
}

// client-go retries a failing API server on its own, each failure routed to the discoverer's log: one
// error, counted once.
func TestOutageLogKubernetes(t *testing.T) {
	server := failingServer(t, http.StatusInternalServerError)
	cfg, err := (&Kubernetes{Role: "pod", APIServers: []string{server.URL}}).SDConfig()
	require.NoError(t, err)
	records := sdRecords(t, cfg, 2)
	out, errs := feed(cfg, records, nil)
	require.Equal(t, []string{"ERROR"}, levels(out, slog.LevelInfo), out)
	require.Contains(t, out, "kubernetes API request failed")
	require.Equal(t, 1, errs)
}

// The DNS SD logs each query that failed, naming a new local port each time: they are details of the
// report the DNS discoverer logs itself, naming the first, and neither logged nor counted.
func TestOutageLogDNS(t *testing.T) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, err := net.SplitHostPort(l.LocalAddr().String())
	require.NoError(t, err)
	require.NoError(t, l.Close())
	logs := &recorder{}
	refusing := &miekgdns.ClientConfig{Servers: []string{"127.0.0.1"}, Port: port}
	for range 2 {
		_, err := dnsLookupFromAnyServer("a.test.", miekgdns.TypeA, refusing, slog.New(logs))
		require.Error(t, err)
	}
	records := logs.all()
	require.Len(t, records, 2)
	d := &dnsDiscoverer{}
	out, errs := feed(dnsSDConfig{}, records, d)
	require.Empty(t, levels(out, slog.LevelInfo), out)
	require.Len(t, levels(out, slog.LevelDebug), 2, out)
	require.Zero(t, errs)
	require.Contains(t, d.cause, "127.0.0.1:"+port)
}

// The DNS SD's lookup of a name through the name servers of conf, which logs each failed query. (Reaching
// it through a refresh would need a resolv.conf of the test's own.)
//
//go:linkname dnsLookupFromAnyServer github.com/prometheus/prometheus/discovery/dns.lookupFromAnyServer
func dnsLookupFromAnyServer(name string, qtype uint16, conf *miekgdns.ClientConfig, logger *slog.Logger) (*miekgdns.Msg, error)

// failingServer answers every request with status.
func failingServer(t *testing.T, status int) *httptest.Server {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "failing on purpose", status)
	}))
	t.Cleanup(server.Close)
	return server
}

// sdRecords runs a discoverer of cfg until its matcher has found n failures in its log, and returns the
// records it logged.
func sdRecords(t *testing.T, cfg promdiscovery.Config, n int) []slog.Record {
	t.Helper()
	logs, stop := runSD(t, cfg)
	defer stop()
	waitFor(t, cfg, logs, n, failure, detail)
	return logs.all()
}

// runSD runs a discoverer of cfg, logging to the recorder, until stop (which may be called again).
func runSD(t *testing.T, cfg promdiscovery.Config) (logs *recorder, stop func()) {
	t.Helper()
	logs = &recorder{}
	registry := prometheus.NewRegistry()
	metrics := cfg.NewDiscovererMetrics(registry, promdiscovery.NewRefreshMetrics(registry))
	require.NoError(t, metrics.Register())
	d, err := cfg.NewDiscoverer(promdiscovery.DiscovererOptions{Logger: slog.New(logs), Metrics: metrics})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx, make(chan []*targetgroup.Group, 100))
	}()
	return logs, sync.OnceFunc(func() {
		cancel()
		<-done
		metrics.Unregister()
	})
}

// waitFor waits until cfg's matcher has found n events of the kinds in the records logged.
func waitFor(t *testing.T, cfg promdiscovery.Config, logs *recorder, n int, kinds ...eventKind) {
	t.Helper()
	match := newOutageLog(slog.DiscardHandler, cfg, func() {}).state.match
	require.Eventually(t, func() bool {
		found := 0
		for _, r := range logs.all() {
			if _, e := match(r); slices.Contains(kinds, e.kind) {
				found++
			}
		}
		return found >= n
	}, 20*time.Second, 10*time.Millisecond, "%d events %v logged", n, kinds)
}

// feed passes records through a discoverer's outage log, as the manager makes it for cfg, and returns the
// lines logged (all levels) and the failures counted.
func feed(cfg promdiscovery.Config, records []slog.Record, w failureWatcher) (string, int) {
	var buf bytes.Buffer
	errs := 0
	h := newOutageLog(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), cfg, func() { errs++ })
	if w != nil {
		h.watch(w)
	}
	for _, r := range records {
		_ = h.Handle(context.Background(), r)
	}
	return buf.String(), errs
}

// levels returns the levels of the lines logged at min or above.
func levels(out string, min slog.Level) []string {
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		_, rest, _ := strings.Cut(line, "level=")
		level, _, _ := strings.Cut(rest, " ")
		var l slog.Level
		if l.UnmarshalText([]byte(level)) == nil && l >= min {
			got = append(got, level)
		}
	}
	return got
}

// recorder keeps every record logged.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) all() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.records)
}

type watcher struct{ failures []slog.Record }

func (w *watcher) sdFailed(r slog.Record) { w.failures = append(w.failures, r) }
