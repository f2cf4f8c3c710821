package scrape

import (
	"fmt"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
)

// Step is one target relabeling rule applied to a target, as Prometheus 3's /api/v1/targets/relabel_steps
// answers it: the rule, the labels after it (none once a rule has dropped the target) and whether the
// target is still kept.
type Step struct {
	Rule   *relabel.Config
	Output labels.Labels
	Keep   bool
}

// RelabelSteps applies the scraper's target relabeling rules one by one to a target's discovered labels
// (those /api/v1/targets shows, the scraper's defaults included), as Prometheus 3's relabel_steps does;
// every rule has its step, those after the one that dropped the target too. Then, when relabeling keeps
// it, the target it makes, as Sync would make it (instance, the labels its samples carry, its URL); nil
// when a rule dropped it. err is the target's own error (no address, a bad interval, a label over its
// bound), which the steps do not need: they are still given, up to a step whose labels are over the bound.
func (s *Scraper) RelabelSteps(discovered labels.Labels) (steps []Step, t *Target, err error) {
	set := make(model.LabelSet, discovered.Len())
	discovered.Range(func(l labels.Label) { set[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	if err := checkDiscoveredBound("label", set); err != nil {
		return nil, nil, err
	}
	steps = make([]Step, 0, len(s.relabel))
	lb := labels.NewBuilder(discovered)
	keep := true
	for i, rule := range s.relabel {
		if keep {
			keep = relabel.ProcessBuilder(lb, rule)
		}
		out := labels.EmptyLabels()
		if keep {
			if over, found := builderOverBound(lb); found {
				return steps, nil, fmt.Errorf("after rule %d: %s", i, overBoundText("label", over.Name, over.Value))
			}
			out = lb.Labels()
		}
		steps = append(steps, Step{Rule: rule, Output: out, Keep: keep})
	}
	if !keep {
		return steps, nil, nil
	}
	t, err = s.buildTarget(set, nil)
	return steps, t, err
}
