//go:build !remove_all_sd || enable_kubernetes_sd

package discovering_prometheus

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/discovering-prometheus/discovering-prometheus/operator"
	"github.com/discovering-prometheus/discovering-prometheus/plan"
	"github.com/discovering-prometheus/discovering-prometheus/promconf"
)

// newOperator validates the prometheus_operator table and makes its watch, not started.
func (p *DiscoveringPrometheus) newOperator() (*operatorRun, error) {
	t := p.PrometheusOperator
	var errs []error
	for _, key := range []struct {
		name string
		set  bool
	}{{"role", t.Role != ""}, {"resource", t.Resource != ""}, {"selectors", len(t.Selectors) > 0}, {"id", t.ID != ""}, {"enabled", t.Enabled != nil}} {
		if key.set {
			errs = append(errs, fmt.Errorf("%s: not a key of this table (each monitor says what its jobs discover)", key.name))
		}
	}
	if err := routingValues(t.DB, t.RP); err != nil {
		errs = append(errs, err)
	}
	if msgs := validation.IsDNS1123Subdomain(t.NodeName); t.NodeName != "" && len(msgs) > 0 {
		// ${NODE_NAME} stays as it is when the variable is not set.
		errs = append(errs, fmt.Errorf("node_name: %q is not a node's name: %s", t.NodeName, strings.Join(msgs, "; ")))
	}
	if t.NodeName != "" && t.ScrapeConfigSelector != "" {
		errs = append(errs, errors.New("scrape_config_selector: not with node_name: ScrapeConfigs are not watched by an instance of one node, their targets being of no node"))
	}
	sd, rc, err := t.APIAccess()
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	w, err := operator.NewWatcher(client, dyn, operator.Generator{APIServer: sd, NodeName: t.NodeName, DenyFileAccess: !t.AllowFileAccess}, operator.WatchOptions{
		Namespaces: t.Namespaces, ServiceMonitorSelector: t.ServiceMonitorSelector, PodMonitorSelector: t.PodMonitorSelector,
		ScrapeConfigSelector: t.ScrapeConfigSelector, DB: t.DB, RP: t.RP, CheckRoute: routingValues,
		Logger: newSlogLogger(p.Log),
	})
	if err != nil {
		return nil, err
	}
	return &operatorRun{source: watcherSource{w}, start: w.Start, changed: w.Changed()}, nil
}

// watcherSource is a Watcher as a source of the plan's jobs, each through promconf as a job of a
// prometheus.yml.
type watcherSource struct{ w *operator.Watcher }

func (s watcherSource) Jobs() ([]*plan.SourceJob, []plan.Refusal) {
	jobs, refused := s.w.Jobs()
	out := make([]*plan.SourceJob, len(jobs))
	for i, j := range jobs {
		out[i] = &plan.SourceJob{Job: promconf.Convert(j.Config), DB: j.DB, RP: j.RP, Origin: operatorOrigin(j.Monitor)}
	}
	refusals := make([]plan.Refusal, len(refused))
	for i, r := range refused {
		refusals[i] = plan.Refusal{Origin: operatorOrigin(r.Monitor), Err: r.Err}
	}
	return out, refusals
}

func operatorOrigin(monitor string) plan.Origin {
	return plan.Origin{Option: "prometheus_operator", Object: monitor}
}
