package scrape

import (
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// sixRules are a job's rules of six actions: a kept target goes through every one, a dropped one stops at
// the fifth.
func sixRules() []*Relabel {
	return []*Relabel{
		{SourceLabels: []string{"__address__"}, Regex: ptr("(.*):.*"), TargetLabel: "host", Replacement: ptr("$1")},
		{Regex: ptr("__meta_(role|zone)"), Action: "labelmap"},
		{SourceLabels: []string{"host"}, Modulus: 4, TargetLabel: "__tmp_shard", Action: "hashmod"},
		{SourceLabels: []string{"zone"}, TargetLabel: "zone", Action: "uppercase"},
		{SourceLabels: []string{"role"}, Regex: ptr("db"), Action: "drop"},
		{Regex: ptr("zone"), Action: "labeldrop"},
	}
}

// Each rule has its step, with the labels after it; the target at the end is the one Sync makes, and a
// dropped target's first step without it is the rule Dropped names.
func TestRelabelStepsAgreeWithSync(t *testing.T) {
	c := valid()
	c.RelabelConfigs = sixRules()
	require.NoError(t, c.Init())
	s, err := New(c, nil, discard)
	require.NoError(t, err)
	require.Empty(t, s.Sync([]*targetgroup.Group{{Source: "g", Targets: []model.LabelSet{
		{model.AddressLabel: "web:1", "__meta_role": "web", "__meta_zone": "eu"},
		{model.AddressLabel: "db:1", "__meta_role": "db", "__meta_zone": "us"},
	}}}))
	require.Len(t, s.Targets(), 1)
	kept := s.Targets()[0]
	steps, target, err := s.RelabelSteps(kept.Discovered())
	require.NoError(t, err)
	require.Len(t, steps, 6)
	for i, step := range steps {
		require.Same(t, s.TargetRelabeling()[i], step.Rule)
		require.True(t, step.Keep, "step %d", i)
	}
	require.Equal(t, "web", steps[0].Output.Get("host"))
	require.Equal(t, "eu", steps[1].Output.Get("zone"))
	require.NotEmpty(t, steps[2].Output.Get("__tmp_shard"))
	require.Equal(t, "EU", steps[3].Output.Get("zone"))
	require.False(t, steps[5].Output.Has("zone"))
	require.Equal(t, kept.Labels, target.Labels)
	require.Equal(t, kept.URL, target.URL)

	require.Len(t, s.Dropped(), 1)
	dropped := s.Dropped()[0]
	steps, target, err = s.RelabelSteps(dropped.Discovered)
	require.NoError(t, err)
	require.Nil(t, target)
	require.Len(t, steps, 6, "every rule has its step")
	for i, step := range steps {
		require.Equal(t, i < dropped.Rule, step.Keep, "step %d", i)
		require.Equal(t, step.Keep, !step.Output.IsEmpty(), "step %d: labels while kept, none after", i)
	}
}

// A target the steps keep but no target can be made of has its error, after its steps.
func TestRelabelStepsTargetError(t *testing.T) {
	c := valid()
	c.RelabelConfigs = []*Relabel{{Regex: ptr("__address__"), Action: "labeldrop"}}
	require.NoError(t, c.Init())
	s, err := New(c, nil, discard)
	require.NoError(t, err)
	steps, target, err := s.RelabelSteps(labels.FromStrings("__address__", "web:1", "job", "node"))
	require.ErrorContains(t, err, "no address")
	require.Nil(t, target)
	require.Len(t, steps, 1)
	require.Equal(t, labels.FromStrings("job", "node"), steps[0].Output)
}

// Labels over the bound are refused, given or made by a rule: the error names the rule.
func TestRelabelStepsBound(t *testing.T) {
	c := valid()
	c.RelabelConfigs = []*Relabel{
		{SourceLabels: []string{"job"}, TargetLabel: "job"},
		{SourceLabels: []string{"job", "job"}, TargetLabel: "job", Separator: ptr("")},
	}
	require.NoError(t, c.Init())
	s, err := New(c, nil, discard)
	require.NoError(t, err)
	big := strings.Repeat("x", MaxLabelBytes/2+1)
	_, _, err = s.RelabelSteps(labels.FromStrings("__address__", "web:1", "job", big+big))
	require.ErrorContains(t, err, "label")
	steps, _, err := s.RelabelSteps(labels.FromStrings("__address__", "web:1", "job", big))
	require.ErrorContains(t, err, "after rule 1: ")
	require.Len(t, steps, 1, "the steps up to the rule")
}
