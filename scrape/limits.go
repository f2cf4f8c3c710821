package scrape

// The limits a sample must pass: the label bound, label-limit and its kin, sample-limit, series-limit.

import (
	"fmt"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/common/model"

	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
)

// limiter is what series-limit reuses: digest hashes a series' labels (seriesHash), and seriesDropped counts
// the scrape's samples of series it dropped.
type limiter struct {
	digest        *xxhash.Digest
	seriesDropped int
}

// admit gives the labels of the sample of w.parsed (a series, or a native histogram) as add writes them, and
// their metric name: keep is false when metric relabeling drops it. It fails the scrape as Prometheus does
// for the sample: a label or sample limit broken, an invalid name, a label name twice. kept counts it.
func (w *worker) admit(s *Scraper, t *Target, kept *int) (lset Labels, name string, keep bool, err error) {
	cfg := s.cfg
	// The bound comes before anything encodes the labels (withTarget, relabeling), and again after
	// relabeling, which can make a value longer.
	if err := checkBound(w.parsed); err != nil {
		return nil, "", false, w.lineError(err)
	}
	lset, keep, err = w.sampleLabels(t, s)
	if err != nil {
		return nil, "", false, w.lineError(err)
	}
	if !keep || len(lset) == 0 {
		return nil, "", false, nil
	}
	name = lset.Get(model.MetricNameLabel)
	if name == "" {
		return nil, "", false, w.lineError(fmt.Errorf("missing metric name (%s label)", model.MetricNameLabel))
	}
	if err := checkBound(lset); err != nil {
		return nil, "", false, w.lineError(err)
	}
	if w.checkNames && !validNames(name, lset) {
		// labels.String quotes what needs it; the cut keeps a label set of a megabyte short.
		return nil, "", false, w.lineError(fmt.Errorf("invalid metric name or label names: %s", safetext.Line(lset.String(), 2*safetext.Excerpt)))
	}
	if err := checkLabelLimits(cfg, lset); err != nil {
		return nil, "", false, w.lineError(err)
	}
	if cfg.SampleLimit > 0 && *kept >= cfg.SampleLimit {
		return nil, "", false, fmt.Errorf("sample limit of %d exceeded", cfg.SampleLimit)
	}
	// As in Prometheus' storage, a label name still there twice refuses the sample, which fails the scrape
	// (and InfluxDB would refuse a point with a tag key twice).
	if label, dup := lset.duplicate(); dup {
		return nil, "", false, w.lineError(fmt.Errorf("%s: label name %s is not unique: invalid sample", safetext.QuoteExcerpt(name), safetext.QuoteExcerpt(label)))
	}
	// As vmagent's series limit: a series new in the window past the limit is dropped and counted, the
	// scrape goes on. Known series still pass.
	if cfg.SeriesLimit > 0 && !t.series.admit(w.seriesHash(lset), cfg.SeriesLimit) {
		w.seriesDropped++
		return nil, "", false, nil
	}
	*kept++
	return lset, name, true, nil
}

// validNames tells whether Prometheus' UTF-8 validation takes a series' names: UTF-8, and no label name
// empty.
func validNames(name string, lset Labels) bool {
	if !utf8.ValidString(name) {
		return false
	}
	for _, l := range lset {
		if l.Name == "" || !utf8.ValidString(l.Name) {
			return false
		}
	}
	return true
}

// checkLabelLimits fails a scrape whose series break label-limit, label-name-length-limit or
// label-value-length-limit, as Prometheus does.
func checkLabelLimits(cfg *Config, lset Labels) error {
	if cfg.LabelLimit > 0 && len(lset) > cfg.LabelLimit {
		return fmt.Errorf("label limit of %d exceeded by %s (%d labels)", cfg.LabelLimit, safetext.QuoteExcerpt(lset.Get(model.MetricNameLabel)), len(lset))
	}
	for _, l := range lset {
		if cfg.LabelNameLengthLimit > 0 && len(l.Name) > cfg.LabelNameLengthLimit {
			return fmt.Errorf("label name length limit of %d exceeded by %s label %s", cfg.LabelNameLengthLimit, safetext.QuoteExcerpt(lset.Get(model.MetricNameLabel)), safetext.QuoteExcerpt(l.Name))
		}
		if cfg.LabelValueLengthLimit > 0 && len(l.Value) > cfg.LabelValueLengthLimit {
			return fmt.Errorf("label value length limit of %d exceeded by %s label %s", cfg.LabelValueLengthLimit, safetext.QuoteExcerpt(lset.Get(model.MetricNameLabel)), safetext.QuoteExcerpt(l.Name))
		}
	}
	return nil
}
