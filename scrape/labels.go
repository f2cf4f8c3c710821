package scrape

// The labels stage: a sample's labels with its target's, as Prometheus' mutateSampleLabels gives them, and
// metric relabeling.

import (
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
)

// labeler is what giving a sample its labels reuses: the labels as parsed, and as merged with the target's
// (in a builder when relabeling or a displaced label needs one).
type labeler struct {
	parsed    []labels.Label // the labels as parsed
	merged    []labels.Label // the sample's labels, with the target's
	lb        *labels.Builder
	scratch   labels.ScratchBuilder // the parsed labels as labels.Labels, for withTarget
	conflicts []labels.Label
}

// maxKeptLabels bounds the label lists a labeler keeps from one scrape to the next: a hostile line of a
// million labels would otherwise leave them in a pooled worker for good.
const maxKeptLabels = 1 << 10

// release lets go of the last sample's labels, and of label lists grown past maxKeptLabels.
func (m *labeler) release() {
	m.lb.Reset(labels.EmptyLabels())
	if cap(m.parsed) > maxKeptLabels || cap(m.merged) > maxKeptLabels || cap(m.conflicts) > maxKeptLabels {
		m.parsed, m.merged, m.conflicts, m.scratch = nil, nil, nil, labels.ScratchBuilder{}
	}
}

// sampleLabels returns the parsed labels with the target's applied and metric relabeling done, as
// Prometheus' mutateSampleLabels has them; keep is false when relabeling dropped the sample. A name may
// still be there twice (exposed twice, and kept so), for add to refuse. The common case, no metric
// relabeling and no exposed value that a target label displaces, is a merge of two sorted lists into a
// buffer reused from sample to sample: no allocation.
func (m *labeler) sampleLabels(t *Target, s *Scraper) (lset Labels, keep bool, err error) {
	if len(s.metricRelabel) == 0 && m.mergeSorted(t, s.cfg.HonorLabels) {
		return m.merged, true, nil
	}
	m.withTarget(t, s.cfg.HonorLabels)
	if len(s.metricRelabel) > 0 && !relabel.ProcessBuilder(m.lb, s.metricRelabel...) {
		return nil, false, nil
	}
	// Relabeling can make a value longer (16 copies of a 1 MiB value), and builderLabels encodes the
	// builder's labels: the bound is checked on the builder, which holds them unencoded. A value of exactly
	// 16 MiB does not panic the encoding but is encoded with a size of 0, its bytes then read back as
	// labels of the target's choosing; checked after the encoding, the bound would see those.
	if err := checkBuilderBound(m.lb); err != nil {
		return nil, false, err
	}
	return m.builderLabels(), true, nil
}

// mergeSorted merges the parsed labels and the target's, both sorted by name, into m.merged, with the
// result of mutateSampleLabels. As Prometheus' labels.Builder does, a name exposed with an empty value
// anywhere is dropped with all its values; it still counts as exposed for honor-labels, so the target's
// value does not replace it. mergeSorted gives up when a target label displaces an exposed value (without
// honor-labels), leaving the exported_ renaming to withTarget.
func (m *labeler) mergeSorted(t *Target, honor bool) bool {
	merged, target, parsed := m.merged[:0], t.labelList, m.parsed
	i := 0
	for j := 0; j < len(parsed); {
		// parsed[j:k] are the values of one name.
		name, empty, k := parsed[j].Name, false, j
		for ; k < len(parsed) && parsed[k].Name == name; k++ {
			empty = empty || parsed[k].Value == ""
		}
		for i < len(target) && target[i].Name < name {
			merged = append(merged, target[i])
			i++
		}
		if i < len(target) && target[i].Name == name {
			switch {
			case honor:
			case parsed[j].Value == "": // no conflict: mutateSampleLabels looks at the first value only
				merged = append(merged, target[i])
				empty = true
			default:
				return false
			}
			i++
		}
		if !empty {
			merged = append(merged, parsed[j:k]...)
		}
		j = k
	}
	merged = append(merged, target[i:]...)
	m.merged = merged
	return true
}

// withTarget puts the parsed labels with the target's into m.lb, as Prometheus' mutateSampleLabels does:
// without honor-labels the target's win and a scraped label they displace is kept as exported_<name>; with
// it, the scraped labels win. The builder starts from the parsed labels as they are, empty values and
// names twice included, as Prometheus' starts from the parser's.
func (m *labeler) withTarget(t *Target, honor bool) {
	m.scratch.Reset()
	for _, l := range m.parsed {
		m.scratch.Add(l.Name, l.Value)
	}
	parsed := m.scratch.Labels()
	m.lb.Reset(parsed)
	if honor {
		for _, l := range t.labelList {
			if !parsed.Has(l.Name) {
				m.lb.Set(l.Name, l.Value)
			}
		}
		return
	}
	m.conflicts = m.conflicts[:0]
	for _, l := range t.labelList {
		if v := parsed.Get(l.Name); v != "" {
			m.conflicts = append(m.conflicts, labels.Label{Name: l.Name, Value: v})
		}
		m.lb.Set(l.Name, l.Value)
	}
	slices.SortStableFunc(m.conflicts, func(a, b labels.Label) int { return len(a.Name) - len(b.Name) })
	for _, l := range m.conflicts {
		name := l.Name
		for {
			name = model.ExportedLabelPrefix + name
			if m.lb.Get(name) == "" {
				m.lb.Set(name, l.Value)
				break
			}
		}
	}
}

// builderLabels are m.lb's labels, in m.merged, as Builder.Labels gives them (which, unlike Builder.Range,
// keeps a second label of a name that was set).
func (m *labeler) builderLabels() Labels {
	m.merged = m.merged[:0]
	m.lb.Labels().Range(m.appendMerged)
	return m.merged
}

// appendMerged appends a label to m.merged: the Range callback of builderLabels.
func (m *labeler) appendMerged(l labels.Label) { m.merged = append(m.merged, l) }

// appendParsed appends a label to m.parsed: the Range callback for textparse's labels.
func (m *labeler) appendParsed(l labels.Label) { m.parsed = append(m.parsed, l) }
