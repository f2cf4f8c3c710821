package discovering_prometheus

import (
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
	"github.com/discovering-prometheus/discovering-prometheus/internal/status"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// RelabelSteps is what /api/v1/targets/relabel_steps answers: the target relabeling rules of a scraper
// applied to a target's discovered labels one by one, as Prometheus 3 applies them, then, when they keep
// the target, the target they make, the instances of the cluster that own it and its db and rp. The
// error, for an unknown scraper, is Prometheus' words.
func (p *DiscoveringPrometheus) RelabelSteps(pool string, discovered labels.Labels) (status.RelabelSteps, error) {
	p.mu.Lock()
	scrapers, jobs, c := p.scrapers, p.enabled, p.cluster
	p.mu.Unlock()
	i := slices.IndexFunc(scrapers, func(s *scrape.Scraper) bool { return s.Config().Name == pool })
	if i < 0 {
		return status.RelabelSteps{}, fmt.Errorf("scrape pool %q not found", pool)
	}
	s := scrapers[i]
	steps, t, err := s.RelabelSteps(discovered)
	if err != nil && steps == nil {
		return status.RelabelSteps{}, err
	}
	out := status.RelabelSteps{Steps: make([]status.RelabelStep, len(steps))}
	for i, step := range steps {
		out.Steps[i] = status.RelabelStep{Rule: step.Rule, Output: step.Output, Keep: step.Keep}
	}
	if len(steps) > 0 && !steps[len(steps)-1].Keep {
		return out, nil
	}
	if err != nil {
		out.Target = &status.StepTarget{Error: err.Error()}
		return out, nil
	}
	out.Target = &status.StepTarget{Labels: t.Labels.Map(), ScrapeURL: httpconfig.RedactURL(t.URL)}
	job := jobs[i]
	out.Routing = &status.StepRouting{DBTag: p.DBTag, DB: job.DB, RPTag: p.RPTag, RP: job.RP}
	if c != nil {
		out.Cluster = c.Weighed(pool, t.Labels)
	}
	return out, nil
}
