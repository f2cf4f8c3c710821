package scrape

import "errors"

// errBodySizeLimit is the error of a body over body-size-limit.
var errBodySizeLimit = errors.New("body size limit")

// bodyBytes is what scrape_body_size_bytes says of a scrape's body, as Prometheus 3 has it: its size as
// parsed (inflated), -1 when it was over body-size-limit, 0 when none was read.
func bodyBytes(body []byte, err error) int {
	if errors.Is(err, errBodySizeLimit) {
		return -1
	}
	return len(body)
}

// extraSynthetic adds, with extra-scrape-metrics, the synthetic series Prometheus 3 adds with its
// extra_scrape_metrics (scrape_timeout_seconds, scrape_sample_limit, scrape_body_size_bytes) and, with a
// series-limit, those vmagent adds for its series_limit: scrape_series_limit, scrape_series_current (the
// series of the target's window) and scrape_series_limit_samples_dropped (the scrape's samples of new
// series the limit dropped).
func (w *worker) extraSynthetic(s *Scraper, t *Target, sink Sink, now int64) error {
	if !s.cfg.ExtraScrapeMetrics {
		return nil
	}
	extra := []syntheticSample{
		{"scrape_timeout_seconds", t.Timeout.Seconds()},
		{"scrape_sample_limit", float64(s.cfg.SampleLimit)},
		{"scrape_body_size_bytes", float64(w.bodyBytes)},
	}
	if s.cfg.SeriesLimit > 0 {
		extra = append(extra,
			syntheticSample{"scrape_series_limit", float64(s.cfg.SeriesLimit)},
			syntheticSample{"scrape_series_current", float64(t.series.n)},
			syntheticSample{"scrape_series_limit_samples_dropped", float64(w.seriesDropped)})
	}
	for _, m := range extra {
		if err := w.addSynthetic(s, t, sink, now, m); err != nil {
			return err
		}
	}
	return nil
}
