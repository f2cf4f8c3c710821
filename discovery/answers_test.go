//go:build !remove_all_sd

package discovery

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/eureka"
	promhttp "github.com/prometheus/prometheus/discovery/http"
	"github.com/prometheus/prometheus/discovery/puppetdb"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// setAnswerLimit sets maxAnswerSize for the test.
func setAnswerLimit(t *testing.T, limit int64) {
	old := maxAnswerSize
	maxAnswerSize = limit
	t.Cleanup(func() { maxAnswerSize = old })
}

// clientOf returns the field client *http.Client of a Prometheus discoverer.
func clientOf(t *testing.T, d any) *http.Client {
	t.Helper()
	f := reflect.ValueOf(d).Elem().FieldByName("client")
	require.True(t, f.IsValid(), "%T has no field client", d)
	return (*http.Client)(f.UnsafePointer())
}

// Every mechanism that reads whole answers gets its client's answers bounded, as the manager creates it.
// This fails if Prometheus renames or moves the client field of one of them.
func TestAnswerLimitReachesEveryClient(t *testing.T) {
	url := "http://127.0.0.1:1"
	httpSD, err := (&HTTP{URL: url}).SDConfig() // the [[http-discovery]] section's
	require.NoError(t, err)
	puppet := puppetdb.DefaultSDConfig
	puppet.URL, puppet.Query = url, `resources { type = "Class" }`
	eurekaSD := eureka.DefaultSDConfig
	eurekaSD.Server = url
	marathonSD, err := (&Marathon{Servers: []string{url}}).SDConfig()
	require.NoError(t, err)
	tritonSD, err := (&Triton{Account: "a", DNSSuffix: "d", Endpoint: "e"}).SDConfig()
	require.NoError(t, err)

	configs := []promdiscovery.Config{httpSD, &puppet, &eurekaSD, marathonSD, tritonSD}
	require.Len(t, configs, len(wholeAnswers))
	for _, cfg := range configs {
		t.Run(cfg.Name(), func(t *testing.T) {
			require.True(t, wholeAnswers[cfg.Name()])
			registry := prometheus.NewRegistry()
			logs := &recorder{}
			d, err := cfg.NewDiscoverer(promdiscovery.DiscovererOptions{
				Logger:  slog.New(logs),
				Metrics: cfg.NewDiscovererMetrics(registry, promdiscovery.NewRefreshMetrics(registry)),
			})
			require.NoError(t, err)
			boundAnswers(d, cfg.Name(), slog.New(logs))
			var sd any = d
			if m, ok := d.(*marathonDiscoverer); ok {
				sd = m.first
			}
			require.IsType(t, answerLimit{}, clientOf(t, sd).Transport)
			require.Empty(t, logs.all())
		})
	}
	// A discoverer without the field runs, and the log says its answers are not bounded.
	logs := &recorder{}
	boundAnswers(&struct{ transport http.RoundTripper }{http.DefaultTransport}, "http", slog.New(logs))
	require.Len(t, logs.all(), 1)
	require.Equal(t, slog.LevelError, logs.all()[0].Level)
}

// answerServer serves an answer of size bytes: a JSON value padded with spaces, with its Content-Length
// when withLength, else chunked.
func answerServer(value string, size int, withLength bool) *httptest.Server {
	body := value + strings.Repeat(" ", max(0, size-len(value)))
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if withLength {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.Write([]byte(body))
	}))
	return server
}

func startServer(t *testing.T, s *httptest.Server, tls bool) *httptest.Server {
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func httpSDConfig(url string) *promhttp.SDConfig {
	return &promhttp.SDConfig{URL: url, RefreshInterval: model.Duration(time.Minute), HTTPClientConfig: promconfig.DefaultHTTPClientConfig}
}

// An answer over the limit is a failure of its discoverer that names the URL and the limit, whether its
// Content-Length says so or its body runs on; the other discoverers deliver.
func TestAnswerLimit(t *testing.T) {
	setAnswerLimit(t, 1<<20)
	over := 1<<20 + 1
	group := `[{"targets": ["10.0.0.1:9100"]}]`
	chunked := startServer(t, answerServer(group, over, false), false)
	withLength := startServer(t, answerServer(group, over, true), false)
	under := startServer(t, answerServer(group, 1<<20, false), false)
	marathonServer := startServer(t, answerServer(`{"apps": []}`, over, false), false)
	tritonServer := startServer(t, answerServer(`{"containers": []}`, over, false), true)

	marathonSD, err := (&Marathon{Servers: []string{marathonServer.URL}}).SDConfig()
	require.NoError(t, err)
	tritonPort, err := strconv.Atoi(tritonServer.URL[strings.LastIndexByte(tritonServer.URL, ':')+1:])
	require.NoError(t, err)
	tritonSD, err := (&Triton{Account: "a", DNSSuffix: "d", Endpoint: "127.0.0.1", Port: tritonPort, TLS: httpconfig.TLS{InsecureSkipVerify: true}}).SDConfig()
	require.NoError(t, err)
	staticSD, err := (&Static{Common: Common{ID: "s"}, Targets: []string{"10.0.0.2:9100"}}).SDConfig()
	require.NoError(t, err)

	key := func(id string) Key { return Key{"test", id} }
	failing := map[Key]string{
		key("chunked"):     chunked.URL,
		key("with-length"): withLength.URL,
		key("marathon"):    marathonServer.URL + "/v2/apps/?embed=apps.tasks",
		key("triton"):      fmt.Sprintf("https://127.0.0.1:%d/v1/discover", tritonPort),
	}
	m := NewManager(Configs{
		key("chunked"):     httpSDConfig(chunked.URL),
		key("with-length"): httpSDConfig(withLength.URL),
		key("under"):       httpSDConfig(under.URL),
		key("marathon"):    marathonSD,
		key("triton"):      tritonSD,
		key("static"):      staticSD,
	}, slog.New(slog.DiscardHandler), nil)
	m.Start()
	defer m.Stop()
	for k, url := range failing {
		require.Eventually(t, func() bool { return m.Stats(k).Errors > 0 }, 20*time.Second, 10*time.Millisecond, k.ID)
		require.Contains(t, m.Stats(k).Failure, "the answer of "+url+" is larger than 1 MiB, the most a discoverer reads", k.ID)
	}
	for _, k := range []Key{key("under"), key("static")} {
		require.Eventually(t, func() bool { return len(m.Groups(k)) > 0 }, 20*time.Second, 10*time.Millisecond, k.ID)
		require.Len(t, m.Groups(k)[0].Targets, 1, k.ID)
		require.Zero(t, m.Stats(k).Errors, k.ID)
	}
}

// An answer that never ends fails at the default limit, promptly, and what it costs in memory stays
// within a bound, three times the limit: the buffer io.ReadAll grows past the limit, the one it grew from,
// and garbage not yet collected.
func TestAnswerLimitEndless(t *testing.T) {
	var served atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte("[" + strings.Repeat(" ", 64<<10-1))
		// Endless, but for a bound far past the limit, so that a discoverer that reads on fails this test
		// rather than the machine.
		for r.Context().Err() == nil && served.Load() < 4*maxAnswerSize {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			served.Add(int64(len(chunk)))
			chunk[0] = ' '
		}
	}))
	t.Cleanup(server.Close)

	// What the discoverer holds is measured, not how late the collector runs: at Go's default GOGC the
	// buffers io.ReadAll grew from linger as garbage for a while, more or less as the machine is loaded
	// and under -race, and the peak said as much about the collector as about the bound.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := atomic.Uint64{}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	k := Key{"test", "endless"}
	start := time.Now()
	m := NewManager(Configs{k: httpSDConfig(server.URL)}, slog.New(slog.DiscardHandler), nil)
	m.Start()
	require.Eventually(t, func() bool { return m.Stats(k).Errors > 0 }, 30*time.Second, 10*time.Millisecond)
	took := time.Since(start)
	m.Stop()
	close(stop)
	<-sampled
	require.Contains(t, m.Stats(k).Failure, "larger than 64 MiB")
	growth := int64(peak.Load()) - int64(before.HeapAlloc)
	t.Logf("failed after %s and %d MiB served; peak heap growth %d MiB", took, served.Load()>>20, growth>>20)
	if !raceDetector { // 221 MiB under -race, at any GOGC: the instrumented runtime's, not the discoverer's
		require.Less(t, growth, 3*maxAnswerSize, "peak heap growth")
	}
	require.Less(t, served.Load(), int64(80<<20), "the answer is not read on after the limit")
}
