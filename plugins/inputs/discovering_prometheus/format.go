package discovering_prometheus

import (
	"github.com/influxdata/telegraf"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// formats are the metric formats, by their metric_format name. Each sink gets a converter of its own, so a
// format that must see a whole scrape before it can build its metrics (a histogram's buckets become one
// metric) keeps that scrape's state in its converter.
var formats = map[string]func() converter{
	"kapacitor":     func() converter { return &kapacitorFormat{} },
	"prometheus-v1": func() converter { return newPromConverter(1) },
	"prometheus-v2": func() converter { return newPromConverter(2) },
}

// converter turns the samples of one scrape at a time into metrics.
type converter interface {
	// add converts one sample of scraper s's target t, appending to ms what it can build at once. It must
	// not keep the sample's labels (they live in a buffer reused for the next sample): it takes stable
	// copies from strs.
	add(ms []telegraf.Metric, sample *scrape.Sample, s *scrape.Scraper, t *scrape.Target, r *routing, strs *interner) []telegraf.Metric
	// flush appends what add held back until the scrape's end, and forgets the scrape.
	flush(ms []telegraf.Metric, strs *interner) []telegraf.Metric
	// drop forgets the scrape: it failed.
	drop()
}

// routing is what every metric of a scraper carries so that Telegraf's InfluxDB outputs route it.
type routing struct {
	dbTag, db string
	rpTag, rp string
}
