package discovering_prometheus

import (
	"io"
	"math"
	"sync/atomic"

	"github.com/influxdata/telegraf"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// formats are the metric formats, by their metric_format name; each is all the plugin knows of it (see
// metricFormat), and this table is the one place that names it.
var formats = map[string]*metricFormat{
	"kapacitor":     kapacitorMetricFormat,
	"prometheus-v1": promMetricFormat(1),
	"prometheus-v2": promMetricFormat(2),
}

// metricFormat is one metric format: how samples become its metrics, whether it can write them as line
// protocol itself, the tags it writes, and what it does with values line protocol cannot carry.
type metricFormat struct {
	// newConverter makes the converter of one sink. Each sink gets its own, so a format that must see a
	// whole scrape before it can build its metrics (a histogram's buckets become one metric) keeps that
	// scrape's state in its converter.
	newConverter func() converter
	// newLineWriter, when set, makes the writer of one parse slot that writes the format's metrics straight
	// to line protocol, byte for byte what Telegraf's influx serializer writes for the converter's metrics
	// (GatherLineProtocol, for the runner). Without it the runner serializes the converter's metrics.
	newLineWriter func() lineWriter
	// tags are the tag names the format writes itself, on a series of any labels: db_tag and rp_tag may
	// take none of them (of any format), or the routing tag would replace it.
	tags []string
	// keptInf, when set, hears of the ±Inf samples a scrape of a target had, which the format keeps but line
	// protocol cannot carry; a format without it drops them (and NaN) itself, without a word.
	keptInf func(r *infReport, t *scrape.Target, n int)
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

// lineWriter is a format's sink that writes line protocol itself: a scrape's lines reach w in one Write
// when the scrape has succeeded.
type lineWriter interface {
	scrape.Sink
	// writeTo sets w, which the parse slots share: its Write must be safe for concurrent use, and the
	// routes of the scrapers.
	writeTo(w io.Writer, routes *routeTable)
}

// routing is what every metric of a scraper carries so that Telegraf's InfluxDB outputs route it.
type routing struct {
	dbTag, db string
	rpTag, rp string
}

// routeTable gives each running scraper its routing. A reload sets another while the scheduled scrapes
// run; it keeps the routes of the scrapers the reload removed until the next one, for their scrapes still
// under way (a scrape outlives no more than its timeout).
type routeTable struct {
	current atomic.Pointer[routeMaps]
}

type routeMaps struct{ now, before map[*scrape.Scraper]*routing }

func newRouteTable(routes map[*scrape.Scraper]*routing) *routeTable {
	r := &routeTable{}
	r.current.Store(&routeMaps{now: routes})
	return r
}

// of is the scraper's routing; nil for one of two reloads ago.
func (r *routeTable) of(s *scrape.Scraper) *routing {
	m := r.current.Load()
	if route, ok := m.now[s]; ok {
		return route
	}
	return m.before[s]
}

// set makes routes current, keeping the last ones for the scrapes under way.
func (r *routeTable) set(routes map[*scrape.Scraper]*routing) {
	r.current.Store(&routeMaps{now: routes, before: r.current.Load().now})
}

// finite tells whether line protocol can carry a value: NaN and ±Inf it cannot.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// NonFinite tells whether every field of a metric is NaN or ±Inf (and it has any): line protocol cannot
// carry it, and its writer drops it without a word, as Telegraf's InfluxDB output does. Each format has
// dealt with such values already: the kapacitor format writes none, the prometheus formats report a
// target's ±Inf samples themselves, once (metricFormat.keptInf).
func NonFinite(m telegraf.Metric) bool {
	fields := m.FieldList()
	for _, f := range fields {
		if v, ok := f.Value.(float64); !ok || finite(v) {
			return false
		}
	}
	return len(fields) > 0
}

// reservedTags are the tag names any format writes itself.
func reservedTags() []string {
	var tags []string
	for _, f := range formats {
		tags = append(tags, f.tags...)
	}
	return tags
}
