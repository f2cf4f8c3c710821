//go:build !remove_all_sd || enable_kubernetes_sd

package discovery

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"k8s.io/klog/v2"
)

// Prometheus' kubernetes discoverer never logs a failing list or watch itself: client-go reports it
// through klog, a process-wide logger that Prometheus points at its own in main(). Left alone, klog writes
// every retry to stderr, outside Telegraf's log and without saying which discoverer failed. So klog is
// pointed at kubeLogs, which hands each failure to the discoverer it belongs to: one whose failure counter
// (Prometheus' prometheus_sd_kubernetes_failures_total, kept per discoverer here) has grown past the
// records it was handed, since client-go counts each failure right before logging it. (When several
// discoverers fail at once, a record may reach another failing discoverer than its own.) Anything else
// goes to the handler of SetKubernetesClientLog.
var (
	kubeLogs        = &kubeLogRouter{routes: map[*kubeRoute]struct{}{}}
	kubeLogsInstall sync.Once
)

// kubernetesSDConfig is Prometheus' kubernetes SD configuration whose discoverers log client-go's failures
// through their own logger, once an outage.
type kubernetesSDConfig struct {
	*kubernetes.SDConfig
}

// NewDiscoverer implements promdiscovery.Config. It ignores opts.Metrics, which the kubernetes
// discoverers of one manager share, for counters of its own.
func (c kubernetesSDConfig) NewDiscoverer(opts promdiscovery.DiscovererOptions) (promdiscovery.Discoverer, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	registry := prometheus.NewRegistry()
	metrics := c.SDConfig.NewDiscovererMetrics(registry, promdiscovery.NewRefreshMetrics(registry))
	if err := metrics.Register(); err != nil {
		return nil, err
	}
	d, err := kubernetes.New(logger, metrics, c.SDConfig)
	if err != nil {
		return nil, err
	}
	kubeLogsInstall.Do(func() { klog.SetSlogLogger(slog.New(kubeLogs)) })
	return &kubernetesDiscoverer{sd: d, route: &kubeRoute{logger: logger, registry: registry}}, nil
}

type kubernetesDiscoverer struct {
	sd    *kubernetes.Discovery
	route *kubeRoute
}

// Run runs Prometheus' discoverer, with client-go's failures routed to its log.
func (d *kubernetesDiscoverer) Run(ctx context.Context, up chan<- []*targetgroup.Group) {
	kubeLogs.add(d.route)
	defer kubeLogs.remove(d.route)
	d.sd.Run(ctx, up)
}

// kubeAPIFailed is the record of a failure of client-go, in the discoverer's log.
const kubeAPIFailed = "kubernetes API request failed; keeping the last known targets"

func (kubernetesSDConfig) logMatcher() matcher { return kubernetesMatch }

// kubernetesMatch logs client-go's failures once an outage: it retries on its own, and the errors of its
// list and watch requests differ.
func kubernetesMatch(r slog.Record) (slog.Record, event) {
	if r.Message == kubeAPIFailed {
		return failsOnce(r)
	}
	return failsByText(r)
}

// kubeRoute is one running discoverer as the router sees it.
type kubeRoute struct {
	logger   *slog.Logger
	registry *prometheus.Registry

	mu      sync.Mutex
	claimed float64 // failures matched with a log record so far
}

// claim takes one failure counted since the last claims: each failure is logged once by client-go, so
// each record is matched with one counted failure.
func (r *kubeRoute) claim() bool {
	families, err := r.registry.Gather()
	if err != nil {
		return false
	}
	for _, f := range families {
		if f.GetName() != "prometheus_sd_kubernetes_failures_total" || len(f.GetMetric()) == 0 {
			continue
		}
		r.mu.Lock()
		claimed := f.GetMetric()[0].GetCounter().GetValue() > r.claimed
		if claimed {
			r.claimed++
		}
		r.mu.Unlock()
		return claimed
	}
	return false
}

// failed logs a failure of client-go in the discoverer's log.
func (r *kubeRoute) failed(ctx context.Context, rec slog.Record) {
	args := []any{}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" || a.Key == "type" {
			args = append(args, a)
		}
		return true
	})
	r.logger.Log(ctx, slog.LevelError, kubeAPIFailed, args...)
}

// kubeLogRouter is the slog handler klog writes to.
type kubeLogRouter struct {
	mu     sync.Mutex
	routes map[*kubeRoute]struct{}
}

func (k *kubeLogRouter) add(r *kubeRoute) {
	k.mu.Lock()
	k.routes[r] = struct{}{}
	k.mu.Unlock()
}

func (k *kubeLogRouter) remove(r *kubeRoute) {
	k.mu.Lock()
	delete(k.routes, r)
	k.mu.Unlock()
}

// Enabled keeps klog's own default: its verbose records (V(1) and up, below slog's info) are dropped.
func (k *kubeLogRouter) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo
}

func (k *kubeLogRouter) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelError {
		k.mu.Lock()
		defer k.mu.Unlock()
		for r := range k.routes {
			if r.claim() {
				r.failed(ctx, rec)
				return nil
			}
		}
	}
	if h := kubeClientLog.Load(); h != nil {
		return (*h).Handle(ctx, rec)
	}
	return slog.Default().Handler().Handle(ctx, rec)
}

// WithAttrs and WithGroup are not needed by the routing, which reads only the record's own attributes.
func (k *kubeLogRouter) WithAttrs([]slog.Attr) slog.Handler { return k }

func (k *kubeLogRouter) WithGroup(string) slog.Handler { return k }
