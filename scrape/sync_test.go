package scrape

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/stretchr/testify/require"
)

func syncGroups(gen int) []*targetgroup.Group {
	var groups []*targetgroup.Group
	for g := range 3 {
		group := &targetgroup.Group{Source: fmt.Sprint("g", g), Labels: model.LabelSet{"team": "t"}}
		for i := range 4 {
			group.Targets = append(group.Targets, model.LabelSet{
				model.AddressLabel: model.LabelValue(fmt.Sprintf("10.0.%d.%d:9100", g, i)),
				"gen":              model.LabelValue(fmt.Sprint(gen)),
			})
		}
		groups = append(groups, group)
	}
	return groups
}

// A Sync builds again only the groups whose content changed: none for the same groups, sent again as they
// were or as new values of equal content, and a changed group's targets only. A target that stays keeps
// its Target (its schedule and health).
func TestSyncBuildsOnlyChangedGroups(t *testing.T) {
	s := newScraper(t, &Config{Name: "job"})
	built := func() uint64 { return s.Stats().TargetsBuilt.Load() }
	groups := syncGroups(0)
	require.Empty(t, s.Sync(groups))
	require.EqualValues(t, 12, built())
	kept := s.Targets()
	require.Len(t, kept, 12)

	require.Empty(t, s.Sync(groups))
	require.Empty(t, s.Sync(syncGroups(0)), "equal content, new values")
	require.EqualValues(t, 12, built(), "nothing changed: nothing built")
	require.Equal(t, kept, s.Targets())

	changed := syncGroups(0)
	changed[1] = syncGroups(1)[1]
	require.Empty(t, s.Sync(changed))
	require.EqualValues(t, 16, built(), "the changed group's 4 targets only")
	targets := s.Targets()
	require.Len(t, targets, 12)
	for _, t0 := range kept {
		if !strings.HasPrefix(t0.Labels.Get("instance"), "10.0.1.") { // not of the changed group
			require.Contains(t, targets, t0, "a target of an unchanged group is the same Target")
		}
	}

	require.Empty(t, s.Sync(changed[:2]))
	require.Len(t, s.Targets(), 8, "a group gone takes its targets")
	require.EqualValues(t, 16, built())
}

// Share keeps a Target only for the targets this instance scrapes; the others are a few words each, and
// built again when they come back here. AllTargets shows them all.
func TestShareBuildsOnlyOwnedTargets(t *testing.T) {
	s := newScraper(t, &Config{Name: "job"})
	key := func(ls labels.Labels) uint64 { return uint64(ls.Get("instance")[len("10.0.0.")] - '0') }
	require.Empty(t, s.Sync(syncGroups(0)))
	before := s.Stats().TargetsBuilt.Load()
	require.Equal(t, 6, s.Share(key, ofParity(0)))
	require.Equal(t, before, s.Stats().TargetsBuilt.Load(), "the ones kept were built already")
	for _, target := range s.Targets() {
		require.Equal(t, uint64(0), key(target.Labels)%2)
	}
	all := s.AllTargets()
	require.Len(t, all, 12)
	here := 0
	for _, target := range all {
		if target.ScrapedHere() {
			here++
		}
	}
	require.Equal(t, 6, here)

	require.Equal(t, 6, s.Share(key, ofParity(1)))
	require.Equal(t, before+6, s.Stats().TargetsBuilt.Load(), "the 6 that came here were built")
	require.Empty(t, s.Sync(syncGroups(0)))
	require.Equal(t, before+6, s.Stats().TargetsBuilt.Load())
	require.Equal(t, 6, s.Owned())
}

// The target rules run once on a target, and give what Prometheus' PopulateLabels gives, which runs them
// again from the discovered labels: also when a rule removes a default label, which PopulateLabels would
// set again if given the relabeled ones.
func TestTargetRulesRunOnce(t *testing.T) {
	str := func(s string) *string { return &s }
	for name, rules := range map[string][]*Relabel{
		"rewrite the address": {{SourceLabels: []string{"__address__"}, Regex: str(`(.*):9100`), TargetLabel: "__address__", Replacement: str("$1:9200")}},
		"drop the path":       {{Regex: str("__metrics_path__"), Action: "labeldrop"}},
		"set the scheme":      {{TargetLabel: "__scheme__", Replacement: str("https")}},
		"keep none":           {{SourceLabels: []string{"team"}, Regex: str("nobody"), Action: "keep"}},
	} {
		s := newScraper(t, &Config{Name: "job",
			RelabelConfigs: rules, Params: map[string][]string{"module": {"m"}}})
		target, group := model.LabelSet{model.AddressLabel: "a:9100"}, model.LabelSet{"team": "t"}
		got, err := s.newTarget(target, group)
		require.NoError(t, err, name)
		want, err := promscrape.PopulateLabels(labels.NewBuilder(labels.EmptyLabels()), s.prometheus, target, group)
		require.NoError(t, err, name)
		if want.IsEmpty() {
			require.Nil(t, got, name)
			continue
		}
		lb := labels.NewBuilder(want)
		require.Equal(t, targetURL(lb, s.cfg.Params), got.URL, name)
		lb.Range(func(l labels.Label) {
			if strings.HasPrefix(l.Name, "__") {
				lb.Del(l.Name)
			}
		})
		require.Equal(t, lb.Labels(), got.Labels, name)
	}
}

// ofParity places this instance as the only owner of the targets whose key has the parity, and none of
// the others.
func ofParity(parity uint64) func(uint64) (rank, owners int) {
	return func(k uint64) (int, int) {
		if k%2 == parity {
			return 0, 1
		}
		return -1, 1
	}
}

// Share gives each target it keeps here its rank among the target's owners, which spaces the owners'
// scrapes (Schedule); a target this instance no longer owns is not kept.
func TestShareSetsEachTargetsRankAmongItsOwners(t *testing.T) {
	s := newScraper(t, &Config{Name: "job"})
	key := func(ls labels.Labels) uint64 { return uint64(ls.Get("instance")[len("10.0.0.")] - '0') }
	require.Empty(t, s.Sync(syncGroups(0)))
	second := func(k uint64) (int, int) {
		if k%2 == 0 {
			return 1, 2 // the second of two owners
		}
		return -1, 2
	}
	require.Equal(t, 6, s.Share(key, second))
	for _, target := range s.Targets() {
		rank, owners := target.Replica()
		require.Equal(t, [2]int{1, 2}, [2]int{rank, owners}, target.Instance())
	}
	require.Equal(t, 12, s.Share(key, func(uint64) (int, int) { return 0, 1 }))
	for _, target := range s.Targets() {
		rank, owners := target.Replica()
		require.Equal(t, [2]int{0, 1}, [2]int{rank, owners}, "alone again: %s", target.Instance())
	}
}
