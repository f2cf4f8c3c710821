package discovery

import (
	"errors"
	"fmt"

	"github.com/prometheus/common/model"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
)

// Static is a [[static-discovery]] section: a fixed list of targets sharing a set of labels.
type Static struct {
	Common
	Targets []string          `toml:"targets"`
	Labels  map[string]string `toml:"labels"`
}

// Service implements Provider.
func (*Static) Service() string { return "static-discovery" }

// SDConfig implements Mapper.
func (s *Static) SDConfig() (promdiscovery.Config, error) {
	group := &targetgroup.Group{Source: s.ID, Labels: make(model.LabelSet, len(s.Labels))}
	for i, t := range s.Targets {
		if t == "" {
			return nil, fmt.Errorf("targets[%d]: empty", i)
		}
		group.Targets = append(group.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(t)})
	}
	for name, value := range s.Labels {
		if !model.UTF8Validation.IsValidLabelName(name) {
			return nil, fmt.Errorf("labels: %q is not a valid label name", name)
		}
		group.Labels[model.LabelName(name)] = model.LabelValue(value)
	}
	if len(group.Targets) == 0 {
		return nil, errors.New("targets: at least one target is required")
	}
	return promdiscovery.StaticConfig{group}, nil
}
