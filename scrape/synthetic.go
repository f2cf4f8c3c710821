package scrape

// The synthetic series every scrape adds.

import (
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// synthetic adds the series Prometheus adds for every scrape; an error is the sink's refusal of one.
func (w *worker) synthetic(s *Scraper, t *Target, sink Sink, now int64, up bool, duration time.Duration, samples, kept int) error {
	upValue := 0.0
	if up {
		upValue = 1
	}
	for _, m := range []syntheticSample{
		{"up", upValue},
		{"scrape_duration_seconds", duration.Seconds()},
		{"scrape_samples_scraped", float64(samples)},
		{"scrape_samples_post_metric_relabeling", float64(kept)},
	} {
		if err := w.addSynthetic(s, t, sink, now, m); err != nil {
			return err
		}
	}
	return w.extraSynthetic(s, t, sink, now)
}

// syntheticSample is a series added for every scrape of a target, with its value.
type syntheticSample struct {
	name  string
	value float64
}

// addSynthetic hands one synthetic sample, with the target's labels, to the sink.
func (w *worker) addSynthetic(s *Scraper, t *Target, sink Sink, now int64, m syntheticSample) error {
	w.merged = append(append(w.merged[:0], labels.Label{Name: model.MetricNameLabel, Value: m.name}), t.labelList...)
	sortLabels(w.merged)
	w.sample = Sample{Labels: w.merged, Value: m.value, Timestamp: now, Type: model.MetricTypeGauge, Synthetic: true}
	return sink.Add(s, t, &w.sample)
}
