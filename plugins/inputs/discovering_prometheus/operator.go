package discovering_prometheus

import (
	"fmt"
	"slices"
	"sync"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
	"github.com/discovering-prometheus/discovering-prometheus/plan"
)

// PrometheusOperator is the [inputs.discovering_prometheus.prometheus_operator] table: the
// prometheus-operator's ServiceMonitors and PodMonitors, watched on an API server, are scrape jobs of the
// plan (a job per monitor endpoint), changed by a reload whenever a monitor, or a Secret or ConfigMap,
// changes. How to reach the API server are the [[kubernetes]] discoverer's keys; its namespaces are those
// watched (none: all).
type PrometheusOperator struct {
	discovery.Kubernetes
	ServiceMonitorSelector string `toml:"service_monitor_selector"`
	PodMonitorSelector     string `toml:"pod_monitor_selector"`
	ScrapeConfigSelector   string `toml:"scrape_config_selector"`
	// NodeName, if set, keeps the monitors' targets on that node only (an instance per node).
	NodeName string `toml:"node_name"`
	// AllowFileAccess lets a ServiceMonitor read files of this instance (bearerTokenFile, tlsConfig's
	// caFile, certFile, keyFile); refused unless set.
	AllowFileAccess bool `toml:"allow_file_access"`
	// DB and RP route a monitor's data unless its annotations say otherwise.
	DB string `toml:"db"`
	RP string `toml:"rp"`
}

// operatorRun is the running watch of the prometheus_operator table (newOperator makes it).
type operatorRun struct {
	source plan.JobSource
	// start starts the watch and returns once it has synced (true), or stop closed (false).
	start   func(stop <-chan struct{}) bool
	changed <-chan struct{}
	done    sync.WaitGroup

	mu      sync.Mutex
	stop    chan struct{}  // closed by stopOperator
	synced  chan struct{}  // closed once the first reload after the watch synced has run
	refused []plan.Refusal // those of the running plan
}

// initOperator sets the watch of the prometheus_operator table up; its jobs are a source of the plan.
func (p *DiscoveringPrometheus) initOperator() error {
	if p.PrometheusOperator == nil {
		return nil
	}
	if p.PrometheusOperator.DB == "" {
		p.PrometheusOperator.DB = plan.DefaultPrometheusDB
	}
	if p.PrometheusOperator.RP == "" {
		p.PrometheusOperator.RP = plan.DefaultPrometheusRP
	}
	run, err := p.newOperator()
	if err != nil {
		return plan.PrefixLines("prometheus_operator", err)
	}
	p.operator = run
	return nil
}

// jobSources are the plan's sources of jobs: the prometheus_operator table's watch, if any.
func (p *DiscoveringPrometheus) jobSources() []plan.JobSource {
	if p.operator == nil {
		return nil
	}
	return []plan.JobSource{p.operator.source}
}

// startOperator starts the watch; once it has synced, and after every change, a reload applies the
// monitors' jobs: those unchanged keep running.
func (p *DiscoveringPrometheus) startOperator() {
	o := p.operator
	if o == nil {
		return
	}
	stop, synced := make(chan struct{}), make(chan struct{})
	o.mu.Lock()
	o.stop, o.synced = stop, synced
	o.mu.Unlock()
	o.done.Add(1)
	go func() {
		defer o.done.Done()
		if !o.start(stop) {
			return
		}
		for first := true; ; first = false {
			_ = p.Reload() // its error is logged
			if first {
				close(synced)
			}
			select {
			case <-stop:
				return
			case <-o.changed:
			}
		}
	}()
}

// operatorSynced is closed once the objects' jobs run: the first reload after the watch synced has run
// (closed at once without the table).
func (p *DiscoveringPrometheus) operatorSynced() <-chan struct{} {
	o := p.operator
	if o == nil {
		return closed
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.synced == nil { // not started
		return closed
	}
	return o.synced
}

// closed is a closed channel.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// stopOperator stops the watch and waits for its reload, if one runs. Stop may call it on two goroutines
// at once.
func (p *DiscoveringPrometheus) stopOperator() {
	o := p.operator
	if o == nil {
		return
	}
	o.mu.Lock()
	stop := o.stop
	o.stop = nil
	o.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	o.done.Wait()
}

// operatorRefused logs the refusals of a plan just applied that the running one did not have, and keeps
// them for the status page.
func (p *DiscoveringPrometheus) operatorRefused(refused []plan.Refusal) {
	o := p.operator
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range refused {
		if !slices.ContainsFunc(o.refused, func(old plan.Refusal) bool { return old.Origin == r.Origin && old.Err.Error() == r.Err.Error() }) {
			// One line, as on the status page: the error may quote what the object says (a regex, an annotation).
			p.Log.Error(safetext.Line(fmt.Sprintf("%s: %s: refused, its jobs do not run: %v", r.Origin.Option, r.Origin.Object, r.Err), MaxLogLine))
		}
	}
	o.refused = refused
}

// operatorRefusals are the refusals of the running plan.
func (p *DiscoveringPrometheus) operatorRefusals() []plan.Refusal {
	o := p.operator
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.refused)
}
