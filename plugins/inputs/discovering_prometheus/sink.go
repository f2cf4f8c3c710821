package discovering_prometheus

import (
	"math"
	"strings"
	"sync"

	"github.com/influxdata/telegraf"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// sink turns one scrape worker's samples into metrics and hands them to the accumulator when the scrape
// has succeeded.
type sink struct {
	acc     telegraf.Accumulator
	format  *metricFormat
	convert converter // the format's
	routes  *routeTable
	strs    *interner
	infs    *infReport
	budget  func() *seriesBudget // the current one; nil without max_series_per_db
	safe    lineSafe
	metrics []telegraf.Metric

	// The target of the scrape under way (nil before the first) and its samples of value ±Inf, for the
	// format's keptInf.
	target  *scrape.Target
	scraper *scrape.Scraper
	nInf    int
}

func newSink(acc telegraf.Accumulator, format *metricFormat, routes *routeTable, strs *interner, infs *infReport, budget func() *seriesBudget) *sink {
	return &sink{acc: acc, format: format, convert: format.newConverter(), routes: routes, strs: strs, infs: infs, budget: budget}
}

func (k *sink) Add(s *scrape.Scraper, t *scrape.Target, sample *scrape.Sample) error {
	if keep, err := k.safe.apply(sample); !keep {
		return err
	}
	k.target, k.scraper = t, s
	if math.IsInf(sample.Value, 0) {
		k.nInf++
	}
	k.metrics = k.convert.add(k.metrics, sample, s, t, k.routes.of(s), k.strs)
	return nil
}

func (k *sink) Drop() {
	k.nInf = 0
	k.convert.drop()
	clear(k.metrics)
	k.metrics = k.metrics[:0]
}

func (k *sink) Flush() {
	if k.format.keptInf != nil && k.target != nil {
		k.format.keptInf(k.infs, k.target, k.nInf)
	}
	k.nInf = 0
	k.metrics = k.convert.flush(k.metrics, k.strs)
	if budget := k.budget(); budget != nil {
		k.metrics = budget.admit(k.scraper, k.target, k.metrics)
	}
	for _, m := range k.metrics {
		k.acc.AddMetric(m)
	}
	clear(k.metrics)
	k.metrics = k.metrics[:0]
}

// interner hands out stable copies of label strings. Label names and values repeat from scrape to scrape,
// so once a target has been scraped its strings come from here and converting a sample allocates only the
// metric itself. Each parse slot has its own, kept across gathers in the plugin's pool.
type interner struct {
	strs   map[string]string
	bounds map[string]string // le and quantile values, to their kapacitor-format spelling (kapacitorPoints)
}

// maxInterned bounds an interner: labels of high cardinality (a request id, say) would otherwise grow it
// without end; past the bound it starts over.
const maxInterned = 1 << 16

func newInterner() *interner { return &interner{strs: make(map[string]string)} }

func (in *interner) get(s string) string {
	if v, ok := in.strs[s]; ok {
		return v
	}
	return in.add(strings.Clone(s))
}

// bytes is get for a string being built in a scratch buffer: it allocates only the first time.
func (in *interner) bytes(b []byte) string {
	if v, ok := in.strs[string(b)]; ok {
		return v
	}
	return in.add(string(b))
}

func (in *interner) add(v string) string {
	if len(in.strs) >= maxInterned {
		clear(in.strs)
	}
	in.strs[v] = v
	return v
}

// infReport logs how many samples of a target are ±Inf, which the prometheus formats keep (as
// inputs.prometheus does) but line protocol cannot carry: Telegraf's InfluxDB outputs and the runner drop
// them, one metric at a time. One line per target when the number changes, not one per sample and gather.
type infReport struct {
	log  telegraf.Logger
	mu   sync.Mutex
	last map[*scrape.Target]int // the targets whose last scrape had any
}

func newInfReport(log telegraf.Logger) *infReport {
	return &infReport{log: log, last: make(map[*scrape.Target]int)}
}

// report takes the number of ±Inf samples of a scrape of t.
func (r *infReport) report(t *scrape.Target, n int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	before := r.last[t]
	if n == 0 {
		delete(r.last, t)
	} else {
		r.last[t] = n
	}
	r.mu.Unlock()
	if n > 0 && n != before {
		r.log.Warnf("target %s: %d ±Inf sample(s), which line protocol cannot carry: InfluxDB outputs drop them (logged again when the number changes)",
			httpconfig.RedactURL(t.URL), n)
	}
}

// keep forgets the targets that are gone.
func (r *infReport) keep(live map[*scrape.Target]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t := range r.last {
		if !live[t] {
			delete(r.last, t)
		}
	}
}
