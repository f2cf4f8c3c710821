package scrape

import (
	"errors"
	"fmt"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
)

// Relabel is one relabeling rule: Prometheus' relabel_config, with kebab-case keys. Unset keys take
// Prometheus' defaults (action "replace", separator ";", regex "(.*)", replacement "$1"); an empty string
// is a value, not unset.
type Relabel struct {
	SourceLabels []string `toml:"source-labels"`
	Separator    *string  `toml:"separator"`
	Regex        *string  `toml:"regex"`
	Modulus      uint64   `toml:"modulus"`
	TargetLabel  string   `toml:"target-label"`
	Replacement  *string  `toml:"replacement"`
	Action       string   `toml:"action"`
}

// Prometheus returns the rule as Prometheus' relabel configuration, validated.
func (r *Relabel) Prometheus() (*relabel.Config, error) {
	c := relabel.DefaultRelabelConfig
	c.Modulus = r.Modulus
	c.TargetLabel = r.TargetLabel
	if r.Action != "" {
		c.Action = relabel.Action(r.Action)
	}
	for _, name := range r.SourceLabels {
		c.SourceLabels = append(c.SourceLabels, model.LabelName(name))
	}
	if r.Separator != nil {
		c.Separator = *r.Separator
	}
	if r.Replacement != nil {
		c.Replacement = *r.Replacement
	}
	if r.Regex != nil {
		re, err := relabel.NewRegexp(*r.Regex)
		if err != nil {
			return nil, fmt.Errorf("regex: %w", err)
		}
		c.Regex = re
	}
	switch c.Action {
	case relabel.Replace, relabel.Keep, relabel.Drop, relabel.KeepEqual, relabel.DropEqual, relabel.HashMod,
		relabel.LabelMap, relabel.LabelDrop, relabel.LabelKeep, relabel.Lowercase, relabel.Uppercase:
	default:
		return nil, fmt.Errorf("action: %q is not a relabel action", c.Action)
	}
	if err := c.Validate(model.UTF8Validation); err != nil {
		return nil, err
	}
	return &c, nil
}

// relabelConfigs converts a list of rules; errors name the key and the rule's index.
func relabelConfigs(key string, rules []*Relabel) ([]*relabel.Config, error) {
	var errs []error
	out := make([]*relabel.Config, 0, len(rules))
	for i, r := range rules {
		c, err := r.Prometheus()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", key, i, err))
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// droppedBy tells which rule dropped a label set (the index of the first rule after which it is gone).
func droppedBy(lset labels.Labels, rules []*relabel.Config) int {
	lb := labels.NewBuilder(lset)
	for i, r := range rules {
		if !relabel.ProcessBuilder(lb, r) {
			return i
		}
	}
	return -1
}

// RelabelConfigs converts a list of rules, as a scraper's are, for the other tables that take
// relabel-configs (the cluster's); errors name the key and the rule's index.
func RelabelConfigs(key string, rules []*Relabel) ([]*relabel.Config, error) {
	return relabelConfigs(key, rules)
}
