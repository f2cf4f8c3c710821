package discovering_prometheus

import (
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// kapacitorPoints makes a sample what Kapacitor wrote for it where Prometheus 3's scraping gives another
// answer. Both writers of the kapacitor format (kapacitorFormat and lineSink) take their points from its
// point, after lineSafe:
//
//   - The le of a histogram's series and the quantile of a summary's are spelled as Go's fmt.Sprint spells
//     the float they hold ("1", "0", "2500", "1e-05", "1e+06", "0.99", "+Inf"): Kapacitor decoded samples
//     with prometheus/common/expfmt, which writes them so, where Prometheus 3 writes "1.0", "2500.0". Any
//     other spelling would make every integer-valued bucket a new series after a migration. This holds
//     for typed families (histogram, gauge histogram, summary) whatever format the target answered in,
//     text, OpenMetrics or protobuf; a bound that is not a number stays as it is, and so does every label
//     of an untyped family, as in Kapacitor.
//   - A failed scrape's scrape_samples_scraped and scrape_samples_post_metric_relabeling are 0, not the
//     samples read before the failure: Kapacitor decoded a body whole before it took any sample.
type kapacitorPoints struct {
	failed bool           // the up of the scrape under way is 0
	labels []labels.Label // the labels of the sample, re-spelled
}

// point makes the sample the point Kapacitor wrote for it (apply), and tells whether there is one: NaN is
// dropped as Kapacitor dropped it; ±Inf too, as line protocol cannot carry it.
func (k *kapacitorPoints) point(s *scrape.Sample, strs *interner) bool {
	k.apply(s, strs)
	return finite(s.Value)
}

// apply changes the sample in place; the labels it gives the sample live until the next apply. strs keeps
// the spellings, which repeat from scrape to scrape.
func (k *kapacitorPoints) apply(s *scrape.Sample, strs *interner) {
	if s.Synthetic { // up comes first, then the counts
		switch s.Labels.Get(model.MetricNameLabel) {
		case "up":
			k.failed = s.Value == 0
		case "scrape_samples_scraped", "scrape_samples_post_metric_relabeling":
			if k.failed {
				s.Value = 0
			}
		}
		return
	}
	var bound string
	switch s.Type {
	case model.MetricTypeHistogram, model.MetricTypeGaugeHistogram:
		bound = model.BucketLabel
	case model.MetricTypeSummary:
		bound = model.QuantileLabel
	default:
		return
	}
	for i, l := range s.Labels {
		if l.Name != bound {
			continue
		}
		if v := strs.bound(l.Value); v != l.Value {
			k.labels = append(k.labels[:0], s.Labels...)
			k.labels[i].Value = v
			s.Labels = k.labels
		}
		return
	}
}

// maxBounds bounds interner.bounds; past it, it starts over.
const maxBounds = 1 << 12

// bound is fmt.Sprint's spelling of the float a bound holds, the bound itself when it holds none; it is
// worked out once per bound and interner.
func (in *interner) bound(scraped string) string {
	if v, ok := in.bounds[scraped]; ok {
		return v
	}
	scraped = strings.Clone(scraped) // it points into the scrape's buffers
	v := scraped
	if f, err := strconv.ParseFloat(scraped, 64); err == nil {
		if s := strconv.FormatFloat(f, 'g', -1, 64); s != scraped {
			v = s
		}
	}
	if in.bounds == nil || len(in.bounds) >= maxBounds {
		in.bounds = make(map[string]string)
	}
	in.bounds[scraped] = v
	return v
}
