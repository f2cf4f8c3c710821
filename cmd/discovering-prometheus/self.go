package main

import (
	"errors"
	"net"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/influxdata/telegraf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
)

// selfEnv carries the self-metrics address into the embedded default configuration.
const selfEnv = "DISCOVERING_PROMETHEUS_SELF"

// selfMetrics serves the runner's own metrics (Go runtime, process, and the plugin's own metrics) on a
// loopback port, for the embedded default configuration to scrape.
type selfMetrics struct {
	server *http.Server
	plugin atomic.Pointer[plugin.DiscoveringPrometheus]
	logs   *stderrLog
}

func serveSelfMetrics(logs *stderrLog) (*selfMetrics, error) {
	// Loopback only: these metrics are for this runner, not for the network.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &selfMetrics{logs: logs}
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s,
		plugin.Metrics(s.plugin.Load),
	)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	s.server = &http.Server{Handler: mux}
	go func() {
		if err := s.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logs.print(telegraf.Error, runnerSource, "self-metrics: "+err.Error())
		}
	}()
	return s, os.Setenv(selfEnv, l.Addr().String())
}

func (s *selfMetrics) watch(p *plugin.DiscoveringPrometheus) { s.plugin.Store(p) }

// Close stops serving.
func (s *selfMetrics) Close() error { return s.server.Close() }

var droppedDesc = prometheus.NewDesc("discovering_prometheus_log_lines_dropped_total", "Log lines dropped because stderr was not read fast enough.", nil, nil)

// Describe implements prometheus.Collector.
func (*selfMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- droppedDesc }

// Collect implements prometheus.Collector.
func (s *selfMetrics) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(s.logs.Dropped()))
}
