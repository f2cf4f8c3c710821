package discovering_prometheus

import (
	"math"
	"strings"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// formats are the metric formats, by their metric_format name. A converter must not keep the sample's
// label strings (they live in a buffer reused for the next sample): it takes stable copies from the interner.
var formats = map[string]func(*scrape.Sample, *routing, *interner) telegraf.Metric{
	"kapacitor": kapacitorMetric,
}

// routing is what every metric of a scraper carries so that Telegraf's InfluxDB outputs route it.
type routing struct {
	dbTag, db string
	rpTag, rp string
}

// kapacitorMetric is what Kapacitor wrote for a sample: measurement = metric name, one float field "value",
// every label as a tag (instance and __name__ included, job not), NaN dropped.
func kapacitorMetric(s *scrape.Sample, r *routing, strs *interner) telegraf.Metric {
	if math.IsNaN(s.Value) {
		return nil
	}
	// Tags go in one by one, in the labels' sorted order: no map to build and sort for each sample.
	m := metric.New(strs.get(s.Labels.Get(model.MetricNameLabel)), nil, nil, time.UnixMilli(s.Timestamp))
	s.Labels.Range(func(l labels.Label) {
		if l.Name != model.JobLabel {
			m.AddTag(strs.get(l.Name), strs.get(l.Value))
		}
	})
	m.AddTag(r.dbTag, r.db)
	m.AddTag(r.rpTag, r.rp)
	m.AddField("value", s.Value)
	return m
}

// sink turns one scrape worker's samples into metrics and hands them to the accumulator when the scrape
// has succeeded.
type sink struct {
	acc     telegraf.Accumulator
	convert func(*scrape.Sample, *routing, *interner) telegraf.Metric
	routes  map[*scrape.Scraper]*routing
	strs    *interner
	metrics []telegraf.Metric
}

func (k *sink) Add(s *scrape.Scraper, _ *scrape.Target, sample *scrape.Sample) {
	if m := k.convert(sample, k.routes[s], k.strs); m != nil {
		k.metrics = append(k.metrics, m)
	}
}

func (k *sink) Drop() {
	clear(k.metrics)
	k.metrics = k.metrics[:0]
}

func (k *sink) Flush() {
	for _, m := range k.metrics {
		k.acc.AddMetric(m)
	}
	k.Drop()
}

// interner hands out stable copies of label strings. Label names and values repeat from scrape to scrape,
// so once a target has been scraped its strings come from here and converting a sample allocates only the
// metric itself. Each scrape worker has its own, kept across gathers in the plugin's pool.
type interner struct{ strs map[string]string }

// maxInterned bounds an interner: labels of high cardinality (a request id, say) would otherwise grow it
// without end; past the bound it starts over.
const maxInterned = 1 << 16

func newInterner() *interner { return &interner{strs: make(map[string]string)} }

func (in *interner) get(s string) string {
	if v, ok := in.strs[s]; ok {
		return v
	}
	if len(in.strs) >= maxInterned {
		clear(in.strs)
	}
	v := strings.Clone(s)
	in.strs[v] = v
	return v
}
