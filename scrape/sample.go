package scrape

// What a scrape delivers: samples, their labels, and the sink that takes them.

import (
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Sample is one scraped sample, with the target's labels applied.
type Sample struct {
	// Labels hold the metric name as __name__ and every label, the target's included. They are only valid
	// during Sink.Add.
	Labels Labels
	Value  float64
	// Timestamp is the sample's own, else the time the scrape started, in milliseconds since the epoch.
	Timestamp int64
	// Type is the type of the sample's metric family (counter, histogram, ...), unknown when not declared.
	Type model.MetricType
	// Family is the name of that family as its TYPE line gives it (h for h_bucket, c for an OpenMetrics
	// c_total), empty when no TYPE line names the sample's family.
	Family string
	// Synthetic marks the series added for every scrape (up, scrape_duration_seconds,
	// scrape_samples_scraped, scrape_samples_post_metric_relabeling, in that order, after the target's).
	Synthetic bool
}

// Labels are a sample's labels, sorted by name: a slice over buffers the scrape reuses, so that no sample
// pays for encoding them into labels.Labels.
type Labels []labels.Label

// Get returns the value of the label of that name, "" when there is none.
func (ls Labels) Get(name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// duplicate returns a name that the labels, sorted by name, have twice.
func (ls Labels) duplicate() (string, bool) {
	for i := 1; i < len(ls); i++ {
		if ls[i].Name == ls[i-1].Name {
			return ls[i].Name, true
		}
	}
	return "", false
}

// Copy returns the labels as labels.Labels, which outlive the Sink.Add they came with.
func (ls Labels) Copy() labels.Labels { return labels.New(ls...) }

func (ls Labels) String() string { return ls.Copy().String() }

// sortLabels sorts labels by name as labels.ScratchBuilder does, so that both readers of the text format
// order even duplicate names alike.
func sortLabels(ls []labels.Label) {
	slices.SortFunc(ls, func(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) })
}

// Sink receives the samples of scrapes. Each parse slot of a Run has its own, so a Sink is not shared.
type Sink interface {
	// Add receives one sample of target t of scraper s. An error refuses the sample as invalid, which
	// fails the scrape.
	Add(s *Scraper, t *Target, sample *Sample) error
	// Drop forgets the samples added since the last Flush: the scrape failed, and Prometheus keeps
	// nothing of a failed scrape.
	Drop()
	// Flush delivers the samples added since the last Flush; it ends every scrape.
	Flush()
}
